/*
 * text/tokenizer_map.c: the hash maps of the tokenizers (open addressing, linear probing,
 * load factor <= 1/2): token bytes -> id for vocabularies, (left, right) id pair -> (rank, id)
 * for BPE merges.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static bool map_grow(qf_tok_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (cap > SIZE_MAX / sizeof(qf_tok_map_slot)) return false;
    qf_tok_map_slot *slots = malloc(cap * sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < cap; i++) slots[i].off = SIZE_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].off == SIZE_MAX) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].off != SIZE_MAX) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

bool qf_tok_map_put(qf_tok_map *m, const char *key, size_t len, int32_t id)
{
    if (len > UINT32_MAX) return false;
    if ((m->count + 1) * 2 > m->cap && !map_grow(m)) return false;
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].off != SIZE_MAX) {
        qf_tok_map_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) {
            s->id = id;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (len > m->pool_cap - m->pool_n) {
        size_t cap = m->pool_cap ? m->pool_cap : 4096;
        while (len > cap - m->pool_n) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        char *p = realloc(m->pool, cap);
        if (!p) return false;
        m->pool = p;
        m->pool_cap = cap;
    }
    if (len) memcpy(m->pool + m->pool_n, key, len);
    m->slots[j] = (qf_tok_map_slot){h, (uint32_t)len, m->pool_n, id};
    m->pool_n += len;
    m->count++;
    return true;
}

int32_t qf_tok_map_get(const qf_tok_map *m, const char *key, size_t len)
{
    if (m->cap == 0 || len > UINT32_MAX) return -1;
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].off != SIZE_MAX) {
        const qf_tok_map_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->pool + s->off, key, len) == 0) return s->id;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void qf_tok_map_free(qf_tok_map *m)
{
    free(m->slots);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

static size_t pair_slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static bool pairmap_grow(qf_tok_pairmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (cap > SIZE_MAX / sizeof(uint64_t)) return false;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *ranks = malloc(cap * sizeof *ranks);
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!keys || !ranks || !ids) {
        free(keys);
        free(ranks);
        free(ids);
        return false;
    }
    for (size_t i = 0; i < cap; i++) keys[i] = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == UINT64_MAX) continue;
        size_t j = pair_slot(m->keys[i], cap);
        while (keys[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        ranks[j] = m->ranks[i];
        ids[j] = m->ids[i];
    }
    free(m->keys);
    free(m->ranks);
    free(m->ids);
    m->keys = keys;
    m->ranks = ranks;
    m->ids = ids;
    m->cap = cap;
    return true;
}

bool qf_tok_pairmap_put(qf_tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    if ((m->count + 1) * 2 > m->cap && !pairmap_grow(m)) return false;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = pair_slot(key, m->cap);
    while (m->keys[j] != UINT64_MAX && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == UINT64_MAX) m->count++;
    m->keys[j] = key;
    m->ranks[j] = rank;
    m->ids[j] = id;
    return true;
}

bool qf_tok_pairmap_get(const qf_tok_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id)
{
    if (m->cap == 0) return false;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = pair_slot(key, m->cap);
    while (m->keys[j] != UINT64_MAX) {
        if (m->keys[j] == key) {
            *rank = m->ranks[j];
            *id = m->ids[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void qf_tok_pairmap_free(qf_tok_pairmap *m)
{
    free(m->keys);
    free(m->ranks);
    free(m->ids);
    memset(m, 0, sizeof *m);
}
