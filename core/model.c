/*
 * core/model.c — the canonical model every reader produces and every writer consumes: an ordered
 * list of named tensors with a hash index on names, owned buffers, kept-alive objects (mapped files,
 * source models) whose bytes tensors borrow, an optional producer that makes some tensors' bytes on
 * demand (core.h: produced tensors), string metadata and the config.json text. A metadata
 * value may still be being computed on another thread (the source file's SHA-256, a qf_sha256_job
 * shared by the models derived from it): it is waited for where it is first read.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash_impl.h"
#include "qforge/core.h"

typedef struct kept_object {
    void *obj;
    void (*release)(void *);
} kept_object;

typedef struct meta_entry {
    char *key;
    char *value;        /* NULL while job is set */
    qf_sha256_job *job; /* a value being computed; one reference */
} meta_entry;

static const char sha256_placeholder[65] = "0000000000000000000000000000000000000000000000000000000000000000";

static const char *entry_value(const meta_entry *e) { return e->job ? qf_sha256_job_hex(e->job) : e->value; }

struct qf_model {
    int refcount;
    qf_tensor *tensors;
    size_t tensor_count, tensor_cap;
    /* open addressing: slot holds tensor index + 1, 0 = empty */
    size_t *index_slots;
    size_t index_cap;
    void **buffers;
    size_t buffer_count, buffer_cap;
    kept_object *kept;
    size_t kept_count, kept_cap;
    meta_entry *meta;
    size_t meta_count, meta_cap;
    char *config_json;
    qf_tensor_producer producer; /* produces == NULL: none */
};

static qf_status no_memory(qf_error *err)
{
    return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
}

/* Grows *array to hold at least `need` items of `item` bytes (doubling). */
static bool grow(void **array, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (!qf_mul_size(n, 2, &n)) return false;
    }
    size_t bytes;
    if (!qf_mul_size(n, item, &bytes)) return false;
    void *p = realloc(*array, bytes);
    if (!p) return false;
    *array = p;
    *cap = n;
    return true;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static bool index_rebuild(qf_model *m, size_t cap)
{
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < m->tensor_count; i++) {
        size_t j = (size_t)hash_name(m->tensors[i].name) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = i + 1;
    }
    free(m->index_slots);
    m->index_slots = slots;
    m->index_cap = cap;
    return true;
}

qf_status qf_model_create(qf_model **out, qf_error *err)
{
    if (!out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "out is NULL");
    qf_model *m = calloc(1, sizeof *m);
    if (!m) return no_memory(err);
    m->refcount = 1;
    *out = m;
    return QF_STATUS_OK;
}

qf_model *qf_model_retain(qf_model *m)
{
    if (m) m->refcount++;
    return m;
}

void qf_model_destroy(qf_model *m)
{
    if (!m || --m->refcount > 0) return;
    /* first: the producer's context may borrow from the kept objects */
    if (m->producer.destroy) m->producer.destroy(m->producer.ctx);
    for (size_t i = 0; i < m->tensor_count; i++) {
        qf_tensor *t = &m->tensors[i];
        if (t->source_name != t->name) free((char *)t->source_name);
        free((char *)t->name);
        free((char *)t->quant.scale_name);
        free((char *)t->quant.zero_point_name);
    }
    free(m->tensors);
    free(m->index_slots);
    for (size_t i = 0; i < m->buffer_count; i++) free(m->buffers[i]);
    free(m->buffers);
    /* release in reverse order: later objects may depend on earlier ones */
    for (size_t i = m->kept_count; i-- > 0;) m->kept[i].release(m->kept[i].obj);
    free(m->kept);
    for (size_t i = 0; i < m->meta_count; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
        qf_sha256_job_release(m->meta[i].job);
    }
    free(m->meta);
    free(m->config_json);
    free(m);
}

qf_status qf_model_keep(qf_model *m, void *obj, void (*release)(void *), qf_error *err)
{
    if (!grow((void **)&m->kept, &m->kept_cap, m->kept_count + 1, sizeof *m->kept)) {
        if (release) release(obj);
        return no_memory(err);
    }
    m->kept[m->kept_count].obj = obj;
    m->kept[m->kept_count].release = release;
    m->kept_count++;
    return QF_STATUS_OK;
}

