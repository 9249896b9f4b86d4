/*
 * qforge writers: canonical model -> output files. Every writer goes through qf_output (core.h):
 * temporary file, fsync, rename — an output path never holds a partial file.
 */
#ifndef QFORGE_WRITERS_H
#define QFORGE_WRITERS_H

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qf_qfile_write_params {
    /* Extra provenance recorded in metadata (may be NULL): e.g. the command line. */
    const char *command_line;
} qf_qfile_write_params;

qf_qfile_write_params qf_qfile_write_params_default(void);

/*
 * Writes `m` as a .qf file (docs/format.md): header, JSON metadata + tensor directory, tensor data
 * aligned to 64 bytes with a CRC-32 each. Tensors whose data pointers and sizes are identical
 * (shared storage) are written once and share one extent.
 */
qf_status qf_qfile_write(const qf_model *m, const char *path, const qf_qfile_write_params *params,
                         qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_WRITERS_H */
