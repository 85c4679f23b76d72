#!/usr/bin/env bash
# Bigger than the memory it gets (issue 13): a 1.06 GiB F16 llama (12 layers, dim 2048,
# ffn 5632, built here) is quantized and converted under an address-space limit of 256 MiB
# (prlimit --as), the way a board with less RAM than the model would run it. Peak RSS is
# printed (INFO) when GNU time is there. Not under emulation: qemu-user reserves the guest's
# address space inside its own, so the limit would measure qemu, not lowbit.
. "$(dirname "$0")/lib.sh"
exec 3>&1
[ -z "${LOWBIT_CROSS:-}" ] || { skip "big model under prlimit" "qemu-user reserves the guest address space itself"; exit 0; }
command -v prlimit > /dev/null || { skip "big model under prlimit" "needs prlimit (util-linux)"; exit 0; }
need_shared "big model under prlimit" models/gguf/stories260K.gguf || exit 0
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/big.gguf" "$M/gguf/stories260K.gguf" --dim 2048 --ffn 5632 --layers 12 --seed 3 --fast
size=$(stat -c %s "$T/big.gguf")
[ "$size" -gt 1073741824 ] || { fail "big model" "only $size bytes"; exit 0; }
limit=$((256 << 20))
rss() {  # NAME CMD...: run under the limit, print peak RSS
  local name=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f %M -o "$T/rss" prlimit --as=$limit "$@" 2> "$T/err"; local rc=$?
    echo >&3 "INFO $name: peak RSS $(( $(tail -1 "$T/rss") / 1024 )) MiB on a $((size >> 20)) MiB model, under a 256 MiB address-space limit"
  else
    prlimit --as=$limit "$@" 2> "$T/err"; local rc=$?
  fi
  return $rc
}
if rss "quantize Q4_K_M" "$B/lowbit-quantize" -q "$T/big.gguf" "$T/q.gguf" Q4_K_M && "$B/lowbit-inspect" "$T/q.gguf" > /dev/null 2>&1; then
  pass "quantize a $((size >> 20)) MiB model to Q4_K_M in a 256 MiB address space"
else
  fail "quantize under prlimit" "$(head -c 300 "$T/err")"
fi
rm -f "$T/q.gguf"
if rss "convert to safetensors" "$B/lowbit-convert" -q --keep-names "$T/big.gguf" -o "$T/big.safetensors" &&
   [ "$("$B/lowbit-verify" manifest "$T/big.gguf" | jq -r '.models[0].digest')" = "$("$B/lowbit-verify" manifest "$T/big.safetensors" | jq -r '.models[0].digest')" ]; then
  pass "convert a $((size >> 20)) MiB model to safetensors in a 256 MiB address space (same model digest)"
else
  fail "convert under prlimit" "$(head -c 300 "$T/err")"
fi
if rss "verify manifest" "$B/lowbit-verify" manifest "$T/big.safetensors" > /dev/null; then
  pass "manifest of a $((size >> 20)) MiB file in a 256 MiB address space"
else
  fail "manifest under prlimit" "$(head -c 300 "$T/err")"
fi
