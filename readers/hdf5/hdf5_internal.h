/*
 * readers/hdf5/hdf5_internal.h — internal: the HDF5 reader's entry point on an in-memory image,
 * shared by the plain-file reader and the Keras `.keras` zip reader (keras_zip.c). Only hdf5.c
 * includes hdf5.h.
 */
#ifndef QF_READERS_HDF5_INTERNAL_H
#define QF_READERS_HDF5_INTERNAL_H

#include "qforge/core.h"

/*
 * Reads the HDF5 file image[0..size) into `m`: validates the superblock, walks every group (hard
 * links only), checks every dataset's rank, dims, dtype, storage and data extent against the image,
 * recognises the Keras layout, then adds the weights as tensors (borrowed from `image` where the
 * bytes allow it, else decoded into model memory) and the keras.* / hdf5.* metadata.
 * `image` must stay valid for the model's life (kept by the caller through qf_model_keep, or model
 * memory). `part` names the image in errors: "" for a plain file, the zip entry name otherwise.
 */
qf_status qf_hdf5_read_image(qf_model *m, const uint8_t *image, uint64_t size, const char *part, qf_error *err);

#endif /* QF_READERS_HDF5_INTERNAL_H */
