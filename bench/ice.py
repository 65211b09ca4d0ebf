#!/usr/bin/env python3
"""What isolated cell execution (ICE) costs, measured side by side in one run:

1. a fresh kernel per cell: the per-cell cost of `floe run --mode serial`
   on a chain of trivial cells (fork from the pre-forked pool, dispatch,
   run, export, exit), against a cold `python3 -c 'import pandas'`, which is
   what a fresh process per cell would cost without the zygote;
2. moving the paper's 100,000 x 2 int DataFrame between kernels: floe's
   artifact export (in freshly forked kernels, as cells pay it, and in this
   warm process) and import (first access in a fresh process, and again
   once mapped), against pickle through a pipe, the way the Vizier
   prototype moved values;
3. a global-heavy pure-Python loop: its compute time in serial (isolated
   kernel, namespace built by floe) against monolithic (one IPython shell),
   from the traces' compute events;
4. fork vs import (bench/forkread.py): a reader of a 10M-row string Series
   and of the 100,000 x 2 frame started in a kernel forked from its
   producer's (kernel lineage's fork from template) against one started
   fresh that imports it, side by side.
"""
import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import forkread  # noqa: E402

PYDIR = os.path.join(common.ROOT, "python")


def nb_of(cells, path):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%04d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


def kernel_cost(d, n, rounds):
    """Per-cell overhead of serial mode: (wall(n+1 cells) - wall(1 cell)) / n."""
    one, many = os.path.join(d, "one.ipynb"), os.path.join(d, "many.ipynb")
    nb_of(["x0 = 0"], one)
    nb_of(["x0 = 0"] + ["x%d = x%d + 1" % (i + 1, i) for i in range(n)], many)
    per, cold, forks, ready = [], [], [], []
    tr = os.path.join(d, "many.json")
    for _ in range(rounds):
        t1, _ = common.floe(["run", one, "-o", os.path.join(d, "o.ipynb"), "--mode", "serial", "-q",
                             "--no-cache", "--preload", "IPython,numpy,pandas"])
        tn, _ = common.floe(["run", many, "-o", os.path.join(d, "o.ipynb"), "--mode", "serial", "-q",
                             "--no-cache", "--preload", "IPython,numpy,pandas", "--trace", tr])
        per.append((tn - t1) / n)
        evs, _ = common.trace_events(tr)
        forks += [e["args"].get("fork_us", 0) / 1e6 for e in evs if e["name"] == "fork"]
        ready += [e["dur"] / 1e6 for e in evs if e["name"] == "fork"]
        tc, _ = common.run([common.PYTHON, "-c", "import pandas"])
        cold.append(tc)
    return statistics.median(per), statistics.median(cold), statistics.median(forks), \
        statistics.median(ready)


CHILD = r"""
import os, sys, time, json
sys.path.insert(0, %(pydir)r)
import pandas  # preloaded in every kernel by the zygote
from floe_kernel import store
store._arrow_codec()  # as the zygote does
info = json.loads(%(info)r)
a = time.perf_counter()
v = store.load(info, {}, None, None)
b = time.perf_counter()
v2 = store.load(info, {}, None, None)
c = time.perf_counter()
assert v.shape == (100000, 2) and int(v["x"].sum()) == %(check)d
print(json.dumps({"cold": b - a, "hot": c - b}))
"""

PIPE_CHILD = r"""
import sys, pickle, time
t0 = time.perf_counter()
data = sys.stdin.buffer.read()
v = pickle.loads(data)
t1 = time.perf_counter()
print(t1 - t0)
"""


