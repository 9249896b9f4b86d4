/*
 * text/jsonl.c — JSONL lines into JSON rows, with the limits of limits.h, for every row file of the
 * text layer (see jsonl.h).
 */
#include <stdio.h>
#include <string.h>

#include "qforge/limits.h"
#include "text/jsonl.h"

qf_status qf_jsonl_open(qf_jsonl *r, const char *path, const void *data, uint64_t size, qf_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->data = data;
    r->size = size;
    r->tok = json_tokener_new();
    return r->tok ? QF_STATUS_OK : qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
}

qf_status qf_jsonl_next(qf_jsonl *r, json_object **row, qf_error *err)
{
    *row = NULL;
    const char *data = r->data;
    while (r->pos < r->size) {
        const char *nl = memchr(data + r->pos, '\n', (size_t)(r->size - r->pos));
        uint64_t end = nl ? (uint64_t)(nl - data) : r->size, start = r->pos, len = end - r->pos;
        r->line++;
        r->pos = end + 1;
        while (len && (data[start + len - 1] == '\r' || data[start + len - 1] == ' ' || data[start + len - 1] == '\t'))
            len--;
        uint64_t lead = 0;
        while (lead < len && (data[start + lead] == ' ' || data[start + lead] == '\t')) lead++;
        if (lead == len) continue;
        r->offset = start;
        char part[48];
        snprintf(part, sizeof part, "line %zu", r->line);
        if (len > QF_DATASET_MAX_LINE)
            return qf_error_set(err, QF_STATUS_LIMIT, r->path, part, (int64_t)start, NULL, "row longer than %u bytes",
                                QF_DATASET_MAX_LINE);
        if (r->rows >= QF_DATASET_MAX_ROWS)
            return qf_error_set(err, QF_STATUS_LIMIT, r->path, NULL, (int64_t)start, NULL, "more than %u rows",
                                QF_DATASET_MAX_ROWS);
        json_tokener_reset(r->tok);
        json_object *obj = json_tokener_parse_ex(r->tok, data + start + lead, (int)(len - lead));
        enum json_tokener_error jerr = json_tokener_get_error(r->tok);
        if (!obj || jerr != json_tokener_success || (size_t)json_tokener_get_parse_end(r->tok) != (size_t)(len - lead)) {
            json_object_put(obj);
            return qf_error_set(err, QF_STATUS_FORMAT, r->path, part, (int64_t)start, NULL, "not one JSON object: %s",
                                obj ? "trailing characters" : json_tokener_error_desc(jerr));
        }
        r->rows++;
        *row = obj;
        return QF_STATUS_OK;
    }
    return QF_STATUS_OK;
}

void qf_jsonl_close(qf_jsonl *r)
{
    if (r->tok) json_tokener_free(r->tok);
    r->tok = NULL;
}
