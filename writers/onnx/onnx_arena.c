/*
 * writers/onnx/onnx_arena.c — the allocation arena of the ONNX writers (see onnx_arena.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writers/onnx/onnx_arena.h"

void *qf_onnx_arena_alloc(qf_onnx_arena *a, size_t size)
{
    if (a->failed) return NULL;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        void **p = realloc(a->p, nc * sizeof *p);
        if (!p) {
            a->failed = true;
            return NULL;
        }
        a->p = p;
        a->cap = nc;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        a->failed = true;
        return NULL;
    }
    a->p[a->n++] = m;
    return m;
}

char *qf_onnx_arena_vfmt(qf_onnx_arena *a, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        a->failed = true;
        return NULL;
    }
    char *s = qf_onnx_arena_alloc(a, (size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *qf_onnx_arena_fmt(qf_onnx_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = qf_onnx_arena_vfmt(a, fmt, ap);
    va_end(ap);
    return s;
}

void qf_onnx_arena_free(qf_onnx_arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof *a);
}
