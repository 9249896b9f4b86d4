/*
 * protobuf/onnx_proto.c — the protobuf-c adapter shared by readers/onnx and writers/onnx (see
 * onnx_proto.h): the schema-driven wire walk that validates a ModelProto before protobuf-c unpacks
 * it, dtype table, external-data confinement, the graph consumer index and the weight layout rule,
 * and packing a ModelProto into an atomic output.
 */
#include "protobuf/onnx_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Wire walk                                                                                   */

typedef struct walk_frame {
    const ProtobufCMessageDescriptor *desc;
    uint64_t start, end;
    const struct walk_frame *parent;
} walk_frame;

typedef struct walk_ctx {
    const uint8_t *d;
    const char *file;
    qf_error *err;
    qf_onnx_offsets *off;
    size_t cap_init, cap_node;
} walk_ctx;

static bool read_varint(const uint8_t *d, uint64_t end, uint64_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= end) return false;
        uint8_t b = d[(*pos)++];
        if (i == 9 && b > 1) return false;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The name field of the messages an error can sit in (TensorProto 8, NodeProto 3, ...). */
static int name_field(const ProtobufCMessageDescriptor *d)
{
    if (d == &onnx__tensor_proto__descriptor) return 8;
    if (d == &onnx__node_proto__descriptor) return 3;
    if (d == &onnx__value_info_proto__descriptor || d == &onnx__attribute_proto__descriptor) return 1;
    if (d == &onnx__graph_proto__descriptor) return 2;
    return 0;
}

static const char *kind_name(const ProtobufCMessageDescriptor *d)
{
    if (d == &onnx__tensor_proto__descriptor) return "tensor";
    if (d == &onnx__node_proto__descriptor) return "node";
    if (d == &onnx__value_info_proto__descriptor) return "value";
    if (d == &onnx__attribute_proto__descriptor) return "attribute";
    if (d == &onnx__graph_proto__descriptor) return "graph";
    return NULL;
}

/* Shallow scan of a frame for its name (stops quietly at the first malformed field). */
static bool frame_name(const walk_ctx *c, const walk_frame *f, char *out, size_t size)
{
    int want = name_field(f->desc);
    if (!want) return false;
    uint64_t pos = f->start, key, len;
    while (pos < f->end && read_varint(c->d, f->end, &pos, &key)) {
        unsigned wire = key & 7;
        uint64_t num = key >> 3;
        if (wire == 0) {
            if (!read_varint(c->d, f->end, &pos, &len)) return false;
        } else if (wire == 1 || wire == 5) {
            pos += wire == 1 ? 8 : 4;
        } else if (wire == 2) {
            if (!read_varint(c->d, f->end, &pos, &len) || len > f->end - pos) return false;
            if (num == (uint64_t)want) {
                size_t n = len < size - 1 ? (size_t)len : size - 1;
                memcpy(out, c->d + pos, n);
                out[n] = 0;
                for (size_t i = 0; i < n; i++)
                    if ((unsigned char)out[i] < 0x20) out[i] = '?';
                return true;
            }
            pos += len;
        } else {
            return false;
        }
    }
    return false;
}

/* The innermost named tensor / node / ... around the failure, as "tensor 'x'". */
static void enclosing_object(const walk_ctx *c, const walk_frame *f, char *out, size_t size)
{
    out[0] = 0;
    for (; f; f = f->parent) {
        const char *kind = kind_name(f->desc);
        char name[200];
        if (kind && frame_name(c, f, name, sizeof name)) {
            snprintf(out, size, "%s '%s'", kind, name);
            return;
        }
    }
}

static qf_status walk_fail(walk_ctx *c, const walk_frame *f, qf_status code, uint64_t at, const char *field,
                           const char *fmt, const char *expected, const char *found)
{
    char object[256];
    enclosing_object(c, f, object, sizeof object);
    qf_error_set(c->err, code, c->file, NULL, (int64_t)at, object[0] ? object : NULL, "%s.%s: %s",
                 f->desc->short_name, field ? field : "?", fmt);
    if (expected) qf_error_expected(c->err, "%s", expected);
    if (found) qf_error_found(c->err, "%s", found);
    return code;
}

static bool wire_ok(const ProtobufCFieldDescriptor *fd, unsigned wire)
{
    bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL: case PROTOBUF_C_TYPE_ENUM:
        return wire == 0 || (repeated && wire == 2);
    case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT:
        return wire == 5 || (repeated && wire == 2);
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return wire == 1 || (repeated && wire == 2);
    default: return wire == 2; /* string, bytes, message */
    }
}

