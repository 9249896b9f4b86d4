/*
 * readers/sentence_pipeline.c — the sentence-transformers pipeline of a model folder: modules.json
 * names the modules that run after the encoder (Pooling, Dense, Normalize); qforge records the
 * pooling mode and the normalization in the model's metadata, so that `qforge run --output
 * embedding` (and a .qf converted from the folder) gives what SentenceTransformer.encode gives,
 * and records what it cannot compute so that the embedding is refused instead.
 * Runs in readers/reader.c after the checkpoint and its config.json are read.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "qforge/limits.h"
#include "qforge/readers.h"
#include "readers/sentence_pipeline.h"

/* Parses dir/name (a JSON file beside the model) into *out (NULL when absent and optional). */
static qf_status read_json(const char *dir, const char *name, bool optional, json_object **out, qf_error *err)
{
    *out = NULL;
    /* a file modules.json names goes straight to the containment rule (a ".." path is FORBIDDEN
     * whether or not it exists); the optional files of fixed names may be absent */
    if (optional && !qf_file_beside_exists(dir, name)) return QF_STATUS_OK;
    qf_file *f = NULL;
    qf_status s = qf_file_map_beside(dir, name, &f, err);
    if (s) return s;
    char path[4200];
    snprintf(path, sizeof path, "%s", qf_file_path(f));
    if (qf_file_size(f) > QF_MAX_CONFIG_JSON) {
        qf_error_set(err, QF_STATUS_LIMIT, path, NULL, (int64_t)QF_MAX_CONFIG_JSON, name, "%s larger than %u bytes", name,
                     QF_MAX_CONFIG_JSON);
        qf_error_expected(err, "<= %u bytes", QF_MAX_CONFIG_JSON);
        qf_file_unmap(f);
        return QF_STATUS_LIMIT;
    }
    json_tokener *tok = json_tokener_new_ex(QF_QF_MAX_JSON_DEPTH);
    if (!tok) {
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    /* these files are JSON, so UTF-8: what they hold goes into metadata and onto terminals */
    json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, (const char *)qf_file_data(f), (int)qf_file_size(f));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    int64_t at = (int64_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    qf_file_unmap(f);
    if (!obj || jerr != json_tokener_success) {
        json_object_put(obj);
        return qf_error_set(err, jerr == json_tokener_error_depth ? QF_STATUS_LIMIT : QF_STATUS_FORMAT, path, NULL, at,
                            name, "%s is not JSON: %s", name, json_tokener_error_desc(jerr));
    }
    *out = obj;
    return QF_STATUS_OK;
}

static const char *string_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                           : NULL;
}

/* Appends "what" to the list of unsupported parts (";"-separated, bounded). */
static void note_unsupported(char *buf, size_t size, const char *what)
{
    size_t used = strlen(buf);
    if (used < size) snprintf(buf + used, size - used, "%s%s", used ? "; " : "", what);
}

/* The pooling modes sentence-transformers names, as the pooling_mode_* booleans of its older
 * configs and as the "pooling_mode" string of sentence-transformers 6 (qf_pooling_name's names). */
