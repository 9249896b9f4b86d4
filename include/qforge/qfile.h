/*
 * The .qf container layout (docs/format.md is the normative text): constants shared by the writer
 * (writers/qf) and the reader (readers/qf) so neither depends on the other, little-endian field
 * access that works on any host, and the quantization-consistency rule both apply to a model.
 *
 *   0   magic[8]        "\x89QFORGE\n"
 *   8   u32 version_major, 12 u32 version_minor
 *   16  u32 byte_order  0x01020304 (bytes 04 03 02 01)
 *   20  u32 header_crc32 (CRC-32 of the 64 header bytes with this field zero)
 *   24  u64 json_offset (64)   32 u64 json_size
 *   40  u64 data_offset (align64(64 + json_size))   48 u64 data_size (file size - data_offset)
 *   56  u32 json_crc32   60 u8 reserved[4] (zero)
 */
#ifndef QFORGE_QFILE_H
#define QFORGE_QFILE_H

#include <string.h>

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QF_QFILE_MAGIC "\x89QFORGE\n"
#define QF_QFILE_MAGIC_SIZE 8
#define QF_QFILE_VERSION_MAJOR 1u
#define QF_QFILE_VERSION_MINOR 0u
#define QF_QFILE_BYTE_ORDER 0x01020304u
#define QF_QFILE_HEADER_SIZE 64u

/* Byte offsets of the header fields. */
#define QF_QFILE_OFF_MAGIC 0
#define QF_QFILE_OFF_VERSION_MAJOR 8
#define QF_QFILE_OFF_VERSION_MINOR 12
#define QF_QFILE_OFF_BYTE_ORDER 16
#define QF_QFILE_OFF_HEADER_CRC 20
#define QF_QFILE_OFF_JSON_OFFSET 24
#define QF_QFILE_OFF_JSON_SIZE 32
#define QF_QFILE_OFF_DATA_OFFSET 40
#define QF_QFILE_OFF_DATA_SIZE 48
#define QF_QFILE_OFF_JSON_CRC 56
#define QF_QFILE_OFF_RESERVED 60
#define QF_QFILE_RESERVED_SIZE 4

/* Every integer in the JSON block lies in [0, 2^53 - 1]: exact in any JSON implementation. */
#define QF_QFILE_MAX_JSON_INT ((int64_t)9007199254740991)

static inline uint32_t qf_qfile_load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t qf_qfile_load_u64(const uint8_t *p)
{
    return (uint64_t)qf_qfile_load_u32(p) | (uint64_t)qf_qfile_load_u32(p + 4) << 32;
}
static inline void qf_qfile_store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void qf_qfile_store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC-32 of a 64-byte header with its header_crc32 field taken as zero. */
static inline uint32_t qf_qfile_header_crc(const uint8_t header[QF_QFILE_HEADER_SIZE])
{
    static const uint8_t zero[4];
    uint32_t crc = qf_crc32(0, header, QF_QFILE_OFF_HEADER_CRC);
    crc = qf_crc32(crc, zero, 4);
    return qf_crc32(crc, header + QF_QFILE_OFF_HEADER_CRC + 4,
                    QF_QFILE_HEADER_SIZE - QF_QFILE_OFF_HEADER_CRC - 4);
}

/*
 * The quantization rule of a .qf tensor `t` of model `m` (docs/format.md, "Quantization"):
 * symmetric schemes quantize an i8 tensor and name no zero point; asymmetric_per_tensor an i8 or u8
 * tensor with a zero point of the same dtype and one element; the scale is an unquantized f32
 * tensor with shape[axis] elements (per channel, 0 <= axis < rank) or 1 element (per tensor).
 * The writer refuses a model that breaks it; the reader refuses a file that does. Errors name
 * `file` and `offset` (absolute; -1 when not about a file).
 */
