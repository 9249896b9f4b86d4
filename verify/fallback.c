/*
 * verify/fallback.c — accuracy-aware fallback for static int8: measure the artifact's drop
 * against FP32 (qf_verify_run); while it exceeds the budget, return the most sensitive projection
 * to FP32 and measure again. Sensitivity of a projection = how far the logits move when only that
 * projection is int8 (agreement lost, then mean |logit difference|), measured once per projection.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/verify.h"

qf_fallback_params qf_fallback_params_default(void)
{
    qf_fallback_params p;
    memset(&p, 0, sizeof p);
    p.max_drop = 0.5;
    p.verify = qf_verify_params_default();
    return p;
}

void qf_fallback_report_free(qf_fallback_report *r)
{
    if (!r) return;
    free(r->step);
    memset(r, 0, sizeof *r);
}

typedef struct candidate {
    char stem[64];
    double lost_agreement; /* points */
    double mean_dlogit;
} candidate;

static int by_sensitivity(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->lost_agreement != y->lost_agreement) return x->lost_agreement > y->lost_agreement ? -1 : 1;
    if (x->mean_dlogit != y->mean_dlogit) return x->mean_dlogit > y->mean_dlogit ? -1 : 1;
    return strcmp(x->stem, y->stem);
}

static void logf_(const qf_fallback_params *fp, const char *fmt, double a, double b, const char *s)
{
    if (!fp->log) return;
    char line[256];
    snprintf(line, sizeof line, fmt, s, a, b);
    fp->log(fp->log_ctx, line);
}

/* Drop and agreement of the static model with `fp32` projections kept FP32, on `data`. */
static qf_status measure(qf_model *src, const qf_calib_stats *stats, const qf_static_params *p, const char *const *fp32,
                         size_t nfp32, const qf_dataset *data, const qf_verify_params *vp, qf_model **model_out,
                         qf_verify_report *rep, qf_error *err)
{
    qf_model *m = NULL;
    qf_status s = qf_model_quantize_static_keeping(src, stats, p, fp32, nfp32, &m, err);
    if (!s) s = qf_verify_run(src, m, QF_ENCODER_MODE_STATIC_INT8, data, vp, rep, err);
    if (!s && model_out) *model_out = m;
    else qf_model_destroy(m);
    return s;
}

