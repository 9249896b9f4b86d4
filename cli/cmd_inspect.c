/*
 * cli/cmd_inspect.c — `qforge inspect FILE`: format, tensors (name, dtype, shape, bytes, scheme),
 * metadata and integrity of any supported input or .qf artifact, as a table or JSON.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "qforge/readers.h"

static qf_cli_option inspect_options[] = {
    QF_CLI_SHARED(QF_CLI_JSON, "machine-readable JSON on stdout"),
    QF_CLI_OPTION("verify-checksums", 0, false, NULL, ".qf: read every tensor and check its CRC-32"),
    QF_CLI_SHARED(QF_CLI_SELECT, NULL),
    QF_CLI_SHARED(QF_CLI_CONFIG, "config.json to attach (default: next to FILE)"),
    QF_CLI_OPTION("no-tensors", 0, false, NULL, "summary only, without the tensor table"),
    QF_CLI_OPTION("no-hash", 0, false, NULL, "skip the SHA-256 of the input"),
};

static qf_cli_command inspect_command = {
    "inspect", "FILE [options]",
    "Shows the format, tensors (name, dtype, shape, bytes, quantization), metadata and integrity of a\n"
    "PyTorch (zip or legacy), safetensors or .qf file. The format is detected from the bytes.",
    "Rejected files: one line on stderr names the file, the part (zip entry, header), the byte\n"
    "offset and the reason, e.g. a forbidden pickle global.",
    inspect_options, sizeof inspect_options / sizeof inspect_options[0], 1, 1};

static void shape_text(const qf_tensor *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int32_t d = 0; d < t->rank && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static void quant_text(const qf_tensor *t, char *buf, size_t size)
{
    if (t->quant.scheme == QF_QUANT_NONE)
        snprintf(buf, size, "-");
    else if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_CHANNEL)
        snprintf(buf, size, "per-channel axis %d", (int)t->quant.axis);
    else if (t->quant.scheme == QF_QUANT_SYMMETRIC_PER_TENSOR)
        snprintf(buf, size, "per-tensor");
    else
        snprintf(buf, size, "%s", qf_quant_scheme_name(t->quant.scheme));
}

static void print_table(const qf_model *m, const char *path, bool tensors, bool checked)
{
    char total[32];
    size_t n = qf_model_tensor_count(m);
    size_t per_dtype[QF_DTYPE_COUNT_] = {0}, quantized = 0;
    for (size_t i = 0; i < n; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        per_dtype[t->dtype]++;
        if (t->quant.scheme != QF_QUANT_NONE) quantized++;
    }
    qf_cli_format_bytes(qf_model_total_bytes(m), total, sizeof total);
    const char *fmt = qf_model_get_meta(m, "source.format");
    printf("file       %s\n", qf_cli_safe(path));
    printf("format     %s\n", qf_cli_safe(qf_model_get_meta(m, "qforge.version") ? "qf" : (fmt ? fmt : "?")));
    printf("tensors    %zu, %s (%llu bytes)\n", n, total, (unsigned long long)qf_model_total_bytes(m));
    printf("dtypes    ");
    for (int d = 0; d < QF_DTYPE_COUNT_; d++)
        if (per_dtype[d]) printf(" %s x%zu", qf_dtype_name((qf_dtype)d), per_dtype[d]);
    printf("\nquantized  %zu tensors\n", quantized);
    if (checked) printf("integrity  every tensor checksum verified\n");
    printf("config     %s\n", qf_model_config_json(m) ? "present" : "none");
    if (qf_model_meta_count(m)) printf("metadata\n");
    for (size_t i = 0; i < qf_model_meta_count(m); i++) {
        const char *k, *v;
        qf_model_meta_at(m, i, &k, &v);
        /* long values are cut after 200 bytes of escaped text, never inside an escape or a character */
        char shown[201];
        size_t full = qf_text_escape(v, strlen(v), shown, sizeof shown);
        printf("  %-28s %s%s\n", qf_cli_safe(k), shown, full >= sizeof shown ? "..." : "");
    }
    if (!tensors) return;
    size_t name_w = 4;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(qf_cli_safe(qf_model_tensor(m, i)->name));
        if (l > name_w) name_w = l;
    }
    if (name_w > 72) name_w = 72;
    printf("\n%-*s  %-5s  %-20s  %12s  %s\n", (int)name_w, "name", "dtype", "shape", "bytes", "quantization");
    for (size_t i = 0; i < n; i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        char shape[160], quant[64];
        shape_text(t, shape, sizeof shape);
        quant_text(t, quant, sizeof quant);
        printf("%-*s  %-5s  %-20s  %12llu  %s", (int)name_w, qf_cli_safe(t->name), qf_dtype_name(t->dtype), shape,
               (unsigned long long)t->nbytes, quant);
        if (strcmp(t->source_name, t->name) != 0) printf("  (source: %s)", qf_cli_safe(t->source_name));
        printf("\n");
    }
}

