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
    {"convert", "write a .qf file without quantization (f32, f16 or bf16)", qf_cmd_convert},
    {"quantize", "int8 weights into a .qf file (--mode dynamic, or static with calibrated activations)",
     qf_cmd_quantize},
    {"calibrate", "activation statistics (.qfc) for static int8 from calibration data; --merge", qf_cmd_calibrate},
    {"verify", "FP32 vs the int8 artifact on labelled data: accuracy drop, agreement; gate with --max-drop",
     qf_cmd_verify},
    {"run", "the reference encoder as a runtime: logits or embeddings as JSONL", qf_cmd_run},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: qforge COMMAND [options]\n\n"
            "Convert and quantize transformer-encoder checkpoints (PyTorch, safetensors) into .qf files,\n"
            "and verify how far the int8 artifact is from FP32.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'qforge COMMAND --help' describes each command.\n"
                 "exit status: 0 success, 1 error, 2 usage error, 3 verify: accuracy drop above --max-drop\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return QF_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return QF_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("qforge %s\n", QF_VERSION_STRING);
        return QF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(name, subcommands[i].name) == 0) return subcommands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "qforge: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return QF_EXIT_USAGE;
}
