/*
 * tests/test_tokenizer_unigram.c: the SentencePiece parts of the tokenizers (text/): the Unigram
 * model, the Precompiled normalizer (precompiled_charsmap), the Metaspace pre-tokenizer and the
 * Replace normalizer's one-character Regex runs, on small inline tokenizer.json files. Every
 * expected id and offset was printed by Hugging Face tokenizers 0.23.2 (the Rust library, npm
 * "tokenizers") for the same file and text; the real-size parity is tests/test_spm_tokenizers.py.
 * Hostile files: each refusal names its field; a charsmap whose trie points outside itself (where
 * the Rust library panics) fails the encoding with QF_STATUS_FORMAT. SentencePiece model files
 * (text/tokenizer_spm.c): one written here piece by piece in the protobuf wire format, read as its
 * folder's tokenizer class; its refusals (the class, BPE, the unknown id, each bad piece, bytes
 * that do not unpack).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/verify.h"
#include "text/tokenizer_internal.h"

#define HEAD "{\"version\":\"1.0\",\"added_tokens\":[],\"post_processor\":null,\"decoder\":null,"
#define VOCAB                                                                                                     \
    "[[\"<unk>\",0],[\"a\",-1],[\"b\",-2],[\"ab\",-2.5],[\"abc\",-10],[\"x\",-1],[\"y\",-1],[\"xy\",-1.5],"   \
    "[\"\\u2581\",-3],[\"\\u2581a\",-1.2],[\"cc\",-0.5]]"
#define UNIGRAM "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":" VOCAB ",\"byte_fallback\":false}"

static qf_tokenizer *load(const char *json, qf_status want, const char *field)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    qf_status s = qf_tokenizer_load_json(json, strlen(json), "inline.json", &t, &err);
    char buf[1024];
    qf_error_format(&err, buf, sizeof buf);
    if (s != want) fail_msg("loading gave %d, expected %d: %s", (int)s, (int)want, buf);
    if (field && strcmp(err.object, field) != 0) fail_msg("error '%s' names '%s', expected %s", buf, err.object, field);
    return t;
}

/* ids and (start, end) offsets of `text`, as Hugging Face printed them */
static void expect(const qf_tokenizer *t, const char *text, const int32_t *ids, const int32_t *offsets, size_t n)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenize_params p = qf_tokenize_params_default();
    qf_encoding e = {0};
    if (qf_tokenizer_encode(t, text, strlen(text), &p, &e, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("'%s': %s", text, buf);
    }
    if (e.length != n) fail_msg("'%s': %zu ids, expected %zu", text, e.length, n);
    for (size_t i = 0; i < n; i++) {
        if (e.input_ids[i] != ids[i]) fail_msg("'%s': id %zu is %d, expected %d", text, i, e.input_ids[i], ids[i]);
        if (e.offsets[2 * i] != offsets[2 * i] || e.offsets[2 * i + 1] != offsets[2 * i + 1])
            fail_msg("'%s': token %zu at (%d, %d), expected (%d, %d)", text, i, e.offsets[2 * i], e.offsets[2 * i + 1],
                     offsets[2 * i], offsets[2 * i + 1]);
    }
    qf_encoding_free(&e);
}

#define EXPECT(t, text, IDS, OFFS)                                                                                 \
    do {                                                                                                           \
        static const int32_t ids_[] = IDS, offs_[] = OFFS;                                                         \
        expect(t, text, ids_, offs_, sizeof ids_ / sizeof ids_[0]);                                                \
    } while (0)
#define L(...) {__VA_ARGS__}

static void test_unigram_viterbi(void **state)
{
    (void)state;
    qf_tokenizer *t = load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":null}", QF_STATUS_OK, NULL);
    EXPECT(t, "abc", L(4), L(0, 3));                    /* -10 beats ab + unknown c (-2.5 - 11) */
    EXPECT(t, "cc", L(10), L(0, 2));                    /* a piece made of characters that are not */
    EXPECT(t, "ccc a", L(0, 10, 0, 1), L(0, 1, 1, 3, 3, 4, 4, 5));
    EXPECT(t, "abab", L(3, 3), L(0, 2, 2, 4));
    EXPECT(t, "c", L(0), L(0, 1));
    qf_tokenizer_destroy(t);
}

