#!/usr/bin/env bash
# bench/onnx_export.sh — the ONNX graphs qforge writes from scratch from debsec-bert's
# pytorch_model.bin (qforge convert / quantize --onnx-out) beside the graphs that start from the
# torch-exported model.onnx, all in ONNX Runtime (onnxruntime-node, 1 thread, batch 1), in one
# invocation, interleaved over ROUNDS rounds:
#   torch_fp32    model.onnx as torch.onnx.export wrote it (opset 14)
#   export_fp32   qforge convert pytorch_model.bin --onnx-out            (written from scratch)
#   rewrite_int8  qforge quantize model.onnx --mode dynamic --onnx-out   (the torch graph rewritten)
#   export_int8   qforge quantize pytorch_model.bin --mode dynamic --onnx-out (from scratch)
#   rewrite_qdq   qforge quantize model.onnx --mode static --stats (its .qfc) --onnx-out
#   export_qdq    qforge quantize pytorch_model.bin --mode static --stats (its .qfc) --onnx-out
#   export_qdq_smooth  the same with --smooth 0.5 (a Mul before each QuantizeLinear)
# (calibration: CALIB_ROWS rows of calib.jsonl, default 512, for each source)
# Two row sets: the eval rows (real texts, tokenized, their own lengths) and LONG rows of 128
# random token ids. Latency comes from bench/ort_compare.mjs (one process, every graph run on each
# row in turn, so load on a shared machine hits all alike; the ratio is the per-row paired median
# against torch_fp32). Prints one table: mean ms per row and ratio on each set, file size,
# accuracy on the eval rows, and top-1 agreement with `qforge run` on the .qf written beside each
# graph (FP32, dynamic or static int8).
#   ROWS=4563 LONG=100 ROUNDS=3 bench/onnx_export.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${QF_SHARED_DIR:-$root/../shared}"
model="$shared/models/debsec-bert"
cli="${QF_CLI:-$root/build/qforge}"
rows="${ROWS:-4563}"
long="${LONG:-100}"
rounds="${ROUNDS:-3}"
calib_rows="${CALIB_ROWS:-512}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
calib="$shared/data/debsec/calib.jsonl"
"$cli" convert "$model/pytorch_model.bin" -o "$work/fp32.qf" --onnx-out "$work/export_fp32.onnx" -q
"$cli" quantize "$model/pytorch_model.bin" --mode dynamic -o "$work/int8.qf" --onnx-out "$work/export_int8.onnx" --threads 1 -q
"$cli" quantize "$model/model.onnx" --mode dynamic -o "$work/rewrite.qf" --onnx-out "$work/rewrite_int8.onnx" --threads 1 -q
# static: statistics of each source (a .qfc is tied to the file it was calibrated on; same weights,
# same statistics), default method (entropy); SmoothQuant only from scratch (the rewrite has no Mul)
for src in pytorch_model.bin model.onnx; do
  "$cli" calibrate "$model/$src" --data "$calib" --samples "$calib_rows" --threads 1 -o "$work/$src.qfc" -q
done
"$cli" quantize "$model/pytorch_model.bin" --mode static --stats "$work/pytorch_model.bin.qfc" --threads 1 \
  -o "$work/static.qf" --onnx-out "$work/export_qdq.onnx" -q
"$cli" quantize "$model/model.onnx" --mode static --stats "$work/model.onnx.qfc" --threads 1 \
  -o "$work/static_rewrite.qf" --onnx-out "$work/rewrite_qdq.onnx" -q
"$cli" quantize "$model/pytorch_model.bin" --mode static --stats "$work/pytorch_model.bin.qfc" --smooth 0.5 --threads 1 \
  -o "$work/static_smooth.qf" --onnx-out "$work/export_qdq_smooth.onnx" -q
