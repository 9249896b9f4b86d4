/*
 * bench_encoder: latency of qforge's encoder (runtime/encoder.c) on one prepared input, the qforge
 * half of bench/run_encoder_latency.sh; bench/ort_latency.mjs is the ONNX Runtime half and prints
 * the same JSON shape.
 *
 * Reads the checkpoint with qf_model_read, for int8 quantizes its weights with
 * qf_model_quantize_dynamic (what `qforge quantize --mode dynamic` does), creates the encoder with
 * T threads sized for exactly the input's batch x seq, runs W warm-up then N timed runs, and prints
 * one JSON line: median / p10 / p90 of the runs, the time from file to ready encoder (the analogue
 * of ONNX Runtime's session creation: read + quantize + encoder_create) and the largest distance of
 * the logits from the torch logits prepare_bert_base.py recorded for the input.
 *
 * Inputs (prepare_bert_base.py): NAME.bin = int32 little-endian input_ids | attention_mask |
 * token_type_ids, each [batch][seq]; NAME.json = {"batch", "seq", "logits": [[...]]}.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "qforge/core.h"
#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

#define BENCH_MAX_RUNS 100000
#define BENCH_MAX_TOKENS (1 << 24) /* batch x seq accepted from an input description */

typedef struct bench_args {
    const char *model;
    const char *config;
    const char *input;
    const char *mode; /* "fp32" or "int8" */
    int threads;
    int warmup;
    int runs;
    bool reference_kernels;
} bench_args;

typedef struct bench_input {
    int64_t batch, seq;
    int32_t *data;    /* owned: 3 x batch x seq */
    double *logits;   /* owned: the torch logits, batch x labels */
    int64_t labels;
} bench_input;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Same definition as ort_common.mjs: linear interpolation between the ranks of sorted samples. */
static double quantile(const double *sorted, int n, double q) {
    double pos = (double)(n - 1) * q;
    int lo = (int)pos;
    int hi = lo + 1 < n ? lo + 1 : n - 1;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_encoder --model PATH --input NAME.bin [--mode fp32|int8] [--threads T]\n"
            "                     [--warmup W] [--runs N] [--config config.json] [--reference-kernels]\n"
            "  PATH: a checkpoint qf_model_read accepts (pytorch_model.bin, model.safetensors, .qf);\n"
            "  NAME.bin / NAME.json: an input written by bench/prepare_bert_base.py.\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    *a = (bench_args){.mode = "fp32", .threads = 1, .warmup = 5, .runs = 30};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(k, "--reference-kernels")) {
            a->reference_kernels = true;
            continue;
        } else if (!v) {
            ok = false;
        } else if (!strcmp(k, "--model")) {
            a->model = v;
        } else if (!strcmp(k, "--config")) {
            a->config = v;
        } else if (!strcmp(k, "--input")) {
            a->input = v;
        } else if (!strcmp(k, "--mode")) {
            a->mode = v;
            ok = !strcmp(v, "fp32") || !strcmp(v, "int8");
        } else if (!strcmp(k, "--threads")) {
            ok = parse_int(v, 1, 1024, &a->threads);
        } else if (!strcmp(k, "--warmup")) {
            ok = parse_int(v, 0, BENCH_MAX_RUNS, &a->warmup);
        } else if (!strcmp(k, "--runs")) {
            ok = parse_int(v, 1, BENCH_MAX_RUNS, &a->runs);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "bench_encoder: bad or incomplete option '%s%s%s'\n", k, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!a->model || !a->input) {
        usage(stderr);
        return 2;
    }
    return 0;
}

static int fail_qf(const char *what, const qf_error *err) {
    char line[1024];
    qf_error_format(err, line, sizeof line);
    fprintf(stderr, "bench_encoder: %s: %s\n", what, line);
    return 1;
}

