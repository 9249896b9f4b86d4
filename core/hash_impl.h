/*
 * core/hash_impl.h — internal to core/ (and its tests): incremental SHA-256, so that a mapped file
 * can be hashed in chunks (core/file.c releases each chunk's pages once hashed), and the switch
 * between the SHA-NI and the portable block functions that the tests compare. The background
 * SHA-256 job of a file (core.h, qf_sha256_job) is built on it.
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

#endif /* QFORGE_CORE_HASH_IMPL_H */
