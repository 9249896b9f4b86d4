#!/usr/bin/env bash
# tests/test_rank_cli.sh — the scoring jobs of `qforge verify` on real models made from the
# fixtures, FP32 against dynamic int8 (quantize --min-elements 1):
#   - multi-label: the bert family fixture with problem_type multi_label_classification (chosen
#     without --job), fixtures/rank/multilabel.jsonl; micro-F1 and label-set agreement printed and
#     in the JSON; the micro-F1 of both models recomputed here from `qforge run` logits; a gold set
#     equal to FP32's own predictions makes every changed row a loss: --max-drop 0 fails (exit 3);
#   - rerank: fixtures/rank/bert-rerank (a one-label cross-encoder, chosen without --job) on the
#     {"query", "text", "label"} groups of fixtures/rank/rerank.jsonl: MRR@10, NDCG@10, score
#     Spearman and rank agreement; MRR@10 and the Spearman recomputed here from `qforge run` scores
#     of the same pairs; --max-drop and --min-spearman pass and fail; {"text", "text_pair"} rows
#     without labels: --max-drop refused, --min-spearman gates;
#   - STS: fixtures/rank/sts.jsonl (debsec description pairs, score 1 same section / 0 not) in the
#     embedding job: the Spearman of cosine vs score of each model recomputed from `qforge run
#     --output embedding`; --max-drop gates it; plain rows keep refusing --max-drop;
#   - malformed rows refused with the line and the field;
#   - --html of each job: the page's metric figures those of the JSON report, the gates' lines,
#     well-formed (tests/support/check_report_html.py).
set -euo pipefail
work="$QF_BINARY_DIR/test_rank_cli.d"
rm -rf "$work"; mkdir -p "$work/ml"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
fx="$QF_SOURCE_DIR/fixtures/rank"
src="$QF_SOURCE_DIR/fixtures/families/bert"
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }
# expect_exit CODE LABEL ARGS... (stderr kept in $work/last.err)
expect_exit() {
  local want=$1 label=$2; shift 2
  set +e; "$QF_CLI" "$@" > "$work/last.out" 2> "$work/last.err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "$label: exit $rc, not $want ($(cat "$work/last.err"))"
}
# refused LABEL FIELD ARGS...: exit 1 with "line N" and the field named
refused() {
  local label=$1 fieldname=$2; shift 2
  expect_exit 1 "$label" "$@"
  grep -q "line [0-9]" "$work/last.err" && grep -q "$fieldname" "$work/last.err" || fail "$label: $(cat "$work/last.err")"
}

# ---- multi-label
cp "$src"/config.json "$src"/tokenizer* "$src"/special_tokens_map.json "$src"/vocab.txt "$src"/pytorch_model.bin "$work/ml/"
/usr/bin/python3 - "$work/ml/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["problem_type"] = "multi_label_classification"
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
ml="$work/ml/pytorch_model.bin"
"$QF_CLI" quantize "$ml" --mode dynamic --min-elements 1 -o "$work/ml.qf" -q
"$QF_CLI" verify "$work/ml.qf" --data "$fx/multilabel.jsonl" --threads 1 --max-drop 100 --json "$work/ml.json" --html "$work/ml.html" > "$work/ml.txt" ||
  fail "multi-label verify"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/ml.html" "$work/ml.json" || fail "multi-label HTML report"
cat "$work/ml.txt"
grep -q "^micro-F1   FP32 .*dynamic int8 .*drop" "$work/ml.txt" && grep -q "^agreement  .*exact label set" "$work/ml.txt" &&
  grep -q "^result     PASS: micro-F1 drop" "$work/ml.txt" || fail "multi-label summary"
[ "$(field "$work/ml.json" 'r["job"], r["rows"], r["labelled_rows"], r["num_labels"], r["threshold"], r["headline"], r["passed"], sorted(r["micro_f1"]), "label_set_agreement" in r, "drop_points" in r')" = \
  "('multi-label', 150, 150, 3, 0.5, 'micro_f1', True, ['artifact', 'reference'], True, True)" ] || fail "multi-label JSON: $(cat "$work/ml.json")"
