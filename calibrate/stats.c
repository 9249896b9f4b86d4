/*
 * calibrate/stats.c — streaming observers of the activations static int8 quantizes: counts, min,
 * max, a |x| histogram over a power-of-two range that grows by merging bin pairs, and per-channel
 * max|x| + coarse histograms for SmoothQuant. Merging is exact (see calibrate.h), which is what
 * makes the result independent of order, batch size and thread count. The .qfc file is in qfc.c.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate/stats_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define QF_STATS_X86 1
#endif

void qf_calib_entry_name(int64_t layer, qf_encoder_site site, char *buf, size_t size)
{
    snprintf(buf, size, "layers.%lld.%s.input", (long long)layer, qf_encoder_site_name(site));
}

qf_status qf_calib_stats_create(qf_calib_stats **out, qf_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    return QF_STATUS_OK;
}

static void entry_free(qf_calib_entry_impl *e)
{
    free(e->name);
    free(e->hist);
    free(e->chabs);
    free(e->chexp);
    free(e->chhist);
    free(e->chscale);
    free(e->chlimit);
}

void qf_calib_stats_destroy(qf_calib_stats *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) entry_free(&s->e[i]);
    free(s->e);
    free(s);
}

size_t qf_calib_stats_count(const qf_calib_stats *s) { return s->n; }

const qf_calib_entry *qf_calib_stats_entry(const qf_calib_stats *s, size_t i)
{
    return i < s->n ? &s->e[i].pub : NULL;
}

const qf_calib_entry *qf_calib_stats_find(const qf_calib_stats *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) return &s->e[i].pub;
    return NULL;
}

const qf_calib_provenance *qf_calib_stats_provenance(const qf_calib_stats *s) { return &s->prov; }
qf_calib_provenance *qf_calib_stats_provenance_mut(qf_calib_stats *s) { return &s->prov; }

/* Canonical order: "layers.N.<site>.input" by (N, site), then any other name by strcmp. */
static void sort_key(const char *name, long long *layer, int *site)
{
    *layer = -1;
    *site = 0;
    unsigned long long n;
    int used = 0;
    if (sscanf(name, "layers.%llu.%n", &n, &used) == 1 && used > 0) {
        for (int k = 0; k < QF_ENCODER_SITE_COUNT_; k++) {
            char want[64];
            snprintf(want, sizeof want, "%s.input", qf_encoder_site_name((qf_encoder_site)k));
            if (strcmp(name + used, want) == 0) {
                *layer = (long long)n;
                *site = k;
                return;
            }
        }
    }
}

static int entry_cmp(const char *a, const char *b)
{
    long long la, lb;
    int sa, sb;
    sort_key(a, &la, &sa);
    sort_key(b, &lb, &sb);
    bool ka = la >= 0, kb = lb >= 0;
    if (ka != kb) return ka ? -1 : 1;
    if (ka) {
        if (la != lb) return la < lb ? -1 : 1;
        if (sa != sb) return sa < sb ? -1 : 1;
        return 0;
    }
    return strcmp(a, b);
}

void qf_calib_entry_sync(qf_calib_entry_impl *e)
{
    e->pub.name = e->name;
    e->pub.hist = e->hist;
    e->pub.channel_absmax = e->chabs;
    e->pub.channel_exponent = e->chexp;
    e->pub.channel_hist = e->chhist;
    for (int64_t j = 0; j < e->pub.channels; j++) {
        const bool none = e->chexp[j] == QF_CALIB_NO_RANGE;
        e->chscale[j] = none ? 0.0 : ldexp(1.0, QF_CALIB_CHANNEL_BINS_LOG2 - e->chexp[j]);
        e->chlimit[j] = none ? 0.0 : ldexp(1.0, e->chexp[j]);
    }
}

