/*
 * tests/test_safetensors.c — readers/safetensors against the committed fixtures in
 * fixtures/safetensors/ (written by fixtures/gen/make_safetensors_fixtures.py):
 *   - valid.json: per valid file, the tensors in model order with dtype, shape, exact bytes,
 *     decoded values and whether the bytes are borrowed from the mapping or copied;
 *   - invalid.json: per invalid file, the status, absolute byte offset and message substring;
 * plus the header-size limit at and past its value, every truncated prefix and every single-byte
 * corruption of the header of a valid file (must fail cleanly or succeed, never crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "qforge/readers.h"

#define FIXTURES QF_SOURCE_DIR "/fixtures/safetensors/"
#define SCRATCH QF_BINARY_DIR "/test_safetensors.scratch.safetensors"

static qf_status read_path(const char *path, qf_model **out, const uint8_t **base, uint64_t *size, qf_error *err)
{
    qf_file *f = NULL;
    qf_status st = qf_file_map(path, &f, err);
    if (st) return st;
    if (base) *base = qf_file_data(f);
    if (size) *size = qf_file_size(f);
    return qf_safetensors_read(f, NULL, out, err);
}

static json_object *load_json(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    json_object *o = json_object_from_file(path);
    if (!o) fail_msg("cannot read %s (run fixtures/gen/make_safetensors_fixtures.py)", path);
    return o;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("golden entry lacks '%s'", key);
    return v;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Element i of a tensor as the golden JSON writes it. */
static void check_value(const qf_tensor *t, size_t i, json_object *want)
{
    const uint8_t *p = (const uint8_t *)t->data + i * qf_dtype_size(t->dtype);
    switch (t->dtype) {
    case QF_DTYPE_F64: {
        double v;
        memcpy(&v, p, 8);
        assert_true(v == json_object_get_double(want));
        break;
    }
    case QF_DTYPE_F32: {
        float v;
        memcpy(&v, p, 4);
        assert_true((double)v == json_object_get_double(want));
        break;
    }
    case QF_DTYPE_F16:
    case QF_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        float v = t->dtype == QF_DTYPE_F16 ? qf_f16_to_f32(h) : qf_bf16_to_f32(h);
        assert_true((double)v == json_object_get_double(want));
        break;
    }
    case QF_DTYPE_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        assert_true(v == json_object_get_int64(want));
        break;
    }
    case QF_DTYPE_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        assert_true(v == json_object_get_int64(want));
        break;
    }
    case QF_DTYPE_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        assert_true(v == json_object_get_int64(want));
        break;
    }
    case QF_DTYPE_I8:
        assert_true((int8_t)p[0] == json_object_get_int64(want));
        break;
    case QF_DTYPE_U8:
    case QF_DTYPE_BOOL:
        assert_true(p[0] == json_object_get_int64(want));
        break;
    default:
        fail_msg("unexpected dtype %d", (int)t->dtype);
    }
}

