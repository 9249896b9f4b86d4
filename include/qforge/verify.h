/*
 * qforge verify: what proves how far an int8 artifact is from FP32: the reference and the artifact
 * run on the same rows (runtime.h) over a dataset (text.h), metrics, the accuracy gate, the JSON
 * and HTML reports, and the accuracy-aware static fallback.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error;
 * opaque types have one create/destroy pair and destroy accepts NULL; returned pointers are
 * borrowed unless the comment says "owned".
 */
#ifndef QFORGE_VERIFY_H
#define QFORGE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"
#include "qforge/model.h"
#include "qforge/runtime.h"
#include "qforge/text.h"
#include "qforge/calibrate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =============================================================================================
 * Verification (verify/verify.c): the reference (FP32) and the artifact run on the same rows
 * =========================================================================================== */

typedef struct qf_verify_params {
    int threads;            /* encoder threads; 0: all cores */
    int64_t batch;          /* rows per encoder run; default 32 */
    bool per_layer;         /* hidden-state SQNR per layer (costs memory: layer outputs kept) */
    bool reference_kernels; /* scalar kernels instead of oneDNN (slow; for testing) */
    size_t max_changed_rows; /* indices of rows whose prediction changed, kept up to this many */
    /* Called after each batch (may be NULL): rows done so far and the total. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
    /* embeddings: the plain pooling, without the model's sentence-transformers Dense modules
     * (qf_encoder_params.no_sentence_dense; the CLI sets it when --pooling overrides the pipeline) */
    bool no_sentence_dense;
} qf_verify_params;

qf_verify_params qf_verify_params_default(void);

/* Histogram of |dlogit| (qf_verify_report.dlogit_hist), log-spaced, 4 bins per decade: bin 0 counts
 * values below 1e-6 (exact zeros included), bin i in 1..32 counts [1e-6 * 10^((i-1)/4),
 * 1e-6 * 10^(i/4)), bin 33 values >= 100. qf_verify_dlogit_bin_lower gives each bin's lower edge. */
#define QF_VERIFY_DLOGIT_BINS 34
double qf_verify_dlogit_bin_lower(size_t bin); /* 0 for bin 0; 1e-6 * 10^((bin-1)/4) after */
size_t qf_verify_dlogit_bin(double abs_dlogit); /* the bin a value falls in (NaN: the last) */

typedef struct qf_verify_report {
    size_t rows, labelled_rows;
    size_t correct_reference, correct_artifact, agreeing;
    double accuracy_reference, accuracy_artifact; /* fractions of labelled rows; 0 when none */
    double drop_points;                           /* 100 * (reference - artifact accuracy) */
    double agreement;                             /* top-1 agreement, fraction of rows */
    double mean_abs_dlogit, max_abs_dlogit;       /* over every logit of every row */
    double mean_cosine, min_cosine;               /* cosine of each row's two logit vectors */
    size_t num_layer_outputs;                     /* embeddings + each layer; 0 without per_layer */
    double *layer_sqnr_db;                        /* [num_layer_outputs], owned; +INF when identical */
    size_t changed_count;                         /* rows whose top-1 changed */
    size_t *changed_rows;                         /* first changed_kept of them, owned */
    size_t changed_kept;                          /* min(changed_count, params max_changed_rows) */
    int32_t *changed_reference_label, *changed_artifact_label; /* their two predictions, owned */
    qf_encoder_mode artifact_mode;
    double seconds;
    uint64_t dlogit_hist[QF_VERIFY_DLOGIT_BINS];  /* |dlogit| of every logit of every row, binned */
    int64_t num_labels;                           /* logits per row */
} qf_verify_report;

/*
 * Runs `reference` in FP32 and `artifact` in `artifact_mode` over every row of `data` and fills
 * `out` (free with qf_verify_report_free). Both models must be mapped to canonical slots
 * (qf_arch_map, once after reading) and must have the same architecture and head size. Sums run in row order in
 * double precision, so the report does not depend on the thread count or the batch size.
 */
qf_status qf_verify_run(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_dataset *data, const qf_verify_params *params, qf_verify_report *out,
                        qf_error *err);
void qf_verify_report_free(qf_verify_report *r); /* accepts NULL; zeroes the struct */

/*
 * The accuracy gate, the one rule behind `qforge verify --max-drop` (exit 3 when it fails) and the
 * static fallback's budget (qf_static_fallback): true when drop_points <= max_drop_points, with
 * 1e-9 points of slack so that a drop equal to the budget up to rounding passes. A NaN on either
 * side fails.
 */
bool qf_verify_gate(double drop_points, double max_drop_points);

/* The name config.json's id2label gives class `id` ("devel"), else the number, into buf.
 * `config_json` (config.json text) may be NULL. */
void qf_label_name(const char *config_json, int32_t id, char *buf, size_t size);

/* What the reports show beside the figures: the HTML page (verify/report_html.c) and the JSON
 * report (verify/report_json.c). Every pointer is borrowed for the call and may be NULL. */
typedef struct qf_verify_html_context {
    const char *artifact_path, *reference_path, *data_path, *tokenizer_path;
    const qf_dataset *data;      /* labels and (loaded with keep_text) texts of the changed rows */
    const qf_model *artifact;    /* recipe (quant.*, convert.*) and provenance (source.*, arch.*) */
    const char *config_json;     /* id2label: class names */
    int32_t max_length;
    bool has_max_drop, passed;
    double max_drop;
    size_t max_changed_rows;     /* rows listed (default 100) */
    size_t max_text;             /* characters of each row's text shown (default 400) */
    bool has_min_cosine;         /* embedding verification: the --min-cosine gate, when given */
    double min_cosine;
    /* embedding verification: the sentence-transformers prompt prepended to every text (NULL or "":
     * none), and how many leading tokens the pooling left out (include_prompt false; 0: none) */
    const char *prompt;
    int32_t prompt_tokens_excluded;
} qf_verify_html_context;

qf_verify_html_context qf_verify_html_context_default(void);

