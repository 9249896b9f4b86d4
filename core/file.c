/*
 * core/file.c — read-only memory-mapped input files. Every reader maps its input once and hands
 * out borrowed views into the mapping; nothing is read() into heap buffers. Bytes already in
 * memory can be wrapped as a qf_file too (qf_file_from_memory). Live mappings are listed so that
 * a pass over a large input (hashing, quantizing) can release the pages it is done with: touched
 * pages of a mapping count in the process's resident memory until released. A qf_file is reference
 * counted (qf_file_retain) so that a background SHA-256 job (qf_sha256_job, below) can keep the
 * mapping it reads alive whatever its reader does with it.
 *
 * Every input is opened by open_regular: the open cannot block (O_NONBLOCK) and nothing but a regular
 * file is read. Files qforge finds beside a model (config.json, shards, tokenizer files, ONNX
 * external data) go through qf_file_map_beside, which also keeps them inside the model's folder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* What a non-regular file is, for the error that refuses it. */
static const char *file_type_name(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a regular file";
}

/*
 * The one way an input file is opened. O_NONBLOCK: opening a FIFO (or a device) returns at once
 * instead of waiting for a writer; fstat then refuses everything but a regular file before a byte
 * is read, and O_NONBLOCK is cleared again. `nofollow`: the last component must not be a symlink
 * (files found beside a model are opened by their resolved path).
 */
static qf_status open_regular(const char *path, const char *shown, bool nofollow, int *fd_out, struct stat *st,
                              qf_error *err)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        int e = errno;
        return qf_error_set(err, QF_STATUS_IO, shown, NULL, -1, NULL, "cannot open: %s", strerror(e));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return qf_error_set(err, QF_STATUS_IO, shown, NULL, -1, NULL, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        const char *base = strrchr(shown, '/');
        return qf_error_set(err, QF_STATUS_IO, shown, NULL, -1, NULL, "'%s' is %s, not a regular file",
                            base && base[1] ? base + 1 : shown, file_type_name(st->st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return qf_error_set(err, QF_STATUS_IO, shown, NULL, -1, NULL, "cannot clear O_NONBLOCK: %s", strerror(e));
    }
    *fd_out = fd;
    return QF_STATUS_OK;
}

/* Maps the regular file open on fd (closed here in every case) as a qf_file named `path`. */
static qf_status map_fd(int fd, const struct stat *st, const char *path, qf_file **out, qf_error *err)
{
    qf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        close(fd);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory");
    }
    atomic_init(&f->refs, 1);
    f->size = (uint64_t)st->st_size;
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

qf_status qf_file_map(const char *path, qf_file **out, qf_error *err)
{
    if (!path || !out) return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, path, NULL, -1, NULL, "no path");
    *out = NULL;
    int fd;
    struct stat st;
    qf_status s = open_regular(path, path, false, &fd, &st, err);
    return s ? s : map_fd(fd, &st, path, out, err);
}

/* ---- files found beside a model ----------------------------------------------------------- */

/* real lies in real_dir (both resolved): real_dir itself or below it. */
static bool path_inside(const char *real, const char *real_dir)
{
    size_t dl = strlen(real_dir);
    if (dl == 1 && real_dir[0] == '/') return real[0] == '/';
    return strncmp(real, real_dir, dl) == 0 && (real[dl] == '/' || real[dl] == '\0');
}

/*
 * The Hugging Face hub cache keeps a revision's files as symlinks into its repository's blob store:
 * <cache>/models--<org>--<name>/snapshots/<revision>/<file> -> ../../blobs/<hash>. A file of such a
 * snapshot folder may resolve to a plain file of that one repository's blobs/ folder, nowhere else.
 */
