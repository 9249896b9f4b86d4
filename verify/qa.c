/*
 * verify/qa.c — extractive question answering as transformers' question-answering pipeline does
 * it (fast tokenizer, question first): the strided windows over a long context (Rust tokenizers'
 * "only_second" truncation with stride), the best span of each window from its start/end logits,
 * the answer across windows, and the QA job of `qforge verify` (SQuAD EM / F1 of the reference and
 * the artifact, span agreement). `qforge run --output spans` prints what qf_qa_answer returns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/verify.h"

qf_qa_params qf_qa_params_default(void)
{
    qf_qa_params p = {0, -1, QF_QA_MAX_ANSWER_LEN_DEFAULT, 0, true};
    return p;
}

qf_status qf_qa_params_resolve(const qf_qa_params *in, int32_t model_max_length, qf_qa_params *out, qf_error *err)
{
    qf_qa_params d = qf_qa_params_default();
    qf_qa_params p = in ? *in : d;
    if (p.max_seq_len <= 0) p.max_seq_len = model_max_length < 384 ? model_max_length : 384;
    if (p.max_seq_len > model_max_length)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_seq_len",
                            "max_seq_len %d is longer than the model's %d positions", (int)p.max_seq_len,
                            (int)model_max_length);
    if (p.doc_stride < 0) p.doc_stride = p.max_seq_len / 2 < 128 ? p.max_seq_len / 2 : 128;
    if (p.doc_stride > p.max_seq_len)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "doc_stride",
                            "doc_stride (%d) is larger than max_seq_len (%d)", (int)p.doc_stride, (int)p.max_seq_len);
    if (p.max_answer_len < 1)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_answer_len",
                            "max_answer_len must be 1 or more, not %d", (int)p.max_answer_len);
    if (p.max_question_len < 0) p.max_question_len = 0;
    *out = p;
    return QF_STATUS_OK;
}

qf_status qf_qa_window_ranges(size_t question_tokens, size_t context_tokens, size_t special_tokens,
                              int32_t max_seq_len, int32_t doc_stride, size_t *ranges, size_t capacity, size_t *count,
                              qf_error *err)
{
    *count = 0;
    if (max_seq_len <= 0 || doc_stride < 0 || (size_t)max_seq_len < special_tokens)
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "max_seq_len",
                            "max_seq_len %d leaves no room beside the %zu special tokens of a pair", (int)max_seq_len,
                            special_tokens);
    size_t budget = (size_t)max_seq_len - special_tokens; /* Rust: max_length - added_tokens(pair) */
    size_t max_len = context_tokens, step = context_tokens ? context_tokens : 1;
    if (question_tokens + context_tokens > budget) {
        size_t to_remove = question_tokens + context_tokens - budget;
        if (context_tokens <= to_remove) /* Rust: TruncationError::SequenceTooShort */
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "question",
                                "the question takes %zu tokens: with the %zu special tokens no context token fits in "
                                "max_seq_len %d", question_tokens, special_tokens, (int)max_seq_len);
        max_len = context_tokens - to_remove;
        if ((size_t)doc_stride >= max_len) /* Rust asserts stride < max_len */
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "doc_stride",
                                "doc_stride %d must be less than the %zu context tokens a window holds (max_seq_len "
                                "%d minus the question's %zu tokens and %zu special tokens)", (int)doc_stride, max_len,
                                (int)max_seq_len, question_tokens, special_tokens);
        step = max_len - (size_t)doc_stride;
    }
    size_t n = 0;
    for (size_t start = 0;; start += step) {
        size_t stop = start + max_len < context_tokens ? start + max_len : context_tokens;
        if (n >= capacity || n >= QF_QA_MAX_WINDOWS)
            return qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, "context",
                                "the context needs more than %zu windows", n < capacity ? (size_t)QF_QA_MAX_WINDOWS
                                                                                        : capacity);
        ranges[2 * n] = start;
        ranges[2 * n + 1] = stop;
        n++;
        if (stop == context_tokens) break;
    }
    *count = n;
    return QF_STATUS_OK;
}

void qf_qa_windows_free(qf_qa_windows *w)
{
    if (!w) return;
    for (size_t i = 0; w->window && i < w->count; i++) qf_encoding_free(&w->window[i]);
    free(w->window);
    free(w->context_first);
    memset(w, 0, sizeof *w);
}

