/*
 * readers/hdf5/hdf5.c — HDF5 and Keras weight files through libhdf5; the only file that includes
 * hdf5.h. Sits in readers/ beside torch and safetensors: reader.c dispatches plain HDF5 files here
 * (qf_hdf5_read), keras_zip.c hands over the model.weights.h5 entry of a `.keras` archive
 * (qf_hdf5_read_image).
 *
 * libhdf5 is not hardened against hostile files, so it is fenced in:
 *   - it opens the mapped bytes as a read-only file image (no second open of the path, no writes);
 *     the superblock's end-of-file address is checked against the image before libhdf5 sees it;
 *   - automatic error printing is off; its error stack is turned into the qf_error;
 *   - filter plugins are never loaded; soft and external links are listed, never followed;
 *     datasets with external raw storage or virtual layouts are refused;
 *   - every dataset's rank, dims, dtype, chunk size, stored size and (contiguous) data extent are
 *     checked against our limits and the image size before any data is read;
 *   - what cannot be checked through its API (global-heap references inside variable-length
 *     strings, filter internals) is contained: the read runs first in a forked child (preflight).
 *
 * Layouts (what Keras writes; see fixtures/gen/make_hdf5_fixtures.py for the sources):
 *   - Keras 2 save_weights: root attribute `layer_names`, one group per layer with attribute
 *     `weight_names`, datasets at <layer>/<weight name>. Full models (model.save) put the same under
 *     `model_weights/` and optimizer state under `optimizer_weights/`. Hugging Face TF checkpoints
 *     (tf_model.h5) are save_weights files. Tensors are named by their weight name (the file path
 *     below the weights root when weight names repeat).
 *   - Keras 3 .weights.h5: `layers/<name>/vars/<i>` (nested layers repeat `layers/`), optimizer
 *     state under `optimizer/`. Tensors are named by their path.
 *   - anything else: every dataset, named by its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "qforge/readers.h"
#include "readers/hdf5/hdf5_internal.h"

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t obj_info;
#define OBJ_INFO_BY_NAME(loc, name, oi) H5Oget_info_by_name3((loc), (name), (oi), H5O_INFO_BASIC, H5P_DEFAULT)
#define OBJ_INFO(obj, oi) H5Oget_info3((obj), (oi), H5O_INFO_BASIC)
#else
typedef H5O_info_t obj_info;
#define OBJ_INFO_BY_NAME(loc, name, oi) H5Oget_info_by_name2((loc), (name), (oi), H5O_INFO_BASIC, H5P_DEFAULT)
#define OBJ_INFO(obj, oi) H5Oget_info2((obj), (oi), H5O_INFO_BASIC)
#endif

typedef enum ds_role { ROLE_NONE = 0, ROLE_TENSOR, ROLE_OPTIMIZER } ds_role;

typedef struct ds_entry {
    char *path;       /* below the root, "/"-separated, owned */
    int64_t header;   /* object header address (error offsets); -1 unknown */
    bool supported;   /* dtype has a qf equivalent */
    char type_text[48]; /* "f32" or what the file holds ("string", "u64", ...) */
    qf_dtype dtype;
    hid_t memtype;    /* predefined memory type for H5Dread; H5I_INVALID_HID: the file type in LE order */
    int32_t rank;
    int64_t shape[QF_MAX_RANK];
    uint64_t nbytes;  /* numel x qf dtype size */
    bool borrow;      /* bytes used in place at image + data_off */
    uint64_t data_off;
    ds_role role;
    const char *tensor_name; /* borrowed (path or a weight name of the name list) */
    size_t order;     /* Keras order (layer_names, weight_names) */
} ds_entry;

typedef struct str_list {
    char **items;
    size_t count, cap;
} str_list;

typedef struct h5r {
    const uint8_t *image;
    uint64_t size;
    uint64_t base;          /* superblock base address (user block size) */
    int sb_version;
    const char *part;
    qf_error *err;
    hid_t file;
    qf_status status;       /* first failure inside an iteration callback */
    uint64_t links;
    ds_entry *ds;
    size_t nds, cap;
    uint8_t (*seen)[16];    /* visited groups (open addressing, all-zero = empty) */
    size_t seen_cap, seen_count;
    char *skipped;          /* soft / external links, "; "-separated */
    size_t skipped_len;
    str_list names;         /* weight names kept for tensor naming */
} h5r;

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

typedef struct stack_text {
    char text[200];
} stack_text;

static herr_t stack_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_text *s = data;
    (void)n;
    if (e && e->desc && e->desc[0]) snprintf(s->text, sizeof s->text, "%s", e->desc); /* keep the deepest */
    return 0;
}