/*
 * Writes the report as one self-contained HTML page (inline SVG charts and CSS; no script, no
 * external reference) to `path`, atomically (qf_output): the summary, a bar chart of every layer's
 * SQNR (rect.sqnr-bar, one per layer output), the |dlogit| histogram (rect.hist-bar, one per bin),
 * the rows whose prediction changed (tr.changed) with their texts, the recipe and the provenance.
 * `ctx` may be NULL.
 */
qf_status qf_verify_report_write_html(const qf_verify_report *r, const qf_verify_html_context *ctx, const char *path,
                                      qf_error *err);

/*
 * The report as JSON, what `qforge verify --json` writes: artifact, reference, data (path and
 * SHA-256), rows, max_length, artifact_mode, recipe (the artifact's quant.*, source.* and convert.*
 * metadata), accuracy, drop_points, top1_agreement, logits, layers (SQNR in dB, null when
 * identical), changed_count, changed_rows (the first ctx->max_changed_rows, class names from
 * config_json), max_drop (null without a gate), passed, seconds, qforge_version, and tokenizer when
 * ctx->tokenizer_path is not empty. A path the context leaves NULL is null. *out receives the text
 * (owned, NUL-terminated, ending with a newline; free() it) and *len (may be NULL) its length;
 * writing it is the caller's (the CLI writes it atomically with qf_output). `ctx` may be NULL.
 */
qf_status qf_verify_report_json(const qf_verify_report *r, const qf_verify_html_context *ctx, char **out,
                                size_t *len, qf_error *err);


/* =============================================================================================
 * Embedding verification (verify/verify_embeddings.c): the job of an embedding model (a
 * sentence-transformers folder, a base encoder): how far the artifact's sentence embeddings are
 * from the reference's, and whether they retrieve the same neighbours
 * =========================================================================================== */

typedef struct qf_embedding_report {
    size_t rows;
    qf_pooling pooling;            /* how each row's embedding was made (then normalized or not) */
    bool normalize;
    int64_t dimensions;
    double mean_cosine, min_cosine; /* cosine of each row's reference and artifact embeddings */
    size_t min_cosine_row;
    /* Among the first retrieval_rows rows (<= QF_VERIFY_MAX_RETRIEVAL_ROWS), each row's nearest
     * other rows by cosine: top1_agreement is the fraction of rows whose nearest neighbour is the
     * same for both models, top10_overlap the mean fraction of the k = min(10, retrieval_rows - 1)
     * nearest neighbours both share (ties go to the lower row index). 1 with fewer than 2 rows. */
    size_t retrieval_rows;
    double top1_agreement, top10_overlap;
    qf_encoder_mode artifact_mode;
    double seconds;
} qf_embedding_report;

/*
 * Runs `reference` in FP32 and `artifact` in `artifact_mode` over every row of `data` (labels are
 * not needed) and compares their embeddings: `pooling` over each row's real tokens, then
 * L2-normalized when `normalize` (qf_embedding_pool, as sentence-transformers computes them). Both
 * models must be mapped and have the same hidden size. Sums in double precision, in row order:
 * the report does not depend on threads or batch size.
 */
qf_status qf_verify_embeddings(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                               const qf_dataset *data, const qf_verify_params *params, qf_pooling pooling,
                               bool normalize, qf_embedding_report *out, qf_error *err);

/* The embedding gate (`qforge verify --min-cosine`): true when mean_cosine >= min_cosine (NaN fails). */
bool qf_verify_embedding_gate(double mean_cosine, double min_cosine);

/* The report as a JSON object (owned text, free()), with the paths and provenance of `ctx` as the
 * classification report has them. */
qf_status qf_embedding_report_json(const qf_embedding_report *r, const qf_verify_html_context *ctx, char **out,
                                   size_t *len, qf_error *err);

/* =============================================================================================
 * Task metrics (verify/metrics.c): the measures of the jobs verify serves, each computed by the
 * published rules of the tool users compare against, on plain arrays. Pure: no model, no file,
 * no thread; the same inputs give the same figures. Counts and sums are kept apart from the
 * figures so that shards of a dataset add up (add the fields, then take the figures once).
 * Each _add function checks every argument first and changes nothing when it fails
 * (INVALID_ARGUMENT with err saying which input and where).
 * =========================================================================================== */

/*
 * Token classification, as seqeval's default mode scores it (Hugging Face's run_ner.py and
 * evaluate's "seqeval" metric; conlleval-compatible). A tag's first character is its kind (O, B,
 * I, E, S) and what follows the first '-' its type ("B-PER": B, PER; an empty type reads "_").
 * An entity starts at B-X, at S-X, at an I-X or E-X after O, after E- or S-, or after a different
 * type; it ends at O, at B-/S-, after E-/S-, or where the type changes (so "O I-PER I-PER" is one
 * PER entity and "B-PER I-LOC" two). Entities of one sequence never run into the next. A
 * predicted entity is a true positive when the gold sequence has one of the same type, start and
 * end. A tag whose first character is not O, B, I, E or S, or an empty tag, is refused (seqeval
 * only warns that it "seems not to be NE tag" and then chunks it by rules no tagger means).
 * Token accuracy counts the positions whose two tag strings are equal.
 */
typedef struct qf_ner_counts {
    uint64_t true_positive, predicted, gold; /* entities */
    uint64_t tokens_correct, tokens;         /* positions compared, and how many tags agree */
} qf_ner_counts;

typedef struct qf_ner_scores {
    double precision, recall, f1; /* entity-level micro averages; 0 when a denominator is 0 */
    double accuracy;              /* token accuracy; 0 when no token was compared */
} qf_ner_scores;

/* Adds one sequence of `length` tags (NUL-terminated strings; arrays may be NULL when length is 0). */
qf_status qf_ner_counts_add(qf_ner_counts *counts, const char *const *gold_tags, const char *const *predicted_tags,
                            size_t length, qf_error *err);

/* The same with tag ids naming id2label[id]. A position whose gold id is negative (-100, the ignore
 * index of transformers' token labels) is left out of both sequences, as run_ner.py drops it before
 * scoring; every other id must be in [0, num_labels). */
qf_status qf_ner_counts_add_ids(qf_ner_counts *counts, const int32_t *gold_ids, const int32_t *predicted_ids,
                                size_t length, const char *const *id2label, size_t num_labels, qf_error *err);

