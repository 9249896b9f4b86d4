/*
 * writers/safetensors/safetensors_writer.c — canonical model -> safetensors, the format Hugging
 * Face loads. Floating-point tensors are written in the requested dtype (f32, f16, bf16);
 * quantized tensors are dequantized (x = (q - z) * s, per tensor or per channel) into that dtype
 * and their scale / zero-point companions are left out; integer and bool tensors are copied.
 *
 * Layout, as the safetensors writer itself does it: 8-byte little-endian header length, the JSON
 * header (tensors sorted by element size, largest first, then by name; "__metadata__" first;
 * padded with spaces so the data starts 8-byte aligned), then the tensors back to back in header
 * order, so each one starts aligned to its element size, with no holes.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/qfile.h" /* qf_qfile_check_quant: the quantization rules every model obeys */
#include "qforge/writers.h"

qf_safetensors_write_params qf_safetensors_write_params_default(void)
{
    qf_safetensors_write_params p;
    memset(&p, 0, sizeof p);
    p.float_dtype = QF_DTYPE_F32;
    p.source_names = true;
    return p;
}

static const char *st_dtype(qf_dtype t)
{
    switch (t) {
    case QF_DTYPE_F32: return "F32";
    case QF_DTYPE_F16: return "F16";
    case QF_DTYPE_BF16: return "BF16";
    case QF_DTYPE_F64: return "F64";
    case QF_DTYPE_I64: return "I64";
    case QF_DTYPE_I32: return "I32";
    case QF_DTYPE_I16: return "I16";
    case QF_DTYPE_I8: return "I8";
    case QF_DTYPE_U8: return "U8";
    case QF_DTYPE_BOOL: return "BOOL";
    default: return NULL;
    }
}

typedef struct entry {
    const qf_tensor *t;
    const char *name; /* as written */
    qf_dtype dtype;   /* as written */
    uint64_t nbytes;  /* as written */
    uint64_t begin;
} entry;

static int name_order(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int entry_order(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t sx = qf_dtype_size(x->dtype), sy = qf_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool is_companion(const qf_model *m, const qf_tensor *t)
{
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const qf_quant *q = &qf_model_tensor(m, i)->quant;
        if (q->scheme == QF_QUANT_NONE) continue;
        if ((q->scale_name && strcmp(q->scale_name, t->name) == 0) ||
            (q->zero_point_name && strcmp(q->zero_point_name, t->name) == 0))
            return true;
    }
    return false;
}

static float load_float(const qf_tensor *t, uint64_t i)
{
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case QF_DTYPE_F32: {
        float v;
        memcpy(&v, p + i * 4, 4);
        return v;
    }
    case QF_DTYPE_F64: {
        double v;
        memcpy(&v, p + i * 8, 8);
        return (float)v;
    }
    case QF_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, p + i * 2, 2);
        return qf_f16_to_f32(h);
    }
    case QF_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p + i * 2, 2);
        return qf_bf16_to_f32(h);
    }
    default: return 0.0f;
    }
}

static void store_float(qf_dtype d, uint8_t *out, uint64_t i, float v)
{
    if (d == QF_DTYPE_F32) {
        memcpy(out + i * 4, &v, 4);
    } else {
        uint16_t h = d == QF_DTYPE_F16 ? qf_f32_to_f16(v) : qf_f32_to_bf16(v);
        memcpy(out + i * 2, &h, 2);
    }
}

/* Element i of a quantized tensor, dequantized. The model passed qf_qfile_check_quant. */
static float dequantized(const qf_tensor *t, const uint8_t *scale, int32_t zero, uint64_t inner, uint64_t channels,
                         uint64_t i)
{
    int32_t q = t->dtype == QF_DTYPE_U8 ? (int32_t)((const uint8_t *)t->data)[i] : (int32_t)((const int8_t *)t->data)[i];
    float s;
    memcpy(&s, scale + 4 * (channels > 1 ? (i / inner) % channels : 0), 4);
    return (float)(q - zero) * s;
}

static qf_status write_tensor(qf_output *o, const qf_model *m, const entry *e, const char *path, qf_error *err)
{
    const qf_tensor *t = e->t;
    if (t->quant.scheme == QF_QUANT_NONE && (!qf_dtype_is_float(t->dtype) || t->dtype == e->dtype))
        return qf_output_write(o, t->data, (size_t)t->nbytes, err);
    uint64_t numel = 0;
    if (!qf_shape_numel(t->rank, t->shape, &numel))
        return qf_error_set(err, QF_STATUS_OVERFLOW, path, NULL, -1, t->name, "tensor '%s': element count overflows",
                            t->name);
    const uint8_t *scale = NULL;
    int32_t zero = 0;
    uint64_t inner = 1, channels = 1;
    if (t->quant.scheme != QF_QUANT_NONE) {
        qf_status s = qf_qfile_check_quant(m, t, path, -1, err);
        if (s) return s;
        scale = qf_model_find(m, t->quant.scale_name, NULL)->data;
        if (t->quant.zero_point_name) {
            const qf_tensor *z = qf_model_find(m, t->quant.zero_point_name, NULL);
            zero = z->dtype == QF_DTYPE_U8 ? *(const uint8_t *)z->data : *(const int8_t *)z->data;
        }
        if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL) {
            channels = (uint64_t)t->shape[t->quant.axis];
            for (int32_t d = t->quant.axis + 1; d < t->rank; d++) inner *= (uint64_t)t->shape[d];
        }
    }
    enum { CHUNK = 16384 };
    uint8_t buf[CHUNK * 4];
    size_t esize = qf_dtype_size(e->dtype);
    for (uint64_t first = 0; first < numel; first += CHUNK) {
        uint64_t n = numel - first < CHUNK ? numel - first : CHUNK;
        for (uint64_t k = 0; k < n; k++) {
            float v = scale ? dequantized(t, scale, zero, inner, channels, first + k) : load_float(t, first + k);
            store_float(e->dtype, buf, k, v);
        }
        qf_status s = qf_output_write(o, buf, (size_t)(n * esize), err);
        if (s) return s;
    }
    return QF_STATUS_OK;
}

