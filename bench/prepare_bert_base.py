#!/usr/bin/python3
"""Prepares the inputs of the encoder benchmarks: a BERT-base-size sequence classifier with random
weights, its ONNX export, the int8 graph ONNX Runtime's quantize_dynamic would make of it, token-id
inputs and the logits PyTorch computes for them.

Written into the work folder (default build/bench/ under the repository root):
  pytorch_model.bin   torch.save of the state dict (zip format), Hugging Face tensor names
  config.json         Hugging Face BertConfig (model_type bert, 2 labels)
  model.onnx          torch.onnx.export, opset 14, dynamic batch and sequence axes, weights inline
  model.int8.onnx     every MatMul with a 2-D initializer B rewritten as
                      DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, a_zp, w_zp) -> Cast -> Mul
  inputs/NAME.bin     int32 little-endian [input_ids | attention_mask | token_type_ids], each B x S
  inputs/NAME.json    {batch, seq, logits}: logits of the torch module (eval mode) on NAME.bin
  prepare.json        seed, generator version, torch version, size of every file written

A step is skipped when its files exist with the sizes recorded in prepare.json under the same seed
and version; any change of seed or version redoes everything.

There is no transformers package here: the forward pass below is Hugging Face's BERT written out
in plain torch (post-LayerNorm, exact erf GELU, additive mask (1 - mask) * finfo(float32).min,
pooler = tanh(dense(hidden[:, 0]))), with parameter names equal to BertForSequenceClassification's.

Run: /usr/bin/python3 bench/prepare_bert_base.py [--out DIR] [--seed N]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper, TensorProto
from torch import nn

GENERATOR_VERSION = 1
OPSET = 14
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

CONFIG = {
    "architectures": ["BertForSequenceClassification"],
    "attention_probs_dropout_prob": 0.1,
    "classifier_dropout": None,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
}

# name -> (batch, seq)
INPUT_SETS = {"b1x128": (1, 128), "b8x128": (8, 128)}


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).unsqueeze(0),
                             persistent=False)

    def forward(self, input_ids, token_type_ids):
        seq = input_ids.size(1)
        pos = self.position_ids[:, :seq]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) \
            + self.position_embeddings(pos)
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["num_attention_heads"]
        self.head_dim = c["hidden_size"] // self.heads
        self.query = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.key = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.value = nn.Linear(c["hidden_size"], c["hidden_size"])

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + ext_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.heads * self.head_dim)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # exact (erf) GELU: hidden_act "gelu"


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * torch.finfo(torch.float32).min
        return self.pooler(self.encoder(self.embeddings(input_ids, token_type_ids), ext))


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.bert(input_ids, attention_mask, token_type_ids))


def init_weights(model, seed):
    """Random weights in a fixed order: matrices and embeddings N(0, 0.02) (the padding row of the
    word embedding zero, as HF initialises it), LayerNorm weights 1 + N(0, 0.02), biases N(0, 0.01)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.normal_(0.0, 0.02, generator=g).add_(1.0)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.01, generator=g)
            else:
                p.normal_(0.0, CONFIG["initializer_range"], generator=g)
        model.bert.embeddings.word_embeddings.weight[CONFIG["pad_token_id"]].zero_()


class Work:
    """The work folder and its stamp (prepare.json)."""

    def __init__(self, out, seed):
        self.out = out
        self.seed = seed
        self.stamp_path = os.path.join(out, "prepare.json")
        self.key = {"generator_version": GENERATOR_VERSION, "seed": seed, "torch": torch.__version__,
                    "onnx_opset": OPSET}
        stamp = None
        if os.path.exists(self.stamp_path):
            with open(self.stamp_path) as f:
                stamp = json.load(f)
        if stamp is not None and all(stamp.get(k) == v for k, v in self.key.items()):
            self.files = stamp.get("files", {})
        else:
            self.files = {}

    def path(self, name):
        return os.path.join(self.out, name)

    def done(self, names):
        for n in names:
            p = self.path(n)
            if n not in self.files or not os.path.exists(p) or os.path.getsize(p) != self.files[n]:
                return False
        return True

    def record(self, names):
        for n in names:
            self.files[n] = os.path.getsize(self.path(n))
        tmp = self.stamp_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(self.key, files=self.files), f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.stamp_path)


