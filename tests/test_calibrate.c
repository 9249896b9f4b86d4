/*
 * tests/test_calibrate.c — calibrate/: the streaming observers (exact bins, range growth, non-finite
 * values counted and excluded, the same bytes whatever the order and split of the values, merge ==
 * one run), the .qfc file (round trip; damaged files each with their status code and byte offset;
 * limits at the limit and one past), the range-selection methods on known histograms, and the
 * calibration run on the bundled debsec-mini model (threads 1 vs 3 and two merged halves give the
 * bytes of one run).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calibrate/stats_internal.h"
#include "qforge/calibrate.h"
#include "qforge/readers.h"

#define MINI QF_SOURCE_DIR "/fixtures/debsec-mini"

static unsigned g_seed = 7;
static unsigned next_rand(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 17;
    g_seed ^= g_seed << 5;
    return g_seed;
}
static float frand(float a) { return ((float)(next_rand() & 0xFFFFFF) / (float)0x800000 - 1.0f) * a; }

static uint8_t *serialize(const qf_calib_stats *s, size_t *size)
{
    uint8_t *b = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_calib_stats_serialize(s, &b, size, &err), QF_STATUS_OK);
    return b;
}

static qf_calib_stats *new_stats(void)
{
    qf_calib_stats *s = NULL;
    assert_int_equal(qf_calib_stats_create(&s, NULL), QF_STATUS_OK);
    return s;
}

static void test_bins_and_nonfinite(void **state)
{
    (void)state;
    qf_calib_stats *s = new_stats();
    const float x[] = {0.75f, -0.5f, 0.0f, 3.0f, INFINITY, -INFINITY, NAN, -3.5f};
    assert_int_equal(qf_calib_stats_observe(s, "a", x, 2, 4, NULL), QF_STATUS_OK);
    const qf_calib_entry *e = qf_calib_stats_find(s, "a");
    assert_non_null(e);
    assert_int_equal(e->count, 5);
    assert_int_equal(e->nonfinite, 3);
    assert_true(e->min == -3.5f && e->max == 3.0f);
    assert_int_equal(e->exponent, 2); /* 3.5 < 2^2 */
    /* bin = floor(|x| * 4096 / 4) */
    assert_int_equal(e->hist[768], 1);  /* 0.75 */
    assert_int_equal(e->hist[512], 1);  /* 0.5 */
    assert_int_equal(e->hist[0], 1);    /* 0 */
    assert_int_equal(e->hist[3072], 1); /* 3.0 */
    assert_int_equal(e->hist[3584], 1); /* 3.5 */
    /* channel 3 saw 3.0 (row 0) and -3.5 (row 1): range 2^2, 128 bins */
    assert_true(e->channel_absmax[3] == 3.5f);
    assert_int_equal(e->channel_exponent[3], 2);
    assert_int_equal(e->channel_hist[3 * QF_CALIB_CHANNEL_BINS + 96], 1);
    assert_int_equal(e->channel_hist[3 * QF_CALIB_CHANNEL_BINS + 112], 1);
    /* channel 2 saw 0 and NaN: no range, the zero in bin 0 */
    assert_int_equal(e->channel_exponent[2], QF_CALIB_NO_RANGE);
    assert_int_equal(e->channel_hist[2 * QF_CALIB_CHANNEL_BINS], 1);
    /* a wider activation under the same name is refused */
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_calib_stats_observe(s, "a", x, 1, 8, &err), QF_STATUS_SHAPE);
    /* the range grows: 100 -> 2^7; 3.5 moves to bin floor(3.5 * 32) = 112 exactly as if seen now */
    const float big[] = {100.0f, 0, 0, 0};
    assert_int_equal(qf_calib_stats_observe(s, "a", big, 1, 4, NULL), QF_STATUS_OK);
    e = qf_calib_stats_find(s, "a");
    assert_int_equal(e->exponent, 7);
    assert_int_equal(e->hist[112], 1);
    assert_int_equal(e->hist[96], 1);   /* 3.0 */
    assert_int_equal(e->hist[3200], 1); /* 100 */
    qf_calib_stats_destroy(s);
}

