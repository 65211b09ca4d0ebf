#!/usr/bin/env python3
"""One line per differing cell of the last tests/public/run.py: notebook,
mode, cell, its first source line, and the first difference (floe's error,
or the first differing text with some context). Input for FINDINGS.md.

    /usr/bin/python3 tests/public/summarise.py [--mode parallel] [--filter SUBSTR]"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as suite  # noqa: E402


def first_diff(a, b, ctx=50):
    a, b = repr(a), repr(b)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return "jupyter ...%s... | floe ...%s..." % (a[max(0, i - ctx // 2):i + ctx], b[max(0, i - ctx // 2):i + ctx])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="")
    ap.add_argument("--filter", default="")
    a = ap.parse_args()
    for src, name in suite.notebooks(a.filter):
        if not all(os.path.exists(suite.jupyter_path(src, name, k)) for k in (1, 2)):
            continue
        j1, _ = suite.run_jupyter(src, name, 1)
        j2, _ = suite.run_jupyter(src, name, 2)
        w = suite.norm(j1, suite.wdirs(src))
        w2 = suite.norm(j2, suite.wdirs(src))
        stable = [i for i in range(len(w)) if w[i] == w2[i]]
        srcs = suite.cell_sources(src, name)
        r = {"nb": src + "/" + name}
        for m in suite.MODES:
            if a.mode and m != a.mode:
                continue
            p = os.path.join(suite.BUILD, "floe", m, "%s-%s.ipynb" % (src, name))
            if not os.path.exists(p):
                continue
            got = suite.norm(json.load(open(p)), suite.wdirs(src))
            if len(got) != len(w):
                print("%s | %s | cell count %d != %d" % (r["nb"], m, len(got), len(w)))
                continue
            for i in [i for i in stable if got[i] != w[i]]:
                line = next((l for l in srcs[i].splitlines() if l.strip() and not l.startswith("#")), "")[:70]
                g = got[i] if got and i < len(got) else None
                errs = [o for o in (g[1] if g else []) if o[0] == "error"]
                werrs = [o for o in w[i][1] if o[0] == "error"]
                if errs and errs != werrs:
                    why = "floe error %s: %s" % (errs[0][1], errs[0][2][:120])
                else:
                    why = first_diff(w[i], g)
                print("%s | %s | cell %d | %s | %s" % (r["nb"], m, i, line, why))


if __name__ == "__main__":
    main()