/* Records an error, adding libhdf5's deepest error description when its stack holds one. */
static qf_status fail(h5r *r, qf_status code, int64_t offset, const char *object, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static qf_status fail(h5r *r, qf_status code, int64_t offset, const char *object, const char *fmt, ...)
{
    char msg[QF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stack_text st = {""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, stack_walk, &st);
    H5Eclear2(H5E_DEFAULT);
    if (r->status == QF_STATUS_OK) r->status = code;
    qf_error_set(r->err, code, NULL, r->part, offset, object, "%s%s%s%s", msg, st.text[0] ? " (libhdf5: " : "",
                 st.text, st.text[0] ? ")" : "");
    return code;
}

static void limit_detail(h5r *r, uint64_t limit, uint64_t found)
{
    qf_error_expected(r->err, "<= %llu", (unsigned long long)limit);
    qf_error_found(r->err, "%llu", (unsigned long long)found);
}

/* Turns off libhdf5's printing and plugin loading; idempotent. */
static void library_setup(void)
{
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5PLset_loading_state(0);
}

/* ------------------------------------------------------------------------------------------ */
/* Superblock (checked by us before libhdf5 opens the image)                                  */

static uint64_t le_bytes(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static qf_status check_superblock(h5r *r)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    uint64_t sb = UINT64_MAX;
    for (uint64_t off = 0; off <= r->size && r->size - off >= 8; off = off ? off * 2 : 512)
        if (memcmp(r->image + off, sig, 8) == 0) {
            sb = off;
            break;
        }
    if (sb == UINT64_MAX)
        return fail(r, QF_STATUS_FORMAT, 0, "superblock", "no HDF5 signature at offset 0, 512, 1024, ...");
    const uint8_t *d = r->image + sb;
    uint64_t avail = r->size - sb;
    if (avail < 12) goto truncated;
    unsigned ver = d[8], osz, base_at;
    if (ver <= 1) {
        if (avail < 24) goto truncated;
        osz = d[13];
        base_at = ver == 0 ? 24 : 28;
    } else if (ver <= 3) {
        osz = d[9];
        base_at = 12;
    } else {
        fail(r, QF_STATUS_UNSUPPORTED, (int64_t)sb + 8, "superblock", "HDF5 superblock version %u", ver);
        qf_error_expected(r->err, "0..3");
        qf_error_found(r->err, "%u", ver);
        return QF_STATUS_UNSUPPORTED;
    }
    if (osz != 2 && osz != 4 && osz != 8) {
        fail(r, QF_STATUS_FORMAT, (int64_t)sb + (ver <= 1 ? 13 : 9), "superblock", "HDF5 size of offsets is %u", osz);
        qf_error_expected(r->err, "2, 4 or 8");
        qf_error_found(r->err, "%u", osz);
        return QF_STATUS_FORMAT;
    }
    /* base address, then (free-space | extension) address, then the end-of-file address */
    uint64_t eof_at = base_at + 2 * (uint64_t)osz;
    if (avail < eof_at + osz) goto truncated;
    uint64_t base = le_bytes(d + base_at, osz), eof = le_bytes(d + eof_at, osz), end = UINT64_MAX;
    if (!qf_add_u64(base, eof, &end) || end > r->size) {
        fail(r, QF_STATUS_TRUNCATED, (int64_t)r->size, "superblock",
             "HDF5 file is truncated: its superblock says it ends at byte %llu", (unsigned long long)end);
        qf_error_expected(r->err, "%llu bytes", (unsigned long long)end);
        qf_error_found(r->err, "%llu bytes", (unsigned long long)r->size);
        return QF_STATUS_TRUNCATED;
    }
    r->base = base;
    r->sb_version = (int)ver;
    return QF_STATUS_OK;
truncated:
    fail(r, QF_STATUS_TRUNCATED, (int64_t)r->size, "superblock", "HDF5 file is truncated inside its superblock");
    qf_error_found(r->err, "%llu bytes", (unsigned long long)r->size);
    return QF_STATUS_TRUNCATED;
}

/* ------------------------------------------------------------------------------------------ */
/* Object identity (visited groups) and header addresses                                      */

static void obj_key(const obj_info *oi, uint8_t key[16])
{
    memset(key, 0, 16);
#if H5_VERSION_GE(1, 12, 0)
    memcpy(key, &oi->token, sizeof oi->token < 16 ? sizeof oi->token : 16);
#else
    memcpy(key, &oi->addr, sizeof oi->addr);
#endif
    key[15] ^= 0x80; /* never all-zero (address 0 is the superblock) */
}

static int64_t obj_addr(h5r *r, const obj_info *oi)
{
#if H5_VERSION_GE(1, 12, 0)
    haddr_t a;
    if (H5VLnative_token_to_addr(r->file, oi->token, &a) < 0) return -1;
#else
    haddr_t a = oi->addr;
#endif
    if (a == HADDR_UNDEF || a > (haddr_t)INT64_MAX - r->base) return -1;
    return (int64_t)(a + r->base);
}

static uint64_t key_hash(const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++) h = (h ^ key[i]) * 1099511628211ull;
    return h;
}

/* True when the group was not seen before (and records it). */
static bool seen_insert(h5r *r, const uint8_t key[16], bool *oom)
{
    static const uint8_t zero[16];
    if ((r->seen_count + 1) * 2 > r->seen_cap) {
        size_t cap = r->seen_cap ? r->seen_cap * 2 : 64;
        uint8_t(*slots)[16] = calloc(cap, 16);
        if (!slots) {
            *oom = true;
            return false;
        }
        for (size_t i = 0; i < r->seen_cap; i++) {
            if (!memcmp(r->seen[i], zero, 16)) continue;
            size_t j = (size_t)key_hash(r->seen[i]) & (cap - 1);
            while (memcmp(slots[j], zero, 16)) j = (j + 1) & (cap - 1);
            memcpy(slots[j], r->seen[i], 16);
        }
        free(r->seen);
        r->seen = slots;
        r->seen_cap = cap;
    }
    size_t j = (size_t)key_hash(key) & (r->seen_cap - 1);
    while (memcmp(r->seen[j], zero, 16)) {
        if (!memcmp(r->seen[j], key, 16)) return false;
        j = (j + 1) & (r->seen_cap - 1);
    }
    memcpy(r->seen[j], key, 16);
    r->seen_count++;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Datasets                                                                                    */

static bool float_fields(hid_t t, size_t spos, size_t epos, size_t esize, size_t mpos, size_t msize, size_t ebias)
{
    size_t a, b, c, d, e;
    if (H5Tget_fields(t, &a, &b, &c, &d, &e) < 0) return false;
    return a == spos && b == epos && c == esize && d == mpos && e == msize && H5Tget_ebias(t) == ebias &&
           H5Tget_offset(t) == 0 && H5Tget_precision(t) == H5Tget_size(t) * 8;
}

/* Maps the file type to a qf dtype; *exact when the stored bytes already are that dtype in LE. */
static void map_type(hid_t t, ds_entry *e, bool *exact)
{
    *exact = false;
    e->supported = false;
    e->memtype = H5I_INVALID_HID;
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    bool le = H5Tget_order(t) == H5T_ORDER_LE;
    if (cls == H5T_FLOAT) {
        snprintf(e->type_text, sizeof e->type_text, "float%zu", size * 8);
        if (size == 4 && float_fields(t, 31, 23, 8, 0, 23, 127)) e->dtype = QF_DTYPE_F32, e->memtype = H5T_IEEE_F32LE;
        else if (size == 8 && float_fields(t, 63, 52, 11, 0, 52, 1023)) e->dtype = QF_DTYPE_F64, e->memtype = H5T_IEEE_F64LE;
        else if (size == 2 && float_fields(t, 15, 10, 5, 0, 10, 15)) e->dtype = QF_DTYPE_F16;
        else if (size == 2 && float_fields(t, 15, 7, 8, 0, 7, 127)) e->dtype = QF_DTYPE_BF16;
        else return;
        e->supported = true;
        *exact = le;
        return;
    }
    if (cls == H5T_INTEGER) {
        bool is_signed = H5Tget_sign(t) == H5T_SGN_2;
        snprintf(e->type_text, sizeof e->type_text, "%s%zu", is_signed ? "i" : "u", size * 8);
        bool plain = H5Tget_offset(t) == 0 && H5Tget_precision(t) == size * 8;
        bool same = plain && le;
        if (is_signed && size == 1) e->dtype = QF_DTYPE_I8, e->memtype = H5T_STD_I8LE;
        else if (!is_signed && size == 1) e->dtype = QF_DTYPE_U8, e->memtype = H5T_STD_U8LE;
        else if (is_signed && size == 2) e->dtype = QF_DTYPE_I16, e->memtype = H5T_STD_I16LE;
        else if (!is_signed && size == 2) e->dtype = QF_DTYPE_I32, e->memtype = H5T_STD_I32LE, same = false;
        else if (is_signed && size == 4) e->dtype = QF_DTYPE_I32, e->memtype = H5T_STD_I32LE;
        else if (!is_signed && size == 4) e->dtype = QF_DTYPE_I64, e->memtype = H5T_STD_I64LE, same = false;
        else if (is_signed && size == 8) e->dtype = QF_DTYPE_I64, e->memtype = H5T_STD_I64LE;
        else return;
        e->supported = true;
        *exact = same;
        return;
    }
    static const char *const names[] = {"integer", "float", "time", "string", "bitfield", "opaque",
                                        "compound", "reference", "enum", "vlen", "array"};
    snprintf(e->type_text, sizeof e->type_text, "%s", cls >= 0 && (int)cls < 11 ? names[cls] : "unknown type");
}

static bool filter_builtin(H5Z_filter_t id)
{
    return id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_FLETCHER32 ||
           id == H5Z_FILTER_SZIP || id == H5Z_FILTER_NBIT || id == H5Z_FILTER_SCALEOFFSET;
}

/* Checks one dataset completely (no data read) and fills `e`. */
static qf_status describe_dataset(h5r *r, hid_t did, ds_entry *e)
{
    const char *path = e->path;
    int64_t hdr = e->header;
    hid_t sid = H5Dget_space(did), tid = H5Dget_type(did), dcpl = H5Dget_create_plist(did);
    qf_status st = QF_STATUS_OK;
    if (sid < 0 || tid < 0 || dcpl < 0) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s': cannot read its dataspace, type or layout", path);
        goto done;
    }
    H5S_class_t scls = H5Sget_simple_extent_type(sid);
    if (scls != H5S_SCALAR && scls != H5S_SIMPLE) {
        st = fail(r, scls == H5S_NULL ? QF_STATUS_UNSUPPORTED : QF_STATUS_FORMAT, hdr, path,
                  "dataset '%s' has a %s dataspace", path, scls == H5S_NULL ? "null (empty)" : "malformed");
        goto done;
    }
    int nd = H5Sget_simple_extent_ndims(sid);
    if (nd < 0 || nd > H5S_MAX_RANK) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s': unreadable rank", path);
        goto done;
    }
    if (nd > QF_MAX_RANK) {
        st = fail(r, QF_STATUS_LIMIT, hdr, path, "dataset '%s' has rank %d", path, nd);
        limit_detail(r, QF_MAX_RANK, (uint64_t)nd);
        goto done;
    }
    hsize_t dims[H5S_MAX_RANK];
    if (nd > 0 && H5Sget_simple_extent_dims(sid, dims, NULL) != nd) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s': unreadable dimensions", path);
        goto done;
    }
    e->rank = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > (hsize_t)INT64_MAX || !qf_mul_u64(numel, dims[i], &numel)) {
            st = fail(r, QF_STATUS_OVERFLOW, hdr, path, "dataset '%s': element count overflows", path);
            goto done;
        }
        e->shape[i] = (int64_t)dims[i];
    }
    bool exact;
    map_type(tid, e, &exact);
    size_t fsize = H5Tget_size(tid);
    uint64_t file_bytes;
    if (fsize == 0 || !qf_mul_u64(numel, fsize, &file_bytes) ||
        (e->supported && !qf_mul_u64(numel, qf_dtype_size(e->dtype), &e->nbytes))) {
        st = fail(r, QF_STATUS_OVERFLOW, hdr, path, "dataset '%s': byte size overflows", path);
        goto done;
    }
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_VIRTUAL) {
        st = fail(r, QF_STATUS_FORBIDDEN, hdr, path, "dataset '%s' is a virtual dataset (it maps other files)", path);
        goto done;
    }
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s' has an unknown storage layout", path);
        goto done;
    }
    int ext = H5Pget_external_count(dcpl);
    if (ext != 0) {
        st = fail(r, QF_STATUS_FORBIDDEN, hdr, path, "dataset '%s' keeps its data in %d external file(s)", path, ext);
        goto done;
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s': unreadable filter pipeline", path);
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, cfg = 0;
        size_t nelm = 0;
        char fname[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelm, NULL, sizeof fname, fname, &cfg);
        if (id < 0 || !filter_builtin(id) || H5Zfilter_avail(id) <= 0) {
            st = fail(r, QF_STATUS_UNSUPPORTED, hdr, path,
                      "dataset '%s' uses filter %d (%s), which libhdf5 has not built in; plugins are never loaded", path,
                      (int)id, fname[0] ? fname : "unnamed");
            goto done;
        }
    }
    if (layout == H5D_CHUNKED) {
        hsize_t cdims[H5S_MAX_RANK];
        int cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, cdims);
        uint64_t cbytes = fsize;
        if (cr != nd) {
            st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s': chunk rank %d differs from rank %d", path, cr, nd);
            goto done;
        }
        for (int i = 0; i < cr; i++)
            if (!qf_mul_u64(cbytes, cdims[i], &cbytes)) cbytes = UINT64_MAX;
        if (cbytes > QF_HDF5_MAX_CHUNK_BYTES) {
            st = fail(r, QF_STATUS_LIMIT, hdr, path, "dataset '%s' has chunks of %llu bytes", path,
                      (unsigned long long)cbytes);
            limit_detail(r, QF_HDF5_MAX_CHUNK_BYTES, cbytes);
            goto done;
        }
    }
    uint64_t stored = H5Dget_storage_size(did);
    H5Eclear2(H5E_DEFAULT);
    if (stored > r->size) {
        st = fail(r, QF_STATUS_FORMAT, hdr, path, "dataset '%s' claims %llu stored bytes in a %llu-byte file", path,
                  (unsigned long long)stored, (unsigned long long)r->size);
        goto done;
    }
    if (stored < file_bytes) {
        uint64_t floor = stored > QF_HDF5_MAX_UNSTORED ? stored : QF_HDF5_MAX_UNSTORED, cap;
        if (!qf_mul_u64(floor, QF_HDF5_MAX_RATIO, &cap)) cap = UINT64_MAX;
        if (file_bytes > cap) {
            st = fail(r, QF_STATUS_LIMIT, hdr, path, "dataset '%s' expands %llu stored bytes to %llu", path,
                      (unsigned long long)stored, (unsigned long long)file_bytes);
            qf_error_expected(r->err, "<= %u x max(stored, %u) bytes", QF_HDF5_MAX_RATIO, QF_HDF5_MAX_UNSTORED);
            qf_error_found(r->err, "%llu bytes", (unsigned long long)file_bytes);
            goto done;
        }
    }
    e->borrow = false;
    if (layout == H5D_CONTIGUOUS) {
        haddr_t addr = H5Dget_offset(did);
        H5Eclear2(H5E_DEFAULT);
        if (addr != HADDR_UNDEF) {
            uint64_t abs;
            if (!qf_add_u64(r->base, addr, &abs) || !qf_range_within(abs, file_bytes, r->size)) {
                st = fail(r, QF_STATUS_FORMAT, hdr, path, "data of dataset '%s' lies outside the file", path);
                qf_error_expected(r->err, "%llu bytes within %llu", (unsigned long long)file_bytes,
                                  (unsigned long long)r->size);
                qf_error_found(r->err, "at offset %llu", (unsigned long long)addr);
                goto done;
            }
            if (stored != file_bytes) {
                st = fail(r, QF_STATUS_FORMAT, hdr, path, "contiguous dataset '%s' stores %llu bytes for %llu", path,
                          (unsigned long long)stored, (unsigned long long)file_bytes);
                goto done;
            }
            uintptr_t p = (uintptr_t)(r->image + abs);
            if (exact && e->supported && p % qf_dtype_size(e->dtype) == 0) {
                e->borrow = true;
                e->data_off = abs;
            }
        }
    }
