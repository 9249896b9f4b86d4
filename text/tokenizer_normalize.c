/*
 * text/tokenizer_normalize.c: the normalizers of Hugging Face tokenizers, on code point arrays.
 * First stage of the pipeline after added-token extraction (tokenizer.c); each one appends its
 * output to a buffer. Semantics follow the Rust library:
 *   BertNormalizer: clean_text (drop U+0000, U+FFFD and controls Cc/Cf/Co except \t \n \r; map
 *   White_Space to ' '), then spaces around CJK ideographs, then strip accents (NFD, drop Mn),
 *   then lowercase, in that order; StripAccents drops every mark (M*) without decomposing first;
 *   Lowercase is the full per-character lowercase (no final-sigma context).
 * Every step also carries the alignments (text/unicode.h) as the Rust NormalizedString does: a
 * kept, mapped or lowercased character keeps its own; removed characters leave nothing; the three
 * characters BERT makes of a CJK ideograph, the characters a lowercase expands to, the content
 * Prepend puts before the first character take that character's; Replace gives each character of
 * its content the alignment of the last character of the match; the normalization forms follow
 * unicode-normalization-alignments (qf_uni_normalize_aligned).
 * Hugging Face bounds none of them; here every step, and a Sequence as a whole, may make at most
 * QF_TOKENIZER_MAX_NORMALIZE_EXPANSION code points per code point of the piece the pipeline gave
 * the normalizer (QF_TOKENIZER_MAX_NORMALIZED in all): Replace and Prepend check the length before
 * allocating it, the per-character ones stop as soon as they pass it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

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

size_t qf_tok_norm_budget(size_t piece)
{
    const size_t cap = QF_TOKENIZER_MAX_NORMALIZED;
    return piece > cap / QF_TOKENIZER_MAX_NORMALIZE_EXPANSION ? cap : piece * QF_TOKENIZER_MAX_NORMALIZE_EXPANSION;
}

void qf_tok_norm_run_init(qf_tok_norm_run *run, size_t piece)
{
    memset(run, 0, sizeof *run);
    run->piece = piece;
    run->max = qf_tok_norm_budget(piece);
}

static const char *kind_name(qf_tok_norm_kind k)
{
    switch (k) {
    case QF_TOK_NORM_BERT: return "BertNormalizer";
    case QF_TOK_NORM_LOWERCASE: return "Lowercase";
    case QF_TOK_NORM_NFD: return "NFD";
    case QF_TOK_NORM_NFKD: return "NFKD";
    case QF_TOK_NORM_NFC: return "NFC";
    case QF_TOK_NORM_NFKC: return "NFKC";
    case QF_TOK_NORM_STRIP_ACCENTS: return "StripAccents";
    case QF_TOK_NORM_STRIP: return "Strip";
    case QF_TOK_NORM_REPLACE: return "Replace";
    case QF_TOK_NORM_PREPEND: return "Prepend";
    case QF_TOK_NORM_PRECOMPILED: return "Precompiled";
    case QF_TOK_NORM_SEQUENCE: return "Sequence";
    }
    return "?";
}

/* Where a step sits in tokenizer.json: the root "normalizer", each Sequence item one level down.
 * The path is written out only when a step is refused. */
typedef struct norm_frame {
    const struct norm_frame *parent;
    size_t index;
} norm_frame;

static size_t write_path(const norm_frame *f, char *buf, size_t size)
{
    if (!f->parent) return (size_t)snprintf(buf, size, "normalizer");
    size_t n = write_path(f->parent, buf, size);
    if (n >= size) return n;
    return n + (size_t)snprintf(buf + n, size - n, ".normalizers[%zu]", f->index);
}

static qf_status over(qf_tok_norm_run *run, const norm_frame *f, qf_tok_norm_kind k, size_t found, bool exact)
{
    write_path(f, run->where, sizeof run->where);
    run->type = kind_name(k);
    run->found = found;
    run->found_exact = exact;
    return QF_STATUS_LIMIT;
}

/* Appends to out_align copies of `a` until it is as long as out. */
static bool align_fill(qf_cpbuf *out_align, size_t upto, uint32_t a)
{
    if (upto <= out_align->n) return true;
    if (!qf_cpbuf_reserve(out_align, upto - out_align->n)) return false;
    while (out_align->n < upto) out_align->v[out_align->n++] = a;
    return true;
}

