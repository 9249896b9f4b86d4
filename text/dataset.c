/*
 * text/dataset.c — evaluation and calibration data for the encoder: JSONL rows of text (or a pair
 * of texts: "text" and "text_pair") or token ids with an optional label, tokenized once into one
 * flat id buffer with their type ids. Used by `qforge verify`, `qforge run` and calibration.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/text.h"
#include "text/jsonl.h"

struct qf_dataset {
    int32_t *ids, *types; /* all rows back to back */
    size_t used, cap;
    qf_dataset_row *rows;
    size_t *offsets; /* row i starts at offsets[i] in ids/types until the rows are finalised */
    size_t count, row_cap, labelled;
    char sha256[65];
    /* keep_text: every row's "text" back to back (NUL after each); text_at[i] == SIZE_MAX: none */
    char *texts;
    size_t texts_used, texts_cap;
    size_t *text_at, *text_len;
    /* where each row is in the file, for errors found after loading (qf_dataset_check_labels) */
    char *path;
    size_t *line;
    uint64_t *offset;
    bool *label_named; /* the label was a class name (label2id / id2label) */
    bool *pair;        /* the row was encoded as a pair */
    /* params.prompt: its tokens (measured alone), what the pooling skips, and the prompted text of
     * the row being read (grown as needed) */
    int32_t prompt_tokens, pool_skip;
    char *prompted;
    size_t prompted_cap;
};

qf_dataset_params qf_dataset_params_default(void)
{
    qf_dataset_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static bool grow_ids(qf_dataset *d, size_t more)
{
    if (d->used + more <= d->cap) return true;
    size_t cap = d->cap ? d->cap : 4096;
    while (cap < d->used + more) cap *= 2;
    int32_t *ids = realloc(d->ids, cap * sizeof *ids);
    if (!ids) return false;
    d->ids = ids;
    int32_t *types = realloc(d->types, cap * sizeof *types);
    if (!types) return false;
    d->types = types;
    d->cap = cap;
    return true;
}

static bool grow_rows(qf_dataset *d)
{
    if (d->count < d->row_cap) return true;
    size_t cap = d->row_cap ? d->row_cap * 2 : 1024;
    qf_dataset_row *rows = realloc(d->rows, cap * sizeof *rows);
    if (!rows) return false;
    d->rows = rows;
    size_t *offsets = realloc(d->offsets, cap * sizeof *offsets);
    if (!offsets) return false;
    d->offsets = offsets;
    size_t *text_at = realloc(d->text_at, cap * sizeof *text_at);
    if (!text_at) return false;
    d->text_at = text_at;
    size_t *text_len = realloc(d->text_len, cap * sizeof *text_len);
    if (!text_len) return false;
    d->text_len = text_len;
    size_t *line = realloc(d->line, cap * sizeof *line);
    if (!line) return false;
    d->line = line;
    uint64_t *offset = realloc(d->offset, cap * sizeof *offset);
    if (!offset) return false;
    d->offset = offset;
    bool *named = realloc(d->label_named, cap * sizeof *named);
    if (!named) return false;
    d->label_named = named;
    bool *pair = realloc(d->pair, cap * sizeof *pair);
    if (!pair) return false;
    d->pair = pair;
    d->row_cap = cap;
    return true;
}

/* The class index config.json gives the class name `name`: label2id first, else the id2label entry
 * whose value is `name` (configs that carry only id2label). 1: neither has it; -1: the index found
 * is not an integer in 0..INT32_MAX (*bad holds it, as JSON). */
static int class_of_name(json_object *config, const char *name, int32_t *id, const char **bad)
{
    json_object *map = NULL, *v = NULL;
    if (!config) return 1;
    if (json_object_object_get_ex(config, "label2id", &map) && json_object_is_type(map, json_type_object) &&
        json_object_object_get_ex(map, name, &v)) {
        int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        *bad = json_object_to_json_string(v);
        if (x < 0 || x > INT32_MAX) return -1; /* json-c clamps past int64: INT64_MAX lands here too */
        *id = (int32_t)x;
        return 0;
    }
    if (json_object_object_get_ex(config, "id2label", &map) && json_object_is_type(map, json_type_object)) {
        json_object_object_foreach(map, key, val) {
            if (!json_object_is_type(val, json_type_string) || strcmp(json_object_get_string(val), name) != 0) continue;
            char *end = NULL;
            long long x = strtoll(key, &end, 10);
            *bad = key;
            if (!*key || *end || x < 0 || x > INT32_MAX) return -1;
            *id = (int32_t)x;
            return 0;
        }
    }
    return 1;
}

/* Appends row `d->count`'s text (keep_text). */
static bool keep_text(qf_dataset *d, const char *text, size_t len)
{
    size_t need;
    if (!qf_add_size(len, 1, &need) || !qf_add_size(d->texts_used, need, &need)) return false;
    if (need > d->texts_cap) {
        size_t cap = d->texts_cap ? d->texts_cap : 65536;
        while (cap < need) {
            if (!qf_mul_size(cap, 2, &cap)) return false;
        }
        char *t = realloc(d->texts, cap);
        if (!t) return false;
        d->texts = t;
        d->texts_cap = cap;
    }
    memcpy(d->texts + d->texts_used, text, len);
    d->texts[d->texts_used + len] = '\0';
    d->text_at[d->count] = d->texts_used;
    d->text_len[d->count] = len;
    d->texts_used = need;
    return true;
}

/* "line N" into part[48]. */
static const char *row_part(size_t line, char *part)
{
    snprintf(part, 48, "line %zu", line);
    return part;
}

static qf_status row_error(qf_error *err, const char *path, size_t line, uint64_t offset, const char *msg)
{
    char part[48];
    return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, NULL, "%s", msg);
}

