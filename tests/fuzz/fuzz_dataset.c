/*
 * tests/fuzz/fuzz_dataset.c — JSONL data (text/dataset.c): the input is the data file (a
 * memory-backed file, memfd), tokenized with a small fixed WordPiece tokenizer, string labels
 * looked up in a fixed config.json (label2id with ids in and out of range, id2label), with and
 * without truncation, then once more with the same tokenizer without its post-processor (an empty
 * or whitespace text gives no tokens at all there). Each loaded set meets a 30-class model's label
 * check (qf_dataset_check_labels), its error formatted.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = qf_fuzz_memfd("data", data, size, path);
    if (fd < 0) return 0;
    for (int round = 0; round < 3; round++) {
        qf_dataset_params p = qf_dataset_params_default();
        p.config_json = "{\"label2id\":{\"devel\":0,\"libs\":1,\"far\":40,\"neg\":-5,\"half\":0.5},"
                        "\"id2label\":{\"0\":\"devel\",\"1\":\"libs\",\"2\":\"doc\",\"x\":\"bad\",\"-1\":\"minus\"}}";
        p.max_length = round == 1 ? 8 : 0;
        qf_dataset *d = NULL;
        qf_error err;
        qf_error_clear(&err);
        char line[2048];
        if (qf_dataset_load(path, tokenizer(round == 2), &p, &d, &err) == QF_STATUS_OK) {
            if (qf_dataset_check_labels(d, 30, &err) != QF_STATUS_OK) qf_error_format(&err, line, sizeof line);
            for (size_t i = 0; i < qf_dataset_size(d); i++) {
                const qf_dataset_row *r = qf_dataset_row_at(d, i);
                /* touch the last id and type (unsigned: a row may hold any int32, e.g. INT32_MAX) */
                if (r->length > 0) (void)((uint32_t)r->input_ids[r->length - 1] + (uint32_t)r->token_type_ids[r->length - 1]);
            }
        } else {
            qf_error_format(&err, line, sizeof line);
        }
        qf_dataset_destroy(d);
    }
    close(fd);
    return 0;
}