static void test_unknown_runs_and_byte_fallback(void **state)
{
    (void)state;
    qf_tokenizer *t = load(HEAD "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1],"
                                "[\"<0x63>\",-5],[\"<0xC3>\",-5]],\"byte_fallback\":true},\"normalizer\":null,"
                                "\"pre_tokenizer\":null}",
                           QF_STATUS_OK, NULL);
    EXPECT(t, "c", L(2), L(0, 1));              /* its byte's piece */
    EXPECT(t, "\xc3\xa9", L(0), L(0, 1));       /* <0xA9> is missing: all bytes or the unknown token */
    EXPECT(t, "ac", L(1, 2), L(0, 1, 1, 2));
    qf_tokenizer_destroy(t);

    /* no unk_id: an unknown character cannot be encoded, as in Hugging Face */
    t = load(HEAD "\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"normalizer\":null,\"pre_tokenizer\":null}",
             QF_STATUS_OK, NULL);
    EXPECT(t, "a", L(0), L(0, 1));
    qf_error err;
    qf_error_clear(&err);
    qf_tokenize_params p = qf_tokenize_params_default();
    qf_encoding e = {0};
    assert_int_equal(qf_tokenizer_encode(t, "b", 1, &p, &e, &err), QF_STATUS_FORMAT);
    char buf[512];
    qf_error_format(&err, buf, sizeof buf);
    assert_non_null(strstr(buf, "unk_id"));
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

/* A charsmap by hand: 256 units, so that every byte stays inside; "A" -> "a", "B" -> "xy" (longer),
 * "D" -> "" (removed). Each key's unit sits at its byte (root offset 0), its value one further. */
static size_t make_charsmap(uint8_t *blob, uint32_t units_n, bool bad_value)
{
    uint32_t units[256] = {0};
    static const char norm[] = "a\0xy\0"; /* 6 bytes with the final NUL */
    static const struct { uint8_t key; uint32_t at; } leaves[] = {{'A', 0}, {'B', 2}, {'D', 5}};
    for (size_t i = 0; i < 3; i++) {
        units[leaves[i].key] = leaves[i].key | 0x100u | (1u << 10);
        units[leaves[i].key ^ 1u] = leaves[i].at;
    }
    if (bad_value) units['A' ^ 1u] = 1000; /* past the strings */
    size_t n = 0;
    uint32_t bytes = units_n * 4;
    memcpy(blob, &bytes, 4); /* little-endian host (x86-64) */
    n = 4;
    for (uint32_t i = 0; i < units_n; i++, n += 4) memcpy(blob + n, &units[i], 4);
    memcpy(blob + n, norm, sizeof norm);
    return n + sizeof norm;
}

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static char *charsmap_json(const char *b64_text)
{
    size_t need = strlen(b64_text) + 1024;
    char *json = malloc(need);
    assert_non_null(json);
    snprintf(json, need,
             HEAD UNIGRAM ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"},"
                          "\"pre_tokenizer\":null}",
             b64_text);
    return json;
}

static void test_precompiled(void **state)
{
    (void)state;
    uint8_t blob[4 + 256 * 4 + 16];
    char text[2048];
    b64(blob, make_charsmap(blob, 256, false), text);
    char *json = charsmap_json(text);
    qf_tokenizer *t = load(json, QF_STATUS_OK, NULL);
    EXPECT(t, "ABab", L(1, 7, 3), L(0, 1, 1, 2, 2, 4));
    EXPECT(t, "AB", L(1, 7), L(0, 1, 1, 2));
    EXPECT(t, "CAD", L(0, 1), L(0, 1, 1, 2));  /* the removed D goes with the entry before it */
    EXPECT(t, "DA", L(1), L(0, 1));            /* removed first: the next one takes its place */
    qf_tokenizer_destroy(t);
    free(json);

    /* hostile blobs, each refused when loading, naming the field */
    static const char *const bad[] = {"AAA=", "!!!!", "AAAA", "AAAAAA==", "BAAAAA==", "CAAAAAAAAAA="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json = charsmap_json(bad[i]);
        qf_tokenizer_destroy(load(json, QF_STATUS_FORMAT, "normalizer.precompiled_charsmap"));
        free(json);
    }
    /* strings that are not UTF-8 */
    size_t n = make_charsmap(blob, 256, false);
    blob[n - 3] = 0xFF;
    b64(blob, n, text);
    json = charsmap_json(text);
    qf_tokenizer_destroy(load(json, QF_STATUS_FORMAT, "normalizer.precompiled_charsmap"));
    free(json);

    /* a trie that points outside: loads, but a text that reaches it cannot be normalized */
    b64(blob, make_charsmap(blob, 70, false), text);
    json = charsmap_json(text);
    t = load(json, QF_STATUS_OK, NULL);
    EXPECT(t, "AB", L(1, 7), L(0, 1, 1, 2));
    qf_error err;
    qf_error_clear(&err);
    qf_tokenize_params p = qf_tokenize_params_default();
    qf_encoding e = {0};
    assert_int_equal(qf_tokenizer_encode(t, "ab", 2, &p, &e, &err), QF_STATUS_FORMAT); /* 'a' is unit 97 of 70 */
    char buf[512];
    qf_error_format(&err, buf, sizeof buf);
    assert_non_null(strstr(buf, "Precompiled"));
    assert_string_equal(err.object, "normalizer");
    qf_tokenizer_destroy(t);
    free(json);
    /* a value past the strings */
    b64(blob, make_charsmap(blob, 256, true), text);
    json = charsmap_json(text);
    t = load(json, QF_STATUS_OK, NULL);
    assert_int_equal(qf_tokenizer_encode(t, "A", 1, &p, &e, &err), QF_STATUS_FORMAT);
    qf_tokenizer_destroy(t);
    free(json);
    qf_encoding_free(&e);

    /* one past the size limit, before decoding */
    size_t big = (size_t)QF_TOKENIZER_MAX_CHARSMAP / 3 * 4 + 8;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'A', big);
    huge[big] = '\0';
    json = charsmap_json(huge);
    qf_tokenizer_destroy(load(json, QF_STATUS_LIMIT, "normalizer.precompiled_charsmap"));
    free(json);
    free(huge);
}

