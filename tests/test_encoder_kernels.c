/*
 * tests/test_encoder_kernels.c — the encoder's kernels against their scalar references:
 * ONNX Runtime DynamicQuantizeLinear on exact cases (ONNX test vectors, ties, saturation, constant
 * and zero inputs), the uint8 x int8 GEMM bit-exact on int32 accumulators (oneDNN with VNNI, AMX,
 * or the exact kernels of every instruction set, at values that saturate int16 pair sums), the FP32
 * GEMM within 1e-5 relative, and whole synthetic encoders run with oneDNN vs reference kernels.
 * ctest runs it again with ONEDNN_MAX_CPU_ISA capped below VNNI (tests/CMakeLists.txt).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/verify.h"
#include "support/synth_encoder.h"
#include "runtime/kernels.h"

static unsigned g_seed = 99;
static unsigned next_rand(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 17;
    g_seed ^= g_seed << 5;
    return g_seed;
}
static float frand(float a) { return ((float)(next_rand() & 0xFFFFFF) / (float)0x800000 - 1.0f) * a; }

static void check_dql(const float *x, size_t n, float want_scale, uint8_t want_z, const uint8_t *want_q)
{
    uint8_t q[64];
    float s;
    uint8_t z;
    qf_dynamic_quantize_u8_ref(x, n, q, &s, &z);
    assert_true(s == want_scale);
    assert_int_equal(z, want_z);
    assert_memory_equal(q, want_q, n);
    uint8_t q2[64] = {0};
    float s2;
    uint8_t z2;
    qf_dynamic_quantize_u8(x, n, q2, &s2, &z2);
    assert_true(s2 == want_scale);
    assert_int_equal(z2, want_z);
    assert_memory_equal(q2, want_q, n);
}

/* qf_dynamic_quantize_u8 (AVX-512 where available) gives the bits of the reference on every tail
 * length, exact halfway ties, NaN, infinities and one-signed data. */
static void test_dynamic_quantize_simd(void **state)
{
    (void)state;
    print_message("encoder AVX-512 kernels %s\n", qf_encoder_simd_available() ? "active" : "not available (ref only)");
    enum { N = 1100 };
    static float x[N];
    static uint8_t q1[N], q2[N];
    const size_t lens[] = {0, 1, 2, 15, 16, 17, 31, 33, 64, 100, 768, N};
    for (int mode = 0; mode < 7; mode++) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            for (size_t i = 0; i < n; i++) {
                x[i] = frand(mode == 1 ? 300.0f : 4.0f);
                if (mode == 2) x[i] = (float)(int)(next_rand() % 511) - 255.0f + 0.5f; /* ties at scale 1 */
                if (mode == 3) x[i] = fabsf(x[i]) + 1.0f;                            /* positive only */
                if (mode == 4) x[i] = -fabsf(x[i]) - 1.0f;                           /* negative only */
            }
            if (mode == 5 && n > 3) x[next_rand() % n] = NAN, x[n - 1] = NAN;
            if (mode == 6 && n > 3) x[next_rand() % n] = INFINITY, x[0] = -INFINITY;
            float s1 = 0, s2 = 0;
            uint8_t z1 = 0, z2 = 0;
            memset(q1, 0xAB, sizeof q1);
            memset(q2, 0xAB, sizeof q2);
            qf_dynamic_quantize_u8_ref(x, n, q1, &s1, &z1);
            qf_dynamic_quantize_u8(x, n, q2, &s2, &z2);
            assert_memory_equal(&s1, &s2, sizeof s1);
            assert_int_equal(z1, z2);
            assert_memory_equal(q1, q2, sizeof q1); /* also: nothing written past n */
        }
    }
}

/* The AVX-512 DynamicQuantizeLinear divides by the scale as a multiplication by its double
 * reciprocal rounded to float: the same float as x / s for finite x and s > 0 wherever x / s is a
 * normal float (and, below that, a value rintf takes to zero as it does x / s). 2^21 pairs over
 * the whole exponent range of both, plus quotients next to integers and to halves. */
static void test_quotient_by_double_reciprocal(void **state)
{
    (void)state;
    size_t checked = 0;
    for (uint32_t i = 0; i < (1u << 21); i++) {
        uint32_t xb = (uint32_t)next_rand() << 16 ^ (uint32_t)next_rand(), sb = (uint32_t)next_rand() << 16 ^ (uint32_t)next_rand();
        float x, sc;
        memcpy(&x, &xb, 4);
        sb &= 0x7FFFFFFFu;
        memcpy(&sc, &sb, 4);
        if (i & 1) { /* quotients near integers and halves, the values rintf decides on */
            sc = ldexpf(1.0f + (float)(next_rand() % 4096) / 4096.0f, (int)(next_rand() % 40) - 20);
            x = ((float)(int)(next_rand() % 512) - 256.0f + ((i & 2) ? 0.5f : 0.0f)) * sc;
            uint32_t u;
            memcpy(&u, &x, 4);
            u += (uint32_t)(next_rand() % 3) - 1u; /* one float step either way */
            memcpy(&x, &u, 4);
        }
        if (!isfinite(x) || !isfinite(sc) || sc == 0.0f) continue;
        const float exact = x / sc, fast = (float)((double)x * (1.0 / (double)sc));
        if (fabsf(exact) >= FLT_MIN) assert_memory_equal(&exact, &fast, sizeof exact);
        assert_true(rintf(exact) == rintf(fast));
        checked++;
    }
    assert_true(checked > (1u << 19));
}

/* qf_attention_row gives the reference's bits for head widths and key counts around the vector
 * width (tails in both loops), with strided keys and values. */
