/*
 * quantize/quantize_model.c — model-level passes: dynamic int8 weights (per output channel or per
 * tensor, word embeddings per row) and dtype conversion for `qforge convert`. Input: a model from
 * any reader; output: a new model that borrows the untouched tensors from the source (kept alive).
 * qf_model_quantize_dynamic_lazy's int8 weights are produced tensors (core.h): each is quantized
 * into the writer's buffer when the writer reaches it, so one tensor's int8 bytes are in memory at a
 * time, and the input pages it came from are released once consumed.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/model.h"
#include "qforge/quantize.h"

qf_quantize_params qf_quantize_params_default(void)
{
    qf_quantize_params p;
    memset(&p, 0, sizeof p);
    p.per_tensor = false;
    p.quantize_word_embeddings = true;
    p.quantize_other_embeddings = false;
    p.min_elements = 1024;
    p.threads = 0;
    return p;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool float_input(qf_dtype t)
{
    return t == QF_DTYPE_F32 || t == QF_DTYPE_F16 || t == QF_DTYPE_BF16 || t == QF_DTYPE_F64;
}

/* Which tensors become int8: 2-D float ".weight"s of linear layers, and embeddings as configured. */
static bool should_quantize(const qf_tensor *t, const qf_quantize_params *p)
{
    if (!float_input(t->dtype) || t->rank != 2 || t->quant.scheme != QF_QUANT_NONE) return false;
    if (!ends_with(t->name, "weight")) return false;
    /* a sentence-transformers Dense module's weights (readers/sentence_pipeline.c) stay FP32: one
     * row per text, run once after the pooling */
    if (strncmp(t->name, "pipeline.", 9) == 0) return false;
    /* a relative-position table (MPNet) is added to attention scores, not multiplied: it stays
     * FP32, and the model layer refuses it in int8 */
    if (strcmp(t->name, QF_SLOT_RELATIVE_BIAS ".weight") == 0) return false;
    /* DeBERTa's relative-position embeddings become constants of each layer's query and key
     * weights when the encoder is created: they stay FP32 */
    if (strcmp(t->name, QF_SLOT_RELATIVE_EMBEDDING ".weight") == 0) return false;
    uint64_t numel = (uint64_t)t->shape[0] * (uint64_t)t->shape[1];
    if (numel < p->min_elements || t->shape[0] == 0 || t->shape[1] == 0) return false;
    if (strstr(t->name, "embed")) {
        /* Hugging Face names, or the canonical slot once the architecture is mapped */
        bool word = strstr(t->name, "word_embeddings") != NULL || strstr(t->name, "embed_tokens") != NULL ||
                    strcmp(t->name, QF_SLOT_WORD_EMBEDDING ".weight") == 0;
        return word ? p->quantize_word_embeddings : p->quantize_other_embeddings;
    }
    return true;
}

/* Element i of a float tensor of any supported float dtype, as f32. */
static void load_row_f32(const qf_tensor *t, uint64_t offset, size_t n, float *dst)
{
    switch (t->dtype) {
    case QF_DTYPE_F32: memcpy(dst, (const float *)t->data + offset, n * sizeof(float)); break;
    case QF_DTYPE_F16: {
        const uint16_t *s = (const uint16_t *)t->data + offset;
        for (size_t i = 0; i < n; i++) dst[i] = qf_f16_to_f32(s[i]);
        break;
    }
    case QF_DTYPE_BF16: {
        const uint16_t *s = (const uint16_t *)t->data + offset;
        for (size_t i = 0; i < n; i++) dst[i] = qf_bf16_to_f32(s[i]);
        break;
    }
    case QF_DTYPE_F64: {
        const double *s = (const double *)t->data + offset;
        for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
        break;
    }
    default: memset(dst, 0, n * sizeof(float)); break;
    }
}