qf_status qf_safetensors_write(const qf_model *m, const char *path, const qf_safetensors_write_params *params,
                               qf_error *err)
{
    qf_safetensors_write_params defaults = qf_safetensors_write_params_default();
    const qf_safetensors_write_params *p = params ? params : &defaults;
    if (p->float_dtype != QF_DTYPE_F32 && p->float_dtype != QF_DTYPE_F16 && p->float_dtype != QF_DTYPE_BF16)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL,
                            "safetensors output dtype must be f32, f16 or bf16, not %s", qf_dtype_name(p->float_dtype));
    /* tensors go out sorted, not in the model order a producer follows */
    qf_status s = qf_model_check_in_memory(m, path, "the safetensors writer", err);
    if (s) return s;
    size_t count = qf_model_tensor_count(m), n = 0;
    entry *es = calloc(count ? count : 1, sizeof *es);
    if (!es) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    for (size_t i = 0; i < count && !s; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        if (is_companion(m, t)) continue;
        entry *e = &es[n++];
        e->t = t;
        e->name = p->source_names && t->source_name && t->source_name[0] ? t->source_name : t->name;
        e->dtype = t->quant.scheme != QF_QUANT_NONE || qf_dtype_is_float(t->dtype) ? p->float_dtype : t->dtype;
        if (!st_dtype(e->dtype) || !qf_shape_nbytes(e->dtype, t->rank, t->shape, &e->nbytes))
            s = qf_error_set(err, QF_STATUS_OVERFLOW, path, NULL, -1, t->name, "tensor '%s': byte size overflows",
                             t->name);
    }
    if (!s && n > 1) {
        const char **names = malloc(n * sizeof *names);
        if (!names) s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        for (size_t i = 0; !s && i < n; i++) names[i] = es[i].name;
        if (!s) qsort(names, n, sizeof *names, name_order);
        for (size_t i = 1; !s && i < n; i++)
            if (strcmp(names[i - 1], names[i]) == 0 || strcmp(names[i], "__metadata__") == 0)
                s = qf_error_set(err, QF_STATUS_DUPLICATE, path, NULL, -1, names[i],
                                 "two tensors would be written as '%s'", names[i]);
        free(names);
        qsort(es, n, sizeof *es, entry_order);
    }
    /* The header: metadata first, then the tensors in data order. */
    json_object *h = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "format", json_object_new_string("pt"));
    json_object_object_add(meta, "qforge.version", json_object_new_string(QF_VERSION_STRING));
    for (size_t i = 0; i < qf_model_meta_count(m); i++) {
        const char *k, *v;
        if (qf_model_meta_at(m, i, &k, &v) && strcmp(k, "format") != 0) json_object_object_add(meta, k, json_object_new_string(v));
    }
    json_object_object_add(h, "__metadata__", meta);
    uint64_t offset = 0;
    for (size_t i = 0; i < n && !s; i++) {
        entry *e = &es[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "dtype", json_object_new_string(st_dtype(e->dtype)));
        json_object *shape = json_object_new_array();
        for (int32_t d = 0; d < e->t->rank; d++) json_object_array_add(shape, json_object_new_int64(e->t->shape[d]));
        json_object_object_add(o, "shape", shape);
        e->begin = offset;
        if (!qf_add_u64(offset, e->nbytes, &offset) || offset > (uint64_t)INT64_MAX) {
            s = qf_error_set(err, QF_STATUS_OVERFLOW, path, NULL, -1, e->name, "data offsets overflow");
            json_object_put(o);
            break;
        }
        json_object *range = json_object_new_array();
        json_object_array_add(range, json_object_new_int64((int64_t)e->begin));
        json_object_array_add(range, json_object_new_int64((int64_t)offset));
        json_object_object_add(o, "data_offsets", range);
        json_object_object_add(h, e->name, o);
    }
    qf_output *out = NULL;
    if (!s) {
        const char *text = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        uint64_t len = strlen(text), padded = 0;
        if (!qf_align_up_u64(8 + len, 8, &padded) || padded - 8 > QF_SAFETENSORS_MAX_HEADER)
            s = qf_error_set(err, QF_STATUS_LIMIT, path, "header", 8, NULL,
                             "safetensors header of %llu bytes exceeds %llu", (unsigned long long)len,
                             (unsigned long long)QF_SAFETENSORS_MAX_HEADER);
        uint8_t prefix[8];
        uint64_t hlen = padded - 8;
        for (int k = 0; k < 8; k++) prefix[k] = (uint8_t)(hlen >> (8 * k));
        if (!s) s = qf_output_open(path, &out, err);
        if (!s) s = qf_output_write(out, prefix, 8, err);
        if (!s) s = qf_output_write(out, text, (size_t)len, err);
        for (uint64_t k = len; !s && k < hlen; k++) s = qf_output_write(out, " ", 1, err);
    }
    json_object_put(h);
    for (size_t i = 0; i < n && !s; i++) s = write_tensor(out, m, &es[i], path, err);
    free(es);
    if (out) {
        if (s)
            qf_output_abort(out);
        else
            s = qf_output_commit(out, err);
    }
    return s;
}
