/*
 * cli/cmd_fallback.c — `qforge quantize --mode static --max-drop P --eval ROWS`: the accuracy
 * fallback measured with the job's own headline metric. Chooses the job as `qforge verify` does
 * (cli/jobs.c), loads the rows in that job's form (text/dataset.c, word_rows.c, qa_rows.c,
 * dataset_fields.c), builds the job's measure (verify/fallback*.c), runs qf_static_fallback_measured
 * and prints the progress lines and the summary naming the metric.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_fallback.h"
#include "cli/cmd_rank.h"
#include "cli/jobs.h"
#include "qforge/verify.h"

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "fallback: %s\n", qf_cli_safe(line));
}

/* The rows each job reads, and the parameters of its measure. */
typedef struct fallback_rows {
    qf_tokenizer *tokenizer;
    qf_dataset *data, *sensitivity_data, *second, *sensitivity_second;
    qf_row_fields *fields, *sensitivity_fields;
    qf_word_rows *words, *sensitivity_words;
    qf_qa_rows *qa, *sensitivity_qa;
    qf_fallback_classification classification;
    qf_fallback_ner ner;
    qf_fallback_qa qa_job;
    qf_fallback_scoring scoring;
} fallback_rows;

static void rows_free(fallback_rows *r)
{
    qf_dataset_destroy(r->data);
    qf_dataset_destroy(r->sensitivity_data);
    qf_dataset_destroy(r->second);
    qf_dataset_destroy(r->sensitivity_second);
    qf_row_fields_destroy(r->fields);
    qf_row_fields_destroy(r->sensitivity_fields);
    qf_word_rows_destroy(r->words);
    qf_word_rows_destroy(r->sensitivity_words);
    qf_qa_rows_destroy(r->qa);
    qf_qa_rows_destroy(r->sensitivity_qa);
    qf_tokenizer_destroy(r->tokenizer);
}

static int refuse(const char *what, const char *path)
{
    fprintf(stderr, "qforge quantize: --max-drop %s; %s has none\n", what, qf_cli_safe(path));
    return QF_EXIT_USAGE;
}

/* Both sets of row fields (all rows, the first sensitivity_rows). */
static qf_status load_fields(const char *path, qf_row_fields_params fp, long sensitivity_rows, fallback_rows *r,
                             qf_error *err)
{
    qf_status s = qf_row_fields_load(path, &fp, &r->fields, err);
    fp.limit = sensitivity_rows;
    if (!s) s = qf_row_fields_load(path, &fp, &r->sensitivity_fields, err);
    return s;
}

/* Both datasets (all rows, the first sensitivity_rows) into *all and *some. */
static qf_status load_data(const char *path, const qf_tokenizer *t, qf_dataset_params dp, long sensitivity_rows,
                           qf_dataset **all, qf_dataset **some, qf_error *err)
{
    qf_status s = qf_dataset_load(path, t, &dp, all, err);
    dp.limit = sensitivity_rows;
    if (!s) s = qf_dataset_load(path, t, &dp, some, err);
    return s;
}

