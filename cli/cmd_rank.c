/*
 * cli/cmd_rank.c — the scoring jobs of `qforge verify`: multi-label (micro F1 at a threshold,
 * exact label-set agreement), rerank (a cross-encoder: score Spearman, top-1 rank agreement, and
 * with relevance labels MRR@10 / NDCG@10) and the sentence-similarity part of the embedding job
 * (Spearman of cosine vs the rows' "score"). Parses their options, loads their rows (text/dataset.c
 * and the row fields of text/dataset_fields.c), calls verify/job_*.c, prints the summary, writes
 * the JSON report and the HTML page and applies the gate. cmd_verify.c chooses the job and calls in here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_rank.h"

enum { QF_EXIT_GATE = 3 };

qf_cli_scoring_job qf_cli_scoring_job_named(const char *name)
{
    if (name && strcmp(name, "multi-label") == 0) return QF_CLI_SCORING_MULTI_LABEL;
    if (name && strcmp(name, "rerank") == 0) return QF_CLI_SCORING_RERANK;
    return QF_CLI_SCORING_NONE;
}

qf_cli_scoring_job qf_cli_scoring_job_of(const qf_arch *a)
{
    if (a->head != QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) return QF_CLI_SCORING_NONE;
    if (a->score == QF_ARCH_SCORE_MULTI_LABEL) return QF_CLI_SCORING_MULTI_LABEL;
    if (a->num_labels == 1 && (a->score == QF_ARCH_SCORE_SIGMOID || a->score == QF_ARCH_SCORE_IDENTITY))
        return QF_CLI_SCORING_RERANK;
    return QF_CLI_SCORING_NONE;
}

static const char *job_name(qf_cli_scoring_job job)
{
    return job == QF_CLI_SCORING_MULTI_LABEL ? "multi-label" : job == QF_CLI_SCORING_RERANK ? "rerank" : "classification or embedding";
}

int qf_cli_scoring_options(qf_cli_command *cmd, qf_cli_scoring_job job, const char *model_path)
{
    static const struct {
        const char *option;
        qf_cli_scoring_job job;
    } own[] = {{"threshold", QF_CLI_SCORING_MULTI_LABEL}, {"min-spearman", QF_CLI_SCORING_RERANK}};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (qf_cli_find(cmd, own[i].option)->seen && job != own[i].job) {
            fprintf(stderr, "qforge verify: --%s applies to the %s job (%s is measured by the %s job; --job %s asks "
                            "for it)\n", own[i].option, job_name(own[i].job), qf_cli_safe(model_path), job_name(job),
                    job_name(own[i].job));
            return QF_EXIT_USAGE;
        }
    return QF_EXIT_OK;
}

/* A number option in [lo, hi]; *out keeps its default when the option is absent. */
static bool number_option(qf_cli_command *cmd, const char *name, double lo, double hi, double *out)
{
    qf_cli_option *o = qf_cli_find(cmd, name);
    if (!o->seen) return true;
    char *end = NULL;
    double x = strtod(o->value, &end);
    if (!end || end == o->value || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "qforge verify: --%s takes a number in [%g, %g], not '%s'\n", name, lo, hi, qf_cli_safe(o->value));
        return false;
    }
    *out = x;
    return true;
}

static int write_json(qf_cli_command *cmd, char *text, size_t len, qf_status s, qf_error *err)
{
    qf_cli_option *json_opt = qf_cli_find(cmd, "json");
    qf_output *out = NULL;
    if (!s && json_opt->seen) {
        s = qf_output_open(json_opt->value, &out, err);
        if (!s && (s = qf_output_write(out, text, len, err)) != QF_STATUS_OK) qf_output_abort(out);
        if (!s) s = qf_output_commit(out, err);
    }
    free(text);
    return s ? qf_cli_fail(err) : QF_EXIT_OK;
}

static qf_verify_html_context report_context(const qf_cli_scoring_run *run, const qf_dataset *data, bool passed)
{
    qf_verify_html_context hc = qf_verify_html_context_default();
    hc.artifact_path = run->artifact_path;
    hc.reference_path = run->reference_path;
    hc.data_path = run->data_path;
    hc.tokenizer_path = run->tokenizer_path;
    hc.data = data;
    hc.artifact = run->artifact;
    hc.config_json = run->data_params.config_json;
    hc.max_length = run->data_params.max_length;
    hc.has_max_drop = run->has_max_drop;
    hc.max_drop = run->max_drop;
    hc.passed = passed;
    hc.prompt = run->data_params.prompt; /* a CrossEncoder's, before the first text of each pair */
    return hc;
}

