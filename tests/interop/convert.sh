#!/usr/bin/env bash
# tests/interop/convert.sh: GGUF files lowbit-convert writes from HF folders load and run in
# the real llama.cpp (tests/interop/convert_run.c): the stories260K conversions greedy-continue
# "Once upon a time" exactly as llama.cpp's own gguf/stories260K.gguf does; tiny-llama-trained
# reproduces the training code's logits; llama2.c checkpoints; gpt2, and qwen2 / mistral / llama3-rope-scaling folders
# made here (real config.json fields, random weights; mistral with head_dim x heads != hidden_size)
# convert, load and decode.
# Vocabularies come from each folder's own tokenizer (tokenizer.model, tokenizer.json); one case
# takes it from another GGUF (--tokenizer FILE.gguf).
. "$(dirname "$0")/../cli/lib.sh"
root=${LOWBIT_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
inc=$ref/src/include
ginc=$ref/src/ggml/include
lib=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$inc/llama.h" ] || [ ! -f "$lib/libllama.v0.4.0.so" ]; then
  skip convert-interop "llama.cpp reference not found in $ref (scripts/setup.sh installs it)"; exit 0
fi
case "$(uname -m)" in x86_64) ;; *) skip convert-interop "reference libraries are x86-64 only"; exit 0 ;; esac
need_shared "convert interop" models/hf/stories260K-llama/config.json models/gguf/stories260K.gguf \
  models/llama2c/stories260K.bin models/llama2c/pr468-model_qint80.bin models/hf/tiny-llama-trained/probe_logits.npy models/hf/tiny-gpt2-random/tokenizer.json || exit 0
# plain (unsanitized) libraries, whatever tree the suite itself runs in
if ! (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u BIN -u CFLAGS -u OPT make -s build/libconvert.a build/libquantize.a build/libformats.a bin/lowbit-convert) > "$T/make.log" 2>&1; then
  fail convert-interop-build "make: $(tail -3 "$T/make.log")"; exit 0
fi
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -I"$inc" -I"$ginc" -I"$root/formats" \
    -o "$T/convert_run" "$root/tests/interop/convert_run.c" "$root/build/libconvert.a" "$root/build/libquantize.a" "$root/build/libformats.a" \
    -L"$lib" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$lib" \
    $(pkg-config --libs libcjson libarchive zlib libcrypto 2>/dev/null) -lm -lpthread > "$T/cc.log" 2>&1; then
  fail convert-interop-build "compile: $(head -5 "$T/cc.log")"; exit 0
fi
[ -s "$T/cc.log" ] && { fail convert-interop-build "compiler warnings: $(head -5 "$T/cc.log")"; exit 0; }
R="$T/convert_run"
C="$root/bin/lowbit-convert"
tok=$M/gguf/stories260K.gguf

# greedy NAME MODEL: 30 tokens from "Once upon a time" equal those of gguf/stories260K.gguf
"$R" "$lib" greedy "$tok" "Once upon a time" 30 > "$T/ref.out" 2> "$T/ref.err" \
  || { fail "convert-interop reference run" "$(head -c 300 "$T/ref.err")"; exit 0; }
echo "INFO llama.cpp on gguf/stories260K.gguf:$(sed -n 's/^TEXT//p' "$T/ref.out")"
greedy_same() {
  local name=$1 model=$2
  if ! "$R" "$lib" greedy "$model" "Once upon a time" 30 > "$T/g.out" 2> "$T/g.err"; then
    fail "$name" "$(head -c 300 "$T/g.err")"; return
  fi
  if cmp -s "$T/g.out" "$T/ref.out"; then pass "$name"
  else fail "$name" "continuation differs:$(sed -n 's/^TEXT//p' "$T/g.out")"; fi
}
convert_ok() {  # NAME OUT ARGS...: lowbit-convert exits 0
  local name=$1 out=$2; shift 2
  if "$C" -q -f "$@" -o "$out" 2> "$T/c.err"; then return 0; fi
  fail "$name" "lowbit-convert: $(head -c 300 "$T/c.err")"; return 1
}

convert_ok "stories260K-llama greedy == llama.cpp's gguf" "$T/s.gguf" "$M/hf/stories260K-llama" \
  && greedy_same "stories260K-llama greedy == llama.cpp's gguf" "$T/s.gguf"
convert_ok "stories260K bf16 shards greedy == llama.cpp's gguf" "$T/sb.gguf" "$M/hf/stories260K-llama-bf16-sharded" \
  && greedy_same "stories260K bf16 shards greedy == llama.cpp's gguf" "$T/sb.gguf"
convert_ok "stories260K --outtype f16 greedy == llama.cpp's gguf" "$T/s16.gguf" "$M/hf/stories260K-llama" --outtype f16 \
  && greedy_same "stories260K --outtype f16 greedy == llama.cpp's gguf" "$T/s16.gguf"
convert_ok "stories260K, vocabulary of a GGUF (--tokenizer FILE.gguf), greedy == llama.cpp's gguf" "$T/sg.gguf" "$M/hf/stories260K-llama" --tokenizer "$tok" \
  && greedy_same "stories260K, vocabulary of a GGUF (--tokenizer FILE.gguf), greedy == llama.cpp's gguf" "$T/sg.gguf"
convert_ok "llama2c/stories260K.bin greedy == llama.cpp's gguf" "$T/l2c.gguf" "$M/llama2c/stories260K.bin" --tokenizer "$M/hf/stories260K-llama/tokenizer.model" \
  && greedy_same "llama2c/stories260K.bin greedy == llama.cpp's gguf" "$T/l2c.gguf"
