/*
 * text/tokenizer_json.c: the json-c adapter of the tokenizers (the only file that includes
 * json-c). Reads tokenizer.json into a qf_tokenizer, plus the vocab.json and tokenizer_config.json
 * of the folder loaders. Every field is type-checked; errors name the field by its JSON path
 * ("model.vocab", "normalizer.normalizers[1].type", ...). Syntax errors carry the byte offset.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

/* JSON paths of fields, for error messages only: a very deep path is cut, on purpose. */
#define PATH_MAX_LEN 200
#pragma GCC diagnostic ignored "-Wformat-truncation"

static const char *type_name(json_object *v)
{
    return v ? json_type_to_name(json_object_get_type(v)) : "absent";
}

static qf_status type_error(const qf_tok_ctx *c, const char *field, const char *expected, json_object *v)
{
    qf_status s = qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, field, "field has the wrong type");
    qf_error_expected(c->err, "%s", expected);
    qf_error_found(c->err, "%s", type_name(v));
    return s;
}

static qf_status unsupported(const qf_tok_ctx *c, const char *field, const char *what, const char *name)
{
    return qf_error_set(c->err, QF_STATUS_UNSUPPORTED, c->file, NULL, -1, field, "%s '%s' is not supported", what,
                        name);
}

static qf_status limit(const qf_tok_ctx *c, const char *field, const char *what, uint64_t max, uint64_t found)
{
    qf_status s = qf_error_set(c->err, QF_STATUS_LIMIT, c->file, NULL, -1, field, "%s exceeds the limit", what);
    qf_error_expected(c->err, "at most %llu", (unsigned long long)max);
    qf_error_found(c->err, "%llu", (unsigned long long)found);
    return s;
}

static void sub(char *out, const char *path, const char *key)
{
    snprintf(out, PATH_MAX_LEN, "%s%s%s", path, path[0] ? "." : "", key);
}

static void idx(char *out, const char *path, size_t i)
{
    snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i);
}

static json_object *member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

/* Optional bool: absent or null gives `def`. */
static qf_status get_bool(const qf_tok_ctx *c, json_object *obj, const char *key, const char *path, bool def,
                          bool *out)
{
    char f[PATH_MAX_LEN];
    json_object *v = member(obj, key);
    *out = def;
    if (!v) return QF_STATUS_OK;
    sub(f, path, key);
    if (!json_object_is_type(v, json_type_boolean)) return type_error(c, f, "boolean", v);
    *out = json_object_get_boolean(v);
    return QF_STATUS_OK;
}

static qf_status as_int(const qf_tok_ctx *c, json_object *v, const char *field, int64_t lo, int64_t hi,
                        int64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int)) return type_error(c, field, "integer", v);
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi) {
        qf_status s = qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, field, "integer out of range");
        qf_error_expected(c->err, "%lld..%lld", (long long)lo, (long long)hi);
        qf_error_found(c->err, "%lld", (long long)x);
        return s;
    }
    *out = x;
    return QF_STATUS_OK;
}

