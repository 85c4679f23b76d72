#!/usr/bin/env bash
# lowbit-verify scan: clean real files, then one corruption of a real file per finding ID,
# asserting the ID, the severity, the offset where it means something, and the exit code.
. "$(dirname "$0")/lib.sh"
V=$B/lowbit-verify
need_shared "scan" models/README.md models/gguf/stories260K.gguf models/hf/stories260K-llama \
  models/hf/stories260K-llama-bf16-sharded || exit 0

# scan_json NAME FILE [--deep]: run scan --json on FILE into $T/j; sets rc
scan_json() { "$V" scan --json "${@:2}" > "$T/j" 2> "$T/e"; rc=$?; }
# has NAME ID SEVERITY [OFFSET] [ITEM]: the last scan_json holds such a finding
has() {
  local name=$1 id=$2 sev=$3 off=${4:-} item=${5:-}
  local sel=".scan[].findings[] | select(.id==\"$id\" and .severity==\"$sev\")"
  [ -n "$off" ] && sel="$sel | select(.offset==$off)"
  [ -n "$item" ] && sel="$sel | select(.item==\"$item\")"
  if [ "$(jq "[$sel] | length" "$T/j" 2>/dev/null)" -ge 1 ] 2>/dev/null; then return 0; fi
  fail "$name" "no $sev $id${off:+ at offset $off}${item:+ on $item}; got: $(jq -c '[.scan[].findings[] | [.id,.severity,.item,.offset]]' "$T/j" 2>/dev/null | head -c 400) $(head -c 200 "$T/e")"
  return 1
}
# expect NAME RC ID SEVERITY [OFFSET] [ITEM] -- FILE [--deep]
expect() {
  local name=$1 want=$2 id=$3 sev=$4 off=$5 item=$6; shift 7
  scan_json "$name" "$@"
  if [ "$rc" -ne "$want" ]; then fail "$name" "exit $rc, want $want: $(head -c 300 "$T/e")"; return 1; fi
  has "$name" "$id" "$sev" "$off" "$item" && pass "$name"
}
# tensor_off FILE NAME: absolute data offset of a tensor (strict reader)
tensor_off() { "$B/lowbit-inspect" --json "$1" | jq -r ".models[0].tensors[] | select(.name==\"$2\") | .offset"; }
# put FILE OFFSET HEXBYTES: overwrite bytes in place
put() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
# gguf_find FILE STRING: offset of the GGUF string (u64 length + bytes) in FILE, just after it
gguf_find() {
  perl -e 'local $/; open F, "<:raw", $ARGV[0] or die; my $b = <F>; my $s = pack("Q<", length $ARGV[1]) . $ARGV[1];
           my $i = index($b, $s); print $i < 0 ? -1 : $i + length $s' "$1" "$2"
}
# st_edit FILE JQ: rewrite a safetensors header through jq, padded to its old length
st_edit() {
  local f=$1 n; n=$(od -An -tu8 -N8 "$f" | tr -d ' ')
  tail -c +9 "$f" | head -c "$n" | jq -c "$2" > "$T/h.json" || return 1
  perl -e 'my ($n, $h) = @ARGV; open H, "<", $h; local $/; my $t = <H>; chomp $t;
           die "header grew\n" if length $t > $n; print $t . (" " x ($n - length $t))' "$n" "$T/h.json" > "$T/h.pad" || return 1
  dd if="$T/h.pad" of="$f" bs=1 seek=8 conv=notrunc 2>/dev/null
}
# st_text FILE PERL-SUBST: rewrite the header text itself (same length)
st_text() {
  perl -e 'my ($f, $e) = @ARGV; open F, "+<:raw", $f or die; local $/; my $b = <F>; my $n = unpack("Q<", substr($b, 0, 8));
           my $h = substr($b, 8, $n); my $o = $h; eval "\$h =~ $e"; die "no change\n" if $h eq $o;
           die "length changed\n" if length $h != $n; seek F, 8, 0; print F $h; close F' "$1" "$2"
}

