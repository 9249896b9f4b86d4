/*
 * tests/fuzz/fuzz_arch.c — config.json as the model layer reads it (qf_arch_from_config): every
 * family row's keys and range checks, and the maps a config decides that index tables later: the
 * stored weights of every layer (ALBERT's groups, qf_arch_layer_weights) and the bucket of every
 * relative position (MPNet, qf_arch_relative_bucket), DeBERTa's relative positions
 * (qf_arch_disentangled_position: odd, monotone, and within the span as clamped) and its score
 * divisor's factor. An accepted config whose map leaves its
 * table aborts, so the target searches the class "a config value that indexes past a table".
 */
#include "fuzz_common.h"
#include "qforge/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    qf_arch a;
    qf_error err;
    qf_error_clear(&err);
    if (qf_arch_from_config(text, &a, &err) == QF_STATUS_OK) {
        if (a.weight_layers < 1 || a.weight_layers > a.num_layers) abort();
        /* the first 4096 layers and the last: the loop stays short for configs of 2^24 layers */
        for (int64_t l = 0; l < a.num_layers; l = l < 4096 ? l + 1 : a.num_layers - 1) {
            int64_t g = qf_arch_layer_weights(&a, l);
            if (g < 0 || g >= a.weight_layers) abort();
            if (l == a.num_layers - 1) break;
        }
        if (a.desc->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS) {
            for (int64_t rel = -4096; rel <= 4096; rel++) {
                int64_t b = qf_arch_relative_bucket(&a, rel);
                if (b < 0 || b >= a.desc->relative_buckets || b >= a.relative_table_rows) abort();
            }
        }
        if (a.desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && a.score_scale_factor != 1 + a.c2p + a.p2c)
            abort();
        /* the position map is used only with relative_attention (without it the span and buckets
         * are never read, and are not checked) */
        if (a.desc->attention_bias == QF_ARCH_ATTENTION_BIAS_DISENTANGLED && a.relative_attention) {
            if (a.relative_span < 1 || a.relative_span > QF_MAX_RELATIVE_SPAN) abort();
            if (a.relative_log_buckets && a.relative_max_position - 1 <= a.relative_span / 2) abort();
            int64_t prev = qf_arch_disentangled_position(&a, -4097);
            for (int64_t rel = -4096; rel <= 4096; rel++) {
                int64_t p = qf_arch_disentangled_position(&a, rel);
                if (p != -qf_arch_disentangled_position(&a, -rel) || p < prev) abort();
                prev = p;
                /* the row the encoder and the ONNX export gather: inside the 2 * span rows */
                int64_t idx = qf_arch_disentangled_index(&a, rel);
                if (idx < 0 || idx >= 2 * a.relative_span) abort();
            }
        }
    }
    free(text);
    return 0;
}