qf_status qf_qa_windows_build(const qf_tokenizer *t, const char *question, size_t question_len, const char *context,
                              size_t context_len, const qf_qa_params *p, qf_qa_windows *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    qf_encoding q, c;
    qf_encoding_init(&q);
    qf_encoding_init(&c);
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.add_special_tokens = false;
    size_t *ranges = NULL, count = 0;
    qf_status s = qf_tokenizer_encode(t, question, question_len, &tp, &q, err);
    if (!s) s = qf_tokenizer_encode(t, context, context_len, &tp, &c, err);
    size_t nq = q.length;
    if (!s && p->max_question_len > 0 && nq > (size_t)p->max_question_len) nq = (size_t)p->max_question_len;
    size_t capacity = c.length + 1 < QF_QA_MAX_WINDOWS ? c.length + 1 : QF_QA_MAX_WINDOWS;
    if (!s && !(ranges = malloc(2 * capacity * sizeof *ranges)))
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    if (!s)
        s = qf_qa_window_ranges(nq, c.length, qf_tokenizer_num_special_tokens_pair(t), p->max_seq_len, p->doc_stride,
                                ranges, capacity, &count, err);
    if (!s && (!(out->window = calloc(count, sizeof *out->window)) ||
               !(out->context_first = malloc(count * sizeof *out->context_first))))
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    for (size_t w = 0; !s && w < count; w++) {
        size_t first = ranges[2 * w], n = ranges[2 * w + 1] - first;
        qf_encoding *e = &out->window[w];
        out->count = w + 1;
        out->context_first[w] = first;
        /* transformers encodes (question, context) as a pair unless the context is the empty string
         * (`if text_pair` in its encode): a context of only spaces, no token, still makes
         * [CLS] Q [SEP] [SEP]; ids_b NULL lays the question out alone */
        static const int32_t no_context_token = 0;
        const int32_t *context_ids = context_len == 0 ? NULL : n ? c.input_ids + first : &no_context_token;
        s = qf_tokenizer_post_process(t, q.input_ids, nq, context_ids, n, true, e, err);
        /* offsets and words: each text's own (question tokens in the question, context tokens in
         * the context, words counted over the whole context as the overflowing windows keep them) */
        size_t iq = 0, ic = first;
        for (size_t k = 0; !s && k < e->length; k++) {
            const int32_t *from = NULL;
            int32_t word = -1;
            if (e->sequence_ids[k] == 0 && iq < nq) {
                word = q.word_ids[iq];
                from = q.offsets + 2 * iq++;
            }
            if (e->sequence_ids[k] == 1 && ic < first + n) {
                word = c.word_ids[ic];
                from = c.offsets + 2 * ic++;
            }
            e->offsets[2 * k] = from ? from[0] : 0;
            e->offsets[2 * k + 1] = from ? from[1] : 0;
            e->word_ids[k] = word;
        }
    }
    free(ranges);
    qf_encoding_free(&q);
    qf_encoding_free(&c);
    if (s) qf_qa_windows_free(out);
    return s;
}

void qf_qa_decode_window(const float *start_logits, const float *end_logits, const uint8_t *candidate, size_t n,
                         int32_t max_answer_len, double *scratch, qf_qa_span *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return;
    double *ps = scratch, *pe = scratch + n;
    const float *logits[2] = {start_logits, end_logits};
    double *prob[2] = {ps, pe};
    for (int side = 0; side < 2; side++) {
        double m = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; i++) {
            prob[side][i] = candidate[i] ? (double)logits[side][i] : QF_QA_MASKED_LOGIT;
            if (prob[side][i] > m) m = prob[side][i];
        }
        for (size_t i = 0; i < n; i++) sum += (prob[side][i] = exp(prob[side][i] - m));
        for (size_t i = 0; i < n; i++) prob[side][i] /= sum;
    }
    ps[0] = pe[0] = 0; /* the pipeline's "Mask CLS": position 0 never starts or ends an answer */
    /* np.argmax over the band start <= end < start + max_answer_len of p_start * p_end, row-major:
     * the first maximum; all zero gives (0, 0) */
    size_t best_s = 0, best_e = 0;
    double best = 0;
    for (size_t s = 0; s < n; s++) {
        size_t last = s + (size_t)max_answer_len - 1 < n - 1 ? s + (size_t)max_answer_len - 1 : n - 1;
        for (size_t e = s; e <= last; e++) {
            double v = ps[s] * pe[e];
            if (v > best) {
                best = v;
                best_s = s;
                best_e = e;
            }
        }
    }
    out->found = candidate[best_s] && candidate[best_e];
    out->start_token = best_s;
    out->end_token = best_e;
    out->score = best;
}

