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
    const qf_status st = qf_safetensors_read(f, &params, &m, &err);
    qf_fuzz_consume(st, m, &err);
    return 0;
}
