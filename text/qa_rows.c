/*
 * text/qa_rows.c — the rows of the question-answering job: JSONL {"question", "context"} with
 * optional gold "answers" (SQuAD / Hugging Face datasets form, or a plain list of strings), or
 * {"input_ids"} rows run as they are. Read and checked whole before the encoder sees them; the
 * windows over each context are made in verify/qa.c. Used by `qforge run --output spans` and
 * `qforge verify --job qa`.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/limits.h"
#include "qforge/text.h"
#include "text/jsonl.h"

typedef struct qa_row_store {
    char *question, *context;
    int32_t *input_ids, *token_type_ids;
    char **answer_texts;
    int64_t *answer_starts;
} qa_row_store;

struct qf_qa_rows {
    qf_qa_row *rows;
    qa_row_store *store;
    size_t count, cap, answered;
    char sha256[65];
};

size_t qf_qa_rows_count(const qf_qa_rows *r) { return r ? r->count : 0; }
size_t qf_qa_rows_answered(const qf_qa_rows *r) { return r ? r->answered : 0; }
const char *qf_qa_rows_sha256(const qf_qa_rows *r) { return r ? r->sha256 : ""; }

const qf_qa_row *qf_qa_rows_at(const qf_qa_rows *r, size_t i)
{
    return r && i < r->count ? &r->rows[i] : NULL;
}

static void store_free(qa_row_store *s, size_t num_answers)
{
    free(s->question);
    free(s->context);
    free(s->input_ids);
    free(s->token_type_ids);
    for (size_t a = 0; s->answer_texts && a < num_answers; a++) free(s->answer_texts[a]);
    free(s->answer_texts);
    free(s->answer_starts);
    memset(s, 0, sizeof *s);
}

void qf_qa_rows_destroy(qf_qa_rows *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) store_free(&r->store[i], r->rows[i].num_answers);
    free(r->rows);
    free(r->store);
    free(r);
}

/* A row's error: the file, "line N", the row's byte offset and the field. */
static qf_status field_error(qf_error *err, const char *path, size_t line, uint64_t offset, const char *field,
                             const char *fmt, const char *detail)
{
    char part[48];
    snprintf(part, sizeof part, "line %zu", line);
    char msg[QF_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    if (!field) return qf_error_set(err, QF_STATUS_FORMAT, path, part, (int64_t)offset, NULL, "%s", msg);
    return qf_error_set(err, QF_STATUS_FORMAT, path, part, (int64_t)offset, field, "field %s: %s", field, msg);
}

static char *copy_string(json_object *s, size_t *len)
{
    size_t n = (size_t)json_object_get_string_len(s);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, json_object_get_string(s), n);
    c[n] = '\0';
    *len = n;
    return c;
}

/* An int array of ids (0..INT32_MAX), copied; -1: a value that is not one; -2: out of memory. */
static int read_ids(json_object *arr, int32_t **out, size_t *n)
{
    *n = json_object_array_length(arr);
    *out = malloc((*n ? *n : 1) * sizeof(int32_t));
    if (!*out) return -2;
    for (size_t i = 0; i < *n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (x < 0 || x > INT32_MAX) return -1;
        (*out)[i] = (int32_t)x;
    }
    return 0;
}

