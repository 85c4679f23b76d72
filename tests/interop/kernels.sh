#!/usr/bin/env bash
# tests/interop/kernels.sh: quantization kernels against the real ggml, and build
# determinism. Prints PASS/FAIL/SKIP lines (and INFO table lines).
#   1. kern_ggml (linked with ggml): format, quality and byte identity per type.
#   2. kern_dump: digests of quantized bytes (all types, with and without importance
#      weights, thread counts 1 2 3 7) from the -O2 library, an -O0 -g copy, and a
#      clang copy when clang is installed: all must be equal.
# Run through tests/run.sh (which sets LOWBIT_ROOT, LOWBIT_BUILD, LOWBIT_SHARED,
# LOWBIT_LLAMA_REF, LOWBIT_TMP).
set -u
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${LOWBIT_BUILD:-$root/build}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
tmp=$(mktemp -d "${LOWBIT_TMP:-/tmp}/kern.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}
# CFLAGS from the environment (make asan passes sanitizer flags) apply here too, so the
# programs link with sanitized libraries.
cflags="-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -ffp-contract=off -fno-fast-math -I$root/formats -I$root/quantize -I$root/tests/interop -I$root/tests/unit ${CFLAGS:-}"
libs_of() { echo "$1/libquantize.a $1/libformats.a -lpthread -lm"; }

for l in libquantize.a libformats.a; do
  [ -f "$build/$l" ] || { echo "FAIL kern-build: $build/$l missing (run make first)"; exit 1; }
done

# ---- 1. against ggml ------------------------------------------------------------
libdir="$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
[ "$(uname -m)" = aarch64 ] && libdir="$ref/node_modules/@node-llama-cpp/linux-arm64/bins/linux-arm64"
inc="$ref/src/ggml/include"
if [ ! -f "$libdir/libggml-base.so" ] || [ ! -f "$inc/ggml.h" ]; then
  echo "SKIP kern-ggml: llama.cpp reference not installed at $ref (scripts/setup.sh installs it)"
else
  if $CC $cflags -I"$inc" -o "$tmp/kern_ggml" "$root/tests/interop/kern_ggml.c" \
       $(libs_of "$build") -L"$libdir" -l:libggml-base.so -Wl,-rpath,"$libdir" 2> "$tmp/cc.err"; then
    "$tmp/kern_ggml"; rc=$?
    [ $rc -le 1 ] || echo "FAIL kern-ggml: exited with status $rc"
  else
    echo "FAIL kern-ggml: does not compile: $(head -c 400 "$tmp/cc.err")"
  fi
fi

# ---- 2. determinism across builds --------------------------------------------------
# One object for the dump program (same input values for every build), linked with
# each copy of the library.
if ! $CC $cflags -c -o "$tmp/kern_dump.o" "$root/tests/interop/kern_dump.c" 2> "$tmp/cc.err"; then
  echo "FAIL kern-determinism: kern_dump does not compile: $(head -c 400 "$tmp/cc.err")"; exit 0
fi
o0="$build/o0"
if ! make -s -C "$root" BUILD="$o0" OPT="-O0 -g" CC="$CC" "$o0/libquantize.a" "$o0/libformats.a" > "$tmp/make.out" 2>&1; then
  echo "FAIL kern-determinism: -O0 build failed: $(tail -c 400 "$tmp/make.out")"; exit 0
fi
variants="O2:$build O0:$o0"
case "${CFLAGS:-}" in *-fsanitize*) sanitized=1 ;; *) sanitized=0 ;; esac
if command -v clang > /dev/null 2>&1 && [ "$CC" != clang ] && [ $sanitized = 0 ]; then
  cl="$build/clang"
  if make -s -C "$root" BUILD="$cl" OPT="-O2" CC=clang "$cl/libquantize.a" "$cl/libformats.a" > "$tmp/make.out" 2>&1; then
    variants="$variants clang-O2:$cl"
  else
    echo "FAIL kern-determinism-clang: clang build failed: $(tail -c 400 "$tmp/make.out")"
  fi
fi
first=""
for v in $variants; do
  tag=${v%%:*}; dir=${v#*:}
  if ! $CC ${CFLAGS:-} -o "$tmp/dump.$tag" "$tmp/kern_dump.o" $(libs_of "$dir") 2> "$tmp/cc.err"; then
    echo "FAIL kern-determinism: link with $tag library: $(head -c 300 "$tmp/cc.err")"; continue
  fi
  "$tmp/dump.$tag" > "$tmp/digest.$tag" || { echo "FAIL kern-determinism-$tag: dump exited with $?"; continue; }
  if [ -z "$first" ]; then first=$tag; continue; fi
  if cmp -s "$tmp/digest.$first" "$tmp/digest.$tag"; then
    echo "PASS kern-determinism-$first-vs-$tag"
  else
    echo "FAIL kern-determinism-$first-vs-$tag: $(diff "$tmp/digest.$first" "$tmp/digest.$tag" | grep '^[<>]' | head -4 | tr '\n' ' ')"
  fi
done
# inside one build: thread counts 1, 2, 3, 7 (kern_dump prints MT-MISMATCH lines)
if [ -n "$first" ]; then
  if grep -q MT-MISMATCH "$tmp/digest.$first"; then
    echo "FAIL kern-determinism-threads: $(grep MT-MISMATCH "$tmp/digest.$first" | head -3 | tr '\n' ' ')"
  else
    echo "PASS kern-determinism-threads"
  fi
  echo "INFO determinism: $(grep -c '^digest' "$tmp/digest.$first") digests (type x imatrix) over $(head -1 "$tmp/digest.$first" | cut -d' ' -f2-) compared across: $(echo "$variants" | sed 's/:[^ ]*//g')"
fi
exit 0