/* precision = tp / predicted, recall = tp / gold, f1 = 2 p r / (p + r), as seqeval's "micro avg";
 * accuracy = tokens_correct / tokens. `counts` may be NULL (all 0). */
qf_ner_scores qf_ner_scores_of(const qf_ner_counts *counts);

/*
 * Strict IOB2 check of a label sequence (to refuse malformed `labels` before scoring against them):
 * every tag is "O", "B-X" or "I-X" with X a non-empty type, and, unless `form_only`, every I-X
 * continues a B-X or I-X of the same type (an I-X after O or after another type is IOB1, not IOB2).
 * OK when valid; else INVALID_ARGUMENT, *bad_index (may be NULL) the first bad position.
 */
qf_status qf_ner_check_iob2(const char *const *tags, size_t length, bool form_only, size_t *bad_index,
                            qf_error *err);

/*
 * Extractive question answering, the official SQuAD v1.1 evaluation (evaluate-v1.1.py).
 * normalize_answer: lowercase, remove every ASCII punctuation character (Python's
 * string.punctuation), replace the whole words a, an, the by a space, then split on whitespace and
 * join with one space. Exact match: the two normalized answers are equal (1 or 0). F1: over the
 * bags of normalized tokens, common = sum over tokens of the smaller count, precision = common /
 * predicted tokens, recall = common / gold tokens, 2 p r / (p + r); 0 when nothing is in common
 * (so also 0 when both are empty, while their exact match is 1). A question scores the maximum of
 * each over its gold answers.
 *
 * Text is UTF-8 bytes. Where it differs from Python on the same text: lowercasing is ASCII A-Z
 * only (Python's str.lower also lowers non-ASCII letters: "É" stays "É" here, and the Kelvin sign
 * does not become "k"); a word is a run of ASCII letters, digits and '_' and of any non-ASCII
 * character that is not whitespace (Python's \b counts non-ASCII punctuation such as "“" or "—"
 * as a word boundary, so "“the" loses its article there and keeps it here). Whitespace is exactly
 * Python's str.split(): ASCII \t \n \v \f \r, 0x1C-0x1F and space, and U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Bytes that are not well-formed UTF-8 count
 * as one non-whitespace character each. Normalizing allocates a copy of each answer.
 */
typedef struct qf_squad_totals {
    double exact_match_sum, f1_sum; /* each question's score in [0, 1] */
    uint64_t questions;
} qf_squad_totals;

/* Adds one question: `prediction` against `num_answers` (>= 1) gold answers, NUL-terminated. */
qf_status qf_squad_add(qf_squad_totals *totals, const char *prediction, const char *const *answers,
                       size_t num_answers, qf_error *err);

/* One prediction against one gold answer: *exact_match (0 or 1) and *f1 (either may be NULL). */
qf_status qf_squad_score(const char *prediction, const char *answer, double *exact_match, double *f1,
                         qf_error *err);

/* normalize_answer of `text` into out[out_size] (NUL-terminated; never longer than the text, so
 * strlen(text) + 1 bytes always suffice; LIMIT when out_size is too small). */
qf_status qf_squad_normalize(const char *text, char *out, size_t out_size, qf_error *err);

/* Mean exact match and F1 over the questions as fractions (evaluate-v1.1.py prints 100 times
 * these); 0 with no question. `totals` may be NULL. */
double qf_squad_exact_match(const qf_squad_totals *totals);
double qf_squad_f1(const qf_squad_totals *totals);

/*
 * Multi-label classification: each (row, label) is a decision, positive when sigmoid(logit) =
 * 1 / (1 + exp(-logit)), computed in double, is >= threshold. Micro F1 over the decisions against
 * 0/1 gold labels: 2 tp / (predicted + gold), 0 when both are 0. Logits are row-major
 * [rows][labels]; a NaN logit is refused, +-inf is allowed; threshold in [0, 1].
 */
#define QF_MULTILABEL_THRESHOLD_DEFAULT 0.5

typedef struct qf_multilabel_counts {
    uint64_t true_positive, predicted, gold; /* positive decisions */
    uint64_t decisions;                      /* rows * labels */
} qf_multilabel_counts;

qf_status qf_multilabel_counts_add(qf_multilabel_counts *counts, const float *logits, const uint8_t *gold,
                                   size_t rows, size_t labels, double threshold, qf_error *err);
double qf_multilabel_f1(const qf_multilabel_counts *counts); /* `counts` may be NULL: 0 */

/* Exact label-set agreement of two predictions (reference and artifact logits, both [rows][labels]):
 * adds `rows` to *rows and the rows whose two sets of positive labels are identical to *agreeing. */
qf_status qf_multilabel_agreement_add(uint64_t *rows_total, uint64_t *agreeing, const float *logits_a,
                                      const float *logits_b, size_t rows, size_t labels, double threshold,
                                      qf_error *err);

/*
 * Spearman rank correlation, as scipy.stats.spearmanr: both sides ranked 1..n with tied values
 * given the average of their ranks, then the Pearson correlation of the ranks (clipped to
 * [-1, 1]). n >= 2, no NaN; *rho is NaN when either side is constant (undefined, as scipy says).
 * Allocates n (value, index) pairs and 2 n doubles for the ranks, freed before it returns.
 */
qf_status qf_spearman(const double *x, const double *y, size_t n, double *rho, qf_error *err);

/*
 * Ranking (reranking, retrieval) of one group: the items of one query, each with a score and a
 * gold relevance label (>= 0; relevant when > 0). Items are ordered by score, highest first, ties
 * in the order given (a stable sort: the earlier item ranks first). Within the first
 * QF_RANKING_CUTOFF items:
 *   MRR@10:  1 / rank of the first relevant item, 0 when none is there.
 *   NDCG@10: DCG / ideal DCG, DCG = sum of label / log2(rank + 1) over ranks 1..10, the ideal
 *            from the labels sorted highest first (sklearn.metrics.ndcg_score with k=10, linear
 *            gains).
 * A group with no relevant item scores 0 on both and still counts in the means, as
 * sentence-transformers' CrossEncoderRerankingEvaluator appends 0 for it (groups_without_relevant
 * says how many). A group of one item is allowed (sklearn refuses it; here it scores 1 when the
 * item is relevant). Ties differ from the Python tools: sklearn's ndcg_score averages the gains of
 * tied items, sentence-transformers' MRR takes np.argsort's reversed order; without ties all agree.
 */
