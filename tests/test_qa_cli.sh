#!/usr/bin/env bash
# tests/test_qa_cli.sh — question answering through the CLI, for the QA head of every family
# (fixtures/heads/<family>-qa):
#   - run --output spans on the fixture's own input_ids rows: start/end logits equal reference.json
#     (transformers' logits) within 1e-4, "answer" null;
#   - short {"question", "context"} rows: one window, the answer is the best valid span by the
#     pipeline's rule (recomputed here from the printed logits) and its text is the context's
#     substring at start/end;
#   - long contexts at --max-seq-len 48 --doc-stride 16: several windows, each at most 48 logits;
#   - align_to_words (the default) widens an answer to the whole words of its first and last tokens
#     (BERT: at whitespace and punctuation boundaries); --no-align-to-words keeps the tokens' span;
#   - verify --job qa (chosen by itself for a QA head) of dynamic int8 against FP32 on
#     fixtures/qa/debsec-qa.jsonl: EM / F1 printed, JSON report fields, --max-drop gate, the --html page
#     (tests/support/check_report_html.py: its figures those of the JSON report, paths escaped);
#   - refusals: --output spans on a sequence classifier names the head; malformed rows name the
#     line and the field; --max-drop without answers; a question too long for --max-seq-len.
set -euo pipefail
work="$QF_BINARY_DIR/test_qa_cli.d"
rm -rf "$work"; mkdir -p "$work"
export OMP_NUM_THREADS=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
rows="$QF_SOURCE_DIR/fixtures/qa/debsec-qa.jsonl"

for fam in bert roberta distilbert electra; do
    m="$QF_SOURCE_DIR/fixtures/heads/$fam-qa"
    python3 - "$m/reference.json" > "$work/$fam-ids.jsonl" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
for r in ref["rows"]:
    row = {"input_ids": r["input_ids"]}
    if "token_type_ids" in r:
        row["token_type_ids"] = r["token_type_ids"]
    print(json.dumps(row))
PY
    "$QF_CLI" run "$m" --data "$work/$fam-ids.jsonl" --output spans > "$work/$fam-ids.out"
    python3 - "$m/reference.json" "$work/$fam-ids.out" <<'PY' || fail "$fam: logits of the reference rows"
import json, sys
ref = json.load(open(sys.argv[1]))["rows"]
out = [json.loads(l) for l in open(sys.argv[2])]
assert len(out) == len(ref)
worst = 0
for r, o in zip(ref, out):
    assert o["answer"] is None
    for k in ("start_logits", "end_logits"):
        assert len(o[k]) == len(r[k]), k
        worst = max(worst, max(abs(a - b) for a, b in zip(o[k], r[k])))
assert worst <= 1e-4, worst
print(f"logits vs transformers: max |diff| {worst:.2e}")
PY
    # short rows: one window each; the answer re-derived from the printed logits
    python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    a = r['answers']['text'][0] if isinstance(r['answers'], dict) else r['answers'][0]
    print(json.dumps({'question': r['question'], 'context': a[:60]}))" "$rows" > "$work/short.jsonl"
    "$QF_CLI" run "$m" --data "$work/short.jsonl" --output spans > "$work/$fam-short.out"
    # long rows: several windows
    tail -12 "$rows" > "$work/long.jsonl"
    
    "$QF_CLI" run "$m" --data "$work/long.jsonl" --output spans --max-seq-len 48 --doc-stride 16 \
        > "$work/$fam-long.out"
    python3 - "$work/short.jsonl" "$work/$fam-short.out" "$work/long.jsonl" "$work/$fam-long.out" <<'PY' \
        || fail "$fam: spans"
import json, math, sys
def check(rows_path, out_path, long):
    rows = [json.loads(l) for l in open(rows_path)]
    outs = [json.loads(l) for l in open(out_path)]
    assert len(rows) == len(outs)
    several = 0
    for row, o in zip(rows, outs):
        wins = o["windows"] if "windows" in o else [{"start_logits": o["start_logits"], "end_logits": o["end_logits"]}]
        if long:
            assert all(len(w["start_logits"]) <= 48 for w in wins)
            several += len(wins) > 1
        else:
            assert "windows" not in o and len(wins) == 1
        a = o["answer"]
        assert a is not None
        ctx = row["context"]
        assert a["text"] == ctx[a["start"]:a["end"]], (a, ctx)
        assert 0 < a["score"] <= len(wins)
        for w in wins:
            assert len(w["start_logits"]) == len(w["end_logits"])
    if long:
        assert several >= 10, several