qf_status qf_model_alloc(qf_model *m, uint64_t nbytes, void **out, qf_error *err)
{
    uint64_t rounded;
    if (!qf_align_up_u64(nbytes ? nbytes : 1, QF_QF_ALIGN, &rounded) || (uint64_t)(size_t)rounded != rounded)
        return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, NULL, "buffer of %llu bytes",
                            (unsigned long long)nbytes);
    if (!grow((void **)&m->buffers, &m->buffer_cap, m->buffer_count + 1, sizeof *m->buffers)) return no_memory(err);
    void *p = aligned_alloc(QF_QF_ALIGN, (size_t)rounded);
    if (!p) return no_memory(err);
    memset(p, 0, (size_t)rounded);
    m->buffers[m->buffer_count++] = p;
    *out = p;
    return QF_STATUS_OK;
}

static qf_status check_name(const char *name, const char *what, qf_error *err)
{
    if (!name || !name[0])
        return qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, NULL, "empty %s name", what);
    size_t len = strnlen(name, QF_MAX_NAME_LEN + 1);
    if (len > QF_MAX_NAME_LEN) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL, "%s name longer than %d bytes", what,
                     QF_MAX_NAME_LEN);
        qf_error_expected(err, "<= %d bytes", QF_MAX_NAME_LEN);
        qf_error_found(err, "%zu bytes", strlen(name));
        return QF_STATUS_LIMIT;
    }
    /* a .qf stores names in JSON, which is UTF-8: a name that is not could be written but never read */
    if (!qf_text_is_utf8(name, len)) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, name, "%s name is not valid UTF-8", what);
        qf_error_expected(err, "UTF-8 text");
        qf_error_found(err, "'%s'", name);
        return QF_STATUS_FORMAT;
    }
    return QF_STATUS_OK;
}

qf_status qf_model_add_tensor(qf_model *m, const char *name, const char *source_name, qf_dtype dtype,
                              int32_t rank, const int64_t *shape, const void *data, uint64_t nbytes,
                              size_t *index_out, qf_error *err)
{
    qf_status st = check_name(name, "tensor", err);
    if (st) return st;
    if (source_name && (st = check_name(source_name, "source tensor", err))) return st;
    if (m->tensor_count >= QF_MAX_TENSORS)
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, name, "more than %u tensors", QF_MAX_TENSORS);
    if ((unsigned)dtype >= (unsigned)QF_DTYPE_COUNT_)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, name, "tensor '%s': invalid dtype", name);
    if (rank < 0 || rank > QF_MAX_RANK) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, name, "tensor '%s' has rank %d", name, (int)rank);
        qf_error_expected(err, "rank <= %d", QF_MAX_RANK);
        qf_error_found(err, "%d", (int)rank);
        return QF_STATUS_LIMIT;
    }
    uint64_t want;
    for (int32_t i = 0; i < rank; i++)
        if (shape[i] < 0)
            return qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, name, "tensor '%s': negative dimension %lld",
                                name, (long long)shape[i]);
    if (!qf_shape_nbytes(dtype, rank, shape, &want))
        return qf_error_set(err, QF_STATUS_OVERFLOW, NULL, NULL, -1, name,
                            "tensor '%s': element count x dtype size overflows", name);
    if (want != nbytes) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "tensor '%s': byte size does not match its shape",
                     name);
        qf_error_expected(err, "%llu bytes", (unsigned long long)want);
        qf_error_found(err, "%llu bytes", (unsigned long long)nbytes);
        return QF_STATUS_SHAPE;
    }
    if (nbytes > 0 && !data)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, name, "tensor '%s' has no data", name);
    if (qf_model_find(m, name, NULL)) {
        qf_error_set(err, QF_STATUS_DUPLICATE, NULL, NULL, -1, name, "duplicate tensor name '%s'", name);
        return QF_STATUS_DUPLICATE;
    }
    if (!grow((void **)&m->tensors, &m->tensor_cap, m->tensor_count + 1, sizeof *m->tensors)) return no_memory(err);
    /* keep load factor <= 1/2 */
    if ((m->tensor_count + 1) * 2 > m->index_cap) {
        size_t cap = m->index_cap ? m->index_cap * 2 : 64;
        if (!index_rebuild(m, cap)) return no_memory(err);
    }
    qf_tensor *t = &m->tensors[m->tensor_count];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->source_name = (source_name && strcmp(source_name, name) != 0) ? strdup(source_name) : t->name;
    if (!t->name || !t->source_name) {
        if (t->source_name != t->name) free((char *)t->source_name);
        free((char *)t->name);
        return no_memory(err);
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    size_t j = (size_t)hash_name(name) & (m->index_cap - 1);
    while (m->index_slots[j]) j = (j + 1) & (m->index_cap - 1);
    m->index_slots[j] = m->tensor_count + 1;
    if (index_out) *index_out = m->tensor_count;
    m->tensor_count++;
    return QF_STATUS_OK;
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = false;
    return d;
}

