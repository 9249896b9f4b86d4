/*
 * writers/onnx/onnx_export.c — the encoder written as an ONNX graph from scratch (qf_onnx_export):
 * no source ONNX file is needed, so a PyTorch, safetensors, HDF5 or .qf model gets an ONNX file
 * without Python. Input: a model mapped to canonical slots (model/arch.c qf_arch_map, read back by qf_arch_of: family,
 * sizes, activation, eps, head); output: an opset-17 ModelProto packed through the protobuf adapter
 * (protobuf/onnx_proto.c), written atomically.
 *
 * The graph is the one Hugging Face's eager modules compute, in standard ops laid out as ONNX
 * Runtime's fusions expect them (Erf GELU -> Gelu / BiasGelu, tanh GELU -> FastGelu, the QKᵀ Div
 * -> FusedMatMul; its transformers optimizer's Attention and SkipLayerNormalization patterns);
 * LayerNorm is LayerNormalization itself. Linear weights become [in, out]
 * initializers under their canonical names (the layout qforge's ONNX reader transposes back), so
 * qforge reads its own export. Initializers that need no conversion borrow the model's bytes for
 * the packing; transposed, converted or dequantized ones live in the exporter's arena.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf/onnx_proto.h"
#include "qforge/model.h"
#include "qforge/writers.h"
#include "writers/onnx/onnx_arena.h"
#include "writers/onnx/onnx_graph.h"

qf_onnx_export_params qf_onnx_export_params_default(void)
{
    qf_onnx_export_params p;
    memset(&p, 0, sizeof p);
    p.mode = QF_ONNX_EXPORT_MODE_FP32;
    p.last_hidden_state = true;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Exporter state: an arena for every message and buffer, the node and initializer lists        */

typedef struct dq_value {
    const char *x, *q, *s, *z; /* activation and its DynamicQuantizeLinear outputs, or (static) its
                                * scale / zero-point initializers in s, z and its scale in `scale` */
    float scale;
} dq_value;

typedef struct ex {
    const char *path;
    qf_error *err;
    const qf_model *m;
    qf_arch a;
    qf_onnx_export_mode mode;
    qf_onnx_arena mem;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__NodeProto *last; /* the node attributes go to */
    dq_value *dq;
    size_t n_dq, cap_dq;
    size_t int8_linears;
    bool prompt_length; /* the graph has the prompt_length input (include_prompt false) */
    bool oom;
} ex;

static void *grow(void *p, size_t *cap, size_t n, size_t elem, bool *oom)
{
    if (n < *cap) return p;
    size_t nc = *cap ? *cap * 2 : 64;
    void *q = realloc(p, nc * elem);
    if (!q) {
        *oom = true;
        return NULL;
    }
    *cap = nc;
    return q;
}

static void *alloc(ex *e, size_t size)
{
    if (e->oom) return NULL;
    void *p = qf_onnx_arena_alloc(&e->mem, size);
    if (!p) e->oom = true;
    return p;
}

static char *fmt(ex *e, const char *f, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static char *fmt(ex *e, const char *f, ...)
{
    if (e->oom) return NULL;
    va_list ap;
    va_start(ap, f);
    char *s = qf_onnx_arena_vfmt(&e->mem, f, ap);
    va_end(ap);
    if (!s) e->oom = true;
    return s;
}

static qf_status fail_oom(ex *e)
{
    return qf_error_set(e->err, QF_STATUS_NO_MEMORY, e->path, NULL, -1, NULL, "out of memory while building the graph");
}

/* ------------------------------------------------------------------------------------------ */
/* Nodes and attributes                                                                        */

/* A node `op` named `name` reading `nin` values; its one output is "<name>_output_0" (returned,
 * NULL once out of memory). Attributes added next go to it. */
static const char *op(ex *e, const char *op_type, const char *name, size_t nin, ...)
{
    Onnx__NodeProto *n = alloc(e, sizeof *n);
    char **in = alloc(e, (nin ? nin : 1) * sizeof *in), **out = alloc(e, sizeof *out);
    char *out_name = name ? fmt(e, "%s_output_0", name) : NULL;
    Onnx__NodeProto **nodes = grow(e->nodes, &e->cap_nodes, e->n_nodes, sizeof *nodes, &e->oom);
    if (!n || !in || !out || !out_name || !nodes) return NULL;
    e->nodes = nodes;
    onnx__node_proto__init(n);
    va_list ap;
    va_start(ap, nin);
    for (size_t i = 0; i < nin; i++) {
        in[i] = (char *)va_arg(ap, const char *);
        if (!in[i]) e->oom = true; /* an input that failed to be built */
    }
    va_end(ap);
    if (e->oom) return NULL;
    out[0] = out_name;
    n->op_type = (char *)op_type;
    n->name = (char *)name;
    n->input = in;
    n->n_input = nin;
    n->output = out;
    n->n_output = 1;
    e->nodes[e->n_nodes++] = n;
    e->last = n;
    return out_name;
}

static Onnx__AttributeProto *attr(ex *e, const char *name, Onnx__AttributeProto__AttributeType type)
{
    Onnx__NodeProto *n = e->last;
    Onnx__AttributeProto *a = alloc(e, sizeof *a);
    Onnx__AttributeProto **arr = n ? alloc(e, (n->n_attribute + 1) * sizeof *arr) : NULL;
    if (!a || !arr) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    for (size_t i = 0; i < n->n_attribute; i++) arr[i] = n->attribute[i];
    arr[n->n_attribute] = a;
    n->attribute = arr;
    n->n_attribute++;
    return a;
}

static void attr_int(ex *e, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}

static void attr_float(ex *e, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = v;
}

static void attr_ints(ex *e, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = alloc(e, n * sizeof *ints);
    if (!a || !ints) return;
    memcpy(ints, v, n * sizeof *ints);
    a->ints = ints;
    a->n_ints = n;
}

/* ------------------------------------------------------------------------------------------ */
/* Initializers                                                                                */

/* A new initializer named `name` (once: a second call with the same name returns it again).
 * `data` is borrowed for the packing when `copy` is false, else copied into the arena (NULL:
 * zeros). */
static const char *init(ex *e, const char *name, int32_t dtype, const int64_t *dims, size_t ndims, const void *data,
                        size_t nbytes, bool copy)
{
    if (!name) {
        e->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < e->n_inits; i++)
        if (strcmp(e->inits[i]->name, name) == 0) return e->inits[i]->name;
    Onnx__TensorProto *t = alloc(e, sizeof *t);
    int64_t *d = alloc(e, (ndims ? ndims : 1) * sizeof *d);
    uint8_t *buf = copy || !data ? alloc(e, nbytes) : (uint8_t *)data;
    Onnx__TensorProto **inits = grow(e->inits, &e->cap_inits, e->n_inits, sizeof *inits, &e->oom);
    if (!t || !d || !buf || !inits) return NULL;
    e->inits = inits;
    onnx__tensor_proto__init(t);
    if (ndims) memcpy(d, dims, ndims * sizeof *d);
    if (copy && data && nbytes) memcpy(buf, data, nbytes);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = d;
    t->n_dims = ndims;
    t->has_raw_data = 1;
    t->raw_data.data = buf;
    t->raw_data.len = nbytes;
    e->inits[e->n_inits++] = t;
    return t->name;
}

static const char *scalar_f32(ex *e, const char *name, float v) { return init(e, name, QF_ONNX_FLOAT, NULL, 0, &v, 4, true); }

static const char *ints_i64(ex *e, const char *name, const int64_t *v, size_t n)
{
    int64_t dim = (int64_t)n;
    return init(e, name, QF_ONNX_INT64, &dim, 1, v, n * sizeof *v, true);
}

static const char *scalar_i64(ex *e, const char *name, int64_t v) { return init(e, name, QF_ONNX_INT64, NULL, 0, &v, 8, true); }

static const qf_tensor *find(ex *e, const char *name, qf_status *s)
{
    const qf_tensor *t = qf_model_find(e->m, name, NULL);
    if (!t && !*s) *s = qf_error_set(e->err, QF_STATUS_NOT_FOUND, e->path, NULL, -1, name, "model lacks tensor '%s'", name);
    return t;
}

/* Per-row scales of an int8 tensor: [rows] floats (per tensor: the one scale repeated). */
static const float *int8_row_scales(ex *e, const qf_tensor *t, qf_status *s)
{
    const qf_tensor *sc = t->quant.scale_name ? qf_model_find(e->m, t->quant.scale_name, NULL) : NULL;
    int64_t rows = t->shape[0];
    bool per_channel = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && t->quant.axis == 0;
    bool per_tensor = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR;
    if (!sc || sc->dtype != QF_DTYPE_F32 || !(per_channel || per_tensor) ||
        sc->nbytes != (per_channel ? (uint64_t)rows : 1) * sizeof(float)) {
        if (!*s) {
            *s = qf_error_set(e->err, QF_STATUS_UNSUPPORTED, e->path, NULL, -1, t->name,
                              "int8 tensor '%s' has no usable scale (symmetric per row or per tensor)", t->name);
            qf_error_expected(e->err, "f32 scale tensor '%s' of %lld values",
                              t->quant.scale_name ? t->quant.scale_name : "<name>::scale",
                              (long long)(per_tensor ? 1 : rows));
        }
        return NULL;
    }
    float *r = alloc(e, (size_t)rows * sizeof *r);
    if (!r) return NULL;
    if (per_channel) memcpy(r, sc->data, (size_t)rows * sizeof *r);
    else {
        float v;
        memcpy(&v, sc->data, sizeof v);
        for (int64_t i = 0; i < rows; i++) r[i] = v;
    }
    return r;
}

/* The values of a floating-point (or int8, dequantized) tensor as f32: borrowed when the tensor
 * already is aligned f32, else converted into the arena. */
static const float *as_f32(ex *e, const qf_tensor *t, qf_status *s)
{
    uint64_t n = t->nbytes / qf_dtype_size(t->dtype);
    if (t->dtype == QF_DTYPE_F32 && (uintptr_t)t->data % sizeof(float) == 0) return t->data;
    if (n > SIZE_MAX / sizeof(float)) {
        if (!*s) *s = qf_error_set(e->err, QF_STATUS_OVERFLOW, e->path, NULL, -1, t->name, "'%s' is too large", t->name);
        return NULL;
    }
    float *d = alloc(e, (size_t)n * sizeof *d);
    if (!d) return NULL;
    switch (t->dtype) {
    case QF_DTYPE_F32: memcpy(d, t->data, (size_t)n * sizeof *d); break;
    case QF_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++) d[i] = qf_f16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    case QF_DTYPE_BF16:
        for (uint64_t i = 0; i < n; i++) d[i] = qf_bf16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    case QF_DTYPE_F64:
        for (uint64_t i = 0; i < n; i++) d[i] = (float)((const double *)t->data)[i];
        break;
    case QF_DTYPE_I8: {
        if (t->rank != 2 && t->rank != 1) goto unsupported;
        const float *sc = int8_row_scales(e, t, s);
        if (!sc) return NULL;
        int64_t rows = t->shape[0], cols = t->rank == 2 ? t->shape[1] : 1;
        const int8_t *q = t->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) d[r * cols + c] = (float)q[r * cols + c] * sc[r];
        break;
    }
    default:
    unsupported:
        if (!*s) {
            *s = qf_error_set(e->err, QF_STATUS_UNSUPPORTED, e->path, NULL, -1, t->name,
                              "tensor '%s' of dtype %s cannot become a float initializer", t->name,
                              qf_dtype_name(t->dtype));
            qf_error_expected(e->err, "f32, f16, bf16, f64 or int8 with scales");
            qf_error_found(e->err, "%s", qf_dtype_name(t->dtype));
        }
        return NULL;
    }
    return d;
}