/* Reads an int array field into the id buffer (truncated to max_length); returns its length or -1. */
static int64_t read_int_array(qf_dataset *d, json_object *arr, int32_t max_length)
{
    size_t n = json_object_array_length(arr);
    if (max_length > 0 && n > (size_t)max_length) n = (size_t)max_length;
    if (!grow_ids(d, n)) return -2;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_int)) return -1;
        int64_t x = json_object_get_int64(v);
        if (x < 0 || x > INT32_MAX) return -1;
        d->ids[d->used + i] = (int32_t)x;
        d->types[d->used + i] = 0;
    }
    return (int64_t)n;
}

/* A "query" row ({"query", "text"}: a reranker's pair) reads as the pair (query, text): *text
 * becomes the query and *text_pair the text. Returns whether the row has a "query" (null: none). */
static bool query_row(json_object *row, json_object **text, json_object **text_pair, json_object **query)
{
    if (!json_object_object_get_ex(row, "query", query) || json_object_is_type(*query, json_type_null)) return false;
    if (json_object_is_type(*query, json_type_string) && *text && !*text_pair) {
        *text_pair = *text;
        *text = *query;
    }
    return true;
}

static qf_status check_query(json_object *query, json_object *text, json_object *text_pair, const char *path,
                             size_t line, uint64_t offset, qf_error *err)
{
    char part[48];
    if (!json_object_is_type(query, json_type_string))
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "query",
                            "\"query\" is %s, not a string", json_type_to_name(json_object_get_type(query)));
    if (text != query)
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "query",
                            "row has \"query\" but %s", text_pair ? "also \"text_pair\" (a row is one pair)"
                                                                  : "no \"text\" to pair it with");
    if (!json_object_is_type(text_pair, json_type_string))
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "text",
                            "\"text\" is %s, not a string", json_type_to_name(json_object_get_type(text_pair)));
    return QF_STATUS_OK;
}

/* The text of the other jobs' rows, so that their data files calibrate and run as they are: a
 * question-answering row {"question", "context"} is the pair (question, context); a word-labelled
 * row {"tokens": [...]} is its words joined by single spaces (the text the token-classification job
 * encodes; the joined string is added to the row as its "text"). Neither: *text stays NULL. */