/* Required (or, with `optional`, possibly absent/null: *out NULL) string. */
static qf_status get_string(const qf_tok_ctx *c, json_object *obj, const char *key, const char *path, bool optional,
                            const char **out, size_t *len)
{
    char f[PATH_MAX_LEN];
    sub(f, path, key);
    json_object *v = member(obj, key);
    *out = NULL;
    if (len) *len = 0;
    if (!v) {
        if (optional) return QF_STATUS_OK;
        return type_error(c, f, "string", v);
    }
    if (!json_object_is_type(v, json_type_string)) return type_error(c, f, "string", v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > QF_TOKENIZER_MAX_TOKEN_BYTES) return limit(c, f, "string length in bytes", QF_TOKENIZER_MAX_TOKEN_BYTES, n);
    *out = json_object_get_string(v);
    if (len) *len = n;
    return QF_STATUS_OK;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static qf_status nomem(const qf_tok_ctx *c)
{
    return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
}

static qf_status to_cps(const qf_tok_ctx *c, const char *s, size_t n, qf_cpbuf *out)
{
    return qf_utf8_decode_lossy((const uint8_t *)s, n, out) ? QF_STATUS_OK : nomem(c);
}

static qf_status get_object(const qf_tok_ctx *c, json_object *v, const char *field)
{
    return json_object_is_type(v, json_type_object) ? QF_STATUS_OK : type_error(c, field, "object", v);
}

/* Array of at most QF_TOKENIZER_MAX_STAGES components. */
static qf_status get_stages(const qf_tok_ctx *c, json_object *obj, const char *key, const char *path,
                            json_object **arr, size_t *n)
{
    char f[PATH_MAX_LEN];
    sub(f, path, key);
    *arr = member(obj, key);
    if (!*arr || !json_object_is_type(*arr, json_type_array)) return type_error(c, f, "array", *arr);
    *n = json_object_array_length(*arr);
    if (*n > QF_TOKENIZER_MAX_STAGES) return limit(c, f, "components in a Sequence", QF_TOKENIZER_MAX_STAGES, *n);
    return QF_STATUS_OK;
}

/* {"String": "..."} patterns; {"Regex": ...} is refused. */
static qf_status get_pattern(const qf_tok_ctx *c, json_object *obj, const char *path, qf_cpbuf *out)
{
    char f[PATH_MAX_LEN];
    sub(f, path, "pattern");
    json_object *p = member(obj, "pattern");
    qf_status s = get_object(c, p, f);
    if (s != QF_STATUS_OK) return s;
    if (member(p, "Regex")) {
        char g[PATH_MAX_LEN];
        sub(g, f, "Regex");
        return unsupported(c, g, "pattern kind", "Regex");
    }
    const char *str;
    size_t n;
    if ((s = get_string(c, p, "String", f, false, &str, &n)) != QF_STATUS_OK) return s;
    if (n == 0) return qf_tok_format_error(c, f, "empty String pattern");
    return to_cps(c, str, n, out);
}

/* The pattern of a Replace normalizer: a String, or one of the Regex forms SentencePiece
 * tokenizers use, a single character repeated: "c{m,}" (XLM-R's " {2,}") or "c+", with c a
 * character that is not a regex operator or such an operator escaped by a backslash. Any other
 * Regex is refused, naming it. */
static qf_status get_replace_pattern(const qf_tok_ctx *c, json_object *obj, const char *path, qf_tok_norm *nm)
{
    char f[PATH_MAX_LEN], g[PATH_MAX_LEN];
    sub(f, path, "pattern");
    json_object *p = member(obj, "pattern");
    qf_status s = get_object(c, p, f);
    if (s != QF_STATUS_OK) return s;
    if (!member(p, "Regex")) return get_pattern(c, obj, path, &nm->pattern);
    const char *re;
    size_t n;
    sub(g, f, "Regex");
    if ((s = get_string(c, p, "Regex", f, false, &re, &n)) != QF_STATUS_OK) return s;
    qf_cpbuf cps = {0};
    if (!qf_utf8_decode_lossy((const uint8_t *)re, n, &cps)) return nomem(c);
    static const char operators[] = "\\^$.|?*+()[]{}";
    size_t i = 0;
    uint32_t ch = 0;
    bool ok = false;
    if (cps.n >= 2 && cps.v[0] == '\\' && cps.v[1] < 128 && strchr(operators, (int)cps.v[1])) ch = cps.v[1], i = 2;
    else if (cps.n >= 1 && !(cps.v[0] < 128 && strchr(operators, (int)cps.v[0])) && cps.v[0] != 0) ch = cps.v[0], i = 1;
    if (i && i + 1 == cps.n && cps.v[i] == '+') {
        nm->min_run = 1;
        ok = true;
    } else if (i && i < cps.n && cps.v[i] == '{' && cps.v[cps.n - 1] == '}' && cps.n >= i + 4 && cps.v[cps.n - 2] == ',') {
        size_t m = 0, k = i + 1;
        for (; k < cps.n - 2 && cps.v[k] >= '0' && cps.v[k] <= '9' && m < 1000000; k++) m = m * 10 + (cps.v[k] - '0');
        if (k == cps.n - 2 && m >= 1) {
            nm->min_run = m;
            ok = true;
        }
    }
    qf_cpbuf_free(&cps);
    if (!ok) {
        s = qf_error_set(c->err, QF_STATUS_UNSUPPORTED, c->file, NULL, -1, g,
                         "Regex pattern '%.60s' is not supported: only one character repeated, as \"c{m,}\" or \"c+\"",
                         re);
        return s;
    }
    return qf_cpbuf_push(&nm->pattern, ch) ? QF_STATUS_OK : nomem(c);
}

static qf_status parse_norm(const qf_tok_ctx *c, json_object *obj, const char *path, int depth, qf_tok_norm *nm)
{
    qf_status s = get_object(c, obj, path);
    if (s != QF_STATUS_OK) return s;
    const char *type;
    if ((s = get_string(c, obj, "type", path, false, &type, NULL)) != QF_STATUS_OK) return s;
    char f[PATH_MAX_LEN];
    if (strcmp(type, "BertNormalizer") == 0) {
        nm->kind = QF_TOK_NORM_BERT;
        if ((s = get_bool(c, obj, "clean_text", path, true, &nm->clean_text)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "handle_chinese_chars", path, true, &nm->handle_chinese_chars)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "lowercase", path, true, &nm->lowercase)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "strip_accents", path, nm->lowercase, &nm->strip_accents)) != QF_STATUS_OK)
            return s;
    } else if (strcmp(type, "Lowercase") == 0) {
        nm->kind = QF_TOK_NORM_LOWERCASE;
    } else if (strcmp(type, "NFD") == 0) {
        nm->kind = QF_TOK_NORM_NFD;
    } else if (strcmp(type, "NFKD") == 0) {
        nm->kind = QF_TOK_NORM_NFKD;
    } else if (strcmp(type, "NFC") == 0) {
        nm->kind = QF_TOK_NORM_NFC;
    } else if (strcmp(type, "NFKC") == 0) {
        nm->kind = QF_TOK_NORM_NFKC;
    } else if (strcmp(type, "StripAccents") == 0) {
        nm->kind = QF_TOK_NORM_STRIP_ACCENTS;
    } else if (strcmp(type, "Strip") == 0) {
        nm->kind = QF_TOK_NORM_STRIP;
        if ((s = get_bool(c, obj, "strip_left", path, true, &nm->strip_left)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "strip_right", path, true, &nm->strip_right)) != QF_STATUS_OK)
            return s;
    } else if (strcmp(type, "Replace") == 0) {
        nm->kind = QF_TOK_NORM_REPLACE;
        const char *content;
        size_t n;
        if ((s = get_replace_pattern(c, obj, path, nm)) != QF_STATUS_OK ||
            (s = get_string(c, obj, "content", path, false, &content, &n)) != QF_STATUS_OK)
            return s;
        return to_cps(c, content, n, &nm->content);
    } else if (strcmp(type, "Precompiled") == 0) {
        nm->kind = QF_TOK_NORM_PRECOMPILED;
        sub(f, path, "precompiled_charsmap");
        json_object *v = member(obj, "precompiled_charsmap");
        if (!v || !json_object_is_type(v, json_type_string)) return type_error(c, f, "string (base64)", v);
        return qf_tok_charsmap_from_base64(c, f, json_object_get_string(v), (size_t)json_object_get_string_len(v),
                                           &nm->charsmap);
    } else if (strcmp(type, "Prepend") == 0) {
        nm->kind = QF_TOK_NORM_PREPEND;
        const char *content;
        size_t n;
        if ((s = get_string(c, obj, "prepend", path, false, &content, &n)) != QF_STATUS_OK) return s;
        return to_cps(c, content, n, &nm->content);
    } else if (strcmp(type, "Sequence") == 0) {
        nm->kind = QF_TOK_NORM_SEQUENCE;
        sub(f, path, "normalizers");
        if (depth >= QF_TOKENIZER_MAX_NESTING) return limit(c, f, "nesting of Sequences", QF_TOKENIZER_MAX_NESTING, depth + 1);
        json_object *arr;
        size_t n;
        if ((s = get_stages(c, obj, "normalizers", path, &arr, &n)) != QF_STATUS_OK) return s;
        if (n && !(nm->items = calloc(n, sizeof *nm->items))) return nomem(c);
        for (size_t i = 0; i < n; i++) {
            char g[PATH_MAX_LEN];
            idx(g, f, i);
            nm->n_items = i + 1;
            if ((s = parse_norm(c, json_object_array_get_idx(arr, i), g, depth + 1, &nm->items[i])) != QF_STATUS_OK)
                return s;
        }
    } else {
        sub(f, path, "type");
        return unsupported(c, f, "normalizer", type);
    }
    return QF_STATUS_OK;
}

static qf_status get_behavior(const qf_tok_ctx *c, json_object *obj, const char *path, qf_tok_behavior def,
                              qf_tok_behavior *out)
{
    const char *b;
    qf_status s = get_string(c, obj, "behavior", path, true, &b, NULL);
    if (s != QF_STATUS_OK) return s;
    *out = def;
    if (!b) return QF_STATUS_OK;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (strcmp(b, names[i]) == 0) {
            *out = (qf_tok_behavior)i;
            return QF_STATUS_OK;
        }
    char f[PATH_MAX_LEN];
    sub(f, path, "behavior");
    return qf_tok_format_error(c, f, "unknown split behavior '%s'", b);
}

/* Metaspace: "replacement" (one character), "prepend_scheme" (always / first / never; absent:
 * always), the older "add_prefix_space" (false means never, and contradicts another scheme), "split"
 * (absent: true). */
