#!/usr/bin/env bash
# tests/test_onnx_export_heads.sh — the per-token heads exported from scratch and run in ONNX
# Runtime, for each family (fixtures/heads/<family>-{token,qa}: fixtures/heads/README.md; the
# expected values are transformers' last hidden state through the head):
#   - qforge convert W --onnx-out: onnx.checker (full_check) passes; token classification has one
#     output "logits" [batch, sequence, labels], question answering "start_logits" and
#     "end_logits" [batch, sequence] (the names Hugging Face Optimum gives them); on all rows padded
#     into one batch, ORT's values on the real tokens match the expected ones to 1e-4;
#   - qforge run --output logits refuses both heads, naming the head, and writes no row.
set -euo pipefail
if [ ! -d "$QF_SOURCE_DIR/node_modules/onnxruntime-node" ]; then echo "skipped: npm onnxruntime-node not installed (.ci/install-deps.sh)"; exit 77; fi
work="$QF_BINARY_DIR/test_onnx_export_heads.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
failures=0
for fam in bert roberta distilbert electra mpnet albert deberta-v2; do
  for kind in token qa; do
    dir="$QF_SOURCE_DIR/fixtures/heads/$fam-$kind"
    "$QF_CLI" convert "$dir/model.safetensors" -o "$work/$fam-$kind.qf" --onnx-out "$work/$fam-$kind.onnx" -q
    /usr/bin/python3 -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$work/$fam-$kind.onnx"
    /usr/bin/python3 - "$dir" "$work/$fam-$kind.batch.json" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1] + "/reference.json"))
pad = json.load(open(sys.argv[1] + "/config.json")).get("pad_token_id") or 0
rows = ref["rows"]
T = max(len(r["input_ids"]) for r in rows)
batch = {"input_ids": [r["input_ids"] + [pad] * (T - len(r["input_ids"])) for r in rows],
         "attention_mask": [[1] * len(r["input_ids"]) + [0] * (T - len(r["input_ids"])) for r in rows]}
if "token_type_ids" in rows[0]:
    batch["token_type_ids"] = [r["token_type_ids"] + [0] * (T - len(r["input_ids"])) for r in rows]
json.dump(batch, open(sys.argv[2], "w"))
PY
    node "$QF_SOURCE_DIR/tests/ort_batch.mjs" "$work/$fam-$kind.onnx" "$work/$fam-$kind.batch.json" > "$work/$fam-$kind.ort.json"
    if ! /usr/bin/python3 - "$dir/reference.json" "$work/$fam-$kind.ort.json" "$kind" "$fam" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))["rows"]
out = json.load(open(sys.argv[2]))["outputs"]
kind, fam = sys.argv[3], sys.argv[4]
B, T = len(ref), max(len(r["input_ids"]) for r in ref)
if kind == "token":
    want = {"logits"}
    got = out["logits"]
    L = got["dims"][2]
    assert got["dims"] == [B, T, L], got["dims"]
    pairs = [(got["data"][(b * T + t) * L + k], r["token_logits"][t][k])
             for b, r in enumerate(ref) for t in range(len(r["input_ids"])) for k in range(L)]
else:
    want = {"start_logits", "end_logits"}
    pairs = []
    for name, key in (("start_logits", "start_logits"), ("end_logits", "end_logits")):
        assert out[name]["dims"] == [B, T], out[name]["dims"]
        pairs += [(out[name]["data"][b * T + t], r[key][t]) for b, r in enumerate(ref) for t in range(len(r["input_ids"]))]
names = set(out) - {"last_hidden_state"}
assert names == want, (names, want)
worst = max(abs(a - b) for a, b in pairs)
print(f"{fam:10s} {kind:5s} ORT vs reference: max |d| = {worst:.3g} over {len(pairs)} values")
sys.exit(0 if worst <= 1e-4 else 1)
PY
    then failures=$((failures + 1)); fi
    # --output logits is a sequence head's: refused, naming this head
    printf '{"input_ids": [1, 2, 3]}\n' > "$work/row.jsonl"
    if "$QF_CLI" run "$work/$fam-$kind.qf" --data "$work/row.jsonl" --output logits > "$work/run.out" 2> "$work/run.err"; then
      echo "FAIL: $fam-$kind: run --output logits succeeded"; failures=$((failures + 1))
    elif [ -s "$work/run.out" ] || ! grep -q "$([ $kind = token ] && echo token_classification || echo question_answering)" "$work/run.err"; then
      echo "FAIL: $fam-$kind: the refusal does not name the head or rows were printed:"; cat "$work/run.err"
      failures=$((failures + 1))
    fi
  done
done
echo "$failures failure(s)"
[ "$failures" = 0 ]