qf_status qf_calib_stats_add_entry(qf_calib_stats *s, const char *name, int64_t channels, qf_calib_entry_impl **out,
                                   qf_error *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > QF_CALIB_MAX_NAME) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, name, "statistics entry name of %zu bytes", len);
        qf_error_expected(err, "1..%d bytes", QF_CALIB_MAX_NAME);
        qf_error_found(err, "%zu bytes", len);
        return QF_STATUS_LIMIT;
    }
    if (channels < 1 || channels > QF_CALIB_MAX_CHANNELS) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, name, "activation '%s' has %lld channels", name,
                     (long long)channels);
        qf_error_expected(err, "1..%d", QF_CALIB_MAX_CHANNELS);
        qf_error_found(err, "%lld", (long long)channels);
        return QF_STATUS_LIMIT;
    }
    if (s->n >= QF_CALIB_MAX_ENTRIES) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, name, "more than %d statistics entries",
                     QF_CALIB_MAX_ENTRIES);
        qf_error_expected(err, "<= %d entries", QF_CALIB_MAX_ENTRIES);
        qf_error_found(err, "%zu", s->n + 1);
        return QF_STATUS_LIMIT;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        qf_calib_entry_impl *p = realloc(s->e, cap * sizeof *p);
        if (!p) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        s->e = p;
        s->cap = cap;
    }
    qf_calib_entry_impl e;
    memset(&e, 0, sizeof e);
    size_t ch = (size_t)channels;
    e.name = strdup(name);
    e.hist = calloc(QF_CALIB_BINS, sizeof *e.hist);
    e.chabs = calloc(ch, sizeof *e.chabs);
    e.chexp = malloc(ch * sizeof *e.chexp);
    e.chhist = calloc(ch * QF_CALIB_CHANNEL_BINS, sizeof *e.chhist);
    e.chscale = calloc(ch, sizeof *e.chscale);
    e.chlimit = calloc(ch, sizeof *e.chlimit);
    if (!e.name || !e.hist || !e.chabs || !e.chexp || !e.chhist || !e.chscale || !e.chlimit) {
        entry_free(&e);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, name, "out of memory");
    }
    for (size_t j = 0; j < ch; j++) e.chexp[j] = QF_CALIB_NO_RANGE;
    e.pub.channels = channels;
    e.pub.exponent = QF_CALIB_NO_RANGE;
    size_t at = s->n;
    while (at > 0 && entry_cmp(s->e[at - 1].name, name) > 0) at--;
    memmove(&s->e[at + 1], &s->e[at], (s->n - at) * sizeof *s->e);
    s->e[at] = e;
    s->n++;
    for (size_t i = 0; i < s->n; i++) qf_calib_entry_sync(&s->e[i]);
    *out = &s->e[at];
    return QF_STATUS_OK;
}

/* Re-bins hist (2^bins_log2 bins over [0, 2^*exp)) onto [0, 2^new_exp), new_exp >= *exp. */
static void hist_grow(uint64_t *h, int bins_log2, int32_t *exp, int32_t new_exp)
{
    if (*exp == QF_CALIB_NO_RANGE || new_exp <= *exp) {
        if (*exp == QF_CALIB_NO_RANGE) *exp = new_exp; /* only bin 0 (zeros) can hold counts */
        return;
    }
    const size_t bins = (size_t)1 << bins_log2;
    const int64_t k = (int64_t)new_exp - *exp;
    if (k >= bins_log2) {
        uint64_t total = 0;
        for (size_t i = 0; i < bins; i++) total += h[i], h[i] = 0;
        h[0] = total;
    } else {
        /* ascending: every target i >> k < i was already emptied before it receives */
        for (size_t i = 1; i < bins; i++) {
            uint64_t v = h[i];
            h[i] = 0;
            h[i >> k] += v;
        }
    }
    *exp = new_exp;
}

/* Exponent e with a < 2^e (a > 0 finite). */
static int32_t exponent_above(double a)
{
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    return (int32_t)e;
}

/* Channel j's histogram grows to hold the finite value a > 0. */
static void grow_channel(qf_calib_entry_impl *e, int64_t j, double a)
{
    hist_grow(e->chhist + (size_t)j * QF_CALIB_CHANNEL_BINS, QF_CALIB_CHANNEL_BINS_LOG2, &e->chexp[j], exponent_above(a));
    e->chscale[j] = ldexp(1.0, QF_CALIB_CHANNEL_BINS_LOG2 - e->chexp[j]);
    e->chlimit[j] = ldexp(1.0, e->chexp[j]);
}

