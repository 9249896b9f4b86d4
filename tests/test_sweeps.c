/*
 * tests/test_sweeps.c — exhaustive robustness sweeps over the readers (docs/SECURITY.md):
 *
 *   - truncation: every prefix of every fixture up to 1 MB, for the reader of its format (torch,
 *     safetensors, .qf, ONNX, tokenizer.json, config.json, JSONL data): the reader returns (a status,
 *     never a crash), within 10 s per case (alarm). Prefixes that are shorter than the file must
 *     fail, except where the format has no end marker (JSONL rows, protobuf fields, a .pkl whose
 *     STOP came early);
 *   - bit flips: 10,000 random single-byte changes of a quantized .qf (half in the header + JSON
 *     block, half in the data) and every byte of fixtures/qf/sample.qf: each one is refused on open
 *     with checksums verified (the header and JSON block carry CRC-32s, every extent too, padding
 *     must be zero).
 *
 * Inputs are read through qf_file_from_memory (no temporary files) except config.json and JSONL,
 * whose entry points take a path: those go through memfd files. The sweeps are deterministic (fixed
 * seed). By default files over 8 KB are swept at every prefix within their first and last 2 KB
 * (1 KB under AddressSanitizer) and 2048 (512) evenly spread prefixes between, which keeps the
 * test within seconds; QF_SWEEP_FULL=1 sweeps every prefix of every file (minutes; the figures in
 * docs/SECURITY.md). Prints the case counts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "text/tokenizer_internal.h"
#include "qforge/writers.h"

#define CASE_SECONDS 10
#define FULL_SWEEP_MAX (1u << 20)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ---- reading and case bookkeeping ------------------------------------------------------------- */

static char current_case[2304]; /* room for a whole 2048-byte path in the label */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "case exceeded its time limit: ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, current_case, strnlen(current_case, sizeof current_case));
    (void)!write(2, "\n", 1);
    _exit(1);
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    *size = (size_t)st.st_size;
    uint8_t *p = malloc(*size ? *size : 1);
    if (p && fread(p, 1, *size, f) != *size) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

typedef enum reader_kind {
    R_TORCH,
    R_SAFETENSORS,
    R_QF,
    R_TOKENIZER,
    R_CONFIG,
    R_DATASET,
    R_ONNX,
    R_SPM,
    R_COUNT
} reader_kind;
static const char *reader_names[] = {"torch", "safetensors", "qf", "tokenizer", "config", "dataset", "onnx", "spm"};

