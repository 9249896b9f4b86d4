#!/usr/bin/env bash
# `make demo`: the main job on the bundled model (fixtures/debsec-mini, a 2-layer BERT classifier
# trained on Debian package descriptions): inspect the checkpoint, quantize it to int8, inspect and
# checksum-verify the artifact, then verify its accuracy against FP32 on 300 labelled rows.
set -euo pipefail
QF=${1:-build/qforge}
MODEL=fixtures/debsec-mini
OUT=${QF_DEMO_OUT:-build/demo}
mkdir -p "$OUT"

bold='' plain=''
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

step "$QF" inspect "$MODEL/pytorch_model.bin" --no-tensors
step "$QF" quantize "$MODEL/pytorch_model.bin" -o "$OUT/debsec-mini.int8.qf" --mode dynamic
step "$QF" inspect "$OUT/debsec-mini.int8.qf" --verify-checksums --no-tensors
step "$QF" verify "$OUT/debsec-mini.int8.qf" --data "$MODEL/eval.jsonl" --max-drop 0.5 --json "$OUT/verify.json" \
  --html "$OUT/verify.html"
printf '\nThe int8 artifact is %s (python/qforge reads it with numpy);\nthe full report is %s, and %s for a browser.\n' \
  "$OUT/debsec-mini.int8.qf" "$OUT/verify.json" "$OUT/verify.html"