check(sys.argv[1], sys.argv[2], False)
check(sys.argv[3], sys.argv[4], True)
PY
    # align_to_words (default) against --no-align-to-words on one-window rows (a window cut inside a
    # word aligns to the part of it in the window, and answers merged across windows by text may
    # change): the same logits; the aligned answer holds the token span and starts and ends at word
    # boundaries (for BERT's pre-tokenizer: whitespace and punctuation)
    /usr/bin/python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(json.dumps({'question': r['question'], 'context': r['context'][:120]}))" "$rows" > "$work/one-window.jsonl"
    "$QF_CLI" run "$m" --data "$work/one-window.jsonl" --output spans --no-align-to-words > "$work/$fam-tokens.out"
    "$QF_CLI" run "$m" --data "$work/one-window.jsonl" --output spans > "$work/$fam-words.out"
    python3 - "$work/one-window.jsonl" "$work/$fam-tokens.out" "$work/$fam-words.out" "$fam" <<'PY' || fail "$fam: align_to_words"
import json, sys, unicodedata
rows = [json.loads(l) for l in open(sys.argv[1])]
toks = [json.loads(l) for l in open(sys.argv[2])]
words = [json.loads(l) for l in open(sys.argv[3])]
def boundary_char(c):
    return c.isspace() or unicodedata.category(c).startswith("P") or c in "$+<=>^`|~"
moved = single = 0
for row, t, w in zip(rows, toks, words):
    if "windows" in t:  # still longer than the model's window
        continue
    single += 1
    assert t["start_logits"] == w["start_logits"] and t["end_logits"] == w["end_logits"]
    a, b, ctx = t["answer"], w["answer"], row["context"]
    assert (a is None) == (b is None)
    if a is None:
        continue
    assert b["start"] <= a["start"] and a["end"] <= b["end"], (a, b)
    assert b["text"] == ctx[b["start"]:b["end"]]
    moved += (a["start"], a["end"]) != (b["start"], b["end"])
    if sys.argv[4] == "bert":  # words: whitespace- and punctuation-separated
        s, e = b["start"], b["end"]
        assert s == 0 or boundary_char(ctx[s - 1]) or boundary_char(ctx[s]), (ctx[max(0, s - 10):s + 10], b)
        assert e == len(ctx) or boundary_char(ctx[e]) or boundary_char(ctx[e - 1]), (ctx[e - 10:e + 10], b)
assert single >= 4, single
print(f"align_to_words: {moved} of {single} one-window answers widened to whole words")
PY
    # verify: dynamic int8 against FP32 (the qa job chosen by itself)
    "$QF_CLI" quantize "$m" --mode dynamic -o "$work/$fam-int8.qf" -q
    "$QF_CLI" verify "$work/$fam-int8.qf" --data "$rows" --max-seq-len 48 --doc-stride 16 --json "$work/$fam.json" \
        --html "$work/$fam.html" --max-drop 100 > "$work/$fam-verify.out" || fail "$fam: verify exit $?"
    python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/$fam.html" "$work/$fam.json" \
        || fail "$fam: HTML report"
    cat "$work/$fam-verify.out"
    grep -q '^F1 .*FP32 .*dynamic int8 .*drop' "$work/$fam-verify.out" || fail "$fam: no F1 line"
    grep -q '^exact match FP32' "$work/$fam-verify.out" || fail "$fam: no exact match line"
    python3 - "$work/$fam.json" <<'PY' || fail "$fam: JSON report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["job"] == "qa" and r["headline"] == "f1"
assert r["rows"] == 24 and r["answered_rows"] == 24 and r["windows"] > 24
assert r["windowing"] == {"max_seq_len": 48, "doc_stride": 16, "max_answer_len": 15, "max_question_len": None,
                          "align_to_words": True}
assert r["artifact_mode"] == "dynamic int8"
for k in ("exact_match", "f1"):
    assert 0 <= r[k]["reference"] <= 1 and 0 <= r[k]["artifact"] <= 1
assert abs(r["drop_points"] - 100 * (r["f1"]["reference"] - r["f1"]["artifact"])) < 1e-9
assert 0 <= r["span_agreement"] <= 1 and r["changed_count"] == len(r["changed_rows"])
assert r["max_drop"] == 100 and r["passed"] is True and len(r["data_sha256"]) == 64
PY
done

m="$QF_SOURCE_DIR/fixtures/heads/bert-qa"
# the FP32 model against itself: every span the same, no drop
"$QF_CLI" convert "$m" -o "$work/f32.qf" -q
# (its page under a folder whose name holds markup, quotes, & and a byte that is not UTF-8: shown escaped)
hostile="$work/h<script>alert(\"1\")</script>&'$(printf '\377')"
mkdir -p "$hostile"
cp "$rows" "$hostile/rows.jsonl"
"$QF_CLI" verify "$work/f32.qf" --data "$rows" --job qa --json "$work/f32.json" -q || fail "fp32 verify"
"$QF_CLI" verify "$work/f32.qf" --data "$hostile/rows.jsonl" --job qa --json "$work/f32-hostile.json" \
    --html "$work/f32.html" -q || fail "fp32 verify, hostile path"
