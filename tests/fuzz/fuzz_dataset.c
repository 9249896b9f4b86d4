/*
 * tests/fuzz/fuzz_dataset.c — JSONL data (text/dataset.c): the input is the data file (a
 * memory-backed file, memfd), tokenized with a small fixed WordPiece tokenizer, string labels
 * looked up in a fixed config.json (label2id with ids in and out of range, id2label), with and
 * without truncation, then once more with the same tokenizer without its post-processor (an empty
 * or whitespace text gives no tokens at all there), and both once more behind a prompt whose tokens
 * the pooling leaves out (every row accepted must keep a token after them). Each loaded set meets a 30-class model's label
 * check (qf_dataset_check_labels), its error formatted. The same bytes are then read as the other
 * jobs' row files: word-labelled rows, QA rows with their strided windows, the scoring jobs' gold
 * fields; every error line they make must be inert.
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/verify.h"

static const char tokenizer_json[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
    "{\"id\":0,\"content\":\"[PAD]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":1,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":2,\"content\":\"[CLS]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":3,\"content\":\"[SEP]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
    "\"decoder\":null,"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
    "\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"the\":4,\"a\":5,\"##s\":6,\"lib\":7,\"##rary\":8,\"for\":9,\"python\":10}}}";

/* bare: the tokenizer with "post_processor":null (no [CLS] [SEP]) */
static qf_tokenizer *tokenizer(bool bare)
{
    static qf_tokenizer *t[2];
    static bool tried;
    if (!tried) {
        tried = true;
        qf_tokenizer_load_json(tokenizer_json, sizeof tokenizer_json - 1, "fuzz/tokenizer.json", &t[0], NULL);
        static char json[sizeof tokenizer_json];
        const char *pp = strstr(tokenizer_json, "\"post_processor\":"), *end = strstr(tokenizer_json, ",\"decoder\"");
        int n = snprintf(json, sizeof json, "%.*s\"post_processor\":null%s", (int)(pp - tokenizer_json), tokenizer_json, end);
        qf_tokenizer_load_json(json, (size_t)n, "fuzz/tokenizer-bare.json", &t[1], NULL);
    }
    return t[bare];
}

/* An error line, as the CLI prints it: never a control byte. */
static void format_checked(const qf_error *err)
{
    char line[4 * 2048];
    qf_error_format(err, line, sizeof line);
    if (!qf_fuzz_text_is_inert(line, strlen(line))) {
        fprintf(stderr, "qf_error_format printed a control: %s\n", line);
        abort();
    }
}

/* The same bytes as the other jobs' row files: word-labelled rows (token classification), QA rows
 * (and their strided windows), and the scoring jobs' gold fields. */
static void job_rows(const char *path)
{
    qf_error err;
    qf_error_clear(&err);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = 12;
    qf_word_rows *w = NULL;
    if (qf_word_rows_load(path, tokenizer(false), &dp, &w, &err) == QF_STATUS_OK) {
        for (size_t i = 0; i < qf_word_rows_size(w); i++) {
            const qf_word_row *r = qf_word_rows_at(w, i);
            for (size_t k = 0; k < r->num_words; k++) {
                int32_t t = r->word_first_token[k];
                if (t >= r->length) abort(); /* a word's first token is a token of the row, or -1 */
                if (r->labels) (void)strlen(r->labels[k]);
            }
        }
    } else {
        format_checked(&err);
    }
    qf_word_rows_destroy(w);

    qf_error_clear(&err);
    qf_qa_rows *q = NULL;
    if (qf_qa_rows_load(path, 0, &q, &err) == QF_STATUS_OK) {
        qf_qa_params p = qf_qa_params_default();
        p.max_seq_len = 16;
        p.doc_stride = 3;
        qf_qa_params_resolve(&p, 64, &p, NULL);
        for (size_t i = 0; i < qf_qa_rows_count(q); i++) {
            const qf_qa_row *r = qf_qa_rows_at(q, i);
            for (size_t k = 0; k < r->num_answers; k++) (void)strlen(r->answer_texts[k]);
            if (!r->question) continue;
            qf_qa_windows win = {0};
            qf_error_clear(&err);
            if (qf_qa_windows_build(tokenizer(false), r->question, r->question_len, r->context, r->context_len, &p,
                                    &win, &err) != QF_STATUS_OK)
                format_checked(&err);
            qf_qa_windows_free(&win);
        }
    } else {
        format_checked(&err);
    }
    qf_qa_rows_destroy(q);

    qf_error_clear(&err);
    qf_row_fields_params fp = qf_row_fields_params_default();
    fp.config_json = "{\"label2id\":{\"devel\":0,\"libs\":1},\"id2label\":{\"0\":\"devel\",\"1\":\"libs\",\"2\":\"doc\"}}";
    fp.num_labels = 3;
    fp.relevance = true;
    fp.score = true;
    qf_row_fields *f = NULL;
    if (qf_row_fields_load(path, &fp, &f, &err) == QF_STATUS_OK) {
        for (size_t i = 0; i < qf_row_fields_size(f); i++) {
            const uint8_t *labels = qf_row_fields_labels(f, i);
            if (labels) (void)(labels[0] + labels[2]);
            const char *g = qf_row_fields_group(f, i);
            if (g) (void)strlen(g);
        }
    } else {
        format_checked(&err);
    }
    qf_row_fields_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = qf_fuzz_memfd("data", data, size, path);
    if (fd < 0) return 0;
    for (int round = 0; round < 5; round++) {
        qf_dataset_params p = qf_dataset_params_default();
        p.config_json = "{\"label2id\":{\"devel\":0,\"libs\":1,\"far\":40,\"neg\":-5,\"half\":0.5},"
                        "\"id2label\":{\"0\":\"devel\",\"1\":\"libs\",\"2\":\"doc\",\"x\":\"bad\",\"-1\":\"minus\"}}";
        p.max_length = round == 1 || round == 3 ? 8 : 0;
        /* rounds 3 and 4: a sentence-transformers prompt left out of the pooling, with and without
         * the post-processor's special tokens */
        if (round >= 3) {
            p.prompt = "the lib for: ";
            p.prompt_excluded = true;
        }
        qf_dataset *d = NULL;
        qf_error err;
        qf_error_clear(&err);
        char line[2048];
        if (qf_dataset_load(path, tokenizer(round == 2 || round == 4), &p, &d, &err) == QF_STATUS_OK) {
            if (qf_dataset_check_labels(d, 30, &err) != QF_STATUS_OK) qf_error_format(&err, line, sizeof line);
            for (size_t i = 0; i < qf_dataset_size(d); i++) {
                const qf_dataset_row *r = qf_dataset_row_at(d, i);
                if (round >= 3 && r->length <= qf_dataset_pool_skip(d)) abort(); /* a row to pool is left */
                /* touch the last id and type (unsigned: a row may hold any int32, e.g. INT32_MAX) */
                if (r->length > 0) (void)((uint32_t)r->input_ids[r->length - 1] + (uint32_t)r->token_type_ids[r->length - 1]);
            }
        } else {
            qf_error_format(&err, line, sizeof line);
        }
        qf_dataset_destroy(d);
    }
    job_rows(path);
    close(fd);
    return 0;
}
