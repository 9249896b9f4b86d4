/*
 * runtime/encoder.c — the reference transformer encoder (BERT / RoBERTa / DistilBERT / ELECTRA,
 * post-norm) that verify runs on an FP32 model and on its int8 artifact. Input: a canonical model
 * (model/arch.c); output: logits, hidden states, mean-pooled embeddings.
 *
 * Each sequence of a batch is computed on its real (mask != 0) tokens only, gathered into one
 * [tokens, hidden] matrix: what ONNX Runtime computes for that sequence with batch 1 and no
 * padding. Padding tokens therefore need no attention mask (they are neither queries nor keys),
 * and in DYNAMIC_INT8 the activation range of every projection is that sequence's own range.
 * STATIC_INT8 quantizes the projection inputs with calibrated scales stored in the model
 * (int8 x int8 -> int32); an optional observer sees every projection input (calibration).
 *
 * Linear layers go through the GEMM kernels (oneDNN, or the scalar references); everything else
 * (embeddings, LayerNorm, attention scores / softmax / context, GELU, residuals, heads' activations)
 * is plain C shared by both kernel sets, reduced in a fixed order. Integer GEMMs are exact, so a
 * model whose linear layers are all int8 gives the same bits with either kernel set and any
 * thread count; a layer left FP32 (e.g. one below quantize's min_elements) differs between the
 * two kernel sets by FP32 GEMM rounding (~1e-7 relative), as the FP32 mode does.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/quantize.h"
#include "qforge/runtime.h"
#include "runtime/kernels.h"
#include "runtime/sentence_dense.h"

/* Element-wise loops smaller than this run on the calling thread: a parallel region costs more. */
#define QF_PAR_MIN 65536

typedef struct linear {
    int64_t n, k;
    bool int8;
    const float *w;     /* f32 [n, k] when !int8 */
    const int8_t *wq;   /* int8 [n, k] when int8 */
    const float *ws;    /* [n] per-output-channel scales when int8 */
    const float *bias;  /* [n] */
    qf_dnnl_gemm *dnnl; /* NULL with reference kernels */
    /* STATIC_INT8: the input is quantized with the fixed scale sx (after multiplying by smooth[k]
     * when non-NULL) instead of DynamicQuantizeLinear. */
    bool static_in;
    float sx;
    const float *smooth;
} linear;

typedef struct layer {
    linear q, k, v, out, up, down;
    const float *attn_g, *attn_b, *ffn_g, *ffn_b;
} layer;

struct qf_encoder {
    qf_model *model;
    qf_arch arch;
    qf_encoder_params p;
    int threads;
    int64_t max_length, max_batch;

    const float *word;      /* f32 [V, E], or NULL when word_q */
    const int8_t *word_q;   /* int8 [V, E] per-row */
    const float *word_s;    /* [V] */
    const float *pos, *type, *emb_g, *emb_b;
    linear project;
    /* RELATIVE_BUCKETS: the table [rows, heads], the bucket of every relative position
     * -(max_length - 1)..max_length - 1 (index + max_length - 1), and this sequence's bias of
     * every head [heads, L, L], built once per sequence for every layer */
    const float *rel_table;
    int32_t *rel_bucket;
    float *rel_bias;
    /* DISENTANGLED (DeBERTa): per stored layer, the relative-position embeddings (layer-normed)
     * through that layer's query and key projections, [2 * span, hidden] each, and the index
     * clamp(position(i - j) + span, 0, 2 * span - 1) of every query-minus-key distance
     * -(max_length - 1)..max_length - 1 (at distance + max_length - 1) */
    float **rel_pos_q, **rel_pos_k;
    int64_t *rel_lo, *rel_hi; /* per stored layer: the rows of pos_q / pos_k computed so far */
    int32_t *rel_index;
    layer *layers;
    linear head_dense, head_out; /* head_dense: the family's (BERT: the pooler) */

    qf_dnnl *dnnl;
    void **owned;
    size_t owned_count, owned_cap;

    /* workspace, sized at creation */
    float *emb, *x, *y, *q, *k, *kt, *v, *vh, *ctx, *ff, *scores, *row, *row2;
    uint8_t *xq;
    /* what xq holds after a dynamic quantization: the input it came from (NULL when xq holds
     * anything else) and that quantization's scale and zero point */
    const float *xq_of;
    int64_t xq_count;
    float xq_scale;
    uint8_t xq_zero;
    int8_t *xs;    /* static int8 activations */
    float *srow;   /* one smoothed row */
    int32_t *acc;
    int64_t *tok; /* positions of the real tokens of the current sequence */
    float *out_logits, *out_hidden, *out_pooled, *out_layers;
    float *out_token_logits; /* [max_batch, max_length, num_labels]: token classification, QA */
    qf_sentence_dense *sentence_dense; /* the pipeline's Dense modules, NULL when none / not run */
};

qf_encoder_params qf_encoder_params_default(void)
{
    qf_encoder_params p;
    memset(&p, 0, sizeof p);
    p.threads = 0;
    p.mode = QF_ENCODER_MODE_FP32;
    p.reference_kernels = false;
    p.max_batch = 32;
    p.max_length = 512;
    p.keep_layer_outputs = false;
    p.quantize_weights = false;
    return p;
}

const qf_arch *qf_encoder_arch(const qf_encoder *e) { return &e->arch; }

const char *qf_encoder_site_name(qf_encoder_site s)
{
    static const char *names[] = {"attn.qkv", "attn.out", "ffn.up", "ffn.down"};
    return (unsigned)s < QF_ENCODER_SITE_COUNT_ ? names[s] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* Owned buffers                                                                               */

static void *own_buffer(qf_encoder *e, uint64_t nbytes, bool zero, qf_error *err)
{
    uint64_t size;
    if (!qf_align_up_u64(nbytes ? nbytes : 1, 64, &size) || size > QF_ENCODER_MAX_WORKSPACE || size > SIZE_MAX) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL, "encoder buffer of %llu bytes exceeds the limit",
                     (unsigned long long)nbytes);
        qf_error_expected(err, "<= %llu bytes", (unsigned long long)QF_ENCODER_MAX_WORKSPACE);
        qf_error_found(err, "%llu bytes", (unsigned long long)nbytes);
        return NULL;
    }
    if (e->owned_count == e->owned_cap) {
        size_t cap = e->owned_cap ? e->owned_cap * 2 : 64;
        void **p = realloc(e->owned, cap * sizeof *p);
        if (!p) {
            qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
            return NULL;
        }
        e->owned = p;
        e->owned_cap = cap;
    }
    void *buf = aligned_alloc(64, (size_t)size);
    if (!buf) {
        qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory (%llu bytes)", (unsigned long long)size);
        return NULL;
    }
    if (zero) memset(buf, 0, (size_t)size);
    e->owned[e->owned_count++] = buf;
    return buf;
}

/* An owned buffer of nbytes, zeroed. */
static void *own(qf_encoder *e, uint64_t nbytes, qf_error *err) { return own_buffer(e, nbytes, true, err); }

/* Bytes for `count` elements of `elem` bytes, checked. */
static bool nbytes_of(uint64_t count, uint64_t elem, uint64_t *out) { return qf_mul_u64(count, elem, out); }

