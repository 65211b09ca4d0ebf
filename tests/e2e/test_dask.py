"""floe run --dask (issue 20) on a real Dask cluster started here: `dask
scheduler` and two `dask worker --nthreads 1` on 127.0.0.1 (with floe's
python/ on their PYTHONPATH, as README says workers need).

* a corpus sample (FLOE_DASK_CORPUS=all: every notebook of tests/notebooks, or
  a comma-separated list of names)
  gives Jupyter's outputs (oracle.py);
* independent cells spread over both workers (args.worker in the trace);
* a worker killed with SIGKILL mid-run loses no cell output;
* afterwards nothing of the run is left: no task or key on the scheduler,
  no data, plugin, zygote, kernel or directory on the workers.

Skipped, saying why, when /usr/bin/python3 has no distributed."""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import oracle
from conftest import write_nb
from test_notebooks import KNOWN, check, run_floe

FLOE = os.environ.get("FLOE", os.path.join(oracle.ROOT, "build", "floe"))
PY = "/usr/bin/python3"
HAVE = subprocess.run([PY, "-c", "import distributed"], capture_output=True).returncode == 0
pytestmark = pytest.mark.skipif(not HAVE, reason="Dask distributed is not installed for /usr/bin/python3 "
                                                 "(Debian: python3-distributed; scripts/deps.sh installs it)")

# A sample that crosses every path of the driver: artifacts moved between
# workers (pandas/numpy/pickle/groups), lazy reads, re-runs of stale
# readers, holders (pinned), process state, errors, rich outputs.
SAMPLE = ["adv_mutation", "adv_unmovable", "adv_name_fallback", "adv_covar_frame_alias", "adv_chdir",
          "pandas_ops", "matplotlib_inline", "update_display", "err_traceback",
          "adv_output_history", "adv_class_state"]  # history results and held classes on workers