done:
    if (sid >= 0) H5Sclose(sid);
    if (tid >= 0) H5Tclose(tid);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Walk                                                                                        */

typedef struct walk_ctx {
    h5r *r;
    const char *prefix; /* "" at the root, else "a/b/" */
    int depth;
} walk_ctx;

static qf_status walk_group(h5r *r, hid_t gid, const char *prefix, int depth);

static qf_status add_skipped(h5r *r, const char *path, const char *what)
{
    size_t need = strlen(path) + strlen(what) + 5;
    if (r->skipped_len + need > QF_HDF5_MAX_LISTING) return QF_STATUS_OK; /* the listing is cut, not the read */
    char *p = realloc(r->skipped, r->skipped_len + need + 1);
    if (!p) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    r->skipped = p;
    r->skipped_len += (size_t)sprintf(p + r->skipped_len, "%s%s (%s)", r->skipped_len ? "; " : "", path, what);
    return QF_STATUS_OK;
}

static herr_t link_cb(hid_t gid, const char *name, const H5L_info_t *info, void *data)
{
    walk_ctx *c = data;
    h5r *r = c->r;
    if (++r->links > QF_HDF5_MAX_OBJECTS) {
        fail(r, QF_STATUS_LIMIT, -1, name, "HDF5 file has more than %u links", QF_HDF5_MAX_OBJECTS);
        limit_detail(r, QF_HDF5_MAX_OBJECTS, r->links);
        return -1;
    }
    size_t plen = strlen(c->prefix), nlen = strlen(name);
    if (nlen == 0 || plen + nlen > QF_MAX_NAME_LEN) {
        fail(r, nlen ? QF_STATUS_LIMIT : QF_STATUS_FORMAT, -1, c->prefix, "HDF5 link name of %zu bytes below '%s'",
             nlen, c->prefix);
        if (nlen) limit_detail(r, QF_MAX_NAME_LEN, plen + nlen);
        return -1;
    }
    char path[QF_MAX_NAME_LEN + 2];
    memcpy(path, c->prefix, plen);
    memcpy(path + plen, name, nlen + 1);
    if (info->type != H5L_TYPE_HARD) {
        const char *what = info->type == H5L_TYPE_SOFT ? "soft link, not followed"
                           : info->type == H5L_TYPE_EXTERNAL ? "external link, not followed"
                                                            : "user-defined link, not followed";
        return add_skipped(r, path, what) ? -1 : 0;
    }
    obj_info oi;
    if (OBJ_INFO_BY_NAME(gid, name, &oi) < 0) {
        fail(r, QF_STATUS_FORMAT, -1, path, "HDF5 object '%s' cannot be read", path);
        return -1;
    }
    int64_t hdr = obj_addr(r, &oi);
    if (oi.type == H5O_TYPE_GROUP) {
        uint8_t key[16];
        bool oom = false;
        obj_key(&oi, key);
        if (!seen_insert(r, key, &oom)) {
            if (oom) {
                fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
                return -1;
            }
            return add_skipped(r, path, "group reached twice, listed once") ? -1 : 0;
        }
        if (c->depth + 1 > QF_HDF5_MAX_DEPTH) {
            fail(r, QF_STATUS_LIMIT, hdr, path, "HDF5 groups nest deeper than %d levels at '%s'", QF_HDF5_MAX_DEPTH,
                 path);
            limit_detail(r, QF_HDF5_MAX_DEPTH, (uint64_t)c->depth + 1);
            return -1;
        }
        hid_t sub = H5Gopen2(gid, name, H5P_DEFAULT);
        if (sub < 0) {
            fail(r, QF_STATUS_FORMAT, hdr, path, "HDF5 group '%s' cannot be opened", path);
            return -1;
        }
        char sub_prefix[sizeof path + 1];
        memcpy(sub_prefix, path, plen + nlen);
        memcpy(sub_prefix + plen + nlen, "/", 2);
        qf_status st = walk_group(r, sub, sub_prefix, c->depth + 1);
        H5Gclose(sub);
        return st ? -1 : 0;
    }
    if (oi.type != H5O_TYPE_DATASET) return 0; /* named datatypes hold no data */
    if (r->nds == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        ds_entry *p = realloc(r->ds, cap * sizeof *p);
        if (!p) {
            fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
            return -1;
        }
        r->ds = p;
        r->cap = cap;
    }
    ds_entry *e = &r->ds[r->nds];
    memset(e, 0, sizeof *e);
    e->header = hdr;
    if (!(e->path = strdup(path))) {
        fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
        return -1;
    }
    r->nds++;
    hid_t did = H5Dopen2(gid, name, H5P_DEFAULT);
    if (did < 0) {
        fail(r, QF_STATUS_FORMAT, hdr, path, "HDF5 dataset '%s' cannot be opened", path);
        return -1;
    }
    qf_status st = describe_dataset(r, did, e);
    H5Dclose(did);
    return st ? -1 : 0;
}

