#!/usr/bin/env bash
# tests/test_verify_embeddings.sh — `qforge verify` of an embedding model (the bert family fixture
# made a sentence-transformers folder here: modules.json, mean Pooling, Normalize) on 300 real
# texts of the bundled debsec-mini data:
#   - the FP32 .qf against its source: cosine 1 on every row, the same neighbours (top-1 100%);
#   - dynamic int8: the embedding job is chosen without --job, the report has cosine and retrieval
#     figures, --min-cosine passes (exit 0) or fails (exit 3, the JSON report still written);
#   - the report does not depend on --threads or --batch (JSON identical but "seconds");
#   - a classifier is measured as one unless --job embedding; options of the other job are usage
#     errors (--max-drop without STS rows, --min-cosine with classification);
#   - --html: the embedding page (tests/support/check_report_html.py: well-formed, cosine and
#     retrieval figures those of the JSON report, the gate's badge, PASS and FAIL), the row of
#     lowest cosine with its text escaped.
set -euo pipefail
work="$QF_BINARY_DIR/test_verify_embeddings.d"
rm -rf "$work"; mkdir -p "$work/st/1_Pooling"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
src="$QF_SOURCE_DIR/fixtures/families/bert"
cp "$src"/config.json "$src"/tokenizer* "$src"/special_tokens_map.json "$src"/vocab.txt "$src"/pytorch_model.bin "$work/st/"
cat > "$work/st/modules.json" <<'EOF'
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
EOF
echo '{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}' > "$work/st/1_Pooling/config.json"
head -300 "$QF_SOURCE_DIR/fixtures/debsec-mini/eval.jsonl" > "$work/rows.jsonl"
m="$work/st/pytorch_model.bin"

"$QF_CLI" convert "$m" -o "$work/f32.qf" -q
"$QF_CLI" quantize "$m" --mode dynamic -o "$work/int8.qf" -q

# field FILE EXPR: prints a value of the JSON report
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

"$QF_CLI" verify "$work/f32.qf" --data "$work/rows.jsonl" --threads 1 --json "$work/f32.json" -q || fail "FP32 verify"
[ "$(field "$work/f32.json" 'r["job"], r["rows"], r["cosine"]["min"] >= 1 - 1e-12, r["retrieval"]["top1_agreement"]')" = "('embedding', 300, True, 1.0)" ] ||
  fail "FP32 .qf: $(field "$work/f32.json" 'r["cosine"], r["retrieval"]')"

"$QF_CLI" verify "$work/int8.qf" --data "$work/rows.jsonl" --threads 1 --min-cosine 0.99 --json "$work/int8.json" --html "$work/int8.html" > "$work/int8.txt" || fail "int8 verify with --min-cosine 0.99"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/int8.html" "$work/int8.json" || fail "int8 HTML report"
grep -q '<tr id="gate-cosine"><td>gate</td><td>mean cosine [0-9.]* &ge; --min-cosine 0.99: PASS</td></tr>' "$work/int8.html" || fail "int8 HTML: no PASS gate line"
cat "$work/int8.txt"
[ "$(field "$work/int8.json" 'r["pooling"], r["normalize"], r["dimensions"], r["passed"], r["cosine"]["mean"] > 0.999')" = "('mean', True, 64, True, True)" ] ||
  fail "int8 report: $(field "$work/int8.json" 'r')"
grep -q "^result     PASS" "$work/int8.txt" || fail "no PASS line"
set +e
"$QF_CLI" verify "$work/int8.qf" --data "$work/rows.jsonl" --threads 1 --min-cosine 0.9999999999 --json "$work/fail.json" --html "$work/fail.html" -q
rc=$?
set -e
[ "$rc" = 3 ] || fail "--min-cosine above the mean: exit $rc, not 3"
/usr/bin/python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/fail.html" "$work/fail.json" || fail "failing HTML report"
[ "$(field "$work/fail.json" 'r["passed"]')" = False ] || fail "the failing report says passed"

# threads and batch change nothing
"$QF_CLI" verify "$work/int8.qf" --data "$work/rows.jsonl" --threads 2 --batch 7 --min-cosine 0.99 --json "$work/int8-b7.json" -q
for f in int8 int8-b7; do grep -v '"seconds"' "$work/$f.json" | sed 's/, *$//' > "$work/$f.cmp"; done
cmp -s "$work/int8.cmp" "$work/int8-b7.cmp" || fail "the report depends on --threads/--batch"

# the job's options
usage() { # LABEL ARGS...
  local label=$1; shift
  set +e; "$QF_CLI" verify "$@" > /dev/null 2> "$work/u.err"; local rc=$?; set -e
  [ "$rc" = 2 ] || fail "$label: exit $rc, not 2 ($(cat "$work/u.err"))"
}
usage "--max-drop with the embedding job" "$work/int8.qf" --data "$work/rows.jsonl" --max-drop 1
usage "--job unknown" "$work/int8.qf" --data "$work/rows.jsonl" --job ranking
"$QF_CLI" quantize "$src/pytorch_model.bin" --mode dynamic -o "$work/cls.qf" -q
usage "--min-cosine with a classifier" "$work/cls.qf" --data "$work/rows.jsonl" --min-cosine 0.9
"$QF_CLI" verify "$work/cls.qf" --data "$work/rows.jsonl" --job embedding --threads 1 --json "$work/cls.json" -q ||
  fail "--job embedding on a classifier"
[ "$(field "$work/cls.json" 'r["job"], r["pooling"], r["normalize"]')" = "('embedding', 'mean', False)" ] || fail "classifier as embedding"

echo "$failures failure(s)"
[ "$failures" = 0 ]