def artifact_cost(d, rounds):
    sys.path.insert(0, PYDIR)
    import numpy as np
    import pandas as pd
    from floe_kernel import store
    store._arrow_codec()
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.integers(0, 1000, size=(100_000, 2)), columns=["x", "y"])
    check = int(df["x"].sum())
    res = {"export": [], "cold": [], "hot": [], "pickle_dump": [], "pickle_pipe_load": [], "codec": None}
    shm = tempfile.mkdtemp(prefix="floe-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        for r in range(rounds):
            base = os.path.join(shm, "df%d" % r)
            t0 = time.perf_counter()
            info = store.dump("df", df, base, "", 1, {})
            res["export"].append(time.perf_counter() - t0)
            res["codec"] = info["codec"]
            _, p = common.run([common.PYTHON, "-c", CHILD % {"pydir": PYDIR, "info": json.dumps(info),
                                                               "check": check}])
            j = json.loads(p.stdout)
            res["cold"].append(j["cold"])
            res["hot"].append(j["hot"])
            t0 = time.perf_counter()
            data = pickle.dumps(df, protocol=5)
            res["pickle_dump"].append(time.perf_counter() - t0)
            p = subprocess.run([common.PYTHON, "-c", "import pandas\n" + PIPE_CHILD], input=data,
                               stdout=subprocess.PIPE, check=True)
            res["pickle_pipe_load"].append(float(p.stdout))
    finally:
        for f in os.listdir(shm):
            os.unlink(os.path.join(shm, f))
        os.rmdir(shm)
    return {k: (statistics.median(v) if isinstance(v, list) else v) for k, v in res.items()}


def fresh_export_cost(d, rounds, frames=10):
    """The export as cells pay it: each of `frames` cells makes a 100,000 x 2
    frame in its own freshly forked kernel (serial mode); the median of the
    traces' export events."""
    nb = os.path.join(d, "frames.ipynb")
    cells = ["import numpy as np\nimport pandas as pd\nrng = np.random.default_rng(1)"]
    cells += ["df%d = pd.DataFrame(rng.integers(0, 1000, size=(100_000, 2)), columns=['x', 'y'])" % i
              for i in range(frames)]
    cells += ["print(sum(int(d['x'].sum()) for d in [%s]))" % ", ".join("df%d" % i for i in range(frames))]
    nb_of(cells, nb)
    tr = os.path.join(d, "frames.json")
    xs = []
    for _ in range(rounds):
        common.floe(["run", nb, "-o", os.path.join(d, "o.ipynb"), "--mode", "serial", "-q", "--no-cache",
                     "--preload", "IPython,numpy,pandas", "--trace", tr])
        evs, _ = common.trace_events(tr)
        xs += [e["dur"] / 1e6 for e in evs if e["name"].startswith("export:df")]
    return statistics.median(xs)


LOOP = """import time
t0 = time.perf_counter()
s = 0
for i in range(N):
    s += abs(i - K) % 7
print(s)"""


def loop_cost(d, rounds):
    nb = os.path.join(d, "loop.ipynb")
    nb_of(["N = 3_000_000\nK = 12345", LOOP], nb)
    res = {"serial": [], "monolithic": []}
    for _ in range(rounds):
        for mode in ("serial", "monolithic"):
            tr = os.path.join(d, "loop-%s.json" % mode)
            common.floe(["run", nb, "-o", os.path.join(d, "o.ipynb"), "--mode", mode, "-q", "--no-cache",
                         "--trace", tr])
            evs, _ = common.trace_events(tr)
            res[mode].append(sum(e["dur"] for e in evs if e["name"] == "compute"
                                 and e.get("args", {}).get("cell") == 1) / 1e6)
    return {k: statistics.median(v) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--json")
    ap.add_argument("--fork-rounds", type=int, default=1, help="rounds of 4. (0: skip it)")
    ap.add_argument("--fork-rows", type=int, default=10_000_000, help="rows of 4.'s string Series")
    a = ap.parse_args()
    print("floe ICE costs   machine: %s   rounds: %d (median)" % (common.machine(), a.rounds), flush=True)
    with tempfile.TemporaryDirectory(prefix="floe-ice-") as d:
        per, cold, fork, ready = kernel_cost(d, a.cells, a.rounds)
        print("\n1. a fresh kernel per cell (%d-cell chain, serial mode)" % a.cells)
        print(common.table([["floe: fork of a kernel by the zygote", "%.2f" % (fork * 1e3), "%.3fx" % (fork / cold)],
                            ["floe: fork request -> kernel ready", "%.2f" % (ready * 1e3), "%.3fx" % (ready / cold)],
                            ["floe: per cell, all included", "%.2f" % (per * 1e3), "%.3fx" % (per / cold)],
                            ["cold python3 -c 'import pandas'", "%.1f" % (cold * 1e3), "1.000x"]],
                           ["", "ms", "ratio"]))
        # judged on request -> ready, what a cell waits for, not the fork() alone
        print("  target <= 5 ms per kernel (request -> ready): %s" % ("met" if ready <= 0.005 else "MISSED"),
              flush=True)
        art = artifact_cost(d, a.rounds)
        art["fresh_export"] = fresh_export_cost(d, a.rounds)
        print("\n2. the 100,000 x 2 int DataFrame between kernels (floe codec: %s)" % art["codec"])
        fl = art["export"] + art["cold"]
        pk = art["pickle_dump"] + art["pickle_pipe_load"]
        print(common.table([
            ["floe export, in a freshly forked kernel", "%.3f" % (art["fresh_export"] * 1e3)],
            ["floe export, in a warm process", "%.3f" % (art["export"] * 1e3)],
            ["floe import, first access in a fresh process", "%.3f" % (art["cold"] * 1e3)],
            ["floe import, already mapped", "%.3f" % (art["hot"] * 1e3)],
            ["pickle dumps", "%.3f" % (art["pickle_dump"] * 1e3)],
            ["pickle through a pipe + loads", "%.3f" % (art["pickle_pipe_load"] * 1e3)],
            ["floe export+import vs pickle pipe", "%.2fx" % (fl / pk)]], ["", "ms"]))
        print("  target export <= 1 ms: %s; import <= 1 ms: %s" % (
            "met" if art["fresh_export"] <= 1e-3 else "MISSED", "met" if art["cold"] <= 1e-3 else "MISSED"),
            flush=True)
        loop = loop_cost(d, a.rounds)
        r = loop["serial"] / loop["monolithic"]
        print("\n3. global-heavy loop (3,000,000 iterations over globals and builtins)")
        print(common.table([["serial (isolated kernel)", "%.3f" % loop["serial"], "%.3fx" % r],
                            ["monolithic (one shell)", "%.3f" % loop["monolithic"], "1.000x"]],
                           ["compute", "s", "ratio"]))
        print("  target <= 1.05x: %s" % ("met" if r <= 1.05 else "MISSED"))
        fr = None
        if a.fork_rounds > 0:
            print("\n4. fork vs import: a reader started by fork from its producer's kernel vs by import"
                  " (parallel -j 3, %d round(s), median)" % a.fork_rounds, flush=True)
            fr = forkread.measure(a.fork_rounds, a.fork_rows)
            forkread.report(fr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"kernel_per_cell_s": per, "fork_s": fork, "fork_ready_s": ready, "cold_import_pandas_s": cold,
                       "artifact": art, "loop": loop, "fork_vs_import": fr}, f, indent=1)


if __name__ == "__main__":
    main()