static const struct {
    const char *key, *name;
} pooling_modes[] = {{"pooling_mode_mean_tokens", "mean"},
                     {"pooling_mode_cls_token", "cls"},
                     {"pooling_mode_max_tokens", "max"},
                     {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"},
                     {"pooling_mode_weightedmean_tokens", "weightedmean"},
                     {"pooling_mode_lasttoken", "lasttoken"}};
#define POOLING_MODE_COUNT (sizeof pooling_modes / sizeof pooling_modes[0])

/* The mode a "pooling_mode" string names; Pooling lower-cases it first (ASCII letters here: a name
 * with other characters is no mode qforge knows, and is refused). NULL: none of the six. */
static const char *pooling_mode_named(const char *text, size_t len)
{
    for (size_t i = 0; i < POOLING_MODE_COUNT; i++) {
        const char *name = pooling_modes[i].name;
        size_t j = 0;
        while (j < len && name[j] && (text[j] >= 'A' && text[j] <= 'Z' ? text[j] - 'A' + 'a' : text[j]) == name[j]) j++;
        if (j == len && name[j] == '\0') return name;
    }
    return NULL;
}

/* The "pooling_mode" of a sentence-transformers 6 config: a string naming one mode (or a list of
 * one); several (concatenated), an unknown name or another JSON type are noted as unsupported.
 * *mode is NULL when the key is absent or unusable; *present says whether it was there. */
static void read_pooling_mode_string(json_object *cfg, const char **mode, bool *present, char *unsupported, size_t usize)
{
    json_object *v;
    *mode = NULL;
    *present = json_object_object_get_ex(cfg, "pooling_mode", &v) && !json_object_is_type(v, json_type_null);
    if (!*present) return;
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 1) {
        note_unsupported(unsupported, usize, "several pooling modes at once (concatenated)");
        return;
    }
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1) v = json_object_array_get_idx(v, 0);
    if (!json_object_is_type(v, json_type_string)) {
        note_unsupported(unsupported, usize, "a Pooling module whose pooling_mode is not a mode name");
        return;
    }
    *mode = pooling_mode_named(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    if (!*mode) note_unsupported(unsupported, usize, "a pooling_mode qforge does not know");
}

/* The pooling mode of <path>/config.json: the "pooling_mode" string (sentence-transformers 6) or
 * exactly one pooling_mode_* true (older versions); when both are there they must name the same
 * mode. Anything else is noted as unsupported. */
static qf_status read_pooling(const char *dir, const char *path, const char **mode, bool *include_prompt,
                              char *unsupported, size_t usize, qf_error *err)
{
    char name[600];
    int w = snprintf(name, sizeof name, "%s/config.json", path);
    if (w < 0 || (size_t)w >= sizeof name)
        return qf_error_set(err, QF_STATUS_LIMIT, dir, NULL, -1, "modules.json", "a module path is too long");
    json_object *cfg = NULL;
    qf_status s = read_json(dir, name, false, &cfg, err);
    if (s) return s;
    if (!json_object_is_type(cfg, json_type_object)) {
        json_object_put(cfg);
        return qf_error_set(err, QF_STATUS_FORMAT, dir, NULL, -1, name, "%s is not a JSON object", name);
    }
    int on = 0;
    const char *flagged = NULL;
    for (size_t i = 0; i < POOLING_MODE_COUNT; i++) {
        json_object *v;
        if (json_object_object_get_ex(cfg, pooling_modes[i].key, &v) && json_object_is_type(v, json_type_boolean) &&
            json_object_get_boolean(v)) {
            flagged = pooling_modes[i].name;
            on++;
        }
    }
    bool named_present = false;
    const char *named = NULL;
    /* include_prompt: absent or null is true (the default); anything but a boolean is not read */
    json_object *inc;
    *include_prompt = true;
    if (json_object_object_get_ex(cfg, "include_prompt", &inc) && !json_object_is_type(inc, json_type_null)) {
        if (json_object_is_type(inc, json_type_boolean)) *include_prompt = json_object_get_boolean(inc);
        else note_unsupported(unsupported, usize, "an include_prompt that is neither true nor false");
    }
    size_t noted = strlen(unsupported);
    read_pooling_mode_string(cfg, &named, &named_present, unsupported, usize);
    json_object_put(cfg);
    *mode = NULL;
    if (strlen(unsupported) != noted) return QF_STATUS_OK; /* the string form was refused */
    if (named_present && on == 0) *mode = named;
    else if (named_present && !(on == 1 && strcmp(flagged, named) == 0))
        note_unsupported(unsupported, usize, "a Pooling config whose pooling_mode and pooling_mode_* flags disagree");
    else if (on == 1) *mode = flagged;
    else note_unsupported(unsupported, usize, on ? "several pooling modes at once (concatenated)" : "a Pooling module with no mode");
    return QF_STATUS_OK;
}

