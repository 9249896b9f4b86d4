/*
 * model/families.c — the family table: one row per encoder family qforge reads, runs, quantizes
 * and exports. A row says how config.json spells the hyper-parameters, how Hugging Face names the
 * tensors (mapped to the canonical slots by model/arch.c), how positions are numbered and what the
 * sequence-classification head computes. Adding a family starts here (docs/ARCHITECTURE.md,
 * "Adding a model family").
 */
#include <string.h>

#include "qforge/model.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Per-layer names after "encoder.layer.{i}." (BERT, RoBERTa, ELECTRA). */
static const qf_family_name k_bert_layer_names[] = {
    {"attention.self.query.", "attn.q."},         {"attention.self.key.", "attn.k."},
    {"attention.self.value.", "attn.v."},         {"attention.output.dense.", "attn.out."},
    {"attention.output.LayerNorm.", "attn.norm."}, {"intermediate.dense.", "ffn.up."},
    {"output.dense.", "ffn.down."},               {"output.LayerNorm.", "ffn.norm."},
};

/* Per-layer names after "transformer.layer.{i}." (DistilBERT). */
static const qf_family_name k_distil_layer_names[] = {
    {"attention.q_lin.", "attn.q."},   {"attention.k_lin.", "attn.k."},   {"attention.v_lin.", "attn.v."},
    {"attention.out_lin.", "attn.out."}, {"sa_layer_norm.", "attn.norm."}, {"ffn.lin1.", "ffn.up."},
    {"ffn.lin2.", "ffn.down."},        {"output_layer_norm.", "ffn.norm."},
};

/* Per-layer names after "encoder.layer.{i}." (MPNet). */
static const qf_family_name k_mpnet_layer_names[] = {
    {"attention.attn.q.", "attn.q."},          {"attention.attn.k.", "attn.k."},
    {"attention.attn.v.", "attn.v."},          {"attention.attn.o.", "attn.out."},
    {"attention.LayerNorm.", "attn.norm."},    {"intermediate.dense.", "ffn.up."},
    {"output.dense.", "ffn.down."},            {"output.LayerNorm.", "ffn.norm."},
};
/* MPNet's one relative-position table, used by every layer. */
static const qf_family_name k_mpnet_encoder_names[] = {{"encoder.relative_attention_bias.", QF_SLOT_RELATIVE_BIAS "."}};

/* Per-layer names after "encoder.albert_layer_groups.{g}." (ALBERT: the weights of group g; one
 * layer per group, inner_group_num 1). */
static const qf_family_name k_albert_layer_names[] = {
    {"albert_layers.0.attention.query.", "attn.q."},     {"albert_layers.0.attention.key.", "attn.k."},
    {"albert_layers.0.attention.value.", "attn.v."},     {"albert_layers.0.attention.dense.", "attn.out."},
    {"albert_layers.0.attention.LayerNorm.", "attn.norm."}, {"albert_layers.0.ffn.", "ffn.up."},
    {"albert_layers.0.ffn_output.", "ffn.down."},        {"albert_layers.0.full_layer_layer_norm.", "ffn.norm."},
};
/* ALBERT's embedding projection sits in its encoder; its pooler is one linear layer. */
static const qf_family_name k_albert_encoder_names[] = {
    {"encoder.embedding_hidden_mapping_in.", "embeddings.project."},
    {"pooler.", "pooler."},
};

/* Per-layer names after "encoder.layer.{i}." (DeBERTa-v2/v3: BERT's, with its own projection names). */
static const qf_family_name k_deberta_layer_names[] = {
    {"attention.self.query_proj.", "attn.q."},    {"attention.self.key_proj.", "attn.k."},
    {"attention.self.value_proj.", "attn.v."},    {"attention.output.dense.", "attn.out."},
    {"attention.output.LayerNorm.", "attn.norm."}, {"intermediate.dense.", "ffn.up."},
    {"output.dense.", "ffn.down."},               {"output.LayerNorm.", "ffn.norm."},
};
/* DeBERTa's relative-position embeddings and their LayerNorm, used by every layer. */
static const qf_family_name k_deberta_encoder_names[] = {
    {"encoder.rel_embeddings.", QF_SLOT_RELATIVE_EMBEDDING "."},
    {"encoder.LayerNorm.", QF_SLOT_RELATIVE_NORM "."},
};

/* Sequence-classification heads (never under the family prefix). */
static const qf_family_name k_head_bert[] = {{"classifier.", "head.out."}};
static const qf_family_name k_head_roberta[] = {{"classifier.dense.", "head.dense."}, {"classifier.out_proj.", "head.out."}};
static const qf_family_name k_head_distil[] = {{"pre_classifier.", "head.dense."}, {"classifier.", "head.out."}};
/* Token classification and question answering: one linear layer over every token, the same names
 * in every family. */
