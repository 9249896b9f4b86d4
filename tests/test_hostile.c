/*
 * tests/test_hostile.c — hostile shapes (docs/SECURITY.md): each input is built in memory and read
 * in a child process limited to 1 GiB of address space (RLIMIT_AS, as `ulimit -v 1048576`) and
 * 10 s (alarm). It must be refused with the expected status, quickly, without a crash:
 * dims whose product overflows (torch, safetensors), a huge memo index, deep nesting (pickle marks,
 * JSON of safetensors headers, config.json, tokenizer.json and the .qf JSON block, protobuf
 * messages), a real deflate bomb (data.pkl inflating to 1 GiB), a zip whose sizes lie, and a zip
 * of 1,000,001 real entries, HDF5 datasets of 2^40 x 2^40 and 2^20 x 2^20 elements (chunked, never
 * written: a few hundred bytes on disk). Prints status, offset and time of each. Also the files
 * found beside a model (config.json, shards, tokenizer files) as FIFOs, directories and links out
 * of the model's folder: refused promptly, never read.
 *
 * AddressSanitizer reserves terabytes of address space, so under it the children run without the
 * address-space limit (the statuses and times are still checked).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "qforge/calibrate.h"
#include "qforge/qfile.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define AS_LIMIT (1ull << 30)
#define CASE_SECONDS 10

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(b, &c, 1);
    }
}
static void put_text(buf *b, const char *s) { put(b, s, strlen(s)); }
static void put_fill(buf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++) put(b, &c, 1);
}

typedef enum kind { K_TORCH, K_SAFETENSORS, K_QF, K_ONNX, K_TOKENIZER, K_CONFIG, K_HDF5 } kind;

/* Runs in the child: the reader's status and error offset go back through the pipe. */
static void child_read(kind k, const buf *in, int out_fd)
{
    qf_error err;
    qf_error_clear(&err);
    qf_status st;
    qf_model *m = NULL;
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    if (k == K_TOKENIZER) {
        qf_tokenizer *t = NULL;
        st = qf_tokenizer_load_json(in->p, in->n, "hostile/tokenizer.json", &t, &err);
        qf_tokenizer_destroy(t);
    } else if (k == K_CONFIG) {
        static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        buf model = {0};
        put_le(&model, sizeof header - 1, 8);
        put_text(&model, header);
        put_le(&model, 0, 4);
        int mfd = memfd_create("model", 0), cfd = memfd_create("config", 0);
        (void)!write(mfd, model.p, model.n);
        (void)!write(cfd, in->p, in->n);
        char mpath[64], cpath[64];
        snprintf(mpath, sizeof mpath, "/proc/self/fd/%d", mfd);
        snprintf(cpath, sizeof cpath, "/proc/self/fd/%d", cfd);
        params.config_path = cpath;
        st = qf_model_read(mpath, &params, &m, &err);
    } else {
        qf_file *f = NULL;
        st = qf_file_from_memory(in->p, in->n, "hostile", &f, &err);
        if (!st) {
            if (k == K_TORCH) st = qf_torch_read(f, &params, &m, &err);
            else if (k == K_SAFETENSORS) st = qf_safetensors_read(f, &params, &m, &err);
            else if (k == K_ONNX) st = qf_onnx_read(f, &params, &m, &err);
            else if (k == K_HDF5) st = qf_hdf5_read(f, &params, &m, &err);
            else {
                qf_qfile_open_params op = qf_qfile_open_params_default();
                op.verify_checksums = true;
                st = qf_qfile_read(f, &op, &m, &err);
            }
        }
    }
    qf_model_destroy(m);
    (void)!write(out_fd, &st, sizeof st);
    (void)!write(out_fd, &err, sizeof err);
}

static int n_cases;

