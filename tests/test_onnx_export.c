/*
 * tests/test_onnx_export.c — qf_onnx_export, the encoder graph written from scratch. What ONNX
 * Runtime computes from it is checked by tests/test_onnx_export.sh (against transformers' logits);
 * here, without ONNX Runtime:
 *
 *   - round trip of every family (BERT gelu, RoBERTa gelu_new with its one token-type row,
 *     DistilBERT relu, ELECTRA with embeddings_project, a base model without head; f16 weights):
 *     qforge's own ONNX reader reads the export back, every canonical tensor comes back with the
 *     same values (weights transposed to [in, out] and back), and the reference encoder gives
 *     bit-identical logits and hidden states on both;
 *   - the graph's inputs and outputs, opset and provenance (through the reader's onnx.* metadata);
 *   - the dynamic form: int8 weights as MatMulInteger, the word embedding gathered as int8;
 *   - the static QDQ form from calibrated input scales ("<stem>.input::scale", SmoothQuant vector
 *     "<stem>.input::smooth"): a Q/DQ pair per projection input (Q/K/V agreeing on the scale),
 *     per-channel weight DequantizeLinear,
 *     bad scales refused naming the tensor;
 *   - refusals, each with its code and object: no model / path, unknown mode, no config.json,
 *     dynamic export of a float model, an int8 weight whose scale tensor is gone; a failed export
 *     leaves an existing destination file as it was;
 *   - every graph written here passes qforge's structural check (writers/onnx/onnx_check.h: SSA,
 *     inputs defined in order, unique names, no unused initializer), RoBERTa's included;
 *   - the rewrite of an ONNX source (qf_onnx_write_dynamic / _static) on fixtures/onnx-rewrite/
 *     (fixtures/gen/make_onnx_rewrite_fixtures.py): sources that already use the names the rewriter
 *     generates, a quantized weight that is also a graph output, read by a subgraph, or read both
 *     by a Gather and a tied Gemm(transB = 1) or listed as a graph input, an unused initializer, a
 *     one-layer attention block;
 *     each output passes the check,
 *     onnx.checker (full_check) and runs in ONNX Runtime without warnings, close to the source's
 *     outputs; invalid graphs are refused by the check naming the value, and a rewrite of an
 *     invalid source fails naming it without writing anything.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qforge/quantize.h"
#include "qforge/readers.h"
#include "qforge/verify.h"
#include "qforge/writers.h"
#include "support/synth_encoder.h"
#include "writers/onnx/onnx_check.h"

static char g_dir[512];

static void ok(qf_status s, const qf_error *err)
{
    if (s) {
        char line[1024];
        qf_error_format(err, line, sizeof line);
        fail_msg("%s", line);
    }
}

static void expect(qf_status got, const qf_error *err, qf_status code, const char *object)
{
    char line[1024];
    qf_error_format(err, line, sizeof line);
    print_message("  %s\n", line);
    assert_int_equal(got, code);
    assert_int_equal(err->code, code);
    if (object) assert_string_equal(err->object, object);
}

static void path_in(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", g_dir, name); }

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* Exports `m` into folder `name` with its config.json beside, reads it back (mapped). */
static qf_model *export_and_read(qf_model *m, const char *name, const qf_onnx_export_params *p)
{
    char dir[700], onnx[800], cfg[800];
    path_in(dir, sizeof dir, name);
    mkdir(dir, 0755);
    snprintf(onnx, sizeof onnx, "%s/model.onnx", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_text(cfg, qf_model_config_json(m));
    qf_error err;
    qf_error_clear(&err);
    ok(qf_onnx_export(m, onnx, p, &err), &err);
    ok(qf_onnx_check_file(onnx, &err), &err);
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_model *back = NULL;
    ok(qf_model_read(onnx, &rp, &back, &err), &err);
    return back;
}

static float value_at(const qf_tensor *t, uint64_t i)
{
    switch (t->dtype) {
    case QF_DTYPE_F32: return ((const float *)t->data)[i];
    case QF_DTYPE_F16: return qf_f16_to_f32(((const uint16_t *)t->data)[i]);
    default: fail_msg("unexpected dtype %s of '%s'", qf_dtype_name(t->dtype), t->name); return 0;
    }
}

/* Every canonical tensor of `src` is in `back` as f32 with the same shape and values. */
static void same_tensors(const qf_model *src, const qf_model *back)
{
    size_t checked = 0;
    for (size_t i = 0; i < qf_model_tensor_count(src); i++) {
        const qf_tensor *t = qf_model_tensor(src, i);
        if (strncmp(t->name, "embeddings.", 11) != 0 && strncmp(t->name, "layers.", 7) != 0 &&
            strncmp(t->name, "pooler.", 7) != 0 && strncmp(t->name, "head.", 5) != 0)
            continue; /* position_ids buffers, MLM heads: not part of the encoder */
        const qf_tensor *b = qf_model_find(back, t->name, NULL);
        if (!b) fail_msg("'%s' is not in the exported graph", t->name);
        assert_int_equal(b->dtype, QF_DTYPE_F32);
        assert_int_equal(b->rank, t->rank);
        for (int32_t d = 0; d < t->rank; d++) assert_int_equal(b->shape[d], t->shape[d]);
        uint64_t n = b->nbytes / 4;
        for (uint64_t k = 0; k < n; k++)
            if (value_at(t, k) != ((const float *)b->data)[k])
                fail_msg("'%s'[%llu]: %g exported as %g", t->name, (unsigned long long)k, (double)value_at(t, k),
                         (double)((const float *)b->data)[k]);
        checked++;
    }
    assert_true(checked >= 20);
}

/* Runs the reference encoder (FP32, scalar kernels) on a fixed padded batch. */
static void run_encoder(qf_model *m, float **logits, float **hidden, int64_t *n_logits, int64_t *n_hidden)
{
    enum { B = 3, T = 9 };
    int32_t ids[B * T] = {2, 7, 11, 13, 17, 19, 23, 3, 0, 2, 29, 31, 37, 3, 0, 0, 0, 0, 2, 41, 43, 47, 5, 6, 7, 8, 3};
    int32_t mask[B * T], types[B * T];
    const qf_tensor *type = qf_model_find(m, "embeddings.token_type.weight", NULL);
    for (int i = 0; i < B * T; i++) {
        mask[i] = ids[i] != 0 || i % T == 0;
        types[i] = type && type->shape[0] > 1 && i % T >= 4 ? 1 : 0;
    }
    qf_encoder_params ep = qf_encoder_params_default();
    ep.reference_kernels = true;
    ep.threads = 1;
    ep.max_batch = B;
    ep.max_length = T;
    qf_encoder *e = NULL;
    qf_error err;
    qf_error_clear(&err);
    ok(qf_encoder_create(m, &ep, &e, &err), &err);
    qf_encoder_batch in = {B, T, ids, mask, types};
    qf_encoder_output out;
    ok(qf_encoder_run(e, &in, &out, &err), &err);
    *n_logits = out.logits ? out.batch * out.num_labels : 0;
    *n_hidden = out.batch * out.length * out.hidden_size;
    *logits = *n_logits ? malloc((size_t)*n_logits * 4) : NULL;
    *hidden = malloc((size_t)*n_hidden * 4);
    if (*n_logits) memcpy(*logits, out.logits, (size_t)*n_logits * 4);
    memcpy(*hidden, out.last_hidden, (size_t)*n_hidden * 4);
    qf_encoder_destroy(e);
}

static void round_trip(synth_encoder_opts o, const char *name, bool to_f16)
{
    qf_model *m = NULL, *src = NULL;
    assert_int_equal(synth_encoder_model(&o, &src), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    ok(qf_arch_map(src, NULL, &err), &err);
    if (to_f16) ok(qf_model_convert_dtype(src, QF_DTYPE_F16, &m, &err), &err);
    else m = qf_model_retain(src);
    qf_model *back = export_and_read(m, name, NULL);
    same_tensors(m, back);
    /* the graph's interface, as the reader records it */
    const qf_arch *a = NULL;
    qf_arch arch;
    ok(qf_arch_map(m, &arch, &err), &err);
    a = &arch;
    const char *want_in = a->type_vocab_size > 1 ? "input_ids, attention_mask, token_type_ids" : "input_ids, attention_mask";
    assert_string_equal(qf_model_get_meta(back, "onnx.inputs"), want_in);
    assert_string_equal(qf_model_get_meta(back, "onnx.outputs"), o.labels ? "logits, last_hidden_state" : "last_hidden_state");
    assert_string_equal(qf_model_get_meta(back, "onnx.opsets"), "ai.onnx 17");
    assert_string_equal(qf_model_get_meta(back, "onnx.meta.qforge.export"), "fp32");
    assert_string_equal(qf_model_get_meta(back, "onnx.meta.qforge.family"), qf_arch_family_name(a->family));
    const char *ops = qf_model_get_meta(back, "onnx.ops");
    assert_non_null(ops);
    assert_non_null(strstr(ops, "LayerNormalization"));
    assert_non_null(strstr(ops, "Softmax"));
    if (a->activation == QF_ARCH_ACTIVATION_GELU) assert_non_null(strstr(ops, "Erf"));
    if (a->activation == QF_ARCH_ACTIVATION_GELU_TANH) assert_non_null(strstr(ops, "Tanh"));
    if (a->activation == QF_ARCH_ACTIVATION_RELU) assert_non_null(strstr(ops, "Relu"));
    if (a->position_padding_idx >= 0) assert_non_null(strstr(ops, "CumSum"));
    else assert_non_null(strstr(ops, "Slice"));
    /* MPNet's relative-position bias: a Range over the sequence indexes the bucket initializer */
    if (a->desc->attention_bias == QF_ARCH_ATTENTION_BIAS_RELATIVE_BUCKETS) assert_non_null(strstr(ops, "Range"));
    /* the encoder computes the same bits from both */
    float *l1, *h1, *l2, *h2;
    int64_t nl1, nh1, nl2, nh2;
    run_encoder(m, &l1, &h1, &nl1, &nh1);
    run_encoder(back, &l2, &h2, &nl2, &nh2);
    assert_int_equal(nl1, nl2);
    assert_int_equal(nh1, nh2);
    assert_int_equal(nl1, o.labels ? 3 * o.labels : 0);
    if (nl1) assert_memory_equal(l1, l2, (size_t)nl1 * 4);
    assert_memory_equal(h1, h2, (size_t)nh1 * 4);
    free(l1);
    free(h1);
    free(l2);
    free(h2);
    qf_model_destroy(back);
    qf_model_destroy(m);
    qf_model_destroy(src);
}

static void test_round_trip_bert(void **state)
{
    (void)state;
    round_trip(synth_encoder_opts_default(QF_ARCH_FAMILY_BERT), "bert", false);
}

static void test_round_trip_roberta(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_ROBERTA);
    o.act = "gelu_new";
    round_trip(o, "roberta", false);
}

static void test_round_trip_distilbert(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_DISTILBERT);
    o.act = "relu";
    round_trip(o, "distilbert", false);
}

