/*
 * model/relative.c — constants a family derives from its weights before any input: DeBERTa's
 * relative-position embeddings projected through each layer's query and key weights. Sits in the
 * model layer so that the encoder (runtime/) and the ONNX export (writers/) use the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/model.h"

/* Element i of a float tensor (f32, f16, bf16, f64) or an int8 one scaled by its row's scale. */
static float element(const qf_tensor *t, uint64_t i)
{
    switch (t->dtype) {
    case QF_DTYPE_F32: {
        float v;
        memcpy(&v, (const uint8_t *)t->data + i * 4, 4);
        return v;
    }
    case QF_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, (const uint8_t *)t->data + i * 2, 2);
        return qf_f16_to_f32(h);
    }
    case QF_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, (const uint8_t *)t->data + i * 2, 2);
        return qf_bf16_to_f32(h);
    }
    case QF_DTYPE_F64: {
        double v;
        memcpy(&v, (const uint8_t *)t->data + i * 8, 8);
        return (float)v;
    }
    default: return 0.0f;
    }
}

/* The float tensor `name` with `count` elements, or NULL with err set. */
static const qf_tensor *float_tensor(const qf_model *m, const char *name, uint64_t count, qf_error *err)
{
    const qf_tensor *t = qf_model_find(m, name, NULL);
    bool is_float = t && (t->dtype == QF_DTYPE_F32 || t->dtype == QF_DTYPE_F16 || t->dtype == QF_DTYPE_BF16 ||
                          t->dtype == QF_DTYPE_F64);
    if (!is_float || t->nbytes / qf_dtype_size(t->dtype) < count) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, name, "model lacks float tensor '%s' of %llu values",
                     name, (unsigned long long)count);
        return NULL;
    }
    return t;
}

/* w[n, k] as f32, dequantized per row when int8 (its scale tensor: one value per row or one). */
static qf_status weight_f32(const qf_model *m, const char *name, int64_t n, int64_t k, float *w, qf_error *err)
{
    const qf_tensor *t = qf_model_find(m, name, NULL);
    if (!t || t->rank != 2 || t->shape[0] != n || t->shape[1] != k)
        return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, name, "model lacks [%lld, %lld] tensor '%s'",
                            (long long)n, (long long)k, name);
    if (t->dtype != QF_DTYPE_I8) {
        if (!float_tensor(m, name, (uint64_t)(n * k), err)) return err ? err->code : QF_STATUS_NOT_FOUND;
        for (int64_t i = 0; i < n * k; i++) w[i] = element(t, (uint64_t)i);
        return QF_STATUS_OK;
    }
    const qf_tensor *sc = t->quant.scale_name ? qf_model_find(m, t->quant.scale_name, NULL) : NULL;
    bool per_row = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL;
    if (!sc || sc->dtype != QF_DTYPE_F32 || sc->nbytes / 4 < (uint64_t)(per_row ? n : 1))
        return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, name, "scale tensor of '%s' is missing", name);
    const int8_t *q = t->data;
    for (int64_t r = 0; r < n; r++) {
        const float s = element(sc, per_row ? (uint64_t)r : 0);
        for (int64_t c = 0; c < k; c++) w[r * k + c] = (float)q[r * k + c] * s;
    }
    return QF_STATUS_OK;
}

qf_status qf_arch_relative_projection(const qf_model *m, const qf_arch *a, int64_t stored_layer, qf_layer_slot slot,
                                      float *out, qf_error *err)
{
    if (!m || !a || !out || a->desc == NULL || a->desc->attention_bias != QF_ARCH_ATTENTION_BIAS_DISENTANGLED ||
        !a->relative_attention || (slot != QF_LAYER_ATTN_Q && slot != QF_LAYER_ATTN_K) || stored_layer < 0 ||
        stored_layer >= a->weight_layers || a->relative_span < 1 || a->relative_span > QF_MAX_RELATIVE_SPAN)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "qf_arch_relative_projection: not a DeBERTa layer's query or key projection");
    const int64_t H = a->hidden_size, rows = 2 * a->relative_span;
    const qf_tensor *table = float_tensor(m, QF_SLOT_RELATIVE_EMBEDDING ".weight", (uint64_t)(rows * H), err);
    if (!table) return err ? err->code : QF_STATUS_NOT_FOUND;
    if (table->rank != 2 || table->shape[1] != H || table->shape[0] < rows)
        return qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, QF_SLOT_RELATIVE_EMBEDDING ".weight",
                            "relative-position embeddings are not [>= %lld, %lld]", (long long)rows, (long long)H);
    const qf_tensor *g = NULL, *b = NULL;
    if (a->relative_norm && (!(g = float_tensor(m, QF_SLOT_RELATIVE_NORM ".weight", (uint64_t)H, err)) ||
                             !(b = float_tensor(m, QF_SLOT_RELATIVE_NORM ".bias", (uint64_t)H, err))))
        return err ? err->code : QF_STATUS_NOT_FOUND;
    char stem[64], wname[80], bname[80];
    qf_layer_slot_stem(stored_layer, slot, stem, sizeof stem);
    snprintf(wname, sizeof wname, "%s.weight", stem);
    snprintf(bname, sizeof bname, "%s.bias", stem);
    const qf_tensor *bias = float_tensor(m, bname, (uint64_t)H, err);
    if (!bias) return err ? err->code : QF_STATUS_NOT_FOUND;
    float *w = malloc((size_t)(H * H) * sizeof(float)), *wt = malloc((size_t)(H * H) * sizeof(float));
    float *x = malloc((size_t)H * sizeof(float));
    qf_status s = !w || !wt || !x ? qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory")
                                  : weight_f32(m, wname, H, H, w, err);
    if (!s) {
        /* w^T [k, n], so that the inner loop runs over outputs: each output still sums over k in order */
        for (int64_t n = 0; n < H; n++)
            for (int64_t k = 0; k < H; k++) wt[k * H + n] = w[n * H + k];
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < H; j++) x[j] = element(table, (uint64_t)(r * H + j));
            if (a->relative_norm) {
                /* LayerNorm with statistics in double */
                double mean = 0.0, var = 0.0;
                for (int64_t j = 0; j < H; j++) mean += x[j];
                mean /= (double)H;
                for (int64_t j = 0; j < H; j++) var += ((double)x[j] - mean) * ((double)x[j] - mean);
                var /= (double)H;
                const double inv = 1.0 / sqrt(var + (double)a->layer_norm_eps);
                for (int64_t j = 0; j < H; j++)
                    x[j] = (float)(((double)x[j] - mean) * inv) * element(g, (uint64_t)j) + element(b, (uint64_t)j);
            }
            float *y = out + r * H;
            for (int64_t n = 0; n < H; n++) y[n] = 0.0f;
            for (int64_t k = 0; k < H; k++) {
                const float xv = x[k], *row = wt + k * H;
                for (int64_t n = 0; n < H; n++) y[n] += xv * row[n];
            }
            for (int64_t n = 0; n < H; n++) y[n] += element(bias, (uint64_t)n);
        }
    }
    free(w);
    free(wt);
    free(x);
    return s;
}
