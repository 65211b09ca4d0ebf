"""Static analysis speed: `floe deps` on a 1000-cell notebook.

The cells are real Python: consecutive top-level statements of standard
library modules (/usr/lib/python3.11), grouped into cells of at least 6
lines, so the analyser sees defs, classes, imports, comprehensions and
decorators in realistic proportions. The notebook is analysed as a whole
(per-cell scope walk + the notebook graph), best of N runs, and compared
in the same run with `floe deps` on a one-cell notebook (process start,
reading and writing JSON), so the cost of the analysis itself is shown
apart. Target (issue 4): < 50 ms for 1000 cells.

Two workloads: notebook-sized cells (statements of at most 25 lines, a
few statements per cell: a few hundred bytes, like real notebooks' cells)
and large cells (whole classes), to show the cost per byte.

usage: bench/analysis.py [--cells N] [--runs N]
"""
import argparse
import ast
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

STDLIB = "/usr/lib/python3.11"
MODULES = ["argparse.py", "typing.py", "dataclasses.py", "collections/__init__.py", "enum.py",
           "functools.py", "pathlib.py", "statistics.py", "json/encoder.py", "csv.py",
           "textwrap.py", "fractions.py", "inspect.py", "ast.py", "datetime.py"]


def cells(n, max_lines):
    """n cells of consecutive top-level statements, each cell at least 4
    lines; statements longer than max_lines (whole classes, long defs)
    are skipped when max_lines is given, to get notebook-sized cells."""
    out = []
    while len(out) < n:
        for m in MODULES:
            path = os.path.join(STDLIB, m)
            if not os.path.exists(path):
                continue
            src = open(path, encoding="utf-8").read()
            lines = src.splitlines(keepends=True)
            cur = []
            for node in ast.parse(src).body:
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                if max_lines and node.end_lineno - start + 1 > max_lines:
                    continue
                cur.append("".join(lines[start - 1:node.end_lineno]))
                if sum(c.count("\n") for c in cur) >= 4:
                    out.append("".join(cur))
                    cur = []
                    if len(out) == n:
                        return out
    return out


def notebook(srcs):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i,
                       "metadata": {}, "outputs": [], "source": s} for i, s in enumerate(srcs)]}


def best(path, runs):
    """(best, median) of the whole command, (best, median) of the analysis
    as floe deps --stats reports it, and the last output."""
    times, inner = [], []
    for _ in range(runs):
        dt, p = common.floe(["deps", path, "--format", "json", "--stats"])
        times.append(dt)
        m = re.search(r"total ([0-9.]+) ms", p.stderr)
        inner.append(float(m.group(1)) / 1e3 if m else float("nan"))
    return min(times), common.median(times), min(inner), common.median(inner), p


def measure(name, srcs, runs):
    nbytes = sum(len(s.encode()) for s in srcs)
    with tempfile.TemporaryDirectory() as d:
        big = os.path.join(d, "big.ipynb")
        json.dump(notebook(srcs), open(big, "w"))
        b_best, b_med, a_best, a_med, p = best(big, runs)
    deps = json.loads(p.stdout)
    assert len(deps["cells"]) == len(srcs), (len(deps["cells"]), len(srcs))
    return [name, "%d" % len(srcs), "%.0f KiB" % (nbytes / 1024), "%d" % (nbytes / len(srcs)),
            "%d" % len(deps["edges"]), "%.1f / %.1f ms" % (a_best * 1e3, a_med * 1e3),
            "%.0f" % (a_best * 1e9 / nbytes), "%.1f / %.1f ms" % (b_best * 1e3, b_med * 1e3)], a_best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    rows = []
    row, typical = measure("notebook-sized cells (statements <= 25 lines)", cells(a.cells, 25), a.runs)
    rows.append(row)
    row, _ = measure("large cells (whole classes and defs)", cells(a.cells, 0), a.runs)
    rows.append(row)
    print("analysis = parsing and scope walk of every cell on all cores, then the notebook graph, as "
          "`floe deps --stats` times it; command = the whole `floe deps --format json` (process, reading "
          "the notebook, writing JSON). Best / median of %d runs; %d cores.\n" % (a.runs, os.cpu_count()))
    print(common.table(rows, ["workload", "cells", "source", "bytes/cell", "edges", "analysis",
                              "ns/byte", "command"]))
    verdict = "met" if typical < 0.050 else "MISSED"
    print("\ntarget: %d notebook-sized cells analysed in < 50 ms: %s (%.1f ms)" % (a.cells, verdict, typical * 1e3))
    print("machine: %s" % common.machine())


if __name__ == "__main__":
    main()
