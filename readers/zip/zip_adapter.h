/*
 * readers/zip/zip_adapter.h — internal: zip archives for torch checkpoints. The only file that
 * sees libzip. The central directory is parsed here as well (libzip does not expose where an
 * entry's bytes start), cross-checked entry by entry with libzip, and every local header is
 * checked against it, so stored entries can be borrowed zero-copy from the mapped file.
 */
#ifndef QF_READERS_TORCH_ZIP_ADAPTER_H
#define QF_READERS_TORCH_ZIP_ADAPTER_H

#include "qforge/core.h"

typedef struct qf_zip_entry {
    const char *name;     /* owned by the archive, NUL-terminated */
    uint64_t size;        /* uncompressed bytes */
    uint64_t comp_size;   /* bytes in the file */
    uint64_t data_offset; /* file offset of the entry's (compressed) bytes */
    uint64_t local_offset; /* file offset of its local header (where errors about the entry point) */
    uint32_t crc;
    uint16_t method;      /* 0 stored, 8 deflate */
    uint64_t index;       /* index in the central directory */
} qf_zip_entry;

typedef struct qf_zip qf_zip;

/*
 * Validates the archive in data[0..size): end records, central directory, every local header,
 * names (no "..", no absolute paths, no backslashes, unique), no encryption, no overlapping
 * entries, size ratios and caps; then opens it with libzip and compares every entry.
 * `data` must outlive the archive. Errors name `path`'s entry and offset.
 */
qf_status qf_zip_open(const uint8_t *data, uint64_t size, qf_zip **out, qf_error *err);
void qf_zip_close(qf_zip *z); /* accepts NULL */

uint64_t qf_zip_count(const qf_zip *z);
const qf_zip_entry *qf_zip_entry_at(const qf_zip *z, uint64_t i); /* borrowed */
const qf_zip_entry *qf_zip_find(const qf_zip *z, const char *name); /* borrowed; NULL if absent */

/*
 * Copies the uncompressed bytes of `e` into buf (exactly e->size bytes), inflating through libzip
 * when compressed, and checks the CRC-32.
 */
qf_status qf_zip_read(qf_zip *z, const qf_zip_entry *e, void *buf, qf_error *err);

/* A stored entry's bytes in the mapped file (borrowed), after checking its CRC-32. */
qf_status qf_zip_borrow(qf_zip *z, const qf_zip_entry *e, const uint8_t **ptr, qf_error *err);

#endif /* QF_READERS_TORCH_ZIP_ADAPTER_H */
