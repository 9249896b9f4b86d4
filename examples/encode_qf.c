/*
 * examples/encode_qf.c — the smallest program that uses libqforge: open a .qf artifact, build the
 * reference encoder (dynamic int8 when the file holds int8 weights, else FP32), run it on one
 * sequence of token ids and print the logits (or, for a model without a classification head, the
 * mean-pooled embedding) as one line of numbers.
 *
 *   cc encode_qf.c $(pkg-config --cflags --libs qforge) -o encode_qf
 *   ./encode_qf model.qf 101 7592 2088 102
 */
#include <stdio.h>
#include <stdlib.h>

#include <qforge/core.h>
#include <qforge/readers.h>
#include <qforge/model.h>
#include <qforge/runtime.h>

static int fail(const qf_error *err)
{
    char line[1024];
    qf_error_format(err, line, sizeof line);
    fprintf(stderr, "error: %s\n", line);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.qf ID [ID ...]\n", argv[0]);
        return 2;
    }
    int64_t n = argc - 2;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return 1;
    for (int64_t i = 0; i < n; i++) {
        char *end = NULL;
        long v = strtol(argv[i + 2], &end, 10);
        if (!end || *end || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "not a token id: '%s'\n", argv[i + 2]);
            free(ids);
            return 2;
        }
        ids[i] = (int32_t)v;
    }

    qf_error err;
    qf_error_clear(&err);
    qf_model *model = NULL;
    qf_encoder *enc = NULL;
    int rc = 0;
    /* the encoder runs a model mapped to canonical slots: once, right after reading (a no-op for a
     * .qf that qforge wrote from a mapped model) */
    if (qf_model_read(argv[1], NULL, &model, &err) || qf_arch_map(model, NULL, &err)) {
        rc = fail(&err);
        goto done;
    }
    qf_encoder_params params = qf_encoder_params_default();
    params.threads = 1;
    params.max_batch = 1;
    params.max_length = n;
    for (size_t i = 0; i < qf_model_tensor_count(model); i++)
        if (qf_model_tensor(model, i)->quant.scheme != QF_QUANT_NONE) params.mode = QF_ENCODER_MODE_DYNAMIC_INT8;
    if (qf_encoder_create(model, &params, &enc, &err)) {
        rc = fail(&err);
        goto done;
    }
    qf_encoder_batch in = {1, n, ids, NULL, NULL}; /* no mask: every token counts; type ids 0 */
    qf_encoder_output out;
    if (qf_encoder_run(enc, &in, &out, &err)) {
        rc = fail(&err);
        goto done;
    }
    const float *v = out.logits ? out.logits : out.pooled;
    int64_t k = out.logits ? out.num_labels : out.hidden_size;
    printf("%s", out.logits ? "logits" : "embedding");
    for (int64_t j = 0; j < k; j++) printf(" %.9g", (double)v[j]);
    printf("\n");
done:
    qf_encoder_destroy(enc);
    qf_model_destroy(model);
    free(ids);
    return rc;
}
