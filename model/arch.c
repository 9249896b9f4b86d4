/*
 * model/arch.c — architecture mapping: config.json + Hugging Face tensor names -> the encoder's
 * canonical slots. Sits between the readers (which keep source names) and the encoder / writers
 * (which speak canonical names). Family-independent: what differs between families is a row of
 * the family table (model/families.c), whose name pairs map a source infix to a canonical infix,
 * so the same row also names the expected source tensor in error messages.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qforge/model.h"

typedef qf_family_name name_pair;

/* Embedding-level names, after the family prefix ("bert.", "roberta.", ...). */
static const name_pair k_embed_names[] = {
    {"embeddings.word_embeddings.", "embeddings.word."},
    {"embeddings.position_embeddings.", "embeddings.position."},
    {"embeddings.token_type_embeddings.", "embeddings.token_type."},
    {"embeddings.LayerNorm.", "embeddings.norm."},
    {"embeddings_project.", "embeddings.project."},
    {"pooler.dense.", "pooler."},
};

/* Canonical per-layer parts after "layers.{i}.", the same for every family (qf_layer_slot order). */
static const char *const k_layer_slots[QF_LAYER_SLOT_COUNT_] = {"attn.q", "attn.k", "attn.v",    "attn.out",
                                                                "ffn.up", "ffn.down", "attn.norm", "ffn.norm"};

const char *qf_layer_slot_name(qf_layer_slot s) { return (unsigned)s < QF_LAYER_SLOT_COUNT_ ? k_layer_slots[s] : "?"; }

void qf_layer_slot_stem(int64_t layer, qf_layer_slot s, char *buf, size_t size)
{
    snprintf(buf, size, "layers.%lld.%s", (long long)layer, qf_layer_slot_name(s));
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *qf_arch_family_name(qf_arch_family f)
{
    const qf_family *fam = qf_family_of(f);
    return fam ? fam->name : "unknown";
}

const char *qf_arch_head_name(qf_arch_head h)
{
    static const char *names[] = {"none", "sequence_classification", "token_classification", "question_answering"};
    return (unsigned)h < QF_ARCH_HEAD_COUNT_ ? names[h] : "?";
}

/* config.json "architectures"[0] -> the head kind it names; false for one qforge does not serve. */
static bool head_from_architecture(const char *arch, qf_arch_head *out)
{
    static const struct {
        const char *suffix;
        qf_arch_head head;
    } k[] = {{"ForSequenceClassification", QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION},
             {"ForTokenClassification", QF_ARCH_HEAD_TOKEN_CLASSIFICATION},
             {"ForQuestionAnswering", QF_ARCH_HEAD_QUESTION_ANSWERING},
             {"Model", QF_ARCH_HEAD_NONE}};
    size_t n = strlen(arch);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        size_t sl = strlen(k[i].suffix);
        if (n > sl && strcmp(arch + n - sl, k[i].suffix) == 0) {
            *out = k[i].head;
            return true;
        }
    }
    return false;
}

const char *qf_arch_score_name(qf_arch_score s)
{
    static const char *names[] = {"class", "multi_label", "sigmoid", "identity"};
    return (unsigned)s < QF_ARCH_SCORE_COUNT_ ? names[s] : "?";
}

/* A one-label head's activation as sentence-transformers' CrossEncoder records it (the v4+ key
 * "sentence_transformers": {"activation_fn": ...}, or the older "sbert_ce_default_activation_function"):
 * identity when it names Identity, else (absent, Sigmoid) sigmoid, as CrossEncoder and transformers'
 * pipelines default for one label. */
static qf_arch_score one_label_score(json_object *root)
{
    json_object *st, *v = NULL;
    if (json_object_object_get_ex(root, "sentence_transformers", &st) && json_object_is_type(st, json_type_object))
        json_object_object_get_ex(st, "activation_fn", &v);
    if (!v) json_object_object_get_ex(root, "sbert_ce_default_activation_function", &v);
    const char *fn = v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    size_t n = strlen(fn);
    return n >= 8 && strcmp(fn + n - 8, "Identity") == 0 ? QF_ARCH_SCORE_IDENTITY : QF_ARCH_SCORE_SIGMOID;
}

const char *qf_arch_activation_name(qf_arch_activation a)
{
    static const char *names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
    return (unsigned)a < QF_ARCH_ACTIVATION_COUNT_ ? names[a] : "?";
}

int64_t qf_arch_relative_bucket(const qf_arch *a, int64_t rel)
{
    const int64_t half = a->desc ? a->desc->relative_buckets / 2 : 0, exact = half / 2;
    if (half < 2) return 0;
    int64_t bucket = rel > 0 ? half : 0; /* the key after the query: the upper half */
    const int64_t n = rel < 0 ? -rel : rel;
    if (n < exact) return bucket + n;
    /* in float32, operation by operation, as torch evaluates
     * max_exact + (log(n / max_exact) / log(max_distance / max_exact) * (half - max_exact)).long() */
    const float ratio = (float)n / (float)exact;
    const float span = (float)log((double)a->desc->relative_max_distance / (double)exact);
    const float scaled = logf(ratio) / span * (float)(half - exact);
    int64_t large = exact + (scaled < (float)half ? (int64_t)scaled : half);
    if (large > half - 1) large = half - 1;
    return bucket + large;
}

int64_t qf_arch_disentangled_position(const qf_arch *a, int64_t rel)
{
    const int64_t mid = a->relative_span / 2;
    if (!a->relative_log_buckets || mid < 1) return rel;
    const int64_t n = rel < 0 ? -rel : rel;
    if (n <= mid) return rel; /* |rel| < mid is taken as mid - 1 <= mid: rel itself */
    /* in float32, operation by operation, as torch evaluates
     * ceil(log(abs_pos / mid) / log(tensor((max_position - 1) / mid)) * (mid - 1)) + mid */
    const float ratio = (float)n / (float)mid;
    const float span = logf((float)((double)(a->relative_max_position - 1) / (double)mid));
    const float scaled = ceilf(logf(ratio) / span * (float)(mid - 1)) + (float)mid;
    /* bounded: the caller clamps into the table; this keeps the conversion defined */
    const int64_t pos = !(scaled < 1e9f) ? (int64_t)1000000000 : (int64_t)scaled;
    return rel < 0 ? -pos : pos;
}

int64_t qf_arch_disentangled_index(const qf_arch *a, int64_t rel)
{
    const int64_t rows = 2 * a->relative_span, idx = qf_arch_disentangled_position(a, rel) + a->relative_span;
    return idx < 0 ? 0 : idx > rows - 1 ? rows - 1 : idx;
}

int64_t qf_arch_layer_weights(const qf_arch *a, int64_t layer)
{
    if (a->weight_layers >= a->num_layers || a->weight_layers < 1) return layer;
    /* transformers: int(i / (num_hidden_layers / num_hidden_groups)), in double */
    int64_t g = (int64_t)((double)layer / ((double)a->num_layers / (double)a->weight_layers));
    return g < 0 ? 0 : g >= a->weight_layers ? a->weight_layers - 1 : g;
}

int64_t qf_arch_max_tokens(const qf_arch *a)
{
    return a->max_positions - (a->position_padding_idx >= 0 ? a->position_padding_idx + 1 : 0);
}

