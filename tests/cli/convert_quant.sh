#!/usr/bin/env bash
# lowbit-convert --outtype with a quantization mix: one pass, and the same tensors (types and
# bytes: the model digest) as converting to F32 and then running lowbit-quantize.
. "$(dirname "$0")/lib.sh"
need_shared "convert --outtype mix" models/hf/tiny-llama-trained/model.safetensors models/hf/stories260K-llama/model.safetensors || exit 0
digest() { "$B/lowbit-verify" manifest "$1" | jq -r '.models[0].digest'; }
for src in hf/tiny-llama-trained hf/stories260K-llama; do
  for mix in Q8_0 Q4_K_M Q2_K; do
    name="convert $src --outtype $mix == convert f32 + quantize"
    "$B/lowbit-convert" -q "$M/$src" -o "$T/one.gguf" --outtype $mix -f &&
    "$B/lowbit-convert" -q "$M/$src" -o "$T/f32.gguf" --outtype f32 -f &&
    "$B/lowbit-quantize" -q "$T/f32.gguf" "$T/two.gguf" $mix -f || { fail "$name" "a step failed"; continue; }
    a=$(digest "$T/one.gguf"); b=$(digest "$T/two.gguf")
    ft=$("$B/lowbit-inspect" --json "$T/one.gguf" | jq '.models[0].metadata["general.file_type"]')
    want=$("$B/lowbit-inspect" --json "$T/two.gguf" | jq '.models[0].metadata["general.file_type"]')
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$ft" = "$want" ] && pass "$name" || fail "$name" "digest $a vs $b, file_type $ft vs $want"
  done
done
"$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o - --outtype Q4_K_M | cat > "$T/pipe.gguf"
"$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o "$T/one.gguf" --outtype Q4_K_M -f
[ "$(digest "$T/pipe.gguf")" = "$(digest "$T/one.gguf")" ] && pass "convert --outtype Q4_K_M to a pipe" || fail "convert --outtype Q4_K_M to a pipe" "digests differ"
expect_exit "convert --outtype unknown" 2 "not known" "$B/lowbit-convert" "$M/hf/tiny-llama-trained" -o "$T/x.gguf" --outtype Q7_K

# the same error report as lowbit-quantize's on the F32 conversion
"$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o "$T/one.gguf" --outtype Q4_K_M -f --report "$T/c.json"
"$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o "$T/f32.gguf" --outtype f32 -f
"$B/lowbit-quantize" -q --report "$T/q.json" "$T/f32.gguf" "$T/two.gguf" Q4_K_M -f
a=$(jq -c '[.tensors[] | [.name, .dtype, .rmse, .rel_rmse, .max_abs]], .totals' "$T/c.json")
b=$(jq -c '[.tensors[] | [.name, .dtype, .rmse, .rel_rmse, .max_abs]], .totals' "$T/q.json")
n=$(jq '[.tensors[] | select(.quantized)] | length' "$T/c.json")
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$n" -gt 20 ] && pass "convert --outtype Q4_K_M --report == lowbit-quantize's report" || fail "convert --report" "reports differ"
j=$("$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o "$T/one.gguf" --outtype Q8_0 -f --json | jq -r '.tool + " " + .type')
[ "$j" = "convert Q8_0" ] && pass "convert --outtype Q8_0 --json" || fail "convert --json" "$j"
expect_exit "convert --report without a quantized outtype" 2 "go with a quantized --outtype" "$B/lowbit-convert" "$M/hf/tiny-llama-trained" -o "$T/x.gguf" --report "$T/r.json"
