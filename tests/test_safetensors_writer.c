/*
 * tests/test_safetensors_writer.c — writers/safetensors: the bundled debsec-mini checkpoint written
 * as safetensors and read back through readers/safetensors (f32: every tensor bit for bit, under
 * its source name; f16/bf16: each value the narrowing of the source; int8 artifacts: each value
 * (q - z) * s in f32, scales left out); the layout rules (header padded to 8, tensors sorted by
 * element size then name, each aligned to its element size, contiguous to the end of the file);
 * and the refusals (two tensors with one name, a non-float output dtype) with nothing left behind.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

#define MINI QF_SOURCE_DIR "/fixtures/debsec-mini/pytorch_model.bin"
#define OUT QF_BINARY_DIR "/test_safetensors_writer.safetensors"

static qf_model *read_model(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(path, NULL, &m, &err)) fail_msg("%s: %s", path, err.message);
    return m;
}

static float f32_at(const qf_tensor *t, uint64_t i)
{
    float v;
    memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
    return v;
}

static uint64_t numel(const qf_tensor *t)
{
    uint64_t n = 0;
    assert_true(qf_shape_numel(t->rank, t->shape, &n));
    return n;
}

/* Checks the layout of OUT against the rules and returns the parsed header (caller puts it). */
static json_object *check_layout(void)
{
    FILE *f = fopen(OUT, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    uint64_t size = (uint64_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t prefix[8];
    assert_int_equal(fread(prefix, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | prefix[k];
    assert_int_equal((8 + hlen) % 8, 0);
    char *text = malloc(hlen + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, hlen, f), hlen);
    text[hlen] = '\0';
    fclose(f);
    json_object *h = json_tokener_parse(text);
    free(text);
    assert_non_null(h);
    uint64_t expect = 0;
    size_t prev_size = 8;
    const char *prev_name = "";
    bool first = true;
    json_object_object_foreach(h, key, val)
    {
        if (first) {
            assert_string_equal(key, "__metadata__"); /* metadata leads */
            first = false;
            continue;
        }
        json_object *dt = NULL, *off = NULL;
        assert_true(json_object_object_get_ex(val, "dtype", &dt));
        assert_true(json_object_object_get_ex(val, "data_offsets", &off));
        const char *d = json_object_get_string(dt);
        size_t esize = strcmp(d, "F32") == 0 || strcmp(d, "I32") == 0 ? 4
                       : strcmp(d, "F16") == 0 || strcmp(d, "BF16") == 0 ? 2
                       : strcmp(d, "I64") == 0 || strcmp(d, "F64") == 0 ? 8
                                                                         : 1;
        assert_true(esize <= prev_size);
        if (esize == prev_size) assert_true(strcmp(prev_name, key) < 0);
        prev_size = esize;
        prev_name = key;
        uint64_t b = (uint64_t)json_object_get_int64(json_object_array_get_idx(off, 0));
        uint64_t e = (uint64_t)json_object_get_int64(json_object_array_get_idx(off, 1));
        assert_int_equal(b, expect); /* contiguous */
        assert_int_equal((8 + hlen + b) % esize, 0);
        expect = e;
    }
    assert_int_equal(8 + hlen + expect, size);
    return h;
}

static void test_f32_round_trip(void **state)
{
    (void)state;
    qf_model *src = read_model(MINI);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(src, NULL, &err), QF_STATUS_OK); /* canonical names, source names kept */
    assert_int_equal(qf_safetensors_write(src, OUT, NULL, &err), QF_STATUS_OK);
    json_object_put(check_layout());
    qf_model *back = read_model(OUT);
    assert_int_equal(qf_model_tensor_count(back), qf_model_tensor_count(src));
    for (size_t i = 0; i < qf_model_tensor_count(src); i++) {
        const qf_tensor *t = qf_model_tensor(src, i);
        const qf_tensor *u = qf_model_find(back, t->source_name, NULL);
        if (!u) fail_msg("'%s' missing from the safetensors file", t->source_name);
        assert_int_equal(u->dtype, t->dtype);
        assert_int_equal(u->rank, t->rank);
        assert_memory_equal(u->shape, t->shape, sizeof(int64_t) * (size_t)t->rank);
        assert_int_equal(u->nbytes, t->nbytes);
        assert_memory_equal(u->data, t->data, t->nbytes);
    }
    assert_string_equal(qf_model_get_meta(back, "safetensors.format"), "pt");
    qf_model_destroy(back);

    /* canonical names on request; f16 and bf16 are the narrowing of each value */
    qf_safetensors_write_params p = qf_safetensors_write_params_default();
    p.source_names = false;
    qf_dtype narrow[2] = {QF_DTYPE_F16, QF_DTYPE_BF16};
    for (int k = 0; k < 2; k++) {
        p.float_dtype = narrow[k];
        assert_int_equal(qf_safetensors_write(src, OUT, &p, &err), QF_STATUS_OK);
        json_object_put(check_layout());
        back = read_model(OUT);
        const qf_tensor *t = qf_model_find(src, "layers.1.ffn.up.weight", NULL);
        const qf_tensor *u = qf_model_find(back, "layers.1.ffn.up.weight", NULL);
        assert_non_null(u);
        assert_int_equal(u->dtype, narrow[k]);
        for (uint64_t i = 0; i < numel(t); i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)u->data + 2 * i, 2);
            uint16_t want = k == 0 ? qf_f32_to_f16(f32_at(t, i)) : qf_f32_to_bf16(f32_at(t, i));
            if (h != want) fail_msg("element %llu: %04x, expected %04x", (unsigned long long)i, h, want);
        }
        qf_model_destroy(back);
    }
    qf_model_destroy(src);
}

