/*
 * tests/fuzz/fuzz_beside.c — the files qforge finds beside a model (core/file.c
 * qf_file_map_beside): the input lays out a fresh model folder whose entries are chosen by its
 * bytes, then the folder is read as a shard index (shards, config.json) and as a tokenizer folder.
 *
 *   byte 0        number of shards (1..4) named by model.safetensors.index.json
 *   then one byte per shard, then one for config.json and one for tokenizer.json: the entry's
 *   kind (low 4 bits) and, for links inside the folder, the entry it points at (high bits):
 *     0 regular file with the expected content    1 regular file of junk (the remaining input)
 *     2 FIFO                                      3 link to another entry of the folder
 *     4 absolute link to a file outside           5 relative link ("../") to a file outside
 *     6 directory                                 7 dangling link
 *     8 link to the folder itself ("." )          9 link to a link outside (two hops)
 *     other: absent
 *
 * Every file outside the folder is marked: its shards' bytes are "SEC!", its config.json and
 * tokenizer.json hold the word SECRET (a key, a token). The harness checks what the rule promises:
 * no read blocks (alarm: a FIFO opened for reading would wait for a writer for ever, and SIGALRM
 * ends the run), and nothing outside the folder is read (no marked tensor in a model that was read,
 * no SECRET in its config or in a tokenizer's vocabulary). Inputs: fixtures/gen/make_beside_fuzz_inputs.py.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "qforge/readers.h"
#include "qforge/verify.h"

enum { MAX_SHARDS = 4 };

static char root[64], outside[96];

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A safetensors file holding one F32 [1] tensor named `name` whose 4 bytes are `bytes`. */
static int write_shard(const char *path, const char *name, const char *bytes)
{
    char header[128];
    int hl = snprintf(header, sizeof header, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    uint8_t b[8 + 128 + 4] = {0};
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, (size_t)hl);
    memcpy(b + 8 + hl, bytes, 4);
    return write_file(path, b, 8 + (size_t)hl + 4);
}

static const char tokenizer_json[] =
    "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"%s\":1}}}";

/* Removes `dir` and its entries (files, FIFOs, links, empty folders: what lay_out makes). */
static void remove_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[320];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void cleanup(void)
{
    remove_flat(outside);
    rmdir(root);
}

static int setup(void)
{
    static int state;
    if (state) return state;
    snprintf(root, sizeof root, "/tmp/qf-fuzz-beside-XXXXXX");
    if (!mkdtemp(root)) return state = -1;
    atexit(cleanup);
    char p[160], tok[256];
    snprintf(outside, sizeof outside, "%s/outside", root);
    if (mkdir(outside, 0755)) return state = -1;
    /* one outside shard per slot, holding the tensor that slot's shard should hold: only its bytes
     * ("SEC!") tell that it was read */
    for (int k = 0; k < MAX_SHARDS; k++) {
        char tensor[8];
        snprintf(p, sizeof p, "%s/shard%d.safetensors", outside, k);
        snprintf(tensor, sizeof tensor, "t%d", k);
        if (write_shard(p, tensor, "SEC!")) return state = -1;
    }
    snprintf(p, sizeof p, "%s/config.json", outside);
    if (write_file(p, "{\"SECRET\":1}", 12)) return state = -1;
    snprintf(p, sizeof p, "%s/tokenizer.json", outside);
    int n = snprintf(tok, sizeof tok, tokenizer_json, "SECRET");
    if (write_file(p, tok, (size_t)n)) return state = -1;
    /* a second hop for each: outside/link-<name> -> outside/<name> */
    static const char *const hop[] = {"shard0.safetensors", "shard1.safetensors", "shard2.safetensors",
                                      "shard3.safetensors", "config.json", "tokenizer.json"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++) {
        char link[192];
        snprintf(link, sizeof link, "%s/link-%s", outside, hop[i]);
        if (symlink(hop[i], link)) return state = -1;
    }
    return state = 1;
}

/* Lays out entry `name` of kind `k` in `dir`. `what` picks the outside file and the regular content:
 * 0 shard (tensor `tensor`), 1 config.json, 2 tokenizer.json. */