G=$M/gguf/stories260K.gguf
ST=$M/hf/stories260K-llama/model.safetensors
SH=$M/hf/stories260K-llama-bf16-sharded

# ---- clean real files: no warning, exit 0, with and without --deep ----
clean=("$M")
if ! "$V" scan "${S}/pickles/picklescan/malicious1_v3.pkl" 2>/dev/null | grep -q PICKLE_GLOBAL; then
  clean=(); for d in "$M"/*; do case "$d" in */pytorch) ;; *) clean+=("$d") ;; esac; done
  skip "scan: models/pytorch is clean" "this build has no pickle scanner (formats/lb_pickle.h not merged yet)"
fi
"$V" scan -q "${clean[@]}" > "$T/o" 2>&1; rc=$?
[ $rc = 0 ] && [ ! -s "$T/o" ] && pass "scan: all of ../shared/models is clean" || fail "scan: all of ../shared/models is clean" "exit $rc: $(head -5 "$T/o")"
"$V" scan --deep -q "${clean[@]}" > "$T/o" 2>&1; rc=$?
[ $rc = 0 ] && [ ! -s "$T/o" ] && pass "scan --deep: all of ../shared/models is clean" || fail "scan --deep: all of ../shared/models is clean" "exit $rc: $(head -5 "$T/o")"
scan_json "" "$M/README.md"
[ $rc = 0 ] && has "README is info NOT_A_MODEL" NOT_A_MODEL info && [ "$(jq -r '.scan[0].verdict' "$T/j")" = clean ] \
  && pass "README: info NOT_A_MODEL, verdict clean, exit 0"
"$V" scan "$G" > "$T/o"; rc=$?
[ $rc = 0 ] && grep -qx "$G: CLEAN (gguf, 0 findings)" "$T/o" && pass "text verdict line" || fail "text verdict line" "exit $rc: $(cat "$T/o")"
scan_json "" "$G" "$ST"
[ "$(jq -c '[.lowbit, .tool, (.scan | length), .scan[0].format, .scan[1].format, .scan[0].verdict]' "$T/j")" = '[1,"verify",2,"gguf","safetensors","clean"]' ] \
  && pass "json convention" || fail "json convention" "$(head -c 300 "$T/j")"

# ---- not the weights ----
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d\nsize 1185376\n' > "$T/lfs.gguf"
expect "git-lfs pointer" 1 LFS_POINTER error 0 "" -- "$T/lfs.gguf"
printf '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>login</body></html>\n' > "$T/model.safetensors"
expect "HTML page saved as weights" 1 HTML_PAGE error 0 "" -- "$T/model.safetensors"
printf 'Entry not found\n' > "$T/pytorch_model.bin"
expect "text where the name promises weights" 1 WEIGHTS_MISSING error 0 "" -- "$T/pytorch_model.bin"
: > "$T/empty.gguf"
expect "empty file named like weights" 1 WEIGHTS_MISSING error 0 "" -- "$T/empty.gguf"
: > "$T/empty.txt"
expect "empty file with another name: info" 0 NOT_A_MODEL info "" "" -- "$T/empty.txt"

# ---- truncation ----
cp "$G" "$T/t1.gguf"; truncate -s 1000000 "$T/t1.gguf"
expect "gguf truncated in the data" 1 TRUNCATED error 1000000 "tensor 'blk.3.ffn_up.weight'" -- "$T/t1.gguf"
cp "$G" "$T/t2.gguf"; truncate -s 5000 "$T/t2.gguf"
expect "gguf truncated in the header" 1 TRUNCATED error "" "" -- "$T/t2.gguf"
cp "$ST" "$T/t3.safetensors"; truncate -s -1000 "$T/t3.safetensors"
sz=$(stat -c %s "$T/t3.safetensors")
expect "safetensors truncated" 1 TRUNCATED error "$sz" "" -- "$T/t3.safetensors"
cp "$ST" "$T/t4.safetensors"; truncate -s 100 "$T/t4.safetensors"
expect "safetensors truncated in the header" 1 TRUNCATED error 0 "" -- "$T/t4.safetensors"
if need_shared "llama2c truncated" models/llama2c/pr468-model_qint80.bin; then
  cp "$M/llama2c/pr468-model_qint80.bin" "$T/t5.bin"; truncate -s -1000 "$T/t5.bin"
  expect "llama2c truncated (strict reader's finding)" 1 TRUNCATED error 297496 "" -- "$T/t5.bin"
