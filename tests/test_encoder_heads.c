/*
 * tests/test_encoder_heads.c — the per-token heads: for each family, a *ForTokenClassification
 * and a *ForQuestionAnswering checkpoint in Hugging Face's layout (fixtures/heads/<family>-{token,qa},
 * fixtures/gen/make_head_fixtures.py: the family fixture's encoder with transformers' per-token
 * head, whose expected logits are transformers' last hidden state through that head). The head is
 * recognised from config.json (reference.json "reference" names who computed the hidden states:
 * transformers, or for mpnet, albert and deberta-v2 a PyTorch statement of its modeling file), our FP32 token logits
 * (start / end logits for QA) match to 1e-4 for every token of every row, padded together in one batch (padding positions 0), and dynamic int8
 * keeps nearly every token's top label (random weights: near-ties may flip).
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

#include "qforge/model.h"
#include "qforge/readers.h"
#include "qforge/runtime.h"

#define HEADS QF_SOURCE_DIR "/fixtures/heads"

static qf_model *read_mapped(const char *path)
{
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(path, &rp, &m, &err) || qf_arch_map(m, NULL, &err)) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s", line);
    }
    return m;
}

/* transformers' value for token t of row r: token_logits[t][k], or start/end_logits[t] (k 0 / 1) */
static double want_logit(json_object *row, bool qa, size_t t, size_t k)
{
    json_object *v = NULL;
    if (qa) {
        json_object_object_get_ex(row, k == 0 ? "start_logits" : "end_logits", &v);
        return json_object_get_double(json_object_array_get_idx(v, t));
    }
    json_object_object_get_ex(row, "token_logits", &v);
    return json_object_get_double(json_object_array_get_idx(json_object_array_get_idx(v, t), k));
}

