/*
 * tests/test_core.c — core layer: status table, error detail and its one-line format, checked
 * arithmetic at the edges, dtype table and half-precision rounding, the canonical model's checks
 * (each named limit at and past the limit), produced tensors (who owns the producer), SHA-256
 * vectors, mapped files, the source hash computed on a second thread (deferred metadata), atomic
 * outputs, the rule for files found beside a model (regular files only, inside the model's folder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/hash_impl.h"
#include "qforge/core.h"

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(qf_status_name(QF_STATUS_OK), "OK");
    assert_string_equal(qf_status_name(QF_STATUS_FORBIDDEN), "FORBIDDEN");
    assert_string_equal(qf_status_text(QF_STATUS_TRUNCATED), "file is truncated");
    assert_string_equal(qf_status_name((qf_status)999), "UNKNOWN");
}

static void test_error_first_failure_wins(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(err.offset, -1);
    qf_error_set_file(&err, "model.bin");
    assert_int_equal(qf_error_set(&err, QF_STATUS_FORBIDDEN, NULL, "archive/data.pkl", 1834, "os.system",
                                  "GLOBAL '%s' is not an allowed class", "os.system"),
                     QF_STATUS_FORBIDDEN);
    /* a later failure does not overwrite the first */
    qf_error_set(&err, QF_STATUS_IO, "other", NULL, 1, NULL, "later");
    char line[512];
    qf_error_format(&err, line, sizeof line);
    assert_string_equal(line, "model.bin: archive/data.pkl offset 1834: GLOBAL 'os.system' is not an allowed class");
    assert_string_equal(err.object, "os.system");
    assert_int_equal(err.code, QF_STATUS_FORBIDDEN);

    qf_error_clear(&err);
    qf_error_set(&err, QF_STATUS_SHAPE, "a.safetensors", NULL, 8, "w", "tensor 'w' size");
    qf_error_expected(&err, "%d bytes", 16);
    qf_error_found(&err, "%d bytes", 12);
    qf_error_format(&err, line, sizeof line);
    assert_string_equal(line, "a.safetensors: offset 8: tensor 'w' size (expected 16 bytes, found 12 bytes)");
    /* NULL error detail is accepted everywhere */
    assert_int_equal(qf_error_set(NULL, QF_STATUS_IO, NULL, NULL, -1, NULL, "x"), QF_STATUS_IO);
    qf_error_clear(NULL);
}