/* Full lowercase of in[0..n) appended to out, stopping past `max` appended code points. */
/* *whole: the loop finished, so *made is the step's whole output. */
static qf_status lower_bounded(const uint32_t *in, const uint32_t *in_align, size_t n, qf_cpbuf *out,
                               qf_cpbuf *out_align, size_t max, size_t *made, bool *whole)
{
    size_t start = out->n, i = 0;
    if (!qf_cpbuf_reserve(out, n < max ? n : max) || !qf_cpbuf_reserve(out_align, n < max ? n : max))
        return QF_STATUS_NO_MEMORY;
    for (; i < n && out->n - start <= max; i++) {
        uint32_t c = in[i];
        if (c < 128 && out->n < out->cap && out_align->n < out_align->cap) {
            out->v[out->n++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
            out_align->v[out_align->n++] = in_align[i];
            continue;
        }
        if (!qf_uni_append_lower(out, c) || !align_fill(out_align, out->n, in_align[i])) return QF_STATUS_NO_MEMORY;
    }
    *made = out->n - start;
    *whole = i == n;
    return *made > max ? QF_STATUS_LIMIT : QF_STATUS_OK;
}

static qf_status bert_apply(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                            qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run, const norm_frame *f)
{
    qf_cpbuf a = {0}, b = {0}, a_al = {0}, b_al = {0};
    qf_status s = QF_STATUS_NO_MEMORY;
    size_t made = 0;
    if (!qf_cpbuf_reserve(&a, n < run->max ? n : run->max) || !qf_cpbuf_reserve(&a_al, n < run->max ? n : run->max))
        goto done;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (a.n > run->max) { /* CJK spacing triples a character */
            s = over(run, f, nm->kind, a.n, false);
            goto done;
        }
        if (nm->clean_text) {
            if (c == 0 || c == 0xFFFD || bert_is_control(c)) continue;
            if (bert_is_whitespace(c)) c = ' ';
        }
        if (nm->handle_chinese_chars && qf_uni_is_chinese(c)) {
            if (!qf_cpbuf_push(&a, ' ') || !qf_cpbuf_push(&a, c) || !qf_cpbuf_push(&a, ' ') ||
                !align_fill(&a_al, a.n, in_align[i]))
                goto done;
        } else if (!qf_cpbuf_push(&a, c) || !qf_cpbuf_push(&a_al, in_align[i])) {
            goto done;
        }
    }
    if (a.n > run->max) {
        s = over(run, f, nm->kind, a.n, true);
        goto done;
    }
    if (nm->strip_accents) {
        if (!qf_uni_normalize_aligned(QF_UNI_NFD, a.v, a_al.v, a.n, run->max, &b, &b_al)) goto done;
        if (b.n > run->max) {
            s = over(run, f, nm->kind, b.n, false);
            goto done;
        }
        size_t w = 0;
        for (size_t i = 0; i < b.n; i++)
            if (qf_uni_category_of(b.v[i]) != QF_UNI_MN) {
                b_al.v[w] = b_al.v[i];
                b.v[w++] = b.v[i];
            }
        b.n = b_al.n = w;
        qf_cpbuf t = a;
        a = b;
        b = t;
        t = a_al;
        a_al = b_al;
        b_al = t;
    }
    if (nm->lowercase) {
        bool whole = false;
        s = lower_bounded(a.v, a_al.v, a.n, out, out_align, run->max, &made, &whole);
        if (s == QF_STATUS_LIMIT) s = over(run, f, nm->kind, made, whole);
        if (s != QF_STATUS_OK) goto done;
    } else if (!qf_cpbuf_append(out, a.v, a.n) || !qf_cpbuf_append(out_align, a_al.v, a_al.n)) {
        goto done;
    }
    s = QF_STATUS_OK;
done:
    qf_cpbuf_free(&a);
    qf_cpbuf_free(&b);
    qf_cpbuf_free(&a_al);
    qf_cpbuf_free(&b_al);
    return s;
}

