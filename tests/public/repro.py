#!/usr/bin/env python3
"""Runs a minimal reproduction of a finding (tests/public/repro/*.py, cells
separated by `# %%` lines) with Jupyter (nbclient, once, uncached) and floe in
each mode (--no-cache), and prints the cells whose normalised outputs differ.

    /usr/bin/python3 tests/public/repro.py tests/public/repro/F1-*.py [--modes parallel]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import oracle  # noqa: E402

FLOE = os.environ.get("FLOE", os.path.join(oracle.ROOT, "build", "floe"))


def cells(path):
    src, cur = [], []
    for line in open(path):
        if line.startswith("# %%"):
            if cur and "".join(cur).strip():
                src.append("".join(cur).strip("\n"))
            cur = []
        else:
            cur.append(line)
    if "".join(cur).strip():
        src.append("".join(cur).strip("\n"))
    return src


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--modes", default="monolithic,serial,parallel")
    a = ap.parse_args()
    import nbclient
    import nbformat
    for path in a.files:
        with tempfile.TemporaryDirectory(prefix="floe-repro-") as d:
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell(c) for c in cells(path)]
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            # each runner in its own empty directory: files one writes must
            # not be found by the next
            for sub in ["jupyter"] + a.modes.split(","):
                os.makedirs(os.path.join(d, sub))
                nbformat.write(nb, os.path.join(d, sub, "repro.ipynb"))
            want_nb = nbformat.read(os.path.join(d, "jupyter", "repro.ipynb"), as_version=4)
            nbclient.NotebookClient(want_nb, timeout=120, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": os.path.join(d, "jupyter")}}).execute()
            want = oracle.normalise(json.loads(nbformat.writes(want_nb)))
            print("== %s (%d cells)" % (os.path.basename(path), len(want)))
            for m in a.modes.split(","):
                p = os.path.join(d, m, "repro.ipynb")
                out = os.path.join(d, "out-%s.ipynb" % m)
                r = subprocess.run([FLOE, "run", p, "-o", out, "-q", "--no-cache", "--allow-errors", "--mode", m]
                                   + (["-j", "2"] if m == "parallel" else []),
                                   capture_output=True, text=True, env=dict(os.environ, FLOE_PYTHON="/usr/bin/python3"))
                got = oracle.normalise(json.load(open(out))) if os.path.exists(out) else []
                bad = [i for i in range(len(want)) if i >= len(got) or got[i] != want[i]]
                print("  %-10s %s" % (m, "equal" if not bad else "differs in cells %s (exit %d)" % (bad, r.returncode)))
                for i in bad[:2]:
                    print("    cell %d jupyter: %r\n    cell %d floe:    %r" % (i, want[i], i, got[i] if i < len(got) else None))


if __name__ == "__main__":
    main()