/* ------------------------------------------------------------------------------------------ */
/* config.json                                                                                 */

static bool json_int(json_object *root, const char *key, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(root, key, &v) || !v) return false;
    if (!json_object_is_type(v, json_type_int)) return false;
    *out = json_object_get_int64(v);
    return true;
}

static bool json_str(json_object *root, const char *key, const char **out)
{
    json_object *v;
    if (!json_object_object_get_ex(root, key, &v) || !v || !json_object_is_type(v, json_type_string)) return false;
    *out = json_object_get_string(v);
    return true;
}

static qf_status config_int(json_object *root, const char *key, const char *alt, bool required, int64_t dflt,
                            int64_t *out, qf_error *err)
{
    if (json_int(root, key, out)) return QF_STATUS_OK;
    if (alt && json_int(root, alt, out)) return QF_STATUS_OK;
    if (!required) {
        *out = dflt;
        return QF_STATUS_OK;
    }
    qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, "config.json", -1, key, "config.json lacks integer '%s'%s%s%s", key,
                 alt ? " (or '" : "", alt ? alt : "", alt ? "')" : "");
    qf_error_expected(err, "integer '%s'", key);
    qf_error_found(err, "none");
    return QF_STATUS_NOT_FOUND;
}

static qf_status parse_activation(const char *name, qf_arch_activation *out, qf_error *err)
{
    if (strcmp(name, "gelu") == 0) *out = QF_ARCH_ACTIVATION_GELU;
    else if (strcmp(name, "gelu_new") == 0 || strcmp(name, "gelu_pytorch_tanh") == 0 || strcmp(name, "gelu_fast") == 0)
        *out = QF_ARCH_ACTIVATION_GELU_TANH;
    else if (strcmp(name, "relu") == 0) *out = QF_ARCH_ACTIVATION_RELU;
    else {
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, "config.json", -1, "hidden_act",
                     "unsupported activation '%s'", name);
        qf_error_expected(err, "gelu, gelu_new, gelu_pytorch_tanh, gelu_fast or relu");
        qf_error_found(err, "%s", name);
        return QF_STATUS_UNSUPPORTED;
    }
    return QF_STATUS_OK;
}

static bool config_bool(json_object *root, const char *key, bool dflt)
{
    json_object *v;
    if (!json_object_object_get_ex(root, key, &v) || !v || !json_object_is_type(v, json_type_boolean)) return dflt;
    return json_object_get_boolean(v);
}

static qf_status unsupported_config(qf_error *err, const char *key, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static qf_status unsupported_config(qf_error *err, const char *key, const char *expected, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, "config.json", -1, key, "%s", msg);
    qf_error_expected(err, "%s", expected);
    return QF_STATUS_UNSUPPORTED;
}

/* DeBERTa's pos_att_type: a list of strings (["p2c", "c2p"]) or one string joined by "|"
 * ("p2c|c2p", as DeBERTa-v3's config.json has it); only c2p and p2c exist in DeBERTa-v2. */
static qf_status parse_pos_att_type(json_object *root, qf_arch *a, qf_error *err)
{
    json_object *v;
    if (!json_object_object_get_ex(root, "pos_att_type", &v) || !v) return QF_STATUS_OK;
    const char *items[8];
    size_t n = 0;
    char buf[128];
    if (json_object_is_type(v, json_type_string)) {
        const char *str = json_object_get_string(v);
        if (strlen(str) >= sizeof buf)
            return unsupported_config(err, "pos_att_type", "c2p and / or p2c", "pos_att_type is too long");
        snprintf(buf, sizeof buf, "%s", str);
        for (char *tok = buf, *next; tok && n < 8; tok = next) {
            next = strchr(tok, '|');
            if (next) *next++ = '\0';
            while (*tok == ' ') tok++;
            char *end = tok + strlen(tok);
            while (end > tok && end[-1] == ' ') *--end = '\0';
            if (*tok) items[n++] = tok;
        }
    } else if (json_object_is_type(v, json_type_array)) {
        size_t len = json_object_array_length(v);
        for (size_t i = 0; i < len; i++) {
            json_object *it = json_object_array_get_idx(v, i);
            if (!it || !json_object_is_type(it, json_type_string) || n == 8)
                return unsupported_config(err, "pos_att_type", "c2p and / or p2c", "pos_att_type has an entry that is not one of c2p, p2c");
            items[n++] = json_object_get_string(it);
        }
    } else if (!json_object_is_type(v, json_type_null)) {
        return unsupported_config(err, "pos_att_type", "a list or a \"|\"-joined string", "pos_att_type is neither a list nor a string");
    }
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(items[i], "c2p") == 0) a->c2p = true;
        else if (strcasecmp(items[i], "p2c") == 0) a->p2c = true;
        else {
            /* the error's fields are escaped where they are printed */
            qf_status s = unsupported_config(err, "pos_att_type", "c2p and / or p2c",
                                             "pos_att_type '%.32s' is not supported (DeBERTa-v2 scores c2p and p2c only)",
                                             items[i]);
            qf_error_found(err, "%.32s", items[i]);
            return s;
        }
    }
    return QF_STATUS_OK;
}

/* DeBERTa-v2/v3's disentangled attention, from config.json as DebertaV2Config and the modeling
 * code read it; what qforge does not run (convolution layer, separate position projections,
 * factorised embeddings, a head size of its own) is refused by name. */
