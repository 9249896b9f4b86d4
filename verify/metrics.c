/*
 * verify/metrics.c — the task metrics of the jobs `qforge verify` serves, computed by the
 * published rules of the tools users compare with: seqeval's entity F1 for token classification,
 * the SQuAD v1.1 evaluation for question answering, micro F1 and label-set agreement for
 * multi-label classification, Spearman, MRR@10 and NDCG@10 for ranking (include/qforge/verify.h
 * states each rule). Pure functions on plain arrays: no model, no file, no thread, sums in input
 * order, so the same inputs always give the same figures. Counts are returned apart from the
 * figures so that the counts of shards add up. Every argument is checked before anything is
 * counted: a call that fails leaves its totals unchanged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/verify.h"

static qf_status invalid(qf_error *err, const char *object, const char *what)
{
    return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, object, "%s", what);
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

/* =============================================================================================
 * Token classification: seqeval's get_entities, default mode
 * =========================================================================================== */

/* A tag as seqeval reads it: kind = the first character, type = what follows the first '-' of the
 * rest (the whole rest when there is no '-'), "_" when that is empty. */
typedef struct tag_view {
    char kind;
    const char *type;
    size_t type_len;
} tag_view;

static bool tag_parse(const char *tag, tag_view *v)
{
    if (!tag || !strchr("OBIES", tag[0]) || tag[0] == '\0') return false;
    const char *rest = tag + 1;
    const char *dash = strchr(rest, '-');
    v->kind = tag[0];
    v->type = dash ? dash + 1 : rest;
    v->type_len = strlen(v->type);
    if (v->type_len == 0) {
        v->type = "_";
        v->type_len = 1;
    }
    return true;
}

static bool same_type(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* seqeval's chunking state for one sequence: the previous tag and where the open entity began. */
typedef struct chunker {
    char prev_kind;
    const char *prev_type;
    size_t prev_type_len;
    size_t begin;
} chunker;

static void chunker_init(chunker *c)
{
    c->prev_kind = 'O';
    c->prev_type = "_";
    c->prev_type_len = 1;
    c->begin = 0;
}

static bool kind_in(char kind, const char *set)
{
    return strchr(set, kind) != NULL;
}

/* Feeds the tag at position i. Returns true when an entity ended just before it: its begin in
 * *begin and its type in *type / *type_len (the previous tag's). end_of_chunk and start_of_chunk
 * of seqeval, for the kinds O, B, I, E, S. */
static bool chunker_step(chunker *c, const tag_view *t, size_t i, size_t *begin, const char **type,
                         size_t *type_len)
{
    const char p = c->prev_kind, k = t->kind;
    const bool type_changed = !same_type(c->prev_type, c->prev_type_len, t->type, t->type_len);
    const bool ended = p == 'E' || p == 'S' || (kind_in(p, "BI") && kind_in(k, "BSO")) ||
                       (p != 'O' && type_changed);
    const bool started = k == 'B' || k == 'S' || (kind_in(p, "ESO") && kind_in(k, "EI")) ||
                         (k != 'O' && type_changed);
    if (ended) {
        *begin = c->begin;
        *type = c->prev_type;
        *type_len = c->prev_type_len;
    }
    if (started) c->begin = i;
    c->prev_kind = k;
    c->prev_type = t->type;
    c->prev_type_len = t->type_len;
    return ended;
}

/* One sequence given as strings, or as ids naming id2label (ids != NULL). */
typedef struct tag_sequence {
    const char *const *tags;
    const int32_t *ids;
    const char *const *id2label;
    size_t num_labels;
} tag_sequence;

static const char *tag_at(const tag_sequence *s, size_t i)
{
    return s->ids ? s->id2label[s->ids[i]] : s->tags[i];
}

static qf_status check_tag(const tag_sequence *s, size_t i, const char *which, qf_error *err)
{
    if (s->ids && (s->ids[i] < 0 || (size_t)s->ids[i] >= s->num_labels)) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, which,
                     "%s id at position %zu is outside id2label", which, i);
        qf_error_expected(err, "0 to %zu", s->num_labels - 1);
        qf_error_found(err, "%d", (int)s->ids[i]);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    const char *tag = tag_at(s, i);
    tag_view v;
    if (!tag) {
        return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, which, "%s tag at position %zu is NULL",
                            which, i);
    }
    if (!tag_parse(tag, &v)) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, which,
                     "%s tag at position %zu is not a seqeval tag", which, i);
        qf_error_expected(err, "O, or B-, I-, E-, S- and a type");
        qf_error_found(err, "'%.40s'", tag);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    return QF_STATUS_OK;
}

