/*
 * tests/test_tokenizer_pair.c: pairs of texts in the text layer (qf_tokenizer_encode_pair,
 * qf_tokenizer_post_process, sequence_ids, "text_pair" dataset rows).
 *
 *   - golden pairs: fixtures/tokenizer/pair_golden.json holds the ids and type ids that
 *     @huggingface/tokenizers gives (fixtures/gen/tokenizer_pair_golden.mjs; longest_first
 *     truncation and RoBERTa's type ids as Rust tokenizers) for the bert-mini and roberta-mini
 *     fixtures and the four family fixtures, untruncated and at max_length 16 and 24; the folder
 *     loaders (vocab.txt; vocab.json + merges.txt) give the same;
 *   - longest_first truncation: the table of Rust tokenizers' own test (utils/truncation.rs);
 *   - the pair layout of each post-processor, of Sequences, without special tokens; tokenizers that
 *     cannot lay a pair out; post_process against encode and encode_pair;
 *   - dataset rows with "text_pair", and the rows refused.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/text.h"

#define FIX QF_SOURCE_DIR "/fixtures/tokenizer/"

static qf_tokenizer *load_ok(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load(path, &t, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("%s", buf);
    }
    return t;
}

static qf_tokenizer *load_json_ok(const char *json)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load_json(json, strlen(json), "inline.json", &t, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("%s\n%s", buf, json);
    }
    return t;
}

static void expect_ints(const char *what, const int32_t *got, size_t n_got, const int32_t *want, size_t n_want)
{
    if (n_got != n_want) fail_msg("%s: %zu entries, expected %zu", what, n_got, n_want);
    for (size_t i = 0; i < n_want; i++)
        if (got[i] != want[i]) fail_msg("%s: entry %zu is %d, expected %d", what, i, got[i], want[i]);
}

/* ---- golden pairs ---------------------------------------------------------------------------- */

typedef struct golden {
    json_object *root, *texts, *pairs, *cases;
} golden;

static void golden_open(golden *g)
{
    g->root = json_object_from_file(FIX "pair_golden.json");
    assert_non_null(g->root);
    assert_true(json_object_object_get_ex(g->root, "texts", &g->texts));
    assert_true(json_object_object_get_ex(g->root, "pairs", &g->pairs));
    assert_true(json_object_object_get_ex(g->root, "cases", &g->cases));
}

static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("no field %s", key);
    return v;
}

static void int_array(json_object *arr, int32_t **out, size_t *n)
{
    *n = json_object_array_length(arr);
    *out = malloc((*n ? *n : 1) * sizeof **out);
    assert_non_null(*out);
    for (size_t i = 0; i < *n; i++) (*out)[i] = json_object_get_int(json_object_array_get_idx(arr, i));
}

/* Compares every case of `name` (tokenizer `t`) with the golden file; returns the cases compared.
 * skip_qforge: leave out the pairs holding "qforge", an added token of the tokenizer.json fixtures
 * that their folder versions lack. */