/* The same values observed in another order, other row splits, or as two merged halves give the
 * same bytes; the canonical entry order does not depend on the order of first use. */
static void test_order_split_merge_independent(void **state)
{
    (void)state;
    enum { ROWS = 300, COLS = 24 };
    float *x = malloc(ROWS * COLS * sizeof *x);
    for (int i = 0; i < ROWS * COLS; i++) x[i] = frand(1.0f) * (float)(1 + (i % 97)) * (i % 13 == 0 ? 0.001f : 1.0f);
    x[5] = NAN;
    x[77] = -INFINITY;
    qf_calib_stats *a = new_stats(), *b = new_stats(), *h1 = new_stats(), *h2 = new_stats();
    /* a: rows in order, one at a time, layer 0 site first */
    for (int r = 0; r < ROWS; r++) {
        assert_int_equal(qf_calib_stats_observe(a, "layers.0.attn.qkv.input", x + r * COLS, 1, COLS, NULL), 0);
        assert_int_equal(qf_calib_stats_observe(a, "layers.10.ffn.down.input", x + r * COLS, 1, COLS, NULL), 0);
    }
    /* b: rows reversed, in blocks of 7, other entry first */
    for (int r = ROWS; r > 0; r -= 7) {
        int first = r - 7 < 0 ? 0 : r - 7;
        assert_int_equal(qf_calib_stats_observe(b, "layers.10.ffn.down.input", x + first * COLS, r - first, COLS, NULL), 0);
        assert_int_equal(qf_calib_stats_observe(b, "layers.0.attn.qkv.input", x + first * COLS, r - first, COLS, NULL), 0);
    }
    /* halves: rows with large values in one half only, merged in both orders */
    assert_int_equal(qf_calib_stats_observe(h1, "layers.0.attn.qkv.input", x, 100, COLS, NULL), 0);
    assert_int_equal(qf_calib_stats_observe(h1, "layers.10.ffn.down.input", x, 100, COLS, NULL), 0);
    assert_int_equal(qf_calib_stats_observe(h2, "layers.10.ffn.down.input", x + 100 * COLS, 200, COLS, NULL), 0);
    assert_int_equal(qf_calib_stats_observe(h2, "layers.0.attn.qkv.input", x + 100 * COLS, 200, COLS, NULL), 0);
    qf_calib_stats *m1 = new_stats(), *m2 = new_stats();
    assert_int_equal(qf_calib_stats_merge(m1, h1, NULL), 0);
    assert_int_equal(qf_calib_stats_merge(m1, h2, NULL), 0);
    assert_int_equal(qf_calib_stats_merge(m2, h2, NULL), 0);
    assert_int_equal(qf_calib_stats_merge(m2, h1, NULL), 0);
    size_t na, nb, n1, n2;
    uint8_t *ba = serialize(a, &na), *bb = serialize(b, &nb), *b1 = serialize(m1, &n1), *b2 = serialize(m2, &n2);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    assert_int_equal(na, n1);
    assert_memory_equal(ba, b1, na);
    assert_int_equal(na, n2);
    assert_memory_equal(ba, b2, na);
    assert_string_equal(qf_calib_stats_entry(a, 0)->name, "layers.0.attn.qkv.input");
    free(ba), free(bb), free(b1), free(b2);
    qf_calib_stats_destroy(a), qf_calib_stats_destroy(b), qf_calib_stats_destroy(h1), qf_calib_stats_destroy(h2);
    qf_calib_stats_destroy(m1), qf_calib_stats_destroy(m2);
    free(x);
}

/* ---------------------------------------------------------------------------------------------
 * .qfc files
 * ------------------------------------------------------------------------------------------- */

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static void fix_crc(uint8_t *b, size_t n) { wr32(b + n - 4, qf_crc32(0, b, n - 4)); }

