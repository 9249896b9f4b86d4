#!/usr/bin/env bash
# bench/static_accuracy.sh — calibrated static int8 on the shared debsec-bert model: one
# calibration (first 512 rows of calib.jsonl), then every range-selection method with and without
# SmoothQuant, all 24 projections int8, no fallback, each measured by `qforge verify` on every
# evaluation row. Also checks what the calibration promises: peak RSS, byte-identical .qfc with 1
# and 2 threads, merged halves == one run. ONNX Runtime's own quantize_static figures (recorded by
# the peer script in peer_results.json; its Python tools only exist on the GPU machine) close the
# table for comparison.
#
#   bash bench/static_accuracy.sh [build/qforge]      env: QF_SHARED_DIR, THREADS (1), SMOOTH (0.5)
set -euo pipefail
QF=${1:-${QF_CLI:-build/qforge}}
SHARED=${QF_SHARED_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
MODEL=$SHARED/models/debsec-bert/model.safetensors
CALIB=$SHARED/data/debsec/calib.jsonl
EVAL=$SHARED/data/debsec/eval.jsonl
THREADS=${THREADS:-1}
SMOOTH=${SMOOTH:-0.5}
ROWS=512
[ -f "$MODEL" ] || { echo "skip: $MODEL not found"; exit 77; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_NUM_THREADS=$THREADS

echo "== calibration: $ROWS rows of $(basename "$CALIB")"
/usr/bin/time -v "$QF" calibrate "$MODEL" --data "$CALIB" --samples $ROWS --threads 1 -o "$OUT/t1.qfc" -q \
  2> "$OUT/time.txt"
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$OUT/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/time.txt")
OMP_NUM_THREADS=2 "$QF" calibrate "$MODEL" --data "$CALIB" --samples $ROWS --threads 2 -o "$OUT/t2.qfc" -q
"$QF" calibrate "$MODEL" --data "$CALIB" --samples $((ROWS / 2)) --threads 1 -o "$OUT/h1.qfc" -q
"$QF" calibrate "$MODEL" --data "$CALIB" --skip $((ROWS / 2)) --samples $((ROWS / 2)) --threads 1 -o "$OUT/h2.qfc" -q
"$QF" calibrate --merge "$OUT/h1.qfc" "$OUT/h2.qfc" -o "$OUT/merged.qfc" -q
same() { cmp -s "$1" "$2" && echo "identical" || echo "DIFFERENT"; }
printf '  peak RSS %.1f MB, wall %s (1 thread)\n' "$(echo "$rss_kb / 1024" | bc -l)" "$wall"
echo "  .qfc with 1 vs 2 threads:        $(same "$OUT/t1.qfc" "$OUT/t2.qfc") ($(stat -c %s "$OUT/t1.qfc") bytes)"
echo "  merge(rows 0-255, 256-511) vs one run: $(same "$OUT/t1.qfc" "$OUT/merged.qfc")"

echo "== static int8, all 24 projections, no fallback; verify on every row of $(basename "$EVAL")"
for method in minmax percentile entropy mse; do
  for smooth in off "$SMOOTH"; do
    args=(--mode static --stats "$OUT/t1.qfc" --method "$method" --threads "$THREADS")
    [ "$smooth" = off ] || args+=(--smooth "$smooth")
    tag="${method}_${smooth}"
    "$QF" quantize "$MODEL" "${args[@]}" -o "$OUT/$tag.qf" -q
    "$QF" verify "$OUT/$tag.qf" --data "$EVAL" --threads "$THREADS" --no-layers --json "$OUT/$tag.json" -q
  done
done
python3 - "$OUT" "$SMOOTH" "$SHARED/models/debsec-bert/peer_results.json" <<'PY'
import json, sys, os
out, smooth, peer = sys.argv[1], sys.argv[2], sys.argv[3]
print(f"{'method':<12}{'smooth':>8}{'accuracy':>11}{'drop (pt)':>11}{'agreement':>11}{'mean|dlogit|':>14}")
best = None
for method in ["minmax", "percentile", "entropy", "mse"]:
    for s in ["off", smooth]:
        r = json.load(open(os.path.join(out, f"{method}_{s}.json")))
        acc, drop, agr = 100 * r["accuracy"]["artifact"], r["drop_points"], 100 * r["top1_agreement"]
        print(f"{method:<12}{s:>8}{acc:>10.2f}%{drop:>11.2f}{agr:>10.2f}%{r['logits']['mean_abs_diff']:>14.5f}")
        key = (drop, -agr)
        if best is None or key < best[0]:
            best = (key, method, s, acc, drop, agr)
        fp32 = 100 * r["accuracy"]["reference"]
print(f"FP32 (qforge encoder) {fp32:.2f}%")
_, m, s, acc, drop, agr = best
print(f"best: {m} smooth {s}: accuracy {acc:.2f}%, drop {drop:.2f} pt, agreement {agr:.2f}%")
try:
    p = json.load(open(peer))["acc"]["ort_static_qdq_MinMax"]
    print(f"ONNX Runtime 1.30 quantize_static (QDQ, MinMax, recorded in peer_results.json): "
          f"accuracy {100 * p[0]:.2f}%, agreement {100 * p[1]:.2f}%; Entropy and Percentile crashed")
except Exception as e:
    print(f"(peer_results.json unreadable: {e})")
PY
