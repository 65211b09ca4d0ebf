#!/bin/sh
# Install what floe needs to build and test, if it is missing: Debian packages
# through apt-get (as root, or with sudo), the tree-sitter-python grammar and
# apache-arrow from npm. Idempotent and quiet when everything is there.
set -eu
cd "$(dirname "$0")/.."

DEBS="build-essential clang libclang-rt-14-dev pkg-config libuv1-dev libjansson-dev libsqlite3-dev
      libtree-sitter-dev libzmq3-dev libssl-dev python3-dev python3-numpy python3-pandas python3-scipy python3-ipython
      python3-matplotlib python3-matplotlib-inline python3-nbclient python3-ipykernel python3-nbformat
      python3-pytest python3-jupyter-client python3-yaml jupyter-nbconvert valgrind nodejs npm
      python3-sympy python3-sklearn python3-statsmodels python3-patsy python3-seaborn python3-hypothesis
      python3-notebook chromium python3-dask python3-distributed"

missing=""
for p in $DEBS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        # nodejs/npm may come from elsewhere (e.g. nodesource): accept any node+npm on PATH
        case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "deps: installing Debian packages:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing </dev/null >/tmp/floe-apt.log 2>&1 || {
        echo "deps: apt-get install failed; see /tmp/floe-apt.log" >&2; tail -20 /tmp/floe-apt.log >&2; exit 1; }
fi
scripts/fetch-grammar.sh 0.23.6
if [ ! -f third_party/node_modules/apache-arrow/package.json ]; then
    echo "deps: installing apache-arrow (npm)"
    (cd third_party && npm install --no-audit --no-fund --loglevel=error apache-arrow@21.1.0 >/dev/null 2>&1) || {
        echo "deps: npm install apache-arrow failed (cross-implementation Arrow tests will be skipped)" >&2; }
fi
# the browser test of the Jupyter kernel (tests/e2e/test_jupyter_browser.py) runs
# when chromium is installed (apt-get install chromium); it drives it with
# puppeteer-core, kept in build/browser
if command -v chromium >/dev/null && [ ! -f build/browser/node_modules/puppeteer-core/package.json ]; then
    echo "deps: installing puppeteer-core (npm) for the browser test"
    mkdir -p build/browser
    (cd build/browser && npm install --no-audit --no-fund --loglevel=error puppeteer-core@21 >/dev/null 2>&1) || {
        echo "deps: npm install puppeteer-core failed (the browser test will be skipped)" >&2; }
fi
exit 0
