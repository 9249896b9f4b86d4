/*
 * runtime/kernels_simd.c — the encoder's non-GEMM hot loops: DynamicQuantizeLinear of a projection
 * input, one query row of attention (scores, softmax, context), the dequantize + bias epilogue of
 * an integer linear layer, one row of LayerNorm and GELU (erf form). Each has a scalar _ref form,
 * the specification, and an AVX-512 form used when the CPU has it; the two give identical bits
 * (tests/test_encoder_kernels.c compares them), so results depend neither on the CPU nor on the
 * thread count:
 *   - min/max are order-independent; vminps/vmaxps return their second operand when the first is
 *     NaN (or both are zeros), which is what the scalar `x < lo` / `x > hi` comparisons keep;
 *   - x / s is IEEE division, rounding is vrndscaleps to nearest-even (rintf in the default mode);
 *   - every dot product is accumulated in increasing index order, vectorized across independent
 *     outputs only: attention with fused multiply-adds (fmaf in the scalar form), the int8
 *     epilogue with a separate multiply and add (this file is compiled in ISO C mode, which leaves
 *     contraction off, so what is written is what runs);
 *   - exp and erf are this file's own double-precision polynomials (fused multiply-adds, one
 *     rounding to float), and the softmax sum is 16 partial sums added in lane order, so the
 *     vector forms compute exactly what the scalar ones do.
 */
#include <math.h>
#include <stdbool.h>

#if defined(__x86_64__)
#include "runtime/kernels_avx512.h"
#define QF_KERNELS_X86 1
#endif

#include "runtime/kernels.h"

/* Saturating round-half-to-even of z into [0, 255]. */
static uint8_t zero_point_u8(float zf)
{
    if (zf != zf) return 0;
    if (zf < 0.0f) zf = 0.0f;
    if (zf > 255.0f) zf = 255.0f;
    return (uint8_t)rintf(zf);
}

/* 1/k! for k = 0..11, the Taylor coefficients of e^r (each rounded once, by the compiler). */
static const double exp_c[12] = {1.0,        1.0,         1.0 / 2,      1.0 / 6,       1.0 / 24,       1.0 / 120,
                                 1.0 / 720,  1.0 / 5040,  1.0 / 40320,  1.0 / 362880,  1.0 / 3628800,  1.0 / 39916800};
#define QF_EXP_LOG2E 0x1.71547652b82fep+0
#define QF_EXP_LN2 0x1.62e42fefa39efp-1
#define QF_EXP_LO (-150.0) /* e^-150 < 2^-216: rounds to 0 in float */
#define QF_EXP_HI 100.0    /* e^100 > FLT_MAX: rounds to +inf */

float qf_expf_ref(float x)
{
    if (x != x) return x;
    double xd = (double)x;
    if (xd < QF_EXP_LO) xd = QF_EXP_LO;
    if (xd > QF_EXP_HI) xd = QF_EXP_HI;
    const double n = rint(xd * QF_EXP_LOG2E);
    const double r = fma(-n, QF_EXP_LN2, xd);
    double p = exp_c[11];
    for (int i = 10; i >= 0; i--) p = fma(p, r, exp_c[i]);
    return (float)ldexp(p, (int)n);
}

/* An FMA clone next to the default one: without it every fmaf below is a libm call. */
__attribute__((target_clones("fma", "default"))) void qf_attention_row_ref(const float *qi, const float *kt,
                                                                          int64_t ldk, const float *v, int64_t ldv,
                                                                          int64_t L, int64_t d, float scale,
                                                                          const float *bias, float *sc, float *ci)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < L; j++) {
        float dot = 0.0f;
        for (int64_t t = 0; t < d; t++) dot = fmaf(qi[t], kt[t * ldk + j], dot);
        sc[j] = dot * scale;
        if (bias) sc[j] += bias[j];
        if (sc[j] > mx) mx = sc[j];
    }
    float part[16] = {0};
    for (int64_t j = 0; j < L; j++) {
        sc[j] = qf_expf_ref(sc[j] - mx);
        part[j % 16] += sc[j];
    }
    float sum = 0.0f;
    for (int l = 0; l < 16; l++) sum += part[l];
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < L; j++) sc[j] *= inv;
    for (int64_t t = 0; t < d; t++) ci[t] = 0.0f;
    for (int64_t j = 0; j < L; j++) {
        const float p = sc[j];
        const float *vj = v + j * ldv;
        for (int64_t t = 0; t < d; t++) ci[t] = fmaf(p, vj[t], ci[t]);
    }
}

