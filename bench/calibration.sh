#!/bin/sh
# Calibration (target: BERT-base on 512 x 128-token rows in <= 60 s wall, peak RSS <= 1 GB whatever
# the sample count, 2 cores): `qforge calibrate` of the BERT-base-size PyTorch checkpoint
# (bench/prepare_bert_base.py) over seeded rows of 128 token ids, beside the PyTorch peer (FP32
# forward with torch.ao.quantization's default HistogramObserver on the input of each of the 72
# encoder Linears, then calculate_qparams; bench/torch_calibrate_peer.py), in the same run, on the
# same rows, each a fresh process measured by /usr/bin/time (wall, peak RSS, user CPU), at each
# sample count. Also checks that the .qfc of --threads 1 and --threads T are byte-identical.
# Prints the figures side by side with ratios; raw lines in WORK/calibration.tsv.
#
#   bench/calibration.sh [--work DIR] [--qforge PATH] [--rows N] [--samples "64 N"]
#                        [--peer-rows M] [--blas-rows B] [--threads T]
#
# --rows N: rows written to WORK/calib/rows.jsonl (default 512); --samples: the sample counts
# timed (default "64 N"); --peer-rows M: the most rows the peer observes (default N; lower it when
# torch is too slow, the table then compares time per row); --blas-rows B: rows of one more peer
# run with torch's own nn.Linear on Debian's reference BLAS (default 8, 0: none); --threads T
# (default 2).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/build/bench
QFORGE=$ROOT/build/qforge
ROWS=512
SAMPLES=
PEER_ROWS=
BLAS_ROWS=8
THREADS=2
SEED=20240601
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --qforge) QFORGE=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --peer-rows) PEER_ROWS=$2; shift 2 ;;
    --blas-rows) BLAS_ROWS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "calibration: unknown option $1" >&2; exit 2 ;;
    esac
done
SAMPLES=${SAMPLES:-"64 $ROWS"}
PEER_ROWS=${PEER_ROWS:-$ROWS}
# every count at most the rows written, each once, ascending
SAMPLES=$(for s in $SAMPLES; do [ "$s" -le "$ROWS" ] && echo "$s" || echo "$ROWS"; done | sort -nu | tr '\n' ' ')
SMALL=${SAMPLES%% *}

[ -x "$QFORGE" ] || { echo "calibration: $QFORGE missing: build first (cmake --build build)" >&2; exit 1; }
$PY "$ROOT/bench/prepare_bert_base.py" --out "$WORK" >/dev/null
IN=$WORK/pytorch_model.bin
OUT=$WORK/calib
mkdir -p "$OUT"
DATA=$OUT/rows.jsonl

# rows: [CLS], 126 ids in [1000, 30522) from a generator seeded by (SEED, row), [SEP]; row i is
# the same whatever N, so a smaller file is a prefix of a larger one
if [ ! -f "$DATA" ] || [ "$(wc -l < "$DATA")" -ne "$ROWS" ]; then
    $PY - "$DATA" "$ROWS" "$SEED" <<'EOF'
import json, os, sys
import numpy as np
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path + ".tmp", "w") as f:
    for i in range(n):
        ids = np.random.default_rng([seed, i]).integers(1000, 30522, size=126)
        f.write(json.dumps({"input_ids": [101] + ids.tolist() + [102]}) + "\n")
os.replace(path + ".tmp", path)
EOF
fi

TSV=$WORK/calibration.tsv
: > "$TSV"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $IN ($(stat -c %s "$IN") bytes); $DATA ($ROWS rows of 128 token ids); --threads $THREADS; qforge rows: $SAMPLES; torch rows: at most $PEER_ROWS"

# tsv: side rows wall_s peak_rss_kb user_s threads [peer JSON]; the peer runs once per distinct
# row count (a sample count above --peer-rows is compared with the --peer-rows run)
peer() { # rows linear
    OMP_NUM_THREADS=$THREADS /usr/bin/time -f "%e %M %U" -o "$OUT/time" $PY "$ROOT/bench/torch_calibrate_peer.py" \
        "$IN" "$DATA" --rows "$1" --threads "$THREADS" --linear "$2" > "$OUT/peer.json"
    echo "$3 $1 $(cat "$OUT/time") $THREADS $(tr -d ' ' < "$OUT/peer.json")" >> "$TSV"
}
done_peer=
for s in $SAMPLES; do
    /usr/bin/time -f "%e %M %U" -o "$OUT/time" "$QFORGE" calibrate "$IN" --data "$DATA" -o "$OUT/s$s.t$THREADS.qfc" \
        --samples "$s" --threads "$THREADS" -q
    echo "qforge $s $(cat "$OUT/time") $THREADS" >> "$TSV"
    p=$s
    [ "$p" -le "$PEER_ROWS" ] || p=$PEER_ROWS
    case " $done_peer " in *" $p "*) ;; *) peer "$p" mkldnn torch; done_peer="$done_peer $p" ;; esac
