#!/usr/bin/env bash
# tests/golden/record.sh QFORGE OUTDIR — records qforge's outputs on the real models, under fixed
# names, so that two recordings (before and after a refactor) can be compared byte for byte with
# tests/golden/compare.sh, and so that tests/golden/check.sh can hold them to the committed digests.
#
# Models: debsec-bert from ../shared (pytorch_model.bin, model.safetensors, model.onnx, and the same
# weights as a Hugging Face TF checkpoint tf_model.h5, written by fixtures/gen/make_tf_model_h5.py as
# tests/test_hdf5_debsec.py does), fixtures/families/{bert,distilbert,electra,roberta,mpnet,albert,deberta-v2} and
# fixtures/debsec-mini. Data: ../shared/data/debsec, calib.jsonl (64 rows) and the first 200 rows of
# eval.jsonl (for a family with fewer classes the label becomes label % classes).
#
# For every model M (debsec-bin, debsec-st, debsec-onnx, debsec-h5, bert, distilbert, electra, mpnet, albert, deberta-v2,
# roberta, debsec-mini) OUTDIR receives:
#   M.f32.qf M.f16.qf           convert (--dtype f32, f16)
#   M.dynamic.qf                quantize --mode dynamic
#   M.calib.qfc                 calibrate --samples 64
#   M.static.qf                 quantize --mode static --method entropy --stats M.calib.qfc
#   M.export-f32.onnx           convert --onnx-out (the encoder exported from scratch)
#   M.export-dynamic.onnx       quantize --mode dynamic --onnx-out (--onnx-graph export)
#   M.export-static.onnx        quantize --mode static --onnx-out (non-ONNX sources: export)
#   M.rewrite-dynamic.onnx      quantize --mode dynamic --onnx-out (ONNX source only: the rewrite)
#   M.rewrite-static.onnx       quantize --mode static --onnx-out (ONNX source only: the rewrite)
#   M.fp32.logits.jsonl M.fp32.embedding.jsonl         run on the source (FP32)
#   M.dynamic.logits.jsonl M.dynamic.embedding.jsonl   run on M.dynamic.qf
#   M.static.logits.jsonl                              run on M.static.qf
#   M.verify-dynamic.json M.verify-static.json         verify --json of M.dynamic.qf / M.static.qf
#                                                      against the source, "seconds" line removed
# and .cpu-path, the kernel path of this machine (tests/golden/cpu_path.sh), which is not an output.
#
# Determinism: SOURCE_DATE_EPOCH is fixed (so the "qforge.created" stamp is written, from it alone),
# every command runs with --threads 1 and OMP_NUM_THREADS=1, and every path handed to qforge is
# relative to OUTDIR (inputs are reached through in/, links to the model folders), because .qf
# metadata and the reports record paths as given. The only field dropped is the verify report's
# top-level "seconds" (wall time); the line is removed as it is, so every other byte is qforge's.
#
# OUTDIR must be absent, empty, or a previous recording (it is then emptied). Environment:
# QF_SOURCE_DIR (default: this repository), QF_SHARED_DIR (default: QF_SOURCE_DIR/../shared).
# Exit status: 0 recorded, 1 a command failed (named on stderr), 2 usage, 77 ../shared is absent.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: tests/golden/record.sh QFORGE_BINARY OUTDIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${QF_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
SHARED=${QF_SHARED_DIR:-$SRC/../shared}
QF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$2
PY=${QF_PYTHON:-/usr/bin/python3}
MODEL=$SHARED/models/debsec-bert
DATA=$SHARED/data/debsec

[ -x "$QF" ] || { echo "record.sh: $1 is not an executable qforge binary" >&2; exit 2; }
for f in "$MODEL/pytorch_model.bin" "$MODEL/model.safetensors" "$MODEL/model.onnx" "$DATA/calib.jsonl" \
  "$DATA/eval.jsonl"; do
  [ -f "$f" ] || { echo "skip: $f is absent (the shared debsec-bert model and data)"; exit 77; }
done

if [ -e "$OUT" ]; then
  if [ -n "$(ls -A "$OUT")" ] && [ ! -f "$OUT/.golden-record" ]; then
    echo "record.sh: $OUT is neither empty nor a previous recording; refusing to empty it" >&2
    exit 2
  fi
  rm -rf "$OUT"
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
touch "$OUT/.golden-record"
cd "$OUT"

export SOURCE_DATE_EPOCH=1700000000 OMP_NUM_THREADS=1 LC_ALL=C TZ=UTC
unset QF_DIRECT_IO
T=(--threads 1)

fail() { echo "record.sh: $*" >&2; exit 1; }
# q ARGS...: qforge quietly; its stderr is shown when it fails. Each command is logged with the
# seconds since the recording began before it starts, so a slow or stuck one is named in the log.
began=$(date +%s)
q() {
  echo "+ $(($(date +%s) - began)) s: qforge $*" >&2
  "$QF" "$@" || fail "qforge $* exited $?"
}
# emitted NAME: the output exists; one line per output
emitted() { [ -f "$1" ] || fail "$1 was not written"; printf '%-42s %10d bytes\n' "$1" "$(stat -c %s "$1")"; }

