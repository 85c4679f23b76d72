#!/usr/bin/env bash
# lowbit-quantize / lowbit-compare without llama.cpp: bad input and exit codes, determinism
# across thread counts, pipe vs file, provenance keys, and the size planner.
. "$(dirname "$0")/lib.sh"
Q=$B/lowbit-quantize
C=$B/lowbit-compare
need_shared "quantize cli" models/gguf/stories260K.gguf models/gguf/tiny-llama-trained-f32.gguf models/imatrix/stories260K-imatrix.gguf || exit 0
S260=$M/gguf/stories260K.gguf
TLT=$M/gguf/tiny-llama-trained-f32.gguf
MK=$LOWBIT_BUILD/tests/tools/mk_llama
"$MK" "$T/syn.gguf" "$S260" --layers 4 --seed 7

# bad input
expect_exit "quantize unknown TYPE" 2 "unknown TYPE 'Q7_K'; valid: .*Q4_K_M" "$Q" "$S260" "$T/x.gguf" Q7_K
expect_exit "quantize OUTPUT == INPUT" 2 "same file" "$Q" "$S260" "$S260" Q8_0
cp "$S260" "$T/copy.gguf"
expect_exit "quantize existing OUTPUT without -f" 2 "already exists" "$Q" -q "$S260" "$T/copy.gguf" Q8_0
expect_exit "quantize unwritable OUTPUT" 3 "cannot create" "$Q" -q "$S260" "$T/no/dir/x.gguf" Q8_0
# outputs that are not regular files: a directory is refused; a character device (as
# /dev/null) and a FIFO are written in place, never replaced by a renamed temporary
mkdir "$T/outdir"
expect_exit "quantize OUTPUT a directory" 2 "is a directory" "$Q" -q "$S260" "$T/outdir" Q8_0
if mknod "$T/null" c 1 3 2> /dev/null; then
  "$Q" -q "$S260" "$T/null" Q8_0 && "$Q" -q -f "$S260" "$T/null" Q8_0 && [ -c "$T/null" ] && [ -z "$(ls -A "$T" | grep '^\.null')" ] \
    && pass "quantize to a character device writes into it (it stays a device, no temporary left)" \
    || fail "quantize to a character device" "$(ls -la "$T/null")"
else
  skip "quantize to a character device" "mknod not permitted here"
fi
script -qc "'$Q' -q '$S260' /dev/tty Q8_0" /dev/null > "$T/tty2" 2>&1
grep -q terminal "$T/tty2" && pass "quantize refuses a terminal as OUTPUT path too (/dev/tty)" || fail "quantize OUTPUT /dev/tty" "$(head -c 200 "$T/tty2")"
mkfifo "$T/fifo"
timeout 120 cat "$T/fifo" > "$T/fifo.out" & reader=$!
"$Q" -q "$S260" "$T/fifo" Q8_0; rc=$?
wait $reader
"$Q" -q "$S260" - Q8_0 > "$T/stdout.gguf"
[ $rc = 0 ] && [ -p "$T/fifo" ] && cmp -s "$T/fifo.out" "$T/stdout.gguf" \
  && pass "quantize to a FIFO streams the same bytes as to stdout, the FIFO stays" || fail "quantize to a FIFO" "exit $rc"
expect_exit "quantize Q2_K_S needs an imatrix" 2 "needs an importance matrix" "$Q" -q "$TLT" "$T/x.gguf" Q2_K_S
expect_exit "quantize imatrix of another model" 4 "tensor 'blk\.0\." "$Q" -q --imatrix "$M/imatrix/stories260K-imatrix.gguf" "$TLT" "$T/x.gguf" Q4_K_M
[ ! -e "$T/x.gguf" ] && pass "quantize refusals write nothing" || fail "quantize refusals write nothing" "x.gguf exists"
"$MK" "$T/nan.gguf" "$S260" --layers 2 --nan blk.1.ffn_up.weight
expect_exit "quantize NaN in weights" 4 "tensor 'blk\.1\.ffn_up\.weight': value NaN at index [0-9]+" "$Q" -q "$T/nan.gguf" "$T/x.gguf" Q4_K_M
[ ! -e "$T/x.gguf" ] && pass "quantize NaN leaves no output" || fail "quantize NaN leaves no output" "x.gguf exists"
expect_exit "quantize --allow-nonfinite" 0 "" "$Q" -q --allow-nonfinite "$T/nan.gguf" "$T/x.gguf" Q4_K_M
"$Q" -q "$S260" "$T/s8.gguf" Q8_0
expect_exit "quantize requantize refused" 4 "already quantized" "$Q" -q "$T/s8.gguf" "$T/y.gguf" Q4_0
expect_exit "quantize --allow-requantize" 0 "" "$Q" -q --allow-requantize "$T/s8.gguf" "$T/y.gguf" Q4_0
expect_exit "quantize bad --tensor-type" 2 "tensor-type" "$Q" -q --tensor-type 'attn_v' "$S260" "$T/z.gguf" Q8_0
expect_exit "quantize missing INPUT" 3 "cannot open" "$Q" -q "$T/none.gguf" "$T/z.gguf" Q8_0

# determinism: same bytes for every thread count
for t in 1 2 3 7; do "$Q" -q -t $t "$TLT" "$T/t$t.gguf" Q4_K_M; done
cmp -s "$T/t1.gguf" "$T/t2.gguf" && cmp -s "$T/t1.gguf" "$T/t3.gguf" && cmp -s "$T/t1.gguf" "$T/t7.gguf" \
  && pass "quantize output identical for -t 1, 2, 3, 7" || fail "quantize -t determinism" "outputs differ"

