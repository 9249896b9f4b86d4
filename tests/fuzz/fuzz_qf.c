/*
 * tests/fuzz/fuzz_qf.c — the .qf reader (readers/qf): open (header + directory validation + scale
 * values only), then open again with every checksum verified, on bytes in memory.
 *
 * Input: a .qf file as it is when it starts with the magic's 0x89; any other first byte is a mode
 * byte and the rest is the file, whose header_crc32 and json_crc32 the harness recomputes before
 * reading (where the header's json_size fits the input). A mutation cannot fix a CRC itself, so
 * without this mode almost every mutated file stops at a checksum; with it, mutations of the JSON
 * directory and of scale values reach the semantic checks behind the CRCs
 * (tests/fuzz/corpus/qf/sample_fixcrc.qf is the sample in this mode).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "qforge/qfile.h"
#include "qforge/readers.h"

static void open_once(const uint8_t *data, size_t size, bool verify)
{
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, "fuzz.qf", &f, NULL)) return;
    qf_qfile_open_params op = qf_qfile_open_params_default();
    op.verify_checksums = verify;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_qfile_read(f, &op, &m, &err);
    qf_fuzz_consume(st, m, &err);
}

static void fix_crcs(uint8_t *b, size_t size)
{
    if (size < QF_QFILE_HEADER_SIZE) return;
    const uint64_t json_size = qf_qfile_load_u64(b + QF_QFILE_OFF_JSON_SIZE);
    if (json_size <= size - QF_QFILE_HEADER_SIZE)
        qf_qfile_store_u32(b + QF_QFILE_OFF_JSON_CRC, qf_crc32(0, b + QF_QFILE_HEADER_SIZE, (size_t)json_size));
    qf_qfile_store_u32(b + QF_QFILE_OFF_HEADER_CRC, qf_qfile_header_crc(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] != 0x89) {
        /* an exact-size copy, so the sanitizers still see a read past the end */
        uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
        if (!copy) return 0;
        memcpy(copy, data + 1, size - 1);
        fix_crcs(copy, size - 1);
        open_once(copy, size - 1, false);
        open_once(copy, size - 1, true);
        free(copy);
        return 0;
    }
    open_once(data, size, false);
    open_once(data, size, true);
    return 0;
}
