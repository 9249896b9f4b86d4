/*
 * tests/test_arch.c — architecture mapping (model/arch.c) on synthetic in-memory checkpoints named
 * as Hugging Face writes them: every family with and without the model prefix, quantized models,
 * idempotence, and the errors for missing / misshapen tensors and unknown families.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "support/synth_encoder.h"

static const char *const k_slots[] = {
    "embeddings.word.weight", "embeddings.position.weight", "embeddings.norm.weight", "embeddings.norm.bias",
    "layers.0.attn.q.weight", "layers.0.attn.q.bias", "layers.0.attn.k.weight", "layers.0.attn.v.bias",
    "layers.0.attn.out.weight", "layers.0.attn.norm.weight", "layers.1.ffn.up.weight", "layers.1.ffn.up.bias",
    "layers.1.ffn.down.weight", "layers.1.ffn.norm.bias", "head.out.weight", "head.out.bias"};

static void check_family(qf_arch_family fam, bool prefix)
{
    synth_encoder_opts o = synth_encoder_opts_default(fam);
    o.prefix = prefix;
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_arch_map(m, &a, &err);
    if (s) fprintf(stderr, "map failed: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    assert_int_equal(a.family, fam);
    assert_int_equal(a.hidden_size, 32);
    assert_int_equal(a.num_layers, 2);
    assert_int_equal(a.num_heads, 4);
    assert_int_equal(a.intermediate_size, 64);
    assert_int_equal(a.vocab_size, 50);
    assert_int_equal(a.max_positions, 40);
    assert_int_equal(a.num_labels, 3);
    for (size_t i = 0; i < sizeof k_slots / sizeof k_slots[0]; i++) {
        const qf_tensor *t = qf_model_find(m, k_slots[i], NULL);
        assert_non_null(t);
        char src[256];
        synth_encoder_source_name(&o, k_slots[i], src, sizeof src);
        assert_string_equal(t->source_name, src);
    }
    switch (fam) {
    case QF_ARCH_FAMILY_BERT:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "bert");
        assert_string_equal(a.desc->head_dense, "pooler");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_TANH);
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "bert");
        assert_true(a.has_pooler);
        assert_non_null(qf_model_find(m, "pooler.weight", NULL));
        assert_non_null(qf_model_find(m, "embeddings.token_type.weight", NULL));
        assert_int_equal(a.position_padding_idx, -1);
        assert_true(a.layer_norm_eps == 1e-12f);
        break;
    case QF_ARCH_FAMILY_ROBERTA:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "roberta");
        assert_string_equal(a.desc->head_dense, "head.dense");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_TANH);
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "roberta");
        assert_int_equal(a.position_padding_idx, 1);
        assert_int_equal(a.type_vocab_size, 1);
        assert_true(a.layer_norm_eps == 1e-5f);
        assert_non_null(qf_model_find(m, "head.dense.weight", NULL));
        break;
    case QF_ARCH_FAMILY_DISTILBERT:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "distilbert");
        assert_string_equal(a.desc->head_dense, "head.dense");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_RELU);
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "distilbert");
        assert_int_equal(a.type_vocab_size, 0);
        assert_null(qf_model_find(m, "embeddings.token_type.weight", NULL));
        assert_true(a.layer_norm_eps == 1e-12f);
        break;
    case QF_ARCH_FAMILY_ELECTRA:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "electra");
        assert_string_equal(a.desc->head_dense, "head.dense");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_GELU);
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "electra");
        assert_true(a.has_project);
        assert_int_equal(a.embedding_size, 16);
        assert_non_null(qf_model_find(m, "embeddings.project.weight", NULL));
        break;
    case QF_ARCH_FAMILY_MPNET:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "mpnet");
        assert_string_equal(a.desc->head_dense, "head.dense");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_TANH);
        assert_int_equal(a.position_padding_idx, 1);
        assert_int_equal(a.type_vocab_size, 0);
        assert_int_equal(a.relative_table_rows, 32);
        assert_true(a.layer_norm_eps == 1e-5f);
        assert_non_null(qf_model_find(m, QF_SLOT_RELATIVE_BIAS ".weight", NULL));
        break;
    case QF_ARCH_FAMILY_ALBERT:
        assert_int_equal(a.head, QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION);
        assert_string_equal(a.desc->head_kind, "albert");
        assert_string_equal(a.desc->head_dense, "pooler");
        assert_int_equal(a.desc->head_activation, QF_ARCH_ACTIVATION_TANH);
        assert_true(a.has_pooler && a.has_project);
        assert_int_equal(a.embedding_size, 16);
        assert_int_equal(a.weight_layers, 2);
        assert_non_null(qf_model_find(m, "pooler.weight", NULL));
        assert_non_null(qf_model_find(m, "embeddings.project.weight", NULL));
        break;
    default: fail();
    }
    assert_string_equal(qf_model_get_meta(m, "arch.family"), qf_arch_family_name(fam));
    char ignored[512];
    assert_non_null(qf_model_get_meta(m, "arch.ignored"));
    snprintf(ignored, sizeof ignored, "%s", qf_model_get_meta(m, "arch.ignored"));
    assert_non_null(strstr(ignored, "position_ids"));
    assert_non_null(strstr(ignored, "bias")); /* the MLM head's bias */

    /* idempotent: mapping the mapped model changes nothing */
    qf_arch b;
    assert_int_equal(qf_arch_map(m, &b, &err), QF_STATUS_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_string_equal(qf_model_get_meta(m, "arch.ignored"), ignored);
    assert_non_null(qf_model_find(m, "layers.1.ffn.down.weight", NULL));
    qf_model_destroy(m);
}

