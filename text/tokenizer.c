/*
 * text/tokenizer.c: the tokenizer object and its encode pipeline, mirroring Hugging Face
 * tokenizers for one sequence:
 *
 *   bytes -> code points (invalid UTF-8 -> U+FFFD)
 *     -> split on added tokens matched on the raw text (normalized == false)
 *     -> each remaining piece: normalizer, then split on added tokens matched on normalized text
 *     -> each remaining piece: pre-tokenizer -> words -> model (WordPiece / BPE) -> ids
 *     -> truncation (room kept for the special tokens) -> post-processor -> padding;
 *
 * and for a pair: each text as above without special tokens, longest-first truncation of the two,
 * then the pair layout (worked out once per tokenizer from its post-processors) and padding.
 *
 * Offsets: every code point buffer of the pipeline has an alignment buffer beside it (the index
 * of the original code point each one comes from, text/unicode.h); a token's offsets are the
 * start of its first code point's original character and the end of its last one's, as Hugging
 * Face's convert_offsets gives them, counted in code points of the decoded text (its
 * OffsetType::Char). An added token covers what it matched, stripped spaces included. Post-
 * processor steps with trim_offsets then trim whitespace; special tokens and padding get (0, 0).
 *
 * Also the loaders that do not need JSON (vocab.txt, merges.txt) and the folder defaults that
 * transformers applies when only those files exist. tokenizer.json itself is read by the json-c
 * adapter (tokenizer_json.c), which calls the qf_tok_add_* building blocks here.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "text/tokenizer_internal.h"

qf_status qf_tok_format_error(const qf_tok_ctx *c, const char *field, const char *fmt, ...)
{
    char msg[QF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, field, "%s", msg);
}

static qf_status limit_error(const qf_tok_ctx *c, const char *field, const char *what, uint64_t limit,
                             uint64_t found)
{
    qf_status s = qf_error_set(c->err, QF_STATUS_LIMIT, c->file, NULL, -1, field, "%s exceeds the limit", what);
    qf_error_expected(c->err, "at most %llu", (unsigned long long)limit);
    qf_error_found(c->err, "%llu", (unsigned long long)found);
    return s;
}

static qf_status no_memory(const qf_tok_ctx *c)
{
    return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory");
}

/* A normalizer step went past QF_TOKENIZER_MAX_NORMALIZE_EXPANSION (run filled by qf_tok_norm_apply). */
static qf_status norm_limit_error(qf_error *err, const char *file, const char *field, const qf_tok_norm_run *run,
                                  const char *what)
{
    qf_status s = qf_error_set(err, QF_STATUS_LIMIT, file, NULL, -1, field ? field : run->where,
                               "%s (%s) expands %s of %zu code point%s past the normalization limit", run->where,
                               run->type, what, run->piece, run->piece == 1 ? "" : "s");
    qf_error_expected(err, "at most %zu code points (%d per code point, %u in all)", run->max,
                      QF_TOKENIZER_MAX_NORMALIZE_EXPANSION, QF_TOKENIZER_MAX_NORMALIZED);
    if (run->found_exact) qf_error_found(err, "%zu", run->found);
    else qf_error_found(err, "more than %zu", run->max);
    return s;
}

/* A Precompiled step's charsmap pointed outside itself while normalizing (where Hugging Face's
 * tokenizers would panic). */
static qf_status norm_format_error(qf_error *err, const char *file, const qf_tok_norm_run *run)
{
    return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, run->where,
                        "%s (%s): the precompiled_charsmap's trie points outside the charsmap; the normalizer "
                        "cannot be run on this text",
                        run->where, run->type);
}

qf_tokenizer *qf_tok_alloc(void)
{
    qf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->model.unk_id = -1;
    t->model.max_id = -1;
    t->model.max_input_chars_per_word = 100;
    t->pad_id = -1;
    return t;
}

void qf_tokenizer_destroy(qf_tokenizer *t)
{
    if (!t) return;
    free(t->trim_lead);
    free(t->trim_trail);
    if (t->normalizer) {
        qf_tok_norm_free(t->normalizer);
        free(t->normalizer);
    }
    if (t->pre) {
        qf_tok_pre_free(t->pre);
        free(t->pre);
    }
    qf_tok_model_free(&t->model);
    for (size_t i = 0; i < t->n_post; i++) {
        qf_tok_post *pp = &t->post[i];
        free(pp->prefix_ids);
        free(pp->prefix_types);
        free(pp->suffix_ids);
        free(pp->suffix_types);
        for (size_t k = 0; pp->single && k < pp->n_single; k++) free(pp->single[k].ids);
        for (size_t k = 0; pp->pair && k < pp->n_pair; k++) free(pp->pair[k].ids);
        free(pp->single);
        free(pp->pair);
    }
    free(t->post);
    free(t->pair_layout[0]);
    free(t->pair_layout[1]);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        qf_cpbuf_free(&t->added[i].match);
    }
    free(t->added);
    qf_tok_map_free(&t->added_index);
    free(t->match_raw);
    free(t->match_norm);
    free(t);
}

qf_status qf_tok_add_vocab(const qf_tok_ctx *c, qf_tok_model *m, const char *tok, size_t len, int64_t id,
                           const char *field)
{
    if (len > QF_TOKENIZER_MAX_TOKEN_BYTES)
        return limit_error(c, field, "token length in bytes", QF_TOKENIZER_MAX_TOKEN_BYTES, len);
    if (id < 0) return qf_tok_format_error(c, field, "token id %lld is negative", (long long)id);
    if (id >= QF_TOKENIZER_MAX_VOCAB) return limit_error(c, field, "token id", QF_TOKENIZER_MAX_VOCAB - 1, (uint64_t)id);
    if (m->vocab.count >= QF_TOKENIZER_MAX_VOCAB)
        return limit_error(c, field, "vocabulary size", QF_TOKENIZER_MAX_VOCAB, m->vocab.count + 1);
    if (!qf_tok_map_put(&m->vocab, tok, len, (int32_t)id)) return no_memory(c);
    if (id > m->max_id) m->max_id = (int32_t)id;
    return QF_STATUS_OK;
}

qf_status qf_tok_add_merge(const qf_tok_ctx *c, qf_tok_model *m, const char *a, size_t a_len, const char *b,
                           size_t b_len, uint32_t rank, const char *field)
{
    if (rank >= QF_TOKENIZER_MAX_MERGES)
        return limit_error(c, field, "number of merges", QF_TOKENIZER_MAX_MERGES, (uint64_t)rank + 1);
    int32_t ia = qf_tok_map_get(&m->vocab, a, a_len);
    int32_t ib = qf_tok_map_get(&m->vocab, b, b_len);
    if (ia < 0 || ib < 0) {
        const char *miss = ia < 0 ? a : b;
        int mlen = (int)(ia < 0 ? a_len : b_len);
        return qf_tok_format_error(c, field, "merge %u uses '%.*s', which is not in the vocabulary", rank,
                                   mlen > 64 ? 64 : mlen, miss);
    }
    /* Both are vocabulary entries, so neither is longer than QF_TOKENIZER_MAX_TOKEN_BYTES. */
    size_t plen = m->prefix ? strlen(m->prefix) : 0;
    if (b_len < plen)
        return qf_tok_format_error(c, field, "merge %u: right part shorter than the continuing-subword prefix",
                                   rank);
    char buf[2 * QF_TOKENIZER_MAX_TOKEN_BYTES];
    size_t nlen = a_len + (b_len - plen);
    memcpy(buf, a, a_len);
    memcpy(buf + a_len, b + plen, b_len - plen);
    int32_t inew = qf_tok_map_get(&m->vocab, buf, nlen);
    if (inew < 0)
        return qf_tok_format_error(c, field, "merge %u produces '%.*s', which is not in the vocabulary", rank,
                                   (int)(nlen > 64 ? 64 : nlen), buf);
    if (!qf_tok_pairmap_put(&m->merges, ia, ib, rank, inew)) return no_memory(c);
    return QF_STATUS_OK;
}

qf_status qf_tok_add_added(const qf_tok_ctx *c, qf_tokenizer *t, const qf_tok_added *spec, const char *field)
{
    if (spec->content_len > QF_TOKENIZER_MAX_TOKEN_BYTES)
        return limit_error(c, field, "token length in bytes", QF_TOKENIZER_MAX_TOKEN_BYTES, spec->content_len);
    if (spec->id < 0 || (uint32_t)spec->id >= QF_TOKENIZER_MAX_VOCAB)
        return qf_tok_format_error(c, field, "added token id %d is out of range", spec->id);
    if (spec->content_len == 0) return QF_STATUS_OK; /* Hugging Face ignores empty added tokens */
    /* A token the model already knows keeps the model's id (Hugging Face only warns when the file
     * says otherwise). */
    int32_t model_id = qf_tok_map_get(&t->model.vocab, spec->content, spec->content_len);
    qf_tok_added *slot = NULL;
    int32_t at = qf_tok_map_get(&t->added_index, spec->content, spec->content_len);
    if (at >= 0) slot = &t->added[at];
    if (!slot) {
        if (t->n_added >= QF_TOKENIZER_MAX_ADDED)
            return limit_error(c, field, "number of added tokens", QF_TOKENIZER_MAX_ADDED, t->n_added + 1);
        if (t->n_added == t->cap_added) {
            size_t cap = t->cap_added ? t->cap_added * 2 : 16;
            qf_tok_added *v = realloc(t->added, cap * sizeof *v);
            if (!v) return no_memory(c);
            t->added = v;
            t->cap_added = cap;
        }
        if (!qf_tok_map_put(&t->added_index, spec->content, spec->content_len, (int32_t)t->n_added))
            return no_memory(c);
        slot = &t->added[t->n_added++];
        memset(slot, 0, sizeof *slot);
    } else {
        free(slot->content);
        qf_cpbuf_free(&slot->match);
    }
    *slot = *spec;
    if (model_id >= 0) slot->id = model_id;
    slot->content = malloc(spec->content_len + 1);
    slot->match = (qf_cpbuf){0};
    if (!slot->content) {
        slot->content_len = 0;
        return no_memory(c);
    }
    memcpy(slot->content, spec->content, spec->content_len);
    slot->content[spec->content_len] = '\0';
    return QF_STATUS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Orders a match list by first code point (then by position in added_tokens). */
static bool sort_matches(const qf_tokenizer *t, size_t *list, size_t n)
{
    if (n < 2) return true;
    uint64_t *keys = malloc(n * sizeof *keys);
    if (!keys) return false;
    for (size_t i = 0; i < n; i++) keys[i] = ((uint64_t)t->added[list[i]].match.v[0] << 32) | list[i];
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < n; i++) list[i] = (size_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);
    return true;
}

