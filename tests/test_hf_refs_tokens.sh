#!/usr/bin/env bash
# tests/test_hf_refs_tokens.sh — `qforge run --output tokens` against transformers 5.17's own
# token-classification outputs (fixtures/hf-refs/pipelines/<family>-token.json, recorded by
# fixtures/gen/make_pair_offset_references.py; see fixtures/hf-refs/README.md) for the four token heads
# fixtures/heads/<family>-token, row by row:
#   - token_logits within 1e-4 of the model's logits, as many tokens as transformers' input_ids;
#   - labels: id2label of transformers' argmax, and every token the pipeline with
#     aggregation_strategy="none" reports carries its entity there;
#   - entities: the pipeline's with aggregation_strategy="simple": label = entity_group, start and end
#     (characters of the text) equal, score within 1e-4, text = the text's characters [start, end)
#     (the pipeline's "word" is the group's tokens decoded, not the text: lower-cased with "##" on a
#     word's later pieces by the uncased WordPiece heads, with the leading space and U+FFFD for a
#     partial UTF-8 character by the byte-level BPE head; 191 of bert's 428 and 292 of roberta's 444
#     entities have word == the text's characters; start and end are what both share exactly).
# Prints the largest differences.
set -euo pipefail
work="$QF_BINARY_DIR/test_hf_refs_tokens.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
refs="$QF_SOURCE_DIR/fixtures/hf-refs/pipelines"
failures=0
for family in bert roberta distilbert electra; do
  /usr/bin/python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["rows"]:
    print(json.dumps({"text": r["text"]}, ensure_ascii=False))' "$refs/$family-token.json" > "$work/$family.rows.jsonl"
  if ! "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/heads/$family-token" --data "$work/$family.rows.jsonl" --output tokens \
      --threads 1 > "$work/$family.out.jsonl" 2> "$work/$family.err"; then
    echo "FAIL $family: qforge run"; cat "$work/$family.err"; failures=$((failures + 1)); continue
  fi
  /usr/bin/python3 - "$refs/$family-token.json" "$work/$family.out.jsonl" "$QF_SOURCE_DIR/fixtures/heads/$family-token/config.json" "$family" <<'PY' || failures=$((failures + 1))
import json, sys
ref = json.load(open(sys.argv[1]))["rows"]
got = [json.loads(l) for l in open(sys.argv[2])]
id2label = {int(k): v for k, v in json.load(open(sys.argv[3]))["id2label"].items()}
family = sys.argv[4]
problems = []
max_logit = max_score = 0.0
entities = tokens = 0
if len(got) != len(ref):
    problems.append(f"{len(got)} rows, expected {len(ref)}")
for i, (r, g) in enumerate(zip(ref, got)):
    want = r["token_logits"]
    if len(g["token_logits"]) != len(want):
        problems.append(f"row {i}: {len(g['token_logits'])} tokens, expected {len(want)}")
        continue
    for t, (a, b) in enumerate(zip(g["token_logits"], want)):
        tokens += 1
        max_logit = max(max_logit, max(abs(x - y) for x, y in zip(a, b)))
        label = id2label[max(range(len(b)), key=lambda j: b[j])]
        if g["labels"][t] != label:
            problems.append(f"row {i} token {t}: label {g['labels'][t]}, transformers' argmax {label}")
    for e in r["none"]:
        if g["labels"][e["index"]] != e["entity"]:
            problems.append(f"row {i} token {e['index']}: label {g['labels'][e['index']]}, pipeline (none) {e['entity']}")
    if len(g["entities"]) != len(r["simple"]):
        problems.append(f"row {i}: {len(g['entities'])} entities, pipeline {len(r['simple'])}: {g['entities']} vs {r['simple']}")
        continue
    for k, (ge, re_) in enumerate(zip(g["entities"], r["simple"])):
        entities += 1
        if (ge["label"], ge["start"], ge["end"]) != (re_["entity_group"], re_["start"], re_["end"]):
            problems.append(f"row {i} entity {k}: {ge} vs pipeline {re_}")
        if ge["text"] != r["text"][re_["start"]:re_["end"]]:
            problems.append(f"row {i} entity {k}: text {ge['text']!r}, the text's [{re_['start']}, {re_['end']}) is "
                            f"{r['text'][re_['start']:re_['end']]!r}")
        max_score = max(max_score, abs(ge["score"] - re_["score"]))
if max_logit > 1e-4: problems.append(f"token_logits max |diff| {max_logit:.3g} > 1e-4")
if max_score > 1e-4: problems.append(f"entity score max |diff| {max_score:.3g} > 1e-4")
print(f"{family}-token: {len(ref)} rows, {tokens} tokens, {entities} entities; token_logits max |diff| {max_logit:.3g}, "
      f"entity score max |diff| {max_score:.3g}; {len(problems)} mismatches")
for p in problems[:10]: print("  FAIL", p)
sys.exit(1 if problems else 0)
PY
done
[ "$failures" -eq 0 ] || { echo "$failures families failed"; exit 1; }
echo "all token heads match transformers"
