/*
 * tests/test_limits.c — every named limit of include/qforge/limits.h at its value and one past it,
 * where the tests of the modules do not already cover it. Inputs are forged in memory (and written
 * to the build folder when a reader needs a file): their headers declare sizes and counts at the
 * limit and one past. Past the limit: QF_STATUS_LIMIT with the byte offset the reader reports. At
 * the limit: the check passes and the input fails later for another reason (status != LIMIT), or
 * it is read. Objects cheap enough to build for real (2^20 tensors, a 16 MiB config.json) are.
 *
 * limit                           covered by
 * QF_MAX_RANK                     test_core test_model_limits; test_qfile test_invalid_json (rank 9,
 *                                 offset); here: test_rank (safetensors shape), test_rank_torch (size tuple)
 * QF_MAX_NAME_LEN                 test_core test_model_limits; test_safetensors test_named_limits;
 *                                 here: test_name_len (.qf directory, torch flattened name, zip entry)
 * QF_MAX_TENSORS                  here: test_max_tensors_model (2^20 real tensors), test_max_tensors_qf
 *                                 (.qf directory). Not here: the safetensors and torch readers' own
 *                                 counts (2^20 header entries or pickled tensors cost ~50 MB and
 *                                 seconds); past them the model's check refuses the tensor anyway.
 * QF_MAX_META_ENTRIES             test_core test_model_limits; here: test_meta_entries_qf
 * QF_MAX_META_VALUE_LEN           here: test_meta_value_len (model, safetensors, .qf)
 * QF_MAX_CONFIG_JSON              here: test_config_json (config.json read next to a model)
 * QF_PICKLE_MAX_STACK/MEMO/DEPTH/ test_pickle test_limit_* (at and past, status and offset);
 *   MARKS/STRING                  here: test_pickle_depth_flatten (the flattener's depth check)
 * QF_PICKLE_MAX_OPS               test_pickle test_limit_ops (default value, then a lowered limit at
 *                                 and past: 2^28 opcodes would take seconds). Not here: the
 *                                 flattener's visit cap (same value; 2^28 visits take seconds too)
 * QF_ZIP_MAX_ENTRIES              here: test_zip_entries
 * QF_ZIP_MAX_PICKLE_BYTES         here: test_zip_pickle_bytes
 * QF_ZIP_MAX_RATIO                here: test_zip_ratio
 * QF_ZIP_MAX_INFLATED             here: test_zip_inflated
 * QF_ZIP_MAX_COMMENT_SCAN         here: test_zip_comment_scan (reader and format detection)
 * QF_TORCH_MAX_VIEW_RATIO         test_torch_reader test_hostile_views: a stride-0 view of exactly
 *                                 1100 x its storage and one element more; two views of one storage
 *                                 totalling exactly 1100 x the file and one byte more (status, offset)
 * QF_TORCH_MAX_VALUE_META/LEN     here: test_torch_values
 * QF_SAFETENSORS_MAX_HEADER       test_safetensors test_header_limit
 * QF_SAFETENSORS_MAX_DEPTH        test_safetensors test_named_limits
 * QF_SAFETENSORS_MAX_META_ENTRIES test_safetensors test_named_limits
 * QF_QF_MAX_JSON                  test_qfile test_invalid_header (json_size at the limit, past it).
 *                                 Not here: the writer's check (needs a 256 MiB JSON block)
 * QF_QF_ALIGN                     test_qfile (every tensor 64-aligned; offsets 200/128 refused)
 * QF_QF_MAX_JSON_DEPTH            test_qfile test_json_depth_limit; here: test_config_json (a
 *                                 config.json may nest QF_QF_MAX_JSON_DEPTH - 1 levels)
 * QF_SHARDED_MAX_INDEX            here: test_sharded_index_size
 * QF_SHARDED_MAX_SHARDS           here: test_sharded_shards
 * QF_SHARDED_MAX_NAME             here: test_sharded_name
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/qfile.h"
#include "qforge/readers.h"
#include "readers/zip/zip_adapter.h"

/* ---- byte buffers ------------------------------------------------------------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (src) memcpy(b->p + b->n, src, n);
    else memset(b->p + b->n, 0, n);
    b->n += n;
}
static void put_le(buf *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)bytes);
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_text(buf *b, const char *s) { put(b, s, strlen(s)); }
static void put_fill(buf *b, char c, size_t n)
{
    size_t at = b->n;
    put(b, NULL, n);
    memset(b->p + at, c, n);
}

/* Writes bytes to a fresh file in the build folder; the caller removes it. */
static void write_tmp(char *path, size_t size, const char *tag, const void *bytes, size_t n)
{
    snprintf(path, size, QF_BINARY_DIR "/limits_%s_XXXXXX", tag);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void expect(qf_status st, const qf_error *err, qf_status code, int64_t offset, const char *part)
{
    if (st != code || err->offset != offset || (part && strcmp(err->part, part) != 0)) {
        char line[1024];
        qf_error_format(err, line, sizeof line);
        fail_msg("got %s at %lld (part '%s'): %s; expected %s at %lld (part '%s')", qf_status_name(st),
                 (long long)err->offset, err->part, line, qf_status_name(code), (long long)offset, part ? part : "");
    }
}

/* ---- pickles ----------------------------------------------------------------------------- */

static void pk_str(buf *b, const char *s, size_t n)
{
    put_u8(b, 'X');
    put_le(b, n, 4);
    put(b, s, n);
}
static void pk_int(buf *b, int32_t v)
{
    put_u8(b, 'J');
    put_le(b, (uint32_t)v, 4);
}

static qf_status torch_read_bytes(const void *bytes, size_t n, qf_model **m, qf_error *err)
{
    char path[512];
    write_tmp(path, sizeof path, "torch", bytes, n);
    qf_file *f = NULL;
    qf_error_clear(err);
    *m = NULL;
    qf_status st = qf_file_map(path, &f, err);
    if (!st) st = qf_torch_read(f, NULL, m, err);
    remove(path);
    return st;
}

/* ---- zip archives ------------------------------------------------------------------------ */

typedef struct zent {
    const char *name;
    uint16_t method;  /* 0 stored, 8 deflate */
    const char *data; /* stored bytes; NULL: `comp` zero bytes (never inflated by these tests) */
    uint64_t comp, size;
} zent;

/* A zip of the entries (sizes < 4 GiB, no zip64), an archive comment of `comment` zero bytes, then `junk` bytes. */
static buf zip_make(const zent *e, size_t n, size_t comment, size_t junk)
{
    buf b = {0};
    uint64_t *local = calloc(n ? n : 1, sizeof *local);
    uint32_t *crc = calloc(n ? n : 1, sizeof *crc);
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(e[i].name);
        uint64_t comp = e[i].data ? strlen(e[i].data) : e[i].comp;
        uint64_t size = e[i].data ? comp : e[i].size;
        crc[i] = e[i].data ? qf_crc32(0, e[i].data, (size_t)comp) : 0;
        local[i] = b.n;
        put_le(&b, 0x04034b50, 4);
        put_le(&b, 20, 2), put_le(&b, 0, 2), put_le(&b, e[i].method, 2), put_le(&b, 0, 4);
        put_le(&b, crc[i], 4), put_le(&b, comp, 4), put_le(&b, size, 4);
        put_le(&b, nlen, 2), put_le(&b, 0, 2);
        put(&b, e[i].name, nlen);
        put(&b, e[i].data, (size_t)comp);
    }
    uint64_t cd = b.n;
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(e[i].name);
        uint64_t comp = e[i].data ? strlen(e[i].data) : e[i].comp;
        uint64_t size = e[i].data ? comp : e[i].size;
        put_le(&b, 0x02014b50, 4);
        put_le(&b, 20, 2), put_le(&b, 20, 2), put_le(&b, 0, 2), put_le(&b, e[i].method, 2), put_le(&b, 0, 4);
        put_le(&b, crc[i], 4), put_le(&b, comp, 4), put_le(&b, size, 4);
        put_le(&b, nlen, 2), put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 4);
        put_le(&b, local[i], 4);
        put(&b, e[i].name, nlen);
    }
    uint64_t cd_size = b.n - cd;
    put_le(&b, 0x06054b50, 4);
    put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, n, 2), put_le(&b, n, 2);
    put_le(&b, cd_size, 4), put_le(&b, cd, 4), put_le(&b, comment, 2);
    put(&b, NULL, comment + junk);
    free(local);
    free(crc);
    return b;
}

