/*
 * readers/reader.c — the front door of the readers layer: detects an input's format from its
 * bytes (never its name), dispatches to the per-format reader, attaches config.json, and records
 * provenance metadata (format, path, size, SHA-256). Everything downstream sees only a qf_model.
 */
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qforge/qfile.h"
#include "qforge/readers.h"

static const char *const format_names[] = {
#define QF_FORMAT_NAME_(name, text) text,
    QF_FORMAT_TABLE(QF_FORMAT_NAME_)
#undef QF_FORMAT_NAME_
};

const char *qf_format_name(qf_format f)
{
    if ((unsigned)f >= (unsigned)QF_FORMAT_COUNT_) return "unknown";
    return format_names[f];
}

qf_read_params qf_read_params_default(void)
{
    qf_read_params p;
    memset(&p, 0, sizeof p);
    p.select = NULL;
    p.config_path = NULL;
    p.hash_source = true;
    p.verify_checksums = false;
    return p;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Walks a zip central directory (bounded) looking for an entry named "data.pkl" or "X/data.pkl". */
static bool zip_has_data_pkl(const uint8_t *d, uint64_t size)
{
    if (size < 22) return false;
    uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (uint64_t pos = size - 22 + 1; pos-- > lowest;) {
        if (rd32(d + pos) != 0x06054b50u) continue;
        uint64_t entries = rd16(d + pos + 10);
        uint64_t cd_size = rd32(d + pos + 12), cd_off = rd32(d + pos + 16);
        if (!qf_range_within(cd_off, cd_size, size)) return false; /* zip64 or damaged: let the reader say */
        uint64_t p = cd_off, end = cd_off + cd_size;
        for (uint64_t i = 0; i < entries && p + 46 <= end; i++) {
            if (rd32(d + p) != 0x02014b50u) return false;
            uint64_t name_len = rd16(d + p + 28), extra = rd16(d + p + 30), comment = rd16(d + p + 32);
            if (p + 46 + name_len > end) return false;
            const char *name = (const char *)d + p + 46;
            if ((name_len == 8 && memcmp(name, "data.pkl", 8) == 0) ||
                (name_len > 9 && memcmp(name + name_len - 9, "/data.pkl", 9) == 0))
                return true;
            p += 46 + name_len + extra + comment;
        }
        return false;
    }
    return false;
}

/* Protocol 0/1 pickles have no PROTO opcode: accept a first byte that opens a pickle and a final STOP. */
static bool looks_like_text_pickle(const uint8_t *d, uint64_t size)
{
    if (size < 2) return false;
    uint64_t last = size - 1;
    while (last > 0 && (d[last] == '\n' || d[last] == '\r')) last--;
    if (d[last] != '.') return false;
    return strchr("(}]cIJKLMNSTUVXdlpt", d[0]) != NULL && d[0] != '\0';
}

qf_format qf_format_detect(const uint8_t *d, uint64_t size)
{
    if (size >= 8 && memcmp(d, QF_QFILE_MAGIC, 8) == 0) return QF_FORMAT_QF;
    static const uint8_t hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    /* HDF5 allows a user block of 512, 1024, 2048 ... bytes before the superblock */
    for (uint64_t off = 0; off + 8 <= size; off = off ? off * 2 : 512)
        if (memcmp(d + off, hdf5_sig, 8) == 0) return QF_FORMAT_HDF5;
    if (size >= 4 && (rd32(d) == 0x04034b50u || rd32(d) == 0x06054b50u))
        return zip_has_data_pkl(d, size) ? QF_FORMAT_TORCH_ZIP : QF_FORMAT_ZIP;
    if (size >= 2 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5) return QF_FORMAT_TORCH_LEGACY;
    if (size >= 10 && d[8] == '{') {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | d[i];
        if (n >= 2 && n <= size - 8) return QF_FORMAT_SAFETENSORS;
    }
    /* ONNX ModelProto: field 1 (ir_version, varint) first, then a known field tag */
    if (size >= 4 && d[0] == 0x08 && d[1] >= 1 && d[1] <= 30 &&
        strchr("\x12\x1a\x22\x2a\x32\x3a\x42\x52\x72", d[2]) != NULL && d[2] != 0)
        return QF_FORMAT_ONNX;
    if (looks_like_text_pickle(d, size)) return QF_FORMAT_TORCH_LEGACY;
    return QF_FORMAT_UNKNOWN;
}

/* Reads config.json: explicit path (must exist) or next to the input (optional). */
static qf_status attach_config(qf_model *m, const char *input_path, const char *config_path, qf_error *err)
{
    char guess[4096];
    const char *path = config_path;
    if (!path) {
        char *copy = strdup(input_path);
        if (!copy) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        snprintf(guess, sizeof guess, "%s/config.json", dirname(copy));
        free(copy);
        struct stat st;
        if (stat(guess, &st) != 0) return QF_STATUS_OK;
        path = guess;
    }
    qf_file *f = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (s) return s;
    if (qf_file_size(f) > QF_MAX_CONFIG_JSON) {
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, NULL, "config.json larger than %u bytes",
                            QF_MAX_CONFIG_JSON);
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    json_object *obj = json_tokener_parse_ex(tok, (const char *)qf_file_data(f), (int)qf_file_size(f));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!obj || jerr != json_tokener_success || !json_object_is_type(obj, json_type_object)) {
        int64_t at = (int64_t)json_tokener_get_parse_end(tok);
        qf_error_set(err, QF_STATUS_FORMAT, path, NULL, at, "config.json", "config.json is not a JSON object: %s",
                     obj && jerr == json_tokener_success ? "another JSON type" : json_tokener_error_desc(jerr));
        json_object_put(obj);
        json_tokener_free(tok);
        qf_file_unmap(f);
        return QF_STATUS_FORMAT;
    }
    json_tokener_free(tok);
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    s = qf_model_set_config_json(m, text, strlen(text), err);
    if (!s) s = qf_model_set_meta(m, "source.config_path", path, err);
    json_object_put(obj);
    qf_file_unmap(f);
    return s;
}