static qf_status parse_disentangled(json_object *root, qf_arch *a, qf_error *err)
{
    qf_status s;
    int64_t buckets = -1, max_rel = -1, v = 0;
    a->relative_attention = config_bool(root, "relative_attention", false);
    if ((s = parse_pos_att_type(root, a, err))) return s;
    if ((s = config_int(root, "position_buckets", NULL, false, -1, &buckets, err)) ||
        (s = config_int(root, "max_relative_positions", NULL, false, -1, &max_rel, err)))
        return s;
    if (max_rel < 1) max_rel = a->max_positions;
    a->relative_max_position = max_rel;
    a->relative_span = buckets > 0 ? buckets : max_rel;
    a->relative_log_buckets = buckets > 0;
    a->score_scale_factor = 1 + (a->c2p ? 1 : 0) + (a->p2c ? 1 : 0);
    const char *norm = "none";
    json_str(root, "norm_rel_ebd", &norm);
    a->relative_norm = strstr(norm, "layer_norm") != NULL;
    if (json_int(root, "conv_kernel_size", &v) && v > 0)
        return unsupported_config(err, "conv_kernel_size", "0 (DeBERTa-v3 and the base / large v2 checkpoints)",
                                  "conv_kernel_size = %lld: DeBERTa-v2's convolution layer is not supported",
                                  (long long)v);
    if (a->relative_attention && (a->c2p || a->p2c) && !config_bool(root, "share_att_key", false))
        return unsupported_config(err, "share_att_key", "true (every public DeBERTa-v2/v3 checkpoint)",
                                  "share_att_key false: separate position projections (pos_key_proj, "
                                  "pos_query_proj) are not supported");
    if (json_int(root, "attention_head_size", &v) && v * a->num_heads != a->hidden_size)
        return unsupported_config(err, "attention_head_size", "hidden_size / num_attention_heads",
                                  "attention_head_size = %lld differs from hidden_size / heads", (long long)v);
    if (json_int(root, "embedding_size", &v) && v != a->hidden_size)
        return unsupported_config(err, "embedding_size", "hidden_size",
                                  "embedding_size = %lld: DeBERTa's embedding projection is not supported", (long long)v);
    if (json_int(root, "pooler_hidden_size", &v) && v != a->hidden_size)
        return unsupported_config(err, "pooler_hidden_size", "hidden_size",
                                  "pooler_hidden_size = %lld differs from hidden_size", (long long)v);
    if (a->relative_attention && (a->relative_span < 1 || a->relative_span > QF_MAX_RELATIVE_SPAN)) {
        const char *key = a->relative_log_buckets ? "position_buckets" : "max_relative_positions";
        qf_status st = a->relative_span < 1 ? QF_STATUS_FORMAT : QF_STATUS_LIMIT;
        qf_error_set(err, st, NULL, "config.json", -1, key, "relative span %s = %lld is %s", key,
                     (long long)a->relative_span, a->relative_span < 1 ? "out of range" : "past the limit");
        qf_error_expected(err, "1..%d (QF_MAX_RELATIVE_SPAN)", QF_MAX_RELATIVE_SPAN);
        qf_error_found(err, "%lld", (long long)a->relative_span);
        return st;
    }
    if (a->relative_attention && a->relative_log_buckets && a->relative_max_position > ((int64_t)1 << 24)) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, "max_relative_positions",
                     "max_relative_positions = %lld is out of range", (long long)a->relative_max_position);
        qf_error_expected(err, "..%lld", (long long)1 << 24);
        qf_error_found(err, "%lld", (long long)a->relative_max_position);
        return QF_STATUS_FORMAT;
    }
    /* log buckets divide by log((max - 1) / (span / 2)): a maximum at or below span / 2 + 1 makes
     * that zero or negative (buckets that run backwards), which no trained checkpoint has */
    if (a->relative_attention && a->relative_log_buckets && a->relative_max_position - 1 <= a->relative_span / 2) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, "max_relative_positions",
                     "max relative position %lld leaves no room for log buckets past position_buckets / 2 = %lld",
                     (long long)a->relative_max_position, (long long)(a->relative_span / 2));
        qf_error_expected(err, "> %lld", (long long)(a->relative_span / 2 + 1));
        qf_error_found(err, "%lld", (long long)a->relative_max_position);
        return QF_STATUS_FORMAT;
    }
    return QF_STATUS_OK;
}

static qf_status arch_from_json(json_object *root, qf_arch *a, qf_error *err)
{
    memset(a, 0, sizeof *a);
    const char *mt = NULL;
    if (!json_str(root, "model_type", &mt)) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, "config.json", -1, "model_type", "config.json lacks 'model_type'");
        qf_error_expected(err, "string model_type");
        qf_error_found(err, "none");
        return QF_STATUS_NOT_FOUND;
    }
    snprintf(a->model_type, sizeof a->model_type, "%s", mt);
    const qf_family *fam = qf_family_find(mt);
    if (!fam) {
        char known[256] = "";
        size_t used = 0, total = 0, seen = 0;
        for (size_t i = 0; i < qf_family_count(); i++)
            for (size_t j = 0; j < QF_FAMILY_MAX_MODEL_TYPES && qf_family_at(i)->model_types[j]; j++) total++;
        for (size_t i = 0; i < qf_family_count(); i++)
            for (size_t j = 0; j < QF_FAMILY_MAX_MODEL_TYPES && qf_family_at(i)->model_types[j]; j++, seen++)
                if (used < sizeof known)
                    used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                             seen == 0 ? "" : seen + 1 == total ? " or " : ", ",
                                             qf_family_at(i)->model_types[j]);
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, "config.json", -1, "model_type",
                     "unsupported model_type '%s'", mt);
        qf_error_expected(err, "%s", known);
        qf_error_found(err, "%s", mt);
        return QF_STATUS_UNSUPPORTED;
    }
    a->family = fam->id;
    a->desc = fam;
    qf_status s;
    if ((s = config_int(root, fam->key_hidden_size, fam->alt_hidden_size, true, 0, &a->hidden_size, err))) return s;
    if ((s = config_int(root, fam->key_num_layers, fam->alt_num_layers, true, 0, &a->num_layers, err))) return s;
    if ((s = config_int(root, fam->key_num_heads, fam->alt_num_heads, true, 0, &a->num_heads, err))) return s;
    a->weight_layers = a->num_layers;
    if (fam->key_layer_groups) {
        int64_t inner = 1;
        if ((s = config_int(root, fam->key_layer_groups, NULL, false, 1, &a->weight_layers, err)) ||
            (s = config_int(root, fam->key_inner_groups, NULL, false, 1, &inner, err)))
            return s;
        if (inner != 1) {
            qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, "config.json", -1, fam->key_inner_groups,
                         "%s = %lld: layer groups of more than one layer are not supported", fam->key_inner_groups,
                         (long long)inner);
            qf_error_expected(err, "1 (every public %s checkpoint)", fam->name);
            qf_error_found(err, "%lld", (long long)inner);
            return QF_STATUS_UNSUPPORTED;
        }
    }
    if ((s = config_int(root, fam->key_intermediate_size, fam->alt_intermediate_size, true, 0, &a->intermediate_size,
                        err)))
        return s;
    if ((s = config_int(root, "max_position_embeddings", NULL, false, 512, &a->max_positions, err))) return s;
    if ((s = config_int(root, "vocab_size", NULL, false, 0, &a->vocab_size, err))) return s;
    a->type_vocab_size = 0;
    if (fam->token_types &&
        (s = config_int(root, "type_vocab_size", NULL, false, fam->default_type_vocab_size, &a->type_vocab_size, err)))
        return s;
    a->absolute_positions = !fam->key_absolute_positions || config_bool(root, fam->key_absolute_positions, true);
    a->score_scale_factor = 1;
    json_object *pv;
    if (json_object_object_get_ex(root, "pad_token_id", &pv) && pv && json_object_is_type(pv, json_type_int))
        a->pad_token_id = json_object_get_int64(pv);
    else
        a->pad_token_id = fam->default_pad_token_id;
    a->position_padding_idx = fam->positions != QF_ARCH_POSITIONS_AFTER_PADDING ? -1
                              : fam->fixed_padding_idx >= 0                   ? fam->fixed_padding_idx
                                                                              : a->pad_token_id;
    if (fam->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS &&
        (s = config_int(root, fam->key_relative_table_rows, NULL, false, fam->relative_buckets,
                        &a->relative_table_rows, err)))
        return s;
    a->embedding_size = a->hidden_size;
    if (fam->key_embedding_size &&
        (s = config_int(root, fam->key_embedding_size, NULL, false, a->hidden_size, &a->embedding_size, err)))
        return s;

    const char *act = fam->default_activation ? fam->default_activation : "gelu";
    if (!json_str(root, fam->key_activation, &act)) act = fam->default_activation ? fam->default_activation : "gelu";
    if ((s = parse_activation(act, &a->activation, err))) return s;
    a->head_activation = fam->head_activation;
    const char *head_act = NULL;
    if (fam->key_head_activation && json_str(root, fam->key_head_activation, &head_act)) {
        if (strcmp(head_act, "tanh") == 0) a->head_activation = QF_ARCH_ACTIVATION_TANH;
        else if ((s = parse_activation(head_act, &a->head_activation, err))) {
            if (err) snprintf(err->object, sizeof err->object, "%s", fam->key_head_activation);
            return s;
        }
    }
    if (fam->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && (s = parse_disentangled(root, a, err))) return s;

    a->layer_norm_eps = 1e-12f;
    json_object *ev;
    if (fam->layer_norm_eps_in_config && json_object_object_get_ex(root, "layer_norm_eps", &ev) && ev &&
        (json_object_is_type(ev, json_type_double) || json_object_is_type(ev, json_type_int)))
        a->layer_norm_eps = (float)json_object_get_double(ev);

    json_object *labels;
    if (json_object_object_get_ex(root, "id2label", &labels) && labels && json_object_is_type(labels, json_type_object))
        a->num_labels = json_object_object_length(labels);
    else if (!json_int(root, "num_labels", &a->num_labels))
        a->num_labels = 0;
    const char *pt = NULL;
    if (json_str(root, "problem_type", &pt)) snprintf(a->problem_type, sizeof a->problem_type, "%s", pt);
    /* what the logits mean; one label is decided again once the head's rows are known */
    a->score = strcmp(a->problem_type, "multi_label_classification") == 0 ? QF_ARCH_SCORE_MULTI_LABEL
               : strcmp(a->problem_type, "regression") == 0           ? QF_ARCH_SCORE_IDENTITY
                                                                      : QF_ARCH_SCORE_CLASS;
    a->one_label_score = one_label_score(root);
    json_object *archs, *first;
    if (json_object_object_get_ex(root, "architectures", &archs) && archs && json_object_is_type(archs, json_type_array) &&
        json_object_array_length(archs) > 0 && (first = json_object_array_get_idx(archs, 0)) &&
        json_object_is_type(first, json_type_string)) {
        snprintf(a->architecture, sizeof a->architecture, "%s", json_object_get_string(first));
        /* a class whose head qforge does not serve (masked LM, pre-training, multiple choice, ...)
         * leaves its head tensors out: a multiple-choice classifier.weight read as a one-label
         * sequence head would be a wrong answer */
        a->head_declared = true;
        if (!head_from_architecture(a->architecture, &a->declared_head)) a->declared_head = QF_ARCH_HEAD_NONE;
    }

    const int64_t big = (int64_t)1 << 24;
    struct {
        const char *name;
        int64_t v;
        int64_t lo;
    } checks[] = {{"hidden_size", a->hidden_size, 1},       {"num_hidden_layers", a->num_layers, 1},
                  {fam->key_layer_groups ? fam->key_layer_groups : "num_hidden_layers", a->weight_layers, 1},
                  {"num_attention_heads", a->num_heads, 1}, {"intermediate_size", a->intermediate_size, 1},
                  {"embedding_size", a->embedding_size, 1}, {"max_position_embeddings", a->max_positions, 1},
                  {"type_vocab_size", a->type_vocab_size, 0}, {"vocab_size", a->vocab_size, 0},
                  {"num_labels", a->num_labels, 0},
                  {fam->key_relative_table_rows ? fam->key_relative_table_rows : "relative_table_rows",
                   a->relative_table_rows, fam->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS
                                               ? fam->relative_buckets : 0}};
    for (size_t i = 0; i < COUNT_OF(checks); i++) {
        if (checks[i].v < checks[i].lo || checks[i].v > big) {
            qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, checks[i].name, "config '%s' = %lld is out of range",
                         checks[i].name, (long long)checks[i].v);
            qf_error_expected(err, "%lld..%lld", (long long)checks[i].lo, (long long)big);
            qf_error_found(err, "%lld", (long long)checks[i].v);
            return QF_STATUS_FORMAT;
        }
    }
    if (a->hidden_size % a->num_heads != 0) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, "num_attention_heads",
                     "hidden size %lld is not a multiple of %lld heads", (long long)a->hidden_size, (long long)a->num_heads);
        qf_error_expected(err, "a divisor of %lld", (long long)a->hidden_size);
        qf_error_found(err, "%lld", (long long)a->num_heads);
        return QF_STATUS_FORMAT;
    }
    if (!(a->layer_norm_eps >= 0.0f) || !isfinite(a->layer_norm_eps)) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, "layer_norm_eps", "layer_norm_eps is not a finite value >= 0");
        return QF_STATUS_FORMAT;
    }
    if (a->weight_layers > a->num_layers) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", -1, fam->key_layer_groups,
                     "%lld weight groups for %lld layers", (long long)a->weight_layers, (long long)a->num_layers);
        qf_error_expected(err, "1..%lld", (long long)a->num_layers);
        qf_error_found(err, "%lld", (long long)a->weight_layers);
        return QF_STATUS_FORMAT;
    }
    a->has_project = a->embedding_size != a->hidden_size || fam->always_project;
    return QF_STATUS_OK;
}

