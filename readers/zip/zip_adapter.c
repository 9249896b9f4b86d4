/*
 * readers/zip/zip_adapter.c — zip archives through libzip plus our own parse of the central
 * directory and local headers (see zip_adapter.h). libzip types stay in this file.
 */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "readers/zip/zip_adapter.h"

struct qf_zip {
    const uint8_t *data;
    uint64_t size;
    qf_zip_entry *entries;
    uint64_t count;
    const qf_zip_entry **sorted; /* entries sorted by name */
    zip_t *za;
    zip_source_t *src;
};

static uint64_t le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static qf_status bad(qf_error *err, qf_status code, const char *part, uint64_t off, const char *fmt, const char *a)
{
    return qf_error_set(err, code, NULL, part, (int64_t)off, part, fmt, a);
}

void qf_zip_close(qf_zip *z)
{
    if (!z) return;
    if (z->za) zip_discard(z->za);
    else if (z->src) zip_source_free(z->src);
    for (uint64_t i = 0; i < z->count; i++) free((char *)z->entries[i].name);
    free(z->entries);
    free(z->sorted);
    free(z);
}

uint64_t qf_zip_count(const qf_zip *z) { return z->count; }
const qf_zip_entry *qf_zip_entry_at(const qf_zip *z, uint64_t i) { return i < z->count ? &z->entries[i] : NULL; }

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const qf_zip_entry *const *)a)->name, (*(const qf_zip_entry *const *)b)->name);
}

typedef struct span {
    uint64_t start, end, index;
} span;
static int by_start(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

const qf_zip_entry *qf_zip_find(const qf_zip *z, const char *name)
{
    uint64_t lo = 0, hi = z->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->sorted[mid]->name, name);
        if (c == 0) return z->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static qf_status check_name(const char *name, uint64_t off, qf_error *err)
{
    if (!name[0]) return bad(err, QF_STATUS_FORMAT, "central directory", off, "zip entry with an empty name%s", "");
    if (name[0] == '/' || strchr(name, '\\') || strchr(name, ':'))
        return bad(err, QF_STATUS_FORBIDDEN, name, off, "zip entry name '%s' is an absolute or non-portable path", name);
    const char *s = name;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return bad(err, QF_STATUS_FORBIDDEN, name, off, "zip entry name '%s' contains '..'", name);
        if (!e) break;
        s = e + 1;
    }
    return QF_STATUS_OK;
}

/* Finds the end records; fills the central directory's offset, size and entry count. */
static qf_status find_directory(const uint8_t *d, uint64_t size, uint64_t *cd_off, uint64_t *cd_size,
                                uint64_t *count, uint64_t *eocd_pos, qf_error *err)
{
    if (size < 22) return qf_error_set(err, QF_STATUS_TRUNCATED, NULL, "zip", 0, NULL, "zip archive shorter than its end record");
    uint64_t lowest = size > QF_ZIP_MAX_COMMENT_SCAN ? size - QF_ZIP_MAX_COMMENT_SCAN : 0;
    uint64_t pos = size - 22;
    for (;;) {
        if (le(d + pos, 4) == 0x06054b50 && pos + 22 + le(d + pos + 20, 2) <= size) break;
        if (pos == lowest) return qf_error_set(err, QF_STATUS_FORMAT, NULL, "zip", -1, NULL, "no zip end of central directory record");
        pos--;
    }
    *eocd_pos = pos;
    if (le(d + pos + 4, 2) != 0 || le(d + pos + 6, 2) != 0)
        return qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, "end of central directory", (int64_t)pos, NULL, "multi-disk zip archive");
    *count = le(d + pos + 10, 2);
    *cd_size = le(d + pos + 12, 4);
    *cd_off = le(d + pos + 16, 4);
    if (*count == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu) {
        if (pos < 20 || le(d + pos - 20, 4) != 0x07064b50)
            return qf_error_set(err, QF_STATUS_FORMAT, NULL, "end of central directory", (int64_t)pos, NULL,
                                "zip64 values without a zip64 locator");
        uint64_t z64 = le(d + pos - 20 + 8, 8);
        if (!qf_range_within(z64, 56, pos - 20) || le(d + z64, 4) != 0x06064b50)
            return qf_error_set(err, QF_STATUS_FORMAT, NULL, "zip64 end of central directory", (int64_t)(pos - 20), NULL,
                                "zip64 end record out of place");
        *count = le(d + z64 + 32, 8);
        *cd_size = le(d + z64 + 40, 8);
        *cd_off = le(d + z64 + 48, 8);
        *eocd_pos = z64;
    }
    /* errors about the count and the directory point at the record they were read from */
    const char *rec = *eocd_pos == pos ? "end of central directory" : "zip64 end of central directory";
    if (*count > QF_ZIP_MAX_ENTRIES) {
        qf_error_set(err, QF_STATUS_LIMIT, NULL, rec, (int64_t)*eocd_pos, NULL, "zip archive with %llu entries",
                     (unsigned long long)*count);
        qf_error_expected(err, "<= %u", QF_ZIP_MAX_ENTRIES);
        qf_error_found(err, "%llu", (unsigned long long)*count);
        return QF_STATUS_LIMIT;
    }
    if (!qf_range_within(*cd_off, *cd_size, *eocd_pos))
        return qf_error_set(err, QF_STATUS_FORMAT, NULL, rec, (int64_t)*eocd_pos, NULL,
                            "central directory lies outside the archive");
    /* the entry table is allocated from the count: a count the directory cannot hold is refused first */
    if (*count > *cd_size / 46) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, rec, (int64_t)*eocd_pos, NULL,
                     "central directory of %llu bytes cannot hold %llu entries", (unsigned long long)*cd_size,
                     (unsigned long long)*count);
        qf_error_expected(err, "<= %llu entries (46 bytes each at least)", (unsigned long long)(*cd_size / 46));
        qf_error_found(err, "%llu", (unsigned long long)*count);
        return QF_STATUS_FORMAT;
    }
    return QF_STATUS_OK;
}

