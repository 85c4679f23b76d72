#!/usr/bin/env bash
# The demo: set up, build, convert a real small Hugging Face model to GGUF, quantize it to
# Q8_0 with a per-tensor error report, and let llama.cpp continue a sentence with it.
# Uses ../shared/models when present (this workplace); elsewhere it inspects and quantizes
# nothing but shows the tools on the llama.cpp vocab file that ships in the reference package.
set -eu
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j2 all tests >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
shared=../shared/models
if [ ! -d "$shared/hf/stories260K-llama" ]; then
  echo "== ../shared/models is not here: inspecting the llama.cpp vocab file instead"
  ./bin/lowbit-inspect .cache/llama-ref/src/models/ggml-vocab-llama-spm.gguf | head -20
  exit 0
fi
src=$shared/hf/stories260K-llama
echo "== lowbit-inspect $src"
./bin/lowbit-inspect --no-metadata "$src" | tail -4
echo "== lowbit-convert $src -o stories.gguf   (HF safetensors -> llama.cpp GGUF, tokenizer included)"
./bin/lowbit-convert "$src" -o "$tmp/stories.gguf"
echo "== lowbit-quantize -v stories.gguf stories-q8_0.gguf Q8_0   (per-tensor error report)"
./bin/lowbit-quantize -v "$tmp/stories.gguf" "$tmp/stories-q8_0.gguf" Q8_0
echo "== lowbit-verify derived stories.gguf stories-q8_0.gguf   (re-derive every byte from the recipe)"
./bin/lowbit-verify derived -q "$tmp/stories.gguf" "$tmp/stories-q8_0.gguf"
ref=.cache/llama-ref
lib=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ -f "$lib/libllama.v0.4.0.so" ] && [ "$(uname -m)" = x86_64 ]; then
  gcc -std=c11 -D_GNU_SOURCE -O2 -Iformats -Iquantize -I$ref/src/include -I$ref/src/ggml/include tests/interop/llama_run.c \
    -o "$tmp/llama_run" build/libquantize.a build/libformats.a $(pkg-config --libs libcjson libarchive zlib libcrypto) -lm -lpthread \
    -L$lib -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,$lib
  echo "== stock llama.cpp 0.4.0, greedy, from the Q8_0 file:"
  printf 'Once upon a time'
  LLAMA_LIBDIR=$lib "$tmp/llama_run" gen "$tmp/stories-q8_0.gguf" 30 "Once upon a time"
fi
