/*
 * readers/onnx/onnx_reader.c — ONNX ModelProto -> canonical model. The protobuf is walked and
 * unpacked by the adapter (protobuf/onnx_proto.c); this file validates every initializer (dtype,
 * dims, exactly one data source, byte size against dims x dtype, typed fields, external data
 * confined to the model's folder and inside its file) before any tensor is added, then:
 *
 *   - inline raw_data: borrowed from the buffer protobuf-c unpacked it into (its one copy), kept
 *     alive with the model; typed fields likewise when their C type is the tensor's, else
 *     converted into model-owned memory;
 *   - external data: borrowed from the data file's own mapping (copied only when misaligned);
 *   - MatMul / Gemm(transB=0) weights are stored [in, out]: transposed to [out, in] in place in
 *     protobuf-c's buffer (or, for external data, while copying out of the mapping), so no byte is
 *     copied twice;
 *   - weight names the exporter replaced (onnx::MatMul_1649, "302") are recovered through the graph:
 *     the bias the MatMul output is added to (or Gemm's C) names the layer; a prefix shared by every
 *     dotted name (a wrapper module's "m.") is dropped. Source names stay the initializer names.
 *
 * Graphs already quantized (ONNX Runtime's DynamicQuantizeLinear / MatMulInteger / QLinear*,
 * Q/DQ pairs) are read and marked with metadata "source.quantized", which quantization refuses.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf/onnx_proto.h"
#include "qforge/readers.h"

typedef struct ext_map {
    char *location;
    qf_file *file;
} ext_map;

/* Everything decided about one initializer in the validation pass. */
typedef struct init_plan {
    qf_dtype dtype;
    int32_t rank;
    int64_t shape[QF_MAX_RANK];
    uint64_t numel, nbytes;
    enum { SRC_NONE, SRC_RAW, SRC_FLOAT, SRC_INT32, SRC_INT64, SRC_DOUBLE, SRC_EXTERNAL } src;
    const uint8_t *ext_data; /* SRC_EXTERNAL: bytes inside the mapping */
    bool transpose;          /* stored [in, out]: becomes [out, in] */
    char *name;              /* owned: the model name (recovered / prefix stripped) */
} init_plan;

typedef struct reader {
    const char *file;
    Onnx__ModelProto *proto;       /* owned until handed to the model */
    const Onnx__ModelProto *model; /* borrowed view, valid while the model lives */
    const Onnx__GraphProto *g;
    qf_onnx_offsets off;
    qf_onnx_uses uses;
    init_plan *plans;
    ext_map *ext;
    size_t n_ext;
    size_t n_init; /* initializer count, valid after the proto is handed to the model */
    size_t recovered, transposed, external;
    char prefix[QF_MAX_NAME_LEN + 1];
    qf_error *err;
} reader;

static int64_t init_offset(const reader *r, size_t i)
{
    return r->off.initializer && i < r->off.n_initializers ? (int64_t)r->off.initializer[i] : -1;
}

static int64_t node_offset(const reader *r, size_t i)
{
    return r->off.node && i < r->off.n_nodes ? (int64_t)r->off.node[i] : -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation                                                                                  */

static qf_status ext_lookup(reader *r, const char *dir, const char *location, const char *tensor, int64_t at,
                            qf_file **out)
{
    for (size_t i = 0; i < r->n_ext; i++)
        if (strcmp(r->ext[i].location, location) == 0) {
            *out = r->ext[i].file;
            return QF_STATUS_OK;
        }
    if (r->n_ext >= QF_ONNX_MAX_EXTERNAL_FILES) {
        qf_error_set(r->err, QF_STATUS_LIMIT, r->file, NULL, at, tensor,
                     "more than %d distinct external data files", QF_ONNX_MAX_EXTERNAL_FILES);
        qf_error_expected(r->err, "<= %d files", QF_ONNX_MAX_EXTERNAL_FILES);
        return QF_STATUS_LIMIT;
    }
    qf_file *f = NULL;
    qf_status s = qf_onnx_external_open(dir, location, tensor, r->file, at, &f, r->err);
    if (s) return s;
    ext_map *grown = realloc(r->ext, (r->n_ext + 1) * sizeof *grown);
    char *loc = strdup(location);
    if (!grown || !loc) {
        if (grown) r->ext = grown;
        free(loc);
        qf_file_unmap(f);
        return qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, at, tensor, "out of memory");
    }
    r->ext = grown;
    r->ext[r->n_ext++] = (ext_map){loc, f};
    *out = f;
    return QF_STATUS_OK;
}

