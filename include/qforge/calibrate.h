/*
 * qforge calibrate: what static int8 needs from data. The FP32 encoder runs over calibration rows
 * while streaming observers record every activation that static int8 will quantize (the inputs of
 * the six projections of each layer, see qf_encoder_site); the statistics are saved as a `.qfc`
 * file (docs/format.md), merged across jobs, and turned into activation scales at quantize time by
 * a range-selection method, optionally after SmoothQuant. Then qf_model_quantize_static writes the
 * static artifact (verify.h's qf_static_fallback returns the most sensitive projections to FP32
 * while an accuracy budget is exceeded).
 *
 *   calib.jsonl ─> qf_calibrate_run (encoder observers) ─> qf_calib_stats ─> .qfc (write / read / merge)
 *   source model + stats ─> qf_model_quantize_static (method, smoothing, fp32 patterns) ─> model ─> .qf
 *
 * Determinism: an observer's state is a function of the multiset of values it saw (never of their
 * order, the batch size or the thread count), so merging the statistics of two halves of a data set
 * gives byte-for-byte the statistics of one run over the whole.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error; opaque
 * types have one create/destroy pair and destroy accepts NULL; returned pointers are borrowed.
 */
#ifndef QFORGE_CALIBRATE_H
#define QFORGE_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"
#include "qforge/quantize.h"
#include "qforge/model.h"
#include "qforge/runtime.h"
#include "qforge/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =============================================================================================
 * Statistics (calibrate/stats.c, calibrate/qfc.c)
 *
 * Per observed activation: count of finite values, count of non-finite ones (excluded), min, max,
 * a histogram of |x| with QF_CALIB_BINS bins over [0, 2^exponent) where 2^exponent is the
 * smallest power of two above max|x|, and per input channel max|x| plus a coarse histogram
 * (QF_CALIB_CHANNEL_BINS bins over that channel's own power-of-two range) for SmoothQuant.
 * A bin index is floor(|x| * 2^(log2(bins) - exponent)), exact in floating point; when the range
 * doubles, bins are merged pairwise, which gives exactly the bins a larger range would have given
 * from the start. So the histogram over the final range never depends on the order of the values.
 * =========================================================================================== */

#define QF_CALIB_BINS_LOG2 12
#define QF_CALIB_BINS (1 << QF_CALIB_BINS_LOG2) /* >= 2048 bins always cover [0, max|x|] */
#define QF_CALIB_CHANNEL_BINS_LOG2 7
#define QF_CALIB_CHANNEL_BINS (1 << QF_CALIB_CHANNEL_BINS_LOG2)
/* exponent of a histogram that has seen no non-zero value yet (all values in bin 0) */
#define QF_CALIB_NO_RANGE INT32_MIN

typedef struct qf_calib_entry {
    const char *name;        /* "layers.0.attn.qkv.input"; owned by the stats */
    int64_t channels;        /* columns of the activation (input channels of the projections) */
    uint64_t count;          /* finite values observed */
    uint64_t nonfinite;      /* NaN / ±inf values seen and excluded */
    float min, max;          /* over finite values; 0, 0 when count == 0 */
    int32_t exponent;        /* histogram covers [0, 2^exponent); QF_CALIB_NO_RANGE when max|x| == 0 */
    const uint64_t *hist;    /* [QF_CALIB_BINS] counts of |x| */
    const float *channel_absmax;      /* [channels] */
    const int32_t *channel_exponent;  /* [channels] */
    const uint64_t *channel_hist;     /* [channels][QF_CALIB_CHANNEL_BINS] */
} qf_calib_entry;

typedef struct qf_calib_stats qf_calib_stats;

qf_status qf_calib_stats_create(qf_calib_stats **out, qf_error *err);
void qf_calib_stats_destroy(qf_calib_stats *s); /* accepts NULL */

/* Adds the values of x [rows, cols] to the entry `name` (created on first use; cols must then
 * stay the same, else QF_STATUS_SHAPE). Non-finite values are counted and excluded. */
qf_status qf_calib_stats_observe(qf_calib_stats *s, const char *name, const float *x, int64_t rows, int64_t cols,
                                 qf_error *err);

/* Adds everything `src` holds into `dst` (entries matched by name, new ones added in src's order,
 * provenance summed). Both must come from the same model (source SHA-256, when both record one),
 * else QF_STATUS_INVALID_ARGUMENT. The result equals one observation of the union of the rows. */
qf_status qf_calib_stats_merge(qf_calib_stats *dst, const qf_calib_stats *src, qf_error *err);

size_t qf_calib_stats_count(const qf_calib_stats *s);
/* Entry i in canonical order (sorted by layer, then site); NULL out of range. Borrowed. */
const qf_calib_entry *qf_calib_stats_entry(const qf_calib_stats *s, size_t i);
const qf_calib_entry *qf_calib_stats_find(const qf_calib_stats *s, const char *name); /* NULL if absent */

/* Provenance carried in the file and summed by merge. */
typedef struct qf_calib_provenance {
    char source_sha256[65]; /* hex SHA-256 of the model source; "" unknown */
    uint64_t rows;          /* calibration rows (sequences) observed */
    uint64_t tokens;        /* real tokens observed */
    uint64_t row_hash_sum;  /* sum mod 2^64 of a 64-bit FNV-1a hash of each row's token ids: an
                             * order-independent fingerprint of the calibration rows */
} qf_calib_provenance;

const qf_calib_provenance *qf_calib_stats_provenance(const qf_calib_stats *s);
qf_calib_provenance *qf_calib_stats_provenance_mut(qf_calib_stats *s);

/* The .qfc file (docs/format.md "The .qfc statistics file"): deterministic bytes for given
 * statistics, written atomically (qf_output). */
qf_status qf_calib_stats_write(const qf_calib_stats *s, const char *path, qf_error *err);
/* Validates the whole file (sizes, limits, CRC-32, histogram totals) before building anything;
 * errors name the byte offset and the entry. */
qf_status qf_calib_stats_read(const char *path, qf_calib_stats **out, qf_error *err);
qf_status qf_calib_stats_parse(const void *data, size_t size, const char *name, qf_calib_stats **out, qf_error *err);
/* The exact bytes qf_calib_stats_write writes, malloc'ed (caller frees). */
qf_status qf_calib_stats_serialize(const qf_calib_stats *s, uint8_t **out, size_t *size, qf_error *err);

/* Name of the statistics entry of a site: "layers.<layer>.<site>.input" (e.g. layers.0.attn.qkv.input). */
void qf_calib_entry_name(int64_t layer, qf_encoder_site site, char *buf, size_t size);

/* =============================================================================================
 * Calibration run (calibrate/calibrate.c)
 * =========================================================================================== */

typedef struct qf_calibrate_params {
    int threads;       /* worker threads: rows are split over `threads` single-threaded encoders whose
                        * statistics are merged (exactly), so the result does not depend on it; 0: all cores */
    size_t first_row;  /* rows [first_row, first_row + samples) of the data set */
    size_t samples;    /* 0: every row from first_row on */
    bool reference_kernels; /* scalar kernels (tests) */
    /* Called now and then from one thread (may be NULL): rows observed so far and the total. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} qf_calibrate_params;

qf_calibrate_params qf_calibrate_params_default(void);

/* Runs `m` in FP32 over the selected rows and observes every projection input. The model must be
 * mapped to canonical names (qf_arch_map, once after reading). *out is new statistics with provenance filled
 * ("source.sha256" metadata of the model when present). */
qf_status qf_calibrate_run(qf_model *m, const qf_dataset *data, const qf_calibrate_params *params,
                           qf_calib_stats **out, qf_error *err);

/* =============================================================================================
 * Range selection (calibrate/methods.c)
 * =========================================================================================== */

typedef enum qf_calib_method {
    QF_CALIB_METHOD_MINMAX = 0, /* threshold = max|x| */
    QF_CALIB_METHOD_PERCENTILE, /* the |x| below which `percentile` % of the values lie (bin upper edge) */
    QF_CALIB_METHOD_ENTROPY,    /* KL-divergence threshold search with 128 quantized levels (TensorRT) */
    QF_CALIB_METHOD_MSE,        /* threshold minimising the expected squared quantization error */
    QF_CALIB_METHOD_COUNT_
} qf_calib_method;

const char *qf_calib_method_name(qf_calib_method m); /* "minmax", ... */
bool qf_calib_method_from_name(const char *name, qf_calib_method *out);

/*
 * Clipping threshold T (> 0) for a histogram of |x|: `hist` [bins] over [0, bins * width).
 * The activation scale is then T / 127 (int8 symmetric, q in [-128, 127]). A histogram without
 * non-zero values gives T = 0 (the caller uses scale 1).
 */
double qf_calib_threshold(const uint64_t *hist, size_t bins, double width, double max_abs, qf_calib_method method,
                          double percentile);

/* =============================================================================================
 * Static quantization (calibrate/quantize_static.c; its accuracy-aware fallback is in verify.h)
 * =========================================================================================== */

typedef struct qf_static_params {
    qf_calib_method method;    /* default entropy */
    double percentile;         /* PERCENTILE: default 99.99 */
    double smooth_alpha;       /* SmoothQuant migration strength in (0, 1]; 0: off (default) */
    /* Projections that stay FP32: shell patterns (fnmatch) matched against the projection stem
     * ("layers.0.attn.q") and its weight name ("layers.0.attn.q.weight"). Borrowed. */
    const char *const *fp32_patterns;
    size_t fp32_pattern_count;
    /* int8 per-row word embedding (weight-only). Default false: the QDQ graph keeps the embedding
     * sum FP32, and the .qf must mean what the QDQ graph means. */
    bool quantize_word_embeddings;
    int threads;                   /* weight quantization threads; 0: all cores */
} qf_static_params;

qf_static_params qf_static_params_default(void);

/*
 * Static int8: each of the six projections of every layer (unless matched by an fp32 pattern) gets
 * int8 weights per output channel ("<stem>.weight" + "::scale", as the dynamic mode) and its
 * calibrated input scale "<stem>.input::scale" (f32 [1] = T / 127 from the method over the site's
 * statistics). With smoothing, s_j = max|X_j|^a / max|W_j|^(1-a) per input channel (W over Q, K, V
 * together for the shared attention input), the weight columns are multiplied by s_j before
 * quantization and "<stem>.input::smooth" = 1 / s_j multiplies the activation before its
 * QuantizeLinear; the threshold is taken over the smoothed distribution (rebuilt from the per-
 * channel histograms). Pooler, head, LayerNorm and embeddings (unless quantize_word_embeddings)
 * stay FP32. `src` must be mapped (qf_arch_map). Records quant.mode = "static", the method,
 * percentile, smoothing, calibration provenance, and the FP32 projections in metadata.
 */
qf_status qf_model_quantize_static(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                   qf_model **out, qf_error *err);

/*
 * qf_model_quantize_static with `keep_fp32` [keep_fp32_count] projection stems ("layers.3.ffn.up")
 * also kept FP32, matched exactly, on top of params->fp32_patterns: what the accuracy-aware
 * fallback (verify.h, qf_static_fallback) builds at each step. The stems are recorded as the
 * patterns are.
 */
qf_status qf_model_quantize_static_keeping(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                           const char *const *keep_fp32, size_t keep_fp32_count, qf_model **out,
                                           qf_error *err);

/* The 6 projection stems of layer l in a fixed order: attn.q, attn.k, attn.v, attn.out, ffn.up, ffn.down. */
#define QF_STATIC_PROJECTIONS QF_LAYER_PROJECTIONS
void qf_static_projection_stem(int64_t layer, int index, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_CALIBRATE_H */
