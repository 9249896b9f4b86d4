/*
 * qforge model: the encoder families as data. Sits between the readers (which keep source tensor
 * names) and everything that runs or writes an encoder (which speaks canonical slot names):
 * recognises the family from config.json + tensor names and renames the source tensors to the
 * canonical slots (in place, source names kept), once, right after reading.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error;
 * opaque types have one create/destroy pair and destroy accepts NULL; returned pointers are
 * borrowed unless the comment says "owned".
 */
#ifndef QFORGE_MODEL_H
#define QFORGE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =============================================================================================
 * Architecture (model/arch.c)
 * =========================================================================================== */

typedef enum qf_arch_family {
    QF_ARCH_FAMILY_UNKNOWN = 0,
    QF_ARCH_FAMILY_BERT,       /* bert; MiniLM checkpoints are bert */
    QF_ARCH_FAMILY_ROBERTA,    /* roberta, xlm-roberta, camembert */
    QF_ARCH_FAMILY_DISTILBERT,
    QF_ARCH_FAMILY_ELECTRA,
    QF_ARCH_FAMILY_MPNET,
    QF_ARCH_FAMILY_ALBERT,
    QF_ARCH_FAMILY_DEBERTA_V2, /* deberta-v2: DeBERTa-v2 and -v3 checkpoints */
    QF_ARCH_FAMILY_COUNT_
} qf_arch_family;

typedef enum qf_arch_activation {
    QF_ARCH_ACTIVATION_GELU = 0,  /* exact: x/2 (1 + erf(x/sqrt 2)) */
    QF_ARCH_ACTIVATION_GELU_TANH, /* gelu_new, gelu_pytorch_tanh */
    QF_ARCH_ACTIVATION_RELU,
    QF_ARCH_ACTIVATION_TANH,      /* the BERT pooler's and RoBERTa head's */
    QF_ARCH_ACTIVATION_COUNT_
} qf_arch_activation;

typedef enum qf_arch_head {
    QF_ARCH_HEAD_NONE = 0,                /* base model: hidden states only */
    QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION, /* token 0 -> the family's head_dense -> its activation -> head.out */
    QF_ARCH_HEAD_TOKEN_CLASSIFICATION,    /* every token -> head.out: [tokens, num_labels] logits */
    QF_ARCH_HEAD_QUESTION_ANSWERING,      /* every token -> head.out [2, hidden]: start and end logits */
    QF_ARCH_HEAD_COUNT_
} qf_arch_head;

/* "none", "sequence_classification", "token_classification", "question_answering"; "?" outside. */
const char *qf_arch_head_name(qf_arch_head h);

/* The canonical slots, the same for every family. Per layer: "layers.{i}.<part>", the six
 * projections (linear layers) first, in the order every pass walks them. */
typedef enum qf_layer_slot {
    QF_LAYER_ATTN_Q = 0,
    QF_LAYER_ATTN_K,
    QF_LAYER_ATTN_V,
    QF_LAYER_ATTN_OUT,
    QF_LAYER_FFN_UP,
    QF_LAYER_FFN_DOWN,
    QF_LAYER_ATTN_NORM,
    QF_LAYER_FFN_NORM,
    QF_LAYER_SLOT_COUNT_
} qf_layer_slot;
#define QF_LAYER_PROJECTIONS 6 /* QF_LAYER_ATTN_Q .. QF_LAYER_FFN_DOWN */

const char *qf_layer_slot_name(qf_layer_slot s); /* "attn.q", ...; "?" outside the enum. Static storage. */
/* "layers.{layer}.<part>" into buf (truncated to size, always terminated). */
void qf_layer_slot_stem(int64_t layer, qf_layer_slot s, char *buf, size_t size);

/* Slots outside the layers (stems; tensors are "<stem>.weight" / "<stem>.bias"). */
#define QF_SLOT_WORD_EMBEDDING "embeddings.word"
#define QF_SLOT_POSITION_EMBEDDING "embeddings.position"
#define QF_SLOT_TOKEN_TYPE_EMBEDDING "embeddings.token_type"
#define QF_SLOT_EMBEDDING_NORM "embeddings.norm"
#define QF_SLOT_EMBEDDING_PROJECTION "embeddings.project"
#define QF_SLOT_POOLER "pooler"
#define QF_SLOT_HEAD_DENSE "head.dense"
#define QF_SLOT_HEAD_OUT "head.out"
/* the relative-position bias table shared by every layer (MPNet): [buckets, heads] */
#define QF_SLOT_RELATIVE_BIAS "encoder.relative_bias"
/* DeBERTa's relative-position embeddings shared by every layer, [2 * span (or more), hidden], and
 * the LayerNorm over them (norm_rel_ebd "layer_norm") */