static bool skipped(const tag_sequence *gold, size_t i)
{
    return gold->ids && gold->ids[i] < 0;
}

static qf_status ner_add(qf_ner_counts *counts, const tag_sequence *gold, const tag_sequence *pred, size_t length,
                         qf_error *err)
{
    if (!counts) return invalid(err, "counts", "counts is NULL");
    if (length > 0 && (!(gold->tags || gold->ids) || !(pred->tags || pred->ids)))
        return invalid(err, "tags", "a tag sequence is NULL with length > 0");
    if (gold->ids && length > 0 && !gold->id2label) return invalid(err, "id2label", "id2label is NULL");
    for (size_t i = 0; i < length; i++) {
        if (skipped(gold, i)) continue;
        qf_status st = check_tag(gold, i, "gold", err);
        if (st == QF_STATUS_OK) st = check_tag(pred, i, "predicted", err);
        if (st != QF_STATUS_OK) return st;
    }

    qf_ner_counts add = {0};
    chunker g, p;
    chunker_init(&g);
    chunker_init(&p);
    const tag_view end_tag = {'O', "_", 1}; /* seqeval appends 'O' to every sequence */
    size_t position = 0;                    /* among the positions kept */
    for (size_t i = 0; i <= length; i++) {
        tag_view gv = end_tag, pv = end_tag;
        if (i < length) {
            if (skipped(gold, i)) continue;
            const char *gt = tag_at(gold, i), *pt = tag_at(pred, i);
            tag_parse(gt, &gv);
            tag_parse(pt, &pv);
            add.tokens++;
            add.tokens_correct += strcmp(gt, pt) == 0;
        }
        size_t gb = 0, pb = 0, gl = 0, pl = 0;
        const char *gtype = NULL, *ptype = NULL;
        const bool gold_ended = chunker_step(&g, &gv, position, &gb, &gtype, &gl);
        const bool pred_ended = chunker_step(&p, &pv, position, &pb, &ptype, &pl);
        add.gold += gold_ended;
        add.predicted += pred_ended;
        /* both entities end before this position: the same entity when begin and type agree */
        add.true_positive += gold_ended && pred_ended && gb == pb && same_type(gtype, gl, ptype, pl);
        position++;
    }
    counts->true_positive += add.true_positive;
    counts->predicted += add.predicted;
    counts->gold += add.gold;
    counts->tokens_correct += add.tokens_correct;
    counts->tokens += add.tokens;
    return QF_STATUS_OK;
}

qf_status qf_ner_counts_add(qf_ner_counts *counts, const char *const *gold_tags, const char *const *predicted_tags,
                            size_t length, qf_error *err)
{
    const tag_sequence gold = {gold_tags, NULL, NULL, 0}, pred = {predicted_tags, NULL, NULL, 0};
    return ner_add(counts, &gold, &pred, length, err);
}

qf_status qf_ner_counts_add_ids(qf_ner_counts *counts, const int32_t *gold_ids, const int32_t *predicted_ids,
                                size_t length, const char *const *id2label, size_t num_labels, qf_error *err)
{
    if (length > 0 && (!gold_ids || !predicted_ids)) return invalid(err, "ids", "an id sequence is NULL with length > 0");
    const tag_sequence gold = {NULL, gold_ids, id2label, num_labels};
    const tag_sequence pred = {NULL, predicted_ids, id2label, num_labels};
    return ner_add(counts, &gold, &pred, length, err);
}

