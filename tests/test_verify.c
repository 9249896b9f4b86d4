/*
 * tests/test_verify.c — text/dataset.c and verify/verify.c on the bundled debsec-mini model:
 * JSONL rows (text, input_ids, string labels) and their errors with line and offset; the report's
 * figures (FP32 accuracy equals what transformers measured on these rows; int8 close to it) do not
 * depend on batch size; and the CLI gate: `qforge verify --max-drop 0` exits 0 on the clean
 * artifact and 3 on a deliberately damaged one.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

#define MINI QF_SOURCE_DIR "/fixtures/debsec-mini"

static char tmpdir[64];

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

static qf_model *read_model(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(path, NULL, &m, &err)) fail_msg("%s: %s", path, err.message);
    assert_int_equal(qf_arch_map(m, NULL, NULL), QF_STATUS_OK); /* once after reading, as the CLI does */
    return m;
}

static void test_dataset_rows_and_errors(void **state)
{
    (void)state;
    qf_tokenizer *tok = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_tokenizer_load(MINI "/tokenizer.json", &tok, &err), QF_STATUS_OK);
    qf_model *m = read_model(MINI "/pytorch_model.bin");
    qf_dataset_params dp = qf_dataset_params_default();
    dp.config_json = qf_model_config_json(m);
    dp.max_length = 4;
    char good[256];
    snprintf(good, sizeof good, "%s", write_text("good.jsonl", "{\"text\": \"libfoo-dev: development files for foo\", \"label\": 12}\n"
                                                "\n"
                                                "  {\"input_ids\": [5, 6, 7, 8, 9, 10], \"label\": \"devel\"}  \r\n"
                                                "{\"text\": \"no label here\"}\n"));
    qf_dataset *d = NULL;
    assert_int_equal(qf_dataset_load(good, tok, &dp, &d, &err), QF_STATUS_OK);
    assert_int_equal(qf_dataset_size(d), 3);
    assert_int_equal(qf_dataset_labelled(d), 2);
    assert_int_equal(qf_dataset_row_at(d, 0)->label, 12);
    assert_int_equal(qf_dataset_row_at(d, 0)->length, 4); /* truncated to max_length */
    assert_int_equal(qf_dataset_row_at(d, 1)->label, 1);  /* "devel" through label2id */
    assert_int_equal(qf_dataset_row_at(d, 1)->input_ids[3], 8);
    assert_int_equal(qf_dataset_row_at(d, 2)->label, -1);
    assert_int_equal(strlen(qf_dataset_sha256(d)), 64);
    assert_null(qf_dataset_row_text(d, 0, NULL)); /* texts are kept only on request */
    qf_dataset_destroy(d);
    dp.keep_text = true;
    assert_int_equal(qf_dataset_load(good, tok, &dp, &d, &err), QF_STATUS_OK);
    size_t len = 0;
    assert_string_equal(qf_dataset_row_text(d, 0, &len), "libfoo-dev: development files for foo");
    assert_int_equal(len, 37);
    assert_null(qf_dataset_row_text(d, 1, &len)); /* an input_ids row */
    assert_string_equal(qf_dataset_row_text(d, 2, NULL), "no label here");
    assert_null(qf_dataset_row_text(d, 3, NULL));
    qf_dataset_destroy(d);
    dp.keep_text = false;

    struct {
        const char *text;
        const char *part;
        int64_t offset;
        const char *needle;
    } bad[] = {
        {"{\"text\": \"a\"}\n{\"text\": \n", "line 2", 14, "not one JSON object"},
        {"{\"text\": \"a\"} trailing\n", "line 1", 0, "trailing"},
        {"[1, 2]\n", "line 1", 0, "not a JSON object"},
        {"{\"label\": 1}\n", "line 1", 0, "neither"},
        {"\n\n{\"text\": \"a\", \"label\": \"no-such-section\"}\n", "line 3", 2, "label2id"},
        {"{\"input_ids\": [1, -2]}\n", "line 1", 0, "not an id"},
        {"{\"input_ids\": [1, 2147483648]}\n", "line 1", 0, "not an id"},
        {"{\"input_ids\": [1, 2], \"token_type_ids\": [0, 2147483648]}\n", "line 1", 0, "not a type id"},
        {"{\"input_ids\": [1, 2], \"token_type_ids\": [0, 66666666666666666666666]}\n", "line 1", 0, "not a type id"},
        {"{\"input_ids\": [1, 2], \"token_type_ids\": [-1, 0]}\n", "line 1", 0, "not a type id"},
        {"{\"input_ids\": []}\n", "line 1", 0, "no tokens"},
        {"{\"text\": \"a\", \"label\": 1.5}\n", "line 1", 0, "neither an integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qf_error_clear(&err);
        const char *path = write_text("bad.jsonl", bad[i].text);
        assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_FORMAT);
        assert_null(d);
        assert_string_equal(err.part, bad[i].part);
        assert_int_equal(err.offset, bad[i].offset);
        if (!strstr(err.message, bad[i].needle)) fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].needle);
        assert_string_equal(err.file, path);
    }
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(write_text("empty.jsonl", "\n \n"), tok, &dp, &d, &err), QF_STATUS_FORMAT);
    /* text rows need a tokenizer */
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(good, NULL, &dp, &d, &err), QF_STATUS_FORMAT);
    assert_non_null(strstr(err.message, "tokenizer"));
    qf_model_destroy(m);
    qf_tokenizer_destroy(tok);
}