static qf_status parse_entries(qf_zip *z, uint64_t cd_off, uint64_t cd_size, qf_error *err)
{
    const uint8_t *d = z->data;
    uint64_t pos = cd_off, end = cd_off + cd_size, inflated = 0;
    for (uint64_t i = 0; i < z->count; i++) {
        if (!qf_range_within(pos, 46, end) || le(d + pos, 4) != 0x02014b50)
            return qf_error_set(err, QF_STATUS_FORMAT, NULL, "central directory", (int64_t)pos, NULL,
                                "central directory entry %llu is malformed", (unsigned long long)i);
        uint16_t flags = (uint16_t)le(d + pos + 8, 2), method = (uint16_t)le(d + pos + 10, 2);
        uint64_t nlen = le(d + pos + 28, 2), xlen = le(d + pos + 30, 2), clen = le(d + pos + 32, 2);
        uint64_t rec = 46 + nlen + xlen + clen;
        if (!qf_range_within(pos, rec, end))
            return qf_error_set(err, QF_STATUS_FORMAT, NULL, "central directory", (int64_t)pos, NULL,
                                "central directory entry %llu runs past the directory", (unsigned long long)i);
        qf_zip_entry *e = &z->entries[i];
        e->index = i;
        e->method = method;
        e->crc = (uint32_t)le(d + pos + 16, 4);
        e->comp_size = le(d + pos + 20, 4);
        e->size = le(d + pos + 24, 4);
        uint64_t local = le(d + pos + 42, 4);
        char *name = malloc(nlen + 1);
        if (!name) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        memcpy(name, d + pos + 46, nlen);
        name[nlen] = '\0';
        e->name = name;
        if (strlen(name) != nlen)
            return bad(err, QF_STATUS_FORMAT, "central directory", pos, "zip entry name '%s' has a NUL byte", name);
        if (nlen > QF_MAX_NAME_LEN) {
            bad(err, QF_STATUS_LIMIT, "central directory", pos, "zip entry name '%.64s...' is too long", name);
            qf_error_expected(err, "<= %d bytes", QF_MAX_NAME_LEN);
            qf_error_found(err, "%llu bytes", (unsigned long long)nlen);
            return QF_STATUS_LIMIT;
        }
        /* zip64 extra field: the 0xFFFFFFFF fields, in order */
        for (uint64_t x = pos + 46 + nlen; x + 4 <= pos + 46 + nlen + xlen;) {
            uint64_t id = le(d + x, 2), n = le(d + x + 2, 2);
            if (x + 4 + n > pos + 46 + nlen + xlen) break;
            if (id == 1) {
                uint64_t q = x + 4, qe = x + 4 + n;
                if (e->size == 0xFFFFFFFFu && q + 8 <= qe) e->size = le(d + q, 8), q += 8;
                if (e->comp_size == 0xFFFFFFFFu && q + 8 <= qe) e->comp_size = le(d + q, 8), q += 8;
                if (local == 0xFFFFFFFFu && q + 8 <= qe) local = le(d + q, 8), q += 8;
            }
            x += 4 + n;
        }
        e->local_offset = local;
        qf_status st = check_name(name, local, err);
        if (st) return st;
        if (flags & 1)
            return bad(err, QF_STATUS_UNSUPPORTED, name, local, "zip entry '%s' is encrypted", name);
        if (method != 0 && method != 8)
            return bad(err, QF_STATUS_UNSUPPORTED, name, local, "zip entry '%s' uses a compression method other than stored/deflate", name);
        if (method == 0 && e->size != e->comp_size) {
            bad(err, QF_STATUS_FORMAT, name, local, "stored zip entry '%s' has different compressed and uncompressed sizes", name);
            qf_error_expected(err, "%llu bytes", (unsigned long long)e->size);
            qf_error_found(err, "%llu bytes", (unsigned long long)e->comp_size);
            return QF_STATUS_FORMAT;
        }
        if (method == 8) {
            uint64_t maxsize;
            if (!qf_mul_u64(e->comp_size ? e->comp_size : 1, QF_ZIP_MAX_RATIO, &maxsize) || e->size > maxsize ||
                !qf_add_u64(inflated, e->size, &inflated) || inflated > QF_ZIP_MAX_INFLATED) {
                bad(err, QF_STATUS_LIMIT, name, local, "zip entry '%s' inflates too much (zip bomb?)", name);
                qf_error_expected(err, "ratio <= %u, total <= %llu bytes", QF_ZIP_MAX_RATIO,
                                  (unsigned long long)QF_ZIP_MAX_INFLATED);
                qf_error_found(err, "%llu bytes from %llu", (unsigned long long)e->size, (unsigned long long)e->comp_size);
                return QF_STATUS_LIMIT;
            }
        }
        /* local header: same name, method, encryption flag; sizes and CRC unless in a data descriptor */
        if (!qf_range_within(local, 30, z->size) || le(d + local, 4) != 0x04034b50)
            return bad(err, QF_STATUS_FORMAT, name, local, "local header of zip entry '%s' is missing", name);
        uint16_t lflags = (uint16_t)le(d + local + 6, 2);
        uint64_t lnlen = le(d + local + 26, 2), lxlen = le(d + local + 28, 2);
        if ((lflags & 1) || le(d + local + 8, 2) != method || lnlen != nlen || !qf_range_within(local + 30, lnlen, z->size) ||
            memcmp(d + local + 30, name, nlen) != 0)
            return bad(err, QF_STATUS_FORMAT, name, local,
                       "local header of zip entry '%s' disagrees with the central directory", name);
        if (!(lflags & 8)) {
            uint64_t lc = le(d + local + 18, 4), lu = le(d + local + 22, 4);
            if (le(d + local + 14, 4) != e->crc || (lc != 0xFFFFFFFFu && lc != e->comp_size) ||
                (lu != 0xFFFFFFFFu && lu != e->size))
                return bad(err, QF_STATUS_FORMAT, name, local,
                           "local header of zip entry '%s' has other sizes or CRC than the central directory", name);
        }
        e->data_offset = local + 30 + lnlen + lxlen;
        if (!qf_range_within(e->data_offset, e->comp_size, cd_off)) {
            bad(err, QF_STATUS_TRUNCATED, name, local, "data of zip entry '%s' runs past the archive", name);
            qf_error_expected(err, "%llu bytes", (unsigned long long)e->comp_size);
            return QF_STATUS_TRUNCATED;
        }
        pos += rec;
    }
    return QF_STATUS_OK;
}