static void test_bert(void **state) { (void)state; check_family(QF_ARCH_FAMILY_BERT, true); check_family(QF_ARCH_FAMILY_BERT, false); }
static void test_roberta(void **state) { (void)state; check_family(QF_ARCH_FAMILY_ROBERTA, true); check_family(QF_ARCH_FAMILY_ROBERTA, false); }
static void test_distilbert(void **state) { (void)state; check_family(QF_ARCH_FAMILY_DISTILBERT, true); check_family(QF_ARCH_FAMILY_DISTILBERT, false); }
static void test_electra(void **state) { (void)state; check_family(QF_ARCH_FAMILY_ELECTRA, true); check_family(QF_ARCH_FAMILY_ELECTRA, false); }
static void test_mpnet(void **state) { (void)state; check_family(QF_ARCH_FAMILY_MPNET, true); check_family(QF_ARCH_FAMILY_MPNET, false); }
static void test_albert(void **state) { (void)state; check_family(QF_ARCH_FAMILY_ALBERT, true); check_family(QF_ARCH_FAMILY_ALBERT, false); }

/* ALBERT's shared layers: 5 layers over 2 groups of weights run groups 0 0 0 1 1 as transformers'
 * int(i / (5 / 2)) gives them; one group (the public checkpoints) runs group 0 everywhere. Hostile
 * configs: more groups than layers, inner_group_num 2 (refused by name), and a tensor of a group
 * the config does not have. */
static void test_albert_shared_layers(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_ALBERT);
    o.layers = 5;
    o.groups = 2;
    qf_model *m = NULL;
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
    assert_int_equal(a.num_layers, 5);
    assert_int_equal(a.weight_layers, 2);
    assert_string_equal(qf_model_get_meta(m, "arch.weight_layers"), "2");
    const int64_t want[5] = {0, 0, 0, 1, 1};
    for (int64_t l = 0; l < 5; l++) assert_int_equal(qf_arch_layer_weights(&a, l), want[l]);
    assert_null(qf_model_find(m, "layers.2.attn.q.weight", NULL));
    qf_model_destroy(m);

    o.groups = 1;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
    for (int64_t l = 0; l < 5; l++) assert_int_equal(qf_arch_layer_weights(&a, l), 0);
    /* a tensor of group 1 in a one-group model */
    size_t idx;
    assert_non_null(qf_model_find(m, "layers.0.ffn.up.bias", &idx));
    const qf_tensor *t = qf_model_tensor(m, idx);
    assert_int_equal(qf_model_add_tensor(m, "albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias", NULL,
                                         QF_DTYPE_F32, 1, t->shape, t->data, t->nbytes, NULL, NULL),
                     QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.expected, "layer < 1");
    qf_model_destroy(m);

    struct {
        const char *from, *to;
        qf_status status;
        const char *object;
    } bad[] = {{"\"num_hidden_groups\": 1", "\"num_hidden_groups\": 6", QF_STATUS_FORMAT, "num_hidden_groups"},
               {"\"inner_group_num\": 1", "\"inner_group_num\": 2", QF_STATUS_UNSUPPORTED, "inner_group_num"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
        char buf[2048];
        snprintf(buf, sizeof buf, "%s", qf_model_config_json(m));
        char *p = strstr(buf, bad[i].from);
        assert_non_null(p);
        memcpy(p, bad[i].to, strlen(bad[i].to));
        assert_int_equal(qf_model_set_config_json(m, buf, strlen(buf), NULL), QF_STATUS_OK);
        qf_error_clear(&err);
        assert_int_equal(qf_arch_map(m, NULL, &err), bad[i].status);
        assert_string_equal(err.object, bad[i].object);
        qf_model_destroy(m);
    }
}

/* MPNet's relative-position buckets at the edges of each regime (exact below 8, log-spaced to 128,
 * the last bucket beyond; keys after the query in the upper half), as transformers'
 * MPNetEncoder.relative_position_bucket gives them (evaluated with torch 1.13). The whole range
 * -600..600 is checked against transformers 5 by test_encoder_families. */