/* ------------------------------------------------------------------------------------------ */
/* Weights                                                                                     */

static uint64_t numel(const qf_tensor *t) { return t->nbytes / qf_dtype_size(t->dtype); }

static void load_f32(const qf_tensor *t, uint64_t n, float *dst)
{
    switch (t->dtype) {
    case QF_DTYPE_F32: memcpy(dst, t->data, n * sizeof(float)); break;
    case QF_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = qf_f16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    case QF_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) dst[i] = qf_bf16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    case QF_DTYPE_F64:
        for (uint64_t i = 0; i < n; i++) dst[i] = (float)((const double *)t->data)[i];
        break;
    default: memset(dst, 0, n * sizeof(float)); break;
    }
}

/* Scales of an int8 tensor expanded to one per row (owned when the scheme is per tensor). */
static const float *row_scales(qf_encoder *e, const qf_tensor *t, qf_error *err)
{
    const qf_tensor *sc = qf_model_find(e->model, t->quant.scale_name, NULL);
    if (!sc) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, t->quant.scale_name, "scale tensor '%s' of '%s' is missing",
                     t->quant.scale_name, t->name);
        return NULL;
    }
    int64_t rows = t->shape[0];
    if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && ((uintptr_t)sc->data % sizeof(float)) == 0)
        return sc->data;
    float *s = own(e, (uint64_t)rows * sizeof(float), err);
    if (!s) return NULL;
    if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL) memcpy(s, sc->data, (size_t)rows * sizeof(float));
    else {
        float v;
        memcpy(&v, sc->data, sizeof v);
        for (int64_t r = 0; r < rows; r++) s[r] = v;
    }
    return s;
}

/* f32 view of a tensor: borrowed when it is f32 and aligned, else converted (owned). int8 tensors
 * are dequantized (q * scale per row). */
static const float *tensor_f32(qf_encoder *e, const char *name, qf_error *err)
{
    const qf_tensor *t = qf_model_find(e->model, name, NULL);
    if (!t) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, name, "model lacks tensor '%s'", name);
        return NULL;
    }
    uint64_t n = numel(t), bytes;
    if (t->dtype == QF_DTYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) return t->data;
    if (!nbytes_of(n, sizeof(float), &bytes)) {
        qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, name, "size of '%s' overflows", name);
        return NULL;
    }
    float *dst = own(e, bytes, err);
    if (!dst) return NULL;
    if (t->dtype == QF_DTYPE_I8) {
        const float *s = row_scales(e, t, err);
        if (!s) return NULL;
        int64_t rows = t->shape[0], cols = t->rank == 2 ? t->shape[1] : 1;
        for (int64_t r = 0; r < rows; r++)
            qf_dequantize_row_sym_i8_ref((const int8_t *)t->data + r * cols, (size_t)cols, s[r], dst + r * cols);
        return dst;
    }
    load_f32(t, n, dst);
    return dst;
}

/* STATIC_INT8: the calibrated input scale "<stem>.input::scale" (and optional smoothing vector)
 * of a projection; a projection without one runs in FP32. */
static qf_status prepare_static_input(qf_encoder *e, const char *stem, linear *l, qf_error *err)
{
    char name[160];
    snprintf(name, sizeof name, "%s.input::scale", stem);
    const qf_tensor *sc = qf_model_find(e->model, name, NULL);
    if (!sc) return QF_STATUS_OK;
    float v = 0.0f;
    if (sc->dtype == QF_DTYPE_F32 && sc->nbytes == sizeof(float)) memcpy(&v, sc->data, sizeof v);
    if (!(v > 0.0f) || !isfinite(v)) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "activation scale '%s' is not one finite f32 > 0",
                     name);
        qf_error_expected(err, "f32, 1 element, finite, > 0");
        qf_error_found(err, "%s, %llu bytes", qf_dtype_name(sc->dtype), (unsigned long long)sc->nbytes);
        return QF_STATUS_SHAPE;
    }
    l->static_in = true;
    l->sx = v;
    snprintf(name, sizeof name, "%s.input::smooth", stem);
    const qf_tensor *sm = qf_model_find(e->model, name, NULL);
    if (!sm) return QF_STATUS_OK;
    if (sm->dtype != QF_DTYPE_F32 || sm->rank != 1 || sm->shape[0] != l->k) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "smoothing vector '%s' has the wrong shape", name);
        qf_error_expected(err, "f32 [%lld]", (long long)l->k);
        qf_error_found(err, "%s rank %d", qf_dtype_name(sm->dtype), (int)sm->rank);
        return QF_STATUS_SHAPE;
    }
    l->smooth = tensor_f32(e, name, err);
    return l->smooth ? QF_STATUS_OK : (err ? err->code : QF_STATUS_NOT_FOUND);
}

static qf_status prepare_linear(qf_encoder *e, const char *stem, bool may_int8, linear *l, qf_error *err)
{
    char wname[128], bname[128];
    snprintf(wname, sizeof wname, "%s.weight", stem);
    snprintf(bname, sizeof bname, "%s.bias", stem);
    const qf_tensor *w = qf_model_find(e->model, wname, NULL);
    if (!w || w->rank != 2)
        return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, wname, "model lacks 2-D tensor '%s'", wname);
    l->n = w->shape[0];
    l->k = w->shape[1];
    l->bias = tensor_f32(e, bname, err);
    if (!l->bias) return err ? err->code : QF_STATUS_NOT_FOUND;
    bool int8_mode = e->p.mode == QF_ENCODER_MODE_DYNAMIC_INT8 && may_int8;
    if (e->p.mode == QF_ENCODER_MODE_STATIC_INT8 && may_int8 && w->dtype == QF_DTYPE_I8) {
        qf_status s = prepare_static_input(e, stem, l, err);
        if (s) return s;
        int8_mode = l->static_in;
    }
    if (int8_mode && w->dtype == QF_DTYPE_I8) {
        l->int8 = true;
        l->wq = w->data;
        l->ws = row_scales(e, w, err);
        if (!l->ws) return err ? err->code : QF_STATUS_NOT_FOUND;
    } else if (int8_mode && e->p.quantize_weights) {
        const float *wf = tensor_f32(e, wname, err);
        if (!wf) return err ? err->code : QF_STATUS_NOT_FOUND;
        int8_t *q = own(e, (uint64_t)l->n * (uint64_t)l->k, err);
        float *s = own(e, (uint64_t)l->n * sizeof(float), err);
        if (!q || !s) return err ? err->code : QF_STATUS_NO_MEMORY;
        for (int64_t r = 0; r < l->n; r++) {
            s[r] = qf_quant_scale_sym_i8_ref(wf + r * l->k, (size_t)l->k);
            qf_quantize_row_sym_i8_ref(wf + r * l->k, (size_t)l->k, s[r], q + r * l->k);
        }
        l->int8 = true;
        l->wq = q;
        l->ws = s;
    } else {
        l->w = tensor_f32(e, wname, err);
        if (!l->w) return err ? err->code : QF_STATUS_NOT_FOUND;
    }
    if (l->int8 && l->k > QF_ENCODER_MAX_INT8_K) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, wname, "int8 GEMM inner dimension %lld exceeds the limit",
                     (long long)l->k);
        qf_error_expected(err, "<= %d", QF_ENCODER_MAX_INT8_K);
        qf_error_found(err, "%lld", (long long)l->k);
        return QF_STATUS_LIMIT;
    }
    if (!e->p.reference_kernels) {
        qf_status s = qf_dnnl_gemm_create(e->dnnl, l->int8, l->int8 ? (const void *)l->wq : (const void *)l->w, l->n,
                                          l->k, e->max_length, &l->dnnl, err);
        if (s) return s;
    }
    return QF_STATUS_OK;
}

