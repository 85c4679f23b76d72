#!/usr/bin/env bash
# Everything CI does: install what is missing, build, run the whole suite.
#   bash scripts/test.sh            (add ASAN=1 to also run the suite under ASan+UBSan)
set -eu
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j2 all tests
make test
if [ "${ASAN:-0}" = 1 ]; then make -j2 asan; fi
