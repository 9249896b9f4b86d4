/*
 * tests/test_tokenizer.c: the tokenizers of text/ (WordPiece, byte-level BPE) and their parts.
 *
 *   - golden cases: fixtures/tokenizer/golden.json holds ids computed by @huggingface/tokenizers
 *     (fixtures/gen/tokenizer_golden.mjs) for the bert-mini and roberta-mini fixtures: accents,
 *     CJK, control characters, Turkish dotted I, BERT punctuation, WordPiece longest match and
 *     [UNK], GPT-2 splitting, special tokens in text, truncation;
 *   - the folder loaders (vocab.txt; vocab.json + merges.txt) give the same ids;
 *   - cases where tokenizers.js departs from the Rust library, stated by hand: final sigma,
 *     single_word, invalid UTF-8, private-use characters, StripAccents vs BERT accents;
 *   - Unicode normalization forms and lowercase; components through small inline tokenizer.json;
 *   - padding, special tokens, accessors;
 *   - bad tokenizer files: each gives its status code, field and byte offset (-1 where JSON
 *     values carry none); limits at and one past;
 *   - robustness: random bytes to encode, truncated tokenizer.json to load.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/verify.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

#define FIX QF_SOURCE_DIR "/fixtures/tokenizer/"

static qf_tokenizer *load_ok(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    qf_status s = qf_tokenizer_load(path, &t, &err);
    if (s != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("loading %s: %s", path, buf);
    }
    return t;
}

static qf_tokenizer *load_json_ok(const char *json)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    qf_status s = qf_tokenizer_load_json(json, strlen(json), "inline.json", &t, &err);
    if (s != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("loading inline tokenizer: %s", buf);
    }
    return t;
}

/* Encodes with defaults plus max_length; returns the length, ids in out. */
static size_t enc(const qf_tokenizer *t, const char *text, size_t len, int32_t max_length, qf_encoding *e)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenize_params p = qf_tokenize_params_default();
    p.max_length = max_length;
    qf_status s = qf_tokenizer_encode(t, text, len, &p, e, &err);
    if (s != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("encode: %s", buf);
    }
    return e->length;
}

static bool same_ids(const qf_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen)
{
    qf_encoding x = {0}, y = {0};
    enc(t, a, alen, 0, &x);
    enc(t, b, blen, 0, &y);
    bool same = x.length == y.length && memcmp(x.input_ids, y.input_ids, x.length * sizeof(int32_t)) == 0;
    qf_encoding_free(&x);
    qf_encoding_free(&y);
    return same;
}

static void assert_ids(const qf_tokenizer *t, const char *text, const int32_t *ids, size_t n)
{
    qf_encoding e = {0};
    enc(t, text, strlen(text), 0, &e);
    if (e.length != n) fail_msg("'%s': %zu ids, expected %zu", text, e.length, n);
    for (size_t i = 0; i < n; i++)
        if (e.input_ids[i] != ids[i]) fail_msg("'%s': id %zu is %d, expected %d", text, i, e.input_ids[i], ids[i]);
    qf_encoding_free(&e);
}

/* ---- golden cases ---------------------------------------------------------------------------- */

static void run_golden(const char *bert_path, const char *roberta_path, bool skip_qforge_case)
{
    json_object *root = json_object_from_file(FIX "golden.json");
    assert_non_null(root);
    qf_tokenizer *bert = load_ok(bert_path), *roberta = load_ok(roberta_path);
    size_t n = json_object_array_length(root), checked = 0;
    qf_encoding e = {0};
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(root, i), *v;
        json_object_object_get_ex(c, "tokenizer", &v);
        const qf_tokenizer *t = strcmp(json_object_get_string(v), "bert-mini") == 0 ? bert : roberta;
        json_object_object_get_ex(c, "text", &v);
        const char *text = json_object_get_string(v);
        size_t tlen = (size_t)json_object_get_string_len(v);
        if (skip_qforge_case && strstr(text, "qforge")) continue;
        json_object_object_get_ex(c, "max_length", &v);
        int32_t max_length = json_object_get_int(v);
        json_object *ids;
        json_object_object_get_ex(c, "ids", &ids);
        size_t m = json_object_array_length(ids);
        enc(t, text, tlen, max_length, &e);
        if (e.length != m) fail_msg("case %zu '%s': %zu ids, expected %zu", i, text, e.length, m);
        for (size_t k = 0; k < m; k++) {
            int32_t want = json_object_get_int(json_object_array_get_idx(ids, k));
            if (e.input_ids[k] != want) fail_msg("case %zu '%s': id %zu is %d, expected %d", i, text, k, e.input_ids[k], want);
            assert_int_equal(e.attention_mask[k], 1);
            assert_int_equal(e.token_type_ids[k], 0);
        }
        if (max_length > 0) assert_true(e.length <= (size_t)max_length);
        checked++;
    }
    assert_true(checked >= 25);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(bert);
    qf_tokenizer_destroy(roberta);
    json_object_put(root);
}

static void test_golden_cases(void **state)
{
    (void)state;
    run_golden(FIX "bert-mini/tokenizer.json", FIX "roberta-mini/tokenizer.json", false);
}

/* The folders without tokenizer.json get transformers' defaults, which must give the same ids
 * (the vocab.txt folder has no "qforge" added token, so that case is left out). */
static void test_folder_loaders(void **state)
{
    (void)state;
    run_golden(FIX "bert-mini-files", FIX "roberta-mini-files", true);
    qf_tokenizer *t = load_ok(FIX "bert-mini"); /* folder holding a tokenizer.json */
    assert_int_equal(qf_tokenizer_num_special_tokens(t), 2);
    qf_tokenizer_destroy(t);
}

/* ---- Rust semantics where tokenizers.js differs ---------------------------------------------- */

