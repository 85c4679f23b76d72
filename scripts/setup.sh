#!/usr/bin/env bash
# Install everything lowbit needs to build and test, idempotently.
#   scripts/setup.sh            build deps + interop reference (node-llama-cpp from npm)
#   scripts/setup.sh --no-npm   build deps only
#   scripts/setup.sh --cross ARCH...   also a cross toolchain and the dependencies' -dev
#                               packages for ARCH (aarch64 armhf riscv64 i386 s390x), for
#                               make CROSS=... and make check-cross (docs/building.md)
# Debian 12, as root (or with sudo). Safe to run any number of times.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
want_npm=1
[ "${1:-}" = "--no-npm" ] && want_npm=0
if [ "${1:-}" = "--cross" ]; then
  shift
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  want=""; failed=0
  for a in "$@"; do
    case $a in
      aarch64) da=arm64; gcc=gcc-aarch64-linux-gnu ;;
      armhf)   da=armhf; gcc=gcc-arm-linux-gnueabihf ;;
      riscv64)
        # Debian 12 has the cross compiler but no riscv64 packages (the architecture is
        # official from Debian 13; bookworm's are on debian-ports), so no :riscv64 -dev libs
        if ! grep -qsr 'debian-ports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
          echo "setup: --cross riscv64: Debian 12's archive has no riscv64 packages (needs a debian-ports source); skipped" >&2
          failed=1; continue
        fi
        da=riscv64; gcc=gcc-riscv64-linux-gnu ;;
      i386)    da=i386; gcc=gcc-i686-linux-gnu ;;
      s390x)   da=s390x; gcc=gcc-s390x-linux-gnu ;;
      *) echo "setup: --cross: unknown ARCH '$a' (aarch64 armhf riscv64 i386 s390x)" >&2; exit 2 ;;
    esac
    dpkg --print-foreign-architectures | grep -qx "$da" || $SUDO dpkg --add-architecture "$da"
    want="$want $gcc qemu-user-static zlib1g-dev:$da libcjson-dev:$da libarchive-dev:$da libssl-dev:$da"
  done
  missing=""
  for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
    echo "setup: installing:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  exit $failed
fi

pkgs="build-essential pkg-config clang libclang-rt-14-dev zlib1g-dev libcjson-dev libarchive-dev libssl-dev git xz-utils zstd p7zip-full jq time"
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
