/*
 * readers/sharded/sharded.c — checkpoints split into shards by Hugging Face:
 * `model.safetensors.index.json` / `pytorch_model.bin.index.json`, whose "weight_map" maps every
 * tensor name to the shard file holding it. The whole index is validated first (shard names are
 * plain file names in the index's folder: no '/', no "..", within the limits); then each shard is
 * mapped as a file found beside the index (qf_file_map_beside: a regular file resolving inside the
 * index's folder) and read by the ordinary reader of its format; its tensors join one model,
 * borrowing from the shard models (kept alive by it). Every tensor of a shard must be mapped to that shard, and every
 * mapped tensor must be found; errors name the shard file.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/readers.h"

static void destroy_model(void *m) { qf_model_destroy(m); }

static qf_status index_error(qf_error *err, const char *path, const char *object, const char *msg)
{
    return qf_error_set(err, QF_STATUS_FORMAT, path, "weight_map", -1, object, "%s", msg);
}

/* Open-addressing set of shard names (slot = index + 1 into `names`), so that collecting the
 * distinct shards stays linear even for an index naming QF_SHARDED_MAX_SHARDS of them. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Index of `name` in names[0..count) via `slots` (capacity `cap`, a power of two), adding it when
 * new; returns count when it was added. */
static size_t shard_index(const char **names, size_t count, size_t *slots, size_t cap, const char *name)
{
    size_t j = (size_t)name_hash(name) & (cap - 1);
    while (slots[j]) {
        if (strcmp(names[slots[j] - 1], name) == 0) return slots[j] - 1;
        j = (j + 1) & (cap - 1);
    }
    slots[j] = count + 1;
    return count;
}

/* A shard name is a plain file name next to the index. */
static bool plain_file_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

