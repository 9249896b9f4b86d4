/*
 * core/output.c — atomic output files for every writer: a temporary file beside the destination,
 * buffered writes, then fsync + rename + fsync of the folder. Also the CRC-32 used by .qf.
 *
 * Where the file system takes O_DIRECT (and QF_DIRECT_IO is not "0"), whole 4 MiB blocks of the
 * staging buffer go to the device straight from it, at offsets that are multiples of 4 MiB: the
 * kernel copies nothing into the page cache (on this project's machines that copy cost more than
 * the quantization: ~0.6 GB/s into freshly allocated cache pages), and the fsync at commit has
 * little left to flush. The unaligned tail and the header patches of write_at go through a second,
 * ordinary descriptor of the same file. Without O_DIRECT every write is an ordinary one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "qforge/core.h"

#define OUTPUT_BUFFER_BYTES (4u << 20)
#define DIRECT_ALIGN 4096u /* offsets, lengths and the buffer address of O_DIRECT writes */

struct qf_output {
    int fd;
    int direct_fd; /* the same file opened with O_DIRECT, or -1 */
    char *path;
    char *tmp_path;
    uint8_t *buf;
    size_t buf_len;
    uint64_t offset;
};

static qf_status io_error(qf_output *o, qf_error *err, const char *what, int e)
{
    return qf_error_set(err, QF_STATUS_IO, o->path, NULL, -1,
                        NULL, "%s: %s", what, strerror(e));
}

