/*
 * protobuf/onnx_proto.h — the one adapter around protobuf-c and the ONNX code protoc-c generates at
 * build time from Debian's onnx.proto (build/generated/onnx.pb-c.h, never committed). Internal:
 * only readers/onnx and writers/onnx include it; no protobuf-c type reaches a public header.
 *
 * What it offers both sides:
 *   - a bounded wire-format walk of the whole ModelProto before protobuf-c sees it (nesting, wire
 *     types against the schema, lengths inside their parent), so a bad file gets a byte offset
 *     and the tensor / node it sits in, then protobuf-c's unpack;
 *   - ONNX <-> qforge dtype table, external-data resolution confined to the model's folder;
 *   - a consumer index of the main graph and the layout rule for MatMul / Gemm weights that the
 *     reader applies and the writer undoes;
 *   - packing a ModelProto into an atomic qf_output.
 */
#ifndef QF_PROTOBUF_ONNX_PROTO_H
#define QF_PROTOBUF_ONNX_PROTO_H

#include "onnx.pb-c.h"
#include "qforge/core.h"

/* ONNX TensorProto.DataType values used here (onnx.proto). */
enum {
    QF_ONNX_FLOAT = 1, QF_ONNX_UINT8 = 2, QF_ONNX_INT8 = 3, QF_ONNX_UINT16 = 4, QF_ONNX_INT16 = 5,
    QF_ONNX_INT32 = 6, QF_ONNX_INT64 = 7, QF_ONNX_STRING = 8, QF_ONNX_BOOL = 9, QF_ONNX_FLOAT16 = 10,
    QF_ONNX_DOUBLE = 11, QF_ONNX_UINT32 = 12, QF_ONNX_UINT64 = 13, QF_ONNX_COMPLEX64 = 14,
    QF_ONNX_COMPLEX128 = 15, QF_ONNX_BFLOAT16 = 16
};

/* File offsets found by the walk (main graph only), parallel to graph->initializer / graph->node. */
typedef struct qf_onnx_offsets {
    size_t n_initializers, n_nodes;
    uint64_t *initializer; /* owned; offset of each initializer's TensorProto bytes */
    uint64_t *node;        /* owned; offset of each NodeProto */
} qf_onnx_offsets;

/*
 * Walks then unpacks a ModelProto of `size` bytes. `file` names the input in errors. `offsets`
 * may be NULL. On success *out is owned by the caller (qf_onnx_proto_free). Errors: LIMIT past
 * QF_ONNX_MAX_PROTO bytes or QF_ONNX_MAX_DEPTH nesting; FORMAT / TRUNCATED with the offset and the
 * enclosing tensor or node named.
 */
qf_status qf_onnx_proto_parse(const uint8_t *data, uint64_t size, const char *file, Onnx__ModelProto **out,
                              qf_onnx_offsets *offsets, qf_error *err);
void qf_onnx_proto_free(Onnx__ModelProto *m); /* accepts NULL */
void qf_onnx_offsets_free(qf_onnx_offsets *o); /* accepts NULL; frees the arrays only */

/* Packs `m` into `path` through qf_output (temp + fsync + rename). LIMIT past QF_ONNX_MAX_PROTO. */
qf_status qf_onnx_proto_write(const Onnx__ModelProto *m, const char *path, qf_error *err);

/* ONNX data type -> qforge dtype; false for types qforge has no dtype for (string, complex, uint16..). */
bool qf_onnx_dtype_to_qf(int32_t onnx_type, qf_dtype *out);
int32_t qf_onnx_dtype_from_qf(qf_dtype t);
const char *qf_onnx_dtype_name(int32_t onnx_type); /* "FLOAT", ...; "?" when unknown */

/* External data of one initializer: location (borrowed from the proto), offset, length. */
typedef struct qf_onnx_external {
    const char *location;
    uint64_t offset;
    uint64_t length;
    bool has_length;
} qf_onnx_external;

/* Reads the external_data entries of `t` (location required; offset / length decimal). */
qf_status qf_onnx_external_parse(const Onnx__TensorProto *t, const char *file, int64_t at, qf_onnx_external *out,
                                 qf_error *err);
/*
 * Maps `location` relative to `model_dir` by the rule for files found beside a model
 * (qf_file_map_beside): absolute paths, ".." components, backslashes and symlinks leading out of the
 * folder are FORBIDDEN, non-regular files (FIFO, directory, device) IO; the error names the model
 * file, the offset `at` and the tensor, and quotes the location.
 */
qf_status qf_onnx_external_open(const char *model_dir, const char *location, const char *tensor, const char *file,
                                int64_t at, qf_file **out, qf_error *err);

/* Node attribute by name (NULL when absent) and its integer / float value with a default. */
const Onnx__AttributeProto *qf_onnx_node_attr(const Onnx__NodeProto *n, const char *name);
int64_t qf_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt);
float qf_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float dflt);

/* Who consumes each value of the main graph: (node, input slot) pairs sorted by value name. */
typedef struct qf_onnx_use {
    const char *value;
    size_t node;
    size_t slot;
} qf_onnx_use;

typedef struct qf_onnx_uses {
    qf_onnx_use *uses; /* owned */
    size_t count;
    bool has_subgraphs; /* a node carries a graph attribute: its body may read any outer value */
} qf_onnx_uses;

qf_status qf_onnx_uses_build(const Onnx__GraphProto *g, qf_onnx_uses *out, qf_error *err);
void qf_onnx_uses_free(qf_onnx_uses *u); /* accepts NULL */
/* First use of `value` and how many there are (*first is NULL when none). */
size_t qf_onnx_uses_of(const qf_onnx_uses *u, const char *value, const qf_onnx_use **first);

/*
 * The layout rule: a 2-D initializer every consumer of which reads it as the weight of MatMul
 * (input 1) or of Gemm with transB = 0 is stored [in, out]; qforge keeps it as [out, in] (the
 * PyTorch layout the encoder and quantizer expect), so the reader transposes it and the writer
 * transposes it back. False in graphs with subgraphs (a body could read it another way).
 */
bool qf_onnx_weight_is_in_out(const Onnx__GraphProto *g, const qf_onnx_uses *u, const Onnx__TensorProto *t);

/* Index of the initializer named `name` in g, or -1. Linear. */
long qf_onnx_find_initializer(const Onnx__GraphProto *g, const char *name);

#endif
