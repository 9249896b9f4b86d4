/*
 * readers/reader.c — the front door of the readers layer: detects an input's format from its
 * bytes (never its name), dispatches to the per-format reader, attaches config.json, and records
 * provenance metadata (format, path, size, SHA-256: computed on a second thread while the caller
 * works, unless params->threads is 1). Everything downstream sees only a qf_model.
 */
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qforge/qfile.h"
#include "qforge/readers.h"
#include "readers/sentence_pipeline.h"

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
    p.threads = 0;
    p.verify_checksums = false;
    return p;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Walks a zip central directory (bounded) looking for an entry named `base`, or "X/`base`" when
 * any_prefix. */
static bool zip_scan(const uint8_t *d, uint64_t size, const char *base, bool any_prefix)
{
    if (size < 22) return false;
    uint64_t lowest = size > QF_ZIP_MAX_COMMENT_SCAN ? size - QF_ZIP_MAX_COMMENT_SCAN : 0;
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
            uint64_t bl = strlen(base);
            if ((name_len == bl && memcmp(name, base, bl) == 0) ||
                (any_prefix && name_len > bl + 1 && name[name_len - bl - 1] == '/' &&
                 memcmp(name + name_len - bl, base, bl) == 0))
                return true;
            p += 46 + name_len + extra + comment;
        }
        return false;
    }
    return false;
}

/*
 * Protocol 0/1 pickles have no PROTO opcode. Python's pickle.load acts on any stream whose opcodes
 * parse up to STOP, trailing junk included, and accepts opcodes of any protocol without a PROTO
 * header, so a file counts as a pickle when its bytes follow the opcode grammar (opcode, then its argument: text line(s), fixed bytes, or a
 * length-prefixed blob) up to a STOP, or up to the end after at least one complete opcode. Only the
 * shape is checked here (first 64 KiB); the pickle machine validates meaning. Text files fail fast:
 * most letters and all spaces and commas are not opcodes.
 */
#define TEXT_PICKLE_SCAN_BYTES 65536

static bool skip_text_line(const uint8_t *d, uint64_t end, uint64_t *pos)
{
    for (uint64_t i = *pos; i < end; i++) {
        if (d[i] == '\n') {
            *pos = i + 1;
            return true;
        }
    }
    return false;
}

static bool looks_like_text_pickle(const uint8_t *d, uint64_t size)
{
    uint64_t end = size < TEXT_PICKLE_SCAN_BYTES ? size : TEXT_PICKLE_SCAN_BYTES;
    uint64_t pos = 0, ops = 0;
    while (pos < end) {
        uint8_t op = d[pos++];
        uint64_t fixed = 0, len_bytes = 0, lines = 0;
        switch (op) {
        case '.': return ops > 0; /* STOP */
        case '(': case '0': case '1': case '2': case 'N': case 'R': case 'Q': case ')': case ']': case '}':
        case 'a': case 'e': case 'b': case 'd': case 'l': case 's': case 'u': case 't': case 'o':
        case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8f: case 0x90: case 0x91:
        case 0x92: case 0x93: case 0x94: case 0x97: case 0x98: break;
        case 'F': case 'I': case 'L': case 'S': case 'V': case 'P': case 'g': case 'p': lines = 1; break;
        case 'c': case 'i': lines = 2; break;
        case 'K': case 'h': case 'q': case 0x80: case 0x82: fixed = 1; break;
        case 'M': case 0x83: fixed = 2; break;
        case 'J': case 'j': case 'r': case 0x84: fixed = 4; break;
        case 'G': case 0x95: fixed = 8; break;
        case 'U': case 'C': case 0x8a: case 0x8c: len_bytes = 1; break;
        case 'T': case 'X': case 'B': case 0x8b: len_bytes = 4; break;
        case 0x8d: case 0x8e: case 0x96: len_bytes = 8; break;
        default: return false;
        }
        while (lines--)
            if (!skip_text_line(d, end, &pos)) return false;
        if (len_bytes) {
            if (pos + len_bytes > end) return false;
            uint64_t n = len_bytes == 1 ? d[pos] : rd32(d + pos);
            if (len_bytes == 8) n |= (uint64_t)rd32(d + pos + 4) << 32;
            if (n > size) return ops > 0; /* truncated blob: the pickle machine reports it */
            fixed = len_bytes + n;
        }
        if (fixed > end - pos) return pos + fixed > size ? ops > 0 : false;
        pos += fixed;
        ops++;
    }
    return ops > 0 && end == size; /* a complete opcode then the end: the pickle machine says what is missing */
}

