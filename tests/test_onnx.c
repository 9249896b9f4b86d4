/*
 * tests/test_onnx.c — ONNX reader and writers. Small ModelProtos are forged byte by byte (so every
 * invalid one states the error code and byte offset it must produce); the real ones come from
 * QF_SHARED_DIR (debsec-bert's torch export, the external-data toy, an ORT-quantized graph) and are
 * skipped with a message when the folder is absent.
 *
 *   - debsec-bert model.onnx alone (weights named and transposed through the graph) -> encoder FP32
 *     logits within 1e-4 of transformers' (reference_logits.json);
 *   - external-data and inline copies of the same model give identical tensors;
 *   - ORT-quantized input is marked and quantization refuses it;
 *   - malformed protobuf, wrong wire / field types, data larger than the shape, external data
 *     outside the folder: code + offset + object;
 *   - limits QF_ONNX_MAX_DEPTH, QF_ONNX_MAX_PROTO, QF_ONNX_MAX_EXTERNAL_FILES at and past;
 *   - static QDQ writer with made-up scales: onnx.checker passes, ONNX Runtime runs it; bad slots.
 */
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

#define DEBSEC QF_SHARED_DIR "/models/debsec-bert"
#define REAL QF_SHARED_DIR "/realfiles"

static bool have(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

#define NEED(path)                                                                   \
    do {                                                                             \
        if (!have(path)) {                                                           \
            print_message("skipped: %s is absent (needs ../shared)\n", path);        \
            skip();                                                                  \
        }                                                                            \
    } while (0)

/* ---- protobuf bytes --------------------------------------------------------------------- */

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
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void varint(buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}
static void f_varint(buf *b, unsigned field, uint64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}
static void f_bytes(buf *b, unsigned field, const void *p, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, p, n);
}
static void f_str(buf *b, unsigned field, const char *s) { f_bytes(b, field, s, strlen(s)); }
static void f_msg(buf *b, unsigned field, buf *m)
{
    f_bytes(b, field, m->p, m->n);
    free(m->p);
    memset(m, 0, sizeof *m);
}

/* ModelProto { ir_version 8, opset 14, graph { initializers..., nodes... } } around `graph`. */
static buf model_of(buf *graph, size_t *graph_at)
{
    buf m = {0}, op = {0};
    f_varint(&m, 1, 8);
    f_varint(&op, 2, 14);
    f_msg(&m, 8, &op);
    size_t before = m.n;
    f_msg(&m, 7, graph);
    /* tag (1 byte) + length varint: the graph's bytes start after them */
    *graph_at = before + 1;
    while (m.p[*graph_at] & 0x80) (*graph_at)++;
    (*graph_at)++;
    return m;
}

/* TensorProto "w" FLOAT [2, 2] with `raw_len` bytes of raw_data. */
static buf tensor_w(size_t raw_len)
{
    buf t = {0};
    f_varint(&t, 1, 2);
    f_varint(&t, 1, 2);
    f_varint(&t, 2, 1);
    f_str(&t, 8, "w");
    float raw[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    f_bytes(&t, 9, raw, raw_len);
    return t;
}

static char g_dir[512];

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static qf_status read_bytes(const buf *b, const char *name, qf_model **m, qf_error *err)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    write_file(path, b->p, b->n);
    qf_read_params p = qf_read_params_default();
    p.hash_source = false;
    qf_error_clear(err);
    return qf_model_read(path, &p, m, err);
}

static void expect(qf_status got, const qf_error *err, qf_status code, int64_t offset, const char *object)
{
    char line[1024];
    qf_error_format(err, line, sizeof line);
    print_message("  %s\n", line);
    assert_int_equal(got, code);
    assert_int_equal(err->code, code);
    assert_int_equal(err->offset, offset);
    if (object) assert_non_null(strstr(err->object, object));
}

/* ---- forged models ---------------------------------------------------------------------- */

