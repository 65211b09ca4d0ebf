#!/usr/bin/env python3
"""floe --mode monolithic against `jupyter nbconvert --to notebook --execute`
on the same notebooks, side by side in one run: one kernel, cells in order,
in both; floe has no Jupyter server, no ZeroMQ and no per-message
serialisation. Notebooks: every tests/notebooks/*.ipynb that runs without
errors, plus the synthetic workload."""
import argparse
import glob
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import synthetic  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    print("floe monolithic vs nbconvert   machine: %s   rounds: %d (median)" % (common.machine(), a.rounds),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="floe-mono-") as d:
        syn = os.path.join(d, "synthetic.ipynb")
        synthetic.write_nb(syn, 10)
        nbs = sorted(glob.glob(os.path.join(common.ROOT, "tests", "notebooks", "*.ipynb"))) + [syn]
        rows, res = [], {}
        tf = tn = 0.0
        for nb in nbs:
            out = os.path.join(d, "out.ipynb")
            f, n = [], []
            ok = True
            for _ in range(a.rounds):
                t, p = common.floe(["run", nb, "-o", out, "--mode", "monolithic", "-q"], check=False)
                if p.returncode != 0:
                    ok = False
                    break
                f.append(t)
                t, _ = common.run([common.PYTHON, "-m", "nbconvert", "--to", "notebook", "--execute",
                                   "--output-dir", d, "--output", "nbc.ipynb", nb], check=False)
                n.append(t)
            if not ok:
                continue
            mf, mn = common.median(f), common.median(n)
            tf += mf
            tn += mn
            name = os.path.basename(nb)
            res[name] = {"floe": mf, "nbconvert": mn}
            rows.append([name, "%.2f" % mf, "%.2f" % mn, "%.2fx" % (mf / mn)])
            print("  %s done" % name, flush=True)
        rows.append(["total (%d notebooks)" % len(res), "%.2f" % tf, "%.2f" % tn, "%.2fx" % (tf / tn)])
        print()
        print(common.table(rows, ["notebook", "floe mono s", "nbconvert s", "floe / nbconvert"]))
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
