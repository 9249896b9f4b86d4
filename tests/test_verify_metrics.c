/*
 * tests/test_verify_metrics.c — the task metrics of verify/metrics.c against an independent
 * reference: fixtures/metrics/metric_references.json, written by fixtures/gen/make_metric_references.py
 * from the published rules (seqeval's get_entities, SQuAD's evaluate-v1.1.py, scipy's average-rank
 * Spearman, sklearn's ndcg_score, sentence-transformers' MRR@10) on seeded random and hand-picked
 * cases. Counts must be equal, figures within 1e-12. Then the argument errors, case by case.
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

#include "qforge/verify.h"

#define REFERENCES QF_SOURCE_DIR "/fixtures/metrics/metric_references.json"
#define TOLERANCE 1e-12

static json_object *references;

static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("reference without '%s'", key);
    return v;
}

/* A number, or "inf" / "-inf" (JSON has no infinity). */
static double number_of(json_object *v)
{
    if (json_object_is_type(v, json_type_string)) return strtod(json_object_get_string(v), NULL);
    return json_object_get_double(v);
}

static double num(json_object *o, const char *key)
{
    return number_of(field(o, key));
}

static uint64_t count(json_object *o, const char *key)
{
    return (uint64_t)json_object_get_int64(field(o, key));
}

static const char *name_of(json_object *c)
{
    json_object *v = NULL;
    return json_object_object_get_ex(c, "name", &v) ? json_object_get_string(v) : "(unnamed)";
}

static void expect_close(double got, double want, const char *what, const char *name)
{
    if (!(fabs(got - want) <= TOLERANCE)) fail_msg("%s: %s is %.17g, reference %.17g", name, what, got, want);
}

static void expect_count(uint64_t got, uint64_t want, const char *what, const char *name)
{
    if (got != want) {
        fail_msg("%s: %s is %llu, reference %llu", name, what, (unsigned long long)got, (unsigned long long)want);
    }
}

/* The strings of a JSON array (borrowed from the document), in an array the caller frees. */
static const char **strings_of(json_object *a, size_t *n)
{
    *n = json_object_array_length(a);
    const char **s = calloc(*n ? *n : 1, sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < *n; i++) s[i] = json_object_get_string(json_object_array_get_idx(a, i));
    return s;
}

static double *doubles_of(json_object *a, size_t *n)
{
    *n = json_object_array_length(a);
    double *v = calloc(*n ? *n : 1, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < *n; i++) v[i] = number_of(json_object_array_get_idx(a, i));
    return v;
}

static void expect_ner(const qf_ner_counts *c, json_object *want, const char *name)
{
    expect_count(c->true_positive, count(want, "true_positive"), "true positives", name);
    expect_count(c->predicted, count(want, "predicted"), "predicted entities", name);
    expect_count(c->gold, count(want, "gold"), "gold entities", name);
    expect_count(c->tokens_correct, count(want, "tokens_correct"), "correct tokens", name);
    expect_count(c->tokens, count(want, "tokens"), "tokens", name);
    const qf_ner_scores s = qf_ner_scores_of(c);
    expect_close(s.precision, num(want, "precision"), "precision", name);
    expect_close(s.recall, num(want, "recall"), "recall", name);
    expect_close(s.f1, num(want, "f1"), "f1", name);
    expect_close(s.accuracy, num(want, "accuracy"), "accuracy", name);
}

static void test_ner_matches_seqeval(void **state)
{
    (void)state;
    json_object *cases = field(references, "ner");
    qf_ner_counts all = {0};
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        json_object *seqs = field(c, "sequences");
        qf_ner_counts counts = {0};
        for (size_t s = 0; s < json_object_array_length(seqs); s++) {
            json_object *seq = json_object_array_get_idx(seqs, s);
            size_t n, m;
            const char **gold = strings_of(field(seq, "gold"), &n);
            const char **pred = strings_of(field(seq, "pred"), &m);
            assert_int_equal(n, m);
            qf_error err;
            qf_error_clear(&err);
            if (qf_ner_counts_add(&counts, gold, pred, n, &err) != QF_STATUS_OK) fail_msg("%s: %s", name_of(c), err.message);
            free(gold);
            free(pred);
        }
        expect_ner(&counts, c, name_of(c));
        all.true_positive += counts.true_positive;
        all.gold += counts.gold;
    }
    assert_true(all.true_positive > 100 && all.gold > all.true_positive); /* the cases are not trivial */
}

