"""Scheduling policy (issue 6): --schedule order|critical and --stagger MS.
Whatever the policy, outputs are those of a serial run; critical-path-first
really starts the long chain first (from the trace's start order, never
from absolute times); durations of an earlier run, from the cache, change
the choice; bad values are usage errors."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FLOE = os.environ.get("FLOE", os.path.join(ROOT, "build", "floe"))
NOTEBOOKS = os.path.join(ROOT, "tests", "notebooks")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import policy  # noqa: E402  (the benchmark's notebooks)

CORPUS = ["adv_mutation.ipynb", "adv_redefine.ipynb", "adv_random_seed.ipynb", "adv_late_global_closure.ipynb",
          "functions_classes.ipynb"]
POLICIES = [("order", "0"), ("critical", "0"), ("order", "50"), ("critical", "50")]
_ADDR = re.compile(r"0x[0-9a-f]+")


def floe_run(nb, out, *args, timeout=180):
    # the cache is chosen per test by --cache-dir / --no-cache, whatever the
    # environment says (`make test-e2e` sets FLOE_NO_CACHE=1)
    env = dict(os.environ)
    env.pop("FLOE_NO_CACHE", None)
    return subprocess.run([FLOE, "run", str(nb), "-o", str(out), "-q", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def outputs(path):
    """Every code cell's outputs and execution count, addresses normalised."""
    nb = json.loads(path.read_text())
    res = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        outs = [{k: v for k, v in o.items() if k not in ("metadata", "transient")} for o in c.get("outputs", [])]
        res.append((c.get("execution_count"), _ADDR.sub("0x?", json.dumps(outs, sort_keys=True))))
    return res


def write_nb(path, cells, tags=None):
    nb = policy.notebook(cells)
    for i, t in (tags or {}).items():
        nb["cells"][i]["metadata"]["tags"] = t
    path.write_text(json.dumps(nb))


def bench_notebook(tmp_path, name):
    p = tmp_path / (name + ".ipynb")
    if name == "chain":
        write_nb(p, policy.chain_cells(short=0.05, long=0.2))
    else:
        write_nb(p, policy.contention_cells(rows=200_000, readers=6))  # 3.2 MB: above the stagger threshold
    return p


def same_as_serial(nb, tmp_path):
    ref = tmp_path / "serial.ipynb"
    r = floe_run(nb, ref, "--mode", "serial", "--no-cache")
    want = outputs(ref) if ref.exists() else None
    for sched, ms in POLICIES:
        out = tmp_path / ("out-%s-%s.ipynb" % (sched, ms))
        r2 = floe_run(nb, out, "-j", "2", "--schedule", sched, "--stagger", ms, "--no-cache")
        assert r2.returncode == r.returncode, (sched, ms, r2.stderr)
        assert outputs(out) == want, (nb.name, sched, ms)


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_same_as_serial(tmp_path, name):
    nb = tmp_path / name
    shutil.copy(os.path.join(NOTEBOOKS, name), nb)
    same_as_serial(nb, tmp_path)


@pytest.mark.parametrize("name", ["chain", "contention"])
def test_bench_notebooks_same_as_serial(tmp_path, name):
    same_as_serial(bench_notebook(tmp_path, name), tmp_path)


def compute_starts(trace):
    """code-cell index -> start of its first compute event."""
    t = json.loads(trace.read_text())
    starts = {}
    for e in t["traceEvents"]:
        if e.get("ph") == "X" and e.get("name") == "compute":
            cell = e.get("args", {}).get("cell")
            if cell is not None and cell >= 0:
                starts[cell] = min(starts.get(cell, e["ts"]), e["ts"])
    return starts


def traced(nb, tmp_path, *args):
    tr = tmp_path / "t.json"
    r = floe_run(nb, tmp_path / "o.ipynb", "--trace", str(tr), *args)
    assert r.returncode == 0, r.stderr
    return compute_starts(tr)


def chain_nb(tmp_path):
    """policy.chain_cells after a parameters cell that cell 0 reads: a new
    value runs every cell again, with the durations of the run before."""
    nb = tmp_path / "chain.ipynb"
    cells = policy.chain_cells(short=0.2, long=0.5)
    write_nb(nb, ["p = 1"] + [cells[0].replace("x = 10", "x = 10 * p")] + cells[1:], tags={0: ["parameters"]})
    return nb