static void test_valid_small(void **state)
{
    (void)state;
    buf g = {0}, t = tensor_w(16);
    f_msg(&g, 5, &t);
    size_t at;
    buf m = model_of(&g, &at);
    qf_model *model = NULL;
    qf_error err;
    assert_int_equal(read_bytes(&m, "valid.onnx", &model, &err), QF_STATUS_OK);
    const qf_tensor *w = qf_model_find(model, "w", NULL);
    assert_non_null(w);
    assert_int_equal(w->rank, 2);
    assert_int_equal(((const float *)w->data)[3], 4.0f);
    assert_string_equal(qf_model_get_meta(model, "onnx.opsets"), "ai.onnx 14");
    qf_model_destroy(model);
    free(m.p);
}

static void test_invalid(void **state)
{
    (void)state;
    qf_error err;
    qf_model *model = NULL;
    size_t at;

    /* raw_data larger than [2, 2] x f32: SHAPE at the initializer's first byte */
    buf g = {0}, t = tensor_w(20);
    f_msg(&g, 5, &t);
    buf m = model_of(&g, &at);
    size_t init_at = at + 2; /* initializer tag + 1-byte length */
    expect(read_bytes(&m, "big.onnx", &model, &err), &err, QF_STATUS_SHAPE, (int64_t)init_at, "w");
    assert_non_null(strstr(err.expected, "16 bytes"));
    assert_non_null(strstr(err.found, "20 bytes"));

    /* cut inside raw_data: the raw_data length runs past the tensor -> TRUNCATED at that length */
    buf cut = {malloc(m.n - 6), m.n - 6, m.n - 6};
    memcpy(cut.p, m.p, cut.n);
    qf_status s = read_bytes(&cut, "cut.onnx", &model, &err);
    assert_true(s == QF_STATUS_TRUNCATED);
    assert_true(err.offset > 0 && err.offset < (int64_t)cut.n);
    free(cut.p);
    free(m.p);

    /* data_type (int32) sent length-delimited: wrong wire type, offset of its tag, tensor named */
    buf t2 = {0};
    f_str(&t2, 8, "w");
    size_t tag_at = t2.n;
    f_str(&t2, 2, "x");
    g = (buf){0};
    f_msg(&g, 5, &t2);
    m = model_of(&g, &at);
    expect(read_bytes(&m, "wire.onnx", &model, &err), &err, QF_STATUS_FORMAT, (int64_t)(at + 2 + tag_at), "tensor 'w'");
    free(m.p);

    /* float_data on an INT64 tensor: wrong field for the type */
    buf t3 = {0};
    f_varint(&t3, 1, 1);
    f_varint(&t3, 2, 7);
    float one = 1.0f;
    f_bytes(&t3, 4, &one, 4); /* packed float_data */
    f_str(&t3, 8, "i");
    g = (buf){0};
    f_msg(&g, 5, &t3);
    m = model_of(&g, &at);
    expect(read_bytes(&m, "field.onnx", &model, &err), &err, QF_STATUS_FORMAT, (int64_t)(at + 2), "i");
    free(m.p);

    /* external data outside the folder: "..", absolute, and a symlink leading out */
    const char *locations[] = {"../secret.bin", "/etc/passwd", "sub/../../x", "link/passwd"};
    char linkdir[700];
    snprintf(linkdir, sizeof linkdir, "%s/link", g_dir);
    unlink(linkdir);
    assert_int_equal(symlink("/etc", linkdir), 0);
    for (size_t k = 0; k < 4; k++) {
        buf te = {0}, kv = {0};
        f_varint(&te, 1, 1);
        f_varint(&te, 2, 1);
        f_str(&te, 8, "ext");
        f_str(&kv, 1, "location");
        f_str(&kv, 2, locations[k]);
        f_msg(&te, 13, &kv);
        f_varint(&te, 14, 1);
        g = (buf){0};
        f_msg(&g, 5, &te);
        m = model_of(&g, &at);
        expect(read_bytes(&m, "ext.onnx", &model, &err), &err, QF_STATUS_FORBIDDEN, (int64_t)(at + 2), "ext");
        free(m.p);
    }
    unlink(linkdir);

    /* not a protobuf past the detector: field number 0 */
    static const uint8_t junk[] = {0x08, 0x07, 0x12, 0x00, 0x00, 0x00};
    buf jb = {(uint8_t *)junk, sizeof junk, sizeof junk};
    expect(read_bytes(&jb, "junk.onnx", &model, &err), &err, QF_STATUS_FORMAT, 4, NULL);
}

