#!/usr/bin/env bash
# tests/test_ner_cli.sh — token classification (NER) through the CLI, on the token heads of every
# family (fixtures/heads/<family>-token: transformers' token logits in reference.json):
#   - `run --output tokens`: token_logits of the reference texts (and of the same rows as input_ids)
#     equal reference.json's within 1e-4, "labels" are id2label of each argmax, and the entities are
#     those transformers' pipeline groups with aggregation_strategy="simple" (recomputed here from
#     the printed logits, special tokens dropped), their start/end valid character spans whose
#     "text" is the substring; input_ids rows give the same entities by token index;
#   - refusals: --output tokens on a sequence or QA head, --output logits on a token head, the
#     token job on a sequence head;
#   - `verify` (the token job chosen by the head) of a dynamic int8 artifact of each fixture
#     against FP32 on fixtures/heads/debsec-ner.jsonl: entity F1 printed, the JSON report's fields,
#     the --max-drop gate on entity F1 (PASS and FAIL), FP32 against itself, the {"text", "labels"}
#     form giving the same figures, --max-length cutting words off, rows without labels (agreement
#     only, --max-drop refused), and malformed rows refused with their line and field;
#   - `verify --html`: the page of each run (tests/support/check_report_html.py: well-formed, its
#     metric names and figures those of the JSON report, the gate's badge), and paths holding
#     markup, quotes, & and a byte that is not UTF-8 shown escaped.
set -euo pipefail
work="$QF_BINARY_DIR/test_ner_cli.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
heads="$QF_SOURCE_DIR/fixtures/heads"
rows="$heads/debsec-ner.jsonl"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check_html="$QF_SOURCE_DIR/tests/support/check_report_html.py"

for family in bert roberta distilbert electra; do
  model="$heads/$family-token/model.safetensors"
  /usr/bin/python3 - "$heads/$family-token/reference.json" "$work/$family.rows.jsonl" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for r in ref["rows"]:
        f.write(json.dumps({"text": r["text"]}) + "\n")
    for r in ref["rows"]:
        f.write(json.dumps({"input_ids": r["input_ids"]}) + "\n")
PY
  # the reference rows are truncated at 32 tokens (the second text is longer)
  "$QF_CLI" run "$model" --data "$work/$family.rows.jsonl" --output tokens --max-length 32 --threads 1 \
    > "$work/$family.tokens.jsonl" || fail "$family: run --output tokens"
  /usr/bin/python3 - "$heads/$family-token" "$work/$family.tokens.jsonl" <<'PY' || fail "$family: run --output tokens figures"
import json, math, sys
folder, out = sys.argv[1], sys.argv[2]
ref = json.load(open(folder + "/reference.json"))["rows"]
id2label = {int(k): v for k, v in json.load(open(folder + "/config.json"))["id2label"].items()}
got = [json.loads(l) for l in open(out)]
assert len(got) == 2 * len(ref), len(got)
assert [g["row"] for g in got] == list(range(len(got)))

def simple_entities(logits):
    # transformers' postprocess with aggregation_strategy="simple": special tokens (first and last
    # of one BERT / RoBERTa sequence) dropped, argmax and softmax score, group_entities, "O" dropped
    pre = []
    for t, v in enumerate(logits[1:-1], start=1):
        m = max(v)
        e = [math.exp(x - m) for x in v]
        best = v.index(m)
        pre.append((t, id2label[best], e[best] / sum(e)))
    def tag(name):
        if name.startswith("B-"): return "B", name[2:]
        if name.startswith("I-"): return "I", name[2:]
        return "I", name
    groups, cur = [], []
    for p in pre:
        if cur and tag(p[1])[1] == tag(cur[-1][1])[1] and tag(p[1])[0] != "B":
            cur.append(p)
        else:
            if cur: groups.append(cur)
            cur = [p]
    if cur: groups.append(cur)
    out = []
    for g in groups:
        label = g[0][1].split("-", 1)[-1]
        if label != "O":
            out.append((label, g[0][0], g[-1][0], sum(x[2] for x in g) / len(g)))
    return out

