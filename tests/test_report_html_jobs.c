/*
 * tests/test_report_html_jobs.c — the HTML pages of `qforge verify --html` (verify/report_html.c,
 * verify/report_html_jobs.c) from hand-made reports: the classification page held byte for byte to
 * fixtures/reports/classification.html (the version string masked), and every job's page: its
 * metric names and figures, the gate, well-formed tags, and every string from a file or the user
 * (paths, recipe values, questions, answers) escaped, invalid UTF-8 included.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/verify.h"

static char tmpdir[64];

/* A path, a label and a text no page may show as markup: a script tag, both quotes, an ampersand,
 * a byte that is not UTF-8 and a bidi override. */
#define HOSTILE "x<script>alert(\"1\")</script>&'\xff\xe2\x80\xae"

static const char *write_text(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Every byte of a page is printable ASCII, a newline or part of well-formed UTF-8; no raw '<' of
 * the hostile strings (their escape is checked by the caller), nothing that loads or runs. */
static void check_page(const char *html)
{
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "\xff"));
    assert_null(strstr(html, "\xe2\x80\xae"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "alert(\""));
    /* the hostile string, escaped for HTML after qf_text_escape made its bytes visible */
    assert_non_null(strstr(html, "x&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;"));
    /* tags balance: as many <tr> as </tr>, <table> as </table>, <td> as </td> */
    assert_int_equal(count(html, "<tr"), count(html, "</tr>"));
    assert_int_equal(count(html, "<table"), count(html, "</table>"));
    assert_int_equal(count(html, "<td"), count(html, "</td>"));
    assert_int_equal(count(html, "<th>"), count(html, "</th>"));
    assert_int_equal(count(html, "<h2>"), count(html, "</h2>"));
    assert_non_null(strstr(html, "</body></html>\n"));
}

/* The classification page, byte for byte as before the job pages shared its parts. */
static void test_classification_golden(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.keep_text = true;
    qf_dataset *d = NULL;
    const char *data = write_text("golden.jsonl", "{\"input_ids\": [1, 2], \"label\": 0}\n"
                                                  "{\"input_ids\": [3], \"text\": \"<b>bold</b> & \\\"q\\\" \\u00e9\", \"label\": 1}\n"
                                                  "{\"input_ids\": [4], \"text\": \"plain\"}\n");
    assert_int_equal(qf_dataset_load(data, NULL, &dp, &d, &err), QF_STATUS_OK);
    size_t rows[3] = {1, 2, 0};
    int32_t ra[3] = {1, 0, 0}, aa[3] = {0, 1, 1};
    double sqnr[4] = {40.0, 35.5, 30.25, INFINITY};
    qf_verify_report r;
    memset(&r, 0, sizeof r);
    r.rows = 3;
    r.labelled_rows = 2;
    r.correct_reference = 2;
    r.correct_artifact = 1;
    r.accuracy_reference = 1.0;
    r.accuracy_artifact = 0.5;
    r.drop_points = 50.0;
    r.agreement = 0.0;
    r.mean_abs_dlogit = 0.0123;
    r.max_abs_dlogit = 0.5;
    r.mean_cosine = 0.99875;
    r.min_cosine = 0.9;
    r.num_labels = 2;
    r.num_layer_outputs = 4;
    r.layer_sqnr_db = sqnr;
    r.changed_count = 3;
    r.changed_kept = 3;
    r.changed_rows = rows;
    r.changed_reference_label = ra;
    r.changed_artifact_label = aa;
    r.dlogit_hist[0] = 2;
    r.dlogit_hist[13] = 3;
    r.dlogit_hist[20] = 1;
    r.artifact_mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    r.seconds = 1.25;
    qf_verify_html_context c = qf_verify_html_context_default();
    c.artifact_path = "model<1>.qf";
    c.reference_path = "ref & co.bin";
    c.data_path = "data.jsonl";
    c.tokenizer_path = "tok/tokenizer.json";
    c.data = d;
    c.config_json = "{\"id2label\": {\"0\": \"admin\", \"1\": \"devel<\"}}";
    c.max_length = 128;
    c.has_max_drop = true;
    c.max_drop = 1;
    c.passed = false;
    char path[256];
    snprintf(path, sizeof path, "%s/classification.html", tmpdir);
    assert_int_equal(qf_verify_report_write_html(&r, &c, path, &err), QF_STATUS_OK);
    size_t n = 0;
    char *html = slurp(path, &n);
    /* the version string masked, so that a release does not change the golden page */
    const char *version = QF_VERSION_STRING;
    char *at = strstr(html, version);
    assert_non_null(at);
    assert_null(strstr(at + 1, version));
    char *masked = malloc(n + 16);
    assert_non_null(masked);
    size_t head = (size_t)(at - html);
    memcpy(masked, html, head);
    strcpy(masked + head, "@VERSION@");
    strcat(masked, at + strlen(version));
    size_t golden_len = 0;
    char *golden = slurp(QF_SOURCE_DIR "/fixtures/reports/classification.html", &golden_len);
    if (getenv("QF_SHOW_HTML")) fputs(masked, stdout);
    assert_int_equal(strlen(masked), golden_len);
    assert_string_equal(masked, golden);
    free(golden);
    free(masked);
    free(html);
    qf_dataset_destroy(d);
}