static qf_status size_mismatch(reader *r, int64_t at, const char *name, const char *what, uint64_t expected,
                               uint64_t found, const char *unit)
{
    qf_error_set(r->err, QF_STATUS_SHAPE, r->file, NULL, at, name, "initializer '%s': %s %s its declared shape", name,
                 what, found > expected ? "larger than" : "smaller than");
    qf_error_expected(r->err, "%llu %s", (unsigned long long)expected, unit);
    qf_error_found(r->err, "%llu %s", (unsigned long long)found, unit);
    return QF_STATUS_SHAPE;
}

/* Which typed field an ONNX data type is stored in (onnx.proto), or SRC_NONE. */
static int typed_field_for(int32_t t)
{
    switch (t) {
    case QF_ONNX_FLOAT: return SRC_FLOAT;
    case QF_ONNX_INT32: case QF_ONNX_INT16: case QF_ONNX_INT8: case QF_ONNX_UINT8: case QF_ONNX_BOOL:
    case QF_ONNX_FLOAT16: case QF_ONNX_BFLOAT16: return SRC_INT32;
    case QF_ONNX_INT64: return SRC_INT64;
    case QF_ONNX_DOUBLE: return SRC_DOUBLE;
    default: return SRC_NONE;
    }
}

static const char *src_field_name(int src)
{
    switch (src) {
    case SRC_RAW: return "raw_data";
    case SRC_FLOAT: return "float_data";
    case SRC_INT32: return "int32_data";
    case SRC_INT64: return "int64_data";
    case SRC_DOUBLE: return "double_data";
    case SRC_EXTERNAL: return "external data";
    default: return "none";
    }
}

/* int32_data values must fit the tensor's type (int8 in [-128, 127], f16 bits in [0, 65535], ...). */
static qf_status check_int32_range(reader *r, size_t i, const Onnx__TensorProto *t)
{
    int32_t lo = INT32_MIN, hi = INT32_MAX;
    switch (t->data_type) {
    case QF_ONNX_INT8: lo = -128; hi = 127; break;
    case QF_ONNX_UINT8: lo = 0; hi = 255; break;
    case QF_ONNX_INT16: lo = -32768; hi = 32767; break;
    case QF_ONNX_BOOL: lo = 0; hi = 1; break;
    case QF_ONNX_FLOAT16: case QF_ONNX_BFLOAT16: lo = 0; hi = 65535; break;
    default: return QF_STATUS_OK;
    }
    for (size_t k = 0; k < t->n_int32_data; k++)
        if (t->int32_data[k] < lo || t->int32_data[k] > hi) {
            qf_error_set(r->err, QF_STATUS_FORMAT, r->file, NULL, init_offset(r, i), t->name,
                         "initializer '%s': int32_data[%zu] = %d does not fit %s", t->name, k, t->int32_data[k],
                         qf_onnx_dtype_name(t->data_type));
            qf_error_expected(r->err, "%d..%d", lo, hi);
            qf_error_found(r->err, "%d", t->int32_data[k]);
            return QF_STATUS_FORMAT;
        }
    return QF_STATUS_OK;
}