static int memfd_with(const char *name, const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

static int tiny_model_fd = -1;
static char tiny_model_path[64];
static qf_tokenizer *bert_tokenizer;

/* A valid one-tensor safetensors file that config.json sweeps attach their config to. */
static const char *tiny_model(void)
{
    if (tiny_model_fd < 0) {
        static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        uint8_t model[8 + sizeof header - 1 + 4] = {0};
        model[0] = (uint8_t)(sizeof header - 1);
        memcpy(model + 8, header, sizeof header - 1);
        tiny_model_fd = memfd_with("model", model, sizeof model, tiny_model_path);
    }
    return tiny_model_path;
}

/* Runs the reader on data[0..size); returns its status. Frees whatever it produced. */
static qf_status read_with(reader_kind kind, const uint8_t *data, size_t size, qf_error *err)
{
    qf_error_clear(err);
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_file *f = NULL;
    qf_status st;
    switch (kind) {
    case R_TORCH:
    case R_SAFETENSORS:
    case R_QF:
    case R_ONNX:
        /* a folder that does not exist: ONNX external-data locations resolve to nothing */
        st = qf_file_from_memory(data, size, "/nonexistent-qforge-sweep/model", &f, err);
        if (st) return st;
        if (kind == R_TORCH) {
            st = qf_torch_read(f, &params, &m, err);
        } else if (kind == R_SAFETENSORS) {
            st = qf_safetensors_read(f, &params, &m, err);
        } else if (kind == R_ONNX) {
            st = qf_onnx_read(f, &params, &m, err);
        } else {
            qf_qfile_open_params op = qf_qfile_open_params_default();
            op.verify_checksums = true;
            st = qf_qfile_read(f, &op, &m, err);
        }
        qf_model_destroy(m);
        return st;
    case R_TOKENIZER: {
        qf_tokenizer *t = NULL;
        st = qf_tokenizer_load_json(data, size, "sweep", &t, err);
        qf_tokenizer_destroy(t);
        return st;
    }
    case R_SPM: { /* a SentencePiece .model converted as XLM-R's (text/tokenizer_spm.c), then loaded */
        qf_tok_ctx c = {"sweep/sentencepiece.bpe.model", err};
        qf_tok_spm_options o = {.do_lower_case = -1, .keep_accents = -1, .split_by_punct = -1, .add_prefix_space = 1};
        snprintf(o.tokenizer_class, sizeof o.tokenizer_class, "XLMRobertaTokenizer");
        char *json = NULL;
        size_t len = 0;
        st = qf_tok_spm_to_json(&c, data, size, &o, &json, &len);
        if (st) return st;
        qf_tokenizer *t = NULL;
        st = qf_tokenizer_load_json(json, len, "sweep", &t, err);
        qf_tokenizer_destroy(t);
        free(json);
        return st;
    }
    case R_CONFIG: {
        char cfg[64];
        int fd = memfd_with("config", data, size, cfg);
        params.config_path = cfg;
        st = qf_model_read(tiny_model(), &params, &m, err);
        qf_model_destroy(m);
        close(fd);
        return st;
    }
    case R_COUNT: break;
    case R_DATASET: {
        char path[64];
        int fd = memfd_with("data", data, size, path);
        qf_dataset_params dp = qf_dataset_params_default();
        qf_dataset *d = NULL;
        st = qf_dataset_load(path, bert_tokenizer, &dp, &d, err);
        qf_dataset_destroy(d);
        close(fd);
        return st;
    }
    }
    return QF_STATUS_INTERNAL;
}

/* ---- truncation ------------------------------------------------------------------------------- */

static long truncation_cases[R_COUNT], truncation_files[R_COUNT];

static bool full_sweep;

/*
 * Which prefixes of a `size`-byte file are tried: every one with QF_SWEEP_FULL=1 or for files up to
 * 8 KB; otherwise every prefix in the first and the last `window` bytes (headers, zip central
 * directories, JSON tails) and `spread` evenly spaced ones between.
 */
static bool prefix_wanted(size_t len, size_t size)
{
    size_t window = SANITIZED ? 1024 : 2048, spread = SANITIZED ? 512 : 2048;
    if (full_sweep || size <= (8u << 10) || len < window || len >= size - window) return true;
    size_t stride = (size - 2 * window) / spread + 1;
    return (len - window) % stride == 0;
}

/*
 * Every prefix [0, len) with len < size. `may_load_prefix`: formats without an end marker, where a
 * prefix can be a complete valid file of its own (JSONL rows; a pickle whose STOP ends early).
 */
static void sweep_file(reader_kind kind, const char *path, bool may_load_prefix)
{
    size_t size = 0;
    uint8_t *data = slurp(path, &size);
    if (!data) fail_msg("cannot read %s", path);
    if (size > FULL_SWEEP_MAX) {
        free(data);
        return;
    }
    qf_error err;
    /* the whole file: the sweep means something only if the reader takes it (or states why not) */
    alarm(CASE_SECONDS);
    qf_status whole = read_with(kind, data, size, &err);
    size_t significant = size; /* prefixes that drop only trailing whitespace are the same document */
    if (kind == R_TOKENIZER || kind == R_CONFIG)
        while (significant > 0 && strchr(" \t\r\n", data[significant - 1])) significant--;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t len = 0; len < size; len++) {
        if (!prefix_wanted(len, size)) continue;
        snprintf(current_case, sizeof current_case, "%s reader, %s cut to %zu of %zu bytes", reader_names[kind], path,
                 len, size);
        /* an exact-size heap copy, so a read past the cut is an ASan report, not a silent read */
        uint8_t *cut = malloc(len ? len : 1);
        assert_non_null(cut);
        memcpy(cut, data, len);
        alarm(CASE_SECONDS);
        qf_status st = read_with(kind, cut, len, &err);
        alarm(0);
        free(cut);
        if (st == QF_STATUS_OK && whole == QF_STATUS_OK && !may_load_prefix && len < significant)
            fail_msg("%s: accepted", current_case);
        if (st != QF_STATUS_OK && err.code != st) fail_msg("%s: returned %s but the error detail says %s", current_case, qf_status_name(st), qf_status_name(err.code));
        truncation_cases[kind]++;
    }
    truncation_files[kind]++;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (secs > 1.0) printf("truncation: %s (%zu bytes) took %.1f s\n", path, size, secs);
    free(data);
}

