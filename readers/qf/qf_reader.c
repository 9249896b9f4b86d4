/*
 * readers/qf/qf_reader.c — reads qforge's own .qf artifacts (docs/format.md) into a canonical model,
 * e.g. for `qforge inspect`, `verify` and `run`. Open validates the 64-byte header, the JSON block
 * and the whole tensor directory (extents 64-aligned, contiguous, shared only when identical,
 * quantization references consistent) and the values of the scale tensors (finite, > 0: small,
 * one f32 per channel), without reading other tensor data; tensors are then borrowed
 * views into the mapping, which the model keeps alive. With verify_checksums every extent's
 * CRC-32 and every padding byte is checked as well.
 *
 * Error offsets are absolute file offsets: a header field, the character where JSON parsing
 * failed, or the start of the JSON value at fault (a tensor's directory entry, "metadata", ...).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/qfile.h"
#include "qforge/readers.h"

qf_qfile_open_params qf_qfile_open_params_default(void)
{
    qf_qfile_open_params p;
    memset(&p, 0, sizeof p);
    p.verify_checksums = false;
    return p;
}

/* A distinct run of tensor bytes; offsets relative to data_offset. */
typedef struct extent {
    uint64_t offset, nbytes;
    uint32_t crc;
    size_t tensor; /* first tensor stored there */
} extent;

typedef struct pending_quant {
    size_t tensor, entry; /* model index, directory index */
    qf_quant_scheme scheme;
    int64_t axis;
    const char *scale, *zero_point; /* borrowed from the parsed JSON */
} pending_quant;

typedef struct reader {
    const char *path;
    const uint8_t *base;
    uint64_t size;
    bool strict; /* unknown keys are errors (file minor version <= ours) */
    uint32_t version_major, version_minor;
    uint64_t json_size, data_offset, data_size;
    const char *json;
    extent *extents;
    size_t extent_count;
    uint64_t end; /* end of the last extent, relative to data_offset */
    pending_quant *quants;
    size_t quant_count;
} reader;

#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static qf_status fail(const reader *r, qf_error *err, qf_status code, int64_t offset, const char *object,
                      const char *fmt, ...)
{
    char msg[QF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *part = offset >= 0 && offset < (int64_t)QF_QFILE_HEADER_SIZE ? "header" : NULL;
    return qf_error_set(err, code, r->path, part, offset, object, "%s", msg);
}

/* Re-raises an error a core call reported without file context. */
static qf_status rewrap(const reader *r, qf_error *err, const qf_error *local, int64_t offset)
{
    qf_status st = fail(r, err, local->code, offset, local->object, "%s", local->message);
    if (local->expected[0]) qf_error_expected(err, "%s", local->expected);
    if (local->found[0]) qf_error_found(err, "%s", local->found);
    return st;
}

/* ---- locating a JSON value for error offsets (error path only; the JSON is known to parse) ---- */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static size_t skip_string(const char *s, size_t n, size_t i) /* s[i] == '"'; returns past the closing quote */
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    return i < n ? i + 1 : n;
}

static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n) return n;
    if (s[i] == '"') return skip_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
               s[i] != '\r')
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i);
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if ((c == '}' || c == ']') && --depth == 0) return i + 1;
        i++;
    }
    return n;
}

/*
 * Absolute offset of the value of top-level key `key`, or of element `index` of that array when
 * index >= 0. Falls back to the JSON block's offset.
 */
static int64_t json_locate(const reader *r, const char *key, int64_t index)
{
    const char *s = r->json;
    size_t n = (size_t)r->json_size, klen = strlen(key);
    int64_t fallback = QF_QFILE_HEADER_SIZE;
    size_t i = skip_ws(s, n, 0);
    if (i >= n || s[i] != '{') return fallback;
    for (i++;;) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != '"') return fallback;
        size_t kstart = i + 1, kend = skip_string(s, n, i);
        i = skip_ws(s, n, kend);
        if (i >= n || s[i] != ':') return fallback;
        i = skip_ws(s, n, i + 1);
        if (kend - 1 - kstart == klen && memcmp(s + kstart, key, klen) == 0) break;
        i = skip_ws(s, n, skip_value(s, n, i));
        if (i >= n || s[i] != ',') return fallback;
        i++;
    }
    if (index < 0) return fallback + (int64_t)i;
    if (s[i] != '[') return fallback;
    i++;
    for (int64_t e = 0;; e++) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] == ']') return fallback;
        if (e == index) return fallback + (int64_t)i;
        i = skip_ws(s, n, skip_value(s, n, i));
        if (i >= n || s[i] != ',') return fallback;
        i++;
    }
}