static void linear_release(linear *l) { qf_dnnl_gemm_destroy(l->dnnl); }

/* ------------------------------------------------------------------------------------------ */
/* Numerics shared by both kernel sets                                                         */

/* y[m, n] = x[m, k] w^T + bias; int8 layers quantize x as DynamicQuantizeLinear over all m*k values.
 * same_input: x is unchanged since the previous call (Q, K and V of one layer), so a dynamic
 * quantization of it still in xq is used again: the same values, scale and zero point. */
static qf_status linear_apply_to(qf_encoder *e, const linear *l, const float *x, int64_t m, bool same_input, float *y,
                                 qf_error *err)
{
    const int64_t n = l->n;
    qf_status s = QF_STATUS_OK;
    if (!l->int8) {
        if (l->dnnl) s = qf_dnnl_gemm_f32(l->dnnl, x, m, y, err);
        else qf_gemm_f32_ref(x, l->w, m, n, l->k, y);
        if (s) return s;
#pragma omp parallel for schedule(static) if (m * n >= QF_PAR_MIN)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) y[i * n + j] += l->bias[j];
        return QF_STATUS_OK;
    }
    float sx;
    uint8_t zx;
    if (l->static_in) {
        const int64_t k = l->k;
        e->xq_of = NULL; /* xq is about to hold other values */
        sx = l->sx;
        for (int64_t i = 0; i < m; i++) {
            const float *xr = x + i * k;
            if (l->smooth) {
                for (int64_t t = 0; t < k; t++) e->srow[t] = xr[t] * l->smooth[t];
                xr = e->srow;
            }
            qf_quantize_row_s8_ref(xr, (size_t)k, sx, e->xs + i * k);
        }
        zx = 128;
        if (l->dnnl) {
            /* u = q + 128 (flipping the sign bit), then MatMulInteger with zero point 128: exact */
            for (int64_t i = 0; i < m * k; i++) e->xq[i] = (uint8_t)((uint8_t)e->xs[i] ^ 0x80u);
        } else {
            qf_gemm_s8s8s32_ref(e->xs, l->wq, m, n, k, e->acc);
        }
    } else if (same_input && e->xq_of == x && e->xq_count == m * l->k) {
        sx = e->xq_scale;
        zx = e->xq_zero;
    } else {
        qf_dynamic_quantize_u8(x, (size_t)(m * l->k), e->xq, &sx, &zx);
        e->xq_of = x;
        e->xq_count = m * l->k;
        e->xq_scale = sx;
        e->xq_zero = zx;
    }
    /* On AMX the epilogue runs on each tile as it leaves the GEMM. */
    if (l->dnnl && qf_dnnl_gemm_uses_amx(l->dnnl))
        return qf_dnnl_gemm_u8s8_dequantize(l->dnnl, e->xq, m, zx, sx, l->ws, l->bias, y, err);
    /* With oneDNN the GEMM gives the raw x.w and the epilogue removes zx * sum_k w, in one pass. */
    const int32_t *colsum = NULL;
    if (l->dnnl) {
        s = qf_dnnl_gemm_u8s8s32_raw(l->dnnl, e->xq, m, e->acc, err);
        colsum = qf_dnnl_gemm_colsum(l->dnnl);
    } else if (!l->static_in) {
        qf_gemm_u8s8s32_ref(e->xq, zx, l->wq, m, n, l->k, e->acc);
    }
    if (s) return s;
    const int32_t *acc = e->acc;
#pragma omp parallel for schedule(static) if (m * n >= QF_PAR_MIN)
    for (int64_t i = 0; i < m; i++) qf_dequantize_bias_row(acc + i * n, n, zx, colsum, sx, l->ws, l->bias, y + i * n);
    return QF_STATUS_OK;
}

static qf_status linear_apply(qf_encoder *e, const linear *l, const float *x, int64_t m, float *y, qf_error *err)
{
    return linear_apply_to(e, l, x, m, false, y, err);
}

/* x[m, d] = LayerNorm(x + r) (r may be NULL); statistics in double (qf_layer_norm_row_ref). */
static void add_layer_norm(float *x, const float *r, int64_t m, int64_t d, const float *g, const float *b, float eps)
{
#pragma omp parallel for schedule(static) if (m * d >= QF_PAR_MIN)
    for (int64_t i = 0; i < m; i++) qf_layer_norm_row(x + i * d, r ? r + i * d : NULL, d, g, b, eps);
}

static float activate(qf_arch_activation a, float v)
{
    switch (a) {
    case QF_ARCH_ACTIVATION_GELU: qf_gelu_row_ref(&v, 1); return v;
    case QF_ARCH_ACTIVATION_GELU_TANH: {
        float c = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        return 0.5f * v * (1.0f + tanhf(c));
    }
    case QF_ARCH_ACTIVATION_RELU: return v > 0.0f ? v : 0.0f;
    case QF_ARCH_ACTIVATION_TANH: return tanhf(v);
    default: return v;
    }
}

static void activate_all(qf_arch_activation a, float *x, int64_t count)
{
    if (a == QF_ARCH_ACTIVATION_GELU) {
        const int64_t block = 4096; /* element-wise: the split does not change any bit */
#pragma omp parallel for schedule(static) if (count >= QF_PAR_MIN)
        for (int64_t i = 0; i < count; i += block) qf_gelu_row(x + i, count - i < block ? count - i : block);
        return;
    }
#pragma omp parallel for schedule(static) if (count >= QF_PAR_MIN)
    for (int64_t i = 0; i < count; i++) x[i] = activate(a, x[i]);
}

/* Multi-head self-attention over the L real tokens of one sequence: ctx = softmax(q k^T / sqrt d) v.
 * k is transposed once into kt [H, L] so that each score row is a run of independent dots; v is
 * copied head by head into vh [nh, L, d], so that a head's values are one contiguous stretch (in
 * v, rows H floats apart fell into a sixteenth of L1's sets and evicted each other); query rows go
 * to the kernel QF_ATTENTION_ROWS at a time, which keeps a head's keys and values in L1 while they
 * pass over them. */
