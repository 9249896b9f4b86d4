/*
 * tests/test_qa_spans.c — the question-answering pieces of verify/qa.c: the window rule (Rust
 * tokenizers' only_second truncation with stride: starts, overlap, the refusals), the windows a
 * real tokenizer gives (fixtures/heads/bert-qa), and the span decoder of one window on hand-made
 * logits (masking, position 0, max_answer_len, first maximum, no valid answer).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/verify.h"

static void test_one_window_when_it_fits(void **state)
{
    (void)state;
    size_t r[8], n = 0;
    assert_int_equal(qf_qa_window_ranges(5, 40, 3, 48, 16, r, 4, &n, NULL), QF_STATUS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 40);
}

static void test_window_starts_and_overlap(void **state)
{
    (void)state;
    /* 48 - 3 specials - 5 question = 40 context tokens a window, stride 16: step 24 */
    size_t r[16], n = 0;
    assert_int_equal(qf_qa_window_ranges(5, 100, 3, 48, 16, r, 8, &n, NULL), QF_STATUS_OK);
    assert_int_equal(n, 4);
    size_t expect[8] = {0, 40, 24, 64, 48, 88, 72, 100};
    for (size_t i = 0; i < 8; i++) assert_int_equal(r[i], expect[i]);
    for (size_t w = 1; w < n; w++) assert_int_equal(r[2 * (w - 1) + 1] - r[2 * w], 16); /* shared tokens */
    /* the window that reaches the end is the last: 88 tokens with step 24 end exactly at 88 */
    assert_int_equal(qf_qa_window_ranges(5, 88, 3, 48, 16, r, 8, &n, NULL), QF_STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(r[5], 88);
    /* stride 0: windows side by side */
    assert_int_equal(qf_qa_window_ranges(5, 81, 3, 48, 0, r, 8, &n, NULL), QF_STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(r[2], 40);
    assert_int_equal(r[4], 80);
    assert_int_equal(r[5], 81);
}

static void test_refusals(void **state)
{
    (void)state;
    size_t r[16], n = 7;
    qf_error err;
    qf_error_clear(&err);
    /* question too long: 48 - 3 = 45 <= 45 question tokens, no context token fits */
    assert_int_equal(qf_qa_window_ranges(45, 10, 3, 48, 16, r, 8, &n, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "question");
    assert_int_equal(n, 0);
    /* stride not below the window's 40 context tokens */
    qf_error_clear(&err);
    assert_int_equal(qf_qa_window_ranges(5, 100, 3, 48, 40, r, 8, &n, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "doc_stride");
    qf_error_clear(&err);
    assert_int_equal(qf_qa_window_ranges(0, 10, 3, 2, 0, r, 8, &n, &err), QF_STATUS_INVALID_ARGUMENT);
    /* more windows than room */
    qf_error_clear(&err);
    assert_int_equal(qf_qa_window_ranges(5, 1000, 3, 48, 16, r, 8, &n, &err), QF_STATUS_LIMIT);
    /* parameters: defaults and the pipeline's doc_stride > max_seq_len */
    qf_qa_params p;
    assert_int_equal(qf_qa_params_resolve(NULL, 512, &p, NULL), QF_STATUS_OK);
    assert_int_equal(p.max_seq_len, 384);
    assert_int_equal(p.doc_stride, 128);
    assert_int_equal(p.max_answer_len, 15);
    assert_int_equal(qf_qa_params_resolve(NULL, 64, &p, NULL), QF_STATUS_OK);
    assert_int_equal(p.max_seq_len, 64);
    assert_int_equal(p.doc_stride, 32);
    qf_qa_params bad = qf_qa_params_default();
    bad.max_seq_len = 48;
    bad.doc_stride = 49;
    assert_int_equal(qf_qa_params_resolve(&bad, 64, &p, NULL), QF_STATUS_INVALID_ARGUMENT);
    bad.doc_stride = 16;
    bad.max_seq_len = 65;
    assert_int_equal(qf_qa_params_resolve(&bad, 64, &p, NULL), QF_STATUS_INVALID_ARGUMENT);
}

/* The windows a real tokenizer makes: [CLS] question [SEP] context-part [SEP], each context part
 * the ranges' tokens, offsets into the context. */
static void test_windows_of_a_tokenizer(void **state)
{
    (void)state;
    qf_tokenizer *t = NULL;
    assert_int_equal(qf_tokenizer_load(QF_SOURCE_DIR "/fixtures/heads/bert-qa", &t, NULL), QF_STATUS_OK);
    const char *q = "What is abcde?";
    const char *c = "abcde: A Better CD Encoder. apache2: Apache HTTP Server. bash: GNU Bourne Again SHell. "
                    "coreutils: GNU core utilities. dpkg: Debian package management system.";
    qf_qa_params p = qf_qa_params_default();
    assert_int_equal(qf_qa_params_resolve(&p, 64, &p, NULL), QF_STATUS_OK);
    p.max_seq_len = 32;
    p.doc_stride = 8;
    qf_qa_windows w;
    assert_int_equal(qf_qa_windows_build(t, q, strlen(q), c, strlen(c), &p, &w, NULL), QF_STATUS_OK);
    assert_true(w.count >= 2);
    qf_encoding whole;
    qf_encoding_init(&whole);
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.add_special_tokens = false;
    assert_int_equal(qf_tokenizer_encode(t, c, strlen(c), &tp, &whole, NULL), QF_STATUS_OK);
    size_t covered_to = 0;
    for (size_t i = 0; i < w.count; i++) {
        const qf_encoding *e = &w.window[i];
        assert_true(e->length <= 32);
        assert_int_equal(e->sequence_ids[0], -1);
        assert_int_equal(e->sequence_ids[e->length - 1], -1);
        size_t k = 0, first = w.context_first[i];
        for (size_t j = 0; j < e->length; j++) {
            if (e->sequence_ids[j] != 1) continue;
            assert_int_equal(e->input_ids[j], whole.input_ids[first + k]);
            assert_int_equal(e->offsets[2 * j], whole.offsets[2 * (first + k)]);
            assert_int_equal(e->offsets[2 * j + 1], whole.offsets[2 * (first + k) + 1]);
            assert_int_equal(e->token_type_ids[j], 1);
            k++;
        }
        if (i > 0) assert_int_equal(covered_to - first, 8); /* the stride's overlap */
        covered_to = first + k;
    }
    assert_int_equal(covered_to, whole.length);
    qf_encoding_free(&whole);
    qf_qa_windows_free(&w);
    qf_tokenizer_destroy(t);
}

static void test_decode_masked_softmax(void **state)
{
    (void)state;
    /* [CLS] q q [SEP] c c c c [SEP]: the question's huge logits never win */
    const float s[9] = {0.5f, 9, 9, -1, 2, 0, 1, 0, 9};
    const float e[9] = {0.5f, 9, 9, -1, 0, 1, 3, 0, 9};
    const uint8_t cand[9] = {1, 0, 0, 0, 1, 1, 1, 1, 0};
    double scratch[18];
    qf_qa_span span;
    qf_qa_decode_window(s, e, cand, 9, 15, scratch, &span);
    assert_true(span.found);
    assert_int_equal(span.start_token, 4);
    assert_int_equal(span.end_token, 6);
    /* the softmax runs over the candidates (cls included), then cls is zeroed */
    double zs = exp(0.5) + exp(2) + exp(0) + exp(1) + exp(0), ze = exp(0.5) + exp(0) + exp(1) + exp(3) + exp(0);
    assert_true(fabs(span.score - exp(2) / zs * exp(3) / ze) < 1e-12);
    /* max_answer_len 2: (4, 6) is too long; the band's best is (6, 6): e^1 e^3 > (4, 5): e^2 e^1 */
    qf_qa_decode_window(s, e, cand, 9, 2, scratch, &span);
    assert_true(span.found);
    assert_int_equal(span.start_token, 6);
    assert_int_equal(span.end_token, 6);
    /* end before start is never taken: best end lies before best start */
    const float s2[5] = {0, -6, -5, 5, -5}, e2[5] = {0, 5, -5, -5, -5};
    const uint8_t c2[5] = {1, 1, 1, 1, 1};
    qf_qa_decode_window(s2, e2, c2, 5, 15, scratch, &span);
    assert_true(span.start_token <= span.end_token);
    assert_int_equal(span.start_token, 3);
    assert_int_equal(span.end_token, 3);
}

static void test_decode_ties_and_no_answer(void **state)
{
    (void)state;
    double scratch[12];
    qf_qa_span span;
    /* equal logits everywhere: the first maximum in (start, end) order, after position 0 */
    const float z[6] = {0, 0, 0, 0, 0, 0};
    const uint8_t all[6] = {1, 1, 1, 1, 1, 1};
    qf_qa_decode_window(z, z, all, 6, 15, scratch, &span);
    assert_true(span.found);
    assert_int_equal(span.start_token, 1);
    assert_int_equal(span.end_token, 1);
    /* only position 0 is a candidate: every product is 0, argmax gives (0, 0), a candidate: found
     * with score 0 (the pipeline answers with position 0's offsets) */
    const uint8_t only0[6] = {1, 0, 0, 0, 0, 0};
    qf_qa_decode_window(z, z, only0, 6, 15, scratch, &span);
    assert_int_equal(span.start_token, 0);
    assert_true(span.score == 0);
    /* no candidate at position 0 either: the maximum lands on a masked token: no answer */
    const uint8_t none[6] = {0, 0, 0, 0, 0, 0};
    qf_qa_decode_window(z, z, none, 6, 15, scratch, &span);
    assert_false(span.found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_window_when_it_fits),
        cmocka_unit_test(test_window_starts_and_overlap),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_windows_of_a_tokenizer),
        cmocka_unit_test(test_decode_masked_softmax),
        cmocka_unit_test(test_decode_ties_and_no_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