# -o - through a pipe gives the same file
"$C" -q "$M/hf/stories260K-llama" -o - | cat > "$T/p.gguf"
cmp -s "$T/p.gguf" "$T/s.gguf" && pass "convert HF folder -o - pipe == file" || fail "convert HF folder -o - pipe == file" "bytes differ"

# --vocab-only: llama.cpp loads it vocab-only and tokenizes as with the reference
txt="Once upon a time, a little girl named Lily"
if convert_ok "vocab-only GGUF tokenizes as llama.cpp's gguf" "$T/v.gguf" "$M/hf/stories260K-llama" --vocab-only; then
  "$R" "$lib" tokens "$tok" "$txt" > "$T/tr.out" 2>&1; "$R" "$lib" tokens "$T/v.gguf" "$txt" > "$T/tv.out" 2>&1
  grep -q '^TOKENS 1 ' "$T/tr.out" && cmp -s "$T/tr.out" "$T/tv.out" && pass "vocab-only GGUF tokenizes as llama.cpp's gguf" \
    || fail "vocab-only GGUF tokenizes as llama.cpp's gguf" "$(head -c 200 "$T/tv.out") vs $(head -c 200 "$T/tr.out")"
fi

# tiny-llama-trained: logits of probe_ids match the training code's probe_logits
td=$M/hf/tiny-llama-trained
if convert_ok "tiny-llama-trained logits == probe_logits.npy" "$T/t.gguf" "$td"; then
  if "$R" "$lib" probe "$T/t.gguf" "$td/probe_ids.npy" "$td/probe_logits.npy" > "$T/pr.out" 2> "$T/pr.err"; then
    d=$(sed -n 's/^MAXDIFF //p' "$T/pr.out")
    echo "INFO tiny-llama-trained F32: max |logit - probe_logits| = $d"
    awk -v d="$d" 'BEGIN { exit !(d <= 5e-3) }' && pass "tiny-llama-trained logits == probe_logits.npy" \
      || fail "tiny-llama-trained logits == probe_logits.npy" "max abs diff $d > 5e-3"
  else fail "tiny-llama-trained logits == probe_logits.npy" "$(head -c 300 "$T/pr.err")"; fi
fi

# runs: load, decode, finite logits
runs() {
  local name=$1 model=$2
  if "$R" "$lib" run "$model" 8 > "$T/r.out" 2> "$T/r.err" && grep -q '^FINITE 8$' "$T/r.out"; then pass "$name"
  else fail "$name" "$(head -c 300 "$T/r.err") $(cat "$T/r.out")"; fi
}
convert_ok "tiny-gpt2-random converts, loads and runs" "$T/g2.gguf" "$M/hf/tiny-gpt2-random" \
  && runs "tiny-gpt2-random converts, loads and runs" "$T/g2.gguf"
# a llama2.c v2 (int8 groups) checkpoint with its llama2.c tokenizer.bin (a shifted-ReLU experiment:
# llama.cpp runs it, the text is not meant to be good)
convert_ok "llama2c v2 pr468 + tokenizer.bin converts, loads and runs" "$T/pr.gguf" "$M/llama2c/pr468-model_qint80.bin" \
  --tokenizer "$M/llama2c/pr468-tok1024.bin" && runs "llama2c v2 pr468 + tokenizer.bin converts, loads and runs" "$T/pr.gguf"
if [ -f "$M/gguf/ggml-vocab-gpt-2.gguf" ] && [ -f "$T/g2.gguf" ]; then
  txt="Hello world, it's   a test 123 ünïcode"
  "$R" "$lib" tokens "$M/gguf/ggml-vocab-gpt-2.gguf" "$txt" > "$T/tr.out" 2>&1; "$R" "$lib" tokens "$T/g2.gguf" "$txt" > "$T/tv.out" 2>&1
  grep -q '^TOKENS ' "$T/tr.out" && cmp -s "$T/tr.out" "$T/tv.out" && pass "tiny-gpt2-random tokenizes as llama.cpp's ggml-vocab-gpt-2.gguf" \
    || fail "tiny-gpt2-random tokenizes as llama.cpp's ggml-vocab-gpt-2.gguf" "$(head -c 200 "$T/tv.out") vs $(head -c 200 "$T/tr.out")"
fi
for kind in qwen2 mistral llama3; do
  mkdir -p "$T/$kind"
  if ! "$R" - mkmodel "$kind" "$T/$kind" 2> "$T/mk.err"; then fail "$kind folder converts, loads and runs" "mkmodel: $(cat "$T/mk.err")"; continue; fi
  cp "$M/hf/stories260K-llama/tokenizer.model" "$T/$kind/"
  convert_ok "$kind folder converts, loads and runs" "$T/$kind.gguf" "$T/$kind" \
    && runs "$kind folder converts, loads and runs" "$T/$kind.gguf"
done
a=$("$B/lowbit-inspect" --json "$T/qwen2.gguf" 2>/dev/null | jq -r '.models[0].metadata["general.architecture"]')
b=$("$B/lowbit-inspect" --json "$T/mistral.gguf" 2>/dev/null | jq -r '.models[0].metadata["general.architecture"]')
r=$("$B/lowbit-inspect" --json "$T/llama3.gguf" 2>/dev/null | jq -c '[.models[0].tensors[] | select(.name == "rope_freqs.weight") | .shape[0]]')
[ "$a" = qwen2 ] && [ "$b" = llama ] && [ "$r" = "[8]" ] && pass "qwen2 -> qwen2, mistral -> llama, llama3 scaling -> rope_freqs[8]" \
  || fail "qwen2 -> qwen2, mistral -> llama, llama3 scaling -> rope_freqs[8]" "got '$a' '$b' '$r'"
rm -rf "$T"