static int32_t find_token_id(const qf_tokenizer *t, const char *s)
{
    size_t n = strlen(s);
    int32_t at = qf_tok_map_get(&t->added_index, s, n);
    if (at >= 0) return t->added[at].id;
    return qf_tok_map_get(&t->model.vocab, s, n);
}

/* ---- the pair layout ------------------------------------------------------------------------
 *
 * Hugging Face post-processes a pair as a list of encodings, [A, B] with type ids 0 and 1, that
 * each processor of the (flattened) Sequence maps to a new list, merged at the end
 * (processors/{bert,roberta,template,sequence}.rs):
 *   BertProcessing     [CLS] e0 [SEP] with types 0, then ei [SEP] with type 1 for each later one;
 *   RobertaProcessing  every type set to 0 (even without special tokens), then <s> e0 </s> and
 *                      </s> ei </s>;
 *   TemplateProcessing the "pair" template for 2 encodings, "single" for 1 (any other count makes
 *                      Rust panic): each $A / $B piece is a copy of encoding 0 / 1 retyped, each
 *                      special token a new encoding;
 *   ByteLevel          ids and types unchanged (it only trims offsets).
 * The list is run here once per tokenizer, with the sequences as placeholders, for encodes with
 * and without special tokens. */

typedef struct pair_list {
    qf_tok_slot *v;
    size_t *enc; /* which encoding of the list each slot belongs to (non-decreasing) */
    size_t n, cap, n_enc;
} pair_list;

/* 0: done; 1: out of memory; 2: past QF_TOK_MAX_PAIR_LAYOUT. */
static int pair_push(pair_list *l, int32_t seq, int32_t id, int32_t type_id, size_t enc)
{
    if (l->n >= QF_TOK_MAX_PAIR_LAYOUT) return 2;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        qf_tok_slot *v = realloc(l->v, cap * sizeof *v);
        if (!v) return 1;
        l->v = v;
        size_t *e = realloc(l->enc, cap * sizeof *e);
        if (!e) return 1;
        l->enc = e;
        l->cap = cap;
    }
    l->v[l->n] = (qf_tok_slot){seq, id, type_id};
    l->enc[l->n++] = enc;
    return 0;
}

/* Appends the slots of encoding `e` of `in` to `out` as encoding `to`; type_id >= 0 retypes them. */
static int pair_copy(const pair_list *in, size_t e, int32_t type_id, pair_list *out, size_t to)
{
    int r = 0;
    for (size_t i = 0; i < in->n && !r; i++)
        if (in->enc[i] == e) r = pair_push(out, in->v[i].seq, in->v[i].id, type_id >= 0 ? type_id : in->v[i].type_id, to);
    return r;
}

/* One processor on the list `in` into `out` (emptied). 3 with *why set: Hugging Face cannot do it. */
static int pair_step(const qf_tok_post *pp, bool add, pair_list *in, pair_list *out, const char **why)
{
    out->n = 0;
    out->n_enc = in->n_enc;
    int r = 0;
    if (pp->kind == QF_TOK_POST_BYTE_LEVEL) { /* offsets only: ids and types unchanged */
        for (size_t e = 0; e < in->n_enc && !r; e++) r = pair_copy(in, e, -1, out, e);
        return r;
    }
    if (pp->kind == QF_TOK_POST_ROBERTA)
        for (size_t i = 0; i < in->n; i++) in->v[i].type_id = 0;
    if (pp->kind != QF_TOK_POST_TEMPLATE) {
        bool roberta = pp->kind == QF_TOK_POST_ROBERTA;
        for (size_t e = 0; e < in->n_enc && !r; e++) {
            if (!add) {
                r = pair_copy(in, e, -1, out, e);
            } else if (e == 0) {
                if (!(r = pair_push(out, -1, pp->cls_id, 0, e)) && !(r = pair_copy(in, e, -1, out, e)))
                    r = pair_push(out, -1, pp->sep_id, 0, e);
            } else {
                if (roberta) r = pair_push(out, -1, pp->sep_id, 0, e);
                if (!r && !(r = pair_copy(in, e, -1, out, e))) r = pair_push(out, -1, pp->sep_id, roberta ? 0 : 1, e);
            }
        }
        return r;
    }
    if (in->n_enc != 1 && in->n_enc != 2) {
        *why = "a TemplateProcessing of the Sequence receives neither one nor two sequences from the processors "
               "before it (Hugging Face tokenizers cannot process such a pair)";
        return 3;
    }
    if (in->n_enc == 2 && !pp->has_pair) {
        *why = "its TemplateProcessing has no \"pair\" template";
        return 3;
    }
    const qf_tok_piece *tpl = in->n_enc == 2 ? pp->pair : pp->single;
    size_t n = in->n_enc == 2 ? pp->n_pair : pp->n_single;
    out->n_enc = 0;
    for (size_t k = 0; k < n && !r; k++) {
        if (tpl[k].seq >= 0) {
            if ((size_t)tpl[k].seq >= in->n_enc) {
                *why = "a TemplateProcessing template uses sequence B where there is only one sequence";
                return 3;
            }
            r = pair_copy(in, (size_t)tpl[k].seq, tpl[k].type_id, out, out->n_enc++);
        } else if (add) {
            for (size_t j = 0; j < tpl[k].n_ids && !r; j++) r = pair_push(out, -1, tpl[k].ids[j], tpl[k].type_id, out->n_enc);
            out->n_enc++;
        }
    }
    return r;
}

static qf_status pair_layouts(const qf_tok_ctx *c, qf_tokenizer *t)
{
    t->n_special_pair = 0;
    t->pair_unsupported[0] = '\0';
    for (size_t k = 0; k < t->n_post; k++) {
        const qf_tok_post *pp = &t->post[k];
        if (pp->kind == QF_TOK_POST_BERT) t->n_special_pair += 3;
        else if (pp->kind == QF_TOK_POST_ROBERTA) t->n_special_pair += 4;
        else if (pp->kind == QF_TOK_POST_TEMPLATE)
            for (size_t j = 0; pp->has_pair && j < pp->n_pair; j++) t->n_special_pair += pp->pair[j].n_ids;
    }
    for (int add = 0; add < 2; add++) {
        free(t->pair_layout[add]);
        t->pair_layout[add] = NULL;
        t->n_pair_layout[add] = 0;
        pair_list l[2] = {{0}, {0}};
        int cur = 0, r = pair_push(&l[0], 0, -1, 0, 0);
        if (!r) r = pair_push(&l[0], 1, -1, 1, 1);
        l[0].n_enc = 2;
        const char *why = NULL;
        for (size_t k = 0; k < t->n_post && !r; k++, cur ^= 1) r = pair_step(&t->post[k], add, &l[cur], &l[cur ^ 1], &why);
        free(l[cur].enc);
        free(l[cur ^ 1].enc);
        free(l[cur ^ 1].v);
        if (r == 1) {
            free(l[cur].v);
            return no_memory(c);
        }
        if (r) {
            free(l[cur].v);
            if (r == 2)
                snprintf(t->pair_unsupported, sizeof t->pair_unsupported,
                         "its post-processor lays a pair out in more than %d pieces", QF_TOK_MAX_PAIR_LAYOUT);
            else
                snprintf(t->pair_unsupported, sizeof t->pair_unsupported, "%s", why);
            return QF_STATUS_OK;
        }
        t->pair_layout[add] = l[cur].v;
        t->n_pair_layout[add] = l[cur].n;
    }
    return QF_STATUS_OK;
}

/* 'Ġ' (the byte-level space) or White_Space: what trim_offsets removes from a token's ends. */
static bool trim_is_space(uint32_t c)
{
    return c == 0x120 || qf_uni_is_whitespace(c);
}

/* Leading and trailing trim_is_space characters of w[0..n), capped at UINT16_MAX, packed
 * lead << 16 | trail. */
static uint32_t trim_counts(const uint32_t *w, size_t n)
{
    size_t lead = 0, trail = 0;
    while (lead < n && trim_is_space(w[lead])) lead++;
    while (trail < n && trim_is_space(w[n - 1 - trail])) trail++;
    if (lead > UINT16_MAX) lead = UINT16_MAX;
    if (trail > UINT16_MAX) trail = UINT16_MAX;
    return (uint32_t)lead << 16 | (uint32_t)trail;
}

/* The whitespace ends of every vocabulary entry, when a post-processor step trims offsets (a
 * model token's string is its vocabulary entry). */
