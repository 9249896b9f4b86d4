/*
 * text/dataset_fields.c — the fields a scoring job of `qforge verify` reads beside the texts that
 * qf_dataset_load tokenizes, from the same JSONL file and the same rows (blank lines skipped, the
 * same limit): a multi-label row's "labels" (class names or indices), a reranker row's group (its
 * "query", else its "text") and graded "label" (relevance), a sentence-similarity row's "score".
 * Every field is checked as it is read; a malformed one is refused with the file, "line N", the
 * row's offset and the field's name.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/text.h"
#include "text/jsonl.h"

enum { HAS_LABELS = 1, HAS_RELEVANCE = 2, HAS_SCORE = 4, HAS_PAIR = 8, HAS_GROUP = 16 };

struct qf_row_fields {
    char *path;
    size_t count, cap;
    int64_t num_labels;
    uint8_t *has;       /* HAS_* per row */
    uint8_t *labels;    /* [count][num_labels] 0/1 when num_labels > 0 */
    double *relevance, *score;
    size_t *group_at;   /* offset of the row's group key in groups */
    char *groups;       /* NUL-terminated keys back to back */
    size_t groups_used, groups_cap;
    size_t *line;
    uint64_t *offset;
};

qf_row_fields_params qf_row_fields_params_default(void)
{
    qf_row_fields_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static bool grow(qf_row_fields *f)
{
    if (f->count < f->cap) return true;
    size_t cap = f->cap ? f->cap * 2 : 256;
    uint8_t *has = realloc(f->has, cap);
    if (!has) return false;
    f->has = has;
    double *rel = realloc(f->relevance, cap * sizeof *rel);
    if (!rel) return false;
    f->relevance = rel;
    double *score = realloc(f->score, cap * sizeof *score);
    if (!score) return false;
    f->score = score;
    size_t *group_at = realloc(f->group_at, cap * sizeof *group_at);
    if (!group_at) return false;
    f->group_at = group_at;
    size_t *line = realloc(f->line, cap * sizeof *line);
    if (!line) return false;
    f->line = line;
    uint64_t *offset = realloc(f->offset, cap * sizeof *offset);
    if (!offset) return false;
    f->offset = offset;
    if (f->num_labels > 0) {
        size_t bytes;
        if (!qf_mul_size(cap, (size_t)f->num_labels, &bytes)) return false;
        uint8_t *labels = realloc(f->labels, bytes);
        if (!labels) return false;
        f->labels = labels;
    }
    f->cap = cap;
    return true;
}

static bool keep_group(qf_row_fields *f, const char *key, size_t len)
{
    size_t need;
    if (!qf_add_size(len, 1, &need) || !qf_add_size(f->groups_used, need, &need)) return false;
    if (need > f->groups_cap) {
        size_t cap = f->groups_cap ? f->groups_cap : 65536;
        while (cap < need)
            if (!qf_mul_size(cap, 2, &cap)) return false;
        char *g = realloc(f->groups, cap);
        if (!g) return false;
        f->groups = g;
        f->groups_cap = cap;
    }
    memcpy(f->groups + f->groups_used, key, len);
    f->groups[f->groups_used + len] = '\0';
    f->group_at[f->count] = f->groups_used;
    f->groups_used = need;
    return true;
}

static qf_status field_error(qf_error *err, const char *path, size_t line, uint64_t offset, const char *field,
                             const char *msg)
{
    char part[48];
    snprintf(part, sizeof part, "line %zu", line);
    return qf_error_set(err, QF_STATUS_FORMAT, path, part, (int64_t)offset, field, "%s", msg);
}

/* The class a "labels" entry names: an index, or a name in label2id (else among id2label's values).
 * -1 when it is none of the model's classes; msg says why. */
static int64_t class_of(json_object *config, json_object *v, int64_t num_labels, char *msg, size_t size)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t x = json_object_get_int64(v);
        if (x >= 0 && x < num_labels) return x;
        snprintf(msg, size, "%.40s is not a class of the model's %lld (0..%lld)", json_object_to_json_string(v),
                 (long long)num_labels, (long long)num_labels - 1);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(msg, size, "%.40s is neither a class index nor a class name", json_object_to_json_string(v));
        return -1;
    }
    const char *name = json_object_get_string(v);
    json_object *map = NULL, *id = NULL;
    int64_t x = -1;
    if (config && json_object_object_get_ex(config, "label2id", &map) && json_object_is_type(map, json_type_object) &&
        json_object_object_get_ex(map, name, &id)) {
        x = json_object_is_type(id, json_type_int) ? json_object_get_int64(id) : -1;
    } else if (config && json_object_object_get_ex(config, "id2label", &map) && json_object_is_type(map, json_type_object)) {
        json_object_object_foreach(map, key, val) {
            if (!json_object_is_type(val, json_type_string) || strcmp(json_object_get_string(val), name) != 0) continue;
            char *end = NULL;
            long long k = strtoll(key, &end, 10);
            x = *key && !*end ? k : -1;
            break;
        }
    } else {
        snprintf(msg, size, "\"%.100s\" is not in config.json's label2id or id2label", name);
        return -1;
    }
    if (x >= 0 && x < num_labels) return x;
    snprintf(msg, size, "\"%.100s\" is not one of the model's %lld classes (in config.json's label2id or id2label)", name,
             (long long)num_labels);
    return -1;
}