#define QF_SLOT_RELATIVE_EMBEDDING "encoder.relative_embedding"
#define QF_SLOT_RELATIVE_NORM "encoder.relative_norm"

/* What a sequence head's logits mean, from config.json (problem_type; num_labels 1; a
 * sentence-transformers CrossEncoder's activation), as transformers' pipelines and
 * sentence-transformers read them. */
typedef enum qf_arch_score {
    QF_ARCH_SCORE_CLASS = 0,   /* single label: the largest logit is the class */
    QF_ARCH_SCORE_MULTI_LABEL, /* problem_type multi_label_classification: sigmoid per label, >= 0.5 */
    QF_ARCH_SCORE_SIGMOID,     /* one label (a cross-encoder, a binary score): sigmoid(logit) */
    QF_ARCH_SCORE_IDENTITY,    /* problem_type regression, or a CrossEncoder with an Identity activation */
    QF_ARCH_SCORE_COUNT_
} qf_arch_score;

/* "class", "multi_label", "sigmoid", "identity"; "?" outside. */
const char *qf_arch_score_name(qf_arch_score s);

/* How a family numbers positions. */
typedef enum qf_arch_positions {
    QF_ARCH_POSITIONS_INDEX = 0,     /* position = token index */
    QF_ARCH_POSITIONS_AFTER_PADDING, /* RoBERTa: cumsum(ids != pad) * (ids != pad) + padding_idx */
} qf_arch_positions;

/* What a family adds to every layer's attention scores q.k / sqrt(d) before the softmax. */
typedef enum qf_arch_attention_bias {
    QF_ARCH_ATTENTION_BIAS_NONE = 0,
    /* MPNet (T5's bidirectional buckets): score[h][i][j] += table[bucket(j - i)][h], one table
     * (QF_SLOT_RELATIVE_BIAS) for every layer; qf_arch_relative_bucket gives the bucket */
    QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS,
    /* DeBERTa-v2/v3 (disentangled attention): every layer projects the shared relative-position
     * embeddings (QF_SLOT_RELATIVE_EMBEDDING, after QF_SLOT_RELATIVE_NORM) through its own query
     * and key projections into pos_q, pos_k [2 * span, hidden], and with
     * r = clamp(qf_arch_disentangled_position(i - j) + span, 0, 2 * span - 1)
     *   score[h][i][j] = (q_i.k_j + q_i.pos_k[r] (c2p) + k_j.pos_q[r] (p2c)) / sqrt(d * factor),
     * factor = 1 + the number of c2p / p2c terms the config names */
    QF_ARCH_ATTENTION_BIAS_DISENTANGLED,
} qf_arch_attention_bias;

/* One renaming: a source infix (Hugging Face PyTorch name, after the family prefix) and the
 * canonical infix it becomes ("attention.self.query." -> "attn.q."). */
typedef struct qf_family_name {
    const char *source;
    const char *canonical;
} qf_family_name;

#define QF_FAMILY_MAX_MODEL_TYPES 4

/*
 * A family of encoders, as data (model/families.c holds one row per family). Everything that runs,
 * quantizes, calibrates or exports an encoder reads the family from here (through qf_arch), never
 * from a branch on its name. Canonical slots are the same for every family (see qf_arch_map).
 */
