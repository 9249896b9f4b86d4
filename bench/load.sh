#!/bin/sh
# Load (issue 7, target 2): open + validate of the BERT-base-size int8 .qf, and process start to
# first logits of `qforge run` on one row of 128 tokens (1 thread), beside ONNX Runtime's session
# creation + first run on the equivalent ONNX models (FP32 model.onnx and the dynamic-int8
# model.int8.onnx of bench/prepare_bert_base.py), each in fresh processes, same run. Also the
# encoder creation time (the int8 weights packed for the GEMM), the part of first logits it explains.
# Prints medians side by side; raw JSON lines in WORK/load.jsonl.
#
#   bench/load.sh [--work DIR] [--build DIR] [--runs N]
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/build/bench
BUILD=$ROOT/build
RUNS=10
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "load: unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
[ -d node_modules/onnxruntime-node ] || npm ci --ignore-scripts --no-audit --no-fund
$PY bench/prepare_bert_base.py --out "$WORK" >/dev/null
cmake --build "$BUILD" --target qforge bench_load -j2 >/dev/null
QFORGE=$BUILD/qforge
BENCH=$BUILD/bench/bench_load
OUT=$WORK/load
mkdir -p "$OUT"
"$QFORGE" quantize "$WORK/pytorch_model.bin" -o "$OUT/model.qf" --mode dynamic -q
# one row: the 128 token ids of inputs/b1x128.bin
$PY -c "
import json, struct, sys
raw = open(sys.argv[1], 'rb').read(); n = len(raw) // 12
ids = struct.unpack('<%di' % n, raw[:4 * n])
print(json.dumps({'input_ids': list(ids)}))" "$WORK/inputs/b1x128.bin" > "$OUT/row.jsonl"

JSONL=$WORK/load.jsonl
: > "$JSONL"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=1 "$BENCH" open "$OUT/model.qf" 50 >> "$JSONL"
OMP_NUM_THREADS=1 "$BENCH" create "$OUT/model.qf" 5 >> "$JSONL"
OMP_NUM_THREADS=1 "$BENCH" spawn "$RUNS" -- "$QFORGE" run "$OUT/model.qf" --data "$OUT/row.jsonl" --threads 1 >> "$JSONL"
for model in model.onnx model.int8.onnx; do
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        i=$((i + 1))
        OMP_NUM_THREADS=1 node bench/ort_load.mjs "$WORK/$model" "$WORK/inputs/b1x128.bin" >> "$JSONL"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const med = (a) => { a = a.slice().sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
const q = (w) => lines.find((l) => l.what === w);
const ort = (m, k) => med(lines.filter((l) => l.model && l.model.endsWith("/" + m)).map((l) => l[k]));
const open = q("open_validate").median_ms, create = q("encoder_create").median_ms, first = q("process_to_first_logits").median_ms;
const oc = ort("model.int8.onnx", "create_ms"), of = ort("model.int8.onnx", "process_to_first_logits_ms");
const fc = ort("model.onnx", "create_ms"), ff = ort("model.onnx", "process_to_first_logits_ms");
const f = (x) => x.toFixed(1);
console.log("\n| load, BERT-base, 1 row x 128 tokens, 1 thread, medians | qforge int8 .qf | ORT int8 ONNX | ratio | ORT FP32 ONNX | ratio |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
console.log(`| open + validate (qforge) / session creation (ORT), ms | ${open.toFixed(2)} | ${f(oc)} | ${f(oc / open)}x | ${f(fc)} | ${f(fc / open)}x |`);
console.log(`| process start to first logits, ms | ${f(first)} | ${f(of)} | ${f(of / first)}x | ${f(ff)} | ${f(ff / first)}x |`);
console.log(`| of which qforge encoder creation (int8 weights packed into AMX tiles), ms | ${f(create)} | | | | |`);
' "$JSONL"
