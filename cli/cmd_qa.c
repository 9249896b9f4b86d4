/*
 * cli/cmd_qa.c — the question-answering side of `qforge run` (--output spans: each row's start/end
 * logits and its answer) and `qforge verify` (--job qa, chosen for a QA head: SQuAD exact match
 * and F1 of FP32 and the artifact, span agreement, the F1 gate). Called from cli/cmd_verify.c,
 * whose option tables carry --max-seq-len, --doc-stride, --max-answer-len, --max-question-len.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cmd_qa.h"
#include "cli/jobs.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

enum { QA_EXIT_DROP = 3 };

static const char *const qa_option_names[] = {"max-seq-len", "doc-stride", "max-answer-len", "max-question-len",
                                               "no-align-to-words"};

int qf_cli_qa_options_refused(qf_cli_command *cmd, const char *what)
{
    for (size_t i = 0; i < sizeof qa_option_names / sizeof qa_option_names[0]; i++) {
        qf_cli_option *o = qf_cli_find(cmd, qa_option_names[i]);
        if (o && o->seen) {
            fprintf(stderr, "qforge %s: --%s applies to question answering (%s)\n", cmd->name, qa_option_names[i],
                    what);
            return QF_EXIT_USAGE;
        }
    }
    return QF_EXIT_OK;
}

/* --max-seq-len, --doc-stride, --max-answer-len, --max-question-len, --no-align-to-words into p
 * (absent: defaults). */
static bool qa_options(qf_cli_command *cmd, qf_qa_params *p)
{
    *p = qf_qa_params_default();
    long v;
    int32_t *field[4] = {&p->max_seq_len, &p->doc_stride, &p->max_answer_len, &p->max_question_len};
    static const long lo[4] = {1, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        qf_cli_option *o = qf_cli_find(cmd, qa_option_names[i]);
        if (!o || !o->seen) continue;
        if (!qf_cli_int(cmd, o, lo[i], 65535, &v)) return false;
        *field[i] = (int32_t)v;
    }
    qf_cli_option *words = qf_cli_find(cmd, "no-align-to-words");
    p->align_to_words = !(words && words->seen);
    return true;
}



/* The model's head must be QA; else the error names the head. */
static int require_qa_head(const qf_model *m, const char *path, const char *what)
{
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    if (qf_arch_of(m, &a, &err)) return qf_cli_fail(&err);
    if (a.head == QF_ARCH_HEAD_QUESTION_ANSWERING) return QF_EXIT_OK;
    fprintf(stderr, "error: %s: the model's head is %s (%s), not question answering: %s needs the start and end "
                    "logits of a *ForQuestionAnswering head\n",
            qf_cli_safe(path), qf_arch_head_name(a.head),
            qf_cli_safe(a.architecture[0] ? a.architecture : "no architectures in config.json"), what);
    return QF_EXIT_ERROR;
}

static void print_floats(const char *name, const float *v, size_t n)
{
    printf("\"%s\": [", name);
    for (size_t k = 0; k < n; k++) printf("%s%.9g", k ? ", " : "", (double)v[k]);
    printf("]");
}

static void print_result(size_t row, const qf_qa_result *r)
{
    printf("{\"row\": %zu, ", row);
    if (r->windows == 1) {
        print_floats("start_logits", r->start_logits, r->window_length[0]);
        printf(", ");
        print_floats("end_logits", r->end_logits, r->window_length[0]);
    } else {
        printf("\"windows\": [");
        size_t at = 0;
        for (size_t w = 0; w < r->windows; w++) {
            printf("%s{", w ? ", " : "");
            print_floats("start_logits", r->start_logits + at, r->window_length[w]);
            printf(", ");
            print_floats("end_logits", r->end_logits + at, r->window_length[w]);
            printf("}");
            at += r->window_length[w];
        }
        printf("]");
    }
    if (r->answered) {
        json_object *s = json_object_new_string_len(r->answer_text, (int)r->answer_len);
        printf(", \"answer\": {\"text\": %s, \"start\": %zu, \"end\": %zu, \"score\": %.9g}}\n",
               json_object_to_json_string_ext(s, JSON_C_TO_STRING_NOSLASHESCAPE), r->answer_start, r->answer_end,
               r->score);
        json_object_put(s);
    } else {
        printf(", \"answer\": null}\n");
    }
}

