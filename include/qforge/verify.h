/*
 * qforge verify: what proves how far an int8 artifact is from FP32, and what `qforge verify`,
 * `calibrate` and `run` need around the reference encoder. One section per module:
 *
 *   - Architecture: recognises the encoder family from config.json + tensor names and renames the
 *     source tensors to the encoder's canonical slots (in place, source names kept);
 *   - Encoder: the bundled reference encoder (FP32 and dynamic int8 with ONNX Runtime semantics),
 *     oneDNN GEMMs checked against scalar reference kernels;
 *   - Tokenizers: Hugging Face tokenizer.json (WordPiece, byte-level BPE), identical ids.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error;
 * opaque types have one create/destroy pair and destroy accepts NULL; returned pointers are
 * borrowed unless the comment says "owned".
 */
#ifndef QFORGE_VERIFY_H
#define QFORGE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =============================================================================================
 * Architecture (verify/arch.c)
 * =========================================================================================== */

typedef enum qf_arch_family {
    QF_ARCH_FAMILY_UNKNOWN = 0,
    QF_ARCH_FAMILY_BERT,       /* bert; MiniLM checkpoints are bert */
    QF_ARCH_FAMILY_ROBERTA,    /* roberta, xlm-roberta, camembert */
    QF_ARCH_FAMILY_DISTILBERT,
    QF_ARCH_FAMILY_ELECTRA,
    QF_ARCH_FAMILY_COUNT_
} qf_arch_family;

typedef enum qf_arch_activation {
    QF_ARCH_ACTIVATION_GELU = 0,  /* exact: x/2 (1 + erf(x/sqrt 2)) */
    QF_ARCH_ACTIVATION_GELU_TANH, /* gelu_new, gelu_pytorch_tanh */
    QF_ARCH_ACTIVATION_RELU,
    QF_ARCH_ACTIVATION_COUNT_
} qf_arch_activation;

typedef enum qf_arch_head {
    QF_ARCH_HEAD_NONE = 0,    /* base model: hidden states only */
    QF_ARCH_HEAD_BERT,        /* pooler (dense + tanh on [CLS]) -> classifier */
    QF_ARCH_HEAD_ROBERTA,     /* token 0 -> dense -> tanh -> out_proj */
    QF_ARCH_HEAD_ELECTRA,     /* token 0 -> dense -> gelu -> out_proj */
    QF_ARCH_HEAD_DISTILBERT,  /* token 0 -> pre_classifier -> relu -> classifier */
    QF_ARCH_HEAD_COUNT_
} qf_arch_head;

typedef struct qf_arch {
    qf_arch_family family;
    char model_type[32];          /* config "model_type" as written */
    int64_t hidden_size;          /* hidden_size / dim */
    int64_t num_layers;           /* num_hidden_layers / n_layers */
    int64_t num_heads;            /* num_attention_heads / n_heads */
    int64_t intermediate_size;    /* intermediate_size / hidden_dim */
    int64_t embedding_size;       /* ELECTRA embedding_size; == hidden_size elsewhere */
    int64_t vocab_size;           /* rows of the word embedding */
    int64_t max_positions;        /* rows of the position embedding */
    int64_t type_vocab_size;      /* rows of the token-type embedding; 0 when absent (DistilBERT) */
    int64_t pad_token_id;
    /* RoBERTa family: positions are cumsum(ids != pad) * (ids != pad) + padding_idx, so real tokens
     * start at padding_idx + 1. -1 for the others (position = index). */
    int64_t position_padding_idx;
    int64_t num_labels;           /* rows of head.out.weight; 0 without a head */
    qf_arch_activation activation;
    float layer_norm_eps;         /* DistilBERT: 1e-12 fixed */
    qf_arch_head head;
    bool has_pooler;              /* pooler.weight present (BERT head needs it) */
    bool has_project;             /* ELECTRA embeddings_project (embedding_size != hidden_size) */
    char problem_type[48];        /* config problem_type, "" when absent */
} qf_arch;

const char *qf_arch_family_name(qf_arch_family f);         /* "bert", ...; static storage */
const char *qf_arch_activation_name(qf_arch_activation a); /* "gelu", "gelu_tanh", "relu" */