void qf_dequantize_bias_row_ref(const int32_t *acc, int64_t n, int32_t zx, const int32_t *colsum, float sx,
                                const float *ws, const float *bias, float *y)
{
    for (int64_t j = 0; j < n; j++) {
        int32_t a = acc[j];
        if (colsum) a = (int32_t)((uint32_t)a - (uint32_t)zx * (uint32_t)colsum[j]); /* wraps like vpsubd */
        float scale = sx * ws[j];
        float prod = (float)a * scale;
        y[j] = prod + bias[j];
    }
}

void qf_int8_row_sums_ref(const int8_t *w, int64_t n, int64_t k, int32_t *sums)
{
    for (int64_t j = 0; j < n; j++) {
        int32_t s = 0;
        for (int64_t t = 0; t < k; t++) s += w[j * k + t];
        sums[j] = s;
    }
}

/* Adds v to the 16 partial sums p[(j0 + i) % 16], i in [0, count). */
static void partial_sums_16(double p[16], int64_t j0, int64_t count, const double *v)
{
    for (int64_t i = 0; i < count; i++) p[(j0 + i) % 16] += v[i];
}

static double sum_partials_16(const double p[16])
{
    double s = 0.0;
    for (int l = 0; l < 16; l++) s += p[l];
    return s;
}

void qf_layer_norm_row_ref(float *x, const float *r, int64_t d, const float *g, const float *b, float eps)
{
    if (r)
        for (int64_t j = 0; j < d; j++) x[j] += r[j];
    double p[16] = {0};
    for (int64_t j = 0; j < d; j++) {
        double v = x[j];
        partial_sums_16(p, j, 1, &v);
    }
    double mean = sum_partials_16(p) / (double)d;
    for (int l = 0; l < 16; l++) p[l] = 0.0;
    for (int64_t j = 0; j < d; j++) {
        double c = x[j] - mean;
        double c2 = c * c;
        partial_sums_16(p, j, 1, &c2);
    }
    double var = sum_partials_16(p) / (double)d;
    double inv = 1.0 / sqrt(var + (double)eps);
    for (int64_t j = 0; j < d; j++) x[j] = (float)((x[j] - mean) * inv) * g[j] + b[j];
}

/*
 * erf of a float in float arithmetic, one Horner loop of fused multiply-adds whose 11
 * coefficients depend on the interval of |x|: x + x * Q(x^2) below 1, B1(|x| - 1.75) on [1, 2.5),
 * B2(|x| - 3.25) on [2.5, 4), 1 from 4 on (1 - erf(4) < 2^-25). Within 1 ulp of the exact erf
 * (tests/test_encoder_kernels.c measures it); coefficients from fixtures/gen/make_erf_coeffs.py,
 * zero-padded. Every step is an IEEE operation or a fused multiply-add, so the 16-lane AVX-512
 * form gives the same bits.
 */
