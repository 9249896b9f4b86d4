/*
 * tests/test_encoder_families.c — the reference encoder against Hugging Face transformers itself,
 * for each family fixture (fixtures/families/{bert,roberta,distilbert,electra}, saved by
 * transformers 5.17 with its outputs in reference.json; mpnet, albert, deberta-v2: the outputs of a PyTorch
 * statement of transformers' modeling file, reference.json "computed_by"): our tokenizer reproduces its ids,
 * our FP32 logits match its logits to 1e-4 (from the checkpoint and from the FP32 .qf), the last
 * hidden state matches too, and the dynamic int8 path keeps the top-1 class. For MPNet, every
 * relative-position bucket of -600..600 equals the reference's; for DeBERTa every log-bucketed
 * relative position of -1100..1100 under six configurations.
 */
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

#define FAMILIES QF_SOURCE_DIR "/fixtures/families"

static qf_model *read_model(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(path, NULL, &m, &err)) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s", line);
    }
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    return m;
}

/* Flattens a JSON array of arrays of ints into int32 [rows][cols]. */
static int32_t *int_matrix(json_object *arr, int64_t *rows, int64_t *cols)
{
    *rows = (int64_t)json_object_array_length(arr);
    *cols = (int64_t)json_object_array_length(json_object_array_get_idx(arr, 0));
    int32_t *out = calloc((size_t)(*rows * *cols), sizeof(int32_t));
    for (int64_t r = 0; r < *rows; r++) {
        json_object *row = json_object_array_get_idx(arr, (size_t)r);
        for (int64_t c = 0; c < *cols; c++) out[r * *cols + c] = json_object_get_int(json_object_array_get_idx(row, (size_t)c));
    }
    return out;
}

static double max_logit_diff(const float *logits, json_object *want, int64_t batch, int64_t labels)
{
    double worst = 0;
    for (int64_t b = 0; b < batch; b++) {
        json_object *row = json_object_array_get_idx(want, (size_t)b);
        assert_int_equal(json_object_array_length(row), labels);
        for (int64_t k = 0; k < labels; k++) {
            double d = fabs((double)logits[b * labels + k] - json_object_get_double(json_object_array_get_idx(row, (size_t)k)));
            if (d > worst) worst = d;
        }
    }
    return worst;
}