void qf_qa_result_free(qf_qa_result *r)
{
    if (!r) return;
    free(r->window_length);
    free(r->start_logits);
    free(r->end_logits);
    free(r->answer_text);
    memset(r, 0, sizeof *r);
}

/* ASCII case-insensitive equality of two byte strings (the pipeline compares answer.lower()). */
static bool same_text_ignoring_case(const char *a, size_t na, const char *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

/* The characters of the span [s_tok, e_tok] of window e: with align_to_words, from the start of the
 * first context token of s_tok's word to the end of the last context token of e_tok's word in this
 * window (the pipeline's Encoding.word_to_chars(token_to_word(...), sequence_index=1)); a token of
 * no word (a special token), or align false, keeps the tokens' own offsets. */
static void span_chars(const qf_encoding *e, size_t s_tok, size_t e_tok, bool align, size_t *start, size_t *end)
{
    size_t first = s_tok, last = e_tok;
    int32_t ws = align && e->word_ids ? e->word_ids[s_tok] : -1, we = align && e->word_ids ? e->word_ids[e_tok] : -1;
    if (ws >= 0 && we >= 0) {
        for (first = 0; first < e->length && !(e->sequence_ids[first] == 1 && e->word_ids[first] == ws); first++) {}
        for (last = e->length; last-- > 0 && !(e->sequence_ids[last] == 1 && e->word_ids[last] == we);) {}
        if (first >= e->length || last >= e->length) first = s_tok, last = e_tok; /* not context words */
    }
    *start = (size_t)e->offsets[2 * first];
    *end = (size_t)e->offsets[2 * last + 1];
}

typedef struct qa_candidate {
    size_t start_char, end_char, start_byte, end_byte, window;
    double score;
} qa_candidate;

qf_status qf_qa_answer(qf_encoder *enc, int64_t max_batch, const qf_tokenizer *t, const qf_qa_row *row,
                       const qf_qa_params *p, qf_qa_result *out, qf_error *err)
{
    memset(out, 0, sizeof *out);
    qf_qa_windows w;
    memset(&w, 0, sizeof w);
    qf_status s = QF_STATUS_OK;
    qf_encoding single; /* an input_ids row: one window as given */
    qf_encoding_init(&single);
    if (row->input_ids) {
        single.input_ids = (int32_t *)row->input_ids; /* borrowed for the run, never freed here */
        w.count = 1;
        w.window = &single;
        single.length = row->num_ids;
        single.token_type_ids = (int32_t *)row->token_type_ids;
    } else if (!t) {
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "tokenizer",
                            "a {\"question\", \"context\"} row needs the model's tokenizer (give --tokenizer PATH)");
    } else {
        s = qf_qa_windows_build(t, row->question, row->question_len, row->context, row->context_len, p, &w, err);
        if (s) return s;
    }
    size_t total = 0, longest = 0;
    for (size_t i = 0; i < w.count; i++) {
        total += w.window[i].length;
        if (w.window[i].length > longest) longest = w.window[i].length;
    }
    int64_t batch = max_batch > 0 ? max_batch : 1;
    int32_t *ids = NULL, *mask = NULL, *types = NULL;
    uint8_t *candidate = NULL;
    double *scratch = NULL;
    qa_candidate *found = NULL;
    size_t nfound = 0;
    out->windows = w.count;
    if (!(out->window_length = malloc(w.count * sizeof(size_t))) || !(out->start_logits = malloc(total * sizeof(float))) ||
        !(out->end_logits = malloc(total * sizeof(float))) ||
        !(ids = malloc((size_t)batch * longest * sizeof(int32_t))) ||
        !(mask = malloc((size_t)batch * longest * sizeof(int32_t))) ||
        !(types = malloc((size_t)batch * longest * sizeof(int32_t))) || !(candidate = malloc(longest)) ||
        !(scratch = malloc(2 * longest * sizeof(double))) || !(found = malloc(w.count * sizeof *found)))
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    size_t at = 0;
    for (size_t first = 0; !s && first < w.count; first += (size_t)batch) {
        size_t n = w.count - first < (size_t)batch ? w.count - first : (size_t)batch, length = 0;
        for (size_t i = 0; i < n; i++)
            if (w.window[first + i].length > length) length = w.window[first + i].length;
        for (size_t i = 0; i < n; i++) {
            const qf_encoding *e = &w.window[first + i];
            for (size_t k = 0; k < length; k++) {
                ids[i * length + k] = k < e->length ? e->input_ids[k] : 0;
                mask[i * length + k] = k < e->length;
                types[i * length + k] = k < e->length && e->token_type_ids ? e->token_type_ids[k] : 0;
            }
        }
        qf_encoder_batch in = {(int64_t)n, (int64_t)length, ids, mask, types};
        qf_encoder_output o;
        if ((s = qf_encoder_run(enc, &in, &o, err))) break;
        if (o.head != QF_ARCH_HEAD_QUESTION_ANSWERING || !o.token_logits || o.num_labels != 2) {
            s = qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, NULL,
                             "the model's head is %s, not question answering", qf_arch_head_name(o.head));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            const qf_encoding *e = &w.window[first + i];
            const float *lg = o.token_logits + i * length * 2;
            out->window_length[first + i] = e->length;
            for (size_t k = 0; k < e->length; k++) {
                out->start_logits[at + k] = lg[2 * k];
                out->end_logits[at + k] = lg[2 * k + 1];
            }
            if (!row->input_ids) {
                /* p_mask: context tokens are candidates, and the cls token (the template's first special
                 * token) wherever its id occurs, as the pipeline unmasks cls_token_id */
                int32_t cls = e->length && e->sequence_ids[0] < 0 ? e->input_ids[0] : -1;
                for (size_t k = 0; k < e->length; k++)
                    candidate[k] = e->sequence_ids[k] == 1 || (cls >= 0 && e->input_ids[k] == cls);
                qf_qa_span span;
                qf_qa_decode_window(out->start_logits + at, out->end_logits + at, candidate, e->length,
                                    p->max_answer_len, scratch, &span);
                if (span.found) {
                    qa_candidate *c = &found[nfound];
                    span_chars(e, (size_t)span.start_token, (size_t)span.end_token, p->align_to_words, &c->start_char,
                               &c->end_char);
                    if (c->end_char < c->start_char) c->end_char = c->start_char;
                    c->start_byte = qf_text_char_to_byte(row->context, row->context_len, c->start_char);
                    c->end_byte = qf_text_char_to_byte(row->context, row->context_len, c->end_char);
                    c->window = first + i;
                    c->score = span.score;
                    /* the pipeline adds the score of an answer whose text (lowercased) an earlier window
                     * already gave to that one */
                    size_t j = 0;
                    for (; j < nfound; j++)
                        if (same_text_ignoring_case(row->context + found[j].start_byte,
                                                    found[j].end_byte - found[j].start_byte,
                                                    row->context + c->start_byte, c->end_byte - c->start_byte))
                            break;
                    if (j < nfound)
                        found[j].score += c->score;
                    else
                        nfound++;
                }
            }
            at += e->length;
        }
    }
    if (!s && nfound) {
        size_t best = 0;
        for (size_t j = 1; j < nfound; j++)
            if (found[j].score > found[best].score) best = j;
        const qa_candidate *c = &found[best];
        size_t len = c->end_byte - c->start_byte;
        if (!(out->answer_text = malloc(len + 1))) {
            s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        } else {
            memcpy(out->answer_text, row->context + c->start_byte, len);
            out->answer_text[len] = '\0';
            out->answer_len = len;
            out->answered = true;
            out->answer_start = c->start_char;
            out->answer_end = c->end_char;
            out->answer_window = c->window;
            out->score = c->score;
        }
    }
    free(ids);
    free(mask);
    free(types);
    free(candidate);
    free(scratch);
    free(found);
    if (row->input_ids)
        memset(&single, 0, sizeof single);
    else
        qf_qa_windows_free(&w);
    if (s) qf_qa_result_free(out);
    return s;
}