static qf_status parse_metaspace(const qf_tok_ctx *c, json_object *obj, const char *path, qf_tok_pre *pt)
{
    pt->kind = QF_TOK_PRE_METASPACE;
    char f[PATH_MAX_LEN];
    const char *r, *scheme;
    size_t rn;
    qf_status s = get_string(c, obj, "replacement", path, false, &r, &rn);
    if (s != QF_STATUS_OK) return s;
    qf_cpbuf cps = {0};
    if (!qf_utf8_decode_lossy((const uint8_t *)r, rn, &cps)) return nomem(c);
    bool one = cps.n == 1;
    pt->replacement = one ? cps.v[0] : 0;
    qf_cpbuf_free(&cps);
    sub(f, path, "replacement");
    if (!one) return qf_tok_format_error(c, f, "the replacement must be exactly one character");
    if ((s = get_string(c, obj, "prepend_scheme", path, true, &scheme, NULL)) != QF_STATUS_OK) return s;
    pt->prepend_scheme = QF_TOK_PREPEND_ALWAYS;
    if (scheme) {
        sub(f, path, "prepend_scheme");
        if (strcmp(scheme, "first") == 0) pt->prepend_scheme = QF_TOK_PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0) pt->prepend_scheme = QF_TOK_PREPEND_NEVER;
        else if (strcmp(scheme, "always") != 0)
            return qf_tok_format_error(c, f, "unknown prepend_scheme '%.40s' (always, first or never)", scheme);
    }
    json_object *aps = member(obj, "add_prefix_space");
    if (aps && !json_object_is_type(aps, json_type_null)) {
        sub(f, path, "add_prefix_space");
        if (!json_object_is_type(aps, json_type_boolean)) return type_error(c, f, "boolean", aps);
        if (!json_object_get_boolean(aps)) {
            if (pt->prepend_scheme != QF_TOK_PREPEND_NEVER)
                return qf_tok_format_error(c, f, "add_prefix_space false contradicts the prepend_scheme");
        }
    }
    return get_bool(c, obj, "split", path, true, &pt->split);
}

static qf_status parse_pre(const qf_tok_ctx *c, json_object *obj, const char *path, int depth, qf_tok_pre *pt)
{
    qf_status s = get_object(c, obj, path);
    if (s != QF_STATUS_OK) return s;
    const char *type;
    if ((s = get_string(c, obj, "type", path, false, &type, NULL)) != QF_STATUS_OK) return s;
    char f[PATH_MAX_LEN];
    if (strcmp(type, "BertPreTokenizer") == 0) {
        pt->kind = QF_TOK_PRE_BERT;
    } else if (strcmp(type, "Whitespace") == 0) {
        pt->kind = QF_TOK_PRE_WHITESPACE;
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        pt->kind = QF_TOK_PRE_WHITESPACE_SPLIT;
    } else if (strcmp(type, "ByteLevel") == 0) {
        pt->kind = QF_TOK_PRE_BYTE_LEVEL;
        if ((s = get_bool(c, obj, "add_prefix_space", path, true, &pt->add_prefix_space)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "use_regex", path, true, &pt->use_regex)) != QF_STATUS_OK)
            return s;
    } else if (strcmp(type, "Punctuation") == 0) {
        pt->kind = QF_TOK_PRE_PUNCTUATION;
        return get_behavior(c, obj, path, QF_TOK_ISOLATED, &pt->behavior);
    } else if (strcmp(type, "Digits") == 0) {
        pt->kind = QF_TOK_PRE_DIGITS;
        return get_bool(c, obj, "individual_digits", path, false, &pt->individual_digits);
    } else if (strcmp(type, "Split") == 0) {
        pt->kind = QF_TOK_PRE_SPLIT;
        if ((s = get_pattern(c, obj, path, &pt->pattern)) != QF_STATUS_OK ||
            (s = get_behavior(c, obj, path, QF_TOK_REMOVED, &pt->behavior)) != QF_STATUS_OK)
            return s;
        return get_bool(c, obj, "invert", path, false, &pt->invert);
    } else if (strcmp(type, "Metaspace") == 0) {
        return parse_metaspace(c, obj, path, pt);
    } else if (strcmp(type, "Sequence") == 0) {
        pt->kind = QF_TOK_PRE_SEQUENCE;
        sub(f, path, "pretokenizers");
        if (depth >= QF_TOKENIZER_MAX_NESTING) return limit(c, f, "nesting of Sequences", QF_TOKENIZER_MAX_NESTING, depth + 1);
        json_object *arr;
        size_t n;
        if ((s = get_stages(c, obj, "pretokenizers", path, &arr, &n)) != QF_STATUS_OK) return s;
        if (n && !(pt->items = calloc(n, sizeof *pt->items))) return nomem(c);
        for (size_t i = 0; i < n; i++) {
            char g[PATH_MAX_LEN];
            idx(g, f, i);
            pt->n_items = i + 1;
            if ((s = parse_pre(c, json_object_array_get_idx(arr, i), g, depth + 1, &pt->items[i])) != QF_STATUS_OK)
                return s;
        }
    } else {
        sub(f, path, "type");
        return unsupported(c, f, "pre-tokenizer", type);
    }
    return QF_STATUS_OK;
}

static qf_status parse_vocab_object(const qf_tok_ctx *c, json_object *vocab, const char *field, qf_tok_model *m)
{
    qf_status s = get_object(c, vocab, field);
    if (s != QF_STATUS_OK) return s;
    size_t n = (size_t)json_object_object_length(vocab);
    if (n > QF_TOKENIZER_MAX_VOCAB) return limit(c, field, "vocabulary size", QF_TOKENIZER_MAX_VOCAB, n);
    json_object_object_foreach(vocab, key, val)
    {
        char f[PATH_MAX_LEN];
        snprintf(f, sizeof f, "%s[\"%.80s\"]", field, key);
        int64_t id = 0;
        if ((s = as_int(c, val, f, INT64_MIN, INT64_MAX, &id)) != QF_STATUS_OK) return s; /* range: add_vocab */
        /* json-c keys are NUL-terminated: a key with an embedded NUL is cut there. */
        if ((s = qf_tok_add_vocab(c, m, key, strlen(key), id, f)) != QF_STATUS_OK) return s;
    }
    return QF_STATUS_OK;
}

static qf_status opt_affix(const qf_tok_ctx *c, json_object *obj, const char *key, const char *path, bool keep_empty,
                           const char *def, char **out)
{
    const char *v;
    size_t n;
    qf_status s = get_string(c, obj, key, path, true, &v, &n);
    if (s != QF_STATUS_OK) return s;
    if (!v && !member(obj, key)) v = def, n = def ? strlen(def) : 0;
    if (!v || (n == 0 && !keep_empty)) return QF_STATUS_OK;
    if (memchr(v, '\0', n)) {
        char f[PATH_MAX_LEN];
        sub(f, path, key);
        return qf_tok_format_error(c, f, "string contains U+0000");
    }
    return (*out = dup_n(v, n)) ? QF_STATUS_OK : nomem(c);
}