static qf_status walk_group(h5r *r, hid_t gid, const char *prefix, int depth)
{
    walk_ctx c = {r, prefix, depth};
    hsize_t idx = 0;
    herr_t rc = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, link_cb, &c);
    if (rc < 0) {
        if (r->status) return r->status;
        return fail(r, QF_STATUS_FORMAT, -1, prefix[0] ? prefix : "/", "HDF5 group '%s' cannot be listed",
                    prefix[0] ? prefix : "/");
    }
    return QF_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* String attributes                                                                           */

static void str_list_free(str_list *l)
{
    for (size_t i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

static qf_status str_list_push(h5r *r, str_list *l, const char *s, size_t n)
{
    if (l->count == l->cap) { /* geometric: a 65536-name attribute must not cost 65536 copies */
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->items, cap * sizeof *p);
        if (!p) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
        l->items = p;
        l->cap = cap;
    }
    char **p = l->items;
    if (!(p[l->count] = strndup(s, n))) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    l->count++;
    return QF_STATUS_OK;
}

/* Appends the strings of attribute `name` of `obj` (scalar or 1-D, fixed or variable length). */
static qf_status read_attr_strings(h5r *r, hid_t obj, const char *where, int64_t hdr, const char *name, str_list *out)
{
    hid_t aid = H5Aopen(obj, name, H5P_DEFAULT);
    if (aid < 0) return fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' cannot be opened", name, where);
    hid_t tid = H5Aget_type(aid), sid = H5Aget_space(aid), mem = H5I_INVALID_HID;
    qf_status st = QF_STATUS_OK;
    void *buf = NULL;
    hssize_t n = sid >= 0 ? H5Sget_simple_extent_npoints(sid) : -1;
    hsize_t stored = H5Aget_storage_size(aid);
    H5T_class_t cls = tid >= 0 ? H5Tget_class(tid) : H5T_NO_CLASS;
    if (tid < 0 || n < 0) {
        st = fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' is unreadable", name, where);
        goto done;
    }
    if (stored > QF_HDF5_MAX_ATTR_BYTES) {
        st = fail(r, QF_STATUS_LIMIT, hdr, name, "attribute '%s' of '%s' stores %llu bytes", name, where,
                  (unsigned long long)stored);
        limit_detail(r, QF_HDF5_MAX_ATTR_BYTES, stored);
        goto done;
    }
    if ((uint64_t)n + out->count > QF_HDF5_MAX_ATTR_STRINGS) {
        st = fail(r, QF_STATUS_LIMIT, hdr, name, "attribute '%s' of '%s' holds %lld strings", name, where, (long long)n);
        limit_detail(r, QF_HDF5_MAX_ATTR_STRINGS, (uint64_t)n + out->count);
        goto done;
    }
    if (n == 0) goto done; /* h5py writes an empty list as an empty float64 array */
    if (cls != H5T_STRING) {
        st = fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' is not a string attribute", name, where);
        goto done;
    }
    htri_t var = H5Tis_variable_str(tid);
    if (var < 0) {
        st = fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' has a malformed string type", name, where);
        goto done;
    }
    if (var) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Tset_cset(mem, H5Tget_cset(tid)) < 0 ||
            !(buf = calloc((size_t)n, sizeof(char *)))) {
            st = fail(r, QF_STATUS_NO_MEMORY, hdr, name, "out of memory");
            goto done;
        }
        if (H5Aread(aid, mem, buf) < 0) {
            st = fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' cannot be read", name, where);
            free(buf); /* libhdf5 frees what it allocated on failure */
            buf = NULL;
            goto done;
        }
        char **s = buf;
        for (hssize_t i = 0; i < n && !st; i++) {
            size_t len = s[i] ? strlen(s[i]) : 0;
            if (len > QF_HDF5_MAX_ATTR_BYTES) {
                st = fail(r, QF_STATUS_LIMIT, hdr, name, "a string of attribute '%s' of '%s' has %zu bytes", name, where,
                          len);
                limit_detail(r, QF_HDF5_MAX_ATTR_BYTES, len);
            } else {
                st = str_list_push(r, out, s[i] ? s[i] : "", len);
            }
        }
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mem, sid, H5P_DEFAULT, buf);
#else
        H5Dvlen_reclaim(mem, sid, H5P_DEFAULT, buf);