worst = 0.0
n = len(ref)
for i, r in enumerate(ref):
    for g in (got[i], got[n + i]):
        tl = g["token_logits"]
        assert len(tl) == len(r["token_logits"]), (len(tl), len(r["token_logits"]))
        for a, b in zip(tl, r["token_logits"]):
            assert len(a) == len(b)
            worst = max(worst, max(abs(x - y) for x, y in zip(a, b)))
        assert g["labels"] == [id2label[v.index(max(v))] for v in tl], "labels are not the argmax names"
        want = simple_entities(tl)
        assert len(g["entities"]) == len(want), (g["entities"], want)
        for e, w in zip(g["entities"], want):
            assert e["label"] == w[0] and abs(e["score"] - w[3]) < 1e-6, (e, w)
    text = r["text"]
    for e in got[i]["entities"]:
        assert set(e) == {"label", "start", "end", "text", "score"}, e
        assert 0 <= e["start"] < e["end"] <= len(text), e
        assert e["text"] == text[e["start"]:e["end"]], (e, text[e["start"]:e["end"]])
    spans = [(e["start"], e["end"]) for e in got[i]["entities"]]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    for e, w in zip(got[n + i]["entities"], simple_entities(got[n + i]["token_logits"])):
        assert set(e) == {"label", "tokens", "score"} and e["tokens"] == [w[1], w[2]], (e, w)
assert worst <= 1e-4, worst
print("%s: token logits max |diff| %.3g vs transformers; %d entities checked" %
      (folder.rsplit("/", 1)[-1], worst, sum(len(g["entities"]) for g in got)))
PY
done

# refusals, each naming the head
expect_refusal() { # NAME WANT_RC PATTERN command...
  local name="$1" want="$2" pattern="$3"; shift 3
  local rc=0
  "$@" > "$work/out.txt" 2> "$work/err.txt" || rc=$?
  if [ "$rc" != "$want" ]; then fail "$name: exit $rc, expected $want"; cat "$work/err.txt"; return; fi
  grep -q -- "$pattern" "$work/err.txt" || { fail "$name: stderr lacks '$pattern'"; cat "$work/err.txt"; }
}
bert="$heads/bert-token/model.safetensors"
expect_refusal "tokens on a sequence head" 1 "head is sequence_classification.*not token classification" \
  "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/families/bert/pytorch_model.bin" --data "$work/bert.rows.jsonl" --output tokens
expect_refusal "tokens on a QA head" 1 "head is question_answering.*not token classification" \
  "$QF_CLI" run "$heads/bert-qa/model.safetensors" --data "$work/bert.rows.jsonl" --output tokens
expect_refusal "logits on a token head" 1 "head is token_classification.*--output tokens" \
  "$QF_CLI" run "$bert" --data "$work/bert.rows.jsonl" --output logits
expect_refusal "token job on a sequence head" 1 "not token classification: --job token-classification" \
  "$QF_CLI" verify "$QF_SOURCE_DIR/fixtures/families/bert/pytorch_model.bin" --data "$rows" --job token-classification
expect_refusal "pooling with tokens" 2 "apply to --output embedding" \
  "$QF_CLI" run "$bert" --data "$work/bert.rows.jsonl" --output tokens --pooling cls
"$QF_CLI" verify "$heads/bert-token" --data "$rows" --reference "$heads/bert-token/" > "$work/folder.out" 2>&1 ||
  { fail "verify of a model folder: the tokenizer inside it is found"; cat "$work/folder.out"; }
expect_refusal "threshold in the token job" 2 "threshold does not apply to the token-classification job" \
  "$QF_CLI" verify "$bert" --data "$rows" --threshold 0.3
expect_refusal "QA options in the token job" 2 "doc-stride does not apply to the token-classification job" \
  "$QF_CLI" verify "$bert" --data "$rows" --doc-stride 3
expect_refusal "QA options with --output tokens" 2 "applies to question answering" \
  "$QF_CLI" run "$bert" --data "$work/bert.rows.jsonl" --output tokens --doc-stride 3
/usr/bin/python3 -c 'import json, sys
print(json.dumps({"text": "0install: cross-distribution", "text_pair": "packaging system"}))' > "$work/pair.jsonl"
expect_refusal "pair rows" 1 "takes rows of one text" "$QF_CLI" run "$bert" --data "$work/pair.jsonl" --output tokens

