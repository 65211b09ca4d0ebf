"""Fork vs import: a reader started in a kernel forked from its producer's
idle kernel (kernel lineage's fork from template, src/core/core_lineage.c)
against the same reader started in a fresh kernel that imports the value.
Used by bench/ice.py and bench/scaling.py (their fork-vs-import column);
alone: python3 bench/forkread.py [--rounds N] [--rows N].

One notebook: a producer cell makes the value, three independent readers
read it, run in parallel mode (-j 3) with kernel lineage on
(FLOE_LINEAGE=1), once with fork from template (FLOE_LINEAGE_FORK=always,
whatever floe's cost model would choose: the readers fork from the
producer's kernel) and once
without (FLOE_LINEAGE_FORK=0: one goes on, the others import after waiting
up to 100 ms for it, FLOE_LINEAGE_WAIT_MS), side by side in each round.
(In serial mode no reader forks: they go on one after the other.) For the two readers that do not go on, from
FLOE_DEBUG's per-cell times:
  start   dispatch -> the cell's code starts: the fork (request -> child
          serving, copy-on-write) or the fresh kernel's imports, plus, in
          both, the kernel's fingerprints of what the cell reads (a mutation
          is a write);
  reader  dispatch -> the end of its compute (copy-on-write faults of the
          pages it touches included);
  import  the import events alone (trace), against the fork alone (the
          `fork` event of the forked kernel: request -> ready)."""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VALUES = {
    "10M-row string Series": "s = pd.Series(np.arange(%(rows)d).astype(str)).astype(object)",
    "100,000 x 2 int DataFrame": "s = pd.DataFrame(np.random.default_rng(1).integers(0, 1000, size=(100_000, 2)),"
                                 " columns=['x', 'y'])",
}
READER = "n%d = len(s)"
_DEBUG = re.compile(r"floe: cell (\d+): ready->dispatch (\d+) us, dispatch->start (\d+), import (\d+), "
                    r"compute (\d+), export (\d+)")


def _nb(src, path):
    cells = ["import numpy as np, pandas as pd\n" + src] + [READER % i for i in range(1, 4)]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%04d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


def _one(nb, d, fork):
    tr = os.path.join(d, "fr-%d.json" % fork)
    _, p = common.floe(["run", nb, "-o", os.path.join(d, "fr-out.ipynb"), "--mode", "parallel", "-j", "3", "-q",
                        "--no-cache",
                        "--trace", tr],
                       env_update={"FLOE_LINEAGE": "1", "FLOE_LINEAGE_FORK": "always" if fork else "0", "FLOE_DEBUG": "1",
                                   # a reader does not wait for the one going on: it imports (or forks)
                                   "FLOE_LINEAGE_WAIT_MS": "0"})
    evs, _ = common.trace_events(tr)
    went_on = {e["args"]["cell"] for e in evs if e["name"] == "continue"}
    forked = {e["args"]["cell"]: e.get("tid") for e in evs if e["name"] == "fork-template"}
    fork_dur = {e.get("tid"): e["dur"] / 1e6 for e in evs if e["name"] == "fork"}
    fork_call = {e.get("tid"): e["args"].get("fork_us", 0) / 1e6 for e in evs if e["name"] == "fork"}
    imports = {}
    for e in evs:
        if e["name"].startswith("import:"):
            c = e["args"]["cell"]
            imports[c] = imports.get(c, 0) + e["dur"] / 1e6
    start, reader, alone, call = [], [], [], []
    for m in _DEBUG.finditer(p.stderr):
        k = int(m.group(1))
        if k == 0 or k in went_on:
            continue
        ds, imp, comp = (int(m.group(i)) / 1e6 for i in (3, 4, 5))
        start.append(ds + imp)
        reader.append(ds + imp + comp)
        alone.append(fork_dur.get(forked[k], 0.0) if k in forked else imports.get(k, 0.0))
        if k in forked:
            call.append(fork_call.get(forked[k], 0.0))
    if fork and not forked or not fork and forked or not start:
        sys.stderr.write("forkread: fork=%d: %d forks, %d readers that did not go on; floe said:\n%s\n"
                         % (fork, len(forked), len(start), p.stderr[-1500:]))
    return start, reader, alone, call


def measure(rounds=1, rows=10_000_000, which=None):
    """{value: {"fork": {...}, "import": {...}}}: medians (s) over the
    rounds of the two readers' start, reader and import-or-fork-alone."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="floe-forkread-") as d:
        for name, src in VALUES.items():
            if which and name not in which:
                continue
            nb = os.path.join(d, "fr.ipynb")
            _nb(src % {"rows": rows}, nb)
            res = {"fork": ([], [], [], []), "import": ([], [], [], [])}
            for _ in range(rounds):
                for fork in (1, 0):  # side by side in each round
                    for acc, v in zip(res["fork" if fork else "import"], _one(nb, d, fork)):
                        acc.extend(v)
            med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
            out[name] = {k: {"start": med(v[0]), "reader": med(v[1]), "alone": med(v[2]), "call": med(v[3])}
                         for k, v in res.items()}
    return out


def report(res):
    rows = []
    for name, r in res.items():
        f, i = r["fork"], r["import"]
        rows.append([name, "%.4f" % f["call"], "%.3f" % f["alone"], "%.3f" % i["alone"], "%.3fx" % (f["alone"] / max(i["alone"], 1e-9)),
                     "%.3f" % f["start"], "%.3f" % i["start"], "%.3fx" % (f["start"] / max(i["start"], 1e-9)),
                     "%.3f" % f["reader"], "%.3f" % i["reader"], "%.3fx" % (f["reader"] / max(i["reader"], 1e-9))])
    print(common.table(rows, ["reader of", "fork() s", "fork s", "import s", "ratio", "start fork", "start imp", "ratio",
                              "reader fork", "reader imp", "ratio"]))
    print("  fork() s: the fork call in the template; fork s: request -> child ready (the template's one\n"
          "  fingerprint of what the readers keep, taken before its first fork, included)\n"
          "  fork/import: the fork alone vs the import events alone; start: dispatch -> code starts (fingerprints\n"
          "  of what it reads included, in both); reader: dispatch -> end of its compute (copy-on-write faults)")
    with open("/proc/loadavg") as f:
        print("  load average after the runs: %s" % " ".join(f.read().split()[:3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the string Series")
    a = ap.parse_args()
    with open("/proc/loadavg") as f:
        print("fork vs import   machine: %s   load before: %s" % (common.machine(), " ".join(f.read().split()[:3])))
    report(measure(a.rounds, a.rows))


if __name__ == "__main__":
    main()