/* sentence-transformers' Dense activation_function (a torch class path: what
 * sentence_transformers.util.fullname writes, or the torch.nn alias) -> the name qforge records;
 * NULL for any other (a non-torch path loads as Tanh without trust_remote_code, as the function
 * itself with it: qforge cannot tell which the user runs). */
static const char *dense_activation(const char *path)
{
    static const struct {
        const char *cls, *name;
    } acts[] = {{"activation.Tanh", "tanh"}, {"linear.Identity", "identity"}, {"activation.ReLU", "relu"},
                {"activation.Sigmoid", "sigmoid"}, {"activation.GELU", "gelu"}, {"activation.SiLU", "silu"}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        char full[64], alias[64];
        snprintf(full, sizeof full, "torch.nn.modules.%s", acts[i].cls);
        snprintf(alias, sizeof alias, "torch.nn.%s", strchr(acts[i].cls, '.') + 1);
        if (strcmp(path, full) == 0 || strcmp(path, alias) == 0) return acts[i].name;
    }
    return NULL;
}

/* An optional integer of a Dense config in 1..QF_MAX_SENTENCE_DENSE_FEATURES; 0 when it is not. */
static int64_t dense_features(json_object *cfg, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(cfg, key, &v) || !json_object_is_type(v, json_type_int)) return 0;
    int64_t n = json_object_get_int64(v);
    return n >= 1 && n <= QF_MAX_SENTENCE_DENSE_FEATURES ? n : 0;
}

static void release_model(void *model) { qf_model_destroy(model); }

/* Adds tensor `from` of the Dense weights file (the model `weights`, which m keeps alive) to m as
 * FP32 tensor `name`, checking its shape: an aligned F32 tensor is borrowed from the mapping, F16 /
 * BF16 (or an unaligned F32 one) converted into a buffer m owns. */
static qf_status add_dense_tensor(qf_model *m, const qf_model *weights, const char *file, const char *from,
                                  const char *name, int32_t rank, const int64_t *shape, qf_error *err)
{
    const qf_tensor *t = qf_model_find(weights, from, NULL);
    if (!t)
        return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, from, "the Dense module's weights have no '%s'", from);
    bool same = t->rank == rank;
    for (int32_t d = 0; same && d < rank; d++) same = t->shape[d] == shape[d];
    if (!same) {
        qf_error_set(err, QF_STATUS_SHAPE, file, NULL, -1, from, "'%s' does not have the shape its config.json gives",
                     from);
        qf_error_expected(err, rank == 2 ? "[%lld, %lld]" : "[%lld]", (long long)shape[0],
                          (long long)(rank == 2 ? shape[1] : 0));
        if (t->rank == 2) qf_error_found(err, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
        else if (t->rank == 1) qf_error_found(err, "[%lld]", (long long)t->shape[0]);
        else qf_error_found(err, "rank %d", (int)t->rank);
        return QF_STATUS_SHAPE;
    }
    if (t->dtype != QF_DTYPE_F32 && t->dtype != QF_DTYPE_F16 && t->dtype != QF_DTYPE_BF16)
        return qf_error_set(err, QF_STATUS_UNSUPPORTED, file, NULL, -1, from, "'%s' is not F32, F16 or BF16", from);
    uint64_t n = 1;
    for (int32_t d = 0; d < rank; d++) n *= (uint64_t)shape[d]; /* bounded by the feature limit */
    if (t->dtype == QF_DTYPE_F32 && (uintptr_t)t->data % _Alignof(float) == 0)
        return qf_model_add_tensor(m, name, from, QF_DTYPE_F32, rank, shape, t->data, n * sizeof(float), NULL, err);
    float *data = NULL;
    qf_status s = qf_model_alloc(m, n * sizeof(float), (void **)&data, err);
    if (s) return s;
    for (uint64_t i = 0; i < n; i++)
        data[i] = t->dtype == QF_DTYPE_F32   ? ((const float *)t->data)[i]
                  : t->dtype == QF_DTYPE_F16 ? qf_f16_to_f32(((const uint16_t *)t->data)[i])
                                             : qf_bf16_to_f32(((const uint16_t *)t->data)[i]);
    return qf_model_add_tensor(m, name, from, QF_DTYPE_F32, rank, shape, data, n * sizeof(float), NULL, err);
}