/*
 * Parses config.json text into hyper-parameters (no tensors needed). model_type must be one of
 * bert, roberta, xlm-roberta, camembert, distilbert, electra (else QF_STATUS_UNSUPPORTED naming it).
 * Sizes that depend on tensors (vocab, num_labels, head) are filled by qf_arch_map.
 */
qf_status qf_arch_from_config(const char *config_json, qf_arch *out, qf_error *err);

/*
 * Recognises the family from the model's config.json (required) and renames every known tensor
 * to its canonical name in place (qf_model_rename_tensor keeps the source name), including the
 * "<name>::scale" companions of quantized weights. Checks every slot's presence, dtype and shape
 * (linear weights [out, in], PyTorch layout) and fails with QF_STATUS_NOT_FOUND / QF_STATUS_SHAPE
 * naming the tensor and the expected vs found shape. Tensors that are not part of the encoder
 * (position_ids buffers, MLM heads) are left untouched and listed in metadata "arch.ignored".
 * Records "arch.family", "arch.layers", ... in metadata. Idempotent: a model whose tensors are
 * already canonical (a .qf written after mapping) maps to the same result.
 * `out` may be NULL.
 *
 * Canonical names: embeddings.{word,position,token_type}.weight, embeddings.norm.{weight,bias},
 * embeddings.project.{weight,bias}, layers.{i}.attn.{q,k,v,out}.{weight,bias},
 * layers.{i}.attn.norm.{weight,bias}, layers.{i}.ffn.{up,down}.{weight,bias},
 * layers.{i}.ffn.norm.{weight,bias}, pooler.{weight,bias}, head.dense.{weight,bias},
 * head.out.{weight,bias}.
 */
qf_status qf_arch_map(qf_model *m, qf_arch *out, qf_error *err);

/* ======================================================================================
 * Encoder (verify/encoder.c; kernels in verify/kernels_ref.c and verify/kernels_dnnl.c)
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
 * site of every layer, in execution order, before that input is quantized. x is borrowed for the
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
} qf_encoder_params;

qf_encoder_params qf_encoder_params_default(void);

typedef struct qf_encoder qf_encoder;

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
    const float *logits;       /* [batch, num_labels]; NULL when the model has no head */
    const float *last_hidden;  /* [batch, length, hidden_size] */
    const float *pooled;       /* [batch, hidden_size]: mask-weighted mean of last_hidden */
    /* [num_layer_outputs = num_layers + 1, batch, length, hidden_size]: [0] is the embeddings
     * output, [i] layer i's output; NULL unless keep_layer_outputs. */
    const float *layer_hidden;
} qf_encoder_output;

/*
 * Builds an encoder over `m` (retained; released by qf_encoder_destroy). Maps the architecture
 * first when the model is not mapped yet (renaming its tensors in place, see qf_arch_map),
 * validates every shape, prepares the weights (oneDNN: packed once into its preferred layout),
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

/* The architecture the encoder runs (borrowed). */
const qf_arch *qf_encoder_arch(const qf_encoder *e);

void qf_encoder_destroy(qf_encoder *e); /* accepts NULL */

/* Scalar reference of ONNX DynamicQuantizeLinear, as ONNX Runtime computes it: range widened to
 * include 0, s = (max - min) / 255 (s = 1 when max == min), z = round_half_even(clamp(-min / s,
 * 0, 255)), q = clamp(round_half_even(x / s) + z, 0, 255). NaNs are ignored in the range and map
 * to z. n may be 0 (s = 1, z = 0). */