static qf_status begin_derived(qf_model *src, qf_model **out, qf_error *err)
{
    qf_model *dst = NULL;
    qf_status s = qf_model_check_in_memory(src, NULL, "a quantize or convert pass", err);
    if (!s) s = qf_model_create(&dst, err);
    if (s) return s;
    s = qf_model_keep(dst, qf_model_retain(src), (void (*)(void *))qf_model_destroy, err);
    /* a source hash still being computed is shared, not waited for: the writer reads it last */
    if (!s) s = qf_model_copy_meta(dst, src, err);
    const char *cfg = qf_model_config_json(src);
    if (!s && cfg) s = qf_model_set_config_json(dst, cfg, strlen(cfg), err);
    if (s) {
        qf_model_destroy(dst);
        return s;
    }
    *out = dst;
    return QF_STATUS_OK;
}

static qf_status carry_tensor(qf_model *dst, const qf_tensor *t, size_t *index, qf_error *err)
{
    return qf_model_add_tensor(dst, t->name, t->source_name, t->dtype, t->rank, t->shape, t->data, t->nbytes, index,
                               err);
}

/* Copies the quantization scheme of already-quantized source tensors (a .qf input). */
static qf_status carry_quant(qf_model *dst, size_t index, const qf_tensor *t, qf_error *err)
{
    if (t->quant.scheme == QF_QUANT_NONE) return QF_STATUS_OK;
    return qf_model_set_quant(dst, index, t->quant.scheme, t->quant.axis, t->quant.scale_name,
                              t->quant.zero_point_name, err);
}

/* max|x| over a whole tensor (finite values only), for per-tensor scales. */
static float tensor_max_abs(const qf_tensor *t, size_t rows, size_t cols, float *buf)
{
    float m = 0.0f;
    for (size_t r = 0; r < rows; r++) {
        const float *row = buf;
        if (t->dtype == QF_DTYPE_F32) row = (const float *)t->data + (uint64_t)r * cols;
        else load_row_f32(t, (uint64_t)r * cols, cols, buf);
        for (size_t c = 0; c < cols; c++) {
            float a = fabsf(row[c]);
            if (a > m && isfinite(a)) m = a;
        }
    }
    return m;
}

/* Worker threads for one tensor of model m: the budget (p->threads; 0: all cores), less one while
 * a metadata value of m is still being computed on a thread of its own (the source hash started by
 * qf_model_read), so that the two never ask for more CPUs than the budget (spinning OpenMP
 * barriers suffer most when they do). */
static int quantize_threads(const qf_model *m, const qf_quantize_params *p)
{
    int threads = p->threads > 0 ? p->threads : omp_get_max_threads();
    bool pending = false;
    for (size_t i = 0; threads > 1 && !pending && i < qf_model_meta_count(m); i++)
        qf_model_meta_peek(m, i, NULL, NULL, &pending);
    return pending ? threads - 1 : threads;
}

/* Quantizes the 2-D tensor t of model `model` into q (rows x cols) and scales (rows, or 1 per
 * tensor). f32 rows are read in place; other float dtypes go through a per-thread row buffer. */
static qf_status quantize_into(const qf_model *model, const qf_tensor *t, const qf_quantize_params *p, int8_t *q,
                               float *scales, qf_error *err)
{
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    bool in_place = t->dtype == QF_DTYPE_F32;
    if (p->per_tensor) {
        float *buf = in_place ? NULL : malloc(cols * sizeof(float));
        if (!in_place && !buf) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, t->name, "out of memory");
        float m = tensor_max_abs(t, rows, cols, buf);
        free(buf);
        scales[0] = m > 0.0f ? m / 127.0f : 1.0f;
    }
    int failed = 0;
    int threads = quantize_threads(model, p);
    /* rows are independent: any thread count gives the same bytes */
#pragma omp parallel num_threads(threads)
    {
        float *buf = in_place ? NULL : malloc(cols * sizeof(float));
        if (!in_place && !buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            if (!in_place && !buf) continue;
            const float *row = in_place ? (const float *)t->data + (uint64_t)r * cols : buf;
            if (!in_place) load_row_f32(t, (uint64_t)r * cols, cols, buf);
            float sc = p->per_tensor ? scales[0] : qf_quant_scale_sym_i8(row, cols);
            if (!p->per_tensor) scales[r] = sc;
            qf_quantize_row_sym_i8(row, cols, sc, q + r * cols);
        }
        free(buf);
    }
    if (failed) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, t->name, "out of memory");
    return QF_STATUS_OK;
}

