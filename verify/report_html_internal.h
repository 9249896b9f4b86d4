/*
 * verify/report_html_internal.h — what the HTML pages of `qforge verify --html` share
 * (report_html.c: the classification page and these parts; report_html_jobs.c: the page of every
 * other job): a growing text buffer, the escaping every string from a file or the user passes
 * through, the page's head and style, the recipe and provenance tables, and the atomic write.
 * Internal to verify/.
 */
#ifndef QF_VERIFY_REPORT_HTML_INTERNAL_H
#define QF_VERIFY_REPORT_HTML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "qforge/verify.h"

/* The page being built. A failed allocation sets `failed` and every later call does nothing. */
typedef struct qf_html {
    char *data;
    size_t len, cap;
    bool failed;
} qf_html;

void qf_html_add(qf_html *b, const char *s, size_t n);
#define QF_HTML_LIT(b, lit) qf_html_add((b), (lit), sizeof(lit) - 1)

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void qf_html_printf(qf_html *b, const char *fmt, ...);

/* HTML-escapes n bytes, at most `max` characters of them (then an ellipsis), after qf_text_escape
 * made controls, bidi overrides and bytes that are not UTF-8 visible escapes. */
void qf_html_escape(qf_html *b, const char *raw, size_t raw_n, size_t max);
void qf_html_escape_str(qf_html *b, const char *s); /* NULL: nothing */

/* One row of a two-column key/value table, both escaped. */
void qf_html_kv(qf_html *b, const char *k, const char *v);

/* The document up to the end of the line under the title: <head> with the style, <h1> naming the
 * artifact, the gate's badge (PASS / FAIL when `gated`, else "no gate") and "<mode> artifact
 * against its FP32 reference on N rows", then ", the <job> job" when `job` is not NULL. */
void qf_html_page_start(qf_html *b, const qf_verify_html_context *c, bool gated, bool passed, qf_encoder_mode mode,
                        size_t rows, const char *job);

/* The "Recipe" table (artifact mode, the artifact's quant.* and convert.* metadata) and the
 * "Provenance" table (paths, the data's SHA-256 when not NULL, tokenizer, source.* and arch.*
 * metadata, qforge's version). */
void qf_html_recipe_provenance(qf_html *b, qf_encoder_mode mode, const qf_verify_html_context *c,
                               const char *data_sha256);

/* Ends the document and writes it to `path` atomically (qf_output); frees the buffer either way. */
qf_status qf_html_finish(qf_html *b, const char *path, qf_error *err);

#endif
