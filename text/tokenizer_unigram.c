/*
 * text/tokenizer_unigram.c: the Unigram model (SentencePiece's, as Hugging Face tokenizers runs it
 * from tokenizer.json: XLM-RoBERTa, CamemBERT, DeBERTa-v2/v3, ALBERT, T5). A word is cut into the
 * sequence of vocabulary pieces whose scores (log probabilities) sum highest: Viterbi over the
 * character positions, each position reached from every piece that ends there (Hugging Face's
 * Unigram::encode_optimized, itself SentencePiece's). A character that starts no one-character
 * piece may also be crossed as the unknown token, scored the lowest score less 10; consecutive
 * unknown tokens are fused into one, and a fused string that is not a piece becomes its bytes'
 * <0xXX> pieces when byte_fallback holds and the vocabulary has them all, else the unknown token.
 *
 * Ties: positions are visited in order, and at each position the pieces that start there in
 * order of length; a candidate replaces the best path to its end only when its sum is strictly
 * higher, which is the order and the test of the reference, so equal scores choose the same path.
 *
 * The pieces are found by a prefix search over the vocabulary sorted by bytes: the range of
 * entries that begin with the bytes read so far narrows by two binary searches per byte, so a
 * position costs O(piece length x log vocabulary); the walk stops at QF_TOKENIZER_MAX_TOKEN_BYTES,
 * the longest entry the loader accepts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

/* The penalty Hugging Face and SentencePiece give the unknown token below the lowest score. */
#define UNK_PENALTY 10.0

typedef struct sort_item {
    const char *key;
    qf_tok_piece_ref ref;
} sort_item;