/* The Dense module at <path> (its config.json and model.safetensors, else pytorch_model.bin), the
 * *count-th after the pooling (counted on success): its weights go into m as FP32 tensors pipeline.dense.<k>.linear.weight
 * [out, in], .linear.bias [out] (bias true), .residual.weight [out, in] (use_residual with in !=
 * out), and metadata pipeline.dense.<k>.activation / .residual. Settings qforge does not compute
 * (another activation, another input or output than sentence_embedding) are noted as unsupported. */
static qf_status read_dense(qf_model *m, const char *dir, const char *path, int *count, char *unsupported,
                            size_t usize, qf_error *err)
{
    const int k = *count;
    char name[600];
    int w = snprintf(name, sizeof name, "%s/config.json", path);
    if (w < 0 || (size_t)w >= sizeof name)
        return qf_error_set(err, QF_STATUS_LIMIT, dir, NULL, -1, "modules.json", "a module path is too long");
    json_object *cfg = NULL, *v;
    qf_status s = read_json(dir, name, false, &cfg, err);
    if (s) return s;
    if (!json_object_is_type(cfg, json_type_object)) {
        json_object_put(cfg);
        return qf_error_set(err, QF_STATUS_FORMAT, dir, NULL, -1, name, "%s is not a JSON object", name);
    }
    int64_t in = dense_features(cfg, "in_features"), out = dense_features(cfg, "out_features");
    bool bias = true, residual = false, usable = true;
    if (json_object_object_get_ex(cfg, "bias", &v)) {
        if (json_object_is_type(v, json_type_boolean)) bias = json_object_get_boolean(v);
        else usable = false;
    }
    if (json_object_object_get_ex(cfg, "use_residual", &v) && !json_object_is_type(v, json_type_null)) {
        if (json_object_is_type(v, json_type_boolean)) residual = json_object_get_boolean(v);
        else usable = false;
    }
    const char *act = "tanh"; /* Dense's default */
    if (json_object_object_get_ex(cfg, "activation_function", &v))
        act = json_object_is_type(v, json_type_string) ? dense_activation(json_object_get_string(v)) : NULL;
    bool io = true;
    static const char *const io_keys[] = {"module_input_name", "module_output_name"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_object_get_ex(cfg, io_keys[i], &v) && !json_object_is_type(v, json_type_null))
            io = io && json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), "sentence_embedding") == 0;
    json_object_put(cfg);
    if (!in || !out || !usable) {
        note_unsupported(unsupported, usize, "a Dense module whose in_features, out_features, bias or use_residual "
                                             "is not usable");
        return QF_STATUS_OK;
    }
    if (!act) {
        note_unsupported(unsupported, usize, "a Dense module whose activation_function is not torch's Tanh, Identity, "
                                             "ReLU, Sigmoid, GELU or SiLU");
        return QF_STATUS_OK;
    }
    if (!io) {
        note_unsupported(unsupported, usize, "a Dense module on another input than sentence_embedding");
        return QF_STATUS_OK;
    }
    /* the weights: model.safetensors, else pytorch_model.bin, inside the folder */
    const char *files[2] = {"model.safetensors", "pytorch_model.bin"};
    char file[700] = "";
    for (size_t i = 0; i < 2 && !file[0]; i++) {
        snprintf(file, sizeof file, "%s/%s", path, files[i]);
        if (!qf_file_beside_exists(dir, file)) file[0] = '\0';
    }
    if (!file[0])
        return qf_error_set(err, QF_STATUS_NOT_FOUND, dir, NULL, -1, path,
                            "the Dense module '%s' has neither model.safetensors nor pytorch_model.bin", path);
    qf_file *f = NULL;
    if ((s = qf_file_map_beside(dir, file, &f, err))) return s;
    char where[4200];
    snprintf(where, sizeof where, "%s", qf_file_path(f));
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_model *weights = NULL;
    s = strcmp(strrchr(file, '/') + 1, "model.safetensors") == 0 ? qf_safetensors_read(f, &rp, &weights, err)
                                                                  : qf_torch_read(f, &rp, &weights, err);
    if (s) return s;
    /* m keeps the weights' model (and its mapping) for the tensors it borrows */
    if ((s = qf_model_keep(m, weights, release_model, err))) return s;
    char tname[96], key[64];
    snprintf(tname, sizeof tname, "pipeline.dense.%d.linear.weight", k);
    s = add_dense_tensor(m, weights, where, "linear.weight", tname, 2, (const int64_t[]){out, in}, err);
    if (!s && bias) {
        snprintf(tname, sizeof tname, "pipeline.dense.%d.linear.bias", k);
        s = add_dense_tensor(m, weights, where, "linear.bias", tname, 1, (const int64_t[]){out}, err);
    }
    if (!s && residual && in != out) {
        snprintf(tname, sizeof tname, "pipeline.dense.%d.residual.weight", k);
        s = add_dense_tensor(m, weights, where, "residual.weight", tname, 2, (const int64_t[]){out, in}, err);
    }
    snprintf(key, sizeof key, "pipeline.dense.%d.activation", k);
    if (!s) s = qf_model_set_meta(m, key, act, err);
    snprintf(key, sizeof key, "pipeline.dense.%d.residual", k);
    if (!s) s = qf_model_set_meta(m, key, residual ? "true" : "false", err);
    if (!s) *count = k + 1;
    return s;
}