qf_status qf_output_open(const char *path, qf_output **out, qf_error *err)
{
    *out = NULL;
    if (!path || !path[0]) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "no output path");
    qf_output *o = calloc(1, sizeof *o);
    if (!o) return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    o->fd = -1;
    o->direct_fd = -1;
    o->path = strdup(path);
    size_t n = strlen(path) + 64; /* dir ('.' at most adds 2) + "/." + base + ".tmpPID.N" */
    o->tmp_path = malloc(n);
    o->buf = aligned_alloc(DIRECT_ALIGN, OUTPUT_BUFFER_BYTES);
    if (!o->path || !o->tmp_path || !o->buf) {
        qf_output_abort(o);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    /* name: same folder, hidden, unique per process + attempt */
    char *dir_copy = strdup(path), *base_copy = strdup(path);
    if (!dir_copy || !base_copy) {
        free(dir_copy);
        free(base_copy);
        qf_output_abort(o);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    const char *dir = dirname(dir_copy);
    const char *base = basename(base_copy);
    for (int attempt = 0; attempt < 100 && o->fd < 0; attempt++) {
        snprintf(o->tmp_path, n, "%s/.%s.tmp%ld.%d", dir, base, (long)getpid(), attempt);
        o->fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (o->fd < 0 && errno != EEXIST) break;
    }
    free(dir_copy);
    free(base_copy);
    if (o->fd < 0) {
        int e = errno;
        qf_status st = qf_error_set(err, QF_STATUS_IO, path, NULL, -1, NULL, "cannot create output: %s", strerror(e));
        free(o->tmp_path);
        o->tmp_path = NULL;
        qf_output_abort(o);
        return st;
    }
    const char *direct = getenv("QF_DIRECT_IO");
    if (!direct || strcmp(direct, "0") != 0) o->direct_fd = open(o->tmp_path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    *out = o;
    return QF_STATUS_OK;
}

static qf_status pwrite_all(qf_output *o, int fd, const uint8_t *p, size_t size, uint64_t offset, qf_error *err)
{
    while (size > 0) {
        ssize_t w = pwrite(fd, p, size, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR) continue;
            return io_error(o, err, "write failed", errno);
        }
        if (w == 0) return io_error(o, err, "write failed", EIO);
        p += w;
        size -= (size_t)w;
        offset += (uint64_t)w;
    }
    return QF_STATUS_OK;
}

/* Writes the staging buffer out. Direct: only when full or at commit (`last`), so that it always
 * starts at a multiple of OUTPUT_BUFFER_BYTES; at commit the part past the last whole block goes
 * through the ordinary descriptor. */
static qf_status flush_buffer(qf_output *o, bool last, qf_error *err)
{
    if (o->buf_len == 0) return QF_STATUS_OK;
    const uint64_t start = o->offset - o->buf_len;
    qf_status st;
    if (o->direct_fd >= 0) {
        if (!last && o->buf_len < OUTPUT_BUFFER_BYTES) return QF_STATUS_OK;
        size_t whole = o->buf_len & ~(size_t)(DIRECT_ALIGN - 1);
        ssize_t w = whole ? pwrite(o->direct_fd, o->buf, whole, (off_t)start) : 0;
        if (w < 0 && errno == EINVAL) {
            /* the file system opened O_DIRECT but refuses these alignments: ordinary writes from now on */
            close(o->direct_fd);
            o->direct_fd = -1;
            w = 0;
        }
        if (w < 0 && errno != EINTR) return io_error(o, err, "write failed", errno);
        if (w < 0) w = 0;
        /* whatever a short or interrupted direct write left goes through the ordinary descriptor */
        st = pwrite_all(o, o->fd, o->buf + w, o->buf_len - (size_t)w, start + (uint64_t)w, err);
    } else {
        st = pwrite_all(o, o->fd, o->buf, o->buf_len, start, err);
    }
    if (!st) o->buf_len = 0;
    return st;
}

qf_status qf_output_write(qf_output *o, const void *data, size_t size, qf_error *err)
{
    const uint8_t *p = data;
    if (size >= OUTPUT_BUFFER_BYTES && o->direct_fd < 0) {
        /* large blocks go to the file straight from the caller's memory, without a copy */
        qf_status st = flush_buffer(o, true, err);
        if (!st) st = pwrite_all(o, o->fd, p, size, o->offset, err);
        if (!st) o->offset += size;
        return st;
    }
    while (size > 0) {
        size_t room = OUTPUT_BUFFER_BYTES - o->buf_len;
        size_t take = size < room ? size : room;
        memcpy(o->buf + o->buf_len, p, take);
        o->buf_len += take;
        o->offset += take;
        p += take;
        size -= take;
        if (o->buf_len == OUTPUT_BUFFER_BYTES) {
            qf_status st = flush_buffer(o, false, err);
            if (st) return st;
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_output_write_zeros(qf_output *o, size_t size, qf_error *err)
{
    static const uint8_t zeros[256];
    while (size > 0) {
        size_t take = size < sizeof zeros ? size : sizeof zeros;
        qf_status st = qf_output_write(o, zeros, take, err);
        if (st) return st;
        size -= take;
    }
    return QF_STATUS_OK;
}

uint64_t qf_output_offset(const qf_output *o) { return o->offset; }

qf_status qf_output_write_at(qf_output *o, uint64_t offset, const void *data, size_t size, qf_error *err)
{
    uint64_t end;
    if (!qf_add_u64(offset, size, &end) || end > o->offset)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, o->path, NULL, (int64_t)offset, NULL,
                            "write_at past the bytes written so far");
    /* bytes still in the staging buffer are patched there; the rest in the file */
    const uint64_t staged = o->offset - o->buf_len;
    const uint8_t *p = data;
    if (end > staged) {
        const uint64_t from = offset > staged ? offset : staged;
        memcpy(o->buf + (from - staged), p + (from - offset), (size_t)(end - from));
        size = (size_t)(from - offset);
    }
    return pwrite_all(o, o->fd, p, size, offset, err);
}

qf_status qf_output_commit(qf_output *o, qf_error *err)
{
    qf_status st = flush_buffer(o, true, err);
    if (!st && fsync(o->fd) != 0) st = io_error(o, err, "fsync failed", errno);
    if (!st && o->direct_fd >= 0) {
        int fd = o->direct_fd;
        o->direct_fd = -1;
        if (close(fd) != 0) st = io_error(o, err, "close failed", errno);
    }
    if (!st) {
        int fd = o->fd;
        o->fd = -1;
        if (close(fd) != 0) st = io_error(o, err, "close failed", errno);
    }
    if (!st && rename(o->tmp_path, o->path) != 0) st = io_error(o, err, "rename failed", errno);
    if (st) {
        qf_output_abort(o);
        return st;
    }
    /* the rename is durable only once the folder is synced */
    char *dir_copy = strdup(o->path);
    if (dir_copy) {
        int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir_copy);
    }
    free(o->tmp_path);
    o->tmp_path = NULL;
    qf_output_abort(o);
    return QF_STATUS_OK;
}

void qf_output_abort(qf_output *o)
{
    if (!o) return;
    if (o->direct_fd >= 0) close(o->direct_fd);
    if (o->fd >= 0) close(o->fd);
    if (o->tmp_path) unlink(o->tmp_path);
    free(o->tmp_path);
    free(o->path);
    free(o->buf);
    free(o);
}

uint32_t qf_crc32(uint32_t crc, const void *data, size_t size)
{
    return (uint32_t)crc32_z(crc, data, size);
}
