/*
 * bench/bench_tokenize.c — encode speed of the tokenizers (text/), one JSON line:
 *   bench_tokenize TOKENIZER DATA.jsonl ROUNDS
 * Reads every row's "text" of a JSONL file, then encodes all of them ROUNDS times with the default
 * parameters (special tokens, no truncation, no padding): the best round's nanoseconds per encode
 * and the mean tokens per row. One qf_encoding is reused, as qf_dataset_load does.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qforge/text.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_tokenize TOKENIZER DATA.jsonl ROUNDS\n");
        return 2;
    }
    int rounds = atoi(argv[3]);
    qf_error err;
    qf_error_clear(&err);
    qf_tokenizer *t = NULL;
    if (qf_tokenizer_load(argv[1], &t, &err) != QF_STATUS_OK) {
        char buf[512];
        qf_error_format(&err, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char **texts = NULL;
    size_t *lens = NULL, n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        json_object *row = json_tokener_parse(line);
        json_object *text = NULL;
        if (row && json_object_object_get_ex(row, "text", &text) && json_object_is_type(text, json_type_string)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                texts = realloc(texts, cap * sizeof *texts);
                lens = realloc(lens, cap * sizeof *lens);
                if (!texts || !lens) return 1;
            }
            lens[n] = (size_t)json_object_get_string_len(text);
            texts[n] = malloc(lens[n] + 1);
            if (!texts[n]) return 1;
            memcpy(texts[n], json_object_get_string(text), lens[n] + 1);
            n++;
        }
        json_object_put(row);
    }
    free(line);
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "%s: no rows with a \"text\"\n", argv[2]);
        return 1;
    }
    qf_encoding e;
    qf_encoding_init(&e);
    double best = 0;
    size_t tokens = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        tokens = 0;
        for (size_t i = 0; i < n; i++) {
            if (qf_tokenizer_encode(t, texts[i], lens[i], NULL, &e, &err) != QF_STATUS_OK) return 1;
            tokens += e.length;
        }
        double dt = now_ns() - t0;
        if (r == 0 || dt < best) best = dt;
    }
    printf("{\"rows\": %zu, \"tokens_per_row\": %.2f, \"rounds\": %d, \"best_ns_per_encode\": %.0f}\n", n,
           (double)tokens / (double)n, rounds, best / (double)n);
    qf_encoding_free(&e);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    qf_tokenizer_destroy(t);
    return 0;
}