qf_status qf_model_read(const char *path, const qf_read_params *params, qf_model **out, qf_error *err)
{
    qf_read_params defaults = qf_read_params_default();
    if (!params) params = &defaults;
    *out = NULL;
    qf_error_set_file(err, path);
    qf_file *f = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (s) return s;
    uint64_t size = qf_file_size(f);
    qf_format fmt = qf_format_detect(qf_file_data(f), size);
    char sha_hex[65] = "";
    if (params->hash_source && fmt != QF_FORMAT_QF) {
        uint8_t digest[32];
        qf_sha256(qf_file_data(f), (size_t)size, digest);
        qf_sha256_hex(digest, sha_hex);
    }
    qf_model *m = NULL;
    switch (fmt) {
    case QF_FORMAT_TORCH_ZIP:
    case QF_FORMAT_TORCH_LEGACY: s = qf_torch_read(f, params, &m, err); break;
    case QF_FORMAT_SAFETENSORS: s = qf_safetensors_read(f, params, &m, err); break;
    case QF_FORMAT_QF: {
        qf_qfile_open_params op = qf_qfile_open_params_default();
        op.verify_checksums = params->verify_checksums;
        s = qf_qfile_read(f, &op, &m, err);
        break;
    }
    case QF_FORMAT_ONNX:
    case QF_FORMAT_HDF5:
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_UNSUPPORTED, path, NULL, 0, NULL,
                            "%s file recognised, but this qforge version has no %s reader", qf_format_name(fmt),
                            fmt == QF_FORMAT_ONNX ? "ONNX" : "HDF5/Keras");
    case QF_FORMAT_ZIP:
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_UNKNOWN_FORMAT, path, NULL, 0, NULL,
                            "zip archive without a data.pkl entry: not a PyTorch checkpoint");
    default:
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_UNKNOWN_FORMAT, path, NULL, 0, NULL,
                            "not a PyTorch, safetensors, ONNX, HDF5 or .qf file (first bytes do not match any)");
    }
    if (s) return s;
    if (fmt != QF_FORMAT_QF) {
        char size_text[32];
        snprintf(size_text, sizeof size_text, "%llu", (unsigned long long)size);
        if (!s) s = qf_model_set_meta(m, "source.format", qf_format_name(fmt), err);
        if (!s) s = qf_model_set_meta(m, "source.path", path, err);
        if (!s) s = qf_model_set_meta(m, "source.size", size_text, err);
        if (!s && sha_hex[0]) s = qf_model_set_meta(m, "source.sha256", sha_hex, err);
        if (!s) s = attach_config(m, path, params->config_path, err);
    }
    if (s) {
        qf_model_destroy(m);
        return s;
    }
    *out = m;
    return QF_STATUS_OK;
}
