/*
 * verify/job_ner.c — the token-classification job: the entities of one row as transformers'
 * token-classification pipeline groups them (aggregation_strategy "simple"), used by `qforge run
 * --output tokens`, and the verification of an artifact against FP32 on word-labelled rows
 * (text.h's qf_word_rows): each word labelled by its first token, scored by seqeval's entity F1 and
 * token accuracy (metrics.c), word agreement between the two models, and the JSON report.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/verify.h"
#include "verify/job_internal.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t qf_ner_argmax(const float *logits, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (logits[j] > logits[best]) best = j;
    return best;
}

/* get_tag of the pipeline: "B-X" -> (B, X), "I-X" -> (I, X), any other name -> (I, name). */
static const char *tag_of(const char *name, bool *begins)
{
    *begins = strncmp(name, "B-", 2) == 0;
    return *begins || strncmp(name, "I-", 2) == 0 ? name + 2 : name;
}

/* group_sub_entities's entity_group: what follows the first '-', the whole name without one. */
static const char *group_label(const char *name)
{
    const char *dash = strchr(name, '-');
    return dash ? dash + 1 : name;
}

qf_status qf_ner_entities(const float *logits, size_t tokens, size_t num_labels, const char *const *id2label,
                          const uint8_t *special, const int32_t *offsets, qf_ner_entity *out, size_t capacity,
                          size_t *count, qf_error *err)
{
    *count = 0;
    if (num_labels == 0 || (tokens && (!logits || !id2label)) || (capacity && !out))
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                            "qf_ner_entities: no labels, or NULL logits, names or output");
    for (size_t j = 0; j < num_labels; j++)
        if (!id2label[j])
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "id2label",
                                "qf_ner_entities: label %zu has no name", j);
    size_t found = 0;
    /* the open group: its first and previous token, the sum of its scores */
    bool open = false;
    size_t first = 0, prev = 0, members = 0;
    double score_sum = 0;
    const char *open_name = NULL; /* the first token's label name */
    const char *prev_name = NULL;
    for (size_t t = 0; t <= tokens; t++) {
        bool at_end = t == tokens;
        if (!at_end && special && special[t]) continue;
        size_t best = 0;
        double score = 0;
        const char *name = NULL;
        if (!at_end) {
            const float *v = logits + t * num_labels;
            best = qf_ner_argmax(v, num_labels);
            double max = v[best], sum = 0;
            for (size_t j = 0; j < num_labels; j++) sum += exp((double)v[j] - max);
            score = 1.0 / sum;
            name = id2label[best];
        }
        bool joins = false;
        if (open && !at_end) {
            bool begins, prev_begins;
            const char *tag = tag_of(name, &begins), *prev_tag = tag_of(prev_name, &prev_begins);
            joins = strcmp(tag, prev_tag) == 0 && !begins;
        }
        if (open && !joins) {
            const char *label = group_label(open_name);
            if (strcmp(label, "O") != 0) {
                if (found < capacity) {
                    qf_ner_entity *e = &out[found];
                    snprintf(e->label, sizeof e->label, "%s", label);
                    e->score = score_sum / (double)members;
                    e->first_token = (int32_t)first;
                    e->last_token = (int32_t)prev;
                    e->start = offsets ? offsets[2 * first] : -1;
                    e->end = offsets ? offsets[2 * prev + 1] : -1;
                }
                found++;
            }
            open = false;
        }
        if (at_end) break;
        if (!open) {
            open = true;
            first = t;
            members = 0;
            score_sum = 0;
            open_name = name;
        }
        members++;
        score_sum += score;
        prev = t;
        prev_name = name;
    }
    *count = found;
    if (found > capacity)
        return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, NULL,
                            "qf_ner_entities: %zu entities found, room for %zu", found, capacity);
    return QF_STATUS_OK;
}

/* config.json's id2label names of labels 0..n-1 (qf_label_name: the number when it has none). */
static char **label_names(const char *config_json, int64_t n)
{
    char **names = calloc((size_t)n, sizeof *names);
    for (int64_t j = 0; names && j < n; j++) {
        char buf[256];
        qf_label_name(config_json, (int32_t)j, buf, sizeof buf);
        if (!(names[j] = strdup(buf))) {
            for (int64_t k = 0; k < j; k++) free(names[k]);
            free(names);
            return NULL;
        }
    }
    return names;
}

static void names_free(char **names, int64_t n)
{
    for (int64_t j = 0; names && j < n; j++) free(names[j]);
    free(names);
}