/* A sequence limit from a config: a positive integer up to QF_MAX_SEQ_LENGTH_HINT. Anything else
 * (absent, null, a string, negative, Hugging Face's "no limit" sentinel 1e30) gives 0: no limit
 * from this file. */
static int64_t sane_length(json_object *cfg, const char *key)
{
    json_object *v;
    if (!cfg || !json_object_is_type(cfg, json_type_object) || !json_object_object_get_ex(cfg, key, &v) ||
        !json_object_is_type(v, json_type_int))
        return 0;
    int64_t n = json_object_get_int64(v); /* json-c clamps past int64 to its ends: refused below */
    return n >= 1 && n <= QF_MAX_SEQ_LENGTH_HINT ? n : 0;
}

/* sentence_bert_config.json (the Transformer module's settings) and tokenizer_config.json: the
 * sequence limit encode() truncates to (max_seq_length, else the tokenizer's model_max_length; the
 * model's positions are applied where the embedding is computed) and do_lower_case. */
static qf_status read_text_settings(qf_model *m, const char *dir, char *unsupported, size_t usize, qf_error *err)
{
    json_object *sbert = NULL, *tokcfg = NULL, *v;
    qf_status s = read_json(dir, "sentence_bert_config.json", true, &sbert, err);
    if (!s) s = read_json(dir, "tokenizer_config.json", true, &tokcfg, err);
    int64_t limit = 0;
    bool lower = false, sbert_names_length = false;
    if (!s && sbert && json_object_is_type(sbert, json_type_object)) {
        /* max_seq_length given (not null) wins over model_max_length, even when it is no limit */
        sbert_names_length = json_object_object_get_ex(sbert, "max_seq_length", &v) && !json_object_is_type(v, json_type_null);
        if (sbert_names_length) {
            limit = sane_length(sbert, "max_seq_length");
            bool beyond_hint = json_object_is_type(v, json_type_int) && json_object_get_int64(v) > QF_MAX_SEQ_LENGTH_HINT;
            if (!limit && !beyond_hint)
                note_unsupported(unsupported, usize, "a max_seq_length that is not a positive integer");
        }
        lower = json_object_object_get_ex(sbert, "do_lower_case", &v) && json_object_is_type(v, json_type_boolean) &&
                json_object_get_boolean(v);
    }
    if (!s && !sbert_names_length) limit = sane_length(tokcfg, "model_max_length");
    json_object_put(sbert);
    json_object_put(tokcfg);
    if (s) return s;
    if (limit) {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)limit);
        s = qf_model_set_meta(m, "pipeline.max_seq_length", text, err);
    }
    /* encode() lower-cases every text (sentence-transformers 6: a Lowercase normalizer put in front
     * of the tokenizer's): the tokenizer loaded from this folder does the same
     * (qf_tokenizer_sentence_lowercase); the CLI refuses a tokenizer that does not lower-case */
    if (!s && lower) s = qf_model_set_meta(m, "pipeline.do_lower_case", "true", err);
    return s;
}

