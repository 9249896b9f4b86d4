/*
 * tests/test_ner_entities.c: the token-classification job's pure parts. qf_ner_entities (verify/
 * job_ner.c) on hand-made logits, each expectation derived by hand from transformers'
 * pipelines/token_classification.py with aggregation_strategy="simple" (postprocess ->
 * gather_pre_entities, which drops special tokens -> aggregate -> group_entities / get_tag /
 * group_sub_entities -> the ignore_labels ["O"] filter):
 *   - B-X I-X I-Y O sequences, B after B, I without B, a change of type;
 *   - sub-words are not merged into words ("simple" groups tags only);
 *   - special tokens dropped, also between two tokens of one entity (they then join);
 *   - names without a B-/I- prefix (get_tag's "I" default), E-/S- tags, the "O" group label;
 *   - the score (mean of each token's softmax maximum), ties (first label), offsets, capacity.
 * And qf_word_rows (text/word_rows.c): each word tied to its first token for a WordPiece and a
 * byte-level BPE tokenizer, truncation, and the row refusals with line and field.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/text.h"
#include "qforge/verify.h"

#define FIX QF_SOURCE_DIR "/fixtures/"

/* id2label of the fixtures' heads */
static const char *const TAGS[] = {"O", "B-X", "I-X", "B-Y", "I-Y"};
enum { O = 0, BX = 1, IX = 2, BY = 3, IY = 4, NTAGS = 5 };

/* Logits [n][NTAGS] where token t's label pick[t] has logit 2 and the others 0. */
static void one_hot(const int *pick, size_t n, float *logits)
{
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < NTAGS; j++) logits[t * NTAGS + j] = (int)j == pick[t] ? 2.0f : 0.0f;
}

/* softmax maximum of a one_hot token: e^2 / (e^2 + 4) */
static double hot_score(void) { return exp(2.0) / (exp(2.0) + 4.0); }

static size_t entities_of(const int *pick, size_t n, const uint8_t *special, qf_ner_entity *out)
{
    float logits[64 * NTAGS];
    assert_true(n <= 64);
    one_hot(pick, n, logits);
    size_t count = 99;
    assert_int_equal(qf_ner_entities(logits, n, NTAGS, TAGS, special, NULL, out, n, &count, NULL), QF_STATUS_OK);
    return count;
}

static void expect(const qf_ner_entity *e, const char *label, int first, int last)
{
    assert_string_equal(e->label, label);
    assert_int_equal(e->first_token, first);
    assert_int_equal(e->last_token, last);
    assert_int_equal(e->start, -1);
    assert_int_equal(e->end, -1);
}

/* B-X I-X I-Y O: I-X continues B-X (same tag, not B); I-Y has another tag: a new group; O ends it
 * and its own group "O" is filtered. */
static void test_bio_sequences(void **state)
{
    (void)state;
    qf_ner_entity e[16];
    const int a[] = {BX, IX, IY, O};
    assert_int_equal(entities_of(a, 4, NULL, e), 2);
    expect(&e[0], "X", 0, 1);
    expect(&e[1], "Y", 2, 2);
    assert_true(fabs(e[0].score - hot_score()) < 1e-12);
    /* B-X B-X: a B never joins: two entities */
    const int b[] = {BX, BX};
    assert_int_equal(entities_of(b, 2, NULL, e), 2);
    expect(&e[0], "X", 0, 0);
    expect(&e[1], "X", 1, 1);
    /* I-X I-X without a B: one entity (the pipeline does not require IOB2) */
    const int c[] = {O, IX, IX, O};
    assert_int_equal(entities_of(c, 4, NULL, e), 1);
    expect(&e[0], "X", 1, 2);
    /* I-X B-X I-X: the B starts a second entity, the last I-X joins it */
    const int d[] = {IX, BX, IX};
    assert_int_equal(entities_of(d, 3, NULL, e), 2);
    expect(&e[0], "X", 0, 0);
    expect(&e[1], "X", 1, 2);
    /* B-X I-Y B-Y I-X: four entities (each change of type, each B) */
    const int f[] = {BX, IY, BY, IX};
    assert_int_equal(entities_of(f, 4, NULL, e), 4);
    expect(&e[0], "X", 0, 0);
    expect(&e[1], "Y", 1, 1);
    expect(&e[2], "Y", 2, 2);
    expect(&e[3], "X", 3, 3);
    /* all O: nothing; no tokens: nothing */
    const int g[] = {O, O, O};
    assert_int_equal(entities_of(g, 3, NULL, e), 0);
    assert_int_equal(entities_of(g, 0, NULL, e), 0);
}

