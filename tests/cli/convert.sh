#!/usr/bin/env bash
# lowbit-convert: options, overwrite protection, atomic output, pipes, unsupported dtypes.
. "$(dirname "$0")/lib.sh"

need_shared "convert cli" models/hf/stories260K-llama/model.safetensors models/gguf/stories260K.gguf || exit 0
src=$M/hf/stories260K-llama/model.safetensors

expect_exit "convert to gguf" 0 "" "$B/lowbit-convert" "$src" -o "$T/a.gguf"
expect_exit "convert refuses to overwrite" 2 "a.gguf': already exists" "$B/lowbit-convert" "$src" -o "$T/a.gguf"
expect_exit "convert -f overwrites" 0 "" "$B/lowbit-convert" -f "$src" -o "$T/a.gguf"
expect_exit "convert no output" 2 "no output" "$B/lowbit-convert" "$src"
expect_exit "convert unknown format" 2 "cannot tell the output format" "$B/lowbit-convert" "$src" -o "$T/a.bin"
expect_exit "convert same file" 2 "same file" "$B/lowbit-convert" -f --format gguf "$T/a.gguf" -o "$T/a.gguf"
expect_exit "convert missing input" 3 "cannot open" "$B/lowbit-convert" "$T/none.safetensors" -o "$T/x.gguf"
[ ! -e "$T/x.gguf" ] && pass "convert failure leaves no output" || fail "convert failure leaves no output" "x.gguf exists"
expect_exit "convert unwritable output" 3 "cannot create" "$B/lowbit-convert" "$src" -o "$T/no/such/dir/x.gguf"

# a pipe gives the same bytes as a file (GGUF and safetensors are written streaming)
"$B/lowbit-convert" "$src" -o - --format gguf | cat > "$T/p.gguf"
cmp -s "$T/p.gguf" "$T/a.gguf" && pass "convert -o - pipe == file" || fail "convert -o - pipe == file" "bytes differ"
"$B/lowbit-convert" "$M/gguf/stories260K.gguf" -o "$T/s.safetensors" -q
"$B/lowbit-convert" "$M/gguf/stories260K.gguf" -o - --format safetensors -q | cat > "$T/p.safetensors"
cmp -s "$T/p.safetensors" "$T/s.safetensors" && pass "convert safetensors pipe == file" || fail "convert safetensors pipe == file" "bytes differ"
script -qc "'$B/lowbit-convert' '$src' -o - --format gguf" /dev/null > "$T/tty.out" 2>&1; 
grep -q "terminal" "$T/tty.out" && pass "convert refuses binary to a terminal" || fail "convert refuses binary to a terminal" "$(head -c 200 "$T/tty.out")"

# a dtype the target cannot hold: GGUF has no F8/U8; name longer than 63 bytes
long=$(printf 'a%.0s' $(seq 1 70))
hdr="{\"u\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"$long\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},\"ok\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}"
len=$(( (${#hdr} + 7) / 8 * 8 ))
{ printf "$(printf '\\x%02x' $((len & 255)) $((len >> 8 & 255)))\\x00\\x00\\x00\\x00\\x00\\x00"; printf "%-${len}s" "$hdr"; head -c 24 /dev/zero; } > "$T/odd.safetensors"
expect_exit "convert unsupported dtype is an error" 4 "tensor 'u'" "$B/lowbit-convert" "$T/odd.safetensors" -o "$T/odd.gguf"
[ ! -e "$T/odd.gguf" ] && pass "convert unsupported leaves no output" || fail "convert unsupported leaves no output" "odd.gguf exists"
"$B/lowbit-convert" --skip-unsupported "$T/odd.safetensors" -o "$T/odd.gguf" 2> "$T/e"; rc=$?
n=$("$B/lowbit-inspect" --json "$T/odd.gguf" 2>/dev/null | jq -c '[.models[0].tensors[].name]')
[ $rc = 0 ] && [ "$n" = '["ok"]' ] && pass "convert --skip-unsupported" || fail "convert --skip-unsupported" "exit $rc, tensors $n: $(cat "$T/e")"

# an interrupted run leaves no file and no temporary: a sparse 1 GiB input keeps it busy
hdr='{"w":{"dtype":"F32","shape":[262144,1024],"data_offsets":[0,1073741824]}}'
len=$(( (${#hdr} + 7) / 8 * 8 ))
{ printf "$(printf '\\x%02x' $((len & 255)))\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf "%-${len}s" "$hdr"; } > "$T/big.safetensors"
truncate -s $((8 + len + 1073741824)) "$T/big.safetensors"
"$B/lowbit-convert" "$T/big.safetensors" -o "$T/int.gguf" 2>/dev/null & pid=$!
for i in $(seq 1 100); do ls -a "$T" | grep -q '^\.int\.gguf\.' && break; sleep 0.01; done
kill -INT $pid 2>/dev/null; wait $pid; rc=$?
left=$(ls -a "$T" | grep 'int\.gguf')
[ -z "$left" ] && [ $rc -ne 0 ] && pass "convert interrupted leaves nothing" || fail "convert interrupted leaves nothing" "exit $rc, left: $left"
rm -f "$T/big.safetensors"
