/*
 * tests/fuzz/fuzz_charsmap.c — SentencePiece's precompiled_charsmap (text/tokenizer_precompiled.c),
 * the blob a SentencePiece model or tokenizer.json's Precompiled normalizer carries: a double-array
 * trie whose indexes and values come from the file. Input: a 2-byte little-endian length L, L bytes
 * of text, then the blob. The blob is loaded as the tokenizer loader loads it; the text (decoded as
 * the tokenizers decode it) and a few fixed texts (ASCII, accents, a decomposed accent, CJK, emoji
 * with a ZWJ, Devanagari, controls) are normalized with it. Checks: a blob that loads never makes
 * the normalizer read outside it (ASan) and only fails with QF_STATUS_FORMAT (the trie points
 * outside) or QF_STATUS_LIMIT (more than the bound); every alignment it writes names a character of
 * its input or none; it never writes more than the bound, even on the way to QF_STATUS_LIMIT.
 */
#include <string.h>

#include "fuzz_common.h"
#include "text/tokenizer_internal.h"

static void normalize_one(const qf_tok_charsmap *m, const uint8_t *text, size_t len)
{
    qf_cpbuf in = {0}, align = {0}, out = {0}, out_align = {0};
    if (!qf_utf8_decode_lossy(text, len, &in)) abort();
    for (size_t i = 0; i < in.n; i++)
        if (!qf_cpbuf_push(&align, (uint32_t)i)) abort();
    size_t max_out = 4 * in.n + 8;
    qf_status s = qf_tok_charsmap_normalize(m, in.v, align.v, in.n, max_out, &out, &out_align);
    if (s != QF_STATUS_OK && s != QF_STATUS_FORMAT && s != QF_STATUS_LIMIT) {
        fprintf(stderr, "charsmap normalize returned %d\n", (int)s);
        abort();
    }
    if (out.n > max_out) {
        fprintf(stderr, "%zu code points written, past the bound %zu\n", out.n, max_out);
        abort();
    }
    if (out.n != out_align.n) {
        fprintf(stderr, "%zu code points but %zu alignments\n", out.n, out_align.n);
        abort();
    }
    for (size_t i = 0; i < out_align.n; i++)
        if (out_align.v[i] != QF_UNI_ALIGN_NONE && out_align.v[i] >= in.n) {
            fprintf(stderr, "alignment %u of an input of %zu code points\n", out_align.v[i], in.n);
            abort();
        }
    qf_cpbuf_free(&in);
    qf_cpbuf_free(&align);
    qf_cpbuf_free(&out);
    qf_cpbuf_free(&out_align);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *texts[] = {"Hello, World!", "Caf\xc3\xa9 ", "e\xcc\x81 A\xcc\x8a", "\xe4\xbd\xa0\xe5\xa5\xbd",
                                  "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
                                  "\xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7", "\r\n\t\x01 \xef\xbc\xa1"};
    if (size < 2) return 0;
    size_t len = (size_t)data[0] | (size_t)data[1] << 8;
    if (len > size - 2) len = size - 2;
    const uint8_t *text = data + 2, *blob = data + 2 + len;
    size_t blob_n = size - 2 - len;
    qf_error err;
    qf_error_clear(&err);
    qf_tok_ctx c = {"fuzz/charsmap", &err};
    qf_tok_charsmap *m = NULL;
    if (qf_tok_charsmap_from_blob(&c, "precompiled_charsmap", blob, blob_n, &m) != QF_STATUS_OK) return 0;
    normalize_one(m, text, len);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) normalize_one(m, (const uint8_t *)texts[i], strlen(texts[i]));
    qf_tok_charsmap_free(m);
    return 0;
}
