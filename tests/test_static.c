/*
 * tests/test_static.c — static int8 end to end on the bundled debsec-mini model: the activation
 * QuantizeLinear reference at ties and saturation; oneDNN's int8 GEMM (activation shifted to u8,
 * zero point 128) bit-exact against the s8 x s8 reference; the static artifact (tensors, scales,
 * metadata, --fp32 patterns, SmoothQuant) run by the encoder with oneDNN and with the reference
 * kernels to the same hidden-state bits; its agreement with FP32 for every method; the .qf round
 * trip; and the accuracy-aware fallback reverting projections until the budget holds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/calibrate.h"
#include "qforge/verify.h"
#include "qforge/readers.h"
#include "qforge/writers.h"
#include "runtime/kernels.h"

#define MINI QF_SOURCE_DIR "/fixtures/debsec-mini"

static unsigned g_seed = 12345;
static unsigned next_rand(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 17;
    g_seed ^= g_seed << 5;
    return g_seed;
}

static void test_quantize_s8_ref(void **state)
{
    (void)state;
    const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, 200.0f, -127.5f, -128.5f, -1e9f, NAN, 3.49f};
    const int8_t want[] = {0, 2, 2, 0, -2, -2, 126, 127, 127, -128, -128, -128, 0, 3};
    int8_t q[14];
    qf_quantize_row_s8_ref(x, 14, 1.0f, q);
    assert_memory_equal(q, want, 14);
    /* x / s then rounding: 0.3 / 0.1 = 2.9999998 in f32 -> 3 */
    const float y[] = {0.3f, -0.25f};
    qf_quantize_row_s8_ref(y, 2, 0.1f, q);
    assert_int_equal(q[0], 3);
    assert_int_equal(q[1], -2); /* -2.5 -> -2 (half to even) */
}

static void test_s8_gemm_bit_exact(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_dnnl *d = NULL;
    assert_int_equal(qf_dnnl_create(&d, &err), QF_STATUS_OK);
    const int64_t shapes[][3] = {{1, 48, 64}, {7, 48, 256}, {33, 130, 512}, {128, 256, 1024}};
    for (size_t c = 0; c < 4; c++) {
        int64_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        int8_t *x = malloc((size_t)(m * k)), *w = malloc((size_t)(n * k));
        uint8_t *u = malloc((size_t)(m * k));
        int32_t *ref = malloc((size_t)(m * n) * 4), *fast = malloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * k; i++) x[i] = (int8_t)(next_rand() & 0xff);
        for (int64_t i = 0; i < n * k; i++) w[i] = (int8_t)((int)(next_rand() % 255) - 127);
        /* extremes: a row of -128 against a row of 127 and -127 */
        for (int64_t t = 0; t < k; t++) x[t] = -128, w[t] = 127, w[k + t] = -127;
        qf_gemm_s8s8s32_ref(x, w, m, n, k, ref);
        qf_dnnl_gemm *g = NULL;
        assert_int_equal(qf_dnnl_gemm_create(d, true, w, n, k, m, &g, &err), QF_STATUS_OK);
        for (int64_t i = 0; i < m * k; i++) u[i] = (uint8_t)((uint8_t)x[i] ^ 0x80u);
        assert_int_equal(qf_dnnl_gemm_u8s8s32(g, u, 128, m, fast, &err), QF_STATUS_OK);
        assert_memory_equal(ref, fast, (size_t)(m * n) * 4);
        assert_int_equal(ref[0], -128 * 127 * (int32_t)k);
        qf_dnnl_gemm_destroy(g);
        free(x), free(w), free(u), free(ref), free(fast);
    }
    qf_dnnl_destroy(d);
}