qf_status qf_arch_from_config(const char *config_json, qf_arch *out, qf_error *err)
{
    if (!config_json)
        return qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, "config.json", -1, NULL,
                            "no config.json: the architecture cannot be recognised without it");
    json_tokener *tok = json_tokener_new();
    if (!tok) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    size_t len = strlen(config_json);
    json_object *root = len <= QF_MAX_CONFIG_JSON ? json_tokener_parse_ex(tok, config_json, (int)len) : NULL;
    if (!root || !json_object_is_type(root, json_type_object)) {
        int64_t off = (int64_t)json_tokener_get_parse_end(tok);
        json_object_put(root);
        json_tokener_free(tok);
        return qf_error_set(err, QF_STATUS_FORMAT, NULL, "config.json", off, NULL, "config.json is not a JSON object");
    }
    json_tokener_free(tok);
    qf_status s = arch_from_json(root, out, err);
    json_object_put(root);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                       */

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Leaf after the infix: weight / bias, with TF-era LayerNorm gamma / beta accepted. */
static const char *leaf_name(const char *leaf)
{
    if (strcmp(leaf, "weight") == 0 || strcmp(leaf, "gamma") == 0) return "weight";
    if (strcmp(leaf, "bias") == 0 || strcmp(leaf, "beta") == 0) return "bias";
    return NULL;
}

static bool map_pairs(const name_pair *pairs, size_t n, const char *name, const char *dst_prefix, char *out,
                      size_t out_size)
{
    for (size_t i = 0; i < n; i++) {
        if (!starts_with(name, pairs[i].source)) continue;
        const char *leaf = leaf_name(name + strlen(pairs[i].source));
        if (!leaf) return false;
        int w = snprintf(out, out_size, "%s%s%s", dst_prefix, pairs[i].canonical, leaf);
        return w > 0 && (size_t)w < out_size;
    }
    return false;
}

/* Parses "<layer_root>{i}." at the start of name; returns the rest or NULL. */
static const char *layer_rest(const char *name, const char *layer_root, long *index)
{
    if (!starts_with(name, layer_root)) return NULL;
    const char *p = name + strlen(layer_root);
    if (*p < '0' || *p > '9') return NULL;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > 100000000L) return NULL;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (*p != '.') return NULL;
    *index = v;
    return p + 1;
}

/* The head tensors' names for the head config.json declares (the sequence head's when it declares
 * none: the tensors decide, as for a config without "architectures"). */
