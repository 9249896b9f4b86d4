/*
 * tests/test_quantize.c — the scalar reference kernels (exact values, rounding ties, clamping,
 * zero rows, NaN) and the model-level passes: which tensors dynamic quantization touches, per
 * channel vs per tensor, the |dequantized - fp32| <= scale/2 bound, thread-count independence,
 * f16 sources, and dtype conversion. The AVX-512 kernels against the _ref kernels bit for bit
 * (random rows, exact ties, NaN / infinities, every tail length); the lazy pass
 * (qf_model_quantize_dynamic_lazy) written by qf_qfile_write against the in-memory pass, byte for
 * byte, and refused by the consumers that need its bytes in memory (safetensors, ONNX, the passes).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/writers.h"

static void test_scale(void **state)
{
    (void)state;
    float zeros[4] = {0, 0, 0, 0};
    assert_true(qf_quant_scale_sym_i8_ref(zeros, 4) == 1.0f);
    assert_true(qf_quant_scale_sym_i8_ref(zeros, 0) == 1.0f);
    float x[3] = {0.5f, -254.0f, 3.0f};
    assert_true(qf_quant_scale_sym_i8_ref(x, 3) == 2.0f);
    float withnan[3] = {NAN, 127.0f, -1.0f};
    assert_true(qf_quant_scale_sym_i8_ref(withnan, 3) == 1.0f);
}

static void test_round_half_to_even_and_clamp(void **state)
{
    (void)state;
    /* with scale 1, x/s is exact: ties round to even */
    float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.4f, 200.0f, -128.0f, -127.5f, 0.49999997f, NAN};
    int8_t want[] = {0, 2, 2, 0, -2, -2, 126, 127, 127, -127, -127, 0, 0};
    int8_t q[sizeof x / sizeof x[0]];
    qf_quantize_row_sym_i8_ref(x, sizeof x / sizeof x[0], 1.0f, q);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) assert_int_equal(q[i], want[i]);
    /* scale from the row: the extreme maps to exactly +-127 */
    float row[4] = {0.1f, -0.7f, 0.35f, 0.0f};
    float s = qf_quant_scale_sym_i8_ref(row, 4);
    qf_quantize_row_sym_i8_ref(row, 4, s, q);
    assert_int_equal(q[1], -127);
    assert_int_equal(q[3], 0);
    float back[4];
    qf_dequantize_row_sym_i8_ref(q, 4, s, back);
    for (int i = 0; i < 4; i++) assert_true(fabsf(back[i] - row[i]) <= s / 2 + 128 * s * FLT_EPSILON);
}

/* |dequantized - x| <= s/2 holds exactly; computing q*s in float adds at most 127*s*eps. */
static float half_step_bound(float s) { return s / 2 + 128 * s * FLT_EPSILON; }

/* A model shaped like a tiny BERT, with f32 data. */
static qf_model *make_model(qf_dtype weight_dtype)
{
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    struct {
        const char *name;
        int32_t rank;
        int64_t shape[2];
    } spec[] = {
        {"bert.embeddings.word_embeddings.weight", 2, {100, 32}},
        {"bert.embeddings.position_embeddings.weight", 2, {64, 32}},
        {"bert.embeddings.LayerNorm.weight", 1, {32}},
        {"bert.encoder.layer.0.attention.self.query.weight", 2, {32, 32}},
        {"bert.encoder.layer.0.attention.self.query.bias", 1, {32}},
        {"bert.encoder.layer.0.intermediate.dense.weight", 2, {64, 32}},
        {"classifier.weight", 2, {3, 32}}, /* 96 elements: below min_elements, stays fp32 */
        {"zero_rows.weight", 2, {40, 32}},
    };
    unsigned seed = 1;
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        uint64_t n = (uint64_t)spec[i].shape[0] * (spec[i].rank == 2 ? (uint64_t)spec[i].shape[1] : 1);
        qf_dtype dt = spec[i].rank == 2 ? weight_dtype : QF_DTYPE_F32;
        void *data;
        assert_int_equal(qf_model_alloc(m, n * qf_dtype_size(dt), &data, NULL), QF_STATUS_OK);
        for (uint64_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            float v = ((float)((seed >> 8) & 0xffff) / 65535.0f - 0.5f) * (float)(1 + (k % 7));
            if (strncmp(spec[i].name, "zero_rows", 9) == 0 && (k / 32) % 2 == 0) v = 0.0f;
            if (dt == QF_DTYPE_F32)
                ((float *)data)[k] = v;
            else
                ((uint16_t *)data)[k] = qf_f32_to_f16(v);
        }
        assert_int_equal(qf_model_add_tensor(m, spec[i].name, NULL, dt, spec[i].rank, spec[i].shape, data,
                                             n * qf_dtype_size(dt), NULL, NULL),
                         QF_STATUS_OK);
    }
    return m;
}