/* `want` < 0: any refusal; else that status. Returns the error's byte offset. */
static int64_t expect_refused(const char *name, kind k, const buf *in, int want)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout); /* else the child (whose HDF5 pre-check flushes all streams) repeats earlier lines */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (!SANITIZED) {
            struct rlimit rl = {AS_LIMIT, AS_LIMIT};
            setrlimit(RLIMIT_AS, &rl);
        }
        alarm(CASE_SECONDS);
        child_read(k, in, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    qf_status st = QF_STATUS_INTERNAL;
    qf_error err;
    memset(&err, 0, sizeof err);
    ssize_t got = read(fds[0], &st, sizeof st);
    if (got == (ssize_t)sizeof st) got = read(fds[0], &err, sizeof err);
    close(fds[0]);
    int ws;
    waitpid(pid, &ws, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || got != (ssize_t)sizeof err)
        fail_msg("%s: the reader did not return (signal %d)", name, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    char line[2048];
    qf_error_format(&err, line, sizeof line);
    printf("hostile: %-44s %-10s %6.2f s  %s\n", name, qf_status_name(st), secs, line);
    if (st == QF_STATUS_OK) fail_msg("%s: accepted", name);
    if (want >= 0 && (int)st != want) fail_msg("%s: %s, expected %s", name, qf_status_name(st), qf_status_name((qf_status)want));
    assert_int_equal(err.code, st);
    n_cases++;
    return err.offset;
}

static buf slurp(const char *path)
{
    buf b = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, n);
    fclose(f);
    return b;
}

/* ---- zip archives ------------------------------------------------------------------------------ */

typedef struct zent {
    const char *name;
    int method;           /* 0 stored, 8 deflated */
    const uint8_t *data;  /* compressed bytes as stored */
    uint64_t comp, size;  /* declared sizes */
    uint32_t crc;
} zent;

static buf zip_make(const zent *e, size_t n)
{
    buf b = {0};
    uint64_t *offs = calloc(n ? n : 1, sizeof *offs);
    for (size_t i = 0; i < n; i++) {
        offs[i] = b.n;
        put_le(&b, 0x04034b50, 4), put_le(&b, 20, 2), put_le(&b, 0, 2), put_le(&b, (uint64_t)e[i].method, 2);
        put_le(&b, 0, 4), put_le(&b, e[i].crc, 4), put_le(&b, e[i].comp, 4), put_le(&b, e[i].size, 4);
        put_le(&b, strlen(e[i].name), 2), put_le(&b, 0, 2), put_text(&b, e[i].name);
        if (e[i].comp) put(&b, e[i].data, (size_t)e[i].comp);
    }
    uint64_t cd = b.n;
    for (size_t i = 0; i < n; i++) {
        put_le(&b, 0x02014b50, 4), put_le(&b, 20, 2), put_le(&b, 20, 2), put_le(&b, 0, 2);
        put_le(&b, (uint64_t)e[i].method, 2), put_le(&b, 0, 4), put_le(&b, e[i].crc, 4);
        put_le(&b, e[i].comp, 4), put_le(&b, e[i].size, 4), put_le(&b, strlen(e[i].name), 2);
        put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 2), put_le(&b, 0, 4);
        put_le(&b, offs[i], 4), put_text(&b, e[i].name);
    }
    uint64_t cd_size = b.n - cd;
    if (n > 0xFFFF) { /* zip64 end record + locator: the 16-bit counts say 0xFFFF */
        uint64_t z64 = b.n;
        put_le(&b, 0x06064b50, 4), put_le(&b, 44, 8), put_le(&b, 45, 2), put_le(&b, 45, 2);
        put_le(&b, 0, 4), put_le(&b, 0, 4), put_le(&b, n, 8), put_le(&b, n, 8), put_le(&b, cd_size, 8), put_le(&b, cd, 8);
        put_le(&b, 0x07064b50, 4), put_le(&b, 0, 4), put_le(&b, z64, 8), put_le(&b, 1, 4);
    }
    put_le(&b, 0x06054b50, 4), put_le(&b, 0, 2), put_le(&b, 0, 2);
    put_le(&b, n > 0xFFFF ? 0xFFFF : n, 2), put_le(&b, n > 0xFFFF ? 0xFFFF : n, 2);
    put_le(&b, cd_size, 4), put_le(&b, cd, 4), put_le(&b, 0, 2);
    free(offs);
    return b;
}

