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

/* Row n of w[rows, k] as f32 into dst, dequantized with its scale when int8 (scale: one value per
 * row, or one for the tensor). */
static void weight_row(const qf_tensor *t, const qf_tensor *scale, int64_t n, int64_t k, float *dst)
{
    if (t->dtype == QF_DTYPE_F32) {
        memcpy(dst, (const uint8_t *)t->data + (size_t)(n * k) * sizeof(float), (size_t)k * sizeof(float));
        return;
    }
    if (t->dtype != QF_DTYPE_I8) {
        for (int64_t c = 0; c < k; c++) dst[c] = element(t, (uint64_t)(n * k + c));
        return;
    }
    const float s = element(scale, t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL ? (uint64_t)n : 0);
    const int8_t *q = (const int8_t *)t->data + n * k;
    for (int64_t c = 0; c < k; c++) dst[c] = (float)q[c] * s;
}

/* sum_k x[k] w[k] in float as 16 running partial sums (lane k % 16), added in lane order at the
 * end: a fixed order, so every build and CPU gives the same bits, and one that vectorizes. */
static float dot16(const float *x, const float *w, int64_t n)
{
    float p[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int l = 0; l < 16; l++) p[l] += x[k + l] * w[k + l];
    for (int l = 0; k < n; k++, l++) p[l] += x[k] * w[k];
    float sum = 0.0f;
    for (int l = 0; l < 16; l++) sum += p[l];
    return sum;
}

qf_status qf_arch_relative_projection(const qf_model *m, const qf_arch *a, int64_t stored_layer, qf_layer_slot slot,
                                      int64_t first_row, int64_t count, float *out, qf_error *err)
{
    if (!m || !a || !out || a->desc == NULL || a->desc->attention_bias != QF_ARCH_ATTENTION_BIAS_DISENTANGLED ||
        !a->relative_attention || (slot != QF_LAYER_ATTN_Q && slot != QF_LAYER_ATTN_K) || stored_layer < 0 ||
        stored_layer >= a->weight_layers || a->relative_span < 1 || a->relative_span > QF_MAX_RELATIVE_SPAN ||
        first_row < 0 || count < 1 || first_row + count > 2 * a->relative_span)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "qf_arch_relative_projection: not rows of a DeBERTa layer's query or key projection");
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
    const qf_tensor *w = qf_model_find(m, wname, NULL), *scale = NULL;
    if (!w || w->rank != 2 || w->shape[0] != H || w->shape[1] != H)
        return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, wname, "model lacks [%lld, %lld] tensor '%s'",
                            (long long)H, (long long)H, wname);
    if (w->dtype == QF_DTYPE_I8) {
        scale = w->quant.scale_name ? qf_model_find(m, w->quant.scale_name, NULL) : NULL;
        bool per_row = w->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL;
        if (!scale || scale->dtype != QF_DTYPE_F32 || scale->nbytes / 4 < (uint64_t)(per_row ? H : 1))
            return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, wname, "scale tensor of '%s' is missing", wname);
    } else if (!float_tensor(m, wname, (uint64_t)(H * H), err)) {
        return err ? err->code : QF_STATUS_NOT_FOUND;
    }
    float *x = malloc((size_t)(count * H) * sizeof(float)), *wrow = malloc((size_t)H * sizeof(float));
    if (!x || !wrow) {
        free(x);
        free(wrow);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    for (int64_t r = 0; r < count; r++) {
        float *xr = x + r * H;
        for (int64_t j = 0; j < H; j++) xr[j] = element(table, (uint64_t)((first_row + r) * H + j));
        if (a->relative_norm) {
            /* LayerNorm with statistics in double */
            double mean = 0.0, var = 0.0;
            for (int64_t j = 0; j < H; j++) mean += xr[j];
            mean /= (double)H;
            for (int64_t j = 0; j < H; j++) var += ((double)xr[j] - mean) * ((double)xr[j] - mean);
            var /= (double)H;
            const double inv = 1.0 / sqrt(var + (double)a->layer_norm_eps);
            for (int64_t j = 0; j < H; j++)
                xr[j] = (float)(((double)xr[j] - mean) * inv) * element(g, (uint64_t)j) + element(b, (uint64_t)j);
        }
    }
    /* one weight row at a time, through every relative row */
    for (int64_t n = 0; n < H; n++) {
        weight_row(w, scale, n, H, wrow);
        const float bn = element(bias, (uint64_t)n);
        for (int64_t r = 0; r < count; r++) out[r * H + n] = dot16(x + r * H, wrow, H) + bn;
    }
    free(x);
    free(wrow);
    return QF_STATUS_OK;
}