/* A Unigram model: "vocab" [[piece, score], ...] (the id of a piece is its position), "unk_id" (a
 * position, or null / absent: then an unknown character is an error, as in Hugging Face),
 * "byte_fallback". Scores must be finite numbers. */
static qf_status parse_unigram(const qf_tok_ctx *c, json_object *obj, qf_tok_model *m)
{
    m->kind = QF_TOK_MODEL_UNIGRAM;
    m->fuse_unk = true; /* always, for Unigram */
    qf_status s = get_bool(c, obj, "byte_fallback", "model", false, &m->byte_fallback);
    if (s != QF_STATUS_OK) return s;
    json_object *vocab = member(obj, "vocab");
    if (!vocab || !json_object_is_type(vocab, json_type_array)) return type_error(c, "model.vocab", "array", vocab);
    size_t n = json_object_array_length(vocab);
    if (n > QF_TOKENIZER_MAX_VOCAB) return limit(c, "model.vocab", "vocabulary size", QF_TOKENIZER_MAX_VOCAB, n);
    if (n && !(m->scores = calloc(n, sizeof *m->scores))) return nomem(c);
    m->n_scores = n;
    m->min_score = INFINITY;
    for (size_t i = 0; i < n; i++) {
        char f[PATH_MAX_LEN];
        idx(f, "model.vocab", i);
        json_object *e = json_object_array_get_idx(vocab, i);
        if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 2)
            return type_error(c, f, "[piece, score] array", e);
        json_object *piece = json_object_array_get_idx(e, 0), *score = json_object_array_get_idx(e, 1);
        char g[PATH_MAX_LEN];
        idx(g, f, 0);
        if (!json_object_is_type(piece, json_type_string)) return type_error(c, g, "string", piece);
        idx(g, f, 1);
        if (!json_object_is_type(score, json_type_double) && !json_object_is_type(score, json_type_int))
            return type_error(c, g, "number", score);
        double v = json_object_get_double(score);
        if (!isfinite(v)) return qf_tok_format_error(c, g, "the score is not a finite number");
        m->scores[i] = v;
        if (v < m->min_score) m->min_score = v;
        if ((s = qf_tok_add_vocab(c, m, json_object_get_string(piece), (size_t)json_object_get_string_len(piece),
                                  (int64_t)i, f)) != QF_STATUS_OK)
            return s;
    }
    m->unk_id = -1;
    json_object *unk = member(obj, "unk_id");
    if (unk && !json_object_is_type(unk, json_type_null)) {
        if (n == 0) return qf_tok_format_error(c, "model.unk_id", "an unk_id with an empty vocabulary");
        int64_t u;
        if ((s = as_int(c, unk, "model.unk_id", 0, (int64_t)n - 1, &u)) != QF_STATUS_OK) return s;
        m->unk_id = (int32_t)u;
        json_object *piece = json_object_array_get_idx(json_object_array_get_idx(vocab, (size_t)u), 0);
        if (!(m->unk_token = dup_n(json_object_get_string(piece), (size_t)json_object_get_string_len(piece))))
            return nomem(c);
    }
    return qf_tok_unigram_index(m) ? QF_STATUS_OK : nomem(c);
}

static qf_status parse_model(const qf_tok_ctx *c, json_object *obj, qf_tok_model *m)
{
    const char *path = "model";
    qf_status s = get_object(c, obj, path);
    if (s != QF_STATUS_OK) return s;
    const char *type;
    if ((s = get_string(c, obj, "type", path, true, &type, NULL)) != QF_STATUS_OK) return s;
    /* Without "type", Hugging Face tries the models in turn: merges make a BPE, a vocab array a Unigram */
    if (!type)
        type = member(obj, "merges")                                               ? "BPE"
               : json_object_is_type(member(obj, "vocab"), json_type_array) ? "Unigram"
                                                                               : "WordPiece";
    if (strcmp(type, "WordPiece") == 0) {
        m->kind = QF_TOK_MODEL_WORDPIECE;
        if ((s = parse_vocab_object(c, member(obj, "vocab"), "model.vocab", m)) != QF_STATUS_OK ||
            (s = opt_affix(c, obj, "unk_token", path, true, "[UNK]", &m->unk_token)) != QF_STATUS_OK ||
            (s = opt_affix(c, obj, "continuing_subword_prefix", path, true, "##", &m->prefix)) != QF_STATUS_OK)
            return s;
        if (!m->unk_token && !(m->unk_token = dup_n("[UNK]", 5))) return nomem(c);
        json_object *mx = member(obj, "max_input_chars_per_word");
        if (mx) {
            int64_t v;
            if ((s = as_int(c, mx, "model.max_input_chars_per_word", 0, INT32_MAX, &v)) != QF_STATUS_OK) return s;
            m->max_input_chars_per_word = (size_t)v;
        }
        return QF_STATUS_OK;
    }
    if (strcmp(type, "Unigram") == 0) return parse_unigram(c, obj, m);
    if (strcmp(type, "BPE") != 0) return unsupported(c, "model.type", "model", type);
    m->kind = QF_TOK_MODEL_BPE;
    json_object *dropout = member(obj, "dropout");
    if (dropout && !json_object_is_type(dropout, json_type_null)) {
        if (!json_object_is_type(dropout, json_type_double) && !json_object_is_type(dropout, json_type_int))
            return type_error(c, "model.dropout", "number or null", dropout);
        if (json_object_get_double(dropout) != 0.0)
            return qf_error_set(c->err, QF_STATUS_UNSUPPORTED, c->file, NULL, -1, "model.dropout",
                                "BPE dropout is random; only null or 0 is supported");
    }
    if ((s = parse_vocab_object(c, member(obj, "vocab"), "model.vocab", m)) != QF_STATUS_OK ||
        (s = opt_affix(c, obj, "unk_token", path, true, NULL, &m->unk_token)) != QF_STATUS_OK ||
        (s = opt_affix(c, obj, "continuing_subword_prefix", path, false, NULL, &m->prefix)) != QF_STATUS_OK ||
        (s = opt_affix(c, obj, "end_of_word_suffix", path, false, NULL, &m->suffix)) != QF_STATUS_OK ||
        (s = get_bool(c, obj, "fuse_unk", path, false, &m->fuse_unk)) != QF_STATUS_OK ||
        (s = get_bool(c, obj, "byte_fallback", path, false, &m->byte_fallback)) != QF_STATUS_OK ||
        (s = get_bool(c, obj, "ignore_merges", path, false, &m->ignore_merges)) != QF_STATUS_OK)
        return s;
    json_object *merges = member(obj, "merges");
    if (!merges || !json_object_is_type(merges, json_type_array)) return type_error(c, "model.merges", "array", merges);
    size_t n = json_object_array_length(merges);
    if (n > QF_TOKENIZER_MAX_MERGES) return limit(c, "model.merges", "number of merges", QF_TOKENIZER_MAX_MERGES, n);
    for (size_t i = 0; i < n; i++) {
        char f[PATH_MAX_LEN];
        idx(f, "model.merges", i);
        json_object *e = json_object_array_get_idx(merges, i);
        const char *a, *b;
        size_t alen, blen;
        if (json_object_is_type(e, json_type_string)) {
            a = json_object_get_string(e);
            size_t len = (size_t)json_object_get_string_len(e);
            const char *sp = memchr(a, ' ', len);
            if (!sp) return qf_tok_format_error(c, f, "a merge string must be two tokens separated by a space");
            alen = (size_t)(sp - a);
            b = sp + 1;
            blen = len - alen - 1;
        } else if (json_object_is_type(e, json_type_array) && json_object_array_length(e) == 2 &&
                   json_object_is_type(json_object_array_get_idx(e, 0), json_type_string) &&
                   json_object_is_type(json_object_array_get_idx(e, 1), json_type_string)) {
            json_object *ea = json_object_array_get_idx(e, 0), *eb = json_object_array_get_idx(e, 1);
            a = json_object_get_string(ea);
            alen = (size_t)json_object_get_string_len(ea);
            b = json_object_get_string(eb);
            blen = (size_t)json_object_get_string_len(eb);
        } else {
            return type_error(c, f, "\"left right\" string or [left, right] pair of strings", e);
        }
        if ((s = qf_tok_add_merge(c, m, a, alen, b, blen, (uint32_t)i, f)) != QF_STATUS_OK) return s;
    }
    return QF_STATUS_OK;
}

