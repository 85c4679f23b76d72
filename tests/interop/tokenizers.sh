#!/usr/bin/env bash
# tests/interop/tokenizers.sh: the real llama.cpp tokenizes with lowbit's tokenizer kvs
# (vocab-only GGUFs written by lowbit) exactly as with llama.cpp's own vocab files: every
# case of llama.cpp's test vectors (ggml-vocab-*.gguf.inp/.out). Builds
# tests/interop/tokenizer_llama.c against $LOWBIT_LLAMA_REF, build/libconvert.a, build/libformats.a.
. "$(dirname "$0")/../cli/lib.sh"
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
lib=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$ref/src/include/llama.h" ] || [ ! -f "$lib/libllama.v0.4.0.so" ]; then
  skip tokenizer-interop "llama.cpp reference not found in $ref (scripts/setup.sh installs it)"
  exit 0
fi
case "$(uname -m)" in x86_64) ;; *) skip tokenizer-interop "reference libraries are x86-64 only"; exit 0 ;; esac
need_shared tokenizer-interop models/gguf/ggml-vocab-llama-spm.gguf.inp models/gguf/ggml-vocab-gpt-2.gguf.out \
  models/llama2c/tokenizer.model models/hf/tiny-gpt2-random/tokenizer.json || exit 0
# plain (unsanitized) libraries, whatever tree the suite itself runs in
if ! (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u BIN -u CFLAGS -u OPT make -s build/libconvert.a build/libformats.a) > "$T/make.log" 2>&1; then
  fail tokenizer-interop-build "make: $(tail -3 "$T/make.log")"; exit 0
fi
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$ref/src/include" -I"$ref/src/ggml/include" \
    -I"$root/formats" -I"$root/convert" $(pkg-config --cflags libcjson 2>/dev/null) -o "$T/tokenizer_llama" "$root/tests/interop/tokenizer_llama.c" \
    "$root/build/libconvert.a" "$root/build/libformats.a" \
    -L"$lib" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$lib" \
    $(pkg-config --libs libcjson libarchive zlib libcrypto 2>/dev/null) -lm -lpthread > "$T/cc.log" 2>&1; then
  fail tokenizer-interop-build "compile: $(head -5 "$T/cc.log")"; exit 0
fi
[ -s "$T/cc.log" ] && { fail tokenizer-interop-build "compiler warnings: $(head -5 "$T/cc.log")"; exit 0; }
"$T/tokenizer_llama" "$T" "$S" "$lib" "$ref/src"
rc=$?
rm -rf "$T"
exit $rc