static void test_rust_semantics(void **state)
{
    (void)state;
    qf_tokenizer *bert = load_ok(FIX "bert-mini/tokenizer.json");
    qf_tokenizer *roberta = load_ok(FIX "roberta-mini/tokenizer.json");
    /* Lowercase is per character (Rust char::to_lowercase): a final capital sigma becomes σ, not
     * the contextual ς of JavaScript's toLowerCase. */
    int32_t sigma = qf_tokenizer_token_to_id(bert, "σ");
    assert_true(sigma >= 0);
    assert_true(same_ids(bert, "ΟΔΟΣ", strlen("ΟΔΟΣ"), "οδοσ", strlen("οδοσ")));
    int32_t sig[] = {2, sigma, 3};
    assert_ids(bert, "Σ", sig, 3);
    /* Invalid UTF-8 decodes to U+FFFD (one per maximal ill-formed subsequence), which BERT's
     * clean_text drops and byte-level BPE encodes as the bytes EF BF BD. */
    assert_true(same_ids(bert, "ab\xff cd", 6, "ab cd", 5));
    assert_true(same_ids(roberta, "a\xff" "b", 3, "a\xef\xbf\xbd" "b", 5));
    assert_true(same_ids(roberta, "a\xe2\x82" "b", 4, "a\xef\xbf\xbd" "b", 5));         /* truncated sequence: one */
    assert_true(same_ids(roberta, "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9)); /* surrogate: three */
    assert_true(same_ids(roberta, "x\xc0\xaf", 3, "x\xef\xbf\xbd\xef\xbf\xbd", 7));            /* overlong: two */
    /* NUL is an ordinary character for byte-level BPE, removed by BERT's clean_text. */
    assert_true(same_ids(bert, "a\0b", 3, "ab", 2));
    assert_false(same_ids(roberta, "a\0b", 3, "ab", 2));
    /* Private-use characters are controls (Co) for BertNormalizer. */
    assert_true(same_ids(bert, "x\xee\x80\x80y", 5, "xy", 2));
    qf_tokenizer_destroy(bert);
    qf_tokenizer_destroy(roberta);
}

/* A WordPiece over single letters, for component tests through inline tokenizer.json. */
#define WP_VOCAB                                                                                          \
    "\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"b\":4,\"c\":5,\"x\":6,\"y\":7,\"##a\":8," \
    "\"##b\":9,\"##c\":10,\"##x\":11,\"##y\":12,\"ab\":13,\"abc\":14,\"##bc\":15,\"e\":16,\"!\":17,\"é\":18,\"fi\":19}"

static const char *wp_json(char *buf, size_t size, const char *normalizer, const char *pre, const char *added)
{
    snprintf(buf, size,
             "{\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":%s,\"post_processor\":null,"
             "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
             "\"max_input_chars_per_word\":5," WP_VOCAB "}}",
             added, normalizer, pre);
    return buf;
}

static void test_wordpiece_longest_match(void **state)
{
    (void)state;
    char js[2048];
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js, "null", "{\"type\":\"WhitespaceSplit\"}", ""));
    int32_t abc[] = {14};              /* whole word first */
    assert_ids(t, "abc", abc, 1);
    int32_t abcab[] = {14, 8, 9};      /* abc ##a ##b: longest piece at each position */
    assert_ids(t, "abcab", abcab, 3);
    int32_t bc[] = {4, 10};
    assert_ids(t, "bc", bc, 2);
    int32_t unk[] = {0, 3};            /* 'z' nowhere: the whole word is [UNK] */
    assert_ids(t, "azb a", unk, 2);
    int32_t longw[] = {0, 13};         /* 6 characters > max_input_chars_per_word 5 */
    assert_ids(t, "ababab ab", longw, 2);
    int32_t five[] = {13, 9, 8, 9};    /* 5 characters: allowed */
    assert_ids(t, "abbab", five, 4);
    qf_tokenizer_destroy(t);
}

static void test_added_token_flags(void **state)
{
    (void)state;
    char js[4096];
    /* "ab" (id 13) only as a single word; "xy" (id 20) strips spaces on both sides. */
    qf_tokenizer *t = load_json_ok(wp_json(
        js, sizeof js, "null", "{\"type\":\"WhitespaceSplit\"}",
        "{\"id\":13,\"content\":\"ab\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
        "\"special\":false},{\"id\":20,\"content\":\"xy\",\"single_word\":false,\"lstrip\":true,\"rstrip\":true,"
        "\"normalized\":false,\"special\":true}"));
    /* "cab" keeps ab inside the word: c ##a ##b */
    int32_t a[] = {13, 5, 8, 9, 13};
    assert_ids(t, "ab cab ab", a, 5);
    int32_t b[] = {3, 20, 4};
    assert_ids(t, "a   xy   b", b, 3);
    assert_int_equal(qf_tokenizer_vocab_size(t), 21);
    assert_int_equal(qf_tokenizer_token_to_id(t, "xy"), 20);
    assert_int_equal(qf_tokenizer_token_to_id(t, "##bc"), 15);
    assert_int_equal(qf_tokenizer_token_to_id(t, "nope"), -1);
    qf_tokenizer_destroy(t);

    /* normalized: matched after the normalizer (lowercase): "AB" finds "ab". */
    t = load_json_ok(wp_json(js, sizeof js, "{\"type\":\"Lowercase\"}", "{\"type\":\"WhitespaceSplit\"}",
                             "{\"id\":13,\"content\":\"AB\",\"normalized\":true}"));
    int32_t c[] = {5, 13, 5};
    assert_ids(t, "cABc", c, 3);
    qf_tokenizer_destroy(t);
}

static void test_normalizers(void **state)
{
    (void)state;
    char js[4096];
    /* StripAccents drops every mark without decomposing: precomposed é stays, e + U+0301 loses it. */
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js, "{\"type\":\"StripAccents\"}", "{\"type\":\"WhitespaceSplit\"}", ""));
    int32_t e1[] = {18, 16};
    assert_ids(t, "\xc3\xa9 e\xcc\x81", e1, 2);
    qf_tokenizer_destroy(t);
    /* NFC composes; NFKC also folds the ligature ﬁ. */
    t = load_json_ok(wp_json(js, sizeof js, "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"}]}",
                             "{\"type\":\"WhitespaceSplit\"}", ""));
    int32_t e2[] = {18, 19};
    assert_ids(t, "e\xcc\x81 \xef\xac\x81", e2, 2);
    qf_tokenizer_destroy(t);
    /* Replace (String), Prepend, Strip. */
    t = load_json_ok(wp_json(js, sizeof js,
                             "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\",\"strip_left\":true,"
                             "\"strip_right\":true},{\"type\":\"Replace\",\"pattern\":{\"String\":\"zz\"},"
                             "\"content\":\"b\"},{\"type\":\"Prepend\",\"prepend\":\"a\"}]}",
                             "null", ""));
    int32_t e3[] = {14};
    assert_ids(t, "  zzc  ", e3, 1); /* strip -> "zzc" -> "bc" -> "abc" */
    qf_tokenizer_destroy(t);
    /* BertNormalizer with strip_accents false and lowercase true keeps the accent. */
    t = load_json_ok(wp_json(js, sizeof js,
                             "{\"type\":\"BertNormalizer\",\"strip_accents\":false,\"lowercase\":true}",
                             "{\"type\":\"BertPreTokenizer\"}", ""));
    int32_t e4[] = {18, 17, 3};
    assert_ids(t, "\xc3\x89!a", e4, 3); /* É -> é, then ! isolated */
    qf_tokenizer_destroy(t);
}

