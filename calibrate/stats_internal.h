/*
 * calibrate/stats_internal.h — internal: the statistics object shared by stats.c (observers,
 * merge) and qfc.c (the .qfc file). Not a public header.
 */
#ifndef QF_CALIBRATE_STATS_INTERNAL_H
#define QF_CALIBRATE_STATS_INTERNAL_H

#include "qforge/calibrate.h"

typedef struct qf_calib_entry_impl {
    qf_calib_entry pub; /* its pointers point at the arrays below */
    char *name;
    uint64_t *hist;   /* [QF_CALIB_BINS] */
    float *chabs;     /* [channels] */
    int32_t *chexp;   /* [channels] */
    uint64_t *chhist; /* [channels * QF_CALIB_CHANNEL_BINS] */
    double *chscale;  /* [channels] 2^(log2 channel bins - chexp), derived */
    double *chlimit;  /* [channels] 2^chexp, or 0 with no range yet: |x| >= it grows the histogram; derived */
} qf_calib_entry_impl;

struct qf_calib_stats {
    qf_calib_entry_impl *e; /* canonical order */
    size_t n, cap;
    qf_calib_provenance prov;
};

/* Adds an empty entry at its canonical position (the name must be new). */
qf_status qf_calib_stats_add_entry(qf_calib_stats *s, const char *name, int64_t channels, qf_calib_entry_impl **out,
                                   qf_error *err);
/* qf_calib_stats_observe on the scalar path (the specification the AVX-512 path is tested against). */
qf_status qf_calib_stats_observe_ref(qf_calib_stats *s, const char *name, const float *x, int64_t rows, int64_t cols,
                                     qf_error *err);
/* Points pub at the arrays and recomputes the derived per-channel scales. */
void qf_calib_entry_sync(qf_calib_entry_impl *e);

#endif
