"""Traces and their Gantt charts, in every mode: the trace has the phases of
every cell, `floe trace` renders well-formed SVG with a bar per compute, and
parallel mode really overlaps independent cells."""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
SVG = "{http://www.w3.org/2000/svg}"
DOT = "\u00b7"


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


def render(tmp_path, tr, *args):
    svg = tmp_path / "t.svg"
    r = subprocess.run([FLOE, "trace", str(tr), "-o", str(svg), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return ET.parse(svg).getroot()                             # well-formed XML


def bars(root):
    """(title, x, y, width) of every bar, from the bars group."""
    group = next(g for g in root.iter(SVG + "g") if g.get("class") == "bars")
    return [(r.find(SVG + "title").text, float(r.get("x")), float(r.get("y")), float(r.get("width")))
            for r in group.iter(SVG + "rect")]


def compute_bar(bs, cell):
    found = [b for b in bs if b[0].startswith("compute %s cell %d %s" % (DOT, cell, DOT))]
    assert len(found) == 1, bs
    return found[0]


CELLS = ["import time\na = 1", "b = a + 1", "c = a * 10", "print(b + c)"]


@pytest.mark.parametrize("mode", ["monolithic", "serial", "parallel"])
def test_trace_and_svg(tmp_path, mode):
    # --no-lineage: every isolated cell in a fresh kernel, so artifacts move (import:a)
    tr, t = run_traced(tmp_path, CELLS, "--mode", mode, *(["--no-lineage"] if mode != "monolithic" else []))
    evs = [e for e in t["traceEvents"] if e.get("ph") == "X"]
    computes = sorted(e["args"]["cell"] for e in evs if e["name"] == "compute")
    assert computes == [0, 1, 2, 3]
    assert t["otherData"]["mode"] == mode
    if mode != "monolithic":
        assert any(e["name"] == "import:a" for e in evs)      # the artifact moved
        assert any(e["name"] == "export:a" for e in evs)
        assert any(e["name"] == "fork" for e in evs)
    root = render(tmp_path, tr)
    assert root.tag == SVG + "svg" and root.get("width") == "1200"
    bs = bars(root)
    assert len(bs) == len(evs)                                 # a rect per complete event
    for k in range(4):
        compute_bar(bs, k)
    texts = [el.text for el in root.iter(SVG + "text")]
    assert any(x and mode in x and x.startswith("n.ipynb") for x in texts)   # title
    assert any(x and x.startswith("time (") for x in texts)   # axis
    assert "compute" in texts                                  # legend
    labels = {el.text for el in root.iter(SVG + "text") if el.get("class") == "cell"}
    assert labels <= {"0", "1", "2", "3"}
    s = subprocess.run([FLOE, "trace", str(tr), "--summary"], capture_output=True, text=True)
    assert s.returncode == 0 and "compute ms" in s.stdout, s.stderr
    rows = [ln.split() for ln in s.stdout.splitlines()]
    assert [r[0] for r in rows[1:5]] == ["0", "1", "2", "3"] and rows[5][0] == "total"
    assert rows[6][0] == "wall"


def test_svg_options(tmp_path):
    tr, _ = run_traced(tmp_path, CELLS[:2], "--mode", "serial")
    root = render(tmp_path, tr, "--width", "900", "--title", "a <b> & c")
    assert root.get("width") == "900"
    title = next(el.text for el in root.iter(SVG + "text") if el.get("class") == "title")
    assert title.startswith("a <b> & c \u2014 ")
    assert max(x + w for _, x, _, w in bars(root)) <= 900


def test_parallel_overlaps_independent_cells(tmp_path):
    cells = ["import time\nx = 1", "time.sleep(0.5)\ny = x", "time.sleep(0.5)\nz = x", "print(y + z)"]
    tr, t = run_traced(tmp_path, cells, "--mode", "parallel", "-j", "2")
    comp = {e["args"]["cell"]: e for e in t["traceEvents"] if e.get("ph") == "X" and e["name"] == "compute"}
    a, b = comp[1], comp[2]
    assert a["tid"] != b["tid"]
    overlap = min(a["ts"] + a["dur"], b["ts"] + b["dur"]) - max(a["ts"], b["ts"])
    assert overlap > 0.3e6, "independent cells did not run at the same time: overlap %d us" % overlap
    # the reader of both starts after both
    assert comp[3]["ts"] >= max(a["ts"] + a["dur"], b["ts"] + b["dur"])
    # and the chart shows it: two bars on different lanes, overlapping in x
    bs = bars(render(tmp_path, tr))
    (_, x1, y1, w1), (_, x2, y2, w2) = compute_bar(bs, 1), compute_bar(bs, 2)
    assert y1 != y2
    assert min(x1 + w1, x2 + w2) - max(x1, x2) > 0.5 * min(w1, w2)


@pytest.mark.xfail(strict=False, reason="known: a kernel claimed by a cell while it forks starts computing "
                   "before floe handles its 'forked' message, so the fork bar (which ends then) overlaps compute")
def test_no_overlapping_bars_in_a_kernel_lane(tmp_path):
    """Within one kernel's lane the phases of its cell follow each other."""
    tr, t = run_traced(tmp_path, CELLS, "--mode", "parallel", "-j", "2")
    by_row = {}
    for e in t["traceEvents"]:
        if e.get("ph") == "X" and e["name"] != "start":      # start-up is the zygote's, drawn apart
            by_row.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"], e["name"]))
    for row, evs in by_row.items():
        evs.sort()
        for (s0, e0, n0), (s1, e1, n1) in zip(evs, evs[1:]):
            assert s1 >= e0 - 1, "row %d: %s [%d, %d] overlaps %s [%d, %d]" % (row, n0, s0, e0, n1, s1, e1)


@pytest.mark.parametrize("text", ["", "{", "{\"traceEvents\": 3}", "{\"traceEvents\": []}",
                                  "{\"traceEvents\": [{\"ph\": \"X\", \"name\": \"c\", \"ts\": 1e300, \"dur\": 1}]}"])
def test_trace_rejects_bad_input(tmp_path, text):
    p = tmp_path / "bad.json"
    p.write_text(text)
    for args in (["-o", str(tmp_path / "x.svg")], ["--summary"]):
        r = subprocess.run([FLOE, "trace", str(p), *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.startswith("floe trace: ") and r.stderr.count("\n") == 1, r.stderr
        assert r.stdout == ""
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize("args", [[], ["t.json"], ["--bogus"], ["t.json", "-o"], ["t.json", "--width", "9"],
                                  ["missing.json", "--summary"]])
def test_trace_usage_errors(tmp_path, args):
    (tmp_path / "t.json").write_text("[]")
    r = subprocess.run([FLOE, "trace", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and re.match(r"floe trace: .+\n\Z", r.stderr), r.stderr


def test_trace_help():
    r = subprocess.run([FLOE, "trace", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: floe trace")


@pytest.mark.parametrize("mode", ["monolithic", "serial", "parallel"])
def test_uninitialised_memory_is_said_in_the_trace_and_once_on_stderr(tmp_path, mode):
    """np.empty shows whatever the allocator hands out: Jupyter's one process
    often reuses the buffer the previous cell freed, floe's kernels do not,
    and no kernel choice guarantees it (issue 16, P6). floe must not be
    silently different there: each such cell is in the trace, and the run
    says so once on stderr."""
    cells = ["import numpy as np\nnp.ones(3)", "np.empty(3)", "from numpy import empty\nx = empty((2, 2))",
             "y = np.empty_like\nempty = 'not numpy'\nprint(empty, 'empty(')"]
    p = tmp_path / "n.ipynb"
    write_nb(p, cells)
    tr = tmp_path / "t.json"
    r = subprocess.run([FLOE, "run", str(p), "-o", str(tmp_path / "o.ipynb"), "-q", "--no-cache", "--mode", mode,
                        "--trace", str(tr)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "uninitialised memory" in line]
    assert len(said) == 1 and "numpy.empty" in said[0], r.stderr
    t = json.loads(tr.read_text())
    ev = t["traceEvents"] if isinstance(t, dict) else t
    cells_said = sorted({e["args"]["cell"] for e in ev if e.get("name") == "unguaranteed"})
    assert cells_said == [1, 2], cells_said