static qf_status validate_initializer(reader *r, size_t i, const char *dir)
{
    const Onnx__TensorProto *t = r->g->initializer[i];
    init_plan *p = &r->plans[i];
    int64_t at = init_offset(r, i);
    const char *name = t->name ? t->name : "";
    if (!name[0]) return qf_error_set(r->err, QF_STATUS_FORMAT, r->file, NULL, at, NULL, "initializer %zu has no name", i);
    if (t->segment)
        return qf_error_set(r->err, QF_STATUS_UNSUPPORTED, r->file, NULL, at, name,
                            "initializer '%s' is a segment of a larger tensor (TensorProto.segment)", name);
    if (!qf_onnx_dtype_to_qf(t->data_type, &p->dtype)) {
        qf_error_set(r->err, QF_STATUS_UNSUPPORTED, r->file, NULL, at, name,
                     "initializer '%s' has data type %s, which qforge does not represent", name,
                     qf_onnx_dtype_name(t->data_type));
        qf_error_expected(r->err, "FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT8/16/32/64, UINT8 or BOOL");
        qf_error_found(r->err, "%s (%d)", qf_onnx_dtype_name(t->data_type), t->data_type);
        return QF_STATUS_UNSUPPORTED;
    }
    if (t->n_dims > QF_MAX_RANK) {
        qf_error_set(r->err, QF_STATUS_LIMIT, r->file, NULL, at, name, "initializer '%s' has %zu dimensions", name, t->n_dims);
        qf_error_expected(r->err, "<= %d", QF_MAX_RANK);
        qf_error_found(r->err, "%zu", t->n_dims);
        return QF_STATUS_LIMIT;
    }
    p->rank = (int32_t)t->n_dims;
    for (size_t k = 0; k < t->n_dims; k++) {
        if (t->dims[k] < 0) {
            qf_error_set(r->err, QF_STATUS_FORMAT, r->file, NULL, at, name, "initializer '%s' has a negative dimension",
                         name);
            qf_error_found(r->err, "dims[%zu] = %lld", k, (long long)t->dims[k]);
            return QF_STATUS_FORMAT;
        }
        p->shape[k] = t->dims[k];
    }
    if (!qf_shape_numel(p->rank, p->shape, &p->numel) || !qf_shape_nbytes(p->dtype, p->rank, p->shape, &p->nbytes))
        return qf_error_set(r->err, QF_STATUS_OVERFLOW, r->file, NULL, at, name,
                            "initializer '%s': element count x element size overflows", name);

    /* exactly one data source */
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    int sources = 0, src = SRC_NONE;
    if (t->has_raw_data) sources++, src = SRC_RAW;
    if (t->n_float_data) sources++, src = SRC_FLOAT;
    if (t->n_int32_data) sources++, src = SRC_INT32;
    if (t->n_int64_data) sources++, src = SRC_INT64;
    if (t->n_double_data) sources++, src = SRC_DOUBLE;
    if (t->n_uint64_data || t->n_string_data) sources++, src = SRC_NONE;
    if (external) sources++, src = SRC_EXTERNAL;
    if (sources > 1)
        return qf_error_set(r->err, QF_STATUS_FORMAT, r->file, NULL, at, name,
                            "initializer '%s' holds its data in more than one field", name);
    if (sources == 0 && p->numel != 0)
        return size_mismatch(r, at, name, "no data:", p->nbytes, 0, "bytes");
    p->src = src;
    if (src == SRC_FLOAT || src == SRC_INT32 || src == SRC_INT64 || src == SRC_DOUBLE || (sources && src == SRC_NONE)) {
        if (src == SRC_NONE || typed_field_for(t->data_type) != src) {
            qf_error_set(r->err, QF_STATUS_FORMAT, r->file, NULL, at, name,
                         "initializer '%s' of type %s stores its data in the wrong field", name,
                         qf_onnx_dtype_name(t->data_type));
            qf_error_expected(r->err, "raw_data or %s", src_field_name(typed_field_for(t->data_type)));
            qf_error_found(r->err, "%s", src == SRC_NONE ? "uint64_data or string_data" : src_field_name(src));
            return QF_STATUS_FORMAT;
        }
        size_t n = src == SRC_FLOAT ? t->n_float_data : src == SRC_INT32 ? t->n_int32_data
                   : src == SRC_INT64 ? t->n_int64_data : t->n_double_data;
        if ((uint64_t)n != p->numel) return size_mismatch(r, at, name, src_field_name(src), p->numel, n, "elements");
        if (src == SRC_INT32) {
            qf_status s = check_int32_range(r, i, t);
            if (s) return s;
        }
    } else if (src == SRC_RAW) {
        if ((uint64_t)t->raw_data.len != p->nbytes)
            return size_mismatch(r, at, name, "raw_data is", p->nbytes, t->raw_data.len, "bytes");
    } else if (src == SRC_EXTERNAL) {
        qf_onnx_external e;
        qf_status s = qf_onnx_external_parse(t, r->file, at, &e, r->err);
        qf_file *f = NULL;
        if (!s) s = ext_lookup(r, dir, e.location, name, at, &f);
        if (s) return s;
        uint64_t len = e.has_length ? e.length : p->nbytes;
        if (len != p->nbytes) return size_mismatch(r, at, name, "external data length is", p->nbytes, len, "bytes");
        if (!qf_range_within(e.offset, len, qf_file_size(f))) {
            qf_error_set(r->err, QF_STATUS_TRUNCATED, r->file, NULL, at, name,
                         "external data of '%s' (offset %llu, %llu bytes) runs past the end of '%s'", name,
                         (unsigned long long)e.offset, (unsigned long long)len, e.location);
            qf_error_expected(r->err, "offset + length <= %llu", (unsigned long long)qf_file_size(f));
            qf_error_found(r->err, "%llu + %llu", (unsigned long long)e.offset, (unsigned long long)len);
            return QF_STATUS_TRUNCATED;
        }
        p->ext_data = qf_file_data(f) + e.offset;
        r->external++;
    }
    p->transpose = qf_onnx_weight_is_in_out(r->g, &r->uses, t) && qf_dtype_is_float(p->dtype);
    return QF_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                       */

static const Onnx__TensorProto *initializer_named(const reader *r, const char *name, long *index)
{
    long i = qf_onnx_find_initializer(r->g, name);
    if (index) *index = i;
    return i >= 0 ? r->g->initializer[i] : NULL;
}

/* The bias initializer added to the output of node `ni` (MatMul -> Add(bias)), or NULL. */
static const char *bias_after(const reader *r, size_t ni)
{
    const Onnx__NodeProto *n = r->g->node[ni];
    if (strcmp(n->op_type ? n->op_type : "", "Gemm") == 0) {
        if (n->n_input < 3 || !n->input[2]) return NULL;
        const Onnx__TensorProto *b = initializer_named(r, n->input[2], NULL);
        return b && b->n_dims == 1 && ends_with(b->name, "bias") ? b->name : NULL;
    }
    if (n->n_output < 1 || !n->output[0]) return NULL;
    const qf_onnx_use *u;
    if (qf_onnx_uses_of(&r->uses, n->output[0], &u) != 1) return NULL;
    const Onnx__NodeProto *add = r->g->node[u->node];
    if (strcmp(add->op_type ? add->op_type : "", "Add") != 0 || add->n_input != 2) return NULL;
    const char *other = add->input[1 - u->slot];
    const Onnx__TensorProto *b = other ? initializer_named(r, other, NULL) : NULL;
    return b && b->n_dims == 1 && ends_with(b->name, "bias") ? b->name : NULL;
}

static bool name_taken(const reader *r, const char *name, size_t upto)
{
    for (size_t k = 0; k < r->g->n_initializer; k++) {
        const char *other = k < upto && r->plans[k].name ? r->plans[k].name : r->g->initializer[k]->name;
        if (other && strcmp(other, name) == 0) return true;
    }
    return false;
}

/* A weight renamed by the exporter gets the name its bias implies ("...query.bias" -> "...query.weight"). */
static qf_status recover_name(reader *r, size_t i)
{
    const Onnx__TensorProto *t = r->g->initializer[i];
    init_plan *p = &r->plans[i];
    const char *src = t->name;
    if (t->n_dims == 2 && qf_dtype_is_float(p->dtype) && !ends_with(src, "weight")) {
        const qf_onnx_use *u;
        size_t n = qf_onnx_uses_of(&r->uses, src, &u);
        const char *bias = NULL;
        bool agree = n > 0;
        for (size_t k = 0; agree && k < n; k++) {
            const Onnx__NodeProto *node = r->g->node[u[k].node];
            const char *op = node->op_type ? node->op_type : "";
            const char *b = u[k].slot == 1 && (strcmp(op, "MatMul") == 0 || strcmp(op, "Gemm") == 0)
                                ? bias_after(r, u[k].node) : NULL;
            if (!b || (bias && strcmp(b, bias) != 0)) agree = false;
            bias = b;
        }
        if (agree && bias) {
            size_t bl = strlen(bias) - 4;
            char *w = malloc(bl + 7);
            if (!w) return qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, src, "out of memory");
            memcpy(w, bias, bl);
            memcpy(w + bl, "weight", 7);
            if (!name_taken(r, w, i)) {
                p->name = w;
                r->recovered++;
                return QF_STATUS_OK;
            }
            free(w);
        }
    }
    p->name = strdup(src);
    if (!p->name) return qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, src, "out of memory");
    return QF_STATUS_OK;
}

