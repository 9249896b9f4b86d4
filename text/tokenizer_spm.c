/*
 * text/tokenizer_spm.c: SentencePiece model files (sentencepiece.bpe.model, spm.model,
 * spiece.model) read without a tokenizer.json, as transformers reads them: the model is converted to
 * the tokenizer.json the tokenizer class's converter (transformers' convert_slow_tokenizer.py) lays
 * out, and that is loaded like any tokenizer.json (tokenizer_json.c), so both paths share every
 * check and every step of encoding.
 *
 * The layouts are data (k_layouts below), one row per tokenizer class:
 *   - the vocabulary: the pieces as they are (DeBERTa-v2), fairseq's ids in front of them (XLM-R:
 *     <s> <pad> </s> <unk>, the pieces from the fourth, <mask>; CamemBERT: five ids, the pieces
 *     from the second, <mask>), or ALBERT's scores (100 less for a piece ending in digit + comma);
 *   - the normalizer: SpmConverter's (Precompiled, Strip right, Replace " {2,}" -> U+2581),
 *     DebertaV2Converter's (Lowercase when do_lower_case, Strip, Precompiled, Replace " {2,}" -> " ")
 *     or AlbertConverter's (`` and '' -> ", NFKD + StripAccents unless keep_accents, Lowercase when
 *     do_lower_case, Precompiled, Replace " {2,}" -> " "); Precompiled only when the model has a
 *     precompiled_charsmap;
 *   - Metaspace (U+2581; prepend_scheme "always", "never" when add_prefix_space is false), after a
 *     Punctuation split for DeBERTa-v2's split_by_punct;
 *   - the template of the class's special tokens and the added tokens: the special tokens (ids
 *     from the vocabulary; the mask token strips spaces on its left where the class makes it so)
 *     and the model's control and user-defined pieces.
 * A special token the model has no piece for takes the next id, as transformers adds it. SentencePiece
 * BPE models and every other tokenizer class are refused, naming them.
 *
 * Everything read from the file is validated before it is used: each piece non-empty UTF-8
 * without NUL, at most QF_TOKENIZER_MAX_TOKEN_BYTES; scores finite; types 1 to 6; the unknown id
 * inside the vocabulary; the charsmap as tokenizer_precompiled.c checks it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protobuf/spm_proto.h"
#include "text/tokenizer_internal.h"

typedef enum spm_vocab { VOCAB_AS_IS, VOCAB_FAIRSEQ, VOCAB_CAMEMBERT, VOCAB_ALBERT } spm_vocab;
typedef enum spm_norm { NORM_SPM, NORM_DEBERTA, NORM_ALBERT } spm_norm;

typedef struct spm_layout {
    const char *tokenizer_class; /* without "Fast" */
    const char *model_type;      /* config.json's, when tokenizer_config.json names no class */
    spm_vocab vocab;
    spm_norm normalizer;
    bool bert_template;          /* [CLS] A [SEP] (B [SEP], type 1); else <s> A </s> (</s> B </s>) */
    const char *specials[7];     /* bos, eos, unk, sep, pad, cls, mask: the added special tokens */
    bool mask_lstrip;
    bool lowercase_default;      /* do_lower_case when tokenizer_config.json does not say */
} spm_layout;

static const spm_layout k_layouts[] = {
    {"XLMRobertaTokenizer", "xlm-roberta", VOCAB_FAIRSEQ, NORM_SPM, false,
     {"<s>", "</s>", "<unk>", "</s>", "<pad>", "<s>", "<mask>"}, true, false},
    {"CamembertTokenizer", "camembert", VOCAB_CAMEMBERT, NORM_SPM, false,
     {"<s>", "</s>", "<unk>", "</s>", "<pad>", "<s>", "<mask>"}, true, false},
    {"DebertaV2Tokenizer", "deberta-v2", VOCAB_AS_IS, NORM_DEBERTA, true,
     {"[CLS]", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}, false, false},
    {"AlbertTokenizer", "albert", VOCAB_ALBERT, NORM_ALBERT, true,
     {"[CLS]", "[SEP]", "<unk>", "[SEP]", "<pad>", "[CLS]", "[MASK]"}, true, true},
};

