#!/usr/bin/env python3
"""The real-world benchmark.

--suite public (default; issue 17): the public notebooks of the
real-notebook suite (tests/public, MANIFEST.md), skipping those that use
%timeit/%time (their loop counts flip by 10x on noise). Per notebook, in one
run and interleaved: `jupyter nbconvert --execute` (/usr/bin/python3 -m
jupyter nbconvert) and floe parallel (-j 2), serial and monolithic, all floe
runs --no-cache, each in a fresh copy of the notebook's directory (as
tests/public/run.py, which can then compare these floe outputs with
Jupyter's: run.py --reuse-floe). Prints wall times per notebook and summed,
and the ratios parallel/monolithic (summed, median, count above 1.1x) and
serial/monolithic. --rounds N keeps the best of N (default 1).

--suite generated (issue 10): the five data-analysis notebooks of
tests/realworld, each run by `jupyter nbconvert --to notebook --execute`
(nbclient + ipykernel, the reference) and by floe in its three modes
(monolithic, serial, parallel -j 2), all floe runs with --no-cache. Wall
clock of the whole command, best of --rounds (default 3); the runners are
interleaved within a round so a slow moment of the machine does not fall on
one runner only. Every floe output is also compared with nbconvert's under
the e2e oracle's normalisation (tests/e2e/oracle.py), so a speed-up never
comes from a wrong notebook.

Prints a markdown table; --out PATH writes it there too.

    /usr/bin/python3 bench/realworld.py [--suite public|generated] [--rounds N]
        [--jobs 2] [--filter SUBSTR] [--out results.md]"""
import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time

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


TIMING = re.compile(r"^\s*%%?time(it)?\b", re.M)


