#!/usr/bin/env bash
# bench/onnx_dynamic_latency.sh — ONNX Runtime latency (onnxruntime-node, 1 thread, batch 1, real
# tokens only) on the debsec-bert graph: FP32, the dynamic int8 graph qforge writes
# (qforge quantize --onnx-out), and the graphs ONNX Runtime's own quantize_dynamic writes
# (per-tensor and per-channel; made with onnxruntime 1.30's Python tools, which exist only on the
# lent GPU machine, and given here as ORT_GRAPHS=folder holding ort_dynamic.onnx and
# ort_dynamic_per_channel.onnx). All graphs run in the same invocation, interleaved over
# ROUNDS rounds; prints one table: mean and median ms per row, file size, accuracy on the rows.
#   ORT_GRAPHS=/path ROWS=1000 ROUNDS=3 bench/onnx_dynamic_latency.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${QF_SHARED_DIR:-$root/../shared}"
model="$shared/models/debsec-bert"
cli="${QF_CLI:-$root/build/qforge}"
rows="${ROWS:-1000}"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$cli" quantize "$model/model.onnx" --mode dynamic -o "$work/m.qf" --onnx-out "$work/qforge_dynamic.onnx" --threads 1 -q
graphs=("fp32=$model/model.onnx" "qforge=$work/qforge_dynamic.onnx")
if [ -n "${ORT_GRAPHS:-}" ]; then
  graphs+=("ort_per_tensor=$ORT_GRAPHS/ort_dynamic.onnx" "ort_per_channel=$ORT_GRAPHS/ort_dynamic_per_channel.onnx")
else
  echo "note: ORT_GRAPHS unset: ONNX Runtime's own quantize_dynamic graphs are not in the table" >&2
fi
for r in $(seq 1 "$rounds"); do
  for g in "${graphs[@]}"; do
    name="${g%%=*}"; path="${g#*=}"
    node "$root/tests/ort_run.mjs" "$path" "$shared/data/debsec/eval.jsonl" --tokenizer "$model/tokenizer.json" \
      --limit "$rows" --threads 1 --timing > "$work/$name.$r.jsonl" 2> "$work/$name.$r.time"
  done
done
/usr/bin/python3 - "$work" "$rounds" "${graphs[@]}" <<'PY'
import json, os, statistics, sys
work, rounds, graphs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(f"{'graph':<16} {'MB':>6} {'mean ms':>8} {'median ms':>9} {'accuracy':>9}  (per round: mean ms)")
for g in graphs:
    name, path = g.split("=", 1)
    t = [json.loads(open(f"{work}/{name}.{r}.time").read().strip().splitlines()[-1]) for r in range(1, rounds + 1)]
    rows = [json.loads(l) for l in open(f"{work}/{name}.1.jsonl")]
    acc = 100.0 * sum(x["prediction"] == x["label"] for x in rows) / len(rows)
    means = [x["mean_ms"] for x in t]
    print(f"{name:<16} {os.path.getsize(path)/1e6:6.2f} {statistics.median(means):8.3f} "
          f"{statistics.median(x['median_ms'] for x in t):9.3f} {acc:8.2f}%  ({', '.join(f'{m:.3f}' for m in means)})")
PY