/* The observation itself, scalar: the specification of what the statistics hold. */
static void observe_rows_ref(qf_calib_entry_impl *e, const float *x, int64_t rows, int64_t cols)
{
    qf_calib_entry *p = &e->pub;
    /* Tensor statistics and the tensor histogram, row by row (min/max keep the first of equal
     * values, so this order is part of the result). */
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        /* grow once per row to its largest finite |x| */
        float rmax = 0.0f;
        for (int64_t j = 0; j < cols; j++) {
            float a = fabsf(row[j]);
            if (a > rmax && isfinite(a)) rmax = a;
        }
        if (rmax > 0.0f && (p->exponent == QF_CALIB_NO_RANGE || (double)rmax >= ldexp(1.0, p->exponent)))
            hist_grow(e->hist, QF_CALIB_BINS_LOG2, &p->exponent, exponent_above(rmax));
        const double scale = p->exponent == QF_CALIB_NO_RANGE ? 0.0 : ldexp(1.0, QF_CALIB_BINS_LOG2 - p->exponent);
        for (int64_t j = 0; j < cols; j++) {
            float v = row[j];
            if (!isfinite(v)) {
                p->nonfinite++;
                continue;
            }
            if (p->count == 0) p->min = p->max = v;
            else if (v < p->min) p->min = v;
            else if (v > p->max) p->max = v;
            p->count++;
            e->hist[(size_t)(fabs((double)v) * scale)]++;
        }
    }
    /* Per-channel histograms and maxima, a block of channels at a time over every row, so that the
     * block's histograms stay in cache. Each channel still sees its values in row order, the only
     * order its statistics depend on. */
    enum { CHANNEL_BLOCK = 16 };
    for (int64_t j0 = 0; j0 < cols; j0 += CHANNEL_BLOCK) {
        const int64_t j1 = j0 + CHANNEL_BLOCK < cols ? j0 + CHANNEL_BLOCK : cols;
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + r * cols;
            for (int64_t j = j0; j < j1; j++) {
                const float v = row[j];
                if (!isfinite(v)) continue;
                const double a = fabs((double)v);
                if (a > 0.0 && a >= e->chlimit[j]) grow_channel(e, j, a); /* chlimit: 2^chexp, 0 before any range */
                e->chhist[(size_t)j * QF_CALIB_CHANNEL_BINS + (size_t)(a * e->chscale[j])]++;
                if ((float)a > e->chabs[j]) e->chabs[j] = (float)a;
            }
        }
    }
}

#ifdef QF_STATS_X86
/* h[i]++ for each of the eight indices in idx, taken from the register (a 64-byte store read back as
 * 8-byte loads stalls on store forwarding). */
__attribute__((target("avx512f,avx512dq"))) static inline void bump8(uint64_t *h, __m512i idx)
{
    const __m128i q0 = _mm512_castsi512_si128(idx), q1 = _mm512_extracti64x2_epi64(idx, 1);
    const __m128i q2 = _mm512_extracti64x2_epi64(idx, 2), q3 = _mm512_extracti64x2_epi64(idx, 3);
    h[_mm_cvtsi128_si64(q0)]++;
    h[_mm_extract_epi64(q0, 1)]++;
    h[_mm_cvtsi128_si64(q1)]++;
    h[_mm_extract_epi64(q1, 1)]++;
    h[_mm_cvtsi128_si64(q2)]++;
    h[_mm_extract_epi64(q2, 1)]++;
    h[_mm_cvtsi128_si64(q3)]++;
    h[_mm_extract_epi64(q3, 1)]++;
}

/*
 * observe_rows_ref with AVX-512, the same statistics bit for bit: the finite maximum, counts and
 * min/max reduce over a row in vectors (min and max are order-free but for the sign of a zero, so a
 * zero extreme takes the row's first zero, as the in-order scan does); bin indices are computed
 * eight at a time in double and the histogram increments stay scalar (indices straight from the
 * registers); per-channel work runs across 16 channels of a row at once, each channel still in row
 * order, growth handled lane by lane.
 */