static void test_round_trip_electra(void **state)
{
    (void)state;
    round_trip(synth_encoder_opts_default(QF_ARCH_FAMILY_ELECTRA), "electra", false);
}

static void test_round_trip_mpnet(void **state)
{
    (void)state;
    round_trip(synth_encoder_opts_default(QF_ARCH_FAMILY_MPNET), "mpnet", false);
}

/* ALBERT: 3 layers running one group of weights; the graph holds each weight once */
static void test_round_trip_albert(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_ALBERT);
    o.layers = 3;
    o.groups = 1;
    round_trip(o, "albert", false);
}

static void test_round_trip_base_f16(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    o.labels = 0;
    o.act = "gelu_pytorch_tanh";
    round_trip(o, "base_f16", true);
}

/* Dynamic: the reader sees ONNX Runtime's quantized form (and refuses to quantize it again). */
static void test_dynamic(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    o.hidden = 64;
    o.intermediate = 128;
    qf_model *src = NULL, *q = NULL;
    assert_int_equal(synth_encoder_model(&o, &src), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    ok(qf_arch_map(src, NULL, &err), &err);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 1;
    ok(qf_model_quantize_dynamic(src, &qp, &q, &err), &err);
    qf_onnx_export_params p = qf_onnx_export_params_default();
    p.mode = QF_ONNX_EXPORT_MODE_DYNAMIC;
    p.last_hidden_state = false;
    p.command_line = "qforge quantize x --onnx-out y";
    qf_model *back = export_and_read(q, "dynamic", &p);
    const char *ops = qf_model_get_meta(back, "onnx.ops");
    print_message("  ops: %s\n", ops);
    /* 6 projections x 2 layers + pooler + classifier, word embedding as int8 rows */
    assert_non_null(strstr(ops, "MatMulInteger 14"));
    assert_non_null(strstr(ops, "DynamicQuantizeLinear 10")); /* q/k/v share one per layer */
    assert_non_null(strstr(ops, "MatMul 4,")); /* only QKᵀ and P·V stay float */
    assert_string_equal(qf_model_get_meta(back, "onnx.outputs"), "logits");
    assert_string_equal(qf_model_get_meta(back, "onnx.meta.qforge.command"), "qforge quantize x --onnx-out y");
    assert_non_null(strstr(qf_model_get_meta(back, "onnx.meta.qforge.export"), "dynamic"));
    const qf_tensor *wq = qf_model_find(back, "layers.0.attn.q.weight_quantized", NULL);
    const qf_tensor *w = qf_model_find(q, "layers.0.attn.q.weight", NULL);
    assert_non_null(wq);
    assert_int_equal(wq->dtype, QF_DTYPE_I8);
    /* stored [in, out]: element (c, r) is the [out, in] weight's (r, c) */
    int64_t rows = w->shape[0], cols = w->shape[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            assert_int_equal(((const int8_t *)wq->data)[c * rows + r], ((const int8_t *)w->data)[r * cols + c]);
    const qf_tensor *word = qf_model_find(back, "embeddings.word.weight_quantized", NULL);
    assert_non_null(word);
    assert_int_equal(word->dtype, QF_DTYPE_I8);
    qf_model *again = NULL;
    qf_error_clear(&err);
    assert_int_not_equal(qf_model_quantize_dynamic(back, &qp, &again, &err), QF_STATUS_OK);
    qf_model_destroy(back);
    qf_model_destroy(q);
    qf_model_destroy(src);
}

static void release_model(void *m) { qf_model_destroy(m); }

/* A copy of `q` (borrowing its data) without tensor `skip`. */
static qf_model *copy_without(qf_model *q, const char *skip)
{
    qf_model *c = NULL;
    qf_error err;
    qf_error_clear(&err);
    ok(qf_model_create(&c, &err), &err);
    ok(qf_model_keep(c, qf_model_retain(q), release_model, &err), &err);
    for (size_t i = 0; i < qf_model_tensor_count(q); i++) {
        const qf_tensor *t = qf_model_tensor(q, i);
        if (strcmp(t->name, skip) == 0) continue;
        size_t idx;
        ok(qf_model_add_tensor(c, t->name, t->source_name, t->dtype, t->rank, t->shape, t->data, t->nbytes, &idx, &err),
           &err);
        if (t->quant.scheme != QF_QUANT_NONE)
            ok(qf_model_set_quant(c, idx, t->quant.scheme, t->quant.axis, t->quant.scale_name, t->quant.zero_point_name,
                                  &err),
               &err);
    }
    const char *cfg = qf_model_config_json(q);
    if (cfg) ok(qf_model_set_config_json(c, cfg, strlen(cfg), &err), &err);
    return c;
}

/* A copy of `q` with calibrated input scales on every projection of every layer (Q, K, V share
 * one), and a smoothing vector on layers.1.ffn.up when `smooth`; `bad` spoils one of them. */
typedef enum { STATIC_GOOD, STATIC_NEGATIVE, STATIC_QKV_DISAGREE, STATIC_SMOOTH_WIDTH } static_case;

static qf_model *with_static_scales(qf_model *q, bool smooth, static_case bad)
{
    qf_model *c = copy_without(q, "");
    qf_error err;
    qf_error_clear(&err);
    static const char *parts[] = {"attn.q", "attn.k", "attn.v", "attn.out", "ffn.up", "ffn.down"};
    static const float scales[] = {0.02f, 0.02f, 0.02f, 0.01f, 0.03f, 0.05f};
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < 6; j++) {
            char name[96];
            snprintf(name, sizeof name, "layers.%d.%s.input::scale", l, parts[j]);
            float *v = NULL;
            ok(qf_model_alloc(c, 4, (void **)&v, &err), &err);
            *v = scales[j] * (float)(l + 1);
            if (bad == STATIC_NEGATIVE && l == 0 && j == 0) *v = -1;
            if (bad == STATIC_QKV_DISAGREE && l == 0 && j == 1) *v = 0.5f;
            int64_t one = 1;
            ok(qf_model_add_tensor(c, name, NULL, QF_DTYPE_F32, 1, &one, v, 4, NULL, &err), &err);
        }
    if (smooth) {
        const qf_tensor *up = qf_model_find(c, "layers.1.ffn.up.weight", NULL);
        int64_t k = up->shape[1] + (bad == STATIC_SMOOTH_WIDTH ? 1 : 0);
        float *v = NULL;
        ok(qf_model_alloc(c, (uint64_t)k * 4, (void **)&v, &err), &err);
        for (int64_t i = 0; i < k; i++) v[i] = 0.5f + (float)i / (float)k;
        ok(qf_model_add_tensor(c, "layers.1.ffn.up.input::smooth", NULL, QF_DTYPE_F32, 1, &k, v, (uint64_t)k * 4, NULL,
                               &err),
           &err);
    }
    return c;
}

/* Static QDQ: a QuantizeLinear -> DequantizeLinear pair per projection input, a per-channel
 * DequantizeLinear per int8 weight, the smoothing Mul before its QuantizeLinear; the head's int8
 * weights without input scale are dequantized to float. Bad scales are refused by name. */
static void test_static(void **state)
{
    (void)state;
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    o.hidden = 64;
    o.intermediate = 128;
    qf_model *src = NULL, *q = NULL;
    assert_int_equal(synth_encoder_model(&o, &src), QF_STATUS_OK);
    qf_error err;
    qf_error_clear(&err);
    ok(qf_arch_map(src, NULL, &err), &err);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 1;
    qp.quantize_word_embeddings = false;
    ok(qf_model_quantize_dynamic(src, &qp, &q, &err), &err);
    qf_onnx_export_params p = qf_onnx_export_params_default();
    p.mode = QF_ONNX_EXPORT_MODE_STATIC;
    qf_model *st = with_static_scales(q, true, STATIC_GOOD);
    qf_model *back = export_and_read(st, "static", &p);
    const char *ops = qf_model_get_meta(back, "onnx.ops");
    print_message("  ops: %s\n", ops);
    assert_non_null(strstr(ops, "QuantizeLinear 12,"));   /* a Q/DQ pair per projection input */
    assert_non_null(strstr(ops, "DequantizeLinear 24,")); /* one per projection input + 12 weights */
    assert_non_null(strstr(ops, "MatMul 18,"));           /* 12 projections, 4 attention, pooler, classifier */
    assert_null(strstr(ops, "MatMulInteger"));
    assert_non_null(strstr(qf_model_get_meta(back, "onnx.meta.qforge.export"), "static QDQ"));
    const qf_tensor *xs = qf_model_find(back, "layers.0.ffn.up.input_scale", NULL);
    assert_non_null(xs);
    assert_int_equal(xs->rank, 0);
    assert_true(((const float *)xs->data)[0] == 0.03f);
    /* the pooler stayed FP32: its weight comes back dequantized under its own name */
    const qf_tensor *pw = qf_model_find(back, "pooler.weight", NULL);
    assert_non_null(pw);
    assert_int_equal(pw->dtype, QF_DTYPE_F32);
    qf_model_destroy(back);
    qf_model_destroy(st);

    char out[700];
    path_in(out, sizeof out, "static_refused.onnx");
    st = with_static_scales(q, false, STATIC_NEGATIVE);
    qf_error_clear(&err);
    expect(qf_onnx_export(st, out, &p, &err), &err, QF_STATUS_INVALID_ARGUMENT, "layers.0.attn.q.input::scale");
    qf_model_destroy(st);
    st = with_static_scales(q, false, STATIC_QKV_DISAGREE);
    qf_error_clear(&err);
    expect(qf_onnx_export(st, out, &p, &err), &err, QF_STATUS_INVALID_ARGUMENT, "layers.0.attn.k");
    qf_model_destroy(st);
    st = with_static_scales(q, true, STATIC_SMOOTH_WIDTH);
    qf_error_clear(&err);
    expect(qf_onnx_export(st, out, &p, &err), &err, QF_STATUS_SHAPE, "layers.1.ffn.up.input::smooth");
    qf_model_destroy(st);
    qf_error_clear(&err);
    expect(qf_onnx_export(q, out, &p, &err), &err, QF_STATUS_INVALID_ARGUMENT, NULL); /* no scales at all */
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0);
    qf_model_destroy(q);
    qf_model_destroy(src);
}

