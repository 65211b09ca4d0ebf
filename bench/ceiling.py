"""How fast parallel mode could be at best on the public notebooks (tests/public,
skipping %timeit/%time as bench/realworld.py does), and how far floe is from it.

For each notebook, one run in monolithic mode and one in parallel mode (-j N),
each with --trace, in a fresh copy of its directory, --no-cache. From the
traces:

  mono     monolithic wall time (start of floe to its last event)
  compute  the cells' compute times in monolithic mode, summed
  fixed    mono - compute: the zygote's start (preloads), kernel fork, the
           round trips between cells; what any mode pays at least once
  crit     the longest chain of cells through floe's dependency graph (the
           parallel trace's dependency arrows), with monolithic compute times
  ideal    fixed + a list schedule of the cells on N cores in notebook order,
           respecting those dependencies, with monolithic compute times and
           nothing else: no fork, no import, no copy-on-write fault
  par      parallel wall time

ideal/mono is what parallel/monolithic could be if isolation cost nothing;
par/ideal is what floe's isolation and scheduling cost on top of it. The
dependency arrows are the reads floe saw (a cell's names and files), not the
orderings it adds (process state, random state, output order): the ideal is
a bound, parallel mode cannot beat it.

    /usr/bin/python3 bench/ceiling.py [--floe build/floe] [--jobs 2] [--filter S]
        [--traces DIR] [--reuse] [--out F]

--traces DIR keeps the traces there (default build/ceiling); --reuse analyses
the traces already there without running anything."""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "public"))
import run as suite  # noqa: E402

TIMING = re.compile(r"^\s*%%?time(it)?\b", re.M)


def trace_run(floe, src, name, mode, jobs, path):
    w = suite.workdir("ceiling-" + mode, src)
    out = os.path.join(w, name + ".out.ipynb")
    args = [floe, "run", os.path.join(w, name + ".ipynb"), "-o", out, "-q", "--no-cache", "--allow-errors",
            "--mode", mode, "-j", str(jobs), "--trace", path]
    subprocess.run(args, capture_output=True, timeout=1800, stdin=subprocess.DEVNULL,
                   env=dict(os.environ, FLOE_PYTHON=suite.PYTHON))


def events(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def wall_s(ev):
    return max(e["ts"] + e.get("dur", 0) for e in ev if "ts" in e) / 1e6


def computes(ev):
    """cell -> compute seconds of its first run."""
    d = {}
    for e in ev:
        if e.get("ph") == "X" and e.get("name") == "compute":
            d.setdefault(e["args"]["cell"], e["dur"] / 1e6)
    return d


def deps(ev):
    """cell -> the earlier cells it read from (the dependency arrows)."""
    src, out = {}, collections.defaultdict(set)
    for e in ev:
        if e.get("ph") == "s":
            src[e["id"]] = e["args"]["cell"]
    for e in ev:
        if e.get("ph") == "f" and e["id"] in src and src[e["id"]] < e["args"]["cell"]:
            out[e["args"]["cell"]].add(src[e["id"]])
    return out


def schedule(dur, dep, cores):
    """(critical path, list-schedule makespan on `cores`), in notebook order."""
    fin, done, free = {}, {}, [0.0] * cores
    for k in sorted(dur):
        fin[k] = max([fin.get(d, 0.0) for d in dep[k]] + [0.0]) + dur[k]
        ready = max([done.get(d, 0.0) for d in dep[k]] + [0.0])
        i = min(range(cores), key=lambda j: max(free[j], ready))
        done[k] = max(free[i], ready) + dur[k]
        free[i] = done[k]
    return (max(fin.values()) if fin else 0.0), (max(done.values()) if done else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--floe", default=os.path.join(ROOT, "build", "floe"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--filter", default="")
    ap.add_argument("--traces", default=os.path.join(ROOT, "build", "ceiling"))
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    os.makedirs(a.traces, exist_ok=True)
    lines = ["%s, -j %d; %s; %s" % (a.floe, a.jobs, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                     " ".join(os.uname()[2:3])), "",
             "| notebook | mono | compute | fixed | crit | ideal | par | ideal/mono | par/mono | par/ideal |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    tot = collections.Counter()
    ratios = []
    for src, name in suite.notebooks(a.filter):
        if any(TIMING.search(c) for c in suite.cell_sources(src, name)):
            continue
        paths = {m: os.path.join(a.traces, "%s-%s-%s.json" % (src, name, m)) for m in ("monolithic", "parallel")}
        for mode, path in paths.items():
            if not a.reuse:
                trace_run(a.floe, src, name, mode, a.jobs, path)
        if not all(os.path.exists(p) for p in paths.values()):
            print("| %s/%s | no trace | | | | | | | | |" % (src, name), flush=True)
            continue
        em, ep = events(paths["monolithic"]), events(paths["parallel"])
        dur = computes(em)
        mono, par = wall_s(em), wall_s(ep)
        compute = sum(dur.values())
        crit, span = schedule(dur, deps(ep), a.jobs)
        ideal = mono - compute + span
        for k, v in (("mono", mono), ("compute", compute), ("crit", crit), ("ideal", ideal), ("par", par)):
            tot[k] += v
        ratios.append((ideal / mono, par / mono))
        line = "| %s/%s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |" % (
            src, name, mono, compute, mono - compute, crit, ideal, par, ideal / mono, par / mono, par / ideal)
        lines.append(line)
        print(line, flush=True)
    if not ratios:
        return
    lines.append("| **total** | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |" % (
        tot["mono"], tot["compute"], tot["mono"] - tot["compute"], tot["crit"], tot["ideal"], tot["par"],
        tot["ideal"] / tot["mono"], tot["par"] / tot["mono"], tot["par"] / tot["ideal"]))
    inf = (tot["mono"] - tot["compute"] + tot["crit"]) / tot["mono"]
    lines += ["", "summed: ideal/monolithic %.2fx on %d cores (%.2fx with a core per cell: fixed + critical path); "
              "parallel/monolithic %.2fx; parallel/ideal %.2fx" % (
                  tot["ideal"] / tot["mono"], a.jobs, inf, tot["par"] / tot["mono"], tot["par"] / tot["ideal"]),
              "notebooks whose ideal is above 0.9x monolithic: %d of %d; above 1.1x monolithic in parallel: %d" % (
                  sum(i > 0.9 for i, _ in ratios), len(ratios), sum(p > 1.1 for _, p in ratios))]
    print("\n".join(lines[-3:]))
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