static size_t check_golden(const golden *g, const char *name, const qf_tokenizer *t, bool skip_qforge)
{
    size_t n = json_object_array_length(g->cases), checked = 0;
    qf_encoding e = {0}, alone = {0};
    qf_tokenize_params raw = {0, 0, false};
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(g->cases, i);
        if (strcmp(json_object_get_string(field(c, "tokenizer")), name) != 0) continue;
        json_object *pair = json_object_array_get_idx(g->pairs, (size_t)json_object_get_int(field(c, "pair")));
        json_object *ta = json_object_array_get_idx(g->texts, (size_t)json_object_get_int(json_object_array_get_idx(pair, 0)));
        json_object *tb = json_object_array_get_idx(g->texts, (size_t)json_object_get_int(json_object_array_get_idx(pair, 1)));
        if (skip_qforge && (strstr(json_object_get_string(ta), "qforge") || strstr(json_object_get_string(tb), "qforge")))
            continue;
        qf_tokenize_params p = qf_tokenize_params_default();
        p.max_length = json_object_get_int(field(c, "max_length"));
        qf_error err;
        qf_error_clear(&err);
        qf_status s = qf_tokenizer_encode_pair(t, json_object_get_string(ta), (size_t)json_object_get_string_len(ta),
                                               json_object_get_string(tb), (size_t)json_object_get_string_len(tb), &p,
                                               &e, &err);
        if (s != QF_STATUS_OK) fail_msg("%s case %zu: %s", name, i, err.message);
        int32_t *ids, *types;
        size_t n_ids, n_types;
        int_array(field(c, "ids"), &ids, &n_ids);
        int_array(field(c, "types"), &types, &n_types);
        char what[128];
        snprintf(what, sizeof what, "%s case %zu (max_length %d) ids", name, i, p.max_length);
        expect_ints(what, e.input_ids, e.length, ids, n_ids);
        snprintf(what, sizeof what, "%s case %zu (max_length %d) type ids", name, i, p.max_length);
        expect_ints(what, e.token_type_ids, e.length, types, n_types);
        if (p.max_length > 0) assert_true(e.length <= (size_t)p.max_length);
        /* the positions of each text hold a prefix of its own ids, in order; the rest are specials */
        for (int seq = 0; seq < 2; seq++) {
            json_object *tx = seq ? tb : ta;
            assert_int_equal(qf_tokenizer_encode(t, json_object_get_string(tx), (size_t)json_object_get_string_len(tx),
                                                 &raw, &alone, NULL),
                             QF_STATUS_OK);
            size_t k = 0;
            for (size_t j = 0; j < e.length; j++) {
                assert_int_equal(e.attention_mask[j], 1);
                assert_true(e.sequence_ids[j] >= -1 && e.sequence_ids[j] <= 1);
                if (e.sequence_ids[j] != seq) continue;
                assert_true(k < alone.length);
                assert_int_equal(e.input_ids[j], alone.input_ids[k++]);
            }
            if (p.max_length == 0) assert_int_equal(k, alone.length);
        }
        free(ids);
        free(types);
        checked++;
    }
    qf_encoding_free(&e);
    qf_encoding_free(&alone);
    return checked;
}

static void test_golden_pairs(void **state)
{
    (void)state;
    golden g;
    golden_open(&g);
    json_object *tokenizers = field(g.root, "tokenizers");
    size_t total = 0, names = 0;
    json_object_object_foreach(tokenizers, name, path)
    {
        char full[1024];
        snprintf(full, sizeof full, "%s/%s", QF_SOURCE_DIR, json_object_get_string(path));
        qf_tokenizer *t = load_ok(full);
        size_t n = check_golden(&g, name, t, false);
        assert_true(n >= 200);
        total += n;
        names++;
        qf_tokenizer_destroy(t);
    }
    printf("pair parity vs @huggingface/tokenizers: %zu tokenizers, %zu cases identical\n", names, total);
    assert_int_equal(names, 6);
    json_object_put(g.root);
}

static void test_golden_pairs_folders(void **state)
{
    (void)state;
    golden g;
    golden_open(&g);
    qf_tokenizer *bert = load_ok(FIX "bert-mini-files"), *roberta = load_ok(FIX "roberta-mini-files");
    assert_true(check_golden(&g, "bert-mini", bert, true) >= 200);
    assert_true(check_golden(&g, "roberta-mini", roberta, true) >= 200);
    assert_int_equal(qf_tokenizer_num_special_tokens_pair(bert), 3);
    assert_int_equal(qf_tokenizer_num_special_tokens_pair(roberta), 4);
    qf_tokenizer_destroy(bert);
    qf_tokenizer_destroy(roberta);
    json_object_put(g.root);
}

/* ---- small tokenizers: one token per word --------------------------------------------------- */

