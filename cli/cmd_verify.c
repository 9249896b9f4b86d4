/*
 * cli/cmd_verify.c — `qforge verify` (FP32 reference vs the artifact on labelled rows: accuracy
 * drop, agreement, logit distance, per-layer SQNR; exit 3 past --max-drop; JSON report) and
 * `qforge run` (the encoder as a runtime: logits or embeddings as JSONL). Both find the tokenizer
 * and the sequence length the same way.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd_qa.h"
#include "cli/cmd_rank.h"
#include "cli/cmd_ner.h"
#include "cli/jobs.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

enum { QF_EXIT_DROP = 3 };

/* The tokenizer of model m: --tokenizer, else beside each of the given files in turn
 * (qf_tokenizer_find). A sentence-transformers pipeline with do_lower_case (pipeline.do_lower_case)
 * needs a tokenizer that lower-cases: the folder's does (qf_tokenizer_sentence_lowercase), a
 * tokenizer.json named alone may not, and is refused then. */
static int load_tokenizer(const qf_model *m, const char *explicit_path, const char *const *beside, size_t nbeside,
                          qf_tokenizer **out, char *used, size_t used_size)
{
    qf_error err;
    qf_error_clear(&err);
    if (qf_tokenizer_find(explicit_path, beside, nbeside, out, used, used_size, &err)) return qf_cli_fail(&err);
    const char *lower = qf_model_get_meta(m, "pipeline.do_lower_case");
    if (*out && lower && strcmp(lower, "true") == 0 && !qf_tokenizer_lowercases(*out)) {
        fprintf(stderr, "error: the model's sentence-transformers pipeline lower-cases every text (do_lower_case in "
                        "sentence_bert_config.json), but the tokenizer %s does not: name the model's folder with "
                        "--tokenizer\n",
                qf_cli_safe(used && used[0] ? used : explicit_path ? explicit_path : "found"));
        qf_tokenizer_destroy(*out);
        *out = NULL;
        return QF_EXIT_ERROR;
    }
    return QF_EXIT_OK;
}


/* --output logits prints one label per row: only a sequence-classification head makes one. A
 * token classifier's or a QA model's head also has "logits", per token: printing them as a row's
 * would be a wrong answer that looks valid, so the command refuses and names the head. */
static int require_sequence_head(const qf_model *m, const char *path, qf_arch *out)
{
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    if (qf_arch_of(m, &a, &err)) return qf_cli_fail(&err);
    *out = a;
    if (a.head == QF_ARCH_HEAD_SEQUENCE_CLASSIFICATION) return QF_EXIT_OK;
    const char *arch = a.architecture[0] ? a.architecture : "no architectures in config.json";
    if (a.head == QF_ARCH_HEAD_NONE)
        fprintf(stderr, "error: %s: the model has no classification head (%s): --output logits has nothing to print; "
                        "--output embedding gives its pooled hidden state\n",
                qf_cli_safe(path), qf_cli_safe(arch));
    else
        fprintf(stderr, "error: %s: the model's head is %s (%s), not sequence classification: --output logits "
                        "prints one row's class logits, which this head does not make; %s\n",
                qf_cli_safe(path), qf_arch_head_name(a.head), qf_cli_safe(arch),
                a.head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION
                    ? "--output tokens prints its per-token labels and entities"
                    : "--output embedding gives its pooled hidden state");
    return QF_EXIT_ERROR;
}

/* After a row's logits: what they mean (qf_arch_score). One label per row: "label" and its name;
 * multi-label: "scores" (sigmoid per label) and "labels", those >= 0.5, with their names; one
 * logit: "score", sigmoid or as is (regression, an Identity CrossEncoder), and no label. */
static void print_prediction(const qf_arch *a, const char *config_json, const float *v, int64_t k, int32_t best)
{
    char name[64];
    json_object *s;
    switch (a->score) {
    case QF_ARCH_SCORE_SIGMOID:
    case QF_ARCH_SCORE_IDENTITY:
        printf(", \"score\": %.9g", a->score == QF_ARCH_SCORE_SIGMOID ? 1.0 / (1.0 + exp(-(double)v[0])) : (double)v[0]);
        return;
    case QF_ARCH_SCORE_MULTI_LABEL: {
        printf(", \"scores\": [");
        for (int64_t j = 0; j < k; j++) printf("%s%.9g", j ? ", " : "", 1.0 / (1.0 + exp(-(double)v[j])));
        printf("], \"labels\": [");
        int shown = 0;
        for (int64_t j = 0; j < k; j++)
            if (1.0 / (1.0 + exp(-(double)v[j])) >= 0.5) printf("%s%d", shown++ ? ", " : "", (int)j);
        printf("], \"label_names\": [");
        shown = 0;
        for (int64_t j = 0; j < k; j++) {
            if (1.0 / (1.0 + exp(-(double)v[j])) < 0.5) continue;
            qf_label_name(config_json, (int32_t)j, name, sizeof name);
            s = json_object_new_string(name);
            printf("%s%s", shown++ ? ", " : "", json_object_to_json_string(s));
            json_object_put(s);
        }
        printf("]");
        return;
    }
    default:
        qf_label_name(config_json, best, name, sizeof name);
        s = json_object_new_string(name);
        printf(", \"label\": %d, \"label_name\": %s", (int)best, json_object_to_json_string(s));
        json_object_put(s);
    }
}

/* The embedding `run` prints: --pooling / --normalize when given, else the sentence-transformers
 * pipeline the model records (pipeline.* metadata, from modules.json when it was read), else the
 * mean without normalization. A pipeline with parts qforge does not compute is refused unless
 * --pooling says what to do instead. */
