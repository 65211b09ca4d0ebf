"""Kernels side by side (parallel mode, -j 2 or more): an OpenMP runtime the
zygote loads (scikit-learn's libgomp) waits passively, as its idle threads
would otherwise spin for 300,000 turns on cores another kernel needs (pdsh
05.11's KMeans cells took 2-20x as long). Waiting changes no result, and a
cell sees the environment Jupyter's kernel has: the setting is made only
while the zygote imports (main.py, preload). One kernel at a time
(monolithic, serial, -j 1) keeps libgomp's default; a user's own
OMP_WAIT_POLICY is kept; FLOE_OMP_PASSIVE=0 turns it off. libgomp shows
its settings with OMP_DISPLAY_ENV=VERBOSE (GOMP_SPINCOUNT: 0 when passive)."""
import json
import os
import subprocess

import pytest
from conftest import write_nb

import oracle

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
CELL = ("import os\nfrom sklearn.cluster import KMeans\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), sorted(k for k in os.environ if k.startswith('FLOE_OMP')))")


def spincount(nb, tmp_path, *args, **env):
    # a private zygote: its stderr (where libgomp prints) is floe's
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "FLOE_OMP_PASSIVE")}
    e.update(FLOE_WARM="0", OMP_DISPLAY_ENV="VERBOSE", **env)
    out = tmp_path / "out.ipynb"
    r = subprocess.run([FLOE, "run", str(nb), "-o", str(out), "-q", "--no-cache", *args], capture_output=True,
                       text=True, timeout=300, env=e)
    assert r.returncode == 0, r.stderr
    counts = [ln.split("=")[1].strip().strip("'") for ln in r.stderr.splitlines() if "GOMP_SPINCOUNT" in ln]
    return counts, json.loads(out.read_text())


@pytest.fixture
def nb(tmp_path):
    pytest.importorskip("sklearn")
    p = tmp_path / "omp.ipynb"
    write_nb(p, [CELL])
    return p


def test_side_by_side_kernels_wait_passively_and_cells_see_jupyters_environment(nb, tmp_path):
    counts, got = spincount(nb, tmp_path, "--mode", "parallel", "-j", "2")
    assert counts == ["0"]
    assert "".join(got["cells"][0]["outputs"][0]["text"]) == "None []\n"
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    assert oracle.diff(want, oracle.normalise(got)) is None


@pytest.mark.parametrize("args", [["--mode", "monolithic"], ["--mode", "serial"], ["--mode", "parallel", "-j", "1"]])
def test_one_kernel_at_a_time_keeps_the_default(nb, tmp_path, args):
    counts, _ = spincount(nb, tmp_path, *args)
    assert counts == ["300000"]


def test_a_users_own_policy_and_the_switch_are_kept(nb, tmp_path):
    counts, got = spincount(nb, tmp_path, "-j", "2", OMP_WAIT_POLICY="active")
    assert counts == ["30000000000"]
    assert "".join(got["cells"][0]["outputs"][0]["text"]) == "active []\n"
    counts, _ = spincount(nb, tmp_path, "-j", "2", FLOE_OMP_PASSIVE="0")
    assert counts == ["300000"]