static qf_status job_row_text(json_object *row, const char *path, size_t line, uint64_t offset, json_object **text,
                              json_object **text_pair, qf_error *err)
{
    char part[48];
    json_object *question = NULL, *context = NULL, *tokens = NULL;
    json_object_object_get_ex(row, "question", &question);
    json_object_object_get_ex(row, "context", &context);
    if (question || context) {
        const char *bad = !question || !json_object_is_type(question, json_type_string) ? "question"
                          : !context || !json_object_is_type(context, json_type_string) ? "context"
                                                                                       : NULL;
        if (bad)
            return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, bad,
                                "a question-answering row needs \"question\" and \"context\" strings (\"%s\" is %s)",
                                bad, json_type_to_name(json_object_get_type(bad[0] == 'q' ? question : context)));
        *text = question;
        *text_pair = context;
        return QF_STATUS_OK;
    }
    if (!json_object_object_get_ex(row, "tokens", &tokens)) return QF_STATUS_OK;
    if (!json_object_is_type(tokens, json_type_array) || json_object_array_length(tokens) == 0)
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "tokens",
                            "\"tokens\" is not a non-empty list of words");
    size_t n = json_object_array_length(tokens), total = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *w = json_object_array_get_idx(tokens, i);
        if (!json_object_is_type(w, json_type_string))
            return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "tokens",
                                "\"tokens\"[%zu] is %s, not a word", i, json_type_to_name(json_object_get_type(w)));
        total += (size_t)json_object_get_string_len(w) + 1; /* bounded by the line, itself bounded */
    }
    char *joined = malloc(total ? total : 1);
    if (!joined) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *w = json_object_array_get_idx(tokens, i);
        size_t len = (size_t)json_object_get_string_len(w);
        if (i) joined[at++] = ' ';
        memcpy(joined + at, json_object_get_string(w), len);
        at += len;
    }
    json_object *t = json_object_new_string_len(joined, (int)at);
    free(joined);
    if (!t || json_object_object_add(row, "text", t) != 0) {
        json_object_put(t);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    *text = t;
    return QF_STATUS_OK;
}

