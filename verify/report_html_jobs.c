/*
 * verify/report_html_jobs.c — the HTML page of `qforge verify --html` for every job but
 * classification (whose page is report_html.c's): token classification, question answering,
 * multi-label, rerank, and embeddings (with the STS metric when the rows carry scores). Each page
 * has the classification page's look and parts (report_html_internal.h): the title with the gate's
 * badge, a summary (the headline metric of FP32 and the artifact with its drop, agreement, logit
 * distance, rows, time, the gate), a table of the job's metrics (tr#metric-<name of the JSON
 * report's member>), what the report keeps of the rows (QA: the rows whose answer changed;
 * embeddings: the row of lowest cosine), the recipe and the provenance. Built from the job's
 * report struct and the same context as its JSON report; every string from a file or the user is
 * escaped.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "verify/report_html_internal.h"

typedef enum figure_kind {
    FIGURE_PERCENT, /* a fraction shown as 12.34% */
    FIGURE_FIXED4,  /* 0.1234: MRR@10, NDCG@10, STS Spearman */
    FIGURE_FIXED6,  /* 0.123456: cosine, score Spearman */
} figure_kind;

/* A figure, or "n/a" when it is not defined (NaN: an undefined Spearman) or not measured. */
static void figure(qf_html *b, figure_kind kind, bool measured, double x)
{
    if (!measured || !isfinite(x)) {
        QF_HTML_LIT(b, "n/a");
        return;
    }
    if (kind == FIGURE_PERCENT)
        qf_html_printf(b, "%.2f%%", 100 * x);
    else if (kind == FIGURE_FIXED4)
        qf_html_printf(b, "%.4f", x);
    else
        qf_html_printf(b, "%.6f", x);
}

/* The summary's first row: the headline metric of both models and its drop, as the classification
 * page shows accuracy. `name` and `id` are literals of this file. */
static void summary_headline(qf_html *b, const char *name, figure_kind kind, bool measured, double reference,
                             double artifact, double drop, qf_encoder_mode mode)
{
    qf_html_printf(b, "<tr id=\"headline\"><td>%s</td><td>", name);
    if (!measured) {
        QF_HTML_LIT(b, "not measured: no row carries the gold field</td></tr>");
        return;
    }
    QF_HTML_LIT(b, "FP32 ");
    figure(b, kind, true, reference);
    qf_html_printf(b, " &nbsp; %s ", qf_encoder_mode_name(mode));
    figure(b, kind, true, artifact);
    QF_HTML_LIT(b, " &nbsp; <b>drop ");
    if (isfinite(drop))
        qf_html_printf(b, "%.2f pt", drop);
    else
        QF_HTML_LIT(b, "n/a");
    QF_HTML_LIT(b, "</b></td></tr>");
}

static void summary_start(qf_html *b) { QF_HTML_LIT(b, "<h2>Summary</h2><table class=\"kv\" id=\"summary\">"); }

static void summary_logits(qf_html *b, const char *what, double mean_abs, double max_abs)
{
    qf_html_printf(b, "<tr id=\"logits\"><td>%s</td><td>mean |diff| %.4g &nbsp; max |diff| %.4g</td></tr>", what,
                   mean_abs, max_abs);
}

static void summary_time(qf_html *b, double seconds)
{
    qf_html_printf(b, "<tr><td>time</td><td>%.2f s</td></tr>", seconds);
}

/* A gate's line: "<what> <value> <op> --<option> <limit>: PASS|FAIL". */
static void gate_row(qf_html *b, const char *id, const char *text, bool passed)
{
    qf_html_printf(b, "<tr id=\"%s\"><td>gate</td><td>%s: %s</td></tr>", id, text, passed ? "PASS" : "FAIL");
}