__attribute__((target("avx512f,avx512dq"))) static void observe_rows_avx512(qf_calib_entry_impl *e, const float *x,
                                                                             int64_t rows, int64_t cols)
{
    qf_calib_entry *p = &e->pub;
    const __m512 inf = _mm512_set1_ps(INFINITY);
    uint64_t bin[16];
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        __m512 vabs = _mm512_setzero_ps(), vmin = inf, vmax = _mm512_set1_ps(-INFINITY);
        int64_t finite = 0;
        for (int64_t j = 0; j < cols; j += 16) {
            const __mmask16 k = cols - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            const __m512 v = _mm512_maskz_loadu_ps(k, row + j);
            const __m512 a = _mm512_abs_ps(v);
            const __mmask16 fin = _mm512_mask_cmp_ps_mask(k, a, inf, _CMP_LT_OQ);
            vabs = _mm512_mask_max_ps(vabs, fin, vabs, a);
            vmin = _mm512_mask_min_ps(vmin, fin, vmin, v);
            vmax = _mm512_mask_max_ps(vmax, fin, vmax, v);
            finite += __builtin_popcount((unsigned)fin);
        }
        const float rmax = _mm512_reduce_max_ps(vabs);
        if (rmax > 0.0f && (p->exponent == QF_CALIB_NO_RANGE || (double)rmax >= ldexp(1.0, p->exponent)))
            hist_grow(e->hist, QF_CALIB_BINS_LOG2, &p->exponent, exponent_above(rmax));
        const double scale = p->exponent == QF_CALIB_NO_RANGE ? 0.0 : ldexp(1.0, QF_CALIB_BINS_LOG2 - p->exponent);
        if (finite > 0) {
            float mn = _mm512_reduce_min_ps(vmin), mx = _mm512_reduce_max_ps(vmax);
            if (mn == 0.0f || mx == 0.0f) {
                float first_zero = 0.0f;
                for (int64_t j = 0; j < cols; j++)
                    if (row[j] == 0.0f) {
                        first_zero = row[j];
                        break;
                    }
                if (mn == 0.0f) mn = first_zero;
                if (mx == 0.0f) mx = first_zero;
            }
            if (p->count == 0) {
                p->min = mn;
                p->max = mx;
            } else {
                if (mn < p->min) p->min = mn;
                if (mx > p->max) p->max = mx;
            }
        }
        p->count += (uint64_t)finite;
        p->nonfinite += (uint64_t)(cols - finite);
        const __m512d vscale = _mm512_set1_pd(scale);
        for (int64_t j = 0; j < cols; j += 16) {
            const __mmask16 k = cols - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            const __m512 v = _mm512_maskz_loadu_ps(k, row + j);
            const __m512 av = _mm512_abs_ps(v);
            const __mmask16 fin = _mm512_mask_cmp_ps_mask(k, av, inf, _CMP_LT_OQ);
            const __m512d a_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(av));
            const __m512d a_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(av), 1)));
            const __m512i b_lo = _mm512_cvttpd_epu64(_mm512_mul_pd(a_lo, vscale));
            const __m512i b_hi = _mm512_cvttpd_epu64(_mm512_mul_pd(a_hi, vscale));
            if (fin == 0xFFFF) {
                bump8(e->hist, b_lo);
                bump8(e->hist, b_hi);
            } else {
                _mm512_storeu_si512(bin, b_lo);
                _mm512_storeu_si512(bin + 8, b_hi);
                for (unsigned m = fin; m; m &= m - 1) e->hist[bin[__builtin_ctz(m)]]++;
            }
        }
    }
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
        const int64_t n = cols - j0 < 16 ? cols - j0 : 16;
        const __mmask16 k = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        __m512 chabs = _mm512_maskz_loadu_ps(k, e->chabs + j0);
        __m512d lim_lo = _mm512_maskz_loadu_pd((__mmask8)k, e->chlimit + j0);
        __m512d lim_hi = _mm512_maskz_loadu_pd((__mmask8)(k >> 8), e->chlimit + j0 + 8);
        __m512d sc_lo = _mm512_maskz_loadu_pd((__mmask8)k, e->chscale + j0);
        __m512d sc_hi = _mm512_maskz_loadu_pd((__mmask8)(k >> 8), e->chscale + j0 + 8);
        /* lane l's bins start at (j0 + l) * QF_CALIB_CHANNEL_BINS in the entry's channel histograms */
        uint64_t *block_hist = e->chhist + (size_t)j0 * QF_CALIB_CHANNEL_BINS;
        const __m512i chan_lo = _mm512_mullo_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0),
                                                   _mm512_set1_epi64(QF_CALIB_CHANNEL_BINS));
        const __m512i chan_hi = _mm512_add_epi64(chan_lo, _mm512_set1_epi64(8 * QF_CALIB_CHANNEL_BINS));
        for (int64_t r = 0; r < rows; r++) {
            const __m512 v = _mm512_maskz_loadu_ps(k, x + r * cols + j0);
            const __m512 av = _mm512_abs_ps(v);
            const __mmask16 fin = _mm512_mask_cmp_ps_mask(k, av, inf, _CMP_LT_OQ);
            const __m512d a_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(av));
            const __m512d a_hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(av), 1)));
            const __m512d zero = _mm512_setzero_pd();
            const __mmask8 g_lo = _mm512_mask_cmp_pd_mask((__mmask8)fin, a_lo, zero, _CMP_GT_OQ) &
                                  _mm512_cmp_pd_mask(a_lo, lim_lo, _CMP_GE_OQ);
            const __mmask8 g_hi = _mm512_mask_cmp_pd_mask((__mmask8)(fin >> 8), a_hi, zero, _CMP_GT_OQ) &
                                  _mm512_cmp_pd_mask(a_hi, lim_hi, _CMP_GE_OQ);
            if (g_lo | g_hi) {
                const unsigned grow = (unsigned)g_lo | ((unsigned)g_hi << 8);
                for (unsigned m = grow; m; m &= m - 1) {
                    const int l = __builtin_ctz(m);
                    grow_channel(e, j0 + l, fabs((double)x[r * cols + j0 + l]));
                }
                lim_lo = _mm512_maskz_loadu_pd((__mmask8)k, e->chlimit + j0);
                lim_hi = _mm512_maskz_loadu_pd((__mmask8)(k >> 8), e->chlimit + j0 + 8);
                sc_lo = _mm512_maskz_loadu_pd((__mmask8)k, e->chscale + j0);
                sc_hi = _mm512_maskz_loadu_pd((__mmask8)(k >> 8), e->chscale + j0 + 8);
            }
            const __m512i i_lo = _mm512_add_epi64(_mm512_cvttpd_epu64(_mm512_mul_pd(a_lo, sc_lo)), chan_lo);
            const __m512i i_hi = _mm512_add_epi64(_mm512_cvttpd_epu64(_mm512_mul_pd(a_hi, sc_hi)), chan_hi);
            if (fin == 0xFFFF) {
                bump8(block_hist, i_lo);
                bump8(block_hist, i_hi);
            } else {
                _mm512_storeu_si512(bin, i_lo);
                _mm512_storeu_si512(bin + 8, i_hi);
                for (unsigned m = fin; m; m &= m - 1) block_hist[bin[__builtin_ctz(m)]]++;
            }
            chabs = _mm512_mask_max_ps(chabs, fin, chabs, av);
        }
        _mm512_mask_storeu_ps(e->chabs + j0, k, chabs);
    }
}
#endif