static int embedding_pipeline(const qf_model *m, const char *path, bool pooling_given, bool normalize_given,
                              qf_pooling *pooling, bool *normalize)
{
    const char *unsupported = qf_model_get_meta(m, "pipeline.unsupported");
    const char *mode = qf_model_get_meta(m, "pipeline.pooling");
    const char *norm = qf_model_get_meta(m, "pipeline.normalize");
    if (!pooling_given && unsupported) {
        fprintf(stderr, "error: %s: its sentence-transformers pipeline has %s, which qforge does not compute: the "
                        "embedding would differ from SentenceTransformer.encode's; --pooling MODE [--normalize] asks "
                        "for a plain pooled embedding instead\n",
                qf_cli_safe(path), qf_cli_safe(unsupported));
        return QF_EXIT_ERROR;
    }
    if (!pooling_given && mode && !qf_pooling_from_name(mode, pooling)) {
        fprintf(stderr, "error: %s: unknown pooling '%s' in its pipeline\n", qf_cli_safe(path), qf_cli_safe(mode));
        return QF_EXIT_ERROR;
    }
    if (!pooling_given && !normalize_given && norm) *normalize = strcmp(norm, "true") == 0;
    return QF_EXIT_OK;
}


static qf_cli_option verify_options[] = {
    QF_CLI_OPTION("data", 0, true, "FILE.jsonl", "rows {\"text\"|\"input_ids\", \"label\"} (required)"),
    QF_CLI_OPTION("reference", 0, true, "SOURCE",
                  "FP32 checkpoint to compare with (default: the source recorded in ARTIFACT)"),
    QF_CLI_SHARED(QF_CLI_MAX_DROP, "exit 3 when accuracy drops more than PTS points"),
    QF_CLI_OPTION("json", 0, true, "REPORT.json", "write the full report as JSON"),
    QF_CLI_OPTION("html", 0, true, "REPORT.html",
                  "write the report as one self-contained HTML page (every job: its metrics, the gate, changed rows; "
                  "classification: SQNR and |logit difference| charts)"),
    QF_CLI_SHARED(QF_CLI_TOKENIZER, "tokenizer.json or its folder (default: beside the reference, then ARTIFACT)"),
    QF_CLI_SHARED(QF_CLI_MAX_LENGTH, NULL),
    QF_CLI_SHARED(QF_CLI_LIMIT, NULL),
    QF_CLI_SHARED(QF_CLI_THREADS, "encoder threads (default: all cores)"),
    QF_CLI_SHARED(QF_CLI_BATCH, NULL),
    QF_CLI_OPTION("no-layers", 0, false, NULL, "skip the per-layer SQNR"),
    QF_CLI_OPTION("job", 0, true, "classification|embedding|token-classification|multi-label|rerank|qa",
                  "what to measure (default: token-classification for a token-classification head, qa for a "
                  "question-answering head, embedding for a sentence-transformers folder or a model without a "
                  "classification head, multi-label for problem_type multi_label_classification, rerank for one "
                  "label scored by sigmoid or identity (a cross-encoder), else classification)"),
    QF_CLI_OPTION("threshold", 0, true, "P", "multi-label job: a label is predicted when sigmoid(logit) >= P (default 0.5)"),
    QF_CLI_OPTION("min-spearman", 0, true, "R",
                  "rerank job: exit 3 when the Spearman of the artifact's scores to FP32's is below R"),
    QF_CLI_OPTION("min-cosine", 0, true, "C", "embedding job: exit 3 when the mean cosine to FP32 is below C"),
    QF_CLI_OPTION("pooling", 0, true, "MODE", "embedding job: pooling (default: the sentence-transformers pipeline, else mean)"),
    QF_CLI_OPTION("normalize", 0, false, NULL, "embedding job: L2-normalize (default: as the pipeline says)"),
    QF_CLI_OPTION("prompt-name", 0, true, "NAME",
                  "embedding job: prepend the pipeline's prompt NAME to every text (default: its default prompt)"),
    QF_CLI_OPTION("prompt", 0, true, "TEXT", "embedding job: prepend TEXT to every text instead (\"\": no prompt)"),
    QF_CLI_QA_OPTIONS,
    QF_CLI_SHARED(QF_CLI_QUIET, "no summary on stdout (the exit status still tells)"),
};