#define QF_ERF_TERMS 11
static const float erf_c[3][QF_ERF_TERMS] = {
    {0x1.06eba8p-3f, -0x1.81273ep-2f, 0x1.ce2d18p-4f, -0x1.b7fb38p-6f, 0x1.541636p-8f, -0x1.a46b4p-11f, 0x1.4a9dacp-14f,
     0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f},
    {0x1.f92d08p-1f, 0x1.b05526p-5f, -0x1.7a4a6ap-4f, 0x1.71496ap-4f, -0x1.8a12dcp-5f, 0x1.b1bf86p-8f, 0x1.265312p-7f,
     -0x1.8b9fcap-8f, 0x1.5c14e4p-11f, 0x1.c4149ep-11f, -0x1.5faaf6p-12f},
    {0x1.ffff7p-1f, 0x1.e9ac6ap-16f, -0x1.8ddfdap-14f, 0x1.9ace6cp-13f, -0x1.2c91e6p-12f, 0x1.483c52p-12f,
     -0x1.13b84ep-12f, 0x1.6ae6c8p-13f, -0x1.5ed88cp-14f, 0x1.5bb05ep-16f, 0x1.c89304p-21f},
};

float qf_erf_ref(float x)
{
    if (x != x) return x;
    const float a = fabsf(x);
    float r = 1.0f;
    if (a < 4.0f) {
        const int iv = a >= 2.5f ? 2 : a >= 1.0f ? 1 : 0;
        const float t = iv == 0 ? a * a : a - (iv == 1 ? 1.75f : 3.25f);
        r = erf_c[iv][QF_ERF_TERMS - 1];
        for (int i = QF_ERF_TERMS - 2; i >= 0; i--) r = fmaf(r, t, erf_c[iv][i]);
        if (iv == 0) r = fmaf(a, r, a);
    }
    return copysignf(r, x);
}

static float gelu_ref(float v) { return 0.5f * v * (1.0f + qf_erf_ref(v * 0.70710678118654752f)); }

void qf_gelu_row_ref(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = gelu_ref(x[i]);
}

#ifdef QF_KERNELS_X86
/* Lanes [0, left) of a 16-lane block; none when left <= 0. */
static __mmask16 tail_mask(int64_t left)
{
    if (left <= 0) return 0;
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/* round(x / s) + z clamped to [0, 255] (NaN -> z) for 16 lanes, as floats; x / s as x times the
 * double reciprocal vr (see dynamic_quantize_avx512). */
__attribute__((always_inline, target("avx512f"))) static inline __m512 quantize16_avx512(__m512 v, __m512d vr,
                                                                                                 __m512 vz)
{
    const __m256 d0 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vr));
    const __m256 d1 = _mm512_cvtpd_ps(
        _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vr));
    const __m512 d =
        _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(d0)), _mm256_castps_pd(d1), 1));
    __m512 r = _mm512_add_ps(_mm512_roundscale_ps(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
    r = _mm512_mask_mov_ps(vz, _mm512_cmp_ps_mask(d, d, _CMP_ORD_Q), r); /* NaN -> z */
    return _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
}

__attribute__((target("avx512f,avx512bw"))) static void dynamic_quantize_avx512(const float *x, size_t n, uint8_t *q,
                                                                        float *scale, uint8_t *zero_point)
{
    /* four independent min/max chains (min/max are order-free); v first: a NaN lane keeps the
     * running value, as the reference's comparisons do */
    __m512 lo[4], hi[4];
    for (int a = 0; a < 4; a++) lo[a] = hi[a] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int a = 0; a < 4; a++) {
            const __m512 v = _mm512_loadu_ps(x + i + 16 * a);
            lo[a] = _mm512_min_ps(v, lo[a]);
            hi[a] = _mm512_max_ps(v, hi[a]);
        }
    }
    for (; i < n; i += 16) {
        const __m512 v = _mm512_maskz_loadu_ps(tail_mask((int64_t)(n - i)), x + i); /* masked lanes load 0, in range */
        lo[0] = _mm512_min_ps(v, lo[0]);
        hi[0] = _mm512_max_ps(v, hi[0]);
    }
    const float l = _mm512_reduce_min_ps(_mm512_min_ps(_mm512_min_ps(lo[0], lo[1]), _mm512_min_ps(lo[2], lo[3])));
    const float h = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(hi[0], hi[1]), _mm512_max_ps(hi[2], hi[3])));
    float s = h == l ? 1.0f : (h - l) / 255.0f;
    uint8_t z = zero_point_u8(0.0f - l / s);
    /* x / s without a division: x times the double reciprocal, rounded to float. For floats x and
     * s, x / s is never a float midpoint and stays at least 2^-49 (relative) away from one, while
     * the double product is within 2^-52 of x / s: both round to the same float (in the subnormal
     * range, where that margin fails, every candidate rounds to 0 below). */
    const __m512d vr = _mm512_set1_pd(1.0 / (double)s);
    const __m512 vz = _mm512_set1_ps((float)z);
    /* 64 values a step: four vectors of integer-valued floats in [0, 255] narrowed by two rounds of
     * packs (exact: nothing saturates) and one dword permutation back into order, one store */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (i = 0; i + 64 <= n; i += 64) {
        __m512i w[4];
        for (int a = 0; a < 4; a++)
            w[a] = _mm512_cvtps_epi32(quantize16_avx512(_mm512_loadu_ps(x + i + 16 * a), vr, vz));
        const __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(w[0], w[1]), _mm512_packus_epi32(w[2], w[3]));
        _mm512_storeu_si512(q + i, _mm512_permutexvar_epi32(order, b));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = tail_mask((int64_t)(n - i));
        const __m512 r = quantize16_avx512(_mm512_maskz_loadu_ps(k, x + i), vr, vz);
        _mm512_mask_cvtusepi32_storeu_epi8(q + i, k, _mm512_cvtps_epu32(r));
    }
    *scale = s;
    *zero_point = z;
}

