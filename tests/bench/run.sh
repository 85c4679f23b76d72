#!/usr/bin/env bash
# tests/bench/run.sh (make bench): quantization kernel throughput, lowbit vs the real
# ggml (llama.cpp 0.4.0), one thread each, on the same rows. Prints a table; no verdict.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
if [ -z "${LOWBIT_SHARED:-}" ] && [ -f "$root/../shared/models/README.md" ]; then
  LOWBIT_SHARED=$(cd "$root/../shared" && pwd)
fi
export LOWBIT_SHARED=${LOWBIT_SHARED:-}
CC=${CC:-cc}
libdir="$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
[ "$(uname -m)" = aarch64 ] && libdir="$ref/node_modules/@node-llama-cpp/linux-arm64/bins/linux-arm64"
if [ ! -f "$libdir/libggml-base.so" ]; then
  echo "bench: llama.cpp reference not installed at $ref (scripts/setup.sh installs it)" >&2
  exit 1
fi
make -s "$BUILD/libquantize.a" "$BUILD/libformats.a" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -ffp-contract=off -Iformats -Iquantize -Itests/interop -Itests/unit \
  -I"$ref/src/ggml/include" -o "$tmp/kern_bench" tests/bench/kern_bench.c \
  "$BUILD/libquantize.a" "$BUILD/libformats.a" -L"$libdir" -l:libggml-base.so -Wl,-rpath,"$libdir" -lpthread -lm \
  || exit 1
echo "lowbit $(cat VERSION) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), $($CC --version | head -1), $(nproc) cores"
"$tmp/kern_bench"