#endif
        free(buf);
        buf = NULL;
    } else {
        size_t len = H5Tget_size(tid);
        uint64_t total;
        if (len == 0 || !qf_mul_u64((uint64_t)n, len, &total) || total > QF_HDF5_MAX_ATTR_BYTES) {
            st = fail(r, QF_STATUS_LIMIT, hdr, name, "attribute '%s' of '%s' is too large", name, where);
            qf_error_expected(r->err, "<= %u bytes", QF_HDF5_MAX_ATTR_BYTES);
            goto done;
        }
        mem = H5Tcopy(tid);
        if (mem < 0 || !(buf = malloc((size_t)total))) {
            st = fail(r, QF_STATUS_NO_MEMORY, hdr, name, "out of memory");
            goto done;
        }
        if (H5Aread(aid, mem, buf) < 0) {
            st = fail(r, QF_STATUS_FORMAT, hdr, name, "attribute '%s' of '%s' cannot be read", name, where);
            goto done;
        }
        for (hssize_t i = 0; i < n && !st; i++) {
            const char *s = (const char *)buf + (size_t)i * len;
            st = str_list_push(r, out, s, strnlen(s, len));
        }
    }
done:
    free(buf);
    if (mem >= 0) H5Tclose(mem);
    if (sid >= 0) H5Sclose(sid);
    if (tid >= 0) H5Tclose(tid);
    H5Aclose(aid);
    return st;
}

/*
 * Reads string-list attribute `name`, or Keras's split form name0, name1, ... (written when the
 * list exceeds the 64 KiB object-header limit). *present is false when neither exists.
 */
static qf_status read_string_list(h5r *r, hid_t obj, const char *where, int64_t hdr, const char *name, str_list *out,
                                  bool *present)
{
    *present = false;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return fail(r, QF_STATUS_FORMAT, hdr, name, "attributes of '%s' cannot be read", where);
    if (ex) {
        *present = true;
        return read_attr_strings(r, obj, where, hdr, name, out);
    }
    for (int k = 0; k < QF_HDF5_MAX_ATTR_CHUNKS + 1; k++) {
        char piece[80];
        snprintf(piece, sizeof piece, "%s%d", name, k);
        ex = H5Aexists(obj, piece);
        if (ex < 0) return fail(r, QF_STATUS_FORMAT, hdr, piece, "attributes of '%s' cannot be read", where);
        if (!ex) return QF_STATUS_OK;
        if (k == QF_HDF5_MAX_ATTR_CHUNKS) {
            fail(r, QF_STATUS_LIMIT, hdr, piece, "attribute '%s' of '%s' is split into more than %d pieces", name, where,
                 QF_HDF5_MAX_ATTR_CHUNKS);
            limit_detail(r, QF_HDF5_MAX_ATTR_CHUNKS, (uint64_t)k + 1);
            return QF_STATUS_LIMIT;
        }
        *present = true;
        qf_status st = read_attr_strings(r, obj, where, hdr, piece, out);
        if (st) return st;
    }
    return QF_STATUS_OK;
}

/* A scalar string attribute into metadata `key` (absent: nothing). */
static qf_status attr_to_meta(h5r *r, qf_model *m, hid_t obj, const char *attr, const char *key)
{
    htri_t ex = H5Aexists(obj, attr);
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return QF_STATUS_OK;
    }
    str_list l = {0};
    qf_status st = read_attr_strings(r, obj, "/", -1, attr, &l);
    if (!st && l.count == 1 && strlen(l.items[0]) <= QF_HDF5_MAX_LISTING) st = qf_model_set_meta(m, key, l.items[0], r->err);
    str_list_free(&l);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Layouts                                                                                     */

static int by_path(const void *a, const void *b)
{
    return strcmp((*(const ds_entry *const *)a)->path, (*(const ds_entry *const *)b)->path);
}

static ds_entry *find_path(ds_entry **sorted, size_t n, const char *path)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->path, path);
        if (c == 0) return sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* Keras 2: layer_names / weight_names under `root` ("" = the file root). */