/* The bundled tokenizer.json (no post-processor) with BERT's [CLS] A [SEP] template, as a string. */
static char *mini_tokenizer_with_cls_sep(void)
{
    static const char from[] = "\"post_processor\": null";
    static const char to[] =
        "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", "
        "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", "
        "\"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [2], \"tokens\": "
        "[\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}}";
    FILE *f = fopen(MINI "/tokenizer.json", "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *in = malloc((size_t)n + 1), *out = malloc((size_t)n + sizeof to);
    assert_non_null(in);
    assert_non_null(out);
    assert_int_equal(fread(in, 1, (size_t)n, f), (size_t)n);
    in[n] = '\0';
    fclose(f);
    char *at = strstr(in, from);
    assert_non_null(at);
    snprintf(out, (size_t)n + sizeof to, "%.*s%s%s", (int)(at - in), in, to, at + strlen(from));
    free(in);
    return out;
}

/* A row that tokenizes to nothing: with [CLS] [SEP] (the bundled tokenizer) an empty or whitespace
 * text is a row of those two; under a tokenizer without a post-processor it has no tokens at all and
 * is refused with its line, like an empty "input_ids" (before: memcpy from NULL, UBSan). Runs under
 * the ASan+UBSan build too. Regressions: tests/fuzz/regressions/dataset/ubsan-memcpy-null-*.jsonl. */
static void test_dataset_rows_without_tokens(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL, *bare = NULL;
    /* bare: the bundled tokenizer as it is, without a post-processor; tok: with [CLS] A [SEP] */
    assert_int_equal(qf_tokenizer_load(MINI "/tokenizer.json", &bare, &err), QF_STATUS_OK);
    char *json = mini_tokenizer_with_cls_sep();
    assert_int_equal(qf_tokenizer_load_json(json, strlen(json), "cls-sep.json", &tok, &err), QF_STATUS_OK);
    free(json);
    assert_int_equal(qf_tokenizer_num_special_tokens(tok), 2);
    assert_int_equal(qf_tokenizer_num_special_tokens(bare), 0);

    const char *rows = "{\"text\": \"\", \"label\": 3}\n{\"text\": \" \\t \\u3000 \"}\n{\"text\": \"libfoo\"}\n";
    const char *path = write_text("empty-rows.jsonl", rows);
    qf_dataset_params dp = qf_dataset_params_default();
    qf_dataset *d = NULL;
    assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_OK);
    assert_int_equal(qf_dataset_size(d), 3);
    for (size_t i = 0; i < 2; i++) {
        const qf_dataset_row *r = qf_dataset_row_at(d, i);
        assert_int_equal(r->length, 2);
        assert_int_equal(r->input_ids[0], qf_tokenizer_token_to_id(tok, "[CLS]"));
        assert_int_equal(r->input_ids[1], qf_tokenizer_token_to_id(tok, "[SEP]"));
    }
    /* such rows run through verify like any other */
    qf_model *m = read_model(MINI "/pytorch_model.bin");
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = 1;
    qf_verify_report rep;
    assert_int_equal(qf_verify_run(m, m, QF_ENCODER_MODE_FP32, d, &vp, &rep, &err), QF_STATUS_OK);
    assert_int_equal(rep.rows, 3);
    assert_int_equal(rep.labelled_rows, 1);
    assert_true(rep.agreement == 1.0);
    qf_verify_report_free(&rep);
    qf_dataset_destroy(d);
    qf_model_destroy(m);

    struct {
        const char *text, *part;
        int64_t offset;
    } none[] = {
        {"{\"text\": \"\"}\n", "line 1", 0},
        {"{\"text\": \"libfoo\"}\n\n{\"text\": \" \\t \\u3000 \", \"label\": 1}\n", "line 3", 20},
        {"{\"text\": \"\\u0001\\u200b\"}\n", "line 1", 0}, /* controls and format characters: cleaned away */
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        qf_error_clear(&err);
        path = write_text("no-tokens.jsonl", none[i].text);
        assert_int_equal(qf_dataset_load(path, bare, &dp, &d, &err), QF_STATUS_FORMAT);
        assert_null(d);
        assert_string_equal(err.file, path);
        assert_string_equal(err.part, none[i].part);
        assert_int_equal(err.offset, none[i].offset);
        assert_string_equal(err.message, "row has no tokens: \"text\" is empty or only whitespace and the tokenizer "
                                         "adds no special tokens");
    }
    /* the committed regressions, through the same reader */
    const char *reg[] = {QF_SOURCE_DIR "/tests/fuzz/regressions/dataset/ubsan-memcpy-null-empty-text.jsonl",
                         QF_SOURCE_DIR "/tests/fuzz/regressions/dataset/ubsan-memcpy-null-whitespace-text.jsonl"};
    for (size_t i = 0; i < 2; i++) {
        qf_error_clear(&err);
        assert_int_equal(qf_dataset_load(reg[i], bare, &dp, &d, &err), QF_STATUS_FORMAT);
        assert_non_null(strstr(err.message, "row has no tokens"));
        assert_int_equal(qf_dataset_load(reg[i], tok, &dp, &d, &err), QF_STATUS_OK);
        assert_int_equal(qf_dataset_row_at(d, 0)->length, 2);
        qf_dataset_destroy(d);
    }
    qf_tokenizer_destroy(bare);
    qf_tokenizer_destroy(tok);
}

