/*
 * core/dtype.c — the dtype table (sizes, names), shape arithmetic, and the scalar half-precision
 * conversions (round to nearest even) that convert/quantize and the readers share.
 */
#include <string.h>

#include "qforge/core.h"

static const size_t dtype_sizes[] = {
#define QF_DTYPE_SIZE_(name, bytes, text) bytes,
    QF_DTYPE_TABLE(QF_DTYPE_SIZE_)
#undef QF_DTYPE_SIZE_
};

static const char *const dtype_names[] = {
#define QF_DTYPE_TEXT_(name, bytes, text) text,
    QF_DTYPE_TABLE(QF_DTYPE_TEXT_)
#undef QF_DTYPE_TEXT_
};

size_t qf_dtype_size(qf_dtype t)
{
    if ((unsigned)t >= (unsigned)QF_DTYPE_COUNT_) return 0;
    return dtype_sizes[t];
}

const char *qf_dtype_name(qf_dtype t)
{
    if ((unsigned)t >= (unsigned)QF_DTYPE_COUNT_) return "?";
    return dtype_names[t];
}

bool qf_dtype_from_name(const char *name, qf_dtype *out)
{
    if (!name) return false;
    for (int i = 0; i < QF_DTYPE_COUNT_; i++) {
        if (strcmp(name, dtype_names[i]) == 0) {
            *out = (qf_dtype)i;
            return true;
        }
    }
    return false;
}

bool qf_dtype_is_float(qf_dtype t)
{
    return t == QF_DTYPE_F32 || t == QF_DTYPE_F16 || t == QF_DTYPE_BF16 || t == QF_DTYPE_F64;
}

bool qf_shape_numel(int32_t rank, const int64_t *shape, uint64_t *out)
{
    if (rank < 0 || rank > QF_MAX_RANK) return false;
    uint64_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (shape[i] < 0) return false;
        if (!qf_mul_u64(n, (uint64_t)shape[i], &n)) return false;
    }
    *out = n;
    return true;
}

bool qf_shape_nbytes(qf_dtype t, int32_t rank, const int64_t *shape, uint64_t *out)
{
    uint64_t n;
    size_t es = qf_dtype_size(t);
    if (es == 0 || !qf_shape_numel(rank, shape, &n)) return false;
    return qf_mul_u64(n, es, out);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float qf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t qf_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (e <= 0) {
        if (e < -10) return sign; /* underflows to zero even after rounding */
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = 1u << (shift - 1);
        uint32_t rest = man & ((1u << shift) - 1);
        uint32_t r = man >> shift;
        if (rest > half || (rest == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (r & 1u))) r++; /* may carry into exponent: correct */
    return (uint16_t)(sign | r);
}

float qf_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t qf_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return (uint16_t)(u >> 16);
}

static const char *const quant_scheme_names[] = {
    "none", "symmetric_per_tensor", "symmetric_per_channel", "asymmetric_per_tensor",
};

const char *qf_quant_scheme_name(qf_quant_scheme s)
{
    if ((unsigned)s >= (unsigned)QF_QUANT_SCHEME_COUNT_) return "?";
    return quant_scheme_names[s];
}

bool qf_quant_scheme_from_name(const char *name, qf_quant_scheme *out)
{
    if (!name) return false;
    for (int i = 0; i < QF_QUANT_SCHEME_COUNT_; i++) {
        if (strcmp(name, quant_scheme_names[i]) == 0) {
            *out = (qf_quant_scheme)i;
            return true;
        }
    }
    return false;
}
