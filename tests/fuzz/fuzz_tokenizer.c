/*
 * tests/fuzz/fuzz_tokenizer.c — tokenizer.json (text/tokenizer*.c): load from memory, then
 * encode a few fixed texts (ASCII, accents, CJK, emoji, control bytes, and runs of characters that
 * normalizers grow: "a", U+FDFA, dotted I, CJK) with what was loaded, formatting each error. The
 * seed corpus holds chains of Replace / Prepend / Lowercase / NFKD normalizers for the mutations
 * to grow (QF_TOKENIZER_MAX_NORMALIZE_EXPANSION).
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *texts[] = {"Hello, world! unaffable", "Caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd",
                                  "  \t\x01 [CLS] <s> \xf0\x9f\x98\x80 don't 12345 ", "",
                                  "aaaaaaaa aaaa \xef\xb7\xba\xef\xb7\xba \xc4\xb0\xc4\xb0 \xe4\xb8\xad\xe4\xb8\xad aXa"};
    qf_tokenizer *t = NULL;
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = 32;
    tp.pad_to = 40;
    qf_error err;
    char line[2048];
    qf_error_clear(&err);
    if (qf_tokenizer_load_json(data, size, "fuzz/tokenizer.json", &t, &err) == QF_STATUS_OK) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            qf_encoding enc;
            memset(&enc, 0, sizeof enc);
            qf_error_clear(&err);
            if (qf_tokenizer_encode(t, texts[i], strlen(texts[i]), &tp, &enc, &err) != QF_STATUS_OK)
                qf_error_format(&err, line, sizeof line);
            qf_encoding_free(&enc);
        }
        (void)qf_tokenizer_token_to_id(t, "[UNK]");
    } else {
        qf_error_format(&err, line, sizeof line);
    }
    qf_tokenizer_destroy(t);
    return 0;
}