"$QF_CLI" run "$ml" --data "$fx/multilabel.jsonl" --threads 1 > "$work/ml-f32.jsonl"
"$QF_CLI" run "$work/ml.qf" --data "$fx/multilabel.jsonl" --threads 1 > "$work/ml-int8.jsonl"
/usr/bin/python3 - "$fx/multilabel.jsonl" "$work/ml-f32.jsonl" "$work/ml-int8.jsonl" "$work/ml.json" "$work/ml-own.jsonl" <<'PY' || fail "multi-label figures differ from qforge run's"
import json, sys
gold_rows = [json.loads(l) for l in open(sys.argv[1])]
names = {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
gold = [{names.get(x, x) for x in r["labels"]} for r in gold_rows]
pred = [[set(json.loads(l)["labels"]) for l in open(p)] for p in sys.argv[2:4]]
def f1(p):
    tp = sum(len(a & b) for a, b in zip(p, gold)); n = sum(map(len, p)) + sum(map(len, gold))
    return 2 * tp / n if n else 0.0
rep = json.load(open(sys.argv[4]))
want = (f1(pred[0]), f1(pred[1]), sum(a == b for a, b in zip(*pred)) / len(gold))
got = (rep["micro_f1"]["reference"], rep["micro_f1"]["artifact"], rep["label_set_agreement"])
print("multi-label micro-F1 FP32 %.6f int8 %.6f agreement %.6f (from qforge run)" % want)
# the gold sets FP32 predicts itself: every row the artifact changes is a loss
with open(sys.argv[5], "w") as f:
    for r, p in zip(gold_rows, pred[0]):
        f.write(json.dumps({"text": r["text"], "labels": sorted(p)}) + "\n")
sys.exit(0 if all(abs(a - b) < 1e-12 for a, b in zip(want, got)) and want[2] < 1 else 1)
PY
expect_exit 3 "multi-label --max-drop 0 on FP32's own sets" verify "$work/ml.qf" --data "$work/ml-own.jsonl" --threads 1 --max-drop 0 --json "$work/ml-own.json"
[ "$(field "$work/ml-own.json" 'r["micro_f1"]["reference"], r["drop_points"] > 0, r["passed"]')" = "(1.0, True, False)" ] || fail "own-set gate report"
grep -q "^result     FAIL: micro-F1 drop" "$work/last.out" || fail "no FAIL line"
printf '{"text": "a b", "labels": ["LABEL_9"]}\n' > "$work/bad1.jsonl"
refused "unknown label name" labels verify "$work/ml.qf" --data "$work/bad1.jsonl"
printf '{"text": "a b", "labels": []}\n{"text": "a b", "labels": [3]}\n' > "$work/bad2.jsonl"
refused "label id past the head" labels verify "$work/ml.qf" --data "$work/bad2.jsonl"
printf '{"text": "a b", "labels": "LABEL_0"}\n' > "$work/bad3.jsonl"
refused "labels not a list" labels verify "$work/ml.qf" --data "$work/bad3.jsonl"
expect_exit 2 "--threshold outside [0, 1]" verify "$work/ml.qf" --data "$fx/multilabel.jsonl" --threshold 1.5
expect_exit 2 "--min-spearman with multi-label" verify "$work/ml.qf" --data "$fx/multilabel.jsonl" --min-spearman 0.5

# ---- rerank
ce="$fx/bert-rerank/model.safetensors"
"$QF_CLI" quantize "$ce" --mode dynamic --min-elements 1 -o "$work/ce.qf" -q
"$QF_CLI" verify "$work/ce.qf" --data "$fx/rerank.jsonl" --threads 1 --max-drop 100 --min-spearman 0.5 --json "$work/rr.json" --html "$work/rr.html" > "$work/rr.txt" ||
  fail "rerank verify"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/rr.html" "$work/rr.json" || fail "rerank HTML report"
grep -q '<tr id="gate-spearman"><td>gate</td><td>score Spearman [0-9.]* &ge; --min-spearman 0.5: PASS</td></tr>' "$work/rr.html" ||
  fail "rerank HTML: no --min-spearman gate line"
cat "$work/rr.txt"
for l in "^scores     sigmoid of the logit; Spearman FP32 vs dynamic int8" "^MRR@10     FP32" "^NDCG@10    FP32" \
         "^agreement  .*rank (same top-1 in [0-9]* of 40 groups" "^result     PASS: MRR@10 drop" "^result     PASS: score Spearman"; do
  grep -q "$l" "$work/rr.txt" || fail "rerank summary lacks $l"
done
[ "$(field "$work/rr.json" 'r["job"], r["rows"], r["groups"], r["labelled"], r["headline"], r["score"], sorted(r["mrr_at_10"]), sorted(r["ndcg_at_10"]), r["passed"]')" = \
  "('rerank', 240, 40, True, 'mrr_at_10', 'sigmoid', ['artifact', 'reference'], ['artifact', 'reference'], True)" ] || fail "rerank JSON: $(cat "$work/rr.json")"
"$QF_CLI" run "$ce" --data "$fx/rerank.jsonl" --threads 1 > "$work/rr-f32.jsonl"
"$QF_CLI" run "$work/ce.qf" --data "$fx/rerank.jsonl" --threads 1 > "$work/rr-int8.jsonl"
/usr/bin/python3 - "$fx/rerank.jsonl" "$work/rr-f32.jsonl" "$work/rr-int8.jsonl" "$work/rr.json" <<'PY' || fail "rerank figures differ from qforge run's"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
scores = [[json.loads(l)["score"] for l in open(p)] for p in sys.argv[2:4]]
def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i]); r = [0.0] * len(x); i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r
def spearman(a, b):
    ra, rb = ranks(a), ranks(b); n = len(a); ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