static void test_ner_ids_skip_ignored_positions(void **state)
{
    (void)state;
    json_object *cases = field(references, "ner_ids");
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        size_t num_labels;
        const char **id2label = strings_of(field(c, "id2label"), &num_labels);
        json_object *seqs = field(c, "sequences");
        qf_ner_counts counts = {0};
        for (size_t s = 0; s < json_object_array_length(seqs); s++) {
            json_object *seq = json_object_array_get_idx(seqs, s);
            json_object *g = field(seq, "gold"), *p = field(seq, "pred");
            const size_t n = json_object_array_length(g);
            int32_t gold[64], pred[64];
            assert_true(n <= 64);
            for (size_t i = 0; i < n; i++) {
                gold[i] = json_object_get_int(json_object_array_get_idx(g, i));
                pred[i] = json_object_get_int(json_object_array_get_idx(p, i));
            }
            assert_int_equal(qf_ner_counts_add_ids(&counts, gold, pred, n, id2label, num_labels, NULL), QF_STATUS_OK);
        }
        expect_ner(&counts, c, name_of(c));
        free(id2label);
    }
}

static void test_iob2_check(void **state)
{
    (void)state;
    json_object *cases = field(references, "iob2");
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        size_t n;
        const char **tags = strings_of(field(c, "tags"), &n);
        const bool form_only = json_object_get_boolean(field(c, "form_only"));
        size_t bad = 12345;
        qf_error err;
        qf_error_clear(&err);
        const qf_status st = qf_ner_check_iob2(tags, n, form_only, &bad, &err);
        if (json_object_get_boolean(field(c, "valid"))) {
            if (st != QF_STATUS_OK) fail_msg("case %zu refused: %s", k, err.message);
        } else {
            if (st != QF_STATUS_INVALID_ARGUMENT) fail_msg("case %zu (%zu tags) accepted", k, n);
            assert_int_equal(bad, (size_t)json_object_get_int(field(c, "bad_index")));
            assert_true(strstr(err.message, "position") != NULL);
        }
        free(tags);
    }
}

static void test_squad_matches_evaluate_v11(void **state)
{
    (void)state;
    json_object *cases = field(references, "squad");
    size_t deviations = 0;
    qf_squad_totals all = {0};
    double em_sum = 0, f1_sum = 0;
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        const char *name = name_of(c);
        const char *prediction = json_object_get_string(field(c, "prediction"));
        size_t n;
        const char **answers = strings_of(field(c, "answers"), &n);
        qf_squad_totals t = {0};
        qf_error err;
        qf_error_clear(&err);
        if (qf_squad_add(&t, prediction, answers, n, &err) != QF_STATUS_OK) fail_msg("%s: %s", name, err.message);
        assert_int_equal(qf_squad_add(&all, prediction, answers, n, NULL), QF_STATUS_OK);
        expect_count(t.questions, 1, "questions", name);
        expect_close(t.exact_match_sum, num(c, "exact_match"), "exact match", name);
        expect_close(t.f1_sum, num(c, "f1"), "f1", name);
        em_sum += num(c, "exact_match");
        f1_sum += num(c, "f1");
        /* where the case is not one of the documented differences, it is the official figure too */
        if (json_object_get_boolean(field(c, "deviation"))) {
            deviations++;
        } else {
            expect_close(t.exact_match_sum, num(c, "official_exact_match"), "exact match (official)", name);
            expect_close(t.f1_sum, num(c, "official_f1"), "f1 (official)", name);
        }
        char normalized[512];
        assert_int_equal(qf_squad_normalize(prediction, normalized, sizeof normalized, NULL), QF_STATUS_OK);
        assert_string_equal(normalized, json_object_get_string(field(c, "normalized_prediction")));
        if (n == 1) {
            double em = -1, f1 = -1;
            assert_int_equal(qf_squad_score(prediction, answers[0], &em, &f1, NULL), QF_STATUS_OK);
            expect_close(em, num(c, "exact_match"), "exact match (one answer)", name);
            expect_close(f1, num(c, "f1"), "f1 (one answer)", name);
        }
        free(answers);
    }
    assert_true(deviations >= 3);
    expect_count(all.questions, json_object_array_length(cases), "questions", "all");
    expect_close(all.exact_match_sum, em_sum, "exact match sum", "all");
    expect_close(all.f1_sum, f1_sum, "f1 sum", "all");
    expect_close(qf_squad_f1(&all), f1_sum / (double)all.questions, "mean f1", "all");
}