static void test_refusals(void **state)
{
    (void)state;
    char out[700], keep[700];
    path_in(out, sizeof out, "refused.onnx");
    path_in(keep, sizeof keep, "keep.onnx");
    unlink(out);
    write_text(keep, "previous contents");
    synth_encoder_opts o = synth_encoder_opts_default(QF_ARCH_FAMILY_BERT);
    qf_model *src = NULL, *q = NULL;
    assert_int_equal(synth_encoder_model(&o, &src), QF_STATUS_OK);
    qf_error err;

    /* the exporter reads a mapped model and never renames: a model with source names is refused,
     * naming the first tensor the family would rename */
    qf_error_clear(&err);
    expect(qf_onnx_export(src, keep, NULL, &err), &err, QF_STATUS_INVALID_ARGUMENT, "bert.embeddings.word_embeddings.weight");
    assert_non_null(strstr(err.message, "not mapped"));
    assert_int_equal(qf_arch_map(src, NULL, NULL), QF_STATUS_OK);

    qf_error_clear(&err);
    expect(qf_onnx_export(NULL, out, NULL, &err), &err, QF_STATUS_INVALID_ARGUMENT, NULL);
    qf_error_clear(&err);
    expect(qf_onnx_export(src, NULL, NULL, &err), &err, QF_STATUS_INVALID_ARGUMENT, NULL);

    qf_onnx_export_params p = qf_onnx_export_params_default();
    p.mode = QF_ONNX_EXPORT_MODE_COUNT_;
    qf_error_clear(&err);
    expect(qf_onnx_export(src, out, &p, &err), &err, QF_STATUS_INVALID_ARGUMENT, NULL);

    /* a float model has nothing for the dynamic form */
    p.mode = QF_ONNX_EXPORT_MODE_DYNAMIC;
    qf_error_clear(&err);
    expect(qf_onnx_export(src, keep, &p, &err), &err, QF_STATUS_INVALID_ARGUMENT, NULL);
    assert_non_null(strstr(err.message, "no linear layer"));

    /* no config.json: the family is unknown */
    qf_model *bare = NULL;
    qf_error_clear(&err);
    ok(qf_model_create(&bare, &err), &err);
    float one = 1;
    int64_t shape[1] = {1};
    ok(qf_model_add_tensor(bare, "w", NULL, QF_DTYPE_F32, 1, shape, &one, 4, NULL, &err), &err);
    qf_error_clear(&err);
    qf_status s = qf_onnx_export(bare, keep, NULL, &err);
    print_message("  no config: %s\n", err.message);
    assert_int_not_equal(s, QF_STATUS_OK);
    assert_int_equal(err.code, s);
    qf_model_destroy(bare);

    /* an int8 weight whose scale tensor is gone */
    qf_error_clear(&err);
    ok(qf_arch_map(src, NULL, &err), &err);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 1;
    ok(qf_model_quantize_dynamic(src, &qp, &q, &err), &err);
    qf_model *c = copy_without(q, "layers.1.ffn.down.weight::scale");
    qf_error_clear(&err);
    expect(qf_onnx_export(c, keep, NULL, &err), &err, QF_STATUS_SHAPE, "layers.1.ffn.down.weight::scale");
    qf_model_destroy(c);

    /* nothing was written: no new file, the existing one untouched */
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    FILE *f = fopen(keep, "rb");
    char text[64] = {0};
    assert_non_null(f);
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    assert_string_equal(text, "previous contents");

    /* and the same quantized model exports fine in both modes */
    qf_error_clear(&err);
    ok(qf_onnx_export(q, out, NULL, &err), &err);
    ok(qf_onnx_export(q, out, &p, &err), &err);
    qf_model_destroy(q);
    qf_model_destroy(src);
}

