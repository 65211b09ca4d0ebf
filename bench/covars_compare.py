#!/usr/bin/env python3
"""Co-variable detection cost in one process: floe's walk (covars.groups)
against the ideas of ElasticNotebook (an id graph walked in Python through
attributes, lists, tuples, sets and dicts) and Kishu (the ids memoized by a
pickler over each variable; here the pure-Python pickler, as Kishu
subclasses one), re-implemented from their papers' description for
timing only. Kishu's own tracker treats dtypes and some immutables apart,
which this sketch does not: its "link" answers are not shown.

    /usr/bin/python3 bench/covars_compare.py"""
import io, pickle, sys, time
from inspect import isclass
from types import ModuleType
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "python"))
import numpy as np, pandas as pd
import matplotlib; matplotlib.use("agg"); import matplotlib.pyplot as plt
from floe_kernel import covars

def en_graph(obj, visited):  # ElasticNotebook's id-graph walk (idea, not its code)
    visited.add(id(obj))
    if not isinstance(obj, ModuleType) and not isclass(obj) and hasattr(obj, "__dict__"):
        ch = list(vars(obj).values())
    elif type(obj) in (list, tuple, set):
        ch = list(obj)
    elif type(obj) is dict:
        ch = list(obj.keys()) + list(obj.values())
    else:
        ch = []
    for c in ch:
        if id(c) not in visited:
            en_graph(c, visited)

def kishu_ids(obj):  # Kishu: ids in a (Python-level) pickler's memo
    f = io.BytesIO()
    p = pickle._Pickler(f, protocol=5)
    p.dump(obj)
    return set(p.memo.keys())

rng = np.random.default_rng(0)
df = pd.DataFrame(rng.random((2_000_000, 10)), columns=list("abcdefghij"))
fig, ax = plt.subplots(); ax.plot(np.arange(1000)); ax.set_title("t")
arr = np.arange(10)
cases = {
    "frame + column": {"df": df, "s": df["a"]},
    "array + view": {"arr": arr, "view": arr[5:8]},
    "figure + axes": {"fig": fig, "ax": ax},
    "100k small lists + alias": {"rows": [[i, i + 1] for i in range(100_000)]},
    "1M ints + alias": {"numbers": list(range(1_000_000))},
}
cases["100k small lists + alias"]["first"] = cases["100k small lists + alias"]["rows"][0]
cases["1M ints + alias"]["same"] = cases["1M ints + alias"]["numbers"]
print("%-26s %12s %-22s %12s %-8s %12s" % ("values", "floe us", "floe groups", "EN us", "EN link", "Kishu us"))
for name, vals in cases.items():
    t = time.perf_counter(); g, _ = covars.groups(vals, covars.Walk()); tf = (time.perf_counter() - t) * 1e6
    sys.setrecursionlimit(100000)
    t = time.perf_counter()
    sets = []
    for v in vals.values():
        s = set(); en_graph(v, s); sets.append(s)
    te = (time.perf_counter() - t) * 1e6
    en = bool(sets[0] & sets[1])
    t = time.perf_counter()
    try:
        ks = [kishu_ids(v) for v in vals.values()]
        kl = bool(ks[0] & ks[1])
    except Exception as e:
        kl = "error"
    tk = (time.perf_counter() - t) * 1e6
    print("%-26s %12.0f %-22s %12.0f %-8s %12s" % (name, tf, g, te, en, "%.0f" % tk if kl != "error" else "error"))