static qf_status parse_row(qf_dataset *d, const char *path, size_t line, uint64_t offset, json_object *row,
                           const qf_tokenizer *tok, const qf_dataset_params *p, json_object *config,
                           qf_encoding *enc, qf_error *err)
{
    if (!json_object_is_type(row, json_type_object)) return row_error(err, path, line, offset, "row is not a JSON object");
    json_object *text = NULL, *ids = NULL, *label = NULL, *types = NULL, *text_pair = NULL, *query = NULL;
    json_object_object_get_ex(row, "text", &text);
    json_object_object_get_ex(row, "text_pair", &text_pair);
    char part[48];
    if (p->texts == QF_DATASET_TEXTS_AS_WRITTEN && query_row(row, &text, &text_pair, &query)) {
        qf_status qs = check_query(query, text, text_pair, path, line, offset, err);
        if (qs) return qs;
    }
    json_object *ids_probe = NULL;
    if (!text && !text_pair && p->texts == QF_DATASET_TEXTS_AS_WRITTEN &&
        !json_object_object_get_ex(row, "input_ids", &ids_probe)) {
        qf_status js = job_row_text(row, path, line, offset, &text, &text_pair, err);
        if (js) return js;
    }
    if (p->texts == QF_DATASET_TEXTS_FIRST) text_pair = NULL; /* a "query" is not the text then either */
    if (p->texts == QF_DATASET_TEXTS_SECOND) {
        if (!text_pair || !json_object_is_type(text_pair, json_type_string))
            return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "text_pair",
                                "row has no \"text_pair\" string (every row of a pair dataset needs one)");
        text = text_pair;
        text_pair = NULL;
    }
    if (text_pair && !json_object_is_type(text_pair, json_type_string))
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "text_pair",
                            "\"text_pair\" is %s, not a string", json_type_to_name(json_object_get_type(text_pair)));
    if (text_pair && !(text && json_object_is_type(text, json_type_string)))
        return qf_error_set(err, QF_STATUS_FORMAT, path, row_part(line, part), (int64_t)offset, "text_pair",
                            "row has \"text_pair\" but no \"text\" string to pair it with");
    json_object_object_get_ex(row, "input_ids", &ids);
    json_object_object_get_ex(row, "label", &label);
    json_object_object_get_ex(row, "token_type_ids", &types);
    if (!grow_rows(d)) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    int64_t length;
    if (ids && p->prompt && p->prompt[0])
        return row_error(err, path, line, offset,
                         "row gives \"input_ids\": a prompt is prepended to text rows only (give \"text\", or no prompt)");
    if (ids) {
        if (!json_object_is_type(ids, json_type_array))
            return row_error(err, path, line, offset, "\"input_ids\" is not an array of integers");
        length = read_int_array(d, ids, p->max_length);
        if (length == -2) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        if (length < 0) return row_error(err, path, line, offset, "\"input_ids\" holds a value that is not an id");
        if (length == 0) return row_error(err, path, line, offset, "row has no tokens: \"input_ids\" is empty");
        if (types && json_object_is_type(types, json_type_array)) {
            for (int64_t i = 0; i < length && (size_t)i < json_object_array_length(types); i++) {
                json_object *v = json_object_array_get_idx(types, (size_t)i);
                /* json-c clamps what does not fit: read 64 bits and refuse past int32, as input_ids */
                const int64_t tt = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
                if (tt < 0 || tt > INT32_MAX)
                    return row_error(err, path, line, offset, "\"token_type_ids\" holds a value that is not a type id");
                d->types[d->used + (size_t)i] = (int32_t)tt;
            }
        }
    } else if (text && json_object_is_type(text, json_type_string)) {
        if (!tok)
            return row_error(err, path, line, offset,
                             "row has \"text\" but no tokenizer was found (give --tokenizer PATH)");
        qf_tokenize_params tp = qf_tokenize_params_default();
        tp.max_length = p->max_length;
        tp.add_special_tokens = !p->no_special_tokens;
        const char *first = json_object_get_string(text);
        size_t first_len = (size_t)json_object_get_string_len(text);
        if (p->prompt && p->prompt[0]) { /* encode() tokenizes prompt + text */
            size_t plen = strlen(p->prompt);
            if (plen + first_len + 1 > d->prompted_cap) {
                char *grown = realloc(d->prompted, plen + first_len + 1);
                if (!grown) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
                d->prompted = grown;
                d->prompted_cap = plen + first_len + 1;
            }
            memcpy(d->prompted, p->prompt, plen);
            memcpy(d->prompted + plen, first, first_len);
            d->prompted[plen + first_len] = '\0';
            first = d->prompted;
            first_len += plen;
        }
        qf_status s = text_pair ? qf_tokenizer_encode_pair(tok, first, first_len,
                                                           json_object_get_string(text_pair),
                                                           (size_t)json_object_get_string_len(text_pair), &tp, enc, err)
                                : qf_tokenizer_encode(tok, first, first_len, &tp, enc, err);
        if (s) {
            if (err && !err->part[0]) { /* the tokenizer's error, placed at this row */
                snprintf(err->part, sizeof err->part, "line %zu", line);
                err->offset = (int64_t)offset;
            }
            return s;
        }
        /* Nothing to copy (input_ids is NULL then): an empty or whitespace text under a tokenizer that
         * adds no special tokens. Refused like an empty "input_ids", before it reaches memcpy. */
        if (enc->length == 0)
            return row_error(err, path, line, offset,
                             "row has no tokens: \"text\" is empty or only whitespace and the tokenizer adds no "
                             "special tokens");
        length = (int64_t)enc->length;
        if (!grow_ids(d, enc->length)) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        memcpy(d->ids + d->used, enc->input_ids, enc->length * sizeof(int32_t));
        memcpy(d->types + d->used, enc->token_type_ids, enc->length * sizeof(int32_t));
    } else {
        return row_error(err, path, line, offset, "row has neither a \"text\" string nor \"input_ids\"");
    }
    if (length <= d->pool_skip) {
        char msg[QF_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg,
                 "row has no token after the prompt's %d (the pooling leaves those out: include_prompt false)",
                 (int)d->pool_skip);
        return row_error(err, path, line, offset, msg);
    }
    int32_t lab = -1;
    bool named = false;
    if (label && !json_object_is_type(label, json_type_null) && !p->ignore_label) {
        char msg[QF_ERROR_MESSAGE_MAX];
        if (json_object_is_type(label, json_type_int)) {
            /* json-c clamps integers past int64 to its ends: those fail here too */
            int64_t v = json_object_get_int64(label);
            if (v < 0 || v > INT32_MAX) {
                snprintf(msg, sizeof msg, "\"label\" %.40s is %s: a class index is 0 or more", json_object_to_json_string(label),
                         v < 0 ? "negative" : "past int32");
                return row_error(err, path, line, offset, msg);
            }
            lab = (int32_t)v;
        } else if (json_object_is_type(label, json_type_string)) {
            const char *bad = "";
            int r = class_of_name(config, json_object_get_string(label), &lab, &bad);
            if (r > 0) {
                snprintf(msg, sizeof msg, "label \"%.100s\" is not in config.json's label2id or id2label",
                         json_object_get_string(label));
                return row_error(err, path, line, offset, msg);
            }
            if (r < 0) {
                snprintf(msg, sizeof msg, "label \"%.100s\": config.json gives it the class %.40s, not an index 0 or more",
                         json_object_get_string(label), bad);
                return row_error(err, path, line, offset, msg);
            }
            named = true;
        } else {
            snprintf(msg, sizeof msg, "\"label\" %.40s is neither an integer nor a string",
                     json_object_to_json_string(label));
            return row_error(err, path, line, offset, msg);
        }
        d->labelled++;
    }
    d->text_at[d->count] = SIZE_MAX;
    if (p->keep_text && text && json_object_is_type(text, json_type_string) &&
        !keep_text(d, json_object_get_string(text), (size_t)json_object_get_string_len(text)))
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory for the row texts");
    d->offsets[d->count] = d->used;
    d->line[d->count] = line;
    d->offset[d->count] = offset;
    d->label_named[d->count] = named;
    d->pair[d->count] = !ids && text_pair;
    d->rows[d->count].length = (int32_t)length;
    d->rows[d->count].label = lab;
    d->used += (size_t)length;
    d->count++;
    return QF_STATUS_OK;
}