static int64_t entry_at(const reader *r, size_t entry) { return json_locate(r, "tensors", (int64_t)entry); }

/* ---- header ---- */

static qf_status check_header(reader *r, qf_error *err)
{
    const uint8_t *h = r->base;
    size_t cmp = r->size < QF_QFILE_MAGIC_SIZE ? (size_t)r->size : QF_QFILE_MAGIC_SIZE;
    if (memcmp(h, QF_QFILE_MAGIC, cmp) != 0) {
        fail(r, err, QF_STATUS_UNKNOWN_FORMAT, QF_QFILE_OFF_MAGIC, "magic", "not a .qf file (bad magic)");
        qf_error_expected(err, "89 51 46 4f 52 47 45 0a (\"\\x89QFORGE\\n\")");
        return QF_STATUS_UNKNOWN_FORMAT;
    }
    if (r->size < QF_QFILE_HEADER_SIZE) {
        fail(r, err, QF_STATUS_TRUNCATED, (int64_t)r->size, "header", "file ends inside the 64-byte header");
        qf_error_expected(err, ">= %u bytes", QF_QFILE_HEADER_SIZE);
        qf_error_found(err, "%llu bytes", (unsigned long long)r->size);
        return QF_STATUS_TRUNCATED;
    }
    r->version_major = qf_qfile_load_u32(h + QF_QFILE_OFF_VERSION_MAJOR);
    r->version_minor = qf_qfile_load_u32(h + QF_QFILE_OFF_VERSION_MINOR);
    if (r->version_major != QF_QFILE_VERSION_MAJOR) {
        fail(r, err, QF_STATUS_UNSUPPORTED, QF_QFILE_OFF_VERSION_MAJOR, "version_major", "unsupported .qf major version");
        qf_error_expected(err, "%u", QF_QFILE_VERSION_MAJOR);
        qf_error_found(err, "%u", r->version_major);
        return QF_STATUS_UNSUPPORTED;
    }
    r->strict = r->version_minor <= QF_QFILE_VERSION_MINOR;
    uint32_t bom = qf_qfile_load_u32(h + QF_QFILE_OFF_BYTE_ORDER);
    if (bom != QF_QFILE_BYTE_ORDER) {
        fail(r, err, QF_STATUS_FORMAT, QF_QFILE_OFF_BYTE_ORDER, "byte_order", "byte-order mark is wrong%s",
             bom == 0x04030201u ? " (fields written big-endian)" : "");
        qf_error_expected(err, "0x%08x", QF_QFILE_BYTE_ORDER);
        qf_error_found(err, "0x%08x", bom);
        return QF_STATUS_FORMAT;
    }
    uint32_t stored = qf_qfile_load_u32(h + QF_QFILE_OFF_HEADER_CRC), crc = qf_qfile_header_crc(h);
    if (stored != crc) {
        fail(r, err, QF_STATUS_CHECKSUM, QF_QFILE_OFF_HEADER_CRC, "header_crc32", "header CRC-32 mismatch");
        qf_error_expected(err, "0x%08x", crc);
        qf_error_found(err, "0x%08x", stored);
        return QF_STATUS_CHECKSUM;
    }
    uint64_t json_offset = qf_qfile_load_u64(h + QF_QFILE_OFF_JSON_OFFSET);
    if (json_offset != QF_QFILE_HEADER_SIZE) {
        fail(r, err, QF_STATUS_FORMAT, QF_QFILE_OFF_JSON_OFFSET, "json_offset", "JSON block must follow the header");
        qf_error_expected(err, "%u", QF_QFILE_HEADER_SIZE);
        qf_error_found(err, "%llu", (unsigned long long)json_offset);
        return QF_STATUS_FORMAT;
    }
    r->json_size = qf_qfile_load_u64(h + QF_QFILE_OFF_JSON_SIZE);
    if (r->json_size > QF_QF_MAX_JSON) {
        fail(r, err, QF_STATUS_LIMIT, QF_QFILE_OFF_JSON_SIZE, "json_size", "JSON block too large");
        qf_error_expected(err, "<= %u bytes", QF_QF_MAX_JSON);
        qf_error_found(err, "%llu bytes", (unsigned long long)r->json_size);
        return QF_STATUS_LIMIT;
    }
    if (!qf_range_within(QF_QFILE_HEADER_SIZE, r->json_size, r->size)) {
        fail(r, err, QF_STATUS_TRUNCATED, QF_QFILE_OFF_JSON_SIZE, "json_size", "JSON block extends past the end of the file");
        qf_error_expected(err, "<= %llu bytes", (unsigned long long)(r->size - QF_QFILE_HEADER_SIZE));
        qf_error_found(err, "%llu bytes", (unsigned long long)r->json_size);
        return QF_STATUS_TRUNCATED;
    }
    uint64_t want_data_offset = 0;
    qf_align_up_u64(QF_QFILE_HEADER_SIZE + r->json_size, QF_QF_ALIGN, &want_data_offset); /* json_size is capped */
    r->data_offset = qf_qfile_load_u64(h + QF_QFILE_OFF_DATA_OFFSET);
    if (r->data_offset != want_data_offset) {
        fail(r, err, QF_STATUS_FORMAT, QF_QFILE_OFF_DATA_OFFSET, "data_offset",
             "data_offset must be the first 64-aligned offset after the JSON block");
        qf_error_expected(err, "%llu", (unsigned long long)want_data_offset);
        qf_error_found(err, "%llu", (unsigned long long)r->data_offset);
        return QF_STATUS_FORMAT;
    }
    if (r->data_offset > r->size) {
        fail(r, err, QF_STATUS_TRUNCATED, QF_QFILE_OFF_DATA_OFFSET, "data_offset", "data section starts past the end of the file");
        qf_error_expected(err, "<= %llu", (unsigned long long)r->size);
        qf_error_found(err, "%llu", (unsigned long long)r->data_offset);
        return QF_STATUS_TRUNCATED;
    }
    r->data_size = qf_qfile_load_u64(h + QF_QFILE_OFF_DATA_SIZE);
    if (r->data_size != r->size - r->data_offset) {
        qf_status code = r->data_size > r->size - r->data_offset ? QF_STATUS_TRUNCATED : QF_STATUS_FORMAT;
        fail(r, err, code, QF_QFILE_OFF_DATA_SIZE, "data_size",
             code == QF_STATUS_TRUNCATED ? "file is shorter than its data section"
                                         : "file has bytes past the end of its data section");
        qf_error_expected(err, "%llu bytes", (unsigned long long)r->data_size);
        qf_error_found(err, "%llu bytes", (unsigned long long)(r->size - r->data_offset));
        return code;
    }
    for (int i = 0; i < QF_QFILE_RESERVED_SIZE; i++)
        if (h[QF_QFILE_OFF_RESERVED + i] != 0) {
            fail(r, err, QF_STATUS_FORMAT, QF_QFILE_OFF_RESERVED + i, "reserved", "reserved header byte is not zero");
            qf_error_found(err, "0x%02x", h[QF_QFILE_OFF_RESERVED + i]);
            return QF_STATUS_FORMAT;
        }
    r->json = (const char *)h + QF_QFILE_HEADER_SIZE;
    stored = qf_qfile_load_u32(h + QF_QFILE_OFF_JSON_CRC);
    crc = qf_crc32(0, r->json, (size_t)r->json_size);
    if (stored != crc) {
        fail(r, err, QF_STATUS_CHECKSUM, QF_QFILE_OFF_JSON_CRC, "json_crc32", "JSON block CRC-32 mismatch");
        qf_error_expected(err, "0x%08x", crc);
        qf_error_found(err, "0x%08x", stored);
        return QF_STATUS_CHECKSUM;
    }
    for (uint64_t i = QF_QFILE_HEADER_SIZE + r->json_size; i < r->data_offset; i++)
        if (h[i] != 0) {
            fail(r, err, QF_STATUS_FORMAT, (int64_t)i, "padding", "padding before the data section is not zero");
            qf_error_found(err, "0x%02x", h[i]);
            return QF_STATUS_FORMAT;
        }
    return QF_STATUS_OK;
}