qf_ner_scores qf_ner_scores_of(const qf_ner_counts *counts)
{
    qf_ner_scores s = {0};
    if (!counts) return s;
    s.precision = ratio(counts->true_positive, counts->predicted);
    s.recall = ratio(counts->true_positive, counts->gold);
    const double denom = s.precision + s.recall;
    s.f1 = denom > 0 ? 2.0 * s.precision * s.recall / denom : 0.0;
    s.accuracy = ratio(counts->tokens_correct, counts->tokens);
    return s;
}

qf_status qf_ner_check_iob2(const char *const *tags, size_t length, bool form_only, size_t *bad_index,
                            qf_error *err)
{
    if (length > 0 && !tags) return invalid(err, "tags", "tags is NULL with length > 0");
    const char *prev_type = NULL; /* type of the entity the previous tag is in, NULL after O */
    for (size_t i = 0; i < length; i++) {
        const char *tag = tags[i];
        const char *why = NULL;
        if (!tag) {
            why = "is NULL";
        } else if (strcmp(tag, "O") == 0) {
            prev_type = NULL;
            continue;
        } else if ((tag[0] != 'B' && tag[0] != 'I') || tag[1] != '-' || tag[2] == '\0') {
            why = "is not O, B-X or I-X";
        } else if (tag[0] == 'I' && !form_only && (!prev_type || strcmp(prev_type, tag + 2) != 0)) {
            why = "does not continue a B- or I- of its type";
        } else {
            prev_type = tag + 2;
            continue;
        }
        if (bad_index) *bad_index = i;
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "tags", "tag at position %zu %s", i, why);
        qf_error_expected(err, "strict IOB2 (O, B-X, I-X after B-X or I-X)");
        qf_error_found(err, "'%.40s'", tag ? tag : "(null)");
        return QF_STATUS_INVALID_ARGUMENT;
    }
    return QF_STATUS_OK;
}

/* =============================================================================================
 * Question answering: SQuAD v1.1's normalize_answer, exact match and token F1
 * =========================================================================================== */