#define QF_RANKING_CUTOFF 10

typedef struct qf_ranking_totals {
    double mrr_sum, ndcg_sum;
    uint64_t groups, groups_without_relevant;
} qf_ranking_totals;

qf_status qf_ranking_group_add(qf_ranking_totals *totals, const double *scores, const double *labels, size_t n,
                               qf_error *err);
double qf_ranking_mrr(const qf_ranking_totals *totals);  /* mean over groups; 0 with none */
double qf_ranking_ndcg(const qf_ranking_totals *totals); /* mean over groups; 0 with none */

/* =============================================================================================
 * Question answering (verify/qa.c): transformers' question-answering pipeline (fast tokenizer,
 * question first, top_k 1, handle_impossible_answer false, align_to_words true) and the QA job
 * =========================================================================================== */

#define QF_QA_MAX_ANSWER_LEN_DEFAULT 15
/* What the pipeline writes over the logits of tokens that cannot be in an answer before its softmax */
#define QF_QA_MASKED_LOGIT (-10000.0)

typedef struct qf_qa_params {
    int32_t max_seq_len;      /* tokens of a window, specials included; 0: min(384, the model's positions) */
    int32_t doc_stride;       /* context tokens two windows share; < 0: min(max_seq_len / 2, 128) */
    int32_t max_answer_len;   /* tokens of an answer, at most (default 15) */
    /* > 0: the question is cut to its first N tokens (what transformers does with a slow tokenizer,
     * squad_convert_examples_to_features' max_query_length; its default 64 does not apply to fast
     * tokenizers, whose pipeline keeps the whole question). 0 (default): not cut. */
    int32_t max_question_len;
    /* The answer's characters are those of the whole words its first and last tokens belong to
     * (the pipeline's align_to_words, default true: Encoding.word_to_chars over the window's
     * context tokens); false: the tokens' own offsets. */
    bool align_to_words;
} qf_qa_params;

qf_qa_params qf_qa_params_default(void); /* {0, -1, 15, 0, true} */

/* The defaults filled in for a model of `model_max_length` positions. INVALID_ARGUMENT (object the
 * parameter) when max_seq_len exceeds the model's positions, doc_stride > max_seq_len (the pipeline's
 * ValueError), or max_answer_len < 1. `in` may be NULL (defaults). */
qf_status qf_qa_params_resolve(const qf_qa_params *in, int32_t model_max_length, qf_qa_params *out, qf_error *err);

/*
 * The windows Rust tokenizers makes for tokenizer(question, context, truncation="only_second",
 * max_length=max_seq_len, stride=doc_stride, return_overflowing_tokens=True): with Q question
 * tokens, C context tokens and S special tokens of a pair, the whole context is one window when
 * Q + C <= max_seq_len - S; else each window holds L = max_seq_len - S - Q context tokens, window i
 * the tokens [i * (L - doc_stride), min(that + L, C)), until one reaches C (so consecutive windows
 * share doc_stride tokens). Refused (INVALID_ARGUMENT, object "question" / "doc_stride" /
 * "max_seq_len") where Rust refuses: no context token fits beside the question (SequenceTooShort),
 * doc_stride >= L (its assertion), max_seq_len < S. ranges receives [start, stop) pairs of context
 * token indices (2 * capacity entries); LIMIT past `capacity` or QF_QA_MAX_WINDOWS windows.
 */
qf_status qf_qa_window_ranges(size_t question_tokens, size_t context_tokens, size_t special_tokens,
                              int32_t max_seq_len, int32_t doc_stride, size_t *ranges, size_t capacity, size_t *count,
                              qf_error *err);

typedef struct qf_qa_windows {
    size_t count;
    /* [count], owned: each window as the post-processor lays question and context out
     * (qf_tokenizer_post_process, special tokens added): ids, type ids, sequence_ids (0 question,
     * 1 context, -1 special), and offsets in code points of the question (sequence 0) or of the
     * context (sequence 1) */
    qf_encoding *window;
    size_t *context_first; /* [count]: the context token each window starts at */
} qf_qa_windows;

/* The question and the context each encoded without special tokens (the question cut to
 * max_question_len when > 0), then the windows of qf_qa_window_ranges. As transformers, a context
 * that is the empty string lays the question out alone ([CLS] Q [SEP]); any other context makes a
 * pair, even one without tokens ([CLS] Q [SEP] [SEP]). `p` must be resolved. */
qf_status qf_qa_windows_build(const qf_tokenizer *t, const char *question, size_t question_len, const char *context,
                              size_t context_len, const qf_qa_params *p, qf_qa_windows *out, qf_error *err);
void qf_qa_windows_free(qf_qa_windows *w); /* accepts NULL; zeroes the struct */

typedef struct qf_qa_span {
    bool found;                  /* the best pair is a valid answer (both ends candidates) */
    size_t start_token, end_token; /* inclusive */
    double score;                /* p_start * p_end */
} qf_qa_span;

/*
 * The best span of one window of n tokens, as the pipeline's select_starts_ends and decode_spans:
 * the logits of non-candidates (candidate[i] == 0) replaced by QF_QA_MASKED_LOGIT, a softmax over
 * the window for starts and for ends (in double; the pipeline computes in float32), position 0's
 * two probabilities then set to 0, and the first maximum in (start, end) order of p_start * p_end
 * over start <= end < start + max_answer_len (all zero: (0, 0)). found is false when the maximum's
 * start or end is not a candidate (the pipeline then has no answer from this window). `scratch`
 * holds 2 * n doubles.
 */
void qf_qa_decode_window(const float *start_logits, const float *end_logits, const uint8_t *candidate, size_t n,
                         int32_t max_answer_len, double *scratch, qf_qa_span *out);

