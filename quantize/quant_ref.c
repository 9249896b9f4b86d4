/*
 * quantize/quant_ref.c — the scalar reference kernels that ARE the specification of qforge's
 * weight quantization (ONNX QuantizeLinear semantics, symmetric int8, range [-127, 127]).
 * Faster paths elsewhere are tested against these bit for bit.
 */
#include <math.h>

#include "qforge/quantize.h"

float qf_quant_scale_sym_i8_ref(const float *x, size_t n)
{
    float max_abs = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > max_abs) max_abs = a; /* NaN compares false and is ignored */
    }
    if (!(max_abs > 0.0f) || !isfinite(max_abs)) return 1.0f;
    return max_abs / 127.0f;
}

void qf_quantize_row_sym_i8_ref(const float *x, size_t n, float scale, int8_t *q)
{
    for (size_t i = 0; i < n; i++) {
        /* rint rounds half to even in the default rounding mode; NaN maps to 0 */
        float r = rintf(x[i] / scale);
        if (!(r == r)) r = 0.0f;
        if (r > 127.0f) r = 127.0f;
        if (r < -127.0f) r = -127.0f;
        q[i] = (int8_t)r;
    }
}

void qf_quantize_row_s8_ref(const float *x, size_t n, float scale, int8_t *q)
{
    for (size_t i = 0; i < n; i++) {
        float r = rintf(x[i] / scale);
        if (!(r == r)) r = 0.0f;
        if (r > 127.0f) r = 127.0f;
        if (r < -128.0f) r = -128.0f;
        q[i] = (int8_t)r;
    }
}

void qf_dequantize_row_sym_i8_ref(const int8_t *q, size_t n, float scale, float *x)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)q[i] * scale;
}
