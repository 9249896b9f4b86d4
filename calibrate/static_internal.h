/*
 * calibrate/static_internal.h — internal: the static model pass with an extra list of projection
 * stems kept FP32 (exact names, no pattern limit), used by the accuracy-aware fallback.
 */
#ifndef QF_CALIBRATE_STATIC_INTERNAL_H
#define QF_CALIBRATE_STATIC_INTERNAL_H

#include "qforge/calibrate.h"

qf_status qf_static_build(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                          const char *const *extra_fp32, size_t nextra, qf_model **out, qf_error *err);

#endif