/* The drop gate (--max-drop) of a headline metric, by qf_verify_gate. */
static void drop_gate(qf_html *b, const char *metric, double drop, const qf_verify_html_context *c)
{
    if (!c->has_max_drop) return;
    bool ok = qf_verify_gate(drop, c->max_drop);
    char text[160];
    snprintf(text, sizeof text, "%s drop %.2f pt %s --max-drop %g", metric, drop, ok ? "&le;" : "&gt;", c->max_drop);
    gate_row(b, "gate", text, ok);
}

static void metrics_start(qf_html *b, qf_encoder_mode mode)
{
    qf_html_printf(b,
                   "<h2>Metrics</h2><table id=\"metrics\"><tr><th>metric</th><th>FP32</th><th>%s</th><th>drop</th>"
                   "</tr>",
                   qf_encoder_mode_name(mode));
}

/* One metric of both models (tr#metric-<id>); the headline's row also has its drop in points. */
static void metric_row(qf_html *b, const char *id, const char *name, bool headline, figure_kind kind, bool measured,
                       double reference, double artifact, double drop)
{
    qf_html_printf(b, "<tr class=\"metric%s\" id=\"metric-%s\"><td>%s%s</td><td class=\"n\">", headline ? " headline" : "",
                   id, name, headline ? " (headline)" : "");
    figure(b, kind, measured, reference);
    QF_HTML_LIT(b, "</td><td class=\"n\">");
    figure(b, kind, measured, artifact);
    QF_HTML_LIT(b, "</td><td class=\"n\">");
    if (headline && measured && isfinite(drop)) qf_html_printf(b, "%.2f pt", drop);
    QF_HTML_LIT(b, "</td></tr>");
}

static void page_end(qf_html *b, qf_encoder_mode mode, const qf_verify_html_context *c, const char *data_sha256)
{
    qf_html_recipe_provenance(b, mode, c, data_sha256);
}

/* =============================================================================================
 * Token classification
 * =========================================================================================== */

qf_status qf_ner_report_write_html(const qf_ner_report *r, const qf_verify_html_context *ctx, const char *data_sha256,
                                   const char *path, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    const qf_encoder_mode mode = r->artifact_mode;
    const bool labelled = r->labelled_rows > 0;
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_max_drop, c->passed, mode, r->rows, "token-classification");
    summary_start(&b);
    summary_headline(&b, "entity F1", FIGURE_PERCENT, labelled, r->reference.f1, r->artifact.f1, r->drop_points, mode);
    qf_html_printf(&b,
                   "<tr id=\"agreement\"><td>agreement</td><td>%.2f%% of words (%zu of %zu words changed label)</td>"
                   "</tr>",
                   100 * r->agreement, r->words_compared - r->words_agreeing, r->words_compared);
    summary_logits(&b, "logits", r->mean_abs_dlogit, r->max_abs_dlogit);
    qf_html_printf(&b,
                   "<tr id=\"rows\"><td>rows</td><td>%zu (%zu labelled), %zu words (%zu without a token: predicted O), "
                   "max length %d</td></tr>",
                   r->rows, r->labelled_rows, r->words, r->words_cut, (int)c->max_length);
    summary_time(&b, r->seconds);
    drop_gate(&b, "entity F1", r->drop_points, c);
    QF_HTML_LIT(&b, "</table>");
    metrics_start(&b, mode);
    metric_row(&b, "entity_f1", "entity F1", true, FIGURE_PERCENT, labelled, r->reference.f1, r->artifact.f1,
               r->drop_points);
    metric_row(&b, "entity_precision", "entity precision", false, FIGURE_PERCENT, labelled, r->reference.precision,
               r->artifact.precision, 0);
    metric_row(&b, "entity_recall", "entity recall", false, FIGURE_PERCENT, labelled, r->reference.recall,
               r->artifact.recall, 0);
    metric_row(&b, "token_accuracy", "token accuracy", false, FIGURE_PERCENT, labelled, r->reference.accuracy,
               r->artifact.accuracy, 0);
    QF_HTML_LIT(&b, "</table>");
    if (labelled)
        qf_html_printf(&b,
                       "<table class=\"kv\" id=\"entities\"><tr><td>entities</td><td>%llu gold &nbsp; FP32 %llu "
                       "predicted (%llu correct) &nbsp; %s %llu predicted (%llu correct)</td></tr></table>",
                       (unsigned long long)r->reference_counts.gold, (unsigned long long)r->reference_counts.predicted,
                       (unsigned long long)r->reference_counts.true_positive, qf_encoder_mode_name(mode),
                       (unsigned long long)r->artifact_counts.predicted,
                       (unsigned long long)r->artifact_counts.true_positive);
    page_end(&b, mode, c, data_sha256);
    return qf_html_finish(&b, path, err);
}

