/*
 * tests/fuzz/fuzz_config.c — config.json as qf_model_read attaches it (readers/reader.c): the input
 * is the config; the model beside it is a fixed, valid one-tensor safetensors file. Both live in
 * memory-backed files (memfd).
 */
#include <string.h>

#include "fuzz_common.h"
#include "qforge/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t model[8 + sizeof header - 1 + 4];
    uint64_t hlen = sizeof header - 1;
    for (int i = 0; i < 8; i++) model[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(model + 8, header, hlen);
    memset(model + 8 + hlen, 0, 4);
    char model_path[64], config_path[64];
    int mfd = qf_fuzz_memfd("model", model, sizeof model, model_path);
    int cfd = qf_fuzz_memfd("config", data, size, config_path);
    if (mfd >= 0 && cfd >= 0) {
        qf_read_params params = qf_read_params_default();
        params.hash_source = false;
        params.config_path = config_path;
        qf_model *m = NULL;
        qf_error err;
        qf_error_clear(&err);
        if (qf_model_read(model_path, &params, &m, &err) == QF_STATUS_OK) (void)strlen(qf_model_config_json(m));
        qf_model_destroy(m);
    }
    if (mfd >= 0) close(mfd);
    if (cfd >= 0) close(cfd);
    return 0;
}
