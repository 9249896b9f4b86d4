/*
 * core/file.c — read-only memory-mapped input files. Every reader maps its input once and hands
 * out borrowed views into the mapping; nothing is read() into heap buffers. Bytes already in
 * memory can be wrapped as a qf_file too (qf_file_from_memory). Live mappings are listed so that
 * a pass over a large input (hashing, quantizing) can release the pages it is done with: touched
 * pages of a mapping count in the process's resident memory until released. A qf_file is reference
 * counted (qf_file_retain) so that a background SHA-256 job (qf_sha256_job, below) can keep the
 * mapping it reads alive whatever its reader does with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash_impl.h"
#include "qforge/core.h"

struct qf_file {
    atomic_int refs;
    char *path;
    const uint8_t *data;
    uint64_t size;
    bool mapped;
    struct qf_file *next_live; /* list of live mappings, under live_lock */
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static qf_file *live_files;

static void live_add(qf_file *f)
{
    pthread_mutex_lock(&live_lock);
    f->next_live = live_files;
    live_files = f;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(qf_file *f)
{
    pthread_mutex_lock(&live_lock);
    for (qf_file **pp = &live_files; *pp; pp = &(*pp)->next_live) {
        if (*pp == f) {
            *pp = f->next_live;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

/* Drops the whole pages inside [p, p + n) of mapping f (private, read-only: touching them again
 * reads them back from the page cache, so the bytes seen never change). */
static void drop_pages(const qf_file *f, const uint8_t *p, uint64_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p, hi = (uintptr_t)p + n;
    uintptr_t base = (uintptr_t)f->data, end = base + f->size;
    if (lo < base) lo = base;
    if (hi > end) hi = end;
    lo = (lo + page - 1) & ~(page - 1);
    if (hi != end) hi &= ~(page - 1); /* the mapping's last page is ours whole */
    else hi = (hi + page - 1) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void qf_file_release_pages(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    if (!b || n == 0) return;
    pthread_mutex_lock(&live_lock);
    for (qf_file *f = live_files; f; f = f->next_live) {
        if (!f->mapped || b + n <= f->data || b >= f->data + f->size) continue;
        drop_pages(f, b, n);
    }
    pthread_mutex_unlock(&live_lock);
}

/* Hashes f in chunks, releasing each chunk's pages once hashed; gives up (false) between chunks
 * once *stop is set (stop may be NULL). */
static bool file_sha256(const qf_file *f, uint8_t digest[32], const atomic_bool *stop)
{
    enum { CHUNK = 8u << 20 };
    qf_sha256_ctx c;
    qf_sha256_init(&c);
    for (uint64_t off = 0; off < f->size; off += CHUNK) {
        if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return false;
        size_t n = f->size - off < CHUNK ? (size_t)(f->size - off) : CHUNK;
        if (f->mapped) madvise((void *)((uintptr_t)(f->data + off) & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1)), n,
                               MADV_WILLNEED);
        qf_sha256_update(&c, f->data + off, n);
        if (f->mapped) drop_pages(f, f->data + off, n);
    }
    qf_sha256_final(&c, digest);
    return true;
}

void qf_file_sha256(const qf_file *f, uint8_t digest[32]) { (void)file_sha256(f, digest, NULL); }

/*
 * The SHA-256 of a file on a second thread. The job holds a reference to the file, so the mapping
 * outlives whatever the reader does with its own. The thread writes only hex and complete, which
 * are read after pthread_join (under lock, once). Dropping the last reference before anyone waited
 * sets stop: the thread gives up at its next 8 MiB chunk and is joined, so freeing a model that
 * never asked for its hash costs at most one chunk.
 */
struct qf_sha256_job {
    atomic_int refs;
    qf_file *file;          /* one reference, released with the job */
    pthread_mutex_t lock;   /* guards joined */
    pthread_t thread;
    bool joined;            /* no thread runs (never started, or joined) */
    atomic_bool stop;
    char hex[65];           /* valid once joined */
};

static void *sha256_job_main(void *arg)
{
    qf_sha256_job *j = arg;
    uint8_t digest[32];
    if (file_sha256(j->file, digest, &j->stop)) qf_sha256_hex(digest, j->hex);
    return NULL;
}

qf_status qf_sha256_job_start(qf_file *f, bool background, qf_sha256_job **out, qf_error *err)
{
    *out = NULL;
    qf_sha256_job *j = calloc(1, sizeof *j);
    if (!j || pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, f ? f->path : NULL, NULL, -1, NULL, "out of memory");
    }
    atomic_init(&j->refs, 1);
    atomic_init(&j->stop, false);
    j->file = qf_file_retain(f);
    j->joined = true;
    if (background) {
        /* signals stay with the threads the caller made: the hash thread blocks them all */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        j->joined = pthread_create(&j->thread, NULL, sha256_job_main, j) != 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (j->joined) { /* sequential, or no thread could be made: hash here */
        uint8_t digest[32];
        qf_file_sha256(f, digest);
        qf_sha256_hex(digest, j->hex);
    }
    *out = j;
    return QF_STATUS_OK;
}

qf_sha256_job *qf_sha256_job_retain(qf_sha256_job *j)
{
    if (j) atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
    return j;
}

const char *qf_sha256_job_hex(qf_sha256_job *j)
{
    pthread_mutex_lock(&j->lock);
    if (!j->joined) {
        pthread_join(j->thread, NULL);
        j->joined = true;
    }
    pthread_mutex_unlock(&j->lock);
    return j->hex;
}

bool qf_sha256_job_done(qf_sha256_job *j)
{
    pthread_mutex_lock(&j->lock);
    bool done = j->joined;
    pthread_mutex_unlock(&j->lock);
    return done;
}

void qf_sha256_job_release(qf_sha256_job *j)
{
    if (!j || atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1) return;
    if (!j->joined) {
        atomic_store(&j->stop, true);
        pthread_join(j->thread, NULL);
    }
    pthread_mutex_destroy(&j->lock);
    qf_file_unmap(j->file);
    free(j);
}

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
    atomic_init(&f->refs, 1);
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
        live_add(f);
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
    atomic_init(&f->refs, 1);
    f->data = size > 0 ? data : empty_file_bytes;
    f->size = size;
    f->mapped = false;
    *out = f;
    return QF_STATUS_OK;
}

qf_file *qf_file_retain(qf_file *f)
{
    if (f) atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void qf_file_unmap(qf_file *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
    if (f->mapped) {
        live_remove(f);
        munmap((void *)f->data, (size_t)f->size);
    }
    free(f->path);
    free(f);
}

const uint8_t *qf_file_data(const qf_file *f) { return f->data; }
uint64_t qf_file_size(const qf_file *f) { return f->size; }
const char *qf_file_path(const qf_file *f) { return f->path; }