/* "simple" does not merge sub-words into words: micro|##soft tagged B-X I-Y are two entities, and
 * B-X B-X two, though they are one word (aggregation "first" would make one). */
static void test_subwords_not_merged(void **state)
{
    (void)state;
    qf_ner_entity e[4];
    const int a[] = {BX, IY};
    assert_int_equal(entities_of(a, 2, NULL, e), 2);
    expect(&e[0], "X", 0, 0);
    expect(&e[1], "Y", 1, 1);
}

/* Special tokens are dropped before grouping: [CLS] B-X I-X [SEP] gives X over 1..2 whatever the
 * special tokens predict, and a special token between B-X and I-X does not break the entity (the
 * pipeline's list of pre-entities no longer holds it). */
static void test_special_tokens(void **state)
{
    (void)state;
    qf_ner_entity e[8];
    const int a[] = {BX, BX, IX, IX};
    const uint8_t sa[] = {1, 0, 0, 1};
    assert_int_equal(entities_of(a, 4, sa, e), 1);
    expect(&e[0], "X", 1, 2);
    const int b[] = {O, BX, BY, IX, O};
    const uint8_t sb[] = {1, 0, 1, 0, 1};
    assert_int_equal(entities_of(b, 5, sb, e), 1);
    expect(&e[0], "X", 1, 3);
    /* every token special: nothing */
    const uint8_t all[] = {1, 1, 1, 1, 1};
    assert_int_equal(entities_of(b, 5, all, e), 0);
}

/* Names without B-/I-: get_tag gives ("I", name), so equal names join; group_sub_entities names
 * the group by what follows the first '-' ("E-PER" -> "PER", "B-O" -> "O", which is dropped). */
static void test_other_names(void **state)
{
    (void)state;
    static const char *const names[] = {"O", "PER", "LOC", "S-PER", "E-PER", "B-O", "B-A-B"};
    float logits[8 * 7];
    const int pick[] = {1, 1, 2, 3, 3, 4, 5, 6};
    for (size_t t = 0; t < 8; t++)
        for (size_t j = 0; j < 7; j++) logits[t * 7 + j] = (int)j == pick[t] ? 1.0f : 0.0f;
    qf_ner_entity e[8];
    size_t count = 0;
    assert_int_equal(qf_ner_entities(logits, 8, 7, names, NULL, NULL, e, 8, &count, NULL), QF_STATUS_OK);
    /* PER PER | LOC | S-PER S-PER (same tag "S-PER", "I") | E-PER (tag "E-PER") | B-O (dropped) | B-A-B */
    assert_int_equal(count, 5);
    expect(&e[0], "PER", 0, 1);
    expect(&e[1], "LOC", 2, 2);
    expect(&e[2], "PER", 3, 4);
    expect(&e[3], "PER", 5, 5);
    expect(&e[4], "A-B", 7, 7);
}

/* The score is the mean over the entity's tokens of each token's softmax probability of its
 * argmax; ties take the first label (numpy argmax); offsets give [first start, last end). */