static qf_status push_post(const qf_tok_ctx *c, qf_tokenizer *t, qf_tok_post **out)
{
    qf_tok_post *v = realloc(t->post, (t->n_post + 1) * sizeof *v);
    if (!v) return nomem(c);
    t->post = v;
    *out = &t->post[t->n_post++];
    memset(*out, 0, sizeof **out);
    (*out)->seq_type = -1;
    return QF_STATUS_OK;
}

static qf_status alloc_affixes(const qf_tok_ctx *c, qf_tok_post *p, size_t np, size_t ns)
{
    p->prefix_ids = calloc(np ? np : 1, sizeof(int32_t));
    p->prefix_types = calloc(np ? np : 1, sizeof(int32_t));
    p->suffix_ids = calloc(ns ? ns : 1, sizeof(int32_t));
    p->suffix_types = calloc(ns ? ns : 1, sizeof(int32_t));
    return (p->prefix_ids && p->prefix_types && p->suffix_ids && p->suffix_types) ? QF_STATUS_OK : nomem(c);
}

/* ["[CLS]", 101] */
static qf_status token_pair(const qf_tok_ctx *c, json_object *obj, const char *key, const char *path, int32_t *id)
{
    char f[PATH_MAX_LEN];
    sub(f, path, key);
    json_object *v = member(obj, key);
    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2 ||
        !json_object_is_type(json_object_array_get_idx(v, 0), json_type_string))
        return type_error(c, f, "[token string, id] pair", v);
    int64_t x;
    char g[PATH_MAX_LEN];
    idx(g, f, 1);
    qf_status s = as_int(c, json_object_array_get_idx(v, 1), g, 0, (int64_t)QF_TOKENIZER_MAX_VOCAB - 1, &x);
    *id = (int32_t)x;
    return s;
}

/* A template ("single" or "pair") as pieces, for laying out pairs. The single template has been
 * checked by parse_template already; the pair template is checked here the same way ("A" or "B";
 * special tokens defined, at most QF_TOKENIZER_MAX_TEMPLATE ids in all). */
static qf_status parse_pieces(const qf_tok_ctx *c, json_object *tpl, const char *f, json_object *specials,
                              const char *sf, qf_tok_piece **out, size_t *nout)
{
    if (!tpl || !json_object_is_type(tpl, json_type_array)) return type_error(c, f, "array of template pieces", tpl);
    size_t n = json_object_array_length(tpl), total = 0;
    if (n > QF_TOKENIZER_MAX_TEMPLATE) return limit(c, f, "template pieces", QF_TOKENIZER_MAX_TEMPLATE, n);
    qf_tok_piece *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return nomem(c);
    *out = v;
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        char g[PATH_MAX_LEN], h[PATH_MAX_LEN], tf[PATH_MAX_LEN];
        idx(g, f, i);
        json_object *piece = json_object_array_get_idx(tpl, i);
        qf_status s = get_object(c, piece, g);
        if (s != QF_STATUS_OK) return s;
        json_object *sq = member(piece, "Sequence"), *sp = member(piece, "SpecialToken");
        json_object *body = sq ? sq : sp;
        sub(h, g, sq ? "Sequence" : "SpecialToken");
        if (!body) return qf_tok_format_error(c, g, "a template piece is a Sequence or a SpecialToken");
        if ((s = get_object(c, body, h)) != QF_STATUS_OK) return s;
        const char *id;
        if ((s = get_string(c, body, "id", h, false, &id, NULL)) != QF_STATUS_OK) return s;
        int64_t type_id = 0;
        json_object *tv = member(body, "type_id");
        sub(tf, h, "type_id");
        if (tv && (s = as_int(c, tv, tf, 0, INT32_MAX, &type_id)) != QF_STATUS_OK) return s;
        v[i].type_id = (int32_t)type_id;
        if (sq) {
            if (strcmp(id, "A") != 0 && strcmp(id, "B") != 0)
                return qf_tok_format_error(c, h, "a template sequence is A or B, not '%.60s'", id);
            v[i].seq = id[0] == 'B';
            continue;
        }
        v[i].seq = -1;
        json_object *st = specials ? member(specials, id) : NULL;
        char stf[PATH_MAX_LEN], idf[PATH_MAX_LEN];
        snprintf(stf, sizeof stf, "%s[\"%.60s\"]", sf, id);
        if (!st) return qf_tok_format_error(c, stf, "template uses special token '%.60s', which is not defined", id);
        if ((s = get_object(c, st, stf)) != QF_STATUS_OK) return s;
        json_object *ids = member(st, "ids");
        sub(idf, stf, "ids");
        if (!ids || !json_object_is_type(ids, json_type_array)) return type_error(c, idf, "array", ids);
        size_t m = json_object_array_length(ids);
        total += m;
        if (total > QF_TOKENIZER_MAX_TEMPLATE) return limit(c, f, "special ids in a template", QF_TOKENIZER_MAX_TEMPLATE, total);
        if (!(v[i].ids = calloc(m ? m : 1, sizeof(int32_t)))) return nomem(c);
        v[i].n_ids = m;
        for (size_t j = 0; j < m; j++) {
            int64_t x;
            char jf[PATH_MAX_LEN];
            idx(jf, idf, j);
            if ((s = as_int(c, json_object_array_get_idx(ids, j), jf, 0, (int64_t)QF_TOKENIZER_MAX_VOCAB - 1, &x)) !=
                QF_STATUS_OK)
                return s;
            v[i].ids[j] = (int32_t)x;
        }
    }
    return QF_STATUS_OK;
}

