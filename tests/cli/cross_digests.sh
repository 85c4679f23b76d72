#!/usr/bin/env bash
# Byte-identity across architectures (issue 13): a fixed set of jobs on files from
# ../shared/models gives the sha256s below, recorded on x86-64. The same script runs under
# qemu (make check-cross ARCH=...), so every architecture must produce exactly these bytes.
# The digests change when lowbit's output format or VERSION (recorded in every file) does:
# regenerate them on x86-64 with LOWBIT_DIGESTS_PRINT=1 and say why in the commit.
. "$(dirname "$0")/lib.sh"
need_shared "cross digests" models/gguf/tiny-llama-trained-f32.gguf models/hf/stories260K-llama/model.safetensors \
  models/hf/tiny-llama-trained/model.safetensors || exit 0
want() {
  case $1 in
    q-Q4_K_M) echo f0c3c2a14625c452e7dab37b9d21427d0e9cc0fca38a16ff072c85d8a1e99ae1 ;;
    q-Q2_K) echo 5821ff58c6bf65e96e00ac1e943ca7e93ce3a9c2014ceb78752ad9138fcaccba ;;
    q-Q6_K) echo 5b475b3323f24a0369c516a575f15c08f475897188dd436d263b4f8051b0405b ;;
    q-IQ4_XS) echo 5022415fbb4347e9335da35c52982d46fcbcf05e7a60489416686ae70f77e7c4 ;;
    q-Q8_0) echo fa26143282b5b4d8d1c4f75cdf73d10f1897b87b6c20adb2274d67aa948160ed ;;
    convert-stories260K-llama) echo a4991172b001bd9bebc06ea76e9c5d2786beff44261336c6a2af27667f6d7870 ;;
    convert-stories260K-llama-Q4_K_M) echo b7ae009633f83cd49841c103406b7ea527ae47a094968f4240dadc92d6596732 ;;
    convert-tiny-llama-trained) echo ceb09fcb8774dc37c81f305f224b47576a2d4ca979a2a794a788eb979ae95a11 ;;
    convert-tiny-llama-trained-Q4_K_M) echo d087271e0b06a5802734f46c89cc682aff0b99abbd86cfab33bebb6c6cbc88b7 ;;
    convert-tiny-llama-trained-outtype-Q2_K) echo 7ec3266e8675ae650bcc287d433712102704bafa71290cb0e8c629e46de077fc ;;
    manifest-stories260K-llama) echo 960446e987b67c7d80d9db10e18c9405c92eb97ee6138f13a778d0052b4ff958 ;;
    *) echo "" ;;
  esac
}
d() { sha256sum < "$1" | cut -d' ' -f1; }
run() {  # name file: compare (or print) the digest of file
  local got; got=$(d "$2")
  if [ -n "${LOWBIT_DIGESTS_PRINT:-}" ]; then echo "    $1) echo $got ;;"; return; fi
  [ "$got" = "$(want "$1")" ] && pass "cross digest $1" || fail "cross digest $1" "sha256 $got, x86-64 gives $(want "$1")"
}
for type in Q4_K_M Q2_K Q6_K IQ4_XS Q8_0; do
  "$B/lowbit-quantize" -q "$M/gguf/tiny-llama-trained-f32.gguf" "$T/q.gguf" $type -f && run q-$type "$T/q.gguf"
done
for src in stories260K-llama tiny-llama-trained; do
  "$B/lowbit-convert" -q "$M/hf/$src" -o "$T/c.gguf" -f && run convert-$src "$T/c.gguf"
  "$B/lowbit-quantize" -q "$T/c.gguf" "$T/cq.gguf" Q4_K_M -f && run convert-$src-Q4_K_M "$T/cq.gguf"
done
"$B/lowbit-convert" -q "$M/hf/tiny-llama-trained" -o "$T/cq.gguf" --outtype Q2_K -f && run convert-tiny-llama-trained-outtype-Q2_K "$T/cq.gguf"
mkdir -p "$T/m" && cp "$M/hf/stories260K-llama"/* "$T/m/"
(cd "$T/m" && "$B/lowbit-verify" manifest . > "$T/manifest.json") && run manifest-stories260K-llama "$T/manifest.json"