static bool in_hub_blobs(const char *real, const char *real_dir)
{
    const char *rev = strrchr(real_dir, '/');
    if (!rev || rev[1] == '\0') return false;
    size_t snap_end = (size_t)(rev - real_dir); /* ".../models--x/snapshots" */
    static const char snapshots[] = "/snapshots";
    size_t sl = sizeof snapshots - 1;
    if (snap_end <= sl || memcmp(real_dir + snap_end - sl, snapshots, sl) != 0) return false;
    size_t repo_end = snap_end - sl; /* ".../models--x" */
    const char *repo = real_dir + repo_end;
    while (repo > real_dir && repo[-1] != '/') repo--;
    if ((size_t)(real_dir + repo_end - repo) <= 8 || strncmp(repo, "models--", 8) != 0) return false;
    if (strncmp(real, real_dir, repo_end) != 0 || strncmp(real + repo_end, "/blobs/", 7) != 0) return false;
    const char *blob = real + repo_end + 7;
    return blob[0] != '\0' && !strchr(blob, '/');
}

/* A relative name that stays in its folder by its letters: not absolute, no "..", no backslash. */
static bool name_stays_inside(const char *name)
{
    if (!name[0] || name[0] == '/' || strchr(name, '\\')) return false;
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n;
        if (*p == '/') p++;
    }
    return true;
}

bool qf_file_beside_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    int w = snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return w >= 0 && (size_t)w < sizeof path && lstat(path, &st) == 0;
}

qf_status qf_file_map_beside(const char *dir, const char *name, qf_file **out, qf_error *err)
{
    if (!dir || !name || !out)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, name, NULL, -1, NULL, "no folder or name");
    *out = NULL;
    char path[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX];
    int w = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= sizeof path) {
        qf_error_set(err, QF_STATUS_LIMIT, dir, NULL, -1, name, "path of '%s' in '%s' is longer than %d bytes", name,
                     dir, PATH_MAX - 1);
        qf_error_expected(err, "< %d bytes", PATH_MAX);
        return QF_STATUS_LIMIT;
    }
    if (!name_stays_inside(name)) {
        qf_error_set(err, QF_STATUS_FORBIDDEN, path, NULL, -1, name, "'%s' leaves the model folder '%s'", name, dir);
        qf_error_expected(err, "a relative path inside the model folder");
        qf_error_found(err, "'%s'", name);
        return QF_STATUS_FORBIDDEN;
    }
    if (!realpath(dir, real_dir))
        return qf_error_set(err, errno == ENOENT ? QF_STATUS_NOT_FOUND : QF_STATUS_IO, dir, NULL, -1, NULL,
                            "cannot resolve the model folder: %s", strerror(errno));
    if (!realpath(path, real)) {
        int e = errno;
        qf_error_set(err, e == ENOENT ? QF_STATUS_NOT_FOUND : QF_STATUS_IO, path, NULL, -1, name,
                     "cannot resolve '%s' in the model folder: %s", name, strerror(e));
        return err ? err->code : (e == ENOENT ? QF_STATUS_NOT_FOUND : QF_STATUS_IO);
    }
    if (!path_inside(real, real_dir) && !in_hub_blobs(real, real_dir)) {
        qf_error_set(err, QF_STATUS_FORBIDDEN, path, NULL, -1, name, "'%s' resolves outside the model folder", name);
        qf_error_expected(err, "inside '%s'", real_dir);
        qf_error_found(err, "'%s'", real);
        return QF_STATUS_FORBIDDEN;
    }
    int fd;
    struct stat st;
    qf_status s = open_regular(real, path, true, &fd, &st, err);
    if (s) return s;
    /* the file actually opened, in case a folder on the way was swapped for a link since realpath */
    char proc[64], opened[PATH_MAX];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, opened, sizeof opened - 1);
    if (n > 0) {
        opened[n] = '\0';
        if (!path_inside(opened, real_dir) && !in_hub_blobs(opened, real_dir)) {
            close(fd);
            qf_error_set(err, QF_STATUS_FORBIDDEN, path, NULL, -1, name,
                         "'%s' resolves outside the model folder (it changed while being opened)", name);
            qf_error_expected(err, "inside '%s'", real_dir);
            qf_error_found(err, "'%s'", opened);
            return QF_STATUS_FORBIDDEN;
        }
    }
    return map_fd(fd, &st, path, out, err);
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