/* A prompt's name or text: a JSON string without NUL bytes (metadata values are C strings) of at
 * most `max` bytes (the file is read as UTF-8). NULL when it is not one. */
static const char *prompt_string(json_object *v, size_t max)
{
    if (!json_object_is_type(v, json_type_string)) return NULL;
    const char *text = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    return len <= max && strlen(text) == len ? text : NULL;
}

/* config_sentence_transformers.json: the named prompts ("prompts": {name: text}, a null text being
 * "" as sentence-transformers makes it) and the one encode() prepends by default
 * ("default_prompt_name", which must be one of them), recorded as pipeline.prompts (the count),
 * pipeline.prompt.<k>.name / .text in the file's order, and pipeline.default_prompt. A prompt
 * qforge cannot carry (not a string, too long, a NUL byte, too many) is noted as unsupported: an
 * embedding made without it would differ. */
static qf_status read_prompts(qf_model *m, const char *dir, char *unsupported, size_t usize, qf_error *err)
{
    json_object *st = NULL, *prompts = NULL, *dp = NULL;
    qf_status s = read_json(dir, "config_sentence_transformers.json", true, &st, err);
    if (s || !st) return s;
    if (!json_object_is_type(st, json_type_object)) {
        json_object_put(st);
        return qf_error_set(err, QF_STATUS_FORMAT, dir, NULL, -1, "config_sentence_transformers.json",
                            "config_sentence_transformers.json is not a JSON object");
    }
    bool has_prompts = json_object_object_get_ex(st, "prompts", &prompts) && !json_object_is_type(prompts, json_type_null);
    bool has_default = json_object_object_get_ex(st, "default_prompt_name", &dp) && !json_object_is_type(dp, json_type_null);
    const char *default_name = has_default ? prompt_string(dp, QF_MAX_SENTENCE_PROMPT_NAME) : NULL;
    bool default_found = false;
    int count = 0;
    if (has_prompts && !json_object_is_type(prompts, json_type_object)) {
        note_unsupported(unsupported, usize, "prompts that are not a JSON object of name: text");
    } else if (has_prompts && json_object_object_length(prompts) > QF_MAX_SENTENCE_PROMPTS) {
        note_unsupported(unsupported, usize, "more prompts than qforge carries (QF_MAX_SENTENCE_PROMPTS)");
    } else if (has_prompts) {
        json_object_object_foreach(prompts, name, text)
        {
            json_object *key = json_object_new_string(name); /* the key, measured as a value */
            const char *n = key ? prompt_string(key, QF_MAX_SENTENCE_PROMPT_NAME) : NULL;
            const char *t = json_object_is_type(text, json_type_null) ? "" : prompt_string(text, QF_MAX_SENTENCE_PROMPT_BYTES);
            if (!key) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
            else if (!n || !n[0] || !t) note_unsupported(unsupported, usize, "a prompt qforge cannot carry (a name or text "
                                                                              "that is empty, not a string, too long or "
                                                                              "holds a NUL byte)");
            char k_name[64], k_text[64];
            snprintf(k_name, sizeof k_name, "pipeline.prompt.%d.name", count);
            snprintf(k_text, sizeof k_text, "pipeline.prompt.%d.text", count);
            if (!s && n && n[0] && t) {
                s = qf_model_set_meta(m, k_name, n, err);
                if (!s) s = qf_model_set_meta(m, k_text, t, err);
                if (default_name && strcmp(n, default_name) == 0) default_found = true;
                count++;
            }
            json_object_put(key);
            if (s) break;
        }
    }
    if (!s && has_default && !default_found)
        note_unsupported(unsupported, usize, "a default_prompt_name that names none of the prompts");
    if (!s && count) {
        char text[16];
        snprintf(text, sizeof text, "%d", count);
        s = qf_model_set_meta(m, "pipeline.prompts", text, err);
    }
    if (!s && default_found) s = qf_model_set_meta(m, "pipeline.default_prompt", default_name, err);
    json_object_put(st);
    return s;
}