/* Length of the UTF-8 character at s (n bytes available) and its code point; an ill-formed
 * sequence is one byte long with code point UINT32_MAX. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    *cp = UINT32_MAX;
    const unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2, c = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, c = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 1;
    }
    if (n < len) return 1;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 1;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 1;
    *cp = c;
    return len;
}

/* Python's str.isspace(), what str.split() splits on. */
static bool is_python_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's string.punctuation. */
static bool is_ascii_punctuation(uint32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

/* A character of a word for the article rule (see verify.h: non-ASCII counts as a letter). */
static bool is_word_char(uint32_t c)
{
    if (c >= 0x80) return true; /* non-ASCII (whitespace is tested first), ill-formed bytes too */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_article(const char *w, size_t len)
{
    return (len == 1 && w[0] == 'a') || (len == 2 && memcmp(w, "an", 2) == 0) || (len == 3 && memcmp(w, "the", 3) == 0);
}

/* The normalizer's state while it writes tokens joined by one space into out. */
typedef struct normalizer {
    char *out;
    size_t len;
    bool in_token, in_word;
    size_t token_start, token_separator, word_start;
} normalizer;

static void normalizer_end_token(normalizer *z)
{
    if (!z->in_token) return;
    if (z->len == z->token_start) z->len -= z->token_separator; /* nothing left of it: no separator */
    z->in_token = false;
}

/* A word that is an article becomes a space, which also ends the token it was in. */
static void normalizer_end_word(normalizer *z)
{
    if (!z->in_word) return;
    z->in_word = false;
    if (is_article(z->out + z->word_start, z->len - z->word_start)) {
        z->len = z->word_start;
        normalizer_end_token(z);
    }
}

/* normalize_answer in one pass; out needs strlen(text) + 1 bytes at most, *out_len the result's length. */
static void squad_normalize_into(const char *text, char *out, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    normalizer z = {out, 0, false, false, 0, 0, 0};
    for (size_t i = 0; i < n;) {
        uint32_t c;
        const size_t len = utf8_next(s + i, n - i, &c);
        if (is_ascii_punctuation(c)) {
            i += len;
            continue;
        }
        if (is_python_space(c)) {
            normalizer_end_word(&z);
            normalizer_end_token(&z);
            i += len;
            continue;
        }
        const bool word = is_word_char(c);
        if (!word) normalizer_end_word(&z);
        if (!z.in_token) {
            z.token_separator = z.len > 0;
            if (z.token_separator) z.out[z.len++] = ' ';
            z.token_start = z.len;
            z.in_token = true;
        }
        if (word && !z.in_word) {
            z.in_word = true;
            z.word_start = z.len;
        }
        for (size_t k = 0; k < len; k++) {
            const unsigned char b = s[i + k];
            z.out[z.len++] = (char)(b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b);
        }
        i += len;
    }
    normalizer_end_word(&z);
    normalizer_end_token(&z);
    out[z.len] = '\0';
    *out_len = z.len;
}

qf_status qf_squad_normalize(const char *text, char *out, size_t out_size, qf_error *err)
{
    if (!text || !out) return invalid(err, "text", "text or out is NULL");
    const size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (!buf) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "text", "out of memory normalizing an answer");
    size_t len;
    squad_normalize_into(text, buf, &len);
    if (len >= out_size) {
        free(buf);
        qf_error_set(err, QF_STATUS_LIMIT, NULL, NULL, -1, "out", "the normalized answer does not fit the buffer");
        qf_error_expected(err, "at least %zu bytes", len + 1);
        qf_error_found(err, "%zu", out_size);
        return QF_STATUS_LIMIT;
    }
    memcpy(out, buf, len + 1);
    free(buf);
    return QF_STATUS_OK;
}

/* A normalized answer and its tokens (spans of text), sorted for counting. */
typedef struct squad_tokens {
    char *text;
    size_t len, count;
    struct token_span {
        const char *at;
        size_t len;
    } *token;
} squad_tokens;

static int token_cmp(const void *a, const void *b)
{
    const struct token_span *x = a, *y = b;
    const size_t n = x->len < y->len ? x->len : y->len;
    const int c = memcmp(x->at, y->at, n);
    if (c != 0) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static void squad_tokens_free(squad_tokens *t)
{
    free(t->text);
    free(t->token);
    memset(t, 0, sizeof *t);
}

static qf_status squad_tokens_make(const char *answer, squad_tokens *t, qf_error *err)
{
    memset(t, 0, sizeof *t);
    const size_t n = strlen(answer);
    t->text = malloc(n + 1);
    if (!t->text) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "answer", "out of memory normalizing an answer");
    squad_normalize_into(answer, t->text, &t->len);
    size_t count = t->len > 0;
    for (size_t i = 0; i < t->len; i++) count += t->text[i] == ' ';
    t->token = malloc((count ? count : 1) * sizeof *t->token);
    if (!t->token) {
        squad_tokens_free(t);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "answer", "out of memory normalizing an answer");
    }
    size_t start = 0;
    for (size_t i = 0; i <= t->len && t->len > 0; i++) {
        if (i == t->len || t->text[i] == ' ') {
            t->token[t->count].at = t->text + start;
            t->token[t->count].len = i - start;
            t->count++;
            start = i + 1;
        }
    }
    qsort(t->token, t->count, sizeof *t->token, token_cmp);
    return QF_STATUS_OK;
}

