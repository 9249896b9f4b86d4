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

typedef struct qf_cli_option {
    const char *long_name;  /* "out" for --out */
    char short_name;        /* 'o' for -o, or 0 */
    bool takes_value;
    const char *value_name; /* "PATH" in help */
    const char *help;
    /* filled by the parser */
    bool seen;
    const char *value;
} qf_cli_option;

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

#endif