# verify: dynamic int8 of each fixture against FP32 (the job chosen by the head)
biggest_drop=0; biggest_family=
for family in bert roberta distilbert electra; do
  model="$heads/$family-token/model.safetensors"
  "$QF_CLI" quantize "$model" -o "$work/$family.qf" --mode dynamic --min-elements 1 > /dev/null \
    || { fail "$family: quantize"; continue; }
  rc=0
  "$QF_CLI" verify "$work/$family.qf" --data "$rows" --threads 1 --max-drop 100 --json "$work/$family.json" \
    --html "$work/$family.html" > "$work/$family.verify.txt" || rc=$?
  cat "$work/$family.verify.txt"
  [ "$rc" = 0 ] || fail "$family: verify exit $rc"
  grep -q "^entity F1  FP32 [0-9.]*%   dynamic int8 [0-9.]*%   drop -\?[0-9.]* pt$" "$work/$family.verify.txt" \
    || fail "$family: no entity F1 line"
  grep -q "^result     PASS: entity F1 drop" "$work/$family.verify.txt" || fail "$family: no PASS line"
  drop=$(/usr/bin/python3 - "$work/$family.json" "$work/$family.verify.txt" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert j["job"] == "token-classification" and j["headline"] == "entity_f1", j["job"]
assert j["rows"] == 48 and j["labelled_rows"] == 48 and j["words"] == 405 and j["words_cut"] == 0, j
assert j["artifact_mode"] == "dynamic int8" and j["recipe"]["quant.mode"] == "dynamic"
m = j["metrics"]
for k in ("entity_precision", "entity_recall", "entity_f1", "token_accuracy"):
    assert 0 <= m[k]["reference"] <= 1 and 0 <= m[k]["artifact"] <= 1, k
f1 = m["entity_f1"]
assert abs(j["drop_points"] - 100 * (f1["reference"] - f1["artifact"])) < 1e-9
p, r = m["entity_precision"]["reference"], m["entity_recall"]["reference"]
assert abs(f1["reference"] - (2 * p * r / (p + r) if p + r else 0)) < 1e-12
e = j["entities"]
assert e["gold"] == 74 and abs(p - e["reference_correct"] / e["reference_predicted"]) < 1e-12
assert abs(j["agreement"] - j["words_agreeing"] / j["words_compared"]) < 1e-12 and 0.9 <= j["agreement"] <= 1
assert j["max_drop"] == 100 and j["passed"] is True and j["data_sha256"] and j["tokenizer"]
line = re.search(r"entity F1  FP32 ([0-9.]+)%   dynamic int8 ([0-9.]+)%", text)
assert abs(float(line.group(1)) - 100 * f1["reference"]) < 0.006 and abs(float(line.group(2)) - 100 * f1["artifact"]) < 0.006
print(j["drop_points"])
PY
  ) || { fail "$family: JSON report"; continue; }
  /usr/bin/python3 "$check_html" "$work/$family.html" "$work/$family.json" || fail "$family: HTML report"
  if /usr/bin/python3 -c "import sys; sys.exit(0 if $drop > $biggest_drop else 1)"; then
    biggest_drop=$drop; biggest_family=$family
  fi
done

# the gate fails past --max-drop (on the family whose F1 dropped most), exit 3
if [ -n "$biggest_family" ]; then
  half=$(/usr/bin/python3 -c "print($biggest_drop / 2)")
  rc=0
  "$QF_CLI" verify "$work/$biggest_family.qf" --data "$rows" --threads 1 --max-drop "$half" --json "$work/gate.json" \
    --html "$work/gate.html" > "$work/gate.txt" || rc=$?
  [ "$rc" = 3 ] || fail "gate: exit $rc past --max-drop $half (drop $biggest_drop)"
  /usr/bin/python3 "$check_html" "$work/gate.html" "$work/gate.json" || fail "gate: HTML report"
  grep -q '<span class="badge fail">FAIL</span>' "$work/gate.html" || fail "gate: no FAIL badge on the page"
  grep -q "^result     FAIL: entity F1 drop .* > --max-drop" "$work/gate.txt" || fail "gate: no FAIL line"
else
  echo "note: no family's entity F1 dropped in dynamic int8; the failing gate is not exercised"
fi

# FP32 against itself: identical figures, full agreement
"$QF_CLI" verify "$bert" --reference "$bert" --data "$rows" --threads 1 --json "$work/self.json" > /dev/null \
  || fail "FP32 vs FP32"
/usr/bin/python3 - "$work/self.json" <<'PY' || fail "FP32 vs FP32 figures"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["artifact_mode"] == "FP32" and j["drop_points"] == 0 and j["agreement"] == 1, j
assert j["logits"]["max_abs_diff"] == 0 and j["max_drop"] is None
PY

# the {"text", "labels"} form (words split at whitespace) measures the same
/usr/bin/python3 - "$rows" "$work/text-form.jsonl" "$work/unlabelled.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as t, open(sys.argv[3], "w") as u:
    for l in open(sys.argv[1]):
        r = json.loads(l)
        t.write(json.dumps({"text": "  ".join(r["tokens"]), "labels": r["labels"]}) + "\n")
        u.write(json.dumps({"tokens": r["tokens"]}) + "\n")
PY
"$QF_CLI" verify "$work/bert.qf" --data "$work/text-form.jsonl" --threads 1 --json "$work/text-form.json" > /dev/null \
  || fail "text form"
