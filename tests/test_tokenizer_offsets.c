/*
 * tests/test_tokenizer_offsets.c: token offsets of the tokenizers (text/), qf_encoding.offsets, as
 * the Rust `tokenizers` library gives them to Python (Encoding.offsets, char offsets). No Hugging
 * Face tokenizer runs here: each expectation is derived by hand from the Rust sources
 * (NormalizedString alignments and transform, AddedVocabulary::split_with_indices, the models'
 * token offsets, byte_level::process_offsets), the derivation written beside it:
 *   - WordPiece pieces and [UNK]; BertNormalizer accents (NFD keeps the original character's span),
 *     CJK padding, removed control characters, NUL, invalid UTF-8;
 *   - normalizers that change the length: Replace, Prepend, Strip, NFC;
 *   - added tokens with lstrip / rstrip (the stripped spaces are part of the token);
 *   - byte-level BPE: a multi-byte character split over tokens, RoBERTa's trim_offsets, the first
 *     token under add_prefix_space, a ByteLevel post-processor;
 *   - special tokens, padding and truncation; qf_text_char_to_byte / qf_text_chars_to_bytes;
 *   - properties over every text of the debsec evaluation data.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/text.h"

#define FIX QF_SOURCE_DIR "/fixtures/"

static qf_tokenizer *load_ok(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load(path, &t, &err) != QF_STATUS_OK) {
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
    if (qf_tokenizer_load_json(json, strlen(json), "inline.json", &t, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("loading inline tokenizer: %s", buf);
    }
    return t;
}

/* Encodes text[0..len) with `p` (NULL: defaults) and checks ids (when want_ids is non-NULL) and
 * offsets: want_offsets holds n pairs. */
static void check_len(const qf_tokenizer *t, const char *text, size_t len, const qf_tokenize_params *p,
                      const int32_t *want_ids, const int32_t *want_offsets, size_t n)
{
    qf_error err;
    qf_error_clear(&err);
    qf_encoding e;
    qf_encoding_init(&e);
    if (qf_tokenizer_encode(t, text, len, p, &e, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("encode: %s", buf);
    }
    char got[2048];
    size_t k = 0;
    for (size_t i = 0; i < e.length && k < sizeof got - 40; i++)
        k += (size_t)snprintf(got + k, sizeof got - k, " %d(%d,%d)", e.input_ids[i], e.offsets[2 * i],
                              e.offsets[2 * i + 1]);
    if (e.length != n) fail_msg("'%s': %zu tokens, expected %zu:%s", text, e.length, n, got);
    for (size_t i = 0; i < n; i++) {
        if ((want_ids && e.input_ids[i] != want_ids[i]) || e.offsets[2 * i] != want_offsets[2 * i] ||
            e.offsets[2 * i + 1] != want_offsets[2 * i + 1])
            fail_msg("'%s' token %zu: expected %d(%d,%d), got:%s", text, i, want_ids ? want_ids[i] : -1,
                     want_offsets[2 * i], want_offsets[2 * i + 1], got);
    }
    qf_encoding_free(&e);
}

#define CHECK(t, text, ids, offs) \
    check_len((t), (text), strlen(text), NULL, (ids), (offs), sizeof(offs) / sizeof(offs[0]) / 2)

/* A small WordPiece vocabulary for inline tokenizer.json files. */
#define WP_VOCAB                                                                                            \
    "\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"b\":4,\"c\":5,\"x\":6,\"y\":7,\"##a\":8,"       \
    "\"##b\":9,\"##c\":10,\"##x\":11,\"##y\":12,\"ab\":13,\"abc\":14,\"##bc\":15,\"e\":16,\"!\":17,\"é\":18," \
    "\"un\":19,\"##aff\":20,\"##able\":21}"

static const char *wp_json(char *buf, size_t size, const char *normalizer, const char *added, const char *post)
{
    snprintf(buf, size,
             "{\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
             "\"post_processor\":%s,\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
             "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":9," WP_VOCAB "}}",
             added, normalizer, post);
    return buf;
}

#define BERT_POST                                                                                     \
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"  \
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"   \
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]},"                 \
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}"

/* WordPiece: a piece covers its characters of the word (token offsets within the word); [UNK]
 * covers the whole word; [CLS] and [SEP] are (0, 0). */
