/*
 * verify/tokenizer_normalize.c: the normalizers of Hugging Face tokenizers, on code point arrays.
 * First stage of the pipeline after added-token extraction (tokenizer.c); each one appends its
 * output to a buffer. Semantics follow the Rust library:
 *   BertNormalizer: clean_text (drop U+0000, U+FFFD and controls Cc/Cf/Co except \t \n \r; map
 *   White_Space to ' '), then spaces around CJK ideographs, then strip accents (NFD, drop Mn),
 *   then lowercase, in that order; StripAccents drops every mark (M*) without decomposing first;
 *   Lowercase is the full per-character lowercase (no final-sigma context).
 */
#include <stdlib.h>
#include <string.h>

#include "verify/tokenizer_internal.h"

static bool bert_is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return false;
    enum qf_uni_category k = qf_uni_category_of(c);
    return k == QF_UNI_CC || k == QF_UNI_CF || k == QF_UNI_CO;
}

static bool bert_is_whitespace(uint32_t c)
{
    return c == '\t' || c == '\n' || c == '\r' || qf_uni_is_whitespace(c);
}

static bool bert_apply(const qf_tok_norm *nm, const uint32_t *in, size_t n, qf_cpbuf *out)
{
    qf_cpbuf a = {0}, b = {0};
    bool ok = false;
    if (!qf_cpbuf_reserve(&a, n)) goto done;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (nm->clean_text) {
            if (c == 0 || c == 0xFFFD || bert_is_control(c)) continue;
            if (bert_is_whitespace(c)) c = ' ';
        }
        if (nm->handle_chinese_chars && qf_uni_is_chinese(c)) {
            if (!qf_cpbuf_push(&a, ' ') || !qf_cpbuf_push(&a, c) || !qf_cpbuf_push(&a, ' ')) goto done;
        } else if (!qf_cpbuf_push(&a, c)) {
            goto done;
        }
    }
    if (nm->strip_accents) {
        if (!qf_uni_normalize(QF_UNI_NFD, a.v, a.n, &b)) goto done;
        size_t w = 0;
        for (size_t i = 0; i < b.n; i++)
            if (qf_uni_category_of(b.v[i]) != QF_UNI_MN) b.v[w++] = b.v[i];
        b.n = w;
        qf_cpbuf t = a;
        a = b;
        b = t;
        b.n = 0;
    }
    if (nm->lowercase) {
        if (!qf_cpbuf_reserve(out, a.n)) goto done;
        for (size_t i = 0; i < a.n; i++)
            if (!qf_uni_append_lower(out, a.v[i])) goto done;
    } else if (!qf_cpbuf_append(out, a.v, a.n)) {
        goto done;
    }
    ok = true;
done:
    qf_cpbuf_free(&a);
    qf_cpbuf_free(&b);
    return ok;
}

static bool replace_apply(const qf_tok_norm *nm, const uint32_t *in, size_t n, qf_cpbuf *out)
{
    size_t m = nm->pattern.n;
    size_t i = 0;
    while (i < n) {
        if (m <= n - i && memcmp(in + i, nm->pattern.v, m * sizeof(uint32_t)) == 0) {
            if (!qf_cpbuf_append(out, nm->content.v, nm->content.n)) return false;
            i += m;
        } else {
            if (!qf_cpbuf_push(out, in[i])) return false;
            i++;
        }
    }
    return true;
}

bool qf_tok_norm_apply(const qf_tok_norm *nm, const uint32_t *in, size_t n, qf_cpbuf *out)
{
    switch (nm->kind) {
    case QF_TOK_NORM_BERT:
        return bert_apply(nm, in, n, out);
    case QF_TOK_NORM_LOWERCASE:
        if (!qf_cpbuf_reserve(out, n)) return false;
        for (size_t i = 0; i < n; i++)
            if (!qf_uni_append_lower(out, in[i])) return false;
        return true;
    case QF_TOK_NORM_NFD:
        return qf_uni_normalize(QF_UNI_NFD, in, n, out);
    case QF_TOK_NORM_NFKD:
        return qf_uni_normalize(QF_UNI_NFKD, in, n, out);
    case QF_TOK_NORM_NFC:
        return qf_uni_normalize(QF_UNI_NFC, in, n, out);
    case QF_TOK_NORM_NFKC:
        return qf_uni_normalize(QF_UNI_NFKC, in, n, out);
    case QF_TOK_NORM_STRIP_ACCENTS:
        if (!qf_cpbuf_reserve(out, n)) return false;
        for (size_t i = 0; i < n; i++)
            if (!qf_uni_is_mark(in[i])) out->v[out->n++] = in[i];
        return true;
    case QF_TOK_NORM_STRIP: {
        size_t lo = 0, hi = n;
        if (nm->strip_left)
            while (lo < hi && qf_uni_is_whitespace(in[lo])) lo++;
        if (nm->strip_right)
            while (hi > lo && qf_uni_is_whitespace(in[hi - 1])) hi--;
        return qf_cpbuf_append(out, in + lo, hi - lo);
    }
    case QF_TOK_NORM_REPLACE:
        return replace_apply(nm, in, n, out);
    case QF_TOK_NORM_PREPEND:
        if (n > 0 && !qf_cpbuf_append(out, nm->content.v, nm->content.n)) return false;
        return qf_cpbuf_append(out, in, n);
    case QF_TOK_NORM_SEQUENCE: {
        qf_cpbuf cur = {0}, next = {0};
        bool ok = qf_cpbuf_append(&cur, in, n);
        for (size_t i = 0; ok && i < nm->n_items; i++) {
            next.n = 0;
            ok = qf_tok_norm_apply(&nm->items[i], cur.v, cur.n, &next);
            qf_cpbuf t = cur;
            cur = next;
            next = t;
        }
        ok = ok && qf_cpbuf_append(out, cur.v, cur.n);
        qf_cpbuf_free(&cur);
        qf_cpbuf_free(&next);
        return ok;
    }
    }
    return false;
}

void qf_tok_norm_free(qf_tok_norm *nm)
{
    if (!nm) return;
    qf_cpbuf_free(&nm->pattern);
    qf_cpbuf_free(&nm->content);
    for (size_t i = 0; i < nm->n_items; i++) qf_tok_norm_free(&nm->items[i]);
    free(nm->items);
    nm->items = NULL;
    nm->n_items = 0;
}
