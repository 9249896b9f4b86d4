/*
 * runtime/kernels_amx.c — the encoder's uint8 x int8 -> int32 GEMM on Intel AMX tiles (TDPBUSD),
 * used by the linear layers (kernels_dnnl.c) in place of oneDNN's matmul when the CPU and the
 * kernel allow it and k is a multiple of 64. Integer arithmetic: the int32 sums are exact, so the
 * results are the bits qf_gemm_u8s8s32_ref gives (tests/test_encoder_kernels.c compares them).
 *
 * Weights [n, k] are packed once into the B-tile layout: for each 16 output columns and each 64
 * values of k, one 1 KB tile whose row r holds k = 4r..4r+3 of the 16 columns
 * (b[r * 64 + c * 4 + i] = w[c, 4r + i]); columns past n are zero up to a multiple of 32. A block
 * of 32 rows x 32 columns is four accumulator tiles, fed by two activation tiles (16 rows x 64 k,
 * read in place from x) and two weight tiles per step of 64 in k.
 */
#define _GNU_SOURCE /* syscall(2) */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>

#include "runtime/kernels_avx512.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#define QF_AMX_BUILD 1
#endif

int64_t qf_amx_packed_columns(int64_t n) { return (n + 31) / 32 * 32; }

#ifdef QF_AMX_BUILD

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static bool amx_usable;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

/* CPUID.(7,0):EDX bit 24 AMX-TILE, bit 25 AMX-INT8; then Linux must grant the process the tile
 * data state (arch_prctl), which fails on kernels without AMX support. QF_AMX=0 turns it off. */
static void amx_probe(void)
{
    const char *env = getenv("QF_AMX");
    if (env && strcmp(env, "0") == 0) return;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return;
    if (!(c & (1u << 11))) return; /* AVX512-VNNI: qf_amx_pack sums the weights with vpdpbusd */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    amx_usable = true;
}

bool qf_amx_available(void)
{
    pthread_once(&amx_once, amx_probe);
    return amx_usable;
}

/* The 64-byte tile configuration (palette 1): tiles 0-3 accumulators (16 x 16 int32), 4-5
 * activations (16 rows x 64 bytes), 6-7 weights (16 rows x 64 bytes). */
typedef struct tile_config {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* A constant object: ldtilecfg reads all 64 bytes, which the compiler cannot see through the
 * intrinsic's operand, so a configuration built on the stack could lose its stores. */
static const tile_config qf_tile_config __attribute__((aligned(64))) = {
    .palette_id = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

__attribute__((target("amx-tile"))) static void load_tile_config(void) { _tile_loadconfig(&qf_tile_config); }

/* qf_dequantize_bias_row's epilogue on one stored tile (the same 16-lane arithmetic as its AVX-512
 * form, qf_dequantize16_avx512): rows [r0, r0 + rr), columns [c0, c0 + cc) of y. */
__attribute__((target("avx512f"))) static void dequantize_tile(const int32_t *tile, int64_t rr, int64_t cc,
                                                                const qf_amx_epilogue *epi, int64_t n, int64_t r0,
                                                                int64_t c0)
{
    const __mmask16 k = cc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cc) - 1);
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(epi->sx), _mm512_maskz_loadu_ps(k, epi->ws + c0));
    const __m512 bias = _mm512_maskz_loadu_ps(k, epi->bias + c0);
    __m512i fix = _mm512_setzero_si512();
    if (epi->colsum)
        fix = _mm512_mullo_epi32(_mm512_set1_epi32(epi->zx), _mm512_maskz_loadu_epi32(k, epi->colsum + c0));
    for (int64_t i = 0; i < rr; i++)
        _mm512_mask_storeu_ps(epi->y + (r0 + i) * n + c0, k,
                              qf_dequantize16_avx512(_mm512_loadu_si512(tile + i * 16), fix, scale, bias));
}

/* Stores accumulator tile T (rows r0.., columns c0..), clipped to m and n: as int32 into acc, or
 * through the epilogue into epi->y. */
