#!/usr/bin/env python3
"""Two floe builds side by side on the paper's synthetic workload
(bench/synthetic.py's notebook): every round runs both binaries in each
mode, interleaved, so that machine noise hits both alike; prints the
median wall time per build and mode and the ratio new/old.

  bench/ab.py OLD_FLOE NEW_FLOE [--rounds 3] [--readers 10] [--jobs N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synthetic  # noqa: E402

MODES = ["parallel", "serial", "monolithic"]


def run(floe, nb, out, mode, jobs):
    env = dict(os.environ)
    env.setdefault("FLOE_PYTHON", "/usr/bin/python3")
    t0 = time.monotonic()
    p = subprocess.run([floe, "run", nb, "-o", out, "--mode", mode, "-q", "--no-cache", "-j", str(jobs)],
                       env=env, capture_output=True, text=True, timeout=600)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("%s %s failed: %s" % (floe, mode, p.stderr))
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        nb = os.path.join(d, "synthetic.ipynb")
        synthetic.write_nb(nb, a.readers)
        times = {(b, m): [] for b in ("old", "new") for m in MODES}
        for r in range(a.rounds):
            for m in MODES:
                order = [("old", a.old), ("new", a.new)] if r % 2 == 0 else [("new", a.new), ("old", a.old)]
                for name, floe in order:
                    times[(name, m)].append(run(floe, nb, os.path.join(d, "out.ipynb"), m, a.jobs))
        print("synthetic workload, %d readers, -j %d, %d rounds (median wall s)" % (a.readers, a.jobs, a.rounds))
        print("%-11s %8s %8s %9s" % ("mode", "old", "new", "new/old"))
        for m in MODES:
            o, n = statistics.median(times[("old", m)]), statistics.median(times[("new", m)])
            print("%-11s %8.2f %8.2f %9.3f" % (m, o, n, n / o))
        for k, v in sorted(times.items()):
            print("  %s %-10s %s" % (k[0], k[1], " ".join("%.2f" % x for x in v)))


if __name__ == "__main__":
    main()