typedef struct qf_qa_result {
    size_t windows;
    size_t *window_length;         /* [windows] tokens of each window, owned */
    float *start_logits, *end_logits; /* every window's logits back to back (sum of window_length), owned */
    bool answered;                 /* false: no window gave an answer, or an input_ids row */
    size_t answer_start, answer_end; /* code points of the context, [start, end) */
    size_t answer_window;          /* the window the answer's first occurrence came from */
    double score;
    char *answer_text;             /* the context's bytes of the span, NUL-terminated, owned */
    size_t answer_len;
} qf_qa_result;

/*
 * One row through the model: its windows (an {"input_ids"} row: one window as given, no answer),
 * run by `enc` (a QA head; made with qf_qa_encoder_create) in batches of max_batch windows, each
 * window's best span (candidates: the context's tokens, and the tokens whose id is the id of the
 * template's first special token, the pipeline's cls_token_id), its text and characters from the
 * tokens' offsets (transformers' align_to_words=False). Across windows, as the pipeline's
 * postprocess: an answer whose text equals (ASCII case-insensitively; Python lowercases all of
 * Unicode) the answer of an earlier window adds its score to that one; the highest score wins, the
 * earlier on ties. Free with qf_qa_result_free.
 */
qf_status qf_qa_answer(qf_encoder *enc, int64_t max_batch, const qf_tokenizer *t, const qf_qa_row *row,
                       const qf_qa_params *p, qf_qa_result *out, qf_error *err);
void qf_qa_result_free(qf_qa_result *r); /* accepts NULL */

/* An encoder for qf_qa_answer: max_batch windows of max_seq_len tokens (or the longest
 * {"input_ids"} row of `rows`, which may be NULL). */
qf_status qf_qa_encoder_create(qf_model *m, qf_encoder_mode mode, int threads, int64_t max_batch,
                               const qf_qa_params *p, const qf_qa_rows *rows, qf_encoder **out, qf_error *err);

typedef struct qf_qa_report {
    size_t rows, answered_rows, windows;  /* answered_rows: rows with gold answers */
    /* SQuAD v1.1 over the answered rows, fractions (no answer predicted scores as "") */
    double exact_match_reference, f1_reference, exact_match_artifact, f1_artifact;
    double drop_points;                  /* 100 * (F1 reference - F1 artifact), the headline */
    size_t agreeing;                     /* rows whose answer span (or no answer) is the same */
    double agreement;                    /* agreeing / rows */
    double mean_abs_dlogit, max_abs_dlogit; /* over every start and end logit of every window */
    size_t changed_count, changed_kept;  /* rows whose span differs; the first kept */
    size_t *changed_rows;                /* [changed_kept], owned */
    qf_qa_params params;                 /* as resolved */
    qf_encoder_mode artifact_mode;
    double seconds;
    char data_sha256[65];                /* of the rows' file (qf_qa_rows_sha256) */
} qf_qa_report;

/* Both models over every row (qf_qa_answer), SQuAD scores against the rows' answers (metrics.c),
 * agreement and logit distance. `params` may be NULL. Free with qf_qa_report_free. */
qf_status qf_verify_qa(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode, const qf_tokenizer *t,
                       const qf_qa_rows *rows, const qf_qa_params *qa, const qf_verify_params *params,
                       qf_qa_report *out, qf_error *err);
void qf_qa_report_free(qf_qa_report *r); /* accepts NULL; zeroes the struct */

/* The report as JSON (owned text, free()), with the paths and provenance of `ctx` as the
 * classification report has them: job "qa", the metric figures, agreement, logits, the gate. */
qf_status qf_qa_report_json(const qf_qa_report *r, const qf_verify_html_context *ctx, char **out, size_t *len,
                            qf_error *err);

/* =============================================================================================
 * Scoring jobs (verify/job_multilabel.c, job_rerank.c, job_sts.c; shared parts in job_common.c):
 * multi-label classification, cross-encoder reranking and sentence similarity (STS). Each runs
 * the reference in FP32 and the artifact over the same rows, scores both with the job's metric
 * (the task metrics above) and reports the drop of its headline metric in points (100 x the
 * difference of fractions) for the same gate as classification (qf_verify_gate). Their JSON
 * reports start with "job" and the inputs and end with the gate, as the other reports do.
 * =========================================================================================== */

/* Multi-label: per row, the predicted set is the labels whose sigmoid(logit) >= threshold. Micro F1
 * of each model over the rows with gold "labels" (qf_row_fields_labels); the headline is the
 * artifact's micro F1 and drop_points = 100 * (f1_reference - f1_artifact). agreement: the
 * fraction of all rows whose two predicted sets are identical (qf_multilabel_agreement_add). */
typedef struct qf_multilabel_report {
    size_t rows, labelled_rows;
    int64_t num_labels;
    double threshold;
    qf_multilabel_counts reference_counts, artifact_counts; /* over the labelled rows */
    double f1_reference, f1_artifact;                       /* micro F1, fractions; 0 without labels */
    double drop_points;
    size_t agreeing;                                        /* rows with identical predicted sets */
    double agreement;
    double mean_abs_dlogit, max_abs_dlogit;                 /* over every logit of every row */
    qf_encoder_mode artifact_mode;
    double seconds;
} qf_multilabel_report;

/* `fields` (read with num_labels = the model's) must have the rows of `data`; rows without
 * "labels" count for agreement only. */
qf_status qf_verify_multilabel(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                               const qf_dataset *data, const qf_row_fields *fields, const qf_verify_params *params,
                               double threshold, qf_multilabel_report *out, qf_error *err);
/* job "multi-label": threshold, labelled_rows, num_labels, micro_f1 {reference, artifact}, counts
 * {reference, artifact: true_positive, predicted, gold}, drop_points, label_set_agreement,
 * changed_count, logits {mean_abs_diff, max_abs_diff}, headline "micro_f1". */
qf_status qf_multilabel_report_json(const qf_multilabel_report *r, const qf_verify_html_context *ctx, char **out,
                                    size_t *len, qf_error *err);