/* exact match and F1 of two normalized answers, as evaluate-v1.1.py computes them */
static void squad_pair(const squad_tokens *pred, const squad_tokens *gold, double *em, double *f1)
{
    *em = pred->len == gold->len && memcmp(pred->text, gold->text, pred->len) == 0 ? 1.0 : 0.0;
    size_t common = 0;
    for (size_t i = 0, j = 0; i < pred->count && j < gold->count;) {
        const int c = token_cmp(&pred->token[i], &gold->token[j]);
        if (c == 0) common++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    if (common == 0) {
        *f1 = 0.0;
        return;
    }
    const double precision = 1.0 * (double)common / (double)pred->count;
    const double recall = 1.0 * (double)common / (double)gold->count;
    *f1 = (2 * precision * recall) / (precision + recall);
}

qf_status qf_squad_add(qf_squad_totals *totals, const char *prediction, const char *const *answers,
                       size_t num_answers, qf_error *err)
{
    if (!totals) return invalid(err, "totals", "totals is NULL");
    if (!prediction) return invalid(err, "prediction", "prediction is NULL");
    if (num_answers == 0 || !answers) return invalid(err, "answers", "a question needs at least one gold answer");
    for (size_t a = 0; a < num_answers; a++) {
        if (!answers[a]) {
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "answers", "gold answer %zu is NULL", a);
        }
    }
    squad_tokens pred;
    qf_status st = squad_tokens_make(prediction, &pred, err);
    if (st != QF_STATUS_OK) return st;
    double best_em = 0.0, best_f1 = 0.0;
    for (size_t a = 0; a < num_answers; a++) {
        squad_tokens gold;
        st = squad_tokens_make(answers[a], &gold, err);
        if (st != QF_STATUS_OK) break;
        double em, f1;
        squad_pair(&pred, &gold, &em, &f1);
        if (a == 0 || em > best_em) best_em = em;
        if (a == 0 || f1 > best_f1) best_f1 = f1;
        squad_tokens_free(&gold);
    }
    squad_tokens_free(&pred);
    if (st != QF_STATUS_OK) return st;
    totals->exact_match_sum += best_em;
    totals->f1_sum += best_f1;
    totals->questions++;
    return QF_STATUS_OK;
}

qf_status qf_squad_score(const char *prediction, const char *answer, double *exact_match, double *f1,
                         qf_error *err)
{
    if (!prediction || !answer) return invalid(err, "answer", "prediction or answer is NULL");
    qf_squad_totals t = {0};
    qf_status st = qf_squad_add(&t, prediction, &answer, 1, err);
    if (st != QF_STATUS_OK) return st;
    if (exact_match) *exact_match = t.exact_match_sum;
    if (f1) *f1 = t.f1_sum;
    return QF_STATUS_OK;
}

double qf_squad_exact_match(const qf_squad_totals *totals)
{
    return totals && totals->questions ? totals->exact_match_sum / (double)totals->questions : 0.0;
}

double qf_squad_f1(const qf_squad_totals *totals)
{
    return totals && totals->questions ? totals->f1_sum / (double)totals->questions : 0.0;
}

/* =============================================================================================
 * Multi-label classification
 * =========================================================================================== */

static bool positive_decision(float logit, double threshold)
{
    return 1.0 / (1.0 + exp(-(double)logit)) >= threshold;
}

