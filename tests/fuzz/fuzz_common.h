/*
 * tests/fuzz/fuzz_common.h — helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c) and the
 * replay driver: memory-backed files for entry points that take a path (memfd_create: the bytes
 * never touch a real file system), the entry point every target defines, and the check that every
 * string a reader returns, escaped for a terminal, holds no control (so every reader target
 * searches for text that would drive the terminal `qforge inspect` prints on), and the check that
 * everything an accepted model carries is UTF-8 (storable in a .qf, whose header is JSON).
 */
#ifndef QF_TESTS_FUZZ_COMMON_H
#define QF_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qforge/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memory-backed file holding data[0..size); its path is "/proc/self/fd/N". -1 on failure. */
static inline int qf_fuzz_memfd(const char *name, const uint8_t *data, size_t size, char path[64])
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* True when s[0..n) is well-formed UTF-8 (checked here independently of core/text.c). */
static inline bool qf_fuzz_text_is_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || c > 0xF4 || i + len > n) return false;
        uint32_t cp = len == 1 ? c : c & (len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* A model a reader accepted must be storable as a .qf, whose header is JSON: every name, metadata
 * key and value, and the config, UTF-8 (a .qf written with a stray byte could never be read back). */
static inline void qf_fuzz_check_utf8(const char *what, const char *s)
{
    if (s && !qf_fuzz_text_is_utf8(s, strlen(s))) {
        fprintf(stderr, "a reader accepted a %s that is not UTF-8\n", what);
        abort();
    }
}

/* True when s[0..n) holds nothing a terminal acts on: no byte below 0x20, no DEL, well-formed UTF-8
 * (checked here independently of core/text.c) without C1 controls, bidi overrides/isolates or
 * line/paragraph separators. */
static inline bool qf_fuzz_text_is_inert(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || c > 0xF4 || i + len > n) return false;
        uint32_t cp = c & (len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        if (cp <= 0x9F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
            cp == 0x2029)
            return false;
        i += len;
    }
    return true;
}

/* Every string a reader hands out (names, metadata, error text) goes to terminals through
 * qf_text_escape / qf_error_format: their output must be inert whatever the input held. */
static inline void qf_fuzz_check_escaped(const char *s)
{
    if (!s) return;
    size_t len = strlen(s), cap = len * QF_TEXT_ESCAPE_GROWTH + 1;
    char *out = malloc(cap);
    if (!out) return;
    size_t n = qf_text_escape(s, len, out, cap);
    if (n >= cap || strlen(out) != n || !qf_fuzz_text_is_inert(out, n)) {
        fprintf(stderr, "qf_text_escape left a control in the escaped text of '%s'\n", s);
        abort();
    }
    free(out);
}

/* What a reader target does with the outcome of one read: for an accepted model, read the last
 * byte of every tensor (every extent must be readable) and every metadata entry, so that the
 * sanitizers see a bad pointer or size; for a refused one, format its error (the error path must be
 * as safe as the success path). Frees the model. */
static inline void qf_fuzz_consume(qf_status st, qf_model *m, const qf_error *err)
{
    if (st == QF_STATUS_OK) {
        volatile uint64_t sum = 0;
        for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
            const qf_tensor *t = qf_model_tensor(m, i);
            if (t->nbytes) sum += ((const uint8_t *)t->data)[t->nbytes - 1];
            qf_fuzz_check_escaped(t->name);
            qf_fuzz_check_escaped(t->source_name);
            qf_fuzz_check_escaped(t->quant.scale_name);
            qf_fuzz_check_escaped(t->quant.zero_point_name);
            qf_fuzz_check_utf8("tensor name", t->name);
            qf_fuzz_check_utf8("source tensor name", t->source_name);
        }
        for (size_t i = 0; i < qf_model_meta_count(m); i++) {
            const char *k, *v;
            qf_model_meta_at(m, i, &k, &v);
            qf_fuzz_check_escaped(k);
            qf_fuzz_check_escaped(v);
            qf_fuzz_check_utf8("metadata key", k);
            qf_fuzz_check_utf8("metadata value", v);
        }
        qf_fuzz_check_utf8("config.json", qf_model_config_json(m));
        (void)sum;
    } else if (err) {
        char line[4 * 2048];
        int n = qf_error_format(err, line, sizeof line);
        if (n < 0 || !qf_fuzz_text_is_inert(line, strlen(line))) {
            fprintf(stderr, "qf_error_format printed a control: %s\n", line);
            abort();
        }
    }
    qf_model_destroy(m);
}

#endif /* QF_TESTS_FUZZ_COMMON_H */