/* Every labelled row's tags: names of id2label, and IOB2; and, when a row has labels, the model's
 * own names must be tags seqeval reads (O, B-, I-, E-, S-: not config.json's default LABEL_0). */
static qf_status check_rows(const qf_word_rows *rows, char *const *names, int64_t n, qf_error *err)
{
    for (int64_t j = 0; qf_word_rows_labelled(rows) && j < n; j++)
        if (!names[j][0] || !strchr("OBIES", names[j][0]))
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "id2label",
                                "the model's label %lld is named \"%.64s\", not a tag seqeval scores (O, B-X, I-X): "
                                "entity F1 needs config.json's id2label in IOB2", (long long)j, names[j]);
    for (size_t i = 0; i < qf_word_rows_size(rows); i++) {
        const qf_word_row *r = qf_word_rows_at(rows, i);
        if (!r->labels) continue;
        char part[48];
        snprintf(part, sizeof part, "line %zu", r->line);
        for (size_t w = 0; w < r->num_words; w++) {
            bool known = false;
            for (int64_t j = 0; j < n && !known; j++) known = strcmp(r->labels[w], names[j]) == 0;
            if (known) continue;
            char list[512];
            size_t at = 0;
            for (int64_t j = 0; j < n && at + 1 < sizeof list; j++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "", names[j]);
            return qf_error_set(err, QF_STATUS_FORMAT, qf_word_rows_path(rows), part, (int64_t)r->offset, "labels",
                                "\"labels\"[%zu] \"%.64s\" is not a label of the model (config.json's id2label: %s)",
                                w, r->labels[w], list);
        }
        size_t bad = 0;
        if (qf_ner_check_iob2(r->labels, r->num_words, false, &bad, NULL)) {
            const char *tag = r->labels[bad];
            bool is_i = strncmp(tag, "I-", 2) == 0;
            return qf_error_set(err, QF_STATUS_FORMAT, qf_word_rows_path(rows), part, (int64_t)r->offset, "labels",
                                is_i ? "\"labels\"[%zu] \"%.64s\" is not IOB2: an I- tag continues a B- or I- tag "
                                       "of its type"
                                     : "\"labels\"[%zu] \"%.64s\" is not IOB2: a tag is O, B-TYPE or I-TYPE",
                                bad, tag);
        }
    }
    return QF_STATUS_OK;
}

/* The word labels of one row from its token logits [length][n]: each word's first token's argmax. */
static void word_labels(const qf_word_row *r, const float *logits, int64_t n, char *const *names,
                        const char **out)
{
    for (size_t w = 0; w < r->num_words; w++) {
        int32_t t = r->word_first_token[w];
        out[w] = t < 0 ? "O" : names[qf_ner_argmax(logits + (size_t)t * (size_t)n, (size_t)n)];
    }
}

