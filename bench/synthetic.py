#!/usr/bin/env python3
"""The paper's synthetic workload (Runtime Provenance Refinement for
Notebooks, TaPP 2022, section 5): one writer cell builds a 100,000 x 2
random int DataFrame; N reader cells each compute scipy's pdist over a
10,000-row sample of it. The readers are independent of each other, so a
provenance-aware scheduler can run them in parallel.

In one run this prints the wall time of floe parallel, floe serial, floe
monolithic and `jupyter nbconvert --execute` side by side (median of the
rounds, interleaved so that machine noise hits every runner alike), the
ratios, the floor a perfect scheduler could reach on this machine, and
writes the Gantt chart of each floe mode as SVG.

  bench/synthetic.py --demo            one round, the README's `make demo`
  bench/synthetic.py --rounds 3        the benchmark: the paper's variant and the
                                       keep-the-mean variant (--variant paper|mean|both)
  bench/synthetic.py --scale           also 10/20/50 readers and -j 1..cores
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

WRITER = """import numpy as np
import pandas as pd
rng = np.random.default_rng(42)
df = pd.DataFrame(rng.integers(0, 1000, size=(100_000, 2)), columns=["x", "y"])
print(df.shape)"""

READER = """from scipy.spatial.distance import pdist
sample{i} = df.sample(n=10_000, random_state={i})
d{i} = pdist(sample{i}.to_numpy(dtype="float64"))
print({i}, round(float(d{i}.mean()), 6))"""

# The same work, but each reader keeps only the mean of its distances: the
# paper's readers each keep a 400 MB distance vector alive, and 4 GB
# accumulating in one kernel is much of why monolithic looks slow on it.
READER_MEAN = """from scipy.spatial.distance import pdist
sample{i} = df.sample(n=10_000, random_state={i})
m{i} = float(pdist(sample{i}.to_numpy(dtype="float64")).mean())
print({i}, round(m{i}, 6))"""


def notebook(readers, variant="paper"):
    reader = READER_MEAN if variant == "mean" else READER
    cells = [WRITER] + [reader.format(i=i) for i in range(readers)]
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c%03d" % k, "metadata": {},
                   "outputs": [], "source": src} for k, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def write_nb(path, readers, variant="paper"):
    with open(path, "w") as f:
        json.dump(notebook(readers, variant), f, indent=1)


def floe_run(nb, out, mode, jobs, trace=None):
    args = ["run", nb, "-o", out, "--mode", mode, "-q", "--no-cache"]
    if jobs:
        args += ["-j", str(jobs)]
    if trace:
        args += ["--trace", trace]
    dt, _ = common.floe(args)
    return dt


def floor_of(trace, cores):
    """start + writer + its export + sum(readers)/cores, from a trace's own
    phase times: what a perfect scheduler would take on this machine."""
    evs, _ = common.trace_events(trace)
    comp = {}
    export0 = 0.0
    first = min(e["ts"] for e in evs)
    start = None
    for e in evs:
        cell = e.get("args", {}).get("cell", -1)
        if e["name"] == "compute":
            comp[cell] = comp.get(cell, 0) + e["dur"] / 1e6
            start = e["ts"] if start is None else min(start, e["ts"])
        elif e["name"].startswith("export:") and cell == 0:
            export0 += e["dur"] / 1e6
    startup = ((start or first) - first) / 1e6
    readers = sum(v for k, v in comp.items() if k != 0)
    return startup + comp.get(0, 0) + export0 + readers / cores, startup, comp.get(0, 0), export0, readers


def gantt(trace, svg):
    dt, p = common.floe(["trace", trace, "-o", svg], check=False)
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default=os.path.join(common.ROOT, "build", "demo"))
    ap.add_argument("--demo", action="store_true", help="one round of the paper's variant (make demo)")
    ap.add_argument("--variant", choices=("paper", "mean", "both"), default=None,
                    help="paper: readers keep their distance vectors (as the paper); mean: they keep only "
                         "the mean; both (default, but paper with --demo)")
    ap.add_argument("--no-nbconvert", action="store_true")
    ap.add_argument("--scale", action="store_true", help="also 10/20/50 readers and -j 1..cores")
    ap.add_argument("--json", help="write the numbers as JSON here")
    a = ap.parse_args()
    if a.demo:
        a.rounds = 1
    variants = {"paper": ["paper"], "mean": ["mean"], "both": ["paper", "mean"]}[
        a.variant or ("paper" if a.demo else "both")]
    os.makedirs(a.out, exist_ok=True)
    print("floe synthetic workload: 1 writer (100,000 x 2 int DataFrame) + %d pdist readers (10,000-row samples)"
          % a.readers)
    print("machine: %s" % common.machine())
    print("rounds: %d (median), floe -j %d" % (a.rounds, a.jobs), flush=True)
    result = {"readers": a.readers, "jobs": a.jobs, "rounds": a.rounds, "machine": common.machine()}
    ok = True
    for v in variants:
        res = run_variant(a, v)
        result[v] = res
        ok = ok and all(res["same_outputs"].values())
    if len(variants) > 1:
        print("\nparallel/monolithic: paper %.2fx, keep-the-mean %.2fx" % tuple(
            result[v]["median_s"]["floe parallel"] / result[v]["median_s"]["floe monolithic"] for v in variants))
    if a.scale:
        result["scale"] = scale(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if not ok:
        print("ERROR: outputs differ from nbconvert's", file=sys.stderr)
        return 1
    return 0


def run_variant(a, variant):
    """Runs every runner a.rounds times (interleaved) on one variant of the
    workload; prints the table, the floor and the targets; returns the
    numbers."""
    suffix = "" if variant == "paper" else "-" + variant
    nb = os.path.join(a.out, "synthetic%s.ipynb" % suffix)
    write_nb(nb, a.readers, variant)
    print("\nvariant: %s" % ("paper (each reader keeps its 400 MB distance vector)" if variant == "paper"
                             else "keep-the-mean (each reader keeps only the mean of its distances)"), flush=True)
    runners = [("floe parallel", "parallel"), ("floe serial", "serial"), ("floe monolithic", "monolithic")]
    if not a.no_nbconvert:
        runners.append(("jupyter nbconvert", None))
    times = {name: [] for name, _ in runners}
    outs = {}
    for r in range(a.rounds):
        for name, mode in runners:
            out = os.path.join(a.out, "out%s-%s.ipynb" % (suffix, mode or "nbconvert"))
            if mode:
                tr = os.path.join(a.out, "trace%s-%s.json" % (suffix, mode))
                dt = floe_run(nb, out, mode, a.jobs, tr)
            else:
                dt, _ = common.nbconvert(nb, out)
            times[name].append(dt)
            outs[name] = out
            print("  round %d  %-18s %7.2f s" % (r + 1, name, dt), flush=True)

    ref = common.outputs(outs[runners[-1][0]])
    same = {name: common.outputs(path) == ref for name, path in outs.items()}
    med = {name: common.median(v) for name, v in times.items()}
    base = med.get("jupyter nbconvert")
    mono = med["floe monolithic"]
    rows = []
    for name, _ in runners:
        rows.append([name, "%.2f" % med[name],
                     "%.2fx" % (med[name] / base) if base else "-",
                     "%.2fx" % (med[name] / mono),
                     "yes" if same[name] else "NO"])
    print()
    print(common.table(rows, ["runner", "wall s", "vs nbconvert", "vs monolithic", "same outputs"]))
    fl, startup, w, ex, rd = floor_of(os.path.join(a.out, "trace%s-parallel.json" % suffix), a.jobs)
    par = med["floe parallel"]
    print()
    print("floor (start %.2f + writer %.2f + export %.3f + readers %.2f / %d cores) = %.2f s; parallel is %.2fx the floor"
          % (startup, w, ex, rd, a.jobs, fl, par / fl))
    targets = []
    if base:
        targets.append(("parallel <= 0.35x nbconvert", par / base <= 0.35, par / base))
    targets.append(("parallel <= 0.6x monolithic", par / mono <= 0.6, par / mono))
    targets.append(("parallel <= 1.2x floor", par / fl <= 1.2, par / fl))
    for what, ok, v in targets:
        print("  target %-28s %5.2f  %s" % (what, v, "met" if ok else "MISSED"))

    svgs = []
    for _, mode in runners:
        if mode:
            svg = os.path.join(a.out, "gantt%s-%s.svg" % (suffix, mode))
            if gantt(os.path.join(a.out, "trace%s-%s.json" % (suffix, mode)), svg):
                svgs.append(svg)
    if svgs:
        print("\nGantt charts: " + ", ".join(os.path.relpath(s) for s in svgs))
    return {"median_s": med, "all_s": times, "same_outputs": same, "floor_s": fl}


def scale(a):
    """Wall time against the number of readers and against -j."""
    res = {"readers": {}, "jobs": {}}
    cores = os.cpu_count() or 2
    print("\nscaling with the number of readers (-j %d):" % a.jobs)
    rows = []
    for n in (10, 20, 50):
        nb = os.path.join(a.out, "synthetic-%d.ipynb" % n)
        write_nb(nb, n)
        out = os.path.join(a.out, "scale.ipynb")
        p = floe_run(nb, out, "parallel", a.jobs)
        s = floe_run(nb, out, "serial", a.jobs)
        m = floe_run(nb, out, "monolithic", a.jobs)
        res["readers"][n] = {"parallel": p, "serial": s, "monolithic": m}
        rows.append([str(n), "%.2f" % p, "%.2f" % s, "%.2f" % m, "%.2fx" % (p / m)])
    print(common.table(rows, ["readers", "parallel s", "serial s", "monolithic s", "par/mono"]))
    print("\nscaling with -j (%d readers):" % a.readers)
    nb = os.path.join(a.out, "synthetic.ipynb")
    rows = []
    one = None
    for j in range(1, cores + 1):
        t = floe_run(nb, os.path.join(a.out, "scale.ipynb"), "parallel", j)
        one = one or t
        res["jobs"][j] = t
        rows.append([str(j), "%.2f" % t, "%.2fx" % (one / t)])
    print(common.table(rows, ["-j", "parallel s", "speedup"]))
    return res


if __name__ == "__main__":
    sys.exit(main())
