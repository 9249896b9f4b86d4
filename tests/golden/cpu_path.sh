#!/usr/bin/env bash
# tests/golden/cpu_path.sh QFORGE — prints the name of the kernel path this machine takes, the part
# of the golden outputs' bytes that depends on the CPU (tests/golden/README.md):
#   <qforge>-dnnl_<isa>
# <qforge> is the choice qforge's own kernels make: "amx" (int8 GEMMs on AMX tiles: CPUID AMX-TILE,
# AMX-INT8 and AVX512-VNNI, QF_AMX not 0, and the kernel granted the tile state, seen here through
# oneDNN's ISA, which asks the kernel the same way), else "avx512" (the AVX-512 forms of
# runtime/kernels_simd.c, quantize/quant_simd.c and calibrate/stats.c), else "ref" (the scalar
# kernels). <isa> is the instruction set oneDNN dispatches to (its FP32 sgemm decides the FP32
# encoder's bits), read from ONEDNN_VERBOSE while qforge runs a small dynamic int8 model with
# QF_AMX=0 (so that its int8 GEMMs are oneDNN primitives and oneDNN reports its ISA).
set -euo pipefail
QF=${1:?usage: cpu_path.sh QFORGE_BINARY}
SRC=${QF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$QF" quantize "$SRC/fixtures/families/bert/pytorch_model.bin" -o "$tmp/probe.qf" --mode dynamic --threads 1 -q
echo '{"input_ids": [2, 40, 41, 42, 3]}' > "$tmp/probe.jsonl"
desc=$(ONEDNN_VERBOSE=1 QF_AMX=0 OMP_NUM_THREADS=1 "$QF" run "$tmp/probe.qf" --data "$tmp/probe.jsonl" --threads 1 |
  sed -n 's/^onednn_verbose,info,cpu,isa:\(.*\)$/\1/p' | head -n 1)
[ -n "$desc" ] || { echo "cpu_path.sh: oneDNN reported no ISA (ONEDNN_VERBOSE=1)" >&2; exit 1; }
# oneDNN's descriptions (src/common/verbose.cpp) to its cpu_isa names; anything else as a slug
case $desc in
  "Intel AVX-512 with Intel DL Boost and bfloat16 support and Intel AMX with bfloat16 and 8-bit integer support")
    isa=avx512_core_amx ;;
  "Intel AVX-512 with Intel DL Boost and bfloat16 support") isa=avx512_core_bf16 ;;
  "Intel AVX-512 with Intel DL Boost") isa=avx512_core_vnni ;;
  "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions") isa=avx512_core ;;
  "Intel AVX2 with Intel DL Boost") isa=avx2_vnni ;;
  "Intel AVX2") isa=avx2 ;;
  "Intel AVX") isa=avx ;;
  "Intel SSE4.1") isa=sse41 ;;
  *) isa=$(printf '%s' "$desc" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9' '_' | tr -s '_') ;;
esac

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { case $flags in *" $1 "*) return 0 ;; esac; return 1; }
if has amx_tile && has amx_int8 && has avx512_vnni && [ "${QF_AMX:-1}" != 0 ] && [[ $desc == *AMX* ]]; then
  qf=amx
elif has avx512f; then
  qf=avx512
else
  qf=ref
fi
echo "$qf-dnnl_$isa"