/* The "answers" of a row: {"text": [...], "answer_start": [...]} or ["...", ...]. */
static qf_status read_answers(const char *path, size_t line, uint64_t offset, json_object *answers, qf_qa_row *row,
                              qa_row_store *st, qf_error *err)
{
    json_object *texts = NULL, *starts = NULL;
    bool plain = json_object_is_type(answers, json_type_array);
    if (plain) {
        texts = answers;
    } else if (json_object_is_type(answers, json_type_object)) {
        if (!json_object_object_get_ex(answers, "text", &texts) || !json_object_is_type(texts, json_type_array))
            return field_error(err, path, line, offset, "answers.text",
                               "\"answers\" needs \"text\": an array of strings%s", NULL);
        if (!json_object_object_get_ex(answers, "answer_start", &starts) ||
            !json_object_is_type(starts, json_type_array))
            return field_error(err, path, line, offset, "answers.answer_start",
                               "\"answers\" needs \"answer_start\": an array of character offsets%s", NULL);
        if (json_object_array_length(starts) != json_object_array_length(texts)) {
            char d[64];
            snprintf(d, sizeof d, "%zu texts and %zu starts", json_object_array_length(texts),
                     json_object_array_length(starts));
            return field_error(err, path, line, offset, "answers.answer_start",
                               "\"answers\" has %s: each text needs its start", d);
        }
    } else {
        return field_error(err, path, line, offset, "answers",
                           "\"answers\" is %s: give {\"text\": [...], \"answer_start\": [...]} or a list of strings",
                           json_type_to_name(json_object_get_type(answers)));
    }
    size_t n = json_object_array_length(texts);
    if (n == 0)
        return field_error(err, path, line, offset, plain ? "answers" : "answers.text",
                           "\"answers\" holds no answer%s (a question without answer, as SQuAD v2 has, cannot be "
                           "scored by SQuAD v1.1 exact match and F1)", NULL);
    if (n > QF_QA_MAX_ANSWERS) {
        char d[64];
        snprintf(d, sizeof d, "%zu answers: at most %u", n, QF_QA_MAX_ANSWERS);
        return field_error(err, path, line, offset, "answers", "\"answers\" holds %s are read", d);
    }
    if (!(st->answer_texts = calloc(n, sizeof(char *))) || !(st->answer_starts = malloc(n * sizeof(int64_t))))
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    row->num_answers = n;
    for (size_t a = 0; a < n; a++) {
        char field[64];
        snprintf(field, sizeof field, plain ? "answers[%zu]" : "answers.text[%zu]", a);
        json_object *t = json_object_array_get_idx(texts, a);
        if (!json_object_is_type(t, json_type_string))
            return field_error(err, path, line, offset, field, "%s is not a string",
                               json_type_to_name(json_object_get_type(t)));
        size_t len;
        if (!(st->answer_texts[a] = copy_string(t, &len)))
            return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        st->answer_starts[a] = -1;
        if (plain) continue;
        snprintf(field, sizeof field, "answers.answer_start[%zu]", a);
        json_object *s = json_object_array_get_idx(starts, a);
        int64_t x = json_object_is_type(s, json_type_int) ? json_object_get_int64(s) : -1;
        if (x < 0 || x > INT32_MAX)
            return field_error(err, path, line, offset, field, "%s is not a character offset (an integer >= 0)",
                               json_object_to_json_string(s));
        /* the start must be a character of the context (code points, as Python's str indices) */
        if (qf_text_char_to_byte(row->context, row->context_len, (size_t)x) >= row->context_len)
            return field_error(err, path, line, offset, field, "%s is past the end of \"context\"",
                               json_object_to_json_string(s));
        st->answer_starts[a] = x;
    }
    return QF_STATUS_OK;
}

