/*
 * cli/cmd_ner.c — token classification (NER) in the CLI: `qforge run --output tokens` (each row's
 * token logits, labels and the entities transformers' pipeline groups, with character spans) and
 * `qforge verify --job token-classification` (entity F1 and token accuracy of FP32 and the artifact
 * on word-labelled rows, word agreement, the --max-drop gate on entity F1, the JSON report). The
 * parsing is cmd_verify.c's; the measuring is verify/job_ner.c's.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_ner.h"
#include "cli/cmd_qa.h"
#include "cli/jobs.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

enum { QF_EXIT_DROP = 3 };



/* The model's head must be token classification; else an error naming the head it has. */
static int require_token_head(const qf_model *m, const char *path, const char *what)
{
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    if (qf_arch_of(m, &a, &err)) return qf_cli_fail(&err);
    if (a.head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION) return QF_EXIT_OK;
    const char *arch = a.architecture[0] ? a.architecture : "no architectures in config.json";
    fprintf(stderr, "error: %s: the model's head is %s (%s), not token classification: %s needs a "
                    "*ForTokenClassification model\n",
            qf_cli_safe(path), qf_arch_head_name(a.head), qf_cli_safe(arch), what);
    return QF_EXIT_ERROR;
}

static void print_json_string(const char *s, size_t len)
{
    json_object *o = json_object_new_string_len(s, (int)len);
    printf("%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* The ids the tokenizer's post-processor adds to one sequence ([CLS] [SEP], <s> </s>): the special
 * tokens of a row given as input_ids. Without a tokenizer none (enc stays empty). */
static qf_status post_processor_ids(const qf_tokenizer *tok, qf_encoding *enc, qf_error *err)
{
    return tok ? qf_tokenizer_post_process(tok, NULL, 0, NULL, 0, true, enc, err) : QF_STATUS_OK;
}

/* One row of `run --output tokens`. `offsets` (characters) and `text` are NULL for an input_ids row. */
static qf_status print_token_row(size_t row, const float *logits, int32_t length, int64_t n, char *const *names,
                                 const uint8_t *special, const int32_t *offsets, const char *text, size_t text_len,
                                 qf_ner_entity *entities, int32_t *bytes, qf_error *err)
{
    printf("{\"row\": %zu, \"token_logits\": [", row);
    for (int32_t t = 0; t < length; t++) {
        printf("%s[", t ? ", " : "");
        for (int64_t j = 0; j < n; j++) printf("%s%.9g", j ? ", " : "", (double)logits[(size_t)t * (size_t)n + (size_t)j]);
        printf("]");
    }
    printf("], \"labels\": [");
    for (int32_t t = 0; t < length; t++) {
        printf("%s", t ? ", " : "");
        const char *name = names[qf_ner_argmax(logits + (size_t)t * (size_t)n, (size_t)n)];
        print_json_string(name, strlen(name));
    }
    printf("], \"entities\": [");
    size_t count = 0;
    qf_status s = qf_ner_entities(logits, (size_t)length, (size_t)n, (const char *const *)names, special, offsets,
                                  entities, (size_t)length, &count, err);
    if (s) return s;
    if (offsets) qf_text_chars_to_bytes(text, text_len, offsets, bytes, 2 * (size_t)length);
    for (size_t e = 0; e < count; e++) {
        const qf_ner_entity *x = &entities[e];
        printf("%s{\"label\": ", e ? ", " : "");
        print_json_string(x->label, strlen(x->label));
        if (offsets) {
            size_t b0 = (size_t)bytes[2 * x->first_token], b1 = (size_t)bytes[2 * x->last_token + 1];
            printf(", \"start\": %d, \"end\": %d, \"text\": ", (int)x->start, (int)x->end);
            print_json_string(text + b0, b1 > b0 ? b1 - b0 : 0);
        } else {
            printf(", \"tokens\": [%d, %d]", (int)x->first_token, (int)x->last_token);
        }
        printf(", \"score\": %.9g}", x->score);
    }
    printf("]}\n");
    return QF_STATUS_OK;
}

int qf_cmd_run_tokens(qf_cli_command *cmd, const char *model_path)
{
    long max_length = 0, limit = 0, threads = 0, batch = 32;
    if (!qf_cli_number(cmd, QF_CLI_MAX_LENGTH, &max_length) || !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) ||
        !qf_cli_number(cmd, QF_CLI_THREADS, &threads) || !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;
    if (qf_cli_find(cmd, "pooling")->seen || qf_cli_find(cmd, "normalize")->seen) {
        fprintf(stderr, "qforge run: --pooling and --normalize apply to --output embedding\n");
        return QF_EXIT_USAGE;
    }
    int rc = qf_cli_qa_options_refused(cmd, "--output spans");
    if (rc) return rc;
    qf_model *m = NULL;
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    if ((rc = qf_cli_read_encoder(model_path, &rp, &m))) return rc;
    if ((rc = require_token_head(m, model_path, "--output tokens"))) {
        qf_model_destroy(m);
        return rc;
    }
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    char tok_used[4200];
    const char *beside[2] = {model_path, qf_model_get_meta(m, "source.path")};
    if (qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, tok_used, sizeof tok_used, &err)) {
        qf_model_destroy(m);
        return qf_cli_fail(&err);
    }
    int32_t model_len = qf_cli_model_max_tokens(m);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = max_length && max_length < model_len ? (int32_t)max_length : model_len;
    dp.limit = limit;
    dp.config_json = qf_model_config_json(m);
    dp.keep_text = true;
    qf_dataset *data = NULL;
    qf_encoder *enc = NULL;
    int32_t longest = 0;
    if (!qf_dataset_load(qf_cli_find(cmd, "data")->value, tok, &dp, &data, &err)) {
        for (size_t i = 0; i < qf_dataset_size(data); i++)
            if (qf_dataset_row_at(data, i)->length > longest) longest = qf_dataset_row_at(data, i)->length;
        qf_encoder_params ep = qf_encoder_params_default();
        ep.threads = (int)threads;
        ep.mode = qf_cli_artifact_mode(m);
        size_t rows = qf_dataset_size(data);
        ep.max_batch = rows > 0 && rows < (size_t)batch ? (int64_t)rows : batch;
        ep.max_length = longest;
        qf_encoder_create(m, &ep, &enc, &err);
    }
    const int64_t n = enc ? qf_encoder_arch(enc)->num_labels : 0;
    char **names = NULL;
    if (!err.code && !(names = calloc((size_t)n, sizeof *names)))
        qf_error_set(&err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (int64_t j = 0; !err.code && j < n; j++) {
        char buf[256];
        qf_label_name(qf_model_config_json(m), (int32_t)j, buf, sizeof buf);
        if (!(names[j] = strdup(buf))) qf_error_set(&err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    qf_encoding row_enc, specials;
    qf_encoding_init(&row_enc);
    qf_encoding_init(&specials);
    if (!err.code) post_processor_ids(tok, &specials, &err);
    int32_t *ids = NULL, *mask = NULL, *types = NULL, *bytes = NULL;
    uint8_t *special = NULL;
    qf_ner_entity *entities = NULL;
    if (!err.code) {
        size_t cells = (size_t)batch * (size_t)longest;
        ids = malloc(cells * sizeof *ids);
        mask = malloc(cells * sizeof *mask);
        types = malloc(cells * sizeof *types);
        bytes = malloc(2 * (size_t)longest * sizeof *bytes);
        special = malloc((size_t)longest);
        entities = malloc((size_t)longest * sizeof *entities);
        if (!ids || !mask || !types || !bytes || !special || !entities)
            qf_error_set(&err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = dp.max_length;
    for (size_t first = 0; !err.code && first < qf_dataset_size(data); first += (size_t)batch) {
        size_t b = qf_dataset_size(data) - first < (size_t)batch ? qf_dataset_size(data) - first : (size_t)batch;
        int64_t length = qf_dataset_pack(data, first, b, ids, mask, types);
        qf_encoder_batch in = {(int64_t)b, length, ids, mask, types};
        qf_encoder_output o;
        if (qf_encoder_run(enc, &in, &o, &err)) break;
        for (size_t i = 0; i < b && !err.code; i++) {
            const qf_dataset_row *r = qf_dataset_row_at(data, first + i);
            size_t text_len = 0;
            const char *text = qf_dataset_row_text(data, first + i, &text_len);
            const int32_t *offsets = NULL;
            if (text) {
                /* the row's offsets: its text encoded again as the data set encoded it */
                if (qf_tokenizer_encode(tok, text, text_len, &tp, &row_enc, &err)) break;
                if ((int32_t)row_enc.length != r->length ||
                    memcmp(row_enc.input_ids, r->input_ids, (size_t)r->length * sizeof(int32_t)) != 0) {
                    qf_error_set(&err, QF_STATUS_FORMAT, qf_cli_find(cmd, "data")->value, NULL, -1, "text",
                                 "row %zu: its tokens are not the encoding of its \"text\" alone (a \"text_pair\" "
                                 "row, or \"input_ids\" beside \"text\"): --output tokens takes rows of one text",
                                 first + i);
                    break;
                }
                offsets = row_enc.offsets;
                for (int32_t t = 0; t < r->length; t++) special[t] = row_enc.sequence_ids[t] < 0;
            } else {
                for (int32_t t = 0; t < r->length; t++) {
                    special[t] = 0;
                    for (size_t k = 0; k < specials.length; k++) special[t] |= r->input_ids[t] == specials.input_ids[k];
                }
            }
            print_token_row(first + i, o.token_logits + i * (size_t)length * (size_t)n, r->length, n, names, special,
                            offsets, text, text_len, entities, bytes, &err);
        }
    }
    rc = err.code ? qf_cli_fail(&err) : QF_EXIT_OK;
    for (int64_t j = 0; names && j < n; j++) free(names[j]);
    free(names);
    free(ids);
    free(mask);
    free(types);
    free(bytes);
    free(special);
    free(entities);
    qf_encoding_free(&row_enc);
    qf_encoding_free(&specials);
    qf_encoder_destroy(enc);
    qf_dataset_destroy(data);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(m);
    return rc;
}

static void print_ner_report(const qf_ner_report *r, const char *artifact, const char *reference, const char *data_path,
                             int32_t max_length, bool has_max_drop, double max_drop, bool passed)
{
    const char *mode = qf_encoder_mode_name(r->artifact_mode);
    printf("artifact   %s (%s)\n", qf_cli_safe(artifact), mode);
    printf("reference  %s (FP32)\n", qf_cli_safe(reference));
    printf("data       %s: %zu rows, %zu labelled, %zu words (%zu without a token: predicted O), max length %d\n",
           qf_cli_safe(data_path), r->rows, r->labelled_rows, r->words, r->words_cut, (int)max_length);
    if (r->labelled_rows) {
        printf("entity F1  FP32 %.2f%%   %s %.2f%%   drop %.2f pt\n", 100 * r->reference.f1, mode, 100 * r->artifact.f1,
               r->drop_points);
        printf("precision  FP32 %.2f%%   %s %.2f%%\n", 100 * r->reference.precision, mode, 100 * r->artifact.precision);
        printf("recall     FP32 %.2f%%   %s %.2f%%\n", 100 * r->reference.recall, mode, 100 * r->artifact.recall);
        printf("token acc  FP32 %.2f%%   %s %.2f%%\n", 100 * r->reference.accuracy, mode, 100 * r->artifact.accuracy);
        printf("entities   %llu gold, FP32 %llu predicted (%llu correct), %s %llu predicted (%llu correct)\n",
               (unsigned long long)r->reference_counts.gold, (unsigned long long)r->reference_counts.predicted,
               (unsigned long long)r->reference_counts.true_positive, mode,
               (unsigned long long)r->artifact_counts.predicted, (unsigned long long)r->artifact_counts.true_positive);
    }
    printf("agreement  %.2f%% of words (%zu of %zu words changed label)\n", 100 * r->agreement,
           r->words_compared - r->words_agreeing, r->words_compared);
    printf("logits     mean |diff| %.4g   max |diff| %.4g\n", r->mean_abs_dlogit, r->max_abs_dlogit);
    printf("time       %.2f s\n", r->seconds);
    if (has_max_drop)
        printf("result     %s: entity F1 drop %.2f pt %s --max-drop %g\n", passed ? "PASS" : "FAIL", r->drop_points,
               passed ? "<=" : ">", max_drop);
}

int qf_cmd_verify_tokens(qf_cli_command *cmd, const char *artifact_path, const char *reference_path, qf_model *art,
                         qf_model *ref)
{
    static const char *const not_here[] = {"min-cosine",  "pooling",    "normalize",      "threshold",       "min-spearman",
                                           "max-seq-len", "doc-stride", "max-answer-len", "max-question-len"};
    for (size_t i = 0; i < sizeof not_here / sizeof not_here[0]; i++)
        if (qf_cli_find(cmd, not_here[i]) && qf_cli_find(cmd, not_here[i])->seen) {
            fprintf(stderr, "qforge verify: --%s does not apply to the token-classification job (entity F1 is gated "
                            "by --max-drop and reported with --json or --html)\n", not_here[i]);
            return QF_EXIT_USAGE;
        }
    bool has_max_drop = qf_cli_given(cmd, QF_CLI_MAX_DROP);
    double max_drop = 0;
    long max_length = 0, limit = 0, threads = 0, batch = 32;
    if (!qf_cli_points(cmd, QF_CLI_MAX_DROP, &max_drop) || !qf_cli_number(cmd, QF_CLI_MAX_LENGTH, &max_length) ||
        !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) || !qf_cli_number(cmd, QF_CLI_THREADS, &threads) ||
        !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;
    int rc = require_token_head(ref, reference_path, "--job token-classification");
    if (!rc) rc = require_token_head(art, artifact_path, "--job token-classification");
    if (rc) return rc;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    char tok_used[4200];
    const char *beside[2] = {reference_path, artifact_path};
    if (qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, tok_used, sizeof tok_used, &err))
        return qf_cli_fail(&err);
    const char *data_path = qf_cli_find(cmd, "data")->value;
    int32_t model_len = qf_cli_model_max_tokens(ref);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = max_length && max_length < model_len ? (int32_t)max_length : model_len;
    dp.limit = limit;
    qf_word_rows *rows = NULL;
    if (qf_word_rows_load(data_path, tok, &dp, &rows, &err)) {
        qf_tokenizer_destroy(tok);
        return qf_cli_fail(&err);
    }
    if (has_max_drop && qf_word_rows_labelled(rows) == 0) {
        fprintf(stderr, "qforge verify: --max-drop gates the entity F1 drop, and no row of %s has \"labels\": "
                        "without word labels only the agreement is measured\n", qf_cli_safe(data_path));
        qf_word_rows_destroy(rows);
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
    qf_ner_report report;
    rc = QF_EXIT_OK;
    if (qf_verify_ner(ref, art, qf_cli_artifact_mode(art), rows, qf_model_config_json(ref), &vp, &report, &err)) {
        rc = qf_cli_fail(&err);
    } else {
        bool passed = !has_max_drop || qf_verify_gate(report.drop_points, max_drop);
        qf_cli_option *json_opt = qf_cli_find(cmd, "json"), *html_opt = qf_cli_find(cmd, "html");
        qf_verify_html_context hc = qf_verify_html_context_default();
        hc.artifact_path = artifact_path;
        hc.reference_path = reference_path;
        hc.data_path = data_path;
        hc.tokenizer_path = tok_used;
        hc.artifact = art;
        hc.config_json = qf_model_config_json(ref);
        hc.max_length = dp.max_length;
        hc.has_max_drop = has_max_drop;
        hc.max_drop = max_drop;
        hc.passed = passed;
        if (json_opt->seen) {
            char *text = NULL;
            size_t len = 0;
            qf_output *out = NULL;
            qf_status s = qf_ner_report_json(&report, &hc, qf_word_rows_sha256(rows), &text, &len, &err);
            if (!s) s = qf_output_open(json_opt->value, &out, &err);
            if (!s && (s = qf_output_write(out, text, len, &err)) != QF_STATUS_OK) qf_output_abort(out);
            if (!s) s = qf_output_commit(out, &err);
            if (s) rc = qf_cli_fail(&err);
            free(text);
        }
        if (html_opt->seen && !rc &&
            qf_ner_report_write_html(&report, &hc, qf_word_rows_sha256(rows), html_opt->value, &err))
            rc = qf_cli_fail(&err);
        if (!qf_cli_given(cmd, QF_CLI_QUIET))
            print_ner_report(&report, artifact_path, reference_path, data_path, dp.max_length, has_max_drop, max_drop,
                             passed);
        if (!rc && !passed) rc = QF_EXIT_DROP;
    }
    qf_word_rows_destroy(rows);
    qf_tokenizer_destroy(tok);
    return rc;
}