/* qf_expf_ref on 8 lanes (a float argument widened to double; NaN lanes are the caller's). */
__attribute__((target("avx512f"))) static __m512d expf_pd_avx512(__m512d xd)
{
    xd = _mm512_min_pd(_mm512_max_pd(xd, _mm512_set1_pd(QF_EXP_LO)), _mm512_set1_pd(QF_EXP_HI));
    const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(xd, _mm512_set1_pd(QF_EXP_LOG2E)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(QF_EXP_LN2), xd);
    __m512d p = _mm512_set1_pd(exp_c[11]);
    for (int i = 10; i >= 0; i--) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(exp_c[i]));
    return _mm512_scalef_pd(p, n);
}

/* qf_expf_ref on 16 float lanes. */
__attribute__((target("avx512f"))) static __m512 expf_ps_avx512(__m512 x)
{
    const __m256 e0 = _mm512_cvtpd_ps(expf_pd_avx512(_mm512_cvtps_pd(_mm512_castps512_ps256(x))));
    const __m256 e1 = _mm512_cvtpd_ps(
        expf_pd_avx512(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)))));
    const __m512 e =
        _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(e0)), _mm256_castps_pd(e1), 1));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), e, x);
}

/*
 * The two products of attention share one shape: for R (1 or 4) rows r and 64 columns (four
 * vectors, lanes past `km` masked), acc[r][..] = sum over t < steps of a[r * lda + t] * b[t * ldb + ..],
 * each output an in-order chain of fused multiply-adds (the reference's arithmetic). Every vector
 * of b loaded serves the R rows; `full`: every lane is in range, the loads need no mask. The loops
 * are unrolled so that the 16 accumulators stay in registers (GCC otherwise kept them on the
 * stack, a load and a store per multiply-add).
 */
