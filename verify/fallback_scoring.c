/*
 * verify/fallback_scoring.c — the scoring jobs' measures for the accuracy-aware static fallback
 * (fallback.c): multi-label micro-F1 (job_multilabel.c; sensitivity: exact label-set agreement
 * lost, then mean |dlogit|), rerank MRR@10 over relevance-labelled groups (job_rerank.c; rank
 * agreement lost, then mean |dscore|) and STS Spearman of cosine vs score (job_sts.c; the
 * Spearman lost is the sensitivity, with no tie-breaker).
 */
#include <math.h>

#include "qforge/verify.h"

static const qf_dataset *pick(bool sensitivity, const qf_dataset *all, const qf_dataset *some)
{
    return sensitivity && some ? some : all;
}

static const qf_row_fields *pick_fields(bool sensitivity, const qf_fallback_scoring *c)
{
    return sensitivity && c->sensitivity_fields ? c->sensitivity_fields : c->fields;
}

static qf_status measure_multilabel(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                                    qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_scoring *c = ctx;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    qf_multilabel_report r;
    qf_status s = qf_verify_multilabel(reference, candidate, QF_ENCODER_MODE_STATIC_INT8,
                                       pick(sensitivity, c->data, c->sensitivity_data), pick_fields(sensitivity, c),
                                       &vp, c->threshold, &r, err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = r.agreement;
    out->sensitivity_primary = 100.0 * (1.0 - r.agreement);
    out->sensitivity_secondary = r.mean_abs_dlogit;
    return QF_STATUS_OK;
}

static qf_status measure_rerank(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                                qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_scoring *c = ctx;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    qf_rerank_report r;
    qf_status s = qf_verify_rerank(reference, candidate, QF_ENCODER_MODE_STATIC_INT8,
                                   pick(sensitivity, c->data, c->sensitivity_data), pick_fields(sensitivity, c), &vp,
                                   c->score, &r, err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = r.rank_agreement; /* NaN without a group of 2+ rows */
    out->sensitivity_primary = isnan(r.rank_agreement) ? 0 : 100.0 * (1.0 - r.rank_agreement);
    out->sensitivity_secondary = r.mean_abs_dscore;
    return QF_STATUS_OK;
}

static qf_status measure_sts(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                             qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_scoring *c = ctx;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    qf_sts_report r;
    qf_status s = qf_verify_sts(reference, candidate, QF_ENCODER_MODE_STATIC_INT8,
                                pick(sensitivity, c->data, c->sensitivity_data),
                                pick(sensitivity, c->second, c->sensitivity_second), pick_fields(sensitivity, c), &vp,
                                c->pooling, c->normalize, &r, err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = NAN;
    out->sensitivity_primary = isnan(r.drop_points) ? INFINITY : r.drop_points;
    out->sensitivity_secondary = 0;
    return QF_STATUS_OK;
}

qf_fallback_measure qf_fallback_measure_multilabel(qf_fallback_scoring *ctx)
{
    qf_fallback_measure m = {"micro-F1", "micro_f1", "label-set agreement", "mean |dlogit|", qf_dataset_size(ctx->data),
                             measure_multilabel, ctx};
    return m;
}

qf_fallback_measure qf_fallback_measure_rerank(qf_fallback_scoring *ctx)
{
    qf_fallback_measure m = {"MRR@10", "mrr_at_10", "rank agreement", "mean |dscore|", qf_dataset_size(ctx->data),
                             measure_rerank, ctx};
    return m;
}

qf_fallback_measure qf_fallback_measure_sts(qf_fallback_scoring *ctx)
{
    qf_fallback_measure m = {"STS Spearman", "sts_spearman", "Spearman", NULL, qf_dataset_size(ctx->data), measure_sts,
                             ctx};
    return m;
}
