"""Randomized differential test of the parallel scheduler (issue 6).

Generates random notebooks whose cells read, write, mutate, delete and
hide writes behind exec()/globals(), call functions that read globals, and
sleep for random short times so that the parallel schedule differs from run
to run. Each notebook is run by `floe run --mode parallel` (random -j) and
its printed outputs are compared with a reference: the same cells executed
top to bottom in one namespace in this process (Jupyter's semantics).

FLOE_RANDOM_N sets the number of notebooks (default 60; the README reports
a run with 300); FLOE_RANDOM_SEED the first seed."""
import contextlib
import io
import json
import os
import random
import subprocess

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
N = int(os.environ.get("FLOE_RANDOM_N", "60"))
SEED0 = int(os.environ.get("FLOE_RANDOM_SEED", "1000"))
NAMES = ["a", "b", "c", "d", "e", "f_"]


class Gen:
    """Tracks which names are bound (and to what kind) in notebook order so
    that generated cells never fail, except where a failure is intended."""

    def __init__(self, rng):
        self.rng = rng
        self.kind = {}       # name -> "int" | "list" | "dict"
        self.funcs = []      # defined function names
        self.pinned = set()  # names functions read: never deleted

    def expr(self):
        ints = [n for n, k in self.kind.items() if k == "int"]
        lists = [n for n, k in self.kind.items() if k == "list"]
        parts = [str(self.rng.randint(0, 9))]
        for _ in range(self.rng.randint(0, 2)):
            pick = self.rng.random()
            if ints and pick < 0.5:
                parts.append(self.rng.choice(ints))
            elif lists and pick < 0.7:
                parts.append("len(%s)" % self.rng.choice(lists))
            elif self.funcs and pick < 0.85:
                parts.append("%s()" % self.rng.choice(self.funcs))
        return " + ".join(parts)

    def stmt(self):
        r = self.rng.random()
        name = self.rng.choice(NAMES)
        lists = [n for n, k in self.kind.items() if k == "list"]
        dicts = [n for n, k in self.kind.items() if k == "dict"]
        ints = [n for n, k in self.kind.items() if k == "int"]
        if r < 0.25:
            e = self.expr()
            self.kind[name] = "int"
            return "%s = %s" % (name, e)
        if r < 0.32:
            e = self.expr()
            self.kind[name] = "list"
            return "%s = [%s]" % (name, e)
        if r < 0.37:
            e = self.expr()
            self.kind[name] = "dict"
            return "%s = {'k': %s}" % (name, e)
        if r < 0.47 and lists:
            return "%s.append(%s)" % (self.rng.choice(lists), self.expr())
        if r < 0.52 and dicts:
            return "%s['k%d'] = %s" % (self.rng.choice(dicts), self.rng.randint(0, 3), self.expr())
        if r < 0.57 and ints:
            return "%s += %d" % (self.rng.choice(ints), self.rng.randint(1, 5))
        if r < 0.62:
            e = self.expr()
            self.kind[name] = "int"
            return "exec(%r)" % ("%s = %s" % (name, e))
        if r < 0.66:
            e = self.expr()
            self.kind[name] = "int"
            return "globals()[%r] = %s" % (name, e)
        if r < 0.72:
            # a function reading globals at call time: any kind works with str()
            fname = "g%d" % len(self.funcs)
            reads = self.rng.sample(sorted(self.kind), min(len(self.kind), 2))
            self.pinned.update(reads)
            body = " + ".join(["%d" % self.rng.randint(0, 9)] + ["len(str(%s))" % n for n in reads])
            self.funcs.append(fname)
            return "def %s():\n    return %s" % (fname, body)
        deletable = sorted(set(self.kind) - self.pinned)
        if r < 0.76 and deletable:
            victim = self.rng.choice(deletable)
            del self.kind[victim]
            return "del %s" % victim
        if r < 0.82:
            return "time.sleep(%.3f)" % self.rng.choice([0, 0.005, 0.02, 0.05])
        shown = sorted(self.kind)
        if not shown:
            return "print('empty')"
        pick = self.rng.sample(shown, min(len(shown), 2))
        return "print(%s)" % ", ".join("sorted(%s.items()) if isinstance(%s, dict) else %s" % (n, n, n) for n in pick)

    def cell(self):
        lines = [self.stmt() for _ in range(self.rng.randint(1, 3))]
        # every cell prints something so every cell's reads are checked
        shown = sorted(self.kind)
        if shown:
            n = self.rng.choice(shown)
            lines.append("print(%r, %s if not isinstance(%s, dict) else sorted(%s.items()))" % (n, n, n, n))
        return "\n".join(lines)


def make_notebook(seed):
    rng = random.Random(seed)
    g = Gen(rng)
    cells = ["import time"] + [g.cell() for _ in range(rng.randint(6, 16))]
    return cells


def reference(cells):
    ns = {}
    outs = []
    for src in cells:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(src, "<cell>", "exec"), ns)
        outs.append(buf.getvalue())
    return outs


def to_ipynb(cells):
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                       "outputs": [], "source": src} for i, src in enumerate(cells)],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def stdout_of(cell):
    return "".join("".join(o.get("text", "")) for o in cell["outputs"]
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


@pytest.mark.parametrize("i", range(N))
def test_random_parallel_equals_serial_semantics(tmp_path, i):
    seed = SEED0 + i
    cells = make_notebook(seed)
    want = reference(cells)
    nbp = tmp_path / "r.ipynb"
    nbp.write_text(json.dumps(to_ipynb(cells)))
    jobs = str(1 + seed % 4)
    r = subprocess.run([FLOE, "run", str(nbp), "-o", str(tmp_path / "o.ipynb"), "--mode", "parallel",
                        "-j", jobs, "-q", "--preload", "IPython"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "seed %d: floe failed\n%s" % (seed, r.stderr)
    got = [stdout_of(c) for c in json.loads((tmp_path / "o.ipynb").read_text())["cells"]]
    for k, (w, gt) in enumerate(zip(want, got)):
        assert gt == w, "seed %d -j %s, cell %d:\n%s\nwant %r\ngot  %r" % (seed, jobs, k, cells[k], w, gt)