qf_status qf_verify_ner(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_word_rows *rows, const char *config_json, const qf_verify_params *params,
                        qf_ner_report *out, qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *p = params ? params : &defaults;
    memset(out, 0, sizeof *out);
    out->artifact_mode = artifact_mode;
    double t0 = seconds_now();
    const size_t count = qf_word_rows_size(rows);
    int64_t batch = p->batch > 0 ? p->batch : 32;
    if (count > 0 && (size_t)batch > count) batch = (int64_t)count;
    int32_t longest = 1;
    size_t most_words = 1;
    for (size_t i = 0; i < count; i++) {
        const qf_word_row *r = qf_word_rows_at(rows, i);
        if (r->length > longest) longest = r->length;
        if (r->num_words > most_words) most_words = r->num_words;
    }
    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = p->threads;
    ep.reference_kernels = p->reference_kernels;
    ep.max_batch = batch;
    ep.max_length = longest;
    qf_encoder *ref = NULL, *art = NULL;
    qf_status s = qf_encoder_create(reference, &ep, &ref, err);
    ep.mode = artifact_mode;
    if (!s) s = qf_encoder_create(artifact, &ep, &art, err);
    const qf_arch *ra = ref ? qf_encoder_arch(ref) : NULL, *aa = art ? qf_encoder_arch(art) : NULL;
    if (!s && (ra->head != QF_ARCH_HEAD_TOKEN_CLASSIFICATION || aa->head != QF_ARCH_HEAD_TOKEN_CLASSIFICATION))
        s = qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "head",
                         "token-classification verification needs a token-classification head: the %s's is %s",
                         ra->head != QF_ARCH_HEAD_TOKEN_CLASSIFICATION ? "reference" : "artifact",
                         qf_arch_head_name(ra->head != QF_ARCH_HEAD_TOKEN_CLASSIFICATION ? ra->head : aa->head));
    if (!s && ra->num_labels != aa->num_labels) {
        s = qf_error_set(err, QF_STATUS_SHAPE, NULL, NULL, -1, "num_labels",
                         "the reference and the artifact have different numbers of labels");
        qf_error_expected(err, "%lld", (long long)ra->num_labels);
        qf_error_found(err, "%lld", (long long)aa->num_labels);
    }
    const int64_t n = s ? 0 : ra->num_labels;
    out->num_labels = n;
    char **names = s ? NULL : label_names(config_json, n);
    if (!s && !names) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (!s) s = check_rows(rows, names, n, err);
    size_t cells = (size_t)batch * (size_t)longest;
    int32_t *ids = NULL, *mask = NULL, *types = NULL;
    const char **ref_words = NULL, **art_words = NULL;
    if (!s) {
        ids = malloc(cells * sizeof *ids);
        mask = malloc(cells * sizeof *mask);
        types = malloc(cells * sizeof *types);
        ref_words = malloc(most_words * sizeof *ref_words);
        art_words = malloc(most_words * sizeof *art_words);
        if (!ids || !mask || !types || !ref_words || !art_words)
            s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    double dlogit_sum = 0;
    uint64_t dlogit_count = 0;
    for (size_t first = 0; !s && first < count; first += (size_t)batch) {
        size_t b = count - first < (size_t)batch ? count - first : (size_t)batch;
        int32_t length = 0;
        for (size_t i = 0; i < b; i++)
            if (qf_word_rows_at(rows, first + i)->length > length) length = qf_word_rows_at(rows, first + i)->length;
        for (size_t i = 0; i < b; i++) {
            const qf_word_row *r = qf_word_rows_at(rows, first + i);
            for (int32_t t = 0; t < length; t++) {
                size_t at = i * (size_t)length + (size_t)t;
                bool real = t < r->length;
                ids[at] = real ? r->input_ids[t] : 0;
                types[at] = real ? r->token_type_ids[t] : 0;
                mask[at] = real;
            }
        }
        qf_encoder_batch in = {(int64_t)b, length, ids, mask, types};
        qf_encoder_output ro, ao;
        if ((s = qf_encoder_run(ref, &in, &ro, err)) != QF_STATUS_OK) break;
        if ((s = qf_encoder_run(art, &in, &ao, err)) != QF_STATUS_OK) break;
        for (size_t i = 0; i < b && !s; i++) {
            const qf_word_row *r = qf_word_rows_at(rows, first + i);
            const float *rl = ro.token_logits + i * (size_t)length * (size_t)n;
            const float *al = ao.token_logits + i * (size_t)length * (size_t)n;
            for (size_t k = 0; k < (size_t)r->length * (size_t)n; k++) {
                double d = fabs((double)rl[k] - (double)al[k]);
                dlogit_sum += d;
                dlogit_count++;
                if (d > out->max_abs_dlogit || isnan(d)) out->max_abs_dlogit = d;
            }
            word_labels(r, rl, n, names, ref_words);
            word_labels(r, al, n, names, art_words);
            out->words += r->num_words;
            for (size_t w = 0; w < r->num_words; w++) {
                if (r->word_first_token[w] < 0) {
                    out->words_cut++;
                    continue;
                }
                out->words_compared++;
                out->words_agreeing += strcmp(ref_words[w], art_words[w]) == 0;
            }
            if (!r->labels) continue;
            out->labelled_rows++;
            s = qf_ner_counts_add(&out->reference_counts, r->labels, ref_words, r->num_words, err);
            if (!s) s = qf_ner_counts_add(&out->artifact_counts, r->labels, art_words, r->num_words, err);
            if (s && err) { /* placed at the row */
                qf_error_set_file(err, qf_word_rows_path(rows));
                snprintf(err->part, sizeof err->part, "line %zu", r->line);
            }
        }
        if (p->progress) p->progress(p->progress_ctx, first + b, count);
    }
    if (!s) {
        out->rows = count;
        out->reference = qf_ner_scores_of(&out->reference_counts);
        out->artifact = qf_ner_scores_of(&out->artifact_counts);
        out->drop_points = out->labelled_rows ? 100.0 * (out->reference.f1 - out->artifact.f1) : 0.0;
        out->agreement = out->words_compared ? (double)out->words_agreeing / (double)out->words_compared : 1.0;
        out->mean_abs_dlogit = dlogit_count ? dlogit_sum / (double)dlogit_count : 0.0;
    }
    out->seconds = seconds_now() - t0;
    free(ids);
    free(mask);
    free(types);
    free(ref_words);
    free(art_words);
    names_free(names, n);
    qf_encoder_destroy(ref);
    qf_encoder_destroy(art);
    if (s) {
        qf_ner_report saved = *out;
        memset(out, 0, sizeof *out);
        out->artifact_mode = saved.artifact_mode;
    }
    return s;
}

