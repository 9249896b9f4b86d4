/*
 * tests/test_debsec_bert.c — end to end on the real debsec-bert model in ../shared: the same
 * weights read from pytorch_model.bin (torch zip) and model.safetensors quantize to bit-identical
 * int8 tensors; the .qf is at most 27% of the FP32 tensor bytes; every dequantized weight is within
 * scale/2 of FP32; the written .qf reads back (with checksums) to the same tensors. Skips (77) when
 * ../shared is absent. Leaves debsec-bert.int8.qf and debsec-bert.f32.qf in the build folder for
 * tests/test_python_debsec.py.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/writers.h"

#define MODEL_DIR QF_SHARED_DIR "/models/debsec-bert"

static qf_model *read_or_fail(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    qf_read_params rp = qf_read_params_default();
    rp.verify_checksums = true;
    qf_status s = qf_model_read(path, &rp, &m, &err);
    if (s) {
        char line[1024];
        qf_error_format(&err, line, sizeof line);
        fail_msg("%s", line);
    }
    return m;
}

static void assert_same_tensors(const qf_model *a, const qf_model *b)
{
    assert_int_equal(qf_model_tensor_count(a), qf_model_tensor_count(b));
    for (size_t i = 0; i < qf_model_tensor_count(a); i++) {
        const qf_tensor *x = qf_model_tensor(a, i);
        const qf_tensor *y = qf_model_find(b, x->name, NULL);
        if (!y) fail_msg("tensor '%s' missing", x->name);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->rank, y->rank);
        for (int32_t d = 0; d < x->rank; d++) assert_int_equal(x->shape[d], y->shape[d]);
        assert_int_equal(x->nbytes, y->nbytes);
        if (memcmp(x->data, y->data, x->nbytes) != 0) fail_msg("tensor '%s' differs", x->name);
        assert_int_equal(x->quant.scheme, y->quant.scheme);
    }
}

static void test_bin_and_safetensors_quantize_identically(void **state)
{
    (void)state;
    qf_model *bin = read_or_fail(MODEL_DIR "/pytorch_model.bin");
    qf_model *st = read_or_fail(MODEL_DIR "/model.safetensors");
    /* same FP32 weights in both containers */
    assert_same_tensors(bin, st);

    qf_model *qbin = NULL, *qst = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_model_quantize_dynamic(bin, NULL, &qbin, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_quantize_dynamic(st, NULL, &qst, &err), QF_STATUS_OK);
    assert_same_tensors(qbin, qst);

    /* which tensors became int8: every encoder linear weight, pooler, classifier, word embeddings */
    size_t int8_count = 0;
    for (size_t i = 0; i < qf_model_tensor_count(qbin); i++)
        if (qf_model_tensor(qbin, i)->dtype == QF_DTYPE_I8) int8_count++;
    assert_int_equal(int8_count, 4 * 6 + 1 + 1 + 1);

    /* dequantized within scale/2 of FP32 */
    size_t checked = 0;
    for (size_t i = 0; i < qf_model_tensor_count(qbin); i++) {
        const qf_tensor *q = qf_model_tensor(qbin, i);
        if (q->quant.scheme == QF_QUANT_NONE) continue;
        const qf_tensor *w = qf_model_find(bin, q->name, NULL);
        const qf_tensor *sc = qf_model_find(qbin, q->quant.scale_name, NULL);
        assert_non_null(sc);
        size_t rows = (size_t)q->shape[0], cols = (size_t)q->shape[1];
        for (size_t r = 0; r < rows; r++) {
            float s = ((const float *)sc->data)[r];
            float bound = s / 2 + 128 * s * FLT_EPSILON;
            for (size_t c = 0; c < cols; c++) {
                float x = ((const float *)w->data)[r * cols + c];
                float d = (float)((const int8_t *)q->data)[r * cols + c] * s;
                if (!(fabsf(d - x) <= bound)) fail_msg("%s[%zu,%zu]: |%g - %g| > s/2 = %g", q->name, r, c, d, x, s / 2);
                checked++;
            }
        }
    }
    printf("checked %zu int8 weights against FP32: all within scale/2\n", checked);

    /* write, then compare the file size with the FP32 tensor bytes */
    const char *out = QF_BINARY_DIR "/debsec-bert.int8.qf";
    assert_int_equal(qf_qfile_write(qbin, out, NULL, &err), QF_STATUS_OK);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    uint64_t fp32_bytes = qf_model_total_bytes(bin);
    double ratio = (double)sb.st_size / (double)fp32_bytes;
    printf("debsec-bert: FP32 tensors %llu bytes, int8 .qf %lld bytes = %.2f%%\n", (unsigned long long)fp32_bytes,
           (long long)sb.st_size, 100.0 * ratio);
    assert_true(ratio <= 0.27);

    /* read back with checksums: identical tensors */
    qf_model *back = read_or_fail(out);
    assert_same_tensors(qbin, back);
    assert_non_null(qf_model_get_meta(back, "source.sha256"));
    assert_non_null(qf_model_config_json(back));

    /* the FP32 .qf for the numpy reader test */
    assert_int_equal(qf_qfile_write(bin, QF_BINARY_DIR "/debsec-bert.f32.qf", NULL, &err), QF_STATUS_OK);

    qf_model_destroy(back);
    qf_model_destroy(qst);
    qf_model_destroy(qbin);
    qf_model_destroy(st);
    qf_model_destroy(bin);
}

int main(void)
{
    if (access(MODEL_DIR "/pytorch_model.bin", R_OK) != 0) {
        printf("SKIP: %s not found (the real-model tests need ../shared beside the repository)\n", MODEL_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bin_and_safetensors_quantize_identically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
