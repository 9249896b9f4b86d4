/*
 * qforge writers: canonical model -> output files. Every writer goes through qf_output (core.h):
 * temporary file, fsync, rename — an output path never holds a partial file.
 */
#ifndef QFORGE_WRITERS_H
#define QFORGE_WRITERS_H

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qf_qfile_write_params {
    /* Extra provenance recorded in metadata (may be NULL): e.g. the command line. */
    const char *command_line;
} qf_qfile_write_params;

qf_qfile_write_params qf_qfile_write_params_default(void);

/*
 * Writes `m` as a .qf file (docs/format.md): header, JSON metadata + tensor directory, tensor data
 * aligned to 64 bytes with a CRC-32 each. Tensors whose data pointers and sizes are identical
 * (shared storage) are written once and share one extent.
 */
qf_status qf_qfile_write(const qf_model *m, const char *path, const qf_qfile_write_params *params,
                         qf_error *err);

typedef struct qf_safetensors_write_params {
    /* dtype of every floating-point tensor and of every dequantized one: f32 (default), f16, bf16 */
    qf_dtype float_dtype;
    /* write tensors under their source names (the names Hugging Face loads; default true), else
     * under their canonical names */
    bool source_names;
} qf_safetensors_write_params;

qf_safetensors_write_params qf_safetensors_write_params_default(void);

/*
 * Writes `m` as safetensors (writers/safetensors): floating-point tensors in float_dtype, quantized
 * tensors dequantized ((q - z) * s, per tensor or per channel) into float_dtype with their scale /
 * zero-point tensors left out, integer and bool tensors as they are. The header is sorted (element
 * size, largest first, then name) and padded with spaces so that the data starts 8-byte aligned
 * and every tensor is aligned to its element size; the model's metadata goes to "__metadata__"
 * with "format": "pt". Fails with QF_STATUS_DUPLICATE when two tensors would get the same name.
 */
qf_status qf_safetensors_write(const qf_model *m, const char *path, const qf_safetensors_write_params *params,
                               qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_WRITERS_H */