fi

# ---- malformed: a finding, not exit 4; and every finding, not only the first ----
cp "$G" "$T/m1.gguf"; put "$T/m1.gguf" 4 07000000
expect "gguf bad version is MALFORMED (exit 1, not 4)" 1 MALFORMED error 4 "" -- "$T/m1.gguf"
cp "$ST" "$T/m2.safetensors"; st_text "$T/m2.safetensors" 's/:"F32"/:"F32}/'
expect "safetensors header not JSON is MALFORMED" 1 MALFORMED error "" "" -- "$T/m2.safetensors"

# ---- sharded sets ----
cp -r "$SH" "$T/sh1"; rm "$T/sh1/model-00002-of-00002.safetensors"
expect "shard missing" 1 SHARD_MISSING error "" "shard 'model-00002-of-00002.safetensors'" -- "$T/sh1"
cp -r "$SH" "$T/sh2"
jq '.weight_map["model.norm.weight"] = (if .weight_map["model.norm.weight"] == "model-00001-of-00002.safetensors" then "model-00002-of-00002.safetensors" else "model-00001-of-00002.safetensors" end)' \
  "$SH/model.safetensors.index.json" > "$T/sh2/model.safetensors.index.json"
expect "tensor not where the index says" 1 INDEX_TENSOR_MISSING error "" "tensor 'model.norm.weight'" -- "$T/sh2/model.safetensors.index.json"
jq 'del(.weight_map["model.norm.weight"])' "$SH/model.safetensors.index.json" > "$T/sh2/model.safetensors.index.json"
expect "tensor in a shard, not in the index" 1 INDEX_TENSOR_UNLISTED warning "" "tensor 'model.norm.weight'" -- "$T/sh2/model.safetensors.index.json"

# ---- offsets, names, shapes (safetensors) ----
T1=model.layers.1.mlp.up_proj.weight
cp "$ST" "$T/o1.safetensors"
st_edit "$T/o1.safetensors" ".[\"$T1\"].data_offsets |= [.[0] - 64, .[1] - 64]"
b=$(( $(tensor_off "$ST" "$T1") - 64 ))
expect "safetensors overlapping offsets" 1 OFFSET_OVERLAP error "$b" "tensor '$T1'" -- "$T/o1.safetensors"
has "safetensors overlap leaves a gap" DATA_GAP warning && pass "safetensors overlap also reports the gap (every finding)"
cp "$ST" "$T/o2.safetensors"
st_edit "$T/o2.safetensors" ".[\"$T1\"].data_offsets |= [.[0] + 2, .[1] + 2]"
expect "safetensors unaligned offset" 1 OFFSET_UNALIGNED warning $(( $(tensor_off "$ST" "$T1") + 2 )) "tensor '$T1'" -- "$T/o2.safetensors"
cp "$ST" "$T/o3.safetensors"
st_edit "$T/o3.safetensors" ".[\"$T1\"].shape |= [.[0] + 1, .[1]]"
expect "safetensors shape/size mismatch" 1 SHAPE_SIZE_MISMATCH error "" "tensor '$T1'" -- "$T/o3.safetensors"
cp "$ST" "$T/o4.safetensors"
st_text "$T/o4.safetensors" 's/"model\.layers\.1\.mlp\.up_proj\.weight"/"model.layers.0.mlp.up_proj.weight"/'
expect "safetensors duplicate name" 1 DUPLICATE_NAME error "" "tensor 'model.layers.0.mlp.up_proj.weight'" -- "$T/o4.safetensors"
cp "$ST" "$T/o5.safetensors"
st_edit "$T/o5.safetensors" ".[\"$T1\"].shape |= [.[0] + 1, .[1]] | .[\"model.norm.weight\"].data_offsets |= [.[0] - 8, .[1] - 8]"
scan_json "" "$T/o5.safetensors"
has "two problems, two findings" SHAPE_SIZE_MISMATCH error && has "two problems, two findings" OFFSET_OVERLAP error \
  && pass "safetensors: every finding, not only the first"