static float element_f32(const qf_tensor *t, uint64_t i)
{
    if (t->dtype == QF_DTYPE_F16) return qf_f16_to_f32(((const uint16_t *)t->data)[i]);
    return ((const float *)t->data)[i];
}

static void check_dequant_bound(const qf_model *src, const qf_model *q, const char *name)
{
    const qf_tensor *w = qf_model_find(src, name, NULL);
    const qf_tensor *qi = qf_model_find(q, name, NULL);
    assert_non_null(qi);
    assert_int_equal(qi->dtype, QF_DTYPE_I8);
    const qf_tensor *sc = qf_model_find(q, qi->quant.scale_name, NULL);
    assert_non_null(sc);
    size_t rows = (size_t)w->shape[0], cols = (size_t)w->shape[1];
    bool per_channel = qi->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL;
    assert_int_equal(sc->shape[0], per_channel ? (int64_t)rows : 1);
    for (size_t r = 0; r < rows; r++) {
        float s = ((const float *)sc->data)[per_channel ? r : 0];
        for (size_t c = 0; c < cols; c++) {
            float x = element_f32(w, r * cols + c);
            float d = (float)((const int8_t *)qi->data)[r * cols + c] * s;
            assert_true(fabsf(d - x) <= half_step_bound(s));
        }
    }
}

static void test_dynamic_selection_and_bound(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32), *q = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_quantize_params p = qf_quantize_params_default();
    assert_int_equal(qf_model_quantize_dynamic(src, &p, &q, &err), QF_STATUS_OK);
    /* quantized: word embeddings (per row), the two linear weights, zero_rows; not the rest */
    const char *int8_names[] = {"bert.embeddings.word_embeddings.weight",
                                "bert.encoder.layer.0.attention.self.query.weight",
                                "bert.encoder.layer.0.intermediate.dense.weight", "zero_rows.weight"};
    for (size_t i = 0; i < 4; i++) {
        const qf_tensor *t = qf_model_find(q, int8_names[i], NULL);
        assert_non_null(t);
        assert_int_equal(t->dtype, QF_DTYPE_I8);
        assert_int_equal(t->quant.scheme, QF_QUANT_SYMMETRIC_PER_CHANNEL);
        assert_int_equal(t->quant.axis, 0);
        check_dequant_bound(src, q, int8_names[i]);
    }
    const char *fp32_names[] = {"bert.embeddings.position_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                                "bert.encoder.layer.0.attention.self.query.bias", "classifier.weight"};
    for (size_t i = 0; i < 4; i++) {
        const qf_tensor *t = qf_model_find(q, fp32_names[i], NULL);
        assert_non_null(t);
        assert_int_equal(t->dtype, QF_DTYPE_F32);
        assert_int_equal(t->quant.scheme, QF_QUANT_NONE);
        assert_ptr_equal(t->data, qf_model_find(src, fp32_names[i], NULL)->data); /* borrowed, not copied */
    }
    /* zero rows get scale 1 and all-zero int8 */
    const qf_tensor *zs = qf_model_find(q, "zero_rows.weight::scale", NULL);
    assert_true(((const float *)zs->data)[0] == 1.0f);
    assert_string_equal(qf_model_get_meta(q, "quant.mode"), "dynamic");
    assert_string_equal(qf_model_get_meta(q, "quant.quantized_tensors"), "4");
    qf_model_destroy(src); /* q keeps src alive */
    assert_true(qf_model_find(q, "classifier.weight", NULL)->shape[0] == 3);
    qf_model_destroy(q);
}

