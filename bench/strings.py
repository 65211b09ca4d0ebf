#!/usr/bin/env python3
"""Object-dtype string columns through floe's artifact codecs: a 10M-row
Series of strings (a 100k-name vocabulary, and all-unique values, and the
unique ones with 10% NaN) exported and imported by the Arrow codec
(floe_kernel.arrow_codec, what an artifact of such a column takes) and by
pickle protocol 5, side by side, each import in a fresh process (as a
reader kernel would), rounds interleaved; prints the best of the rounds and
the ratio arrow/pickle.

  bench/strings.py [--rows 10000000] [--rounds 3]
"""
import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PYTHON, ROOT, machine  # noqa: E402

LOAD = r'''
import pickle, sys, time
sys.path.insert(0, sys.argv[1])
from floe_kernel import arrow_codec
import pandas
t = time.perf_counter()
if sys.argv[2] == "arrow":
    v = arrow_codec.load(sys.argv[3])
else:
    with open(sys.argv[3], "rb") as f:
        v = pickle.load(f)
print(time.perf_counter() - t, len(v))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if os.path.realpath(sys.executable) != os.path.realpath(PYTHON):
        os.execv(PYTHON, [PYTHON] + sys.argv)
    import numpy as np
    import pandas as pd
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from floe_kernel import arrow_codec

    rng = np.random.default_rng(0)
    n = a.rows
    vocab = np.array(["name%d" % i for i in range(100_000)], dtype=object)
    unique = pd.Series(np.array(["row-%09d" % i for i in range(n)], dtype=object))
    cases = [("vocabulary 100k", pd.Series(vocab[rng.integers(0, len(vocab), n)])),
             ("unique", unique), ("unique, 10% NaN", unique.where(rng.random(n) > 0.1))]
    print("# string columns, %d rows, best of %d rounds (%s)" % (n, a.rounds, machine()))
    print("%-16s %9s %9s %9s %9s %7s %7s" % ("column", "arrow out", "pickle out", "arrow in", "pickle in",
                                              "out a/p", "in a/p"))
    with tempfile.TemporaryDirectory() as d:
        for name, s in cases:
            t = {k: [] for k in ("ad", "pd", "al", "pl")}
            ap_, pp = os.path.join(d, "s.arrow"), os.path.join(d, "s.pkl")
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                arrow_codec.dump(s, ap_)
                t["ad"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with open(pp, "wb") as f:
                    pickle.dump(s, f, protocol=5)
                t["pd"].append(time.perf_counter() - t0)
                for key, codec, path in (("al", "arrow", ap_), ("pl", "pickle", pp)):
                    out = subprocess.run([PYTHON, "-c", LOAD, os.path.join(ROOT, "python"), codec, path],
                                         capture_output=True, text=True, check=True)
                    t[key].append(float(out.stdout.split()[0]))
            b = {k: min(v) for k, v in t.items()}
            print("%-16s %8.2fs %8.2fs %8.2fs %8.2fs %7.2f %7.2f" % (
                name, b["ad"], b["pd"], b["al"], b["pl"], b["ad"] / b["pd"], b["al"] / b["pl"]))


if __name__ == "__main__":
    main()
