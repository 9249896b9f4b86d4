/*
 * calibrate/methods.c — range selection at quantize time, from a histogram of |x| (no model
 * re-run): minmax, percentile, entropy (KL-divergence threshold search with 128 quantized levels,
 * the TensorRT / ONNX Runtime algorithm on a one-sided histogram) and mse (threshold minimising
 * the expected squared error of int8 symmetric quantization). Each returns a clipping threshold T;
 * the activation scale is T / 127.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/calibrate.h"

static const char *method_names[] = {"minmax", "percentile", "entropy", "mse"};

const char *qf_calib_method_name(qf_calib_method m)
{
    return (unsigned)m < QF_CALIB_METHOD_COUNT_ ? method_names[m] : "?";
}

bool qf_calib_method_from_name(const char *name, qf_calib_method *out)
{
    for (int i = 0; i < QF_CALIB_METHOD_COUNT_; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *out = (qf_calib_method)i;
            return true;
        }
    return false;
}

#define ENTROPY_LEVELS 128

/* ONNX Runtime's smooth_distribution: zero bins get eps, taken evenly from the non-zero ones. */
static bool smooth(double *p, size_t n)
{
    const double eps = 1e-4;
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += p[i] == 0.0;
    size_t nonzeros = n - zeros;
    if (nonzeros == 0) return false;
    double take = eps * (double)zeros / (double)nonzeros;
    for (size_t i = 0; i < n; i++) p[i] = p[i] == 0.0 ? eps : p[i] - take;
    return true;
}

static double kl_divergence(const double *p, const double *q, size_t n)
{
    double sp = 0, sq = 0, kl = 0;
    for (size_t i = 0; i < n; i++) sp += p[i], sq += q[i];
    for (size_t i = 0; i < n; i++) {
        double a = p[i] / sp, b = q[i] / sq;
        if (a > 0 && b > 0) kl += a * log(a / b);
    }
    return kl;
}

/* Number of leading bins i in [128, used] whose threshold i * width loses the least information. */
static size_t entropy_bins(const uint64_t *hist, size_t used)
{
    double *p = malloc(used * sizeof *p), *q = malloc(used * sizeof *q);
    size_t best = used;
    if (!p || !q) {
        free(p);
        free(q);
        return used;
    }
    double best_kl = INFINITY;
    double outliers = 0;
    for (size_t k = ENTROPY_LEVELS; k < used; k++) outliers += (double)hist[k];
    for (size_t i = ENTROPY_LEVELS; i <= used; i++) {
        if (i > ENTROPY_LEVELS) outliers -= (double)hist[i - 1];
        for (size_t k = 0; k < i; k++) p[k] = (double)hist[k];
        p[i - 1] += outliers;
        /* quantize the sliced distribution (without outliers) into 128 levels, expand over the
         * non-empty bins of each level */
        size_t merged = i / ENTROPY_LEVELS;
        for (size_t level = 0; level < ENTROPY_LEVELS; level++) {
            size_t start = level * merged, stop = level + 1 == ENTROPY_LEVELS ? i : start + merged;
            double sum = 0;
            size_t nonzero = 0;
            for (size_t k = start; k < stop; k++) {
                sum += (double)hist[k];
                nonzero += hist[k] != 0;
            }
            for (size_t k = start; k < stop; k++) q[k] = nonzero && hist[k] ? sum / (double)nonzero : 0.0;
        }
        if (!smooth(p, i) || !smooth(q, i)) continue;
        double kl = kl_divergence(p, q, i);
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    free(p);
    free(q);
    return best;
}

/* Threshold i * width minimising E[(x - dq(q(x)))^2] with the values at their bin centres:
 * inside the range the rounding error is uniform (s^2 / 12, s = T / 127); beyond it, (|x| - T)^2. */
static size_t mse_bins(const uint64_t *hist, size_t used, double width)
{
    double *s0 = calloc(used + 1, sizeof *s0), *s1 = calloc(used + 1, sizeof *s1), *s2 = calloc(used + 1, sizeof *s2);
    size_t best = used;
    if (!s0 || !s1 || !s2) goto done;
    for (size_t b = used; b-- > 0;) {
        double c = ((double)b + 0.5) * width, h = (double)hist[b];
        s0[b] = s0[b + 1] + h;
        s1[b] = s1[b + 1] + h * c;
        s2[b] = s2[b + 1] + h * c * c;
    }
    double best_err = INFINITY;
    for (size_t i = 1; i <= used; i++) {
        double T = (double)i * width, s = T / 127.0;
        double inside = s0[0] - s0[i];
        double clipped = s2[i] - 2.0 * T * s1[i] + T * T * s0[i];
        double e = inside * s * s / 12.0 + clipped;
        if (e < best_err) {
            best_err = e;
            best = i;
        }
    }
done:
    free(s0);
    free(s1);
    free(s2);
    return best;
}

double qf_calib_threshold(const uint64_t *hist, size_t bins, double width, double max_abs, qf_calib_method method,
                          double percentile)
{
    size_t used = 0;
    uint64_t total = 0;
    for (size_t b = 0; b < bins; b++)
        if (hist[b]) {
            used = b + 1;
            total += hist[b];
        }
    if (!(max_abs > 0) || total == 0 || !(width > 0)) return 0.0;
    double T = max_abs;
    switch (method) {
    case QF_CALIB_METHOD_MINMAX: break;
    case QF_CALIB_METHOD_PERCENTILE: {
        if (!(percentile < 100.0)) break;
        double target = (double)total * (percentile / 100.0), cum = 0;
        for (size_t b = 0; b < used; b++) {
            cum += (double)hist[b];
            if (cum >= target) {
                T = (double)(b + 1) * width;
                break;
            }
        }
        break;
    }
    case QF_CALIB_METHOD_ENTROPY:
        if (used > ENTROPY_LEVELS) T = (double)entropy_bins(hist, used) * width;
        break;
    case QF_CALIB_METHOD_MSE: T = (double)mse_bins(hist, used, width) * width; break;
    default: break;
    }
    return T < max_abs ? T : max_abs;
}