static qf_status layout_keras2(h5r *r, qf_model *m, const char *root, ds_entry **sorted)
{
    hid_t wg = root[0] ? H5Gopen2(r->file, root, H5P_DEFAULT) : H5Gopen2(r->file, "/", H5P_DEFAULT);
    if (wg < 0) return fail(r, QF_STATUS_FORMAT, -1, root, "HDF5 group '%s' cannot be opened", root);
    str_list layers = {0};
    bool present;
    obj_info oi;
    int64_t whdr = OBJ_INFO(wg, &oi) >= 0 ? obj_addr(r, &oi) : -1;
    qf_status st = read_string_list(r, wg, root[0] ? root : "/", whdr, "layer_names", &layers, &present);
    if (!st) st = attr_to_meta(r, m, wg, "keras_version", "keras.version");
    if (!st) st = attr_to_meta(r, m, wg, "backend", "keras.backend");
    size_t order = 0;
    for (size_t i = 0; !st && i < layers.count; i++) {
        const char *ln = layers.items[i];
        char lpath[QF_MAX_NAME_LEN + 2];
        if (!ln[0] || strchr(ln, '/') || strcmp(ln, ".") == 0 ||
            (size_t)snprintf(lpath, sizeof lpath, "%s%s%s", root, root[0] ? "/" : "", ln) >= sizeof lpath) {
            st = fail(r, QF_STATUS_FORMAT, whdr, ln, "layer_names entry '%s' is not a group name", ln);
            break;
        }
        htri_t ex = H5Lexists(wg, ln, H5P_DEFAULT);
        hid_t lg = ex > 0 ? H5Gopen2(wg, ln, H5P_DEFAULT) : H5I_INVALID_HID;
        if (lg < 0) {
            st = fail(r, QF_STATUS_FORMAT, whdr, lpath, "layer_names lists '%s' but '%s' is not a group", ln, lpath);
            break;
        }
        int64_t lhdr = OBJ_INFO(lg, &oi) >= 0 ? obj_addr(r, &oi) : -1;
        size_t first = r->names.count;
        bool wp;
        st = read_string_list(r, lg, lpath, lhdr, "weight_names", &r->names, &wp);
        H5Gclose(lg);
        for (size_t k = first; !st && k < r->names.count; k++) {
            const char *wn = r->names.items[k];
            char dpath[2 * QF_MAX_NAME_LEN + 4];
            snprintf(dpath, sizeof dpath, "%s/%s", lpath, wn);
            ds_entry *e = find_path(sorted, r->nds, dpath);
            if (!e) {
                st = fail(r, QF_STATUS_FORMAT, lhdr, dpath, "layer '%s' lists weight '%s' but the file has no dataset '%s'",
                          ln, wn, dpath);
                break;
            }
            if (e->role == ROLE_TENSOR) {
                st = fail(r, QF_STATUS_DUPLICATE, lhdr, dpath, "weight '%s' is listed twice", dpath);
                break;
            }
            e->role = ROLE_TENSOR;
            e->tensor_name = wn;
            e->order = order++;
        }
    }
    str_list_free(&layers);
    H5Gclose(wg);
    if (st) return st;
    /* Keras names weights by their weight name; when two layers repeat one, the path below the root does. */
    ds_entry **tensors = malloc((r->nds ? r->nds : 1) * sizeof *tensors);
    if (!tensors) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    size_t nt = 0;
    for (size_t i = 0; i < r->nds; i++)
        if (r->ds[i].role == ROLE_TENSOR) tensors[nt++] = &r->ds[i];
    bool unique = true;
    for (size_t i = 0; i < nt && unique; i++)
        for (size_t j = i + 1; j < nt && unique; j++)
            if (strcmp(tensors[i]->tensor_name, tensors[j]->tensor_name) == 0) unique = false;
    if (!unique)
        for (size_t i = 0; i < nt; i++) tensors[i]->tensor_name = tensors[i]->path + (root[0] ? strlen(root) + 1 : 0);
    free(tensors);
    for (size_t i = 0; i < r->nds; i++)
        if (r->ds[i].role == ROLE_NONE && under(r->ds[i].path, "optimizer_weights")) r->ds[i].role = ROLE_OPTIMIZER;
    return QF_STATUS_OK;
}

/* Natural order: digit runs compare as numbers ("vars/2" before "vars/10"). */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *ea = a, *eb = b;
            while (*a == '0') a++;
            while (*b == '0') b++;
            while (*ea >= '0' && *ea <= '9') ea++;
            while (*eb >= '0' && *eb <= '9') eb++;
            if (ea - a != eb - b) return ea - a < eb - b ? -1 : 1;
            int c = strncmp(a, b, (size_t)(ea - a));
            if (c) return c;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int by_order(const void *a, const void *b)
{
    const ds_entry *x = *(const ds_entry *const *)a, *y = *(const ds_entry *const *)b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    return natural_cmp(x->path, y->path);
}

static int by_natural_path(const void *a, const void *b)
{
    return natural_cmp((*(const ds_entry *const *)a)->path, (*(const ds_entry *const *)b)->path);
}

/* Metadata listing "N datasets, B bytes: name type[shape]; ..." cut at QF_HDF5_MAX_LISTING. */
static qf_status listing_meta(h5r *r, qf_model *m, const char *key, ds_entry **list, size_t n)
{
    if (n == 0) return QF_STATUS_OK;
    char *buf = malloc(QF_HDF5_MAX_LISTING + 1);
    if (!buf) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (!qf_add_u64(bytes, list[i]->nbytes, &bytes)) bytes = UINT64_MAX;
    size_t used = (size_t)snprintf(buf, QF_HDF5_MAX_LISTING, "%zu datasets, %llu bytes:", n, (unsigned long long)bytes);
    for (size_t i = 0; i < n; i++) {
        char item[QF_MAX_NAME_LEN + 256];
        int w = snprintf(item, sizeof item, "%s%s %s[", i ? "; " : " ", list[i]->path,
                         list[i]->supported ? qf_dtype_name(list[i]->dtype) : list[i]->type_text);
        for (int32_t d = 0; d < list[i]->rank && w > 0 && (size_t)w < sizeof item; d++)
            w += snprintf(item + w, sizeof item - (size_t)w, "%s%lld", d ? "," : "", (long long)list[i]->shape[d]);
        if (w > 0 && (size_t)w < sizeof item - 1) item[w++] = ']', item[w] = '\0';
        size_t len = strlen(item);
        if (used + 1 + len + 4 > QF_HDF5_MAX_LISTING) {
            used += (size_t)snprintf(buf + used, QF_HDF5_MAX_LISTING + 1 - used, " ...");
            break;
        }
        memcpy(buf + used, item, len + 1);
        used += len;
    }
    qf_status st = qf_model_set_meta(m, key, buf, r->err);
    free(buf);
    return st;
}