/* A JSON object (leading whitespace allowed) naming a "weight_map" within its first 64 KiB. */
static bool looks_like_shard_index(const uint8_t *d, uint64_t size)
{
    uint64_t i = 0;
    while (i < size && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) i++;
    if (i >= size || d[i] != '{') return false;
    static const char key[] = "\"weight_map\"";
    uint64_t end = size < 65536 ? size : 65536;
    for (uint64_t k = i; k + sizeof key - 1 <= end; k++)
        if (memcmp(d + k, key, sizeof key - 1) == 0) return true;
    return false;
}

qf_format qf_format_detect(const uint8_t *d, uint64_t size)
{
    if (size >= 8 && memcmp(d, QF_QFILE_MAGIC, 8) == 0) return QF_FORMAT_QF;
    static const uint8_t hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    /* HDF5 allows a user block of 512, 1024, 2048 ... bytes before the superblock */
    for (uint64_t off = 0; off + 8 <= size; off = off ? off * 2 : 512)
        if (memcmp(d + off, hdf5_sig, 8) == 0) return QF_FORMAT_HDF5;
    if (size >= 4 && (rd32(d) == 0x04034b50u || rd32(d) == 0x06054b50u))
        return zip_scan(d, size, "data.pkl", true)           ? QF_FORMAT_TORCH_ZIP
               : zip_scan(d, size, "model.weights.h5", false) ? QF_FORMAT_KERAS_ZIP
                                                                    : QF_FORMAT_ZIP;
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
    if (size >= 6 && memcmp(d, "\x93NUMPY", 6) == 0) return QF_FORMAT_UNKNOWN; /* .npy, explained by the caller */
    if (looks_like_text_pickle(d, size)) return QF_FORMAT_TORCH_LEGACY;
    if (looks_like_shard_index(d, size)) return QF_FORMAT_SHARD_INDEX;
    return QF_FORMAT_UNKNOWN;
}

/* Reads config.json: the path the user named (--config: must exist, anywhere), or the one beside the
 * input (optional; when present it must be a regular file that resolves inside the input's folder). */
