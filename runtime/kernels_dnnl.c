/*
 * runtime/kernels_dnnl.c — the oneDNN adapter (the only file that includes dnnl.h): matmul
 * primitives for the encoder's linear layers, FP32 and uint8 x int8 -> int32.
 *
 * FP32 layers call dnnl_sgemm on the caller's weights as they are (borrowed, no copy). int8
 * weights are reordered once, at creation, into the blocked layout oneDNN picks for them (format_tag
 * any); the primitive of each row count m is created on first use and cached, with the weights
 * descriptor fixed to that packed layout. Integer GEMMs run without oneDNN zero points:
 * the raw sum x.w comes out in int32 and the activation zero point is removed here with the
 * precomputed column sums, acc = x.w - zx * sum_k w — exact in int32, equal to MatMulInteger.
 * Where the CPU has AMX and k is a multiple of 64, integer layers skip oneDNN altogether: their
 * weights are packed into AMX tiles and multiplied by kernels_amx.c (same int32 results).
 * oneDNN's integer sums are exact only where the ISA it dispatches to has VNNI (vpdpbusd): below
 * that its u8 x s8 kernels add pairs of products with vpmaddubsw, saturating at int16 (255 * 127
 * twice gives 32767, not 64770), so there integer layers keep their weights as they are and run
 * the exact kernels of kernels_int8.c instead (see int8_kernel_for_onednn_isa).
 */
#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include <dnnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/kernels.h"

/* A stretch of memory the AMX-packed weights of this engine's gemms are carved from (see
 * alloc_packed); freed with the engine. */
typedef struct packed_chunk {
    struct packed_chunk *next;
    int8_t *base;
    size_t size, used;
} packed_chunk;

struct qf_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    packed_chunk *chunks; /* newest first; the gemms carve their packed weights from the first */
};

typedef struct gemm_shape {
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst;
} gemm_shape;

struct qf_dnnl_gemm {
    qf_dnnl *d;
    bool int8;
    int64_t n, k, max_m;
    dnnl_memory_desc_t packed_md; /* weights layout chosen by oneDNN */
    dnnl_memory_t weights;        /* owns the packed weights */
    int32_t *colsum;              /* int8: sum_k w[n, k] */
    const float *wf;              /* f32: the caller's weights [n, k], borrowed (dnnl_sgemm reads them in place) */
    int8_t *amx_packed;           /* int8 on AMX: the weights in tile layout (qf_amx_pack), in d's chunks; else NULL */
    int8_t *wq;                   /* int8 without VNNI: a copy of w [n, k] for qf_gemm_u8s8s32_exact; else NULL */
    qf_int8_isa exact_isa;        /* the instruction set of qf_gemm_u8s8s32_exact when wq is set */
    uint8_t *amx_tail;            /* int8 on AMX: 16 rows of k, the zero-padded last rows of x */
    gemm_shape *shapes;           /* [max_m + 1], index m; created lazily */
};

static qf_status dnnl_fail(qf_error *err, dnnl_status_t st, const char *what)
{
    return qf_error_set(err, st == dnnl_out_of_memory ? QF_STATUS_NO_MEMORY : QF_STATUS_INTERNAL, NULL, NULL, -1,
                        "oneDNN", "oneDNN %s failed (status %d)", what, (int)st);
}

qf_status qf_dnnl_create(qf_dnnl **out, qf_error *err)
{
    *out = NULL;
    qf_dnnl *d = calloc(1, sizeof *d);
    if (!d) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    dnnl_status_t st = dnnl_engine_create(&d->engine, dnnl_cpu, 0);
    if (st == dnnl_success) st = dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        qf_dnnl_destroy(d);
        return dnnl_fail(err, st, "engine/stream creation");
    }
    *out = d;
    return QF_STATUS_OK;
}

void qf_dnnl_destroy(qf_dnnl *d)
{
    if (!d) return;
    if (d->stream) dnnl_stream_destroy(d->stream);
    if (d->engine) dnnl_engine_destroy(d->engine);
    for (packed_chunk *c = d->chunks, *next; c; c = next) {
        next = c->next;
        free(c->base);
        free(c);
    }
    free(d);
}

/* AMX-packed weights of all the engine's gemms, one after the other in 32 MiB chunks (larger for a
 * larger gemm), 2 MiB-aligned and marked for transparent huge pages: the GEMMs stream them with
 * fewer TLB misses and packing takes one page fault per 2 MiB. Packed one by one into separate
 * allocations, the weights of BERT-base's 768 x 768 projections (576 KiB each) and the tails of
 * the larger ones sat on 4 KiB pages, and their ~9,000 page faults were a third of the encoder's
 * creation time. A chunk's unused end is never touched, so it costs address space only. */