/* Classifies every dataset, then adds the tensors (validation of all of them came first). */
static qf_status build_model(h5r *r, qf_model *m)
{
    ds_entry **sorted = malloc((r->nds ? r->nds : 1) * sizeof *sorted);
    if (!sorted) return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    for (size_t i = 0; i < r->nds; i++) sorted[i] = &r->ds[i];
    qsort(sorted, r->nds, sizeof *sorted, by_path);
    qf_status st = QF_STATUS_OK;
    const char *layout;
    hid_t root = H5Gopen2(r->file, "/", H5P_DEFAULT);
    htri_t at_root = root >= 0 ? H5Aexists(root, "layer_names") : -1;
    if (at_root == 0) at_root = H5Aexists(root, "layer_names0");
    htri_t full = 0;
    if (root >= 0 && at_root == 0 && H5Lexists(root, "model_weights", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(root, "model_weights", H5P_DEFAULT);
        full = g >= 0 ? H5Aexists(g, "layer_names") : -1;
        if (full == 0) full = H5Aexists(g, "layer_names0");
        if (g >= 0) H5Gclose(g);
    }
    H5Eclear2(H5E_DEFAULT);
    if (root < 0 || at_root < 0 || full < 0) {
        if (root >= 0) H5Gclose(root);
        free(sorted);
        return fail(r, QF_STATUS_FORMAT, -1, "/", "the HDF5 root group cannot be read");
    }
    if (at_root > 0 || full > 0) {
        layout = at_root > 0 ? "keras2-weights" : "keras2-full-model";
        if (full > 0) st = attr_to_meta(r, m, root, "keras_version", "keras.version");
        if (full > 0 && !st) st = attr_to_meta(r, m, root, "backend", "keras.backend");
        if (!st) st = layout_keras2(r, m, at_root > 0 ? "" : "model_weights", sorted);
    } else {
        bool keras3 = false;
        for (size_t i = 0; i < r->nds && !keras3; i++)
            keras3 = under(r->ds[i].path, "layers") || under(r->ds[i].path, "vars");
        layout = keras3 ? "keras3-weights" : "hdf5";
        for (size_t i = 0; i < r->nds; i++) {
            r->ds[i].role = keras3 && under(r->ds[i].path, "optimizer") ? ROLE_OPTIMIZER : ROLE_TENSOR;
            r->ds[i].tensor_name = r->ds[i].path;
            r->ds[i].order = keras3 ? 0 : i;
        }
    }
    H5Gclose(root);
    if (!st) st = qf_model_set_meta(m, "keras.layout", layout, r->err);
    if (st) {
        free(sorted);
        return st;
    }
    /* tensors in Keras order; the optimizer and unreferenced datasets listed */
    size_t nt = 0, no = 0, nu = 0;
    ds_entry **tensors = sorted; /* reused: filled below in order */
    ds_entry **opt = malloc((r->nds ? r->nds : 1) * sizeof *opt), **unref = malloc((r->nds ? r->nds : 1) * sizeof *unref);
    if (!opt || !unref) {
        free(opt);
        free(unref);
        free(sorted);
        return fail(r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory");
    }
    for (size_t i = 0; i < r->nds; i++) {
        ds_entry *e = &r->ds[i];
        if (e->role == ROLE_TENSOR) tensors[nt++] = e;
        else if (e->role == ROLE_OPTIMIZER) opt[no++] = e;
        else unref[nu++] = e;
    }
    qsort(tensors, nt, sizeof *tensors, by_order);
    qsort(opt, no, sizeof *opt, by_natural_path);
    uint64_t copied = 0;
    for (size_t i = 0; i < nt && !st; i++) {
        ds_entry *e = tensors[i];
        if (!e->supported) {
            st = fail(r, QF_STATUS_UNSUPPORTED, e->header, e->path, "weight '%s' has type %s, which has no qforge dtype",
                      e->path, e->type_text);
            qf_error_expected(r->err, "float16/32/64, bfloat16, int8/16/32/64, uint8/16/32");
            qf_error_found(r->err, "%s", e->type_text);
        } else if (!e->borrow && (!qf_add_u64(copied, e->nbytes, &copied) || copied > QF_HDF5_MAX_COPIED)) {
            st = fail(r, QF_STATUS_LIMIT, e->header, e->path, "decoding weight '%s' passes %llu bytes in total", e->path,
                      (unsigned long long)QF_HDF5_MAX_COPIED);
            limit_detail(r, QF_HDF5_MAX_COPIED, copied);
        }
    }
    if (!st) st = listing_meta(r, m, "keras.optimizer_weights", opt, no);
    if (!st) st = listing_meta(r, m, "keras.unreferenced", unref, nu);
    if (!st && r->skipped) st = qf_model_set_meta(m, "hdf5.skipped_links", r->skipped, r->err);
    for (size_t i = 0; i < nt && !st; i++) {
        ds_entry *e = tensors[i];
        const void *data = NULL;
        if (e->borrow) {
            data = r->image + e->data_off;
        } else if (e->nbytes > 0) {
            void *buf = NULL;
            if ((st = qf_model_alloc(m, e->nbytes, &buf, r->err))) break;
            hid_t did = H5Dopen2(r->file, e->path, H5P_DEFAULT);
            hid_t ftype = did >= 0 ? H5Dget_type(did) : H5I_INVALID_HID;
            hid_t mem = e->memtype;
            if (mem == H5I_INVALID_HID && ftype >= 0) { /* f16 / bf16: the file's layout, little-endian */
                mem = H5Tcopy(ftype);
                if (mem >= 0 && H5Tset_order(mem, H5T_ORDER_LE) < 0) {
                    H5Tclose(mem);
                    mem = H5I_INVALID_HID;
                }
            }
            herr_t rc = did >= 0 && mem >= 0 ? H5Dread(did, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : -1;
            if (rc < 0)
                st = fail(r, QF_STATUS_FORMAT, e->header, e->path, "data of dataset '%s' cannot be decoded", e->path);
            if (mem >= 0 && mem != e->memtype) H5Tclose(mem);
            if (ftype >= 0) H5Tclose(ftype);
            if (did >= 0) H5Dclose(did);
            if (st) break;
            data = buf;
        }
        st = qf_model_add_tensor(m, e->tensor_name, e->tensor_name, e->dtype, e->rank, e->shape, data, e->nbytes, NULL,
                                 r->err);
    }
    free(opt);
    free(unref);
    free(sorted);
    return st;
}

/*
 * File-image callbacks that hand libhdf5 our buffer for every operation: no copy, no free, no
 * allocation (H5LTopen_file_image's own callbacks leak their user data on every open in 1.10).
 * The image is read-only; any request to grow it fails.
 */
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)size;
    (void)op;
    return udata ? (void *)(uintptr_t)((h5r *)udata)->image : NULL;
}
static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)size;
    (void)op;
    (void)udata;
    return dest == src ? dest : NULL;
}
static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr;
    (void)size;
    (void)op;
    (void)udata;
    return NULL;
}
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr;
    (void)op;
    (void)udata;
    return 0;
}
static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static hid_t open_image(h5r *r)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return H5I_INVALID_HID;
    H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free,
                                      udata_copy,   udata_free,   r};
    hid_t file = H5I_INVALID_HID;
    if (H5Pset_fapl_core(fapl, 65536, 0) >= 0 && H5Pset_file_image_callbacks(fapl, &cb) >= 0 &&
        H5Pset_file_image(fapl, (void *)(uintptr_t)r->image, (size_t)r->size) >= 0)
        file = H5Fopen("qforge-image", H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return file;
}

