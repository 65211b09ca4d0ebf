#!/usr/bin/env python3
"""The real-notebook suite (issue 16): the public notebooks of tests/public
(see MANIFEST.md) run by Jupyter twice and by floe in its three modes.

For each notebook:
  1. Jupyter (nbclient + ipykernel, /usr/bin/python3, as tests/e2e/oracle.py)
     runs it twice; a cell is *compared* only if its normalised outputs
     (oracle.normalise) agree between the two Jupyter runs: what Jupyter does
     not reproduce itself (random draws without a seed, timings, dates) says
     nothing about floe.
  2. floe runs it in monolithic, serial and parallel (-j 2) mode, --no-cache,
     --allow-errors (and Jupyter with allow_errors: an error is an output
     like any other and the cells after it still count).
  3. A compared cell is *equal* if floe's normalised outputs are the
     Jupyter ones; a notebook is equal if all its compared cells are (and
     floe wrote a notebook).

Every run gets a fresh copy of the notebook's source directory (its data
files) under build/public/work/<runner>/, so files a notebook writes never
leak into the next run or into the repository; that directory's path is
replaced by <dir> in outputs before comparing.

Jupyter's executed notebooks are cached in build/public/jupyter/, keyed by
the sha256 of the notebook, its data files and the run number (1 or 2), so
only the floe side runs again. floe's executed notebooks go to
build/public/floe/<mode>/ and per-cell differences to
build/public/diffs/<mode>/<notebook>.txt; the totals to
build/public/results.json.

    /usr/bin/python3 tests/public/run.py [--modes monolithic,serial,parallel]
        [--filter SUBSTR] [--jupyter-only] [--jobs 2] [--reuse-floe]"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import oracle  # noqa: E402

BUILD = os.environ.get("FLOE_PUBLIC_BUILD", os.path.join(ROOT, "build", "public"))
# where runs copy the notebooks' directories; another root lets a second run
# (e.g. of the %timeit notebooks) go on beside bench/realworld.py
WORK = os.environ.get("FLOE_PUBLIC_WORK", os.path.join(BUILD, "work"))
TIMING = re.compile(r"^\s*%%?time(it)?\b", re.M)
FLOE = os.environ.get("FLOE", os.path.join(ROOT, "build", "floe"))
PYTHON = "/usr/bin/python3"
MODES = ["monolithic", "serial", "parallel"]
SOURCES = ["pdsh", "pydata-book", "whirlwind", "sci-lectures"]


def notebooks(filt=""):
    out = []
    for src in SOURCES:
        d = os.path.join(HERE, src)
        for n in sorted(os.listdir(d)):
            if n.endswith(".ipynb") and any(f in src + "/" + n for f in filt.split(",")):
                out.append((src, n[:-6]))
    return out


def data_digest(src, name):
    """sha256 of the notebook and every other file of its source directory."""
    h = hashlib.sha256()
    d = os.path.join(HERE, src)
    with open(os.path.join(d, name + ".ipynb"), "rb") as f:
        h.update(f.read())
    for base, dirs, files in os.walk(d):
        dirs.sort()
        for fn in sorted(files):
            if fn.endswith(".ipynb"):
                continue
            p = os.path.join(base, fn)
            h.update(os.path.relpath(p, d).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:24]


def workdir(runner, src):
    """A fresh copy of the source directory (notebooks and data)."""
    w = os.path.join(WORK, runner, src)
    shutil.rmtree(w, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, src), w)
    return w


def jupyter_path(src, name, run):
    return os.path.join(BUILD, "jupyter", "%s-%s-%s-run%d.ipynb" % (src, name, data_digest(src, name), run))


def run_jupyter(src, name, run, timeout=600):
    cached = jupyter_path(src, name, run)
    if os.path.exists(cached):
        with open(cached) as f:
            return json.load(f), None
    import nbclient
    import nbformat
    w = workdir("jupyter%d" % run, src)
    nb = nbformat.read(os.path.join(w, name + ".ipynb"), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": w}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except Exception as e:  # a timeout or a dead kernel: keep what ran
        print("    jupyter run %d of %s/%s: %s: %s" % (run, src, name, type(e).__name__, str(e)[:200]),
              flush=True)
    dt = time.perf_counter() - t0
    nb.metadata["floe_public"] = {"seconds": dt, "workdir": w}
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    tmp = cached + ".tmp%d" % os.getpid()
    nbformat.write(nb, tmp)
    os.replace(tmp, cached)
    with open(cached) as f:
        return json.load(f), dt


def run_floe(src, name, mode, jobs, reuse=False, timeout=1800):
    out = os.path.join(BUILD, "floe", mode, "%s-%s.ipynb" % (src, name))
    if reuse and os.path.exists(out):
        with open(out) as f:
            return json.load(f), 0, None, ""
    if os.path.exists(out):
        os.remove(out)
    w = workdir(mode, src)
    args = [FLOE, "run", os.path.join(w, name + ".ipynb"), "-o", out, "-q", "--no-cache",
            "--allow-errors", "--mode", mode] + (["-j", str(jobs)] if mode == "parallel" else [])
    if os.environ.get("FLOE_PUBLIC_TRACE"):  # for bench/covars.py --public (the kernels' covars events)
        tr = os.path.join(BUILD, "trace", mode, "%s-%s.json" % (src, name))
        os.makedirs(os.path.dirname(tr), exist_ok=True)
        args += ["--trace", tr]
    env = dict(os.environ, FLOE_PYTHON=PYTHON)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
        rc, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else str(e.stderr)
    dt = time.perf_counter() - t0
    if not os.path.exists(out):
        return None, dt, rc, err
    with open(out) as f:
        nb = json.load(f)
    return nb, dt, rc, err


# `ls -l` prints a file's mtime to the minute: two runs in the same minute
# agree, so without this a cell like `!ls -lh my_figure.png` is compared or
# not by chance
_LS_MTIME = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +(\d\d:\d\d|\d{4}) ")


def norm(nb, workdirs):
    """oracle.normalise after replacing the run's work directory by <dir>
    and `ls -l` mtimes by <mtime>."""
    s = json.dumps(nb)
    for w in workdirs:
        s = s.replace(w, "<dir>")
    s = _LS_MTIME.sub("<mtime> ", s)
    return oracle.normalise(json.loads(s))


def wdirs(src):
    import glob
    roots = {WORK} | set(glob.glob(os.path.join(BUILD, "work*")))
    return [os.path.join(root, r, src) for root in sorted(roots, key=len, reverse=True)
            for r in ("jupyter1", "jupyter2", "nbconvert") + tuple(MODES)]


def cell_sources(src, name):
    with open(os.path.join(HERE, src, name + ".ipynb")) as f:
        nb = json.load(f)
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--filter", default="", help="only notebooks whose src/name contains this (or one of these, comma-separated)")
    ap.add_argument("--jupyter-only", action="store_true", help="only fill Jupyter's cache")
    ap.add_argument("--jobs", type=int, default=2, help="floe -j in parallel mode (default 2)")
    ap.add_argument("--reuse-floe", action="store_true", help="compare floe outputs of an earlier run")
    ap.add_argument("--cached-only", action="store_true",
                    help="skip notebooks whose two Jupyter runs are not cached yet")
    ap.add_argument("--floe-done-only", action="store_true",
                    help="with --reuse-floe: skip notebooks without floe outputs in every mode")
    ap.add_argument("--reverse", action="store_true", help="last notebook first")
    ap.add_argument("--timing-only", action="store_true",
                    help="only notebooks using %%timeit/%%time (those bench/realworld.py skips)")
    ap.add_argument("--out", default=os.path.join(BUILD, "results.json"))
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    nbs = notebooks(a.filter)
    print("%d notebooks, modes %s" % (len(nbs), ",".join(modes)), flush=True)
    results = []
    if a.cached_only:
        nbs = [(s, n) for s, n in nbs if all(os.path.exists(jupyter_path(s, n, r)) for r in (1, 2))]
    if a.reverse:
        nbs = nbs[::-1]
    if a.floe_done_only:
        nbs = [(s, n) for s, n in nbs
               if all(os.path.exists(os.path.join(BUILD, "floe", m, "%s-%s.ipynb" % (s, n))) for m in modes)]
    if a.timing_only:
        nbs = [(s, n) for s, n in nbs if any(TIMING.search(c) for c in cell_sources(s, n))]
    for src, name in nbs:
        j1, t1 = run_jupyter(src, name, 1)
        j2, t2 = run_jupyter(src, name, 2)
        # a cached Jupyter run may come from another build directory: its
        # own work directory (in its metadata) is <dir> too
        jw = [j.get("metadata", {}).get("floe_public", {}).get("workdir") for j in (j1, j2)]
        jdirs = sorted({w for w in jw if w} - set(wdirs(src)), key=len, reverse=True)
        w1, w2 = norm(j1, jdirs + wdirs(src)), norm(j2, jdirs + wdirs(src))
        stable = [i for i in range(len(w1)) if w1[i] == w2[i]]
        row = {"nb": "%s/%s" % (src, name), "cells": len(w1), "compared": len(stable),
               "jupyter_errors": sum(1 for _, outs in w1 for o in outs if o[0] == "error"),
               "unstable": [i for i in range(len(w1)) if w1[i] != w2[i]], "modes": {}}
        line = "%-58s cells %3d compared %3d" % (row["nb"], len(w1), len(stable))
        if a.jupyter_only:
            print(line + ("  (jupyter %.1f s, %.1f s)" % (t1 or 0, t2 or 0)), flush=True)
            results.append(row)
            continue
        srcs = cell_sources(src, name)
        for m in modes:
            nb, dt, rc, err = run_floe(src, name, m, a.jobs, a.reuse_floe)
            got = norm(nb, wdirs(src)) if nb else []
            if len(got) != len(w1):
                equal, diffcells = 0, list(stable)
            else:
                diffcells = [i for i in stable if got[i] != w1[i]]
                equal = len(stable) - len(diffcells)
            row["modes"][m] = {"equal": equal, "diff": diffcells, "seconds": round(dt, 2), "rc": rc,
                               "ok": nb is not None and not diffcells}
            line += "  %s %3d/%3d%s" % (m[:3], equal, len(stable), "" if rc in (0, None) else " rc=%s" % rc)
            ddir = os.path.join(BUILD, "diffs", m)
            os.makedirs(ddir, exist_ok=True)
            dpath = os.path.join(ddir, "%s-%s.txt" % (src, name))
            if diffcells or nb is None:
                with open(dpath, "w") as f:
                    if nb is None:
                        f.write("no output notebook (rc %s)\n%s\n" % (rc, err[-3000:]))
                    for i in diffcells:
                        f.write("=== code cell %d (jupyter In[%s])\n%s\n--- jupyter:\n%r\n--- floe:\n%r\n\n" % (
                            i, w1[i][0], srcs[i] if i < len(srcs) else "?", w1[i], got[i] if got else None))
                    if err.strip():
                        f.write("=== floe stderr\n%s\n" % err[-3000:])
            elif os.path.exists(dpath):
                os.remove(dpath)
        print(line, flush=True)
        results.append(row)
    # totals
    print()
    tot_c = sum(r["compared"] for r in results)
    tot_cells = sum(r["cells"] for r in results)
    print("notebooks %d, code cells %d, compared (Jupyter reproduces itself) %d" % (len(results), tot_cells, tot_c))
    summary = {}
    for m in modes if not a.jupyter_only else []:
        eq = sum(r["modes"][m]["equal"] for r in results)
        nbeq = sum(1 for r in results if r["modes"][m]["ok"])
        summary[m] = {"cells_equal": eq, "cells_compared": tot_c, "notebooks_equal": nbeq,
                      "notebooks": len(results),
                      "seconds": round(sum(r["modes"][m]["seconds"] for r in results), 1)}
        print("%-10s cells equal %5d / %5d (%.1f%%)   notebooks equal %3d / %3d   floe %.0f s" % (
            m, eq, tot_c, 100.0 * eq / max(tot_c, 1), nbeq, len(results), summary[m]["seconds"]))
        bad = [r["nb"] for r in results if not r["modes"][m]["ok"]]
        if bad:
            print("    differ: " + ", ".join(bad))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"summary": summary, "notebooks": results}, f, indent=1)


if __name__ == "__main__":
    main()
