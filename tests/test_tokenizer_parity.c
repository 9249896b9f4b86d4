/*
 * tests/test_tokenizer_parity.c: our token ids against Hugging Face's on real data.
 *
 *   - transformers' own ids: models/debsec-bert/reference_logits.json holds the input_ids Python
 *     transformers computed (tokenizer.json, max_length 48, padded) for the first 256 rows of
 *     data/debsec/eval.jsonl;
 *   - the oracle: every row of eval.jsonl and calib.jsonl, truncated at 48 and untruncated, encoded
 *     by @huggingface/tokenizers (node fixtures/gen/tokenizer_oracle.mjs, run here into the build
 *     folder), with debsec-bert's WordPiece tokenizer.json and the byte-level BPE fixture
 *     fixtures/tokenizer/roberta-mini (as tokenizer.json and as vocab.json + merges.txt).
 *
 * Needs ../shared (skips, exit 77, when absent). Without node or node_modules only the first part
 * runs and the test reports itself skipped.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/verify.h"

#define SHARED QF_SHARED_DIR
#define DEBSEC_TOK SHARED "/models/debsec-bert/tokenizer.json"
#define REFERENCE SHARED "/models/debsec-bert/reference_logits.json"
#define EVAL SHARED "/data/debsec/eval.jsonl"
#define CALIB SHARED "/data/debsec/calib.jsonl"
#define ROBERTA QF_SOURCE_DIR "/fixtures/tokenizer/roberta-mini/tokenizer.json"
#define ROBERTA_FILES QF_SOURCE_DIR "/fixtures/tokenizer/roberta-mini-files"
#define ORACLE_DIR QF_BINARY_DIR "/tokenizer_oracle"

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct rows {
    char **text;
    size_t *len;
    size_t n;
} rows;

static rows g_rows;

static void read_rows(const char *path, rows *r)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n <= 1) continue;
        json_object *o = json_tokener_parse(line), *t;
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "text", &t));
        r->text = realloc(r->text, (r->n + 1) * sizeof *r->text);
        r->len = realloc(r->len, (r->n + 1) * sizeof *r->len);
        assert_non_null(r->text);
        assert_non_null(r->len);
        r->len[r->n] = (size_t)json_object_get_string_len(t);
        r->text[r->n] = malloc(r->len[r->n] + 1);
        memcpy(r->text[r->n], json_object_get_string(t), r->len[r->n] + 1);
        r->n++;
        json_object_put(o);
    }
    free(line);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    read_rows(EVAL, &g_rows);
    read_rows(CALIB, &g_rows);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_rows.n; i++) free(g_rows.text[i]);
    free(g_rows.text);
    free(g_rows.len);
    return 0;
}

static qf_tokenizer *load(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load(path, &t, &err) != QF_STATUS_OK) {
        char buf[1024];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("%s", buf);
    }
    return t;
}

/* transformers' ids for the first 256 eval rows (max_length 48, padded with [PAD]). */
static void test_reference_ids(void **state)
{
    (void)state;
    json_object *root = json_object_from_file(REFERENCE), *ids;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "input_ids", &ids));
    size_t n = json_object_array_length(ids), same = 0;
    assert_true(n == 256 && n <= g_rows.n);
    qf_tokenizer *t = load(DEBSEC_TOK);
    qf_tokenize_params p = qf_tokenize_params_default();
    p.max_length = 48;
    p.pad_to = 48;
    qf_encoding e = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(qf_tokenizer_encode(t, g_rows.text[i], g_rows.len[i], &p, &e, NULL), QF_STATUS_OK);
        json_object *row = json_object_array_get_idx(ids, i);
        bool ok = e.length == json_object_array_length(row);
        for (size_t k = 0; ok && k < e.length; k++)
            ok = e.input_ids[k] == json_object_get_int(json_object_array_get_idx(row, k)) &&
                 e.attention_mask[k] == (e.input_ids[k] != qf_tokenizer_pad_id(t));
        same += ok;
    }
    printf("parity debsec-bert vs transformers reference_logits.json (max_length 48, padded): rows compared %zu, "
           "rows identical %zu\n", n, same);
    assert_int_equal(same, n);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
    json_object_put(root);
}