void qf_dynamic_quantize_u8_ref(const float *x, size_t n, uint8_t *q, float *scale, uint8_t *zero_point);
/* =============================================================================================
 * Tokenizers (verify/tokenizer*.c)
 *
 * Hugging Face tokenizers re-implemented so that the ids are identical to those of the Rust
 * `tokenizers` library (what transformers uses with a tokenizer.json) for the families qforge
 * runs: BERT / DistilBERT / ELECTRA / MiniLM (WordPiece) and RoBERTa (byte-level BPE).
 *
 * Supported components of tokenizer.json (anything else is refused with QF_STATUS_UNSUPPORTED,
 * naming the component):
 *   normalizers     BertNormalizer, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip,
 *                   Replace (String pattern), Prepend, Sequence;
 *   pre-tokenizers  BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Punctuation,
 *                   Split (String pattern), Digits, Sequence;
 *   models          WordPiece, BPE (dropout null or 0, byte_fallback, fuse_unk, ignore_merges,
 *                   continuing_subword_prefix, end_of_word_suffix);
 *   post-processors BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel, Sequence;
 *   added_tokens    with single_word, lstrip, rstrip, normalized.
 * The decoder, and the file's own "truncation" / "padding" settings, are ignored (transformers
 * overrides them too); qf_tokenize_params says how to truncate and pad. "padding.pad_id" is used
 * as the padding id when present.
 *
 * Text handling: input bytes that are not valid UTF-8 are decoded like Python's
 * `bytes.decode("utf-8", errors="replace")`: each maximal ill-formed subsequence becomes one
 * U+FFFD (a Rust String cannot hold them, so Hugging Face never sees such bytes). A NUL byte is
 * an ordinary character (U+0000).
 *
 * Unicode data (categories, normalization, lowercase) comes from tables generated from Python's
 * unicodedata (see qf_tokenizer_unicode_version); Rust tokenizers mixes older tables
 * (unicode_categories) and newer ones (Rust std), so characters assigned in recent Unicode
 * versions may be classified differently. No such character occurs in the parity data.
 *
 * A loaded tokenizer is immutable: encode may run concurrently from several threads.
 * ============================================================================================= */

typedef struct qf_tokenizer qf_tokenizer;

/*
 * Loads a tokenizer. `path` is a tokenizer.json file, or a folder holding one of:
 *   - tokenizer.json;
 *   - vocab.txt: BERT WordPiece with transformers' defaults (BertNormalizer with lowercase =
 *     tokenizer_config.json "do_lower_case" (default true), "strip_accents" and
 *     "tokenize_chinese_chars" when present; BertPreTokenizer; [UNK], "##", 100 chars per word;
 *     [CLS] $A [SEP]; [PAD] [UNK] [CLS] [SEP] [MASK] as special tokens);
 *   - vocab.json + merges.txt: RoBERTa byte-level BPE with transformers' defaults (ByteLevel with
 *     add_prefix_space = tokenizer_config.json "add_prefix_space" (default false); <s> $A </s>;
 *     <s> <pad> </s> <unk> special, <mask> special with lstrip).
 * Validates the whole file (types, ids, limits of limits.h, merge tokens present in the vocabulary)
 * before returning. On failure *out is NULL and err names the file and the field.
 */
qf_status qf_tokenizer_load(const char *path, qf_tokenizer **out, qf_error *err);

/*
 * The tokenizer of a model, found the same way by every command (verify, run, calibrate, convert,
 * quantize): `explicit_path` (the user's --tokenizer: a tokenizer.json, or a folder as above; may be
 * anywhere) when non-NULL; else the folder of each of beside[0..nbeside) in turn (NULL entries
 * skipped): the first folder holding tokenizer.json, vocab.txt or vocab.json is loaded as a folder
 * (qf_tokenizer_load: each of its files must resolve inside it). *out stays NULL when no folder has
 * one (rows must then carry input_ids). `used` (may be NULL, used_size bytes) receives what was
 * loaded: the tokenizer.json file, or the folder; "" when none.
 */
qf_status qf_tokenizer_find(const char *explicit_path, const char *const *beside, size_t nbeside, qf_tokenizer **out,
                            char *used, size_t used_size, qf_error *err);

/* Same as qf_tokenizer_load for tokenizer.json bytes held in memory; `name` (may be NULL) is the
 * file name used in error messages. The bytes are not referenced after the call. */
qf_status qf_tokenizer_load_json(const void *data, size_t size, const char *name, qf_tokenizer **out,
                                 qf_error *err);

void qf_tokenizer_destroy(qf_tokenizer *t); /* accepts NULL */