/* NAME.bin -> NAME.json; NULL when the name does not end in .bin. Owned. */
static char *sibling_json(const char *bin) {
    size_t n = strlen(bin);
    if (n < 4 || strcmp(bin + n - 4, ".bin")) return NULL;
    char *s = malloc(n + 2);
    if (!s) return NULL;
    memcpy(s, bin, n - 4);
    memcpy(s + n - 4, ".json", 6);
    return s;
}

static int read_input(const char *bin_path, bench_input *in) {
    memset(in, 0, sizeof *in);
    char *json_path = sibling_json(bin_path);
    if (!json_path) {
        fprintf(stderr, "bench_encoder: %s: expected a NAME.bin written by prepare_bert_base.py\n", bin_path);
        return 1;
    }
    json_object *root = json_object_from_file(json_path);
    json_object *jb = NULL, *js = NULL, *jl = NULL;
    if (!root || !json_object_object_get_ex(root, "batch", &jb) || !json_object_object_get_ex(root, "seq", &js) ||
        !json_object_object_get_ex(root, "logits", &jl) || !json_object_is_type(jl, json_type_array)) {
        fprintf(stderr, "bench_encoder: %s: not a JSON object with batch, seq and logits\n", json_path);
        json_object_put(root);
        free(json_path);
        return 1;
    }
    in->batch = json_object_get_int64(jb);
    in->seq = json_object_get_int64(js);
    uint64_t tokens = 0, bytes = 0;
    if (in->batch < 1 || in->seq < 1 || !qf_mul_u64((uint64_t)in->batch, (uint64_t)in->seq, &tokens) ||
        tokens > BENCH_MAX_TOKENS || (int64_t)json_object_array_length(jl) != in->batch) {
        fprintf(stderr, "bench_encoder: %s: batch %lld x seq %lld with %zu logit rows is not a usable input\n",
                json_path, (long long)in->batch, (long long)in->seq, json_object_array_length(jl));
        json_object_put(root);
        free(json_path);
        return 1;
    }
    json_object *row0 = json_object_array_get_idx(jl, 0);
    in->labels = json_object_is_type(row0, json_type_array) ? (int64_t)json_object_array_length(row0) : 0;
    in->logits = in->labels > 0 ? calloc((size_t)(in->batch * in->labels), sizeof(double)) : NULL;
    for (int64_t b = 0; in->logits && b < in->batch; b++) {
        json_object *row = json_object_array_get_idx(jl, (size_t)b);
        if (!json_object_is_type(row, json_type_array) || (int64_t)json_object_array_length(row) != in->labels) {
            free(in->logits);
            in->logits = NULL;
            break;
        }
        for (int64_t j = 0; j < in->labels; j++)
            in->logits[b * in->labels + j] = json_object_get_double(json_object_array_get_idx(row, (size_t)j));
    }
    json_object_put(root);
    if (!in->logits) {
        fprintf(stderr, "bench_encoder: %s: logits are not [batch][labels] numbers\n", json_path);
        free(json_path);
        return 1;
    }
    free(json_path);

    bytes = tokens * 3 * sizeof(int32_t);
    in->data = malloc((size_t)bytes);
    FILE *f = fopen(bin_path, "rb");
    size_t got = (f && in->data) ? fread(in->data, 1, (size_t)bytes, f) : 0;
    bool extra = f && fgetc(f) != EOF;
    if (f) fclose(f);
    if (got != bytes || extra) {
        fprintf(stderr, "bench_encoder: %s: expected exactly %llu bytes (3 x %lld x %lld int32)\n", bin_path,
                (unsigned long long)bytes, (long long)in->batch, (long long)in->seq);
        return 1;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint64_t i = 0; i < tokens * 3; i++) in->data[i] = (int32_t)__builtin_bswap32((uint32_t)in->data[i]);
#endif
    return 0;
}

static void free_input(bench_input *in) {
    free(in->data);
    free(in->logits);
}

