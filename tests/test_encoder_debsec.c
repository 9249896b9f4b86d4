/*
 * tests/test_encoder_debsec.c — the reference encoder on the shared debsec-bert model
 * (QF_SHARED_DIR/models/debsec-bert): FP32 logits from model.safetensors, pytorch_model.bin and a
 * .qf written from them must match the logits Hugging Face transformers computed
 * (reference_logits.json, 256 rows padded to 48) within 1e-4; the dynamic int8 model's top-1
 * agreement and logit distance are printed, and the single-thread latency of one 48-token forward.
 * Skips (77) when the shared folder is absent.
 */
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

#define MODEL_DIR QF_SHARED_DIR "/models/debsec-bert"
enum { ROWS = 256, LEN = 48, LABELS = 30 };

static int32_t g_ids[ROWS * LEN], g_mask[ROWS * LEN];
static float g_ref[ROWS * LABELS];
static float g_fp32[ROWS * LABELS];

static void load_reference(void)
{
    json_object *root = json_object_from_file(MODEL_DIR "/reference_logits.json");
    assert_non_null(root);
    json_object *ids, *logits;
    assert_true(json_object_object_get_ex(root, "input_ids", &ids));
    assert_true(json_object_object_get_ex(root, "logits", &logits));
    assert_int_equal(json_object_array_length(ids), ROWS);
    assert_int_equal(json_object_array_length(logits), ROWS);
    for (int r = 0; r < ROWS; r++) {
        json_object *row = json_object_array_get_idx(ids, (size_t)r), *lr = json_object_array_get_idx(logits, (size_t)r);
        assert_int_equal(json_object_array_length(row), LEN);
        assert_int_equal(json_object_array_length(lr), LABELS);
        for (int t = 0; t < LEN; t++) {
            int32_t id = json_object_get_int(json_object_array_get_idx(row, (size_t)t));
            g_ids[r * LEN + t] = id;
            g_mask[r * LEN + t] = id != 0; /* 0 = [PAD] */
        }
        for (int c = 0; c < LABELS; c++)
            g_ref[r * LABELS + c] = (float)json_object_get_double(json_object_array_get_idx(lr, (size_t)c));
    }
    json_object_put(root);
}

static qf_model *read_model(const char *path)
{
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_model_read(path, &rp, &m, &err);
    if (s) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    assert_int_equal(s, QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    return m;
}

static void run_all(qf_model *m, qf_encoder_mode mode, int threads, float *logits)
{
    qf_encoder_params p = qf_encoder_params_default();
    p.mode = mode;
    p.max_batch = ROWS;
    p.max_length = LEN;
    p.threads = threads;
    qf_encoder *e = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_encoder_create(m, &p, &e, &err);
    if (s) fprintf(stderr, "encoder: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    qf_encoder_batch in = {ROWS, LEN, g_ids, g_mask, NULL};
    qf_encoder_output out;
    s = qf_encoder_run(e, &in, &out, &err);
    if (s) fprintf(stderr, "run: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    assert_int_equal(out.num_labels, LABELS);
    memcpy(logits, out.logits, sizeof(float) * ROWS * LABELS);
    qf_encoder_destroy(e);
}

static float max_delta(const float *a, const float *b)
{
    float w = 0.0f;
    for (int i = 0; i < ROWS * LABELS; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= w)) w = d;
    }
    return w;
}

static int argmax(const float *v)
{
    int k = 0;
    for (int c = 1; c < LABELS; c++)
        if (v[c] > v[k]) k = c;
    return k;
}

static void check_fp32(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MODEL_DIR, file);
    qf_model *m = read_model(path);
    static float logits[ROWS * LABELS];
    run_all(m, QF_ENCODER_MODE_FP32, 1, logits);
    float d = max_delta(logits, g_ref);
    printf("debsec-bert %s: FP32 max|dlogit| vs transformers = %.3g over %d rows\n", file, (double)d, ROWS);
    assert_true(d <= 1e-4f);
    memcpy(g_fp32, logits, sizeof logits);
    qf_model_destroy(m);
}

static void test_fp32_safetensors(void **state) { (void)state; check_fp32("model.safetensors"); }
static void test_fp32_torch(void **state) { (void)state; check_fp32("pytorch_model.bin"); }

static void temp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/test_encoder_debsec_%ld_%s", QF_BINARY_DIR, (long)getpid(), name);
}

/* Maps, writes .qf, reads it back: the artifact must run to the same numbers. */
static void test_fp32_qf(void **state)
{
    (void)state;
    qf_model *m = read_model(MODEL_DIR "/model.safetensors");
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK);
    char path[1024];
    temp_path(path, sizeof path, "fp32.qf");
    qf_qfile_write_params wp = qf_qfile_write_params_default();
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_qfile_write(m, path, &wp, &err);
    if (s) fprintf(stderr, "write: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    qf_model_destroy(m);
    qf_model *r = read_model(path);
    static float logits[ROWS * LABELS];
    run_all(r, QF_ENCODER_MODE_FP32, 1, logits);
    float d = max_delta(logits, g_ref);
    printf("debsec-bert .qf (FP32): max|dlogit| vs transformers = %.3g\n", (double)d);
    assert_true(d <= 1e-4f);
    qf_model_destroy(r);
    unlink(path);
}

