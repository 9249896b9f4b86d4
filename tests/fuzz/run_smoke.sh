#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; build folder $QF_FUZZ_BUILD, default
# build-fuzz) and runs each for $QF_FUZZ_SECONDS seconds (default 60) from its seed corpus and
# regression inputs. New corpus entries go to a scratch folder, never into the committed corpus.
# A crash leaves crash-* / leak-* / timeout-* files in $QF_FUZZ_ARTIFACTS (default
# build-fuzz/artifacts/<target>/): minimise it, commit it to tests/fuzz/regressions/<target>/, fix.
# The HDF5 reader runs libhdf5 first in a forked child (readers/hdf5/hdf5.c preflight): a libhdf5
# fault there is contained by design (the child dies, the caller gets a FORMAT error), but the child
# still writes a crash-* file. Every artifact is therefore replayed through the target; one that
# runs cleanly in the parent is counted as "contained", one that fails again is a finding. The HDF5
# target gets a 60 s per-input timeout: its child may use its whole CPU allowance (10 s and up),
# which on a busy machine takes longer in wall time.
# Prints one line per target: execs, seconds, result. Exit 1 when any target found something.
# QF_FUZZ_BUILD_ONLY=1 builds the targets and stops (what CI's fresh-root check runs).
#   usage: tests/fuzz/run_smoke.sh [target...]      (default: every fuzz_*.c)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${QF_FUZZ_BUILD:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${QF_FUZZ_SECONDS:-60}
ARTIFACTS=${QF_FUZZ_ARTIFACTS:-$BUILD/artifacts}
JOBS=${JOBS:-2}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c); targets+=("${t#fuzz_}")
  done
fi

# only the fuzz binaries (the shared library and the CLI are not needed, and libqforge.so does not
# link with -Wl,--no-undefined against clang's sanitizer runtimes)
mkdir -p "$BUILD"
log=$BUILD/fuzz-build.log
if ! { CC=clang cmake -S "$ROOT" -B "$BUILD" -DQF_FUZZ=ON -DQF_BUILD_TESTS=OFF -DQF_BUILD_BENCH=OFF \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
       cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]/#/fuzz_}"; } >"$log" 2>&1; then
  tail -n 30 "$log"
  echo "fuzz build failed (full log: $log)"
  exit 1
fi

if [ -n "${QF_FUZZ_BUILD_ONLY:-}" ]; then
  echo "built ${#targets[@]} fuzz targets in $BUILD/tests/fuzz"
  exit 0
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
failed=0
printf '%-12s %12s %8s %s\n' target execs seconds result
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  mkdir -p "$ARTIFACTS/$t"
  seeds=()
  for d in "$ROOT/tests/fuzz/corpus/$t" "$ROOT/tests/fuzz/regressions/$t"; do [ -d "$d" ] && seeds+=("$d"); done
  log=$ARTIFACTS/$t/fuzz.log
  timeout=25
  [ "$t" = hdf5 ] && timeout=60
  start=$(date +%s)
  "$BUILD/tests/fuzz/fuzz_$t" "$work" "${seeds[@]}" -max_total_time="$SECONDS_PER_TARGET" -timeout=$timeout \
    -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t/" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  contained=0
  found=0
  for a in "$ARTIFACTS/$t"/crash-* "$ARTIFACTS/$t"/leak-* "$ARTIFACTS/$t"/timeout-* "$ARTIFACTS/$t"/oom-*; do
    [ -e "$a" ] || continue
    if "$BUILD/tests/fuzz/fuzz_$t" "$a" -timeout=$timeout -rss_limit_mb=2048 >/dev/null 2>&1; then
      contained=$((contained + 1))
    else
      found=$((found + 1))
    fi
  done
  if [ $rc -eq 0 ] && [ $found -eq 0 ]; then
    result=clean
    [ $contained -gt 0 ] && result="clean ($contained faults contained in the forked pre-check, replayed cleanly)"
  else
    result="FOUND (rc $rc, $found failing artifacts, see $log)"
    failed=1
  fi
  printf '%-12s %12s %8s %s\n' "$t" "${execs:-?}" "$secs" "$result"
  rm -rf "$work"
done
exit $failed