typedef struct qf_tokenize_params {
    /* > 0: truncate like transformers' `truncation=True, max_length=N` for one sequence: the
     * sequence is cut to N minus the special tokens the post-processor adds, then they are added.
     * 0: no truncation. */
    int32_t max_length;
    /* > 0: pad on the right up to this length (pad id, attention 0, type id of the padding);
     * a longer encoding is left as it is. 0: no padding. */
    int32_t pad_to;
    /* Add the post-processor's special tokens ([CLS] ... [SEP]); default true. */
    bool add_special_tokens;
} qf_tokenize_params;

qf_tokenize_params qf_tokenize_params_default(void); /* {0, 0, true} */

/*
 * The result of one encode. Caller-owned struct; the arrays are owned by it and released with
 * qf_encoding_free. Zero-initialise it (or call qf_encoding_init) before the first encode; it may
 * be reused for many encodes, which then reuse its memory.
 */
typedef struct qf_encoding {
    int32_t *input_ids;
    int32_t *attention_mask; /* 1 for tokens, 0 for padding */
    int32_t *token_type_ids;
    size_t length;   /* entries in each array */
    size_t capacity; /* allocated entries (internal) */
} qf_encoding;

void qf_encoding_init(qf_encoding *e);
void qf_encoding_free(qf_encoding *e); /* frees the arrays and zeroes the struct; accepts NULL */

/*
 * Encodes `len` bytes of `text` (need not be NUL-terminated; any bytes, see above) as one
 * sequence. `p` may be NULL (defaults). On failure `out->length` is 0.
 * Fails with QF_STATUS_INVALID_ARGUMENT when max_length is smaller than the number of special
 * tokens, QF_STATUS_LIMIT past QF_TOKENIZER_MAX_TEXT, QF_STATUS_FORMAT when the model needs its
 * unknown token and the vocabulary lacks it.
 */
qf_status qf_tokenizer_encode(const qf_tokenizer *t, const char *text, size_t len,
                              const qf_tokenize_params *p, qf_encoding *out, qf_error *err);

/* Id used for padding: "padding.pad_id" of tokenizer.json when set, else the id of [PAD] or <pad>
 * (added tokens first, then the vocabulary), else 0. */
int32_t qf_tokenizer_pad_id(const qf_tokenizer *t);
/* Number of ids: 1 + the largest id of the vocabulary and the added tokens (the rows an embedding
 * table needs). */
size_t qf_tokenizer_vocab_size(const qf_tokenizer *t);
/* Id of a token (NUL-terminated UTF-8), added tokens first, then the model vocabulary; -1 if absent. */
int32_t qf_tokenizer_token_to_id(const qf_tokenizer *t, const char *token);
/* Special tokens the post-processor adds to one sequence (2 for BERT and RoBERTa, 0 without one). */
size_t qf_tokenizer_num_special_tokens(const qf_tokenizer *t);
/* Unicode version of the tables ("14.0.0"). Static storage. */
const char *qf_tokenizer_unicode_version(void);

/* ============================================================================= end Tokenizers */

/* =============================================================================================
 * Datasets (verify/dataset.c): JSONL rows, tokenized once
 *
 * One JSON object per line: {"text": "...", "label": 3} or {"input_ids": [...], "label": "devel"}
 * ("attention_mask" and "token_type_ids" may accompany input_ids). The label is an integer class
 * index (0 or more), a class name looked up in config.json's label2id (else among id2label's
 * values), or absent (rows without labels still count for agreement and logit distance). Blank
 * lines are skipped. A row must have at least one token: an empty "input_ids", or a "text" that
 * gives none (empty or whitespace under a tokenizer that adds no special tokens) is refused; a
 * "text" that gives only the special tokens ([CLS] [SEP]) is a row. Errors name the file, "line N"
 * and the byte offset of the row (a tokenizer's error too).
 * =========================================================================================== */

typedef struct qf_tokenizer qf_tokenizer; /* verify/tokenizer.c */

typedef struct qf_dataset_params {
    int32_t max_length;      /* truncation of "text" rows (tokenizer) and of input_ids; 0: none */
    int64_t limit;           /* first N rows only; 0: all */
    const char *config_json; /* config.json text for string labels (label2id); may be NULL */
    bool keep_text;          /* keep each row's "text" (qf_dataset_row_text); default false */
} qf_dataset_params;

qf_dataset_params qf_dataset_params_default(void);