/* Drops a dotted prefix every dotted name shares ("m." of a wrapper module) when names stay unique. */
static void strip_common_prefix(reader *r)
{
    size_t n = r->g->n_initializer, dotted = 0, plen = 0;
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = r->plans[i].name;
        if (!strchr(s, '.') || strncmp(s, "onnx::", 6) == 0) continue;
        dotted++;
        if (!first) {
            first = s;
            const char *last = strrchr(s, '.');
            plen = (size_t)(last - s) + 1;
        } else {
            size_t k = 0;
            while (k < plen && s[k] == first[k]) k++;
            plen = k;
        }
        while (plen > 0 && first[plen - 1] != '.') plen--;
    }
    if (dotted < 2 || plen == 0 || plen > QF_MAX_NAME_LEN) return;
    /* every stripped name must stay non-empty and unique among all names */
    for (size_t i = 0; i < n; i++) {
        const char *s = r->plans[i].name;
        if (!strchr(s, '.') || strncmp(s, "onnx::", 6) == 0) continue;
        if (!s[plen]) return;
        for (size_t k = 0; k < n; k++)
            if (strcmp(r->plans[k].name, s + plen) == 0) return;
    }
    memcpy(r->prefix, first, plen);
    r->prefix[plen] = 0;
    for (size_t i = 0; i < n; i++) {
        char *s = r->plans[i].name;
        if (!strchr(s, '.') || strncmp(s, "onnx::", 6) == 0) continue;
        memmove(s, s + plen, strlen(s + plen) + 1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Data                                                                                        */

/* In-place transpose of a rows x cols matrix of `es`-byte elements by following permutation cycles. */
static qf_status transpose_in_place(uint8_t *a, uint64_t rows, uint64_t cols, size_t es, qf_error *err)
{
    uint64_t n = rows * cols;
    if (rows <= 1 || cols <= 1) return QF_STATUS_OK;
    uint8_t *seen = calloc((size_t)(n + 7) / 8, 1);
    if (!seen) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    uint8_t save[8];
    for (uint64_t start = 1; start + 1 < n; start++) {
        if (seen[start >> 3] & (1u << (start & 7))) continue;
        memcpy(save, a + start * es, es);
        uint64_t pos = start;
        for (;;) {
            seen[pos >> 3] |= (uint8_t)(1u << (pos & 7));
            /* result[pos] with pos = c * rows + r takes a[r * cols + c] */
            uint64_t src = (pos % rows) * cols + pos / rows;
            if (src == start) {
                memcpy(a + pos * es, save, es);
                break;
            }
            memcpy(a + pos * es, a + src * es, es);
            pos = src;
        }
    }
    free(seen);
    return QF_STATUS_OK;
}

static void copy_transposed(uint8_t *dst, const uint8_t *src, uint64_t rows, uint64_t cols, size_t es)
{
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) memcpy(dst + (c * rows + r) * es, src + (r * cols + c) * es, es);
}

/* Element k of an int32_data field as the tensor's storage type. */
static void store_int32(qf_dtype dt, int32_t v, uint8_t *dst)
{
    switch (dt) {
    case QF_DTYPE_I8: *(int8_t *)dst = (int8_t)v; break;
    case QF_DTYPE_U8: case QF_DTYPE_BOOL: *dst = (uint8_t)v; break;
    case QF_DTYPE_I16: { int16_t x = (int16_t)v; memcpy(dst, &x, 2); break; }
    case QF_DTYPE_F16: case QF_DTYPE_BF16: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); break; }
    default: memcpy(dst, &v, 4); break;
    }
}

