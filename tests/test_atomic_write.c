/*
 * tests/test_atomic_write.c — outputs that cannot half-happen (core/output.c through the .qf
 * writer; docs/SECURITY.md):
 *
 *   - kill points: a child process writes a .qf over a destination that holds a previous complete
 *     .qf; the parent sends SIGKILL after a random delay spread over the whole write (open, data,
 *     fsync, rename, folder fsync). After each of 100 kills the destination is byte-identical to
 *     either the previous file or the new one, and opens with every checksum verified; never
 *     partial. The killed writer's temporary file may remain (qforge never deletes files it did not
 *     create in this run, see SECURITY.md); the test counts and removes them;
 *   - file size limit: with RLIMIT_FSIZE below the output size (SIGXFSZ ignored, so write() fails
 *     with EFBIG as it fails with ENOSPC on a full disk) the write returns QF_STATUS_IO, the
 *     destination keeps its previous content (or stays absent), and no temporary file is left.
 *
 * Runs in QF_BINARY_DIR/atomic-write/. Prints the counts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/readers.h"
#include "qforge/writers.h"

#define DIR_PATH QF_BINARY_DIR "/atomic-write"
#define DEST DIR_PATH "/model.qf"

static qf_model *model_old, *model_new;
static uint8_t *bytes_old, *bytes_new;
static size_t size_old, size_new;

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static qf_model *load(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_read_params p = qf_read_params_default();
    qf_model *m = NULL;
    if (qf_model_read(path, &p, &m, &err)) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s", line);
    }
    return m;
}

/* Temporary files the writer left in the folder (".model.qf.tmp*"); removes them when asked. */
static int count_temps(bool remove)
{
    DIR *d = opendir(DIR_PATH);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".model.qf.tmp", 13) != 0) continue;
        n++;
        if (remove) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", DIR_PATH, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    return n;
}

static qf_status write_model(const qf_model *m, qf_error *err)
{
    qf_qfile_write_params wp = qf_qfile_write_params_default();
    return qf_qfile_write(m, DEST, &wp, err);
}

/* 0: absent, 1: the previous file, 2: the new file; fails on anything else. */
static int dest_state(const char *when)
{
    struct stat st;
    if (stat(DEST, &st) != 0) return 0;
    size_t n = 0;
    uint8_t *now = slurp(DEST, &n);
    assert_non_null(now);
    int state = -1;
    if (n == size_old && memcmp(now, bytes_old, n) == 0) state = 1;
    else if (n == size_new && memcmp(now, bytes_new, n) == 0) state = 2;
    free(now);
    if (state < 0) fail_msg("%s: the destination is neither the previous nor the new file (%zu bytes)", when, n);
    /* and it opens with every checksum verified */
    qf_file *f = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    qf_qfile_open_params op = qf_qfile_open_params_default();
    op.verify_checksums = true;
    qf_status s = qf_file_map(DEST, &f, &err);
    if (!s) s = qf_qfile_read(f, &op, &m, &err);
    assert_int_equal(s, QF_STATUS_OK);
    qf_model_destroy(m);
    return state;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int setup(void **state)
{
    (void)state;
    mkdir(DIR_PATH, 0755);
    unlink(DEST);
    count_temps(true);
    /* two different models: the previous file and the one the killed writer was writing */
    model_old = load(QF_SOURCE_DIR "/fixtures/families/bert/pytorch_model.bin");
    model_new = load(QF_SOURCE_DIR "/fixtures/debsec-mini/pytorch_model.bin");
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(write_model(model_new, &err), QF_STATUS_OK);
    bytes_new = slurp(DEST, &size_new);
    assert_int_equal(write_model(model_old, &err), QF_STATUS_OK);
    bytes_old = slurp(DEST, &size_old);
    assert_non_null(bytes_old);
    assert_non_null(bytes_new);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qf_model_destroy(model_old);
    qf_model_destroy(model_new);
    free(bytes_old);
    free(bytes_new);
    return 0;
}

static void test_kill_points(void **state)
{
    (void)state;
    /* how long one complete write takes here (fsyncs included) */
    double t0 = now_s();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(write_model(model_new, NULL) == QF_STATUS_OK ? 0 : 1);
    int ws;
    waitpid(pid, &ws, 0);
    double full = now_s() - t0;
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

    uint64_t seed = 0x2545F4914F6CDD1Dull;
    int outcome[3] = {0}, finished = 0, temps = 0;
    for (int i = 0; i < 100; i++) {
        /* each round starts from the previous complete file */
        qf_error err;
        qf_error_clear(&err);
        assert_int_equal(write_model(model_old, &err), QF_STATUS_OK);
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        double delay = full * 1.1 * (double)(seed % 10000) / 10000.0;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) _exit(write_model(model_new, NULL) == QF_STATUS_OK ? 0 : 1);
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, &ws, 0);
        if (WIFEXITED(ws)) finished++;
        char when[64];
        snprintf(when, sizeof when, "kill %d after %.4f s", i, delay);
        int s = dest_state(when);
        if (s == 0) fail_msg("%s: the destination vanished", when);
        /* a writer that finished left the new file; one killed before its rename, the previous */
        if (WIFEXITED(ws) && s != 2) fail_msg("%s: the writer finished but the destination is the previous file", when);
        outcome[s]++;
        temps += count_temps(true);
    }
    printf("kill points: 100 (one write takes %.3f s here); destination afterwards: previous file %d, new file %d "
           "(writer had finished: %d), partial 0; temporary files left by killed writers: %d (removed by the test)\n",
           full, outcome[1], outcome[2], finished, temps);
    /* the spread of delays must have hit writes in progress, not only before or after them */
    assert_true(outcome[1] > 0);
    assert_true(outcome[2] > 0);
}