static void expect_parse(const uint8_t *b, size_t n, qf_status code, int64_t offset)
{
    qf_error err;
    qf_error_clear(&err);
    qf_calib_stats *s = NULL;
    qf_status st = qf_calib_stats_parse(b, n, "t.qfc", &s, &err);
    if (st != code || (offset >= 0 && err.offset != offset))
        fail_msg("expected %s at %lld, got %s at %lld: %s", qf_status_name(code), (long long)offset, qf_status_name(st),
                 (long long)err.offset, err.message);
    assert_null(s);
}

/* One entry "x" of 2 channels, with a known source hash. Record layout: name_len at 128, name at
 * 132 (1 byte + 3 pad), channels at 136, count 144, nonfinite 152, min 160, max 164, exponent 168,
 * reserved 172, histogram 176.. */
static uint8_t *small_file(size_t *n)
{
    qf_calib_stats *s = new_stats();
    const float x[] = {1.0f, -2.0f, 0.25f, 0.0f};
    assert_int_equal(qf_calib_stats_observe(s, "x", x, 2, 2, NULL), 0);
    memset(qf_calib_stats_provenance_mut(s)->source_sha256, 'a', 64);
    qf_calib_stats_provenance_mut(s)->rows = 2;
    uint8_t *b = serialize(s, n);
    qf_calib_stats_destroy(s);
    return b;
}

/* The vector observer (qf_calib_stats_observe) and the scalar specification
 * (qf_calib_stats_observe_ref) give the same bytes: widths around the vector lengths, ranges that
 * keep growing, zeros of both signs as the first values and as the extremes, rows of zeros only,
 * NaN, infinities and subnormals, in several calls. */
static void test_observe_vector_equals_reference(void **state)
{
    (void)state;
    const int64_t widths[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 768};
    const int64_t rows = 40;
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int64_t cols = widths[wi];
        float *x = malloc((size_t)(rows * cols) * sizeof(float));
        assert_non_null(x);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < cols; j++) {
                float v = frand(1.0f) * ldexpf(1.0f, (int)(r / 3) - 6 + (int)(j % 5)); /* growing ranges */
                const unsigned pick = next_rand() % 41;
                if (pick == 0) v = 0.0f;
                else if (pick == 1) v = -0.0f;
                else if (pick == 2) v = NAN;
                else if (pick == 3) v = (next_rand() & 1) ? INFINITY : -INFINITY;
                else if (pick == 4) v = 0x1p-140f;
                x[r * cols + j] = v;
            }
        for (int64_t j = 0; j < cols; j++) x[j] = j % 2 ? 0.0f : -0.0f;       /* zeros first */
        for (int64_t j = 0; j < cols; j++) x[5 * cols + j] = -fabsf(x[5 * cols + j]) - 0.0f; /* no positive value */
        for (int64_t j = 0; j < cols; j++) x[6 * cols + j] = 0.0f;             /* zeros only */
        x[7 * cols] = -0.0f;
        qf_calib_stats *a = new_stats(), *b = new_stats();
        const int64_t splits[] = {0, 1, 6, 7, 20, rows};
        for (size_t k = 0; k + 1 < sizeof splits / sizeof splits[0]; k++) {
            const int64_t r0 = splits[k], n = splits[k + 1] - splits[k];
            assert_int_equal(qf_calib_stats_observe(a, "layers.0.attn.qkv.input", x + r0 * cols, n, cols, NULL), 0);
            assert_int_equal(qf_calib_stats_observe_ref(b, "layers.0.attn.qkv.input", x + r0 * cols, n, cols, NULL), 0);
        }
        /* fresh entries whose first row has zero extremes: +0 then -0s, and -0 then +0s */
        float *z = malloc((size_t)(2 * cols) * sizeof(float));
        assert_non_null(z);
        for (int64_t j = 0; j < cols; j++) z[j] = j == 0 ? 0.0f : -0.0f, z[cols + j] = j == 0 ? -0.0f : 0.0f;
        for (int v = 0; v < 2; v++) {
            const char *name = v ? "layers.2.attn.qkv.input" : "layers.1.attn.qkv.input";
            assert_int_equal(qf_calib_stats_observe(a, name, z + v * cols, 1, cols, NULL), 0);
            assert_int_equal(qf_calib_stats_observe_ref(b, name, z + v * cols, 1, cols, NULL), 0);
            const qf_calib_entry *ea = qf_calib_stats_find(a, name), *eb = qf_calib_stats_find(b, name);
            assert_true(signbit(ea->min) == signbit(eb->min) && signbit(ea->max) == signbit(eb->max));
            assert_true((signbit(eb->min) != 0) == (v == 1)); /* the first zero of the row, in order */
            assert_int_equal(qf_calib_stats_observe(a, name, x + 10 * cols, 3, cols, NULL), 0);
            assert_int_equal(qf_calib_stats_observe_ref(b, name, x + 10 * cols, 3, cols, NULL), 0);
        }
        free(z);
        size_t na, nb;
        uint8_t *ba = serialize(a, &na), *bb = serialize(b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ba, bb, na);
        const qf_calib_entry *ea = qf_calib_stats_find(a, "layers.0.attn.qkv.input");
        const qf_calib_entry *eb = qf_calib_stats_find(b, "layers.0.attn.qkv.input");
        assert_true(signbit(ea->min) == signbit(eb->min) && signbit(ea->max) == signbit(eb->max));
        free(ba), free(bb), free(x);
        qf_calib_stats_destroy(a);
        qf_calib_stats_destroy(b);
    }
}