#define QF_ATTENTION_ROWS 32
static void attention(qf_encoder *e, int64_t L)
{
    const int64_t H = e->arch.hidden_size, nh = e->arch.num_heads, d = H / nh;
    const float *bias = e->rel_bias; /* [nh, L, L] or NULL */
    /* DeBERTa divides by sqrt(d * factor); the factor is 1 for every other family */
    const float scale = 1.0f / sqrtf((float)d * (float)e->arch.score_scale_factor);
    const float *q = e->q, *k = e->k, *v = e->v;
    float *ctx = e->ctx, *kt = e->kt, *vh = e->vh;
    /* in 16 x 16 tiles, which keep both sides of the transpose in L1 */
    for (int64_t j0 = 0; j0 < L; j0 += 16) {
        const int64_t j1 = j0 + 16 < L ? j0 + 16 : L;
        for (int64_t c0 = 0; c0 < H; c0 += 16) {
            const int64_t c1 = c0 + 16 < H ? c0 + 16 : H;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t c = c0; c < c1; c++) kt[c * L + j] = k[j * H + c];
        }
    }
    for (int64_t j = 0; j < L; j++)
        for (int64_t h = 0; h < nh; h++) memcpy(vh + (h * L + j) * d, v + j * H + h * d, (size_t)d * sizeof(float));
    const int64_t blocks = (L + QF_ATTENTION_ROWS - 1) / QF_ATTENTION_ROWS;
#pragma omp parallel for collapse(2) schedule(static) if (nh * L * L * d >= QF_PAR_MIN)
    for (int64_t h = 0; h < nh; h++) {
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i = b * QF_ATTENTION_ROWS, rows = L - i < QF_ATTENTION_ROWS ? L - i : QF_ATTENTION_ROWS;
            float *sc = e->scores + (int64_t)omp_get_thread_num() * QF_ATTENTION_ROWS * e->max_length;
            qf_attention_rows(q + i * H + h * d, H, rows, kt + h * d * L, L, vh + h * L * d, d, L, d, scale,
                              bias ? bias + (h * L + i) * L : NULL, L, sc, ctx + i * H + h * d, H);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Create / destroy                                                                            */

void qf_encoder_destroy(qf_encoder *e)
{
    if (!e) return;
    qf_sentence_dense_free(e->sentence_dense);
    linear_release(&e->project);
    if (e->layers) {
        for (int64_t l = 0; l < e->arch.weight_layers; l++) {
            layer *ly = &e->layers[l];
            linear_release(&ly->q);
            linear_release(&ly->k);
            linear_release(&ly->v);
            linear_release(&ly->out);
            linear_release(&ly->up);
            linear_release(&ly->down);
        }
    }
    linear_release(&e->head_dense);
    linear_release(&e->head_out);
    qf_dnnl_destroy(e->dnnl);
    for (size_t i = 0; i < e->owned_count; i++) free(e->owned[i]);
    free(e->owned);
    qf_model_destroy(e->model);
    free(e);
}

static qf_status check_params(const qf_encoder_params *p, qf_error *err)
{
    if ((unsigned)p->mode >= QF_ENCODER_MODE_COUNT_)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "mode", "unknown encoder mode %d", (int)p->mode);
    if (p->max_batch < 1 || p->max_batch > QF_ENCODER_MAX_BATCH) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_batch", "max_batch %lld out of range",
                     (long long)p->max_batch);
        qf_error_expected(err, "1..%d", QF_ENCODER_MAX_BATCH);
        qf_error_found(err, "%lld", (long long)p->max_batch);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    if (p->max_length < 1 || p->max_length > QF_ENCODER_MAX_LENGTH) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_length", "max_length %lld out of range",
                     (long long)p->max_length);
        qf_error_expected(err, "1..%d", QF_ENCODER_MAX_LENGTH);
        qf_error_found(err, "%lld", (long long)p->max_length);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    if (p->threads < 0)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "threads", "threads must be >= 0");
    return QF_STATUS_OK;
}

/* Allocates one workspace buffer of count elements of elem bytes. */
static void *ws(qf_encoder *e, uint64_t count, uint64_t elem, qf_error *err)
{
    uint64_t bytes;
    if (!nbytes_of(count, elem, &bytes)) {
        qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "encoder workspace size overflows");
        return NULL;
    }
    return own(e, bytes, err);
}

/* Token classification and question answering apply head.out to every token. */
static bool per_token_head(const qf_arch *a)
{
    return a->head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION || a->head == QF_ARCH_HEAD_QUESTION_ANSWERING;
}

static qf_status alloc_workspace(qf_encoder *e, qf_error *err)
{
    const uint64_t L = (uint64_t)e->max_length, B = (uint64_t)e->max_batch;
    const uint64_t H = (uint64_t)e->arch.hidden_size, I = (uint64_t)e->arch.intermediate_size,
                   E = (uint64_t)e->arch.embedding_size, C = (uint64_t)(e->arch.num_labels ? e->arch.num_labels : 1);
    uint64_t widest = H > I ? H : I;
    if (E > widest) widest = E;
    if (C > widest) widest = C;
    uint64_t LW, BH, BLH, layers_n = 0;
    if (!qf_mul_u64(L, widest, &LW) || !qf_mul_u64(B, H, &BH) || !qf_mul_u64(BH, L, &BLH))
        return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "encoder workspace size overflows");
    if (e->p.keep_layer_outputs && !qf_mul_u64(BLH, (uint64_t)e->arch.num_layers + 1, &layers_n))
        return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "encoder workspace size overflows");
    if (!(e->emb = ws(e, L, E * 4, err)) || !(e->x = ws(e, L, H * 4, err)) || !(e->y = ws(e, LW, 4, err)) ||
        !(e->q = ws(e, L, H * 4, err)) || !(e->k = ws(e, L, H * 4, err)) ||
        !(e->kt = ws(e, L, H * 4, err)) || !(e->v = ws(e, L, H * 4, err)) || !(e->vh = ws(e, L, H * 4, err)) ||
        !(e->ctx = ws(e, L, H * 4, err)) || !(e->ff = ws(e, L, I * 4, err)) ||
        !(e->scores = ws(e, (uint64_t)e->threads * QF_ATTENTION_ROWS, L * 4, err)) || !(e->row = ws(e, widest, 4, err)) ||
        !(e->row2 = ws(e, widest, 4, err)) || !(e->xq = ws(e, LW, 1, err)) ||
        !(e->xs = ws(e, LW, 1, err)) || !(e->srow = ws(e, widest, 4, err)) || !(e->acc = ws(e, LW, 4, err)) ||
        !(e->tok = ws(e, L, 8, err)) || !(e->out_logits = ws(e, B, C * 4, err)) ||
        !(e->out_hidden = ws(e, BLH, 4, err)) || !(e->out_pooled = ws(e, BH, 4, err)))
        return err ? err->code : QF_STATUS_NO_MEMORY;
    if (e->p.keep_layer_outputs && !(e->out_layers = ws(e, layers_n, 4, err))) return err ? err->code : QF_STATUS_NO_MEMORY;
    uint64_t LL, HLL;
    if ((e->rel_table || e->rel_pos_q) && (!qf_mul_u64(L, L, &LL) || !qf_mul_u64(LL, (uint64_t)e->arch.num_heads, &HLL) ||
                         !(e->rel_bias = ws(e, HLL, 4, err))))
        return err && err->code ? err->code : qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "encoder workspace size overflows");
    uint64_t BL;
    if (per_token_head(&e->arch) && (!qf_mul_u64(B, L, &BL) || !(e->out_token_logits = ws(e, BL, C * 4, err))))
        return err && err->code ? err->code : qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "encoder workspace size overflows");
    return QF_STATUS_OK;
}

