/*
 * core/text.c — text that came from a file, made safe to show: every byte or character that could
 * drive a terminal (C0 controls, DEL, C1 controls, which some terminals take as CSI/OSC), fake a
 * line break, reorder what is shown (bidi overrides and isolates) or is not UTF-8 at all becomes a
 * visible escape. Used by qf_error_format and by every human-readable line of the CLI; JSON output
 * keeps the exact bytes (json-c escapes controls itself). Also: whether text is UTF-8, and text of
 * unknown encoding made UTF-8 (U+FFFD for each stray byte) before it is stored in a model.
 */
#include <stdio.h>
#include <string.h>

#include "qforge/core.h"

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), with its code point; 0 when s[0] does not start one. */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Code points shown as \uXXXX: C1 controls, bidi embeddings/overrides/isolates, line and
 * paragraph separators. */
static bool escaped_code_point(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x2028 || cp == 0x2029;
}

size_t qf_text_escape(const char *src, size_t len, char *dst, size_t size)
{
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    if (!src) len = 0;
    size_t out = 0;       /* full escaped length */
    size_t written = 0;   /* bytes placed in dst */
    bool stopped = false; /* a piece did not fit: nothing more is written */
    for (size_t i = 0; i < len;) {
        char piece[8];
        const char *p = piece;
        size_t plen;
        uint32_t cp = 0;
        size_t n = utf8_sequence(s + i, len - i, &cp);
        if (n == 0) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
            n = 1;
        } else if (n == 1 && (cp < 0x20 || cp == 0x7F)) {
            plen = (size_t)(cp == '\n'   ? snprintf(piece, sizeof piece, "\\n")
                            : cp == '\t' ? snprintf(piece, sizeof piece, "\\t")
                            : cp == '\r' ? snprintf(piece, sizeof piece, "\\r")
                                         : snprintf(piece, sizeof piece, "\\x%02x", (unsigned)cp));
        } else if (n == 1 && cp == '\\') {
            plen = (size_t)snprintf(piece, sizeof piece, "\\\\");
        } else if (escaped_code_point(cp)) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)cp);
        } else {
            p = (const char *)s + i;
            plen = n;
        }
        if (!stopped && dst && written + plen < size) {
            memcpy(dst + written, p, plen);
            written += plen;
        } else {
            stopped = true; /* the text ends where the first piece that did not fit began */
        }
        out += plen;
        i += n;
    }
    if (dst && size > 0) dst[written] = '\0';
    return out;
}

bool qf_text_is_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(p + i, len - i, &cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

size_t qf_text_utf8_repair(const char *src, size_t len, char *dst, size_t size)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    if (!src) len = 0;
    size_t out = 0, written = 0;
    bool stopped = false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_sequence(s + i, len - i, &cp);
        const char *p = n ? (const char *)s + i : replacement;
        size_t plen = n ? n : 3;
        if (!stopped && dst && written + plen < size) {
            memcpy(dst + written, p, plen);
            written += plen;
        } else {
            stopped = true;
        }
        out += plen;
        i += n ? n : 1;
    }
    if (dst && size > 0) dst[written] = '\0';
    return out;
}