static void sweep_dir(reader_kind kind, const char *dir, const char *suffix, bool may_load_prefix)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        bool pkl = strstr(names[i], ".pkl") != NULL;
        sweep_file(kind, path, may_load_prefix || pkl);
        free(names[i]);
    }
    free(names);
}

/* The .qf that a real quantize of the tiny BERT family fixture gives (written to the build folder). */
static const char *quantized_bert_qf(void)
{
    static char path[1024];
    if (path[0]) return path;
    qf_error err;
    qf_error_clear(&err);
    qf_read_params rp = qf_read_params_default();
    qf_model *src = NULL, *q = NULL;
    qf_status st = qf_model_read(QF_SOURCE_DIR "/fixtures/families/bert/pytorch_model.bin", &rp, &src, &err);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 64;
    if (!st) st = qf_model_quantize_dynamic(src, &qp, &q, &err);
    snprintf(path, sizeof path, "%s/sweeps-bert-int8.qf", QF_BINARY_DIR);
    qf_qfile_write_params wp = qf_qfile_write_params_default();
    if (!st) st = qf_qfile_write(q, path, &wp, &err);
    char line[1024];
    qf_error_format(&err, line, sizeof line);
    if (st) fail_msg("cannot write the quantized fixture: %s", line);
    qf_model_destroy(q);
    qf_model_destroy(src);
    return path;
}

static void test_truncation(void **state)
{
    (void)state;
    sweep_dir(R_TORCH, QF_SOURCE_DIR "/fixtures/torch", ".pt", false);
    sweep_dir(R_TORCH, QF_SOURCE_DIR "/fixtures/torch", ".pkl", true);
    sweep_file(R_TORCH, QF_SOURCE_DIR "/fixtures/families/bert/pytorch_model.bin", false);
    sweep_file(R_TORCH, QF_SOURCE_DIR "/fixtures/families/electra/pytorch_model.bin", false);
    sweep_dir(R_SAFETENSORS, QF_SOURCE_DIR "/fixtures/safetensors", ".safetensors", false);
    sweep_file(R_SAFETENSORS, QF_SOURCE_DIR "/fixtures/families/roberta/model.safetensors", false);
    sweep_file(R_SAFETENSORS, QF_SOURCE_DIR "/fixtures/families/distilbert/model.safetensors", false);
    sweep_file(R_QF, QF_SOURCE_DIR "/fixtures/qf/sample.qf", false);
    /* protobuf has no end marker: a cut at a field boundary is a shorter, possibly valid message */
    sweep_dir(R_ONNX, QF_SOURCE_DIR "/tests/fuzz/corpus/onnx", ".onnx", true);
    sweep_file(R_QF, quantized_bert_qf(), false);
    sweep_file(R_TOKENIZER, QF_SOURCE_DIR "/fixtures/tokenizer/bert-mini/tokenizer.json", false);
    sweep_file(R_TOKENIZER, QF_SOURCE_DIR "/fixtures/tokenizer/roberta-mini/tokenizer.json", false);
    sweep_file(R_TOKENIZER, QF_SOURCE_DIR "/fixtures/families/bert/tokenizer.json", false);
    sweep_file(R_TOKENIZER, QF_SOURCE_DIR "/fixtures/families/roberta/tokenizer.json", false);
    /* SentencePiece: a Unigram with a Precompiled charsmap, Metaspace and a Regex Replace */
    sweep_file(R_TOKENIZER, QF_SOURCE_DIR "/tests/fuzz/corpus/tokenizer/unigram-precompiled.json", false);
    /* SentencePiece .model files (protobuf: a cut at a field boundary may be a shorter valid
     * model): the one trained here, with its nmt_nfkc charsmap, and the fuzz seeds */
    sweep_file(R_SPM, QF_SOURCE_DIR "/fixtures/spm/spm.model", true);
    sweep_dir(R_SPM, QF_SOURCE_DIR "/tests/fuzz/corpus/spm_model", ".model", true);
    static const char *families[] = {"bert", "roberta", "distilbert", "electra", "mpnet", "albert", "deberta-v2"};
    for (int i = 0; i < 7; i++) {
        char path[1024];
        snprintf(path, sizeof path, QF_SOURCE_DIR "/fixtures/families/%s/config.json", families[i]);
        sweep_file(R_CONFIG, path, false);
    }
    sweep_file(R_CONFIG, QF_SOURCE_DIR "/fixtures/debsec-mini/config.json", false);

    /* JSONL: rows have no end marker, so a prefix that ends at a row boundary is a valid file */
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(QF_SOURCE_DIR "/fixtures/debsec-mini/tokenizer.json", &bert_tokenizer, &err),
                     QF_STATUS_OK);
    sweep_file(R_DATASET, QF_SOURCE_DIR "/tests/fuzz/corpus/dataset/mixed_rows.jsonl", true);
    sweep_file(R_DATASET, QF_SOURCE_DIR "/tests/fuzz/corpus/dataset/text_rows.jsonl", true);
    qf_tokenizer_destroy(bert_tokenizer);
    bert_tokenizer = NULL;

    long total = 0, files = 0;
    for (int k = 0; k < R_COUNT; k++) {
        printf("truncation: %-12s %4ld files %8ld prefixes, all returned a status\n", reader_names[k],
               truncation_files[k], truncation_cases[k]);
        total += truncation_cases[k];
        files += truncation_files[k];
    }
    printf("truncation: total        %4ld files %8ld prefixes (%s)\n", files, total,
           full_sweep ? "every prefix" : "files > 8 KB: first and last bytes and a spread; QF_SWEEP_FULL=1 for every prefix");
}

