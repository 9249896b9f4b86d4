/*
 * tests/test_torch_reader.c — readers/torch against the committed fixtures of fixtures/torch/
 * (written by fixtures/gen/make_torch_fixtures.py): every valid fixture's tensors (name, dtype,
 * shape, SHA-256 of the bytes), metadata, shared storages and zero-copy views; every invalid
 * fixture's status, part, byte offset and message (invalid.json).
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

#define FIX QF_SOURCE_DIR "/fixtures/torch/"

static json_object *load_json(const char *name)
{
    json_object *j = json_object_from_file(name);
    if (!j) fail_msg("cannot parse %s", name);
    return j;
}

static qf_status read_file(const char *path, const char *select, bool use_select, qf_model **m, qf_error *err,
                           const uint8_t **base, uint64_t *size)
{
    qf_file *f;
    qf_error_clear(err);
    qf_status st = qf_file_map(path, &f, err);
    if (st) return st;
    if (base) *base = qf_file_data(f);
    if (size) *size = qf_file_size(f);
    qf_read_params p;
    memset(&p, 0, sizeof p);
    p.select = use_select ? select : NULL;
    return qf_torch_read(f, &p, m, err);
}

static bool inside(const void *p, const uint8_t *base, uint64_t size)
{
    return (const uint8_t *)p >= base && (const uint8_t *)p < base + size;
}

/* Reads every fixture of `json` (expected.json's layout) and checks its tensors; returns how many. */
static int check_valid(const char *json)
{
    json_object *all = load_json(json);
    int checked = 0;
    json_object_object_foreach(all, key, exp)
    {
        json_object *jfile, *jsel, *jt, *jmeta, *jshared;
        const char *file = json_object_object_get_ex(exp, "file", &jfile) ? json_object_get_string(jfile) : key;
        char path[1024];
        snprintf(path, sizeof path, FIX "%s", file);
        json_object_object_get_ex(exp, "select", &jsel);
        bool use_select = jsel && !json_object_is_type(jsel, json_type_null);
        qf_model *m = NULL;
        qf_error err;
        const uint8_t *base = NULL;
        uint64_t size = 0;
        qf_status st = read_file(path, use_select ? json_object_get_string(jsel) : NULL, use_select, &m, &err, &base, &size);
        if (st) {
            char buf[1024];
            qf_error_format(&err, buf, sizeof buf);
            fail_msg("%s: %s", key, buf);
        }
        json_object_object_get_ex(exp, "tensors", &jt);
        assert_int_equal(qf_model_tensor_count(m), json_object_array_length(jt));
        for (size_t i = 0; i < json_object_array_length(jt); i++) {
            json_object *e = json_object_array_get_idx(jt, i), *v;
            json_object_object_get_ex(e, "name", &v);
            const char *name = json_object_get_string(v);
            const qf_tensor *t = qf_model_tensor(m, i);
            if (strcmp(t->name, name) != 0) fail_msg("%s: tensor %zu is '%s', expected '%s'", key, i, t->name, name);
            json_object_object_get_ex(e, "dtype", &v);
            assert_string_equal(qf_dtype_name(t->dtype), json_object_get_string(v));
            json_object_object_get_ex(e, "shape", &v);
            assert_int_equal(t->rank, json_object_array_length(v));
            for (int32_t d = 0; d < t->rank; d++)
                assert_int_equal(t->shape[d], json_object_get_int64(json_object_array_get_idx(v, (size_t)d)));
            uint8_t digest[32];
            char hex[65];
            qf_sha256(t->data, (size_t)t->nbytes, digest);
            qf_sha256_hex(digest, hex);
            json_object_object_get_ex(e, "sha256", &v);
            if (strcmp(hex, json_object_get_string(v)) != 0) fail_msg("%s: bytes of '%s' differ", key, name);
        }
        if (json_object_object_get_ex(exp, "meta", &jmeta)) {
            json_object_object_foreach(jmeta, mk, mv)
            {
                const char *got = qf_model_get_meta(m, mk);
                if (!mv) { /* null: the key must be absent */
                    if (got) fail_msg("%s: metadata %s is '%s', expected it absent", key, mk, got);
                    continue;
                }
                if (!got || strcmp(got, json_object_get_string(mv)) != 0)
                    fail_msg("%s: metadata %s is '%s', expected '%s'", key, mk, got ? got : "(absent)",
                             json_object_get_string(mv));
            }
        }
        if (json_object_object_get_ex(exp, "shared", &jshared)) {
            for (size_t i = 0; i < json_object_array_length(jshared); i++) {
                json_object *pair = json_object_array_get_idx(jshared, i);
                const qf_tensor *a = qf_model_find(m, json_object_get_string(json_object_array_get_idx(pair, 0)), NULL);
                const qf_tensor *b = qf_model_find(m, json_object_get_string(json_object_array_get_idx(pair, 1)), NULL);
                assert_non_null(a);
                assert_non_null(b);
                assert_ptr_equal(a->data, b->data); /* tied weights stay tied */
            }
        }
        /* zero copy where the bytes allow it; copies otherwise */
        if (strcmp(key, "dtypes.pt") == 0 || strcmp(key, "tied.pt") == 0 || strcmp(key, "checkpoint.pt") == 0)
            for (size_t i = 0; i < qf_model_tensor_count(m); i++) assert_true(inside(qf_model_tensor(m, i)->data, base, size));
        if (strcmp(key, "deflated.pt") == 0)
            for (size_t i = 0; i < qf_model_tensor_count(m); i++) assert_false(inside(qf_model_tensor(m, i)->data, base, size));
        if (strcmp(key, "bigendian.pt") == 0) /* swapped copies; single bytes need no swap */
            for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
                const qf_tensor *t = qf_model_tensor(m, i);
                assert_true(inside(t->data, base, size) == (qf_dtype_size(t->dtype) == 1));
            }
        if (strcmp(key, "noncontig.pt") == 0) {
            assert_false(inside(qf_model_find(m, "transposed", NULL)->data, base, size));
            assert_false(inside(qf_model_find(m, "column", NULL)->data, base, size));
            assert_null(qf_model_find(m, "empty", NULL)->data);
            assert_int_equal(qf_model_find(m, "scalar", NULL)->rank, 0);
        }
        qf_model_destroy(m);
        checked++;
    }
    json_object_put(all);
    return checked;
}

