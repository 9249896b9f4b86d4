/*
 * tests/test_qfile.c — the .qf writer (writers/qf) and reader (readers/qf) together: round trip of
 * every dtype, rank 0..QF_MAX_RANK, empty and shared tensors, quantization, metadata and config;
 * determinism; checksum verification; and invalid files made by mutating a valid one, each
 * asserting the status code and the absolute byte offset the reader must report.
 *
 * `test_qfile --write-sample DIR` writes DIR/sample.qf and DIR/sample.expected.json (the values a
 * reader must find) and exits: tests/test_python_reader.py uses it, and it regenerates the committed
 * fixture: `build/tests/test_qfile --write-sample fixtures/qf`.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "qforge/qfile.h"
#include "qforge/readers.h"
#include "qforge/writers.h"

static char tmp_dir[256];

/* ---- helpers ---- */

static void path_in_tmp(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmp_dir, name);
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, size, f), size);
    fclose(f);
}

static qf_status open_path(const char *path, bool verify, qf_model **out, qf_error *err)
{
    qf_file *f = NULL;
    qf_status st = qf_file_map(path, &f, err);
    if (st) return st;
    qf_qfile_open_params p = qf_qfile_open_params_default();
    p.verify_checksums = verify;
    return qf_qfile_read(f, &p, out, err);
}

/* Opens bytes (through a file), returns the status; err receives the detail. */
static qf_status open_bytes(const uint8_t *buf, size_t size, bool verify, qf_error *err)
{
    char path[512];
    path_in_tmp(path, sizeof path, "mutated.qf");
    write_all(path, buf, size);
    qf_model *m = NULL;
    qf_error_clear(err);
    qf_status st = open_path(path, verify, &m, err);
    if (st) assert_null(m);
    qf_model_destroy(m);
    return st;
}

static void expect_error(const uint8_t *buf, size_t size, bool verify, qf_status code, int64_t offset)
{
    qf_error err;
    qf_status st = open_bytes(buf, size, verify, &err);
    char line[1024];
    qf_error_format(&err, line, sizeof line);
    if (st != code || err.offset != offset)
        print_error("got %s at %lld, want %s at %lld: %s\n", qf_status_name(st), (long long)err.offset,
                    qf_status_name(code), (long long)offset, line);
    assert_int_equal(st, code);
    assert_int_equal(err.code, code);
    assert_int_equal(err.offset, offset);
    assert_true(err.message[0] != '\0');
}

static void fix_header_crc(uint8_t *buf)
{
    qf_qfile_store_u32(buf + QF_QFILE_OFF_HEADER_CRC, qf_qfile_header_crc(buf));
}

static char *json_of(const uint8_t *buf)
{
    size_t n = (size_t)qf_qfile_load_u64(buf + QF_QFILE_OFF_JSON_SIZE);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, buf + QF_QFILE_HEADER_SIZE, n);
    s[n] = '\0';
    return s;
}

/* A new file: same data section, JSON replaced (sizes, offsets and CRCs recomputed). */
static uint8_t *with_json(const uint8_t *buf, size_t size, const char *json, size_t *out_size)
{
    uint64_t old_data = qf_qfile_load_u64(buf + QF_QFILE_OFF_DATA_OFFSET);
    size_t data_size = size - (size_t)old_data;
    size_t len = strlen(json);
    size_t data_offset = (QF_QFILE_HEADER_SIZE + len + 63) & ~(size_t)63;
    uint8_t *out = calloc(1, data_offset + data_size);
    assert_non_null(out);
    memcpy(out, buf, QF_QFILE_HEADER_SIZE);
    memcpy(out + QF_QFILE_HEADER_SIZE, json, len);
    memcpy(out + data_offset, buf + old_data, data_size);
    qf_qfile_store_u64(out + QF_QFILE_OFF_JSON_SIZE, len);
    qf_qfile_store_u64(out + QF_QFILE_OFF_DATA_OFFSET, data_offset);
    qf_qfile_store_u32(out + QF_QFILE_OFF_JSON_CRC, qf_crc32(0, json, len));
    fix_header_crc(out);
    *out_size = data_offset + data_size;
    return out;
}