/* Adds the int8 weight (data q) and its scale tensor (data scales) for source tensor t. */
static qf_status add_quantized(qf_model *dst, const qf_tensor *t, const qf_quantize_params *p, const void *q,
                               const void *scales, qf_error *err)
{
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    char scale_name[QF_MAX_NAME_LEN + 16];
    snprintf(scale_name, sizeof scale_name, "%s::scale", t->name);
    size_t wi, si;
    int64_t sshape[1] = {p->per_tensor ? 1 : (int64_t)rows};
    qf_status s =
        qf_model_add_tensor(dst, t->name, t->source_name, QF_DTYPE_I8, 2, t->shape, q, (uint64_t)rows * cols, &wi, err);
    if (!s)
        s = qf_model_add_tensor(dst, scale_name, NULL, QF_DTYPE_F32, 1, sshape, scales, (uint64_t)sshape[0] * 4, &si,
                                err);
    if (!s)
        s = qf_model_set_quant(dst, wi, p->per_tensor ? QF_QUANT_SYMMETRIC_PER_TENSOR : QF_QUANT_SYMMETRIC_PER_CHANNEL,
                               0, scale_name, NULL, err);
    return s;
}

static qf_status quantize_weight(qf_model *dst, const qf_tensor *t, const qf_quantize_params *p, qf_error *err)
{
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    int8_t *q = NULL;
    float *scales = NULL;
    qf_status s = qf_model_alloc(dst, (uint64_t)rows * cols, (void **)&q, err);
    if (!s) s = qf_model_alloc(dst, (uint64_t)(p->per_tensor ? 1 : rows) * sizeof(float), (void **)&scales, err);
    if (!s) s = quantize_into(dst, t, p, q, scales, err);
    if (!s) s = add_quantized(dst, t, p, q, scales, err);
    return s;
}

/*
 * The pass shared by the in-memory and the lazy entry points. With `deferred` NULL every
 * quantized weight is computed into model memory; otherwise quantized weights and their scales are
 * added as placeholders borrowing the source tensor's bytes, and deferred[k] records the source
 * tensor of the k-th quantized weight (the destination's producer computes them later).
 */
static qf_status quantize_pass(qf_model *src, const qf_quantize_params *p, size_t *deferred, qf_model **out,
                               qf_error *err)
{
    *out = NULL;
    /* a reader marks inputs that are already quantized (an ORT-quantized ONNX graph) */
    const char *already = qf_model_get_meta(src, "source.quantized");
    if (already) {
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, NULL, "input is already quantized, not re-quantized: %s",
                     already);
        qf_error_expected(err, "a floating-point model");
        return QF_STATUS_UNSUPPORTED;
    }
    qf_model *dst = NULL;
    qf_status s = begin_derived(src, &dst, err);
    if (s) return s;
    size_t quantized = 0;
    uint64_t total = qf_model_total_bytes(src), done = 0;
    for (size_t i = 0; !s && i < qf_model_tensor_count(src); i++) {
        const qf_tensor *t = qf_model_tensor(src, i);
        done += t->nbytes;
        if (should_quantize(t, p)) {
            if (deferred) {
                deferred[quantized] = i;
                s = add_quantized(dst, t, p, t->data, t->data, err);
            } else {
                s = quantize_weight(dst, t, p, err);
                qf_file_release_pages(t->data, t->nbytes);
                if (p->progress) p->progress(p->progress_ctx, (size_t)done, (size_t)total);
            }
            quantized++;
        } else {
            size_t index;
            s = carry_tensor(dst, t, &index, err);
            if (!s) s = carry_quant(dst, index, t, err);
        }
    }
    char count[32];
    snprintf(count, sizeof count, "%zu", quantized);
    if (!s) s = qf_model_set_meta(dst, "quant.mode", "dynamic", err);
    if (!s)
        s = qf_model_set_meta(dst, "quant.weights",
                              p->per_tensor ? "int8 symmetric per-tensor" : "int8 symmetric per-output-channel", err);
    if (!s)
        s = qf_model_set_meta(dst, "quant.activations", "uint8 asymmetric per-tensor at run time (DynamicQuantizeLinear)",
                              err);
    if (!s)
        s = qf_model_set_meta(dst, "quant.word_embeddings", p->quantize_word_embeddings ? "int8 per-row" : "fp32", err);
    if (!s) s = qf_model_set_meta(dst, "quant.quantized_tensors", count, err);
    if (s) {
        qf_model_destroy(dst);
        return s;
    }
    *out = dst;
    return QF_STATUS_OK;
}