static void observe_rows(qf_calib_entry_impl *e, const float *x, int64_t rows, int64_t cols, bool reference)
{
#ifdef QF_STATS_X86
    if (!reference && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
        observe_rows_avx512(e, x, rows, cols);
        return;
    }
#endif
    (void)reference;
    observe_rows_ref(e, x, rows, cols);
}

static qf_status observe(qf_calib_stats *s, const char *name, const float *x, int64_t rows, int64_t cols, bool reference,
                         qf_error *err)
{
    if (!s || !name || (!x && rows * cols > 0) || rows < 0 || cols < 1)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, name, "qf_calib_stats_observe: bad arguments");
    qf_calib_entry_impl *e = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) e = &s->e[i];
    if (!e) {
        qf_status st = qf_calib_stats_add_entry(s, name, cols, &e, err);
        if (st) return st;
    } else if (e->pub.channels != cols) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "activation '%s' changed its width", name);
        qf_error_expected(err, "%lld channels", (long long)e->pub.channels);
        qf_error_found(err, "%lld", (long long)cols);
        return QF_STATUS_SHAPE;
    }
    observe_rows(e, x, rows, cols, reference);
    return QF_STATUS_OK;
}

qf_status qf_calib_stats_observe(qf_calib_stats *s, const char *name, const float *x, int64_t rows, int64_t cols,
                                 qf_error *err)
{
    return observe(s, name, x, rows, cols, false, err);
}

