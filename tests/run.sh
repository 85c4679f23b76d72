#!/usr/bin/env bash
# Run the whole lowbit test suite; ends with "N passed, N failed, N skipped".
# Each test program / script prints PASS/FAIL/SKIP lines (tests/unit/tap.h, tests/cli/lib.sh);
# a program that dies or exits non-zero without saying FAIL counts as one failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}; BIN=${BIN:-bin}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
case $BIN in /*) ;; *) BIN=$root/$BIN ;; esac
export LOWBIT_BIN="$BIN" LOWBIT_BUILD="$BUILD" LOWBIT_ROOT="$root"
if [ -z "${LOWBIT_SHARED:-}" ]; then
  if [ -f "$root/../shared/models/README.md" ]; then LOWBIT_SHARED=$(cd "$root/../shared" && pwd)
  else LOWBIT_SHARED=""; fi
fi
export LOWBIT_SHARED
ref=${LOWBIT_LLAMA_REF:-$root/.cache/llama-ref}
export LOWBIT_LLAMA_REF="$ref"
work=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
export LOWBIT_TMP="$work"
filter=${1:-}

pass=0 fail=0 skip=0
log="$work/all.log"
: > "$log"
run_one() {  # name, command...
  local name=$1; shift
  case "$name" in *"$filter"*) ;; *) return ;; esac
  local out="$work/out.$$" rc t0
  t0=$(date +%s.%N)
  ( cd "$work" && "$@" ) > "$out" 2> "$out.err"; rc=$?
  cat "$out" >> "$log"
  local p f s
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
  grep -E '^(FAIL|SKIP) ' "$out"
  grep -E '^(INFO|TABLE)' "$out" | sed 's/^/  /'
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited with status $rc"; sed 's/^/    /' "$out.err" | tail -20; f=1
  elif [ "$f" -gt 0 ]; then
    sed 's/^/    /' "$out.err" | tail -20
  fi
  [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ] && { echo "FAIL $name: ran no test"; f=1; }
  echo "-- $name: $p passed, $f failed, $s skipped ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

[ -n "$LOWBIT_SHARED" ] || echo "SKIP-NOTE: ../shared not found: tests that need ../shared/models or ../shared/pickles are skipped"

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for r in "$BUILD"/tests/replay_*; do
  [ -x "$r" ] || continue
  n=$(basename "$r"); n=${n#replay_fuzz_}
  run_one "fuzz-replay-$n" "$r" "$root/tests/fuzz/corpus/$n"
done
for s in tests/cli/*.sh tests/interop/*.sh; do
  [ -f "$s" ] || continue
  case "$s" in */lib.sh) continue ;; esac
  # under emulation (tests/cross.sh): no x86-64 llama.cpp, and no host toolchain to test
  if [ -n "${LOWBIT_CROSS:-}" ]; then
    case "$s" in
      tests/interop/*|*/build_warnings.sh|*/install.sh|*/simd_cross.sh)
        n=$(basename "$s" .sh)
        case "$n" in *"$filter"*) ;; *) continue ;; esac
        echo "SKIP $n: not run on $LOWBIT_CROSS (needs x86-64 llama.cpp or the host toolchain)"
        skip=$((skip + 1)); continue ;;
    esac
    n=$(basename "$s" .sh)
    case " ${LOWBIT_CROSS_SKIP:-} " in *" $n "*)
      case "$n" in *"$filter"*) ;; *) continue ;; esac
      echo "SKIP $n: left out of the quick run on $LOWBIT_CROSS (make check-cross runs it)"
      skip=$((skip + 1)); continue ;;
    esac
  fi
  run_one "$(basename "$s" .sh)" bash "$root/$s"
done

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