static qf_status parse_template(const qf_tok_ctx *c, json_object *obj, const char *path, qf_tokenizer *t)
{
    char f[PATH_MAX_LEN];
    sub(f, path, "single");
    json_object *single = member(obj, "single");
    if (!single || !json_object_is_type(single, json_type_array))
        return type_error(c, f, "array of template pieces", single);
    size_t n = json_object_array_length(single);
    if (n > QF_TOKENIZER_MAX_TEMPLATE) return limit(c, f, "template pieces", QF_TOKENIZER_MAX_TEMPLATE, n);
    char sf[PATH_MAX_LEN];
    sub(sf, path, "special_tokens");
    json_object *specials = member(obj, "special_tokens");
    if (specials && !json_object_is_type(specials, json_type_null)) {
        qf_status s = get_object(c, specials, sf);
        if (s != QF_STATUS_OK) return s;
    } else {
        specials = NULL;
    }
    /* Two passes: count the ids before and after the sequence, then fill them. */
    size_t counts[2] = {0, 0};
    int32_t seq_type = -1;
    qf_tok_post *p = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t side = 0, k[2] = {0, 0};
        bool seen_a = false;
        for (size_t i = 0; i < n; i++) {
            char g[PATH_MAX_LEN];
            idx(g, f, i);
            json_object *piece = json_object_array_get_idx(single, i);
            qf_status s = get_object(c, piece, g);
            if (s != QF_STATUS_OK) return s;
            json_object *sq = member(piece, "Sequence"), *sp = member(piece, "SpecialToken");
            json_object *body = sq ? sq : sp;
            char h[PATH_MAX_LEN];
            sub(h, g, sq ? "Sequence" : "SpecialToken");
            if (!body) return qf_tok_format_error(c, g, "a template piece is a Sequence or a SpecialToken");
            if ((s = get_object(c, body, h)) != QF_STATUS_OK) return s;
            const char *id;
            if ((s = get_string(c, body, "id", h, false, &id, NULL)) != QF_STATUS_OK) return s;
            int64_t type_id = 0;
            json_object *tv = member(body, "type_id");
            char tf[PATH_MAX_LEN];
            sub(tf, h, "type_id");
            if (tv && (s = as_int(c, tv, tf, 0, INT32_MAX, &type_id)) != QF_STATUS_OK) return s;
            if (sq) {
                if (strcmp(id, "A") != 0) return qf_tok_format_error(c, h, "the single template may only hold sequence A");
                if (seen_a) return qf_tok_format_error(c, h, "sequence A appears twice in the single template");
                seen_a = true;
                side = 1;
                seq_type = (int32_t)type_id;
                continue;
            }
            json_object *st = specials ? member(specials, id) : NULL;
            char stf[PATH_MAX_LEN];
            snprintf(stf, sizeof stf, "%s[\"%.60s\"]", sf, id);
            if (!st) return qf_tok_format_error(c, stf, "template uses special token '%.60s', which is not defined", id);
            if ((s = get_object(c, st, stf)) != QF_STATUS_OK) return s;
            json_object *ids = member(st, "ids");
            char idf[PATH_MAX_LEN];
            sub(idf, stf, "ids");
            if (!ids || !json_object_is_type(ids, json_type_array)) return type_error(c, idf, "array", ids);
            size_t m = json_object_array_length(ids);
            if (m > QF_TOKENIZER_MAX_TEMPLATE) return limit(c, idf, "ids of a special token", QF_TOKENIZER_MAX_TEMPLATE, m);
            for (size_t j = 0; j < m; j++) {
                int64_t x;
                char jf[PATH_MAX_LEN];
                idx(jf, idf, j);
                if ((s = as_int(c, json_object_array_get_idx(ids, j), jf, 0, (int64_t)QF_TOKENIZER_MAX_VOCAB - 1, &x)) !=
                    QF_STATUS_OK)
                    return s;
                if (pass == 0) {
                    counts[side]++;
                    if (counts[0] + counts[1] > QF_TOKENIZER_MAX_TEMPLATE)
                        return limit(c, f, "special ids in a template", QF_TOKENIZER_MAX_TEMPLATE, counts[0] + counts[1]);
                } else if (side == 0) {
                    p->prefix_ids[k[0]] = (int32_t)x;
                    p->prefix_types[k[0]++] = (int32_t)type_id;
                } else {
                    p->suffix_ids[k[1]] = (int32_t)x;
                    p->suffix_types[k[1]++] = (int32_t)type_id;
                }
            }
        }
        if (!seen_a) return qf_tok_format_error(c, f, "the single template has no sequence A");
        if (pass == 0) {
            qf_status s = push_post(c, t, &p);
            if (s != QF_STATUS_OK || (s = alloc_affixes(c, p, counts[0], counts[1])) != QF_STATUS_OK) return s;
            p->n_prefix = counts[0];
            p->n_suffix = counts[1];
            p->seq_type = seq_type;
        }
    }
    /* The same processor for pairs: both templates as pieces ("pair" may be absent: then pairs
     * cannot be encoded with this tokenizer). */
    p->kind = QF_TOK_POST_TEMPLATE;
    qf_status s = parse_pieces(c, single, f, specials, sf, &p->single, &p->n_single);
    json_object *pair = member(obj, "pair");
    if (s == QF_STATUS_OK && pair && !json_object_is_type(pair, json_type_null)) {
        char pf[PATH_MAX_LEN];
        sub(pf, path, "pair");
        p->has_pair = true;
        s = parse_pieces(c, pair, pf, specials, sf, &p->pair, &p->n_pair);
    }
    return s;
}

