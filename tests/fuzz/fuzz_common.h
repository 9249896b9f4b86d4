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

#endif /* QF_TESTS_FUZZ_COMMON_H */