/* Whether the folder is a sentence-transformers CrossEncoder (a pair scorer, not an embedder):
 * config_sentence_transformers.json "model_type" "CrossEncoder", or the Transformer module's
 * sentence_bert_config.json "transformer_task" "sequence-classification" (sentence-transformers 6
 * writes both). */
static qf_status read_cross_encoder(const char *dir, bool *cross_encoder, const char **activation, qf_error *err)
{
    json_object *st = NULL, *sbert = NULL, *fn = NULL;
    qf_status s = read_json(dir, "config_sentence_transformers.json", true, &st, err);
    if (!s) s = read_json(dir, "sentence_bert_config.json", true, &sbert, err);
    const char *type = st && json_object_is_type(st, json_type_object) ? string_of(st, "model_type") : NULL;
    const char *task = sbert && json_object_is_type(sbert, json_type_object) ? string_of(sbert, "transformer_task") : NULL;
    *cross_encoder = (type && strcmp(type, "CrossEncoder") == 0) || (task && strcmp(task, "sequence-classification") == 0);
    /* the score's activation CrossEncoder loads from here (its _parse_model_config), over config.json's */
    *activation = NULL;
    if (*cross_encoder && st && json_object_is_type(st, json_type_object) && json_object_object_get_ex(st, "activation_fn", &fn) &&
        !json_object_is_type(fn, json_type_null)) {
        const char *path = json_object_is_type(fn, json_type_string) ? json_object_get_string(fn) : "";
        *activation = strcmp(path, "torch.nn.modules.activation.Sigmoid") == 0 || strcmp(path, "torch.nn.Sigmoid") == 0
                          ? "sigmoid"
                      : strcmp(path, "torch.nn.modules.linear.Identity") == 0 || strcmp(path, "torch.nn.Identity") == 0
                          ? "identity"
                          : "";
    }
    json_object_put(st);
    json_object_put(sbert);
    return s;
}

