/*
 * tests/fuzz/fuzz_onnx.c — the ONNX reader (readers/onnx, protobuf-c underneath) on bytes in memory.
 * The input is named inside a folder that does not exist, so an external-data location in it
 * resolves to nothing: the target never reads a real file.
 */
#include "fuzz_common.h"
#include "qforge/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, "/nonexistent-qforge-fuzz/model.onnx", &f, NULL)) return 0;
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_onnx_read(f, &params, &m, &err);
    qf_fuzz_consume(st, m, &err);
    return 0;
}
