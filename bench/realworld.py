#!/usr/bin/env python3
"""The real-world benchmark (issue 10): the five data-analysis notebooks of
tests/realworld, each run by `jupyter nbconvert --to notebook --execute`
(nbclient + ipykernel, the reference) and by floe in its three modes
(monolithic, serial, parallel -j 2), all floe runs with --no-cache. Wall
clock of the whole command, best of --rounds (default 3); the runners are
interleaved within a round so a slow moment of the machine does not fall on
one runner only. Every floe output is also compared with nbconvert's under
the e2e oracle's normalisation (tests/e2e/oracle.py), so a speed-up never
comes from a wrong notebook.

Prints a markdown table; --out PATH writes it there too.

    /usr/bin/python3 bench/realworld.py [--rounds 3] [--jobs 2] [--out results.md]"""
import argparse
import glob
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

sys.path.insert(0, os.path.join(common.ROOT, "tests", "e2e"))
import oracle  # noqa: E402

NB_DIR = os.path.join(common.ROOT, "tests", "realworld")


def code_cells(path):
    with open(path) as f:
        return sum(1 for c in json.load(f)["cells"] if c["cell_type"] == "code")


def same(a, b):
    with open(a) as fa, open(b) as fb:
        return oracle.diff(oracle.normalise(json.load(fa)), oracle.normalise(json.load(fb))) is None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="runs per runner; the best is kept (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="floe parallel -j (default 2)")
    ap.add_argument("--filter", default="", help="only notebooks whose name contains this")
    ap.add_argument("--out", help="also write the markdown table here")
    a = ap.parse_args()
    nbs = [p for p in sorted(glob.glob(os.path.join(NB_DIR, "*.ipynb"))) if a.filter in os.path.basename(p)]
    if not os.path.exists(common.FLOE):
        sys.exit("no %s: run make build" % common.FLOE)
    runners = [
        ("jupyter", None),
        ("monolithic", ["--mode", "monolithic"]),
        ("serial", ["--mode", "serial"]),
        ("parallel", ["--mode", "parallel", "-j", str(a.jobs)]),
    ]
    head = "real-world notebooks: wall clock, best of %d; floe --no-cache, parallel -j %d\nmachine: %s" % (
        a.rounds, a.jobs, common.machine())
    print(head, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="floe-realworld-") as d:
        for nb in nbs:
            name = os.path.basename(nb)[:-6]
            best = {r: float("inf") for r, _ in runners}
            outs = {r: os.path.join(d, "%s-%s.ipynb" % (name, r)) for r, _ in runners}
            for i in range(a.rounds):
                for r, args in runners:
                    if args is None:
                        t, _ = common.nbconvert(nb, outs[r])
                    else:
                        t, _ = common.floe(["run", nb, "-o", outs[r], "-q", "--no-cache"] + args)
                    best[r] = min(best[r], t)
                    print("  %-20s round %d  %-10s %6.2f s" % (name, i + 1, r, t), flush=True)
            ok = all(same(outs["jupyter"], outs[r]) for r, args in runners if args)
            rows.append((name, code_cells(nb), best, ok))
    lines = ["| notebook | cells | jupyter s | monolithic s | serial s | parallel s | parallel/jupyter | same outputs |",
             "|---|---:|---:|---:|---:|---:|---:|:---:|"]
    tot = {r: 0.0 for r, _ in runners}
    for name, cells, best, ok in rows:
        for r in tot:
            tot[r] += best[r]
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %s |" % (
            name, cells, best["jupyter"], best["monolithic"], best["serial"], best["parallel"],
            best["parallel"] / best["jupyter"], "yes" if ok else "NO"))
    if rows:
        lines.append("| **total** | %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %s |" % (
            sum(r[1] for r in rows), tot["jupyter"], tot["monolithic"], tot["serial"], tot["parallel"],
            tot["parallel"] / tot["jupyter"], "yes" if all(r[3] for r in rows) else "NO"))
    table = "\n".join(lines)
    print()
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(head + "\n\n" + table + "\n")
    if not all(r[3] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
