#!/usr/bin/env bash
# Installs, by name and only when missing, every Debian package qforge builds, tests and demos with.
# Idempotent: a second run installs nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  libzip-dev zlib1g-dev libjson-c-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libhdf5-dev libcmocka-dev libdnnl-dev libomp-dev
  python3-numpy python3-torch python3-onnx python3-h5py
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The test oracles from npm (package.json): Hugging Face's tokenizers, ONNX Runtime. --ignore-scripts
# skips install scripts (onnxruntime-node's would download GPU binaries, which cannot work offline).
cd "$(dirname "$0")/.."
if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; }; then
  echo "installing npm packages (package-lock.json)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  touch node_modules
fi
