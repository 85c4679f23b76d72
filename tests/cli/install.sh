#!/usr/bin/env bash
# make install PREFIX=... DESTDIR=... puts working tools and docs in place.
. "$(dirname "$0")/lib.sh"
cd "$LOWBIT_ROOT"
if make -s install BUILD="${LOWBIT_BUILD}" BIN="${LOWBIT_BIN}" PREFIX=/opt/lb DESTDIR="$T/root" > "$T/log" 2>&1; then
  ok=1
  for t in lowbit-inspect lowbit-convert; do
    v=$("$T/root/opt/lb/bin/$t" --version 2>&1) || ok=0
    case "$v" in "$t "[0-9]*) ;; *) ok=0 ;; esac
  done
  [ -f "$T/root/opt/lb/share/doc/lowbit/README.md" ] || ok=0
  [ $ok = 1 ] && pass "make install DESTDIR PREFIX" || fail "make install DESTDIR PREFIX" "tools or docs missing: $(ls -R "$T/root" | head)"
else
  fail "make install DESTDIR PREFIX" "$(tail -3 "$T/log")"
fi
