/*
 * verify/job_internal.h — what the scoring jobs of verify (job_multilabel.c, job_rerank.c,
 * job_sts.c) share: both models run over the rows (logits or pooled embeddings kept whole) and the
 * parts of their JSON reports. Internal to verify/.
 */
#ifndef QF_VERIFY_JOB_INTERNAL_H
#define QF_VERIFY_JOB_INTERNAL_H

#include <json-c/json.h>

#include "qforge/verify.h"

double qf_job_seconds_now(void);

/* Runs `reference` (FP32) and `artifact` (`mode`) over every row of `data`: *ref_logits and
 * *art_logits [rows][*num_labels] (owned, free()). Both must be sequence-classification heads of
 * the same shape; another head is refused naming `job`. */
qf_status qf_job_logits(qf_model *reference, qf_model *artifact, qf_encoder_mode mode, const qf_dataset *data,
                        const qf_verify_params *p, const char *job, float **ref_logits, float **art_logits,
                        int64_t *num_labels, qf_error *err);

/* Every row's embedding by one model: *out [rows][*dim] (owned), pooled as qf_embedding_pool does. */
qf_status qf_job_embeddings(qf_model *m, qf_encoder_mode mode, const qf_dataset *data, const qf_verify_params *p,
                            qf_pooling pooling, bool normalize, float **out, int64_t *dim, qf_error *err);

/* The members every job report starts with: job, artifact, reference, data, data_sha256, rows,
 * max_length, artifact_mode, recipe (quant.*, source.*, convert.* of the artifact). */
json_object *qf_job_json_start(const char *job, const qf_verify_html_context *c, size_t rows, qf_encoder_mode mode);
/* The members every job report ends with: the gate (max_drop, passed), seconds, qforge_version, tokenizer. */
void qf_job_json_end(json_object *o, const qf_verify_html_context *c, double seconds);
/* A number, or null when it is not finite (an undefined Spearman). */
json_object *qf_job_json_number(double x);
/* Pretty JSON text of `o` (consumed) ending with a newline, as the other reports are written. */
/* The artifact's recipe: its quant.*, source.* and convert.* metadata, as every report carries it. */
json_object *qf_job_recipe_json(const qf_model *artifact);
/* "prompt": {"text", "tokens_excluded_from_pooling"} when c->prompt is a non-empty prompt (a
 * sentence-transformers prompt prepended to every text: an embedder's, or a CrossEncoder's before
 * the first text of each pair); nothing otherwise. */
void qf_job_json_prompt(json_object *o, const qf_verify_html_context *c);
/* The report's text (pretty JSON and a newline), owned by the caller; consumes o. */
qf_status qf_job_json_text(json_object *o, char **out, size_t *len, qf_error *err);

#endif
