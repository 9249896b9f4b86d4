/*
 * writers/onnx/onnx_check.h — internal to qforge (the ONNX writers, their tests and fuzz targets):
 * the structural check every graph qforge writes passes before it is renamed into place, usable
 * on a file without the protobuf-c headers. What is checked is listed in onnx_graph.h.
 */
#ifndef QF_WRITERS_ONNX_CHECK_H
#define QF_WRITERS_ONNX_CHECK_H

#include "qforge/core.h"

/*
 * Parses the ModelProto at `path` (qf_onnx_proto_parse: bounded walk, then unpack) and checks its
 * graph as qf_onnx_graph_check does with unused initializers refused. FORMAT with the offending
 * value, node or initializer as err->object when the graph is not valid; the parser's errors
 * otherwise.
 */
qf_status qf_onnx_check_file(const char *path, qf_error *err);

#endif
