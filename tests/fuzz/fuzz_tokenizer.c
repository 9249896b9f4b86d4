/*
 * tests/fuzz/fuzz_tokenizer.c — tokenizer.json (text/tokenizer*.c): load from memory, then
 * encode a few fixed texts (ASCII, accents, CJK, emoji, control bytes, and runs of characters that
 * normalizers grow: "a", U+FDFA, dotted I, CJK) with what was loaded, formatting each error. The
 * seed corpus holds chains of Replace / Prepend / Lowercase / NFKD normalizers for the mutations
 * to grow (QF_TOKENIZER_MAX_NORMALIZE_EXPANSION). Each text is also encoded as a pair with the next
 * one; every token's offsets must lie inside the text it came from, and its words never go down
 * within a text (-1 on special tokens and padding).
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/verify.h"

/* Offsets name characters of the text their token came from (a: sequence 0, b: sequence 1), in
 * order; special tokens and padding are (0, 0). */
static void check_offsets(const qf_encoding *e, const char *a, const char *b)
{
    for (size_t i = 0; i < e->length; i++) {
        int32_t s = e->offsets[2 * i], end = e->offsets[2 * i + 1], seq = e->sequence_ids[i];
        const char *text = seq == 0 ? a : seq == 1 ? b : NULL;
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) chars += (*p & 0xC0) != 0x80;
        if (seq < -1 || seq > (b ? 1 : 0) || s < 0 || end < s || (size_t)end > chars + 0u || (!text && (s || end))) {
            fprintf(stderr, "token %zu: offsets (%d, %d) of sequence %d out of its text\n", i, (int)s, (int)end, (int)seq);
            abort();
        }
    }
    /* words: -1 off the texts; in each text they never go down (the text's pieces in order; a piece
     * that makes no token still takes its index, as Hugging Face's enumeration of the splits) */
    int32_t last[2] = {-1, -1};
    for (size_t i = 0; i < e->length; i++) {
        int32_t w = e->word_ids[i], seq = e->sequence_ids[i];
        if (seq < 0 ? w != -1 : (w < 0 || w < last[seq])) {
            fprintf(stderr, "token %zu: word %d of sequence %d after word %d\n", i, (int)w, (int)seq,
                    (int)(seq < 0 ? -1 : last[seq]));
            abort();
        }
        if (seq >= 0) last[seq] = w;
    }
}

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
            else
                check_offsets(&enc, texts[i], NULL);
            /* the same text paired with the next one (a pair template, longest-first truncation) */
            const char *b = texts[(i + 1) % (sizeof texts / sizeof texts[0])];
            qf_error_clear(&err);
            if (qf_tokenizer_encode_pair(t, texts[i], strlen(texts[i]), b, strlen(b), &tp, &enc, &err) != QF_STATUS_OK)
                qf_error_format(&err, line, sizeof line);
            else
                check_offsets(&enc, texts[i], b);
            qf_encoding_free(&enc);
        }
        (void)qf_tokenizer_token_to_id(t, "[UNK]");
    } else {
        qf_error_format(&err, line, sizeof line);
    }
    qf_tokenizer_destroy(t);
    return 0;
}