done
[ "$BLAS_ROWS" -eq 0 ] || peer "$BLAS_ROWS" blas torchblas
# the promise: statistics do not depend on the thread count
/usr/bin/time -f "%e %M %U" -o "$OUT/time" "$QFORGE" calibrate "$IN" --data "$DATA" -o "$OUT/s$SMALL.t1.qfc" \
    --samples "$SMALL" --threads 1 -q
echo "qforge1 $SMALL $(cat "$OUT/time") 1" >> "$TSV"
if [ "$THREADS" = 1 ]; then
    same="(--threads 1 was the timed run; nothing to compare)"
elif cmp -s "$OUT/s$SMALL.t1.qfc" "$OUT/s$SMALL.t$THREADS.qfc"; then
    same="byte-identical ($(stat -c %s "$OUT/s$SMALL.t1.qfc") bytes, cmp)"
else
    same="DIFFER (cmp: $(cmp "$OUT/s$SMALL.t1.qfc" "$OUT/s$SMALL.t$THREADS.qfc" 2>&1 | head -1))"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "determinism: .qfc of $SMALL rows at --threads 1 and --threads $THREADS: $same"

awk -v threads="$THREADS" -v peer_rows="$PEER_ROWS" '
function jnum(s, k) { return match(s, "\"" k "\":[0-9.e+-]+") ? substr(s, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0 : -1 }
function line(name, r, w, kb, u) { printf "| %s | %d | %.2f | %.4f | %.0f | %.2f |\n", name, r, w, w / r, kb / 1024, u }
$1 == "qforge" { n++; qn[n] = $2; qw[n] = $3; qr[n] = $4; qu[n] = $5 }
$1 == "torch" { tw[$2] = $3; tr[$2] = $4; tu[$2] = $5; tj[$2] = $7 }
$1 == "torchblas" { bn = $2; bw = $3; br = $4; bu = $5; bj = $7 }
$1 == "qforge1" { t1n = $2; t1w = $3; t1r = $4; t1u = $5 }
END {
    printf "\n| calibration, BERT-base, 128-token rows, batch 1, --threads %d | rows | wall s | s per row | peak RSS MB | user s |\n", threads
    printf "| --- | ---: | ---: | ---: | ---: | ---: |\n"
    for (i = 1; i <= n; i++) {
        p = qn[i] <= peer_rows ? qn[i] : peer_rows
        line("qforge calibrate", qn[i], qw[i], qr[i], qu[i])
        line("torch 1.13: FP32 forward (oneDNN Linear) + HistogramObserver x" jnum(tj[p], "observers") " + qparams", p, tw[p], tr[p], tu[p])
        if (p == qn[i])
            printf "| ratio torch / qforge, same %d rows | | %.1fx | %.1fx | %.2fx | %.1fx |\n", p, tw[p] / qw[i], tw[p] / qw[i], tr[p] / qr[i], tu[p] / qu[i]
        else
            printf "| ratio torch / qforge: torch %d rows, qforge %d rows; per row only | | (rows differ) | %.1fx | %.2fx | |\n", p, qn[i], (tw[p] / p) / (qw[i] / qn[i]), tr[p] / qr[i]
    }
    line("qforge calibrate --threads 1 (the determinism check)", t1n, t1w, t1r, t1u)
    if (bn) line("torch 1.13 as installed: plain nn.Linear on reference BLAS + HistogramObserver x" jnum(bj, "observers") " + qparams", bn, bw, br, bu)
    printf "\ns per row = wall / rows, fixed costs (process start, model load) included on both sides.\n"
    for (i = 1; i <= n; i++) {
        p = qn[i] <= peer_rows ? qn[i] : peer_rows
        if (p in shown) continue
        shown[p] = 1
        printf "torch %d rows, in-process: import %.2f s, load + observers %.2f s, forward + observe %.2f s (%.4f s per row), calculate_qparams x%d %.2f s\n", \
            p, jnum(tj[p], "import_s"), jnum(tj[p], "load_s"), jnum(tj[p], "observe_s"), jnum(tj[p], "observe_s") / p, jnum(tj[p], "qparams"), jnum(tj[p], "qparams_s")
    }
    if (bn)
        printf "torch reference BLAS %d rows, in-process: forward + observe %.2f s (%.4f s per row)\n", bn, jnum(bj, "observe_s"), jnum(bj, "observe_s") / bn
    maxr = 0; for (i = 1; i <= n; i++) if (qr[i] > maxr) maxr = qr[i]
    printf "target (<= 60 s wall at 512 rows, <= 1 GB peak RSS at every count): qforge %d rows %.2f s, largest peak RSS %.0f MB", qn[n], qw[n], maxr / 1024
    if (qn[n] < 512) printf " (fewer than 512 rows: not the target run)\n"
    else printf " -> %s\n", (qw[n] <= 60 && maxr <= 1000 * 1000 / 1.024) ? "met" : "NOT met"
}' "$TSV"
case $same in DIFFER*) exit 1 ;; esac