/* ---- JSON field helpers ---- */

static bool get_uint(json_object *v, int64_t max, uint64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int)) return false;
    int64_t x = json_object_get_int64(v);
    if (x < 0 || x > max) return false;
    *out = (uint64_t)x;
    return true;
}

/* The string of v, or NULL when v is not a string or holds a NUL character. Borrowed from v. */
static const char *get_string(json_object *v)
{
    if (!v || !json_object_is_type(v, json_type_string)) return NULL;
    const char *s = json_object_get_string(v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static bool key_in(const char *key, const char *const *known)
{
    for (; *known; known++)
        if (strcmp(key, *known) == 0) return true;
    return false;
}

/* The first key of obj outside `known` when the file's version is one we fully know, else NULL. */
static const char *unknown_key(const reader *r, json_object *obj, const char *const *known)
{
    if (!r->strict) return NULL;
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        if (!key_in(key, known)) return key;
    }
    return NULL;
}

static qf_status unknown_key_error(const reader *r, const char *key, const char *where, int64_t at, qf_error *err)
{
    fail(r, err, QF_STATUS_FORMAT, at, key, "unknown key '%s' in %s", key, where);
    qf_error_found(err, "'%s'", key);
    return QF_STATUS_FORMAT;
}

static int64_t entry_at(const reader *r, size_t entry);

/* A tensor or source name of directory entry `entry`. */
static qf_status check_name(const reader *r, const char *name, const char *what, size_t entry, qf_error *err)
{
    if (!name || !name[0])
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), what, "%s must be a non-empty string without NUL", what);
    size_t len = strlen(name);
    if (len > QF_MAX_NAME_LEN) {
        fail(r, err, QF_STATUS_LIMIT, entry_at(r, entry), what, "%s longer than %d bytes", what, QF_MAX_NAME_LEN);
        qf_error_expected(err, "<= %d bytes", QF_MAX_NAME_LEN);
        qf_error_found(err, "%zu bytes", len);
        return QF_STATUS_LIMIT;
    }
    return QF_STATUS_OK;
}

