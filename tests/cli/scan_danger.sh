# tests/cli/scan_danger.sh: the danger table of verify/scan_danger.c, entry by entry. Every module
# of bad_modules and every (module, name) of bad_names is written as a protocol 0 pickle (GLOBAL)
# and a protocol 4 one (STACK_GLOBAL), each must scan MALICIOUS naming that global; every entry
# must be listed in docs/pickle.md's danger table; allow-listed globals must stay info.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/verify/scan_danger.c doc=$root/docs/pickle.md
V=$B/lowbit-verify
# the C arrays, as "module name" lines
mods=$(sed -n '/^static const char \*const bad_modules\[\]/,/^};/p' "$src" | grep -o '"[^"]*"' | tr -d '"')
names=$(sed -n '/^static const struct { const char \*module, \*name; } bad_names\[\]/,/^};/p' "$src" \
  | grep -o '{ "[^"]*", "[^"]*" }' | sed -E 's/\{ "([^"]*)", "([^"]*)" \}/\1 \2/')
allowed=$(sed -n '/extra_allowed\[\]/,/^};/p' "$src" | grep -o '{ "[^"]*", "[^"]*" }' | sed -E 's/\{ "([^"]*)", "([^"]*)" \}/\1 \2/')
nm=$(echo "$mods" | wc -w); nn=$(echo "$names" | wc -l)
[ "$nm" -gt 100 ] && [ "$nn" -gt 40 ] && pass "danger table: $nm modules, $nn names read from the source" \
  || fail "danger table: parse" "$nm modules, $nn names"
p0() { printf 'c%s\n%s\n(S'"'"'x'"'"'\ntR.' "$1" "$2" > "$3"; }
p4() { printf '\x80\x04\x8c'"$(printf '\\x%02x' ${#1})"'%s\x94\x8c'"$(printf '\\x%02x' ${#2})"'%s\x94\x93\x94\x8c\x01x\x85R.' "$1" "$2" > "$3"; }
check() {  # module name want-severity
  local m=$1 n=$2 want=$3 k bad=""
  for k in 0 4; do
    p$k "$m" "$n" "$T/p.pkl"
    "$V" scan "$T/p.pkl" > "$T/o" 2>&1
    grep -qF "$want PICKLE_GLOBAL: " "$T/o" && grep -qF "(global '$m.$n', offset" "$T/o" || bad="$bad protocol $k: $(head -1 "$T/o")"
  done
  echo "$bad"
}
miss="" undoc=""
for m in $mods; do
  r=$(check "$m" run MALICIOUS); [ -z "$r" ] || miss="$miss [$m.run:$r]"
  grep -qF "\`$m\`" "$doc" || undoc="$undoc $m"
done
while read -r m n; do
  [ -n "$m" ] || continue
  r=$(check "$m" "$n" MALICIOUS); [ -z "$r" ] || miss="$miss [$m.$n:$r]"
  grep -qF "$n" "$doc" || undoc="$undoc $m.$n"
done <<< "$names"
[ -z "$miss" ] && pass "danger table: every entry scans malicious (protocols 0 and 4)" || fail "danger table: not malicious" "$miss"
[ -z "$undoc" ] && pass "danger table: every entry is in docs/pickle.md" || fail "danger table: undocumented" "$undoc"
okk=""
while read -r m n; do
  [ -n "$m" ] || continue
  r=$(check "$m" "$n" INFO); [ -z "$r" ] || okk="$okk [$m.$n:$r]"
done <<< "$allowed"
[ -z "$okk" ] && pass "danger table: the extra allow-list stays info" || fail "danger table: allow-list" "$okk"
# what the table does not list stays suspicious, not malicious (no false alarm on honest classes)
r=$(check __main__ Net SUSPICIOUS); [ -z "$r" ] && pass "danger table: an unknown class is suspicious" || fail "danger table: unknown class" "$r"
r=$(check torch Size INFO); [ -z "$r" ] && pass "danger table: torch.Size is info, not a module object" || fail "danger table: torch.Size" "$r"
rm -rf "$T"