static qf_status build_trim_tables(const qf_tok_ctx *c, qf_tokenizer *t)
{
    free(t->trim_lead);
    free(t->trim_trail);
    t->trim_lead = t->trim_trail = NULL;
    t->trim_ws_count = 0;
    bool trims = false;
    for (size_t i = 0; i < t->n_post; i++) trims |= t->post[i].trim_offsets;
    if (!trims) return QF_STATUS_OK;
    size_t count = (size_t)(t->model.max_id + 1);
    t->trim_lead = calloc(count ? count : 1, sizeof(uint16_t));
    t->trim_trail = calloc(count ? count : 1, sizeof(uint16_t));
    if (!t->trim_lead || !t->trim_trail) return no_memory(c);
    t->trim_ws_count = count;
    qf_cpbuf cps = {0};
    const qf_tok_map *v = &t->model.vocab;
    for (size_t i = 0; i < v->cap; i++) {
        const qf_tok_map_slot *slot = &v->slots[i];
        if (slot->off == SIZE_MAX || slot->id < 0 || (size_t)slot->id >= count) continue;
        cps.n = 0;
        if (!qf_utf8_decode_lossy((const uint8_t *)v->pool + slot->off, slot->len, &cps)) {
            qf_cpbuf_free(&cps);
            return no_memory(c);
        }
        uint32_t k = trim_counts(cps.v, cps.n);
        t->trim_lead[slot->id] = (uint16_t)(k >> 16);
        t->trim_trail[slot->id] = (uint16_t)(k & 0xFFFFu);
    }
    qf_cpbuf_free(&cps);
    return QF_STATUS_OK;
}

/* What each added token matches: its content, or its content through the normalizer when it is
 * `normalized` (computed again when the normalizer changes, as tokenizers'
 * refresh_normalized_tokens does). */
static qf_status match_added_tokens(const qf_tok_ctx *c, qf_tokenizer *t)
{
    free(t->match_raw);
    free(t->match_norm);
    t->match_raw = t->match_norm = NULL;
    t->n_match_raw = t->n_match_norm = 0;
    if (t->n_added) {
        t->match_raw = malloc(t->n_added * sizeof(size_t));
        t->match_norm = malloc(t->n_added * sizeof(size_t));
        if (!t->match_raw || !t->match_norm) return no_memory(c);
    }
    for (size_t i = 0; i < t->n_added; i++) {
        qf_tok_added *a = &t->added[i];
        qf_cpbuf raw = {0};
        a->match.n = 0;
        qf_status s = qf_utf8_decode_lossy((const uint8_t *)a->content, a->content_len, &raw) ? QF_STATUS_OK
                                                                                                : QF_STATUS_NO_MEMORY;
        qf_tok_norm_run run;
        qf_tok_norm_run_init(&run, raw.n);
        qf_cpbuf align = {0}, align_out = {0}; /* alignments are not needed here */
        if (!s && a->normalized && t->normalizer) {
            if (!qf_cpbuf_reserve(&align, raw.n)) s = QF_STATUS_NO_MEMORY;
            for (size_t k = 0; !s && k < raw.n; k++) align.v[align.n++] = (uint32_t)k;
            if (!s) s = qf_tok_norm_apply(t->normalizer, raw.v, align.v, raw.n, &a->match, &align_out, &run);
        } else if (!s && !qf_cpbuf_append(&a->match, raw.v, raw.n)) {
            s = QF_STATUS_NO_MEMORY;
        }
        qf_cpbuf_free(&raw);
        qf_cpbuf_free(&align);
        qf_cpbuf_free(&align_out);
        if (s == QF_STATUS_LIMIT) {
            char what[96];
            snprintf(what, sizeof what, "added token '%.48s'", a->content);
            return norm_limit_error(c->err, c->file, "added_tokens", &run, what);
        }
        if (s == QF_STATUS_FORMAT) return norm_format_error(c->err, c->file, &run);
        if (s) return no_memory(c);
        if (a->match.n == 0) continue; /* nothing left to match */
        if (a->normalized) t->match_norm[t->n_match_norm++] = i;
        else t->match_raw[t->n_match_raw++] = i;
    }
    if (!sort_matches(t, t->match_raw, t->n_match_raw) || !sort_matches(t, t->match_norm, t->n_match_norm))
        return no_memory(c);
    return QF_STATUS_OK;
}

qf_status qf_tok_finish(const qf_tok_ctx *c, qf_tokenizer *t)
{
    qf_status ms = match_added_tokens(c, t);
    if (ms != QF_STATUS_OK) return ms;
    if (t->pad_id < 0) {
        int32_t id = find_token_id(t, "[PAD]");
        if (id < 0) id = find_token_id(t, "<pad>");
        t->pad_id = id < 0 ? 0 : id;
    }
    /* Unigram names its unknown token by position (unk_id), which the loader set */
    if (t->model.unk_token && t->model.kind != QF_TOK_MODEL_UNIGRAM)
        t->model.unk_id = qf_tok_map_get(&t->model.vocab, t->model.unk_token, strlen(t->model.unk_token));
    qf_status s = pair_layouts(c, t);
    return s != QF_STATUS_OK ? s : build_trim_tables(c, t);
}

/* ---- encode ------------------------------------------------------------------------------- */

typedef struct enc_state {
    const qf_tokenizer *t;
    qf_cpbuf norm, work;             /* normalized piece; the text of its words */
    qf_cpbuf norm_align, work_align; /* their alignments */
    qf_tok_spans a, b;
    qf_tok_scratch scratch;
    qf_tok_ids ids;                  /* start/end: code points of the original text */
    uint32_t *trim;                  /* when t->trim_lead: trim_counts of each token's string */
    size_t trim_cap;
    int32_t next_word;               /* the word (pre-token or added token) the next piece is */
    qf_error *err;
} enc_state;

/* Longest added token of `list` matching at w[pos..n), or NULL. */
static const qf_tok_added *match_at(const qf_tokenizer *t, const size_t *list, size_t nlist,
                                    const uint32_t *w, size_t pos, size_t n)
{
    size_t lo = 0, hi = nlist;
    uint32_t c = w[pos];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->added[list[mid]].match.v[0] < c) lo = mid + 1;
        else hi = mid;
    }
    const qf_tok_added *best = NULL;
    for (size_t i = lo; i < nlist && t->added[list[i]].match.v[0] == c; i++) {
        const qf_tok_added *a = &t->added[list[i]];
        size_t m = a->match.n;
        if (m > n - pos || (best && m <= best->match.n)) continue;
        if (memcmp(a->match.v, w + pos, m * sizeof(uint32_t)) == 0) best = a;
    }
    return best;
}

/* A piece of text (token NULL), or the text an added token matched, with its alignments. */
typedef qf_status (*segment_fn)(enc_state *st, const uint32_t *w, const uint32_t *align, size_t n,
                                const qf_tok_added *token);

/* Splits w[0..n) on added tokens (Hugging Face's AddedVocabulary::find_matches), calling `fn` on
 * each text piece and each token, in order. */
static qf_status split_added(enc_state *st, const size_t *list, size_t nlist, const uint32_t *w,
                             const uint32_t *align, size_t n, segment_fn fn)
{
    const qf_tokenizer *t = st->t;
    size_t pos = 0, start_offset = 0;
    qf_status s;
    while (nlist && pos < n) {
        const qf_tok_added *a = match_at(t, list, nlist, w, pos, n);
        if (!a) {
            pos++;
            continue;
        }
        size_t start = pos, stop = pos + a->match.n;
        if (a->single_word) {
            bool start_space = start == 0 || !qf_uni_is_word(w[start - 1]);
            bool stop_space = stop == n || !qf_uni_is_word(w[stop]);
            if (!start_space || !stop_space) {
                pos = stop;
                continue;
            }
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0 && qf_uni_is_whitespace(w[ns - 1])) ns--;
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip)
            while (stop < n && qf_uni_is_whitespace(w[stop])) stop++;
        if (start_offset < start &&
            (s = fn(st, w + start_offset, align + start_offset, start - start_offset, NULL)) != QF_STATUS_OK)
            return s;
        if ((s = fn(st, w + start, align + start, stop - start, a)) != QF_STATUS_OK) return s;
        start_offset = stop;
        pos = stop;
    }
    if (start_offset < n) return fn(st, w + start_offset, align + start_offset, n - start_offset, NULL);
    return QF_STATUS_OK;
}

