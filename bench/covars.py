#!/usr/bin/env python3
"""The cost of co-variable detection (python/floe_kernel/covars.py) per cell.

Runs floe (parallel, -j 2, no cache) with --trace on each notebook given
(default: the corpus tests/notebooks, tests/realworld, and a generated
notebook with a large frame and large Python containers) and reads the
kernels' `covars` trace events: the footprint walks and the grouping, in
microseconds, for the cells where something changed (a cell that changed
nothing skips detection). Writing a group artifact is reported apart
(`write`), as it replaces the per-name writes it stands for.

    /usr/bin/python3 bench/covars.py [NB.ipynb ...]

With --public, reads the traces of the real-notebook suite instead
(`FLOE_PUBLIC_TRACE=1 tests/public/run.py` writes them to
build/public/trace/<mode>/): per isolated mode, detection against the
cells' compute, and the re-runs: the NameError fallback's (a read the
prediction missed) and the others (files, random state, late writes), with
the compute of the attempts they discarded.

    /usr/bin/python3 bench/covars.py --public [TRACE_DIR]"""
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FLOE = os.environ.get("FLOE", os.path.join(ROOT, "build", "floe"))

LARGE = [
    "import numpy as np\nimport pandas as pd\nrng = np.random.default_rng(0)\n"
    "df = pd.DataFrame(rng.random((2_000_000, 10)), columns=list('abcdefghij'))",
    "s = df['a']\ntotal = float(s.sum())",
    "df['k'] = df['a'] * 2",
    "m = df[['a', 'b']].values\nview = m[:10]",
    "numbers = list(range(1_000_000))\nrows = [[i, i + 1] for i in range(100_000)]",
    "rows[0].append(-1)\nfirst = rows[0]",
    "table = {i: str(i) for i in range(200_000)}",
    "from sklearn.linear_model import LinearRegression\n"
    "model = LinearRegression().fit(df[['a', 'b']].values[:100_000], df['k'].values[:100_000])",
    "print(len(df), round(total), len(numbers), first, len(table), model.coef_.round(3))",
]


def large_notebook(d):
    cells = [{"cell_type": "code", "id": "c%d" % i, "metadata": {}, "execution_count": None, "outputs": [],
              "source": src} for i, src in enumerate(LARGE)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path = os.path.join(d, "large_frame.ipynb")
    with open(path, "w") as f:
        json.dump(nb, f)
    return path


def run(nb, d):
    trace = os.path.join(d, "t.json")
    out = os.path.join(d, "out.ipynb")
    subprocess.run([FLOE, "run", nb, "-o", out, "-q", "--no-cache", "-m", "parallel", "-j", "2", "--trace", trace,
                    "--allow-errors"], capture_output=True, timeout=600,
                   env=dict(os.environ, FLOE_PYTHON=os.environ.get("FLOE_PYTHON", "/usr/bin/python3")))
    if not os.path.exists(trace):
        return None
    with open(trace) as f:
        t = json.load(f)
    ev = t["traceEvents"] if isinstance(t, dict) else t
    cells = sum(1 for e in ev if e.get("name") == "compute")
    cov = [e for e in ev if e.get("name") == "covars"]
    return cells, cov


def main():
    nbs = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "tests", "notebooks", "*.ipynb")) +
                                 glob.glob(os.path.join(ROOT, "tests", "realworld", "*.ipynb")))
    with tempfile.TemporaryDirectory() as d:
        if not sys.argv[1:]:
            nbs.append(large_notebook(d))
        print("%-34s %5s %5s %9s %9s %9s %9s %8s" % ("notebook", "cells", "det", "mean_us", "median", "max_us",
                                                  "write_us", "visited"))
        alldur, allcells, allwrite = [], 0, []
        large = None
        for nb in nbs:
            r = run(nb, d)
            if r is None:
                continue
            cells, cov = r
            durs = [e["dur"] for e in cov]
            writes = [e["args"].get("write_us", 0) for e in cov]
            allcells += cells
            alldur += durs
            allwrite += writes
            name = os.path.basename(nb)[:-6]
            if name == "large_frame":
                large = (cells, durs, writes, cov)
            if durs:
                print("%-34s %5d %5d %9.0f %9.0f %9d %9d %8d" % (name[:34], cells, len(durs), statistics.mean(durs),
                                                               statistics.median(durs), max(durs), sum(writes),
                                                               max(e["args"].get("visited", 0) for e in cov)))
        print()
        print("all: %d cells run, detection in %d; detection per cell run %.1f us (sum %d us); "
              "per detecting cell median %.0f us, p90 %.0f us, max %d us" %
              (allcells, len(alldur), sum(alldur) / max(allcells, 1), sum(alldur), statistics.median(alldur or [0]),
               sorted(alldur)[int(0.9 * (len(alldur) - 1))] if alldur else 0, max(alldur or [0])))
        if large:
            print("large_frame cells:")
            for e in large[3]:
                a = e["args"]
                print("  cell %s: %d us, %d names, %d objects visited, groups %s, truncated %s, write %d us" %
                      (e["args"].get("cell", "?"), e["dur"], a.get("names"), a.get("visited"), a.get("groups"),
                       a.get("truncated"), a.get("write_us", 0)))