static void test_multilabel_matches_reference(void **state)
{
    (void)state;
    json_object *cases = field(references, "multilabel");
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        const char *name = name_of(c);
        const size_t rows = (size_t)count(c, "rows"), labels = (size_t)count(c, "labels");
        size_t n, nb, ng;
        double *la = doubles_of(field(c, "logits"), &n);
        double *lb = doubles_of(field(c, "logits_b"), &nb);
        double *g = doubles_of(field(c, "gold"), &ng);
        assert_true(n == rows * labels && nb == n && ng == n);
        float *fa = calloc(n + 1, sizeof *fa), *fb = calloc(n + 1, sizeof *fb);
        uint8_t *gold = calloc(n + 1, 1);
        assert_true(fa && fb && gold);
        for (size_t i = 0; i < n; i++) {
            fa[i] = (float)la[i];
            fb[i] = (float)lb[i];
            gold[i] = (uint8_t)g[i];
        }
        const double threshold = num(c, "threshold");
        qf_multilabel_counts counts = {0};
        assert_int_equal(qf_multilabel_counts_add(&counts, fa, gold, rows, labels, threshold, NULL), QF_STATUS_OK);
        expect_count(counts.true_positive, count(c, "true_positive"), "true positives", name);
        expect_count(counts.predicted, count(c, "predicted"), "predicted", name);
        expect_count(counts.gold, count(c, "gold_positive"), "gold", name);
        expect_count(counts.decisions, n, "decisions", name);
        expect_close(qf_multilabel_f1(&counts), num(c, "f1"), "f1", name);
        uint64_t total = 0, agreeing = 0;
        assert_int_equal(qf_multilabel_agreement_add(&total, &agreeing, fa, fb, rows, labels, threshold, NULL),
                         QF_STATUS_OK);
        expect_count(total, rows, "rows", name);
        expect_count(agreeing, count(c, "agreeing"), "agreeing rows", name);
        free(la), free(lb), free(g), free(fa), free(fb), free(gold);
    }
}

static void test_spearman_matches_scipy(void **state)
{
    (void)state;
    json_object *cases = field(references, "spearman");
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        size_t n, m;
        double *x = doubles_of(field(c, "x"), &n), *y = doubles_of(field(c, "y"), &m);
        assert_int_equal(n, m);
        double rho = 0;
        assert_int_equal(qf_spearman(x, y, n, &rho, NULL), QF_STATUS_OK);
        json_object *want = field(c, "rho");
        char name[32];
        snprintf(name, sizeof name, "spearman %zu", k);
        if (json_object_is_type(want, json_type_null)) {
            if (!isnan(rho)) fail_msg("%s: rho %.17g, reference NaN (constant input)", name, rho);
        } else {
            expect_close(rho, json_object_get_double(want), "rho", name);
        }
        free(x);
        free(y);
    }
}

