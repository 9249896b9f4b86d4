/*
 * verify/verify_embeddings.c — the measurement behind `qforge verify` for an embedding model: the
 * reference in FP32 and the artifact run over the same rows, each row's sentence embedding made as
 * sentence-transformers makes it (runtime's qf_embedding_pool), then the cosine of the two
 * embeddings of each row and whether both models retrieve the same nearest rows. Sums in double
 * precision in row order: the report does not depend on threads or batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/verify.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool qf_verify_embedding_gate(double mean_cosine, double min_cosine)
{
    return mean_cosine >= min_cosine; /* false for a NaN on either side */
}

static double cosine(const float *x, const float *y, int64_t n)
{
    double dot = 0, nx = 0, ny = 0;
    for (int64_t k = 0; k < n; k++) {
        dot += (double)x[k] * y[k];
        nx += (double)x[k] * x[k];
        ny += (double)y[k] * y[k];
    }
    return nx > 0 && ny > 0 ? dot / sqrt(nx * ny) : (nx == ny ? 1.0 : 0.0);
}

/* The k nearest other rows of row i by cosine (unit vectors: the dot product), best first; ties
 * go to the lower index. near[] holds k indices; sim[] is scratch of k doubles. */
static void nearest(const float *unit, size_t n, int64_t dim, size_t i, size_t k, size_t *near, double *sim)
{
    size_t have = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == i) continue;
        double s = 0;
        for (int64_t d = 0; d < dim; d++) s += (double)unit[i * (size_t)dim + (size_t)d] * unit[j * (size_t)dim + (size_t)d];
        if (have == k && !(s > sim[k - 1])) continue; /* an equal one keeps the lower index already in */
        size_t at = have < k ? have++ : k - 1;
        while (at > 0 && s > sim[at - 1]) {
            sim[at] = sim[at - 1];
            near[at] = near[at - 1];
            at--;
        }
        sim[at] = s;
        near[at] = j;
    }
}

static void to_unit(float *e, size_t rows, int64_t dim)
{
    for (size_t r = 0; r < rows; r++) {
        float *x = e + r * (size_t)dim;
        double n = 0;
        for (int64_t d = 0; d < dim; d++) n += (double)x[d] * x[d];
        n = sqrt(n);
        for (int64_t d = 0; d < dim; d++) x[d] = n > 0 ? (float)(x[d] / n) : 0.0f;
    }
}

/* Nearest-neighbour agreement of the two embedding sets over their first `rows` rows. */
static qf_status retrieval(float *ref, float *art, size_t rows, int64_t dim, qf_embedding_report *out, qf_error *err)
{
    out->retrieval_rows = rows;
    out->top1_agreement = out->top10_overlap = 1.0;
    if (rows < 2) return QF_STATUS_OK;
    to_unit(ref, rows, dim);
    to_unit(art, rows, dim);
    const size_t k = rows - 1 < 10 ? rows - 1 : 10;
    size_t *near = malloc(2 * k * rows * sizeof *near);
    if (!near) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the neighbours");
    bool oom = false;
#pragma omp parallel
    {
        double *sim = malloc(k * sizeof *sim);
        if (!sim) {
#pragma omp atomic write
            oom = true;
        }
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < rows; i++) {
            if (!sim) continue;
            nearest(ref, rows, dim, i, k, near + 2 * k * i, sim);
            nearest(art, rows, dim, i, k, near + 2 * k * i + k, sim);
        }
        free(sim);
    }
    if (oom) {
        free(near);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the neighbours");
    }
    size_t same_top1 = 0;
    double overlap = 0;
    for (size_t i = 0; i < rows; i++) {
        const size_t *a = near + 2 * k * i, *b = a + k;
        same_top1 += a[0] == b[0];
        size_t shared = 0;
        for (size_t x = 0; x < k; x++)
            for (size_t y = 0; y < k; y++) shared += a[x] == b[y];
        overlap += (double)shared / (double)k;
    }
    free(near);
    out->top1_agreement = (double)same_top1 / (double)rows;
    out->top10_overlap = overlap / (double)rows;
    return QF_STATUS_OK;
}