# ---- GGUF: offsets, names, metadata vs tensors ----
cp "$G" "$T/g1.gguf"; at=$(gguf_find "$T/g1.gguf" blk.0.attn_k.weight)   # u32 nd, 2 dims, u32 type, u64 offset
put "$T/g1.gguf" $((at + 4 + 16 + 4)) 01
expect "gguf unaligned offset" 1 OFFSET_UNALIGNED error $((at + 24)) "tensor 'blk.0.attn_k.weight'" -- "$T/g1.gguf"
has "gguf unaligned offset overlaps" OFFSET_OVERLAP error && pass "gguf unaligned offset also overlaps"
cp "$G" "$T/g2.gguf"; at=$(gguf_find "$T/g2.gguf" blk.0.attn_v.weight)
k=$(gguf_find "$G" blk.0.attn_k.weight)
dd if="$G" of="$T/g2.gguf" bs=1 skip=$((k + 24)) seek=$((at + 24)) count=8 conv=notrunc 2>/dev/null   # v's offset := k's
expect "gguf overlapping offsets" 1 OFFSET_OVERLAP error "" "" -- "$T/g2.gguf"
cp "$G" "$T/g3.gguf"; at=$(gguf_find "$T/g3.gguf" blk.4.attn_k.weight)
printf 'blk.4.attn_q' | dd of="$T/g3.gguf" bs=1 seek=$((at - 19)) conv=notrunc 2>/dev/null
expect "gguf duplicate tensor name" 1 DUPLICATE_NAME error $((at - 27)) "tensor 'blk.4.attn_q.weight'" -- "$T/g3.gguf"
cp "$G" "$T/g4.gguf"; at=$(gguf_find "$T/g4.gguf" llama.block_count)
put "$T/g4.gguf" $((at + 4)) 06000000
expect "gguf block_count vs blk.N" 1 GGUF_BLOCK_COUNT error $((at - 25)) "key 'llama.block_count'" -- "$T/g4.gguf"
# shorten tokenizer.ggml.scores by one element; 4 zero bytes more padding keep the data section in place
d0=$(tensor_off "$G" token_embd.weight)
perl -e 'local $/; open F, "<:raw", $ARGV[0]; my $b = <F>; my $k = "tokenizer.ggml.scores"; my $i = index($b, pack("Q<", length $k) . $k);
         my $c = $i + 8 + length($k) + 4 + 4; my $n = unpack("Q<", substr($b, $c, 8)); substr($b, $c, 8) = pack("Q<", $n - 1);
         substr($b, $c + 8 + 4 * ($n - 1), 4) = ""; substr($b, $ARGV[1] - 4, 0) = "\0\0\0\0"; print $b' "$G" "$d0" > "$T/g5.gguf"
"$B/lowbit-inspect" "$T/g5.gguf" > /dev/null 2>&1 && pass "shortened tokenizer array: the strict reader still opens it" \
  || fail "shortened tokenizer array: the strict reader still opens it" "$("$B/lowbit-inspect" "$T/g5.gguf" 2>&1 | head -2)"
expect "gguf tokenizer array lengths" 1 GGUF_TOKENIZER_LENGTHS error "" "key 'tokenizer.ggml.scores'" -- "$T/g5.gguf"
cp "$G" "$T/g6.gguf"; at=$(gguf_find "$T/g6.gguf" token_embd.weight)
put "$T/g6.gguf" $((at + 4 + 8)) ff01
expect "gguf token_embd rows vs tokens" 1 GGUF_VOCAB_SIZE error "" "tensor 'token_embd.weight'" -- "$T/g6.gguf"
scan_json "" "$T/g4.gguf" "$T/g6.gguf"
[ "$(jq '[.scan[].findings[]] | length' "$T/j")" -ge 2 ] && pass "several files, each with its findings" || fail "several files" "$(head -c 300 "$T/j")"

