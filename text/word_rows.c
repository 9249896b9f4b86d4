/*
 * text/word_rows.c — token-classification data: JSONL rows of words with word-level tags
 * ({"tokens", "labels"} as CoNLL / Hugging Face datasets hold them, or {"text", "labels"} split at
 * whitespace), tokenized once with offsets, each word tied to its first token. Used by
 * `qforge verify --job token-classification` (verify/job_ner.c).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/limits.h"
#include "qforge/text.h"
#include "text/jsonl.h"

typedef struct word_row_store {
    qf_word_row row;
    int32_t *ids, *types, *offsets, *first;
    uint8_t *special;
    char **labels;
    char *text;
} word_row_store;

struct qf_word_rows {
    word_row_store *rows;
    size_t count, cap, labelled;
    char *path;
    char sha256[65];
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void store_free(word_row_store *r)
{
    if (r->labels)
        for (size_t i = 0; i < r->row.num_words; i++) free(r->labels[i]);
    free(r->labels);
    free(r->ids);
    free(r->types);
    free(r->offsets);
    free(r->first);
    free(r->special);
    free(r->text);
}

static qf_status row_error(qf_error *err, const char *path, size_t line, uint64_t offset, const char *field,
                           const char *msg)
{
    char part[48];
    snprintf(part, sizeof part, "line %zu", line);
    return qf_error_set(err, QF_STATUS_FORMAT, path, part, (int64_t)offset, field, "%s", msg);
}

static qf_status no_memory(qf_error *err, const char *path)
{
    return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
}

/* The words of the row into *text (joined by single spaces, or the "text" as it is) with each
 * word's byte span [start[i], end[i]). */
static qf_status read_words(json_object *row, const char *path, size_t line, uint64_t offset, word_row_store *r,
                            size_t **starts, size_t **ends, qf_error *err)
{
    json_object *tokens = NULL, *text = NULL;
    json_object_object_get_ex(row, "tokens", &tokens);
    json_object_object_get_ex(row, "text", &text);
    if (tokens && json_object_is_type(tokens, json_type_null)) tokens = NULL;
    if (text && json_object_is_type(text, json_type_null)) text = NULL;
    char msg[QF_ERROR_MESSAGE_MAX];
    if (tokens && text)
        return row_error(err, path, line, offset, "tokens",
                         "row has both \"tokens\" and \"text\": give the words one way");
    if (!tokens && !text) {
        json_object *ids = NULL;
        return row_error(err, path, line, offset, "tokens",
                         json_object_object_get_ex(row, "input_ids", &ids)
                             ? "row has \"input_ids\" but no words: word-labelled rows need \"tokens\" or \"text\""
                             : "row has neither \"tokens\" (an array of words) nor a \"text\" string");
    }
    size_t n = 0, len = 0;
    if (tokens) {
        if (!json_object_is_type(tokens, json_type_array))
            return row_error(err, path, line, offset, "tokens", "\"tokens\" is not an array of words");
        n = json_object_array_length(tokens);
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(tokens, i);
            if (!json_object_is_type(w, json_type_string)) {
                snprintf(msg, sizeof msg, "\"tokens\"[%zu] is %s, not a string", i,
                         json_type_to_name(json_object_get_type(w)));
                return row_error(err, path, line, offset, "tokens", msg);
            }
            size_t wl = (size_t)json_object_get_string_len(w);
            const char *ws = json_object_get_string(w);
            bool spaced = false;
            for (size_t k = 0; k < wl; k++) spaced |= is_space(ws[k]);
            if (wl == 0 || spaced) {
                snprintf(msg, sizeof msg, "\"tokens\"[%zu] is %s: a word is a non-empty string without whitespace", i,
                         wl == 0 ? "empty" : "a string with whitespace");
                return row_error(err, path, line, offset, "tokens", msg);
            }
            len += wl + (i > 0);
        }
    } else {
        if (!json_object_is_type(text, json_type_string))
            return row_error(err, path, line, offset, "text", "\"text\" is not a string");
        len = (size_t)json_object_get_string_len(text);
    }
    if (!(r->text = malloc(len + 1))) return no_memory(err, path);
    if (tokens) {
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(tokens, i);
            if (i) r->text[at++] = ' ';
            memcpy(r->text + at, json_object_get_string(w), (size_t)json_object_get_string_len(w));
            at += (size_t)json_object_get_string_len(w);
        }
    } else {
        memcpy(r->text, json_object_get_string(text), len);
        n = 0;
        for (size_t k = 0; k < len; k++) n += !is_space(r->text[k]) && (k == 0 || is_space(r->text[k - 1]));
    }
    r->text[len] = '\0';
    r->row.text_len = len;
    if (n == 0) return row_error(err, path, line, offset, tokens ? "tokens" : "text", "row has no words");
    *starts = malloc(n * sizeof **starts);
    *ends = malloc(n * sizeof **ends);
    if (!*starts || !*ends) return no_memory(err, path);
    size_t w = 0;
    for (size_t k = 0; k < len; k++) {
        if (is_space(r->text[k])) continue;
        if (k == 0 || is_space(r->text[k - 1])) (*starts)[w] = k;
        if (k + 1 == len || is_space(r->text[k + 1])) (*ends)[w++] = k + 1;
    }
    r->row.num_words = n;
    return QF_STATUS_OK;
}

