"""floe on a Dask worker: the per-run zygote and the cell task.

The Dask bridge (dask_bridge.py) registers a FloeWorker plugin named
floe-<run> on every worker of the cluster. Its setup starts a floe zygote
(`python -m floe_kernel.main`, the run's interpreter and preload set, the
run's directory private to this worker) as a child of the worker, tied to
its life (PR_SET_PDEATHSIG): a worker that dies takes its zygote and the
kernels it forked along. A cell task (run_cell) forks a kernel from that
zygote, sends it the run request the core made, relays lazy reads, and
returns the kernel's "done" message together with the bytes of the files it
exported: that result stays in the worker's memory as Dask data, and a
reader's task takes it as an input, so Dask moves it to the reader's worker
(or recomputes it from its producer when the worker holding it is lost).

The kernel stays alive after the cell (floe may keep it as a holder of
values that cannot move, and send the next cell to it): the bridge releases
it (release) or signals it (signal) through Client.run. Teardown (the plugin
unregistered at the end of the run) kills the zygote and every kernel and
removes the directory: nothing of the run is left on the worker.

Paths: floe names artifacts by files in ITS run directory (floe_dir); here
they live in this worker's directory. Requests are rewritten floe_dir ->
local on the way in and local -> floe_dir on the way out.

Files cells use: the kernels run in the notebook's directory if it exists
here, else in the run's directory, or in FLOE_DASK_WORKDIR (this worker's
own) if set; paths under it are reported to floe under the notebook's
directory, with which file each is here (fids: boot, device, inode), so the
bridge knows whether a file another worker wrote was seen here. read_files
and the "copies" input move files between workers' directories."""
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from . import proto

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the bridge reports distributed missing; this module is not used then
    WorkerPlugin = object

PR_SET_PDEATHSIG = 1


def _dbg(*a):
    if os.environ.get("FLOE_DEBUG"):
        sys.stderr.write("floe-worker: %s\n" % " ".join(str(x) for x in a))
        sys.stderr.flush()


def plugin_name(run_id):
    return "floe-" + run_id