static void test_metaspace(void **state)
{
    (void)state;
    qf_tokenizer *t = load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                                       "\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true}}",
                           QF_STATUS_OK, NULL);
    EXPECT(t, "a b", L(9, 8, 2), L(0, 1, 1, 2, 2, 3));
    EXPECT(t, "  ab", L(8, 9, 2), L(0, 1, 1, 3, 3, 4));
    qf_tokenizer_destroy(t);
    t = load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                          "\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":true}}",
             QF_STATUS_OK, NULL);
    EXPECT(t, "a b", L(9, 8, 2), L(0, 1, 1, 2, 2, 3));
    qf_tokenizer_destroy(t);
    t = load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                          "\"replacement\":\"\\u2581\",\"prepend_scheme\":\"never\",\"split\":false}}",
             QF_STATUS_OK, NULL);
    EXPECT(t, "a b", L(1, 8, 2), L(0, 1, 1, 2, 2, 3));
    qf_tokenizer_destroy(t);
    /* refused: two characters, an unknown scheme, add_prefix_space false under "always" */
    qf_tokenizer_destroy(load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                                           "\"replacement\":\"__\"}}",
                              QF_STATUS_FORMAT, "pre_tokenizer.replacement"));
    qf_tokenizer_destroy(load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                                           "\"replacement\":\"_\",\"prepend_scheme\":\"sometimes\"}}",
                              QF_STATUS_FORMAT, "pre_tokenizer.prepend_scheme"));
    qf_tokenizer_destroy(load(HEAD UNIGRAM ",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\","
                                           "\"replacement\":\"_\",\"add_prefix_space\":false}}",
                              QF_STATUS_FORMAT, "pre_tokenizer.add_prefix_space"));
}

static void test_replace_runs(void **state)
{
    (void)state;
    qf_tokenizer *t = load(HEAD UNIGRAM ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a{2,}\"},"
                                       "\"content\":\"b\"},\"pre_tokenizer\":null}",
                           QF_STATUS_OK, NULL);
    EXPECT(t, "aaa a aa", L(2, 0, 1, 0, 2), L(2, 3, 3, 4, 4, 5, 5, 6, 7, 8));
    qf_tokenizer_destroy(t);
    t = load(HEAD UNIGRAM ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a+\"},\"content\":\"x\"},"
                          "\"pre_tokenizer\":null}",
             QF_STATUS_OK, NULL);
    EXPECT(t, "aaa a", L(5, 0, 5), L(2, 3, 3, 4, 4, 5));
    qf_tokenizer_destroy(t);
    /* any other regex is refused, naming it */
    static const char *const other[] = {"\\\\s+", "a{2}", "a{,3}", "[ab]+", "a{0,}", "ab+"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 HEAD UNIGRAM ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"%s\"},\"content\":\"x\"},"
                              "\"pre_tokenizer\":null}",
                 other[i]);
        qf_tokenizer_destroy(load(json, QF_STATUS_UNSUPPORTED, "normalizer.pattern.Regex"));
    }
}