# ---- --deep: values ----
W=blk.1.ffn_down.weight
off=$(tensor_off "$G" $W)
cp "$G" "$T/d1.gguf"; put "$T/d1.gguf" $((off + 40)) 0000c07f; put "$T/d1.gguf" $((off + 400)) 0000c0ff
expect "deep: NaN values" 1 NAN_VALUES error $((off + 40)) "tensor '$W'" -- "$T/d1.gguf" --deep
has "deep: NaN count" NAN_VALUES error && [ "$(jq -r '.scan[0].findings[] | select(.id=="NAN_VALUES") | .message' "$T/j" | cut -d' ' -f1)" = 2 ] \
  && pass "deep: NaN count is 2" || fail "deep: NaN count is 2" "$(jq -c '.scan[0].findings' "$T/j" | head -c 300)"
cp "$G" "$T/d2.gguf"; put "$T/d2.gguf" $((off + 8)) 0000807f
expect "deep: Inf values" 1 INF_VALUES error $((off + 8)) "tensor '$W'" -- "$T/d2.gguf" --deep
cp "$G" "$T/d3.gguf"; dd if=/dev/zero of="$T/d3.gguf" bs=1 seek="$off" count=$((64 * 172 * 4)) conv=notrunc 2>/dev/null
expect "deep: all-zero matrix" 1 ALL_ZERO warning "$off" "tensor '$W'" -- "$T/d3.gguf" --deep
"$V" scan "$T/d3.gguf" > /dev/null; rc=$?
[ $rc = 0 ] && pass "no --deep, no value findings" || fail "no --deep, no value findings" "exit $rc"
cp "$G" "$T/d4.gguf"; perl -e 'print pack("f<", 0.5) x (64 * 172)' | dd of="$T/d4.gguf" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect "deep: constant matrix" 1 CONSTANT warning "$off" "tensor '$W'" -- "$T/d4.gguf" --deep
cp "$G" "$T/d5.gguf"; put "$T/d5.gguf" $((off + 12)) 00409c47   # 80000.0
expect "deep: absurd magnitude" 1 ABSURD_MAGNITUDE warning $((off + 12)) "tensor '$W'" -- "$T/d5.gguf" --deep
# a q8_0 tensor (retyped in place; its bytes now read as blocks) with a NaN f16 scale in block 1
Q=blk.2.attn_q.weight
cp "$G" "$T/d7.gguf"; at=$(gguf_find "$T/d7.gguf" $Q); put "$T/d7.gguf" $((at + 20)) 08; qo=$(tensor_off "$G" $Q)
put "$T/d7.gguf" $((qo)) 0000; put "$T/d7.gguf" $((qo + 34)) 007e
for k in $(seq 2 127); do put "$T/d7.gguf" $((qo + 34 * k)) 0000; done
expect "deep: NaN scale in a q8_0 block (offset of the block)" 1 NAN_VALUES error $((qo + 34)) "tensor '$Q'" -- "$T/d7.gguf" --deep
# a real quantization (lowbit-quantize Q4_K_M) is clean; a NaN scale in a q4_K block is found
if [ -x "$B/lowbit-quantize" ] && need_shared "deep: q4_K" models/gguf/tiny-llama-trained-f32.gguf; then
  "$B/lowbit-quantize" "$M/gguf/tiny-llama-trained-f32.gguf" "$T/q4.gguf" Q4_K_M > /dev/null 2>&1
  scan_json "" "$T/q4.gguf" --deep
  [ $rc = 0 ] && [ "$(jq '.scan[0].findings | length' "$T/j" 2>/dev/null)" = 0 ] && pass "deep: Q4_K_M quantization has no findings" \
    || fail "deep: Q4_K_M quantization has no findings" "$(jq -c '.scan[0].findings' "$T/j" | head -c 300)"
  K=$("$B/lowbit-inspect" --json "$T/q4.gguf" | jq -r '[.models[0].tensors[] | select(.dtype=="q4_K")][0] | "\(.name) \(.offset)"')
  kn=${K% *}; ko=${K#* }
  put "$T/q4.gguf" $((ko + 144)) 007e
  expect "deep: NaN scale in a q4_K block" 1 NAN_VALUES error $((ko + 144)) "tensor '$kn'" -- "$T/q4.gguf" --deep
fi
S1=model.layers.3.self_attn.o_proj.weight
cp "$ST" "$T/d6.safetensors"; so=$(tensor_off "$ST" $S1); put "$T/d6.safetensors" $((so + 4)) 0000c07f
expect "deep: NaN in safetensors" 1 NAN_VALUES error $((so + 4)) "tensor '$S1'" -- "$T/d6.safetensors" --deep

# ---- usage and I/O ----
expect_exit "scan: no PATH" 2 "no PATH given" "$V" scan
expect_exit "scan: missing file is an I/O error" 3 "cannot open" "$V" scan "$T/none.gguf"
"$V" scan --help | grep -q -- '--deep' && pass "scan --help lists --deep" || fail "scan --help lists --deep" "missing"

# ---- pickles: ../shared/pickles/EXPECTED.tsv, file by file ----
P=${S:+$S/pickles}
if [ -z "$P" ] || [ ! -f "$P/EXPECTED.tsv" ]; then
  skip "scan pickles (EXPECTED.tsv)" "needs ../shared/pickles/EXPECTED.tsv"
elif ! "$V" scan "$P/picklescan/malicious1_v3.pkl" 2>/dev/null | grep -q 'PICKLE_GLOBAL'; then
  skip "scan pickles (EXPECTED.tsv)" "this build has no pickle scanner (formats/lb_pickle.h not merged yet)"
else
  ok=0 bad=0; declare -A got
  while IFS=$'\t' read -r file verdict globals source note; do
    [ "$file" = file ] && continue
    name="scan pickle $file ($verdict)"
    "$V" scan --json "$P/$file" > "$T/pj" 2> "$T/pe"; rc=$?
    v=$(jq -r '.scan[0].verdict' "$T/pj" 2>/dev/null)
    got[$v]=$(( ${got[$v]:-0} + 1 ))
    why=""
    case "$verdict" in
      malicious)
        [ "$v" = malicious ] && [ $rc = 1 ] || why="verdict $v (exit $rc), want malicious"
        IFS=, read -ra gl <<< "$globals"
        for g in "${gl[@]}"; do
          case "$g" in '~'*|-|'') continue ;; esac
          [ "$(jq --arg it "global '$g'" '[.scan[0].findings[] | select(.id=="PICKLE_GLOBAL" and .item==$it and .severity=="malicious")] | length' "$T/pj")" -ge 1 ] \
            || why="${why:+$why; }does not name $g as malicious"
        done ;;
      benign)
        [ "$v" = clean ] && [ $rc = 0 ] || why="verdict $v (exit $rc), want clean: $(jq -c '[.scan[0].findings[] | select(.severity!="info") | [.id,.item]]' "$T/pj" | head -c 200)" ;;
      suspicious)
        case "$v" in suspicious|malicious) ;;
          warning) case "$note" in *"benign-with-warning acceptable"*) ;; *) why="verdict warning, want at least suspicious" ;; esac ;;
          *) why="verdict $v, want at least suspicious" ;;
        esac ;;
    esac
    if [ -z "$why" ]; then pass "$name"; ok=$((ok + 1)); else fail "$name" "$why"; bad=$((bad + 1)); fi
  done < "$P/EXPECTED.tsv"
  echo "INFO scan pickles: $ok of $((ok + bad)) as expected; verdicts: malicious ${got[malicious]:-0}, suspicious ${got[suspicious]:-0}, error ${got[error]:-0}, warning ${got[warning]:-0}, clean ${got[clean]:-0}"
  # offsets: the global's opcode, and the opcode's byte is what it says
  scan_json "" "$P/picklescan/malicious1_v3.pkl"
  o=$(jq '.scan[0].findings[] | select(.item=="global '"'"'builtins.eval'"'"'") | .offset' "$T/j")
  [ "$(od -An -c -j "$o" -N1 "$P/picklescan/malicious1_v3.pkl" | tr -d ' ')" = c ] && pass "pickle global offset points at its GLOBAL opcode" \
    || fail "pickle global offset points at its GLOBAL opcode" "offset $o"
  # the findings around the globals, each once
  expect "broken pickle: the global and the parse error" 1 MALFORMED error "" "" -- "$P/picklescan/broken_model.pkl"
  has "broken pickle names exec" PICKLE_GLOBAL malicious 0 "global 'builtins.exec'" && pass "broken pickle: exec reported before the break"
  expect "pickle hidden in a pickle's bytes" 1 PICKLE_NESTED suspicious 74 "" -- "$P/modelaudit/nested_pickle_raw.pkl"
  expect "pickle hidden in base64 text" 1 PICKLE_NESTED suspicious "" "" -- "$P/modelaudit/nested_pickle_base64.pkl"
  expect "second pickle after STOP" 1 PICKLE_GLOBAL malicious "" "global 'requests.api.get'" -- "$P/picklescan/malicious6.pkl"
  expect "encrypted zip member: info, clean" 0 ZIP_ENCRYPTED info "" "entry 'test.txt'" -- "$P/modelscan/password_protected.zip"
  expect "zip member flagged encrypted, stored plain" 1 ZIP_ENCRYPTED_FLAG warning "" "entry 'model/config.pkl'" -- "$P/picklescan/malicious1_0x1.zip"
  expect "zip local name differs from central" 1 ZIP_NAME_MISMATCH warning "" "entry 'data.pkl'" -- "$P/picklescan/malicious1_central_directory.zip"
  cat "$P/picklescan/benign0_v3.pkl" > "$T/trail.pkl"; printf 'not a pickle at all' >> "$T/trail.pkl"
  expect "bytes after the pickle's STOP" 1 TRAILING_DATA warning 32 "" -- "$T/trail.pkl"
  # real torch checkpoints are clean: allow-listed globals are info
  expect "real torch zip checkpoint is clean" 0 PICKLE_GLOBAL info "" "global 'torch._utils._rebuild_tensor_v2'" -- "$M/hf/stories260K-llama/pytorch_model.bin"
  [ "$(jq -r '.scan[0].format' "$T/j")" = pytorch-zip ] && pass "torch zip format detected by content" || fail "torch zip format" "$(jq -r '.scan[0].format' "$T/j")"
  # --deep reads the tensors of a PyTorch zip from their storage entries
  cp "$M/hf/stories260K-llama/pytorch_model.bin" "$T/pt.bin"
  so=$(perl -e 'local $/; open F, "<:raw", $ARGV[0]; my $b = <F>; my $i = 0;
        while (($i = index($b, "PK\x03\x04", $i)) >= 0) { my ($n, $e) = unpack("vv", substr($b, $i + 26, 4));
          if (substr($b, $i + 30, $n) eq $ARGV[1]) { print $i + 30 + $n + $e; exit } $i++ }' "$T/pt.bin" pytorch_model/data/3)
  put "$T/pt.bin" $((so + 8)) 0000c07f
  expect "deep: NaN in a PyTorch zip storage" 1 NAN_VALUES error $((so + 8)) "tensor 'model.layers.0.self_attn.v_proj.weight'" -- "$T/pt.bin" --deep
  expect "real legacy torch file is clean" 0 PICKLE_GLOBAL info "" "global 'collections.OrderedDict'" -- "$M/pytorch/legacy-mnist_cnn.pt"
  # a malicious pickle hidden under another name, in a zip in a zip
  cp "$P/picklescan/malicious2_v4.pkl" "$T/weights.txt"
  (cd "$T" && rm -f inner.zip outer.bin && zip -q inner.zip weights.txt && zip -q -0 outer.zip inner.zip && mv outer.zip outer.bin) 2>/dev/null
  if [ -f "$T/outer.bin" ]; then
    expect "pickle in a zip in a zip" 1 PICKLE_GLOBAL malicious "" "global 'posix.system'" -- "$T/outer.bin"
  else skip "pickle in a zip in a zip" "no zip command"; fi
fi
