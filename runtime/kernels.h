/*
 * runtime/kernels.h — internal: the GEMM and quantization kernels of the reference encoder.
 * The scalar `_ref` kernels (kernels_ref.c) are the specification; the oneDNN kernels
 * (kernels_dnnl.c, the only file that includes dnnl.h) are tested against them: bit-exact on the
 * int32 accumulators of the integer GEMM, within a relative tolerance on FP32.
 *
 * All matrices are row-major. Linear weights are [n, k] (PyTorch [out, in]); every GEMM computes
 * y[m, n] = sum_k x[m, k] * w[n, k].
 */
#ifndef QF_VERIFY_KERNELS_H
#define QF_VERIFY_KERNELS_H

#include "qforge/runtime.h"

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

/*
 * The exact integer GEMM of kernels_int8.c, for CPUs where oneDNN's is not exact (no VNNI: its
 * vpmaddubsw saturates pair sums of u8 x s8 products at int16): acc[m, n] = x w^T (zero point 0),
 * the bits of qf_gemm_u8s8s32_ref(x, 0, ...), with u8 and s8 widened to int16 and multiplied by
 * vpmaddwd (exact pair sums in int32) in the instruction set isa; an isa this CPU lacks runs the
 * scalar reference. qf_int8_isa_name: "scalar", "avx2", "avx512bw".
 */
typedef enum qf_int8_isa { QF_INT8_ISA_SCALAR, QF_INT8_ISA_AVX2, QF_INT8_ISA_AVX512BW } qf_int8_isa;
bool qf_gemm_u8s8s32_exact_supported(qf_int8_isa isa);
void qf_gemm_u8s8s32_exact(const uint8_t *x, const int8_t *w, int64_t m, int64_t n, int64_t k, int32_t *acc,
                           qf_int8_isa isa);
const char *qf_int8_isa_name(qf_int8_isa isa);

/* DynamicQuantizeLinear (qf_dynamic_quantize_u8_ref), AVX-512 when available; identical bits. */
void qf_dynamic_quantize_u8(const float *x, size_t n, uint8_t *q, float *scale, uint8_t *zero_point);

/*
 * e^x of a float, evaluated in double (x = n ln2 + r, |r| <= ln2/2, a degree-11 Taylor polynomial
 * in r with fused multiply-adds, scaled by 2^n) and rounded once: within 1 ulp of the exact value;
 * 0 below -150, +inf above 100, NaN for NaN. Portable and reproducible, unlike libm's expf.
 */
float qf_expf_ref(float x);

/*
 * One query row of one attention head over L keys of width d: sc[j] = scale * qi . k_j, plus
 * bias[j] when bias is not NULL (rounded after the product: a family's relative-position bias),
 * softmax over j (max-subtracted, qf_expf_ref, the sum taken as 16 partial sums p[j % 16], each in
 * increasing j, then added in lane order), ci = sum_j p_j v_j. Keys are given transposed,
 * k_j[t] = kt[t * ldk + j]; v_j = v + j * ldv. sc is scratch of L floats and holds the
 * probabilities p_j on return. Dots are accumulated in increasing t (scores) and j (context), in
 * float, with fused multiply-adds.
 */
void qf_attention_row_ref(const float *qi, const float *kt, int64_t ldk, const float *v, int64_t ldv, int64_t L,
                          int64_t d, float scale, const float *bias, float *sc, float *ci);
/* The same, AVX-512 when available; identical bits. */
void qf_attention_row(const float *qi, const float *kt, int64_t ldk, const float *v, int64_t ldv, int64_t L, int64_t d,
                      float scale, const float *bias, float *sc, float *ci);
/*
 * `rows` consecutive query rows of one head at once: row r reads q + r * ldq and its bias (when
 * not NULL) at bias + r * ldb, writes c + r * ldc and uses sc + r * L as its scratch (rows * L
 * floats). Each row gives qf_attention_row_ref's bits; the
 * AVX-512 form shares every key and value load between four rows and keeps 64 columns of keys or
 * values in L1 while up to 32 rows pass over them.
 */
