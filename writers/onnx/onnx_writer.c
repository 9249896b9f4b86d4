/*
 * writers/onnx/onnx_writer.c — quantized ONNX graphs. The source ONNX file is unpacked again
 * through the protobuf adapter (protobuf/onnx_proto.c); the int8 weights come from a quantized
 * qf_model read from that same file (each quantized tensor's source_name is the initializer it
 * replaces, stored [out, in] as the reader's layout rule made it). Two forms (include/qforge/writers.h):
 *
 *   dynamic: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales), ONNX Runtime's
 *            quantize_dynamic form and naming (X_quantized, W_quantized, W_scale, ..._quant,
 *            ..._output_quantized_cast, ..._scales_mul); word-embedding Gathers read int8 rows;
 *   static:  QuantizeLinear -> DequantizeLinear on chosen activations, int8 weights followed by a
 *            per-channel DequantizeLinear (QDQ).
 *
 * The rewritten graph shares every untouched message with the unpacked source: new nodes and
 * initializers live in an arena, the graph's node / initializer / metadata arrays are swapped in
 * for packing and restored before the source is freed.
 *
 * Names: the forms above are the names used when the source has none of them; every generated node
 * and value name is made unique against every name of the source graph (subgraphs included) and
 * against the names generated before it (qf_onnx_names_unique: "x_scale_1" when the source already
 * has "x_scale"), and each is generated once and remembered per activation and per weight. A
 * replaced weight's FP32 initializer stays when anything else still reads it: a node that is not
 * rewritten, a subgraph, a graph output; a graph input that only listed it as its default goes with
 * it, and source initializers nothing reads are dropped. The source graph is
 * checked before the rewrite (qf_onnx_graph_check, its faults reported as the source's) and the
 * rewritten one before it is written: nothing reaches the output path unless it passes.
 */
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf/onnx_proto.h"
#include "qforge/writers.h"
#include "writers/onnx/onnx_arena.h"
#include "writers/onnx/onnx_graph.h"

qf_onnx_write_params qf_onnx_write_params_default(void)
{
    qf_onnx_write_params p;
    memset(&p, 0, sizeof p);
    return p;
}

qf_onnx_static_params qf_onnx_static_params_default(void)
{
    qf_onnx_static_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Arena and growable arrays                                                                   */


typedef struct ptr_list {
    void **p;
    size_t n, cap;
} ptr_list;

static bool list_push(ptr_list *l, void *v)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        void **p = realloc(l->p, nc * sizeof *p);
        if (!p) return false;
        l->p = p;
        l->cap = nc;
    }
    l->p[l->n++] = v;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer state                                                                                */

typedef struct act_q {
    const char *value;  /* activation name */
    float scale;        /* static: its scale */
    const char *q, *s, *z; /* dynamic: DynamicQuantizeLinear outputs; static: s, z initializers */
    const char *dq;     /* static: the DequantizeLinear output the projections read */
} act_q;

/* What was emitted for one source initializer (NULL: not yet). */
typedef struct wt {
    const char *q[2];      /* int8 weight as [out, in] (0: Gather, Gemm transB = 1 in QDQ) and [in, out] (1) */
    const char *s, *z;     /* scale, zero point initializers */
    const char *dq[2];     /* static: the DequantizeLinear output of q[k] */
} wt;

typedef struct wr {
    const char *path;      /* output, for errors */
    const char *src_path;  /* source ONNX */
    qf_error *err;
    Onnx__ModelProto *mp;
    Onnx__GraphProto *g;
    qf_onnx_uses uses;
    const qf_model *q;
    qf_onnx_arena a;
    ptr_list nodes, inits, files;
    size_t *rewritten;     /* per source initializer: uses replaced */
    wt *wts;               /* per source initializer: its quantized form */
    qf_onnx_names names;   /* every name of the source and every name generated */
    act_q *acts;
    size_t n_acts;
    int64_t opset;
    const char *axes_last; /* Unsqueeze axes initializer (opset >= 13), once */
    size_t quantized_nodes;
} wr;

static qf_status oom(wr *w) { return qf_error_set(w->err, QF_STATUS_NO_MEMORY, w->path, NULL, -1, NULL, "out of memory"); }