/* ---- tensor directory ---- */

static const extent *find_extent(const reader *r, uint64_t offset)
{
    size_t lo = 0, hi = r->extent_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->extents[mid].offset < offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < r->extent_count && r->extents[lo].offset == offset ? &r->extents[lo] : NULL;
}

static qf_status parse_quant(reader *r, json_object *q, size_t entry, size_t index, const char *name, qf_error *err)
{
    static const char *const known[] = {"scheme", "axis", "scale", "zero_point", NULL};
    if (!json_object_is_type(q, json_type_object))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"quant\" is not an object", name);
    const char *bad = unknown_key(r, q, known);
    if (bad) return unknown_key_error(r, bad, "\"quant\"", entry_at(r, entry), err);
    pending_quant *p = &r->quants[r->quant_count];
    memset(p, 0, sizeof *p);
    p->tensor = index;
    p->entry = entry;
    json_object *v = NULL;
    const char *scheme = json_object_object_get_ex(q, "scheme", &v) ? get_string(v) : NULL;
    if (!scheme || !qf_quant_scheme_from_name(scheme, &p->scheme) || p->scheme == QF_QUANT_NONE) {
        fail(r, err, scheme ? QF_STATUS_UNSUPPORTED : QF_STATUS_FORMAT, entry_at(r, entry), name,
             "tensor '%s': unknown quantization scheme", name);
        qf_error_expected(err, "symmetric_per_tensor, symmetric_per_channel or asymmetric_per_tensor");
        qf_error_found(err, "%s", scheme ? scheme : "(missing)");
        return scheme ? QF_STATUS_UNSUPPORTED : QF_STATUS_FORMAT;
    }
    bool has_axis = json_object_object_get_ex(q, "axis", &v);
    if (p->scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL) {
        uint64_t axis;
        if (!get_uint(has_axis ? v : NULL, QF_QFILE_MAX_JSON_INT, &axis))
            return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
                        "tensor '%s': per-channel quantization needs an integer \"axis\" >= 0", name);
        p->axis = (int64_t)axis;
    } else if (has_axis) {
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
                    "tensor '%s': \"axis\" is only allowed with symmetric_per_channel", name);
    }
    p->scale = json_object_object_get_ex(q, "scale", &v) ? get_string(v) : NULL;
    if (!p->scale || !p->scale[0])
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"scale\" must name a tensor", name);
    if (json_object_object_get_ex(q, "zero_point", &v)) {
        p->zero_point = get_string(v);
        if (!p->zero_point || !p->zero_point[0])
            return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
                        "tensor '%s': \"zero_point\" must name a tensor", name);
    }
    r->quant_count++;
    return QF_STATUS_OK;
}