static void print_inputs(const qf_cli_scoring_run *run, qf_encoder_mode mode)
{
    printf("artifact   %s (%s)\n", qf_cli_safe(run->artifact_path), qf_encoder_mode_name(mode));
    printf("reference  %s (FP32)\n", qf_cli_safe(run->reference_path));
    if (run->data_params.prompt && run->data_params.prompt[0])
        printf("prompt     \"%s\" before the first text of each pair\n", qf_cli_safe(run->data_params.prompt));
}

static int verify_multilabel(qf_cli_command *cmd, const qf_cli_scoring_run *run, const qf_dataset *data,
                             int64_t num_labels, qf_error *err)
{
    double threshold = QF_MULTILABEL_THRESHOLD_DEFAULT;
    if (!number_option(cmd, "threshold", 0, 1, &threshold)) return QF_EXIT_USAGE;
    qf_row_fields_params fp = qf_row_fields_params_default();
    fp.limit = run->data_params.limit;
    fp.config_json = run->data_params.config_json;
    fp.num_labels = num_labels;
    qf_row_fields *fields = NULL;
    if (qf_row_fields_load(run->data_path, &fp, &fields, err)) return qf_cli_fail(err);
    if (run->has_max_drop && qf_row_fields_count(fields, QF_ROW_FIELD_LABELS) == 0) {
        qf_row_fields_destroy(fields);
        fprintf(stderr, "qforge verify: --max-drop gates micro-F1, which needs rows with \"labels\"; %s has none\n",
                qf_cli_safe(run->data_path));
        return QF_EXIT_USAGE;
    }
    qf_multilabel_report r;
    qf_status s = qf_verify_multilabel(run->reference, run->artifact, run->artifact_mode, data, fields,
                                       &run->verify_params, threshold, &r, err);
    qf_row_fields_destroy(fields);
    if (s) return qf_cli_fail(err);
    bool passed = !run->has_max_drop || qf_verify_gate(r.drop_points, run->max_drop);
    qf_verify_html_context hc = report_context(run, data, passed);
    char *text = NULL;
    size_t len = 0;
    s = qf_multilabel_report_json(&r, &hc, &text, &len, err);
    int rc = write_json(cmd, text, len, s, err);
    if (rc) return rc;
    qf_cli_option *html_opt = qf_cli_find(cmd, "html");
    if (html_opt->seen && qf_multilabel_report_write_html(&r, &hc, html_opt->value, err)) return qf_cli_fail(err);
    if (!qf_cli_given(cmd, QF_CLI_QUIET)) {
        const char *mode = qf_encoder_mode_name(r.artifact_mode);
        print_inputs(run, r.artifact_mode);
        printf("data       %s: %zu rows, %zu labelled, max length %d\n", qf_cli_safe(run->data_path), r.rows,
               r.labelled_rows, (int)run->data_params.max_length);
        printf("labels     %lld, predicted when sigmoid(logit) >= %g\n", (long long)r.num_labels, r.threshold);
        if (r.labelled_rows)
            printf("micro-F1   FP32 %.2f%%   %s %.2f%%   drop %.2f pt\n", 100 * r.f1_reference, mode,
                   100 * r.f1_artifact, r.drop_points);
        printf("agreement  %.2f%% exact label set (%zu of %zu rows changed)\n", 100 * r.agreement, r.rows - r.agreeing,
               r.rows);
        printf("logits     mean |diff| %.4g   max |diff| %.4g\n", r.mean_abs_dlogit, r.max_abs_dlogit);
        printf("time       %.2f s\n", r.seconds);
        if (run->has_max_drop)
            printf("result     %s: micro-F1 drop %.2f pt %s --max-drop %g\n", passed ? "PASS" : "FAIL", r.drop_points,
                   passed ? "<=" : ">", run->max_drop);
    }
    return passed ? QF_EXIT_OK : QF_EXIT_GATE;
}

