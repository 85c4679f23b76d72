#!/usr/bin/env bash
# The whole tree builds warning-free with gcc and with clang (-Wall -Wextra -Werror).
. "$(dirname "$0")/lib.sh"
cd "$LOWBIT_ROOT"
for cc in gcc clang; do
  if ! command -v $cc >/dev/null; then skip "build warning-free with $cc" "$cc not installed"; continue; fi
  d="$T/build-$cc"
  if env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -j2 CC=$cc BUILD="$d" BIN="$d/bin" CFLAGS=-Werror all tests > "$T/$cc.log" 2>&1; then
    pass "build warning-free with $cc"
  else
    fail "build warning-free with $cc" "$(grep -m3 -E 'warning:|error:' "$T/$cc.log")"
  fi
done