/* Loads the rows of `job` and fills *m; QF_EXIT_OK or the failure printed. */
static int prepare(qf_cli_command *cmd, const qf_cli_fallback_inputs *in, qf_cli_job job, const qf_arch *a,
                   fallback_rows *r, qf_fallback_measure *m)
{
    qf_error err;
    qf_error_clear(&err);
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = in->params->threads;
    const char *beside[] = {in->model_path};
    if (qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 1, &r->tokenizer, NULL, 0, &err))
        return qf_cli_fail(&err);
    const char *config = qf_model_config_json(in->source);
    int64_t cap = qf_arch_max_tokens(a);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = (int32_t)(cap > 0 && cap < 65536 ? cap : 512);
    dp.config_json = config;
    const char *path = in->eval_path;
    qf_status s = QF_STATUS_OK;
    /* a sentence-transformers CrossEncoder scores its pairs behind its default prompt, truncated to
     * its Transformer's limit, as CrossEncoder.predict */
    if (qf_cli_cross_encoder(in->source) && job != QF_CLI_JOB_EMBEDDING) {
        int rc = qf_cli_cross_encoder_refused(in->source, in->model_path);
        if (!rc) rc = qf_cli_embedding_prompt(in->source, in->model_path, NULL, NULL, false, &dp);
        if (rc) return rc;
        qf_cli_embedding_max_length(in->source, false, &dp);
    }
    switch (job) {
    case QF_CLI_JOB_CLASSIFICATION:
        s = load_data(path, r->tokenizer, dp, in->sensitivity_rows, &r->data, &r->sensitivity_data, &err);
        r->classification = (qf_fallback_classification){r->data, r->sensitivity_data, vp};
        *m = qf_fallback_measure_classification(&r->classification);
        break;
    case QF_CLI_JOB_TOKEN_CLASSIFICATION:
        s = qf_word_rows_load(path, r->tokenizer, &dp, &r->words, &err);
        dp.limit = in->sensitivity_rows;
        if (!s) s = qf_word_rows_load(path, r->tokenizer, &dp, &r->sensitivity_words, &err);
        if (!s && qf_word_rows_labelled(r->words) == 0)
            return refuse("measures the entity F1 drop, which needs rows with word \"labels\"", path);
        r->ner = (qf_fallback_ner){r->words, r->sensitivity_words, config, vp};
        *m = qf_fallback_measure_ner(&r->ner);
        break;
    case QF_CLI_JOB_QA: {
        qf_qa_params qp = qf_qa_params_default();
        s = qf_qa_params_resolve(&qp, dp.max_length, &qp, &err);
        if (!s) s = qf_qa_rows_load(path, 0, &r->qa, &err);
        if (!s) s = qf_qa_rows_load(path, in->sensitivity_rows, &r->sensitivity_qa, &err);
        if (!s && qf_qa_rows_answered(r->qa) == 0)
            return refuse("measures the F1 drop, which needs rows with \"answers\"", path);
        r->qa_job = (qf_fallback_qa){r->tokenizer, r->qa, r->sensitivity_qa, qp, vp};
        *m = qf_fallback_measure_qa(&r->qa_job);
        break;
    }
    case QF_CLI_JOB_MULTI_LABEL: {
        dp.ignore_label = true;
        qf_row_fields_params fp = qf_row_fields_params_default();
        fp.config_json = config;
        fp.num_labels = a->num_labels;
        s = load_data(path, r->tokenizer, dp, in->sensitivity_rows, &r->data, &r->sensitivity_data, &err);
        if (!s) s = load_fields(path, fp, in->sensitivity_rows, r, &err);
        if (!s && qf_row_fields_count(r->fields, QF_ROW_FIELD_LABELS) == 0)
            return refuse("measures the micro-F1 drop, which needs rows with \"labels\"", path);
        r->scoring = (qf_fallback_scoring){r->data,   r->sensitivity_data, NULL, NULL, r->fields, r->sensitivity_fields,
                                           QF_MULTILABEL_THRESHOLD_DEFAULT, a->score, QF_POOLING_MEAN, false, vp};
        *m = qf_fallback_measure_multilabel(&r->scoring);
        break;
    }
    case QF_CLI_JOB_RERANK: {
        dp.ignore_label = true;
        qf_row_fields_params fp = qf_row_fields_params_default();
        fp.relevance = true;
        s = load_data(path, r->tokenizer, dp, in->sensitivity_rows, &r->data, &r->sensitivity_data, &err);
        if (!s) s = load_fields(path, fp, in->sensitivity_rows, r, &err);
        if (!s && qf_row_fields_count(r->fields, QF_ROW_FIELD_RELEVANCE) == 0)
            return refuse("measures the MRR@10 drop, which needs a relevance \"label\" on every row ({\"query\", "
                          "\"text\", \"label\"}; the score Spearman of unlabelled rows is no drop)",
                          path);
        if (!s)
            s = qf_row_fields_require(r->fields, QF_ROW_FIELD_RELEVANCE,
                                      "other rows carry a relevance \"label\", and MRR@10 needs one on every row", &err);
        qf_arch_score score = a->score == QF_ARCH_SCORE_IDENTITY ? QF_ARCH_SCORE_IDENTITY : QF_ARCH_SCORE_SIGMOID;
        r->scoring = (qf_fallback_scoring){r->data,   r->sensitivity_data, NULL, NULL, r->fields, r->sensitivity_fields,
                                           QF_MULTILABEL_THRESHOLD_DEFAULT, score, QF_POOLING_MEAN, false, vp};
        *m = qf_fallback_measure_rerank(&r->scoring);
        break;
    }
    case QF_CLI_JOB_EMBEDDING: {
        bool sts = false;
        int rc = qf_cli_sts_rows(path, 0, &sts);
        if (rc) return rc;
        if (!sts) {
            fprintf(stderr, "qforge quantize: %s is measured by the embedding job, and plain embedding rows have no "
                            "drop metric: --max-drop measures the STS Spearman drop on {\"text\", \"text_pair\", "
                            "\"score\"} rows (%s has no \"score\")\n",
                    qf_cli_safe(in->model_path), qf_cli_safe(path));
            return QF_EXIT_USAGE;
        }
        qf_pooling pooling;
        bool normalize;
        if ((rc = qf_cli_embedding_pipeline(in->source, in->model_path, &pooling, &normalize))) return rc;
        qf_cli_embedding_max_length(in->source, false, &dp);
        if ((rc = qf_cli_embedding_prompt(in->source, in->model_path, NULL, NULL, false, &dp))) return rc;
        qf_row_fields_params fp = qf_row_fields_params_default();
        fp.score = true;
        dp.texts = QF_DATASET_TEXTS_FIRST;
        s = load_data(path, r->tokenizer, dp, in->sensitivity_rows, &r->data, &r->sensitivity_data, &err);
        dp.texts = QF_DATASET_TEXTS_SECOND;
        if (!s) s = load_data(path, r->tokenizer, dp, in->sensitivity_rows, &r->second, &r->sensitivity_second, &err);
        if (!s) s = load_fields(path, fp, in->sensitivity_rows, r, &err);
        r->scoring = (qf_fallback_scoring){r->data,   r->sensitivity_data, r->second, r->sensitivity_second,
                                           r->fields, r->sensitivity_fields, QF_MULTILABEL_THRESHOLD_DEFAULT,
                                           a->score,  pooling,             normalize, vp};
        *m = qf_fallback_measure_sts(&r->scoring);
        break;
    }
    }
    return s ? qf_cli_fail(&err) : QF_EXIT_OK;
}