static void test_attention_row_simd(void **state)
{
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {5, 3}, {16, 16}, {17, 33}, {33, 64}, {128, 64}, {40, 80}, {7, 130}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t L = shapes[si][0], d = shapes[si][1], ldk = L + 3, ldv = d + 5;
        float *qi = malloc((size_t)d * sizeof(float)), *kt = malloc((size_t)(d * ldk) * sizeof(float));
        float *v = malloc((size_t)(L * ldv) * sizeof(float));
        float *sc1 = malloc((size_t)L * sizeof(float)), *sc2 = malloc((size_t)L * sizeof(float));
        float *c1 = malloc((size_t)(d + 16) * sizeof(float)), *c2 = malloc((size_t)(d + 16) * sizeof(float));
        assert_non_null(qi && kt && v && sc1 && sc2 && c1 && c2);
        for (int64_t i = 0; i < d; i++) qi[i] = frand(3.0f);
        for (int64_t i = 0; i < d * ldk; i++) kt[i] = frand(3.0f);
        for (int64_t i = 0; i < L * ldv; i++) v[i] = frand(2.0f);
        float *bias = malloc((size_t)L * sizeof(float));
        assert_non_null(bias);
        for (int64_t i = 0; i < L; i++) bias[i] = frand(4.0f);
        const float scale = 1.0f / sqrtf((float)d);
        /* without and with a relative-position bias added to the scores */
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            for (int64_t i = 0; i < d + 16; i++) c1[i] = c2[i] = 42.0f;
            qf_attention_row_ref(qi, kt, ldk, v, ldv, L, d, scale, with_bias ? bias : NULL, sc1, c1);
            qf_attention_row(qi, kt, ldk, v, ldv, L, d, scale, with_bias ? bias : NULL, sc2, c2);
            assert_memory_equal(c1, c2, (size_t)(d + 16) * sizeof(float));
            assert_memory_equal(sc1, sc2, (size_t)L * sizeof(float));
        }
        free(qi), free(kt), free(v), free(sc1), free(sc2), free(c1), free(c2), free(bias);
    }
}

/* qf_attention_rows: every row of a block gives qf_attention_row_ref's bits, for row counts that
 * fill four-row blocks and leave a remainder, with strided queries, outputs and biases, without
 * and with a bias. */
static void test_attention_rows_simd(void **state)
{
    (void)state;
    const int64_t shapes[][3] = {{128, 64, 9}, {37, 64, 4}, {17, 33, 5}, {3, 80, 7}, {64, 16, 1}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t L = shapes[si][0], d = shapes[si][1], rows = shapes[si][2];
        const int64_t ldk = L + 1, ldv = d + 3, ldq = d + 2, ldc = d + 7;
        float *q = malloc((size_t)(rows * ldq) * sizeof(float)), *kt = malloc((size_t)(d * ldk) * sizeof(float));
        float *v = malloc((size_t)(L * ldv) * sizeof(float));
        float *sc1 = malloc((size_t)L * sizeof(float)), *sc2 = malloc((size_t)(rows * L) * sizeof(float));
        float *c1 = malloc((size_t)ldc * sizeof(float)), *c2 = malloc((size_t)(rows * ldc) * sizeof(float));
        assert_non_null(q && kt && v && sc1 && sc2 && c1 && c2);
        for (int64_t i = 0; i < rows * ldq; i++) q[i] = frand(3.0f);
        for (int64_t i = 0; i < d * ldk; i++) kt[i] = frand(3.0f);
        for (int64_t i = 0; i < L * ldv; i++) v[i] = frand(2.0f);
        const int64_t ldb = L + 2; /* bias rows, strided */
        float *bias = malloc((size_t)(rows * ldb) * sizeof(float));
        assert_non_null(bias);
        for (int64_t i = 0; i < rows * ldb; i++) bias[i] = frand(4.0f);
        const float scale = 1.0f / sqrtf((float)d);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            for (int64_t i = 0; i < rows * ldc; i++) c2[i] = 42.0f;
            qf_attention_rows(q, ldq, rows, kt, ldk, v, ldv, L, d, scale, with_bias ? bias : NULL, ldb, sc2, c2, ldc);
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < ldc; i++) c1[i] = 42.0f;
                qf_attention_row_ref(q + r * ldq, kt, ldk, v, ldv, L, d, scale, with_bias ? bias + r * ldb : NULL, sc1,
                                     c1);
                assert_memory_equal(c1, c2 + r * ldc, (size_t)ldc * sizeof(float));
                assert_memory_equal(sc1, sc2 + r * L, (size_t)L * sizeof(float));
            }
        }
        free(q), free(kt), free(v), free(sc1), free(sc2), free(c1), free(c2), free(bias);
    }
}

/* qf_int8_row_sums equals the scalar sums for row lengths around the 64-byte vector (tails), at the
 * extremes -128 and 127, and on random rows. */
static void test_int8_row_sums(void **state)
{
    (void)state;
    const int64_t ks[] = {1, 63, 64, 65, 127, 768, 3072, 3075};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int64_t k = ks[ki], n = 5;
        int8_t *w = malloc((size_t)(n * k + 64));
        int32_t s1[5], s2[5];
        assert_non_null(w);
        for (int64_t i = 0; i < n * k + 64; i++) w[i] = (int8_t)(rand() % 256 - 128);
        for (int64_t t = 0; t < k; t++) w[t] = -128, w[k + t] = 127; /* rows 0 and 1 at the extremes */
        qf_int8_row_sums_ref(w, n, k, s1);
        qf_int8_row_sums(w, n, k, s2);
        assert_memory_equal(s1, s2, sizeof s1);
        assert_int_equal(s1[0], -128 * k);
        assert_int_equal(s1[1], 127 * k);
        free(w);
    }
}

/* qf_expf_ref: within 0.51 ulp of e^x computed in double over a dense sweep of [-104, 89] (every 97th
 * float; subnormal results included), and at most one representable step from glibc's expf; the
 * edges exact. */