static qf_status parse_post(const qf_tok_ctx *c, json_object *obj, const char *path, int depth, qf_tokenizer *t)
{
    qf_status s = get_object(c, obj, path);
    if (s != QF_STATUS_OK) return s;
    const char *type;
    if ((s = get_string(c, obj, "type", path, false, &type, NULL)) != QF_STATUS_OK) return s;
    char f[PATH_MAX_LEN];
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        int32_t cls, sep;
        if ((s = token_pair(c, obj, "cls", path, &cls)) != QF_STATUS_OK ||
            (s = token_pair(c, obj, "sep", path, &sep)) != QF_STATUS_OK)
            return s;
        bool roberta = strcmp(type, "RobertaProcessing") == 0, trim = false, prefix_space = false;
        if (roberta && ((s = get_bool(c, obj, "trim_offsets", path, true, &trim)) != QF_STATUS_OK ||
                        (s = get_bool(c, obj, "add_prefix_space", path, true, &prefix_space)) != QF_STATUS_OK))
            return s;
        qf_tok_post *p = NULL;
        if ((s = push_post(c, t, &p)) != QF_STATUS_OK || (s = alloc_affixes(c, p, 1, 1)) != QF_STATUS_OK) return s;
        p->prefix_ids[0] = cls;
        p->suffix_ids[0] = sep;
        p->n_prefix = p->n_suffix = 1;
        p->kind = strcmp(type, "BertProcessing") == 0 ? QF_TOK_POST_BERT : QF_TOK_POST_ROBERTA;
        p->cls_id = cls;
        p->sep_id = sep;
        p->trim_offsets = trim;
        p->trim_add_prefix_space = prefix_space;
        return QF_STATUS_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) { /* offsets only: a step without special tokens */
        bool trim, prefix_space;
        if ((s = get_bool(c, obj, "trim_offsets", path, true, &trim)) != QF_STATUS_OK ||
            (s = get_bool(c, obj, "add_prefix_space", path, true, &prefix_space)) != QF_STATUS_OK)
            return s;
        if (!trim) return QF_STATUS_OK;
        qf_tok_post *p = NULL;
        if ((s = push_post(c, t, &p)) != QF_STATUS_OK || (s = alloc_affixes(c, p, 0, 0)) != QF_STATUS_OK) return s;
        p->kind = QF_TOK_POST_BYTE_LEVEL;
        p->trim_offsets = true;
        p->trim_add_prefix_space = prefix_space;
        return QF_STATUS_OK;
    }
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(c, obj, path, t);
    if (strcmp(type, "Sequence") == 0) {
        sub(f, path, "processors");
        if (depth >= QF_TOKENIZER_MAX_NESTING) return limit(c, f, "nesting of Sequences", QF_TOKENIZER_MAX_NESTING, depth + 1);
        json_object *arr;
        size_t n;
        if ((s = get_stages(c, obj, "processors", path, &arr, &n)) != QF_STATUS_OK) return s;
        for (size_t i = 0; i < n; i++) {
            char g[PATH_MAX_LEN];
            idx(g, f, i);
            if ((s = parse_post(c, json_object_array_get_idx(arr, i), g, depth + 1, t)) != QF_STATUS_OK) return s;
        }
        return QF_STATUS_OK;
    }
    sub(f, path, "type");
    return unsupported(c, f, "post-processor", type);
}

static qf_status parse_added(const qf_tok_ctx *c, json_object *arr, qf_tokenizer *t)
{
    if (!arr || json_object_is_type(arr, json_type_null)) return QF_STATUS_OK;
    if (!json_object_is_type(arr, json_type_array)) return type_error(c, "added_tokens", "array", arr);
    size_t n = json_object_array_length(arr);
    if (n > QF_TOKENIZER_MAX_ADDED) return limit(c, "added_tokens", "number of added tokens", QF_TOKENIZER_MAX_ADDED, n);
    for (size_t i = 0; i < n; i++) {
        char f[PATH_MAX_LEN], g[PATH_MAX_LEN];
        idx(f, "added_tokens", i);
        json_object *o = json_object_array_get_idx(arr, i);
        qf_status s = get_object(c, o, f);
        if (s != QF_STATUS_OK) return s;
        qf_tok_added a = {0};
        int64_t id = 0;
        sub(g, f, "id");
        const char *content;
        if ((s = as_int(c, member(o, "id"), g, 0, (int64_t)QF_TOKENIZER_MAX_VOCAB - 1, &id)) != QF_STATUS_OK ||
            (s = get_string(c, o, "content", f, false, &content, &a.content_len)) != QF_STATUS_OK ||
            (s = get_bool(c, o, "single_word", f, false, &a.single_word)) != QF_STATUS_OK ||
            (s = get_bool(c, o, "lstrip", f, false, &a.lstrip)) != QF_STATUS_OK ||
            (s = get_bool(c, o, "rstrip", f, false, &a.rstrip)) != QF_STATUS_OK ||
            (s = get_bool(c, o, "special", f, false, &a.special)) != QF_STATUS_OK ||
            (s = get_bool(c, o, "normalized", f, !a.special, &a.normalized)) != QF_STATUS_OK)
            return s;
        a.id = (int32_t)id;
        a.content = (char *)content;
        if ((s = qf_tok_add_added(c, t, &a, f)) != QF_STATUS_OK) return s;
    }
    return QF_STATUS_OK;
}

static qf_status parse_root(const qf_tok_ctx *c, const void *data, size_t size, json_object **out)
{
    *out = NULL;
    if (size > INT32_MAX) return limit(c, NULL, "file size", INT32_MAX, size);
    json_tokener *tok = json_tokener_new_ex(QF_TOKENIZER_MAX_JSON_DEPTH);
    if (!tok) return nomem(c);
    json_object *root = json_tokener_parse_ex(tok, data, (int)size);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || e != json_tokener_success) {
        json_object_put(root);
        qf_status code = e == json_tokener_continue ? QF_STATUS_TRUNCATED
                         : e == json_tokener_error_depth ? QF_STATUS_LIMIT
                                                         : QF_STATUS_FORMAT;
        return qf_error_set(c->err, code, c->file, NULL, (int64_t)end, NULL, "invalid JSON: %s",
                            e == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(e));
    }
    const char *d = data;
    while (end < size && (d[end] == ' ' || d[end] == '\n' || d[end] == '\r' || d[end] == '\t')) end++;
    if (end < size) {
        json_object_put(root);
        return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, (int64_t)end, NULL,
                            "invalid JSON: data after the top-level value");
    }
    *out = root;
    return QF_STATUS_OK;
}

qf_status qf_tok_parse_tokenizer_json(const qf_tok_ctx *c, const void *data, size_t size, qf_tokenizer *t)
{
    json_object *root;
    qf_status s = parse_root(c, data, size, &root);
    if (s != QF_STATUS_OK) return s;
    if (!json_object_is_type(root, json_type_object)) {
        s = type_error(c, "(top level)", "object", root);
        goto done;
    }
    json_object *v;
    if ((s = parse_model(c, member(root, "model"), &t->model)) != QF_STATUS_OK) goto done;
    if ((v = member(root, "normalizer")) && !json_object_is_type(v, json_type_null)) {
        if (!(t->normalizer = calloc(1, sizeof *t->normalizer))) {
            s = nomem(c);
            goto done;
        }
        if ((s = parse_norm(c, v, "normalizer", 0, t->normalizer)) != QF_STATUS_OK) goto done;
    }
    if ((v = member(root, "pre_tokenizer")) && !json_object_is_type(v, json_type_null)) {
        if (!(t->pre = calloc(1, sizeof *t->pre))) {
            s = nomem(c);
            goto done;
        }
        if ((s = parse_pre(c, v, "pre_tokenizer", 0, t->pre)) != QF_STATUS_OK) goto done;
    }
    if ((v = member(root, "post_processor")) && !json_object_is_type(v, json_type_null))
        if ((s = parse_post(c, v, "post_processor", 0, t)) != QF_STATUS_OK) goto done;
    if ((s = parse_added(c, member(root, "added_tokens"), t)) != QF_STATUS_OK) goto done;
    if ((v = member(root, "padding")) && !json_object_is_type(v, json_type_null)) {
        if ((s = get_object(c, v, "padding")) != QF_STATUS_OK) goto done;
        int64_t x;
        json_object *p = member(v, "pad_id");
        if (p) {
            if ((s = as_int(c, p, "padding.pad_id", 0, (int64_t)QF_TOKENIZER_MAX_VOCAB - 1, &x)) != QF_STATUS_OK) goto done;
            t->pad_id = (int32_t)x;
        }
        if ((p = member(v, "pad_type_id"))) {
            if ((s = as_int(c, p, "padding.pad_type_id", 0, INT32_MAX, &x)) != QF_STATUS_OK) goto done;
            t->pad_type_id = (int32_t)x;
        }
    }
done:
    json_object_put(root);
    return s;
}