/* Raw deflate of `total` zero bytes; *crc receives their CRC-32. */
static buf deflate_zeros(uint64_t total, uint32_t *crc)
{
    static uint8_t zeros[1 << 20];
    buf out = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    uint8_t chunk[1 << 16];
    uint64_t left = total;
    uLong c = crc32(0, NULL, 0);
    int flush;
    do {
        size_t take = left < sizeof zeros ? (size_t)left : sizeof zeros;
        c = crc32(c, zeros, (uInt)take);
        left -= take;
        flush = left ? Z_NO_FLUSH : Z_FINISH;
        z.next_in = zeros;
        z.avail_in = (uInt)take;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            deflate(&z, flush);
            put(&out, chunk, sizeof chunk - z.avail_out);
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    *crc = (uint32_t)c;
    return out;
}

/* ---- the cases --------------------------------------------------------------------------------- */

static void test_overflowing_dims(void **state)
{
    (void)state;
    buf b = slurp(QF_SOURCE_DIR "/fixtures/torch/bad_shape_overflow.pt");
    expect_refused("torch: dims product overflows", K_TORCH, &b, QF_STATUS_OVERFLOW);
    free(b.p);
    b = slurp(QF_SOURCE_DIR "/fixtures/safetensors/overflow_shape.safetensors");
    expect_refused("safetensors: dims product overflows", K_SAFETENSORS, &b, -1);
    free(b.p);
    b = slurp(QF_SOURCE_DIR "/fixtures/safetensors/dim_past_int64.safetensors");
    expect_refused("safetensors: dim past int64", K_SAFETENSORS, &b, -1);
    free(b.p);
}

static void test_pickle_shapes(void **state)
{
    (void)state;
    buf b = {0};
    /* LONG_BINPUT 0xFFFFFFFF: a memo index of 4 billion */
    put_text(&b, "\x80\x02}");
    put_text(&b, "r\xff\xff\xff\xff");
    put_text(&b, ".");
    expect_refused("pickle: memo index 2^32-1", K_TORCH, &b, QF_STATUS_LIMIT);
    b.n = 0;
    /* LONG_BINGET of an index never stored */
    put_text(&b, "\x80\x02}j\xff\xff\xff\x7f.");
    expect_refused("pickle: get of memo index 2^31-1", K_TORCH, &b, -1);
    b.n = 0;
    /* 1,000,000 nested empty lists: ']' then APPEND would need depth; use MARK floods and list nests */
    put_text(&b, "\x80\x02");
    put_fill(&b, '(', 1000000);
    put_text(&b, ".");
    expect_refused("pickle: 1,000,000 MARKs", K_TORCH, &b, QF_STATUS_LIMIT);
    b.n = 0;
    put_text(&b, "\x80\x02");
    for (int i = 0; i < 100000; i++) put_text(&b, "]");
    for (int i = 0; i < 99999; i++) put_text(&b, "a");
    put_text(&b, ".");
    expect_refused("pickle: lists nested 100,000 deep", K_TORCH, &b, QF_STATUS_LIMIT);
    free(b.p);
}

static void test_deep_json(void **state)
{
    (void)state;
    const size_t depth = 1000000;
    buf j = {0};
    put_fill(&j, '[', depth);
    put_fill(&j, ']', depth);

    buf st = {0};
    put_le(&st, j.n + 6, 8);
    put_text(&st, "{\"a\":");
    put(&st, j.p, j.n);
    put_text(&st, "}");
    expect_refused("safetensors header: JSON nested 10^6 deep", K_SAFETENSORS, &st, -1);
    free(st.p);

    buf cfg = {0};
    put_text(&cfg, "{\"a\":");
    put(&cfg, j.p, j.n);
    put_text(&cfg, "}");
    expect_refused("config.json: nested 10^6 deep", K_CONFIG, &cfg, QF_STATUS_LIMIT);
    free(cfg.p);

    buf tok = {0};
    put_text(&tok, "{\"model\":");
    put(&tok, j.p, j.n);
    put_text(&tok, "}");
    expect_refused("tokenizer.json: nested 10^6 deep", K_TOKENIZER, &tok, -1);
    free(tok.p);

    /* a .qf whose header is right (CRCs included) and whose JSON block nests 10^6 deep */
    buf q = {0};
    uint8_t h[QF_QFILE_HEADER_SIZE] = {0};
    memcpy(h, QF_QFILE_MAGIC, QF_QFILE_MAGIC_SIZE);
    qf_qfile_store_u32(h + QF_QFILE_OFF_VERSION_MAJOR, QF_QFILE_VERSION_MAJOR);
    qf_qfile_store_u32(h + QF_QFILE_OFF_VERSION_MINOR, QF_QFILE_VERSION_MINOR);
    qf_qfile_store_u32(h + QF_QFILE_OFF_BYTE_ORDER, QF_QFILE_BYTE_ORDER);
    uint64_t data_offset = (64 + j.n + 63) & ~63ull;
    qf_qfile_store_u64(h + QF_QFILE_OFF_JSON_OFFSET, 64);
    qf_qfile_store_u64(h + QF_QFILE_OFF_JSON_SIZE, j.n);
    qf_qfile_store_u64(h + QF_QFILE_OFF_DATA_OFFSET, data_offset);
    qf_qfile_store_u64(h + QF_QFILE_OFF_DATA_SIZE, 0);
    qf_qfile_store_u32(h + QF_QFILE_OFF_JSON_CRC, qf_crc32(0, j.p, j.n));
    qf_qfile_store_u32(h + QF_QFILE_OFF_HEADER_CRC, qf_qfile_header_crc(h));
    put(&q, h, sizeof h);
    put(&q, j.p, j.n);
    put_fill(&q, 0, (size_t)(data_offset - 64 - j.n));
    expect_refused(".qf JSON block: nested 10^6 deep", K_QF, &q, QF_STATUS_LIMIT);
    free(q.p);
    free(j.p);
}

/* ONNX: GraphProto -> NodeProto -> AttributeProto.g -> GraphProto ... 100,000 levels. */
static void test_protobuf_recursion(void **state)
{
    (void)state;
    const int levels = 100000;
    /* build inside out: each level wraps the previous bytes as field `tag` (length-delimited) */
    buf cur = {0}, next = {0};
    for (int i = 0; i < levels; i++) {
        /* AttributeProto { name(1) = "g", g(6) = graph } ; NodeProto { attribute(5) = attr } ; GraphProto { node(1) = node } */
        static const uint8_t tags[3] = {0x32, 0x2a, 0x0a};
        for (int t = 0; t < 3; t++) {
            next.n = 0;
            if (t == 0) put_text(&next, "\x0a\x01g");
            uint8_t tag = tags[t];
            put(&next, &tag, 1);
            uint64_t len = cur.n;
            while (len >= 0x80) {
                uint8_t c = (uint8_t)(len | 0x80);
                put(&next, &c, 1);
                len >>= 7;
            }
            uint8_t c = (uint8_t)len;
            put(&next, &c, 1);
            put(&next, cur.p, cur.n);
            buf tmp = cur;
            cur = next;
            next = tmp;
        }
    }
    buf model = {0};
    put_text(&model, "\x08\x08"); /* ir_version 8 */
    put_text(&model, "\x3a");     /* graph (7) */
    uint64_t len = cur.n;
    while (len >= 0x80) {
        uint8_t c = (uint8_t)(len | 0x80);
        put(&model, &c, 1);
        len >>= 7;
    }
    uint8_t c = (uint8_t)len;
    put(&model, &c, 1);
    put(&model, cur.p, cur.n);
    expect_refused("onnx: subgraphs nested 100,000 deep", K_ONNX, &model, QF_STATUS_LIMIT);
    free(model.p);
    free(cur.p);
    free(next.p);
}

static void test_zip_bombs(void **state)
{
    (void)state;
    /* a real bomb: data.pkl inflates to 1 GiB of zeros (the whole address-space budget) */
    uint32_t crc = 0;
    uint64_t big = (1ull << 30) - 4096; /* just under QF_ZIP_MAX_PICKLE_BYTES */
    buf z = deflate_zeros(big, &crc);
    zent e[] = {{"archive/data.pkl", 8, z.p, z.n, big, crc}, {"archive/version", 0, (const uint8_t *)"3\n", 2, 2, 0}};
    e[1].crc = (uint32_t)crc32(0, (const Bytef *)"3\n", 2);
    buf b = zip_make(e, 2);
    char name[96];
    snprintf(name, sizeof name, "zip bomb: %zu KB -> 1 GiB - 4 KB data.pkl", z.n >> 10);
    expect_refused(name, K_TORCH, &b, -1);
    free(b.p);
    free(z.p);

    /* sizes that lie: 100 bytes declared to inflate to 4 GiB - 1 */
    uint8_t junk[100] = {0};
    zent lie[] = {{"archive/data.pkl", 8, junk, sizeof junk, 0xFFFFFFFFull, 0}};
    b = zip_make(lie, 1);
    expect_refused("zip: 100 bytes declared as 4 GiB", K_TORCH, &b, QF_STATUS_LIMIT);
    free(b.p);
}

static void test_many_entries(void **state)
{
    (void)state;
    const size_t n = 1000001; /* QF_ZIP_MAX_ENTRIES + 1, every one real */
    zent *e = calloc(n, sizeof *e);
    char (*names)[16] = calloc(n, sizeof *names);
    assert_non_null(e);
    assert_non_null(names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "a/%07zu", i);
        e[i].name = names[i];
    }
    e[0].name = "archive/data.pkl";
    buf b = zip_make(e, n);
    char name[96];
    snprintf(name, sizeof name, "zip: 1,000,001 real entries (%zu MB)", b.n >> 20);
    expect_refused(name, K_TORCH, &b, QF_STATUS_LIMIT);
    free(b.p);
    free(e);
    free(names);
}