/* s with the single occurrence of `from` replaced by `to` (owned). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    assert_null(strstr(at + 1, from));
    size_t a = (size_t)(at - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *r = malloc(n - fl + tl + 1);
    assert_non_null(r);
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, at + fl, n - a - fl + 1);
    return r;
}

/* Absolute offset of `needle` in the JSON of a file (occurrence `nth`, 0-based). */
static int64_t json_pos(const uint8_t *buf, const char *needle, int nth)
{
    char *json = json_of(buf);
    const char *at = json;
    for (int i = 0; i <= nth; i++) {
        at = strstr(i ? at + 1 : at, needle);
        assert_non_null(at);
    }
    int64_t off = QF_QFILE_HEADER_SIZE + (int64_t)(at - json);
    free(json);
    return off;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static size_t add(qf_model *m, const char *name, qf_dtype dt, int32_t rank, const int64_t *shape, unsigned seed,
                  void **data_out)
{
    uint64_t nbytes;
    assert_true(qf_shape_nbytes(dt, rank, shape, &nbytes));
    void *data = NULL;
    assert_int_equal(qf_model_alloc(m, nbytes, &data, NULL), QF_STATUS_OK);
    fill(data, (size_t)nbytes, seed);
    if (dt == QF_DTYPE_BOOL)
        for (size_t i = 0; i < nbytes; i++) ((uint8_t *)data)[i] &= 1;
    size_t index;
    assert_int_equal(qf_model_add_tensor(m, name, NULL, dt, rank, shape, data, nbytes, &index, NULL), QF_STATUS_OK);
    if (data_out) *data_out = data;
    return index;
}

static const char sample_config[] =
    "{\"model_type\":\"bert\",\"hidden_size\":256,\"layer_norm_eps\":1e-12,\"architectures\":[\"BertForSequenceClassification\"],"
    "\"id2label\":{\"0\":\"admin\",\"1\":\"devel\"},\"url\":\"https://x/y\",\"nested\":{\"a\":[1,2.5,{\"b\":null,\"c\":true}]}}";

/* Every dtype, rank 0..QF_MAX_RANK, an empty tensor, a shared extent, three quantization schemes. */
static qf_model *sample_model(void)
{
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    unsigned seed = 1;
    for (int d = 0; d < QF_DTYPE_COUNT_; d++) {
        char name[64];
        snprintf(name, sizeof name, "dtype.%s", qf_dtype_name((qf_dtype)d));
        int64_t shape[2] = {3, 5};
        add(m, name, (qf_dtype)d, 2, shape, seed++, NULL);
    }
    for (int r = 0; r <= QF_MAX_RANK; r++) {
        char name[64];
        snprintf(name, sizeof name, "rank.%d", r);
        int64_t shape[QF_MAX_RANK];
        for (int i = 0; i < r; i++) shape[i] = 1 + (i % 3);
        add(m, name, QF_DTYPE_F32, r, shape, seed++, NULL);
    }
    int64_t empty_shape[2] = {0, 4};
    add(m, "empty", QF_DTYPE_F32, 2, empty_shape, seed++, NULL);

    int64_t tied_shape[2] = {4, 8};
    void *tied = NULL;
    add(m, "embeddings.word.weight", QF_DTYPE_F32, 2, tied_shape, seed++, &tied);
    assert_int_equal(qf_model_add_tensor(m, "lm_head.weight", "cls.predictions.decoder.weight", QF_DTYPE_F32, 2,
                                         tied_shape, tied, 128, NULL, NULL),
                     QF_STATUS_OK);

    /* per channel: i8 [4, 16] with 4 f32 scales */
    int64_t w_shape[2] = {4, 16}, ws_shape[1] = {4};
    size_t w = add(m, "encoder.0.ffn.weight", QF_DTYPE_I8, 2, w_shape, seed++, NULL);
    float *scales = NULL;
    add(m, "encoder.0.ffn.weight::scale", QF_DTYPE_F32, 1, ws_shape, seed++, (void **)&scales);
    for (int i = 0; i < 4; i++) scales[i] = 0.5f / (float)(i + 1);
    assert_int_equal(qf_model_set_quant(m, w, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0, "encoder.0.ffn.weight::scale",
                                        NULL, NULL),
                     QF_STATUS_OK);
    /* per channel along axis 1, scale declared before the tensor */
    int64_t v_shape[2] = {3, 2}, vs_shape[1] = {2};
    add(m, "v::scale", QF_DTYPE_F32, 1, vs_shape, seed++, (void **)&scales);
    scales[0] = 0.125f;
    scales[1] = 2.0f;
    size_t v = add(m, "v", QF_DTYPE_I8, 2, v_shape, seed++, NULL);
    assert_int_equal(qf_model_set_quant(m, v, QF_QUANT_SYMMETRIC_PER_CHANNEL, 1, "v::scale", NULL, NULL),
                     QF_STATUS_OK);
    /* symmetric per tensor with a rank-0 scale */
    int64_t s_shape[2] = {2, 3};
    size_t s = add(m, "s", QF_DTYPE_I8, 2, s_shape, seed++, NULL);
    add(m, "s::scale", QF_DTYPE_F32, 0, NULL, seed++, (void **)&scales);
    scales[0] = 0.01f;
    assert_int_equal(qf_model_set_quant(m, s, QF_QUANT_SYMMETRIC_PER_TENSOR, 0, "s::scale", NULL, NULL), QF_STATUS_OK);
    /* asymmetric per tensor: u8 with a u8 zero point */
    int64_t a_shape[1] = {8}, one[1] = {1};
    size_t a = add(m, "a", QF_DTYPE_U8, 1, a_shape, seed++, NULL);
    add(m, "a::scale", QF_DTYPE_F32, 1, one, seed++, (void **)&scales);
    scales[0] = 0.25f;
    uint8_t *zp = NULL;
    add(m, "a::zero_point", QF_DTYPE_U8, 1, one, seed++, (void **)&zp);
    zp[0] = 128;
    assert_int_equal(qf_model_set_quant(m, a, QF_QUANT_ASYMMETRIC_PER_TENSOR, 0, "a::scale", "a::zero_point", NULL),
                     QF_STATUS_OK);

    assert_int_equal(qf_model_set_meta(m, "source.format", "pytorch-zip", NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_set_meta(m, "source.sha256", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_set_meta(m, "note", "caf\xc3\xa9 \"quoted\" back\\slash / tab\t", NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_set_meta(m, "qforge.version", "0.0.0-old", NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_set_config_json(m, sample_config, strlen(sample_config), NULL), QF_STATUS_OK);
    return m;
}

static void write_model(const qf_model *m, const char *path, const char *command_line)
{
    qf_qfile_write_params p = qf_qfile_write_params_default();
    p.command_line = command_line;
    qf_error err;
    qf_error_clear(&err);
    qf_status st = qf_qfile_write(m, path, &p, &err);
    if (st) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        print_error("%s\n", line);
    }
    assert_int_equal(st, QF_STATUS_OK);
}

static void assert_models_equal(const qf_model *a, const qf_model *b)
{
    assert_int_equal(qf_model_tensor_count(a), qf_model_tensor_count(b));
    for (size_t i = 0; i < qf_model_tensor_count(a); i++) {
        const qf_tensor *x = qf_model_tensor(a, i), *y = qf_model_tensor(b, i);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->source_name, y->source_name);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->rank, y->rank);
        for (int32_t d = 0; d < x->rank; d++) assert_int_equal(x->shape[d], y->shape[d]);
        assert_int_equal(x->nbytes, y->nbytes);
        if (x->nbytes) assert_memory_equal(x->data, y->data, x->nbytes);
        assert_int_equal(x->quant.scheme, y->quant.scheme);
        assert_int_equal(x->quant.axis, y->quant.axis);
        if (x->quant.scheme != QF_QUANT_NONE) assert_string_equal(x->quant.scale_name, y->quant.scale_name);
        assert_true((x->quant.zero_point_name == NULL) == (y->quant.zero_point_name == NULL));
        if (x->quant.zero_point_name) assert_string_equal(x->quant.zero_point_name, y->quant.zero_point_name);
    }
}

/* ---- valid files ---- */

static void test_round_trip(void **state)
{
    (void)state;
    qf_model *m = sample_model();
    char path[512];
    path_in_tmp(path, sizeof path, "sample.qf");
    write_model(m, path, "qforge convert in.bin -o sample.qf");

    qf_model *r = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(open_path(path, true, &r, &err), QF_STATUS_OK);
    assert_models_equal(m, r);

    /* tensors borrow 64-aligned views; the tied pair shares one extent */
    for (size_t i = 0; i < qf_model_tensor_count(r); i++)
        assert_int_equal((uintptr_t)qf_model_tensor(r, i)->data % QF_QF_ALIGN, 0);
    assert_ptr_equal(qf_model_find(r, "embeddings.word.weight", NULL)->data,
                     qf_model_find(r, "lm_head.weight", NULL)->data);

    /* metadata: the model's, in order, then the writer's provenance (replacing the stale version) */
    const char *want[][2] = {{"source.format", "pytorch-zip"},
                             {"source.sha256", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
                             {"note", "caf\xc3\xa9 \"quoted\" back\\slash / tab\t"},
                             {"qforge.version", QF_VERSION_STRING},
                             {"qforge.command_line", "qforge convert in.bin -o sample.qf"}};
    assert_int_equal(qf_model_meta_count(r), 5);
    for (size_t i = 0; i < 5; i++) {
        const char *k, *v;
        assert_true(qf_model_meta_at(r, i, &k, &v));
        assert_string_equal(k, want[i][0]);
        assert_string_equal(v, want[i][1]);
    }
    json_object *c1 = json_tokener_parse(sample_config), *c2 = json_tokener_parse(qf_model_config_json(r));
    assert_non_null(c2);
    assert_true(json_object_equal(c1, c2));
    json_object_put(c1);
    json_object_put(c2);

    /* in the bytes: data_offset and every tensor offset are multiples of 64 */
    size_t size;
    uint8_t *buf = read_all(path, &size);
    assert_int_equal(qf_qfile_load_u64(buf + QF_QFILE_OFF_DATA_OFFSET) % 64, 0);
    char *json = json_of(buf);
    json_object *root = json_tokener_parse(json), *tensors = NULL;
    assert_true(json_object_object_get_ex(root, "tensors", &tensors));
    for (size_t i = 0; i < json_object_array_length(tensors); i++) {
        json_object *off = NULL;
        assert_true(json_object_object_get_ex(json_object_array_get_idx(tensors, i), "offset", &off));
        assert_int_equal(json_object_get_int64(off) % 64, 0);
    }
    json_object_put(root);
    free(json);

    /* reading then writing again gives the same bytes */
    char again[512];
    path_in_tmp(again, sizeof again, "again.qf");
    write_model(r, again, "qforge convert in.bin -o sample.qf");
    size_t size2;
    uint8_t *buf2 = read_all(again, &size2);
    assert_int_equal(size, size2);
    assert_memory_equal(buf, buf2, size);
    free(buf);
    free(buf2);
    qf_model_destroy(r);
    qf_model_destroy(m);
}

static void test_deterministic(void **state)
{
    (void)state;
    qf_model *m = sample_model();
    char p1[512], p2[512];
    path_in_tmp(p1, sizeof p1, "det1.qf");
    path_in_tmp(p2, sizeof p2, "det2.qf");
    write_model(m, p1, NULL);
    write_model(m, p2, NULL);
    size_t s1, s2;
    uint8_t *b1 = read_all(p1, &s1), *b2 = read_all(p2, &s2);
    assert_int_equal(s1, s2);
    assert_memory_equal(b1, b2, s1);
    free(b1);
    free(b2);

    /* SOURCE_DATE_EPOCH adds a timestamp; a malformed one is refused */
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    write_model(m, p1, NULL);
    qf_model *r = NULL;
    assert_int_equal(open_path(p1, false, &r, NULL), QF_STATUS_OK);
    assert_string_equal(qf_model_get_meta(r, "qforge.created"), "2023-11-14T22:13:20Z");
    qf_model_destroy(r);
    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_qfile_write(m, p1, NULL, &err), QF_STATUS_INVALID_ARGUMENT);
    unsetenv("SOURCE_DATE_EPOCH");
    qf_model_destroy(m);
}

static void test_empty_model(void **state)
{
    (void)state;
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    char path[512];
    path_in_tmp(path, sizeof path, "empty.qf");
    write_model(m, path, NULL);
    qf_model *r = NULL;
    assert_int_equal(open_path(path, true, &r, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(r), 0);
    assert_null(qf_model_config_json(r));
    size_t size;
    uint8_t *buf = read_all(path, &size);
    assert_int_equal(qf_qfile_load_u64(buf + QF_QFILE_OFF_DATA_SIZE), 0);
    assert_int_equal(qf_qfile_load_u64(buf + QF_QFILE_OFF_DATA_OFFSET), size);
    free(buf);
    qf_model_destroy(r);
    qf_model_destroy(m);
}

/* The committed fixture (written by an earlier build) still reads, with the sample's content. */
static void test_committed_fixture(void **state)
{
    (void)state;
    const char *path = QF_SOURCE_DIR "/fixtures/qf/sample.qf";
    qf_model *r = NULL, *m = sample_model();
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(open_path(path, true, &r, &err), QF_STATUS_OK);
    assert_models_equal(m, r);
    assert_string_equal(qf_model_get_meta(r, "qforge.command_line"), "qforge convert sample");
    if (strcmp(qf_model_get_meta(r, "qforge.version"), QF_VERSION_STRING) == 0) {
        /* same tool version: today's writer must produce the committed bytes exactly */
        char fresh[512];
        path_in_tmp(fresh, sizeof fresh, "fresh.qf");
        write_model(m, fresh, "qforge convert sample");
        size_t s1, s2;
        uint8_t *b1 = read_all(path, &s1), *b2 = read_all(fresh, &s2);
        assert_int_equal(s1, s2);
        assert_memory_equal(b1, b2, s1);
        free(b1);
        free(b2);
    }
    qf_model_destroy(r);
    qf_model_destroy(m);
}

static void test_writer_failure_leaves_nothing(void **state)
{
    (void)state;
    qf_model *m = sample_model();
    char path[1024];
    qf_error err;

    path_in_tmp(path, sizeof path, "missing/out.qf");
    qf_error_clear(&err);
    assert_int_equal(qf_qfile_write(m, path, NULL, &err), QF_STATUS_IO);
    assert_string_equal(err.file, path);

    /* the rename fails (destination is a non-empty folder): the temporary file must be gone */
    char dir[512], inner[1100];
    path_in_tmp(dir, sizeof dir, "fail");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/out.qf", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", path);
    write_all(inner, "x", 1);
    qf_error_clear(&err);
    assert_int_equal(qf_qfile_write(m, path, NULL, &err), QF_STATUS_IO);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            assert_string_equal(e->d_name, "out.qf");
            entries++;
        }
    closedir(d);
    assert_int_equal(entries, 1);

    /* a model the reader would refuse is refused before anything is created */
    qf_model *bad = NULL;
    assert_int_equal(qf_model_create(&bad, NULL), QF_STATUS_OK);
    int64_t shape[1] = {4};
    size_t q = add(bad, "q", QF_DTYPE_I8, 1, shape, 1, NULL);
    assert_int_equal(qf_model_set_quant(bad, q, QF_QUANT_SYMMETRIC_PER_TENSOR, 0, "q::scale", NULL, NULL),
                     QF_STATUS_OK);
    path_in_tmp(path, sizeof path, "bad.qf");
    qf_error_clear(&err);
    assert_int_equal(qf_qfile_write(bad, path, NULL, &err), QF_STATUS_NOT_FOUND);
    assert_int_equal(access(path, F_OK), -1);
    qf_model_destroy(bad);
    qf_model_destroy(m);
}

/* ---- invalid files ---- */

/* t0 f32[2,3] @0, t1 i8[4,16] @64 (per channel, scale t1::scale), t1::scale f32[4] @128, t2 f32[5] @192. */
static uint8_t *mini_file(size_t *size)
{
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    int64_t s0[2] = {2, 3}, s1[2] = {4, 16}, s2[1] = {4}, s3[1] = {5};
    add(m, "t0", QF_DTYPE_F32, 2, s0, 1, NULL);
    size_t t1 = add(m, "t1", QF_DTYPE_I8, 2, s1, 2, NULL);
    float *scales = NULL;
    add(m, "t1::scale", QF_DTYPE_F32, 1, s2, 3, (void **)&scales);
    for (int i = 0; i < 4; i++) scales[i] = 0.25f * (float)(i + 1); /* open checks scale values */
    add(m, "t2", QF_DTYPE_F32, 1, s3, 4, NULL);
    assert_int_equal(qf_model_set_quant(m, t1, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0, "t1::scale", NULL, NULL),
                     QF_STATUS_OK);
    char path[512];
    path_in_tmp(path, sizeof path, "mini.qf");
    write_model(m, path, NULL);
    qf_model_destroy(m);
    uint8_t *buf = read_all(path, size);
    qf_error err;
    assert_int_equal(open_bytes(buf, *size, true, &err), QF_STATUS_OK);
    return buf;
}

static void test_invalid_header(void **state)
{
    (void)state;
    size_t size;
    uint8_t *good = mini_file(&size);
    uint8_t *b = malloc(size + 128);
    assert_non_null(b);
#define RESET() memcpy(b, good, size)

    RESET();
    b[1] = 'X';
    expect_error(b, size, false, QF_STATUS_UNKNOWN_FORMAT, 0);
    expect_error(good, 5, false, QF_STATUS_TRUNCATED, 5);
    expect_error(good, 40, false, QF_STATUS_TRUNCATED, 40);

    RESET(); /* version checked before the CRC: a 2.x header may be laid out differently */
    qf_qfile_store_u32(b + QF_QFILE_OFF_VERSION_MAJOR, 2);
    expect_error(b, size, false, QF_STATUS_UNSUPPORTED, 8);

    RESET();
    qf_qfile_store_u32(b + QF_QFILE_OFF_BYTE_ORDER, 0x04030201u);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_FORMAT, 16);

    RESET();
    b[QF_QFILE_OFF_HEADER_CRC] ^= 1;
    expect_error(b, size, false, QF_STATUS_CHECKSUM, 20);

    RESET();
    qf_qfile_store_u64(b + QF_QFILE_OFF_JSON_OFFSET, 128);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_FORMAT, 24);

    RESET(); /* json_size past EOF; at the limit it is still only truncated, past it a limit error */
    qf_qfile_store_u64(b + QF_QFILE_OFF_JSON_SIZE, size);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_TRUNCATED, 32);
    qf_qfile_store_u64(b + QF_QFILE_OFF_JSON_SIZE, QF_QF_MAX_JSON);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_TRUNCATED, 32);
    qf_qfile_store_u64(b + QF_QFILE_OFF_JSON_SIZE, (uint64_t)QF_QF_MAX_JSON + 1);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_LIMIT, 32);
    qf_qfile_store_u64(b + QF_QFILE_OFF_JSON_SIZE, UINT64_MAX);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_LIMIT, 32);

    RESET();
    qf_qfile_store_u64(b + QF_QFILE_OFF_DATA_OFFSET, qf_qfile_load_u64(good + QF_QFILE_OFF_DATA_OFFSET) + 8);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_FORMAT, 40);

    RESET();
    qf_qfile_store_u64(b + QF_QFILE_OFF_DATA_SIZE, 192);
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_FORMAT, 48);
    expect_error(good, size - 10, false, QF_STATUS_TRUNCATED, 48); /* cut short */
    RESET();
    memset(b + size, 0, 64);
    expect_error(b, size + 64, false, QF_STATUS_FORMAT, 48); /* trailing bytes */

    RESET(); /* data_size grown to cover 64 extra bytes no tensor describes */
    memset(b + size, 0, 64);
    qf_qfile_store_u64(b + QF_QFILE_OFF_DATA_SIZE, qf_qfile_load_u64(good + QF_QFILE_OFF_DATA_SIZE) + 64);
    fix_header_crc(b);
    expect_error(b, size + 64, false, QF_STATUS_FORMAT,
                 (int64_t)(qf_qfile_load_u64(good + QF_QFILE_OFF_DATA_OFFSET) + 256));

    RESET();
    b[61] = 7;
    fix_header_crc(b);
    expect_error(b, size, false, QF_STATUS_FORMAT, 61);

    RESET();
    b[QF_QFILE_HEADER_SIZE + 3] ^= 0x20;
    expect_error(b, size, false, QF_STATUS_CHECKSUM, 56);

    RESET(); /* non-zero padding between JSON and data */
    uint64_t json_end = QF_QFILE_HEADER_SIZE + qf_qfile_load_u64(good + QF_QFILE_OFF_JSON_SIZE);
    assert_true(json_end < qf_qfile_load_u64(good + QF_QFILE_OFF_DATA_OFFSET));
    b[json_end] = ' ';
    expect_error(b, size, false, QF_STATUS_FORMAT, (int64_t)json_end);