/usr/bin/python3 - "$work/bert.json" "$work/text-form.json" <<'PY' || fail "text form figures differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["metrics"] == b["metrics"] and a["agreement"] == b["agreement"] and a["words"] == b["words"], (a, b)
PY

# --max-length cuts words off: they count as predicted O, and are reported
"$QF_CLI" verify "$work/bert.qf" --data "$rows" --threads 1 --max-length 8 --json "$work/short.json" \
  > "$work/short.txt" || fail "--max-length 8"
/usr/bin/python3 - "$work/short.json" <<'PY' || fail "--max-length 8 figures"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["max_length"] == 8 and j["words_cut"] > 0 and j["words_compared"] == j["words"] - j["words_cut"], j
assert j["entities"]["gold"] == 74
PY
grep -q "without a token: predicted O" "$work/short.txt" || fail "--max-length 8: words cut not printed"

# rows without labels: agreement only; --max-drop refused
"$QF_CLI" verify "$work/bert.qf" --data "$work/unlabelled.jsonl" --threads 1 --json "$work/unlabelled.json" \
  --html "$work/unlabelled.html" > "$work/unlabelled.txt" || fail "unlabelled rows"
/usr/bin/python3 "$check_html" "$work/unlabelled.html" "$work/unlabelled.json" || fail "unlabelled rows: HTML report"
grep -q 'entity F1</td><td>not measured' "$work/unlabelled.html" || fail "unlabelled rows: the page shows an entity F1"

# the HTML page escapes every path: a folder named with markup, quotes, & and a byte that is not UTF-8
hostile="$work/h<script>alert(\"1\")</script>&'$(printf '\377')"
mkdir -p "$hostile"
cp "$rows" "$hostile/rows.jsonl"
cp "$work/bert.qf" "$hostile/a.qf"
"$QF_CLI" verify "$hostile/a.qf" --data "$hostile/rows.jsonl" --threads 1 --json "$work/hostile.json" \
  --html "$work/hostile.html" > /dev/null || fail "hostile paths: verify"
/usr/bin/python3 "$check_html" "$work/hostile.html" "$work/hostile.json" --hostile "<script>alert(\"1\")</script>&'" \
  || fail "hostile paths: HTML report"
grep -q "entity F1" "$work/unlabelled.txt" && fail "unlabelled rows: entity F1 printed"
grep -q "^agreement  .* of words" "$work/unlabelled.txt" || fail "unlabelled rows: no agreement"
/usr/bin/python3 - "$work/unlabelled.json" <<'PY' || fail "unlabelled JSON"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["labelled_rows"] == 0 and j["drop_points"] is None and all(v is None for v in j["metrics"].values()), j
PY
expect_refusal "max-drop without labels" 2 "no row of .* has \"labels\"" \
  "$QF_CLI" verify "$work/bert.qf" --data "$work/unlabelled.jsonl" --max-drop 1

# malformed rows: file, line and field in each message
bad() { # NAME ROW PATTERN
  printf '%s\n\n%s\n' '{"tokens": ["aapt", ":", "tool"], "labels": ["B-PKG", "O", "O"]}' "$2" > "$work/bad.jsonl"
  expect_refusal "$1" 1 "bad.jsonl: line 3.*$3" "$QF_CLI" verify "$work/bert.qf" --data "$work/bad.jsonl"
  grep -q "$4" "$work/err.txt" || { fail "$1: the field '$4' is not named"; cat "$work/err.txt"; }
}
bad "length mismatch" '{"tokens": ["a", "b"], "labels": ["O"]}' '"labels" has 1 tags for 2 words' labels
bad "unknown tag" '{"tokens": ["a", "b"], "labels": ["O", "B-FOO"]}' '"labels"\[1\] "B-FOO" is not a label of the model' labels
bad "not IOB2" '{"tokens": ["a", "b"], "labels": ["O", "I-PKG"]}' '"labels"\[1\] "I-PKG" is not IOB2' labels
bad "type change" '{"tokens": ["a", "b"], "labels": ["B-VER", "I-PKG"]}' '"labels"\[1\] "I-PKG" is not IOB2' labels
bad "tag not a string" '{"tokens": ["a"], "labels": [1]}' '"labels"\[0\] is int, not a tag string' labels
bad "word with a space" '{"tokens": ["a b"], "labels": ["O"]}' '"tokens"\[0\] is a string with whitespace' tokens
bad "no words" '{"labels": ["O"]}' 'neither "tokens"' tokens
bad "not JSON" '{"tokens": ["a"' 'not one JSON object' 'line 3'

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "ok"
