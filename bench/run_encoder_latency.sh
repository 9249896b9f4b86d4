#!/bin/sh
# Encoder latency, qforge beside ONNX Runtime, in the same run on the same inputs:
#   {FP32, dynamic int8} x {batch 1 x 128, batch 8 x 128} x {1, 2 threads}.
# Prepares the BERT-base-size model (bench/prepare_bert_base.py, skipped when done), checks the
# ONNX models in ONNX Runtime against the torch logits, builds bench_encoder (Release, own build
# folder), runs both sides back to back for every configuration and prints a table. Raw JSON
# lines are kept in WORK/encoder_latency.jsonl. See bench/README.md.
#
#   bench/run_encoder_latency.sh [--work DIR] [--build DIR] [--runs N] [--warmup N]
#                                [--threads "1 2"] [--ort-only]
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/build/bench
BUILD=$ROOT/build-bench
RUNS=20
WARMUP=3
THREADS="1 2"
ORT_ONLY=0
PY=/usr/bin/python3 # Debian's, with torch and onnx (the python3 on PATH may lack them)

while [ $# -gt 0 ]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --ort-only) ORT_ONLY=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run_encoder_latency: unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
if [ ! -d node_modules/onnxruntime-node ]; then
    echo "== npm install --ignore-scripts (onnxruntime-node, pinned by package-lock.json)"
    npm ci --ignore-scripts --no-audit --no-fund
fi

echo "== prepare ($WORK)"
"$PY" bench/prepare_bert_base.py --out "$WORK"

echo "== check the ONNX models in ONNX Runtime"
node bench/ort_check.mjs --dir "$WORK" > "$WORK/ort_check.json" || {
    cat "$WORK/ort_check.json"; echo "run_encoder_latency: ONNX models do not match torch" >&2; exit 1; }

BENCH=""
if [ "$ORT_ONLY" = 0 ]; then
    echo "== build bench_encoder ($BUILD, Release)"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQF_BUILD_TESTS=OFF -DQF_BUILD_BENCH=ON > "$BUILD/configure.log" 2>&1 || {
        cat "$BUILD/configure.log"; exit 1; }
    cmake --build "$BUILD" -j2 --target bench_encoder
    BENCH=$BUILD/bench/bench_encoder
fi

OUT=$WORK/encoder_latency.jsonl
: > "$OUT"
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for mode in fp32 int8; do
    if [ "$mode" = fp32 ]; then onnx=$WORK/model.onnx; else onnx=$WORK/model.int8.onnx; fi
    for input in b1x128 b8x128; do
        for t in $THREADS; do
            echo "== $mode $input threads $t"
            if [ -n "$BENCH" ]; then
                q=$("$BENCH" --model "$WORK/pytorch_model.bin" --input "$WORK/inputs/$input.bin" --mode "$mode" \
                    --threads "$t" --warmup "$WARMUP" --runs "$RUNS")
            else
                q=null
            fi
            o=$(node bench/ort_latency.mjs --model "$onnx" --input "$WORK/inputs/$input.bin" --threads "$t" \
                --warmup "$WARMUP" --runs "$RUNS")
            printf '{"mode":"%s","input":"%s","threads":%s,"qforge":%s,"ort":%s}\n' "$mode" "$input" "$t" "$q" "$o" >> "$OUT"
        done
    done
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
CPUS=$(lscpu | sed -n 's/^CPU(s):[[:space:]]*//p' | head -1)
CORES=$(lscpu | sed -n 's/^Core(s) per socket:[[:space:]]*//p' | head -1)
GCC=$(${CC:-cc} --version 2>/dev/null | head -1)
DNNL=$(sed -nE 's/^#define DNNL_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+).*/\2/p' /usr/include/oneapi/dnnl/dnnl_version.h 2>/dev/null | paste -sd. -)
NODE=$(node --version)
TORCH=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "?")

export CPU CPUS CORES GCC DNNL NODE TORCH START_LOAD END_LOAD RUNS WARMUP
"$PY" - "$OUT" "$WORK/ort_check.json" <<'EOF'
import json, os, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
check = json.load(open(sys.argv[2]))
e = os.environ
q_engine = next((r["qforge"]["engine"] for r in rows if r["qforge"]), "qforge (not run)")
print()
print("machine : %s, %s CPUs (%s cores per socket); load average %s at start, %s at end"
      % (e["CPU"], e["CPUS"], e["CORES"], e["START_LOAD"], e["END_LOAD"]))
print("versions: %s; %s; node %s; %s; oneDNN %s; inputs from torch %s"
      % (q_engine, rows[0]["ort"]["engine"], e["NODE"].lstrip("v"), e["GCC"], e["DNNL"] or "?", e["TORCH"]))
print("timing  : median of %s runs after %s warm-up runs, ms [p10-p90]; ratio = qforge / ORT (< 1: qforge faster)"
      % (e["RUNS"], e["WARMUP"]))
print()
hdr = ("config", "qforge ms", "ORT ms", "ratio", "qforge ready ms", "ORT session ms", "|d| qforge", "|d| ORT")
table = []
for r in rows:
    q, o = r["qforge"], r["ort"]
    cfg = "%s %s t%d" % (r["mode"], r["input"].replace("x", " x "), r["threads"])
    ms = lambda x: "%.1f [%.1f-%.1f]" % (x["median_ms"], x["p10"], x["p90"])
    table.append((cfg, ms(q) if q else "-", ms(o), "%.2f" % (q["median_ms"] / o["median_ms"]) if q else "-",
                  "%.0f" % q["session_create_ms"] if q else "-", "%.0f" % o["session_create_ms"],
                  "%.1e" % q["max_abs_diff_vs_torch"] if q else "-", "%.1e" % o["max_abs_diff_vs_torch"]))
w = [max(len(str(x[i])) for x in table + [hdr]) for i in range(len(hdr))]
line = lambda cells: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(cells)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (n + 2) for n in w) + "|")
for t in table:
    print(line(t))
print()
print("|d| = max |logit - torch FP32 logit| on the same input.  ORT int8 vs ORT FP32 max |d|: "
      + ", ".join("%s %.2e" % (k, v["int8_vs_fp32_max_abs"]) for k, v in check["inputs"].items()))
print("raw results: " + sys.argv[1])
EOF