/* Counts the matches first: the output's length is known, and checked, before it is allocated. */
static qf_status replace_apply(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                               qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run, const norm_frame *f)
{
    size_t m = nm->pattern.n, c = nm->content.n, matches = 0;
    if (m == 0) return over(run, f, nm->kind, SIZE_MAX, false); /* the loader refuses empty patterns */
    for (size_t i = 0; i < n;) {
        if (m <= n - i && memcmp(in + i, nm->pattern.v, m * sizeof(uint32_t)) == 0) {
            matches++;
            i += m;
        } else {
            i++;
        }
    }
    /* n - matches * m code points stay, each match becomes c */
    size_t grown = 0, need = SIZE_MAX;
    bool fits = !__builtin_mul_overflow(matches, c, &grown) && qf_add_size(n - matches * m, grown, &need);
    if (!fits || need > run->max) return over(run, f, nm->kind, need, fits);
    if (!qf_cpbuf_reserve(out, need) || !qf_cpbuf_reserve(out_align, need)) return QF_STATUS_NO_MEMORY;
    for (size_t i = 0; i < n;) {
        if (m <= n - i && memcmp(in + i, nm->pattern.v, m * sizeof(uint32_t)) == 0) {
            if (!qf_cpbuf_append(out, nm->content.v, c)) return QF_STATUS_NO_MEMORY;
            for (size_t k = 0; k < c; k++) out_align->v[out_align->n++] = in_align[i + m - 1];
            i += m;
        } else {
            out_align->v[out_align->n++] = in_align[i];
            out->v[out->n++] = in[i++];
        }
    }
    return QF_STATUS_OK;
}

/* Replace with a Regex of one character repeated, "c{m,}" / "c+": every run of at least min_run
 * of the character (leftmost, longest, as the regex matches) becomes the content, whose characters
 * take the alignment of the run's last one (NormalizedString::replace). */
static qf_status replace_runs_apply(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                                   qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run, const norm_frame *f)
{
    const uint32_t ch = nm->pattern.v[0];
    size_t c = nm->content.n, start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && in[j] == ch) j++;
        if (j - i >= nm->min_run) {
            if (!qf_cpbuf_append(out, nm->content.v, c) || !align_fill(out_align, out->n, in_align[j - 1]))
                return QF_STATUS_NO_MEMORY;
            i = j;
        } else if (j > i) {
            if (!qf_cpbuf_append(out, in + i, j - i) || !qf_cpbuf_append(out_align, in_align + i, j - i))
                return QF_STATUS_NO_MEMORY;
            i = j;
        } else {
            if (!qf_cpbuf_push(out, in[i]) || !qf_cpbuf_push(out_align, in_align[i])) return QF_STATUS_NO_MEMORY;
            i++;
        }
        if (out->n - start > run->max) return over(run, f, nm->kind, out->n - start, false);
    }
    return QF_STATUS_OK;
}