/* fixtures/hdf5/absurd_dims_*.h5 (fixtures/gen/make_hdf5_fixtures.py): refused at the dataset's
 * object header (offset 800) before libhdf5 is asked for any data, in the forked pre-check and
 * in the caller, well inside the address-space limit. */
static void test_hdf5_absurd_dims(void **state)
{
    (void)state;
    buf b = slurp(QF_SOURCE_DIR "/fixtures/hdf5/absurd_dims_overflow.h5");
    assert_int_equal(expect_refused("hdf5 2^40 x 2^40 elements", K_HDF5, &b, QF_STATUS_OVERFLOW), 800);
    free(b.p);
    b = slurp(QF_SOURCE_DIR "/fixtures/hdf5/absurd_dims_4tib.h5");
    assert_int_equal(expect_refused("hdf5 2^20 x 2^20 float32 (4 TiB, unwritten)", K_HDF5, &b, QF_STATUS_LIMIT), 800);
    free(b.p);
}

/* ---- files found beside a model: FIFOs and links out of the folder ------------------------------- */

/* One read in the child: what it opens and the refusal it must end in. */
typedef struct beside_case {
    const char *name;
    enum { B_MODEL, B_TOKENIZER, B_DATASET, B_STATS } op;
    char path[600];   /* the model, tokenizer folder, data set or statistics file */
    char config[600]; /* --config, "" for none */
    int want;         /* QF_STATUS_OK, or the refusal */
    const char *text; /* part of the message, NULL when OK */
} beside_case;

