/*
 * tests/fuzz/fuzz_sentence_dense.c — the sentence-transformers Dense modules an encoder builds from
 * a model's pipeline.dense.* metadata and FP32 tensors (runtime/sentence_dense.c), as a .qf
 * carries them: file content, checked where the encoder loads them.
 *
 * Input: byte 0 the pooled width given to the load (1..64); byte 1 picks pipeline.dense (absent, a
 * count 0..QF_MAX_SENTENCE_DENSE + 1, or text that is no count); then 6 bytes per module k, while
 * the input lasts: out features (1..64) and in features (1..64) of its weight, flags (bit 0: a
 * bias; bit 1: its length one off; bit 2: residual "true"; bit 3: a residual weight; bit 4: no
 * weight; bit 5: a weight of rank 1; bit 6: an F16 weight instead of F32), the activation (one of
 * the six, an unknown name, or none), and two bytes seeding the weights' values (finite, NaN or
 * infinite among them). An accepted set is applied to a pooled row of those values; every output
 * must be written (the row is poisoned first), and a refusal's error line must be inert.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "qforge/limits.h"
#include "runtime/sentence_dense.h"

static float value_of(uint8_t seed, size_t i)
{
    if (seed == 0xff) return NAN;
    if (seed == 0xfe) return (i & 1) ? INFINITY : -INFINITY;
    return (float)((int)((seed * 31 + i * 17) % 255) - 127) / 64.0f;
}

static void add_f32(qf_model *m, const char *name, int32_t rank, const int64_t *shape, uint8_t seed, bool f16)
{
    size_t n = (size_t)shape[0] * (size_t)(rank == 2 ? shape[1] : 1);
    size_t elem = f16 ? 2 : 4;
    void *data = NULL;
    if (qf_model_alloc(m, n * elem, &data, NULL)) return;
    for (size_t i = 0; i < n; i++) {
        if (f16) ((uint16_t *)data)[i] = (uint16_t)(seed * 257u + i);
        else ((float *)data)[i] = value_of(seed, i);
    }
    qf_model_add_tensor(m, name, name, f16 ? QF_DTYPE_F16 : QF_DTYPE_F32, rank, shape, data, n * elem, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    qf_model *m = NULL;
    if (qf_model_create(&m, NULL)) return 0;
    const int64_t width = 1 + data[0] % 64;
    char text[64];
    int count = data[1] % (QF_MAX_SENTENCE_DENSE + 4);
    if (count <= QF_MAX_SENTENCE_DENSE + 1) {
        snprintf(text, sizeof text, "%d", count);
        qf_model_set_meta(m, "pipeline.dense", text, NULL);
    } else if (count == QF_MAX_SENTENCE_DENSE + 2) {
        qf_model_set_meta(m, "pipeline.dense", "2x", NULL);
    }
    static const char *const acts[] = {"tanh", "identity", "relu", "sigmoid", "gelu", "silu", "Tanh", ""};
    for (size_t k = 0, at = 2; at + 6 <= size && k <= QF_MAX_SENTENCE_DENSE; k++, at += 6) {
        const uint8_t *b = data + at;
        const int64_t out = 1 + b[0] % 64, in = 1 + b[1] % 64;
        const uint8_t flags = b[2];
        char name[96];
        if (!(flags & 16)) {
            snprintf(name, sizeof name, "pipeline.dense.%zu.linear.weight", k);
            int64_t shape[2] = {out, in};
            add_f32(m, name, flags & 32 ? 1 : 2, shape, b[4], flags & 64);
        }
        if (flags & 1) {
            snprintf(name, sizeof name, "pipeline.dense.%zu.linear.bias", k);
            int64_t shape[1] = {out + ((flags & 2) ? 1 : 0)};
            add_f32(m, name, 1, shape, b[5], false);
        }
        if (flags & 8) {
            snprintf(name, sizeof name, "pipeline.dense.%zu.residual.weight", k);
            int64_t shape[2] = {out, in};
            add_f32(m, name, 2, shape, b[5], false);
        }
        snprintf(name, sizeof name, "pipeline.dense.%zu.residual", k);
        qf_model_set_meta(m, name, flags & 4 ? "true" : "false", NULL);
        if (b[3] % 9 < 8) {
            snprintf(name, sizeof name, "pipeline.dense.%zu.activation", k);
            qf_model_set_meta(m, name, acts[b[3] % 9], NULL);
        }
    }
    qf_sentence_dense *d = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_sentence_dense_load(m, width, &d, &err);
    if (st != QF_STATUS_OK) {
        if (d) abort(); /* nothing is handed out with a refusal */
        qf_fuzz_consume(st, NULL, &err);
    } else if (d) {
        const int64_t n_out = qf_sentence_dense_out_features(d);
        if (n_out < 1 || n_out > QF_MAX_SENTENCE_DENSE_FEATURES) abort();
        float *x = qf_sentence_dense_scratch_row(d), *y = malloc((size_t)n_out * sizeof *y);
        if (y) {
            for (int64_t i = 0; i < width; i++) x[i] = value_of(data[0], (size_t)i);
            memset(y, 0xA5, (size_t)n_out * sizeof *y); /* every output must be overwritten */
            qf_sentence_dense_apply(d, x, y);
            for (int64_t i = 0; i < n_out; i++) {
                uint32_t bits;
                memcpy(&bits, &y[i], sizeof bits);
                if (bits == 0xA5A5A5A5u) abort();
            }
            free(y);
        }
        qf_sentence_dense_free(d);
    }
    qf_model_destroy(m);
    return 0;
}