static void test_file_size_limit(void **state)
{
    (void)state;
    const rlim_t limits[] = {0, 1, 64, 4096, 1u << 20, (rlim_t)size_new - 1};
    for (int with_previous = 0; with_previous <= 1; with_previous++) {
        for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
            unlink(DEST);
            qf_error err;
            qf_error_clear(&err);
            if (with_previous) assert_int_equal(write_model(model_old, &err), QF_STATUS_OK);
            int fds[2];
            assert_int_equal(pipe(fds), 0);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                close(fds[0]);
                signal(SIGXFSZ, SIG_IGN);
                struct rlimit rl = {limits[i], limits[i]};
                setrlimit(RLIMIT_FSIZE, &rl);
                qf_error e;
                qf_error_clear(&e);
                qf_status s = write_model(model_new, &e);
                (void)!write(fds[1], &s, sizeof s);
                (void)!write(fds[1], &e, sizeof e);
                _exit(0);
            }
            close(fds[1]);
            qf_status s = QF_STATUS_INTERNAL;
            qf_error e;
            memset(&e, 0, sizeof e);
            assert_int_equal(read(fds[0], &s, sizeof s), (ssize_t)sizeof s);
            assert_int_equal(read(fds[0], &e, sizeof e), (ssize_t)sizeof e);
            close(fds[0]);
            int ws;
            waitpid(pid, &ws, 0);
            assert_true(WIFEXITED(ws));
            assert_int_equal(s, QF_STATUS_IO);
            assert_int_equal(e.code, QF_STATUS_IO);
            assert_non_null(strstr(e.message, "File too large"));
            char when[64];
            snprintf(when, sizeof when, "RLIMIT_FSIZE %llu", (unsigned long long)limits[i]);
            assert_int_equal(dest_state(when), with_previous ? 1 : 0);
            assert_int_equal(count_temps(false), 0);
        }
    }
    printf("file size limit: %zu limits x (no previous file, previous file): QF_STATUS_IO 'File too large', "
           "destination unchanged, no temporary file\n",
           sizeof limits / sizeof limits[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_points),
        cmocka_unit_test(test_file_size_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
