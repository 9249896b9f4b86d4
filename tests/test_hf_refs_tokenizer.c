/*
 * tests/test_hf_refs_tokenizer.c: qforge's tokenizers against what Hugging Face's own libraries
 * computed (tokenizers 0.23.2, transformers 5.17; fixtures/hf-refs/README.md), case by case:
 *
 *   - single texts: ids, type ids, offsets (code points) and sequence ids (qf_tokenizer_encode);
 *   - pairs (text i, text i + 1): the same (qf_tokenizer_encode_pair), untruncated and truncated
 *     longest_first to 16 and to 24 tokens;
 *   - question-answering windows (`only_second`, max_length 48, stride 8, overflowing tokens): rebuilt
 *     with qf_qa_windows_build (max_seq_len 48, doc_stride 8, the question not cut), window by
 *     window; a row Rust refused (its "error") must be refused by qforge too.
 *
 * For bert-mini, roberta-mini (fixtures/tokenizer) and the family fixtures' WordPiece and byte-level
 * BPE tokenizers (fixtures/families/bert, shared by distilbert and electra, and roberta). Every case
 * is compared; the mismatches are listed (the first few per part), then the test fails if any.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qforge/text.h"
#include "qforge/verify.h"

#define REFS QF_SOURCE_DIR "/fixtures/hf-refs/tokenizers/"
#define SHOWN_PER_PART 5

typedef struct tally {
    const char *part;
    size_t cases, matched;
    size_t early_exit; /* differences that are exactly tokenizers 0.23.1+'s truncation early exit (below) */
} tally;

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("reference lacks \"%s\"", key);
    return v;
}

/* Compares one encoding with a reference {ids | input_ids, type_ids | token_type_ids, offsets,
 * sequence_ids}; writes the first difference into why. */
static bool same_ints(const char *what, const int32_t *got, size_t n, size_t stride, size_t lane, json_object *want,
                      char *why, size_t why_size)
{
    if (json_object_array_length(want) != n) {
        snprintf(why, why_size, "%s: %zu entries, expected %zu", what, n, json_object_array_length(want));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *w = json_object_array_get_idx(want, i);
        int32_t expected = json_object_get_int(w);
        if (stride == 2) {
            expected = json_object_get_int(json_object_array_get_idx(w, lane));
        }
        int32_t actual = got[i * stride + lane];
        if (actual != expected) {
            snprintf(why, why_size, "%s[%zu]%s = %d, expected %d", what, i, stride == 2 ? (lane ? ".end" : ".start") : "",
                     actual, expected);
            return false;
        }
    }
    return true;
}

static bool same_encoding(const qf_encoding *e, json_object *ids, json_object *types, json_object *offsets,
                          json_object *sequence_ids, char *why, size_t why_size)
{
    if (!same_ints("ids", e->input_ids, e->length, 1, 0, ids, why, why_size)) return false;
    /* transformers returns no token_type_ids for a tokenizer without them (null): nothing to compare */
    if (types && !same_ints("type_ids", e->token_type_ids, e->length, 1, 0, types, why, why_size)) return false;
    if (!same_ints("offsets", e->offsets, e->length, 2, 0, offsets, why, why_size)) return false;
    if (!same_ints("offsets", e->offsets, e->length, 2, 1, offsets, why, why_size)) return false;
    return same_ints("sequence_ids", e->sequence_ids, e->length, 1, 0, sequence_ids, why, why_size);
}

/*
 * tokenizers 0.23.1 and 0.23.2 (huggingface/tokenizers issue #2091; fix proposed in PR #2098) stop
 * tokenizing a text once max_length tokens exist when truncation is on (do_tokenize ->
 * tokenize_with_limit: whole pre-token splits until the running count reaches max_length; under
 * only_second the first text is exempt). The dropped splits are what Encoding::truncate would have
 * cut into overflowing windows or what longest_first compares. qforge tokenizes the whole text, as
 * 0.22.2 did and as the fix restores. Two visible effects, each checked here to be the only
 * difference:
 *   - QA windows stop once the context tokens that were kept (>= max_length of them) are covered:
 *     Rust's windows are qforge's first windows, the last one cut short (its context a prefix of
 *     qforge's window), and their count is what qf_qa_window_ranges gives for that shorter context;
 *   - longest_first, both texts longer than half: the odd token goes to the text whose *capped*
 *     length is longer, so it can swap sides when a text is longer than max_length; every token
 *     kept is still the text's own prefix.
 */
static int32_t int_at(json_object *array, size_t i)
{
    return json_object_get_int(json_object_array_get_idx(array, i));
}

