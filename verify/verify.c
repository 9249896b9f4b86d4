/*
 * verify/verify.c — the measurement behind `qforge verify`: the reference model in FP32 and the
 * artifact (dynamic int8, or FP32) run over the same rows; accuracy of each, the drop in points,
 * top-1 agreement, logit distance, cosine similarity and per-layer hidden-state SQNR. All sums
 * run in row order in double precision: the report does not depend on threads or batch size.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/verify.h"

qf_verify_params qf_verify_params_default(void)
{
    qf_verify_params p;
    memset(&p, 0, sizeof p);
    p.batch = 32;
    p.max_changed_rows = 100;
    return p;
}

double qf_verify_dlogit_bin_lower(size_t bin)
{
    if (bin == 0) return 0.0;
    if (bin >= QF_VERIFY_DLOGIT_BINS) bin = QF_VERIFY_DLOGIT_BINS - 1;
    return 1e-6 * pow(10.0, (double)(bin - 1) / 4.0);
}

size_t qf_verify_dlogit_bin(double d)
{
    const size_t last = QF_VERIFY_DLOGIT_BINS - 1;
    if (isnan(d)) return last;
    if (!(d >= 1e-6)) return 0;
    double b = floor(4.0 * log10(d / 1e-6));
    size_t bin = b >= (double)(last - 1) ? last : 1 + (size_t)b;
    /* log10 may round across an edge: the lower edges are the definition */
    if (bin > 1 && d < qf_verify_dlogit_bin_lower(bin))
        bin--;
    else if (bin < last && d >= qf_verify_dlogit_bin_lower(bin + 1))
        bin++;
    return bin;
}

void qf_verify_report_free(qf_verify_report *r)
{
    if (!r) return;
    free(r->layer_sqnr_db);
    free(r->changed_rows);
    free(r->changed_reference_label);
    free(r->changed_artifact_label);
    memset(r, 0, sizeof *r);
}

static int32_t argmax(const float *x, int64_t n)
{
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (int32_t)i;
    return best;
}

typedef struct batch_buffers {
    int32_t *ids, *mask, *types;
} batch_buffers;

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

