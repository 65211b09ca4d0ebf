"""Traces and their Gantt charts, in every mode: the trace has the phases of
every cell, `floe trace` renders well-formed SVG with a bar per compute, and
parallel mode really overlaps independent cells."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
SVG = "{http://www.w3.org/2000/svg}"


def write_nb(path, cells):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def run_traced(tmp_path, cells, *args):
    p = tmp_path / "n.ipynb"
    write_nb(p, cells)
    tr = tmp_path / "t.json"
    r = subprocess.run([FLOE, "run", str(p), "-o", str(tmp_path / "o.ipynb"), "-q", "--no-cache", "--preload",
                        "IPython", "--trace", str(tr), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return tr, json.loads(tr.read_text())


CELLS = ["import time\na = 1", "b = a + 1", "c = a * 10", "print(b + c)"]


@pytest.mark.parametrize("mode", ["monolithic", "serial", "parallel"])
def test_trace_and_svg(tmp_path, mode):
    tr, t = run_traced(tmp_path, CELLS, "--mode", mode)
    evs = [e for e in t["traceEvents"] if e.get("ph") == "X"]
    computes = sorted(e["args"]["cell"] for e in evs if e["name"] == "compute")
    assert computes == [0, 1, 2, 3]
    assert t["otherData"]["mode"] == mode
    if mode != "monolithic":
        assert any(e["name"] == "import:a" for e in evs)      # the artifact moved
        assert any(e["name"] == "export:a" for e in evs)
        assert any(e["name"] == "fork" for e in evs)
    svg = tmp_path / "t.svg"
    r = subprocess.run([FLOE, "trace", str(tr), "-o", str(svg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    root = ET.parse(svg).getroot()
    titles = [el.text for el in root.iter(SVG + "title")]
    for k in range(4):
        assert any(ti.startswith("compute \u00b7 cell %d \u00b7" % k) for ti in titles), titles
    texts = [el.text for el in root.iter(SVG + "text")]
    assert any(x and mode in x for x in texts)                # title
    assert any(x and x.startswith("time (") for x in texts)   # axis
    s = subprocess.run([FLOE, "trace", str(tr), "--summary"], capture_output=True, text=True)
    assert s.returncode == 0 and "compute ms" in s.stdout and s.stdout.count("\n") >= 6


def test_parallel_overlaps_independent_cells(tmp_path):
    cells = ["import time\nx = 1", "time.sleep(0.5)\ny = x", "time.sleep(0.5)\nz = x", "print(y + z)"]
    _, t = run_traced(tmp_path, cells, "--mode", "parallel", "-j", "2")
    comp = {e["args"]["cell"]: e for e in t["traceEvents"] if e.get("ph") == "X" and e["name"] == "compute"}
    a, b = comp[1], comp[2]
    assert a["tid"] != b["tid"]
    overlap = min(a["ts"] + a["dur"], b["ts"] + b["dur"]) - max(a["ts"], b["ts"])
    assert overlap > 0.3e6, "independent cells did not run at the same time: overlap %d us" % overlap
    # the reader of both starts after both
    assert comp[3]["ts"] >= max(a["ts"] + a["dur"], b["ts"] + b["dur"])


@pytest.mark.parametrize("text", ["", "{", "{\"traceEvents\": 3}", "{\"traceEvents\": []}"])
def test_trace_rejects_bad_input(tmp_path, text):
    p = tmp_path / "bad.json"
    p.write_text(text)
    r = subprocess.run([FLOE, "trace", str(p), "-o", str(tmp_path / "x.svg")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("floe trace: ") and r.stderr.count("\n") == 1
    assert not (tmp_path / "x.svg").exists()