static const qf_family_name *head_names(const qf_arch *a, size_t *count)
{
    const qf_family *fam = a->desc;
    if (a->head_declared) switch (a->declared_head) {
        case QF_ARCH_HEAD_TOKEN_CLASSIFICATION: *count = fam->token_head_name_count; return fam->token_head_names;
        case QF_ARCH_HEAD_QUESTION_ANSWERING: *count = fam->qa_head_name_count; return fam->qa_head_names;
        case QF_ARCH_HEAD_NONE: *count = 0; return NULL;
        default: break;
        }
    *count = fam->head_name_count;
    return fam->head_names;
}

/* Source (Hugging Face) base name -> canonical name; false when it is not an encoder tensor. */
static bool canonical_from_source(const qf_arch *a, const char *name, char *out, size_t out_size)
{
    const qf_family *fam = a->desc;
    if (!fam) return false;
    const char *pre = fam->prefix;
    const char *n = starts_with(name, pre) ? name + strlen(pre) : name;
    if (map_pairs(k_embed_names, COUNT_OF(k_embed_names), n, "", out, out_size)) return true;
    if (map_pairs(fam->encoder_names, fam->encoder_name_count, n, "", out, out_size)) return true;
    long li;
    const char *rest;
    if ((rest = layer_rest(n, fam->layer_root, &li))) {
        char pfx[48];
        snprintf(pfx, sizeof pfx, "layers.%ld.", li);
        return map_pairs(fam->layer_names, fam->layer_name_count, rest, pfx, out, out_size);
    }
    if (n != name) return false; /* heads are never under the family prefix */
    size_t count;
    const qf_family_name *head = head_names(a, &count);
    return map_pairs(head, count, name, "", out, out_size);
}

/* Canonical name -> the name Hugging Face writes (with the family prefix), for error messages. */
static void source_from_canonical(const qf_arch *a, const char *canon, char *out, size_t out_size)
{
    snprintf(out, out_size, "?");
    const qf_family *fam = a->desc;
    const char *pre = fam ? fam->prefix : "";
    const char *leaf = strrchr(canon, '.');
    if (!leaf) return;
    leaf++;
    size_t stem_len = (size_t)(leaf - canon);
    /* the family's own names first (ALBERT's projection and pooler have canonical names that
     * other families spell otherwise) */
    for (size_t i = 0; fam && i < fam->encoder_name_count; i++)
        if (strlen(fam->encoder_names[i].canonical) == stem_len &&
            strncmp(canon, fam->encoder_names[i].canonical, stem_len) == 0) {
            snprintf(out, out_size, "%s%s%s", pre, fam->encoder_names[i].source, leaf);
            return;
        }
    for (size_t i = 0; i < COUNT_OF(k_embed_names); i++)
        if (strlen(k_embed_names[i].canonical) == stem_len && strncmp(canon, k_embed_names[i].canonical, stem_len) == 0) {
            snprintf(out, out_size, "%s%s%s", pre, k_embed_names[i].source, leaf);
            return;
        }
    if (!fam) return;
    long li;
    const char *rest = layer_rest(canon, "layers.", &li);
    if (rest) {
        size_t rl = strlen(rest) - strlen(leaf);
        for (size_t i = 0; i < fam->layer_name_count; i++)
            if (strlen(fam->layer_names[i].canonical) == rl && strncmp(rest, fam->layer_names[i].canonical, rl) == 0) {
                snprintf(out, out_size, "%s%s%ld.%s%s", pre, fam->layer_root, li, fam->layer_names[i].source, leaf);
                return;
            }
        return;
    }
    size_t count;
    const qf_family_name *head = head_names(a, &count);
    for (size_t i = 0; i < count; i++)
        if (strlen(head[i].canonical) == stem_len && strncmp(canon, head[i].canonical, stem_len) == 0) {
            snprintf(out, out_size, "%s%s", head[i].source, leaf);
            return;
        }
}

/* True when `name` is one of the canonical names (already mapped). */
static bool is_canonical(const char *name)
{
    static const char *const fixed[] = {
        QF_SLOT_WORD_EMBEDDING ".weight",       QF_SLOT_POSITION_EMBEDDING ".weight",
        QF_SLOT_TOKEN_TYPE_EMBEDDING ".weight", QF_SLOT_EMBEDDING_NORM ".weight",
        QF_SLOT_EMBEDDING_NORM ".bias",         QF_SLOT_EMBEDDING_PROJECTION ".weight",
        QF_SLOT_EMBEDDING_PROJECTION ".bias",   QF_SLOT_POOLER ".weight",
        QF_SLOT_POOLER ".bias",                 QF_SLOT_HEAD_DENSE ".weight",
        QF_SLOT_HEAD_DENSE ".bias",             QF_SLOT_HEAD_OUT ".weight",
        QF_SLOT_HEAD_OUT ".bias",               QF_SLOT_RELATIVE_BIAS ".weight",
        QF_SLOT_RELATIVE_EMBEDDING ".weight",   QF_SLOT_RELATIVE_NORM ".weight",
        QF_SLOT_RELATIVE_NORM ".bias"};
    for (size_t i = 0; i < COUNT_OF(fixed); i++)
        if (strcmp(name, fixed[i]) == 0) return true;
    long li;
    const char *rest = layer_rest(name, "layers.", &li);
    if (!rest) return false;
    for (size_t i = 0; i < COUNT_OF(k_layer_slots); i++) {
        const char *d = k_layer_slots[i];
        size_t dl = strlen(d);
        if (strncmp(rest, d, dl) == 0 && rest[dl] == '.') {
            const char *leaf = rest + dl + 1;
            return strcmp(leaf, "weight") == 0 || strcmp(leaf, "bias") == 0;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Shape checks                                                                                */

static bool is_float_dtype(qf_dtype t)
{
    return t == QF_DTYPE_F32 || t == QF_DTYPE_F16 || t == QF_DTYPE_BF16 || t == QF_DTYPE_F64;
}

static void shape_text(const qf_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < t->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (used < size) snprintf(buf + used, size - used, "] %s", qf_dtype_name(t->dtype));
}

/*
 * Checks the tensor `canon`: present (when required), rank 1 [d0] or rank 2 [d0, d1], float, or
 * int8 with a symmetric scheme and an f32 scale tensor of [d0] or [1] values.
 */
static qf_status check_slot(const qf_model *m, const qf_arch *a, const char *canon, bool required, int rank,
                            int64_t d0, int64_t d1, bool *present, qf_error *err)
{
    const qf_tensor *t = qf_model_find(m, canon, NULL);
    if (present) *present = t != NULL;
    char src[QF_MAX_NAME_LEN];
    source_from_canonical(a, canon, src, sizeof src);
    char want[64];
    if (rank == 1) snprintf(want, sizeof want, "[%lld] float", (long long)d0);
    else snprintf(want, sizeof want, "[%lld, %lld] float or int8", (long long)d0, (long long)d1);
    if (!t) {
        if (!required) return QF_STATUS_OK;
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, canon, "%s model lacks tensor '%s' (source name '%s')",
                     qf_arch_family_name(a->family), canon, src);
        qf_error_expected(err, "%s", want);
        qf_error_found(err, "none");
        return QF_STATUS_NOT_FOUND;
    }
    bool ok = t->rank == rank && t->shape[0] == d0 && (rank == 1 || t->shape[1] == d1);
    bool dtype_ok = is_float_dtype(t->dtype) && t->quant.scheme == QF_QUANT_NONE;
    if (rank == 2 && t->dtype == QF_DTYPE_I8 &&
        (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL || t->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR) &&
        t->quant.axis == 0 && t->quant.scale_name) {
        const qf_tensor *sc = qf_model_find(m, t->quant.scale_name, NULL);
        int64_t want_n = t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL ? d0 : 1;
        if (!sc || sc->dtype != QF_DTYPE_F32 || sc->rank != 1 || sc->shape[0] != want_n) {
            char found[96] = "none";
            if (sc) shape_text(sc, found, sizeof found);
            qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, t->quant.scale_name,
                         "scale tensor '%s' of '%s' (source '%s') is missing or misshapen", t->quant.scale_name, canon,
                         t->source_name);
            qf_error_expected(err, "[%lld] f32", (long long)want_n);
            qf_error_found(err, "%s", found);
            return QF_STATUS_SHAPE;
        }
        dtype_ok = true;
    }
    if (!ok || !dtype_ok) {
        char found[96];
        shape_text(t, found, sizeof found);
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, canon, "tensor '%s' (source '%s') has shape %s, expected %s",
                     canon, t->source_name, found, want);
        qf_error_expected(err, "%s", want);
        qf_error_found(err, "%s", found);
        return QF_STATUS_SHAPE;
    }
    return QF_STATUS_OK;
}

