/*
 * tests/fuzz/fuzz_safetensors.c — the safetensors reader (readers/safetensors) on bytes in memory.
 */
#include "fuzz_common.h"
#include "qforge/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, "fuzz.safetensors", &f, NULL)) return 0;
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    if (qf_safetensors_read(f, &params, &m, &err) == QF_STATUS_OK) {
        uint64_t sum = 0;
        for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
            const qf_tensor *t = qf_model_tensor(m, i);
            if (t->nbytes) sum += ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        for (size_t i = 0; i < qf_model_meta_count(m); i++) {
            const char *k, *v;
            qf_model_meta_at(m, i, &k, &v);
        }
        (void)sum;
    } else {
        char line[2048];
        qf_error_format(&err, line, sizeof line);
    }
    qf_model_destroy(m);
    return 0;
}
