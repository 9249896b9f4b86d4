/*
 * calibrate/quantize_static.c — the static int8 model pass: calibration statistics + a range
 * selection method (+ optional SmoothQuant) -> int8 projection weights per output channel and a
 * calibrated input scale per projection, stored as tensors of the model ("<stem>.input::scale",
 * "<stem>.input::smooth"). The result is what verify's STATIC_INT8 encoder runs and what the QDQ
 * ONNX writer emits.
 *
 * SmoothQuant placement: BERT-family encoders are post-norm, so a LayerNorm output feeds both the
 * projections and the residual Add; folding 1/s into that LayerNorm's gamma/beta would also scale
 * the residual branch. qforge therefore folds s into the int8 weight columns and applies 1/s to
 * the activation just before its QuantizeLinear (an FP32 Mul in the QDQ graph), which leaves the
 * LayerNorm and the residual untouched.
 */
#include <fnmatch.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/calibrate.h"

qf_static_params qf_static_params_default(void)
{
    qf_static_params p;
    memset(&p, 0, sizeof p);
    p.method = QF_CALIB_METHOD_ENTROPY;
    p.percentile = 99.99;
    p.smooth_alpha = 0.0;
    p.quantize_word_embeddings = false;
    return p;
}

static const qf_encoder_site projection_site[QF_STATIC_PROJECTIONS] = {
    QF_ENCODER_SITE_QKV,      QF_ENCODER_SITE_QKV,    QF_ENCODER_SITE_QKV,
    QF_ENCODER_SITE_ATTN_OUT, QF_ENCODER_SITE_FFN_UP, QF_ENCODER_SITE_FFN_DOWN};

void qf_static_projection_stem(int64_t layer, int index, char *buf, size_t size)
{
    qf_layer_slot_stem(layer, index >= 0 && index < QF_STATIC_PROJECTIONS ? (qf_layer_slot)index : QF_LAYER_SLOT_COUNT_,
                       buf, size);
}

static bool stays_fp32(const qf_static_params *p, const char *const *extra, size_t nextra, const char *stem)
{
    for (size_t i = 0; i < nextra; i++)
        if (strcmp(extra[i], stem) == 0) return true;
    char wname[96];
    snprintf(wname, sizeof wname, "%s.weight", stem);
    for (size_t i = 0; i < p->fp32_pattern_count; i++)
        if (fnmatch(p->fp32_patterns[i], stem, 0) == 0 || fnmatch(p->fp32_patterns[i], wname, 0) == 0) return true;
    return false;
}

/* A float tensor as malloc'ed f32 (NULL on failure or a non-float dtype). */
static float *to_f32(const qf_tensor *t)
{
    size_t es = qf_dtype_size(t->dtype);
    if (!es || !qf_dtype_is_float(t->dtype)) return NULL;
    size_t n = (size_t)(t->nbytes / es);
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) return NULL;
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case QF_DTYPE_F32: memcpy(&d[i], (const uint8_t *)t->data + i * 4, 4); break;
        case QF_DTYPE_F16: d[i] = qf_f16_to_f32(((const uint16_t *)t->data)[i]); break;
        case QF_DTYPE_BF16: d[i] = qf_bf16_to_f32(((const uint16_t *)t->data)[i]); break;
        case QF_DTYPE_F64: d[i] = (float)((const double *)t->data)[i]; break;
        default: d[i] = 0.0f; break;
        }
    }
    return d;
}

/* Histogram of |x_j / s_j| rebuilt from the per-channel histograms (values at their bin centres,
 * capped at the channel's max), over [0, 2^e) with e the exponent above the smoothed max. */