/* Text from files shown on a terminal: every class of control escaped visibly, everything else kept. */
static void esc(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = qf_text_escape(in, len, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_text_escape(void **state)
{
    (void)state;
    esc("plain.weight caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", 27, "plain.weight caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
    esc("\x1b]0;title\x07", 10, "\\x1b]0;title\\x07");              /* OSC ... BEL */
    esc("\x1b[2J\x1b[H", 7, "\\x1b[2J\\x1b[H");                        /* CSI */
    esc("a\nb\tc\rd\x7f\x01", 9, "a\\nb\\tc\\rd\\x7f\\x01");        /* C0, DEL */
    esc("x\0y", 3, "x\\x00y");                                           /* NUL inside a length */
    esc("\xc2\x9b" "31m \xc2\x80 \xc2\x9f \xc2\xa0", 14, "\\u009b31m \\u0080 \\u009f \xc2\xa0"); /* C1; NBSP kept */
    esc("\xe2\x80\xae" "exe \xe2\x81\xa6\xe2\x81\xa9 \xe2\x80\xaa", 17, "\\u202eexe \\u2066\\u2069 \\u202a"); /* bidi */
    esc("\xe2\x80\xa8\xe2\x80\xa9", 6, "\\u2028\\u2029");                /* line/paragraph separators */
    esc("back\\slash", 10, "back\\\\slash");                                 /* unambiguous */
    /* not UTF-8: lone continuation, truncated sequence, overlong, surrogate, past U+10FFFF, 0xff */
    esc("\x80 \xc3 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff", 17,
        "\\x80 \\xc3 \\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\xff");
    esc("\xe2\x80", 2, "\\xe2\\x80"); /* a character cut by the end of the text */
    /* truncation: never inside an escape or a character; the result is the full length */
    char small[6];
    assert_int_equal(qf_text_escape("ab\x1b" "c", 4, small, sizeof small), 7);
    assert_string_equal(small, "ab");
    assert_int_equal(qf_text_escape("a\xc3\xa9\xc3\xa9", 5, small, 4), 5);
    assert_string_equal(small, "a\xc3\xa9");
    assert_int_equal(qf_text_escape("\x01\x01", 2, NULL, 0), 8);
    assert_int_equal(qf_text_escape(NULL, 5, small, sizeof small), 0);
    assert_string_equal(small, "");
    /* the worst case grows each byte QF_TEXT_ESCAPE_GROWTH times */
    assert_int_equal(qf_text_escape("\xff\xff\xff", 3, NULL, 0), 3 * QF_TEXT_ESCAPE_GROWTH);

    /* qf_error_format escapes every field quoted from a file */
    qf_error err;
    qf_error_clear(&err);
    qf_error_set(&err, QF_STATUS_SHAPE, "m\x1b.bin", "entry\x9b", 8, "w\x1b[2J",
                 "tensor '%s' size", "w\x1b[2J\xe2\x80\xae");
    qf_error_expected(&err, "ok\x07");
    qf_error_found(&err, "\xc2\x9d" "0;x");
    char line[512];
    int n = qf_error_format(&err, line, sizeof line);
    assert_string_equal(line, "m\\x1b.bin: entry\\x9b offset 8: tensor 'w\\x1b[2J\\u202e' size (expected ok\\x07, found "
                              "\\u009d0;x)");
    assert_int_equal(n, (int)strlen(line));
    /* a short buffer: a prefix, and the length the whole line needs */
    char shortline[12];
    assert_int_equal(qf_error_format(&err, shortline, sizeof shortline), n);
    assert_string_equal(shortline, "m\\x1b.bin: ");
}

/* Names must be UTF-8 (a .qf is JSON); values of unknown encoding get U+FFFD per stray byte. */
static void test_text_utf8(void **state)
{
    (void)state;
    assert_true(qf_text_is_utf8("", 0));
    assert_true(qf_text_is_utf8("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", 14));
    assert_false(qf_text_is_utf8("a\xff", 2));
    assert_false(qf_text_is_utf8("\xc0\xaf", 2));         /* overlong */
    assert_false(qf_text_is_utf8("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(qf_text_is_utf8("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(qf_text_is_utf8("\xc3", 1));             /* cut */
    char out[64];
    assert_int_equal(qf_text_utf8_repair("caf\xc3\xa9", 5, out, sizeof out), 5);
    assert_string_equal(out, "caf\xc3\xa9");
    assert_int_equal(qf_text_utf8_repair("/tmp/nu\xff" "dir", 11, out, sizeof out), 13);
    assert_string_equal(out, "/tmp/nu\xef\xbf\xbd" "dir");
    assert_true(qf_text_is_utf8(out, strlen(out)));
    /* a cut sequence: each of its bytes is one U+FFFD */
    assert_int_equal(qf_text_utf8_repair("\xe4\xb8", 2, out, sizeof out), 6);
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
    /* truncation never splits a character; sizing with NULL */
    char small[5];
    assert_int_equal(qf_text_utf8_repair("ab\xff\xff", 4, small, sizeof small), 8);
    assert_string_equal(small, "ab");
    assert_int_equal(qf_text_utf8_repair("\xff\xff\xff", 3, NULL, 0), 3 * QF_TEXT_REPAIR_GROWTH);
    assert_int_equal(qf_text_utf8_repair(NULL, 4, out, sizeof out), 0);

    /* a config.json that is not UTF-8 is refused by every reader's path into a model (an overlong
     * form, which json-c's own UTF-8 check lets through: regressions/qf/config-overlong-utf8.qf) */
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    static const char overlong[] = "{\"architectures\": [\"Bert\xc0\x90rSequenceClassification\"]}";
    assert_int_equal(qf_model_set_config_json(m, overlong, sizeof overlong - 1, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "config.json");
    assert_null(qf_model_config_json(m));
    static const char fine[] = "{\"model_type\": \"bert\", \"name\": \"caf\xc3\xa9\"}";
    assert_int_equal(qf_model_set_config_json(m, fine, sizeof fine - 1, &err), QF_STATUS_OK);
    assert_string_equal(qf_model_config_json(m), fine);
    qf_model_destroy(m);
}

static void test_checked_arithmetic(void **state)
{
    (void)state;
    uint64_t r = 7;
    assert_true(qf_add_u64(UINT64_MAX - 1, 1, &r));
    assert_true(r == UINT64_MAX);
    r = 7;
    assert_false(qf_add_u64(UINT64_MAX, 1, &r));
    assert_true(r == 7);
    assert_true(qf_mul_u64(1ull << 32, (1ull << 32) - 1, &r));
    assert_false(qf_mul_u64(1ull << 32, 1ull << 32, &r));
    assert_true(qf_align_up_u64(65, 64, &r) && r == 128);
    assert_true(qf_align_up_u64(64, 64, &r) && r == 64);
    assert_true(qf_align_up_u64(0, 64, &r) && r == 0);
    assert_false(qf_align_up_u64(UINT64_MAX - 10, 64, &r));
    assert_false(qf_align_up_u64(10, 48, &r)); /* not a power of two */
    assert_true(qf_range_within(0, 10, 10));
    assert_false(qf_range_within(1, 10, 10));
    assert_false(qf_range_within(11, 0, 10));
    assert_false(qf_range_within(5, UINT64_MAX, 10));
}

static void test_dtype_table(void **state)
{
    (void)state;
    assert_int_equal(qf_dtype_size(QF_DTYPE_F32), 4);
    assert_int_equal(qf_dtype_size(QF_DTYPE_BF16), 2);
    assert_int_equal(qf_dtype_size(QF_DTYPE_BOOL), 1);
    assert_int_equal(qf_dtype_size((qf_dtype)99), 0);
    qf_dtype t;
    assert_true(qf_dtype_from_name("i64", &t) && t == QF_DTYPE_I64);
    assert_false(qf_dtype_from_name("float32", &t));
    int64_t shape[3] = {2, 3, 4};
    uint64_t n;
    assert_true(qf_shape_nbytes(QF_DTYPE_F16, 3, shape, &n) && n == 48);
    assert_true(qf_shape_numel(0, shape, &n) && n == 1);
    int64_t huge[2] = {1ll << 62, 16};
    assert_false(qf_shape_nbytes(QF_DTYPE_F32, 2, huge, &n));
    int64_t neg[1] = {-1};
    assert_false(qf_shape_numel(1, neg, &n));
}

static void test_half_conversions(void **state)
{
    (void)state;
    assert_true(qf_f16_to_f32(0x3c00) == 1.0f);
    assert_true(qf_f16_to_f32(0xc000) == -2.0f);
    assert_true(qf_f16_to_f32(0x0001) == 5.9604644775390625e-08f); /* smallest subnormal */
    assert_true(qf_f16_to_f32(0x7bff) == 65504.0f);
    assert_int_equal(qf_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(qf_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(qf_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    /* ties to even: 1 + 2^-11 is halfway between 1 and 1+2^-10 -> 1 (even) */
    assert_int_equal(qf_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    /* 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even) -> up */
    assert_int_equal(qf_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(qf_f32_to_f16(5.9604644775390625e-08f), 0x0001);
    assert_int_equal(qf_f32_to_f16(2.98023223876953125e-08f), 0x0000); /* half of smallest: tie to even 0 */
    for (uint32_t h = 0; h < 0x7c00; h++) assert_int_equal(qf_f32_to_f16(qf_f16_to_f32((uint16_t)h)), h);
    assert_true(qf_bf16_to_f32(0x3f80) == 1.0f);
    assert_int_equal(qf_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(qf_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80); /* tie -> even */
    assert_int_equal(qf_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    qf_sha256("", 0, d);
    qf_sha256_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* an empty tensor's data pointer may be NULL */
    qf_sha256(NULL, 0, d);
    qf_sha256_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    qf_sha256("abc", 3, d);
    qf_sha256_hex(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two padding blocks */
    qf_sha256(m, strlen(m), d);
    qf_sha256_hex(d, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(qf_crc32(0, "123456789", 9), 0xcbf43926u);
}

static void test_model_add_and_find(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_create(&m, &err), QF_STATUS_OK);
    float *buf;
    assert_int_equal(qf_model_alloc(m, 6 * sizeof(float), (void **)&buf, &err), QF_STATUS_OK);
    assert_true(((uintptr_t)buf % 64) == 0);
    int64_t shape[2] = {2, 3};
    size_t idx = 99;
    assert_int_equal(qf_model_add_tensor(m, "a.weight", "src.a", QF_DTYPE_F32, 2, shape, buf, 24, &idx, &err),
                     QF_STATUS_OK);
    assert_int_equal(idx, 0);
    /* byte size must match the shape */
    assert_int_equal(qf_model_add_tensor(m, "b", NULL, QF_DTYPE_F32, 2, shape, buf, 20, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.expected, "24 bytes");
    assert_string_equal(err.found, "20 bytes");
    qf_error_clear(&err);
    assert_int_equal(qf_model_add_tensor(m, "a.weight", NULL, QF_DTYPE_F32, 2, shape, buf, 24, NULL, &err),
                     QF_STATUS_DUPLICATE);
    qf_error_clear(&err);
    assert_int_equal(qf_model_add_tensor(m, "", NULL, QF_DTYPE_F32, 2, shape, buf, 24, NULL, &err), QF_STATUS_FORMAT);
    qf_error_clear(&err);
    int64_t over[2] = {1ll << 62, 8};
    assert_int_equal(qf_model_add_tensor(m, "o", NULL, QF_DTYPE_F32, 2, over, buf, 24, NULL, &err), QF_STATUS_OVERFLOW);
    qf_error_clear(&err);
    const qf_tensor *t = qf_model_find(m, "a.weight", &idx);
    assert_non_null(t);
    assert_string_equal(t->source_name, "src.a");
    assert_null(qf_model_find(m, "missing", NULL));
    /* many tensors: the name index grows */
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, 0, NULL, buf, 4, NULL, &err), QF_STATUS_OK);
    }
    assert_non_null(qf_model_find(m, "t777", &idx));
    assert_int_equal(idx, 778);
    assert_int_equal(qf_model_tensor_count(m), 1001);
    assert_int_equal(qf_model_rename_tensor(m, 0, "renamed.weight", &err), QF_STATUS_OK);
    assert_null(qf_model_find(m, "a.weight", NULL));
    t = qf_model_find(m, "renamed.weight", NULL);
    assert_non_null(t);
    assert_string_equal(t->source_name, "src.a");
    assert_int_equal(qf_model_rename_tensor(m, 1, "renamed.weight", &err), QF_STATUS_DUPLICATE);
    qf_model_destroy(m);
    qf_model_destroy(NULL);
}

static void test_model_limits(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_create(&m, &err), QF_STATUS_OK);
    static uint8_t byte[1];
    int64_t ones[QF_MAX_RANK + 1];
    for (int i = 0; i <= QF_MAX_RANK; i++) ones[i] = 1;
    /* rank: at the limit accepted, one past refused */
    assert_int_equal(qf_model_add_tensor(m, "r", NULL, QF_DTYPE_U8, QF_MAX_RANK, ones, byte, 1, NULL, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_add_tensor(m, "r2", NULL, QF_DTYPE_U8, QF_MAX_RANK + 1, ones, byte, 1, NULL, &err),
                     QF_STATUS_LIMIT);
    qf_error_clear(&err);
    /* name length: at the limit accepted, one past refused */
    char *name = malloc(QF_MAX_NAME_LEN + 2);
    memset(name, 'n', QF_MAX_NAME_LEN + 1);
    name[QF_MAX_NAME_LEN] = '\0';
    assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_U8, 0, NULL, byte, 1, NULL, &err), QF_STATUS_OK);
    name[QF_MAX_NAME_LEN] = 'n';
    name[QF_MAX_NAME_LEN + 1] = '\0';
    assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_U8, 0, NULL, byte, 1, NULL, &err), QF_STATUS_LIMIT);
    free(name);
    qf_error_clear(&err);
    /* metadata entries: at the limit accepted, one past refused */
    char key[32];
    for (int i = 0; i < QF_MAX_META_ENTRIES; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(qf_model_set_meta(m, key, "v", &err), QF_STATUS_OK);
    }
    assert_int_equal(qf_model_set_meta(m, "one.more", "v", &err), QF_STATUS_LIMIT);
    qf_error_clear(&err);
    assert_int_equal(qf_model_set_meta(m, "k5", "replaced", &err), QF_STATUS_OK);
    assert_string_equal(qf_model_get_meta(m, "k5"), "replaced");
    qf_model_destroy(m);
}

static int release_count;
static void count_release(void *p)
{
    (void)p;
    release_count++;
}

static void test_model_keep_and_retain(void **state)
{
    (void)state;
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    release_count = 0;
    assert_int_equal(qf_model_keep(m, &release_count, count_release, NULL), QF_STATUS_OK);
    qf_model_retain(m);
    qf_model_destroy(m);
    assert_int_equal(release_count, 0);
    qf_model_destroy(m);
    assert_int_equal(release_count, 1);
}

/* Produced tensors: the producer says which; its context is owned by the model from the call on
 * (destroyed at once when refused, once with the model otherwise, before the kept objects). */
static int producer_destroyed;

static bool produces_odd(void *ctx, const qf_model *m, size_t index)
{
    (void)ctx;
    (void)m;
    return index % 2 == 1;
}

static qf_status produce_nothing(void *ctx, const qf_model *m, size_t index, void *dst, uint64_t nbytes,
                                 qf_error *err)
{
    (void)ctx, (void)m, (void)index, (void)dst, (void)nbytes, (void)err;
    return QF_STATUS_OK;
}

static void producer_destroy(void *ctx)
{
    /* the kept objects are still alive */
    assert_int_equal(release_count, 0);
    ++*(int *)ctx;
}

static void test_model_producer(void **state)
{
    (void)state;
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    static const float data[4] = {1, 2, 3, 4};
    int64_t shape[1] = {1};
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, 1, shape, &data[i], 4, NULL, NULL),
                         QF_STATUS_OK);
    }
    assert_null(qf_model_producer(m));
    assert_false(qf_model_tensor_produced(m, 1));
    assert_int_equal(qf_model_check_in_memory(m, NULL, "test", NULL), QF_STATUS_OK);
    release_count = 0;
    assert_int_equal(qf_model_keep(m, &release_count, count_release, NULL), QF_STATUS_OK);

    producer_destroyed = 0;
    qf_error err;
    qf_error_clear(&err);
    qf_tensor_producer incomplete = {produces_odd, NULL, &producer_destroyed, producer_destroy};
    assert_int_equal(qf_model_set_producer(m, &incomplete, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(producer_destroyed, 1);
    assert_null(qf_model_producer(m));

    producer_destroyed = 0;
    qf_tensor_producer p = {produces_odd, produce_nothing, &producer_destroyed, producer_destroy};
    assert_int_equal(qf_model_set_producer(m, &p, NULL), QF_STATUS_OK);
    assert_non_null(qf_model_producer(m));
    assert_ptr_equal(qf_model_producer(m)->ctx, &producer_destroyed);
    assert_false(qf_model_tensor_produced(m, 0));
    assert_true(qf_model_tensor_produced(m, 1));
    assert_false(qf_model_tensor_produced(m, 3)); /* out of range */
    qf_error_clear(&err);
    assert_int_equal(qf_model_check_in_memory(m, "out.bin", "the test writer", &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "t1");
    assert_string_equal(err.file, "out.bin");
    assert_non_null(strstr(err.message, "the test writer needs its bytes in memory"));

    int second = 0;
    qf_tensor_producer again = {produces_odd, produce_nothing, &second, producer_destroy};
    assert_int_equal(qf_model_set_producer(m, &again, NULL), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(second, 1);
    assert_int_equal(producer_destroyed, 0);

    qf_model_destroy(m);
    assert_int_equal(producer_destroyed, 1);
    assert_int_equal(release_count, 1);
}

static void test_file_map(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_file *f = NULL;
    assert_int_equal(qf_file_map("/nonexistent/qforge/file", &f, &err), QF_STATUS_IO);
    assert_null(f);
    assert_string_equal(err.file, "/nonexistent/qforge/file");
    char path[] = "/tmp/qf_test_core_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qf_error_clear(&err);
    assert_int_equal(qf_file_map(path, &f, &err), QF_STATUS_OK);
    assert_int_equal(qf_file_size(f), 0);
    assert_non_null(qf_file_data(f));
    /* references: the mapping goes with the last unmap */
    assert_ptr_equal(qf_file_retain(f), f);
    qf_file_unmap(f);
    assert_int_equal(qf_file_size(f), 0);
    assert_non_null(qf_file_data(f));
    qf_file_unmap(f);
    assert_null(qf_file_retain(NULL));
    qf_file_unmap(NULL);
    unlink(path);
    qf_error_clear(&err);
    assert_int_equal(qf_file_map("/tmp", &f, &err), QF_STATUS_IO);
}

/* The rule for files found beside a model (qf_file_map_beside) without the readers: names that leave
 * the folder by their letters, links out, a dangling link, a link inside, the Hugging Face hub cache
 * layout (snapshots/<rev>/ -> ../../blobs/<hash>) and what it still refuses; a character device
 * named by the user is refused by its type. */
static void test_file_map_beside(void **state)
{
    (void)state;
    char root[] = "/tmp/qf_test_beside_XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[128], p[256], q[256];
    snprintf(dir, sizeof dir, "%s/model", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/a.bin", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/secret", root);
    f = fopen(p, "wb");
    assert_non_null(f);
    fputs("secret", f);
    fclose(f);
    snprintf(q, sizeof q, "%s/out", dir);
    assert_int_equal(symlink(p, q), 0);
    snprintf(q, sizeof q, "%s/in", dir);
    assert_int_equal(symlink("a.bin", q), 0);
    snprintf(q, sizeof q, "%s/dangling", dir);
    assert_int_equal(symlink("nowhere", q), 0);

    qf_error err;
    qf_file *m = NULL;
    static const char *const leaving[] = {"../secret", "/etc/hostname", "x/../../secret", "a\\b", ""};
    for (size_t i = 0; i < sizeof leaving / sizeof leaving[0]; i++) {
        qf_error_clear(&err);
        assert_int_equal(qf_file_map_beside(dir, leaving[i], &m, &err), QF_STATUS_FORBIDDEN);
        assert_null(m);
        assert_non_null(strstr(err.message, "leaves the model folder"));
        assert_string_equal(err.object, leaving[i]);
    }
    qf_error_clear(&err);
    assert_int_equal(qf_file_map_beside(dir, "out", &m, &err), QF_STATUS_FORBIDDEN);
    assert_string_equal(err.message, "'out' resolves outside the model folder");
    assert_non_null(strstr(err.found, "/secret'"));
    snprintf(q, sizeof q, "%s/out", dir);
    assert_string_equal(err.file, q);
    qf_error_clear(&err);
    assert_int_equal(qf_file_map_beside(dir, "dangling", &m, &err), QF_STATUS_NOT_FOUND);
    assert_true(qf_file_beside_exists(dir, "dangling"));
    assert_false(qf_file_beside_exists(dir, "absent"));
    qf_error_clear(&err);
    assert_int_equal(qf_file_map_beside(dir, "in", &m, &err), QF_STATUS_OK);
    assert_int_equal(qf_file_size(m), 3);
    assert_memory_equal(qf_file_data(m), "abc", 3);
    snprintf(q, sizeof q, "%s/in", dir);
    assert_string_equal(qf_file_path(m), q);
    qf_file_unmap(m);
    /* the folder itself may be reached through a link: containment compares resolved paths */
    snprintf(q, sizeof q, "%s/model-link", root);
    assert_int_equal(symlink("model", q), 0);
    qf_error_clear(&err);
    assert_int_equal(qf_file_map_beside(q, "in", &m, &err), QF_STATUS_OK);
    qf_file_unmap(m);

    /* hub cache: a snapshot's links into its own repository's blobs/ are read; into refs/, another
     * repository's blobs/ or a blobs/ subfolder they are not */
    const char *mk[] = {"hub", "hub/models--o--n", "hub/models--o--n/blobs", "hub/models--o--n/blobs/sub",
                        "hub/models--o--n/refs", "hub/models--o--n/snapshots", "hub/models--o--n/snapshots/rev",
                        "hub/models--x--y", "hub/models--x--y/blobs", "hub/other", "hub/other/snapshots",
                        "hub/other/blobs", "hub/other/snapshots/rev"};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        snprintf(q, sizeof q, "%s/%s", root, mk[i]);
        assert_int_equal(mkdir(q, 0755), 0);
    }
    const char *blobs[] = {"hub/models--o--n/blobs/h1", "hub/models--o--n/blobs/sub/h2", "hub/models--o--n/refs/main",
                           "hub/models--x--y/blobs/h3", "hub/other/blobs/h4"};
    for (size_t i = 0; i < sizeof blobs / sizeof blobs[0]; i++) {
        snprintf(q, sizeof q, "%s/%s", root, blobs[i]);
        f = fopen(q, "wb");
        assert_non_null(f);
        fputs("{}", f);
        fclose(f);
    }
    const struct {
        const char *link, *target;
        qf_status want;
    } hub[] = {
        {"hub/models--o--n/snapshots/rev/config.json", "../../blobs/h1", QF_STATUS_OK},
        {"hub/models--o--n/snapshots/rev/sub.json", "../../blobs/sub/h2", QF_STATUS_FORBIDDEN},
        {"hub/models--o--n/snapshots/rev/refs.json", "../../refs/main", QF_STATUS_FORBIDDEN},
        {"hub/models--o--n/snapshots/rev/xy.json", "../../../models--x--y/blobs/h3", QF_STATUS_FORBIDDEN},
        {"hub/other/snapshots/rev/config.json", "../../blobs/h4", QF_STATUS_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof hub / sizeof hub[0]; i++) {
        snprintf(q, sizeof q, "%s/%s", root, hub[i].link);
        assert_int_equal(symlink(hub[i].target, q), 0);
        char *slash = strrchr(q, '/');
        *slash = '\0';
        qf_error_clear(&err);
        assert_int_equal(qf_file_map_beside(q, slash + 1, &m, &err), hub[i].want);
        if (hub[i].want == QF_STATUS_FORBIDDEN) assert_non_null(strstr(err.message, "resolves outside the model folder"));
        qf_file_unmap(m);
        m = NULL;
    }

    /* named by the user: anywhere, but a regular file */
    qf_error_clear(&err);
    assert_int_equal(qf_file_map("/dev/null", &m, &err), QF_STATUS_IO);
    assert_string_equal(err.message, "'null' is a character device, not a regular file");
    qf_error_clear(&err);
    assert_int_equal(qf_file_map_beside(root, "model", &m, &err), QF_STATUS_IO);
    assert_string_equal(err.message, "'model' is a directory, not a regular file");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* The staging buffer, its O_DIRECT blocks and write_at give the same bytes as a plain model of the
 * file, with direct I/O (where /tmp takes it) and with QF_DIRECT_IO=0: writes of odd sizes around
 * the 4 MiB buffer, one larger than several buffers, patches of bytes already on disk, of bytes
 * still staged and of a range across both, an unaligned tail. */
static void output_matches_model(const char *direct_io)
{
    if (direct_io) setenv("QF_DIRECT_IO", direct_io, 1);
    else unsetenv("QF_DIRECT_IO");
    char dir[] = "/tmp/qf_test_direct_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    const size_t total = (13u << 20) + 4099;
    uint8_t *model = malloc(total), *chunk = malloc(total);
    assert_non_null(model);
    assert_non_null(chunk);
    uint32_t x = 12345;
    for (size_t i = 0; i < total; i++) {
        x = x * 1103515245u + 12345u;
        chunk[i] = (uint8_t)(x >> 16);
    }
    qf_output *o = NULL;
    assert_int_equal(qf_output_open(path, &o, NULL), QF_STATUS_OK);
    const size_t sizes[] = {1, 4095, (4u << 20) - 7, 4096, (9u << 20) + 3, 17, 12345};
    size_t at = 0;
    for (size_t k = 0; at < total; k = (k + 1) % (sizeof sizes / sizeof sizes[0])) {
        size_t n = sizes[k] < total - at ? sizes[k] : total - at;
        assert_int_equal(qf_output_write(o, chunk + at, n, NULL), QF_STATUS_OK);
        memcpy(model + at, chunk + at, n);
        at += n;
        assert_int_equal(qf_output_offset(o), at);
    }
    const uint64_t patches[][2] = {{0, 64}, {(4u << 20) - 10, 20}, {total - 4099 - 100, 4199}, {3, 1}, {(12u << 20) - 50, 200}};
    for (size_t k = 0; k < sizeof patches / sizeof patches[0]; k++) {
        uint8_t p[4200];
        for (size_t i = 0; i < patches[k][1]; i++) p[i] = (uint8_t)(0xA5 ^ (k * 31 + i));
        assert_int_equal(qf_output_write_at(o, patches[k][0], p, patches[k][1], NULL), QF_STATUS_OK);
        memcpy(model + patches[k][0], p, patches[k][1]);
    }
    assert_int_equal(qf_output_commit(o, NULL), QF_STATUS_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(chunk, 1, total, f), total);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    assert_memory_equal(chunk, model, total);
    unlink(path);
    rmdir(dir);
    free(model);
    free(chunk);
    unsetenv("QF_DIRECT_IO");
}

static void test_output_direct_and_buffered(void **state)
{
    (void)state;
    output_matches_model(NULL);
    output_matches_model("0");
}

static void test_atomic_output(void **state)
{
    (void)state;
    char dir[] = "/tmp/qf_test_out_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    qf_error err;
    qf_error_clear(&err);
    qf_output *o = NULL;
    assert_int_equal(qf_output_open(path, &o, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write(o, "hello", 5, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write_zeros(o, 1000, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_offset(o), 1005);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0); /* nothing at the destination before commit */
    assert_int_equal(qf_output_commit(o, &err), QF_STATUS_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 1005);
    /* abort keeps the previous complete file and leaves no temporary behind */
    assert_int_equal(qf_output_open(path, &o, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write(o, "x", 1, &err), QF_STATUS_OK);
    qf_output_abort(o);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 1005);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* a missing folder is a clean error */
    snprintf(path, sizeof path, "%s/missing/out.bin", dir);
    assert_int_equal(qf_output_open(path, &o, &err), QF_STATUS_IO);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void sha_hex_of(const void *d, size_t n, bool ni, char hex[65])
{
    qf_sha256_ctx c;
    uint8_t dg[32];
    qf_sha256_init_impl(&c, ni);
    qf_sha256_update(&c, d, n);
    qf_sha256_final(&c, dg);
    qf_sha256_hex(dg, hex);
}

/* SHA-NI and the portable code: NIST vectors (FIPS 180-4 examples, the million 'a'), random data
 * of every length around the block and padding edges, and random incremental splits */
static void test_sha256_ni_vs_portable(void **state)
{
    (void)state;
    print_message("SHA-NI %s\n", qf_sha256_ni_available() ? "active" : "not available (portable only)");
    static const struct { const char *msg; const char *hex; } v[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    };
    char h1[65], h2[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha_hex_of(v[i].msg, strlen(v[i].msg), true, h1);
        sha_hex_of(v[i].msg, strlen(v[i].msg), false, h2);
        assert_string_equal(h1, v[i].hex);
        assert_string_equal(h2, v[i].hex);
    }
    enum { BIG = 1000000 };
    uint8_t *buf = malloc(BIG);
    assert_non_null(buf);
    memset(buf, 'a', BIG);
    sha_hex_of(buf, BIG, true, h1);
    assert_string_equal(h1, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    uint32_t s = 7;
    for (size_t i = 0; i < BIG; i++) {
        s = s * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(s >> 24);
    }
    for (size_t n = 0; n < 300; n++) {
        sha_hex_of(buf + (n % 7), n, true, h1); /* unaligned starts too */
        sha_hex_of(buf + (n % 7), n, false, h2);
        assert_string_equal(h1, h2);
    }
    sha_hex_of(buf, BIG, false, h2);
    for (int round = 0; round < 20; round++) {
        qf_sha256_ctx c;
        uint8_t dg[32];
        qf_sha256_init(&c);
        size_t off = 0;
        while (off < BIG) {
            s = s * 1664525u + 1013904223u;
            size_t take = (s >> 8) % (round < 10 ? 130 : 70000);
            if (take > BIG - off) take = BIG - off;
            qf_sha256_update(&c, buf + off, take);
            off += take;
        }
        qf_sha256_final(&c, dg);
        qf_sha256_hex(dg, h1);
        assert_string_equal(h1, h2);
    }
    free(buf);
}

/* A file of n pseudo-random bytes at path; returns the bytes (caller frees). */
static uint8_t *write_random_file(const char *path, size_t n, uint32_t seed)
{
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(seed >> 24);
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    return buf;
}

/* the chunked hash of a mapped file (pages released as it goes) equals the one-shot hash, and
 * released pages read back the same bytes; heap memory passed to qf_file_release_pages is untouched */
static void test_file_sha256_and_release(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/test_core_release_%ld.bin", QF_BINARY_DIR, (long)getpid());
    size_t n = (17u << 20) + 12345; /* two full 8 MiB chunks and a tail */
    uint8_t *buf = write_random_file(path, n, 99);
    qf_file *mf = NULL;
    assert_int_equal(qf_file_map(path, &mf, NULL), QF_STATUS_OK);
    uint8_t d1[32], d2[32];
    qf_file_sha256(mf, d1);
    qf_sha256(buf, n, d2);
    assert_memory_equal(d1, d2, 32);
    const uint8_t *data = qf_file_data(mf);
    qf_file_release_pages(data + 100, n - 200);
    assert_memory_equal(data, buf, n);
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, buf, n);
    qf_file_release_pages(buf, n); /* not a mapping: must not change anything */
    assert_memory_equal(copy, buf, n);
    qf_file_unmap(mf);
    unlink(path);

    /* qf_output_write_at: only over bytes already written */
    qf_output *o = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_output_open(path, &o, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write(o, "hello world", 11, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write_at(o, 6, "WORLD", 5, &err), QF_STATUS_OK);
    assert_int_equal(qf_output_write_at(o, 7, "WORLD", 5, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_output_write(o, buf, n, NULL), QF_STATUS_OK); /* a block past the buffer size */
    assert_int_equal(qf_output_commit(o, NULL), QF_STATUS_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char head[11];
    assert_int_equal(fread(head, 1, 11, f), 11);
    assert_memory_equal(head, "hello WORLD", 11);
    assert_int_equal(fread(copy, 1, n, f), n);
    assert_memory_equal(copy, buf, n);
    fclose(f);
    unlink(path);
    free(copy);
    free(buf);
}

/* source.sha256 hashed on a second thread (qf_model_set_meta_file_sha256): the same digest as the
 * sequential hash whether read through get_meta, meta_at or a model it was copied to; a model
 * freed before anyone read it stops the thread; sequential mode (--threads 1) computes it at once;
 * the file stays mapped for the job after its owner released it. */
static void test_file_sha256_deferred(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/test_core_deferred_%ld.bin", QF_BINARY_DIR, (long)getpid());
    size_t n = (33u << 20) + 777; /* four full 8 MiB chunks and a tail */
    uint8_t *buf = write_random_file(path, n, 7);
    uint8_t d[32];
    char want[65];
    qf_sha256(buf, n, d);
    qf_sha256_hex(d, want);
    free(buf);

    for (int background = 0; background <= 1; background++) {
        qf_file *f = NULL;
        assert_int_equal(qf_file_map(path, &f, NULL), QF_STATUS_OK);
        qf_model *m = NULL;
        assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_set_meta(m, "source.format", "raw", NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_set_meta_file_sha256(m, "source.sha256", f, background, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_set_meta(m, "source.size", "1", NULL), QF_STATUS_OK);
        qf_file_unmap(f); /* the job keeps its own reference */
        const char *k = NULL, *v = NULL;
        bool pending = true;
        /* peek never waits: a placeholder of the final length, or the digest once done */
        assert_true(qf_model_meta_peek(m, 1, &k, &v, &pending));
        assert_string_equal(k, "source.sha256");
        assert_int_equal(strlen(v), 64);
        if (!background) assert_false(pending);
        if (!pending) assert_string_equal(v, want);
        assert_false(qf_model_meta_peek(m, 3, &k, &v, &pending));
        /* a derived model shares the job without waiting, and keeps the order of entries */
        qf_model *d2 = NULL;
        assert_int_equal(qf_model_create(&d2, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_copy_meta(d2, m, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_meta_count(d2), 3);
        assert_true(qf_model_meta_at(d2, 1, &k, NULL)); /* the key alone never waits */
        assert_string_equal(k, "source.sha256");
        qf_model_destroy(m); /* the source goes first: the copy still gets the digest */
        assert_string_equal(qf_model_get_meta(d2, "source.sha256"), want);
        assert_true(qf_model_meta_at(d2, 1, &k, &v));
        assert_string_equal(v, want);
        assert_true(qf_model_meta_peek(d2, 1, &k, &v, &pending));
        assert_false(pending);
        assert_string_equal(v, want);
        assert_string_equal(qf_model_get_meta(d2, "source.size"), "1");
        qf_model_destroy(d2);
    }

    /* freed, or the value replaced, before anyone read it: the thread stops, nothing leaks (ASan) */
    for (int round = 0; round < 3; round++) {
        qf_file *f = NULL;
        assert_int_equal(qf_file_map(path, &f, NULL), QF_STATUS_OK);
        qf_model *m = NULL;
        assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_set_meta_file_sha256(m, "source.sha256", f, true, NULL), QF_STATUS_OK);
        if (round == 1) assert_int_equal(qf_model_set_meta(m, "source.sha256", "replaced", NULL), QF_STATUS_OK);
        if (round == 2) {
            qf_model *d2 = NULL;
            assert_int_equal(qf_model_create(&d2, NULL), QF_STATUS_OK);
            assert_int_equal(qf_model_copy_meta(d2, m, NULL), QF_STATUS_OK);
            qf_model_destroy(d2);
        }
        qf_file_unmap(f);
        if (round == 1) assert_string_equal(qf_model_get_meta(m, "source.sha256"), "replaced");
        qf_model_destroy(m);
    }
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_set_meta_file_sha256(NULL, "k", NULL, true, &err), QF_STATUS_INVALID_ARGUMENT);

    /* an empty file hashes to the empty digest on either path */
    FILE *e = fopen(path, "wb");
    assert_non_null(e);
    fclose(e);
    for (int background = 0; background <= 1; background++) {
        qf_file *f = NULL;
        assert_int_equal(qf_file_map(path, &f, NULL), QF_STATUS_OK);
        qf_model *m = NULL;
        assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_set_meta_file_sha256(m, "source.sha256", f, background, NULL), QF_STATUS_OK);
        qf_file_unmap(f);
        assert_string_equal(qf_model_get_meta(m, "source.sha256"),
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        qf_model_destroy(m);
    }
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),      cmocka_unit_test(test_error_first_failure_wins),
        cmocka_unit_test(test_text_escape),       cmocka_unit_test(test_text_utf8),
        cmocka_unit_test(test_checked_arithmetic), cmocka_unit_test(test_dtype_table),
        cmocka_unit_test(test_half_conversions),  cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_sha256_ni_vs_portable),
        cmocka_unit_test(test_file_sha256_and_release), cmocka_unit_test(test_file_sha256_deferred),
        cmocka_unit_test(test_model_add_and_find), cmocka_unit_test(test_model_limits),
        cmocka_unit_test(test_model_keep_and_retain), cmocka_unit_test(test_file_map),
        cmocka_unit_test(test_model_producer),
        cmocka_unit_test(test_file_map_beside),
        cmocka_unit_test(test_atomic_output),
        cmocka_unit_test(test_output_direct_and_buffered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
