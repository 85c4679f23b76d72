#!/usr/bin/env bash
# lowbit-quantize against the real llama.cpp: per-tensor types and values equal to
# llama_model_quantize for every mix, outputs load and generate, KL divergence vs llama.cpp's
# own quantization, the report against an independent recomputation, the planner.
. "$(dirname "$0")/../cli/lib.sh"
REF=${LOWBIT_LLAMA_REF:-}
LIBDIR=$REF/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$LIBDIR/libllama.v0.4.0.so" ]; then skip "quantize interop" "llama.cpp reference not installed (scripts/setup.sh)"; exit 0; fi
need_shared "quantize interop" models/gguf/stories260K.gguf models/gguf/tiny-llama-trained-f32.gguf models/imatrix/stories260K-imatrix.dat models/hf/tiny-llama-trained/eval.txt || exit 0
cd "$LOWBIT_ROOT"
R=$T/llama_run
# the driver links plain libraries of its own (under make asan, build-asan's are sanitized)
if ! env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u BUILD -u BIN -u CFLAGS -u OPT make -s build/libquantize.a build/libformats.a > "$T/make.log" 2>&1; then
  fail "quantize interop build" "$(tail -3 "$T/make.log")"; exit 0
fi
if ! gcc -std=c11 -D_GNU_SOURCE -O2 -Iformats -Iquantize -I"$REF/src/include" -I"$REF/src/ggml/include" tests/interop/llama_run.c -o "$R" \
     build/libquantize.a build/libformats.a $(pkg-config --libs libcjson libarchive zlib libcrypto) -lm -lpthread \
     -L"$LIBDIR" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$LIBDIR" 2> "$T/cc.log"; then
  fail "quantize interop build" "$(head -3 "$T/cc.log")"; exit 0
fi
export LLAMA_LIBDIR=$LIBDIR
Q=$B/lowbit-quantize
C=$B/lowbit-compare
S260=$M/gguf/stories260K.gguf
TLT=$M/gguf/tiny-llama-trained-f32.gguf
IMAT=$M/imatrix/stories260K-imatrix.dat
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/syn.gguf" "$S260" --layers 4 --seed 1
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/syn-tied.gguf" "$S260" --layers 3 --tied --seed 2

# name ftype needs-imatrix
MIXES="Q2_K:10 Q2_K_S:21:i Q3_K_S:11 Q3_K_M:12 Q3_K_L:13 Q4_K_S:14 Q4_K_M:15 Q5_K_S:16 Q5_K_M:17 Q6_K:18 Q8_0:7 Q4_0:2 Q4_1:3 Q5_0:8 Q5_1:9 IQ4_NL:25 IQ4_XS:30 TQ1_0:36 TQ2_0:37 F16:1 BF16:32 F32:0"

# 1. every mix: lowbit's per-tensor types and values == llama.cpp's (every mix on the
#    256-wide models; the fallback-heavy 64-wide stories260K and the tied variant get a
#    sample, which the mix unit tests cover in full)
SAMPLE="Q2_K:10 Q2_K_S:21:i Q3_K_M:12 Q4_K_M:15 Q5_0:8 Q6_K:18 IQ4_XS:30 Q8_0:7"
for model in "$S260" "$TLT" "$T/syn.gguf" "$T/syn-tied.gguf"; do
  mname=$(basename "$model" .gguf)
  bad=""; n=0
  list=$MIXES
  case "$mname" in stories260K|syn-tied) list=$SAMPLE ;; esac
  for spec in $list; do
    mix=${spec%%:*}; rest=${spec#*:}; ftype=${rest%%:*}; imat=""
    case "$spec" in *:i) [ "$model" = "$S260" ] || continue; imat=$IMAT ;; esac
    "$Q" -q ${imat:+--imatrix "$imat"} "$model" "$T/lb.gguf" "$mix" -f 2> "$T/e" || { bad="$bad $mix(lowbit: $(head -c 120 "$T/e"))"; continue; }
    "$R" quant "$model" "$T/ll.gguf" "$ftype" $imat > /dev/null 2>&1 || { bad="$bad $mix(llama.cpp failed)"; continue; }
    "$C" --json "$T/ll.gguf" "$T/lb.gguf" > "$T/cmp.json" 2>/dev/null
    d=$(jq '([.tensors[] | select(.reference_dtype != .candidate_dtype or .rmse != 0)] | length) + .totals.findings' "$T/cmp.json")
    [ "$d" = 0 ] || bad="$bad $mix($d tensors differ: $(jq -r '[.tensors[] | select(.reference_dtype != .candidate_dtype) | "\(.name):\(.reference_dtype)/\(.candidate_dtype)"][0:3] | join(",")' "$T/cmp.json"))"
    n=$((n + 1))
  done
  [ -z "$bad" ] && pass "quantize $mname: $n mixes, every tensor's type and values equal llama.cpp's" || fail "quantize $mname mixes" "$bad"