static void smoothed_hist(const qf_calib_entry *e, const double *s, uint64_t *hist, double *width, double *max_abs)
{
    double mx = 0;
    for (int64_t j = 0; j < e->channels; j++) {
        double v = (double)e->channel_absmax[j] / s[j];
        if (v > mx) mx = v;
    }
    memset(hist, 0, QF_CALIB_BINS * sizeof *hist);
    *max_abs = mx;
    if (!(mx > 0)) {
        *width = 1.0;
        return;
    }
    int ex;
    frexp(mx, &ex);
    *width = ldexp(1.0, ex - QF_CALIB_BINS_LOG2);
    for (int64_t j = 0; j < e->channels; j++) {
        const uint64_t *h = e->channel_hist + (size_t)j * QF_CALIB_CHANNEL_BINS;
        if (e->channel_exponent[j] == QF_CALIB_NO_RANGE) {
            hist[0] += h[0];
            continue;
        }
        double cw = ldexp(1.0, e->channel_exponent[j] - QF_CALIB_CHANNEL_BINS_LOG2);
        double cap = (double)e->channel_absmax[j] / s[j];
        for (size_t b = 0; b < QF_CALIB_CHANNEL_BINS; b++) {
            if (!h[b]) continue;
            double c = ((double)b + 0.5) * cw / s[j];
            if (c > cap) c = cap;
            size_t idx = (size_t)(c / *width);
            hist[idx < QF_CALIB_BINS ? idx : QF_CALIB_BINS - 1] += h[b];
        }
    }
}

typedef struct site_plan {
    float scale;  /* activation scale */
    double threshold;
    double *s;    /* smoothing factors [k] or NULL */
} site_plan;

static qf_status plan_site(const qf_model *src, const qf_calib_stats *stats, const qf_static_params *p, int64_t layer,
                           qf_encoder_site site, site_plan *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    char name[64];
    qf_calib_entry_name(layer, site, name, sizeof name);
    const qf_calib_entry *e = qf_calib_stats_find(stats, name);
    if (!e || e->count == 0) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, name, "the statistics have no values for '%s'", name);
        qf_error_expected(err, "an entry calibrated on this model");
        qf_error_found(err, e ? "0 values" : "no entry");
        return QF_STATUS_NOT_FOUND;
    }
    double max_abs = fmax(fabs((double)e->min), fabs((double)e->max));
    if (p->smooth_alpha > 0) {
        /* max |W_j| over every projection reading this activation */
        double *wmax = calloc((size_t)e->channels, sizeof *wmax);
        out->s = malloc((size_t)e->channels * sizeof *out->s);
        if (!wmax || !out->s) {
            free(wmax);
            return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        }
        for (int i = 0; i < QF_STATIC_PROJECTIONS; i++) {
            if (projection_site[i] != site) continue;
            char wname[96];
            qf_static_projection_stem(layer, i, wname, sizeof wname);
            strcat(wname, ".weight");
            const qf_tensor *w = qf_model_find(src, wname, NULL);
            float *wf = w && w->rank == 2 && w->shape[1] == e->channels ? to_f32(w) : NULL;
            if (!wf) {
                free(wmax);
                qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, wname, "'%s' is not a float [n, %lld] weight", wname,
                             (long long)e->channels);
                return QF_STATUS_SHAPE;
            }
            for (int64_t r = 0; r < w->shape[0]; r++)
                for (int64_t j = 0; j < e->channels; j++) wmax[j] = fmax(wmax[j], fabs((double)wf[r * e->channels + j]));
            free(wf);
        }
        const double a = p->smooth_alpha;
        for (int64_t j = 0; j < e->channels; j++) {
            double x = e->channel_absmax[j], w = wmax[j];
            double f = x > 0 && w > 0 ? pow(x, a) / pow(w, 1.0 - a) : 1.0;
            out->s[j] = fmin(fmax(f, 1e-5), 1e5);
        }
        free(wmax);
        uint64_t *hist = malloc(QF_CALIB_BINS * sizeof *hist);
        if (!hist) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        double width, mx;
        smoothed_hist(e, out->s, hist, &width, &mx);
        out->threshold = qf_calib_threshold(hist, QF_CALIB_BINS, width, mx, p->method, p->percentile);
        free(hist);
    } else {
        double width = e->exponent == QF_CALIB_NO_RANGE ? 1.0 : ldexp(1.0, e->exponent - QF_CALIB_BINS_LOG2);
        out->threshold = qf_calib_threshold(e->hist, QF_CALIB_BINS, width, max_abs, p->method, p->percentile);
    }
    float sc = (float)(out->threshold / 127.0);
    out->scale = sc > 0.0f && isfinite(sc) ? sc : 1.0f;
    return QF_STATUS_OK;
}

