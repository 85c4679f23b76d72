#!/usr/bin/env bash
# lowbit-convert, architecture-aware mode: defaults, options and bad input, each with its exit code.
. "$(dirname "$0")/lib.sh"

need_shared "convert arch cli" models/hf/stories260K-llama/config.json models/gguf/stories260K.gguf \
  models/hf/stories260K-llama-bf16-sharded/model.safetensors.index.json || exit 0
C="$B/lowbit-convert"
hf=$M/hf/stories260K-llama
tok=$M/gguf/stories260K.gguf
meta() { "$B/lowbit-inspect" --json "$1" 2>/dev/null | jq -c "$2"; }

# a folder like stories260K-llama with config.json edited by a jq filter (weights linked)
mkfolder() {  # DIR JQ-FILTER [tokenizer]
  mkdir -p "$1"; ln -sf "$hf/model.safetensors" "$1/model.safetensors"
  [ "${3:-}" = tokenizer ] && ln -sf "$hf/tokenizer.model" "$1/tokenizer.model"
  jq "$2" "$hf/config.json" > "$1/config.json"
}

# defaults and options
expect_exit "arch: HF folder converts by default (its tokenizer.model included)" 0 "" "$C" -q "$hf" -o "$T/a.gguf"
n=$(meta "$T/a.gguf" '[.models[0].tensors[].name] | (length, (map(select(startswith("blk.0.attn_q"))) | length))' | tr '\n' ' ')
[ "$n" = "47 1 " ] && pass "arch: llama.cpp tensor names by default" || fail "arch: llama.cpp tensor names by default" "got '$n'"
expect_exit "arch: --keep-names keeps HF names for a folder" 0 "" "$C" -q --keep-names "$hf" -o "$T/k.gguf"
n=$(meta "$T/k.gguf" '[.models[0].tensors[].name | select(startswith("model.layers.0.self_attn.q_proj"))] | length')
[ "$n" = 1 ] && pass "arch: --keep-names output has HF names" || fail "arch: --keep-names output has HF names" "got '$n'"
expect_exit "arch: --outtype bf16" 0 "" "$C" -q "$hf" --no-vocab --outtype bf16 -o "$T/b.gguf"
t=$(meta "$T/b.gguf" '[.models[0].tensors[] | .dtype] | unique')
f=$(meta "$T/b.gguf" '.models[0].metadata["general.file_type"]')
[ "$t" = '["bf16","f32"]' ] && [ "$f" = 32 ] && pass "arch: bf16 matrices, f32 norms, file_type 32" || fail "arch: bf16 matrices, f32 norms, file_type 32" "types $t file_type $f"
expect_exit "arch: --vocab-only" 0 "" "$C" -q "$hf" --vocab-only -o "$T/v.gguf"
expect_exit "arch: --tokenizer FILE.gguf" 0 "" "$C" -q "$hf" --vocab-only --tokenizer "$tok" -o "$T/vg.gguf"
a=$(meta "$T/v.gguf" '.models[0].metadata["tokenizer.ggml.tokens"]'); b=$(meta "$T/vg.gguf" '.models[0].metadata["tokenizer.ggml.tokens"]')
[ -n "$a" ] && [ "$a" = "$b" ] && pass "arch: tokenizer.model and the GGUF's vocabulary give the same tokens" || fail "arch: tokenizer.model and the GGUF's vocabulary give the same tokens" "differ"
n=$(meta "$T/v.gguf" '[(.models[0].tensors | length), (.models[0].metadata["tokenizer.ggml.tokens"] | length)]')
[ "$n" = "[0,512]" ] && pass "arch: --vocab-only has no tensors and 512 tokens" || fail "arch: --vocab-only has no tensors and 512 tokens" "got $n"
expect_exit "arch: --no-vocab" 0 "" "$C" -q "$hf" --no-vocab -o "$T/nv.gguf"
n=$(meta "$T/nv.gguf" '[.models[0].metadata | keys[] | select(startswith("tokenizer."))] | length')
[ "$n" = 0 ] && pass "arch: --no-vocab writes no tokenizer keys" || fail "arch: --no-vocab writes no tokenizer keys" "$n keys"
expect_exit "arch: --pre sets tokenizer.ggml.pre" 0 "" "$C" -q "$hf" --pre qwen2 -o "$T/pre.gguf"
[ "$(meta "$T/pre.gguf" '.models[0].metadata["tokenizer.ggml.pre"]')" = '"qwen2"' ] && pass "arch: tokenizer.ggml.pre written" || fail "arch: tokenizer.ggml.pre written" "missing"
expect_exit "arch: refuses to overwrite" 2 "already exists" "$C" -q "$hf" --no-vocab -o "$T/a.gguf"

# llama2.c checkpoints: architecture-aware by default, the tokenizer named explicitly
l2c=$M/llama2c/stories260K.bin
if [ -f "$l2c" ]; then
  expect_exit "arch: llama2.c checkpoint converts by default" 0 "" "$C" -q "$l2c" --tokenizer "$hf/tokenizer.model" -o "$T/l2c.gguf"
  n=$(meta "$T/l2c.gguf" '[(.models[0].tensors | length), .models[0].metadata["general.name"], (.models[0].metadata["tokenizer.ggml.tokens"] | length)]')
  [ "$n" = '[47,"stories260K",512]' ] && pass "arch: llama2.c checkpoint: 47 tensors, name, 512 tokens" || fail "arch: llama2.c checkpoint: 47 tensors, name, 512 tokens" "got $n"
  expect_exit "arch: llama2.c checkpoint without --tokenizer (4)" 4 "name one with --tokenizer" "$C" "$l2c" -o "$T/x.gguf"
  expect_exit "arch: llama2.c checkpoint --keep-names still a container copy" 0 "" "$C" -q --keep-names "$l2c" -o "$T/l2k.gguf"
