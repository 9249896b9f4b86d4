/*
 * tests/fuzz/fuzz_sharded.c — the Hugging Face shard index reader (readers/sharded): the input is
 * the index JSON, held in memory (qf_file_from_memory) under a path inside a scratch folder made
 * once per process. That folder holds two fixed, valid safetensors shards, shard-1.safetensors
 * ("a", F32 [1]) and shard-2.safetensors ("b", F32 [2]), so inputs that name them reach the
 * per-shard reads and the merge; other names exercise the missing-shard paths.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "qforge/readers.h"

static char dir[64];
static char shard_paths[2][96];

static void cleanup(void)
{
    for (int i = 0; i < 2; i++) unlink(shard_paths[i]);
    rmdir(dir);
}

static int write_shard(int i, const char *header, size_t payload)
{
    snprintf(shard_paths[i], sizeof shard_paths[i], "%s/shard-%d.safetensors", dir, i + 1);
    FILE *f = fopen(shard_paths[i], "wb");
    if (!f) return -1;
    uint64_t hlen = strlen(header);
    uint8_t len[8];
    for (int b = 0; b < 8; b++) len[b] = (uint8_t)(hlen >> (8 * b));
    static const uint8_t zeros[16];
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen && fwrite(zeros, 1, payload, f) == payload;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int setup(void)
{
    static int state; /* 0: not yet, 1: ready, -1: failed */
    if (state) return state;
    snprintf(dir, sizeof dir, "/tmp/qf-fuzz-sharded-XXXXXX");
    if (!mkdtemp(dir)) return state = -1;
    atexit(cleanup);
    if (write_shard(0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4) ||
        write_shard(1, "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8))
        return state = -1;
    return state = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (setup() < 0) return 0;
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, path, &f, NULL)) return 0;
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_sharded_read(f, &params, &m, &err);
    qf_fuzz_consume(st, m, &err);
    return 0;
}