typedef struct qf_dataset_row {
    const int32_t *input_ids;      /* [length]; borrowed from the dataset */
    const int32_t *token_type_ids; /* [length] */
    int32_t length;                /* real tokens (the mask is all ones over them) */
    int32_t label;                 /* -1: none */
} qf_dataset_row;

typedef struct qf_dataset qf_dataset;

/* Reads and tokenizes every row (`tokenizer` may be NULL when every row has input_ids). */
qf_status qf_dataset_load(const char *path, const qf_tokenizer *tokenizer, const qf_dataset_params *params,
                          qf_dataset **out, qf_error *err);
size_t qf_dataset_size(const qf_dataset *d);
const qf_dataset_row *qf_dataset_row_at(const qf_dataset *d, size_t i); /* borrowed; NULL out of range */
size_t qf_dataset_labelled(const qf_dataset *d);                         /* rows with a label */
/* QF_STATUS_FORMAT, naming the file, "line N" and the row's offset, when a row's label (an integer, or
 * a class name's index in config.json) is not a class of a model with `num_labels` classes, i.e. not
 * in 0..num_labels-1. Where the data meets the model (qf_verify_run calls it); a load cannot know. */
qf_status qf_dataset_check_labels(const qf_dataset *d, int64_t num_labels, qf_error *err);
/* Row i's "text" as written in the file (decoded JSON string, NUL-terminated, `*len` bytes; may hold
 * NUL bytes itself) when the dataset was loaded with keep_text and the row has one; else NULL.
 * Borrowed from the dataset. `len` may be NULL. */
const char *qf_dataset_row_text(const qf_dataset *d, size_t i, size_t *len);
/* SHA-256 (hex) of the data file's bytes, for provenance. Borrowed. */
const char *qf_dataset_sha256(const qf_dataset *d);
void qf_dataset_destroy(qf_dataset *d); /* accepts NULL */

/* =============================================================================================
 * Verification (verify/verify.c): the reference (FP32) and the artifact run on the same rows
 * =========================================================================================== */

