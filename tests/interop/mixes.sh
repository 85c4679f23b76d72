#!/usr/bin/env bash
# tests/interop/mixes.sh: lowbit's mix rules (quantize/mix.c) against the real llama.cpp
# 0.4.0: for every mix and several option sets, llama_model_quantize's output tensor types
# must be exactly what lb_mix_plan picks. Builds tests/interop/mix_vs_llama.c against
# $LOWBIT_LLAMA_REF's libllama and lowbit's libquantize/libformats.
. "$(dirname "$0")/../cli/lib.sh"
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
lib=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$ref/src/include/llama.h" ] || [ ! -f "$lib/libllama.v0.4.0.so" ]; then
  skip mix-vs-llama "llama.cpp reference not found in $ref (scripts/setup.sh installs it)"
  exit 0
fi
case "$(uname -m)" in x86_64) ;; *) skip mix-vs-llama "reference libraries are x86-64 only"; exit 0 ;; esac
need_shared mix-vs-llama models/gguf/stories260K.gguf models/gguf/tiny-llama-trained-f32.gguf \
  models/imatrix/stories260K-imatrix.gguf || exit 0
# plain (unsanitized) libraries, whatever tree the suite itself runs in
if ! (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u BIN -u CFLAGS -u OPT make -s build/libquantize.a build/libformats.a) > "$T/make.log" 2>&1; then
  fail mix-vs-llama-build "make: $(tail -3 "$T/make.log")"; exit 0
fi
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$ref/src/include" -I"$ref/src/ggml/include" \
    -I"$root/formats" -I"$root/quantize" \
    -o "$T/mix_vs_llama" "$root/tests/interop/mix_vs_llama.c" \
    "$root/build/libquantize.a" "$root/build/libformats.a" \
    $(pkg-config --libs libcjson libarchive zlib libcrypto 2>/dev/null) -lm -lpthread \
    -L"$lib" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$lib" \
    > "$T/cc.log" 2>&1; then
  fail mix-vs-llama-build "compile: $(head -5 "$T/cc.log")"; exit 0
fi
[ -s "$T/cc.log" ] && { fail mix-vs-llama-build "compiler warnings: $(head -5 "$T/cc.log")"; exit 0; }
"$T/mix_vs_llama" "$T" "$S" 2> "$T/llama.log"
rc=$?
# MIX_TIMES=file: keep each case's llama_model_quantize time (for tuning the test's cost)
[ -n "${MIX_TIMES:-}" ] && grep "^TIME" "$T/llama.log" > "$MIX_TIMES"
[ $rc -gt 1 ] && { echo "FAIL mix-vs-llama: exited with $rc"; tail -5 "$T/llama.log"; }
rm -rf "$T"
exit $rc