static void check_valid_file(const char *name, json_object *golden)
{
    char path[1024];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const uint8_t *base = NULL;
    uint64_t size = 0;
    qf_status st = read_path(path, &m, &base, &size, &err);
    if (st) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s: %s", name, line);
    }
    assert_non_null(m);

    char header_bytes[32];
    snprintf(header_bytes, sizeof header_bytes, "%lld", (long long)json_object_get_int64(get(golden, "header_bytes")));
    assert_string_equal(qf_model_get_meta(m, "safetensors.header_bytes"), header_bytes);
    json_object *meta = get(golden, "metadata");
    size_t own_meta = 0;
    for (size_t i = 0; i < qf_model_meta_count(m); i++) {
        const char *k;
        assert_true(qf_model_meta_at(m, i, &k, NULL));
        if (strncmp(k, "safetensors.", 12) == 0) own_meta++;
    }
    assert_int_equal(own_meta, (size_t)json_object_object_length(meta) + 1);
    json_object_object_foreach(meta, key, val)
    {
        const char *have = qf_model_get_meta(m, key);
        assert_non_null(have);
        assert_string_equal(have, json_object_get_string(val));
    }

    json_object *tensors = get(golden, "tensors");
    size_t n = json_object_array_length(tensors);
    assert_int_equal(qf_model_tensor_count(m), n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *g = json_object_array_get_idx(tensors, i);
        const qf_tensor *t = qf_model_tensor(m, i);
        assert_string_equal(t->name, json_object_get_string(get(g, "name")));
        assert_string_equal(qf_dtype_name(t->dtype), json_object_get_string(get(g, "dtype")));
        json_object *shape = get(g, "shape");
        assert_int_equal(t->rank, (int32_t)json_object_array_length(shape));
        for (int32_t d = 0; d < t->rank; d++)
            assert_int_equal(t->shape[d], json_object_get_int64(json_object_array_get_idx(shape, (size_t)d)));
        const char *hex = json_object_get_string(get(g, "hex"));
        assert_int_equal(t->nbytes, strlen(hex) / 2);
        for (uint64_t b = 0; b < t->nbytes; b++) {
            unsigned byte;
            assert_int_equal(sscanf(hex + 2 * b, "%2x", &byte), 1);
            assert_int_equal(((const uint8_t *)t->data)[b], byte);
        }
        json_object *values = get(g, "values");
        uint64_t numel = 0;
        assert_true(qf_shape_numel(t->rank, t->shape, &numel));
        assert_int_equal(numel, json_object_array_length(values));
        for (size_t k = 0; k < numel; k++) check_value(t, k, json_object_array_get_idx(values, k));
        if (t->nbytes) {
            bool inside = (const uint8_t *)t->data >= base && (const uint8_t *)t->data < base + size;
            assert_int_equal(inside, json_object_get_boolean(get(g, "borrowed")));
            assert_int_equal((uintptr_t)t->data % qf_dtype_size(t->dtype), 0);
        }
        total += t->nbytes;
    }
    assert_int_equal(qf_model_total_bytes(m), total);
    qf_model_destroy(m);
}

static void test_valid_fixtures(void **state)
{
    (void)state;
    json_object *golden = load_json("valid.json");
    int count = 0;
    json_object_object_foreach(golden, name, entry)
    {
        check_valid_file(name, entry);
        count++;
    }
    assert_true(count >= 8);
    json_object_put(golden);
}

static void test_invalid_fixtures(void **state)
{
    (void)state;
    json_object *table = load_json("invalid.json");
    size_t n = json_object_array_length(table);
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        json_object *row = json_object_array_get_idx(table, i);
        const char *name = json_object_get_string(get(row, "file"));
        const char *status = json_object_get_string(get(row, "status"));
        int64_t offset = json_object_get_int64(get(row, "offset"));
        const char *reason = json_object_get_string(get(row, "reason"));
        char path[1024];
        snprintf(path, sizeof path, FIXTURES "%s", name);
        qf_model *m = (qf_model *)&m; /* must be reset to NULL */
        qf_error err;
        qf_error_clear(&err);
        qf_status st = read_path(path, &m, NULL, NULL, &err);
        char line[2048];
        qf_error_format(&err, line, sizeof line);
        print_message("  %-40s %-11s %s\n", name, qf_status_name(st), line);
        if (strcmp(qf_status_name(st), status) != 0 || err.offset != offset || !strstr(err.message, reason))
            fail_msg("%s: expected %s at offset %lld with '%s'; got %s at offset %lld: %s", name, status,
                     (long long)offset, reason, qf_status_name(st), (long long)err.offset, line);
        assert_int_equal(err.code, st);
        assert_null(m);
        assert_non_null(strstr(err.file, name));
    }
    json_object_put(table);
}

