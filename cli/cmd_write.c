/*
 * cli/cmd_write.c — `qforge convert` and `qforge quantize`: read any input, convert or quantize it
 * in the library (dynamic int8, or static int8 from .qfc statistics with the accuracy-aware
 * fallback), write a .qf atomically, and print what happened (sizes, ratio, time).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd_fallback.h"
#include "qforge/calibrate.h"
#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"

static qf_cli_option convert_options[] = {
    QF_CLI_OPTION("out", 'o', true, "PATH", "output file (required): .qf, or .safetensors"),
    QF_CLI_OPTION("format", 0, true, "qf|safetensors", "output format (default: from the extension of -o, else qf)"),
    QF_CLI_OPTION("canonical-names", 0, false, NULL, "safetensors: write canonical names instead of the source names"),
    QF_CLI_OPTION("dtype", 0, true, "f32|f16|bf16", "floating-point dtype of the output (default f32)"),
    QF_CLI_SHARED(QF_CLI_SELECT, NULL),
    QF_CLI_SHARED(QF_CLI_CONFIG, "config.json to embed (default: next to IN)"),
    QF_CLI_OPTION("onnx-out", 0, true, "PATH",
                  "also write the encoder as an FP32 ONNX graph (opset 17; needs config.json)"),
    QF_CLI_SHARED(QF_CLI_JSON, NULL),
    QF_CLI_SHARED(QF_CLI_QUIET, NULL),
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
    "--onnx-out writes the encoder (BERT, RoBERTa, DistilBERT, ELECTRA, MPNet, ALBERT with their\n"
    "config.json) as an opset-17 ONNX graph built from scratch, from any input format: inputs\n"
    "input_ids, attention_mask (and token_type_ids where the family has token types); outputs logits (a\n"
    "sequence or token head), start_logits and end_logits (question answering), sentence_embedding (a\n"
    "sentence-transformers folder: its pooling, Dense modules and Normalize; a pooling with\n"
    "include_prompt false adds the int64 scalar input prompt_length, the prompt's tokens, 0 without a\n"
    "prompt) and last_hidden_state; dynamic batch and sequence axes; weights as in the output (--dtype\n"
    "rounds them, stored as f32).",
    convert_options, sizeof convert_options / sizeof convert_options[0], 1, 1};

static qf_cli_option quantize_options[] = {
    QF_CLI_OPTION("out", 'o', true, "PATH", "output .qf file (required)"),
    QF_CLI_OPTION("mode", 0, true, "dynamic|static",
                  "quantization mode (required): dynamic = activations quantized at run time; static = calibrated"),
    QF_CLI_OPTION("stats", 0, true, "STATS.qfc", "static: activation statistics from 'qforge calibrate' (required)"),
    QF_CLI_OPTION("method", 0, true, "M", "static: minmax, percentile, entropy or mse (default entropy)"),
    QF_CLI_OPTION("percentile", 0, true, "P", "static, percentile: the percentile of |x| kept (default 99.99)"),
    QF_CLI_OPTION("smooth", 0, true, "ALPHA",
                  "static: SmoothQuant with migration strength ALPHA in (0, 1] (default off)"),
    QF_CLI_OPTION("fp32", 0, true, "PATTERN",
                  "static: keep projections matching PATTERN in FP32 (repeatable; 'layers.0.*')"),
    QF_CLI_SHARED(QF_CLI_MAX_DROP,
                  "static: revert the most sensitive projections to FP32 until the drop on --eval <= PTS"),
    QF_CLI_OPTION("eval", 0, true, "FILE.jsonl", "static --max-drop: labelled rows to measure the drop on"),
    QF_CLI_OPTION("sensitivity-rows", 0, true, "N",
                  "static --max-drop: rows of --eval used to rank projections (default 512)"),
    QF_CLI_SHARED(QF_CLI_TOKENIZER, "static --max-drop: tokenizer.json or its folder (default: beside IN)"),
    QF_CLI_OPTION("job", 0, true, "JOB",
                  "static --max-drop: the job whose headline metric is measured, as 'qforge verify --job' (default: "
                  "the model's head)"),
    QF_CLI_OPTION("onnx-out", 0, true, "PATH",
                  "also write the quantized ONNX graph (ORT's dynamic form, or static QDQ)"),
    QF_CLI_OPTION("onnx-graph", 0, true, "rewrite|export",
                  "--onnx-out: rewrite the source ONNX graph (default for ONNX input) or export the encoder from "
                  "scratch (default otherwise)"),
    QF_CLI_OPTION("per-tensor", 0, false, NULL, "one scale per weight instead of one per output channel"),
    QF_CLI_OPTION("no-embedding-quant", 0, false, NULL, "keep the word embedding in FP32 (default: int8 per row)"),
    QF_CLI_OPTION("min-elements", 0, true, "N", "2-D weights with fewer elements stay FP32 (default 1024)"),
    QF_CLI_SHARED(QF_CLI_THREADS, NULL),
    QF_CLI_SHARED(QF_CLI_SELECT, NULL),
    QF_CLI_SHARED(QF_CLI_CONFIG, "config.json to embed (default: next to IN)"),
    QF_CLI_SHARED(QF_CLI_JSON, NULL),
    QF_CLI_SHARED(QF_CLI_QUIET, NULL),
};

static qf_cli_command quantize_command = {
    "quantize", "IN -o OUT.qf --mode dynamic|static [--stats S.qfc --method M] [options]",
    "Quantizes the linear-layer weights of IN to int8 and writes a .qf file.",
    "dynamic: every 2-D '*.weight' of a linear layer becomes int8, symmetric, one scale per output\n"
    "channel (s = max|w| / 127, round half to even, range [-127, 127]); the word embedding becomes\n"
    "int8 per row; biases, LayerNorm, other embeddings and small tensors stay FP32. Activations are\n"
    "quantized at run time (uint8 per tensor, as ONNX DynamicQuantizeLinear).\n\n"
    "static: the six projections of every layer (attn q/k/v/out, ffn up/down) get int8 weights per\n"
    "output channel and a calibrated int8 input scale (T / 127, T from --method over the .qfc\n"
    "statistics; q = saturate(round_half_even(x / s)) in [-128, 127]); residual adds, LayerNorm,\n"
    "softmax, GELU, pooler and head stay FP32. --smooth folds SmoothQuant factors into the weights\n"
    "and scales the activation by 1/s before quantization. --max-drop measures the drop of the\n"
    "job's headline metric on --eval (the job and its rows as 'qforge verify' has them: accuracy,\n"
    "entity F1, QA F1, micro-F1, MRR@10 with relevance labels, STS Spearman with score rows; --job\n"
    "overrides the head's) and returns the most sensitive projections to FP32 until it fits; the\n"
    "reverted projections and why are printed and recorded in metadata (quant.fallback.*).\n\n"
    "--onnx-out: the same int8 weights as an ONNX graph; dynamic: in the form ONNX Runtime's\n"
    "quantize_dynamic writes (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul); static:\n"
    "QuantizeLinear -> DequantizeLinear on each projection input with the calibrated scale, int8\n"
    "weights -> DequantizeLinear per channel. With --onnx-graph rewrite (the default for an ONNX\n"
    "input) the source graph is rewritten and the rest of it carried over (static: not with\n"
    "--smooth, the rewrite has no activation Mul); with --onnx-graph export (the default for every\n"
    "other input) the encoder is written from scratch (opset 17; BERT, RoBERTa, DistilBERT, ELECTRA,\n"
    "MPNet, ALBERT with their config.json; inputs input_ids, attention_mask and token_type_ids where\n"
    "the family has token types; outputs logits and last_hidden_state; --smooth becomes a Mul before\n"
    "each QuantizeLinear). Already-quantized inputs are refused.",
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
    printf("%s: %s (%zu tensors, %s) -> %s (%s, %.1f%% of the input tensors)", what, qf_cli_safe(in),
           qf_model_tensor_count(src), a, qf_cli_safe(out), b, in_bytes ? 100.0 * (double)out_size / (double)in_bytes : 0.0);
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
    const char *mode = qf_model_get_meta(dst, "quant.mode");
    bool static_mode = mode && strcmp(mode, "static") == 0;
    if (rewrite && !static_mode) {
        qf_onnx_write_params op = qf_onnx_write_params_default();
        return qf_onnx_write_dynamic(in, dst, onnx_out->value, &op, err);
    }
    if (rewrite) {
        /* every calibrated projection input, by its stem */
        qf_status s = QF_STATUS_OK;
        size_t n = qf_model_tensor_count(dst), count = 0;
        qf_onnx_qdq_activation *acts = calloc(n + 1, sizeof *acts);
        char(*slots)[96] = calloc(n + 1, sizeof *slots);
        if (!acts || !slots) s = qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
        for (size_t i = 0; !s && i < n; i++) {
            const qf_tensor *t = qf_model_tensor(dst, i);
            const char *suffix = ".input::scale";
            size_t len = strlen(t->name), sl = strlen(suffix);
            if (len <= sl || len - sl >= sizeof slots[0] || strcmp(t->name + len - sl, suffix) != 0) continue;
            memcpy(slots[count], t->name, len - sl);
            slots[count][len - sl] = '\0';
            acts[count].slot = slots[count];
            memcpy(&acts[count].scale, t->data, sizeof(float));
            count++;
        }
        qf_onnx_static_params osp = qf_onnx_static_params_default();
        osp.activations = acts;
        osp.count = count;
        if (!s) s = qf_onnx_write_static(in, dst, onnx_out->value, &osp, err);
        free(acts);
        free(slots);
        return s;
    }
    if (!qf_model_config_json(dst)) {
        qf_error_set(err, QF_STATUS_NOT_FOUND, in, NULL, -1, "config.json",
                     "--onnx-out writes the encoder of the family config.json names, and there is no config.json "
                     "beside the input (give --config PATH)");
        return QF_STATUS_NOT_FOUND;
    }
    qf_onnx_export_params ep = qf_onnx_export_params_default();
    ep.mode = !graph ? QF_ONNX_EXPORT_MODE_FP32 : static_mode ? QF_ONNX_EXPORT_MODE_STATIC : QF_ONNX_EXPORT_MODE_DYNAMIC;
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
    if (!qf_cli_given(cmd, QF_CLI_QUIET))
        print_summary(qf_cli_given(cmd, QF_CLI_JSON), cmd->name, in, out, src, dst, false, qf_cli_now() - t0);
    if (onnx_out && onnx_out->seen && !qf_cli_given(cmd, QF_CLI_QUIET) && !qf_cli_given(cmd, QF_CLI_JSON))
        printf("onnx: %s\n", qf_cli_safe(onnx_out->value));
    qf_model_destroy(dst);
    qf_model_destroy(src);
    return QF_EXIT_OK;
}