static void test_valid_fixtures(void **state)
{
    (void)state;
    assert_true(check_valid(FIX "expected.json") >= 10);
}

/* Reads every fixture of `json` (invalid.json's layout) and checks its refusal; returns how many. */
static int check_invalid(const char *json)
{
    json_object *all = load_json(json);
    int checked = 0;
    json_object_object_foreach(all, key, exp)
    {
        char path[1024];
        snprintf(path, sizeof path, FIX "%s", key);
        json_object *js, *jo, *jm, *jp;
        json_object_object_get_ex(exp, "status", &js);
        json_object_object_get_ex(exp, "offset", &jo);
        json_object_object_get_ex(exp, "message", &jm);
        json_object_object_get_ex(exp, "part", &jp);
        qf_model *m = (qf_model *)1;
        qf_error err;
        qf_status st = read_file(path, NULL, false, &m, &err, NULL, NULL);
        char line[2048];
        qf_error_format(&err, line, sizeof line);
        if (strcmp(qf_status_name(st), json_object_get_string(js)) != 0 || err.offset != json_object_get_int64(jo) ||
            !strstr(line, json_object_get_string(jm)) || strcmp(err.part, json_object_get_string(jp)) != 0)
            fail_msg("%s: got %s '%s' (part '%s', offset %lld); expected %s at %lld in '%s' with '%s'", key,
                     qf_status_name(st), line, err.part, (long long)err.offset, json_object_get_string(js),
                     (long long)json_object_get_int64(jo), json_object_get_string(jp), json_object_get_string(jm));
        assert_int_equal(err.code, st);
        assert_string_equal(err.file, path);
        assert_null(m);
        checked++;
    }
    json_object_put(all);
    return checked;
}

static void test_invalid_fixtures(void **state)
{
    (void)state;
    assert_true(check_invalid(FIX "invalid.json") >= 16);
}

/* fixtures/gen/make_torch_hostile_views.py: size/stride lists grown after the REDUCE that checked
 * them load with the checked shape; strides that repeat storage are copied up to
 * QF_TORCH_MAX_VIEW_RATIO x the storage (per tensor) and x the file (all tensors), refused past it */
static void test_hostile_views(void **state)
{
    (void)state;
    assert_int_equal(QF_TORCH_MAX_VIEW_RATIO, 1100); /* the fixtures are written for this value */
    assert_int_equal(check_valid(FIX "views_expected.json"), 4);
    assert_int_equal(check_invalid(FIX "views_invalid.json"), 4);
    /* the lists grown by 1000 ints after the REDUCE are not the tensor's: it keeps the checked 2 x 2 */
    qf_model *m = NULL;
    qf_error err;
    assert_int_equal(read_file(FIX "mutated_size_after_reduce.pt", NULL, false, &m, &err, NULL, NULL), QF_STATUS_OK);
    const qf_tensor *t = qf_model_find(m, "w", NULL);
    assert_non_null(t);
    assert_int_equal(t->rank, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 2);
    qf_model_destroy(m);
    /* the error names the tensor, the pickle and the REDUCE that made it */
    assert_int_equal(read_file(FIX "bad_stride_zero_4gib.pt", NULL, false, &m, &err, NULL, NULL), QF_STATUS_LIMIT);
    assert_string_equal(err.object, "w");
    assert_string_equal(err.part, "archive/data.pkl");
    assert_string_equal(err.expected, "<= 17600 bytes (1100 x storage)");
    assert_string_equal(err.found, "4294967296 bytes");
}