/* Nesting: graph.input -> ValueInfo.type -> TypeProto.sequence_type -> elem_type -> ... */
static buf nested(size_t depth, size_t *last_tag_at)
{
    size_t n = depth;
    unsigned *fields = calloc(n, sizeof *fields);
    fields[0] = 7;
    if (n > 1) fields[1] = 11;
    if (n > 2) fields[2] = 2;
    for (size_t i = 3; i < n; i++) fields[i] = (i % 2) ? 4 : 1;
    buf inner = {0};
    size_t *lens = calloc(n, sizeof *lens);
    for (size_t i = n; i-- > 0;) {
        buf outer = {0};
        f_msg(&outer, fields[i], &inner);
        inner = outer;
    }
    buf m = {0};
    f_varint(&m, 1, 8);
    size_t base = m.n;
    put(&m, inner.p, inner.n);
    free(inner.p);
    /* the innermost message's tag: walk the chain of (tag, length) headers */
    size_t pos = base;
    for (size_t i = 0; i < n; i++) {
        *last_tag_at = pos;
        pos++; /* tag */
        while (m.p[pos] & 0x80) pos++;
        pos++; /* length */
    }
    free(fields);
    free(lens);
    return m;
}

static void test_limit_depth(void **state)
{
    (void)state;
    qf_error err;
    qf_model *model = NULL;
    size_t tag_at;
    buf m = nested(QF_ONNX_MAX_DEPTH, &tag_at);
    assert_int_equal(read_bytes(&m, "depth_ok.onnx", &model, &err), QF_STATUS_OK);
    qf_model_destroy(model);
    free(m.p);
    m = nested(QF_ONNX_MAX_DEPTH + 1, &tag_at);
    expect(read_bytes(&m, "depth_past.onnx", &model, &err), &err, QF_STATUS_LIMIT, (int64_t)tag_at, NULL);
    free(m.p);
}

/* A sparse file of exactly the limit is walked (and fails at byte 0: tag 0); one byte more is LIMIT. */
static void test_limit_proto_size(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/sparse.onnx", g_dir);
    uint64_t sizes[2] = {QF_ONNX_MAX_PROTO, QF_ONNX_MAX_PROTO + 1};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fclose(f);
        if (truncate(path, (off_t)sizes[k]) != 0) {
            print_message("skipped: cannot make a sparse file\n");
            skip();
        }
        qf_file *file = NULL;
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(qf_file_map(path, &file, &err), QF_STATUS_OK);
        qf_model *m = NULL;
        qf_status s = qf_onnx_read(file, NULL, &m, &err);
        if (k == 0) expect(s, &err, QF_STATUS_FORMAT, 0, NULL);
        else expect(s, &err, QF_STATUS_LIMIT, (int64_t)QF_ONNX_MAX_PROTO, NULL);
    }
    unlink(path);
}

static void test_limit_external_files(void **state)
{
    (void)state;
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/extfiles", g_dir);
    mkdir(dir, 0755);
    float v = 2.5f;
    for (int k = 0; k <= QF_ONNX_MAX_EXTERNAL_FILES; k++) {
        snprintf(path, sizeof path, "%s/d%d.bin", dir, k);
        write_file(path, &v, 4);
    }
    for (int past = 0; past < 2; past++) {
        buf g = {0};
        size_t at;
        int n = QF_ONNX_MAX_EXTERNAL_FILES + past;
        size_t last_at = 0;
        for (int k = 0; k < n; k++) {
            buf te = {0}, kv = {0};
            char name[32], loc[32];
            snprintf(name, sizeof name, "t%d", k);
            snprintf(loc, sizeof loc, "d%d.bin", k);
            f_varint(&te, 1, 1);
            f_varint(&te, 2, 1);
            f_str(&te, 8, name);
            f_str(&kv, 1, "location");
            f_str(&kv, 2, loc);
            f_msg(&te, 13, &kv);
            f_varint(&te, 14, 1);
            last_at = g.n;
            f_msg(&g, 5, &te);
        }
        buf m = model_of(&g, &at);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        write_file(path, m.p, m.n);
        qf_read_params p = qf_read_params_default();
        p.hash_source = false;
        qf_model *model = NULL;
        qf_error err;
        qf_error_clear(&err);
        qf_status s = qf_model_read(path, &p, &model, &err);
        if (!past) {
            assert_int_equal(s, QF_STATUS_OK);
            assert_int_equal(qf_model_tensor_count(model), QF_ONNX_MAX_EXTERNAL_FILES);
            qf_model_destroy(model);
        } else {
            size_t hdr = 2; /* tag + 1..2-byte length of the last initializer */
            while (m.p[at + last_at + hdr - 1] & 0x80) hdr++;
            expect(s, &err, QF_STATUS_LIMIT, (int64_t)(at + last_at + hdr), NULL);
        }
        free(m.p);
    }
}