static void test_expf_ulp(void **state)
{
    (void)state;
    double worst = 0.0;
    unsigned worst_steps = 0, checked = 0;
    for (int sign = 0; sign < 2; sign++) {
        const float end = sign ? 104.0f : 89.0f;
        for (float a = 0x1p-30f; a < end; a = nextafterf(a, INFINITY)) {
            for (int skip = 0; skip < 96 && a < end; skip++) a = nextafterf(a, INFINITY);
            const float x = sign ? -a : a;
            const float got = qf_expf_ref(x), libm = expf(x);
            const double exact = exp((double)x);
            if (isinf(got)) {
                assert_true(exact > (double)FLT_MAX);
                continue;
            }
            /* the spacing on the side of the exact value (below a power of two it is half) */
            const float side = exact > (double)got ? nextafterf(got, INFINITY) : nextafterf(got, 0.0f);
            double ulp = fabs((double)side - (double)got);
            if (ulp == 0.0) ulp = 0x1p-149;
            const double e = fabs((double)got - exact) / ulp;
            if (e > worst) worst = e;
            unsigned steps = 0;
            for (float f = got; f != libm && steps < 4; steps++) f = nextafterf(f, libm);
            if (steps > worst_steps) worst_steps = steps;
            checked++;
        }
    }
    print_message("qf_expf_ref: %u values, max error %.3f ulp vs double exp, max %u steps from expf\n", checked, worst,
                  worst_steps);
    assert_true(worst <= 0.51);
    assert_true(worst_steps <= 1);
    assert_true(qf_expf_ref(0.0f) == 1.0f && qf_expf_ref(-0.0f) == 1.0f);
    assert_true(qf_expf_ref(-INFINITY) == 0.0f && qf_expf_ref(INFINITY) == INFINITY);
    assert_true(qf_expf_ref(-200.0f) == 0.0f && qf_expf_ref(1000.0f) == INFINITY);
    assert_true(isnan(qf_expf_ref(NAN)));
    assert_true(qf_expf_ref(1.0f) == expf(1.0f));
}

/* qf_dequantize_bias_row gives the reference's bits on every tail, with and without the
 * zero-point correction, including int32 wrap-around; the fused correction equals correcting
 * the accumulators first (the unfused order of MatMulInteger then Cast/Mul/Add). */
static void test_dequantize_bias_row_simd(void **state)
{
    (void)state;
    const int64_t ns[] = {1, 15, 16, 17, 31, 64, 100, 768};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni];
        int32_t *acc = malloc((size_t)n * sizeof(int32_t)), *cs = malloc((size_t)n * sizeof(int32_t));
        int32_t *fixed = malloc((size_t)n * sizeof(int32_t));
        float *ws = malloc((size_t)n * sizeof(float)), *bias = malloc((size_t)n * sizeof(float));
        float *y1 = malloc((size_t)(n + 16) * sizeof(float)), *y2 = malloc((size_t)(n + 16) * sizeof(float));
        float *y3 = malloc((size_t)(n + 16) * sizeof(float));
        assert_non_null(acc && cs && fixed && ws && bias && y1 && y2 && y3);
        for (int64_t j = 0; j < n; j++) {
            acc[j] = (int32_t)(next_rand() & 0x3FFFFF) - 0x200000;
            cs[j] = (int32_t)(next_rand() & 0x1FFFF) - 0x10000;
            ws[j] = frand(0.01f);
            bias[j] = frand(1.0f);
        }
        acc[0] = INT32_MAX; /* wraps: INT32_MAX - 200 * cs[0] for cs[0] < 0 */
        cs[0] = -12345;
        for (int zx = 0; zx <= 255; zx += 85) {
            for (int with_cs = 0; with_cs < 2; with_cs++) {
                for (int64_t j = 0; j < n + 16; j++) y1[j] = y2[j] = y3[j] = 42.0f;
                const int32_t *c = with_cs ? cs : NULL;
                qf_dequantize_bias_row_ref(acc, n, zx, c, 0.037f, ws, bias, y1);
                qf_dequantize_bias_row(acc, n, zx, c, 0.037f, ws, bias, y2);
                assert_memory_equal(y1, y2, (size_t)(n + 16) * sizeof(float));
                for (int64_t j = 0; j < n; j++)
                    fixed[j] = with_cs ? (int32_t)((uint32_t)acc[j] - (uint32_t)zx * (uint32_t)cs[j]) : acc[j];
                qf_dequantize_bias_row_ref(fixed, n, zx, NULL, 0.037f, ws, bias, y3);
                assert_memory_equal(y1, y3, (size_t)(n + 16) * sizeof(float));
            }
        }
        free(acc), free(cs), free(fixed), free(ws), free(bias), free(y1), free(y2), free(y3);
    }
}

/* qf_layer_norm_row gives the reference's bits for widths around the vector width, with and
 * without the residual, on offset data (where the summation order shows); and it stays within
 * 1e-6 of a straightforward in-order double LayerNorm. */
static void test_layer_norm_row_simd(void **state)
{
    (void)state;
    const int64_t ds[] = {1, 2, 15, 16, 17, 33, 256, 312, 768, 1030};
    for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++) {
        const int64_t d = ds[di];
        float *x = malloc((size_t)d * sizeof(float)), *r = malloc((size_t)d * sizeof(float));
        float *g = malloc((size_t)d * sizeof(float)), *b = malloc((size_t)d * sizeof(float));
        float *y1 = malloc((size_t)(d + 16) * sizeof(float)), *y2 = malloc((size_t)(d + 16) * sizeof(float));
        assert_non_null(x && r && g && b && y1 && y2);
        for (int64_t j = 0; j < d; j++) {
            x[j] = 100.0f + frand(8.0f);
            r[j] = frand(3.0f);
            g[j] = 1.0f + frand(0.5f);
            b[j] = frand(0.2f);
        }
        for (int with_r = 0; with_r < 2; with_r++) {
            for (int64_t j = 0; j < d + 16; j++) y1[j] = y2[j] = j < d ? x[j] : 42.0f;
            qf_layer_norm_row_ref(y1, with_r ? r : NULL, d, g, b, 1e-12f);
            qf_layer_norm_row(y2, with_r ? r : NULL, d, g, b, 1e-12f);
            assert_memory_equal(y1, y2, (size_t)(d + 16) * sizeof(float));
            double mean = 0.0, var = 0.0;
            for (int64_t j = 0; j < d; j++) mean += (double)(x[j] + (with_r ? r[j] : 0.0f));
            mean /= (double)d;
            for (int64_t j = 0; j < d; j++) {
                double c = (double)(x[j] + (with_r ? r[j] : 0.0f)) - mean;
                var += c * c;
            }
            var /= (double)d;
            for (int64_t j = 0; j < d; j++) {
                double want = ((double)(x[j] + (with_r ? r[j] : 0.0f)) - mean) / sqrt(var + 1e-12) * g[j] + b[j];
                assert_true(fabs(want - (double)y1[j]) <= 1e-6 * (1.0 + fabs(want)));
            }
        }
        free(x), free(r), free(g), free(b), free(y1), free(y2);
    }
}

