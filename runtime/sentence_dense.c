/*
 * runtime/sentence_dense.c — sentence-transformers' Dense module (sentence_transformers.models.Dense:
 * y = activation(W x + b), plus x, or a second projection of x, when use_residual), run on the
 * pooled embedding of one text after the encoder, before Normalize. FP32, double accumulation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/limits.h"
#include "runtime/sentence_dense.h"

typedef enum dense_act { ACT_TANH, ACT_IDENTITY, ACT_RELU, ACT_SIGMOID, ACT_GELU, ACT_SILU } dense_act;

typedef struct dense_module {
    int64_t in, out;
    const float *w, *b, *rw; /* [out, in], [out] or NULL, [out, in] or NULL */
    dense_act act;
    bool residual;
} dense_module;

struct qf_sentence_dense {
    dense_module mod[QF_MAX_SENTENCE_DENSE];
    int count;
    float *scratch[2]; /* [widest] each */
    float *input;      /* [in_features]: qf_sentence_dense_scratch_row */
};

static const float *dense_tensor(const qf_model *m, int k, const char *part, int32_t rank, int64_t rows,
                                 int64_t cols, bool required, qf_status *s, qf_error *err)
{
    char name[96];
    snprintf(name, sizeof name, "pipeline.dense.%d.%s", k, part);
    const qf_tensor *t = qf_model_find(m, name, NULL);
    if (!t) {
        if (required)
            *s = qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, name, "the model records Dense module %d but has no '%s'",
                              k, name);
        return NULL;
    }
    if (t->dtype != QF_DTYPE_F32 || t->rank != rank || t->shape[0] != rows || (rank == 2 && t->shape[1] != cols)) {
        *s = qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, name, "'%s' is not an F32 tensor of the Dense module's shape",
                          name);
        qf_error_expected(err, rank == 2 ? "F32 [%lld, %lld]" : "F32 [%lld]", (long long)rows, (long long)cols);
        return NULL;
    }
    return (const float *)t->data;
}

qf_status qf_sentence_dense_load(const qf_model *m, int64_t in_features, qf_sentence_dense **out, qf_error *err)
{
    *out = NULL;
    const char *count = qf_model_get_meta(m, "pipeline.dense");
    if (!count) return QF_STATUS_OK;
    char *end = NULL;
    long k_count = strtol(count, &end, 10);
    if (end == count || *end || k_count < 1 || k_count > QF_MAX_SENTENCE_DENSE) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, NULL, -1, "pipeline.dense", "pipeline.dense is not a count of Dense modules");
        qf_error_expected(err, "1..%d", QF_MAX_SENTENCE_DENSE);
        return QF_STATUS_FORMAT;
    }
    qf_sentence_dense *d = calloc(1, sizeof *d);
    if (!d) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    static const char *const acts[] = {"tanh", "identity", "relu", "sigmoid", "gelu", "silu"};
    qf_status s = QF_STATUS_OK;
    int64_t in = in_features, widest = in_features;
    for (int k = 0; !s && k < (int)k_count; k++) {
        dense_module *md = &d->mod[k];
        char key[64];
        snprintf(key, sizeof key, "pipeline.dense.%d.linear.weight", k);
        const qf_tensor *w = qf_model_find(m, key, NULL);
        if (!w || w->rank != 2 || w->shape[1] != in || w->shape[0] < 1 || w->shape[0] > QF_MAX_SENTENCE_DENSE_FEATURES) {
            s = qf_error_set(err, w ? QF_STATUS_SHAPE : QF_STATUS_FORMAT, NULL, NULL, -1, key,
                             "Dense module %d: '%s' is not a [out, %lld] weight", k, key, (long long)in);
            break;
        }
        md->in = in;
        md->out = w->shape[0];
        md->w = dense_tensor(m, k, "linear.weight", 2, md->out, in, true, &s, err);
        if (!s) md->b = dense_tensor(m, k, "linear.bias", 1, md->out, 0, false, &s, err);
        snprintf(key, sizeof key, "pipeline.dense.%d.activation", k);
        const char *act = qf_model_get_meta(m, key);
        size_t a = 0;
        while (act && a < sizeof acts / sizeof acts[0] && strcmp(act, acts[a]) != 0) a++;
        if (!s && (!act || a == sizeof acts / sizeof acts[0])) {
            s = qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, key, "Dense module %d has no activation qforge computes",
                             k);
            qf_error_expected(err, "tanh, identity, relu, sigmoid, gelu or silu");
        }
        md->act = (dense_act)a;
        snprintf(key, sizeof key, "pipeline.dense.%d.residual", k);
        const char *res = qf_model_get_meta(m, key);
        md->residual = res && strcmp(res, "true") == 0;
        if (!s && md->residual && in != md->out)
            md->rw = dense_tensor(m, k, "residual.weight", 2, md->out, in, true, &s, err);
        in = md->out;
        if (in > widest) widest = in;
    }
    d->count = (int)k_count;
    for (int i = 0; !s && i < 2; i++)
        if (!(d->scratch[i] = malloc((size_t)widest * sizeof(float))))
            s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (!s && !(d->input = malloc((size_t)in_features * sizeof(float))))
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (s) {
        qf_sentence_dense_free(d);
        return s;
    }
    *out = d;
    return QF_STATUS_OK;
}

float *qf_sentence_dense_scratch_row(const qf_sentence_dense *d)
{
    return d->input;
}

int64_t qf_sentence_dense_out_features(const qf_sentence_dense *d)
{
    return d->mod[d->count - 1].out;
}

static float activate(dense_act act, double v)
{
    switch (act) {
    case ACT_TANH: return (float)tanh(v);
    case ACT_RELU: return (float)(v > 0 ? v : 0);
    case ACT_SIGMOID: return (float)(1.0 / (1.0 + exp(-v)));
    case ACT_GELU: return (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0)))); /* torch.nn.GELU(): exact */
    case ACT_SILU: return (float)(v / (1.0 + exp(-v)));
    default: return (float)v;
    }
}

void qf_sentence_dense_apply(const qf_sentence_dense *d, const float *x, float *y)
{
    const float *src = x;
    for (int k = 0; k < d->count; k++) {
        const dense_module *md = &d->mod[k];
        float *dst = k == d->count - 1 ? y : d->scratch[k % 2];
        for (int64_t o = 0; o < md->out; o++) {
            const float *row = md->w + o * md->in;
            double acc = md->b ? md->b[o] : 0.0;
            for (int64_t i = 0; i < md->in; i++) acc += (double)row[i] * src[i];
            float v = activate(md->act, acc);
            if (md->residual && md->rw) {
                const float *rr = md->rw + o * md->in;
                double r = 0.0;
                for (int64_t i = 0; i < md->in; i++) r += (double)rr[i] * src[i];
                v += (float)r;
            } else if (md->residual) {
                v += src[o];
            }
            dst[o] = v;
        }
        src = dst;
    }
}

void qf_sentence_dense_free(qf_sentence_dense *d)
{
    if (!d) return;
    free(d->scratch[0]);
    free(d->scratch[1]);
    free(d->input);
    free(d);
}