static qf_status zip_open_buf(const buf *b, qf_error *err)
{
    qf_zip *z = NULL;
    qf_error_clear(err);
    qf_status st = qf_zip_open(b->p, b->n, &z, err);
    if (st) assert_null(z);
    qf_zip_close(z);
    return st;
}

/* A 98-byte archive: a zip64 end record declaring `count` entries in an empty directory. */
static void test_zip_entries(void **state)
{
    (void)state;
    for (uint64_t count = QF_ZIP_MAX_ENTRIES; count <= QF_ZIP_MAX_ENTRIES + 1; count++) {
        buf b = {0};
        put_le(&b, 0x06064b50, 4), put_le(&b, 44, 8), put_le(&b, 45, 2), put_le(&b, 45, 2);
        put_le(&b, 0, 4), put_le(&b, 0, 4), put_le(&b, count, 8), put_le(&b, count, 8);
        put_le(&b, 0, 8), put_le(&b, 0, 8); /* directory: 0 bytes at offset 0 */
        put_le(&b, 0x07064b50, 4), put_le(&b, 0, 4), put_le(&b, 0, 8), put_le(&b, 1, 4);
        put_le(&b, 0x06054b50, 4), put_le(&b, 0, 4), put_le(&b, 0xFFFF, 2), put_le(&b, 0xFFFF, 2);
        put_le(&b, 0xFFFFFFFF, 4), put_le(&b, 0xFFFFFFFF, 4), put_le(&b, 0, 2);
        assert_int_equal(b.n, 98);
        qf_error err;
        qf_status st = zip_open_buf(&b, &err);
        /* at the limit the count passes and the directory is found too small for it (before any allocation) */
        expect(st, &err, count > QF_ZIP_MAX_ENTRIES ? QF_STATUS_LIMIT : QF_STATUS_FORMAT, 0,
               "zip64 end of central directory");
        if (st == QF_STATUS_FORMAT) assert_non_null(strstr(err.message, "cannot hold 1000000 entries"));
        free(b.p);
    }
}