static float float_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* qf_erf_ref over a dense sweep of [2^-30, 4.5] (every 509th float) and its mirror: within 1 ulp of
 * erf computed in double, and at most 1 ulp (in representable steps) from glibc's erff; exact
 * special values. */
static void test_erf_ulp(void **state)
{
    (void)state;
    double worst = 0.0;
    uint32_t worst_steps = 0;
    for (uint32_t u = bits_of_float(0x1p-30f); u <= bits_of_float(4.5f); u += 509) {
        for (int sgn = 0; sgn < 2; sgn++) {
            const float x = sgn ? -float_of_bits(u) : float_of_bits(u);
            const float got = qf_erf_ref(x), libm = erff(x);
            const double exact = erf((double)x);
            const double ulp = nextafterf(fabsf(got), INFINITY) - fabsf(got);
            const double e = fabs((double)got - exact) / ulp;
            if (e > worst) worst = e;
            const uint32_t a = bits_of_float(fabsf(got)), b = bits_of_float(fabsf(libm));
            const uint32_t steps = a > b ? a - b : b - a;
            if (steps > worst_steps) worst_steps = steps;
            assert_true(signbit(got) == signbit(x));
        }
    }
    print_message("qf_erf_ref: max error %.3f ulp vs double erf, max %u steps from erff\n", worst, worst_steps);
    assert_true(worst <= 1.0);
    assert_true(worst_steps <= 1);
    assert_true(qf_erf_ref(0.0f) == 0.0f && !signbit(qf_erf_ref(0.0f)));
    assert_true(qf_erf_ref(-0.0f) == 0.0f && signbit(qf_erf_ref(-0.0f)));
    assert_true(qf_erf_ref(INFINITY) == 1.0f && qf_erf_ref(-INFINITY) == -1.0f);
    assert_true(qf_erf_ref(4.0f) == 1.0f && qf_erf_ref(-100.0f) == -1.0f);
    assert_true(isnan(qf_erf_ref(NAN)));
    assert_true(qf_erf_ref(0x1p-140f) == (float)(0x1p-140 * 1.1283791670955126)); /* subnormal */
}

/* qf_gelu_row gives qf_gelu_row_ref's bits on every tail, for special values, at the interval
 * boundaries of the erf fit and on a wide random sweep. */
static void test_gelu_row_simd(void **state)
{
    (void)state;
    enum { N = 4133 };
    float *x = malloc(N * sizeof(float)), *y1 = malloc((N + 16) * sizeof(float)), *y2 = malloc((N + 16) * sizeof(float));
    assert_non_null(x && y1 && y2);
    const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1.41421356f, -1.41421356f, 3.5355339f,
                             -3.5355339f, 5.656854f, -5.656854f, 0x1p-149f, -0x1p-149f, 1e30f, -1e30f, 1e-30f};
    const size_t ns = sizeof special / sizeof special[0];
    for (int64_t i = 0; i < N; i++) x[i] = (size_t)i < ns ? special[i] : frand(i % 3 == 0 ? 12.0f : 4.0f);
    const int64_t lens[] = {1, 7, 16, 17, 100, N};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        for (int64_t i = 0; i < N + 16; i++) y1[i] = y2[i] = i < n ? x[i] : 42.0f;
        qf_gelu_row_ref(y1, n);
        qf_gelu_row(y2, n);
        assert_memory_equal(y1, y2, (size_t)(N + 16) * sizeof(float));
    }
    assert_true(y1[0] == 0.0f && isnan(y1[2]) && y1[3] == INFINITY && isnan(y1[4])); /* -inf * 0, as with erff */
    /* against the libm form, within a few float roundings */
    for (int64_t i = ns; i < N; i++) {
        const float want = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        assert_true(fabsf(y1[i] - want) <= 4e-7f * (1.0f + fabsf(want)));
    }
    free(x), free(y1), free(y2);
}