static void test_pre_tokenizers(void **state)
{
    (void)state;
    char js[4096];
    /* Punctuation behaviours and Digits through Sequence. */
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js, "null",
                                           "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
                                           "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}]}",
                                           ""));
    int32_t p1[] = {0, 3}; /* "a!" -> "a!" is one word not in the vocabulary; then a */
    assert_ids(t, "a! a", p1, 2);
    qf_tokenizer_destroy(t);
    t = load_json_ok(wp_json(js, sizeof js, "null", "{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}", ""));
    int32_t p2[] = {3, 17, 17, 4};
    assert_ids(t, "a!!b", p2, 4);
    qf_tokenizer_destroy(t);
    t = load_json_ok(wp_json(js, sizeof js, "null", "{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", ""));
    int32_t p3[] = {3, 0, 4};
    assert_ids(t, "a!!b", p3, 3);
    qf_tokenizer_destroy(t);
    t = load_json_ok(wp_json(js, sizeof js, "null",
                             "{\"type\":\"Split\",\"pattern\":{\"String\":\"c\"},\"behavior\":\"MergedWithNext\","
                             "\"invert\":false}",
                             ""));
    int32_t p4[] = {3, 5, 8, 11}; /* "a" "cax": the match joins the piece after it -> a, c ##a ##x */
    assert_ids(t, "acax", p4, 4);
    qf_tokenizer_destroy(t);
    /* Whitespace: \w+|[^\w\s]+ */
    t = load_json_ok(wp_json(js, sizeof js, "null", "{\"type\":\"Whitespace\"}", ""));
    int32_t p5[] = {13, 17, 5};
    assert_ids(t, "ab! c", p5, 3);
    qf_tokenizer_destroy(t);
}

static void test_bpe_known_cases(void **state)
{
    (void)state;
    /* The merge table of the Rust library's test: "unrelated" -> one token; ranks decide order. */
    const char *js =
        "{\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
        "\"vocab\":{\"u\":0,\"n\":1,\"r\":2,\"e\":3,\"l\":4,\"a\":5,\"t\":6,\"d\":7,\"re\":8,\"at\":9,\"ed\":10,"
        "\"un\":11,\"ated\":12,\"rel\":13,\"related\":14,\"unrelated\":15,\"<unk>\":16},"
        "\"merges\":[\"r e\",\"a t\",\"e d\",\"u n\",[\"at\",\"ed\"],\"re l\",\"rel ated\",\"un related\"]}}";
    qf_tokenizer *t = load_json_ok(js);
    int32_t a[] = {15};
    assert_ids(t, "unrelated", a, 1);
    int32_t b[] = {5, 16, 5}; /* unknown characters fused into one <unk> */
    assert_ids(t, "azzza", b, 3);
    int32_t c[] = {13, 3}; /* rel + e */
    assert_ids(t, "rele", c, 2);
    qf_tokenizer_destroy(t);
}

/* ---- Unicode ---------------------------------------------------------------------------------- */

static void check_norm(qf_uni_form f, const uint32_t *in, size_t n, const uint32_t *want, size_t wn)
{
    qf_cpbuf out = {0};
    assert_true(qf_uni_normalize(f, in, n, SIZE_MAX, &out));
    assert_int_equal(out.n, wn);
    for (size_t i = 0; i < wn; i++) assert_int_equal(out.v[i], want[i]);
    qf_cpbuf_free(&out);
}

static void test_unicode(void **state)
{
    (void)state;
    assert_string_equal(qf_tokenizer_unicode_version(), "14.0.0");
    uint32_t e_acute[] = {0xE9}, e_dec[] = {'e', 0x301};
    check_norm(QF_UNI_NFD, e_acute, 1, e_dec, 2);
    check_norm(QF_UNI_NFC, e_dec, 2, e_acute, 1);
    uint32_t han[] = {0xD55C}, han_d[] = {0x1112, 0x1161, 0x11AB};
    check_norm(QF_UNI_NFD, han, 1, han_d, 3);
    check_norm(QF_UNI_NFC, han_d, 3, han, 1);
    /* Canonical order: dot below (220) before acute (230), whatever the input order. */
    uint32_t marks[] = {'a', 0x301, 0x323}, ordered[] = {'a', 0x323, 0x301};
    check_norm(QF_UNI_NFD, marks, 3, ordered, 3);
    uint32_t composed[] = {0x1EA1, 0x301}; /* ạ + acute */
    check_norm(QF_UNI_NFC, marks, 3, composed, 2);
    uint32_t fi[] = {0xFB01}, fi2[] = {'f', 'i'};
    check_norm(QF_UNI_NFKC, fi, 1, fi2, 2);
    check_norm(QF_UNI_NFC, fi, 1, fi, 1);
    /* Lowercase: İ -> i + combining dot above (the only multi-character one); ẞ -> ß; Σ -> σ. */
    qf_cpbuf lo = {0};
    assert_true(qf_uni_append_lower(&lo, 0x130));
    assert_true(qf_uni_append_lower(&lo, 0x1E9E));
    assert_true(qf_uni_append_lower(&lo, 0x3A3));
    assert_int_equal(lo.n, 4);
    assert_int_equal(lo.v[0], 'i');
    assert_int_equal(lo.v[1], 0x307);
    assert_int_equal(lo.v[2], 0xDF);
    assert_int_equal(lo.v[3], 0x3C3);
    qf_cpbuf_free(&lo);
    assert_true(qf_uni_is_bert_punctuation('$'));
    assert_true(qf_uni_is_bert_punctuation('`'));
    assert_true(qf_uni_is_bert_punctuation(0x2014));
    assert_false(qf_uni_is_bert_punctuation(0x2122)); /* ™ is a symbol (So) */
    assert_true(qf_uni_is_whitespace(0x3000));
    assert_false(qf_uni_is_whitespace(0x200B));
    assert_true(qf_uni_is_chinese(0x4E2D));
    assert_true(qf_uni_is_chinese(0x20000));
    assert_false(qf_uni_is_chinese(0xD55C));
}

/* ---- encodings: padding, truncation, specials ------------------------------------------------ */

