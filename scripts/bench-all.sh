#!/bin/sh
# `make bench`: every benchmark under bench/, one after the other (the
# machine has few cores: nothing runs concurrently), their output collected
# in bench/results/<date>.md with the machine they ran on, and the Gantt
# charts of the synthetic workload copied beside it.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
export FLOE_PYTHON=${FLOE_PYTHON:-$PY}
day=$(date -u +%Y-%m-%d)
out=bench/results/$day.md
mkdir -p bench/results
tmp=$(mktemp)
{
    echo "# floe benchmarks, $day"
    echo
    echo "Machine: $($PY -c 'import sys; sys.path.insert(0, "bench"); import common; print(common.machine())')"
    echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$tmp"
run() {
    name=$1; shift
    [ -f "bench/$name.py" ] || return 0
    echo "bench: $name" >&2
    { echo; echo "## $name"; echo; echo '```'; } >>"$tmp"
    if ! $PY "bench/$name.py" "$@" 2>&1 | tee -a "$tmp"; then echo "(bench $name failed)" >>"$tmp"; fi
    echo '```' >>"$tmp"
}
run synthetic --rounds 3 --scale --out build/bench-synthetic
run ice
run overhead
run incremental
run scaling --svg bench/results/scaling.svg
run analysis
run policy
run realworld --suite generated
run realworld --suite public
run monolithic --rounds 1
cp build/bench-synthetic/gantt-*.svg bench/results/ 2>/dev/null || true
mv "$tmp" "$out"
echo "bench: wrote $out" >&2