/* A deflated entry may declare QF_ZIP_MAX_RATIO times its compressed size, not one byte more. */
static void test_zip_ratio(void **state)
{
    (void)state;
    for (uint64_t extra = 0; extra <= 1; extra++) {
        zent e[] = {{"w", 8, NULL, 1000, 1000ull * QF_ZIP_MAX_RATIO + extra}};
        buf b = zip_make(e, 1, 0, 0);
        qf_error err;
        qf_status st = zip_open_buf(&b, &err);
        if (extra) {
            expect(st, &err, QF_STATUS_LIMIT, 0, "w");
            assert_string_equal(err.found, "1100001 bytes from 1000");
        } else {
            expect(st, &err, QF_STATUS_OK, -1, NULL);
        }
        free(b.p);
    }
}

/*
 * Five deflated entries declaring 4 x 0xFFFFFFFE + 8 bytes = QF_ZIP_MAX_INFLATED exactly (each
 * within the ratio, so ~15.6 MB of compressed bytes), then the same with the last one 1 byte larger.
 */
static void test_zip_inflated(void **state)
{
    (void)state;
    assert_int_equal(4ull * 0xFFFFFFFEull + 8, QF_ZIP_MAX_INFLATED);
    uint64_t big = 0xFFFFFFFEull, comp = (big + QF_ZIP_MAX_RATIO - 1) / QF_ZIP_MAX_RATIO;
    for (uint64_t extra = 0; extra <= 1; extra++) {
        zent e[] = {{"a", 8, NULL, comp, big}, {"b", 8, NULL, comp, big}, {"c", 8, NULL, comp, big},
                    {"d", 8, NULL, comp, big}, {"e", 8, NULL, 1, 8 + extra}};
        buf b = zip_make(e, 5, 0, 0);
        qf_error err;
        qf_status st = zip_open_buf(&b, &err);
        if (extra) expect(st, &err, QF_STATUS_LIMIT, (int64_t)(4 * (31 + comp)), "e");
        else expect(st, &err, QF_STATUS_OK, -1, NULL);
        free(b.p);
    }
}

/* The end record is searched for in the last QF_ZIP_MAX_COMMENT_SCAN bytes (22 + the largest comment). */
static void test_zip_comment_scan(void **state)
{
    (void)state;
    zent e[] = {{"archive/data.pkl", 0, "\x80\x02}.", 0, 0}};
    for (size_t junk = 0; junk <= 1; junk++) {
        buf b = zip_make(e, 1, 65535, junk);
        uint64_t eocd = b.n - 22 - 65535 - junk;
        assert_int_equal(b.n - eocd, QF_ZIP_MAX_COMMENT_SCAN + junk);
        qf_error err;
        qf_status st = zip_open_buf(&b, &err);
        /* one byte further back the record is out of reach: not a zip archive (a comment is at most 65535 bytes) */
        if (junk) {
            expect(st, &err, QF_STATUS_FORMAT, -1, "zip");
            assert_non_null(strstr(err.message, "no zip end of central directory record"));
        } else {
            expect(st, &err, QF_STATUS_OK, -1, NULL);
        }
        /* format detection searches the same window */
        assert_int_equal(qf_format_detect(b.p, b.n), junk ? QF_FORMAT_ZIP : QF_FORMAT_TORCH_ZIP);
        free(b.p);
    }
}

/* data.pkl may inflate to QF_ZIP_MAX_PICKLE_BYTES; checked before anything is allocated or inflated. */
static void test_zip_pickle_bytes(void **state)
{
    (void)state;
    uint64_t limit = QF_ZIP_MAX_PICKLE_BYTES;
    uint64_t comp = (limit + 1 + QF_ZIP_MAX_RATIO - 1) / QF_ZIP_MAX_RATIO; /* within the ratio either way */
    for (uint64_t extra = 0; extra <= 1; extra++) {
        /* at the limit the reader goes on and stops at the bad byte order, before reading data.pkl */
        zent e[] = {{"archive/data.pkl", 8, NULL, comp, limit + extra}, {"archive/byteorder", 0, "middle", 0, 0}};
        buf b = zip_make(e, 2, 0, 0);
        qf_model *m = NULL;
        qf_error err;
        qf_status st = torch_read_bytes(b.p, b.n, &m, &err);
        assert_null(m);
        uint64_t pkl_data = 30 + strlen("archive/data.pkl");
        uint64_t order_data = pkl_data + comp + 30 + strlen("archive/byteorder");
        if (extra) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)pkl_data, "archive/data.pkl");
            assert_string_equal(err.expected, "<= 1073741824 bytes");
        } else {
            expect(st, &err, QF_STATUS_FORMAT, (int64_t)order_data, "archive/byteorder");
        }
        free(b.p);
    }
}

