/*
 * tests/support/synth_encoder.c — see synth_encoder.h. The naming tables here are written
 * independently of model/arch.c, from the Hugging Face modeling files, so the tests check them.
 */
#include "support/synth_encoder.h"

#include <stdio.h>
#include <string.h>

synth_encoder_opts synth_encoder_opts_default(qf_arch_family family)
{
    synth_encoder_opts o;
    memset(&o, 0, sizeof o);
    o.family = family;
    o.hidden = 32;
    o.layers = 2;
    o.heads = 4;
    o.intermediate = 64;
    o.embedding = family == QF_ARCH_FAMILY_ELECTRA || family == QF_ARCH_FAMILY_ALBERT ? 16 : 0;
    o.vocab = 50;
    o.positions = 40;
    o.labels = 3;
    o.prefix = true;
    o.extras = true;
    o.seed = 1234;
    return o;
}

static const char *prefix_of(const synth_encoder_opts *o)
{
    if (!o->prefix) return "";
    switch (o->family) {
    case QF_ARCH_FAMILY_BERT: return "bert.";
    case QF_ARCH_FAMILY_ROBERTA: return "roberta.";
    case QF_ARCH_FAMILY_DISTILBERT: return "distilbert.";
    case QF_ARCH_FAMILY_ELECTRA: return "electra.";
    case QF_ARCH_FAMILY_MPNET: return "mpnet.";
    case QF_ARCH_FAMILY_ALBERT: return "albert.";
    default: return "";
    }
}