/* External data is a file found beside the model: a FIFO or directory is refused at once (read in a
 * child under alarm(), so a blocking open fails the test instead of hanging it), a link out of the
 * folder is FORBIDDEN, a link inside it is read. The error names the model file and the tensor. */
static void test_external_file_types(void **state)
{
    (void)state;
    char dir[600], path[700], other[700];
    snprintf(dir, sizeof dir, "%s/exttypes", g_dir);
    mkdir(dir, 0755);
    float v = 1.5f;
    snprintf(path, sizeof path, "%s/real", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/real/d.bin", dir);
    write_file(path, &v, 4);
    snprintf(other, sizeof other, "%s/outside.bin", g_dir);
    write_file(other, &v, 4);
    snprintf(path, sizeof path, "%s/fifo.bin", dir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0644), 0);
    snprintf(path, sizeof path, "%s/dir.bin", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/in.bin", dir);
    unlink(path);
    assert_int_equal(symlink("real/d.bin", path), 0);
    snprintf(path, sizeof path, "%s/out.bin", dir);
    unlink(path);
    assert_int_equal(symlink(other, path), 0);
    const struct {
        const char *location;
        qf_status want;
        const char *text;
    } cases[] = {
        {"fifo.bin", QF_STATUS_IO, "'fifo.bin' is a FIFO (named pipe), not a regular file"},
        {"dir.bin", QF_STATUS_IO, "'dir.bin' is a directory, not a regular file"},
        {"out.bin", QF_STATUS_FORBIDDEN, "'out.bin' resolves outside the model folder"},
        {"in.bin", QF_STATUS_OK, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        buf te = {0}, kv = {0}, g = {0};
        size_t at;
        f_varint(&te, 1, 1);
        f_varint(&te, 2, 1);
        f_str(&te, 8, "ext");
        f_str(&kv, 1, "location");
        f_str(&kv, 2, cases[k].location);
        f_msg(&te, 13, &kv);
        f_varint(&te, 14, 1);
        f_msg(&g, 5, &te);
        buf m = model_of(&g, &at);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        write_file(path, m.p, m.n);
        free(m.p);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10);
            qf_read_params p = qf_read_params_default();
            p.hash_source = false;
            qf_model *model = NULL;
            qf_error err;
            qf_error_clear(&err);
            qf_status s = qf_model_read(path, &p, &model, &err);
            int ok = s == cases[k].want;
            if (s == QF_STATUS_OK) {
                const qf_tensor *t = qf_model_find(model, "ext", NULL);
                ok = ok && t && t->nbytes == 4 && memcmp(t->data, &v, 4) == 0;
            } else {
                ok = ok && strstr(err.message, cases[k].text) && strcmp(err.object, "ext") == 0 &&
                     strcmp(err.file, path) == 0 && err.offset == (int64_t)(at + 2);
            }
            if (!ok) fprintf(stderr, "%s: %s %s\n", cases[k].location, qf_status_name(s), err.message);
            qf_model_destroy(model);
            _exit(ok ? 0 : 1);
        }
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        if (!WIFEXITED(ws)) fail_msg("%s: the reader did not return (signal %d)", cases[k].location, WTERMSIG(ws));
        assert_int_equal(WEXITSTATUS(ws), 0);
    }
}