static void test_wordpiece_pieces(void **state)
{
    (void)state;
    char js[4096];
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js, "null", "", BERT_POST));
    int32_t ids[] = {1, 19, 20, 21, 2}, offs[] = {0, 0, 0, 2, 2, 5, 5, 9, 0, 0};
    CHECK(t, "unaffable", ids, offs);
    /* "abcab ab": abc ##a ##b | ab; "azb": no piece for z, the word is [UNK] (9, 12);
     * "abcabcabca" has 10 > 9 characters: [UNK] over it */
    int32_t ids2[] = {1, 14, 8, 9, 13, 0, 0, 2};
    int32_t offs2[] = {0, 0, 0, 3, 3, 4, 4, 5, 6, 8, 9, 12, 13, 23, 0, 0};
    CHECK(t, "abcab ab azb abcabcabca", ids2, offs2);
    qf_tokenizer_destroy(t);
}

/* bert-mini (BertNormalizer lowercase, strip_accents from lowercase; BertPreTokenizer). */
static void test_bert_normalizer(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(FIX "tokenizer/bert-mini");
    /* un ##a ##ff ##able in this vocabulary */
    int32_t o1[] = {0, 0, 0, 2, 2, 3, 3, 5, 5, 9, 0, 0};
    CHECK(t, "unaffable", NULL, o1);
    /* NFD gives é -> e U+0301 both with é's alignment, the mark is dropped, lowercase keeps it:
     * "hel" covers H é l (0, 3); Ö -> o keeps (7, 8), so "##or" is (7, 9) */
    int32_t i2[] = {2, 656, 90, 100, 64, 132, 1233, 3};
    int32_t o2[] = {0, 0, 0, 3, 3, 4, 4, 5, 6, 7, 7, 9, 9, 11, 0, 0};
    CHECK(t, "H\xc3\xa9llo W\xc3\x96RLD", i2, o2);
    /* CJK ideographs: the spaces BERT puts around one share its span, then are split away */
    int32_t i3[] = {2, 744, 2000, 2001, 44, 3};
    int32_t o3[] = {0, 0, 0, 2, 2, 3, 3, 4, 4, 5, 0, 0};
    CHECK(t, "ab\xe4\xb8\xad\xe6\x96\x87" "c", i3, o3);
    /* a removed control character leaves no alignment: "ab" spans a's start to b's end */
    int32_t i4[] = {2, 744, 3}, o4[] = {0, 0, 0, 3, 0, 0};
    CHECK(t, "a\x01" "b", i4, o4);
    check_len(t, "a\0b", 3, NULL, i4, o4, 3);              /* NUL: removed by clean_text too */
    CHECK(t, "a\xff" "b", i4, o4);                        /* U+FFFD: removed as well */
    int32_t o5[] = {0, 0, 0, 3, 3, 4, 0, 0}; /* "\xe2\x82" is one U+FFFD (removed): ab = (0, 3), ##c (3, 4) */
    CHECK(t, "a\xe2\x82" "b" "c", NULL, o5);
    /* surrounding whitespace belongs to no token; [MASK] (an added token) covers its match */
    int32_t o6[] = {0, 0, 2, 3, 3, 4, 0, 0};
    CHECK(t, "  hi  ", NULL, o6);
    int32_t i7[] = {2, 656, 90, 100, 4, 65, 3};
    int32_t o7[] = {0, 0, 0, 3, 3, 4, 4, 5, 6, 12, 13, 14, 0, 0};
    CHECK(t, "Hello [MASK] x", i7, o7);
    qf_tokenizer_destroy(t);
}

