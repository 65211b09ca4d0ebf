"""Scaling of DataFrame transfer between kernels: floe's Arrow codec vs
pickle protocol 5 (floe's out-of-band layout, mapped) vs plain pickle
through a pipe to another process (parquet needs pyarrow, absent here).

For each size: export (write the file), cold import (load in a fresh
process; time of the load call only, file in page cache), hot import
(load again in the same process, best of 5); memcpy bandwidth of the same
machine for reference.

Then the fork-vs-import column (bench/forkread.py): a reader of a 10M-row
string Series and of the 100,000 x 2 frame started by fork from its
producer's kernel (kernel lineage's fork from template) vs by import, side
by side in one run (--fork-rounds 0 skips it).

usage: python3 bench/scaling.py [--max-int 7] [--max-mixed 6] [--dir /dev/shm] [--svg plot.svg]"""
import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from floe_kernel import arrow_codec, store  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench"))
import forkread  # noqa: E402

COLD = r"""
import sys, time
sys.path.insert(0, %(py)r)
import pandas, numpy
from floe_kernel import arrow_codec, store
t0 = time.perf_counter()
if %(codec)r == "arrow":
    v = arrow_codec.load(%(path)r)
else:
    v = store._read_pickle(%(path)r, None)
t1 = time.perf_counter()
assert len(v) == %(n)d
print(t1 - t0)
"""

PIPE_READER = r"""
import sys, pickle, time
import pandas
data = sys.stdin.buffer.read()
v = pickle.loads(data)
print(time.perf_counter())
"""


def best(fn, k=5):
    ts = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def memcpy_bw():
    a = np.ones(64 << 20, np.uint8)
    b = np.empty_like(a)
    t = best(lambda: np.copyto(b, a))
    return a.nbytes / t / 1e9


def frames(kind, n):
    if kind == "int":
        return pd.DataFrame({"a": np.arange(n, dtype=np.int64), "b": np.arange(n, dtype=np.int64) * 3})
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "épsilon"], dtype=object)
    return pd.DataFrame({"f": rng.standard_normal(n),
                         "s": words[rng.integers(0, 5, n)] + (np.arange(n) % 97).astype(str).astype(object),
                         "c": pd.Categorical(words[rng.integers(0, 5, n)])})


def cold(codec, path, n):
    src = COLD % {"py": os.path.join(ROOT, "python"), "codec": codec, "path": path, "n": n}
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def pipe(value):
    """pickle (protocol 5, in-band) written through a pipe to a fresh
    process that unpickles; time from dumps start to the reader's done,
    minus the reader's own startup (measured with an empty payload)."""
    def run(payload):
        p = subprocess.Popen([sys.executable, "-c", PIPE_READER], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        time.sleep(0.6)  # let it import pandas
        t0 = time.perf_counter()
        data = pickle.dumps(payload, protocol=5)
        out, _ = p.communicate(data)
        return float(out) - t0
    return run(value)


def ms(x):
    return "%9.3f" % (x * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-int", type=int, default=7)
    ap.add_argument("--max-mixed", type=int, default=6)
    ap.add_argument("--dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir())
    ap.add_argument("--svg", help="also plot the times against rows (log-log) into this SVG file")
    ap.add_argument("--fork-rounds", type=int, default=1, help="rounds of the fork-vs-import column (0: skip)")
    ap.add_argument("--fork-rows", type=int, default=10_000_000)
    args = ap.parse_args()
    rows = []
    bw = memcpy_bw()
    print("memcpy bandwidth: %.1f GB/s" % bw)
    d = tempfile.mkdtemp(dir=args.dir, prefix="floe-scaling-")
    hdr = "%-6s %9s %9s | %9s %9s %9s | %9s %9s %9s | %9s | %s" % (
        "frame", "rows", "MB", "arrow exp", "cold imp", "hot imp", "pkl5 exp", "cold imp", "hot imp",
        "pipe pkl", "arrow exp+hot / memcpy")
    print(hdr)
    print("-" * len(hdr))
    for kind, top in (("int", args.max_int), ("mixed", args.max_mixed)):
        for e in range(3, top + 1):
            n = 10 ** e
            df = frames(kind, n)
            pa = os.path.join(d, "%s%d.arrow" % (kind, e))
            pp = os.path.join(d, "%s%d.pkl" % (kind, e))
            k = 5 if n <= 10 ** 6 else 2
            a_exp = best(lambda: arrow_codec.dump(df, pa), k)
            a_hot = best(lambda: arrow_codec.load(pa), k)
            a_cold = cold("arrow", pa, n)
            p_exp = best(lambda: store._write_pickle(df, pp), k)
            p_hot = best(lambda: store._read_pickle(pp, None), k)
            p_cold = cold("pickle", pp, n)
            p_pipe = pipe(df) if n <= 10 ** 6 else float("nan")
            mb = os.path.getsize(pa) / 1e6
            memcpy_t = os.path.getsize(pa) / (bw * 1e9)
            print("%-6s %9d %9.2f | %s %s %s | %s %s %s | %s | %.1fx" % (
                kind, n, mb, ms(a_exp), ms(a_cold), ms(a_hot), ms(p_exp), ms(p_cold), ms(p_hot), ms(p_pipe),
                (a_exp + a_hot) / memcpy_t))
            rows.append((kind, n, {"arrow export": a_exp, "arrow cold import": a_cold, "arrow hot import": a_hot,
                                   "pickle5 export": p_exp, "pickle5 cold import": p_cold,
                                   "pickle5 hot import": p_hot, "pickle through a pipe": p_pipe}))
            os.unlink(pa)
            os.unlink(pp)
    os.rmdir(d)
    print("times in ms; cold = load call in a fresh process (file in page cache)")
    if args.fork_rounds > 0:
        print("\nfork vs import: a reader started by fork from its producer's kernel vs by import"
              " (floe run, parallel -j 3, %d round(s), median; times in s)" % args.fork_rounds, flush=True)
        forkread.report(forkread.measure(args.fork_rounds, args.fork_rows))
    if args.svg:
        plot(rows, args.svg, bw)
        print("plot: %s" % args.svg)


def plot(rows, path, bw):
    """One panel per frame kind: time of each operation against rows,
    log-log; the memcpy of the same bytes as a reference line."""
    import matplotlib
    matplotlib.use("agg")  # writes .svg (and .png) files
    import matplotlib.pyplot as plt
    kinds = [k for k in ("int", "mixed") if any(r[0] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.5), squeeze=False)
    styles = {"arrow": ("tab:blue", "floe Arrow"), "pickle5": ("tab:orange", "pickle 5 (mapped)"),
              "pickle": ("tab:gray", "pickle")}
    marks = {"export": "o-", "cold import": "s--", "hot import": "^:", "through a pipe": "x-."}
    for ax, kind in zip(axes[0], kinds):
        rs = [r for r in rows if r[0] == kind]
        xs = [r[1] for r in rs]
        for key in rs[0][2]:
            codec, op = key.split(" ", 1)
            color, label = styles[codec]
            ys = [r[2][key] * 1e3 for r in rs]
            pts = [(x, y) for x, y in zip(xs, ys) if y == y]  # NaN: not measured
            if pts:
                ax.plot(*zip(*pts), marks[op], color=color, label="%s %s" % (label, op), markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel("ms")
        ax.set_title("%s frame (%s)" % (kind, "2 int64 columns" if kind == "int" else "float, string, categorical"))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("DataFrame transfer between kernels (memcpy here: %.1f GB/s)" % bw, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
