#!/usr/bin/env bash
# Models inside archives through the tools (docs/formats-archives.md): same totals and
# stats as the plain folder, exit codes and one-line messages for refused archives.
. "$(dirname "$0")/lib.sh"

totals() { "$B/lowbit-inspect" --no-metadata "$1" 2>&1 | grep '^totals:'; }

if need_shared "archive: inspect tar.gz of an HF folder" models/hf/tiny-llama-trained; then
  tar -C "$M/hf" -czf "$T/tl.tar.gz" tiny-llama-trained
  a=$(totals "$M/hf/tiny-llama-trained"); b=$(totals "$T/tl.tar.gz")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "archive: inspect tar.gz of an HF folder"
  else fail "archive: inspect tar.gz of an HF folder" "'$b' vs folder '$a'"; fi
fi

if need_shared "archive: inspect --stats of a sharded set in a plain tar" models/hf/stories260K-llama-bf16-sharded; then
  tar -C "$M/hf" -cf "$T/sh.tar" stories260K-llama-bf16-sharded
  a=$("$B/lowbit-inspect" --json --stats "$M/hf/stories260K-llama-bf16-sharded" | jq -c '[.models[0].tensors[] | [.name, .dtype, .shape, .stats]]')
  b=$("$B/lowbit-inspect" --json --stats "$T/sh.tar" | jq -c '[.models[0].tensors[] | [.name, .dtype, .shape, .stats]]')
  f=$("$B/lowbit-inspect" --json "$T/sh.tar" | jq -r '.models[0].format')
  if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$f" = safetensors-sharded ]; then pass "archive: inspect --stats of a sharded set in a plain tar"
  else fail "archive: inspect --stats of a sharded set in a plain tar" "stats differ or format '$f'"; fi
fi

if need_shared "archive: gguf in tar.zst" models/gguf/stories260K.gguf && command -v zstd >/dev/null; then
  tar -C "$M/gguf" --zstd -cf "$T/g.tar.zst" stories260K.gguf
  a=$(totals "$M/gguf/stories260K.gguf"); b=$(totals "$T/g.tar.zst")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "archive: gguf in tar.zst"
  else fail "archive: gguf in tar.zst" "'$b' vs '$a'"; fi
fi

if need_shared "archive: torch zip checkpoint refused clearly" models/hf/stories260K-llama/pytorch_model.bin; then
  expect_exit "archive: torch zip checkpoint refused clearly" 4 "PyTorch zip checkpoint" \
    "$B/lowbit-inspect" "$M/hf/stories260K-llama/pytorch_model.bin"
fi

printf 'hello\n' > "$T/README"
tar -C "$T" -czf "$T/nomodel.tgz" README
expect_exit "archive: no model inside" 4 "archive holds no model file" "$B/lowbit-inspect" "$T/nomodel.tgz"

mkdir -p "$T/e" && printf 'x' > "$T/e/model.safetensors"
tar -P --transform 's,^,../,' -C "$T/e" -cf "$T/evil.tar" model.safetensors 2>/dev/null
expect_exit "archive: '../' entry refused" 4 "unsafe name" "$B/lowbit-inspect" "$T/evil.tar"

if need_shared "archive: truncated tar.gz" models/hf/stories260K-llama; then
  tar -C "$M/hf" -czf "$T/f.tgz" stories260K-llama
  head -c 200000 "$T/f.tgz" > "$T/trunc.tgz"
  expect_exit "archive: truncated tar.gz" 4 "[Tt]runcated" "$B/lowbit-inspect" "$T/trunc.tgz"
fi

rm -rf "$T"