static const char *wire_name(unsigned wire)
{
    static const char *names[] = {"varint", "64-bit", "length-delimited", "group start", "group end", "32-bit", "6", "7"};
    return names[wire & 7];
}

static bool push_offset(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint64_t *p = realloc(*arr, nc * sizeof *p);
        if (!p) return false;
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return true;
}

static qf_status walk(walk_ctx *c, const walk_frame *f, int depth)
{
    uint64_t pos = f->start;
    bool main_graph = f->desc == &onnx__graph_proto__descriptor && depth == 1;
    while (pos < f->end) {
        uint64_t at = pos, key, len = 0;
        if (!read_varint(c->d, f->end, &pos, &key))
            return walk_fail(c, f, QF_STATUS_FORMAT, at, NULL, "malformed field tag (varint runs past its message)",
                             NULL, NULL);
        unsigned wire = key & 7;
        uint64_t num = key >> 3;
        if (num == 0 || num > 536870911u)
            return walk_fail(c, f, QF_STATUS_FORMAT, at, NULL, "field number 0 or out of range", "1..2^29-1", NULL);
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(f->desc, (unsigned)num);
        const char *fname = fd ? fd->name : "(unknown field)";
        if (wire == 3 || wire == 4 || wire > 5) {
            char found[32];
            snprintf(found, sizeof found, "wire type %u", wire);
            return walk_fail(c, f, QF_STATUS_FORMAT, at, fname, "unsupported wire type (groups are not used by ONNX)",
                             "varint, 64-bit, length-delimited or 32-bit", found);
        }
        if (fd && !wire_ok(fd, wire)) {
            char found[64];
            snprintf(found, sizeof found, "%s (field %llu)", wire_name(wire), (unsigned long long)num);
            return walk_fail(c, f, QF_STATUS_FORMAT, at, fname, "wrong wire type for the field's declared type",
                             fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_STRING ||
                                     fd->type == PROTOBUF_C_TYPE_BYTES
                                 ? "length-delimited"
                                 : "its scalar encoding",
                             found);
        }
        switch (wire) {
        case 0:
            if (!read_varint(c->d, f->end, &pos, &len))
                return walk_fail(c, f, QF_STATUS_FORMAT, pos, fname, "malformed varint value", NULL, NULL);
            break;
        case 1:
        case 5: {
            uint64_t w = wire == 1 ? 8 : 4;
            if (w > f->end - pos)
                return walk_fail(c, f, QF_STATUS_TRUNCATED, pos, fname, "fixed-size value runs past its message", NULL,
                                 NULL);
            pos += w;
            break;
        }
        case 2: {
            uint64_t len_at = pos;
            if (!read_varint(c->d, f->end, &pos, &len))
                return walk_fail(c, f, QF_STATUS_FORMAT, len_at, fname, "malformed length", NULL, NULL);
            if (len > f->end - pos) {
                char e[48], fo[48];
                snprintf(e, sizeof e, "<= %llu bytes", (unsigned long long)(f->end - pos));
                snprintf(fo, sizeof fo, "%llu bytes", (unsigned long long)len);
                return walk_fail(c, f, QF_STATUS_TRUNCATED, len_at, fname, "length runs past the enclosing message", e,
                                 fo);
            }
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > QF_ONNX_MAX_DEPTH) {
                    char e[32];
                    snprintf(e, sizeof e, "<= %d levels", QF_ONNX_MAX_DEPTH);
                    return walk_fail(c, f, QF_STATUS_LIMIT, at, fname, "messages nested too deeply", e, NULL);
                }
                if (main_graph && c->off && (num == 5 || num == 1)) {
                    bool ok = num == 5 ? push_offset(&c->off->initializer, &c->off->n_initializers, &c->cap_init, pos)
                                       : push_offset(&c->off->node, &c->off->n_nodes, &c->cap_node, pos);
                    if (!ok) return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
                }
                walk_frame sub = {fd->descriptor, pos, pos + len, f};
                qf_status s = walk(c, &sub, depth + 1);
                if (s) return s;
            }
            pos += len;
            break;
        }
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_onnx_proto_parse(const uint8_t *data, uint64_t size, const char *file, Onnx__ModelProto **out,
                              qf_onnx_offsets *offsets, qf_error *err)
{
    *out = NULL;
    if (offsets) memset(offsets, 0, sizeof *offsets);
    if (size > QF_ONNX_MAX_PROTO) {
        qf_error_set(err, QF_STATUS_LIMIT, file, NULL, (int64_t)QF_ONNX_MAX_PROTO, NULL,
                     "ONNX protobuf larger than %llu bytes (protobuf's cap; large models keep tensors in external data)",
                     (unsigned long long)QF_ONNX_MAX_PROTO);
        qf_error_expected(err, "<= %llu bytes", (unsigned long long)QF_ONNX_MAX_PROTO);
        qf_error_found(err, "%llu bytes", (unsigned long long)size);
        return QF_STATUS_LIMIT;
    }
    walk_ctx c = {data, file, err, offsets, 0, 0};
    walk_frame top = {&onnx__model_proto__descriptor, 0, size, NULL};
    qf_status s = walk(&c, &top, 0);
    if (s) {
        qf_onnx_offsets_free(offsets);
        return s;
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, data);
    if (!m) {
        qf_onnx_offsets_free(offsets);
        return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, NULL,
                            "ONNX ModelProto rejected by protobuf-c (out of memory or an invalid value)");
    }
    *out = m;
    return QF_STATUS_OK;
}