static qf_status parse_row(const char *path, size_t line, uint64_t offset, json_object *obj, qf_qa_row *row,
                           qa_row_store *st, qf_error *err)
{
    memset(row, 0, sizeof *row);
    row->line = line;
    if (!json_object_is_type(obj, json_type_object))
        return field_error(err, path, line, offset, NULL, "row is not a JSON object%s", NULL);
    json_object *ids = NULL, *types = NULL, *question = NULL, *context = NULL, *answers = NULL;
    json_object_object_get_ex(obj, "input_ids", &ids);
    json_object_object_get_ex(obj, "token_type_ids", &types);
    json_object_object_get_ex(obj, "question", &question);
    json_object_object_get_ex(obj, "context", &context);
    json_object_object_get_ex(obj, "answers", &answers);
    if (answers && json_object_is_type(answers, json_type_null)) answers = NULL;
    if (ids) {
        if (question || context)
            return field_error(err, path, line, offset, "input_ids",
                               "row has \"input_ids\" and a \"question\" or \"context\"%s: give one or the other", NULL);
        if (answers)
            return field_error(err, path, line, offset, "answers",
                               "an \"input_ids\" row has no context text to score \"answers\" against%s", NULL);
        if (!json_object_is_type(ids, json_type_array))
            return field_error(err, path, line, offset, "input_ids", "\"input_ids\" is not an array of integers%s",
                               NULL);
        int r = read_ids(ids, &st->input_ids, &row->num_ids);
        if (r == -2) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        if (r < 0) return field_error(err, path, line, offset, "input_ids", "\"input_ids\" holds a value that is not an id%s", NULL);
        if (row->num_ids == 0) return field_error(err, path, line, offset, "input_ids", "\"input_ids\" is empty%s", NULL);
        if (types && !json_object_is_type(types, json_type_null)) {
            size_t nt = 0;
            r = json_object_is_type(types, json_type_array) ? read_ids(types, &st->token_type_ids, &nt) : -1;
            if (r == -2) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
            if (r < 0 || nt != row->num_ids)
                return field_error(err, path, line, offset, "token_type_ids",
                                   "\"token_type_ids\" is not an array of type ids as long as \"input_ids\"%s", NULL);
        }
        row->input_ids = st->input_ids;
        row->token_type_ids = st->token_type_ids;
        return QF_STATUS_OK;
    }
    static const char *const names[2] = {"question", "context"};
    json_object *text[2] = {question, context};
    char **copy[2] = {&st->question, &st->context};
    size_t *len[2] = {&row->question_len, &row->context_len};
    for (int k = 0; k < 2; k++) {
        if (!text[k] || json_object_is_type(text[k], json_type_null))
            return field_error(err, path, line, offset, names[k],
                               "row has no \"%s\" (question-answering rows are {\"question\", \"context\"})", names[k]);
        if (!json_object_is_type(text[k], json_type_string))
            return field_error(err, path, line, offset, names[k], "the field is %s, not a string",
                               json_type_to_name(json_object_get_type(text[k])));
        if (json_object_get_string_len(text[k]) == 0)
            return field_error(err, path, line, offset, names[k], "\"%s\" is empty", names[k]);
        if (!(*copy[k] = copy_string(text[k], len[k])))
            return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    row->question = st->question;
    row->context = st->context;
    if (answers) {
        qf_status s = read_answers(path, line, offset, answers, row, st, err);
        if (s) return s;
        row->answer_texts = (const char *const *)st->answer_texts;
        row->answer_starts = st->answer_starts;
    }
    return QF_STATUS_OK;
}

static bool grow(qf_qa_rows *r)
{
    if (r->count < r->cap) return true;
    size_t cap = r->cap ? r->cap * 2 : 256;
    qf_qa_row *rows = realloc(r->rows, cap * sizeof *rows);
    if (!rows) return false;
    r->rows = rows;
    qa_row_store *store = realloc(r->store, cap * sizeof *store);
    if (!store) return false;
    r->store = store;
    r->cap = cap;
    return true;
}

qf_status qf_qa_rows_load(const char *path, int64_t limit, qf_qa_rows **out, qf_error *err)
{
    *out = NULL;
    qf_file *f = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (s) return s;
    qf_qa_rows *r = calloc(1, sizeof *r);
    qf_jsonl rows;
    s = qf_jsonl_open(&rows, path, qf_file_data(f), qf_file_size(f), err);
    if (!s && !r) s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    if (r) {
        uint8_t digest[32];
        qf_sha256(qf_file_data(f), (size_t)qf_file_size(f), digest);
        qf_sha256_hex(digest, r->sha256);
    }
    while (!s && (limit <= 0 || (int64_t)r->count < limit)) {
        json_object *obj = NULL;
        if ((s = qf_jsonl_next(&rows, &obj, err)) || !obj) break;
        size_t line = rows.line;
        uint64_t start = rows.offset;
        if (!grow(r)) {
            json_object_put(obj);
            s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
            break;
        }
        qa_row_store *st = &r->store[r->count];
        memset(st, 0, sizeof *st);
        s = parse_row(path, line, start, obj, &r->rows[r->count], st, err);
        json_object_put(obj);
        if (s) {
            store_free(st, r->rows[r->count].num_answers);
            break;
        }
        if (r->rows[r->count].num_answers) r->answered++;
        r->count++;
    }
    if (!s && r->count == 0) s = qf_error_set(err, QF_STATUS_FORMAT, path, NULL, -1, NULL, "no rows");
    qf_jsonl_close(&rows);
    qf_file_unmap(f);
    if (s) {
        qf_qa_rows_destroy(r);
        return s;
    }
    *out = r;
    return QF_STATUS_OK;
}