static void test_qfc_round_trip_and_damage(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = small_file(&n);
    assert_int_equal(n, 128 + 8 + 40 + QF_CALIB_BINS * 8 + 2 * 8 + 2 * QF_CALIB_CHANNEL_BINS * 8 + 4);
    qf_calib_stats *s = NULL;
    assert_int_equal(qf_calib_stats_parse(b, n, "t.qfc", &s, NULL), QF_STATUS_OK);
    size_t n2;
    uint8_t *again = serialize(s, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, b, n);
    assert_int_equal(qf_calib_stats_provenance(s)->rows, 2);
    free(again);
    qf_calib_stats_destroy(s);

    uint8_t *c = malloc(n);
    /* truncated below header + trailer */
    expect_parse(b, 100, QF_STATUS_TRUNCATED, 100);
    /* bad magic */
    memcpy(c, b, n), c[1] = 'X';
    expect_parse(c, n, QF_STATUS_UNKNOWN_FORMAT, 0);
    /* other major version (checked before the CRC) */
    memcpy(c, b, n), wr32(c + 8, 2);
    expect_parse(c, n, QF_STATUS_UNSUPPORTED, 8);
    /* one flipped data bit: CRC at the trailer */
    memcpy(c, b, n), c[200] ^= 1;
    expect_parse(c, n, QF_STATUS_CHECKSUM, (int64_t)n - 4);
    /* the remaining cases have a valid CRC, so the structure checks speak */
    memcpy(c, b, n), wr32(c + 16, 2048), fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_UNSUPPORTED, 16);
    memcpy(c, b, n), wr32(c + 28, 1), fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, 28);
    memcpy(c, b, n), c[64 + 10] = 'G', fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, 74);
    memcpy(c, b, n), wr32(c + 24, 2), fix_crc(c, n); /* a second entry that is not there */
    expect_parse(c, n, QF_STATUS_TRUNCATED, (int64_t)n - 4);
    memcpy(c, b, n), wr32(c + 24, 0), fix_crc(c, n); /* bytes after the last entry */
    expect_parse(c, n, QF_STATUS_FORMAT, 128);
    memcpy(c, b, n), wr32(c + 128, 0), fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, 128);
    memcpy(c, b, n), c[132] = 0, fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, 132);
    memcpy(c, b, n), wr32(c + 136, 3), fix_crc(c, n); /* 3 channels: the record runs past the end */
    expect_parse(c, n, QF_STATUS_TRUNCATED, 128);
    memcpy(c, b, n), wr32(c + 144, 5), fix_crc(c, n); /* count disagrees with the histogram */
    expect_parse(c, n, QF_STATUS_FORMAT, 136);
    memcpy(c, b, n), wr32(c + 168, 1), fix_crc(c, n); /* max|x| = 2 not below 2^1 */
    expect_parse(c, n, QF_STATUS_FORMAT, 136);
    memcpy(c, b, n), wr32(c + 172, 1), fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, 172);
    /* channel 0 max above the entry's max|x| */
    size_t chabs = 176 + QF_CALIB_BINS * 8;
    float big = 9.0f;
    memcpy(c, b, n), memcpy(c + chabs, &big, 4), fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, (int64_t)chabs);
    /* a channel histogram count moved to another channel's total: sums disagree */
    size_t chh = chabs + 2 * 8;
    memcpy(c, b, n);
    for (size_t k = 0; k < QF_CALIB_CHANNEL_BINS; k++) memset(c + chh + k * 8, 0, 8);
    fix_crc(c, n);
    expect_parse(c, n, QF_STATUS_FORMAT, (int64_t)chh);
    free(c);
    free(b);

    /* a file on disk, written atomically */
    char path[] = "/tmp/qf_calib_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    qf_calib_stats *w = new_stats();
    const float x[] = {1, 2, 3};
    assert_int_equal(qf_calib_stats_observe(w, "y", x, 1, 3, NULL), 0);
    assert_int_equal(qf_calib_stats_write(w, path, NULL), 0);
    qf_calib_stats *r = NULL;
    assert_int_equal(qf_calib_stats_read(path, &r, NULL), 0);
    assert_int_equal(qf_calib_stats_find(r, "y")->count, 3);
    qf_calib_stats_destroy(w);
    qf_calib_stats_destroy(r);
    unlink(path);
}