static qf_status check_linear(const qf_model *m, const qf_arch *a, const char *stem, bool required, int64_t out_dim,
                              int64_t in_dim, bool *present, qf_error *err)
{
    char w[128], b[128];
    snprintf(w, sizeof w, "%s.weight", stem);
    snprintf(b, sizeof b, "%s.bias", stem);
    bool have = false;
    qf_status s = check_slot(m, a, w, required, 2, out_dim, in_dim, &have, err);
    if (!s && have) s = check_slot(m, a, b, true, 1, out_dim, 0, NULL, err);
    if (present) *present = have;
    return s;
}

static qf_status check_norm(const qf_model *m, const qf_arch *a, const char *stem, int64_t dim, qf_error *err)
{
    char w[128], b[128];
    snprintf(w, sizeof w, "%s.weight", stem);
    snprintf(b, sizeof b, "%s.bias", stem);
    qf_status s = check_slot(m, a, w, true, 1, dim, 0, NULL, err);
    if (!s) s = check_slot(m, a, b, true, 1, dim, 0, NULL, err);
    return s;
}

static qf_status check_rows_match(const char *what, const char *tensor, int64_t config_value, int64_t tensor_rows,
                                  qf_error *err)
{
    if (config_value == tensor_rows) return QF_STATUS_OK;
    qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, tensor, "config %s = %lld but '%s' has %lld rows", what,
                 (long long)config_value, tensor, (long long)tensor_rows);
    qf_error_expected(err, "%lld rows", (long long)config_value);
    qf_error_found(err, "%lld rows", (long long)tensor_rows);
    return QF_STATUS_SHAPE;
}

/* The relative-position table: float [config's rows, heads], read as float (never int8: its
 * values are added to the scores). */
static qf_status check_relative_table(const qf_model *m, const qf_arch *a, qf_error *err)
{
    const char *name = QF_SLOT_RELATIVE_BIAS ".weight";
    qf_status s = check_slot(m, a, name, true, 2, a->relative_table_rows, a->num_heads, NULL, err);
    if (s) return s;
    const qf_tensor *t = qf_model_find(m, name, NULL);
    if (is_float_dtype(t->dtype)) return QF_STATUS_OK;
    char found[96];
    shape_text(t, found, sizeof found);
    qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "relative-position table '%s' (source '%s') is not float",
                 name, t->source_name);
    qf_error_expected(err, "[%lld, %lld] float", (long long)a->relative_table_rows, (long long)a->num_heads);
    qf_error_found(err, "%s", found);
    return QF_STATUS_SHAPE;
}

/* DeBERTa's relative-position embeddings: float [rows, hidden] with at least the 2 * span rows the
 * attention indexes (transformers uses the first 2 * span), and their LayerNorm when configured. */
static qf_status check_relative_embeddings(const qf_model *m, const qf_arch *a, qf_error *err)
{
    const char *name = QF_SLOT_RELATIVE_EMBEDDING ".weight";
    const qf_tensor *t = qf_model_find(m, name, NULL);
    const int64_t need = 2 * a->relative_span;
    int64_t rows = t && t->rank == 2 ? t->shape[0] : need;
    qf_status s = check_slot(m, a, name, true, 2, rows, a->hidden_size, NULL, err);
    if (s) return s;
    if (!is_float_dtype(t->dtype) || rows < need) {
        char found[96];
        shape_text(t, found, sizeof found);
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name,
                     "relative-position embeddings '%s' (source '%s') have shape %s; the attention indexes %lld "
                     "float rows (2 * %s)",
                     name, t->source_name, found, (long long)need,
                     a->relative_log_buckets ? "position_buckets" : "max_relative_positions");
        qf_error_expected(err, "[>= %lld, %lld] float", (long long)need, (long long)a->hidden_size);
        qf_error_found(err, "%s", found);
        return QF_STATUS_SHAPE;
    }
    return a->relative_norm ? check_norm(m, a, QF_SLOT_RELATIVE_NORM, a->hidden_size, err) : QF_STATUS_OK;
}