static void test_mpnet_relative_buckets(void **state)
{
    (void)state;
    qf_arch a;
    memset(&a, 0, sizeof a);
    a.desc = qf_family_of(QF_ARCH_FAMILY_MPNET);
    static const int64_t want[][2] = {
        {-600, 15}, {-200, 15}, {-128, 15}, {-127, 15}, {-100, 15}, {-64, 14}, {-63, 13}, {-32, 12}, {-31, 11},
        {-16, 10},  {-15, 9},   {-12, 9},   {-11, 8},   {-9, 8},    {-8, 8},   {-7, 7},   {-1, 1},   {0, 0},
        {1, 17},    {7, 23},    {8, 24},    {9, 24},    {11, 24},   {12, 25},  {15, 25},  {16, 26},  {31, 27},
        {32, 28},   {63, 29},   {64, 30},   {100, 31},  {127, 31},  {128, 31}, {600, 31}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t got = qf_arch_relative_bucket(&a, want[i][0]);
        if (got != want[i][1]) fprintf(stderr, "relative position %lld: bucket %lld, want %lld\n", (long long)want[i][0], (long long)got, (long long)want[i][1]);
        assert_int_equal(got, want[i][1]);
    }
}

/* The family table: every row is found by each of its model types and by its id, in id order. */
static void test_family_table(void **state)
{
    (void)state;
    assert_int_equal(qf_family_count(), QF_ARCH_FAMILY_COUNT_ - 1);
    for (size_t i = 0; i < qf_family_count(); i++) {
        const qf_family *f = qf_family_at(i);
        assert_non_null(f);
        assert_int_equal(f->id, (qf_arch_family)(i + 1));
        assert_ptr_equal(qf_family_of(f->id), f);
        assert_string_equal(qf_arch_family_name(f->id), f->name);
        assert_non_null(f->model_types[0]);
        for (size_t j = 0; j < QF_FAMILY_MAX_MODEL_TYPES && f->model_types[j]; j++)
            assert_ptr_equal(qf_family_find(f->model_types[j]), f);
        assert_true(f->layer_name_count > 0 && f->head_name_count > 0);
        assert_non_null(f->head_dense);
        assert_true((unsigned)f->head_activation < QF_ARCH_ACTIVATION_COUNT_);
    }
    assert_null(qf_family_at(qf_family_count()));
    assert_null(qf_family_of(QF_ARCH_FAMILY_UNKNOWN));
    assert_null(qf_family_find("gpt2"));
    assert_null(qf_family_find(NULL));
    assert_ptr_equal(qf_family_find("xlm-roberta"), qf_family_of(QF_ARCH_FAMILY_ROBERTA));
    assert_string_equal(qf_arch_activation_name(QF_ARCH_ACTIVATION_TANH), "tanh");
}

/* A synthetic base model of `fam` with `architecture` named in its config.json and, when `stem`
 * is given, a linear layer "<stem>.weight" [rows, hidden] + bias added under that source name. */
static qf_model *synth_with_head(qf_arch_family fam, const char *architecture, const char *stem, int rows)
{
    synth_encoder_opts o = synth_encoder_opts_default(fam);
    o.labels = 0;
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    if (stem) {
        char name[128];
        int64_t wshape[2] = {rows, o.hidden}, bshape[1] = {rows};
        float *w = NULL, *b = NULL;
        assert_int_equal(qf_model_alloc(m, (uint64_t)rows * (uint64_t)o.hidden * 4, (void **)&w, NULL), QF_STATUS_OK);
        assert_int_equal(qf_model_alloc(m, (uint64_t)rows * 4, (void **)&b, NULL), QF_STATUS_OK);
        for (int i = 0; i < rows * o.hidden; i++) w[i] = (float)((i % 7) - 3) * 0.01f;
        for (int i = 0; i < rows; i++) b[i] = (float)i * 0.1f;
        snprintf(name, sizeof name, "%s.weight", stem);
        assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, 2, wshape, w, (uint64_t)rows * (uint64_t)o.hidden * 4, NULL, NULL), QF_STATUS_OK);
        snprintf(name, sizeof name, "%s.bias", stem);
        assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, 1, bshape, b, (uint64_t)rows * 4, NULL, NULL), QF_STATUS_OK);
    }
    const char *cfg = qf_model_config_json(m);
    char text[2048];
    assert_true(cfg && cfg[0] == '{');
    int w = snprintf(text, sizeof text, "{\"architectures\": [\"%s\"], %s", architecture, cfg + 1);
    assert_true(w > 0 && (size_t)w < sizeof text);
    /* the generator's id2label (last) is its sequence head's: the head added here has `rows` */
    char *labels = strstr(text, ", \"id2label\"");
    if (labels) snprintf(labels, sizeof text - (size_t)(labels - text), "}");
    assert_int_equal(qf_model_set_config_json(m, text, strlen(text), NULL), QF_STATUS_OK);
    return m;
}

/* The head config.json's architectures names decides how the head tensors are read, and the
 * tensors must fit it: a token classifier's classifier.weight is never taken for a sequence head. */
