/*
 * core/hash_impl.h — internal to core/ (and its tests): incremental SHA-256, so that a mapped file
 * can be hashed in chunks (core/file.c releases each chunk's pages once hashed), and the switch
 * between the SHA-NI and the portable block functions that the tests compare; and the background
 * SHA-256 job of a file behind qf_model_set_meta_file_sha256 (core/file.c, used by core/model.c).
 */
#ifndef QFORGE_CORE_HASH_IMPL_H
#define QFORGE_CORE_HASH_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"

typedef struct qf_sha256_ctx {
    uint32_t h[8];
    uint8_t buf[64];
    size_t buf_len;
    uint64_t total;
    bool use_ni;
} qf_sha256_ctx;

/* True when the CPU has the x86 SHA extensions (and SSSE3 / SSE4.1). */
bool qf_sha256_ni_available(void);
/* allow_ni false: the portable block function only (the specification the tests compare with). */
void qf_sha256_init_impl(qf_sha256_ctx *c, bool allow_ni);
void qf_sha256_init(qf_sha256_ctx *c);
void qf_sha256_update(qf_sha256_ctx *c, const void *data, size_t size);
void qf_sha256_final(qf_sha256_ctx *c, uint8_t digest[32]);

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

#endif /* QFORGE_CORE_HASH_IMPL_H */
