/*
 * verify/job_common.c — the parts the scoring jobs of verify share (job_internal.h): both models
 * run over the same rows with every row's logits or pooled embedding kept, and the members that
 * start and end each job's JSON report (the conventions of report_json.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "verify/job_internal.h"

double qf_job_seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int32_t longest_row(const qf_dataset *data)
{
    int32_t longest = 1;
    for (size_t i = 0; i < qf_dataset_size(data); i++)
        if (qf_dataset_row_at(data, i)->length > longest) longest = qf_dataset_row_at(data, i)->length;
    return longest;
}

typedef struct job_run {
    qf_encoder *enc;
    int32_t *ids, *mask, *types;
    int64_t batch;
} job_run;

static void job_run_free(job_run *r)
{
    qf_encoder_destroy(r->enc);
    free(r->ids);
    free(r->mask);
    free(r->types);
    memset(r, 0, sizeof *r);
}

static qf_status job_run_open(qf_model *m, qf_encoder_mode mode, const qf_dataset *data, const qf_verify_params *p,
                              job_run *r, qf_error *err)
{
    memset(r, 0, sizeof *r);
    size_t rows = qf_dataset_size(data);
    r->batch = p->batch > 0 ? p->batch : 32;
    if (rows > 0 && (size_t)r->batch > rows) r->batch = (int64_t)rows;
    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = p->threads;
    ep.reference_kernels = p->reference_kernels;
    ep.max_batch = r->batch;
    ep.max_length = longest_row(data);
    ep.mode = mode;
    ep.no_sentence_dense = p->no_sentence_dense;
    qf_status s = qf_encoder_create(m, &ep, &r->enc, err);
    if (s) return s;
    size_t cells = (size_t)r->batch * (size_t)ep.max_length;
    r->ids = malloc(cells * sizeof(int32_t));
    r->mask = malloc(cells * sizeof(int32_t));
    r->types = malloc(cells * sizeof(int32_t));
    if (!r->ids || !r->mask || !r->types) {
        job_run_free(r);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the verification buffers");
    }
    return QF_STATUS_OK;
}

static qf_status require_sequence_head(const qf_arch *ra, const qf_arch *aa, const char *job, qf_error *err)
{
    if (ra->head != QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) {
        qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, "head",
                     "the %s job scores a sequence head's logits, but the model's head is %s%s%s%s", job,
                     qf_arch_head_name(ra->head), ra->architecture[0] ? " (" : "", ra->architecture,
                     ra->architecture[0] ? ")" : "");
        qf_error_expected(err, "%s", qf_arch_head_name(QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION));
        qf_error_found(err, "%s", qf_arch_head_name(ra->head));
        return QF_STATUS_UNSUPPORTED;
    }
    if (ra->num_labels == 0 || ra->num_labels != aa->num_labels || aa->head != ra->head ||
        ra->hidden_size != aa->hidden_size || ra->num_layers != aa->num_layers) {
        qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, "head.out.weight",
                     "the reference and the artifact are not the same architecture with a classification head");
        qf_error_expected(err, "%lld labels, %lld layers", (long long)ra->num_labels, (long long)ra->num_layers);
        qf_error_found(err, "%lld labels, %lld layers", (long long)aa->num_labels, (long long)aa->num_layers);
        return QF_STATUS_SHAPE;
    }
    return QF_STATUS_OK;
}

qf_status qf_job_logits(qf_model *reference, qf_model *artifact, qf_encoder_mode mode, const qf_dataset *data,
                        const qf_verify_params *params, const char *job, float **ref_logits, float **art_logits,
                        int64_t *num_labels, qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *p = params ? params : &defaults;
    *ref_logits = *art_logits = NULL;
    job_run ref, art;
    qf_status s = job_run_open(reference, QF_ENCODER_MODE_FP32, data, p, &ref, err);
    if (s) return s;
    if ((s = job_run_open(artifact, mode, data, p, &art, err))) {
        job_run_free(&ref);
        return s;
    }
    s = require_sequence_head(qf_encoder_arch(ref.enc), qf_encoder_arch(art.enc), job, err);
    const size_t rows = qf_dataset_size(data);
    const int64_t k = qf_encoder_arch(ref.enc)->num_labels;
    float *a = NULL, *b = NULL;
    if (!s) {
        a = malloc((rows ? rows : 1) * (size_t)k * sizeof(float));
        b = malloc((rows ? rows : 1) * (size_t)k * sizeof(float));
        if (!a || !b) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the logits");
    }
    for (size_t first = 0; !s && first < rows; first += (size_t)ref.batch) {
        size_t n = rows - first < (size_t)ref.batch ? rows - first : (size_t)ref.batch;
        int64_t length = qf_dataset_pack(data, first, n, ref.ids, ref.mask, ref.types);
        qf_encoder_batch in = {(int64_t)n, length, ref.ids, ref.mask, ref.types};
        qf_encoder_output o;
        if ((s = qf_encoder_run(ref.enc, &in, &o, err))) break;
        memcpy(a + first * (size_t)k, o.logits, n * (size_t)k * sizeof(float));
        if ((s = qf_encoder_run(art.enc, &in, &o, err))) break;
        memcpy(b + first * (size_t)k, o.logits, n * (size_t)k * sizeof(float));
        if (p->progress) p->progress(p->progress_ctx, first + n, rows);
    }
    job_run_free(&ref);
    job_run_free(&art);
    if (s) {
        free(a);
        free(b);
        return s;
    }
    *ref_logits = a;
    *art_logits = b;
    *num_labels = k;
    return QF_STATUS_OK;
}

qf_status qf_job_embeddings(qf_model *m, qf_encoder_mode mode, const qf_dataset *data, const qf_verify_params *params,
                            qf_pooling pooling, bool normalize, float **out, int64_t *dim, qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *p = params ? params : &defaults;
    *out = NULL;
    job_run r;
    qf_status s = job_run_open(m, mode, data, p, &r, err);
    if (s) return s;
    const size_t rows = qf_dataset_size(data);
    const int64_t d = qf_encoder_embedding_size(r.enc);
    float *e = malloc((rows ? rows : 1) * (size_t)d * sizeof(float));
    if (!e) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the embeddings");
    for (size_t first = 0; !s && first < rows; first += (size_t)r.batch) {
        size_t n = rows - first < (size_t)r.batch ? rows - first : (size_t)r.batch;
        int64_t length = qf_dataset_pack(data, first, n, r.ids, r.mask, r.types);
        qf_encoder_batch in = {(int64_t)n, length, r.ids, r.mask, r.types};
        qf_encoder_output o;
        if ((s = qf_encoder_run(r.enc, &in, &o, err))) break;
        for (size_t i = 0; i < n; i++)
            qf_embedding_pool(&in, &o, (int64_t)i, qf_dataset_pool_skip(data), pooling, normalize, e + (first + i) * (size_t)d);
    }
    job_run_free(&r);
    if (s) {
        free(e);
        return s;
    }
    *out = e;
    *dim = d;
    return QF_STATUS_OK;
}

static json_object *string_or_null(const char *s) { return s ? json_object_new_string(s) : NULL; }

json_object *qf_job_recipe_json(const qf_model *artifact)
{
    json_object *recipe = json_object_new_object();
    for (size_t i = 0; artifact && i < qf_model_meta_count(artifact); i++) {
        const char *k, *v;
        qf_model_meta_at(artifact, i, &k, &v);
        if (strncmp(k, "quant.", 6) == 0 || strncmp(k, "source.", 7) == 0 || strncmp(k, "convert.", 8) == 0)
            json_object_object_add(recipe, k, json_object_new_string(v));
    }
    return recipe;
}

json_object *qf_job_json_start(const char *job, const qf_verify_html_context *c, size_t rows, qf_encoder_mode mode)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "job", json_object_new_string(job));
    json_object_object_add(o, "artifact", string_or_null(c->artifact_path));
    json_object_object_add(o, "reference", string_or_null(c->reference_path));
    json_object_object_add(o, "data", string_or_null(c->data_path));
    json_object_object_add(o, "data_sha256", string_or_null(c->data ? qf_dataset_sha256(c->data) : NULL));
    json_object_object_add(o, "rows", json_object_new_int64((int64_t)rows));
    json_object_object_add(o, "max_length", json_object_new_int(c->max_length));
    json_object_object_add(o, "artifact_mode", json_object_new_string(qf_encoder_mode_name(mode)));
    json_object_object_add(o, "recipe", qf_job_recipe_json(c->artifact));
    qf_job_json_prompt(o, c);
    return o;
}

void qf_job_json_prompt(json_object *o, const qf_verify_html_context *c)
{
    if (!c->prompt || !c->prompt[0]) return;
    json_object *pr = json_object_new_object();
    json_object_object_add(pr, "text", json_object_new_string(c->prompt));
    json_object_object_add(pr, "tokens_excluded_from_pooling", json_object_new_int(c->prompt_tokens_excluded));
    json_object_object_add(o, "prompt", pr);
}

void qf_job_json_end(json_object *o, const qf_verify_html_context *c, double seconds)
{
    json_object_object_add(o, "max_drop", c->has_max_drop ? json_object_new_double(c->max_drop) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    json_object_object_add(o, "seconds", json_object_new_double(seconds));
    json_object_object_add(o, "qforge_version", json_object_new_string(QF_VERSION_STRING));
    if (c->tokenizer_path && c->tokenizer_path[0])
        json_object_object_add(o, "tokenizer", json_object_new_string(c->tokenizer_path));
}

json_object *qf_job_json_number(double x) { return isfinite(x) ? json_object_new_double(x) : NULL; }

qf_status qf_job_json_text(json_object *o, char **out, size_t *len, qf_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE)
                         : NULL;
    size_t n = text ? strlen(text) : 0;
    char *buf = text ? malloc(n + 2) : NULL;
    if (!buf) {
        json_object_put(o);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "verify report", "out of memory");
    }
    memcpy(buf, text, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    json_object_put(o);
    *out = buf;
    if (len) *len = n + 1;
    return QF_STATUS_OK;
}