/* ---- real files ------------------------------------------------------------------------- */

static void test_extdata_vs_inline(void **state)
{
    (void)state;
    const char *dir = REAL "/onnx-extdata-vs-inline-toy";
    NEED(dir);
    qf_model *a = NULL, *b = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(REAL "/onnx-extdata-vs-inline-toy/model.onnx", NULL, &a, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_read(REAL "/onnx-extdata-vs-inline-toy/model_inline.onnx", NULL, &b, &err), QF_STATUS_OK);
    assert_string_equal(qf_model_get_meta(a, "onnx.external_tensors"), "3");
    assert_int_equal(qf_model_tensor_count(a), qf_model_tensor_count(b));
    for (size_t i = 0; i < qf_model_tensor_count(a); i++) {
        const qf_tensor *x = qf_model_tensor(a, i), *y = qf_model_find(b, x->name, NULL);
        assert_non_null(y);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->rank, y->rank);
        assert_memory_equal(x->shape, y->shape, sizeof x->shape);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
    }
    qf_model_destroy(a);
    qf_model_destroy(b);
}

static void test_ort_quantized_refused(void **state)
{
    (void)state;
    const char *path = REAL "/onnx-ort-dynamic-quantized-cnn/model_quantized.onnx";
    NEED(path);
    qf_model *m = NULL, *q = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(path, NULL, &m, &err), QF_STATUS_OK);
    const char *mark = qf_model_get_meta(m, "source.quantized");
    assert_non_null(mark);
    assert_non_null(strstr(mark, "MatMulInteger 2"));
    assert_int_equal(qf_model_quantize_dynamic(m, NULL, &q, &err), QF_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.message, "already quantized"));
    assert_null(q);
    qf_model_destroy(m);
}

enum { ROWS = 256, LEN = 48, LABELS = 30 };

static void test_debsec_fp32(void **state)
{
    (void)state;
    NEED(DEBSEC "/model.onnx");
    static int32_t ids[ROWS * LEN], mask[ROWS * LEN];
    static float ref[ROWS * LABELS];
    json_object *root = json_object_from_file(DEBSEC "/reference_logits.json"), *jids, *jl;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "input_ids", &jids));
    assert_true(json_object_object_get_ex(root, "logits", &jl));
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < LEN; t++) {
            ids[r * LEN + t] = json_object_get_int(json_object_array_get_idx(json_object_array_get_idx(jids, (size_t)r), (size_t)t));
            mask[r * LEN + t] = ids[r * LEN + t] != 0;
            if (t < LABELS)
                ref[r * LABELS + t] = (float)json_object_get_double(
                    json_object_array_get_idx(json_object_array_get_idx(jl, (size_t)r), (size_t)t));
        }
    json_object_put(root);
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(DEBSEC "/model.onnx", NULL, &m, &err), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    assert_string_equal(qf_model_get_meta(m, "onnx.recovered_names"), "24");
    assert_string_equal(qf_model_get_meta(m, "onnx.transposed_weights"), "24");
    qf_encoder_params p = qf_encoder_params_default();
    p.threads = 1;
    p.max_batch = 32;
    p.max_length = LEN;
    qf_encoder *e = NULL;
    assert_int_equal(qf_encoder_create(m, &p, &e, &err), QF_STATUS_OK);
    assert_non_null(qf_model_find(m, "layers.3.ffn.down.weight", NULL));
    float worst = 0;
    for (int r0 = 0; r0 < ROWS; r0 += 32) {
        qf_encoder_batch in = {32, LEN, ids + r0 * LEN, mask + r0 * LEN, NULL};
        qf_encoder_output out;
        assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_OK);
        for (int k = 0; k < 32 * LABELS; k++) {
            float d = fabsf(out.logits[k] - ref[r0 * LABELS + k]);
            if (d > worst) worst = d;
        }
    }
    print_message("debsec-bert model.onnx: max |logit - transformers| = %.3g\n", (double)worst);
    assert_true(worst <= 1e-4f);
    qf_encoder_destroy(e);
    qf_model_destroy(m);
}

/* ---- static QDQ writer ------------------------------------------------------------------ */