ALL = sorted(os.path.basename(p)[:-6] for p in glob.glob(os.path.join(oracle.ROOT, "tests", "notebooks", "*.ipynb")))
CORPUS = ALL if os.environ.get("FLOE_DASK_CORPUS") == "all" else SAMPLE
if os.environ.get("FLOE_DASK_CORPUS", "").startswith("adv_"):  # a list of names
    CORPUS = os.environ["FLOE_DASK_CORPUS"].split(",")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self, tmp, own_dirs=False):
        """own_dirs: each worker runs cells in a directory of its own
        (FLOE_DASK_WORKDIR), as workers on machines that share no file system."""
        self.tmp = tmp
        self.own_dirs = own_dirs
        self.env = dict(os.environ)
        self.env.pop("FLOE_TEST_TAG", None)
        pp = self.env.get("PYTHONPATH")
        self.env["PYTHONPATH"] = os.path.join(oracle.ROOT, "python") + (":" + pp if pp else "")
        self.env["FLOE_DASK_ORPHAN_S"] = "20"  # test_floe_killed_leaves_nothing waits less
        self.port = _free_port()
        self.address = "tcp://127.0.0.1:%d" % self.port
        self.procs = []
        self.sched = self._start(["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                  "--no-dashboard"], "scheduler")
        self.workers = [self.start_worker("w%d" % i) for i in range(2)]
        self.wait_workers(2)

    def _start(self, args, name, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen([PY, "-m", "distributed.cli.dask_" + args[0]] + args[1:], env=env or self.env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def start_worker(self, name):
        env = None
        if getattr(self, "own_dirs", False):
            env = dict(self.env, FLOE_DASK_WORKDIR=os.path.join(self.tmp, "cwd-" + name))
        return self._start(["worker", self.address, "--nthreads", "1", "--no-dashboard", "--no-nanny",
                            "--name", name], name, env)

    def ask(self, code):
        """Runs code with `c`, a Client of this cluster, in /usr/bin/python3; returns its JSON print."""
        prog = ("import json\nfrom distributed import Client\nc = Client(%r, timeout=20)\n%s\nc.close()\n"
                % (self.address, code))
        r = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=60, env=self.env)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    def wait_workers(self, n):
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.ask("print(len(c.scheduler_info()['workers']))") == n:
                    return
            except AssertionError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the Dask cluster did not start; see %s" % self.tmp)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(str(tmp_path_factory.mktemp("dask")))
    yield c
    c.stop()


def dask_run(cluster, path, out, *args, timeout=180):
    return run_floe(str(path), out, "--no-cache", "--dask", cluster.address, *args, timeout=timeout)


def computes(trace_path):
    t = json.loads(open(trace_path).read())
    return [e for e in t["traceEvents"] if e.get("ph") == "X" and e["name"] == "compute"]


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_matches_jupyter(cluster, tmp_path, name):
    if (name, "parallel") in KNOWN:
        pytest.skip("a known difference of isolated runs: " + KNOWN[(name, "parallel")])
    path = os.path.join(oracle.ROOT, "tests", "notebooks", name + ".ipynb")
    want = oracle.normalise(oracle.run_jupyter(path))
    r, got = dask_run(cluster, path, tmp_path / "out.ipynb")
    problem = check(want, r, got, 1 if name.startswith("err_") else 0)
    assert problem is None, problem


FITS = ["import time, math\n"] + ["time.sleep(0.6)\nr%d = sum(math.sqrt(i) for i in range(20000))\nprint(%d, round(r%d))"
                                  % (i, i, i) for i in range(6)]


def test_compute_spreads_over_both_workers(cluster, tmp_path):
    nb = tmp_path / "fits.ipynb"
    write_nb(nb, FITS)
    tr = tmp_path / "t.json"
    r, got = dask_run(cluster, nb, tmp_path / "out.ipynb", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    assert oracle.diff(want, got) is None
    workers = {e["args"].get("worker") for e in computes(tr)}
    assert None not in workers, "a compute event without args.worker"
    assert len(workers) == 2, "compute ran on %s only" % workers
    # floe trace: the lanes grouped by worker, each named after its worker
    svg = tmp_path / "t.svg"
    subprocess.run([FLOE, "trace", str(tr), "-o", str(svg)], check=True)
    lanes = [ln for ln in svg.read_text().split(">") if "kernel" in ln and "tcp://" in ln]
    named = [w for ln in lanes for w in workers if w in ln]
    assert set(named) == workers and named == sorted(named), "lanes not grouped by worker: %s" % lanes


def _kernel_on(pid):
    """A cell kernel runs under this worker (worker -> zygote -> kernel)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            for z in f.read().split():
                with open("/proc/%s/task/%s/children" % (z, z)) as g:
                    if g.read().split():
                        return True
    except OSError:
        pass
    return False


def _exported_on(pid, prefix):
    """A worker's run directory holds an artifact file of name prefix*."""
    return any(glob.glob("%s/floe-dask-*-%d/%s*" % (base, pid, prefix)) for base in ("/dev/shm", "/tmp"))


def test_worker_killed_mid_run_loses_no_output(cluster, tmp_path):
    """SIGKILL of a worker that has finished a reader (its result, a v*, is
    only there) while it runs the next: the running cell runs again on the
    other worker, and the last cell's input lost with the worker is
    recomputed from its producer (Dask's lineage) -- every output is Jupyter's."""
    cells = ["import time\nimport numpy as np\nbase = np.arange(1000)"] + [
        "time.sleep(1.5)\nv%d = int(base.sum()) + %d\nprint('cell', %d, v%d)" % (i, i, i, i) for i in range(4)] + [
        "print(v0 + v1 + v2 + v3)"]
    nb = tmp_path / "kill.ipynb"
    write_nb(nb, cells)
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    out = tmp_path / "out.ipynb"
    p = subprocess.Popen([FLOE, "run", str(nb), "-o", str(out), "-q", "--no-cache", "--dask", cluster.address,
                          "--trace", str(tmp_path / "t.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline, victim = time.time() + 90, None
    while time.time() < deadline and victim is None:
        victim = next((w for w in cluster.workers if _exported_on(w.pid, "v") and _kernel_on(w.pid)), None)
        time.sleep(0.02)
    assert victim is not None, "no worker ran a second reader after a first"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stdout, stderr = p.communicate(timeout=180)
    assert p.returncode == 0, "floe exited %d: %s\n%s" % (p.returncode, stderr, out.read_text() if out.exists() else "")
    got = oracle.normalise(json.loads(out.read_text()))
    assert oracle.diff(want, got) is None
    # the cluster goes on with two workers for the next tests
    cluster.workers[cluster.workers.index(victim)] = cluster.start_worker("w%d" % time.monotonic_ns())
    cluster.wait_workers(2)


def assert_nothing_left(cluster):
    left = cluster.ask(
        "from floe_kernel import dask_worker as dw\n"
        "w = c.run(dw.leftovers)\n"
        "s = c.run_on_scheduler(lambda dask_scheduler: [len(dask_scheduler.tasks), len(dask_scheduler.clients)])\n"
        "print(json.dumps({'workers': w, 'scheduler': s}))")
    assert left["scheduler"][0] == 0, "tasks left on the scheduler: %s" % left
    for addr, w in left["workers"].items():
        assert w["plugins"] == [] and w["children"] == [] and w["data"] == 0 and w["dirs"] == [], (addr, w)


def test_nothing_left_on_the_cluster(cluster, tmp_path):
    nb = tmp_path / "x.ipynb"
    write_nb(nb, ["import numpy as np\nx = np.ones(10)", "y = x * 2", "print(y.sum())"])
    r, _ = dask_run(cluster, nb, tmp_path / "out.ipynb")
    assert r.returncode == 0, r.stderr
    assert_nothing_left(cluster)


def _local_and_dask(cluster, tmp_path, cells, *args):
    nb = tmp_path / "nb.ipynb"
    write_nb(nb, cells)
    rl, local = run_floe(str(nb), tmp_path / "local.ipynb", "--no-cache", *args)
    rd, dask = dask_run(cluster, nb, tmp_path / "dask.ipynb", *args)
    return (rl.returncode, local), (rd.returncode, dask)


def test_timeout_as_local(cluster, tmp_path):
    """-t: the cell is interrupted on its worker, as a local kernel is."""
    local, dask = _local_and_dask(cluster, tmp_path, ["print('a')", "import time\ntime.sleep(30)", "print('b')"],
                                  "-t", "2")
    assert local[0] == dask[0] == 1
    # the cell's last output is the timeout, later cells have none; whether a
    # KeyboardInterrupt traceback comes first depends on when the interrupt
    # lands, locally as well
    for rc, cells in (local, dask):
        assert cells[0] == local[1][0] and cells[2] == local[1][2]
        assert cells[1][1][-1][1] == "CellTimeoutError", cells


def test_allow_errors_as_jupyter(cluster, tmp_path):
    path = os.path.join(oracle.ROOT, "tests", "notebooks", "err_traceback.ipynb")
    want = oracle.normalise(oracle.run_jupyter(path, allow_errors=True))
    r, got = dask_run(cluster, path, tmp_path / "out.ipynb", "--allow-errors")
    assert check(want, r, got, 0) is None


def test_ctrl_c_cancels_the_run(cluster, tmp_path):
    """Ctrl-C with a cell running on each worker: both stop, and the notebook
    records the first one's KeyboardInterrupt, as a local run does
    (test_engine.test_sigint_records_interrupted_cells_that_shared_a_file)."""
    nb = tmp_path / "slow.ipynb"
    started = tmp_path / "started"  # a line per cell whose code runs (a forked kernel alone may not have started it)
    cell = "import time\nopen(%r, 'a').write('x\\n')\ntime.sleep(60)" % str(started)
    write_nb(nb, [cell, cell, "print('never')"])
    out = tmp_path / "out.ipynb"
    p = subprocess.Popen([FLOE, "run", str(nb), "-o", str(out), "-q", "--no-cache", "--dask",
                          cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not started.exists() or len(started.read_text().split()) < 2):
        time.sleep(0.05)
    time.sleep(0.3)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert time.time() - t0 < 20, "Ctrl-C did not stop the cells on the workers"
    cells = json.loads(out.read_text())["cells"]
    assert [o.get("ename") for o in cells[0]["outputs"]] == ["KeyboardInterrupt"], cells[0]["outputs"]
    assert cells[1]["outputs"] == cells[2]["outputs"] == []
    assert_nothing_left(cluster)


def test_results_come_back_as_events(cluster, tmp_path):
    """A cell's result (less its files) comes to floe as an event its task
    sends when it ends; only one too large for an event (here 300 KB of
    output) is fetched by a projection task (a "small-..." key)."""
    nb = tmp_path / "big.ipynb"
    write_nb(nb, ["print('small')", "print('x' * 300000)"])
    n0 = cluster.ask("print(c.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log)))")
    r, got = dask_run(cluster, nb, tmp_path / "out.ipynb")
    assert r.returncode == 0, r.stderr
    assert oracle.diff(oracle.normalise(oracle.run_jupyter(str(nb))), got) is None
    keys = cluster.ask("print(json.dumps(c.run_on_scheduler(lambda dask_scheduler: sorted({str(t[0]) for t in "
                       "list(dask_scheduler.transition_log)[%d:] if str(t[0]).startswith('small-')}))))" % n0)
    assert [k for k in keys if "-cell0-" in k] == [] and [k for k in keys if "-cell1-" in k], keys


def test_holder_cells_are_pinned(cluster, tmp_path):
    """A value that cannot move (a generator) stays in its kernel: the cell
    reading it runs there, on the same worker, and the trace says so."""
    nb = tmp_path / "g.ipynb"
    write_nb(nb, ["g = (i * i for i in range(5))\nnext(g)", "print(next(g), next(g))"])
    tr = tmp_path / "t.json"
    r, got = dask_run(cluster, nb, tmp_path / "out.ipynb", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    assert oracle.diff(oracle.normalise(oracle.run_jupyter(str(nb))), got) is None
    ev = {e["args"]["cell"]: e["args"] for e in computes(tr)}
    assert ev[1].get("pinned") == ev[0]["worker"] == ev[1]["worker"], ev


def test_cache_restores_onto_the_cluster(cluster, tmp_path):
    """With the cache (files copied back to floe's machine), a re-run after
    editing the last cell restores the first from the cache and sends its
    artifact to the worker that runs the second."""
    nb = tmp_path / "c.ipynb"
    cache = tmp_path / "cache"
    write_nb(nb, ["import numpy as np\nx = np.arange(10)", "print(x.sum())"])
    env = {k: v for k, v in os.environ.items() if k != "FLOE_NO_CACHE"}
    r1, got1 = run_floe(str(nb), tmp_path / "o1.ipynb", "--cache-dir", str(cache), "--dask", cluster.address,
                        env=env)
    assert r1.returncode == 0, r1.stderr
    write_nb(nb, ["import numpy as np\nx = np.arange(10)", "print(x.max())"])
    tr = tmp_path / "t.json"
    r2, got2 = run_floe(str(nb), tmp_path / "o2.ipynb", "--cache-dir", str(cache), "--dask", cluster.address,
                        "--trace", str(tr), env=env)
    assert r2.returncode == 0, r2.stderr
    assert oracle.diff(oracle.normalise(oracle.run_jupyter(str(nb))), got2) is None
    assert "".join(json.loads((tmp_path / "o2.ipynb").read_text())["cells"][1]["outputs"][0]["text"]) == "9\n"
    t = json.loads(tr.read_text())["traceEvents"]
    assert [e["args"]["cell"] for e in t if e.get("name") == "restore"] == [0]
    assert [e["args"]["cell"] for e in t if e.get("name") == "compute"] == [1]


def test_floe_killed_leaves_nothing(cluster, tmp_path):
    """floe SIGKILLed mid-run: its bridge dies with it, Dask forgets the
    run's futures, and each worker's plugin notices and removes itself
    (zygote, kernels, directory) once the bridge's heartbeat is silent."""
    nb = tmp_path / "slow.ipynb"
    write_nb(nb, ["import time\ntime.sleep(5)", "import time\ntime.sleep(5)"])
    p = subprocess.Popen([FLOE, "run", str(nb), "-o", str(tmp_path / "out.ipynb"), "-q", "--no-cache", "--dask",
                          cluster.address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not any(_kernel_on(w.pid) for w in cluster.workers):
        time.sleep(0.05)
    p.kill()
    p.wait()
    for d in glob.glob("/dev/shm/floe-%d-*" % p.pid) + glob.glob("/tmp/floe-%d-*" % p.pid):
        shutil.rmtree(d, ignore_errors=True)  # floe's own run directory: the next run would sweep it
    deadline = time.time() + 50
    while True:
        try:
            assert_nothing_left(cluster)
            return
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(1)


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is needed to make the test's certificate")
def test_tls_cluster(tmp_path):
    """tls:// with --dask-tls-ca/cert/key: a scheduler and a worker that
    accept only TLS (a self-signed certificate made here)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    c = Cluster.__new__(Cluster)
    c.tmp, c.procs = str(tmp_path), []
    c.env = {k: v for k, v in os.environ.items() if k != "FLOE_TEST_TAG"}
    c.env["PYTHONPATH"] = os.path.join(oracle.ROOT, "python")
    c.port = _free_port()
    c.address = "tls://127.0.0.1:%d" % c.port
    try:
        c._start(["scheduler", "--host", "127.0.0.1", "--port", str(c.port), "--protocol", "tls", "--no-dashboard"]
                 + tls, "scheduler")
        time.sleep(1)
        c._start(["worker", c.address, "--nthreads", "1", "--no-dashboard", "--no-nanny"] + tls, "worker")
        nb = tmp_path / "t.ipynb"
        write_nb(nb, ["import numpy as np\nx = np.arange(4)", "print(x * 2)"])
        r, got = run_floe(str(nb), tmp_path / "out.ipynb", "--no-cache", "--dask", c.address, "--dask-tls-ca",
                          str(cert), "--dask-tls-cert", str(cert), "--dask-tls-key", str(key))
        assert r.returncode == 0, r.stderr
        assert oracle.diff(oracle.normalise(oracle.run_jupyter(str(nb))), got) is None
    finally:
        c.stop()


def test_dead_workers_directories_are_swept(cluster, tmp_path):
    """A SIGKILLed worker cannot tear down: the next run on the machine
    removes the directories of runs whose worker is gone."""
    stale = "/dev/shm/floe-dask-feedface0000-%d" % 2 ** 22 if os.access("/dev/shm", os.W_OK) else \
        "/tmp/floe-dask-feedface0000-%d" % 2 ** 22
    try:
        os.kill(2 ** 22, 0)
        pytest.skip("pid %d is alive here" % 2 ** 22)
    except ProcessLookupError:
        pass
    os.makedirs(stale, exist_ok=True)
    open(os.path.join(stale, "x@1.pkl"), "w").close()
    nb = tmp_path / "x.ipynb"
    write_nb(nb, ["print(1)"])
    r, _ = dask_run(cluster, nb, tmp_path / "out.ipynb")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(stale)


@pytest.fixture(scope="module")
def split_cluster(tmp_path_factory):
    c = Cluster(str(tmp_path_factory.mktemp("dask-split")), own_dirs=True)
    yield c
    c.stop()


def test_cells_using_files_run_where_the_files_are(split_cluster, tmp_path):
    """Workers that share no file system (each runs cells in its own
    directory): a file stays on the worker of the cell that wrote it, so a
    cell that reads it runs there (the trace: args.pinned, pinned_for), and
    one that reads files made on both workers runs on one after the other's
    files were copied to it. Without that, cell 2 (which waits for b, made
    on the worker that is free while cell 0 still runs) and cell 3 would
    not find a.txt / b.txt."""
    cells = ["import time\ntime.sleep(2)\nopen('a.txt', 'w').write('A')",
             "b = 'B'\nopen('b.txt', 'w').write(b)",
             "print(open('a.txt').read(), b)",
             "print(open('a.txt').read() + open('b.txt').read())"]
    nb = tmp_path / "files.ipynb"
    write_nb(nb, cells)
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    for f in ("a.txt", "b.txt"):
        (tmp_path / f).unlink(missing_ok=True)   # Jupyter's (unless cached): floe's workers must not see them
    tr = tmp_path / "t.json"
    r, got = dask_run(split_cluster, nb, tmp_path / "out.ipynb", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    assert oracle.diff(want, got) is None, oracle.diff(want, got)
    ev = {e["args"]["cell"]: e["args"] for e in computes(tr)}
    assert ev[0]["worker"] != ev[1]["worker"], ev
    assert ev[2]["worker"] == ev[2]["pinned"] == ev[0]["worker"] and "a.txt" in ev[2]["pinned_for"], ev
    assert ev[3]["pinned"] == ev[3]["worker"] and "copied from" in ev[3]["pinned_for"], ev
    assert not (tmp_path / "a.txt").exists(), "the workers shared floe's directory"
    assert_nothing_left(split_cluster)


def test_cells_after_a_chdir_run_where_the_directory_is(split_cluster, tmp_path):
    """A cell that changed the working directory to one it made leaves a
    process state naming a directory of its worker: the cells that take that
    state run there (args.pinned_for says why)."""
    cells = ["import os, time\nos.makedirs('sub', exist_ok=True)\nos.chdir('sub')\ntime.sleep(2)",
             "x = 5",
             "import os\nprint(os.path.basename(os.getcwd()), x)\nopen('w.txt', 'w').write('w')"]
    nb = tmp_path / "cd.ipynb"
    write_nb(nb, cells)
    want = oracle.normalise(oracle.run_jupyter(str(nb)))
    tr = tmp_path / "t.json"
    r, got = dask_run(split_cluster, nb, tmp_path / "out.ipynb", "--trace", str(tr))
    assert r.returncode == 0, r.stderr
    assert oracle.diff(want, got) is None, oracle.diff(want, got)
    ev = {e["args"]["cell"]: e["args"] for e in computes(tr)}
    assert ev[2]["worker"] == ev[2].get("pinned") == ev[0]["worker"], ev
    assert "working directory" in ev[2]["pinned_for"], ev
    assert_nothing_left(split_cluster)
