#!/bin/sh
# Scale (issue 7, target 5): a synthetic sharded checkpoint of --gb GB (default 12; BERT-style
# layers, hidden 4096; bench/make_scale_checkpoint.py writes it shard by shard) in safetensors
# (model.safetensors.index.json) and in PyTorch zip shards (pytorch_model.bin.index.json); for each,
# `qforge quantize --mode dynamic` and `qforge convert` with wall time and peak RSS
# (/usr/bin/time). The checkpoint is deleted afterwards unless --keep. Needs about 2.3x --gb of
# free disk per format (input + f32 convert output; the int8 output is a quarter).
#
#   bench/scale.sh [--work DIR] [--qforge PATH] [--gb N] [--formats "safetensors torch"] [--keep]
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/build/bench-scale
QFORGE=$ROOT/build/qforge
GB=12
FORMATS="safetensors torch"
KEEP=0
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --qforge) QFORGE=$2; shift 2 ;;
    --gb) GB=$2; shift 2 ;;
    --formats) FORMATS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "scale: unknown option $1" >&2; exit 2 ;;
    esac
done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; load: $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$WORK"
df -h "$WORK" | tail -1
printf "\n| scale: %s GB sharded input | input GB | wall s | peak RSS MB | output GB |\n| --- | ---: | ---: | ---: | ---: |\n" "$GB" > "$WORK/table.md"
for fmt in $FORMATS; do
    dir=$WORK/$fmt
    $PY "$ROOT/bench/make_scale_checkpoint.py" --format "$fmt" --out "$dir" --gb "$GB"
    in_bytes=$(du -cb "$dir"/* | tail -1 | cut -f1)
    for cmd in "quantize --mode dynamic" "convert"; do
        out=$WORK/out.qf
        # shellcheck disable=SC2086
        /usr/bin/time -f "%e %M" -o "$WORK/time" "$QFORGE" $cmd "$dir" -o "$out" -q
        set -- $(cat "$WORK/time")
        printf "| %s, %s | %.2f | %.1f | %.0f | %.2f |\n" "$fmt" "$(echo "$cmd" | cut -d' ' -f1)" \
            "$(echo "$in_bytes / 1000000000" | bc -l)" "$1" "$(echo "$2 / 1024" | bc -l)" \
            "$(echo "$(stat -c %s "$out") / 1000000000" | bc -l)" >> "$WORK/table.md"
        rm -f "$out"
    done
    [ "$KEEP" = 1 ] || rm -rf "$dir"
done
cat "$WORK/table.md"
