/*
 * tests/fuzz/fuzz_onnx_rewrite.c — the quantized ONNX rewrite (writers/onnx/onnx_writer.c) on a
 * fuzzed source graph. The input is read as ONNX (readers/onnx), every 2-D ".weight" is quantized
 * (qf_model_quantize_dynamic without a size floor, as `qforge quantize --min-elements 1` does) and
 * the source is rewritten twice: in the dynamic form, and in the static QDQ form with one made-up
 * scale per int8 weight (slots by the weight's own name, as the CLI passes calibrated stems; a slot
 * no projection reads is dropped and the rewrite tried again, so the QDQ path is reached whenever a
 * projection is). Whatever a writer reports as success must pass qforge's structural check
 * (qf_onnx_check_file: SSA, inputs defined in order, unique names, no unused initializer): the
 * target aborts otherwise. Errors are formatted (the error path must be as safe as the success one).
 *
 * Files live in a private temporary folder made once per process: the source as model.onnx (an
 * external-data location in it resolves inside that folder only) and the outputs, removed after
 * every input.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/writers.h"
#include "writers/onnx/onnx_check.h"

enum { MAX_SLOTS = 64 };

static char g_dir[64], g_src[128], g_out[128];

static void cleanup(void)
{
    unlink(g_src);
    unlink(g_out);
    rmdir(g_dir);
}

static bool setup(void)
{
    if (g_dir[0]) return true;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/qf-fuzz-rewrite-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        g_dir[0] = '\0';
        return false;
    }
    snprintf(g_src, sizeof g_src, "%s/model.onnx", g_dir);
    snprintf(g_out, sizeof g_out, "%s/out.onnx", g_dir);
    atexit(cleanup);
    return true;
}

static bool write_source(const uint8_t *data, size_t size)
{
    unlink(g_src); /* a new inode: nothing still mapped from the last input sees it change */
    FILE *f = fopen(g_src, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static void format_error(const qf_error *err)
{
    char line[2048];
    qf_error_format(err, line, sizeof line);
}

/* A writer said OK: the graph it wrote must pass the check. */
static void must_be_valid(const char *form)
{
    qf_error err;
    qf_error_clear(&err);
    if (qf_onnx_check_file(g_out, &err) != QF_STATUS_OK) {
        char line[2048];
        qf_error_format(&err, line, sizeof line);
        fprintf(stderr, "fuzz_onnx_rewrite: the %s rewrite reported success but wrote an invalid graph: %s\n", form,
                line);
        abort();
    }
    unlink(g_out);
}

static void rewrite_static(const qf_model *q)
{
    qf_onnx_qdq_activation acts[MAX_SLOTS];
    size_t n = 0;
    for (size_t i = 0; i < qf_model_tensor_count(q) && n < MAX_SLOTS; i++) {
        const qf_tensor *t = qf_model_tensor(q, i);
        if (t->dtype == QF_DTYPE_I8 && t->quant.scheme != QF_QUANT_NONE) acts[n++] = (qf_onnx_qdq_activation){t->name, 0.05f};
    }
    while (n > 0) {
        qf_onnx_static_params sp = qf_onnx_static_params_default();
        sp.activations = acts;
        sp.count = n;
        qf_error err;
        qf_error_clear(&err);
        qf_status s = qf_onnx_write_static(g_src, q, g_out, &sp, &err);
        if (s == QF_STATUS_OK) {
            must_be_valid("static QDQ");
            return;
        }
        format_error(&err);
        if (s != QF_STATUS_NOT_FOUND) return;
        /* drop the slot no projection reads and try again */
        size_t k = 0;
        while (k < n && strcmp(acts[k].slot, err.object) != 0) k++;
        if (k == n) return;
        acts[k] = acts[--n];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!setup() || !write_source(data, size)) return 0;
    qf_file *f = NULL;
    if (qf_file_map(g_src, &f, NULL)) return 0;
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_model *m = NULL, *q = NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_status s = qf_onnx_read(f, &rp, &m, &err); /* takes the file's reference */
    if (s) {
        format_error(&err);
        return 0;
    }
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 1;
    qf_error_clear(&err);
    s = qf_model_quantize_dynamic(m, &qp, &q, &err);
    if (s) {
        format_error(&err);
    } else {
        qf_error_clear(&err);
        if (qf_onnx_write_dynamic(g_src, q, g_out, NULL, &err) == QF_STATUS_OK) must_be_valid("dynamic");
        else format_error(&err);
        rewrite_static(q);
    }
    unlink(g_out);
    qf_model_destroy(q);
    qf_model_destroy(m);
    return 0;
}
