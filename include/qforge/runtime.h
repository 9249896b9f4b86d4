/*
 * qforge runtime: the bundled encoder (FP32, dynamic int8 with ONNX Runtime semantics, calibrated
 * static int8) over a mapped model (model.h), its GEMMs on oneDNN, AVX-512 / AMX and the scalar
 * `_ref` kernels they are checked against. Used by calibrate (activations), verify (reference vs
 * artifact) and `qforge run`.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error;
 * opaque types have one create/destroy pair and destroy accepts NULL; returned pointers are
 * borrowed unless the comment says "owned".
 */
#ifndef QFORGE_RUNTIME_H
#define QFORGE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"
#include "qforge/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================================
 * Encoder (runtime/encoder.c; kernels in runtime/kernels_ref.c and runtime/kernels_dnnl.c)
 * =========================================================================================== */

typedef enum qf_encoder_mode {
    QF_ENCODER_MODE_FP32 = 0,
    /* int8 weights per output channel (from the model, or quantized at creation when
     * quantize_weights is set); activations quantized at run time exactly like ONNX Runtime's
     * DynamicQuantizeLinear -> MatMulInteger -> scale. A static int8 mode (calibrated activation
     * scales) will join here. */
    QF_ENCODER_MODE_DYNAMIC_INT8,
    /* Calibrated static int8 (what a QDQ graph means): a projection whose weight is int8 and whose
     * model holds "<stem>.input::scale" (f32, 1 element) quantizes its input with that fixed scale,
     * q = saturate(round_half_even(x * smooth / s)) in [-128, 127] ("<stem>.input::smooth", [k],
     * optional, is the SmoothQuant multiplier, 1 when absent), multiplies int8 x int8 with int32
     * accumulation, and dequantizes acc * s * s_w[channel] + bias. Other int8 weights (no input
     * scale) are dequantized and run in FP32; float weights stay FP32. */
    QF_ENCODER_MODE_STATIC_INT8,
    QF_ENCODER_MODE_COUNT_
} qf_encoder_mode;

/* The activations that static int8 quantizes: the inputs of the six projections of a layer.
 * Q, K and V read the same tensor, so they share one site (and one calibrated scale). */
typedef enum qf_encoder_site {
    QF_ENCODER_SITE_QKV = 0,  /* input of attn.q, attn.k, attn.v: the previous LayerNorm's output */
    QF_ENCODER_SITE_ATTN_OUT, /* input of attn.out: the attention context */
    QF_ENCODER_SITE_FFN_UP,   /* input of ffn.up: the attention LayerNorm's output */
    QF_ENCODER_SITE_FFN_DOWN, /* input of ffn.down: the activation (GELU) output */
    QF_ENCODER_SITE_COUNT_
} qf_encoder_site;

/* "attn.qkv", "attn.out", "ffn.up", "ffn.down"; "?" outside the enum. Static storage. */
const char *qf_encoder_site_name(qf_encoder_site s);

/* Called with the FP32 input x [rows, cols] (row-major, the real tokens of one sequence) of every
 * site of every layer, in execution order, before that input is quantized. `layer` is the index of
 * the weights the layer runs (qf_arch_layer_weights): layers sharing weights (ALBERT) report the
 * same index, so a calibration sees every use of the weights it calibrates. x is borrowed for the
 * call only. Runs on the thread that called qf_encoder_run. */
typedef void (*qf_encoder_observer)(void *ctx, int64_t layer, qf_encoder_site site, const float *x, int64_t rows,
                                    int64_t cols);

typedef struct qf_encoder_params {
    int threads;             /* OpenMP threads for one run; 0: omp_get_max_threads() */
    qf_encoder_mode mode;
    bool reference_kernels;  /* scalar _ref kernels instead of oneDNN for the whole encoder */
    int64_t max_batch;       /* sequences per run (workspace sized for it); default 32 */
    int64_t max_length;      /* padded length per run; default 512, capped by the position table */
    bool keep_layer_outputs; /* also return every layer's hidden state */
    /* DYNAMIC_INT8 only: quantize float linear weights at creation (per output channel, with
     * qf_quantize_row_sym_i8_ref). Without it, float weights of a model stay FP32. */
    bool quantize_weights;
    /* Optional tap on the projection inputs (calibration); NULL costs one branch per site. */
    qf_encoder_observer observe;
    void *observe_ctx;
    /* Leave out the sentence-transformers Dense modules the model records (pipeline.dense): the
     * embedding is then the plain pooling (a --pooling override). Default false: qf_embedding_pool
     * runs them after the pooling. */
    bool no_sentence_dense;
} qf_encoder_params;

qf_encoder_params qf_encoder_params_default(void);

typedef struct qf_encoder qf_encoder;
/* The Dense modules of a sentence-transformers pipeline, as an encoder holds them (runtime/). */
typedef struct qf_sentence_dense qf_sentence_dense;

/*
 * Input: `batch` sequences padded to `length`. input_ids [batch, length] (required);
 * attention_mask [batch, length] (NULL: all ones; a token takes part iff its mask is non-zero);
 * token_type_ids [batch, length] (NULL: zeros). All borrowed for the call only.
 */
typedef struct qf_encoder_batch {
    int64_t batch;
    int64_t length;
    const int32_t *input_ids;
    const int32_t *attention_mask;
    const int32_t *token_type_ids;
} qf_encoder_batch;

/*
 * Output of one run. Every pointer is BORROWED from the encoder: valid until the next
 * qf_encoder_run or qf_encoder_destroy. Positions whose mask is 0 hold zeros in the hidden states.
 */