static void test_dynamic_per_tensor_and_options(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32), *q = NULL;
    qf_quantize_params p = qf_quantize_params_default();
    p.per_tensor = true;
    p.quantize_word_embeddings = false;
    p.quantize_other_embeddings = false;
    assert_int_equal(qf_model_quantize_dynamic(src, &p, &q, NULL), QF_STATUS_OK);
    const qf_tensor *t = qf_model_find(q, "bert.encoder.layer.0.intermediate.dense.weight", NULL);
    assert_int_equal(t->quant.scheme, QF_QUANT_SYMMETRIC_PER_TENSOR);
    check_dequant_bound(src, q, "bert.encoder.layer.0.intermediate.dense.weight");
    assert_int_equal(qf_model_find(q, "bert.embeddings.word_embeddings.weight", NULL)->dtype, QF_DTYPE_F32);
    qf_model_destroy(q);
    p = qf_quantize_params_default();
    p.quantize_other_embeddings = true;
    p.min_elements = 0;
    assert_int_equal(qf_model_quantize_dynamic(src, &p, &q, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_find(q, "bert.embeddings.position_embeddings.weight", NULL)->dtype, QF_DTYPE_I8);
    assert_int_equal(qf_model_find(q, "classifier.weight", NULL)->dtype, QF_DTYPE_I8);
    qf_model_destroy(q);
    qf_model_destroy(src);
}

static void test_dynamic_thread_independent(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32), *a = NULL, *b = NULL;
    qf_quantize_params p = qf_quantize_params_default();
    p.threads = 1;
    assert_int_equal(qf_model_quantize_dynamic(src, &p, &a, NULL), QF_STATUS_OK);
    p.threads = 3;
    assert_int_equal(qf_model_quantize_dynamic(src, &p, &b, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(a), qf_model_tensor_count(b));
    for (size_t i = 0; i < qf_model_tensor_count(a); i++) {
        const qf_tensor *x = qf_model_tensor(a, i), *y = qf_model_tensor(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
    }
    qf_model_destroy(a);
    qf_model_destroy(b);
    qf_model_destroy(src);
}

static void test_dynamic_from_f16(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F16), *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(src, NULL, &q, NULL), QF_STATUS_OK);
    check_dequant_bound(src, q, "bert.encoder.layer.0.attention.self.query.weight");
    qf_model_destroy(q);
    qf_model_destroy(src);
}