done

# 2. outputs load and generate; Q8_0 continues like F32
"$Q" -q "$S260" "$T/s-q8.gguf" Q8_0
want=$("$R" gen "$S260" 30 "Once upon a time" 2>/dev/null)
got=$("$R" gen "$T/s-q8.gguf" 30 "Once upon a time" 2>/dev/null)
[ -n "$want" ] && [ "$got" = "$want" ] && pass "stories260K Q8_0 greedy 30 tokens == F32" || fail "stories260K Q8_0 greedy" "got '$got' want '$want'"
ok=1
for mix in Q4_K_M Q2_K IQ4_XS TQ2_0; do
  "$Q" -q "$TLT" "$T/t.gguf" $mix -f && "$R" load "$T/t.gguf" > /dev/null 2>&1 || { ok=0; fail "llama.cpp loads and runs $mix" "failed"; }
done
[ $ok = 1 ] && pass "llama.cpp loads and runs lowbit's Q4_K_M, Q2_K, IQ4_XS, TQ2_0 outputs"

# 3. KL divergence on tiny-llama-trained vs the F32 model: lowbit <= 1.05 x llama.cpp's
#    (and with an importance matrix, within 2 %); the F32 reference is evaluated once
EVAL=$M/hf/tiny-llama-trained/eval.txt
"$R" mkimatrix "$TLT" "$T/tlt.dat" > /dev/null 2>&1
KMIX="Q4_0:2 Q4_K_M:15 Q5_K_M:17 Q6_K:18 Q8_0:7 Q3_K_M:12 Q2_K:10 Q4_K_M:15:i Q2_K:10:i"
cands=""
for spec in $KMIX; do
  name=${spec%%:*}; rest=${spec#*:}; ft=${rest%%:*}; tag=$name; im=""
  case "$spec" in *:i) tag=$name-imatrix; im=$T/tlt.dat ;; esac
  "$Q" -q ${im:+--imatrix "$im"} "$TLT" "$T/k-lb-$tag.gguf" "$name" && "$R" quant "$TLT" "$T/k-ll-$tag.gguf" "$ft" $im > /dev/null 2>&1
  cands="$cands $T/k-lb-$tag.gguf $T/k-ll-$tag.gguf"
done
"$R" kld "$TLT" 128 "$EVAL" $cands > "$T/kld.txt" 2> "$T/kld.err" || fail "KLD evaluation" "$(head -3 "$T/kld.err")"
for spec in $KMIX; do
  name=${spec%%:*}; tag=$name; lim=1.05; what="<= 1.05 x llama.cpp's"
  case "$spec" in *:i) tag=$name-imatrix; lim=1.02; what="--imatrix within 2% of llama.cpp's" ;; esac
  kl=$(awk -v f="$T/k-lb-$tag.gguf" '$1 == f { print $3 }' "$T/kld.txt")
  kr=$(awk -v f="$T/k-ll-$tag.gguf" '$1 == f { print $3 }' "$T/kld.txt")
  echo "INFO KLD $tag: lowbit $kl llama.cpp $kr"
  awk -v a="$kl" -v b="$kr" -v l="$lim" 'BEGIN { exit !(a != "" && b != "" && a <= l * b) }' && pass "KLD $name $what" || fail "KLD $tag" "lowbit $kl, llama.cpp $kr"
done

# 4. the report's per-tensor RMSE equals a recomputation from the written file
"$Q" -q --report "$T/rep.json" "$TLT" "$T/r.gguf" Q4_K_M
"$C" --json "$TLT" "$T/r.gguf" > "$T/cmp.json"
d=$(jq -n --slurpfile a "$T/rep.json" --slurpfile b "$T/cmp.json" \
   '[$a[0].tensors[] as $t | ($b[0].tensors[] | select(.name == $t.name)) as $u |
     select((($t.rmse - $u.rmse) | fabs) > 1e-9 * (1 + $u.rmse))] | length')
n=$(jq '[.tensors[] | select(.quantized)] | length' "$T/rep.json")
[ "$d" = 0 ] && [ "$n" -gt 20 ] && pass "report rmse == recomputation from the output ($n quantized tensors)" || fail "report rmse" "$d of $n differ"