static void test_scores_ties_offsets(void **state)
{
    (void)state;
    const float logits[3 * NTAGS] = {
        0.5f, 3.0f, 1.0f, -1.0f, 0.0f, /* B-X */
        0.0f, 1.0f, 2.5f, 2.5f, 0.0f,  /* tie I-X / B-Y: I-X */
        9.0f, 0.0f, 0.0f, 0.0f, 0.0f,  /* O */
    };
    const int32_t offsets[3 * 2] = {0, 4, 4, 9, 10, 12};
    qf_ner_entity e[3];
    size_t count = 0;
    assert_int_equal(qf_ner_entities(logits, 3, NTAGS, TAGS, NULL, offsets, e, 3, &count, NULL), QF_STATUS_OK);
    assert_int_equal(count, 1);
    assert_string_equal(e[0].label, "X");
    assert_int_equal(e[0].start, 0);
    assert_int_equal(e[0].end, 9);
    double s0 = 0, s1 = 0;
    for (size_t j = 0; j < NTAGS; j++) s0 += exp((double)logits[j] - 3.0), s1 += exp((double)logits[NTAGS + j] - 2.5);
    assert_true(fabs(e[0].score - (1 / s0 + 1 / s1) / 2) < 1e-12);
    assert_int_equal(qf_ner_argmax(logits + NTAGS, NTAGS), IX);
}

static void test_capacity_and_arguments(void **state)
{
    (void)state;
    float logits[4 * NTAGS];
    const int pick[] = {BX, BY, BX, BY};
    one_hot(pick, 4, logits);
    qf_ner_entity e[2];
    size_t count = 0;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_ner_entities(logits, 4, NTAGS, TAGS, NULL, NULL, e, 2, &count, &err), QF_STATUS_LIMIT);
    assert_int_equal(count, 4);
    expect(&e[1], "Y", 1, 1);
    assert_int_equal(qf_ner_entities(logits, 4, 0, TAGS, NULL, NULL, e, 2, &count, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_ner_entities(NULL, 4, NTAGS, TAGS, NULL, NULL, e, 2, &count, &err), QF_STATUS_INVALID_ARGUMENT);
    const char *const holes[] = {"O", NULL, "I-X", "B-Y", "I-Y"};
    assert_int_equal(qf_ner_entities(logits, 4, NTAGS, holes, NULL, NULL, e, 2, &count, &err),
                     QF_STATUS_INVALID_ARGUMENT);
}

static char *write_rows(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", QF_BINARY_DIR, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Each word's first token starts at the word's first character (the WordPiece and byte-level
 * tokenizers of the fixtures split no word across a space), tokens of one word come before the
 * next word's, and truncation leaves the words it cut off without a token. */
static void check_tied(const char *tokenizer_dir, int32_t max_length)
{
    qf_tokenizer *tok = NULL;
    char tpath[512];
    snprintf(tpath, sizeof tpath, FIX "heads/%s/tokenizer.json", tokenizer_dir);
    assert_int_equal(qf_tokenizer_load(tpath, &tok, NULL), QF_STATUS_OK);
    qf_dataset_params p = qf_dataset_params_default();
    p.max_length = max_length;
    qf_word_rows *w = NULL;
    qf_error err;
    qf_status s = qf_word_rows_load(FIX "heads/debsec-ner.jsonl", tok, &p, &w, &err);
    if (s) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    assert_int_equal(qf_word_rows_size(w), 48);
    assert_int_equal(qf_word_rows_labelled(w), 48);
    size_t cut = 0;
    for (size_t i = 0; i < qf_word_rows_size(w); i++) {
        const qf_word_row *r = qf_word_rows_at(w, i);
        assert_non_null(r->labels);
        int32_t last = -1;
        size_t word_char = 0; /* the texts are ASCII: characters are bytes */
        for (size_t k = 0; k < r->num_words; k++) {
            while (r->text[word_char] == ' ') word_char++;
            int32_t t = r->word_first_token[k];
            if (t < 0) {
                cut++;
                assert_true(max_length > 0);
                last = INT32_MAX;
            } else {
                assert_true(t > last);
                assert_false(r->special[t]);
                assert_int_equal(r->offsets[2 * t], (int32_t)word_char);
                last = t;
            }
            while (r->text[word_char] && r->text[word_char] != ' ') word_char++;
        }
        if (max_length) assert_true(r->length <= max_length);
    }
    if (max_length) assert_true(cut > 0);
    else assert_int_equal(cut, 0);
    qf_word_rows_destroy(w);
    qf_tokenizer_destroy(tok);
}

static void test_word_rows_tied(void **state)
{
    (void)state;
    check_tied("bert-token", 0);
    check_tied("roberta-token", 0);
    check_tied("bert-token", 8);
    check_tied("roberta-token", 8);
}