static qf_cli_command verify_command = {
    "verify", "ARTIFACT --data FILE.jsonl [--reference SOURCE] [--max-drop PTS] [options]",
    "Runs the reference checkpoint in FP32 and ARTIFACT (a .qf: dynamic int8, or FP32) through qforge's\n"
    "reference encoder on the same rows and reports how far apart they are: accuracy of each and the\n"
    "drop in points, top-1 agreement, mean and max |logit difference|, cosine similarity, and the\n"
    "signal-to-quantization-noise ratio of every layer's hidden states. For an embedding model (--job\n"
    "embedding, the default without a classification head: a sentence-transformers folder, a base\n"
    "encoder) it compares each row's sentence embedding (the folder's pooling and normalization, as\n"
    "SentenceTransformer.encode makes it): cosine to FP32 (mean, min) and nearest-neighbour agreement\n"
    "among the data rows (top-1, top-10 overlap); --min-cosine gates it; labels are not needed. Rows\n"
    "{\"text\", \"text_pair\", \"score\"} add the STS metric: the Spearman of cosine(text, text_pair) vs\n"
    "score for FP32 and the artifact, the headline that --max-drop gates (points: 100 x Spearman).\n"
    "Multi-label (--job multi-label; rows {\"text\", \"labels\": [names or ids]}): micro-F1 at --threshold\n"
    "and exact label-set agreement; --max-drop gates the micro-F1 drop. Rerank (--job rerank, a\n"
    "cross-encoder; rows {\"text\", \"text_pair\"} or groups {\"query\", \"text\", \"label\"}, rows with the\n"
    "same query, else the same text, forming a group): Spearman of the scores FP32 vs artifact and rank\n"
    "agreement (the fraction of groups of 2+ rows whose top-scored row is the same); with a relevance\n"
    "label (>= 0) on every row MRR@10 and NDCG@10, the MRR@10 drop gated by --max-drop; --min-spearman\n"
    "gates the score Spearman. For a\n"
    "question-answering head (--job qa, its default) rows are {\"question\", \"context\", \"answers\"}\n"
    "(answers as SQuAD / Hugging Face datasets give them, {\"text\": [...], \"answer_start\": [...]}, or a\n"
    "plain list of strings): SQuAD v1.1 exact match and F1 of each model, the F1 drop (the headline,\n"
    "gated by --max-drop) and the rows whose answer span changed; rows without answers give agreement\n"
    "only (--max-drop is then refused). For a\n"
    "token classifier (--job token-classification, the default for a *ForTokenClassification head) the\n"
    "rows are words with word tags, {\"tokens\": [...], \"labels\": [\"B-X\", \"O\", ...]} (or {\"text\",\n"
    "\"labels\"}, split at whitespace); each word takes its first token's label, a word cut off by\n"
    "--max-length is predicted O; it reports entity precision, recall and F1 (seqeval) and token\n"
    "accuracy of both, and word agreement; --max-drop gates the entity F1 drop (labels needed then).",
    "Dynamic artifacts: int8 activations are quantized per sequence exactly as ONNX DynamicQuantizeLinear\n"
    "does. Static artifacts (quant.mode static): activations use the calibrated scales stored in the .qf,\n"
    "as the QDQ graph does. Either way the figures predict what ONNX Runtime computes.\n"
    "exit status 3: the drop exceeded --max-drop, or the mean cosine fell below --min-cosine (the report\n"
    "is still written).",
    verify_options, sizeof verify_options / sizeof verify_options[0], 1, 1};

static void print_report(const qf_verify_report *r, const char *artifact, const char *reference,
                         const char *data_path, const char *prompt, int32_t max_length, bool has_max_drop,
                         double max_drop, bool passed)
{
    printf("artifact   %s (%s)\n", qf_cli_safe(artifact), qf_encoder_mode_name(r->artifact_mode));
    printf("reference  %s (FP32)\n", qf_cli_safe(reference));
    if (prompt && prompt[0]) printf("prompt     \"%s\" before the first text of each row\n", qf_cli_safe(prompt));
    printf("data       %s: %zu rows, %zu labelled, max length %d\n", qf_cli_safe(data_path), r->rows, r->labelled_rows,
           (int)max_length);
    if (r->labelled_rows)
        printf("accuracy   FP32 %.2f%%   %s %.2f%%   drop %.2f pt\n", 100 * r->accuracy_reference,
               qf_encoder_mode_name(r->artifact_mode), 100 * r->accuracy_artifact, r->drop_points);
    printf("agreement  %.2f%% top-1 (%zu of %zu rows changed)\n", 100 * r->agreement, r->changed_count, r->rows);
    printf("logits     mean |diff| %.4g   max |diff| %.4g   cosine mean %.6f   min %.6f\n", r->mean_abs_dlogit,
           r->max_abs_dlogit, r->mean_cosine, r->min_cosine);
    if (r->num_layer_outputs) {
        printf("SQNR (dB) ");
        for (size_t l = 0; l < r->num_layer_outputs; l++) {
            if (l == 0)
                printf(" embeddings ");
            else
                printf(" layers.%zu ", l - 1);
            if (isfinite(r->layer_sqnr_db[l]))
                printf("%.1f%s", r->layer_sqnr_db[l], l + 1 < r->num_layer_outputs ? "," : "");
            else
                printf("exact%s", l + 1 < r->num_layer_outputs ? "," : "");
        }
        printf("\n");
    }
    printf("time       %.2f s\n", r->seconds);
    if (has_max_drop)
        printf("result     %s: drop %.2f pt %s --max-drop %g\n", passed ? "PASS" : "FAIL", r->drop_points,
               passed ? "<=" : ">", max_drop);
}

/* What `verify` measures: --job, else an embedding model (a sentence-transformers folder, or no
 * classification head) gets the embedding job. Options of the other job are usage errors. */
static int choose_job(const qf_model *ref, const char *path, bool has_max_drop, const char *data_path, long limit,
                      bool *embedding, qf_cli_scoring_job *scoring, bool *sts)
{
    qf_cli_option *job = qf_cli_find(&verify_command, "job");
    qf_cli_job chosen;
    if (job->seen && !qf_cli_job_named(job->value, &chosen)) {
        fprintf(stderr, "qforge verify: --job must be " QF_CLI_JOB_NAMES ", not '%s'\n", qf_cli_safe(job->value));
        return QF_EXIT_USAGE;
    }
    if (!job->seen) {
        qf_arch a;
        qf_error err;
        qf_error_clear(&err);
        if (qf_arch_of(ref, &a, &err)) return qf_cli_fail(&err);
        chosen = qf_cli_job_of(ref, &a);
    }
    *embedding = chosen == QF_CLI_JOB_EMBEDDING;
    *scoring = chosen == QF_CLI_JOB_MULTI_LABEL ? QF_CLI_SCORING_MULTI_LABEL
               : chosen == QF_CLI_JOB_RERANK    ? QF_CLI_SCORING_RERANK
                                                : QF_CLI_SCORING_NONE;
    int rc = qf_cli_scoring_options(&verify_command, *scoring, path);
    if (rc) return rc;
    if (*embedding && (rc = qf_cli_sts_rows(data_path, limit, sts))) return rc;
    static const char *const embedding_only[] = {"min-cosine", "pooling", "normalize", "prompt-name", "prompt"};
    for (size_t i = 0; !*embedding && i < sizeof embedding_only / sizeof embedding_only[0]; i++)
        if (qf_cli_find(&verify_command, embedding_only[i])->seen &&
            !(i >= 3 && qf_cli_cross_encoder(ref))) { /* a CrossEncoder's prompts, whatever its job */
            fprintf(stderr, "qforge verify: --%s applies to the embedding job (%s is measured as a classifier; "
                            "--job embedding measures its embeddings)\n", embedding_only[i], qf_cli_safe(path));
            return QF_EXIT_USAGE;
        }
    if (*embedding && has_max_drop && !*sts) {
        fprintf(stderr, "qforge verify: --max-drop applies to classification; the embedding job is gated by "
                        "--min-cosine (and --max-drop with {\"text\", \"text_pair\", \"score\"} rows)\n");
        return QF_EXIT_USAGE;
    }
    return QF_EXIT_OK;
}