/* A file whose only entry has a name of `len` bytes and `channels` channels, records filled in. */
static uint8_t *file_with(size_t len, int64_t channels, size_t *n)
{
    qf_calib_stats *s = new_stats();
    char *name = malloc(len + 1);
    memset(name, 'n', len);
    name[len] = 0;
    float *x = calloc((size_t)channels, sizeof *x);
    x[0] = 1.0f;
    assert_int_equal(qf_calib_stats_observe(s, name, x, 1, channels, NULL), 0);
    uint8_t *b = serialize(s, n);
    free(x);
    free(name);
    qf_calib_stats_destroy(s);
    return b;
}

static void test_qfc_limits(void **state)
{
    (void)state;
    /* entries: the count is checked before anything is read */
    size_t n;
    uint8_t *b = small_file(&n);
    wr32(b + 24, QF_CALIB_MAX_ENTRIES), fix_crc(b, n);
    expect_parse(b, n, QF_STATUS_TRUNCATED, (int64_t)n - 4); /* at the limit: read on, runs out */
    wr32(b + 24, QF_CALIB_MAX_ENTRIES + 1), fix_crc(b, n);
    expect_parse(b, n, QF_STATUS_LIMIT, 24);
    free(b);
    /* name bytes: a valid file at the limit; one past refused at the record */
    b = file_with(QF_CALIB_MAX_NAME, 1, &n);
    qf_calib_stats *s = NULL;
    assert_int_equal(qf_calib_stats_parse(b, n, "t", &s, NULL), QF_STATUS_OK);
    qf_calib_stats_destroy(s);
    wr32(b + 128, QF_CALIB_MAX_NAME + 1), fix_crc(b, n);
    expect_parse(b, n, QF_STATUS_LIMIT, 128);
    free(b);
    qf_error err;
    qf_error_clear(&err);
    s = new_stats();
    char longname[QF_CALIB_MAX_NAME + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[QF_CALIB_MAX_NAME + 1] = 0;
    float one = 1;
    assert_int_equal(qf_calib_stats_observe(s, longname, &one, 1, 1, &err), QF_STATUS_LIMIT);
    /* channels: a valid file at the limit; one past refused at the channel field */
    b = file_with(1, QF_CALIB_MAX_CHANNELS, &n);
    qf_calib_stats *t = NULL;
    assert_int_equal(qf_calib_stats_parse(b, n, "t", &t, NULL), QF_STATUS_OK);
    qf_calib_stats_destroy(t);
    wr32(b + 136, QF_CALIB_MAX_CHANNELS + 1), fix_crc(b, n);
    expect_parse(b, n, QF_STATUS_LIMIT, 136);
    free(b);
    float *wide = calloc(QF_CALIB_MAX_CHANNELS + 1, sizeof *wide);
    qf_error_clear(&err);
    assert_int_equal(qf_calib_stats_observe(s, "w", wide, 1, QF_CALIB_MAX_CHANNELS + 1, &err), QF_STATUS_LIMIT);
    free(wide);
    qf_calib_stats_destroy(s);
}

/* ---------------------------------------------------------------------------------------------
 * Range selection
 * ------------------------------------------------------------------------------------------- */

static void test_methods(void **state)
{
    (void)state;
    enum { BINS = 4096 };
    uint64_t *h = calloc(BINS, sizeof *h);
    const double w = 1.0 / 1024; /* range [0, 4) */
    /* 10000 values uniform over [0, 1) (bins 0..1023), one outlier at bin 4000 */
    for (int b = 0; b < 1024; b++) h[b] = 10;
    h[4000] = 1;
    double max_abs = 4000.5 * w;
    assert_true(qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_MINMAX, 0) == max_abs);
    /* 99.99 % of 10241 values: the target 10239.98 is reached at the last uniform bin (10240) */
    double p = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_PERCENTILE, 99.99);
    assert_true(fabs(p - 1024 * w) < 1e-12);
    /* 50 %: the 5120.5th value lies in bin 512 */
    p = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_PERCENTILE, 50);
    assert_true(fabs(p - 513 * w) < 1e-12);
    assert_true(qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_PERCENTILE, 100) == max_abs);
    /* one isolated outlier costs the entropy search nothing (its own level represents it exactly),
     * as in TensorRT / ONNX Runtime; for mse, clipping it (~9) costs more than coarser rounding of
     * 10240 values (~0.85): entropy keeps the whole range, mse clips the outlier only a little */
    double e = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_ENTROPY, 0);
    double m = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_MSE, 0);
    assert_true(e > 3.9);
    assert_true(m > 3.5 && m < 3.9);
    /* mse: a uniform distribution alone is kept whole (clipping costs more than resolution) */
    h[4000] = 0;
    m = qf_calib_threshold(h, BINS, w, 1024 * w, QF_CALIB_METHOD_MSE, 0);
    assert_true(m > 0.99);
    /* a Laplace tail (counts 1e7 exp(-b / 64), non-zero up to bin 1031): both clip the sparse tail */
    memset(h, 0, BINS * sizeof *h);
    size_t last = 0;
    for (size_t b = 0; b < BINS; b++) {
        h[b] = (uint64_t)floor(1e7 * exp(-(double)b / 64.0));
        if (h[b]) last = b;
    }
    max_abs = ((double)last + 0.5) * w;
    e = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_ENTROPY, 0);
    m = qf_calib_threshold(h, BINS, w, max_abs, QF_CALIB_METHOD_MSE, 0);
    assert_true(e > 0.25 * max_abs && e < 0.9 * max_abs);
    assert_true(m > 0.25 * max_abs && m < 0.9 * max_abs);
    /* nothing non-zero: 0 (the caller uses scale 1) */
    memset(h, 0, BINS * sizeof *h);
    h[0] = 5;
    assert_true(qf_calib_threshold(h, BINS, w, 0, QF_CALIB_METHOD_ENTROPY, 0) == 0);
    free(h);
    qf_calib_method k;
    assert_true(qf_calib_method_from_name("mse", &k) && k == QF_CALIB_METHOD_MSE);
    assert_false(qf_calib_method_from_name("kl", &k));
    assert_string_equal(qf_calib_method_name(QF_CALIB_METHOD_ENTROPY), "entropy");
}

