/*
 * text/jsonl.h — the JSONL rows every data file of the text layer is made of (text/jsonl.c):
 * datasets (dataset.c), their gold fields (dataset_fields.c), word-labelled rows (word_rows.c) and
 * question-answering rows (qa_rows.c) read their lines with one set of rules and limits. Private to
 * the text layer.
 */
#ifndef QF_TEXT_JSONL_H
#define QF_TEXT_JSONL_H

#include <json-c/json.h>
#include <stdint.h>

#include "qforge/core.h"

typedef struct qf_jsonl {
    const char *path;   /* for messages */
    const char *data;   /* the file's bytes (borrowed) */
    uint64_t size, pos;
    size_t line;        /* 1-based line of the row last returned */
    uint64_t offset;    /* byte offset of that row's line */
    size_t rows;        /* rows returned so far */
    json_tokener *tok;
} qf_jsonl;

/* Reads the rows of data[0..size) (a mapped file named `path`). NO_MEMORY when no tokener. */
qf_status qf_jsonl_open(qf_jsonl *r, const char *path, const void *data, uint64_t size, qf_error *err);
/*
 * The next row: *row is the parsed line (owned by the caller, json_object_put), NULL at the end of the
 * file. Blank lines (spaces, tabs, a final CR) are skipped. Refused, naming the file, "line N" and the
 * line's offset: a line longer than QF_DATASET_MAX_LINE bytes and a row past QF_DATASET_MAX_ROWS
 * (LIMIT), a line that is not exactly one JSON value (FORMAT "not one JSON object: <why>").
 */
qf_status qf_jsonl_next(qf_jsonl *r, json_object **row, qf_error *err);
void qf_jsonl_close(qf_jsonl *r);

#endif
