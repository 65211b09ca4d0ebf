"""`floe deps` shows the graph the scheduler waits on: on every notebook of
the corpus, the edges of `floe deps --format json` are the edges a parallel
`floe run` waited on, as its trace records them (otherData.waits). Both come
from the scheduling core (core_edges); this guards that no second graph
creeps back in. Also: `floe status` follows the run's cache plan (a cell
tagged floe-always-run is never fresh)."""
import glob
import json
import os
import re
import subprocess

import pytest

import oracle

FLOE = os.environ.get("FLOE", os.path.join(oracle.ROOT, "build", "floe"))
os.environ.setdefault("FLOE_PYTHON", "/usr/bin/python3")
NBS = sorted(glob.glob(os.path.join(oracle.ROOT, "tests", "notebooks", "*.ipynb")))


def deps_edges(path):
    r = subprocess.run([FLOE, "deps", path, "--format", "json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {(e["from"], e["to"]) for e in json.loads(r.stdout)["edges"]}


@pytest.mark.parametrize("path", NBS, ids=[os.path.basename(p) for p in NBS])
def test_deps_edges_are_the_edges_waited_on(tmp_path, path):
    """Equal, except for the edges into a cell whose NameError fallback
    learned a read during the run (a dependency no static analysis saw; the
    next run predicts it from the cache), and the edges out of a cell that
    mutates a member of a co-variable group found at run time (it writes the
    others too: core.c group_writes): those are extra, never missing."""
    trace = tmp_path / "t.json"
    r = subprocess.run([FLOE, "run", path, "-o", str(tmp_path / "out.ipynb"), "-q", "--no-cache", "--mode",
                        "parallel", "--trace", str(trace), "--allow-errors"],
                       capture_output=True, text=True, timeout=300, cwd=os.path.dirname(path),
                       env=dict(os.environ, FLOE_DEBUG="1"))
    assert r.returncode in (0, 1), r.stderr
    learned = {int(m) for m in re.findall(r"floe: cell (\d+) reads \S+, which the prediction missed", r.stderr)}
    writers = {int(m) for m in re.findall(r"floe: cell (\d+) writes \S+, a co-variable", r.stderr)}
    waits = {tuple(e) for e in json.loads(json.loads(trace.read_text())["otherData"]["waits"])}
    static = deps_edges(path)
    assert static <= waits, static - waits
    assert {(f, to) for f, to in waits - static if f not in writers and to not in learned} == set(), \
        (waits - static, learned, writers)


def test_deps_lists_every_predicted_writer(tmp_path):
    p = tmp_path / "w.py"
    p.write_text("# %%\nx = 1\n# %%\nx = 2\n# %%\nprint(x)\n")
    assert deps_edges(str(p)) == {(0, 2), (1, 2)}


def test_status_honours_always_run(tmp_path):
    p = tmp_path / "a.ipynb"
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None},
        {"cell_type": "code", "metadata": {"tags": ["floe-always-run"]}, "source": "print(x)", "outputs": [],
         "execution_count": None}]}
    p.write_text(json.dumps(nb))
    env = {k: v for k, v in os.environ.items() if k != "FLOE_NO_CACHE"}
    r = subprocess.run([FLOE, "run", str(p), "-q", "--cache-dir", str(tmp_path / "c")], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    st = subprocess.run([FLOE, "status", str(p), "--cache-dir", str(tmp_path / "c"), "--json"],
                        capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    states = [c["state"] for c in json.loads(st.stdout)["cells"]]
    assert states == ["fresh", "always run"], st.stdout