int main(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    bool int8 = !strcmp(a.mode, "int8");

    bench_input in;
    if (read_input(a.input, &in)) {
        free_input(&in);
        return 1;
    }

    qf_error err;
    qf_error_clear(&err);
    qf_model *src = NULL, *model = NULL;
    qf_encoder *enc = NULL;
    double *ms = calloc((size_t)a.runs, sizeof(double));
    rc = 1;
    if (!ms) goto done;

    qf_read_params rp = qf_read_params_default();
    rp.config_path = a.config;
    rp.hash_source = false; /* provenance hashing is not part of what ORT does at session creation */
    double t0 = now_ms();
    if (qf_model_read(a.model, &rp, &src, &err) || qf_arch_map(src, NULL, &err)) {
        rc = fail_qf("read", &err);
        goto done;
    }
    double t_read = now_ms();
    if (int8) {
        qf_quantize_params qp = qf_quantize_params_default();
        qp.threads = a.threads;
        if (qf_model_quantize_dynamic(src, &qp, &model, &err)) {
            rc = fail_qf("quantize", &err);
            goto done;
        }
    } else {
        model = qf_model_retain(src);
    }
    double t_quant = now_ms();

    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = a.threads;
    ep.mode = int8 ? QF_ENCODER_MODE_DYNAMIC_INT8 : QF_ENCODER_MODE_FP32;
    ep.reference_kernels = a.reference_kernels;
    ep.max_batch = in.batch;
    ep.max_length = in.seq;
    if (qf_encoder_create(model, &ep, &enc, &err)) {
        rc = fail_qf("encoder", &err);
        goto done;
    }
    double t_ready = now_ms();

    int64_t n = in.batch * in.seq;
    qf_encoder_batch batch = {
        .batch = in.batch,
        .length = in.seq,
        .input_ids = in.data,
        .attention_mask = in.data + n,
        .token_type_ids = in.data + 2 * n,
    };
    qf_encoder_output out;
    for (int i = 0; i < a.warmup + a.runs; i++) {
        double s = now_ms();
        if (qf_encoder_run(enc, &batch, &out, &err)) {
            rc = fail_qf("run", &err);
            goto done;
        }
        if (i >= a.warmup) ms[i - a.warmup] = now_ms() - s;
    }
    if (!out.logits || out.batch != in.batch || out.num_labels != in.labels) {
        fprintf(stderr, "bench_encoder: the encoder gave %lld x %lld logits, the input records %lld x %lld\n",
                (long long)out.batch, (long long)out.num_labels, (long long)in.batch, (long long)in.labels);
        goto done;
    }
    double diff = 0;
    for (int64_t i = 0; i < in.batch * in.labels; i++) diff = fmax(diff, fabs((double)out.logits[i] - in.logits[i]));

    qsort(ms, (size_t)a.runs, sizeof(double), cmp_double);
    printf("{\"engine\":\"qforge %s (%s kernels)\",\"model\":", QF_VERSION_STRING,
           a.reference_kernels ? "reference" : "fast: oneDNN, AMX, AVX-512");
    print_json_string(a.model);
    printf(",\"mode\":\"%s\",\"batch\":%lld,\"seq\":%lld,\"threads\":%d,\"runs\":%d,\"median_ms\":%.3f,"
           "\"p10\":%.3f,\"p90\":%.3f,\"session_create_ms\":%.1f,\"read_ms\":%.1f,\"quantize_ms\":%.1f,"
           "\"encoder_create_ms\":%.1f,\"max_abs_diff_vs_torch\":%.9g}\n",
           a.mode, (long long)in.batch, (long long)in.seq, a.threads, a.runs, quantile(ms, a.runs, 0.5),
           quantile(ms, a.runs, 0.1), quantile(ms, a.runs, 0.9), t_ready - t0, t_read - t0, t_quant - t_read,
           t_ready - t_quant, diff);
    rc = 0;

done:
    qf_encoder_destroy(enc);
    qf_model_destroy(model);
    qf_model_destroy(src);
    free(ms);
    free_input(&in);
    return rc;
}