/* An f32 initializer holding tensor `name` as it is (shape kept). */
static const char *float_init(ex *e, const char *name, qf_status *s)
{
    const qf_tensor *t = find(e, name, s);
    const float *v = t ? as_f32(e, t, s) : NULL;
    if (!v) return NULL;
    return init(e, t->name, QF_ONNX_FLOAT, t->shape, (size_t)t->rank, v, (size_t)(t->nbytes / qf_dtype_size(t->dtype)) * 4,
                false);
}

/* The initializer named `name` when it exists, else NULL. */
static const char *init_named(ex *e, const char *name)
{
    for (size_t i = 0; name && i < e->n_inits; i++)
        if (strcmp(e->inits[i]->name, name) == 0) return e->inits[i]->name;
    return NULL;
}

/* The [in, out] initializer `name` of the [out, in] weight w (its int8 values as they are when
 * `int8`, else as f32, dequantized if need be), transposed once: a weight several layers share
 * (ALBERT) is made at its first use and found at the others. */
static const char *weight_init(ex *e, const qf_tensor *w, const char *name, bool int8, qf_status *s)
{
    const char *have = init_named(e, name);
    if (have) return have;
    const int64_t rows = w->shape[0], cols = w->shape[1];
    const int64_t dims[2] = {cols, rows};
    const size_t count = (size_t)rows * (size_t)cols;
    if (int8) {
        int8_t *wt = alloc(e, count);
        if (!wt) return NULL;
        const int8_t *q = w->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) wt[c * rows + r] = q[r * cols + c];
        return init(e, name, QF_ONNX_INT8, dims, 2, wt, count, false);
    }
    const float *v = as_f32(e, w, s);
    float *wt = v ? alloc(e, count * sizeof *wt) : NULL;
    if (!wt) return NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) wt[c * rows + r] = v[r * cols + c];
    return init(e, name, QF_ONNX_FLOAT, dims, 2, wt, count * sizeof *wt, false);
}

/* ------------------------------------------------------------------------------------------ */
/* Building blocks                                                                             */

/* The DynamicQuantizeLinear outputs of activation x, made once per activation. */
static const dq_value *dynamic_quantize(ex *e, const char *x)
{
    for (size_t i = 0; i < e->n_dq; i++)
        if (strcmp(e->dq[i].x, x) == 0) return &e->dq[i];
    dq_value *dq = grow(e->dq, &e->cap_dq, e->n_dq, sizeof *dq, &e->oom);
    if (!dq) return NULL;
    e->dq = dq;
    const char *name = fmt(e, "%s_QuantizeLinear", x);
    char **outs = alloc(e, 3 * sizeof *outs);
    if (!op(e, "DynamicQuantizeLinear", name, 1, x) || !outs) return NULL;
    outs[0] = fmt(e, "%s_quantized", x);
    outs[1] = fmt(e, "%s_scale", x);
    outs[2] = fmt(e, "%s_zero_point", x);
    if (e->oom) return NULL;
    e->last->output = outs;
    e->last->n_output = 3;
    dq_value *v = &e->dq[e->n_dq++];
    *v = (dq_value){x, outs[0], outs[1], outs[2], 0.0f};
    return v;
}

/* Static: x -> QuantizeLinear(scale, int8 0) -> DequantizeLinear, a pair of its own for each
 * projection, with scale and zero-point initializers of its own ("<stem>.input_scale"): ONNX
 * Runtime fuses Q -> DQ -> MatMul <- DQ into an int8 MatMul only when that Q feeds nothing else,
 * and its common-subexpression pass would merge Q nodes that read the same initializers (Q, K and
 * V would then stay float MatMuls over weights dequantized on every run). The projections reading
 * x must agree on its scale. */
static const char *static_qdq(ex *e, const char *x, float scale, const char *stem, const char *node, qf_status *s)
{
    for (size_t i = 0; i < e->n_dq; i++)
        if (strcmp(e->dq[i].x, x) == 0 && e->dq[i].scale != scale) {
            if (!*s) {
                *s = qf_error_set(e->err, QF_STATUS_INVALID_ARGUMENT, e->path, NULL, -1, stem,
                                  "'%s.input::scale' differs from the scale of another projection reading the same "
                                  "input",
                                  stem);
                qf_error_expected(e->err, "%.9g", (double)e->dq[i].scale);
                qf_error_found(e->err, "%.9g", (double)scale);
            }
            return NULL;
        }
    dq_value *dq = grow(e->dq, &e->cap_dq, e->n_dq, sizeof *dq, &e->oom);
    if (!dq) return NULL;
    e->dq = dq;
    e->dq[e->n_dq++] = (dq_value){x, NULL, NULL, NULL, scale};
    const char *xs = scalar_f32(e, fmt(e, "%s.input_scale", stem), scale);
    const char *xz = init(e, fmt(e, "%s.input_zero_point", stem), QF_ONNX_INT8, NULL, 0, NULL, 1, true);
    const char *q = op(e, "QuantizeLinear", fmt(e, "%s/input_QuantizeLinear", node), 3, x, xs, xz);
    return op(e, "DequantizeLinear", fmt(e, "%s/input_DequantizeLinear", node), 3, q, xs, xz);
}

/* The calibrated input scale "<stem>.input::scale" (one positive finite f32) of a static model;
 * false when the projection has none (it stays FP32). */
static bool static_scale(ex *e, const char *stem, float *scale, qf_status *s)
{
    char name[192];
    snprintf(name, sizeof name, "%s.input::scale", stem);
    const qf_tensor *t = qf_model_find(e->m, name, NULL);
    if (!t) return false;
    float v = 0;
    if (t->dtype == QF_DTYPE_F32 && t->nbytes == 4) memcpy(&v, t->data, 4);
    if (!(v > 0) || !isfinite(v)) {
        if (!*s) {
            *s = qf_error_set(e->err, QF_STATUS_INVALID_ARGUMENT, e->path, NULL, -1, name,
                              "'%s' is not one finite positive f32", name);
            qf_error_expected(e->err, "one f32 > 0");
            if (t->dtype == QF_DTYPE_F32 && t->nbytes == 4) qf_error_found(e->err, "%g", (double)v);
            else qf_error_found(e->err, "%s, %llu bytes", qf_dtype_name(t->dtype), (unsigned long long)t->nbytes);
        }
        return false;
    }
    *scale = v;
    return true;
}

