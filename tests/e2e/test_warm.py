"""Warm zygotes (`floe run --warm`, issue 8's re-run cost): the process that
imported the preload set outlives a run and serves the next one.

What must hold: a warm run gives the outputs of a private one; a second run
reuses the same process; a changed imported module, another directory or
another environment gets another process; a SIGKILLed floe's kernels die
(only the warm process, which runs no user code, stays); concurrent runs
share it; `floe warm stop` leaves nothing behind; a broken interpreter gives
the same error as without --warm."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from conftest import kernel_pids, write_nb

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))


@pytest.fixture
def wdir():
    # short: a Unix socket's path has at most 107 bytes
    d = tempfile.mkdtemp(prefix="fw-")
    os.environ["FLOE_WARM_DIR"] = d
    yield d
    subprocess.run([FLOE, "warm", "stop"], capture_output=True, timeout=30)
    os.environ.pop("FLOE_WARM_DIR", None)
    shutil.rmtree(d, ignore_errors=True)


def floe(*args, env=None, cwd=None, check=True):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([FLOE, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def outputs(path):
    return [c.get("outputs") for c in json.loads(path.read_text())["cells"]]


def warm_pids():
    """{socket: pid} of the warm zygotes in FLOE_WARM_DIR."""
    r = floe("warm", "status")
    pids = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("pid ")]
    return pids


def alive(pid):
    """Running, not a zombie waiting for a parent that does not reap."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


CELLS = [
    "import numpy as np\nimport pandas as pd\ndf = pd.DataFrame({'a': np.arange(5)})",
    "import os\nprint(os.getcwd() == os.path.dirname(os.path.abspath('nb.ipynb')))",
    "df['b'] = df.a * 2\nprint(df.b.sum())",
    "import random\nrandom.seed(1)\nprint(random.random())",
    "df.describe()",
]


@pytest.mark.parametrize("mode", ["parallel", "serial", "monolithic"])
def test_warm_run_gives_private_outputs_and_reuses_the_process(tmp_path, wdir, mode):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, CELLS)
    floe("run", str(nb), "-o", str(tmp_path / "private.ipynb"), "--mode", mode, "--no-cache", "-q")
    assert warm_pids() == []
    floe("run", str(nb), "-o", str(tmp_path / "w1.ipynb"), "--mode", mode, "--no-cache", "-q", "--warm")
    first = warm_pids()
    assert len(first) == 1
    floe("run", str(nb), "-o", str(tmp_path / "w2.ipynb"), "--mode", mode, "--no-cache", "-q", "--warm")
    assert warm_pids() == first
    want = outputs(tmp_path / "private.ipynb")
    assert outputs(tmp_path / "w1.ipynb") == want
    assert outputs(tmp_path / "w2.ipynb") == want


def test_a_warm_run_skips_the_imports(tmp_path, wdir):
    """The second run's zygote start (trace event "start") is a connection,
    not the imports: compared with the first run's, in the same test."""
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, CELLS)

    def start_ms(trace):
        evs = json.loads(trace.read_text())
        evs = evs["traceEvents"] if isinstance(evs, dict) else evs
        return [e["dur"] / 1000 for e in evs if e.get("name") == "start"][0]

    for i in (1, 2):
        floe("run", str(nb), "-o", str(tmp_path / "o.ipynb"), "--no-cache", "-q", "--warm",
             "--trace", str(tmp_path / ("t%d.json" % i)))
    cold, warm = start_ms(tmp_path / "t1.json"), start_ms(tmp_path / "t2.json")
    assert warm < cold / 5, (cold, warm)