qf_status qf_tok_parse_vocab_json(const qf_tok_ctx *c, const void *data, size_t size, qf_tok_model *m)
{
    json_object *root;
    qf_status s = parse_root(c, data, size, &root);
    if (s != QF_STATUS_OK) return s;
    s = parse_vocab_object(c, root, "(top level)", m);
    json_object_put(root);
    return s;
}

qf_status qf_tok_parse_sbert_config_json(const qf_tok_ctx *c, const void *data, size_t size, bool *lower)
{
    json_object *root;
    *lower = false;
    qf_status s = parse_root(c, data, size, &root);
    if (s != QF_STATUS_OK) return s;
    json_object *v = json_object_is_type(root, json_type_object) ? member(root, "do_lower_case") : NULL;
    *lower = v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    json_object_put(root);
    return QF_STATUS_OK;
}

/* "model_input_names": null, or an array of strings (at most QF_TOK_MAX_INPUT_NAMES). */
static qf_status parse_model_input_names(const qf_tok_ctx *c, json_object *v, qf_tok_config *cfg)
{
    if (!v || json_object_is_type(v, json_type_null)) return QF_STATUS_OK;
    if (!json_object_is_type(v, json_type_array)) return type_error(c, "model_input_names", "array or null", v);
    size_t n = json_object_array_length(v);
    if (n > QF_TOK_MAX_INPUT_NAMES)
        return qf_tok_format_error(c, "model_input_names", "more than %d names", QF_TOK_MAX_INPUT_NAMES);
    cfg->lists_token_types = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        char f[PATH_MAX_LEN];
        idx(f, "model_input_names", i);
        if (!json_object_is_type(e, json_type_string)) return type_error(c, f, "string", e);
        if (strcmp(json_object_get_string(e), "token_type_ids") == 0) cfg->lists_token_types = 1;
    }
    return QF_STATUS_OK;
}

/* A boolean option that may be absent or null: 1, 0, or -1. */
static qf_status tri_bool(const qf_tok_ctx *c, json_object *root, const char *key, int *out)
{
    json_object *v = member(root, key);
    *out = -1;
    if (!v || json_object_is_type(v, json_type_null)) return QF_STATUS_OK;
    if (!json_object_is_type(v, json_type_boolean)) return type_error(c, key, "boolean or null", v);
    *out = json_object_get_boolean(v) ? 1 : 0;
    return QF_STATUS_OK;
}

qf_status qf_tok_parse_model_type_json(const qf_tok_ctx *c, const void *data, size_t size, char out[64])
{
    json_object *root;
    out[0] = '\0';
    qf_status s = parse_root(c, data, size, &root);
    if (s != QF_STATUS_OK) return s;
    json_object *mt = json_object_is_type(root, json_type_object) ? member(root, "model_type") : NULL;
    if (mt && json_object_is_type(mt, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(mt);
        if (n >= 64) s = qf_tok_format_error(c, "model_type", "longer than 63 bytes");
        else memcpy(out, json_object_get_string(mt), n + 1);
    } else if (!json_object_is_type(root, json_type_object)) {
        s = type_error(c, "(top level)", "object", root);
    } else if (mt && !json_object_is_type(mt, json_type_null)) {
        s = type_error(c, "model_type", "string", mt);
    }
    json_object_put(root);
    return s;
}

qf_status qf_tok_parse_config_json(const qf_tok_ctx *c, const void *data, size_t size, qf_tok_config *cfg)
{
    json_object *root;
    qf_status s = parse_root(c, data, size, &root);
    if (s != QF_STATUS_OK) return s;
    if (json_object_is_type(root, json_type_object) &&
        ((s = tri_bool(c, root, "do_lower_case", &cfg->lower_case)) != QF_STATUS_OK ||
         (s = tri_bool(c, root, "keep_accents", &cfg->keep_accents)) != QF_STATUS_OK ||
         (s = tri_bool(c, root, "split_by_punct", &cfg->split_by_punct)) != QF_STATUS_OK)) {
        json_object_put(root);
        return s;
    }
    if (!json_object_is_type(root, json_type_object)) {
        s = type_error(c, "(top level)", "object", root);
    } else if ((s = get_bool(c, root, "do_lower_case", "", cfg->do_lower_case, &cfg->do_lower_case)) == QF_STATUS_OK &&
               (s = get_bool(c, root, "add_prefix_space", "", cfg->add_prefix_space, &cfg->add_prefix_space)) ==
                   QF_STATUS_OK &&
               (s = get_bool(c, root, "tokenize_chinese_chars", "", cfg->tokenize_chinese_chars,
                             &cfg->tokenize_chinese_chars)) == QF_STATUS_OK) {
        json_object *sa = member(root, "strip_accents");
        if (sa && json_object_is_type(sa, json_type_boolean)) cfg->strip_accents = json_object_get_boolean(sa);
        else if (sa && !json_object_is_type(sa, json_type_null)) s = type_error(c, "strip_accents", "boolean or null", sa);
    }
    if (s == QF_STATUS_OK) s = parse_model_input_names(c, member(root, "model_input_names"), cfg);
    json_object *cls = s == QF_STATUS_OK ? member(root, "tokenizer_class") : NULL;
    if (cls && json_object_is_type(cls, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(cls);
        if (n >= sizeof cfg->tokenizer_class)
            s = qf_tok_format_error(c, "tokenizer_class", "longer than %zu bytes", sizeof cfg->tokenizer_class - 1);
        else
            memcpy(cfg->tokenizer_class, json_object_get_string(cls), n + 1);
    } else if (cls && !json_object_is_type(cls, json_type_null)) {
        s = type_error(c, "tokenizer_class", "string or null", cls);
    }
    json_object_put(root);
    return s;
}