/* Runs the oracle into the build folder; returns the path of its output. */
static void run_oracle(const char *tok, int max_length, const char *name, char *out, size_t size)
{
    mkdir(ORACLE_DIR, 0755);
    snprintf(out, size, ORACLE_DIR "/%s_%d.txt", name, max_length);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '" QF_SOURCE_DIR "' && node fixtures/gen/tokenizer_oracle.mjs '%s' '%s' %d '" EVAL "' '" CALIB "'",
             tok, out, max_length);
    if (system(cmd) != 0) fail_msg("oracle failed: %s", cmd);
}

static void compare(const char *label, const char *ours, const char *oracle_tok, int max_length)
{
    char path[1024];
    run_oracle(oracle_tok, max_length, label, path, sizeof path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    qf_tokenizer *t = load(ours);
    qf_tokenize_params p = qf_tokenize_params_default();
    p.max_length = max_length;
    qf_encoding e = {0};
    char *line = NULL;
    size_t cap = 0, i = 0, same = 0, shown = 0;
    while (getline(&line, &cap, f) > 0 && i < g_rows.n) {
        assert_int_equal(qf_tokenizer_encode(t, g_rows.text[i], g_rows.len[i], &p, &e, NULL), QF_STATUS_OK);
        char *s = line, *end;
        size_t k = 0;
        bool ok = true;
        for (;;) {
            long v = strtol(s, &end, 10);
            if (end == s) break;
            ok = ok && k < e.length && e.input_ids[k] == v;
            k++;
            s = end;
        }
        ok = ok && k == e.length;
        if (!ok && shown++ < 3) printf("  %s row %zu differs: %s", label, i, line);
        same += ok;
        i++;
    }
    printf("parity %s vs @huggingface/tokenizers (%s): rows compared %zu, rows identical %zu\n", label,
           max_length ? "max_length 48" : "untruncated", i, same);
    assert_int_equal(i, g_rows.n);
    assert_int_equal(same, i);
    free(line);
    fclose(f);
    qf_encoding_free(&e);
    qf_tokenizer_destroy(t);
}

static void test_debsec_bert(void **state)
{
    (void)state;
    compare("debsec-bert", DEBSEC_TOK, DEBSEC_TOK, 48);
    compare("debsec-bert", DEBSEC_TOK, DEBSEC_TOK, 0);
}

static void test_roberta_mini(void **state)
{
    (void)state;
    compare("roberta-mini", ROBERTA, ROBERTA, 48);
    compare("roberta-mini", ROBERTA, ROBERTA, 0);
    compare("roberta-mini-files", ROBERTA_FILES, ROBERTA, 0);
}

int main(void)
{
    if (!exists(SHARED) || !exists(DEBSEC_TOK) || !exists(EVAL) || !exists(CALIB) || !exists(REFERENCE)) {
        printf("SKIP: %s (debsec-bert tokenizer and data) is absent\n", SHARED);
        return 77;
    }
    const struct CMUnitTest reference[] = {cmocka_unit_test(test_reference_ids)};
    const struct CMUnitTest oracle[] = {
        cmocka_unit_test(test_reference_ids),
        cmocka_unit_test(test_debsec_bert),
        cmocka_unit_test(test_roberta_mini),
    };
    bool have_node = system("node --version > /dev/null 2>&1") == 0 &&
                     exists(QF_SOURCE_DIR "/node_modules/@huggingface/tokenizers/package.json");
    if (!have_node) {
        int rc = cmocka_run_group_tests(reference, setup, teardown);
        printf("SKIP: oracle parity needs node and node_modules/@huggingface/tokenizers "
               "(npm ci --ignore-scripts in %s); only the transformers reference ids were checked\n",
               QF_SOURCE_DIR);
        return rc ? rc : 77;
    }
    return cmocka_run_group_tests(oracle, setup, teardown);
}