static void test_select(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    /* explicit path into a nested checkpoint, with integer keys */
    assert_int_equal(read_file(FIX "checkpoint.pt", "optimizer.state", true, &m, &err, NULL, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(m), 1);
    assert_string_equal(qf_model_tensor(m, 0)->name, "0.momentum_buffer");
    assert_string_equal(qf_model_get_meta(m, "torch.selected"), "optimizer.state");
    qf_model_destroy(m);
    /* a single tensor selected by its dotted name (the key itself holds dots) */
    assert_int_equal(read_file(FIX "checkpoint.pt", "model.encoder.weight", true, &m, &err, NULL, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(m), 1);
    assert_string_equal(qf_model_tensor(m, 0)->name, "model.encoder.weight");
    qf_model_destroy(m);
    /* a path that is not there */
    m = (qf_model *)1;
    assert_int_equal(read_file(FIX "checkpoint.pt", "model.decoder", true, &m, &err, NULL, NULL), QF_STATUS_NOT_FOUND);
    assert_null(m);
    assert_string_equal(err.object, "model.decoder");
    assert_non_null(strstr(err.message, "'model.decoder'"));
}

static void test_arguments_and_empty(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = (qf_model *)1;
    assert_int_equal(qf_torch_read(NULL, NULL, &m, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    /* the bytes of a valid zip checkpoint cut short: no end record */
    char path[] = QF_BINARY_DIR "/torch_truncated_XXXXXX";
    FILE *in = fopen(FIX "dtypes.pt", "rb");
    assert_non_null(in);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "wb");
    fwrite(buf, 1, n / 2, out);
    fclose(out);
    assert_int_equal(read_file(path, NULL, false, &m, &err, NULL, NULL), QF_STATUS_FORMAT);
    assert_non_null(strstr(err.message, "end of central directory"));
    /* empty file */
    out = fopen(path, "wb");
    fclose(out);
    assert_int_equal(read_file(path, NULL, false, &m, &err, NULL, NULL), QF_STATUS_TRUNCATED);
    remove(path);
}

static qf_status read_bytes(const void *bytes, size_t n, qf_model **m, qf_error *err)
{
    char path[] = QF_BINARY_DIR "/torch_bytes_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "wb");
    fwrite(bytes, 1, n, out);
    fclose(out);
    qf_status st = read_file(path, NULL, false, m, err, NULL, NULL);
    remove(path);
    return st;
}

static void test_value_graphs(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    /* a dict that holds itself: flattening stops at the depth limit instead of looping */
    static const char cycle[] = "\x80\x02}q\x00X\x01\x00\x00\x00" "ah\x00s.";
    assert_int_equal(read_bytes(cycle, sizeof cycle - 1, &m, &err), QF_STATUS_LIMIT);
    assert_null(m);
    assert_non_null(strstr(err.message, "nested deeper than 64"));
    /* plain data loads with no tensors; scalars become metadata */
    static const char plain[] = "\x80\x02}(X\x05\x00\x00\x00" "epochK\x03X\x02\x00\x00\x00" "lrG?\xb9\x99\x99\x99\x99\x99\x9au.";
    assert_int_equal(read_bytes(plain, sizeof plain - 1, &m, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(m), 0);
    assert_string_equal(qf_model_get_meta(m, "torch.container"), "pickle");
    assert_string_equal(qf_model_get_meta(m, "torch.value.epoch"), "3");
    assert_string_equal(qf_model_get_meta(m, "torch.value.lr"), "0.10000000000000001");
    qf_model_destroy(m);
    /* a storage reference without storage data */
    static const char orphan[] = "\x80\x02X\x01\x00\x00\x00" "xQ.";
    assert_int_equal(read_bytes(orphan, sizeof orphan - 1, &m, &err), QF_STATUS_FORMAT);
    assert_int_equal(err.offset, 8);
    /* a dict key that cannot name a tensor */
    static const char badkey[] = "\x80\x02}N]s.";
    assert_int_equal(read_bytes(badkey, sizeof badkey - 1, &m, &err), QF_STATUS_FORMAT);
    assert_int_equal(err.offset, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_fixtures),
        cmocka_unit_test(test_invalid_fixtures),
        cmocka_unit_test(test_hostile_views),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_arguments_and_empty),
        cmocka_unit_test(test_value_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
