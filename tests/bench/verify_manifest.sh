#!/usr/bin/env bash
# Benchmark: lowbit-verify manifest vs openssl dgst -sha256 on the same >= 600 MB file
# (page cache warm for both). Prints the wall-time ratio; target <= 1.2.
set -eu
B=${LOWBIT_BIN:-bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench.XXXXXX"); trap 'rm -rf "$T"' EXIT
hdr='{"a":{"dtype":"F32","shape":[40960,2048],"data_offsets":[0,335544320]},"b":{"dtype":"F32","shape":[40960,2048],"data_offsets":[335544320,671088640]}}'
len=$(( (${#hdr} + 7) / 8 * 8 ))
{ printf "$(printf '\\x%02x' $((len & 255)))\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf "%-${len}s" "$hdr"; head -c 671088640 /dev/urandom; } > "$T/big.safetensors"
size=$(stat -c %s "$T/big.safetensors")
openssl dgst -sha256 "$T/big.safetensors" > /dev/null   # warm the page cache
# best of 3 wall times, in seconds
best() { local b=999999 s e; for i in 1 2 3; do s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); b=$(awk -v s="$s" -v e="$e" -v b="$b" 'BEGIN { d = e - s; print (d < b) ? d : b }'); done; echo "$b"; }
t_ssl=$(best openssl dgst -sha256 "$T/big.safetensors")
t_lb=$(best "$B/lowbit-verify" manifest "$T/big.safetensors")
printf 'verify manifest, %d MB file (file sha256 + 2 tensor sha256s):\n' $((size / 1000000))
awk -v n="$size" -v a="$t_ssl" -v b="$t_lb" 'BEGIN {
  printf "  openssl dgst -sha256   %6.3f s  %7.1f MB/s\n", a, n / a / 1e6
  printf "  lowbit-verify manifest %6.3f s  %7.1f MB/s\n", b, n / b / 1e6
  printf "  ratio lowbit/openssl   %6.3f (target <= 1.2)\n", b / a }'