static qf_status read_labels(json_object *row, const char *path, size_t line, uint64_t offset, word_row_store *r,
                             qf_error *err)
{
    json_object *labels = NULL;
    json_object_object_get_ex(row, "labels", &labels);
    if (!labels || json_object_is_type(labels, json_type_null)) return QF_STATUS_OK;
    char msg[QF_ERROR_MESSAGE_MAX];
    if (!json_object_is_type(labels, json_type_array))
        return row_error(err, path, line, offset, "labels", "\"labels\" is not an array of tag strings");
    size_t n = json_object_array_length(labels);
    if (n != r->row.num_words) {
        snprintf(msg, sizeof msg, "\"labels\" has %zu tags for %zu words: one tag per word", n, r->row.num_words);
        return row_error(err, path, line, offset, "labels", msg);
    }
    if (!(r->labels = calloc(n, sizeof *r->labels))) return no_memory(err, path);
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(labels, i);
        if (!json_object_is_type(t, json_type_string)) {
            snprintf(msg, sizeof msg, "\"labels\"[%zu] is %s, not a tag string", i,
                     json_type_to_name(json_object_get_type(t)));
            return row_error(err, path, line, offset, "labels", msg);
        }
        if (strlen(json_object_get_string(t)) != (size_t)json_object_get_string_len(t)) {
            snprintf(msg, sizeof msg, "\"labels\"[%zu] holds a NUL character", i);
            return row_error(err, path, line, offset, "labels", msg);
        }
        if (!(r->labels[i] = strdup(json_object_get_string(t)))) return no_memory(err, path);
    }
    return QF_STATUS_OK;
}

/* Each word's first token: the first non-special token whose byte span overlaps the word's. */
static void tie_words(word_row_store *r, const size_t *starts, const size_t *ends)
{
    const int32_t *o = r->offsets;
    size_t w = 0;
    for (size_t i = 0; i < r->row.num_words; i++) r->first[i] = -1;
    for (int32_t t = 0; t < r->row.length; t++) {
        if (r->special[t]) continue;
        size_t bs = (size_t)o[2 * t], be = (size_t)o[2 * t + 1];
        if (be <= bs) continue;
        while (w < r->row.num_words && ends[w] <= bs) w++;
        if (w == r->row.num_words) break;
        if (starts[w] < be && r->first[w] < 0) r->first[w] = t;
    }
}