static void test_padding_truncation(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(FIX "bert-mini/tokenizer.json");
    assert_int_equal(qf_tokenizer_pad_id(t), 0);
    assert_int_equal(qf_tokenizer_num_special_tokens(t), 2);
    assert_int_equal(qf_tokenizer_vocab_size(t), 2025);
    qf_encoding e;
    qf_encoding_init(&e);
    qf_error err;
    qf_error_clear(&err);
    qf_tokenize_params p = qf_tokenize_params_default();
    p.pad_to = 10;
    assert_int_equal(qf_tokenizer_encode(t, "library", 7, &p, &e, &err), QF_STATUS_OK);
    assert_int_equal(e.length, 10);
    size_t real = 0;
    while (real < 10 && e.attention_mask[real] == 1) real++;
    assert_true(real >= 3);
    assert_int_equal(e.input_ids[0], 2);
    assert_int_equal(e.input_ids[real - 1], 3);
    for (size_t i = real; i < 10; i++) {
        assert_int_equal(e.input_ids[i], 0);
        assert_int_equal(e.attention_mask[i], 0);
        assert_int_equal(e.token_type_ids[i], 0);
    }
    /* max_length 2: only the special tokens; 1: no room for them. */
    p = qf_tokenize_params_default();
    p.max_length = 2;
    assert_int_equal(qf_tokenizer_encode(t, "library for parsing", 19, &p, &e, &err), QF_STATUS_OK);
    assert_int_equal(e.length, 2);
    p.max_length = 1;
    assert_int_equal(qf_tokenizer_encode(t, "library", 7, &p, &e, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(err.code, QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "max_length");
    assert_int_equal(e.length, 0);
    /* Without special tokens, max_length 1 is fine. */
    p.add_special_tokens = false;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_encode(t, "library for", 11, &p, &e, &err), QF_STATUS_OK);
    assert_int_equal(e.length, 1);
    assert_int_not_equal(e.input_ids[0], 2);
    p.max_length = -1;
    assert_int_equal(qf_tokenizer_encode(t, "x", 1, &p, &e, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_tokenizer_encode(t, "x", 1, NULL, NULL, NULL), QF_STATUS_INVALID_ARGUMENT);
    assert_int_equal(qf_tokenizer_encode(NULL, "x", 1, NULL, &e, NULL), QF_STATUS_INVALID_ARGUMENT);
    qf_encoding_free(&e);
    qf_encoding_free(NULL);
    qf_tokenizer_destroy(t);
    qf_tokenizer_destroy(NULL);
}

/* ---- bad files -------------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *json;
    qf_status code;
    int64_t offset;
    const char *object; /* expected err.object; NULL: not checked */
} bad_case;

static void expect_bad(const char *json, size_t len, qf_status code, int64_t offset, const char *object)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = (qf_tokenizer *)1;
    qf_status s = qf_tokenizer_load_json(json, len, "bad.json", &t, &err);
    char buf[1024];
    qf_error_format(&err, buf, sizeof buf);
    if (s != code || err.code != code || err.offset != offset)
        fail_msg("'%.80s': status %s offset %lld (%s), expected %s offset %lld", json, qf_status_name(s),
                 (long long)err.offset, buf, qf_status_name(code), (long long)offset);
    assert_null(t);
    assert_string_equal(err.file, "bad.json");
    if (object && strcmp(err.object, object) != 0) fail_msg("'%.80s': object '%s', expected '%s'", json, err.object, object);
}

#define WP_MODEL "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1}}"

static void test_bad_tokenizer_json(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{", QF_STATUS_TRUNCATED, 1, NULL},
        {"{\"model\": tru}", QF_STATUS_FORMAT, 13, NULL},
        {"{}x", QF_STATUS_FORMAT, 2, NULL},
        {"[1,2]", QF_STATUS_FORMAT, -1, "(top level)"},
        {"{}", QF_STATUS_FORMAT, -1, "model"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":[]}}", QF_STATUS_FORMAT, -1, "model.vocab"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":\"1\"}}}", QF_STATUS_FORMAT, -1, "model.vocab[\"a\"]"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":-1}}}", QF_STATUS_FORMAT, -1, "model.vocab[\"a\"]"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":1.5}}}", QF_STATUS_FORMAT, -1, "model.vocab[\"a\"]"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":2097152}}}", QF_STATUS_LIMIT, -1, "model.vocab[\"a\"]"},
        {"{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}", QF_STATUS_UNSUPPORTED, -1, "model.type"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", QF_STATUS_FORMAT, -1,
         "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", QF_STATUS_FORMAT, -1,
         "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", QF_STATUS_FORMAT, -1,
         "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[7]}}", QF_STATUS_FORMAT, -1, "model.merges[0]"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1}}", QF_STATUS_UNSUPPORTED, -1,
         "model.dropout"},
        {"{" WP_MODEL ",\"normalizer\":{\"type\":\"Nmt\"}}", QF_STATUS_UNSUPPORTED, -1, "normalizer.type"},
        {"{" WP_MODEL ",\"normalizer\":{\"type\":\"Precompiled\"}}", QF_STATUS_FORMAT, -1,
         "normalizer.precompiled_charsmap"},
        {"{" WP_MODEL ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"lowercase\":1}]}}",
         QF_STATUS_FORMAT, -1, "normalizer.normalizers[1].type"},
        {"{" WP_MODEL ",\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":\"yes\"}}", QF_STATUS_FORMAT, -1,
         "normalizer.lowercase"},
        {"{" WP_MODEL ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Removed\"}}",
         QF_STATUS_UNSUPPORTED, -1, "pre_tokenizer.pattern.Regex"},
        {"{" WP_MODEL ",\"pre_tokenizer\":{\"type\":\"Punctuation\",\"behavior\":\"Sideways\"}}", QF_STATUS_FORMAT, -1,
         "pre_tokenizer.behavior"},
        {"{" WP_MODEL ",\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\"],\"cls\":[\"[CLS]\",1]}}",
         QF_STATUS_FORMAT, -1, "post_processor.sep"},
        {"{" WP_MODEL ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\","
         "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}}",
         QF_STATUS_FORMAT, -1, "post_processor.special_tokens[\"[X]\"]"},
        {"{" WP_MODEL ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[],\"special_tokens\":{}}}",
         QF_STATUS_FORMAT, -1, "post_processor.single"},
        {"{" WP_MODEL ",\"added_tokens\":[{\"id\":5}]}", QF_STATUS_FORMAT, -1, "added_tokens[0].content"},
        {"{" WP_MODEL ",\"added_tokens\":{}}", QF_STATUS_FORMAT, -1, "added_tokens"},
        {"{" WP_MODEL ",\"padding\":{\"pad_id\":\"0\"}}", QF_STATUS_FORMAT, -1, "padding.pad_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_bad(cases[i].json, strlen(cases[i].json), cases[i].code, cases[i].offset, cases[i].object);

    /* JSON nesting: QF_TOKENIZER_MAX_JSON_DEPTH levels (the top object and 63 arrays) load, one
     * more is refused at the '[' that opens it. */
    char deep[512];
    for (int extra = 0; extra < 2; extra++) {
        int arrays = QF_TOKENIZER_MAX_JSON_DEPTH - 1 + extra;
        size_t k = (size_t)snprintf(deep, sizeof deep, "{" WP_MODEL ",\"x\":");
        size_t first = k;
        for (int i = 0; i < arrays; i++) deep[k++] = '[';
        for (int i = 0; i < arrays; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = '\0';
        if (extra == 0) qf_tokenizer_destroy(load_json_ok(deep));
        else expect_bad(deep, k, QF_STATUS_LIMIT, (int64_t)(first + (size_t)arrays - 1), NULL);
    }

    /* Sequence nesting: QF_TOKENIZER_MAX_NESTING Sequences load, one more is refused. */
    char seq[2048];
    for (int extra = 0; extra < 2; extra++) {
        int levels = QF_TOKENIZER_MAX_NESTING + extra;
        size_t k = (size_t)snprintf(seq, sizeof seq, "{" WP_MODEL ",\"normalizer\":");
        for (int i = 0; i < levels; i++) k += (size_t)snprintf(seq + k, sizeof seq - k, "{\"type\":\"Sequence\",\"normalizers\":[");
        k += (size_t)snprintf(seq + k, sizeof seq - k, "{\"type\":\"NFC\"}");
        for (int i = 0; i < levels; i++) k += (size_t)snprintf(seq + k, sizeof seq - k, "]}");
        snprintf(seq + k, sizeof seq - k, "}");
        if (extra == 0) qf_tokenizer_destroy(load_json_ok(seq));
        else expect_bad(seq, strlen(seq), QF_STATUS_LIMIT, -1, NULL);
    }
}

/* Token length: QF_TOKENIZER_MAX_TOKEN_BYTES loads, one more byte is refused. */
static void test_token_length_limit(void **state)
{
    (void)state;
    size_t n = QF_TOKENIZER_MAX_TOKEN_BYTES + 1;
    char *js = malloc(n + 256);
    assert_non_null(js);
    for (int past = 0; past < 2; past++) {
        size_t len = QF_TOKENIZER_MAX_TOKEN_BYTES + (size_t)past;
        size_t k = (size_t)sprintf(js, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"");
        memset(js + k, 'q', len);
        k += len;
        sprintf(js + k, "\":1}}}");
        if (!past) {
            qf_tokenizer *t = load_json_ok(js);
            assert_int_equal(qf_tokenizer_vocab_size(t), 2);
            qf_tokenizer_destroy(t);
        } else {
            expect_bad(js, strlen(js), QF_STATUS_LIMIT, -1, NULL);
        }
    }
    free(js);
}

/* Added tokens: QF_TOKENIZER_MAX_ADDED load, one more is refused; the largest id is accepted. */
static void test_added_and_id_limits(void **state)
{
    (void)state;
    size_t cap = (size_t)(QF_TOKENIZER_MAX_ADDED + 1) * 48 + 256;
    char *js = malloc(cap);
    assert_non_null(js);
    for (int past = 0; past < 2; past++) {
        size_t n = QF_TOKENIZER_MAX_ADDED + (size_t)past;
        size_t k = (size_t)sprintf(js, "{" WP_MODEL ",\"added_tokens\":[");
        for (size_t i = 0; i < n; i++)
            k += (size_t)sprintf(js + k, "%s{\"id\":%zu,\"content\":\"t%zu\"}", i ? "," : "", i + 2, i);
        k += (size_t)sprintf(js + k, "]}");
        if (!past) {
            qf_tokenizer *t = load_json_ok(js);
            assert_int_equal(qf_tokenizer_vocab_size(t), QF_TOKENIZER_MAX_ADDED + 2);
            assert_int_equal(qf_tokenizer_token_to_id(t, "t65535"), 65537);
            int32_t ids[] = {1, 10, 1};
            assert_ids(t, "at8a", ids, 3);
            qf_tokenizer_destroy(t);
        } else {
            expect_bad(js, k, QF_STATUS_LIMIT, -1, "added_tokens");
        }
    }
    free(js);
    qf_tokenizer *t = load_json_ok("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":2097151}}}");
    assert_int_equal(qf_tokenizer_vocab_size(t), QF_TOKENIZER_MAX_VOCAB);
    qf_tokenizer_destroy(t);
}