int qf_cli_quantize_fallback(qf_cli_command *cmd, const qf_cli_fallback_inputs *in, qf_model **out)
{
    *out = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_arch a;
    if (qf_arch_from_config(qf_model_config_json(in->source), &a, &err)) return qf_cli_fail(&err);
    qf_cli_option *job_opt = qf_cli_find(cmd, "job");
    qf_cli_job job;
    if (job_opt->seen && !qf_cli_job_named(job_opt->value, &job)) {
        fprintf(stderr, "qforge quantize: --job must be " QF_CLI_JOB_NAMES ", not '%s'\n", qf_cli_safe(job_opt->value));
        return QF_EXIT_USAGE;
    }
    if (!job_opt->seen) {
        qf_arch mapped;
        if (qf_arch_of(in->source, &mapped, &err)) return qf_cli_fail(&err);
        job = qf_cli_job_of(in->source, &mapped);
    }
    fallback_rows rows;
    memset(&rows, 0, sizeof rows);
    qf_fallback_measure m;
    memset(&m, 0, sizeof m);
    int rc = prepare(cmd, in, job, &a, &rows, &m);
    if (rc) {
        rows_free(&rows);
        return rc;
    }
    qf_fallback_params fp = qf_fallback_params_default();
    fp.max_drop = in->max_drop;
    fp.log = qf_cli_given(cmd, QF_CLI_QUIET) ? NULL : print_line;
    qf_fallback_report fr;
    if (qf_static_fallback_measured(in->source, in->stats, in->params, &m, &fp, out, &fr, &err)) {
        rows_free(&rows);
        return qf_cli_fail(&err);
    }
    /* classification's lines read as they always have: "drop", no metric named */
    bool accuracy = strcmp(m.metric_key, "accuracy") == 0;
    const char *metric = accuracy ? "" : m.metric, *space = accuracy ? "" : " ";
    if (!qf_cli_given(cmd, QF_CLI_QUIET)) {
        printf("fallback: %s%sdrop %.2f pt -> %.2f pt (budget %g, %s), %zu projection%s reverted to FP32%s\n", metric,
               space, fr.initial_drop, fr.final_drop, in->max_drop, fr.within_budget ? "within" : "NOT within", fr.steps,
               fr.steps == 1 ? "" : "s", fr.steps ? ":" : "");
        for (size_t i = 0; i < fr.steps; i++) {
            printf("  %-20s only-int8 %s loss %.2f pt", qf_cli_safe(fr.step[i].stem), m.primary_name,
                   fr.step[i].sensitivity);
            if (m.secondary_name) printf(", %s %.4g", m.secondary_name, fr.step[i].sensitivity_dlogit);
            printf("; drop after %.2f pt\n", fr.step[i].drop_after);
        }
    }
    if (!fr.within_budget) {
        fprintf(stderr, "error: the %s%sdrop %.2f pt stays above --max-drop %g with every projection in FP32\n", metric,
                space, fr.final_drop, in->max_drop);
        rc = QF_EXIT_ERROR;
    }
    qf_fallback_report_free(&fr);
    rows_free(&rows);
    return rc;
}