static void test_convert_dtype(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32), *h = NULL, *q = NULL, *back = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_convert_dtype(src, QF_DTYPE_I8, &h, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_model_convert_dtype(src, QF_DTYPE_F16, &h, NULL), QF_STATUS_OK);
    const qf_tensor *t = qf_model_find(h, "bert.encoder.layer.0.attention.self.query.weight", NULL);
    const qf_tensor *s = qf_model_find(src, "bert.encoder.layer.0.attention.self.query.weight", NULL);
    assert_int_equal(t->dtype, QF_DTYPE_F16);
    assert_int_equal(t->nbytes, s->nbytes / 2);
    for (int i = 0; i < 32; i++)
        assert_int_equal(((const uint16_t *)t->data)[i], qf_f32_to_f16(((const float *)s->data)[i]));
    /* converting a quantized model keeps int8 tensors and their f32 scales */
    assert_int_equal(qf_model_quantize_dynamic(src, NULL, &q, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_convert_dtype(q, QF_DTYPE_BF16, &back, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_find(back, "bert.encoder.layer.0.attention.self.query.weight", NULL)->dtype, QF_DTYPE_I8);
    assert_int_equal(qf_model_find(back, "bert.encoder.layer.0.attention.self.query.weight::scale", NULL)->dtype,
                     QF_DTYPE_F32);
    assert_int_equal(qf_model_find(back, "bert.embeddings.LayerNorm.weight", NULL)->dtype, QF_DTYPE_BF16);
    qf_model_destroy(back);
    qf_model_destroy(q);
    qf_model_destroy(h);
    qf_model_destroy(src);
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* fast kernels == _ref, bit for bit, on rows of every length 0..70 and a long one */
static void test_simd_matches_ref(void **state)
{
    (void)state;
    print_message("AVX-512 kernels %s\n", qf_quantize_simd_available() ? "active" : "not available (ref only)");
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x);
    int8_t *a = malloc(N), *b = malloc(N);
    assert_non_null(x);
    uint32_t s = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = round < 71 ? (size_t)round : N - (size_t)(round % 17);
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rng_next(&s);
            /* random magnitudes from 1e-6 to 1e3, including raw random bit patterns */
            if (round % 5 == 4) {
                memcpy(&x[i], &r, 4);
            } else {
                x[i] = ((float)(r & 0xffffff) / 16777216.0f - 0.5f) * powf(10.0f, (float)((r >> 24) % 10) - 6.0f);
            }
        }
        float sr = qf_quant_scale_sym_i8_ref(x, n), sf = qf_quant_scale_sym_i8(x, n);
        assert_memory_equal(&sr, &sf, sizeof sr);
        for (int variant = 0; variant < 2; variant++) {
            float sc = variant == 0 ? sr : 0.37f;
            qf_quantize_row_sym_i8_ref(x, n, sc, a);
            memset(b, 0x55, N);
            qf_quantize_row_sym_i8(x, n, sc, b);
            if (n) assert_memory_equal(a, b, n);
            assert_int_equal(b[n < N ? n : N - 1], n < N ? 0x55 : b[N - 1]); /* nothing written past n */
        }
    }
    free(x);
    free(a);
    free(b);
}

/* exact halfway points k + 0.5 (scale 1 and scale 0.5), signed zeros, NaN, +-inf, saturation */
static void test_simd_ties_and_specials(void **state)
{
    (void)state;
    float x[300];
    size_t n = 0;
    for (int k = -130; k <= 129; k++) x[n++] = (float)k + 0.5f;
    float special[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 127.49999f, -127.5f, 1e30f, -1e30f, FLT_MIN,
                       -FLT_MIN, 0.49999997f, -0.49999997f, 1.5f, 2.5f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[n++] = special[i];
    int8_t a[300], b[300];
    float scales[] = {1.0f, 0.5f, 2.0f, 3.0f};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        for (size_t len = n - 20; len <= n; len++) {
            qf_quantize_row_sym_i8_ref(x, len, scales[s], a);
            qf_quantize_row_sym_i8(x, len, scales[s], b);
            assert_memory_equal(a, b, len);
        }
    }
    /* scale of rows with NaN / inf / only zeros */
    float rows[][5] = {{NAN, 3.0f, -5.0f, NAN, 1.0f}, {INFINITY, 1.0f, 0, 0, 0}, {0, -0.0f, 0, 0, 0}, {-NAN, 0, 0, 0, 2}};
    for (size_t r = 0; r < 4; r++) {
        float sr = qf_quant_scale_sym_i8_ref(rows[r], 5), sf = qf_quant_scale_sym_i8(rows[r], 5);
        assert_memory_equal(&sr, &sf, sizeof sr);
    }
}

