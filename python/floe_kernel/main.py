"""floe's kernel process: the zygote and the cell kernels it forks.

floe starts `python -m floe_kernel.main` with FLOE_FD naming a connected
socket. The process imports the preload set once (IPython, numpy, pandas...),
builds the IPython shell, says hello, and then serves requests:

  zygote:  {"op":"fork"} with a socket fd attached (SCM_RIGHTS) -> forks a
           kernel that talks over that fd; replies {"op":"forked","pid":N};
           reports {"op":"exited","pid":N,"status":S} when a kernel ends.
  kernel:  {"op":"run", ...} -> runs one cell (see cell.py), replies with
           {"op":"done", ...}; {"op":"exit"} ends it.

Every process dies with its parent (PR_SET_PDEATHSIG) so nothing outlives
floe."""
import os
import select
import signal
import socket
import sys
import time

from . import chaos, proto

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    # the parent may already be gone (race between fork and prctl)
    if os.getppid() == 1:
        os._exit(1)


def language_info():
    import platform
    return {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": platform.python_version(),
    }


# Modules whose import has visible effects: never preloaded automatically.
_NO_AUTO = {"this", "antigravity", "__hello__", "__phello__", "floe_kernel"}


def _safe_auto(name):
    """A module the notebook imports is preloaded only if it is installed
    outside the notebook's directory (a local module may be written by the
    notebook itself, e.g. with %%writefile) and has no import side effects."""
    import importlib.util
    if name.split(".")[0] in _NO_AUTO:
        return False
    try:
        spec = importlib.util.find_spec(name.split(".")[0])
    except Exception:  # noqa: BLE001 - broken finders: skip
        return False
    if spec is None:
        return False
    origin = spec.origin or (list(spec.submodule_search_locations or [""])[0])
    if not origin or origin in ("built-in", "frozen"):
        return True
    here = os.path.realpath(os.getcwd()) + os.sep
    return not os.path.realpath(origin).startswith(here)


def preload(mods):
    """Imports the preload set ("?name": only if _safe_auto); returns
    {module: error} for failures of the explicit ones. With
    FLOE_OMP_PASSIVE=1 (floe: kernels run side by side) an OpenMP runtime
    these imports load (libgomp reads its settings once, when loaded) waits
    passively; the variable is gone again before any cell runs, so a cell
    sees the environment Jupyter's kernel would."""
    import importlib
    passive = os.environ.pop("FLOE_OMP_PASSIVE", None) == "1" and "OMP_WAIT_POLICY" not in os.environ
    if passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        return _preload(importlib, mods)
    finally:
        if passive:
            os.environ.pop("OMP_WAIT_POLICY", None)


def _preload(importlib, mods):
    failed = {}
    for m in mods:
        auto = m.startswith("?")
        m = m.lstrip("?")
        if auto and not _safe_auto(m):
            continue
        try:
            importlib.import_module(m)
        except BaseException as e:  # noqa: BLE001 - report any import failure
            if not auto:
                failed[m] = "%s: %s" % (type(e).__name__, e)
    return failed


def _limit_memory():
    """--mem-limit: the kernel may map SIZE bytes beyond what it shares with
    the zygote; past that, allocations fail and the cell gets a MemoryError
    rather than the machine running out of memory."""
    limit = int(os.environ.get("FLOE_MEM_LIMIT", "0") or 0)
    if limit <= 0:
        return
    import resource
    vm = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    vm = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    resource.setrlimit(resource.RLIMIT_AS, (vm + limit, vm + limit))


def _reseed():
    """A forked kernel must not share its parent's random state."""
    import random
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed(int.from_bytes(os.urandom(4), "little"))
        except Exception:
            pass


class Zygote:
    def __init__(self, chan, kernel_factory):
        self.chan = chan
        self.sock = socket.socket(fileno=os.dup(chan.fd))
        self.kernel_factory = kernel_factory
        self.children = set()
        self.forks = 0
        self.watch = proto.ChildWatch()
        # Ctrl-C is floe's to handle: it interrupts the kernels it chooses
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _reap(self):
        for pid, status in self.watch.ended():
            self.children.discard(pid)
            self.chan.send({"op": "exited", "pid": pid, "status": _status(status)})

    def serve(self):
        while True:
            r, _, _ = select.select([self.chan.fd, self.watch.fd], [], [])
            if self.watch.fd in r:
                self._reap()
            if self.chan.fd in r:
                try:
                    msg, fds = proto.recv_frame(self.sock, 1)
                except (EOFError, ConnectionError, ValueError):  # floe is gone: so are we
                    os._exit(0)
                if msg.get("op") == "exit":
                    os._exit(0)
                if msg.get("op") == "fork" and fds:
                    self._fork(fds[0])

    def _fork(self, fd):
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            self.watch.close()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _die_with_parent()
            self.sock.close()
            os.close(self.chan.fd)
            _reseed()
            _limit_memory()
            chaos.delay("fork", self.forks)
            try:
                self.kernel_factory.warm()
                self.kernel_factory(proto.Channel(fd)).serve()
            finally:
                sys.stdout.flush() if sys.stdout else None
                os._exit(0)
        os.close(fd)
        self.forks += 1
        self.children.add(pid)
        self.chan.send({"op": "forked", "pid": pid, "t": time.monotonic_ns() // 1000,
                        "fork_us": (time.perf_counter_ns() - t0) // 1000})


def _status(st):
    if os.WIFSIGNALED(st):
        return {"signal": os.WTERMSIG(st)}
    return {"code": os.WEXITSTATUS(st)}


def main():
    # as ipykernel does, before anything imports matplotlib
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    warm_fd = os.environ.get("FLOE_WARM_FD")
    fd = int(warm_fd or os.environ.get("FLOE_FD", "3"))
    os.set_inheritable(fd, False)
    mods = [m for m in os.environ.get("FLOE_PRELOAD", "IPython").split(",") if m]
    required = ["IPython"]
    failed = preload(required + [m for m in mods if m not in required])
    missing = {m: e for m, e in failed.items() if m in required}
    error = None
    if missing:
        error = {"op": "error", "missing": sorted(missing), "detail": missing, "python": sys.executable}
    else:
        from .kernel import Kernel
        Kernel.prepare()
    hello = {"op": "hello", "pid": os.getpid(), "language_info": language_info(),
             "preload_failed": failed, "python": sys.executable, "version": sys.version.split()[0]}
    if warm_fd:
        _freeze()
        from . import warm
        warm.main(fd, hello, error, lambda chan: Zygote(chan, Kernel).serve())
    chan = proto.Channel(fd)
    if error:
        chan.send(error)
        return 3
    chan.send(hello)
    chaos.announce()
    _freeze()
    Zygote(chan, Kernel).serve()
    return 0


def _freeze():
    """Objects that exist now are shared by every forked kernel: keep the
    collector from walking (and so copying) their pages in each child."""
    import gc
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