static qf_status parse_row(qf_word_rows *d, const char *path, size_t line, uint64_t offset, json_object *row,
                           const qf_tokenizer *tok, const qf_dataset_params *p, qf_encoding *enc, qf_error *err)
{
    if (!json_object_is_type(row, json_type_object))
        return row_error(err, path, line, offset, NULL, "row is not a JSON object");
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        word_row_store *rows = realloc(d->rows, cap * sizeof *rows);
        if (!rows) return no_memory(err, path);
        d->rows = rows;
        d->cap = cap;
    }
    word_row_store *r = &d->rows[d->count];
    memset(r, 0, sizeof *r);
    size_t *starts = NULL, *ends = NULL;
    qf_status s = read_words(row, path, line, offset, r, &starts, &ends, err);
    if (!s) s = read_labels(row, path, line, offset, r, err);
    if (!s && !tok)
        s = row_error(err, path, line, offset, NULL, "word rows need a tokenizer and none was found (give --tokenizer PATH)");
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = p->max_length;
    if (!s && (s = qf_tokenizer_encode(tok, r->text, r->row.text_len, &tp, enc, err)) != QF_STATUS_OK && err &&
        !err->part[0]) {
        snprintf(err->part, sizeof err->part, "line %zu", line);
        err->offset = (int64_t)offset;
    }
    if (!s && enc->length == 0)
        s = row_error(err, path, line, offset, NULL, "row has no tokens: its words give none and the tokenizer adds "
                                                     "no special tokens");
    size_t n = enc->length;
    if (!s) {
        r->ids = malloc(n * sizeof *r->ids);
        r->types = malloc(n * sizeof *r->types);
        r->offsets = malloc(2 * n * sizeof *r->offsets);
        r->special = malloc(n);
        r->first = malloc(r->row.num_words * sizeof *r->first);
        if (!r->ids || !r->types || !r->offsets || !r->special || !r->first) s = no_memory(err, path);
    }
    if (!s) {
        memcpy(r->ids, enc->input_ids, n * sizeof *r->ids);
        memcpy(r->types, enc->token_type_ids, n * sizeof *r->types);
        for (size_t t = 0; t < n; t++) r->special[t] = enc->sequence_ids[t] < 0;
        r->row.length = (int32_t)n;
        /* byte spans for tying words, then the character offsets kept for the row */
        qf_text_chars_to_bytes(r->text, r->row.text_len, enc->offsets, r->offsets, 2 * n);
        tie_words(r, starts, ends);
        memcpy(r->offsets, enc->offsets, 2 * n * sizeof *r->offsets);
        r->row.input_ids = r->ids;
        r->row.token_type_ids = r->types;
        r->row.offsets = r->offsets;
        r->row.special = r->special;
        r->row.word_first_token = r->first;
        r->row.labels = (const char *const *)r->labels;
        r->row.text = r->text;
        r->row.line = line;
        r->row.offset = offset;
        d->labelled += r->labels != NULL;
        d->count++;
    } else {
        store_free(r);
    }
    free(starts);
    free(ends);
    return s;
}

qf_status qf_word_rows_load(const char *path, const qf_tokenizer *tokenizer, const qf_dataset_params *params,
                            qf_word_rows **out, qf_error *err)
{
    qf_dataset_params defaults = qf_dataset_params_default();
    const qf_dataset_params *p = params ? params : &defaults;
    *out = NULL;
    qf_file *f = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (s) return s;
    qf_word_rows *d = calloc(1, sizeof *d);
    qf_jsonl rows;
    if (qf_jsonl_open(&rows, path, qf_file_data(f), qf_file_size(f), err) || !d || !(d->path = strdup(path))) {
        qf_jsonl_close(&rows);
        qf_word_rows_destroy(d);
        qf_file_unmap(f);
        return no_memory(err, path);
    }
    uint8_t digest[32];
    qf_sha256(qf_file_data(f), (size_t)qf_file_size(f), digest);
    qf_sha256_hex(digest, d->sha256);
    qf_encoding enc;
    qf_encoding_init(&enc);
    while (!s && (p->limit <= 0 || (int64_t)d->count < p->limit)) {
        json_object *row = NULL;
        if ((s = qf_jsonl_next(&rows, &row, err)) || !row) break;
        size_t line = rows.line;
        uint64_t start = rows.offset;
        s = parse_row(d, path, line, start, row, tokenizer, p, &enc, err);
        json_object_put(row);
        if (s) qf_error_set_file(err, path);
    }
    qf_encoding_free(&enc);
    qf_jsonl_close(&rows);
    qf_file_unmap(f);
    if (!s && d->count == 0) s = qf_error_set(err, QF_STATUS_FORMAT, path, NULL, 0, NULL, "no rows");
    if (s) {
        qf_word_rows_destroy(d);
        return s;
    }
    *out = d;
    return QF_STATUS_OK;
}

size_t qf_word_rows_size(const qf_word_rows *w) { return w->count; }
size_t qf_word_rows_labelled(const qf_word_rows *w) { return w->labelled; }
const char *qf_word_rows_path(const qf_word_rows *w) { return w->path; }
const char *qf_word_rows_sha256(const qf_word_rows *w) { return w->sha256; }

const qf_word_row *qf_word_rows_at(const qf_word_rows *w, size_t i)
{
    return i < w->count ? &w->rows[i].row : NULL;
}

void qf_word_rows_destroy(qf_word_rows *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) store_free(&w->rows[i]);
    free(w->rows);
    free(w->path);
    free(w);
}