static bool window_prefix_of(const qf_encoding *e, json_object *ids, json_object *types, json_object *offsets,
                             json_object *seq, size_t *context_tokens)
{
    size_t n = json_object_array_length(ids), tail = 0;
    while (tail < n && int_at(seq, n - 1 - tail) == -1) tail++;
    if (n > e->length || tail == n) return false;
    *context_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = i < n - tail ? i : e->length - (n - i); /* the trailing specials align with qforge's */
        json_object *off = json_object_array_get_idx(offsets, i);
        if (e->input_ids[k] != int_at(ids, i) || e->sequence_ids[k] != int_at(seq, i) ||
            e->offsets[2 * k] != int_at(off, 0) || e->offsets[2 * k + 1] != int_at(off, 1))
            return false;
        if (types && e->token_type_ids[k] != int_at(types, i)) return false;
        *context_tokens += int_at(seq, i) == 1;
    }
    return true;
}

static bool qa_early_exit_explains(const qf_tokenizer *tok, const qf_qa_windows *w, const qf_qa_params *p,
                                   json_object *ids, json_object *types, json_object *offsets, json_object *seq)
{
    size_t count = json_object_array_length(ids);
    if (count == 0 || count > w->count) return false;
    size_t last_context_tokens = 0;
    for (size_t k = 0; k < count; k++) {
        json_object *type_k = json_object_is_type(types, json_type_array) ? json_object_array_get_idx(types, k) : NULL;
        if (!window_prefix_of(&w->window[k], json_object_array_get_idx(ids, k), type_k,
                              json_object_array_get_idx(offsets, k), json_object_array_get_idx(seq, k),
                              &last_context_tokens))
            return false;
        if (k + 1 < count && json_object_array_length(json_object_array_get_idx(ids, k)) != w->window[k].length)
            return false; /* only the last window may be cut short */
    }
    size_t kept = w->context_first[count - 1] + last_context_tokens, question_tokens = 0;
    for (size_t i = 0; i < w->window[0].length; i++) question_tokens += w->window[0].sequence_ids[i] == 0;
    if (kept < (size_t)p->max_seq_len) return false; /* the early exit keeps at least max_length tokens */
    size_t ranges[2 * 256], expected_count = 0;
    qf_error err;
    qf_error_clear(&err);
    if (qf_qa_window_ranges(question_tokens, kept, qf_tokenizer_num_special_tokens_pair(tok), p->max_seq_len,
                            p->doc_stride, ranges, 256, &expected_count, &err) != QF_STATUS_OK)
        return false;
    return expected_count == count;
}

static bool longest_first_early_exit_explains(const qf_tokenizer *tok, json_object *a, json_object *b,
                                              json_object *ref, int32_t max_length)
{
    qf_tokenize_params plain = qf_tokenize_params_default();
    plain.add_special_tokens = false;
    qf_encoding ea, eb;
    qf_encoding_init(&ea);
    qf_encoding_init(&eb);
    bool explained = false;
    if (qf_tokenizer_encode(tok, json_object_get_string(a), (size_t)json_object_get_string_len(a), &plain, &ea, NULL) ||
        qf_tokenizer_encode(tok, json_object_get_string(b), (size_t)json_object_get_string_len(b), &plain, &eb, NULL))
        goto done;
    json_object *ids = member(ref, "ids"), *seq = member(ref, "sequence_ids"), *offsets = member(ref, "offsets");
    size_t n = json_object_array_length(ids), kept[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int32_t which = int_at(seq, i);
        if (which < 0) continue;
        const qf_encoding *e = which == 0 ? &ea : &eb;
        size_t j = kept[which]++;
        json_object *off = json_object_array_get_idx(offsets, i);
        if (j >= e->length || e->input_ids[j] != int_at(ids, i) || e->offsets[2 * j] != int_at(off, 0) ||
            e->offsets[2 * j + 1] != int_at(off, 1))
            goto done;
    }
    size_t budget = (size_t)max_length - qf_tokenizer_num_special_tokens_pair(tok);
    /* both cut to half (one side keeping the odd token), and a text long enough to have been capped */
    explained = kept[0] + kept[1] == budget && kept[0] < ea.length && kept[1] < eb.length &&
                (kept[0] > kept[1] ? kept[0] - kept[1] : kept[1] - kept[0]) == 1 &&
                (ea.length > (size_t)max_length || eb.length > (size_t)max_length);
done:
    qf_encoding_free(&ea);
    qf_encoding_free(&eb);
    return explained;
}