static void test_bad_unigram_models(void **state)
{
    (void)state;
    static const struct { const char *model; qf_status s; const char *field; } bad[] = {
        {"{\"type\":\"Unigram\",\"vocab\":{}}", QF_STATUS_FORMAT, "model.vocab"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}", QF_STATUS_FORMAT, "model.vocab[0]"},
        {"{\"type\":\"Unigram\",\"vocab\":[[1,2]]}", QF_STATUS_FORMAT, "model.vocab[0][0]"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}", QF_STATUS_FORMAT, "model.vocab[0][1]"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\",NaN]]}", QF_STATUS_FORMAT, "model.vocab[0][1]"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]],\"unk_id\":1}", QF_STATUS_FORMAT, "model.unk_id"},
        {"{\"type\":\"Unigram\",\"vocab\":[],\"unk_id\":0}", QF_STATUS_FORMAT, "model.unk_id"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]],\"unk_id\":-1}", QF_STATUS_FORMAT, "model.unk_id"},
        {"{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]],\"byte_fallback\":1}", QF_STATUS_FORMAT, "model.byte_fallback"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json, HEAD "\"model\":%s,\"normalizer\":null,\"pre_tokenizer\":null}", bad[i].model);
        qf_tokenizer_destroy(load(json, bad[i].s, bad[i].field));
    }
    /* without "type", a vocab array is a Unigram (as Hugging Face's untagged model reads it) */
    qf_tokenizer *t = load(HEAD "\"model\":{\"vocab\":[[\"<unk>\",0],[\"a\",-1]],\"unk_id\":0},\"normalizer\":null,"
                                "\"pre_tokenizer\":null}",
                           QF_STATUS_OK, NULL);
    EXPECT(t, "ab", L(1, 0), L(0, 1, 1, 2));
    qf_tokenizer_destroy(t);
}

/* ---- SentencePiece model files (text/tokenizer_spm.c) ------------------------------------ */

typedef struct pbuf {
    uint8_t v[4096];
    size_t n;
} pbuf;

static void pb_varint(pbuf *b, uint64_t x)
{
    do {
        b->v[b->n++] = (uint8_t)((x & 0x7F) | (x > 0x7F ? 0x80 : 0));
        x >>= 7;
    } while (x);
}

static void pb_bytes(pbuf *b, unsigned field, const void *data, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    memcpy(b->v + b->n, data, n);
    b->n += n;
}

/* One SentencePiece: piece (field 1), score (2, fixed32), type (3). */
static void pb_piece(pbuf *b, const char *piece, size_t len, float score, int type)
{
    pbuf p = {.n = 0};
    pb_bytes(&p, 1, piece, len);
    p.v[p.n++] = 2 << 3 | 5;
    memcpy(p.v + p.n, &score, 4);
    p.n += 4;
    pb_varint(&p, 3 << 3);
    pb_varint(&p, (uint64_t)(int64_t)type);
    pb_bytes(b, 1, p.v, p.n);
}