/* ---- names ------------------------------------------------------------------------------- */

/* A .qf file around `json`, with an empty data section. */
static buf qf_make(const char *json, size_t len)
{
    buf b = {0};
    size_t data_offset = (QF_QFILE_HEADER_SIZE + len + QF_QF_ALIGN - 1) / QF_QF_ALIGN * QF_QF_ALIGN;
    put(&b, NULL, data_offset);
    memcpy(b.p, QF_QFILE_MAGIC, QF_QFILE_MAGIC_SIZE);
    qf_qfile_store_u32(b.p + QF_QFILE_OFF_VERSION_MAJOR, QF_QFILE_VERSION_MAJOR);
    qf_qfile_store_u32(b.p + QF_QFILE_OFF_VERSION_MINOR, QF_QFILE_VERSION_MINOR);
    qf_qfile_store_u32(b.p + QF_QFILE_OFF_BYTE_ORDER, QF_QFILE_BYTE_ORDER);
    qf_qfile_store_u64(b.p + QF_QFILE_OFF_JSON_OFFSET, QF_QFILE_HEADER_SIZE);
    qf_qfile_store_u64(b.p + QF_QFILE_OFF_JSON_SIZE, len);
    qf_qfile_store_u64(b.p + QF_QFILE_OFF_DATA_OFFSET, data_offset);
    qf_qfile_store_u64(b.p + QF_QFILE_OFF_DATA_SIZE, 0);
    qf_qfile_store_u32(b.p + QF_QFILE_OFF_JSON_CRC, qf_crc32(0, json, len));
    memcpy(b.p + QF_QFILE_HEADER_SIZE, json, len);
    qf_qfile_store_u32(b.p + QF_QFILE_OFF_HEADER_CRC, qf_qfile_header_crc(b.p));
    return b;
}

static qf_status qf_read_json(const buf *json, qf_model **m, qf_error *err)
{
    buf b = qf_make((const char *)json->p, json->n);
    char path[512];
    write_tmp(path, sizeof path, "qf", b.p, b.n);
    free(b.p);
    qf_file *f = NULL;
    qf_error_clear(err);
    *m = NULL;
    qf_status st = qf_file_map(path, &f, err);
    if (!st) st = qf_qfile_read(f, NULL, m, err);
    remove(path);
    return st;
}

#define QF_JSON_HEAD "{\"format\":\"qforge\",\"version\":[1,0],\"metadata\":{"

static void test_name_len(void **state)
{
    (void)state;
    for (size_t len = QF_MAX_NAME_LEN; len <= QF_MAX_NAME_LEN + 1; len++) {
        /* .qf: an empty tensor named with `len` bytes; the error points at its directory entry */
        buf j = {0};
        put_text(&j, QF_JSON_HEAD "},\"tensors\":[");
        size_t entry = QF_QFILE_HEADER_SIZE + j.n;
        put_text(&j, "{\"name\":\"");
        put_fill(&j, 'n', len);
        put_text(&j, "\",\"dtype\":\"u8\",\"shape\":[0],\"offset\":0,\"nbytes\":0,\"crc32\":0}]}");
        qf_model *m = NULL;
        qf_error err;
        qf_status st = qf_read_json(&j, &m, &err);
        if (len > QF_MAX_NAME_LEN) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)entry, NULL);
        } else {
            expect(st, &err, QF_STATUS_OK, -1, NULL);
            assert_int_equal(strlen(qf_model_tensor(m, 0)->name), len);
        }
        qf_model_destroy(m);
        free(j.p);

        /* torch: a dict key flattened to a name of `len` bytes; the error points at its value */
        buf p = {0};
        put_text(&p, "\x80\x02}(");
        char *key = malloc(len);
        memset(key, 'k', len);
        pk_str(&p, key, len);
        size_t value_at = p.n;
        pk_int(&p, 7);
        put_text(&p, "u.");
        st = torch_read_bytes(p.p, p.n, &m, &err);
        if (len > QF_MAX_NAME_LEN) expect(st, &err, QF_STATUS_LIMIT, (int64_t)value_at, "pickle");
        else expect(st, &err, QF_STATUS_OK, -1, NULL);
        qf_model_destroy(m);
        free(p.p);

        /* zip: an entry name of `len` bytes; the error points at its central-directory entry */
        char *name = malloc(len + 1);
        memset(name, 'z', len);
        name[len] = '\0';
        zent e[] = {{name, 0, "x", 0, 0}};
        buf z = zip_make(e, 1, 0, 0);
        st = zip_open_buf(&z, &err);
        if (len > QF_MAX_NAME_LEN) expect(st, &err, QF_STATUS_LIMIT, (int64_t)(30 + len + 1), "central directory");
        else expect(st, &err, QF_STATUS_OK, -1, NULL);
        free(z.p);
        free(name);
        free(key);
    }
}