/* Components in one Sequence: QF_TOKENIZER_MAX_STAGES load, one more is refused. Text past
 * QF_TOKENIZER_MAX_TEXT is refused before it is read. */
static void test_stages_and_text_limits(void **state)
{
    (void)state;
    char *js = malloc(64 * (QF_TOKENIZER_MAX_STAGES + 1) + 256);
    assert_non_null(js);
    for (int past = 0; past < 2; past++) {
        size_t k = (size_t)sprintf(js, "{" WP_MODEL ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[");
        for (int i = 0; i < QF_TOKENIZER_MAX_STAGES + past; i++)
            k += (size_t)sprintf(js + k, "%s{\"type\":\"WhitespaceSplit\"}", i ? "," : "");
        k += (size_t)sprintf(js + k, "]}}");
        if (!past) {
            qf_tokenizer *t = load_json_ok(js);
            int32_t ids[] = {1, 1};
            assert_ids(t, " a  a ", ids, 2);
            qf_tokenizer_destroy(t);
        } else {
            expect_bad(js, k, QF_STATUS_LIMIT, -1, "pre_tokenizer.pretokenizers");
        }
    }
    free(js);
    qf_tokenizer *t = load_json_ok("{" WP_MODEL "}");
    char *big = calloc(1, (size_t)QF_TOKENIZER_MAX_TEXT + 1);
    assert_non_null(big);
    qf_encoding e = {0};
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_encode(t, big, (size_t)QF_TOKENIZER_MAX_TEXT + 1, NULL, &e, &err), QF_STATUS_LIMIT);
    assert_int_equal(e.length, 0);
    free(big);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

/* Encodes `text` with a WordPiece whose normalizer is `normalizer` (JSON); the error in *err. */
static qf_status encode_with_normalizer(const char *normalizer, const char *text, size_t len, qf_error *err)
{
    size_t size = strlen(normalizer) + 1024;
    char *js = malloc(size);
    assert_non_null(js);
    qf_tokenizer *t = load_json_ok(wp_json(js, size, normalizer, "null", ""));
    free(js);
    qf_encoding e = {0};
    qf_error_clear(err);
    qf_status s = qf_tokenizer_encode(t, text, len, NULL, &e, err);
    if (s == QF_STATUS_OK) assert_true(e.length > 0);
    else assert_int_equal(e.length, 0);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
    return s;
}

/* {"type":"Replace","pattern":{"String":pattern},"content":`n` copies of `unit`} into buf. */
static const char *replace_json(char *buf, size_t size, const char *pattern, const char *unit, size_t n)
{
    size_t k = (size_t)snprintf(buf, size, "{\"type\":\"Replace\",\"pattern\":{\"String\":\"%s\"},\"content\":\"", pattern);
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(buf + k, size - k, "%s", unit);
    snprintf(buf + k, size - k, "\"}");
    return buf;
}

static void expect_norm_limit(qf_status s, const qf_error *err, const char *step, size_t max, const char *found)
{
    char line[1024];
    qf_error_format(err, line, sizeof line);
    if (s != QF_STATUS_LIMIT || !strstr(err->message, step) || !strstr(err->message, "normalization limit"))
        fail_msg("expected LIMIT at '%s', got %s: %s", step, qf_status_name(s), line);
    char want[64];
    snprintf(want, sizeof want, "at most %zu code points", max);
    assert_non_null(strstr(err->expected, want));
    assert_string_equal(err->found, found);
}

/* QF_TOKENIZER_MAX_NORMALIZE_EXPANSION: each normalizer step, and a Sequence as a whole, makes at most
 * 32 code points per code point of the piece; at the limit it encodes, one past it is refused and
 * the error names the step (path and type). Chained Replace steps (2^6 = 64 from one character)
 * are stopped at the step that passes it. QF_TOKENIZER_MAX_NORMALIZED caps the total. */
static void test_normalize_expansion_limit(void **state)
{
    (void)state;
    char a[512], b[512], seq[4096];
    qf_error err;
    const size_t R = QF_TOKENIZER_MAX_NORMALIZE_EXPANSION;
    assert_int_equal(qf_tok_norm_budget(1), R);
    assert_int_equal(qf_tok_norm_budget(0), 0);
    assert_int_equal(qf_tok_norm_budget(QF_TOKENIZER_MAX_NORMALIZED / R), QF_TOKENIZER_MAX_NORMALIZED);
    assert_int_equal(qf_tok_norm_budget(QF_TOKENIZER_MAX_NORMALIZED / R + 1), QF_TOKENIZER_MAX_NORMALIZED);

    /* one Replace: "a" -> 32 code points encodes, 33 is refused (the length is known before allocating) */
    assert_int_equal(encode_with_normalizer(replace_json(a, sizeof a, "a", "b", R), "a", 1, &err), QF_STATUS_OK);
    qf_status s = encode_with_normalizer(replace_json(a, sizeof a, "a", "b", R + 1), "a", 1, &err);
    expect_norm_limit(s, &err, "normalizer (Replace) expands a piece of text of 1 code point", R, "33");
    /* per piece: "xax" gives 3 * 32 = 96 code points of room */
    assert_int_equal(encode_with_normalizer(replace_json(a, sizeof a, "a", "b", 3 * R - 2), "xax", 3, &err),
                     QF_STATUS_OK);
    s = encode_with_normalizer(replace_json(a, sizeof a, "a", "b", 3 * R - 1), "xax", 3, &err);
    expect_norm_limit(s, &err, "normalizer (Replace)", 3 * R, "97");

    /* a chain of Replace "a" -> "aa": 5 steps make 32, the sixth step is refused by name */
    for (int steps = 5; steps <= 6; steps++) {
        size_t k = (size_t)snprintf(seq, sizeof seq, "{\"type\":\"Sequence\",\"normalizers\":[");
        for (int i = 0; i < steps; i++)
            k += (size_t)snprintf(seq + k, sizeof seq - k, "%s%s", i ? "," : "", replace_json(a, sizeof a, "a", "a", 2));
        snprintf(seq + k, sizeof seq - k, "]}");
        s = encode_with_normalizer(seq, "a", 1, &err);
        if (steps == 5) assert_int_equal(s, QF_STATUS_OK);
        else expect_norm_limit(s, &err, "normalizer.normalizers[5] (Replace)", R, "64");
    }

    /* Prepend: 31 + the piece's one code point, then 32 + 1 */
    for (size_t n = R - 1; n <= R; n++) {
        size_t k = (size_t)snprintf(seq, sizeof seq, "{\"type\":\"Prepend\",\"prepend\":\"");
        for (size_t i = 0; i < n; i++) seq[k++] = 'x';
        snprintf(seq + k, sizeof seq - k, "\"}");
        s = encode_with_normalizer(seq, "a", 1, &err);
        if (n == R - 1) assert_int_equal(s, QF_STATUS_OK);
        else expect_norm_limit(s, &err, "normalizer (Prepend)", R, "33");
    }

    /* the per-character steps stop as soon as they pass the bound ("more than" where they stopped early) */
    struct {
        const char *unit; /* Replace "a" by `count` of these, then `then` */
        size_t ok_count;
        const char *then, *name, *found;
    } grow[] = {
        {"\xc4\xb0", R / 2, "{\"type\":\"Lowercase\"}", "normalizer.normalizers[1] (Lowercase)", "34"}, /* İ -> i + U+0307 */
        {"\xef\xb7\xba", 1, "{\"type\":\"NFKD\"}", "normalizer.normalizers[1] (NFKD)", "more than 32"}, /* U+FDFA -> 18 */
        {"\xe4\xb8\xad", R / 3, "{\"type\":\"BertNormalizer\",\"lowercase\":false}",
         "normalizer.normalizers[1] (BertNormalizer)", "33"}, /* CJK: " c " */
    };
    for (size_t g = 0; g < sizeof grow / sizeof grow[0]; g++) {
        for (size_t n = grow[g].ok_count; n <= grow[g].ok_count + 1; n++) {
            snprintf(seq, sizeof seq, "{\"type\":\"Sequence\",\"normalizers\":[%s,%s]}",
                     replace_json(b, sizeof b, "a", grow[g].unit, n), grow[g].then);
            s = encode_with_normalizer(seq, "a", 1, &err);
            if (n == grow[g].ok_count) {
                if (s != QF_STATUS_OK) fail_msg("case %zu at %zu: %s", g, n, err.message);
            } else {
                expect_norm_limit(s, &err, grow[g].name, R, grow[g].found);
            }
        }
    }

    /* an added token matched on normalized text is normalized at load: refused there, by name */
    snprintf(seq, sizeof seq, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1}},\"normalizer\":%s,"
                              "\"added_tokens\":[{\"id\":2,\"content\":\"a\",\"normalized\":true}]}",
             replace_json(a, sizeof a, "a", "b", R + 1));
    qf_tokenizer *t = NULL;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load_json(seq, strlen(seq), "added.json", &t, &err), QF_STATUS_LIMIT);
    assert_null(t);
    assert_string_equal(err.file, "added.json");
    assert_non_null(strstr(err.message, "normalizer (Replace) expands added token 'a'"));

    /* the total: one past QF_TOKENIZER_MAX_NORMALIZED / 32 characters of "a" at 32 each is refused
     * before anything of that size is allocated */
    size_t big = QF_TOKENIZER_MAX_NORMALIZED / R + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, 'a', big);
    s = encode_with_normalizer(replace_json(a, sizeof a, "a", "b", R), text, big, &err);
    char found[32];
    snprintf(found, sizeof found, "%zu", big * R);
    expect_norm_limit(s, &err, "normalizer (Replace)", QF_TOKENIZER_MAX_NORMALIZED, found);
    free(text);
}