static qf_status check_multilabel(const float *logits, size_t rows, size_t labels, double threshold,
                                  const char *which, qf_error *err)
{
    if (!(threshold >= 0.0 && threshold <= 1.0)) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "threshold", "the threshold is not in [0, 1]");
        qf_error_found(err, "%g", threshold);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    if (labels != 0 && rows > SIZE_MAX / labels) return invalid(err, which, "rows * labels overflows");
    if (rows * labels > 0 && !logits) return invalid(err, which, "logits is NULL");
    for (size_t i = 0; i < rows * labels; i++) {
        if (isnan(logits[i])) {
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, which,
                                "logit of row %zu, label %zu is NaN", i / labels, i % labels);
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_multilabel_counts_add(qf_multilabel_counts *counts, const float *logits, const uint8_t *gold,
                                   size_t rows, size_t labels, double threshold, qf_error *err)
{
    if (!counts) return invalid(err, "counts", "counts is NULL");
    qf_status st = check_multilabel(logits, rows, labels, threshold, "logits", err);
    if (st != QF_STATUS_OK) return st;
    const size_t n = rows * labels;
    if (n > 0 && !gold) return invalid(err, "gold", "gold is NULL");
    for (size_t i = 0; i < n; i++) {
        if (gold[i] > 1) {
            qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "gold", "gold label of row %zu, label %zu is not 0 or 1",
                         i / labels, i % labels);
            qf_error_found(err, "%u", (unsigned)gold[i]);
            return QF_STATUS_INVALID_ARGUMENT;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const bool predicted = positive_decision(logits[i], threshold);
        counts->predicted += predicted;
        counts->gold += gold[i];
        counts->true_positive += predicted && gold[i];
    }
    counts->decisions += n;
    return QF_STATUS_OK;
}

double qf_multilabel_f1(const qf_multilabel_counts *counts)
{
    if (!counts) return 0.0;
    return ratio(2 * counts->true_positive, counts->predicted + counts->gold);
}

qf_status qf_multilabel_agreement_add(uint64_t *rows_total, uint64_t *agreeing, const float *logits_a,
                                      const float *logits_b, size_t rows, size_t labels, double threshold,
                                      qf_error *err)
{
    if (!rows_total || !agreeing) return invalid(err, "rows", "rows_total or agreeing is NULL");
    qf_status st = check_multilabel(logits_a, rows, labels, threshold, "logits_a", err);
    if (st == QF_STATUS_OK) st = check_multilabel(logits_b, rows, labels, threshold, "logits_b", err);
    if (st != QF_STATUS_OK) return st;
    uint64_t same = 0;
    for (size_t r = 0; r < rows; r++) {
        bool equal = true;
        for (size_t l = 0; l < labels && equal; l++) {
            equal = positive_decision(logits_a[r * labels + l], threshold) ==
                    positive_decision(logits_b[r * labels + l], threshold);
        }
        same += equal;
    }
    *rows_total += rows;
    *agreeing += same;
    return QF_STATUS_OK;
}

/* =============================================================================================
 * Ranking: Spearman; MRR@10 and NDCG@10 of a group
 * =========================================================================================== */

typedef struct ranked_value {
    double value;
    size_t index;
} ranked_value;

static int ranked_value_cmp(const void *a, const void *b)
{
    const ranked_value *x = a, *y = b;
    if (x->value < y->value) return -1;
    if (x->value > y->value) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* scipy.stats.rankdata(method="average"): ranks 1..n, ties given the mean of their ranks. */
static void average_ranks(const double *v, size_t n, ranked_value *scratch, double *rank)
{
    for (size_t i = 0; i < n; i++) scratch[i] = (ranked_value){v[i], i};
    qsort(scratch, n, sizeof *scratch, ranked_value_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && scratch[j].value == scratch[i].value) j++;
        const double r = ((double)i + (double)(j - 1)) / 2.0 + 1.0;
        for (size_t k = i; k < j; k++) rank[scratch[k].index] = r;
        i = j;
    }
}

static qf_status check_no_nan(const double *v, size_t n, const char *which, qf_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i])) {
            return qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, which, "%s[%zu] is NaN", which, i);
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_spearman(const double *x, const double *y, size_t n, double *rho, qf_error *err)
{
    if (!x || !y || !rho) return invalid(err, "x", "x, y or rho is NULL");
    if (n < 2) {
        qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "n", "Spearman needs at least two pairs");
        qf_error_found(err, "%zu", n);
        return QF_STATUS_INVALID_ARGUMENT;
    }
    qf_status st = check_no_nan(x, n, "x", err);
    if (st == QF_STATUS_OK) st = check_no_nan(y, n, "y", err);
    if (st != QF_STATUS_OK) return st;
    if (n > SIZE_MAX / (sizeof(ranked_value) + 2 * sizeof(double))) return invalid(err, "n", "n is too large");
    ranked_value *scratch = malloc(n * sizeof *scratch);
    double *rx = malloc(2 * n * sizeof *rx);
    if (!scratch || !rx) {
        free(scratch);
        free(rx);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, "n", "out of memory for %zu ranks", n);
    }
    double *ry = rx + n;
    average_ranks(x, n, scratch, rx);
    average_ranks(y, n, scratch, ry);
    free(scratch);
    const double mean = ((double)n + 1.0) / 2.0; /* the mean of ranks 1..n, ties or not */
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        const double dx = rx[i] - mean, dy = ry[i] - mean;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    free(rx);
    if (sxx == 0 || syy == 0) {
        *rho = NAN;
        return QF_STATUS_OK;
    }
    double r = sxy / sqrt(sxx * syy);
    *rho = r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
    return QF_STATUS_OK;
}