static qf_model *debsec_quantized(qf_model **src)
{
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(DEBSEC "/model.onnx", NULL, src, &err), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(*src, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    assert_int_equal(qf_arch_map(*src, NULL, &err), QF_STATUS_OK);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(*src, &qp, &q, &err), QF_STATUS_OK);
    return q;
}

static void test_static_qdq(void **state)
{
    (void)state;
    NEED(DEBSEC "/model.onnx");
    qf_model *src = NULL, *q = debsec_quantized(&src);
    /* made-up scales: q/k/v read the same activation, so they share one */
    qf_onnx_qdq_activation acts[] = {{"layers.0.attn.q", 0.05f}, {"layers.0.attn.k", 0.05f}, {"layers.0.attn.v.weight", 0.05f},
                                     {"layers.1.ffn.up", 0.04f}, {"layers.1.ffn.down", 0.08f}, {"head.out", 0.01f}};
    qf_onnx_static_params sp = qf_onnx_static_params_default();
    sp.activations = acts;
    sp.count = sizeof acts / sizeof acts[0];
    char out[700], cmd[4096];
    snprintf(out, sizeof out, "%s/debsec.qdq.onnx", g_dir);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_onnx_write_static(DEBSEC "/model.onnx", q, out, &sp, &err), QF_STATUS_OK);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx,collections,sys; m=onnx.load('%s'); onnx.checker.check_model(m, full_check=True); "
             "c=collections.Counter(n.op_type for n in m.graph.node); "
             "dq=[n for n in m.graph.node if n.op_type=='DequantizeLinear' and n.attribute]; "
             "sys.exit(0 if c['QuantizeLinear']==4 and c['DequantizeLinear']==10 and len(dq)==6 else 1)\"",
             out);
    assert_int_equal(system(cmd), 0);
    char rows[700];
    snprintf(rows, sizeof rows, "%s/rows.jsonl", g_dir);
    write_file(rows, "{\"input_ids\": [2, 600, 30, 17, 3]}\n{\"input_ids\": [2, 45, 3]}\n", 61);
    snprintf(cmd, sizeof cmd, "node %s/tests/ort_run.mjs %s %s > %s/qdq.out && test $(wc -l < %s/qdq.out) -eq 2",
             QF_SOURCE_DIR, out, rows, g_dir, g_dir);
    if (!have(QF_SOURCE_DIR "/node_modules/onnxruntime-node")) print_message("onnxruntime-node absent: not run in ORT\n");
    else assert_int_equal(system(cmd), 0);

    /* a slot nothing matches, and two scales for one activation */
    qf_onnx_qdq_activation bad[] = {{"layers.9.attn.q", 0.1f}};
    sp.activations = bad;
    sp.count = 1;
    qf_error_clear(&err);
    assert_int_equal(qf_onnx_write_static(DEBSEC "/model.onnx", q, out, &sp, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.object, "layers.9.attn.q");
    qf_onnx_qdq_activation clash[] = {{"layers.0.attn.q", 0.1f}, {"layers.0.attn.k", 0.2f}};
    sp.activations = clash;
    sp.count = 2;
    qf_error_clear(&err);
    assert_int_equal(qf_onnx_write_static(DEBSEC "/model.onnx", q, out, &sp, &err), QF_STATUS_INVALID_ARGUMENT);
    qf_onnx_qdq_activation nan_scale[] = {{"layers.0.attn.q", NAN}};
    sp.activations = nan_scale;
    sp.count = 1;
    qf_error_clear(&err);
    assert_int_equal(qf_onnx_write_static(DEBSEC "/model.onnx", q, out, &sp, &err), QF_STATUS_INVALID_ARGUMENT);
    qf_model_destroy(q);
    qf_model_destroy(src);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/test_onnx.d", QF_BINARY_DIR);
    mkdir(g_dir, 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_small),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_proto_size),
        cmocka_unit_test(test_limit_external_files),
        cmocka_unit_test(test_external_file_types),
        cmocka_unit_test(test_extdata_vs_inline),
        cmocka_unit_test(test_ort_quantized_refused),
        cmocka_unit_test(test_debsec_fp32),
        cmocka_unit_test(test_static_qdq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