typedef struct fixture {
    qf_model *src;
    qf_tokenizer *tok;
    qf_dataset *data;
    qf_calib_stats *stats;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    qf_error err;
    qf_error_clear(&err);
    if (qf_model_read(MINI "/pytorch_model.bin", NULL, &f->src, &err) || qf_arch_map(f->src, NULL, &err) ||
        qf_tokenizer_load(MINI "/tokenizer.json", &f->tok, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    qf_dataset_params dp = qf_dataset_params_default();
    dp.config_json = qf_model_config_json(f->src);
    if (qf_dataset_load(MINI "/eval.jsonl", f->tok, &dp, &f->data, &err)) return -1;
    qf_calibrate_params cp = qf_calibrate_params_default();
    cp.threads = 1;
    cp.samples = 100;
    if (qf_calibrate_run(f->src, f->data, &cp, &f->stats, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qf_calib_stats_destroy(f->stats);
    qf_dataset_destroy(f->data);
    qf_tokenizer_destroy(f->tok);
    qf_model_destroy(f->src);
    free(f);
    return 0;
}

static qf_model *build(fixture *f, const qf_static_params *p)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_quantize_static(f->src, f->stats, p, &m, &err)) fail_msg("%s", err.message);
    return m;
}

static float scalar(const qf_model *m, const char *name)
{
    const qf_tensor *t = qf_model_find(m, name, NULL);
    assert_non_null(t);
    assert_int_equal(t->dtype, QF_DTYPE_F32);
    float v;
    memcpy(&v, t->data, 4);
    return v;
}

static void test_static_artifact(void **state)
{
    fixture *f = *state;
    qf_static_params p = qf_static_params_default();
    p.method = QF_CALIB_METHOD_MINMAX;
    const char *pat[] = {"layers.1.ffn.*"};
    p.fp32_patterns = pat;
    p.fp32_pattern_count = 1;
    qf_model *m = build(f, &p);
    /* minmax: s = max|x| / 127 of the site; q, k, v share it */
    const qf_calib_entry *e = qf_calib_stats_find(f->stats, "layers.0.attn.qkv.input");
    float want = (float)(fmax(fabs(e->min), fabs(e->max)) / 127.0);
    assert_true(scalar(m, "layers.0.attn.q.input::scale") == want);
    assert_true(scalar(m, "layers.0.attn.k.input::scale") == want);
    assert_true(scalar(m, "layers.0.attn.v.input::scale") == want);
    assert_int_equal(qf_model_find(m, "layers.0.attn.q.weight", NULL)->dtype, QF_DTYPE_I8);
    assert_int_equal(qf_model_find(m, "layers.0.attn.q.weight", NULL)->quant.scheme, QF_QUANT_SYMMETRIC_PER_CHANNEL);
    /* the pattern kept layer 1's FFN in FP32, without scales */
    assert_int_equal(qf_model_find(m, "layers.1.ffn.up.weight", NULL)->dtype, QF_DTYPE_F32);
    assert_null(qf_model_find(m, "layers.1.ffn.down.input::scale", NULL));
    assert_null(qf_model_find(m, "layers.0.attn.q.input::smooth", NULL));
    assert_string_equal(qf_model_get_meta(m, "quant.mode"), "static");
    assert_string_equal(qf_model_get_meta(m, "quant.method"), "minmax");
    assert_string_equal(qf_model_get_meta(m, "quant.fp32_projections"), "layers.1.ffn.up,layers.1.ffn.down");
    assert_string_equal(qf_model_get_meta(m, "quant.static_projections"), "10");
    assert_string_equal(qf_model_get_meta(m, "quant.calibration.rows"), "100");
    assert_int_equal(qf_model_find(m, "pooler.weight", NULL)->dtype, QF_DTYPE_F32);
    qf_model_destroy(m);
    /* fp32 patterns: QF_STATIC_MAX_FP32_PATTERNS accepted, one more refused */
    const char *many[QF_STATIC_MAX_FP32_PATTERNS + 1];
    for (size_t i = 0; i <= QF_STATIC_MAX_FP32_PATTERNS; i++) many[i] = "nothing.matches";
    p.fp32_patterns = many;
    p.fp32_pattern_count = QF_STATIC_MAX_FP32_PATTERNS;
    m = build(f, &p);
    assert_string_equal(qf_model_get_meta(m, "quant.static_projections"), "12");
    qf_model *none = NULL;
    qf_error perr;
    qf_error_clear(&perr);
    p.fp32_pattern_count = QF_STATIC_MAX_FP32_PATTERNS + 1;
    assert_int_equal(qf_model_quantize_static(f->src, f->stats, &p, &none, &perr), QF_STATUS_LIMIT);
    assert_null(none);

    /* oneDNN and the reference kernels give the same hidden-state bits (every projection of the
     * encoder body is int8 or the same FP32 in both; only the FP32 pooler/head GEMMs round apart) */
    p.fp32_pattern_count = 0;
    qf_model_destroy(m);
    m = build(f, &p);
    int32_t ids[2 * 12], mask[2 * 12], types[2 * 12] = {0};
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 12; t++) {
            const qf_dataset_row *r = qf_dataset_row_at(f->data, (size_t)b);
            ids[b * 12 + t] = t < r->length ? r->input_ids[t] : 0;
            mask[b * 12 + t] = t < r->length && t < (b ? 7 : 12);
        }
    qf_encoder_batch in = {2, 12, ids, mask, types};
    float *hidden[2], *logits[2];
    for (int k = 0; k < 2; k++) {
        qf_encoder_params ep = qf_encoder_params_default();
        ep.mode = QF_ENCODER_MODE_STATIC_INT8;
        ep.reference_kernels = k == 1;
        ep.threads = 1;
        ep.max_batch = 2;
        ep.max_length = 12;
        qf_encoder *enc = NULL;
        qf_error err;
        qf_error_clear(&err);
        if (qf_encoder_create(m, &ep, &enc, &err)) fail_msg("%s", err.message);
        qf_encoder_output o;
        assert_int_equal(qf_encoder_run(enc, &in, &o, &err), 0);
        hidden[k] = malloc(2 * 12 * 128 * 4);
        logits[k] = malloc(2 * 30 * 4);
        memcpy(hidden[k], o.last_hidden, 2 * 12 * 128 * 4);
        memcpy(logits[k], o.logits, 2 * 30 * 4);
        qf_encoder_destroy(enc);
    }
    assert_memory_equal(hidden[0], hidden[1], 2 * 12 * 128 * 4);
    for (int i = 0; i < 60; i++) assert_true(fabsf(logits[0][i] - logits[1][i]) < 1e-4f);
    for (int k = 0; k < 2; k++) free(hidden[k]), free(logits[k]);

    /* through a .qf file: the same tensors and the recipe */
    char path[] = "/tmp/qf_static_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_qfile_write(m, path, NULL, &err), 0);
    qf_model *r = NULL;
    assert_int_equal(qf_model_read(path, NULL, &r, &err), 0);
    assert_true(scalar(r, "layers.1.ffn.down.input::scale") == scalar(m, "layers.1.ffn.down.input::scale"));
    assert_string_equal(qf_model_get_meta(r, "quant.mode"), "static");
    qf_model_destroy(r);
    unlink(path);
    qf_model_destroy(m);
}

/* A static scale that is not one finite positive f32 is refused by the encoder. */
static void test_bad_scale_refused(void **state)
{
    fixture *f = *state;
    qf_model *m = build(f, NULL);
    const qf_tensor *t = qf_model_find(m, "layers.0.attn.out.input::scale", NULL);
    float bad = -1.0f;
    memcpy((void *)t->data, &bad, 4); /* owned by the model (qf_model_alloc) */
    qf_encoder_params ep = qf_encoder_params_default();
    ep.mode = QF_ENCODER_MODE_STATIC_INT8;
    ep.threads = 1;
    qf_encoder *enc = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_create(m, &ep, &enc, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "layers.0.attn.out.input::scale");
    qf_model_destroy(m);
}

static void test_methods_agree_with_fp32(void **state)
{
    fixture *f = *state;
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = 1;
    for (int method = 0; method < QF_CALIB_METHOD_COUNT_; method++) {
        for (int sm = 0; sm < 2; sm++) {
            qf_static_params p = qf_static_params_default();
            p.method = (qf_calib_method)method;
            p.smooth_alpha = sm ? 0.5 : 0.0;
            qf_model *m = build(f, &p);
            if (sm) assert_non_null(qf_model_find(m, "layers.1.ffn.up.input::smooth", NULL));
            qf_verify_report r;
            qf_error err;
            qf_error_clear(&err);
            if (qf_verify_run(f->src, m, QF_ENCODER_MODE_STATIC_INT8, f->data, &vp, &r, &err)) fail_msg("%s", err.message);
            print_message("%-10s smooth %-3s agreement %.2f%% drop %.2f pt\n", qf_calib_method_name(p.method),
                          sm ? "0.5" : "off", 100 * r.agreement, r.drop_points);
            assert_true(r.agreement >= 0.97);
            assert_true(r.mean_cosine > 0.999);
            qf_verify_report_free(&r);
            qf_model_destroy(m);
        }
    }
}

static void test_fallback(void **state)
{
    fixture *f = *state;
    /* a deliberately poor setting: the 50th percentile clips half of every activation */
    qf_static_params p = qf_static_params_default();
    p.method = QF_CALIB_METHOD_PERCENTILE;
    p.percentile = 50;
    qf_dataset_params dp = qf_dataset_params_default();
    dp.config_json = qf_model_config_json(f->src);
    dp.limit = 120;
    qf_dataset *d = NULL, *sens = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(MINI "/eval.jsonl", f->tok, &dp, &d, &err), 0);
    dp.limit = 40;
    assert_int_equal(qf_dataset_load(MINI "/eval.jsonl", f->tok, &dp, &sens, &err), 0);
    qf_fallback_params fp = qf_fallback_params_default();
    fp.max_drop = 1.0;
    fp.sensitivity_data = sens;
    fp.verify.threads = 1;
    qf_fallback_report rep;
    qf_model *m = NULL;
    if (qf_static_fallback(f->src, f->stats, &p, d, &fp, &m, &rep, &err)) fail_msg("%s", err.message);
    print_message("fallback: %.2f -> %.2f pt, %zu reverted\n", rep.initial_drop, rep.final_drop, rep.steps);
    assert_true(rep.initial_drop > 1.0);
    assert_true(rep.within_budget);
    assert_true(rep.final_drop <= 1.0);
    assert_true(rep.steps >= 1);
    /* each reverted projection is FP32 in the model and named in the metadata; drops recorded */
    for (size_t i = 0; i < rep.steps; i++) {
        char w[96];
        snprintf(w, sizeof w, "%s.weight", rep.step[i].stem);
        assert_int_equal(qf_model_find(m, w, NULL)->dtype, QF_DTYPE_F32);
        assert_non_null(strstr(qf_model_get_meta(m, "quant.fallback.reverted"), rep.step[i].stem));
    }
    assert_true(rep.step[rep.steps - 1].drop_after == rep.final_drop);
    assert_string_equal(qf_model_get_meta(m, "quant.fallback.within_budget"), "true");
    /* measured again independently: the same drop */
    qf_verify_report r;
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = 1;
    assert_int_equal(qf_verify_run(f->src, m, QF_ENCODER_MODE_STATIC_INT8, d, &vp, &r, &err), 0);
    assert_true(fabs(r.drop_points - rep.final_drop) < 1e-9);
    qf_verify_report_free(&r);
    qf_fallback_report_free(&rep);
    qf_model_destroy(m);
    qf_dataset_destroy(d);
    qf_dataset_destroy(sens);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_s8_ref),
        cmocka_unit_test(test_s8_gemm_bit_exact),
        cmocka_unit_test(test_static_artifact),
        cmocka_unit_test(test_bad_scale_refused),
        cmocka_unit_test(test_methods_agree_with_fp32),
        cmocka_unit_test(test_fallback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