void synth_encoder_source_name(const synth_encoder_opts *o, const char *c, char *out, size_t size)
{
    const char *p = prefix_of(o);
    bool distil = o->family == QF_ARCH_FAMILY_DISTILBERT, mpnet = o->family == QF_ARCH_FAMILY_MPNET;
    bool albert = o->family == QF_ARCH_FAMILY_ALBERT;
    int layer;
    char part[64], leaf[16];
    out[0] = '\0';
    if (sscanf(c, "layers.%d.%63[a-z.]", &layer, part) == 2) {
        char *dot = strrchr(part, '.');
        snprintf(leaf, sizeof leaf, "%s", dot + 1);
        *dot = '\0';
        static const char *bert[][2] = {{"attn.q", "attention.self.query"},  {"attn.k", "attention.self.key"},
                                        {"attn.v", "attention.self.value"},  {"attn.out", "attention.output.dense"},
                                        {"attn.norm", "attention.output.LayerNorm"}, {"ffn.up", "intermediate.dense"},
                                        {"ffn.down", "output.dense"},        {"ffn.norm", "output.LayerNorm"}};
        static const char *dist[][2] = {{"attn.q", "attention.q_lin"},   {"attn.k", "attention.k_lin"},
                                        {"attn.v", "attention.v_lin"},   {"attn.out", "attention.out_lin"},
                                        {"attn.norm", "sa_layer_norm"},  {"ffn.up", "ffn.lin1"},
                                        {"ffn.down", "ffn.lin2"},        {"ffn.norm", "output_layer_norm"}};
        /* modeling_mpnet.py: MPNetLayer.attention.attn.{q,k,v,o}, attention.LayerNorm */
        static const char *mpn[][2] = {{"attn.q", "attention.attn.q"},   {"attn.k", "attention.attn.k"},
                                       {"attn.v", "attention.attn.v"},   {"attn.out", "attention.attn.o"},
                                       {"attn.norm", "attention.LayerNorm"}, {"ffn.up", "intermediate.dense"},
                                       {"ffn.down", "output.dense"},     {"ffn.norm", "output.LayerNorm"}};
        /* modeling_albert.py: AlbertTransformer.albert_layer_groups[g].albert_layers[0] */
        static const char *alb[][2] = {{"attn.q", "attention.query"},       {"attn.k", "attention.key"},
                                       {"attn.v", "attention.value"},       {"attn.out", "attention.dense"},
                                       {"attn.norm", "attention.LayerNorm"}, {"ffn.up", "ffn"},
                                       {"ffn.down", "ffn_output"},          {"ffn.norm", "full_layer_layer_norm"}};
        for (int i = 0; i < 8; i++)
            if (strcmp(part, bert[i][0]) == 0) {
                if (albert)
                    snprintf(out, size, "%sencoder.albert_layer_groups.%d.albert_layers.0.%s.%s", p, layer, alb[i][1],
                             leaf);
                else
                    snprintf(out, size, "%s%s.%d.%s.%s", p, distil ? "transformer.layer" : "encoder.layer", layer,
                             distil ? dist[i][1] : mpnet ? mpn[i][1] : bert[i][1], leaf);
            }
        return;
    }
    if (albert && strncmp(c, "embeddings.project.", 19) == 0) { /* AlbertTransformer.embedding_hidden_mapping_in */
        snprintf(out, size, "%sencoder.embedding_hidden_mapping_in.%s", p, c + 19);
        return;
    }
    if (albert && strncmp(c, "pooler.", 7) == 0) { /* AlbertModel.pooler: one nn.Linear */
        snprintf(out, size, "%spooler.%s", p, c + 7);
        return;
    }
    if (strcmp(c, "encoder.relative_bias.weight") == 0) { /* MPNetEncoder.relative_attention_bias */
        snprintf(out, size, "%sencoder.relative_attention_bias.weight", p);
        return;
    }
    static const char *fixed[][2] = {{"embeddings.word.weight", "embeddings.word_embeddings.weight"},
                                     {"embeddings.position.weight", "embeddings.position_embeddings.weight"},
                                     {"embeddings.token_type.weight", "embeddings.token_type_embeddings.weight"},
                                     {"embeddings.norm.weight", "embeddings.LayerNorm.weight"},
                                     {"embeddings.norm.bias", "embeddings.LayerNorm.bias"},
                                     {"embeddings.project.weight", "embeddings_project.weight"},
                                     {"embeddings.project.bias", "embeddings_project.bias"},
                                     {"pooler.weight", "pooler.dense.weight"},
                                     {"pooler.bias", "pooler.dense.bias"}};
    for (int i = 0; i < 9; i++)
        if (strcmp(c, fixed[i][0]) == 0) {
            snprintf(out, size, "%s%s", p, fixed[i][1]);
            return;
        }
    const char *hd = NULL, *ho = NULL;
    switch (o->family) {
    case QF_ARCH_FAMILY_BERT:
    case QF_ARCH_FAMILY_ALBERT: ho = "classifier"; break;
    case QF_ARCH_FAMILY_DISTILBERT: hd = "pre_classifier"; ho = "classifier"; break;
    default: hd = "classifier.dense"; ho = "classifier.out_proj"; break;
    }
    if (strncmp(c, "head.dense.", 11) == 0 && hd) snprintf(out, size, "%s.%s", hd, c + 11);
    if (strncmp(c, "head.out.", 9) == 0) snprintf(out, size, "%s.%s", ho, c + 9);
}

/* xorshift32 -> roughly uniform in [-a, a] */
static float rnd(unsigned *s, float a)
{
    unsigned x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return ((float)(x & 0xFFFFFF) / (float)0x800000 - 1.0f) * a;
}

static qf_status add(qf_model *m, const synth_encoder_opts *o, unsigned *seed, const char *canon, int rank, int d0,
                     int d1, float amp, float base)
{
    char name[256];
    synth_encoder_source_name(o, canon, name, sizeof name);
    int64_t shape[2] = {d0, d1};
    uint64_t n = (uint64_t)d0 * (uint64_t)(rank == 2 ? d1 : 1);
    float *data = NULL;
    qf_status s = qf_model_alloc(m, n * 4, (void **)&data, NULL);
    if (s) return s;
    for (uint64_t i = 0; i < n; i++) data[i] = base + rnd(seed, amp);
    return qf_model_add_tensor(m, name, NULL, QF_DTYPE_F32, rank, shape, data, n * 4, NULL, NULL);
}

static qf_status add_linear(qf_model *m, const synth_encoder_opts *o, unsigned *seed, const char *stem, int out, int in)
{
    char w[128], b[128];
    snprintf(w, sizeof w, "%s.weight", stem);
    snprintf(b, sizeof b, "%s.bias", stem);
    qf_status s = add(m, o, seed, w, 2, out, in, 0.3f, 0.0f);
    if (!s) s = add(m, o, seed, b, 1, out, 0, 0.05f, 0.0f);
    return s;
}