#define TINY_MODEL                                                                                               \
    "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1,\"b\":2,\"[CLS]\":3,\"[SEP]\":4,\"<s>\":5," \
    "\"</s>\":6,\"[X]\":7,\"[Y]\":8}},\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}"
#define BERT_POST "{\"type\":\"BertProcessing\",\"cls\":[\"[CLS]\",3],\"sep\":[\"[SEP]\",4]}"
#define ROBERTA_POST "{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",5],\"sep\":[\"</s>\",6]}"
#define TEMPLATE_SPECIALS                                                                                        \
    "\"special_tokens\":{\"[X]\":{\"id\":\"[X]\",\"ids\":[7],\"tokens\":[\"[X]\"]},"                         \
    "\"[Y]\":{\"id\":\"[Y]\",\"ids\":[8,8],\"tokens\":[\"[Y]\",\"[Y]\"]}}"
/* single: [X] $A:1; pair: $B:2 [X]:3 $A [Y]:1 (sequences swapped, a two-id special token) */
#define TEMPLATE_POST                                                                                            \
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\",\"type_id\":0}},"            \
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":1}}],\"pair\":[{\"Sequence\":{\"id\":\"B\",\"type_id\":2}},"        \
    "{\"SpecialToken\":{\"id\":\"[X]\",\"type_id\":3}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"             \
    "{\"SpecialToken\":{\"id\":\"[Y]\",\"type_id\":1}}]," TEMPLATE_SPECIALS "}"

static qf_tokenizer *tiny(const char *post)
{
    char json[4096];
    snprintf(json, sizeof json, "{" TINY_MODEL ",\"post_processor\":%s}", post ? post : "null");
    return load_json_ok(json);
}

/* n words "a" then " b" words... : texts of exactly n tokens */
static const char *words(size_t n, char *buf, const char *w)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(buf, i ? " " : "");
        strcat(buf, w);
    }
    return buf;
}

static void pair(const qf_tokenizer *t, const char *a, const char *b, int32_t max_length, bool add, qf_encoding *e)
{
    qf_tokenize_params p = qf_tokenize_params_default();
    p.max_length = max_length;
    p.add_special_tokens = add;
    qf_error err;
    qf_error_clear(&err);
    if (qf_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), &p, e, &err) != QF_STATUS_OK)
        fail_msg("encode_pair: %s", err.message);
}

/* Rust tokenizers' truncate_encodings_longest_first test: max_length 7, lengths 0, 2, 4, 8. */
static void test_longest_first_table(void **state)
{
    (void)state;
    qf_tokenizer *t = tiny(NULL);
    static const size_t lens[4] = {0, 2, 4, 8};
    static const size_t want[4][4][2] = {
        {{0, 0}, {0, 2}, {0, 4}, {0, 7}},
        {{2, 0}, {2, 2}, {2, 4}, {2, 5}},
        {{4, 0}, {4, 2}, {3, 4}, {3, 4}},
        {{7, 0}, {5, 2}, {4, 3}, {3, 4}},
    };
    qf_encoding e = {0};
    char a[64], b[64];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            pair(t, words(lens[i], a, "a"), words(lens[j], b, "b"), 7, true, &e);
            size_t na = 0, nb = 0;
            for (size_t k = 0; k < e.length; k++) {
                if (e.sequence_ids[k] == 0) na++, assert_int_equal(e.input_ids[k], 1);
                if (e.sequence_ids[k] == 1) nb++, assert_int_equal(e.input_ids[k], 2);
            }
            if (na != want[i][j][0] || nb != want[i][j][1])
                fail_msg("lengths %zu + %zu at 7: %zu + %zu, expected %zu + %zu", lens[i], lens[j], na, nb, want[i][j][0],
                         want[i][j][1]);
            assert_int_equal(e.length, na + nb); /* no post-processor: A B, types 0 and 1 */
            for (size_t k = 0; k < e.length; k++) assert_int_equal(e.token_type_ids[k], k < na ? 0 : 1);
        }
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

