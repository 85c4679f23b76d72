#!/usr/bin/env bash
# lowbit-verify manifest / check / sign on real files and corrupted copies.
. "$(dirname "$0")/lib.sh"
V=$B/lowbit-verify
need_shared "verify" models/README.md models/hf/stories260K-llama || exit 0

# manifest sha256 == sha256sum for every file in ../shared/models
"$V" manifest "$M" -o "$T/all.json" 2> "$T/e"; rc=$?
if [ $rc = 0 ]; then
  jq -r '.files[] | "\(.sha256)  \(.path)"' "$T/all.json" | sort -k2 > "$T/ours"
  (cd / && find "$M" -type f ! -name '.*' -print0 | xargs -0 sha256sum) | sort -k2 > "$T/theirs"
  n=$(wc -l < "$T/theirs")
  cmp -s "$T/ours" "$T/theirs" && [ "$n" -gt 30 ] && pass "manifest sha256 == sha256sum on all $n shared model files" \
    || fail "manifest sha256 == sha256sum" "$(diff "$T/ours" "$T/theirs" | head -5)"
else fail "manifest sha256 == sha256sum" "exit $rc: $(cat "$T/e")"; fi

# the model digest depends on the tensors, not the container
cp -r "$M/hf/stories260K-llama" "$T/m"
"$B/lowbit-convert" -q --keep-names "$T/m/model.safetensors" -o "$T/m.gguf"
d1=$("$V" manifest "$T/m/model.safetensors" | jq -r '.models[0].digest')
d2=$("$V" manifest "$T/m.gguf" | jq -r '.models[0].digest')
[ -n "$d1" ] && [ "$d1" != null ] && [ "$d1" = "$d2" ] && pass "digest safetensors == gguf --keep-names" || fail "digest safetensors == gguf --keep-names" "$d1 vs $d2"

# check: all OK, then each corruption caught
(cd "$T" && "$V" manifest m -o m.json) && (cd "$T" && "$V" check m.json > out 2>&1); rc=$?
[ $rc = 0 ] && [ "$(grep -c ': OK$' "$T/out")" = 6 ] && pass "check all OK" || fail "check all OK" "exit $rc: $(head -3 "$T/out")"
off=$("$V" manifest "$T/m/model.safetensors" | jq '.files[0].tensors[] | select(.name=="model.layers.2.mlp.up_proj.weight") | .offset')
printf '\x55' | dd of="$T/m/model.safetensors" bs=1 seek=$((off + 1001)) conv=notrunc 2>/dev/null
(cd "$T" && "$V" check m.json > out 2> err); rc=$?
grep -q "model.safetensors: FAILED (sha256 mismatch in tensor data: 'model.layers.2.mlp.up_proj.weight')" "$T/out" && [ $rc = 1 ] \
  && pass "check names the changed tensor" || fail "check names the changed tensor" "exit $rc: $(grep FAILED "$T/out")"
d3=$("$V" manifest "$T/m/model.safetensors" | jq -r '.models[0].digest')
[ "$d3" != "$d1" ] && pass "digest changes with one byte" || fail "digest changes with one byte" "same digest"
cp "$M/hf/stories260K-llama/model.safetensors" "$T/m/model.safetensors"
truncate -s -100 "$T/m/pytorch_model.bin"
(cd "$T" && "$V" check m.json > out 2>&1); rc=$?
grep -q "pytorch_model.bin: FAILED (truncated" "$T/out" && [ $rc = 1 ] && pass "check truncation" || fail "check truncation" "$(grep FAILED "$T/out")"
cp "$M/hf/stories260K-llama/pytorch_model.bin" "$T/m/"
mv "$T/m/config.json" "$T/m/config.json.bak"
(cd "$T" && "$V" check -q m.json > out 2>&1); rc=$?
grep -q "m/config.json: FAILED (missing)" "$T/out" && grep -q "m/config.json.bak: FAILED (extra file" "$T/out" && [ $rc = 1 ] \
  && pass "check renamed file" || fail "check renamed file" "$(cat "$T/out")"
