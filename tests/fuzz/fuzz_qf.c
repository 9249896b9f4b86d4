/*
 * tests/fuzz/fuzz_qf.c — the .qf reader (readers/qf): open (header + directory validation only),
 * then open again with every checksum verified, on bytes in memory.
 */
#include "fuzz_common.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    open_once(data, size, false);
    open_once(data, size, true);
    return 0;
}