def _events(path):
    with open(path) as f:
        t = json.load(f)
    return t["traceEvents"] if isinstance(t, dict) else t


def _pct(v, q):
    return sorted(v)[int(q * (len(v) - 1))] if v else 0


def public(tdir):
    for mode in ("serial", "parallel"):
        paths = sorted(glob.glob(os.path.join(tdir, mode, "*.json")))
        if not paths:
            continue
        nbs = cells = 0
        det, compute, top = [], 0, []
        attempts = {"fallback": [0, 0], "other": [0, 0], "unknown": [0, 0]}  # re-runs, discarded compute us
        fb_nbs = set()
        for p in paths:
            try:
                ev = _events(p)
            except (OSError, ValueError):
                continue
            nbs += 1
            comp = [e for e in ev if e.get("name") == "compute"]
            cells += len(comp)
            compute += sum(e.get("dur", 0) for e in comp)
            det += [e["dur"] for e in ev if e.get("name") == "covars"]
            top += [(e["dur"], os.path.basename(p)[:-5], e["args"].get("cell"), e["args"].get("visited"))
                    for e in ev if e.get("name") == "covars"]
            by_cell = {}
            for e in comp:
                by_cell.setdefault(e["args"].get("cell"), []).append(e)
            reasons = {}
            for e in ev:
                if e.get("name") == "rerun":
                    reasons.setdefault(e["args"].get("cell"), []).append(e["args"].get("why"))
            for c, runs in by_cell.items():
                runs.sort(key=lambda e: e["ts"])
                for i, r in enumerate(runs[:-1]):
                    why = (reasons.get(c) or [None] * len(runs))[min(i, len(reasons.get(c) or [None]) - 1)]
                    kind = "unknown" if why is None else ("fallback" if "prediction missed" in why else "other")
                    attempts[kind][0] += 1
                    attempts[kind][1] += r.get("dur", 0)
                    if kind == "fallback":
                        fb_nbs.add(os.path.basename(p))
        print("%s: %d notebooks, %d cell runs, compute %.1f s" % (mode, nbs, cells, compute / 1e6))
        print("  detection: %d cells detected, sum %.2f s (%.1f%% of compute), per detecting cell median %.0f us, "
              "p90 %.0f us, max %.0f us" % (len(det), sum(det) / 1e6, 100.0 * sum(det) / max(compute, 1),
                                            statistics.median(det or [0]), _pct(det, 0.9), max(det or [0])))
        for kind, (n, us) in attempts.items():
            if n:
                print("  re-runs (%s): %d attempts discarded, their compute %.2f s (%.1f%% of compute)" %
                      (kind, n, us / 1e6, 100.0 * us / max(compute, 1)))
        print("  slowest detections: %s" % "; ".join("%s cell %s %.0f ms (%s objects)" % (n, c, d / 1e3, v)
                                                      for d, n, c, v in sorted(top, reverse=True)[:3]))
        if fb_nbs:
            print("  fallback in: %s" % ", ".join(sorted(fb_nbs)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--public"]:
        public(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "public", "trace"))
    else:
        main()