/* A context whose every path is hostile, with a gate. */
static qf_verify_html_context hostile_context(void)
{
    qf_verify_html_context c = qf_verify_html_context_default();
    c.artifact_path = HOSTILE ".qf";
    c.reference_path = HOSTILE "/ref";
    c.data_path = HOSTILE ".jsonl";
    c.tokenizer_path = HOSTILE "/tokenizer.json";
    c.max_length = 64;
    c.has_max_drop = true;
    c.max_drop = 1;
    c.passed = true;
    return c;
}

static char *page_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void test_ner_page(void **state)
{
    (void)state;
    qf_ner_report r;
    memset(&r, 0, sizeof r);
    r.rows = 4;
    r.labelled_rows = 4;
    r.words = 20;
    r.reference = (qf_ner_scores){0.5, 0.25, 1.0 / 3, 0.875};
    r.artifact = (qf_ner_scores){0.5, 0.125, 0.2, 0.85};
    r.reference_counts = (qf_ner_counts){2, 4, 8, 14, 16};
    r.artifact_counts = (qf_ner_counts){1, 2, 8, 13, 16};
    r.drop_points = 100 * (1.0 / 3 - 0.2);
    r.words_compared = 20;
    r.words_agreeing = 19;
    r.agreement = 0.95;
    r.artifact_mode = QF_ENCODER_MODE_STATIC_INT8;
    qf_verify_html_context c = hostile_context();
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_ner_report_write_html(&r, &c, "abc" HOSTILE, page_path("ner.html"), &err), QF_STATUS_OK);
    char *html = slurp(page_path("ner.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "static int8 artifact against its FP32 reference on 4 rows, the token-classification job"));
    assert_non_null(strstr(html, "<tr class=\"metric headline\" id=\"metric-entity_f1\"><td>entity F1 (headline)</td>"
                                 "<td class=\"n\">33.33%</td><td class=\"n\">20.00%</td><td class=\"n\">13.33 pt</td></tr>"));
    assert_non_null(strstr(html, "id=\"metric-entity_recall\"><td>entity recall</td><td class=\"n\">25.00%</td>"
                                 "<td class=\"n\">12.50%</td>"));
    assert_non_null(strstr(html, "id=\"metric-token_accuracy\"><td>token accuracy</td><td class=\"n\">87.50%</td>"));
    assert_non_null(strstr(html, "entity F1 drop 13.33 pt &gt; --max-drop 1: FAIL"));
    assert_non_null(strstr(html, "<span class=\"badge pass\">PASS</span>")); /* the badge is the caller's verdict */
    assert_non_null(strstr(html, "95.00% of words (1 of 20 words changed label)"));
    free(html);
    /* without labelled rows: no figure, "not measured", no drop */
    r.labelled_rows = 0;
    c.has_max_drop = false;
    assert_int_equal(qf_ner_report_write_html(&r, &c, NULL, page_path("ner.html"), &err), QF_STATUS_OK);
    html = slurp(page_path("ner.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "<span class=\"badge none\">no gate</span>"));
    assert_non_null(strstr(html, "entity F1</td><td>not measured"));
    assert_non_null(strstr(html, "<td class=\"n\">n/a</td><td class=\"n\">n/a</td><td class=\"n\"></td>"));
    assert_null(strstr(html, "data sha256"));
    free(html);
    /* an unwritable destination is an error naming it, and leaves nothing */
    qf_error_clear(&err);
    assert_int_not_equal(qf_ner_report_write_html(&r, &c, NULL, page_path("no/such/dir/ner.html"), &err), QF_STATUS_OK);
    assert_non_null(strstr(err.file, "ner.html"));
}

static void test_qa_page(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    /* questions and answers from the file are as hostile as paths */
    const char *data = write_text("qa.jsonl",
                                  "{\"question\": \"q<script>alert(\\\"1\\\")</script>&'\\u202e?\", \"context\": \"c & d\", "
                                  "\"answers\": [\"<i>d</i>\", \"c & d\"]}\n"
                                  "{\"question\": \"plain\", \"context\": \"c d\"}\n"
                                  "{\"input_ids\": [1, 2, 3]}\n");
    qf_qa_rows *rows = NULL;
    assert_int_equal(qf_qa_rows_load(data, 0, &rows, &err), QF_STATUS_OK);
    size_t changed[3] = {0, 2, 1};
    qf_qa_report r;
    memset(&r, 0, sizeof r);
    r.rows = 3;
    r.answered_rows = 1;
    r.windows = 3;
    r.exact_match_reference = 1;
    r.f1_reference = 1;
    r.exact_match_artifact = 0;
    r.f1_artifact = 0.5;
    r.drop_points = 50;
    r.agreeing = 0;
    r.changed_count = 3;
    r.changed_kept = 3;
    r.changed_rows = changed;
    r.params = (qf_qa_params){48, 16, 15, 0, true};
    r.artifact_mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    snprintf(r.data_sha256, sizeof r.data_sha256, "%064d", 7);
    qf_verify_html_context c = hostile_context();
    c.max_changed_rows = 2;
    c.passed = false;
    assert_int_equal(qf_qa_report_write_html(&r, &c, rows, page_path("qa.html"), &err), QF_STATUS_OK);
    char *html = slurp(page_path("qa.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "<span class=\"badge fail\">FAIL</span>"));
    assert_non_null(strstr(html, "id=\"metric-f1\"><td>F1 (SQuAD v1.1) (headline)</td><td class=\"n\">100.00%</td>"
                                 "<td class=\"n\">50.00%</td><td class=\"n\">50.00 pt</td>"));
    assert_non_null(strstr(html, "id=\"metric-exact_match\"><td>exact match (SQuAD v1.1)</td><td class=\"n\">100.00%</td>"
                                 "<td class=\"n\">0.00%</td>"));
    assert_int_equal(count(html, "<tr class=\"changed\">"), 2);
    assert_non_null(strstr(html, "the first 2 of 3"));
    assert_non_null(strstr(html, "<td>q&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;\\u202e?</td>"
                                 "<td>&lt;i&gt;d&lt;/i&gt; | c &amp; d</td>"));
    assert_non_null(strstr(html, "<span class=\"sub\">3 token ids</span>"));
    assert_non_null(strstr(html, r.data_sha256));
    free(html);
    qf_qa_rows_destroy(rows);
}

static void test_scoring_pages(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_verify_html_context c = hostile_context();
    qf_multilabel_report m;
    memset(&m, 0, sizeof m);
    m.rows = 10;
    m.labelled_rows = 10;
    m.num_labels = 3;
    m.threshold = 0.5;
    m.reference_counts = (qf_multilabel_counts){6, 8, 8, 30};
    m.artifact_counts = (qf_multilabel_counts){5, 7, 8, 30};
    m.f1_reference = 0.75;
    m.f1_artifact = 10.0 / 15;
    m.drop_points = 100 * (0.75 - 10.0 / 15);
    m.agreeing = 9;
    m.agreement = 0.9;
    m.artifact_mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    assert_int_equal(qf_multilabel_report_write_html(&m, &c, page_path("ml.html"), &err), QF_STATUS_OK);
    char *html = slurp(page_path("ml.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "id=\"metric-micro_f1\"><td>micro-F1 (headline)</td><td class=\"n\">75.00%</td>"
                                 "<td class=\"n\">66.67%</td><td class=\"n\">8.33 pt</td>"));
    assert_non_null(strstr(html, "<tr id=\"counts-artifact\"><td>dynamic int8</td><td class=\"n\">5</td>"
                                 "<td class=\"n\">7</td><td class=\"n\">8</td></tr>"));
    assert_non_null(strstr(html, "90.00% exact label set (1 of 10 rows changed)"));
    free(html);

    qf_rerank_report rr;
    memset(&rr, 0, sizeof rr);
    rr.rows = 12;
    rr.score = QF_ARCH_SCORE_SIGMOID;
    rr.score_spearman = NAN;
    rr.groups = 3;
    rr.ranked_groups = 3;
    rr.same_top1 = 2;
    rr.rank_agreement = 2.0 / 3;
    rr.labelled = true;
    rr.mrr_reference = 0.5;
    rr.mrr_artifact = 0.25;
    rr.ndcg_reference = 0.625;
    rr.ndcg_artifact = 0.5;
    rr.drop_points = 25;
    rr.artifact_mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    assert_int_equal(qf_rerank_report_write_html(&rr, &c, 0.5, page_path("rr.html"), &err), QF_STATUS_OK);
    html = slurp(page_path("rr.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "id=\"metric-mrr_at_10\"><td>MRR@10 (headline)</td><td class=\"n\">0.5000</td>"
                                 "<td class=\"n\">0.2500</td><td class=\"n\">25.00 pt</td>"));
    assert_non_null(strstr(html, "id=\"metric-ndcg_at_10\"><td>NDCG@10</td><td class=\"n\">0.6250</td>"));
    assert_non_null(strstr(html, "<td>score Spearman</td><td>n/a FP32 vs dynamic int8</td>"));
    /* an undefined Spearman fails its gate, and the line says it is undefined */
    assert_non_null(strstr(html, "score Spearman undefined, --min-spearman 0.5: FAIL"));
    assert_null(strstr(html, " nan"));
    assert_non_null(strstr(html, "66.67% rank (same top-1 in 2 of 3 groups of 2+ rows)"));
    free(html);

    qf_embedding_report e;
    memset(&e, 0, sizeof e);
    e.rows = 5;
    e.pooling = QF_POOLING_MEAN;
    e.normalize = true;
    e.dimensions = 64;
    e.mean_cosine = 0.9990001;
    e.min_cosine = 0.99;
    e.min_cosine_row = 3;
    e.retrieval_rows = 5;
    e.top1_agreement = 0.8;
    e.top10_overlap = 0.95;
    e.artifact_mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    qf_sts_report sts = {5, 0.8, 0.7, 10.0, 0.5};
    c.has_min_cosine = true;
    c.min_cosine = 0.999;
    assert_int_equal(qf_embedding_report_write_html(&e, &sts, &c, page_path("emb.html"), &err), QF_STATUS_OK);
    html = slurp(page_path("emb.html"), NULL);
    check_page(html);
    assert_non_null(strstr(html, "id=\"metric-sts_spearman\"><td>STS Spearman of cosine vs score (headline)</td>"
                                 "<td class=\"n\">0.8000</td><td class=\"n\">0.7000</td><td class=\"n\">10.00 pt</td>"));
    assert_non_null(strstr(html, "<tr id=\"metric-cosine_mean\"><td>cosine FP32&#8596;artifact, mean</td>"
                                 "<td class=\"n\">0.999000</td>"));
    assert_non_null(strstr(html, "mean cosine 0.999000 &ge; --min-cosine 0.999: PASS"));
    assert_non_null(strstr(html, "STS Spearman drop 10.00 pt &gt; --max-drop 1: FAIL"));
    assert_non_null(strstr(html, "top-1 agreement 80.00%"));
    assert_non_null(strstr(html, "min 0.990000 (row 3)"));
    free(html);
    /* no STS rows: no headline metric, the gate of --max-drop not shown */
    assert_int_equal(qf_embedding_report_write_html(&e, NULL, &c, page_path("emb.html"), &err), QF_STATUS_OK);
    html = slurp(page_path("emb.html"), NULL);
    check_page(html);
    assert_null(strstr(html, "metric-sts_spearman"));
    assert_null(strstr(html, "--max-drop"));
    free(html);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qf_html_jobs_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification_golden),
        cmocka_unit_test(test_ner_page),
        cmocka_unit_test(test_qa_page),
        cmocka_unit_test(test_scoring_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