static void test_dynamic_quantize(void **state)
{
    (void)state;
    /* the ONNX backend test cases of DynamicQuantizeLinear (onnx/backend/test/case/node) */
    const float a[] = {0, 2, -3, -2.5f, 1.34f, 0.5f};
    const uint8_t qa[] = {153, 255, 0, 26, 221, 179}; /* 0.5 / s == 25.5 exactly: tie to 26 */
    check_dql(a, 6, 5.0f / 255.0f, 153, qa);
    const float b[] = {-1.0f, -2.1f, -1.3f, -2.5f, -3.34f, -4.0f}; /* all negative: z = 255 */
    const uint8_t qb[] = {191, 121, 172, 96, 42, 0};
    check_dql(b, 6, 4.0f / 255.0f, 255, qb);
    const float c[] = {1, 2.1f, 1.3f, 2.5f, 3.34f, 4.0f, 1.5f, 2.6f, 3.9f, 4.0f, 3.0f, 2.345f}; /* all positive: z = 0 */
    const uint8_t qc[] = {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149};
    check_dql(c, 12, 4.0f / 255.0f, 0, qc);
    /* scale exactly 1: ties of x / s round half to even */
    const float d[] = {-128, 127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f};
    const uint8_t qd[] = {0, 255, 128, 130, 130, 128, 126, 126};
    check_dql(d, 8, 1.0f, 128, qd);
    /* zero-point ties: -min/s = 0.5 -> 0, = 1.5 -> 2 (then 253.5 + 2 saturates) */
    const float e[] = {-0.5f, 254.5f, 3.5f};
    const uint8_t qe[] = {0, 254, 4};
    check_dql(e, 3, 1.0f, 0, qe);
    const float f[] = {-1.5f, 253.5f};
    const uint8_t qf_[] = {0, 255};
    check_dql(f, 2, 1.0f, 2, qf_);
    /* constant positive: range [0, 3] */
    const float g[] = {3, 3, 3};
    const uint8_t qg[] = {255, 255, 255};
    check_dql(g, 3, 3.0f / 255.0f, 0, qg);
    /* constant negative: range [-3, 0] */
    const float h[] = {-3, -3};
    const uint8_t qh[] = {0, 0};
    check_dql(h, 2, 3.0f / 255.0f, 255, qh);
    /* all zeros: max == min, ONNX Runtime uses scale 1 */
    const float z[] = {0, 0, 0, 0};
    const uint8_t qz[] = {0, 0, 0, 0};
    check_dql(z, 4, 1.0f, 0, qz);
    check_dql(z, 0, 1.0f, 0, qz);
    /* NaN is ignored in the range and maps to the zero point */
    const float n[] = {NAN, -1.0f, 1.0f};
    uint8_t qn[3];
    float s;
    uint8_t zp;
    qf_dynamic_quantize_u8_ref(n, 3, qn, &s, &zp);
    assert_true(s == 2.0f / 255.0f);
    assert_int_equal(zp, 127); /* 1 / (2/255) is 127.49999 in f32, not a tie */
    assert_int_equal(qn[0], 127);
    assert_int_equal(qn[1], 0);
    assert_int_equal(qn[2], 254);
}

/* mode 0: random; 1: x 255, w -128; 2: x 0, w 127; 3: x 255, w 127 (the extremes of
 * DynamicQuantizeLinear's activations and qforge's weights, -127..127). Modes 1 and 3 make every
 * pair of products 255 * -128 * 2 = -65280 or 255 * 127 * 2 = 64770, past int16: a kernel that adds
 * pairs with saturation (vpmaddubsw, oneDNN without VNNI) gets them wrong. */
static void fill_u8(uint8_t *x, size_t n, int mode)
{
    for (size_t i = 0; i < n; i++) x[i] = mode == 0 ? (uint8_t)next_rand() : mode == 2 ? 0 : 255;
}
static void fill_s8(int8_t *w, size_t n, int mode)
{
    for (size_t i = 0; i < n; i++) w[i] = mode == 0 ? (int8_t)(next_rand() & 0xFF) : mode == 1 ? -128 : 127;
}

/* The ISAs oneDNN can be capped to (ONEDNN_MAX_CPU_ISA) that have no VNNI: its int8 products are
 * not exact there, and qforge must not use them. */
static bool onednn_capped_below_vnni(void)
{
    const char *isa = getenv("ONEDNN_MAX_CPU_ISA");
    if (!isa) return false;
    const char *below[] = {"SSE41", "AVX", "AVX2", "AVX512_CORE", "AVX512_MIC", "AVX512_MIC_4OPS"};
    for (size_t i = 0; i < sizeof below / sizeof *below; i++)
        if (!strcmp(isa, below[i])) return true;
    return false;
}

