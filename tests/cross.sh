#!/usr/bin/env bash
# tests/cross.sh ARCH (make check-cross ARCH=...): the unit and CLI tests on another
# architecture under qemu-user. Builds the tree with Debian's cross compiler
# (make CROSS=<triplet>-), puts a small wrapper beside every program that runs it under
# qemu-<arch>-static (no binfmt needed), and runs tests/run.sh on the wrappers. The interop
# tests (they need x86-64 llama.cpp) and the host-toolchain tests are skipped with a reason.
# ARCH: aarch64 armhf riscv64 i386 s390x.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
arch=${1:-${ARCH:-}}
case $arch in
  aarch64) triplet=aarch64-linux-gnu; q=aarch64 ;;
  armhf)   triplet=arm-linux-gnueabihf; q=arm ;;
  riscv64) triplet=riscv64-linux-gnu; q=riscv64 ;;
  i386)    triplet=i686-linux-gnu; q=i386 ;;
  s390x)   triplet=s390x-linux-gnu; q=s390x ;;
  *) echo "usage: tests/cross.sh aarch64|armhf|riscv64|i386|s390x" >&2; exit 2 ;;
esac
qemu=$(command -v qemu-$q-static || command -v qemu-$q || true)
multiarch=${triplet/#i686/i386}
# exit 3: this machine is not set up for ARCH (tests/cli/cross_quick.sh reports it as SKIP)
if ! command -v $triplet-gcc > /dev/null || [ -z "$qemu" ] || [ ! -f /usr/lib/$multiarch/pkgconfig/libarchive.pc ]; then
  echo "cross $arch: needs gcc-$triplet, qemu-user-static and the :${arch} -dev packages (bash scripts/setup.sh --cross $arch)" >&2
  exit 3
fi
xb=${CROSS_BUILD:-$root/build-$triplet}
make -s -j"$(nproc)" CROSS=$triplet- BUILD="$xb" BIN="$xb/bin" tests || exit 1
w="$xb/emu"
rm -rf "$w"
for f in "$xb"/bin/* "$xb"/tests/test_* "$xb"/tests/replay_* "$xb"/tests/tools/*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  rel=${f#"$xb"/}
  mkdir -p "$w/$(dirname "$rel")"
  printf '#!/bin/sh\nexec %s -L / %s "$@"\n' "$qemu" "$f" > "$w/$rel"
  chmod +x "$w/$rel"
done
# emulated runs are 10-50x slower: fewer rows in the kernel test
export LOWBIT_SIMD_ROWS=${LOWBIT_SIMD_ROWS:-32}
echo "cross $arch: $($triplet-gcc --version | head -1), $(basename "$qemu")"
# CROSS_QUICK=1 (the suite's own cross run, tests/cli/cross_quick.sh): leave out the
# slowest CLI tests, which exercise the same code as the ones kept (13 of 16 min on i386)
[ -n "${CROSS_QUICK:-}" ] && export LOWBIT_CROSS_SKIP="quantize quantize_identity derived convert_quant"
LOWBIT_CROSS=$arch BUILD="$w" BIN="$w/bin" bash tests/run.sh "${FILTER:-}"
