/*
 * tests/fuzz/fuzz_pipeline.c — a sentence-transformers folder as qf_model_read reads it
 * (readers/sentence_pipeline.c): the input is split at its NUL bytes into modules.json,
 * 1_Pooling/config.json, config_sentence_transformers.json, sentence_bert_config.json and
 * tokenizer_config.json (a missing part: the file is absent),
 * laid out beside a fixed, valid one-tensor model.safetensors and a fixed vocab.txt in a fresh folder;
 * the folder's model is read, and its tokenizer loaded (text/: tokenizer_config.json's
 * model_input_names and tokenizer_class decide the pair types, sentence_bert_config.json's
 * do_lower_case a Lowercase in front) and run on one pair, whose type ids must be 0 when the
 * tokenizer feeds none and 0 or 1 otherwise. Checks what every reader target checks (qf_fuzz_consume: every tensor and metadata
 * value readable and escapable, a refusal's error line inert on a terminal), under the sanitizers.
 * Every pipeline.* value must be inert text: it goes into a .qf's JSON, and raw file text there (a
 * character cut in two) made a file qforge could not read back; prompts (the file's text whole,
 * control characters included) must be well-formed UTF-8 within QF_MAX_SENTENCE_PROMPT_BYTES. Whether a module path can leave
 * the folder is fuzz_beside's subject (the same qf_file_map_beside).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "qforge/limits.h"
#include "qforge/readers.h"
#include "qforge/text.h"

static char root[64];

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void cleanup(void)
{
    static const char *const names[] = {"model/1_Pooling/config.json", "model/1_Pooling", "model/modules.json",
                                        "model/config_sentence_transformers.json", "model/sentence_bert_config.json",
                                        "model/tokenizer_config.json", "model/model.safetensors", "model/vocab.txt",
                                        "outside/config.json", "model", "outside"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        if (unlink(p) != 0) rmdir(p);
    }
    rmdir(root);
}

static int setup(void)
{
    static int state;
    if (state) return state;
    snprintf(root, sizeof root, "/tmp/qf-fuzz-pipeline-XXXXXX");
    if (!mkdtemp(root)) return state = -1;
    atexit(cleanup);
    char p[160];
    snprintf(p, sizeof p, "%s/model", root);
    if (mkdir(p, 0755)) return state = -1;
    snprintf(p, sizeof p, "%s/model/1_Pooling", root);
    if (mkdir(p, 0755)) return state = -1;
    snprintf(p, sizeof p, "%s/outside", root);
    if (mkdir(p, 0755)) return state = -1;
    /* a pooling config outside the folder, for inputs whose module path reaches it ("../outside") */
    static const char outside[] = "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true}";
    snprintf(p, sizeof p, "%s/outside/config.json", root);
    if (write_file(p, outside, sizeof outside - 1)) return state = -1;
    static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t model[8 + sizeof header - 1 + 4] = {0};
    uint64_t hlen = sizeof header - 1;
    for (int i = 0; i < 8; i++) model[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(model + 8, header, hlen);
    snprintf(p, sizeof p, "%s/model/model.safetensors", root);
    if (write_file(p, model, sizeof model)) return state = -1;
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n";
    snprintf(p, sizeof p, "%s/model/vocab.txt", root);
    if (write_file(p, vocab, sizeof vocab - 1)) return state = -1;
    return state = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (setup() < 0) return 0;
    static const char *const files[] = {"modules.json", "1_Pooling/config.json", "config_sentence_transformers.json",
                                        "sentence_bert_config.json", "tokenizer_config.json"};
    const uint8_t *part = data, *end = data + size;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char p[200];
        snprintf(p, sizeof p, "%s/model/%s", root, files[k]);
        unlink(p);
        if (!part) continue;
        const uint8_t *nul = memchr(part, 0, (size_t)(end - part));
        size_t n = nul ? (size_t)(nul - part) : (size_t)(end - part);
        if (write_file(p, part, n)) return 0;
        part = nul ? nul + 1 : NULL;
    }
    char model_path[200];
    snprintf(model_path, sizeof model_path, "%s/model/model.safetensors", root);
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_status st = qf_model_read(model_path, &params, &m, &err);
    for (size_t i = 0; st == QF_STATUS_OK && i < qf_model_meta_count(m); i++) {
        /* what the pipeline records goes into a .qf's JSON: never raw file text (a control byte, a
         * character cut in two would make a file qforge cannot read back) */
        const char *k, *v;
        qf_model_meta_at(m, i, &k, &v);
        if (strncmp(k, "pipeline.", 9) != 0) continue;
        /* a prompt is the file's text whole (an instruction prompt holds "\n"): well-formed UTF-8
         * of at most its limit, printed only escaped; everything else qforge names itself */
        bool prompt = strncmp(k, "pipeline.prompt.", 16) == 0 || strcmp(k, "pipeline.default_prompt") == 0;
        if (prompt ? !qf_fuzz_text_is_utf8(v, strlen(v)) || strlen(v) > QF_MAX_SENTENCE_PROMPT_BYTES
                   : !qf_fuzz_text_is_inert(v, strlen(v)))
            abort();
    }
    qf_fuzz_consume(st, m, &err);

    char folder[200];
    snprintf(folder, sizeof folder, "%s/model", root);
    qf_tokenizer *tok = NULL;
    qf_error_clear(&err);
    st = qf_tokenizer_load(folder, &tok, &err);
    if (st == QF_STATUS_OK) {
        qf_encoding e = {0};
        qf_tokenize_params tp = qf_tokenize_params_default();
        if (qf_tokenizer_encode_pair(tok, "A", 1, "b", 1, &tp, &e, NULL) != QF_STATUS_OK) abort();
        bool feeds = qf_tokenizer_feeds_token_types(tok);
        for (size_t i = 0; i < e.length; i++)
            if (e.token_type_ids[i] < 0 || e.token_type_ids[i] > (feeds ? 1 : 0)) abort();
        qf_encoding_free(&e);
        qf_tokenizer_destroy(tok);
    } else {
        qf_fuzz_consume(st, NULL, &err);
    }
    return 0;
}
