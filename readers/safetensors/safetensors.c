/*
 * readers/safetensors/safetensors.c — safetensors files -> canonical model (first stage of the
 * pipeline: readers -> model -> quantize -> writers).
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON header, then the byte buffer that the
 * header's data_offsets index. Reading goes in four steps and touches no tensor byte before the
 * last one:
 *   1. frame: N <= QF_SAFETENSORS_MAX_HEADER and 8 + N <= file size, strict UTF-8, leading '{',
 *      strict JSON (RFC 8259) with only whitespace after the root object;
 *   2. entries: each member of the root object is `__metadata__` (string -> string, or null) or a
 *      tensor {dtype, shape, data_offsets} with nothing else; no name twice;
 *   3. extents: sorted by data_offsets they start at 0, have no hole, no overlap, and end exactly at
 *      the end of the file; byte size == elements x dtype size (checked) for every tensor;
 *   4. tensors borrow their bytes from the mapping, in data-offset order.
 * These are the rules of the reference implementation (huggingface/safetensors, tensor.rs); a dtype
 * the format defines but qforge does not convert (F8_*, U16, C64, ...) passes steps 1-3 and is then
 * refused with QF_STATUS_UNSUPPORTED naming the tensor and the dtype.
 *
 * This file is the reader's json-c adapter: json-c decodes string tokens that carry escapes. The
 * structure itself is walked by the strict scanner below, because json-c keeps only the last of
 * duplicate keys (a file could then show one tensor to us and another to the reference), reports
 * no byte offsets, and even in strict mode accepts single-quoted strings and raw control bytes.
 *
 * Error offsets are absolute file offsets: a header token at 8 + its position in the header, a
 * data extent at 8 + N + its begin.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "qforge/readers.h"

/* ---------------------------------------------------------------------------------------------
 * Dtypes of the format. `bits` per element; sub-byte types must fill whole bytes.
 * ------------------------------------------------------------------------------------------- */
typedef struct st_dtype {
    const char *name;
    unsigned bits;
    bool supported;
    qf_dtype dtype; /* meaningful when supported */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F64", 64, true, QF_DTYPE_F64},
    {"F32", 32, true, QF_DTYPE_F32},
    {"F16", 16, true, QF_DTYPE_F16},
    {"BF16", 16, true, QF_DTYPE_BF16},
    {"I64", 64, true, QF_DTYPE_I64},
    {"I32", 32, true, QF_DTYPE_I32},
    {"I16", 16, true, QF_DTYPE_I16},
    {"I8", 8, true, QF_DTYPE_I8},
    {"U8", 8, true, QF_DTYPE_U8},
    {"BOOL", 8, true, QF_DTYPE_BOOL},
    {"U64", 64, false, QF_DTYPE_COUNT_},
    {"U32", 32, false, QF_DTYPE_COUNT_},
    {"U16", 16, false, QF_DTYPE_COUNT_},
    {"C64", 64, false, QF_DTYPE_COUNT_},
    {"F8_E4M3", 8, false, QF_DTYPE_COUNT_},
    {"F8_E5M2", 8, false, QF_DTYPE_COUNT_},
    {"F8_E8M0", 8, false, QF_DTYPE_COUNT_},
    {"F8_E4M3FNUZ", 8, false, QF_DTYPE_COUNT_},
    {"F8_E5M2FNUZ", 8, false, QF_DTYPE_COUNT_},
    {"F6_E2M3", 6, false, QF_DTYPE_COUNT_},
    {"F6_E3M2", 6, false, QF_DTYPE_COUNT_},
    {"F4", 4, false, QF_DTYPE_COUNT_},
};

#define ST_SUPPORTED_LIST "F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL"