static qf_status parse_tensor(reader *r, qf_model *m, json_object *e, size_t entry, qf_error *err)
{
    static const char *const known[] = {"name", "source_name", "dtype", "shape", "offset",
                                        "nbytes", "crc32", "quant", NULL};
    if (!json_object_is_type(e, json_type_object))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), NULL, "tensors[%zu] is not an object", entry);
    const char *bad = unknown_key(r, e, known);
    if (bad) return unknown_key_error(r, bad, "a tensor entry", entry_at(r, entry), err);
    qf_status st;

    json_object *v = NULL;
    const char *name = json_object_object_get_ex(e, "name", &v) ? get_string(v) : NULL;
    if ((st = check_name(r, name, "tensor name", entry, err))) return st;
    if (qf_model_find(m, name, NULL)) {
        fail(r, err, QF_STATUS_DUPLICATE, entry_at(r, entry), name, "duplicate tensor name '%s'", name);
        return QF_STATUS_DUPLICATE;
    }
    const char *source_name = NULL;
    if (json_object_object_get_ex(e, "source_name", &v)) {
        source_name = get_string(v);
        if ((st = check_name(r, source_name, "source_name", entry, err))) return st;
    }
    const char *dtype_name = json_object_object_get_ex(e, "dtype", &v) ? get_string(v) : NULL;
    qf_dtype dtype;
    if (!dtype_name || !qf_dtype_from_name(dtype_name, &dtype)) {
        fail(r, err, dtype_name ? QF_STATUS_UNSUPPORTED : QF_STATUS_FORMAT, entry_at(r, entry), name,
             "tensor '%s': unknown dtype", name);
        qf_error_expected(err, "f32, f16, bf16, f64, i64, i32, i16, i8, u8 or bool");
        qf_error_found(err, "%s", dtype_name ? dtype_name : "(missing)");
        return dtype_name ? QF_STATUS_UNSUPPORTED : QF_STATUS_FORMAT;
    }
    json_object *shape_obj = NULL;
    if (!json_object_object_get_ex(e, "shape", &shape_obj) || !json_object_is_type(shape_obj, json_type_array))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"shape\" is not an array", name);
    size_t rank = json_object_array_length(shape_obj);
    if (rank > QF_MAX_RANK) {
        fail(r, err, QF_STATUS_LIMIT, entry_at(r, entry), name, "tensor '%s': rank too large", name);
        qf_error_expected(err, "rank <= %d", QF_MAX_RANK);
        qf_error_found(err, "%zu", rank);
        return QF_STATUS_LIMIT;
    }
    int64_t shape[QF_MAX_RANK];
    for (size_t d = 0; d < rank; d++) {
        uint64_t dim;
        if (!get_uint(json_object_array_get_idx(shape_obj, d), QF_QFILE_MAX_JSON_INT, &dim))
            return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
                        "tensor '%s': dimension %zu is not an integer in [0, 2^53)", name, d);
        shape[d] = (int64_t)dim;
    }
    uint64_t want, nbytes, crc, offset;
    if (!qf_shape_nbytes(dtype, (int32_t)rank, shape, &want))
        return fail(r, err, QF_STATUS_OVERFLOW, entry_at(r, entry), name,
                    "tensor '%s': element count x dtype size overflows", name);
    if (!json_object_object_get_ex(e, "nbytes", &v) || !get_uint(v, QF_QFILE_MAX_JSON_INT, &nbytes))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"nbytes\" is not an integer in [0, 2^53)",
                    name);
    if (nbytes != want) {
        fail(r, err, QF_STATUS_SHAPE, entry_at(r, entry), name, "tensor '%s': nbytes does not match dtype and shape", name);
        qf_error_expected(err, "%llu bytes", (unsigned long long)want);
        qf_error_found(err, "%llu bytes", (unsigned long long)nbytes);
        return QF_STATUS_SHAPE;
    }
    if (!json_object_object_get_ex(e, "crc32", &v) || !get_uint(v, UINT32_MAX, &crc))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"crc32\" is not an integer in [0, 2^32)",
                    name);
    if (!json_object_object_get_ex(e, "offset", &v) || !get_uint(v, QF_QFILE_MAX_JSON_INT, &offset))
        return fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': \"offset\" is not an integer in [0, 2^53)",
                    name);
    if (offset % QF_QF_ALIGN != 0) {
        fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name, "tensor '%s': offset is not a multiple of %d", name,
             QF_QF_ALIGN);
        qf_error_found(err, "%llu", (unsigned long long)offset);
        return QF_STATUS_FORMAT;
    }

    uint64_t next = 0;
    qf_align_up_u64(r->end, QF_QF_ALIGN, &next); /* r->end <= data_size <= file size */
    if (nbytes > 0 && offset < next) {
        const extent *x = find_extent(r, offset);
        if (!x || x->nbytes != nbytes || x->crc != (uint32_t)crc) {
            fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
                 "tensor '%s' overlaps earlier data without sharing an identical extent", name);
            if (x) {
                qf_error_expected(err, "offset %llu, %llu bytes, crc32 %u (as '%s') or offset %llu",
                                  (unsigned long long)x->offset, (unsigned long long)x->nbytes, x->crc,
                                  qf_model_tensor(m, x->tensor)->name, (unsigned long long)next);
            } else {
                qf_error_expected(err, "offset %llu", (unsigned long long)next);
            }
            qf_error_found(err, "offset %llu, %llu bytes, crc32 %llu", (unsigned long long)offset,
                           (unsigned long long)nbytes, (unsigned long long)crc);
            return QF_STATUS_FORMAT;
        }
    } else if (offset != next) {
        fail(r, err, QF_STATUS_FORMAT, entry_at(r, entry), name,
             offset > next ? "tensor '%s' leaves a hole in the data section" : "empty tensor '%s' is out of order", name);
        qf_error_expected(err, "offset %llu", (unsigned long long)next);
        qf_error_found(err, "offset %llu", (unsigned long long)offset);
        return QF_STATUS_FORMAT;
    } else {
        if (!qf_range_within(offset, nbytes, r->data_size)) {
            fail(r, err, QF_STATUS_TRUNCATED, entry_at(r, entry), name, "tensor '%s' extends past the end of the data section",
                 name);
            qf_error_expected(err, "end <= %llu", (unsigned long long)r->data_size);
            qf_error_found(err, "end %llu", (unsigned long long)(offset + nbytes));
            return QF_STATUS_TRUNCATED;
        }
        if (nbytes > 0) {
            extent *x = &r->extents[r->extent_count++];
            x->offset = offset;
            x->nbytes = nbytes;
            x->crc = (uint32_t)crc;
            x->tensor = qf_model_tensor_count(m);
            r->end = offset + nbytes;
        }
    }

    size_t index;
    qf_error local;
    qf_error_clear(&local);
    const void *data = r->base + r->data_offset + offset;
    if (qf_model_add_tensor(m, name, source_name, dtype, (int32_t)rank, shape, data, nbytes, &index, &local))
        return rewrap(r, err, &local, entry_at(r, entry));
    if (json_object_object_get_ex(e, "quant", &v)) return parse_quant(r, v, entry, index, name, err);
    return QF_STATUS_OK;
}

