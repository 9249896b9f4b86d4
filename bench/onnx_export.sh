#!/usr/bin/env bash
# bench/onnx_export.sh — the ONNX graphs qforge writes from scratch from debsec-bert's
# pytorch_model.bin (qforge convert / quantize --onnx-out) beside the graphs that start from the
# torch-exported model.onnx, all in ONNX Runtime (onnxruntime-node, 1 thread, batch 1), in one
# invocation, interleaved over ROUNDS rounds:
#   torch_fp32    model.onnx as torch.onnx.export wrote it (opset 14)
#   export_fp32   qforge convert pytorch_model.bin --onnx-out            (written from scratch)
#   rewrite_int8  qforge quantize model.onnx --mode dynamic --onnx-out   (the torch graph rewritten)
#   export_int8   qforge quantize pytorch_model.bin --mode dynamic --onnx-out (from scratch)
# Two row sets: the eval rows (real texts, tokenized, their own lengths) and LONG rows of 128
# random token ids. Prints one table: mean / median ms per row on each set (median over rounds),
# file size, accuracy on the eval rows, and top-1 agreement with `qforge run` on the dynamic .qf
# (for the int8 graphs) or on the FP32 .qf (for the FP32 graphs).
#   ROWS=4563 LONG=100 ROUNDS=3 bench/onnx_export.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${QF_SHARED_DIR:-$root/../shared}"
model="$shared/models/debsec-bert"
cli="${QF_CLI:-$root/build/qforge}"
rows="${ROWS:-4563}"
long="${LONG:-100}"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
"$cli" convert "$model/pytorch_model.bin" -o "$work/fp32.qf" --onnx-out "$work/export_fp32.onnx" -q
"$cli" quantize "$model/pytorch_model.bin" --mode dynamic -o "$work/int8.qf" --onnx-out "$work/export_int8.onnx" --threads 1 -q
"$cli" quantize "$model/model.onnx" --mode dynamic -o "$work/rewrite.qf" --onnx-out "$work/rewrite_int8.onnx" --threads 1 -q
head -n "$rows" "$shared/data/debsec/eval.jsonl" > "$work/eval.jsonl"
/usr/bin/python3 - "$work/long.jsonl" "$long" "$model/config.json" <<'PY'
import json, random, sys
rng = random.Random(20251121)
vocab = json.load(open(sys.argv[3]))["vocab_size"]
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):  # [CLS] (2), 126 ids past the special tokens, [SEP] (3)
        f.write(json.dumps({"input_ids": [2] + [rng.randrange(5, vocab) for _ in range(126)] + [3]}) + "\n")
PY
for q in fp32 int8; do
  "$cli" run "$work/$q.qf" --data "$work/eval.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 > "$work/qforge_$q.jsonl"
done
graphs=("torch_fp32=$model/model.onnx" "export_fp32=$work/export_fp32.onnx" "rewrite_int8=$work/rewrite_int8.onnx"
        "export_int8=$work/export_int8.onnx")
for r in $(seq 1 "$rounds"); do
  for g in "${graphs[@]}"; do
    name="${g%%=*}"; path="${g#*=}"
    node "$root/tests/ort_run.mjs" "$path" "$work/eval.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 --timing \
      > "$work/$name.eval.$r.jsonl" 2> "$work/$name.eval.$r.time"
    node "$root/tests/ort_run.mjs" "$path" "$work/long.jsonl" --threads 1 --timing \
      > /dev/null 2> "$work/$name.long.$r.time"
  done
done
/usr/bin/python3 - "$work" "$rounds" "${graphs[@]}" <<'PY'
import json, os, statistics, sys
work, rounds, graphs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
top = lambda v: max(range(len(v)), key=v.__getitem__)
ref = {q: [top(json.loads(l)["logits"]) for l in open(f"{work}/qforge_{q}.jsonl")] for q in ("fp32", "int8")}
def times(name, kind):
    return [json.loads(open(f"{work}/{name}.{kind}.{r}.time").read().strip().splitlines()[-1]) for r in range(1, rounds + 1)]
print(f"ONNX Runtime, 1 thread, batch 1; median over {rounds} interleaved rounds (per-round means in brackets)")
print(f"{'graph':<13} {'MB':>6} {'eval mean ms':>12} {'eval median':>11} {'128-tok mean ms':>15} {'accuracy':>9} "
      f"{'agree qforge run':>16}")
for g in graphs:
    name, path = g.split("=", 1)
    ev, lo = times(name, "eval"), times(name, "long")
    out = [json.loads(l) for l in open(f"{work}/{name}.eval.1.jsonl")]
    acc = 100.0 * sum(x["prediction"] == x["label"] for x in out) / len(out)
    q = "int8" if name.endswith("int8") else "fp32"
    agree = 100.0 * sum(x["prediction"] == p for x, p in zip(out, ref[q])) / len(out)
    em = [x["mean_ms"] for x in ev]
    lm = [x["mean_ms"] for x in lo]
    print(f"{name:<13} {os.path.getsize(path)/1e6:6.2f} {statistics.median(em):12.3f} "
          f"{statistics.median(x['median_ms'] for x in ev):11.3f} {statistics.median(lm):15.3f} {acc:8.2f}% "
          f"{agree:15.2f}%  (eval {', '.join(f'{m:.3f}' for m in em)}; 128 {', '.join(f'{m:.2f}' for m in lm)})")
print(f"rows: {len(out)} eval, agreement against qforge run on the {q}-matching .qf")
PY
