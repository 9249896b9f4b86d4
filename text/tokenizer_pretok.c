/*
 * text/tokenizer_pretok.c: the pre-tokenizers of Hugging Face tokenizers. They cut the
 * normalized text of each piece into the words the model sees; ByteLevel also rewrites every word
 * as GPT-2's byte-to-character alphabet. Pieces are spans of one code point buffer; text that a
 * pre-tokenizer creates (ByteLevel) is appended to that buffer, and its alignments (text/unicode.h)
 * to the buffer beside it: every byte character of a code point takes that code point's alignment,
 * and the space of add_prefix_space the alignment of the character it precedes (Hugging Face's
 * NormalizedString::prepend).
 *
 * Splitting follows the Rust library's NormalizedString::split: the pattern turns a piece into
 * consecutive (range, is_match) entries; the behaviour (Removed, Isolated, MergedWithPrevious,
 * MergedWithNext, Contiguous) decides what becomes a word; empty words are dropped. For a
 * character predicate every matching character is its own entry.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

bool qf_tok_spans_push(qf_tok_spans *s, size_t off, size_t len)
{
    if (len == 0) return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        if (cap > SIZE_MAX / sizeof(qf_tok_span)) return false;
        qf_tok_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (qf_tok_span){off, len};
    return true;
}

void qf_tok_spans_free(qf_tok_spans *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

typedef struct entry {
    size_t start, end;
    bool match;
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
} entries;

static bool entries_push(entries *e, size_t start, size_t end, bool match)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        if (cap > SIZE_MAX / sizeof(entry)) return false;
        entry *v = realloc(e->v, cap * sizeof *v);
        if (!v) return false;
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (entry){start, end, match};
    return true;
}

/* Applies a behaviour to entries covering one piece (offsets into the text buffer). */
static bool emit(entries *e, bool invert, qf_tok_behavior behavior, qf_tok_spans *out)
{
    if (invert)
        for (size_t i = 0; i < e->n; i++) e->v[i].match = !e->v[i].match;
    size_t w = 0;
    bool prev = false;
    switch (behavior) {
    case QF_TOK_REMOVED:
        for (size_t i = 0; i < e->n; i++)
            if (!e->v[i].match && !qf_tok_spans_push(out, e->v[i].start, e->v[i].end - e->v[i].start))
                return false;
        return true;
    case QF_TOK_ISOLATED:
        w = e->n;
        break;
    case QF_TOK_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < e->n; i++) {
            if (e->v[i].match && !prev && w > 0) e->v[w - 1].end = e->v[i].end;
            else e->v[w++] = e->v[i];
            prev = e->v[i].match;
        }
        break;
    case QF_TOK_MERGED_WITH_NEXT:
        /* Walk backwards: a match joins the entry after it. */
        for (size_t k = e->n; k-- > 0;) {
            entry cur = e->v[k];
            if (cur.match && !prev && w > 0) e->v[e->n - w].start = cur.start;
            else e->v[e->n - ++w] = cur;
            prev = cur.match;
        }
        memmove(e->v, e->v + (e->n - w), w * sizeof(entry));
        break;
    case QF_TOK_CONTIGUOUS:
        for (size_t i = 0; i < e->n; i++) {
            if (i > 0 && e->v[i].match == prev && w > 0) e->v[w - 1].end = e->v[i].end;
            else e->v[w++] = e->v[i];
            prev = e->v[i].match;
        }
        break;
    }
    for (size_t i = 0; i < w; i++)
        if (!qf_tok_spans_push(out, e->v[i].start, e->v[i].end - e->v[i].start)) return false;
    return true;
}

typedef bool (*char_pred)(uint32_t c);

static bool is_ws(uint32_t c) { return qf_uni_is_whitespace(c); }
static bool is_punc(uint32_t c) { return qf_uni_is_bert_punctuation(c); }
static bool is_digit(uint32_t c) { return qf_uni_is_number(c); }

