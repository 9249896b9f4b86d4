/*
 * quantize/quant_simd.c — the weight-quantization kernels used by the model passes: AVX-512 when
 * the CPU (and OS) supports it, else the scalar _ref kernels of quant_ref.c, which are the
 * specification. Results are bit-identical to _ref (tests/test_quantize.c compares them on random
 * rows, exact halfway ties, NaN, infinities and every tail length):
 *   - max|x| is order-independent, and vmaxps returns its second operand when the first is NaN,
 *     which skips NaN exactly as the scalar `a > max` does;
 *   - x / s is IEEE division (vdivps), never a multiplication by 1/s, which rounds differently;
 *   - rounding is vrndscaleps to nearest-even, rint's result in the default rounding mode.
 */
#include <math.h>
#include <stdbool.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define QF_QUANT_X86 1
#endif

#include "qforge/quantize.h"

#ifdef QF_QUANT_X86
__attribute__((target("avx512f"))) static float max_abs_avx512(const float *x, size_t n)
{
    __m512 m = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), m);
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        m = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + i)), m);
    }
    return _mm512_reduce_max_ps(m);
}

__attribute__((target("avx512f"))) static inline __m512 quantize16(__m512 v, __m512 s)
{
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    __m512 r = _mm512_roundscale_ps(_mm512_div_ps(v, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r, r, _CMP_ORD_Q), r); /* NaN -> 0 */
    return _mm512_min_ps(_mm512_max_ps(r, lo), hi);
}

__attribute__((target("avx512f"))) static void quantize_row_avx512(const float *x, size_t n, float scale, int8_t *q)
{
    __m512 s = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtps_epi32(quantize16(_mm512_loadu_ps(x + i), s));
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtsepi32_epi8(v));
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512i v = _mm512_cvtps_epi32(quantize16(_mm512_maskz_loadu_ps(k, x + i), s));
        _mm512_mask_cvtsepi32_storeu_epi8(q + i, k, v);
    }
}
#endif

bool qf_quantize_simd_available(void)
{
#ifdef QF_QUANT_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached == 1;
#else
    return false;
#endif
}

float qf_quant_scale_sym_i8(const float *x, size_t n)
{
#ifdef QF_QUANT_X86
    if (qf_quantize_simd_available()) {
        float max_abs = max_abs_avx512(x, n);
        if (!(max_abs > 0.0f) || !isfinite(max_abs)) return 1.0f;
        return max_abs / 127.0f;
    }
#endif
    return qf_quant_scale_sym_i8_ref(x, n);
}

void qf_quantize_row_sym_i8(const float *x, size_t n, float scale, int8_t *q)
{
#ifdef QF_QUANT_X86
    if (qf_quantize_simd_available()) {
        quantize_row_avx512(x, n, scale, q);
        return;
    }
#endif
    qf_quantize_row_sym_i8_ref(x, n, scale, q);
}
