#!/usr/bin/env bash
# The man page and --help come from the same tables: `qforge help --man` has a section for every
# command listed by `qforge --help`, and every option of every `qforge CMD --help` appears in it;
# `qforge help CMD` prints exactly `qforge CMD --help`; the page renders without roff warnings;
# the build produced BUILD/qforge.1 identical to `qforge help --man`.
set -euo pipefail
QF=${QF_CLI:-build/qforge}
BIN=${QF_BINARY_DIR:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=$((fail + 1)); }

"$QF" help --man > "$tmp/qforge.1"
cmp -s "$tmp/qforge.1" "$BIN/qforge.1" || no "$BIN/qforge.1 differs from 'qforge help --man'"
commands=$("$QF" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on=0}')
[ -n "$commands" ] || no "no commands listed by qforge --help"
for c in $commands; do
  grep -q "^\.SH \"qforge $c\"" "$tmp/qforge.1" || no "man page lacks a section for '$c'"
  "$QF" "$c" --help > "$tmp/help.txt"
  "$QF" help "$c" > "$tmp/help2.txt"
  cmp -s "$tmp/help.txt" "$tmp/help2.txt" || no "'qforge help $c' differs from 'qforge $c --help'"
  for opt in $(grep -o -E -- '--[a-z][a-z0-9-]*' "$tmp/help.txt" | sort -u); do
    [ "$opt" = --help ] && continue
    roff=$(printf '%s' "$opt" | sed 's/-/\\-/g')
    grep -qF -- "$roff" "$tmp/qforge.1" || no "man page lacks $opt of '$c'"
  done
done
if command -v man > /dev/null; then
  warnings=$(MANWIDTH=100 man --warnings -l "$tmp/qforge.1" 2>&1 > /dev/null || true)
  [ -z "$warnings" ] || no "roff warnings: $warnings"
  MANWIDTH=100 man -l "$tmp/qforge.1" 2> /dev/null | grep -q "qforge verify ARTIFACT" || no "rendered page lacks verify's synopsis"
fi
set +e
"$QF" help no-such-command > /dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || no "'qforge help no-such-command' exits $rc, expected 2"
if [ "$fail" -ne 0 ]; then echo "0 passed, $fail failed"; exit 1; fi
echo "1 passed, 0 failed ($(echo $commands | wc -w) commands)"