qf_status qf_model_quantize_dynamic(qf_model *src, const qf_quantize_params *params, qf_model **out, qf_error *err)
{
    qf_quantize_params defaults = qf_quantize_params_default();
    return quantize_pass(src, params ? params : &defaults, NULL, out, err);
}

/* Producer context of qf_model_quantize_dynamic_lazy: the placeholder tensors of the destination
 * model (weight, then its scale right after it in the directory) and the source tensor each weight
 * comes from. `src` is borrowed: the destination keeps it alive (begin_derived's qf_model_keep),
 * and a model destroys its producer before it releases what it keeps. */
typedef struct lazy_ctx {
    qf_model *src;
    qf_quantize_params p;   /* a copy; p.progress_ctx is the caller's */
    size_t *deferred;       /* source index of the k-th quantized weight */
    size_t count;
    size_t *dst_weight;     /* dst index of the k-th quantized weight */
    float *scales;          /* scales of the weight produced last */
    size_t scales_cap;
    size_t last;            /* k of the weight produced last, SIZE_MAX before the first */
    uint64_t done, total;
} lazy_ctx;

static void lazy_destroy(void *ctx)
{
    lazy_ctx *c = ctx;
    if (!c) return;
    free(c->deferred);
    free(c->dst_weight);
    free(c->scales);
    free(c);
}

static size_t find_weight(const lazy_ctx *c, size_t index)
{
    size_t lo = 0, hi = c->count; /* dst_weight increases */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->dst_weight[mid] < index) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static bool lazy_produces(void *ctx, const qf_model *m, size_t index)
{
    const lazy_ctx *c = ctx;
    (void)m;
    size_t k = find_weight(c, index);
    return (k < c->count && c->dst_weight[k] == index) || (k > 0 && c->dst_weight[k - 1] + 1 == index);
}

static qf_status lazy_produce(void *ctx, const qf_model *m, size_t index, void *dst, uint64_t nbytes, qf_error *err)
{
    lazy_ctx *c = ctx;
    (void)m;
    size_t k = find_weight(c, index);
    if (k < c->count && c->dst_weight[k] == index) {
        const qf_tensor *t = qf_model_tensor(c->src, c->deferred[k]);
        size_t rows = (size_t)t->shape[0], need = c->p.per_tensor ? 1 : rows;
        if (need > c->scales_cap) {
            float *grown = realloc(c->scales, need * sizeof(float));
            if (!grown) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, t->name, "out of memory");
            c->scales = grown;
            c->scales_cap = need;
        }
        qf_status s = quantize_into(c->src, t, &c->p, dst, c->scales, err);
        if (s) return s;
        c->last = k;
        qf_file_release_pages(t->data, t->nbytes);
        if (k == 0) c->done = 0; /* a new pass over the model */
        c->done += t->nbytes;
        if (c->p.progress) c->p.progress(c->p.progress_ctx, (size_t)c->done, (size_t)c->total);
        return QF_STATUS_OK;
    }
    /* the scale tensor directly follows its weight, so its values are those just computed */
    if (k == 0 || c->dst_weight[k - 1] + 1 != index || c->last != k - 1)
        return qf_error_set(err, QF_STATUS_INTERNAL, NULL, NULL, -1, NULL, "scale tensor produced out of order");
    memcpy(dst, c->scales, (size_t)nbytes);
    return QF_STATUS_OK;
}

