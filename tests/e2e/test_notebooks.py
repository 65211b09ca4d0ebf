"""The corpus (tests/notebooks) in every mode against Jupyter: floe's
outputs, normalised (oracle.normalise), must equal what nbclient+ipykernel
write for the same notebook. err_* notebooks stop at their error: exit 1,
later cells without outputs, as nbclient does without --allow-errors.

FLOE_NB_FILTER=substring runs a subset."""
import glob
import json
import os
import subprocess

import pytest

import oracle

FLOE = os.environ.get("FLOE", os.path.join(oracle.ROOT, "build", "floe"))
os.environ.setdefault("FLOE_PYTHON", "/usr/bin/python3")
NBS = sorted(glob.glob(os.path.join(oracle.ROOT, "tests", "notebooks", "*.ipynb")))
FILTER = os.environ.get("FLOE_NB_FILTER", "")
MODES = ["monolithic", "serial", "parallel"]

# Where floe does not (yet) give Jupyter's outputs: each entry is a bug or a
# documented limitation written up in tests/notebooks/BUGS.md, and strict: a
# fix makes the test XPASS (fail) until the entry is removed.
ISOLATED = ("serial", "parallel")
_BUGS = {
    # floe bugs (none open: B2-B8 were fixed on 2026-12-01, see BUGS.md "Fixed")
}
KNOWN = {(nb, m): "tests/notebooks/BUGS.md " + why for nb, (modes, why) in _BUGS.items() for m in modes}
# xfail, not strict: kernel lineage (the default; not with --no-lineage)
# gives Jupyter's output for these when the reading cell goes on in its
# producer's kernel, which depends on which kernel is free when it is ready
FLAKY = set()

CASES = [(nb, m) for nb in NBS for m in MODES if FILTER in os.path.basename(nb)]


def _case(nb, m):
    name = os.path.basename(nb)[:-6]
    strict = (name, m) not in FLAKY
    marks = [pytest.mark.xfail(strict=strict, reason=KNOWN[(name, m)])] if (name, m) in KNOWN else []
    return pytest.param(nb, m, marks=marks, id="%s-%s" % (name, m))


def run_floe(path, out, *args, env=None, timeout=300):
    r = subprocess.run([FLOE, "run", path, "-o", str(out), "-q", *args],
                       capture_output=True, text=True, timeout=timeout, env=env)
    got = oracle.normalise(json.loads(out.read_text())) if out.exists() else None
    return r, got


def check(want, r, got, expect_rc):
    """Every difference at once: the exit status and the first differing cell."""
    problems = []
    if r.returncode != expect_rc:
        problems.append("exit %d (want %d): %s" % (r.returncode, expect_rc, r.stderr[-2000:]))
    if got is None:
        problems.append("no output notebook")
    else:
        d = oracle.diff(want, got)
        if d:
            problems.append(d)
    return "\n".join(problems) or None


@pytest.mark.parametrize("path,mode", [_case(nb, m) for nb, m in CASES])
def test_notebook_matches_jupyter(tmp_path, path, mode):
    name = os.path.basename(path)[:-6]
    want = oracle.normalise(oracle.run_jupyter(path))
    args = ["--no-cache", "--mode", mode] + (["-j", "2"] if mode == "parallel" else [])
    r, got = run_floe(path, tmp_path / "out.ipynb", *args)
    problem = check(want, r, got, 1 if name.startswith("err_") else 0)
    assert problem is None, problem


# State that moves by reference, not by value: an lru_cache'd function's cache
# (B4), an attribute set on a module (B6), the inline backend's %config (B7),
# a module made at run time and put in sys.modules (B5), IPython's In/Out
# history (B8), a class changed after its definition and instances of a
# class since redefined (B2), a figure's transforms (their parents keyed by
# ids of the kernel that pickled them).
# Without kernel lineage no cell goes on in its producer's kernel, so the
# state itself must be carried or held where it was made.
BY_REFERENCE = ["adv_lru_cache", "adv_library_state", "adv_matplotlib_state", "adv_sys_state",
                "adv_output_history", "adv_class_state", "adv_class_redefined", "adv_matplotlib_pickled"]