static qf_status add_initializer(reader *r, qf_model *m, size_t i)
{
    Onnx__TensorProto *t = r->g->initializer[i];
    init_plan *p = &r->plans[i];
    size_t es = qf_dtype_size(p->dtype);
    uint64_t rows = p->rank == 2 ? (uint64_t)p->shape[0] : 0, cols = p->rank == 2 ? (uint64_t)p->shape[1] : 0;
    const void *data = NULL;
    qf_status s = QF_STATUS_OK;
    uint8_t *borrowed = NULL;
    switch (p->src) {
    case SRC_RAW: borrowed = t->raw_data.data; break;
    case SRC_FLOAT: borrowed = (uint8_t *)t->float_data; break;
    case SRC_INT64: borrowed = (uint8_t *)t->int64_data; break;
    case SRC_DOUBLE: borrowed = (uint8_t *)t->double_data; break;
    case SRC_INT32:
        if (p->dtype == QF_DTYPE_I32) {
            borrowed = (uint8_t *)t->int32_data;
        } else {
            uint8_t *o = NULL;
            if ((s = qf_model_alloc(m, p->nbytes, (void **)&o, r->err))) return s;
            for (uint64_t k = 0; k < p->numel; k++) {
                uint64_t dst = p->transpose ? (k % cols) * rows + k / cols : k;
                store_int32(p->dtype, t->int32_data[k], o + dst * es);
            }
            data = o;
        }
        break;
    case SRC_EXTERNAL:
        if (p->transpose || ((uintptr_t)p->ext_data % es) != 0) {
            uint8_t *o = NULL;
            if ((s = qf_model_alloc(m, p->nbytes, (void **)&o, r->err))) return s;
            if (p->transpose) copy_transposed(o, p->ext_data, rows, cols, es);
            else memcpy(o, p->ext_data, p->nbytes);
            data = o;
        } else {
            data = p->ext_data;
        }
        break;
    default: data = NULL; break;
    }
    if (borrowed) {
        /* protobuf-c's buffers are malloc'd (aligned) and owned by the unpacked message the model keeps */
        if (p->transpose && (s = transpose_in_place(borrowed, rows, cols, es, r->err))) return s;
        data = borrowed;
    }
    int64_t shape[QF_MAX_RANK];
    memcpy(shape, p->shape, sizeof shape);
    if (p->transpose) {
        shape[0] = p->shape[1];
        shape[1] = p->shape[0];
        r->transposed++;
    }
    if (!data && p->nbytes == 0) data = "";
    return qf_model_add_tensor(m, p->name, t->name, p->dtype, p->rank, shape, data, p->nbytes, NULL, r->err);
}