static qf_status cross_check(qf_zip *z, qf_error *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    z->src = zip_source_buffer_create(z->data, z->size, 0, &ze);
    if (!z->src) {
        zip_error_fini(&ze);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, "zip", -1, NULL, "libzip: cannot create a source");
    }
    z->za = zip_open_from_source(z->src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z->za) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "zip", -1, NULL, "libzip rejects the archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return QF_STATUS_FORMAT;
    }
    zip_error_fini(&ze);
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n < 0 || (uint64_t)n != z->count) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, "central directory", -1, NULL, "libzip sees another number of entries");
        qf_error_expected(err, "%llu", (unsigned long long)z->count);
        qf_error_found(err, "%lld", (long long)n);
        return QF_STATUS_FORMAT;
    }
    for (uint64_t i = 0; i < z->count; i++) {
        const qf_zip_entry *e = &z->entries[i];
        zip_stat_t sb;
        zip_stat_init(&sb);
        if (zip_stat_index(z->za, i, ZIP_FL_ENC_RAW, &sb) != 0 || !(sb.valid & ZIP_STAT_NAME) ||
            strcmp(sb.name, e->name) != 0 || sb.size != e->size || sb.comp_size != e->comp_size || sb.crc != e->crc ||
            sb.comp_method != e->method || sb.encryption_method != ZIP_EM_NONE)
            return bad(err, QF_STATUS_FORMAT, e->name, e->data_offset, "libzip sees zip entry '%s' differently", e->name);
    }
    return QF_STATUS_OK;
}