/* ---------------------------------------------------------------------------------------------
 * Calibration run on debsec-mini
 * ------------------------------------------------------------------------------------------- */

static void test_calibrate_mini(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(MINI "/pytorch_model.bin", NULL, &m, &err)) fail_msg("%s", err.message);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    qf_tokenizer *tok = NULL;
    assert_int_equal(qf_tokenizer_load(MINI "/tokenizer.json", &tok, &err), 0);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.limit = 60;
    dp.config_json = qf_model_config_json(m);
    qf_dataset *d = NULL;
    assert_int_equal(qf_dataset_load(MINI "/eval.jsonl", tok, &dp, &d, &err), 0);
    qf_calibrate_params cp = qf_calibrate_params_default();
    cp.threads = 1;
    qf_calib_stats *one = NULL, *three = NULL, *a = NULL, *b = NULL;
    if (qf_calibrate_run(m, d, &cp, &one, &err)) fail_msg("%s", err.message);
    cp.threads = 3;
    assert_int_equal(qf_calibrate_run(m, d, &cp, &three, &err), 0);
    cp.threads = 2;
    cp.samples = 25;
    assert_int_equal(qf_calibrate_run(m, d, &cp, &a, &err), 0);
    cp.first_row = 25;
    cp.samples = 0;
    assert_int_equal(qf_calibrate_run(m, d, &cp, &b, &err), 0);
    assert_int_equal(qf_calib_stats_merge(b, a, &err), 0);
    size_t n1, n3, nm;
    uint8_t *b1 = serialize(one, &n1), *b3 = serialize(three, &n3), *bm = serialize(b, &nm);
    assert_int_equal(n1, n3);
    assert_memory_equal(b1, b3, n1);
    assert_int_equal(n1, nm);
    assert_memory_equal(b1, bm, n1);
    /* 2 layers x 4 sites, in canonical order, every value finite */
    assert_int_equal(qf_calib_stats_count(one), 8);
    assert_string_equal(qf_calib_stats_entry(one, 0)->name, "layers.0.attn.qkv.input");
    assert_string_equal(qf_calib_stats_entry(one, 3)->name, "layers.0.ffn.down.input");
    assert_int_equal(qf_calib_stats_entry(one, 3)->channels, 512);
    assert_int_equal(qf_calib_stats_provenance(one)->rows, 60);
    assert_int_equal(strlen(qf_calib_stats_provenance(one)->source_sha256), 64);
    uint64_t tokens = 0;
    for (size_t i = 0; i < qf_dataset_size(d); i++) tokens += (uint64_t)qf_dataset_row_at(d, i)->length;
    assert_int_equal(qf_calib_stats_provenance(one)->tokens, tokens);
    assert_int_equal(qf_calib_stats_entry(one, 0)->count, tokens * 128);
    assert_int_equal(qf_calib_stats_entry(one, 0)->nonfinite, 0);
    /* rows past the end */
    cp.first_row = 1000;
    qf_error_clear(&err);
    qf_calib_stats *none = NULL;
    assert_int_equal(qf_calibrate_run(m, d, &cp, &none, &err), QF_STATUS_INVALID_ARGUMENT);
    /* statistics of another model do not merge */
    memset(qf_calib_stats_provenance_mut(a)->source_sha256, 'b', 64);
    qf_error_clear(&err);
    assert_int_equal(qf_calib_stats_merge(one, a, &err), QF_STATUS_INVALID_ARGUMENT);
    free(b1), free(b3), free(bm);
    qf_calib_stats_destroy(one), qf_calib_stats_destroy(three), qf_calib_stats_destroy(a), qf_calib_stats_destroy(b);
    qf_dataset_destroy(d);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bins_and_nonfinite),
        cmocka_unit_test(test_order_split_merge_independent),
        cmocka_unit_test(test_observe_vector_equals_reference),
        cmocka_unit_test(test_qfc_round_trip_and_damage),
        cmocka_unit_test(test_qfc_limits),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_calibrate_mini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
