/*
 * cli/cmd_write.c — `qforge convert` and `qforge quantize`: read any input, convert or quantize it
 * in the library, write a .qf atomically, and print what happened (sizes, ratio, time).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

static qf_cli_option convert_options[] = {
    {"out", 'o', true, "PATH", "output file (required): .qf, or .safetensors", false, NULL},
    {"format", 0, true, "qf|safetensors", "output format (default: from the extension of -o, else qf)", false, NULL},
    {"canonical-names", 0, false, NULL, "safetensors: write canonical names instead of the source names", false,
     NULL},
    {"dtype", 0, true, "f32|f16|bf16", "floating-point dtype of the output (default f32)", false, NULL},
    {"select", 0, true, "KEY", "PyTorch: sub-dict holding the weights (\"\" = everything)", false, NULL},
    {"config", 0, true, "PATH", "config.json to embed (default: next to IN)", false, NULL},
    {"onnx-out", 0, true, "PATH", "also write the encoder as an FP32 ONNX graph (opset 17; needs config.json)", false,
     NULL},
    {"json", 0, false, NULL, "print the summary as JSON", false, NULL},
    {"quiet", 'q', false, NULL, "print nothing on success", false, NULL},
};

static qf_cli_command convert_command = {
    "convert", "IN -o OUT.qf|OUT.safetensors [--dtype f32|f16|bf16] [options]",
    "Writes IN (PyTorch zip or legacy, safetensors, or .qf) as a .qf or safetensors file without\n"
    "quantization.",
    "Floating-point tensors are converted to --dtype (round to nearest even); integer tensors are\n"
    "copied as they are. Into .qf, already-quantized tensors are copied and config.json is embedded\n"
    "when found. Into safetensors, quantized tensors are dequantized to --dtype (their scales are left\n"
    "out), tensors keep their source names (the names Hugging Face loads) and the header is sorted and\n"
    "padded so that every tensor is aligned.\n"
    "--onnx-out writes the encoder (BERT, RoBERTa, DistilBERT, ELECTRA with their config.json) as an\n"
    "opset-17 ONNX graph built from scratch, from any input format: inputs input_ids, attention_mask\n"
    "(and token_type_ids where the family has token types), outputs logits and last_hidden_state,\n"
    "dynamic batch and sequence axes; weights as in the output (--dtype rounds them, stored as f32).",
    convert_options, sizeof convert_options / sizeof convert_options[0], 1, 1};

static qf_cli_option quantize_options[] = {
    {"out", 'o', true, "PATH", "output .qf file (required)", false, NULL},
    {"mode", 0, true, "dynamic", "quantization mode (required): dynamic = int8 weights, activations at run time",
     false, NULL},
    {"onnx-out", 0, true, "PATH", "also write the quantized ONNX graph (ONNX Runtime's dynamic form)", false, NULL},
    {"onnx-graph", 0, true, "rewrite|export",
     "--onnx-out: rewrite the source ONNX graph (default for ONNX input) or export the encoder from scratch "
     "(default otherwise)",
     false, NULL},
    {"per-tensor", 0, false, NULL, "one scale per weight instead of one per output channel", false, NULL},
    {"no-embedding-quant", 0, false, NULL, "keep the word embedding in FP32 (default: int8 per row)", false, NULL},
    {"min-elements", 0, true, "N", "2-D weights with fewer elements stay FP32 (default 1024)", false, NULL},
    {"threads", 0, true, "N", "worker threads (default: all cores)", false, NULL},
    {"select", 0, true, "KEY", "PyTorch: sub-dict holding the weights (\"\" = everything)", false, NULL},
    {"config", 0, true, "PATH", "config.json to embed (default: next to IN)", false, NULL},
    {"json", 0, false, NULL, "print the summary as JSON", false, NULL},
    {"quiet", 'q', false, NULL, "print nothing on success", false, NULL},
};

static qf_cli_command quantize_command = {
    "quantize", "IN -o OUT.qf --mode dynamic [options]",
    "Quantizes the linear-layer weights of IN to int8 and writes a .qf file.",
    "dynamic: every 2-D '*.weight' of a linear layer becomes int8, symmetric, one scale per output\n"
    "channel (s = max|w| / 127, round half to even, range [-127, 127]); the word embedding becomes\n"
    "int8 per row; biases, LayerNorm, other embeddings and small tensors stay FP32. Activations are\n"
    "quantized at run time (uint8 per tensor, as ONNX DynamicQuantizeLinear).\n"
    "--onnx-out: the same int8 weights as an ONNX graph, in the form ONNX Runtime's quantize_dynamic\n"
    "writes (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul). With --onnx-graph rewrite (the\n"
    "default for an ONNX input) the source graph is rewritten and the rest of it carried over; with\n"
    "--onnx-graph export (the default for every other input) the encoder is written from scratch\n"
    "(opset 17; BERT, RoBERTa, DistilBERT, ELECTRA with their config.json; inputs input_ids,\n"
    "attention_mask and token_type_ids where the family has token types; outputs logits and\n"
    "last_hidden_state). Already-quantized inputs are refused.",
    quantize_options, sizeof quantize_options / sizeof quantize_options[0], 1, 1};

/* `dequantized`: dst is src written as floats (safetensors), its int8 tensors dequantized. */
static void print_summary(bool json, const char *what, const char *in, const char *out, const qf_model *src,
                          const qf_model *dst, bool dequantized, double seconds)
{
    uint64_t in_bytes = qf_model_total_bytes(src);
    FILE *f = fopen(out, "rb");
    long out_size = -1;
    if (f) {
        fseek(f, 0, SEEK_END);
        out_size = ftell(f);
        fclose(f);
    }
    size_t quantized = 0;
    for (size_t i = 0; i < qf_model_tensor_count(dst); i++)
        if (qf_model_tensor(dst, i)->quant.scheme != QF_QUANT_NONE) quantized++;
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "command", json_object_new_string(what));
        json_object_object_add(o, "input", json_object_new_string(in));
        json_object_object_add(o, "output", json_object_new_string(out));
        json_object_object_add(o, "input_tensor_bytes", json_object_new_int64((int64_t)in_bytes));
        json_object_object_add(o, "output_file_bytes", json_object_new_int64(out_size));
        json_object_object_add(o, "ratio", json_object_new_double(in_bytes ? (double)out_size / (double)in_bytes : 0));
        json_object_object_add(o, "tensors", json_object_new_int64((int64_t)qf_model_tensor_count(src)));
        json_object_object_add(o, dequantized ? "dequantized_tensors" : "quantized_tensors",
                               json_object_new_int64((int64_t)quantized));
        json_object_object_add(o, "seconds", json_object_new_double(seconds));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return;
    }
    char a[32], b[32];
    qf_cli_format_bytes(in_bytes, a, sizeof a);
    qf_cli_format_bytes(out_size < 0 ? 0 : (uint64_t)out_size, b, sizeof b);
    printf("%s: %s (%zu tensors, %s) -> %s (%s, %.1f%% of the input tensors)", what, in, qf_model_tensor_count(src), a,
           out, b, in_bytes ? 100.0 * (double)out_size / (double)in_bytes : 0.0);
    if (quantized) printf(", %zu tensors %s", quantized, dequantized ? "dequantized" : "int8");
    printf(", %.2f s\n", seconds);
}