/* Labels against the model's classes (30: head.out.weight rows, debsec-mini): an integer label or a
 * class name's index past them is refused where the data meets the model (qf_verify_run), naming the
 * file, line and offset of the row; a negative, fractional or unknown label is refused at load. */
static void test_labels_outside_classes(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    assert_int_equal(qf_tokenizer_load(MINI "/tokenizer.json", &tok, &err), QF_STATUS_OK);
    qf_model *m = read_model(MINI "/pytorch_model.bin");
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = 1;
    qf_dataset_params dp = qf_dataset_params_default();
    dp.config_json = qf_model_config_json(m);
    qf_dataset *d = NULL;
    qf_verify_report rep;

    /* 29 is the last class: accepted (and "x11", label2id 29) */
    const char *path = write_text("labels.jsonl", "{\"text\": \"a\", \"label\": 29}\n{\"text\": \"b\", \"label\": \"x11\"}\n");
    assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_OK);
    assert_int_equal(qf_dataset_row_at(d, 1)->label, 29);
    assert_int_equal(qf_dataset_check_labels(d, 30, &err), QF_STATUS_OK);
    assert_int_equal(qf_verify_run(m, m, QF_ENCODER_MODE_FP32, d, &vp, &rep, &err), QF_STATUS_OK);
    assert_int_equal(rep.labelled_rows, 2);
    qf_verify_report_free(&rep);
    qf_dataset_destroy(d);

    /* 30 is one past: refused by verify, before any row runs */
    path = write_text("labels.jsonl", "{\"text\": \"a\", \"label\": 29}\n\n{\"text\": \"b\", \"label\": 30}\n");
    assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_OK);
    memset(&rep, 0x5a, sizeof rep);
    assert_int_equal(qf_verify_run(m, m, QF_ENCODER_MODE_FP32, d, &vp, &rep, &err), QF_STATUS_FORMAT);
    assert_int_equal(rep.rows, 0);
    assert_string_equal(err.file, path);
    assert_string_equal(err.part, "line 3");
    assert_int_equal(err.offset, 28);
    assert_string_equal(err.message, "\"label\" 30 is outside the model's 30 classes (0..29)");
    char line[1024];
    qf_error_format(&err, line, sizeof line);
    assert_non_null(strstr(line, "labels.jsonl: line 3 offset 28: \"label\" 30 is outside the model's 30 classes (0..29)"));
    qf_dataset_destroy(d);

    /* a class name whose index in config.json is past the head */
    dp.config_json = "{\"label2id\": {\"far\": 40, \"neg\": -5, \"frac\": 1.5}, \"id2label\": {\"7\": \"seven\", \"x\": \"bad\"}}";
    path = write_text("labels.jsonl", "{\"text\": \"a\", \"label\": \"seven\"}\n{\"text\": \"b\", \"label\": \"far\"}\n");
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_OK);
    assert_int_equal(qf_dataset_row_at(d, 0)->label, 7); /* through id2label: the config has no "seven" in label2id */
    assert_int_equal(qf_dataset_check_labels(d, 41, &err), QF_STATUS_OK);
    assert_int_equal(qf_verify_run(m, m, QF_ENCODER_MODE_FP32, d, &vp, &rep, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.part, "line 2");
    assert_string_equal(err.message,
                        "\"label\" 40 (its class name's index in config.json) is outside the model's 30 classes (0..29)");
    qf_dataset_destroy(d);

    /* refused at load: negative, past int32, fractional, boolean, unknown names, bad indexes in config */
    struct {
        const char *row, *message;
    } bad[] = {
        {"{\"text\": \"a\", \"label\": -1}\n", "\"label\" -1 is negative: a class index is 0 or more"},
        {"{\"text\": \"a\", \"label\": 2147483648}\n", "\"label\" 2147483648 is past int32: a class index is 0 or more"},
        {"{\"text\": \"a\", \"label\": 3.0}\n", "\"label\" 3.0 is neither an integer nor a string"},
        {"{\"text\": \"a\", \"label\": true}\n", "\"label\" true is neither an integer nor a string"},
        {"{\"text\": \"a\", \"label\": \"devel\"}\n", "label \"devel\" is not in config.json's label2id or id2label"},
        {"{\"text\": \"a\", \"label\": \"neg\"}\n", "label \"neg\": config.json gives it the class -5, not an index 0 or more"},
        {"{\"text\": \"a\", \"label\": \"frac\"}\n", "label \"frac\": config.json gives it the class 1.5, not an index 0 or more"},
        {"{\"text\": \"a\", \"label\": \"bad\"}\n", "label \"bad\": config.json gives it the class x, not an index 0 or more"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qf_error_clear(&err);
        path = write_text("labels.jsonl", bad[i].row);
        assert_int_equal(qf_dataset_load(path, tok, &dp, &d, &err), QF_STATUS_FORMAT);
        assert_null(d);
        assert_string_equal(err.part, "line 1");
        if (strcmp(err.message, bad[i].message) != 0) fail_msg("case %zu: '%s', expected '%s'", i, err.message, bad[i].message);
    }

    /* the committed regression: its second row is one past the 30 classes */
    dp.config_json = qf_model_config_json(m);
    qf_error_clear(&err);
    assert_int_equal(qf_dataset_load(QF_SOURCE_DIR "/tests/fuzz/regressions/dataset/label-outside-classes.jsonl", tok, &dp,
                                     &d, &err),
                     QF_STATUS_OK);
    assert_int_equal(qf_dataset_check_labels(d, 30, &err), QF_STATUS_FORMAT);
    assert_string_equal(err.part, "line 2");
    assert_string_equal(err.message, "\"label\" 30 is outside the model's 30 classes (0..29)");
    qf_dataset_destroy(d);
    qf_model_destroy(m);
    qf_tokenizer_destroy(tok);
}

static void test_dlogit_bins(void **state)
{
    (void)state;
    assert_int_equal(qf_verify_dlogit_bin(0.0), 0);
    assert_int_equal(qf_verify_dlogit_bin(9.99e-7), 0);
    assert_int_equal(qf_verify_dlogit_bin(1e-6), 1);
    assert_int_equal(qf_verify_dlogit_bin(1e-3), 13);
    assert_int_equal(qf_verify_dlogit_bin(0.9999e-3), 12);
    assert_int_equal(qf_verify_dlogit_bin(99.99), 32);
    assert_int_equal(qf_verify_dlogit_bin(100.0), 33);
    assert_int_equal(qf_verify_dlogit_bin(INFINITY), 33);
    assert_int_equal(qf_verify_dlogit_bin(NAN), 33);
    for (size_t b = 1; b < QF_VERIFY_DLOGIT_BINS; b++) {
        double lo = qf_verify_dlogit_bin_lower(b);
        assert_int_equal(qf_verify_dlogit_bin(lo), b); /* lower edges belong to their bin */
        assert_int_equal(qf_verify_dlogit_bin(nextafter(lo, 0.0)), b - 1);
    }
}

static void test_report_on_bundled_model(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    assert_int_equal(qf_tokenizer_load(MINI, &tok, &err), QF_STATUS_OK);
    qf_model *ref = read_model(MINI "/pytorch_model.bin");
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(ref, NULL, &q, &err), QF_STATUS_OK);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = 48; /* as transformers evaluated these rows (train_info.json) */
    qf_dataset *d = NULL;
    assert_int_equal(qf_dataset_load(MINI "/eval.jsonl", tok, &dp, &d, &err), QF_STATUS_OK);
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = 1;
    vp.per_layer = true;
    qf_verify_report a, b;
    assert_int_equal(qf_verify_run(ref, q, QF_ENCODER_MODE_DYNAMIC_INT8, d, &vp, &a, &err), QF_STATUS_OK);
    printf("debsec-mini, 300 rows: FP32 %.2f%%, int8 %.2f%%, drop %.2f pt, agreement %.2f%%, max |dlogit| %.4f\n",
           100 * a.accuracy_reference, 100 * a.accuracy_artifact, a.drop_points, 100 * a.agreement, a.max_abs_dlogit);
    assert_int_equal(a.rows, 300);
    assert_int_equal(a.correct_reference, 217); /* transformers: 72.33% of these 300 rows */
    assert_true(fabs(a.drop_points) <= 1.0);
    assert_true(a.agreement >= 0.99);
    assert_int_equal(a.num_layer_outputs, 3);
    for (size_t l = 0; l < a.num_layer_outputs; l++) assert_true(a.layer_sqnr_db[l] > 30.0);
    uint64_t in_hist = 0;
    for (size_t i = 0; i < QF_VERIFY_DLOGIT_BINS; i++) in_hist += a.dlogit_hist[i];
    assert_int_equal(a.num_labels, 30);
    assert_int_equal(in_hist, 300 * 30);
    assert_int_equal(a.dlogit_hist[qf_verify_dlogit_bin(a.max_abs_dlogit)] > 0, 1);
    for (size_t i = qf_verify_dlogit_bin(a.max_abs_dlogit) + 1; i < QF_VERIFY_DLOGIT_BINS; i++)
        assert_int_equal(a.dlogit_hist[i], 0);
    /* batch size and threads change nothing */
    vp.batch = 7;
    vp.threads = 2;
    assert_int_equal(qf_verify_run(ref, q, QF_ENCODER_MODE_DYNAMIC_INT8, d, &vp, &b, &err), QF_STATUS_OK);
    assert_int_equal(a.agreeing, b.agreeing);
    assert_true(a.max_abs_dlogit == b.max_abs_dlogit);
    assert_true(a.mean_abs_dlogit == b.mean_abs_dlogit);
    for (size_t l = 0; l < a.num_layer_outputs; l++) assert_true(a.layer_sqnr_db[l] == b.layer_sqnr_db[l]);
    assert_memory_equal(a.dlogit_hist, b.dlogit_hist, sizeof a.dlogit_hist);
    qf_verify_report_free(&b);
    /* an FP32 artifact against its own source is exact */
    assert_int_equal(qf_verify_run(ref, ref, QF_ENCODER_MODE_FP32, d, &vp, &b, &err), QF_STATUS_OK);
    assert_true(b.max_abs_dlogit == 0.0);
    assert_true(b.agreement == 1.0);
    assert_true(isinf(b.layer_sqnr_db[2]));
    assert_int_equal(b.dlogit_hist[0], 300 * 30);
    qf_verify_report_free(&b);
    qf_verify_report_free(&a);
    qf_dataset_destroy(d);
    qf_model_destroy(q);
    qf_model_destroy(ref);
    qf_tokenizer_destroy(tok);
}

