#!/usr/bin/env bash
# tests/test_trained_families.sh — the small classifiers of each new family trained on debsec
# (fixtures/trained/<family>-debsec: README.md there), end to end on ../shared/data/debsec:
#   - FP32: qforge run on the 300 rows of reference_logits.json (each row alone) matches the
#     reference logits to 1e-4;
#   - dynamic int8 (qforge quantize --mode dynamic, qforge verify on the 4563 eval rows): accuracy
#     drop <= 0.2 pt and top-1 agreement >= 99.5%;
#   - static int8 (qforge calibrate on the 2337 calib rows, quantize --mode static with each method,
#     verify on the first QF_TRAINED_ROWS eval rows, default 1500): the best method's drop <= 0.5 pt;
#   - ONNX (convert --onnx-out, quantize --onnx-out for both modes): ONNX Runtime's top-1 agrees
#     with qforge run on the same .qf on >= 99.5% of the same rows (FP32 with the FP32 source).
# QF_TRAINED_ROWS=4563 runs every eval row (about 5 minutes on 2 cores).
# Prints every figure, so that the closing notes take them from here.
set -euo pipefail
data="$QF_SHARED_DIR/data/debsec"
if [ ! -f "$data/eval.jsonl" ]; then echo "skipped: $data is absent (needs ../shared)"; exit 77; fi
if [ ! -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then echo "skipped: npm onnxruntime-node not installed (.ci/install-deps.sh)"; exit 77; fi
work="$QF_BINARY_DIR/test_trained_families.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=2
rows="$work/eval-head.jsonl"
head -n "${QF_TRAINED_ROWS:-1500}" "$data/eval.jsonl" > "$rows"
for dir in "$QF_SOURCE_DIR"/fixtures/trained/*-debsec; do
  fam=$(basename "$dir")
  src="$dir/model.safetensors"
  w="$work/$fam"; mkdir -p "$w"
  /usr/bin/python3 - "$dir/reference_logits.json" "$w/ref_rows.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for r in json.load(open(sys.argv[1]))["rows"]:
        f.write(json.dumps({"input_ids": r["input_ids"]}) + "\n")
PY
  "$QF_CLI" run "$src" --data "$w/ref_rows.jsonl" > "$w/ref.qf.jsonl"
  "$QF_CLI" quantize "$src" --mode dynamic -o "$w/dynamic.qf" --onnx-out "$w/dynamic.onnx" -q
  "$QF_CLI" verify "$w/dynamic.qf" --reference "$src" --data "$data/eval.jsonl" --json "$w/verify-dynamic.json" -q --no-layers
  "$QF_CLI" calibrate "$src" --data "$data/calib.jsonl" -o "$w/calib.qfc" -q
  for m in minmax percentile entropy mse; do
    "$QF_CLI" quantize "$src" --mode static --stats "$w/calib.qfc" --method "$m" -o "$w/static-$m.qf" \
      --onnx-out "$w/static-$m.onnx" -q
    "$QF_CLI" verify "$w/static-$m.qf" --reference "$src" --data "$rows" --json "$w/verify-static-$m.json" \
      -q --no-layers
  done
  "$QF_CLI" convert "$src" -o "$w/fp32.qf" --onnx-out "$w/fp32.onnx" -q
  # the longest sequence the position table takes (qforge run truncates to it by itself)
  max_len=$(/usr/bin/python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['max_length'])" "$dir/train_info.json")
  for g in fp32 dynamic static-entropy; do
    node "$QF_SOURCE_DIR/tests/ort_run.mjs" "$w/$g.onnx" "$rows" --tokenizer "$dir/tokenizer.json" \
      --max-length "$max_len" > "$w/$g.ort.jsonl"
    "$QF_CLI" run "$w/$g.qf" --data "$rows" --tokenizer "$dir/tokenizer.json" > "$w/$g.qf.jsonl"
  done
  /usr/bin/python3 - "$fam" "$dir" "$w" <<'PY'
import json, sys
import numpy as np
fam, d, w = sys.argv[1:]
ref = json.load(open(f"{d}/reference_logits.json"))["rows"]
got = [json.loads(l) for l in open(f"{w}/ref.qf.jsonl")]
assert len(got) == len(ref) == 300, (len(got), len(ref))
dfp = max(np.abs(np.array(a["logits"]) - np.array(b["logits"])).max() for a, b in zip(got, ref))
dyn = json.load(open(f"{w}/verify-dynamic.json"))
print(f"{fam}: FP32 max |logit - reference| {dfp:.2e} over 300 rows (each alone)")
print(f"{fam}: dynamic int8 on {dyn['rows']} eval rows: accuracy {100*dyn['accuracy']['reference']:.2f}% -> "
      f"{100*dyn['accuracy']['artifact']:.2f}%, drop {dyn['drop_points']:.2f} pt, top-1 agreement "
      f"{100*dyn['top1_agreement']:.2f}%")
static = {}
for m in ("minmax", "percentile", "entropy", "mse"):
    r = json.load(open(f"{w}/verify-static-{m}.json"))
    static[m] = r
    print(f"{fam}: static int8 ({m}) on {r['rows']} eval rows: accuracy {100*r['accuracy']['reference']:.2f}% -> "
          f"{100*r['accuracy']['artifact']:.2f}%, drop {r['drop_points']:.2f} pt, top-1 agreement "
          f"{100*r['top1_agreement']:.2f}%")
best = min(static, key=lambda m: static[m]["drop_points"])
top = lambda v: int(np.argmax(v))
agree = {}
for g in ("fp32", "dynamic", "static-entropy"):
    o = [json.loads(l) for l in open(f"{w}/{g}.ort.jsonl")]
    q = [json.loads(l) for l in open(f"{w}/{g}.qf.jsonl")]
    assert len(o) == len(q) == static["entropy"]["rows"], (len(o), len(q))
    agree[g] = sum(top(a["logits"]) == top(b["logits"]) for a, b in zip(o, q)) / len(o)
    print(f"{fam}: ONNX Runtime ({g} graph) top-1 agreement with qforge run: {100*agree[g]:.2f}% of {len(o)} rows")
print(f"{fam}: best static method {best}, drop {static[best]['drop_points']:.2f} pt")
assert dfp <= 1e-4, dfp
assert dyn["drop_points"] <= 0.2 and dyn["top1_agreement"] >= 0.995, dyn["drop_points"]
assert static[best]["drop_points"] <= 0.5, static[best]["drop_points"]
assert all(v >= 0.995 for v in agree.values()), agree
PY
done
echo ok