/*
 * Rerank (a cross-encoder: one logit per row, scored by the model's activation: sigmoid, or the
 * logit itself for an Identity one). Rows are pairs ("text" + "text_pair", or "query" + "text");
 * rows with the same group key (qf_row_fields_group: the query, else the first text) form a group,
 * in the order of their first row. Always:
 *   score_spearman  Spearman of the two models' scores over all rows (qf_spearman; NaN when it is
 *                   undefined: fewer than 2 rows, or one side constant);
 *   rank_agreement  over the groups of 2 or more rows, the fraction whose top-scored row is the
 *                   same for both models (ties go to the earlier row; NaN when no group has 2 rows).
 * When every row carries a relevance "label" (qf_row_fields_relevance), MRR@10 and NDCG@10 of
 * each model over the groups (qf_ranking_group_add), headline MRR@10: drop_points =
 * 100 * (mrr_reference - mrr_artifact). Without labels drop_points is 0 and labelled false.
 */
typedef struct qf_rerank_report {
    size_t rows;
    qf_arch_score score;            /* QF_ARCH_SCORE_SIGMOID or QF_ARCH_SCORE_IDENTITY */
    double score_spearman;
    size_t groups, ranked_groups, same_top1;
    double rank_agreement;
    bool labelled;
    qf_ranking_totals reference_totals, artifact_totals;
    double mrr_reference, mrr_artifact, ndcg_reference, ndcg_artifact;
    double drop_points;
    double mean_abs_dscore, max_abs_dscore;
    qf_encoder_mode artifact_mode;
    double seconds;
} qf_rerank_report;

/* `score`: how a logit becomes a score (sigmoid or identity; another is INVALID_ARGUMENT). The
 * model's head must have one label. */
qf_status qf_verify_rerank(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                           const qf_dataset *data, const qf_row_fields *fields, const qf_verify_params *params,
                           qf_arch_score score, qf_rerank_report *out, qf_error *err);
/* job "rerank": score, groups, ranked_groups, score_spearman, rank_agreement, labelled, and with
 * labels mrr_at_10 / ndcg_at_10 {reference, artifact}, drop_points, headline "mrr_at_10" (else
 * "score_spearman"); min_spearman (the --min-spearman gate; NaN: null). NaN figures are null. */
qf_status qf_rerank_report_json(const qf_rerank_report *r, const qf_verify_html_context *ctx, double min_spearman,
                                char **out, size_t *len, qf_error *err);
/* The --min-spearman gate: true when score_spearman >= min_spearman (NaN fails). */
bool qf_verify_spearman_gate(double spearman, double min_spearman);

/*
 * Sentence similarity (STS): rows {"text", "text_pair", "score"}; `first` holds every row's "text"
 * and `second` its "text_pair" (qf_dataset_load with QF_DATASET_TEXTS_FIRST / _SECOND), `fields`
 * the scores. For each model, the Spearman of cosine(embedding(text), embedding(text_pair)) against
 * the gold scores over the rows (the STS benchmark's metric, as sentence-transformers'
 * EmbeddingSimilarityEvaluator reports it); drop_points = 100 * (spearman_reference -
 * spearman_artifact). Embeddings as qf_verify_embeddings makes them (pooling, normalize).
 */
typedef struct qf_sts_report {
    size_t pairs;
    double spearman_reference, spearman_artifact; /* NaN when undefined (constant scores or cosines) */
    double drop_points;
    double seconds;
} qf_sts_report;

qf_status qf_verify_sts(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_dataset *first, const qf_dataset *second, const qf_row_fields *fields,
                        const qf_verify_params *params, qf_pooling pooling, bool normalize, qf_sts_report *out,
                        qf_error *err);
/* The embedding report (qf_embedding_report_json, over the "text" rows) with "sts": {pairs,
 * spearman {reference, artifact}, drop_points}, "headline": "sts_spearman", and the --max-drop gate
 * (max_drop, passed) from ctx. */
qf_status qf_sts_report_json(const qf_embedding_report *r, const qf_sts_report *sts, const qf_verify_html_context *ctx,
                             char **out, size_t *len, qf_error *err);

/* =============================================================================================
 * Token classification (verify/job_ner.c): the job of a *ForTokenClassification model (NER): the
 * entities transformers' token-classification pipeline finds in one row, and the verification of
 * an artifact on word-labelled rows (text.h's qf_word_rows) by seqeval's entity F1
 * =========================================================================================== */

/*
 * One entity as transformers' TokenClassificationPipeline reports it with
 * aggregation_strategy="simple": adjacent tokens of one type grouped. `label` is the entity type
 * (what follows the first '-' of the first token's id2label name, the whole name without one),
 * `score` the mean over its tokens of each token's softmax probability of its argmax label,
 * [first_token, last_token] the tokens in the row, [start, end) the characters (code points of the
 * row's text, from qf_encoding.offsets: the first token's start, the last token's end); start and
 * end are -1 when the row has no offsets (rows given as input_ids).
 */
typedef struct qf_ner_entity {
    char label[64];
    double score;
    int32_t first_token, last_token;
    int32_t start, end;
} qf_ner_entity;

/*
 * The entities of one row, by the rules of transformers' pipelines/token_classification.py
 * (postprocess with aggregation_strategy "simple", ignore_labels ["O"]): softmax of each token's
 * logits (in double); tokens whose `special` is non-zero are dropped (the special tokens mask; may be
 * NULL: none); each remaining token takes its argmax label (the first on ties) and that label's
 * probability. Then group_entities: walking the tokens in order, a token joins the group of the
 * token before it when both have the same tag and its own tag does not start with "B-" (get_tag: a
 * name "B-X" or "I-X" has the tag X, any other name is its own tag and counts as "I"); else it
 * starts a new group. Sub-words are not merged into words beyond this. Groups whose label is "O"
 * are dropped. `logits` [tokens][num_labels] row-major, `id2label` [num_labels] names, `offsets`
 * [tokens][2] characters or NULL. Writes at most `capacity` entities to `out` (tokens always
 * suffice) and their count to *count (the count found even past capacity: LIMIT then).
 */
qf_status qf_ner_entities(const float *logits, size_t tokens, size_t num_labels, const char *const *id2label,
                          const uint8_t *special, const int32_t *offsets, qf_ner_entity *out, size_t capacity,
                          size_t *count, qf_error *err);

