/*
 * tests/fuzz/fuzz_torch.c — the PyTorch reader (readers/torch: zip archives through libzip and
 * legacy checkpoints), automatic selection and the flattened "everything" view, on bytes in memory.
 */
#include "fuzz_common.h"
#include "qforge/readers.h"

static void read_once(const uint8_t *data, size_t size, const char *select)
{
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, "fuzz.pt", &f, NULL)) return;
    qf_read_params params = qf_read_params_default();
    params.select = select;
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_torch_read(f, &params, &m, &err);
    qf_fuzz_consume(st, m, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_once(data, size, NULL);
    read_once(data, size, "");
    return 0;
}