typedef struct qf_encoder_output {
    int64_t batch, length, hidden_size, num_labels, num_layer_outputs;
    const float *logits;       /* [batch, num_labels]: sequence classification only, else NULL */
    const float *last_hidden;  /* [batch, length, hidden_size] */
    const float *pooled;       /* [batch, hidden_size]: mask-weighted mean of last_hidden */
    /* [num_layer_outputs = num_layers + 1, batch, length, hidden_size]: [0] is the embeddings
     * output, [i] layer i's output; NULL unless keep_layer_outputs. */
    const float *layer_hidden;
    qf_arch_head head;         /* which head made the logits (model.h) */
    /* [batch, length, num_labels] at the padded positions (0 at padding): token classification
     * (one logit per label) and question answering (num_labels 2: start, end); else NULL */
    const float *token_logits;
    /* the size of a sentence embedding (qf_embedding_pool): hidden_size, or the last Dense
     * module's out_features when the encoder runs the model's Dense modules (sentence_dense) */
    int64_t embedding_size;
    const qf_sentence_dense *sentence_dense; /* NULL when none */
} qf_encoder_output;

/*
 * Builds an encoder over `m` (retained; released by qf_encoder_destroy), which must have been
 * mapped once after reading (qf_arch_map; qf_arch_of's INVALID_ARGUMENT otherwise): validates
 * every shape, prepares the weights (oneDNN: packed once into its preferred layout),
 * and sizes one workspace for max_batch x max_length, so a run allocates nothing more (oneDNN
 * primitives are created once per sequence length and cached). `params` may be NULL (defaults).
 */
qf_status qf_encoder_create(qf_model *m, const qf_encoder_params *params, qf_encoder **out, qf_error *err);

/*
 * Runs one batch. Each sequence is computed on its own real (mask != 0) tokens only, as ONNX
 * Runtime would see it with batch 1 and no padding: in DYNAMIC_INT8 the activation range of each
 * projection is that of one sequence's [tokens, hidden] matrix, so results never depend on how
 * the batch was composed. Fails with QF_STATUS_INVALID_ARGUMENT (object "input_ids[b][t]") on ids,
 * type ids or positions outside their tables, a batch larger than the workspace, or a sequence
 * without tokens. Not thread-safe on one encoder.
 */
qf_status qf_encoder_run(qf_encoder *e, const qf_encoder_batch *in, qf_encoder_output *out, qf_error *err);

/* The size of the sentence embeddings qf_embedding_pool makes from this encoder's output
 * (qf_encoder_output.embedding_size). */
int64_t qf_encoder_embedding_size(const qf_encoder *e);

/* The architecture the encoder runs (borrowed). */
const qf_arch *qf_encoder_arch(const qf_encoder *e);

void qf_encoder_destroy(qf_encoder *e); /* accepts NULL */

/* =============================================================================================
 * Sentence embeddings: the pooling and normalization sentence-transformers applies to the
 * encoder's last hidden state (sentence_transformers.models.Pooling / Normalize)
 * =========================================================================================== */

typedef enum qf_pooling {
    QF_POOLING_MEAN = 0,      /* mean over the real tokens (the mask) */
    QF_POOLING_CLS,           /* the first token */
    QF_POOLING_MAX,           /* per dimension, the largest value over the real tokens */
    QF_POOLING_MEAN_SQRT_LEN, /* sum over the real tokens / sqrt(their count) */
    QF_POOLING_WEIGHTED_MEAN, /* real token i (from 1) weighs i: sum(i * h_i) / sum(i) */
    QF_POOLING_LAST_TOKEN,    /* the last real token */
    QF_POOLING_COUNT_
} qf_pooling;

/* "mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken" (sentence-transformers'
 * pooling_mode names); "?" outside. Static storage. */
const char *qf_pooling_name(qf_pooling p);
bool qf_pooling_from_name(const char *name, qf_pooling *out); /* false for an unknown name */

/*
 * The embedding of row b of a batch the encoder ran (`in`, `o` from qf_encoder_run) into out
 * [o->embedding_size]: the pooling over its real tokens (attention_mask != 0; all tokens without a
 * mask) from position `skip` on (cls: the first of them, as sentence-transformers' argmax of the
 * mask). `skip` is the tokens at the start of every row that the encoder attends to but the pooling
 * leaves out: a sentence-transformers prompt under include_prompt false (qf_dataset_pool_skip); 0:
 * none. Then the model's sentence-transformers Dense modules when the encoder runs them
 * (o->sentence_dense), then, when `normalize`, divided by max(L2 norm, 1e-12) as
 * torch.nn.functional.normalize. QF_POOLING_MEAN gives o->pooled's row (the same arithmetic).
 * Uses the encoder's scratch: not concurrently with another call on the same encoder.
 */
void qf_embedding_pool(const qf_encoder_batch *in, const qf_encoder_output *o, int64_t b, int64_t skip,
                       qf_pooling pooling, bool normalize, float *out);

/* "FP32", "dynamic int8", "static int8". Static storage. */
const char *qf_encoder_mode_name(qf_encoder_mode mode);

/* Scalar reference of ONNX DynamicQuantizeLinear, as ONNX Runtime computes it: range widened to
 * include 0, s = (max - min) / 255 (s = 1 when max == min), z = round_half_even(clamp(-min / s,
 * 0, 255)), q = clamp(round_half_even(x / s) + z, 0, 255). NaNs are ignored in the range and map
 * to z. n may be 0 (s = 1, z = 0). */
void qf_dynamic_quantize_u8_ref(const float *x, size_t n, uint8_t *q, float *scale, uint8_t *zero_point);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_RUNTIME_H */