def public(a):
    sys.path.insert(0, os.path.join(common.ROOT, "tests", "public"))
    import run as suite  # tests/public/run.py
    nbs, skipped = [], []
    for src, name in suite.notebooks(a.filter):
        srcs = suite.cell_sources(src, name)
        (skipped if any(TIMING.search(c) for c in srcs) else nbs).append((src, name, len(srcs)))
    runners = ["jupyter", "parallel", "serial", "monolithic"] + (["nolineage"] if a.baseline else [])
    variants = {}  # --variant MODE:VAR=VAL[,VAR=VAL]: floe in MODE under those variables
    for v in a.variant:
        mode, _, env = v.partition(":")
        variants[v] = (mode, dict(kv.split("=", 1) for kv in env.split(",") if kv))
        runners.append(v)
    head = ("real-world public notebooks (tests/public): wall clock, best of %d; floe --no-cache, parallel -j %d; "
            "%d notebooks (%d skipped for %%timeit/%%time)\nmachine: %s\ndate: %s" % (
                a.rounds, a.jobs, len(nbs), len(skipped), common.machine(),
                time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print(head, flush=True)
    rows = []
    for src, name, cells in nbs:
        best = {r: float("inf") for r in runners}
        rcs = {}
        for i in range(a.rounds):
            for r in runners:
                if r == "jupyter":
                    w = suite.workdir("nbconvert", src)
                    out = os.path.join(suite.BUILD, "nbconvert", "%s-%s.ipynb" % (src, name))
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    t0 = time.perf_counter()
                    p = common.run([common.PYTHON, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                                    "--allow-errors", "--ExecutePreprocessor.timeout=600",
                                    "--output-dir", os.path.dirname(out), "--output", os.path.basename(out),
                                    os.path.join(w, name + ".ipynb")], check=False)[1]
                    t, rc = time.perf_counter() - t0, p.returncode
                elif r == "nolineage":  # parallel as before issue 17: every cell in a fresh kernel
                    os.environ["FLOE_LINEAGE"] = "0"
                    try:
                        _, t, rc, _ = suite.run_floe(src, name, "parallel", a.jobs)
                    finally:
                        del os.environ["FLOE_LINEAGE"]
                elif r in variants:
                    mode, env = variants[r]
                    saved = {k: os.environ.get(k) for k in env}
                    os.environ.update(env)
                    try:
                        _, t, rc, _ = suite.run_floe(src, name, mode, a.jobs)
                    finally:
                        for k, old in saved.items():
                            if old is None:
                                os.environ.pop(k, None)
                            else:
                                os.environ[k] = old
                else:
                    _, t, rc, _ = suite.run_floe(src, name, r, a.jobs)
                best[r] = min(best[r], t)
                rcs[r] = rc
        rows.append((src + "/" + name, cells, best, rcs))
        if a.out:  # the table so far, so an interrupted run still leaves its numbers
            render(rows, skipped, head + "\n(partial: %d of %d notebooks)" % (len(rows), len(nbs)), a.out, quiet=True)
        print("  %-55s %3d cells  jupyter %6.2f  par %6.2f  ser %6.2f  mono %6.2f  par/mono %.2f%s%s" % (
            src + "/" + name, cells, best["jupyter"], best["parallel"], best["serial"], best["monolithic"],
            best["parallel"] / best["monolithic"],
            (("  nolin %6.2f" % best["nolineage"]) if a.baseline else "") +
            "".join("  [%s] %6.2f" % (v, best[v]) for v in variants),
            "".join(" %s rc=%s" % (r, c) for r, c in rcs.items() if c not in (0, None))), flush=True)
    render(rows, skipped, head, a.out)


LOGLINE = re.compile(r"^  (\S+) +(\d+) cells  jupyter +([\d.]+)  par +([\d.]+)  ser +([\d.]+)  mono +([\d.]+)")


def from_log(a):
    """The table and ratios of the per-notebook lines of an earlier run's
    output (e.g. one stopped before its end)."""
    rows, head = [], []
    with open(a.from_log) as f:
        for line in f:
            m = LOGLINE.match(line)
            if m:
                best = dict(zip(["jupyter", "parallel", "serial", "monolithic"], map(float, m.group(3, 4, 5, 6))))
                rows.append((m.group(1), int(m.group(2)), best, {}))
            elif not rows and line.strip():
                head.append(line.rstrip("\n"))
    head.append("(table rebuilt from the per-notebook lines of %s: %d notebooks)" % (
        os.path.basename(a.from_log), len(rows)))
    render(rows, None, "\n".join(head), a.out)


def render(rows, skipped, head, out, quiet=False):
    runners = ["jupyter", "parallel", "serial", "monolithic"]
    lines = ["| notebook | cells | jupyter nbconvert s | floe parallel s | floe serial s | floe monolithic s "
             "| parallel/monolithic | serial/monolithic | parallel/jupyter |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = {r: sum(row[2][r] for row in rows) for r in runners}
    for name, cells, best, _ in rows:
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |" % (
            name, cells, best["jupyter"], best["parallel"], best["serial"], best["monolithic"],
            best["parallel"] / best["monolithic"], best["serial"] / best["monolithic"],
            best["parallel"] / best["jupyter"]))
    if rows:
        lines.append("| **total** | %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |" % (
            sum(r[1] for r in rows), tot["jupyter"], tot["parallel"], tot["serial"], tot["monolithic"],
            tot["parallel"] / tot["monolithic"], tot["serial"] / tot["monolithic"], tot["parallel"] / tot["jupyter"]))
    pm = [r[2]["parallel"] / r[2]["monolithic"] for r in rows]
    sm = [r[2]["serial"] / r[2]["monolithic"] for r in rows]
    above = [r[0] for r, x in zip(rows, pm) if x > 1.1]
    summ = ["",
            "summed: parallel/monolithic %.2fx (target <= 0.8x), serial/monolithic %.2fx (target <= 1.2x), "
            "parallel/jupyter %.2fx, monolithic/jupyter %.2fx" % (
                tot["parallel"] / tot["monolithic"], tot["serial"] / tot["monolithic"],
                tot["parallel"] / tot["jupyter"], tot["monolithic"] / tot["jupyter"]),
            "per notebook: parallel/monolithic median %.2fx, %d of %d above 1.1x (target 0); "
            "serial/monolithic median %.2fx" % (common.median(pm), len(above), len(rows), common.median(sm)),
            "above 1.1x: " + (", ".join(above) or "none"),
            "failed runs (exit status not 0 with --allow-errors): " + (", ".join(
                "%s %s" % (r[0], m) for r in rows for m, c in r[3].items() if c not in (0, None)) or "none"),
            "skipped (%timeit/%time): " + (", ".join(s + "/" + n for s, n, _ in skipped)
                                           if skipped is not None else "see the run's header")]
    if rows and all("nolineage" in r[2] for r in rows):
        nl = sum(r[2]["nolineage"] for r in rows)
        summ.insert(1, "parallel --no-lineage (before issue 17), same run: %.2f s summed, %.2fx monolithic; "
                       "parallel/parallel --no-lineage %.2fx" % (nl, nl / tot["monolithic"], tot["parallel"] / nl))
    for v in sorted({k for r in rows for k in r[2] if ":" in k}):
        if all(v in r[2] for r in rows):
            mode = v.partition(":")[0]
            vt = sum(r[2][v] for r in rows)
            summ.insert(1, "%s under %s, same run: %.2f s summed, %.2fx monolithic; %s/this %.2fx" % (
                mode, v.partition(":")[2], vt, vt / tot["monolithic"], mode, tot[mode] / vt))
    table = "\n".join(lines + summ)
    if not quiet:
        print()
        print(table)
    if out:
        with open(out, "w") as f:
            f.write(head + "\n\n" + table + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["public", "generated"], default="public")
    ap.add_argument("--from-log", help="rebuild the public table from the output of an earlier run")
    ap.add_argument("--rounds", type=int, default=None,
                    help="runs per runner; the best is kept (default 1 for public, 3 for generated)")
    ap.add_argument("--jobs", type=int, default=2, help="floe parallel -j (default 2)")
    ap.add_argument("--filter", default="", help="only notebooks whose name contains this")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--variant", action="append", default=[], metavar="MODE:VAR=VAL[,VAR=VAL]",
                    help="public: also floe in MODE under these environment variables, e.g. "
                         "parallel:FLOE_LINEAGE_SPARE=0 (repeatable)")
    ap.add_argument("--baseline", action="store_true",
                    help="public: also floe parallel --no-lineage (FLOE_LINEAGE=0), every cell in a fresh kernel")
    a = ap.parse_args()
    if not os.path.exists(common.FLOE):
        sys.exit("no %s: run make build" % common.FLOE)
    if a.from_log:
        return from_log(a)
    if a.suite == "public":
        a.rounds = a.rounds or 1
        return public(a)
    a.rounds = a.rounds or 3
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