static qf_status attach_config(qf_model *m, const char *input_path, const char *config_path, qf_error *err)
{
    qf_file *f = NULL;
    qf_status s;
    if (config_path) {
        s = qf_file_map(config_path, &f, err);
    } else {
        char *copy = strdup(input_path);
        if (!copy) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        const char *dir = dirname(copy);
        s = qf_file_beside_exists(dir, "config.json") ? qf_file_map_beside(dir, "config.json", &f, err)
                                                      : QF_STATUS_OK;
        free(copy);
    }
    if (s || !f) return s;
    char path[4096];
    snprintf(path, sizeof path, "%s", qf_file_path(f));
    uint64_t fsize = qf_file_size(f);
    if (fsize > QF_MAX_CONFIG_JSON) {
        qf_file_unmap(f);
        /* the offset is the first byte past the limit */
        qf_error_set(err, QF_STATUS_LIMIT, path, NULL, (int64_t)QF_MAX_CONFIG_JSON, "config.json",
                     "config.json larger than %u bytes", QF_MAX_CONFIG_JSON);
        qf_error_expected(err, "<= %u bytes", QF_MAX_CONFIG_JSON);
        qf_error_found(err, "%llu bytes", (unsigned long long)fsize);
        return QF_STATUS_LIMIT;
    }
    /* the config sits one level inside a .qf JSON block, so it may nest one level less than that block */
    json_tokener *tok = json_tokener_new_ex(QF_QF_MAX_JSON_DEPTH - 1);
    if (tok) json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8); /* the .qf that stores it is JSON */
    if (!tok) {
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    json_object *obj = json_tokener_parse_ex(tok, (const char *)qf_file_data(f), (int)qf_file_size(f));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!obj || jerr != json_tokener_success || !json_object_is_type(obj, json_type_object)) {
        int64_t at = (int64_t)json_tokener_get_parse_end(tok);
        qf_status code = jerr == json_tokener_error_depth ? QF_STATUS_LIMIT : QF_STATUS_FORMAT;
        qf_error_set(err, code, path, NULL, at, "config.json", "config.json is not a JSON object: %s",
                     obj && jerr == json_tokener_success ? "another JSON type" : json_tokener_error_desc(jerr));
        if (code == QF_STATUS_LIMIT) qf_error_expected(err, "<= %d levels", QF_QF_MAX_JSON_DEPTH - 1);
        json_object_put(obj);
        json_tokener_free(tok);
        qf_file_unmap(f);
        return code;
    }
    json_tokener_free(tok);
    /* '/' stays unescaped (json-c would double every one, pushing a config under the limit past it) */
    size_t len = 0;
    const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!text) {
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, "config.json", "out of memory");
    } else if (len > QF_MAX_CONFIG_JSON) {
        /* raw control characters (accepted outside strict mode) grow when escaped */
        s = qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, "config.json",
                         "config.json is %llu bytes once re-serialized (raw control characters escaped)",
                         (unsigned long long)len);
        qf_error_expected(err, "<= %u bytes", QF_MAX_CONFIG_JSON);
    } else {
        s = qf_model_set_config_json(m, text, len, err);
    }
    if (!s) s = qf_model_set_meta(m, "source.config_path", path, err);
    json_object_put(obj);
    qf_file_unmap(f);
    return s;
}

/* The sentence-transformers pipeline of the input's folder, when it has modules.json. */
static qf_status attach_pipeline(qf_model *m, const char *input_path, qf_error *err)
{
    char *copy = strdup(input_path);
    if (!copy) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    qf_status s = qf_sentence_pipeline_attach(m, dirname(copy), err);
    free(copy);
    return s;
}

/* --threads 1 means one CPU: no second thread. 0 means all cores, which may be one. */
static bool hash_in_background(const qf_read_params *params)
{
    if (params->threads == 1) return false;
    return params->threads > 1 || sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/* The readers that fork: HDF5 (and .keras, whose weights are HDF5) runs libhdf5 once in a child
 * first (readers/hdf5/hdf5.c). A fork copies only the calling thread, and a lock that another thread
 * holds at that moment stays held in the child for good: AddressSanitizer's allocator (GCC 12) does
 * not take its locks around fork, so a hash thread starting, allocating or ending just then left
 * the child waiting forever, its parent with it (golden_outputs under ASan, one run in three). Their
 * sources are hashed after the read: no thread of qforge's runs while they fork. */
static bool reader_forks(qf_format fmt)
{
    return fmt == QF_FORMAT_HDF5 || fmt == QF_FORMAT_ZIP || fmt == QF_FORMAT_KERAS_ZIP;
}

qf_status qf_model_read(const char *path, const qf_read_params *params, qf_model **out, qf_error *err)
{
    *out = NULL;
    struct stat st;
    qf_file *f = NULL;
    qf_status s;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a folder the user named: the model file found in it must stay inside it */
        static const char *const names[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json",
                                            "model.safetensors", "pytorch_model.bin"};
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] && !qf_file_beside_exists(path, names[k])) k++;
        if (k == sizeof names / sizeof names[0])
            return qf_error_set(err, QF_STATUS_NOT_FOUND, path, NULL, -1, NULL,
                                "folder holds no model.safetensors(.index.json) or pytorch_model.bin(.index.json)");
        s = qf_file_map_beside(path, names[k], &f, err);
    } else {
        s = qf_file_map(path, &f, err);
    }
    return s ? s : qf_model_read_file(f, params, out, err);
}