/* {"text", "labels"}: words split at runs of whitespace; first tokens as for the joined form. */
static void test_word_rows_text_form(void **state)
{
    (void)state;
    qf_tokenizer *tok = NULL;
    assert_int_equal(qf_tokenizer_load(FIX "heads/bert-token/tokenizer.json", &tok, NULL), QF_STATUS_OK);
    const char *path = write_rows("ner_text_rows.jsonl", "{\"text\": \"  aapt :\\tAndroid  tool \", \"labels\": "
                                                         "[\"B-PKG\", \"O\", \"O\", \"O\"]}\n\n{\"text\": \"x\"}\n");
    qf_word_rows *w = NULL;
    assert_int_equal(qf_word_rows_load(path, tok, NULL, &w, NULL), QF_STATUS_OK);
    assert_int_equal(qf_word_rows_size(w), 2);
    assert_int_equal(qf_word_rows_labelled(w), 1);
    const qf_word_row *r = qf_word_rows_at(w, 0);
    assert_int_equal(r->num_words, 4);
    assert_int_equal(r->line, 1);
    assert_int_equal(r->offsets[2 * r->word_first_token[0]], 2);
    assert_int_equal(r->offsets[2 * r->word_first_token[2]], 9);
    assert_int_equal(r->offsets[2 * r->word_first_token[3]], 18);
    assert_null(qf_word_rows_at(w, 1)->labels);
    assert_int_equal(qf_word_rows_at(w, 1)->line, 3);
    qf_word_rows_destroy(w);
    qf_tokenizer_destroy(tok);
}

/* Malformed rows: FORMAT, "line N", the field, and the element in the message. */
static void test_word_rows_refusals(void **state)
{
    (void)state;
    qf_tokenizer *tok = NULL;
    assert_int_equal(qf_tokenizer_load(FIX "heads/bert-token/tokenizer.json", &tok, NULL), QF_STATUS_OK);
    static const struct {
        const char *row, *field, *says;
    } cases[] = {
        {"{\"tokens\": [\"a\", \"b\"], \"labels\": [\"O\"]}", "labels", "1 tags for 2 words"},
        {"{\"tokens\": [\"a\", 3]}", "tokens", "\"tokens\"[1] is int"},
        {"{\"tokens\": [\"a\", \"b c\"]}", "tokens", "\"tokens\"[1] is a string with whitespace"},
        {"{\"tokens\": [\"\"]}", "tokens", "\"tokens\"[0] is empty"},
        {"{\"tokens\": []}", "tokens", "no words"},
        {"{\"tokens\": \"a b\"}", "tokens", "not an array"},
        {"{\"text\": \"a\", \"tokens\": [\"a\"]}", "tokens", "both"},
        {"{\"input_ids\": [1, 2]}", "tokens", "no words"},
        {"{\"text\": 5}", "text", "not a string"},
        {"{\"text\": \"   \"}", "text", "no words"},
        {"{\"tokens\": [\"a\"], \"labels\": [null]}", "labels", "\"labels\"[0] is null"},
        {"{\"tokens\": [\"a\"], \"labels\": \"O\"}", "labels", "not an array"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[512];
        snprintf(text, sizeof text, "{\"tokens\": [\"ok\"]}\n%s\n", cases[c].row);
        const char *path = write_rows("ner_bad_rows.jsonl", text);
        qf_word_rows *w = NULL;
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(qf_word_rows_load(path, tok, NULL, &w, &err), QF_STATUS_FORMAT);
        assert_null(w);
        assert_string_equal(err.part, "line 2");
        assert_string_equal(err.object, cases[c].field);
        if (!strstr(err.message, cases[c].says)) fail_msg("case %zu: '%s' lacks '%s'", c, err.message, cases[c].says);
    }
    qf_tokenizer_destroy(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bio_sequences),
        cmocka_unit_test(test_subwords_not_merged),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_other_names),
        cmocka_unit_test(test_scores_ties_offsets),
        cmocka_unit_test(test_capacity_and_arguments),
        cmocka_unit_test(test_word_rows_tied),
        cmocka_unit_test(test_word_rows_text_form),
        cmocka_unit_test(test_word_rows_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
