#!/usr/bin/env bash
# Install everything lowbit needs to build and test, idempotently.
#   scripts/setup.sh            build deps + interop reference (node-llama-cpp from npm)
#   scripts/setup.sh --no-npm   build deps only
# Debian 12, as root (or with sudo). Safe to run any number of times.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
want_npm=1
[ "${1:-}" = "--no-npm" ] && want_npm=0

pkgs="build-essential pkg-config clang libclang-rt-14-dev zlib1g-dev libcjson-dev libarchive-dev libssl-dev git xz-utils zstd p7zip-full jq"
# the NEON kernels are built with the cross compiler and tested under qemu-user (tests/cli/simd_cross.sh)
pkgs="$pkgs gcc-aarch64-linux-gnu qemu-user-static"
[ "$want_npm" = 1 ] && pkgs="$pkgs nodejs npm"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm may come from a non-Debian node install; accept any working npm
if [ "$want_npm" = 1 ] && command -v npm >/dev/null 2>&1; then
  missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
fi
if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing:$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

[ "$want_npm" = 1 ] || exit 0
# The interop reference: stock llama.cpp 0.4.0 prebuilt, pinned (see docs/interop.md).
ref="$here/.cache/llama-ref"
ver=3.21.1
if [ ! -f "$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so" ]; then
  mkdir -p "$ref"
  echo "setup: fetching node-llama-cpp@$ver (llama.cpp 0.4.0 reference) from npm" >&2
  (cd "$ref" && [ -f package.json ] || echo '{"name":"lowbit-llama-ref","private":true}' > package.json
   cd "$ref" && npm i -E --ignore-scripts --omit=optional --no-audit --no-fund \
      "node-llama-cpp@$ver" "@node-llama-cpp/linux-x64@$ver" >/dev/null)
fi
if [ ! -f "$ref/src/include/llama.h" ]; then
  rm -rf "$ref/src"
  git clone -q "$ref/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$ref/src"
fi