static qf_status add_f32(qf_model *dst, const char *name, const float *v, int64_t n, qf_error *err)
{
    float *d = NULL;
    qf_status s = qf_model_alloc(dst, (uint64_t)n * sizeof(float), (void **)&d, err);
    if (s) return s;
    memcpy(d, v, (size_t)n * sizeof(float));
    int64_t shape[1] = {n};
    return qf_model_add_tensor(dst, name, NULL, QF_DTYPE_F32, 1, shape, d, (uint64_t)n * sizeof(float), NULL, err);
}

/* int8 per output channel of w [n, k] (columns multiplied by s when given) + "::scale". */
static qf_status quantize_projection(qf_model *dst, const qf_tensor *t, const double *s, int threads, qf_error *err)
{
    const int64_t n = t->shape[0], k = t->shape[1];
    float *w = to_f32(t);
    if (!w) return qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, t->name, "'%s' is not a float weight", t->name);
    if (s)
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < k; j++) w[r * k + j] = (float)((double)w[r * k + j] * s[j]);
    int8_t *q = NULL;
    float *scales = NULL;
    qf_status st = qf_model_alloc(dst, (uint64_t)n * (uint64_t)k, (void **)&q, err);
    if (!st) st = qf_model_alloc(dst, (uint64_t)n * sizeof(float), (void **)&scales, err);
    if (!st) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t r = 0; r < n; r++) {
            scales[r] = qf_quant_scale_sym_i8_ref(w + r * k, (size_t)k);
            qf_quantize_row_sym_i8_ref(w + r * k, (size_t)k, scales[r], q + r * k);
        }
    }
    free(w);
    char sname[QF_MAX_NAME_LEN + 16];
    snprintf(sname, sizeof sname, "%s::scale", t->name);
    size_t wi;
    int64_t sshape[1] = {n};
    if (!st) st = qf_model_add_tensor(dst, t->name, t->source_name, QF_DTYPE_I8, 2, t->shape, q, (uint64_t)(n * k), &wi, err);
    if (!st) st = qf_model_add_tensor(dst, sname, NULL, QF_DTYPE_F32, 1, sshape, scales, (uint64_t)n * 4, NULL, err);
    if (!st) st = qf_model_set_quant(dst, wi, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0, sname, NULL, err);
    return st;
}

static qf_status quantize_rows(qf_model *dst, const qf_tensor *t, qf_error *err)
{
    return quantize_projection(dst, t, NULL, 1, err);
}

static bool is_projection_weight(const char *name, int64_t layers, int64_t *layer, int *index)
{
    for (int64_t l = 0; l < layers; l++)
        for (int i = 0; i < QF_STATIC_PROJECTIONS; i++) {
            char w[96];
            qf_static_projection_stem(l, i, w, sizeof w);
            strcat(w, ".weight");
            if (strcmp(w, name) == 0) {
                *layer = l;
                *index = i;
                return true;
            }
        }
    return false;
}