static inline qf_status qf_qfile_check_quant(const qf_model *m, const qf_tensor *t, const char *file,
                                             int64_t offset, qf_error *err)
{
    const qf_quant *q = &t->quant;
    if (q->scheme == QF_QUANT_NONE) return QF_STATUS_OK;
    if ((unsigned)q->scheme >= (unsigned)QF_QUANT_SCHEME_COUNT_)
        return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, offset, t->name, "tensor '%s': invalid quantization scheme",
                            t->name);
    bool asym = q->scheme == QF_QUANT_ASYMMETRIC_PER_TENSOR;
    if (t->dtype != QF_DTYPE_I8 && !(asym && t->dtype == QF_DTYPE_U8)) {
        qf_error_set(err, QF_STATUS_SHAPE, file, NULL, offset, t->name, "tensor '%s': %s data must be %s", t->name,
                     qf_quant_scheme_name(q->scheme), asym ? "i8 or u8" : "i8");
        qf_error_expected(err, "%s", asym ? "i8 or u8" : "i8");
        qf_error_found(err, "%s", qf_dtype_name(t->dtype));
        return QF_STATUS_SHAPE;
    }
    uint64_t channels = 1;
    if (q->scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL) {
        if (q->axis < 0 || q->axis >= t->rank) {
            qf_error_set(err, QF_STATUS_FORMAT, file, NULL, offset, t->name, "tensor '%s': quantization axis out of range",
                         t->name);
            qf_error_expected(err, "0 <= axis < %d", (int)t->rank);
            qf_error_found(err, "%d", (int)q->axis);
            return QF_STATUS_FORMAT;
        }
        channels = (uint64_t)t->shape[q->axis];
    } else if (q->axis != 0) {
        qf_error_set(err, QF_STATUS_FORMAT, file, NULL, offset, t->name, "tensor '%s': per-tensor scheme with axis %d",
                     t->name, (int)q->axis);
        return QF_STATUS_FORMAT;
    }
    const qf_tensor *s = q->scale_name ? qf_model_find(m, q->scale_name, NULL) : NULL;
    if (!s) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, file, NULL, offset, t->name, "tensor '%s': scale tensor '%s' not found",
                     t->name, q->scale_name ? q->scale_name : "");
        return QF_STATUS_NOT_FOUND;
    }
    uint64_t numel = 0;
    qf_shape_numel(s->rank, s->shape, &numel);
    if (s->dtype != QF_DTYPE_F32 || s->quant.scheme != QF_QUANT_NONE || numel != channels) {
        qf_error_set(err, QF_STATUS_SHAPE, file, NULL, offset, t->name,
                     "tensor '%s': scale '%s' must be an unquantized f32 tensor of %llu element(s)", t->name, s->name,
                     (unsigned long long)channels);
        qf_error_expected(err, "f32 x %llu", (unsigned long long)channels);
        qf_error_found(err, "%s x %llu%s", qf_dtype_name(s->dtype), (unsigned long long)numel,
                       s->quant.scheme != QF_QUANT_NONE ? " (quantized)" : "");
        return QF_STATUS_SHAPE;
    }
    if (!asym) {
        if (q->zero_point_name)
            return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, offset, t->name,
                                "tensor '%s': symmetric scheme names a zero point", t->name);
        return QF_STATUS_OK;
    }
    const qf_tensor *z = q->zero_point_name ? qf_model_find(m, q->zero_point_name, NULL) : NULL;
    if (!z) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, file, NULL, offset, t->name,
                     "tensor '%s': zero-point tensor '%s' not found", t->name,
                     q->zero_point_name ? q->zero_point_name : "");
        return QF_STATUS_NOT_FOUND;
    }
    numel = 0;
    qf_shape_numel(z->rank, z->shape, &numel);
    if (z->dtype != t->dtype || z->quant.scheme != QF_QUANT_NONE || numel != 1) {
        qf_error_set(err, QF_STATUS_SHAPE, file, NULL, offset, t->name,
                     "tensor '%s': zero point '%s' must be an unquantized %s tensor of 1 element", t->name, z->name,
                     qf_dtype_name(t->dtype));
        qf_error_expected(err, "%s x 1", qf_dtype_name(t->dtype));
        qf_error_found(err, "%s x %llu", qf_dtype_name(z->dtype), (unsigned long long)numel);
        return QF_STATUS_SHAPE;
    }
    return QF_STATUS_OK;
}

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_QFILE_H */
