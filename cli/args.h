/*
 * cli/args.h — the one small argument parser every subcommand uses: long options ("--out X",
 * "--out=X", "-o X"), flags, positionals; usage errors become exit code 2.
 */
#ifndef QF_CLI_ARGS_H
#define QF_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "qforge/core.h"

enum { QF_EXIT_OK = 0, QF_EXIT_ERROR = 1, QF_EXIT_USAGE = 2 };

/*
 * Options that several commands take, declared once in cli/args.c (name, value, range, help and the
 * check of the value); a command lists the ones it takes among its own with QF_CLI_SHARED.
 */
typedef enum qf_cli_shared {
    QF_CLI_OWN = 0,    /* the command's own option, declared where the command is */
    QF_CLI_THREADS,    /* --threads N, 1..1024 (0 when absent: all cores) */
    QF_CLI_BATCH,      /* --batch N, 1..4096 */
    QF_CLI_MAX_LENGTH, /* --max-length N, 1..65535 */
    QF_CLI_LIMIT,      /* --limit N, 1..QF_DATASET_MAX_ROWS */
    QF_CLI_SAMPLES,    /* --samples N, 1..QF_DATASET_MAX_ROWS */
    QF_CLI_MAX_DROP,   /* --max-drop PTS, a number of points >= 0 */
    QF_CLI_TOKENIZER,  /* --tokenizer PATH */
    QF_CLI_SELECT,     /* --select KEY */
    QF_CLI_CONFIG,     /* --config PATH */
    QF_CLI_JSON,       /* --json: the summary as JSON on stdout */
    QF_CLI_QUIET,      /* -q, --quiet */
    QF_CLI_SHARED_COUNT_
} qf_cli_shared;

typedef struct qf_cli_option {
    qf_cli_shared shared;   /* QF_CLI_OWN, or the shared option this entry stands for */
    const char *long_name;  /* "out" for --out */
    char short_name;        /* 'o' for -o, or 0 */
    bool takes_value;
    const char *value_name; /* "PATH" in help */
    const char *help;
    /* filled by the parser */
    bool seen;
    const char *value;
} qf_cli_option;

/* A command's own option. */
#define QF_CLI_OPTION(long_name, short_name, takes_value, value_name, help) \
    {QF_CLI_OWN, long_name, short_name, takes_value, value_name, help, false, NULL}
/* A shared option; `help` NULL: the shared help text, else what the option means for this command
 * (where its default differs: "--tokenizer ... (default: beside SOURCE)"). Name, short name and
 * value are filled in from the shared table by qf_cli_parse. */
#define QF_CLI_SHARED(id, help) {id, NULL, 0, false, NULL, help, false, NULL}

typedef struct qf_cli_command {
    const char *name;     /* "quantize" */
    const char *synopsis; /* "IN -o OUT.qf --mode dynamic [options]" */
    const char *summary;  /* one line */
    const char *details;  /* paragraphs after the options, may be NULL */
    qf_cli_option *options;
    size_t option_count;
    int min_positional, max_positional;
} qf_cli_command;

/*
 * Parses argv (after the subcommand name). Returns QF_EXIT_OK, or QF_EXIT_USAGE after printing the
 * problem to stderr. `--help`/`-h` prints help to stdout and sets *help_shown.
 */
int qf_cli_parse(qf_cli_command *cmd, int argc, char **argv, const char **positional, int *npositional,
                 bool *help_shown);
void qf_cli_print_help(const qf_cli_command *cmd, FILE *out);
/* The same table as roff (one .SH section of the man page); see `qforge help --man`. */
void qf_cli_print_man(const qf_cli_command *cmd, FILE *out);
/* When set, `--help` prints qf_cli_print_man instead of qf_cli_print_help (used by the man page
 * generator, so that the man page and --help come from the same tables). */
extern bool qf_cli_help_as_man;
qf_cli_option *qf_cli_find(qf_cli_command *cmd, const char *long_name);
/* Integer option value in [lo, hi]; prints a usage error and returns false when invalid. */
bool qf_cli_int(const qf_cli_command *cmd, const qf_cli_option *opt, long lo, long hi, long *out);

/* The command's entry for a shared option (after qf_cli_parse), or NULL when it does not take it. */
qf_cli_option *qf_cli_shared_option(qf_cli_command *cmd, qf_cli_shared id);
/* Whether the user gave shared option `id` (false when the command does not take it). */
bool qf_cli_given(qf_cli_command *cmd, qf_cli_shared id);
/* The value of a shared option that takes one, NULL when not given. */
const char *qf_cli_text(qf_cli_command *cmd, qf_cli_shared id);
/*
 * The value of a shared integer option (--threads, --batch, --max-length, --limit, --samples),
 * checked against its range; --max-drop as a number of points >= 0 (qf_cli_points). Not given:
 * true and *out untouched (the caller's default stays). Invalid: prints the usage error line and
 * returns false (the command exits QF_EXIT_USAGE).
 */
bool qf_cli_number(qf_cli_command *cmd, qf_cli_shared id, long *out);
bool qf_cli_points(qf_cli_command *cmd, qf_cli_shared id, double *out);

/*
 * Text that came from a file (tensor names, metadata, source names), escaped for the terminal with
 * qf_text_escape. Every human-readable line that shows such text prints it through this. The
 * result lives in one of 8 buffers used in turn: valid until the 8th next call, enough for the
 * arguments of one printf. Never NULL ("?" when out of memory). s may be NULL ("").
 */
const char *qf_cli_safe(const char *s);

/* Room for one formatted error line: every qf_error field, each escaped (at most 4 bytes a byte). */
#define QF_CLI_ERROR_LINE_MAX \
    (QF_TEXT_ESCAPE_GROWTH * (QF_ERROR_PATH_MAX + 3 * QF_ERROR_FIELD_MAX + QF_ERROR_MESSAGE_MAX) + 128)

/* Prints "error: <one line>" (qf_error_format: escaped) for a failed library call and returns
 * QF_EXIT_ERROR. */
int qf_cli_fail(const qf_error *err);

/* Reads the model at `path` for a command that runs the encoder, and maps it to canonical slots
 * (qf_arch_map) once, right after reading. QF_EXIT_OK or the failure printed (*out NULL). */
struct qf_read_params;
int qf_cli_read_encoder(const char *path, const struct qf_read_params *rp, qf_model **out);

/* Human byte count: "21.3 MB" (decimal units). */
void qf_cli_format_bytes(uint64_t bytes, char *buf, size_t size);
/* Monotonic seconds. */
double qf_cli_now(void);

/* Progress line on stderr, drawn only when stderr is a terminal (never in pipes or with --quiet). */
typedef struct qf_cli_progress {
    bool active;
    double start;
    const char *what; /* "verify" */
    bool bytes;       /* done/total are bytes (shown in MB), else rows */
} qf_cli_progress;

void qf_cli_progress_init(qf_cli_progress *p, const char *what, bool bytes, bool quiet);
/* Matches the library's progress callbacks: (ctx, done, total). Clears the line when done == total. */
void qf_cli_progress_update(void *ctx, size_t done, size_t total);

int qf_cmd_inspect(int argc, char **argv);
int qf_cmd_convert(int argc, char **argv);
int qf_cmd_quantize(int argc, char **argv);
int qf_cmd_verify(int argc, char **argv);
int qf_cmd_run(int argc, char **argv);
int qf_cmd_calibrate(int argc, char **argv);
int qf_cmd_tokenize(int argc, char **argv);

#endif