/* y = x Wᵀ + b for the canonical linear `stem` ("layers.0.attn.q"): MatMul + Add with W as an
 * [in, out] initializer; in DYNAMIC mode an int8 weight gives ONNX Runtime's quantize_dynamic form
 * (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias)), which
 * computes what qforge's DYNAMIC_INT8 encoder computes; in STATIC mode an int8 weight with a
 * calibrated input scale gives the QDQ form (x [* smooth] -> QuantizeLinear -> DequantizeLinear,
 * W int8 -> DequantizeLinear per output channel -> MatMul -> Add(bias)). */
static const char *linear_at(ex *e, const char *x, const char *stem, const char *node, qf_status *s)
{
    char wname[160], bname[160];
    snprintf(wname, sizeof wname, "%s.weight", stem);
    snprintf(bname, sizeof bname, "%s.bias", stem);
    const qf_tensor *w = find(e, wname, s);
    const char *bias = float_init(e, bname, s);
    if (!w || !bias) return NULL;
    if (w->rank != 2) {
        if (!*s) *s = qf_error_set(e->err, QF_STATUS_SHAPE, e->path, NULL, -1, wname, "'%s' is not 2-D", wname);
        return NULL;
    }
    const int64_t rows = w->shape[0], cols = w->shape[1]; /* [out, in] */
    if (e->mode == QF_ONNX_EXPORT_MODE_DYNAMIC && w->dtype == QF_DTYPE_I8) {
        const dq_value *xq = dynamic_quantize(e, x);
        const qf_tensor *sc = w->quant.scale_name ? qf_model_find(e->m, w->quant.scale_name, NULL) : NULL;
        bool per_tensor = w->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR;
        if (!int8_row_scales(e, w, s) || !xq || !sc) return NULL;
        int64_t n_out = rows;
        const char *wq = weight_init(e, w, fmt(e, "%s_quantized", wname), true, s);
        if (!wq) return NULL;
        const char *ws = init(e, fmt(e, "%s_scale", wname), QF_ONNX_FLOAT, &n_out, per_tensor ? 0 : 1, sc->data,
                              per_tensor ? 4 : (size_t)rows * 4, false);
        const char *wz = init(e, fmt(e, "%s_zero_point", wname), QF_ONNX_INT8, &n_out, per_tensor ? 0 : 1, NULL,
                              per_tensor ? 1 : (size_t)rows, true);
        const char *mi = op(e, "MatMulInteger", fmt(e, "%s/MatMulInteger", node), 4, xq->q, wq, xq->z, wz);
        const char *cast = op(e, "Cast", fmt(e, "%s/Cast", node), 1, mi);
        attr_int(e, "to", QF_ONNX_FLOAT);
        const char *scales = op(e, "Mul", fmt(e, "%s/scales_mul", node), 2, xq->s, ws);
        const char *y = op(e, "Mul", fmt(e, "%s/output_scale_mul", node), 2, cast, scales);
        e->int8_linears++;
        return op(e, "Add", fmt(e, "%s/Add", node), 2, y, bias);
    }
    float act_scale;
    if (e->mode == QF_ONNX_EXPORT_MODE_STATIC && w->dtype == QF_DTYPE_I8 && static_scale(e, stem, &act_scale, s)) {
        char smooth_name[192];
        snprintf(smooth_name, sizeof smooth_name, "%s.input::smooth", stem);
        const qf_tensor *sm = qf_model_find(e->m, smooth_name, NULL);
        const char *xin = x;
        if (sm) {
            if (sm->rank != 1 || sm->shape[0] != cols) {
                if (!*s) {
                    *s = qf_error_set(e->err, QF_STATUS_SHAPE, e->path, NULL, -1, smooth_name,
                                      "smoothing vector '%s' does not match the input width", smooth_name);
                    qf_error_expected(e->err, "[%lld]", (long long)cols);
                    qf_error_found(e->err, "rank %d, %lld values", (int)sm->rank, (long long)(sm->rank ? sm->shape[0] : 1));
                }
                return NULL;
            }
            xin = op(e, "Mul", fmt(e, "%s/smooth_mul", node), 2, x, float_init(e, smooth_name, s));
        }
        const char *xdq = xin ? static_qdq(e, xin, act_scale, stem, node, s) : NULL;
        const qf_tensor *sc = w->quant.scale_name ? qf_model_find(e->m, w->quant.scale_name, NULL) : NULL;
        bool per_tensor = w->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR;
        if (!xdq || !int8_row_scales(e, w, s) || !sc) return NULL;
        int64_t n_out = rows;
        const char *wq = weight_init(e, w, fmt(e, "%s_quantized", wname), true, s);
        if (!wq) return NULL;
        const char *ws = init(e, fmt(e, "%s_scale", wname), QF_ONNX_FLOAT, &n_out, per_tensor ? 0 : 1, sc->data,
                              per_tensor ? 4 : (size_t)rows * 4, false);
        const char *wz = init(e, fmt(e, "%s_zero_point", wname), QF_ONNX_INT8, &n_out, per_tensor ? 0 : 1, NULL,
                              per_tensor ? 1 : (size_t)rows, true);
        const char *wd = op(e, "DequantizeLinear", fmt(e, "%s.weight_DequantizeLinear", node), 3, wq, ws, wz);
        if (!per_tensor) attr_int(e, "axis", 1);
        const char *y = op(e, "MatMul", fmt(e, "%s/MatMul", node), 2, xdq, wd);
        e->int8_linears++;
        return op(e, "Add", fmt(e, "%s/Add", node), 2, y, bias);
    }
    const char *W = weight_init(e, w, w->name, false, s);
    if (!W) return NULL;
    const char *y = op(e, "MatMul", fmt(e, "%s/MatMul", node), 2, x, W);
    return op(e, "Add", fmt(e, "%s/Add", node), 2, y, bias);
}

/* y = x Wᵀ + b where the weights' stem names the nodes too (every weight used once) */
static const char *linear(ex *e, const char *x, const char *stem, qf_status *s) { return linear_at(e, x, stem, stem, s); }

static const char *layer_norm_at(ex *e, const char *x, const char *stem, const char *node, qf_status *s)
{
    const char *g = float_init(e, fmt(e, "%s.weight", stem), s), *b = float_init(e, fmt(e, "%s.bias", stem), s);
    const char *y = op(e, "LayerNormalization", fmt(e, "%s/LayerNormalization", node), 3, x, g, b);
    attr_int(e, "axis", -1);
    attr_float(e, "epsilon", e->a.layer_norm_eps);
    return y;
}

static const char *layer_norm(ex *e, const char *x, const char *stem, qf_status *s) { return layer_norm_at(e, x, stem, stem, s); }

/* GELU as ONNX Runtime's fusions expect it: erf form x * (1 + erf(x / sqrt 2)) * 0.5 (-> Gelu);
 * tanh form 0.5x * (1 + tanh(sqrt(2/pi) x * (1 + 0.044715 x x))) (-> FastGelu); or Relu. The
 * constants are made by the forms that read them: Relu leaves no unused initializer behind. */
