#!/usr/bin/env bash
# `make test` (install-check): installs the build into BUILD/install-prefix, builds
# examples/encode_qf.c against the INSTALLED package twice — with `pkg-config --cflags --libs qforge`
# and with CMake's find_package(qforge) — runs both on the bundled model's int8 artifact and checks
# their logits equal those `qforge run` prints. Also checks that libqforge.so exports exactly the
# functions of the public headers.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
prefix=$root/$BUILD/install-prefix
work=$root/$BUILD/install-check
rm -rf "$prefix" "$work"
mkdir -p "$work"
cmake --install "$BUILD" --prefix "$prefix" > /dev/null
libdir=$(find "$prefix" -name libqforge.so -printf '%h\n' | head -1)
for f in "$libdir/libqforge.so" "$libdir/libqforge.a" "$prefix/include/qforge/core.h" \
         "$libdir/pkgconfig/qforge.pc" "$libdir/cmake/qforge/qforgeConfig.cmake" "$prefix/bin/qforge" \
         "$prefix/share/man/man1/qforge.1"; do
  [ -e "$f" ] || { echo "install-check: $f was not installed"; exit 1; }
done

# Exported symbols == functions declared in the public headers.
nm -D --defined-only "$libdir/libqforge.so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u > "$work/exported"
grep -h -E '^[a-z].*qf_[a-z0-9_]+ *\(' "$prefix"/include/qforge/*.h | grep -v -E '^(static|typedef|extern)' |
  grep -o -E 'qf_[a-z0-9_]+ *\(' | head -n 100000 | sed 's/ *($//' | awk '!seen[$0]++' | sort -u > "$work/declared"
if ! diff -u "$work/declared" "$work/exported" > "$work/symbols.diff"; then
  echo "install-check: libqforge.so exports differ from the public headers (- declared only, + exported only):"
  cat "$work/symbols.diff"; exit 1
fi

# The example, built against the installed package with pkg-config.
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -std=c11 -Wall -Wextra -Werror examples/encode_qf.c $(pkg-config --cflags --libs qforge) -o "$work/encode_qf"
# ... and with CMake's package config.
cmake -S examples -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$work/cmake" > /dev/null

"$BUILD/qforge" quantize fixtures/debsec-mini/pytorch_model.bin -o "$work/mini.int8.qf" --mode dynamic > /dev/null
ids='101 7592 2088 1997 1996 4007 102'
echo "{\"input_ids\": [${ids// /, }]}" > "$work/row.jsonl"
expected=$("$BUILD/qforge" run "$work/mini.int8.qf" --data "$work/row.jsonl" --threads 1 |
  /usr/bin/python3 -c 'import json,sys; print(" ".join("%.9g" % v for v in json.loads(sys.stdin.readline())["logits"]))')
for exe in "$work/encode_qf" "$work/cmake/encode_qf"; do
  got=$(LD_LIBRARY_PATH=$libdir OMP_NUM_THREADS=1 "$exe" "$work/mini.int8.qf" $ids)
  if [ "$got" != "logits $expected" ]; then
    printf 'install-check: %s printed\n  %s\nqforge run printed\n  logits %s\n' "$exe" "$got" "$expected"; exit 1
  fi
done
if LD_LIBRARY_PATH=$libdir "$work/encode_qf" fixtures/debsec-mini/eval.jsonl 101 2> "$work/err.txt"; then
  echo "install-check: the example accepted a JSONL file as a model"; exit 1
fi
grep -q "eval.jsonl" "$work/err.txt" || { echo "install-check: error does not name the file:"; cat "$work/err.txt"; exit 1; }
echo "install-check: 1 passed, 0 failed (installed to $prefix; example built with pkg-config and CMake; $(wc -l < "$work/exported") symbols exported)"