/* DISENTANGLED: every stored layer's pos_q and pos_k (qf_arch_relative_projection, the constants
 * the ONNX export writes too) and the index table of query-minus-key distances. */
static qf_status prepare_disentangled(qf_encoder *e, qf_error *err)
{
    const qf_arch *a = &e->arch;
    const int64_t H = a->hidden_size, rows = 2 * a->relative_span;
    uint64_t n;
    if (!qf_mul_u64((uint64_t)rows, (uint64_t)H * sizeof(float), &n))
        return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "relative-position table size overflows");
    const uint64_t per_layer = (uint64_t)a->weight_layers * sizeof(int64_t);
    e->rel_pos_q = own(e, (uint64_t)a->weight_layers * sizeof(float *), err);
    e->rel_pos_k = own(e, (uint64_t)a->weight_layers * sizeof(float *), err);
    e->rel_lo = own(e, per_layer, err);
    e->rel_hi = own(e, per_layer, err);
    if (!e->rel_pos_q || !e->rel_pos_k || !e->rel_lo || !e->rel_hi) return err ? err->code : QF_STATUS_NO_MEMORY;
    /* filled as sequences reach their rows (relative_rows): a short request computes a few rows
     * per layer, not all 2 * span (DeBERTa-v3-base: 512 rows x 24 projections, about two
     * seconds); left unwritten until then, so that the pages a request never reaches are never
     * touched */
    for (int64_t l = 0; l < a->weight_layers; l++) {
        if (!(e->rel_pos_q[l] = own_buffer(e, n, false, err)) || !(e->rel_pos_k[l] = own_buffer(e, n, false, err)))
            return err ? err->code : QF_STATUS_NO_MEMORY;
        e->rel_lo[l] = e->rel_hi[l] = 0;
    }
    const int64_t distances = 2 * e->max_length - 1;
    if (!(e->rel_index = own(e, (uint64_t)distances * sizeof(int32_t), err))) return err ? err->code : QF_STATUS_NO_MEMORY;
    for (int64_t r = 0; r < distances; r++) {
        e->rel_index[r] = (int32_t)qf_arch_disentangled_index(a, r - (e->max_length - 1));
    }
    return QF_STATUS_OK;
}

static qf_status prepare(qf_encoder *e, qf_error *err)
{
    const qf_arch *a = &e->arch;
    qf_status s;
    const qf_tensor *word = qf_model_find(e->model, QF_SLOT_WORD_EMBEDDING ".weight", NULL);
    if (word && word->dtype == QF_DTYPE_I8) {
        e->word_q = word->data;
        if (!(e->word_s = row_scales(e, word, err))) return err ? err->code : QF_STATUS_NOT_FOUND;
    } else if (!(e->word = tensor_f32(e, QF_SLOT_WORD_EMBEDDING ".weight", err))) {
        return err ? err->code : QF_STATUS_NOT_FOUND;
    }
    if (a->absolute_positions && !(e->pos = tensor_f32(e, "embeddings.position.weight", err)))
        return err ? err->code : QF_STATUS_NOT_FOUND;
    if (a->type_vocab_size > 0 && !(e->type = tensor_f32(e, "embeddings.token_type.weight", err)))
        return err ? err->code : QF_STATUS_NOT_FOUND;
    if (!(e->emb_g = tensor_f32(e, "embeddings.norm.weight", err)) || !(e->emb_b = tensor_f32(e, "embeddings.norm.bias", err)))
        return err ? err->code : QF_STATUS_NOT_FOUND;
    if (a->has_project && (s = prepare_linear(e, QF_SLOT_EMBEDDING_PROJECTION, true, &e->project, err))) return s;
    if (a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS) {
        if (!(e->rel_table = tensor_f32(e, QF_SLOT_RELATIVE_BIAS ".weight", err))) return err ? err->code : QF_STATUS_NOT_FOUND;
        const int64_t span = 2 * e->max_length - 1;
        if (!(e->rel_bucket = own(e, (uint64_t)span * sizeof(int32_t), err))) return err ? err->code : QF_STATUS_NO_MEMORY;
        for (int64_t r = 0; r < span; r++) {
            /* in 0..relative_buckets - 1, and qf_arch_map checked the table has at least that many rows */
            e->rel_bucket[r] = (int32_t)qf_arch_relative_bucket(a, r - (e->max_length - 1));
        }
    }
    /* one entry per stored layer of weights: layers sharing weights (ALBERT) share the entry */
    e->layers = own(e, (uint64_t)a->weight_layers * sizeof(layer), err);
    if (!e->layers) return err ? err->code : QF_STATUS_NO_MEMORY;
    for (int64_t l = 0; l < a->weight_layers; l++) {
        layer *ly = &e->layers[l];
        char stem[64];
        linear *const lin[QF_LAYER_PROJECTIONS] = {&ly->q, &ly->k, &ly->v, &ly->out, &ly->up, &ly->down};
        for (int j = 0; j < QF_LAYER_PROJECTIONS; j++) {
            qf_layer_slot_stem(l, (qf_layer_slot)j, stem, sizeof stem);
            if ((s = prepare_linear(e, stem, true, lin[j], err))) return s;
        }
        struct {
            qf_layer_slot slot;
            const char *leaf;
            const float **dst;
        } norms[] = {{QF_LAYER_ATTN_NORM, "weight", &ly->attn_g}, {QF_LAYER_ATTN_NORM, "bias", &ly->attn_b},
                     {QF_LAYER_FFN_NORM, "weight", &ly->ffn_g},   {QF_LAYER_FFN_NORM, "bias", &ly->ffn_b}};
        for (size_t j = 0; j < 4; j++) {
            snprintf(stem, sizeof stem, "layers.%lld.%s.%s", (long long)l, qf_layer_slot_name(norms[j].slot), norms[j].leaf);
            if (!(*norms[j].dst = tensor_f32(e, stem, err))) return err ? err->code : QF_STATUS_NOT_FOUND;
        }
    }
    if (a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && a->relative_attention &&
        (s = prepare_disentangled(e, err)))
        return s;
    if (a->head == QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION &&
        (s = prepare_linear(e, a->desc->head_dense, true, &e->head_dense, err)))
        return s;
    if (a->head != QF_ARCH_HEAD_NONE && (s = prepare_linear(e, QF_SLOT_HEAD_OUT, true, &e->head_out, err))) return s;
    return QF_STATUS_OK;
}

