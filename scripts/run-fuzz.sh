#!/bin/sh
# Runs libFuzzer harnesses for a time budget each.
# usage: scripts/run-fuzz.sh SECONDS build/fuzz/fuzz_NAME...
# Each harness runs with its seed corpus tests/fuzz/corpus_NAME/ (read-only;
# new inputs go to a scratch dir), prints its executions, and the script
# fails if any harness finds a crash (the crashing input is kept in
# build/fuzz/crashes/).
set -u
secs="$1"; shift
status=0
# FUZZ_SEED=N: the same mutation sequence every time (make test uses 1, so a
# CI run is reproducible); unset (make fuzz): a new seed per run, to explore
seedopt=""
[ -n "${FUZZ_SEED:-}" ] && seedopt="-seed=$FUZZ_SEED"
mkdir -p build/fuzz/crashes
for bin in "$@"; do
    name=$(basename "$bin"); name=${name#fuzz_}
    seeds="tests/fuzz/corpus_$name"
    work=$(mktemp -d)
    [ -d "$seeds" ] || seeds=""
    log="build/fuzz/$name.log"
    ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 $seedopt \
        -artifact_prefix=build/fuzz/crashes/"$name"- -print_final_stats=1 "$work" $seeds >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        echo "fuzz $name: FAILED after ${execs:-?} executions (see $log)"
        tail -30 "$log"
        status=1
    else
        echo "fuzz $name: ${execs:-?} executions in ${secs}s, no crash"
    fi
    rm -rf "$work"
done
exit $status