static qf_status validate(const qf_model *m, qf_arch *a, qf_error *err)
{
    const int64_t E = a->embedding_size, H = a->hidden_size, I = a->intermediate_size;
    const qf_tensor *word = qf_model_find(m, "embeddings.word.weight", NULL);
    const qf_tensor *pos = qf_model_find(m, "embeddings.position.weight", NULL);
    int64_t V = word && word->rank == 2 ? word->shape[0] : (a->vocab_size ? a->vocab_size : 1);
    int64_t P = pos && pos->rank == 2 ? pos->shape[0] : a->max_positions;
    qf_status s = check_slot(m, a, "embeddings.word.weight", true, 2, V, E, NULL, err);
    if (!s && a->vocab_size) s = check_rows_match("vocab_size", "embeddings.word.weight", a->vocab_size, V, err);
    if (!s && a->absolute_positions) {
        s = check_slot(m, a, "embeddings.position.weight", true, 2, P, E, NULL, err);
        if (!s) s = check_rows_match("max_position_embeddings", "embeddings.position.weight", a->max_positions, P, err);
    } else {
        P = a->max_positions; /* no table: config's length limit stands */
    }
    if (!s && a->type_vocab_size > 0)
        s = check_slot(m, a, "embeddings.token_type.weight", true, 2, a->type_vocab_size, E, NULL, err);
    if (!s) s = check_norm(m, a, "embeddings.norm", E, err);
    if (!s && a->has_project) s = check_linear(m, a, "embeddings.project", true, H, E, NULL, err);
    if (!s && a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS)
        s = check_relative_table(m, a, err);
    if (!s && a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && a->relative_attention)
        s = check_relative_embeddings(m, a, err);
    for (int64_t l = 0; !s && l < a->weight_layers; l++) {
        char stem[64];
        static const char *const hh[] = {"attn.q", "attn.k", "attn.v", "attn.out"};
        for (size_t j = 0; !s && j < 4; j++) {
            snprintf(stem, sizeof stem, "layers.%lld.%s", (long long)l, hh[j]);
            s = check_linear(m, a, stem, true, H, H, NULL, err);
        }
        snprintf(stem, sizeof stem, "layers.%lld.attn.norm", (long long)l);
        if (!s) s = check_norm(m, a, stem, H, err);
        snprintf(stem, sizeof stem, "layers.%lld.ffn.up", (long long)l);
        if (!s) s = check_linear(m, a, stem, true, I, H, NULL, err);
        snprintf(stem, sizeof stem, "layers.%lld.ffn.down", (long long)l);
        if (!s) s = check_linear(m, a, stem, true, H, I, NULL, err);
        snprintf(stem, sizeof stem, "layers.%lld.ffn.norm", (long long)l);
        if (!s) s = check_norm(m, a, stem, H, err);
    }
    if (s) return s;
    a->vocab_size = V;
    a->max_positions = P;

    /* Head: the one config.json's architectures names, whose tensors must then be there; without
     * such a name, a sequence head when head.out.weight is present. Its rows must agree with
     * config's labels (question answering: 2, start and end). */
    const qf_tensor *out = qf_model_find(m, QF_SLOT_HEAD_OUT ".weight", NULL);
    a->head = QF_ARCH_HEAD_NONE;
    s = check_linear(m, a, QF_SLOT_POOLER, false, H, H, &a->has_pooler, err);
    if (s) return s;
    qf_arch_head head = a->head_declared ? a->declared_head : out ? QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION : QF_ARCH_HEAD_NONE;
    if (head == QF_ARCH_HEAD_NONE) {
        a->num_labels = 0;
        return QF_STATUS_OK;
    }
    if (!out) {
        char src[QF_MAX_NAME_LEN];
        source_from_canonical(a, QF_SLOT_HEAD_OUT ".weight", src, sizeof src);
        qf_error_set(err, QF_STATUS_NOT_FOUND, NULL, NULL, -1, QF_SLOT_HEAD_OUT ".weight",
                     "config.json names %s (a %s head), but the checkpoint lacks its tensor '%s'", a->architecture,
                     qf_arch_head_name(head), src);
        qf_error_expected(err, "tensor '%s' of the %s head", src, qf_arch_head_name(head));
        qf_error_found(err, "none");
        return QF_STATUS_NOT_FOUND;
    }
    int64_t L = out->rank == 2 ? out->shape[0] : 0;
    if (head == QF_ARCH_HEAD_QUESTION_ANSWERING) {
        if ((s = check_linear(m, a, QF_SLOT_HEAD_OUT, true, 2, H, NULL, err))) return s;
    } else if (a->num_labels > 0 &&
               (s = check_rows_match("num_labels (id2label)", QF_SLOT_HEAD_OUT ".weight", a->num_labels, L, err))) {
        return s;
    }
    if ((s = check_linear(m, a, QF_SLOT_HEAD_OUT, true, L, H, NULL, err))) return s;
    a->num_labels = L;
    a->head = head;
    if (L == 1 && a->score == QF_ARCH_SCORE_CLASS) a->score = a->one_label_score;
    if (head != QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) return QF_STATUS_OK;
    return check_linear(m, a, a->desc->head_dense, true, H, H, NULL, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Mapping                                                                                     */

/*
 * Keras / Hugging Face TF weight name -> the PyTorch name, as transformers' own
 * convert_tf_weight_name_to_pt_weight_name does: drop ":0", "_._" -> "/", drop empty segments and
 * the model-name segment ("tf_bert_for_sequence_classification"), kernel / embeddings / gamma ->
 * weight, beta -> bias, join with ".". *transpose is true for kernels (Keras stores [in, out]).
 * False when `name` has no "/" (not a TF name).
 */
static bool pt_name_from_tf(const char *name, char *out, size_t out_size, bool *transpose)
{
    if (!strchr(name, '/')) return false;
    char buf[QF_MAX_NAME_LEN + 1];
    size_t n = strlen(name);
    if (n >= sizeof buf) return false;
    memcpy(buf, name, n + 1);
    char *colon = strrchr(buf, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) *colon = '\0';
    for (char *p = strstr(buf, "_._"); p; p = strstr(p, "_._")) {
        *p = '/';
        memmove(p + 1, p + 3, strlen(p + 3) + 1);
    }
    const char *seg[256];
    size_t nseg = 0;
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, '/');
        if (next) *next++ = '\0';
        if (!*tok) continue;
        char *scoped = strstr(tok, "___");
        if (nseg == 256) return false;
        seg[nseg++] = scoped ? scoped + 3 : tok;
    }
    if (nseg < 2) return false;
    const char *last = seg[nseg - 1];
    *transpose = strcmp(last, "kernel") == 0;
    if (*transpose || strcmp(last, "embeddings") == 0 || strcmp(last, "gamma") == 0) last = "weight";
    else if (strcmp(last, "beta") == 0) last = "bias";
    size_t used = 0;
    for (size_t i = 1; i < nseg; i++) {
        int w = snprintf(out + used, out_size - used, "%s%s", i > 1 ? "." : "", i + 1 == nseg ? last : seg[i]);
        if (w < 0 || (size_t)w >= out_size - used) return false;
        used += (size_t)w;
    }
    return true;
}

/* [rows, cols] -> [cols, rows] into model memory (the one copy a Keras kernel costs). */
static qf_status transpose_tensor(qf_model *m, size_t index, qf_error *err)
{
    const qf_tensor *t = qf_model_tensor(m, index);
    size_t es = qf_dtype_size(t->dtype);
    int64_t rows = t->shape[0], cols = t->shape[1];
    void *dst = NULL;
    qf_status s = qf_model_alloc(m, t->nbytes, &dst, err);
    if (s) return s;
    const uint8_t *src = t->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            memcpy((uint8_t *)dst + ((size_t)c * (size_t)rows + (size_t)r) * es,
                   src + ((size_t)r * (size_t)cols + (size_t)c) * es, es);
    int64_t shape[2] = {cols, rows};
    return qf_model_set_tensor_data(m, index, 2, shape, dst, t->nbytes, err);
}

/* Canonical name for tensor name `name` (which may carry a "::suffix"), or false. *keras_kernel
 * (may be NULL) is set when the source is a Keras kernel stored [in, out]. */
static bool target_name_tf(const qf_arch *a, const char *name, char *out, size_t out_size, bool *keras_kernel)
{
    char base[QF_MAX_NAME_LEN + 1];
    const char *sep = strstr(name, "::");
    size_t blen = sep ? (size_t)(sep - name) : strlen(name);
    if (blen >= sizeof base) return false;
    memcpy(base, name, blen);
    base[blen] = '\0';
    char mapped[QF_MAX_NAME_LEN + 1], pt[QF_MAX_NAME_LEN + 1];
    bool transpose = false;
    if (keras_kernel) *keras_kernel = false;
    if (is_canonical(base)) snprintf(mapped, sizeof mapped, "%s", base);
    else if (pt_name_from_tf(base, pt, sizeof pt, &transpose)) {
        if (!canonical_from_source(a, pt, mapped, sizeof mapped)) return false;
        if (keras_kernel) *keras_kernel = transpose;
    } else if (!canonical_from_source(a, base, mapped, sizeof mapped)) return false;
    int w = snprintf(out, out_size, "%s%s", mapped, sep ? sep : "");
    return w > 0 && (size_t)w < out_size;
}

