/*
 * cli/cmd_rank.h — the scoring jobs of `qforge verify` (cli/cmd_rank.c): multi-label, rerank and
 * the sentence-similarity (STS) part of the embedding job, called from cmd_verify.c's dispatch.
 */
#ifndef QF_CLI_CMD_RANK_H
#define QF_CLI_CMD_RANK_H

#include "cli/args.h"
#include "qforge/verify.h"

typedef enum qf_cli_scoring_job {
    QF_CLI_SCORING_NONE = 0, /* classification or embedding: cmd_verify.c's own jobs */
    QF_CLI_SCORING_MULTI_LABEL,
    QF_CLI_SCORING_RERANK,
} qf_cli_scoring_job;

/* The job --job names ("multi-label", "rerank"; NONE for others), or without --job the one the
 * model's head asks for: problem_type multi_label_classification -> multi-label; one label scored
 * by sigmoid or identity (a cross-encoder) -> rerank. */
qf_cli_scoring_job qf_cli_scoring_job_named(const char *name);
qf_cli_scoring_job qf_cli_scoring_job_of(const qf_arch *a);

/* Usage checks of the scoring jobs' own options (--threshold: multi-label; --min-spearman: rerank).
 * QF_EXIT_OK or QF_EXIT_USAGE after printing why. */
int qf_cli_scoring_options(qf_cli_command *cmd, qf_cli_scoring_job job, const char *model_path);

/* What cmd_verify.c has prepared for a scoring job. Borrowed. */
typedef struct qf_cli_scoring_run {
    qf_cli_scoring_job job;
    const char *artifact_path, *reference_path, *data_path, *tokenizer_path;
    qf_model *reference, *artifact;
    qf_encoder_mode artifact_mode;
    const qf_tokenizer *tokenizer;
    qf_dataset_params data_params; /* max_length, limit, config_json */
    qf_verify_params verify_params;
    bool has_max_drop;
    double max_drop;
} qf_cli_scoring_run;

/* Runs a multi-label or rerank job: loads the rows and their fields, measures, prints the summary,
 * writes --json and --html, applies the gate. Returns the exit status (3: the gate failed). */
int qf_cli_verify_scoring(qf_cli_command *cmd, const qf_cli_scoring_run *run);

/* Sentence similarity inside the embedding job: *sts true when some row of the data carries
 * "score" (then every row must carry "text_pair" and "score"). QF_EXIT_OK or the failure printed. */
int qf_cli_sts_rows(const char *data_path, long limit, bool *sts);

typedef struct qf_cli_sts {
    qf_sts_report report;
    bool has_max_drop, passed;
    double max_drop;
} qf_cli_sts;

/* Measures the STS Spearman of both models (the "text" rows are `first`, loaded with
 * QF_DATASET_TEXTS_FIRST; the "text_pair" rows are loaded here with the same params) and fills
 * out, its gate included. QF_EXIT_OK or the failure printed. */
int qf_cli_sts_measure(const qf_cli_scoring_run *run, const qf_dataset *first, qf_pooling pooling, bool normalize,
                       qf_cli_sts *out);
/* The summary lines after the embedding job's own. */
void qf_cli_sts_print(const qf_cli_sts *s, qf_encoder_mode artifact_mode);

#endif
