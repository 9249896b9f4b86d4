/*
 * cli/main.c — the `qforge` binary: picks the subcommand and hands over. Argument parsing only;
 * all work happens in the library (see docs/ARCHITECTURE.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"inspect", "format, tensors, metadata and integrity of any supported file", qf_cmd_inspect},
    {"convert", "write a .qf or safetensors file without quantization (f32, f16 or bf16)", qf_cmd_convert},
    {"quantize", "int8 weights into a .qf file (--mode dynamic, or static with calibrated activations)",
     qf_cmd_quantize},
    {"calibrate", "activation statistics (.qfc) for static int8 from calibration data; --merge", qf_cmd_calibrate},
    {"verify", "FP32 vs the int8 artifact on labelled data: accuracy drop, agreement; gate with --max-drop",
     qf_cmd_verify},
    {"run", "the reference encoder as a runtime: logits or embeddings as JSONL", qf_cmd_run},
    {"tokenize", "the token ids a model is fed, per row as JSONL (tokenizer parity on its own)", qf_cmd_tokenize},
};

static const char DESCRIPTION[] =
    "Convert and quantize transformer-encoder checkpoints (PyTorch, safetensors) into .qf files,\n"
    "and verify how far the int8 artifact is from FP32.";
static const char EXIT_STATUS[] = "0 success, 1 error, 2 usage error, 3 verify: accuracy drop above --max-drop";
static const char ENVIRONMENT[] =
    "SOURCE_DATE_EPOCH  time stamp written into outputs (none without it, so outputs are reproducible)\n"
    "QF_AMX=0           int8 GEMMs on oneDNN instead of qforge's AMX kernels (same results)\n"
    "QF_DIRECT_IO=0     outputs written through the page cache instead of O_DIRECT (same bytes)";

static void print_usage(FILE *out)
{
    fprintf(out, "usage: qforge COMMAND [options]\n       qforge help [COMMAND | --man]\n\n%s\n\ncommands:\n",
            DESCRIPTION);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'qforge COMMAND --help' (or 'qforge help COMMAND') describes each command.\n"
                 "exit status: %s\n\nenvironment:\n  ", EXIT_STATUS);
    for (const char *c = ENVIRONMENT; *c; c++) {
        fputc(*c, out);
        if (*c == '\n') fputs("  ", out);
    }
    fputc('\n', out);
}

static const subcommand *find_subcommand(const char *name)
{
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(name, subcommands[i].name) == 0) return &subcommands[i];
    return NULL;
}

static void roff_line(const char *s)
{
    for (; *s; s++) {
        if (*s == '-')
            fputs("\\-", stdout);
        else if (*s == '\n')
            fputc(' ', stdout); /* roff fills paragraphs */
        else
            fputc(*s, stdout);
    }
    fputc('\n', stdout);
}

/* The man page, built from the same tables as --help: each command's section is its --help run
 * with qf_cli_help_as_man set. */
static int print_man(void)
{
    printf(".TH QFORGE 1 \"\" \"qforge %s\" \"User Commands\"\n.SH NAME\n"
           "qforge \\- convert, quantize and verify transformer\\-encoder checkpoints\n.SH SYNOPSIS\n"
           ".B qforge\n\\fICOMMAND\\fR [\\fIoptions\\fR]\n.br\n.B qforge help\n[\\fICOMMAND\\fR]\n"
           ".SH DESCRIPTION\n",
           QF_VERSION_STRING);
    roff_line(DESCRIPTION);
    printf(".SH COMMANDS\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        printf(".TP\n.B %s\n", subcommands[i].name);
        roff_line(subcommands[i].summary);
    }
    qf_cli_help_as_man = true;
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        char *argv[] = {(char *)"--help", NULL};
        fflush(stdout);
        if (subcommands[i].run(1, argv) != QF_EXIT_OK) return QF_EXIT_ERROR;
    }
    qf_cli_help_as_man = false;
    printf(".SH \"EXIT STATUS\"\n");
    roff_line(EXIT_STATUS);
    printf(".SH ENVIRONMENT\n");
    for (const char *line = ENVIRONMENT; *line;) {
        const char *end = strchr(line, '\n');
        const size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), line);
        printf(".TP\n");
        roff_line(buf);
        line += n + (end ? 1 : 0);
    }
    printf(".SH \"SEE ALSO\"\nThe .qf format: docs/format.md; the code layout: docs/ARCHITECTURE.md.\n");
    return QF_EXIT_OK;
}

/* qforge help [COMMAND | --man] */
static int help(int argc, char **argv)
{
    if (argc < 1) {
        print_usage(stdout);
        return QF_EXIT_OK;
    }
    if (strcmp(argv[0], "--man") == 0) return print_man();
    const subcommand *c = find_subcommand(argv[0]);
    if (!c) {
        fprintf(stderr, "qforge help: no command '%s'\n\n", qf_cli_safe(argv[0]));
        print_usage(stderr);
        return QF_EXIT_USAGE;
    }
    char *hargv[] = {(char *)"--help", NULL};
    return c->run(1, hargv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return QF_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_usage(stdout);
        return QF_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) return help(argc - 2, argv + 2);
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("qforge %s\n", QF_VERSION_STRING);
        return QF_EXIT_OK;
    }
    const subcommand *c = find_subcommand(name);
    if (c) return c->run(argc - 2, argv + 2);
    fprintf(stderr, "qforge: unknown command '%s'\n\n", qf_cli_safe(name));
    print_usage(stderr);
    return QF_EXIT_USAGE;
}
