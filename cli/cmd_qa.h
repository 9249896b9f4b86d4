/*
 * cli/cmd_qa.h — the question-answering entry points of `qforge run` and `qforge verify`
 * (cli/cmd_qa.c), called from cli/cmd_verify.c.
 */
#ifndef QF_CLI_CMD_QA_H
#define QF_CLI_CMD_QA_H

#include <stdbool.h>

#include "cli/args.h"
#include "qforge/model.h"

/* The windowing and answer options, for a command's option table. */
#define QF_CLI_QA_OPTIONS                                                                                            \
    QF_CLI_OPTION("max-seq-len", 0, true, "N",                                                                       \
                  "question answering: tokens of a window, specials included (default min(384, the model's "         \
                  "positions))"),                                                                                    \
        QF_CLI_OPTION("doc-stride", 0, true, "N",                                                                    \
                      "question answering: context tokens consecutive windows share (default min(max-seq-len/2, "    \
                      "128))"),                                                                                      \
        QF_CLI_OPTION("max-answer-len", 0, true, "N", "question answering: tokens of an answer at most (default 15)"), \
        QF_CLI_OPTION("max-question-len", 0, true, "N",                                                              \
                      "question answering: cut the question to N tokens (default: not cut, as transformers' "         \
                      "pipeline with a fast tokenizer)"),                                                            \
        QF_CLI_OPTION("no-align-to-words", 0, false, NULL,                                                           \
                      "question answering: the answer is its tokens' characters (the pipeline's "                     \
                      "align_to_words=False) instead of their whole words")

/* QF_EXIT_USAGE (printed) when one of them was given to a command or job that is not QA. */
int qf_cli_qa_options_refused(qf_cli_command *cmd, const char *what);

/* `qforge run MODEL --data FILE --output spans`. */
int qf_cmd_run_spans(qf_cli_command *cmd, const char *model_path, const char *data_path);

/* Whether `qforge verify` measures question answering: --job qa, or no --job and a QA head. */
bool qf_cli_verify_is_qa(qf_cli_command *cmd, const qf_model *reference);

typedef struct qf_cli_verify_qa_inputs {
    const char *artifact_path, *reference_path, *data_path;
    qf_model *artifact, *reference;
    bool has_max_drop;
    double max_drop;
} qf_cli_verify_qa_inputs;

/* `qforge verify ART --data FILE --job qa`: the models read, the options parsed by the caller. */
int qf_cmd_verify_qa(qf_cli_command *cmd, const qf_cli_verify_qa_inputs *in);

#endif
