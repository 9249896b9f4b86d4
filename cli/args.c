/*
 * cli/args.c — argument parsing, help text, and the shared printing helpers of the CLI layer. The
 * options several commands take are declared once here (shared_options) and their values checked
 * by one function each (qf_cli_number, qf_cli_points), so every command accepts and refuses the
 * same values with the same message.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "qforge/limits.h"
#include "qforge/model.h"
#include "qforge/readers.h"

typedef enum value_kind { VALUE_FLAG, VALUE_TEXT, VALUE_INT, VALUE_POINTS } value_kind;

typedef struct shared_option {
    const char *long_name;
    char short_name;
    const char *value_name; /* NULL: a flag */
    const char *help;       /* NULL: every command says what it means for it */
    value_kind kind;
    long lo, hi;            /* VALUE_INT */
} shared_option;

static const shared_option shared_options[QF_CLI_SHARED_COUNT_] = {
    [QF_CLI_THREADS] = {"threads", 0, "N", "worker threads (default: all cores)", VALUE_INT, 1, 1024},
    [QF_CLI_BATCH] = {"batch", 0, "N", "rows per encoder run (default 32)", VALUE_INT, 1, 4096},
    [QF_CLI_MAX_LENGTH] = {"max-length", 0, "N",
                           "truncate rows to N tokens (default: the model's position table; a "
                           "sentence-transformers folder's max_seq_length when smaller)",
                           VALUE_INT, 1, 65535},
    [QF_CLI_LIMIT] = {"limit", 0, "N", "first N rows only", VALUE_INT, 1, QF_DATASET_MAX_ROWS},
    [QF_CLI_SAMPLES] = {"samples", 0, "N", "rows to observe (default: all)", VALUE_INT, 1, QF_DATASET_MAX_ROWS},
    [QF_CLI_MAX_DROP] = {"max-drop", 0, "PTS", NULL, VALUE_POINTS, 0, 0},
    [QF_CLI_TOKENIZER] = {"tokenizer", 0, "PATH", NULL, VALUE_TEXT, 0, 0},
    [QF_CLI_SELECT] = {"select", 0, "KEY", "PyTorch: sub-dict holding the weights (\"\" = everything)", VALUE_TEXT, 0,
                       0},
    [QF_CLI_CONFIG] = {"config", 0, "PATH", NULL, VALUE_TEXT, 0, 0},
    [QF_CLI_JSON] = {"json", 0, NULL, "print the summary as JSON", VALUE_FLAG, 0, 0},
    [QF_CLI_QUIET] = {"quiet", 'q', NULL, "print nothing on success", VALUE_FLAG, 0, 0},
};

/* Fills a command's shared entries from the table (idempotent). */
static void resolve_shared(qf_cli_command *cmd)
{
    for (size_t i = 0; i < cmd->option_count; i++) {
        qf_cli_option *o = &cmd->options[i];
        if (o->shared == QF_CLI_OWN) continue;
        assert(o->shared > QF_CLI_OWN && o->shared < QF_CLI_SHARED_COUNT_);
        const shared_option *s = &shared_options[o->shared];
        o->long_name = s->long_name;
        o->short_name = s->short_name;
        o->takes_value = s->value_name != NULL;
        o->value_name = s->value_name;
        if (!o->help) o->help = s->help;
        assert(o->help); /* a shared option without a common text needs the command's own */
    }
}

qf_cli_option *qf_cli_shared_option(qf_cli_command *cmd, qf_cli_shared id)
{
    for (size_t i = 0; i < cmd->option_count; i++)
        if (cmd->options[i].shared == id) return &cmd->options[i];
    return NULL;
}

bool qf_cli_given(qf_cli_command *cmd, qf_cli_shared id)
{
    const qf_cli_option *o = qf_cli_shared_option(cmd, id);
    return o && o->seen;
}

const char *qf_cli_text(qf_cli_command *cmd, qf_cli_shared id)
{
    const qf_cli_option *o = qf_cli_shared_option(cmd, id);
    return o && o->seen && o->takes_value ? o->value : NULL;
}

bool qf_cli_number(qf_cli_command *cmd, qf_cli_shared id, long *out)
{
    const qf_cli_option *o = qf_cli_shared_option(cmd, id);
    assert(shared_options[id].kind == VALUE_INT);
    if (!o || !o->seen) return true;
    return qf_cli_int(cmd, o, shared_options[id].lo, shared_options[id].hi, out);
}

