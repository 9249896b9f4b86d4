#!/usr/bin/env bash
# tests/test_job_rows_calibrate.sh — the data files of the token-classification and QA jobs
# calibrate as they are: a {"question", "context"} row is the pair (question, context) and a
# {"tokens", "labels"} row its words joined by single spaces, so `qforge calibrate` on the job's own
# rows writes the same .qfc, byte for byte, as on the rows rewritten to {"text"[, "text_pair"]}.
# Malformed job rows are refused with their line and field.
set -euo pipefail
work="$QF_BINARY_DIR/test_job_rows_calibrate.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

qa="$QF_SOURCE_DIR/fixtures/heads/bert-qa/model.safetensors"
/usr/bin/python3 - "$QF_SOURCE_DIR/fixtures/qa/debsec-qa.jsonl" > "$work/qa_text.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    print(json.dumps({"text": r["question"], "text_pair": r["context"]}, ensure_ascii=False))
PY
"$QF_CLI" calibrate "$qa" --data "$QF_SOURCE_DIR/fixtures/qa/debsec-qa.jsonl" -o "$work/qa_rows.qfc" --quiet ||
  fail "calibrate on QA rows"
"$QF_CLI" calibrate "$qa" --data "$work/qa_text.jsonl" -o "$work/qa_text.qfc" --quiet || fail "calibrate on text pairs"
cmp -s "$work/qa_rows.qfc" "$work/qa_text.qfc" || fail "QA rows calibrate as (question, context) pairs"

ner="$QF_SOURCE_DIR/fixtures/heads/bert-token/model.safetensors"
/usr/bin/python3 - "$QF_SOURCE_DIR/fixtures/heads/debsec-ner.jsonl" > "$work/ner_text.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    print(json.dumps({"text": " ".join(r["tokens"])}, ensure_ascii=False))
PY
"$QF_CLI" calibrate "$ner" --data "$QF_SOURCE_DIR/fixtures/heads/debsec-ner.jsonl" -o "$work/ner_rows.qfc" --quiet ||
  fail "calibrate on word rows"
"$QF_CLI" calibrate "$ner" --data "$work/ner_text.jsonl" -o "$work/ner_text.qfc" --quiet || fail "calibrate on joined text"
cmp -s "$work/ner_rows.qfc" "$work/ner_text.qfc" || fail "word rows calibrate as their words joined by spaces"

refused() { # name expected-pattern row
  printf '%s\n' '{"tokens": ["fine"]}' "$3" > "$work/bad.jsonl"
  if "$QF_CLI" calibrate "$ner" --data "$work/bad.jsonl" -o "$work/bad.qfc" --quiet 2> "$work/err.txt"; then
    fail "$1: accepted"
  elif ! grep -q -- "$2" "$work/err.txt"; then
    fail "$1: stderr lacks '$2'"; cat "$work/err.txt"
  fi
}
refused "question without context" 'line 2.*a question-answering row needs "question" and "context" strings ("context" is null)' \
  '{"question": "what?"}'
refused "context not a string" '"context" is int' '{"question": "what?", "context": 3}'
refused "tokens not a list" 'line 2.*"tokens" is not a non-empty list of words' '{"tokens": "a b"}'
refused "empty tokens" '"tokens" is not a non-empty list of words' '{"tokens": []}'
refused "a word not a string" '"tokens"\[1\] is int, not a word' '{"tokens": ["a", 7]}'

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "test_job_rows_calibrate: all checks passed"