/* ---- rewrite of an ONNX source --------------------------------------------------------- */

#define REWRITE_DIR QF_SOURCE_DIR "/fixtures/onnx-rewrite"

static bool have_path(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Reads fixture `name` and quantizes every 2-D ".weight" (no size floor). */
static qf_model *rewrite_source(const char *name, qf_model **src)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.onnx", REWRITE_DIR, name);
    qf_read_params rp = qf_read_params_default();
    rp.hash_source = false;
    qf_error err;
    qf_error_clear(&err);
    ok(qf_model_read(path, &rp, src, &err), &err);
    qf_quantize_params qp = qf_quantize_params_default();
    qp.threads = 1;
    qp.min_elements = 1;
    qf_model *q = NULL;
    ok(qf_model_quantize_dynamic(*src, &qp, &q, &err), &err);
    return q;
}

/* onnx.checker (full_check) and `python_assert` (a Python expression over m, the loaded output, and
 * names, its initializer names) pass; ONNX Runtime runs source and output without a warning about
 * the output, and the outputs agree within `tolerance` of the largest output value (int8 error; the
 * made-up static scales clip, a weight in the wrong layout is off by the order of the values). */
static void external_checks(const char *source, const char *out, const char *python_assert, double tolerance)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx,sys; m=onnx.load('%s'); onnx.checker.check_model(m, full_check=True); "
             "names=[i.name for i in m.graph.initializer]; sys.exit(0 if (%s) else 1)\"",
             out, python_assert);
    assert_int_equal(system(cmd), 0);
    if (!have_path(QF_SOURCE_DIR "/node_modules/onnxruntime-node")) {
        print_message("  onnxruntime-node absent: %s not run in ORT\n", out);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "cd %s && node tests/ort_compare.mjs %s %s --int-range 16 > %s.ort.json 2> %s.ort.err && "
             "test $(sed '/^--- source/q' %s.ort.err | grep -c -e 'W:onnxruntime' -e 'E:onnxruntime') -eq 0 && "
             "/usr/bin/python3 -c \"import json,sys; r=json.load(open('%s.ort.json')); print('  ORT', r); "
             "sys.exit(0 if r['max_abs_diff'] <= %g * r['max_abs_ref'] + 1e-3 else 1)\"",
             QF_SOURCE_DIR, source, out, out, out, out, out, tolerance);
    assert_int_equal(system(cmd), 0);
}