/* ---- single-byte flips in a .qf ----------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static long flips_tried, flips_by_code[QF_STATUS_COUNT_];

static void flip_once(uint8_t *copy, const uint8_t *orig, size_t size, size_t pos, uint8_t mask, const char *name)
{
    copy[pos] = orig[pos] ^ mask;
    snprintf(current_case, sizeof current_case, "%s byte %zu ^ 0x%02x", name, pos, mask);
    qf_error err;
    alarm(CASE_SECONDS);
    qf_status st = read_with(R_QF, copy, size, &err);
    alarm(0);
    copy[pos] = orig[pos];
    if (st == QF_STATUS_OK) fail_msg("undetected flip: %s", current_case);
    flips_by_code[st]++;
    flips_tried++;
}

static void test_flips(void **state)
{
    (void)state;
    qf_error err;
    /* every byte of the small sample, each with one random non-zero mask */
    size_t size = 0;
    uint8_t *orig = slurp(QF_SOURCE_DIR "/fixtures/qf/sample.qf", &size);
    assert_non_null(orig);
    assert_int_equal(read_with(R_QF, orig, size, &err), QF_STATUS_OK);
    uint8_t *copy = malloc(size);
    memcpy(copy, orig, size);
    for (size_t pos = 0; pos < size; pos++) flip_once(copy, orig, size, pos, (uint8_t)(1 + rng() % 255), "sample.qf");
    long sample_flips = flips_tried;
    free(copy);
    free(orig);

    /* 10,000 random flips of a real quantized model: half in header + JSON block, half in the data */
    orig = slurp(quantized_bert_qf(), &size);
    assert_non_null(orig);
    assert_int_equal(read_with(R_QF, orig, size, &err), QF_STATUS_OK);
    uint64_t data_offset = 0;
    for (int i = 7; i >= 0; i--) data_offset = data_offset << 8 | orig[40 + i];
    assert_true(data_offset > 64 && data_offset < size);
    copy = malloc(size);
    memcpy(copy, orig, size);
    long header_json = 0;
    for (int i = 0; i < 10000; i++) {
        size_t pos = (i % 2 == 0) ? (size_t)(rng() % data_offset) : (size_t)(data_offset + rng() % (size - data_offset));
        header_json += pos < data_offset;
        flip_once(copy, orig, size, pos, (uint8_t)(1 + rng() % 255), "bert-int8.qf");
    }
    free(copy);
    free(orig);
    printf("flips: %ld (every byte of sample.qf: %ld; bert-int8.qf: %ld random, %ld before data_offset), all refused:",
           flips_tried, sample_flips, flips_tried - sample_flips, header_json);
    for (int c = 0; c < QF_STATUS_COUNT_; c++)
        if (flips_by_code[c]) printf(" %s %ld", qf_status_name((qf_status)c), flips_by_code[c]);
    printf("\n");
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    full_sweep = getenv("QF_SWEEP_FULL") && strcmp(getenv("QF_SWEEP_FULL"), "1") == 0;
    setenv("OMP_NUM_THREADS", "1", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