/* ---- counts ------------------------------------------------------------------------------ */

/* 2^20 empty tensors in a model for real; one more is refused. */
static void test_max_tensors_model(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_create(&m, &err), QF_STATUS_OK);
    int64_t zero = 0;
    char name[32];
    for (uint32_t i = 0; i < QF_MAX_TENSORS; i++) {
        snprintf(name, sizeof name, "t%u", i);
        if (qf_model_add_tensor(m, name, NULL, QF_DTYPE_U8, 1, &zero, NULL, 0, NULL, &err)) fail_msg("tensor %u: %s", i, err.message);
    }
    assert_int_equal(qf_model_tensor_count(m), QF_MAX_TENSORS);
    assert_int_equal(qf_model_add_tensor(m, "one.more", NULL, QF_DTYPE_U8, 1, &zero, NULL, 0, NULL, &err), QF_STATUS_LIMIT);
    assert_string_equal(err.object, "one.more");
    assert_int_equal(qf_model_tensor_count(m), QF_MAX_TENSORS);
    qf_model_destroy(m);
}

/* A .qf directory of 2^20 entries passes the count and fails on its first entry; one more is refused. */
static void test_max_tensors_qf(void **state)
{
    (void)state;
    for (size_t n = QF_MAX_TENSORS; n <= QF_MAX_TENSORS + 1; n++) {
        buf j = {0};
        put_text(&j, QF_JSON_HEAD "},\"tensors\":");
        size_t array_at = QF_QFILE_HEADER_SIZE + j.n;
        put_text(&j, "[0");
        for (size_t i = 1; i < n; i++) put_text(&j, ",0");
        put_text(&j, "]}");
        qf_model *m = NULL;
        qf_error err;
        qf_status st = qf_read_json(&j, &m, &err);
        if (n > QF_MAX_TENSORS) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)array_at, NULL);
            assert_string_equal(err.found, "1048577");
        } else {
            expect(st, &err, QF_STATUS_FORMAT, (int64_t)array_at + 1, NULL);
            assert_non_null(strstr(err.message, "tensors[0] is not an object"));
        }
        free(j.p);
    }
}

/* .qf metadata: QF_MAX_META_ENTRIES entries are read, one more is refused at the "metadata" object. */
static void test_meta_entries_qf(void **state)
{
    (void)state;
    for (int n = QF_MAX_META_ENTRIES; n <= QF_MAX_META_ENTRIES + 1; n++) {
        buf j = {0};
        put_text(&j, "{\"format\":\"qforge\",\"version\":[1,0],\"metadata\":");
        size_t meta_at = QF_QFILE_HEADER_SIZE + j.n;
        char kv[64];
        for (int i = 0; i < n; i++) {
            snprintf(kv, sizeof kv, "%s\"k%d\":\"v\"", i ? "," : "{", i);
            put_text(&j, kv);
        }
        put_text(&j, "},\"tensors\":[]}");
        qf_model *m = NULL;
        qf_error err;
        qf_status st = qf_read_json(&j, &m, &err);
        if (n > QF_MAX_META_ENTRIES) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)meta_at, NULL);
            assert_string_equal(err.object, "k4096");
        } else {
            expect(st, &err, QF_STATUS_OK, -1, NULL);
            assert_int_equal(qf_model_meta_count(m), QF_MAX_META_ENTRIES);
        }
        qf_model_destroy(m);
        free(j.p);
    }
}

/* A metadata value of QF_MAX_META_VALUE_LEN bytes in the model, a safetensors header and a .qf file. */
static void test_meta_value_len(void **state)
{
    (void)state;
    for (size_t len = QF_MAX_META_VALUE_LEN; len <= QF_MAX_META_VALUE_LEN + 1; len++) {
        bool past = len > QF_MAX_META_VALUE_LEN;
        char *value = malloc(len + 1);
        memset(value, 'v', len);
        value[len] = '\0';

        qf_model *m = NULL;
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(qf_model_create(&m, &err), QF_STATUS_OK);
        expect(qf_model_set_meta(m, "key", value, &err), &err, past ? QF_STATUS_LIMIT : QF_STATUS_OK, -1, NULL);
        if (past) assert_string_equal(err.object, "key");
        else assert_int_equal(strlen(qf_model_get_meta(m, "key")), len);
        qf_model_destroy(m);

        /* safetensors: no tensors, one __metadata__ entry; the error points at the value */
        buf h = {0};
        put_text(&h, "{\"__metadata__\":{\"key\":");
        size_t value_at = 8 + h.n;
        put_text(&h, "\"");
        put_text(&h, value);
        put_text(&h, "\"}}");
        buf st_file = {0};
        put_le(&st_file, h.n, 8);
        put(&st_file, h.p, h.n);
        char path[512];
        write_tmp(path, sizeof path, "st", st_file.p, st_file.n);
        qf_file *f = NULL;
        qf_error_clear(&err);
        assert_int_equal(qf_file_map(path, &f, &err), QF_STATUS_OK);
        qf_status st = qf_safetensors_read(f, NULL, &m, &err);
        remove(path);
        expect(st, &err, past ? QF_STATUS_LIMIT : QF_STATUS_OK, past ? (int64_t)value_at : -1, NULL);
        if (!past) assert_int_equal(strlen(qf_model_get_meta(m, "safetensors.key")), len);
        qf_model_destroy(m);
        free(h.p);
        free(st_file.p);

        /* .qf: the error points at the "metadata" object */
        buf j = {0};
        put_text(&j, "{\"format\":\"qforge\",\"version\":[1,0],\"metadata\":");
        size_t meta_at = QF_QFILE_HEADER_SIZE + j.n;
        put_text(&j, "{\"key\":\"");
        put_text(&j, value);
        put_text(&j, "\"},\"tensors\":[]}");
        st = qf_read_json(&j, &m, &err);
        expect(st, &err, past ? QF_STATUS_LIMIT : QF_STATUS_OK, past ? (int64_t)meta_at : -1, NULL);
        if (!past) assert_int_equal(strlen(qf_model_get_meta(m, "key")), len);
        qf_model_destroy(m);
        free(j.p);
        free(value);
    }
}