/* ------------------------------------------------------------------------------ the QA job */

void qf_qa_report_free(qf_qa_report *r)
{
    if (!r) return;
    free(r->changed_rows);
    memset(r, 0, sizeof *r);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t longest_window(const qf_qa_params *p, const qf_qa_rows *rows)
{
    int64_t longest = p->max_seq_len;
    for (size_t i = 0; i < qf_qa_rows_count(rows); i++) {
        const qf_qa_row *r = qf_qa_rows_at(rows, i);
        if (r->input_ids && (int64_t)r->num_ids > longest) longest = (int64_t)r->num_ids;
    }
    return longest;
}

qf_status qf_qa_encoder_create(qf_model *m, qf_encoder_mode mode, int threads, int64_t max_batch,
                               const qf_qa_params *p, const qf_qa_rows *rows, qf_encoder **out, qf_error *err)
{
    qf_encoder_params ep = qf_encoder_params_default();
    ep.threads = threads;
    ep.mode = mode;
    ep.max_batch = max_batch > 0 ? max_batch : 1;
    ep.max_length = longest_window(p, rows);
    return qf_encoder_create(m, &ep, out, err);
}

qf_status qf_verify_qa(qf_model *reference, qf_model *artifact, qf_encoder_mode artifact_mode, const qf_tokenizer *t,
                       const qf_qa_rows *rows, const qf_qa_params *qa, const qf_verify_params *params,
                       qf_qa_report *out, qf_error *err)
{
    qf_verify_params defaults = qf_verify_params_default();
    const qf_verify_params *vp = params ? params : &defaults;
    memset(out, 0, sizeof *out);
    out->params = *qa;
    out->artifact_mode = artifact_mode;
    snprintf(out->data_sha256, sizeof out->data_sha256, "%s", qf_qa_rows_sha256(rows));
    double t0 = now_seconds();
    int64_t batch = vp->batch > 0 ? vp->batch : 32;
    qf_encoder *er = NULL, *ea = NULL;
    qf_status s = qf_qa_encoder_create(reference, QF_ENCODER_MODE_FP32, vp->threads, batch, qa, rows, &er, err);
    if (!s) s = qf_qa_encoder_create(artifact, artifact_mode, vp->threads, batch, qa, rows, &ea, err);
    size_t keep = vp->max_changed_rows ? vp->max_changed_rows : 100;
    if (!s && !(out->changed_rows = malloc(keep * sizeof(size_t))))
        s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    qf_squad_totals tr = {0, 0, 0}, ta = {0, 0, 0};
    double dsum = 0;
    uint64_t dcount = 0;
    size_t n = qf_qa_rows_count(rows);
    for (size_t i = 0; !s && i < n; i++) {
        const qf_qa_row *row = qf_qa_rows_at(rows, i);
        qf_qa_result rr, ra;
        s = qf_qa_answer(er, batch, t, row, qa, &rr, err);
        if (!s && (s = qf_qa_answer(ea, batch, t, row, qa, &ra, err))) qf_qa_result_free(&rr);
        if (s) {
            if (err && !err->part[0]) snprintf(err->part, sizeof err->part, "line %zu", row->line);
            break;
        }
        out->rows++;
        out->windows += rr.windows;
        size_t total = 0;
        for (size_t w = 0; w < rr.windows; w++) total += rr.window_length[w];
        for (size_t k = 0; k < total; k++) {
            double d0 = fabs((double)rr.start_logits[k] - (double)ra.start_logits[k]);
            double d1 = fabs((double)rr.end_logits[k] - (double)ra.end_logits[k]);
            dsum += d0 + d1;
            dcount += 2;
            if (d0 > out->max_abs_dlogit) out->max_abs_dlogit = d0;
            if (d1 > out->max_abs_dlogit) out->max_abs_dlogit = d1;
        }
        bool same = rr.answered == ra.answered &&
                    (!rr.answered || (rr.answer_start == ra.answer_start && rr.answer_end == ra.answer_end));
        if (same) {
            out->agreeing++;
        } else {
            if (out->changed_kept < keep) out->changed_rows[out->changed_kept++] = i;
            out->changed_count++;
        }
        if (row->num_answers) {
            out->answered_rows++;
            s = qf_squad_add(&tr, rr.answered ? rr.answer_text : "", row->answer_texts, row->num_answers, err);
            if (!s) s = qf_squad_add(&ta, ra.answered ? ra.answer_text : "", row->answer_texts, row->num_answers, err);
        }
        qf_qa_result_free(&rr);
        qf_qa_result_free(&ra);
        if (vp->progress) vp->progress(vp->progress_ctx, i + 1, n);
    }
    qf_encoder_destroy(er);
    qf_encoder_destroy(ea);
    if (s) {
        qf_qa_report_free(out);
        return s;
    }
    out->exact_match_reference = qf_squad_exact_match(&tr);
    out->f1_reference = qf_squad_f1(&tr);
    out->exact_match_artifact = qf_squad_exact_match(&ta);
    out->f1_artifact = qf_squad_f1(&ta);
    out->drop_points = 100 * (out->f1_reference - out->f1_artifact);
    out->agreement = out->rows ? (double)out->agreeing / (double)out->rows : 0;
    out->mean_abs_dlogit = dcount ? dsum / (double)dcount : 0;
    out->seconds = now_seconds() - t0;
    return QF_STATUS_OK;
}