static json_object *pair_or_null(bool present, double reference, double artifact)
{
    if (!present) return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "reference", json_object_new_double(reference));
    json_object_object_add(o, "artifact", json_object_new_double(artifact));
    return o;
}

static json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

qf_status qf_ner_report_json(const qf_ner_report *r, const qf_verify_html_context *ctx, const char *data_sha256,
                             char **out, size_t *len, qf_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    json_object *o = json_object_new_object();
    if (!o) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "verify report", "out of memory");
    json_object_object_add(o, "job", json_object_new_string("token-classification"));
    json_object_object_add(o, "artifact", string_or_null(c->artifact_path));
    json_object_object_add(o, "reference", string_or_null(c->reference_path));
    json_object_object_add(o, "data", string_or_null(c->data_path));
    json_object_object_add(o, "data_sha256", string_or_null(data_sha256));
    json_object_object_add(o, "rows", json_object_new_int64((int64_t)r->rows));
    json_object_object_add(o, "max_length", json_object_new_int(c->max_length));
    json_object_object_add(o, "artifact_mode", json_object_new_string(qf_encoder_mode_name(r->artifact_mode)));
    json_object_object_add(o, "recipe", qf_job_recipe_json(c->artifact));
    json_object_object_add(o, "labelled_rows", json_object_new_int64((int64_t)r->labelled_rows));
    json_object_object_add(o, "words", json_object_new_int64((int64_t)r->words));
    json_object_object_add(o, "words_cut", json_object_new_int64((int64_t)r->words_cut));
    json_object_object_add(o, "headline", json_object_new_string("entity_f1"));
    bool labelled = r->labelled_rows > 0;
    json_object *m = json_object_new_object();
    json_object_object_add(m, "entity_precision", pair_or_null(labelled, r->reference.precision, r->artifact.precision));
    json_object_object_add(m, "entity_recall", pair_or_null(labelled, r->reference.recall, r->artifact.recall));
    json_object_object_add(m, "entity_f1", pair_or_null(labelled, r->reference.f1, r->artifact.f1));
    json_object_object_add(m, "token_accuracy", pair_or_null(labelled, r->reference.accuracy, r->artifact.accuracy));
    json_object_object_add(o, "metrics", m);
    json_object *ent = json_object_new_object();
    json_object_object_add(ent, "gold", json_object_new_int64((int64_t)r->reference_counts.gold));
    json_object_object_add(ent, "reference_predicted", json_object_new_int64((int64_t)r->reference_counts.predicted));
    json_object_object_add(ent, "reference_correct", json_object_new_int64((int64_t)r->reference_counts.true_positive));
    json_object_object_add(ent, "artifact_predicted", json_object_new_int64((int64_t)r->artifact_counts.predicted));
    json_object_object_add(ent, "artifact_correct", json_object_new_int64((int64_t)r->artifact_counts.true_positive));
    json_object_object_add(o, "entities", ent);
    json_object_object_add(o, "drop_points", labelled ? json_object_new_double(r->drop_points) : NULL);
    json_object_object_add(o, "agreement", json_object_new_double(r->agreement));
    json_object_object_add(o, "words_agreeing", json_object_new_int64((int64_t)r->words_agreeing));
    json_object_object_add(o, "words_compared", json_object_new_int64((int64_t)r->words_compared));
    json_object *lg = json_object_new_object();
    json_object_object_add(lg, "mean_abs_diff", json_object_new_double(r->mean_abs_dlogit));
    json_object_object_add(lg, "max_abs_diff", json_object_new_double(r->max_abs_dlogit));
    json_object_object_add(o, "logits", lg);
    json_object_object_add(o, "max_drop", c->has_max_drop ? json_object_new_double(c->max_drop) : NULL);
    json_object_object_add(o, "passed", json_object_new_boolean(c->passed));
    json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
    json_object_object_add(o, "qforge_version", json_object_new_string(QF_VERSION_STRING));
    if (c->tokenizer_path && c->tokenizer_path[0])
        json_object_object_add(o, "tokenizer", json_object_new_string(c->tokenizer_path));
    return qf_job_json_text(o, out, len, err);
}