def boot_id():
    """Same boot id as floe's machine: the monotonic clocks agree."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _now_us():
    return time.monotonic_ns() // 1000


class _Kernel:
    def __init__(self, pid, sock):
        self.pid = pid
        self.sock = sock
        self.chan = proto.Channel(sock.fileno())
        self.answers = queue.Queue()   # "value" messages for its lazy reads (from the bridge)


class FloeWorker(WorkerPlugin):
    """One run's zygote on one worker (see the module's docstring)."""

    # the bridge's heartbeat (heartbeat(), every 2 s): silent this long, it is gone
    ORPHAN_S = float(os.environ.get("FLOE_DASK_ORPHAN_S", "60"))

    def __init__(self, run_id, python, pythonpath, preload, cwd, mem_limit):
        self.run_id, self.python, self.pythonpath = run_id, python, pythonpath
        self.preload, self.cwd, self.mem_limit = preload, cwd, mem_limit

    # --- lifecycle (Dask calls these) -----------------------------------------
    def setup(self, worker):
        self.worker = worker
        self.lock = threading.Lock()
        self.kernels = {}
        self.forked = queue.Queue()
        self.exited = {}
        self.cond = threading.Condition()
        self.hello = threading.Event()
        self.failed = None
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
        _sweep(base)
        self.dir = os.path.join(base, "floe-dask-%s-%d" % (self.run_id, os.getpid()))
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.closed = False
        self.beat = time.monotonic()
        self._start_zygote()
        threading.Thread(target=self._watch_bridge, daemon=True, name="floe-watch").start()

    def _watch_bridge(self):
        """A bridge that died without ending the run (floe SIGKILLed) leaves
        no one to unregister this plugin: once its heartbeat has been silent
        for ORPHAN_S, the plugin removes itself (zygote, kernels, directory)."""
        while not self.closed:
            time.sleep(1.0)
            if not self.closed and time.monotonic() - self.beat > self.ORPHAN_S:
                _dbg("run", self.run_id, "orphaned: its bridge is gone")
                self.worker.loop.add_callback(self.worker.plugin_remove, plugin_name(self.run_id))
                return

    def teardown(self, worker):
        self.closed = True
        self.failed = "the run ended"
        self.hello.set()
        for k in list(self.kernels.values()):
            _kill(k.pid)
            k.sock.close()
        self.kernels.clear()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the zygote -------------------------------------------------------------
    def _start_zygote(self):
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        pp = env.get("PYTHONPATH")
        env["PYTHONPATH"] = self.pythonpath + (":" + pp if pp else "")
        env.update({"FLOE_FD": str(theirs.fileno()), "FLOE_PRELOAD": self.preload,
                    "FLOE_RUN_DIR": self.dir})
        if self.mem_limit:
            env["FLOE_MEM_LIMIT"] = str(self.mem_limit)
        python = self.python if os.access(self.python, os.X_OK) else sys.executable
        cwd = self.cwd if self.cwd and os.path.isdir(self.cwd) else self.dir
        own = os.environ.get("FLOE_DASK_WORKDIR")
        if own:  # this worker's own working directory (no file system shared with floe's machine)
            os.makedirs(own, exist_ok=True)
            cwd = os.path.abspath(own)
        self.workdir = cwd
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl

        def child():
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.setpgid(0, 0)
        self.proc = subprocess.Popen([python, "-m", "floe_kernel.main"], pass_fds=[theirs.fileno()], env=env,
                                     cwd=cwd, stdin=subprocess.DEVNULL, preexec_fn=child)
        theirs.close()
        self.sock = ours
        threading.Thread(target=self._read_zygote, daemon=True, name="floe-zygote").start()

    def _read_zygote(self):
        while True:
            try:
                msg, _ = proto.recv_frame(self.sock, 1)
            except (EOFError, OSError, ValueError):
                self.failed = self.failed or "the floe zygote on this worker exited"
                self.hello.set()
                self.forked.put(None)
                with self.cond:
                    self.cond.notify_all()
                return
            op = msg.get("op")
            if op == "hello":
                self.hello.set()
            elif op == "error":
                self.failed = "%s cannot run floe kernels: missing %s" % (msg.get("python"), msg.get("missing"))
                self.hello.set()
            elif op == "forked":
                self.forked.put(msg)
            elif op == "exited":
                with self.cond:
                    self.exited[msg["pid"]] = msg.get("status", {})
                    self.cond.notify_all()

    def fork(self, kid):
        """A new kernel for the bridge's kernel kid. RuntimeError if the zygote failed."""
        self.hello.wait(600)
        if self.failed:
            raise RuntimeError(self.failed)
        ours, theirs = socket.socketpair()
        with self.lock:
            socket.send_fds(self.sock, [_frame({"op": "fork"})], [theirs.fileno()])
            msg = self.forked.get()
        theirs.close()
        if msg is None:
            raise RuntimeError(self.failed)
        old = self.kernels.pop(kid, None)
        if old is not None:  # a retry of the same kernel's task: the old one is stale
            _kill(old.pid)
            old.sock.close()
        k = self.kernels[kid] = _Kernel(msg["pid"], ours)
        return k

    def status(self, pid, wait_s=2.0):
        """The exit status the zygote reported for pid ({"signal": N} / {"code": N})."""
        end = time.monotonic() + wait_s
        with self.cond:
            while pid not in self.exited and time.monotonic() < end and not self.failed:
                self.cond.wait(0.05)
            return self.exited.get(pid, {"signal": signal.SIGKILL})


def _sweep(base):
    """Directories of runs whose worker died (SIGKILL: no teardown) are removed
    by the next run on the machine, as floe's own run directories are."""
    import glob
    for d in glob.glob(os.path.join(base, "floe-dask-*-*")):
        try:
            pid = int(d.rsplit("-", 1)[1])
            if os.stat(d).st_uid != os.getuid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, OSError):
            pass


def _frame(msg):
    import json
    data = json.dumps(msg).encode()
    return len(data).to_bytes(4, "big") + data


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _rewrite(obj, src, dst):
    """obj with every string that starts with src/ starting with dst/ instead."""
    if isinstance(obj, str):
        return dst + obj[len(src):] if obj.startswith(src + "/") else obj
    if isinstance(obj, list):
        return [_rewrite(v, src, dst) for v in obj]
    if isinstance(obj, dict):
        return {k: _rewrite(v, src, dst) for k, v in obj.items()}
    return obj


def _to_local(pl, path):
    """A path in floe's working directory (the notebook's) -> the same file
    in this worker's working directory (they differ when the notebook's
    directory does not exist here, or FLOE_DASK_WORKDIR is set)."""
    return _rewrite(path, pl.cwd, pl.workdir) if pl.cwd and pl.cwd != pl.workdir else path


def _to_floe(pl, path):
    return _rewrite(path, pl.workdir, pl.cwd) if pl.cwd and pl.cwd != pl.workdir else path


