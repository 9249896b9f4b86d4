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
 * (shared storage) are written once and share one extent. Produced tensors (core.h; a model from
 * qf_model_quantize_dynamic_lazy) get an extent each and their bytes are pulled from the model's
 * producer, in model order, into one reused buffer just before they are written: memory stays near
 * the largest produced tensor. The file is byte-identical to that of a model holding the produced
 * bytes in distinct buffers.
 */
qf_status qf_qfile_write(const qf_model *m, const char *path, const qf_qfile_write_params *params,
                         qf_error *err);

/* ---------------------------------------------------------------------------------------------
 * ONNX (writers/onnx): the source ONNX graph rewritten around the int8 weights of a quantized model
 * (qf_model_quantize_dynamic of a model read from that same file, so each quantized tensor's
 * source_name is the initializer it replaces). Everything the rewrite does not touch is carried
 * over as it is: node and value names, opsets, metadata_props (qforge.* provenance entries are
 * added); external data of untouched initializers is inlined. Names the rewrite generates are made
 * unique against every name of the source graph; a replaced weight keeps its FP32 initializer while
 * anything else still reads it. The source graph is checked first (FORMAT naming the value) and the
 * written graph before the atomic rename (SSA, inputs defined in order, unique node names, no unused
 * initializer: INTERNAL naming the value, nothing written); the output passes onnx.checker.
 * A model with produced tensors (core.h) is refused: INVALID_ARGUMENT naming the first one.
 * ------------------------------------------------------------------------------------------- */
typedef struct qf_onnx_write_params {
    const char *command_line; /* recorded as metadata_props "qforge.command" when non-NULL */
} qf_onnx_write_params;

qf_onnx_write_params qf_onnx_write_params_default(void);

/*
 * Dynamic form, as ONNX Runtime's quantize_dynamic writes it (and fuses into its int8 kernels):
 * for every MatMul (and Gemm with alpha = beta = 1, transA = 0) whose weight is quantized in `q`,
 *   X -> DynamicQuantizeLinear (X_quantized, X_scale, X_zero_point; one per activation)
 *     -> MatMulInteger(X_quantized, W_quantized [in, out] int8, X_zero_point, W_zero_point [out])
 *     -> Cast(float) -> Mul(X_scale * W_scale [out]) -> the original output (+ Gemm's bias by Add);
 * a Gather of a per-row int8 word embedding becomes Gather(int8) -> Cast -> Mul(Gather(scale)).
 * Requires opset >= 11. The result computes what qforge's DYNAMIC_INT8 encoder computes.
 */
qf_status qf_onnx_write_dynamic(const char *source_onnx, const qf_model *q, const char *path,
                                const qf_onnx_write_params *params, qf_error *err);

/* One calibrated activation: the projection by canonical slot ("layers.0.attn.q", or its weight's
 * name "layers.0.attn.q.weight") and the int8 symmetric scale of its input activation. */
typedef struct qf_onnx_qdq_activation {
    const char *slot;
    float scale; /* > 0, finite */
} qf_onnx_qdq_activation;

typedef struct qf_onnx_static_params {
    const qf_onnx_qdq_activation *activations; /* borrowed for the call */
    size_t count;
    const char *command_line; /* as in qf_onnx_write_params */
} qf_onnx_static_params;

qf_onnx_static_params qf_onnx_static_params_default(void);

/*
 * Static QDQ form (what ONNX Runtime and TensorRT fuse into int8 kernels): for each listed slot,
 * the MatMul / Gemm input activation X gets QuantizeLinear(X, X_scale, X_zero_point = int8 0) ->
 * DequantizeLinear (shared when several projections read the same X; they must agree on the
 * scale), and the weight becomes W_quantized (int8) + W_scale + W_zero_point -> DequantizeLinear
 * per channel: axis 1 for MatMul's [in, out] weights (and Gemm transB = 0), axis 0 for Gemm
 * transB = 1. Other projections keep FP32 weights. Requires opset >= 13 (per-axis Dequantize).
 * Errors: NOT_FOUND for a slot no quantized weight or MatMul / Gemm matches; INVALID_ARGUMENT for
 * a scale that is not finite and > 0 or two scales for one activation.
 */
qf_status qf_onnx_write_static(const char *source_onnx, const qf_model *q, const char *path,
                               const qf_onnx_static_params *params, qf_error *err);