static void test_ranking_matches_reference(void **state)
{
    (void)state;
    json_object *cases = field(references, "ranking");
    for (size_t k = 0; k < json_object_array_length(cases); k++) {
        json_object *c = json_object_array_get_idx(cases, k);
        const char *name = name_of(c);
        json_object *groups = field(c, "groups");
        qf_ranking_totals t = {0};
        for (size_t i = 0; i < json_object_array_length(groups); i++) {
            json_object *g = json_object_array_get_idx(groups, i);
            size_t n, m;
            double *scores = doubles_of(field(g, "scores"), &n), *labels = doubles_of(field(g, "labels"), &m);
            assert_int_equal(n, m);
            qf_error err;
            qf_error_clear(&err);
            if (qf_ranking_group_add(&t, scores, labels, n, &err) != QF_STATUS_OK) fail_msg("%s: %s", name, err.message);
            free(scores);
            free(labels);
        }
        expect_count(t.groups, count(c, "group_count"), "groups", name);
        expect_count(t.groups_without_relevant, count(c, "groups_without_relevant"), "groups without relevant", name);
        expect_close(t.mrr_sum, num(c, "mrr_sum"), "MRR sum", name);
        expect_close(t.ndcg_sum, num(c, "ndcg_sum"), "NDCG sum", name);
        expect_close(qf_ranking_mrr(&t), num(c, "mrr"), "MRR@10", name);
        expect_close(qf_ranking_ndcg(&t), num(c, "ndcg"), "NDCG@10", name);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Argument errors: each refused with INVALID_ARGUMENT (or the code named), totals unchanged
 * ------------------------------------------------------------------------------------------- */

static void expect_refused(qf_status st, qf_status want, const qf_error *err, const char *needle)
{
    assert_int_equal(st, want);
    assert_int_equal(err->code, want);
    if (needle && !strstr(err->message, needle)) fail_msg("message '%s' does not say '%s'", err->message, needle);
}

static void test_ner_argument_errors(void **state)
{
    (void)state;
    qf_error err;
    qf_ner_counts c = {0};
    const char *gold[] = {"B-PER", "I-PER", "O"};
    const char *bad_kind[] = {"B-PER", "X-PER", "O"};
    const char *empty_tag[] = {"B-PER", "", "O"};
    const char *null_tag[] = {"B-PER", NULL, "O"};

    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add(NULL, gold, gold, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "counts");
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add(&c, gold, NULL, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "NULL");
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add(&c, gold, bad_kind, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "position 1");
    assert_string_equal(err.found, "'X-PER'");
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add(&c, empty_tag, gold, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "gold tag");
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add(&c, null_tag, gold, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "NULL");
    assert_int_equal(c.tokens + c.gold + c.predicted, 0); /* nothing counted by a refused call */
    assert_int_equal(qf_ner_counts_add(&c, NULL, NULL, 0, NULL), QF_STATUS_OK);

    const char *id2label[] = {"O", "B-PER", "I-PER"};
    const int32_t ids[] = {1, 2, 0}, out_of_range[] = {1, 3, 0}, ignored[] = {-100, 2, 0};
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add_ids(&c, ids, out_of_range, 3, id2label, 3, &err), QF_STATUS_INVALID_ARGUMENT,
                   &err, "outside id2label");
    qf_error_clear(&err);
    expect_refused(qf_ner_counts_add_ids(&c, ids, ids, 3, NULL, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "id2label");
    /* a predicted id at an ignored gold position is not looked at */
    const int32_t pred_at_ignored[] = {99, 2, 0};
    assert_int_equal(qf_ner_counts_add_ids(&c, ignored, pred_at_ignored, 3, id2label, 3, NULL), QF_STATUS_OK);
    assert_int_equal(c.tokens, 2);
    /* an I-PER after the ignored position starts an entity, as in the filtered sequence */
    assert_int_equal(c.gold, 1);

    qf_ner_scores s = qf_ner_scores_of(NULL);
    assert_true(s.precision == 0 && s.recall == 0 && s.f1 == 0 && s.accuracy == 0);
    qf_error_clear(&err);
    expect_refused(qf_ner_check_iob2(NULL, 2, false, NULL, &err), QF_STATUS_INVALID_ARGUMENT, &err, "NULL");
    assert_int_equal(qf_ner_check_iob2(NULL, 0, false, NULL, NULL), QF_STATUS_OK);
}

static void test_squad_argument_errors(void **state)
{
    (void)state;
    qf_error err;
    qf_squad_totals t = {0};
    const char *answers[] = {"Paris", NULL};
    qf_error_clear(&err);
    expect_refused(qf_squad_add(&t, "Paris", answers, 0, &err), QF_STATUS_INVALID_ARGUMENT, &err, "at least one");
    qf_error_clear(&err);
    expect_refused(qf_squad_add(&t, NULL, answers, 1, &err), QF_STATUS_INVALID_ARGUMENT, &err, "prediction");
    qf_error_clear(&err);
    expect_refused(qf_squad_add(&t, "Paris", answers, 2, &err), QF_STATUS_INVALID_ARGUMENT, &err, "answer 1");
    qf_error_clear(&err);
    expect_refused(qf_squad_add(NULL, "Paris", answers, 1, &err), QF_STATUS_INVALID_ARGUMENT, &err, "totals");
    assert_int_equal(t.questions, 0);
    assert_true(qf_squad_exact_match(&t) == 0 && qf_squad_f1(NULL) == 0);

    char small[4];
    qf_error_clear(&err);
    expect_refused(qf_squad_normalize("The Eiffel tower", small, sizeof small, &err), QF_STATUS_LIMIT, &err, NULL);
    assert_string_equal(err.expected, "at least 13 bytes");
    /* bytes that are not UTF-8 count as characters of a word: kept, and no article is cut out */
    char out[32];
    assert_int_equal(qf_squad_normalize("THE\xff  \xe2\x80 a", out, sizeof out, NULL), QF_STATUS_OK);
    assert_string_equal(out, "the\xff \xe2\x80");
    double em = -1, f1 = -1;
    assert_int_equal(qf_squad_score("the\xff", "THE\xff!", &em, &f1, NULL), QF_STATUS_OK);
    assert_true(em == 1.0 && f1 == 1.0);
}

static void test_multilabel_argument_errors(void **state)
{
    (void)state;
    qf_error err;
    qf_multilabel_counts c = {0};
    const float logits[] = {1.0f, -1.0f, NAN, 0.5f};
    const uint8_t gold[] = {1, 0, 1, 0}, bad_gold[] = {1, 2, 0, 0};
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, logits, gold, 2, 2, 0.5, &err), QF_STATUS_INVALID_ARGUMENT, &err,
                   "row 1, label 0 is NaN");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, logits, bad_gold, 1, 2, 0.5, &err), QF_STATUS_INVALID_ARGUMENT, &err,
                   "not 0 or 1");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, logits, gold, 1, 2, NAN, &err), QF_STATUS_INVALID_ARGUMENT, &err,
                   "threshold");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, logits, gold, 1, 2, 1.5, &err), QF_STATUS_INVALID_ARGUMENT, &err,
                   "threshold");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, NULL, gold, 1, 2, 0.5, &err), QF_STATUS_INVALID_ARGUMENT, &err, "NULL");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_counts_add(&c, logits, gold, SIZE_MAX / 2, 4, 0.5, &err), QF_STATUS_INVALID_ARGUMENT,
                   &err, "overflows");
    assert_int_equal(c.decisions, 0);
    assert_true(qf_multilabel_f1(&c) == 0 && qf_multilabel_f1(NULL) == 0);
    uint64_t rows = 0, agreeing = 0;
    qf_error_clear(&err);
    expect_refused(qf_multilabel_agreement_add(&rows, &agreeing, logits, logits, 2, 2, 0.5, &err),
                   QF_STATUS_INVALID_ARGUMENT, &err, "NaN");
    qf_error_clear(&err);
    expect_refused(qf_multilabel_agreement_add(NULL, &agreeing, logits, logits, 1, 2, 0.5, &err),
                   QF_STATUS_INVALID_ARGUMENT, &err, NULL);
    assert_int_equal(rows, 0);
}

