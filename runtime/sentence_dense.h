/*
 * runtime/sentence_dense.h — internal to runtime/: the Dense modules of a sentence-transformers
 * pipeline (readers/sentence_pipeline.c records them), run on a pooled embedding before Normalize.
 */
#ifndef QFORGE_RUNTIME_SENTENCE_DENSE_H
#define QFORGE_RUNTIME_SENTENCE_DENSE_H

#include "qforge/runtime.h"

/*
 * The Dense modules model m records (metadata pipeline.dense = K, pipeline.dense.<k>.activation,
 * pipeline.dense.<k>.residual; FP32 tensors pipeline.dense.<k>.linear.weight [out, in], .linear.bias
 * [out] when it has one, .residual.weight [out, in] for a residual with in != out). The first takes
 * `in_features` values (the pooled embedding), each next one the previous one's output. *out is
 * NULL when the model records none. Shapes, dtypes, activations and K (<= QF_MAX_SENTENCE_DENSE)
 * are checked here: the metadata and tensors of a .qf are file content.
 */
qf_status qf_sentence_dense_load(const qf_model *m, int64_t in_features, qf_sentence_dense **out, qf_error *err);
int64_t qf_sentence_dense_out_features(const qf_sentence_dense *d);
/* A row of in_features floats the caller may pool into before qf_sentence_dense_apply. */
float *qf_sentence_dense_scratch_row(const qf_sentence_dense *d);
/* y[out_features] = the modules applied in turn to x[in_features] (x and y may not overlap). Uses
 * the object's scratch: one call at a time. */
void qf_sentence_dense_apply(const qf_sentence_dense *d, const float *x, float *y);
void qf_sentence_dense_free(qf_sentence_dense *d); /* accepts NULL */

#endif