def test_critical_starts_the_chain_first(tmp_path):
    # cells (after the parameters cell and the one papermill injects): 0
    # writes x; 1..6 short readers; 7 -> 8 -> 9 the long chain
    nb, off = chain_nb(tmp_path), 2
    cache = ["--cache-dir", str(tmp_path / "cache"), "-j", "2"]
    traced(nb, tmp_path, *cache, "--schedule", "critical", "-p", "p", "1")   # learns the durations
    s = traced(nb, tmp_path, *cache, "--schedule", "critical", "-p", "p", "2")
    assert s[off + 7] < min(s[off + c] for c in range(2, 7)), s     # the chain takes a kernel at once
    # (ties go in notebook order: a sched scenario; measured durations are never equal)
    s = traced(nb, tmp_path, *cache, "--schedule", "order", "-p", "p", "3")
    assert s[off + 7] > max(s[off + c] for c in range(1, 7)), s     # notebook order: the chain last


def test_critical_without_durations_is_notebook_order(tmp_path):
    # a first run knows no duration: one unit per cell would start later
    # cells first, each in a new kernel (their process state is ahead of the
    # earlier cells'), which short cells pay for (pydata-book ch05)
    nb = tmp_path / "chain.ipynb"
    write_nb(nb, policy.chain_cells(short=0.2, long=0.5))
    s = traced(nb, tmp_path, "-j", "2", "--no-cache", "--schedule", "critical")
    assert s[7] > max(s[c] for c in range(1, 7)), s


def test_default_is_critical(tmp_path):
    nb, off = chain_nb(tmp_path), 2
    cache = ["--cache-dir", str(tmp_path / "cache"), "-j", "2"]
    traced(nb, tmp_path, *cache, "-p", "p", "1")
    s = traced(nb, tmp_path, *cache, "-p", "p", "2")
    assert s[off + 7] < min(s[off + c] for c in range(2, 7)), s


def test_critical_uses_cached_durations(tmp_path):
    # a chain of three short cells before one long cell, one kernel: with no
    # duration known the first run goes in notebook order; once the cache
    # knows how long they took, the long cell goes first
    nb = tmp_path / "dur.ipynb"
    write_nb(nb, ["import time\np = 1", "time.sleep(0.01)\nb = p\nprint(b)", "b2 = b + 1\nprint(b2)",
                  "b3 = b2 + 1\nprint(b3)", "time.sleep(1.0)\na = p\nprint(a)"],
             tags={0: ["parameters"]})
    cache = ["--cache-dir", str(tmp_path / "cache"), "-j", "1", "--schedule", "critical"]
    s = traced(nb, tmp_path, *cache, "-p", "p", "1")       # cells shift by one: injected parameters at 1
    assert s[2] < s[5], s
    s = traced(nb, tmp_path, *cache, "-p", "p", "2")       # new inputs: everything after runs again
    assert s[5] < s[2], s