static const char *activation(ex *e, const char *x, qf_arch_activation act, const char *stem)
{
    const char *one = NULL, *half = NULL;
    if (act == QF_ARCH_ACTIVATION_GELU || act == QF_ARCH_ACTIVATION_GELU_TANH) {
        one = scalar_f32(e, "const.one", 1.0f);
        half = scalar_f32(e, "const.half", 0.5f);
    }
    switch (act) {
    case QF_ARCH_ACTIVATION_GELU: {
        const char *d = op(e, "Div", fmt(e, "%s/gelu/Div", stem), 2, x, scalar_f32(e, "const.sqrt2", 1.41421356237309505f));
        const char *erf = op(e, "Erf", fmt(e, "%s/gelu/Erf", stem), 1, d);
        const char *add = op(e, "Add", fmt(e, "%s/gelu/Add", stem), 2, erf, one);
        const char *mul = op(e, "Mul", fmt(e, "%s/gelu/Mul", stem), 2, x, add);
        return op(e, "Mul", fmt(e, "%s/gelu/Mul_1", stem), 2, mul, half);
    }
    case QF_ARCH_ACTIVATION_GELU_TANH: {
        const char *m1 = op(e, "Mul", fmt(e, "%s/gelu/Mul", stem), 2, x, scalar_f32(e, "const.gelu_cubic", 0.044715f));
        const char *m2 = op(e, "Mul", fmt(e, "%s/gelu/Mul_1", stem), 2, m1, x);
        const char *a1 = op(e, "Add", fmt(e, "%s/gelu/Add", stem), 2, m2, one);
        const char *m4 = op(e, "Mul", fmt(e, "%s/gelu/Mul_2", stem), 2, x,
                            scalar_f32(e, "const.sqrt_2_over_pi", 0.7978845608028654f));
        const char *m3 = op(e, "Mul", fmt(e, "%s/gelu/Mul_3", stem), 2, a1, m4);
        const char *t = op(e, "Tanh", fmt(e, "%s/gelu/Tanh", stem), 1, m3);
        const char *a2 = op(e, "Add", fmt(e, "%s/gelu/Add_1", stem), 2, t, one);
        const char *m6 = op(e, "Mul", fmt(e, "%s/gelu/Mul_4", stem), 2, x, half);
        return op(e, "Mul", fmt(e, "%s/gelu/Mul_5", stem), 2, a2, m6);
    }
    case QF_ARCH_ACTIVATION_RELU: return op(e, "Relu", fmt(e, "%s/Relu", stem), 1, x);
    case QF_ARCH_ACTIVATION_TANH: return op(e, "Tanh", fmt(e, "%s/Tanh", stem), 1, x);
    default: return NULL;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The encoder                                                                                 */

static const char *word_embeddings(ex *e, qf_status *s)
{
    const qf_tensor *w = find(e, QF_SLOT_WORD_EMBEDDING ".weight", s);
    if (!w) return NULL;
    if (e->mode == QF_ONNX_EXPORT_MODE_FP32 || w->dtype != QF_DTYPE_I8) {
        const char *W = float_init(e, QF_SLOT_WORD_EMBEDDING ".weight", s);
        return op(e, "Gather", "embeddings.word/Gather", 2, W, "input_ids");
    }
    /* per-row int8 rows: Gather(int8) -> Cast -> Mul(the gathered rows' scales) */
    const qf_tensor *sc = qf_model_find(e->m, w->quant.scale_name ? w->quant.scale_name : "", NULL);
    if (!int8_row_scales(e, w, s) || !sc) return NULL;
    const char *wq = init(e, "embeddings.word.weight_quantized", QF_ONNX_INT8, w->shape, 2, w->data, (size_t)w->nbytes, false);
    const char *g = op(e, "Gather", "embeddings.word/Gather", 2, wq, "input_ids");
    const char *c = op(e, "Cast", "embeddings.word/Cast", 1, g);
    attr_int(e, "to", QF_ONNX_FLOAT);
    const char *scale;
    if (w->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR) {
        scale = init(e, "embeddings.word.weight_scale", QF_ONNX_FLOAT, NULL, 0, sc->data, 4, false);
    } else {
        const char *ws = init(e, "embeddings.word.weight_scale", QF_ONNX_FLOAT, w->shape, 1, sc->data, (size_t)sc->nbytes, false);
        const char *rows = op(e, "Gather", "embeddings.word/scale_gather", 2, ws, "input_ids");
        int64_t last = -1;
        scale = op(e, "Unsqueeze", "embeddings.word/scale_unsqueeze", 2, rows, ints_i64(e, "const.axes_last", &last, 1));
    }
    if (e->mode == QF_ONNX_EXPORT_MODE_DYNAMIC) e->int8_linears++;
    return op(e, "Mul", "embeddings.word/dequantize_mul", 2, c, scale);
}

/* Position embeddings: rows 0..S-1 of the table (a Slice), or for RoBERTa the rows
 * cumsum(ids != pad) * (ids != pad) + padding_idx, as transformers computes them. */
static const char *position_embeddings(ex *e, qf_status *s)
{
    const char *P = float_init(e, "embeddings.position.weight", s);
    if (e->a.position_padding_idx < 0) {
        /* only the Slice reads it: made here, so that the RoBERTa form has no unused initializer */
        const char *zero = ints_i64(e, "const.zero_1d", (const int64_t[]){0}, 1);
        const char *len = op(e, "Shape", "embeddings.position/Shape", 1, "input_ids");
        attr_int(e, "start", 1);
        attr_int(e, "end", 2);
        return op(e, "Slice", "embeddings.position/Slice", 4, P, zero, len, zero);
    }
    /* ids equal to the padding index are padding (MPNet's index is 1 whatever pad_token_id says;
     * RoBERTa's is pad_token_id, the initializer's name since the first export) */
    const char *pad = scalar_i64(e, "const.pad_token_id", e->a.position_padding_idx);
    const char *eq = op(e, "Equal", "embeddings.position/Equal", 2, "input_ids", pad);
    const char *nonpad = op(e, "Not", "embeddings.position/Not", 1, eq);
    const char *m = op(e, "Cast", "embeddings.position/Cast", 1, nonpad);
    attr_int(e, "to", QF_ONNX_INT64);
    const char *cs = op(e, "CumSum", "embeddings.position/CumSum", 2, m, scalar_i64(e, "const.axis_1", 1));
    const char *inc = op(e, "Mul", "embeddings.position/Mul", 2, cs, m);
    const char *ids = op(e, "Add", "embeddings.position/Add", 2, inc,
                         scalar_i64(e, "const.padding_idx", e->a.position_padding_idx));
    return op(e, "Gather", "embeddings.position/Gather", 2, P, ids);
}

static const char *embeddings(ex *e, qf_status *s)
{
    const char *x = word_embeddings(e, s);
    if (e->a.type_vocab_size > 1) {
        const char *T = float_init(e, "embeddings.token_type.weight", s);
        x = op(e, "Add", "embeddings/Add", 2, x, op(e, "Gather", "embeddings.token_type/Gather", 2, T, "token_type_ids"));
    } else if (e->a.type_vocab_size == 1) {
        /* one type row ([1, E]): added to every token by broadcasting, no input needed */
        x = op(e, "Add", "embeddings/Add", 2, x, float_init(e, "embeddings.token_type.weight", s));
    }
    if (e->a.absolute_positions) x = op(e, "Add", "embeddings/Add_1", 2, x, position_embeddings(e, s));
    x = layer_norm(e, x, "embeddings.norm", s);
    if (e->a.has_project) x = linear(e, x, "embeddings.project", s);
    return x;
}

/* (1 - mask) * float_min as [B, 1, 1, S], the additive mask transformers uses, in the order of
 * its extended-mask code (Unsqueeze, Unsqueeze, Cast, Sub, Mul) that fusion tools look for. */
static const char *additive_mask(ex *e)
{
    const char *u1 = op(e, "Unsqueeze", "mask/Unsqueeze", 2, "attention_mask", ints_i64(e, "const.axes_1", (const int64_t[]){1}, 1));
    const char *u2 = op(e, "Unsqueeze", "mask/Unsqueeze_1", 2, u1, ints_i64(e, "const.axes_2", (const int64_t[]){2}, 1));
    const char *m = op(e, "Cast", "mask/Cast", 1, u2);
    attr_int(e, "to", QF_ONNX_FLOAT);
    const char *inv = op(e, "Sub", "mask/Sub", 2, scalar_f32(e, "const.one", 1.0f), m);
    return op(e, "Mul", "mask/Mul", 2, inv, scalar_f32(e, "const.float_min", -3.40282347e38f));
}

/*
 * RELATIVE_BUCKETS (MPNet): the bias every layer adds to its scores, [1, heads, S, S] with
 * [0][h][i][j] = table[bucket(j - i)][h]. The bucket of every relative position
 * -(P - 1)..P - 1 (P: the longest sequence the model takes) is an initializer computed here by
 * qf_arch_relative_bucket, so ONNX Runtime's Log never decides a bucket; the graph only indexes
 * it with Range(S) - Range(S)^T + P - 1.
 */
static const char *relative_bias(ex *e, qf_status *s)
{
    const int64_t P = qf_arch_max_tokens(&e->a), n = 2 * P - 1;
    int64_t *b = alloc(e, (size_t)n * sizeof *b);
    if (!b) return NULL;
    for (int64_t r = 0; r < n; r++) b[r] = qf_arch_relative_bucket(&e->a, r - (P - 1));
    const char *buckets = init(e, "const.relative_buckets", QF_ONNX_INT64, &n, 1, b, (size_t)n * sizeof *b, false);
    const char *table = float_init(e, QF_SLOT_RELATIVE_BIAS ".weight", s);
    const char *shape = op(e, "Shape", "relative_bias/Shape", 1, "input_ids");
    const char *len = op(e, "Gather", "relative_bias/length", 2, shape, scalar_i64(e, "const.index_one", 1));
    attr_int(e, "axis", 0);
    const char *pos = op(e, "Range", "relative_bias/Range", 3, scalar_i64(e, "const.zero", 0), len,
                         scalar_i64(e, "const.index_one", 1));
    const char *keys = op(e, "Unsqueeze", "relative_bias/keys", 2, pos, ints_i64(e, "const.axes_0", (const int64_t[]){0}, 1));
    const char *queries = op(e, "Unsqueeze", "relative_bias/queries", 2, pos, ints_i64(e, "const.axes_1", (const int64_t[]){1}, 1));
    const char *rel = op(e, "Sub", "relative_bias/Sub", 2, keys, queries); /* [S, S]: j - i */
    const char *at = op(e, "Add", "relative_bias/Add", 2, rel, scalar_i64(e, "const.relative_offset", P - 1));
    const char *bucket = op(e, "Gather", "relative_bias/bucket", 2, buckets, at);
    attr_int(e, "axis", 0);
    const char *values = op(e, "Gather", "relative_bias/Gather", 2, table, bucket); /* [S, S, heads] */
    attr_int(e, "axis", 0);
    const char *t = op(e, "Transpose", "relative_bias/Transpose", 1, values);
    attr_ints(e, "perm", (const int64_t[]){2, 0, 1}, 3);
    return op(e, "Unsqueeze", "relative_bias/Unsqueeze", 2, t, ints_i64(e, "const.axes_0", (const int64_t[]){0}, 1));
}

/*
 * DISENTANGLED (DeBERTa): the index [S, S] every layer's c2p and p2c terms gather with,
 * clamp(position(i - j) + span, 0, 2 * span - 1) for query i and key j. The index of every
 * distance -(P - 1)..P - 1 is an initializer computed here by qf_arch_disentangled_position (so
 * ONNX Runtime's Log never decides a bucket); the graph indexes it with Range(S)^T - Range(S) + P - 1.
 */
static const char *disentangled_index(ex *e)
{
    const int64_t P = qf_arch_max_tokens(&e->a), n = 2 * P - 1;
    int64_t *idx = alloc(e, (size_t)n * sizeof *idx);
    if (!idx) return NULL;
    for (int64_t r = 0; r < n; r++) idx[r] = qf_arch_disentangled_index(&e->a, r - (P - 1));
    const char *table = init(e, "const.relative_index", QF_ONNX_INT64, &n, 1, idx, (size_t)n * sizeof *idx, false);
    const char *shape = op(e, "Shape", "relative_index/Shape", 1, "input_ids");
    const char *len = op(e, "Gather", "relative_index/length", 2, shape, scalar_i64(e, "const.index_one", 1));
    attr_int(e, "axis", 0);
    const char *pos = op(e, "Range", "relative_index/Range", 3, scalar_i64(e, "const.zero", 0), len,
                         scalar_i64(e, "const.index_one", 1));
    const char *keys = op(e, "Unsqueeze", "relative_index/keys", 2, pos, ints_i64(e, "const.axes_0", (const int64_t[]){0}, 1));
    const char *queries = op(e, "Unsqueeze", "relative_index/queries", 2, pos, ints_i64(e, "const.axes_1", (const int64_t[]){1}, 1));
    const char *rel = op(e, "Sub", "relative_index/Sub", 2, queries, keys); /* [S, S]: i - j */
    const char *at = op(e, "Add", "relative_index/Add", 2, rel, scalar_i64(e, "const.relative_offset", P - 1));
    const char *gathered = op(e, "Gather", "relative_index/Gather", 2, table, at);
    attr_int(e, "axis", 0);
    return gathered;
}

/* pos_q or pos_k of stored layer g (qf_arch_relative_projection) as an initializer [heads, d,
 * 2 * span], the right operand of MatMul with [B, heads, S, d]; one per stored layer. */
static const char *relative_projection_init(ex *e, int64_t g, qf_layer_slot slot, qf_status *s)
{
    const char *name = fmt(e, "layers.%lld.%s.relative", (long long)g, slot == QF_LAYER_ATTN_Q ? "attn.q" : "attn.k");
    const char *have = init_named(e, name);
    if (have || *s) return have;
    const int64_t H = e->a.hidden_size, nh = e->a.num_heads, d = H / nh, rows = 2 * e->a.relative_span;
    float *pos = malloc((size_t)(rows * H) * sizeof *pos);
    float *t = alloc(e, (size_t)(rows * H) * sizeof *t);
    if (!pos || !t) {
        free(pos);
        *s = qf_error_set(e->err, QF_STATUS_NO_MEMORY, e->path, NULL, -1, NULL, "out of memory");
        return NULL;
    }
    if ((*s = qf_arch_relative_projection(e->m, &e->a, g, slot, 0, rows, pos, e->err))) {
        free(pos);
        return NULL;
    }
    for (int64_t h = 0; h < nh; h++)
        for (int64_t c = 0; c < d; c++)
            for (int64_t r = 0; r < rows; r++) t[(h * d + c) * rows + r] = pos[r * H + h * d + c];
    free(pos);
    const int64_t dims[3] = {nh, d, rows};
    return init(e, name, QF_ONNX_FLOAT, dims, 3, t, (size_t)(rows * H) * sizeof *t, false);
}

/* DISENTANGLED: layer l's c2p / s + p2c / s [B, heads, S, S] (s = sqrt(d * factor)) from its q
 * [B, heads, S, d] and k [B, heads, d, S], gathered with `index` as the encoder does. */
static const char *disentangled_bias(ex *e, int64_t l, const char *q, const char *k, const char *qk, const char *index,
                                     const char *scale, qf_status *s)
{
    const int64_t g = qf_arch_layer_weights(&e->a, l);
    const char *stem = fmt(e, "layers.%lld.attn/disentangled", (long long)l);
    const char *full = op(e, "Shape", fmt(e, "%s/Shape", stem), 1, qk); /* [B, heads, S, S] */
    const char *bias = NULL;
    if (e->a.c2p) {
        const char *raw = op(e, "MatMul", fmt(e, "%s/c2p_MatMul", stem), 2, q, relative_projection_init(e, g, QF_LAYER_ATTN_K, s));
        const char *at = op(e, "Expand", fmt(e, "%s/c2p_Expand", stem), 2, index, full);
        const char *c2p = op(e, "GatherElements", fmt(e, "%s/c2p_Gather", stem), 2, raw, at);
        attr_int(e, "axis", 3);
        bias = op(e, "Div", fmt(e, "%s/c2p_Div", stem), 2, c2p, scale);
    }
    if (e->a.p2c) {
        const char *ks = op(e, "Transpose", fmt(e, "%s/k_Transpose", stem), 1, k); /* [B, heads, S, d] */
        attr_ints(e, "perm", (const int64_t[]){0, 1, 3, 2}, 4);
        const char *raw = op(e, "MatMul", fmt(e, "%s/p2c_MatMul", stem), 2, ks, relative_projection_init(e, g, QF_LAYER_ATTN_Q, s));
        const char *it = op(e, "Transpose", fmt(e, "%s/index_Transpose", stem), 1, index); /* [key, query] */
        attr_ints(e, "perm", (const int64_t[]){1, 0}, 2);
        const char *at = op(e, "Expand", fmt(e, "%s/p2c_Expand", stem), 2, it, full);
        const char *p2c = op(e, "GatherElements", fmt(e, "%s/p2c_Gather", stem), 2, raw, at); /* [B, heads, j, i] */
        attr_int(e, "axis", 3);
        const char *pt = op(e, "Transpose", fmt(e, "%s/p2c_Transpose", stem), 1, p2c);
        attr_ints(e, "perm", (const int64_t[]){0, 1, 3, 2}, 4);
        const char *div = op(e, "Div", fmt(e, "%s/p2c_Div", stem), 2, pt, scale);
        bias = bias ? op(e, "Add", fmt(e, "%s/Add", stem), 2, bias, div) : div;
    }
    return bias;
}

static const char *heads(ex *e, const char *x, const char *stem, int64_t perm3)
{
    const int64_t nh = e->a.num_heads, d = e->a.hidden_size / e->a.num_heads;
    const int64_t shape[4] = {0, 0, nh, d};
    const char *r = op(e, "Reshape", fmt(e, "%s/Reshape", stem), 2, x, ints_i64(e, "const.shape_heads", shape, 4));
    const int64_t perm[4] = {0, 2, perm3 == 3 ? 3 : 1, perm3 == 3 ? 1 : 3};
    const char *t = op(e, "Transpose", fmt(e, "%s/Transpose", stem), 1, r);
    attr_ints(e, "perm", perm, 4);
    return t;
}

static const char *layer(ex *e, int64_t l, const char *x, const char *mask, const char *bias, qf_status *s)
{
    char p[64];
/* STEM: a node name under the layer; SLOT: a canonical slot of the layer (model.h), naming its
 * nodes; WEIGHTS: that slot's stored weights (layers sharing weights, ALBERT, name the group's) */
#define STEM(part) (snprintf(p, sizeof p, "layers.%lld.%s", (long long)l, part), fmt(e, "%s", p))
#define SLOT(slot) STEM(qf_layer_slot_name(slot))
#define WEIGHTS(slot) fmt(e, "layers.%lld.%s", (long long)qf_arch_layer_weights(&e->a, l), qf_layer_slot_name(slot))
#define LINEAR(in, slot) linear_at(e, in, WEIGHTS(slot), SLOT(slot), s)
    const char *q = heads(e, LINEAR(x, QF_LAYER_ATTN_Q), SLOT(QF_LAYER_ATTN_Q), 1);
    const char *k = heads(e, LINEAR(x, QF_LAYER_ATTN_K), SLOT(QF_LAYER_ATTN_K), 3); /* [B, N, d, S] */
    const char *v = heads(e, LINEAR(x, QF_LAYER_ATTN_V), SLOT(QF_LAYER_ATTN_V), 1);
    const double d = (double)(e->a.hidden_size / e->a.num_heads);
    const char *qk = op(e, "MatMul", STEM("attn/MatMul"), 2, q, k);
    /* DeBERTa divides by sqrt(d * factor) (in float32, as torch computes it); the others by sqrt(d) */
    const char *scale = e->a.score_scale_factor == 1
                            ? scalar_f32(e, fmt(e, "const.sqrt_head_dim"), (float)sqrt(d))
                            : scalar_f32(e, "const.sqrt_head_dim_factor",
                                         sqrtf((float)d * (float)e->a.score_scale_factor));
    const char *sc = op(e, "Div", STEM("attn/Div"), 2, qk, scale);
    if (e->a.desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && bias)
        sc = op(e, "Add", STEM("attn/disentangled_bias"), 2, sc, disentangled_bias(e, l, q, k, qk, bias, scale, s));
    else if (bias)
        sc = op(e, "Add", STEM("attn/relative_bias"), 2, sc, bias);
    const char *masked = op(e, "Add", STEM("attn/Add"), 2, sc, mask);
    const char *probs = op(e, "Softmax", STEM("attn/Softmax"), 1, masked);
    attr_int(e, "axis", -1);
    const char *ctx = op(e, "MatMul", STEM("attn/MatMul_1"), 2, probs, v);
    const char *ct = op(e, "Transpose", STEM("attn/Transpose"), 1, ctx);
    attr_ints(e, "perm", (const int64_t[]){0, 2, 1, 3}, 4);
    const int64_t merged[3] = {0, 0, e->a.hidden_size};
    const char *cr = op(e, "Reshape", STEM("attn/Reshape"), 2, ct, ints_i64(e, "const.shape_merged", merged, 3));
    const char *o = LINEAR(cr, QF_LAYER_ATTN_OUT);
    const char *h = layer_norm_at(e, op(e, "Add", STEM("attn/residual"), 2, o, x), WEIGHTS(QF_LAYER_ATTN_NORM),
                                  SLOT(QF_LAYER_ATTN_NORM), s);
    const char *up = LINEAR(h, QF_LAYER_FFN_UP);
    const char *act = activation(e, up, e->a.activation, STEM("ffn"));
    const char *down = LINEAR(act, QF_LAYER_FFN_DOWN);
    const char *out = layer_norm_at(e, op(e, "Add", STEM("ffn/residual"), 2, down, h), WEIGHTS(QF_LAYER_FFN_NORM),
                                    SLOT(QF_LAYER_FFN_NORM), s);
#undef LINEAR
#undef WEIGHTS
#undef SLOT
#undef STEM
    return out;
}

static const char *head(ex *e, const char *x, qf_status *s)
{
    const char *first = op(e, "Gather", "head/first_token", 2, x, scalar_i64(e, "const.zero", 0));
    attr_int(e, "axis", 1);
    /* the family's dense layer (BERT's pooler, the others' head.dense) and its activation */
    const qf_family *fam = e->a.desc;
    const char *h = activation(e, linear(e, first, fam->head_dense, s), e->a.head_activation, fam->head_dense);
    return linear(e, h, QF_SLOT_HEAD_OUT, s);
}

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                       */

/* A graph input or output: a tensor of `elem` with dims given as names (dim_param) or values. */
static Onnx__ValueInfoProto *value_info(ex *e, const char *name, int32_t elem, const char *d0, const char *d1,
                                        int64_t d2)
{
    Onnx__ValueInfoProto *v = alloc(e, sizeof *v);
    Onnx__TypeProto *t = alloc(e, sizeof *t);
    Onnx__TypeProto__Tensor *tt = alloc(e, sizeof *tt);
    Onnx__TensorShapeProto *sh = alloc(e, sizeof *sh);
    size_t rank = d2 > 0 ? 3 : 2;
    Onnx__TensorShapeProto__Dimension **dims = alloc(e, rank * sizeof *dims);
    if (!v || !t || !tt || !sh || !dims) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (size_t i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = alloc(e, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0 || (i == 1 && d1)) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = (char *)(i == 0 ? d0 : d1);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = i == 2 ? d2 : e->a.num_labels;
        }
        dims[i] = d;
    }
    sh->dim = dims;
    sh->n_dim = rank;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->name = (char *)name;
    v->type = t;
    return v;
}

static Onnx__StringStringEntryProto *meta_entry(ex *e, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *p = alloc(e, sizeof *p);
    if (!p) return NULL;
    onnx__string_string_entry_proto__init(p);
    p->key = (char *)key;
    p->value = (char *)value;
    return p;
}

static const char *mode_text(qf_onnx_export_mode m)
{
    switch (m) {
    case QF_ONNX_EXPORT_MODE_FP32: return "fp32";
    case QF_ONNX_EXPORT_MODE_DYNAMIC:
        return "dynamic: int8 symmetric weights (per output channel unless per-tensor), uint8 activations at run time "
               "(DynamicQuantizeLinear -> MatMulInteger)";
    case QF_ONNX_EXPORT_MODE_STATIC:
        return "static QDQ: int8 symmetric activations (calibrated scales), int8 per-channel weights "
               "(DequantizeLinear)";
    default: return "?";
    }
}

/* A float [batch, n] graph output. */
static Onnx__ValueInfoProto *value_info_rows(ex *e, const char *name, int64_t n)
{
    Onnx__ValueInfoProto *v = value_info(e, name, QF_ONNX_FLOAT, "batch", NULL, 0);
    if (v) v->type->tensor_type->shape->dim[1]->dim_value = n; /* value_info sizes it num_labels */
    return v;
}

/* An FP32 [in, out] MatMul of x by the model's [out, in] tensor `wname` (a Dense module's). */
static const char *dense_matmul(ex *e, const char *x, const char *wname, const char *node, qf_status *s)
{
    const qf_tensor *w = find(e, wname, s);
    const float *v = w && w->rank == 2 ? as_f32(e, w, s) : NULL;
    if (!v) return NULL;
    const int64_t rows = w->shape[0], cols = w->shape[1], dims[2] = {cols, rows};
    float *wt = alloc(e, (size_t)rows * (size_t)cols * sizeof *wt);
    if (!wt) return NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) wt[c * rows + r] = v[r * cols + c];
    const char *W = init(e, w->name, QF_ONNX_FLOAT, dims, 2, wt, (size_t)rows * (size_t)cols * sizeof *wt, false);
    return op(e, "MatMul", node, 2, x, W);
}