static void report_mismatch(tally *t, const char *name, size_t index, const char *why)
{
    size_t mismatches = t->cases - t->matched - t->early_exit;
    if (mismatches <= SHOWN_PER_PART) print_message("  MISMATCH %s %s #%zu: %s\n", name, t->part, index, why);
}

static void check_singles(const qf_tokenizer *tok, const char *name, json_object *texts, json_object *single, tally *t)
{
    qf_encoding e;
    qf_encoding_init(&e);
    for (size_t i = 0; i < json_object_array_length(single); i++) {
        json_object *text = json_object_array_get_idx(texts, i), *ref = json_object_array_get_idx(single, i);
        qf_error err;
        qf_error_clear(&err);
        char why[256] = "";
        t->cases++;
        qf_status s = qf_tokenizer_encode(tok, json_object_get_string(text), (size_t)json_object_get_string_len(text),
                                          NULL, &e, &err);
        if (s != QF_STATUS_OK) {
            qf_error_format(&err, why, sizeof why);
        } else if (same_encoding(&e, member(ref, "ids"), member(ref, "type_ids"), member(ref, "offsets"),
                                 member(ref, "sequence_ids"), why, sizeof why)) {
            t->matched++;
            continue;
        }
        report_mismatch(t, name, i, why);
    }
    qf_encoding_free(&e);
}

static void check_pairs(const qf_tokenizer *tok, const char *name, json_object *texts, json_object *pairs,
                        int32_t max_length, tally *t)
{
    qf_encoding e;
    qf_encoding_init(&e);
    qf_tokenize_params p = qf_tokenize_params_default();
    p.max_length = max_length;
    size_t n_texts = json_object_array_length(texts);
    for (size_t i = 0; i < json_object_array_length(pairs); i++) {
        json_object *a = json_object_array_get_idx(texts, i), *b = json_object_array_get_idx(texts, (i + 1) % n_texts);
        json_object *ref = json_object_array_get_idx(pairs, i);
        qf_error err;
        qf_error_clear(&err);
        char why[256] = "";
        t->cases++;
        qf_status s = qf_tokenizer_encode_pair(tok, json_object_get_string(a), (size_t)json_object_get_string_len(a),
                                               json_object_get_string(b), (size_t)json_object_get_string_len(b), &p, &e,
                                               &err);
        if (s != QF_STATUS_OK) {
            qf_error_format(&err, why, sizeof why);
        } else if (same_encoding(&e, member(ref, "ids"), member(ref, "type_ids"), member(ref, "offsets"),
                                 member(ref, "sequence_ids"), why, sizeof why)) {
            t->matched++;
            continue;
        } else if (max_length > 0 && longest_first_early_exit_explains(tok, a, b, ref, max_length)) {
            t->early_exit++;
            continue;
        }
        report_mismatch(t, name, i, why);
    }
    qf_encoding_free(&e);
}

static void check_qa_windows(const qf_tokenizer *tok, const char *name, json_object *rows, tally *t,
                             size_t *windows_compared, size_t *refusals)
{
    qf_qa_params p = qf_qa_params_default();
    p.max_seq_len = 48;
    p.doc_stride = 8;
    p.max_question_len = 0;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        json_object *q = member(row, "question"), *c = member(row, "context"), *error = NULL;
        bool refused_by_rust = json_object_object_get_ex(row, "error", &error);
        qf_qa_windows w = {0};
        qf_error err;
        qf_error_clear(&err);
        char why[256] = "";
        t->cases++;
        qf_status s = qf_qa_windows_build(tok, json_object_get_string(q), (size_t)json_object_get_string_len(q),
                                          json_object_get_string(c), (size_t)json_object_get_string_len(c), &p, &w, &err);
        if (refused_by_rust) {
            if (s == QF_STATUS_INVALID_ARGUMENT) {
                t->matched++;
                (*refusals)++;
            } else {
                snprintf(why, sizeof why, "Rust refused (%s), qforge made %zu windows (status %d)",
                         json_object_get_string(error), w.count, (int)s);
                report_mismatch(t, name, i, why);
            }
            qf_qa_windows_free(&w);
            continue;
        }
        json_object *ids = member(row, "input_ids"), *types = member(row, "token_type_ids");
        json_object *offsets = member(row, "offsets"), *seq = member(row, "sequence_ids");
        if (s != QF_STATUS_OK) {
            qf_error_format(&err, why, sizeof why);
        } else if (w.count != json_object_array_length(ids)) {
            int used = snprintf(why, sizeof why, "%zu windows, expected %zu; qforge's context ranges", w.count,
                                json_object_array_length(ids));
            for (size_t k = 0; k < w.count && used > 0 && (size_t)used < sizeof why; k++) {
                size_t context_tokens = 0;
                for (size_t j = 0; j < w.window[k].length; j++) context_tokens += w.window[k].sequence_ids[j] == 1;
                used += snprintf(why + used, sizeof why - (size_t)used, " [%zu, %zu)", w.context_first[k],
                                 w.context_first[k] + context_tokens);
            }
        } else {
            bool all = true;
            for (size_t k = 0; k < w.count && all; k++) {
                char inner[200];
                json_object *type_k = json_object_is_type(types, json_type_array) ? json_object_array_get_idx(types, k)
                                                                                   : NULL;
                if (!same_encoding(&w.window[k], json_object_array_get_idx(ids, k), type_k,
                                   json_object_array_get_idx(offsets, k), json_object_array_get_idx(seq, k), inner,
                                   sizeof inner)) {
                    snprintf(why, sizeof why, "window %zu: %s", k, inner);
                    all = false;
                }
            }
            if (all) {
                t->matched++;
                *windows_compared += w.count;
                qf_qa_windows_free(&w);
                continue;
            }
        }
        if (s == QF_STATUS_OK && qa_early_exit_explains(tok, &w, &p, ids, types, offsets, seq)) {
            t->early_exit++;
            qf_qa_windows_free(&w);
            continue;
        }
        report_mismatch(t, name, i, why);
        qf_qa_windows_free(&w);
    }
}