static bool split_pred(const qf_cpbuf *text, qf_tok_span sp, char_pred pred, bool invert,
                       qf_tok_behavior behavior, entries *e, qf_tok_spans *out)
{
    e->n = 0;
    size_t last = sp.off, end = sp.off + sp.len;
    for (size_t i = sp.off; i < end; i++) {
        if (!pred(text->v[i])) continue;
        if (last < i && !entries_push(e, last, i, false)) return false;
        if (!entries_push(e, i, i + 1, true)) return false;
        last = i + 1;
    }
    if (last < end && !entries_push(e, last, end, false)) return false;
    return emit(e, invert, behavior, out);
}

static bool split_string(const qf_cpbuf *text, qf_tok_span sp, const qf_cpbuf *pat, bool invert,
                         qf_tok_behavior behavior, entries *e, qf_tok_spans *out)
{
    e->n = 0;
    size_t m = pat->n, last = sp.off, end = sp.off + sp.len, i = sp.off;
    while (i < end) {
        if (m <= end - i && memcmp(text->v + i, pat->v, m * sizeof(uint32_t)) == 0) {
            if (last < i && !entries_push(e, last, i, false)) return false;
            if (!entries_push(e, i, i + m, true)) return false;
            i += m;
            last = i;
        } else {
            i++;
        }
    }
    if (last < end && !entries_push(e, last, end, false)) return false;
    return emit(e, invert, behavior, out);
}

enum gpt2_class { GPT2_LETTER, GPT2_NUMBER, GPT2_SPACE, GPT2_OTHER };

static enum gpt2_class gpt2_class_of(uint32_t c)
{
    if (qf_uni_is_letter(c)) return GPT2_LETTER;
    if (qf_uni_is_number(c)) return GPT2_NUMBER;
    if (qf_uni_is_whitespace(c)) return GPT2_SPACE;
    return GPT2_OTHER;
}

/*
 * Length of the match of GPT-2's pattern at w[0..n), n > 0:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * The alternatives are tried in order; since L, N, whitespace and the rest are disjoint, the
 * optional space only matters when a ' ' precedes a run of one class. A run of k whitespace
 * characters followed by a non-space leaves its last character to the next word (k-1), unless
 * k == 1, where `\s+` takes it alone.
 */