@pytest.mark.parametrize("name", BY_REFERENCE)
@pytest.mark.parametrize("mode", ISOLATED)
def test_state_moving_by_reference_without_lineage(tmp_path, name, mode):
    path = os.path.join(oracle.ROOT, "tests", "notebooks", name + ".ipynb")
    want = oracle.normalise(oracle.run_jupyter(path))
    args = ["--no-cache", "--no-lineage", "--mode", mode] + (["-j", "2"] if mode == "parallel" else [])
    r, got = run_floe(path, tmp_path / "out.ipynb", *args)
    problem = check(want, r, got, 0)
    assert problem is None, problem


# papermill-style parameters: floe's -p against Jupyter running the notebook
# with the cell papermill would inject (tagged injected-parameters, after the
# cell tagged parameters).
PARAMS = [("alpha", "0.5", "alpha = 0.5"), ("name", "floe", 'name = "floe"'), ("n", "4", "n = 4")]


def papermill_injected(path, tmp_path):
    with open(path) as f:
        nb = json.load(f)
    at = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", []))
    src = "# Parameters\n" + "\n".join(p[2] for p in PARAMS) + "\n"
    nb["cells"].insert(at + 1, {"cell_type": "code", "execution_count": None, "id": "injected",
                                "metadata": {"tags": ["injected-parameters"]}, "outputs": [], "source": src})
    p = tmp_path / "injected.ipynb"
    p.write_text(json.dumps(nb))
    return str(p)


@pytest.mark.parametrize("mode", MODES)
def test_parameters_match_papermill(tmp_path, mode):
    path = os.path.join(oracle.ROOT, "tests", "notebooks", "parameters.ipynb")
    want = oracle.normalise(oracle.run_jupyter(papermill_injected(path, tmp_path)))
    args = ["--no-cache", "--mode", mode] + (["-j", "2"] if mode == "parallel" else [])
    for n, v, _ in PARAMS:
        args += ["-p", n, v]
    r, got = run_floe(path, tmp_path / "out.ipynb", *args)
    problem = check(want, r, got, 0)
    assert problem is None, problem


# 6 runs in `make test` (CI's budget: 60 min on 2 cores); `make test-long` runs 20
REPEAT = int(os.environ.get("FLOE_NB_REPEAT", "6"))
ADV = [nb for nb in NBS if os.path.basename(nb).startswith("adv_") and FILTER in os.path.basename(nb)
       and (os.path.basename(nb)[:-6], "parallel") not in KNOWN]


@pytest.mark.parametrize("path", ADV, ids=[os.path.basename(n)[:-6] for n in ADV])
def test_adversarial_parallel_repeated(tmp_path, path):
    """Every adversarial notebook, REPEAT times in parallel mode under -j 1..4:
    the schedule differs from run to run, the outputs may not."""
    want = oracle.normalise(oracle.run_jupyter(path))
    out = tmp_path / "out.ipynb"
    for i in range(REPEAT):
        jobs = str(1 + i % 4)
        r = subprocess.run([FLOE, "run", path, "-o", str(out), "-q", "--no-cache", "-j", jobs],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "run %d -j %s: %s" % (i, jobs, r.stderr[-2000:])
        d = oracle.diff(want, oracle.normalise(json.loads(out.read_text())))
        assert d is None, "run %d -j %s: %s" % (i, jobs, d)


CACHED = [nb for nb in NBS if FILTER in os.path.basename(nb)
          and (os.path.basename(nb)[:-6], "parallel") not in KNOWN]


@pytest.mark.parametrize("path", CACHED, ids=[os.path.basename(n)[:-6] for n in CACHED])
def test_notebook_with_cache(tmp_path, path):
    """The default, cached run: a first run fills the cache, a second
    restores from it; both must give Jupyter's outputs."""
    name = os.path.basename(path)[:-6]
    want = oracle.normalise(oracle.run_jupyter(path))
    env = dict(os.environ)
    env.pop("FLOE_NO_CACHE", None)
    for attempt in ("fill", "restore"):
        out = tmp_path / ("%s.ipynb" % attempt)
        r = subprocess.run([FLOE, "run", path, "-o", str(out), "-q", "--cache-dir", str(tmp_path / "cache"),
                            "-j", "2"], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == (1 if name.startswith("err_") else 0), "%s: %s" % (attempt, r.stderr[-2000:])
        d = oracle.diff(want, oracle.normalise(json.loads(out.read_text())))
        assert d is None, "%s: %s" % (attempt, d)
