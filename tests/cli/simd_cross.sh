#!/usr/bin/env bash
# simd_cross.sh: the kernels on aarch64, under qemu-user: test_simd built with Debian's
# cross compiler runs there (the NEON path against the scalar one, every kernel, the real
# rows), and its scalar digests must equal this machine's: the same input rows give the
# same bytes on both architectures. Rows per real tensor are cut to 32 (LOWBIT_SIMD_ROWS)
# so the emulated run stays short.
. "$(dirname "$0")/lib.sh"
root=${LOWBIT_ROOT:?}
cc=aarch64-linux-gnu-gcc
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if ! command -v $cc > /dev/null || [ -z "$qemu" ]; then
  skip "simd-cross aarch64" "needs gcc-aarch64-linux-gnu and qemu-user-static (scripts/setup.sh installs them)"
  exit 0
fi
srcs="formats/cpu.c formats/dtype.c formats/error.c quantize/qtypes.c quantize/q_*.c quantize/kquants.c
      quantize/kquants_rows.c quantize/qdriver.c quantize/metrics.c quantize/simd.c"
# shellcheck disable=SC2086
if ! (cd "$root" && $cc -std=c11 -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Wall -Wextra -Werror -ffp-contract=off \
      -fno-fast-math -O2 -Iformats -Iquantize -Itests/unit -static -o "$T/test_simd.aarch64" tests/unit/test_simd.c \
      $srcs -lm -lpthread) 2> "$T/cc.err"; then
  fail "simd-cross aarch64 build" "$(head -c 400 "$T/cc.err")"; exit 0
fi
pass "simd-cross aarch64 build: test_simd with $cc, warning-free"
export LOWBIT_SIMD_ROWS=32
"$LOWBIT_BUILD/tests/test_simd" > "$T/x86.out" 2>&1 &   # both at once: two cores
"$qemu" "$T/test_simd.aarch64" > "$T/arm.out" 2>&1; rc=$?
wait
# every case of the emulated run, as a case of this script
sed -n 's/^\(PASS\|FAIL\|SKIP\) /\1 aarch64: /p' "$T/arm.out"
[ "$rc" -eq 0 ] || fail "simd-cross aarch64 run" "exit $rc: $(tail -c 300 "$T/arm.out")"
grep -q '^PASS simd neon ' "$T/arm.out" || fail "simd-cross neon" "the NEON path did not run"
grep '^INFO digest' "$T/x86.out" > "$T/x86.dig"; grep '^INFO digest' "$T/arm.out" > "$T/arm.dig"
n=$(wc -l < "$T/x86.dig")
if [ "$n" -gt 20 ] && cmp -s "$T/x86.dig" "$T/arm.dig"; then
  pass "simd-cross digests: $n kernel cases give the same bytes on aarch64 as on x86-64"
else
  fail "simd-cross digests" "$n cases; differ: $(diff "$T/x86.dig" "$T/arm.dig" | head -4 | tr '\n' ' ')"
fi