/* =============================================================================================
 * Question answering
 * =========================================================================================== */

/* The rows whose answer span changed (the first the report kept, at most the context's count),
 * with their question and gold answers. */
static void qa_changed_rows(qf_html *b, const qf_qa_report *r, const qf_qa_rows *rows, const qf_verify_html_context *c)
{
    QF_HTML_LIT(b, "<h2>Rows whose answer changed</h2>");
    if (!r->changed_count) {
        QF_HTML_LIT(b, "<p>None: FP32 and the artifact give the same answer span on every row.</p>");
        return;
    }
    size_t listed = r->changed_kept < c->max_changed_rows ? r->changed_kept : c->max_changed_rows;
    if (listed < r->changed_count) qf_html_printf(b, "<p class=\"sub\">the first %zu of %zu</p>", listed, r->changed_count);
    QF_HTML_LIT(b, "<table id=\"changed-rows\"><tr><th>row</th><th>question</th><th>gold answers</th></tr>");
    for (size_t i = 0; i < listed; i++) {
        const qf_qa_row *row = rows ? qf_qa_rows_at(rows, r->changed_rows[i]) : NULL;
        qf_html_printf(b, "<tr class=\"changed\"><td class=\"n\">%zu</td><td>", r->changed_rows[i]);
        if (row && row->question)
            qf_html_escape(b, row->question, row->question_len, c->max_text);
        else if (row)
            qf_html_printf(b, "<span class=\"sub\">%zu token ids</span>", row->num_ids);
        QF_HTML_LIT(b, "</td><td>");
        for (size_t a = 0; row && a < row->num_answers; a++) {
            if (a) QF_HTML_LIT(b, " | ");
            qf_html_escape(b, row->answer_texts[a], strlen(row->answer_texts[a]), c->max_text);
        }
        QF_HTML_LIT(b, "</td></tr>");
    }
    QF_HTML_LIT(b, "</table>");
}

qf_status qf_qa_report_write_html(const qf_qa_report *r, const qf_verify_html_context *ctx, const qf_qa_rows *rows,
                                  const char *path, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    const qf_encoder_mode mode = r->artifact_mode;
    const bool scored = r->answered_rows > 0;
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_max_drop, c->passed, mode, r->rows, "qa");
    summary_start(&b);
    summary_headline(&b, "F1", FIGURE_PERCENT, scored, r->f1_reference, r->f1_artifact, r->drop_points, mode);
    qf_html_printf(&b,
                   "<tr id=\"agreement\"><td>agreement</td><td>%.2f%% same answer span (%zu of %zu rows changed)"
                   "</td></tr>",
                   100 * r->agreement, r->changed_count, r->rows);
    summary_logits(&b, "start / end logits", r->mean_abs_dlogit, r->max_abs_dlogit);
    qf_html_printf(&b,
                   "<tr id=\"rows\"><td>rows</td><td>%zu (%zu with answers), %zu windows: max_seq_len %d, doc_stride "
                   "%d, max_answer_len %d</td></tr>",
                   r->rows, r->answered_rows, r->windows, (int)r->params.max_seq_len, (int)r->params.doc_stride,
                   (int)r->params.max_answer_len);
    summary_time(&b, r->seconds);
    drop_gate(&b, "F1", r->drop_points, c);
    QF_HTML_LIT(&b, "</table>");
    metrics_start(&b, mode);
    metric_row(&b, "f1", "F1 (SQuAD v1.1)", true, FIGURE_PERCENT, scored, r->f1_reference, r->f1_artifact,
               r->drop_points);
    metric_row(&b, "exact_match", "exact match (SQuAD v1.1)", false, FIGURE_PERCENT, scored, r->exact_match_reference,
               r->exact_match_artifact, 0);
    QF_HTML_LIT(&b, "</table>");
    qa_changed_rows(&b, r, rows, c);
    page_end(&b, mode, c, r->data_sha256);
    return qf_html_finish(&b, path, err);
}