/* The indices of the (up to) QF_RANKING_CUTOFF highest values, highest first; equal values keep
 * their input order. Returns how many. */
static size_t top_indices(const double *v, size_t n, size_t *top)
{
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        if (have == QF_RANKING_CUTOFF && !(v[i] > v[top[have - 1]])) continue;
        size_t at = have < QF_RANKING_CUTOFF ? have++ : QF_RANKING_CUTOFF - 1;
        while (at > 0 && v[i] > v[top[at - 1]]) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = i;
    }
    return have;
}

qf_status qf_ranking_group_add(qf_ranking_totals *totals, const double *scores, const double *labels, size_t n,
                               qf_error *err)
{
    if (!totals) return invalid(err, "totals", "totals is NULL");
    if (n == 0) return invalid(err, "n", "a group needs at least one item");
    if (!scores || !labels) return invalid(err, "scores", "scores or labels is NULL");
    qf_status st = check_no_nan(scores, n, "scores", err);
    if (st != QF_STATUS_OK) return st;
    bool any_relevant = false;
    for (size_t i = 0; i < n; i++) {
        if (!(labels[i] >= 0) || isinf(labels[i])) {
            qf_error_set(err, QF_STATUS_INVALID_ARGUMENT, NULL, NULL, -1, "labels",
                         "labels[%zu] is not a finite relevance >= 0", i);
            qf_error_found(err, "%g", labels[i]);
            return QF_STATUS_INVALID_ARGUMENT;
        }
        any_relevant |= labels[i] > 0;
    }
    totals->groups++;
    if (!any_relevant) {
        totals->groups_without_relevant++; /* MRR and NDCG 0, counted in the means */
        return QF_STATUS_OK;
    }
    size_t by_score[QF_RANKING_CUTOFF], by_label[QF_RANKING_CUTOFF];
    const size_t k = top_indices(scores, n, by_score);
    top_indices(labels, n, by_label);
    double mrr = 0.0, dcg = 0.0, ideal = 0.0;
    for (size_t r = 0; r < k; r++) {
        const double discount = log2((double)r + 2.0);
        if (mrr == 0.0 && labels[by_score[r]] > 0) mrr = 1.0 / ((double)r + 1.0);
        dcg += labels[by_score[r]] / discount;
        ideal += labels[by_label[r]] / discount;
    }
    totals->mrr_sum += mrr;
    totals->ndcg_sum += dcg / ideal; /* ideal > 0: some label is > 0 and is in the ideal top k */
    return QF_STATUS_OK;
}

double qf_ranking_mrr(const qf_ranking_totals *totals)
{
    return totals && totals->groups ? totals->mrr_sum / (double)totals->groups : 0.0;
}

double qf_ranking_ndcg(const qf_ranking_totals *totals)
{
    return totals && totals->groups ? totals->ndcg_sum / (double)totals->groups : 0.0;
}
