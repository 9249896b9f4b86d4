/*
 * writers/qf/qf_writer.c — canonical model -> .qf file (docs/format.md), the last step of
 * `qforge convert` / `qforge quantize`. First the directory is planned: each distinct extent of
 * tensor bytes (shared storage = same data pointer and size, written once; produced tensors,
 * core.h, are never shared) gets the next 64-aligned offset. The JSON block's room is reserved as
 * the length of the directory with every crc32 written at its widest (10 digits), which fixes
 * data_offset before any checksum is known. Then one sequential pass writes the data through
 * qf_output (temporary file, fsync, rename), computing each extent's CRC-32 as it goes (and, for a
 * produced tensor, pulling its bytes from the model's producer into a reused buffer just before,
 * in model order), releasing the pages of
 * mapped inputs it is done with; last, header and JSON are written into the room kept at the
 * start, the JSON followed by spaces up to the reserved length (trailing JSON whitespace, as
 * docs/format.md allows). Metadata still being computed on another thread (the source's SHA-256,
 * hashed while the data is written) is waited for only by that last JSON; the reservation counts
 * it at its final length. Memory stays bounded by the largest produced tensor, whatever the model
 * size. Output depends only on the model, the params and SOURCE_DATE_EPOCH: identical input gives
 * identical bytes, whether tensors come from memory or from a producer.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/qfile.h"
#include "qforge/writers.h"

qf_qfile_write_params qf_qfile_write_params_default(void)
{
    qf_qfile_write_params p;
    memset(&p, 0, sizeof p);
    return p;
}

typedef struct extent {
    const void *data;
    uint64_t offset, nbytes;
    uint32_t crc;
    size_t tensor; /* the first tensor stored in it */
    bool produced; /* bytes come from the model's producer, not from data */
} extent;

typedef struct plan {
    uint64_t *tensor_extent; /* per tensor: index into extents, or UINT64_MAX for an empty tensor */
    uint64_t *empty_offset;  /* per tensor: offset of an empty tensor */
    extent *extents;
    size_t extent_count;
    uint64_t data_size;
} plan;

static void plan_free(plan *p)
{
    free(p->tensor_extent);
    free(p->empty_offset);
    free(p->extents);
}