typedef struct qf_family {
    qf_arch_family id;
    const char *name;                                           /* "bert": metadata arch.family */
    const char *model_types[QF_FAMILY_MAX_MODEL_TYPES];         /* config model_type values (NULL-ended) */
    /* config.json keys: the family's own spelling, then the alias transformers also accepts (or NULL) */
    const char *key_hidden_size, *alt_hidden_size;
    const char *key_num_layers, *alt_num_layers;
    const char *key_num_heads, *alt_num_heads;
    const char *key_intermediate_size, *alt_intermediate_size;
    const char *key_activation;      /* "hidden_act" / "activation" */
    const char *default_activation;  /* when config.json has no key_activation (NULL: "gelu") */
    const char *key_embedding_size;  /* factorised embeddings (ELECTRA, ALBERT); NULL: embeddings are hidden-sized */
    bool always_project;             /* the embeddings -> hidden projection exists even at equal sizes (ALBERT) */
    /* layers sharing weights (ALBERT): config key of the number of weight groups (NULL: every layer
     * has its own); layer i runs group int(i / (layers / groups)). key_inner_groups names the
     * layers inside a group, which must be 1 (every public checkpoint; others are refused). */
    const char *key_layer_groups;
    const char *key_inner_groups;
    bool token_types;                /* token-type embeddings (type_vocab_size) */
    int64_t default_type_vocab_size; /* token_types: when config.json has no type_vocab_size */
    /* absolute position embeddings: config key that turns them off (DeBERTa's
     * "position_biased_input", default true); NULL: always there */
    const char *key_absolute_positions;
    bool layer_norm_eps_in_config;   /* false: 1e-12 whatever config.json says (DistilBERT) */
    int64_t default_pad_token_id;
    qf_arch_positions positions;
    /* AFTER_PADDING: the padding index positions count from, when the modeling code fixes it
     * (MPNet: 1, whatever pad_token_id says); -1: config's pad_token_id (RoBERTa) */
    int64_t fixed_padding_idx;
    qf_arch_attention_bias attention_bias;
    int64_t relative_buckets;      /* RELATIVE_BUCKETS: buckets used (MPNet: 32, both directions) */
    int64_t relative_max_distance; /* RELATIVE_BUCKETS: distances from here on share the last bucket */
    const char *key_relative_table_rows; /* config key of the table's rows ("relative_attention_num_buckets") */
    /* Hugging Face PyTorch names; Keras / TF names are turned into these first, ONNX initializers
     * carry them already */
    const char *prefix;              /* "bert.": before the embeddings and layers, never before heads */
    const char *layer_root;          /* "encoder.layer.", then "{i}." */
    const qf_family_name *layer_names;
    size_t layer_name_count;
    /* tensors after the prefix that belong to no layer and are not embeddings (MPNet's
     * relative-position table) */
    const qf_family_name *encoder_names;
    size_t encoder_name_count;
    const qf_family_name *head_names; /* the sequence-classification head's tensors */
    size_t head_name_count;
    const qf_family_name *token_head_names; /* *ForTokenClassification's */
    size_t token_head_name_count;
    const qf_family_name *qa_head_names; /* *ForQuestionAnswering's */
    size_t qa_head_name_count;
    /* sequence classification: token 0 -> head_dense -> head_activation -> head.out */
    const char *head_kind;           /* metadata arch.head: "bert", "roberta", ... */
    const char *head_dense;          /* canonical stem of the dense layer: "pooler" or "head.dense" */
    qf_arch_activation head_activation;
    const char *key_head_activation; /* config key overriding head_activation (DeBERTa: "pooler_hidden_act") */
} qf_family;

/* The families qforge knows, in qf_arch_family order (index 0 is BERT). */
size_t qf_family_count(void);
const qf_family *qf_family_at(size_t index);            /* NULL out of range */
const qf_family *qf_family_of(qf_arch_family id);        /* NULL for UNKNOWN */
const qf_family *qf_family_find(const char *model_type); /* NULL when no family lists it */

typedef struct qf_arch {
    qf_arch_family family;
    const qf_family *desc;        /* the family's row (static storage) */
    char model_type[32];          /* config "model_type" as written */
    int64_t hidden_size;          /* hidden_size / dim */
    int64_t num_layers;           /* num_hidden_layers / n_layers: the layers that run */
    int64_t weight_layers;        /* layers of weights stored (layers.{0..weight_layers-1}.*): num_layers,
                                   * or ALBERT's num_hidden_groups; qf_arch_layer_weights maps them */
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
    int64_t relative_table_rows;  /* RELATIVE_BUCKETS: rows of QF_SLOT_RELATIVE_BIAS; 0 otherwise */
    bool absolute_positions;      /* embeddings.position.weight is added at the input (all but
                                   * DeBERTa with position_biased_input false) */
    /* DISENTANGLED (DeBERTa): relative_attention as config.json says; the span (position_buckets
     * when > 0, else max_relative_positions), the largest relative position the log buckets reach
     * (max_relative_positions, else max_position_embeddings), whether positions are log-bucketed
     * (position_buckets > 0), which terms score (c2p, p2c), the score divisor's factor and whether
     * the relative embeddings are layer-normed */
    bool relative_attention;
    int64_t relative_span;
    int64_t relative_max_position;
    bool relative_log_buckets;
    bool c2p, p2c;
    int64_t score_scale_factor;   /* 1 + c2p + p2c for DeBERTa; 1 elsewhere */
    bool relative_norm;
    qf_arch_activation head_activation; /* the sequence head's dense-layer activation */
    int64_t num_labels;           /* rows of head.out.weight; 0 without a head */
    qf_arch_activation activation;
    float layer_norm_eps;         /* DistilBERT: 1e-12 fixed */
    qf_arch_head head;            /* what the checkpoint serves (after the tensors are checked) */
    /* config.json "architectures"[0] ("BertForTokenClassification"), "" when absent. When present
     * the head is declared: *ForSequenceClassification, *ForTokenClassification,
     * *ForQuestionAnswering, or NONE for a base *Model and for a class whose head qforge does not
     * serve (masked LM, pre-training, multiple choice: its head tensors are left out). Without the
     * list, the tensors decide (head.out present: a sequence head). */
    char architecture[64];
    bool head_declared;
    qf_arch_head declared_head;
    bool has_pooler;              /* pooler.weight present (BERT head needs it) */
    qf_arch_score score;          /* sequence classification: what its logits mean */
    qf_arch_score one_label_score; /* what one label would mean (config's CrossEncoder activation) */
    bool has_project;             /* ELECTRA embeddings_project (embedding_size != hidden_size) */
    char problem_type[48];        /* config problem_type, "" when absent */
} qf_arch;

