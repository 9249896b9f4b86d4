/*
 * verify/job_rerank.c — the rerank job of `qforge verify` (a cross-encoder): each row's score by
 * both models (sigmoid or identity of its one logit), their Spearman correlation, the groups of
 * rows that share a query and whether both models put the same row first, and with graded
 * relevance labels MRR@10 and NDCG@10 of each (metrics.c). Row order throughout: the report does
 * not depend on threads or batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify/job_internal.h"

bool qf_verify_spearman_gate(double spearman, double min_spearman)
{
    return spearman >= min_spearman; /* false for a NaN on either side */
}

typedef struct keyed_row {
    const char *key; /* NULL: the row is a group of its own */
    size_t row;
} keyed_row;

static int by_key_then_row(const void *pa, const void *pb)
{
    const keyed_row *a = pa, *b = pb;
    if (a->key && b->key) {
        int c = strcmp(a->key, b->key);
        if (c) return c;
    } else if (a->key != b->key) {
        return a->key ? -1 : 1;
    }
    return a->row < b->row ? -1 : a->row > b->row;
}

static int by_first_row(const void *pa, const void *pb)
{
    const size_t *a = pa, *b = pb; /* [first row, start in sorted order, size] */
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

/* Index of the highest score among rows[0..n) (the earlier row on a tie). */
static size_t top_of(const double *score, const size_t *rows, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (score[rows[i]] > score[rows[best]]) best = i;
    return best;
}

qf_status qf_verify_rerank(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                           const qf_dataset *data, const qf_row_fields *fields, const qf_verify_params *params,
                           qf_arch_score score, qf_rerank_report *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t rows = qf_dataset_size(data);
    if (qf_row_fields_size(fields) != rows)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "fields",
                            "qf_verify_rerank: the row fields are not those of the dataset's rows");
    if (score != QF_ARCH_SCORE_SIGMOID && score != QF_ARCH_SCORE_IDENTITY)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "score",
                            "a reranker's score is sigmoid or identity, not %s", qf_arch_score_name(score));
    double t0 = qf_job_seconds_now();
    float *a = NULL, *b = NULL;
    int64_t k = 0;
    qf_status s = qf_job_logits(reference, artifact, artifact_mode, data, params, "rerank", &a, &b, &k, err);
    if (s) return s;
    if (k != 1) {
        free(a);
        free(b);
        s = qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, NULL, -1, "num_labels",
                         "the rerank job scores a head of one label (a cross-encoder); this one has %lld",
                         (long long)k);
        qf_error_expected(err, "1");
        qf_error_found(err, "%lld", (long long)k);
        return s;
    }
    double *sr = malloc((rows ? rows : 1) * sizeof *sr), *sa = malloc((rows ? rows : 1) * sizeof *sa);
    double *rel = malloc((rows ? rows : 1) * sizeof *rel);
    double *gs = malloc((rows ? rows : 1) * 3 * sizeof *gs); /* one group's scores (2) and labels */
    keyed_row *keyed = malloc((rows ? rows : 1) * sizeof *keyed);
    size_t *groups = malloc((rows ? rows : 1) * 3 * sizeof *groups);
    size_t *members = malloc((rows ? rows : 1) * sizeof *members);
    if (!sr || !sa || !rel || !gs || !keyed || !groups || !members)
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory for the scores");
    double sum_abs = 0;
    out->labelled = rows > 0 && qf_row_fields_count(fields, QF_ROW_FIELD_RELEVANCE) == rows;
    for (size_t i = 0; !s && i < rows; i++) {
        sr[i] = score == QF_ARCH_SCORE_SIGMOID ? 1.0 / (1.0 + exp(-(double)a[i])) : (double)a[i];
        sa[i] = score == QF_ARCH_SCORE_SIGMOID ? 1.0 / (1.0 + exp(-(double)b[i])) : (double)b[i];
        double d = fabs(sr[i] - sa[i]);
        sum_abs += d;
        if (d > out->max_abs_dscore) out->max_abs_dscore = d;
        rel[i] = 0;
        qf_row_fields_relevance(fields, i, &rel[i]);
        keyed[i].key = qf_row_fields_group(fields, i);
        keyed[i].row = i;
    }
    out->score_spearman = NAN;
    if (!s && rows >= 2) s = qf_spearman(sr, sa, rows, &out->score_spearman, err);
    /* groups: rows of one key together, in row order; then the groups in the order of their first row */
    size_t ngroups = 0;
    if (!s) {
        qsort(keyed, rows, sizeof *keyed, by_key_then_row);
        for (size_t i = 0; i < rows; i++) {
            bool same = i > 0 && keyed[i].key && keyed[i - 1].key && strcmp(keyed[i].key, keyed[i - 1].key) == 0;
            if (!same) {
                groups[3 * ngroups] = keyed[i].row;
                groups[3 * ngroups + 1] = i;
                groups[3 * ngroups + 2] = 0;
                ngroups++;
            }
            groups[3 * (ngroups - 1) + 2]++;
        }
        qsort(groups, ngroups, 3 * sizeof *groups, by_first_row);
    }
    for (size_t g = 0; !s && g < ngroups; g++) {
        size_t start = groups[3 * g + 1], n = groups[3 * g + 2];
        for (size_t i = 0; i < n; i++) members[i] = keyed[start + i].row;
        if (n >= 2) {
            out->ranked_groups++;
            out->same_top1 += top_of(sr, members, n) == top_of(sa, members, n);
        }
        if (!out->labelled) continue;
        for (size_t i = 0; i < n; i++) {
            gs[i] = sr[members[i]];
            gs[rows + i] = sa[members[i]];
            gs[2 * rows + i] = rel[members[i]];
        }
        s = qf_ranking_group_add(&out->reference_totals, gs, gs + 2 * rows, n, err);
        if (!s) s = qf_ranking_group_add(&out->artifact_totals, gs + rows, gs + 2 * rows, n, err);
    }
    free(a);
    free(b);
    free(sr);
    free(sa);
    free(rel);
    free(gs);
    free(keyed);
    free(groups);
    free(members);
    if (s) {
        memset(out, 0, sizeof *out);
        return s;
    }
    out->rows = rows;
    out->score = score;
    out->groups = ngroups;
    out->rank_agreement = out->ranked_groups ? (double)out->same_top1 / (double)out->ranked_groups : NAN;
    if (out->labelled) {
        out->mrr_reference = qf_ranking_mrr(&out->reference_totals);
        out->mrr_artifact = qf_ranking_mrr(&out->artifact_totals);
        out->ndcg_reference = qf_ranking_ndcg(&out->reference_totals);
        out->ndcg_artifact = qf_ranking_ndcg(&out->artifact_totals);
        out->drop_points = 100.0 * (out->mrr_reference - out->mrr_artifact);
    }
    out->mean_abs_dscore = rows ? sum_abs / (double)rows : 0;
    out->artifact_mode = artifact_mode;
    out->seconds = qf_job_seconds_now() - t0;
    return QF_STATUS_OK;
}