/* The header may be exactly QF_SAFETENSORS_MAX_HEADER bytes; one more is refused before any read. */
static void test_header_limit(void **state)
{
    (void)state;
    size_t n = QF_SAFETENSORS_MAX_HEADER;
    uint8_t *buf = malloc(8 + n);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memset(buf + 8, ' ', n);
    memcpy(buf + 8, "{\"__metadata__\":{\"k\":\"v\"}}", 26);
    write_file(SCRATCH, buf, 8 + n);
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(read_path(SCRATCH, &m, NULL, NULL, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(m), 0);
    assert_string_equal(qf_model_get_meta(m, "safetensors.header_bytes"), "100000000");
    assert_string_equal(qf_model_get_meta(m, "safetensors.k"), "v");
    qf_model_destroy(m);

    n++;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    write_file(SCRATCH, buf, 8 + n - 1); /* the length is checked before the file size */
    qf_error_clear(&err);
    assert_int_equal(read_path(SCRATCH, &m, NULL, NULL, &err), QF_STATUS_LIMIT);
    assert_null(m);
    assert_int_equal(err.offset, 0);
    free(buf);
    remove(SCRATCH);
}

/* Writes a file with header `text` (padded to a multiple of 8) and `data_size` zero data bytes. */
static void write_header_file(const char *text, size_t data_size)
{
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    uint8_t *buf = calloc(1, 8 + padded + data_size);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, text, len);
    memset(buf + 8 + len, ' ', padded - len);
    write_file(SCRATCH, buf, 8 + padded + data_size);
    free(buf);
}

static qf_status read_scratch(qf_error *err)
{
    qf_model *m = NULL;
    qf_error_clear(err);
    qf_status st = read_path(SCRATCH, &m, NULL, NULL, err);
    qf_model_destroy(m);
    return st;
}

/* Each named limit: accepted at its value, refused with QF_STATUS_LIMIT one past it. */
static void test_named_limits(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *h = malloc(cap);
    assert_non_null(h);
    qf_error err;

    /* nesting: 127 arrays inside the root object parse (then the entry is no object), 128 do not */
    for (int depth = QF_SAFETENSORS_MAX_DEPTH - 1; depth <= QF_SAFETENSORS_MAX_DEPTH; depth++) {
        size_t n = (size_t)snprintf(h, cap, "{\"a\":");
        for (int i = 0; i < depth; i++) h[n++] = '[';
        for (int i = 0; i < depth; i++) h[n++] = ']';
        snprintf(h + n, cap - n, "}");
        write_header_file(h, 0);
        qf_status st = read_scratch(&err);
        assert_int_equal(st, depth < QF_SAFETENSORS_MAX_DEPTH ? QF_STATUS_FORMAT : QF_STATUS_LIMIT);
        if (st == QF_STATUS_LIMIT) assert_int_equal(err.offset, 8 + 5 + QF_SAFETENSORS_MAX_DEPTH - 1);
    }

    /* __metadata__ entries */
    for (int count = QF_SAFETENSORS_MAX_META_ENTRIES; count <= QF_SAFETENSORS_MAX_META_ENTRIES + 1; count++) {
        size_t n = (size_t)snprintf(h, cap, "{\"__metadata__\":{");
        for (int i = 0; i < count; i++) n += (size_t)snprintf(h + n, cap - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
        snprintf(h + n, cap - n, "}}");
        write_header_file(h, 0);
        assert_int_equal(read_scratch(&err), count <= QF_SAFETENSORS_MAX_META_ENTRIES ? QF_STATUS_OK : QF_STATUS_LIMIT);
    }

    /* tensor name length, and metadata key length once "safetensors." is prefixed */
    for (int len = QF_MAX_NAME_LEN; len <= QF_MAX_NAME_LEN + 1; len++) {
        size_t n = (size_t)snprintf(h, cap, "{\"");
        memset(h + n, 'x', (size_t)len);
        n += (size_t)len;
        snprintf(h + n, cap - n, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
        write_header_file(h, 1);
        assert_int_equal(read_scratch(&err), len <= QF_MAX_NAME_LEN ? QF_STATUS_OK : QF_STATUS_LIMIT);
        if (len > QF_MAX_NAME_LEN) assert_int_equal(err.offset, 9);
    }
    int key_max = QF_MAX_NAME_LEN - (int)strlen("safetensors.");
    for (int len = key_max; len <= key_max + 1; len++) {
        size_t n = (size_t)snprintf(h, cap, "{\"__metadata__\":{\"");
        memset(h + n, 'k', (size_t)len);
        n += (size_t)len;
        snprintf(h + n, cap - n, "\":\"v\"}}");
        write_header_file(h, 0);
        assert_int_equal(read_scratch(&err), len <= key_max ? QF_STATUS_OK : QF_STATUS_LIMIT);
    }
    free(h);
    remove(SCRATCH);
}

/* Every proper prefix of a valid file is refused with a status; nothing crashes or leaks. */
static void test_truncated_prefixes(void **state)
{
    (void)state;
    const char *names[] = {"dtypes.safetensors", "scalar.safetensors", "zero_size.safetensors"};
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, FIXTURES "%s", names[f]);
        size_t size;
        uint8_t *bytes = slurp(path, &size);
        for (size_t cut = 0; cut < size; cut++) {
            write_file(SCRATCH, bytes, cut);
            qf_model *m = NULL;
            qf_error err;
            qf_error_clear(&err);
            qf_status st = read_path(SCRATCH, &m, NULL, NULL, &err);
            if (st == QF_STATUS_OK) fail_msg("%s cut at %zu was accepted", names[f], cut);
            assert_null(m);
            assert_true(err.offset >= 0 && (uint64_t)err.offset <= size);
        }
        free(bytes);
    }
    remove(SCRATCH);
}

