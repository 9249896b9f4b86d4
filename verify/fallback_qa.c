/*
 * verify/fallback_qa.c — the question-answering job's measure for the accuracy-aware static
 * fallback (fallback.c): SQuAD F1 drop of the candidate (qf_verify_qa, qa.c), and as a
 * projection's sensitivity the span agreement it loses, then the mean |start/end logit difference|.
 */
#include "qforge/verify.h"

static qf_status measure_qa(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                            qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_qa *c = ctx;
    const qf_qa_rows *rows = sensitivity && c->sensitivity_rows ? c->sensitivity_rows : c->rows;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    qf_qa_report r;
    qf_status s = qf_verify_qa(reference, candidate, QF_ENCODER_MODE_STATIC_INT8, c->tokenizer, rows, &c->qa, &vp, &r,
                               err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = r.agreement;
    out->sensitivity_primary = 100.0 * (1.0 - r.agreement);
    out->sensitivity_secondary = r.mean_abs_dlogit;
    qf_qa_report_free(&r);
    return QF_STATUS_OK;
}

qf_fallback_measure qf_fallback_measure_qa(qf_fallback_qa *ctx)
{
    qf_fallback_measure m = {"F1", "f1", "span agreement", "mean |dlogit|", qf_qa_rows_count(ctx->rows), measure_qa,
                             ctx};
    return m;
}
