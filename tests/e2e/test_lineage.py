"""Kernel lineage (issue 17, src/core/core_lineage.c): a finished cell's
kernel goes on with a later cell that reads what it holds. The corpus
notebook adv_lineage checks the outputs against Jupyter in every mode
(test_notebooks.py); these tests check what it cannot: that the kernels do
go on (the trace's "continue" events), that --no-lineage gives the same
notebook without them, and the memory budget of the kernels kept idle."""
import json
import os
import subprocess

import pytest
from conftest import write_nb

import oracle

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
os.environ.setdefault("FLOE_PYTHON", "/usr/bin/python3")
CORPUS = os.path.join(os.path.dirname(__file__), "..", "notebooks")


def default_env(**kw):
    """The environment without FLOE_LINEAGE: lineage is on by default."""
    env = {k: v for k, v in os.environ.items() if k != "FLOE_LINEAGE"}
    env.update(kw)
    return env


def run(nb, tmp_path, *args, env=None, timeout=300):
    out, trace = tmp_path / "out.ipynb", tmp_path / "trace.json"
    r = subprocess.run([FLOE, "run", str(nb), "-o", str(out), "-q", "--no-cache", "--trace", str(trace), *args],
                       capture_output=True, text=True, timeout=timeout, env=default_env(**(env or {})))
    texts = []
    for c in json.loads(out.read_text())["cells"]:
        if c["cell_type"] != "code":
            continue
        texts.append("".join("".join(o.get("text", "")) if o["output_type"] == "stream"
                             else "%s: %s" % (o.get("ename"), o.get("evalue")) for o in c.get("outputs", [])))
    data = json.loads(trace.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    return r, texts, events


def named(events, name):
    return [e for e in events if e["name"] == name]


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_cells_go_on_in_their_producers_kernel_with_the_same_outputs(tmp_path, mode):
    nb = os.path.join(CORPUS, "adv_lineage.ipynb")
    args = ["--mode", mode, "-j", "2"]
    r, texts, events = run(nb, tmp_path, *args)
    assert r.returncode == 0, r.stderr
    r0, texts0, events0 = run(nb, tmp_path, *args, "--no-lineage")
    assert r0.returncode == 0, r0.stderr
    assert texts == texts0
    assert texts[3] == "[1, 2] new 5\n"  # y rewritten by a cell that ran beside the chain
    assert texts[5] == "NameError name 'z' is not defined\n"
    assert named(events, "continue") and not named(events0, "continue")
    # a chain goes on without forks: fewer kernels, fewer imports
    imports = [e for e in events if e["name"].startswith("import:")]
    imports0 = [e for e in events0 if e["name"].startswith("import:")]
    assert len(imports) < len(imports0)


def test_small_cells_in_serial_mode_run_in_one_kernel(tmp_path):
    # the many-short-cells case: every cell reads the one before
    cells = ["n0 = 0"] + ["n%d = n%d + 1" % (i, i - 1) for i in range(1, 12)] + ["print(n11)"]
    nb = tmp_path / "chain.ipynb"
    write_nb(nb, cells)
    r, texts, events = run(nb, tmp_path, "--mode", "serial")
    assert r.returncode == 0, r.stderr
    assert texts[-1] == "11\n"
    assert len(named(events, "continue")) == len(cells) - 1
    assert not [e for e in events if e["name"].startswith("import:")]
    # FLOE_LINEAGE=0 turns the default off: every cell in a fresh kernel
    r0, texts0, events0 = run(nb, tmp_path, "--mode", "serial", env=default_env(FLOE_LINEAGE="0"))
    assert r0.returncode == 0 and texts0 == texts
    assert not named(events0, "continue") and [e for e in events0 if e["name"].startswith("import:")]


def test_kernels_kept_over_the_memory_budget_are_evicted_and_readers_import(tmp_path):
    # cell 0's kernel (40 MB of its own) waits for cell 2, which also waits
    # for the slow cell 1: kept idle, it is over a 1 MB budget
    cells = ["import numpy as np\nbig = np.ones(5_000_000)\nsmall = 2",
             "import time\ntime.sleep(1.5)\nw = 1",
             "print(big.sum(), small, w)"]
    nb = tmp_path / "budget.ipynb"
    write_nb(nb, cells)
    args = ["--mode", "parallel", "-j", "2"]
    r, texts, events = run(nb, tmp_path, *args, "--mem-budget", "1M")
    assert r.returncode == 0, r.stderr
    assert texts[2] == "5000000.0 2 1\n"
    drops = named(events, "drop-lineage")
    assert any("memory budget" in e["args"].get("why", "") for e in drops), drops
    assert [e for e in events if e["name"] == "import:big"]
    # within the default budget the reader goes on in cell 0's kernel instead
    r, texts2, events2 = run(nb, tmp_path, *args)
    assert r.returncode == 0 and texts2 == texts
    assert not [e for e in named(events2, "drop-lineage") if "memory budget" in e["args"].get("why", "")]
    assert not [e for e in events2 if e["name"] == "import:big"]


# The corpus notebooks about what a kernel that goes on must not carry,
# against Jupyter in the isolated modes (test_notebooks runs them too; here
# the outcome does not depend on FLOE_LINEAGE in the environment)
LINEAGE_NBS = sorted(n for n in os.listdir(CORPUS) if n.startswith("adv_lineage") and n.endswith(".ipynb"))


@pytest.mark.parametrize("mode", ["serial", "parallel"])
@pytest.mark.parametrize("name", LINEAGE_NBS)
def test_lineage_notebooks_match_jupyter(tmp_path, name, mode):
    path = os.path.join(CORPUS, name)
    want = oracle.normalise(oracle.run_jupyter(path))
    out = tmp_path / "out.ipynb"
    r = subprocess.run([FLOE, "run", path, "-o", str(out), "-q", "--no-cache", "--mode", mode, "-j", "2"],
                       capture_output=True, text=True, timeout=300, env=default_env())
    assert r.returncode == 0, r.stderr
    d = oracle.diff(want, oracle.normalise(json.loads(out.read_text())))
    assert d is None, d


# ---- fork from template: where the graph branches (core_lineage_fork) --------------------

BIG = "s = pd.Series(np.arange(300_000).astype(str)).astype(object)"


def test_branching_readers_fork_from_the_template_import_nothing_and_match_jupyter(tmp_path):
    # one producer, three independent readers of what its kernel holds: they
    # fork from it (none goes on in it while forked ones run); none imports, and each
    # sees the producer's objects as it left them -- identities (b is s, a
    # view of arr, even id()), which no import keeps -- as in Jupyter's one
    # process. (A module attribute set by cell 0 would make its kernel a
    # holder: test_notebooks' adv_library_state.)
    import oracle
    cells = ["import numpy as np, pandas as pd\n" + BIG +
             "\nb = s\narr = np.arange(10.0)\nv = arr[2:5]\ni0 = id(s)",
             "print(s.iloc[11], b is s, v.base is arr, id(s) == i0)",
             "print(s.iloc[22], b is s, v.base is arr, id(b) == i0)",
             "print(len(s), b is s, v.base is arr, id(s) == i0)"]
    nb = tmp_path / "branch.ipynb"
    write_nb(nb, cells)
    # FLOE_BRANCH_MS=0: fork whatever the readers' durations (by default
    # short readers go on one after the other: the next test)
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_BRANCH_MS": "0"})
    assert r.returncode == 0, r.stderr
    assert texts[1] == "11 True True True\n"
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    got = oracle.normalise(json.loads((tmp_path / "out.ipynb").read_text()))
    assert want == got, oracle.diff(want, got)
    forks = named(events, "fork-template")
    assert len(forks) >= 2, [e["name"] for e in events]
    assert {e["args"]["cell"] for e in forks} | {e["args"]["cell"] for e in named(events, "continue")} == {1, 2, 3}
    assert not [e for e in events if e["name"].startswith("import:")]


def test_short_branching_readers_go_on_one_after_the_other(tmp_path):
    # the same readers by default: not known to take longer than a new
    # kernel costs (FLOE_BRANCH_MS, 150 ms), they do not fork (each forked
    # short cell paid 60-150 ms of copy-on-write faults on a VM: pydata-book
    # ch05); they go on in the producer's kernel in turn, importing nothing
    cells = ["import numpy as np, pandas as pd\n" + BIG + "\nb = s\narr = np.arange(10.0)\nv = arr[2:5]\ni0 = id(s)",
             "print(s.iloc[11], b is s, v.base is arr, id(s) == i0)",
             "print(s.iloc[22], b is s, v.base is arr, id(b) == i0)",
             "print(len(s), b is s, v.base is arr, id(s) == i0)"]
    nb = tmp_path / "branch.ipynb"
    write_nb(nb, cells)
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3")
    assert r.returncode == 0, r.stderr
    assert texts[1:] == ["11 True True True\n", "22 True True True\n", "300000 True True True\n"]
    assert not named(events, "fork-template"), [e["name"] for e in events]
    assert {e["args"]["cell"] for e in named(events, "continue")} == {1, 2, 3}
    assert any("not known to take longer" in e["args"]["why"] for e in named(events, "no-fork"))
    assert not [e for e in events if e["name"].startswith("import:")]


def test_a_producer_that_leaves_a_thread_running_is_not_forked_from(tmp_path):
    # fork copies the calling thread only: the readers import instead (one may
    # go on in the producer's kernel; each reader sleeps past the spare wait so
    # the others cannot all go on there one after another)
    cells = ["import threading, time\nimport numpy as np, pandas as pd\n" + BIG +
             "\nthreading.Thread(target=time.sleep, args=(3,), daemon=True).start()",
             "x = sum(range(4_000_000))\nprint(s.iloc[1])",
             "x = sum(range(4_000_000))\nprint(s.iloc[2])",
             "x = sum(range(4_000_000))\nprint(s.iloc[3])"]
    nb = tmp_path / "thread.ipynb"
    write_nb(nb, cells)
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_BRANCH_MS": "0"})
    assert r.returncode == 0, r.stderr
    assert texts[1:] == ["1\n", "2\n", "3\n"]
    assert not named(events, "fork-template")
    assert any("threads" in e["args"]["why"] for e in named(events, "no-fork"))
    assert [e for e in events if e["name"].startswith("import:")]


def test_a_template_dropped_while_its_forked_children_run_waits_for_them(tmp_path):
    # cells 1, 2 and 3 fork from cell 0's kernel; cell
    # 4 (after cell 1) goes on in cell 1's (it holds s and y), so cell 0's
    # kernel is of no more use while cell 2 still runs in its child: a
    # forked kernel dies with its template (PR_SET_PDEATHSIG), so the
    # template is killed only once it ends
    cells = ["import numpy as np, pandas as pd\n" + BIG,
             "y = s.iloc[1]",
             "import time\ntime.sleep(8)\nprint(s.iloc[2])",
             "print(s.iloc[4])",
             "print(y, s.iloc[3])"]
    nb = tmp_path / "drop.ipynb"
    write_nb(nb, cells)
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_BRANCH_MS": "0"})
    assert r.returncode == 0, r.stderr
    assert texts[2:] == ["2\n", "4\n", "1 3\n"]
    assert len(named(events, "fork-template")) >= 2
    drops = [e for e in named(events, "drop-lineage") if e["args"].get("deferred")]
    assert drops, named(events, "drop-lineage")


def test_a_forked_reader_that_mutates_what_it_keeps_writes_it(tmp_path):
    # the fingerprints a forked reader compares its kept values with are
    # taken once by the template, before it forks: a mutation the static
    # prediction misses (through a function) is still seen as a write, and
    # the readers after it see the mutated list, as in Jupyter
    import oracle
    cells = ["L = list(range(5))\ndef grow(x):\n    x.append(len(x))",
             "grow(L)\nprint(len(L))",
             "print(len(L), L[-1])",
             "print(sum(L))"]
    nb = tmp_path / "mutate.ipynb"
    write_nb(nb, cells)
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_LINEAGE_FORK": "always"})
    assert r.returncode == 0, r.stderr
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    got = oracle.normalise(json.loads((tmp_path / "out.ipynb").read_text()))
    assert want == got, oracle.diff(want, got)
    assert named(events, "fork-template")


def test_readers_forked_from_a_template_draw_unseeded_without_reruns(tmp_path):
    # a forked reader gets a new random state (as a zygote's child does);
    # the seed() calls doing that went through the seed wrappers the
    # template had installed and marked a seed in effect that no cell set:
    # each reader's unseeded draw was then exported as random state and the
    # readers after it ordered and re-run on it (two re-runs here)
    nb = tmp_path / "draw.ipynb"
    write_nb(nb, ["import numpy as np, random, time\na = np.arange(5)",
                  "time.sleep(0.3)\nx1 = a.sum() + np.random.rand()\nprint(x1 >= 10)",
                  "time.sleep(0.3)\nx2 = a.sum() + np.random.rand()\nprint(x2 >= 10)",
                  "time.sleep(0.3)\nx3 = a.sum() + random.random()\nprint(x3 >= 10)"])
    r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_LINEAGE_FORK": "always"})
    assert r.returncode == 0, r.stderr
    assert texts[1:] == ["True\n"] * 3
    assert named(events, "fork-template")
    assert [e["args"].get("cell") for e in named(events, "rerun")] == []


def test_no_fork_from_a_kernel_with_a_native_thread_pool(tmp_path):
    # scikit-learn's pairwise distances run an OpenMP parallel region;
    # libgomp keeps its worker threads, which a fork does not copy: a reader
    # forked from that kernel waited for them forever in its own first
    # parallel region (pdsh 05.11 hung in GOMP_parallel). Kernels report
    # their OS threads; floe forks no reader from one with a pool alive
    pytest.importorskip("sklearn")
    cells = ["import numpy as np\nfrom sklearn.metrics import pairwise_distances_argmin\n"
             "rng = np.random.RandomState(0)\nX = rng.rand(2000, 8)\nC = rng.rand(10, 8)\n"
             "print(pairwise_distances_argmin(X, C)[:5])",
             "print(pairwise_distances_argmin(X[:1000], C)[:3])",
             "print(pairwise_distances_argmin(X[1000:], C)[:3])",
             "print(pairwise_distances_argmin(C, X)[:3])"]
    nb = tmp_path / "omp.ipynb"
    write_nb(nb, cells)
    try:
        r, texts, events = run(nb, tmp_path, "--mode", "parallel", "-j", "3", env={"FLOE_LINEAGE_FORK": "always"},
                               timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung (a reader forked from a kernel with OpenMP's pool alive)")
    assert r.returncode == 0, r.stderr
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    got = oracle.normalise(json.loads((tmp_path / "out.ipynb").read_text()))
    assert want == got, oracle.diff(want, got)
    assert any("native threads" in e["args"].get("why", "") for e in named(events, "no-fork"))