static qf_status enc_nomem(enc_state *st)
{
    return qf_error_set(st->err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory while encoding");
}

/* Offsets of a code point with alignment `a`: its original character, (0, 0) for none. */
static uint32_t align_start(uint32_t a)
{
    return a == QF_UNI_ALIGN_NONE ? 0 : a;
}

static uint32_t align_end(uint32_t a)
{
    return a == QF_UNI_ALIGN_NONE ? 0 : a + 1;
}

/* Records trim_counts for the tokens pushed since `from` (when a step trims offsets): a model
 * token's from its vocabulary entry, an added token's from the text it matched. */
static qf_status note_trim(enc_state *st, size_t from, const uint32_t *matched, size_t n_matched)
{
    const qf_tokenizer *t = st->t;
    if (!t->trim_lead) return QF_STATUS_OK;
    if (st->ids.n > st->trim_cap) {
        size_t cap = st->ids.cap;
        uint32_t *v = realloc(st->trim, cap * sizeof *v);
        if (!v) return enc_nomem(st);
        st->trim = v;
        st->trim_cap = cap;
    }
    for (size_t i = from; i < st->ids.n; i++) {
        int32_t id = st->ids.v[i];
        if (matched) st->trim[i] = trim_counts(matched, n_matched);
        else if (id >= 0 && (size_t)id < t->trim_ws_count)
            st->trim[i] = (uint32_t)t->trim_lead[id] << 16 | t->trim_trail[id];
        else st->trim[i] = 0;
    }
    return QF_STATUS_OK;
}

/* An added token: it covers the text it matched. */
static qf_status added_token(enc_state *st, const uint32_t *w, const uint32_t *align, size_t n,
                             const qf_tok_added *token)
{
    if (!qf_tok_ids_push(&st->ids, token->id, align_start(align[0]), align_end(align[n - 1]))) return enc_nomem(st);
    st->ids.word[st->ids.n - 1] = st->next_word++;
    return note_trim(st, st->ids.n - 1, w, n);
}

/* A normalized piece: pre-tokenize, run the model on each word, map each token's code points of
 * its word to the original text. */
static qf_status model_piece(enc_state *st, const uint32_t *w, const uint32_t *align, size_t n,
                             const qf_tok_added *token)
{
    const qf_tokenizer *t = st->t;
    if (token) return added_token(st, w, align, n, token);
    size_t first = st->ids.n;
    st->work.n = 0;
    st->work_align.n = 0;
    st->a.n = 0;
    if (!qf_cpbuf_append(&st->work, w, n) || !qf_cpbuf_append(&st->work_align, align, n) ||
        !qf_tok_spans_push(&st->a, 0, n))
        return enc_nomem(st);
    const qf_tok_spans *words = &st->a;
    if (t->pre) {
        if (!qf_tok_pre_apply(t->pre, &st->work, &st->work_align, &st->a, &st->b)) return enc_nomem(st);
        words = &st->b;
    }
    for (size_t i = 0; i < words->n; i++) {
        const uint32_t *wv = st->work.v + words->v[i].off;
        const uint32_t *wa = st->work_align.v + words->v[i].off;
        size_t before = st->ids.n;
        qf_status s = t->model.kind == QF_TOK_MODEL_WORDPIECE
                          ? qf_tok_wordpiece(&t->model, wv, words->v[i].len, &st->scratch, &st->ids, st->err)
                      : t->model.kind == QF_TOK_MODEL_BPE
                          ? qf_tok_bpe(&t->model, wv, words->v[i].len, &st->scratch, &st->ids, st->err)
                          : qf_tok_unigram(&t->model, wv, words->v[i].len, &st->scratch, &st->ids, st->err);
        if (s != QF_STATUS_OK) return s == QF_STATUS_NO_MEMORY ? enc_nomem(st) : s;
        for (size_t k = before; k < st->ids.n; k++) {
            st->ids.start[k] = align_start(wa[st->ids.start[k]]);
            st->ids.end[k] = align_end(wa[st->ids.end[k] - 1]);
            st->ids.word[k] = st->next_word;
        }
        st->next_word++; /* bounded by the text's code points (QF_TOKENIZER_MAX_TEXT) */
    }
    return note_trim(st, first, NULL, 0);
}

/* A raw piece: normalize, then split on the added tokens that match normalized text. */
static qf_status raw_piece(enc_state *st, const uint32_t *w, const uint32_t *align, size_t n,
                           const qf_tok_added *token)
{
    const qf_tokenizer *t = st->t;
    if (token) return added_token(st, w, align, n, token);
    st->norm.n = 0;
    st->norm_align.n = 0;
    if (t->normalizer) {
        qf_tok_norm_run run;
        qf_tok_norm_run_init(&run, n);
        qf_status s = qf_tok_norm_apply(t->normalizer, w, align, n, &st->norm, &st->norm_align, &run);
        if (s == QF_STATUS_LIMIT) return norm_limit_error(st->err, NULL, NULL, &run, "a piece of text");
        if (s == QF_STATUS_FORMAT) return norm_format_error(st->err, NULL, &run);
        if (s) return enc_nomem(st);
    } else if (!qf_cpbuf_append(&st->norm, w, n) || !qf_cpbuf_append(&st->norm_align, align, n)) {
        return enc_nomem(st);
    }
    return split_added(st, t->match_norm, t->n_match_norm, st->norm.v, st->norm_align.v, st->norm.n, model_piece);
}

static void enc_ids_free(enc_state *st)
{
    free(st->ids.v);
    free(st->ids.start);
    free(st->ids.end);
    free(st->ids.word);
    free(st->trim);
}

/* A post-processor step's trim_offsets over the tokens [lo, hi) of the layout, on code point
 * offsets (Hugging Face's process_offsets, which runs after the offsets became char offsets):
 * leading 'Ġ'/whitespace characters of a token's string move its start right (not past its end),
 * except a single one on the first token (index 0, or start 0) when add_prefix_space; trailing ones
 * move its end left (not past its start) when the end is at least their count. The sequence's
 * tokens are the seq_n from seq_lo, with trim[] their counts; the other tokens are special, at
 * (0, 0), which trimming never changes. */
static void trim_offsets(int32_t *offsets, size_t lo, size_t hi, size_t seq_lo, size_t seq_n, const uint32_t *trim,
                         bool add_prefix_space)
{
    if (!trim) return;
    for (size_t i = lo; i < hi; i++) {
        if (i < seq_lo || i >= seq_lo + seq_n) continue;
        uint32_t k = trim[i - seq_lo];
        int64_t lead = (int64_t)(k >> 16), trail = (int64_t)(k & 0xFFFFu);
        int64_t start = offsets[2 * i], end = offsets[2 * i + 1];
        if (lead > 0) {
            bool first = i == lo || start == 0;
            if (first && add_prefix_space && lead == 1) lead = 0;
            start = start + lead < end ? start + lead : end;
        }
        if (trail > 0 && end >= trail) end = end - trail > start ? end - trail : start;
        offsets[2 * i] = (int32_t)start;
        offsets[2 * i + 1] = (int32_t)end;
    }
}

static bool encoding_reserve(qf_encoding *e, size_t n)
{
    if (n <= e->capacity) return true;
    if (n > SIZE_MAX / sizeof(int32_t)) return false;
    int32_t *a = realloc(e->input_ids, n * sizeof(int32_t));
    if (a) e->input_ids = a;
    int32_t *b = realloc(e->attention_mask, n * sizeof(int32_t));
    if (b) e->attention_mask = b;
    int32_t *c = realloc(e->token_type_ids, n * sizeof(int32_t));
    if (c) e->token_type_ids = c;
    int32_t *d = realloc(e->sequence_ids, n * sizeof(int32_t));
    if (d) e->sequence_ids = d;
    int32_t *o = n > SIZE_MAX / (2 * sizeof(int32_t)) ? NULL : realloc(e->offsets, n * 2 * sizeof(int32_t));
    if (o) e->offsets = o;
    int32_t *w = realloc(e->word_ids, n * sizeof(int32_t));
    if (w) e->word_ids = w;
    if (!a || !b || !c || !d || !o || !w) return false;
    e->capacity = n;
    return true;
}

size_t qf_tokenizer_num_special_tokens(const qf_tokenizer *t)
{
    size_t n = 0;
    for (size_t i = 0; t && i < t->n_post; i++) n += t->post[i].n_prefix + t->post[i].n_suffix;
    return n;
}

qf_tokenize_params qf_tokenize_params_default(void)
{
    return (qf_tokenize_params){0, 0, true};
}

void qf_encoding_init(qf_encoding *e)
{
    if (e) memset(e, 0, sizeof *e);
}

void qf_encoding_free(qf_encoding *e)
{
    if (!e) return;
    free(e->input_ids);
    free(e->attention_mask);
    free(e->token_type_ids);
    free(e->sequence_ids);
    free(e->offsets);
    free(e->word_ids);
    memset(e, 0, sizeof *e);
}

bool qf_tokenizer_is_special_id(const qf_tokenizer *t, int32_t id)
{
    for (size_t i = 0; t && i < t->n_added; i++)
        if (t->added[i].special && t->added[i].id == id) return true;
    for (size_t i = 0; t && i < t->n_post; i++) {
        const qf_tok_post *p = &t->post[i];
        for (size_t k = 0; k < p->n_prefix; k++)
            if (p->prefix_ids[k] == id) return true;
        for (size_t k = 0; k < p->n_suffix; k++)
            if (p->suffix_ids[k] == id) return true;
        for (size_t k = 0; k < p->n_pair; k++)
            for (size_t j = 0; p->pair && j < p->pair[k].n_ids; j++)
                if (p->pair[k].ids[j] == id) return true;
    }
    return false;
}

size_t qf_tokenizer_num_special_tokens_pair(const qf_tokenizer *t)
{
    return t ? t->n_special_pair : 0;
}

static qf_status pair_unsupported(const qf_tokenizer *t, qf_error *err)
{
    return qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, "post_processor",
                        "this tokenizer cannot encode a pair: %s", t->pair_unsupported);
}

/* Lays sequence a[0..na) (b NULL), or the pair a, b, out with the post-processor's special tokens
 * (when `add`), then pads to pad_to. A single sequence goes through the steps of t->post, a pair
 * through t->pair_layout[add]. */
