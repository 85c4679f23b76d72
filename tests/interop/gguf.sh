#!/usr/bin/env bash
# tests/interop/gguf.sh: GGUF files lowbit writes must load in the real llama.cpp
# (ggml's gguf_init_from_file) with the same metadata, tensors, shapes and offsets.
# Builds tests/interop/gguf_interop.c against $LOWBIT_LLAMA_REF and build/libformats.a.
. "$(dirname "$0")/../cli/lib.sh"
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
inc=$ref/src/ggml/include
lib=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$inc/gguf.h" ] || [ ! -f "$lib/libggml-base.so" ]; then
  skip gguf-interop "llama.cpp reference not found in $ref (scripts/setup.sh installs it)"
  exit 0
fi
case "$(uname -m)" in x86_64) ;; *) skip gguf-interop "reference libraries are x86-64 only"; exit 0 ;; esac
# a plain (unsanitized) library, whatever tree the suite itself runs in
if ! (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u BIN -u CFLAGS -u OPT make -s build/libformats.a) > "$T/make.log" 2>&1; then
  fail gguf-interop-build "make build/libformats.a: $(tail -3 "$T/make.log")"; exit 0
fi
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$inc" -I"$root/formats" \
    -o "$T/gguf_interop" "$root/tests/interop/gguf_interop.c" "$root/build/libformats.a" \
    $(pkg-config --libs libcjson libarchive zlib libcrypto 2>/dev/null) -lm \
    -L"$lib" -l:libggml-base.so -Wl,-rpath,"$lib" > "$T/cc.log" 2>&1; then
  fail gguf-interop-build "compile: $(head -5 "$T/cc.log")"; exit 0
fi
[ -s "$T/cc.log" ] && { fail gguf-interop-build "compiler warnings: $(head -5 "$T/cc.log")"; exit 0; }
"$T/gguf_interop" "$T" "${S:-}"
rc=$?
rm -rf "$T"
exit $rc
