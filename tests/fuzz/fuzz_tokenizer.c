/*
 * tests/fuzz/fuzz_tokenizer.c — tokenizer.json (verify/tokenizer*.c): load from memory, then
 * encode a few fixed texts (ASCII, accents, CJK, emoji, control bytes) with what was loaded.
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *texts[] = {"Hello, world! unaffable", "Caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd",
                                  "  \t\x01 [CLS] <s> \xf0\x9f\x98\x80 don't 12345 ", ""};
    qf_tokenizer *t = NULL;
    qf_tokenize_params tp = qf_tokenize_params_default();
    tp.max_length = 32;
    tp.pad_to = 40;
    if (qf_tokenizer_load_json(data, size, "fuzz/tokenizer.json", &t, NULL) == QF_STATUS_OK) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            qf_encoding enc;
            memset(&enc, 0, sizeof enc);
            (void)qf_tokenizer_encode(t, texts[i], strlen(texts[i]), &tp, &enc, NULL);
            qf_encoding_free(&enc);
        }
        (void)qf_tokenizer_token_to_id(t, "[UNK]");
    }
    qf_tokenizer_destroy(t);
    return 0;
}
