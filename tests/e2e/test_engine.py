"""Engine behaviour in every mode: errors, timeouts, dead kernels, signals,
parameters, and that nothing (process or shared-memory file) outlives a run."""
import json
import os
import signal
import subprocess
import time

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
MODES = ["monolithic", "serial", "parallel"]


def write_nb(path, cells, tags=None):
    tags = tags or {}
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i,
                     "metadata": {"tags": tags.get(i, [])}, "outputs": [], "source": src}
                    for i, src in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def run(path, *args, timeout=120):
    out = path.with_name("out.ipynb")
    r = subprocess.run([FLOE, "run", str(path), "-o", str(out), "-q", "--preload", "IPython", *args],
                       capture_output=True, text=True, timeout=timeout)
    nb = json.loads(out.read_text()) if out.exists() else None
    return r, nb


def texts(cell):
    return "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")


@pytest.mark.parametrize("mode", MODES)
def test_first_error_stops(tmp_path, mode):
    p = tmp_path / "e.ipynb"
    write_nb(p, ["x = 1\nprint(x)", "1/0", "print('after')"])
    r, nb = run(p, "--mode", mode)
    assert r.returncode == 1, r.stderr
    cells = nb["cells"]
    assert texts(cells[0]) == "1\n" and cells[0]["execution_count"] == 1
    assert cells[1]["outputs"][-1]["ename"] == "ZeroDivisionError" and cells[1]["execution_count"] == 2
    assert cells[2]["outputs"] == [] and cells[2]["execution_count"] is None


@pytest.mark.parametrize("mode", MODES)
def test_allow_errors_and_tags(tmp_path, mode):
    p = tmp_path / "e.ipynb"
    write_nb(p, ["x = 1", "raise ValueError('tagged')", "y = x + 1\n1/0", "print(y)", "print('skipped')", "   "],
             tags={1: ["raises-exception"], 4: ["skip-execution"]})
    r, nb = run(p, "--mode", mode, "--allow-errors")
    assert r.returncode == 0, r.stderr
    c = nb["cells"]
    assert c[1]["outputs"][-1]["ename"] == "ValueError"
    assert c[2]["outputs"][-1]["ename"] == "ZeroDivisionError"
    assert texts(c[3]) == "2\n"          # the write before the error is seen, as in Jupyter
    assert c[4]["outputs"] == [] and c[4]["execution_count"] is None
    assert c[5]["execution_count"] is None
    assert [x["execution_count"] for x in c[:4]] == [1, 2, 3, 4]


@pytest.mark.parametrize("mode", MODES)
def test_raises_exception_tag_does_not_stop(tmp_path, mode):
    p = tmp_path / "e.ipynb"
    write_nb(p, ["raise KeyError('k')", "print('still')"], tags={0: ["raises-exception"]})
    r, nb = run(p, "--mode", mode)
    assert r.returncode == 0, r.stderr
    assert texts(nb["cells"][1]) == "still\n"


