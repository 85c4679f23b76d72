#!/usr/bin/env bash
# The suite's own run on other architectures (issue 13): tests/cross.sh with CROSS_QUICK=1
# for aarch64 and i386 under qemu-user, when their toolchains are installed (scripts/test.sh
# installs them with scripts/setup.sh --cross aarch64 i386). One PASS per test program or
# script that passed there; every failure there is a FAIL here. `make check-cross` runs
# everything (docs/building.md).
. "$(dirname "$0")/lib.sh"
root=${LOWBIT_ROOT:?}
[ -z "${LOWBIT_CROSS:-}" ] || { skip "cross quick" "already under emulation"; exit 0; }
for arch in aarch64 i386; do
  t=$arch; [ $arch = aarch64 ] && t=aarch64-linux-gnu; [ $arch = i386 ] && t=i686-linux-gnu
  CROSS_QUICK=1 CROSS_BUILD="$T/build-$t" bash "$root/tests/cross.sh" $arch > "$T/$arch.log" 2>&1; rc=$?
  if [ $rc = 3 ]; then skip "cross $arch" "$(head -1 "$T/$arch.log")"; continue; fi
  sed -n "s/^-- \([^:]*\): \([0-9]*\) passed, 0 failed, \([0-9]*\) skipped.*/PASS $arch: \1 (\2 passed, \3 skipped)/p" "$T/$arch.log"
  sed -n "s/^FAIL /FAIL $arch: /p" "$T/$arch.log"
  last=$(tail -1 "$T/$arch.log")
  echo "INFO cross $arch: $last"
  case "$last" in *" passed, 0 failed"*) [ $rc = 0 ] || fail "cross $arch" "exit $rc" ;;
    *) fail "cross $arch run" "$(tail -3 "$T/$arch.log" | tr '\n' ' ')" ;; esac
done
