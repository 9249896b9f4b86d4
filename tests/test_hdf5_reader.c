/*
 * tests/test_hdf5_reader.c — readers/hdf5 against the committed fixtures in fixtures/hdf5/ (written
 * by fixtures/gen/make_hdf5_fixtures.py): every dtype with its values and whether it is borrowed,
 * Keras 2 (split layer_names, vlen weight_names, optimizer listing) and Keras 3 (nested layers,
 * natural var order) layouts, links never followed, `.keras` archives (stored and deflated), each
 * invalid file with the code, offset and object of expected.json, the limits at and past their
 * value, every truncated prefix and single-byte corruptions — with stderr captured, so that
 * anything libhdf5 prints fails the test; and that no other thread runs while the pre-check forks.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "qforge/readers.h"
#include "readers/hdf5/hdf5_internal.h"

#define FIXTURES QF_SOURCE_DIR "/fixtures/hdf5/"
#define STDERR_FILE QF_BINARY_DIR "/test_hdf5_reader.stderr"

/* ---- stderr capture: whatever is written to fd 2 between begin and end must be nothing ---- */
static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(STDERR_FILE, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    assert_true(saved_stderr >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
}

static void capture_end_expect_silence(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(STDERR_FILE, "rb");
    assert_non_null(f);
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n) fail_msg("libhdf5 wrote to stderr: %s", buf);
}

static qf_model *read_ok(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    qf_error err;
    qf_error_clear(&err);
    qf_read_params p = qf_read_params_default();
    p.hash_source = false;
    qf_model *m = NULL;
    capture_begin();
    qf_status st = qf_model_read(path, &p, &m, &err);
    capture_end_expect_silence();
    if (st) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s: %s", name, line);
    }
    return m;
}

static const qf_tensor *tensor(const qf_model *m, const char *name, qf_dtype dtype, int32_t rank, const int64_t *shape)
{
    const qf_tensor *t = qf_model_find(m, name, NULL);
    if (!t) fail_msg("tensor '%s' missing", name);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->rank, rank);
    for (int32_t i = 0; i < rank; i++) assert_int_equal(t->shape[i], shape[i]);
    return t;
}

/* values(n) of the generator: i * scale - n / 3 */
static double gen_value(int64_t i, int64_t n, double scale) { return (double)i * scale - (double)(n / 3); }

static void test_dtypes(void **state)
{
    (void)state;
    qf_model *m = read_ok("dtypes.h5");
    assert_string_equal(qf_model_get_meta(m, "keras.layout"), "hdf5");
    assert_int_equal(qf_model_tensor_count(m), 15);
    const qf_tensor *t = tensor(m, "f32", QF_DTYPE_F32, 2, (int64_t[]){3, 4});
    for (int i = 0; i < 12; i++) assert_true(((const float *)t->data)[i] == (float)gen_value(i, 12, 0.5));
    t = tensor(m, "f32_be", QF_DTYPE_F32, 1, (int64_t[]){6});
    for (int i = 0; i < 6; i++) assert_true(((const float *)t->data)[i] == (float)gen_value(i, 6, 0.5));
    t = tensor(m, "f16", QF_DTYPE_F16, 1, (int64_t[]){6});
    for (int i = 0; i < 6; i++) assert_true(qf_f16_to_f32(((const uint16_t *)t->data)[i]) == (float)gen_value(i, 6, 0.25));
    t = tensor(m, "f64", QF_DTYPE_F64, 1, (int64_t[]){5});
    for (int i = 0; i < 5; i++) assert_true(((const double *)t->data)[i] == gen_value(i, 5, 0.125));
    t = tensor(m, "i8", QF_DTYPE_I8, 1, (int64_t[]){7});
    assert_int_equal(((const int8_t *)t->data)[0], -2);
    t = tensor(m, "u8", QF_DTYPE_U8, 1, (int64_t[]){5});
    assert_int_equal(((const uint8_t *)t->data)[4], 200);
    t = tensor(m, "i16", QF_DTYPE_I16, 1, (int64_t[]){4});
    assert_int_equal(((const int16_t *)t->data)[3], 2999);
    t = tensor(m, "u16", QF_DTYPE_I32, 1, (int64_t[]){3}); /* widened: no u16 dtype */
    assert_int_equal(((const int32_t *)t->data)[2], 65535);
    t = tensor(m, "i32", QF_DTYPE_I32, 1, (int64_t[]){4});
    assert_int_equal(((const int32_t *)t->data)[3], 299999);
    t = tensor(m, "u32", QF_DTYPE_I64, 1, (int64_t[]){2});
    assert_int_equal(((const int64_t *)t->data)[1], 4294967295ll);
    t = tensor(m, "i64", QF_DTYPE_I64, 1, (int64_t[]){3});
    assert_int_equal(((const int64_t *)t->data)[2], (2ll << 40) - 1);
    t = tensor(m, "scalar", QF_DTYPE_F32, 0, NULL);
    assert_true(*(const float *)t->data == 2.5f);
    t = tensor(m, "gzip", QF_DTYPE_F32, 2, (int64_t[]){10, 100});
    for (int i = 0; i < 1000; i++) assert_true(((const float *)t->data)[i] == (float)gen_value(i, 1000, 0.01));
    t = tensor(m, "chunked", QF_DTYPE_F32, 1, (int64_t[]){64});
    for (int i = 0; i < 64; i++) assert_true(((const float *)t->data)[i] == (float)gen_value(i, 64, 1.0));
    tensor(m, "grp/nested/deep", QF_DTYPE_F32, 1, (int64_t[]){4});
    qf_model_destroy(m);
}