/* The prompt's length in tokens as sentence-transformers measures it (Transformer._get_prompt_length):
 * the prompt tokenized alone as a row is (special tokens, truncation), less its last token when
 * that is a special one. */
static qf_status measure_prompt(qf_dataset *d, const char *path, const qf_tokenizer *tok, const qf_dataset_params *p,
                                qf_encoding *enc, qf_error *err)
{
    if (!tok)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, "prompt",
                            "a prompt is prepended to the text of each row, and no tokenizer was found (give --tokenizer PATH)");
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = p->max_length;
    tp.add_special_tokens = !p->no_special_tokens;
    qf_status s = qf_tokenizer_encode(tok, p->prompt, strlen(p->prompt), &tp, enc, err);
    if (s) return s;
    size_t n = enc->length;
    if (n > 0 && qf_tokenizer_is_special_id(tok, enc->input_ids[n - 1])) n--;
    d->prompt_tokens = (int32_t)n; /* bounded by the prompt's bytes plus the special tokens */
    d->pool_skip = p->prompt_excluded ? d->prompt_tokens : 0;
    return QF_STATUS_OK;
}

qf_status qf_dataset_load(const char *path, const qf_tokenizer *tokenizer, const qf_dataset_params *params,
                          qf_dataset **out, qf_error *err)
{
    qf_dataset_params defaults = qf_dataset_params_default();
    const qf_dataset_params *p = params ? params : &defaults;
    *out = NULL;
    qf_file *f = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (s) return s;
    qf_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    uint8_t digest[32];
    qf_sha256(qf_file_data(f), (size_t)qf_file_size(f), digest);
    qf_sha256_hex(digest, d->sha256);
    json_object *config = p->config_json ? json_tokener_parse(p->config_json) : NULL;
    qf_jsonl rows;
    s = qf_jsonl_open(&rows, path, qf_file_data(f), qf_file_size(f), err);
    if (!s && !(d->path = strdup(path))) s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    qf_encoding enc;
    qf_encoding_init(&enc);
    if (!s && p->prompt && p->prompt[0]) s = measure_prompt(d, path, tokenizer, p, &enc, err);
    while (!s && (p->limit <= 0 || (int64_t)d->count < p->limit)) {
        json_object *row = NULL;
        if ((s = qf_jsonl_next(&rows, &row, err)) || !row) break;
        size_t line = rows.line;
        uint64_t start = rows.offset;
        s = parse_row(d, path, line, start, row, tokenizer, p, config, &enc, err);
        json_object_put(row);
        if (s) qf_error_set_file(err, path);
    }
    qf_encoding_free(&enc);
    qf_jsonl_close(&rows);
    json_object_put(config);
    qf_file_unmap(f);
    if (!s && d->count == 0) s = qf_error_set(err, QF_STATUS_FORMAT, path, NULL, 0, NULL, "no rows");
    if (s) {
        qf_dataset_destroy(d);
        return s;
    }
    for (size_t i = 0; i < d->count; i++) {
        d->rows[i].input_ids = d->ids + d->offsets[i];
        d->rows[i].token_type_ids = d->types + d->offsets[i];
    }
    *out = d;
    return QF_STATUS_OK;
}

