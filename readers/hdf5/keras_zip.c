/*
 * readers/hdf5/keras_zip.c — Keras 3 `.keras` archives: a zip holding config.json, metadata.json
 * and the weights as model.weights.h5 (plus optional assets/). reader.c sends every zip that is
 * not a torch checkpoint here. The archive is validated by the torch reader's zip adapter (unique
 * names, no overlaps, local headers, CRCs, inflation limits) before any entry is used; only
 * model.weights.h5 is read (as HDF5), everything else is listed and never interpreted — in
 * particular nothing is unpickled (`model.weights.npz` archives are refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/readers.h"
#include "readers/hdf5/hdf5_internal.h"
#include "readers/zip/zip_adapter.h"

#define KERAS_WEIGHTS_ENTRY "model.weights.h5"

static void release_file(void *f) { qf_file_unmap(f); }

/* "config.json (812 bytes); metadata.json (64 bytes); ..." cut at QF_HDF5_MAX_LISTING. */
static qf_status list_entries(qf_model *m, qf_zip *z, qf_error *err)
{
    char *buf = malloc(QF_HDF5_MAX_LISTING + 1);
    if (!buf) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    size_t used = 0;
    buf[0] = '\0';
    for (uint64_t i = 0; i < qf_zip_count(z); i++) {
        const qf_zip_entry *e = qf_zip_entry_at(z, i);
        if (strcmp(e->name, KERAS_WEIGHTS_ENTRY) == 0) continue;
        char item[QF_MAX_NAME_LEN + 64];
        int w = snprintf(item, sizeof item, "%s%s (%llu bytes)", used ? "; " : "", e->name, (unsigned long long)e->size);
        if (w < 0 || used + (size_t)w + 4 > QF_HDF5_MAX_LISTING) {
            used += (size_t)snprintf(buf + used, QF_HDF5_MAX_LISTING + 1 - used, " ...");
            break;
        }
        memcpy(buf + used, item, (size_t)w + 1);
        used += (size_t)w;
    }
    qf_status st = qf_model_set_meta(m, "keras.archive_entries", buf, err);
    free(buf);
    return st;
}

static qf_status read_archive(qf_model *m, const uint8_t *data, uint64_t size, qf_error *err)
{
    qf_zip *z = NULL;
    qf_status st = qf_zip_open(data, size, &z, err);
    if (st) return st;
    const qf_zip_entry *w = qf_zip_find(z, KERAS_WEIGHTS_ENTRY);
    bool keras = qf_zip_find(z, "config.json") || qf_zip_find(z, "metadata.json");
    if (!w && keras && qf_zip_find(z, "model.weights.npz")) {
        const qf_zip_entry *npz = qf_zip_find(z, "model.weights.npz");
        st = qf_error_set(err, QF_STATUS_UNSUPPORTED, NULL, npz->name, (int64_t)npz->local_offset, npz->name,
                          "Keras archive with NumPy weights (model.weights.npz, which may hold pickles): only "
                          "model.weights.h5 is read");
    } else if (!w || !keras) {
        /* name the first entries, so the user sees what the archive is */
        char names[256] = "";
        size_t n = 0;
        for (uint64_t i = 0; i < qf_zip_count(z) && i < 4 && n + 8 < sizeof names; i++) {
            if (i == 3) {
                snprintf(names + n, sizeof names - n, ", ...");
                break;
            }
            n += (size_t)snprintf(names + n, sizeof names - n, "%s", i ? ", " : "");
            for (const char *c = qf_zip_entry_at(z, i)->name; *c && c - qf_zip_entry_at(z, i)->name < 64 &&
                                                                n + 2 < sizeof names;
                 c++)
                names[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
            names[n] = '\0';
        }
        st = qf_error_set(err, QF_STATUS_UNKNOWN_FORMAT, NULL, NULL, 0, NULL,
                          "zip archive (entries: %s) without a data.pkl entry: not a PyTorch checkpoint, and without "
                          "%s: not a Keras archive; nothing in it is loaded",
                          names[0] ? names : "none", !w ? "model.weights.h5" : "config.json or metadata.json beside model.weights.h5");
    } else {
        const uint8_t *image = NULL;
        if (w->method == 0) {
            st = qf_zip_borrow(z, w, &image, err);
        } else {
            void *buf = NULL;
            st = qf_model_alloc(m, w->size, &buf, err);
            if (!st) st = qf_zip_read(z, w, buf, err);
            image = buf;
        }
        if (!st) st = list_entries(m, z, err);
        if (!st) st = qf_model_set_meta(m, "keras.archive_weights", w->method == 0 ? "stored" : "deflated", err);
        if (!st) st = qf_hdf5_read_image(m, image, w->size, w->name, err);
    }
    qf_zip_close(z);
    return st;
}

qf_status qf_keras_read(qf_file *file, const qf_read_params *params, qf_model **out, qf_error *err)
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
    st = read_archive(m, qf_file_data(file), qf_file_size(file), err);
    if (st) {
        qf_model_destroy(m);
        return st;
    }
    *out = m;
    return QF_STATUS_OK;
}
