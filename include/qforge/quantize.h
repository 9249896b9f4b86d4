/*
 * qforge quantize: scale / zero-point math and weight quantization. The scalar `_ref` functions are
 * the specification (ONNX QuantizeLinear semantics: q = saturate(round_half_to_even(x / s) + z));
 * faster paths are tested against them bit for bit.
 */
#ifndef QFORGE_QUANTIZE_H
#define QFORGE_QUANTIZE_H

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Symmetric int8 scale of a row: max|x| / 127; a row of zeros (or with max|x| == 0) gets 1. */
float qf_quant_scale_sym_i8_ref(const float *x, size_t n);

/* q[i] = clamp(round_half_to_even(x[i] / scale), -127, 127). */
void qf_quantize_row_sym_i8_ref(const float *x, size_t n, float scale, int8_t *q);

/* Static activations (ONNX QuantizeLinear, int8, zero point 0):
 * q[i] = saturate(round_half_to_even(x[i] / scale)) in [-128, 127]; NaN maps to 0. */
void qf_quantize_row_s8_ref(const float *x, size_t n, float scale, int8_t *q);

/* x[i] = q[i] * scale. */
void qf_dequantize_row_sym_i8_ref(const int8_t *q, size_t n, float scale, float *x);

/*
 * The kernels the model passes use: the same results as the _ref functions, bit for bit, computed
 * with AVX-512 when the CPU has it (qf_quantize_simd_available), else by the _ref functions.
 */
float qf_quant_scale_sym_i8(const float *x, size_t n);
void qf_quantize_row_sym_i8(const float *x, size_t n, float scale, int8_t *q);
bool qf_quantize_simd_available(void);

typedef struct qf_quantize_params {
    bool per_tensor;          /* one scale per weight instead of one per output channel (row) */
    bool quantize_word_embeddings; /* per-row int8 word embeddings (default true) */
    bool quantize_other_embeddings; /* position / token-type embeddings too (default false) */
    uint64_t min_elements;    /* 2-D weights smaller than this stay FP32 (default 1024) */
    int threads;              /* 0: all cores */
    /* Called after each tensor (may be NULL): source bytes processed so far and in all. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} qf_quantize_params;

qf_quantize_params qf_quantize_params_default(void);

/*
 * Dynamic int8 weights: every 2-D floating-point ".weight" of a linear layer (and the word
 * embedding when enabled) becomes int8 [out, in] with per-row symmetric scales stored as an f32
 * tensor "<name>::scale" ([out], or [1] per tensor). Everything else is carried over as it is
 * (f16/bf16/f64 weights are converted to f32 before quantization). The result keeps `src` alive
 * (unquantized tensors borrow its data). Records "quant.*" metadata.
 */
qf_status qf_model_quantize_dynamic(qf_model *src, const qf_quantize_params *params, qf_model **out,
                                    qf_error *err);

/*
 * The same quantization, made lazily: *out (owned; qf_model_destroy) has the same tensors and
 * metadata as qf_model_quantize_dynamic's result, but its int8 weights and their scales are
 * produced tensors (core.h): nothing is quantized here; each weight is computed into the output
 * buffer of whoever pulls it, when it is pulled, and the pages of the input it came from are
 * released, so writing the model keeps memory near the largest single tensor whatever the model
 * size. Written as a .qf file it gives the same bytes as qf_model_quantize_dynamic's result;
 * consumers that need every tensor in memory, the passes of this header among them, refuse it
 * (INVALID_ARGUMENT, qf_model_check_in_memory). *out keeps `src` alive. `params` (may be NULL:
 * defaults) is copied; its progress callback runs while the model is pulled, with progress_ctx,
 * which must stay valid until then.
 */
qf_status qf_model_quantize_dynamic_lazy(qf_model *src, const qf_quantize_params *params, qf_model **out,
                                         qf_error *err);

/* Converts every floating-point tensor to `dtype` (F32, F16 or BF16); others are carried over. */
qf_status qf_model_convert_dtype(qf_model *src, qf_dtype dtype, qf_model **out, qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_QUANTIZE_H */
