"""Incremental re-runs (issue 8): what a re-run executes after an edit is
exactly the affected set, and the output equals a full uncached run."""
import json
import os
import subprocess

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))

CELLS = [
    "import time\nbase = 10\nrecord = []",                   # 0
    "data = open('input.csv').read().split(',')",            # 1
    "total = base + len(data)\nrecord.append('t')",          # 2
    "other = base * 3",                                      # 3
    "print('total', total, 'other', other)",                 # 4
    "print('last', other + 1)",                              # 5
]


def write_nb(path, cells, tags=None):
    tags = tags or {}
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i,
                     "metadata": {"tags": tags.get(i, [])}, "outputs": [], "source": src}
                    for i, src in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def run(path, *args, mode="serial"):
    env = dict(os.environ)
    env.pop("FLOE_NO_CACHE", None)
    out = path.with_name("out.ipynb")
    r = subprocess.run([FLOE, "run", str(path), "-o", str(out), "--mode", mode, "--preload", "IPython",
                        "--trace", str(path.with_name("t.json")), *args],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    trace = json.loads(path.with_name("t.json").read_text())
    ran = sorted({e["args"]["cell"] for e in trace["traceEvents"] if e.get("name") == "compute"})
    restored = sorted({e["args"]["cell"] for e in trace["traceEvents"] if e.get("name") == "restore"})
    return json.loads(out.read_text()), ran, restored


def outputs(nb):
    return [["".join(o.get("text") or "") for o in c["outputs"]] for c in nb["cells"]]


def full_run(tmp_path, cells):
    d = tmp_path / "full"
    d.mkdir(exist_ok=True)
    (d / "input.csv").write_text((tmp_path / "input.csv").read_text())
    write_nb(d / "n.ipynb", cells)
    nb, _, _ = run(d / "n.ipynb", "--no-cache")
    return outputs(nb)


@pytest.fixture
def nbdir(tmp_path):
    (tmp_path / "input.csv").write_text("a,b,c")
    write_nb(tmp_path / "n.ipynb", CELLS)
    return tmp_path


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_rerun_unchanged_restores_everything(nbdir, mode):
    nb1, ran1, _ = run(nbdir / "n.ipynb", mode=mode)
    assert ran1 == list(range(len(CELLS)))
    nb2, ran2, restored = run(nbdir / "n.ipynb", mode=mode)
    assert ran2 == [] and restored == list(range(len(CELLS)))
    assert outputs(nb2) == outputs(nb1)


def test_edit_last_cell_runs_only_it(nbdir):
    run(nbdir / "n.ipynb")
    cells = CELLS[:-1] + ["print('last', other + 2)"]
    write_nb(nbdir / "n.ipynb", cells)
    nb, ran, _ = run(nbdir / "n.ipynb")
    assert ran == [5]
    assert outputs(nb) == full_run(nbdir, cells)


def test_edit_middle_cell_runs_its_dependents(nbdir):
    run(nbdir / "n.ipynb")
    cells = list(CELLS)
    cells[3] = "other = base * 4"
    write_nb(nbdir / "n.ipynb", cells)
    nb, ran, _ = run(nbdir / "n.ipynb")
    assert ran == [3, 4, 5]
    assert outputs(nb) == full_run(nbdir, cells)


def test_changed_input_file(nbdir):
    run(nbdir / "n.ipynb")
    (nbdir / "input.csv").write_text("a,b,c,d,e")
    nb, ran, _ = run(nbdir / "n.ipynb")
    assert ran == [1, 2, 4]
    assert outputs(nb) == full_run(nbdir, CELLS)
    st = subprocess.run([FLOE, "status", str(nbdir / "n.ipynb")], capture_output=True, text=True)
    assert "6 of 6 cells fresh" in st.stdout, st.stdout


def test_status_reports_reasons(nbdir):
    run(nbdir / "n.ipynb")
    (nbdir / "input.csv").write_text("x")
    cells = list(CELLS)
    cells[5] = "print('edited')"
    write_nb(nbdir / "n.ipynb", cells)
    st = subprocess.run([FLOE, "status", str(nbdir / "n.ipynb"), "--json"], capture_output=True, text=True)
    assert st.returncode == 0, st.stderr
    s = json.loads(st.stdout)
    states = [(c["index"], c["state"]) for c in s["cells"]]
    assert states[0] == (0, "fresh") and states[3] == (3, "fresh")
    assert states[1] == (1, "stale") and "input.csv" in s["cells"][1]["reason"]
    assert states[5] == (5, "never run")


def test_parameter_change_reruns_dependents(tmp_path):
    write_nb(tmp_path / "p.ipynb", ["alpha = 1", "print(alpha * 2)", "print('indep')"], tags={0: ["parameters"]})
    run(tmp_path / "p.ipynb", "-p", "alpha", "2")
    nb, ran, _ = run(tmp_path / "p.ipynb", "-p", "alpha", "3")
    assert ran == [1, 2] and "6\n" in outputs(nb)[2][0]  # injected cell is index 1


def test_always_run_marker(nbdir):
    cells = list(CELLS)
    cells[3] = "# floe: always-run\nother = base * 3"
    write_nb(nbdir / "n.ipynb", cells)
    run(nbdir / "n.ipynb")
    _, ran, _ = run(nbdir / "n.ipynb")
    assert ran == [3]


def test_cache_gc_and_clear(nbdir):
    run(nbdir / "n.ipynb")
    r = subprocess.run([FLOE, "cache", "gc", "--max-size", "0", "--cache-dir", str(nbdir / ".floe")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "0 bytes" in r.stdout.splitlines()[-1], r.stdout
    r = subprocess.run([FLOE, "cache", "clear", "--cache-dir", str(nbdir / ".floe")], capture_output=True, text=True)
    assert r.returncode == 0 and "0 entries" in r.stdout
    _, ran, _ = run(nbdir / "n.ipynb")
    assert ran == list(range(len(CELLS)))


def test_restored_result_numbered_as_its_cell(tmp_path):
    """A cell restored from the cache gets its execute_result numbered with
    its own execution count in this run, not the count it had when the
    entry was stored (here by the same cell, with the same input, at
    another position in another notebook sharing the directory's cache)."""
    write_nb(tmp_path / "a.ipynb", ["x = 21", "x * 2"])
    write_nb(tmp_path / "b.ipynb", ["print(1)", "print(2)", "x = 21", "x * 2"])
    run(tmp_path / "a.ipynb")
    nb, ran, restored = run(tmp_path / "b.ipynb")
    assert 3 in restored, (ran, restored)  # the bug needs the restore path
    cell = nb["cells"][3]
    assert cell["execution_count"] == 4
    assert [o.get("execution_count") for o in cell["outputs"] if o["output_type"] == "execute_result"] == [4]


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_same_cell_under_another_process_state_is_not_restored(tmp_path, mode):
    """Two cells with one source and the same inputs print differently under
    different display options (pd.options, %precision): the second must not
    be restored from the first's entry, in the run that fills the cache nor
    in the next; and the next run restores both (the state's hash is stable)."""
    cells = ["import pandas as pd\ndf = pd.DataFrame({'a': range(30)})\nx = 3.14159265",
             "pd.options.display.max_rows = 6\n%precision 2", "print(len(repr(df).splitlines()))\nx",
             "pd.options.display.max_rows = 60\n%precision 4", "print(len(repr(df).splitlines()))\nx"]
    p = tmp_path / "n.ipynb"
    write_nb(p, cells)

    def shown(nb):
        return [["".join(o.get("text") or "") + "".join((o.get("data") or {}).get("text/plain", ""))
                 for o in c["outputs"]] for c in nb["cells"]]
    want = [[], ["'%.2f'"], ["10\n", "3.14"], ["'%.4f'"], ["31\n", "3.1416"]]
    for attempt in ("fill", "restore"):
        nb, ran, restored = run(p, "--cache-dir", str(tmp_path / "cache"), "--preload", "IPython,pandas", mode=mode)
        assert shown(nb) == want, attempt
    assert restored == [0, 1, 2, 3, 4] and ran == []


def test_cell_running_only_a_query_program_is_cached(tmp_path):
    # `ldconfig -p` (ctypes.util.find_library; threadpoolctl runs it at
    # scikit-learn's first fit) writes no file: the cell is no file user and
    # is cached; any other child process still makes its cell uncached
    write_nb(tmp_path / "q.ipynb", [
        "import subprocess\nr = subprocess.run(['ldconfig', '-p'], capture_output=True)\nprint(r.returncode)",
        "import subprocess\nr = subprocess.run(['true'])\nprint(r.returncode + 2)"])
    nb, ran, restored = run(tmp_path / "q.ipynb")
    assert outputs(nb) == [["0\n"], ["2\n"]] and ran == [0, 1]
    nb, ran, restored = run(tmp_path / "q.ipynb")
    assert restored == [0] and ran == [1], (ran, restored)
    assert outputs(nb) == [["0\n"], ["2\n"]]


def test_cell_whose_library_import_starts_a_process_is_cached(tmp_path):
    # importing pandas (not preloaded: --preload IPython) runs a process
    # (ctypes.util.find_library's ldconfig): the cell was marked as using
    # files through a child process and never cached; a process started by
    # a library's import is its setup. One started by the import of a module
    # of the notebook's directory still counts (it may write files there)
    (tmp_path / "localmod.py").write_text("import subprocess\nsubprocess.run(['touch', 'made.txt'])\nV = 1\n")
    write_nb(tmp_path / "n.ipynb", ["import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})",
                                    "print(df.a.sum())",
                                    "import localmod\nprint(localmod.V)"])
    nb, ran, restored = run(tmp_path / "n.ipynb")
    assert outputs(nb)[1:] == [["3\n"], ["1\n"]] and ran == [0, 1, 2]
    nb, ran, restored = run(tmp_path / "n.ipynb")
    assert restored == [0, 1] and ran == [2], (ran, restored)
    assert outputs(nb)[1:] == [["3\n"], ["1\n"]]