static qf_status add_norm(qf_model *m, const synth_encoder_opts *o, unsigned *seed, const char *stem, int dim)
{
    char w[128], b[128];
    snprintf(w, sizeof w, "%s.weight", stem);
    snprintf(b, sizeof b, "%s.bias", stem);
    qf_status s = add(m, o, seed, w, 1, dim, 0, 0.1f, 1.0f);
    if (!s) s = add(m, o, seed, b, 1, dim, 0, 0.05f, 0.0f);
    return s;
}

static const char *model_type(qf_arch_family f)
{
    switch (f) {
    case QF_ARCH_FAMILY_BERT: return "bert";
    case QF_ARCH_FAMILY_ROBERTA: return "roberta";
    case QF_ARCH_FAMILY_DISTILBERT: return "distilbert";
    case QF_ARCH_FAMILY_ELECTRA: return "electra";
    case QF_ARCH_FAMILY_MPNET: return "mpnet";
    case QF_ARCH_FAMILY_ALBERT: return "albert";
    default: return "gpt2";
    }
}

qf_status synth_encoder_model(const synth_encoder_opts *o, qf_model **out)
{
    qf_model *m = NULL;
    qf_status s = qf_model_create(&m, NULL);
    if (s) return s;
    unsigned seed = o->seed ? o->seed : 1;
    bool distil = o->family == QF_ARCH_FAMILY_DISTILBERT;
    bool roberta = o->family == QF_ARCH_FAMILY_ROBERTA;
    bool mpnet = o->family == QF_ARCH_FAMILY_MPNET; /* no token types, padding index 1, a relative table */
    bool albert = o->family == QF_ARCH_FAMILY_ALBERT; /* layers of weights shared in groups, a pooler */
    int weight_layers = albert && o->groups > 0 ? o->groups : o->layers;
    int E = o->embedding ? o->embedding : o->hidden;
    char labels[256] = "";
    size_t used = 0;
    for (int i = 0; i < (o->labels ? o->labels : 2); i++)
        used += (size_t)snprintf(labels + used, sizeof labels - used, "%s\"%d\": \"L%d\"", i ? ", " : "", i, i);
    char cfg[2048];
    const char *act = o->act ? o->act : "gelu";
    if (distil)
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"distilbert\", \"dim\": %d, \"n_layers\": %d, \"n_heads\": %d, \"hidden_dim\": %d,"
                 " \"activation\": \"%s\", \"max_position_embeddings\": %d, \"vocab_size\": %d, \"pad_token_id\": 0,"
                 " \"id2label\": {%s}}",
                 o->hidden, o->layers, o->heads, o->intermediate, act, o->positions, o->vocab, labels);
    else if (mpnet)
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"mpnet\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
                 " \"intermediate_size\": %d, \"hidden_act\": \"%s\", \"layer_norm_eps\": 1e-05,"
                 " \"max_position_embeddings\": %d, \"vocab_size\": %d, \"pad_token_id\": 1,"
                 " \"relative_attention_num_buckets\": 32, \"id2label\": {%s}}",
                 o->hidden, o->layers, o->heads, o->intermediate, act, o->positions, o->vocab, labels);
    else if (albert)
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"albert\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
                 " \"intermediate_size\": %d, \"hidden_act\": \"%s\", \"layer_norm_eps\": 1e-12,"
                 " \"max_position_embeddings\": %d, \"type_vocab_size\": 2, \"vocab_size\": %d, \"pad_token_id\": 0,"
                 " \"embedding_size\": %d, \"num_hidden_groups\": %d, \"inner_group_num\": 1, \"id2label\": {%s}}",
                 o->hidden, o->layers, o->heads, o->intermediate, act, o->positions, o->vocab, E, weight_layers, labels);
    else
        snprintf(cfg, sizeof cfg,
                 "{\"model_type\": \"%s\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,"
                 " \"intermediate_size\": %d, \"hidden_act\": \"%s\", \"layer_norm_eps\": %s,"
                 " \"max_position_embeddings\": %d, \"type_vocab_size\": %d, \"vocab_size\": %d, \"pad_token_id\": %d,"
                 " \"embedding_size\": %d, \"problem_type\": \"single_label_classification\", \"id2label\": {%s}}",
                 model_type(o->family), o->hidden, o->layers, o->heads, o->intermediate, act, roberta ? "1e-05" : "1e-12",
                 o->positions, roberta ? 1 : 2, o->vocab, roberta ? 1 : 0, E, labels);
    s = qf_model_set_config_json(m, cfg, strlen(cfg), NULL);

    if (!s) s = add(m, o, &seed, "embeddings.word.weight", 2, o->vocab, E, 0.5f, 0.0f);
    if (!s) s = add(m, o, &seed, "embeddings.position.weight", 2, o->positions, E, 0.2f, 0.0f);
    if (!s && !distil && !mpnet) s = add(m, o, &seed, "embeddings.token_type.weight", 2, roberta ? 1 : 2, E, 0.2f, 0.0f);
    if (!s && mpnet) s = add(m, o, &seed, "encoder.relative_bias.weight", 2, 32, o->heads, 1.0f, 0.0f);
    if (!s) s = add_norm(m, o, &seed, "embeddings.norm", E);
    if (!s && E != o->hidden) s = add_linear(m, o, &seed, "embeddings.project", o->hidden, E);
    for (int l = 0; !s && l < weight_layers; l++) {
        char stem[64];
        static const char *hh[] = {"attn.q", "attn.k", "attn.v", "attn.out"};
        for (int j = 0; !s && j < 4; j++) {
            snprintf(stem, sizeof stem, "layers.%d.%s", l, hh[j]);
            s = add_linear(m, o, &seed, stem, o->hidden, o->hidden);
        }
        snprintf(stem, sizeof stem, "layers.%d.attn.norm", l);
        if (!s) s = add_norm(m, o, &seed, stem, o->hidden);
        snprintf(stem, sizeof stem, "layers.%d.ffn.up", l);
        if (!s) s = add_linear(m, o, &seed, stem, o->intermediate, o->hidden);
        snprintf(stem, sizeof stem, "layers.%d.ffn.down", l);
        if (!s) s = add_linear(m, o, &seed, stem, o->hidden, o->intermediate);
        snprintf(stem, sizeof stem, "layers.%d.ffn.norm", l);
        if (!s) s = add_norm(m, o, &seed, stem, o->hidden);
    }
    if (!s && o->labels) {
        if (o->family == QF_ARCH_FAMILY_BERT || albert) s = add_linear(m, o, &seed, "pooler", o->hidden, o->hidden);
        else s = add_linear(m, o, &seed, "head.dense", o->hidden, o->hidden);
        if (!s) s = add_linear(m, o, &seed, "head.out", o->labels, o->hidden);
    }
    if (!s && o->extras) {
        int64_t shape[2] = {1, o->positions};
        int64_t *ids = NULL;
        char name[128];
        snprintf(name, sizeof name, "%sembeddings.position_ids", prefix_of(o));
        s = qf_model_alloc(m, (uint64_t)o->positions * 8, (void **)&ids, NULL);
        for (int i = 0; !s && i < o->positions; i++) ids[i] = i;
        if (!s) s = qf_model_add_tensor(m, name, NULL, QF_DTYPE_I64, 2, shape, ids, (uint64_t)o->positions * 8, NULL, NULL);
        float *lm = NULL;
        int64_t lshape[1] = {o->vocab};
        if (!s) s = qf_model_alloc(m, (uint64_t)o->vocab * 4, (void **)&lm, NULL);
        if (!s) s = qf_model_add_tensor(m, distil ? "vocab_projector.bias" : (roberta || mpnet) ? "lm_head.bias" : "cls.predictions.bias",
                                        NULL, QF_DTYPE_F32, 1, lshape, lm, (uint64_t)o->vocab * 4, NULL, NULL);
    }
    if (s) {
        qf_model_destroy(m);
        return s;
    }
    *out = m;
    return QF_STATUS_OK;
}