# provenance: input sha256 patched in on a file, left out on a pipe (the only difference)
sha=$(sha256sum "$TLT" | cut -d' ' -f1)
got=$("$B/lowbit-inspect" --json "$T/t1.gguf" | jq -r '.models[0].metadata["lowbit.source.sha256"]')
[ "$got" = "$sha" ] && pass "quantize records the input sha256" || fail "quantize records the input sha256" "$got vs $sha"
m=$("$B/lowbit-inspect" --json "$T/t1.gguf" | jq -c '.models[0].metadata | [.["general.file_type"], .["general.quantization_version"], (.["lowbit.recipe"] | fromjson | .type)]')
[ "$m" = '[15,2,"Q4_K_M"]' ] && pass "quantize file_type, quantization_version, recipe" || fail "quantize metadata" "$m"
"$Q" -q "$TLT" - Q4_K_M | cat > "$T/pipe.gguf"
a=$("$B/lowbit-inspect" --json "$T/pipe.gguf" | jq -c '.models[0] | [(.metadata | del(.["lowbit.source.sha256"])), [.tensors[] | [.name, .dtype, .shape, .bytes]]]')
b=$("$B/lowbit-inspect" --json "$T/t1.gguf" | jq -c '.models[0] | [(.metadata | del(.["lowbit.source.sha256"])), [.tensors[] | [.name, .dtype, .shape, .bytes]]]')
hp=$("$B/lowbit-inspect" --json "$T/pipe.gguf" | jq '.models[0].metadata | has("lowbit.source.sha256")')
[ "$a" = "$b" ] && [ "$hp" = false ] && "$C" -q "$T/pipe.gguf" "$T/t1.gguf" | grep -q 'rmse 0,' \
  && pass "quantize to a pipe == to a file, less the input sha256" || fail "quantize pipe vs file" "differ (has sha: $hp)"
script -qc "'$Q' '$S260' - Q8_0" /dev/null > "$T/tty" 2>&1
grep -q terminal "$T/tty" && pass "quantize refuses binary to a terminal" || fail "quantize refuses binary to a terminal" "$(head -c 200 "$T/tty")"
expect_exit "quantize --json with OUTPUT -" 2 "json" "$Q" --json "$S260" - Q8_0


# the planner: fits the budget, and no mix of the same size or smaller has less error
sse() { "$C" --json "$T/syn.gguf" "$1" | jq '.totals.rmse * .totals.rmse * .totals.params'; }
for mix in Q2_K Q3_K_S Q3_K_M Q4_0 Q4_K_S Q4_K_M Q5_K_M Q6_K Q8_0; do
  "$Q" -q "$T/syn.gguf" "$T/mix-$mix.gguf" $mix
  echo "$(stat -c %s "$T/mix-$mix.gguf") $(sse "$T/mix-$mix.gguf") $mix"
done > "$T/mixes"
for target in 1400K 1800K 2300K 3M; do
  name="planner --target-size $target"
  if ! "$Q" -q --target-size $target "$T/syn.gguf" "$T/p.gguf" Q4_K_M -f 2> "$T/e"; then fail "$name" "$(cat "$T/e")"; continue; fi
  size=$(stat -c %s "$T/p.gguf"); budget=$(numfmt --from=iec "$target")
  e=$(sse "$T/p.gguf")
  worse=$(awk -v s="$size" -v e="$e" -v b="$budget" '$1 <= b && $2 < e * (1 - 1e-9) { print $3 }' "$T/mixes" | tr '\n' ' ')
  echo "INFO planner $target: $size bytes, error $e"
  [ "$size" -le "$budget" ] && [ -z "$worse" ] && pass "$name: fits ($size bytes) and beats every mix that fits" \
    || fail "$name" "size $size budget $budget; mixes with less error: $worse"
done
expect_exit "planner budget too small" 2 "budget is too small" "$Q" -q --target-size 100K "$T/syn.gguf" "$T/small.gguf" Q4_K_M
"$Q" --dry-run --target-bpw 4.5 "$T/syn.gguf" "$T/dry.gguf" Q4_K_M > "$T/plan.txt"
[ ! -e "$T/dry.gguf" ] && grep -q '^plan: ' "$T/plan.txt" && grep -q 'blk.0.ffn_down.weight' "$T/plan.txt" \
  && pass "planner --dry-run prints the plan and writes nothing" || fail "planner --dry-run" "$(tail -2 "$T/plan.txt")"
bpw=$("$Q" -q --target-bpw 4.5 --json "$T/syn.gguf" "$T/b.gguf" Q4_K_M | jq '.totals.bpw')
awk -v b="$bpw" 'BEGIN { exit !(b <= 4.5 && b > 4.0) }' && pass "planner --target-bpw 4.5 gives $bpw bpw" || fail "planner --target-bpw" "$bpw"

# lowbit-compare
expect_exit "compare identical" 0 "" "$C" -q "$S260" "$S260"
"$C" "$S260" "$T/syn.gguf" > "$T/o" 2> "$T/e"; rc=$?
[ $rc = 1 ] && grep -q "only in the reference" "$T/o" && grep -q "shapes differ" "$T/o" && [ ! -s "$T/e" ] \
  && pass "compare unmatched tensors: exit 1, listed" || fail "compare unmatched tensors" "exit $rc: $(head -c 200 "$T/e")"
expect_exit "compare missing file" 3 "cannot open" "$C" "$S260" "$T/none.gguf"
expect_exit "quantize an HF folder points to lowbit-convert" 4 "convert it first .*--outtype Q4_K_M" "$Q" "$M/hf/tiny-llama-trained" "$T/hf.gguf" Q4_K_M