mv "$T/m/config.json.bak" "$T/m/config.json"; echo hi > "$T/m/notes.txt"
(cd "$T" && "$V" check -q m.json > out 2>&1); rc=$?
[ "$(grep -c ': FAILED (' "$T/out")" = 1 ] && grep -q "m/notes.txt: FAILED (extra file" "$T/out" && pass "check extra file" || fail "check extra file" "$(cat "$T/out")"
rm "$T/m/notes.txt"
"$V" check --dir "$T" --json "$T/m.json" > "$T/o" 2>/dev/null; rc=$?
[ $rc = 0 ] && [ "$(jq -c '[.lowbit,.tool,.summary.ok,.summary.failed]' "$T/o")" = '[1,"verify",6,0]' ] && pass "check --dir --json" || fail "check --dir --json" "exit $rc $(head -c 200 "$T/o")"

# sha256sum lists, as mirrors publish them
(cd "$T" && sha256sum m/*.json m/model.safetensors > SUMS && "$V" check --sha256 SUMS > out 2>&1); rc=$?
[ $rc = 0 ] && [ "$(grep -c ': OK$' "$T/out")" = 4 ] && pass "check --sha256 OK" || fail "check --sha256 OK" "$(cat "$T/out")"
printf '\x00' | dd of="$T/m/config.json" bs=1 seek=3 conv=notrunc 2>/dev/null
(cd "$T" && "$V" check --sha256 SUMS > out 2>&1); rc=$?
grep -q "m/config.json: FAILED (sha256 mismatch)" "$T/out" && [ $rc = 1 ] && pass "check --sha256 mismatch" || fail "check --sha256 mismatch" "$(cat "$T/out")"
echo "not a sums file" > "$T/bad.sums"
expect_exit "check --sha256 malformed list" 4 "not a sha256sum line" "$V" check --sha256 "$T/bad.sums"
echo '{"hello": 1}' > "$T/bad.json"
expect_exit "check not a manifest" 4 "not a lowbit manifest" "$V" check "$T/bad.json"
expect_exit "check missing manifest" 3 "cannot open" "$V" check "$T/none.json"
expect_exit "verify unknown command" 2 "unknown command 'frob'" "$V" frob
expect_exit "manifest missing path" 3 "cannot open" "$V" manifest "$T/none"

# Ed25519 signatures
openssl genpkey -algorithm ed25519 -out "$T/k.pem" 2>/dev/null && openssl pkey -in "$T/k.pem" -pubout -out "$T/pub.pem"
openssl genpkey -algorithm ed25519 -out "$T/k2.pem" 2>/dev/null && openssl pkey -in "$T/k2.pem" -pubout -out "$T/pub2.pem"
cp "$M/hf/stories260K-llama/config.json" "$T/m/config.json"
expect_exit "sign manifest" 0 "" "$V" sign --key "$T/k.pem" "$T/m.json"
[ -f "$T/m.json.sig" ] && head -1 "$T/m.json.sig" | grep -q '^lowbit-signature 1 ed25519$' && pass "signature file written" || fail "signature file written" "missing"
expect_exit "check --pubkey good signature" 0 "" "$V" check -q --dir "$T" --pubkey "$T/pub.pem" "$T/m.json"
expect_exit "check --pubkey other key" 1 "another key" "$V" check --dir "$T" --pubkey "$T/pub2.pem" "$T/m.json"
printf ' ' >> "$T/m.json"   # any byte changes the signature
expect_exit "check --pubkey tampered manifest" 1 "does not match the manifest" "$V" check --dir "$T" --pubkey "$T/pub.pem" "$T/m.json"
expect_exit "sign refuses to overwrite" 2 "already exists" "$V" sign --key "$T/k.pem" "$T/m.json"
expect_exit "sign with a public key" 4 "not a PEM private key" "$V" sign -f --key "$T/pub.pem" "$T/m.json"