static qf_status lay_out(const qf_tokenizer *t, const int32_t *a, const int32_t *offs_a, const int32_t *words_a, size_t na,
                         const int32_t *b, const int32_t *offs_b, const int32_t *words_b, size_t nb, bool add,
                         size_t pad_to, qf_encoding *out, qf_error *err)
{
    size_t total = 0;
    if (b) {
        for (size_t k = 0; k < t->n_pair_layout[add]; k++) {
            const qf_tok_slot *sl = &t->pair_layout[add][k];
            total += sl->seq < 0 ? 1 : sl->seq == 0 ? na : nb;
        }
    } else {
        total = na + (add ? qf_tokenizer_num_special_tokens(t) : 0);
    }
    size_t final_len = pad_to > total ? pad_to : total;
    if (!encoding_reserve(out, final_len))
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory while encoding");
    if (final_len) memset(out->offsets, 0, final_len * 2 * sizeof(int32_t)); /* special tokens, padding, ids without text */
    for (size_t i = 0; i < final_len; i++) out->word_ids[i] = -1;
    if (b) {
        size_t at = 0;
        for (size_t k = 0; k < t->n_pair_layout[add]; k++) {
            const qf_tok_slot *sl = &t->pair_layout[add][k];
            const int32_t *src = sl->seq == 0 ? a : b, *offs = sl->seq == 0 ? offs_a : offs_b;
            const int32_t *words = sl->seq == 0 ? words_a : words_b;
            size_t n = sl->seq < 0 ? 1 : sl->seq == 0 ? na : nb;
            for (size_t i = 0; i < n; i++, at++) {
                out->input_ids[at] = sl->seq < 0 ? sl->id : src[i];
                out->token_type_ids[at] = sl->type_id;
                out->sequence_ids[at] = sl->seq;
                if (sl->seq >= 0 && words) out->word_ids[at] = words[i];
                if (sl->seq >= 0 && offs) {
                    out->offsets[2 * at] = offs[2 * i];
                    out->offsets[2 * at + 1] = offs[2 * i + 1];
                }
            }
        }
    } else {
        /* Lay the sequence out where the prefixes will leave it, then wrap it step by step. */
        size_t n_prefix_all = 0;
        for (size_t i = 0; add && i < t->n_post; i++) n_prefix_all += t->post[i].n_prefix;
        size_t lo = n_prefix_all, hi = n_prefix_all + na;
        for (size_t i = 0; i < na; i++) {
            out->input_ids[lo + i] = a[i];
            out->token_type_ids[lo + i] = 0;
            out->sequence_ids[lo + i] = 0;
            if (words_a) out->word_ids[lo + i] = words_a[i];
        }
        for (size_t k = 0; k < t->n_post; k++) {
            const qf_tok_post *pp = &t->post[k];
            if (pp->seq_type >= 0)
                for (size_t i = lo; i < hi; i++) out->token_type_ids[i] = pp->seq_type;
            if (!add) continue;
            lo -= pp->n_prefix;
            for (size_t i = 0; i < pp->n_prefix; i++) {
                out->input_ids[lo + i] = pp->prefix_ids[i];
                out->token_type_ids[lo + i] = pp->prefix_types[i];
                out->sequence_ids[lo + i] = -1;
            }
            for (size_t i = 0; i < pp->n_suffix; i++) {
                out->input_ids[hi + i] = pp->suffix_ids[i];
                out->token_type_ids[hi + i] = pp->suffix_types[i];
                out->sequence_ids[hi + i] = -1;
            }
            hi += pp->n_suffix;
        }
    }
    for (size_t i = 0; i < total; i++) out->attention_mask[i] = 1;
    for (size_t i = total; i < final_len; i++) {
        out->input_ids[i] = t->pad_id;
        out->attention_mask[i] = 0;
        out->token_type_ids[i] = t->pad_type_id;
        out->sequence_ids[i] = -1;
    }
    if (t->drop_token_types && final_len) memset(out->token_type_ids, 0, final_len * sizeof(int32_t));
    out->length = final_len;
    return QF_STATUS_OK;
}

qf_status qf_tokenizer_post_process(const qf_tokenizer *t, const int32_t *ids_a, size_t n_a, const int32_t *ids_b,
                                    size_t n_b, bool add_special_tokens, qf_encoding *out, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    out->length = 0;
    if (!t || (!ids_a && n_a > 0) || (!ids_b && n_b > 0))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "tokenizer or ids are NULL");
    if (ids_b && t->pair_unsupported[0]) return pair_unsupported(t, err);
    static const int32_t none[1] = {0};
    return lay_out(t, ids_a ? ids_a : none, NULL, NULL, n_a, ids_b, NULL, NULL, n_b, add_special_tokens, 0, out, err);
}

/* transformers' truncation=True for a pair (Rust truncate_encodings, TruncationStrategy::LongestFirst,
 * utils/truncation.rs, closed form since tokenizers 0.9): both fit, or only the longer one is cut to
 * what the shorter leaves, or both are cut to half of `budget` (the second one, or the longer one
 * when their lengths differ, takes the odd token). */
static void truncate_longest_first(size_t *len_a, size_t *len_b, size_t budget)
{
    if (*len_a + *len_b <= budget) return;
    size_t n1 = *len_a, n2 = *len_b;
    bool swap = n1 > n2;
    if (swap) {
        n1 = *len_b;
        n2 = *len_a;
    }
    if (n1 > budget) n2 = n1;
    else n2 = n1 > budget - n1 ? n1 : budget - n1;
    if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    size_t na = swap ? n2 : n1, nb = swap ? n1 : n2;
    if (na < *len_a) *len_a = na;
    if (nb < *len_b) *len_b = nb;
}

qf_status qf_tokenizer_encode_pair(const qf_tokenizer *t, const char *text_a, size_t len_a, const char *text_b,
                                   size_t len_b, const qf_tokenize_params *p, qf_encoding *out, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    out->length = 0;
    if (!t || (!text_a && len_a > 0) || (!text_b && len_b > 0))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "tokenizer or text is NULL");
    qf_tokenize_params prm = p ? *p : qf_tokenize_params_default();
    if (prm.max_length < 0 || prm.pad_to < 0)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "max_length and pad_to must be >= 0 (found %d, %d)", prm.max_length, prm.pad_to);
    if (t->pair_unsupported[0]) return pair_unsupported(t, err);
    size_t n_special = prm.add_special_tokens ? t->n_special_pair : 0;
    if (prm.max_length > 0 && (size_t)prm.max_length < n_special) {
        qf_status s = qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_length",
                                   "max_length leaves no room for the special tokens of a pair");
        qf_error_expected(err, "at least %zu", n_special);
        qf_error_found(err, "%d", prm.max_length);
        return s;
    }
    /* Each text alone, without special tokens or truncation (its limits and errors are encode's). */
    qf_tokenize_params raw = {0, 0, false};
    qf_encoding ea, eb;
    qf_encoding_init(&ea);
    qf_encoding_init(&eb);
    qf_status s = qf_tokenizer_encode(t, text_a ? text_a : "", len_a, &raw, &ea, err);
    if (s == QF_STATUS_OK) s = qf_tokenizer_encode(t, text_b ? text_b : "", len_b, &raw, &eb, err);
    if (s == QF_STATUS_OK) {
        size_t na = ea.length, nb = eb.length;
        if (prm.max_length > 0) truncate_longest_first(&na, &nb, (size_t)prm.max_length - n_special);
        static const int32_t none[1] = {0};
        /* each text's offsets as its own encode trimmed them (Hugging Face trims each encoding of the
         * pair alone, before the special tokens) */
        s = lay_out(t, na ? ea.input_ids : none, na ? ea.offsets : NULL, na ? ea.word_ids : NULL, na,
                    nb ? eb.input_ids : none, nb ? eb.offsets : NULL, nb ? eb.word_ids : NULL, nb,
                    prm.add_special_tokens, (size_t)prm.pad_to, out, err);
    }
    qf_encoding_free(&ea);
    qf_encoding_free(&eb);
    return s;
}