/* A model of XLM-R's shape: <unk> <s> </s> then a, b, ab, and the trainer spec given. */
static size_t spm_model(pbuf *b, int model_type, int unk_id)
{
    b->n = 0;
    pb_piece(b, "<unk>", 5, 0, 2);
    pb_piece(b, "<s>", 3, 0, 3);
    pb_piece(b, "</s>", 4, 0, 3);
    pb_piece(b, "\xe2\x96\x81" "a", 4, -1, 1);
    pb_piece(b, "b", 1, -2, 1);
    pb_piece(b, "ab", 2, -1.5f, 1);
    pbuf t = {.n = 0};
    pb_varint(&t, 3 << 3);
    pb_varint(&t, (uint64_t)(int64_t)model_type);
    pb_varint(&t, 40 << 3);
    pb_varint(&t, (uint64_t)(int64_t)unk_id);
    pb_bytes(b, 2, t.v, t.n);
    return b->n;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_spm(const char *dir, const char *file, const pbuf *m, const char *config, qf_status want,
                       const char *field)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_bytes(path, m->v, m->n);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_bytes(path, config, strlen(config));
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    qf_status s = qf_tokenizer_load(dir, &t, &err);
    char buf[1024];
    qf_error_format(&err, buf, sizeof buf);
    if (s != want) fail_msg("%s: status %d, expected %d: %s", file, (int)s, (int)want, buf);
    if (field && strcmp(err.object, field) != 0) fail_msg("%s: '%s' names '%s', expected %s", file, buf, err.object, field);
    if (s == QF_STATUS_OK) {
        /* XLM-R's ids: <s> 0, <pad> 1, </s> 2, <unk> 3, then the pieces from the fourth (U+2581 a 4,
         * b 5, ab 6), <mask> 7; what tokenizers 0.23.2 gives for that tokenizer.json */
        EXPECT(t, "ab b", L(0, 4, 5, 3, 5, 2), L(0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 0, 0));
        qf_tokenizer_destroy(t);
    }
    snprintf(path, sizeof path, "%s/%s", dir, file);
    remove(path);
}

static void test_spm_model_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/qf-spm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char xlmr[] = "{\"tokenizer_class\":\"XLMRobertaTokenizer\"}";
    pbuf m;
    spm_model(&m, 1, 0);
    expect_spm(dir, "sentencepiece.bpe.model", &m, xlmr, QF_STATUS_OK, NULL);
    /* the class decides: none, or one that is not read */
    expect_spm(dir, "sentencepiece.bpe.model", &m, "{}", QF_STATUS_UNSUPPORTED, "tokenizer_class");
    expect_spm(dir, "spiece.model", &m, "{\"tokenizer_class\":\"T5Tokenizer\"}", QF_STATUS_UNSUPPORTED,
               "tokenizer_class");
    /* hostile files */
    spm_model(&m, 2, 0); /* BPE */
    expect_spm(dir, "spm.model", &m, xlmr, QF_STATUS_UNSUPPORTED, "trainer_spec.model_type");
    spm_model(&m, 1, 9); /* unk_id past the pieces: refused for a class that keeps the model's ids */
    expect_spm(dir, "spm.model", &m, "{\"tokenizer_class\":\"DebertaV2Tokenizer\"}", QF_STATUS_FORMAT,
               "trainer_spec.unk_id");
    static const struct { const char *piece; size_t len; float score; int type; const char *field; } bad[] = {
        {"", 0, 0, 1, "pieces[6]"},          {"a\0b", 3, 0, 1, "pieces[6]"}, {"\xff", 1, 0, 1, "pieces[6]"},
        {"nan", 3, NAN, 1, "pieces[6]"},     {"t", 1, 0, 9, "pieces[6]"},     {"t", 1, 0, -1, "pieces[6]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spm_model(&m, 1, 0);
        pb_piece(&m, bad[i].piece, bad[i].len, bad[i].score, bad[i].type);
        expect_spm(dir, "spm.model", &m, xlmr, QF_STATUS_FORMAT, bad[i].field);
    }
    /* not a protobuf of the schema: a length past the end, a wire type that does not fit */
    static const uint8_t junk1[] = {0x0A, 0x7F, 0x01}, junk2[] = {0x0D, 1, 2, 3, 4};
    memcpy(m.v, junk1, sizeof junk1);
    m.n = sizeof junk1;
    expect_spm(dir, "spm.model", &m, xlmr, QF_STATUS_FORMAT, NULL);
    memcpy(m.v, junk2, sizeof junk2);
    m.n = sizeof junk2;
    expect_spm(dir, "spm.model", &m, xlmr, QF_STATUS_FORMAT, NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unigram_viterbi),    cmocka_unit_test(test_unknown_runs_and_byte_fallback),
        cmocka_unit_test(test_precompiled),        cmocka_unit_test(test_metaspace),
        cmocka_unit_test(test_replace_runs),       cmocka_unit_test(test_bad_unigram_models),
        cmocka_unit_test(test_spm_model_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
