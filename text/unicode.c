/*
 * text/unicode.c: lookups into the generated Unicode tables, the four normalization forms
 * (decompose, canonical reordering, canonical composition; Hangul done algorithmically), full
 * lowercase, and UTF-8 decoding with replacement. Used by the tokenizers' normalizers and
 * pre-tokenizers.
 */
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u
#define HANGUL_LCOUNT 19u
#define HANGUL_VCOUNT 21u
#define HANGUL_TCOUNT 28u
#define HANGUL_NCOUNT (HANGUL_VCOUNT * HANGUL_TCOUNT)
#define HANGUL_SCOUNT (HANGUL_LCOUNT * HANGUL_NCOUNT)

uint32_t qf_uni_props(uint32_t cp)
{
    if (cp > 0x10FFFF) return 0;
    size_t lo = 0, hi = qf_uni_prop_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (qf_uni_prop_starts[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return qf_uni_prop_values[lo];
}

bool qf_uni_is_letter(uint32_t cp)
{
    enum qf_uni_category c = qf_uni_category_of(cp);
    return c >= QF_UNI_LU && c <= QF_UNI_LO;
}
bool qf_uni_is_number(uint32_t cp)
{
    enum qf_uni_category c = qf_uni_category_of(cp);
    return c >= QF_UNI_ND && c <= QF_UNI_NO;
}
bool qf_uni_is_mark(uint32_t cp)
{
    enum qf_uni_category c = qf_uni_category_of(cp);
    return c >= QF_UNI_MN && c <= QF_UNI_ME;
}
bool qf_uni_is_punctuation(uint32_t cp)
{
    enum qf_uni_category c = qf_uni_category_of(cp);
    return c >= QF_UNI_PC && c <= QF_UNI_PO;
}
bool qf_uni_is_bert_punctuation(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    return qf_uni_is_punctuation(cp);
}
bool qf_uni_is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool qf_cpbuf_reserve(qf_cpbuf *b, size_t extra)
{
    if (extra <= b->cap - b->n) return true;
    size_t need;
    if (__builtin_add_overflow(b->n, extra, &need)) return false;
    size_t cap = b->cap ? b->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return false;
        cap *= 2;
    }
    uint32_t *v = realloc(b->v, cap * sizeof(uint32_t));
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}
bool qf_cpbuf_push(qf_cpbuf *b, uint32_t c)
{
    if (b->n == b->cap && !qf_cpbuf_reserve(b, 1)) return false;
    b->v[b->n++] = c;
    return true;
}
bool qf_cpbuf_append(qf_cpbuf *b, const uint32_t *v, size_t n)
{
    if (!qf_cpbuf_reserve(b, n)) return false;
    if (n) memcpy(b->v + b->n, v, n * sizeof(uint32_t));
    b->n += n;
    return true;
}
void qf_cpbuf_free(qf_cpbuf *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

/* Index of cp in a table whose rows start with the code point, or -1. */
static long find_row(const uint32_t *table, size_t rows, size_t stride, uint32_t cp)
{
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t v = table[mid * stride];
        if (v == cp) return (long)mid;
        if (v < cp) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

bool qf_uni_append_lower(qf_cpbuf *out, uint32_t cp)
{
    if (cp < 128) return qf_cpbuf_push(out, (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
    long r = find_row(&qf_uni_lower[0][0], qf_uni_lower_count, 3, cp);
    if (r < 0) return qf_cpbuf_push(out, cp);
    return qf_cpbuf_append(out, qf_uni_pool + qf_uni_lower[r][1], qf_uni_lower[r][2]);
}

/* Appends the decomposition of cp; with `tags`, one change tag per appended code point: 0 for the
 * first, 1 for the others (unicode-normalization-alignments' Decompositions). */
static bool decompose_one(qf_cpbuf *out, uint32_t cp, bool compat, qf_cpbuf *tags)
{
    size_t before = out->n;
    bool ok;
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
        uint32_t s = cp - HANGUL_S;
        uint32_t t = s % HANGUL_TCOUNT;
        ok = qf_cpbuf_push(out, HANGUL_L + s / HANGUL_NCOUNT) &&
             qf_cpbuf_push(out, HANGUL_V + (s % HANGUL_NCOUNT) / HANGUL_TCOUNT) &&
             (t == 0 || qf_cpbuf_push(out, HANGUL_T + t));
    } else if (cp < 0xC0 && (!compat || cp < 0xA0)) {
        /* Latin-1 below U+00C0 decomposes only under compatibility (U+00A0, U+00A8, ...). */
        ok = qf_cpbuf_push(out, cp);
    } else {
        long r = find_row(&qf_uni_decomp[0][0], qf_uni_decomp_count, 5, cp);
        if (r < 0) {
            ok = qf_cpbuf_push(out, cp);
        } else {
            const uint32_t *row = qf_uni_decomp[r];
            ok = compat ? qf_cpbuf_append(out, qf_uni_pool + row[3], row[4])
                        : qf_cpbuf_append(out, qf_uni_pool + row[1], row[2]);
        }
    }
    if (!ok) return false;
    if (!tags) return true;
    if (!qf_cpbuf_reserve(tags, out->n - before)) return false;
    for (size_t i = before; i < out->n; i++) tags->v[tags->n++] = i == before ? 0u : 1u;
    return true;
}

/* Stable sort of each run of non-starters by combining class (insertion sort: runs are short);
 * tags (may be NULL) move with their code points. */
static void canonical_order(uint32_t *v, uint32_t *tags, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        unsigned c = qf_uni_ccc(v[i]);
        if (c == 0) continue;
        uint32_t x = v[i], tx = tags ? tags[i] : 0;
        size_t j = i;
        while (j > 0) {
            unsigned p = qf_uni_ccc(v[j - 1]);
            if (p == 0 || p <= c) break;
            v[j] = v[j - 1];
            if (tags) tags[j] = tags[j - 1];
            j--;
        }
        v[j] = x;
        if (tags) tags[j] = tx;
    }
}

static bool compose_pair(uint32_t a, uint32_t b, uint32_t *out)
{
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT) {
        *out = HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
        return true;
    }
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_TCOUNT) {
        *out = a + (b - HANGUL_T);
        return true;
    }
    size_t lo = 0, hi = qf_uni_comp_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const uint32_t *row = qf_uni_comp[mid];
        if (row[0] == a && row[1] == b) {
            *out = row[2];
            return true;
        }
        if (row[0] < a || (row[0] == a && row[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

/* Canonical composition in place over v[0..n) (the algorithm of UAX #15); returns the new
 * length. A character combines with the last starter unless a character left between them has a
 * combining class of 0 or >= its own. With tags (signed values stored as uint32_t), a composite
 * takes the starter's tag plus the absorbed code point's, minus 1 (Recompositions). */
static size_t compose(uint32_t *v, uint32_t *tags, size_t n)
{
    if (n < 2) return n;
    size_t starter = 0, w = 1;
    unsigned last_cc = qf_uni_ccc(v[0]) == 0 ? 0 : 256;
    for (size_t i = 1; i < n; i++) {
        uint32_t c = v[i];
        unsigned cc = qf_uni_ccc(c);
        uint32_t composite;
        if ((last_cc < cc || last_cc == 0) && compose_pair(v[starter], c, &composite)) {
            v[starter] = composite;
            if (tags) tags[starter] = (uint32_t)((int32_t)tags[starter] + (int32_t)tags[i] - 1);
            continue;
        }
        if (cc == 0) starter = w;
        last_cc = cc;
        if (tags) tags[w] = tags[i];
        v[w++] = c;
    }
    return w;
}

/* Over the caller's bound (more than max_out appended): returns without finishing, the caller
 * refuses the text. */
static bool normalize(qf_uni_form form, const uint32_t *in, size_t n, size_t max_out, qf_cpbuf *out, qf_cpbuf *tags)
{
    bool compat = form == QF_UNI_NFKD || form == QF_UNI_NFKC;
    size_t start = out->n;
    if (!qf_cpbuf_reserve(out, n < max_out ? n : max_out)) return false;
    for (size_t i = 0; i < n; i++) {
        if (out->n - start > max_out) return true;
        if (!decompose_one(out, in[i], compat, tags)) return false;
    }
    if (out->n == start) return true; /* nothing decomposed: out->v may still be NULL */
    canonical_order(out->v + start, tags ? tags->v : NULL, out->n - start);
    if (form == QF_UNI_NFC || form == QF_UNI_NFKC) {
        out->n = start + compose(out->v + start, tags ? tags->v : NULL, out->n - start);
        if (tags) tags->n = out->n - start;
    }
    return true;
}

bool qf_uni_normalize(qf_uni_form form, const uint32_t *in, size_t n, size_t max_out, qf_cpbuf *out)
{
    return normalize(form, in, n, max_out, out, NULL);
}

bool qf_uni_normalize_aligned(qf_uni_form form, const uint32_t *in, const uint32_t *in_align, size_t n,
                              size_t max_out, qf_cpbuf *out, qf_cpbuf *out_align)
{
    size_t start = out->n;
    qf_cpbuf tags = {0};
    bool ok = normalize(form, in, n, max_out, out, &tags);
    size_t made = out->n - start;
    if (ok) ok = qf_cpbuf_reserve(out_align, made);
    if (ok) {
        /* NormalizedString::transform: tag <= 0 takes the next input code point's alignment and
         * skips -tag more; tag > 0 copies the last one taken. */
        size_t taken = 0;
        for (size_t i = 0; i < made; i++) {
            int32_t tag = i < tags.n ? (int32_t)tags.v[i] : 0;
            uint32_t a;
            if (tag > 0) {
                a = taken > 0 ? in_align[taken - 1] : QF_UNI_ALIGN_NONE;
            } else {
                a = taken < n ? in_align[taken] : (n ? in_align[n - 1] : QF_UNI_ALIGN_NONE);
                taken += 1 + (size_t)(-(int64_t)tag);
            }
            out_align->v[out_align->n++] = a;
        }
    }
    qf_cpbuf_free(&tags);
    return ok;
}

size_t qf_utf8_next(const uint8_t *s, size_t len, size_t i, uint32_t *cp)
{
    uint8_t b = s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    size_t j = 1;
    for (; j <= need && i + j < len; j++) {
        uint8_t d = s[i + j];
        if (d < lo || d > hi) break;
        lo = 0x80;
        hi = 0xBF;
        c = (c << 6) | (d & 0x3F);
    }
    *cp = j == need + 1 ? c : 0xFFFD; /* else the maximal subpart read so far */
    return j;
}

bool qf_utf8_decode_lossy(const uint8_t *s, size_t len, qf_cpbuf *out)
{
    if (!qf_cpbuf_reserve(out, len)) return false;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            out->v[out->n++] = s[i++];
            continue;
        }
        i += qf_utf8_next(s, len, i, &out->v[out->n++]);
    }
    return true;
}

size_t qf_utf8_encode(uint32_t cp, char buf[4])
{
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool qf_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = qf_utf8_next(s, len, i, &cp);
        if (cp == 0xFFFD && !(k == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] == 0xBD)) return false;
        i += k;
    }
    return true;
}