python3 "$QF_SOURCE_DIR/tests/support/check_report_html.py" "$work/f32.html" "$work/f32-hostile.json" \
    --hostile "<script>alert(\"1\")</script>&'" || fail "fp32 vs itself: HTML report"
grep -q "<p>None: FP32 and the artifact give the same answer span on every row.</p>" "$work/f32.html" \
    || fail "fp32 vs itself: the page lists changed rows"
python3 -c "
import json; r = json.load(open('$work/f32.json'))
assert r['span_agreement'] == 1 and r['drop_points'] == 0 and r['logits']['max_abs_diff'] == 0, r" || fail "fp32 vs itself"

expect_error() { # expected exit, text the error must hold, command...
    local code="$1" text="$2"; shift 2
    set +e; "$@" > "$work/err.out" 2> "$work/err.txt"; local rc=$?; set -e
    [ "$rc" = "$code" ] || fail "exit $rc (expected $code): $*"
    grep -qF -- "$text" "$work/err.txt" || { fail "no '$text' in: $(cat "$work/err.txt")"; }
}
expect_error 1 "sequence_classification" "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/families/bert" --data "$work/short.jsonl" --output spans
expect_error 1 "not question answering" "$QF_CLI" run "$QF_SOURCE_DIR/fixtures/families/bert" --data "$work/short.jsonl" --output spans
expect_error 2 "applies to question answering" "$QF_CLI" run "$m" --data "$work/short.jsonl" --max-seq-len 48
printf '%s\n' '{"question": "q?", "context": "some text"}' '{"question": "q?", "context": "abc", "answers": {"text": ["a"]}}' > "$work/bad1.jsonl"
expect_error 1 "line 2" "$QF_CLI" run "$m" --data "$work/bad1.jsonl" --output spans
expect_error 1 "answers.answer_start" "$QF_CLI" run "$m" --data "$work/bad1.jsonl" --output spans
printf '%s\n' '{"question": "q?", "context": "abc", "answers": {"text": ["a", 3], "answer_start": [0, 1]}}' > "$work/bad2.jsonl"
expect_error 1 "answers.text[1]" "$QF_CLI" verify "$work/f32.qf" --data "$work/bad2.jsonl"
printf '%s\n' '{"question": "q?", "context": "abc", "answers": {"text": ["a"], "answer_start": [7]}}' > "$work/bad3.jsonl"
expect_error 1 "past the end" "$QF_CLI" verify "$work/f32.qf" --data "$work/bad3.jsonl"
printf '%s\n' '{"question": "q?", "context": "abc", "answers": []}' > "$work/bad4.jsonl"
expect_error 1 "holds no answer" "$QF_CLI" verify "$work/f32.qf" --data "$work/bad4.jsonl"
printf '%s\n' '{"context": "abc"}' > "$work/bad5.jsonl"
expect_error 1 "no \"question\"" "$QF_CLI" run "$m" --data "$work/bad5.jsonl" --output spans
printf '%s\n' '{"question": "", "context": "abc"}' > "$work/bad6.jsonl"
expect_error 1 "empty" "$QF_CLI" run "$m" --data "$work/bad6.jsonl" --output spans
python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(json.dumps({'question': r['question'], 'context': r['context']}))" "$rows" > "$work/noanswers.jsonl"
expect_error 2 "no row of" "$QF_CLI" verify "$work/f32.qf" --data "$work/noanswers.jsonl" --max-drop 1
"$QF_CLI" verify "$work/f32.qf" --data "$work/noanswers.jsonl" > "$work/noanswers.out" || fail "verify without answers"
grep -q '^agreement  100.00%' "$work/noanswers.out" || fail "agreement without answers"
! grep -q '^F1' "$work/noanswers.out" || fail "F1 printed without answers"
printf '{"question": "%s", "context": "abc def"}\n' "$(printf 'word %.0s' $(seq 60))" > "$work/longq.jsonl"
expect_error 1 "no context token fits" "$QF_CLI" run "$m" --data "$work/longq.jsonl" --output spans --max-seq-len 48
expect_error 1 "doc_stride" "$QF_CLI" run "$m" --data "$work/long.jsonl" --output spans --max-seq-len 48 --doc-stride 40
expect_error 2 "does not apply to the qa job" "$QF_CLI" verify "$work/f32.qf" --data "$rows" --min-cosine 0.9
expect_error 2 "threshold does not apply to the qa job" "$QF_CLI" verify "$work/f32.qf" --data "$rows" --threshold 0.3
expect_error 2 "min-spearman does not apply to the qa job" "$QF_CLI" verify "$work/f32.qf" --data "$rows" --min-spearman 0.9

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "test_qa_cli: all checks passed"