static void check_family(const char *family)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", FAMILIES, family);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_object *ref = json_object_from_file(path);
    assert_non_null(ref);
    json_object *weights, *batch_obj, *ids_arr, *mask_arr, *types_arr = NULL, *logits, *texts, *unpadded;
    assert_true(json_object_object_get_ex(ref, "weights_file", &weights));
    /* who computed the outputs: transformers, unless the fixture says otherwise */
    const char *oracle = json_object_object_get_ex(ref, "computed_by", NULL) ? "torch statement" : "transformers";
    assert_true(json_object_object_get_ex(ref, "batch", &batch_obj));
    assert_true(json_object_object_get_ex(batch_obj, "input_ids", &ids_arr));
    assert_true(json_object_object_get_ex(batch_obj, "attention_mask", &mask_arr));
    json_object_object_get_ex(batch_obj, "token_type_ids", &types_arr);
    assert_true(json_object_object_get_ex(ref, "logits", &logits));
    assert_true(json_object_object_get_ex(ref, "texts", &texts));
    assert_true(json_object_object_get_ex(ref, "unpadded", &unpadded));
    int64_t batch, length, r2, c2;
    int32_t *ids = int_matrix(ids_arr, &batch, &length);
    int32_t *mask = int_matrix(mask_arr, &r2, &c2);
    int32_t *types = types_arr ? int_matrix(types_arr, &r2, &c2) : NULL;

    /* our tokenizer gives transformers' ids (max_length 32, truncation as transformers does it) */
    qf_tokenizer *tok = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &tok, &err), QF_STATUS_OK);
    qf_encoding enc;
    qf_encoding_init(&enc);
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = (int32_t)length;
    for (int64_t b = 0; b < batch; b++) {
        json_object *text = json_object_array_get_idx(texts, (size_t)b), *want = NULL;
        json_object_object_get_ex(json_object_array_get_idx(unpadded, (size_t)b), "input_ids", &want);
        assert_int_equal(qf_tokenizer_encode(tok, json_object_get_string(text), (size_t)json_object_get_string_len(text),
                                             &tp, &enc, &err),
                         QF_STATUS_OK);
        assert_int_equal(enc.length, json_object_array_length(want));
        for (size_t t = 0; t < enc.length; t++)
            assert_int_equal(enc.input_ids[t], json_object_get_int(json_object_array_get_idx(want, t)));
    }
    qf_encoding_free(&enc);
    qf_tokenizer_destroy(tok);

    /* FP32 from the checkpoint, then from its FP32 .qf */
    snprintf(path, sizeof path, "%s/%s", dir, json_object_get_string(weights));
    qf_model *m = read_model(path);
    char qf_path[600];
    snprintf(qf_path, sizeof qf_path, "%s/family-%s.f32.qf", QF_BINARY_DIR, family);
    for (int pass = 0; pass < 2; pass++) {
        qf_model *use = pass == 0 ? qf_model_retain(m) : read_model(qf_path);
        qf_encoder_params ep = qf_encoder_params_default();
        ep.threads = 1;
        qf_encoder *e = NULL;
        assert_int_equal(qf_encoder_create(use, &ep, &e, &err), QF_STATUS_OK);
        qf_encoder_batch in = {batch, length, ids, mask, types};
        qf_encoder_output out;
        assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_OK);
        double d = max_logit_diff(out.logits, logits, batch, out.num_labels);
        printf("%-10s %s: FP32 max |logit - %s| = %.3g over %lld rows\n", family,
               pass == 0 ? json_object_get_string(weights) : "FP32 .qf", oracle, d, (long long)batch);
        assert_true(d <= 1e-4);
        if (pass == 0) {
            /* last hidden state of the first text, real tokens only */
            json_object *lhs = NULL, *values = NULL;
            if (json_object_object_get_ex(ref, "last_hidden_state", &lhs)) {
                json_object *first = json_object_array_get_idx(lhs, 0);
                json_object_object_get_ex(first, "values", &values);
                double worst = 0;
                for (size_t t = 0; values && t < json_object_array_length(values); t++) {
                    json_object *row = json_object_array_get_idx(values, t);
                    for (size_t h = 0; h < json_object_array_length(row); h++) {
                        double x = out.last_hidden[t * (size_t)out.hidden_size + h];
                        double dd = fabs(x - json_object_get_double(json_object_array_get_idx(row, h)));
                        if (dd > worst) worst = dd;
                    }
                }
                assert_true(worst <= 1e-4);
            }
            /* the model as mapped (canonical names) goes to .qf for pass 1 */
            assert_int_equal(qf_qfile_write(use, qf_path, NULL, &err), QF_STATUS_OK);
        }
        qf_encoder_destroy(e);
        qf_model_destroy(use);
    }

    /* dynamic int8 keeps the top-1 class of every text on these tiny models */
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(m, NULL, &q, &err), QF_STATUS_OK);
    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = 1;
    ep.mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    qf_encoder *e = NULL;
    assert_int_equal(qf_encoder_create(q, &ep, &e, &err), QF_STATUS_OK);
    qf_encoder_batch in = {batch, length, ids, mask, types};
    qf_encoder_output out;
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_OK);
    printf("%-10s dynamic int8: max |logit - %s FP32| = %.3g\n", family, oracle,
           max_logit_diff(out.logits, logits, batch, out.num_labels));
    for (int64_t b = 0; b < batch; b++) {
        json_object *row = json_object_array_get_idx(logits, (size_t)b);
        int64_t want = 0, got = 0;
        for (int64_t k = 1; k < out.num_labels; k++) {
            if (json_object_get_double(json_object_array_get_idx(row, (size_t)k)) >
                json_object_get_double(json_object_array_get_idx(row, (size_t)want)))
                want = k;
            if (out.logits[b * out.num_labels + k] > out.logits[b * out.num_labels + got]) got = k;
        }
        assert_int_equal(got, want);
    }
    qf_encoder_destroy(e);
    qf_model_destroy(q);
    qf_model_destroy(m);
    free(ids);
    free(mask);
    free(types);
    json_object_put(ref);
}