#undef RESET
    free(b);
    free(good);
}

typedef struct json_case {
    const char *from, *to;
    qf_status code;
    const char *at;  /* offset: this text in the mutated JSON ... */
    int nth;         /* ... its nth occurrence; NULL at: the JSON block (64) */
} json_case;

static void test_invalid_json(void **state)
{
    (void)state;
    size_t size;
    uint8_t *good = mini_file(&size);
    char *json = json_of(good);
    static const json_case cases[] = {
        {"\"version\":[1,0]", "\"version\":[1,0],", QF_STATUS_FORMAT, ",\"metadata\"", 0},
        {"{\"format\":\"qforge\"", "{\"extra\":1,\"format\":\"qforge\"", QF_STATUS_FORMAT, NULL, 0},
        {"\"format\":\"qforge\"", "\"format\":\"qfile\"", QF_STATUS_FORMAT, "\"qfile\"", 0},
        {"\"version\":[1,0]", "\"version\":[1,1]", QF_STATUS_FORMAT, "[1,1]", 0},
        {"\"metadata\":{", "\"metadata\":{\"n\":5,", QF_STATUS_FORMAT, "{\"n\":5", 0},
        {"{\"name\":\"t2\"", "{\"name\":\"t2\",\"bogus\":true", QF_STATUS_FORMAT, "{\"name\":\"t2\"", 0},
        {"{\"name\":\"t2\",\"dtype\":\"f32\"", "{\"name\":\"t2\",\"dtype\":\"f31\"", QF_STATUS_UNSUPPORTED,
         "{\"name\":\"t2\"", 0},
        {"\"shape\":[2,3]", "\"shape\":[4294967296,4294967296,16]", QF_STATUS_OVERFLOW, "{\"name\":\"t0\"", 0},
        {"\"shape\":[2,3]", "\"shape\":[2,-3]", QF_STATUS_FORMAT, "{\"name\":\"t0\"", 0},
        {"\"shape\":[2,3]", "\"shape\":[1,1,1,1,1,1,2,3,1]", QF_STATUS_LIMIT, "{\"name\":\"t0\"", 0},
        {"\"shape\":[5]", "\"shape\":[6]", QF_STATUS_SHAPE, "{\"name\":\"t2\"", 0},
        {"\"offset\":192", "\"offset\":200", QF_STATUS_FORMAT, "{\"name\":\"t2\"", 0},
        {"\"offset\":192", "\"offset\":256", QF_STATUS_FORMAT, "{\"name\":\"t2\"", 0},   /* hole */
        {"\"offset\":192", "\"offset\":128", QF_STATUS_FORMAT, "{\"name\":\"t2\"", 0},   /* partial overlap */
        {"\"offset\":192", "\"offset\":192.0", QF_STATUS_FORMAT, "{\"name\":\"t2\"", 0},
        {"\"scale\":\"t1::scale\"", "\"scale\":\"nope\"", QF_STATUS_NOT_FOUND, "{\"name\":\"t1\"", 0},
        {"\"shape\":[4],\"offset\":128,\"nbytes\":16", "\"shape\":[3],\"offset\":128,\"nbytes\":12", QF_STATUS_SHAPE,
         "{\"name\":\"t1\"", 0},
        {"\"axis\":0", "\"axis\":2", QF_STATUS_FORMAT, "{\"name\":\"t1\"", 0},
        {"\"scheme\":\"symmetric_per_channel\"", "\"scheme\":\"per_row\"", QF_STATUS_UNSUPPORTED, "{\"name\":\"t1\"", 0},
        {"\"name\":\"t2\"", "\"name\":\"t0\"", QF_STATUS_DUPLICATE, "{\"name\":\"t0\"", 1},
        {"\"name\":\"t2\"", "\"name\":\"\"", QF_STATUS_FORMAT, "{\"name\":\"\"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *mutated = replace(json, cases[i].from, cases[i].to);
        size_t n;
        uint8_t *b = with_json(good, size, mutated, &n);
        int64_t at = cases[i].at ? json_pos(b, cases[i].at, cases[i].nth) : QF_QFILE_HEADER_SIZE;
        print_message("case %zu: %s -> %s\n", i, cases[i].from, cases[i].to);
        expect_error(b, n, false, cases[i].code, at);
        free(b);
        free(mutated);
    }

    /* not an object at all; empty; cut inside a value */
    const char *whole[] = {"[1,2]", "", "{\"format\":"};
    const int64_t whole_at[] = {64, 64, 64 + 10};
    for (size_t i = 0; i < 3; i++) {
        size_t n;
        uint8_t *b = with_json(good, size, whole[i], &n);
        expect_error(b, n, false, QF_STATUS_FORMAT, whole_at[i]);
        free(b);
    }
    free(json);
    free(good);
}

/* Nesting at QF_QF_MAX_JSON_DEPTH parses; one more level is a limit error. */
static void test_json_depth_limit(void **state)
{
    (void)state;
    size_t size;
    uint8_t *good = mini_file(&size);
    char *json = json_of(good);
    for (int extra = 0; extra <= 1; extra++) {
        int arrays = QF_QF_MAX_JSON_DEPTH - 2 + extra; /* root object 1, config object 2, arrays 3.. */
        size_t cap = 64 + 2 * (size_t)arrays;
        char *cfg = malloc(cap);
        assert_non_null(cfg);
        size_t k = (size_t)snprintf(cfg, cap, "\"config\":{\"x\":");
        for (int i = 0; i < arrays; i++) cfg[k++] = '[';
        for (int i = 0; i < arrays; i++) cfg[k++] = ']';
        snprintf(cfg + k, cap - k, "},\"tensors\"");
        char *mutated = replace(json, "\"tensors\"", cfg);
        size_t n;
        uint8_t *b = with_json(good, size, mutated, &n);
        qf_error err;
        qf_status st = open_bytes(b, n, false, &err);
        assert_int_equal(st, extra ? QF_STATUS_LIMIT : QF_STATUS_OK);
        if (extra) assert_int_equal(err.offset, json_pos(b, "[[", 0) + arrays - 1);
        free(b);
        free(mutated);
        free(cfg);
    }
    free(json);
    free(good);
}

static void test_verify_checksums(void **state)
{
    (void)state;
    size_t size;
    uint8_t *b = mini_file(&size);
    int64_t data = (int64_t)qf_qfile_load_u64(b + QF_QFILE_OFF_DATA_OFFSET);
    b[data + 192 + 5] ^= 0x01; /* inside t2 */
    qf_error err;
    assert_int_equal(open_bytes(b, size, false, &err), QF_STATUS_OK); /* open reads no data */
    expect_error(b, size, true, QF_STATUS_CHECKSUM, data + 192);
    assert_int_equal(open_bytes(b, size, true, &err), QF_STATUS_CHECKSUM);
    assert_string_equal(err.object, "t2");
    b[data + 192 + 5] ^= 0x01;
    b[data + 30] = 0xff; /* padding after t0 */
    expect_error(b, size, true, QF_STATUS_FORMAT, data + 30);
    free(b);
}

/* Weight scales are read on open: NaN, infinite, zero and negative values are refused with the
 * quantized tensor and its scale named, at the absolute offset of the bad element, although every
 * CRC is right (the writer computed them); a subnormal scale is a valid positive number. */
static void test_bad_scale_values(void **state)
{
    (void)state;
    static const struct {
        uint32_t bits;
        const char *what;
    } bad[] = {
        {0x7fc00000u, "NaN"},      {0xffc00001u, "NaN"},      {0x7f800000u, "infinite"}, {0xff800000u, "infinite"},
        {0x00000000u, "zero"},     {0x80000000u, "zero"},     {0xbf800000u, "negative"}, {0x80000001u, "negative"},
    };
    char path[512];
    path_in_tmp(path, sizeof path, "bad_scale.qf");
    for (size_t k = 0; k <= sizeof bad / sizeof bad[0]; k++) {
        qf_model *m = sample_model();
        const qf_tensor *s = qf_model_find(m, "encoder.0.ffn.weight::scale", NULL);
        assert_non_null(s);
        const bool subnormal = k == sizeof bad / sizeof bad[0];
        const uint32_t bits = subnormal ? 0x00000001u : bad[k].bits;
        memcpy((uint8_t *)s->data + 2 * sizeof(float), &bits, sizeof bits); /* element 2 */
        write_model(m, path, NULL);
        qf_model_destroy(m);
        for (int verify = 0; verify < 2; verify++) {
            qf_model *r = NULL;
            qf_error err;
            qf_error_clear(&err);
            qf_status st = open_path(path, verify != 0, &r, &err);
            if (subnormal) {
                assert_int_equal(st, QF_STATUS_OK);
                qf_model_destroy(r);
                continue;
            }
            assert_int_equal(st, QF_STATUS_FORMAT);
            assert_null(r);
            char want[256];
            snprintf(want, sizeof want,
                     "tensor 'encoder.0.ffn.weight': scale 'encoder.0.ffn.weight::scale' element 2 is %s", bad[k].what);
            assert_string_equal(err.message, want);
            assert_string_equal(err.object, "encoder.0.ffn.weight::scale");
            assert_string_equal(err.expected, "a finite scale > 0");
            /* the offset is the bad element's */
            size_t size;
            uint8_t *b = read_all(path, &size);
            assert_true(err.offset > 0 && (size_t)err.offset + 4 <= size);
            assert_int_equal(qf_qfile_load_u32(b + err.offset), bits);
            free(b);
        }
    }
}

/* A tensor naming an earlier extent must match it exactly (offset, nbytes, crc32). */
static void test_shared_extent_rules(void **state)
{
    (void)state;
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    int64_t s[1] = {16};
    void *d = NULL;
    add(m, "a", QF_DTYPE_F32, 1, s, 1, &d);
    add(m, "b", QF_DTYPE_F32, 1, s, 2, NULL);
    assert_int_equal(qf_model_add_tensor(m, "c", NULL, QF_DTYPE_I32, 1, s, d, 64, NULL, NULL), QF_STATUS_OK);
    char path[512];
    path_in_tmp(path, sizeof path, "shared.qf");
    write_model(m, path, NULL);
    qf_model_destroy(m);
    size_t size;
    uint8_t *good = read_all(path, &size);
    qf_error err;
    assert_int_equal(open_bytes(good, size, true, &err), QF_STATUS_OK);
    char *json = json_of(good);
    assert_non_null(strstr(json, "{\"name\":\"c\",\"dtype\":\"i32\",\"shape\":[16],\"offset\":0,\"nbytes\":64"));
    /* sharing with a different crc32 is refused */
    const char *crc_at = strstr(strstr(json, "{\"name\":\"c\""), "\"crc32\":");
    char from[64], to[64];
    snprintf(from, sizeof from, "\"i32\",\"shape\":[16],\"offset\":0,\"nbytes\":64,%.*s",
             (int)(strchr(crc_at, '}') - crc_at), crc_at);
    snprintf(to, sizeof to, "\"i32\",\"shape\":[16],\"offset\":0,\"nbytes\":64,\"crc32\":1");
    char *mutated = replace(json, from, to);
    size_t n;
    uint8_t *b = with_json(good, size, mutated, &n);
    expect_error(b, n, false, QF_STATUS_FORMAT, json_pos(b, "{\"name\":\"c\"", 0));
    free(b);
    free(mutated);
    free(json);
    free(good);
}

/* A newer minor version may carry keys this reader does not know; they are ignored. */
static void test_newer_minor_version(void **state)
{
    (void)state;
    size_t size;
    uint8_t *good = mini_file(&size);
    char *json = json_of(good);
    char *m1 = replace(json, "\"version\":[1,0]", "\"version\":[1,1],\"future\":{\"x\":1}");
    char *m2 = replace(m1, "{\"name\":\"t2\"", "{\"name\":\"t2\",\"future_key\":3");
    size_t n;
    uint8_t *b = with_json(good, size, m2, &n);
    qf_qfile_store_u32(b + QF_QFILE_OFF_VERSION_MINOR, 1);
    fix_header_crc(b);
    qf_error err;
    assert_int_equal(open_bytes(b, n, true, &err), QF_STATUS_OK);
    qf_qfile_store_u32(b + QF_QFILE_OFF_VERSION_MINOR, 0); /* as 1.0 the same keys are errors */
    fix_header_crc(b);
    assert_int_equal(open_bytes(b, n, false, &err), QF_STATUS_FORMAT);
    free(b);
    free(m1);
    free(m2);
    free(json);
    free(good);
}

/* ---- sample for the Python reader and the committed fixture ---- */

static void hex(char *out, const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static int write_sample(const char *dir)
{
    unsetenv("SOURCE_DATE_EPOCH");
    qf_model *m = sample_model();
    char path[1024];
    snprintf(path, sizeof path, "%s/sample.qf", dir);
    qf_qfile_write_params p = qf_qfile_write_params_default();
    p.command_line = "qforge convert sample";
    qf_error err;
    qf_error_clear(&err);
    if (qf_qfile_write(m, path, &p, &err)) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fprintf(stderr, "%s\n", line);
        return 1;
    }
    json_object *root = json_object_new_object(), *tensors = json_object_new_object();
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        json_object *e = json_object_new_object(), *shape = json_object_new_array();
        for (int32_t d = 0; d < t->rank; d++) json_object_array_add(shape, json_object_new_int64(t->shape[d]));
        char *h = malloc(2 * t->nbytes + 1);
        hex(h, t->data, t->nbytes);
        json_object_object_add(e, "dtype", json_object_new_string(qf_dtype_name(t->dtype)));
        json_object_object_add(e, "shape", shape);
        json_object_object_add(e, "hex", json_object_new_string(h));
        free(h);
        if (t->dtype == QF_DTYPE_BF16 || t->quant.scheme != QF_QUANT_NONE) {
            /* float values a reader must compute: bf16 widened, or (q - z) * s */
            json_object *vals = json_object_new_array();
            uint64_t n = t->nbytes / qf_dtype_size(t->dtype);
            const float *s = t->quant.scale_name ? qf_model_find(m, t->quant.scale_name, NULL)->data : NULL;
            const qf_tensor *zt = t->quant.zero_point_name ? qf_model_find(m, t->quant.zero_point_name, NULL) : NULL;
            uint64_t inner = 1;
            if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL)
                for (int32_t d = t->quant.axis + 1; d < t->rank; d++) inner *= (uint64_t)t->shape[d];
            for (uint64_t k = 0; k < n; k++) {
                double x;
                if (t->dtype == QF_DTYPE_BF16) {
                    x = qf_bf16_to_f32(((const uint16_t *)t->data)[k]);
                } else {
                    double q = t->dtype == QF_DTYPE_U8 ? ((const uint8_t *)t->data)[k] : ((const int8_t *)t->data)[k];
                    double z = zt ? (zt->dtype == QF_DTYPE_U8 ? ((const uint8_t *)zt->data)[0] : ((const int8_t *)zt->data)[0]) : 0;
                    uint64_t c = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL
                                     ? (k / inner) % (uint64_t)t->shape[t->quant.axis] : 0;
                    x = (float)((float)(q - z) * s[c]);
                }
                json_object_array_add(vals, json_object_new_double(x));
            }
            json_object_object_add(e, "float32", vals);
        }
        json_object_object_add(tensors, t->name, e);
    }
    json_object_object_add(root, "tensors", tensors);
    json_object_object_add(root, "config", json_tokener_parse(sample_config));
    json_object *meta = json_object_new_object();
    for (size_t i = 0; i < qf_model_meta_count(m); i++) {
        const char *k, *v;
        qf_model_meta_at(m, i, &k, &v);
        if (strncmp(k, "qforge.", 7) != 0) json_object_object_add(meta, k, json_object_new_string(v));
    }
    json_object_object_add(meta, "qforge.command_line", json_object_new_string("qforge convert sample"));
    json_object_object_add(root, "metadata", meta);
    snprintf(path, sizeof path, "%s/sample.expected.json", dir);
    int rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE) == 0 ? 0 : 1;
    json_object_put(root);
    qf_model_destroy(m);
    return rc;
}