static qf_status read_row(qf_row_fields *f, const qf_row_fields_params *p, json_object *config, json_object *row,
                          size_t line, uint64_t offset, qf_error *err)
{
    const char *path = f->path;
    char msg[QF_ERROR_MESSAGE_MAX];
    if (!json_object_is_type(row, json_type_object)) return field_error(err, path, line, offset, NULL, "row is not a JSON object");
    if (!grow(f)) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    size_t i = f->count;
    uint8_t has = 0;
    json_object *v = NULL;
    if (p->num_labels > 0) {
        uint8_t *set = f->labels + i * (size_t)p->num_labels;
        memset(set, 0, (size_t)p->num_labels);
        if (json_object_object_get_ex(row, "labels", &v) && !json_object_is_type(v, json_type_null)) {
            if (!json_object_is_type(v, json_type_array))
                return field_error(err, path, line, offset, "labels",
                                   "\"labels\" is not a list of class names or indices");
            for (size_t k = 0; k < json_object_array_length(v); k++) {
                char why[QF_ERROR_MESSAGE_MAX - 64];
                int64_t c = class_of(config, json_object_array_get_idx(v, k), p->num_labels, why, sizeof why);
                if (c < 0) {
                    snprintf(msg, sizeof msg, "\"labels\"[%zu]: %s", k, why);
                    return field_error(err, path, line, offset, "labels", msg);
                }
                set[c] = 1;
            }
            has |= HAS_LABELS;
        }
    }
    if (p->relevance && json_object_object_get_ex(row, "label", &v) && !json_object_is_type(v, json_type_null)) {
        double x = json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)
                       ? json_object_get_double(v) : NAN;
        if (!(x >= 0) || !isfinite(x)) {
            snprintf(msg, sizeof msg, "\"label\" %.40s is not a relevance grade (a number, 0 or more)",
                     json_object_to_json_string(v));
            return field_error(err, path, line, offset, "label", msg);
        }
        f->relevance[i] = x;
        has |= HAS_RELEVANCE;
    }
    if (p->score && json_object_object_get_ex(row, "score", &v) && !json_object_is_type(v, json_type_null)) {
        double x = json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)
                       ? json_object_get_double(v) : NAN;
        if (!isfinite(x)) {
            snprintf(msg, sizeof msg, "\"score\" %.40s is not a finite number", json_object_to_json_string(v));
            return field_error(err, path, line, offset, "score", msg);
        }
        f->score[i] = x;
        has |= HAS_SCORE;
    }
    if (json_object_object_get_ex(row, "text_pair", &v) && json_object_is_type(v, json_type_string)) has |= HAS_PAIR;
    json_object *key = NULL;
    if (!(json_object_object_get_ex(row, "query", &key) && json_object_is_type(key, json_type_string)) &&
        !(json_object_object_get_ex(row, "text", &key) && json_object_is_type(key, json_type_string)))
        key = NULL;
    if (key) {
        if (!keep_group(f, json_object_get_string(key), (size_t)json_object_get_string_len(key)))
            return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
        has |= HAS_GROUP;
    }
    f->has[i] = has;
    f->line[i] = line;
    f->offset[i] = offset;
    f->count++;
    return QF_STATUS_OK;
}