static const spm_layout *find_layout(const char *tokenizer_class, const char *model_type)
{
    size_t n = tokenizer_class ? strlen(tokenizer_class) : 0;
    if (n >= 4 && strcmp(tokenizer_class + n - 4, "Fast") == 0) n -= 4;
    for (size_t i = 0; i < sizeof k_layouts / sizeof k_layouts[0]; i++) {
        if (n && strlen(k_layouts[i].tokenizer_class) == n && strncmp(tokenizer_class, k_layouts[i].tokenizer_class, n) == 0)
            return &k_layouts[i];
        if (!n && model_type && strcmp(model_type, k_layouts[i].model_type) == 0) return &k_layouts[i];
    }
    return NULL;
}

const char *qf_tok_spm_class(const qf_tok_spm_options *o)
{
    const spm_layout *l = find_layout(o->tokenizer_class[0] ? o->tokenizer_class : NULL, o->model_type);
    return l ? l->tokenizer_class : NULL;
}

/* ---- a JSON text builder ---------------------------------------------------------------- */

typedef struct jbuf {
    char *v;
    size_t n, cap;
    bool failed;
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *v = realloc(b->v, cap);
        if (!v) {
            b->failed = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, n);
    b->n += n;
}

static void jb_raw(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

/* Formats at most 511 bytes: every format here is a fixed piece of JSON with ids and ASCII names. */
static void jb_fmt(jbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) b->failed = true;
    else jb_put(b, tmp, (size_t)n);
}

/* A JSON string of UTF-8 bytes (validated by the caller): quotes, backslashes and controls escaped. */
static void jb_str(jbuf *b, const char *s, size_t n)
{
    jb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        jb_put(b, s + run, i - run);
        if (ch == '"' || ch == '\\') jb_put(b, ch == '"' ? "\\\"" : "\\\\", 2);
        else jb_fmt(b, "\\u%04x", ch);
        run = i + 1;
    }
    jb_put(b, s + run, n - run);
    jb_put(b, "\"", 1);
}

/* ---- the conversion ---------------------------------------------------------------------- */

typedef struct vocab_entry {
    const char *piece;
    size_t len;
    double score;
} vocab_entry;

static qf_status piece_error(const qf_tok_ctx *c, size_t i, const char *what)
{
    char f[48];
    snprintf(f, sizeof f, "pieces[%zu]", i);
    return qf_tok_format_error(c, f, "%s", what);
}

/* The pieces, checked. */
static qf_status check_pieces(const qf_tok_ctx *c, const Sentencepiece__ModelProto *m)
{
    if (m->n_pieces == 0) return qf_tok_format_error(c, "pieces", "the SentencePiece model has no pieces");
    if (m->n_pieces > QF_TOKENIZER_MAX_VOCAB - 8) {
        qf_status s = qf_error_set(c->err, QF_STATUS_LIMIT, c->file, NULL, -1, "pieces", "vocabulary size exceeds the limit");
        qf_error_expected(c->err, "at most %u", QF_TOKENIZER_MAX_VOCAB - 8);
        qf_error_found(c->err, "%zu", m->n_pieces);
        return s;
    }
    for (size_t i = 0; i < m->n_pieces; i++) {
        const Sentencepiece__ModelProto__SentencePiece *p = m->pieces[i];
        if (!p->has_piece || p->piece.len == 0) return piece_error(c, i, "empty piece");
        if (p->piece.len > QF_TOKENIZER_MAX_TOKEN_BYTES) return piece_error(c, i, "piece longer than the token limit");
        if (memchr(p->piece.data, 0, p->piece.len)) return piece_error(c, i, "piece contains U+0000");
        if (!qf_utf8_valid(p->piece.data, p->piece.len)) return piece_error(c, i, "piece is not valid UTF-8");
        if (p->has_score && !isfinite(p->score)) return piece_error(c, i, "score is not a finite number");
        if (p->type < 1 || p->type > 6) return piece_error(c, i, "type is not one of SentencePiece's (1 to 6)");
    }
    return QF_STATUS_OK;
}

