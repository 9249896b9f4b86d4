#!/usr/bin/env bash
# Installs, by name and only when missing, every Debian package qforge builds, tests and demos with.
# Idempotent: a second run installs nothing. Needs root (or sudo) only when something is missing.
#   usage: .ci/install-deps.sh [build|all]
#     build  what compiling qforge and its tests needs (`make`, `make demo`)
#     all    (default) also the test oracles and tools (`make test`): clang and its sanitizer and
#            libFuzzer runtimes, Python with torch/onnx/h5py, the Unicode data files, Chromium, Node.js
#            and the npm packages
# apt's own output goes to a log file; the terminal gets one line before and one after, and on a
# failure the end of the log (where apt states the error) and the log's path.
set -euo pipefail

# --no-install-recommends keeps the install small, so every package a build step needs is named
# here even where Debian only recommends it: libclang-rt-14-dev holds clang's sanitizer and
# libFuzzer runtimes (the fuzz build links them; clang merely recommends it).
profile=${1:-all}
build_packages=(
  build-essential cmake pkg-config
  libzip-dev zlib1g-dev libjson-c-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libhdf5-dev libcmocka-dev libdnnl-dev
)
test_packages=(
  clang libclang-rt-14-dev libomp-dev
  python3-numpy python3-torch python3-onnx python3-h5py
  chromium
  # the Unicode Character Database: grapheme break properties and GraphemeBreakTest.txt, which
  # text/grapheme_tables.c is generated from and tests/test_grapheme.c checks against
  unicode-data
  # SentencePiece's model protobuf: fixtures/gen/make_spm_tokenizers.py reads fixtures/spm/spm.model
  # with it for tests/test_spm_tokenizers.py
  python3-sentencepiece python3-protobuf
)
case $profile in
  build) packages=("${build_packages[@]}") ;;
  all) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "$profile" = all ] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
  missing+=(nodejs npm)
fi

cd "$(dirname "$0")/.."
log_dir=${TMPDIR:-/tmp}

# run_logged LOG WHAT CMD...: runs CMD with its output in LOG; on failure shows the end of LOG.
run_logged() {
  local log=$1 what=$2
  shift 2
  if ! "$@" > "$log" 2>&1; then
    echo "error: $what failed; the last lines of its output (full log: $log):" >&2
    grep -v -E '^(Selecting|Preparing to unpack|Unpacking|Setting up|Processing triggers|\(Reading database)' "$log" |
      tail -n 25 >&2
    return 1
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "error: these Debian packages are missing and installing them needs root (or sudo): ${missing[*]}" >&2
      exit 1
    fi
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  start=$(date +%s)
  echo "installing ${#missing[@]} missing Debian packages and their dependencies (a few minutes on a new machine): ${missing[*]}"
  log=$(mktemp "$log_dir/qforge-apt.XXXXXX")
  run_logged "$log" "apt-get update" $sudo apt-get update
  run_logged "$log" "apt-get install" $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  echo "installed in $(( $(date +%s) - start )) s (apt's output: $log)"
fi

# The test oracles from npm (package.json): Hugging Face's tokenizers, ONNX Runtime. --ignore-scripts
# skips install scripts (onnxruntime-node's would download GPU binaries, which cannot work offline).
if [ "$profile" = all ] && [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; }; then
  echo "installing npm packages (package-lock.json)"
  run_logged "$(mktemp "$log_dir/qforge-npm.XXXXXX")" "npm ci" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  touch node_modules
fi
