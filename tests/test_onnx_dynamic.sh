#!/usr/bin/env bash
# tests/test_onnx_dynamic.sh — qforge quantize model.onnx --onnx-out on the shared debsec-bert: the
# written graph passes onnx.checker, is <= 30% of the FP32 file, runs in ONNX Runtime
# (tests/ort_run.mjs), and ORT's top-1 agrees with qforge's int8 prediction for the same artifact
# (qforge run on the .qf) on >= 99.5% of the first 600 eval rows. Also: every .onnx under
# realfiles is read or refused with a reason, and ORT-quantized ones are refused by quantize.
set -euo pipefail
model="$QF_SHARED_DIR/models/debsec-bert"
if [ ! -f "$model/model.onnx" ]; then echo "skipped: $model/model.onnx is absent (needs ../shared)"; exit 77; fi
if [ ! -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then echo "skipped: npm onnxruntime-node not installed (.ci/install-deps.sh)"; exit 77; fi
work="$QF_BINARY_DIR/test_onnx_dynamic.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
"$QF_CLI" quantize "$model/model.onnx" --mode dynamic -o "$work/m.qf" --onnx-out "$work/m.int8.onnx" --threads 1 -q
/usr/bin/python3 -c "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$work/m.int8.onnx"
head -n 600 "$QF_SHARED_DIR/data/debsec/eval.jsonl" > "$work/rows.jsonl"
node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$work/m.int8.onnx" "$work/rows.jsonl" --tokenizer "$model/tokenizer.json" > "$work/ort.jsonl"
"$QF_CLI" run "$work/m.qf" --data "$work/rows.jsonl" --tokenizer "$model/tokenizer.json" --threads 1 > "$work/qf.jsonl"
/usr/bin/python3 - "$work" "$model/model.onnx" <<'PY'
import json, os, sys
work, fp32 = sys.argv[1], sys.argv[2]
o = [json.loads(l) for l in open(f"{work}/ort.jsonl")]
q = [json.loads(l) for l in open(f"{work}/qf.jsonl")]
assert len(o) == len(q) == 600, (len(o), len(q))
top = lambda v: max(range(len(v)), key=v.__getitem__)
agree = sum(a["prediction"] == top(b["logits"]) for a, b in zip(o, q)) / len(o)
ratio = os.path.getsize(f"{work}/m.int8.onnx") / os.path.getsize(fp32)
print(f"agreement {100*agree:.2f}%  size {100*ratio:.1f}% of FP32")
assert agree >= 0.995 and ratio <= 0.30
PY
# realfiles sweep
if [ -d "$QF_SHARED_DIR/realfiles" ]; then
  while IFS= read -r f; do
    if out=$("$QF_CLI" inspect "$f" 2>&1); then
      if grep -q "source.quantized" <<<"$out"; then
        if "$QF_CLI" quantize "$f" --mode dynamic -o "$work/x.qf" -q 2>"$work/err"; then echo "re-quantized: $f"; exit 1; fi
        grep -q "already quantized" "$work/err" || { cat "$work/err"; exit 1; }
      fi
    else
      grep -q "^error: .*: " <<<"$out" || { echo "unexplained failure on $f: $out"; exit 1; }
    fi
  done < <(find "$QF_SHARED_DIR/realfiles" -name '*.onnx' | sort)
fi
echo ok
