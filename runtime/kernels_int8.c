/*
 * runtime/kernels_int8.c — the exact uint8 x int8 -> int32 GEMM for CPUs on which oneDNN's integer
 * kernels are not exact. Without VNNI (vpdpbusd) oneDNN multiplies u8 x s8 with vpmaddubsw, which
 * adds each pair of adjacent products into int16 with saturation: 255 * 127 + 255 * 127 = 64770
 * comes out as 32767, so its sums are not the int32 sums of MatMulInteger. The kernels here widen
 * both operands to int16 first (vpmovzxbw, vpmovsxbw) and multiply with vpmaddwd, whose pair sums
 * of int16 products are taken in int32 without saturation: every product and every sum is exact,
 * and the result is the bits of qf_gemm_u8s8s32_ref with zero point 0 (int32 addition is
 * associative, so the order of the additions does not matter).
 *
 * Each kernel computes blocks of MR rows of x times NR rows of w, one vector accumulator per
 * output, summed across lanes at the end; rows past the end of a block repeat the last row and
 * are not stored. Threads split the blocks of w's rows.
 */
#include <stdbool.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define QF_KERNELS_X86 1
#endif

#include "runtime/kernels.h"

/* Below this many multiply-adds a call runs on the calling thread. */
#define QF_INT8_PAR_MIN ((int64_t)1 << 18)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

#ifdef QF_KERNELS_X86
#define MR512 4 /* rows of x per block: 16 accumulators + 4 + 4 operand registers of 32 */
#define NR512 4

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void block_avx512bw(const uint8_t *x, int64_t m,
                                                                                 const int8_t *w, int64_t n,
                                                                                 int64_t k, int64_t i0, int64_t j0,
                                                                                 int32_t *acc)
{
    const uint8_t *xr[MR512];
    const int8_t *wr[NR512];
    #pragma GCC unroll 4
    for (int r = 0; r < MR512; r++) xr[r] = x + min64(i0 + r, m - 1) * k;
    #pragma GCC unroll 4
    for (int c = 0; c < NR512; c++) wr[c] = w + min64(j0 + c, n - 1) * k;
    __m512i a[MR512][NR512];
    #pragma GCC unroll 4
    for (int r = 0; r < MR512; r++)
        #pragma GCC unroll 4
        for (int c = 0; c < NR512; c++) a[r][c] = _mm512_setzero_si512();
    for (int64_t t = 0; t < k; t += 32) {
        const int64_t left = k - t;
        const __mmask32 mask = left >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << left) - 1);
        __m512i wv[NR512];
        #pragma GCC unroll 4
        for (int c = 0; c < NR512; c++) wv[c] = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, wr[c] + t));
        #pragma GCC unroll 4
        for (int r = 0; r < MR512; r++) {
            const __m512i xv = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, xr[r] + t));
            #pragma GCC unroll 4
            for (int c = 0; c < NR512; c++) a[r][c] = _mm512_add_epi32(a[r][c], _mm512_madd_epi16(xv, wv[c]));
        }
    }
    /* reduced in constant bounds first: indexed with the block's own bounds, the accumulators
     * were kept in memory and stored on every step */
    int32_t sum[MR512][NR512];
    #pragma GCC unroll 4
    for (int r = 0; r < MR512; r++)
        #pragma GCC unroll 4
        for (int c = 0; c < NR512; c++) sum[r][c] = _mm512_reduce_add_epi32(a[r][c]);
    for (int r = 0; r < MR512 && i0 + r < m; r++)
        for (int c = 0; c < NR512 && j0 + c < n; c++) acc[(i0 + r) * n + j0 + c] = sum[r][c];
}

static void gemm_avx512bw(const uint8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc)
{
    const int64_t nb = (n + NR512 - 1) / NR512;
#pragma omp parallel for schedule(static) if (m * n * k >= QF_INT8_PAR_MIN)
    for (int64_t jb = 0; jb < nb; jb++)
        for (int64_t i0 = 0; i0 < m; i0 += MR512) block_avx512bw(x, m, w, n, k, i0, jb * NR512, acc);
}

