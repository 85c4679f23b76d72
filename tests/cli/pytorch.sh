#!/usr/bin/env bash
# PyTorch checkpoints through the tools: the scanner corpus (malicious refused by name, exit 4),
# a PNG named .pt, pickle -> safetensors conversion without Python, folders and shards.
. "$(dirname "$0")/lib.sh"
D=${LOWBIT_ROOT:-.}/tests/data/pytorch

# tensors of a model as sorted [name, dtype, shape, sha256] (container-independent)
tensors_of() { "$B/lowbit-verify" manifest "$1" | jq -c '[.files[] | (.tensors // [])[] | [.name, .dtype, .shape, .sha256]] | sort'; }

if need_shared "pytorch corpus" pickles/EXPECTED.tsv; then
  n=0 bad=0 listed=0 why=""
  while IFS=$'\t' read -r file verdict globals _; do
    case "$file" in file|*.7z) continue ;; esac
    p="$S/pickles/$file"
    "$B/lowbit-inspect" --no-metadata "$p" > "$T/out" 2> "$T/err"; rc=$?
    case "$verdict" in
      malicious)
        n=$((n + 1))
        if [ "$rc" -ne 4 ] || ! grep -q "pickle imports '" "$T/err" || [ "$(wc -l < "$T/err")" -ne 1 ]; then
          bad=$((bad + 1)); why="$why $file(exit $rc: $(head -c 120 "$T/err"))"
        else
          # the first global off the allow-list is named: one EXPECTED.tsv lists, or a decoy before it
          g=$(sed -n "s/.*pickle imports '\([^']*\)'.*/\1/p" "$T/err")
          case ",$globals," in *",$g,"*) listed=$((listed + 1)) ;; esac
          [ -n "$g" ] || { bad=$((bad + 1)); why="$why $file(empty global)"; }
        fi ;;
      suspicious)
        if [ "$rc" -eq 0 ] && ! grep -q '^totals: 0 tensors' "$T/out"; then bad=$((bad + 1)); why="$why $file(yields tensors)"; fi ;;
      benign)
        case "$file" in
          */pytorch_model.bin|*/new_pytorch_model.bin)
            [ "$rc" -eq 0 ] || { bad=$((bad + 1)); why="$why $file(exit $rc: $(head -c 120 "$T/err"))"; } ;;
        esac ;;
    esac
  done < "$S/pickles/EXPECTED.tsv"
  echo "INFO pytorch corpus: $n malicious refused, $listed naming a global EXPECTED.tsv lists (others name an earlier non-allowed one)"
  if [ "$bad" -eq 0 ] && [ "$n" -gt 40 ]; then pass "pytorch corpus: $n malicious refused with exit 4 naming a global"
  else fail "pytorch corpus" "$bad problems:$why"; fi
fi

if need_shared "pytorch png named .pt" pickles/picklescan/bad_pytorch.pt; then
  expect_exit "pytorch png named .pt" 4 "PNG image" "$B/lowbit-inspect" "$S/pickles/picklescan/bad_pytorch.pt"
fi

if need_shared "pytorch convert to safetensors" models/hf/stories260K-llama/pytorch_model.bin models/hf/stories260K-llama/model.safetensors; then
  name="pytorch convert to safetensors"
  if "$B/lowbit-convert" -q "$M/hf/stories260K-llama/pytorch_model.bin" -o "$T/x.safetensors" 2> "$T/err"; then
    a=$(tensors_of "$T/x.safetensors"); b=$(tensors_of "$M/hf/stories260K-llama/model.safetensors")
    k=$(printf '%s' "$a" | jq length)
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$k" = 47 ]; then pass "$name (47 tensors equal)"
    else fail "$name" "converted tensors differ from model.safetensors ($k tensors)"; fi
  else fail "$name" "exit $?: $(head -c 300 "$T/err")"; fi
fi

if [ -f "$D/views.pt" ]; then
  for f in views.pt nested.pt deflated.pt legacy.pt; do
    name="pytorch convert $f"
    if "$B/lowbit-convert" -q "$D/$f" -o "$T/$f.safetensors" 2> "$T/err"; then
      a=$(tensors_of "$T/$f.safetensors"); b=$(tensors_of "$D/views.expect.safetensors")
      if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "$name"; else fail "$name" "tensors differ from views.expect.safetensors"; fi
    else fail "$name" "exit $?: $(head -c 300 "$T/err")"; fi
  done
  a=$(tensors_of "$D/sharded"); b=$(tensors_of "$D/sharded.expect.safetensors")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "pytorch sharded folder manifest"; else fail "pytorch sharded folder manifest" "tensors differ"; fi
  out=$("$B/lowbit-inspect" --no-metadata "$D/folder" 2>&1)
  case "$out" in *"pytorch, 1 file, 2 tensors"*) pass "pytorch folder with pytorch_model.bin" ;;
    *) fail "pytorch folder with pytorch_model.bin" "$(printf '%s' "$out" | head -c 200)" ;; esac
  expect_exit "pytorch byteorder big" 4 "big-endian" "$B/lowbit-inspect" "$D/bad/byteorder_big.pt"
  expect_exit "pytorch truncated legacy" 4 "truncated" "$B/lowbit-inspect" "$D/bad/truncated_legacy.pt"
  expect_exit "pytorch short storage" 4 "shorter than" "$B/lowbit-inspect" "$D/bad/short_storage.pt"
else
  skip "pytorch generated files" "tests/data/pytorch/views.pt missing"
fi
rm -rf "$T"
