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
    if (qf_onnx_read(f, &params, &m, &err) == QF_STATUS_OK) {
        uint64_t sum = 0;
        for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
            const qf_tensor *t = qf_model_tensor(m, i);
            if (t->nbytes) sum += ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)sum;
    } else {
        char line[2048];
        qf_error_format(&err, line, sizeof line);
    }
    qf_model_destroy(m);
    return 0;
}