/* ------------------------------------------------------------------------------------------ */
/* Metadata                                                                                    */

typedef struct text {
    char *p;
    size_t n, cap;
    bool failed;
} text;

static void text_add(text *t, const char *s)
{
    size_t k = strlen(s);
    if (t->failed) return;
    if (t->n + k + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 128;
        while (cap < t->n + k + 1) cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, k + 1);
    t->n += k;
}

static bool is_quant_op(const char *op)
{
    static const char *const ops[] = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QuantizeLinear",
                                      "DequantizeLinear", "QGemm", "QAttention", "DynamicQuantizeMatMul",
                                      "MatMulIntegerToFloat", "DynamicQuantizeLSTM", "QEmbedLayerNormalization",
                                      "QOrderedMatMul"};
    if (strncmp(op, "QLinear", 7) == 0) return true;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0) return true;
    return false;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* "Add 61, MatMul 32, ..." of every op (or only the quantization ops), sorted by name. */
static qf_status op_summary(const reader *r, bool quant_only, text *out, size_t *count)
{
    size_t n = r->g->n_node, k = 0;
    *count = 0;
    const char **ops = calloc(n ? n : 1, sizeof *ops);
    if (!ops) return qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *op = r->g->node[i]->op_type ? r->g->node[i]->op_type : "";
        if (!quant_only || is_quant_op(op)) ops[k++] = op;
    }
    qsort(ops, k, sizeof *ops, str_cmp);
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && strcmp(ops[j], ops[i]) == 0) j++;
        char num[32];
        snprintf(num, sizeof num, " %zu", j - i);
        if (out->n) text_add(out, ", ");
        text_add(out, ops[i]);
        text_add(out, num);
        i = j;
    }
    *count = k;
    free(ops);
    return out->failed ? qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, NULL, "out of memory")
                       : QF_STATUS_OK;
}

