#!/bin/sh
# Fetch the tree-sitter-python grammar sources (parser.c, scanner.c) from npm
# at the pinned version, and check its ABI against the installed runtime.
set -eu
cd "$(dirname "$0")/.."
ver="$1"
dir=third_party/node_modules/tree-sitter-python
mkdir -p third_party
[ -f third_party/package.json ] || echo '{"name":"floe-third-party","private":true}' > third_party/package.json
have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/package.json" 2>/dev/null | head -1 || true)
if [ "$have" != "$ver" ] || [ ! -f "$dir/src/parser.c" ]; then
    echo "deps: fetching tree-sitter-python@$ver (npm)"
    (cd third_party && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "tree-sitter-python@$ver" >/dev/null 2>&1) || {
        echo "deps: npm install tree-sitter-python@$ver failed" >&2; exit 1; }
fi
abi=$(sed -n 's/^#define LANGUAGE_VERSION \([0-9]*\).*/\1/p' "$dir/src/parser.c")
rt=$(sed -n 's/^#define TREE_SITTER_LANGUAGE_VERSION \([0-9]*\).*/\1/p' /usr/include/tree_sitter/api.h)
rtmin=$(sed -n 's/^#define TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION \([0-9]*\).*/\1/p' /usr/include/tree_sitter/api.h)
if [ -n "$rt" ] && { [ "$abi" -gt "$rt" ] || [ "$abi" -lt "${rtmin:-0}" ]; }; then
    echo "deps: tree-sitter-python $ver has grammar ABI $abi; libtree-sitter supports $rtmin..$rt" >&2
    exit 1
fi