/* --onnx-out: quantize rewrites an ONNX source unless --onnx-graph export; convert, and quantize
 * of any other input, export the encoder from scratch (FP32 for convert, else the model's own
 * quantization: dynamic, or static QDQ when quant.mode says static). */
static qf_status write_onnx(qf_cli_command *cmd, const char *in, const qf_model *src, qf_model *dst, qf_error *err)
{
    qf_cli_option *onnx_out = qf_cli_find(cmd, "onnx-out");
    if (!onnx_out || !onnx_out->seen) return QF_STATUS_OK;
    qf_cli_option *graph = qf_cli_find(cmd, "onnx-graph");
    const char *fmt = qf_model_get_meta(src, "source.format");
    bool rewrite = graph && (graph->seen ? strcmp(graph->value, "rewrite") == 0 : fmt && strcmp(fmt, "onnx") == 0);
    if (rewrite) {
        qf_onnx_write_params op = qf_onnx_write_params_default();
        return qf_onnx_write_dynamic(in, dst, onnx_out->value, &op, err);
    }
    if (!qf_model_config_json(dst)) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, in, NULL, -1, "config.json",
                     "--onnx-out writes the encoder of the family config.json names, and there is no config.json "
                     "beside the input (give --config PATH)");
        return QF_STATUS_NOT_FOUND;
    }
    const char *mode = qf_model_get_meta(dst, "quant.mode");
    qf_onnx_export_params ep = qf_onnx_export_params_default();
    ep.mode = !graph                                  ? QF_ONNX_EXPORT_MODE_FP32
              : mode && strcmp(mode, "static") == 0 ? QF_ONNX_EXPORT_MODE_STATIC
                                                      : QF_ONNX_EXPORT_MODE_DYNAMIC;
    return qf_onnx_export(dst, onnx_out->value, &ep, err);
}