/* ---- config.json ------------------------------------------------------------------------- */

static qf_status read_with_config(const char *config, size_t len, qf_model **m, qf_error *err, char *cfg_path)
{
    static const char plain[] = "\x80\x02}.";
    char model_path[512];
    write_tmp(model_path, sizeof model_path, "model", plain, sizeof plain - 1);
    write_tmp(cfg_path, 512, "config", config, len);
    qf_read_params p = qf_read_params_default();
    p.config_path = cfg_path;
    p.hash_source = false;
    qf_error_clear(err);
    qf_status st = qf_model_read(model_path, &p, m, err);
    remove(model_path);
    remove(cfg_path);
    return st;
}

/* {"a":"<fill>"} of exactly `total` bytes */
static buf config_of(char fill, size_t total)
{
    buf b = {0};
    put_text(&b, "{\"a\":\"");
    put_fill(&b, fill, total - 8);
    put_text(&b, "\"}");
    return b;
}

static void test_config_json(void **state)
{
    (void)state;
    char path[512];
    qf_model *m = NULL;
    qf_error err;
    /* at the limit: read, and kept byte for byte; '/' is not escaped into a text past the limit */
    const char fills[] = {'x', '/'};
    for (int i = 0; i < 2; i++) {
        buf c = config_of(fills[i], QF_MAX_CONFIG_JSON);
        qf_status st = read_with_config((const char *)c.p, c.n, &m, &err, path);
        expect(st, &err, QF_STATUS_OK, -1, NULL);
        const char *text = qf_model_config_json(m);
        assert_int_equal(strlen(text), QF_MAX_CONFIG_JSON);
        assert_memory_equal(text, c.p, c.n);
        qf_model_destroy(m);
        free(c.p);
    }
    /* one byte past: refused before parsing, at the first byte past the limit, naming the config file */
    buf c = config_of('x', QF_MAX_CONFIG_JSON + 1);
    qf_status st = read_with_config((const char *)c.p, c.n, &m, &err, path);
    expect(st, &err, QF_STATUS_LIMIT, QF_MAX_CONFIG_JSON, NULL);
    assert_null(m);
    assert_string_equal(err.file, path);
    assert_string_equal(err.found, "16777217 bytes");
    free(c.p);
    /* nesting: a config may hold QF_QF_MAX_JSON_DEPTH - 1 levels (it sits one level inside a .qf JSON block) */
    for (int extra = 0; extra <= 1; extra++) {
        int arrays = QF_QF_MAX_JSON_DEPTH - 2 + extra; /* the object is level 1 */
        buf d = {0};
        put_text(&d, "{\"a\":");
        put_fill(&d, '[', (size_t)arrays);
        put_fill(&d, ']', (size_t)arrays);
        put_text(&d, "}");
        st = read_with_config((const char *)d.p, d.n, &m, &err, path);
        if (extra) expect(st, &err, QF_STATUS_LIMIT, 5 + arrays - 1, NULL);
        else expect(st, &err, QF_STATUS_OK, -1, NULL);
        qf_model_destroy(m);
        free(d.p);
    }
}

/* ---- torch values ------------------------------------------------------------------------ */

static size_t count_values(const qf_model *m)
{
    size_t n = 0;
    const char *key;
    for (size_t i = 0; qf_model_meta_at(m, i, &key, NULL); i++) n += strncmp(key, "torch.value.", 12) == 0;
    return n;
}

/*
 * Non-tensor leaves become torch.value.* metadata: at most QF_TORCH_MAX_VALUE_META of them (the
 * rest are not recorded), strings only up to QF_TORCH_MAX_VALUE_LEN bytes. Neither is an error.
 */
