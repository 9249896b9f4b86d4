/*
 * runtime/kernels_avx512.h — internal: 16-lane pieces shared by the AVX-512 kernels of
 * kernels_simd.c and kernels_amx.c, so that an operation both use is written once. x86-64 only.
 */
#ifndef QF_VERIFY_KERNELS_AVX512_H
#define QF_VERIFY_KERNELS_AVX512_H

#include <immintrin.h>

/*
 * The int8 epilogue of qf_dequantize_bias_row_ref on 16 outputs: a - fix in wrapping int32 (fix =
 * zx * colsum[j], wrapping, or zero), then (float)a * scale + bias with each step rounded on its
 * own (scale = sx * ws[j]).
 */
__attribute__((target("avx512f"))) static inline __m512 qf_dequantize16_avx512(__m512i a, __m512i fix, __m512 scale,
                                                                               __m512 bias)
{
    const __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a, fix)), scale);
    return _mm512_add_ps(prod, bias);
}

#endif /* QF_VERIFY_KERNELS_AVX512_H */
