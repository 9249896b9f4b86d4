/*
 * cli/cmd_fallback.h — the accuracy-aware fallback of `qforge quantize --mode static --max-drop P
 * --eval ROWS` (cli/cmd_fallback.c), called from cmd_write.c once the static options are parsed.
 */
#ifndef QF_CLI_CMD_FALLBACK_H
#define QF_CLI_CMD_FALLBACK_H

#include "cli/args.h"
#include "qforge/calibrate.h"
#include "qforge/quantize.h"

typedef struct qf_cli_fallback_inputs {
    const char *model_path, *eval_path; /* IN and --eval */
    qf_model *source;                   /* FP32, read by the caller */
    const qf_calib_stats *stats;
    const qf_static_params *params;
    double max_drop;
    long sensitivity_rows;
} qf_cli_fallback_inputs;

/* Chooses the job (--job, else the model's head, as `qforge verify` does: cli/jobs.c), loads
 * --eval in the job's row form, runs the fallback with the job's headline metric and prints its
 * lines. *out receives the final model (owned) whenever the fallback ran; the exit status is
 * QF_EXIT_ERROR when the drop stays above the budget. */
int qf_cli_quantize_fallback(qf_cli_command *cmd, const qf_cli_fallback_inputs *in, qf_model **out);

#endif
