# tests/cli/lib.sh: helpers for shell tests. Source it; each `t_*` prints PASS/FAIL lines.
#   LOWBIT_BIN, LOWBIT_SHARED, LOWBIT_TMP are set by tests/run.sh.
set -u
B=${LOWBIT_BIN:?run through tests/run.sh}
S=${LOWBIT_SHARED:-}
M=${S:+$S/models}
T=$(mktemp -d "${LOWBIT_TMP:-/tmp}/cli.XXXXXX")

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
# need_shared NAME FILE...: true if every ../shared file exists; otherwise prints SKIP naming them
need_shared() {
  local name=$1; shift
  if [ -z "$S" ]; then skip "$name" "needs ../shared ($*)"; return 1; fi
  local f; for f in "$@"; do [ -e "$S/$f" ] || { skip "$name" "needs ../shared/$f"; return 1; }; done
  return 0
}
# expect_exit NAME CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN
# (extended regex; empty = anything), with stderr a single line when CODE is not 0 or 2.
expect_exit() {
  local name=$1 code=$2 pat=$3; shift 3
  "$@" > "$T/out" 2> "$T/err"; local rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$name" "exit $rc, want $code; stderr: $(head -c 300 "$T/err")"; return 1; fi
  if [ -n "$pat" ] && ! grep -Eq -- "$pat" "$T/err"; then fail "$name" "stderr does not match /$pat/: $(head -c 300 "$T/err")"; return 1; fi
  # one line, except usage errors, which add the short usage after it
  if [ "$code" -ne 0 ] && [ "$code" -ne 2 ] && [ "$(wc -l < "$T/err")" -ne 1 ]; then fail "$name" "want one line on stderr, got $(wc -l < "$T/err"): $(head -c 300 "$T/err")"; return 1; fi
  pass "$name"
}
