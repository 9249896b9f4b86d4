#!/usr/bin/python3
"""The calibration peer of bench/calibration.sh: what a PyTorch user runs to calibrate post-training
static quantization of the same model, timed as one process by the caller (wall, peak RSS):
torch.load of the state dict; a module tree rebuilt from its names and shapes as
bench/torch_quantize_peer.py does (every 2-D ".weight" outside the embeddings an nn.Linear,
embeddings nn.Embedding, LayerNorm nn.LayerNorm; no random initialisation), whose parameters are
the loaded tensors themselves (no second copy of the weights); the default static-quantization
activation observer, torch.ao.quantization.get_default_qconfig('fbgemm').activation (a
HistogramObserver, 2048 bins, reduce_range), on the input of every nn.Linear of the encoder layers
(query, key, value, attention output, FFN up, FFN down: 72 for BERT-base) through forward
pre-hooks; the FP32 forward of embeddings + encoder (Hugging Face's BERT in plain torch: post-LN,
exact-erf GELU, additive mask, as bench/prepare_bert_base.py) over the rows in batches of 1
under torch.no_grad(); then calculate_qparams() of every observer (what convert does).
Prints one JSON line: rows, seconds (whole script), the phase times and the qparams count.

--linear: how the Linears run. "mkldnn" (default): torch.utils.mkldnn.to_mkldnn turns each
nn.Linear into an MkldnnLinear (oneDNN inner product, dense tensors in and out; the observers
hook those), because Debian's torch 1.13 is built with BLAS_INFO=generic: a plain nn.Linear calls
the reference netlib sgemm (one thread, ~20x slower here), which is not what a PyTorch user with
pip's MKL build gets. "blas": the plain nn.Linear as installed.

Run: /usr/bin/python3 bench/torch_calibrate_peer.py MODEL.bin ROWS.jsonl [--rows N] [--threads T]
         [--linear mkldnn|blas]
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

T_START = time.perf_counter()

import torch  # noqa: E402
import torch.utils.mkldnn  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_quantize_peer  # noqa: E402  (the module tree shared with the conversion peer)


def build_module(state, eps):
    """torch_quantize_peer.py's module tree, with the state dict's tensors as its parameters (no
    copy)."""
    root = torch_quantize_peer.build_module(state, eps)
    for key, t in state.items():
        if key.endswith(".weight") or key.endswith(".bias"):
            mod_path, name = key.rsplit(".", 1)
            if name == "bias" and mod_path + ".weight" not in state:
                continue
            setattr(root.get_submodule(mod_path), name, nn.Parameter(t, requires_grad=False))
    return root


def encoder_forward(bert, ids, heads):
    """Embeddings + encoder of Hugging Face's BERT (eval), batch 1, mask all ones, token types 0."""
    e = bert.embeddings
    seq = ids.size(1)
    pos = torch.arange(seq).unsqueeze(0)
    x = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(torch.zeros_like(ids))
                    + e.position_embeddings(pos))
    mask = torch.ones_like(ids)[:, None, None, :].to(torch.float32)
    ext = (1.0 - mask) * torch.finfo(torch.float32).min
    layers = bert.encoder.layer
    for i in range(len(layers._modules)):
        L = getattr(layers, str(i))
        sa = L.attention.self
        b, s, h = x.shape
        d = h // heads

        def split(t):
            return t.view(b, s, heads, d).permute(0, 2, 1, 3)

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(b, s, h)
        a = L.attention.output.LayerNorm(L.attention.output.dense(ctx) + x)
        f = nn.functional.gelu(L.intermediate.dense(a))
        x = L.output.LayerNorm(L.output.dense(f) + a)
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="pytorch_model.bin (config.json beside it)")
    ap.add_argument("rows", help="calibration rows, JSON lines {\"input_ids\": [...]}")
    ap.add_argument("--rows", dest="n", type=int, default=0, help="rows to observe (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--linear", choices=("mkldnn", "blas"), default="mkldnn")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # the default qconfig's observers pass reduce_range, which torch 1.13 warns about on each one
    warnings.filterwarnings("ignore", message="Please use quant_min and quant_max")

    with open(os.path.join(os.path.dirname(os.path.abspath(args.model)), "config.json")) as f:
        cfg = json.load(f)
    rows = []
    with open(args.rows) as f:
        for line in f:
            if args.n and len(rows) == args.n:
                break
            rows.append(torch.tensor([json.loads(line)["input_ids"]], dtype=torch.long))

    t0 = time.perf_counter()
    state = torch.load(args.model, map_location="cpu")
    model = build_module(state, cfg["layer_norm_eps"])
    del state
    model.eval()
    if args.linear == "mkldnn":
        model = torch.utils.mkldnn.to_mkldnn(model)
    make_observer = torch.ao.quantization.get_default_qconfig("fbgemm").activation
    observers = []

    def hook(obs):
        def pre(mod, inp):
            obs(inp[0])
        return pre

    for name, mod in model.bert.encoder.named_modules():
        if isinstance(mod, (nn.Linear, torch.utils.mkldnn.MkldnnLinear)):
            obs = make_observer()
            mod.register_forward_pre_hook(hook(obs))
            observers.append((name, obs))
    t1 = time.perf_counter()

    with torch.no_grad():
        for ids in rows:
            encoder_forward(model.bert, ids, cfg["num_attention_heads"])
    t2 = time.perf_counter()
    qparams = [obs.calculate_qparams() for _, obs in observers]
    t3 = time.perf_counter()
    print(json.dumps({"rows": len(rows), "seconds": round(t3 - T_START, 3),
                      "import_s": round(t0 - T_START, 3), "load_s": round(t1 - t0, 3),
                      "observe_s": round(t2 - t1, 3), "qparams_s": round(t3 - t2, 3),
                      "observers": len(observers), "qparams": len(qparams),
                      "observer": type(observers[0][1]).__name__, "threads": args.threads, "linear": args.linear,
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
