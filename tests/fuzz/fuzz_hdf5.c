/*
 * tests/fuzz/fuzz_hdf5.c — the HDF5 reader (readers/hdf5) on bytes in memory, through the public
 * qf_hdf5_read. There is no internal entry that skips the forked pre-check (read_image is static,
 * and the fork is what contains libhdf5's own crashes), so every input forks one child: this
 * target runs at hundreds, not tens of thousands, of executions per second. Coverage still comes
 * from the parent, which repeats the read whenever the child finished.
 */
#include "fuzz_common.h"
#include "qforge/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qf_file *f = NULL;
    if (qf_file_from_memory(data, size, "fuzz.h5", &f, NULL)) return 0;
    qf_read_params params = qf_read_params_default();
    params.hash_source = false;
    qf_model *m = NULL;
    qf_error err;
    qf_error_clear(&err);
    const qf_status st = qf_hdf5_read(f, &params, &m, &err);
    qf_fuzz_consume(st, m, &err);
    return 0;
}
