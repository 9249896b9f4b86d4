#!/usr/bin/env bash
# tests/golden/compare.sh DIR_A DIR_B — compares two recordings of tests/golden/record.sh byte for
# byte (cmp): one line per output file found in either folder, "same", "DIFFERENT" (with the first
# differing byte) or "missing in DIR"; then the line "N passed, N failed". Exit status 0 when every
# file is the same, 1 otherwise, 2 usage. The inputs under in/ and the dot files are not outputs; the
# kernel path each recording was made on (.cpu-path) is printed, and a note says when they differ
# (then the CPU-dependent outputs may differ without any change of the code: README.md).
set -uo pipefail
if [ $# -ne 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
  echo "usage: tests/golden/compare.sh DIR_A DIR_B (two folders written by tests/golden/record.sh)" >&2
  exit 2
fi
A=$1 B=$2
pa=$(cat "$A/.cpu-path" 2>/dev/null || echo unknown)
pb=$(cat "$B/.cpu-path" 2>/dev/null || echo unknown)
echo "cpu path: $A: $pa, $B: $pb"
[ "$pa" = "$pb" ] || echo "note: recorded on different kernel paths; the CPU-dependent outputs may differ (tests/golden/README.md)"

passed=0 failed=0
names=$( (find "$A" "$B" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f\n') | LC_ALL=C sort -u)
[ -n "$names" ] || { echo "no outputs in $A or $B"; echo "0 passed, 1 failed"; exit 1; }
while IFS= read -r f; do
  if [ ! -f "$A/$f" ]; then
    printf '%-42s missing in %s\n' "$f" "$A"; failed=$((failed + 1))
  elif [ ! -f "$B/$f" ]; then
    printf '%-42s missing in %s\n' "$f" "$B"; failed=$((failed + 1))
  elif out=$(cmp "$A/$f" "$B/$f" 2>&1); then
    printf '%-42s same\n' "$f"; passed=$((passed + 1))
  else
    printf '%-42s DIFFERENT (%s)\n' "$f" "${out##*: }"; failed=$((failed + 1))
  fi
done <<< "$names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