/* transformers' check_number_comma: false for a piece of 2+ characters ending in digit + ',' */
static bool number_comma_ok(const char *p, size_t n)
{
    return n < 2 || p[n - 1] != ',' || !(p[n - 2] >= '0' && p[n - 2] <= '9');
}

static const char *piece_of(const Sentencepiece__ModelProto *m, size_t i, size_t *len)
{
    *len = m->pieces[i]->piece.len;
    return (const char *)m->pieces[i]->piece.data;
}

static double score_of(const Sentencepiece__ModelProto *m, size_t i)
{
    return m->pieces[i]->has_score ? (double)m->pieces[i]->score : 0.0;
}

/* The layout's vocabulary into v (n_pieces + 6 entries); its count in *n, the unknown id in *unk. */
static qf_status build_vocab(const qf_tok_ctx *c, const spm_layout *l, const Sentencepiece__ModelProto *m,
                             vocab_entry *v, size_t *n, int64_t *unk)
{
    size_t k = 0, first = 0, len;
#define FIXED(s, sc) (v[k++] = (vocab_entry){(s), strlen(s), (sc)})
    switch (l->vocab) {
    case VOCAB_FAIRSEQ:
        if (m->n_pieces < 3) return qf_tok_format_error(c, "pieces", "fewer than 3 pieces for fairseq's ids");
        FIXED("<s>", 0.0), FIXED("<pad>", 0.0), FIXED("</s>", 0.0), FIXED("<unk>", 0.0);
        first = 3;
        *unk = 3;
        break;
    case VOCAB_CAMEMBERT:
        FIXED("<s>NOTUSED", 0.0), FIXED("<pad>", 0.0), FIXED("</s>NOTUSED", 0.0), FIXED("<unk>", 0.0);
        FIXED("<unk>NOTUSED", -100.0);
        first = 1;
        *unk = 3;
        break;
    default: {
        int64_t u = m->trainer_spec && m->trainer_spec->has_unk_id ? m->trainer_spec->unk_id : 0;
        if (u < 0 || (size_t)u >= m->n_pieces)
            return qf_tok_format_error(c, "trainer_spec.unk_id", "unknown id %lld is not a piece of the %zu",
                                       (long long)u, m->n_pieces);
        *unk = u;
        break;
    }
    }
    for (size_t i = first; i < m->n_pieces; i++) {
        const char *p = piece_of(m, i, &len);
        double s = score_of(m, i);
        if (l->vocab == VOCAB_ALBERT && !number_comma_ok(p, len)) s -= 100.0;
        v[k++] = (vocab_entry){p, len, s};
    }
    if (l->vocab == VOCAB_FAIRSEQ || l->vocab == VOCAB_CAMEMBERT) FIXED("<mask>", 0.0);
#undef FIXED
    *n = k;
    return QF_STATUS_OK;
}

/* The id the vocabulary gives a string: the last entry holding it (as the model's map keeps it). */
static int64_t id_of(const vocab_entry *v, size_t n, const char *s, size_t len)
{
    for (size_t i = n; i-- > 0;)
        if (v[i].len == len && memcmp(v[i].piece, s, len) == 0) return (int64_t)i;
    return -1;
}

static void put_added(jbuf *b, bool *first, int64_t id, const char *s, size_t len, bool special, bool lstrip)
{
    jb_raw(b, *first ? "{\"id\":" : ",{\"id\":");
    *first = false;
    jb_fmt(b, "%lld", (long long)id);
    jb_raw(b, ",\"content\":");
    jb_str(b, s, len);
    jb_fmt(b, ",\"single_word\":false,\"lstrip\":%s,\"rstrip\":false,\"normalized\":false,\"special\":%s}",
           lstrip ? "true" : "false", special ? "true" : "false");
}

static void put_charsmap(jbuf *b, const Sentencepiece__ModelProto *m)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *d = m->normalizer_spec->precompiled_charsmap.data;
    size_t n = m->normalizer_spec->precompiled_charsmap.len;
    jb_raw(b, "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t x = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0u) | (i + 2 < n ? d[i + 2] : 0u);
        char q[4] = {tab[x >> 18 & 63], tab[x >> 12 & 63], i + 1 < n ? tab[x >> 6 & 63] : '=', i + 2 < n ? tab[x & 63] : '='};
        jb_put(b, q, 4);
    }
    jb_raw(b, "\"},");
}

