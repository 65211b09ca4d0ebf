#!/bin/sh
# Valgrind memcheck over a smoke run of every floe subcommand (issue 9): any
# invalid access or definite leak in floe's C code fails the script. The
# Python kernels are not under valgrind (they are exec'd, not traced).
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind: not installed, skipped"; exit 0; }
export FLOE_PYTHON=${FLOE_PYTHON:-/usr/bin/python3}
export FLOE_WARM=0   # a private zygote per run: nothing outlives the smoke test
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
vg() { valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 -q "$@"; }
nb=tests/notebooks/adv_mutation.ipynb
vg build/floe run "$nb" -o "$d/p.ipynb" -q --no-cache --mode parallel --trace "$d/t.json"
vg build/floe run "$nb" -o "$d/m.ipynb" -q --no-cache --mode monolithic
vg build/floe run "$nb" -o "$d/c.ipynb" -q --cache-dir "$d/cache" --mode serial
vg build/floe run "$nb" -o "$d/c.ipynb" -q --cache-dir "$d/cache" --mode serial   # restored
vg build/floe status "$nb" --cache-dir "$d/cache" >/dev/null
vg build/floe deps "$nb" --format json >/dev/null
vg build/floe trace "$d/t.json" -o "$d/t.svg" --summary >/dev/null
vg build/floe run "$nb" "$d/pm.ipynb" -q --no-cache -k python3 -p alpha 0.5 -r name x -y '{l: [1, 2.5]}' --report-mode
vg build/floe kernels "$nb" >/dev/null
s=0; vg build/floe run tests/notebooks/err_name.ipynb "$d/pe.ipynb" -q --no-cache --log-output 2>/dev/null || s=$?
[ "$s" = 1 ] || { echo "valgrind: unexpected status $s (papermill form)"; exit 1; }
s=0; vg build/floe run tests/notebooks/err_name.ipynb -o "$d/e.ipynb" -q --no-cache || s=$?
[ "$s" = 1 ] || { echo "valgrind: unexpected status $s"; exit 1; }
vg build/floe kernel install --prefix "$d/k" --python "$FLOE_PYTHON" >/dev/null
# the Jupyter kernel: a session through jupyter_client with floe under valgrind
for mode in isolated monolithic; do
    "$FLOE_PYTHON" scripts/valgrind-kernel.py "$d/k" "$(pwd)/build/floe" $mode || { echo "valgrind: floe kernel ($mode) failed"; exit 1; }
done
echo "valgrind: memcheck clean on run (3 modes, cache, papermill form), status, deps, trace, kernels, kernel install, kernel (isolated and monolithic)"
