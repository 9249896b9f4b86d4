/*
 * cli/cmd_ner.h — the token-classification job of `qforge run` (--output tokens) and `qforge verify`
 * (--job token-classification), called from cli/cmd_verify.c once its options are parsed.
 */
#ifndef QF_CLI_CMD_NER_H
#define QF_CLI_CMD_NER_H

#include "cli/args.h"
#include "qforge/model.h"

/* `qforge run MODEL --output tokens`: `cmd` is run's parsed command (its data, tokenizer,
 * max-length, limit, threads and batch options). Reads the model itself; returns the exit code. */
int qf_cmd_run_tokens(qf_cli_command *cmd, const char *model_path);

/* `qforge verify --job token-classification` on the models verify read (borrowed; the caller
 * destroys them): `cmd` is verify's parsed command. Returns the exit code (3 past --max-drop). */
int qf_cmd_verify_tokens(qf_cli_command *cmd, const char *artifact_path, const char *reference_path, qf_model *art,
                         qf_model *ref);

#endif
