/*
 * verify/fallback_ner.c — the token-classification job's measure for the accuracy-aware static
 * fallback (fallback.c): seqeval entity F1 drop of the candidate (qf_verify_ner, job_ner.c), and as
 * a projection's sensitivity the word-label agreement it loses, then the mean |token logit
 * difference|.
 */
#include "qforge/verify.h"

static qf_status measure_ner(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                             qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_ner *c = ctx;
    const qf_word_rows *rows = sensitivity && c->sensitivity_rows ? c->sensitivity_rows : c->rows;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    qf_ner_report r;
    qf_status s = qf_verify_ner(reference, candidate, QF_ENCODER_MODE_STATIC_INT8, rows, c->config_json, &vp, &r, err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = r.agreement;
    out->sensitivity_primary = 100.0 * (1.0 - r.agreement);
    out->sensitivity_secondary = r.mean_abs_dlogit;
    return QF_STATUS_OK;
}

qf_fallback_measure qf_fallback_measure_ner(qf_fallback_ner *ctx)
{
    qf_fallback_measure m = {"entity F1", "entity_f1", "word agreement", "mean |dlogit|", qf_word_rows_size(ctx->rows),
                             measure_ner, ctx};
    return m;
}