static void check_head(const char *family, const char *kind)
{
    const bool qa = strcmp(kind, "qa") == 0;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s-%s", HEADS, family, kind);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_object *ref = json_object_from_file(path), *rows = NULL;
    assert_non_null(ref);
    assert_true(json_object_object_get_ex(ref, "rows", &rows));
    const size_t n = json_object_array_length(rows);

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qf_model *m = read_mapped(path);
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_of(m, &a, &err), QF_STATUS_OK);
    assert_int_equal(a.head, qa ? QF_ARCH_HEAD_QUESTION_ANSWERING : QF_ARCH_HEAD_TOKEN_CLASSIFICATION);
    const int64_t C = a.num_labels;
    assert_int_equal(C, qa ? 2 : 5);

    /* every row padded into one batch: the padding must not change any token's logits */
    int64_t length = 0;
    for (size_t r = 0; r < n; r++) {
        json_object *ids = NULL;
        json_object_object_get_ex(json_object_array_get_idx(rows, r), "input_ids", &ids);
        if ((int64_t)json_object_array_length(ids) > length) length = (int64_t)json_object_array_length(ids);
    }
    int32_t *ids = calloc(n * (size_t)length, sizeof *ids), *mask = calloc(n * (size_t)length, sizeof *mask),
            *types = calloc(n * (size_t)length, sizeof *types);
    assert_true(ids && mask && types);
    for (size_t r = 0; r < n; r++) {
        json_object *row = json_object_array_get_idx(rows, r), *v = NULL, *tt = NULL;
        json_object_object_get_ex(row, "input_ids", &v);
        json_object_object_get_ex(row, "token_type_ids", &tt);
        for (size_t t = 0; t < json_object_array_length(v); t++) {
            ids[r * (size_t)length + t] = json_object_get_int(json_object_array_get_idx(v, t));
            types[r * (size_t)length + t] = tt ? json_object_get_int(json_object_array_get_idx(tt, t)) : 0;
            mask[r * (size_t)length + t] = 1;
        }
    }
    float *fp32 = calloc(n * (size_t)length * (size_t)C, sizeof *fp32);
    assert_non_null(fp32);
    for (int mode = 0; mode < 2; mode++) {
        qf_encoder_params ep = qf_encoder_params_default();
        ep.threads = 1;
        ep.max_batch = (int64_t)n;
        ep.max_length = length;
        ep.mode = mode ? QF_ENCODER_MODE_DYNAMIC_INT8 : QF_ENCODER_MODE_FP32;
        ep.quantize_weights = mode == 1;
        qf_encoder *e = NULL;
        assert_int_equal(qf_encoder_create(m, &ep, &e, &err), QF_STATUS_OK);
        qf_encoder_batch in = {(int64_t)n, length, ids, mask, types};
        qf_encoder_output out;
        assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_OK);
        assert_null(out.logits);
        assert_non_null(out.token_logits);
        assert_int_equal(out.head, a.head);
        assert_int_equal(out.num_labels, C);
        double worst = 0;
        size_t tokens = 0, top_kept = 0;
        for (size_t r = 0; r < n; r++) {
            json_object *row = json_object_array_get_idx(rows, r), *v = NULL;
            json_object_object_get_ex(row, "input_ids", &v);
            for (size_t t = 0; t < (size_t)length; t++) {
                const float *got = out.token_logits + (r * (size_t)length + t) * (size_t)C;
                if (t >= json_object_array_length(v)) {
                    for (int64_t k = 0; k < C; k++) assert_true(got[k] == 0.0f); /* padding */
                    continue;
                }
                tokens++;
                if (mode == 0) {
                    for (int64_t k = 0; k < C; k++) {
                        double d = fabs((double)got[k] - want_logit(row, qa, t, (size_t)k));
                        if (d > worst) worst = d;
                    }
                    memcpy(fp32 + (r * (size_t)length + t) * (size_t)C, got, (size_t)C * sizeof *got);
                } else if (!qa) {
                    const float *ref32 = fp32 + (r * (size_t)length + t) * (size_t)C;
                    int64_t a32 = 0, a8 = 0;
                    for (int64_t k = 1; k < C; k++) {
                        if (ref32[k] > ref32[a32]) a32 = k;
                        if (got[k] > got[a8]) a8 = k;
                    }
                    top_kept += a32 == a8;
                }
            }
        }
        if (mode == 0) {
            printf("%-10s %-5s FP32 max |logit - reference| = %.3g over %zu tokens of %zu rows\n", family, kind, worst,
                   tokens, n);
            assert_true(worst <= 1e-4);
        } else if (!qa) {
            printf("%-10s %-5s dynamic int8 keeps the top label of %zu of %zu tokens\n", family, kind, top_kept, tokens);
            assert_true(top_kept * 10 >= tokens * 9); /* random weights: near-ties may flip */
        }
        qf_encoder_destroy(e);
    }
    free(fp32);
    free(ids);
    free(mask);
    free(types);
    qf_model_destroy(m);
    json_object_put(ref);
}

static void test_bert(void **state) { (void)state; check_head("bert", "token"); check_head("bert", "qa"); }
static void test_roberta(void **state) { (void)state; check_head("roberta", "token"); check_head("roberta", "qa"); }
static void test_distilbert(void **state) { (void)state; check_head("distilbert", "token"); check_head("distilbert", "qa"); }
static void test_electra(void **state) { (void)state; check_head("electra", "token"); check_head("electra", "qa"); }
static void test_mpnet(void **state) { (void)state; check_head("mpnet", "token"); check_head("mpnet", "qa"); }
static void test_deberta_v2(void **state) { (void)state; check_head("deberta-v2", "token"); check_head("deberta-v2", "qa"); }
static void test_albert(void **state) { (void)state; check_head("albert", "token"); check_head("albert", "qa"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_roberta),
        cmocka_unit_test(test_distilbert),
        cmocka_unit_test(test_electra),
        cmocka_unit_test(test_mpnet),
        cmocka_unit_test(test_deberta_v2),
        cmocka_unit_test(test_albert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