#define MR256 4 /* 8 accumulators + 2 + 1 operand registers of 16 (4 x 3 spilled) */
#define NR256 2

__attribute__((target("avx2"))) static int32_t sum8_avx2(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static void block_avx2(const uint8_t *x, int64_t m, const int8_t *w, int64_t n,
                                                       int64_t k, int64_t i0, int64_t j0, int32_t *acc)
{
    const uint8_t *xr[MR256];
    const int8_t *wr[NR256];
    #pragma GCC unroll 4
    for (int r = 0; r < MR256; r++) xr[r] = x + min64(i0 + r, m - 1) * k;
    #pragma GCC unroll 4
    for (int c = 0; c < NR256; c++) wr[c] = w + min64(j0 + c, n - 1) * k;
    __m256i a[MR256][NR256];
    #pragma GCC unroll 4
    for (int r = 0; r < MR256; r++)
        #pragma GCC unroll 4
        for (int c = 0; c < NR256; c++) a[r][c] = _mm256_setzero_si256();
    const int64_t kv = k & ~(int64_t)15;
    for (int64_t t = 0; t < kv; t += 16) {
        __m256i wv[NR256];
        #pragma GCC unroll 4
        for (int c = 0; c < NR256; c++)
            wv[c] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wr[c] + t)));
        #pragma GCC unroll 4
        for (int r = 0; r < MR256; r++) {
            const __m256i xv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(xr[r] + t)));
            #pragma GCC unroll 4
            for (int c = 0; c < NR256; c++) a[r][c] = _mm256_add_epi32(a[r][c], _mm256_madd_epi16(xv, wv[c]));
        }
    }
    int32_t sum[MR256][NR256]; /* constant bounds, as in block_avx512bw */
    #pragma GCC unroll 4
    for (int r = 0; r < MR256; r++)
        #pragma GCC unroll 4
        for (int c = 0; c < NR256; c++) sum[r][c] = sum8_avx2(a[r][c]);
    for (int r = 0; r < MR256 && i0 + r < m; r++) {
        for (int c = 0; c < NR256 && j0 + c < n; c++) {
            int32_t s = sum[r][c];
            for (int64_t t = kv; t < k; t++) s += (int32_t)xr[r][t] * (int32_t)wr[c][t];
            acc[(i0 + r) * n + j0 + c] = s;
        }
    }
}

static void gemm_avx2(const uint8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc)
{
    const int64_t nb = (n + NR256 - 1) / NR256;
#pragma omp parallel for schedule(static) if (m * n * k >= QF_INT8_PAR_MIN)
    for (int64_t jb = 0; jb < nb; jb++)
        for (int64_t i0 = 0; i0 < m; i0 += MR256) block_avx2(x, m, w, n, k, i0, jb * NR256, acc);
}
#endif /* QF_KERNELS_X86 */

bool qf_gemm_u8s8s32_exact_supported(qf_int8_isa isa)
{
    switch (isa) {
    case QF_INT8_ISA_SCALAR: return true;
#ifdef QF_KERNELS_X86
    case QF_INT8_ISA_AVX2: return __builtin_cpu_supports("avx2");
    case QF_INT8_ISA_AVX512BW:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#endif
    default: return false;
    }
}

void qf_gemm_u8s8s32_exact(const uint8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc,
                           qf_int8_isa isa)
{
    if (!qf_gemm_u8s8s32_exact_supported(isa)) isa = QF_INT8_ISA_SCALAR;
#ifdef QF_KERNELS_X86
    if (isa == QF_INT8_ISA_AVX512BW) {
        gemm_avx512bw(x, w, m, n, k, acc);
        return;
    }
    if (isa == QF_INT8_ISA_AVX2) {
        gemm_avx2(x, w, m, n, k, acc);
        return;
    }
#endif
    qf_gemm_u8s8s32_ref(x, 0, w, m, n, k, acc);
}

const char *qf_int8_isa_name(qf_int8_isa isa)
{
    switch (isa) {
    case QF_INT8_ISA_SCALAR: return "scalar";
    case QF_INT8_ISA_AVX2: return "avx2";
    case QF_INT8_ISA_AVX512BW: return "avx512bw";
    }
    return "?";
}