/* =============================================================================================
 * Multi-label
 * =========================================================================================== */

qf_status qf_multilabel_report_write_html(const qf_multilabel_report *r, const qf_verify_html_context *ctx,
                                          const char *path, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    const qf_encoder_mode mode = r->artifact_mode;
    const bool labelled = r->labelled_rows > 0;
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_max_drop, c->passed, mode, r->rows, "multi-label");
    summary_start(&b);
    summary_headline(&b, "micro-F1", FIGURE_PERCENT, labelled, r->f1_reference, r->f1_artifact, r->drop_points, mode);
    qf_html_printf(&b,
                   "<tr id=\"agreement\"><td>agreement</td><td>%.2f%% exact label set (%zu of %zu rows changed)</td>"
                   "</tr>",
                   100 * r->agreement, r->rows - r->agreeing, r->rows);
    summary_logits(&b, "logits", r->mean_abs_dlogit, r->max_abs_dlogit);
    qf_html_printf(&b,
                   "<tr id=\"rows\"><td>rows</td><td>%zu (%zu labelled), %lld labels predicted when sigmoid(logit) "
                   "&ge; %g, max length %d</td></tr>",
                   r->rows, r->labelled_rows, (long long)r->num_labels, r->threshold, (int)c->max_length);
    summary_time(&b, r->seconds);
    drop_gate(&b, "micro-F1", r->drop_points, c);
    QF_HTML_LIT(&b, "</table>");
    metrics_start(&b, mode);
    metric_row(&b, "micro_f1", "micro-F1", true, FIGURE_PERCENT, labelled, r->f1_reference, r->f1_artifact,
               r->drop_points);
    QF_HTML_LIT(&b, "</table>");
    if (labelled) {
        QF_HTML_LIT(&b, "<table id=\"counts\"><tr><th>micro-F1 counts</th><th>true positive</th><th>predicted</th>"
                        "<th>gold</th></tr>");
        const qf_multilabel_counts *k[2] = {&r->reference_counts, &r->artifact_counts};
        for (int m = 0; m < 2; m++)
            qf_html_printf(&b,
                           "<tr id=\"counts-%s\"><td>%s</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                           "<td class=\"n\">%llu</td></tr>",
                           m ? "artifact" : "reference", m ? qf_encoder_mode_name(mode) : "FP32",
                           (unsigned long long)k[m]->true_positive, (unsigned long long)k[m]->predicted,
                           (unsigned long long)k[m]->gold);
        QF_HTML_LIT(&b, "</table>");
    }
    page_end(&b, mode, c, c->data ? qf_dataset_sha256(c->data) : NULL);
    return qf_html_finish(&b, path, err);
}

/* =============================================================================================
 * Rerank
 * =========================================================================================== */