qf_status qf_model_quantize_static_keeping(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                           const char *const *extra_fp32, size_t nextra, qf_model **out,
                                           qf_error *err)
{
    qf_static_params defaults = qf_static_params_default();
    const qf_static_params *p = params ? params : &defaults;
    *out = NULL;
    if ((unsigned)p->method >= QF_CALIB_METHOD_COUNT_ || !(p->percentile > 0 && p->percentile <= 100) ||
        !(p->smooth_alpha >= 0 && p->smooth_alpha <= 1))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "static quantization: method, percentile (0, 100] or smoothing [0, 1] invalid");
    if (p->fp32_pattern_count > QF_STATIC_MAX_FP32_PATTERNS) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, "fp32_patterns", "%zu fp32 patterns",
                     p->fp32_pattern_count);
        qf_error_expected(err, "<= %d", QF_STATIC_MAX_FP32_PATTERNS);
        qf_error_found(err, "%zu", p->fp32_pattern_count);
        return QF_STATUS_LIMIT;
    }
    qf_arch arch;
    qf_status s = qf_arch_of(src, &arch, err);
    if (s) return s;
    const qf_calib_provenance *prov = qf_calib_stats_provenance(stats);
    const char *sha = qf_model_get_meta(src, "source.sha256");
    if (prov->source_sha256[0] && sha && strcmp(sha, prov->source_sha256) != 0) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "source.sha256",
                     "the statistics were calibrated on another model");
        qf_error_expected(err, "%s", sha);
        qf_error_found(err, "%s", prov->source_sha256);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    const int64_t L = arch.weight_layers; /* the stored layers of weights (ALBERT's shared groups) */
    site_plan *plan = calloc((size_t)L * QF_ENCODER_SITE_COUNT_, sizeof *plan);
    if (!plan) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (int64_t l = 0; !s && l < L; l++)
        for (int k = 0; !s && k < QF_ENCODER_SITE_COUNT_; k++)
            s = plan_site(src, stats, p, l, (qf_encoder_site)k, &plan[l * QF_ENCODER_SITE_COUNT_ + k], err);

    qf_model *dst = NULL;
    if (!s) s = qf_model_create(&dst, err);
    if (!s) s = qf_model_keep(dst, qf_model_retain(src), (void (*)(void *))qf_model_destroy, err);
    for (size_t i = 0; !s && i < qf_model_meta_count(src); i++) {
        const char *k, *v;
        qf_model_meta_at(src, i, &k, &v);
        if (strncmp(k, "quant.", 6) != 0) s = qf_model_set_meta(dst, k, v, err);
    }
    const char *cfg = qf_model_config_json(src);
    if (!s && cfg) s = qf_model_set_config_json(dst, cfg, strlen(cfg), err);
    int threads = p->threads > 0 ? p->threads : omp_get_max_threads();
    size_t quantized = 0;
    char *fp32_list = calloc(1, 1);
    size_t fp32_len = 0;
    if (!fp32_list && !s) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (size_t i = 0; !s && i < qf_model_tensor_count(src); i++) {
        const qf_tensor *t = qf_model_tensor(src, i);
        int64_t layer;
        int index;
        if (is_projection_weight(t->name, L, &layer, &index) && qf_dtype_is_float(t->dtype) && t->rank == 2) {
            char stem[64], name[96];
            qf_static_projection_stem(layer, index, stem, sizeof stem);
            if (stays_fp32(p, extra_fp32, nextra, stem)) {
                size_t need = fp32_len + strlen(stem) + 2;
                char *g = realloc(fp32_list, need);
                if (!g) {
                    s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
                    break;
                }
                fp32_list = g;
                fp32_len += (size_t)sprintf(fp32_list + fp32_len, "%s%s", fp32_len ? "," : "", stem);
                s = qf_model_add_tensor(dst, t->name, t->source_name, t->dtype, t->rank, t->shape, t->data, t->nbytes,
                                        NULL, err);
                continue;
            }
            const site_plan *sp = &plan[layer * QF_ENCODER_SITE_COUNT_ + projection_site[index]];
            s = quantize_projection(dst, t, sp->s, threads, err);
            snprintf(name, sizeof name, "%s.input::scale", stem);
            if (!s) s = add_f32(dst, name, &sp->scale, 1, err);
            if (!s && sp->s) {
                float *inv = malloc((size_t)t->shape[1] * sizeof *inv);
                if (!inv) {
                    s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
                    break;
                }
                for (int64_t j = 0; j < t->shape[1]; j++) inv[j] = (float)(1.0 / sp->s[j]);
                snprintf(name, sizeof name, "%s.input::smooth", stem);
                s = add_f32(dst, name, inv, t->shape[1], err);
                free(inv);
            }
            quantized++;
        } else if (p->quantize_word_embeddings && strcmp(t->name, QF_SLOT_WORD_EMBEDDING ".weight") == 0 &&
                   qf_dtype_is_float(t->dtype) && t->rank == 2 && t->shape[0] > 0 && t->shape[1] > 0) {
            s = quantize_rows(dst, t, err);
        } else {
            size_t index2;
            s = qf_model_add_tensor(dst, t->name, t->source_name, t->dtype, t->rank, t->shape, t->data, t->nbytes,
                                    &index2, err);
            if (!s && t->quant.scheme != QF_QUANT_NONE)
                s = qf_model_set_quant(dst, index2, t->quant.scheme, t->quant.axis, t->quant.scale_name,
                                       t->quant.zero_point_name, err);
        }
    }
    char buf[256];
    if (!s) s = qf_model_set_meta(dst, "quant.mode", "static", err);
    if (!s) s = qf_model_set_meta(dst, "quant.weights", "int8 symmetric per-output-channel", err);
    if (!s)
        s = qf_model_set_meta(dst, "quant.activations",
                              "int8 symmetric per-tensor, calibrated: q = saturate(round_half_even(x / s)) in [-128, 127]",
                              err);
    if (!s) s = qf_model_set_meta(dst, "quant.method", qf_calib_method_name(p->method), err);
    if (!s && p->method == QF_CALIB_METHOD_PERCENTILE) {
        snprintf(buf, sizeof buf, "%.9g", p->percentile);
        s = qf_model_set_meta(dst, "quant.percentile", buf, err);
    }
    if (!s) {
        if (p->smooth_alpha > 0) snprintf(buf, sizeof buf, "%.9g", p->smooth_alpha);
        else snprintf(buf, sizeof buf, "off");
        s = qf_model_set_meta(dst, "quant.smooth_alpha", buf, err);
    }
    if (!s && p->smooth_alpha > 0)
        s = qf_model_set_meta(dst, "quant.smooth_placement",
                              "weight columns x s, activation x 1/s before QuantizeLinear (<stem>.input::smooth)", err);
    if (!s) s = qf_model_set_meta(dst, "quant.word_embeddings", p->quantize_word_embeddings ? "int8 per-row" : "fp32", err);
    if (!s) {
        snprintf(buf, sizeof buf, "%zu", quantized);
        s = qf_model_set_meta(dst, "quant.static_projections", buf, err);
    }
    if (!s) s = qf_model_set_meta(dst, "quant.fp32_projections", fp32_list ? fp32_list : "", err);
    if (!s) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)prov->rows);
        s = qf_model_set_meta(dst, "quant.calibration.rows", buf, err);
    }
    if (!s) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)prov->tokens);
        s = qf_model_set_meta(dst, "quant.calibration.tokens", buf, err);
    }
    if (!s) {
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)prov->row_hash_sum);
        s = qf_model_set_meta(dst, "quant.calibration.rows_fingerprint", buf, err);
    }
    free(fp32_list);
    for (int64_t i = 0; i < L * QF_ENCODER_SITE_COUNT_; i++) free(plan[i].s);
    free(plan);
    if (s) {
        qf_model_destroy(dst);
        return s;
    }
    *out = dst;
    return QF_STATUS_OK;
}

qf_status qf_model_quantize_static(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                   qf_model **out, qf_error *err)
{
    return qf_model_quantize_static_keeping(src, stats, params, NULL, 0, out, err);
}