static int write_and_report(qf_cli_command *cmd, const char *in, qf_model *src, qf_model *dst,
                            double t0)
{
    qf_error err;
    qf_error_clear(&err);
    const char *out = qf_cli_find(cmd, "out")->value;
    /* The recipe is in the metadata (quant.*, convert.*); the command line is not recorded, so the
     * output path, --threads or --quiet never change the bytes. The ONNX graph goes first: when it
     * cannot be written, neither is the .qf. */
    qf_qfile_write_params wp = qf_qfile_write_params_default();
    if (write_onnx(cmd, in, src, dst, &err) || qf_qfile_write(dst, out, &wp, &err)) {
        qf_model_destroy(dst);
        qf_model_destroy(src);
        return qf_cli_fail(&err);
    }
    qf_cli_option *onnx_out = qf_cli_find(cmd, "onnx-out");
    if (!qf_cli_find(cmd, "quiet")->seen)
        print_summary(qf_cli_find(cmd, "json")->seen, cmd->name, in, out, src, dst, false, qf_cli_now() - t0);
    if (onnx_out && onnx_out->seen && !qf_cli_find(cmd, "quiet")->seen && !qf_cli_find(cmd, "json")->seen)
        printf("onnx: %s\n", onnx_out->value);
    qf_model_destroy(dst);
    qf_model_destroy(src);
    return QF_EXIT_OK;
}

static int read_input(qf_cli_command *cmd, const char *in, qf_model **out)
{
    qf_read_params rp = qf_read_params_default();
    qf_cli_option *sel = qf_cli_find(cmd, "select");
    if (sel->seen) rp.select = sel->value;
    qf_cli_option *cfg = qf_cli_find(cmd, "config");
    if (cfg->seen) rp.config_path = cfg->value;
    qf_error err;
    qf_error_clear(&err);
    if (qf_model_read(in, &rp, out, &err)) return qf_cli_fail(&err);
    /* An encoder family with a config.json gets canonical tensor names (source names are kept);
     * anything else is converted by its source names. */
    if (!qf_model_config_json(*out)) return QF_EXIT_OK;
    qf_status s = qf_arch_map(*out, NULL, &err);
    if (s == QF_STATUS_UNSUPPORTED && !qf_cli_find(cmd, "quiet")->seen) {
        fprintf(stderr, "note: %s: %s; tensors keep their source names\n", in, err.message);
    } else if (s) {
        qf_model_destroy(*out);
        *out = NULL;
        return qf_cli_fail(&err);
    }
    return QF_EXIT_OK;
}

int qf_cmd_convert(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&convert_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    if (!qf_cli_find(&convert_command, "out")->seen) {
        fprintf(stderr, "qforge convert: -o OUT.qf is required\nTry 'qforge convert --help'.\n");
        return QF_EXIT_USAGE;
    }
    qf_dtype dtype = QF_DTYPE_F32;
    qf_cli_option *dt = qf_cli_find(&convert_command, "dtype");
    if (dt->seen && (!qf_dtype_from_name(dt->value, &dtype) ||
                     (dtype != QF_DTYPE_F32 && dtype != QF_DTYPE_F16 && dtype != QF_DTYPE_BF16))) {
        fprintf(stderr, "qforge convert: --dtype must be f32, f16 or bf16, not '%s'\n", dt->value);
        return QF_EXIT_USAGE;
    }
    const char *out_path = qf_cli_find(&convert_command, "out")->value;
    qf_cli_option *fmt = qf_cli_find(&convert_command, "format");
    size_t olen = strlen(out_path);
    bool safetensors = olen >= 12 && strcmp(out_path + olen - 12, ".safetensors") == 0;
    if (fmt->seen) {
        if (strcmp(fmt->value, "safetensors") != 0 && strcmp(fmt->value, "qf") != 0) {
            fprintf(stderr, "qforge convert: --format must be qf or safetensors, not '%s'\n", fmt->value);
            return QF_EXIT_USAGE;
        }
        safetensors = strcmp(fmt->value, "safetensors") == 0;
    }
    double t0 = qf_cli_now();
    qf_model *src = NULL, *dst = NULL;
    if ((rc = read_input(&convert_command, pos[0], &src))) return rc;
    qf_error err;
    qf_error_clear(&err);
    if (safetensors) {
        qf_safetensors_write_params sp = qf_safetensors_write_params_default();
        sp.float_dtype = dtype;
        sp.source_names = !qf_cli_find(&convert_command, "canonical-names")->seen;
        if (write_onnx(&convert_command, pos[0], src, src, &err) || qf_safetensors_write(src, out_path, &sp, &err)) {
            qf_model_destroy(src);
            return qf_cli_fail(&err);
        }
        if (!qf_cli_find(&convert_command, "quiet")->seen)
            print_summary(qf_cli_find(&convert_command, "json")->seen, "convert", pos[0], out_path, src, src, true,
                          qf_cli_now() - t0);
        qf_model_destroy(src);
        return QF_EXIT_OK;
    }
    if (qf_model_convert_dtype(src, dtype, &dst, &err)) {
        qf_model_destroy(src);
        return qf_cli_fail(&err);
    }
    return write_and_report(&convert_command, pos[0], src, dst, t0);
}