qf_status qf_tokenizer_encode(const qf_tokenizer *t, const char *text, size_t len, const qf_tokenize_params *p,
                              qf_encoding *out, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    out->length = 0;
    if (!t || (!text && len > 0))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "tokenizer or text is NULL");
    qf_tokenize_params prm = p ? *p : qf_tokenize_params_default();
    if (prm.max_length < 0 || prm.pad_to < 0)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "max_length and pad_to must be >= 0 (found %d, %d)", prm.max_length, prm.pad_to);
    if (len > QF_TOKENIZER_MAX_TEXT) {
        qf_status s = qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL, "text too long to encode");
        qf_error_expected(err, "at most %u bytes", QF_TOKENIZER_MAX_TEXT);
        qf_error_found(err, "%zu bytes", len);
        return s;
    }
    size_t n_special = prm.add_special_tokens ? qf_tokenizer_num_special_tokens(t) : 0;
    if (prm.max_length > 0 && (size_t)prm.max_length < n_special) {
        qf_status s = qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_length",
                                   "max_length leaves no room for the special tokens");
        qf_error_expected(err, "at least %zu", n_special);
        qf_error_found(err, "%d", prm.max_length);
        return s;
    }

    enc_state st = {.t = t, .err = err};
    qf_cpbuf cps = {0}, identity = {0};
    qf_status s = QF_STATUS_OK;
    if (!qf_utf8_decode_lossy((const uint8_t *)text, len, &cps) || !qf_cpbuf_reserve(&identity, cps.n))
        s = enc_nomem(&st);
    for (size_t i = 0; s == QF_STATUS_OK && i < cps.n; i++) identity.v[identity.n++] = (uint32_t)i;
    if (s == QF_STATUS_OK) s = split_added(&st, t->match_raw, t->n_match_raw, cps.v, identity.v, cps.n, raw_piece);
    qf_cpbuf_free(&cps);
    qf_cpbuf_free(&identity);
    qf_cpbuf_free(&st.norm);
    qf_cpbuf_free(&st.work);
    qf_cpbuf_free(&st.norm_align);
    qf_cpbuf_free(&st.work_align);
    qf_tok_spans_free(&st.a);
    qf_tok_spans_free(&st.b);
    free(st.scratch.bytes);
    free(st.scratch.offs);
    free(st.scratch.work);
    if (s != QF_STATUS_OK) {
        enc_ids_free(&st);
        return s;
    }

    size_t nseq = st.ids.n;
    if (prm.max_length > 0 && nseq > (size_t)prm.max_length - n_special) nseq = (size_t)prm.max_length - n_special;
    size_t total = nseq + n_special;
    size_t final_len = (prm.pad_to > 0 && (size_t)prm.pad_to > total) ? (size_t)prm.pad_to : total;
    if (!encoding_reserve(out, final_len)) {
        enc_ids_free(&st);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory while encoding");
    }
    /* Lay the sequence out where the prefixes will leave it, then wrap it step by step. */
    size_t n_prefix_all = 0;
    for (size_t i = 0; prm.add_special_tokens && i < t->n_post; i++) n_prefix_all += t->post[i].n_prefix;
    size_t lo = n_prefix_all, hi = n_prefix_all + nseq;
    const size_t seq_lo = lo;
    for (size_t i = 0; i < nseq; i++) {
        out->input_ids[lo + i] = st.ids.v[i];
        out->token_type_ids[lo + i] = 0;
    }
    /* special tokens and padding: (0, 0) and sequence -1 */
    if (final_len) memset(out->offsets, 0, final_len * 2 * sizeof(int32_t)); /* none allocated when 0 */
    for (size_t i = 0; i < final_len; i++) out->sequence_ids[i] = out->word_ids[i] = -1;
    for (size_t i = 0; i < nseq; i++) {
        out->offsets[2 * (lo + i)] = (int32_t)st.ids.start[i];
        out->offsets[2 * (lo + i) + 1] = (int32_t)st.ids.end[i];
        out->sequence_ids[lo + i] = 0;
        out->word_ids[lo + i] = st.ids.word[i];
    }
    for (size_t k = 0; k < t->n_post; k++) {
        const qf_tok_post *pp = &t->post[k];
        if (pp->seq_type >= 0)
            for (size_t i = lo; i < hi; i++) out->token_type_ids[i] = pp->seq_type;
        if (pp->trim_offsets) trim_offsets(out->offsets, lo, hi, seq_lo, nseq, st.trim, pp->trim_add_prefix_space);
        if (!prm.add_special_tokens) continue;
        lo -= pp->n_prefix;
        for (size_t i = 0; i < pp->n_prefix; i++) {
            out->input_ids[lo + i] = pp->prefix_ids[i];
            out->token_type_ids[lo + i] = pp->prefix_types[i];
        }
        for (size_t i = 0; i < pp->n_suffix; i++) {
            out->input_ids[hi + i] = pp->suffix_ids[i];
            out->token_type_ids[hi + i] = pp->suffix_types[i];
        }
        hi += pp->n_suffix;
    }
    enc_ids_free(&st);
    for (size_t i = 0; i < total; i++) out->attention_mask[i] = 1;
    for (size_t i = total; i < final_len; i++) {
        out->input_ids[i] = t->pad_id;
        out->attention_mask[i] = 0;
        out->token_type_ids[i] = t->pad_type_id;
    }
    if (t->drop_token_types && final_len) memset(out->token_type_ids, 0, final_len * sizeof(int32_t));
    out->length = final_len;
    return QF_STATUS_OK;
}

size_t qf_text_char_to_byte(const char *text, size_t len, size_t char_index)
{
    const uint8_t *b = (const uint8_t *)text;
    size_t i = 0;
    for (size_t c = 0; c < char_index && i < len; c++) {
        uint32_t cp;
        i += qf_utf8_next(b, len, i, &cp);
    }
    return i;
}

void qf_text_chars_to_bytes(const char *text, size_t len, const int32_t *chars, int32_t *bytes, size_t n)
{
    const uint8_t *b = (const uint8_t *)text;
    size_t at_char = 0, at_byte = 0; /* a cursor that only rewinds when the offsets go back */
    for (size_t k = 0; k < n; k++) {
        size_t want = chars[k] < 0 ? 0 : (size_t)chars[k];
        if (want < at_char) at_char = at_byte = 0;
        while (at_char < want && at_byte < len) {
            uint32_t cp;
            at_byte += qf_utf8_next(b, len, at_byte, &cp);
            at_char++;
        }
        if (at_byte >= len) at_char = want; /* past the end: stays at len */
        bytes[k] = (int32_t)at_byte;
    }
}

int32_t qf_tokenizer_pad_id(const qf_tokenizer *t)
{
    return t ? t->pad_id : 0;
}

size_t qf_tokenizer_vocab_size(const qf_tokenizer *t)
{
    if (!t) return 0;
    int32_t m = t->model.max_id;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id > m) m = t->added[i].id;
    return (size_t)(m + 1);
}

int32_t qf_tokenizer_token_to_id(const qf_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    return find_token_id(t, token);
}

const char *qf_tokenizer_unicode_version(void)
{
    return qf_uni_version;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* `dir` NULL: `path` is the file the user named; else `path` is a file name found in the tokenizer
 * folder `dir` (a regular file that must resolve inside it: qf_file_map_beside). */
static qf_status map_file(const char *dir, const char *path, qf_file **f, qf_error *err)
{
    qf_status s = dir ? qf_file_map_beside(dir, path, f, err) : qf_file_map(path, f, err);
    if (s != QF_STATUS_OK) return s;
    if (qf_file_size(*f) > QF_TOKENIZER_MAX_FILE) {
        s = qf_error_set(err, QF_STATUS_LIMIT, qf_file_path(*f), NULL, -1, NULL, "file too large for a tokenizer file");
        qf_error_expected(err, "at most %u bytes", QF_TOKENIZER_MAX_FILE);
        qf_error_found(err, "%llu bytes", (unsigned long long)qf_file_size(*f));
        qf_file_unmap(*f);
        *f = NULL;
    }
    return s;
}

qf_status qf_tokenizer_load_json(const void *data, size_t size, const char *name, qf_tokenizer **out,
                                 qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, name, NULL, -1, NULL, "out is NULL");
    *out = NULL;
    qf_tok_ctx c = {name ? name : "tokenizer.json", err};
    if (!data && size > 0) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, c.file, NULL, -1, NULL, "data is NULL");
    if (size > QF_TOKENIZER_MAX_FILE) return limit_error(&c, NULL, "file size", QF_TOKENIZER_MAX_FILE, size);
    qf_tokenizer *t = qf_tok_alloc();
    if (!t) return no_memory(&c);
    qf_status s = qf_tok_parse_tokenizer_json(&c, data, size, t);
    if (s == QF_STATUS_OK) s = qf_tok_finish(&c, t);
    if (s != QF_STATUS_OK) {
        qf_tokenizer_destroy(t);
        return s;
    }
    *out = t;
    return QF_STATUS_OK;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Length of `s` without trailing White_Space (Rust's str::trim_end). */
static size_t trim_end_utf8(const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n - 1;
        while (k > 0 && n - k < 4 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
        qf_cpbuf cp = {0};
        uint32_t c = 0;
        if (qf_utf8_decode_lossy((const uint8_t *)s + k, n - k, &cp) && cp.n == 1) c = cp.v[0];
        qf_cpbuf_free(&cp);
        if (!qf_uni_is_whitespace(c)) break;
        n = k;
    }
    return n;
}

static qf_status add_special(const qf_tok_ctx *c, qf_tokenizer *t, const char *tok, bool lstrip)
{
    int32_t id = qf_tok_map_get(&t->model.vocab, tok, strlen(tok));
    if (id < 0) {
        int32_t m = t->model.max_id;
        for (size_t i = 0; i < t->n_added; i++)
            if (t->added[i].id > m) m = t->added[i].id;
        id = m + 1;
    }
    qf_tok_added a = {.id = id, .content = (char *)tok, .content_len = strlen(tok), .lstrip = lstrip,
                      .special = true};
    return qf_tok_add_added(c, t, &a, "added_tokens");
}

/* transformers' converters: BertProcessing's layout (a TemplateProcessing with the same ids and
 * types) for vocab.txt, RobertaProcessing for vocab.json + merges.txt. */
static qf_status add_post(const qf_tok_ctx *c, qf_tokenizer *t, qf_tok_post_kind kind, const char *cls,
                          const char *sep)
{
    int32_t icls = find_token_id(t, cls), isep = find_token_id(t, sep);
    if (icls < 0 || isep < 0)
        return qf_tok_format_error(c, "post_processor", "special token '%s' is not in the vocabulary",
                                   icls < 0 ? cls : sep);
    t->post = calloc(1, sizeof *t->post);
    if (!t->post) return no_memory(c);
    t->n_post = 1;
    qf_tok_post *p = t->post;
    p->prefix_ids = malloc(sizeof(int32_t));
    p->prefix_types = calloc(1, sizeof(int32_t));
    p->suffix_ids = malloc(sizeof(int32_t));
    p->suffix_types = calloc(1, sizeof(int32_t));
    if (!p->prefix_ids || !p->prefix_types || !p->suffix_ids || !p->suffix_types) return no_memory(c);
    p->prefix_ids[0] = icls;
    p->suffix_ids[0] = isep;
    p->n_prefix = p->n_suffix = 1;
    p->seq_type = -1;
    p->kind = kind;
    p->cls_id = icls;
    p->sep_id = isep;
    return QF_STATUS_OK;
}

static qf_status read_config(const char *dir, qf_tok_config *cfg, qf_error *err)
{
    if (!qf_file_beside_exists(dir, "tokenizer_config.json")) return QF_STATUS_OK;
    qf_file *f = NULL;
    qf_status s = map_file(dir, "tokenizer_config.json", &f, err);
    if (s == QF_STATUS_OK) {
        qf_tok_ctx c = {qf_file_path(f), err};
        s = qf_tok_parse_config_json(&c, qf_file_data(f), (size_t)qf_file_size(f), cfg);
        qf_file_unmap(f);
    }
    return s;
}

static qf_status load_vocab_txt(const char *dir, const char *vocab_path, qf_tokenizer *t, qf_error *err)
{
    qf_tok_config cfg = {.do_lower_case = true, .tokenize_chinese_chars = true, .strip_accents = -1};
    qf_status s = read_config(dir, &cfg, err);
    if (s != QF_STATUS_OK) return s;
    qf_tok_ctx c = {vocab_path, err};
    qf_file *f = NULL;
    if ((s = map_file(dir, "vocab.txt", &f, err)) != QF_STATUS_OK) return s;
    const char *d = (const char *)qf_file_data(f);
    size_t size = (size_t)qf_file_size(f), pos = 0;
    int64_t index = 0;
    while (pos < size && s == QF_STATUS_OK) {
        const char *nl = memchr(d + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - d) : size;
        size_t len = trim_end_utf8(d + pos, end - pos);
        char field[64];
        snprintf(field, sizeof field, "line %lld", (long long)index + 1);
        s = qf_tok_add_vocab(&c, &t->model, d + pos, len, index, field);
        if (s != QF_STATUS_OK && c.err) c.err->offset = (int64_t)pos;
        index++;
        pos = end + 1;
    }
    qf_file_unmap(f);
    if (s != QF_STATUS_OK) return s;
    t->model.kind = QF_TOK_MODEL_WORDPIECE;
    if (!(t->model.unk_token = strdup("[UNK]")) || !(t->model.prefix = strdup("##"))) return no_memory(&c);
    t->normalizer = calloc(1, sizeof *t->normalizer);
    t->pre = calloc(1, sizeof *t->pre);
    if (!t->normalizer || !t->pre) return no_memory(&c);
    *t->normalizer = (qf_tok_norm){.kind = QF_TOK_NORM_BERT, .clean_text = true,
                                   .handle_chinese_chars = cfg.tokenize_chinese_chars,
                                   .strip_accents = cfg.strip_accents < 0 ? cfg.do_lower_case : cfg.strip_accents,
                                   .lowercase = cfg.do_lower_case};
    t->pre->kind = QF_TOK_PRE_BERT;
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5 && s == QF_STATUS_OK; i++) s = add_special(&c, t, specials[i], false);
    if (s == QF_STATUS_OK) s = add_post(&c, t, QF_TOK_POST_BERT, "[CLS]", "[SEP]");
    return s;
}