/* A copy of `q` whose FFN output weights of the last layer have their rows reversed. */
static qf_model *damaged_copy(qf_model *q)
{
    qf_model *d = NULL;
    assert_int_equal(qf_model_create(&d, NULL), QF_STATUS_OK);
    assert_int_equal(qf_model_keep(d, qf_model_retain(q), (void (*)(void *))qf_model_destroy, NULL), QF_STATUS_OK);
    for (size_t i = 0; i < qf_model_meta_count(q); i++) {
        const char *k, *v;
        qf_model_meta_at(q, i, &k, &v);
        assert_int_equal(qf_model_set_meta(d, k, v, NULL), QF_STATUS_OK);
    }
    const char *cfg = qf_model_config_json(q);
    assert_int_equal(qf_model_set_config_json(d, cfg, strlen(cfg), NULL), QF_STATUS_OK);
    for (size_t i = 0; i < qf_model_tensor_count(q); i++) {
        const qf_tensor *t = qf_model_tensor(q, i);
        const void *data = t->data;
        if (strcmp(t->source_name, "bert.encoder.layer.1.output.dense.weight") == 0) {
            int8_t *copy;
            assert_int_equal(qf_model_alloc(d, t->nbytes, (void **)&copy, NULL), QF_STATUS_OK);
            size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
            for (size_t r = 0; r < rows; r++) memcpy(copy + r * cols, (const int8_t *)t->data + (rows - 1 - r) * cols, cols);
            data = copy;
        }
        size_t idx;
        assert_int_equal(qf_model_add_tensor(d, t->name, t->source_name, t->dtype, t->rank, t->shape, data, t->nbytes,
                                             &idx, NULL),
                         QF_STATUS_OK);
        if (t->quant.scheme)
            assert_int_equal(qf_model_set_quant(d, idx, t->quant.scheme, t->quant.axis, t->quant.scale_name,
                                                t->quant.zero_point_name, NULL),
                             QF_STATUS_OK);
    }
    return d;
}