qf_status qf_sentence_pipeline_attach(qf_model *m, const char *dir, qf_error *err)
{
    json_object *modules = NULL;
    qf_status s = read_json(dir, "modules.json", true, &modules, err);
    if (s || !modules) return s;
    bool cross_encoder = false;
    const char *activation = NULL;
    if ((s = read_cross_encoder(dir, &cross_encoder, &activation, err))) {
        json_object_put(modules);
        return s;
    }
    char where[4200];
    snprintf(where, sizeof where, "%s/modules.json", dir);
    if (!json_object_is_type(modules, json_type_array)) {
        json_object_put(modules);
        return qf_error_set(err, QF_STATUS_FORMAT, where, NULL, -1, "modules.json", "modules.json is not a JSON array");
    }
    const char *pooling = NULL;
    bool normalize = false, transformer_here = false, include_prompt = true;
    int dense = 0;
    char unsupported[512] = "";
    size_t n = json_object_array_length(modules);
    for (size_t i = 0; !s && i < n; i++) {
        json_object *mod = json_object_array_get_idx(modules, i);
        const char *type = json_object_is_type(mod, json_type_object) ? string_of(mod, "type") : NULL;
        const char *path = type ? string_of(mod, "path") : NULL;
        if (!type || !path) {
            s = qf_error_set(err, QF_STATUS_FORMAT, where, NULL, -1, "modules.json",
                             "module %zu of modules.json lacks a string \"type\" or \"path\"", i);
            break;
        }
        const char *short_type = strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
        if (strcmp(short_type, "Transformer") == 0) {
            transformer_here = path[0] == '\0' || strcmp(path, ".") == 0;
            if (!transformer_here) note_unsupported(unsupported, sizeof unsupported, "a Transformer module in a subfolder");
        } else if (cross_encoder) { /* a CrossEncoder scores with the model's own head, alone */
            note_unsupported(unsupported, sizeof unsupported, "a module after a CrossEncoder's Transformer");
        } else if (strcmp(short_type, "Pooling") == 0) {
            if (pooling) note_unsupported(unsupported, sizeof unsupported, "a second Pooling module");
            else s = read_pooling(dir, path, &pooling, &include_prompt, unsupported, sizeof unsupported, err);
        } else if (strcmp(short_type, "Dense") == 0) {
            if (!pooling || normalize)
                note_unsupported(unsupported, sizeof unsupported, "a Dense module before the Pooling or after Normalize");
            else if (dense == QF_MAX_SENTENCE_DENSE)
                note_unsupported(unsupported, sizeof unsupported, "more Dense modules than qforge runs");
            else
                s = read_dense(m, dir, path, &dense, unsupported, sizeof unsupported, err);
        } else if (strcmp(short_type, "Normalize") == 0) {
            normalize = true;
        } else {
            /* the type is file text and goes into metadata a .qf carries: only a plain identifier is
             * named (cut bytes of a longer one could end mid-character and make invalid UTF-8) */
            size_t len = strlen(short_type);
            bool plain = len > 0 && len <= 64 &&
                         strspn(short_type, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
            char what[96];
            snprintf(what, sizeof what, "a %s module", plain ? short_type : "?");
            note_unsupported(unsupported, sizeof unsupported, plain ? what : "a module of an unrecognised type");
        }
    }
    json_object_put(modules);
    if (s) return s;
    if (!transformer_here) note_unsupported(unsupported, sizeof unsupported, "no Transformer module at the folder root");
    if (!pooling && !cross_encoder && !unsupported[0]) note_unsupported(unsupported, sizeof unsupported, "no Pooling module");

    s = qf_model_set_meta(m, "pipeline.source", "sentence-transformers", err);
    if (!s && cross_encoder) s = qf_model_set_meta(m, "pipeline.model_type", "CrossEncoder", err);
    if (activation && !activation[0])
        note_unsupported(unsupported, sizeof unsupported, "a CrossEncoder activation_fn other than Sigmoid or Identity");
    else if (!s && activation)
        s = qf_model_set_meta(m, "pipeline.activation_fn", activation, err);
    if (!s) s = read_prompts(m, dir, unsupported, sizeof unsupported, err);
    if (!s && !include_prompt) s = qf_model_set_meta(m, "pipeline.include_prompt", "false", err);
    if (!s) s = read_text_settings(m, dir, unsupported, sizeof unsupported, err);
    if (!s && pooling) s = qf_model_set_meta(m, "pipeline.pooling", pooling, err);
    if (!s) s = qf_model_set_meta(m, "pipeline.normalize", normalize ? "true" : "false", err);
    if (!s && dense) {
        char count[16];
        snprintf(count, sizeof count, "%d", dense);
        s = qf_model_set_meta(m, "pipeline.dense", count, err);
    }
    if (!s && unsupported[0]) s = qf_model_set_meta(m, "pipeline.unsupported", unsupported, err);
    return s;
}