/*
 * The values of a scale tensor: every one finite and > 0 (subnormal ones are allowed: they only
 * multiply, and qforge's own quantizer can write them for rows of tiny weights). Scale tensors are
 * small (one f32 per channel), so open reads them, unlike the rest of the data. A zero point has
 * the dtype of its tensor (qf_qfile_check_quant), so every value it can hold is in range.
 */
static qf_status check_scale_values(const reader *r, const qf_model *m, const pending_quant *p, const qf_tensor *s,
                                    qf_error *err)
{
    const qf_tensor *t = qf_model_tensor(m, p->tensor);
    const uint8_t *bytes = s->data;
    const uint64_t count = s->nbytes / sizeof(float);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t bits = qf_qfile_load_u32(bytes + i * sizeof(float));
        float v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v) && v > 0.0f) continue;
        const char *what = isnan(v) ? "NaN" : isinf(v) ? "infinite" : v == 0.0f ? "zero" : "negative";
        fail(r, err, QF_STATUS_FORMAT, (int64_t)((uint64_t)(bytes - r->base) + i * sizeof(float)), s->name,
             "tensor '%s': scale '%s' element %llu is %s", t->name, s->name, (unsigned long long)i, what);
        qf_error_expected(err, "a finite scale > 0");
        qf_error_found(err, "%.9g (0x%08x)", (double)v, bits);
        return QF_STATUS_FORMAT;
    }
    return QF_STATUS_OK;
}

static qf_status apply_quants(reader *r, qf_model *m, qf_error *err)
{
    for (size_t i = 0; i < r->quant_count; i++) {
        const pending_quant *p = &r->quants[i];
        const qf_tensor *t = qf_model_tensor(m, p->tensor);
        if (p->scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && p->axis >= t->rank) {
            fail(r, err, QF_STATUS_FORMAT, entry_at(r, p->entry), t->name, "tensor '%s': quantization axis out of range",
                 t->name);
            qf_error_expected(err, "0 <= axis < %d", (int)t->rank);
            qf_error_found(err, "%lld", (long long)p->axis);
            return QF_STATUS_FORMAT;
        }
        qf_error local;
        qf_error_clear(&local);
        if (qf_model_set_quant(m, p->tensor, p->scheme, (int32_t)p->axis, p->scale, p->zero_point, &local))
            return rewrap(r, err, &local, entry_at(r, p->entry));
    }
    for (size_t i = 0; i < r->quant_count; i++) {
        const pending_quant *p = &r->quants[i];
        qf_error local;
        qf_error_clear(&local);
        if (qf_qfile_check_quant(m, qf_model_tensor(m, p->tensor), NULL, -1, &local))
            return rewrap(r, err, &local, entry_at(r, p->entry));
    }
    /* each scale tensor's values once, however many tensors share it (no amplification) */
    size_t n = qf_model_tensor_count(m);
    bool *seen = calloc(n ? n : 1, sizeof *seen);
    if (!seen) return fail(r, err, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; i < r->quant_count && !st; i++) {
        const pending_quant *p = &r->quants[i];
        size_t si = 0;
        const qf_tensor *s = qf_model_find(m, p->scale, &si);
        if (!s || seen[si]) continue;
        seen[si] = true;
        st = check_scale_values(r, m, p, s, err);
    }
    free(seen);
    return st;
}