__attribute__((always_inline, target("avx512f"))) static inline void
rows_times_columns_masked(const int R, const bool full, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int64_t steps, const __mmask16 km[4], __m512 acc[4][4])
{
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t t = 0; t < steps; t++) {
        const float *bt = b + t * ldb;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            bv[v] = full ? _mm512_loadu_ps(bt + 16 * v) : _mm512_maskz_loadu_ps(km[v], bt + 16 * v);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 ar = _mm512_set1_ps(a[r * lda + t]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
}

/* The product over the `left` columns of b still in range (64 at most): km receives the masks of
 * the four vectors, for the caller's stores. All 64 in range (the usual case): plain loads, no
 * mask registers to keep. */
__attribute__((always_inline, target("avx512f"))) static inline void
rows_times_columns_avx512(const int R, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t steps,
                          int64_t left, __mmask16 km[4], __m512 acc[4][4])
{
    for (int v = 0; v < 4; v++) km[v] = tail_mask(left - 16 * v);
    if (left >= 64) rows_times_columns_masked(R, true, a, lda, b, ldb, steps, km, acc);
    else rows_times_columns_masked(R, false, a, lda, b, ldb, steps, km, acc);
}

/* Scores of R (1 or 4) query rows against key columns [j, j + 64) (lanes past L masked), scaled,
 * into sc (row stride L); vmx[r] keeps each row's running maximum. */
__attribute__((always_inline, target("avx512f"))) static inline void
scores_block_avx512(const int R, const float *q, int64_t ldq, const float *kt, int64_t ldk, int64_t L, int64_t j,
                    int64_t d, __m512 vscale, const float *bias, int64_t ldb, float *sc, __m512 *vmx)
{
    __m512 acc[4][4];
    __mmask16 km[4];
    rows_times_columns_avx512(R, q, ldq, kt + j, ldk, d, L - j, km, acc);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) {
            __m512 s = _mm512_mul_ps(acc[r][b], vscale);
            if (bias) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(km[b], bias + r * ldb + j + 16 * b));
            _mm512_mask_storeu_ps(sc + r * L + j + 16 * b, km[b], s);
            vmx[r] = _mm512_mask_max_ps(vmx[r], km[b], s, vmx[r]);
        }
}

/* Context of R (1 or 4) rows, value columns [t, t + 64): their probabilities times v. */
__attribute__((always_inline, target("avx512f"))) static inline void
context_block_avx512(const int R, const float *p, int64_t L, const float *v, int64_t ldv, int64_t t, int64_t d,
                     float *c, int64_t ldc)
{
    __m512 acc[4][4];
    __mmask16 km[4];
    rows_times_columns_avx512(R, p, L, v + t, ldv, L, d - t, km, acc);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) _mm512_mask_storeu_ps(c + r * ldc + t + 16 * b, km[b], acc[r][b]);
}

/*
 * Query rows of one head, up to QF_ATTENTION_CHUNK at a time, in three phases: the scores of every
 * row of the chunk, 64 key columns at a time (those 64 columns of kt, 16 KB at d = 64, stay in L1
 * while every row block passes over them); softmax row by row; the context, every row block over
 * the same 64 columns of v. Four rows share each key and value load. Each score, probability and
 * output is the same chain of operations as in a row-at-a-time order, so the bits do not depend on
 * the grouping.
 */
