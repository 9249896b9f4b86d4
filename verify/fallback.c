/*
 * verify/fallback.c — accuracy-aware fallback for static int8: measure the artifact's drop
 * against FP32 with the job's headline metric (a qf_fallback_measure: classification's accuracy
 * here, the other jobs' in fallback_ner.c, fallback_qa.c, fallback_scoring.c); while it exceeds the
 * budget, return the most sensitive projection to FP32 and measure again. Sensitivity of a
 * projection = how far the outputs move when only that projection is int8 (the job's agreement
 * lost, then mean |logit difference|), measured once per projection.
 */
#include <math.h>
#include <stdarg.h>
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

static void log_line(const qf_fallback_params *fp, const char *fmt, ...)
{
    if (!fp->log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fp->log(fp->log_ctx, line);
}

/* Classification's lines read as they always have ("drop", "agreement lost"); another job's name
 * its metric. */
static bool is_accuracy(const qf_fallback_measure *m)
{
    return strcmp(m->metric_key, "accuracy") == 0;
}

/* ", agreement 98.50%" or nothing for a job without one, into buf. */
static const char *agreement_text(double agreement, char *buf, size_t size)
{
    if (isnan(agreement)) buf[0] = '\0';
    else snprintf(buf, size, ", agreement %.2f%%", 100 * agreement);
    return buf;
}

/* Measures the static model with `fp32` projections kept FP32. */
static qf_status measure(qf_model *src, const qf_calib_stats *stats, const qf_static_params *p, const char *const *fp32,
                         size_t nfp32, const qf_fallback_measure *fm, bool sensitivity, qf_model **model_out,
                         qf_fallback_measurement *out, qf_error *err)
{
    qf_model *m = NULL;
    qf_status s = qf_model_quantize_static_keeping(src, stats, p, fp32, nfp32, &m, err);
    if (!s) s = fm->measure(fm->ctx, sensitivity, src, m, out, err);
    if (!s && model_out) *model_out = m;
    else qf_model_destroy(m);
    return s;
}

static qf_status write_metadata(qf_model *model, const qf_fallback_measure *fm, const qf_fallback_params *fp,
                                const qf_fallback_report *report, qf_error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.9g", fp->max_drop);
    qf_status s = qf_model_set_meta(model, "quant.fallback.max_drop", buf, err);
    snprintf(buf, sizeof buf, "%.4f", report->initial_drop);
    if (!s) s = qf_model_set_meta(model, "quant.fallback.initial_drop", buf, err);
    snprintf(buf, sizeof buf, "%.4f", report->final_drop);
    if (!s) s = qf_model_set_meta(model, "quant.fallback.final_drop", buf, err);
    if (!s) s = qf_model_set_meta(model, "quant.fallback.within_budget", report->within_budget ? "true" : "false", err);
    snprintf(buf, sizeof buf, "%zu", fm->rows);
    if (!s) s = qf_model_set_meta(model, "quant.fallback.rows", buf, err);
    if (!s && !is_accuracy(fm)) s = qf_model_set_meta(model, "quant.fallback.metric", fm->metric_key, err);
    size_t cap = 64 + report->steps * 224, len = 0;
    char *list = malloc(cap);
    if (!list && !s) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (list) {
        list[0] = '\0';
        for (size_t i = 0; i < report->steps; i++) {
            const qf_fallback_step *st = &report->step[i];
            len += (size_t)snprintf(list + len, cap - len, "%s%s (only-int8 %s loss %.2f pt", i ? "; " : "", st->stem,
                                    fm->primary_name, st->sensitivity);
            if (fm->secondary_name)
                len += (size_t)snprintf(list + len, cap - len, ", %s %.4g", fm->secondary_name, st->sensitivity_dlogit);
            len += (size_t)snprintf(list + len, cap - len, "; drop after %.2f pt)", st->drop_after);
        }
        if (!s) s = qf_model_set_meta(model, "quant.fallback.reverted", list, err);
        free(list);
    }
    return s;
}

qf_status qf_static_fallback_measured(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                      const qf_fallback_measure *fm, const qf_fallback_params *fp, qf_model **out,
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
    const size_t nproj = (size_t)arch.weight_layers * QF_STATIC_PROJECTIONS; /* stored projections */
    candidate *cand = calloc(nproj, sizeof *cand);
    const char **fp32 = calloc(nproj, sizeof *fp32);
    report->step = calloc(nproj, sizeof *report->step);
    if (!cand || !fp32 || !report->step) {
        free(cand);
        free(fp32);
        qf_fallback_report_free(report);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    report->metric = fm->metric;
    const char *metric_prefix = is_accuracy(fm) ? "" : fm->metric;
    const char *metric_space = is_accuracy(fm) ? "" : " ";
    const char *lost_name = fm->primary_name;
    char agree[64];
    qf_model *model = NULL;
    qf_fallback_measurement rep;
    s = measure(src, stats, p, NULL, 0, fm, false, &model, &rep, err);
    if (!s) {
        report->initial_drop = report->final_drop = rep.drop_points;
        report->initial_agreement = report->final_agreement = rep.agreement;
        log_line(fp, "all int8: %s%sdrop %.2f pt%s", metric_prefix, metric_space, rep.drop_points,
                 agreement_text(rep.agreement, agree, sizeof agree));
    }
    size_t ncand = 0;
    if (!s && !qf_verify_gate(report->final_drop, fp->max_drop)) {
        /* sensitivity: only one projection int8, on the sensitivity rows */
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
            qf_fallback_measurement r1;
            s = measure(src, stats, p, others, k, fm, true, NULL, &r1, err);
            if (s) break;
            snprintf(cand[ncand].stem, sizeof cand[ncand].stem, "%s", stems[i]);
            cand[ncand].lost_agreement = r1.sensitivity_primary;
            cand[ncand].mean_dlogit = r1.sensitivity_secondary;
            char second[96] = "";
            if (fm->secondary_name)
                snprintf(second, sizeof second, ", %s %.4g", fm->secondary_name, cand[ncand].mean_dlogit);
            log_line(fp, "sensitivity %s: %s lost %.2f pt%s", cand[ncand].stem, lost_name, cand[ncand].lost_agreement,
                     second);
            ncand++;
        }
        free(others);
        free(stems);
        if (!s) qsort(cand, ncand, sizeof *cand, by_sensitivity);
    }
    size_t nfp32 = 0;
    for (size_t c = 0; !s && c < ncand && !qf_verify_gate(report->final_drop, fp->max_drop); c++) {
        fp32[nfp32++] = cand[c].stem;
        qf_model *next = NULL;
        s = measure(src, stats, p, fp32, nfp32, fm, false, &next, &rep, err);
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
        log_line(fp, "reverted %s to FP32: %s%sdrop %.2f pt%s", cand[c].stem, metric_prefix, metric_space,
                 rep.drop_points, agreement_text(rep.agreement, agree, sizeof agree));
    }
    if (!s) {
        report->within_budget = qf_verify_gate(report->final_drop, fp->max_drop);
        s = write_metadata(model, fm, fp, report, err);
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

/* Classification: qf_verify_run of the candidate as static int8. */
static qf_status measure_classification(void *ctx, bool sensitivity, qf_model *reference, qf_model *artifact,
                                        qf_fallback_measurement *out, qf_error *err)
{
    const qf_fallback_classification *c = ctx;
    qf_verify_params vp = c->params;
    vp.per_layer = false;
    const qf_dataset *data = sensitivity && c->sensitivity_data ? c->sensitivity_data : c->data;
    qf_verify_report r;
    qf_status s = qf_verify_run(reference, artifact, QF_ENCODER_MODE_STATIC_INT8, data, &vp, &r, err);
    if (s) return s;
    out->drop_points = r.drop_points;
    out->agreement = r.agreement;
    out->sensitivity_primary = 100.0 * (1.0 - r.agreement);
    out->sensitivity_secondary = r.mean_abs_dlogit;
    qf_verify_report_free(&r);
    return QF_STATUS_OK;
}

qf_fallback_measure qf_fallback_measure_classification(qf_fallback_classification *ctx)
{
    qf_fallback_measure m = {"accuracy", "accuracy", "agreement", "mean |dlogit|", qf_dataset_size(ctx->data),
                             measure_classification, ctx};
    return m;
}

qf_status qf_static_fallback(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                             const qf_dataset *data, const qf_fallback_params *fp, qf_model **out,
                             qf_fallback_report *report, qf_error *err)
{
    qf_fallback_params fdefaults = qf_fallback_params_default();
    if (!fp) fp = &fdefaults;
    qf_fallback_classification ctx = {data, fp->sensitivity_data, fp->verify};
    qf_fallback_measure m = qf_fallback_measure_classification(&ctx);
    return qf_static_fallback_measured(src, stats, params, &m, fp, out, report, err);
}