qf_status qf_sharded_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err)
{
    *out = NULL;
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s", qf_file_path(file));
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof dir, ".");
    uint64_t size = qf_file_size(file);
    if (size > QF_SHARDED_MAX_INDEX) {
        qf_file_unmap(file);
        qf_error_set(err, QF_STATUS_LIMIT, path, NULL, (int64_t)QF_SHARDED_MAX_INDEX, NULL, "shard index of %llu bytes",
                     (unsigned long long)size);
        qf_error_expected(err, "<= %u bytes", QF_SHARDED_MAX_INDEX);
        return QF_STATUS_LIMIT;
    }
    json_tokener *tok = json_tokener_new_ex(16);
    if (!tok) {
        qf_file_unmap(file);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    json_object *root = json_tokener_parse_ex(tok, (const char *)qf_file_data(file), (int)size);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    int64_t at = (int64_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    qf_file_unmap(file);
    json_object *map = NULL;
    if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return qf_error_set(err, QF_STATUS_FORMAT, path, NULL, at, NULL, "shard index is not a JSON object: %s",
                            jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "another JSON type");
    }
    if (!json_object_object_get_ex(root, "weight_map", &map) || !json_object_is_type(map, json_type_object)) {
        json_object_put(root);
        return qf_error_set(err, QF_STATUS_FORMAT, path, NULL, -1, "weight_map", "shard index has no \"weight_map\" object");
    }
    /* Validate the whole map and collect the distinct shards (in order of first mention). */
    size_t entries = (size_t)json_object_object_length(map), nshards = 0;
    const char **shards = calloc(entries ? entries : 1, sizeof *shards);
    size_t slot_cap = 16;
    while (slot_cap < 2 * (entries < QF_SHARDED_MAX_SHARDS ? entries : QF_SHARDED_MAX_SHARDS) + 2) slot_cap *= 2;
    size_t *slots = calloc(slot_cap, sizeof *slots);
    qf_status s = shards && slots ? QF_STATUS_OK
                                  : qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    json_object_object_foreach(map, name, val)
    {
        if (s) break;
        if (!json_object_is_type(val, json_type_string)) {
            s = index_error(err, path, name, "weight_map value is not a file name string");
            break;
        }
        const char *shard = json_object_get_string(val);
        if (strlen(shard) > QF_SHARDED_MAX_NAME) {
            s = qf_error_set(err, QF_STATUS_LIMIT, path, "weight_map", -1, name, "shard name longer than %u bytes",
                             QF_SHARDED_MAX_NAME);
            qf_error_expected(err, "<= %u bytes", QF_SHARDED_MAX_NAME);
            qf_error_found(err, "%zu bytes", strlen(shard));
            break;
        }
        if (!plain_file_name(shard)) {
            s = index_error(err, path, name, "shard name is not a plain file name in the index's folder");
            qf_error_expected(err, "a file name beside the index");
            qf_error_found(err, "%.200s", shard);
            break;
        }
        if (nshards == QF_SHARDED_MAX_SHARDS) {
            /* one more distinct name past the limit is refused; a repeat of a known one is fine */
            size_t j = (size_t)name_hash(shard) & (slot_cap - 1);
            bool known = false;
            while (slots[j] && !(known = strcmp(shards[slots[j] - 1], shard) == 0)) j = (j + 1) & (slot_cap - 1);
            if (!known) {
                s = qf_error_set(err, QF_STATUS_LIMIT, path, "weight_map", -1, shard, "more than %u shards",
                                 QF_SHARDED_MAX_SHARDS);
                break;
            }
            continue;
        }
        if (shard_index(shards, nshards, slots, slot_cap, shard) == nshards) shards[nshards++] = shard;
    }
    if (!s && nshards == 0) s = index_error(err, path, NULL, "weight_map is empty");
    qf_model *m = NULL;
    if (!s) s = qf_model_create(&m, err);
    size_t found = 0;
    for (size_t k = 0; !s && k < nshards; k++) {
        char shard_path[8192];
        snprintf(shard_path, sizeof shard_path, "%s/%s", dir, shards[k]);
        /* found beside the index: a regular file that resolves inside the index's folder; the one
         * mapping checked here is the one read */
        qf_file *shard = NULL;
        qf_error shard_err; /* a fresh detail, so that the shard (not the index) is the file named */
        qf_error_clear(&shard_err);
        s = qf_file_map_beside(dir, shards[k], &shard, &shard_err);
        if (s) {
            if (err && err->code == QF_STATUS_OK) *err = shard_err;
            break;
        }
        qf_format fmt = qf_format_detect(qf_file_data(shard), qf_file_size(shard));
        if (fmt != QF_FORMAT_SAFETENSORS && fmt != QF_FORMAT_TORCH_ZIP && fmt != QF_FORMAT_TORCH_LEGACY) {
            qf_file_unmap(shard);
            s = qf_error_set(err, QF_STATUS_FORMAT, shard_path, NULL, 0, NULL,
                             "shard is %s; shards must be PyTorch or safetensors files", qf_format_name(fmt));
            break;
        }
        qf_read_params sp = params ? *params : qf_read_params_default();
        sp.hash_source = false; /* provenance records the index's hash */
        qf_model *part = NULL;
        s = qf_model_read_file(shard, &sp, &part, &shard_err);
        if (s) {
            if (err && err->code == QF_STATUS_OK) *err = shard_err;
            break;
        }
        for (size_t i = 0; !s && i < qf_model_tensor_count(part); i++) {
            const qf_tensor *t = qf_model_tensor(part, i);
            json_object *where = NULL;
            if (!json_object_object_get_ex(map, t->name, &where) || strcmp(json_object_get_string(where), shards[k]) != 0) {
                s = qf_error_set(err, QF_STATUS_FORMAT, shard_path, NULL, -1, t->name,
                                 "tensor '%s' is in this shard but the index maps it %s%s", t->name,
                                 where ? "to " : "nowhere", where ? json_object_get_string(where) : "");
                break;
            }
            if (qf_model_find(m, t->name, NULL)) {
                s = qf_error_set(err, QF_STATUS_DUPLICATE, shard_path, NULL, -1, t->name,
                                 "tensor '%s' is in two shards", t->name);
                break;
            }
            s = qf_model_add_tensor(m, t->name, t->source_name, t->dtype, t->rank, t->shape, t->data, t->nbytes, NULL,
                                    err);
            found++;
        }
        if (s) {
            qf_model_destroy(part);
            break;
        }
        s = qf_model_keep(m, part, destroy_model, err);
    }
    if (!s && found != entries) {
        json_object_object_foreach(map, wanted, shard)
        {
            if (!qf_model_find(m, wanted, NULL)) {
                s = qf_error_set(err, QF_STATUS_NOT_FOUND, path, "weight_map", -1, wanted,
                                 "tensor '%s' is mapped to shard %s but that shard does not hold it", wanted,
                                 json_object_get_string(shard));
                break;
            }
        }
    }
    char count[32];
    snprintf(count, sizeof count, "%zu", nshards);
    if (!s) s = qf_model_set_meta(m, "sharded.shards", count, err);
    if (!s && nshards) s = qf_model_set_meta(m, "sharded.first_shard", shards[0], err);
    free(shards);
    free(slots);
    json_object_put(root);
    if (s) {
        qf_model_destroy(m);
        return s;
    }
    *out = m;
    return QF_STATUS_OK;
}