qf_status qf_tok_spm_to_json(const qf_tok_ctx *c, const uint8_t *data, size_t size, const qf_tok_spm_options *o,
                             char **json, size_t *json_len)
{
    *json = NULL;
    *json_len = 0;
    const spm_layout *l = find_layout(o->tokenizer_class[0] ? o->tokenizer_class : NULL, o->model_type);
    if (!l)
        return qf_error_set(c->err, QF_STATUS_UNSUPPORTED, c->file, NULL, -1, "tokenizer_class",
                            "a SentencePiece model without tokenizer.json is read for the tokenizer classes "
                            "XLMRobertaTokenizer, CamembertTokenizer, DebertaV2Tokenizer and AlbertTokenizer; this "
                            "folder names '%.60s' (tokenizer_config.json tokenizer_class, else config.json model_type): "
                            "save the tokenizer with transformers to get its tokenizer.json",
                            o->tokenizer_class[0] ? o->tokenizer_class : o->model_type[0] ? o->model_type : "none");
    Sentencepiece__ModelProto *m = NULL;
    qf_status s = qf_spm_proto_parse(data, size, c->file, &m, c->err);
    if (s != QF_STATUS_OK) return s;
    vocab_entry *v = NULL;
    jbuf b = {0};
    int32_t mt = m->trainer_spec && m->trainer_spec->has_model_type ? m->trainer_spec->model_type : 1;
    if (mt != 1) {
        s = qf_error_set(c->err, QF_STATUS_UNSUPPORTED, c->file, NULL, -1, "trainer_spec.model_type",
                         "SentencePiece model type %d (2 BPE, 3 word, 4 char) is not read, only Unigram (1): save "
                         "the tokenizer with transformers to get its tokenizer.json",
                         (int)mt);
        goto done;
    }
    if ((s = check_pieces(c, m)) != QF_STATUS_OK) goto done;
    if (!(v = calloc(m->n_pieces + 6, sizeof *v))) {
        s = qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
        goto done;
    }
    size_t nv = 0;
    int64_t unk = -1;
    if ((s = build_vocab(c, l, m, v, &nv, &unk)) != QF_STATUS_OK) goto done;
    /* a special token the model has no piece for gets the next id, in the class's order (as
     * transformers adds the special tokens: DeBERTa-v3's [MASK] is its 128,000th id) */
    int64_t special_id[7], next_id = (int64_t)nv;
    for (int i = 0; i < 7; i++) {
        special_id[i] = id_of(v, nv, l->specials[i], strlen(l->specials[i]));
        for (int k = 0; k < i && special_id[i] < 0; k++)
            if (strcmp(l->specials[k], l->specials[i]) == 0) special_id[i] = special_id[k];
        if (special_id[i] < 0) special_id[i] = next_id++;
    }
    bool lower = o->do_lower_case < 0 ? l->lowercase_default : o->do_lower_case > 0;

    jb_raw(&b, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    bool first = true;
    for (int i = 0; i < 7; i++) { /* each special once, in the class's order */
        bool seen = false;
        for (int k = 0; k < i; k++) seen |= strcmp(l->specials[k], l->specials[i]) == 0;
        if (!seen) put_added(&b, &first, special_id[i], l->specials[i], strlen(l->specials[i]), true, i == 6 && l->mask_lstrip);
    }
    for (size_t i = 0; i < m->n_pieces; i++) { /* control (special) and user-defined pieces */
        int32_t t = m->pieces[i]->type;
        if (t != 3 && t != 4) continue;
        size_t len;
        const char *p = piece_of(m, i, &len);
        bool special_already = false;
        for (int k = 0; k < 7; k++) special_already |= strlen(l->specials[k]) == len && memcmp(l->specials[k], p, len) == 0;
        int64_t id = id_of(v, nv, p, len);
        if (!special_already && id >= 0) put_added(&b, &first, id, p, len, t == 3, false);
    }
    jb_raw(&b, "],\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[");
    bool charsmap = m->normalizer_spec && m->normalizer_spec->has_precompiled_charsmap &&
                    m->normalizer_spec->precompiled_charsmap.len > 0;
    if (l->normalizer == NORM_ALBERT) {
        jb_raw(&b, "{\"type\":\"Replace\",\"pattern\":{\"String\":\"``\"},\"content\":\"\\\"\"},"
                   "{\"type\":\"Replace\",\"pattern\":{\"String\":\"''\"},\"content\":\"\\\"\"},");
        if (o->keep_accents <= 0) jb_raw(&b, "{\"type\":\"NFKD\"},{\"type\":\"StripAccents\"},");
        if (lower) jb_raw(&b, "{\"type\":\"Lowercase\"},");
    } else if (l->normalizer == NORM_DEBERTA) {
        if (lower) jb_raw(&b, "{\"type\":\"Lowercase\"},");
        jb_raw(&b, "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},");
    }
    if (charsmap) put_charsmap(&b, m);
    if (l->normalizer == NORM_SPM)
        jb_raw(&b, "{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true},"
                   "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\"\\u2581\"}]},");
    else
        jb_raw(&b, "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]},");
    const char *meta_fmt = "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"%s\",\"split\":true}";
    const char *scheme = o->add_prefix_space == 0 ? "never" : "always";
    jb_raw(&b, "\"pre_tokenizer\":");
    if (l->normalizer == NORM_DEBERTA) {
        jb_raw(&b, "{\"type\":\"Sequence\",\"pretokenizers\":[");
        if (o->split_by_punct > 0) jb_raw(&b, "{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"},");
        jb_fmt(&b, meta_fmt, scheme);
        jb_raw(&b, "]}");
    } else {
        jb_fmt(&b, meta_fmt, scheme);
    }
    /* the template: cls/bos and sep/eos of the class */
    const char *cls = l->specials[5], *sep = l->specials[3];
    jb_fmt(&b, ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"%s\",", cls);
    jb_fmt(&b, "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"%s\",", sep);
    jb_raw(&b, "\"type_id\":0}}],\"pair\":[");
    jb_fmt(&b, "{\"SpecialToken\":{\"id\":\"%s\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},", cls);
    jb_fmt(&b, "{\"SpecialToken\":{\"id\":\"%s\",\"type_id\":0}},", sep);
    if (l->bert_template) {
        jb_fmt(&b, "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},{\"SpecialToken\":{\"id\":\"%s\",\"type_id\":1}}", sep);
    } else {
        jb_fmt(&b, "{\"SpecialToken\":{\"id\":\"%s\",\"type_id\":0}},", sep);
        jb_fmt(&b, "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"%s\",\"type_id\":0}}", sep);
    }
    jb_raw(&b, "],\"special_tokens\":{");
    jb_fmt(&b, "\"%s\":{\"id\":\"%s\",\"ids\":[", cls, cls);
    jb_fmt(&b, "%lld],\"tokens\":[\"%s\"]},", (long long)special_id[5], cls);
    jb_fmt(&b, "\"%s\":{\"id\":\"%s\",\"ids\":[", sep, sep);
    jb_fmt(&b, "%lld],\"tokens\":[\"%s\"]}}}", (long long)special_id[3], sep);
    jb_fmt(&b, ",\"decoder\":null,\"model\":{\"type\":\"Unigram\",\"unk_id\":%lld,\"byte_fallback\":false,\"vocab\":[",
           (long long)unk);
    for (size_t i = 0; i < nv; i++) {
        jb_raw(&b, i ? ",[" : "[");
        jb_str(&b, v[i].piece, v[i].len);
        jb_fmt(&b, ",%.17g]", v[i].score);
    }
    jb_raw(&b, "]}}");
    if (b.failed) {
        s = qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
        goto done;
    }
    *json = b.v;
    *json_len = b.n;
    b.v = NULL;
done:
    free(b.v);
    free(v);
    qf_spm_proto_free(m);
    return s;
}