static qf_status set_meta_num(qf_model *m, const char *key, uint64_t v, qf_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return qf_model_set_meta(m, key, buf, err);
}

static qf_status value_names(const reader *r, Onnx__ValueInfoProto **v, size_t n, text *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i) text_add(out, ", ");
        text_add(out, v[i]->name ? v[i]->name : "");
    }
    if (!out->p) text_add(out, "");
    return out->failed ? qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, NULL, "out of memory")
                       : QF_STATUS_OK;
}

static qf_status add_metadata(reader *r, qf_model *m)
{
    const Onnx__ModelProto *mp = r->model;
    qf_status s = set_meta_num(m, "onnx.ir_version", (uint64_t)mp->ir_version, r->err);
    char buf[512];
    if (!s && (mp->producer_name || mp->producer_version)) {
        snprintf(buf, sizeof buf, "%s%s%s", mp->producer_name ? mp->producer_name : "",
                 mp->producer_version && mp->producer_version[0] ? " " : "",
                 mp->producer_version ? mp->producer_version : "");
        s = qf_model_set_meta(m, "onnx.producer", buf, r->err);
    }
    text t = {0};
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        snprintf(buf, sizeof buf, "%s%s %lld", i ? ", " : "", o->domain && o->domain[0] ? o->domain : "ai.onnx",
                 (long long)o->version);
        text_add(&t, buf);
    }
    if (!s && t.p) s = qf_model_set_meta(m, "onnx.opsets", t.p, r->err);
    free(t.p);
    memset(&t, 0, sizeof t);
    if (!s) s = value_names(r, r->g->input, r->g->n_input, &t);
    if (!s) s = qf_model_set_meta(m, "onnx.inputs", t.p, r->err);
    free(t.p);
    memset(&t, 0, sizeof t);
    if (!s) s = value_names(r, r->g->output, r->g->n_output, &t);
    if (!s) s = qf_model_set_meta(m, "onnx.outputs", t.p, r->err);
    free(t.p);
    memset(&t, 0, sizeof t);
    size_t count;
    if (!s) s = set_meta_num(m, "onnx.nodes", r->g->n_node, r->err);
    if (!s) s = op_summary(r, false, &t, &count);
    if (!s && t.p) s = qf_model_set_meta(m, "onnx.ops", t.p, r->err);
    free(t.p);
    memset(&t, 0, sizeof t);
    if (!s && r->external) s = set_meta_num(m, "onnx.external_tensors", r->external, r->err);
    if (!s && r->recovered) s = set_meta_num(m, "onnx.recovered_names", r->recovered, r->err);
    if (!s && r->transposed) s = set_meta_num(m, "onnx.transposed_weights", r->transposed, r->err);
    if (!s && r->prefix[0]) s = qf_model_set_meta(m, "onnx.name_prefix", r->prefix, r->err);
    for (size_t i = 0; !s && i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        char key[QF_MAX_NAME_LEN + 1];
        snprintf(key, sizeof key, "onnx.meta.%s", e->key ? e->key : "");
        s = qf_model_set_meta(m, key, e->value ? e->value : "", r->err);
    }
    if (!s) s = op_summary(r, true, &t, &count);
    if (!s && count) {
        size_t int8 = 0;
        for (size_t i = 0; i < r->g->n_initializer; i++)
            if (r->plans[i].dtype == QF_DTYPE_I8 || r->plans[i].dtype == QF_DTYPE_U8) int8++;
        char *v = malloc(t.n + 128);
        if (!v) s = qf_error_set(r->err, QF_STATUS_NO_MEMORY, r->file, NULL, -1, NULL, "out of memory");
        else {
            snprintf(v, t.n + 128, "ONNX graph already quantized (%s; %zu int8/uint8 initializers)", t.p, int8);
            s = qf_model_set_meta(m, "source.quantized", v, r->err);
            free(v);
        }
    }
    free(t.p);
    return s;
}