/* Closes whatever is still open in the file so that the image is released with it. */
static void close_file(hid_t file)
{
    ssize_t n = H5Fget_obj_count(file, H5F_OBJ_ALL | H5F_OBJ_LOCAL);
    if (n > 1) {
        hid_t *ids = malloc((size_t)n * sizeof *ids);
        if (ids) {
            ssize_t got = H5Fget_obj_ids(file, H5F_OBJ_ALL | H5F_OBJ_LOCAL, (size_t)n, ids);
            for (ssize_t i = 0; i < got; i++) {
                if (ids[i] == file) continue;
                switch (H5Iget_type(ids[i])) {
                case H5I_GROUP: H5Gclose(ids[i]); break;
                case H5I_DATASET: H5Dclose(ids[i]); break;
                case H5I_ATTR: H5Aclose(ids[i]); break;
                case H5I_DATATYPE: H5Tclose(ids[i]); break;
                default: break;
                }
            }
            free(ids);
        }
    }
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
}

static qf_status read_image(qf_model *m, const uint8_t *image, uint64_t size, const char *part, qf_error *err)
{
    library_setup();
    h5r r;
    memset(&r, 0, sizeof r);
    r.image = image;
    r.size = size;
    r.part = part && part[0] ? part : NULL;
    r.err = err;
    r.file = H5I_INVALID_HID;
    qf_status st = check_superblock(&r);
    if (st) return st;
    if (size > (uint64_t)SIZE_MAX) return fail(&r, QF_STATUS_LIMIT, 0, NULL, "HDF5 image too large");
    /* read-only, no copy, not released by libhdf5: the image is our mapping (or model memory) */
    r.file = open_image(&r);
    if (r.file < 0) return fail(&r, QF_STATUS_FORMAT, (int64_t)r.base, "superblock", "libhdf5 cannot open the file");
    hid_t root = H5Gopen2(r.file, "/", H5P_DEFAULT);
    obj_info oi;
    if (root < 0 || OBJ_INFO(root, &oi) < 0) {
        st = fail(&r, QF_STATUS_FORMAT, (int64_t)r.base, "/", "the HDF5 root group cannot be opened");
    } else {
        uint8_t key[16];
        bool oom = false;
        obj_key(&oi, key);
        seen_insert(&r, key, &oom);
        st = oom ? fail(&r, QF_STATUS_NO_MEMORY, -1, NULL, "out of memory") : walk_group(&r, root, "", 0);
    }
    if (root >= 0) H5Gclose(root);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", r.sb_version);
    if (!st) st = qf_model_set_meta(m, "hdf5.superblock_version", ver, err);
    if (!st) st = build_model(&r, m);
    close_file(r.file);
    for (size_t i = 0; i < r.nds; i++) free(r.ds[i].path);
    free(r.ds);
    free(r.seen);
    free(r.skipped);
    str_list_free(&r.names); /* tensor names were copied by the model */
    return st;
}

/*
 * libhdf5 crashes on some corrupted metadata that no public call lets us check first (a global-heap
 * object index inside a variable-length string, for one). So the whole read runs once in a forked
 * child with stderr sent to /dev/null; only when the child finishes does the same read run here.
 * A child that dies yields a FORMAT error instead of a crashed caller. The child calls malloc: no
 * other thread of qforge's may run while it forks (qf_model_read_file hashes HDF5 and .keras
 * sources after the read, not beside it).
 */
typedef struct preflight_result {
    qf_status status;
    qf_error err;
} preflight_result;

static qf_status preflight(const uint8_t *image, uint64_t size, const char *part, qf_error *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return qf_error_set(err, QF_STATUS_IO, NULL, part && part[0] ? part : NULL, -1, NULL,
                            "cannot create a pipe for the HDF5 pre-check");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return qf_error_set(err, QF_STATUS_IO, NULL, part && part[0] ? part : NULL, -1, NULL,
                            "cannot fork the HDF5 pre-check");
    }
    if (pid == 0) {
        close(fds[0]);
        /* a crash must end the child: no inherited handler (a test harness, a sanitizer) may resume it */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
        /* libhdf5 loops forever on some corruptions: CPU time ends the child (SIGXCPU / SIGKILL) */
        struct rlimit cpu;
        cpu.rlim_cur = (rlim_t)(QF_HDF5_CPU_SECONDS + size / QF_HDF5_CPU_BYTES_PER_SECOND);
        cpu.rlim_max = cpu.rlim_cur + 1;
        setrlimit(RLIMIT_CPU, &cpu);
        int null_fd = open("/dev/null", O_WRONLY);
        if (null_fd >= 0) dup2(null_fd, 2);
        preflight_result res;
        memset(&res, 0, sizeof res);
        if (err) res.err = *err;
        qf_model *m = NULL;
        res.status = qf_model_create(&m, &res.err);
        if (!res.status) res.status = read_image(m, image, size, part, &res.err);
        const uint8_t *p = (const uint8_t *)&res;
        size_t left = sizeof res;
        while (left > 0) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0) break;
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    preflight_result res;
    size_t got = 0;
    while (got < sizeof res) {
        ssize_t n = read(fds[0], (uint8_t *)&res + got, sizeof res - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof res && WIFSIGNALED(wstatus) && (WTERMSIG(wstatus) == SIGXCPU || WTERMSIG(wstatus) == SIGKILL)) {
        uint64_t secs = QF_HDF5_CPU_SECONDS + size / QF_HDF5_CPU_BYTES_PER_SECOND;
        qf_error_set(err, QF_STATUS_LIMIT, NULL, part && part[0] ? part : NULL, -1, NULL,
                     "libhdf5 did not finish this file within %llu CPU seconds in the isolated pre-check (corrupt "
                     "metadata makes it loop)",
                     (unsigned long long)secs);
        qf_error_expected(err, "<= %llu CPU seconds", (unsigned long long)secs);
        qf_error_found(err, "still running at the limit");
        return QF_STATUS_LIMIT;
    }
    if (got != sizeof res) {
        qf_error_set(err, QF_STATUS_FORMAT, NULL, part && part[0] ? part : NULL, -1, NULL,
                     "libhdf5 crashed on this file in the isolated pre-check (%s %d): corrupt or hostile metadata",
                     WIFSIGNALED(wstatus) ? "signal" : "exit status",
                     WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
        return QF_STATUS_FORMAT;
    }
    if (res.status && err && err->code == QF_STATUS_OK) *err = res.err;
    return res.status;
}

qf_status qf_hdf5_read_image(qf_model *m, const uint8_t *image, uint64_t size, const char *part, qf_error *err)
{
    qf_status st = preflight(image, size, part, err);
    if (st) return st;
    return read_image(m, image, size, part, err);
}

static void release_file(void *f) { qf_file_unmap(f); }

qf_status qf_hdf5_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err)
{
    (void)params;
    *out = NULL;
    qf_model *m = NULL;
    qf_status st = qf_model_create(&m, err);
    if (st) {
        qf_file_unmap(file);
        return st;
    }
    if ((st = qf_model_keep(m, file, release_file, err))) {
        qf_model_destroy(m);
        return st;
    }
    st = qf_hdf5_read_image(m, qf_file_data(file), qf_file_size(file), "", err);
    if (st) {
        qf_model_destroy(m);
        return st;
    }
    *out = m;
    return QF_STATUS_OK;
}