/* The argmax of n logits (the first of equal maxima, as numpy.argmax; NaN never wins but index 0). */
size_t qf_ner_argmax(const float *logits, size_t n);

typedef struct qf_ner_report {
    size_t rows, labelled_rows;
    size_t words;          /* words of every row */
    size_t words_cut;      /* words without a token (cut off by max_length, or none made): predicted O */
    qf_ner_counts reference_counts, artifact_counts; /* over the labelled rows */
    qf_ner_scores reference, artifact;
    double drop_points;    /* 100 * (reference - artifact entity F1); 0 without labelled rows */
    size_t words_compared, words_agreeing; /* words with a token, and those both models label alike */
    double agreement;      /* words_agreeing / words_compared (1 when none) */
    double mean_abs_dlogit, max_abs_dlogit; /* over every token logit of every row */
    int64_t num_labels;
    qf_encoder_mode artifact_mode;
    double seconds;
} qf_ner_report;

/*
 * Runs `reference` in FP32 and `artifact` in `artifact_mode` (both mapped, token-classification
 * heads with the same labels) over `rows`, and labels each word with its first token's argmax
 * label (the label_all_tokens=False rule of transformers' run_ner.py); a word without a token is
 * predicted "O". Every labelled row is checked first: each tag must be a name of config.json's
 * id2label (`config_json`) and the row IOB2 (qf_ner_check_iob2); a bad one is QF_STATUS_FORMAT
 * naming the file, "line N" and the field "labels" with the word's index. Then seqeval's scores
 * (qf_ner_counts_add) of both models over the labelled rows, word agreement over all rows.
 * Sums in row order: the report does not depend on threads or batch size.
 */
qf_status qf_verify_ner(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode,
                        const qf_word_rows *rows, const char *config_json, const qf_verify_params *params,
                        qf_ner_report *out, qf_error *err);

/* The report as a JSON object (owned text, free()): job "token-classification", the inputs as the
 * classification report has them (artifact, reference, data, data_sha256 from `data_sha256`, rows,
 * max_length, artifact_mode, recipe), labelled_rows, words, words_cut, headline "entity_f1",
 * metrics {entity_precision, entity_recall, entity_f1, token_accuracy} each {reference, artifact}
 * (null without labelled rows), drop_points (null without labelled rows), agreement, logits,
 * max_drop, passed, seconds, qforge_version, tokenizer. */
qf_status qf_ner_report_json(const qf_ner_report *r, const qf_verify_html_context *ctx, const char *data_sha256,
                             char **out, size_t *len, qf_error *err);

/* =============================================================================================
 * HTML pages of the other jobs (verify/report_html_jobs.c): `qforge verify --html` for every job,
 * in the look of the classification page (qf_verify_report_write_html): the gate's badge, a
 * summary (the headline metric of FP32 and the artifact with its drop in points, agreement, logit
 * distance, rows, time, each gate's line), a table of the job's metrics (one tr#metric-<name> per
 * metric, named as in the job's JSON report: FP32, artifact, and the headline's drop), what the
 * report keeps of its rows, the recipe and the provenance. One self-contained file (no script, no
 * external reference) written atomically (qf_output); every string from a file or the user (paths,
 * metadata, questions, answers, texts) escaped. `ctx` is the context of the job's JSON report and
 * may be NULL; its passed / has_max_drop / max_drop / has_min_cosine / min_cosine say the gates.
 * =========================================================================================== */

/* Entity F1 (headline), precision, recall and token accuracy; the entity counts. `data_sha256`: the
 * word rows' (qf_word_rows_sha256), NULL: not shown. */
qf_status qf_ner_report_write_html(const qf_ner_report *r, const qf_verify_html_context *ctx, const char *data_sha256,
                                   const char *path, qf_error *err);
/* SQuAD F1 (headline) and exact match; the rows whose answer span changed with their question and
 * gold answers from `rows` (may be NULL: row numbers only). */
qf_status qf_qa_report_write_html(const qf_qa_report *r, const qf_verify_html_context *ctx, const qf_qa_rows *rows,
                                  const char *path, qf_error *err);
/* Micro-F1 (headline) and its counts (true positive, predicted, gold) of both models. */
qf_status qf_multilabel_report_write_html(const qf_multilabel_report *r, const qf_verify_html_context *ctx,
                                          const char *path, qf_error *err);
/* MRR@10 (headline) and NDCG@10 with relevance labels, score Spearman and rank agreement always;
 * `min_spearman` the --min-spearman gate (NaN: none). */
qf_status qf_rerank_report_write_html(const qf_rerank_report *r, const qf_verify_html_context *ctx,
                                      double min_spearman, const char *path, qf_error *err);
/* Cosine FP32<->artifact (mean, min and the row of the minimum with its text when ctx->data kept
 * texts) and retrieval agreement; with `sts` (may be NULL) the STS Spearman, then the headline. */
qf_status qf_embedding_report_write_html(const qf_embedding_report *r, const qf_sts_report *sts,
                                         const qf_verify_html_context *ctx, const char *path, qf_error *err);

/* =============================================================================================
 * Accuracy-aware static fallback (verify/fallback.c)
 * =========================================================================================== */

typedef struct qf_fallback_params {
    double max_drop;         /* accuracy budget in points */
    /* rows used to rank projections (borrowed; NULL: the whole measurement data) */
    const qf_dataset *sensitivity_data;
    qf_verify_params verify; /* threads, batch, ... for every measurement */
    /* Called after each measurement (may be NULL): a line of progress. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} qf_fallback_params;

qf_fallback_params qf_fallback_params_default(void);

typedef struct qf_fallback_step {
    char stem[64];          /* projection returned to FP32 */
    double sensitivity;     /* agreement lost (points) when only this projection is int8 */
    double sensitivity_dlogit; /* mean |logit difference| then (the tie-breaker) */
    double drop_after;      /* drop of the whole artifact after reverting it */
} qf_fallback_step;

typedef struct qf_fallback_report {
    double initial_drop, final_drop;
    double initial_agreement, final_agreement;
    bool within_budget;
    size_t steps;
    qf_fallback_step *step; /* [steps], owned */
    const char *metric;     /* the headline metric measured ("accuracy", "entity F1", ...); borrowed, static */
} qf_fallback_report;

