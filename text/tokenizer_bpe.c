/*
 * text/tokenizer_bpe.c: the BPE model (RoBERTa / GPT-2 byte-level, and classic BPE). A word
 * starts as one symbol per character (continuing_subword_prefix on all but the first,
 * end_of_word_suffix on the last; unknown characters become byte-fallback tokens or the unknown
 * token, fused when fuse_unk), then the adjacent pair of lowest merge rank is merged, the leftmost
 * one on ties, until no pair has a rank: a priority queue over (rank, position), as the Rust
 * library's Word::merge_all does. No cache: results do not depend on one. Each symbol covers
 * characters of the word: its own character (each byte-fallback token, that character too), the
 * run of characters a fused unknown token stands for, the union of merged symbols.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

typedef struct sym {
    int32_t id;
    int32_t prev, next;   /* -1 at the ends */
    uint32_t start, end;  /* characters of the word covered */
    bool alive;
} sym;

typedef struct cand {
    uint32_t rank;
    int32_t pos;
    int32_t id;
} cand;

static bool cand_less(cand a, cand b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    h[i] = c;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(h[i], h[p])) break;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0];
    h[0] = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && cand_less(h[l], h[m])) m = l;
        if (r < *n && cand_less(h[r], h[m])) m = r;
        if (m == i) break;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static qf_status unk_missing(const qf_tok_model *m, qf_error *err)
{
    return qf_error_set(err, QF_STATUS_FORMAT, NULL, "model", -1, "unk_token",
                        "the model needs its unknown token '%s' but the vocabulary has no such entry",
                        m->unk_token);
}

qf_status qf_tok_bpe(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                     qf_tok_ids *out, qf_error *err)
{
    if (n == 0) return QF_STATUS_OK;
    if (n > INT32_MAX / 4) return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL, "word too long");
    size_t plen = m->prefix ? strlen(m->prefix) : 0;
    size_t slen = m->suffix ? strlen(m->suffix) : 0;
    size_t extra;
    if (!qf_add_size(plen + slen, 4 + 16, &extra) || !qf_tok_scratch_utf8(s, w, n, extra))
        return QF_STATUS_NO_MEMORY;
    size_t total = s->offs[n];
    if (m->ignore_merges) {
        int32_t id = qf_tok_map_get(&m->vocab, s->bytes, total);
        if (id >= 0) return qf_tok_ids_push(out, id, 0, n) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
    }
    /* Work memory: a symbol per character, or per byte of each candidate with byte fallback; the
     * queue holds at most 3 entries per symbol (the first pairs, then 2 per merge). */
    size_t nsym_max = n, need;
    if (m->byte_fallback &&
        (__builtin_mul_overflow(n, plen + slen, &nsym_max) || !qf_add_size(nsym_max, total, &nsym_max)))
        return QF_STATUS_NO_MEMORY;
    if (__builtin_mul_overflow(nsym_max, sizeof(sym) + 3 * sizeof(cand), &need)) return QF_STATUS_NO_MEMORY;
    if (need > s->work_cap) {
        void *p = realloc(s->work, need);
        if (!p) return QF_STATUS_NO_MEMORY;
        s->work = p;
        s->work_cap = need;
    }
    cand *heap = s->work;
    sym *syms = (sym *)(heap + 3 * nsym_max);
    size_t ns = 0;
    char *key = s->bytes + total;
    int32_t unk_pending = 0; /* 1 when an unknown-token symbol waits to be added */
    uint32_t unk_start = 0;  /* its first character */

    for (size_t i = 0; i < n; i++) {
        size_t a = s->offs[i], blen = s->offs[i + 1] - a, k = 0;
        if (i > 0 && plen) {
            memcpy(key, m->prefix, plen);
            k = plen;
        }
        memcpy(key + k, s->bytes + a, blen);
        k += blen;
        if (i + 1 == n && slen) {
            memcpy(key + k, m->suffix, slen);
            k += slen;
        }
        int32_t id = qf_tok_map_get(&m->vocab, key, k);
        uint32_t ci = (uint32_t)i;
        if (id >= 0) {
            if (unk_pending) syms[ns++] = (sym){m->unk_id, -1, -1, unk_start, ci, true};
            unk_pending = 0;
            syms[ns++] = (sym){id, -1, -1, ci, ci + 1, true};
            continue;
        }
        if (m->byte_fallback) {
            int32_t bids[64];
            bool all = k <= 64;
            for (size_t j = 0; all && j < k; j++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", (unsigned)(uint8_t)key[j]);
                bids[j] = qf_tok_map_get(&m->vocab, code, 6);
                all = bids[j] >= 0;
            }
            if (all) {
                if (unk_pending) syms[ns++] = (sym){m->unk_id, -1, -1, unk_start, ci, true};
                unk_pending = 0;
                for (size_t j = 0; j < k; j++) syms[ns++] = (sym){bids[j], -1, -1, ci, ci + 1, true};
                continue;
            }
        }
        if (m->unk_token) {
            if (m->unk_id < 0) return unk_missing(m, err);
            if (unk_pending && !m->fuse_unk) syms[ns++] = (sym){m->unk_id, -1, -1, unk_start, ci, true};
            if (!unk_pending || !m->fuse_unk) unk_start = ci;
            unk_pending = 1;
        }
    }
    if (unk_pending) syms[ns++] = (sym){m->unk_id, -1, -1, unk_start, (uint32_t)n, true};

    size_t nh = 0;
    for (size_t i = 0; i < ns; i++) {
        syms[i].prev = (int32_t)i - 1;
        syms[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < ns; i++) {
        uint32_t rank;
        int32_t nid;
        if (qf_tok_pairmap_get(&m->merges, syms[i].id, syms[i + 1].id, &rank, &nid))
            heap_push(heap, &nh, (cand){rank, (int32_t)i, nid});
    }
    while (nh > 0) {
        cand top = heap_pop(heap, &nh);
        sym *cur = &syms[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        sym *right = &syms[cur->next];
        uint32_t rank;
        int32_t nid;
        /* Skip queue entries made stale by earlier merges. */
        if (!qf_tok_pairmap_get(&m->merges, cur->id, right->id, &rank, &nid) || nid != top.id) continue;
        cur->id = top.id;
        cur->end = right->end;
        right->alive = false;
        cur->next = right->next;
        if (right->next >= 0) syms[right->next].prev = top.pos;
        if (cur->prev >= 0 && qf_tok_pairmap_get(&m->merges, syms[cur->prev].id, cur->id, &rank, &nid))
            heap_push(heap, &nh, (cand){rank, cur->prev, nid});
        if (cur->next >= 0 && qf_tok_pairmap_get(&m->merges, cur->id, syms[cur->next].id, &rank, &nid))
            heap_push(heap, &nh, (cand){rank, top.pos, nid});
    }
    for (size_t i = 0; i < ns; i++)
        if (syms[i].alive && !qf_tok_ids_push(out, syms[i].id, syms[i].start, syms[i].end))
            return QF_STATUS_NO_MEMORY;
    return QF_STATUS_OK;
}

void qf_tok_model_free(qf_tok_model *m)
{
    qf_tok_map_free(&m->vocab);
    qf_tok_pairmap_free(&m->merges);
    free(m->unk_token);
    free(m->prefix);
    free(m->suffix);
    free(m->scores);
    free(m->sorted);
    memset(m, 0, sizeof *m);
}
