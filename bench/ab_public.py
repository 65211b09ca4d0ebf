"""Two floe builds side by side on the public notebooks (tests/public,
skipping %timeit/%time as bench/realworld.py does): per notebook, parallel
-j 2 and serial of build A and build B, and monolithic of B, interleaved in
one run, each in a fresh copy of the notebook's directory, --no-cache.
Prints wall times, B/A per mode and B's parallel/monolithic, per notebook
and summed: what a change did on real notebooks, measured on one machine at
one time (absolute times vary from machine to machine by 2-4x).

    /usr/bin/python3 bench/ab_public.py --a OLD/build/floe --b NEW/build/floe [--filter S] [--out F]"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "public"))
import run as suite  # noqa: E402

TIMING = re.compile(r"^\s*%%?time(it)?\b", re.M)


def one(floe, src, name, mode):
    w = suite.workdir("ab-" + mode, src)
    out = os.path.join(w, name + ".out.ipynb")
    args = [floe, "run", os.path.join(w, name + ".ipynb"), "-o", out, "-q", "--no-cache", "--allow-errors",
            "--mode", mode] + (["-j", "2"] if mode == "parallel" else [])
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, FLOE_PYTHON=suite.PYTHON))
    return time.perf_counter() - t0, r.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--filter", default="")
    ap.add_argument("--out")
    a = ap.parse_args()
    runs = [("A", "parallel"), ("B", "parallel"), ("A", "serial"), ("B", "serial"), ("B", "monolithic")]
    rows = []
    lines = ["A = %s, B = %s; %s; %s" % (a.a, a.b, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                         " ".join(os.uname()[2:3])), "",
             "| notebook | A par | B par | B/A par | A ser | B ser | B/A ser | B mono | B par/mono |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for src, name in suite.notebooks(a.filter):
        if any(TIMING.search(c) for c in suite.cell_sources(src, name)):
            continue
        t = {}
        for who, mode in runs:
            t[who, mode], rc = one(a.a if who == "A" else a.b, src, name, mode)
        rows.append((src + "/" + name, t))
        line = "| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2f | %.2fx |" % (
            src + "/" + name, t["A", "parallel"], t["B", "parallel"], t["B", "parallel"] / t["A", "parallel"],
            t["A", "serial"], t["B", "serial"], t["B", "serial"] / t["A", "serial"], t["B", "monolithic"],
            t["B", "parallel"] / t["B", "monolithic"])
        lines.append(line)
        print(line, flush=True)
    s = {k: sum(r[1][k] for r in rows) for k in runs}
    lines.append("| **total** | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2f | %.2fx |" % (
        s["A", "parallel"], s["B", "parallel"], s["B", "parallel"] / s["A", "parallel"], s["A", "serial"],
        s["B", "serial"], s["B", "serial"] / s["A", "serial"], s["B", "monolithic"],
        s["B", "parallel"] / s["B", "monolithic"]))
    pm = sorted(r[1]["B", "parallel"] / r[1]["B", "monolithic"] for r in rows)
    am = sorted(r[1]["A", "parallel"] / r[1]["B", "monolithic"] for r in rows)
    lines += ["", "summed: B/A parallel %.2fx, B/A serial %.2fx; parallel/monolithic A %.2fx, B %.2fx; "
              "serial/monolithic A %.2fx, B %.2fx" % (
                  s["B", "parallel"] / s["A", "parallel"], s["B", "serial"] / s["A", "serial"],
                  s["A", "parallel"] / s["B", "monolithic"], s["B", "parallel"] / s["B", "monolithic"],
                  s["A", "serial"] / s["B", "monolithic"], s["B", "serial"] / s["B", "monolithic"]),
              "per notebook parallel/monolithic: median A %.2fx, B %.2fx; above 1.1x: A %d, B %d of %d" % (
                  am[len(am) // 2], pm[len(pm) // 2], sum(x > 1.1 for x in am), sum(x > 1.1 for x in pm), len(pm))]
    print("\n".join(lines[-3:]))
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