static size_t g_total_mismatches;

static void check_tokenizer(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, REFS "%s.json", name);
    json_object *root = json_object_from_file(path);
    if (!root) fail_msg("cannot read %s", path);
    char tok_path[512];
    snprintf(tok_path, sizeof tok_path, QF_SOURCE_DIR "/%s", json_object_get_string(member(root, "tokenizer")));
    qf_tokenizer *tok = NULL;
    qf_error err;
    qf_error_clear(&err);
    if (qf_tokenizer_load(tok_path, &tok, &err) != QF_STATUS_OK) {
        char buf[512];
        qf_error_format(&err, buf, sizeof buf);
        fail_msg("%s", buf);
    }
    json_object *texts = member(root, "texts"), *truncated = member(root, "pairs_longest_first");
    tally parts[5] = {{"single", 0, 0, 0}, {"pair", 0, 0, 0}, {"pair_longest_first_16", 0, 0, 0},
                      {"pair_longest_first_24", 0, 0, 0}, {"qa_windows", 0, 0, 0}};
    size_t windows = 0, refusals = 0;
    check_singles(tok, name, texts, member(root, "single"), &parts[0]);
    check_pairs(tok, name, texts, member(root, "pairs"), 0, &parts[1]);
    check_pairs(tok, name, texts, member(truncated, "16"), 16, &parts[2]);
    check_pairs(tok, name, texts, member(truncated, "24"), 24, &parts[3]);
    check_qa_windows(tok, name, member(root, "qa_windows"), &parts[4], &windows, &refusals);
    print_message("%s:", name);
    for (size_t i = 0; i < 5; i++) {
        print_message(" %s %zu/%zu", parts[i].part, parts[i].matched, parts[i].cases);
        if (parts[i].early_exit) print_message(" (+%zu early exit)", parts[i].early_exit);
        g_total_mismatches += parts[i].cases - parts[i].matched - parts[i].early_exit;
    }
    print_message(" (%zu windows equal, %zu refusals agreed)\n", windows, refusals);
    qf_tokenizer_destroy(tok);
    json_object_put(root);
}

static void test_bert_mini(void **state)
{
    (void)state;
    size_t before = g_total_mismatches;
    check_tokenizer("bert-mini");
    assert_int_equal(g_total_mismatches, before);
}

static void test_roberta_mini(void **state)
{
    (void)state;
    size_t before = g_total_mismatches;
    check_tokenizer("roberta-mini");
    assert_int_equal(g_total_mismatches, before);
}

static void test_family_wordpiece(void **state)
{
    (void)state;
    size_t before = g_total_mismatches;
    check_tokenizer("family-bert");
    assert_int_equal(g_total_mismatches, before);
}

static void test_family_byte_level_bpe(void **state)
{
    (void)state;
    size_t before = g_total_mismatches;
    check_tokenizer("family-roberta");
    assert_int_equal(g_total_mismatches, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_mini),
        cmocka_unit_test(test_roberta_mini),
        cmocka_unit_test(test_family_wordpiece),
        cmocka_unit_test(test_family_byte_level_bpe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