static int8_t *alloc_packed(qf_dnnl *d, size_t bytes)
{
    const size_t huge = (size_t)2 << 20, chunk = (size_t)32 << 20;
    if (bytes > SIZE_MAX - huge) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    packed_chunk *c = d->chunks;
    if (!c || c->size - c->used < bytes) {
        size_t size = bytes > chunk ? (bytes + huge - 1) / huge * huge : chunk;
        void *base = NULL;
        if (!(c = malloc(sizeof *c))) return NULL;
        if (posix_memalign(&base, huge, size) != 0) {
            free(c);
            return NULL;
        }
        (void)madvise(base, size, MADV_HUGEPAGE); /* advice only: any failure leaves small pages */
        *c = (packed_chunk){d->chunks, base, size, 0};
        d->chunks = c;
    }
    int8_t *p = c->base + c->used;
    c->used += bytes;
    return p;
}

/*
 * Whether oneDNN's u8 x s8 -> s32 matmul gives exact int32 sums on the ISA it dispatches to
 * (dnnl_get_effective_cpu_isa: the CPU's, capped by ONEDNN_MAX_CPU_ISA): only with VNNI, whose
 * vpdpbusd adds four u8 x s8 products straight into int32 (avx512_core_vnni and the ISAs above
 * it, whose masks contain its bits, and avx2_vnni). If not, *isa is the widest instruction set of
 * the exact kernels (kernels_int8.c) that oneDNN's ISA includes, so that capping oneDNN caps them
 * too and each of them can be tested on one machine.
 */
static bool onednn_int8_exact(qf_int8_isa *isa)
{
    const unsigned e = (unsigned)dnnl_get_effective_cpu_isa();
    const unsigned vnni512 = (unsigned)dnnl_cpu_isa_avx512_core_vnni, vnni2 = (unsigned)dnnl_cpu_isa_avx2_vnni;
    const unsigned core512 = (unsigned)dnnl_cpu_isa_avx512_core, avx2 = (unsigned)dnnl_cpu_isa_avx2;
    if ((e & vnni512) == vnni512 || (e & vnni2) == vnni2) return true;
    *isa = (e & core512) == core512 ? QF_INT8_ISA_AVX512BW : (e & avx2) == avx2 ? QF_INT8_ISA_AVX2 : QF_INT8_ISA_SCALAR;
    if (!qf_gemm_u8s8s32_exact_supported(*isa)) *isa = QF_INT8_ISA_SCALAR;
    return false;
}

static dnnl_data_type_t src_type(const qf_dnnl_gemm *g) { return g->int8 ? dnnl_u8 : dnnl_f32; }
static dnnl_data_type_t wei_type(const qf_dnnl_gemm *g) { return g->int8 ? dnnl_s8 : dnnl_f32; }
static dnnl_data_type_t dst_type(const qf_dnnl_gemm *g) { return g->int8 ? dnnl_s32 : dnnl_f32; }

/* Primitive descriptor for m rows; weights_md NULL: let oneDNN choose (format any). */
static dnnl_status_t make_pd(const qf_dnnl_gemm *g, int64_t m, const dnnl_memory_desc_t *weights_md,
                             dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t src_md, wei_md, dst_md;
    dnnl_dims_t sd = {m, g->k}, wd = {g->k, g->n}, dd = {m, g->n};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&src_md, 2, sd, src_type(g), dnnl_ab);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dst_type(g), dnnl_ab);
    if (st == dnnl_success) {
        if (weights_md) wei_md = *weights_md;
        else st = dnnl_memory_desc_init_by_tag(&wei_md, 2, wd, wei_type(g), dnnl_format_tag_any);
    }
    dnnl_matmul_desc_t desc;
    if (st == dnnl_success) st = dnnl_matmul_desc_init(&desc, &src_md, &wei_md, NULL, &dst_md);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, &desc, NULL, g->d->engine, NULL);
    return st;
}