static void test_bert(void **state) { (void)state; check_family("bert"); }
static void test_roberta(void **state) { (void)state; check_family("roberta"); }
static void test_distilbert(void **state) { (void)state; check_family("distilbert"); }
static void test_electra(void **state) { (void)state; check_family("electra"); }
static void test_albert(void **state) { (void)state; check_family("albert"); }
static void test_mpnet(void **state)
{
    (void)state;
    check_family("mpnet");
    /* the bucket of every relative position a 512-token sequence has, and past max_distance */
    char path[512];
    snprintf(path, sizeof path, "%s/mpnet/reference.json", FAMILIES);
    json_object *ref = json_object_from_file(path), *rb, *range, *buckets;
    assert_non_null(ref);
    assert_true(json_object_object_get_ex(ref, "relative_position_buckets", &rb));
    assert_true(json_object_object_get_ex(rb, "relative_positions", &range));
    assert_true(json_object_object_get_ex(rb, "buckets", &buckets));
    const int64_t lo = json_object_get_int64(json_object_array_get_idx(range, 0));
    qf_arch a;
    memset(&a, 0, sizeof a);
    a.desc = qf_family_of(QF_ARCH_FAMILY_MPNET);
    size_t n = json_object_array_length(buckets), differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += qf_arch_relative_bucket(&a, lo + (int64_t)i) != json_object_get_int64(json_object_array_get_idx(buckets, i));
    printf("mpnet      relative-position buckets %lld..%lld: %zu of %zu differ\n", (long long)lo,
           (long long)(lo + (int64_t)n - 1), differ, n);
    assert_true(n >= 1201);
    assert_int_equal(differ, 0);
    json_object_put(ref);
}

/* DeBERTa-v2/v3: the fixture, then every log-bucketed relative position of -1100..1100 for its
 * configuration and the public checkpoints' (position_buckets 256, max_relative_positions 512) */
static void test_deberta_v2(void **state)
{
    (void)state;
    check_family("deberta-v2");
    char path[512];
    snprintf(path, sizeof path, "%s/deberta-v2/reference.json", FAMILIES);
    json_object *ref = json_object_from_file(path), *rb, *range, *tables;
    assert_non_null(ref);
    assert_true(json_object_object_get_ex(ref, "relative_position_buckets", &rb));
    assert_true(json_object_object_get_ex(rb, "relative_positions", &range));
    assert_true(json_object_object_get_ex(rb, "tables", &tables));
    const int64_t lo = json_object_get_int64(json_object_array_get_idx(range, 0));
    for (size_t t = 0; t < json_object_array_length(tables); t++) {
        json_object *tab = json_object_array_get_idx(tables, t), *pb, *mx, *buckets;
        assert_true(json_object_object_get_ex(tab, "position_buckets", &pb));
        assert_true(json_object_object_get_ex(tab, "max_relative_positions", &mx));
        assert_true(json_object_object_get_ex(tab, "buckets", &buckets));
        qf_arch a;
        memset(&a, 0, sizeof a);
        a.relative_span = json_object_get_int64(pb);
        a.relative_max_position = json_object_get_int64(mx);
        a.relative_log_buckets = true;
        size_t n = json_object_array_length(buckets), differ = 0;
        for (size_t i = 0; i < n; i++)
            differ += qf_arch_disentangled_position(&a, lo + (int64_t)i) !=
                      json_object_get_int64(json_object_array_get_idx(buckets, i));
        printf("deberta-v2 relative positions %lld..%lld, buckets %lld, max %lld: %zu of %zu differ\n", (long long)lo,
               (long long)(lo + (int64_t)n - 1), (long long)a.relative_span, (long long)a.relative_max_position, differ, n);
        assert_true(n >= 2201);
        assert_int_equal(differ, 0);
    }
    json_object_put(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_roberta),
        cmocka_unit_test(test_distilbert),
        cmocka_unit_test(test_electra),
        cmocka_unit_test(test_mpnet),
        cmocka_unit_test(test_albert),
        cmocka_unit_test(test_deberta_v2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
