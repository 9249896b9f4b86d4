/*
 * qforge core: the layer every other layer stands on.
 *
 *   - status codes (one table) and the caller-owned error detail every fallible call fills;
 *   - checked size arithmetic (add, multiply, align-up) used for every offset and byte count;
 *   - the dtype table;
 *   - read-only memory-mapped input files;
 *   - the canonical model: named tensors (dtype, shape, borrowed, owned or produced bytes,
 *     quantization scheme), string metadata and the Hugging Face config text.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *   - every call that can fail returns qf_status and takes an optional `qf_error *err` (may be NULL);
 *   - every opaque type has one create/destroy pair; destroy accepts NULL;
 *   - pointers returned by accessors are borrowed from the object unless the comment says "owned".
 */
#ifndef QFORGE_CORE_H
#define QFORGE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QF_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Status codes. X(name, text): one table, so names, texts and the enum cannot drift apart.
 * ------------------------------------------------------------------------------------------- */
#define QF_STATUS_TABLE(X)                                                           \
    X(OK, "ok")                                                                      \
    X(INVALID_ARGUMENT, "invalid argument")                                          \
    X(IO, "input/output error")                                                      \
    X(NO_MEMORY, "out of memory")                                                    \
    X(TRUNCATED, "file is truncated")                                                \
    X(FORMAT, "malformed file")                                                      \
    X(UNKNOWN_FORMAT, "unrecognised file format")                                    \
    X(UNSUPPORTED, "unsupported feature")                                            \
    X(FORBIDDEN, "forbidden content")                                                \
    X(LIMIT, "limit exceeded")                                                       \
    X(OVERFLOW, "size arithmetic overflow")                                          \
    X(CHECKSUM, "checksum mismatch")                                                 \
    X(NOT_FOUND, "not found")                                                        \
    X(DUPLICATE, "duplicate name")                                                   \
    X(SHAPE, "shape or dtype mismatch")                                              \
    X(INTERNAL, "internal error")

typedef enum qf_status {
#define QF_STATUS_ENUM_(name, text) QF_STATUS_##name,
    QF_STATUS_TABLE(QF_STATUS_ENUM_)
#undef QF_STATUS_ENUM_
    QF_STATUS_COUNT_
} qf_status;

/* "FORMAT", "CHECKSUM", ...; "UNKNOWN" for values outside the table. Static storage. */
const char *qf_status_name(qf_status s);
/* Human text of a status ("malformed file"). Static storage. */
const char *qf_status_text(qf_status s);

/* ---------------------------------------------------------------------------------------------
 * Error detail. Caller-owned (usually on the stack); filled by the first failure and never
 * overwritten by later ones until qf_error_clear. All strings are NUL-terminated, possibly
 * truncated to their field size.
 * ------------------------------------------------------------------------------------------- */
typedef struct qf_error {
    qf_status code;
    char file[QF_ERROR_PATH_MAX];  /* input file path, "" when not about a file */
    char part[QF_ERROR_FIELD_MAX]; /* part of the file: zip entry ("archive/data.pkl"), "header", ... */
    int64_t offset;                /* byte offset inside `part` (or the file when part is ""); -1 unknown */
    char object[QF_ERROR_FIELD_MAX];   /* the object involved: tensor name, pickle opcode, global, node */
    char expected[QF_ERROR_FIELD_MAX]; /* what was expected, "" when not applicable */
    char found[QF_ERROR_FIELD_MAX];    /* what was found, "" when not applicable */
    char message[QF_ERROR_MESSAGE_MAX];
} qf_error;

void qf_error_clear(qf_error *err); /* err may be NULL */

/*
 * Records a failure in `err` (if non-NULL and still clear) and returns `code`, so call sites read
 * `return qf_error_set(err, QF_STATUS_FORMAT, ...)`. `fmt` is a printf format for the message.
 * `part`, `object` may be NULL. `offset` -1 when unknown.
 */
qf_status qf_error_set(qf_error *err, qf_status code, const char *file, const char *part,
                       int64_t offset, const char *object, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 7, 8)))
#endif
    ;

