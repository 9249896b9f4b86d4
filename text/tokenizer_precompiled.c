/*
 * text/tokenizer_precompiled.c: SentencePiece's "Precompiled" normalizer, as Hugging Face
 * tokenizers runs it (the spm_precompiled crate): the model's precompiled_charsmap, a blob of
 *   u32 (little-endian) trie size in bytes | trie: size / 4 u32 units | normalized strings
 * where the trie is Darts-clone's double array over UTF-8 bytes and a key's value is the offset of
 * its replacement in the normalized strings (each ended by a NUL). The normalizer (nmt_nfkc's
 * NFKC folding, whitespace and control mapping) rewrites the text one grapheme cluster at a time:
 * a cluster of fewer than 6 bytes whose bytes start with a key is replaced whole by the value of
 * the shortest such key; otherwise each of its characters is replaced by the value of the shortest
 * key its bytes start with, or kept.
 *
 * Alignments (text/unicode.h) follow Hugging Face's NormalizedString::transform of the changes the
 * crate emits: a replacement's characters take the places of the characters they replace, in
 * order; extra ones are insertions, which take the alignment of the last character consumed; when a
 * replacement is shorter, the entry emitted last consumes the rest (none before the first entry:
 * then they stay for the next one).
 *
 * The blob comes from the model file: every trie index and every value is checked against the
 * blob before it is used; one out of bounds (where the reference would panic) fails the encoding
 * with QF_STATUS_FORMAT. A lookup reads at most 5 bytes (a cluster shorter than 6 bytes), so a
 * walk has at most 5 steps.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

struct qf_tok_charsmap {
    uint32_t *units;     /* the double array */
    size_t n_units;
    char *normalized;    /* the replacement strings, NUL-ended, valid UTF-8 */
    size_t n_normalized;
};