/* Normalizers that change the length. */
static void test_length_changing_normalizers(void **state)
{
    (void)state;
    char js[4096];
    /* Strip: "zzc" keeps chars 2-4; Replace zz -> b: b takes the alignment of the match's last
     * character (3); Prepend "a": a takes the first character's (3): "abc" = (3, 5) */
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js,
                                           "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\","
                                           "\"strip_left\":true,\"strip_right\":true},{\"type\":\"Replace\","
                                           "\"pattern\":{\"String\":\"zz\"},\"content\":\"b\"},{\"type\":"
                                           "\"Prepend\",\"prepend\":\"a\"}]}",
                                           "", "null"));
    int32_t i1[] = {14}, o1[] = {3, 5};
    CHECK(t, "  zzc  ", i1, o1);
    qf_tokenizer_destroy(t);
    /* Replace c -> xy: x and y both take c's alignment: a ##x ##y ##b = (0,1) (1,2) (1,2) (2,3) */
    t = load_json_ok(wp_json(js, sizeof js,
                             "{\"type\":\"Replace\",\"pattern\":{\"String\":\"c\"},\"content\":\"xy\"}", "", "null"));
    int32_t i2[] = {3, 11, 12, 9}, o2[] = {0, 1, 1, 2, 1, 2, 2, 3};
    CHECK(t, "acb", i2, o2);
    qf_tokenizer_destroy(t);
    /* NFC composes e U+0301 into é with change -1: é takes e's alignment and the mark's is
     * dropped, so é is (0, 1), not (0, 2) */
    t = load_json_ok(wp_json(js, sizeof js, "{\"type\":\"NFC\"}", "", "null"));
    int32_t i3[] = {18, 16}, o3[] = {0, 1, 3, 4};
    CHECK(t, "e\xcc\x81 e", i3, o3);
    qf_tokenizer_destroy(t);
    /* NFD + Lowercase: É -> e U+0301 (the mark inserted after e, same alignment) -> no piece
     * "e\u0301" in the vocabulary but "e" then "##\u0301" is absent too: [UNK] over the word (0, 1) */
    t = load_json_ok(wp_json(js, sizeof js,
                             "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"Lowercase\"}]}",
                             "", "null"));
    int32_t i4[] = {0, 3}, o4[] = {0, 1, 2, 3};
    CHECK(t, "\xc3\x89 A", i4, o4);
    qf_tokenizer_destroy(t);
}

/* Added tokens: the split covers what was matched, the spaces lstrip and rstrip took included. */
static void test_added_tokens(void **state)
{
    (void)state;
    char js[4096];
    qf_tokenizer *t = load_json_ok(wp_json(js, sizeof js, "{\"type\":\"Lowercase\"}",
                                           "{\"id\":30,\"content\":\"[M]\",\"single_word\":false,\"lstrip\":true,"
                                           "\"rstrip\":true,\"normalized\":false,\"special\":true},"
                                           "{\"id\":31,\"content\":\"yy\",\"single_word\":false,\"lstrip\":false,"
                                           "\"rstrip\":false,\"normalized\":true,\"special\":false}",
                                           "null"));
    /* "a  [M] b": [M] with lstrip takes (1, 6) (two spaces before it, one after) */
    int32_t i1[] = {3, 30, 4}, o1[] = {0, 1, 1, 7, 7, 8};
    CHECK(t, "a  [M] b", i1, o1);
    /* "YY" lowercases to "yy", matched in the normalized text: (1, 3) of the original */
    int32_t i2[] = {3, 31, 4}, o2[] = {0, 1, 1, 3, 3, 4};
    CHECK(t, "aYYb", i2, o2);
    qf_tokenizer_destroy(t);
}

/* roberta-mini: ByteLevel (add_prefix_space false), RobertaProcessing trim_offsets. */
static void test_byte_level(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(FIX "tokenizer/roberta-mini");
    /* "Ġw" covers the space and w (5, 7); trim drops the leading Ġ: (6, 7) */
    int32_t i1[] = {0, 75, 301, 384, 335, 262, 1561, 2};
    int32_t o1[] = {0, 0, 0, 1, 1, 3, 3, 5, 6, 7, 7, 9, 9, 11, 0, 0};
    CHECK(t, "hello world", i1, o1);
    /* the first token's leading space is trimmed too without add_prefix_space: (1, 2) */
    int32_t o2[] = {0, 0, 1, 2, 2, 4, 4, 6, 0, 0};
    CHECK(t, " hello", NULL, o2);
    /* é is two bytes, two byte-level characters, two tokens: each covers the whole é */
    int32_t i3[] = {0, 131, 106, 2}, o3[] = {0, 0, 0, 1, 0, 1, 0, 0};
    CHECK(t, "\xc3\xa9", i3, o3);
    /* <mask> (lstrip) matches " <mask>" = (1, 8); its string " <mask>" has one leading space,
     * which trim_offsets drops: (2, 8) */
    int32_t i4[] = {0, 68, 1760, 2}, o4[] = {0, 0, 0, 1, 2, 8, 0, 0};
    CHECK(t, "a <mask>", i4, o4);
    /* invalid UTF-8: 0xFF is one U+FFFD (char 1), three bytes, three tokens, each (1, 2) */
    int32_t o5[] = {0, 0, 0, 1, 1, 2, 1, 2, 1, 2, 2, 3, 0, 0};
    CHECK(t, "a\xff" "b", NULL, o5);
    /* NUL is a byte like any other */
    int32_t o6[] = {0, 0, 0, 1, 1, 2, 2, 3, 0, 0};
    check_len(t, "a\0b", 3, NULL, NULL, o6, 5);
    /* "x  y": the lone "Ġ" (1, 2) has one leading and one trailing space: start -> min(2, 2),
     * end -> max(1, 2): (2, 2) */
    int32_t o7[] = {0, 0, 0, 1, 2, 2, 3, 4, 0, 0};
    CHECK(t, "x  y", NULL, o7);
    qf_tokenizer_destroy(t);
}