qf_status qf_model_set_quant(qf_model *m, size_t index, qf_quant_scheme scheme, int32_t axis,
                             const char *scale_name, const char *zero_point_name, qf_error *err)
{
    if (index >= m->tensor_count || (unsigned)scheme >= (unsigned)QF_QUANT_SCHEME_COUNT_)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "bad tensor index or scheme");
    qf_tensor *t = &m->tensors[index];
    if (scheme != QF_QUANT_NONE && !scale_name)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name, "quantized tensor '%s' needs a scale",
                            t->name);
    if (scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL && (axis < 0 || axis >= t->rank))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name, "tensor '%s': axis %d out of range",
                            t->name, (int)axis);
    bool ok = true;
    char *s = dup_or_null(scale_name, &ok);
    char *z = dup_or_null(zero_point_name, &ok);
    if (!ok) {
        free(s);
        free(z);
        return no_memory(err);
    }
    free((char *)t->quant.scale_name);
    free((char *)t->quant.zero_point_name);
    t->quant.scheme = scheme;
    t->quant.axis = axis;
    t->quant.scale_name = s;
    t->quant.zero_point_name = z;
    return QF_STATUS_OK;
}

qf_status qf_model_set_tensor_data(qf_model *m, size_t index, int32_t rank, const int64_t *shape,
                                   const void *data, uint64_t nbytes, qf_error *err)
{
    if (index >= m->tensor_count)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "bad tensor index");
    qf_tensor *t = &m->tensors[index];
    if (rank < 0 || rank > QF_MAX_RANK)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name, "tensor '%s': rank %d", t->name,
                            (int)rank);
    for (int32_t i = 0; i < rank; i++)
        if (shape[i] < 0)
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name,
                                "tensor '%s': negative dimension", t->name);
    uint64_t want;
    if (!qf_shape_nbytes(t->dtype, rank, shape, &want) || want != nbytes || (nbytes > 0 && !data))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, t->name,
                            "tensor '%s': new data does not match its shape", t->name);
    t->rank = rank;
    for (int32_t i = 0; i < QF_MAX_RANK; i++) t->shape[i] = i < rank ? shape[i] : 0;
    t->data = data;
    t->nbytes = nbytes;
    return QF_STATUS_OK;
}

qf_status qf_model_rename_tensor(qf_model *m, size_t index, const char *name, qf_error *err)
{
    if (index >= m->tensor_count)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "bad tensor index");
    qf_status st = check_name(name, "tensor", err);
    if (st) return st;
    size_t other;
    if (qf_model_find(m, name, &other)) {
        if (other == index) return QF_STATUS_OK;
        return qf_error_set(err, QF_STATUS_DUPLICATE, NULL, NULL, -1, name, "duplicate tensor name '%s'", name);
    }
    char *copy = strdup(name);
    if (!copy) return no_memory(err);
    qf_tensor *t = &m->tensors[index];
    if (t->source_name == t->name) {
        t->name = copy; /* the old string lives on as source_name */
    } else {
        free((char *)t->name);
        t->name = copy;
    }
    if (!index_rebuild(m, m->index_cap)) return no_memory(err);
    return QF_STATUS_OK;
}