static const st_dtype *st_dtype_find(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Reader state and parsed entries.
 * ------------------------------------------------------------------------------------------- */
typedef struct st_tensor {
    char *name;
    size_t order;     /* position among the header's tensor entries */
    uint64_t key_off; /* absolute offsets of the entry's tokens */
    uint64_t dtype_off;
    uint64_t shape_off;
    uint64_t offsets_off;
    const st_dtype *dtype;
    int32_t rank;
    int64_t shape[QF_MAX_RANK];
    uint64_t begin, end; /* relative to the byte buffer after the header */
} st_tensor;

typedef struct st_meta {
    char *key; /* "safetensors.<key>" */
    char *value;
    uint64_t key_off;
} st_meta;

typedef struct st_reader {
    const uint8_t *base;
    uint64_t file_size;
    const char *text; /* header text: base + 8, `len` bytes, not NUL-terminated */
    size_t len;
    uint64_t data_start; /* 8 + len */
    json_tokener *tok;
    qf_error *err;
    st_tensor *tensors;
    size_t tensor_count, tensor_cap;
    st_meta *metas;
    size_t meta_count, meta_cap;
    bool seen_metadata;
} st_reader;

/* A member of a JSON object: positions in the header text. */
typedef struct st_member {
    size_t key, key_end;
    size_t value, value_end;
} st_member;

static uint64_t hdr_off(const st_reader *r, size_t pos) { return 8 + (uint64_t)pos; }

/* qf_error_set with the message formatted here (qf_error_set takes no va_list). */
static qf_status st_fail(st_reader *r, qf_status code, uint64_t offset, const char *object, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static qf_status st_fail(st_reader *r, qf_status code, uint64_t offset, const char *object, const char *fmt, ...)
{
    char msg[QF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int64_t off = offset > (uint64_t)INT64_MAX ? -1 : (int64_t)offset;
    return qf_error_set(r->err, code, NULL, NULL, off, object, "%s", msg);
}

static qf_status no_memory(st_reader *r)
{
    return qf_error_set(r->err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
}

/* Describes the byte at `pos` for "found" fields. */
static void describe_byte(const st_reader *r, size_t pos, char *buf, size_t size)
{
    if (pos >= r->len) {
        snprintf(buf, size, "end of header");
        return;
    }
    uint8_t c = (uint8_t)r->text[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
}

/* ---------------------------------------------------------------------------------------------
 * Strict UTF-8 (what Rust's str::from_utf8 accepts: no overlongs, no surrogates, <= U+10FFFF).
 * ------------------------------------------------------------------------------------------- */
static bool utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            *bad = i;
            return false;
        }
        if (n - i - 1 < need) {
            *bad = i;
            return false;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                *bad = i;
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Strict JSON scanner (RFC 8259). Each scan_* starts at `p` and stores the position after the
 * token in *end. Used once over the whole header to validate it, then again to walk it.
 * ------------------------------------------------------------------------------------------- */
static qf_status syntax_error(st_reader *r, size_t pos, const char *what)
{
    char found[64];
    describe_byte(r, pos, found, sizeof found);
    st_fail(r, QF_STATUS_FORMAT, hdr_off(r, pos), NULL, "header is not valid JSON: %s", what);
    qf_error_expected(r->err, "strict JSON (RFC 8259)");
    qf_error_found(r->err, "%s", found);
    return QF_STATUS_FORMAT;
}

static size_t skip_ws(const st_reader *r, size_t p)
{
    while (p < r->len) {
        char c = r->text[p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p++;
    }
    return p;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads \uXXXX at p (pointing at the backslash); -1 when malformed. */
static long read_u_escape(const st_reader *r, size_t p)
{
    if (r->len - p < 6 || r->text[p] != '\\' || r->text[p + 1] != 'u') return -1;
    long v = 0;
    for (size_t k = 2; k < 6; k++) {
        int h = hex_value(r->text[p + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static qf_status scan_string(st_reader *r, size_t p, size_t *end, bool *has_escape)
{
    if (has_escape) *has_escape = false;
    p++; /* opening quote */
    for (;;) {
        if (p >= r->len) return syntax_error(r, p, "unterminated string");
        uint8_t c = (uint8_t)r->text[p];
        if (c == '"') {
            *end = p + 1;
            return QF_STATUS_OK;
        }
        if (c < 0x20) return syntax_error(r, p, "control character inside a string");
        if (c != '\\') {
            p++;
            continue;
        }
        if (has_escape) *has_escape = true;
        if (p + 1 >= r->len) return syntax_error(r, p + 1, "unterminated escape");
        char e = r->text[p + 1];
        if (strchr("\"\\/bfnrt", e) && e != '\0') {
            p += 2;
            continue;
        }
        if (e != 'u') return syntax_error(r, p, "invalid escape");
        long u = read_u_escape(r, p);
        if (u < 0) return syntax_error(r, p, "invalid \\u escape");
        if (u >= 0xdc00 && u <= 0xdfff) return syntax_error(r, p, "lone low surrogate escape");
        if (u >= 0xd800 && u <= 0xdbff) {
            long low = read_u_escape(r, p + 6);
            if (low < 0xdc00 || low > 0xdfff) return syntax_error(r, p, "high surrogate escape without its low half");
            p += 12;
            continue;
        }
        p += 6;
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static qf_status scan_number(st_reader *r, size_t p, size_t *end)
{
    if (p < r->len && r->text[p] == '-') p++;
    if (p >= r->len || !is_digit(r->text[p])) return syntax_error(r, p, "digit expected in number");
    if (r->text[p] == '0') {
        p++;
    } else {
        while (p < r->len && is_digit(r->text[p])) p++;
    }
    if (p < r->len && r->text[p] == '.') {
        p++;
        if (p >= r->len || !is_digit(r->text[p])) return syntax_error(r, p, "digit expected after '.'");
        while (p < r->len && is_digit(r->text[p])) p++;
    }
    if (p < r->len && (r->text[p] == 'e' || r->text[p] == 'E')) {
        p++;
        if (p < r->len && (r->text[p] == '+' || r->text[p] == '-')) p++;
        if (p >= r->len || !is_digit(r->text[p])) return syntax_error(r, p, "digit expected in exponent");
        while (p < r->len && is_digit(r->text[p])) p++;
    }
    *end = p;
    return QF_STATUS_OK;
}

static qf_status scan_value(st_reader *r, size_t p, int depth, size_t *end);

static qf_status scan_container(st_reader *r, size_t p, int depth, size_t *end)
{
    bool object = r->text[p] == '{';
    char close = object ? '}' : ']';
    if (depth >= QF_SAFETENSORS_MAX_DEPTH) {
        st_fail(r, QF_STATUS_LIMIT, hdr_off(r, p), NULL, "header JSON nested deeper than %d levels",
                QF_SAFETENSORS_MAX_DEPTH);
        qf_error_expected(r->err, "depth <= %d", QF_SAFETENSORS_MAX_DEPTH);
        qf_error_found(r->err, "deeper");
        return QF_STATUS_LIMIT;
    }
    p = skip_ws(r, p + 1);
    if (p < r->len && r->text[p] == close) {
        *end = p + 1;
        return QF_STATUS_OK;
    }
    for (;;) {
        qf_status st;
        if (object) {
            if (p >= r->len || r->text[p] != '"') return syntax_error(r, p, "string key expected");
            if ((st = scan_string(r, p, &p, NULL))) return st;
            p = skip_ws(r, p);
            if (p >= r->len || r->text[p] != ':') return syntax_error(r, p, "':' expected after a key");
            p = skip_ws(r, p + 1);
        }
        if ((st = scan_value(r, p, depth + 1, &p))) return st;
        p = skip_ws(r, p);
        if (p < r->len && r->text[p] == ',') {
            p = skip_ws(r, p + 1);
            continue;
        }
        if (p < r->len && r->text[p] == close) {
            *end = p + 1;
            return QF_STATUS_OK;
        }
        return syntax_error(r, p, object ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static qf_status scan_literal(st_reader *r, size_t p, const char *word, size_t *end)
{
    size_t n = strlen(word);
    if (r->len - p < n || memcmp(r->text + p, word, n) != 0) return syntax_error(r, p, "invalid literal");
    *end = p + n;
    return QF_STATUS_OK;
}

static qf_status scan_value(st_reader *r, size_t p, int depth, size_t *end)
{
    if (p >= r->len) return syntax_error(r, p, "value expected");
    char c = r->text[p];
    switch (c) {
    case '{':
    case '[':
        return scan_container(r, p, depth, end);
    case '"':
        return scan_string(r, p, end, NULL);
    case 't':
        return scan_literal(r, p, "true", end);
    case 'f':
        return scan_literal(r, p, "false", end);
    case 'n':
        return scan_literal(r, p, "null", end);
    default:
        if (c == '-' || is_digit(c)) return scan_number(r, p, end);
        return syntax_error(r, p, "value expected");
    }
}

/* ---------------------------------------------------------------------------------------------
 * Walking the validated header.
 * ------------------------------------------------------------------------------------------- */
static const char *value_kind(const st_reader *r, size_t p)
{
    switch (r->text[p]) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* Next member of the object whose members start at *cursor (just after '{' or after the previous
 * value). *has is false at the closing brace. */
static qf_status object_next(st_reader *r, size_t *cursor, st_member *m, bool *has)
{
    size_t p = skip_ws(r, *cursor);
    if (p < r->len && r->text[p] == ',') p = skip_ws(r, p + 1);
    if (p >= r->len) return syntax_error(r, p, "'}' expected");
    if (r->text[p] == '}') {
        *has = false;
        *cursor = p + 1;
        return QF_STATUS_OK;
    }
    if (r->text[p] != '"') return syntax_error(r, p, "string key expected");
    qf_status st;
    m->key = p;
    if ((st = scan_string(r, p, &m->key_end, NULL))) return st;
    p = skip_ws(r, m->key_end);
    if (p >= r->len || r->text[p] != ':') return syntax_error(r, p, "':' expected after a key");
    m->value = skip_ws(r, p + 1);
    if ((st = scan_value(r, m->value, 1, &m->value_end))) return st;
    *cursor = m->value_end;
    *has = true;
    return QF_STATUS_OK;
}

/* Next element of the array whose elements start at *cursor; positions in *start, *stop. */
static qf_status array_next(st_reader *r, size_t *cursor, size_t *start, size_t *stop, bool *has)
{
    size_t p = skip_ws(r, *cursor);
    if (p < r->len && r->text[p] == ',') p = skip_ws(r, p + 1);
    if (p >= r->len) return syntax_error(r, p, "']' expected");
    if (r->text[p] == ']') {
        *has = false;
        *cursor = p + 1;
        return QF_STATUS_OK;
    }
    qf_status st = scan_value(r, p, 1, stop);
    if (st) return st;
    *start = p;
    *cursor = *stop;
    *has = true;
    return QF_STATUS_OK;
}

/*
 * Decodes the string token text[p, end) into an owned NUL-terminated string. Tokens without
 * escapes are their own UTF-8 text (validated already); json-c decodes the others. *len excludes
 * the terminator; the text may contain NUL when the token held \u0000.
 */
static qf_status decode_string(st_reader *r, size_t p, size_t end, char **out, size_t *len)
{
    size_t stop = 0;
    bool escaped = false;
    qf_status st = scan_string(r, p, &stop, &escaped);
    if (st) return st;
    if (stop != end) return syntax_error(r, p, "string expected");
    if (!escaped) {
        size_t n = end - p - 2;
        char *s = malloc(n + 1);
        if (!s) return no_memory(r);
        memcpy(s, r->text + p + 1, n);
        s[n] = '\0';
        *out = s;
        *len = n;
        return QF_STATUS_OK;
    }
    if (end - p > (size_t)INT32_MAX) return syntax_error(r, p, "string too long to decode");
    json_tokener_reset(r->tok);
    json_object *o = json_tokener_parse_ex(r->tok, r->text + p, (int)(end - p));
    if (!o || json_tokener_get_error(r->tok) != json_tokener_success || !json_object_is_type(o, json_type_string)) {
        json_object_put(o);
        return syntax_error(r, p, "string could not be decoded");
    }
    size_t n = (size_t)json_object_get_string_len(o);
    char *s = malloc(n + 1);
    if (!s) {
        json_object_put(o);
        return no_memory(r);
    }
    memcpy(s, json_object_get_string(o), n);
    s[n] = '\0';
    json_object_put(o);
    *out = s;
    *len = n;
    return QF_STATUS_OK;
}

/* Reads the token at text[p, end) as a non-negative integer (safetensors uses usize). */
static qf_status read_uint(st_reader *r, size_t p, size_t end, const char *tensor, const char *what, uint64_t *out)
{
    char c = r->text[p];
    if (c != '-' && !is_digit(c)) {
        st_fail(r, QF_STATUS_FORMAT, hdr_off(r, p), tensor, "tensor '%s': %s must be a non-negative integer", tensor,
                what);
        qf_error_expected(r->err, "a non-negative integer");
        qf_error_found(r->err, "%s", value_kind(r, p));
        return QF_STATUS_FORMAT;
    }
    int shown = (int)(end - p > 40 ? 40 : end - p);
    for (size_t i = p; i < end; i++) {
        if (r->text[i] == '.' || r->text[i] == 'e' || r->text[i] == 'E') {
            st_fail(r, QF_STATUS_FORMAT, hdr_off(r, p), tensor, "tensor '%s': %s must be an integer", tensor, what);
            qf_error_expected(r->err, "a non-negative integer");
            qf_error_found(r->err, "%.*s", shown, r->text + p);
            return QF_STATUS_FORMAT;
        }
    }
    if (c == '-') {
        st_fail(r, QF_STATUS_FORMAT, hdr_off(r, p), tensor, "tensor '%s': %s is negative", tensor, what);
        qf_error_expected(r->err, "a non-negative integer");
        qf_error_found(r->err, "%.*s", shown, r->text + p);
        return QF_STATUS_FORMAT;
    }
    uint64_t v = 0;
    for (size_t i = p; i < end; i++) {
        if (!qf_mul_u64(v, 10, &v) || !qf_add_u64(v, (uint64_t)(r->text[i] - '0'), &v)) {
            st_fail(r, QF_STATUS_OVERFLOW, hdr_off(r, p), tensor, "tensor '%s': %s does not fit in 64 bits", tensor,
                    what);
            qf_error_expected(r->err, "<= %llu", (unsigned long long)UINT64_MAX);
            qf_error_found(r->err, "%.*s", shown, r->text + p);
            return QF_STATUS_OVERFLOW;
        }
    }
    *out = v;
    return QF_STATUS_OK;
}

static void format_shape(const st_tensor *t, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (int32_t i = 0; i < t->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

/* ---------------------------------------------------------------------------------------------
 * Entries.
 * ------------------------------------------------------------------------------------------- */
static qf_status parse_dtype(st_reader *r, st_tensor *t, const st_member *m)
{
    t->dtype_off = hdr_off(r, m->value);
    if (r->text[m->value] != '"') {
        st_fail(r, QF_STATUS_FORMAT, t->dtype_off, t->name, "tensor '%s': dtype must be a string", t->name);
        qf_error_expected(r->err, "a string");
        qf_error_found(r->err, "%s", value_kind(r, m->value));
        return QF_STATUS_FORMAT;
    }
    char *name;
    size_t len;
    qf_status st = decode_string(r, m->value, m->value_end, &name, &len);
    if (st) return st;
    t->dtype = strlen(name) == len ? st_dtype_find(name) : NULL;
    if (!t->dtype) {
        st_fail(r, QF_STATUS_FORMAT, t->dtype_off, t->name, "tensor '%s': '%s' is not a safetensors dtype", t->name,
                name);
        qf_error_expected(r->err, "a safetensors dtype (" ST_SUPPORTED_LIST ", ...)");
        qf_error_found(r->err, "%s", name);
        free(name);
        return QF_STATUS_FORMAT;
    }
    free(name);
    return QF_STATUS_OK;
}

static qf_status parse_shape(st_reader *r, st_tensor *t, const st_member *m)
{
    t->shape_off = hdr_off(r, m->value);
    if (r->text[m->value] != '[') {
        st_fail(r, QF_STATUS_FORMAT, t->shape_off, t->name, "tensor '%s': shape must be an array", t->name);
        qf_error_expected(r->err, "an array of non-negative integers");
        qf_error_found(r->err, "%s", value_kind(r, m->value));
        return QF_STATUS_FORMAT;
    }
    size_t cursor = m->value + 1, start, stop;
    bool has;
    int32_t rank = 0;
    qf_status st;
    for (;;) {
        if ((st = array_next(r, &cursor, &start, &stop, &has))) return st;
        if (!has) break;
        if (rank == QF_MAX_RANK) {
            size_t total = (size_t)rank + 1;
            for (;;) {
                if ((st = array_next(r, &cursor, &start, &stop, &has))) return st;
                if (!has) break;
                total++;
            }
            st_fail(r, QF_STATUS_LIMIT, t->shape_off, t->name, "tensor '%s' has rank %zu", t->name, total);
            qf_error_expected(r->err, "rank <= %d", QF_MAX_RANK);
            qf_error_found(r->err, "%zu", total);
            return QF_STATUS_LIMIT;
        }
        uint64_t dim;
        if ((st = read_uint(r, start, stop, t->name, "shape dimension", &dim))) return st;
        /* qf_tensor dims are int64; the format's usize allows more, but no real tensor needs it */
        if (dim > (uint64_t)INT64_MAX) {
            st_fail(r, QF_STATUS_OVERFLOW, hdr_off(r, start), t->name, "tensor '%s': dimension %llu exceeds int64",
                    t->name, (unsigned long long)dim);
            qf_error_expected(r->err, "<= %lld", (long long)INT64_MAX);
            qf_error_found(r->err, "%llu", (unsigned long long)dim);
            return QF_STATUS_OVERFLOW;
        }
        t->shape[rank++] = (int64_t)dim;
    }
    t->rank = rank;
    return QF_STATUS_OK;
}

static qf_status parse_offsets(st_reader *r, st_tensor *t, const st_member *m)
{
    t->offsets_off = hdr_off(r, m->value);
    if (r->text[m->value] != '[') {
        st_fail(r, QF_STATUS_FORMAT, t->offsets_off, t->name, "tensor '%s': data_offsets must be an array", t->name);
        qf_error_expected(r->err, "[begin, end]");
        qf_error_found(r->err, "%s", value_kind(r, m->value));
        return QF_STATUS_FORMAT;
    }
    size_t cursor = m->value + 1, start, stop;
    bool has;
    uint64_t v[2] = {0, 0};
    size_t count = 0;
    qf_status st;
    for (;;) {
        if ((st = array_next(r, &cursor, &start, &stop, &has))) return st;
        if (!has) break;
        if (count < 2 &&
            (st = read_uint(r, start, stop, t->name, count ? "data_offsets end" : "data_offsets begin", &v[count])))
            return st;
        count++;
    }
    if (count != 2) {
        st_fail(r, QF_STATUS_FORMAT, t->offsets_off, t->name, "tensor '%s': data_offsets must hold 2 integers",
                t->name);
        qf_error_expected(r->err, "2 elements");
        qf_error_found(r->err, "%zu elements", count);
        return QF_STATUS_FORMAT;
    }
    if (v[1] < v[0]) {
        st_fail(r, QF_STATUS_FORMAT, t->offsets_off, t->name, "tensor '%s': data_offsets end %llu is before begin %llu",
                t->name, (unsigned long long)v[1], (unsigned long long)v[0]);
        qf_error_expected(r->err, "end >= %llu", (unsigned long long)v[0]);
        qf_error_found(r->err, "%llu", (unsigned long long)v[1]);
        return QF_STATUS_FORMAT;
    }
    t->begin = v[0];
    t->end = v[1];
    return QF_STATUS_OK;
}

/* Element count x dtype bits, checked like the reference (in order); must equal the extent. */
static qf_status check_tensor_size(st_reader *r, st_tensor *t)
{
    uint64_t numel = 1, bits;
    for (int32_t i = 0; i < t->rank; i++) {
        if (!qf_mul_u64(numel, (uint64_t)t->shape[i], &numel)) {
            st_fail(r, QF_STATUS_OVERFLOW, t->shape_off, t->name, "tensor '%s': element count of its shape overflows",
                    t->name);
            qf_error_expected(r->err, "element count < 2^64");
            qf_error_found(r->err, "overflow at dimension %d", (int)i);
            return QF_STATUS_OVERFLOW;
        }
    }
    if (!qf_mul_u64(numel, t->dtype->bits, &bits)) {
        st_fail(r, QF_STATUS_OVERFLOW, t->shape_off, t->name, "tensor '%s': byte size of %llu %s elements overflows",
                t->name, (unsigned long long)numel, t->dtype->name);
        qf_error_expected(r->err, "byte size < 2^64");
        qf_error_found(r->err, "%llu elements x %u bits", (unsigned long long)numel, t->dtype->bits);
        return QF_STATUS_OVERFLOW;
    }
    char shape[160];
    format_shape(t, shape, sizeof shape);
    if (bits % 8 != 0) {
        st_fail(r, QF_STATUS_SHAPE, t->shape_off, t->name, "tensor '%s': shape %s of %s does not fill whole bytes",
                t->name, shape, t->dtype->name);
        qf_error_expected(r->err, "a multiple of 8 bits");
        qf_error_found(r->err, "%llu bits", (unsigned long long)bits);
        return QF_STATUS_SHAPE;
    }
    uint64_t need = bits / 8, have = t->end - t->begin;
    if (need != have) {
        st_fail(r, QF_STATUS_SHAPE, t->offsets_off, t->name,
                "tensor '%s' covers bytes [%llu, %llu) but shape %s of %s needs %llu", t->name,
                (unsigned long long)t->begin, (unsigned long long)t->end, shape, t->dtype->name,
                (unsigned long long)need);
        qf_error_expected(r->err, "%llu bytes", (unsigned long long)need);
        qf_error_found(r->err, "%llu bytes", (unsigned long long)have);
        return QF_STATUS_SHAPE;
    }
    return QF_STATUS_OK;
}

static bool key_is(const char *key, size_t len, const char *want)
{
    return len == strlen(want) && !memcmp(key, want, len);
}

static qf_status parse_tensor(st_reader *r, st_tensor *t, const st_member *entry)
{
    uint64_t entry_off = hdr_off(r, entry->value);
    if (r->text[entry->value] != '{') {
        st_fail(r, QF_STATUS_FORMAT, entry_off, t->name, "tensor '%s': entry must be an object", t->name);
        qf_error_expected(r->err, "{dtype, shape, data_offsets}");
        qf_error_found(r->err, "%s", value_kind(r, entry->value));
        return QF_STATUS_FORMAT;
    }
    enum { SEEN_DTYPE = 1, SEEN_SHAPE = 2, SEEN_OFFSETS = 4 };
    unsigned seen = 0;
    size_t cursor = entry->value + 1;
    for (;;) {
        st_member m;
        bool has;
        qf_status st = object_next(r, &cursor, &m, &has);
        if (st) return st;
        if (!has) break;
        char *key;
        size_t len;
        if ((st = decode_string(r, m.key, m.key_end, &key, &len))) return st;
        unsigned bit = key_is(key, len, "dtype")          ? SEEN_DTYPE
                       : key_is(key, len, "shape")        ? SEEN_SHAPE
                       : key_is(key, len, "data_offsets") ? SEEN_OFFSETS
                                                          : 0;
        if (!bit) {
            st_fail(r, QF_STATUS_FORMAT, hdr_off(r, m.key), t->name, "tensor '%s': unknown field '%.64s'", t->name,
                    key);
            qf_error_expected(r->err, "dtype, shape or data_offsets");
            qf_error_found(r->err, "%.64s", key);
            free(key);
            return QF_STATUS_FORMAT;
        }
        if (seen & bit) {
            st_fail(r, QF_STATUS_DUPLICATE, hdr_off(r, m.key), t->name, "tensor '%s': field '%s' appears twice",
                    t->name, key);
            free(key);
            return QF_STATUS_DUPLICATE;
        }
        free(key);
        seen |= bit;
        st = bit == SEEN_DTYPE   ? parse_dtype(r, t, &m)
             : bit == SEEN_SHAPE ? parse_shape(r, t, &m)
                                 : parse_offsets(r, t, &m);
        if (st) return st;
    }
    const char *missing = !(seen & SEEN_DTYPE)     ? "dtype"
                          : !(seen & SEEN_SHAPE)   ? "shape"
                          : !(seen & SEEN_OFFSETS) ? "data_offsets"
                                                   : NULL;
    if (missing) {
        st_fail(r, QF_STATUS_FORMAT, entry_off, t->name, "tensor '%s' has no '%s'", t->name, missing);
        qf_error_expected(r->err, "dtype, shape and data_offsets");
        qf_error_found(r->err, "no %s", missing);
        return QF_STATUS_FORMAT;
    }
    return check_tensor_size(r, t);
}

static qf_status parse_metadata(st_reader *r, const st_member *entry)
{
    if (r->text[entry->value] == 'n') return QF_STATUS_OK; /* null: the reference's Option::None */
    if (r->text[entry->value] != '{') {
        st_fail(r, QF_STATUS_FORMAT, hdr_off(r, entry->value), "__metadata__",
                "__metadata__ must be an object of strings");
        qf_error_expected(r->err, "an object");
        qf_error_found(r->err, "%s", value_kind(r, entry->value));
        return QF_STATUS_FORMAT;
    }
    static const char prefix[] = "safetensors.";
    size_t cursor = entry->value + 1;
    for (;;) {
        st_member m;
        bool has;
        qf_status st = object_next(r, &cursor, &m, &has);
        if (st) return st;
        if (!has) break;
        if (r->meta_count >= QF_SAFETENSORS_MAX_META_ENTRIES) {
            st_fail(r, QF_STATUS_LIMIT, hdr_off(r, m.key), "__metadata__", "__metadata__ has more than %d entries",
                    QF_SAFETENSORS_MAX_META_ENTRIES);
            qf_error_expected(r->err, "<= %d entries", QF_SAFETENSORS_MAX_META_ENTRIES);
            qf_error_found(r->err, "more");
            return QF_STATUS_LIMIT;
        }
        char *key, *value;
        size_t klen, vlen;
        if ((st = decode_string(r, m.key, m.key_end, &key, &klen))) return st;
        if (strlen(key) != klen) {
            free(key);
            return st_fail(r, QF_STATUS_FORMAT, hdr_off(r, m.key), "__metadata__",
                           "__metadata__ key contains a NUL character");
        }
        if (klen + sizeof prefix - 1 > QF_MAX_NAME_LEN) {
            st_fail(r, QF_STATUS_LIMIT, hdr_off(r, m.key), "__metadata__", "__metadata__ key of %zu bytes is too long",
                    klen);
            qf_error_expected(r->err, "<= %zu bytes", (size_t)QF_MAX_NAME_LEN - (sizeof prefix - 1));
            qf_error_found(r->err, "%zu bytes", klen);
            free(key);
            return QF_STATUS_LIMIT;
        }
        if (r->text[m.value] != '"') {
            st_fail(r, QF_STATUS_FORMAT, hdr_off(r, m.value), key, "__metadata__ value of '%.64s' must be a string",
                    key);
            qf_error_expected(r->err, "a string");
            qf_error_found(r->err, "%s", value_kind(r, m.value));
            free(key);
            return QF_STATUS_FORMAT;
        }
        if ((st = decode_string(r, m.value, m.value_end, &value, &vlen))) {
            free(key);
            return st;
        }
        if (strlen(value) != vlen || vlen > QF_MAX_META_VALUE_LEN) {
            bool nul = strlen(value) != vlen;
            st_fail(r, nul ? QF_STATUS_FORMAT : QF_STATUS_LIMIT, hdr_off(r, m.value), key,
                    nul ? "__metadata__ value of '%.64s' contains a NUL character"
                        : "__metadata__ value of '%.64s' is too long",
                    key);
            if (!nul) {
                qf_error_expected(r->err, "<= %u bytes", QF_MAX_META_VALUE_LEN);
                qf_error_found(r->err, "%zu bytes", vlen);
            }
            free(key);
            free(value);
            return nul ? QF_STATUS_FORMAT : QF_STATUS_LIMIT;
        }
        char *full = malloc(sizeof prefix + klen);
        if (full && r->meta_count == r->meta_cap) {
            size_t cap = r->meta_cap ? r->meta_cap * 2 : 8;
            st_meta *grown = realloc(r->metas, cap * sizeof *grown);
            if (grown) {
                r->metas = grown;
                r->meta_cap = cap;
            }
        }
        if (!full || r->meta_count == r->meta_cap) {
            free(full);
            free(key);
            free(value);
            return no_memory(r);
        }
        memcpy(full, prefix, sizeof prefix - 1);
        memcpy(full + sizeof prefix - 1, key, klen + 1);
        free(key);
        r->metas[r->meta_count].key = full;
        r->metas[r->meta_count].value = value;
        r->metas[r->meta_count].key_off = hdr_off(r, m.key);
        r->meta_count++;
    }
    return QF_STATUS_OK;
}

static qf_status parse_root(st_reader *r)
{
    size_t cursor = 1;
    for (;;) {
        st_member m;
        bool has;
        qf_status st = object_next(r, &cursor, &m, &has);
        if (st) return st;
        if (!has) return QF_STATUS_OK;
        char *name;
        size_t len;
        if ((st = decode_string(r, m.key, m.key_end, &name, &len))) return st;
        if (key_is(name, len, "__metadata__")) {
            free(name);
            if (r->seen_metadata)
                return st_fail(r, QF_STATUS_DUPLICATE, hdr_off(r, m.key), "__metadata__", "__metadata__ appears twice");
            r->seen_metadata = true;
            if ((st = parse_metadata(r, &m))) return st;
            continue;
        }
        if (len == 0 || strlen(name) != len) {
            free(name);
            return st_fail(r, QF_STATUS_FORMAT, hdr_off(r, m.key), NULL,
                           len ? "tensor name contains a NUL character" : "empty tensor name");
        }
        if (len > QF_MAX_NAME_LEN) {
            st_fail(r, QF_STATUS_LIMIT, hdr_off(r, m.key), NULL, "tensor name of %zu bytes is too long", len);
            qf_error_expected(r->err, "<= %d bytes", QF_MAX_NAME_LEN);
            qf_error_found(r->err, "%zu bytes", len);
            free(name);
            return QF_STATUS_LIMIT;
        }
        if (r->tensor_count >= QF_MAX_TENSORS) {
            free(name);
            st_fail(r, QF_STATUS_LIMIT, hdr_off(r, m.key), NULL, "more than %u tensors", QF_MAX_TENSORS);
            qf_error_expected(r->err, "<= %u tensors", QF_MAX_TENSORS);
            qf_error_found(r->err, "more");
            return QF_STATUS_LIMIT;
        }
        if (r->tensor_count == r->tensor_cap) {
            size_t cap = r->tensor_cap ? r->tensor_cap * 2 : 64;
            st_tensor *grown = realloc(r->tensors, cap * sizeof *grown);
            if (!grown) {
                free(name);
                return no_memory(r);
            }
            r->tensors = grown;
            r->tensor_cap = cap;
        }
        st_tensor *t = &r->tensors[r->tensor_count++];
        memset(t, 0, sizeof *t);
        t->name = name;
        t->order = r->tensor_count - 1;
        t->key_off = hdr_off(r, m.key);
        if ((st = parse_tensor(r, t, &m))) return st;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Whole-file checks: duplicates, extents, dtypes.
 * ------------------------------------------------------------------------------------------- */
static int cmp_by_name(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_by_extent(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_meta(const void *a, const void *b)
{
    const st_meta *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->key_off < y->key_off ? -1 : x->key_off > y->key_off;
}

static qf_status check_duplicates(st_reader *r, st_tensor **by)
{
    if (r->tensor_count > 1) qsort(by, r->tensor_count, sizeof *by, cmp_by_name);
    const st_tensor *dup = NULL;
    for (size_t i = 1; i < r->tensor_count; i++)
        if (strcmp(by[i - 1]->name, by[i]->name) == 0 && (!dup || by[i]->order < dup->order)) dup = by[i];
    if (dup) {
        st_fail(r, QF_STATUS_DUPLICATE, dup->key_off, dup->name, "tensor '%s' appears twice in the header", dup->name);
        qf_error_expected(r->err, "unique tensor names");
        qf_error_found(r->err, "'%s' again", dup->name);
        return QF_STATUS_DUPLICATE;
    }
    if (r->meta_count > 1) {
        /* sort a copy so that the model keeps the header's order */
        st_meta *sorted = malloc(r->meta_count * sizeof *sorted);
        if (!sorted) return no_memory(r);
        memcpy(sorted, r->metas, r->meta_count * sizeof *sorted);
        qsort(sorted, r->meta_count, sizeof *sorted, cmp_meta);
        const st_meta *mdup = NULL;
        for (size_t i = 1; i < r->meta_count; i++)
            if (strcmp(sorted[i - 1].key, sorted[i].key) == 0 && (!mdup || sorted[i].key_off < mdup->key_off))
                mdup = &sorted[i];
        if (mdup) {
            const char *key = mdup->key + strlen("safetensors.");
            st_fail(r, QF_STATUS_DUPLICATE, mdup->key_off, "__metadata__", "__metadata__ key '%.64s' appears twice",
                    key);
            free(sorted);
            return QF_STATUS_DUPLICATE;
        }
        free(sorted);
    }
    return QF_STATUS_OK;
}

/* Absolute file offset of a relative data offset; the header field when it does not fit. */
static uint64_t data_offset(const st_reader *r, uint64_t rel, uint64_t fallback)
{
    uint64_t abs;
    if (!qf_add_u64(r->data_start, rel, &abs) || abs > (uint64_t)INT64_MAX) return fallback;
    return abs;
}

static qf_status check_extents(st_reader *r, st_tensor **by)
{
    if (r->tensor_count > 1) qsort(by, r->tensor_count, sizeof *by, cmp_by_extent);
    uint64_t data_size = r->file_size - r->data_start;
    uint64_t expected = 0;
    for (size_t i = 0; i < r->tensor_count; i++) {
        const st_tensor *t = by[i];
        uint64_t at = data_offset(r, t->begin, t->offsets_off);
        if (t->begin != expected) {
            const char *what = i == 0                ? "the data does not start at offset 0"
                               : t->begin > expected ? "leaves a hole after the previous tensor"
                                                     : "overlaps the previous tensor";
            if (i == 0)
                st_fail(r, QF_STATUS_FORMAT, at, t->name, "tensor '%s' is the first in the data but begins at %llu: %s",
                        t->name, (unsigned long long)t->begin, what);
            else
                st_fail(r, QF_STATUS_FORMAT, at, t->name,
                        "tensor '%s' begins at %llu, previous tensor '%s' ends at %llu: %s", t->name,
                        (unsigned long long)t->begin, by[i - 1]->name, (unsigned long long)expected, what);
            qf_error_expected(r->err, "begin %llu", (unsigned long long)expected);
            qf_error_found(r->err, "begin %llu", (unsigned long long)t->begin);
            return QF_STATUS_FORMAT;
        }
        if (t->end > data_size) {
            st_fail(r, QF_STATUS_TRUNCATED, at, t->name,
                    "tensor '%s' covers bytes [%llu, %llu) but the data has %llu bytes", t->name,
                    (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_size);
            qf_error_expected(r->err, "end <= %llu", (unsigned long long)data_size);
            qf_error_found(r->err, "end %llu", (unsigned long long)t->end);
            return QF_STATUS_TRUNCATED;
        }
        expected = t->end;
    }
    if (expected != data_size) {
        const char *last = r->tensor_count ? by[r->tensor_count - 1]->name : NULL;
        st_fail(r, QF_STATUS_FORMAT, r->data_start + expected, last,
                "the tensors end at data offset %llu but the file has %llu data bytes (trailing bytes)",
                (unsigned long long)expected, (unsigned long long)data_size);
        qf_error_expected(r->err, "%llu data bytes", (unsigned long long)expected);
        qf_error_found(r->err, "%llu data bytes", (unsigned long long)data_size);
        return QF_STATUS_FORMAT;
    }
    return QF_STATUS_OK;
}

static qf_status check_dtypes(st_reader *r)
{
    const st_tensor *first = NULL;
    size_t count = 0;
    for (size_t i = 0; i < r->tensor_count; i++) {
        if (r->tensors[i].dtype->supported) continue;
        if (!first) first = &r->tensors[i];
        count++;
    }
    if (!first) return QF_STATUS_OK;
    st_fail(r, QF_STATUS_UNSUPPORTED, first->dtype_off, first->name,
            "tensor '%s' has dtype %s, a valid safetensors dtype that qforge does not convert (%zu tensor%s with such "
            "dtypes)",
            first->name, first->dtype->name, count, count == 1 ? "" : "s");
    qf_error_expected(r->err, ST_SUPPORTED_LIST);
    qf_error_found(r->err, "%s", first->dtype->name);
    return QF_STATUS_UNSUPPORTED;
}

/* ---------------------------------------------------------------------------------------------
 * Model building.
 * ------------------------------------------------------------------------------------------- */
static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void swap_elements(uint8_t *p, uint64_t nbytes, size_t size)
{
    for (uint64_t i = 0; i + size <= nbytes; i += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t tmp = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = tmp;
        }
}

static qf_status build_model(st_reader *r, st_tensor **by, qf_model *m)
{
    char value[32];
    snprintf(value, sizeof value, "%zu", r->len);
    qf_status st = qf_model_set_meta(m, "safetensors.header_bytes", value, r->err);
    for (size_t i = 0; !st && i < r->meta_count; i++)
        st = qf_model_set_meta(m, r->metas[i].key, r->metas[i].value, r->err);
    bool little = host_is_little_endian();
    for (size_t i = 0; !st && i < r->tensor_count; i++) {
        const st_tensor *t = by[i];
        size_t elem = qf_dtype_size(t->dtype->dtype);
        uint64_t nbytes = t->end - t->begin;
        const uint8_t *src = r->base + r->data_start + t->begin;
        const void *data = src;
        /* Offsets need only be contiguous, so a tensor may sit at an address its element type cannot
         * be loaded from (e.g. after a 3-byte U8 tensor, or after an unpadded header): copy it into
         * 64-byte-aligned model memory. Big-endian hosts copy to swap bytes. */
        if (nbytes && (((uintptr_t)src % elem) != 0 || (!little && elem > 1))) {
            void *copy;
            if ((st = qf_model_alloc(m, nbytes, &copy, r->err))) break;
            memcpy(copy, src, (size_t)nbytes);
            if (!little && elem > 1) swap_elements(copy, nbytes, elem);
            data = copy;
        }
        st = qf_model_add_tensor(m, t->name, NULL, t->dtype->dtype, t->rank, t->shape, data, nbytes, NULL, r->err);
    }
    return st;
}

static void reader_free(st_reader *r)
{
    for (size_t i = 0; i < r->tensor_count; i++) free(r->tensors[i].name);
    free(r->tensors);
    for (size_t i = 0; i < r->meta_count; i++) {
        free(r->metas[i].key);
        free(r->metas[i].value);
    }
    free(r->metas);
    if (r->tok) json_tokener_free(r->tok);
}

/* Step 1: the 8-byte length, the header bounds, UTF-8, and the JSON grammar. */
static qf_status check_frame(st_reader *r)
{
    if (r->file_size < 8) {
        st_fail(r, QF_STATUS_TRUNCATED, 0, NULL, "file of %llu bytes is too short for the 8-byte header length",
                (unsigned long long)r->file_size);
        qf_error_expected(r->err, ">= 8 bytes");
        qf_error_found(r->err, "%llu bytes", (unsigned long long)r->file_size);
        return QF_STATUS_TRUNCATED;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | r->base[i];
    if (n > QF_SAFETENSORS_MAX_HEADER) {
        st_fail(r, QF_STATUS_LIMIT, 0, NULL, "header length %llu exceeds the format's limit of %u bytes",
                (unsigned long long)n, QF_SAFETENSORS_MAX_HEADER);
        qf_error_expected(r->err, "<= %u", QF_SAFETENSORS_MAX_HEADER);
        qf_error_found(r->err, "%llu", (unsigned long long)n);
        return QF_STATUS_LIMIT;
    }
    if (n > r->file_size - 8) {
        st_fail(r, QF_STATUS_TRUNCATED, 0, NULL, "header length %llu runs past the end of the file",
                (unsigned long long)n);
        qf_error_expected(r->err, "<= %llu", (unsigned long long)(r->file_size - 8));
        qf_error_found(r->err, "%llu", (unsigned long long)n);
        return QF_STATUS_TRUNCATED;
    }
    r->text = (const char *)r->base + 8;
    r->len = (size_t)n;
    r->data_start = 8 + n;
    size_t bad;
    if (!utf8_valid((const uint8_t *)r->text, r->len, &bad)) {
        char found[64];
        describe_byte(r, bad, found, sizeof found);
        st_fail(r, QF_STATUS_FORMAT, hdr_off(r, bad), NULL, "header is not valid UTF-8");
        qf_error_expected(r->err, "UTF-8 text");
        qf_error_found(r->err, "%s", found);
        return QF_STATUS_FORMAT;
    }
    if (r->len == 0 || r->text[0] != '{') {
        char found[64];
        describe_byte(r, 0, found, sizeof found);
        st_fail(r, QF_STATUS_FORMAT, 8, NULL, "header does not start with '{'");
        qf_error_expected(r->err, "'{'");
        qf_error_found(r->err, "%s", found);
        return QF_STATUS_FORMAT;
    }
    size_t end;
    qf_status st = scan_value(r, 0, 0, &end);
    if (st) return st;
    end = skip_ws(r, end);
    if (end != r->len) return syntax_error(r, end, "only whitespace may follow the header object");
    return QF_STATUS_OK;
}

qf_status qf_safetensors_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err)
{
    (void)params; /* selection and config lookup belong to the dispatcher; safetensors is flat */
    if (out) *out = NULL;
    if (!file || !out) {
        qf_file_unmap(file);
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "file or out is NULL");
    }
    qf_error_set_file(err, qf_file_path(file));
    st_reader r = {.base = qf_file_data(file), .file_size = qf_file_size(file), .err = err};
    st_tensor **by = NULL;
    qf_model *m = NULL;
    qf_status st = check_frame(&r);
    if (!st) {
        r.tok = json_tokener_new_ex(2);
        if (!r.tok)
            st = no_memory(&r);
        else
            json_tokener_set_flags(r.tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    }
    if (!st) st = parse_root(&r);
    if (!st && r.tensor_count) {
        by = malloc(r.tensor_count * sizeof *by);
        if (!by) st = no_memory(&r);
        for (size_t i = 0; by && i < r.tensor_count; i++) by[i] = &r.tensors[i];
    }
    if (!st) st = check_duplicates(&r, by);
    if (!st) st = check_extents(&r, by);
    if (!st) st = check_dtypes(&r);
    if (!st && (st = qf_model_create(&m, err)) == QF_STATUS_OK) {
        /* from here the model owns the file (qf_model_keep releases it even on failure) */
        st = qf_model_keep(m, file, (void (*)(void *))qf_file_unmap, err);
        file = NULL;
        if (!st) st = build_model(&r, by, m);
    }
    free(by);
    reader_free(&r);
    if (st) {
        qf_model_destroy(m);
        qf_file_unmap(file);
        return st;
    }
    *out = m;
    return QF_STATUS_OK;
}