typedef struct qf_verify_params {
    int threads;            /* encoder threads; 0: all cores */
    int64_t batch;          /* rows per encoder run; default 32 */
    bool per_layer;         /* hidden-state SQNR per layer (costs memory: layer outputs kept) */
    bool reference_kernels; /* scalar kernels instead of oneDNN (slow; for testing) */
    size_t max_changed_rows; /* indices of rows whose prediction changed, kept up to this many */
    /* Called after each batch (may be NULL): rows done so far and the total. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} qf_verify_params;

qf_verify_params qf_verify_params_default(void);

/* Histogram of |dlogit| (qf_verify_report.dlogit_hist), log-spaced, 4 bins per decade: bin 0 counts
 * values below 1e-6 (exact zeros included), bin i in 1..32 counts [1e-6 * 10^((i-1)/4),
 * 1e-6 * 10^(i/4)), bin 33 values >= 100. qf_verify_dlogit_bin_lower gives each bin's lower edge. */
#define QF_VERIFY_DLOGIT_BINS 34
double qf_verify_dlogit_bin_lower(size_t bin); /* 0 for bin 0; 1e-6 * 10^((bin-1)/4) after */
size_t qf_verify_dlogit_bin(double abs_dlogit); /* the bin a value falls in (NaN: the last) */

typedef struct qf_verify_report {
    size_t rows, labelled_rows;
    size_t correct_reference, correct_artifact, agreeing;
    double accuracy_reference, accuracy_artifact; /* fractions of labelled rows; 0 when none */
    double drop_points;                           /* 100 * (reference - artifact accuracy) */
    double agreement;                             /* top-1 agreement, fraction of rows */
    double mean_abs_dlogit, max_abs_dlogit;       /* over every logit of every row */
    double mean_cosine, min_cosine;               /* cosine of each row's two logit vectors */
    size_t num_layer_outputs;                     /* embeddings + each layer; 0 without per_layer */
    double *layer_sqnr_db;                        /* [num_layer_outputs], owned; +INF when identical */
    size_t changed_count;                         /* rows whose top-1 changed */
    size_t *changed_rows;                         /* first changed_kept of them, owned */
    size_t changed_kept;                          /* min(changed_count, params max_changed_rows) */
    int32_t *changed_reference_label, *changed_artifact_label; /* their two predictions, owned */
    qf_encoder_mode artifact_mode;
    double seconds;
    uint64_t dlogit_hist[QF_VERIFY_DLOGIT_BINS];  /* |dlogit| of every logit of every row, binned */
    int64_t num_labels;                           /* logits per row */
} qf_verify_report;

/*
 * Runs `reference` in FP32 and `artifact` in `artifact_mode` over every row of `data` and fills
 * `out` (free with qf_verify_report_free). Both models are mapped to canonical slots if needed
 * (see qf_arch_map) and must have the same architecture and head size. Sums run in row order in
 * double precision, so the report does not depend on the thread count or the batch size.
 */
qf_status qf_verify_run(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_dataset *data, const qf_verify_params *params, qf_verify_report *out,
                        qf_error *err);
void qf_verify_report_free(qf_verify_report *r); /* accepts NULL; zeroes the struct */

/*
 * The accuracy gate, the one rule behind `qforge verify --max-drop` (exit 3 when it fails) and the
 * static fallback's budget (qf_static_fallback): true when drop_points <= max_drop_points, with
 * 1e-9 points of slack so that a drop equal to the budget up to rounding passes. A NaN on either
 * side fails.
 */
bool qf_verify_gate(double drop_points, double max_drop_points);

/* "FP32", "dynamic int8", "static int8". Static storage. */
const char *qf_encoder_mode_name(qf_encoder_mode mode);

/* The name config.json's id2label gives class `id` ("devel"), else the number, into buf.
 * `config_json` (config.json text) may be NULL. */
void qf_label_name(const char *config_json, int32_t id, char *buf, size_t size);

/* What the reports show beside the figures: the HTML page (verify/report_html.c) and the JSON
 * report (verify/report_json.c). Every pointer is borrowed for the call and may be NULL. */
typedef struct qf_verify_html_context {
    const char *artifact_path, *reference_path, *data_path, *tokenizer_path;
    const qf_dataset *data;      /* labels and (loaded with keep_text) texts of the changed rows */
    const qf_model *artifact;    /* recipe (quant.*, convert.*) and provenance (source.*, arch.*) */
    const char *config_json;     /* id2label: class names */
    int32_t max_length;
    bool has_max_drop, passed;
    double max_drop;
    size_t max_changed_rows;     /* rows listed (default 100) */
    size_t max_text;             /* characters of each row's text shown (default 400) */
} qf_verify_html_context;

qf_verify_html_context qf_verify_html_context_default(void);

/*
 * Writes the report as one self-contained HTML page (inline SVG charts and CSS; no script, no
 * external reference) to `path`, atomically (qf_output): the summary, a bar chart of every layer's
 * SQNR (rect.sqnr-bar, one per layer output), the |dlogit| histogram (rect.hist-bar, one per bin),
 * the rows whose prediction changed (tr.changed) with their texts, the recipe and the provenance.
 * `ctx` may be NULL.
 */
qf_status qf_verify_report_write_html(const qf_verify_report *r, const qf_verify_html_context *ctx, const char *path,
                                      qf_error *err);

/*
 * The report as JSON, what `qforge verify --json` writes: artifact, reference, data (path and
 * SHA-256), rows, max_length, artifact_mode, recipe (the artifact's quant.*, source.* and convert.*
 * metadata), accuracy, drop_points, top1_agreement, logits, layers (SQNR in dB, null when
 * identical), changed_count, changed_rows (the first ctx->max_changed_rows, class names from
 * config_json), max_drop (null without a gate), passed, seconds, qforge_version, and tokenizer when
 * ctx->tokenizer_path is not empty. A path the context leaves NULL is null. *out receives the text
 * (owned, NUL-terminated, ending with a newline; free() it) and *len (may be NULL) its length;
 * writing it is the caller's (the CLI writes it atomically with qf_output). `ctx` may be NULL.
 */
qf_status qf_verify_report_json(const qf_verify_report *r, const qf_verify_html_context *ctx, char **out,
                                size_t *len, qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_VERIFY_H */