static void test_gemm_int8_exact(void **state)
{
    (void)state;
    qf_dnnl *d = NULL;
    assert_int_equal(qf_dnnl_create(&d, NULL), QF_STATUS_OK);
    const int64_t ms[] = {1, 3, 17, 48, 100};
    const int64_t ns[] = {1, 7, 64, 130};
    const int64_t ks[] = {1, 5, 63, 256, 1027};
    const uint8_t zps[] = {0, 128, 255};
    size_t cases = 0, amx_cases = 0, fused_cases = 0;
    const char *kernel = NULL;
    for (size_t ki = 0; ki < 5; ki++) {
        for (size_t ni = 0; ni < 4; ni++) {
            int64_t n = ns[ni], k = ks[ki], max_m = 100;
            for (int mode = 0; mode < 4; mode++) {
                int8_t *w = malloc((size_t)(n * k));
                uint8_t *x = malloc((size_t)(max_m * k));
                int32_t *a = malloc((size_t)(max_m * n) * 4), *r = malloc((size_t)(max_m * n) * 4);
                fill_s8(w, (size_t)(n * k), mode);
                fill_u8(x, (size_t)(max_m * k), mode);
                qf_dnnl_gemm *g = NULL;
                assert_int_equal(qf_dnnl_gemm_create(d, true, w, n, k, max_m, &g, NULL), QF_STATUS_OK);
                /* the zero-point column sums (taken while packing on AMX) are the scalar row sums */
                int32_t *sums = malloc((size_t)n * 4);
                qf_int8_row_sums_ref(w, n, k, sums);
                assert_memory_equal(qf_dnnl_gemm_colsum(g), sums, (size_t)n * 4);
                free(sums);
                /* k a multiple of 64 takes the AMX kernels where the CPU has them */
                assert_true(qf_dnnl_gemm_uses_amx(g) == (qf_amx_available() && k % 64 == 0));
                if (qf_dnnl_gemm_uses_amx(g)) amx_cases += 5 * 3;
                else kernel = qf_dnnl_gemm_int8_kernel(g);
                for (size_t mi = 0; mi < 5; mi++) {
                    for (size_t zi = 0; zi < 3; zi++) {
                        qf_error err;
                        qf_error_clear(&err);
                        assert_int_equal(qf_dnnl_gemm_u8s8s32(g, x, zps[zi], ms[mi], a, &err), QF_STATUS_OK);
                        qf_gemm_u8s8s32_ref(x, zps[zi], w, ms[mi], n, k, r);
                        assert_memory_equal(a, r, (size_t)(ms[mi] * n) * 4);
                        cases++;
                        if (qf_dnnl_gemm_uses_amx(g)) {
                            /* the epilogue fused into the tiles gives qf_dequantize_bias_row_ref's bits */
                            float *ws = malloc((size_t)n * 4), *bias = malloc((size_t)n * 4);
                            float *y1 = malloc((size_t)(ms[mi] * n) * 4), *y2 = malloc((size_t)(ms[mi] * n) * 4);
                            int32_t *raw = malloc((size_t)(ms[mi] * n) * 4);
                            assert_non_null(ws && bias && y1 && y2 && raw);
                            for (int64_t j = 0; j < n; j++) ws[j] = 0.001f * (float)(j % 13 + 1), bias[j] = 0.5f - 0.01f * (float)j;
                            const float sx = 0.0371f;
                            assert_int_equal(qf_dnnl_gemm_u8s8_dequantize(g, x, ms[mi], zps[zi], sx, ws, bias, y2, &err),
                                             QF_STATUS_OK);
                            qf_gemm_u8s8s32_ref(x, 0, w, ms[mi], n, k, raw);
                            for (int64_t i = 0; i < ms[mi]; i++)
                                qf_dequantize_bias_row_ref(raw + i * n, n, zps[zi], qf_dnnl_gemm_colsum(g), sx, ws, bias,
                                                           y1 + i * n);
                            assert_memory_equal(y1, y2, (size_t)(ms[mi] * n) * 4);
                            fused_cases++;
                            free(ws), free(bias), free(y1), free(y2), free(raw);
                        }
                    }
                }
                qf_dnnl_gemm_destroy(g);
                free(w);
                free(x);
                free(a);
                free(r);
            }
        }
    }
    /* saturating extremes: 255 * -128 * 1027 accumulates to -33.5M, exact */
    assert_true(cases == 5 * 4 * 4 * 5 * 3);
    /* oneDNN capped below VNNI: its matmul was not used (nor AMX, which implies VNNI) */
    if (onednn_capped_below_vnni()) assert_true(kernel && strcmp(kernel, "onednn") && strcmp(kernel, "amx"));
    print_message("int8 gemm: %zu cases bit-exact against the reference, %zu of them on AMX (%s), %zu with the fused "
                  "dequantize epilogue, the others on %s (ONEDNN_MAX_CPU_ISA=%s)\n",
                  cases, amx_cases, qf_amx_available() ? "available" : "not in use: no AMX here, or QF_AMX=0", fused_cases,
                  kernel ? kernel : "-", getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "unset");
    assert_true(fused_cases == amx_cases);
    qf_dnnl_destroy(d);
}

/* Each instruction set of the exact integer GEMM (the non-VNNI path) that this CPU has, called
 * directly whatever oneDNN's ISA: the bits of the reference on every tail of k (both vector
 * widths), rows and columns past a block, and the extremes that saturate int16 pair sums. */
static void test_gemm_int8_exact_kernels(void **state)
{
    (void)state;
    const int64_t ms[] = {1, 2, 5, 9};
    const int64_t ns[] = {1, 3, 4, 5, 13};
    const int64_t ks[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 64, 100, 768, 1027};
    size_t cases = 0, isas = 0;
    for (int isa = QF_INT8_ISA_SCALAR; isa <= QF_INT8_ISA_AVX512BW; isa++) {
        if (!qf_gemm_u8s8s32_exact_supported((qf_int8_isa)isa)) {
            print_message("exact int8 gemm: %s not on this CPU\n", qf_int8_isa_name((qf_int8_isa)isa));
            continue;
        }
        isas++;
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
                for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                    const int64_t m = ms[mi], n = ns[ni], k = ks[ki];
                    for (int mode = 0; mode < 4; mode++) {
                        uint8_t *x = malloc((size_t)(m * k));
                        int8_t *w = malloc((size_t)(n * k));
                        int32_t *a = malloc((size_t)(m * n) * 4), *r = malloc((size_t)(m * n) * 4);
                        assert_non_null(x && w && a && r);
                        fill_u8(x, (size_t)(m * k), mode);
                        fill_s8(w, (size_t)(n * k), mode);
                        memset(a, 0x5A, (size_t)(m * n) * 4);
                        qf_gemm_u8s8s32_exact(x, w, m, n, k, a, (qf_int8_isa)isa);
                        qf_gemm_u8s8s32_ref(x, 0, w, m, n, k, r);
                        assert_memory_equal(a, r, (size_t)(m * n) * 4);
                        cases++;
                        free(x), free(w), free(a), free(r);
                    }
                }
            }
        }
        /* a larger product, split across threads */
        const int64_t m = 128, n = 67, k = 3072;
        uint8_t *x = malloc((size_t)(m * k));
        int8_t *w = malloc((size_t)(n * k));
        int32_t *a = malloc((size_t)(m * n) * 4), *r = malloc((size_t)(m * n) * 4);
        assert_non_null(x && w && a && r);
        for (int64_t i = 0; i < m * k; i++) x[i] = i % 3 ? 255 : (uint8_t)next_rand();
        for (int64_t i = 0; i < n * k; i++) w[i] = i % 5 ? (next_rand() & 1 ? 127 : -127) : (int8_t)next_rand();
        qf_gemm_u8s8s32_exact(x, w, m, n, k, a, (qf_int8_isa)isa);
        qf_gemm_u8s8s32_ref(x, 0, w, m, n, k, r);
        assert_memory_equal(a, r, (size_t)(m * n) * 4);
        free(x), free(w), free(a), free(r);
    }
    print_message("exact int8 gemm: %zu cases bit-exact in %zu instruction sets\n", cases, isas);
    assert_true(cases == isas * 13 * 5 * 4 * 4);
}