qf_status qf_calib_stats_observe_ref(qf_calib_stats *s, const char *name, const float *x, int64_t rows, int64_t cols,
                                     qf_error *err)
{
    return observe(s, name, x, rows, cols, true, err);
}

/* dst (over 2^*dexp) += src (over 2^sexp), both 2^bins_log2 bins; dst grown first when needed. */
static void hist_merge(uint64_t *dst, int32_t *dexp, const uint64_t *src, int32_t sexp, int bins_log2)
{
    const size_t bins = (size_t)1 << bins_log2;
    if (sexp != QF_CALIB_NO_RANGE && (*dexp == QF_CALIB_NO_RANGE || sexp > *dexp)) hist_grow(dst, bins_log2, dexp, sexp);
    if (sexp == QF_CALIB_NO_RANGE || *dexp == QF_CALIB_NO_RANGE) {
        dst[0] += src[0]; /* src holds zeros only */
        return;
    }
    int64_t k = (int64_t)*dexp - sexp;
    for (size_t i = 0; i < bins; i++) {
        if (!src[i]) continue;
        dst[k >= bins_log2 ? 0 : i >> k] += src[i];
    }
}

qf_status qf_calib_stats_merge(qf_calib_stats *dst, const qf_calib_stats *src, qf_error *err)
{
    if (dst->prov.source_sha256[0] && src->prov.source_sha256[0] &&
        strcmp(dst->prov.source_sha256, src->prov.source_sha256) != 0) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "source_sha256",
                     "statistics of different models cannot be merged");
        qf_error_expected(err, "%s", dst->prov.source_sha256);
        qf_error_found(err, "%s", src->prov.source_sha256);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    /* check every shape first, so a failed merge leaves dst unchanged */
    for (size_t i = 0; i < src->n; i++) {
        const qf_calib_entry *d = qf_calib_stats_find(dst, src->e[i].name);
        if (d && d->channels != src->e[i].pub.channels) {
            qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, src->e[i].name, "activation '%s' has another width",
                         src->e[i].name);
            qf_error_expected(err, "%lld channels", (long long)d->channels);
            qf_error_found(err, "%lld", (long long)src->e[i].pub.channels);
            return QF_STATUS_SHAPE;
        }
    }
    for (size_t i = 0; i < src->n; i++) {
        const qf_calib_entry_impl *se = &src->e[i];
        qf_calib_entry_impl *de = NULL;
        for (size_t k = 0; k < dst->n; k++)
            if (strcmp(dst->e[k].name, se->name) == 0) de = &dst->e[k];
        if (!de) {
            qf_status st = qf_calib_stats_add_entry(dst, se->name, se->pub.channels, &de, err);
            if (st) return st;
        }
        qf_calib_entry *d = &de->pub;
        const qf_calib_entry *sp = &se->pub;
        if (sp->count) {
            if (!d->count) {
                d->min = sp->min;
                d->max = sp->max;
            } else {
                if (sp->min < d->min) d->min = sp->min;
                if (sp->max > d->max) d->max = sp->max;
            }
        }
        d->count += sp->count;
        d->nonfinite += sp->nonfinite;
        hist_merge(de->hist, &d->exponent, se->hist, sp->exponent, QF_CALIB_BINS_LOG2);
        for (int64_t j = 0; j < d->channels; j++) {
            hist_merge(de->chhist + (size_t)j * QF_CALIB_CHANNEL_BINS, &de->chexp[j],
                       se->chhist + (size_t)j * QF_CALIB_CHANNEL_BINS, se->chexp[j], QF_CALIB_CHANNEL_BINS_LOG2);
            if (se->chabs[j] > de->chabs[j]) de->chabs[j] = se->chabs[j];
        }
        qf_calib_entry_sync(de);
    }
    if (!dst->prov.source_sha256[0]) memcpy(dst->prov.source_sha256, src->prov.source_sha256, 65);
    dst->prov.rows += src->prov.rows;
    dst->prov.tokens += src->prov.tokens;
    dst->prov.row_hash_sum += src->prov.row_hash_sum;
    return QF_STATUS_OK;
}