else
  skip "arch: llama2.c checkpoint" "needs ../shared/models/llama2c/stories260K.bin"
fi

# usage errors (2)
expect_exit "arch: unknown --outtype (2)" 2 "not known" "$C" "$hf" --outtype f24 -o "$T/q.gguf"
expect_exit "arch: safetensors output refused (2)" 2 "writes GGUF" "$C" "$hf" -o "$T/x.safetensors"
expect_exit "arch: --vocab-only with --no-vocab (2)" 2 "exclude each other" "$C" "$hf" --vocab-only --no-vocab -o "$T/q.gguf"
expect_exit "arch: --keep-names with --outtype (2)" 2 "cannot be combined" "$C" "$hf" --keep-names --outtype f16 -o "$T/q.gguf"
[ ! -e "$T/q.gguf" ] && pass "arch: usage errors leave no output" || fail "arch: usage errors leave no output" "q.gguf exists"

# bad input (4), each naming what is wrong
mkdir -p "$T/nocfg"; ln -sf "$hf/model.safetensors" "$T/nocfg/model.safetensors"
expect_exit "arch: config.json missing (4)" 4 "config.json': missing" "$C" "$T/nocfg" --no-vocab -o "$T/x.gguf"
mkdir -p "$T/badcfg"; ln -sf "$hf/model.safetensors" "$T/badcfg/model.safetensors"; printf '{"architectures": ["LlamaForCausalLM"], ' > "$T/badcfg/config.json"
expect_exit "arch: config.json malformed (4)" 4 "config.json'.*malformed" "$C" "$T/badcfg" -o "$T/x.gguf"
mkfolder "$T/nolayers" 'del(.num_hidden_layers)'
expect_exit "arch: config.json without num_hidden_layers (4)" 4 "num_hidden_layers" "$C" "$T/nolayers" -o "$T/x.gguf"
mkfolder "$T/falcon" '.architectures = ["FalconForCausalLM"]'
expect_exit "arch: unknown architecture names it and the supported ones (4)" 4 \
  "'FalconForCausalLM' is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel\)" \
  "$C" "$T/falcon" -o "$T/x.gguf"
mkdir -p "$T/shard"; for f in config.json model.safetensors.index.json model-00001-of-00002.safetensors; do ln -sf "$M/hf/stories260K-llama-bf16-sharded/$f" "$T/shard/$f"; done
expect_exit "arch: a shard missing (4)" 4 "model-00002-of-00002.safetensors.*missing" "$C" "$T/shard" --no-vocab -o "$T/x.gguf"
mkfolder "$T/layers6" '.num_hidden_layers = 6'
expect_exit "arch: a tensor missing for the config (4)" 4 "tensor 'model.layers.5.input_layernorm.weight': missing" "$C" "$T/layers6" --no-vocab -o "$T/x.gguf"
mkfolder "$T/layers4" '.num_hidden_layers = 4'
expect_exit "arch: a tensor beyond the config's layers (4)" 4 "model.layers.4.*block 4, but config.json has 4 layers" "$C" "$T/layers4" --no-vocab -o "$T/x.gguf"
mkfolder "$T/ff" '.intermediate_size = 128'
expect_exit "arch: a tensor of the wrong shape for the config (4)" 4 "tensor 'model.layers.0.mlp.gate_proj.weight': shape \[172, 64\], but config.json implies \[128, 64\]" "$C" "$T/ff" --no-vocab -o "$T/x.gguf"
mkfolder "$T/untied" '.tie_word_embeddings = false'
expect_exit "arch: untied model without lm_head (4)" 4 "lm_head.weight': missing \(config.json says tie_word_embeddings: false\)" "$C" "$T/untied" --no-vocab -o "$T/x.gguf"
mkfolder "$T/notok" '.'
expect_exit "arch: tokenizer missing (4)" 4 "no tokenizer found" "$C" "$T/notok" -o "$T/x.gguf"
expect_exit "arch: tokenizer missing is fine with --no-vocab" 0 "" "$C" -q "$T/notok" --no-vocab -o "$T/x.gguf"
rm -f "$T/x.gguf"
expect_exit "arch: --tokenizer FILE that cannot be opened (3)" 3 "nope.model': cannot open" "$C" "$hf" --tokenizer "$T/nope.model" -o "$T/x.gguf"
mkfolder "$T/v1024" '.vocab_size = 1024'
expect_exit "arch: wrong vocab size for the embedding (4)" 4 "model.embed_tokens.weight': shape \[512, 64\], but config.json implies \[1024, 64\]" "$C" "$T/v1024" --no-vocab -o "$T/x.gguf"
[ ! -e "$T/x.gguf" ] && pass "arch: failures leave no output" || fail "arch: failures leave no output" "x.gguf exists"