/* Sets expected/found on an error already set (no-op when err is NULL). printf formats. */
void qf_error_expected(qf_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void qf_error_found(qf_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Fills `file` when it is still empty (readers call this once at their entry point). */
void qf_error_set_file(qf_error *err, const char *path);

/*
 * One line, no trailing newline; every field passes through qf_text_escape (names quoted from a
 * file cannot drive the terminal the line is printed on):
 *   "model.bin: archive/data.pkl offset 1834: GLOBAL 'os.system' is not an allowed class"
 *   "...: tensor 'x' has 12 bytes (expected 16, found 12)"
 * Returns the length snprintf would have written.
 */
int qf_error_format(const qf_error *err, char *buf, size_t size);

/*
 * Text read from a file, made safe to show on a terminal (core/text.c). Copies src[0..len) into dst
 * with visible escapes for everything that could control a terminal or mislead a reader:
 *   C0 controls and DEL -> \n, \t, \r or \xNN;   a backslash -> \\;
 *   bytes that are not well-formed UTF-8 (RFC 3629) -> \xNN, one per byte;
 *   C1 controls U+0080-U+009F, bidi embeddings/overrides U+202A-U+202E and isolates
 *   U+2066-U+2069, line/paragraph separators U+2028/U+2029 -> \uXXXX.
 * Every other character is copied as it is. dst (may be NULL when size is 0) receives at most
 * size - 1 bytes and a NUL; truncation never splits an escape or a character. Returns the length of
 * the whole escaped text (as snprintf: a result >= size means dst holds a truncated prefix). Each
 * source byte yields at most QF_TEXT_ESCAPE_GROWTH bytes. src may be NULL (then len is ignored).
 */
#define QF_TEXT_ESCAPE_GROWTH 4
size_t qf_text_escape(const char *src, size_t len, char *dst, size_t size);

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF). Every name a model carries (tensor names, metadata keys) must be: a .qf is JSON. */
bool qf_text_is_utf8(const char *s, size_t len);

/*
 * src[0..len) with every byte that does not begin a well-formed UTF-8 sequence replaced by U+FFFD
 * (EF BF BD), so that text of unknown encoding (a file system path, a value from a file's metadata)
 * can be stored in JSON and shown. Well-formed text is copied unchanged. dst and size as
 * qf_text_escape (truncation never splits a character); returns the whole result's length. Each
 * source byte yields at most QF_TEXT_REPAIR_GROWTH bytes.
 */
#define QF_TEXT_REPAIR_GROWTH 3
size_t qf_text_utf8_repair(const char *src, size_t len, char *dst, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Checked size arithmetic. Each returns false (and leaves *out untouched) on overflow.
 * ------------------------------------------------------------------------------------------- */
static inline bool qf_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool qf_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool qf_add_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool qf_mul_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
/* Rounds x up to a multiple of `align` (a power of two). */
static inline bool qf_align_up_u64(uint64_t x, uint64_t align, uint64_t *out)
{
    uint64_t r;
    if (align == 0 || (align & (align - 1)) != 0) return false;
    if (__builtin_add_overflow(x, align - 1, &r)) return false;
    *out = r & ~(align - 1);
    return true;
}
/* True when [offset, offset+length) lies inside [0, size). */
static inline bool qf_range_within(uint64_t offset, uint64_t length, uint64_t size)
{
    return offset <= size && length <= size - offset;
}

/* ---------------------------------------------------------------------------------------------
 * Dtypes. X(name, bytes, text): text is the name used in .qf metadata and by inspect.
 * ------------------------------------------------------------------------------------------- */
#define QF_DTYPE_TABLE(X) \
    X(F32, 4, "f32")      \
    X(F16, 2, "f16")      \
    X(BF16, 2, "bf16")    \
    X(F64, 8, "f64")      \
    X(I64, 8, "i64")      \
    X(I32, 4, "i32")      \
    X(I16, 2, "i16")      \
    X(I8, 1, "i8")        \
    X(U8, 1, "u8")        \
    X(BOOL, 1, "bool")

typedef enum qf_dtype {
#define QF_DTYPE_ENUM_(name, bytes, text) QF_DTYPE_##name,
    QF_DTYPE_TABLE(QF_DTYPE_ENUM_)
#undef QF_DTYPE_ENUM_
    QF_DTYPE_COUNT_
} qf_dtype;

size_t qf_dtype_size(qf_dtype t);       /* bytes per element; 0 for invalid */
const char *qf_dtype_name(qf_dtype t);  /* "f32"...; "?" for invalid */
bool qf_dtype_from_name(const char *name, qf_dtype *out); /* inverse of qf_dtype_name */
bool qf_dtype_is_float(qf_dtype t);

/* Element count of a shape (rank 0 => 1) with overflow checking; false on overflow or dim < 0. */
bool qf_shape_numel(int32_t rank, const int64_t *shape, uint64_t *out);
/* numel * dtype size, checked. */
bool qf_shape_nbytes(qf_dtype t, int32_t rank, const int64_t *shape, uint64_t *out);

/* Scalar conversions used by convert/quantize and the readers (round-to-nearest-even on narrowing). */
float qf_f16_to_f32(uint16_t h);
uint16_t qf_f32_to_f16(float f);
float qf_bf16_to_f32(uint16_t h);
uint16_t qf_f32_to_bf16(float f);

/* ---------------------------------------------------------------------------------------------
 * Read-only mapped files. The mapping is private and read-only; an empty file maps to a
 * non-NULL pointer of size 0.
 * ------------------------------------------------------------------------------------------- */
typedef struct qf_file qf_file;

/*
 * Every input is opened so that nothing but a regular file is read: the open cannot block (a FIFO
 * or device is opened non-blocking) and a FIFO, socket, device or directory is refused with IO
 * (message: "'<path>' is a FIFO (named pipe), not a regular file").
 *
 * qf_file_map: a file the user named (the model, --config, --data, statistics): it may lie
 * anywhere; symlinks are followed.
 */
qf_status qf_file_map(const char *path, qf_file **out, qf_error *err);
/*
 * A file qforge found beside a model rather than one the user named: config.json, shards, tokenizer
 * files, ONNX external data. `name` is relative to the model's folder `dir`; the file must resolve
 * (symlinks followed) inside that folder: an absolute name, a ".." component or a backslash, and a
 * name that resolves elsewhere, are FORBIDDEN (file: dir/name, object: name; message "'<name>'
 * resolves outside the model folder", expected the folder, found the resolved path). The one
 * exception is the Hugging Face hub cache, whose snapshots/<revision>/ files are links to
 * ../../blobs/<hash>: a file of such a folder may resolve into that repository's blobs/. The
 * mapping is named dir/name.
 */
qf_status qf_file_map_beside(const char *dir, const char *name, qf_file **out, qf_error *err);
/* Whether `dir`/`name` exists as any kind of entry (lstat: a dangling link or a FIFO counts), so
 * that an optional file beside a model is either absent or goes through qf_file_map_beside. */
bool qf_file_beside_exists(const char *dir, const char *name);
/*
 * Wraps `size` bytes held in memory as a qf_file named `name` (used in error messages; may be NULL:
 * "<memory>"). The bytes are BORROWED: they must stay valid and unchanged until qf_file_unmap,
 * which frees only the wrapper. Lets the readers run on bytes that never were a file (fuzzing,
 * sweeps over truncations).
 */
qf_status qf_file_from_memory(const void *data, uint64_t size, const char *name, qf_file **out, qf_error *err);
/* Drops one reference (qf_file_map and qf_file_from_memory give one); the mapping goes with the
 * last. Accepts NULL. */
void qf_file_unmap(qf_file *f);
/* Adds a reference: the mapping stays valid until the matching qf_file_unmap too. Returns f. */
qf_file *qf_file_retain(qf_file *f);
const uint8_t *qf_file_data(const qf_file *f); /* borrowed; valid until the last qf_file_unmap */
uint64_t qf_file_size(const qf_file *f);
const char *qf_file_path(const qf_file *f);    /* borrowed */

/* SHA-256 of the whole file, hashed in chunks whose pages are released once hashed, so hashing a
 * large input does not leave it resident in this process. */
void qf_file_sha256(const qf_file *f, uint8_t digest[32]);

/*
 * Advice after a pass over input bytes: the whole pages of [p, p + n) that lie inside a live
 * qf_file mapping are released from this process's resident memory (touched again, they are read
 * back from the page cache: the bytes never change). Memory that is not a qf_file mapping (model
 * buffers, heap) is left alone, so any tensor's data pointer may be passed. Thread-safe.
 */
void qf_file_release_pages(const void *p, uint64_t n);

/* SHA-256 of a byte range (FIPS 180-4). */
void qf_sha256(const void *data, size_t size, uint8_t digest[32]);
/* Lower-case hex of a digest into out (65 bytes incl. NUL). */
void qf_sha256_hex(const uint8_t digest[32], char out[65]);

/* ---------------------------------------------------------------------------------------------
 * Quantization scheme attached to a tensor. Scale (and zero point, when asymmetric) are other
 * tensors of the same model, named by `scale_name` / `zero_point_name`.
 * ------------------------------------------------------------------------------------------- */
typedef enum qf_quant_scheme {
    QF_QUANT_NONE = 0,
    QF_QUANT_SYMMETRIC_PER_TENSOR,  /* int8, z = 0, one scale */
    QF_QUANT_SYMMETRIC_PER_CHANNEL, /* int8, z = 0, one scale per index of `axis` */
    QF_QUANT_ASYMMETRIC_PER_TENSOR, /* uint8 or int8 with zero point */
    QF_QUANT_SCHEME_COUNT_
} qf_quant_scheme;

const char *qf_quant_scheme_name(qf_quant_scheme s); /* "none", "symmetric_per_tensor", ... */
bool qf_quant_scheme_from_name(const char *name, qf_quant_scheme *out);

typedef struct qf_quant {
    qf_quant_scheme scheme;
    int32_t axis;                /* channel axis for per-channel, else 0 */
    const char *scale_name;      /* borrowed from the model; NULL when scheme is NONE */
    const char *zero_point_name; /* borrowed from the model; NULL when symmetric */
} qf_quant;

/* ---------------------------------------------------------------------------------------------
 * Canonical model.
 * ------------------------------------------------------------------------------------------- */
typedef struct qf_tensor {
    const char *name;        /* canonical name; owned by the model */
    const char *source_name; /* name in the source file; owned by the model */
    qf_dtype dtype;
    int32_t rank;
    int64_t shape[QF_MAX_RANK];
    const void *data; /* borrowed from a mapped file kept alive by the model, or owned by the model */
    uint64_t nbytes;  /* == numel * dtype size, checked when added */
    qf_quant quant;
} qf_tensor;

typedef struct qf_model qf_model;

/* Creates an empty model with one reference. */
qf_status qf_model_create(qf_model **out, qf_error *err);
/* Drops one reference; frees tensors, owned buffers and kept objects at zero. Accepts NULL. */
void qf_model_destroy(qf_model *m);
/* Adds a reference (for a model that borrows another's data, see qf_model_keep). */
qf_model *qf_model_retain(qf_model *m);

/*
 * Keeps `obj` alive for the model's lifetime and calls release(obj) when the model is freed
 * (e.g. a qf_file whose mapping tensors borrow from, or a source model). On failure release(obj)
 * is called at once, so ownership always passes.
 */
qf_status qf_model_keep(qf_model *m, void *obj, void (*release)(void *), qf_error *err);

/* Allocates a zeroed, 64-byte-aligned buffer owned by the model (freed with it). */
qf_status qf_model_alloc(qf_model *m, uint64_t nbytes, void **out, qf_error *err);

/*
 * Adds a tensor. `data` must stay valid for the model's life: either memory from qf_model_alloc,
 * or bytes kept alive through qf_model_keep. Checks the name (non-empty, ≤ QF_MAX_NAME_LEN, unique),
 * rank ≤ QF_MAX_RANK, dims ≥ 0, and nbytes == numel × dtype size (checked arithmetic).
 * `source_name` may be NULL (then equals name). On success *index_out (may be NULL) is its index.
 */
qf_status qf_model_add_tensor(qf_model *m, const char *name, const char *source_name, qf_dtype dtype,
                              int32_t rank, const int64_t *shape, const void *data, uint64_t nbytes,
                              size_t *index_out, qf_error *err);

/* Attaches a quantization scheme to tensor `index`; the scale / zero-point names are copied. */
qf_status qf_model_set_quant(qf_model *m, size_t index, qf_quant_scheme scheme, int32_t axis,
                             const char *scale_name, const char *zero_point_name, qf_error *err);

/*
 * Replaces the data and shape of tensor `index` (dtype, names and quantization stay), e.g. with a
 * transposed copy. `data` follows the rules of qf_model_add_tensor; nbytes must match the shape.
 */
qf_status qf_model_set_tensor_data(qf_model *m, size_t index, int32_t rank, const int64_t *shape,
                                   const void *data, uint64_t nbytes, qf_error *err);

/* Renames tensor `index` (canonical name); keeps source_name. */
qf_status qf_model_rename_tensor(qf_model *m, size_t index, const char *name, qf_error *err);

size_t qf_model_tensor_count(const qf_model *m);
const qf_tensor *qf_model_tensor(const qf_model *m, size_t index); /* borrowed; NULL if out of range */
/* Finds by canonical name; NULL when absent. *index_out (may be NULL) receives the index. */
const qf_tensor *qf_model_find(const qf_model *m, const char *name, size_t *index_out);
/* Sum of nbytes over all tensors (checked; saturates at UINT64_MAX). */
uint64_t qf_model_total_bytes(const qf_model *m);

/*
 * Metadata: ordered string key/value pairs (keys unique; setting an existing key replaces its value).
 * Conventional keys: "source.format", "source.path", "source.sha256", "source.size", plus
 * reader-specific ones ("torch.format_version", "safetensors.<key>", ...).
 */
qf_status qf_model_set_meta(qf_model *m, const char *key, const char *value, qf_error *err);
/*
 * Sets `key` to the lower-case hex SHA-256 of the whole of f without waiting for it when
 * `background`: a second thread hashes f (releasing its pages as it goes, as qf_file_sha256) while
 * the caller goes on, and the first read of the value (qf_model_get_meta, qf_model_meta_at) joins
 * it. The model holds a reference to f (qf_file_retain) until then. Freeing the model, or
 * replacing the value, before anyone read it stops the thread within one 8 MiB chunk. When not
 * `background` (or no thread can be made) the hash is computed before returning. f must be a file
 * whose bytes do not change (qf_file_from_memory bytes stay valid until the model is freed).
 */
qf_status qf_model_set_meta_file_sha256(qf_model *m, const char *key, qf_file *f, bool background, qf_error *err);

/*
 * SHA-256 of a whole file, computed on a second thread when `background` (else, or when no thread
 * can be made, at once on the caller's). Reference counted; holds a reference to f until freed.
 * qf_sha256_job_hex waits for the thread (once; thread-safe) and returns the lower-case hex, owned
 * by the job. qf_sha256_job_done: true when hex would not wait. The last release of a job nobody
 * waited for stops the thread at its next chunk and joins it. Release accepts NULL.
 */
typedef struct qf_sha256_job qf_sha256_job;
qf_status qf_sha256_job_start(qf_file *f, bool background, qf_sha256_job **out, qf_error *err);
qf_sha256_job *qf_sha256_job_retain(qf_sha256_job *j);
const char *qf_sha256_job_hex(qf_sha256_job *j);
bool qf_sha256_job_done(qf_sha256_job *j);
void qf_sha256_job_release(qf_sha256_job *j);

/* Sets metadata `key` of m to the hex digest of job j, taking over the caller's reference (released
 * on failure too). A reader starts the job before it parses, so that hashing overlaps reading. */
qf_status qf_model_set_meta_sha256_job(qf_model *m, const char *key, qf_sha256_job *j, qf_error *err);
/* Borrowed; NULL if absent. Waits for a value still being computed (see above). */
const char *qf_model_get_meta(const qf_model *m, const char *key);
size_t qf_model_meta_count(const qf_model *m);
/* Borrowed key/value of entry i (value may be NULL: not read, never waits); false if out of range.
 * Waits for a value still being computed when value is asked for. */
bool qf_model_meta_at(const qf_model *m, size_t i, const char **key, const char **value);
/*
 * Like qf_model_meta_at but never waits: a value still being computed reads as a placeholder of
 * its final length and JSON-escaped length ("0" x 64 for a SHA-256) and *pending (may be NULL) is
 * true. For sizing output before the value is needed (the .qf writer reserves its JSON this way).
 */
bool qf_model_meta_peek(const qf_model *m, size_t i, const char **key, const char **value, bool *pending);
/*
 * Sets every metadata entry of src on dst, in order (as qf_model_set_meta), without waiting for
 * values still being computed: dst shares them and reads them when it is first asked.
 */
qf_status qf_model_copy_meta(qf_model *dst, const qf_model *src, qf_error *err);

/* Hugging Face config.json text (validated JSON by whoever sets it); NULL when none. */
qf_status qf_model_set_config_json(qf_model *m, const char *text, size_t len, qf_error *err);
const char *qf_model_config_json(const qf_model *m); /* borrowed */

/*
 * Produced tensors: tensors whose bytes are made on demand instead of held in memory (a quantizer
 * that computes each int8 weight only when a writer reaches it, so memory stays near one tensor
 * whatever the model size). A produced tensor is added as any other (qf_model_add_tensor: name,
 * dtype, shape, nbytes, and a non-NULL placeholder data pointer); the model's producer says which
 * tensors are produced. A produced tensor's data pointer must never be read: only a writer pulls
 * its bytes, through produce(), for the produced tensors in increasing index order (model order),
 * each once per pass over the model. A consumer that needs the bytes otherwise refuses the model
 * (qf_model_check_in_memory).
 *
 *   produces(ctx, m, index): whether tensor `index` of m is produced;
 *   produce(ctx, m, index, dst, nbytes, err): writes the tensor's nbytes bytes into dst (64-byte
 *     aligned; the caller's buffer, which it may reuse once produce returns);
 *   ctx: owned by the model once attached; destroy(ctx) (may be NULL) runs when the model is freed,
 *     before the objects it keeps (qf_model_keep) are released, so ctx may borrow from those.
 */
typedef struct qf_tensor_producer {
    bool (*produces)(void *ctx, const qf_model *m, size_t index);
    qf_status (*produce)(void *ctx, const qf_model *m, size_t index, void *dst, uint64_t nbytes, qf_error *err);
    void *ctx;
    void (*destroy)(void *ctx);
} qf_tensor_producer;

/* Attaches `producer` (copied) to m. Ownership of producer->ctx always passes: on failure
 * (INVALID_ARGUMENT: no produces / produce, or m has a producer already) destroy(ctx) runs at once. */
qf_status qf_model_set_producer(qf_model *m, const qf_tensor_producer *producer, qf_error *err);
/* The model's producer, borrowed; NULL when every tensor's bytes are in memory. */
const qf_tensor_producer *qf_model_producer(const qf_model *m);
/* Whether tensor `index` is produced (false without a producer or out of range). */
bool qf_model_tensor_produced(const qf_model *m, size_t index);
/* OK when no tensor of m is produced; else INVALID_ARGUMENT (file: `file`, may be NULL; object: the
 * first produced tensor) saying that `consumer` ("the safetensors writer") needs the bytes in memory
 * and that such a model is written with qf_qfile_write. */
qf_status qf_model_check_in_memory(const qf_model *m, const char *file, const char *consumer, qf_error *err);

/* ---------------------------------------------------------------------------------------------
 * Atomic output files: bytes go to a temporary file in the destination folder; commit fsyncs it,
 * renames it over `path` and fsyncs the folder, so `path` is either absent, the previous complete
 * file, or the new complete file — never partial. Used by every writer.
 * ------------------------------------------------------------------------------------------- */
typedef struct qf_output qf_output;

qf_status qf_output_open(const char *path, qf_output **out, qf_error *err);
qf_status qf_output_write(qf_output *o, const void *data, size_t size, qf_error *err);
qf_status qf_output_write_zeros(qf_output *o, size_t size, qf_error *err);
uint64_t qf_output_offset(const qf_output *o); /* bytes written so far */
/* Overwrites bytes already written: [offset, offset + size) must lie below qf_output_offset (a
 * writer that learns a header's contents only after the data, e.g. checksums, fills it last). */
qf_status qf_output_write_at(qf_output *o, uint64_t offset, const void *data, size_t size, qf_error *err);
/* Flushes, fsyncs, renames, fsyncs the folder. Frees `o` whatever the result (on failure the
 * temporary file is removed). */
qf_status qf_output_commit(qf_output *o, qf_error *err);
/* Removes the temporary file and frees `o`. Accepts NULL. */
void qf_output_abort(qf_output *o);

/* CRC-32 (ISO-HDLC, the zlib / Python zlib.crc32 polynomial), continuing from `crc` (0 to start). */
uint32_t qf_crc32(uint32_t crc, const void *data, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_CORE_H */