static qf_status parse_directory(reader *r, qf_model *m, json_object *tensors, qf_error *err)
{
    if (!json_object_is_type(tensors, json_type_array))
        return fail(r, err, QF_STATUS_FORMAT, json_locate(r, "tensors", -1), "tensors", "\"tensors\" is not an array");
    size_t n = json_object_array_length(tensors);
    if (n > QF_MAX_TENSORS) {
        fail(r, err, QF_STATUS_LIMIT, json_locate(r, "tensors", -1), "tensors", "too many tensors");
        qf_error_expected(err, "<= %u", QF_MAX_TENSORS);
        qf_error_found(err, "%zu", n);
        return QF_STATUS_LIMIT;
    }
    r->extents = malloc((n ? n : 1) * sizeof *r->extents);
    r->quants = malloc((n ? n : 1) * sizeof *r->quants);
    if (!r->extents || !r->quants) return fail(r, err, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        qf_status st = parse_tensor(r, m, json_object_array_get_idx(tensors, i), i, err);
        if (st) return st;
    }
    uint64_t used = 0;
    qf_align_up_u64(r->end, QF_QF_ALIGN, &used);
    if (used != r->data_size) {
        fail(r, err, QF_STATUS_FORMAT, (int64_t)(r->data_offset + used), "data",
             "data section has bytes after the last tensor's padding");
        qf_error_expected(err, "data_size %llu", (unsigned long long)used);
        qf_error_found(err, "data_size %llu", (unsigned long long)r->data_size);
        return QF_STATUS_FORMAT;
    }
    return apply_quants(r, m, err);
}

/* ---- top level ---- */

static qf_status parse_metadata(reader *r, qf_model *m, json_object *meta, qf_error *err)
{
    int64_t at = json_locate(r, "metadata", -1);
    if (!json_object_is_type(meta, json_type_object))
        return fail(r, err, QF_STATUS_FORMAT, at, "metadata", "\"metadata\" is not an object");
    json_object_object_foreach(meta, key, val)
    {
        const char *value = get_string(val);
        if (!value) return fail(r, err, QF_STATUS_FORMAT, at, key, "metadata '%s' is not a string without NUL", key);
        qf_error local;
        qf_error_clear(&local);
        if (qf_model_set_meta(m, key, value, &local)) return rewrap(r, err, &local, at);
    }
    return QF_STATUS_OK;
}

static qf_status parse_root(reader *r, qf_model *m, json_object *root, qf_error *err)
{
    static const char *const known[] = {"format", "version", "metadata", "config", "tensors", NULL};
    if (!json_object_is_type(root, json_type_object))
        return fail(r, err, QF_STATUS_FORMAT, QF_QFILE_HEADER_SIZE, NULL, "JSON block is not an object");
    const char *bad = unknown_key(r, root, known);
    if (bad) return unknown_key_error(r, bad, "the JSON block", QF_QFILE_HEADER_SIZE, err);
    qf_status st;
    json_object *v = NULL;
    const char *format = json_object_object_get_ex(root, "format", &v) ? get_string(v) : NULL;
    if (!format || strcmp(format, "qforge") != 0) {
        fail(r, err, QF_STATUS_FORMAT, json_locate(r, "format", -1), "format", "\"format\" must be \"qforge\"");
        qf_error_found(err, "%s", format ? format : "(missing or not a string)");
        return QF_STATUS_FORMAT;
    }
    uint64_t major = UINT64_MAX, minor = UINT64_MAX;
    if (!json_object_object_get_ex(root, "version", &v) || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) != 2 || !get_uint(json_object_array_get_idx(v, 0), UINT32_MAX, &major) ||
        !get_uint(json_object_array_get_idx(v, 1), UINT32_MAX, &minor) || major != r->version_major ||
        minor != r->version_minor) {
        fail(r, err, QF_STATUS_FORMAT, json_locate(r, "version", -1), "version",
             "\"version\" must repeat the header's [major, minor]");
        qf_error_expected(err, "[%u, %u]", r->version_major, r->version_minor);
        return QF_STATUS_FORMAT;
    }
    if (!json_object_object_get_ex(root, "metadata", &v))
        return fail(r, err, QF_STATUS_FORMAT, QF_QFILE_HEADER_SIZE, "metadata", "missing \"metadata\"");
    if ((st = parse_metadata(r, m, v, err))) return st;
    if (json_object_object_get_ex(root, "config", &v)) {
        int64_t at = json_locate(r, "config", -1);
        if (!json_object_is_type(v, json_type_object))
            return fail(r, err, QF_STATUS_FORMAT, at, "config", "\"config\" is not an object");
        size_t len = 0;
        const char *text =
            json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!text) return fail(r, err, QF_STATUS_NO_MEMORY, at, "config", "out of memory");
        qf_error local;
        qf_error_clear(&local);
        if (qf_model_set_config_json(m, text, len, &local)) return rewrap(r, err, &local, at);
    }
    if (!json_object_object_get_ex(root, "tensors", &v))
        return fail(r, err, QF_STATUS_FORMAT, QF_QFILE_HEADER_SIZE, "tensors", "missing \"tensors\"");
    return parse_directory(r, m, v, err);
}