static void test_heads_from_architectures(void **state)
{
    (void)state;
    qf_arch a;
    qf_error err;
    static const struct {
        qf_arch_family fam;
        const char *arch;
    } token[] = {{QF_ARCH_FAMILY_BERT, "BertForTokenClassification"},
                 {QF_ARCH_FAMILY_ROBERTA, "RobertaForTokenClassification"},
                 {QF_ARCH_FAMILY_DISTILBERT, "DistilBertForTokenClassification"},
                 {QF_ARCH_FAMILY_ELECTRA, "ElectraForTokenClassification"}};
    for (size_t i = 0; i < sizeof token / sizeof token[0]; i++) {
        qf_model *m = synth_with_head(token[i].fam, token[i].arch, "classifier", 5);
        qf_error_clear(&err);
        assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
        assert_int_equal(a.head, QF_ARCH_HEAD_TOKEN_CLASSIFICATION);
        assert_int_equal(a.num_labels, 5);
        assert_string_equal(a.architecture, token[i].arch);
        assert_non_null(qf_model_find(m, "head.out.weight", NULL));
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "token_classification");
        qf_model_destroy(m);

        /* question answering: qa_outputs, exactly 2 rows (start, end) */
        char qa[64];
        snprintf(qa, sizeof qa, "%.*sForQuestionAnswering", (int)(strstr(token[i].arch, "For") - token[i].arch), token[i].arch);
        m = synth_with_head(token[i].fam, qa, "qa_outputs", 2);
        assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
        assert_int_equal(a.head, QF_ARCH_HEAD_QUESTION_ANSWERING);
        assert_int_equal(a.num_labels, 2);
        assert_string_equal(qf_model_get_meta(m, "arch.head"), "question_answering");
        qf_model_destroy(m);
        m = synth_with_head(token[i].fam, qa, "qa_outputs", 3);
        qf_error_clear(&err);
        assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_SHAPE);
        assert_string_equal(err.object, "head.out.weight");
        qf_model_destroy(m);
    }

    /* a RoBERTa token classifier read as a sequence classifier: the config's head names the tensor
     * it lacks (classifier.out_proj), instead of a base model answering "logits": [] */
    qf_model *m = synth_with_head(QF_ARCH_FAMILY_ROBERTA, "RobertaForSequenceClassification", "classifier", 5);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.object, "head.out.weight");
    assert_non_null(strstr(err.message, "RobertaForSequenceClassification"));
    assert_non_null(strstr(err.message, "classifier.out_proj.weight"));
    qf_model_destroy(m);
    /* and the reverse: a token-classification config over a checkpoint with no token head */
    m = synth_with_head(QF_ARCH_FAMILY_BERT, "BertForTokenClassification", NULL, 0);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.message, "classifier.weight"));
    assert_non_null(strstr(err.message, "token_classification"));
    qf_model_destroy(m);
    /* a base model (*Model) keeps no head even when a classifier tensor is present */
    m = synth_with_head(QF_ARCH_FAMILY_BERT, "BertModel", "classifier", 3);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
    assert_int_equal(a.head, QF_ARCH_HEAD_NONE);
    assert_int_equal(a.num_labels, 0);
    qf_model_destroy(m);
    /* a class whose head qforge does not serve: no head, its tensors left out. A multiple-choice
     * classifier ([1, hidden] beside the pooler) is not taken for a one-label sequence head. */
    m = synth_with_head(QF_ARCH_FAMILY_BERT, "BertForMaskedLM", NULL, 0);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
    assert_true(a.head_declared);
    assert_int_equal(a.head, QF_ARCH_HEAD_NONE);
    qf_model_destroy(m);
    m = synth_with_head(QF_ARCH_FAMILY_BERT, "BertForMultipleChoice", "classifier", 1);
    assert_int_equal(qf_arch_map(m, &a, &err), QF_STATUS_OK);
    assert_int_equal(a.head, QF_ARCH_HEAD_NONE);
    assert_int_equal(a.num_labels, 0);
    assert_null(qf_model_find(m, "head.out.weight", NULL));
    assert_non_null(strstr(qf_model_get_meta(m, "arch.ignored"), "classifier.weight"));
    qf_model_destroy(m);
}