/* tests/fuzz/regressions/tokenizer/replace-chain-64.json: 64 chained Replace steps, each turning every
 * "a" into "aaaa" (4^64 code points from one "a" unbounded; 9.8 GB before the timeout was seen). */
static void test_normalize_replace_chain_regression(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(QF_SOURCE_DIR "/tests/fuzz/regressions/tokenizer/replace-chain-64.json");
    qf_encoding e = {0};
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_encode(t, "unaffable", 9, NULL, &e, &err), QF_STATUS_LIMIT);
    assert_non_null(strstr(err.message, "normalizer.normalizers[3] (Replace) expands a piece of text of 9 code points"));
    assert_string_equal(err.expected, "at most 288 code points (32 per code point, 134217728 in all)");
    assert_string_equal(err.found, "519"); /* 7 other letters + 2 * 4^4: steps 0..2 made 15, 39, 135 */
    assert_int_equal(e.length, 0);
    /* text without "a" is left alone */
    assert_int_equal(qf_tokenizer_encode(t, "the", 3, NULL, &e, &err), QF_STATUS_OK);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

/* The model needs [UNK] but the vocabulary lacks it: found at encode time, as Hugging Face does. */
static void test_missing_unk(void **state)
{
    (void)state;
    qf_tokenizer *t = load_json_ok("{\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
                                   "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}");
    qf_encoding e = {0};
    enc(t, "a a", 3, 0, &e);
    assert_int_equal(e.length, 2);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_encode(t, "b", 1, NULL, &e, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "unk_token");
    assert_int_equal(e.length, 0);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* merges.txt / vocab.txt errors carry the byte offset of the bad line. */
static void test_bad_folder_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/qf_tok_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char vj[256], mt[256], vt[256];
    snprintf(vj, sizeof vj, "%s/vocab.json", dir);
    snprintf(mt, sizeof mt, "%s/merges.txt", dir);
    snprintf(vt, sizeof vt, "%s/vocab.txt", dir);
    qf_error err;
    qf_tokenizer *t = NULL;

    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_NOT_FOUND);

    write_file(vj, "{\"a\":0,\"b\":1,\"ab\":2,\"<s>\":3,\"</s>\":4}");
    write_file(mt, "#version: 0.2\na b\nab\n");
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
    assert_int_equal(err.offset, 18);
    assert_string_equal(err.object, "line 3");
    assert_null(t);
    write_file(mt, "#version: 0.2\na b\nb c\n");
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
    assert_int_equal(err.offset, 18);
    write_file(mt, "#version: 0.2\na b\n");
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    int32_t ids[] = {3, 2, 0, 4};
    assert_ids(t, "aba", ids, 4);
    qf_tokenizer_destroy(t);
    t = NULL;
    write_file(vj, "{\"a\":\"x\"}");
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "(top level)[\"a\"]");

    /* vocab.txt wins over vocab.json; a token line past the length limit names its offset. */
    char *big = malloc(QF_TOKENIZER_MAX_TOKEN_BYTES + 64);
    assert_non_null(big);
    strcpy(big, "[UNK]\n[CLS]\n");
    memset(big + 12, 'z', QF_TOKENIZER_MAX_TOKEN_BYTES + 1);
    strcpy(big + 12 + QF_TOKENIZER_MAX_TOKEN_BYTES + 1, "\n");
    write_file(vt, big);
    free(big);
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_LIMIT);
    assert_int_equal(err.offset, 12);
    assert_string_equal(err.object, "line 3");
    write_file(vt, "[UNK]\n[CLS]\n[SEP]\nhello \r\n");
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    int32_t h[] = {1, 3, 2};
    assert_ids(t, "HELLO", h, 3);
    /* Absent specials are appended after the vocabulary, in the order [PAD] [UNK] [CLS] [SEP] [MASK]. */
    assert_int_equal(qf_tokenizer_pad_id(t), 4);
    assert_int_equal(qf_tokenizer_token_to_id(t, "[MASK]"), 5);
    qf_tokenizer_destroy(t);

    unlink(vj);
    unlink(mt);
    unlink(vt);
    rmdir(dir);
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_IO);
}