int qf_cmd_run_spans(qf_cli_command *cmd, const char *model_path, const char *data_path)
{
    qf_qa_params qp;
    long limit = 0, threads = 0, batch = 32;
    if (!qa_options(cmd, &qp) || !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) ||
        !qf_cli_number(cmd, QF_CLI_THREADS, &threads) || !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;
    static const char *const other[] = {"pooling", "normalize"};
    for (size_t i = 0; i < 2; i++)
        if (qf_cli_find(cmd, other[i])->seen) {
            fprintf(stderr, "qforge run: --%s applies to --output embedding\n", other[i]);
            return QF_EXIT_USAGE;
        }
    if (qf_cli_given(cmd, QF_CLI_MAX_LENGTH)) {
        fprintf(stderr, "qforge run: --output spans cuts long contexts into windows of --max-seq-len tokens; "
                        "--max-length does not apply\n");
        return QF_EXIT_USAGE;
    }
    qf_model *m = NULL;
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    int rc = qf_cli_read_encoder(model_path, &rp, &m);
    if (rc) return rc;
    if ((rc = require_qa_head(m, model_path, "--output spans"))) {
        qf_model_destroy(m);
        return rc;
    }
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    qf_qa_rows *rows = NULL;
    qf_encoder *enc = NULL;
    const char *beside[2] = {model_path, qf_model_get_meta(m, "source.path")};
    qf_status s = qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, NULL, 0, &err);
    if (!s) s = qf_qa_params_resolve(&qp, qf_cli_model_max_tokens(m), &qp, &err);
    if (!s) s = qf_qa_rows_load(data_path, limit, &rows, &err);
    if (!s) s = qf_qa_encoder_create(m, qf_cli_artifact_mode(m), (int)threads, batch, &qp, rows, &enc, &err);
    for (size_t i = 0; !s && i < qf_qa_rows_count(rows); i++) {
        const qf_qa_row *row = qf_qa_rows_at(rows, i);
        qf_qa_result r;
        if ((s = qf_qa_answer(enc, batch, tok, row, &qp, &r, &err))) {
            if (!err.file[0]) snprintf(err.file, sizeof err.file, "%s", data_path);
            if (!err.part[0]) snprintf(err.part, sizeof err.part, "line %zu", row->line);
            break;
        }
        print_result(i, &r);
        qf_qa_result_free(&r);
    }
    rc = s ? qf_cli_fail(&err) : QF_EXIT_OK;
    qf_encoder_destroy(enc);
    qf_qa_rows_destroy(rows);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(m);
    return rc;
}

bool qf_cli_verify_is_qa(qf_cli_command *cmd, const qf_model *reference)
{
    qf_cli_option *job = qf_cli_find(cmd, "job");
    if (job->seen) return strcmp(job->value, "qa") == 0;
    qf_arch a;
    return !qf_arch_of(reference, &a, NULL) && qf_cli_job_of(reference, &a) == QF_CLI_JOB_QA;
}

static void print_qa_report(const qf_qa_report *r, const char *artifact, const char *reference, const char *data,
                            bool has_max_drop, double max_drop, bool passed)
{
    const char *mode = qf_encoder_mode_name(r->artifact_mode);
    printf("artifact   %s (%s)\n", qf_cli_safe(artifact), mode);
    printf("reference  %s (FP32)\n", qf_cli_safe(reference));
    printf("data       %s: %zu rows, %zu with answers, %zu windows (max_seq_len %d, doc_stride %d, max_answer_len "
           "%d%s)\n", qf_cli_safe(data), r->rows, r->answered_rows, r->windows, (int)r->params.max_seq_len,
           (int)r->params.doc_stride, (int)r->params.max_answer_len,
           r->params.align_to_words ? "" : ", token spans: --no-align-to-words");
    if (r->answered_rows) {
        printf("exact match FP32 %.2f%%   %s %.2f%%\n", 100 * r->exact_match_reference, mode,
               100 * r->exact_match_artifact);
        printf("F1         FP32 %.2f%%   %s %.2f%%   drop %.2f pt\n", 100 * r->f1_reference, mode,
               100 * r->f1_artifact, r->drop_points);
    }
    printf("agreement  %.2f%% same answer span (%zu of %zu rows changed)\n", 100 * r->agreement, r->changed_count,
           r->rows);
    printf("logits     mean |diff| %.4g   max |diff| %.4g\n", r->mean_abs_dlogit, r->max_abs_dlogit);
    printf("time       %.2f s\n", r->seconds);
    if (has_max_drop)
        printf("result     %s: F1 drop %.2f pt %s --max-drop %g\n", passed ? "PASS" : "FAIL", r->drop_points,
               passed ? "<=" : ">", max_drop);
}