groups = {}
for i, r in enumerate(rows): groups.setdefault(r["query"], []).append(i)
def mrr(s):
    total = 0.0
    for items in groups.values():
        ranked = sorted(items, key=lambda i: -s[i])[:10]   # stable: earlier row first on a tie
        total += next((1.0 / (k + 1) for k, i in enumerate(ranked) if rows[i]["label"] > 0), 0.0)
    return total / len(groups)
rep = json.load(open(sys.argv[4]))
want = (mrr(scores[0]), mrr(scores[1]), spearman(scores[0], scores[1]))
got = (rep["mrr_at_10"]["reference"], rep["mrr_at_10"]["artifact"], rep["score_spearman"])
print("rerank MRR@10 FP32 %.6f int8 %.6f score Spearman %.6f (from qforge run)" % want)
# qforge run prints scores to 9 digits: the MRR is exact, the Spearman close
sys.exit(0 if abs(want[0] - got[0]) < 1e-12 and abs(want[1] - got[1]) < 1e-12 and abs(want[2] - got[2]) < 1e-3 else 1)
PY
drop=$(field "$work/rr.json" 'r["drop_points"]')
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$drop" &&
  expect_exit 3 "rerank --max-drop below the drop ($drop)" verify "$work/ce.qf" --data "$fx/rerank.jsonl" --threads 1 --max-drop 0
expect_exit 3 "--min-spearman 1" verify "$work/ce.qf" --data "$fx/rerank.jsonl" --threads 1 --min-spearman 1
/usr/bin/python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(json.dumps({'text': r['query'], 'text_pair': r['text']}))" "$fx/rerank.jsonl" > "$work/pairs.jsonl"
expect_exit 2 "--max-drop without relevance labels" verify "$work/ce.qf" --data "$work/pairs.jsonl" --max-drop 1
grep -q "min-spearman" "$work/last.err" || fail "the refusal does not name --min-spearman"
"$QF_CLI" verify "$work/ce.qf" --data "$work/pairs.jsonl" --threads 1 --min-spearman 0.5 --json "$work/pairs.json" --html "$work/pairs.html" -q || fail "unlabelled pairs"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/pairs.html" "$work/pairs.json" || fail "unlabelled pairs: HTML report"
[ "$(field "$work/pairs.json" 'r["labelled"], r["headline"], r["groups"], "mrr_at_10" in r, r["score_spearman"] == json.load(open(sys.argv[1].replace("pairs.json", "rr.json")))["score_spearman"]')" = \
  "(False, 'score_spearman', 40, False, True)" ] || fail "unlabelled pairs report: $(cat "$work/pairs.json")"
printf '{"query": "q", "text": "a b", "label": -1}\n' > "$work/bad4.jsonl"
refused "negative relevance" label verify "$work/ce.qf" --data "$work/bad4.jsonl"
printf '{"query": "q", "text": "a b", "label": 1}\n{"query": "q", "text": "c"}\n' > "$work/bad5.jsonl"
refused "a row without label among labelled ones" label verify "$work/ce.qf" --data "$work/bad5.jsonl"
printf '{"query": 7, "text": "a b"}\n' > "$work/bad6.jsonl"
refused "query not a string" query verify "$work/ce.qf" --data "$work/bad6.jsonl"
printf '{"query": "q", "text": "a", "text_pair": "b"}\n' > "$work/bad7.jsonl"
refused "query beside text_pair" query verify "$work/ce.qf" --data "$work/bad7.jsonl"

