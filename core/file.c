/*
 * core/file.c — read-only memory-mapped input files. Every reader maps its input once and hands
 * out borrowed views into the mapping; nothing is read() into heap buffers. Bytes already in
 * memory can be wrapped as a qf_file too (qf_file_from_memory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qforge/core.h"

struct qf_file {
    char *path;
    const uint8_t *data;
    uint64_t size;
    bool mapped;
};

static const uint8_t empty_file_bytes[1];

qf_status qf_file_map(const char *path, qf_file **out, qf_error *err)
{
    if (!path || !out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "no path");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qf_error_set(err, QF_STATUS_IO, path, NULL, -1, NULL, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qf_error_set(err, QF_STATUS_IO, path, NULL, -1, NULL, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qf_error_set(err, QF_STATUS_IO, path, NULL, -1, NULL, "not a regular file");
    }
    qf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    f->size = (uint64_t)st.st_size;
    if (f->size == 0) {
        f->data = empty_file_bytes;
    } else {
        if ((uint64_t)(size_t)f->size != f->size) {
            close(fd);
            qf_file_unmap(f);
            return qf_error_set(err, QF_STATUS_LIMIT, path, NULL, -1, NULL, "file too large to map");
        }
        void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            qf_file_unmap(f);
            return qf_error_set(err, QF_STATUS_IO, path, NULL, -1, NULL, "cannot map: %s", strerror(e));
        }
        f->data = p;
        f->mapped = true;
    }
    close(fd);
    *out = f;
    return QF_STATUS_OK;
}

qf_status qf_file_from_memory(const void *data, uint64_t size, const char *name, qf_file **out, qf_error *err)
{
    if (!out || (!data && size > 0))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, name, NULL, -1, NULL, "no bytes");
    *out = NULL;
    qf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name ? name : "<memory>"))) {
        free(f);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, name, NULL, -1, NULL, "out of memory");
    }
    f->data = size > 0 ? data : empty_file_bytes;
    f->size = size;
    f->mapped = false;
    *out = f;
    return QF_STATUS_OK;
}

void qf_file_unmap(qf_file *f)
{
    if (!f) return;
    if (f->mapped) munmap((void *)f->data, (size_t)f->size);
    free(f->path);
    free(f);
}

const uint8_t *qf_file_data(const qf_file *f) { return f->data; }
uint64_t qf_file_size(const qf_file *f) { return f->size; }
const char *qf_file_path(const qf_file *f) { return f->path; }
