/*
 * bench/bench_load.c — load figures for bench/load.sh (issue 7, target 2), one JSON line each:
 *   bench_load open FILE.qf RUNS        qf_model_read of a .qf (map, header, JSON directory, every
 *                                       validation rule; no data read): median and best ms
 *   bench_load spawn RUNS -- CMD ARGS   wall time from fork to exit of CMD (e.g. `qforge run` on
 *                                       one row, which exits right after printing its logits):
 *                                       median and best ms
 *   bench_load create FILE.qf RUNS      qf_encoder_create after opening the .qf, as `qforge run`
 *                                       makes it for one row of 128 tokens (dynamic int8 when the
 *                                       file holds quantized tensors, threads 1, max_length 128,
 *                                       max_batch 1): median ms, the encoder's share of first logits
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qforge/readers.h"
#include "qforge/verify.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    printf("{\"what\":\"%s\",\"runs\":%d,\"median_ms\":%.3f,\"best_ms\":%.3f}\n", what, n, med, t[0]);
}

static int fail(const qf_error *err)
{
    char line[2048];
    qf_error_format(err, line, sizeof line);
    fprintf(stderr, "bench_load: %s\n", line);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "open") == 0) {
        int n = atoi(argv[3]);
        double *t = calloc((size_t)n, sizeof *t);
        for (int i = 0; i < n; i++) {
            qf_model *m = NULL;
            qf_error err;
            qf_error_clear(&err);
            double t0 = now_ms();
            if (qf_model_read(argv[2], NULL, &m, &err)) return fail(&err);
            t[i] = now_ms() - t0;
            qf_model_destroy(m);
        }
        report("open_validate", t, n);
        free(t);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "create") == 0) {
        int n = atoi(argv[3]);
        double *t = calloc((size_t)n, sizeof *t);
        qf_model *m = NULL;
        qf_error err;
        qf_error_clear(&err);
        if (qf_model_read(argv[2], NULL, &m, &err) || qf_arch_map(m, NULL, &err)) return fail(&err);
        for (int i = 0; i < n; i++) {
            qf_encoder_params ep = qf_encoder_params_default();
            ep.threads = 1;
            ep.max_length = 128;
            ep.max_batch = 1;
            for (size_t k = 0; k < qf_model_tensor_count(m); k++)
                if (qf_model_tensor(m, k)->quant.scheme != QF_QUANT_NONE) ep.mode = QF_ENCODER_MODE_DYNAMIC_INT8;
            qf_encoder *e = NULL;
            double t0 = now_ms();
            if (qf_encoder_create(m, &ep, &e, &err)) return fail(&err);
            t[i] = now_ms() - t0;
            qf_encoder_destroy(e);
        }
        report("encoder_create", t, n);
        qf_model_destroy(m);
        free(t);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "spawn") == 0 && strcmp(argv[3], "--") == 0) {
        int n = atoi(argv[2]);
        double *t = calloc((size_t)n, sizeof *t);
        for (int i = 0; i < n; i++) {
            double t0 = now_ms();
            pid_t pid = fork();
            if (pid == 0) {
                if (!freopen("/dev/null", "w", stdout)) _exit(127);
                execv(argv[4], argv + 4);
                _exit(127);
            }
            int status = 0;
            if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench_load: %s failed\n", argv[4]);
                return 1;
            }
            t[i] = now_ms() - t0;
        }
        report("process_to_first_logits", t, n);
        free(t);
        return 0;
    }
    fprintf(stderr, "usage: bench_load open FILE.qf RUNS | create FILE.qf RUNS | spawn RUNS -- CMD ARGS...\n");
    return 2;
}
