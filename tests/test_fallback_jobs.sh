#!/usr/bin/env bash
# tests/test_fallback_jobs.sh — `qforge quantize --mode static --max-drop P --eval ROWS` measured with
# the job's own headline metric, the job chosen as `qforge verify` chooses it (the head, or --job):
#   - QA: fixtures/heads/bert-qa on fixtures/qa/debsec-qa.jsonl (SQuAD F1), calibrated on
#     {"text": question, "text_pair": context};
#   - token classification: fixtures/heads/bert-token on fixtures/heads/debsec-ner.jsonl (entity F1),
#     calibrated on the words joined;
#   - multi-label: the bert family fixture with problem_type multi_label_classification on the
#     label sets FP32 predicts itself for fixtures/rank/multilabel.jsonl (micro-F1; every changed
#     row is a loss);
# each with --max-drop 0 where static int8 loses something: projections reverted, the summary names
# the metric, the final drop is within the budget (or the error says it is not), the metadata
# records quant.fallback.metric, and `qforge verify` of the result agrees. Also: rerank MRR@10 and
# STS Spearman summaries, and the refusals (rerank rows without relevance labels, plain embedding
# rows, --job unknown or without --max-drop). Classification's lines stay those of
# test_static_cli.sh and write no quant.fallback.metric.
set -u
QF=${QF_CLI:?QF_CLI must point at the qforge binary}
SRC=${QF_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
failures=0
passes=0
check() { if [ "$2" = "$3" ]; then passes=$((passes + 1)); else echo "FAIL: $1: exit $3, expected $2"; failures=$((failures + 1)); fi; }
expect() { local name=$1; shift; if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi; }
py() { /usr/bin/python3 "$@"; }

# fallback NAME METRIC KEY MODEL EVAL QFC [options...]: runs the fallback with --max-drop 0 and checks
# its summary and metadata (quant.fallback.metric = KEY); the artifact is $tmp/NAME.qf, its stdout
# $tmp/NAME.out
fallback() {
  local name=$1 metric=$2 key=$3 model=$4 eval=$5 qfc=$6; shift 6
  "$QF" quantize "$model" --mode static --stats "$qfc" --threads 1 --max-drop 0 --eval "$eval" -o "$tmp/$name.qf" "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err"
  local rc=$?
  cat "$tmp/$name.out"
  grep -q "^fallback: all int8: $metric drop" "$tmp/$name.err" || { echo "FAIL: $name: no progress line"; failures=$((failures + 1)); }
  local line
  line=$(grep "^fallback: $metric drop" "$tmp/$name.out")
  expect "$name: the summary names $metric" test -n "$line"
  # the initial drop > 0 (the budget forces reverting), projections reverted and listed
  expect "$name: static int8 loses $metric" py -c "import sys; sys.exit(0 if float('$line'.split('drop ')[1].split(' pt')[0]) > 0 else 1)"
  expect "$name: a projection reverted" grep -Eq "^  layers\.[01]\.(attn|ffn)\.[a-z]+ +only-int8 " "$tmp/$name.out"
  if [ "$rc" = 0 ]; then
    expect "$name: within the budget" grep -q "(budget 0, within)" "$tmp/$name.out"
    expect "$name: final drop <= 0" py -c "import sys; sys.exit(0 if float('$line'.split('-> ')[1].split(' pt')[0]) <= 0 else 1)"
  else
    check "$name: not within the budget" 1 "$rc"
    expect "$name: the error names the metric" grep -q "error: the $metric drop .* stays above --max-drop 0" "$tmp/$name.err"
  fi
  "$QF" inspect "$tmp/$name.qf" --json > "$tmp/$name.json"
  expect "$name: metadata" py -c "
import json, sys
m = json.load(open('$tmp/$name.json'))['metadata']
ok = m['quant.fallback.metric'] == sys.argv[1] and m['quant.fallback.max_drop'] == '0' and m['quant.fallback.reverted']
sys.exit(0 if ok else 1)" "$key"
}

# ---- QA
py -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(json.dumps({'text': r['question'], 'text_pair': r['context']}))" \
  "$SRC/fixtures/qa/debsec-qa.jsonl" > "$tmp/qa-cal.jsonl"
QA=$SRC/fixtures/heads/bert-qa/model.safetensors
"$QF" calibrate "$QA" --data "$tmp/qa-cal.jsonl" --threads 1 -o "$tmp/qa.qfc" -q; check "QA calibrate" 0 $?
fallback qa F1 f1 "$QA" "$SRC/fixtures/qa/debsec-qa.jsonl" "$tmp/qa.qfc" --sensitivity-rows 12
expect "QA: span agreement ranks" grep -q "only-int8 span agreement loss" "$tmp/qa.out"
"$QF" verify "$tmp/qa.qf" --data "$SRC/fixtures/qa/debsec-qa.jsonl" --threads 1 --max-drop 0 > "$tmp/qa.verify"
check "QA: verify of the result passes --max-drop 0" 0 $?

# ---- token classification
py -c "
import json, sys
for l in open(sys.argv[1]):
    print(json.dumps({'text': ' '.join(json.loads(l)['tokens'])}))" "$SRC/fixtures/heads/debsec-ner.jsonl" > "$tmp/ner-cal.jsonl"
NER=$SRC/fixtures/heads/bert-token/model.safetensors
"$QF" calibrate "$NER" --data "$tmp/ner-cal.jsonl" --threads 1 -o "$tmp/ner.qfc" -q; check "NER calibrate" 0 $?
fallback ner "entity F1" entity_f1 "$NER" "$SRC/fixtures/heads/debsec-ner.jsonl" "$tmp/ner.qfc" --sensitivity-rows 24
expect "NER: word agreement ranks" grep -q "only-int8 word agreement loss" "$tmp/ner.out"
"$QF" verify "$tmp/ner.qf" --data "$SRC/fixtures/heads/debsec-ner.jsonl" --threads 1 --max-drop 0 > "$tmp/ner.verify"
check "NER: verify of the result passes --max-drop 0" 0 $?

# ---- multi-label (rows as tests/test_rank_cli.sh makes them: FP32's own label sets)
mkdir -p "$tmp/ml"
b=$SRC/fixtures/families/bert
cp "$b"/config.json "$b"/tokenizer* "$b"/special_tokens_map.json "$b"/vocab.txt "$b"/pytorch_model.bin "$tmp/ml/"
py - "$tmp/ml/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["problem_type"] = "multi_label_classification"
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
ML=$tmp/ml/pytorch_model.bin
"$QF" run "$ML" --data "$SRC/fixtures/rank/multilabel.jsonl" --threads 1 > "$tmp/ml-f32.jsonl"; check "multi-label run" 0 $?
py - "$SRC/fixtures/rank/multilabel.jsonl" "$tmp/ml-f32.jsonl" > "$tmp/ml-own.jsonl" <<'PY'
import json, sys
for a, b in zip(open(sys.argv[1]), open(sys.argv[2])):
    print(json.dumps({"text": json.loads(a)["text"], "labels": sorted(json.loads(b)["labels"])}))
PY
"$QF" calibrate "$ML" --data "$SRC/fixtures/rank/multilabel.jsonl" --threads 1 -o "$tmp/ml.qfc" -q; check "multi-label calibrate" 0 $?
fallback ml micro-F1 micro_f1 "$ML" "$tmp/ml-own.jsonl" "$tmp/ml.qfc" --sensitivity-rows 60
expect "multi-label: label-set agreement ranks" grep -q "only-int8 label-set agreement loss" "$tmp/ml.out"
"$QF" verify "$tmp/ml.qf" --data "$tmp/ml-own.jsonl" --threads 1 --max-drop 0 > "$tmp/ml.verify"
check "multi-label: verify of the result passes --max-drop 0" 0 $?

# ---- rerank and STS: the metric named; their refusals
RR=$SRC/fixtures/rank/bert-rerank/model.safetensors
"$QF" calibrate "$RR" --data "$SRC/fixtures/rank/rerank.jsonl" --threads 1 -o "$tmp/rr.qfc" -q
"$QF" quantize "$RR" --mode static --stats "$tmp/rr.qfc" --threads 1 --max-drop 100 --eval "$SRC/fixtures/rank/rerank.jsonl" \
  -o "$tmp/rr.qf" > "$tmp/rr.out" 2>/dev/null; check "rerank fallback" 0 $?
expect "rerank: MRR@10 named" grep -q "^fallback: MRR@10 drop .* (budget 100, within)" "$tmp/rr.out"
py -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(json.dumps({'text': r['query'], 'text_pair': r['text']}))" \
  "$SRC/fixtures/rank/rerank.jsonl" > "$tmp/rr-plain.jsonl"
"$QF" quantize "$RR" --mode static --stats "$tmp/rr.qfc" --threads 1 --max-drop 1 --eval "$tmp/rr-plain.jsonl" \
  -o "$tmp/never.qf" > /dev/null 2> "$tmp/e"; check "rerank without relevance labels refused" 2 $?
expect "rerank refusal says why" grep -q "MRR@10 drop, which needs a relevance \"label\"" "$tmp/e"
B=$b/pytorch_model.bin
"$QF" calibrate "$B" --data "$SRC/fixtures/rank/sts.jsonl" --threads 1 -o "$tmp/sts.qfc" -q
"$QF" quantize "$B" --mode static --stats "$tmp/sts.qfc" --threads 1 --job embedding --max-drop 100 \
  --eval "$SRC/fixtures/rank/sts.jsonl" -o "$tmp/sts.qf" > "$tmp/sts.out" 2>/dev/null; check "STS fallback" 0 $?
expect "STS: Spearman named" grep -q "^fallback: STS Spearman drop .* (budget 100, within)" "$tmp/sts.out"
"$QF" quantize "$B" --mode static --stats "$tmp/sts.qfc" --threads 1 --job embedding --max-drop 1 \
  --eval "$SRC/fixtures/debsec-mini/eval.jsonl" -o "$tmp/never.qf" > /dev/null 2> "$tmp/e"
check "plain embedding rows refused" 2 $?
expect "plain embedding refusal says why" grep -q "plain embedding rows have no drop metric" "$tmp/e"
"$QF" quantize "$B" --mode static --stats "$tmp/sts.qfc" --job nope --max-drop 1 --eval "$tmp/rr-plain.jsonl" \
  -o "$tmp/never.qf" > /dev/null 2> "$tmp/e"; check "unknown --job" 2 $?
"$QF" quantize "$B" --mode static --stats "$tmp/sts.qfc" --job qa -o "$tmp/never.qf" > /dev/null 2>&1
check "--job without --max-drop" 2 $?
expect "no output left behind" test ! -e "$tmp/never.qf"

# ---- classification: no metric key (absent = accuracy), lines as before
M=$SRC/fixtures/debsec-mini/pytorch_model.bin
D=$SRC/fixtures/debsec-mini/eval.jsonl
"$QF" calibrate "$M" --data "$D" --samples 40 --threads 1 -o "$tmp/c.qfc" -q
"$QF" quantize "$M" --mode static --stats "$tmp/c.qfc" --threads 1 --method percentile --percentile 50 --max-drop 1 \
  --eval "$D" --sensitivity-rows 20 -o "$tmp/c.qf" > "$tmp/c.out" 2> "$tmp/c.err"; check "classification fallback" 0 $?
expect "classification summary unchanged" grep -q "^fallback: drop .* (budget 1, within)" "$tmp/c.out"
expect "classification progress unchanged" grep -q "^fallback: sensitivity layers.0.attn.q: agreement lost .* pt, mean |dlogit| " "$tmp/c.err"
"$QF" inspect "$tmp/c.qf" --json > "$tmp/c.json"
expect "classification records no quant.fallback.metric" py -c "
import json, sys
m = json.load(open('$tmp/c.json'))['metadata']
sys.exit(0 if 'quant.fallback.metric' not in m and 'only-int8 agreement loss' in m['quant.fallback.reverted'] else 1)"

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
