#!/usr/bin/env bash
# tests/test_hf_refs_rerank.sh — `qforge run` on the cross-encoders fixtures/rank/ce-<family> (one-label
# *ForSequenceClassification saved by transformers 5.17) against sentence-transformers 6.0.1's
# CrossEncoder.predict (fixtures/hf-refs/rerank/<family>.json, recorded with max_length 64 by
# fixtures/gen/make_pair_offset_references.py; see fixtures/hf-refs/README.md), pair by pair:
#   - as saved (no activation in config.json): "score" within 1e-4 of predict's default (Sigmoid);
#   - a copy whose config.json names the Identity activation the way sentence-transformers saves it
#     ("sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity"}): within 1e-4 of
#     predict(activation_fn=Identity()).
# Prints the largest differences.
set -euo pipefail
work="$QF_BINARY_DIR/test_hf_refs_rerank.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
refs="$QF_SOURCE_DIR/fixtures/hf-refs/rerank"
failures=0

compare() { # FAMILY VARIANT OUTPUT KEY
  /usr/bin/python3 - "$refs/$1.json" "$3" "$4" "$1 $2" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))[sys.argv[3]]
got = [json.loads(l)["score"] for l in open(sys.argv[2])]
if len(got) != len(want):
    print(f"FAIL {sys.argv[4]}: {len(got)} scores, expected {len(want)}"); sys.exit(1)
worst = max(abs(a - b) for a, b in zip(got, want))
print(f"{sys.argv[4]}: {len(want)} pairs, max |diff| {worst:.3g} against {sys.argv[3]}")
sys.exit(0 if worst <= 1e-4 else 1)
PY
}

for family in bert roberta distilbert electra; do
  /usr/bin/python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["pairs"]:
    print(json.dumps({"text": p["text"], "text_pair": p["text_pair"]}, ensure_ascii=False))' "$refs/$family.json" \
    > "$work/$family.pairs.jsonl"
  model="$QF_SOURCE_DIR/fixtures/rank/ce-$family"
  if "$QF_CLI" run "$model" --data "$work/$family.pairs.jsonl" --max-length 64 --threads 1 \
      > "$work/$family.sigmoid.jsonl" 2> "$work/$family.err"; then
    compare "$family" sigmoid "$work/$family.sigmoid.jsonl" scores_default_activation || failures=$((failures + 1))
  else
    echo "FAIL $family: qforge run"; cat "$work/$family.err"; failures=$((failures + 1))
  fi
  identity="$work/ce-$family-identity"
  cp -r "$model" "$identity"
  /usr/bin/python3 - "$identity/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity"}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
  if "$QF_CLI" run "$identity" --data "$work/$family.pairs.jsonl" --max-length 64 --threads 1 \
      > "$work/$family.identity.jsonl" 2> "$work/$family.err"; then
    compare "$family" identity "$work/$family.identity.jsonl" scores_identity || failures=$((failures + 1))
  else
    echo "FAIL $family identity: qforge run"; cat "$work/$family.err"; failures=$((failures + 1))
  fi
done
[ "$failures" -eq 0 ] || { echo "$failures comparisons failed"; exit 1; }
echo "all cross-encoders match sentence-transformers"