/* Reads a fixture file into a NUL-terminated buffer (owned). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Replaces every `from` in s (owned) by `to`; returns the new owned string. */
static char *replace_all(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from)) count++;
    char *out = malloc(strlen(s) + count * (tl > fl ? tl - fl : 0) + 1);
    assert_non_null(out);
    char *w = out;
    const char *r = s;
    for (const char *p = strstr(r, from); p; p = strstr(r, from)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, to, tl);
        w += tl;
        r = p + fl;
    }
    strcpy(w, r);
    free(s);
    return out;
}

/* add_prefix_space: the prepended space takes the first character's alignment; the first token
 * keeps its one leading space when the post-processor has add_prefix_space too. */
static void test_add_prefix_space(void **state)
{
    (void)state;
    char *js = read_text(FIX "tokenizer/roberta-mini/tokenizer.json");
    js = replace_all(js, "\"add_prefix_space\": false", "\"add_prefix_space\": true");
    qf_tokenizer *t = load_json_ok(js);
    /* " hello": "Ġh" covers the prepended space and h, both h's: (0, 1), kept; then (1,3) (3,5) */
    qf_encoding e;
    qf_encoding_init(&e);
    qf_error err;
    assert_int_equal(qf_tokenizer_encode(t, "hello", 5, NULL, &e, &err), QF_STATUS_OK);
    assert_true(e.length >= 3);
    assert_int_equal(e.offsets[2], 0);
    assert_int_equal(e.offsets[3], 1);
    assert_int_equal(e.offsets[2 * (e.length - 2) + 1], 5);
    qf_tokenizer_destroy(t);
    /* the same with add_prefix_space false in the post-processor only: the space is trimmed,
     * start -> min(0 + 1, 1): (1, 1) */
    js = replace_all(js, "\"trim_offsets\": true, \"add_prefix_space\": true",
                     "\"trim_offsets\": true, \"add_prefix_space\": false");
    t = load_json_ok(js);
    assert_int_equal(qf_tokenizer_encode(t, "hello", 5, NULL, &e, &err), QF_STATUS_OK);
    assert_int_equal(e.offsets[2], 1);
    assert_int_equal(e.offsets[3], 1);
    qf_tokenizer_destroy(t);
    /* without any trimming (RobertaProcessing trim_offsets false): "Ġw" is (5, 7) */
    char *plain = read_text(FIX "tokenizer/roberta-mini/tokenizer.json");
    plain = replace_all(plain, "\"trim_offsets\": true", "\"trim_offsets\": false");
    t = load_json_ok(plain);
    int32_t o[] = {0, 0, 0, 1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 0, 0};
    CHECK(t, "hello world", NULL, o);
    qf_tokenizer_destroy(t);
    free(plain);
    qf_encoding_free(&e);
    free(js);
}

/* Padding and truncation: padding is (0, 0); truncation keeps the first tokens' offsets. */
static void test_padding_truncation(void **state)
{
    (void)state;
    qf_tokenizer *t = load_ok(FIX "tokenizer/bert-mini");
    qf_tokenize_params p = qf_tokenize_params_default();
    p.pad_to = 7; /* [CLS] ab c ##d [SEP] [PAD] [PAD] */
    int32_t o1[] = {0, 0, 0, 2, 3, 4, 4, 5, 0, 0, 0, 0, 0, 0};
    check_len(t, "ab cd", 5, &p, NULL, o1, 7);
    p.pad_to = 0;
    p.max_length = 3;
    int32_t o2[] = {0, 0, 0, 2, 0, 0};
    check_len(t, "ab cd", 5, &p, NULL, o2, 3);
    p.max_length = 0;
    p.add_special_tokens = false;
    int32_t o3[] = {0, 2, 3, 4, 4, 5};
    check_len(t, "ab cd", 5, &p, NULL, o3, 3);
    qf_tokenizer_destroy(t);
}