/* The token-classification job (cli/cmd_ner.c): --job token-classification, or no --job and a
 * token-classification head. */
static bool token_job(const qf_model *ref)
{
    qf_cli_option *job = qf_cli_find(&verify_command, "job");
    if (job->seen) return strcmp(job->value, "token-classification") == 0;
    qf_arch a;
    return !qf_arch_of(ref, &a, NULL) && qf_cli_job_of(ref, &a) == QF_CLI_JOB_TOKEN_CLASSIFICATION;
}

typedef struct verify_job {
    const char *artifact_path, *reference_path, *data_path, *tokenizer_path;
    int32_t max_length;
    const qf_dataset *data;
    qf_model *reference, *artifact;
    const qf_cli_scoring_run *sts; /* rows with "score": the STS Spearman too (NULL: none) */
    const char *prompt;            /* prepended to every text (NULL: none) */
} verify_job;

/* The embedding job: qf_verify_embeddings, its JSON report, its summary and the --min-cosine gate. */
static int verify_embeddings(const verify_job *j, const qf_verify_params *vp)
{
    qf_cli_option *min_opt = qf_cli_find(&verify_command, "min-cosine");
    double min_cosine = 0;
    if (min_opt->seen) {
        char *end = NULL;
        min_cosine = strtod(min_opt->value, &end);
        if (!end || *end || !(min_cosine >= -1 && min_cosine <= 1)) {
            fprintf(stderr, "qforge verify: --min-cosine takes a number in [-1, 1]\n");
            return QF_EXIT_USAGE;
        }
    }
    qf_pooling pooling = QF_POOLING_MEAN;
    qf_cli_option *pool_opt = qf_cli_find(&verify_command, "pooling"), *norm_opt = qf_cli_find(&verify_command, "normalize");
    if (pool_opt->seen && !qf_pooling_from_name(pool_opt->value, &pooling)) {
        fprintf(stderr, "qforge verify: --pooling must be mean, cls, max, mean_sqrt_len_tokens, weightedmean or "
                        "lasttoken, not '%s'\n", qf_cli_safe(pool_opt->value));
        return QF_EXIT_USAGE;
    }
    bool normalize = norm_opt->seen;
    int rc = embedding_pipeline(j->reference, j->reference_path, pool_opt->seen, norm_opt->seen, &pooling, &normalize);
    if (rc) return rc;
    qf_embedding_report r;
    qf_error err;
    qf_error_clear(&err);
    if (qf_verify_embeddings(j->reference, j->artifact, qf_cli_artifact_mode(j->artifact), j->data, vp, pooling, normalize, &r,
                             &err))
        return qf_cli_fail(&err);
    bool passed = !min_opt->seen || qf_verify_embedding_gate(r.mean_cosine, min_cosine);
    qf_cli_sts sts;
    if (j->sts && (rc = qf_cli_sts_measure(j->sts, j->data, pooling, normalize, &sts))) return rc;
    if (j->sts) passed = passed && sts.passed;
    qf_cli_option *json_opt = qf_cli_find(&verify_command, "json"), *html_opt = qf_cli_find(&verify_command, "html");
    qf_verify_html_context hc = qf_verify_html_context_default();
    hc.artifact_path = j->artifact_path;
    hc.reference_path = j->reference_path;
    hc.data_path = j->data_path;
    hc.tokenizer_path = j->tokenizer_path;
    hc.data = j->data;
    hc.artifact = j->artifact;
    hc.max_length = j->max_length;
    hc.has_min_cosine = min_opt->seen;
    hc.min_cosine = min_cosine;
    hc.passed = passed;
    hc.has_max_drop = j->sts && sts.has_max_drop;
    hc.max_drop = j->sts ? sts.max_drop : 0;
    hc.prompt = j->prompt;
    hc.prompt_tokens_excluded = qf_dataset_pool_skip(j->data);
    if (json_opt->seen) {
        char *text = NULL;
        size_t len = 0;
        qf_output *out = NULL;
        qf_status s = j->sts ? qf_sts_report_json(&r, &sts.report, &hc, &text, &len, &err)
                             : qf_embedding_report_json(&r, &hc, &text, &len, &err);
        if (!s) s = qf_output_open(json_opt->value, &out, &err);
        if (!s && (s = qf_output_write(out, text, len, &err)) != QF_STATUS_OK) qf_output_abort(out);
        if (!s) s = qf_output_commit(out, &err);
        free(text);
        if (s) return qf_cli_fail(&err);
    }
    if (html_opt->seen &&
        qf_embedding_report_write_html(&r, j->sts ? &sts.report : NULL, &hc, html_opt->value, &err))
        return qf_cli_fail(&err);
    if (!qf_cli_given(&verify_command, QF_CLI_QUIET)) {
        printf("artifact   %s (%s)\n", qf_cli_safe(j->artifact_path), qf_encoder_mode_name(r.artifact_mode));
        printf("reference  %s (FP32)\n", qf_cli_safe(j->reference_path));
        printf("data       %s (%zu rows, max length %d)\n", qf_cli_safe(j->data_path), r.rows, (int)j->max_length);
        printf("embedding  %s pooling%s, %lld dimensions\n", qf_pooling_name(r.pooling),
               r.normalize ? ", L2-normalized" : "", (long long)r.dimensions);
        if (j->prompt && j->prompt[0])
            printf("prompt     \"%s\" before every text%s\n", qf_cli_safe(j->prompt),
                   qf_dataset_pool_skip(j->data) ? ", its tokens left out of the pooling" : "");
        printf("cosine     mean %.6f   min %.6f (row %zu)\n", r.mean_cosine, r.min_cosine, r.min_cosine_row);
        printf("retrieval  top-1 agreement %.2f%%   top-10 overlap %.2f%% (nearest rows among %zu)\n",
               100 * r.top1_agreement, 100 * r.top10_overlap, r.retrieval_rows);
        printf("time       %.2f s\n", r.seconds + (j->sts ? sts.report.seconds : 0));
        if (j->sts) qf_cli_sts_print(&sts, r.artifact_mode);
        if (min_opt->seen)
            printf("result     %s: mean cosine %.6f %s --min-cosine %g\n", passed ? "PASS" : "FAIL", r.mean_cosine,
                   passed ? ">=" : "<", min_cosine);
    }
    return passed ? QF_EXIT_OK : QF_EXIT_DROP;
}

