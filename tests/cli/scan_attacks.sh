# tests/cli/scan_attacks.sh: lowbit-verify scan on lowbit's own attack corpus (tests/data/scan,
# written by tests/data/scan/make.py; EXPECTED.tsv says what each file must give). Every class of
# issue 12 has files here: pickles hidden as hex/base64/latin-1/compressed data, streams that break
# after a dangerous global, zip members flagged encrypted or with unsafe names, wrong CRCs or
# duplicate names, danger-table gaps and module-object tricks, containers in containers, what
# cannot be scanned, benign controls, and picklescan's own test files rebuilt from their recipes.
. "$(dirname "$0")/lib.sh"
D=$(cd "$(dirname "$0")/../data/scan" && pwd)
V=$B/lowbit-verify
n=0 bad=0
while IFS=$'\t' read -r file verdict must cls note; do
  case $file in '#'*|'') continue ;; esac
  n=$((n + 1))
  "$V" scan "$D/$file" > "$T/o" 2> "$T/e"; rc=$?
  got=$(tail -1 "$T/o" | sed -E 's/^.*: ([A-Z]+) \(.*$/\1/' | tr 'A-Z' 'a-z')
  want_rc=1; [ "$verdict" = clean ] && want_rc=0
  why=""
  [ "$got" = "$verdict" ] || why="verdict $got, want $verdict"
  [ "$rc" = "$want_rc" ] || why="$why; exit $rc, want $want_rc"
  if [ "$must" != - ]; then
    id=${must%%:*}
    if [ "$id" = "$must" ]; then
      grep -q " $id: " "$T/o" || why="$why; no $id finding"
    else
      item=${must#*:}
      grep " $id: " "$T/o" | grep -qF "($item, " || why="$why; no $id for $item"
    fi
  fi
  if [ -n "$why" ]; then bad=$((bad + 1)); fail "scan attack $file ($cls: $note)" "$why"; else pass "scan attack $file ($cls)"; fi
done < "$D/EXPECTED.tsv"
[ "$n" -ge 100 ] && pass "scan attacks: $n files listed" || fail "scan attacks: corpus" "only $n files in EXPECTED.tsv"

# the same files as one JSON document: verdicts agree with the text output, summary adds up
"$V" scan --json "$D" > "$T/j" 2> /dev/null
{
  mal=$(grep -c '"verdict":[[:space:]]*"malicious"' "$T/j")
  want=$(awk -F'\t' '!/^#/ && $2 == "malicious"' "$D/EXPECTED.tsv" | wc -l)
  [ "$mal" = "$want" ] && pass "scan attacks --json: $mal malicious" || fail "scan attacks --json" "$mal malicious, want $want"
  grep -q '"unscannable":[[:space:]]*[1-9]' "$T/j" && pass "scan attacks --json: summary counts unscannable" \
    || fail "scan attacks --json: summary" "no unscannable count: $(grep -A8 '"summary"' "$T/j" | tr -d '\n\t')"
}

# the figures a user reads: the nested pickle's decode chain is named, the frame overrun is its own finding
"$V" scan "$D/nested_hex_gzip_b64.pkl" > "$T/o" 2>&1
grep -q "decoded from base64, then gzip, then hex" "$T/o" && pass "scan: the decode chain is in the message" \
  || fail "scan: decode chain" "$(head -3 "$T/o")"
"$V" scan "$D/frame_overrun.pkl" > "$T/o" 2>&1
grep -q "ERROR PICKLE_FRAME_OVERRUN: .*offset 2)" "$T/o" && pass "scan: PICKLE_FRAME_OVERRUN at the FRAME opcode" \
  || fail "scan: frame overrun" "$(cat "$T/o")"
"$V" scan "$D/zip_traversal.zip" > "$T/o" 2>&1
grep -q "MALICIOUS ZIP_UNSAFE_NAME: path traversal" "$T/o" && pass "scan: ZIP_UNSAFE_NAME says why" \
  || fail "scan: unsafe name" "$(cat "$T/o")"

rm -rf "$T"