def log(msg):
    print("prepare: " + msg, flush=True)


def build_model(work):
    model = BertForSequenceClassification(CONFIG)
    init_weights(model, work.seed)
    model.eval()
    return model


def load_model(work):
    model = BertForSequenceClassification(CONFIG)
    state = torch.load(work.path("pytorch_model.bin"), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def write_checkpoint(work, model):
    # torch.save writes to the final name directly; write elsewhere and rename so that a killed run
    # never leaves a truncated checkpoint under the real name.
    tmp = work.path("pytorch_model.bin.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, work.path("pytorch_model.bin"))
    with open(work.path("config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")


def make_inputs(seed, batch, seq):
    rng = np.random.default_rng(seed + 1000 * batch + seq)
    ids = rng.integers(1000, CONFIG["vocab_size"], size=(batch, seq), dtype=np.int64)
    ids[:, 0] = 101  # [CLS]
    ids[:, -1] = 102  # [SEP]
    mask = np.ones((batch, seq), dtype=np.int64)
    types = np.zeros((batch, seq), dtype=np.int64)
    return ids, mask, types


def write_inputs(work, model):
    os.makedirs(work.path("inputs"), exist_ok=True)
    for name, (batch, seq) in INPUT_SETS.items():
        ids, mask, types = make_inputs(work.seed, batch, seq)
        raw = np.concatenate([ids.ravel(), mask.ravel(), types.ravel()]).astype("<i4")
        raw.tofile(work.path("inputs/%s.bin" % name))
        with torch.no_grad():
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
        with open(work.path("inputs/%s.json" % name), "w") as f:
            json.dump({"batch": batch, "seq": seq, "file": "%s.bin" % name,
                       "layout": "int32 LE: input_ids[batch][seq], attention_mask[batch][seq], "
                                 "token_type_ids[batch][seq]",
                       "logits": logits.numpy().astype(float).tolist(),
                       "logits_from": "torch %s, this script's BertForSequenceClassification, eval" %
                                      torch.__version__}, f, indent=1)
            f.write("\n")


def export_onnx(work, model):
    ids, mask, types = make_inputs(work.seed, 1, 16)
    tmp = work.path("model.onnx.tmp")
    dyn = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    dyn["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(model, (torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)),
                          tmp, input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["logits"], dynamic_axes=dyn, opset_version=OPSET,
                          do_constant_folding=True)
    onnx.checker.check_model(tmp)
    os.replace(tmp, work.path("model.onnx"))


def quantize_weight_per_column(w):
    """ORT quantize_data for QInt8, symmetric, per channel along axis 1 of a MatMul B [in, out]:
    s = max|w| / 127 per column (s = 1 for an all-zero column), q = clip(rint(w / s), -127, 127)."""
    absmax = np.abs(w).max(axis=0).astype(np.float32)
    scale = np.where(absmax > 0, absmax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(w / scale[None, :]), -127, 127).astype(np.int8)
    return q, scale


def quantize_onnx_dynamic(work):
    """Rewrites model.onnx into the MatMulInteger form quantize_dynamic(per_channel=True,
    reduce_range=False, weight_type=QInt8) emits: MatMuls whose B is a 2-D float initializer only
    (its MatMulConstBOnly default); one DynamicQuantizeLinear per distinct A, shared by the MatMuls
    that read it (Q, K, V); node and tensor names as ORT's quantizer writes them."""
    m = onnx.load(work.path("model.onnx"))
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    uses = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1

    new_nodes, new_inits, dropped = [], [], set()
    quantized_act = {}  # activation name -> (q, scale, zp)
    quantized_w = {}
    count = 0
    for n in g.node:
        b = n.input[1] if n.op_type == "MatMul" else None
        if b is None or b not in inits or len(inits[b].dims) != 2 or inits[b].data_type != TensorProto.FLOAT:
            new_nodes.append(n)
            continue
        a = n.input[0]
        if a not in quantized_act:
            qa = (a + "_quantized", a + "_scale", a + "_zero_point")
            new_nodes.append(helper.make_node("DynamicQuantizeLinear", [a], list(qa), a + "_QuantizeLinear"))
            quantized_act[a] = qa
        if b not in quantized_w:
            q, s = quantize_weight_per_column(numpy_helper.to_array(inits[b]))
            qw = (b + "_quantized", b + "_scale", b + "_zero_point")
            new_inits += [numpy_helper.from_array(q, qw[0]), numpy_helper.from_array(s, qw[1]),
                          numpy_helper.from_array(np.zeros(q.shape[1], dtype=np.int8), qw[2])]
            quantized_w[b] = qw
            if uses[b] == 1:
                dropped.add(b)
        qa, qw = quantized_act[a], quantized_w[b]
        out = n.output[0]
        mmi = out + "_output_quantized"
        new_nodes.append(helper.make_node("MatMulInteger", [qa[0], qw[0], qa[2], qw[2]], [mmi], n.name + "_quant"))
        new_nodes.append(helper.make_node("Cast", [mmi], [mmi + "_cast_output"], mmi + "_cast",
                                          to=TensorProto.FLOAT))
        sm = n.name + "_scales_mul"
        new_nodes.append(helper.make_node("Mul", [qa[1], qw[1]], [sm + ":0"], sm))
        new_nodes.append(helper.make_node("Mul", [mmi + "_cast_output", sm + ":0"], [out],
                                          n.name + "_output_scale_mul"))
        count += 1

    kept = [t for t in g.initializer if t.name not in dropped]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    # ORT's quantizer drops value_info of the rewritten tensors; a stale float entry for a tensor
    # that is now int32 would make the checker and ORT refuse the graph.
    del g.value_info[:]
    onnx.checker.check_model(m)
    tmp = work.path("model.int8.onnx.tmp")
    onnx.save(m, tmp)
    os.replace(tmp, work.path("model.int8.onnx"))
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"), help="work folder")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    work = Work(args.out, args.seed)
    model = None

    ckpt = ["pytorch_model.bin", "config.json"]
    if work.done(ckpt):
        log("checkpoint present, skipped")
    else:
        t = time.time()
        model = build_model(work)
        write_checkpoint(work, model)
        work.record(ckpt)
        log("checkpoint: %d tensors, %.1f MB in %.1f s" % (len(model.state_dict()),
            os.path.getsize(work.path("pytorch_model.bin")) / 1e6, time.time() - t))

    inputs = ["inputs/%s.%s" % (n, e) for n in INPUT_SETS for e in ("bin", "json")]
    if work.done(inputs):
        log("inputs present, skipped")
    else:
        model = model or load_model(work)
        write_inputs(work, model)
        work.record(inputs)
        log("inputs: " + ", ".join(INPUT_SETS))

    if work.done(["model.onnx"]):
        log("model.onnx present, skipped")
    else:
        t = time.time()
        model = model or load_model(work)
        export_onnx(work, model)
        work.record(["model.onnx"])
        log("model.onnx: opset %d, %.1f MB in %.1f s" % (OPSET, os.path.getsize(work.path("model.onnx")) / 1e6,
                                                         time.time() - t))
    model = None

    if work.done(["model.int8.onnx"]):
        log("model.int8.onnx present, skipped")
    else:
        t = time.time()
        n = quantize_onnx_dynamic(work)
        work.record(["model.int8.onnx"])
        log("model.int8.onnx: %d MatMuls quantized, %.1f MB in %.1f s" % (
            n, os.path.getsize(work.path("model.int8.onnx")) / 1e6, time.time() - t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