def read_files(run_id, paths):
    """The task that copies files a cell made on this worker to the worker a
    later cell that uses them runs on (dask_bridge.Bridge.place): their
    bytes (None: a directory, False: gone), by floe's name for them."""
    _, pl = _plugin(run_id)
    out = {}
    for p in paths:
        lp = _to_local(pl, p)
        if os.path.isdir(lp):
            out[p] = None
        elif os.path.isfile(lp):
            with open(lp, "rb") as f:
                out[p] = f.read()
        else:
            out[p] = False
    return {"copies": out}


def _copy_in(pl, copies):
    for p, data in copies.items():
        lp = _to_local(pl, p)
        if data is None:
            os.makedirs(lp, exist_ok=True)
        elif data is False:
            if os.path.isfile(lp):
                os.remove(lp)
        else:
            os.makedirs(os.path.dirname(lp), exist_ok=True)
            tmp = "%s.floe-copy-%d" % (lp, threading.get_ident())
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, lp)


def _materialize(local, inputs, pl=None):
    """Writes the input results' files into this worker's directory (a file
    already here, made by this worker, is the same bytes: kept), and the
    files copied from other workers (read_files) into its working directory."""
    for res in inputs:
        if pl is not None and "copies" in (res or {}):
            _copy_in(pl, res["copies"])
            continue
        for base, data in (res or {}).get("files", {}).items():
            path = os.path.join(local, base)
            if os.path.exists(path):
                continue
            tmp = "%s.in-%d" % (path, threading.get_ident())
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, path)


def _plugin(run_id):
    from distributed import get_worker
    w = get_worker()
    return w, w.plugins[plugin_name(run_id)]


# a result without its files up to this size goes to floe as an event; a
# larger one (big outputs) is fetched from the worker by a projection task
EVENT_MAX = 256 * 1024


def done_topic(run_id):
    return "floe-done-" + run_id


def run_cell(run_id, kid, req, floe_dir, reuse, *inputs):
    """The task: runs req (the core's run request) in a kernel forked from
    this worker's zygote (or, reuse, in the kernel kid already kept here).
    Returns {"done", "files", "updates", "worker", "boot", "now"}; a kernel
    that died gives {"dead": status} instead of "done". The result without
    its files also goes to the bridge at once, as an event on the topic
    floe-done-<run> (the bridge need not ask for it with another task)."""
    w, pl = _plugin(run_id)
    out = _run_cell(w, pl, run_id, kid, req, floe_dir, reuse, inputs)
    small = {k: v for k, v in out.items() if k != "files"}
    import json
    try:
        size = len(json.dumps(small))
    except (TypeError, ValueError):
        size = EVENT_MAX + 1
    key = w.get_current_task()
    w.log_event(done_topic(run_id), {"key": key, "small": small} if size <= EVENT_MAX else {"key": key})
    return out


def _run_cell(w, pl, run_id, kid, req, floe_dir, reuse, inputs):
    local = pl.dir
    _materialize(local, inputs, pl)
    req = _rewrite(req, floe_dir, local)
    if req.get("run_dir") == floe_dir:
        req["run_dir"] = local
    k = pl.kernels.get(kid) if reuse else None
    out = {"worker": w.address, "boot": boot_id(), "updates": [], "files": {}}
    if reuse and k is None:
        out["dead"] = {"signal": signal.SIGKILL}
        return out
    if k is None:
        k = pl.fork(kid)
    done = None
    try:
        k.chan.send(req)
        while True:
            msg = k.chan.recv()
            op = msg.get("op")
            _dbg("cell", req.get("cell"), "kernel", kid, "says", op)
            if op == "done":
                done = msg
                break
            if op == "update_display":
                out["updates"].append(msg)
            elif op == "need":
                k.chan.send(_answer(w, run_id, kid, msg["name"], k, local, floe_dir))
    except (EOFError, OSError, ValueError):
        out["dead"] = pl.status(k.pid)
        pl.kernels.pop(kid, None)
        return out
    for e in done.get("exports") or []:
        path = e.get("path")
        if path and path.startswith(local + "/") and path[len(local) + 1:] not in out["files"]:
            with open(path, "rb") as f:
                out["files"][path[len(local) + 1:]] = f.read()
    done = _rewrite(done, local, floe_dir)
    for f in ("files", "wfiles", "tfiles", "sfiles"):
        if isinstance(done.get(f), list):
            done[f] = [_to_floe(pl, p) for p in done[f]]
    # which file each is here (boot, device, inode; None: there is none): the
    # bridge compares with the writer's to know whether this worker saw its file
    boot = boot_id()
    out["fids"] = {}
    for p in set(done.get("files") or []) | set(done.get("wfiles") or []):
        try:
            st = os.stat(_to_local(pl, p))
            out["fids"][p] = [boot, st.st_dev, st.st_ino]
        except (OSError, ValueError):
            out["fids"][p] = None
    cwd = done.get("cwd")
    if isinstance(cwd, str) and os.path.realpath(cwd) != os.path.realpath(pl.workdir):
        out["moved_cwd"] = _to_floe(pl, cwd)   # its process state holds a directory of this worker
    for ev in done.get("events") or []:
        ev.setdefault("args", {})["worker"] = w.address
    out["done"] = done
    out["now"] = _now_us()
    return out