#define STORE_TILE(T, r0, c0)                                                                               \
    do {                                                                                                    \
        if (!epi && (r0) + 16 <= m && (c0) + 16 <= n) {                                                     \
            _tile_stored(T, acc + (r0) * n + (c0), n * 4);                                                 \
        } else if ((r0) < m && (c0) < n) {                                                                  \
            _tile_stored(T, tmp, 64);                                                                      \
            const int64_t rr = m - (r0) < 16 ? m - (r0) : 16, cc = n - (c0) < 16 ? n - (c0) : 16;         \
            if (epi)                                                                                        \
                dequantize_tile(tmp, rr, cc, epi, n, (r0), (c0));                                           \
            else                                                                                            \
                for (int64_t i = 0; i < rr; i++) memcpy(acc + ((r0) + i) * n + (c0), tmp + i * 16, (size_t)cc * 4); \
        }                                                                                                   \
    } while (0)

/* Rows [r0, r0 + 32) (or 16 when two_rows is false) x columns [c0, c0 + 32). a0/a1: the activation
 * rows, each with stride lda. */
__attribute__((target("amx-tile,amx-int8,sse"))) static void block_32x32(const uint8_t *a0, const uint8_t *a1, int64_t lda,
                                                                      bool two_rows, const int8_t *b0,
                                                                      const int8_t *b1, int64_t kblocks, int32_t *acc,
                                                                      int64_t m, int64_t n, int64_t r0, int64_t c0,
                                                                      const int8_t *next_b, int64_t prefetch_step,
                                                                      const qf_amx_epilogue *epi)
{
    int32_t tmp[16 * 16] __attribute__((aligned(64)));
    _tile_zero(0);
    _tile_zero(1);
    if (two_rows) {
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t kb = 0; kb < kblocks; kb++) {
        _tile_loadd(6, b0 + kb * 1024, 64);
        _tile_loadd(7, b1 + kb * 1024, 64);
        if (next_b)
            for (int64_t l = 0; l < prefetch_step; l += 64)
                _mm_prefetch((const char *)next_b + kb * prefetch_step + l, _MM_HINT_T1);
        _tile_loadd(4, a0 + kb * 64, lda);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        if (two_rows) {
            _tile_loadd(5, a1 + kb * 64, lda);
            _tile_dpbusd(2, 5, 6);
            _tile_dpbusd(3, 5, 7);
        }
    }
    STORE_TILE(0, r0, c0);
    STORE_TILE(1, r0, c0 + 16);
    if (two_rows) {
        STORE_TILE(2, r0 + 16, c0);
        STORE_TILE(3, r0 + 16, c0 + 16);
    }
}

/* Row r of a tile is dword r of each of its 16 columns' 64 bytes of k: a 16 x 16 transpose of
 * dwords in registers (32-bit then 64-bit interleaves within 128-bit lanes, then two rounds of lane
 * shuffles); columns past n are zero. Dword lane c of every tile row holds four bytes of column c,
 * so one vpdpbusd with ones per row adds them to column c's sum: the row sums come out of the same
 * pass over the weights. */
__attribute__((target("avx512f,avx512vnni"))) void qf_amx_pack(const int8_t *w, int64_t n, int64_t k, int8_t *packed,
                                                              int32_t *sums)
{
    const int64_t npad = qf_amx_packed_columns(n), kblocks = k / 64;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t ct = 0; ct < npad / 16; ct++) {
        const int64_t cols = n - ct * 16 >= 16 ? 16 : (n - ct * 16 > 0 ? n - ct * 16 : 0);
        __m512i sum = _mm512_setzero_si512();
        for (int64_t kb = 0; kb < kblocks; kb++) {
            int8_t *tile = packed + (ct * kblocks + kb) * 1024;
            const int8_t *base = w + (ct * 16) * k + kb * 64;
            __m512i r[16], t[16], u[16];
            for (int c = 0; c < 16; c++)
                r[c] = c < cols ? _mm512_loadu_si512(base + c * k) : _mm512_setzero_si512();
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
            }
            /* u[4g + j], 128-bit lane L: dword 4L + j of columns 4g .. 4g + 3 */
            for (int g = 0; g < 16; g += 4) {
                u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
                u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
                u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
                u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
            }
            /* tile row 4L + j: lane L of u[j], u[4 + j], u[8 + j], u[12 + j] */
            for (int j = 0; j < 4; j++) {
                const __m512i a = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
                const __m512i b = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
                const __m512i c = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
                const __m512i d = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
                const __m512i row[4] = {_mm512_shuffle_i32x4(a, c, 0x88), _mm512_shuffle_i32x4(a, c, 0xDD),
                                        _mm512_shuffle_i32x4(b, d, 0x88), _mm512_shuffle_i32x4(b, d, 0xDD)};
                for (int q = 0; q < 4; q++) {
                    _mm512_storeu_si512(tile + (4 * q + j) * 64, row[q]);
                    sum = _mm512_dpbusd_epi32(sum, ones, row[q]); /* lane c += the four bytes of column c */
                }
            }
        }
        if (cols) _mm512_mask_storeu_epi32(sums + ct * 16, (__mmask16)((1u << cols) - 1), sum);
    }
}