/* ---------------------------------------------------------------------------------------------
 * ONNX export (writers/onnx/onnx_export.c): the encoder graph written from scratch from a model of
 * any source format, no source ONNX needed. The model must carry a Hugging Face config.json of a
 * family of the family table (model.h) and be mapped to canonical slots (qf_arch_map, once after
 * reading); the exporter reads it and never changes it.
 *
 * The graph (opset 17, IR 8) has dynamic "batch" and "sequence" axes; inputs input_ids and
 * attention_mask (int64 [batch, sequence]) and token_type_ids where the family has more than one
 * token type (BERT, ELECTRA; RoBERTa's single type row is added to every token); outputs logits
 * [batch, num_labels] (when the model has a classification head) and last_hidden_state
 * [batch, sequence, hidden]. It computes what transformers' eager modules compute: embeddings
 * (word + type + position, RoBERTa positions from cumsum of non-pad ids), LayerNormalization,
 * ELECTRA's projection, per layer Q/K/V as MatMul + Add with [in, out] weight initializers, heads
 * by Reshape/Transpose, softmax(QKᵀ / sqrt(d) + (1 - mask) * float_min), GELU in its Erf form
 * (gelu) or tanh form (gelu_new, gelu_pytorch_tanh), or Relu, and the family's head on token 0.
 * Standard ops only, laid out as ONNX Runtime's fusions expect them: its session optimizer fuses
 * the GELU subgraphs (Gelu, BiasGelu, FastGelu) and the scaled QKᵀ (FusedMatMul) — its built-in
 * Attention and SkipLayerNormalization fusions match only opset <= 11 attention subgraphs and fixed
 * sequence lengths, so not here — and its offline transformers optimizer
 * (onnxruntime.transformers.optimizer, model_type bert) fuses every layer's attention (Attention),
 * Add + LayerNormalization (SkipLayerNormalization) and bias + GELU (BiasGelu).
 * ------------------------------------------------------------------------------------------- */
typedef enum qf_onnx_export_mode {
    /* every weight as f32 (f16 / bf16 / f64 converted, int8 dequantized) */
    QF_ONNX_EXPORT_MODE_FP32 = 0,
    /* int8 weights of the model (qf_model_quantize_dynamic) in ONNX Runtime's quantize_dynamic form,
     * as qf_onnx_write_dynamic writes it: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul ->
     * Add(bias); an int8 word embedding is gathered as int8 rows and scaled. Float weights stay
     * MatMul. INVALID_ARGUMENT when no weight is int8. */
    QF_ONNX_EXPORT_MODE_DYNAMIC,
    /* static QDQ (what ONNX Runtime and TensorRT fuse into int8 kernels), from a model whose
     * projections carry int8 weights per output channel and a calibrated int8 symmetric input
     * scale "<stem>.input::scale" (one f32; "layers.0.attn.q.input::scale"), optionally a
     * SmoothQuant vector "<stem>.input::smooth" ([in] f32) the input is multiplied by first:
     * x [-> Mul(smooth)] -> QuantizeLinear(scale, int8 0) -> DequantizeLinear, a pair per
     * projection (so that ONNX Runtime fuses each into an int8 MatMul; projections reading the
     * same input must agree on its scale), W int8 [in, out] -> DequantizeLinear(axis 1) -> MatMul
     * -> Add(bias). int8 weights without an input scale are
     * dequantized to FP32; an int8 word embedding is gathered as int8 rows and scaled.
     * INVALID_ARGUMENT when no projection has both, or for a scale that is not one finite
     * f32 > 0 (object: the scale tensor). */
    QF_ONNX_EXPORT_MODE_STATIC,
    QF_ONNX_EXPORT_MODE_COUNT_
} qf_onnx_export_mode;

typedef struct qf_onnx_export_params {
    qf_onnx_export_mode mode; /* default FP32 */
    bool last_hidden_state;   /* also output last_hidden_state (default true; always without a head) */
    const char *command_line; /* recorded as metadata_props "qforge.command" when non-NULL */
} qf_onnx_export_params;

qf_onnx_export_params qf_onnx_export_params_default(void);

/*
 * Writes the encoder of `m` as an ONNX file at `path` (atomically, through qf_output). Records
 * metadata_props qforge.version, qforge.export (the mode), qforge.family, qforge.source_sha256
 * (when the model has one) and qforge.command. `m` is read only (mapped before, see
 * above); initializers that need no conversion are packed straight from its tensors. Errors: those
 * of qf_arch_of (INVALID_ARGUMENT for a model not mapped, UNSUPPORTED family, NOT_FOUND / SHAPE
 * tensors); UNSUPPORTED for a weight of a
 * dtype that has no float form or an int8 weight without a usable scale; SHAPE for a smoothing
 * vector of the wrong width; LIMIT past protobuf's
 * 2 GiB (QF_ONNX_MAX_PROTO); INVALID_ARGUMENT naming the first produced tensor (core.h) for a
 * model that has some, before anything else. `params` may be NULL (defaults).
 */
qf_status qf_onnx_export(const qf_model *m, const char *path, const qf_onnx_export_params *params, qf_error *err);

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
 * with "format": "pt". Fails with QF_STATUS_DUPLICATE when two tensors would get the same name,
 * and with QF_STATUS_INVALID_ARGUMENT naming the first produced tensor (core.h) for a model that
 * has some (the tensors are written sorted, not in the model order a producer follows).
 */
qf_status qf_safetensors_write(const qf_model *m, const char *path, const qf_safetensors_write_params *params,
                               qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_WRITERS_H */