static void test_gemm_f32(void **state)
{
    (void)state;
    qf_dnnl *d = NULL;
    assert_int_equal(qf_dnnl_create(&d, NULL), QF_STATUS_OK);
    const int64_t ms[] = {1, 5, 48};
    const int64_t ns[] = {1, 9, 256};
    const int64_t ks[] = {3, 64, 1031};
    double worst = 0.0;
    for (size_t ki = 0; ki < 3; ki++) {
        for (size_t ni = 0; ni < 3; ni++) {
            int64_t n = ns[ni], k = ks[ki], max_m = 48;
            float *w = malloc((size_t)(n * k) * 4), *x = malloc((size_t)(max_m * k) * 4);
            float *y = malloc((size_t)(max_m * n) * 4), *r = malloc((size_t)(max_m * n) * 4);
            for (int64_t i = 0; i < n * k; i++) w[i] = frand(1.0f);
            for (int64_t i = 0; i < max_m * k; i++) x[i] = frand(3.0f);
            qf_dnnl_gemm *g = NULL;
            assert_int_equal(qf_dnnl_gemm_create(d, false, w, n, k, max_m, &g, NULL), QF_STATUS_OK);
            for (size_t mi = 0; mi < 3; mi++) {
                int64_t m = ms[mi];
                assert_int_equal(qf_dnnl_gemm_f32(g, x, m, y, NULL), QF_STATUS_OK);
                qf_gemm_f32_ref(x, w, m, n, k, r);
                for (int64_t i = 0; i < m; i++) {
                    for (int64_t j = 0; j < n; j++) {
                        double mag = 0.0; /* relative to sum |x w|, the scale of the rounding error */
                        for (int64_t t = 0; t < k; t++) mag += fabs((double)x[i * k + t] * w[j * k + t]);
                        double rel = fabs((double)y[i * n + j] - r[i * n + j]) / (mag > 0 ? mag : 1.0);
                        if (rel > worst) worst = rel;
                    }
                }
            }
            /* rows outside 1..max_m are refused */
            qf_error err;
            qf_error_clear(&err);
            assert_int_equal(qf_dnnl_gemm_f32(g, x, max_m + 1, y, &err), QF_STATUS_INVALID_ARGUMENT);
            qf_dnnl_gemm_destroy(g);
            free(w);
            free(x);
            free(y);
            free(r);
        }
    }
    printf("fp32 gemm: worst relative error vs reference %.3g\n", worst);
    assert_true(worst <= 1e-5);
    qf_dnnl_destroy(d);
}

/* ------------------------------------------------------------------------------------------ */
/* Whole encoders                                                                              */

enum { B = 3, T = 11 };

static void make_batch(qf_arch_family fam, int32_t ids[B * T], int32_t mask[B * T], int32_t types[B * T])
{
    const int lens[B] = {11, 4, 7};
    int pad = fam == QF_ARCH_FAMILY_ROBERTA ? 1 : 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            bool real = t < lens[b];
            ids[b * T + t] = real ? 2 + (int32_t)((b * 7 + t * 13) % 47) : pad;
            mask[b * T + t] = real;
            types[b * T + t] = fam == QF_ARCH_FAMILY_ROBERTA ? 0 : (real && t > lens[b] / 2);
        }
}

typedef struct run_result {
    float logits[B * 8];
    float hidden[B * T * 32];
    float pooled[B * 32];
    float layer1[B * T * 32];
} run_result;

static void run_encoder(qf_model *m, qf_encoder_mode mode, bool ref, int threads, const qf_encoder_batch *batch,
                        run_result *r)
{
    qf_encoder_params p = qf_encoder_params_default();
    p.mode = mode;
    p.reference_kernels = ref;
    p.threads = threads;
    p.max_batch = B;
    p.max_length = T;
    p.keep_layer_outputs = true;
    p.quantize_weights = true;
    qf_encoder *e = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_encoder_create(m, &p, &e, &err);
    if (s) fprintf(stderr, "create: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    qf_encoder_output o;
    s = qf_encoder_run(e, batch, &o, &err);
    if (s) fprintf(stderr, "run: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    assert_int_equal(o.num_labels, 3);
    assert_int_equal(o.num_layer_outputs, 3);
    size_t bth = (size_t)(batch->batch * T * 32);
    memcpy(r->logits, o.logits, (size_t)(batch->batch * 3) * 4);
    memcpy(r->hidden, o.last_hidden, bth * 4);
    memcpy(r->pooled, o.pooled, (size_t)(batch->batch * 32) * 4);
    memcpy(r->layer1, o.layer_hidden + bth, bth * 4);
    /* the last layer output is last_hidden */
    assert_memory_equal(o.layer_hidden + 2 * bth, o.last_hidden, bth * 4);
    qf_encoder_destroy(e);
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float w = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= w)) w = d;
    }
    return w;
}