qf_status qf_verify_run(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_dataset *data, const qf_verify_params *params, qf_verify_report *out,
                        qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *p = params ? params : &defaults;
    memset(out, 0, sizeof *out);
    double t0 = seconds_now();
    size_t rows = qf_dataset_size(data);
    int64_t batch = p->batch > 0 ? p->batch : 32;
    if (rows > 0 && (size_t)batch > rows) batch = (int64_t)rows; /* no workspace for rows never filled */
    int32_t longest = 0;
    for (size_t i = 0; i < rows; i++)
        if (qf_dataset_row_at(data, i)->length > longest) longest = qf_dataset_row_at(data, i)->length;

    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = p->threads;
    ep.reference_kernels = p->reference_kernels;
    ep.max_batch = batch;
    ep.max_length = longest;
    ep.keep_layer_outputs = p->per_layer;
    qf_encoder *ref = NULL, *art = NULL;
    qf_status s = qf_encoder_create(reference, &ep, &ref, err);
    if (s) return s;
    ep.mode = artifact_mode;
    s = qf_encoder_create(artifact, &ep, &art, err);
    if (s) {
        qf_encoder_destroy(ref);
        return s;
    }
    const qf_arch *ra = qf_encoder_arch(ref), *aa = qf_encoder_arch(art);
    if (ra->head != QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) {
        /* the metrics below are those of one label per row: another head is refused, never scored */
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, "head",
                     "verify measures sequence classification, but the model's head is %s%s%s%s",
                     qf_arch_head_name(ra->head), ra->architecture[0] ? " (" : "", ra->architecture,
                     ra->architecture[0] ? ")" : "");
        qf_error_expected(err, "%s", qf_arch_head_name(QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION));
        qf_error_found(err, "%s", qf_arch_head_name(ra->head));
        qf_encoder_destroy(ref);
        qf_encoder_destroy(art);
        return QF_STATUS_UNSUPPORTED;
    }
    if (ra->score != QF_ARCH_SCORE_CLASS) {
        /* accuracy and top-1 agreement are one label's metrics: a multi-label, score or regression
         * head is refused, never scored with them */
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, "problem_type",
                     "verify measures single-label classification, but the model's logits are %s scores%s%s%s",
                     qf_arch_score_name(ra->score), ra->problem_type[0] ? " (problem_type " : "", ra->problem_type,
                     ra->problem_type[0] ? ")" : (ra->num_labels == 1 ? " (one label)" : ""));
        qf_error_expected(err, "%s", qf_arch_score_name(QF_ARCH_SCORE_CLASS));
        qf_error_found(err, "%s", qf_arch_score_name(ra->score));
        qf_encoder_destroy(ref);
        qf_encoder_destroy(art);
        return QF_STATUS_UNSUPPORTED;
    }
    if (ra->num_labels == 0 || ra->num_labels != aa->num_labels || ra->hidden_size != aa->hidden_size ||
        ra->num_layers != aa->num_layers) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, "head.out.weight",
                     "the reference and the artifact are not the same architecture with a classification head");
        qf_error_expected(err, "%lld labels, %lld layers", (long long)ra->num_labels, (long long)ra->num_layers);
        qf_error_found(err, "%lld labels, %lld layers", (long long)aa->num_labels, (long long)aa->num_layers);
        qf_encoder_destroy(ref);
        qf_encoder_destroy(art);
        return QF_STATUS_SHAPE;
    }
    /* the class count is the head's (head.out.weight rows): a label past it cannot be right */
    s = qf_dataset_check_labels(data, ra->num_labels, err);
    if (s) {
        qf_encoder_destroy(ref);
        qf_encoder_destroy(art);
        return s;
    }
    int64_t labels = ra->num_labels, hidden = ra->hidden_size;
    size_t layers = p->per_layer ? (size_t)ra->num_layers + 1 : 0;
    batch_buffers b = {0};
    size_t cells = (size_t)batch * (size_t)longest;
    b.ids = malloc(cells * sizeof(int32_t));
    b.mask = malloc(cells * sizeof(int32_t));
    b.types = malloc(cells * sizeof(int32_t));
    float *ref_logits = malloc((size_t)batch * (size_t)labels * sizeof(float));
    float *ref_layers = layers ? malloc(layers * cells * (size_t)hidden * sizeof(float)) : NULL;
    double *signal = layers ? calloc(layers, sizeof(double)) : NULL, *noise = layers ? calloc(layers, sizeof(double)) : NULL;
    out->changed_rows = malloc((p->max_changed_rows + 1) * sizeof(size_t));
    out->changed_reference_label = malloc((p->max_changed_rows + 1) * sizeof(int32_t));
    out->changed_artifact_label = malloc((p->max_changed_rows + 1) * sizeof(int32_t));
    if (!b.ids || !b.mask || !b.types || !ref_logits || (layers && (!ref_layers || !signal || !noise)) ||
        !out->changed_rows || !out->changed_reference_label || !out->changed_artifact_label)
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the verification buffers");

    double sum_abs = 0.0, sum_cos = 0.0;
    out->min_cosine = 1.0;
    for (size_t first = 0; !s && first < rows; first += (size_t)batch) {
        size_t n = rows - first < (size_t)batch ? rows - first : (size_t)batch;
        int64_t length = qf_dataset_pack(data, first, n, b.ids, b.mask, b.types);
        qf_encoder_batch in = {(int64_t)n, length, b.ids, b.mask, b.types};
        qf_encoder_output ro, ao;
        s = qf_encoder_run(ref, &in, &ro, err);
        if (s) break;
        memcpy(ref_logits, ro.logits, n * (size_t)labels * sizeof(float));
        size_t layer_stride = n * (size_t)length * (size_t)hidden;
        if (layers) memcpy(ref_layers, ro.layer_hidden, layers * layer_stride * sizeof(float));
        s = qf_encoder_run(art, &in, &ao, err);
        if (s) break;
        for (size_t i = 0; i < n; i++) {
            const float *x = ref_logits + i * (size_t)labels, *y = ao.logits + i * (size_t)labels;
            double dot = 0, nx = 0, ny = 0;
            for (int64_t k = 0; k < labels; k++) {
                double d = fabs((double)x[k] - (double)y[k]);
                sum_abs += d;
                out->dlogit_hist[qf_verify_dlogit_bin(d)]++;
                if (d > out->max_abs_dlogit) out->max_abs_dlogit = d;
                dot += (double)x[k] * y[k];
                nx += (double)x[k] * x[k];
                ny += (double)y[k] * y[k];
            }
            double cosine = nx > 0 && ny > 0 ? dot / sqrt(nx * ny) : (nx == ny ? 1.0 : 0.0);
            sum_cos += cosine;
            if (cosine < out->min_cosine) out->min_cosine = cosine;
            int32_t pr = argmax(x, labels), pa = argmax(y, labels);
            const qf_dataset_row *row = qf_dataset_row_at(data, first + i);
            if (pr == pa) {
                out->agreeing++;
            } else {
                if (out->changed_kept < p->max_changed_rows) {
                    out->changed_rows[out->changed_kept] = first + i;
                    out->changed_reference_label[out->changed_kept] = pr;
                    out->changed_artifact_label[out->changed_kept] = pa;
                    out->changed_kept++;
                }
                out->changed_count++;
            }
            if (row->label >= 0) {
                out->labelled_rows++;
                out->correct_reference += pr == row->label;
                out->correct_artifact += pa == row->label;
            }
            for (size_t l = 0; l < layers; l++) {
                /* real tokens only: padded positions are zeros in both */
                const float *rx = ref_layers + l * layer_stride + i * (size_t)length * (size_t)hidden;
                const float *ax = ao.layer_hidden + l * layer_stride + i * (size_t)length * (size_t)hidden;
                for (size_t k = 0; k < (size_t)row->length * (size_t)hidden; k++) {
                    double dx = (double)rx[k] - (double)ax[k];
                    signal[l] += (double)rx[k] * rx[k];
                    noise[l] += dx * dx;
                }
            }
        }
        out->rows += n;
        if (p->progress) p->progress(p->progress_ctx, out->rows, rows);
    }
    if (!s) {
        out->mean_abs_dlogit = out->rows ? sum_abs / ((double)out->rows * (double)labels) : 0;
        out->mean_cosine = out->rows ? sum_cos / (double)out->rows : 0;
        out->agreement = out->rows ? (double)out->agreeing / (double)out->rows : 0;
        if (out->labelled_rows) {
            out->accuracy_reference = (double)out->correct_reference / (double)out->labelled_rows;
            out->accuracy_artifact = (double)out->correct_artifact / (double)out->labelled_rows;
            out->drop_points = 100.0 * ((double)out->correct_reference - (double)out->correct_artifact) /
                               (double)out->labelled_rows;
        }
        if (layers) {
            out->num_layer_outputs = layers;
            out->layer_sqnr_db = malloc(layers * sizeof(double));
            if (!out->layer_sqnr_db)
                s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
            for (size_t l = 0; !s && l < layers; l++)
                out->layer_sqnr_db[l] = noise[l] > 0 ? 10.0 * log10(signal[l] / noise[l]) : INFINITY;
        }
        out->artifact_mode = artifact_mode;
        out->num_labels = labels;
        out->seconds = seconds_now() - t0;
    }
    free(b.ids);
    free(b.mask);
    free(b.types);
    free(ref_logits);
    free(ref_layers);
    free(signal);
    free(noise);
    qf_encoder_destroy(ref);
    qf_encoder_destroy(art);
    if (s) qf_verify_report_free(out);
    return s;
}

/* Accuracies are fractions of the labelled rows, so two drops that print alike can differ in their
 * last bits; a drop equal to the budget must pass. */
static const double GATE_SLACK_POINTS = 1e-9;

bool qf_verify_gate(double drop_points, double max_drop_points)
{
    return drop_points <= max_drop_points + GATE_SLACK_POINTS;
}

void qf_label_name(const char *config_json, int32_t id, char *buf, size_t size)
{
    json_object *config = config_json ? json_tokener_parse(config_json) : NULL, *map = NULL, *name = NULL;
    char key[16];
    snprintf(key, sizeof key, "%d", (int)id);
    if (config && json_object_object_get_ex(config, "id2label", &map) && json_object_object_get_ex(map, key, &name) &&
        json_object_is_type(name, json_type_string))
        snprintf(buf, size, "%s", json_object_get_string(name));
    else
        snprintf(buf, size, "%d", (int)id);
    json_object_put(config);
}