static size_t gpt2_match(const uint32_t *w, size_t n)
{
    if (w[0] == '\'' && n >= 2) {
        uint32_t d = w[1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return 2;
        if (n >= 3 && ((d == 'r' && w[2] == 'e') || (d == 'v' && w[2] == 'e') || (d == 'l' && w[2] == 'l')))
            return 3;
    }
    size_t i = 0;
    enum gpt2_class k = gpt2_class_of(w[0]);
    if (w[0] == ' ' && n >= 2 && gpt2_class_of(w[1]) != GPT2_SPACE) {
        i = 1;
        k = gpt2_class_of(w[1]);
    }
    if (k != GPT2_SPACE) {
        size_t j = i + 1;
        while (j < n && gpt2_class_of(w[j]) == k) j++;
        return j;
    }
    size_t j = 1;
    while (j < n && qf_uni_is_whitespace(w[j])) j++;
    if (j == n || j == 1) return j;
    return j - 1;
}

/* GPT-2's byte -> character alphabet: printable Latin-1 bytes stand for themselves; the others
 * (0-32, 127-160, 173), in order, become U+0100 onwards. */
static uint32_t byte_char(uint8_t b)
{
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return 256u + 33u + (b - 127u);
    if (b == 173) return 256u + 33u + 34u;
    return b;
}

/* Appends the byte-level form of text[off, off+len) to text; pushes it as one span. */
static bool byte_level_word(qf_cpbuf *text, qf_cpbuf *align, size_t off, size_t len, qf_tok_spans *out)
{
    size_t need;
    if (__builtin_mul_overflow(len, (size_t)4, &need) || !qf_cpbuf_reserve(text, need) ||
        !qf_cpbuf_reserve(align, need))
        return false;
    size_t start = text->n;
    for (size_t i = 0; i < len; i++) {
        char u[4];
        size_t k = qf_utf8_encode(text->v[off + i], u);
        uint32_t a = align->v[off + i];
        for (size_t j = 0; j < k; j++) {
            text->v[text->n++] = byte_char((uint8_t)u[j]);
            align->v[align->n++] = a;
        }
    }
    return qf_tok_spans_push(out, start, text->n - start);
}

static bool byte_level(const qf_tok_pre *pt, qf_cpbuf *text, qf_cpbuf *align, qf_tok_span sp, qf_tok_spans *out)
{
    size_t off = sp.off, len = sp.len;
    if (pt->add_prefix_space && len > 0 && text->v[off] != ' ') {
        size_t need;
        if (!qf_add_size(len, 1, &need) || !qf_cpbuf_reserve(text, need) || !qf_cpbuf_reserve(align, need))
            return false;
        size_t start = text->n;
        text->v[text->n++] = ' ';
        align->v[align->n++] = align->v[off];
        memcpy(text->v + text->n, text->v + off, len * sizeof(uint32_t));
        memcpy(align->v + align->n, align->v + off, len * sizeof(uint32_t));
        text->n += len;
        align->n += len;
        off = start;
        len += 1;
    }
    if (!pt->use_regex) return byte_level_word(text, align, off, len, out);
    size_t i = 0;
    while (i < len) {
        size_t m = gpt2_match(text->v + off + i, len - i);
        if (!byte_level_word(text, align, off + i, m, out)) return false;
        i += m;
    }
    return true;
}

static bool bert_split(const qf_cpbuf *text, qf_tok_span sp, qf_tok_spans *out)
{
    size_t run = sp.off, end = sp.off + sp.len;
    for (size_t i = sp.off; i < end; i++) {
        uint32_t c = text->v[i];
        if (qf_uni_is_whitespace(c)) {
            if (!qf_tok_spans_push(out, run, i - run)) return false;
            run = i + 1;
        } else if (qf_uni_is_bert_punctuation(c)) {
            if (!qf_tok_spans_push(out, run, i - run) || !qf_tok_spans_push(out, i, 1)) return false;
            run = i + 1;
        }
    }
    return qf_tok_spans_push(out, run, end - run);
}

/* `\w+|[^\w\s]+`, keeping the matches. */
static bool whitespace_split_words(const qf_cpbuf *text, qf_tok_span sp, qf_tok_spans *out)
{
    size_t i = sp.off, end = sp.off + sp.len;
    while (i < end) {
        uint32_t c = text->v[i];
        if (qf_uni_is_word(c)) {
            size_t j = i + 1;
            while (j < end && qf_uni_is_word(text->v[j])) j++;
            if (!qf_tok_spans_push(out, i, j - i)) return false;
            i = j;
        } else if (!qf_uni_is_whitespace(c)) {
            size_t j = i + 1;
            while (j < end && !qf_uni_is_word(text->v[j]) && !qf_uni_is_whitespace(text->v[j])) j++;
            if (!qf_tok_spans_push(out, i, j - i)) return false;
            i = j;
        } else {
            i++;
        }
    }
    return true;
}

/* Metaspace (SentencePiece's whitespace): every ' ' becomes the replacement character, which is
 * also put in front of the piece (prepend_scheme "always"; "first": only for the piece that begins
 * the text, at original offset 0; "never") unless the piece already begins with it; then, with
 * split, the piece is cut before every replacement character (MergedWithNext). The new text is
 * appended to the buffer: a replaced space keeps its alignment, a prepended replacement takes the
 * one of the character it precedes (NormalizedString::replace and ::prepend). */
static bool metaspace(const qf_tok_pre *pt, qf_cpbuf *text, qf_cpbuf *align, qf_tok_span sp, entries *e,
                      qf_tok_spans *out)
{
    if (sp.len == 0) return true;
    size_t need;
    if (!qf_add_size(sp.len, 1, &need) || !qf_cpbuf_reserve(text, need) || !qf_cpbuf_reserve(align, need))
        return false;
    const uint32_t r = pt->replacement;
    uint32_t first = text->v[sp.off] == ' ' ? r : text->v[sp.off];
    bool prepend = first != r && (pt->prepend_scheme == QF_TOK_PREPEND_ALWAYS ||
                                  (pt->prepend_scheme == QF_TOK_PREPEND_FIRST &&
                                   (align->v[sp.off] == 0 || align->v[sp.off] == QF_UNI_ALIGN_NONE)));
    size_t start = text->n;
    if (prepend) {
        text->v[text->n++] = r;
        align->v[align->n++] = align->v[sp.off];
    }
    for (size_t i = 0; i < sp.len; i++) {
        uint32_t c = text->v[sp.off + i];
        text->v[text->n++] = c == ' ' ? r : c;
        align->v[align->n++] = align->v[sp.off + i];
    }
    qf_tok_span made = {start, text->n - start};
    if (!pt->split) return qf_tok_spans_push(out, made.off, made.len);
    qf_cpbuf pat = {(uint32_t *)&r, 1, 1};
    return split_string(text, made, &pat, false, QF_TOK_MERGED_WITH_NEXT, e, out);
}

bool qf_tok_pre_apply(const qf_tok_pre *pt, qf_cpbuf *text, qf_cpbuf *align, const qf_tok_spans *in,
                      qf_tok_spans *out)
{
    out->n = 0;
    if (pt->kind == QF_TOK_PRE_SEQUENCE) {
        qf_tok_spans a = {0}, b = {0};
        bool ok = true;
        for (size_t i = 0; ok && i < in->n; i++) ok = qf_tok_spans_push(&a, in->v[i].off, in->v[i].len);
        for (size_t k = 0; ok && k < pt->n_items; k++) {
            ok = qf_tok_pre_apply(&pt->items[k], text, align, &a, &b);
            qf_tok_spans t = a;
            a = b;
            b = t;
        }
        for (size_t i = 0; ok && i < a.n; i++) ok = qf_tok_spans_push(out, a.v[i].off, a.v[i].len);
        qf_tok_spans_free(&a);
        qf_tok_spans_free(&b);
        return ok;
    }
    entries e = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        qf_tok_span sp = in->v[i];
        switch (pt->kind) {
        case QF_TOK_PRE_BERT:
            ok = bert_split(text, sp, out);
            break;
        case QF_TOK_PRE_WHITESPACE:
            ok = whitespace_split_words(text, sp, out);
            break;
        case QF_TOK_PRE_WHITESPACE_SPLIT:
            ok = split_pred(text, sp, is_ws, false, QF_TOK_REMOVED, &e, out);
            break;
        case QF_TOK_PRE_BYTE_LEVEL:
            ok = byte_level(pt, text, align, sp, out);
            break;
        case QF_TOK_PRE_PUNCTUATION:
            ok = split_pred(text, sp, is_punc, false, pt->behavior, &e, out);
            break;
        case QF_TOK_PRE_SPLIT:
            ok = split_string(text, sp, &pt->pattern, pt->invert, pt->behavior, &e, out);
            break;
        case QF_TOK_PRE_DIGITS:
            ok = split_pred(text, sp, is_digit, false,
                            pt->individual_digits ? QF_TOK_ISOLATED : QF_TOK_CONTIGUOUS, &e, out);
            break;
        case QF_TOK_PRE_METASPACE:
            ok = metaspace(pt, text, align, sp, &e, out);
            break;
        case QF_TOK_PRE_SEQUENCE:
            ok = false;
            break;
        }
    }
    free(e.v);
    return ok;
}

void qf_tok_pre_free(qf_tok_pre *pt)
{
    if (!pt) return;
    qf_cpbuf_free(&pt->pattern);
    for (size_t i = 0; i < pt->n_items; i++) qf_tok_pre_free(&pt->items[i]);
    free(pt->items);
    pt->items = NULL;
    pt->n_items = 0;
}