static int cmp_keys(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_items(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    return cmp_keys(a->key, a->ref.len, b->key, b->ref.len);
}

bool qf_tok_unigram_index(qf_tok_model *m)
{
    free(m->sorted);
    m->sorted = NULL;
    m->n_sorted = 0;
    const qf_tok_map *v = &m->vocab;
    if (v->count == 0) return true;
    sort_item *items = calloc(v->count, sizeof *items);
    m->sorted = calloc(v->count, sizeof *m->sorted);
    if (!items || !m->sorted) {
        free(items);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < v->cap && n < v->count; i++) {
        const qf_tok_map_slot *sl = &v->slots[i];
        if (sl->off == SIZE_MAX) continue;
        items[n++] = (sort_item){v->pool + sl->off, {sl->off, sl->len, sl->id}};
    }
    qsort(items, n, sizeof *items, cmp_items);
    for (size_t i = 0; i < n; i++) m->sorted[i] = items[i].ref;
    m->n_sorted = n;
    free(items);
    return true;
}

/* The byte at depth d of an entry, -1 past its end (an entry equal to the prefix read so far
 * sorts before every longer one, so within a range of entries sharing d bytes this is ordered). */
static int byte_at(const qf_tok_model *m, size_t i, size_t d)
{
    const qf_tok_piece_ref *r = &m->sorted[i];
    return d < r->len ? (unsigned char)m->vocab.pool[r->off + d] : -1;
}

/* First index in [lo, hi) whose byte at depth d is above `c` (after_equal) or at least `c`. */
static size_t bound(const qf_tok_model *m, size_t lo, size_t hi, size_t d, int c, bool after_equal)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int b = byte_at(m, mid, d);
        if (after_equal ? b <= c : b < c) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct best_node {
    double score;
    size_t from;   /* start position of the piece ending here; SIZE_MAX: not reached yet */
    int32_t id;
} best_node;

typedef struct path_piece {
    size_t start, end;
    int32_t id;
} path_piece;

static qf_status unk_absent(qf_error *err)
{
    return qf_error_set(err, QF_STATUS_FORMAT, NULL, "model", -1, "unk_id",
                        "the text has a character that no vocabulary piece covers, and the Unigram model has no "
                        "unknown token (unk_id)");
}

/* Appends the ids of one piece of the best path, w[start, end): the piece's own id, or for an
 * unknown run its bytes' <0xXX> pieces (byte_fallback) or the unknown token. */
static qf_status emit_piece(const qf_tok_model *m, const qf_tok_scratch *s, path_piece p, qf_tok_ids *out,
                            qf_error *err)
{
    const char *bytes = s->bytes + s->offs[p.start];
    size_t len = s->offs[p.end] - s->offs[p.start];
    int32_t id = qf_tok_map_get(&m->vocab, bytes, len);
    if (id >= 0) return qf_tok_ids_push(out, id, p.start, p.end) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
    if (m->byte_fallback) {
        bool all = true;
        for (size_t j = 0; all && j < len; j++) {
            char code[8];
            snprintf(code, sizeof code, "<0x%02X>", (unsigned)(unsigned char)bytes[j]);
            all = qf_tok_map_get(&m->vocab, code, 6) >= 0;
        }
        if (all) {
            for (size_t j = 0; j < len; j++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", (unsigned)(unsigned char)bytes[j]);
                if (!qf_tok_ids_push(out, qf_tok_map_get(&m->vocab, code, 6), p.start, p.end))
                    return QF_STATUS_NO_MEMORY;
            }
            return QF_STATUS_OK;
        }
    }
    if (m->unk_id < 0) return unk_absent(err);
    return qf_tok_ids_push(out, m->unk_id, p.start, p.end) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
}

qf_status qf_tok_unigram(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                         qf_tok_ids *out, qf_error *err)
{
    if (n == 0) return QF_STATUS_OK;
    if (n > INT32_MAX / 4) return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL, "word too long");
    if (!qf_tok_scratch_utf8(s, w, n, 0)) return QF_STATUS_NO_MEMORY;
    size_t need, per = sizeof(best_node) + sizeof(path_piece);
    if (__builtin_mul_overflow(n + 1, per, &need)) return QF_STATUS_NO_MEMORY;
    if (need > s->work_cap) {
        void *p = realloc(s->work, need);
        if (!p) return QF_STATUS_NO_MEMORY;
        s->work = p;
        s->work_cap = need;
    }
    best_node *best = s->work;
    path_piece *path = (path_piece *)(best + n + 1);
    for (size_t i = 0; i <= n; i++) best[i] = (best_node){0.0, SIZE_MAX, -1};
    const double unk_score = m->min_score - UNK_PENALTY;
    const unsigned char *b = (const unsigned char *)s->bytes;
    const size_t total = s->offs[n];

    for (size_t i = 0; i < n; i++) {
        const double here = best[i].score;
        bool single = false;
        size_t lo = 0, hi = m->n_sorted, j = i; /* offs[j] <= the end of the bytes read */
        size_t start = s->offs[i];
        for (size_t d = 0; start + d < total && d < QF_TOKENIZER_MAX_TOKEN_BYTES; d++) {
            int c = b[start + d];
            lo = bound(m, lo, hi, d, c, false);
            hi = bound(m, lo, hi, d, c, true);
            if (lo == hi) break;
            size_t end_byte = start + d + 1;
            while (j < n && s->offs[j + 1] <= end_byte) j++;
            if (m->sorted[lo].len != d + 1 || s->offs[j] != end_byte) continue; /* not a whole piece */
            int32_t id = m->sorted[lo].id;
            double cand = m->scores[id] + here;
            if (best[j].from == SIZE_MAX || cand > best[j].score) best[j] = (best_node){cand, i, id};
            if (j == i + 1) single = true;
        }
        if (!single) {
            if (m->unk_id < 0) return unk_absent(err);
            double cand = unk_score + here;
            if (best[i + 1].from == SIZE_MAX || cand > best[i + 1].score) best[i + 1] = (best_node){cand, i, m->unk_id};
        }
    }

    /* Back from the end; then forward, fusing runs of the unknown token. */
    size_t np = 0;
    for (size_t e = n; e > 0; e = best[e].from) path[np++] = (path_piece){best[e].from, e, best[e].id};
    for (size_t k = np; k > 0;) {
        path_piece p = path[--k];
        if (m->unk_id >= 0 && p.id == m->unk_id)
            while (k > 0 && path[k - 1].id == m->unk_id) p.end = path[--k].end;
        qf_status st = emit_piece(m, s, p, out, err);
        if (st != QF_STATUS_OK) return st;
    }
    return QF_STATUS_OK;
}