int qf_cmd_verify_qa(qf_cli_command *cmd, const qf_cli_verify_qa_inputs *in)
{
    static const char *const not_qa[] = {"min-cosine", "pooling", "normalize", "no-layers", "threshold", "min-spearman"};
    for (size_t i = 0; i < sizeof not_qa / sizeof not_qa[0]; i++) {
        qf_cli_option *o = qf_cli_find(cmd, not_qa[i]);
        if (o && o->seen) {
            fprintf(stderr, "qforge verify: --%s does not apply to the qa job (%s is measured by SQuAD exact match "
                            "and F1; --json and --html write its report)\n", not_qa[i], qf_cli_safe(in->reference_path));
            return QF_EXIT_USAGE;
        }
    }
    if (qf_cli_given(cmd, QF_CLI_MAX_LENGTH)) {
        fprintf(stderr, "qforge verify: the qa job cuts contexts into windows of --max-seq-len tokens; --max-length "
                        "does not apply\n");
        return QF_EXIT_USAGE;
    }
    qf_qa_params qp;
    long limit = 0, threads = 0, batch = 32;
    if (!qa_options(cmd, &qp) || !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) ||
        !qf_cli_number(cmd, QF_CLI_THREADS, &threads) || !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;
    int rc = require_qa_head(in->reference, in->reference_path, "the qa job");
    if (!rc) rc = require_qa_head(in->artifact, in->artifact_path, "the qa job");
    if (rc) return rc;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    qf_qa_rows *rows = NULL;
    char tok_used[4200];
    const char *beside[2] = {in->reference_path, in->artifact_path};
    qf_status s = qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, tok_used, sizeof tok_used, &err);
    if (!s) s = qf_qa_params_resolve(&qp, qf_cli_model_max_tokens(in->reference), &qp, &err);
    if (!s) s = qf_qa_rows_load(in->data_path, limit, &rows, &err);
    if (s) {
        qf_tokenizer_destroy(tok);
        return qf_cli_fail(&err);
    }
    if (in->has_max_drop && qf_qa_rows_answered(rows) == 0) {
        fprintf(stderr, "qforge verify: --max-drop gates the F1 drop, and no row of %s has \"answers\": only span "
                        "agreement can be measured\n", qf_cli_safe(in->data_path));
        qf_qa_rows_destroy(rows);
        qf_tokenizer_destroy(tok);
        return QF_EXIT_USAGE;
    }
    qf_cli_progress ps;
    qf_cli_progress_init(&ps, "verify", false, qf_cli_given(cmd, QF_CLI_QUIET));
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = (int)threads;
    vp.batch = batch;
    vp.progress = qf_cli_progress_update;
    vp.progress_ctx = &ps;
    qf_qa_report report;
    s = qf_verify_qa(in->reference, in->artifact, qf_cli_artifact_mode(in->artifact), tok, rows, &qp, &vp, &report, &err);
    if (s) {
        if (!err.file[0]) snprintf(err.file, sizeof err.file, "%s", in->data_path);
        rc = qf_cli_fail(&err);
    } else {
        bool passed = !in->has_max_drop || qf_verify_gate(report.drop_points, in->max_drop);
        qf_cli_option *json_opt = qf_cli_find(cmd, "json"), *html_opt = qf_cli_find(cmd, "html");
        qf_verify_html_context hc = qf_verify_html_context_default();
        hc.artifact_path = in->artifact_path;
        hc.reference_path = in->reference_path;
        hc.data_path = in->data_path;
        hc.tokenizer_path = tok_used;
        hc.artifact = in->artifact;
        hc.max_length = report.params.max_seq_len;
        hc.has_max_drop = in->has_max_drop;
        hc.max_drop = in->max_drop;
        hc.passed = passed;
        if (json_opt->seen) {
            char *text = NULL;
            size_t len = 0;
            qf_output *out = NULL;
            qf_status js = qf_qa_report_json(&report, &hc, &text, &len, &err);
            if (!js) js = qf_output_open(json_opt->value, &out, &err);
            if (!js && (js = qf_output_write(out, text, len, &err)) != QF_STATUS_OK) qf_output_abort(out);
            if (!js) js = qf_output_commit(out, &err);
            free(text);
            if (js) rc = qf_cli_fail(&err);
        }
        if (html_opt->seen && !rc && qf_qa_report_write_html(&report, &hc, rows, html_opt->value, &err))
            rc = qf_cli_fail(&err);
        if (!qf_cli_given(cmd, QF_CLI_QUIET))
            print_qa_report(&report, in->artifact_path, in->reference_path, in->data_path, in->has_max_drop,
                            in->max_drop, passed);
        if (!rc && !passed) rc = QA_EXIT_DROP;
        qf_qa_report_free(&report);
    }
    qf_qa_rows_destroy(rows);
    qf_tokenizer_destroy(tok);
    return rc;
}