void qf_attention_rows(const float *q, int64_t ldq, int64_t rows, const float *kt, int64_t ldk, const float *v,
                       int64_t ldv, int64_t L, int64_t d, float scale, const float *bias, int64_t ldb, float *sc,
                       float *c, int64_t ldc);
/*
 * The epilogue of an integer linear layer, one row of n outputs:
 * y[j] = (float)a_j * (sx * ws[j]) + bias[j], each operation rounded to f32 on its own
 * (MatMulInteger -> Cast -> Mul -> Add), where a_j = acc[j] - zx * colsum[j] in wrapping int32
 * arithmetic when colsum is given (removing the activation zero point from a raw x.w sum) and
 * a_j = acc[j] when colsum is NULL.
 */
void qf_dequantize_bias_row_ref(const int32_t *acc, int64_t n, int32_t zx, const int32_t *colsum, float sx,
                                const float *ws, const float *bias, float *y);
/* The same, AVX-512 when available; identical bits. */
void qf_dequantize_bias_row(const int32_t *acc, int64_t n, int32_t zx, const int32_t *colsum, float sx,
                            const float *ws, const float *bias, float *y);

/*
 * One row of x = LayerNorm(x + r) over d values (r may be NULL): x += r in f32, then the mean
 * and the variance of the centred values in double, each summed as 16 partial sums (partial l
 * takes the indices j with j % 16 == l, in increasing j) that are then added in increasing l;
 * x[j] = (float)((x[j] - mean) * (1 / sqrt(var + eps))) * g[j] + b[j].
 */
void qf_layer_norm_row_ref(float *x, const float *r, int64_t d, const float *g, const float *b, float eps);
/* The same, AVX-512 when available; identical bits. */
void qf_layer_norm_row(float *x, const float *r, int64_t d, const float *g, const float *b, float eps);

/*
 * erf of a float in float arithmetic (piecewise polynomials, one Horner loop of fused
 * multiply-adds): within 1 ulp of the exact value; portable and reproducible, unlike libm's erff.
 */
float qf_erf_ref(float x);
/* GELU (erf form) in place: x = 0.5f * x * (1.0f + qf_erf_ref(x * 0.70710678f)), in f32. */
void qf_gelu_row_ref(float *x, int64_t n);
/* The same, AVX-512 when available; identical bits. */
void qf_gelu_row(float *x, int64_t n);

/* Row sums of an int8 [n, k] matrix, sums[j] = sum_t w[j * k + t] (exact for k < 2^24): the
 * zero-point correction of the uint8 x int8 GEMM. */
void qf_int8_row_sums_ref(const int8_t *w, int64_t n, int64_t k, int32_t *sums);
/* The same, AVX-512 (BW) when available; identical results. */
void qf_int8_row_sums(const int8_t *w, int64_t n, int64_t k, int32_t *sums);

/* Whether qf_dynamic_quantize_u8 / qf_attention_row run their AVX-512 forms on this CPU. */
bool qf_encoder_simd_available(void);

/*
 * AMX backend of the integer GEMM (kernels_amx.c). qf_amx_available: the CPU has AMX-INT8 and the
 * OS granted the tile state (QF_AMX=0 in the environment says no). qf_amx_pack writes w [n, k]
 * (k a multiple of 64) into qf_amx_packed_columns(n) * k bytes of tiles and, in the same pass, the
 * n row sums sum_k w[j, k] (those of qf_int8_row_sums) into sums. qf_amx_gemm_u8s8s32:
 * acc[m, n] = x w^T (no zero point), x [m, k] row-major, or with epi the dequantized rows
 * straight from the tiles (the bits of qf_dequantize_bias_row on acc); tail is scratch of 16 * k
 * bytes, so one call at a time per tail.
 */