typedef struct layout_case {
    const char *post;
    bool add;
    int32_t ids[24], types[24], seqs[24];
    size_t n;
    size_t n_special_pair;
} layout_case;

/* "a a" and "b" through each post-processor. */
static void test_layouts(void **state)
{
    (void)state;
    static const layout_case cases[] = {
        {BERT_POST, true, {3, 1, 1, 4, 2, 4}, {0, 0, 0, 0, 1, 1}, {-1, 0, 0, -1, 1, -1}, 6, 3},
        {BERT_POST, false, {1, 1, 2}, {0, 0, 1}, {0, 0, 1}, 3, 3},
        {ROBERTA_POST, true, {5, 1, 1, 6, 6, 2, 6}, {0}, {-1, 0, 0, -1, -1, 1, -1}, 7, 4},
        {ROBERTA_POST, false, {1, 1, 2}, {0}, {0, 0, 1}, 3, 4},
        {TEMPLATE_POST, true, {2, 7, 1, 1, 8, 8}, {2, 3, 0, 0, 1, 1}, {1, -1, 0, 0, -1, -1}, 6, 3},
        {TEMPLATE_POST, false, {2, 1, 1}, {2, 0, 0}, {1, 0, 0}, 3, 3},
        {"{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"}," BERT_POST "]}", true,
         {3, 1, 1, 4, 2, 4}, {0, 0, 0, 0, 1, 1}, {-1, 0, 0, -1, 1, -1}, 6, 3},
        /* Bert twice: each encoding of the list wrapped again */
        {"{\"type\":\"Sequence\",\"processors\":[" BERT_POST "," BERT_POST "]}", true,
         {3, 3, 1, 1, 4, 4, 2, 4, 4}, {0, 0, 0, 0, 0, 0, 1, 1, 1}, {-1, -1, 0, 0, -1, -1, 1, -1, -1}, 9, 6},
        /* Bert then Roberta: Roberta retypes everything 0 */
        {"{\"type\":\"Sequence\",\"processors\":[" BERT_POST "," ROBERTA_POST "]}", true,
         {5, 3, 1, 1, 4, 6, 6, 2, 4, 6}, {0}, {-1, -1, 0, 0, -1, -1, -1, 1, -1, -1}, 10, 7},
        /* Template then Bert: the template's 4 encodings, the first wrapped in [CLS] [SEP], each other
         * followed by [SEP] of type 1 */
        {"{\"type\":\"Sequence\",\"processors\":[" TEMPLATE_POST "," BERT_POST "]}", true,
         {3, 2, 4, 7, 4, 1, 1, 4, 8, 8, 4}, {0, 2, 0, 3, 1, 0, 0, 1, 1, 1, 1}, {-1, 1, -1, -1, -1, 0, 0, -1, -1, -1, -1},
         11, 6},
        {NULL, true, {1, 1, 2}, {0, 0, 1}, {0, 0, 1}, 3, 0},
    };
    qf_encoding e = {0}, again = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const layout_case *c = &cases[i];
        qf_tokenizer *t = tiny(c->post);
        pair(t, "a a", "b", 0, c->add, &e);
        char what[64];
        snprintf(what, sizeof what, "layout %zu ids", i);
        expect_ints(what, e.input_ids, e.length, c->ids, c->n);
        snprintf(what, sizeof what, "layout %zu types", i);
        expect_ints(what, e.token_type_ids, e.length, c->types, c->n);
        snprintf(what, sizeof what, "layout %zu sequence ids", i);
        expect_ints(what, e.sequence_ids, e.length, c->seqs, c->n);
        assert_int_equal(qf_tokenizer_num_special_tokens_pair(t), c->n_special_pair);
        /* post_process of the ids gives the same */
        static const int32_t ida[2] = {1, 1}, idb[1] = {2};
        assert_int_equal(qf_tokenizer_post_process(t, ida, 2, idb, 1, c->add, &again, NULL), QF_STATUS_OK);
        expect_ints(what, again.sequence_ids, again.length, c->seqs, c->n);
        expect_ints(what, again.input_ids, again.length, c->ids, c->n);
        qf_tokenizer_destroy(t);
    }
    qf_encoding_free(&e);
    qf_encoding_free(&again);
}

