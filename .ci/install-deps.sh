#!/usr/bin/env bash
# Installs, by name and only when missing, every Debian package qforge builds, tests and demos with.
# Idempotent: a second run installs nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang
  libzip-dev zlib1g-dev libjson-c-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libhdf5-dev libcmocka-dev libdnnl-dev libomp-dev
  python3-numpy python3-torch python3-onnx python3-h5py
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
