"""Values that cannot move between processes (generators, open files,
connections) stay in the kernel that made them, and the cells that read them
run there, in notebook order (engine.c, "holders"). The corpus notebooks
adv_unmovable, adv_open_file and adv_unmovable_readers check the outputs
against Jupyter; these tests check what the corpus cannot: the order under
parallel pressure, the cache, and the error where no single kernel holds
everything a cell reads."""
import json
import os
import subprocess
import time

import pytest
from conftest import write_nb

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
os.environ.setdefault("FLOE_PYTHON", "/usr/bin/python3")


def run(nb, *args):
    out = nb.with_suffix(".out.ipynb")
    r = subprocess.run([FLOE, "run", str(nb), "-o", str(out), "-q", *args], capture_output=True, text=True,
                       timeout=300)
    texts = []
    for c in json.loads(out.read_text())["cells"]:
        texts.append("".join("".join(o.get("text", "")) if o["output_type"] == "stream"
                             else "%s: %s" % (o.get("ename"), o.get("evalue")) for o in c.get("outputs", [])))
    return r, texts


@pytest.mark.parametrize("args", [["--mode", "parallel", "-j", "2"], ["--mode", "parallel", "-j", "4"],
                                  ["--mode", "serial"]])
def test_readers_of_a_generator_take_turns_in_notebook_order(tmp_path, args):
    # six readers, all ready as soon as cell 0 is done, none predicted to
    # depend on another: they must still see the generator advance in order
    cells = ["gen = (i for i in range(100))\nbase = 1000"]
    cells += ["x%d = base + %d\nprint(next(gen))" % (i, i) for i in range(6)]
    cells += ["print(x0 + x5)"]
    nb = tmp_path / "g.ipynb"
    write_nb(nb, cells)
    for _ in range(3):
        r, texts = run(nb, "--no-cache", *args)
        assert r.returncode == 0, r.stderr
        assert texts == [""] + ["%d\n" % i for i in range(6)] + ["2005\n"]


def test_cells_using_held_values_are_not_cached(tmp_path):
    nb = tmp_path / "c.ipynb"
    write_nb(nb, ["gen = (i for i in range(10))\nprint(next(gen))", "print(next(gen))", "y = 5\nprint(y)",
                  "print(next(gen), y)"])
    cache = tmp_path / "cache"
    for _ in range(2):
        r, texts = run(nb, "--cache-dir", str(cache))
        assert r.returncode == 0, r.stderr
        assert texts == ["0\n", "1\n", "5\n", "2 5\n"]


def test_values_held_by_two_kernels_give_the_unmovable_error(tmp_path):
    # two generators made by independent cells live in two kernels: a cell
    # reading both cannot run in either (Jupyter would run it; the error
    # names the variable, its type and the cell that made it)
    nb = tmp_path / "two.ipynb"
    write_nb(nb, ["g1 = (i for i in range(3))", "g2 = (i for i in range(3))", "print(next(g1), next(g2))"])
    r, texts = run(nb, "--mode", "serial", "--no-cache")
    assert r.returncode == 1
    assert texts[2].startswith("Unmovable: 'g") and "was made by cell" in texts[2] and "generator" in texts[2]
    r, texts = run(nb, "--mode", "monolithic", "--no-cache")
    assert r.returncode == 0 and texts[2] == "0 0\n"


def test_a_holder_cell_starts_after_every_earlier_cell(tmp_path):
    # cell 2 runs in the generator's kernel and draws from the random state
    # cell 1 sets after a sleep: started early, it would have to run again,
    # and with it every cell that used the holder (this looped once)
    nb = tmp_path / "r.ipynb"
    write_nb(nb, ["import random, time\ngen = (i for i in range(9))\nprint(next(gen))",
                  "time.sleep(0.5)\nrandom.seed(1)\nx = random.random()",
                  "print(next(gen), random.random())", "print(next(gen))"])
    want = run(nb, "--mode", "monolithic", "--no-cache")[1]
    assert want[2].startswith("1 0.")
    for args in (["--mode", "parallel", "-j", "2"], ["--mode", "serial"]):
        r, texts = run(nb, "--no-cache", *args)
        assert r.returncode == 0, r.stderr
        assert texts == want


def test_kernels_holding_values_nobody_reads_are_not_kept(tmp_path):
    # `with open(...) as f` leaves an unmovable (closed) file in every cell;
    # no later cell reads them, so no kernel is kept for them (--keep-run:
    # every name is exported, not only those a later cell reads)
    from conftest import kernel_pids
    cells = ["with open(%r) as f%d:\n    x%d = %d" % (__file__, i, i, i) for i in range(6)]
    cells += ["import time\ntime.sleep(1.5)\nprint(x0 + x5)"]
    nb = tmp_path / "w.ipynb"
    write_nb(nb, cells)
    out = tmp_path / "o.ipynb"
    # --no-lineage: kernels kept for lineage (at most -j idle, test_lineage.py)
    # are another bound; this one is about holders
    p = subprocess.Popen([FLOE, "run", str(nb), "-o", str(out), "-q", "--no-cache", "-j", "2", "--no-lineage",
                          "--keep-run", str(tmp_path / "run")])
    time.sleep(0.2)
    tag = os.environ["FLOE_TEST_TAG"]
    samples = []
    while p.poll() is None:
        samples.append((time.monotonic(), len(kernel_pids(tag))))
        time.sleep(0.05)
    end = time.monotonic()
    assert p.returncode == 0
    assert json.loads(out.read_text())["cells"][-1]["outputs"][0]["text"] == ["5\n"]
    # count while the last cell sleeps (the window [end-1.2 s, end-0.3 s]):
    # the six holder cells are long done, so a kernel kept for them would
    # show (6 more); kernels still exiting after the first cells (their
    # cmdline is there until they are reaped) would make a count over the
    # whole run flaky (CI saw 6 once, on a loaded machine)
    late = [n for t, n in samples if end - 1.2 <= t <= end - 0.3]
    assert late, "no sample while the last cell ran"
    assert 0 < max(late) <= 5, "%d kernel processes at once (zygote, one running, two forked ahead)" % max(late)