static void read_whole(const char *path, uint8_t **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    assert_non_null(*out);
    assert_int_equal(fread(*out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
}

static void assert_same_file(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    read_whole(a, &x, &nx);
    read_whole(b, &y, &ny);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);
    free(x);
    free(y);
}

/* in-memory pass vs the lazy pass, each written by qf_qfile_write: the same bytes, and a file the
 * reader accepts with every checksum verified */
static void stream_vs_memory(qf_model *src, const qf_quantize_params *p, const char *tag)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/test_quantize_%s_%ld_mem.qf", QF_BINARY_DIR, tag, (long)getpid());
    snprintf(b, sizeof b, "%s/test_quantize_%s_%ld_stream.qf", QF_BINARY_DIR, tag, (long)getpid());
    qf_model *q = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_quantize_dynamic(src, p, &q, &err), QF_STATUS_OK);
    assert_int_equal(qf_qfile_write(q, a, NULL, &err), QF_STATUS_OK);
    qf_model_destroy(q);
    assert_int_equal(qf_model_quantize_dynamic_lazy(src, p, &q, &err), QF_STATUS_OK);
    assert_int_equal(qf_qfile_write(q, b, NULL, &err), QF_STATUS_OK);
    qf_model_destroy(q);
    assert_same_file(a, b);
    qf_read_params rp = qf_read_params_default();
    rp.verify_checksums = true;
    qf_model *back = NULL;
    assert_int_equal(qf_model_read(b, &rp, &back, &err), QF_STATUS_OK);
    qf_model_destroy(back);
    unlink(a);
    unlink(b);
}

static void test_stream_identical(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32);
    qf_quantize_params p = qf_quantize_params_default();
    p.threads = 1;
    stream_vs_memory(src, &p, "f32");
    p.per_tensor = true;
    p.threads = 2;
    stream_vs_memory(src, &p, "pertensor");
    p = qf_quantize_params_default();
    p.quantize_word_embeddings = false;
    p.min_elements = 0;
    stream_vs_memory(src, &p, "options");
    qf_model_destroy(src);
    src = make_model(QF_DTYPE_F16);
    stream_vs_memory(src, NULL, "f16");
    qf_model_destroy(src);
}

/* tied weights (one buffer under two names): carried tensors share one extent, quantized ones get
 * one each, in both paths; the bundled 2-layer BERT read from its PyTorch checkpoint */
static void test_stream_identical_tied_and_bundled(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32);
    const qf_tensor *w = qf_model_find(src, "bert.embeddings.word_embeddings.weight", NULL);
    const qf_tensor *b = qf_model_find(src, "bert.embeddings.LayerNorm.weight", NULL);
    assert_int_equal(qf_model_add_tensor(src, "cls.decoder.weight", NULL, w->dtype, w->rank, w->shape, w->data,
                                         w->nbytes, NULL, NULL),
                     QF_STATUS_OK);
    assert_int_equal(qf_model_add_tensor(src, "tied.norm.weight", NULL, b->dtype, b->rank, b->shape, b->data,
                                         b->nbytes, NULL, NULL),
                     QF_STATUS_OK);
    stream_vs_memory(src, NULL, "tied");
    qf_model_destroy(src);

    qf_model *mini = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(QF_SOURCE_DIR "/fixtures/debsec-mini/pytorch_model.bin", NULL, &mini, &err),
                     QF_STATUS_OK);
    stream_vs_memory(mini, NULL, "mini");
    qf_model_destroy(mini);
}

static void count_progress(void *ctx, size_t done, size_t total)
{
    (void)done;
    (void)total;
    ++*(int *)ctx;
}

/* The lazy model: its int8 weights and their scales (and nothing else) are produced; a second
 * write gives the same file; every consumer that needs the bytes in memory refuses it with
 * INVALID_ARGUMENT naming the first produced tensor, and writes nothing. */