/* A pair carries each text's offsets (in that text's own code points), as Hugging Face's
 * Encoding.offsets gives them for tokenizer(a, b): specials (0, 0), each text trimmed alone. */
static void test_pair_offsets(void **state)
{
    (void)state;
    static const char *dirs[] = {FIX "tokenizer/bert-mini", FIX "tokenizer/roberta-mini"};
    static const char *a = "What is libfoo?", *b = " libfoo: a  library for foo, version 2.1";
    for (size_t d = 0; d < 2; d++) {
        qf_tokenizer *t = load_ok(dirs[d]);
        qf_tokenize_params raw = qf_tokenize_params_default();
        raw.add_special_tokens = false;
        qf_encoding ea, eb, ep;
        qf_encoding_init(&ea);
        qf_encoding_init(&eb);
        qf_encoding_init(&ep);
        assert_int_equal(qf_tokenizer_encode(t, a, strlen(a), &raw, &ea, NULL), QF_STATUS_OK);
        assert_int_equal(qf_tokenizer_encode(t, b, strlen(b), &raw, &eb, NULL), QF_STATUS_OK);
        assert_int_equal(qf_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), NULL, &ep, NULL), QF_STATUS_OK);
        size_t ia = 0, ib = 0;
        for (size_t i = 0; i < ep.length; i++) {
            const int32_t *o = &ep.offsets[2 * i];
            if (ep.sequence_ids[i] < 0) {
                assert_int_equal(o[0], 0);
                assert_int_equal(o[1], 0);
            } else {
                const qf_encoding *src = ep.sequence_ids[i] == 0 ? &ea : &eb;
                size_t *k = ep.sequence_ids[i] == 0 ? &ia : &ib;
                assert_int_equal(ep.input_ids[i], src->input_ids[*k]);
                assert_int_equal(o[0], src->offsets[2 * *k]);
                assert_int_equal(o[1], src->offsets[2 * *k + 1]);
                (*k)++;
            }
        }
        assert_int_equal(ia, ea.length);
        assert_int_equal(ib, eb.length);
        /* truncated to 12: the offsets of what is kept */
        qf_tokenize_params p = qf_tokenize_params_default();
        p.max_length = 12;
        assert_int_equal(qf_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), &p, &ep, NULL), QF_STATUS_OK);
        assert_int_equal(ep.length, 12);
        ib = 0;
        for (size_t i = 0; i < ep.length; i++)
            if (ep.sequence_ids[i] == 1) {
                assert_int_equal(ep.offsets[2 * i], eb.offsets[2 * ib]);
                assert_int_equal(ep.offsets[2 * i + 1], eb.offsets[2 * ib + 1]);
                ib++;
            }
        assert_true(ib > 0);
        qf_encoding_free(&ea);
        qf_encoding_free(&eb);
        qf_encoding_free(&ep);
        qf_tokenizer_destroy(t);
    }
}

/* The form recent RoBERTa-style tokenizer.json files take: Sequence[ByteLevel (trims offsets only),
 * TemplateProcessing] lays out pairs and offsets exactly like RobertaProcessing does. */