qf_status qf_row_fields_load(const char *path, const qf_row_fields_params *params, qf_row_fields **out, qf_error *err)
{
    qf_row_fields_params defaults = qf_row_fields_params_default();
    const qf_row_fields_params *p = params ? params : &defaults;
    *out = NULL;
    qf_file *file = NULL;
    qf_status s = qf_file_map(path, &file, err);
    if (s) return s;
    qf_row_fields *f = calloc(1, sizeof *f);
    qf_jsonl rows;
    s = qf_jsonl_open(&rows, path, qf_file_data(file), qf_file_size(file), err);
    if (!s && (!f || !(f->path = strdup(path)))) s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    if (!s) f->num_labels = p->num_labels > 0 ? p->num_labels : 0;
    json_object *config = p->config_json ? json_tokener_parse(p->config_json) : NULL;
    /* the rows qf_dataset_load reads: the same line rules and limits (text/jsonl.c) */
    while (!s && (p->limit <= 0 || (int64_t)f->count < p->limit)) {
        json_object *row = NULL;
        if ((s = qf_jsonl_next(&rows, &row, err)) || !row) break;
        size_t line = rows.line;
        uint64_t start = rows.offset;
        s = read_row(f, p, config, row, line, start, err);
        json_object_put(row);
    }
    json_object_put(config);
    qf_jsonl_close(&rows);
    qf_file_unmap(file);
    if (s) {
        qf_row_fields_destroy(f);
        return s;
    }
    *out = f;
    return QF_STATUS_OK;
}

size_t qf_row_fields_size(const qf_row_fields *f) { return f ? f->count : 0; }

const uint8_t *qf_row_fields_labels(const qf_row_fields *f, size_t i)
{
    return i < f->count && (f->has[i] & HAS_LABELS) ? f->labels + i * (size_t)f->num_labels : NULL;
}

const char *qf_row_fields_group(const qf_row_fields *f, size_t i)
{
    return i < f->count && (f->has[i] & HAS_GROUP) ? f->groups + f->group_at[i] : NULL;
}

bool qf_row_fields_relevance(const qf_row_fields *f, size_t i, double *out)
{
    if (i >= f->count || !(f->has[i] & HAS_RELEVANCE)) return false;
    if (out) *out = f->relevance[i];
    return true;
}

bool qf_row_fields_score(const qf_row_fields *f, size_t i, double *out)
{
    if (i >= f->count || !(f->has[i] & HAS_SCORE)) return false;
    if (out) *out = f->score[i];
    return true;
}

bool qf_row_fields_has_pair(const qf_row_fields *f, size_t i) { return i < f->count && (f->has[i] & HAS_PAIR); }

static uint8_t field_bit(qf_row_field which)
{
    switch (which) {
    case QF_ROW_FIELD_LABELS: return HAS_LABELS;
    case QF_ROW_FIELD_RELEVANCE: return HAS_RELEVANCE;
    case QF_ROW_FIELD_SCORE: return HAS_SCORE;
    case QF_ROW_FIELD_TEXT_PAIR: return HAS_PAIR;
    }
    return 0;
}

static const char *field_name(qf_row_field which)
{
    switch (which) {
    case QF_ROW_FIELD_LABELS: return "labels";
    case QF_ROW_FIELD_RELEVANCE: return "label";
    case QF_ROW_FIELD_SCORE: return "score";
    case QF_ROW_FIELD_TEXT_PAIR: return "text_pair";
    }
    return "?";
}

size_t qf_row_fields_count(const qf_row_fields *f, qf_row_field which)
{
    size_t n = 0;
    uint8_t bit = field_bit(which);
    for (size_t i = 0; f && i < f->count; i++) n += (f->has[i] & bit) != 0;
    return n;
}

qf_status qf_row_fields_require(const qf_row_fields *f, qf_row_field which, const char *why, qf_error *err)
{
    uint8_t bit = field_bit(which);
    for (size_t i = 0; f && i < f->count; i++) {
        if (f->has[i] & bit) continue;
        char msg[QF_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg, "row has no \"%s\"%s%s", field_name(which), why ? ": " : "", why ? why : "");
        return field_error(err, f->path, f->line[i], f->offset[i], field_name(which), msg);
    }
    return QF_STATUS_OK;
}

void qf_row_fields_destroy(qf_row_fields *f)
{
    if (!f) return;
    free(f->path);
    free(f->has);
    free(f->labels);
    free(f->relevance);
    free(f->score);
    free(f->group_at);
    free(f->groups);
    free(f->line);
    free(f->offset);
    free(f);
}