static json_object *pair_json(double reference, double artifact)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "reference", qf_job_json_number(reference));
    json_object_object_add(o, "artifact", qf_job_json_number(artifact));
    return o;
}

qf_status qf_rerank_report_json(const qf_rerank_report *r, const qf_verify_html_context *ctx, double min_spearman,
                                char **out, size_t *len, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    json_object *o = qf_job_json_start("rerank", c, r->rows, r->artifact_mode);
    json_object_object_add(o, "score", json_object_new_string(qf_arch_score_name(r->score)));
    json_object_object_add(o, "groups", json_object_new_int64((int64_t)r->groups));
    json_object_object_add(o, "ranked_groups", json_object_new_int64((int64_t)r->ranked_groups));
    json_object_object_add(o, "labelled", json_object_new_boolean(r->labelled));
    json_object_object_add(o, "headline", json_object_new_string(r->labelled ? "mrr_at_10" : "score_spearman"));
    json_object_object_add(o, "score_spearman", qf_job_json_number(r->score_spearman));
    json_object_object_add(o, "rank_agreement", qf_job_json_number(r->rank_agreement));
    json_object_object_add(o, "changed_top1_groups", json_object_new_int64((int64_t)(r->ranked_groups - r->same_top1)));
    if (r->labelled) {
        json_object_object_add(o, "mrr_at_10", pair_json(r->mrr_reference, r->mrr_artifact));
        json_object_object_add(o, "ndcg_at_10", pair_json(r->ndcg_reference, r->ndcg_artifact));
        json_object_object_add(o, "groups_without_relevant",
                               json_object_new_int64((int64_t)r->reference_totals.groups_without_relevant));
        json_object_object_add(o, "drop_points", json_object_new_double(r->drop_points));
    }
    json_object *sc = json_object_new_object();
    json_object_object_add(sc, "mean_abs_diff", json_object_new_double(r->mean_abs_dscore));
    json_object_object_add(sc, "max_abs_diff", json_object_new_double(r->max_abs_dscore));
    json_object_object_add(o, "scores", sc);
    json_object_object_add(o, "min_spearman", qf_job_json_number(min_spearman));
    qf_job_json_end(o, c, r->seconds);
    return qf_job_json_text(o, out, len, err);
}