static void print_json(const qf_model *m, const char *path, bool checked)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "file", json_object_new_string(path));
    const char *fmt = qf_model_get_meta(m, "source.format");
    json_object_object_add(root, "format",
                           json_object_new_string(qf_model_get_meta(m, "qforge.version") ? "qf" : (fmt ? fmt : "?")));
    json_object_object_add(root, "tensor_count", json_object_new_int64((int64_t)qf_model_tensor_count(m)));
    json_object_object_add(root, "total_bytes", json_object_new_int64((int64_t)qf_model_total_bytes(m)));
    json_object_object_add(root, "checksums_verified", json_object_new_boolean(checked));
    json_object *meta = json_object_new_object();
    for (size_t i = 0; i < qf_model_meta_count(m); i++) {
        const char *k, *v;
        qf_model_meta_at(m, i, &k, &v);
        json_object_object_add(meta, k, json_object_new_string(v));
    }
    json_object_object_add(root, "metadata", meta);
    const char *cfg = qf_model_config_json(m);
    json_object_object_add(root, "config", cfg ? json_tokener_parse(cfg) : NULL);
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const qf_tensor *t = qf_model_tensor(m, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(t->name));
        json_object_object_add(o, "source_name", json_object_new_string(t->source_name));
        json_object_object_add(o, "dtype", json_object_new_string(qf_dtype_name(t->dtype)));
        json_object *shape = json_object_new_array();
        for (int32_t d = 0; d < t->rank; d++) json_object_array_add(shape, json_object_new_int64(t->shape[d]));
        json_object_object_add(o, "shape", shape);
        json_object_object_add(o, "nbytes", json_object_new_int64((int64_t)t->nbytes));
        if (t->quant.scheme != QF_QUANT_NONE) {
            json_object *q = json_object_new_object();
            json_object_object_add(q, "scheme", json_object_new_string(qf_quant_scheme_name(t->quant.scheme)));
            json_object_object_add(q, "axis", json_object_new_int(t->quant.axis));
            json_object_object_add(q, "scale", json_object_new_string(t->quant.scale_name));
            if (t->quant.zero_point_name)
                json_object_object_add(q, "zero_point", json_object_new_string(t->quant.zero_point_name));
            json_object_object_add(o, "quant", q);
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "tensors", arr);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

int qf_cmd_inspect(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&inspect_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    qf_read_params rp = qf_read_params_default();
    rp.verify_checksums = qf_cli_find(&inspect_command, "verify-checksums")->seen;
    rp.hash_source = !qf_cli_find(&inspect_command, "no-hash")->seen;
    if (qf_cli_given(&inspect_command, QF_CLI_SELECT)) rp.select = qf_cli_text(&inspect_command, QF_CLI_SELECT);
    if (qf_cli_given(&inspect_command, QF_CLI_CONFIG)) rp.config_path = qf_cli_text(&inspect_command, QF_CLI_CONFIG);
    qf_error err;
    qf_error_clear(&err);
    qf_model *m = NULL;
    if (qf_model_read(pos[0], &rp, &m, &err)) return qf_cli_fail(&err);
    if (qf_cli_given(&inspect_command, QF_CLI_JSON))
        print_json(m, pos[0], rp.verify_checksums);
    else
        print_table(m, pos[0], !qf_cli_find(&inspect_command, "no-tensors")->seen, rp.verify_checksums);
    qf_model_destroy(m);
    return QF_EXIT_OK;
}
