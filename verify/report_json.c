/*
 * verify/report_json.c — the JSON report of `qforge verify --json`: the figures of a
 * qf_verify_report with what they were measured on (artifact, reference, data and its SHA-256,
 * tokenizer, sequence length), the artifact's recipe (quant.*, source.*, convert.* metadata), each
 * layer's SQNR, the rows whose prediction changed, and the gate's verdict. Built here, beside the
 * HTML page (report_html.c), from the same context; the caller writes the text where it wants.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/verify.h"
#include "verify/job_internal.h"

/* A string member, null when the context leaves it out. */
static json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *layers_json(const qf_verify_report *r)
{
    json_object *layers = json_object_new_array();
    for (size_t l = 0; l < r->num_layer_outputs; l++) {
        json_object *e = json_object_new_object();
        char name[32];
        if (l == 0)
            snprintf(name, sizeof name, "embeddings");
        else
            snprintf(name, sizeof name, "layers.%zu", l - 1);
        json_object_object_add(e, "name", json_object_new_string(name));
        json_object_object_add(e, "sqnr_db", isfinite(r->layer_sqnr_db[l]) ? json_object_new_double(r->layer_sqnr_db[l])
                                                                              : NULL);
        json_object_array_add(layers, e);
    }
    return layers;
}

/* The first max_changed_rows changed rows: both predictions and, when the row has one, its label,
 * named by config.json's id2label. */
static json_object *changed_json(const qf_verify_report *r, const qf_verify_html_context *c)
{
    json_object *changed = json_object_new_array();
    /* the rows the run kept (qf_verify_params.max_changed_rows), at most the context's count */
    size_t listed = r->changed_kept < c->max_changed_rows ? r->changed_kept : c->max_changed_rows;
    for (size_t i = 0; i < listed; i++) {
        json_object *e = json_object_new_object();
        char a[64], b[64];
        qf_label_name(c->config_json, r->changed_reference_label[i], a, sizeof a);
        qf_label_name(c->config_json, r->changed_artifact_label[i], b, sizeof b);
        json_object_object_add(e, "row", json_object_new_int64((int64_t)r->changed_rows[i]));
        json_object_object_add(e, "reference", json_object_new_string(a));
        json_object_object_add(e, "artifact", json_object_new_string(b));
        const qf_dataset_row *row = c->data ? qf_dataset_row_at(c->data, r->changed_rows[i]) : NULL;
        if (row && row->label >= 0) {
            qf_label_name(c->config_json, row->label, a, sizeof a);
            json_object_object_add(e, "label", json_object_new_string(a));
        }
        json_object_array_add(changed, e);
    }
    return changed;
}

/* What every report starts with: the inputs it was measured on. */
static void inputs_json(json_object *o, const qf_verify_html_context *c, size_t rows)
{
    json_object_object_add(o, "artifact", string_or_null(c->artifact_path));
    json_object_object_add(o, "reference", string_or_null(c->reference_path));
    json_object_object_add(o, "data", string_or_null(c->data_path));
    json_object_object_add(o, "data_sha256", string_or_null(c->data ? qf_dataset_sha256(c->data) : NULL));
    json_object_object_add(o, "rows", json_object_new_int64((int64_t)rows));
}