/* Truncation keeps room for the pair's special tokens; padding as for one sequence. */
static void test_truncate_and_pad(void **state)
{
    (void)state;
    qf_tokenizer *t = tiny(BERT_POST);
    qf_encoding e = {0};
    char a[64], b[64];
    pair(t, words(6, a, "a"), words(6, b, "b"), 11, true, &e); /* 8 for the texts: 4 + 4 */
    static const int32_t want[] = {3, 1, 1, 1, 1, 4, 2, 2, 2, 2, 4};
    expect_ints("truncated", e.input_ids, e.length, want, 11);
    pair(t, words(6, a, "a"), words(6, b, "b"), 12, true, &e); /* 9: the second takes the odd one */
    assert_int_equal(e.length, 12);
    assert_int_equal(e.input_ids[5], 4);
    assert_int_equal(e.input_ids[10], 2);
    pair(t, words(1, a, "a"), words(6, b, "b"), 7, true, &e); /* 4: "a" kept, 3 of the 6 */
    static const int32_t want2[] = {3, 1, 4, 2, 2, 2, 4};
    expect_ints("truncated longer", e.input_ids, e.length, want2, 7);
    pair(t, "a", "b", 3, true, &e); /* only the special tokens fit */
    static const int32_t want3[] = {3, 4, 4};
    expect_ints("budget 0", e.input_ids, e.length, want3, 3);

    qf_tokenize_params p = qf_tokenize_params_default();
    p.pad_to = 8;
    assert_int_equal(qf_tokenizer_encode_pair(t, "a", 1, "b", 1, &p, &e, NULL), QF_STATUS_OK);
    static const int32_t ids[] = {3, 1, 4, 2, 4, 0, 0, 0}, mask[] = {1, 1, 1, 1, 1, 0, 0, 0},
                         seqs[] = {-1, 0, -1, 1, -1, -1, -1, -1};
    expect_ints("padded ids", e.input_ids, e.length, ids, 8); /* no [PAD]: pad id 0 */
    expect_ints("padded mask", e.attention_mask, e.length, mask, 8);
    expect_ints("padded sequence ids", e.sequence_ids, e.length, seqs, 8);

    qf_error err;
    qf_error_clear(&err);
    p = qf_tokenize_params_default();
    p.max_length = 2;
    assert_int_equal(qf_tokenizer_encode_pair(t, "a", 1, "b", 1, &p, &e, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "max_length");
    assert_int_equal(e.length, 0);
    p.max_length = 2; /* one sequence needs only 2 */
    assert_int_equal(qf_tokenizer_encode(t, "a", 1, &p, &e, NULL), QF_STATUS_OK);
    assert_int_equal(e.length, 2);
    assert_int_equal(qf_tokenizer_encode_pair(NULL, "a", 1, "b", 1, NULL, &e, NULL), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_tokenizer_encode_pair(t, NULL, 1, "b", 1, NULL, &e, NULL), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_tokenizer_encode_pair(t, NULL, 0, NULL, 0, NULL, &e, NULL), QF_STATUS_OK);
    assert_int_equal(e.length, 3); /* [CLS] [SEP] [SEP] */
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

/* sequence_ids of one sequence; post_process of one sequence is qf_tokenizer_encode's layout. */
static void test_single_sequence_ids(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(FIX "bert-mini/tokenizer.json");
    qf_encoding e = {0}, pp = {0}, raw = {0};
    qf_tokenize_params p = qf_tokenize_params_default();
    p.pad_to = 24;
    const char *text = "Hello, World! How are you?";
    assert_int_equal(qf_tokenizer_encode(t, text, strlen(text), &p, &e, NULL), QF_STATUS_OK);
    assert_int_equal(e.length, 24);
    for (size_t i = 0; i < e.length; i++) {
        bool special = i == 0 || e.attention_mask[i] == 0 || i + 1 == e.length || e.attention_mask[i + 1] == 0;
        assert_int_equal(e.sequence_ids[i], special ? -1 : 0);
    }
    qf_tokenize_params plain = {0, 0, false};
    assert_int_equal(qf_tokenizer_encode(t, text, strlen(text), &plain, &raw, NULL), QF_STATUS_OK);
    for (size_t i = 0; i < raw.length; i++) assert_int_equal(raw.sequence_ids[i], 0);
    assert_int_equal(qf_tokenizer_post_process(t, raw.input_ids, raw.length, NULL, 0, true, &pp, NULL), QF_STATUS_OK);
    assert_int_equal(pp.length, raw.length + 2);
    for (size_t i = 0; i < pp.length; i++) {
        assert_int_equal(pp.input_ids[i], e.input_ids[i]);
        assert_int_equal(pp.token_type_ids[i], e.token_type_ids[i]);
        assert_int_equal(pp.sequence_ids[i], e.sequence_ids[i]);
    }
    /* a window of the ids, as a QA caller cuts one */
    assert_int_equal(qf_tokenizer_post_process(t, raw.input_ids + 2, 3, raw.input_ids, 4, true, &pp, NULL), QF_STATUS_OK);
    assert_int_equal(pp.length, 3 + 4 + 3);
    assert_int_equal(pp.input_ids[1], raw.input_ids[2]);
    assert_int_equal(pp.sequence_ids[5], 1);
    assert_int_equal(pp.input_ids[5], raw.input_ids[0]);
    assert_int_equal(qf_tokenizer_post_process(t, NULL, 1, NULL, 0, true, &pp, NULL), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_tokenizer_post_process(t, NULL, 0, NULL, 0, false, &pp, NULL), QF_STATUS_OK);
    assert_int_equal(pp.length, 0);
    qf_encoding_free(&e);
    qf_encoding_free(&pp);
    qf_encoding_free(&raw);
    qf_tokenizer_destroy(t);
}

/* Tokenizers that load and encode one sequence but cannot lay a pair out. */
static void test_pair_unsupported(void **state)
{
    (void)state;
    static const char *const posts[] = {
        /* no "pair" template */
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]," TEMPLATE_SPECIALS "}",
        /* the second template receives the first one's 4 encodings (Rust panics) */
        "{\"type\":\"Sequence\",\"processors\":[" TEMPLATE_POST "," TEMPLATE_POST "]}",
    };
    qf_encoding e = {0};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        qf_tokenizer *t = tiny(posts[i]);
        assert_int_equal(qf_tokenizer_encode(t, "a", 1, NULL, &e, NULL), QF_STATUS_OK);
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(qf_tokenizer_encode_pair(t, "a", 1, "b", 1, NULL, &e, &err), QF_STATUS_UNSUPPORTED);
        assert_non_null(strstr(err.message, "cannot encode a pair"));
        assert_int_equal(e.length, 0);
        static const int32_t one[1] = {1};
        assert_int_equal(qf_tokenizer_post_process(t, one, 1, one, 1, true, &e, NULL), QF_STATUS_UNSUPPORTED);
        assert_int_equal(qf_tokenizer_post_process(t, one, 1, NULL, 0, true, &e, NULL), QF_STATUS_OK);
        qf_tokenizer_destroy(t);
    }
    /* a "pair" template that is present is checked like "single" */
    qf_tokenizer *t = NULL;
    qf_error err;
    qf_error_clear(&err);
    const char *bad = "{" TINY_MODEL ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":"
                      "{\"id\":\"A\",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\"}},{\"SpecialToken\":"
                      "{\"id\":\"[Z]\"}}]," TEMPLATE_SPECIALS "}}";
    assert_int_equal(qf_tokenizer_load_json(bad, strlen(bad), NULL, &t, &err), QF_STATUS_FORMAT);
    assert_null(t);
    assert_string_equal(err.object, "post_processor.special_tokens[\"[Z]\"]");
    qf_encoding_free(&e);
}