@pytest.mark.parametrize("args,msg", [
    (["--schedule", "fastest"], "--schedule must be critical or order"),
    (["--schedule"], "--schedule must be critical or order"),
    (["--stagger", "-5"], "--stagger needs milliseconds"),
    (["--stagger", "abc"], "--stagger needs milliseconds"),
    (["--stagger", ""], "--stagger needs milliseconds"),
    (["--stagger", "1e9"], "--stagger needs milliseconds"),
    (["--stagger"], "--stagger needs milliseconds"),
])
def test_bad_values(tmp_path, args, msg):
    nb = tmp_path / "n.ipynb"
    write_nb(nb, ["x = 1"])
    r = subprocess.run([FLOE, "run", str(nb), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert msg in r.stderr, r.stderr
    assert not r.stdout


def test_help_documents_the_options():
    r = subprocess.run([FLOE, "run", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert "--schedule POLICY" in r.stdout and "--stagger MS" in r.stdout


def compute_spans(trace):
    t = json.loads(trace.read_text())
    return {e["args"]["cell"]: (e["ts"], e["ts"] + e["dur"]) for e in t["traceEvents"]
            if e.get("ph") == "X" and e.get("name") == "compute" and e.get("args", {}).get("cell", -1) >= 0}


def overlaps(spans, cells):
    iv = sorted(spans[c] for c in cells)
    return any(b[0] < a[1] for a, b in zip(iv, iv[1:]))


def test_stagger_spreads_readers_of_a_large_artifact(tmp_path):
    # readers of a 3.2 MB DataFrame and of a small one: with a stagger far
    # longer than a reader, the big one's readers never run at the same time
    # (the next starts when the last finished); the small one's readers are
    # not held back, and without --stagger the big one's overlap too
    nb = tmp_path / "s.ipynb"
    cells = ["import time\nimport numpy as np\nimport pandas as pd\n"
             "big = pd.DataFrame(np.arange(400_000).reshape(-1, 2), columns=['x', 'y'])\nsmall = [1, 2]"]
    cells += ["time.sleep(0.4)\nb%d = int(big.x.sum()) + %d\nprint(b%d)" % (i, i, i) for i in range(3)]
    cells += ["time.sleep(0.4)\ns%d = sum(small) + %d\nprint(s%d)" % (i, i, i) for i in range(2)]
    write_nb(nb, cells)
    tr = tmp_path / "t.json"
    r = floe_run(nb, tmp_path / "o.ipynb", "-j", "3", "--no-cache", "--stagger", "60000", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    spans = compute_spans(tr)
    assert not overlaps(spans, [1, 2, 3]), spans
    assert overlaps(spans, [1, 2, 3, 4, 5]), spans
    r = floe_run(nb, tmp_path / "o.ipynb", "-j", "3", "--no-cache", "--stagger", "0", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    assert overlaps(compute_spans(tr), [1, 2, 3]), spans


# ---- wide cells (a thread pool on every core) ----------------------------------------

WIDE_CELLS = [
    # two threads computing in numpy (which releases the GIL): the kernel
    # uses both cores for about 4 s, as an OpenMP or BLAS pool would (8
    # samples before cell 1 ends: a noisy machine may steal some)
    "import threading, time\nimport numpy as np\na = np.random.rand(400, 400)\n"
    "def work(stop):\n    while time.monotonic() < stop:\n        np.sqrt(a) @ a\n"
    "stop = time.monotonic() + 4\nts = [threading.Thread(target=work, args=(stop,)) for _ in range(2)]\n"
    "[t.start() for t in ts]\n[t.join() for t in ts]\nprint('wide done')",
    "import time\ntime.sleep(2)\nprint('one')",
    "print('two')",
]


def _events(trace):
    data = json.loads(trace.read_text())
    return data["traceEvents"] if isinstance(data, dict) else data


@pytest.mark.parametrize("wide", ["1", "0"])
def test_no_cell_starts_beside_a_wide_cell(tmp_path, wide):
    """Cell 0 keeps both cores busy, cell 1 sleeps 2 s, cell 2 is
    instant: with the wide policy (the default) cell 2 starts only once
    cell 0 is done, since starting it beside an OpenMP pool
    oversubscribes the cores; with FLOE_WIDE=0 it starts when cell 1 ends.
    The order of events in the trace, not times, is what is checked."""
    from conftest import write_nb
    nb = tmp_path / "wide.ipynb"
    write_nb(nb, WIDE_CELLS)
    env = dict(os.environ, FLOE_WIDE=wide, FLOE_NO_CACHE="1")
    trace = tmp_path / "t.json"
    r = subprocess.run([FLOE, "run", str(nb), "-o", str(tmp_path / "o.ipynb"), "-q", "--mode", "parallel", "-j", "2",
                        "--trace", str(trace)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    ev = [e for e in _events(trace) if e.get("ph") != "M"]
    compute = {e["args"]["cell"]: e for e in ev if e["name"] == "compute"}
    end0 = compute[0]["ts"] + compute[0]["dur"]
    marks = [e for e in ev if e["name"] == "wide" and e["args"].get("cell") == 0]
    if wide == "1":
        assert marks, "cell 0 was never seen wide: %s" % [e["name"] for e in ev]
        assert compute[2]["ts"] >= end0 - 50_000, (compute[2]["ts"], end0)
    else:
        assert not marks
        assert compute[2]["ts"] < end0
