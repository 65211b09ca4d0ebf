#!/usr/bin/env python3
"""Scheduler overhead: 1000 trivial cells, in a chain (x{i} = x{i-1} + 1)
and in a fan-out (x{i} = x0 + i), run by floe in every mode. Printed in one
run, per cell:

  wall      the run's wall time / cells, start-up excluded (the time to the
            first compute, read from the trace)
  forks     kernels forked (a cell going on in an earlier cell's kernel,
            kernel lineage, forks none)
  fork      the forks' fork() time / cells (the kernels' own cost)
  floe cpu  the CPU time of the floe process itself / cells: the C
            scheduler's work (event loop, graph, messages, trace)

The target (issue 6) is <= 1 ms per cell above the cost of the kernels.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def write(path, cells):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%05d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


def one(nb, mode, jobs, d):
    tr = os.path.join(d, "t.json")
    wall, _ = common.floe(["run", nb, "-o", os.path.join(d, "o.ipynb"), "--mode", mode, "-j", str(jobs), "-q",
                           "--no-cache", "--preload", "IPython", "--trace", tr])
    evs, meta = common.trace_events(tr)
    t0 = min(e["ts"] for e in evs)
    first = min(e["ts"] for e in evs if e["name"] == "compute")
    forks = [e["args"].get("fork_us", 0) for e in evs if e["name"] == "fork"]
    return {"wall": wall, "startup": (first - t0) / 1e6, "forks": len(forks), "fork_us": float(sum(forks)),
            "cpu_us": float(meta.get("floe_cpu_us", 0)), "run_us": float(meta.get("wall_us", wall * 1e6))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--json")
    a = ap.parse_args()
    n = a.cells
    print("floe scheduler overhead, %d trivial cells   machine: %s" % (n, common.machine()), flush=True)
    rows, res = [], {}
    with tempfile.TemporaryDirectory(prefix="floe-overhead-") as d:
        shapes = {
            "chain": ["x0 = 0"] + ["x%d = x%d + 1" % (i, i - 1) for i in range(1, n)],
            "fan-out": ["x0 = 0"] + ["x%d = x0 + %d" % (i, i) for i in range(1, n)],
        }
        for shape, cells in shapes.items():
            nb = os.path.join(d, shape + ".ipynb")
            write(nb, cells)
            for mode in ("monolithic", "serial", "parallel"):
                r = one(nb, mode, a.jobs, d)
                res["%s/%s" % (shape, mode)] = r
                per = (r["run_us"] / 1e3 - r["startup"] * 1e3) / n
                cpu = r["cpu_us"] / 1e3 / n
                fork = r["fork_us"] / 1e3 / n
                rows.append([shape, mode + (" -j %d" % a.jobs if mode == "parallel" else ""),
                             "%.2f" % per, "%d" % r["forks"], "%.3f" % fork, "%.3f" % cpu,
                             "%.2f" % (per - fork) if mode != "monolithic" else "-"])
                print("  %s %s done" % (shape, mode), flush=True)
    print()
    print(common.table(rows, ["notebook", "mode", "wall ms/cell", "forks", "fork ms/cell", "floe cpu ms/cell",
                              "wall - fork ms/cell"]))
    worst = max(r["cpu_us"] / 1e3 / n for r in res.values())
    print("\n  target: scheduler <= 1 ms per cell above the kernels: floe's own CPU is at most %.3f ms/cell: %s"
          % (worst, "met" if worst <= 1.0 else "MISSED"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
