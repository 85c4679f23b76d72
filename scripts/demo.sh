#!/usr/bin/env bash
# The demo: set up, build, and show what lowbit sees in a real small model.
# Uses ../shared/models when present (this workplace), else the real llama.cpp vocab
# file that ships in the pinned reference package.
set -eu
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j2 all >/dev/null
shared=../shared/models
if [ -d "$shared/hf/stories260K-llama" ]; then
  model=$shared/hf/stories260K-llama
else
  model=.cache/llama-ref/src/models/ggml-vocab-llama-spm.gguf
fi
echo "== lowbit-inspect --stats $model"
./bin/lowbit-inspect --stats "$model"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "== lowbit-convert --keep-names $model -o model.gguf (lossless container conversion)"
./bin/lowbit-convert --keep-names "$model" -o "$tmp/model.gguf"
./bin/lowbit-inspect --no-metadata "$tmp/model.gguf" | tail -3