void qf_onnx_proto_free(Onnx__ModelProto *m)
{
    if (m) onnx__model_proto__free_unpacked(m, NULL);
}

void qf_onnx_offsets_free(qf_onnx_offsets *o)
{
    if (!o) return;
    free(o->initializer);
    free(o->node);
    memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                     */

typedef struct out_buffer {
    ProtobufCBuffer base;
    qf_output *o;
    qf_error *err;
    qf_status status;
} out_buffer;

static void out_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    out_buffer *ob = (out_buffer *)b;
    if (ob->status) return;
    ob->status = qf_output_write(ob->o, data, len, ob->err);
}

qf_status qf_onnx_proto_write(const Onnx__ModelProto *m, const char *path, qf_error *err)
{
    size_t size = onnx__model_proto__get_packed_size(m);
    if (size > QF_ONNX_MAX_PROTO) {
        qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, NULL,
                     "the ONNX graph would be %zu bytes, past protobuf's 2 GiB cap", size);
        qf_error_expected(err, "<= %llu bytes", (unsigned long long)QF_ONNX_MAX_PROTO);
        return QF_STATUS_LIMIT;
    }
    qf_output *o = NULL;
    qf_status s = qf_output_open(path, &o, err);
    if (s) return s;
    out_buffer ob = {{out_append}, o, err, QF_STATUS_OK};
    onnx__model_proto__pack_to_buffer(m, &ob.base);
    if (ob.status) {
        qf_output_abort(o);
        return ob.status;
    }
    return qf_output_commit(o, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Dtypes                                                                                      */

bool qf_onnx_dtype_to_qf(int32_t t, qf_dtype *out)
{
    switch (t) {
    case QF_ONNX_FLOAT: *out = QF_DTYPE_F32; return true;
    case QF_ONNX_UINT8: *out = QF_DTYPE_U8; return true;
    case QF_ONNX_INT8: *out = QF_DTYPE_I8; return true;
    case QF_ONNX_INT16: *out = QF_DTYPE_I16; return true;
    case QF_ONNX_INT32: *out = QF_DTYPE_I32; return true;
    case QF_ONNX_INT64: *out = QF_DTYPE_I64; return true;
    case QF_ONNX_BOOL: *out = QF_DTYPE_BOOL; return true;
    case QF_ONNX_FLOAT16: *out = QF_DTYPE_F16; return true;
    case QF_ONNX_DOUBLE: *out = QF_DTYPE_F64; return true;
    case QF_ONNX_BFLOAT16: *out = QF_DTYPE_BF16; return true;
    default: return false;
    }
}

int32_t qf_onnx_dtype_from_qf(qf_dtype t)
{
    switch (t) {
    case QF_DTYPE_F32: return QF_ONNX_FLOAT;
    case QF_DTYPE_U8: return QF_ONNX_UINT8;
    case QF_DTYPE_I8: return QF_ONNX_INT8;
    case QF_DTYPE_I16: return QF_ONNX_INT16;
    case QF_DTYPE_I32: return QF_ONNX_INT32;
    case QF_DTYPE_I64: return QF_ONNX_INT64;
    case QF_DTYPE_BOOL: return QF_ONNX_BOOL;
    case QF_DTYPE_F16: return QF_ONNX_FLOAT16;
    case QF_DTYPE_F64: return QF_ONNX_DOUBLE;
    case QF_DTYPE_BF16: return QF_ONNX_BFLOAT16;
    default: return 0;
    }
}

const char *qf_onnx_dtype_name(int32_t t)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
                                  "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
                                  "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
                                  "FLOAT8E5M2FNUZ", "UINT4", "INT4"};
    return t >= 0 && (size_t)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* ------------------------------------------------------------------------------------------ */
/* External data                                                                               */

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (!qf_mul_u64(v, 10, &v) || !qf_add_u64(v, (uint64_t)(*s - '0'), &v)) return false;
    }
    *out = v;
    return true;
}