qf_status qf_zip_open(const uint8_t *data, uint64_t size, qf_zip **out, qf_error *err)
{
    *out = NULL;
    uint64_t cd_off = 0, cd_size = 0, count = 0, eocd = 0;
    qf_status st = find_directory(data, size, &cd_off, &cd_size, &count, &eocd, err);
    if (st) return st;
    qf_zip *z = calloc(1, sizeof *z);
    if (!z || !(z->entries = calloc(count ? count : 1, sizeof *z->entries)) ||
        !(z->sorted = malloc((count ? count : 1) * sizeof *z->sorted))) {
        qf_zip_close(z);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    }
    z->data = data;
    z->size = size;
    z->count = count;
    if ((st = parse_entries(z, cd_off, cd_size, err))) goto fail;
    for (uint64_t i = 0; i < count; i++) z->sorted[i] = &z->entries[i];
    qsort(z->sorted, count, sizeof *z->sorted, by_name);
    for (uint64_t i = 1; i < count; i++) {
        const qf_zip_entry *e = z->sorted[i];
        if (strcmp(z->sorted[i - 1]->name, e->name) == 0) {
            if (z->sorted[i - 1]->index > e->index) e = z->sorted[i - 1]; /* name the later one */
            st = bad(err, QF_STATUS_DUPLICATE, e->name, e->local_offset,
                     "zip entry name '%s' appears twice (zip readers would disagree on its content)", e->name);
            goto fail;
        }
    }
    span *spans = malloc((count ? count : 1) * sizeof *spans);
    if (!spans) {
        st = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < count; i++) {
        spans[i].start = z->entries[i].data_offset;
        spans[i].end = z->entries[i].data_offset + z->entries[i].comp_size;
        spans[i].index = i;
    }
    qsort(spans, count, sizeof *spans, by_start);
    for (uint64_t i = 1; i < count; i++) {
        if (spans[i].start < spans[i - 1].end) {
            const qf_zip_entry *e = &z->entries[spans[i].index];
            free(spans);
            st = bad(err, QF_STATUS_FORMAT, e->name, e->local_offset, "zip entry '%s' overlaps another entry", e->name);
            goto fail;
        }
    }
    free(spans);
    if ((st = cross_check(z, err))) goto fail;
    *out = z;
    return QF_STATUS_OK;
fail:
    qf_zip_close(z);
    return st;
}

qf_status qf_zip_borrow(qf_zip *z, const qf_zip_entry *e, const uint8_t **ptr, qf_error *err)
{
    if (e->method != 0)
        return bad(err, QF_STATUS_INTERNAL, e->name, e->data_offset, "zip entry '%s' is compressed", e->name);
    uint32_t crc = qf_crc32(0, z->data + e->data_offset, (size_t)e->size);
    if (crc != e->crc) {
        bad(err, QF_STATUS_CHECKSUM, e->name, e->data_offset, "CRC-32 of zip entry '%s' does not match", e->name);
        qf_error_expected(err, "%08x", e->crc);
        qf_error_found(err, "%08x", crc);
        return QF_STATUS_CHECKSUM;
    }
    *ptr = z->data + e->data_offset;
    return QF_STATUS_OK;
}

qf_status qf_zip_read(qf_zip *z, const qf_zip_entry *e, void *buf, qf_error *err)
{
    if (e->method == 0) {
        memcpy(buf, z->data + e->data_offset, (size_t)e->size);
    } else {
        zip_file_t *zf = zip_fopen_index(z->za, e->index, 0);
        if (!zf)
            return bad(err, QF_STATUS_FORMAT, e->name, e->data_offset, "libzip cannot open zip entry '%s'", e->name);
        uint64_t got = 0;
        while (got < e->size) {
            zip_int64_t n = zip_fread(zf, (uint8_t *)buf + got, e->size - got);
            if (n <= 0) break;
            got += (uint64_t)n;
        }
        zip_fclose(zf);
        if (got != e->size) {
            bad(err, QF_STATUS_FORMAT, e->name, e->data_offset, "zip entry '%s' does not inflate to its size", e->name);
            qf_error_expected(err, "%llu bytes", (unsigned long long)e->size);
            qf_error_found(err, "%llu bytes", (unsigned long long)got);
            return QF_STATUS_FORMAT;
        }
    }
    uint32_t crc = qf_crc32(0, buf, (size_t)e->size);
    if (crc != e->crc) {
        bad(err, QF_STATUS_CHECKSUM, e->name, e->data_offset, "CRC-32 of zip entry '%s' does not match", e->name);
        qf_error_expected(err, "%08x", e->crc);
        qf_error_found(err, "%08x", crc);
        return QF_STATUS_CHECKSUM;
    }
    return QF_STATUS_OK;
}
