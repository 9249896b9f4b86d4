/*
 * writers/onnx/onnx_graph.h — internal to writers/onnx: graph-level helpers both ONNX writers share.
 *
 *   - a set of names (open addressing, strings borrowed) that collects every name a graph uses,
 *     subgraphs included, and hands out generated names that collide with none of them;
 *   - the structural check of a graph, run on what the writers produce before it is written (and by
 *     the rewriter on its source first, so that a source's own fault is reported as such).
 */
#ifndef QF_WRITERS_ONNX_GRAPH_H
#define QF_WRITERS_ONNX_GRAPH_H

#include "protobuf/onnx_proto.h"
#include "writers/onnx/onnx_arena.h"

typedef struct qf_onnx_names {
    const char **slot; /* borrowed strings; NULL: empty */
    size_t cap, n;
} qf_onnx_names;

/* Adds `name` (borrowed: it must outlive the set). False only when out of memory. */
bool qf_onnx_names_add(qf_onnx_names *s, const char *name);
bool qf_onnx_names_has(const qf_onnx_names *s, const char *name);
/* Every name of `g` and of the graphs in its node attributes: node names, graph inputs and outputs,
 * initializers (sparse too), value_info, node inputs and outputs. False when out of memory. */
bool qf_onnx_names_add_graph(qf_onnx_names *s, const Onnx__GraphProto *g);
/* Every node input of the graphs nested in `g`'s node attributes (the values a subgraph may read
 * from the outer scope are among them). False when out of memory. */
bool qf_onnx_names_add_subgraph_inputs(qf_onnx_names *s, const Onnx__GraphProto *g);
/* `base` itself when the set lacks it, else the first of base_1, base_2, ... that it lacks; the
 * result (in `a`) is added to the set. NULL when out of memory. */
const char *qf_onnx_names_unique(qf_onnx_names *s, qf_onnx_arena *a, const char *base);
void qf_onnx_names_free(qf_onnx_names *s); /* the set is empty again */

/*
 * The structural check (`file` and `what`, e.g. "rewritten graph", name the graph in errors):
 *   - SSA: every value is defined once, by a graph input, an initializer (an initializer may also be
 *     listed as a graph input: its default) or one node output, across subgraphs too;
 *   - every node input is empty (an omitted optional input) or defined before the node in
 *     topological order (in a subgraph: by it or by the outer scope); every graph output is defined;
 *   - node names that are not empty are unique within their graph; no graph input, graph output
 *     or initializer has an empty name;
 *   - unless `allow_unused`, every initializer is read: by a node (of the graph or of a subgraph),
 *     as a graph output, or is the default of a graph input.
 * FORMAT with err->object the value / node / initializer at fault; NO_MEMORY.
 */
qf_status qf_onnx_graph_check(const Onnx__GraphProto *g, bool allow_unused, const char *file, const char *what,
                              qf_error *err);

#endif