static qf_status beside_child(const beside_case *c, qf_error *err, char *config_seen, size_t seen_size)
{
    qf_status st;
    config_seen[0] = '\0';
    if (c->op == B_TOKENIZER) {
        qf_tokenizer *t = NULL;
        st = qf_tokenizer_load(c->path, &t, err);
        qf_tokenizer_destroy(t);
    } else if (c->op == B_DATASET) {
        qf_dataset *d = NULL;
        qf_dataset_params dp = qf_dataset_params_default();
        st = qf_dataset_load(c->path, NULL, &dp, &d, err);
        qf_dataset_destroy(d);
    } else if (c->op == B_STATS) {
        qf_calib_stats *cs = NULL;
        st = qf_calib_stats_read(c->path, &cs, err);
        qf_calib_stats_destroy(cs);
    } else {
        qf_read_params params = qf_read_params_default();
        params.hash_source = false;
        if (c->config[0]) params.config_path = c->config;
        qf_model *m = NULL;
        st = qf_model_read(c->path, &params, &m, err);
        if (m && qf_model_config_json(m)) snprintf(config_seen, seen_size, "%s", qf_model_config_json(m));
        qf_model_destroy(m);
    }
    return st;
}

/* Runs the case in a child under alarm(): an open that blocks on a FIFO fails the test by SIGALRM
 * instead of hanging it. Returns the config text the model carried (OK cases). */