int qf_cmd_verify(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&verify_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    qf_cli_option *data_opt = qf_cli_find(&verify_command, "data");
    if (!data_opt->seen) {
        fprintf(stderr, "qforge verify: --data FILE.jsonl is required\nTry 'qforge verify --help'.\n");
        return QF_EXIT_USAGE;
    }
    qf_cli_command *cmd = &verify_command;
    bool has_max_drop = qf_cli_given(cmd, QF_CLI_MAX_DROP);
    double max_drop = 0;
    long max_length = 0, limit = 0, threads = 0, batch = 32;
    if (!qf_cli_points(cmd, QF_CLI_MAX_DROP, &max_drop) || !qf_cli_number(cmd, QF_CLI_MAX_LENGTH, &max_length) ||
        !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) || !qf_cli_number(cmd, QF_CLI_THREADS, &threads) ||
        !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;

    const char *artifact_path = pos[0];
    qf_error err;
    qf_error_clear(&err);
    qf_model *art = NULL, *ref = NULL;
    qf_read_params rp = qf_read_params_default();
    rp.threads = (int)threads; /* --threads 1: no second thread, the source hash included */
    int read_rc = qf_cli_read_encoder(artifact_path, &rp, &art);
    if (read_rc) return read_rc;
    qf_cli_option *ref_opt = qf_cli_find(&verify_command, "reference");
    const char *reference_path = ref_opt->seen ? ref_opt->value : qf_model_get_meta(art, "source.path");
    if (!reference_path) {
        fprintf(stderr, "error: %s records no source checkpoint: give --reference SOURCE\n", qf_cli_safe(artifact_path));
        qf_model_destroy(art);
        return QF_EXIT_ERROR;
    }
    char reference_copy[4096];
    snprintf(reference_copy, sizeof reference_copy, "%s", reference_path);
    qf_error_clear(&err);
    if ((read_rc = qf_cli_read_encoder(reference_copy, &rp, &ref))) {
        qf_model_destroy(art);
        if (!ref_opt->seen) fprintf(stderr, "note: the reference is the source recorded in %s; --reference overrides it\n",
                                    qf_cli_safe(artifact_path));
        return read_rc;
    }
    if (qf_cli_artifact_mode(ref) != QF_ENCODER_MODE_FP32) {
        fprintf(stderr, "error: %s: the reference holds quantized tensors; give the FP32 checkpoint with --reference\n",
                qf_cli_safe(reference_copy));
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return QF_EXIT_ERROR;
    }
    if (token_job(ref)) {
        rc = qf_cmd_verify_tokens(cmd, artifact_path, reference_copy, art, ref);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    if (qf_cli_verify_is_qa(cmd, ref)) {
        qf_cli_verify_qa_inputs qa = {artifact_path, reference_copy, data_opt->value, art, ref, has_max_drop, max_drop};
        rc = qf_cmd_verify_qa(cmd, &qa);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    bool embedding_job = false, sts = false;
    qf_cli_scoring_job scoring = QF_CLI_SCORING_NONE;
    if ((rc = qf_cli_qa_options_refused(cmd, "--job qa")) ||
        (rc = choose_job(ref, reference_copy, has_max_drop, data_opt->value, limit, &embedding_job, &scoring, &sts))) {
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    qf_tokenizer *tok = NULL;
    char tok_used[4200];
    const char *beside[2] = {reference_copy, artifact_path};
    rc = load_tokenizer(ref, qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, tok_used, sizeof tok_used);
    if (rc) {
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    int32_t model_len = qf_cli_model_max_tokens(ref);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = max_length ? (int32_t)max_length : model_len;
    if (dp.max_length > model_len) dp.max_length = model_len;
    /* a CrossEncoder's prompt goes before the first text whatever the job, as CrossEncoder.predict
     * and qforge run put it */
    const bool cross_encoder = !embedding_job && qf_cli_cross_encoder(ref);
    if (embedding_job || cross_encoder) qf_cli_embedding_max_length(ref, max_length > 0, &dp);
    if (cross_encoder && (rc = qf_cli_cross_encoder_refused(ref, reference_copy))) {
        qf_tokenizer_destroy(tok);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    if ((embedding_job || cross_encoder) &&
        (rc = qf_cli_embedding_prompt(ref, reference_copy, qf_cli_find(&verify_command, "prompt")->value,
                                      qf_cli_find(&verify_command, "prompt-name")->value,
                                      qf_cli_find(&verify_command, "pooling")->seen, &dp))) {
        qf_tokenizer_destroy(tok);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    dp.limit = limit;
    dp.config_json = qf_model_config_json(ref);
    qf_cli_option *html_opt = qf_cli_find(&verify_command, "html");
    dp.keep_text = html_opt->seen;
    if (sts) dp.texts = QF_DATASET_TEXTS_FIRST; /* the text_pair side is embedded on its own (cmd_rank.c) */
    qf_cli_progress ps;
    qf_cli_progress_init(&ps, "verify", false, qf_cli_given(cmd, QF_CLI_QUIET));
    qf_verify_params vp = qf_verify_params_default();
    vp.threads = (int)threads;
    vp.batch = batch;
    vp.per_layer = !qf_cli_find(&verify_command, "no-layers")->seen;
    vp.no_sentence_dense = qf_cli_find(&verify_command, "pooling")->seen; /* embeddings: the plain pooling */
    vp.progress = qf_cli_progress_update;
    vp.progress_ctx = &ps;
    qf_cli_scoring_run run = {scoring, artifact_path, reference_copy, data_opt->value, tok_used, ref, art,
                              qf_cli_artifact_mode(art), tok, dp, vp, has_max_drop, max_drop};
    if (scoring) {
        rc = qf_cli_verify_scoring(cmd, &run);
        qf_tokenizer_destroy(tok);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    qf_dataset *data = NULL;
    qf_error_clear(&err);
    if (qf_dataset_load(data_opt->value, tok, &dp, &data, &err)) {
        qf_tokenizer_destroy(tok);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return qf_cli_fail(&err);
    }
    if (embedding_job) {
        verify_job job = {artifact_path, reference_copy, data_opt->value, tok_used, dp.max_length, data, ref, art,
                          sts ? &run : NULL, dp.prompt};
        rc = verify_embeddings(&job, &vp);
        qf_dataset_destroy(data);
        qf_tokenizer_destroy(tok);
        qf_model_destroy(art);
        qf_model_destroy(ref);
        return rc;
    }
    qf_verify_report report;
    qf_error_clear(&err);
    rc = QF_EXIT_OK;
    if (qf_verify_run(ref, art, qf_cli_artifact_mode(art), data, &vp, &report, &err)) {
        rc = qf_cli_fail(&err);
    } else {
        bool passed = !has_max_drop || qf_verify_gate(report.drop_points, max_drop);
        qf_cli_option *json_opt = qf_cli_find(cmd, "json");
        qf_verify_html_context hc = qf_verify_html_context_default();
        hc.artifact_path = artifact_path;
        hc.reference_path = reference_copy;
        hc.data_path = data_opt->value;
        hc.tokenizer_path = tok_used;
        hc.data = data;
        hc.artifact = art;
        hc.config_json = qf_model_config_json(ref);
        hc.max_length = dp.max_length;
        hc.has_max_drop = has_max_drop;
        hc.max_drop = max_drop;
        hc.passed = passed;
        hc.prompt = dp.prompt;
        if (json_opt->seen) {
            char *text = NULL;
            size_t len = 0;
            qf_output *out = NULL;
            qf_error_clear(&err);
            qf_status s = qf_verify_report_json(&report, &hc, &text, &len, &err);
            if (!s) s = qf_output_open(json_opt->value, &out, &err);
            if (!s && (s = qf_output_write(out, text, len, &err)) != QF_STATUS_OK) qf_output_abort(out);
            if (!s) s = qf_output_commit(out, &err);
            if (s) rc = qf_cli_fail(&err);
            free(text);
        }
        qf_error_clear(&err);
        if (html_opt->seen && !rc && qf_verify_report_write_html(&report, &hc, html_opt->value, &err))
            rc = qf_cli_fail(&err);
        if (!qf_cli_given(cmd, QF_CLI_QUIET))
            print_report(&report, artifact_path, reference_copy, data_opt->value, dp.prompt, dp.max_length,
                         has_max_drop, max_drop, passed);
        if (!rc && !passed) rc = QF_EXIT_DROP;
        qf_verify_report_free(&report);
    }
    qf_dataset_destroy(data);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(art);
    qf_model_destroy(ref);
    return rc;
}

static qf_cli_option run_options[] = {
    QF_CLI_OPTION("data", 0, true, "FILE.jsonl", "rows {\"text\"|\"input_ids\"} (required)"),
    QF_CLI_OPTION("output", 0, true, "logits|embedding|tokens|spans", "what to print per row (default logits)"),
    QF_CLI_OPTION("pooling", 0, true, "MODE",
                  "embedding pooling: mean, cls, max, mean_sqrt_len_tokens, weightedmean, lasttoken (default: the "
                  "folder's sentence-transformers pipeline, else mean)"),
    QF_CLI_OPTION("normalize", 0, false, NULL, "L2-normalize the embedding (default: as the pipeline says, else no)"),
    QF_CLI_OPTION("prompt-name", 0, true, "NAME",
                  "embedding: prepend the pipeline's prompt NAME (config_sentence_transformers.json \"prompts\") to "
                  "every text (default: its default_prompt_name, if any)"),
    QF_CLI_OPTION("prompt", 0, true, "TEXT", "embedding: prepend TEXT to every text instead (\"\": no prompt)"),
    QF_CLI_SHARED(QF_CLI_TOKENIZER, "tokenizer.json or its folder (default: beside ARTIFACT, then its source)"),
    QF_CLI_SHARED(QF_CLI_MAX_LENGTH, NULL),
    QF_CLI_SHARED(QF_CLI_LIMIT, NULL),
    QF_CLI_SHARED(QF_CLI_THREADS, "encoder threads (default: all cores)"),
    QF_CLI_SHARED(QF_CLI_BATCH, NULL),
    QF_CLI_QA_OPTIONS,
};

static qf_cli_command run_command = {
    "run", "ARTIFACT --data FILE.jsonl [--output logits|embedding|tokens|spans] [options]",
    "Runs the encoder on every row and prints one JSON object per row: {\"row\", \"logits\", \"label\"}\n"
    "(the predicted class, named by config.json's id2label; for problem_type multi_label_classification\n"
    "\"scores\" (sigmoid) and \"labels\" (>= 0.5) instead; for one label, a cross-encoder's \"score\":\n"
    "sigmoid, or the logit for regression or an Identity activation) or {\"row\", \"embedding\"}: for a\n"
    "sentence-transformers folder (modules.json beside the checkpoint) or a .qf made from one, what\n"
    "SentenceTransformer.encode returns (its Pooling mode, its Dense modules, then Normalize);\n"
    "otherwise the mask-weighted mean of the last hidden state. --pooling and --normalize override\n"
    "both (--pooling: the plain pooling, without Dense modules). Every text gets the pipeline's default\n"
    "prompt (config_sentence_transformers.json), or the one --prompt-name names, or --prompt's text, as\n"
    "encode() prepends it (with include_prompt false its tokens are left out of the pooling); a\n"
    "sentence-transformers CrossEncoder folder's prompt goes before the first text of each pair. A\n"
    "pipeline qforge cannot compute is refused, naming what. --output tokens (a\n"
    "token-classification head): {\"row\", \"token_logits\" (every token, special ones included),\n"
    "\"labels\" (id2label of each argmax), \"entities\"}: transformers' pipeline with\n"
    "aggregation_strategy=\"simple\", each {\"label\", \"start\", \"end\" (characters of the text),\n"
    "\"text\", \"score\"}; rows of input_ids have no text: {\"label\", \"tokens\": [first, last],\n"
    "\"score\"}, the ids the tokenizer's post-processor adds ([CLS], [SEP]) taken as its special\n"
    "tokens. ARTIFACT is a .qf (int8 runs in dynamic int8) or any checkpoint.",
    "--output spans (a question-answering head): rows {\"question\", \"context\"}; prints {\"row\",\n"
    "\"start_logits\", \"end_logits\", \"answer\": {\"text\", \"start\", \"end\", \"score\"}} as\n"
    "transformers' question-answering pipeline answers (fast tokenizer, align_to_words=True: the whole\n"
    "words of the span's first and last tokens; --no-align-to-words: the tokens' own characters): a context\n"
    "longer than a window is cut into windows of --max-seq-len tokens sharing --doc-stride tokens, as\n"
    "the tokenizer's only_second truncation with stride makes them; such a row prints \"windows\":\n"
    "[{\"start_logits\", \"end_logits\"}, ...] in window order instead of the two arrays (each array one\n"
    "logit per token of its window, special tokens and question included, as the model returns them).\n"
    "start and end are characters (code points) of the context, text its substring, score\n"
    "p_start * p_end of the softmax over the window's context tokens; \"answer\" is null when no\n"
    "window gives one, and for {\"input_ids\"} rows (logits only).", run_options, sizeof run_options / sizeof run_options[0], 1, 1};

int qf_cmd_run(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&run_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    qf_cli_option *data_opt = qf_cli_find(&run_command, "data");
    if (!data_opt->seen) {
        fprintf(stderr, "qforge run: --data FILE.jsonl is required\nTry 'qforge run --help'.\n");
        return QF_EXIT_USAGE;
    }
    qf_cli_option *out_opt = qf_cli_find(&run_command, "output");
    if (out_opt->seen && strcmp(out_opt->value, "tokens") == 0) return qf_cmd_run_tokens(&run_command, pos[0]);
    if (out_opt->seen && strcmp(out_opt->value, "spans") == 0)
        return qf_cmd_run_spans(&run_command, pos[0], data_opt->value);
    if ((rc = qf_cli_qa_options_refused(&run_command, "--output spans"))) return rc;
    bool embedding = out_opt->seen && strcmp(out_opt->value, "embedding") == 0;
    if (out_opt->seen && !embedding && strcmp(out_opt->value, "logits") != 0) {
        fprintf(stderr, "qforge run: --output must be logits, embedding, tokens or spans, not '%s'\n",
                qf_cli_safe(out_opt->value));
        return QF_EXIT_USAGE;
    }
    qf_cli_option *pool_opt = qf_cli_find(&run_command, "pooling"), *norm_opt = qf_cli_find(&run_command, "normalize");
    qf_pooling pooling = QF_POOLING_MEAN;
    if (pool_opt->seen && !qf_pooling_from_name(pool_opt->value, &pooling)) {
        fprintf(stderr, "qforge run: --pooling must be mean, cls, max, mean_sqrt_len_tokens, weightedmean or lasttoken, "
                        "not '%s'\n", qf_cli_safe(pool_opt->value));
        return QF_EXIT_USAGE;
    }
    qf_cli_option *prompt_opt = qf_cli_find(&run_command, "prompt"), *prompt_name_opt = qf_cli_find(&run_command, "prompt-name");
    if ((pool_opt->seen || norm_opt->seen) && !embedding) {
        fprintf(stderr, "qforge run: --pooling and --normalize apply to --output embedding\n");
        return QF_EXIT_USAGE;
    }
    qf_cli_command *cmd = &run_command;
    long max_length = 0, limit = 0, threads = 0, batch = 32;
    if (!qf_cli_number(cmd, QF_CLI_MAX_LENGTH, &max_length) || !qf_cli_number(cmd, QF_CLI_LIMIT, &limit) ||
        !qf_cli_number(cmd, QF_CLI_THREADS, &threads) || !qf_cli_number(cmd, QF_CLI_BATCH, &batch))
        return QF_EXIT_USAGE;
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    if ((rc = qf_cli_read_encoder(pos[0], &rp, &m))) return rc;
    qf_arch arch;
    memset(&arch, 0, sizeof arch);
    if (!embedding && (rc = require_sequence_head(m, pos[0], &arch))) {
        qf_model_destroy(m);
        return rc;
    }
    const bool cross_encoder = !embedding && qf_cli_cross_encoder(m);
    if ((prompt_opt->seen || prompt_name_opt->seen) && !embedding && !cross_encoder) {
        fprintf(stderr, "qforge run: --prompt and --prompt-name apply to --output embedding and to a sentence-transformers "
                        "CrossEncoder (%s is neither)\n", qf_cli_safe(pos[0]));
        qf_model_destroy(m);
        return QF_EXIT_USAGE;
    }
    if (cross_encoder && (rc = qf_cli_cross_encoder_refused(m, pos[0]))) {
        qf_model_destroy(m);
        return rc;
    }
    bool normalize = norm_opt->seen;
    if (embedding && (rc = embedding_pipeline(m, pos[0], pool_opt->seen, norm_opt->seen, &pooling, &normalize))) {
        qf_model_destroy(m);
        return rc;
    }
    qf_tokenizer *tok = NULL;
    char tok_used[4200];
    const char *beside[2] = {pos[0], qf_model_get_meta(m, "source.path")};
    rc = load_tokenizer(m, qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 2, &tok, tok_used, sizeof tok_used);
    if (rc) {
        qf_model_destroy(m);
        return rc;
    }
    int32_t model_len = qf_cli_model_max_tokens(m);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = max_length && max_length < model_len ? (int32_t)max_length : model_len;
    if (embedding || cross_encoder) qf_cli_embedding_max_length(m, max_length > 0, &dp);
    if ((embedding || cross_encoder) &&
        (rc = qf_cli_embedding_prompt(m, pos[0], prompt_opt->value, prompt_name_opt->value, pool_opt->seen, &dp))) {
        qf_tokenizer_destroy(tok);
        qf_model_destroy(m);
        return rc;
    }
    dp.limit = limit;
    dp.config_json = qf_model_config_json(m);
    qf_dataset *data = NULL;
    qf_encoder *enc = NULL;
    const char *config_json = qf_model_config_json(m);
    int32_t longest = 0;
    if (!qf_dataset_load(data_opt->value, tok, &dp, &data, &err)) {
        for (size_t i = 0; i < qf_dataset_size(data); i++)
            if (qf_dataset_row_at(data, i)->length > longest) longest = qf_dataset_row_at(data, i)->length;
        qf_encoder_params ep = qf_encoder_params_default();
        ep.threads = (int)threads;
        ep.mode = qf_cli_artifact_mode(m);
        /* workspace for the batches this data set makes, not for --batch rows it never fills */
        size_t rows = qf_dataset_size(data);
        ep.max_batch = rows > 0 && rows < (size_t)batch ? (int64_t)rows : batch;
        ep.max_length = longest;
        ep.no_sentence_dense = pool_opt->seen; /* --pooling: the plain pooled embedding */
        qf_encoder_create(m, &ep, &enc, &err);
    }
    int32_t *ids = NULL, *mask = NULL, *types = NULL;
    float *pooled = NULL; /* one row's embedding when it is not the encoder's mean */
    if (!err.code && embedding && !(pooled = malloc((size_t)qf_encoder_embedding_size(enc) * sizeof(float))))
        qf_error_set(&err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (!err.code) {
        ids = malloc((size_t)batch * (size_t)longest * sizeof(int32_t));
        mask = malloc((size_t)batch * (size_t)longest * sizeof(int32_t));
        types = malloc((size_t)batch * (size_t)longest * sizeof(int32_t));
        if (!ids || !mask || !types) qf_error_set(&err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    for (size_t first = 0; !err.code && first < qf_dataset_size(data); first += (size_t)batch) {
        size_t n = qf_dataset_size(data) - first < (size_t)batch ? qf_dataset_size(data) - first : (size_t)batch;
        int64_t length = qf_dataset_pack(data, first, n, ids, mask, types);
        qf_encoder_batch in = {(int64_t)n, length, ids, mask, types};
        qf_encoder_output o;
        if (qf_encoder_run(enc, &in, &o, &err)) break;
        for (size_t i = 0; i < n; i++) {
            printf("{\"row\": %zu, ", first + i);
            int64_t k = embedding ? o.embedding_size : o.num_labels;
            const float *v = embedding ? o.pooled + i * (size_t)o.hidden_size : o.logits + i * (size_t)o.num_labels;
            if (embedding && (pooling != QF_POOLING_MEAN || normalize || o.sentence_dense || qf_dataset_pool_skip(data))) {
                qf_embedding_pool(&in, &o, (int64_t)i, qf_dataset_pool_skip(data), pooling, normalize, pooled);
                v = pooled;
            }
            printf(embedding ? "\"embedding\": [" : "\"logits\": [");
            int32_t best = 0;
            for (int64_t j = 0; j < k; j++) {
                printf("%s%.9g", j ? ", " : "", (double)v[j]);
                if (v[j] > v[best]) best = (int32_t)j;
            }
            printf("]");
            if (!embedding) print_prediction(&arch, config_json, v, k, best);
            printf("}\n");
        }
    }
    rc = err.code ? qf_cli_fail(&err) : QF_EXIT_OK;
    free(pooled);
    free(ids);
    free(mask);
    free(types);
    qf_encoder_destroy(enc);
    qf_dataset_destroy(data);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(m);
    return rc;
}

int qf_cli_embedding_pipeline(const qf_model *m, const char *path, qf_pooling *pooling, bool *normalize)
{
    *pooling = QF_POOLING_MEAN;
    *normalize = false;
    return embedding_pipeline(m, path, false, false, pooling, normalize);
}
