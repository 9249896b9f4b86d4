/*
 * cli/cmd_tokenize.c — `qforge tokenize TOKENIZER --data rows.jsonl`: the ids qforge feeds a model,
 * one JSON line per row, so a tokenizer's parity with Hugging Face's can be checked on its own and
 * the ids used elsewhere. The rows and their encoding are the dataset's (text/dataset.c: "text",
 * pairs, truncation longest-first), the tokenizer is whatever qf_tokenizer_load reads.
 */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "qforge/text.h"

static qf_cli_option tokenize_options[] = {
    QF_CLI_OPTION("data", 0, true, "FILE.jsonl",
                  "rows {\"text\"} or pairs {\"text\", \"text_pair\"} (also {\"query\", \"text\"}, {\"question\", "
                  "\"context\"}) (required)"),
    QF_CLI_OPTION("max-length", 0, true, "N", "truncate every row to N tokens, pairs longest first (default: none)"),
    QF_CLI_OPTION("no-special-tokens", 0, false, NULL, "leave out the post-processor's special tokens ([CLS], [SEP])"),
    QF_CLI_SHARED(QF_CLI_LIMIT, NULL),
};

static qf_cli_command tokenize_command = {
    "tokenize", "TOKENIZER --data FILE.jsonl [--max-length N] [--no-special-tokens] [--limit N]",
    "Tokenizes every row as qforge does before running a model and prints one JSON object per row:\n"
    "{\"row\", \"input_ids\": [...], \"attention_mask\": [...]}, with \"token_type_ids\" for a pair. TOKENIZER\n"
    "is a tokenizer.json, a vocab.txt (BERT WordPiece), a SentencePiece .model, or a model folder\n"
    "(its tokenizer.json, else vocab.txt, vocab.json + merges.txt, or sentencepiece.bpe.model / spm.model /\n"
    "spiece.model, with the folder's tokenizer_config.json and sentence_bert_config.json settings). A\n"
    "SentencePiece model is read as transformers converts it for the folder's tokenizer class (XLM-R,\n"
    "CamemBERT, DeBERTa-v2, ALBERT). Ids equal what Hugging Face's tokenizers give for the same texts\n"
    "(tokenizer(text, text_pair, truncation=True, max_length=N)).",
    "A row that yields no token at all (an empty text under a tokenizer that adds no special tokens)\n"
    "is refused with its line, as qforge run and verify refuse it.",
    tokenize_options, sizeof tokenize_options / sizeof tokenize_options[0], 1, 1};

static void print_ids(const char *key, const int32_t *v, int32_t n, int32_t fill)
{
    printf(", \"%s\": [", key);
    for (int32_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", (int)(v ? v[i] : fill));
    printf("]");
}

int qf_cmd_tokenize(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&tokenize_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    qf_cli_command *cmd = &tokenize_command;
    qf_cli_option *data_opt = qf_cli_find(cmd, "data"), *len_opt = qf_cli_find(cmd, "max-length");
    if (!data_opt->seen) {
        fprintf(stderr, "qforge tokenize: --data FILE.jsonl is required\nTry 'qforge tokenize --help'.\n");
        return QF_EXIT_USAGE;
    }
    long limit = 0, max_length = 0;
    if (!qf_cli_number(cmd, QF_CLI_LIMIT, &limit)) return QF_EXIT_USAGE;
    if (len_opt->seen && !qf_cli_int(cmd, len_opt, 1, 1 << 20, &max_length)) return QF_EXIT_USAGE;
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *tok = NULL;
    if (qf_tokenizer_load(pos[0], &tok, &err)) return qf_cli_fail(&err);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = (int32_t)max_length;
    dp.limit = limit;
    dp.no_special_tokens = qf_cli_find(cmd, "no-special-tokens")->seen;
    dp.ignore_label = true;
    qf_dataset *data = NULL;
    if (qf_dataset_load(data_opt->value, tok, &dp, &data, &err)) {
        qf_tokenizer_destroy(tok);
        return qf_cli_fail(&err);
    }
    for (size_t i = 0; i < qf_dataset_size(data); i++) {
        const qf_dataset_row *r = qf_dataset_row_at(data, i);
        printf("{\"row\": %zu", i);
        print_ids("input_ids", r->input_ids, r->length, 0);
        print_ids("attention_mask", NULL, r->length, 1); /* no padding: every token is real */
        if (qf_dataset_row_is_pair(data, i)) print_ids("token_type_ids", r->token_type_ids, r->length, 0);
        printf("}\n");
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? QF_EXIT_OK : QF_EXIT_ERROR;
    if (rc) fprintf(stderr, "error: writing the rows to stdout failed\n");
    qf_dataset_destroy(data);
    qf_tokenizer_destroy(tok);
    return rc;
}