static void test_torch_values(void **state)
{
    (void)state;
    for (int n = QF_TORCH_MAX_VALUE_META; n <= QF_TORCH_MAX_VALUE_META + 1; n++) {
        buf p = {0};
        put_text(&p, "\x80\x02}(");
        char key[16];
        for (int i = 0; i < n; i++) {
            int kl = snprintf(key, sizeof key, "k%03d", i);
            pk_str(&p, key, (size_t)kl);
            pk_int(&p, i);
        }
        put_text(&p, "u.");
        qf_model *m = NULL;
        qf_error err;
        expect(torch_read_bytes(p.p, p.n, &m, &err), &err, QF_STATUS_OK, -1, NULL);
        assert_int_equal(count_values(m), QF_TORCH_MAX_VALUE_META);
        assert_string_equal(qf_model_get_meta(m, "torch.value.k255"), "255");
        assert_null(qf_model_get_meta(m, "torch.value.k256"));
        qf_model_destroy(m);
        free(p.p);
    }
    for (size_t len = QF_TORCH_MAX_VALUE_LEN; len <= QF_TORCH_MAX_VALUE_LEN + 1; len++) {
        buf p = {0};
        put_text(&p, "\x80\x02}(");
        pk_str(&p, "s", 1);
        char *s = malloc(len);
        memset(s, 's', len);
        pk_str(&p, s, len);
        put_text(&p, "u.");
        qf_model *m = NULL;
        qf_error err;
        expect(torch_read_bytes(p.p, p.n, &m, &err), &err, QF_STATUS_OK, -1, NULL);
        const char *v = qf_model_get_meta(m, "torch.value.s");
        if (len > QF_TORCH_MAX_VALUE_LEN) assert_null(v);
        else assert_int_equal(strlen(v), len);
        qf_model_destroy(m);
        free(p.p);
        free(s);
    }
}

/*
 * The flattener's depth check (QF_PICKLE_MAX_DEPTH): containers nested to the limit flatten; past it
 * is reachable only through a cycle (the pickle machine caps real nesting), refused at the container.
 */
static void test_pickle_depth_flatten(void **state)
{
    (void)state;
    buf p = {0};
    put_text(&p, "\x80\x02");
    put_fill(&p, ']', QF_PICKLE_MAX_DEPTH);
    put_fill(&p, 'a', QF_PICKLE_MAX_DEPTH - 1);
    put_text(&p, ".");
    qf_model *m = NULL;
    qf_error err;
    expect(torch_read_bytes(p.p, p.n, &m, &err), &err, QF_STATUS_OK, -1, NULL);
    qf_model_destroy(m);
    free(p.p);
    static const char cycle[] = "\x80\x02}q\x00X\x01\x00\x00\x00" "ah\x00s.";
    expect(torch_read_bytes(cycle, sizeof cycle - 1, &m, &err), &err, QF_STATUS_LIMIT, 2, "pickle");
    assert_string_equal(err.expected, "depth <= 64");
}

/* ---- rank -------------------------------------------------------------------------------- */

/* safetensors: a shape of QF_MAX_RANK dimensions is read; one more is refused at the shape array. */
static void test_rank(void **state)
{
    (void)state;
    for (int rank = QF_MAX_RANK; rank <= QF_MAX_RANK + 1; rank++) {
        buf h = {0};
        put_text(&h, "{\"t\":{\"dtype\":\"U8\",\"shape\":");
        size_t shape_at = 8 + h.n;
        for (int d = 0; d < rank; d++) put_text(&h, d ? ",1" : "[1");
        put_text(&h, "],\"data_offsets\":[0,1]}}");
        buf file = {0};
        put_le(&file, h.n, 8);
        put(&file, h.p, h.n);
        put_u8(&file, 42);
        char path[512];
        write_tmp(path, sizeof path, "rank", file.p, file.n);
        qf_file *f = NULL;
        qf_model *m = NULL;
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(qf_file_map(path, &f, &err), QF_STATUS_OK);
        qf_status st = qf_safetensors_read(f, NULL, &m, &err);
        remove(path);
        if (rank > QF_MAX_RANK) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)shape_at, NULL);
        } else {
            expect(st, &err, QF_STATUS_OK, -1, NULL);
            assert_int_equal(qf_model_tensor(m, 0)->rank, rank);
        }
        qf_model_destroy(m);
        free(h.p);
        free(file.p);
    }
}

/*
 * torch: size and stride tuples of QF_MAX_RANK ints pass the pickle machine (this bare pickle then
 * fails for its storage reference); one more dimension is refused at the REDUCE building the tensor.
 */
