/*
 * calibrate/qfc.c — the `.qfc` calibration statistics file (spec: docs/format.md, "The .qfc
 * statistics file"): a 128-byte header, one record per activation in canonical order, a CRC-32
 * trailer. Every integer little-endian; the bytes depend only on the statistics. The reader
 * validates the whole file (sizes against limits, CRC, totals) before building the statistics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate/stats_internal.h"

#define QFC_MAGIC "\x89QFSTAT\n"
#define QFC_HEADER 128
#define QFC_VERSION_MAJOR 1
#define QFC_VERSION_MINOR 0

/* ------------------------------------------------------------------------------------------ */
/* Little-endian buffer                                                                        */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    bool failed;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put_u64(buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_f32(buf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static float get_f32(const uint8_t *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static size_t name_pad(size_t len) { return (8 - (4 + len) % 8) % 8; }

qf_status qf_calib_stats_serialize(const qf_calib_stats *s, uint8_t **out, size_t *size, qf_error *err)
{
    buf b = {0};
    put(&b, QFC_MAGIC, 8);
    put_u32(&b, QFC_VERSION_MAJOR);
    put_u32(&b, QFC_VERSION_MINOR);
    put_u32(&b, QF_CALIB_BINS);
    put_u32(&b, QF_CALIB_CHANNEL_BINS);
    put_u32(&b, (uint32_t)s->n);
    put_u32(&b, 0);
    put_u64(&b, s->prov.rows);
    put_u64(&b, s->prov.tokens);
    put_u64(&b, s->prov.row_hash_sum);
    put_u64(&b, 0);
    char sha[64];
    memset(sha, 0, sizeof sha);
    memcpy(sha, s->prov.source_sha256, strnlen(s->prov.source_sha256, 64));
    put(&b, sha, 64);
    static const uint8_t zeros[8] = {0};
    for (size_t i = 0; i < s->n; i++) {
        const qf_calib_entry_impl *e = &s->e[i];
        size_t len = strlen(e->name);
        put_u32(&b, (uint32_t)len);
        put(&b, e->name, len);
        put(&b, zeros, name_pad(len));
        put_u64(&b, (uint64_t)e->pub.channels);
        put_u64(&b, e->pub.count);
        put_u64(&b, e->pub.nonfinite);
        put_f32(&b, e->pub.min);
        put_f32(&b, e->pub.max);
        put_u32(&b, (uint32_t)e->pub.exponent);
        put_u32(&b, 0);
        for (size_t k = 0; k < QF_CALIB_BINS; k++) put_u64(&b, e->hist[k]);
        for (int64_t j = 0; j < e->pub.channels; j++) put_f32(&b, e->chabs[j]);
        for (int64_t j = 0; j < e->pub.channels; j++) put_u32(&b, (uint32_t)e->chexp[j]);
        for (size_t k = 0; k < (size_t)e->pub.channels * QF_CALIB_CHANNEL_BINS; k++) put_u64(&b, e->chhist[k]);
    }
    if (!b.failed) put_u32(&b, qf_crc32(0, b.p, b.n));
    if (b.failed) {
        free(b.p);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    *out = b.p;
    *size = b.n;
    return QF_STATUS_OK;
}

qf_status qf_calib_stats_write(const qf_calib_stats *s, const char *path, qf_error *err)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    qf_status st = qf_calib_stats_serialize(s, &bytes, &size, err);
    if (st) return st;
    qf_output *o = NULL;
    st = qf_output_open(path, &o, err);
    if (!st) st = qf_output_write(o, bytes, size, err);
    if (!st) st = qf_output_commit(o, err);
    else qf_output_abort(o);
    free(bytes);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                     */

static qf_status bad(qf_error *err, qf_status code, const char *name, uint64_t off, const char *object,
                     const char *what)
{
    return qf_error_set(err, code, name, NULL, (int64_t)off, object, "%s", what);
}

/* Bytes of one record's fixed part after the name, for `channels` channels (checked). */
static bool record_body(uint64_t channels, uint64_t *out)
{
    uint64_t ch_hist, ch_part, body = 8 + 8 + 8 + 4 + 4 + 4 + 4 + (uint64_t)QF_CALIB_BINS * 8;
    if (!qf_mul_u64(channels, (uint64_t)QF_CALIB_CHANNEL_BINS * 8, &ch_hist)) return false;
    if (!qf_mul_u64(channels, 8, &ch_part)) return false;
    return qf_add_u64(body, ch_part, &body) && qf_add_u64(body, ch_hist, out);
}

qf_status qf_calib_stats_parse(const void *data, size_t size, const char *name, qf_calib_stats **out, qf_error *err)
{
    *out = NULL;
    const uint8_t *p = data;
    if (size < QFC_HEADER + 4) {
        qf_error_set(err, QF_STATUS_TRUNCATED, name, "header", (int64_t)size, NULL,
                     "file of %zu bytes is shorter than a .qfc header and trailer", size);
        qf_error_expected(err, ">= %d bytes", QFC_HEADER + 4);
        qf_error_found(err, "%zu bytes", size);
        return QF_STATUS_TRUNCATED;
    }
    if (memcmp(p, QFC_MAGIC, 8) != 0) return bad(err, QF_STATUS_UNKNOWN_FORMAT, name, 0, "magic", "not a .qfc file (bad magic)");
    if (get_u32(p + 8) != QFC_VERSION_MAJOR) {
        qf_error_set(err, QF_STATUS_UNSUPPORTED, name, "header", 8, "version_major", ".qfc major version %u",
                     get_u32(p + 8));
        qf_error_expected(err, "%d", QFC_VERSION_MAJOR);
        qf_error_found(err, "%u", get_u32(p + 8));
        return QF_STATUS_UNSUPPORTED;
    }
    uint32_t crc = qf_crc32(0, p, size - 4);
    if (crc != get_u32(p + size - 4)) {
        qf_error_set(err, QF_STATUS_CHECKSUM, name, "trailer", (int64_t)(size - 4), "crc32", "CRC-32 mismatch");
        qf_error_expected(err, "%08x", crc);
        qf_error_found(err, "%08x", get_u32(p + size - 4));
        return QF_STATUS_CHECKSUM;
    }
    if (get_u32(p + 16) != QF_CALIB_BINS || get_u32(p + 20) != QF_CALIB_CHANNEL_BINS) {
        qf_error_set(err, QF_STATUS_UNSUPPORTED, name, "header", 16, "bins", "histogram sizes %u / %u", get_u32(p + 16),
                     get_u32(p + 20));
        qf_error_expected(err, "%d / %d", QF_CALIB_BINS, QF_CALIB_CHANNEL_BINS);
        qf_error_found(err, "%u / %u", get_u32(p + 16), get_u32(p + 20));
        return QF_STATUS_UNSUPPORTED;
    }
    uint32_t count = get_u32(p + 24);
    if (count > QF_CALIB_MAX_ENTRIES) {
        qf_error_set(err, QF_STATUS_LIMIT, name, "header", 24, "entry_count", "%u entries", count);
        qf_error_expected(err, "<= %d", QF_CALIB_MAX_ENTRIES);
        qf_error_found(err, "%u", count);
        return QF_STATUS_LIMIT;
    }
    if (get_u32(p + 28) != 0 || get_u64(p + 56) != 0)
        return bad(err, QF_STATUS_FORMAT, name, get_u32(p + 28) ? 28 : 56, "reserved", "reserved header bytes are not zero");
    /* source SHA-256: 64 lower-case hex digits, or 64 zero bytes when unknown */
    for (size_t i = 0; i < 64; i++) {
        uint8_t c = p[64 + i];
        bool ok = p[64] == 0 ? c == 0 : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        if (!ok) return bad(err, QF_STATUS_FORMAT, name, 64 + i, "source_sha256", "source SHA-256 is not 64 hex digits or zeros");
    }

    /* pass 1: the whole structure, nothing allocated */
    const uint64_t end = size - 4;
    uint64_t off = QFC_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        if (!qf_range_within(off, 4, end)) return bad(err, QF_STATUS_TRUNCATED, name, off, "entry", "entry record is truncated");
        uint32_t len = get_u32(p + off);
        if (len == 0 || len > QF_CALIB_MAX_NAME) {
            qf_error_set(err, len ? QF_STATUS_LIMIT : QF_STATUS_FORMAT, name, NULL, (int64_t)off, "name_len",
                         "entry name of %u bytes", len);
            qf_error_expected(err, "1..%d", QF_CALIB_MAX_NAME);
            qf_error_found(err, "%u", len);
            return len ? QF_STATUS_LIMIT : QF_STATUS_FORMAT;
        }
        uint64_t name_end = off + 4 + len + name_pad(len);
        if (!qf_range_within(off + 4, len + name_pad(len) + 24, end))
            return bad(err, QF_STATUS_TRUNCATED, name, off, "entry", "entry record is truncated");
        if (memchr(p + off + 4, 0, len)) return bad(err, QF_STATUS_FORMAT, name, off + 4, "name", "entry name holds a NUL byte");
        uint64_t channels = get_u64(p + name_end);
        if (channels < 1 || channels > QF_CALIB_MAX_CHANNELS) {
            qf_error_set(err, channels ? QF_STATUS_LIMIT : QF_STATUS_FORMAT, name, NULL, (int64_t)name_end, "channels",
                         "activation with %llu channels", (unsigned long long)channels);
            qf_error_expected(err, "1..%d", QF_CALIB_MAX_CHANNELS);
            qf_error_found(err, "%llu", (unsigned long long)channels);
            return channels ? QF_STATUS_LIMIT : QF_STATUS_FORMAT;
        }
        uint64_t body;
        if (!record_body(channels, &body) || !qf_range_within(name_end, body, end))
            return bad(err, QF_STATUS_TRUNCATED, name, off, "entry", "entry record is truncated");
        off = name_end + body;
    }
    if (off != end) return bad(err, QF_STATUS_FORMAT, name, off, "trailer", "bytes after the last entry");

    /* pass 2: values; entries built as they are checked */
    qf_calib_stats *s = NULL;
    qf_status st = qf_calib_stats_create(&s, err);
    if (st) return st;
    s->prov.rows = get_u64(p + 32);
    s->prov.tokens = get_u64(p + 40);
    s->prov.row_hash_sum = get_u64(p + 48);
    if (p[64]) memcpy(s->prov.source_sha256, p + 64, 64);
    off = QFC_HEADER;
    char ename[QF_CALIB_MAX_NAME + 1];
    for (uint32_t i = 0; !st && i < count; i++) {
        uint64_t rec = off;
        uint32_t len = get_u32(p + off);
        memcpy(ename, p + off + 4, len);
        ename[len] = '\0';
        off += 4 + len + name_pad(len);
        int64_t channels = (int64_t)get_u64(p + off);
        if (qf_calib_stats_find(s, ename)) {
            st = bad(err, QF_STATUS_DUPLICATE, name, rec, ename, "duplicate entry name");
            break;
        }
        qf_calib_entry_impl *e = NULL;
        if ((st = qf_calib_stats_add_entry(s, ename, channels, &e, err))) break;
        if (e != &s->e[s->n - 1]) {
            st = bad(err, QF_STATUS_FORMAT, name, rec, ename, "entries are not in canonical order");
            break;
        }
        qf_calib_entry *q = &e->pub;
        q->count = get_u64(p + off + 8);
        q->nonfinite = get_u64(p + off + 16);
        q->min = get_f32(p + off + 24);
        q->max = get_f32(p + off + 28);
        q->exponent = (int32_t)get_u32(p + off + 32);
        if (get_u32(p + off + 36) != 0) {
            st = bad(err, QF_STATUS_FORMAT, name, off + 36, ename, "reserved entry bytes are not zero");
            break;
        }
        uint64_t h = off + 40;
        uint64_t total = 0;
        bool overflow = false;
        for (size_t k = 0; k < QF_CALIB_BINS; k++) {
            e->hist[k] = get_u64(p + h + k * 8);
            overflow |= !qf_add_u64(total, e->hist[k], &total);
        }
        bool range_ok = q->exponent == QF_CALIB_NO_RANGE ? total == e->hist[0]
                                                          : q->exponent >= -160 && q->exponent <= 130;
        float amax = fmaxf(fabsf(q->min), fabsf(q->max));
        bool minmax_ok = isfinite(q->min) && isfinite(q->max) && q->min <= q->max &&
                         (q->count ? (q->exponent == QF_CALIB_NO_RANGE ? amax == 0.0f
                                                                        : (double)amax < ldexp(1.0, q->exponent))
                                   : (q->min == 0.0f && q->max == 0.0f));
        if (overflow || total != q->count || !range_ok || !minmax_ok) {
            qf_error_set(err, QF_STATUS_FORMAT, name, NULL, (int64_t)off, ename,
                         "entry '%s': histogram, count and range disagree", ename);
            qf_error_expected(err, "%llu values in range 2^%d", (unsigned long long)q->count, (int)q->exponent);
            qf_error_found(err, "%llu", (unsigned long long)total);
            st = QF_STATUS_FORMAT;
            break;
        }
        uint64_t c = h + (uint64_t)QF_CALIB_BINS * 8;
        uint64_t ce = c + (uint64_t)channels * 4, chh = ce + (uint64_t)channels * 4;
        uint64_t ch_total = 0;
        for (int64_t j = 0; j < channels && !st; j++) {
            e->chabs[j] = get_f32(p + c + (uint64_t)j * 4);
            e->chexp[j] = (int32_t)get_u32(p + ce + (uint64_t)j * 4);
            uint64_t t = 0;
            for (size_t k = 0; k < QF_CALIB_CHANNEL_BINS; k++) {
                uint64_t v = get_u64(p + chh + ((uint64_t)j * QF_CALIB_CHANNEL_BINS + k) * 8);
                e->chhist[(size_t)j * QF_CALIB_CHANNEL_BINS + k] = v;
                overflow |= !qf_add_u64(t, v, &t);
            }
            overflow |= !qf_add_u64(ch_total, t, &ch_total);
            bool ok = isfinite(e->chabs[j]) && e->chabs[j] >= 0.0f && e->chabs[j] <= amax &&
                      (e->chexp[j] == QF_CALIB_NO_RANGE
                           ? e->chabs[j] == 0.0f && t == e->chhist[(size_t)j * QF_CALIB_CHANNEL_BINS]
                           : e->chexp[j] >= -160 && e->chexp[j] <= 130 &&
                                 (double)e->chabs[j] < ldexp(1.0, e->chexp[j]));
            if (!ok)
                st = bad(err, QF_STATUS_FORMAT, name, c + (uint64_t)j * 4, ename, "channel maximum and range disagree");
        }
        if (!st && (overflow || ch_total != q->count)) {
            qf_error_set(err, QF_STATUS_FORMAT, name, NULL, (int64_t)chh, ename,
                         "entry '%s': channel histograms do not add up to the count", ename);
            qf_error_expected(err, "%llu", (unsigned long long)q->count);
            qf_error_found(err, "%llu", (unsigned long long)ch_total);
            st = QF_STATUS_FORMAT;
        }
        if (!st) qf_calib_entry_sync(e);
        off = chh + (uint64_t)channels * QF_CALIB_CHANNEL_BINS * 8;
    }
    if (st) {
        qf_calib_stats_destroy(s);
        return st;
    }
    *out = s;
    return QF_STATUS_OK;
}

qf_status qf_calib_stats_read(const char *path, qf_calib_stats **out, qf_error *err)
{
    *out = NULL;
    qf_file *f = NULL;
    qf_status st = qf_file_map(path, &f, err);
    if (st) return st;
    st = qf_calib_stats_parse(qf_file_data(f), (size_t)qf_file_size(f), path, out, err);
    qf_file_unmap(f);
    return st;
}