static int verify_rerank(qf_cli_command *cmd, const qf_cli_scoring_run *run, const qf_dataset *data,
                         qf_arch_score score, qf_error *err)
{
    double min_spearman = NAN;
    bool has_min = qf_cli_find(cmd, "min-spearman")->seen;
    if (!number_option(cmd, "min-spearman", -1, 1, &min_spearman)) return QF_EXIT_USAGE;
    qf_row_fields_params fp = qf_row_fields_params_default();
    fp.limit = run->data_params.limit;
    fp.relevance = true;
    qf_row_fields *fields = NULL;
    if (qf_row_fields_load(run->data_path, &fp, &fields, err)) return qf_cli_fail(err);
    bool labelled = qf_row_fields_count(fields, QF_ROW_FIELD_RELEVANCE) > 0;
    if (labelled &&
        qf_row_fields_require(fields, QF_ROW_FIELD_RELEVANCE,
                              "other rows carry a relevance \"label\", and MRR@10 / NDCG@10 need one on every row", err)) {
        qf_row_fields_destroy(fields);
        return qf_cli_fail(err);
    }
    if (run->has_max_drop && !labelled) {
        qf_row_fields_destroy(fields);
        fprintf(stderr, "qforge verify: --max-drop gates MRR@10, which needs a relevance \"label\" on every row "
                        "({\"query\", \"text\", \"label\"}); %s has none: --min-spearman gates the score Spearman\n",
                qf_cli_safe(run->data_path));
        return QF_EXIT_USAGE;
    }
    qf_rerank_report r;
    qf_status s = qf_verify_rerank(run->reference, run->artifact, run->artifact_mode, data, fields,
                                   &run->verify_params, score, &r, err);
    qf_row_fields_destroy(fields);
    if (s) return qf_cli_fail(err);
    bool drop_ok = !run->has_max_drop || qf_verify_gate(r.drop_points, run->max_drop);
    bool spearman_ok = !has_min || qf_verify_spearman_gate(r.score_spearman, min_spearman);
    bool passed = drop_ok && spearman_ok;
    qf_verify_html_context hc = report_context(run, data, passed);
    char *text = NULL;
    size_t len = 0;
    s = qf_rerank_report_json(&r, &hc, min_spearman, &text, &len, err);
    int rc = write_json(cmd, text, len, s, err);
    if (rc) return rc;
    qf_cli_option *html_opt = qf_cli_find(cmd, "html");
    if (html_opt->seen && qf_rerank_report_write_html(&r, &hc, min_spearman, html_opt->value, err))
        return qf_cli_fail(err);
    if (!qf_cli_given(cmd, QF_CLI_QUIET)) {
        const char *mode = qf_encoder_mode_name(r.artifact_mode);
        print_inputs(run, r.artifact_mode);
        printf("data       %s: %zu rows in %zu groups%s, max length %d\n", qf_cli_safe(run->data_path), r.rows,
               r.groups, r.labelled ? ", relevance-labelled" : "", (int)run->data_params.max_length);
        printf("scores     %s of the logit; Spearman FP32 vs %s %.6f   mean |diff| %.4g   max |diff| %.4g\n",
               qf_arch_score_name(r.score), mode, r.score_spearman, r.mean_abs_dscore, r.max_abs_dscore);
        if (r.labelled) {
            printf("MRR@10     FP32 %.4f   %s %.4f   drop %.2f pt\n", r.mrr_reference, mode, r.mrr_artifact,
                   r.drop_points);
            printf("NDCG@10    FP32 %.4f   %s %.4f\n", r.ndcg_reference, mode, r.ndcg_artifact);
        }
        if (r.ranked_groups)
            printf("agreement  %.2f%% rank (same top-1 in %zu of %zu groups of 2+ rows)\n", 100 * r.rank_agreement,
                   r.same_top1, r.ranked_groups);
        else
            printf("agreement  no group of 2+ rows: rank agreement undefined\n");
        printf("time       %.2f s\n", r.seconds);
        if (run->has_max_drop)
            printf("result     %s: MRR@10 drop %.2f pt %s --max-drop %g\n", drop_ok ? "PASS" : "FAIL", r.drop_points,
                   drop_ok ? "<=" : ">", run->max_drop);
        if (has_min)
            printf("result     %s: score Spearman %.6f %s --min-spearman %g\n", spearman_ok ? "PASS" : "FAIL",
                   r.score_spearman, spearman_ok ? ">=" : "<", min_spearman);
    }
    return passed ? QF_EXIT_OK : QF_EXIT_GATE;
}

