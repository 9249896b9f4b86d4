/*
 * tests/fuzz/fuzz_common.h — helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c) and the
 * replay driver: memory-backed files for entry points that take a path (memfd_create: the bytes
 * never touch a real file system) and the entry point every target defines.
 */
#ifndef QF_TESTS_FUZZ_COMMON_H
#define QF_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qforge/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memory-backed file holding data[0..size); its path is "/proc/self/fd/N". -1 on failure. */
static inline int qf_fuzz_memfd(const char *name, const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* What a reader target does with the outcome of one read: for an accepted model, read the last
 * byte of every tensor (every extent must be readable) and every metadata entry, so that the
 * sanitizers see a bad pointer or size; for a refused one, format its error (the error path must be
 * as safe as the success path). Frees the model. */
static inline void qf_fuzz_consume(qf_status st, qf_model *m, const qf_error *err)
{
    if (st == QF_STATUS_OK) {
        volatile uint64_t sum = 0;
        for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
            const qf_tensor *t = qf_model_tensor(m, i);
            if (t->nbytes) sum += ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        for (size_t i = 0; i < qf_model_meta_count(m); i++) {
            const char *k, *v;
            qf_model_meta_at(m, i, &k, &v);
        }
        (void)qf_model_config_json(m);
        (void)sum;
    } else if (err) {
        char line[2048];
        qf_error_format(err, line, sizeof line);
    }
    qf_model_destroy(m);
}

#endif /* QF_TESTS_FUZZ_COMMON_H */
