/*
 * verify/job_multilabel.c — the multi-label job of `qforge verify`: the reference (FP32) and the
 * artifact score every row's labels by sigmoid(logit) >= threshold; micro F1 of each against the
 * rows' gold "labels" (metrics.c), exact label-set agreement of the two, the logit distance.
 * Counts in row order: the report does not depend on threads or batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify/job_internal.h"

qf_status qf_verify_multilabel(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                               const qf_dataset *data, const qf_row_fields *fields, const qf_verify_params *params,
                               double threshold, qf_multilabel_report *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t rows = qf_dataset_size(data);
    if (qf_row_fields_size(fields) != rows)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "fields",
                            "qf_verify_multilabel: the row fields are not those of the dataset's rows");
    if (!(threshold >= 0 && threshold <= 1))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "threshold",
                            "the threshold is a probability in [0, 1]");
    double t0 = qf_job_seconds_now();
    float *a = NULL, *b = NULL;
    int64_t k = 0;
    qf_status s = qf_job_logits(reference, artifact, artifact_mode, data, params, "multi-label", &a, &b, &k, err);
    if (s) return s;
    uint64_t agree_rows = 0, agreeing = 0;
    double sum_abs = 0;
    for (size_t i = 0; !s && i < rows; i++) {
        const float *x = a + i * (size_t)k, *y = b + i * (size_t)k;
        const uint8_t *gold = qf_row_fields_labels(fields, i);
        if (gold) {
            s = qf_multilabel_counts_add(&out->reference_counts, x, gold, 1, (size_t)k, threshold, err);
            if (!s) s = qf_multilabel_counts_add(&out->artifact_counts, y, gold, 1, (size_t)k, threshold, err);
            out->labelled_rows++;
        }
        if (!s) s = qf_multilabel_agreement_add(&agree_rows, &agreeing, x, y, 1, (size_t)k, threshold, err);
        for (int64_t j = 0; j < k; j++) {
            double d = fabs((double)x[j] - (double)y[j]);
            sum_abs += d;
            if (d > out->max_abs_dlogit) out->max_abs_dlogit = d;
        }
    }
    free(a);
    free(b);
    if (s) {
        memset(out, 0, sizeof *out);
        return s;
    }
    out->rows = rows;
    out->num_labels = k;
    out->threshold = threshold;
    out->agreeing = (size_t)agreeing;
    out->agreement = rows ? (double)agreeing / (double)rows : 1.0;
    out->mean_abs_dlogit = rows ? sum_abs / ((double)rows * (double)k) : 0;
    out->f1_reference = qf_multilabel_f1(&out->reference_counts);
    out->f1_artifact = qf_multilabel_f1(&out->artifact_counts);
    out->drop_points = 100.0 * (out->f1_reference - out->f1_artifact);
    out->artifact_mode = artifact_mode;
    out->seconds = qf_job_seconds_now() - t0;
    return QF_STATUS_OK;
}

static json_object *counts_json(const qf_multilabel_counts *c)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "true_positive", json_object_new_int64((int64_t)c->true_positive));
    json_object_object_add(o, "predicted", json_object_new_int64((int64_t)c->predicted));
    json_object_object_add(o, "gold", json_object_new_int64((int64_t)c->gold));
    return o;
}

qf_status qf_multilabel_report_json(const qf_multilabel_report *r, const qf_verify_html_context *ctx, char **out,
                                    size_t *len, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    json_object *o = qf_job_json_start("multi-label", c, r->rows, r->artifact_mode);
    json_object_object_add(o, "labelled_rows", json_object_new_int64((int64_t)r->labelled_rows));
    json_object_object_add(o, "num_labels", json_object_new_int64(r->num_labels));
    json_object_object_add(o, "threshold", json_object_new_double(r->threshold));
    json_object_object_add(o, "headline", json_object_new_string("micro_f1"));
    json_object *f1 = json_object_new_object();
    json_object_object_add(f1, "reference", json_object_new_double(r->f1_reference));
    json_object_object_add(f1, "artifact", json_object_new_double(r->f1_artifact));
    json_object_object_add(o, "micro_f1", f1);
    json_object *counts = json_object_new_object();
    json_object_object_add(counts, "reference", counts_json(&r->reference_counts));
    json_object_object_add(counts, "artifact", counts_json(&r->artifact_counts));
    json_object_object_add(o, "counts", counts);
    json_object_object_add(o, "drop_points", json_object_new_double(r->drop_points));
    json_object_object_add(o, "label_set_agreement", json_object_new_double(r->agreement));
    json_object_object_add(o, "changed_count", json_object_new_int64((int64_t)(r->rows - r->agreeing)));
    json_object *lg = json_object_new_object();
    json_object_object_add(lg, "mean_abs_diff", json_object_new_double(r->mean_abs_dlogit));
    json_object_object_add(lg, "max_abs_diff", json_object_new_double(r->max_abs_dlogit));
    json_object_object_add(o, "logits", lg);
    qf_job_json_end(o, c, r->seconds);
    return qf_job_json_text(o, out, len, err);
}
