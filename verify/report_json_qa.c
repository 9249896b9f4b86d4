/*
 * verify/report_json_qa.c — the JSON report of `qforge verify --job qa --json`: the figures of a
 * qf_qa_report (SQuAD exact match and F1 of the reference and the artifact, the F1 drop, span
 * agreement, logit distance, the windowing parameters) with what they were measured on, in the
 * conventions of the classification report (report_json.c): the same input and provenance members.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/verify.h"
#include "verify/job_internal.h"

static json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *qa_json(const qf_qa_report *r, const qf_verify_html_context *c)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "job", json_object_new_string("qa"));
    json_object_object_add(o, "artifact", string_or_null(c->artifact_path));
    json_object_object_add(o, "reference", string_or_null(c->reference_path));
    json_object_object_add(o, "data", string_or_null(c->data_path));
    json_object_object_add(o, "data_sha256", json_object_new_string(r->data_sha256));
    json_object_object_add(o, "rows", json_object_new_int64((int64_t)r->rows));
    json_object_object_add(o, "answered_rows", json_object_new_int64((int64_t)r->answered_rows));
    json_object_object_add(o, "windows", json_object_new_int64((int64_t)r->windows));
    json_object *win = json_object_new_object();
    json_object_object_add(win, "max_seq_len", json_object_new_int(r->params.max_seq_len));
    json_object_object_add(win, "doc_stride", json_object_new_int(r->params.doc_stride));
    json_object_object_add(win, "max_answer_len", json_object_new_int(r->params.max_answer_len));
    json_object_object_add(win, "align_to_words", json_object_new_boolean(r->params.align_to_words));
    json_object_object_add(win, "max_question_len",
                           r->params.max_question_len > 0 ? json_object_new_int(r->params.max_question_len) : NULL);
    json_object_object_add(o, "windowing", win);
    json_object_object_add(o, "artifact_mode", json_object_new_string(qf_encoder_mode_name(r->artifact_mode)));
    json_object_object_add(o, "recipe", qf_job_recipe_json(c->artifact));
    json_object_object_add(o, "headline", json_object_new_string("f1"));
    bool scored = r->answered_rows > 0;
    json_object *em = json_object_new_object(), *f1 = json_object_new_object();
    json_object_object_add(em, "reference", scored ? json_object_new_double(r->exact_match_reference) : NULL);
    json_object_object_add(em, "artifact", scored ? json_object_new_double(r->exact_match_artifact) : NULL);
    json_object_object_add(f1, "reference", scored ? json_object_new_double(r->f1_reference) : NULL);
    json_object_object_add(f1, "artifact", scored ? json_object_new_double(r->f1_artifact) : NULL);
    json_object_object_add(o, "exact_match", em);
    json_object_object_add(o, "f1", f1);
    json_object_object_add(o, "drop_points", scored ? json_object_new_double(r->drop_points) : NULL);
    json_object_object_add(o, "span_agreement", json_object_new_double(r->agreement));
    json_object *lg = json_object_new_object();
    json_object_object_add(lg, "mean_abs_diff", json_object_new_double(r->mean_abs_dlogit));
    json_object_object_add(lg, "max_abs_diff", json_object_new_double(r->max_abs_dlogit));
    json_object_object_add(o, "logits", lg);
    json_object_object_add(o, "changed_count", json_object_new_int64((int64_t)r->changed_count));
    json_object *changed = json_object_new_array();
    for (size_t i = 0; i < r->changed_kept && i < c->max_changed_rows; i++)
        json_object_array_add(changed, json_object_new_int64((int64_t)r->changed_rows[i]));
    json_object_object_add(o, "changed_rows", changed);
    json_object_object_add(o, "max_drop", c->has_max_drop ? json_object_new_double(c->max_drop) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "qforge_version", json_object_new_string(QF_VERSION_STRING));
    if (c->tokenizer_path && c->tokenizer_path[0])
        json_object_object_add(o, "tokenizer", json_object_new_string(c->tokenizer_path));
    return o;
}

qf_status qf_qa_report_json(const qf_qa_report *r, const qf_verify_html_context *ctx, char **out, size_t *len,
                            qf_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    qf_verify_html_context defaults = qf_verify_html_context_default();
    json_object *o = qa_json(r, ctx ? ctx : &defaults);
    return qf_job_json_text(o, out, len, err);
}