/* Every byte of the header replaced by a few values: the reader must fail cleanly or succeed. */
static void test_corrupted_headers(void **state)
{
    (void)state;
    size_t size;
    uint8_t *bytes = slurp(FIXTURES "scalar.safetensors", &size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
    const uint8_t subst[] = {0x00, '"', '{', '}', '[', ']', ',', ':', '\\', '-', '9', 0xff, 0xc3};
    size_t accepted = 0, refused = 0;
    for (size_t pos = 0; pos < 8 + n; pos++) {
        for (size_t s = 0; s < sizeof subst; s++) {
            if (bytes[pos] == subst[s]) continue;
            uint8_t keep = bytes[pos];
            bytes[pos] = subst[s];
            write_file(SCRATCH, bytes, size);
            bytes[pos] = keep;
            qf_model *m = NULL;
            qf_error err;
            qf_error_clear(&err);
            qf_status st = read_path(SCRATCH, &m, NULL, NULL, &err);
            if (st == QF_STATUS_OK) {
                accepted++;
                for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
                    const qf_tensor *t = qf_model_tensor(m, i);
                    if (t->nbytes) (void)((volatile const uint8_t *)t->data)[t->nbytes - 1];
                }
                qf_model_destroy(m);
            } else {
                refused++;
                assert_null(m);
                assert_int_equal(err.code, st);
                assert_true(err.message[0] != '\0');
            }
        }
    }
    print_message("  corrupted headers: %zu refused, %zu accepted\n", refused, accepted);
    assert_true(refused > 0);
    free(bytes);
    remove(SCRATCH);
}

static void test_error_detail(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(read_path(FIXTURES "size_mismatch.safetensors", &m, NULL, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "a");
    assert_string_equal(err.expected, "16 bytes");
    assert_string_equal(err.found, "12 bytes");
    char line[2048];
    qf_error_format(&err, line, sizeof line);
    assert_non_null(strstr(line, "size_mismatch.safetensors"));
    assert_non_null(strstr(line, "offset "));

    qf_error_clear(&err);
    assert_int_equal(read_path(FIXTURES "unsupported_f8.safetensors", &m, NULL, NULL, &err), QF_STATUS_UNSUPPORTED);
    assert_string_equal(err.object, "a");
    assert_string_equal(err.found, "F8_E4M3");
}

static void test_null_arguments(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    assert_int_equal(qf_safetensors_read(NULL, NULL, &m, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    qf_file *f = NULL;
    assert_int_equal(qf_file_map(FIXTURES "empty.safetensors", &f, NULL), QF_STATUS_OK);
    assert_int_equal(qf_safetensors_read(f, NULL, NULL, NULL), QF_STATUS_INVALID_ARGUMENT); /* f released */
    /* err may be NULL on failure too */
    assert_int_equal(read_path(FIXTURES "hole.safetensors", &m, NULL, NULL, NULL), QF_STATUS_FORMAT);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_fixtures),     cmocka_unit_test(test_invalid_fixtures),
        cmocka_unit_test(test_header_limit),       cmocka_unit_test(test_named_limits),
        cmocka_unit_test(test_truncated_prefixes), cmocka_unit_test(test_corrupted_headers),
        cmocka_unit_test(test_error_detail),       cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
