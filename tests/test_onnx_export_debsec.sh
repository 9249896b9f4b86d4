#!/usr/bin/env bash
# tests/test_onnx_export_debsec.sh — the ONNX graph qforge writes from scratch from the shared
# debsec-bert pytorch_model.bin (no source ONNX involved), in ONNX Runtime:
#   - FP32 (qforge convert --onnx-out): onnx.checker (full_check) passes; ORT's logits on the 256
#     padded rows of reference_logits.json match transformers' to 1e-4; ORT's optimizer (level all,
#     its optimized graph written through optimizedModelFilePath) keeps 9 LayerNormalization, fuses
#     the 4 Erf GELUs with their bias (BiasGelu) and the 4 scaled QKᵀ MatMuls (FusedMatMul); in the
#     static QDQ graph it turns all 24 projections into int8 MatMulIntegerToFloat;
#   - dynamic (qforge quantize --mode dynamic --onnx-out) and static QDQ (qforge calibrate on 128
#     rows, quantize --mode static --onnx-out): checker passes; on the first 600 eval rows ORT's
#     top-1 agrees with `qforge run` on the same .qf on >= 99.5% of rows, and with the graph of the
#     same mode rewritten from the torch-exported model.onnx on >= 99.5%.
# The whole eval set (accuracy within 0.1 pt) and latency are in bench/onnx_export.sh.
set -euo pipefail
model="$QF_SHARED_DIR/models/debsec-bert"
if [ ! -f "$model/pytorch_model.bin" ]; then echo "skipped: $model is absent (needs ../shared)"; exit 77; fi
if [ ! -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then echo "skipped: npm onnxruntime-node not installed (.ci/install-deps.sh)"; exit 77; fi
work="$QF_BINARY_DIR/test_onnx_export_debsec.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
"$QF_CLI" convert "$model/pytorch_model.bin" -o "$work/fp32.qf" --onnx-out "$work/fp32.onnx" -q
node "$QF_SOURCE_DIR/tests/ort_batch.mjs" "$work/fp32.onnx" "$model/reference_logits.json" > "$work/fp32.json"
(cd "$QF_SOURCE_DIR" && node --input-type=module -e "
import * as ort from 'onnxruntime-node';
await ort.InferenceSession.create(process.argv[1], {graphOptimizationLevel: 'all', optimizedModelFilePath: process.argv[2],
  intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3});" "$work/fp32.onnx" "$work/fp32.optimized.onnx")
"$QF_CLI" quantize "$model/pytorch_model.bin" --mode dynamic -o "$work/bin.qf" --onnx-out "$work/bin.int8.onnx" --threads 1 -q
"$QF_CLI" quantize "$model/model.onnx" --mode dynamic -o "$work/onnx.qf" --onnx-out "$work/onnx.int8.onnx" --threads 1 -q
head -n 600 "$QF_SHARED_DIR/data/debsec/eval.jsonl" > "$work/rows.jsonl"
# static: each source calibrated on the same 128 rows (a .qfc is tied to its source file)
head -n 128 "$QF_SHARED_DIR/data/debsec/calib.jsonl" > "$work/calib.jsonl"
for src in bin onnx; do
  f="$model/pytorch_model.bin"; [ "$src" = onnx ] && f="$model/model.onnx"
  "$QF_CLI" calibrate "$f" --data "$work/calib.jsonl" --threads 1 -o "$work/$src.qfc" -q
  "$QF_CLI" quantize "$f" --mode static --stats "$work/$src.qfc" --threads 1 -o "$work/$src.static.qf" \
    --onnx-out "$work/$src.qdq.onnx" -q
done
(cd "$QF_SOURCE_DIR" && node --input-type=module -e "
import * as ort from 'onnxruntime-node';
await ort.InferenceSession.create(process.argv[1], {graphOptimizationLevel: 'all', optimizedModelFilePath: process.argv[2],
  intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3});" "$work/bin.qdq.onnx" "$work/bin.qdq.optimized.onnx")
for g in bin.int8 onnx.int8 bin.qdq onnx.qdq; do
  node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$work/$g.onnx" "$work/rows.jsonl" --tokenizer "$model/tokenizer.json" > "$work/$g.ort.jsonl"
done
for q in bin bin.static; do
  "$QF_CLI" run "$work/$q.qf" --data "$work/rows.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 > "$work/$q.qf.jsonl"
done
/usr/bin/python3 - "$work" "$model" <<'PY'
import collections, json, sys
import numpy as np
import onnx
work, model = sys.argv[1:]
for name in ("fp32.onnx", "bin.int8.onnx", "bin.qdq.onnx"):
    onnx.checker.check_model(onnx.load(f"{work}/{name}"), full_check=True)
ref = json.load(open(f"{model}/reference_logits.json"))
out = json.load(open(f"{work}/fp32.json"))["outputs"]
logits = np.array(out["logits"]["data"]).reshape(out["logits"]["dims"])
d = np.abs(logits - np.array(ref["logits"])).max()
ops = collections.Counter(n.op_type for n in onnx.load(f"{work}/fp32.optimized.onnx").graph.node)
top = lambda v: int(np.argmax(v))
print(f"fp32: |dlogit| vs transformers {d:.2e} on {logits.shape[0]} padded rows; ORT optimized: "
      f"LayerNormalization {ops['LayerNormalization']}, BiasGelu {ops['BiasGelu']}, FusedMatMul {ops['FusedMatMul']}")
assert logits.shape == (256, 30) and d <= 1e-4
assert ops["LayerNormalization"] == 9 and ops["BiasGelu"] == 4 and ops["FusedMatMul"] == 4, ops
qdq_ops = collections.Counter(n.op_type for n in onnx.load(f"{work}/bin.qdq.optimized.onnx").graph.node)
print(f"static QDQ: ORT fuses {qdq_ops['MatMulIntegerToFloat']} of 24 projections into MatMulIntegerToFloat")
assert qdq_ops["MatMulIntegerToFloat"] == 24, qdq_ops
for kind, qf in (("int8", "bin"), ("qdq", "bin.static")):
    ob = [json.loads(l) for l in open(f"{work}/bin.{kind}.ort.jsonl")]
    oo = [json.loads(l) for l in open(f"{work}/onnx.{kind}.ort.jsonl")]
    q = [json.loads(l) for l in open(f"{work}/{qf}.qf.jsonl")]
    assert len(ob) == len(oo) == len(q) == 600, (len(ob), len(oo), len(q))
    vs_run = sum(a["prediction"] == top(b["logits"]) for a, b in zip(ob, q)) / 600
    vs_rewrite = sum(a["prediction"] == b["prediction"] for a, b in zip(ob, oo)) / 600
    print(f"{kind}: ORT top-1 agreement with qforge run {100*vs_run:.2f}%, with the graph rewritten from model.onnx "
          f"{100*vs_rewrite:.2f}% (600 rows)")
    assert vs_run >= 0.995 and vs_rewrite >= 0.995
PY
echo ok