/* Contiguous little-endian datasets are views into the mapping (when aligned for their dtype; f64
 * and i64 here are not); the others are decoded copies. */
static void test_borrowed_or_copied(void **state)
{
    (void)state;
    qf_file *f = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_file_map(FIXTURES "dtypes.h5", &f, &err), QF_STATUS_OK);
    const uint8_t *base = qf_file_data(f);
    uint64_t size = qf_file_size(f);
    qf_model *m = NULL;
    assert_int_equal(qf_hdf5_read(f, NULL, &m, &err), QF_STATUS_OK);
    static const struct {
        const char *name;
        bool borrowed;
    } cases[] = {{"f32", true},  {"f16", true},    {"u8", true},
                 {"u16", false}, {"u32", false}, {"f32_be", false}, {"gzip", false}, {"chunked", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const qf_tensor *t = qf_model_find(m, cases[i].name, NULL);
        assert_non_null(t);
        const uint8_t *p = t->data;
        bool inside = p >= base && p < base + size;
        if (inside != cases[i].borrowed) fail_msg("'%s' borrowed=%d, expected %d", cases[i].name, inside, cases[i].borrowed);
    }
    qf_model_destroy(m);
}

static void test_keras3_nested(void **state)
{
    (void)state;
    qf_model *m = read_ok("keras3_nested.weights.h5");
    assert_string_equal(qf_model_get_meta(m, "keras.layout"), "keras3-weights");
    assert_int_equal(qf_model_tensor_count(m), 14);
    assert_string_equal(qf_model_tensor(m, 0)->name, "layers/functional/layers/dense/vars/0");
    assert_string_equal(qf_model_tensor(m, 1)->name, "layers/functional/layers/dense/vars/1");
    for (int i = 0; i < 12; i++) { /* natural order: vars/2 before vars/10 */
        char name[96];
        snprintf(name, sizeof name, "layers/functional/layers/dense_1/vars/%d", i);
        assert_string_equal(qf_model_tensor(m, 2 + (size_t)i)->name, name);
        assert_true(*(const float *)qf_model_tensor(m, 2 + (size_t)i)->data == (float)i);
    }
    assert_null(qf_model_find(m, "optimizer/vars/0", NULL));
    const char *opt = qf_model_get_meta(m, "keras.optimizer_weights");
    assert_non_null(opt);
    assert_non_null(strstr(opt, "2 datasets"));
    assert_non_null(strstr(opt, "optimizer/vars/1 f32[2,3]"));
    qf_model_destroy(m);
}

static void test_keras2_split_names(void **state)
{
    (void)state;
    qf_model *m = read_ok("keras2_split_names.h5");
    assert_string_equal(qf_model_get_meta(m, "keras.layout"), "keras2-full-model");
    assert_string_equal(qf_model_get_meta(m, "keras.version"), "2.3.1");
    assert_string_equal(qf_model_get_meta(m, "keras.backend"), "tensorflow");
    static const char *const names[] = {"dense_a/kernel:0", "dense_a/bias:0", "dense_b/kernel:0", "dense_b/bias:0"};
    assert_int_equal(qf_model_tensor_count(m), 4);
    for (size_t i = 0; i < 4; i++) assert_string_equal(qf_model_tensor(m, i)->name, names[i]);
    tensor(m, "dense_b/kernel:0", QF_DTYPE_F32, 2, (int64_t[]){3, 2});
    assert_non_null(strstr(qf_model_get_meta(m, "keras.optimizer_weights"), "optimizer_weights/Adam/iterations:0 i64[]"));
    qf_model_destroy(m);
}

static void test_links_not_followed(void **state)
{
    (void)state;
    qf_model *m = read_ok("links.h5");
    assert_int_equal(qf_model_tensor_count(m), 1);
    assert_non_null(qf_model_find(m, "real", NULL));
    const char *s = qf_model_get_meta(m, "hdf5.skipped_links");
    assert_non_null(s);
    assert_non_null(strstr(s, "soft (soft link, not followed)"));
    assert_non_null(strstr(s, "ext (external link, not followed)"));
    qf_model_destroy(m);
}