static void test_dequantized(void **state)
{
    (void)state;
    qf_model *src = read_model(MINI);
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_arch_map(src, NULL, &err), QF_STATUS_OK);
    for (int per_tensor = 0; per_tensor < 2; per_tensor++) {
        qf_quantize_params qp = qf_quantize_params_default();
        qp.per_tensor = per_tensor;
        qp.threads = 1;
        qf_model *q = NULL;
        assert_int_equal(qf_model_quantize_dynamic(src, &qp, &q, &err), QF_STATUS_OK);
        assert_int_equal(qf_safetensors_write(q, OUT, NULL, &err), QF_STATUS_OK);
        json_object_put(check_layout());
        qf_model *back = read_model(OUT);
        size_t written = 0, dequantized = 0;
        for (size_t i = 0; i < qf_model_tensor_count(q); i++) {
            const qf_tensor *t = qf_model_tensor(q, i);
            const qf_tensor *u = qf_model_find(back, t->source_name, NULL);
            if (strstr(t->name, "::scale")) {
                assert_null(qf_model_find(back, t->name, NULL));
                continue;
            }
            assert_non_null(u);
            written++;
            if (t->quant.scheme == QF_QUANT_NONE) {
                assert_memory_equal(u->data, t->data, t->nbytes);
                continue;
            }
            dequantized++;
            assert_int_equal(u->dtype, QF_DTYPE_F32);
            const qf_tensor *s = qf_model_find(q, t->quant.scale_name, NULL);
            uint64_t cols = (uint64_t)t->shape[1];
            for (uint64_t k = 0; k < numel(t); k++) {
                float scale = f32_at(s, t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL ? k / cols : 0);
                float want = (float)((const int8_t *)t->data)[k] * scale;
                if (f32_at(u, k) != want) fail_msg("%s[%llu]: %g, expected %g", t->name, (unsigned long long)k,
                                                   (double)f32_at(u, k), (double)want);
            }
        }
        assert_int_equal(written, qf_model_tensor_count(back));
        assert_true(dequantized >= 12);
        qf_model_destroy(back);
        qf_model_destroy(q);
    }
    qf_model_destroy(src);
}

static void test_refusals(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    assert_int_equal(qf_model_create(&m, &err), QF_STATUS_OK);
    static const float a[2] = {1, 2};
    int64_t shape[1] = {2};
    assert_int_equal(qf_model_add_tensor(m, "x", "same", QF_DTYPE_F32, 1, shape, a, sizeof a, NULL, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_add_tensor(m, "y", "same", QF_DTYPE_F32, 1, shape, a, sizeof a, NULL, &err), QF_STATUS_OK);
    unlink(OUT);
    assert_int_equal(qf_safetensors_write(m, OUT, NULL, &err), QF_STATUS_DUPLICATE);
    assert_string_equal(err.object, "same");
    assert_int_equal(access(OUT, F_OK), -1); /* nothing written */
    qf_safetensors_write_params p = qf_safetensors_write_params_default();
    p.source_names = false;
    qf_error_clear(&err);
    assert_int_equal(qf_safetensors_write(m, OUT, &p, &err), QF_STATUS_OK); /* x and y are distinct */
    p.float_dtype = QF_DTYPE_I8;
    qf_error_clear(&err);
    assert_int_equal(qf_safetensors_write(m, OUT, &p, &err), QF_STATUS_INVALID_ARGUMENT);
    /* an empty model is a valid file: header only */
    qf_model *empty = NULL;
    assert_int_equal(qf_model_create(&empty, &err), QF_STATUS_OK);
    qf_error_clear(&err);
    assert_int_equal(qf_safetensors_write(empty, OUT, NULL, &err), QF_STATUS_OK);
    json_object_put(check_layout());
    qf_model_destroy(empty);
    qf_model_destroy(m);
    unlink(OUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_round_trip),
        cmocka_unit_test(test_dequantized),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
