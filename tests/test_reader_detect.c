/*
 * tests/test_reader_detect.c — readers/reader.c: format detection from bytes (never the name) for
 * every format, including protocol-0 pickles with trailing junk; qf_model_read's refusals of files
 * that are not checkpoints (empty, text, .npy, tar, zip without data.pkl) with status and offset;
 * config.json attached or refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/readers.h"

#define DETECT(lit) qf_format_detect((const uint8_t *)(lit), sizeof(lit) - 1)

static void test_detect_each_format(void **state)
{
    (void)state;
    assert_int_equal(DETECT("\x89QFORGE\n\x01\x00\x00\x00"), QF_FORMAT_QF);
    assert_int_equal(DETECT("\x89HDF\r\n\x1a\n\x00\x00"), QF_FORMAT_HDF5);
    /* safetensors: u64 header length then '{' */
    assert_int_equal(DETECT("\x02\x00\x00\x00\x00\x00\x00\x00{}"), QF_FORMAT_SAFETENSORS);
    assert_int_equal(DETECT("\xff\x00\x00\x00\x00\x00\x00\x00{}"), QF_FORMAT_UNKNOWN); /* length past the end */
    assert_int_equal(DETECT("\x80\x02}q\x00."), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("\x80\x05\x95\x00"), QF_FORMAT_TORCH_LEGACY);
    /* an unknown protocol number still reads as a pickle: the pickle machine names the problem */
    assert_int_equal(DETECT("\x80\x09}"), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("\x93NUMPY\x01\x00v\x00{'descr'"), QF_FORMAT_UNKNOWN);
    /* protocol-2+ opcodes without a PROTO header, and a blob running past the end */
    assert_int_equal(DETECT("S'os'\nS'system'\n\x93S'ls'\n\x85R."), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("cbuiltins\nexec\n(X>\nf = open"), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("\x08\x07\x12\x07pytorch"), QF_FORMAT_ONNX);
    /* protocol 0: a GLOBAL, with or without STOP, trailing junk after STOP */
    assert_int_equal(DETECT("cos\nsystem\n(S'ls'\ntR."), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("cmod\n\xf8\n"), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("Vos\np2\n0Vsystem\n.\n\n\t"), QF_FORMAT_TORCH_LEGACY);
    assert_int_equal(DETECT("(dp0\n."), QF_FORMAT_TORCH_LEGACY);
    /* text that is not a pickle */
    assert_int_equal(DETECT("text,label\nhello,1\n"), QF_FORMAT_UNKNOWN);
    assert_int_equal(DETECT("{\"a\": 1}"), QF_FORMAT_UNKNOWN);
    assert_int_equal(DETECT(""), QF_FORMAT_UNKNOWN);
    assert_int_equal(DETECT("c no newline at all"), QF_FORMAT_UNKNOWN);
    assert_string_equal(qf_format_name(QF_FORMAT_TORCH_ZIP), "pytorch-zip");
    assert_string_equal(qf_format_name((qf_format)99), "unknown");
}

/* A minimal stored zip with one entry, to tell PyTorch zips from other zips by the data.pkl entry. */
static size_t make_zip(uint8_t *buf, const char *name)
{
    size_t n = strlen(name), p = 0;
    const uint8_t data[1] = {'.'};
    uint8_t lh[30] = {0x50, 0x4b, 0x03, 0x04, 20};
    lh[18] = 1, lh[22] = 1, lh[26] = (uint8_t)n;
    memcpy(buf + p, lh, 30), p += 30;
    memcpy(buf + p, name, n), p += n;
    memcpy(buf + p, data, 1), p += 1;
    size_t cd = p;
    uint8_t ch[46] = {0x50, 0x4b, 0x01, 0x02, 20, 0, 20};
    ch[20] = 1, ch[24] = 1, ch[28] = (uint8_t)n;
    memcpy(buf + p, ch, 46), p += 46;
    memcpy(buf + p, name, n), p += n;
    size_t cd_size = p - cd;
    uint8_t eocd[22] = {0x50, 0x4b, 0x05, 0x06};
    eocd[8] = 1, eocd[10] = 1, eocd[12] = (uint8_t)cd_size, eocd[16] = (uint8_t)cd;
    memcpy(buf + p, eocd, 22), p += 22;
    return p;
}

static void test_detect_zip_kinds(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = make_zip(buf, "archive/data.pkl");
    assert_int_equal(qf_format_detect(buf, n), QF_FORMAT_TORCH_ZIP);
    n = make_zip(buf, "data.pkl");
    assert_int_equal(qf_format_detect(buf, n), QF_FORMAT_TORCH_ZIP);
    n = make_zip(buf, "model.weights.h5"); /* Keras 3 archive; the reader also wants config.json or metadata.json */
    assert_int_equal(qf_format_detect(buf, n), QF_FORMAT_KERAS_ZIP);
    n = make_zip(buf, "x/model.weights.h5");
    assert_int_equal(qf_format_detect(buf, n), QF_FORMAT_ZIP);
    n = make_zip(buf, "mydata.pkl");
    assert_int_equal(qf_format_detect(buf, n), QF_FORMAT_ZIP);
    /* truncated central directory: still a zip, the reader gives the precise error */
    assert_int_equal(qf_format_detect(buf, 40), QF_FORMAT_ZIP);
}