static void test_keras_archives(void **state)
{
    (void)state;
    const char *files[] = {"stored.keras", "deflated.keras"};
    for (int i = 0; i < 2; i++) {
        qf_model *m = read_ok(files[i]);
        assert_string_equal(qf_model_get_meta(m, "source.format"), "keras-zip");
        assert_string_equal(qf_model_get_meta(m, "keras.archive_weights"), i == 0 ? "stored" : "deflated");
        assert_non_null(strstr(qf_model_get_meta(m, "keras.archive_entries"), "assets/vocab.txt (4 bytes)"));
        assert_int_equal(qf_model_tensor_count(m), 2);
        const qf_tensor *t = tensor(m, "layers/dense/vars/0", QF_DTYPE_F32, 2, (int64_t[]){3, 2});
        for (int k = 0; k < 6; k++) assert_true(((const float *)t->data)[k] == (float)gen_value(k, 6, 1.0));
        qf_model_destroy(m);
    }
}

static void test_invalid_files(void **state)
{
    (void)state;
    json_object *exp = json_object_from_file(FIXTURES "expected.json");
    assert_non_null(exp);
    int count = 0;
    json_object_object_foreach(exp, name, spec)
    {
        json_object *code, *offset, *object;
        assert_true(json_object_object_get_ex(spec, "code", &code));
        assert_true(json_object_object_get_ex(spec, "offset", &offset));
        assert_true(json_object_object_get_ex(spec, "object", &object));
        char path[1024];
        snprintf(path, sizeof path, FIXTURES "%s", name);
        qf_error err;
        qf_error_clear(&err);
        qf_model *m = NULL;
        capture_begin();
        qf_status st = qf_model_read(path, NULL, &m, &err);
        capture_end_expect_silence();
        assert_null(m);
        if (strcmp(qf_status_name(st), json_object_get_string(code)) != 0 ||
            err.offset != json_object_get_int64(offset) || strcmp(err.object, json_object_get_string(object)) != 0) {
            fail_msg("%s: got %s at %lld object '%s' (%s), expected %s at %lld object '%s'", name, qf_status_name(st),
                     (long long)err.offset, err.object, err.message, json_object_get_string(code),
                     (long long)json_object_get_int64(offset), json_object_get_string(object));
        }
        assert_string_equal(err.file, path);
        count++;
    }
    assert_int_equal(count, 13);
    json_object_put(exp);
}

/* Two inputs the fuzzer found on which libhdf5 itself misbehaves, both contained by the forked
 * pre-check: a global-heap object whose length makes H5HG_read copy out of bounds (the child dies:
 * FORMAT), and metadata on which libhdf5 loops (the child reaches its CPU limit: LIMIT). The caller
 * gets the error and prints nothing. */
static void test_libhdf5_faults_contained(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        qf_status code;
    } cases[] = {
        {QF_SOURCE_DIR "/tests/fuzz/regressions/hdf5/contained-libhdf5-global-heap-memcpy.h5", QF_STATUS_FORMAT},
        {QF_SOURCE_DIR "/tests/fuzz/regressions/hdf5/contained-libhdf5-cpu-limit-loop.h5", QF_STATUS_LIMIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qf_error err;
        qf_error_clear(&err);
        qf_model *m = NULL;
        capture_begin();
        qf_status st = qf_model_read(cases[i].file, NULL, &m, &err);
        capture_end_expect_silence();
        assert_null(m);
        if (st != cases[i].code)
            fail_msg("%s: got %s (%s), expected %s", cases[i].file, qf_status_name(st), err.message,
                     qf_status_name(cases[i].code));
        assert_non_null(strstr(err.message, "pre-check"));
    }
}

/* Each *_at_limit file reads (attr_strings_at_limit passes the limit and fails on its content: it
 * is in expected.json as FORMAT); its *_past_limit twin is in expected.json (LIMIT). */
static void test_limits_at_value(void **state)
{
    (void)state;
    qf_model *m = read_ok("rank_at_limit.h5");
    assert_int_equal(qf_model_tensor(m, 0)->rank, QF_MAX_RANK);
    qf_model_destroy(m);
    m = read_ok("depth_at_limit.h5");
    assert_int_equal(qf_model_tensor_count(m), 1);
    qf_model_destroy(m);
    m = read_ok("unstored_at_limit.h5");
    assert_int_equal(qf_model_tensor(m, 0)->nbytes, (uint64_t)QF_HDF5_MAX_RATIO * QF_HDF5_MAX_UNSTORED);
    qf_model_destroy(m);
    m = read_ok("attr_chunks_at_limit.h5");
    assert_string_equal(qf_model_get_meta(m, "keras.layout"), "keras2-weights");
    qf_model_destroy(m);
}