static void lay_out(const char *dir, const char *name, uint8_t k, int what, int slot, const char *const *names,
                    size_t nnames, const uint8_t *junk, size_t njunk)
{
    char outside_names[3][32], tensor[8];
    snprintf(outside_names[0], sizeof outside_names[0], "shard%d.safetensors", slot);
    snprintf(outside_names[1], sizeof outside_names[1], "config.json");
    snprintf(outside_names[2], sizeof outside_names[2], "tokenizer.json");
    snprintf(tensor, sizeof tensor, "t%d", slot);
    char path[256], target[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    switch (k & 15) {
    case 0:
        if (what == 0) (void)write_shard(path, tensor, "\0\0\0\0");
        else if (what == 1) (void)write_file(path, "{\"inside\":1}", 12);
        else {
            char tok[256];
            int n = snprintf(tok, sizeof tok, tokenizer_json, "inside");
            (void)write_file(path, tok, (size_t)n);
        }
        break;
    case 1: (void)write_file(path, junk, njunk); break;
    case 2: (void)mkfifo(path, 0644); break;
    case 3: (void)!symlink(names[(k >> 4) % nnames], path); break;
    case 4:
        snprintf(target, sizeof target, "%s/%s", outside, outside_names[what]);
        (void)!symlink(target, path);
        break;
    case 5:
        snprintf(target, sizeof target, "../outside/%s", outside_names[what]);
        (void)!symlink(target, path);
        break;
    case 6: (void)mkdir(path, 0755); break;
    case 7: (void)!symlink("nowhere", path); break;
    case 8: (void)!symlink(".", path); break;
    case 9:
        snprintf(target, sizeof target, "%s/link-%s", outside, outside_names[what]);
        (void)!symlink(target, path);
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + MAX_SHARDS + 2 || setup() < 0) return 0;
    static unsigned serial;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/m%u", root, serial++);
    if (mkdir(dir, 0755)) return 0;
    size_t nshards = 1 + data[0] % MAX_SHARDS;
    const uint8_t *kinds = data + 1, *junk = data + 1 + MAX_SHARDS + 2;
    size_t njunk = size - (1 + MAX_SHARDS + 2);
    static const char *const names[] = {"s0.safetensors", "s1.safetensors", "s2.safetensors", "s3.safetensors",
                                        "config.json", "tokenizer.json"};
    static const char *const tensors[] = {"t0", "t1", "t2", "t3"};
    char index[512];
    size_t at = (size_t)snprintf(index, sizeof index, "{\"weight_map\":{");
    for (size_t i = 0; i < nshards; i++) {
        lay_out(dir, names[i], kinds[i], 0, (int)i, names, 6, junk, njunk);
        at += (size_t)snprintf(index + at, sizeof index - at, "%s\"%s\":\"%s\"", i ? "," : "", tensors[i], names[i]);
    }
    snprintf(index + at, sizeof index - at, "}}");
    lay_out(dir, "config.json", kinds[MAX_SHARDS], 1, 0, names, 6, junk, njunk);
    lay_out(dir, "tokenizer.json", kinds[MAX_SHARDS + 1], 2, 0, names, 6, junk, njunk);
    char path[192];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (write_file(path, index, strlen(index)) == 0) {
        alarm(10); /* a blocking open is a finding: SIGALRM ends the run */
        qf_read_params params = qf_read_params_default();
        params.hash_source = false;
        qf_model *m = NULL;
        qf_error err;
        qf_error_clear(&err);
        qf_status st = qf_model_read(path, &params, &m, &err);
        if (st == QF_STATUS_OK) {
            for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
                const qf_tensor *t = qf_model_tensor(m, i);
                if (t->nbytes == 4 && memcmp(t->data, "SEC!", 4) == 0) abort(); /* a shard outside was read */
            }
            const char *cfg = qf_model_config_json(m);
            if (cfg && strstr(cfg, "SECRET")) abort(); /* a config.json outside was read */
        }
        qf_fuzz_consume(st, m, &err);
        qf_tokenizer *t = NULL;
        qf_error_clear(&err);
        if (qf_tokenizer_load(dir, &t, &err) == QF_STATUS_OK && qf_tokenizer_token_to_id(t, "SECRET") >= 0)
            abort(); /* a tokenizer.json outside was read */
        qf_tokenizer_destroy(t);
        alarm(0);
    }
    remove_flat(dir);
    return 0;
}