static void test_config_variants(void **state)
{
    (void)state;
    const char *cfgs[] = {
        "{\"model_type\": \"xlm-roberta\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
        " \"intermediate_size\": 16, \"hidden_act\": \"gelu_new\", \"pad_token_id\": 1}",
        "{\"model_type\": \"camembert\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
        " \"intermediate_size\": 16, \"hidden_act\": \"gelu_pytorch_tanh\", \"layer_norm_eps\": 1e-5}",
        "{\"model_type\": \"distilbert\", \"dim\": 8, \"n_layers\": 1, \"n_heads\": 2, \"hidden_dim\": 16,"
        " \"activation\": \"relu\", \"layer_norm_eps\": 0.5}",
    };
    qf_arch a;
    assert_int_equal(qf_arch_from_config(cfgs[0], &a, NULL), QF_STATUS_OK);
    assert_int_equal(a.family, QF_ARCH_FAMILY_ROBERTA);
    assert_int_equal(a.activation, QF_ARCH_ACTIVATION_GELU_TANH);
    assert_int_equal(a.position_padding_idx, 1);
    assert_int_equal(qf_arch_from_config(cfgs[1], &a, NULL), QF_STATUS_OK);
    assert_int_equal(a.family, QF_ARCH_FAMILY_ROBERTA);
    assert_int_equal(a.activation, QF_ARCH_ACTIVATION_GELU_TANH);
    assert_int_equal(a.position_padding_idx, 1); /* pad_token_id defaults to 1 in this family */
    assert_int_equal(qf_arch_from_config(cfgs[2], &a, NULL), QF_STATUS_OK);
    assert_int_equal(a.family, QF_ARCH_FAMILY_DISTILBERT);
    assert_int_equal(a.activation, QF_ARCH_ACTIVATION_RELU);
    assert_true(a.layer_norm_eps == 1e-12f); /* DistilBERT's LayerNorm eps is fixed */
    assert_int_equal(a.num_heads, 2);
}