qf_status qf_encoder_create(qf_model *m, const qf_encoder_params *params, qf_encoder **out, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_encoder_create: out is NULL");
    *out = NULL;
    if (!m) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_encoder_create: model is NULL");
    qf_encoder_params defaults = qf_encoder_params_default();
    const qf_encoder_params *p = params ? params : &defaults;
    qf_status s = check_params(p, err);
    if (s) return s;
    qf_encoder *e = calloc(1, sizeof *e);
    if (!e) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    e->model = qf_model_retain(m);
    e->p = *p;
    const int saved_threads = omp_get_max_threads();
    e->threads = p->threads > 0 ? p->threads : saved_threads;
    if ((s = qf_arch_of(m, &e->arch, err))) goto fail;
    /* Longest sequence the position table allows (RoBERTa positions start at padding_idx + 1). */
    int64_t cap = qf_arch_max_tokens(&e->arch);
    if (cap < 1) {
        s = qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, "embeddings.position.weight",
                         "position table of %lld rows leaves no position for padding_idx %lld",
                         (long long)e->arch.max_positions, (long long)e->arch.position_padding_idx);
        goto fail;
    }
    e->max_length = p->max_length < cap ? p->max_length : cap;
    e->max_batch = p->max_batch;
    /* oneDNN's set-up (weight reorders) and the column sums run on OpenMP's current thread count:
     * hold it to the encoder's, as qf_encoder_run does, so that --threads 1 never starts a team */
    omp_set_num_threads(e->threads);
    if (!p->reference_kernels && (s = qf_dnnl_create(&e->dnnl, err))) goto fail;
    if ((s = prepare(e, err))) goto fail;
    if ((s = alloc_workspace(e, err))) goto fail;
    if (!p->no_sentence_dense && (s = qf_sentence_dense_load(m, e->arch.hidden_size, &e->sentence_dense, err)))
        goto fail;
    omp_set_num_threads(saved_threads);
    *out = e;
    return QF_STATUS_OK;
fail:
    omp_set_num_threads(saved_threads);
    qf_encoder_destroy(e);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Run                                                                                         */

static qf_status bad_input(qf_error *err, const char *what, int64_t b, int64_t t, const char *fmt_expected,
                           int64_t limit, int64_t found)
{
    char obj[64];
    snprintf(obj, sizeof obj, "%s[%lld][%lld]", what, (long long)b, (long long)t);
    qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, obj, "%s = %lld is outside its table", obj,
                 (long long)found);
    qf_error_expected(err, fmt_expected, (long long)limit);
    qf_error_found(err, "%lld", (long long)found);
    return QF_STATUS_INVALID_ARGUMENT;
}

/* Gathers the real tokens of sequence b, checks them and writes their embeddings into e->emb. */
static qf_status embed(qf_encoder *e, const qf_encoder_batch *in, int64_t b, int64_t *L_out, qf_error *err)
{
    const qf_arch *a = &e->arch;
    const int64_t T = in->length, E = a->embedding_size;
    const int32_t *ids = in->input_ids + b * T;
    const int32_t *mask = in->attention_mask ? in->attention_mask + b * T : NULL;
    const int32_t *types = in->token_type_ids ? in->token_type_ids + b * T : NULL;
    int64_t L = 0, nonpad = 0;
    for (int64_t t = 0; t < T; t++) {
        int64_t id = ids[t];
        bool real = !mask || mask[t] != 0;
        int64_t pos = t;
        if (a->position_padding_idx >= 0) {
            /* ids equal to the padding index count as padding, as in transformers (MPNet's index
             * is 1 whatever pad_token_id says) */
            if (id != a->position_padding_idx) nonpad++;
            pos = id != a->position_padding_idx ? a->position_padding_idx + nonpad : a->position_padding_idx;
        }
        if (!real) continue;
        if (id < 0 || id >= a->vocab_size) return bad_input(err, "input_ids", b, t, "0..%lld", a->vocab_size - 1, id);
        int64_t tt = types ? types[t] : 0;
        if (a->type_vocab_size > 0 && (tt < 0 || tt >= a->type_vocab_size))
            return bad_input(err, "token_type_ids", b, t, "0..%lld", a->type_vocab_size - 1, tt);
        if (pos >= a->max_positions) return bad_input(err, "position_ids", b, t, "0..%lld", a->max_positions - 1, pos);
        float *row = e->emb + L * E;
        if (e->word) memcpy(row, e->word + id * E, (size_t)E * sizeof(float));
        else qf_dequantize_row_sym_i8_ref(e->word_q + id * E, (size_t)E, e->word_s[id], row);
        if (a->type_vocab_size > 0)
            for (int64_t j = 0; j < E; j++) row[j] += e->type[tt * E + j];
        if (e->pos)
            for (int64_t j = 0; j < E; j++) row[j] += e->pos[pos * E + j];
        e->tok[L++] = t;
    }
    if (L == 0) {
        char obj[48];
        snprintf(obj, sizeof obj, "attention_mask[%lld]", (long long)b);
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, obj, "sequence %lld has no tokens",
                            (long long)b);
    }
    add_layer_norm(e->emb, NULL, L, E, e->emb_g, e->emb_b, a->layer_norm_eps);
    *L_out = L;
    return QF_STATUS_OK;
}

static void scatter(const qf_encoder *e, const float *x, int64_t L, float *dst_seq)
{
    const int64_t H = e->arch.hidden_size;
    for (int64_t i = 0; i < L; i++) memcpy(dst_seq + e->tok[i] * H, x + i * H, (size_t)H * sizeof(float));
}

static qf_status head(qf_encoder *e, int64_t b, int64_t L, int64_t T, qf_error *err)
{
    const qf_arch *a = &e->arch;
    const int64_t H = a->hidden_size, C = a->num_labels;
    const float *first = e->x; /* the first real token ([CLS] / <s> with right padding) */
    float *h = e->row, *logits = e->out_logits + b * a->num_labels;
    qf_status s;
    if (a->head == QF_ARCH_HEAD_NONE) return QF_STATUS_OK;
    if (per_token_head(a)) {
        /* every real token through head.out, placed at its padded position (padding stays 0) */
        if ((s = linear_apply(e, &e->head_out, e->x, L, e->y, err))) return s;
        float *dst = e->out_token_logits + (uint64_t)b * (uint64_t)T * (uint64_t)C;
        for (int64_t i = 0; i < L; i++) memcpy(dst + e->tok[i] * C, e->y + i * C, (size_t)C * sizeof(float));
        return QF_STATUS_OK;
    }
    /* the family's dense layer (BERT's pooler, the others' head.dense) and its activation */
    if ((s = linear_apply(e, &e->head_dense, first, 1, h, err))) return s;
    for (int64_t j = 0; j < H; j++) h[j] = activate(a->head_activation, h[j]);
    if ((s = linear_apply(e, &e->head_out, h, 1, e->row2, err))) return s;
    memcpy(logits, e->row2, (size_t)a->num_labels * sizeof(float));
    return QF_STATUS_OK;
}

/* RELATIVE_BUCKETS: rel_bias[h][i][j] = table[bucket(tok[j] - tok[i])][h] for the L real tokens
 * of this sequence. Distances are between positions in the padded sequence, as transformers
 * takes them (arange over the padded length), so left padding changes nothing. */
static void relative_bias(qf_encoder *e, int64_t L)
{
    const int64_t nh = e->arch.num_heads, off = e->max_length - 1;
#pragma omp parallel for schedule(static) if (nh * L * L >= QF_PAR_MIN)
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++) {
            const float *row = e->rel_table + (int64_t)e->rel_bucket[e->tok[j] - e->tok[i] + off] * nh;
            for (int64_t h = 0; h < nh; h++) e->rel_bias[(h * L + i) * L + j] = row[h];
        }
}