qf_status qf_dnnl_gemm_create(qf_dnnl *d, bool int8, const void *w, int64_t n, int64_t k, int64_t max_m,
                              qf_dnnl_gemm **out, qf_error *err)
{
    *out = NULL;
    if (n <= 0 || k <= 0 || max_m <= 0)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "gemm: bad dims n=%lld k=%lld m=%lld",
                            (long long)n, (long long)k, (long long)max_m);
    qf_dnnl_gemm *g = calloc(1, sizeof *g);
    if (!g) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    g->d = d;
    g->int8 = int8;
    g->n = n;
    g->k = k;
    g->max_m = max_m;
    g->shapes = calloc((size_t)max_m + 1, sizeof *g->shapes);
    if (int8) g->colsum = calloc((size_t)n, sizeof *g->colsum);
    if (!g->shapes || (int8 && !g->colsum)) {
        qf_dnnl_gemm_destroy(g);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    if (!int8) {
        /* oneDNN's sgemm on the weights as they are runs as fast as its matmul on a reordered copy
         * (measured on BERT-base shapes) and is reentrant: no copy, no per-shape primitives */
        g->wf = w;
        *out = g;
        return QF_STATUS_OK;
    }
    if (k % 64 == 0 && qf_amx_available()) {
        const size_t packed_bytes = (size_t)(qf_amx_packed_columns(n) * k);
        g->amx_packed = alloc_packed(d, packed_bytes);
        g->amx_tail = aligned_alloc(64, (size_t)(16 * k));
        if (!g->amx_packed || !g->amx_tail) {
            qf_dnnl_gemm_destroy(g);
            return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        }
        qf_amx_pack(w, n, k, g->amx_packed, g->colsum); /* the column sums in the same pass */
        qf_file_release_pages(w, (uint64_t)(n * k));
        *out = g;
        return QF_STATUS_OK;
    }

    qf_int8_row_sums(w, n, k, g->colsum);
    if (!onednn_int8_exact(&g->exact_isa)) {
        if (!(g->wq = malloc((size_t)(n * k)))) {
            qf_dnnl_gemm_destroy(g);
            return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        }
        memcpy(g->wq, w, (size_t)(n * k));
        qf_file_release_pages(w, (uint64_t)(n * k));
        *out = g;
        return QF_STATUS_OK;
    }
    /* Let oneDNN pick the weights layout for the largest m, then reorder [n, k] (= k x n "ba") into it. */
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t plain = NULL;
    dnnl_memory_desc_t plain_md;
    dnnl_dims_t wd = {k, n};
    dnnl_status_t st = make_pd(g, max_m, NULL, &pd);
    if (st == dnnl_success) {
        g->packed_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        st = dnnl_memory_desc_init_by_tag(&plain_md, 2, wd, wei_type(g), dnnl_ba);
    }
    if (st == dnnl_success) st = dnnl_memory_create(&plain, &plain_md, d->engine, (void *)w);
    if (st == dnnl_success) st = dnnl_memory_create(&g->weights, &g->packed_md, d->engine, DNNL_MEMORY_ALLOCATE);
    if (st == dnnl_success) st = dnnl_reorder_primitive_desc_create(&rpd, &plain_md, d->engine, &g->packed_md, d->engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&reorder, rpd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, g->weights}};
        st = dnnl_primitive_execute(reorder, d->stream, 2, args);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(d->stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (plain) dnnl_memory_destroy(plain);
    if (st != dnnl_success) {
        qf_dnnl_gemm_destroy(g);
        return dnnl_fail(err, st, "weight packing");
    }
    /* the packed copy is all that is used from now on: a mapped source's pages can go */
    qf_file_release_pages(w, (uint64_t)(n * k) * (int8 ? 1u : 4u));
    *out = g;
    return QF_STATUS_OK;
}

void qf_dnnl_gemm_destroy(qf_dnnl_gemm *g)
{
    if (!g) return;
    if (g->shapes) {
        for (int64_t m = 0; m <= g->max_m; m++) {
            gemm_shape *s = &g->shapes[m];
            if (s->prim) dnnl_primitive_destroy(s->prim);
            if (s->src) dnnl_memory_destroy(s->src);
            if (s->dst) dnnl_memory_destroy(s->dst);
        }
    }
    if (g->weights) dnnl_memory_destroy(g->weights);
    free(g->amx_tail);
    free(g->wq);
    free(g->colsum);
    free(g->shapes);
    free(g);
}

static qf_status shape_for(qf_dnnl_gemm *g, int64_t m, gemm_shape **out, qf_error *err)
{
    if (m < 1 || m > g->max_m)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "gemm: %lld rows outside 1..%lld",
                            (long long)m, (long long)g->max_m);
    gemm_shape *s = &g->shapes[m];
    if (s->prim) {
        *out = s;
        return QF_STATUS_OK;
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = make_pd(g, m, &g->packed_md, &pd);
    if (st == dnnl_success) st = dnnl_primitive_create(&s->prim, pd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&s->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), g->d->engine,
                                DNNL_MEMORY_NONE);
    if (st == dnnl_success)
        st = dnnl_memory_create(&s->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), g->d->engine,
                                DNNL_MEMORY_NONE);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        if (s->prim) dnnl_primitive_destroy(s->prim);
        if (s->src) dnnl_memory_destroy(s->src);
        if (s->dst) dnnl_memory_destroy(s->dst);
        memset(s, 0, sizeof *s);
        return dnnl_fail(err, st, "matmul primitive creation");
    }
    *out = s;
    return QF_STATUS_OK;
}