qf_status qf_rerank_report_write_html(const qf_rerank_report *r, const qf_verify_html_context *ctx,
                                      double min_spearman, const char *path, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    const qf_encoder_mode mode = r->artifact_mode;
    const bool has_min = !isnan(min_spearman);
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_max_drop || has_min, c->passed, mode, r->rows, "rerank");
    summary_start(&b);
    if (r->labelled)
        summary_headline(&b, "MRR@10", FIGURE_FIXED4, true, r->mrr_reference, r->mrr_artifact, r->drop_points, mode);
    QF_HTML_LIT(&b, "<tr id=\"score-spearman\"><td>score Spearman</td><td>");
    figure(&b, FIGURE_FIXED6, true, r->score_spearman);
    qf_html_printf(&b, " FP32 vs %s%s</td></tr>", qf_encoder_mode_name(mode), r->labelled ? "" : " (the headline)");
    if (r->ranked_groups)
        qf_html_printf(&b,
                       "<tr id=\"agreement\"><td>agreement</td><td>%.2f%% rank (same top-1 in %zu of %zu groups of 2+ "
                       "rows)</td></tr>",
                       100 * r->rank_agreement, r->same_top1, r->ranked_groups);
    else
        QF_HTML_LIT(&b, "<tr id=\"agreement\"><td>agreement</td><td>no group of 2+ rows: rank agreement undefined</td>"
                        "</tr>");
    qf_html_printf(&b, "<tr id=\"logits\"><td>scores</td><td>%s of the logit &nbsp; mean |diff| %.4g &nbsp; max |diff| "
                       "%.4g</td></tr>",
                   qf_arch_score_name(r->score), r->mean_abs_dscore, r->max_abs_dscore);
    qf_html_printf(&b, "<tr id=\"rows\"><td>rows</td><td>%zu in %zu groups%s, max length %d</td></tr>", r->rows,
                   r->groups, r->labelled ? ", relevance-labelled" : "", (int)c->max_length);
    summary_time(&b, r->seconds);
    if (r->labelled) drop_gate(&b, "MRR@10", r->drop_points, c);
    if (has_min) {
        bool ok = qf_verify_spearman_gate(r->score_spearman, min_spearman);
        char text[160];
        if (isfinite(r->score_spearman))
            snprintf(text, sizeof text, "score Spearman %.6f %s --min-spearman %g", r->score_spearman,
                     ok ? "&ge;" : "&lt;", min_spearman);
        else
            snprintf(text, sizeof text, "score Spearman undefined, --min-spearman %g", min_spearman);
        gate_row(&b, "gate-spearman", text, ok);
    }
    QF_HTML_LIT(&b, "</table>");
    if (r->labelled) {
        metrics_start(&b, mode);
        metric_row(&b, "mrr_at_10", "MRR@10", true, FIGURE_FIXED4, true, r->mrr_reference, r->mrr_artifact,
                   r->drop_points);
        metric_row(&b, "ndcg_at_10", "NDCG@10", false, FIGURE_FIXED4, true, r->ndcg_reference, r->ndcg_artifact, 0);
        QF_HTML_LIT(&b, "</table>");
    } else {
        QF_HTML_LIT(&b, "<h2>Metrics</h2><p class=\"sub\">MRR@10 and NDCG@10 not measured: the rows carry no relevance "
                        "\"label\".</p>");
    }
    page_end(&b, mode, c, c->data ? qf_dataset_sha256(c->data) : NULL);
    return qf_html_finish(&b, path, err);
}

/* =============================================================================================
 * Embeddings (and sentence similarity)
 * =========================================================================================== */