__attribute__((target("amx-tile"))) static void release_tiles(void) { _tile_release(); }

/* Column block cb (32 columns) over every row tile of x. */
static void column_block(const uint8_t *x, int64_t m, int64_t full, const uint8_t *tail, const int8_t *packed,
                         int64_t n, int64_t k, int64_t cb, int32_t *acc, const qf_amx_epilogue *epi)
{
    const int64_t kblocks = k / 64, blocks = qf_amx_packed_columns(n) / 32, row_tiles = (m + 15) / 16;
    const int8_t *b0 = packed + (2 * cb) * kblocks * 1024, *b1 = b0 + kblocks * 1024;
    /* The next column block's 2 * kblocks KB of weights are prefetched into L2 spread evenly over
     * this block's passes (step bytes per k step of each pass), not all in the first pass: at
     * 128 rows a burst of 2 KB per step overran the outstanding-miss queues and left the other
     * passes with no memory traffic (cold weights streamed at 4-6 GB/s; 6-7 GB/s spread). */
    const int64_t passes = (row_tiles + 1) / 2, step = ((2048 + passes - 1) / passes + 63) & ~(int64_t)63;
    for (int64_t rt = 0; rt < row_tiles; rt += 2) {
        const bool two = rt + 1 < row_tiles;
        const uint8_t *a0 = rt * 16 < full ? x + rt * 16 * k : tail;
        const uint8_t *a1 = (rt + 1) * 16 < full ? x + (rt + 1) * 16 * k : tail;
        const int64_t offset = (rt / 2) * step * kblocks;
        const int8_t *next_b = cb + 1 < blocks && offset < 2 * kblocks * 1024 ? b0 + 2 * kblocks * 1024 + offset : NULL;
        block_32x32(a0, a1, k, two, b0, b1, kblocks, acc, m, n, rt * 16, cb * 32, next_b, step, epi);
    }
}

void qf_amx_gemm_u8s8s32(const uint8_t *x, int64_t m, const int8_t *packed, int64_t n, int64_t k, uint8_t *tail,
                         int32_t *acc, const qf_amx_epilogue *epi)
{
    const int64_t full = m / 16 * 16; /* rows read in place; the rest come from tail, zero-padded */
    if (full < m) {
        memcpy(tail, x + full * k, (size_t)((m - full) * k));
        memset(tail + (m - full) * k, 0, (size_t)((16 - (m - full)) * k));
    }
    const int64_t blocks = qf_amx_packed_columns(n) / 32;
#pragma omp parallel if (m * n * k >= ((int64_t)1 << 22))
    {
        load_tile_config(); /* the configuration is per thread */
#pragma omp for schedule(static)
        for (int64_t cb = 0; cb < blocks; cb++) column_block(x, m, full, tail, packed, n, k, cb, acc, epi);
        release_tiles();
    }
}

#else /* no AMX on this platform */

bool qf_amx_available(void) { return false; }
void qf_amx_pack(const int8_t *w, int64_t n, int64_t k, int8_t *packed, int32_t *sums)
{
    (void)w, (void)n, (void)k, (void)packed, (void)sums;
}
void qf_amx_gemm_u8s8s32(const uint8_t *x, int64_t m, const int8_t *packed, int64_t n, int64_t k, uint8_t *tail,
                         int32_t *acc, const qf_amx_epilogue *epi)
{
    (void)x, (void)m, (void)packed, (void)n, (void)k, (void)tail, (void)acc, (void)epi;
}

#endif
