#!/usr/bin/env bash
# tests/test_determinism.sh — the same inputs and options give byte-identical outputs across runs
# and thread counts (docs/SECURITY.md, "Determinism"): qforge quantize and convert of the bundled
# model with --threads 1, 2 and 4 (convert: OMP_NUM_THREADS), run twice; qforge calibrate's .qfc with
# --threads 1 and 2, run twice; and, when ../shared holds debsec-bert's model.onnx, the --onnx-out
# graphs of dynamic and static (QDQ) quantize, run twice. The only time stamp, metadata
# "qforge.created", is written only when SOURCE_DATE_EPOCH is set, and then from it alone.
set -u
QF=${QF_CLI:?QF_CLI must point at the qforge binary}
SRC=${QF_SOURCE_DIR:?}
IN=$SRC/fixtures/debsec-mini/pytorch_model.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
expect() { # expect NAME CONDITION...
  local name=$1; shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi
}
unset SOURCE_DATE_EPOCH

# run NAME ARGS...: one output per run in its own folder (same relative output name)
run() {
  local name=$1; shift
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && "$QF" "$@" -q) || { echo "FAIL: $name: qforge $* exited $?"; failures=$((failures + 1)); }
}

for t in 1 2 4; do
  for r in a b; do
    run "q$t$r" quantize "$IN" -o model.qf --mode dynamic --threads "$t"
    OMP_NUM_THREADS=$t run "c$t$r" convert "$IN" -o model.qf --dtype f16
  done
done
for t in 1 2 4; do
  for r in a b; do
    expect "quantize --threads $t run $r == --threads 1 run a" cmp -s "$tmp/q1a/model.qf" "$tmp/q$t$r/model.qf"
    expect "convert --threads $t run $r == --threads 1 run a" cmp -s "$tmp/c1a/model.qf" "$tmp/c$t$r/model.qf"
  done
done
expect "no time stamp without SOURCE_DATE_EPOCH" bash -c "! grep -aq qforge.created '$tmp/q1a/model.qf'"

# .qfc statistics: the same rows give the same bytes whatever the thread count
ROWS=$SRC/fixtures/debsec-mini/eval.jsonl
for t in 1 2; do
  for r in a b; do
    run "k$t$r" calibrate "$IN" --data "$ROWS" --samples 24 --threads "$t" -o stats.qfc
  done
done
for t in 1 2; do
  for r in a b; do
    expect "calibrate --threads $t run $r == --threads 1 run a" cmp -s "$tmp/k1a/stats.qfc" "$tmp/k$t$r/stats.qfc"
  done
done
expect "calibrate wrote a .qfc" test -s "$tmp/k1a/stats.qfc"

# ONNX outputs (--onnx-out needs an ONNX source: the shared debsec-bert export)
ONNX=${QF_SHARED_DIR:-$SRC/../shared}/models/debsec-bert/model.onnx
onnx_note="ONNX part skipped: $ONNX is absent"
if [ -f "$ONNX" ]; then
  onnx_note="ONNX dynamic and static QDQ"
  run oc calibrate "$ONNX" --data "$ROWS" --samples 16 --threads 2 -o stats.qfc
  for t in 1 2; do
    run "od$t" quantize "$ONNX" -o model.qf --mode dynamic --threads "$t" --onnx-out model.onnx
    run "os$t" quantize "$ONNX" -o model.qf --mode static --stats "$tmp/oc/stats.qfc" --method entropy \
      --threads "$t" --onnx-out model.onnx
  done
  expect "onnx dynamic --onnx-out written" test -s "$tmp/od1/model.onnx"
  expect "onnx static --onnx-out written" test -s "$tmp/os1/model.onnx"
  expect "onnx dynamic --onnx-out identical across runs" cmp -s "$tmp/od1/model.onnx" "$tmp/od2/model.onnx"
  expect "onnx dynamic .qf identical across runs" cmp -s "$tmp/od1/model.qf" "$tmp/od2/model.qf"
  expect "onnx static QDQ --onnx-out identical across runs" cmp -s "$tmp/os1/model.onnx" "$tmp/os2/model.onnx"
  expect "onnx static .qf identical across runs" cmp -s "$tmp/os1/model.qf" "$tmp/os2/model.qf"
  expect "static and dynamic graphs differ" bash -c "! cmp -s '$tmp/od1/model.onnx' '$tmp/os1/model.onnx'"
fi

# SOURCE_DATE_EPOCH: the stamp comes from it, so two runs (seconds apart) still agree
export SOURCE_DATE_EPOCH=1700000000
run e1 quantize "$IN" -o model.qf --mode dynamic --threads 1
sleep 1
run e2 quantize "$IN" -o model.qf --mode dynamic --threads 2
expect "SOURCE_DATE_EPOCH runs identical" cmp -s "$tmp/e1/model.qf" "$tmp/e2/model.qf"
expect "stamp taken from SOURCE_DATE_EPOCH" grep -aq '"qforge.created":"2023-11-14T22:13:20Z"' "$tmp/e1/model.qf"
export SOURCE_DATE_EPOCH=not-a-number
mkdir -p "$tmp/bad"
(cd "$tmp/bad" && "$QF" quantize "$IN" -o model.qf --mode dynamic --threads 1 -q 2>err)
expect "malformed SOURCE_DATE_EPOCH is an error" test $? -eq 1
expect "malformed SOURCE_DATE_EPOCH leaves no file" test ! -e "$tmp/bad/model.qf"
unset SOURCE_DATE_EPOCH

echo "determinism: $passes checks passed, $failures failed (quantize and convert, --threads 1/2/4, two runs each; calibrate --threads 1/2; $onnx_note)"
[ $failures -eq 0 ]