/* sum_c x[c] w[c] as 8 running partial sums (lane c % 8) added in lane order: a fixed order the
 * compiler vectorizes */
static float dot8(const float *x, const float *w, int64_t n)
{
    float p[8] = {0};
    int64_t c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++) p[l] += x[c + l] * w[c + l];
    for (int l = 0; c < n; c++, l++) p[l] += x[c] * w[c];
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

/* DISENTANGLED: this layer's rel_bias[h][i][j] = c2p / s + p2c / s with c2p = q_i . pos_k[r],
 * p2c = k_j . pos_q[r] (head h's columns), r the index of tok[i] - tok[j] and s = sqrt(d * factor)
 * in float32, the terms in transformers' order. */
static void disentangled_bias(qf_encoder *e, const float *pos_q, const float *pos_k, int64_t L)
{
    const qf_arch *a = &e->arch;
    const int64_t H = a->hidden_size, nh = a->num_heads, d = H / nh, off = e->max_length - 1;
    const float s = sqrtf((float)d * (float)a->score_scale_factor);
    const bool c2p = a->c2p, p2c = a->p2c;
#pragma omp parallel for schedule(static) if (nh * L * L * d >= QF_PAR_MIN)
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++) {
            const int64_t r = e->rel_index[e->tok[i] - e->tok[j] + off];
            for (int64_t h = 0; h < nh; h++) {
                float v = 0.0f;
                if (c2p) v += dot8(e->q + i * H + h * d, pos_k + r * H + h * d, d) / s;
                if (p2c) v += dot8(e->k + j * H + h * d, pos_q + r * H + h * d, d) / s;
                e->rel_bias[(h * L + i) * L + j] = v;
            }
        }
}

/* DISENTANGLED: makes rows lo..hi - 1 of stored layer g's pos_q and pos_k computed, extending the
 * computed range (rows are the same bits whichever call computes them). */
static qf_status relative_rows(qf_encoder *e, int64_t g, int64_t lo, int64_t hi, qf_error *err)
{
    const int64_t H = e->arch.hidden_size;
    int64_t *clo = &e->rel_lo[g], *chi = &e->rel_hi[g];
    if (*clo == *chi) *clo = *chi = lo; /* nothing yet: start at lo */
    int64_t ranges[2][2] = {{lo, *clo}, {*chi, hi}};
    for (int i = 0; i < 2; i++) {
        const int64_t a = ranges[i][0], n = ranges[i][1] - ranges[i][0];
        if (n <= 0) continue;
        qf_status s;
        if ((s = qf_arch_relative_projection(e->model, &e->arch, g, QF_LAYER_ATTN_Q, a, n, e->rel_pos_q[g] + a * H, err)) ||
            (s = qf_arch_relative_projection(e->model, &e->arch, g, QF_LAYER_ATTN_K, a, n, e->rel_pos_k[g] + a * H, err)))
            return s;
    }
    if (lo < *clo) *clo = lo;
    if (hi > *chi) *chi = hi;
    return QF_STATUS_OK;
}

static qf_status run_sequence(qf_encoder *e, const qf_encoder_batch *in, int64_t b, qf_error *err)
{
    const qf_arch *a = &e->arch;
    const int64_t H = a->hidden_size, I = a->intermediate_size, T = in->length;
    const uint64_t layer_stride = (uint64_t)in->batch * (uint64_t)T * (uint64_t)H;
    int64_t L = 0;
    qf_status s = embed(e, in, b, &L, err);
    if (s) return s;
    if (a->has_project) {
        if ((s = linear_apply(e, &e->project, e->emb, L, e->x, err))) return s;
    } else {
        memcpy(e->x, e->emb, (size_t)(L * H) * sizeof(float));
    }
    if (e->out_layers) scatter(e, e->x, L, e->out_layers + (uint64_t)b * T * H);
    if (e->rel_table) relative_bias(e, L);
    for (int64_t l = 0; l < a->num_layers; l++) {
        /* the weights this layer runs; calibration observes them under that index, so that
         * shared weights are calibrated over every use */
        const int64_t g = qf_arch_layer_weights(a, l);
        const layer *ly = &e->layers[g];
        if (e->p.observe) e->p.observe(e->p.observe_ctx, g, QF_ENCODER_SITE_QKV, e->x, L, H);
        if ((s = linear_apply(e, &ly->q, e->x, L, e->q, err)) ||
            (s = linear_apply_to(e, &ly->k, e->x, L, true, e->k, err)) ||
            (s = linear_apply_to(e, &ly->v, e->x, L, true, e->v, err)))
            return s;
        if (e->rel_pos_q) {
            /* the index is non-decreasing in the distance: the farthest pair bounds the rows */
            const int64_t off = e->max_length - 1, far = e->tok[L - 1] - e->tok[0];
            if ((s = relative_rows(e, g, e->rel_index[off - far], e->rel_index[off + far] + 1, err))) return s;
            disentangled_bias(e, e->rel_pos_q[g], e->rel_pos_k[g], L);
        }
        attention(e, L);
        if (e->p.observe) e->p.observe(e->p.observe_ctx, g, QF_ENCODER_SITE_ATTN_OUT, e->ctx, L, H);
        if ((s = linear_apply(e, &ly->out, e->ctx, L, e->y, err))) return s;
        add_layer_norm(e->y, e->x, L, H, ly->attn_g, ly->attn_b, a->layer_norm_eps);
        memcpy(e->x, e->y, (size_t)(L * H) * sizeof(float));
        if (e->p.observe) e->p.observe(e->p.observe_ctx, g, QF_ENCODER_SITE_FFN_UP, e->x, L, H);
        if ((s = linear_apply(e, &ly->up, e->x, L, e->ff, err))) return s;
        activate_all(a->activation, e->ff, L * I);
        if (e->p.observe) e->p.observe(e->p.observe_ctx, g, QF_ENCODER_SITE_FFN_DOWN, e->ff, L, I);
        if ((s = linear_apply(e, &ly->down, e->ff, L, e->y, err))) return s;
        add_layer_norm(e->y, e->x, L, H, ly->ffn_g, ly->ffn_b, a->layer_norm_eps);
        memcpy(e->x, e->y, (size_t)(L * H) * sizeof(float));
        if (e->out_layers) scatter(e, e->x, L, e->out_layers + (uint64_t)(l + 1) * layer_stride + (uint64_t)b * T * H);
    }
    scatter(e, e->x, L, e->out_hidden + (uint64_t)b * T * H);
    float *pooled = e->out_pooled + b * H;
    for (int64_t j = 0; j < H; j++) {
        double sum = 0.0;
        for (int64_t i = 0; i < L; i++) sum += e->x[i * H + j];
        pooled[j] = (float)(sum / (double)L);
    }
    return head(e, b, L, T, err);
}

