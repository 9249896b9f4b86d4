/*
 * calibrate/calibrate.c — the calibration run behind `qforge calibrate`: the FP32 reference
 * encoder over calibration rows, its observer tap feeding the streaming statistics (stats.c).
 * Rows are dealt to `threads` single-threaded encoders, each with its own statistics, merged at
 * the end; merging is exact, so the bytes of the .qfc do not depend on the thread count.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/calibrate.h"

qf_calibrate_params qf_calibrate_params_default(void)
{
    qf_calibrate_params p;
    memset(&p, 0, sizeof p);
    return p;
}

typedef struct worker {
    qf_encoder *enc;
    qf_calib_stats *stats;
    qf_error err;
    qf_status status;
    int32_t *ids, *types;
} worker;

static void observe(void *ctx, int64_t layer, qf_encoder_site site, const float *x, int64_t rows, int64_t cols)
{
    worker *w = ctx;
    if (w->status) return;
    char name[64];
    qf_calib_entry_name(layer, site, name, sizeof name);
    w->status = qf_calib_stats_observe(w->stats, name, x, rows, cols, &w->err);
}

/* 64-bit FNV-1a of a row's token ids (little-endian bytes). */
static uint64_t row_hash(const qf_dataset_row *r)
{
    uint64_t h = 1469598103934665603ull;
    for (int32_t t = 0; t < r->length; t++) {
        uint32_t v = (uint32_t)r->input_ids[t];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return h;
}

qf_status qf_calibrate_run(qf_model *m, const qf_dataset *data, const qf_calibrate_params *params,
                           qf_calib_stats **out, qf_error *err)
{
    qf_calibrate_params defaults = qf_calibrate_params_default();
    const qf_calibrate_params *p = params ? params : &defaults;
    *out = NULL;
    size_t total = qf_dataset_size(data);
    if (p->first_row >= total)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "first_row",
                            "the data has %zu rows; none from row %zu on", total, p->first_row);
    size_t n = total - p->first_row;
    if (p->samples && p->samples < n) n = p->samples;
    int threads = p->threads > 0 ? p->threads : omp_get_max_threads();
    if ((size_t)threads > n) threads = (int)n;
    int32_t longest = 1;
    for (size_t i = 0; i < n; i++) {
        const qf_dataset_row *r = qf_dataset_row_at(data, p->first_row + i);
        if (r->length > longest) longest = r->length;
    }
    /* mapped once after reading (qf_arch_map); the encoders share the model read-only */
    qf_status s = qf_arch_of(m, NULL, err);
    if (s) return s;
    worker *w = calloc((size_t)threads, sizeof *w);
    if (!w) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (int t = 0; !s && t < threads; t++) {
        qf_encoder_params ep = qf_encoder_params_default();
        ep.threads = 1;
        ep.max_batch = 1;
        ep.max_length = longest;
        ep.reference_kernels = p->reference_kernels;
        ep.observe = observe;
        ep.observe_ctx = &w[t];
        s = qf_calib_stats_create(&w[t].stats, err);
        if (!s) s = qf_encoder_create(m, &ep, &w[t].enc, err);
        if (!s) {
            w[t].ids = malloc((size_t)longest * sizeof(int32_t));
            w[t].types = malloc((size_t)longest * sizeof(int32_t));
            if (!w[t].ids || !w[t].types) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        }
    }
    size_t rows_done = 0;
    if (!s) {
#pragma omp parallel num_threads(threads)
        {
            worker *me = &w[omp_get_thread_num()];
            qf_calib_provenance *prov = qf_calib_stats_provenance_mut(me->stats);
            for (size_t i = (size_t)omp_get_thread_num(); i < n && !me->status; i += (size_t)threads) {
                const qf_dataset_row *r = qf_dataset_row_at(data, p->first_row + i);
                memcpy(me->ids, r->input_ids, (size_t)r->length * sizeof(int32_t));
                memcpy(me->types, r->token_type_ids, (size_t)r->length * sizeof(int32_t));
                qf_encoder_batch in = {1, r->length, me->ids, NULL, me->types};
                qf_encoder_output o;
                qf_status rs = qf_encoder_run(me->enc, &in, &o, &me->err);
                if (rs && !me->status) me->status = rs;
                prov->rows++;
                prov->tokens += (uint64_t)r->length;
                prov->row_hash_sum += row_hash(r);
                size_t seen;
#pragma omp atomic capture
                seen = ++rows_done;
                /* progress only reports; it never changes what is computed */
                if (p->progress && omp_get_thread_num() == 0) p->progress(p->progress_ctx, seen, n);
            }
        }
        if (!s && p->progress) p->progress(p->progress_ctx, n, n);
        for (int t = 0; t < threads && !s; t++)
            if (w[t].status) {
                if (err && !err->code) *err = w[t].err;
                s = w[t].status;
            }
    }
    qf_calib_stats *result = NULL;
    if (!s) s = qf_calib_stats_create(&result, err);
    for (int t = 0; !s && t < threads; t++) s = qf_calib_stats_merge(result, w[t].stats, err);
    if (!s) {
        const char *sha = qf_model_get_meta(m, "source.sha256");
        qf_calib_provenance *prov = qf_calib_stats_provenance_mut(result);
        if (sha && strlen(sha) == 64) memcpy(prov->source_sha256, sha, 65);
    }
    for (int t = 0; t < threads; t++) {
        qf_encoder_destroy(w[t].enc);
        qf_calib_stats_destroy(w[t].stats);
        free(w[t].ids);
        free(w[t].types);
    }
    free(w);
    if (s) {
        qf_calib_stats_destroy(result);
        return s;
    }
    *out = result;
    return QF_STATUS_OK;
}