static char *slurp(const char *path)
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
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* The HTML page from a hand-made report: every element the charts need, texts escaped, the cap on
 * listed rows honoured, nothing that loads or runs anything. */
static void test_html_report(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.keep_text = true;
    qf_dataset *d = NULL;
    const char *data = write_text("html.jsonl", "{\"input_ids\": [1, 2], \"label\": 0}\n"
                                                "{\"input_ids\": [3], \"text\": \"<script>alert('x')</script> & \\\"q\\\"\", \"label\": 1}\n"
                                                "{\"input_ids\": [4], \"text\": \"plain\"}\n");
    assert_int_equal(qf_dataset_load(data, NULL, &dp, &d, &err), QF_STATUS_OK);
    size_t rows[3] = {1, 2, 0};
    int32_t ra[3] = {1, 0, 0}, aa[3] = {0, 1, 1};
    double sqnr[4] = {40.0, 35.5, 30.25, INFINITY};
    qf_verify_report r;
    memset(&r, 0, sizeof r);
    r.rows = 3;
    r.labelled_rows = 2;
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
    qf_verify_html_context c = qf_verify_html_context_default();
    c.artifact_path = "a<b>.qf";
    c.reference_path = "ref.bin";
    c.data_path = data;
    c.data = d;
    c.config_json = "{\"id2label\": {\"0\": \"admin\", \"1\": \"devel<\"}}";
    c.max_changed_rows = 2;
    char path[256];
    snprintf(path, sizeof path, "%s/report.html", tmpdir);
    assert_int_equal(qf_verify_report_write_html(&r, &c, path, &err), QF_STATUS_OK);
    char *html = slurp(path);
    assert_int_equal(count(html, "<svg"), 2);
    assert_int_equal(count(html, "class=\"sqnr-bar\""), 4);
    assert_int_equal(count(html, "class=\"hist-bar\""), QF_VERIFY_DLOGIT_BINS);
    assert_int_equal(count(html, "<tr class=\"changed\">"), 2); /* capped at max_changed_rows */
    assert_non_null(strstr(html, "the first 2 of 3"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
    assert_non_null(strstr(html, "a&lt;b&gt;.qf"));
    assert_non_null(strstr(html, "devel&lt;"));
    assert_non_null(strstr(html, ">exact</text>"));
    assert_non_null(strstr(html, ">35.5</text>"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "http"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "url("));
    free(html);
    /* a run that kept fewer rows than the report may list: only those are read */
    r.changed_kept = 1;
    assert_int_equal(qf_verify_report_write_html(&r, &c, path, &err), QF_STATUS_OK);
    html = slurp(path);
    assert_int_equal(count(html, "<tr class=\"changed\">"), 1);
    assert_non_null(strstr(html, "the first 1 of 3"));
    free(html);
    r.changed_kept = 3;
    /* an unwritable destination is an IO error naming it */
    qf_error_clear(&err);
    snprintf(path, sizeof path, "%s/no/such/dir/report.html", tmpdir);
    assert_int_not_equal(qf_verify_report_write_html(&r, &c, path, &err), QF_STATUS_OK);
    assert_non_null(strstr(err.file, "report.html"));
    qf_dataset_destroy(d);
}

/* The JSON report from a hand-made report: the members `qforge verify --json` has always written,
 * in their order, class names from id2label, the cap on listed rows, null for an exact layer and
 * for paths the context leaves out, the tokenizer only when one was used, one newline at the end. */
static void test_json_report(void **state)
{
    (void)state;
    qf_error err;
    qf_error_clear(&err);
    qf_dataset *d = NULL;
    const char *data = write_text("json.jsonl", "{\"input_ids\": [1, 2], \"label\": 0}\n"
                                                "{\"input_ids\": [3], \"label\": 1}\n"
                                                "{\"input_ids\": [4]}\n");
    assert_int_equal(qf_dataset_load(data, NULL, NULL, &d, &err), QF_STATUS_OK);
    size_t rows[3] = {1, 2, 0};
    int32_t ra[3] = {1, 0, 0}, aa[3] = {0, 1, 1};
    double sqnr[2] = {40.0, INFINITY};
    qf_verify_report r;
    memset(&r, 0, sizeof r);
    r.rows = 3;
    r.labelled_rows = 2;
    r.num_labels = 2;
    r.num_layer_outputs = 2;
    r.layer_sqnr_db = sqnr;
    r.changed_count = 3;
    r.changed_kept = 3;
    r.changed_rows = rows;
    r.changed_reference_label = ra;
    r.changed_artifact_label = aa;
    r.drop_points = 1.5;
    r.artifact_mode = QF_ENCODER_MODE_STATIC_INT8;
    qf_verify_html_context c = qf_verify_html_context_default();
    c.artifact_path = "a\"b.qf";
    c.data_path = data;
    c.data = d;
    c.config_json = "{\"id2label\": {\"0\": \"admin\", \"1\": \"devel/x\"}}";
    c.max_length = 128;
    c.max_changed_rows = 2;
    c.has_max_drop = true;
    c.max_drop = 0.5;
    c.tokenizer_path = "";
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(qf_verify_report_json(&r, &c, &text, &len, &err), QF_STATUS_OK);
    assert_int_equal(len, strlen(text));
    assert_true(len > 2 && text[len - 1] == '\n' && text[len - 2] == '}');
    static const char *const order[] = {"\"artifact\": \"a\\\"b.qf\"", "\"reference\": null", "\"data\": ",
                                        "\"data_sha256\": \"", "\"rows\": 3", "\"labelled_rows\": 2",
                                        "\"max_length\": 128", "\"artifact_mode\": \"static int8\"", "\"recipe\": {\n  },",
                                        "\"accuracy\": {", "\"drop_points\": 1.5", "\"top1_agreement\": ",
                                        "\"logits\": {", "\"layers\": [", "\"sqnr_db\": 40", "\"sqnr_db\": null",
                                        "\"changed_count\": 3", "\"changed_rows\": [", "\"max_drop\": 0.5",
                                        "\"passed\": false", "\"seconds\": ", "\"qforge_version\": \""};
    const char *at = text;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *next = strstr(at, order[i]);
        if (!next) fail_msg("%s missing or out of order in\n%s", order[i], text);
        at = next;
    }
    /* rows 1 and 2 listed (the cap), row 1 with its label, row 2 without one; '/' not escaped */
    assert_non_null(strstr(text, "\"row\": 1,\n      \"reference\": \"devel/x\",\n      \"artifact\": \"admin\",\n"
                                 "      \"label\": \"devel/x\""));
    assert_non_null(strstr(text, "\"row\": 2,\n      \"reference\": \"admin\",\n      \"artifact\": \"devel/x\"\n"));
    assert_null(strstr(text, "\"row\": 0"));
    assert_null(strstr(text, "\"tokenizer\""));
    free(text);
    /* a tokenizer that was used comes last; without a gate max_drop is null */
    c.tokenizer_path = "tok/tokenizer.json";
    c.has_max_drop = false;
    c.passed = true;
    assert_int_equal(qf_verify_report_json(&r, &c, &text, NULL, &err), QF_STATUS_OK);
    assert_non_null(strstr(text, "\"max_drop\": null,\n  \"passed\": true,"));
    assert_non_null(strstr(text, "\"tokenizer\": \"tok/tokenizer.json\"\n}\n"));
    free(text);
    /* a run that kept fewer rows than the context lists: only those are read */
    r.changed_kept = 1;
    assert_int_equal(qf_verify_report_json(&r, &c, &text, NULL, &err), QF_STATUS_OK);
    assert_non_null(strstr(text, "\"row\": 1,"));
    assert_null(strstr(text, "\"row\": 2,"));
    free(text);
    r.changed_kept = 3;
    /* no context at all: paths and data null, nothing listed past the default cap */
    assert_int_equal(qf_verify_report_json(&r, NULL, &text, NULL, &err), QF_STATUS_OK);
    assert_non_null(strstr(text, "\"artifact\": null"));
    assert_non_null(strstr(text, "\"data_sha256\": null"));
    free(text);
    qf_dataset_destroy(d);
}

/* The one --max-drop rule (verify's exit 3, the static fallback's budget): a drop equal to the
 * budget up to rounding passes, anything measurably above it fails, NaN fails. */
static void test_gate(void **state)
{
    (void)state;
    assert_true(qf_verify_gate(0.0, 0.0));
    assert_true(qf_verify_gate(-5.0, 0.0)); /* the artifact did better */
    assert_true(qf_verify_gate(0.5, 0.5));
    assert_true(qf_verify_gate(100.0 * (0.7233333333333334 - 0.7166666666666667), 2.0 / 3.0)); /* 2 rows of 300 */
    assert_true(qf_verify_gate(0.5 + 1e-10, 0.5));
    assert_false(qf_verify_gate(0.5 + 1e-8, 0.5));
    assert_false(qf_verify_gate(0.34, 0.33));
    assert_false(qf_verify_gate(NAN, 1.0));
    assert_false(qf_verify_gate(0.0, NAN));
}

static int run_cli(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s verify %s > /dev/null 2>&1", QF_CLI_PATH, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_gate(void **state)
{
    (void)state;
    qf_model *ref = read_model(MINI "/pytorch_model.bin");
    qf_model *q = NULL;
    assert_int_equal(qf_model_quantize_dynamic(ref, NULL, &q, NULL), QF_STATUS_OK);
    qf_model *bad = damaged_copy(q);
    char clean[256], damaged[256], args[1024], report[256];
    snprintf(clean, sizeof clean, "%s/clean.qf", tmpdir);
    snprintf(damaged, sizeof damaged, "%s/damaged.qf", tmpdir);
    snprintf(report, sizeof report, "%s/report.json", tmpdir);
    assert_int_equal(qf_qfile_write(q, clean, NULL, NULL), QF_STATUS_OK);
    assert_int_equal(qf_qfile_write(bad, damaged, NULL, NULL), QF_STATUS_OK);
    snprintf(args, sizeof args, "%s --data %s/eval.jsonl --max-drop 0 --threads 1", clean, MINI);
    assert_int_equal(run_cli(args), 0);
    snprintf(args, sizeof args, "%s --data %s/eval.jsonl --max-drop 0 --threads 1 --json %s", damaged, MINI, report);
    assert_int_equal(run_cli(args), 3);
    FILE *f = fopen(report, "r");
    assert_non_null(f); /* the report is written even when the gate fails */
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "\"passed\": false"));
    /* usage and errors */
    snprintf(args, sizeof args, "%s --max-drop 0", clean);
    assert_int_equal(run_cli(args), 2); /* no --data */
    snprintf(args, sizeof args, "%s --data %s/eval.jsonl --max-drop -1", clean, MINI);
    assert_int_equal(run_cli(args), 2);
    snprintf(args, sizeof args, "%s --data %s/missing.jsonl 2>/dev/null", clean, tmpdir);
    assert_int_equal(run_cli(args), 1);
    qf_model_destroy(bad);
    qf_model_destroy(q);
    qf_model_destroy(ref);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qf_verify_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_rows_and_errors),
        cmocka_unit_test(test_dataset_rows_without_tokens),
        cmocka_unit_test(test_labels_outside_classes),
        cmocka_unit_test(test_dlogit_bins),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_html_report),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_report_on_bundled_model),
        cmocka_unit_test(test_cli_gate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