bool qf_cli_points(qf_cli_command *cmd, qf_cli_shared id, double *out)
{
    const qf_cli_option *o = qf_cli_shared_option(cmd, id);
    assert(shared_options[id].kind == VALUE_POINTS);
    if (!o || !o->seen) return true;
    char *end = NULL;
    double v = strtod(o->value, &end);
    if (!end || *end || !(v >= 0) || !isfinite(v)) {
        fprintf(stderr, "qforge %s: --%s takes a number of points >= 0\n", cmd->name, o->long_name);
        return false;
    }
    *out = v;
    return true;
}

qf_cli_option *qf_cli_find(qf_cli_command *cmd, const char *long_name)
{
    for (size_t i = 0; i < cmd->option_count; i++)
        if (strcmp(cmd->options[i].long_name, long_name) == 0) return &cmd->options[i];
    return NULL;
}

static qf_cli_option *find_short(qf_cli_command *cmd, char c)
{
    for (size_t i = 0; i < cmd->option_count; i++)
        if (cmd->options[i].short_name == c) return &cmd->options[i];
    return NULL;
}

void qf_cli_print_help(const qf_cli_command *cmd, FILE *out)
{
    fprintf(out, "usage: qforge %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis, cmd->summary);
    for (size_t i = 0; i < cmd->option_count; i++) {
        const qf_cli_option *o = &cmd->options[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name, o->takes_value ? " " : "",
                     o->takes_value ? o->value_name : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->long_name, o->takes_value ? " " : "",
                     o->takes_value ? o->value_name : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
    if (cmd->details) fprintf(out, "\n%s\n", cmd->details);
    fprintf(out, "\nexit status: 0 success, 1 error (one line on stderr says what and where), 2 usage error\n");
}

bool qf_cli_help_as_man = false;

/* Text as roff: backslashes and hyphens escaped, a line starting with '.' or '\'' protected. */
static void roff_text(FILE *out, const char *s)
{
    bool line_start = true;
    for (; *s; s++) {
        if (line_start && (*s == '.' || *s == '\'')) fputs("\\&", out);
        line_start = *s == '\n';
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

void qf_cli_print_man(const qf_cli_command *cmd, FILE *out)
{
    fprintf(out, ".SH \"qforge %s\"\n.B qforge %s\n", cmd->name, cmd->name);
    roff_text(out, cmd->synopsis);
    fputs("\n.PP\n", out);
    roff_text(out, cmd->summary);
    fputs("\n", out);
    for (size_t i = 0; i < cmd->option_count; i++) {
        const qf_cli_option *o = &cmd->options[i];
        fputs(".TP\n", out);
        if (o->short_name) fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
        fputs("\\fB\\-\\-", out);
        roff_text(out, o->long_name);
        fputs("\\fR", out);
        if (o->takes_value) {
            fputs(" \\fI", out);
            roff_text(out, o->value_name);
            fputs("\\fR", out);
        }
        fputs("\n", out);
        roff_text(out, o->help);
        fputs("\n", out);
    }
    if (cmd->details) {
        fputs(".PP\n", out);
        roff_text(out, cmd->details);
        fputs("\n", out);
    }
}

static int usage_error(const qf_cli_command *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "qforge %s: ", cmd->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'qforge %s --help'.\n", cmd->name);
    return QF_EXIT_USAGE;
}

int qf_cli_parse(qf_cli_command *cmd, int argc, char **argv, const char **positional, int *npositional,
                 bool *help_shown)
{
    *help_shown = false;
    *npositional = 0;
    resolve_shared(cmd);
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            if (qf_cli_help_as_man)
                qf_cli_print_man(cmd, stdout);
            else
                qf_cli_print_help(cmd, stdout);
            *help_shown = true;
            return QF_EXIT_OK;
        }
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && a[0] == '-' && a[1] != '\0') {
            qf_cli_option *o = NULL;
            const char *inline_value = NULL;
            char name[64];
            if (a[1] == '-') {
                const char *eq = strchr(a + 2, '=');
                size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
                if (len >= sizeof name) return usage_error(cmd, "unknown option '%s'", a);
                memcpy(name, a + 2, len);
                name[len] = '\0';
                o = qf_cli_find(cmd, name);
                if (eq) inline_value = eq + 1;
            } else if (a[2] == '\0') {
                o = find_short(cmd, a[1]);
            }
            if (!o) return usage_error(cmd, "unknown option '%s'", a);
            if (o->takes_value) {
                if (inline_value) {
                    o->value = inline_value;
                } else {
                    if (i + 1 >= argc) return usage_error(cmd, "option '%s' needs a value", a);
                    o->value = argv[++i];
                }
            } else if (inline_value) {
                return usage_error(cmd, "option '%s' takes no value", a);
            }
            o->seen = true;
            continue;
        }
        if (*npositional >= cmd->max_positional) return usage_error(cmd, "unexpected argument '%s'", a);
        positional[(*npositional)++] = a;
    }
    if (*npositional < cmd->min_positional) return usage_error(cmd, "%s", "missing input file");
    return QF_EXIT_OK;
}

bool qf_cli_int(const qf_cli_command *cmd, const qf_cli_option *opt, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(opt->value, &end, 10);
    if (errno || !end || *end || end == opt->value || v < lo || v > hi) {
        fprintf(stderr, "qforge %s: --%s takes a whole number from %ld to %ld, not '%s'\n", cmd->name, opt->long_name,
                lo, hi, qf_cli_safe(opt->value));
        return false;
    }
    *out = v;
    return true;
}

/* Eight buffers in turn, each grown as needed and kept for the process (the CLI is one thread). */
const char *qf_cli_safe(const char *s)
{
    static char *ring[8];
    static size_t cap[8];
    static unsigned next;
    unsigned k = next++ % 8;
    size_t len = s ? strlen(s) : 0, need;
    if (!qf_mul_size(len, QF_TEXT_ESCAPE_GROWTH, &need) || !qf_add_size(need, 1, &need)) return "?";
    if (cap[k] < need) {
        char *b = realloc(ring[k], need);
        if (!b) return "?";
        ring[k] = b;
        cap[k] = need;
    }
    qf_text_escape(s, len, ring[k], cap[k]);
    return ring[k];
}

int qf_cli_fail(const qf_error *err)
{
    char line[QF_CLI_ERROR_LINE_MAX];
    qf_error_format(err, line, sizeof line);
    fprintf(stderr, "error: %s\n", line);
    return QF_EXIT_ERROR;
}

void qf_cli_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    if (bytes < 1000)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else if (bytes < 1000 * 1000)
        snprintf(buf, size, "%.1f kB", (double)bytes / 1e3);
    else if (bytes < 1000ull * 1000 * 1000)
        snprintf(buf, size, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(buf, size, "%.2f GB", (double)bytes / 1e9);
}

double qf_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void qf_cli_progress_init(qf_cli_progress *p, const char *what, bool bytes, bool quiet)
{
    p->active = !quiet && isatty(STDERR_FILENO);
    p->start = qf_cli_now();
    p->what = what;
    p->bytes = bytes;
}

void qf_cli_progress_update(void *ctx, size_t done, size_t total)
{
    qf_cli_progress *p = ctx;
    if (!p->active) return;
    double dt = qf_cli_now() - p->start;
    if (p->bytes)
        fprintf(stderr, "\r%s: %.1f / %.1f MB (%.0f MB/s)   ", qf_cli_safe(p->what), (double)done / 1e6, (double)total / 1e6,
                dt > 0 ? (double)done / 1e6 / dt : 0.0);
    else
        fprintf(stderr, "\r%s: %zu/%zu rows (%.0f rows/s)   ", qf_cli_safe(p->what), done, total, dt > 0 ? (double)done / dt : 0.0);
    if (done >= total) fprintf(stderr, "\r%*s\r", 70, "");
    fflush(stderr);
}

int qf_cli_read_encoder(const char *path, const qf_read_params *rp, qf_model **out)
{
    qf_error err;
    qf_error_clear(&err);
    *out = NULL;
    qf_model *m = NULL;
    if (qf_model_read(path, rp, &m, &err)) return qf_cli_fail(&err);
    if (qf_arch_map(m, NULL, &err)) {
        qf_model_destroy(m);
        return qf_cli_fail(&err);
    }
    *out = m;
    return QF_EXIT_OK;
}
