"""Hostile input and hostile cells (issue 9): each gives a clear error or the
right behaviour, never a crash (a negative exit status), a hang, or a
half-written notebook."""
import json
import os
import subprocess
import time

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
MODES = ["monolithic", "serial", "parallel"]


def nb_json(cells, outputs=None):
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                       "outputs": (outputs or {}).get(i, []), "source": s} for i, s in enumerate(cells)],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def floe(*args, timeout=120, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([FLOE, *args], capture_output=True, text=True, timeout=timeout, env=e)


def texts(cell):
    return "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")


@pytest.mark.parametrize("raw,what", [
    (b"[" * 100000, "deep nesting"),
    (b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"x": "\xff\xfe"}}', "bad UTF-8"),
    (b'{"cells": [{"cell_type": "code", "source": "\\ud800", "metadata": {}, "outputs": []}], '
     b'"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "lone surrogate"),
    (b'{"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}', "truncated"),
])
def test_malformed_files_one_line_error(tmp_path, raw, what):
    p = tmp_path / "bad.ipynb"
    p.write_bytes(raw)
    r = floe("run", str(p), "-q", "--no-cache")
    assert r.returncode == 2, (what, r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and str(p) in r.stderr, r.stderr
    assert p.read_bytes() == raw  # the input is never modified


def test_hundred_thousand_cells(tmp_path):
    p = tmp_path / "many.ipynb"
    p.write_text(json.dumps(nb_json(["x%d = %d" % (i, i) for i in range(100000)])))
    t0 = time.time()
    r = floe("deps", str(p), "--format", "json", timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["cells"]) == 100000
    print("floe deps on 100,000 cells: %.2f s" % (time.time() - t0))


def test_hundred_megabyte_outputs_replaced(tmp_path):
    big = {"output_type": "stream", "name": "stdout", "text": "y" * (100 * 2**20)}
    p = tmp_path / "big.ipynb"
    p.write_text(json.dumps(nb_json(["print('small now')"], {0: [big]})))
    r = floe("run", str(p), "-q", "--no-cache", "--mode", "monolithic", "--preload", "IPython", timeout=300)
    assert r.returncode == 0, r.stderr
    nb = json.loads(p.read_text())
    assert texts(nb["cells"][0]) == "small now\n" and p.stat().st_size < 10000


@pytest.mark.parametrize("mode", MODES)
def test_hostile_cells(tmp_path, mode):
    cells = [
        "s = 'a' * 1_000_000\nprint(len(s))",                                   # a 1 MB line
        "x = '\\x00 and \\udcff'\nprint(repr(x))",                              # NUL and a surrogate escape
        "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('forked ok')",
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\nprint('thread started')",
        "print('after thread')",
    ]
    p = tmp_path / "h.ipynb"
    p.write_text(json.dumps(nb_json(cells)))
    t0 = time.time()
    r = floe("run", str(p), "-q", "--no-cache", "--mode", mode, "--preload", "IPython", timeout=120)
    assert r.returncode == 0, r.stderr
    c = json.loads(p.read_text())["cells"]
    assert [texts(x) for x in c] == ["1000000\n", "'\\x00 and \\udcff'\n", "forked ok\n", "thread started\n",
                                     "after thread\n"]
    if mode != "monolithic":
        # an isolated kernel does not wait for a cell's leftover threads
        assert time.time() - t0 < 45


@pytest.mark.parametrize("mode", MODES)
def test_output_of_subprocesses_is_the_cells(tmp_path, mode):
    """What subprocesses, os.system and os.write(1, ...) write goes to the
    kernel's fd 1/2: floe captures it into the cell that wrote it, in order
    with print. (Jupyter's kernel captures it too, but asynchronously: it
    may land in the cell or be lost, so this is not compared with Jupyter.)"""
    cells = [
        "import os, subprocess\nprint('before')\nsubprocess.run(['echo', 'from a child'])\nprint('after')",
        "os.system('echo from os.system');",
        "subprocess.run('echo to stderr >&2', shell=True);",
        "os.write(1, b'raw bytes\\n');",
        "print('python again')",
    ]
    p = tmp_path / "fd.ipynb"
    p.write_text(json.dumps(nb_json(cells)))
    r = floe("run", str(p), "-q", "--no-cache", "--mode", mode, "--preload", "IPython", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "from a child" not in r.stdout  # not leaked to floe's own stdout
    c = json.loads(p.read_text())["cells"]
    assert [texts(x) for x in c] == ["before\nfrom a child\nafter\n", "from os.system\n", "to stderr\n",
                                     "raw bytes\n", "python again\n"]
    assert [o["name"] for o in c[2]["outputs"]] == ["stderr"]


@pytest.mark.parametrize("mode", MODES)
def test_cell_closing_stdout(tmp_path, mode):
    """A cell that closes sys.stdout gets ValueError on its next print (as
    with a closed file; Jupyter's kernel hangs), a cell closing fd 1 goes on,
    and the next cells print normally."""
    cells = [
        "import sys\nprint('x')\nsys.stdout.close()\nprint('y')",
        "print('next cell')",
        "import os\nos.close(1)\nprint('fd 1 closed')",
        "print('end')",
    ]
    p = tmp_path / "close.ipynb"
    p.write_text(json.dumps(nb_json(cells)))
    r = floe("run", str(p), "-q", "--no-cache", "--mode", mode, "--preload", "IPython", "--allow-errors",
             timeout=120)
    assert r.returncode == 0, r.stderr
    c = json.loads(p.read_text())["cells"]
    assert texts(c[0]) == "x\n"
    assert [(o["ename"], o["evalue"]) for o in c[0]["outputs"] if o["output_type"] == "error"] == \
        [("ValueError", "I/O operation on closed file.")]
    assert [texts(x) for x in c[1:]] == ["next cell\n", "fd 1 closed\n", "end\n"]


@pytest.mark.parametrize("mode", MODES)
def test_infinite_output_is_capped(tmp_path, mode):
    p = tmp_path / "inf.ipynb"
    p.write_text(json.dumps(nb_json(["while True:\n    print('x' * 1000)", "print('never')"])))
    r = floe("run", str(p), "-q", "--no-cache", "--mode", mode, "--preload", "IPython", "--timeout", "3",
             env={"FLOE_OUTPUT_LIMIT": "200000"}, timeout=120)
    assert r.returncode == 1, r.stderr
    c = json.loads(p.read_text())["cells"]
    out = texts(c[0])
    assert "[floe: output truncated at 200000 bytes" in out and len(out) < 300000
    # interrupted (the cell's KeyboardInterrupt traceback), then the timeout error
    assert [o.get("ename") for o in c[0]["outputs"] if o["output_type"] == "error"][-1] == "CellTimeoutError"
    assert c[1]["outputs"] == []


def test_nul_byte_in_source(tmp_path):
    """Python refuses source with NUL bytes: the cell gets Python's error
    (nbclient's kernel times out on it instead), later cells don't run."""
    p = tmp_path / "nul.ipynb"
    p.write_text(json.dumps(nb_json(["x = 1\x00", "print('not reached')"])))
    r = floe("run", str(p), "-q", "--no-cache", "--mode", "serial", "--preload", "IPython")
    assert r.returncode == 1, r.stderr
    c = json.loads(p.read_text())["cells"]
    assert [o.get("ename") for o in c[0]["outputs"]] in (["SyntaxError"], ["ValueError"])
    assert c[1]["outputs"] == []