/* Dynamic and static rewrites of the fixtures whose names collide with the generated ones, whose
 * quantized weight is also read by a graph output, a subgraph or a second layout. */
static void test_rewrite_collisions(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool qdq;            /* has a projection the static form rewrites */
        const char *dynamic; /* Python assertion on the dynamic output */
        const char *qdq_assert;
    } cases[] = {
        {"collide", true,
         "'w.weight' in names and 'w.weight' in [o.name for o in m.graph.output] and 'w.weight_quantized_1' in names "
         "and 'w.weight_quantized' in names and any(n.name == 'x_QuantizeLinear_1' for n in m.graph.node)",
         "'w.weight' in names and 'x_scale_2' in names and 'w.weight_DequantizeLinear_Output_1' in "
         "[o for n in m.graph.node for o in n.output]"},
        {"tied", true,
         "'emb.word_embeddings.weight' not in names and 'emb.word_embeddings.weight_quantized' in names and "
         "'emb.word_embeddings.weight_quantized_1' in names and 'emb.word_embeddings.weight_zero_point' in names and "
         "'qforge_unsqueeze_axes_last_1' in names",
         "'emb.word_embeddings.weight' in names"},
        {"subgraph", true, "'w.weight' in names and 'w.weight_quantized' in names", "'w.weight' in names"},
        {"unused", true, "'spare' not in names and 'w.weight' not in names", "'spare' not in names"},
        {"input_default", true, "'w.weight' not in names and [i.name for i in m.graph.input] == ['x']",
         "'w.weight' not in names and [i.name for i in m.graph.input] == ['x']"},
        {"encoder", true,
         "sum(n.op_type == 'MatMulInteger' for n in m.graph.node) == 5 and "
         "sum(n.op_type == 'DynamicQuantizeLinear' for n in m.graph.node) == 3 and len(names) == 2 + 2 + 1 + 5 * 3",
         "sum(n.op_type == 'QuantizeLinear' for n in m.graph.node) == 3 and "
         "sum(n.op_type == 'DequantizeLinear' for n in m.graph.node) == 8"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        qf_model *src = NULL, *q = rewrite_source(cases[c].name, &src);
        char in[700], out[700];
        snprintf(in, sizeof in, "%s/%s.onnx", REWRITE_DIR, cases[c].name);
        snprintf(out, sizeof out, "%s/%s.int8.onnx", g_dir, cases[c].name);
        print_message("  %s dynamic\n", cases[c].name);
        qf_error err;
        qf_error_clear(&err);
        ok(qf_onnx_write_dynamic(in, q, out, NULL, &err), &err);
        ok(qf_onnx_check_file(out, &err), &err);
        external_checks(in, out, cases[c].dynamic, 0.05);
        if (cases[c].qdq) {
            /* one made-up scale per int8 weight a projection reads, by its own name (the encoder's
             * word embedding is read by its Gather only) */
            qf_onnx_qdq_activation acts[8];
            size_t n = 0;
            for (size_t i = 0; i < qf_model_tensor_count(q) && n < 8; i++) {
                const qf_tensor *t = qf_model_tensor(q, i);
                if (t->dtype != QF_DTYPE_I8) continue;
                if (strcmp(cases[c].name, "encoder") == 0 && strstr(t->name, "word_embeddings")) continue;
                acts[n++] = (qf_onnx_qdq_activation){t->name, 0.02f};
            }
            qf_onnx_static_params sp = qf_onnx_static_params_default();
            sp.activations = acts;
            sp.count = n;
            snprintf(out, sizeof out, "%s/%s.qdq.onnx", g_dir, cases[c].name);
            print_message("  %s static QDQ, %zu weights\n", cases[c].name, n);
            /* tied: the Gather is not a projection of the QDQ form; the FP32 table stays for it */
            ok(qf_onnx_write_static(in, q, out, &sp, &err), &err);
            ok(qf_onnx_check_file(out, &err), &err);
            external_checks(in, out, cases[c].qdq_assert, 0.25);
        }
        qf_model_destroy(q);
        qf_model_destroy(src);
    }
}

