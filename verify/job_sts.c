/*
 * verify/job_sts.c — sentence similarity for the embedding job of `qforge verify`: rows
 * {"text", "text_pair", "score"}; each model embeds both texts of every row, and the Spearman
 * correlation of their cosine with the gold score (the STS benchmark's metric) is measured for
 * the reference (FP32) and the artifact. Row order throughout: the figures do not depend on threads
 * or batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify/job_internal.h"

static double cosine(const float *x, const float *y, int64_t n)
{
    double dot = 0, nx = 0, ny = 0;
    for (int64_t k = 0; k < n; k++) {
        dot += (double)x[k] * y[k];
        nx += (double)x[k] * x[k];
        ny += (double)y[k] * y[k];
    }
    return nx > 0 && ny > 0 ? dot / sqrt(nx * ny) : 0.0;
}

/* The Spearman of cosine(first[i], second[i]) against gold[i] for one model. */
static qf_status model_spearman(qf_model *m, qf_encoder_mode mode, const qf_dataset *first, const qf_dataset *second,
                                const double *gold, const qf_verify_params *p, qf_pooling pooling, bool normalize,
                                double *rho, qf_error *err)
{
    const size_t n = qf_dataset_size(first);
    float *ea = NULL, *eb = NULL;
    int64_t da = 0, db = 0;
    qf_status s = qf_job_embeddings(m, mode, first, p, pooling, normalize, &ea, &da, err);
    if (!s) s = qf_job_embeddings(m, mode, second, p, pooling, normalize, &eb, &db, err);
    double *cos = s ? NULL : malloc(n * sizeof *cos);
    if (!s && !cos) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (size_t i = 0; !s && i < n; i++) cos[i] = cosine(ea + i * (size_t)da, eb + i * (size_t)db, da);
    *rho = NAN;
    if (!s && n >= 2) s = qf_spearman(cos, gold, n, rho, err);
    free(cos);
    free(ea);
    free(eb);
    return s;
}

qf_status qf_verify_sts(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_dataset *first, const qf_dataset *second, const qf_row_fields *fields,
                        const qf_verify_params *params, qf_pooling pooling, bool normalize, qf_sts_report *out,
                        qf_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t n = qf_dataset_size(first);
    if (qf_dataset_size(second) != n || qf_row_fields_size(fields) != n)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "fields",
                            "qf_verify_sts: the two texts and the scores are not of the same rows");
    qf_status s = qf_row_fields_require(fields, QF_ROW_FIELD_SCORE, "a sentence-similarity row is {\"text\", "
                                                                    "\"text_pair\", \"score\"}", err);
    if (s) return s;
    double t0 = qf_job_seconds_now();
    double *gold = malloc((n ? n : 1) * sizeof *gold);
    if (!gold) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) qf_row_fields_score(fields, i, &gold[i]);
    s = model_spearman(reference, QF_ENCODER_MODE_FP32, first, second, gold, params, pooling, normalize,
                       &out->spearman_reference, err);
    if (!s)
        s = model_spearman(artifact, artifact_mode, first, second, gold, params, pooling, normalize,
                           &out->spearman_artifact, err);
    free(gold);
    if (s) {
        memset(out, 0, sizeof *out);
        return s;
    }
    out->pairs = n;
    out->drop_points = 100.0 * (out->spearman_reference - out->spearman_artifact);
    out->seconds = qf_job_seconds_now() - t0;
    return QF_STATUS_OK;
}

qf_status qf_sts_report_json(const qf_embedding_report *r, const qf_sts_report *sts, const qf_verify_html_context *ctx,
                             char **out, size_t *len, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    char *text = NULL;
    qf_status s = qf_embedding_report_json(r, c, &text, NULL, err);
    if (s) return s;
    json_object *o = json_tokener_parse(text);
    free(text);
    if (!o) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "verify report", "out of memory");
    json_object_object_add(o, "headline", json_object_new_string("sts_spearman"));
    json_object *st = json_object_new_object();
    json_object_object_add(st, "pairs", json_object_new_int64((int64_t)sts->pairs));
    json_object *rho = json_object_new_object();
    json_object_object_add(rho, "reference", qf_job_json_number(sts->spearman_reference));
    json_object_object_add(rho, "artifact", qf_job_json_number(sts->spearman_artifact));
    json_object_object_add(st, "spearman", rho);
    json_object_object_add(st, "drop_points", qf_job_json_number(sts->drop_points));
    json_object_object_add(o, "sts", st);
    json_object_object_add(o, "drop_points", qf_job_json_number(sts->drop_points));
    json_object_object_add(o, "max_drop", c->has_max_drop ? json_object_new_double(c->max_drop) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    return qf_job_json_text(o, out, len, err);
}