static json_object *report_json(const qf_verify_report *r, const qf_verify_html_context *c)
{
    json_object *o = json_object_new_object();
    inputs_json(o, c, r->rows);
    json_object_object_add(o, "labelled_rows", json_object_new_int64((int64_t)r->labelled_rows));
    json_object_object_add(o, "max_length", json_object_new_int(c->max_length));
    json_object_object_add(o, "artifact_mode", json_object_new_string(qf_encoder_mode_name(r->artifact_mode)));
    json_object_object_add(o, "recipe", qf_job_recipe_json(c->artifact));
    qf_job_json_prompt(o, c);
    json_object *acc = json_object_new_object();
    json_object_object_add(acc, "reference", json_object_new_double(r->accuracy_reference));
    json_object_object_add(acc, "artifact", json_object_new_double(r->accuracy_artifact));
    json_object_object_add(o, "accuracy", acc);
    json_object_object_add(o, "drop_points", json_object_new_double(r->drop_points));
    json_object_object_add(o, "top1_agreement", json_object_new_double(r->agreement));
    json_object *lg = json_object_new_object();
    json_object_object_add(lg, "mean_abs_diff", json_object_new_double(r->mean_abs_dlogit));
    json_object_object_add(lg, "max_abs_diff", json_object_new_double(r->max_abs_dlogit));
    json_object_object_add(lg, "mean_cosine", json_object_new_double(r->mean_cosine));
    json_object_object_add(lg, "min_cosine", json_object_new_double(r->min_cosine));
    json_object_object_add(o, "logits", lg);
    json_object_object_add(o, "layers", layers_json(r));
    json_object_object_add(o, "changed_count", json_object_new_int64((int64_t)r->changed_count));
    json_object_object_add(o, "changed_rows", changed_json(r, c));
    json_object_object_add(o, "max_drop", c->has_max_drop ? json_object_new_double(c->max_drop) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "qforge_version", json_object_new_string(QF_VERSION_STRING));
    if (c->tokenizer_path && c->tokenizer_path[0])
        json_object_object_add(o, "tokenizer", json_object_new_string(c->tokenizer_path));
    return o;
}

static json_object *embedding_json(const qf_embedding_report *r, const qf_verify_html_context *c)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "job", json_object_new_string("embedding"));
    inputs_json(o, c, r->rows);
    json_object_object_add(o, "max_length", json_object_new_int(c->max_length));
    json_object_object_add(o, "artifact_mode", json_object_new_string(qf_encoder_mode_name(r->artifact_mode)));
    json_object_object_add(o, "recipe", qf_job_recipe_json(c->artifact));
    json_object_object_add(o, "pooling", json_object_new_string(qf_pooling_name(r->pooling)));
    json_object_object_add(o, "normalize", json_object_new_boolean(r->normalize));
    json_object_object_add(o, "dimensions", json_object_new_int64(r->dimensions));
    json_object *cos = json_object_new_object();
    json_object_object_add(cos, "mean", json_object_new_double(r->mean_cosine));
    json_object_object_add(cos, "min", json_object_new_double(r->min_cosine));
    json_object_object_add(cos, "min_row", json_object_new_int64((int64_t)r->min_cosine_row));
    json_object_object_add(o, "cosine", cos);
    json_object *ret = json_object_new_object();
    json_object_object_add(ret, "rows", json_object_new_int64((int64_t)r->retrieval_rows));
    json_object_object_add(ret, "top1_agreement", json_object_new_double(r->top1_agreement));
    json_object_object_add(ret, "top10_overlap", json_object_new_double(r->top10_overlap));
    json_object_object_add(o, "retrieval", ret);
    qf_job_json_prompt(o, c);
    json_object_object_add(o, "min_cosine", c->has_min_cosine ? json_object_new_double(c->min_cosine) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "qforge_version", json_object_new_string(QF_VERSION_STRING));
    if (c->tokenizer_path && c->tokenizer_path[0])
        json_object_object_add(o, "tokenizer", json_object_new_string(c->tokenizer_path));
    return o;
}

/* Pretty JSON text of `o` (consumed) with a final newline, owned by the caller. */

qf_status qf_embedding_report_json(const qf_embedding_report *r, const qf_verify_html_context *ctx, char **out,
                                   size_t *len, qf_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    qf_verify_html_context defaults = qf_verify_html_context_default();
    return qf_job_json_text(embedding_json(r, ctx ? ctx : &defaults), out, len, err);
}

qf_status qf_verify_report_json(const qf_verify_report *r, const qf_verify_html_context *ctx, char **out,
                                size_t *len, qf_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    return qf_job_json_text(report_json(r, c), out, len, err);
}