/* The sentence-transformers Dense modules the model records (pipeline.dense, readers/
 * sentence_pipeline.c), FP32, on the pooled [batch, hidden] y: MatMul, Add of the bias, the
 * activation (GELU as 0.5 x (1 + erf(x / sqrt 2)), torch.nn.GELU's exact form), the residual.
 * *width becomes the last module's out_features. */
static const char *sentence_dense(ex *e, const char *y, int64_t *width, qf_status *s)
{
    const char *count = qf_model_get_meta(e->m, "pipeline.dense");
    char *end = NULL;
    long n = count ? strtol(count, &end, 10) : 0;
    if (count && (end == count || *end || n < 1 || n > QF_MAX_SENTENCE_DENSE)) {
        *s = qf_error_set(e->err, QF_STATUS_FORMAT, e->path, NULL, -1, "pipeline.dense",
                          "pipeline.dense is not a count of Dense modules");
        qf_error_expected(e->err, "1..%d", QF_MAX_SENTENCE_DENSE);
        return NULL;
    }
    for (long k = 0; y && !*s && k < n; k++) {
        const char *x = y, *stem = fmt(e, "dense.%ld", k);
        const char *wname = fmt(e, "pipeline.dense.%ld.linear.weight", k), *bname = fmt(e, "pipeline.dense.%ld.linear.bias", k);
        const qf_tensor *w = wname ? find(e, wname, s) : NULL;
        if (!w || !stem) return NULL;
        y = dense_matmul(e, x, wname, fmt(e, "%s/MatMul", stem), s);
        if (y && qf_model_find(e->m, bname, NULL)) y = op(e, "Add", fmt(e, "%s/Add", stem), 2, y, float_init(e, bname, s));
        const char *act = qf_model_get_meta(e->m, fmt(e, "pipeline.dense.%ld.activation", k));
        if (!act) act = "";
        if (strcmp(act, "tanh") == 0) y = op(e, "Tanh", fmt(e, "%s/Tanh", stem), 1, y);
        else if (strcmp(act, "relu") == 0) y = op(e, "Relu", fmt(e, "%s/Relu", stem), 1, y);
        else if (strcmp(act, "sigmoid") == 0) y = op(e, "Sigmoid", fmt(e, "%s/Sigmoid", stem), 1, y);
        else if (strcmp(act, "silu") == 0) y = op(e, "Mul", fmt(e, "%s/SiLU", stem), 2, y, op(e, "Sigmoid", fmt(e, "%s/SiLU_sigmoid", stem), 1, y));
        else if (strcmp(act, "gelu") == 0) {
            const char *r = op(e, "Div", fmt(e, "%s/gelu_div", stem), 2, y, scalar_f32(e, "const.sqrt2", 1.4142135623730951f));
            const char *one = op(e, "Add", fmt(e, "%s/gelu_add", stem), 2, op(e, "Erf", fmt(e, "%s/gelu_erf", stem), 1, r),
                                 scalar_f32(e, "const.one", 1.0f));
            y = op(e, "Mul", fmt(e, "%s/gelu_mul_half", stem), 2, op(e, "Mul", fmt(e, "%s/gelu_mul", stem), 2, y, one),
                   scalar_f32(e, "const.half", 0.5f));
        } else if (strcmp(act, "identity") != 0) {
            *s = qf_error_set(e->err, QF_STATUS_UNSUPPORTED, e->path, NULL, -1, "pipeline.dense",
                              "Dense module %ld has an activation the ONNX export does not compute", k);
            return NULL;
        }
        const char *res = qf_model_get_meta(e->m, fmt(e, "pipeline.dense.%ld.residual", k));
        if (y && res && strcmp(res, "true") == 0) {
            const char *rname = fmt(e, "pipeline.dense.%ld.residual.weight", k);
            const char *r = qf_model_find(e->m, rname, NULL) ? dense_matmul(e, x, rname, fmt(e, "%s/residual", stem), s) : x;
            y = op(e, "Add", fmt(e, "%s/residual_add", stem), 2, y, r);
        }
        *width = w->shape[0];
    }
    return y;
}