static void test_byte_level_then_template(void **state)
{
    (void)state;
    FILE *f = fopen(FIX "tokenizer/roberta-mini/tokenizer.json", "rb");
    assert_non_null(f);
    static char json[1 << 20], edited[1 << 20];
    size_t n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = '\0';
    static const char *roberta = "\"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], "
                                 "\"cls\": [\"<s>\", 0], \"trim_offsets\": true, \"add_prefix_space\": false}";
    static const char *sequence =
        "\"post_processor\": {\"type\": \"Sequence\", \"processors\": ["
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
        "{\"type\": \"TemplateProcessing\","
        " \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
        "  {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}],"
        " \"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
        "  {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}},"
        "  {\"Sequence\": {\"id\": \"B\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}],"
        " \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [0], \"tokens\": [\"<s>\"]},"
        "  \"</s>\": {\"id\": \"</s>\", \"ids\": [2], \"tokens\": [\"</s>\"]}}}]}";
    const char *at = strstr(json, roberta);
    assert_non_null(at);
    size_t head = (size_t)(at - json);
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)head, json, sequence, at + strlen(roberta));
    qf_tokenizer *t_roberta = load_json_ok(json), *t_seq = load_json_ok(edited);
    static const char *a = " What is libfoo?", *b = "libfoo:  a library, version 2.1 ";
    qf_encoding e1, e2;
    qf_encoding_init(&e1);
    qf_encoding_init(&e2);
    for (int pair = 0; pair < 2; pair++) {
        if (pair) {
            assert_int_equal(qf_tokenizer_encode_pair(t_roberta, a, strlen(a), b, strlen(b), NULL, &e1, NULL), 0);
            assert_int_equal(qf_tokenizer_encode_pair(t_seq, a, strlen(a), b, strlen(b), NULL, &e2, NULL), 0);
        } else {
            assert_int_equal(qf_tokenizer_encode(t_roberta, b, strlen(b), NULL, &e1, NULL), 0);
            assert_int_equal(qf_tokenizer_encode(t_seq, b, strlen(b), NULL, &e2, NULL), 0);
        }
        assert_int_equal(e1.length, e2.length);
        for (size_t i = 0; i < e1.length; i++) {
            assert_int_equal(e1.input_ids[i], e2.input_ids[i]);
            assert_int_equal(e1.token_type_ids[i], e2.token_type_ids[i]);
            assert_int_equal(e1.sequence_ids[i], e2.sequence_ids[i]);
            assert_int_equal(e1.offsets[2 * i], e2.offsets[2 * i]);
            assert_int_equal(e1.offsets[2 * i + 1], e2.offsets[2 * i + 1]);
        }
    }
    assert_int_equal(qf_tokenizer_num_special_tokens_pair(t_seq), 4);
    qf_encoding_free(&e1);
    qf_encoding_free(&e2);
    qf_tokenizer_destroy(t_roberta);
    qf_tokenizer_destroy(t_seq);
}

/* Code point offsets back to bytes, with the lossy decoding of encode. */
static void test_char_to_byte(void **state)
{
    (void)state;
    /* a, é (2 bytes), U+FFFD from 0xFF, U+FFFD from the maximal subpart E2 82, x, 😀 (4 bytes) */
    const char *s = "a\xc3\xa9\xff\xe2\x82x\xf0\x9f\x98\x80";
    size_t len = strlen(s);
    size_t want[] = {0, 1, 3, 4, 6, 7, 11, 11};
    for (size_t i = 0; i < 8; i++) assert_int_equal(qf_text_char_to_byte(s, len, i), want[i]);
    int32_t chars[] = {0, 1, 1, 3, 5, 7, 2, 6, 100, -1}, bytes[10];
    int32_t expect[] = {0, 1, 1, 4, 7, 11, 3, 11, 11, 0};
    qf_text_chars_to_bytes(s, len, chars, bytes, 10);
    for (size_t i = 0; i < 10; i++) assert_int_equal(bytes[i], expect[i]);
    assert_int_equal(qf_text_char_to_byte(NULL, 0, 3), 0);
}

/* Over every text of the debsec evaluation data, for each tokenizer: offsets lie in the text, real
 * tokens' starts never decrease, start <= end; for the WordPiece tokenizers (lowercasing), on ASCII
 * texts, each token's string (without "##") is its span of the text lowercased unless [UNK]. */
typedef struct vocab_strings {
    char **by_id;
    size_t n;
} vocab_strings;

static vocab_strings read_vocab(const char *tokenizer_json)
{
    vocab_strings v = {0};
    json_object *root = json_object_from_file(tokenizer_json), *model, *vocab;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "model", &model) && json_object_object_get_ex(model, "vocab", &vocab));
    json_object_object_foreach(vocab, key, val)
    {
        size_t id = (size_t)json_object_get_int(val);
        if (id >= v.n) {
            size_t n = id + 1;
            v.by_id = realloc(v.by_id, n * sizeof *v.by_id);
            assert_non_null(v.by_id);
            for (size_t i = v.n; i < n; i++) v.by_id[i] = NULL;
            v.n = n;
        }
        v.by_id[id] = strdup(key);
    }
    json_object_put(root);
    return v;
}