static void expect_beside(const beside_case *c, char *config_seen, size_t seen_size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(CASE_SECONDS);
        qf_error err;
        qf_error_clear(&err);
        char seen[256];
        qf_status st = beside_child(c, &err, seen, sizeof seen);
        (void)!write(fds[1], &st, sizeof st);
        (void)!write(fds[1], &err, sizeof err);
        (void)!write(fds[1], seen, sizeof seen);
        _exit(0);
    }
    close(fds[1]);
    qf_status st = QF_STATUS_INTERNAL;
    qf_error err;
    memset(&err, 0, sizeof err);
    char seen[256] = "";
    ssize_t got = read(fds[0], &st, sizeof st);
    if (got == (ssize_t)sizeof st) got = read(fds[0], &err, sizeof err);
    if (got == (ssize_t)sizeof err) got = read(fds[0], seen, sizeof seen);
    close(fds[0]);
    int ws;
    waitpid(pid, &ws, 0);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || got != (ssize_t)sizeof seen)
        fail_msg("%s: the reader did not return (signal %d: %s)", c->name, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0,
                 WIFSIGNALED(ws) && WTERMSIG(ws) == SIGALRM ? "blocked" : "crashed");
    char line[2048];
    qf_error_format(&err, line, sizeof line);
    printf("hostile: %-44s %-10s %s\n", c->name, qf_status_name(st), line);
    if ((int)st != c->want) fail_msg("%s: %s, expected %s", c->name, qf_status_name(st), qf_status_name((qf_status)c->want));
    if (c->text && !strstr(err.message, c->text)) fail_msg("%s: message '%s' lacks '%s'", c->name, err.message, c->text);
    if (config_seen) snprintf(config_seen, seen_size, "%s", seen);
    if (c->want != QF_STATUS_OK) n_cases++;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_safetensors(const char *path)
{
    static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    buf b = {0};
    put_le(&b, sizeof header - 1, 8);
    put_text(&b, header);
    put_le(&b, 0, 4);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b.p, 1, b.n, f);
    fclose(f);
    free(b.p);
}

/* A fresh folder <root>/<sub> holding model.safetensors. */
static void model_folder(const char *root, const char *sub, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s", root, sub);
    assert_int_equal(mkdir(dir, 0755), 0);
    char p[300];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_safetensors(p);
}

/*
 * Every file qforge finds beside a model (config.json, shards, the model in a named folder,
 * tokenizer files) is refused promptly when it is a FIFO, and with FORBIDDEN when it is a link that
 * resolves outside the model's folder; a link inside the folder is read. Files the user names
 * (--config, data sets, statistics) may be links anywhere but must be regular files too.
 */