qf_status qf_model_quantize_dynamic_lazy(qf_model *src, const qf_quantize_params *params, qf_model **out,
                                         qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    *out = NULL;
    size_t n = qf_model_tensor_count(src);
    lazy_ctx *c = calloc(1, sizeof *c);
    if (c) {
        c->deferred = calloc(n ? n : 1, sizeof *c->deferred);
        c->dst_weight = calloc(n ? n : 1, sizeof *c->dst_weight);
    }
    if (!c || !c->deferred || !c->dst_weight) {
        lazy_destroy(c);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    c->src = src;
    c->p = params ? *params : qf_quantize_params_default();
    c->last = SIZE_MAX;
    c->total = qf_model_total_bytes(src);
    qf_model *dst = NULL;
    qf_status s = quantize_pass(src, &c->p, c->deferred, &dst, err);
    if (s) {
        lazy_destroy(c);
        return s;
    }
    for (size_t i = 0; i < qf_model_tensor_count(dst); i++) {
        const qf_tensor *t = qf_model_tensor(dst, i);
        if (t->quant.scheme == QF_QUANT_NONE || c->count >= n) continue;
        const qf_tensor *from = qf_model_tensor(src, c->deferred[c->count]);
        /* placeholders are exactly the quantized tensors whose source is the deferred one */
        if (strcmp(t->name, from->name) == 0 && t->data == from->data) c->dst_weight[c->count++] = i;
    }
    qf_tensor_producer producer = {lazy_produces, lazy_produce, c, lazy_destroy};
    s = qf_model_set_producer(dst, &producer, err);
    if (s) {
        qf_model_destroy(dst);
        return s;
    }
    *out = dst;
    return QF_STATUS_OK;
}

/* Names of tensors that serve as scale / zero point of a quantized tensor: never converted. */
static bool is_quant_parameter(const qf_model *m, const char *name)
{
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        if ((t->quant.scale_name && strcmp(t->quant.scale_name, name) == 0) ||
            (t->quant.zero_point_name && strcmp(t->quant.zero_point_name, name) == 0))
            return true;
    }
    return false;
}

static void store_row(qf_dtype dtype, const float *src, size_t n, void *dst)
{
    if (dtype == QF_DTYPE_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dtype == QF_DTYPE_F16) {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = qf_f32_to_f16(src[i]);
    } else {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = qf_f32_to_bf16(src[i]);
    }
}

qf_status qf_model_convert_dtype(qf_model *src, qf_dtype dtype, qf_model **out, qf_error *err)
{
    *out = NULL;
    if (dtype != QF_DTYPE_F32 && dtype != QF_DTYPE_F16 && dtype != QF_DTYPE_BF16)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "convert: target dtype must be f32, f16 or bf16, not %s", qf_dtype_name(dtype));
    qf_model *dst = NULL;
    qf_status s = begin_derived(src, &dst, err);
    if (s) return s;
    enum { CHUNK = 4096 };
    float buf[CHUNK];
    for (size_t i = 0; !s && i < qf_model_tensor_count(src); i++) {
        const qf_tensor *t = qf_model_tensor(src, i);
        size_t index;
        if (!float_input(t->dtype) || t->dtype == dtype || t->quant.scheme != QF_QUANT_NONE ||
            is_quant_parameter(src, t->name)) {
            s = carry_tensor(dst, t, &index, err);
            if (!s) s = carry_quant(dst, index, t, err);
            continue;
        }
        uint64_t numel = t->nbytes / qf_dtype_size(t->dtype), nbytes = numel * qf_dtype_size(dtype);
        void *data = NULL;
        s = qf_model_alloc(dst, nbytes, &data, err);
        for (uint64_t off = 0; !s && off < numel; off += CHUNK) {
            size_t n = numel - off < CHUNK ? (size_t)(numel - off) : CHUNK;
            load_row_f32(t, off, n, buf);
            store_row(dtype, buf, n, (uint8_t *)data + off * qf_dtype_size(dtype));
        }
        if (!s) s = qf_model_add_tensor(dst, t->name, t->source_name, dtype, t->rank, t->shape, data, nbytes, &index, err);
    }
    if (!s) s = qf_model_set_meta(dst, "convert.dtype", qf_dtype_name(dtype), err);
    if (s) {
        qf_model_destroy(dst);
        return s;
    }
    *out = dst;
    return QF_STATUS_OK;
}
