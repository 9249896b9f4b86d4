#!/usr/bin/env bash
# tests/test_determinism.sh — the same inputs and options give byte-identical outputs across runs
# and thread counts (docs/SECURITY.md, "Determinism"): qforge quantize and convert of the bundled
# model with --threads 1, 2 and 4 (convert: OMP_NUM_THREADS), run twice; the only time stamp, metadata "qforge.created", is
# written only when SOURCE_DATE_EPOCH is set, and then from it alone.
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

echo "determinism: $passes checks passed, $failures failed (quantize and convert, --threads 1/2/4, two runs each)"
[ $failures -eq 0 ]
