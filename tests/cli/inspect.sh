#!/usr/bin/env bash
# lowbit-inspect: totals on real files, JSON convention, stats, bad input and exit codes.
. "$(dirname "$0")/lib.sh"

# totals from ../shared/models/README.md: path tensors params
while read -r rel tensors params; do
  name="inspect totals $rel"
  need_shared "$name" "models/$rel" || continue
  out=$("$B/lowbit-inspect" --no-metadata "$M/$rel" 2>&1) || { fail "$name" "exit $?: $out"; continue; }
  line=$(printf '%s\n' "$out" | grep '^totals:')
  case "$line" in
    "totals: $tensors tensors, $params params,"*) pass "$name" ;;
    *) fail "$name" "got '$line', want $tensors tensors, $params params" ;;
  esac
done <<'LIST'
hf/capp-gpt2/model.safetensors 52 236224
hf/tiny-gpt2-random/model.safetensors 16 811520
hf/peft-gpt2-lora/adapter_model.safetensors 25 299520
hf/mlx-lora-discollama/adapters.safetensors 8 212992
safetensors/torchtune-gemma_hf_checkpoint.safetensors 11 65984
hf/tiny-llama-trained/model.safetensors 39 3410176
hf/tiny-llama-trained 39 3410176
gguf/stories260K.gguf 48 292800
gguf/ggml-vocab-llama-spm.gguf 0 0
gguf/ggml-vocab-gpt-2.gguf 0 0
gguf/ggml-vocab-bert-bge.gguf 0 0
LIST

if need_shared "inspect sharded bf16 folder" models/hf/stories260K-llama-bf16-sharded models/hf/stories260K-llama/model.safetensors; then
  a=$("$B/lowbit-inspect" --no-metadata "$M/hf/stories260K-llama/model.safetensors" | grep '^totals:' | cut -d, -f1-2)
  b=$("$B/lowbit-inspect" --no-metadata "$M/hf/stories260K-llama-bf16-sharded" | grep '^totals:' | cut -d, -f1-2)
  bf=$("$B/lowbit-inspect" --json "$M/hf/stories260K-llama-bf16-sharded" | jq -r '[.models[0].tensors[].dtype] | unique | join(",")')
  nfiles=$("$B/lowbit-inspect" --json "$M/hf/stories260K-llama-bf16-sharded" | jq '.models[0].files | length')
  if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$bf" = bf16 ] && [ "$nfiles" = 2 ]; then pass "inspect sharded bf16 folder"
  else fail "inspect sharded bf16 folder" "'$a' vs '$b', dtypes '$bf', files $nfiles"; fi
fi

if need_shared "inspect --json convention on gguf" models/gguf/stories260K.gguf; then
  j=$("$B/lowbit-inspect" --json "$M/gguf/stories260K.gguf")
  got=$(printf '%s' "$j" | jq -c '[.lowbit, .tool, (.models[0].tensors[] | select(.name=="token_embd.weight") | .dtype, .shape),
        .models[0].totals.tensors, .models[0].totals.params, .models[0].metadata["general.architecture"],
        (.models[0].metadata["tokenizer.ggml.tokens"] | length), .models[0].totals.bpw]')
  want='[1,"inspect","f32",[512,64],48,292800,"llama",512,32]'
  [ "$got" = "$want" ] && pass "inspect --json convention on gguf" || fail "inspect --json convention on gguf" "got $got want $want"
fi

# --stats on a file whose values we know: F32 [2,3] = 0, 1, -2, NaN, Inf, 4
st="$T/known.safetensors"
hdr='{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'
len=$(( (${#hdr} + 7) / 8 * 8 ))
{ printf "$(printf '\\x%02x' $len)\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf "%-${len}s" "$hdr";
  printf '\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\xc0\x7f\x00\x00\x80\x7f\x00\x00\x80\x40'; } > "$st"
got=$("$B/lowbit-inspect" --json --stats "$st" | jq -c '.models[0].tensors[0].stats | [.min,.max,.mean,.nan,.inf,.zeros]')
[ "$got" = '[-2,4,0.75,1,1,1]' ] && pass "inspect --stats known values" || fail "inspect --stats known values" "got $got"

# bad input: each one line on stderr, the documented exit code
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n' > "$T/model.safetensors"
expect_exit "inspect git-lfs pointer" 4 "model.safetensors': this is a git-lfs pointer, not the model" "$B/lowbit-inspect" "$T/model.safetensors"
printf '<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n' > "$T/model.gguf"
expect_exit "inspect html page" 4 "this is a HTML page" "$B/lowbit-inspect" "$T/model.gguf"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' > "$T/weights.pt"
expect_exit "inspect png named .pt" 4 "PNG image" "$B/lowbit-inspect" "$T/weights.pt"
: > "$T/empty.bin"
expect_exit "inspect empty file" 4 "empty file" "$B/lowbit-inspect" "$T/empty.bin"
expect_exit "inspect missing file" 3 "cannot open" "$B/lowbit-inspect" "$T/nope.gguf"
mkdir -p "$T/emptydir"
expect_exit "inspect folder without model" 4 "no model file" "$B/lowbit-inspect" "$T/emptydir"
expect_exit "inspect no args" 2 "no PATH" "$B/lowbit-inspect"
"$B/lowbit-inspect" --bogus > "$T/o" 2> "$T/e"; rc=$?
[ $rc = 2 ] && grep -q "is not known" "$T/e" && grep -q '^usage: lowbit-inspect' "$T/e" && pass "inspect unknown option" || fail "inspect unknown option" "exit $rc: $(cat "$T/e")"
"$B/lowbit-inspect" --help > "$T/o" 2>&1 && grep -q '^usage: lowbit-inspect' "$T/o" && pass "inspect --help" || fail "inspect --help" "$(head -3 "$T/o")"
# several paths: the good ones are still shown, the exit code is the worst
if need_shared "inspect keeps going" models/gguf/stories260K.gguf; then
  "$B/lowbit-inspect" --no-metadata "$T/model.safetensors" "$M/gguf/stories260K.gguf" > "$T/o" 2> "$T/e"; rc=$?
  [ $rc = 4 ] && grep -q '^totals: 48 tensors' "$T/o" && pass "inspect keeps going" || fail "inspect keeps going" "exit $rc"
fi
# a closed stdout is an error, not silence
if need_shared "inspect stdout write error" models/gguf/ggml-vocab-gpt-2.gguf; then
  "$B/lowbit-inspect" --json "$M/gguf/ggml-vocab-gpt-2.gguf" > /dev/full 2> "$T/e"; rc=$?
  [ $rc = 3 ] && pass "inspect stdout write error" || fail "inspect stdout write error" "exit $rc"
fi
