#!/usr/bin/env bash
# Everything CI does: install what is missing, build, run the whole suite.
#   bash scripts/test.sh            (add ASAN=1 to also run the suite under ASan+UBSan)
set -eu
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# aarch64 and i386 toolchains for the suite's cross run under qemu (tests/cli/cross_quick.sh);
# without them those tests are skipped with the reason
bash scripts/setup.sh --cross aarch64 i386 || echo "test.sh: cross toolchains not installed; the cross tests will say SKIP" >&2
make -j2 all tests
make test
if [ "${ASAN:-0}" = 1 ]; then make -j2 asan; fi