/* The sentence-transformers pipeline the model records (pipeline.* metadata, readers/
 * sentence_pipeline.c), computed inside the graph as sentence_transformers.models.Pooling and
 * Dense and Normalize do: the output "sentence_embedding" [batch, *width]. NULL (and *s untouched) when the
 * model records no pipeline; UNSUPPORTED for a pipeline qforge does not compute. */
static const char *sentence_embedding(ex *e, const char *x, int64_t *width, qf_status *s)
{
    *width = e->a.hidden_size;
    const char *mode = qf_model_get_meta(e->m, "pipeline.pooling");
    const char *unsupported = qf_model_get_meta(e->m, "pipeline.unsupported");
    if (!mode && !unsupported) return NULL;
    if (unsupported || !(strcmp(mode, "mean") == 0 || strcmp(mode, "cls") == 0 || strcmp(mode, "max") == 0 ||
                         strcmp(mode, "mean_sqrt_len_tokens") == 0 || strcmp(mode, "weightedmean") == 0)) {
        qf_error_set(e->err, QF_STATUS_UNSUPPORTED, e->path, NULL, -1, "pipeline",
                     "the model's sentence-transformers pipeline has %s, which the ONNX export does not compute",
                     unsupported ? unsupported : mode);
        qf_error_expected(e->err, "a Pooling module (mean, cls, max, mean_sqrt_len_tokens, weightedmean) and Normalize");
        *s = QF_STATUS_UNSUPPORTED;
        return NULL;
    }
    /* include_prompt false: the pooling leaves out as many leading tokens as the prompt the caller
     * prepended has, which the graph's inputs do not tell */
    const char *include = qf_model_get_meta(e->m, "pipeline.include_prompt");
    bool prompted = false; /* sentence-transformers 6 saves empty "query" and "document" prompts */
    for (int k = 0; k < QF_MAX_SENTENCE_PROMPTS && !prompted; k++) {
        const char *text = qf_model_get_meta(e->m, fmt(e, "pipeline.prompt.%d.text", k));
        if (!text) break;
        prompted = text[0] != '\0';
    }
    /* include_prompt false: the pooling leaves out the first prompt_length tokens of every row, an
     * int64 scalar input the caller feeds with its prompt's length (sentence-transformers'
     * prompt_length: the prompt tokenized alone, less a trailing special token; 0 without a
     * prompt). The pooled mask is attention_mask from there on, 0 before. */
    const char *pool_mask = "attention_mask", *positions = NULL;
    if (include && strcmp(include, "false") == 0 && prompted) {
        e->prompt_length = true;
        const char *shape = op(e, "Shape", "pooling/mask_shape", 1, "attention_mask");
        const char *len = op(e, "Gather", "pooling/sequence_length", 2, shape, scalar_i64(e, "const.index_one", 1));
        attr_int(e, "axis", 0);
        positions = op(e, "Range", "pooling/position", 3, scalar_i64(e, "const.zero", 0), len,
                       scalar_i64(e, "const.index_one", 1));
        const char *after = op(e, "GreaterOrEqual", "pooling/after_prompt", 2, positions, "prompt_length");
        const char *after64 = op(e, "Cast", "pooling/after_prompt_cast", 1, after);
        attr_int(e, "to", QF_ONNX_INT64);
        pool_mask = op(e, "Mul", "pooling/prompt_mask", 2, "attention_mask", after64);
    }
    const char *y;
    if (strcmp(mode, "cls") == 0 && positions) {
        /* the first pooled token, as sentence-transformers' argmax of the mask: one-hot of it, summed */
        const char *mf = op(e, "Cast", "pooling/cls_mask_cast", 1, pool_mask);
        attr_int(e, "to", QF_ONNX_FLOAT);
        const char *first = op(e, "ArgMax", "pooling/cls_first", 1, mf);
        attr_int(e, "axis", 1);
        attr_int(e, "keepdims", 1);
        const char *hot = op(e, "Cast", "pooling/cls_onehot", 1, op(e, "Equal", "pooling/cls_at", 2, positions, first));
        attr_int(e, "to", QF_ONNX_FLOAT);
        hot = op(e, "Unsqueeze", "pooling/cls_onehot_unsqueeze", 2, hot, ints_i64(e, "const.axes_2", (const int64_t[]){2}, 1));
        y = op(e, "ReduceSum", "pooling/cls", 2, op(e, "Mul", "pooling/cls_pick", 2, x, hot),
               ints_i64(e, "const.axes_1", (const int64_t[]){1}, 1));
        attr_int(e, "keepdims", 0);
    } else if (strcmp(mode, "cls") == 0) {
        y = op(e, "Gather", "pooling/cls", 2, x, scalar_i64(e, "const.zero", 0));
        attr_int(e, "axis", 1);
    } else {
        /* the mask as float [batch, sequence, 1] */
        const char *u = op(e, "Unsqueeze", "pooling/mask_unsqueeze", 2, pool_mask,
                           ints_i64(e, "const.axes_2", (const int64_t[]){2}, 1));
        const char *m = op(e, "Cast", "pooling/mask_cast", 1, u);
        attr_int(e, "to", QF_ONNX_FLOAT);
        const char *axis1 = ints_i64(e, "const.axes_1", (const int64_t[]){1}, 1);
        if (strcmp(mode, "max") == 0) {
            /* padding gets -1e9 before the max, as sentence-transformers sets it */
            const char *pad = op(e, "Sub", "pooling/pad", 2, scalar_f32(e, "const.one", 1.0f), m);
            const char *low = op(e, "Mul", "pooling/pad_low", 2, pad, scalar_f32(e, "const.minus_1e9", -1e9f));
            const char *masked = op(e, "Add", "pooling/masked", 2, op(e, "Mul", "pooling/keep", 2, x, m), low);
            y = op(e, "ReduceMax", "pooling/max", 1, masked);
            attr_ints(e, "axes", (const int64_t[]){1}, 1);
            attr_int(e, "keepdims", 0);
        } else {
            /* weightedmean: real token i (from 1) weighs i, the running count of the mask */
            const char *w = m;
            if (strcmp(mode, "weightedmean") == 0) {
                const char *pos = op(e, "CumSum", "pooling/positions", 2, m, scalar_i64(e, "const.index_one", 1));
                w = op(e, "Mul", "pooling/weights", 2, pos, m);
            }
            const char *num = op(e, "ReduceSum", "pooling/sum", 2, op(e, "Mul", "pooling/weighted", 2, x, w), axis1);
            attr_int(e, "keepdims", 0);
            const char *den = op(e, "ReduceSum", "pooling/count", 2, w, axis1);
            attr_int(e, "keepdims", 0);
            den = op(e, "Max", "pooling/count_clamp", 2, den, scalar_f32(e, "const.eps_1e-9", 1e-9f));
            if (strcmp(mode, "mean_sqrt_len_tokens") == 0) den = op(e, "Sqrt", "pooling/sqrt_len", 1, den);
            y = op(e, "Div", "pooling/mean", 2, num, den);
        }
    }
    y = sentence_dense(e, y, width, s);
    const char *norm = qf_model_get_meta(e->m, "pipeline.normalize");
    if (y && norm && strcmp(norm, "true") == 0) {
        const char *l2 = op(e, "ReduceL2", "normalize/l2", 1, y);
        attr_ints(e, "axes", (const int64_t[]){-1}, 1);
        attr_int(e, "keepdims", 1);
        l2 = op(e, "Max", "normalize/clamp", 2, l2, scalar_f32(e, "const.eps_1e-12", 1e-12f));
        y = op(e, "Div", "normalize/div", 2, y, l2);
    }
    return y;
}