static void test_rank_torch(void **state)
{
    (void)state;
    for (int rank = QF_MAX_RANK; rank <= QF_MAX_RANK + 1; rank++) {
        buf p = {0};
        put_text(&p, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((");
        static const char pid[] = "X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x01tQ";
        put(&p, pid, sizeof pid - 1);
        put(&p, "K\x00", 2);
        for (int t = 0; t < 2; t++) {
            put_text(&p, "(");
            for (int d = 0; d < rank; d++) put(&p, "K\x01", 2);
            put_text(&p, "t");
        }
        put_text(&p, "\x89" "ccollections\nOrderedDict\n)Rt");
        size_t reduce_at = p.n;
        put_text(&p, "R.");
        qf_model *m = NULL;
        qf_error err;
        qf_status st = torch_read_bytes(p.p, p.n, &m, &err);
        if (rank > QF_MAX_RANK) {
            expect(st, &err, QF_STATUS_LIMIT, (int64_t)reduce_at, "pickle");
            assert_string_equal(err.found, "9");
        } else {
            assert_int_equal(st, QF_STATUS_FORMAT);
            assert_non_null(strstr(err.message, "storage reference in a pickle without storage data"));
        }
        free(p.p);
    }
}

/* ---- main -------------------------------------------------------------------------------- */

/* ---- shard indexes (readers/sharded) -------------------------------------------------------
 * At the limit the index is accepted and reading fails on the first shard, which does not exist
 * (QF_STATUS_IO); one past the limit it is refused with QF_STATUS_LIMIT. */

static qf_status read_index(const char *json, size_t pad_to, qf_error *err)
{
    size_t n = strlen(json), total = pad_to > n ? pad_to : n;
    char *bytes = malloc(total);
    assert_non_null(bytes);
    memcpy(bytes, json, n);
    memset(bytes + n, ' ', total - n);
    char path[512];
    write_tmp(path, sizeof path, "index", bytes, total);
    free(bytes);
    qf_model *m = NULL;
    qf_error_clear(err);
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_status st = qf_model_read(path, &rp, &m, err);
    qf_model_destroy(m);
    unlink(path);
    return st;
}

static void test_sharded_index_size(void **state)
{
    (void)state;
    const char *json = "{\"weight_map\": {\"a.weight\": \"missing.safetensors\"}}";
    qf_error err;
    qf_status st = read_index(json, QF_SHARDED_MAX_INDEX, &err);
    assert_int_equal(st, QF_STATUS_NOT_FOUND);
    st = read_index(json, (size_t)QF_SHARDED_MAX_INDEX + 1, &err);
    expect(st, &err, QF_STATUS_LIMIT, QF_SHARDED_MAX_INDEX, NULL);
}

static char *many_shards_index(size_t shards)
{
    size_t cap = 64 + shards * 40;
    char *json = malloc(cap);
    assert_non_null(json);
    size_t n = (size_t)snprintf(json, cap, "{\"weight_map\": {");
    for (size_t i = 0; i < shards; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s\"t%zu\": \"s%zu.bin\"", i ? ", " : "", i, i);
    snprintf(json + n, cap - n, "}}");
    return json;
}

static void test_sharded_shards(void **state)
{
    (void)state;
    qf_error err;
    char *json = many_shards_index(QF_SHARDED_MAX_SHARDS);
    assert_int_equal(read_index(json, 0, &err), QF_STATUS_NOT_FOUND);
    free(json);
    json = many_shards_index((size_t)QF_SHARDED_MAX_SHARDS + 1);
    expect(read_index(json, 0, &err), &err, QF_STATUS_LIMIT, -1, "weight_map");
    free(json);
}

static void test_sharded_name(void **state)
{
    (void)state;
    char name[QF_SHARDED_MAX_NAME + 2], json[QF_SHARDED_MAX_NAME + 64];
    qf_error err;
    memset(name, 'n', sizeof name);
    name[QF_SHARDED_MAX_NAME] = '\0';
    snprintf(json, sizeof json, "{\"weight_map\": {\"a.weight\": \"%s\"}}", name);
    assert_int_equal(read_index(json, 0, &err), QF_STATUS_NOT_FOUND);
    name[QF_SHARDED_MAX_NAME] = 'n';
    name[QF_SHARDED_MAX_NAME + 1] = '\0';
    snprintf(json, sizeof json, "{\"weight_map\": {\"a.weight\": \"%s\"}}", name);
    expect(read_index(json, 0, &err), &err, QF_STATUS_LIMIT, -1, "weight_map");
    assert_string_equal(err.object, "a.weight");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zip_entries),     cmocka_unit_test(test_zip_ratio),
        cmocka_unit_test(test_zip_inflated),    cmocka_unit_test(test_zip_comment_scan),
        cmocka_unit_test(test_zip_pickle_bytes), cmocka_unit_test(test_name_len),
        cmocka_unit_test(test_max_tensors_model), cmocka_unit_test(test_max_tensors_qf),
        cmocka_unit_test(test_meta_entries_qf), cmocka_unit_test(test_meta_value_len),
        cmocka_unit_test(test_config_json),     cmocka_unit_test(test_torch_values),
        cmocka_unit_test(test_pickle_depth_flatten), cmocka_unit_test(test_rank),
        cmocka_unit_test(test_rank_torch),      cmocka_unit_test(test_sharded_index_size),
        cmocka_unit_test(test_sharded_shards),  cmocka_unit_test(test_sharded_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