static char tmpdir[64];

static const char *write_file(const char *name, const void *data, size_t size)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    return path;
}

static void expect_refusal(const char *path, qf_status code, const char *substring)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = (qf_model *)1;
    assert_int_equal(qf_model_read(path, NULL, &m, &err), code);
    assert_null(m);
    assert_string_equal(err.file, path);
    assert_int_equal(err.offset, 0);
    if (!strstr(err.message, substring)) fail_msg("'%s' does not mention '%s'", err.message, substring);
}

static void test_read_refusals(void **state)
{
    (void)state;
    expect_refusal(write_file("empty.bin", "", 0), QF_STATUS_UNKNOWN_FORMAT, "first bytes");
    expect_refusal(write_file("notes.txt", "hello world\n", 12), QF_STATUS_UNKNOWN_FORMAT, "first bytes");
    expect_refusal(write_file("a.npy", "\x93NUMPY\x01\x00v\x00{'descr'", 18), QF_STATUS_UNKNOWN_FORMAT, ".npy");
    uint8_t tar[600];
    memset(tar, 0, sizeof tar);
    memcpy(tar, "pickle", 6);
    memcpy(tar + 257, "ustar", 5);
    expect_refusal(write_file("old.tar", tar, sizeof tar), QF_STATUS_UNKNOWN_FORMAT, "tar");
    uint8_t zip[512];
    size_t n = make_zip(zip, "model.weights.h5");
    expect_refusal(write_file("k.zip", zip, n), QF_STATUS_UNKNOWN_FORMAT, "data.pkl");
    expect_refusal(write_file("m.onnx", "\x08\x07\x12\x07pytorch", 11), QF_STATUS_FORMAT, "no graph"); /* read by readers/onnx */
}

static void test_config_attached_or_refused(void **state)
{
    (void)state;
    /* a safetensors file with one f32 scalar, next to a config.json */
    const char header[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    uint8_t file[128];
    uint64_t hn = sizeof header - 1;
    memcpy(file, &hn, 8);
    memcpy(file + 8, header, hn);
    memset(file + 8 + hn, 0, 4);
    char model_path[256];
    snprintf(model_path, sizeof model_path, "%s", write_file("model.safetensors", file, 8 + hn + 4));
    write_file("config.json", "{\"model_type\": \"bert\", \"hidden_size\": 8}", 40);
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    assert_int_equal(qf_model_read(model_path, NULL, &m, &err), QF_STATUS_OK);
    assert_non_null(qf_model_config_json(m));
    assert_non_null(strstr(qf_model_config_json(m), "\"model_type\":\"bert\""));
    assert_string_equal(qf_model_get_meta(m, "source.format"), "safetensors");
    assert_int_equal(strlen(qf_model_get_meta(m, "source.sha256")), 64);
    /* the source hash: the same digest whether computed up front (threads 1) or on a second
     * thread (0, 2); and a model freed without reading it */
    uint8_t digest[32];
    char want[65];
    qf_sha256(file, 8 + hn + 4, digest);
    qf_sha256_hex(digest, want);
    assert_string_equal(qf_model_get_meta(m, "source.sha256"), want);
    qf_model_destroy(m);
    for (int threads = 0; threads <= 2; threads++) {
        qf_read_params rp = qf_read_params_default();
        rp.threads = threads;
        assert_int_equal(qf_model_read(model_path, &rp, &m, &err), QF_STATUS_OK);
        if (threads == 1) {
            bool pending = true;
            for (size_t i = 0; i < qf_model_meta_count(m); i++) {
                qf_model_meta_peek(m, i, NULL, NULL, &pending);
                assert_false(pending);
            }
        }
        assert_string_equal(qf_model_get_meta(m, "source.sha256"), want);
        qf_model_destroy(m);
        assert_int_equal(qf_model_read(model_path, &rp, &m, &err), QF_STATUS_OK);
        qf_model_destroy(m);
    }
    /* a broken config.json is an error naming config.json, with the parse offset */
    write_file("config.json", "{\"model_type\": ", 15);
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(model_path, NULL, &m, &err), QF_STATUS_FORMAT);
    assert_non_null(strstr(err.file, "config.json"));
    assert_true(err.offset >= 0);
    /* an explicit --config that does not exist is an error too */
    qf_read_params rp = qf_read_params_default();
    rp.config_path = "/nonexistent/config.json";
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(model_path, &rp, &m, &err), QF_STATUS_IO);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qf_detect_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_each_format),
        cmocka_unit_test(test_detect_zip_kinds),
        cmocka_unit_test(test_read_refusals),
        cmocka_unit_test(test_config_attached_or_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