qf_status qf_static_fallback(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                             const qf_dataset *data, const qf_fallback_params *fp, qf_model **out,
                             qf_fallback_report *report, qf_error *err)
{
    qf_static_params defaults = qf_static_params_default();
    const qf_static_params *p = params ? params : &defaults;
    qf_fallback_params fdefaults = qf_fallback_params_default();
    if (!fp) fp = &fdefaults;
    *out = NULL;
    memset(report, 0, sizeof *report);
    qf_arch arch;
    qf_status s = qf_arch_of(src, &arch, err);
    if (s) return s;
    qf_verify_params vp = fp->verify;
    vp.per_layer = false;
    const size_t nproj = (size_t)arch.num_layers * QF_STATIC_PROJECTIONS;
    candidate *cand = calloc(nproj, sizeof *cand);
    const char **fp32 = calloc(nproj, sizeof *fp32);
    report->step = calloc(nproj, sizeof *report->step);
    if (!cand || !fp32 || !report->step) {
        free(cand);
        free(fp32);
        qf_fallback_report_free(report);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    qf_model *model = NULL;
    qf_verify_report rep;
    s = measure(src, stats, p, NULL, 0, data, &vp, &model, &rep, err);
    if (!s) {
        report->initial_drop = report->final_drop = rep.drop_points;
        report->initial_agreement = report->final_agreement = rep.agreement;
        logf_(fp, "%sall int8: drop %.2f pt, agreement %.2f%%", rep.drop_points, 100 * rep.agreement, "");
        qf_verify_report_free(&rep);
    }
    size_t ncand = 0;
    if (!s && !qf_verify_gate(report->final_drop, fp->max_drop)) {
        /* sensitivity: only one projection int8, on sensitivity_data */
        const char **others = calloc(nproj, sizeof *others);
        char(*stems)[64] = calloc(nproj, sizeof *stems);
        if (!others || !stems) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        for (size_t i = 0; !s && i < nproj; i++)
            qf_static_projection_stem((int64_t)(i / QF_STATIC_PROJECTIONS), (int)(i % QF_STATIC_PROJECTIONS), stems[i],
                                      sizeof stems[i]);
        for (size_t i = 0; !s && i < nproj; i++) {
            char name[96];
            snprintf(name, sizeof name, "%s.input::scale", stems[i]);
            if (!qf_model_find(model, name, NULL)) continue; /* already FP32 by the user's patterns */
            size_t k = 0;
            for (size_t j = 0; j < nproj; j++)
                if (j != i) others[k++] = stems[j];
            qf_verify_report r1;
            s = measure(src, stats, p, others, k, fp->sensitivity_data ? fp->sensitivity_data : data, &vp, NULL, &r1,
                        err);
            if (s) break;
            snprintf(cand[ncand].stem, sizeof cand[ncand].stem, "%s", stems[i]);
            cand[ncand].lost_agreement = 100.0 * (1.0 - r1.agreement);
            cand[ncand].mean_dlogit = r1.mean_abs_dlogit;
            logf_(fp, "sensitivity %s: agreement lost %.2f pt, mean |dlogit| %.4g", cand[ncand].lost_agreement,
                  cand[ncand].mean_dlogit, cand[ncand].stem);
            ncand++;
            qf_verify_report_free(&r1);
        }
        free(others);
        free(stems);
        if (!s) qsort(cand, ncand, sizeof *cand, by_sensitivity);
    }
    size_t nfp32 = 0;
    for (size_t c = 0; !s && c < ncand && !qf_verify_gate(report->final_drop, fp->max_drop); c++) {
        fp32[nfp32++] = cand[c].stem;
        qf_model *next = NULL;
        s = measure(src, stats, p, fp32, nfp32, data, &vp, &next, &rep, err);
        if (s) break;
        qf_model_destroy(model);
        model = next;
        qf_fallback_step *st = &report->step[report->steps++];
        snprintf(st->stem, sizeof st->stem, "%s", cand[c].stem);
        st->sensitivity = cand[c].lost_agreement;
        st->sensitivity_dlogit = cand[c].mean_dlogit;
        st->drop_after = rep.drop_points;
        report->final_drop = rep.drop_points;
        report->final_agreement = rep.agreement;
        logf_(fp, "reverted %s to FP32: drop %.2f pt, agreement %.2f%%", rep.drop_points, 100 * rep.agreement,
              cand[c].stem);
        qf_verify_report_free(&rep);
    }
    if (!s) {
        report->within_budget = qf_verify_gate(report->final_drop, fp->max_drop);
        char buf[256];
        snprintf(buf, sizeof buf, "%.9g", fp->max_drop);
        s = qf_model_set_meta(model, "quant.fallback.max_drop", buf, err);
        snprintf(buf, sizeof buf, "%.4f", report->initial_drop);
        if (!s) s = qf_model_set_meta(model, "quant.fallback.initial_drop", buf, err);
        snprintf(buf, sizeof buf, "%.4f", report->final_drop);
        if (!s) s = qf_model_set_meta(model, "quant.fallback.final_drop", buf, err);
        if (!s) s = qf_model_set_meta(model, "quant.fallback.within_budget", report->within_budget ? "true" : "false", err);
        snprintf(buf, sizeof buf, "%zu", qf_dataset_size(data));
        if (!s) s = qf_model_set_meta(model, "quant.fallback.rows", buf, err);
        size_t cap = 64 + report->steps * 160, len = 0;
        char *list = malloc(cap);
        if (!list && !s) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        if (list) {
            list[0] = '\0';
            for (size_t i = 0; i < report->steps; i++)
                len += (size_t)snprintf(list + len, cap - len,
                                        "%s%s (only-int8 agreement loss %.2f pt, mean |dlogit| %.4g; drop after %.2f pt)",
                                        i ? "; " : "", report->step[i].stem, report->step[i].sensitivity,
                                        report->step[i].sensitivity_dlogit, report->step[i].drop_after);
            if (!s) s = qf_model_set_meta(model, "quant.fallback.reverted", list, err);
            free(list);
        }
    }
    free(cand);
    free(fp32);
    if (s) {
        qf_model_destroy(model);
        qf_fallback_report_free(report);
        return s;
    }
    *out = model;
    return QF_STATUS_OK;
}
