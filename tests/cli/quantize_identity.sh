#!/usr/bin/env bash
# Whole-file identity (issue 10): lowbit-quantize gives the same bytes on every kernel path
# this machine has (LOWBIT_CPU=scalar and each vector path) and for -t 1, 2, 3 and 7, on
# tiny-llama-trained (a real trained model, F32) and a synthetic heavy-tailed F16 llama,
# at Q4_K_M, Q2_K, Q6_K, IQ4_XS and Q8_0.
. "$(dirname "$0")/lib.sh"
Q=$B/lowbit-quantize
need_shared "quantize identity" models/gguf/stories260K.gguf models/gguf/tiny-llama-trained-f32.gguf || exit 0
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/syn.gguf" "$M/gguf/stories260K.gguf" --type f16 --layers 3 --dim 256 --ffn 704 --seed 11
case $(uname -m) in
  x86_64) paths="scalar sse2 avx2" ;;
  aarch64) paths="scalar neon" ;;
  *) paths="scalar" ;;
esac
have=""
for p in $paths; do
  LOWBIT_CPU=$p "$Q" -q "$T/syn.gguf" "$T/probe.gguf" Q8_0 -f 2> /dev/null && have="$have $p" || echo "INFO quantize identity: no $p path on this CPU"
done
for model in tlt:$M/gguf/tiny-llama-trained-f32.gguf syn:$T/syn.gguf; do
  tag=${model%%:*}; in=${model#*:}
  for type in Q4_K_M Q2_K Q6_K IQ4_XS Q8_0; do
    runs=""
    for p in $have; do LOWBIT_CPU=$p "$Q" -q -t 2 "$in" "$T/$tag-$type-$p.gguf" $type && runs="$runs $tag-$type-$p"; done
    for t in 1 3 7; do "$Q" -q -t $t "$in" "$T/$tag-$type-t$t.gguf" $type && runs="$runs $tag-$type-t$t"; done
    ref=$(sha256sum < "$T/$tag-$type-scalar.gguf" | cut -d' ' -f1)
    bad=""
    for r in $runs; do [ "$(sha256sum < "$T/$r.gguf" | cut -d' ' -f1)" = "$ref" ] || bad="$bad $r"; done
    n=$(echo $runs | wc -w)
    [ -n "$ref" ] && [ "$n" -eq $(( $(echo $have | wc -w) + 3 )) ] && [ -z "$bad" ] \
      && pass "quantize $tag $type: one sha256 for paths {$have } and -t 1/2/3/7 (${ref:0:12})" \
      || fail "quantize $tag $type identity" "differ from scalar:$bad (ran $n)"
    rm -f "$T/$tag-$type"-*.gguf
  done
done