int qf_cmd_quantize(int argc, char **argv)
{
    const char *pos[1];
    int npos;
    bool help;
    int rc = qf_cli_parse(&quantize_command, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    if (!qf_cli_find(&quantize_command, "out")->seen) {
        fprintf(stderr, "qforge quantize: -o OUT.qf is required\nTry 'qforge quantize --help'.\n");
        return QF_EXIT_USAGE;
    }
    qf_cli_option *mode = qf_cli_find(&quantize_command, "mode");
    if (!mode->seen || strcmp(mode->value, "dynamic") != 0) {
        fprintf(stderr, "qforge quantize: --mode must be 'dynamic'%s%s%s\nTry 'qforge quantize --help'.\n",
                mode->seen ? " (got '" : "", mode->seen ? mode->value : "", mode->seen ? "')" : "");
        return QF_EXIT_USAGE;
    }
    qf_cli_option *graph_opt = qf_cli_find(&quantize_command, "onnx-graph");
    if (graph_opt->seen && strcmp(graph_opt->value, "rewrite") != 0 && strcmp(graph_opt->value, "export") != 0) {
        fprintf(stderr, "qforge quantize: --onnx-graph must be rewrite or export, not '%s'\n", graph_opt->value);
        return QF_EXIT_USAGE;
    }
    if (graph_opt->seen && !qf_cli_find(&quantize_command, "onnx-out")->seen) {
        fprintf(stderr, "qforge quantize: --onnx-graph goes with --onnx-out\n");
        return QF_EXIT_USAGE;
    }
    qf_quantize_params qp = qf_quantize_params_default();
    qf_cli_progress progress;
    qf_cli_progress_init(&progress, "quantize", true, qf_cli_find(&quantize_command, "quiet")->seen);
    qp.progress = qf_cli_progress_update;
    qp.progress_ctx = &progress;
    qp.per_tensor = qf_cli_find(&quantize_command, "per-tensor")->seen;
    qp.quantize_word_embeddings = !qf_cli_find(&quantize_command, "no-embedding-quant")->seen;
    long v;
    qf_cli_option *o = qf_cli_find(&quantize_command, "threads");
    if (o->seen) {
        if (!qf_cli_int(&quantize_command, o, 1, 1024, &v)) return QF_EXIT_USAGE;
        qp.threads = (int)v;
    }
    o = qf_cli_find(&quantize_command, "min-elements");
    if (o->seen) {
        if (!qf_cli_int(&quantize_command, o, 0, 1L << 40, &v)) return QF_EXIT_USAGE;
        qp.min_elements = (uint64_t)v;
    }
    double t0 = qf_cli_now();
    qf_model *src = NULL, *dst = NULL;
    if ((rc = read_input(&quantize_command, pos[0], &src))) return rc;
    const char *fmt = qf_model_get_meta(src, "source.format");
    qf_cli_option *graph = qf_cli_find(&quantize_command, "onnx-graph");
    if (graph->seen && strcmp(graph->value, "rewrite") == 0 && (!fmt || strcmp(fmt, "onnx") != 0)) {
        fprintf(stderr, "qforge quantize: --onnx-graph rewrite needs an ONNX input (%s is %s)\n", pos[0],
                fmt ? fmt : "not one");
        qf_model_destroy(src);
        return QF_EXIT_USAGE;
    }
    qf_error err;
    qf_error_clear(&err);
    if (qf_model_quantize_dynamic(src, &qp, &dst, &err)) {
        qf_model_destroy(src);
        return qf_cli_fail(&err);
    }
    return write_and_report(&quantize_command, pos[0], src, dst, t0);
}
