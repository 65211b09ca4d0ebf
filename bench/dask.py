#!/usr/bin/env python3
"""floe on a Dask cluster (issue 20) against floe's local parallel run, in
one run, on this machine: a local cluster (`dask scheduler` + W `dask worker
--nthreads 1 --no-nanny` on 127.0.0.1, started here) and the same notebooks
with `floe run -j W` (local kernels).

Workloads: the synthetic workload (bench/synthetic.py's notebook, the
keep-the-mean variant) and a notebook of 20 independent fits (numpy least
squares with a bootstrap, ~0.3 s each). Rounds are interleaved (local, dask,
local, dask...) so that machine noise hits both alike; medians are printed.

Per-cell overhead: from FLOE_DEBUG's per-cell line, everything but compute
(dispatch->start + import + export + done->floe), median over cells; the
difference dask - local is what going through Dask costs a cell.

The model of wall time against workers (see README, "floe on Dask"):
    wall(W) = S + max(ceil(N / W) * (D + c), N * s)
S: the run's start on the cluster (bridge, plugin, a zygote per worker),
measured as wall - the cells' span on the critical path; c: per-cell
overhead (measured); s: the serial cost per cell of the parts that do not
scale with workers (floe + bridge CPU and the scheduler's CPU per cell,
measured with getrusage / /proc). Checked against the measured runs at W=1
(-j 1) and W=2, then printed for W = 1..64.

A cell's result without its files comes to floe as an event its worker
sends when the task ends; FLOE_BRIDGE_PROJECTION=1 fetches it with a
second (projection) task instead, as before: `--done` compares the two,
side by side, on the trivial and fits notebooks (per-cell overhead, wall).

  bench/dask.py                 2 rounds, the tables
  bench/dask.py --rounds 3 --workers 2
  bench/dask.py --done --rounds 5   event vs projection task only"""
import argparse
import json
import math
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import synthetic  # noqa: E402

FIT = """import numpy as np
rng = np.random.default_rng({i})
X = rng.normal(size=(4000, 40)); y = X @ rng.normal(size=40) + rng.normal(size=4000)
coefs = [np.linalg.lstsq(X[idx], y[idx], rcond=None)[0] for idx in (rng.integers(0, 4000, 4000) for _ in range(60))]
fit{i} = float(np.mean([c[0] for c in coefs]))
print({i}, round(fit{i}, 3))"""


def fits_nb(path, n=20):
    cells = [FIT.format(i=i) for i in range(n)]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "f%03d" % k, "metadata": {},
                     "outputs": [], "source": s} for k, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


def trivial_nb(path, n=40):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "t%03d" % k, "metadata": {},
                     "outputs": [], "source": "t%d = %d" % (k, k)} for k in range(n)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