static qf_status build_and_write(ex *e, const qf_onnx_export_params *p)
{
    qf_status s = QF_STATUS_OK;
    const qf_arch *a = &e->a;
    const char *mask = additive_mask(e);
    const char *x = embeddings(e, &s);
    /* MPNet: the bias itself; DeBERTa: the relative index its layers gather their bias with */
    const char *bias = a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS ? relative_bias(e, &s)
                       : a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && a->relative_attention
                           ? disentangled_index(e)
                           : NULL;
    for (int64_t l = 0; !s && l < a->num_layers; l++) x = layer(e, l, x, mask, bias, &s);
    /* sequence classification: logits [batch, labels]; token classification: logits [batch,
     * sequence, labels]; question answering: start_logits and end_logits [batch, sequence] (the
     * two columns of head.out), named as Hugging Face Optimum names them */
    const char *logits = NULL, *start = NULL, *end = NULL;
    if (!s && a->head == QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) logits = head(e, x, &s);
    if (!s && a->head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION) logits = linear(e, x, QF_SLOT_HEAD_OUT, &s);
    if (!s && a->head == QF_ARCH_HEAD_QUESTION_ANSWERING) {
        const char *se = linear(e, x, QF_SLOT_HEAD_OUT, &s);
        start = op(e, "Gather", "head/start", 2, se, scalar_i64(e, "const.zero", 0));
        attr_int(e, "axis", 2);
        end = op(e, "Gather", "head/end", 2, se, scalar_i64(e, "const.index_one", 1));
        attr_int(e, "axis", 2);
    }
    int64_t sentence_width = a->hidden_size;
    const char *sentence = !s ? sentence_embedding(e, x, &sentence_width, &s) : NULL;
    if (s) return s;
    if (e->oom) return fail_oom(e);
    if (e->mode == QF_ONNX_EXPORT_MODE_DYNAMIC && e->int8_linears == 0) {
        qf_error_set(e->err, QF_STATUS_INVALID_ARGUMENT, e->path, NULL, -1, NULL,
                     "dynamic ONNX export: no linear layer or word embedding of the model is int8");
        qf_error_expected(e->err, "a model from qf_model_quantize_dynamic (qforge quantize --mode dynamic)");
        qf_error_found(e->err, "every weight floating-point");
        return QF_STATUS_INVALID_ARGUMENT;
    }
    if (e->mode == QF_ONNX_EXPORT_MODE_STATIC && e->int8_linears == 0) {
        qf_error_set(e->err, QF_STATUS_INVALID_ARGUMENT, e->path, NULL, -1, NULL,
                     "static ONNX export: no projection has an int8 weight and a calibrated input scale");
        qf_error_expected(e->err, "int8 '<stem>.weight' with '<stem>.input::scale' (qforge quantize --mode static)");
        qf_error_found(e->err, "none");
        return QF_STATUS_INVALID_ARGUMENT;
    }
    /* graph outputs take the final values' names through Identity nodes */
    Onnx__ValueInfoProto *outs[4];
    size_t n_out = 0;
    if (logits) {
        op(e, "Identity", "logits", 1, logits);
        if (e->last && !e->oom) e->last->output[0] = "logits";
        outs[n_out++] = a->head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION
                            ? value_info(e, "logits", QF_ONNX_FLOAT, "batch", "sequence", a->num_labels)
                            : value_info(e, "logits", QF_ONNX_FLOAT, "batch", NULL, 0);
    }
    for (int k = 0; start && k < 2; k++) {
        const char *name = k ? "end_logits" : "start_logits";
        op(e, "Identity", name, 1, k ? end : start);
        if (e->last && !e->oom) e->last->output[0] = (char *)name;
        outs[n_out++] = value_info(e, name, QF_ONNX_FLOAT, "batch", "sequence", 0);
    }
    if (sentence) {
        op(e, "Identity", "sentence_embedding", 1, sentence);
        if (e->last && !e->oom) e->last->output[0] = "sentence_embedding";
        outs[n_out++] = value_info_rows(e, "sentence_embedding", sentence_width);
    }
    if (p->last_hidden_state || (!logits && !start)) {
        op(e, "Identity", "last_hidden_state", 1, x);
        if (e->last && !e->oom) e->last->output[0] = "last_hidden_state";
        outs[n_out++] = value_info(e, "last_hidden_state", QF_ONNX_FLOAT, "batch", "sequence", a->hidden_size);
    }
    Onnx__ValueInfoProto *ins[4];
    size_t n_in = 0;
    ins[n_in++] = value_info(e, "input_ids", QF_ONNX_INT64, "batch", "sequence", 0);
    ins[n_in++] = value_info(e, "attention_mask", QF_ONNX_INT64, "batch", "sequence", 0);
    if (a->type_vocab_size > 1) ins[n_in++] = value_info(e, "token_type_ids", QF_ONNX_INT64, "batch", "sequence", 0);
    if (e->prompt_length) { /* an int64 scalar */
        Onnx__ValueInfoProto *v = ins[n_in++] = value_info(e, "prompt_length", QF_ONNX_INT64, "batch", NULL, 0);
        if (v) v->type->tensor_type->shape->n_dim = 0;
    }

    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = (char *)qf_arch_family_name(a->family);
    g.node = e->nodes;
    g.n_node = e->n_nodes;
    g.initializer = e->inits;
    g.n_initializer = e->n_inits;
    g.input = ins;
    g.n_input = n_in;
    g.output = outs;
    g.n_output = n_out;

    Onnx__OperatorSetIdProto opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 17;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};

    Onnx__StringStringEntryProto *meta[6];
    size_t n_meta = 0;
    const char *sha = qf_model_get_meta(e->m, "source.sha256");
    meta[n_meta++] = meta_entry(e, "qforge.version", QF_VERSION_STRING);
    meta[n_meta++] = meta_entry(e, "qforge.export", mode_text(e->mode));
    meta[n_meta++] = meta_entry(e, "qforge.family", qf_arch_family_name(a->family));
    if (sha) meta[n_meta++] = meta_entry(e, "qforge.source_sha256", sha);
    if (p->command_line) meta[n_meta++] = meta_entry(e, "qforge.command", p->command_line);

    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    mp.opset_import = opsets;
    mp.n_opset_import = 1;
    mp.producer_name = "qforge";
    mp.producer_version = QF_VERSION_STRING;
    mp.graph = &g;
    mp.metadata_props = meta;
    mp.n_metadata_props = n_meta;
    if (e->oom) return fail_oom(e);
    for (size_t i = 0; i < n_in; i++)
        if (!ins[i]) return fail_oom(e);
    for (size_t i = 0; i < n_out; i++)
        if (!outs[i]) return fail_oom(e);
    for (size_t i = 0; i < n_meta; i++)
        if (!meta[i]) return fail_oom(e);
    /* the graph built here must be valid ONNX: a fault is qforge's, and nothing is written */
    qf_status cs = qf_onnx_graph_check(&g, false, e->path, "exported graph", e->err);
    if (cs == QF_STATUS_FORMAT) {
        if (e->err) e->err->code = QF_STATUS_INTERNAL;
        return QF_STATUS_INTERNAL;
    }
    if (cs) return cs;
    return qf_onnx_proto_write(&mp, e->path, e->err);
}