static uint8_t *slurp(const char *name, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *size, f), *size);
    fclose(f);
    return buf;
}

static qf_status read_image(const uint8_t *image, size_t size, qf_error *err)
{
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    qf_error_clear(err);
    qf_status st = qf_hdf5_read_image(m, image, size, "", err);
    qf_model_destroy(m);
    return st;
}

/* Every prefix: no signature below 8 bytes, else TRUNCATED at the prefix length. */
static void test_truncated_prefixes(void **state)
{
    (void)state;
    size_t size;
    uint8_t *full = slurp("links.h5", &size);
    capture_begin();
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size buffer: ASan sees any read past the prefix */
        memcpy(copy, full, n);
        qf_error err;
        qf_status st = read_image(copy, n, &err);
        free(copy);
        qf_status want = n < 8 ? QF_STATUS_FORMAT : QF_STATUS_TRUNCATED;
        int64_t want_off = n < 8 ? 0 : (int64_t)n;
        if (st != want || err.offset != want_off) {
            capture_end_expect_silence();
            fail_msg("prefix %zu: %s at %lld (%s)", n, qf_status_name(st), (long long)err.offset, err.message);
        }
    }
    capture_end_expect_silence();
    free(full);
}

/* Single-byte corruptions: each read succeeds or fails with an error, silently, without crashing. */
static void corrupt_each(const char *name, size_t stride)
{
    size_t size;
    uint8_t *full = slurp(name, &size);
    uint8_t *copy = malloc(size);
    size_t failed = 0, total = 0;
    capture_begin();
    for (size_t i = 0; i < size; i += stride) {
        if (getenv("QF_HDF5_TRACE")) fprintf(stdout, "%s %zu\n", name, i), fflush(stdout);
        memcpy(copy, full, size);
        copy[i] ^= 0xA5;
        qf_error err;
        qf_status st = read_image(copy, size, &err);
        total++;
        if (st) {
            failed++;
            if (!err.message[0] || st >= QF_STATUS_COUNT_) {
                capture_end_expect_silence();
                fail_msg("%s byte %zu: status %d without a message", name, i, (int)st);
            }
        }
    }
    capture_end_expect_silence();
    print_message("%s: %zu corruptions, %zu refused\n", name, total, failed);
    assert_true(failed > 0);
    free(copy);
    free(full);
}

/* ---- no thread of qforge's while the pre-check forks ------------------------------------- */
/* A fork copies the calling thread only; a lock another thread holds then stays held in the child
 * (AddressSanitizer's allocator, GCC 12: a child waiting forever). The prepare handler counts the
 * process's threads at every fork; an HDF5 source is read with a hash thread allowed (threads 2)
 * and 64 MiB appended to it, so that hashing it beside the read would still run at the fork. */
static size_t g_forks, g_most_threads;

static void count_threads_at_fork(void)
{
    DIR *d = opendir("/proc/self/task");
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    g_forks++;
    if (n > g_most_threads) g_most_threads = n;
}

static void test_no_thread_while_forking(void **state)
{
    (void)state;
    char path[] = QF_BINARY_DIR "/test_hdf5_fork_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *src = fopen(FIXTURES "dtypes.h5", "rb");
    assert_non_null(src);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, src)) > 0) assert_int_equal(write(fd, buf, n), (ssize_t)n);
    fclose(src);
    memset(buf, 0, sizeof buf);
    for (int i = 0; i < 1024; i++) assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    close(fd);
    assert_int_equal(pthread_atfork(count_threads_at_fork, NULL, NULL), 0);
    qf_read_params p = qf_read_params_default();
    p.hash_source = true;
    p.threads = 2;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    (void)qf_model_read(path, &p, &m, &err); /* read or refused: the fork came first either way */
    qf_model_destroy(m);
    unlink(path);
    assert_true(g_forks >= 1);
    if (g_most_threads != 1) fail_msg("%zu threads ran while the HDF5 pre-check forked", g_most_threads);
}

static void test_corrupted_bytes(void **state)
{
    (void)state;
    corrupt_each("keras2_split_names.h5", 7); /* vlen strings: the crash the pre-check contains */
    corrupt_each("dtypes.h5", 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_borrowed_or_copied),
        cmocka_unit_test(test_keras3_nested),
        cmocka_unit_test(test_keras2_split_names),
        cmocka_unit_test(test_links_not_followed),
        cmocka_unit_test(test_keras_archives),
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_libhdf5_faults_contained),
        cmocka_unit_test(test_limits_at_value),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_corrupted_bytes),
        cmocka_unit_test(test_no_thread_while_forking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
