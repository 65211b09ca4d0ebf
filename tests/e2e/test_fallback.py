"""The NameError fallback (issue 16, class 3): a read no static analysis
sees (a formula or expression built at run time, a name evaluated by a
formatter) makes the cell run again with the name imported; the read is
learned, and remembered in the cache so the next run predicts it."""
import json
import os
import subprocess
import time

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))

CELLS = [
    "import pandas as pd\nimport random\nscale = random.randint(1, 10**9)  # floe: always-run",
    "frm = pd.DataFrame({'v': [1, 2, 3]})",
    "expr = 'frm.v * ' + 'sc' + 'ale'\nr = pd.eval(expr)\nprint(r.tolist()[1] // r.tolist()[0])",
]
MISSED = ["reads %s, which the prediction missed" % n for n in ("frm", "scale")]


def write_nb(path, cells):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                     "outputs": [], "source": src} for i, src in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def run(path, *args):
    env = dict(os.environ)
    env.pop("FLOE_NO_CACHE", None)
    out = path.with_name("out.ipynb")
    t0 = time.monotonic()
    r = subprocess.run([FLOE, "run", str(path), "-o", str(out), "--preload", "IPython,pandas", *args],
                       capture_output=True, text=True, timeout=120, env=env)
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
    return r.stderr, "".join(cells[2]["outputs"][0]["text"]), wall


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_learned_read_is_remembered(tmp_path, mode):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, CELLS)
    cache = str(tmp_path / "cache")
    err, text, _ = run(nb, "--mode", mode, "--cache-dir", cache)
    assert all(m in err for m in MISSED) and text == "2\n", err
    # cell 0 always runs (a new scale): cell 2 runs again, now predicted
    err, text, _ = run(nb, "--mode", mode, "--cache-dir", cache)
    assert not any(m in err for m in MISSED) and text == "2\n", err
    # without the cache nothing is remembered: the fallback again
    err, text, _ = run(nb, "--mode", mode, "--no-cache")
    assert all(m in err for m in MISSED) and text == "2\n", err
