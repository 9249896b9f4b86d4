#!/usr/bin/env bash
# tests/test_static_cli.sh — `qforge calibrate` and `qforge quantize --mode static` as a user meets
# them, on the bundled debsec-mini model: usage errors (exit 2), a damaged .qfc (exit 1, one line
# naming the file), the same .qfc bytes with 1 and 2 threads and for two merged halves, static
# artifacts that `qforge verify` runs as static int8 and passes, and the fallback's report.
set -u
QF=${QF_CLI:?QF_CLI must point at the qforge binary}
SRC=${QF_SOURCE_DIR:?}
MINI=$SRC/fixtures/debsec-mini
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
failures=0
passes=0
check() { if [ "$2" = "$3" ]; then passes=$((passes + 1)); else echo "FAIL: $1: exit $3, expected $2"; failures=$((failures + 1)); fi; }
expect() { local name=$1; shift; if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi; }

M=$MINI/pytorch_model.bin
D=$MINI/eval.jsonl
"$QF" calibrate --help > "$tmp/h"; check "calibrate --help" 0 $?
expect "help names --merge" grep -q -- "--merge" "$tmp/h"
"$QF" calibrate "$M" -o "$tmp/x.qfc" >/dev/null 2>&1; check "calibrate without --data" 2 $?
"$QF" calibrate "$M" --data "$D" >/dev/null 2>&1; check "calibrate without -o" 2 $?
"$QF" calibrate "$M" --data "$D" --samples 0 -o "$tmp/x.qfc" >/dev/null 2>&1; check "calibrate --samples 0" 2 $?

"$QF" calibrate "$M" --data "$D" --samples 80 --threads 1 -o "$tmp/t1.qfc" > "$tmp/out"; check "calibrate" 0 $?
expect "calibrate lists the activations" grep -q "layers.1.ffn.down.input" "$tmp/out"
"$QF" calibrate "$M" --data "$D" --samples 80 --threads 2 -o "$tmp/t2.qfc" -q; check "calibrate 2 threads" 0 $?
expect ".qfc identical with 1 and 2 threads" cmp -s "$tmp/t1.qfc" "$tmp/t2.qfc"
"$QF" calibrate "$M" --data "$D" --samples 30 -o "$tmp/a.qfc" -q
"$QF" calibrate "$M" --data "$D" --skip 30 --samples 50 -o "$tmp/b.qfc" -q
"$QF" calibrate --merge "$tmp/b.qfc" "$tmp/a.qfc" -o "$tmp/m.qfc" -q; check "merge" 0 $?
expect "merged halves identical to one run" cmp -s "$tmp/t1.qfc" "$tmp/m.qfc"

# a damaged statistics file: one line naming it, no output
cp "$tmp/t1.qfc" "$tmp/bad.qfc"
printf 'X' | dd of="$tmp/bad.qfc" bs=1 seek=300 conv=notrunc 2>/dev/null
"$QF" calibrate --merge "$tmp/bad.qfc" -o "$tmp/never.qfc" 2> "$tmp/e"; check "merge of a damaged file" 1 $?
expect "one error line naming the file and the checksum" \
  bash -c "[ \$(wc -l < '$tmp/e') = 1 ] && grep -q 'bad.qfc' '$tmp/e' && grep -qi 'crc' '$tmp/e'"
expect "no output left behind" test ! -e "$tmp/never.qfc"

Q=(quantize "$M" --mode static --stats "$tmp/t1.qfc" --threads 1)
"$QF" "${Q[@]}" --method kl -o "$tmp/s.qf" >/dev/null 2>&1; check "unknown --method" 2 $?
"$QF" "${Q[@]}" --method minmax --percentile 99 -o "$tmp/s.qf" >/dev/null 2>&1; check "--percentile without percentile" 2 $?
"$QF" "${Q[@]}" --smooth 1.5 -o "$tmp/s.qf" >/dev/null 2>&1; check "--smooth out of range" 2 $?
"$QF" "${Q[@]}" --max-drop 1 -o "$tmp/s.qf" >/dev/null 2>&1; check "--max-drop without --eval" 2 $?
"$QF" "${Q[@]}" --onnx-out "$tmp/s.onnx" --onnx-graph rewrite -o "$tmp/s.qf" >/dev/null 2>&1; check "--onnx-graph rewrite from a torch file" 2 $?
# the ONNX export reads the quantized model and never changes it: the .qf is the same with or
# without --onnx-out
SOURCE_DATE_EPOCH=1700000000 "$QF" "${Q[@]}" -o "$tmp/plain.qf" -q; check "static .qf" 0 $?
SOURCE_DATE_EPOCH=1700000000 "$QF" "${Q[@]}" -o "$tmp/with-onnx.qf" --onnx-out "$tmp/with-onnx.onnx" -q
check "static .qf + --onnx-out" 0 $?
expect "static .qf identical with and without --onnx-out" cmp -s "$tmp/plain.qf" "$tmp/with-onnx.qf"
"$QF" quantize "$M" --mode dynamic --stats "$tmp/t1.qfc" -o "$tmp/s.qf" >/dev/null 2>&1; check "--stats with dynamic" 2 $?
"$QF" quantize "$M" --mode static --stats "$tmp/missing.qfc" -o "$tmp/s.qf" >/dev/null 2>"$tmp/e"; check "missing .qfc" 1 $?

for args in "--method minmax" "--method percentile --percentile 99.9" "--method entropy --smooth 0.5" "--method mse --fp32 layers.0.*"; do
  # shellcheck disable=SC2086
  "$QF" "${Q[@]}" $args -o "$tmp/s.qf" -q; check "quantize static $args" 0 $?
  "$QF" verify "$tmp/s.qf" --data "$D" --threads 1 --no-layers --max-drop 2 > "$tmp/v"; check "verify static $args" 0 $?
  expect "verify runs it as static int8 ($args)" grep -q "static int8" "$tmp/v"
done
"$QF" inspect "$tmp/s.qf" --json > "$tmp/i"
expect "--fp32 recorded" grep -Eq '"quant.fp32_projections": ?"layers.0.attn.q,layers.0.attn.k' "$tmp/i"

# the fallback: a poor setting (50th percentile) brought within 1 point, reverted projections listed
"$QF" "${Q[@]}" --method percentile --percentile 50 --max-drop 1 --eval "$D" --sensitivity-rows 40 \
  -o "$tmp/f.qf" > "$tmp/f" 2> "$tmp/flog"; check "fallback" 0 $?
expect "fallback reports being within budget" grep -q "(budget 1, within)" "$tmp/f"
expect "fallback lists a reverted projection" grep -Eq "^  layers\.[01]\.(attn|ffn)\." "$tmp/f"
"$QF" verify "$tmp/f.qf" --data "$D" --threads 1 --no-layers --max-drop 1 > /dev/null; check "verify after fallback" 0 $?

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