int qf_cli_verify_scoring(qf_cli_command *cmd, const qf_cli_scoring_run *run)
{
    qf_error err;
    qf_error_clear(&err);
    qf_arch a;
    if (qf_arch_of(run->reference, &a, &err)) return qf_cli_fail(&err);
    qf_dataset_params dp = run->data_params;
    dp.ignore_label = true; /* the job reads its own gold fields */
    qf_dataset *data = NULL;
    if (qf_dataset_load(run->data_path, run->tokenizer, &dp, &data, &err)) return qf_cli_fail(&err);
    int rc = run->job == QF_CLI_SCORING_MULTI_LABEL
                 ? verify_multilabel(cmd, run, data, a.num_labels, &err)
                 : verify_rerank(cmd, run, data, a.score == QF_ARCH_SCORE_IDENTITY ? QF_ARCH_SCORE_IDENTITY
                                                                                   : QF_ARCH_SCORE_SIGMOID, &err);
    qf_dataset_destroy(data);
    return rc;
}

int qf_cli_sts_rows(const char *data_path, long limit, bool *sts)
{
    qf_error err;
    qf_error_clear(&err);
    qf_row_fields_params fp = qf_row_fields_params_default();
    fp.limit = limit;
    fp.score = true;
    qf_row_fields *fields = NULL;
    *sts = false;
    if (qf_row_fields_load(data_path, &fp, &fields, &err)) return qf_cli_fail(&err);
    *sts = qf_row_fields_count(fields, QF_ROW_FIELD_SCORE) > 0;
    qf_status s = QF_STATUS_OK;
    static const char why[] = "a sentence-similarity row is {\"text\", \"text_pair\", \"score\"}, and other rows carry "
                              "\"score\"";
    if (*sts) s = qf_row_fields_require(fields, QF_ROW_FIELD_SCORE, why, &err);
    if (*sts && !s) s = qf_row_fields_require(fields, QF_ROW_FIELD_TEXT_PAIR, why, &err);
    qf_row_fields_destroy(fields);
    return s ? qf_cli_fail(&err) : QF_EXIT_OK;
}

int qf_cli_sts_measure(const qf_cli_scoring_run *run, const qf_dataset *first, qf_pooling pooling, bool normalize,
                       qf_cli_sts *out)
{
    memset(out, 0, sizeof *out);
    qf_error err;
    qf_error_clear(&err);
    qf_dataset_params dp = run->data_params;
    dp.texts = QF_DATASET_TEXTS_SECOND;
    dp.keep_text = false;
    qf_row_fields_params fp = qf_row_fields_params_default();
    fp.limit = run->data_params.limit;
    fp.score = true;
    qf_dataset *second = NULL;
    qf_row_fields *fields = NULL;
    qf_status s = qf_dataset_load(run->data_path, run->tokenizer, &dp, &second, &err);
    if (!s) s = qf_row_fields_load(run->data_path, &fp, &fields, &err);
    if (!s)
        s = qf_verify_sts(run->reference, run->artifact, run->artifact_mode, first, second, fields,
                          &run->verify_params, pooling, normalize, &out->report, &err);
    qf_dataset_destroy(second);
    qf_row_fields_destroy(fields);
    if (s) return qf_cli_fail(&err);
    out->has_max_drop = run->has_max_drop;
    out->max_drop = run->max_drop;
    out->passed = !run->has_max_drop || qf_verify_gate(out->report.drop_points, run->max_drop);
    return QF_EXIT_OK;
}

void qf_cli_sts_print(const qf_cli_sts *s, qf_encoder_mode artifact_mode)
{
    printf("STS        Spearman of cosine(text, text_pair) vs score over %zu pairs: FP32 %.4f   %s %.4f   drop %.2f pt\n",
           s->report.pairs, s->report.spearman_reference, qf_encoder_mode_name(artifact_mode),
           s->report.spearman_artifact, s->report.drop_points);
    if (s->has_max_drop)
        printf("result     %s: STS Spearman drop %.2f pt %s --max-drop %g\n", s->passed ? "PASS" : "FAIL",
               s->report.drop_points, s->passed ? "<=" : ">", s->max_drop);
}