@pytest.mark.parametrize("mode", MODES)
def test_timeout(tmp_path, mode):
    p = tmp_path / "t.ipynb"
    write_nb(p, ["print('before')", "while True:\n    pass", "print('after')"])
    t0 = time.time()
    r, nb = run(p, "--mode", mode, "--timeout", "1")
    assert time.time() - t0 < 30
    assert r.returncode == 1, r.stderr
    outs = nb["cells"][1]["outputs"]
    assert outs[-1]["ename"] == "CellTimeoutError", outs
    assert nb["cells"][2]["outputs"] == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["import os; os._exit(3)", "import ctypes; ctypes.string_at(0)",
                                 "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
def test_dead_kernel(tmp_path, mode, how):
    p = tmp_path / "d.ipynb"
    write_nb(p, ["a = 1", how, "print('after')"])
    r, nb = run(p, "--mode", mode)
    assert r.returncode == 1, r.stderr
    err = nb["cells"][1]["outputs"][-1]
    assert err["ename"] == "DeadKernelError" and "Kernel died" in err["evalue"], err
    assert nb["cells"][2]["outputs"] == []


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_dead_kernel_allow_errors_runs_independent_cells(tmp_path, mode):
    p = tmp_path / "d.ipynb"
    write_nb(p, ["a = 1", "import os; os._exit(3)", "print(a + 1)"])
    r, nb = run(p, "--mode", mode, "--allow-errors")
    assert r.returncode == 0, r.stderr
    assert nb["cells"][1]["outputs"][-1]["ename"] == "DeadKernelError"
    assert texts(nb["cells"][2]) == "2\n"


@pytest.mark.parametrize("mode", MODES)
def test_sigint_writes_partial_notebook(tmp_path, mode):
    p = tmp_path / "s.ipynb"
    started = tmp_path / "started"  # the sleeping cell runs: the first has finished (a fixed wait raced load)
    # the sleeping cell reads what the first wrote, so it starts after it in every mode
    write_nb(p, ["first = 1\nprint('done first')", "import time, os\nfirst\n"
                 "os.close(os.open(%r, os.O_CREAT | os.O_WRONLY))\ntime.sleep(60)" % str(started), "print('never')"])
    out = tmp_path / "out.ipynb"
    proc = subprocess.Popen([FLOE, "run", str(p), "-o", str(out), "-q", "--preload", "IPython", "--mode", mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    nb = json.loads(out.read_text())
    assert texts(nb["cells"][0]) == "done first\n"
    assert nb["cells"][2]["outputs"] == []


def test_sigint_records_interrupted_cells_that_shared_a_file(tmp_path):
    """Two cells running at once, both appending to one file, are interrupted:
    the first gets its KeyboardInterrupt in the notebook, as in Jupyter. (The
    file race between them used to replay both when they ended, so the
    stopped run wrote neither's outputs.)"""
    p = tmp_path / "s.ipynb"
    started = tmp_path / "started"  # a line per cell whose code runs
    cell = "import time\nopen(%r, 'a').write('x\\n')\ntime.sleep(60)" % str(started)
    write_nb(p, [cell, cell, "print('never')"])
    out = tmp_path / "out.ipynb"
    proc = subprocess.Popen([FLOE, "run", str(p), "-o", str(out), "-q", "--preload", "IPython", "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not started.exists() or len(started.read_text().split()) < 2):
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    cells = json.loads(out.read_text())["cells"]
    assert [o.get("ename") for o in cells[0]["outputs"]] == ["KeyboardInterrupt"], cells[0]["outputs"]
    assert cells[1]["outputs"] == cells[2]["outputs"] == []


@pytest.mark.parametrize("mode", MODES)
def test_parameters(tmp_path, mode):
    p = tmp_path / "p.ipynb"
    write_nb(p, ["alpha = 1\nname = 'x'", "print(alpha, name, ratio)"], tags={0: ["parameters"]})
    r, nb = run(p, "--mode", mode, "-p", "alpha", "0.5", "-p", "name", 'say "hi"', "-p", "ratio", "3")
    assert r.returncode == 0, r.stderr
    cells = nb["cells"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters"]
    assert "".join(cells[1]["source"]) == '# Parameters\nalpha = 0.5\nname = "say \\"hi\\""\nratio = 3\n'
    assert texts(cells[2]) == '0.5 say "hi" 3\n'


def test_percent_script_default_output(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("# %%\nx = 2\n\n# %% [markdown]\n# hi\n\n# %%\nprint(x * 3)\n")
    r = subprocess.run([FLOE, "run", str(p), "-q", "--preload", "IPython", "--mode", "serial"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    nb = json.loads((tmp_path / "s.ipynb").read_text())
    assert [c["cell_type"] for c in nb["cells"]] == ["code", "markdown", "code"]
    assert texts(nb["cells"][2]) == "6\n"


def test_kernels_run_in_notebook_directory(tmp_path):
    d = tmp_path / "sub"
    d.mkdir()
    (d / "data.txt").write_text("hello file")
    p = d / "n.ipynb"
    write_nb(p, ["print(open('data.txt').read())"])
    r = subprocess.run([FLOE, "run", str(p), "-q", "--preload", "IPython"], capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert texts(json.loads(p.read_text())["cells"][0]) == "hello file\n"


def test_stale_run_dirs_swept(tmp_path):
    """A run directory left by a floe that died (SIGKILL) is removed by the
    next run; one whose pid is alive is left alone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = "/dev/shm/floe-%d-0" % dead.pid
    live = "/dev/shm/floe-%d-7" % os.getpid()
    for d in (stale, live):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "x@1.pkl"), "w") as f:
            f.write("x")
    try:
        p = tmp_path / "n.ipynb"
        write_nb(p, ["x = 1"])
        r, nb = run(p, "--mode", "serial", "--no-cache")
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(stale), "stale run directory of a dead floe was not removed"
        assert os.path.exists(live), "the run directory of a live process was removed"
    finally:
        for d in (stale, live):
            if os.path.exists(d):
                for f in os.listdir(d):
                    os.unlink(os.path.join(d, f))
                os.rmdir(d)


@pytest.mark.parametrize("mode", MODES)
def test_mem_limit(tmp_path, mode):
    """--mem-limit: a cell allocating past the limit gets a MemoryError
    (not the machine's memory); the other cells are unaffected."""
    p = tmp_path / "m.ipynb"
    write_nb(p, ["small = bytearray(10 * 2**20)\nprint('small ok')",
                 "big = bytearray(3 * 2**30)\nprint('big ok')",
                 "print('after', len(small))"])
    r, nb = run(p, "--mode", mode, "--mem-limit", "512M", "--allow-errors", "--no-cache")
    assert r.returncode == 0, r.stderr
    c = nb["cells"]
    assert texts(c[0]) == "small ok\n"
    assert [o.get("ename") for o in c[1]["outputs"]] == ["MemoryError"]
    assert texts(c[2]) == "after 10485760\n"


def test_mem_limit_usage(tmp_path):
    p = tmp_path / "m.ipynb"
    write_nb(p, ["1"])
    r = subprocess.run([FLOE, "run", str(p), "--mem-limit", "lots"], capture_output=True, text=True)
    assert r.returncode == 2 and "--mem-limit needs a size" in r.stderr


RNG_CELLS = [
    "import numpy as np\nimport random\nnp.random.seed(0)\nrandom.seed(1)",
    "import time\ntime.sleep(0.2)\na = np.random.rand(3)\nprint(a)",
    "print('unrelated')",
    "b = np.random.randint(0, 100, 5)\nprint(b, random.random())",
    "time.sleep(0.1)\nprint(np.random.rand(), a.sum())",
    "random.seed(7)\nprint(random.random())",
    "print(random.random(), np.random.rand())",
]


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_random_state_carries_over(tmp_path, mode):
    """Seeding in one cell and drawing in later ones gives Jupyter's numbers:
    the global random state moves between isolated kernels like a value."""
    p = tmp_path / "r.ipynb"
    write_nb(p, RNG_CELLS)
    r, ref = run(p, "--mode", "monolithic", "--no-cache")
    assert r.returncode == 0, r.stderr
    for jobs in ("1", "2", "3"):
        r, nb = run(p, "--mode", mode, "-j", jobs, "--no-cache")
        assert r.returncode == 0, r.stderr
        assert [texts(c) for c in nb["cells"]] == [texts(c) for c in ref["cells"]]


def run_traced(tmp_path, cells, preload):
    """The notebook of `cells` in parallel mode (-j 2, no cache) with a trace:
    the output notebook and the trace's events."""
    p = tmp_path / "f.ipynb"
    write_nb(p, cells)
    tr = tmp_path / "t.json"
    r, nb = run(p, "--mode", "parallel", "-j", "2", "--no-cache", "--preload", preload, "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    return nb, json.loads(tr.read_text())["traceEvents"]


def test_reading_a_frame_is_not_a_mutation(tmp_path):
    """Readers of a DataFrame that only read it (pandas may consolidate its
    blocks meanwhile) must not look like writers: no re-runs."""
    nb, evs = run_traced(tmp_path, ["import numpy as np\nimport pandas as pd\n"
                                    "df = pd.DataFrame(np.arange(20000).reshape(10000, 2), columns=['x', 'y'])",
                                    "print(df.sample(n=5, random_state=1).to_numpy(dtype='float64').sum())",
                                    "print(df.describe().loc['mean', 'x'])",
                                    "print(df.values.sum())"], "IPython,numpy,pandas")
    assert not [e for e in evs if e.get("name") == "rerun"]
    assert not [e for e in evs if e.get("name", "").startswith("export:df") and e["args"].get("cell", 0) > 0]
    assert texts(nb["cells"][3]) == "199990000\n"


def test_plotting_a_time_series_is_not_a_mutation(tmp_path):
    """Plotting a frame with a DatetimeIndex fills pandas' caches inside the
    index (`_cache`: `_reso`, `_unit`), which its pickle carries: the frame
    is the same, so the plotting cell is no writer of it and a reader that
    ran beside it does not run again (pdsh 04.09)."""
    nb, evs = run_traced(tmp_path, ["import numpy as np\nimport pandas as pd\n"
                                    "df = pd.DataFrame({'v': np.arange(30.)}, index=pd.date_range('2020-01-01', "
                                    "periods=30))",
                                    "ax = df.plot()",
                                    "print(df['v'].sum())"], "IPython,numpy,pandas,matplotlib")
    assert not [e for e in evs if e.get("name") == "rerun"]
    assert not [e for e in evs if e.get("name", "") == "export:df" and e.get("tid") != 0 and
                e["args"].get("cell", 0) == 1]
    assert texts(nb["cells"][2]) == "435.0\n"


def test_aggregating_a_groupby_is_not_a_mutation(tmp_path):
    """An aggregation fills a GroupBy's caches (its pickle carries them): the
    GroupBy is the same, so a reader of it that ran beside the aggregating
    cell does not run again (pydata-book ch10)."""
    nb, evs = run_traced(tmp_path, ["import pandas as pd\ndf = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1., 2., 3.]})",
                                    "grouped = df['v'].groupby(df['k'])",
                                    "import time\ntime.sleep(1.0)\nprint(grouped.mean().to_dict())",
                                    "print(len(grouped))"], "IPython,pandas")
    assert not [e for e in evs if e.get("name") == "rerun"]
    assert texts(nb["cells"][2]) == "{'a': 2.0, 'b': 2.0}\n"
    assert texts(nb["cells"][3]) == "2\n"


def test_unseeded_draws_are_not_rerun_seeded_ones_are(tmp_path):
    """Issue 17: cells drawing from an unseeded generator (Jupyter's numbers
    for them are not reproducible either) run in parallel without re-runs on
    each other's random state; once a cell seeds, later drawers are ordered
    on the state and give Jupyter's numbers."""
    p = tmp_path / "r.ipynb"
    write_nb(p, ["import random, time\nimport numpy as np",
                 "time.sleep(0.6)\na = np.random.rand(3)\nprint(len(a))",
                 "b = random.random()\nprint(0 <= b < 1)",
                 "c = np.random.normal(size=4)\nprint(len(c))",
                 "time.sleep(0.6)\nnp.random.seed(7)\nrandom.seed(7)",
                 "print(np.random.randint(1000, size=3), random.random())"])
    tr = tmp_path / "t.json"
    r, nb = run(p, "--mode", "parallel", "-j", "3", "--no-cache", "--preload", "IPython,numpy",
                "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    evs = json.loads(tr.read_text())["traceEvents"]
    reruns = [e for e in evs if e.get("name") == "rerun"]
    assert [e["args"].get("cell") for e in reruns if e["args"].get("cell") in (1, 2, 3)] == [], reruns
    import numpy as np
    import random
    np.random.seed(7)
    random.seed(7)
    assert texts(nb["cells"][5]) == "%s %s\n" % (np.random.randint(1000, size=3), random.random())


def test_barrier_cell_imports_only_what_it_reads(tmp_path):
    """Issue 17: a cell that changes process state (pd.options) is a barrier,
    but it imports only what it reads, not every earlier value; a name it
    uses beyond the prediction (through exec) resolves on demand, while a
    cell calling globals() still gets every name."""
    p = tmp_path / "b.ipynb"
    write_nb(p, ["import pandas as pd\nbig = pd.Series(['x%d' % i for i in range(50000)])\nsmall = 3",
                 "pd.options.display.max_rows = 7\nexec('print(small + 1)')",
                 "print(len(big), 'big' in globals())"])
    tr = tmp_path / "t.json"
    # without lineage: cells that go on in their producer's kernel import nothing at all
    r, nb = run(p, "--mode", "parallel", "-j", "2", "--no-cache", "--preload", "IPython,pandas",
                "--trace", str(tr), "--no-lineage")
    assert r.returncode == 0, r.stderr
    assert texts(nb["cells"][1]) == "4\n" and texts(nb["cells"][2]) == "50000 True\n"
    evs = json.loads(tr.read_text())["traceEvents"]
    imported = sorted((e["args"].get("cell"), e["name"]) for e in evs if e.get("name", "").startswith("import:"))
    assert (1, "import:big") not in imported, imported
    assert (1, "import:small") in imported and (2, "import:big") in imported, imported
# a library's scratch files, as sympy's preview and matplotlib's cache make them
SCRATCH_LIB = ("import os\nimport tempfile\nimport time\n"
               "def render(text):\n"
               "    with tempfile.TemporaryDirectory(dir='.') as d:\n"
               "        with open(os.path.join(d, 'texput.tex'), 'w') as f:\n            f.write(text)\n"
               "        time.sleep(0.3)\n"
               "    with open('scratch-%s.tmp' % text, 'w') as f:\n        f.write(text)\n"
               "    os.remove('scratch-%s.tmp' % text)\n"
               "    os.makedirs('cache', exist_ok=True)\n"
               "    return text\n"
               "os.makedirs('cache', exist_ok=True)")


@pytest.mark.parametrize("jobs", ["2", "3"])
def test_scratch_files_are_no_channel(tmp_path, jobs):
    """Files a cell creates and removes again (a formatter's scratch files:
    sympy's preview writes texput.tex in a temporary directory, removed
    through directory descriptors), and os.makedirs(exist_ok=True) of a
    directory that is there, are no channel between cells: independent
    cells doing so at once are not re-run (issue 16, P16: Lecture-5 had
    252 such re-runs)."""
    p = tmp_path / "s.ipynb"
    write_nb(p, [SCRATCH_LIB] + ["print(render('%d'))" % i for i in range(1, 5)])
    tr = tmp_path / "t.json"
    r, nb = run(p, "--mode", "parallel", "-j", jobs, "--no-cache", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    evs = json.loads(tr.read_text())["traceEvents"]
    assert [e["args"]["why"] for e in evs if e.get("name") == "rerun"] == []
    assert [texts(c) for c in nb["cells"][1:]] == ["%d\n" % i for i in range(1, 5)]
    assert sorted(os.listdir(tmp_path)) == ["cache", "out.ipynb", "s.ipynb", "t.json"]


def test_two_cells_using_one_scratch_name_at_once_race(tmp_path):
    """A scratch file is no channel, but two cells creating and removing
    the same name at once still race: cell 2 writes and removes scratch.tmp
    while cell 1, which created it, sleeps; cell 1's remove then fails
    (FileNotFoundError, an error Jupyter does not give). The core sees the
    race (cell 1's scratch file, cell 2's write) and replays the two in
    notebook order."""
    p = tmp_path / "s.ipynb"
    # the name in a function: the analyser orders cells whose own code
    # names one file literally
    write_nb(p, ["import os, time\n"
                 "def scratch(text, before, after):\n"
                 "    time.sleep(before)\n"
                 "    with open('scratch.tmp', 'w') as f:\n        f.write(text)\n"
                 "    time.sleep(after)\n"
                 "    os.remove('scratch.tmp')\n"
                 "    return text",
                 "print(scratch('a', 0, 0.6))",
                 "print(scratch('b', 0.2, 0))"])
    tr = tmp_path / "t.json"
    r, nb = run(p, "--mode", "parallel", "-j", "2", "--no-cache", "--trace", str(tr), "--no-lineage")
    assert r.returncode == 0, [c.get("outputs") for c in nb["cells"]]
    assert [texts(c) for c in nb["cells"][1:]] == ["a\n", "b\n"]
    evs = json.loads(tr.read_text())["traceEvents"]
    assert any("scratch.tmp" in e["args"]["why"] for e in evs if e.get("name") == "rerun")


def test_frame_with_unsupported_dtype_falls_back_to_pickle(tmp_path):
    """A frame the Arrow codec cannot carry (complex numbers) moves by pickle."""
    p = tmp_path / "c.ipynb"
    write_nb(p, ["import pandas as pd\nz = pd.DataFrame({'c': [1 + 2j, 3 - 1j]})", "print(z['c'].sum())"])
    tr = tmp_path / "t.json"
    r, nb = run(p, "--mode", "serial", "--no-cache", "--preload", "IPython,pandas", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    assert texts(nb["cells"][1]) == "(4+1j)\n"
    ex = [e for e in json.loads(tr.read_text())["traceEvents"] if e.get("name") == "export:z"]
    assert ex and ex[0]["args"]["codec"] == "pickle"
