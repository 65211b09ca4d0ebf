"""Shared helpers of the benchmarks under bench/: where floe and Python are,
running a command with a wall clock, machine facts for the report, and
comparing two executed notebooks' outputs."""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOE = os.environ.get("FLOE", os.path.join(ROOT, "build", "floe"))
PYTHON = os.environ.get("FLOE_PYTHON", "/usr/bin/python3")


def env(update=None):
    """The benchmarks' environment: FLOE_PYTHON, and a private zygote per run
    (FLOE_WARM=0) unless the caller or the user's environment says
    otherwise; update's None values remove a variable."""
    e = dict(os.environ)
    e["FLOE_PYTHON"] = PYTHON
    e.setdefault("FLOE_WARM", "0")
    for k, v in (update or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def run(cmd, check=True, env_update=None, **kw):
    """Runs cmd, returns (seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env(env_update), stdin=subprocess.DEVNULL, **kw)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
        raise SystemExit(1)
    return dt, p


def floe(args, **kw):
    return run([FLOE] + args, **kw)


def nbconvert(nb, out):
    """`jupyter nbconvert --to notebook --execute`, the reference runner."""
    d = os.path.dirname(os.path.abspath(out))
    return run([PYTHON, "-m", "nbconvert", "--to", "notebook", "--execute",
                "--ExecutePreprocessor.timeout=600", "--output-dir", d,
                "--output", os.path.basename(out), nb])


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    py = subprocess.run([PYTHON, "-c", "import sys;print(sys.version.split()[0])"],
                        stdout=subprocess.PIPE, text=True).stdout.strip()
    return "%s, %d cores, %.0f GiB, Linux %s, Python %s" % (cpu, os.cpu_count() or 1, mem,
                                                          platform.release(), py)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


_ADDR = re.compile(r"0x[0-9a-f]+")


def outputs(path):
    """The normalised outputs of every code cell of an executed notebook."""
    with open(path) as f:
        nb = json.load(f)
    res = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        outs = []
        for o in c.get("outputs", []):
            o = {k: v for k, v in o.items() if k not in ("metadata", "transient")}
            outs.append(_ADDR.sub("0x?", json.dumps(o, sort_keys=True)))
        res.append(outs)
    return res


def trace_events(path):
    with open(path) as f:
        t = json.load(f)
    evs = t["traceEvents"] if isinstance(t, dict) else t
    return [e for e in evs if e.get("ph") == "X"], (t.get("otherData", {}) if isinstance(t, dict) else {})


def table(rows, header):
    w = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r))
    out = [line(header), line(["-" * x for x in w])]
    out += [line(r) for r in rows]
    return "\n".join(out)