static void test_ranking_argument_errors(void **state)
{
    (void)state;
    qf_error err;
    double rho = 0;
    const double x[] = {1, 2, 3}, with_nan[] = {1, NAN, 3};
    qf_error_clear(&err);
    expect_refused(qf_spearman(x, x, 1, &rho, &err), QF_STATUS_INVALID_ARGUMENT, &err, "two pairs");
    qf_error_clear(&err);
    expect_refused(qf_spearman(x, with_nan, 3, &rho, &err), QF_STATUS_INVALID_ARGUMENT, &err, "y[1] is NaN");
    qf_error_clear(&err);
    expect_refused(qf_spearman(NULL, x, 3, &rho, &err), QF_STATUS_INVALID_ARGUMENT, &err, NULL);

    qf_ranking_totals t = {0};
    const double labels[] = {0, 1, 0}, negative[] = {0, -1, 1}, infinite[] = {0, INFINITY, 1};
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(&t, x, labels, 0, &err), QF_STATUS_INVALID_ARGUMENT, &err, "at least one");
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(&t, with_nan, labels, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err,
                   "scores[1] is NaN");
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(&t, x, negative, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "labels[1]");
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(&t, x, infinite, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "labels[1]");
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(&t, x, NULL, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, NULL);
    qf_error_clear(&err);
    expect_refused(qf_ranking_group_add(NULL, x, labels, 3, &err), QF_STATUS_INVALID_ARGUMENT, &err, "totals");
    assert_int_equal(t.groups, 0);
    assert_true(qf_ranking_mrr(&t) == 0 && qf_ranking_ndcg(NULL) == 0);
}

static int load_references(void **state)
{
    (void)state;
    references = json_object_from_file(REFERENCES);
    if (!references) fprintf(stderr, "cannot read %s\n", REFERENCES);
    return references ? 0 : -1;
}

static int free_references(void **state)
{
    (void)state;
    json_object_put(references);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ner_matches_seqeval),
        cmocka_unit_test(test_ner_ids_skip_ignored_positions),
        cmocka_unit_test(test_iob2_check),
        cmocka_unit_test(test_squad_matches_evaluate_v11),
        cmocka_unit_test(test_multilabel_matches_reference),
        cmocka_unit_test(test_spearman_matches_scipy),
        cmocka_unit_test(test_ranking_matches_reference),
        cmocka_unit_test(test_ner_argument_errors),
        cmocka_unit_test(test_squad_argument_errors),
        cmocka_unit_test(test_multilabel_argument_errors),
        cmocka_unit_test(test_ranking_argument_errors),
    };
    return cmocka_run_group_tests(tests, load_references, free_references);
}