size_t qf_model_tensor_count(const qf_model *m) { return m->tensor_count; }

const qf_tensor *qf_model_tensor(const qf_model *m, size_t index)
{
    return index < m->tensor_count ? &m->tensors[index] : NULL;
}

const qf_tensor *qf_model_find(const qf_model *m, const char *name, size_t *index_out)
{
    if (!m->index_cap || !name) return NULL;
    size_t j = (size_t)hash_name(name) & (m->index_cap - 1);
    while (m->index_slots[j]) {
        const qf_tensor *t = &m->tensors[m->index_slots[j] - 1];
        if (strcmp(t->name, name) == 0) {
            if (index_out) *index_out = m->index_slots[j] - 1;
            return t;
        }
        j = (j + 1) & (m->index_cap - 1);
    }
    return NULL;
}

uint64_t qf_model_total_bytes(const qf_model *m)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->tensor_count; i++)
        if (!qf_add_u64(total, m->tensors[i].nbytes, &total)) return UINT64_MAX;
    return total;
}

/* Sets key to the owned value v or the job reference j (exactly one non-NULL); both are released
 * on failure. */
static qf_status put_meta(qf_model *m, const char *key, char *v, qf_sha256_job *j, qf_error *err)
{
    for (size_t i = 0; i < m->meta_count; i++) {
        if (strcmp(m->meta[i].key, key) == 0) {
            free(m->meta[i].value);
            qf_sha256_job_release(m->meta[i].job);
            m->meta[i].value = v;
            m->meta[i].job = j;
            return QF_STATUS_OK;
        }
    }
    if (m->meta_count >= QF_MAX_META_ENTRIES) {
        free(v);
        qf_sha256_job_release(j);
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, key, "more than %d metadata entries",
                            QF_MAX_META_ENTRIES);
    }
    char *k = strdup(key);
    if (!k || !grow((void **)&m->meta, &m->meta_cap, m->meta_count + 1, sizeof *m->meta)) {
        free(k);
        free(v);
        qf_sha256_job_release(j);
        return no_memory(err);
    }
    m->meta[m->meta_count].key = k;
    m->meta[m->meta_count].value = v;
    m->meta[m->meta_count].job = j;
    m->meta_count++;
    return QF_STATUS_OK;
}

qf_status qf_model_set_meta(qf_model *m, const char *key, const char *value, qf_error *err)
{
    qf_status st = check_name(key, "metadata key", err);
    if (st) return st;
    if (!value) value = "";
    if (strnlen(value, QF_MAX_META_VALUE_LEN + 1) > QF_MAX_META_VALUE_LEN)
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, key, "metadata value of '%s' longer than %u bytes",
                            key, QF_MAX_META_VALUE_LEN);
    /* values of unknown encoding (paths, a file's own metadata) are stored as UTF-8, stray bytes as
     * U+FFFD: the .qf holding them is JSON */
    size_t len = strlen(value), need = qf_text_utf8_repair(value, len, NULL, 0);
    if (need > QF_MAX_META_VALUE_LEN)
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, key,
                            "metadata value of '%s' longer than %u bytes once made UTF-8", key, QF_MAX_META_VALUE_LEN);
    char *v = malloc(need + 1);
    if (!v) return no_memory(err);
    qf_text_utf8_repair(value, len, v, need + 1);
    return put_meta(m, key, v, NULL, err);
}

qf_status qf_model_set_meta_sha256_job(qf_model *m, const char *key, qf_sha256_job *j, qf_error *err)
{
    qf_status st = !m || !j ? qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, key, "model or job is NULL")
                            : check_name(key, "metadata key", err);
    if (st) {
        qf_sha256_job_release(j);
        return st;
    }
    return put_meta(m, key, NULL, j, err);
}

qf_status qf_model_set_meta_file_sha256(qf_model *m, const char *key, qf_file *f, bool background, qf_error *err)
{
    if (!m || !f) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, key, "model or file is NULL");
    qf_status st = check_name(key, "metadata key", err);
    if (st) return st;
    qf_sha256_job *j = NULL;
    if ((st = qf_sha256_job_start(f, background, &j, err))) return st;
    return qf_model_set_meta_sha256_job(m, key, j, err);
}