void qf_fallback_report_free(qf_fallback_report *r); /* accepts NULL */

/*
 * Accuracy-aware fallback. Measures the drop of the static artifact built with `params` on `data`
 * (qf_verify_run against `src` in FP32); while it exceeds max_drop, ranks the still-int8
 * projections by sensitivity (agreement with FP32 lost when only that projection is int8, then the
 * mean |logit difference|; measured once per projection on sensitivity_data), reverts the worst to FP32 and re-measures. *out is the
 * final model (with quant.fallback.* metadata: each reverted projection, its sensitivity and the
 * drop after reverting it).
 */
qf_status qf_static_fallback(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                             const qf_dataset *data, const qf_fallback_params *fp, qf_model **out,
                             qf_fallback_report *report, qf_error *err);

/* =============================================================================================
 * Fallback measures (verify/fallback.c: classification; verify/fallback_ner.c, fallback_qa.c,
 * fallback_scoring.c: the other jobs): how the accuracy-aware fallback measures a candidate
 * artifact with a job's own headline metric. A measure runs `reference` in FP32 and `candidate`
 * as static int8 over its rows (or over its sensitivity rows) and reports the headline drop and
 * the two sensitivity figures the fallback ranks projections by.
 * =========================================================================================== */

typedef struct qf_fallback_measurement {
    double drop_points;           /* 100 x (reference - candidate) of the headline metric */
    double agreement;             /* fraction of the job's agreement (NaN: the job has none) */
    double sensitivity_primary;   /* ranks first, larger = more sensitive (agreement lost, points) */
    double sensitivity_secondary; /* the tie-breaker (mean |logit difference|) */
} qf_fallback_measurement;

typedef struct qf_fallback_measure {
    const char *metric;        /* printed: "accuracy", "entity F1", "F1", "micro-F1", "MRR@10", "STS Spearman" */
    const char *metric_key;    /* recorded in quant.fallback.metric: accuracy, entity_f1, f1, micro_f1, ... */
    const char *primary_name;  /* what sensitivity_primary is the loss of: "agreement", "word agreement", ... */
    const char *secondary_name; /* what sensitivity_secondary is: "mean |dlogit|"; NULL: the job has none */
    size_t rows;               /* rows of the measurement data (quant.fallback.rows) */
    /* Measures `candidate` against `reference` on the rows (sensitivity: on the sensitivity rows). */
    qf_status (*measure)(void *ctx, bool sensitivity, qf_model *reference, qf_model *candidate,
                         qf_fallback_measurement *out, qf_error *err);
    void *ctx;                 /* the job's rows and options, borrowed */
} qf_fallback_measure;

/*
 * The fallback of qf_static_fallback with any job's measure: `m` decides the drop (gated against
 * fp->max_drop by qf_verify_gate) and the sensitivity ranking (primary, then secondary, then the
 * projection's name); fp->sensitivity_data and fp->verify are not read (the measure carries its own
 * rows and parameters). The metadata is qf_static_fallback's, plus quant.fallback.metric =
 * m->metric_key unless the metric is accuracy.
 */
qf_status qf_static_fallback_measured(qf_model *src, const qf_calib_stats *stats, const qf_static_params *params,
                                      const qf_fallback_measure *m, const qf_fallback_params *fp, qf_model **out,
                                      qf_fallback_report *report, qf_error *err);

/* Classification (qf_verify_run): accuracy drop; agreement lost (top-1, points), mean |dlogit|.
 * `ctx` must outlive the measure; `sensitivity_data` and `params` may be NULL (the data; defaults). */
typedef struct qf_fallback_classification {
    const qf_dataset *data, *sensitivity_data;
    qf_verify_params params;
} qf_fallback_classification;
qf_fallback_measure qf_fallback_measure_classification(qf_fallback_classification *ctx);

/* Token classification (qf_verify_ner): entity F1 drop; word-label agreement lost, mean |dlogit|. */
typedef struct qf_fallback_ner {
    const qf_word_rows *rows, *sensitivity_rows; /* sensitivity_rows may be NULL: rows */
    const char *config_json;                     /* id2label of the head */
    qf_verify_params params;
} qf_fallback_ner;
qf_fallback_measure qf_fallback_measure_ner(qf_fallback_ner *ctx);

/* Question answering (qf_verify_qa): SQuAD F1 drop; span agreement lost, mean |dlogit|. */
typedef struct qf_fallback_qa {
    const qf_tokenizer *tokenizer;
    const qf_qa_rows *rows, *sensitivity_rows; /* sensitivity_rows may be NULL: rows */
    qf_qa_params qa;                           /* resolved */
    qf_verify_params params;
} qf_fallback_qa;
qf_fallback_measure qf_fallback_measure_qa(qf_fallback_qa *ctx);

/* The scoring jobs: multi-label (qf_verify_multilabel: micro-F1 drop; label-set agreement lost,
 * mean |dlogit|), rerank (qf_verify_rerank with relevance labels: MRR@10 drop; rank agreement lost,
 * mean |dscore|) and STS (qf_verify_sts: Spearman drop; the Spearman lost is also the sensitivity).
 * The sensitivity_* members may be NULL: the measurement's. */
typedef struct qf_fallback_scoring {
    const qf_dataset *data, *sensitivity_data;     /* STS: the "text" side */
    const qf_dataset *second, *sensitivity_second; /* STS only: the "text_pair" side */
    const qf_row_fields *fields, *sensitivity_fields;
    double threshold;      /* multi-label */
    qf_arch_score score;   /* rerank: sigmoid or identity */
    qf_pooling pooling;    /* STS */
    bool normalize;        /* STS */
    qf_verify_params params;
} qf_fallback_scoring;
qf_fallback_measure qf_fallback_measure_multilabel(qf_fallback_scoring *ctx);
qf_fallback_measure qf_fallback_measure_rerank(qf_fallback_scoring *ctx);
qf_fallback_measure qf_fallback_measure_sts(qf_fallback_scoring *ctx);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_VERIFY_H */
