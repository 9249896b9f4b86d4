/*
 * runtime/kernels_ref.c — scalar reference kernels of the encoder: FP32 GEMM, the uint8 x int8
 * integer GEMM with int32 accumulation (ONNX MatMulInteger), its int8 x int8 form for static
 * activations, and ONNX Runtime's
 * DynamicQuantizeLinear. These are the specification the oneDNN kernels are tested against.
 * Rows (and columns) are split across OpenMP threads; each output is reduced in a fixed order.
 */
#include <math.h>

#include "runtime/kernels.h"

void qf_gemm_f32_ref(const float *x, const float *w, int64_t m, int64_t n, int64_t k, float *y)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            const float *xr = x + i * k, *wr = w + j * k;
            double acc = 0.0;
            for (int64_t t = 0; t < k; t++) acc += (double)xr[t] * (double)wr[t];
            y[i * n + j] = (float)acc;
        }
    }
}

void qf_gemm_u8s8s32_ref(const uint8_t *x, uint8_t zx, const int8_t *w, int64_t m, int64_t n, int64_t k,
                         int32_t *acc)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            const uint8_t *xr = x + i * k;
            const int8_t *wr = w + j * k;
            int32_t a = 0;
            for (int64_t t = 0; t < k; t++) a += ((int32_t)xr[t] - (int32_t)zx) * (int32_t)wr[t];
            acc[i * n + j] = a;
        }
    }
}

void qf_gemm_s8s8s32_ref(const int8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            const int8_t *xr = x + i * k, *wr = w + j * k;
            int32_t a = 0;
            for (int64_t t = 0; t < k; t++) a += (int32_t)xr[t] * (int32_t)wr[t];
            acc[i * n + j] = a;
        }
    }
}

/* Saturating round-half-to-even into [0, 255]; NaN maps to `nan_value`. */
static uint8_t round_sat_u8(float v, uint8_t nan_value)
{
    if (v != v) return nan_value;
    float r = rintf(v); /* default rounding mode: half to even */
    if (r < 0.0f) return 0;
    if (r > 255.0f) return 255;
    return (uint8_t)r;
}

void qf_dynamic_quantize_u8_ref(const float *x, size_t n, uint8_t *q, float *scale, uint8_t *zero_point)
{
    float lo = 0.0f, hi = 0.0f; /* the range always includes 0 */
    for (size_t i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i]; /* NaN compares false: ignored */
    }
    /* ONNX Runtime (core/util/qmath.h GetQuantizationParameter): scale 1 when max == min. The ONNX
     * reference implementation uses 1/255 there; with every value 0 both give q = z = 0. */
    float s = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    float zf = 0.0f - lo / s;
    if (zf < 0.0f) zf = 0.0f;
    if (zf > 255.0f) zf = 255.0f;
    uint8_t z = round_sat_u8(zf, 0);
    for (size_t i = 0; i < n; i++) {
        float v = x[i] / s;
        if (v != v) {
            q[i] = z;
            continue;
        }
        float r = rintf(v) + (float)z; /* integer-valued: adding z is exact below 2^24 */
        q[i] = r < 0.0f ? 0 : r > 255.0f ? 255 : (uint8_t)r;
    }
    *scale = s;
    *zero_point = z;
}