static void check_dataset(const char *tokenizer_dir, bool wordpiece)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", tokenizer_dir);
    FILE *f = fopen(QF_SOURCE_DIR "/../shared/data/debsec/eval.jsonl", "r");
    if (!f) f = fopen("/work/shared/data/debsec/eval.jsonl", "r");
    if (!f) skip(); /* before anything is allocated: skip() does not return */
    qf_tokenizer *t = load_ok(tokenizer_dir);
    vocab_strings vs = wordpiece ? read_vocab(path) : (vocab_strings){0};
    int32_t unk = qf_tokenizer_token_to_id(t, "[UNK]");
    char *line = NULL;
    size_t cap = 0, rows = 0, checked_strings = 0;
    qf_encoding e;
    qf_encoding_init(&e);
    while (getline(&line, &cap, f) > 0) {
        json_object *row = json_tokener_parse(line), *text;
        if (!row || !json_object_object_get_ex(row, "text", &text)) {
            json_object_put(row);
            continue;
        }
        const char *s = json_object_get_string(text);
        size_t len = (size_t)json_object_get_string_len(text);
        qf_error err;
        assert_int_equal(qf_tokenizer_encode(t, s, len, NULL, &e, &err), QF_STATUS_OK);
        size_t nchars = 0;
        for (size_t i = 0; i < len;) { /* code points of the text */
            i = qf_text_char_to_byte(s + i, len - i, 1) + i;
            nchars++;
        }
        bool ascii = true;
        for (size_t i = 0; i < len; i++) ascii &= (unsigned char)s[i] < 128 && s[i] != 0;
        int32_t last_start = 0;
        for (size_t i = 1; i + 1 < e.length; i++) { /* [CLS] / <s> first, [SEP] / </s> last */
            int32_t a = e.offsets[2 * i], b = e.offsets[2 * i + 1];
            if (a < 0 || a > b || (size_t)b > nchars || a < last_start)
                fail_msg("%s, row %zu token %zu: offsets (%d, %d) after start %d, text of %zu chars", tokenizer_dir,
                         rows, i, a, b, last_start, nchars);
            last_start = a;
            if (!wordpiece || !ascii || e.input_ids[i] == unk) continue;
            const char *tok = (size_t)e.input_ids[i] < vs.n ? vs.by_id[e.input_ids[i]] : NULL;
            assert_non_null(tok);
            if (strncmp(tok, "##", 2) == 0) tok += 2;
            char span[512];
            size_t n = (size_t)(b - a);
            assert_true(n < sizeof span);
            for (size_t k = 0; k < n; k++) {
                char c = s[a + k];
                span[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            span[n] = '\0';
            if (strcmp(span, tok) != 0)
                fail_msg("%s, row %zu token %zu: '%s' but the text at (%d, %d) is '%s'", tokenizer_dir, rows, i, tok,
                         a, b, span);
            checked_strings++;
        }
        assert_int_equal(e.offsets[0], 0);
        assert_int_equal(e.offsets[1], 0);
        json_object_put(row);
        rows++;
    }
    free(line);
    fclose(f);
    qf_encoding_free(&e);
    assert_true(rows > 1000);
    if (wordpiece) assert_true(checked_strings > rows);
    for (size_t i = 0; i < vs.n; i++) free(vs.by_id[i]);
    free(vs.by_id);
    qf_tokenizer_destroy(t);
}

static void test_dataset_properties(void **state)
{
    (void)state;
    check_dataset(FIX "tokenizer/bert-mini", true);
    check_dataset(FIX "families/bert", true);
    check_dataset(FIX "families/distilbert", true);
    check_dataset(FIX "families/electra", true);
    check_dataset(FIX "tokenizer/roberta-mini", false);
    check_dataset(FIX "families/roberta", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordpiece_pieces),
        cmocka_unit_test(test_bert_normalizer),
        cmocka_unit_test(test_length_changing_normalizers),
        cmocka_unit_test(test_added_tokens),
        cmocka_unit_test(test_byte_level),
        cmocka_unit_test(test_add_prefix_space),
        cmocka_unit_test(test_padding_truncation),
        cmocka_unit_test(test_pair_offsets),
        cmocka_unit_test(test_byte_level_then_template),
        cmocka_unit_test(test_char_to_byte),
        cmocka_unit_test(test_dataset_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