qf_status qf_embedding_report_write_html(const qf_embedding_report *r, const qf_sts_report *sts,
                                         const qf_verify_html_context *ctx, const char *path, qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    const qf_encoder_mode mode = r->artifact_mode;
    const bool drop_gated = sts && c->has_max_drop;
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_min_cosine || drop_gated, c->passed, mode, r->rows, "embedding");
    summary_start(&b);
    if (sts)
        summary_headline(&b, "STS Spearman", FIGURE_FIXED4, true, sts->spearman_reference, sts->spearman_artifact,
                         sts->drop_points, mode);
    qf_html_printf(&b, "<tr id=\"cosine\"><td>cosine</td><td>mean %.6f &nbsp; min %.6f (row %zu)</td></tr>",
                   r->mean_cosine, r->min_cosine, r->min_cosine_row);
    qf_html_printf(&b,
                   "<tr id=\"agreement\"><td>retrieval</td><td>top-1 agreement %.2f%% &nbsp; top-10 overlap %.2f%% "
                   "(nearest rows among %zu)</td></tr>",
                   100 * r->top1_agreement, 100 * r->top10_overlap, r->retrieval_rows);
    qf_html_printf(&b, "<tr id=\"embedding\"><td>embedding</td><td>%s pooling%s, %lld dimensions</td></tr>",
                   qf_pooling_name(r->pooling), r->normalize ? ", L2-normalized" : "", (long long)r->dimensions);
    qf_html_printf(&b, "<tr id=\"rows\"><td>rows</td><td>%zu%s, max length %d</td></tr>", r->rows,
                   sts ? " {text, text_pair, score}" : "", (int)c->max_length);
    summary_time(&b, r->seconds + (sts ? sts->seconds : 0));
    if (c->has_min_cosine) {
        bool ok = qf_verify_embedding_gate(r->mean_cosine, c->min_cosine);
        char text[160];
        snprintf(text, sizeof text, "mean cosine %.6f %s --min-cosine %g", r->mean_cosine, ok ? "&ge;" : "&lt;",
                 c->min_cosine);
        gate_row(&b, "gate-cosine", text, ok);
    }
    if (drop_gated) drop_gate(&b, "STS Spearman", sts->drop_points, c);
    QF_HTML_LIT(&b, "</table>");
    metrics_start(&b, mode);
    if (sts)
        metric_row(&b, "sts_spearman", "STS Spearman of cosine vs score", true, FIGURE_FIXED4, true,
                   sts->spearman_reference, sts->spearman_artifact, sts->drop_points);
    QF_HTML_LIT(&b, "</table><table class=\"kv\" id=\"fp32-vs-artifact\">");
    QF_HTML_LIT(&b, "<tr id=\"metric-cosine_mean\"><td>cosine FP32&#8596;artifact, mean</td><td class=\"n\">");
    figure(&b, FIGURE_FIXED6, true, r->mean_cosine);
    QF_HTML_LIT(&b, "</td></tr><tr id=\"metric-cosine_min\"><td>cosine FP32&#8596;artifact, min</td><td class=\"n\">");
    figure(&b, FIGURE_FIXED6, true, r->min_cosine);
    QF_HTML_LIT(&b, "</td></tr><tr id=\"metric-top1_agreement\"><td>retrieval top-1 agreement</td><td class=\"n\">");
    figure(&b, FIGURE_PERCENT, true, r->top1_agreement);
    QF_HTML_LIT(&b, "</td></tr><tr id=\"metric-top10_overlap\"><td>retrieval top-10 overlap</td><td class=\"n\">");
    figure(&b, FIGURE_PERCENT, true, r->top10_overlap);
    QF_HTML_LIT(&b, "</td></tr></table>");
    if (r->rows) {
        QF_HTML_LIT(&b, "<h2>Row of lowest cosine</h2><table id=\"lowest-cosine\"><tr><th>row</th><th>cosine</th>"
                        "<th>text</th></tr>");
        qf_html_printf(&b, "<tr class=\"changed\"><td class=\"n\">%zu</td><td class=\"n\">%.6f</td><td>",
                       r->min_cosine_row, r->min_cosine);
        size_t len = 0;
        const char *text = c->data ? qf_dataset_row_text(c->data, r->min_cosine_row, &len) : NULL;
        const qf_dataset_row *dr = c->data ? qf_dataset_row_at(c->data, r->min_cosine_row) : NULL;
        if (text)
            qf_html_escape(&b, text, len, c->max_text);
        else if (dr)
            qf_html_printf(&b, "<span class=\"sub\">%d token ids</span>", (int)dr->length);
        QF_HTML_LIT(&b, "</td></tr></table>");
    }
    page_end(&b, mode, c, c->data ? qf_dataset_sha256(c->data) : NULL);
    return qf_html_finish(&b, path, err);
}