/* threads: the command's CPU budget (--threads; 0: all cores); with 1 the source is hashed before
 * anything else, otherwise on a second thread while the command works. */
static int read_input(qf_cli_command *cmd, const char *in, int threads, qf_model **out)
{
    qf_read_params rp = qf_read_params_default();
    rp.threads = threads;
    if (qf_cli_given(cmd, QF_CLI_SELECT)) rp.select = qf_cli_text(cmd, QF_CLI_SELECT);
    if (qf_cli_given(cmd, QF_CLI_CONFIG)) rp.config_path = qf_cli_text(cmd, QF_CLI_CONFIG);
    qf_error err;
    qf_error_clear(&err);
    if (qf_model_read(in, &rp, out, &err)) return qf_cli_fail(&err);
    /* An encoder family with a config.json gets canonical tensor names (source names are kept);
     * anything else is converted by its source names. */
    if (!qf_model_config_json(*out)) return QF_EXIT_OK;
    qf_status s = qf_arch_map(*out, NULL, &err);
    if (s == QF_STATUS_UNSUPPORTED && !qf_cli_given(cmd, QF_CLI_QUIET)) {
        fprintf(stderr, "note: %s: %s; tensors keep their source names\n", qf_cli_safe(in), qf_cli_safe(err.message));
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
        fprintf(stderr, "qforge convert: --dtype must be f32, f16 or bf16, not '%s'\n", qf_cli_safe(dt->value));
        return QF_EXIT_USAGE;
    }
    const char *out_path = qf_cli_find(&convert_command, "out")->value;
    qf_cli_option *fmt = qf_cli_find(&convert_command, "format");
    size_t olen = strlen(out_path);
    bool safetensors = olen >= 12 && strcmp(out_path + olen - 12, ".safetensors") == 0;
    if (fmt->seen) {
        if (strcmp(fmt->value, "safetensors") != 0 && strcmp(fmt->value, "qf") != 0) {
            fprintf(stderr, "qforge convert: --format must be qf or safetensors, not '%s'\n", qf_cli_safe(fmt->value));
            return QF_EXIT_USAGE;
        }
        safetensors = strcmp(fmt->value, "safetensors") == 0;
    }
    double t0 = qf_cli_now();
    qf_model *src = NULL, *dst = NULL;
    if ((rc = read_input(&convert_command, pos[0], 0, &src))) return rc;
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
        if (!qf_cli_given(&convert_command, QF_CLI_QUIET))
            print_summary(qf_cli_given(&convert_command, QF_CLI_JSON), "convert", pos[0], out_path, src, src, true,
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

/* Every --fp32 value, in order (the parser keeps only the last one). */
static size_t collect_fp32(int argc, char **argv, const char **out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < argc && n < cap; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--fp32") == 0 && i + 1 < argc) out[n++] = argv[++i];
        else if (strncmp(argv[i], "--fp32=", 7) == 0) out[n++] = argv[i] + 7;
    }
    return n;
}

static int quantize_static(qf_cli_command *cmd, int argc, char **argv, const char *in, double t0)
{
    qf_cli_option *o = qf_cli_find(cmd, "stats");
    if (!o->seen) {
        fprintf(stderr, "qforge quantize: --mode static needs --stats STATS.qfc (from 'qforge calibrate')\n");
        return QF_EXIT_USAGE;
    }
    const char *stats_path = o->value;
    qf_static_params sp = qf_static_params_default();
    o = qf_cli_find(cmd, "method");
    if (o->seen && !qf_calib_method_from_name(o->value, &sp.method)) {
        fprintf(stderr, "qforge quantize: --method must be minmax, percentile, entropy or mse, not '%s'\n", qf_cli_safe(o->value));
        return QF_EXIT_USAGE;
    }
    struct {
        const char *name;
        double *dst;
        double lo, hi;
        bool open_lo;
    } reals[] = {{"percentile", &sp.percentile, 0, 100, true}, {"smooth", &sp.smooth_alpha, 0, 1, true}};
    for (size_t i = 0; i < 2; i++) {
        o = qf_cli_find(cmd, reals[i].name);
        if (!o->seen) continue;
        char *end = NULL;
        double v = strtod(o->value, &end);
        if (!end || *end || !(v > reals[i].lo) || !(v <= reals[i].hi)) {
            fprintf(stderr, "qforge quantize: --%s takes a number in (%g, %g], not '%s'\n", reals[i].name, reals[i].lo,
                    reals[i].hi, qf_cli_safe(o->value));
            return QF_EXIT_USAGE;
        }
        *reals[i].dst = v;
    }
    if (qf_cli_find(cmd, "percentile")->seen && sp.method != QF_CALIB_METHOD_PERCENTILE) {
        fprintf(stderr, "qforge quantize: --percentile goes with --method percentile\n");
        return QF_EXIT_USAGE;
    }
    const char *patterns[QF_STATIC_MAX_FP32_PATTERNS + 1];
    size_t npat = collect_fp32(argc, argv, patterns, QF_STATIC_MAX_FP32_PATTERNS + 1);
    if (npat > QF_STATIC_MAX_FP32_PATTERNS) {
        fprintf(stderr, "qforge quantize: at most %d --fp32 patterns\n", QF_STATIC_MAX_FP32_PATTERNS);
        return QF_EXIT_USAGE;
    }
    sp.fp32_patterns = patterns;
    sp.fp32_pattern_count = npat;
    if (qf_cli_find(cmd, "no-embedding-quant")->seen) {
        fprintf(stderr, "qforge quantize: --mode static keeps the word embedding FP32 already\n");
        return QF_EXIT_USAGE;
    }
    long threads = sp.threads;
    if (!qf_cli_number(cmd, QF_CLI_THREADS, &threads)) return QF_EXIT_USAGE;
    sp.threads = (int)threads;
    bool has_max_drop = qf_cli_given(cmd, QF_CLI_MAX_DROP);
    qf_cli_option *eval = qf_cli_find(cmd, "eval");
    double budget = 0;
    long sens_rows = 512;
    if (has_max_drop != eval->seen) {
        fprintf(stderr, "qforge quantize: --max-drop and --eval go together\n");
        return QF_EXIT_USAGE;
    }
    if (qf_cli_find(cmd, "job")->seen && !has_max_drop) {
        fprintf(stderr, "qforge quantize: --job names what --max-drop measures; it goes with --max-drop and --eval\n");
        return QF_EXIT_USAGE;
    }
    if (has_max_drop) {
        if (!qf_cli_points(cmd, QF_CLI_MAX_DROP, &budget)) return QF_EXIT_USAGE;
        o = qf_cli_find(cmd, "sensitivity-rows");
        if (o->seen && !qf_cli_int(cmd, o, 1, QF_DATASET_MAX_ROWS, &sens_rows)) return QF_EXIT_USAGE;
    }

    qf_model *src = NULL, *dst = NULL;
    int rc = read_input(cmd, in, sp.threads, &src);
    if (rc) return rc;
    const char *fmt = qf_model_get_meta(src, "source.format");
    qf_cli_option *graph = qf_cli_find(cmd, "onnx-graph");
    bool onnx_in = fmt && strcmp(fmt, "onnx") == 0;
    bool rewrite = graph->seen ? strcmp(graph->value, "rewrite") == 0 : onnx_in;
    if (qf_cli_find(cmd, "onnx-out")->seen && rewrite && (!onnx_in || sp.smooth_alpha > 0)) {
        if (!onnx_in)
            fprintf(stderr, "qforge quantize: --onnx-graph rewrite needs an ONNX input (%s is %s)\n", qf_cli_safe(in),
                    fmt ? fmt : "not one");
        else
            fprintf(stderr, "qforge quantize: rewriting the source ONNX graph cannot carry --smooth (the rewrite has no "
                            "activation Mul); --onnx-graph export can\n");
        qf_model_destroy(src);
        return QF_EXIT_USAGE;
    }
    qf_error err;
    qf_error_clear(&err);
    qf_calib_stats *stats = NULL;
    if (qf_calib_stats_read(stats_path, &stats, &err)) {
        qf_model_destroy(src);
        return qf_cli_fail(&err);
    }
    if (!has_max_drop) {
        if (qf_model_quantize_static(src, stats, &sp, &dst, &err)) rc = qf_cli_fail(&err);
    } else {
        qf_cli_fallback_inputs fi = {in, eval->value, src, stats, &sp, budget, sens_rows};
        rc = qf_cli_quantize_fallback(cmd, &fi, &dst);
    }
    qf_calib_stats_destroy(stats);
    if (rc) {
        qf_model_destroy(dst);
        qf_model_destroy(src);
        return rc;
    }
    return write_and_report(cmd, in, src, dst, t0);
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
    if (!mode->seen || (strcmp(mode->value, "dynamic") != 0 && strcmp(mode->value, "static") != 0)) {
        fprintf(stderr, "qforge quantize: --mode must be 'dynamic' or 'static'%s%s%s\nTry 'qforge quantize --help'.\n",
                mode->seen ? " (got '" : "", mode->seen ? mode->value : "", mode->seen ? "')" : "");
        return QF_EXIT_USAGE;
    }
    qf_cli_option *graph_opt = qf_cli_find(&quantize_command, "onnx-graph");
    if (graph_opt->seen && strcmp(graph_opt->value, "rewrite") != 0 && strcmp(graph_opt->value, "export") != 0) {
        fprintf(stderr, "qforge quantize: --onnx-graph must be rewrite or export, not '%s'\n", qf_cli_safe(graph_opt->value));
        return QF_EXIT_USAGE;
    }
    if (graph_opt->seen && !qf_cli_find(&quantize_command, "onnx-out")->seen) {
        fprintf(stderr, "qforge quantize: --onnx-graph goes with --onnx-out\n");
        return QF_EXIT_USAGE;
    }
    if (strcmp(mode->value, "static") == 0) return quantize_static(&quantize_command, argc, argv, pos[0], qf_cli_now());
    static const char *const static_only[] = {"stats", "method", "percentile", "smooth", "fp32", "max-drop", "eval",
                                              "sensitivity-rows", "tokenizer", "job"};
    for (size_t i = 0; i < sizeof static_only / sizeof static_only[0]; i++)
        if (qf_cli_find(&quantize_command, static_only[i])->seen) {
            fprintf(stderr, "qforge quantize: --%s goes with --mode static\n", static_only[i]);
            return QF_EXIT_USAGE;
        }
    qf_quantize_params qp = qf_quantize_params_default();
    qf_cli_progress progress;
    qf_cli_progress_init(&progress, "quantize", true, qf_cli_given(&quantize_command, QF_CLI_QUIET));
    qp.progress = qf_cli_progress_update;
    qp.progress_ctx = &progress;
    qp.per_tensor = qf_cli_find(&quantize_command, "per-tensor")->seen;
    qp.quantize_word_embeddings = !qf_cli_find(&quantize_command, "no-embedding-quant")->seen;
    long v = qp.threads;
    if (!qf_cli_number(&quantize_command, QF_CLI_THREADS, &v)) return QF_EXIT_USAGE;
    qp.threads = (int)v;
    qf_cli_option *o = qf_cli_find(&quantize_command, "min-elements");
    if (o->seen) {
        if (!qf_cli_int(&quantize_command, o, 0, 1L << 40, &v)) return QF_EXIT_USAGE;
        qp.min_elements = (uint64_t)v;
    }
    double t0 = qf_cli_now();
    qf_model *src = NULL, *dst = NULL;
    if ((rc = read_input(&quantize_command, pos[0], qp.threads, &src))) return rc;
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
    if (!qf_cli_find(&quantize_command, "onnx-out")->seen) {
        /* lazy: each int8 tensor is made as the writer reaches it, one in memory at a time */
        const char *out = qf_cli_find(&quantize_command, "out")->value;
        qf_qfile_write_params wp = qf_qfile_write_params_default();
        qf_status st = qf_model_quantize_dynamic_lazy(src, &qp, &dst, &err);
        if (!st) st = qf_qfile_write(dst, out, &wp, &err);
        qf_model_destroy(dst);
        dst = NULL;
        if (st) {
            qf_model_destroy(src);
            return qf_cli_fail(&err);
        }
        if (!qf_cli_given(&quantize_command, QF_CLI_QUIET)) {
            /* the summary counts the written file's tensors: open it (header + directory only) */
            qf_read_params rp = qf_read_params_default();
            if (qf_model_read(out, &rp, &dst, &err)) {
                qf_model_destroy(src);
                return qf_cli_fail(&err);
            }
            print_summary(qf_cli_given(&quantize_command, QF_CLI_JSON), "quantize", pos[0], out, src, dst, false,
                          qf_cli_now() - t0);
        }
        qf_model_destroy(dst);
        qf_model_destroy(src);
        return QF_EXIT_OK;
    }
    if (qf_model_quantize_dynamic(src, &qp, &dst, &err)) {
        qf_model_destroy(src);
        return qf_cli_fail(&err);
    }
    return write_and_report(&quantize_command, pos[0], src, dst, t0);
}