# Inputs, all reached through relative paths under in/ (folder links: qforge refuses a model file
# that is itself a link out of its folder, not a folder reached through one).
mkdir in in/debsec-h5
ln -s "$MODEL" in/debsec-bert
ln -s "$SRC/fixtures/families" in/families
ln -s "$SRC/fixtures/debsec-mini" in/debsec-mini
ln -s "$DATA/calib.jsonl" in/calib.jsonl
head -n 200 "$DATA/eval.jsonl" > in/eval200.jsonl
echo "+ $(($(date +%s) - began)) s: fixtures/gen/make_tf_model_h5.py" >&2
"$PY" "$SRC/fixtures/gen/make_tf_model_h5.py" "$MODEL/pytorch_model.bin" in/debsec-h5/tf_model.h5 ||
  fail "fixtures/gen/make_tf_model_h5.py could not write the HDF5 layout (needs $PY with torch and h5py)"
cp "$MODEL/config.json" "$MODEL/tokenizer.json" in/debsec-h5/
# eval rows for a model with N classes: label % N (debsec has 30 classes, the families 3 to 5)
eval_for() { # eval_for CONFIG OUT
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
n = len(json.load(open(sys.argv[1]))["id2label"])
with open("in/eval200.jsonl") as f, open(sys.argv[2], "w") as o:
    for line in f:
        row = json.loads(line)
        o.write(json.dumps({"text": row["text"], "label": row["label"] % n}) + "\n")
EOF
}

# record NAME SOURCE EVAL
record() {
  local m=$1 src=$2 eval=$3 onnx=no
  case $src in *.onnx) onnx=yes ;; esac
  q convert "$src" -o "$m.f32.qf" --onnx-out "$m.export-f32.onnx" -q
  emitted "$m.f32.qf"; emitted "$m.export-f32.onnx"
  q convert "$src" -o "$m.f16.qf" --dtype f16 -q
  emitted "$m.f16.qf"
  if [ $onnx = yes ]; then
    q quantize "$src" -o "$m.dynamic.qf" --mode dynamic --onnx-out "$m.rewrite-dynamic.onnx" "${T[@]}" -q
    emitted "$m.dynamic.qf"; emitted "$m.rewrite-dynamic.onnx"
    q quantize "$src" -o "$m.dynamic-export.qf" --mode dynamic --onnx-out "$m.export-dynamic.onnx" \
      --onnx-graph export "${T[@]}" -q
    cmp -s "$m.dynamic.qf" "$m.dynamic-export.qf" || fail "$m: the .qf of quantize differs with --onnx-graph export"
    rm "$m.dynamic-export.qf"
    emitted "$m.export-dynamic.onnx"
  else
    q quantize "$src" -o "$m.dynamic.qf" --mode dynamic --onnx-out "$m.export-dynamic.onnx" "${T[@]}" -q
    emitted "$m.dynamic.qf"; emitted "$m.export-dynamic.onnx"
  fi
  q calibrate "$src" --data in/calib.jsonl --samples 64 -o "$m.calib.qfc" "${T[@]}" -q
  emitted "$m.calib.qfc"
  local sonnx=$m.export-static.onnx
  [ $onnx = yes ] && sonnx=$m.rewrite-static.onnx
  q quantize "$src" -o "$m.static.qf" --mode static --method entropy --stats "$m.calib.qfc" --onnx-out "$sonnx" \
    "${T[@]}" -q
  emitted "$m.static.qf"; emitted "$sonnx"
  q run "$src" --data "$eval" "${T[@]}" > "$m.fp32.logits.jsonl"
  emitted "$m.fp32.logits.jsonl"
  q run "$src" --data "$eval" --output embedding "${T[@]}" > "$m.fp32.embedding.jsonl"
  emitted "$m.fp32.embedding.jsonl"
  q run "$m.dynamic.qf" --data "$eval" "${T[@]}" > "$m.dynamic.logits.jsonl"
  emitted "$m.dynamic.logits.jsonl"
  q run "$m.dynamic.qf" --data "$eval" --output embedding "${T[@]}" > "$m.dynamic.embedding.jsonl"
  emitted "$m.dynamic.embedding.jsonl"
  q run "$m.static.qf" --data "$eval" "${T[@]}" > "$m.static.logits.jsonl"
  emitted "$m.static.logits.jsonl"
  local kind
  for kind in dynamic static; do
    q verify "$m.$kind.qf" --reference "$src" --data "$eval" --json "in/$m.verify-$kind.raw.json" "${T[@]}" -q
    # the wall time is the one field that changes from run to run: drop exactly that line
    local pat='^  "seconds": [-+0-9.eE]*,$'
    [ "$(grep -c "$pat" "in/$m.verify-$kind.raw.json")" = 1 ] ||
      fail "in/$m.verify-$kind.raw.json: expected exactly one top-level \"seconds\" line"
    grep -v "$pat" "in/$m.verify-$kind.raw.json" > "$m.verify-$kind.json"
    emitted "$m.verify-$kind.json"
  done
}

record debsec-bin in/debsec-bert/pytorch_model.bin in/eval200.jsonl
record debsec-st in/debsec-bert/model.safetensors in/eval200.jsonl
record debsec-onnx in/debsec-bert/model.onnx in/eval200.jsonl
record debsec-h5 in/debsec-h5/tf_model.h5 in/eval200.jsonl
for fam in bert distilbert electra roberta mpnet albert deberta-v2; do
  w=in/families/$fam/model.safetensors
  [ -f "$w" ] || w=in/families/$fam/pytorch_model.bin
  eval_for "in/families/$fam/config.json" "in/eval200-$fam.jsonl"
  record "$fam" "$w" "in/eval200-$fam.jsonl"
done
record debsec-mini in/debsec-mini/pytorch_model.bin in/eval200.jsonl

bash "$HERE/cpu_path.sh" "$QF" > .cpu-path || fail "tests/golden/cpu_path.sh failed"
echo "cpu path: $(cat .cpu-path)"