static qf_status load_bpe_files(const char *dir, const char *vocab_path, const char *merges_path,
                                qf_tokenizer *t, qf_error *err)
{
    qf_tok_config cfg = {.do_lower_case = false, .tokenize_chinese_chars = true, .strip_accents = -1};
    qf_status s = read_config(dir, &cfg, err);
    if (s != QF_STATUS_OK) return s;
    qf_file *f = NULL;
    if ((s = map_file(dir, "vocab.json", &f, err)) != QF_STATUS_OK) return s;
    qf_tok_ctx cv = {vocab_path, err};
    s = qf_tok_parse_vocab_json(&cv, qf_file_data(f), (size_t)qf_file_size(f), &t->model);
    qf_file_unmap(f);
    if (s != QF_STATUS_OK) return s;
    t->model.kind = QF_TOK_MODEL_BPE;
    if ((s = map_file(dir, "merges.txt", &f, err)) != QF_STATUS_OK) return s;
    qf_tok_ctx c = {merges_path, err};
    const char *d = (const char *)qf_file_data(f);
    size_t size = (size_t)qf_file_size(f), pos = 0;
    uint32_t rank = 0;
    int64_t line = 0;
    while (pos < size && s == QF_STATUS_OK) {
        const char *nl = memchr(d + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - d) : size, len = end - pos;
        line++;
        if (len > 0 && d[pos + len - 1] == '\r') len--;
        char field[64];
        snprintf(field, sizeof field, "line %lld", (long long)line);
        if (!(len >= 8 && memcmp(d + pos, "#version", 8) == 0)) {
            const char *sp = memchr(d + pos, ' ', len);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - (d + pos)))) {
                s = qf_tok_format_error(&c, field, "a merge line must be two tokens separated by one space");
            } else {
                size_t alen = (size_t)(sp - (d + pos));
                s = qf_tok_add_merge(&c, &t->model, d + pos, alen, sp + 1, len - alen - 1, rank++, field);
            }
            if (s != QF_STATUS_OK && err) err->offset = (int64_t)pos;
        }
        pos = end + 1;
    }
    qf_file_unmap(f);
    if (s != QF_STATUS_OK) return s;
    t->pre = calloc(1, sizeof *t->pre);
    if (!t->pre) return no_memory(&c);
    t->pre->kind = QF_TOK_PRE_BYTE_LEVEL;
    t->pre->add_prefix_space = cfg.add_prefix_space;
    t->pre->use_regex = true;
    static const char *const specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (size_t i = 0; i < 4 && s == QF_STATUS_OK; i++) s = add_special(&c, t, specials[i], false);
    if (s == QF_STATUS_OK) s = add_special(&c, t, "<mask>", true);
    if (s == QF_STATUS_OK) s = add_post(&c, t, QF_TOK_POST_ROBERTA, "<s>", "</s>");
    if (s == QF_STATUS_OK) { /* RobertaProcessing(trim_offsets=True, add_prefix_space) */
        t->post[0].trim_offsets = true;
        t->post[0].trim_add_prefix_space = cfg.add_prefix_space;
    }
    return s;
}

/* tokenizer.json: the file the user named (dir NULL), or found in the tokenizer folder `dir`. */
static qf_status load_json_file(const char *dir, const char *path, qf_tokenizer **out, qf_error *err)
{
    qf_file *f = NULL;
    qf_status s = map_file(dir, path, &f, err);
    if (s != QF_STATUS_OK) return s;
    s = qf_tokenizer_load_json(qf_file_data(f), (size_t)qf_file_size(f), qf_file_path(f), out, err);
    qf_file_unmap(f);
    return s;
}

/* Whether transformers 5 feeds the model token_type_ids for a tokenizer class with no
 * "model_input_names" of its own: the class's model_input_names (BertTokenizer and
 * ElectraTokenizer list them; RobertaTokenizer, DistilBertTokenizer, XLMRobertaTokenizer,
 * CamembertTokenizer and MPNetTokenizer do not; TokenizersBackend, what PreTrainedTokenizerFast
 * folders load as, keeps the base class's ["input_ids", "attention_mask"]). -1: a class not known
 * here. */
static int class_lists_token_types(const char *cls)
{
    static const struct {
        const char *name;
        int types;
    } classes[] = {{"BertTokenizer", 1},       {"ElectraTokenizer", 1},   {"RobertaTokenizer", 0},
                   {"DistilBertTokenizer", 0}, {"XLMRobertaTokenizer", 0}, {"CamembertTokenizer", 0},
                   {"MPNetTokenizer", 0},      {"TokenizersBackend", 0},  {"PreTrainedTokenizerFast", 0},
                   {"DebertaV2Tokenizer", 1},  {"AlbertTokenizer", 1}};
    size_t n = strlen(cls);
    if (n >= 4 && strcmp(cls + n - 4, "Fast") == 0 && strcmp(cls, "PreTrainedTokenizerFast") != 0) n -= 4;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strlen(classes[i].name) == n && strncmp(cls, classes[i].name, n) == 0) return classes[i].types;
    return -1;
}

/* Decides drop_token_types for a tokenizer loaded from folder `dir`, as transformers' AutoTokenizer
 * does: tokenizer_config.json "model_input_names" when it has them, else the "tokenizer_class"'s
 * (else `default_class`, the class transformers builds from vocab.txt or vocab.json alone). A
 * class not known here, or no class, keeps the post-processor's types (what the tokenizers
 * library returns). */
static qf_status decide_token_types(const char *dir, const char *default_class, qf_tokenizer *t, qf_error *err)
{
    qf_tok_config cfg = {.strip_accents = -1, .lists_token_types = -1};
    qf_status s = read_config(dir, &cfg, err);
    if (s != QF_STATUS_OK) return s;
    int types = cfg.lists_token_types;
    if (types < 0 && cfg.tokenizer_class[0]) types = class_lists_token_types(cfg.tokenizer_class);
    else if (types < 0 && default_class) types = class_lists_token_types(default_class);
    t->drop_token_types = types == 0;
    return QF_STATUS_OK;
}

/* sentence-transformers 6's Transformer module with do_lower_case (sentence_bert_config.json beside
 * the tokenizer): a Lowercase normalizer in front of the tokenizer's, unless its normalizer is a
 * Lowercase or a Sequence with one at its top level (BertNormalizer's own lowercase does not count:
 * Sequence[Lowercase, BertNormalizer] is what it builds then). */
static qf_status apply_sentence_lowercase(const char *dir, qf_tokenizer *t, qf_error *err)
{
    if (!qf_file_beside_exists(dir, "sentence_bert_config.json")) return QF_STATUS_OK;
    qf_file *f = NULL;
    bool lower = false;
    qf_status s = map_file(dir, "sentence_bert_config.json", &f, err);
    if (s != QF_STATUS_OK) return s;
    qf_tok_ctx c = {qf_file_path(f), err};
    s = qf_tok_parse_sbert_config_json(&c, qf_file_data(f), (size_t)qf_file_size(f), &lower);
    qf_file_unmap(f);
    if (s != QF_STATUS_OK || !lower) return s;
    qf_tok_norm *old = t->normalizer;
    if (old && old->kind == QF_TOK_NORM_LOWERCASE) return QF_STATUS_OK;
    for (size_t i = 0; old && old->kind == QF_TOK_NORM_SEQUENCE && i < old->n_items; i++)
        if (old->items[i].kind == QF_TOK_NORM_LOWERCASE) return QF_STATUS_OK;
    size_t n_old = !old ? 0 : old->kind == QF_TOK_NORM_SEQUENCE ? old->n_items : 1;
    qf_tok_norm *seq = calloc(1, sizeof *seq), *items = calloc(n_old + 1, sizeof *items);
    if (!seq || !items) {
        free(seq);
        free(items);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, dir, NULL, -1, NULL, "out of memory");
    }
    items[0].kind = QF_TOK_NORM_LOWERCASE;
    /* the old steps move into the new Sequence (their buffers with them) */
    if (old && old->kind == QF_TOK_NORM_SEQUENCE) {
        memcpy(items + 1, old->items, n_old * sizeof *items);
        free(old->items);
    } else if (old) {
        items[1] = *old;
    }
    free(old);
    seq->kind = QF_TOK_NORM_SEQUENCE;
    seq->items = items;
    seq->n_items = n_old + 1;
    t->normalizer = seq;
    t->sentence_lowercase = true;
    qf_tok_ctx folder = {dir, err};
    return match_added_tokens(&folder, t);
}