/* ------------------------------------------------------------------------------------------ */

static void release_proto(void *p) { qf_onnx_proto_free(p); }
static void release_file(void *f) { qf_file_unmap(f); }

qf_status qf_onnx_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err)
{
    (void)params;
    *out = NULL;
    reader r;
    memset(&r, 0, sizeof r);
    r.file = qf_file_path(file);
    r.err = err;
    qf_model *m = NULL;
    char *dir_copy = strdup(r.file);
    qf_status s = dir_copy ? QF_STATUS_OK : qf_error_set(err, QF_STATUS_NO_MEMORY, r.file, NULL, -1, NULL, "out of memory");
    if (!s) s = qf_onnx_proto_parse(qf_file_data(file), qf_file_size(file), r.file, &r.proto, &r.off, err);
    if (!s && !r.proto->graph)
        s = qf_error_set(err, QF_STATUS_FORMAT, r.file, NULL, 0, "graph", "ONNX model has no graph (ModelProto field 7)");
    if (!s) {
        r.model = r.proto;
        r.g = r.proto->graph;
        r.n_init = r.g->n_initializer;
        s = qf_onnx_uses_build(r.g, &r.uses, err);
    }
    if (!s) {
        for (size_t i = 0; i < r.g->n_node; i++) {
            const Onnx__NodeProto *n = r.g->node[i];
            if (!n->op_type || !n->op_type[0]) {
                s = qf_error_set(err, QF_STATUS_FORMAT, r.file, NULL, node_offset(&r, i), n->name,
                                 "node %zu ('%s') has no op_type", i, n->name ? n->name : "");
                break;
            }
        }
    }
    if (!s && r.g->n_initializer > QF_MAX_TENSORS) {
        s = qf_error_set(err, QF_STATUS_LIMIT, r.file, NULL, init_offset(&r, QF_MAX_TENSORS), NULL,
                         "%zu initializers", r.g->n_initializer);
        qf_error_expected(err, "<= %u", QF_MAX_TENSORS);
    }
    if (!s) {
        r.plans = calloc(r.g->n_initializer ? r.g->n_initializer : 1, sizeof *r.plans);
        if (!r.plans) s = qf_error_set(err, QF_STATUS_NO_MEMORY, r.file, NULL, -1, NULL, "out of memory");
    }
    const char *dir = dir_copy ? dirname(dir_copy) : ".";
    for (size_t i = 0; !s && i < r.n_init; i++) s = validate_initializer(&r, i, dir);
    for (size_t i = 0; !s && i < r.n_init; i++) s = recover_name(&r, i);
    if (!s) strip_common_prefix(&r);
    if (!s) s = qf_model_create(&m, err);
    /* the model owns the unpacked message and the mappings from here on */
    if (!s) {
        s = qf_model_keep(m, r.proto, release_proto, err); /* on failure keep released it */
        r.proto = NULL;
    }
    for (size_t i = 0; i < r.n_ext; i++) {
        if (!s) s = qf_model_keep(m, r.ext[i].file, release_file, err);
        else qf_file_unmap(r.ext[i].file);
        r.ext[i].file = NULL;
    }
    if (!s) s = qf_model_keep(m, file, release_file, err);
    else qf_file_unmap(file);
    for (size_t i = 0; !s && i < r.n_init; i++) s = add_initializer(&r, m, i);
    if (!s) s = add_metadata(&r, m);

    qf_onnx_proto_free(r.proto);
    for (size_t i = 0; r.plans && i < r.n_init; i++) free(r.plans[i].name);
    free(r.plans);
    for (size_t i = 0; i < r.n_ext; i++) free(r.ext[i].location);
    free(r.ext);
    qf_onnx_uses_free(&r.uses);
    qf_onnx_offsets_free(&r.off);
    free(dir_copy);
    if (s) {
        qf_model_destroy(m);
        return s;
    }
    *out = m;
    return QF_STATUS_OK;
}