static void test_files_beside_model(void **state)
{
    (void)state;
    char root[] = "/tmp/qf_hostile_beside_XXXXXX";
    assert_non_null(mkdtemp(root));
    char out[128], out_json[256], out_st[256], p[300], q[300], dir[128];
    snprintf(out, sizeof out, "%s/outside", root);
    assert_int_equal(mkdir(out, 0755), 0);
    snprintf(out_json, sizeof out_json, "%s/secret.json", out);
    write_text(out_json, "{\"outside_secret\": 1}");
    snprintf(out_st, sizeof out_st, "%s/outside.safetensors", out);
    write_safetensors(out_st);
    static const char *const fifo_text = "is a FIFO (named pipe), not a regular file";
    char seen[256];

    /* config.json beside the model */
    beside_case c = {.name = "config.json: FIFO", .op = B_MODEL, .want = QF_STATUS_IO, .text = fifo_text};
    model_folder(root, "cfg_fifo", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(mkfifo(p, 0644), 0);
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", dir);
    expect_beside(&c, NULL, 0);

    c = (beside_case){.name = "config.json: link out of the folder", .op = B_MODEL, .want = QF_STATUS_FORBIDDEN,
                      .text = "'config.json' resolves outside the model folder"};
    model_folder(root, "cfg_out", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(symlink(out_json, p), 0);
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", dir);
    expect_beside(&c, NULL, 0);

    c = (beside_case){.name = "config.json: directory", .op = B_MODEL, .want = QF_STATUS_IO,
                      .text = "is a directory, not a regular file"};
    model_folder(root, "cfg_dir", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", dir);
    expect_beside(&c, NULL, 0);

    c = (beside_case){.name = "config.json: link inside the folder", .op = B_MODEL, .want = QF_STATUS_OK};
    model_folder(root, "cfg_in", dir, sizeof dir);
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/real.json", dir);
    write_text(p, "{\"inside\": 2}");
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(symlink("sub/real.json", p), 0);
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", dir);
    expect_beside(&c, seen, sizeof seen);
    assert_non_null(strstr(seen, "\"inside\""));

    /* --config: the user's choice, anywhere, but a regular file */
    c = (beside_case){.name = "--config: link anywhere (user's choice)", .op = B_MODEL, .want = QF_STATUS_OK};
    snprintf(c.path, sizeof c.path, "%s/cfg_out/model.safetensors", root);
    snprintf(c.config, sizeof c.config, "%s/cfg_out/config.json", root);
    expect_beside(&c, seen, sizeof seen);
    assert_non_null(strstr(seen, "outside_secret"));
    c = (beside_case){.name = "--config: FIFO", .op = B_MODEL, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", out);
    write_safetensors(c.path);
    snprintf(c.config, sizeof c.config, "%s/cfg_fifo/config.json", root);
    expect_beside(&c, NULL, 0);

    /* shards beside their index */
    static const char index[] = "{\"weight_map\": {\"w\": \"model-1.safetensors\"}}";
    const struct {
        const char *sub, *name, *text;
        int want, kind; /* 0 FIFO, 1 link out, 2 link in */
    } shards[] = {
        {"shard_fifo", "shard: FIFO", fifo_text, QF_STATUS_IO, 0},
        {"shard_out", "shard: link out of the folder", "'model-1.safetensors' resolves outside the model folder",
         QF_STATUS_FORBIDDEN, 1},
        {"shard_in", "shard: link inside the folder", NULL, QF_STATUS_OK, 2},
    };
    for (size_t i = 0; i < sizeof shards / sizeof shards[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", root, shards[i].sub);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        write_text(p, index);
        snprintf(q, sizeof q, "%s/model-1.safetensors", dir);
        if (shards[i].kind == 0) {
            assert_int_equal(mkfifo(q, 0644), 0);
        } else if (shards[i].kind == 1) {
            assert_int_equal(symlink(out_st, q), 0);
        } else {
            snprintf(p, sizeof p, "%s/blob", dir);
            write_safetensors(p);
            assert_int_equal(symlink("blob", q), 0);
        }
        c = (beside_case){.op = B_MODEL, .want = shards[i].want, .text = shards[i].text};
        c.name = shards[i].name;
        snprintf(c.path, sizeof c.path, "%s/model.safetensors.index.json", dir);
        expect_beside(&c, NULL, 0);
    }

    /* the model file found in a folder the user named */
    snprintf(dir, sizeof dir, "%s/folder_out", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    assert_int_equal(symlink(out_st, p), 0);
    c = (beside_case){.name = "folder: model file linked out", .op = B_MODEL, .want = QF_STATUS_FORBIDDEN,
                      .text = "'model.safetensors' resolves outside the model folder"};
    snprintf(c.path, sizeof c.path, "%s", dir);
    expect_beside(&c, NULL, 0);
    snprintf(dir, sizeof dir, "%s/folder_fifo", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    assert_int_equal(mkfifo(p, 0644), 0);
    c = (beside_case){.name = "folder: model file a FIFO", .op = B_MODEL, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s", dir);
    expect_beside(&c, NULL, 0);

    /* tokenizer files in a tokenizer folder */
    snprintf(p, sizeof p, "%s/tok_out.txt", out);
    write_text(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nsecret\n");
    /* with_vocab: a vocab.txt beside, so that the folder's settings files are read (tokenizer_config.json:
     * token types and casing; sentence_bert_config.json: do_lower_case) */
    const struct {
        const char *sub, *file, *name, *text;
        int want, kind; /* 0 FIFO, 1 link out */
        bool with_vocab;
    } toks[] = {
        {"tok_fifo", "tokenizer.json", "tokenizer.json: FIFO", fifo_text, QF_STATUS_IO, 0, false},
        {"tok_out", "tokenizer.json", "tokenizer.json: link out of the folder",
         "'tokenizer.json' resolves outside the model folder", QF_STATUS_FORBIDDEN, 1, false},
        {"vocab_fifo", "vocab.txt", "vocab.txt: FIFO", fifo_text, QF_STATUS_IO, 0, false},
        {"vocab_out", "vocab.txt", "vocab.txt: link out of the folder", "'vocab.txt' resolves outside the model folder",
         QF_STATUS_FORBIDDEN, 1, false},
        {"tokcfg_out", "tokenizer_config.json", "tokenizer_config.json: link out of the folder",
         "'tokenizer_config.json' resolves outside the model folder", QF_STATUS_FORBIDDEN, 1, true},
        {"sbert_fifo", "sentence_bert_config.json", "sentence_bert_config.json (tokenizer): FIFO", fifo_text,
         QF_STATUS_IO, 0, true},
        {"sbert_out", "sentence_bert_config.json", "sentence_bert_config.json (tokenizer): link out of the folder",
         "'sentence_bert_config.json' resolves outside the model folder", QF_STATUS_FORBIDDEN, 1, true},
    };
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", root, toks[i].sub);
        assert_int_equal(mkdir(dir, 0755), 0);
        if (toks[i].with_vocab) {
            snprintf(q, sizeof q, "%s/vocab.txt", dir);
            write_text(q, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
        }
        snprintf(q, sizeof q, "%s/%s", dir, toks[i].file);
        if (toks[i].kind == 0) assert_int_equal(mkfifo(q, 0644), 0);
        else assert_int_equal(symlink(p, q), 0);
        c = (beside_case){.op = B_TOKENIZER, .want = toks[i].want, .text = toks[i].text};
        c.name = toks[i].name;
        snprintf(c.path, sizeof c.path, "%s", dir);
        expect_beside(&c, NULL, 0);
    }
    /* tokenizer_config.json read with vocab.txt */
    snprintf(dir, sizeof dir, "%s/tokcfg_fifo", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(q, sizeof q, "%s/vocab.txt", dir);
    write_text(q, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    snprintf(q, sizeof q, "%s/tokenizer_config.json", dir);
    assert_int_equal(mkfifo(q, 0644), 0);
    c = (beside_case){.name = "tokenizer_config.json: FIFO", .op = B_TOKENIZER, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s", dir);
    expect_beside(&c, NULL, 0);
    /* tokenizer.json named by the user: a FIFO is refused all the same */
    c = (beside_case){.name = "--tokenizer FILE: FIFO", .op = B_TOKENIZER, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s/tok_fifo/tokenizer.json", root);
    expect_beside(&c, NULL, 0);

    /* data set and statistics files the user names */
    snprintf(q, sizeof q, "%s/data.jsonl", root);
    assert_int_equal(mkfifo(q, 0644), 0);
    c = (beside_case){.name = "--data: FIFO", .op = B_DATASET, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s", q);
    expect_beside(&c, NULL, 0);
    snprintf(q, sizeof q, "%s/stats.qfc", root);
    assert_int_equal(mkfifo(q, 0644), 0);
    c = (beside_case){.name = ".qfc statistics: FIFO", .op = B_STATS, .want = QF_STATUS_IO, .text = fifo_text};
    snprintf(c.path, sizeof c.path, "%s", q);
    expect_beside(&c, NULL, 0);

    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    setenv("OMP_NUM_THREADS", "1", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflowing_dims), cmocka_unit_test(test_pickle_shapes),
        cmocka_unit_test(test_deep_json),        cmocka_unit_test(test_protobuf_recursion),
        cmocka_unit_test(test_zip_bombs),        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_hdf5_absurd_dims), cmocka_unit_test(test_files_beside_model),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    printf("hostile: %d inputs refused%s\n", n_cases, SANITIZED ? " (sanitizer build: no address-space limit)" : " within a 1 GiB address-space limit");
    return rc;
}