typedef struct qf_amx_epilogue { /* y[m, n] as qf_dequantize_bias_row (acc unused, may be NULL) */
    int32_t zx;
    const int32_t *colsum; /* NULL: no zero-point correction */
    float sx;
    const float *ws, *bias;
    float *y;
} qf_amx_epilogue;
bool qf_amx_available(void);
int64_t qf_amx_packed_columns(int64_t n);
void qf_amx_pack(const int8_t *w, int64_t n, int64_t k, int8_t *packed, int32_t *sums);
void qf_amx_gemm_u8s8s32(const uint8_t *x, int64_t m, const int8_t *packed, int64_t n, int64_t k, uint8_t *tail,
                         int32_t *acc, const qf_amx_epilogue *epi);

/* oneDNN backend: one engine + stream, and linear layers prepared on it. */
typedef struct qf_dnnl qf_dnnl;
typedef struct qf_dnnl_gemm qf_dnnl_gemm;

qf_status qf_dnnl_create(qf_dnnl **out, qf_error *err);
void qf_dnnl_destroy(qf_dnnl *d); /* accepts NULL */

/*
 * Prepares the weights w [n, k] (f32 when !int8, else int8) for rows m in 1..max_m. f32: w is
 * borrowed, read in place by dnnl_sgemm, and must outlive the gemm. int8: reordered once into the
 * layout oneDNN prefers, owned by the gemm, or copied as they are for the exact kernels of
 * kernels_int8.c where oneDNN has no VNNI (qf_dnnl_gemm_int8_kernel), or with AMX (k a multiple of 64) packed into tiles in
 * memory d hands out and keeps until qf_dnnl_destroy (all of d's packed weights lie together on huge
 * pages; destroying the gemm does not give its part back). w is not used afterwards; pages of a
 * mapped w are released. The matmul primitive of each m is created on its first use and cached.
 */
qf_status qf_dnnl_gemm_create(qf_dnnl *d, bool int8, const void *w, int64_t n, int64_t k, int64_t max_m,
                              qf_dnnl_gemm **out, qf_error *err);
void qf_dnnl_gemm_destroy(qf_dnnl_gemm *g); /* accepts NULL */

/* y[m, n] = x w^T; 1 <= m <= max_m. */
qf_status qf_dnnl_gemm_f32(qf_dnnl_gemm *g, const float *x, int64_t m, float *y, qf_error *err);
/* acc[m, n] = (x - zx) w^T, exactly what qf_gemm_u8s8s32_ref computes. */
qf_status qf_dnnl_gemm_u8s8s32(qf_dnnl_gemm *g, const uint8_t *x, uint8_t zx, int64_t m, int32_t *acc, qf_error *err);

/* acc[m, n] = x w^T without the zero-point correction; the caller removes zx * colsum[n] (see
 * qf_dequantize_bias_row). The column sums sum_k w[n, k] are owned by g. */
qf_status qf_dnnl_gemm_u8s8s32_raw(qf_dnnl_gemm *g, const uint8_t *x, int64_t m, int32_t *acc, qf_error *err);
const int32_t *qf_dnnl_gemm_colsum(const qf_dnnl_gemm *g);
/* Whether this integer layer runs on the AMX kernels rather than oneDNN's matmul. */
bool qf_dnnl_gemm_uses_amx(const qf_dnnl_gemm *g);
/*
 * The kernel of an integer layer: "amx" (kernels_amx.c), "onednn" (oneDNN's matmul, taken only
 * where the ISA oneDNN dispatches to has VNNI: dnnl_get_effective_cpu_isa, which honours
 * ONEDNN_MAX_CPU_ISA, at avx512_core_vnni or above, or avx2_vnni), else the exact kernel of
 * kernels_int8.c in the widest instruction set that ISA allows: "avx512bw", "avx2" or "scalar".
 * NULL for an FP32 layer.
 */
const char *qf_dnnl_gemm_int8_kernel(const qf_dnnl_gemm *g);
/* On an AMX layer: y[m, n] = qf_dequantize_bias_row of (x w^T) for every row, fused into the GEMM
 * (zx and the layer's column sums, sx, ws, bias as there). */
qf_status qf_dnnl_gemm_u8s8_dequantize(qf_dnnl_gemm *g, const uint8_t *x, int64_t m, int32_t zx, float sx,
                                       const float *ws, const float *bias, float *y, qf_error *err);

#endif /* QF_VERIFY_KERNELS_H */