static void test_dynamic_int8(void **state)
{
    (void)state;
    qf_model *m = read_model(MODEL_DIR "/model.safetensors");
    static float fp32[ROWS * LABELS], i8[ROWS * LABELS], i8qf[ROWS * LABELS];
    run_all(m, QF_ENCODER_MODE_FP32, 1, fp32);
    qf_model *q = NULL;
    qf_quantize_params qp = qf_quantize_params_default();
    assert_int_equal(qf_model_quantize_dynamic(m, &qp, &q, NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(q, NULL, &err), QF_STATUS_OK);
    run_all(q, QF_ENCODER_MODE_DYNAMIC_INT8, 1, i8);
    int agree = 0, agree_ref = 0;
    for (int r = 0; r < ROWS; r++) {
        agree += argmax(fp32 + r * LABELS) == argmax(i8 + r * LABELS);
        agree_ref += argmax(g_ref + r * LABELS) == argmax(fp32 + r * LABELS);
    }
    float d = max_delta(fp32, i8);
    printf("debsec-bert dynamic int8: top-1 agreement with FP32 %d/%d (%.2f%%), max|dlogit| %.3g\n", agree, ROWS,
           100.0 * agree / ROWS, (double)d);
    assert_int_equal(agree_ref, ROWS);
    assert_true(agree >= ROWS * 9 / 10); /* int8 must stay close; measured well above this */
    assert_true(d > 0.0f && d < 5.0f);

    /* the int8 artifact as a .qf runs to the same bits */
    char path[1024];
    temp_path(path, sizeof path, "int8.qf");
    qf_qfile_write_params wp = qf_qfile_write_params_default();
    qf_status s = qf_qfile_write(q, path, &wp, &err);
    if (s) fprintf(stderr, "write: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    qf_model *r = read_model(path);
    run_all(r, QF_ENCODER_MODE_DYNAMIC_INT8, 1, i8qf);
    assert_memory_equal(i8, i8qf, sizeof i8);
    qf_model_destroy(r);
    unlink(path);
    qf_model_destroy(q);
    qf_model_destroy(m);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One batch-1 x 48-token forward on one thread (printed, not asserted: shared machines vary). */
static void test_latency(void **state)
{
    (void)state;
    qf_model *m = read_model(MODEL_DIR "/model.safetensors");
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(m, NULL, &q, NULL), QF_STATUS_OK);
    int32_t ids[LEN], mask[LEN];
    for (int t = 0; t < LEN; t++) {
        ids[t] = g_ids[t % 9] ? g_ids[t % 9] : 100 + t; /* 48 real tokens */
        mask[t] = 1;
    }
    qf_model *models[2] = {m, q};
    const char *names[2] = {"FP32", "dynamic int8"};
    for (int k = 0; k < 2; k++) {
        qf_encoder_params p = qf_encoder_params_default();
        p.mode = k ? QF_ENCODER_MODE_DYNAMIC_INT8 : QF_ENCODER_MODE_FP32;
        p.threads = 1;
        p.max_batch = 1;
        p.max_length = LEN;
        qf_encoder *e = NULL;
        assert_int_equal(qf_encoder_create(models[k], &p, &e, NULL), QF_STATUS_OK);
        qf_encoder_batch in = {1, LEN, ids, mask, NULL};
        qf_encoder_output out;
        for (int w = 0; w < 3; w++) assert_int_equal(qf_encoder_run(e, &in, &out, NULL), QF_STATUS_OK);
        const int iters = 30;
        double best = 1e9, total = 0.0;
        for (int i = 0; i < iters; i++) {
            double t0 = now_s();
            assert_int_equal(qf_encoder_run(e, &in, &out, NULL), QF_STATUS_OK);
            double dt = now_s() - t0;
            total += dt;
            if (dt < best) best = dt;
        }
        printf("debsec-bert %s, 1 thread, batch 1 x %d tokens: mean %.3f ms, best %.3f ms\n", names[k], LEN,
               1e3 * total / iters, 1e3 * best);
        qf_encoder_destroy(e);
    }
    qf_model_destroy(q);
    qf_model_destroy(m);
}

int main(void)
{
    struct stat st;
    if (stat(MODEL_DIR "/reference_logits.json", &st) != 0) {
        printf("SKIP: %s not found (the shared models folder is absent)\n", MODEL_DIR);
        return 77;
    }
    load_reference();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_safetensors), cmocka_unit_test(test_fp32_torch), cmocka_unit_test(test_fp32_qf),
        cmocka_unit_test(test_dynamic_int8),     cmocka_unit_test(test_latency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