static void copy_file(const char *from, const char *to)
{
    FILE *src = fopen(from, "rb"), *dst = fopen(to, "wb");
    assert_non_null(src);
    assert_non_null(dst);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, src)) > 0) assert_int_equal(fwrite(buf, 1, n, dst), n);
    fclose(src);
    fclose(dst);
}

/* The pair "a" / "b" through the folder's tokenizer: its type ids, and whether it feeds them. */
static void assert_pair_types(const char *dir, const char *config, bool feeds, const int32_t *want)
{
    char cfg[300];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    if (config) write_file(cfg, config);
    else unlink(cfg);
    qf_tokenizer *t = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_int_equal(qf_tokenizer_feeds_token_types(t), feeds);
    qf_encoding e = {0};
    qf_tokenize_params p = qf_tokenize_params_default();
    p.pad_to = 6;
    assert_int_equal(qf_tokenizer_encode_pair(t, "a", 1, "b", 1, &p, &e, &err), QF_STATUS_OK);
    assert_int_equal(e.length, 6);
    for (size_t i = 0; i < 6; i++) assert_int_equal(e.token_type_ids[i], want[i]);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

/* tokenizer_config.json decides whether pair types reach the model, as AutoTokenizer does:
 * model_input_names, else the tokenizer class's, else vocab.txt's BertTokenizer; a class not known
 * keeps the template's types; malformed values are refused, naming the field. */
static void test_model_input_names(void **state)
{
    (void)state;
    char dir[] = "/tmp/qf_tok_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char vt[256], cfg[300], tj[300];
    snprintf(vt, sizeof vt, "%s/vocab.txt", dir);
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    write_file(vt, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n");
    const int32_t typed[] = {0, 0, 0, 1, 1, 0}, untyped[6] = {0};
    assert_pair_types(dir, NULL, true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": \"BertTokenizerFast\"}", true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": \"ElectraTokenizer\"}", true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": \"TokenizersBackend\"}", false, untyped);
    assert_pair_types(dir, "{\"tokenizer_class\": \"DistilBertTokenizerFast\"}", false, untyped);
    assert_pair_types(dir, "{\"tokenizer_class\": \"SomeOtherTokenizer\"}", true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": null, \"model_input_names\": null}", true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": \"TokenizersBackend\", \"model_input_names\": "
                           "[\"input_ids\", \"token_type_ids\", \"attention_mask\"]}", true, typed);
    assert_pair_types(dir, "{\"tokenizer_class\": \"BertTokenizer\", \"model_input_names\": "
                           "[\"input_ids\", \"attention_mask\"]}", false, untyped);

    /* a folder with tokenizer.json reads its tokenizer_config.json too */
    copy_file(FIX "bert-mini/tokenizer.json", tj);
    qf_tokenizer *t = NULL;
    qf_error err;
    write_file(cfg, "{\"tokenizer_class\": \"TokenizersBackend\"}");
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_false(qf_tokenizer_feeds_token_types(t));
    qf_tokenizer_destroy(t);
    t = NULL;
    /* the file named alone keeps the template's types */
    assert_int_equal(qf_tokenizer_load(tj, &t, &err), QF_STATUS_OK);
    assert_true(qf_tokenizer_feeds_token_types(t));
    qf_tokenizer_destroy(t);
    t = NULL;

    static const struct {
        const char *text, *field;
    } bad[] = {{"{\"model_input_names\": \"input_ids\"}", "model_input_names"},
               {"{\"model_input_names\": [\"input_ids\", 7]}", "model_input_names[1]"},
               {"{\"tokenizer_class\": 5}", "tokenizer_class"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(cfg, bad[i].text);
        qf_error_clear(&err);
        assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
        assert_null(t);
        assert_string_equal(err.object, bad[i].field);
    }
    unlink(cfg);

    /* sentence_bert_config.json "do_lower_case": true puts a Lowercase in front (a BertNormalizer
     * that lower-cases does not count, as in sentence-transformers); anything but true does not */
    char sb[300];
    snprintf(sb, sizeof sb, "%s/sentence_bert_config.json", dir);
    write_file(sb, "{\"do_lower_case\": true}");
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_true(qf_tokenizer_sentence_lowercase(t));
    assert_true(qf_tokenizer_lowercases(t));
    qf_tokenizer_destroy(t);
    t = NULL;
    write_file(sb, "{\"do_lower_case\": \"yes\"}");
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_false(qf_tokenizer_sentence_lowercase(t));
    qf_tokenizer_destroy(t);
    t = NULL;
    copy_file(FIX "roberta-mini/tokenizer.json", tj);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_false(qf_tokenizer_lowercases(t));
    qf_tokenizer_destroy(t);
    t = NULL;
    write_file(sb, "{\"do_lower_case\": true}");
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_OK);
    assert_true(qf_tokenizer_sentence_lowercase(t));
    qf_encoding upper = {0}, lower = {0};
    qf_tokenize_params lp = qf_tokenize_params_default();
    assert_int_equal(qf_tokenizer_encode(t, "Hello WORLD", 11, &lp, &upper, &err), QF_STATUS_OK);
    assert_int_equal(qf_tokenizer_encode(t, "hello world", 11, &lp, &lower, &err), QF_STATUS_OK);
    assert_int_equal(upper.length, lower.length);
    for (size_t i = 0; i < upper.length; i++) assert_int_equal(upper.input_ids[i], lower.input_ids[i]);
    qf_encoding_free(&upper);
    qf_encoding_free(&lower);
    qf_tokenizer_destroy(t);
    t = NULL;
    unlink(sb);

    char *many = malloc(16 * (QF_TOK_MAX_INPUT_NAMES + 2) + 64);
    assert_non_null(many);
    size_t at = (size_t)sprintf(many, "{\"model_input_names\": [");
    for (int i = 0; i <= QF_TOK_MAX_INPUT_NAMES; i++) at += (size_t)sprintf(many + at, "%s\"x\"", i ? "," : "");
    strcpy(many + at, "]}");
    write_file(cfg, many);
    free(many);
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "model_input_names");
    char longer[200];
    snprintf(longer, sizeof longer, "{\"tokenizer_class\": \"%0100d\"}", 0);
    write_file(cfg, longer);
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(dir, &t, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "tokenizer_class");
    unlink(cfg);
    unlink(tj);
    unlink(vt);
    rmdir(dir);
}

/* ---- robustness ------------------------------------------------------------------------------ */

static void test_random_bytes(void **state)
{
    (void)state;
    qf_tokenizer *bert = load_ok(FIX "bert-mini/tokenizer.json");
    qf_tokenizer *roberta = load_ok(FIX "roberta-mini/tokenizer.json");
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char buf[300];
    qf_encoding e = {0};
    for (int i = 0; i < 3000; i++) {
        size_t n = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = x % sizeof buf;
        for (; n < len; n++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Mix ASCII, spaces and high bytes so that valid multi-byte sequences also occur. */
            uint8_t b = (uint8_t)(x >> 24);
            buf[n] = (char)((x & 3) == 0 ? ' ' : (x & 3) == 1 ? 'a' + b % 26 : b);
        }
        qf_tokenize_params p = qf_tokenize_params_default();
        p.max_length = (int32_t)(x % 64) + 2;
        p.pad_to = (int32_t)(x % 50);
        assert_int_equal(qf_tokenizer_encode(bert, buf, n, &p, &e, NULL), QF_STATUS_OK);
        assert_true(e.length <= (size_t)p.max_length || e.length == (size_t)p.pad_to);
        assert_int_equal(qf_tokenizer_encode(roberta, buf, n, NULL, &e, NULL), QF_STATUS_OK);
    }
    qf_encoding_free(&e);
    qf_tokenizer_destroy(bert);
    qf_tokenizer_destroy(roberta);
}

static void test_truncated_files(void **state)
{
    (void)state;
    FILE *f = fopen(FIX "roberta-mini/tokenizer.json", "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    for (long cut = 0; cut < size - 2; cut += 997) {
        qf_error err;
        qf_error_clear(&err);
        qf_tokenizer *t = NULL;
        qf_status s = qf_tokenizer_load_json(data, (size_t)cut, NULL, &t, &err);
        assert_true(s == QF_STATUS_TRUNCATED || s == QF_STATUS_FORMAT);
        assert_null(t);
    }
    /* Flip bytes: must load or fail cleanly. */
    uint64_t x = 12345;
    for (int i = 0; i < 300; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t at = (size_t)(x % (uint64_t)size);
        char old = data[at];
        data[at] = (char)(x >> 40);
        qf_tokenizer *t = NULL;
        if (qf_tokenizer_load_json(data, (size_t)size, NULL, &t, NULL) == QF_STATUS_OK) {
            qf_encoding e = {0};
            assert_int_equal(qf_tokenizer_encode(t, "hello <mask> world", 18, NULL, &e, NULL), QF_STATUS_OK);
            qf_encoding_free(&e);
            qf_tokenizer_destroy(t);
        }
        data[at] = old;
    }
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_folder_loaders),
        cmocka_unit_test(test_rust_semantics),
        cmocka_unit_test(test_wordpiece_longest_match),
        cmocka_unit_test(test_added_token_flags),
        cmocka_unit_test(test_normalizers),
        cmocka_unit_test(test_pre_tokenizers),
        cmocka_unit_test(test_bpe_known_cases),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_padding_truncation),
        cmocka_unit_test(test_bad_tokenizer_json),
        cmocka_unit_test(test_token_length_limit),
        cmocka_unit_test(test_added_and_id_limits),
        cmocka_unit_test(test_stages_and_text_limits),
        cmocka_unit_test(test_normalize_expansion_limit),
        cmocka_unit_test(test_normalize_replace_chain_regression),
        cmocka_unit_test(test_missing_unk),
        cmocka_unit_test(test_bad_folder_files),
        cmocka_unit_test(test_model_input_names),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_truncated_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