class Cluster:
    def __init__(self, workers, tmp):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.address = "tcp://127.0.0.1:%d" % self.port
        self.env = common.env({"PYTHONPATH": os.path.join(common.ROOT, "python")})
        self.procs = []
        self.sched = self._start(["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
                                 tmp, "scheduler")
        for i in range(workers):
            self._start(["worker", self.address, "--nthreads", "1", "--no-dashboard", "--no-nanny"], tmp, "w%d" % i)
        prog = ("from distributed import Client\nimport time\nc = Client(%r, timeout=30)\n"
                "while len(c.scheduler_info()['workers']) < %d: time.sleep(0.2)\n" % (self.address, workers))
        subprocess.run([common.PYTHON, "-c", prog], check=True, env=self.env, timeout=120)

    def _start(self, args, tmp, name):
        log = open(os.path.join(tmp, name + ".log"), "w")
        p = subprocess.Popen([common.PYTHON, "-m", "distributed.cli.dask_" + args[0]] + args[1:], env=self.env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def sched_cpu(self):
        with open("/proc/%d/stat" % self.sched.pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()


_CELL = re.compile(r"cell (\d+): ready->dispatch (-?\d+) us, dispatch->start (-?\d+), import (-?\d+), "
                   r"compute (-?\d+), export (-?\d+), done->floe (-?\d+)")


def run_floe(nb, args, cluster=None, env=None):
    """One run: wall s, [per-cell overhead ms], [compute ms], floe-side CPU s, scheduler CPU s."""
    out = nb + ".out.ipynb"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = cluster.sched_cpu() if cluster else 0.0
    dt, p = common.floe(["run", nb, "-o", out, "--no-cache"] + args, env_update=dict({"FLOE_DEBUG": "1"}, **(env or {})))
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1 = cluster.sched_cpu() if cluster else 0.0
    over, comp, back = [], [], []
    for m in _CELL.finditer(p.stderr):
        v = [int(x) for x in m.groups()]
        over.append((v[2] + v[3] + v[5] + v[6]) / 1000.0)
        comp.append(v[4] / 1000.0)
        back.append(v[6] / 1000.0)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return dt, over, comp, cpu, s1 - s0, common.outputs(out), back


def model(S, c, s, N, D, W):
    return S + max(math.ceil(N / W) * (D + c), N * s)


def done_paths(a, cl, fits, triv):
    """A cell's result as an event (now) vs fetched by a projection task
    (FLOE_BRIDGE_PROJECTION=1, before), interleaved round by round."""
    res = {}
    try:
        for rnd in range(a.rounds):
            for name, nb in (("trivial", triv), ("fits", fits)):
                for how, env in (("projection task", {"FLOE_BRIDGE_PROJECTION": "1"}), ("event", {})):
                    res.setdefault((name, how), []).append(run_floe(nb, ["--dask", cl.address], cl, env))
    finally:
        cl.stop()
    rows, same = [], True
    for name in ("trivial", "fits"):
        pr, ev = res[(name, "projection task")], res[(name, "event")]
        same &= all(r[5] == pr[0][5] for r in pr + ev)
        wp, we = common.median([r[0] for r in pr]), common.median([r[0] for r in ev])
        op = common.median([x for r in pr for x in r[1]])
        oe = common.median([x for r in ev for x in r[1]])
        fp = common.median([x for r in pr for x in r[6]])
        fe = common.median([x for r in ev for x in r[6]])
        rows.append([name, len(pr[0][1]), "%.2f" % wp, "%.2f" % we, "%.1f" % op, "%.1f" % oe, "%+.1f" % (oe - op),
                     "%.1f" % fp, "%.1f" % fe])
    print("\n--dask, %d workers x 1 thread: a cell's result by projection task (before) vs event (now), "
          "median of %d rounds:" % (a.workers, a.rounds))
    print(common.table(rows, ["notebook", "cells", "proj wall s", "event wall s", "proj ms/cell", "event ms/cell",
                              "change ms/cell", "proj done->floe ms", "event done->floe ms"]))
    print("outputs identical across both and rounds:", same)
    print("load at end (1/5/15 min):", " ".join(open("/proc/loadavg").read().split()[:3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--readers", type=int, default=6)
    ap.add_argument("--done", action="store_true", help="only: the done event vs the projection task")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="floe-bench-dask-")
    syn = os.path.join(tmp, "synthetic.ipynb")
    synthetic.write_nb(syn, a.readers, "mean")
    fits = os.path.join(tmp, "fits.ipynb")
    fits_nb(fits)
    triv = os.path.join(tmp, "trivial.ipynb")
    trivial_nb(triv)
    print("machine:", common.machine())
    print("load at start (1/5/15 min):", " ".join(open("/proc/loadavg").read().split()[:3]))
    cl = Cluster(a.workers, tmp)
    W = a.workers
    res = {}
    if a.done:
        return done_paths(a, cl, fits, triv)
    try:
        for rnd in range(a.rounds):
            for name, nb in (("synthetic", syn), ("fits", fits), ("trivial", triv)):
                for how, args in (("local", ["-j", str(W)]), ("dask", ["--dask", cl.address])):
                    res.setdefault((name, how), []).append(run_floe(nb, args, cl if how == "dask" else None))
            # the model's check at W=1: one cell at a time through Dask
            res.setdefault(("fits", "dask-j1"), []).append(run_floe(fits, ["--dask", cl.address, "-j", "1"], cl))
    finally:
        cl.stop()
    rows, same = [], True
    for name in ("synthetic", "fits", "trivial"):
        lo, da = res[(name, "local")], res[(name, "dask")]
        same &= all(r[5] == lo[0][5] for r in lo + da)
        wl, wd = common.median([r[0] for r in lo]), common.median([r[0] for r in da])
        ol = common.median([x for r in lo for x in r[1]])
        od = common.median([x for r in da for x in r[1]])
        rows.append([name, len(lo[0][1]), "%.2f" % wl, "%.2f" % wd, "%.2fx" % (wd / wl), "%.1f" % ol, "%.1f" % od,
                     "%+.1f" % (od - ol)])
    print("\nfloe local parallel (-j %d) vs floe --dask (%d workers x 1 thread), median of %d rounds:" % (W, W, a.rounds))
    print(common.table(rows, ["notebook", "cells", "local s", "dask s", "dask/local", "local ms/cell",
                              "dask ms/cell", "Dask's cost ms/cell"]))
    print("outputs identical across runners and rounds:", same)

    # --- the model -------------------------------------------------------------------------------
    fd = res[("fits", "dask")]
    tr = res[("trivial", "dask")]
    D = common.median([x for r in fd for x in r[2]]) / 1000.0
    c = common.median([x for r in fd for x in r[1]]) / 1000.0
    N = len(fd[0][1])
    # S: what the run costs beyond its cells: the trivial notebook's wall minus its cells' share
    ntr = len(tr[0][1])
    ctr = common.median([x for r in tr for x in r[1]]) / 1000.0
    S = common.median([r[0] for r in tr]) - math.ceil(ntr / W) * ctr
    s = common.median([(r[3] + r[4]) / len(r[1]) for r in tr])
    w1 = common.median([r[0] for r in res[("fits", "dask-j1")]])
    w2 = common.median([r[0] for r in fd])
    print("\nmodel: wall(W) = S + max(ceil(N/W) * (D + c), N * s)")
    print("  measured: S = %.2f s (start on the cluster), c = %.1f ms (per-cell overhead), "
          "s = %.1f ms (serial CPU per cell: floe+bridge+scheduler), D = %.0f ms (a fit's compute)"
          % (S, c * 1000, s * 1000, D * 1000))
    print("  check, %d fits: W=1 measured %.2f s, model %.2f s; W=%d measured %.2f s, model %.2f s"
          % (N, w1, model(S, c, s, N, D, 1), W, w2, model(S, c, s, N, D, W)))
    rows = []
    for Wn in (1, 2, 4, 8, 16, 32, 64):
        rows.append([Wn, "%.1f" % model(S, c, s, N, D, Wn), "%.0f" % model(S, c, s, 20, 600.0, Wn),
                     "%.1f" % model(S, c, s, 1000, 1.0, Wn), "%.1f" % model(S, c, s, 1000, 0.05, Wn)])
    print(common.table(rows, ["workers", "%d fits of %.0f ms (s)" % (N, D * 1000), "20 x 10 min (s)",
                              "1000 x 1 s (s)", "1000 x 50 ms (s)"]))
    print("load at end (1/5/15 min):", " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