/* The check refuses each kind of invalid graph naming the value; a rewrite of such a source fails
 * with the same error, blaming the source, and writes nothing. */
static void test_graph_check_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *name, *object, *words;
    } cases[] = {
        {"bad_undefined", "ghost", "which no graph input, initializer or earlier node output defines"},
        {"bad_twice", "h", "which is already defined as a node output"},
        {"bad_order", "h", "which no graph input, initializer or earlier node output defines"},
        {"bad_node_names", "dup", "two nodes are named 'dup'"},
        {"bad_unused", "lonely", "is never read"},
        {"bad_output", "nowhere", "graph output 'nowhere' is not defined"},
    };
    qf_model *src = NULL, *q = rewrite_source("unused", &src);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char in[700], out[700];
        snprintf(in, sizeof in, "%s/%s.onnx", REWRITE_DIR, cases[c].name);
        snprintf(out, sizeof out, "%s/%s.int8.onnx", g_dir, cases[c].name);
        unlink(out);
        qf_error err;
        qf_error_clear(&err);
        expect(qf_onnx_check_file(in, &err), &err, QF_STATUS_FORMAT, cases[c].object);
        assert_non_null(strstr(err.message, cases[c].words));
        qf_error_clear(&err);
        qf_status s = qf_onnx_write_dynamic(in, q, out, NULL, &err);
        if (strcmp(cases[c].name, "bad_unused") == 0) {
            /* a source's unused initializer is dropped by the rewrite, not refused */
            ok(s, &err);
            ok(qf_onnx_check_file(out, &err), &err);
            continue;
        }
        expect(s, &err, QF_STATUS_FORMAT, cases[c].object);
        assert_non_null(strstr(err.message, "source graph: "));
        assert_false(have_path(out));
    }
    qf_model_destroy(q);
    qf_model_destroy(src);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/test_onnx_export.d", QF_BINARY_DIR);
    mkdir(g_dir, 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_bert),     cmocka_unit_test(test_round_trip_roberta),
        cmocka_unit_test(test_round_trip_distilbert), cmocka_unit_test(test_round_trip_electra), cmocka_unit_test(test_round_trip_mpnet),
        cmocka_unit_test(test_round_trip_albert),
        cmocka_unit_test(test_round_trip_base_f16), cmocka_unit_test(test_dynamic),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_rewrite_collisions),  cmocka_unit_test(test_graph_check_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
