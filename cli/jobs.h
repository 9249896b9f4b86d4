/*
 * cli/jobs.h — which job measures a model (cli/jobs.c): the one rule `qforge verify` and
 * `qforge quantize --max-drop --eval` share for --job and for the default the model's head asks for.
 */
#ifndef QF_CLI_JOBS_H
#define QF_CLI_JOBS_H

#include <stdbool.h>

#include "qforge/model.h"
#include "qforge/runtime.h"
#include "qforge/text.h"

typedef enum qf_cli_job {
    QF_CLI_JOB_CLASSIFICATION = 0,
    QF_CLI_JOB_EMBEDDING,
    QF_CLI_JOB_TOKEN_CLASSIFICATION,
    QF_CLI_JOB_QA,
    QF_CLI_JOB_MULTI_LABEL,
    QF_CLI_JOB_RERANK,
} qf_cli_job;

/* The names --job takes, for usage messages. */
#define QF_CLI_JOB_NAMES "classification, embedding, token-classification, multi-label, rerank or qa"

/* The job a --job value names; false when it names none. */
bool qf_cli_job_named(const char *name, qf_cli_job *out);
const char *qf_cli_job_name(qf_cli_job job);

/* Without --job, the job of a model whose architecture is `a`: a token-classification head ->
 * token-classification; a QA head -> qa; no head, or a sentence-transformers pipeline
 * (pipeline.source) -> embedding; problem_type multi_label_classification -> multi-label; one label
 * scored by sigmoid or identity (a cross-encoder) -> rerank; else classification. */
qf_cli_job qf_cli_job_of(const qf_model *m, const qf_arch *a);

/* The embedding an embedding job measures (cmd_verify.c): the sentence-transformers pipeline `m`
 * records (pipeline.* metadata), else the mean without normalization; a pipeline with parts qforge
 * does not compute is refused (printed, QF_EXIT_ERROR). */
int qf_cli_embedding_pipeline(const qf_model *m, const char *path, qf_pooling *pooling, bool *normalize);

/* The sequence limit SentenceTransformer.encode (and CrossEncoder.predict, pairs longest-first)
 * truncates to, for a model with a sentence-transformers pipeline (pipeline.source): unless the user gave the length (`max_length_given`), the pipeline's
 * max_seq_length when that is smaller than dp->max_length (the model's positions). The texts are
 * tokenized as written: sentence-transformers 6 no longer strips them (5 did: str.strip()).
 * Other models: dp is left as it is. */
void qf_cli_embedding_max_length(const qf_model *m, bool max_length_given, qf_dataset_params *dp);

/* Whether m is a sentence-transformers CrossEncoder folder (or a .qf made from one): its own head
 * scores pairs, and its prompts go before the first text of each (pipeline.model_type). */
bool qf_cli_cross_encoder(const qf_model *m);

/* For a CrossEncoder whose folder has parts qforge does not compute (pipeline.unsupported):
 * prints the error naming them and returns QF_EXIT_ERROR; else QF_EXIT_OK. */
int qf_cli_cross_encoder_refused(const qf_model *m, const char *path);

/* The prompt SentenceTransformer.encode (and CrossEncoder.predict, before the first text of each
 * pair) prepends to every text of an embedding job, by its rule:
 * `prompt` (--prompt TEXT; "" is no prompt) when given, else `prompt_name` (--prompt-name NAME:
 * one of the pipeline's prompts, pipeline.prompt.<k>.name, else the pipeline's default prompt
 * (pipeline.default_prompt). With `plain` (--pooling given: the plain pooled embedding, not the
 * pipeline) only --prompt / --prompt-name prompt. Sets dp->prompt (borrowed from m or the
 * arguments) and dp->prompt_excluded (pipeline.include_prompt false, not with `plain`). The
 * metadata is file text: read again with the reader's bounds. Prints the error and returns
 * QF_EXIT_USAGE for an unknown name (listing the model's), QF_EXIT_ERROR for prompts the metadata
 * cannot hold. `path` names the model in messages. */
int qf_cli_embedding_prompt(const qf_model *m, const char *path, const char *prompt, const char *prompt_name, bool plain,
                            qf_dataset_params *dp);

/* Longest sequence the model takes: its position table (RoBERTa: minus the padding offset); 512
 * when its config does not say. */
int32_t qf_cli_model_max_tokens(const qf_model *m);

/* How the encoder runs an artifact: static int8 when its recipe says so (quant.mode static), else
 * dynamic int8 when any tensor is quantized, else FP32. */
qf_encoder_mode qf_cli_artifact_mode(const qf_model *m);

#endif
