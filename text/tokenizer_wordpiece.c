/*
 * text/tokenizer_wordpiece.c: the WordPiece model (BERT). Greedy longest-match-first over the
 * characters of a word: the longest vocabulary entry starting at the current position (with the
 * continuing-subword prefix "##" after the first piece) is taken; if some position has none, or
 * the word has more than max_input_chars_per_word characters, the whole word is the unknown token.
 * Each piece covers its characters of the word; the unknown token the whole word.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

bool qf_tok_ids_push(qf_tok_ids *ids, int32_t id, size_t start, size_t end)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(int32_t)) return false;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (v) ids->v = v;
        uint32_t *a = realloc(ids->start, cap * sizeof *a);
        if (a) ids->start = a;
        uint32_t *b = realloc(ids->end, cap * sizeof *b);
        if (b) ids->end = b;
        int32_t *w = realloc(ids->word, cap * sizeof *w);
        if (w) ids->word = w;
        if (!v || !a || !b || !w) return false;
        ids->cap = cap;
    }
    ids->start[ids->n] = (uint32_t)start;
    ids->end[ids->n] = (uint32_t)end;
    ids->word[ids->n] = -1;
    ids->v[ids->n++] = id;
    return true;
}

bool qf_tok_scratch_utf8(qf_tok_scratch *s, const uint32_t *w, size_t n, size_t reserve_extra)
{
    size_t need, offs_need;
    if (__builtin_mul_overflow(n, (size_t)4, &need) || !qf_add_size(need, reserve_extra, &need) ||
        !qf_add_size(n, 1, &offs_need))
        return false;
    if (need > s->bytes_cap) {
        char *b = realloc(s->bytes, need);
        if (!b) return false;
        s->bytes = b;
        s->bytes_cap = need;
    }
    if (offs_need > s->offs_cap) {
        if (offs_need > SIZE_MAX / sizeof(size_t)) return false;
        size_t *o = realloc(s->offs, offs_need * sizeof *o);
        if (!o) return false;
        s->offs = o;
        s->offs_cap = offs_need;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        s->offs[i] = k;
        k += qf_utf8_encode(w[i], s->bytes + k);
    }
    s->offs[n] = k;
    return true;
}

static qf_status unk_missing(const qf_tok_model *m, qf_error *err)
{
    return qf_error_set(err, QF_STATUS_FORMAT, NULL, "model", -1, "unk_token",
                        "the model needs its unknown token '%s' but the vocabulary has no such entry",
                        m->unk_token ? m->unk_token : "");
}

qf_status qf_tok_wordpiece(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                           qf_tok_ids *out, qf_error *err)
{
    if (n == 0) return QF_STATUS_OK;
    if (n > m->max_input_chars_per_word) {
        if (m->unk_id < 0) return unk_missing(m, err);
        return qf_tok_ids_push(out, m->unk_id, 0, n) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
    }
    size_t plen = m->prefix ? strlen(m->prefix) : 0;
    size_t total;
    /* bytes: the word's UTF-8, then room for one candidate (prefix + longest piece). */
    if (!qf_add_size(plen, (size_t)4 * n, &total) || !qf_tok_scratch_utf8(s, w, n, total))
        return QF_STATUS_NO_MEMORY;
    char *key = s->bytes + s->offs[n];
    if (plen) memcpy(key, m->prefix, plen);
    size_t first = out->n;
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        while (start < end) {
            size_t blen = s->offs[end] - s->offs[start];
            if (start == 0) {
                id = qf_tok_map_get(&m->vocab, s->bytes, blen);
            } else {
                memcpy(key + plen, s->bytes + s->offs[start], blen);
                id = qf_tok_map_get(&m->vocab, key, plen + blen);
            }
            if (id >= 0) break;
            end--;
        }
        if (id < 0) {
            out->n = first;
            if (m->unk_id < 0) return unk_missing(m, err);
            return qf_tok_ids_push(out, m->unk_id, 0, n) ? QF_STATUS_OK : QF_STATUS_NO_MEMORY;
        }
        if (!qf_tok_ids_push(out, id, start, end)) return QF_STATUS_NO_MEMORY;
        start = end;
    }
    return QF_STATUS_OK;
}