static void test_unknown_family(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_UNKNOWN);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_UNSUPPORTED);
    assert_string_equal(err.object, "model_type");
    assert_string_equal(err.found, "gpt2");
    /* the expected list is made from the family table's model types */
    assert_string_equal(err.expected, "bert, roberta, xlm-roberta, camembert, distilbert, electra, mpnet, albert or deberta-v2");
    assert_int_equal(err.offset, -1);
    qf_model_destroy(m);

    /* no config at all */
    assert_int_equal(qf_model_create(&m, NULL), QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.part, "config.json");
    qf_model_destroy(m);

    /* bad activation and bad heads */
    qf_arch a;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_from_config("{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1,"
                                         " \"num_attention_heads\": 3, \"intermediate_size\": 16}", &a, &err),
                     QF_STATUS_FORMAT);
    assert_string_equal(err.object, "num_attention_heads");
    qf_error_clear(&err);
    assert_int_equal(qf_arch_from_config("{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 1,"
                                         " \"num_attention_heads\": 2, \"intermediate_size\": 16, \"hidden_act\": \"swish\"}",
                                         &a, &err),
                     QF_STATUS_UNSUPPORTED);
    assert_string_equal(err.found, "swish");
    qf_error_clear(&err);
    assert_int_equal(qf_arch_from_config("{\"model_type\": \"bert\", \"hidden_size\": 8}", &a, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.object, "num_hidden_layers");
    qf_error_clear(&err);
    assert_int_equal(qf_arch_from_config("[1, 2]", &a, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.part, "config.json");
}

static void test_missing_tensor(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    size_t idx;
    assert_non_null(qf_model_find(m, "bert.encoder.layer.1.attention.self.key.weight", &idx));
    assert_int_equal(qf_model_rename_tensor(m, idx, "somewhere.else", NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.object, "layers.1.attn.k.weight");
    assert_non_null(strstr(err.message, "bert.encoder.layer.1.attention.self.key.weight"));
    assert_string_equal(err.expected, "[32, 32] float or int8");
    assert_string_equal(err.found, "none");
    assert_int_equal(err.offset, -1);
    qf_model_destroy(m);
}

/* MPNet's relative-position table, hostile: a config with fewer rows than the 32 buckets the
 * modeling code indexes, a missing table (named by its source name), a table with the wrong head
 * count, and an int8 table (its values are added to scores: never int8). */
static void test_mpnet_relative_table_hostile(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_MPNET);
    qf_model *m = NULL;
    qf_error err;
    char buf[2048];
    /* 16 rows: torch would index rows 16..31 that do not exist */
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    snprintf(buf, sizeof buf, "%s", qf_model_config_json(m));
    char *p = strstr(buf, "\"relative_attention_num_buckets\": 32");
    assert_non_null(p);
    memcpy(p + strlen("\"relative_attention_num_buckets\": "), "16", 2);
    assert_int_equal(qf_model_set_config_json(m, buf, strlen(buf), NULL), QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.object, "relative_attention_num_buckets");
    assert_string_equal(err.found, "16");
    qf_model_destroy(m);

    /* missing */
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    size_t idx;
    assert_non_null(qf_model_find(m, "mpnet.encoder.relative_attention_bias.weight", &idx));
    assert_int_equal(qf_model_rename_tensor(m, idx, "somewhere.else", NULL), QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_NOT_FOUND);
    assert_string_equal(err.object, QF_SLOT_RELATIVE_BIAS ".weight");
    assert_non_null(strstr(err.message, "mpnet.encoder.relative_attention_bias.weight"));
    qf_model_destroy(m);

    /* [32, 3] for 4 heads, then an int8 [32, 4] with its scales */
    for (int variant = 0; variant < 2; variant++) {
        assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
        assert_non_null(qf_model_find(m, "mpnet.encoder.relative_attention_bias.weight", &idx));
        assert_int_equal(qf_model_rename_tensor(m, idx, "unused", NULL), QF_STATUS_OK);
        const int64_t heads = variant == 0 ? 3 : 4;
        int64_t shape[2] = {32, heads}, sshape[1] = {32};
        void *data = NULL;
        float *scales = NULL;
        assert_int_equal(qf_model_alloc(m, (uint64_t)(32 * heads * 4), &data, NULL), QF_STATUS_OK);
        memset(data, 0, (size_t)(32 * heads * 4));
        if (variant == 0) {
            assert_int_equal(qf_model_add_tensor(m, "mpnet.encoder.relative_attention_bias.weight", NULL, QF_DTYPE_F32,
                                                 2, shape, data, (uint64_t)(32 * heads * 4), NULL, NULL),
                             QF_STATUS_OK);
        } else {
            assert_int_equal(qf_model_alloc(m, 32 * 4, (void **)&scales, NULL), QF_STATUS_OK);
            for (int i = 0; i < 32; i++) scales[i] = 0.01f;
            assert_int_equal(qf_model_add_tensor(m, "mpnet.encoder.relative_attention_bias.weight::scale", NULL,
                                                 QF_DTYPE_F32, 1, sshape, scales, 32 * 4, NULL, NULL),
                             QF_STATUS_OK);
            assert_int_equal(qf_model_add_tensor(m, "mpnet.encoder.relative_attention_bias.weight", NULL, QF_DTYPE_I8, 2,
                                                 shape, data, (uint64_t)(32 * heads), NULL, NULL),
                             QF_STATUS_OK);
            assert_non_null(qf_model_find(m, "mpnet.encoder.relative_attention_bias.weight", &idx));
            assert_int_equal(qf_model_set_quant(m, idx, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0,
                                                "mpnet.encoder.relative_attention_bias.weight::scale", NULL, NULL),
                             QF_STATUS_OK);
        }
        qf_error_clear(&err);
        assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
        assert_string_equal(err.object, QF_SLOT_RELATIVE_BIAS ".weight");
        assert_string_equal(err.expected, variant == 0 ? "[32, 4] float or int8" : "[32, 4] float");
        assert_string_equal(err.found, variant == 0 ? "[32, 3] f32" : "[32, 4] i8");
        qf_model_destroy(m);
    }
}

static void test_misshapen_tensor(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_DISTILBERT);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    size_t idx;
    const char *name = "distilbert.transformer.layer.0.ffn.lin1.weight";
    assert_non_null(qf_model_find(m, name, &idx));
    assert_int_equal(qf_model_rename_tensor(m, idx, "unused", NULL), QF_STATUS_OK);
    float *data = NULL;
    assert_int_equal(qf_model_alloc(m, 32 * 63 * 4, (void **)&data, NULL), QF_STATUS_OK);
    int64_t shape[2] = {63, 32};
    assert_int_equal(qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, 2, shape, data, 32 * 63 * 4, NULL, NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "layers.0.ffn.up.weight");
    assert_string_equal(err.expected, "[64, 32] float or int8");
    assert_string_equal(err.found, "[63, 32] f32");
    assert_non_null(strstr(err.message, name));
    qf_model_destroy(m);

    /* a classifier whose rows disagree with id2label */
    o = synth_encoder_opts_default(QF_ARCH_FAMILY_ROBERTA);
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    const char *cfg = qf_model_config_json(m);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", cfg);
    char *p = strstr(buf, ", \"2\": \"L2\"");
    assert_non_null(p);
    memmove(p, p + strlen(", \"2\": \"L2\""), strlen(p + strlen(", \"2\": \"L2\"")) + 1);
    assert_int_equal(qf_model_set_config_json(m, buf, strlen(buf), NULL), QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "head.out.weight");
    assert_string_equal(err.expected, "2 rows");
    assert_string_equal(err.found, "3 rows");
    qf_model_destroy(m);
}

