#!/usr/bin/env bash
# tests/golden/check.sh — the golden-output test (ctest golden_outputs): records qforge's outputs
# on the real models with tests/golden/record.sh into QF_BINARY_DIR/golden and holds them to the
# committed SHA-256 digests:
#   manifest.sha256             the outputs that do not depend on the CPU (.qf of convert and
#                               dynamic quantize, the exported FP32 and dynamic ONNX graphs, the
#                               dynamic rewrite of the ONNX source): checked on every machine;
#   manifest-<path>.sha256      the outputs of the FP32 or int8 encoder (.qfc, static .qf and ONNX,
#                               run, verify), recorded on kernel path <path> (tests/golden/cpu_path.sh):
#                               checked only where this machine takes the same path, else skipped
#                               with a line that says why.
# Every output must be named by manifest.sha256 or by the CPU-dependent manifests, so a new output
# cannot go unchecked. A difference means a change of qforge's output bytes: find out which change
# made it (tests/golden/README.md); never re-record the manifests to make it pass.
# Environment (set by ctest): QF_CLI, QF_SOURCE_DIR, QF_SHARED_DIR, QF_BINARY_DIR. Exit 77 (skip)
# when ../shared is absent.
set -uo pipefail
QF=${QF_CLI:?QF_CLI must point at the qforge binary}
SRC=${QF_SOURCE_DIR:?}
SHARED=${QF_SHARED_DIR:-$SRC/../shared}
OUT=${QF_BINARY_DIR:?}/golden
HERE=$SRC/tests/golden

if [ ! -d "$SHARED/models/debsec-bert" ] || [ ! -d "$SHARED/data/debsec" ]; then
  echo "skip: $SHARED/models/debsec-bert or $SHARED/data/debsec is absent (the shared debsec-bert model and data)"
  exit 77
fi

# The recording must end before ctest's TIMEOUT (600 s) kills this script without a word: past
# QF_GOLDEN_DEADLINE seconds (default 540) the processes still running are described (state, kernel
# wait channel, system call, CPU seconds; per thread) and stopped, and the test fails with the log.
deadline=${QF_GOLDEN_DEADLINE:-540}
case $deadline in '' | *[!0-9]*) echo "QF_GOLDEN_DEADLINE must be a number of seconds"; exit 2 ;; esac

# descendants PID: the PIDs of every process below PID, from /proc (procps may be absent)
descendants() {
  local parent=$1 p ppid
  for p in /proc/[0-9]*; do
    ppid=$(awk '{sub(/^.*\) /, ""); print $2}' "$p/stat" 2>/dev/null) || continue
    if [ "$ppid" = "$parent" ]; then
      echo "${p#/proc/}"
      descendants "${p#/proc/}"
    fi
  done
}
# describe PID: one line per thread: state, wait channel, system call, user and system CPU seconds
describe() {
  local pid=$1 t st ticks
  ticks=$(getconf CLK_TCK)
  [ -d "/proc/$pid" ] || return 0
  echo "  pid $pid: $({ tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-300)"
  for t in /proc/"$pid"/task/[0-9]*; do
    st=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
    echo "    thread ${t##*/}: state $(echo "$st" | awk '{print $1}')," \
      "wchan $(cat "$t/wchan" 2>/dev/null || echo '?')," \
      "syscall $(cut -d' ' -f1 "$t/syscall" 2>/dev/null || echo '?')," \
      "cpu $(echo "$st" | awk -v hz="$ticks" '{printf "%.1f s user, %.1f s system", $12 / hz, $13 / hz}')"
  done
}

start=$(date +%s)
QF_SOURCE_DIR=$SRC QF_SHARED_DIR=$SHARED bash "$HERE/record.sh" "$QF" "$OUT" > "$OUT.log" 2>&1 &
recorder=$!
while kill -0 "$recorder" 2>/dev/null; do
  if [ $(($(date +%s) - start)) -ge "$deadline" ]; then
    echo "FAIL: tests/golden/record.sh still running after $deadline s (QF_GOLDEN_DEADLINE)"
    echo "load average: $(cat /proc/loadavg 2>/dev/null)"
    [ -r /proc/pressure/io ] && echo "io pressure: $(tr '\n' ' ' < /proc/pressure/io)"
    echo "its processes:"
    stuck=$(descendants "$recorder")
    for p in $recorder $stuck; do describe "$p"; done
    kill -TERM $stuck "$recorder" 2>/dev/null
    echo "the end of its log ($OUT.log):"
    tail -n 40 "$OUT.log"
    exit 1
  fi
  sleep 1
done
wait "$recorder"
rc=$?
if [ $rc -ne 0 ]; then
  cat "$OUT.log"
  [ $rc -eq 77 ] && exit 77
  echo "FAIL: tests/golden/record.sh exited $rc"
  exit 1
fi
echo "recorded $(grep -c ' bytes$' "$OUT.log") outputs into $OUT in $(($(date +%s) - start)) s"

failures=0
# check MANIFEST: every digest it lists matches the recorded file
check() {
  local manifest=$1 bad
  bad=$(cd "$OUT" && sha256sum --quiet -c "$manifest" 2>&1)
  if [ -n "$bad" ]; then
    echo "FAIL: outputs differ from $(basename "$manifest"):"
    echo "$bad"
    failures=$((failures + 1))
  else
    echo "ok: the $(wc -l < "$manifest") outputs of $(basename "$manifest") are byte-identical"
  fi
}

check "$HERE/manifest.sha256"

path=$(cat "$OUT/.cpu-path")
dependent=$(cat "$HERE"/manifest-*.sha256 2>/dev/null | awk '{print $2}' | sed 's/^\*//' | LC_ALL=C sort -u)
if [ -f "$HERE/manifest-$path.sha256" ]; then
  check "$HERE/manifest-$path.sha256"
else
  echo "skipped: the $(echo "$dependent" | grep -c .) CPU-dependent outputs (.qfc, static .qf and ONNX, run, verify):" \
    "this machine takes kernel path $path; digests are committed for:" \
    "$(cd "$HERE" && ls manifest-*.sha256 2>/dev/null | sed 's/^manifest-//; s/\.sha256$//' | tr '\n' ' ')"
fi

# every output is named by one of the manifests, and none by both
independent=$(awk '{print $2}' "$HERE/manifest.sha256" | sed 's/^\*//' | LC_ALL=C sort -u)
outputs=$(cd "$OUT" && find . -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | LC_ALL=C sort)
unlisted=$(LC_ALL=C comm -23 <(echo "$outputs") <(printf '%s\n%s\n' "$independent" "$dependent" | LC_ALL=C sort -u))
both=$(LC_ALL=C comm -12 <(echo "$independent") <(echo "$dependent"))
if [ -n "$unlisted" ]; then
  echo "FAIL: outputs that no manifest names (classify them in tests/golden/README.md and the manifests):"
  echo "$unlisted"
  failures=$((failures + 1))
fi
if [ -n "$both" ]; then
  echo "FAIL: outputs named both as CPU-independent and CPU-dependent:"
  echo "$both"
  failures=$((failures + 1))
fi
echo "golden outputs: $failures failure(s) in $(($(date +%s) - start)) s"
[ $failures -eq 0 ]