#define QF_ATTENTION_CHUNK 32
__attribute__((target("avx512f"))) static void attention_rows_avx512(const float *q, int64_t ldq, int64_t rows,
                                                                      const float *kt, int64_t ldk, const float *v,
                                                                      int64_t ldv, int64_t L, int64_t d, float scale,
                                                                      const float *bias, int64_t ldb, float *sc,
                                                                      float *c, int64_t ldc)
{
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int64_t r0 = 0; r0 < rows; r0 += QF_ATTENTION_CHUNK) {
        const int64_t n = rows - r0 < QF_ATTENTION_CHUNK ? rows - r0 : QF_ATTENTION_CHUNK;
        const float *qc = q + r0 * ldq, *bc = bias ? bias + r0 * ldb : NULL;
        float *scc = sc + r0 * L, *cc = c + r0 * ldc;
        __m512 vmx[QF_ATTENTION_CHUNK];
        for (int64_t r = 0; r < n; r++) vmx[r] = _mm512_set1_ps(-INFINITY);
        for (int64_t j = 0; j < L; j += 64) {
            int64_t r = 0;
            for (; r + 4 <= n; r += 4)
                scores_block_avx512(4, qc + r * ldq, ldq, kt, ldk, L, j, d, vscale, bc ? bc + r * ldb : NULL, ldb,
                                    scc + r * L, vmx + r);
            for (; r < n; r++)
                scores_block_avx512(1, qc + r * ldq, ldq, kt, ldk, L, j, d, vscale, bc ? bc + r * ldb : NULL, ldb,
                                    scc + r * L, vmx + r);
        }
        for (int64_t r = 0; r < n; r++) {
            float *s = scc + r * L;
            const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmx[r]));
            __m512 vsum = _mm512_setzero_ps();
            for (int64_t j = 0; j < L; j += 16) {
                const __mmask16 k = tail_mask(L - j);
                const __m512 e = expf_ps_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mx));
                _mm512_mask_storeu_ps(s + j, k, e);
                vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
            }
            float part[16];
            _mm512_storeu_ps(part, vsum);
            float sum = 0.0f;
            for (int l = 0; l < 16; l++) sum += part[l];
            const __m512 inv = _mm512_set1_ps(1.0f / sum);
            for (int64_t j = 0; j < L; j += 16) {
                const __mmask16 k = tail_mask(L - j);
                _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
            }
        }
        for (int64_t t = 0; t < d; t += 64) {
            int64_t r = 0;
            for (; r + 4 <= n; r += 4) context_block_avx512(4, scc + r * L, L, v, ldv, t, d, cc + r * ldc, ldc);
            for (; r < n; r++) context_block_avx512(1, scc + r * L, L, v, ldv, t, d, cc + r * ldc, ldc);
        }
    }
}

/* Bytes flipped to unsigned (v + 128), summed eight at a time by vpsadbw into 64-bit lanes; the
 * 128 per byte comes off at the end. Lanes past k are zeroed after the flip. */
__attribute__((target("avx512f,avx512bw"))) static void int8_row_sums_avx512(const int8_t *w, int64_t n, int64_t k,
                                                                              int32_t *sums)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int64_t j = 0; j < n; j++) {
        const int8_t *row = w + j * k;
        __m512i acc = zero;
        for (int64_t t = 0; t < k; t += 64) {
            const int64_t left = k - t;
            const __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
            const __m512i u = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, row + t), flip));
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(u, zero));
        }
        sums[j] = (int32_t)(_mm512_reduce_add_epi64(acc) - 128 * k);
    }
}

__attribute__((target("avx512f"))) static void dequantize_bias_row_avx512(const int32_t *acc, int64_t n, int32_t zx,
                                                                           const int32_t *colsum, float sx,
                                                                           const float *ws, const float *bias, float *y)
{
    const __m512 vsx = _mm512_set1_ps(sx);
    const __m512i vz = _mm512_set1_epi32(zx);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 k = tail_mask(n - j);
        const __m512i fix =
            colsum ? _mm512_mullo_epi32(vz, _mm512_maskz_loadu_epi32(k, colsum + j)) : _mm512_setzero_si512();
        const __m512 scale = _mm512_mul_ps(vsx, _mm512_maskz_loadu_ps(k, ws + j));
        _mm512_mask_storeu_ps(y + j, k,
                              qf_dequantize16_avx512(_mm512_maskz_loadu_epi32(k, acc + j), fix, scale,
                                                     _mm512_maskz_loadu_ps(k, bias + j)));
    }
}

/* Sum of 16 partial sums held as lanes 0-7 of lo and 8-15 of hi, in increasing lane order. */
__attribute__((target("avx512f"))) static double sum_lanes_16(__m512d lo, __m512d hi)
{
    double p[16];
    _mm512_storeu_pd(p, lo);
    _mm512_storeu_pd(p + 8, hi);
    return sum_partials_16(p);
}