# ---- STS in the embedding job
"$QF_CLI" quantize "$src/pytorch_model.bin" --mode dynamic --min-elements 1 -o "$work/emb.qf" -q
"$QF_CLI" verify "$work/emb.qf" --job embedding --data "$fx/sts.jsonl" --threads 1 --max-drop 100 --json "$work/sts.json" --html "$work/sts.html" > "$work/sts.txt" ||
  fail "STS verify"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/sts.html" "$work/sts.json" || fail "STS HTML report"
cat "$work/sts.txt"
grep -q "^STS        Spearman of cosine(text, text_pair) vs score over 200 pairs: FP32 .* dynamic int8 .* drop" "$work/sts.txt" &&
  grep -q "^cosine     mean" "$work/sts.txt" && grep -q "^result     PASS: STS Spearman drop" "$work/sts.txt" || fail "STS summary"
[ "$(field "$work/sts.json" 'r["job"], r["rows"], r["headline"], r["sts"]["pairs"], sorted(r["sts"]["spearman"]), r["max_drop"], r["passed"], "cosine" in r and "retrieval" in r')" = \
  "('embedding', 200, 'sts_spearman', 200, ['artifact', 'reference'], 100.0, True, True)" ] || fail "STS JSON: $(cat "$work/sts.json")"
/usr/bin/python3 -c "
import json, sys
a, b = open(sys.argv[2], 'w'), open(sys.argv[3], 'w')
for l in open(sys.argv[1]):
    r = json.loads(l); a.write(json.dumps({'text': r['text']}) + '\n'); b.write(json.dumps({'text': r['text_pair']}) + '\n')" \
  "$fx/sts.jsonl" "$work/sts-a.jsonl" "$work/sts-b.jsonl"
for m in f32:"$src/pytorch_model.bin" int8:"$work/emb.qf"; do
  for side in a b; do "$QF_CLI" run "${m#*:}" --output embedding --data "$work/sts-$side.jsonl" --threads 1 > "$work/e-${m%%:*}-$side.jsonl"; done
done
/usr/bin/python3 - "$fx/sts.jsonl" "$work" "$work/sts.json" <<'PY' || fail "STS Spearman differs from qforge run's embeddings"
import json, sys, math
gold = [json.loads(l)["score"] for l in open(sys.argv[1])]
def emb(name): return [json.loads(l)["embedding"] for l in open("%s/e-%s.jsonl" % (sys.argv[2], name))]
def cos(x, y): return sum(a * b for a, b in zip(x, y)) / math.sqrt(sum(a * a for a in x) * sum(b * b for b in y))
def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i]); r = [0.0] * len(x); i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r
def spearman(a, b):
    ra, rb = ranks(a), ranks(b); n = len(a); ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
want = [spearman([cos(x, y) for x, y in zip(emb(m + "-a"), emb(m + "-b"))], gold) for m in ("f32", "int8")]
rep = json.load(open(sys.argv[3]))["sts"]["spearman"]
print("STS Spearman FP32 %.6f int8 %.6f (from qforge run --output embedding)" % tuple(want))
sys.exit(0 if abs(want[0] - rep["reference"]) < 2e-3 and abs(want[1] - rep["artifact"]) < 2e-3 else 1)
PY
expect_exit 3 "STS --max-drop 0 with a drop" verify "$work/emb.qf" --job embedding --data "$fx/sts.jsonl" --threads 1 --max-drop 0
[ "$(field "$work/sts.json" 'r["drop_points"] > 0')" = True ] || fail "the STS check of --max-drop 0 needs a positive drop"
head -5 "$QF_SOURCE_DIR/fixtures/debsec-mini/eval.jsonl" > "$work/plain.jsonl"
expect_exit 2 "--max-drop with plain embedding rows" verify "$work/emb.qf" --job embedding --data "$work/plain.jsonl" --max-drop 1
printf '{"text": "a b", "text_pair": "c", "score": "high"}\n' > "$work/bad8.jsonl"
refused "score not a number" score verify "$work/emb.qf" --job embedding --data "$work/bad8.jsonl"
printf '{"text": "a b", "text_pair": "c", "score": 1}\n{"text": "a b", "score": 0}\n' > "$work/bad9.jsonl"
refused "score row without text_pair" text_pair verify "$work/emb.qf" --job embedding --data "$work/bad9.jsonl"

echo "$failures failure(s)"
[ "$failures" = 0 ]