static qf_status apply_at(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                          qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run, const norm_frame *f)
{
    size_t start = out->n, made = 0;
    qf_status s;
    switch (nm->kind) {
    case QF_TOK_NORM_BERT:
        return bert_apply(nm, in, in_align, n, out, out_align, run, f);
    case QF_TOK_NORM_LOWERCASE: {
        bool whole = false;
        s = lower_bounded(in, in_align, n, out, out_align, run->max, &made, &whole);
        return s == QF_STATUS_LIMIT ? over(run, f, nm->kind, made, whole) : s;
    }
    case QF_TOK_NORM_NFD:
    case QF_TOK_NORM_NFKD:
    case QF_TOK_NORM_NFC:
    case QF_TOK_NORM_NFKC: {
        qf_uni_form form = nm->kind == QF_TOK_NORM_NFD    ? QF_UNI_NFD
                           : nm->kind == QF_TOK_NORM_NFKD ? QF_UNI_NFKD
                           : nm->kind == QF_TOK_NORM_NFC  ? QF_UNI_NFC
                                                          : QF_UNI_NFKC;
        if (!qf_uni_normalize_aligned(form, in, in_align, n, run->max, out, out_align)) return QF_STATUS_NO_MEMORY;
        if (out->n - start > run->max) return over(run, f, nm->kind, out->n - start, false);
        return QF_STATUS_OK;
    }
    case QF_TOK_NORM_STRIP_ACCENTS:
        if (!qf_cpbuf_reserve(out, n) || !qf_cpbuf_reserve(out_align, n)) return QF_STATUS_NO_MEMORY;
        for (size_t i = 0; i < n; i++)
            if (!qf_uni_is_mark(in[i])) {
                out->v[out->n++] = in[i];
                out_align->v[out_align->n++] = in_align[i];
            }
        return QF_STATUS_OK;
    case QF_TOK_NORM_STRIP: {
        size_t lo = 0, hi = n;
        if (nm->strip_left)
            while (lo < hi && qf_uni_is_whitespace(in[lo])) lo++;
        if (nm->strip_right)
            while (hi > lo && qf_uni_is_whitespace(in[hi - 1])) hi--;
        return qf_cpbuf_append(out, in + lo, hi - lo) && qf_cpbuf_append(out_align, in_align + lo, hi - lo)
                   ? QF_STATUS_OK
                   : QF_STATUS_NO_MEMORY;
    }
    case QF_TOK_NORM_REPLACE:
        return nm->min_run ? replace_runs_apply(nm, in, in_align, n, out, out_align, run, f)
                           : replace_apply(nm, in, in_align, n, out, out_align, run, f);
    case QF_TOK_NORM_PRECOMPILED:
        s = qf_tok_charsmap_normalize(nm->charsmap, in, in_align, n, run->max, out, out_align);
        if (s == QF_STATUS_LIMIT) return over(run, f, nm->kind, run->max, false);
        if (s == QF_STATUS_FORMAT) {
            write_path(f, run->where, sizeof run->where);
            run->type = kind_name(nm->kind);
        }
        return s;
    case QF_TOK_NORM_PREPEND: {
        if (n == 0) return QF_STATUS_OK;
        size_t need = SIZE_MAX;
        bool fits = qf_add_size(n, nm->content.n, &need);
        if (!fits || need > run->max) return over(run, f, nm->kind, need, fits);
        if (!qf_cpbuf_reserve(out, need) || !qf_cpbuf_append(out, nm->content.v, nm->content.n) ||
            !qf_cpbuf_append(out, in, n) || !align_fill(out_align, out_align->n + nm->content.n, in_align[0]) ||
            !qf_cpbuf_append(out_align, in_align, n))
            return QF_STATUS_NO_MEMORY;
        return QF_STATUS_OK;
    }
    case QF_TOK_NORM_SEQUENCE: {
        /* every step is held to the same bound, so the Sequence's result is too */
        qf_cpbuf cur = {0}, next = {0}, cur_al = {0}, next_al = {0};
        s = qf_cpbuf_append(&cur, in, n) && qf_cpbuf_append(&cur_al, in_align, n) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
        for (size_t i = 0; s == QF_STATUS_OK && i < nm->n_items; i++) {
            norm_frame child = {f, i};
            next.n = next_al.n = 0;
            s = apply_at(&nm->items[i], cur.v, cur_al.v, cur.n, &next, &next_al, run, &child);
            qf_cpbuf t = cur;
            cur = next;
            next = t;
            t = cur_al;
            cur_al = next_al;
            next_al = t;
        }
        if (s == QF_STATUS_OK && cur.n > run->max) s = over(run, f, nm->kind, cur.n, true);
        if (s == QF_STATUS_OK && (!qf_cpbuf_append(out, cur.v, cur.n) || !qf_cpbuf_append(out_align, cur_al.v, cur_al.n)))
            s = QF_STATUS_NO_MEMORY;
        qf_cpbuf_free(&cur);
        qf_cpbuf_free(&next);
        qf_cpbuf_free(&cur_al);
        qf_cpbuf_free(&next_al);
        return s;
    }
    }
    return QF_STATUS_NO_MEMORY;
}

qf_status qf_tok_norm_apply(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                            qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run)
{
    norm_frame root = {NULL, 0};
    return apply_at(nm, in, in_align, n, out, out_align, run, &root);
}
void qf_tok_norm_free(qf_tok_norm *nm)
{
    if (!nm) return;
    qf_cpbuf_free(&nm->pattern);
    qf_cpbuf_free(&nm->content);
    qf_tok_charsmap_free(nm->charsmap);
    nm->charsmap = NULL;
    for (size_t i = 0; i < nm->n_items; i++) qf_tok_norm_free(&nm->items[i]);
    free(nm->items);
    nm->items = NULL;
    nm->n_items = 0;
}