qf_status qf_encoder_run(qf_encoder *e, const qf_encoder_batch *in, qf_encoder_output *out, qf_error *err)
{
    if (!e || !in || !out || !in->input_ids)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_encoder_run: NULL argument");
    memset(out, 0, sizeof *out);
    if (in->batch < 1 || in->batch > e->max_batch) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "batch", "batch of %lld sequences does not fit",
                     (long long)in->batch);
        qf_error_expected(err, "1..%lld", (long long)e->max_batch);
        qf_error_found(err, "%lld", (long long)in->batch);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    if (in->length < 1 || in->length > e->max_length) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "length", "padded length %lld does not fit",
                     (long long)in->length);
        qf_error_expected(err, "1..%lld", (long long)e->max_length);
        qf_error_found(err, "%lld", (long long)in->length);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    const qf_arch *a = &e->arch;
    const size_t BTH = (size_t)in->batch * (size_t)in->length * (size_t)a->hidden_size;
    memset(e->out_hidden, 0, BTH * sizeof(float));
    if (e->out_token_logits)
        memset(e->out_token_logits, 0, (size_t)in->batch * (size_t)in->length * (size_t)a->num_labels * sizeof(float));
    if (e->out_layers) memset(e->out_layers, 0, BTH * (size_t)(a->num_layers + 1) * sizeof(float));

    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(e->threads);
    qf_status s = QF_STATUS_OK;
    for (int64_t b = 0; !s && b < in->batch; b++) s = run_sequence(e, in, b, err);
    omp_set_num_threads(saved_threads);
    if (s) return s;

    out->batch = in->batch;
    out->length = in->length;
    out->hidden_size = a->hidden_size;
    out->head = a->head;
    out->num_labels = a->head != QF_ARCH_HEAD_NONE ? a->num_labels : 0;
    out->logits = a->head == QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION ? e->out_logits : NULL;
    out->token_logits = per_token_head(a) ? e->out_token_logits : NULL;
    out->last_hidden = e->out_hidden;
    out->pooled = e->out_pooled;
    out->embedding_size = qf_encoder_embedding_size(e);
    out->sentence_dense = e->sentence_dense;
    out->layer_hidden = e->out_layers;
    out->num_layer_outputs = e->out_layers ? a->num_layers + 1 : 0;
    return QF_STATUS_OK;
}

const char *qf_encoder_mode_name(qf_encoder_mode mode)
{
    switch (mode) {
    case QF_ENCODER_MODE_DYNAMIC_INT8: return "dynamic int8";
    case QF_ENCODER_MODE_STATIC_INT8: return "static int8";
    default: return "FP32";
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Sentence embeddings                                                                         */

const char *qf_pooling_name(qf_pooling p)
{
    static const char *names[] = {"mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
    return (unsigned)p < QF_POOLING_COUNT_ ? names[p] : "?";
}

bool qf_pooling_from_name(const char *name, qf_pooling *out)
{
    for (int p = 0; name && p < QF_POOLING_COUNT_; p++)
        if (strcmp(name, qf_pooling_name((qf_pooling)p)) == 0) {
            *out = (qf_pooling)p;
            return true;
        }
    return false;
}

int64_t qf_encoder_embedding_size(const qf_encoder *e)
{
    return e->sentence_dense ? qf_sentence_dense_out_features(e->sentence_dense) : e->arch.hidden_size;
}

static void pool_row(const qf_encoder_batch *in, const qf_encoder_output *o, int64_t b, int64_t skip, qf_pooling pooling,
                     float *out);

void qf_embedding_pool(const qf_encoder_batch *in, const qf_encoder_output *o, int64_t b, int64_t skip,
                       qf_pooling pooling, bool normalize, float *out)
{
    int64_t n = o->hidden_size;
    if (o->sentence_dense) {
        /* the pooled row goes to the encoder's scratch (sized hidden_size), the Dense output to out */
        float *pooled = qf_sentence_dense_scratch_row(o->sentence_dense);
        pool_row(in, o, b, skip, pooling, pooled);
        qf_sentence_dense_apply(o->sentence_dense, pooled, out);
        n = o->embedding_size;
    } else {
        pool_row(in, o, b, skip, pooling, out);
    }
    if (!normalize) return;
    double norm = 0.0;
    for (int64_t j = 0; j < n; j++) norm += (double)out[j] * out[j];
    norm = sqrt(norm);
    if (norm < 1e-12) norm = 1e-12;
    for (int64_t j = 0; j < n; j++) out[j] = (float)(out[j] / norm);
}

/* The pooling of row b into out[hidden_size], leaving out its first `skip` tokens. */
static void pool_row(const qf_encoder_batch *in, const qf_encoder_output *o, int64_t b, int64_t skip_tokens,
                     qf_pooling pooling, float *out)
{
    const int64_t H = o->hidden_size, T = o->length;
    const float *seq = o->last_hidden + (size_t)b * (size_t)T * (size_t)H;
    const int32_t *mask = in->attention_mask ? in->attention_mask + (size_t)b * (size_t)T : NULL;
    /* the positions pooled: real tokens from pool_skip on (the prompt left out) */
    const int64_t skip = skip_tokens > 0 ? skip_tokens : 0;
#define POOLED(t) ((t) >= skip && (!mask || mask[t]))
    int64_t real = 0, first = -1, last = 0;
    for (int64_t t = 0; t < T; t++)
        if (POOLED(t)) {
            real++;
            if (first < 0) first = t;
            last = t;
        }
    switch (pooling) {
    case QF_POOLING_CLS: memcpy(out, seq + (first > 0 ? first : 0) * H, (size_t)H * sizeof(float)); break;
    case QF_POOLING_LAST_TOKEN: memcpy(out, seq + last * H, (size_t)H * sizeof(float)); break;
    case QF_POOLING_MAX:
        for (int64_t j = 0; j < H; j++) {
            float m = -1e9f; /* what sentence-transformers gives padding before its max */
            for (int64_t t = 0; t < T; t++)
                if (POOLED(t) && seq[t * H + j] > m) m = seq[t * H + j];
            out[j] = m;
        }
        break;
    case QF_POOLING_MEAN:
        if (!skip) {
            memcpy(out, o->pooled + (size_t)b * (size_t)H, (size_t)H * sizeof(float)); /* the same arithmetic */
            break;
        }
        /* else the mean over the positions after the prompt, below */
        /* fall through */
    case QF_POOLING_MEAN_SQRT_LEN:
    case QF_POOLING_WEIGHTED_MEAN:
        for (int64_t j = 0; j < H; j++) {
            double sum = 0.0, weights = 0.0;
            for (int64_t t = 0; t < T; t++) {
                if (!POOLED(t)) continue;
                double w = pooling == QF_POOLING_WEIGHTED_MEAN ? (double)(t + 1) : 1.0;
                sum += w * seq[t * H + j];
                weights += w;
            }
            out[j] = (float)(pooling == QF_POOLING_MEAN_SQRT_LEN ? sum / sqrt(real > 0 ? (double)real : 1e-9)
                                                                  : sum / (weights > 0 ? weights : 1e-9));
        }
        break;
#undef POOLED
    default: memcpy(out, o->pooled + (size_t)b * (size_t)H, (size_t)H * sizeof(float)); break;
    }
}
