#!/usr/bin/env bash
# tests/test_scores_cli.sh — what a sequence head's logits mean, as config.json says, in `qforge run
# --output logits`, on the bert family fixture (fixtures/families/bert; transformers' logits in its
# reference.json) with its config.json or head changed here:
#   - problem_type multi_label_classification: "scores" = sigmoid of each logit, "labels" those >= 0.5
#     (with their names), no single "label";
#   - one label (the classifier's first row kept): "score" = sigmoid(logit), as CrossEncoder and
#     transformers' pipelines give it; the logit itself for problem_type regression or a
#     CrossEncoder whose activation is Identity (both the sentence-transformers v4 key and the
#     older sbert_ce_default_activation_function);
#   - verify --job classification refuses each of them, naming what the logits are (accuracy is one
#     label's metric); without --job, verify measures them by their own job (multi-label, rerank).
set -euo pipefail
work="$QF_BINARY_DIR/test_scores_cli.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
src="$QF_SOURCE_DIR/fixtures/families/bert"
failures=0

# variant NAME CONFIG_EDIT(python, on dict c) ONE_LABEL(0|1)
variant() {
  local d="$work/$1"
  mkdir -p "$d"
  cp "$src"/config.json "$src"/tokenizer* "$src"/special_tokens_map.json "$src"/vocab.txt "$src"/pytorch_model.bin "$d/"
  /usr/bin/python3 - "$d" "$2" "$3" <<'PY'
import json, sys
d, edit, one = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
c = json.load(open(d + "/config.json"))
if one:
    import torch
    sd = torch.load(d + "/pytorch_model.bin", map_location="cpu")
    sd["classifier.weight"] = sd["classifier.weight"][:1].clone()
    sd["classifier.bias"] = sd["classifier.bias"][:1].clone()
    torch.save(sd, d + "/pytorch_model.bin")
    c["id2label"] = {"0": "LABEL_0"}; c["label2id"] = {"LABEL_0": 0}
exec(edit)
json.dump(c, open(d + "/config.json", "w"), indent=2)
PY
}

/usr/bin/python3 - "$src/reference.json" "$work/rows.jsonl" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for u in ref["unpadded"]:
        f.write(json.dumps({"input_ids": u["input_ids"]}) + "\n")
PY

# check NAME KIND(multi|sigmoid|identity)
check() {
  local d="$work/$1"
  "$QF_CLI" run "$d/pytorch_model.bin" --data "$work/rows.jsonl" --threads 1 > "$d.jsonl"
  /usr/bin/python3 - "$src/reference.json" "$d.jsonl" "$2" "$1" <<'PY' || failures=$((failures + 1))
import json, math, sys
ref = json.load(open(sys.argv[1]))["logits_unpadded"]
rows = [json.loads(l) for l in open(sys.argv[2])]
kind, name = sys.argv[3], sys.argv[4]
sig = lambda x: 1 / (1 + math.exp(-x))
worst, ok = 0.0, len(rows) == len(ref)
for r, want in zip(rows, ref):
    if kind == "multi":
        ok &= "label" not in r and len(r["scores"]) == len(want)
        worst = max([worst] + [abs(a - sig(b)) for a, b in zip(r["scores"], want)])
        ok &= r["labels"] == [j for j, b in enumerate(want) if sig(b) >= 0.5] and len(r["label_names"]) == len(r["labels"])
    else:
        ok &= "label" not in r and len(r["logits"]) == 1
        worst = max(worst, abs(r["score"] - (sig(want[0]) if kind == "sigmoid" else want[0])))
ok &= worst <= 1e-5
print(f"{name}: {kind}, max |d| = {worst:.3g} over {len(rows)} rows" + ("" if ok else "  FAIL"))
sys.exit(0 if ok else 1)
PY
  # verify: one label's accuracy does not apply; the job the head asks for is chosen instead
  "$QF_CLI" quantize "$d/pytorch_model.bin" --mode dynamic -o "$d.qf" -q
  printf '{"input_ids": [2, 20, 3], "label": 0}\n' > "$d.eval.jsonl"
  local job=rerank; [ "$2" = multi ] && job=multi-label
  if ! "$QF_CLI" verify "$d.qf" --data "$d.eval.jsonl" --threads 1 --json "$d.verify.json" -q ||
     ! grep -q "\"job\": \"$job\"" "$d.verify.json"; then
    echo "FAIL: $1: verify did not measure it as $job"; failures=$((failures + 1))
  fi
  if "$QF_CLI" verify "$d.qf" --data "$d.eval.jsonl" --threads 1 --job classification > /dev/null 2> "$d.err"; then
    echo "FAIL: $1: verify accepted"; failures=$((failures + 1))
  elif ! grep -q "verify measures single-label classification" "$d.err"; then
    echo "FAIL: $1: verify's refusal does not say why:"; cat "$d.err"; failures=$((failures + 1))
  fi
}

variant multi 'c["problem_type"] = "multi_label_classification"' 0
check multi multi
variant one 'c.pop("problem_type", None)' 1
check one sigmoid
variant regression 'c["problem_type"] = "regression"' 1
check regression identity
variant ce-identity 'c["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity"}' 1
check ce-identity identity
variant ce-old-identity 'c["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity"' 1
check ce-old-identity identity
variant ce-sigmoid 'c["sentence_transformers"] = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}' 1
check ce-sigmoid sigmoid
echo "$failures failure(s)"
[ "$failures" = 0 ]