static bool target_name(const qf_arch *a, const char *name, char *out, size_t out_size)
{
    return target_name_tf(a, name, out, out_size, NULL);
}

static qf_status set_meta_int(qf_model *m, const char *key, int64_t v, qf_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return qf_model_set_meta(m, key, buf, err);
}

static const char *head_name(const qf_arch *a)
{
    /* a sequence head is recorded by the family's name for it ("bert", "roberta", ...) */
    return a->head == QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION ? a->desc->head_kind : qf_arch_head_name(a->head);
}

static qf_status record_meta(qf_model *m, const qf_arch *a, const char *ignored, qf_error *err)
{
    char eps[32];
    snprintf(eps, sizeof eps, "%.9g", (double)a->layer_norm_eps);
    qf_status s = qf_model_set_meta(m, "arch.family", qf_arch_family_name(a->family), err);
    if (!s) s = qf_model_set_meta(m, "arch.model_type", a->model_type, err);
    if (!s) s = set_meta_int(m, "arch.hidden_size", a->hidden_size, err);
    if (!s) s = set_meta_int(m, "arch.num_layers", a->num_layers, err);
    if (!s && a->weight_layers != a->num_layers) s = set_meta_int(m, "arch.weight_layers", a->weight_layers, err);
    if (!s) s = set_meta_int(m, "arch.num_heads", a->num_heads, err);
    if (!s) s = set_meta_int(m, "arch.intermediate_size", a->intermediate_size, err);
    if (!s) s = set_meta_int(m, "arch.embedding_size", a->embedding_size, err);
    if (!s) s = set_meta_int(m, "arch.max_positions", a->max_positions, err);
    if (!s) s = set_meta_int(m, "arch.num_labels", a->num_labels, err);
    if (!s) s = qf_model_set_meta(m, "arch.activation", qf_arch_activation_name(a->activation), err);
    if (!s) s = qf_model_set_meta(m, "arch.layer_norm_eps", eps, err);
    if (!s) s = qf_model_set_meta(m, "arch.head", head_name(a), err);
    /* recorded only when the mapping left tensors out (an empty value told a reader nothing) */
    if (!s && ignored && ignored[0]) s = qf_model_set_meta(m, "arch.ignored", ignored, err);
    return s;
}

qf_status qf_arch_map(qf_model *m, qf_arch *out, qf_error *err)
{
    if (!m) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_arch_map: model is NULL");
    qf_arch a;
    qf_status s = qf_arch_from_config(qf_model_config_json(m), &a, err);
    if (s) return s;

    size_t n = qf_model_tensor_count(m);
    char name[QF_MAX_NAME_LEN + 1];
    char *ignored = NULL;
    size_t ignored_len = 0, ignored_cap = 0;
    for (size_t i = 0; i < n; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        bool keras_kernel = false;
        if (!target_name_tf(&a, t->name, name, sizeof name, &keras_kernel)) {
            size_t k = strlen(t->name);
            if (ignored_len + k + 2 > QF_MAX_META_VALUE_LEN) continue; /* list truncated at the metadata cap */
            if (ignored_len + k + 2 > ignored_cap) {
                size_t cap = ignored_cap ? ignored_cap * 2 : 256;
                while (cap < ignored_len + k + 2) cap *= 2;
                char *p = realloc(ignored, cap);
                if (!p) {
                    free(ignored);
                    return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
                }
                ignored = p;
                ignored_cap = cap;
            }
            if (ignored_len) ignored[ignored_len++] = ',';
            memcpy(ignored + ignored_len, t->name, k);
            ignored_len += k;
            ignored[ignored_len] = '\0';
            continue;
        }
        long li;
        const char *rest = layer_rest(name, "layers.", &li);
        if (rest && li >= a.weight_layers) {
            free(ignored);
            qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, t->name,
                         "tensor '%s' belongs to layer %ld but config has %lld layers%s", t->name, li,
                         (long long)a.weight_layers, a.weight_layers < a.num_layers ? " of weights" : "");
            qf_error_expected(err, "layer < %lld", (long long)a.weight_layers);
            qf_error_found(err, "layer %ld", li);
            return QF_STATUS_SHAPE;
        }
        if (strcmp(name, t->name) != 0 && (s = qf_model_rename_tensor(m, i, name, err))) {
            free(ignored);
            return s;
        }
        if (keras_kernel && t->rank == 2 && is_float_dtype(t->dtype) && t->quant.scheme == QF_QUANT_NONE &&
            (s = transpose_tensor(m, i, err))) {
            free(ignored);
            return s;
        }
    }
    /* Quantized weights name their scale tensors: follow the rename. */
    for (size_t i = 0; i < n; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        const char *names[2] = {t->quant.scale_name, t->quant.zero_point_name};
        char mapped[2][QF_MAX_NAME_LEN + 1];
        bool change = false;
        for (int j = 0; j < 2; j++) {
            if (!names[j]) continue;
            if (target_name(&a, names[j], mapped[j], sizeof mapped[j]) && strcmp(mapped[j], names[j]) != 0)
                change = true;
            else
                snprintf(mapped[j], sizeof mapped[j], "%s", names[j]);
        }
        if (change && (s = qf_model_set_quant(m, i, t->quant.scheme, t->quant.axis, names[0] ? mapped[0] : NULL,
                                              names[1] ? mapped[1] : NULL, err))) {
            free(ignored);
            return s;
        }
    }
    s = validate(m, &a, err);
    if (!s) s = record_meta(m, &a, ignored ? ignored : "", err);
    free(ignored);
    if (s) return s;
    if (out) *out = a;
    return QF_STATUS_OK;
}

qf_status qf_arch_of(const qf_model *m, qf_arch *out, qf_error *err)
{
    if (!m) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_arch_of: model is NULL");
    qf_arch a;
    qf_status s = qf_arch_from_config(qf_model_config_json(m), &a, err);
    if (s) return s;
    /* a sentence-transformers CrossEncoder folder's activation (readers/sentence_pipeline.c) is
     * the one its scores take, over config.json's */
    const char *fn = qf_model_get_meta(m, "pipeline.activation_fn");
    if (fn && strcmp(fn, "identity") == 0) a.one_label_score = QF_ARCH_SCORE_IDENTITY;
    if (fn && strcmp(fn, "sigmoid") == 0) a.one_label_score = QF_ARCH_SCORE_SIGMOID;
    char name[QF_MAX_NAME_LEN + 1];
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        bool keras_kernel = false;
        if (target_name_tf(&a, t->name, name, sizeof name, &keras_kernel) &&
            (strcmp(name, t->name) != 0 || keras_kernel)) {
            qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name,
                         "the model is not mapped to canonical slots: tensor '%s' still has its source name "
                         "(qf_arch_map, once after reading)",
                         t->name);
            return QF_STATUS_INVALID_ARGUMENT;
        }
    }
    if ((s = validate(m, &a, err))) return s;
    if (out) *out = a;
    return QF_STATUS_OK;
}