qf_status qf_model_read_file(qf_file *f, const qf_read_params *params, qf_model **out, qf_error *err)
{
    qf_read_params defaults = qf_read_params_default();
    if (!params) params = &defaults;
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", qf_file_path(f));
    qf_error_set_file(err, path);
    qf_status s = QF_STATUS_OK;
    uint64_t size = qf_file_size(f);
    qf_format fmt = qf_format_detect(qf_file_data(f), size);
    /* On a second thread the source hash starts now and runs while the reader parses; hashed on
     * this thread (--threads 1) it waits until the file has parsed. The job keeps its own reference
     * to the mapping (a shard index's is released by its reader). */
    const bool to_hash = params->hash_source && fmt != QF_FORMAT_QF && fmt != QF_FORMAT_UNKNOWN;
    const bool background = hash_in_background(params) && !reader_forks(fmt);
    qf_file *hash_later = to_hash && !background ? qf_file_retain(f) : NULL;
    qf_sha256_job *hash = NULL;
    if (to_hash && background) {
        s = qf_sha256_job_start(f, true, &hash, err);
        if (s) {
            qf_file_unmap(f);
            return s;
        }
    }
    qf_model *m = NULL;
    switch (fmt) {
    case QF_FORMAT_TORCH_ZIP:
    case QF_FORMAT_TORCH_LEGACY: s = qf_torch_read(f, params, &m, err); break;
    case QF_FORMAT_SAFETENSORS: s = qf_safetensors_read(f, params, &m, err); break;
    case QF_FORMAT_ONNX: s = qf_onnx_read(f, params, &m, err); break;
    case QF_FORMAT_SHARD_INDEX: s = qf_sharded_read(f, params, &m, err); break;
    case QF_FORMAT_QF: {
        qf_qfile_open_params op = qf_qfile_open_params_default();
        op.verify_checksums = params->verify_checksums;
        s = qf_qfile_read(f, &op, &m, err);
        break;
    }
    case QF_FORMAT_HDF5: s = qf_hdf5_read(f, params, &m, err); break;
    /* every other zip is validated as an archive first (duplicate entries are refused) */
    case QF_FORMAT_ZIP:
    case QF_FORMAT_KERAS_ZIP: s = qf_keras_read(f, params, &m, err); break;
    default: {
        const uint8_t *d = qf_file_data(f);
        const char *what = "not a PyTorch, safetensors, ONNX, HDF5 or .qf file (first bytes do not match any)";
        if (size >= 6 && memcmp(d, "\x93NUMPY", 6) == 0)
            what = "numpy .npy array file: not a checkpoint format (object arrays in it are pickles and are never loaded)";
        else if (size >= 262 && memcmp(d + 257, "ustar", 5) == 0)
            what = "tar archive: the PyTorch tar checkpoint format of 2017 and earlier is not read; re-save it with torch.save";
        qf_file_unmap(f);
        return qf_error_set(err, QF_STATUS_UNKNOWN_FORMAT, path, NULL, 0, NULL, "%s", what);
    }
    }
    if (s) {
        qf_sha256_job_release(hash);
        qf_file_unmap(hash_later);
        return s;
    }
    if (fmt != QF_FORMAT_QF) {
        char size_text[32];
        snprintf(size_text, sizeof size_text, "%llu", (unsigned long long)size);
        if (!s) s = qf_model_set_meta(m, "source.format", qf_format_name(fmt), err);
        if (!s) s = qf_model_set_meta(m, "source.path", path, err);
        if (!s) s = qf_model_set_meta(m, "source.size", size_text, err);
        if (!s && hash_later) s = qf_sha256_job_start(hash_later, false, &hash, err);
        if (!s && hash) s = qf_model_set_meta_sha256_job(m, "source.sha256", hash, err); /* handed over */
        else qf_sha256_job_release(hash);
        if (!s) s = attach_config(m, path, params->config_path, err);
        if (!s) s = attach_pipeline(m, path, err);
    }
    qf_file_unmap(hash_later);
    if (s) {
        qf_model_destroy(m);
        return s;
    }
    *out = m;
    return QF_STATUS_OK;
}