def _answer(w, run_id, kid, name, k, local, floe_dir):
    """A lazy read: asks floe through the bridge (an event on the topic
    floe-<run>), waits for the answer the bridge delivers with Client.run
    (deliver), fetches the artifact's result from whichever worker holds it
    and returns the "value" message for the kernel.

    floe may park the question until the writer finishes, and the writer's
    task may be queued on this very worker: the task leaves the worker's
    thread pool first (secede, never rejoined: it runs on as a long-running
    task), so that waiting here never holds the slot another cell needs."""
    from distributed import secede
    if not getattr(k, "seceded", False):
        secede()
        k.seceded = True
    w.log_event(plugin_name(run_id), {"kid": kid, "name": name, "worker": w.address})
    import select
    while True:
        try:
            ans = k.answers.get(timeout=0.2)
            break
        except queue.Empty:
            # the kernel says nothing while it waits: readable means it died (killed: stale)
            if w.plugins.get(plugin_name(run_id)) is None or select.select([k.sock], [], [], 0)[0]:
                raise EOFError("the kernel or the run ended")
    key = ans.pop("key", None)
    if key:
        from distributed import Future, get_client
        res = Future(key, client=get_client()).result(timeout=600)
        _materialize(local, [res])
    return _rewrite(ans, floe_dir, local)


# --- called by the bridge through Client.run (dask_worker is Dask's argument) -------

def deliver(run_id, kid, msg, dask_worker=None):
    """A lazy read's answer for kernel kid."""
    k = dask_worker.plugins[plugin_name(run_id)].kernels.get(kid)
    if k is not None:
        k.answers.put(msg)


async def ready(run_id, dask_worker=None):
    """Waits (without blocking the worker's loop) until this worker's zygote
    for the run said hello; returns its failure, or None."""
    import asyncio
    pl = dask_worker.plugins.get(plugin_name(run_id))
    if pl is None:
        return "no floe plugin for the run on this worker"
    while not pl.hello.is_set():
        await asyncio.sleep(0.02)
    return pl.failed


def heartbeat(run_id, dask_worker=None):
    """The bridge is alive (see FloeWorker._watch_bridge)."""
    pl = dask_worker.plugins.get(plugin_name(run_id))
    if pl is not None:
        pl.beat = time.monotonic()


def signal_kernel(run_id, kid, sig, dask_worker=None):
    """Signals kernel kid (Ctrl-C, a timeout, floe's kill); True if it is here."""
    pl = dask_worker.plugins.get(plugin_name(run_id))
    k = pl.kernels.get(kid) if pl else None
    if k is None:
        return False
    try:
        os.kill(k.pid, sig)
    except ProcessLookupError:
        pass
    return True


def release(run_id, kids, dask_worker=None):
    """The kernels kid in kids are done with: they exit."""
    pl = dask_worker.plugins.get(plugin_name(run_id))
    for kid in kids:
        k = pl.kernels.pop(kid, None) if pl else None
        if k is not None:
            _kill(k.pid)
            k.sock.close()


def leftovers(dask_worker=None):
    """What floe left on this worker (for tests): plugins, kernels' processes, dirs."""
    import glob
    kids = []
    try:
        with open("/proc/%d/task/%d/children" % (os.getpid(), os.getpid())) as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        pass
    return {"plugins": [n for n in dask_worker.plugins if n.startswith("floe-")],
            "children": kids, "data": len(dask_worker.data),
            "dirs": glob.glob("/dev/shm/floe-dask-*-%d" % os.getpid()) + glob.glob("/tmp/floe-dask-*-%d" % os.getpid())}
