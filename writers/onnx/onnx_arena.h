/*
 * writers/onnx/onnx_arena.h — internal to writers/onnx: the allocation arena both ONNX writers
 * (the source-graph rewriter and the from-scratch exporter) build their protobuf messages in.
 * Every block is zeroed and freed with the arena; after the first failed allocation the arena
 * stays failed and returns NULL, so builders check once at the end.
 */
#ifndef QF_WRITERS_ONNX_ARENA_H
#define QF_WRITERS_ONNX_ARENA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct qf_onnx_arena {
    void **p;
    size_t n, cap;
    bool failed;
} qf_onnx_arena;

void *qf_onnx_arena_alloc(qf_onnx_arena *a, size_t size); /* zeroed; NULL once failed */
char *qf_onnx_arena_vfmt(qf_onnx_arena *a, const char *fmt, va_list ap);
char *qf_onnx_arena_fmt(qf_onnx_arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void qf_onnx_arena_free(qf_onnx_arena *a); /* frees every block; the arena is empty again */

#endif