__attribute__((target("avx512f"))) static void layer_norm_row_avx512(float *x, const float *r, int64_t d,
                                                                      const float *g, const float *b, float eps)
{
    /* Lanes of 16-float blocks map to partial sums j % 16: the low 8 to lo, the high 8 to hi. */
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t j = 0; j < d; j += 16) {
        const __mmask16 k = tail_mask(d - j);
        __m512 v = _mm512_maskz_loadu_ps(k, x + j);
        if (r) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, r + j));
            _mm512_mask_storeu_ps(x + j, k, v);
        }
        lo = _mm512_mask_add_pd(lo, (__mmask8)k, lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_mask_add_pd(hi, (__mmask8)(k >> 8), hi,
                                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    const double mean = sum_lanes_16(lo, hi) / (double)d;
    const __m512d vmean = _mm512_set1_pd(mean);
    lo = _mm512_setzero_pd();
    hi = _mm512_setzero_pd();
    for (int64_t j = 0; j < d; j += 16) {
        const __mmask16 k = tail_mask(d - j);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + j);
        const __m512d c0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vmean);
        const __m512d c1 = _mm512_sub_pd(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vmean);
        lo = _mm512_mask_add_pd(lo, (__mmask8)k, lo, _mm512_mul_pd(c0, c0));
        hi = _mm512_mask_add_pd(hi, (__mmask8)(k >> 8), hi, _mm512_mul_pd(c1, c1));
    }
    const double var = sum_lanes_16(lo, hi) / (double)d;
    const __m512d vinv = _mm512_set1_pd(1.0 / sqrt(var + (double)eps));
    for (int64_t j = 0; j < d; j += 16) {
        const __mmask16 k = tail_mask(d - j);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + j);
        const __m256 n0 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vmean), vinv));
        const __m256 n1 = _mm512_cvtpd_ps(_mm512_mul_pd(
            _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vmean), vinv));
        const __m512 n = _mm512_castpd_ps(
            _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(n0)), _mm256_castps_pd(n1), 1));
        const __m512 o = _mm512_add_ps(_mm512_mul_ps(n, _mm512_maskz_loadu_ps(k, g + j)), _mm512_maskz_loadu_ps(k, b + j));
        _mm512_mask_storeu_ps(x + j, k, o);
    }
}

/* qf_erf_ref on 16 lanes; each coefficient vector holds the three intervals' values in lanes 0-2,
 * picked per lane by the interval index. NaN lanes are the caller's. */
__attribute__((target("avx512f"))) static __m512 erf_ps_avx512(__m512 x)
{
    const __m512 a = _mm512_abs_ps(x);
    const __mmask16 i1 = _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.0f), _CMP_GE_OQ);
    const __mmask16 i2 = _mm512_cmp_ps_mask(a, _mm512_set1_ps(2.5f), _CMP_GE_OQ);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i idx = _mm512_mask_add_epi32(_mm512_setzero_si512(), i1, _mm512_setzero_si512(), one);
    idx = _mm512_mask_add_epi32(idx, i2, idx, one);
    const __m512 centre = _mm512_mask_blend_ps(i2, _mm512_set1_ps(1.75f), _mm512_set1_ps(3.25f));
    const __m512 t = _mm512_mask_blend_ps(i1, _mm512_mul_ps(a, a), _mm512_sub_ps(a, centre));
    __m512 r = _mm512_permutexvar_ps(idx, _mm512_setr_ps(erf_c[0][QF_ERF_TERMS - 1], erf_c[1][QF_ERF_TERMS - 1],
                                                          erf_c[2][QF_ERF_TERMS - 1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0));
    for (int i = QF_ERF_TERMS - 2; i >= 0; i--) {
        const __m512 c =
            _mm512_permutexvar_ps(idx, _mm512_setr_ps(erf_c[0][i], erf_c[1][i], erf_c[2][i], 0, 0, 0, 0, 0, 0, 0, 0,
                                                      0, 0, 0, 0, 0));
        r = _mm512_fmadd_ps(r, t, c);
    }
    r = _mm512_mask_blend_ps(i1, _mm512_fmadd_ps(a, r, a), r);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_GE_OQ), r, _mm512_set1_ps(1.0f));
    return r;
}