const char *qf_model_get_meta(const qf_model *m, const char *key)
{
    for (size_t i = 0; i < m->meta_count; i++)
        if (strcmp(m->meta[i].key, key) == 0) return entry_value(&m->meta[i]);
    return NULL;
}

size_t qf_model_meta_count(const qf_model *m) { return m->meta_count; }

bool qf_model_meta_at(const qf_model *m, size_t i, const char **key, const char **value)
{
    if (i >= m->meta_count) return false;
    if (key) *key = m->meta[i].key;
    if (value) *value = entry_value(&m->meta[i]);
    return true;
}

bool qf_model_meta_peek(const qf_model *m, size_t i, const char **key, const char **value, bool *pending)
{
    if (i >= m->meta_count) return false;
    const meta_entry *e = &m->meta[i];
    bool wait = e->job && !qf_sha256_job_done(e->job);
    if (key) *key = e->key;
    if (value) *value = wait ? sha256_placeholder : entry_value(e);
    if (pending) *pending = wait;
    return true;
}

qf_status qf_model_copy_meta(qf_model *dst, const qf_model *src, qf_error *err)
{
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; !st && i < src->meta_count; i++) {
        const meta_entry *e = &src->meta[i];
        if (e->job) st = put_meta(dst, e->key, NULL, qf_sha256_job_retain(e->job), err);
        else st = qf_model_set_meta(dst, e->key, e->value, err);
    }
    return st;
}

qf_status qf_model_set_config_json(qf_model *m, const char *text, size_t len, qf_error *err)
{
    if (len > QF_MAX_CONFIG_JSON)
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, "config.json", "config.json larger than %u bytes",
                            QF_MAX_CONFIG_JSON);
    /* a .qf stores it inside its JSON header: only UTF-8 (json-c's own check lets overlong forms
     * such as C0 90 through) */
    if (!qf_text_is_utf8(text, len)) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, "config.json", "config.json is not valid UTF-8");
        qf_error_expected(err, "UTF-8 text (no overlong forms, surrogates or stray bytes)");
        return QF_STATUS_FORMAT;
    }
    char *copy = malloc(len + 1);
    if (!copy) return no_memory(err);
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(m->config_json);
    m->config_json = copy;
    return QF_STATUS_OK;
}

const char *qf_model_config_json(const qf_model *m) { return m->config_json; }

qf_status qf_model_set_producer(qf_model *m, const qf_tensor_producer *producer, qf_error *err)
{
    if (!producer) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "producer is NULL");
    const char *problem = NULL;
    if (!m) problem = "model is NULL";
    else if (!producer->produces || !producer->produce) problem = "producer lacks produces or produce";
    else if (m->producer.produces) problem = "model already has a producer";
    if (problem) {
        if (producer->destroy) producer->destroy(producer->ctx);
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "%s", problem);
    }
    m->producer = *producer;
    return QF_STATUS_OK;
}

const qf_tensor_producer *qf_model_producer(const qf_model *m)
{
    return m && m->producer.produces ? &m->producer : NULL;
}

bool qf_model_tensor_produced(const qf_model *m, size_t index)
{
    return m && m->producer.produces && index < m->tensor_count && m->producer.produces(m->producer.ctx, m, index);
}

qf_status qf_model_check_in_memory(const qf_model *m, const char *file, const char *consumer, qf_error *err)
{
    for (size_t i = 0; m && m->producer.produces && i < m->tensor_count; i++) {
        if (!qf_model_tensor_produced(m, i)) continue;
        const char *name = m->tensors[i].name;
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, file, NULL, -1, name,
                     "tensor '%s' is produced while its model is written (a lazily quantized model), and %s "
                     "needs its bytes in memory: write such a model with qf_qfile_write, or quantize it in memory",
                     name, consumer ? consumer : "this consumer");
        qf_error_expected(err, "a model whose tensors are all in memory");
        qf_error_found(err, "produced tensor '%s'", name);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    return QF_STATUS_OK;
}
