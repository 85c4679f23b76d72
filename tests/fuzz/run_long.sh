#!/bin/bash
# run_long.sh: the fuzz campaign (`make fuzz-long`). Runs each libFuzzer target in build-fuzz/
# (ASan + UBSan, built by `make fuzz`) one after the other, seeded with tests/fuzz/corpus/<name>,
# until FUZZ_RUNS executions or FUZZ_TIME seconds, whichever comes first; then minimises the
# new inputs of the run that add coverage into tests/fuzz/corpus/<name> (libFuzzer -merge=1),
# and appends one line per target to build-fuzz/fuzz-long.tsv:
#   target  execs  seconds  execs/s  edges  features  corpus_before  corpus_after  crashes
# Crashing inputs are kept in build-fuzz/artifacts/<name>/; the script exits 1 if there is one.
#
#   FUZZ_TARGETS="gguf zip"  (default: every build-fuzz/fuzz_* binary)
#   FUZZ_RUNS=10000000       executions per target
#   FUZZ_TIME=3600           seconds per target (cap)
#   FUZZ_JOBS=1              parallel fuzzing processes per target (libFuzzer -fork)
#   FUZZ_MERGE=1             0: leave tests/fuzz/corpus alone
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 3
runs=${FUZZ_RUNS:-10000000}
secs=${FUZZ_TIME:-3600}
jobs=${FUZZ_JOBS:-1}
merge=${FUZZ_MERGE:-1}
log=build-fuzz/fuzz-long.tsv
targets=${FUZZ_TARGETS:-$(for f in build-fuzz/fuzz_*; do [ -x "$f" ] && basename "$f" | sed 's/^fuzz_//'; done)}
[ -n "$targets" ] || { echo "run_long.sh: no targets in build-fuzz/ (run make fuzz first)" >&2; exit 2; }
[ -f "$log" ] || printf 'target\texecs\tseconds\texecs_per_s\tedges\tfeatures\tcorpus_before\tcorpus_after\tcrashes\n' > "$log"
status=0
for t in $targets; do
  bin=build-fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "run_long.sh: $bin missing" >&2; status=2; continue; }
  seeds=tests/fuzz/corpus/$t work=build-fuzz/corpus-long/$t art=build-fuzz/artifacts/$t
  mkdir -p "$seeds" "$work" "$art"
  before=$(find "$seeds" -type f | wc -l)
  start=$(date +%s)
  if [ "$jobs" -gt 1 ]; then par="-fork=$jobs -ignore_crashes=1"; else par=""; fi
  # shellcheck disable=SC2086
  "$bin" -runs="$runs" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
    -timeout=10 -artifact_prefix="$art/" $par "$work" "$seeds" > "build-fuzz/fuzz-long-$t.log" 2>&1
  rc=$?
  end=$(date +%s)
  s=$((end - start)); [ "$s" -gt 0 ] || s=1
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz-long-$t.log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "build-fuzz/fuzz-long-$t.log" | tail -1)
  [ -n "$execs" ] || execs=$(echo "$last" | sed -E 's/^#([0-9]+).*/\1/')
  edges=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
  feats=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
  crashes=$(find "$art" -type f | wc -l)
  [ "$crashes" -eq 0 ] && [ "$rc" -ne 0 ] && crashes="rc$rc"
  if [ "$merge" = 1 ]; then
    # Keep the named seeds; add only the inputs of this run that reach new coverage.
    "$bin" -merge=1 -rss_limit_mb=2048 -timeout=10 "$seeds" "$work" > "build-fuzz/fuzz-merge-$t.log" 2>&1
  fi
  after=$(find "$seeds" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" "$s" "$(( ${execs:-0} / s ))" \
    "${edges:-?}" "${feats:-?}" "$before" "$after" "$crashes" | tee -a "$log"
  [ "$crashes" = 0 ] || status=1
done
exit $status