/* ---- dataset rows with "text_pair" ------------------------------------------------------------ */

static char g_dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_dataset_pairs(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/qf_pair_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    qf_tokenizer *t = tiny(BERT_POST);
    const char *path = write_file("pairs.jsonl", "{\"text\": \"a a a\", \"text_pair\": \"b b b b\", \"label\": 1}\n"
                                                 "{\"text\": \"a\"}\n"
                                                 "{\"text\": \"a\", \"text_pair\": null}\n");
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = 8;
    qf_dataset *d = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(path, t, &dp, &d, &err), QF_STATUS_OK);
    assert_int_equal(qf_dataset_size(d), 3);
    const qf_dataset_row *r = qf_dataset_row_at(d, 0);
    static const int32_t ids[] = {3, 1, 1, 4, 2, 2, 2, 4}, types[] = {0, 0, 0, 0, 1, 1, 1, 1};
    expect_ints("pair row ids", r->input_ids, (size_t)r->length, ids, 8);
    expect_ints("pair row types", r->token_type_ids, (size_t)r->length, types, 8);
    int32_t bid[2 * 8], bmask[2 * 8], btypes[2 * 8];
    assert_int_equal(qf_dataset_pack(d, 0, 2, bid, bmask, btypes), 8);
    expect_ints("packed types", btypes, 8, types, 8);
    static const int32_t second[] = {0, 0, 0, 0, 0, 0, 0, 0};
    expect_ints("packed types of the single row", btypes + 8, 8, second, 8);
    assert_int_equal(qf_dataset_row_at(d, 2)->length, 3);
    qf_dataset_destroy(d);

    static const struct {
        const char *row;
        const char *message;
    } bad[] = {
        {"{\"text_pair\": \"b\", \"label\": 0}\n", "no \"text\""},
        {"{\"input_ids\": [1, 2], \"text_pair\": \"b\"}\n", "no \"text\""},
        {"{\"text\": \"a\", \"text_pair\": 3}\n", "is int, not a string"},
        {"{\"text\": \"a\", \"text_pair\": [\"b\"]}\n", "is array, not a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"text\": \"a\"}\n%s", bad[i].row);
        path = write_file("bad.jsonl", text);
        qf_error_clear(&err);
        d = NULL;
        assert_int_equal(qf_dataset_load(path, t, &dp, &d, &err), QF_STATUS_FORMAT);
        assert_null(d);
        assert_string_equal(err.object, "text_pair");
        assert_string_equal(err.part, "line 2");
        assert_int_equal(err.offset, 14);
        assert_non_null(strstr(err.file, "bad.jsonl"));
        if (!strstr(err.message, bad[i].message)) fail_msg("row %zu: '%s'", i, err.message);
    }
    /* a tokenizer that cannot lay out pairs: the row's error */
    qf_tokenizer *single_only =
        tiny("{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]," TEMPLATE_SPECIALS "}");
    path = write_file("pairs2.jsonl", "{\"text\": \"a\", \"text_pair\": \"b\"}\n");
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(path, single_only, &dp, &d, &err), QF_STATUS_UNSUPPORTED);
    assert_string_equal(err.part, "line 1");
    qf_tokenizer_destroy(single_only);
    qf_tokenizer_destroy(t);
    unlink(write_file("bad.jsonl", ""));
    unlink(write_file("pairs.jsonl", ""));
    unlink(write_file("pairs2.jsonl", ""));
    rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_pairs),
        cmocka_unit_test(test_golden_pairs_folders),
        cmocka_unit_test(test_longest_first_table),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_truncate_and_pad),
        cmocka_unit_test(test_single_sequence_ids),
        cmocka_unit_test(test_pair_unsupported),
        cmocka_unit_test(test_dataset_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