static size_t pointer_hash(const void *p, uint64_t nbytes, size_t mask)
{
    uint64_t h = ((uint64_t)(uintptr_t)p ^ (nbytes * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (size_t)(h >> 17) & mask;
}

static qf_status no_memory(const char *path, qf_error *err)
{
    return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
}

/* Assigns offsets in model order and dedups shared storage (produced tensors are never shared);
 * CRCs are computed while writing. */
static qf_status plan_layout(const qf_model *m, const char *path, plan *p, qf_error *err)
{
    size_t n = qf_model_tensor_count(m);
    size_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    size_t *slots = calloc(cap, sizeof *slots); /* extent index + 1, 0 = empty */
    p->tensor_extent = calloc(n ? n : 1, sizeof *p->tensor_extent);
    p->empty_offset = calloc(n ? n : 1, sizeof *p->empty_offset);
    p->extents = calloc(n ? n : 1, sizeof *p->extents);
    if (!slots || !p->tensor_extent || !p->empty_offset || !p->extents) {
        free(slots);
        return no_memory(path, err);
    }
    uint64_t end = 0, next = 0;
    for (size_t i = 0; i < n; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        if (t->nbytes == 0) {
            p->tensor_extent[i] = UINT64_MAX;
            p->empty_offset[i] = next;
            continue;
        }
        bool produced = qf_model_tensor_produced(m, i);
        size_t j = pointer_hash(t->data, t->nbytes, cap - 1);
        while (!produced && slots[j]) {
            const extent *e = &p->extents[slots[j] - 1];
            if (e->data == t->data && e->nbytes == t->nbytes) break;
            j = (j + 1) & (cap - 1);
        }
        if (!produced && slots[j]) {
            p->tensor_extent[i] = slots[j] - 1;
            continue;
        }
        extent *e = &p->extents[p->extent_count];
        e->data = t->data;
        e->offset = next;
        e->nbytes = t->nbytes;
        e->crc = UINT32_MAX; /* the widest value, for the reservation; set while writing */
        e->tensor = i;
        e->produced = produced;
        if (!qf_add_u64(next, t->nbytes, &end) || !qf_align_up_u64(end, QF_QF_ALIGN, &next)) {
            free(slots);
            return qf_error_set(err, QF_STATUS_OVERFLOW, path, NULL, -1, t->name, "data section size overflows");
        }
        ++p->extent_count;
        if (!produced) slots[j] = p->extent_count;
        p->tensor_extent[i] = p->extent_count - 1;
    }
    free(slots);
    p->data_size = next;
    return QF_STATUS_OK;
}

/* Adds key -> value to obj, taking ownership of value in every case; false when out of memory. */
static bool put(json_object *obj, const char *key, json_object *value)
{
    if (!value) return false;
    if (json_object_object_add(obj, key, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* Appends value to array, taking ownership of value in every case; false when out of memory. */
static bool append(json_object *array, json_object *value)
{
    if (!value) return false;
    if (json_object_array_add(array, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* put() when ok is still true; otherwise just releases value. */
static bool put_if(bool ok, json_object *obj, const char *key, json_object *value)
{
    if (ok) return put(obj, key, value);
    json_object_put(value);
    return false;
}

static bool is_writer_key(const char *key)
{
    return strcmp(key, "qforge.version") == 0 || strcmp(key, "qforge.command_line") == 0 ||
           strcmp(key, "qforge.created") == 0;
}

/* "qforge.created" from SOURCE_DATE_EPOCH (reproducible-builds.org): a malformed value is an error. */
static qf_status created_stamp(const char *path, char out[32], bool *have, qf_error *err)
{
    const char *env = getenv("SOURCE_DATE_EPOCH");
    *have = false;
    if (!env) return QF_STATUS_OK;
    char *endp = NULL;
    errno = 0;
    long long secs = strtoll(env, &endp, 10);
    struct tm tm;
    time_t tt = (time_t)secs;
    if (!env[0] || *endp || errno || secs < 0 || (long long)tt != secs || !gmtime_r(&tt, &tm) ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, "SOURCE_DATE_EPOCH",
                     "SOURCE_DATE_EPOCH is not a number of seconds");
        qf_error_found(err, "'%s'", env);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    *have = true;
    return QF_STATUS_OK;
}

static qf_status parse_config(const qf_model *m, const char *path, json_object **out, qf_error *err)
{
    const char *text = qf_model_config_json(m);
    *out = NULL;
    if (!text) return QF_STATUS_OK;
    /* the config sits one level below the root of the JSON block the reader parses */
    json_tokener *tok = json_tokener_new_ex(QF_QF_MAX_JSON_DEPTH - 1);
    if (!tok) return no_memory(path, err);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t len = strlen(text);
    json_object *cfg = len <= QF_MAX_CONFIG_JSON ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    bool complete = cfg && json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!complete || !json_object_is_type(cfg, json_type_object)) {
        json_object_put(cfg);
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, "config.json",
                            "the model's config.json is not a JSON object");
    }
    *out = cfg;
    return QF_STATUS_OK;
}

static json_object *tensor_entry(const qf_model *m, size_t i, const plan *p)
{
    const qf_tensor *t = qf_model_tensor(m, i);
    json_object *e = json_object_new_object();
    json_object *shape = json_object_new_array_ext(t->rank > 0 ? t->rank : 1);
    if (!e || !shape) {
        json_object_put(e);
        json_object_put(shape);
        return NULL;
    }
    bool ok = true;
    for (int32_t d = 0; d < t->rank && ok; d++) ok = append(shape, json_object_new_int64(t->shape[d]));
    uint64_t off = 0;
    uint32_t crc = 0;
    if (p->tensor_extent[i] != UINT64_MAX) {
        off = p->extents[p->tensor_extent[i]].offset;
        crc = p->extents[p->tensor_extent[i]].crc;
    } else {
        off = p->empty_offset[i];
    }
    ok = ok && put(e, "name", json_object_new_string(t->name));
    if (ok && strcmp(t->source_name, t->name) != 0) ok = put(e, "source_name", json_object_new_string(t->source_name));
    ok = ok && put(e, "dtype", json_object_new_string(qf_dtype_name(t->dtype)));
    ok = put_if(ok, e, "shape", shape);
    ok = ok && put(e, "offset", json_object_new_int64((int64_t)off));
    ok = ok && put(e, "nbytes", json_object_new_int64((int64_t)t->nbytes));
    ok = ok && put(e, "crc32", json_object_new_int64(crc));
    if (ok && t->quant.scheme != QF_QUANT_NONE) {
        json_object *q = json_object_new_object();
        ok = q != NULL;
        ok = ok && put(q, "scheme", json_object_new_string(qf_quant_scheme_name(t->quant.scheme)));
        if (ok && t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL)
            ok = put(q, "axis", json_object_new_int64(t->quant.axis));
        ok = ok && put(q, "scale", json_object_new_string(t->quant.scale_name));
        if (ok && t->quant.zero_point_name) ok = put(q, "zero_point", json_object_new_string(t->quant.zero_point_name));
        ok = put_if(ok, e, "quant", q);
    }
    if (!ok) {
        json_object_put(e);
        return NULL;
    }
    return e;
}

/* Builds the JSON block; *out is owned by the caller (free). `sizing`: for the reservation only,
 * so metadata still being computed (the source hash) is not waited for but stands in at its
 * final length (qf_model_meta_peek). */
static qf_status build_json(const qf_model *m, const plan *p, const qf_qfile_write_params *params, const char *path,
                            bool sizing, char **out, size_t *out_len, qf_error *err)
{
    char created[32];
    bool have_created;
    json_object *cfg = NULL;
    qf_status st = created_stamp(path, created, &have_created, err);
    if (!st) st = parse_config(m, path, &cfg, err);
    if (st) return st;

    json_object *root = json_object_new_object();
    json_object *version = json_object_new_array_ext(2);
    json_object *meta = json_object_new_object();
    size_t count = qf_model_tensor_count(m);
    json_object *tensors = json_object_new_array_ext(count == 0 ? 1 : count < INT32_MAX ? (int)count : INT32_MAX);
    bool ok = root && version && meta && tensors;
    ok = ok && append(version, json_object_new_int64(QF_QFILE_VERSION_MAJOR)) &&
         append(version, json_object_new_int64(QF_QFILE_VERSION_MINOR));
    for (size_t i = 0; ok && i < qf_model_meta_count(m); i++) {
        const char *k, *v;
        if (sizing) qf_model_meta_peek(m, i, &k, &v, NULL);
        else qf_model_meta_at(m, i, &k, &v);
        if (!is_writer_key(k)) ok = put(meta, k, json_object_new_string(v));
    }
    ok = ok && put(meta, "qforge.version", json_object_new_string(QF_VERSION_STRING));
    if (ok && params->command_line)
        ok = put(meta, "qforge.command_line", json_object_new_string(params->command_line));
    if (ok && have_created) ok = put(meta, "qforge.created", json_object_new_string(created));
    for (size_t i = 0; ok && i < qf_model_tensor_count(m); i++) {
        ok = append(tensors, tensor_entry(m, i, p));
    }
    ok = ok && put(root, "format", json_object_new_string("qforge"));
    ok = put_if(ok, root, "version", version);
    ok = put_if(ok, root, "metadata", meta);
    if (cfg) ok = put_if(ok, root, "config", cfg);
    ok = put_if(ok, root, "tensors", tensors);
    if (!ok) {
        json_object_put(root);
        return no_memory(path, err);
    }
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!text) {
        json_object_put(root);
        return no_memory(path, err);
    }
    if (len > QF_QF_MAX_JSON) {
        json_object_put(root);
        qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, NULL, "JSON metadata and directory too large");
        qf_error_expected(err, "<= %u bytes", QF_QF_MAX_JSON);
        qf_error_found(err, "%zu bytes", len);
        return QF_STATUS_LIMIT;
    }
    *out = malloc(len ? len : 1);
    if (*out) memcpy(*out, text, len);
    json_object_put(root);
    if (!*out) return no_memory(path, err);
    *out_len = len;
    return QF_STATUS_OK;
}

/* The data section: extents in order with zero padding, each CRC-32 computed on the way. */
static qf_status write_data(qf_output *o, const qf_model *m, uint64_t data_offset, plan *p, qf_error *err)
{
    const qf_tensor_producer *prod = qf_model_producer(m);
    enum { CRC_CHUNK = 1u << 20 };
    uint64_t biggest = 0;
    for (size_t i = 0; i < p->extent_count; i++)
        if (p->extents[i].produced && p->extents[i].nbytes > biggest) biggest = p->extents[i].nbytes;
    void *buf = NULL;
    if (biggest && ((uint64_t)(size_t)biggest != biggest || !(buf = aligned_alloc(64, (size_t)((biggest + 63) & ~63ull)))))
        return no_memory(NULL, err);
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; !st && i < p->extent_count; i++) {
        extent *e = &p->extents[i];
        st = qf_output_write_zeros(o, (size_t)(data_offset + e->offset - qf_output_offset(o)), err);
        if (st) break;
        const uint8_t *bytes = e->data;
        if (e->produced) {
            st = prod->produce(prod->ctx, m, e->tensor, buf, e->nbytes, err);
            if (st) break;
            bytes = buf;
        }
        uint32_t crc = 0;
        for (uint64_t off = 0; off < e->nbytes; off += CRC_CHUNK) {
            size_t n = e->nbytes - off < CRC_CHUNK ? (size_t)(e->nbytes - off) : CRC_CHUNK;
            crc = qf_crc32(crc, bytes + off, n);
        }
        e->crc = crc;
        st = qf_output_write(o, bytes, (size_t)e->nbytes, err);
        if (!e->produced) qf_file_release_pages(e->data, e->nbytes);
    }
    free(buf);
    if (!st) st = qf_output_write_zeros(o, (size_t)(data_offset + p->data_size - qf_output_offset(o)), err);
    return st;
}

qf_status qf_qfile_write(const qf_model *m, const char *path, const qf_qfile_write_params *params, qf_error *err)
{
    if (!m || !path)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "model or path is NULL");
    qf_qfile_write_params defaults = qf_qfile_write_params_default();
    if (!params) params = &defaults;
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        qf_status st = qf_qfile_check_quant(m, qf_model_tensor(m, i), path, -1, err);
        if (st) return st;
    }
    plan p;
    memset(&p, 0, sizeof p);
    char *json = NULL;
    size_t reserved = 0, json_len = 0;
    qf_status st = plan_layout(m, path, &p, err);
    if (!st) st = build_json(m, &p, params, path, true, &json, &reserved, err);
    free(json);
    json = NULL;
    uint64_t data_offset = 0, file_size = 0;
    if (!st && (!qf_align_up_u64(QF_QFILE_HEADER_SIZE + (uint64_t)reserved, QF_QF_ALIGN, &data_offset) ||
                !qf_add_u64(data_offset, p.data_size, &file_size)))
        st = qf_error_set(err, QF_STATUS_OVERFLOW, path, NULL, -1, NULL, "file size overflows");
    qf_output *o = NULL;
    if (!st) st = qf_output_open(path, &o, err);
    if (!st) st = qf_output_write_zeros(o, (size_t)data_offset, err);
    if (!st) st = write_data(o, m, data_offset, &p, err);
    if (!st) st = build_json(m, &p, params, path, false, &json, &json_len, err);
    if (!st && json_len > reserved)
        st = qf_error_set(err, QF_STATUS_INTERNAL, path, NULL, -1, NULL, "JSON block outgrew its reservation");
    if (!st) {
        char *padded = realloc(json, reserved ? reserved : 1);
        if (!padded) {
            st = no_memory(path, err);
        } else {
            json = padded;
            memset(json + json_len, ' ', reserved - json_len);
        }
    }
    if (!st) {
        uint8_t h[QF_QFILE_HEADER_SIZE];
        memset(h, 0, sizeof h);
        memcpy(h + QF_QFILE_OFF_MAGIC, QF_QFILE_MAGIC, QF_QFILE_MAGIC_SIZE);
        qf_qfile_store_u32(h + QF_QFILE_OFF_VERSION_MAJOR, QF_QFILE_VERSION_MAJOR);
        qf_qfile_store_u32(h + QF_QFILE_OFF_VERSION_MINOR, QF_QFILE_VERSION_MINOR);
        qf_qfile_store_u32(h + QF_QFILE_OFF_BYTE_ORDER, QF_QFILE_BYTE_ORDER);
        qf_qfile_store_u64(h + QF_QFILE_OFF_JSON_OFFSET, QF_QFILE_HEADER_SIZE);
        qf_qfile_store_u64(h + QF_QFILE_OFF_JSON_SIZE, reserved);
        qf_qfile_store_u64(h + QF_QFILE_OFF_DATA_OFFSET, data_offset);
        qf_qfile_store_u64(h + QF_QFILE_OFF_DATA_SIZE, p.data_size);
        qf_qfile_store_u32(h + QF_QFILE_OFF_JSON_CRC, qf_crc32(0, json, reserved));
        qf_qfile_store_u32(h + QF_QFILE_OFF_HEADER_CRC, qf_qfile_header_crc(h));
        st = qf_output_write_at(o, 0, h, QF_QFILE_HEADER_SIZE, err);
        if (!st) st = qf_output_write_at(o, QF_QFILE_HEADER_SIZE, json, reserved, err);
    }
    if (o) {
        if (st) qf_output_abort(o);
        else st = qf_output_commit(o, err);
    }
    free(json);
    plan_free(&p);
    return st;
}