/* gelu of 16 lanes (NaN lanes give the scalar form's NaN). */
__attribute__((always_inline, target("avx512f"))) static inline __m512 gelu16_avx512(__m512 v)
{
    const __m512 u = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
    __m512 e = erf_ps_avx512(u);
    /* the sign of u, then NaN lanes give u itself, as the scalar form */
    e = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(e),
                                            _mm512_and_si512(_mm512_castps_si512(u),
                                                             _mm512_set1_epi32((int)0x80000000u))));
    e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q), e, u);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* Four vectors a step: their Horner chains are independent, so their latencies overlap. */
__attribute__((target("avx512f"))) static void gelu_row_avx512(float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 g[4];
        for (int a = 0; a < 4; a++) g[a] = gelu16_avx512(_mm512_loadu_ps(x + i + 16 * a));
        for (int a = 0; a < 4; a++) _mm512_storeu_ps(x + i + 16 * a, g[a]);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, k, gelu16_avx512(_mm512_maskz_loadu_ps(k, x + i)));
    }
}
#endif

bool qf_encoder_simd_available(void)
{
#ifdef QF_KERNELS_X86
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

void qf_dynamic_quantize_u8(const float *x, size_t n, uint8_t *q, float *scale, uint8_t *zero_point)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available() && __builtin_cpu_supports("avx512bw")) {
        dynamic_quantize_avx512(x, n, q, scale, zero_point);
        return;
    }
#endif
    qf_dynamic_quantize_u8_ref(x, n, q, scale, zero_point);
}

void qf_attention_rows(const float *q, int64_t ldq, int64_t rows, const float *kt, int64_t ldk, const float *v,
                       int64_t ldv, int64_t L, int64_t d, float scale, const float *bias, int64_t ldb, float *sc,
                       float *c, int64_t ldc)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available()) {
        attention_rows_avx512(q, ldq, rows, kt, ldk, v, ldv, L, d, scale, bias, ldb, sc, c, ldc);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++)
        qf_attention_row_ref(q + r * ldq, kt, ldk, v, ldv, L, d, scale, bias ? bias + r * ldb : NULL, sc + r * L,
                             c + r * ldc);
}

void qf_attention_row(const float *qi, const float *kt, int64_t ldk, const float *v, int64_t ldv, int64_t L, int64_t d,
                      float scale, const float *bias, float *sc, float *ci)
{
    qf_attention_rows(qi, 0, 1, kt, ldk, v, ldv, L, d, scale, bias, 0, sc, ci, 0);
}

void qf_int8_row_sums(const int8_t *w, int64_t n, int64_t k, int32_t *sums)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available() && __builtin_cpu_supports("avx512bw")) {
        int8_row_sums_avx512(w, n, k, sums);
        return;
    }
#endif
    qf_int8_row_sums_ref(w, n, k, sums);
}

void qf_dequantize_bias_row(const int32_t *acc, int64_t n, int32_t zx, const int32_t *colsum, float sx,
                            const float *ws, const float *bias, float *y)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available()) {
        dequantize_bias_row_avx512(acc, n, zx, colsum, sx, ws, bias, y);
        return;
    }
#endif
    qf_dequantize_bias_row_ref(acc, n, zx, colsum, sx, ws, bias, y);
}

void qf_layer_norm_row(float *x, const float *r, int64_t d, const float *g, const float *b, float eps)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available()) {
        layer_norm_row_avx512(x, r, d, g, b, eps);
        return;
    }
#endif
    qf_layer_norm_row_ref(x, r, d, g, b, eps);
}

void qf_gelu_row(float *x, int64_t n)
{
#ifdef QF_KERNELS_X86
    if (qf_encoder_simd_available()) {
        gelu_row_avx512(x, n);
        return;
    }
#endif
    qf_gelu_row_ref(x, n);
}
