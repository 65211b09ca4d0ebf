#!/usr/bin/env python3
"""Scheduling policy (issue 6): which ready cell a free kernel takes, and
whether readers of one large artifact should start at once.

(a) critical path vs notebook order. Cell 0 writes x; cells 1..6 are short
    independent sleeps (0.3 s) reading x; cell 7 starts a chain 7 -> 8 -> 9
    of 1 s cells that depends only on cell 0. With -j 2 notebook order runs
    the six short cells first and the chain last; critical-path-first starts
    the chain at once and fills the other kernel with the short cells.
(b) contention. One writer of a large DataFrame (ROWS x 2 int64) and 10
    readers each doing a small computation on a sample of it, all released
    at the same moment by the writer: --stagger 0 against --stagger MS, at
    -j 2 and -j 4.

Every configuration runs ROUNDS times, interleaved so that machine noise
hits them alike; best and median wall time are reported, with the ratios,
and each run's outputs are checked against a serial run.

  bench/policy.py                      the benchmark (about 2-3 minutes)
  bench/policy.py --rounds 1           a quick look
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SHORT, LONG, NSHORT = 0.3, 1.0, 6
ROWS, READERS = 4_000_000, 10


def notebook(cells):
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c%03d" % k, "metadata": {},
                   "outputs": [], "source": src} for k, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def chain_cells(short=SHORT, long=LONG, nshort=NSHORT):
    """(a): cell 0 writes x; nshort short readers of x; then a chain of three
    long cells that depends only on cell 0."""
    cells = ["import time\nx = 10\nprint('x', x)"]
    cells += ["time.sleep(%g)\ns%d = x + %d\nprint('short', s%d)" % (short, i, i, i) for i in range(1, nshort + 1)]
    cells += ["time.sleep(%g)\nc0 = x * 2\nprint('chain', c0)" % long,
              "time.sleep(%g)\nc1 = c0 + 1\nprint('chain', c1)" % long,
              "time.sleep(%g)\nc2 = c1 + 1\nprint('chain', c2)" % long]
    return cells


def contention_cells(rows=ROWS, readers=READERS):
    """(b): one writer of a rows x 2 int64 DataFrame, `readers` readers of it."""
    cells = ["import numpy as np\nimport pandas as pd\n"
             "rng = np.random.default_rng(7)\n"
             "df = pd.DataFrame(rng.integers(0, 1000, size=(%d, 2)), columns=['x', 'y'])\n"
             "print(df.shape)" % rows]
    cells += ["m%d = int(df.x.sum()) + %d\nq%d = float((df.y > 500).mean())\nprint(%d, m%d, round(q%d, 6))"
              % (i, i, i, i, i, i) for i in range(readers)]
    return cells


def write_nb(path, cells):
    with open(path, "w") as f:
        json.dump(notebook(cells), f, indent=1)


def floe_run(nb, out, *args, cache=None):
    dt, _ = common.floe(["run", nb, "-o", out, "-q", *(["--cache-dir", cache] if cache else ["--no-cache"]), *args])
    return dt


def fmt(xs):
    return "%.2f" % min(xs), "%.2f" % common.median(xs)


def measure(nb, configs, rounds, outdir, tag, cache=None):
    """Runs every (label, args) config `rounds` times, interleaved. Returns
    {label: [seconds]} and whether every output equals the serial run's.
    With cache (a directory): the notebook's first cell is its parameters,
    which its other cells read; a first serial run fills the cache with the
    cells' durations and every measured run gets a new value (-p p N), so
    that all cells run again knowing the durations of the runs before
    (--schedule critical knows none in a first run: notebook order). Its
    outputs are then compared with a serial --no-cache run of the same N."""
    ref = os.path.join(outdir, "%s-serial.ipynb" % tag)
    floe_run(nb, ref, "--mode", "serial", *(["-p", "p", "1"] if cache else []), cache=cache)
    want = common.outputs(ref)
    times = {label: [] for label, _ in configs}
    same = True
    n = 1
    for r in range(rounds):
        for label, args in configs:
            out = os.path.join(outdir, "%s-out.ipynb" % tag)
            if cache:
                n += 1
                args = list(args) + ["-p", "p", str(n)]
                floe_run(nb, ref, "--mode", "serial", "-p", "p", str(n))
                want = common.outputs(ref)
            times[label].append(floe_run(nb, out, *args, cache=cache))
            same = same and common.outputs(out) == want
            print("  round %d  %-36s %6.2f s" % (r + 1, label, times[label][-1]), flush=True)
    return times, same


def part_a(a):
    nb = os.path.join(a.out, "policy-chain.ipynb")
    cells = chain_cells()
    cells = ["p = 1"] + [cells[0].replace("x = 10", "x = 10 * p")] + cells[1:]
    nb_json = notebook(cells)
    nb_json["cells"][0]["metadata"]["tags"] = ["parameters"]
    with open(nb, "w") as f:
        json.dump(nb_json, f, indent=1)
    print("\n(a) critical path: x; %d x %.1f s readers of x; chain of 3 x %.1f s after x; -j 2" % (NSHORT, SHORT, LONG),
          flush=True)
    configs = [("--schedule order -j 2", ["--schedule", "order", "-j", "2"]),
               ("--schedule critical -j 2", ["--schedule", "critical", "-j", "2"])]
    times, same = measure(nb, configs, a.rounds, a.out, "chain", cache=os.path.join(a.out, "chain-cache"))
    order, crit = times[configs[0][0]], times[configs[1][0]]
    rows = [["order", *fmt(order), "1.00x"],
            ["critical", *fmt(crit), "%.2fx" % (common.median(crit) / common.median(order))]]
    print()
    print("| policy | best s | median s | median vs order |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| %s |" % " | ".join(r))
    ideal_order = NSHORT / 2 * SHORT + 3 * LONG
    ideal_crit = max(3 * LONG, NSHORT * SHORT)
    print("\nideal compute (no start-up, -j 2): order %.1f s, critical %.1f s; outputs same as serial: %s"
          % (ideal_order, ideal_crit, "yes" if same else "NO"))
    return same, {"order": order, "critical": crit}


def part_b(a):
    nb = os.path.join(a.out, "policy-contention.ipynb")
    write_nb(nb, contention_cells(a.rows))
    print("\n(b) contention: writer of %d x 2 int64 DataFrame (%.0f MB), %d readers (a sum and a mean over all rows)"
          % (a.rows, a.rows * 16 / 1e6, READERS), flush=True)
    configs = []
    for j in (2, 4):
        for ms in [0] + a.stagger:
            configs.append(("-j %d --stagger %d" % (j, ms), ["-j", str(j), "--stagger", str(ms)]))
    times, same = measure(nb, configs, a.rounds, a.out, "contention")
    print()
    print("| -j | --stagger ms | best s | median s | median vs stagger 0 |")
    print("| --- | --- | --- | --- | --- |")
    for j in (2, 4):
        base = common.median(times["-j %d --stagger 0" % j])
        for ms in [0] + a.stagger:
            xs = times["-j %d --stagger %d" % (j, ms)]
            print("| %d | %d | %s | %s | %.2fx |" % (j, ms, *fmt(xs), common.median(xs) / base))
    print("\noutputs same as serial: %s" % ("yes" if same else "NO"))
    return same, times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--stagger", type=int, nargs="*", default=[25, 100],
                    help="stagger values (ms) to compare with 0 in (b)")
    ap.add_argument("--only", choices=["a", "b"])
    ap.add_argument("--out", default=os.path.join(common.ROOT, "build", "bench-policy"))
    ap.add_argument("--json", help="write the numbers as JSON here")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    print("floe scheduling policy benchmark; machine: %s; rounds: %d" % (common.machine(), a.rounds), flush=True)
    ok, res = True, {}
    if a.only != "b":
        same, res["a"] = part_a(a)
        ok = ok and same
    if a.only != "a":
        same, res["b"] = part_b(a)
        ok = ok and same
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if not ok:
        print("ERROR: outputs differ from the serial run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