static void check_encoder_family(qf_arch_family fam)
{
    synth_encoder_opts o = synth_encoder_opts_default(fam);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    int32_t ids[B * T], mask[B * T], types[B * T];
    make_batch(fam, ids, mask, types);
    qf_encoder_batch batch = {B, T, ids, mask, types};
    static run_result fd, fr, id, ir, single, ir2;
    run_encoder(m, QF_ENCODER_MODE_FP32, false, 0, &batch, &fd);
    run_encoder(m, QF_ENCODER_MODE_FP32, true, 0, &batch, &fr);
    run_encoder(m, QF_ENCODER_MODE_DYNAMIC_INT8, false, 0, &batch, &id);
    run_encoder(m, QF_ENCODER_MODE_DYNAMIC_INT8, true, 0, &batch, &ir);
    float d_fp = max_abs_diff(fd.logits, fr.logits, B * 3);
    float d_hid = max_abs_diff(fd.hidden, fr.hidden, B * T * 32);
    float d_i8 = max_abs_diff(id.logits, ir.logits, B * 3);
    float d_q = max_abs_diff(id.logits, fr.logits, B * 3);
    printf("%s: fp32 onednn vs ref max|dlogit| %.3g (hidden %.3g); int8 onednn vs ref %.3g; int8 vs fp32 %.3g\n",
           qf_arch_family_name(fam), (double)d_fp, (double)d_hid, (double)d_i8, (double)d_q);
    assert_true(d_fp <= 1e-5f);
    /* int8: exact int32 accumulators and the same FP32 code around them -> the same bits */
    assert_memory_equal(id.logits, ir.logits, B * 3 * sizeof(float));
    assert_memory_equal(id.hidden, ir.hidden, B * T * 32 * sizeof(float));
    /* int8 differs from FP32, but not wildly */
    assert_true(d_q > 0.0f && d_q < 0.5f);
    /* padded positions are zero; pooled is the mean of the real tokens */
    assert_true(fr.hidden[(1 * T + 5) * 32] == 0.0f);
    double mean = 0.0;
    for (int t = 0; t < 4; t++) mean += fr.hidden[(1 * T + t) * 32 + 3];
    assert_true(fabs(mean / 4 - fr.pooled[32 + 3]) < 1e-6);

    /* batch composition does not matter: sequence 1 alone gives the same bits */
    qf_encoder_batch one = {1, T, ids + T, mask + T, types + T};
    run_encoder(m, QF_ENCODER_MODE_DYNAMIC_INT8, true, 0, &one, &single);
    assert_memory_equal(single.logits, ir.logits + 3, 3 * sizeof(float));
    /* thread count does not matter (reference kernels, fixed reduction order) */
    run_encoder(m, QF_ENCODER_MODE_DYNAMIC_INT8, true, 1, &batch, &ir2);
    assert_memory_equal(ir2.logits, ir.logits, B * 3 * sizeof(float));
    assert_memory_equal(ir2.layer1, ir.layer1, B * T * 32 * sizeof(float));
    qf_model_destroy(m);
}

static void test_encoder_bert(void **state) { (void)state; check_encoder_family(QF_ARCH_FAMILY_BERT); }
static void test_encoder_roberta(void **state) { (void)state; check_encoder_family(QF_ARCH_FAMILY_ROBERTA); }
static void test_encoder_distilbert(void **state) { (void)state; check_encoder_family(QF_ARCH_FAMILY_DISTILBERT); }
static void test_encoder_electra(void **state) { (void)state; check_encoder_family(QF_ARCH_FAMILY_ELECTRA); }

/* A model quantized by quantize/ runs the same int8 numbers as on-the-fly quantization. */
static void test_encoder_prequantized(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    qf_model *m = NULL, *q = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    qf_quantize_params qp = qf_quantize_params_default();
    qp.min_elements = 1;
    qp.quantize_word_embeddings = false;
    assert_int_equal(qf_model_quantize_dynamic(m, &qp, &q, NULL), QF_STATUS_OK);
    int32_t ids[B * T], mask[B * T], types[B * T];
    make_batch(QF_ARCH_FAMILY_BERT, ids, mask, types);
    qf_encoder_batch batch = {B, T, ids, mask, types};
    static run_result a, b;
    run_encoder(m, QF_ENCODER_MODE_DYNAMIC_INT8, false, 0, &batch, &a);
    run_encoder(q, QF_ENCODER_MODE_DYNAMIC_INT8, false, 0, &batch, &b);
    assert_memory_equal(a.logits, b.logits, B * 3 * sizeof(float));
    qf_model_destroy(q);
    qf_model_destroy(m);
}

static void test_encoder_bad_input(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    qf_encoder_params p = qf_encoder_params_default();
    p.max_batch = 2;
    p.max_length = 8;
    qf_encoder *e = NULL;
    assert_int_equal(qf_encoder_create(m, &p, &e, NULL), QF_STATUS_OK);
    int32_t ids[16] = {2, 3, 4, 0, 0, 0, 0, 0, 5, 6, 50, 0, 0, 0, 0, 0};
    int32_t mask[16] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    qf_encoder_batch in = {2, 8, ids, mask, NULL};
    qf_encoder_output out;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "input_ids[1][2]");
    assert_string_equal(err.expected, "0..49");
    assert_string_equal(err.found, "50");
    ids[10] = 7;
    int32_t types[16] = {0, 0, 2};
    in.token_type_ids = types;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "token_type_ids[0][2]");
    in.token_type_ids = NULL;
    memset(mask + 8, 0, 8 * sizeof(int32_t));
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "attention_mask[1]");
    mask[8] = 1;
    in.batch = 3;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "batch");
    in.batch = 2;
    in.length = 9;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_run(e, &in, &out, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "length");
    in.length = 8;
    assert_int_equal(qf_encoder_run(e, &in, &out, NULL), QF_STATUS_OK);
    assert_non_null(out.logits);
    assert_null(out.layer_hidden);
    qf_encoder_destroy(e);
    qf_encoder_destroy(NULL);

    p.max_batch = 0;
    qf_error_clear(&err);
    assert_int_equal(qf_encoder_create(m, &p, &e, &err), QF_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.object, "max_batch");
    assert_null(e);
    qf_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamic_quantize),     cmocka_unit_test(test_dynamic_quantize_simd),
        cmocka_unit_test(test_quotient_by_double_reciprocal),
        cmocka_unit_test(test_attention_row_simd), cmocka_unit_test(test_attention_rows_simd),
        cmocka_unit_test(test_expf_ulp), cmocka_unit_test(test_int8_row_sums),   cmocka_unit_test(test_dequantize_bias_row_simd),
        cmocka_unit_test(test_layer_norm_row_simd),  cmocka_unit_test(test_erf_ulp),
        cmocka_unit_test(test_gelu_row_simd),   cmocka_unit_test(test_gemm_int8_exact),
        cmocka_unit_test(test_gemm_int8_exact_kernels),
        cmocka_unit_test(test_gemm_f32),             cmocka_unit_test(test_encoder_bert),
        cmocka_unit_test(test_encoder_roberta),      cmocka_unit_test(test_encoder_distilbert),
        cmocka_unit_test(test_encoder_electra),      cmocka_unit_test(test_encoder_prequantized),
        cmocka_unit_test(test_encoder_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