static void test_layer_beyond_config(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    o.layers = 3;
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    const char *cfg = qf_model_config_json(m);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", cfg);
    char *p = strstr(buf, "\"num_hidden_layers\": 3");
    assert_non_null(p);
    p[strlen("\"num_hidden_layers\": ")] = '2';
    assert_int_equal(qf_model_set_config_json(m, buf, strlen(buf), NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
    assert_non_null(strstr(err.object, "encoder.layer.2."));
    assert_string_equal(err.found, "layer 2");
    qf_model_destroy(m);
}

static void test_gamma_beta_and_quantized(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    qf_model *m = NULL;
    assert_int_equal(synth_encoder_model(&o, &m), QF_STATUS_OK);
    size_t idx;
    assert_non_null(qf_model_find(m, "bert.embeddings.LayerNorm.weight", &idx));
    assert_int_equal(qf_model_rename_tensor(m, idx, "bert.embeddings.LayerNorm.gamma", NULL), QF_STATUS_OK);
    assert_non_null(qf_model_find(m, "bert.embeddings.LayerNorm.bias", &idx));
    assert_int_equal(qf_model_rename_tensor(m, idx, "bert.embeddings.LayerNorm.beta", NULL), QF_STATUS_OK);

    qf_quantize_params qp = qf_quantize_params_default();
    qp.min_elements = 1;
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(m, &qp, &q, NULL), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_arch_map(q, NULL, &err);
    if (s) fprintf(stderr, "map failed: %s\n", err.message);
    assert_int_equal(s, QF_STATUS_OK);
    const qf_tensor *t = qf_model_find(q, "layers.0.attn.q.weight", NULL);
    assert_non_null(t);
    assert_int_equal(t->dtype, QF_DTYPE_I8);
    assert_string_equal(t->quant.scale_name, "layers.0.attn.q.weight::scale");
    assert_non_null(qf_model_find(q, "layers.0.attn.q.weight::scale", NULL));
    t = qf_model_find(q, "embeddings.word.weight", NULL);
    assert_int_equal(t->dtype, QF_DTYPE_I8);
    assert_string_equal(t->quant.scale_name, "embeddings.word.weight::scale");
    assert_non_null(qf_model_find(q, "embeddings.norm.weight", NULL)); /* mapped from ...LayerNorm.gamma */
    assert_non_null(qf_model_find(q, "embeddings.norm.bias", NULL));
    assert_int_equal(qf_arch_map(q, NULL, &err), QF_STATUS_OK); /* idempotent on int8 too */

    /* a scale tensor of the wrong length */
    qf_model_destroy(q);
    qp.per_tensor = true;
    assert_int_equal(qf_model_quantize_dynamic(m, &qp, &q, NULL), QF_STATUS_OK);
    assert_int_equal(qf_arch_map(q, NULL, &err), QF_STATUS_OK); /* per-tensor scales: [1] */
    const qf_tensor *w = qf_model_find(q, "layers.1.ffn.up.weight", &idx);
    assert_int_equal(qf_model_set_quant(q, idx, QF_QUANT_SYMMETRIC_PER_CHANNEL, 0, w->quant.scale_name, NULL, NULL),
                     QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(q, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "layers.1.ffn.up.weight::scale");
    assert_string_equal(err.expected, "[64] f32");
    assert_string_equal(err.found, "[1] f32");
    qf_model_destroy(q);
    qf_model_destroy(m);
}

/* DeBERTa-v2/v3's config: pos_att_type as DeBERTa-v3's "p2c|c2p" string and as a list, the span
 * and maximum the log buckets use, and what qforge refuses by name (p2p, separate position
 * projections, the convolution layer, factorised embeddings, a span past the limit). */
#define DEBERTA_BASE "{\"model_type\": \"deberta-v2\", \"hidden_size\": 32, \"num_hidden_layers\": 2," \
                     " \"num_attention_heads\": 2, \"intermediate_size\": 64, \"max_position_embeddings\": 64," \
                     " \"relative_attention\": true, \"share_att_key\": true, \"position_biased_input\": false," \
                     " \"norm_rel_ebd\": \"layer_norm\", \"position_buckets\": 16"
static void test_deberta_config(void **state)
{
    (void)state;
    qf_arch a;
    qf_error err;
    assert_int_equal(qf_arch_from_config(DEBERTA_BASE ", \"pos_att_type\": \"p2c|c2p\"}", &a, NULL), QF_STATUS_OK);
    assert_int_equal(a.family, QF_ARCH_FAMILY_DEBERTA_V2);
    assert_true(a.c2p && a.p2c && a.relative_attention && a.relative_norm && a.relative_log_buckets);
    assert_false(a.absolute_positions);
    assert_int_equal(a.score_scale_factor, 3);
    assert_int_equal(a.relative_span, 16);
    assert_int_equal(a.relative_max_position, 64); /* max_relative_positions -1: max_position_embeddings */
    assert_int_equal(a.type_vocab_size, 0);          /* DebertaV2Config's default */
    assert_int_equal(a.head_activation, QF_ARCH_ACTIVATION_GELU);
    assert_int_equal(qf_arch_from_config(DEBERTA_BASE ", \"pos_att_type\": [\"c2p\"], \"max_relative_positions\": 128,"
                                                      " \"pooler_hidden_act\": \"tanh\", \"position_biased_input\": true}",
                                         &a, NULL),
                     QF_STATUS_OK);
    assert_true(a.c2p && !a.p2c && a.absolute_positions);
    assert_int_equal(a.score_scale_factor, 2);
    assert_int_equal(a.relative_max_position, 128);
    assert_int_equal(a.head_activation, QF_ARCH_ACTIVATION_TANH);
    /* no buckets: positions up to max_relative_positions, unbucketed */
    assert_int_equal(qf_arch_from_config(DEBERTA_BASE ", \"position_buckets\": -1}", &a, NULL), QF_STATUS_OK);
    assert_int_equal(a.score_scale_factor, 1);
    assert_false(a.relative_log_buckets);
    assert_int_equal(a.relative_span, 64);
    assert_int_equal(qf_arch_disentangled_position(&a, -300), -300);
    /* QF_MAX_RELATIVE_SPAN: at the limit (past it below) */
    assert_int_equal(qf_arch_from_config(DEBERTA_BASE ", \"position_buckets\": 4096, \"max_relative_positions\": 8192}",
                                         &a, NULL),
                     QF_STATUS_OK);
    assert_int_equal(a.relative_span, QF_MAX_RELATIVE_SPAN);

    static const struct {
        const char *tail, *object;
        qf_status status;
    } bad[] = {
        {", \"pos_att_type\": \"p2c|p2p\"}", "pos_att_type", QF_STATUS_UNSUPPORTED},
        {", \"pos_att_type\": [\"c2p\", 3]}", "pos_att_type", QF_STATUS_UNSUPPORTED},
        {", \"pos_att_type\": 7}", "pos_att_type", QF_STATUS_UNSUPPORTED},
        {", \"pos_att_type\": \"c2p\", \"share_att_key\": false}", "share_att_key", QF_STATUS_UNSUPPORTED},
        {", \"conv_kernel_size\": 3}", "conv_kernel_size", QF_STATUS_UNSUPPORTED},
        {", \"embedding_size\": 16}", "embedding_size", QF_STATUS_UNSUPPORTED},
        {", \"pooler_hidden_size\": 16}", "pooler_hidden_size", QF_STATUS_UNSUPPORTED},
        {", \"attention_head_size\": 8}", "attention_head_size", QF_STATUS_UNSUPPORTED},
        {", \"pooler_hidden_act\": \"swish\"}", "pooler_hidden_act", QF_STATUS_UNSUPPORTED},
        {", \"position_buckets\": 4097}", "position_buckets", QF_STATUS_LIMIT},
        {", \"position_buckets\": -1, \"max_relative_positions\": 4097}", "max_relative_positions", QF_STATUS_LIMIT},
        {", \"max_relative_positions\": 16777217}", "max_relative_positions", QF_STATUS_FORMAT},
        {", \"position_buckets\": 256, \"max_relative_positions\": 129}", "max_relative_positions", QF_STATUS_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[1024];
        /* the tail replaces the closing brace, so a later key overrides the base's */
        snprintf(cfg, sizeof cfg, "%s%s", DEBERTA_BASE, bad[i].tail);
        qf_error_clear(&err);
        assert_int_equal(qf_arch_from_config(cfg, &a, &err), bad[i].status);
        assert_string_equal(err.object, bad[i].object);
    }
}

/* DeBERTa's relative-position embeddings: the fixture read with a span that needs more rows than it
 * has is refused naming the source tensor. */
static void test_deberta_relative_embeddings_hostile(void **state)
{
    (void)state;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_read(QF_SOURCE_DIR "/fixtures/families/deberta-v2/model.safetensors", NULL, &m, &err),
                     QF_STATUS_OK);
    json_object *cfg = json_tokener_parse(qf_model_config_json(m));
    assert_non_null(cfg);
    json_object_object_add(cfg, "position_buckets", json_object_new_int(32)); /* 64 rows needed, 32 stored */
    const char *text = json_object_to_json_string(cfg);
    assert_int_equal(qf_model_set_config_json(m, text, strlen(text), &err), QF_STATUS_OK);
    json_object_put(cfg);
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(m, NULL, &err), QF_STATUS_SHAPE);
    assert_string_equal(err.object, "encoder.relative_embedding.weight");
    assert_non_null(strstr(err.message, "deberta.encoder.rel_embeddings.weight"));
    assert_string_equal(err.expected, "[>= 64, 32] float");
    qf_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_roberta),
        cmocka_unit_test(test_distilbert),
        cmocka_unit_test(test_electra), cmocka_unit_test(test_mpnet), cmocka_unit_test(test_mpnet_relative_buckets),
        cmocka_unit_test(test_mpnet_relative_table_hostile), cmocka_unit_test(test_albert),
        cmocka_unit_test(test_albert_shared_layers),
        cmocka_unit_test(test_deberta_config),
        cmocka_unit_test(test_deberta_relative_embeddings_hostile),
        cmocka_unit_test(test_family_table),
        cmocka_unit_test(test_heads_from_architectures),
        cmocka_unit_test(test_config_variants),
        cmocka_unit_test(test_unknown_family),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_misshapen_tensor),
        cmocka_unit_test(test_layer_beyond_config),
        cmocka_unit_test(test_gamma_beta_and_quantized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
