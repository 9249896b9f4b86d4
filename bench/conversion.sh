#!/bin/sh
# Conversion (issue 7, target 1): `qforge quantize --mode dynamic` of the BERT-base-size PyTorch
# checkpoint (438 MB, random weights, Hugging Face names; bench/prepare_bert_base.py) beside the
# PyTorch peer (torch.load + quantize_dynamic + torch.save, bench/torch_quantize_peer.py), in the
# same run, alternating, each a fresh process measured by /usr/bin/time (wall, peak RSS). Also the
# cost of the fsync that makes qforge's output durable, from strace -T, reported on its own. Each
# tool's previous output is deleted before its timed run: replacing a file takes the old one's
# deletion into the writer's wall time (~20 ms for 111 MB on this disk, mounted with discard).
# Prints the medians side by side with ratios; raw lines in WORK/conversion.tsv.
#
#   bench/conversion.sh [--work DIR] [--qforge PATH] [--runs N] [--threads N]
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/build/bench
QFORGE=$ROOT/build/qforge
RUNS=5
THREADS=2
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --qforge) QFORGE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "conversion: unknown option $1" >&2; exit 2 ;;
    esac
done

[ -x "$QFORGE" ] || { echo "conversion: $QFORGE missing: build first (cmake --build build)" >&2; exit 1; }
$PY "$ROOT/bench/prepare_bert_base.py" --out "$WORK" >/dev/null
IN=$WORK/pytorch_model.bin
OUT=$WORK/conversion
mkdir -p "$OUT"
TSV=$WORK/conversion.tsv
: > "$TSV"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $IN ($(stat -c %s "$IN") bytes); $RUNS runs each, --threads $THREADS, alternating"

i=0
while [ "$i" -lt "$RUNS" ]; do
    i=$((i + 1))
    rm -f "$OUT/model.qf"
    /usr/bin/time -f "%e %M" -o "$OUT/time" "$QFORGE" quantize "$IN" -o "$OUT/model.qf" --mode dynamic \
        --threads "$THREADS" -q
    echo "qforge $(cat "$OUT/time")" >> "$TSV"
    rm -f "$OUT/torch_int8.pt"
    OMP_NUM_THREADS=$THREADS /usr/bin/time -f "%e %M" -o "$OUT/time" $PY "$ROOT/bench/torch_quantize_peer.py" "$IN" \
        "$OUT/torch_int8.pt" > "$OUT/peer.json"
    echo "torch $(cat "$OUT/time")" >> "$TSV"
    strace -f -T -e trace=fsync -o "$OUT/strace" "$QFORGE" quantize "$IN" -o "$OUT/model.qf" --mode dynamic \
        --threads "$THREADS" -q
    # the output file's fsync (the largest); the folder's is listed too
    echo "fsync $(grep -o '<[0-9.]*>' "$OUT/strace" | tr -d '<>' | sort -g | tail -1)" >> "$TSV"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
qsize=$(stat -c %s "$OUT/model.qf")
tsize=$(stat -c %s "$OUT/torch_int8.pt")

awk -v runs="$RUNS" -v qsize="$qsize" -v tsize="$tsize" '
function median(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
$1 == "qforge" { qw[++nq] = $2; qr[nq] = $3 / 1024 }
$1 == "torch" { tw[++nt] = $2; tr[nt] = $3 / 1024 }
$1 == "fsync" { fs[++nf] = $2 }
END {
    mqw = median(qw, nq); mqr = median(qr, nq); mtw = median(tw, nt); mtr = median(tr, nt); mfs = median(fs, nf)
    printf "\n| conversion, BERT-base 438 MB, median of %d | wall s | peak RSS MB | output MB |\n", runs
    printf "| --- | ---: | ---: | ---: |\n"
    printf "| qforge quantize --mode dynamic | %.3f | %.0f | %.1f |\n", mqw, mqr, qsize / 1e6
    printf "| torch 1.13 load + quantize_dynamic + save | %.3f | %.0f | %.1f |\n", mtw, mtr, tsize / 1e6
    printf "| ratio (torch / qforge) | %.1fx | %.1fx | |\n", mtw / mqw, mtr / mqr
    printf "| of which qforge fsync of the output (strace -T) | %.3f | | |\n", mfs
}' "$TSV"