/* ---- loading ----------------------------------------------------------------------------- */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Standard base64 with padding (what serde's BASE64_STANDARD writes and accepts): false when the
 * text is not, with *bad the offset of the first character that breaks it. */
static bool b64_decode(const char *s, size_t n, uint8_t *out, size_t *out_n, size_t *bad)
{
    size_t o = 0;
    if (n % 4 != 0) {
        *bad = n;
        return false;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char ch = (unsigned char)s[i + k];
            if (ch == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64_value(ch)) < 0) {
                *bad = i + k;
                return false;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(x >> 16);
        if (pad < 2) out[o++] = (uint8_t)(x >> 8);
        if (pad < 1) out[o++] = (uint8_t)x;
        /* canonical padding: the bits the padding drops are zero */
        if ((pad == 1 && (x & 0xFFu)) || (pad == 2 && (x & 0xFFFFu))) {
            *bad = i + 3 - pad;
            return false;
        }
    }
    *out_n = o;
    return true;
}

qf_status qf_tok_charsmap_from_blob(const qf_tok_ctx *c, const char *field, const uint8_t *blob, size_t n,
                                    qf_tok_charsmap **out)
{
    *out = NULL;
    if (n > QF_TOKENIZER_MAX_CHARSMAP) {
        qf_status s = qf_error_set(c->err, QF_STATUS_LIMIT, c->file, NULL, -1, field,
                                   "the precompiled_charsmap exceeds the limit");
        qf_error_expected(c->err, "at most %u bytes", QF_TOKENIZER_MAX_CHARSMAP);
        qf_error_found(c->err, "%zu", n);
        return s;
    }
    if (n < 4) return qf_tok_format_error(c, field, "the precompiled_charsmap has %zu bytes, less than its 4-byte header", n);
    uint32_t trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    size_t units = trie_bytes / 4;
    if (units > (n - 4) / 4)
        return qf_tok_format_error(c, field, "the precompiled_charsmap's trie of %u bytes does not fit its %zu bytes",
                                   trie_bytes, n);
    if (units == 0) return qf_tok_format_error(c, field, "the precompiled_charsmap has an empty trie");
    size_t norm_off = 4 + units * 4, norm_n = n - norm_off;
    if (!qf_utf8_valid(blob + norm_off, norm_n))
        return qf_tok_format_error(c, field, "the precompiled_charsmap's normalized strings are not valid UTF-8");
    qf_tok_charsmap *m = calloc(1, sizeof *m);
    if (m) m->units = malloc(units * sizeof *m->units);
    if (m) m->normalized = malloc(norm_n + 1);
    if (!m || !m->units || !m->normalized) {
        qf_tok_charsmap_free(m);
        return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
    }
    for (size_t i = 0; i < units; i++) {
        const uint8_t *u = blob + 4 + 4 * i;
        m->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    m->n_units = units;
    memcpy(m->normalized, blob + norm_off, norm_n);
    m->normalized[norm_n] = '\0';
    m->n_normalized = norm_n;
    *out = m;
    return QF_STATUS_OK;
}

qf_status qf_tok_charsmap_from_base64(const qf_tok_ctx *c, const char *field, const char *text, size_t n,
                                      qf_tok_charsmap **out)
{
    *out = NULL;
    if (n / 4 * 3 > QF_TOKENIZER_MAX_CHARSMAP) return qf_tok_charsmap_from_blob(c, field, NULL, n / 4 * 3, out);
    uint8_t *blob = malloc(n / 4 * 3 + 3);
    if (!blob) return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
    size_t len = 0, bad = 0;
    qf_status s;
    if (!b64_decode(text, n, blob, &len, &bad))
        s = qf_tok_format_error(c, field, "the precompiled_charsmap is not base64 (at character %zu of %zu)", bad, n);
    else
        s = qf_tok_charsmap_from_blob(c, field, blob, len, out);
    free(blob);
    return s;
}

void qf_tok_charsmap_free(qf_tok_charsmap *m)
{
    if (!m) return;
    free(m->units);
    free(m->normalized);
    free(m);
}

/* ---- lookup ------------------------------------------------------------------------------- */

/* Darts-clone's unit fields (spm_precompiled's ArrayUnitTrait). */
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1u; }
static uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static uint32_t unit_label(uint32_t u) { return u & 0x800000FFu; }
static size_t unit_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

typedef enum lookup_result { LOOKUP_NONE, LOOKUP_FOUND, LOOKUP_MALFORMED } lookup_result;

/* The replacement of the shortest key that key[0, n) starts with (a NUL byte ends the key):
 * LOOKUP_FOUND with *rep (UTF-8, NUL-ended inside the blob) and *rep_n. */
static lookup_result lookup(const qf_tok_charsmap *m, const uint8_t *key, size_t n, const char **rep, size_t *rep_n)
{
    size_t pos = 0;
    uint32_t unit = m->units[0];
    pos ^= unit_offset(unit);
    for (size_t i = 0; i < n && key[i] != 0; i++) {
        pos ^= key[i];
        if (pos >= m->n_units) return LOOKUP_MALFORMED;
        unit = m->units[pos];
        if (unit_label(unit) != key[i]) return LOOKUP_NONE;
        pos ^= unit_offset(unit);
        if (!unit_has_leaf(unit)) continue;
        if (pos >= m->n_units) return LOOKUP_MALFORMED;
        size_t at = unit_value(m->units[pos]);
        if (at > m->n_normalized) return LOOKUP_MALFORMED;
        /* the reference slices a Rust string there: it must be a character boundary */
        if (at < m->n_normalized && ((uint8_t)m->normalized[at] & 0xC0u) == 0x80u) return LOOKUP_MALFORMED;
        *rep = m->normalized + at;
        *rep_n = strlen(*rep); /* the blob is NUL-ended past its end */
        return LOOKUP_FOUND;
    }
    return LOOKUP_NONE;
}

/* ---- normalize ---------------------------------------------------------------------------- */

typedef struct transform_state {
    const uint32_t *in_align;
    size_t n_in;
    size_t consumed;    /* input characters consumed so far */
    bool any;           /* an entry was emitted */
    qf_cpbuf *out, *out_align;
    size_t start, max_out; /* out held `start` code points before; at most max_out more */
} transform_state;

/* One entry of the transformation: `inserted` takes the alignment of the last character consumed
 * ((0, 0) before any), otherwise of the next one, which it consumes. */
static bool emit(transform_state *t, uint32_t cp, bool inserted)
{
    uint32_t a;
    if (inserted) {
        a = t->consumed ? t->in_align[t->consumed - 1] : QF_UNI_ALIGN_NONE;
    } else {
        a = t->consumed < t->n_in ? t->in_align[t->consumed] : QF_UNI_ALIGN_NONE;
        t->consumed++;
    }
    t->any = true;
    return qf_cpbuf_push(t->out, cp) && qf_cpbuf_push(t->out_align, a);
}

/* spm_precompiled's replace(): `old_count` characters become the replacement rep[0, rep_n).
 * QF_STATUS_LIMIT, before appending, when the output would pass max_out. */
static qf_status replace(transform_state *t, size_t old_count, const char *rep, size_t rep_n)
{
    size_t new_count = 0;
    for (size_t i = 0; i < rep_n;) {
        uint32_t cp;
        i += qf_utf8_next((const uint8_t *)rep, rep_n, i, &cp);
        new_count++;
    }
    if (new_count > t->max_out - (t->out->n - t->start)) return QF_STATUS_LIMIT;
    size_t k = 0;
    for (size_t i = 0; i < rep_n; k++) {
        uint32_t cp;
        i += qf_utf8_next((const uint8_t *)rep, rep_n, i, &cp);
        /* when the replacement is longer, its last (new - old) characters are insertions */
        bool inserted = new_count > old_count && k >= old_count;
        if (!emit(t, cp, inserted)) return QF_STATUS_NO_MEMORY;
    }
    /* when shorter, the last entry emitted consumes the characters left over */
    if (new_count < old_count && t->any) t->consumed += old_count - new_count;
    return QF_STATUS_OK;
}

qf_status qf_tok_charsmap_normalize(const qf_tok_charsmap *m, const uint32_t *in, const uint32_t *in_align, size_t n,
                                    size_t max_out, qf_cpbuf *out, qf_cpbuf *out_align)
{
    transform_state t = {in_align, n, 0, false, out, out_align, out->n, max_out};
    for (size_t g = 0; g < n;) {
        size_t end = qf_uni_grapheme_end(in, n, g);
        uint8_t key[8];
        size_t key_n = 0;
        bool small = true;
        for (size_t i = g; i < end && small; i++) {
            char u[4];
            size_t k = qf_utf8_encode(in[i], u);
            if (key_n + k >= 6) small = false;
            else memcpy(key + key_n, u, k), key_n += k;
        }
        const char *rep;
        size_t rep_n;
        lookup_result r = small ? lookup(m, key, key_n, &rep, &rep_n) : LOOKUP_NONE;
        if (r == LOOKUP_MALFORMED) return QF_STATUS_FORMAT;
        if (r == LOOKUP_FOUND) {
            qf_status s = replace(&t, end - g, rep, rep_n);
            if (s != QF_STATUS_OK) return s;
        } else {
            for (size_t i = g; i < end; i++) {
                char u[4];
                size_t k = qf_utf8_encode(in[i], u);
                r = lookup(m, (const uint8_t *)u, k, &rep, &rep_n);
                if (r == LOOKUP_MALFORMED) return QF_STATUS_FORMAT;
                qf_status s = QF_STATUS_OK;
                if (r == LOOKUP_FOUND) s = replace(&t, 1, rep, rep_n);
                else if (out->n - t.start >= max_out) s = QF_STATUS_LIMIT;
                else if (!emit(&t, in[i], false)) s = QF_STATUS_NO_MEMORY;
                if (s != QF_STATUS_OK) return s;
            }
        }
        g = end;
    }
    return QF_STATUS_OK;
}