qf_status qf_onnx_export(const qf_model *m, const char *path, const qf_onnx_export_params *params, qf_error *err)
{
    qf_onnx_export_params d = qf_onnx_export_params_default();
    if (!params) params = &d;
    if (!m || !path)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "qf_onnx_export: %s is NULL",
                            m ? "path" : "model");
    if ((unsigned)params->mode >= QF_ONNX_EXPORT_MODE_COUNT_) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "qf_onnx_export: unknown mode %d",
                     (int)params->mode);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    qf_status s = qf_model_check_in_memory(m, path, "the ONNX export", err);
    if (s) return s;
    ex e;
    memset(&e, 0, sizeof e);
    e.path = path;
    e.err = err;
    e.m = m;
    e.mode = params->mode;
    s = qf_arch_of(m, &e.a, err);
    if (s) return s;
    if (e.a.num_heads <= 0 || e.a.hidden_size % e.a.num_heads != 0) {
        qf_error_set(err, QF_STATUS_SHAPE, path, NULL, -1, "num_attention_heads",
                     "hidden size %lld is not a multiple of %lld heads", (long long)e.a.hidden_size,
                     (long long)e.a.num_heads);
        return QF_STATUS_SHAPE;
    }
    s = build_and_write(&e, params);
    qf_onnx_arena_free(&e.mem);
    free(e.nodes);
    free(e.inits);
    free(e.dq);
    return s;
}
