#!/usr/bin/env bash
# lowbit-verify derived: re-derivation from the recipe catches any changed byte; error
# bands catch larger changes in files without provenance; missing/extra/reshaped tensors.
. "$(dirname "$0")/lib.sh"
V=$B/lowbit-verify
Q=$B/lowbit-quantize
need_shared "verify derived" models/gguf/tiny-llama-trained-f32.gguf models/gguf/stories260K.gguf models/imatrix/stories260K-imatrix.gguf || exit 0
TLT=$M/gguf/tiny-llama-trained-f32.gguf
S260=$M/gguf/stories260K.gguf
"$Q" -q "$TLT" "$T/q.gguf" Q4_K_M

out=$("$V" derived --json "$TLT" "$T/q.gguf"); rc=$?
[ $rc = 0 ] && [ "$(printf '%s' "$out" | jq -c '[.rederived, .source_sha256, .summary.failed, .summary.tensors]')" = '[true,1,0,39]' ] \
  && pass "derived: lowbit output re-derived byte for byte" || fail "derived re-derive" "exit $rc $(printf '%s' "$out" | head -c 300)"
expect_exit "derived --no-rederive on a genuine file" 0 "within their type's error band" "$V" derived -q --no-rederive "$TLT" "$T/q.gguf"

# one changed byte inside a q4_K tensor: caught by re-derivation, naming the tensor
off=$("$B/lowbit-inspect" --json "$T/q.gguf" | jq '.models[0].tensors[] | select(.name=="blk.1.ffn_up.weight") | .offset')
cp "$T/q.gguf" "$T/t1.gguf"
printf '\x5a' | dd of="$T/t1.gguf" bs=1 seek=$((off + 144 * 10 + 77)) conv=notrunc 2>/dev/null
"$V" derived -q "$TLT" "$T/t1.gguf" > "$T/o" 2>/dev/null; rc=$?
[ $rc = 1 ] && grep -q "^blk.1.ffn_up.weight: FAILED (q4_K: bytes differ from a re-run of the recipe, first at byte 1517" "$T/o" \
  && [ "$(grep -c FAILED "$T/o")" = 1 ] && pass "derived: one changed byte is caught and located" || fail "derived one byte" "exit $rc: $(cat "$T/o")"

# a block whose scale is blown up, in a file without usable provenance: outside the band
cp "$T/q.gguf" "$T/t2.gguf"
printf '\xff\x7b' | dd of="$T/t2.gguf" bs=1 seek=$((off + 144 * 3)) conv=notrunc 2>/dev/null
"$V" derived -q --no-rederive "$TLT" "$T/t2.gguf" > "$T/o" 2>/dev/null; rc=$?
[ $rc = 1 ] && grep -q "^blk.1.ffn_up.weight: FAILED (q4_K: relative rmse" "$T/o" && pass "derived: tampered block outside the error band" \
  || fail "derived band" "exit $rc: $(cat "$T/o")"

# another source of the same shapes: the recorded sha256 and the bytes say no
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/a.gguf" "$S260" --layers 2 --seed 1
"$LOWBIT_BUILD/tests/tools/mk_llama" "$T/b.gguf" "$S260" --layers 2 --seed 2
"$Q" -q "$T/a.gguf" "$T/qa.gguf" Q8_0
"$V" derived -q "$T/b.gguf" "$T/qa.gguf" > "$T/o" 2>/dev/null; rc=$?
[ $rc = 1 ] && grep -q "^source: FAILED" "$T/o" && pass "derived: wrong source is caught" || fail "derived wrong source" "exit $rc: $(tail -3 "$T/o")"
"$V" derived -q --no-rederive "$T/b.gguf" "$T/qa.gguf" > "$T/o" 2>/dev/null; rc=$?
[ $rc = 1 ] && [ "$(grep -c 'outside\|the type gives' "$T/o")" -gt 5 ] && pass "derived: wrong source caught by error bands alone" || fail "derived wrong source bands" "exit $rc: $(head -3 "$T/o")"

# missing, extra and reshaped tensors
"$Q" -q "$S260" "$T/s.gguf" Q8_0
"$V" derived -q "$TLT" "$T/s.gguf" > "$T/o" 2>/dev/null; rc=$?      # stories260K has a 5th block
"$V" derived -q "$S260" "$T/q.gguf" > "$T/o2" 2>/dev/null; rc2=$?
[ $rc = 1 ] && [ $rc2 = 1 ] && grep -q "shape differs" "$T/o" && grep -q "^blk.4.ffn_up.weight: FAILED (not in the source)" "$T/o" \
  && grep -q "^blk.4.ffn_up.weight: FAILED (missing from the quantized file)" "$T/o2" \
  && pass "derived: missing, extra and reshaped tensors" || fail "derived structure" "exit $rc: $(head -5 "$T/o")"

# a recipe made with an importance matrix: re-derived only with that matrix
"$Q" -q --imatrix "$M/imatrix/stories260K-imatrix.gguf" "$S260" "$T/si.gguf" Q4_K_M
"$V" derived -q "$S260" "$T/si.gguf" > "$T/o" 2> "$T/e"; rc=$?
[ $rc = 0 ] && grep -q "pass it with --imatrix" "$T/e" && pass "derived: imatrix recipe without the matrix falls back to bands" || fail "derived imatrix note" "exit $rc: $(cat "$T/e")"
out=$("$V" derived --json --imatrix "$M/imatrix/stories260K-imatrix.gguf" "$S260" "$T/si.gguf"); rc=$?
[ $rc = 0 ] && [ "$(printf '%s' "$out" | jq '.rederived')" = true ] && pass "derived: imatrix recipe re-derived with the matrix" || fail "derived imatrix" "exit $rc"
expect_exit "derived usage" 2 "need SOURCE and QUANTIZED" "$V" derived "$TLT"
expect_exit "derived missing file" 3 "cannot open" "$V" derived "$TLT" "$T/none.gguf"
