/*
 * verify/kernels.h — internal: the GEMM and quantization kernels of the reference encoder.
 * The scalar `_ref` kernels (kernels_ref.c) are the specification; the oneDNN kernels
 * (kernels_dnnl.c, the only file that includes dnnl.h) are tested against them: bit-exact on the
 * int32 accumulators of the integer GEMM, within a relative tolerance on FP32.
 *
 * All matrices are row-major. Linear weights are [n, k] (PyTorch [out, in]); every GEMM computes
 * y[m, n] = sum_k x[m, k] * w[n, k].
 */
#ifndef QF_VERIFY_KERNELS_H
#define QF_VERIFY_KERNELS_H

#include "qforge/verify.h"

/* FP32 GEMM, accumulated in double in increasing k for each output (thread-count independent). */
void qf_gemm_f32_ref(const float *x, const float *w, int64_t m, int64_t n, int64_t k, float *y);

/* Integer GEMM as ONNX MatMulInteger with a uint8 activation and int8 weights (zero point 0):
 * acc[m, n] = sum_k (x[m, k] - zx) * w[n, k] in int32 (exact for k < 2^16). */
void qf_gemm_u8s8s32_ref(const uint8_t *x, uint8_t zx, const int8_t *w, int64_t m, int64_t n, int64_t k,
                         int32_t *acc);

/* Integer GEMM of a static int8 activation (zero point 0) and int8 weights:
 * acc[m, n] = sum_k x[m, k] * w[n, k] in int32 (exact for k < 2^16). The fast path shifts x to
 * uint8 (x + 128) and runs the uint8 GEMM with zero point 128, which gives the same integers. */
void qf_gemm_s8s8s32_ref(const int8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc);

/* oneDNN backend: one engine + stream, and linear layers prepared on it. */
typedef struct qf_dnnl qf_dnnl;
typedef struct qf_dnnl_gemm qf_dnnl_gemm;

qf_status qf_dnnl_create(qf_dnnl **out, qf_error *err);
void qf_dnnl_destroy(qf_dnnl *d); /* accepts NULL */

/*
 * Prepares the weights w [n, k] (f32 when !int8, else int8) for rows m in 1..max_m: reorders them
 * once into the layout oneDNN prefers (owned by the gemm; w is not used afterwards). The matmul
 * primitive of each m is created on its first use and cached.
 */
qf_status qf_dnnl_gemm_create(qf_dnnl *d, bool int8, const void *w, int64_t n, int64_t k, int64_t max_m,
                              qf_dnnl_gemm **out, qf_error *err);
void qf_dnnl_gemm_destroy(qf_dnnl_gemm *g); /* accepts NULL */

/* y[m, n] = x w^T; 1 <= m <= max_m. */
qf_status qf_dnnl_gemm_f32(qf_dnnl_gemm *g, const float *x, int64_t m, float *y, qf_error *err);
/* acc[m, n] = (x - zx) w^T, exactly what qf_gemm_u8s8s32_ref computes. */
qf_status qf_dnnl_gemm_u8s8s32(qf_dnnl_gemm *g, const uint8_t *x, uint8_t zx, int64_t m, int32_t *acc, qf_error *err);

#endif /* QF_VERIFY_KERNELS_H */
