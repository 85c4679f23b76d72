#!/usr/bin/env bash
# tests/interop/kquants.sh: lowbit's k-quant kernels (quantize/kquants.c) against the real
# ggml of llama.cpp 0.4.0 (libggml-base.so from $LOWBIT_LLAMA_REF).
#   kquant_vs_ggml.c   format, quality (RMSE, imatrix), chunking checks per type
#   determinism_O0_O2  the same bytes from an -O0 and an -O2 build of the library
# Prints PASS/FAIL/SKIP lines (and INFO lines with the per-type table).
set -u
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 1
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
libdir=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
inc=$ref/src/ggml/include
if [ ! -f "$libdir/libggml-base.so" ] || [ ! -f "$inc/ggml.h" ]; then
  echo "SKIP kquants: llama.cpp reference not found in '$ref' (scripts/setup.sh installs it)"
  exit 0
fi
case "$(uname -m)" in x86_64) ;; *) echo "SKIP kquants: reference libraries are x86-64 only"; exit 0 ;; esac

build=${LOWBIT_BUILD:-$root/build}
build=${build#"$root"/}
tmp=$(mktemp -d "${LOWBIT_TMP:-/tmp}/kquants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
pkglibs=$(pkg-config --libs zlib libcjson libarchive libcrypto 2>/dev/null)

# compile OUT BUILD_DIR: the test program linked with BUILD_DIR's libraries and ggml
compile() {
  # shellcheck disable=SC2086  # CFLAGS and pkglibs are word lists
  $cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -ffp-contract=off ${CFLAGS:-} \
    -Iformats -Iquantize -I"$inc" -o "$1" tests/interop/kquant_vs_ggml.c \
    "$2/libquantize.a" "$2/libformats.a" -L"$libdir" -l:libggml-base.so -Wl,-rpath,"$libdir" \
    $pkglibs -lm 2> "$tmp/cc.err"
}

if ! make -s BUILD="$build" "$build/libquantize.a" "$build/libformats.a" > "$tmp/make.log" 2>&1; then
  echo "FAIL kquants_build: make $build/libquantize.a: $(tail -3 "$tmp/make.log" | tr '\n' ' ')"; exit 1
fi
if ! compile "$tmp/kq" "$build"; then
  echo "FAIL kquants_build: cannot compile kquant_vs_ggml.c: $(head -5 "$tmp/cc.err" | tr '\n' ' ')"; exit 1
fi
"$tmp/kq"; rc=$?

# Determinism across optimisation levels: an -O0 build of the library must give the same
# bytes as $build's (normally -O2) (-ffp-contract=off, no reassociation: the bytes may not depend on -O).
if ! make -s BUILD=build-o0 OPT="-O0 -g" CFLAGS= build-o0/libquantize.a build-o0/libformats.a > "$tmp/make0.log" 2>&1; then
  echo "FAIL determinism_O0_O2: make build-o0: $(tail -3 "$tmp/make0.log" | tr '\n' ' ')"
elif ! CFLAGS= compile "$tmp/kq0" build-o0; then
  echo "FAIL determinism_O0_O2: cannot compile: $(head -5 "$tmp/cc.err" | tr '\n' ' ')"
else
  "$tmp/kq" --digest > "$tmp/d2" 2>&1
  "$tmp/kq0" --digest > "$tmp/d0" 2>&1
  if [ -s "$tmp/d2" ] && cmp -s "$tmp/d0" "$tmp/d2"; then
    echo "PASS determinism_O0_O2"
    echo "INFO -O0 build and $build (${OPT:-default OPT}): digests of $(wc -l < "$tmp/d2") type/imatrix runs identical ($(awk '{s+=$3} END {print s}' "$tmp/d2") blocks)"
  else
    echo "FAIL determinism_O0_O2: digests differ: $(diff "$tmp/d0" "$tmp/d2" | head -4 | tr '\n' ' ')"
  fi
fi
exit "$rc"