size_t qf_dataset_size(const qf_dataset *d) { return d->count; }
int32_t qf_dataset_pool_skip(const qf_dataset *d) { return d->pool_skip; }
bool qf_dataset_row_is_pair(const qf_dataset *d, size_t i) { return i < d->count && d->pair[i]; }
size_t qf_dataset_labelled(const qf_dataset *d) { return d->labelled; }
const char *qf_dataset_sha256(const qf_dataset *d) { return d->sha256; }

const qf_dataset_row *qf_dataset_row_at(const qf_dataset *d, size_t i) { return i < d->count ? &d->rows[i] : NULL; }

qf_status qf_dataset_check_labels(const qf_dataset *d, int64_t num_labels, qf_error *err)
{
    if (!d) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "dataset is NULL");
    for (size_t i = 0; i < d->count; i++) {
        int32_t lab = d->rows[i].label;
        if (lab < 0 || lab < num_labels) continue;
        char part[48];
        snprintf(part, sizeof part, "line %zu", d->line[i]);
        qf_status s = qf_error_set(err, QF_STATUS_FORMAT, d->path, part, (int64_t)d->offset[i], "label",
                                   "\"label\" %d%s is outside the model's %lld classes (0..%lld)", (int)lab,
                                   d->label_named[i] ? " (its class name's index in config.json)" : "",
                                   (long long)num_labels, (long long)num_labels - 1);
        return s;
    }
    return QF_STATUS_OK;
}

const char *qf_dataset_row_text(const qf_dataset *d, size_t i, size_t *len)
{
    if (i >= d->count || d->text_at[i] == SIZE_MAX) return NULL;
    if (len) *len = d->text_len[i];
    return d->texts + d->text_at[i];
}

void qf_dataset_destroy(qf_dataset *d)
{
    if (!d) return;
    free(d->texts);
    free(d->prompted);
    free(d->path);
    free(d->line);
    free(d->offset);
    free(d->label_named);
    free(d->pair);
    free(d->text_at);
    free(d->text_len);
    free(d->ids);
    free(d->types);
    free(d->rows);
    free(d->offsets);
    free(d);
}

int64_t qf_dataset_pack(const qf_dataset *d, size_t first, size_t n, int32_t *ids, int32_t *mask, int32_t *types)
{
    int64_t length = 0;
    for (size_t i = 0; i < n; i++) {
        const qf_dataset_row *r = qf_dataset_row_at(d, first + i);
        if (r->length > length) length = r->length;
    }
    for (size_t i = 0; i < n; i++) {
        const qf_dataset_row *r = qf_dataset_row_at(d, first + i);
        for (int64_t t = 0; t < length; t++) {
            size_t at = i * (size_t)length + (size_t)t;
            bool real = t < r->length;
            ids[at] = real ? r->input_ids[t] : 0;
            types[at] = real ? r->token_type_ids[t] : 0;
            mask[at] = real ? 1 : 0;
        }
    }
    return length;
}
