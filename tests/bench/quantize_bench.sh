#!/usr/bin/env bash
# Benchmark: lowbit-quantize vs llama.cpp's llama_model_quantize on a >= 1 GiB synthetic F16
# llama GGUF, Q4_K_M and Q8_0, 1 and 2 threads, in the same run: wall time and peak RSS
# (GNU time), and their ratios. Also peak RSS on a model a quarter the size, to show that
# lowbit's memory does not grow with the model. No verdict.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}; BIN=${BIN:-bin}
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
libdir=$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
tok=${LOWBIT_SHARED:-$root/../shared}/models/gguf/stories260K.gguf
[ -f "$tok" ] || tok=$ref/src/models/ggml-vocab-llama-spm.gguf
[ -f "$libdir/libllama.v0.4.0.so" ] || { echo "bench: llama.cpp reference not installed" >&2; exit 1; }
command -v /usr/bin/time > /dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-qbench.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
gcc -std=c11 -D_GNU_SOURCE -O2 -Iformats -Iquantize -I"$ref/src/include" -I"$ref/src/ggml/include" tests/interop/llama_run.c -o "$tmp/llama_run" \
  "$BUILD/libquantize.a" "$BUILD/libformats.a" $(pkg-config --libs libcjson libarchive zlib libcrypto) -lm -lpthread \
  -L"$libdir" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$libdir" || exit 1
export LLAMA_LIBDIR=$libdir
"$BUILD/tests/tools/mk_llama" "$tmp/big.gguf" "$tok" --dim 2048 --ffn 5632 --layers 12 --seed 3
"$BUILD/tests/tools/mk_llama" "$tmp/small.gguf" "$tok" --dim 2048 --ffn 5632 --layers 3 --seed 3
size=$(stat -c %s "$tmp/big.gguf")
cat "$tmp/big.gguf" > /dev/null
run() { /usr/bin/time -f "%e %M" -o "$tmp/t" "$@" > /dev/null 2>&1; cat "$tmp/t"; }
printf 'quantize bench: %s, %.2f GiB F16 synthetic llama (12 layers, dim 2048, ffn 5632)\n' "$(git rev-parse --short HEAD 2>/dev/null)" "$(awk -v s=$size 'BEGIN{print s/1073741824}')"
printf '%-8s %3s %10s %10s %8s %12s %12s\n' type thr lowbit_s llama_s ratio lowbit_MiB llama_MiB
for mix in Q4_K_M:15 Q8_0:7; do
  name=${mix%%:*}; ft=${mix#*:}
  for t in 1 2; do
    set -- $(run "$BIN/lowbit-quantize" -q -t $t "$tmp/big.gguf" "$tmp/lb.gguf" $name -f); lt=$1; lm=$2
    set -- $(LLAMA_THREADS=$t run "$tmp/llama_run" quant "$tmp/big.gguf" "$tmp/ll.gguf" $ft); rt=$1; rm=$2
    awk -v n=$name -v t=$t -v a=$lt -v b=$rt -v c=$lm -v d=$rm 'BEGIN { printf "%-8s %3d %10.2f %10.2f %8.3f %12.1f %12.1f\n", n, t, a, b, a / b, c / 1024, d / 1024 }'
  done
done
set -- $(run "$BIN/lowbit-quantize" -q -t 2 "$tmp/small.gguf" "$tmp/lb.gguf" Q4_K_M -f); sm=$2
set -- $(run "$BIN/lowbit-quantize" -q -t 2 "$tmp/big.gguf" "$tmp/lb.gguf" Q4_K_M -f); bm=$2
awk -v a=$sm -v b=$bm -v s=$size 'BEGIN { printf "lowbit peak RSS: %.1f MiB on a %.2f GiB model, %.1f MiB on one 4x larger\n", a / 1024, s / 4 / 1073741824, b / 1024 }'
