/*
 * qforge readers: input bytes -> canonical model (core.h). Formats are detected from the bytes,
 * never from the file name. Every reader validates the whole structure before touching tensor
 * data, then hands out borrowed, zero-copy views into the mapped file wherever the bytes are
 * stored uncompressed, aligned and little-endian; otherwise it copies into model-owned memory.
 */
#ifndef QFORGE_READERS_H
#define QFORGE_READERS_H

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QF_FORMAT_TABLE(X)                                   \
    X(UNKNOWN, "unknown")                                    \
    X(TORCH_ZIP, "pytorch-zip")                              \
    X(TORCH_LEGACY, "pytorch-legacy")                        \
    X(SAFETENSORS, "safetensors")                            \
    X(ONNX, "onnx")                                          \
    X(HDF5, "hdf5")                                          \
    X(QF, "qf")                                              \
    X(ZIP, "zip")                                            \
    X(SHARD_INDEX, "shard-index")                            \
    X(KERAS_ZIP, "keras-zip")

typedef enum qf_format {
#define QF_FORMAT_ENUM_(name, text) QF_FORMAT_##name,
    QF_FORMAT_TABLE(QF_FORMAT_ENUM_)
#undef QF_FORMAT_ENUM_
    QF_FORMAT_COUNT_
} qf_format;

const char *qf_format_name(qf_format f); /* "pytorch-zip", ... */

/*
 * Detects the format from the first bytes of a file (and its size). A zip archive is reported as
 * TORCH_ZIP only when it holds a "PREFIX/data.pkl" entry, as KERAS_ZIP (a Keras 3 `.keras` archive)
 * when it holds "model.weights.h5"; other zips are ZIP. A bare pickle stream is
 * TORCH_LEGACY. Never reads past `size`.
 */
qf_format qf_format_detect(const uint8_t *data, uint64_t size);

typedef struct qf_read_params {
    /*
     * Which sub-dict of a nested checkpoint holds the weights, as a dotted path ("model",
     * "state_dict", "module.encoder"). NULL: automatic (a root dict of tensors is taken whole;
     * otherwise a single well-known key such as "state_dict", "model_state_dict", "model" or
     * "module" holding tensors is selected and recorded in metadata "torch.selected").
     * "" : everything, flattened to dotted names.
     */
    const char *select;
    /* Path of config.json; NULL: look for config.json next to the input. */
    const char *config_path;
    /* Compute the SHA-256 of the input for provenance (metadata "source.sha256"). Default true. */
    bool hash_source;
    /*
     * CPU budget of the caller's whole job, as its --threads: 1 hashes the source on the calling
     * thread before qf_model_read returns; 0 (default: all cores, unless the machine has one) or
     * more hash it on a second thread while the caller goes on (quantizes, writes), joined when
     * "source.sha256" is first read (qf_model_set_meta_file_sha256). The digest is the same.
     */
    int threads;
    /* .qf inputs: read every tensor and check its CRC-32 on open. Default false. */
    bool verify_checksums;
} qf_read_params;

qf_read_params qf_read_params_default(void);

/*
 * Opens any supported input: maps it, detects the format, dispatches to the reader, attaches
 * (a folder is read through the first of model.safetensors.index.json, pytorch_model.bin.index.json,
 * model.safetensors, pytorch_model.bin found in it)
 * config.json (validated JSON) when found, and sets metadata "source.format", "source.path",
 * "source.size", "source.sha256". On failure *out is NULL and err names file, part, offset.
 */
qf_status qf_model_read(const char *path, const qf_read_params *params, qf_model **out, qf_error *err);
/* Same, for a file already mapped (qf_file_map, qf_file_map_beside): takes ownership of `f`; its
 * path is the model's path (config.json is looked for beside it). */
qf_status qf_model_read_file(qf_file *f, const qf_read_params *params, qf_model **out, qf_error *err);

/*
 * Per-format readers. Each takes ownership of `file` (it ends up kept by the model, or unmapped on
 * failure) and produces a model whose tensors borrow from it where possible.
 */
qf_status qf_torch_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);
qf_status qf_safetensors_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);
/*
 * ONNX ModelProto (readers/onnx). Every initializer becomes a tensor (source name = initializer
 * name); MatMul / Gemm(transB=0) weights are transposed to [out, in] and, when the exporter renamed
 * them, named after their bias through the graph; external data is mapped from files inside the
 * model's folder. Metadata: onnx.* (opsets, producer, inputs, outputs, ops, metadata_props as
 * onnx.meta.<key>), and "source.quantized" for graphs that are already quantized.
 */
qf_status qf_onnx_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);

/* Hugging Face shard index (model.safetensors.index.json, pytorch_model.bin.index.json): every
 * shard named by "weight_map" (plain file names beside the index) read with its own reader and
 * merged; each shard's tensors must be exactly those mapped to it. Errors name the shard file. */
qf_status qf_sharded_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);

/*
 * HDF5 files (readers/hdf5, through libhdf5): Keras 2 full models and save_weights files, Keras 3
 * .weights.h5, Hugging Face TF checkpoints (tf_model.h5), and any other HDF5 file's datasets.
 * Keras weight layouts name tensors as Keras does (the `weight_names` entry, or the dataset path);
 * optimizer state is listed in metadata ("keras.optimizer_weights"), never taken as tensors.
 * Contiguous, unfiltered little-endian datasets are borrowed from the mapping; others are decoded
 * into model memory. libhdf5 never prints, never loads filter plugins, never follows soft or
 * external links, and refuses external raw storage and virtual datasets.
 */
qf_status qf_hdf5_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);
/*
 * Keras 3 `.keras` zip archives: the "model.weights.h5" entry is read as above (stored: from the
 * mapping; deflated: inflated into model memory); the other entries are listed in metadata
 * ("keras.archive_entries") and never interpreted. The archive passes the same validation as a
 * torch zip (unique names, no overlaps, CRCs, inflation limits).
 */
qf_status qf_keras_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err);

/* .qf artifacts (readers/qf). */
typedef struct qf_qfile_open_params {
    bool verify_checksums; /* read every tensor and compare its CRC-32; default false (open reads no data) */
} qf_qfile_open_params;

qf_qfile_open_params qf_qfile_open_params_default(void);
qf_status qf_qfile_read(qf_file *file, const qf_qfile_open_params *params, qf_model **out, qf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_READERS_H */
