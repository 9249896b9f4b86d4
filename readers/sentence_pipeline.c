/*
 * readers/sentence_pipeline.c — the sentence-transformers pipeline of a model folder: modules.json
 * names the modules that run after the encoder (Pooling, Dense, Normalize); qforge records the
 * pooling mode and the normalization in the model's metadata, so that `qforge run --output
 * embedding` (and a .qf converted from the folder) gives what SentenceTransformer.encode gives,
 * and records what it cannot compute so that the embedding is refused instead.
 * Runs in readers/reader.c after the checkpoint and its config.json are read.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "qforge/limits.h"
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

/* The pooling mode of <path>/config.json: exactly one pooling_mode_* true, else unsupported. */
static qf_status read_pooling(const char *dir, const char *path, const char **mode, char *unsupported, size_t usize,
                              qf_error *err)
{
    static const struct {
        const char *key, *name;
    } modes[] = {{"pooling_mode_mean_tokens", "mean"},
                 {"pooling_mode_cls_token", "cls"},
                 {"pooling_mode_max_tokens", "max"},
                 {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"},
                 {"pooling_mode_weightedmean_tokens", "weightedmean"},
                 {"pooling_mode_lasttoken", "lasttoken"}};
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
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        json_object *v;
        if (json_object_object_get_ex(cfg, modes[i].key, &v) && json_object_is_type(v, json_type_boolean) &&
            json_object_get_boolean(v)) {
            *mode = modes[i].name;
            on++;
        }
    }
    json_object_put(cfg);
    if (on != 1) {
        *mode = NULL;
        note_unsupported(unsupported, usize, on ? "several pooling modes at once (concatenated)" : "a Pooling module with no mode");
    }
    return QF_STATUS_OK;
}

qf_status qf_sentence_pipeline_attach(qf_model *m, const char *dir, qf_error *err)
{
    json_object *modules = NULL;
    qf_status s = read_json(dir, "modules.json", true, &modules, err);
    if (s || !modules) return s;
    char where[4200];
    snprintf(where, sizeof where, "%s/modules.json", dir);
    if (!json_object_is_type(modules, json_type_array)) {
        json_object_put(modules);
        return qf_error_set(err, QF_STATUS_FORMAT, where, NULL, -1, "modules.json", "modules.json is not a JSON array");
    }
    const char *pooling = NULL;
    bool normalize = false, transformer_here = false;
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
        } else if (strcmp(short_type, "Pooling") == 0) {
            if (pooling) note_unsupported(unsupported, sizeof unsupported, "a second Pooling module");
            else s = read_pooling(dir, path, &pooling, unsupported, sizeof unsupported, err);
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
    if (!pooling && !unsupported[0]) note_unsupported(unsupported, sizeof unsupported, "no Pooling module");

    /* a default prompt is prepended to every text by encode(): qforge does not prepend it */
    json_object *st = NULL;
    if ((s = read_json(dir, "config_sentence_transformers.json", true, &st, err))) return s;
    if (st) {
        json_object *dp;
        if (json_object_is_type(st, json_type_object) && json_object_object_get_ex(st, "default_prompt_name", &dp) &&
            dp && !json_object_is_type(dp, json_type_null))
            note_unsupported(unsupported, sizeof unsupported, "a default prompt (default_prompt_name)");
        json_object_put(st);
    }
    s = qf_model_set_meta(m, "pipeline.source", "sentence-transformers", err);
    if (!s && pooling) s = qf_model_set_meta(m, "pipeline.pooling", pooling, err);
    if (!s) s = qf_model_set_meta(m, "pipeline.normalize", normalize ? "true" : "false", err);
    if (!s && unsupported[0]) s = qf_model_set_meta(m, "pipeline.unsupported", unsupported, err);
    return s;
}