qf_status qf_onnx_external_parse(const Onnx__TensorProto *t, const char *file, int64_t at, qf_onnx_external *out,
                                 qf_error *err)
{
    memset(out, 0, sizeof *out);
    const char *name = t->name ? t->name : "";
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        const char *k = e->key ? e->key : "", *v = e->value ? e->value : "";
        if (strcmp(k, "location") == 0) {
            out->location = v;
        } else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
            uint64_t n;
            if (!parse_u64(v, &n)) {
                qf_error_set(err, QF_STATUS_FORMAT, file, NULL, at, name, "external data %s '%s' is not a decimal byte count",
                             k, v);
                qf_error_expected(err, "decimal integer");
                qf_error_found(err, "'%s'", v);
                return QF_STATUS_FORMAT;
            }
            if (k[0] == 'o') {
                out->offset = n;
            } else {
                out->length = n;
                out->has_length = true;
            }
        }
    }
    if (!out->location || !out->location[0])
        return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, at, name,
                            "external data of tensor '%s' has no location", name);
    return QF_STATUS_OK;
}

qf_status qf_onnx_external_open(const char *model_dir, const char *location, const char *tensor, const char *file,
                                int64_t at, qf_file **out, qf_error *err)
{
    /* the rule for every file found beside a model (core/file.c), reported as this tensor's */
    qf_error inner;
    qf_error_clear(&inner);
    qf_status s = qf_file_map_beside(model_dir, location, out, &inner);
    if (!s) return QF_STATUS_OK;
    qf_error_set(err, s, file, NULL, at, tensor, "external data of tensor '%s': %s", tensor, inner.message);
    if (inner.expected[0]) qf_error_expected(err, "%s", inner.expected);
    if (inner.found[0]) qf_error_found(err, "%s", inner.found);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Graph helpers                                                                               */

const Onnx__AttributeProto *qf_onnx_node_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
    return NULL;
}

int64_t qf_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = qf_onnx_node_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

float qf_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = qf_onnx_node_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

static int use_cmp(const void *a, const void *b)
{
    const qf_onnx_use *x = a, *y = b;
    int c = strcmp(x->value, y->value);
    if (c) return c;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

qf_status qf_onnx_uses_build(const Onnx__GraphProto *g, qf_onnx_uses *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    size_t total = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        if (!qf_add_size(total, g->node[i]->n_input, &total))
            return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "node input count overflows");
        for (size_t a = 0; a < g->node[i]->n_attribute; a++)
            if (g->node[i]->attribute[a]->g || g->node[i]->attribute[a]->n_graphs) out->has_subgraphs = true;
    }
    if (total) {
        out->uses = calloc(total, sizeof *out->uses);
        if (!out->uses) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++) {
            const char *v = g->node[i]->input[k];
            if (!v || !v[0]) continue; /* omitted optional input */
            out->uses[out->count++] = (qf_onnx_use){v, i, k};
        }
    if (out->count) qsort(out->uses, out->count, sizeof *out->uses, use_cmp);
    return QF_STATUS_OK;
}

void qf_onnx_uses_free(qf_onnx_uses *u)
{
    if (!u) return;
    free(u->uses);
    memset(u, 0, sizeof *u);
}

size_t qf_onnx_uses_of(const qf_onnx_uses *u, const char *value, const qf_onnx_use **first)
{
    *first = NULL;
    size_t lo = 0, hi = u->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(u->uses[mid].value, value) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t n = 0;
    while (lo + n < u->count && strcmp(u->uses[lo + n].value, value) == 0) n++;
    if (n) *first = &u->uses[lo];
    return n;
}

bool qf_onnx_weight_is_in_out(const Onnx__GraphProto *g, const qf_onnx_uses *u, const Onnx__TensorProto *t)
{
    if (u->has_subgraphs || t->n_dims != 2 || !t->name) return false;
    const qf_onnx_use *first;
    size_t n = qf_onnx_uses_of(u, t->name, &first);
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        const Onnx__NodeProto *node = g->node[first[i].node];
        const char *op = node->op_type ? node->op_type : "";
        bool domain_ok = !node->domain || !node->domain[0] || strcmp(node->domain, "ai.onnx") == 0;
        if (!domain_ok || first[i].slot != 1) return false;
        if (strcmp(op, "MatMul") == 0) continue;
        if (strcmp(op, "Gemm") == 0 && qf_onnx_attr_int(node, "transB", 0) == 0) continue;
        return false;
    }
    return true;
}

long qf_onnx_find_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0) return (long)i;
    return -1;
}
