"""`floe run --keep-run DIR` and `floe artifact`: a run's data frames come
out as Arrow files that other Arrow readers open."""
import json
import os
import subprocess
import sys

import pytest

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "python"))


def write_nb(path, cells):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def test_keep_run_and_export(tmp_path):
    pd = pytest.importorskip("pandas")
    from floe_kernel import arrow_codec
    p = tmp_path / "n.ipynb"
    write_nb(p, ["import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 's': ['x', 'y', None]})",
                 "df['b'] = df['a'] * 2", "n = len(df)\nitems = [1, 2]"])
    keep = tmp_path / "keep"
    r = subprocess.run([FLOE, "run", str(p), "-q", "--no-cache", "--mode", "serial", "--keep-run", str(keep)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ls = subprocess.run([FLOE, "artifact", "list", "--run", str(keep)], capture_output=True, text=True)
    assert ls.returncode == 0
    names = [line.split()[:3] for line in ls.stdout.splitlines()[1:]]
    assert any(x[0] == "df" and x[2] == "arrow" for x in names), ls.stdout
    assert any(x[0] == "items" and x[2] == "pickle" for x in names)
    out = tmp_path / "df.arrow"
    e = subprocess.run([FLOE, "artifact", "export", "df", "--run", str(keep), "-o", str(out)],
                       capture_output=True, text=True)
    assert e.returncode == 0, e.stderr
    assert "3 rows, 3 columns" in e.stdout          # the latest version: with column b
    got = arrow_codec.load(str(out))
    pd.testing.assert_frame_equal(got, pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", None], "b": [2, 4, 6]}))
    bad = subprocess.run([FLOE, "artifact", "export", "items", "--run", str(keep), "-o", str(tmp_path / "i")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "pickle codec" in bad.stderr
    missing = subprocess.run([FLOE, "artifact", "export", "nope", "--run", str(keep), "-o", str(tmp_path / "i")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no artifact 'nope'" in missing.stderr
    assert not (tmp_path / "i").exists()
