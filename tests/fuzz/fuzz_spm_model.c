/*
 * tests/fuzz/fuzz_spm_model.c — SentencePiece model files read without a tokenizer.json
 * (text/tokenizer_spm.c, protobuf/spm_proto.c): the input is the model file. It is converted for each
 * tokenizer class qforge reads (XLM-R, CamemBERT, DeBERTa-v2 with split_by_punct and lowercase,
 * ALBERT keeping accents), the tokenizer.json made of it is loaded, and fixed texts are encoded,
 * alone and as a pair. Checks: protobuf-c's unpack and every check after it stay inside the input
 * (ASan); the JSON the converter writes always parses (a failure there is a converter bug, not a
 * refusal: abort); an accepted tokenizer encodes every fixed text or refuses it with a status.
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/verify.h"
#include "text/tokenizer_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *texts[] = {"Hello, world!", "Caf\xc3\xa9  na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd",
                                  " [CLS] <s> <mask> \xef\xbc\xa1 e\xcc\x81 ", ""};
    static const struct { const char *cls; int lower, accents, punct, prefix; } opts[] = {
        {"XLMRobertaTokenizer", -1, -1, -1, 1},
        {"CamembertTokenizerFast", -1, -1, -1, 0},
        {"DebertaV2Tokenizer", 1, -1, 1, 1},
        {"AlbertTokenizer", -1, 1, -1, 1},
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        qf_error err;
        qf_error_clear(&err);
        qf_tok_ctx c = {"fuzz/spm.model", &err};
        qf_tok_spm_options o = {.do_lower_case = opts[k].lower, .keep_accents = opts[k].accents,
                                .split_by_punct = opts[k].punct, .add_prefix_space = opts[k].prefix};
        snprintf(o.tokenizer_class, sizeof o.tokenizer_class, "%s", opts[k].cls);
        char *json = NULL;
        size_t len = 0;
        if (qf_tok_spm_to_json(&c, data, size, &o, &json, &len) != QF_STATUS_OK) {
            char line[1024];
            qf_error_format(&err, line, sizeof line);
            qf_fuzz_check_escaped(line);
            continue;
        }
        qf_tokenizer *t = NULL;
        qf_error_clear(&err);
        qf_status s = qf_tokenizer_load_json(json, len, "fuzz/spm.model", &t, &err);
        /* the converter writes valid JSON; its checks (the charsmap's, the limits) may still refuse */
        if (s == QF_STATUS_TRUNCATED || (s == QF_STATUS_FORMAT && err.offset >= 0)) {
            fprintf(stderr, "the converter wrote JSON that does not parse: %s\n", err.message);
            abort();
        }
        free(json);
        if (s != QF_STATUS_OK) {
            char line[1024];
            qf_error_format(&err, line, sizeof line);
            qf_fuzz_check_escaped(line);
            continue;
        }
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            qf_encoding e;
            memset(&e, 0, sizeof e);
            qf_tokenize_params p = qf_tokenize_params_default();
            p.max_length = 24;
            (void)qf_tokenizer_encode(t, texts[i], strlen(texts[i]), &p, &e, NULL);
            const char *b = texts[(i + 1) % (sizeof texts / sizeof texts[0])];
            (void)qf_tokenizer_encode_pair(t, texts[i], strlen(texts[i]), b, strlen(b), &p, &e, NULL);
            qf_encoding_free(&e);
        }
        qf_tokenizer_destroy(t);
    }
    return 0;
}