static void test_lazy_refused_where_bytes_needed(void **state)
{
    (void)state;
    qf_model *src = make_model(QF_DTYPE_F32), *lazy = NULL, *q = NULL;
    qf_quantize_params p = qf_quantize_params_default();
    int calls = 0;
    p.progress = count_progress;
    p.progress_ctx = &calls;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_quantize_dynamic_lazy(src, &p, &lazy, &err), QF_STATUS_OK);
    assert_int_equal(calls, 0); /* nothing quantized until the model is written */
    assert_non_null(qf_model_producer(lazy));
    size_t produced = 0;
    for (size_t i = 0; i < qf_model_tensor_count(lazy); i++) {
        const qf_tensor *t = qf_model_tensor(lazy, i);
        bool quant_part = t->quant.scheme != QF_QUANT_NONE || strstr(t->name, "::scale") != NULL;
        assert_int_equal(qf_model_tensor_produced(lazy, i), quant_part);
        produced += quant_part;
    }
    assert_int_equal(produced, 2 * 4); /* word embedding, query, intermediate, zero_rows: + scales */
    const char *first = "bert.embeddings.word_embeddings.weight";

    char a[512], b[512];
    snprintf(a, sizeof a, "%s/test_quantize_lazy_%ld_a.qf", QF_BINARY_DIR, (long)getpid());
    snprintf(b, sizeof b, "%s/test_quantize_lazy_%ld_b.qf", QF_BINARY_DIR, (long)getpid());
    assert_int_equal(qf_qfile_write(lazy, a, NULL, &err), QF_STATUS_OK);
    assert_int_equal(calls, 4);
    assert_int_equal(qf_qfile_write(lazy, b, NULL, &err), QF_STATUS_OK);
    assert_same_file(a, b);
    unlink(a);
    unlink(b);

    char out[512];
    snprintf(out, sizeof out, "%s/test_quantize_lazy_%ld.out", QF_BINARY_DIR, (long)getpid());
    qf_error_clear(&err);
    assert_int_equal(qf_safetensors_write(lazy, out, NULL, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, first);
    assert_non_null(strstr(err.message, "the safetensors writer needs its bytes in memory"));
    assert_int_equal(access(out, F_OK), -1);

    qf_error_clear(&err);
    assert_int_equal(qf_onnx_export(lazy, out, NULL, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, first);
    assert_non_null(strstr(err.message, "the ONNX export needs its bytes in memory"));
    assert_int_equal(access(out, F_OK), -1);

    qf_error_clear(&err);
    assert_int_equal(qf_onnx_write_dynamic(QF_SOURCE_DIR "/fixtures/onnx-rewrite/unused.onnx", lazy, out, NULL, &err),
                     QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, first);
    assert_non_null(strstr(err.message, "the ONNX writer needs its bytes in memory"));
    assert_int_equal(access(out, F_OK), -1);

    qf_error_clear(&err);
    assert_int_equal(qf_model_quantize_dynamic(lazy, NULL, &q, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_null(q);
    assert_string_equal(err.object, first);
    qf_error_clear(&err);
    assert_int_equal(qf_model_convert_dtype(lazy, QF_DTYPE_F16, &q, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_null(q);

    /* the lazy model keeps the source alive */
    qf_model_destroy(src);
    assert_int_equal(qf_qfile_write(lazy, a, NULL, &err), QF_STATUS_OK);
    unlink(a);
    qf_model_destroy(lazy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_round_half_to_even_and_clamp),
        cmocka_unit_test(test_dynamic_selection_and_bound),
        cmocka_unit_test(test_dynamic_per_tensor_and_options),
        cmocka_unit_test(test_dynamic_thread_independent),
        cmocka_unit_test(test_dynamic_from_f16),
        cmocka_unit_test(test_convert_dtype),
        cmocka_unit_test(test_simd_matches_ref),
        cmocka_unit_test(test_simd_ties_and_specials),
        cmocka_unit_test(test_stream_identical),
        cmocka_unit_test(test_stream_identical_tied_and_bundled),
        cmocka_unit_test(test_lazy_refused_where_bytes_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