head -n "$rows" "$shared/data/debsec/eval.jsonl" > "$work/eval.jsonl"
/usr/bin/python3 - "$work/long.jsonl" "$long" "$model/config.json" <<'PY'
import json, random, sys
rng = random.Random(20251121)
vocab = json.load(open(sys.argv[3]))["vocab_size"]
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):  # [CLS] (2), 126 ids past the special tokens, [SEP] (3)
        f.write(json.dumps({"input_ids": [2] + [rng.randrange(5, vocab) for _ in range(126)] + [3]}) + "\n")
PY
for q in fp32 int8 rewrite static static_rewrite static_smooth; do
  "$cli" run "$work/$q.qf" --data "$work/eval.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 > "$work/qforge_$q.jsonl"
done
# name=graph; the .qf its predictions are compared with is named in the table script below
graphs=("torch_fp32=$model/model.onnx" "export_fp32=$work/export_fp32.onnx" "rewrite_int8=$work/rewrite_int8.onnx"
        "export_int8=$work/export_int8.onnx" "rewrite_qdq=$work/rewrite_qdq.onnx" "export_qdq=$work/export_qdq.onnx"
        "export_qdq_smooth=$work/export_qdq_smooth.onnx")
# accuracy and agreement: every eval row through each graph
for g in "${graphs[@]}"; do
  node "$root/tests/ort_run.mjs" "${g#*=}" "$work/eval.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 > "$work/${g%%=*}.eval.jsonl"
done
# latency: row by row, every graph in turn (order rotated), so machine load hits all alike
node "$root/bench/ort_compare.mjs" --rows "$work/eval.jsonl" --tokenizer "$model/tokenizer.json" --rounds "$rounds" \
  "${graphs[@]}" > "$work/lat.eval.jsonl"
node "$root/bench/ort_compare.mjs" --rows "$work/long.jsonl" --rounds "$rounds" "${graphs[@]}" > "$work/lat.long.jsonl"
/usr/bin/python3 - "$work" "$rounds" "${graphs[@]}" <<'PY'
import json, os, sys
work, rounds, graphs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
top = lambda v: max(range(len(v)), key=v.__getitem__)
qf_of = {"torch_fp32": "fp32", "export_fp32": "fp32", "rewrite_int8": "rewrite", "export_int8": "int8",
         "rewrite_qdq": "static_rewrite", "export_qdq": "static", "export_qdq_smooth": "static_smooth"}
ref = {q: [top(json.loads(l)["logits"]) for l in open(f"{work}/qforge_{q}.jsonl")] for q in set(qf_of.values())}
lat = {k: {x["graph"]: x for x in map(json.loads, open(f"{work}/lat.{k}.jsonl"))} for k in ("eval", "long")}
n = len(ref["fp32"])
print(f"ONNX Runtime (onnxruntime-node), 1 thread, batch 1; {rounds} rounds, graphs interleaved row by row;")
print("ratio = median over rows of this graph's time / torch_fp32's time on the same row")
print(f"{'graph':<17} {'MB':>6} {'eval ms':>8} {'ratio':>6} {'128-tok ms':>10} {'ratio':>6} {'accuracy':>9} {'agree qforge run':>17}")
for g in graphs:
    name, path = g.split("=", 1)
    out = [json.loads(l) for l in open(f"{work}/{name}.eval.jsonl")]
    acc = 100.0 * sum(x["prediction"] == x["label"] for x in out) / len(out)
    q = qf_of[name]
    agree = 100.0 * sum(x["prediction"] == p for x, p in zip(out, ref[q])) / len(out)
    e, l = lat["eval"][name], lat["long"][name]
    print(f"{name:<17} {os.path.getsize(path)/1e6:6.2f} {e['mean_ms']:8.3f} {e['paired_median_ratio_vs_first']:6.3f} "
          f"{l['mean_ms']:10.3f} {l['paired_median_ratio_vs_first']:6.3f} {acc:8.2f}% {agree:16.2f}%")
print(f"{n} eval rows; 'agree': top-1 agreement with qforge run on the .qf written with the graph (FP32, dynamic, "
      f"static from each source, static with SmoothQuant 0.5)")
PY