/* A generated name: the printf form, made unique against the graph's names and earlier ones. */
static const char *gen(wr *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const char *gen(wr *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *base = qf_onnx_arena_vfmt(&w->a, fmt, ap);
    va_end(ap);
    return base ? qf_onnx_names_unique(&w->names, &w->a, base) : NULL;
}

static Onnx__NodeProto *mk_node(wr *w, const char *op, const char *name, const char *const *in, size_t nin,
                                const char *const *out, size_t nout)
{
    Onnx__NodeProto *n = qf_onnx_arena_alloc(&w->a, sizeof *n);
    char **ins = qf_onnx_arena_alloc(&w->a, nin * sizeof *ins), **outs = qf_onnx_arena_alloc(&w->a, nout * sizeof *outs);
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    for (size_t i = 0; i < nin; i++) ins[i] = (char *)in[i];
    for (size_t i = 0; i < nout; i++) outs[i] = (char *)out[i];
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->input = ins;
    n->n_input = nin;
    n->output = outs;
    n->n_output = nout;
    return list_push(&w->nodes, n) ? n : NULL;
}

static bool node_attr_int(wr *w, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = qf_onnx_arena_alloc(&w->a, sizeof *a);
    Onnx__AttributeProto **arr = qf_onnx_arena_alloc(&w->a, (n->n_attribute + 1) * sizeof *arr);
    if (!a || !arr) return false;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    for (size_t i = 0; i < n->n_attribute; i++) arr[i] = n->attribute[i];
    arr[n->n_attribute] = a;
    n->attribute = arr;
    n->n_attribute++;
    return true;
}

static bool node_attr_ints(wr *w, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = qf_onnx_arena_alloc(&w->a, sizeof *a);
    Onnx__AttributeProto **arr = qf_onnx_arena_alloc(&w->a, sizeof *arr);
    int64_t *ints = qf_onnx_arena_alloc(&w->a, sizeof *ints);
    if (!a || !arr || !ints) return false;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    ints[0] = v;
    a->ints = ints;
    a->n_ints = 1;
    arr[0] = a;
    n->attribute = arr;
    n->n_attribute = 1;
    return true;
}

/* A new initializer; `raw` is copied into the arena (NULL: zeros). */
static Onnx__TensorProto *mk_tensor(wr *w, const char *name, int32_t dtype, const int64_t *dims, size_t ndims,
                                    const void *raw, size_t nbytes)
{
    Onnx__TensorProto *t = qf_onnx_arena_alloc(&w->a, sizeof *t);
    int64_t *d = qf_onnx_arena_alloc(&w->a, (ndims ? ndims : 1) * sizeof *d);
    uint8_t *data = qf_onnx_arena_alloc(&w->a, nbytes);
    if (!t || !d || !data) return NULL;
    onnx__tensor_proto__init(t);
    if (ndims) memcpy(d, dims, ndims * sizeof *d);
    if (raw && nbytes) memcpy(data, raw, nbytes);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = d;
    t->n_dims = ndims;
    t->has_raw_data = 1;
    t->raw_data.data = data;
    t->raw_data.len = nbytes;
    return list_push(&w->inits, t) ? t : NULL;
}

/* The int8 tensor of `q` that replaces initializer `name`, and its scales. */
static const qf_tensor *quantized_for(const wr *w, const char *name, const qf_tensor **scale)
{
    for (size_t i = 0; i < qf_model_tensor_count(w->q); i++) {
        const qf_tensor *t = qf_model_tensor(w->q, i);
        if (!t->source_name || strcmp(t->source_name, name) != 0 || t->dtype != QF_DTYPE_I8 || t->rank != 2) continue;
        if (t->quant.scheme != QF_QUANT_SYMMETRIC_PER_CHANNEL && t->quant.scheme != QF_QUANT_SYMMETRIC_PER_TENSOR)
            continue;
        const qf_tensor *s = t->quant.scale_name ? qf_model_find(w->q, t->quant.scale_name, NULL) : NULL;
        uint64_t want = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR ? 1 : (uint64_t)t->shape[t->quant.axis];
        if (!s || s->dtype != QF_DTYPE_F32 || s->nbytes != want * 4) continue;
        *scale = s;
        return t;
    }
    return NULL;
}

static bool is_default_domain(const Onnx__NodeProto *n) { return !n->domain || !n->domain[0] || strcmp(n->domain, "ai.onnx") == 0; }

/* Emits W_quantized in the layout `in_out` ([in, out]) and W_scale (and W_zero_point when
 * `zero_point`) once per source initializer; a weight read in both layouts (a word embedding that
 * is also the tied output projection) gets one int8 initializer per layout. Names in w->wts[init]. */
static qf_status emit_weight(wr *w, long init, const qf_tensor *qt, const qf_tensor *scale, bool in_out, bool zero_point)
{
    const char *src = w->g->initializer[init]->name;
    wt *e = &w->wts[init];
    bool per_tensor = qt->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR;
    uint64_t n = scale->nbytes / 4;
    int64_t sd[1] = {(int64_t)n};
    if (!e->q[in_out]) {
        uint64_t rows = (uint64_t)qt->shape[0], cols = (uint64_t)qt->shape[1];
        int64_t dims[2] = {in_out ? (int64_t)cols : (int64_t)rows, in_out ? (int64_t)rows : (int64_t)cols};
        const char *qname = gen(w, "%s_quantized", src);
        if (!qname) return oom(w);
        Onnx__TensorProto *t = mk_tensor(w, qname, QF_ONNX_INT8, dims, 2, NULL, (size_t)qt->nbytes);
        if (!t) return oom(w);
        const int8_t *sv = qt->data;
        int8_t *d = (int8_t *)t->raw_data.data;
        if (in_out) {
            for (uint64_t r = 0; r < rows; r++)
                for (uint64_t c = 0; c < cols; c++) d[c * rows + r] = sv[r * cols + c];
        } else {
            memcpy(d, sv, (size_t)qt->nbytes);
        }
        e->q[in_out] = qname;
    }
    if (!e->s) {
        const char *sname = gen(w, "%s_scale", src);
        if (!sname || !mk_tensor(w, sname, QF_ONNX_FLOAT, sd, per_tensor ? 0 : 1, scale->data, (size_t)scale->nbytes))
            return oom(w);
        e->s = sname;
    }
    if (zero_point && !e->z) {
        const char *zname = gen(w, "%s_zero_point", src);
        if (!zname || !mk_tensor(w, zname, QF_ONNX_INT8, sd, per_tensor ? 0 : 1, NULL, (size_t)n)) return oom(w);
        e->z = zname;
    }
    return QF_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Dynamic form                                                                                */

static act_q *act_seen(wr *w, const char *value)
{
    for (size_t i = 0; i < w->n_acts; i++)
        if (strcmp(w->acts[i].value, value) == 0) return &w->acts[i];
    return NULL;
}

static act_q *act_add(wr *w, act_q a)
{
    act_q *p = realloc(w->acts, (w->n_acts + 1) * sizeof *p);
    if (!p) return NULL;
    w->acts = p;
    w->acts[w->n_acts] = a;
    return &w->acts[w->n_acts++];
}

/* Is node `n` a MatMul / Gemm whose weight (input 1) can be replaced; sets the initializer index,
 * the int8 tensor, and whether the ONNX weight is [in, out]. */
static bool projection(wr *w, const Onnx__NodeProto *n, long *init, const qf_tensor **qt, const qf_tensor **scale,
                       bool *in_out)
{
    const char *op = n->op_type ? n->op_type : "";
    if (!is_default_domain(n) || n->n_input < 2 || n->n_output < 1 || !n->input[1]) return false;
    bool gemm = strcmp(op, "Gemm") == 0;
    if (!gemm && strcmp(op, "MatMul") != 0) return false;
    if (gemm && (qf_onnx_attr_float(n, "alpha", 1.0f) != 1.0f || qf_onnx_attr_float(n, "beta", 1.0f) != 1.0f ||
                 qf_onnx_attr_int(n, "transA", 0) != 0))
        return false;
    *init = qf_onnx_find_initializer(w->g, n->input[1]);
    if (*init < 0) return false;
    const Onnx__TensorProto *t = w->g->initializer[*init];
    bool stored_in_out = qf_onnx_weight_is_in_out(w->g, &w->uses, t);
    if (gemm && qf_onnx_attr_int(n, "transB", 0) == 1) {
        if (stored_in_out) return false;
        *in_out = false;
    } else {
        if (!stored_in_out) return false; /* the model did not transpose it: some other reader of it */
        *in_out = true;
    }
    *qt = quantized_for(w, t->name, scale);
    if (!*qt || t->n_dims != 2) return false;
    /* the int8 tensor is [out, in]; the ONNX weight [in, out] (or [out, in] for transB = 1) */
    int64_t out_dim = *in_out ? t->dims[1] : t->dims[0], in_dim = *in_out ? t->dims[0] : t->dims[1];
    return (*qt)->shape[0] == out_dim && (*qt)->shape[1] == in_dim;
}

static qf_status rewrite_matmul_dynamic(wr *w, const Onnx__NodeProto *n, long init, const qf_tensor *qt,
                                        const qf_tensor *scale)
{
    const char *x = n->input[0], *y = n->output[0];
    const char *base = n->name && n->name[0] ? n->name : y;
    bool gemm = strcmp(n->op_type, "Gemm") == 0;
    act_q *act = act_seen(w, x);
    if (!act) {
        act_q a = {x, 0, gen(w, "%s_quantized", x), gen(w, "%s_scale", x), gen(w, "%s_zero_point", x), NULL};
        const char *nm = gen(w, "%s_QuantizeLinear", x);
        if (!a.q || !a.s || !a.z || !nm) return oom(w);
        const char *outs[3] = {a.q, a.s, a.z};
        if (!mk_node(w, "DynamicQuantizeLinear", nm, &x, 1, outs, 3) || !(act = act_add(w, a))) return oom(w);
    }
    qf_status s = emit_weight(w, init, qt, scale, true, true);
    if (s) return s;
    const wt *e = &w->wts[init];
    bool bias = gemm && n->n_input > 2 && n->input[2] && n->input[2][0];
    const char *mi_name = gen(w, "%s_quant", base);
    const char *mi_out = gen(w, "%s_output_quantized", y);
    const char *cast_name = gen(w, "%s_output_quantized_cast", y);
    const char *cast_out = gen(w, "%s_output_quantized_cast_output", y);
    const char *sm_name = gen(w, "%s_quant_scales_mul", base);
    const char *sm_out = gen(w, "%s_quant_scales_mul:0", base);
    const char *om_name = gen(w, "%s_quant_output_scale_mul", base);
    const char *mul_out = bias ? gen(w, "%s_mul_output", y) : y;
    if (!mi_name || !mi_out || !cast_name || !cast_out || !sm_name || !sm_out || !om_name || !mul_out) return oom(w);
    const char *mi_in[4] = {act->q, e->q[1], act->z, e->z};
    const char *sm_in[2] = {act->s, e->s};
    const char *om_in[2] = {cast_out, sm_out};
    Onnx__NodeProto *cast;
    if (!mk_node(w, "MatMulInteger", mi_name, mi_in, 4, &mi_out, 1) ||
        !(cast = mk_node(w, "Cast", cast_name, &mi_out, 1, &cast_out, 1)) || !node_attr_int(w, cast, "to", QF_ONNX_FLOAT) ||
        !mk_node(w, "Mul", sm_name, sm_in, 2, &sm_out, 1) || !mk_node(w, "Mul", om_name, om_in, 2, &mul_out, 1))
        return oom(w);
    if (bias) {
        const char *add_in[2] = {mul_out, n->input[2]};
        const char *add_name = gen(w, "%s_bias_add", base);
        if (!add_name || !mk_node(w, "Add", add_name, add_in, 2, &y, 1)) return oom(w);
    }
    w->rewritten[init]++;
    w->quantized_nodes++;
    return QF_STATUS_OK;
}

/* Gather(E, ids) of a per-row int8 embedding -> Gather(int8) -> Cast -> Mul(Unsqueeze(Gather(scale, ids))). */
static qf_status rewrite_gather(wr *w, const Onnx__NodeProto *n, long init, const qf_tensor *qt, const qf_tensor *scale)
{
    const char *ids = n->input[1], *y = n->output[0];
    const char *base = n->name && n->name[0] ? n->name : y;
    qf_status s = emit_weight(w, init, qt, scale, false, false);
    if (s) return s;
    const wt *e = &w->wts[init];
    const char *g_out = gen(w, "%s_quantized", y), *g_name = gen(w, "%s_quant", base);
    const char *s_out = gen(w, "%s_scale_gathered", y), *s_name = gen(w, "%s_scale_gather", base);
    const char *u_out = gen(w, "%s_scale_unsqueezed", y), *u_name = gen(w, "%s_scale_unsqueeze", base);
    const char *c_out = gen(w, "%s_quantized_cast_output", y), *c_name = gen(w, "%s_quantized_cast", y);
    const char *m_name = gen(w, "%s_dequantize_mul", base);
    if (!g_out || !g_name || !s_out || !s_name || !u_out || !u_name || !c_out || !c_name || !m_name) return oom(w);
    const char *g_in[2] = {e->q[0], ids}, *s_in[2] = {e->s, ids}, *m_in[2] = {c_out, u_out};
    Onnx__NodeProto *cast, *unsq;
    if (!mk_node(w, "Gather", g_name, g_in, 2, &g_out, 1) || !mk_node(w, "Gather", s_name, s_in, 2, &s_out, 1))
        return oom(w);
    if (w->opset >= 13) {
        if (!w->axes_last) {
            int64_t one = 1, minus_one = -1;
            if (!(w->axes_last = gen(w, "qforge_unsqueeze_axes_last")) ||
                !mk_tensor(w, w->axes_last, QF_ONNX_INT64, &one, 1, &minus_one, 8))
                return oom(w);
        }
        const char *u_in[2] = {s_out, w->axes_last};
        if (!(unsq = mk_node(w, "Unsqueeze", u_name, u_in, 2, &u_out, 1))) return oom(w);
    } else if (!(unsq = mk_node(w, "Unsqueeze", u_name, &s_out, 1, &u_out, 1)) || !node_attr_ints(w, unsq, "axes", -1)) {
        return oom(w);
    }
    if (!(cast = mk_node(w, "Cast", c_name, &g_out, 1, &c_out, 1)) || !node_attr_int(w, cast, "to", QF_ONNX_FLOAT) ||
        !mk_node(w, "Mul", m_name, m_in, 2, &y, 1))
        return oom(w);
    w->rewritten[init]++;
    w->quantized_nodes++;
    return QF_STATUS_OK;
}

static bool gather_embedding(wr *w, const Onnx__NodeProto *n, long *init, const qf_tensor **qt, const qf_tensor **scale)
{
    if (!is_default_domain(n) || strcmp(n->op_type ? n->op_type : "", "Gather") != 0 || n->n_input != 2 ||
        n->n_output < 1 || qf_onnx_attr_int(n, "axis", 0) != 0 || !n->input[0])
        return false;
    *init = qf_onnx_find_initializer(w->g, n->input[0]);
    if (*init < 0) return false;
    const Onnx__TensorProto *t = w->g->initializer[*init];
    *qt = quantized_for(w, t->name, scale);
    return *qt && (*qt)->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && (*qt)->quant.axis == 0 && t->n_dims == 2 &&
           t->dims[0] == (*qt)->shape[0] && t->dims[1] == (*qt)->shape[1];
}

/* ------------------------------------------------------------------------------------------ */
/* Static QDQ form                                                                             */

static const qf_onnx_qdq_activation *slot_for(const qf_onnx_static_params *p, const char *weight_name, size_t *index)
{
    size_t wl = strlen(weight_name);
    bool has_suffix = wl > 7 && strcmp(weight_name + wl - 7, ".weight") == 0;
    for (size_t i = 0; i < p->count; i++) {
        const char *s = p->activations[i].slot;
        if (!s) continue;
        if (strcmp(s, weight_name) == 0 || (has_suffix && strlen(s) == wl - 7 && strncmp(s, weight_name, wl - 7) == 0)) {
            *index = i;
            return &p->activations[i];
        }
    }
    return NULL;
}

static qf_status rewrite_matmul_static(wr *w, Onnx__NodeProto *n, long init, const qf_tensor *qt,
                                       const qf_tensor *scale, bool in_out, float act_scale)
{
    const char *x = n->input[0];
    act_q *act = act_seen(w, x);
    if (act) {
        if (act->scale != act_scale) {
            qf_error_set(w->err, QF_STATUS_INVALID_ARGUMENT, w->src_path, NULL, -1, x,
                         "activation '%s' is given two scales by the projections that read it", x);
            qf_error_expected(w->err, "%g", (double)act->scale);
            qf_error_found(w->err, "%g", (double)act_scale);
            return QF_STATUS_INVALID_ARGUMENT;
        }
    } else {
        act_q a = {x, act_scale, NULL, gen(w, "%s_scale", x), gen(w, "%s_zero_point", x), NULL};
        const char *q_out = gen(w, "%s_QuantizeLinear_Output", x);
        a.dq = gen(w, "%s_DequantizeLinear_Output", x);
        const char *q_name = gen(w, "%s_QuantizeLinear", x), *dq_name = gen(w, "%s_DequantizeLinear", x);
        if (!a.s || !a.z || !q_out || !a.dq || !q_name || !dq_name) return oom(w);
        const char *q_in[3] = {x, a.s, a.z}, *dq_in[3] = {q_out, a.s, a.z};
        if (!mk_tensor(w, a.s, QF_ONNX_FLOAT, NULL, 0, &act_scale, 4) || !mk_tensor(w, a.z, QF_ONNX_INT8, NULL, 0, NULL, 1) ||
            !mk_node(w, "QuantizeLinear", q_name, q_in, 3, &q_out, 1) ||
            !mk_node(w, "DequantizeLinear", dq_name, dq_in, 3, &a.dq, 1) || !(act = act_add(w, a)))
            return oom(w);
    }
    qf_status s = emit_weight(w, init, qt, scale, in_out, true);
    if (s) return s;
    wt *e = &w->wts[init];
    if (!e->dq[in_out]) {
        const char *wsrc = w->g->initializer[init]->name;
        const char *wdq_out = gen(w, "%s_DequantizeLinear_Output", wsrc), *wdq_name = gen(w, "%s_DequantizeLinear", wsrc);
        const char *in[3] = {e->q[in_out], e->s, e->z};
        Onnx__NodeProto *dq;
        if (!wdq_out || !wdq_name || !(dq = mk_node(w, "DequantizeLinear", wdq_name, in, 3, &wdq_out, 1))) return oom(w);
        if (qt->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && !node_attr_int(w, dq, "axis", in_out ? 1 : 0))
            return oom(w);
        e->dq[in_out] = wdq_out;
    }
    /* the node itself stays; it reads the dequantized activation and weight */
    Onnx__NodeProto *copy = qf_onnx_arena_alloc(&w->a, sizeof *copy);
    char **ins = qf_onnx_arena_alloc(&w->a, n->n_input * sizeof *ins);
    if (!copy || !ins) return oom(w);
    *copy = *n;
    for (size_t i = 0; i < n->n_input; i++) ins[i] = n->input[i];
    ins[0] = (char *)act->dq;
    ins[1] = (char *)e->dq[in_out];
    copy->input = ins;
    if (!list_push(&w->nodes, copy)) return oom(w);
    w->rewritten[init]++;
    w->quantized_nodes++;
    return QF_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

static void release_files(ptr_list *files)
{
    for (size_t i = 0; i < files->n; i++) qf_file_unmap(files->p[i]);
    free(files->p);
    memset(files, 0, sizeof *files);
}

/* Untouched initializer: carried as it is, or inlined from its external data file. */
static qf_status carry_initializer(wr *w, Onnx__TensorProto *t, const char *dir)
{
    if (!(t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return list_push(&w->inits, t) ? QF_STATUS_OK : oom(w);
    qf_onnx_external e;
    qf_status s = qf_onnx_external_parse(t, w->src_path, -1, &e, w->err);
    qf_file *f = NULL;
    if (!s) s = qf_onnx_external_open(dir, e.location, t->name, w->src_path, -1, &f, w->err);
    if (s) return s;
    if (!list_push(&w->files, f)) {
        qf_file_unmap(f);
        return oom(w);
    }
    uint64_t nbytes = 0, elem = 1;
    qf_dtype dt;
    if (!qf_onnx_dtype_to_qf(t->data_type, &dt))
        return qf_error_set(w->err, QF_STATUS_UNSUPPORTED, w->src_path, NULL, -1, t->name,
                            "external initializer '%s' of type %s", t->name, qf_onnx_dtype_name(t->data_type));
    for (size_t k = 0; k < t->n_dims; k++)
        if (t->dims[k] < 0 || !qf_mul_u64(elem, (uint64_t)t->dims[k], &elem))
            return qf_error_set(w->err, QF_STATUS_OVERFLOW, w->src_path, NULL, -1, t->name, "bad dims");
    if (!qf_mul_u64(elem, qf_dtype_size(dt), &nbytes)) return qf_error_set(w->err, QF_STATUS_OVERFLOW, w->src_path, NULL, -1, t->name, "bad dims");
    uint64_t len = e.has_length ? e.length : nbytes;
    if (len != nbytes || !qf_range_within(e.offset, len, qf_file_size(f)))
        return qf_error_set(w->err, QF_STATUS_SHAPE, w->src_path, NULL, -1, t->name,
                            "external data of '%s' does not match its shape or file", t->name);
    Onnx__TensorProto *c = qf_onnx_arena_alloc(&w->a, sizeof *c);
    if (!c) return oom(w);
    *c = *t;
    c->has_data_location = 0;
    c->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    c->n_external_data = 0;
    c->external_data = NULL;
    c->has_raw_data = 1;
    c->raw_data.data = (uint8_t *)qf_file_data(f) + e.offset;
    c->raw_data.len = (size_t)len;
    return list_push(&w->inits, c) ? QF_STATUS_OK : oom(w);
}

static qf_status build_metadata(wr *w, const char *form, const char *command_line, Onnx__StringStringEntryProto ***out,
                                size_t *n_out)
{
    Onnx__ModelProto *mp = w->mp;
    size_t cap = mp->n_metadata_props + 4, n = 0;
    Onnx__StringStringEntryProto **arr = qf_onnx_arena_alloc(&w->a, cap * sizeof *arr);
    if (!arr) return oom(w);
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (!mp->metadata_props[i]->key || strncmp(mp->metadata_props[i]->key, "qforge.", 7) != 0)
            arr[n++] = mp->metadata_props[i];
    const char *sha = qf_model_get_meta(w->q, "source.sha256");
    const char *kv[4][2] = {{"qforge.version", QF_VERSION_STRING},
                            {"qforge.quantization", form},
                            {"qforge.source_sha256", sha},
                            {"qforge.command", command_line}};
    for (size_t i = 0; i < 4; i++) {
        if (!kv[i][1]) continue;
        Onnx__StringStringEntryProto *e = qf_onnx_arena_alloc(&w->a, sizeof *e);
        if (!e) return oom(w);
        onnx__string_string_entry_proto__init(e);
        e->key = (char *)kv[i][0];
        e->value = (char *)kv[i][1];
        arr[n++] = e;
    }
    *out = arr;
    *n_out = n;
    return QF_STATUS_OK;
}

static qf_status write_quantized(const char *source_onnx, const qf_model *q, const char *path, bool dynamic,
                                 const qf_onnx_static_params *sp, const char *command_line, qf_error *err)
{
    wr w;
    memset(&w, 0, sizeof w);
    w.path = path;
    w.src_path = source_onnx;
    w.err = err;
    w.q = q;
    qf_file *src = NULL;
    qf_status s = qf_model_check_in_memory(q, path, "the ONNX writer", err);
    if (!s) s = qf_file_map(source_onnx, &src, err);
    if (s) return s;
    s = qf_onnx_proto_parse(qf_file_data(src), qf_file_size(src), source_onnx, &w.mp, NULL, err);
    if (!s && !w.mp->graph) s = qf_error_set(err, QF_STATUS_FORMAT, source_onnx, NULL, -1, NULL, "ONNX model has no graph");
    if (!s) {
        w.g = w.mp->graph;
        for (size_t i = 0; i < w.mp->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = w.mp->opset_import[i];
            if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0) w.opset = o->version;
        }
        int64_t need = dynamic ? 11 : 13;
        if (w.opset < need) {
            s = qf_error_set(err, QF_STATUS_UNSUPPORTED, source_onnx, NULL, -1, "opset_import",
                             "the %s ONNX form needs opset %lld or later", dynamic ? "dynamic" : "static QDQ",
                             (long long)need);
            qf_error_expected(err, ">= %lld", (long long)need);
            qf_error_found(err, "%lld", (long long)w.opset);
        }
    }
    /* the source must be a valid graph itself (its unused initializers are dropped below) */
    if (!s) s = qf_onnx_graph_check(w.g, true, source_onnx, "source graph", err);
    if (!s) s = qf_onnx_uses_build(w.g, &w.uses, err);
    if (!s && !qf_onnx_names_add_graph(&w.names, w.g)) s = oom(&w);
    /* values read other than by a node of the main graph: a replaced weight among them stays */
    qf_onnx_names keep = {0}, dropped = {0};
    if (!s && !qf_onnx_names_add_subgraph_inputs(&keep, w.g)) s = oom(&w);
    for (size_t i = 0; !s && i < w.g->n_output; i++)
        if (!qf_onnx_names_add(&keep, w.g->output[i]->name)) s = oom(&w);
    if (!s) {
        w.rewritten = calloc(w.g->n_initializer + 1, sizeof *w.rewritten);
        w.wts = calloc(w.g->n_initializer + 1, sizeof *w.wts);
        if (!w.rewritten || !w.wts) s = oom(&w);
    }
    bool *slot_used = NULL;
    if (!s && !dynamic) {
        slot_used = calloc(sp->count + 1, sizeof *slot_used);
        if (!slot_used) s = oom(&w);
        for (size_t i = 0; !s && i < sp->count; i++) {
            float v = sp->activations[i].scale;
            if (!sp->activations[i].slot || !(v > 0.0f) || !isfinite(v)) {
                s = qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, source_onnx, NULL, -1, sp->activations[i].slot,
                                 "activation %zu: slot missing or scale not finite and > 0", i);
                qf_error_found(err, "%g", (double)v);
            }
        }
    }
    for (size_t i = 0; !s && i < w.g->n_node; i++) {
        Onnx__NodeProto *n = w.g->node[i];
        long init;
        const qf_tensor *qt, *scale;
        bool in_out = false;
        size_t si;
        const qf_onnx_qdq_activation *act;
        if (!n->op_type) {
            if (!list_push(&w.nodes, n)) s = oom(&w);
        } else if (projection(&w, n, &init, &qt, &scale, &in_out)) {
            if (dynamic) s = rewrite_matmul_dynamic(&w, n, init, qt, scale);
            else if ((act = slot_for(sp, qt->name, &si))) {
                slot_used[si] = true;
                s = rewrite_matmul_static(&w, n, init, qt, scale, in_out, act->scale);
            } else if (!list_push(&w.nodes, n)) s = oom(&w);
        } else if (dynamic && gather_embedding(&w, n, &init, &qt, &scale)) {
            s = rewrite_gather(&w, n, init, qt, scale);
        } else if (!list_push(&w.nodes, n)) {
            s = oom(&w);
        }
        if (!s && w.a.failed) s = oom(&w);
    }
    for (size_t i = 0; !s && !dynamic && i < sp->count; i++)
        if (!slot_used[i]) {
            s = qf_error_set(err, QF_STATUS_NOT_FOUND, source_onnx, NULL, -1, sp->activations[i].slot,
                             "slot '%s': no MatMul or Gemm of the graph reads a quantized weight of that name",
                             sp->activations[i].slot);
            qf_error_expected(err, "a canonical projection such as layers.0.attn.q with an int8 weight in the model");
        }
    free(slot_used);
    /* initializers: the source ones still read by a node that was not rewritten, a subgraph or a graph
     * output, then the new ones; unused source ones are dropped, and a graph input that only listed a
     * dropped initializer (IR < 4 graphs list every initializer as an input) goes with it */
    ptr_list fresh = w.inits;
    memset(&w.inits, 0, sizeof w.inits);
    char *dir_copy = s ? NULL : strdup(source_onnx);
    if (!s && !dir_copy) s = oom(&w);
    for (size_t i = 0; !s && i < w.g->n_initializer; i++) {
        const qf_onnx_use *u;
        size_t uses = qf_onnx_uses_of(&w.uses, w.g->initializer[i]->name ? w.g->initializer[i]->name : "", &u);
        if (w.rewritten[i] >= uses && !qf_onnx_names_has(&keep, w.g->initializer[i]->name)) {
            if (!qf_onnx_names_add(&dropped, w.g->initializer[i]->name)) s = oom(&w);
            continue;
        }
        s = carry_initializer(&w, w.g->initializer[i], dirname(dir_copy));
        free(dir_copy);
        dir_copy = strdup(source_onnx);
        if (!dir_copy) s = oom(&w);
    }
    free(dir_copy);
    for (size_t i = 0; !s && i < fresh.n; i++)
        if (!list_push(&w.inits, fresh.p[i])) s = oom(&w);
    free(fresh.p);
    ptr_list inputs = {0};
    for (size_t i = 0; !s && i < w.g->n_input; i++)
        if (!qf_onnx_names_has(&dropped, w.g->input[i]->name) && !list_push(&inputs, w.g->input[i])) s = oom(&w);
    if (!s && w.quantized_nodes == 0)
        s = qf_error_set(err, QF_STATUS_NOT_FOUND, source_onnx, NULL, -1, NULL,
                         "no MatMul, Gemm or Gather of the graph reads a weight that is int8 in the quantized model");
    Onnx__StringStringEntryProto **meta = NULL;
    size_t n_meta = 0;
    if (!s)
        s = build_metadata(&w,
                           dynamic ? "dynamic: int8 symmetric weights (per output channel unless per-tensor), uint8 "
                                     "activations at run time (DynamicQuantizeLinear -> MatMulInteger)"
                                   : "static QDQ: int8 symmetric activations (calibrated scales), int8 per-channel "
                                     "weights (DequantizeLinear)",
                           command_line, &meta, &n_meta);
    if (!s) {
        /* swap the new arrays in for packing, then restore the source's own */
        Onnx__NodeProto **on = w.g->node;
        size_t onn = w.g->n_node;
        Onnx__TensorProto **oi = w.g->initializer;
        size_t oni = w.g->n_initializer;
        Onnx__StringStringEntryProto **om = w.mp->metadata_props;
        size_t onm = w.mp->n_metadata_props;
        Onnx__ValueInfoProto **oin = w.g->input;
        size_t onin = w.g->n_input;
        w.g->input = (Onnx__ValueInfoProto **)inputs.p;
        w.g->n_input = inputs.n;
        w.g->node = (Onnx__NodeProto **)w.nodes.p;
        w.g->n_node = w.nodes.n;
        w.g->initializer = (Onnx__TensorProto **)w.inits.p;
        w.g->n_initializer = w.inits.n;
        w.mp->metadata_props = meta;
        w.mp->n_metadata_props = n_meta;
        s = qf_onnx_graph_check(w.g, false, path, "rewritten graph", err);
        if (s == QF_STATUS_FORMAT) { /* the source passed: qforge made it so */
            s = QF_STATUS_INTERNAL;
            if (err) err->code = s;
        }
        if (!s) s = qf_onnx_proto_write(w.mp, path, err);
        w.g->input = oin;
        w.g->n_input = onin;
        w.g->node = on;
        w.g->n_node = onn;
        w.g->initializer = oi;
        w.g->n_initializer = oni;
        w.mp->metadata_props = om;
        w.mp->n_metadata_props = onm;
    }
    free(w.nodes.p);
    free(w.inits.p);
    free(w.rewritten);
    free(w.wts);
    qf_onnx_names_free(&w.names);
    qf_onnx_names_free(&keep);
    qf_onnx_names_free(&dropped);
    free(inputs.p);
    free(w.acts);
    release_files(&w.files);
    qf_onnx_uses_free(&w.uses);
    qf_onnx_arena_free(&w.a);
    qf_onnx_proto_free(w.mp);
    qf_file_unmap(src);
    return s;
}

qf_status qf_onnx_write_dynamic(const char *source_onnx, const qf_model *q, const char *path,
                                const qf_onnx_write_params *params, qf_error *err)
{
    qf_onnx_write_params d = qf_onnx_write_params_default();
    if (!params) params = &d;
    return write_quantized(source_onnx, q, path, true, NULL, params->command_line, err);
}

qf_status qf_onnx_write_static(const char *source_onnx, const qf_model *q, const char *path,
                               const qf_onnx_static_params *params, qf_error *err)
{
    if (!params || !params->activations || params->count == 0)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, source_onnx, NULL, -1, NULL,
                            "static QDQ: no activations given (slot -> scale)");
    return write_quantized(source_onnx, q, path, false, params, params->command_line, err);
}