static qf_status execute(qf_dnnl_gemm *g, const void *x, int64_t m, void *y, qf_error *err)
{
    if (g->wf || g->amx_packed || g->wq) {
        if (m < 1 || m > g->max_m)
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "gemm: %lld rows outside 1..%lld",
                                (long long)m, (long long)g->max_m);
        if (g->amx_packed) {
            qf_amx_gemm_u8s8s32(x, m, g->amx_packed, g->n, g->k, g->amx_tail, y, NULL);
            return QF_STATUS_OK;
        }
        if (g->wq) {
            qf_gemm_u8s8s32_exact(x, g->wq, m, g->n, g->k, y, g->exact_isa);
            return QF_STATUS_OK;
        }
        const dnnl_status_t st = dnnl_sgemm('N', 'T', m, g->n, g->k, 1.0f, x, g->k, g->wf, g->k, 0.0f, y, g->n);
        return st == dnnl_success ? QF_STATUS_OK : dnnl_fail(err, st, "sgemm");
    }
    gemm_shape *s = NULL;
    qf_status qs = shape_for(g, m, &s, err);
    if (qs) return qs;
    dnnl_status_t st = dnnl_memory_set_data_handle(s->src, (void *)x);
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(s->dst, y);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s->src}, {DNNL_ARG_WEIGHTS, g->weights}, {DNNL_ARG_DST, s->dst}};
        st = dnnl_primitive_execute(s->prim, g->d->stream, 3, args);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(g->d->stream);
    return st == dnnl_success ? QF_STATUS_OK : dnnl_fail(err, st, "matmul");
}

qf_status qf_dnnl_gemm_f32(qf_dnnl_gemm *g, const float *x, int64_t m, float *y, qf_error *err)
{
    if (g->int8) return qf_error_set(err, QF_STATUS_INTERNAL, NULL, NULL, -1, NULL, "gemm: int8 weights used as f32");
    return execute(g, x, m, y, err);
}

qf_status qf_dnnl_gemm_u8s8s32(qf_dnnl_gemm *g, const uint8_t *x, uint8_t zx, int64_t m, int32_t *acc, qf_error *err)
{
    if (!g->int8) return qf_error_set(err, QF_STATUS_INTERNAL, NULL, NULL, -1, NULL, "gemm: f32 weights used as int8");
    qf_status s = execute(g, x, m, acc, err);
    if (s || zx == 0) return s;
    const int64_t n = g->n;
    const int64_t z = zx;
#pragma omp parallel for schedule(static) if (m * n >= 65536)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) acc[i * n + j] = (int32_t)((int64_t)acc[i * n + j] - z * g->colsum[j]);
    return QF_STATUS_OK;
}

qf_status qf_dnnl_gemm_u8s8s32_raw(qf_dnnl_gemm *g, const uint8_t *x, int64_t m, int32_t *acc, qf_error *err)
{
    if (!g->int8) return qf_error_set(err, QF_STATUS_INTERNAL, NULL, NULL, -1, NULL, "gemm: f32 weights used as int8");
    return execute(g, x, m, acc, err);
}

const int32_t *qf_dnnl_gemm_colsum(const qf_dnnl_gemm *g) { return g->colsum; }

bool qf_dnnl_gemm_uses_amx(const qf_dnnl_gemm *g) { return g->amx_packed != NULL; }

const char *qf_dnnl_gemm_int8_kernel(const qf_dnnl_gemm *g)
{
    if (!g->int8) return NULL;
    if (g->amx_packed) return "amx";
    return g->wq ? qf_int8_isa_name(g->exact_isa) : "onednn";
}

qf_status qf_dnnl_gemm_u8s8_dequantize(qf_dnnl_gemm *g, const uint8_t *x, int64_t m, int32_t zx, float sx,
                                       const float *ws, const float *bias, float *y, qf_error *err)
{
    if (!g->amx_packed)
        return qf_error_set(err, QF_STATUS_INTERNAL, NULL, NULL, -1, NULL, "gemm: fused dequantize needs an AMX layer");
    if (m < 1 || m > g->max_m)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "gemm: %lld rows outside 1..%lld",
                            (long long)m, (long long)g->max_m);
    const qf_amx_epilogue epi = {.zx = zx, .colsum = g->colsum, .sx = sx, .ws = ws, .bias = bias, .y = y};
    qf_amx_gemm_u8s8s32(x, m, g->amx_packed, g->n, g->k, g->amx_tail, NULL, &epi);
    return QF_STATUS_OK;
}