const char *qf_arch_family_name(qf_arch_family f);         /* "bert", ...; static storage */
const char *qf_arch_activation_name(qf_arch_activation a); /* "gelu", "gelu_tanh", "relu", "tanh" */

/*
 * RELATIVE_BUCKETS: the bucket of relative position `rel` (key index minus query index), as
 * transformers' MPNet computes it in float32: buckets/2 per direction (keys after the query take
 * the upper half), distances below buckets/4 exact, then log-spaced up to max_distance, beyond it
 * the last bucket. Always in 0..buckets-1.
 */
int64_t qf_arch_relative_bucket(const qf_arch *a, int64_t rel);

/*
 * DISENTANGLED: the relative position DeBERTa's attention indexes with, for `rel` = query index
 * minus key index: rel itself without log buckets or within span/2 of 0, else
 * sign(rel) * (ceil(log(|rel| / mid) / log((max - 1) / mid) * (mid - 1)) + mid) with mid = span/2,
 * max = relative_max_position, in float32 operation by operation as transformers'
 * make_log_bucket_position. The attention uses qf_arch_disentangled_index.
 */
int64_t qf_arch_disentangled_position(const qf_arch *a, int64_t rel);

/* DISENTANGLED: the row of pos_q / pos_k that query-minus-key distance `rel` gathers,
 * clamp(qf_arch_disentangled_position(rel) + span, 0, 2 * span - 1), as transformers clamps
 * c2p_pos / p2c_pos; the one rule the encoder and the ONNX export index with. */
int64_t qf_arch_disentangled_index(const qf_arch *a, int64_t rel);

/*
 * DISENTANGLED: rows first_row .. first_row + rows - 1 (of 0 .. 2 * span - 1) of
 * pos[2 * span, hidden] = LN(E[0 .. 2 * span)) W^T + b, with E the relative-position
 * embeddings (LN: QF_SLOT_RELATIVE_NORM with statistics in double, when the config norms them) and
 * W, b the query (QF_LAYER_ATTN_Q: pos_q) or key (QF_LAYER_ATTN_K: pos_k) projection of stored
 * layer `stored_layer` as stored (int8 dequantized per row), in FP32, each output summed over its
 * inputs in order. Constants of the weights: the encoder and the ONNX export both take them from
 * here (the encoder computes the rows its sequences reach, as they reach them). `out` holds
 * rows * hidden_size floats; every row gives the same bits whichever range it is computed in.
 */
qf_status qf_arch_relative_projection(const qf_model *m, const qf_arch *a, int64_t stored_layer, qf_layer_slot slot,
                                      int64_t first_row, int64_t rows, float *out, qf_error *err);

/* The stored weights (layers.{g}.*) that layer `layer` runs: `layer` itself, or for shared
 * weights (ALBERT) its group, int(layer / (num_layers / weight_layers)) as transformers computes
 * it. Always in 0..weight_layers-1. */
int64_t qf_arch_layer_weights(const qf_arch *a, int64_t layer);

/* Longest sequence the position table allows: max_positions, less padding_idx + 1 where positions
 * start after the padding index (RoBERTa); < 1 when the table leaves no position. */
int64_t qf_arch_max_tokens(const qf_arch *a);

/*
 * Parses config.json text into hyper-parameters (no tensors needed). model_type must be one of
 * bert, roberta, xlm-roberta, camembert, distilbert, electra, mpnet, albert, deberta-v2 (else QF_STATUS_UNSUPPORTED naming it).
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
 * head.out.{weight,bias}, encoder.relative_bias.weight, encoder.relative_embedding.weight,
 * encoder.relative_norm.{weight,bias}.
 */
qf_status qf_arch_map(qf_model *m, qf_arch *out, qf_error *err);

/*
 * The architecture of a model that qf_arch_map has already mapped (every tensor under its canonical
 * name), without touching it: what the encoder, the static quantizer, calibration and the ONNX
 * exporter call, so that they take the model read-only and the mapping happens once, right after
 * reading. QF_STATUS_INVALID_ARGUMENT, naming the tensor, when a tensor still has a source name the
 * family would rename; the errors of qf_arch_map's checks otherwise. `out` may be NULL. A
 * sentence-transformers CrossEncoder folder's activation (metadata pipeline.activation_fn "sigmoid"
 * / "identity") decides one_label_score over config.json's.
 */
qf_status qf_arch_of(const qf_model *m, qf_arch *out, qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_MODEL_H */
