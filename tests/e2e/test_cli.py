"""The command line's contract without kernels: help, version, usage and
input errors (exit 2, one line, file and position), interpreter discovery."""
import json
import os
import subprocess

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))


def floe(*args, env=None, cwd=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([FLOE, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=120)


def test_version_and_help():
    r = floe("--version")
    assert r.returncode == 0 and r.stdout.startswith("floe ")
    r = floe("--help")
    assert r.returncode == 0 and "run NB" in r.stdout
    r = floe("run", "--help")
    assert r.returncode == 0
    for flag in ("--mode", "--jobs", "--parameter", "--allow-errors", "--timeout", "--trace", "--python", "-q"):
        assert flag in r.stdout


def test_unknown_command_and_option():
    assert floe("frobnicate").returncode == 2
    r = floe("run", "x.ipynb", "--bogus")
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = floe("run", "x.ipynb", "--mode", "fast")
    assert r.returncode == 2 and "--mode" in r.stderr
    r = floe("run")
    assert r.returncode == 2 and "missing" in r.stderr


BAD = [
    ('{"cells": [', ":1:"),
    ('{"nbformat": 3, "cells": []}', "nbformat 3 is not supported"),
    ('{"nbformat": 4}', "missing list 'cells'"),
    ('{"nbformat": 4, "cells": [{"cell_type": "code"}]}', "cell 0: missing 'source'"),
    ('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 1}]}', "'source' must be"),
    ('', "invalid JSON"),
]


@pytest.mark.parametrize("text,expect", BAD)
def test_malformed_notebooks(tmp_path, text, expect):
    p = tmp_path / "bad.ipynb"
    p.write_text(text)
    before = p.read_bytes()
    r = floe("run", str(p), "-q")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0] and expect in lines[0], r.stderr
    assert p.read_bytes() == before  # the input is never touched


def test_missing_file(tmp_path):
    r = floe("run", str(tmp_path / "nope.ipynb"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_python_not_found(tmp_path):
    p = tmp_path / "a.py"
    p.write_text("x = 1\n")
    r = floe("run", str(p), "--python", "/nonexistent/python3", "-q")
    assert r.returncode == 2 and "--python" in r.stderr


def test_python_without_ipython(tmp_path, python_without_ipython):
    # An interpreter without IPython: the error names the module and the fix.
    p = tmp_path / "a.py"
    p.write_text("x = 1\n")
    r = floe("run", str(p), "--mode", "monolithic", "-q", env={"FLOE_PYTHON": str(python_without_ipython)})
    assert r.returncode == 2, r.stderr
    assert "missing module 'IPython'" in r.stderr and "--python" in r.stderr
    assert not (tmp_path / "a.ipynb").exists()


def test_deps_stats_on_stderr(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("# %%\nx = 1\n# %%\ny = x + 1\n")
    r = floe("deps", str(p), "--format", "json", "--stats")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["edges"] == [{"from": 0, "to": 1, "names": ["x"]}]
    assert "floe deps: 2 cells" in r.stderr and "ns/byte" in r.stderr


def test_from_imported_submodules_are_preloaded(tmp_path):
    """`from scipy import stats` preloads scipy.stats (scipy alone loads it
    lazily): the first cell, before any import, sees it in sys.modules."""
    p = tmp_path / "pre.py"
    p.write_text("# %%\nimport sys\nprint('scipy.stats' in sys.modules, 'os.path' in sys.modules)\n"
                 "# %%\nfrom scipy import stats\nfrom os import path as osp, sep\n")
    out = tmp_path / "pre.ipynb"
    r = floe("run", str(p), "-o", str(out), "-q", "--no-cache", "--mode", "serial")
    assert r.returncode == 0, r.stderr
    cells = json.loads(out.read_text())["cells"]
    assert "".join(cells[0]["outputs"][0]["text"]) == "True True\n"