static const qf_family_name k_token_head[] = {{"classifier.", "head.out."}};
static const qf_family_name k_qa_head[] = {{"qa_outputs.", "head.out."}};

static const qf_family k_families[] = {
    {
        .id = QF_ARCH_FAMILY_BERT,
        .name = "bert", /* MiniLM checkpoints are bert */
        .model_types = {"bert"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .token_types = true,
        .default_type_vocab_size = 2,
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 0,
        .positions = QF_ARCH_POSITIONS_INDEX,
        .prefix = "bert.",
        .layer_root = "encoder.layer.",
        .layer_names = k_bert_layer_names,
        .layer_name_count = COUNT_OF(k_bert_layer_names),
        .head_names = k_head_bert,
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_bert),
        .head_kind = "bert", /* pooler (dense + tanh on [CLS]) -> classifier */
        .head_dense = "pooler",
        .head_activation = QF_ARCH_ACTIVATION_TANH,
    },
    {
        .id = QF_ARCH_FAMILY_ROBERTA,
        .name = "roberta",
        .model_types = {"roberta", "xlm-roberta", "camembert"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .token_types = true,
        .default_type_vocab_size = 2,
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 1,
        .positions = QF_ARCH_POSITIONS_AFTER_PADDING,
        .fixed_padding_idx = -1, /* config's pad_token_id */
        .prefix = "roberta.",
        .layer_root = "encoder.layer.",
        .layer_names = k_bert_layer_names,
        .layer_name_count = COUNT_OF(k_bert_layer_names),
        .head_names = k_head_roberta,
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_roberta),
        .head_kind = "roberta", /* token 0 -> dense -> tanh -> out_proj */
        .head_dense = "head.dense",
        .head_activation = QF_ARCH_ACTIVATION_TANH,
    },
    {
        .id = QF_ARCH_FAMILY_DISTILBERT,
        .name = "distilbert",
        .model_types = {"distilbert"},
        .key_hidden_size = "dim",
        .alt_hidden_size = "hidden_size",
        .key_num_layers = "n_layers",
        .alt_num_layers = "num_hidden_layers",
        .key_num_heads = "n_heads",
        .alt_num_heads = "num_attention_heads",
        .key_intermediate_size = "hidden_dim",
        .alt_intermediate_size = "intermediate_size",
        .key_activation = "activation",
        .token_types = false,
        .layer_norm_eps_in_config = false, /* transformers fixes 1e-12 */
        .default_pad_token_id = 0,
        .positions = QF_ARCH_POSITIONS_INDEX,
        .prefix = "distilbert.",
        .layer_root = "transformer.layer.",
        .layer_names = k_distil_layer_names,
        .layer_name_count = COUNT_OF(k_distil_layer_names),
        .head_names = k_head_distil,
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_distil),
        .head_kind = "distilbert", /* token 0 -> pre_classifier -> relu -> classifier */
        .head_dense = "head.dense",
        .head_activation = QF_ARCH_ACTIVATION_RELU,
    },
    {
        .id = QF_ARCH_FAMILY_ELECTRA,
        .name = "electra",
        .model_types = {"electra"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .key_embedding_size = "embedding_size",
        .token_types = true,
        .default_type_vocab_size = 2,
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 0,
        .positions = QF_ARCH_POSITIONS_INDEX,
        .prefix = "electra.",
        .layer_root = "encoder.layer.",
        .layer_names = k_bert_layer_names,
        .layer_name_count = COUNT_OF(k_bert_layer_names),
        .head_names = k_head_roberta,
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_roberta),
        .head_kind = "electra", /* token 0 -> dense -> gelu -> out_proj */
        .head_dense = "head.dense",
        .head_activation = QF_ARCH_ACTIVATION_GELU,
    },
    {
        .id = QF_ARCH_FAMILY_MPNET,
        .name = "mpnet", /* all-mpnet-base-v2 and the other sentence-transformers MPNet models */
        .model_types = {"mpnet"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .token_types = false,
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 1,
        .positions = QF_ARCH_POSITIONS_AFTER_PADDING,
        .fixed_padding_idx = 1, /* MPNetEmbeddings.padding_idx */
        .attention_bias = QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS,
        .relative_buckets = 32, /* MPNetEncoder.compute_position_bias's num_buckets */
        .relative_max_distance = 128,
        .key_relative_table_rows = "relative_attention_num_buckets",
        .prefix = "mpnet.",
        .layer_root = "encoder.layer.",
        .layer_names = k_mpnet_layer_names,
        .layer_name_count = COUNT_OF(k_mpnet_layer_names),
        .encoder_names = k_mpnet_encoder_names,
        .encoder_name_count = COUNT_OF(k_mpnet_encoder_names),
        .head_names = k_head_roberta, /* MPNetClassificationHead: classifier.dense, classifier.out_proj */
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_roberta),
        .head_kind = "mpnet", /* token 0 -> dense -> tanh -> out_proj */
        .head_dense = "head.dense",
        .head_activation = QF_ARCH_ACTIVATION_TANH,
    },
    {
        .id = QF_ARCH_FAMILY_ALBERT,
        .name = "albert",
        .model_types = {"albert"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .default_activation = "gelu_new", /* AlbertConfig's */
        .key_embedding_size = "embedding_size",
        .always_project = true, /* embedding_hidden_mapping_in */
        .key_layer_groups = "num_hidden_groups",
        .key_inner_groups = "inner_group_num",
        .token_types = true,
        .default_type_vocab_size = 2,
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 0,
        .positions = QF_ARCH_POSITIONS_INDEX,
        .prefix = "albert.",
        .layer_root = "encoder.albert_layer_groups.",
        .layer_names = k_albert_layer_names,
        .layer_name_count = COUNT_OF(k_albert_layer_names),
        .encoder_names = k_albert_encoder_names,
        .encoder_name_count = COUNT_OF(k_albert_encoder_names),
        .head_names = k_head_bert, /* AlbertForSequenceClassification: classifier on the pooled output */
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_bert),
        .head_kind = "albert", /* pooler (dense + tanh on token 0) -> classifier */
        .head_dense = "pooler",
        .head_activation = QF_ARCH_ACTIVATION_TANH,
    },
    {
        .id = QF_ARCH_FAMILY_DEBERTA_V2,
        .name = "deberta-v2", /* DeBERTa-v2 and -v3 (model_type deberta-v2 for both) */
        .model_types = {"deberta-v2"},
        .key_hidden_size = "hidden_size",
        .key_num_layers = "num_hidden_layers",
        .key_num_heads = "num_attention_heads",
        .key_intermediate_size = "intermediate_size",
        .key_activation = "hidden_act",
        .token_types = true,
        .default_type_vocab_size = 0, /* DebertaV2Config's; v3 checkpoints say 0 */
        .key_absolute_positions = "position_biased_input",
        .layer_norm_eps_in_config = true,
        .default_pad_token_id = 0,
        .positions = QF_ARCH_POSITIONS_INDEX,
        .attention_bias = QF_ARCH_ATTENTION_BIAS_DISENTANGLED,
        .prefix = "deberta.",
        .layer_root = "encoder.layer.",
        .layer_names = k_deberta_layer_names,
        .layer_name_count = COUNT_OF(k_deberta_layer_names),
        .encoder_names = k_deberta_encoder_names,
        .encoder_name_count = COUNT_OF(k_deberta_encoder_names),
        /* ContextPooler at the top level ("pooler.dense.", mapped to the pooler slot like BERT's),
         * then classifier */
        .head_names = k_head_bert,
        .token_head_names = k_token_head,
        .token_head_name_count = COUNT_OF(k_token_head),
        .qa_head_names = k_qa_head,
        .qa_head_name_count = COUNT_OF(k_qa_head),
        .head_name_count = COUNT_OF(k_head_bert),
        .head_kind = "deberta-v2", /* token 0 -> pooler.dense -> pooler_hidden_act -> classifier */
        .head_dense = "pooler",
        .head_activation = QF_ARCH_ACTIVATION_GELU,
        .key_head_activation = "pooler_hidden_act",
    },
};

size_t qf_family_count(void) { return COUNT_OF(k_families); }

const qf_family *qf_family_at(size_t index) { return index < COUNT_OF(k_families) ? &k_families[index] : NULL; }

const qf_family *qf_family_of(qf_arch_family id)
{
    for (size_t i = 0; i < COUNT_OF(k_families); i++)
        if (k_families[i].id == id) return &k_families[i];
    return NULL;
}

const qf_family *qf_family_find(const char *model_type)
{
    for (size_t i = 0; model_type && i < COUNT_OF(k_families); i++)
        for (size_t j = 0; j < QF_FAMILY_MAX_MODEL_TYPES && k_families[i].model_types[j]; j++)
            if (strcmp(k_families[i].model_types[j], model_type) == 0) return &k_families[i];
    return NULL;
}