qf_status qf_verify_embeddings(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                               const qf_dataset *data, const qf_verify_params *params, qf_pooling pooling,
                               bool normalize, qf_embedding_report *out, qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *p = params ? params : &defaults;
    memset(out, 0, sizeof *out);
    if ((unsigned)pooling >= QF_POOLING_COUNT_)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL, "qf_verify_embeddings: unknown pooling");
    double t0 = seconds_now();
    const size_t rows = qf_dataset_size(data);
    int64_t batch = p->batch > 0 ? p->batch : 32;
    if (rows > 0 && (size_t)batch > rows) batch = (int64_t)rows;
    int32_t longest = 1;
    for (size_t i = 0; i < rows; i++)
        if (qf_dataset_row_at(data, i)->length > longest) longest = qf_dataset_row_at(data, i)->length;
    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = p->threads;
    ep.reference_kernels = p->reference_kernels;
    ep.max_batch = batch;
    ep.max_length = longest;
    ep.no_sentence_dense = p->no_sentence_dense;
    qf_encoder *ref = NULL, *art = NULL;
    qf_status s = qf_encoder_create(reference, &ep, &ref, err);
    ep.mode = artifact_mode;
    if (!s) s = qf_encoder_create(artifact, &ep, &art, err);
    const int64_t dim = ref ? qf_encoder_embedding_size(ref) : 0;
    if (!s && qf_encoder_embedding_size(art) != dim) {
        s = qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, "embedding size",
                         "the reference and the artifact make embeddings of different sizes");
        qf_error_expected(err, "%lld", (long long)dim);
        qf_error_found(err, "%lld", (long long)qf_encoder_embedding_size(art));
    }
    const size_t kept = rows < QF_VERIFY_MAX_RETRIEVAL_ROWS ? rows : QF_VERIFY_MAX_RETRIEVAL_ROWS;
    size_t cells = (size_t)batch * (size_t)longest;
    int32_t *ids = NULL, *mask = NULL, *types = NULL;
    float *ref_kept = NULL, *art_kept = NULL, *e_ref = NULL, *e_art = NULL;
    if (!s) {
        ids = malloc(cells * sizeof *ids);
        mask = malloc(cells * sizeof *mask);
        types = malloc(cells * sizeof *types);
        e_ref = malloc((size_t)batch * (size_t)dim * sizeof *e_ref);
        e_art = malloc((size_t)dim * sizeof *e_art);
        ref_kept = malloc((kept ? kept : 1) * (size_t)dim * sizeof *ref_kept);
        art_kept = malloc((kept ? kept : 1) * (size_t)dim * sizeof *art_kept);
        if (!ids || !mask || !types || !e_ref || !e_art || !ref_kept || !art_kept)
            s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the verification buffers");
    }
    double sum_cos = 0;
    out->min_cosine = 1.0;
    for (size_t first = 0; !s && first < rows; first += (size_t)batch) {
        size_t n = rows - first < (size_t)batch ? rows - first : (size_t)batch;
        int64_t length = qf_dataset_pack(data, first, n, ids, mask, types);
        qf_encoder_batch in = {(int64_t)n, length, ids, mask, types};
        qf_encoder_output o;
        if ((s = qf_encoder_run(ref, &in, &o, err))) break;
        for (size_t i = 0; i < n; i++) qf_embedding_pool(&in, &o, (int64_t)i, qf_dataset_pool_skip(data), pooling, normalize, e_ref + i * (size_t)dim);
        if ((s = qf_encoder_run(art, &in, &o, err))) break;
        for (size_t i = 0; i < n; i++) {
            const float *x = e_ref + i * (size_t)dim;
            qf_embedding_pool(&in, &o, (int64_t)i, qf_dataset_pool_skip(data), pooling, normalize, e_art);
            double c = cosine(x, e_art, dim);
            sum_cos += c;
            if (c < out->min_cosine || !(c == c)) {
                out->min_cosine = c;
                out->min_cosine_row = first + i;
            }
            if (first + i < kept) {
                memcpy(ref_kept + (first + i) * (size_t)dim, x, (size_t)dim * sizeof(float));
                memcpy(art_kept + (first + i) * (size_t)dim, e_art, (size_t)dim * sizeof(float));
            }
        }
        if (p->progress) p->progress(p->progress_ctx, first + n, rows);
    }
    if (!s) s = retrieval(ref_kept, art_kept, kept, dim, out, err);
    if (!s) {
        out->rows = rows;
        out->pooling = pooling;
        out->normalize = normalize;
        out->dimensions = dim;
        out->mean_cosine = rows ? sum_cos / (double)rows : 1.0;
        out->artifact_mode = artifact_mode;
        out->seconds = seconds_now() - t0;
    }
    free(ids);
    free(mask);
    free(types);
    free(e_ref);
    free(e_art);
    free(ref_kept);
    free(art_kept);
    qf_encoder_destroy(ref);
    qf_encoder_destroy(art);
    return s;
}