bool qf_tokenizer_sentence_lowercase(const qf_tokenizer *t)
{
    return t && t->sentence_lowercase;
}

bool qf_tokenizer_lowercases(const qf_tokenizer *t)
{
    const qf_tok_norm *nm = t ? t->normalizer : NULL;
    if (!nm) return false;
    if (nm->kind == QF_TOK_NORM_LOWERCASE || (nm->kind == QF_TOK_NORM_BERT && nm->lowercase)) return true;
    for (size_t i = 0; nm->kind == QF_TOK_NORM_SEQUENCE && i < nm->n_items; i++)
        if (nm->items[i].kind == QF_TOK_NORM_LOWERCASE || (nm->items[i].kind == QF_TOK_NORM_BERT && nm->items[i].lowercase))
            return true;
    return false;
}

bool qf_tokenizer_feeds_token_types(const qf_tokenizer *t)
{
    return t && !t->drop_token_types;
}

/* The folder a model path names: the path itself when it is a folder (`qforge verify model_dir/`),
 * else the folder holding the file. */
static bool folder_of(const char *path, char *dir, size_t size)
{
    if (is_dir(path)) {
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') n--;
        if (n >= size) return false;
        memcpy(dir, path, n);
        dir[n] = '\0';
        return true;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) return (size_t)snprintf(dir, size, ".") < size;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= size) return false;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return true;
}

/* The file names of SentencePiece models in Hugging Face folders (XLM-R and CamemBERT; DeBERTa-v2;
 * ALBERT and T5), in the order a folder is searched. */
static const char *const k_spm_names[] = {"sentencepiece.bpe.model", "spm.model", "spiece.model"};

/* A SentencePiece model `name` in folder `dir`, read as transformers converts it for the folder's
 * tokenizer class (tokenizer_config.json "tokenizer_class", else config.json "model_type"), with
 * that file's options. */
static qf_status load_spm(const char *dir, const char *name, qf_tokenizer **out, qf_error *err)
{
    qf_tok_config cfg = {.add_prefix_space = true, .strip_accents = -1, .lists_token_types = -1,
                         .lower_case = -1, .keep_accents = -1, .split_by_punct = -1};
    qf_status s = read_config(dir, &cfg, err);
    if (s != QF_STATUS_OK) return s;
    qf_tok_spm_options o = {.do_lower_case = cfg.lower_case, .keep_accents = cfg.keep_accents,
                            .split_by_punct = cfg.split_by_punct, .add_prefix_space = cfg.add_prefix_space};
    memcpy(o.tokenizer_class, cfg.tokenizer_class, sizeof o.tokenizer_class);
    qf_file *f = NULL;
    if (!o.tokenizer_class[0] && qf_file_beside_exists(dir, "config.json")) {
        if ((s = map_file(dir, "config.json", &f, err)) != QF_STATUS_OK) return s;
        qf_tok_ctx cc = {qf_file_path(f), err};
        s = qf_tok_parse_model_type_json(&cc, qf_file_data(f), (size_t)qf_file_size(f), o.model_type);
        qf_file_unmap(f);
        if (s != QF_STATUS_OK) return s;
    }
    if ((s = map_file(dir, name, &f, err)) != QF_STATUS_OK) return s;
    qf_tok_ctx c = {qf_file_path(f), err};
    char *json = NULL;
    size_t len = 0;
    s = qf_tok_spm_to_json(&c, qf_file_data(f), (size_t)qf_file_size(f), &o, &json, &len);
    if (s == QF_STATUS_OK) s = qf_tokenizer_load_json(json, len, qf_file_path(f), out, err);
    free(json);
    qf_file_unmap(f);
    if (s == QF_STATUS_OK && ((s = decide_token_types(dir, qf_tok_spm_class(&o), *out, err)) != QF_STATUS_OK ||
                              (s = apply_sentence_lowercase(dir, *out, err)) != QF_STATUS_OK)) {
        qf_tokenizer_destroy(*out);
        *out = NULL;
    }
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

qf_status qf_tokenizer_load(const char *path, qf_tokenizer **out, qf_error *err)
{
    if (!out || !path) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "NULL argument");
    *out = NULL;
    if (!is_dir(path) && ends_with(path, ".model")) { /* a SentencePiece model: read with its folder's settings */
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        if (!folder_of(path, dir, sizeof dir))
            return qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, NULL, "path is longer than %d bytes", PATH_MAX - 1);
        return load_spm(dir, slash ? slash + 1 : path, out, err);
    }
    if (!is_dir(path)) return load_json_file(NULL, path, out, err);
    /* the folder's files are found by qforge: each must be a regular file resolving inside it */
    char *vt = join(path, "vocab.txt"), *vj = join(path, "vocab.json"), *mt = join(path, "merges.txt");
    qf_status s = QF_STATUS_OK;
    qf_tokenizer *t = NULL;
    /* a SentencePiece model, when the folder holds none of the files read before it */
    const char *spm = NULL;
    if (!qf_file_beside_exists(path, "tokenizer.json") && !qf_file_beside_exists(path, "vocab.txt") &&
        !(qf_file_beside_exists(path, "vocab.json") && qf_file_beside_exists(path, "merges.txt")))
        for (size_t i = 0; !spm && i < sizeof k_spm_names / sizeof k_spm_names[0]; i++)
            if (qf_file_beside_exists(path, k_spm_names[i])) spm = k_spm_names[i];
    if (!vt || !vj || !mt) {
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    } else if (qf_file_beside_exists(path, "tokenizer.json")) {
        s = load_json_file(path, "tokenizer.json", out, err);
        if (s == QF_STATUS_OK && ((s = decide_token_types(path, NULL, *out, err)) != QF_STATUS_OK ||
                                  (s = apply_sentence_lowercase(path, *out, err)) != QF_STATUS_OK)) {
            qf_tokenizer_destroy(*out);
            *out = NULL;
        }
    } else if (spm) {
        s = load_spm(path, spm, out, err);
    } else if (!(t = qf_tok_alloc())) {
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    } else {
        qf_tok_ctx c = {path, err};
        if (qf_file_beside_exists(path, "vocab.txt")) {
            s = load_vocab_txt(path, vt, t, err);
            if (s == QF_STATUS_OK) s = decide_token_types(path, "BertTokenizer", t, err);
        } else if (qf_file_beside_exists(path, "vocab.json") && qf_file_beside_exists(path, "merges.txt")) {
            s = load_bpe_files(path, vj, mt, t, err);
            if (s == QF_STATUS_OK) s = decide_token_types(path, "RobertaTokenizer", t, err);
        } else {
            s = qf_error_set(err, QF_STATUS_NOT_FOUND, path, NULL, -1, NULL,
                             "no tokenizer.json, vocab.txt, vocab.json + merges.txt, or SentencePiece model "
                             "(sentencepiece.bpe.model, spm.model, spiece.model) in the folder");
        }
        if (s == QF_STATUS_OK) s = qf_tok_finish(&c, t);
        if (s == QF_STATUS_OK) s = apply_sentence_lowercase(path, t, err);
        if (s == QF_STATUS_OK) {
            *out = t;
            t = NULL;
        }
    }
    qf_tokenizer_destroy(t);
    free(vt);
    free(vj);
    free(mt);
    return s;
}

qf_status qf_tokenizer_find(const char *explicit_path, const char *const *beside, size_t nbeside, qf_tokenizer **out,
                            char *used, size_t used_size, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    *out = NULL;
    if (used && used_size) used[0] = '\0';
    if (explicit_path) {
        if (used && used_size) snprintf(used, used_size, "%s", explicit_path);
        return qf_tokenizer_load(explicit_path, out, err);
    }
    static const char *const names[] = {"tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model",
                                        "spm.model", "spiece.model"};
    for (size_t i = 0; i < nbeside; i++) {
        if (!beside || !beside[i]) continue;
        char dir[PATH_MAX];
        if (!folder_of(beside[i], dir, sizeof dir)) {
            qf_error_set(err, QF_STATUS_LIMIT, beside[i], NULL, -1, NULL, "path is longer than %d bytes", PATH_MAX - 1);
            qf_error_expected(err, "< %d bytes", PATH_MAX);
            return QF_STATUS_LIMIT;
        }
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            if (!qf_file_beside_exists(dir, names[k])) continue;
            if (used && used_size) {
                if (k == 0) snprintf(used, used_size, "%s/%s", dir, names[k]);
                else snprintf(used, used_size, "%s", dir);
            }
            /* found beside a model: loaded as its folder, whose files must stay inside it */
            qf_status s = qf_tokenizer_load(dir, out, err);
            if (s && used && used_size) used[0] = '\0';
            return s;
        }
    }
    return QF_STATUS_OK;
}