static qf_status parse_json(reader *r, json_object **out, qf_error *err)
{
    *out = NULL;
    /* json-c's depth: the root is level 1, each value inside a container one level deeper */
    json_tokener *tok = json_tokener_new_ex(QF_QF_MAX_JSON_DEPTH);
    if (!tok) return fail(r, err, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, r->json, (int)r->json_size);
    enum json_tokener_error e = json_tokener_get_error(tok);
    int64_t at = (int64_t)(QF_QFILE_HEADER_SIZE + json_tokener_get_parse_end(tok));
    json_tokener_free(tok);
    if (root && e == json_tokener_success) {
        *out = root;
        return QF_STATUS_OK;
    }
    json_object_put(root);
    if (e == json_tokener_continue)
        return fail(r, err, QF_STATUS_FORMAT, (int64_t)(QF_QFILE_HEADER_SIZE + r->json_size), NULL,
                    "JSON block ends inside a value");
    if (e == json_tokener_error_depth) {
        fail(r, err, QF_STATUS_LIMIT, at, NULL, "JSON nesting too deep");
        qf_error_expected(err, "<= %d levels", QF_QF_MAX_JSON_DEPTH);
        return QF_STATUS_LIMIT;
    }
    return fail(r, err, QF_STATUS_FORMAT, at, NULL, "invalid JSON: %s", json_tokener_error_desc(e));
}

static qf_status verify_data(const reader *r, const qf_model *m, qf_error *err)
{
    const uint8_t *data = r->base + r->data_offset;
    uint64_t pos = 0;
    for (size_t i = 0; i <= r->extent_count; i++) {
        uint64_t until = i < r->extent_count ? r->extents[i].offset : r->data_size;
        for (; pos < until; pos++)
            if (data[pos] != 0) {
                fail(r, err, QF_STATUS_FORMAT, (int64_t)(r->data_offset + pos), "padding", "padding byte is not zero");
                qf_error_found(err, "0x%02x", data[pos]);
                return QF_STATUS_FORMAT;
            }
        if (i == r->extent_count) break;
        const extent *x = &r->extents[i];
        uint32_t crc = qf_crc32(0, data + x->offset, (size_t)x->nbytes);
        if (crc != x->crc) {
            const char *name = qf_model_tensor(m, x->tensor)->name;
            fail(r, err, QF_STATUS_CHECKSUM, (int64_t)(r->data_offset + x->offset), name,
                 "tensor '%s': data CRC-32 mismatch", name);
            qf_error_expected(err, "0x%08x", x->crc);
            qf_error_found(err, "0x%08x", crc);
            return QF_STATUS_CHECKSUM;
        }
        pos = x->offset + x->nbytes;
    }
    return QF_STATUS_OK;
}

qf_status qf_qfile_read(qf_file *file, const qf_qfile_open_params *params, qf_model **out, qf_error *err)
{
    if (!file || !out) {
        qf_file_unmap(file);
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "file or out is NULL");
    }
    *out = NULL;
    qf_qfile_open_params defaults = qf_qfile_open_params_default();
    if (!params) params = &defaults;
    qf_error_set_file(err, qf_file_path(file));

    reader r;
    memset(&r, 0, sizeof r);
    r.path = qf_file_path(file);
    r.base = qf_file_data(file);
    r.size = qf_file_size(file);

    qf_model *m = NULL;
    qf_status st = qf_model_create(&m, err);
    if (st) {
        qf_file_unmap(file);
        return st;
    }
    /* from here the model owns the mapping: r.path and r.base stay valid until it is destroyed */
    if ((st = qf_model_keep(m, file, (void (*)(void *))qf_file_unmap, err))) {
        qf_model_destroy(m);
        return st;
    }
    json_object *root = NULL;
    st = check_header(&r, err);
    if (!st) st = parse_json(&r, &root, err);
    if (!st) st = parse_root(&r, m, root, err);
    if (!st && params->verify_checksums) st = verify_data(&r, m, err);
    json_object_put(root);
    free(r.extents);
    free(r.quants);
    if (st) {
        qf_model_destroy(m);
        return st;
    }
    *out = m;
    return QF_STATUS_OK;
}