/* ---- open time on a BERT-base-sized directory ---- */

static void test_open_time(void **state)
{
    (void)state;
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    for (int i = 0; i < 200; i++) {
        char name[96];
        snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.query.weight", i);
        int64_t shape[2] = {8, 8};
        size_t t = add(m, name, QF_DTYPE_I8, 2, shape, (unsigned)i, NULL);
        char sname[128];
        snprintf(sname, sizeof sname, "%s::scale", name);
        int64_t ss[1] = {8};
        float *sc = NULL;
        add(m, sname, QF_DTYPE_F32, 1, ss, (unsigned)i, (void **)&sc);
        for (int k = 0; k < 8; k++) sc[k] = 0.01f * (float)(k + 1); /* open reads the scale values */
        assert_int_equal(qf_model_set_quant(m, t, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0, sname, NULL, NULL), QF_STATUS_OK);
    }
    char path[512];
    path_in_tmp(path, sizeof path, "bench.qf");
    write_model(m, path, NULL);
    qf_model_destroy(m);
    double best = 1e9;
    for (int rep = 0; rep < 20; rep++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        qf_model *r = NULL;
        assert_int_equal(open_path(path, false, &r, NULL), QF_STATUS_OK);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_int_equal(qf_model_tensor_count(r), 400);
        qf_model_destroy(r);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        if (ms < best) best = ms;
    }
    print_message("open+validate of 400 tensors (200 quantized): %.3f ms (best of 20)\n", best);
    assert_true(best < 50.0); /* generous: sanitizer builds; the target is <= 5 ms in release */
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/qf_test_qfile_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-sample") == 0) return write_sample(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_empty_model),
        cmocka_unit_test(test_committed_fixture),
        cmocka_unit_test(test_writer_failure_leaves_nothing),
        cmocka_unit_test(test_invalid_header),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_verify_checksums),
        cmocka_unit_test(test_shared_extent_rules),
        cmocka_unit_test(test_bad_scale_values),
        cmocka_unit_test(test_newer_minor_version),
        cmocka_unit_test(test_open_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