def test_a_changed_module_restarts_the_warm_process(tmp_path, wdir):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "floe_warm_probe.py").write_text("VALUE = 1\n")
    # outside the notebook's directory, so preloaded (local modules are not)
    (tmp_path / "nb").mkdir()
    nb = tmp_path / "nb" / "nb.ipynb"
    write_nb(nb, ["import floe_warm_probe\nprint(floe_warm_probe.VALUE)"])
    env = {"PYTHONPATH": str(lib)}
    floe("run", str(nb), "-o", str(tmp_path / "a.ipynb"), "--no-cache", "-q", "--warm", env=env)
    first = warm_pids()
    (lib / "floe_warm_probe.py").write_text("VALUE = 2\n")
    st = os.stat(lib / "floe_warm_probe.py")
    os.utime(lib / "floe_warm_probe.py", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    floe("run", str(nb), "-o", str(tmp_path / "b.ipynb"), "--no-cache", "-q", "--warm", env=env)
    assert outputs(tmp_path / "a.ipynb")[0][0]["text"] == ["1\n"]
    assert outputs(tmp_path / "b.ipynb")[0][0]["text"] == ["2\n"]
    second = warm_pids()
    assert len(second) == 1 and second != first
    assert not alive(first[0])


def test_a_changed_floe_kernel_gets_another_warm_process(tmp_path, wdir):
    """floe's own kernel package changed (a checkout, a rebuilt extension):
    a warm zygote that imported the older one is not reused."""
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    src = os.path.join(os.path.dirname(os.path.abspath(FLOE)), "..", "python", "floe_kernel", "store.py")
    st = os.stat(src)
    floe("run", str(nb), "--no-cache", "-q", "--warm")
    first = warm_pids()
    floe("run", str(nb), "--no-cache", "-q", "--warm")
    assert warm_pids() == first
    try:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        floe("run", str(nb), "--no-cache", "-q", "--warm")
    finally:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = warm_pids()
    assert len(first) == 1 and len(second) == 2 and first[0] in second


@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_a_removed_and_remade_directory_restarts_the_warm_process(tmp_path, wdir, mode):
    """A notebook's directory deleted and copied again (a test harness, a
    checkout): the warm zygote's working directory is the deleted one, and
    its kernels died (DeadKernelError in every cell) until it gave way."""
    d = tmp_path / "nb"
    for i in (1, 2):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        write_nb(d / "nb.ipynb", CELLS)
        floe("run", str(d / "nb.ipynb"), "-o", str(tmp_path / ("w%d.ipynb" % i)), "--mode", mode, "--no-cache",
             "-q", "--warm")
    assert outputs(tmp_path / "w2.ipynb") == outputs(tmp_path / "w1.ipynb")
    assert len(warm_pids()) == 1


def test_another_directory_or_environment_gets_another_process(tmp_path, wdir):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        write_nb(tmp_path / d / "nb.ipynb", ["import os\nprint(os.environ.get('WARM_TEST_PROBE'))"])
    floe("run", str(tmp_path / "x" / "nb.ipynb"), "--no-cache", "-q", "--warm")
    floe("run", str(tmp_path / "y" / "nb.ipynb"), "--no-cache", "-q", "--warm")
    assert len(warm_pids()) == 2
    floe("run", str(tmp_path / "y" / "nb.ipynb"), "--no-cache", "-q", "--warm", env={"WARM_TEST_PROBE": "set"})
    assert len(warm_pids()) == 3
    assert outputs(tmp_path / "y" / "nb.ipynb")[0][0]["text"] == ["set\n"]


def test_killed_floe_leaves_only_the_warm_process(tmp_path, wdir):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["import time\nprint('started', flush=True)\ntime.sleep(60)", "print(1)"])
    floe("run", str(tmp_path / "nb.ipynb"), "-o", str(tmp_path / "o.ipynb"), "--no-cache", "-q", "--warm",
         "--timeout", "0.5", "--allow-errors")
    warm = set(warm_pids())
    tag = os.environ["FLOE_TEST_TAG"]
    p = subprocess.Popen([FLOE, "run", str(nb), "-o", str(tmp_path / "o.ipynb"), "--no-cache", "-q", "--warm"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(kernel_pids(tag) - warm) < 2:  # a session and a kernel
        time.sleep(0.05)
    assert len(kernel_pids(tag) - warm) >= 2
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.time() + 10
    while time.time() < deadline and kernel_pids(tag) - warm:
        time.sleep(0.05)
    assert kernel_pids(tag) == warm, "kernels outlived a SIGKILLed floe"
    assert set(warm_pids()) == warm
    # the warm process still serves (and this run removes the killed run's directory)
    write_nb(nb, ["import time\nprint(6 * 7)"])  # the same imports: the same preload set
    floe("run", str(nb), "-o", str(tmp_path / "o.ipynb"), "--no-cache", "-q", "--warm")
    assert outputs(tmp_path / "o.ipynb")[0][0]["text"] == ["42\n"]
    assert set(warm_pids()) == warm


def test_concurrent_runs_share_the_warm_process(tmp_path, wdir):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["import time\ntime.sleep(0.3)\nx = 6", "print(x * 7)"])
    floe("run", str(nb), "-o", str(tmp_path / "o.ipynb"), "--no-cache", "-q", "--warm")
    procs = [subprocess.Popen([FLOE, "run", str(nb), "-o", str(tmp_path / ("o%d.ipynb" % i)), "--no-cache", "-q",
                               "--warm"], stderr=subprocess.PIPE, text=True) for i in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for i in range(3):
        assert outputs(tmp_path / ("o%d.ipynb" % i))[1][0]["text"] == ["42\n"]
    assert len(warm_pids()) == 1


def test_warm_stop_leaves_nothing(tmp_path, wdir):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    floe("run", str(nb), "--no-cache", "-q", "--warm")
    pid = warm_pids()[0]
    r = floe("warm", "stop")
    assert "stopped warm zygote %d" % pid in r.stdout
    deadline = time.time() + 10
    while time.time() < deadline and kernel_pids(os.environ["FLOE_TEST_TAG"]):
        time.sleep(0.05)
    assert not kernel_pids(os.environ["FLOE_TEST_TAG"])
    assert os.listdir(wdir) == []
    assert "no warm zygotes" in floe("warm", "status").stdout


def test_idle_warm_process_exits(tmp_path, wdir):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    floe("run", str(nb), "--no-cache", "-q", "--warm", "--warm-idle", "1")
    deadline = time.time() + 30
    while time.time() < deadline and os.listdir(wdir):
        time.sleep(0.1)
    assert os.listdir(wdir) == []
    assert not kernel_pids(os.environ["FLOE_TEST_TAG"])


def test_warm_zygotes_beyond_the_cap_stop_least_recently_used_first(tmp_path, wdir):
    # a batch over many notebooks: each directory gets its own warm zygote
    # (~200 MB); FLOE_WARM_MAX (default 4) of them stay, the least recently
    # used go when a new one starts (the bench over 54 notebooks had 41 alive)
    dirs = []
    for i in range(3):
        d = tmp_path / ("d%d" % i)
        d.mkdir()
        write_nb(d / "nb.ipynb", ["print(%d)" % i])
        dirs.append(d)
    env = {"FLOE_WARM_MAX": "2"}
    floe("run", str(dirs[0] / "nb.ipynb"), "--no-cache", "-q", "--warm", env=env)
    first = warm_pids()
    floe("run", str(dirs[1] / "nb.ipynb"), "--no-cache", "-q", "--warm", env=env)
    time.sleep(1.1)  # socket mtimes: d0 is the least recently used
    floe("run", str(dirs[0] / "nb.ipynb"), "--no-cache", "-q", "--warm", env=env)
    assert warm_pids() and len(warm_pids()) == 2
    second = [p for p in warm_pids() if p not in first]
    assert len(second) == 1
    time.sleep(1.1)
    # a third directory: d1's zygote (used before d0's re-use) stops
    floe("run", str(dirs[2] / "nb.ipynb"), "--no-cache", "-q", "--warm", env=env)
    deadline = time.time() + 20
    while time.time() < deadline and (alive(second[0]) or len(warm_pids()) != 2):
        time.sleep(0.1)
    assert not alive(second[0])
    assert first[0] in warm_pids() and len(warm_pids()) == 2
    out = tmp_path / "o.ipynb"
    floe("run", str(dirs[1] / "nb.ipynb"), "-o", str(out), "--no-cache", "-q", "--warm", env=env)
    assert outputs(out)[0][0]["text"] == ["1\n"]


def test_warm_with_a_python_without_ipython(tmp_path, wdir, python_without_ipython):
    p = tmp_path / "a.py"
    p.write_text("x = 1\n")
    r = floe("run", str(p), "-q", "--warm", env={"FLOE_PYTHON": str(python_without_ipython)}, check=False)
    assert r.returncode == 2, r.stderr
    assert "missing module 'IPython'" in r.stderr and "--python" in r.stderr
    assert os.listdir(wdir) == []


def test_warm_dir_must_be_private(tmp_path):
    d = tmp_path / "open"
    d.mkdir(mode=0o777)
    os.chmod(d, 0o777)
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    r = floe("run", str(nb), "--no-cache", "-q", "--warm", env={"FLOE_WARM_DIR": str(d)}, check=False)
    assert r.returncode == 2 and "not a directory private to this user" in r.stderr


def test_floe_warm_env_and_no_warm(tmp_path, wdir):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    floe("run", str(nb), "--no-cache", "-q", "--no-warm", env={"FLOE_WARM": "1"})
    assert warm_pids() == []
    floe("run", str(nb), "--no-cache", "-q", env={"FLOE_WARM": "0"})
    assert warm_pids() == []
    floe("run", str(nb), "--no-cache", "-q", env={"FLOE_WARM": "1"})
    assert len(warm_pids()) == 1


def run_default(nb, **env):
    """floe run with neither FLOE_WARM nor CI set, then these."""
    e = {k: v for k, v in os.environ.items() if k not in ("FLOE_WARM", "CI")}
    e.update(env)
    r = subprocess.run([FLOE, "run", str(nb), "--no-cache", "-q"], capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == 0, r.stderr


def test_warm_by_default_except_under_ci(tmp_path, wdir):
    # issue 18: warm is the default for interactive use; CI (any value but
    # 0/false) or FLOE_WARM=0 turn it off
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["print(1)"])
    for ci in ("true", "1", "yes"):
        run_default(nb, CI=ci)
        assert warm_pids() == []
    run_default(nb, FLOE_WARM="0")
    assert warm_pids() == []
    run_default(nb)
    assert len(warm_pids()) == 1
    first = warm_pids()
    run_default(nb)
    assert warm_pids() == first  # the next default run reuses it
    assert outputs(nb)[0][0]["text"] == ["1\n"]
    run_default(nb, CI="false")  # warm too (another environment: another zygote)
    assert len(warm_pids()) == 2


def test_kernelspec_env_keys_the_warm_zygote(tmp_path, wdir):
    # a kernel's env reaches the zygote's environment, so another kernel with
    # another env gets another warm zygote
    jp = tmp_path / "jp"
    for name, val in (("ka", "a"), ("kb", "b")):
        d = jp / "kernels" / name
        d.mkdir(parents=True)
        (d / "kernel.json").write_text(json.dumps({"argv": [os.environ.get("FLOE_PYTHON", "/usr/bin/python3"), "-m",
                                                            "ipykernel_launcher"], "language": "python",
                                                   "display_name": name, "env": {"KS_VAL": val}}))
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, ["import os\nprint(os.environ['KS_VAL'])"])
    e = {k: v for k, v in os.environ.items() if k not in ("FLOE_PYTHON",)}
    e.update(JUPYTER_PATH=str(jp), FLOE_WARM="1")
    for k, want in (("ka", 1), ("kb", 2), ("ka", 2)):
        r = subprocess.run([FLOE, "run", str(nb), "--no-cache", "-q", "-k", k], capture_output=True, text=True, env=e,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        assert outputs(nb)[0][0]["text"] == ["%s\n" % k[1]]
        assert len(warm_pids()) == want
