"""floe's Dask driver, the Python half: a zygote that is a Dask client.

`floe run NB --dask ADDRESS` starts `python -m floe_kernel.dask_bridge` where
it would start the local zygote (src/kernel/kpool.c). The bridge speaks the
zygote's protocol (protocol.def) on FLOE_FD, so the local driver and the
scheduling core above it are the same code for both:

  fork (a socket fd attached) -> a "kernel" of the bridge: a socket floe
        talks to as to a forked kernel; its pid is the bridge's number
        (kpool sends it signals as {"op":"signal"} messages, never kill()).
  run on a kernel's socket    -> one Dask task (dask_worker.run_cell) that
        forks a kernel on a worker, from a zygote kept there per run
        (dask_worker.FloeWorker) and runs the cell; its "done" comes back
        on the socket when the task ends.
  a second run on the same socket (a holder, the monolithic kernel) -> a
        task pinned to the worker that holds that kernel (trace: args.pinned).
  exit / EOF on a kernel's socket -> its remote kernel exits; "exited".
  signal -> delivered to the kernel on its worker (Client.run); SIGKILL
        also cancels the task.
  exit on the zygote socket -> the run's tasks are cancelled, its futures
        released, the plugin unregistered (zygotes, kernels and directories
        on the workers go with it), the client closed.

Artifacts: a task's result holds the files its cell exported, and stays on
its worker. A run request importing a file made by an earlier task takes
that task's future as an input: Dask moves the bytes worker to worker (and
recomputes the producer if its worker was lost). Only the "done" message
(outputs, small values) comes to floe's machine, as an event the task sends
when it ends (a small projection task fetches one too large for an event);
with the cache or --keep-run (FLOE_DASK_FETCH) the files come too,
into floe's run directory, since the cache lives here. Files floe's machine
has and no task made (cache restores) are scattered to the cluster.

Files: a cell's files stay on its worker's file system. The bridge records
which worker last wrote each file; a cell whose attempt used a file made on
another worker that its own does not share runs again there (files from
two workers: copied to one first, read_files), and a later attempt of it
goes there at once; a cell taking a process state whose working directory
a cell made on a worker runs there. The trace's args.pinned_for says why.

A worker that dies mid-cell: Dask runs the task again elsewhere (its
inputs recomputed if they were lost); a task pinned to a dead worker, or
retried past distributed.scheduler.allowed-failures, is reported as a kernel
killed by SIGKILL, and the core decides (a holder gone: its users re-run)."""
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid

from . import proto


def _err(msg):
    sys.stderr.write("floe: %s\n" % msg)
    sys.stderr.flush()


_DEBUG = bool(os.environ.get("FLOE_DEBUG"))


def _dbg(*a):
    if _DEBUG:
        _err("dask: " + " ".join(str(x) for x in a))


def _small(res):
    """The projection floe fetches: a task's result without its files."""
    return {k: v for k, v in res.items() if k != "files"}


def _fetch_files(res):
    return res.get("files", {})


class PseudoKernel:
    def __init__(self, pid, sock):
        self.pid = pid
        self.sock = sock
        self.chan = proto.Channel(sock.fileno())
        self.lock = threading.Lock()   # writes to the socket
        self.worker = None             # where its remote kernel lives, once a task ran
        self.ran = False
        self.future = None             # the task running now
        self.dead = False
        self.closed = False
        self.interrupted = False       # signalled while its cell runs

    def send(self, msg):
        with self.lock:
            if self.closed:
                return
            try:
                self.chan.send(msg)
            except OSError:
                pass


class Bridge:
    def __init__(self, fd):
        self.fd = fd
        self.chan = proto.Channel(fd)
        self.sock = socket.socket(fileno=os.dup(fd))
        self.zlock = threading.Lock()
        self.kernels = {}              # pid -> PseudoKernel
        self.next_pid = 1
        self.owner = {}                # floe path -> the future whose result holds it
        self.scattered = {}            # local path -> scattered result
        self.futures = []              # every future of the run, released at the end
        self.flock = threading.Lock()
        self.run_id = uuid.uuid4().hex[:12]
        self.floe_dir = os.environ.get("FLOE_RUN_DIR", "")
        self.fetch = os.environ.get("FLOE_DASK_FETCH") == "1"
        self.boot = None
        self.stopping = False
        self.where = {}                # file (floe's name) -> (the worker of the last cell that wrote it, the
                                       # file there: [boot, dev, ino] or None, dask_worker.run_cell's fids)
        self.touched = {}              # cell -> the files its attempts used that their worker did not have
        self.missing = {}              # cell -> the files its last attempt looked for and did not find
        self.statepin = {}             # process state (file) whose cwd is a worker's directory -> that worker
        self.dones = {}                # task key -> its result without files, as the worker sent it
        self.dcond = threading.Condition()
        # the benchmark's "before": results fetched by a projection task only
        self.project = os.environ.get("FLOE_BRIDGE_PROJECTION") == "1"

    # --- setup ------------------------------------------------------------------------
    def connect(self):
        from distributed import Client
        from . import dask_worker
        self.dw = dask_worker
        self.boot = dask_worker.boot_id()
        addr = os.environ["FLOE_DASK"]
        sec = None
        ca, cert, key = (os.environ.get("FLOE_DASK_TLS_" + k) for k in ("CA", "CERT", "KEY"))
        if ca or cert or key:
            from distributed.security import Security
            sec = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
        self.client = Client(addr, security=sec, timeout=30, set_as_default=False)
        self.workers = set()
        threading.Thread(target=self.watch, daemon=True).start()   # the heartbeat, from before the plugin
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        plugin = dask_worker.FloeWorker(self.run_id, os.environ.get("FLOE_DASK_PYTHON", sys.executable),
                                        here, os.environ.get("FLOE_PRELOAD", "IPython"),
                                        os.environ.get("FLOE_DASK_CWD"), int(os.environ.get("FLOE_MEM_LIMIT", 0) or 0))
        self.client.register_worker_plugin(plugin, name=dask_worker.plugin_name(self.run_id))
        self.client.subscribe_topic(dask_worker.plugin_name(self.run_id), self._on_need)
        self.client.subscribe_topic(dask_worker.done_topic(self.run_id), self._on_done)
        # hello once the workers' zygotes have imported the preload set: a
        # cell's time (and its timeout) starts when it can run, as locally
        failed = {w: f for w, f in self.client.run(dask_worker.ready, self.run_id).items() if f}
        if failed:
            raise RuntimeError("; ".join("%s: %s" % kv for kv in sorted(failed.items())))
        info = self.client.scheduler_info()
        self.workers = set(info["workers"])
        return sum(w.get("nthreads", 1) for w in info["workers"].values())

    # --- the zygote side ------------------------------------------------------------------
    def send_z(self, msg):
        with self.zlock:
            self.chan.send(msg)

    def on_zygote(self):
        try:
            msg, fds = proto.recv_frame(self.sock, 1)
        except (EOFError, ConnectionError, ValueError):
            self.shutdown()
        op = msg.get("op")
        if op == "fork" and fds:
            pid = self.next_pid
            self.next_pid += 1
            self.kernels[pid] = PseudoKernel(pid, socket.socket(fileno=fds[0]))
            self.send_z({"op": "forked", "pid": pid, "t": time.monotonic_ns() // 1000, "fork_us": 0})
        elif op == "signal":
            self.signal(self.kernels.get(msg.get("pid")), msg.get("sig", signal.SIGKILL))
        elif op == "exit":
            self.shutdown()

    def signal(self, pk, sig):
        if pk is None or pk.dead:
            return
        fut = pk.future
        pk.interrupted = True   # the cell ends as it is: not run again elsewhere for its files
        targets = [pk.worker] if pk.worker else None
        try:
            found = self.client.run(self.dw.signal_kernel, self.run_id, pk.pid, sig, workers=targets)
        except Exception:  # noqa: BLE001 - a worker gone: nothing to signal there
            found = {}
        started = any(v for v in found.values()) if isinstance(found, dict) else False
        if fut is not None and (sig == signal.SIGKILL or not started):
            # a task not running yet (or whose kernel is killed) is called off
            fut.cancel()

    def exited(self, pk, status):
        """pk's remote kernel is gone: floe sees its socket close and the exit status."""
        if pk.closed:
            return
        pk.dead = True
        with pk.lock:
            pk.closed = True
            pk.sock.close()
        self.kernels.pop(pk.pid, None)
        self.send_z({"op": "exited", "pid": pk.pid, "status": status})

    # --- a kernel's socket --------------------------------------------------------------------
    def on_kernel(self, pk):
        try:
            msg = pk.chan.recv()
        except (EOFError, OSError, ValueError):
            msg = {"op": "exit"}
        op = msg.get("op")
        _dbg("kernel", pk.pid, op, msg.get("cell", msg.get("name", "")))
        if op == "run":
            threading.Thread(target=self.run, args=(pk, msg), daemon=True).start()
        elif op == "value":
            self.answer(pk, msg)
        elif op == "exit":
            if pk.worker:
                self._bg(self.dw.release, self.run_id, [pk.pid], workers=[pk.worker])
            self.exited(pk, {"code": 0})

    def inputs(self, req):
        """The futures holding the files req imports (scattered for files no task made)."""
        paths = [i.get("path") for i in req.get("imports") or []]
        # a history reader's Out: the results (_N) of the cells before it
        paths += [a.get("path") for _, a in (req.get("history") or {}).get("out", ()) if isinstance(a, dict)]
        if req.get("rng"):
            paths.append(req["rng"].get("path"))
        out = []
        with self.flock:
            for p in paths:
                if not p:
                    continue
                f = self.owner.get(p)
                if f is None and os.path.exists(p):
                    f = self._scatter(p)
                if f is not None and f not in out:
                    out.append(f)
        return out

    def _scatter(self, path):
        """A file on floe's machine (a cache restore) made available to the workers
        under floe's run directory's name for it."""
        if path in self.scattered:
            return self.scattered[path]
        with open(path, "rb") as f:
            data = f.read()
        base = os.path.basename(path)
        f = self.client.scatter({"files": {"ext-" + base: data}}, hash=False)
        self.scattered[path] = f
        self.futures.append(f)
        return f

    def rewrite_external(self, req):
        """Imports of files outside floe's run directory point at their scattered copy."""
        def fix(obj):
            if isinstance(obj, dict):
                p = obj.get("path")
                if isinstance(p, str) and p in self.scattered:
                    obj = dict(obj, path=os.path.join(self.floe_dir, "ext-" + os.path.basename(p)))
                return {k: fix(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [fix(v) for v in obj]
            return obj
        return fix(req)

    def unseen(self, small, copied=()):
        """The files a cell's attempt used that were made on another worker
        and that its worker does not share (not the same file there: the
        writer's boot, device and inode differ), less those copied to it;
        and with them those it used made on its own worker (where it must
        run is decided over both)."""
        out, own = set(), set()
        fids = small.get("fids") or {}
        for p, fid in fids.items():
            w = self.where.get(p)
            if w is None:
                continue
            if w[0] == small["worker"] or p in copied:
                own.add(p)
            elif fid != w[1]:
                out.add(p)
        return out, own

    def place(self, pk, touched, state_at=None):
        """Where a cell that uses the files `touched` must run: the worker
        where they were last written (the files a cell made stay on its
        worker's file system). Returns (worker or None, {worker: [files to
        copy from it]}, why): a kernel already kept on a worker (a holder)
        runs there, a cell whose process state has a working directory made
        on a worker (state_at) runs there; files last written on two workers
        are copied to the one that wrote most of them."""
        need = {}
        for p in touched or ():
            w = (self.where.get(p) or (None,))[0]
            if w is not None and w in self.workers and p.startswith("/"):  # gone with a worker: lost
                need.setdefault(w, []).append(p)
        if state_at not in self.workers:
            state_at = None
        if not need and not state_at:
            return None, {}, ""
        if pk.ran:
            target = pk.worker
        elif state_at:
            target = state_at
        else:
            target = max(sorted(need), key=lambda w: len(need[w]))
        copies = {w: ps for w, ps in need.items() if w != target}
        names = sorted(os.path.basename(p) for p in need.get(target, []))
        why = "files made there: %s" % ", ".join(names[:4] + (["..."] if len(names) > 4 else [])) if names else ""
        if state_at and target == state_at:
            why = "its working directory is there" + ("; " + why if why else "")
        if copies:
            why += "; copied from %s: %s" % (", ".join(sorted(copies)), ", ".join(
                sorted(os.path.basename(p) for ps in copies.values() for p in ps)[:4]))
        return target, copies, why.lstrip("; ")

    def submit(self, pk, req, ins, pinned, copies):
        """One attempt of a cell: its task (pinned: on that worker only, with
        copies of files from other workers) and its result without files."""
        kw = {"workers": [pinned], "allow_other_workers": False} if pinned else {}
        key = "floe-%s-cell%s-v%s-k%d-%s" % (self.run_id, req.get("cell"), req.get("version"), pk.pid,
                                            uuid.uuid4().hex[:6])
        if pinned and pinned not in self.workers:
            raise _WorkerLost()
        cps = []
        for w, paths in sorted(copies.items()):
            if w not in self.workers:
                continue   # lost with its worker: the cell sees what its own worker has
            f = self.client.submit(self.dw.read_files, self.run_id, paths, key="copy-" + key, pure=False,
                                   workers=[w], allow_other_workers=False)
            self.futures.append(f)
            cps.append(f)
        fut = self.client.submit(self.dw.run_cell, self.run_id, pk.pid, req, self.floe_dir, bool(pk.ran),
                                 *(list(ins) + cps), key=key, pure=False, **kw)
        pk.future = fut
        return fut, self.result(fut, key)

    def _on_done(self, event):
        _, msg = event
        with self.dcond:
            self.dones[msg.get("key")] = msg
            self.dcond.notify_all()

    def result(self, fut, key):
        """A task's result without its files: the event its worker sent when
        the task ended (run_cell), or, for one too large for an event (or
        an event that did not come), a projection task on the worker that
        holds the result. Raises as fut.result() does (cancelled, killed)."""
        finished = None
        while not self.project:
            with self.dcond:
                msg = self.dones.pop(key, None)
                if msg is None:
                    self.dcond.wait(0.05)
                    msg = self.dones.pop(key, None)
            if msg is not None:
                if "small" in msg:
                    return msg["small"]
                break
            st = fut.status
            if st in ("error", "cancelled", "lost"):
                fut.result()   # raises why
            if st == "finished":
                finished = finished or time.monotonic()
                if time.monotonic() - finished > 2.0:
                    break
        return self.client.submit(_small, fut, key="small-" + key, pure=False).result()

    def run(self, pk, req):
        """One cell: a task, its projection, the done message to floe. A cell
        that used files made on another worker than its own runs again on
        that one (the files a cell made stay where it ran); a cell whose
        earlier attempt used such files goes there at once."""
        cell = req.get("cell")
        try:
            ins = self.inputs(req)
            req = self.rewrite_external(req)
            state_at = self.statepin.get((req.get("rng") or {}).get("path"))
            # an earlier attempt used files made on another worker, or looked
            # for files not made yet (run again by the core once they were)
            known = set(self.touched.get(cell, ())) | {
                p for p in self.missing.get(cell, ()) if (self.where.get(p) or (0, None))[1] is not None}
            pinned, copies, why = self.place(pk, known, state_at)
            if pk.ran:
                pinned, why = pk.worker, why or "its kernel is kept there"
            pk.interrupted = False
            for attempt in range(3):
                fut, small = self.submit(pk, req, ins, pinned, copies)
                if small.get("dead") or pk.ran or pk.interrupted:
                    break
                unseen, own = self.unseen(small, {p for ps in copies.values() for p in ps})
                self.missing[cell] = {p for p, fid in (small.get("fids") or {}).items() if fid is None}
                if not unseen:
                    break
                self.touched[cell] = self.touched.get(cell, set()) | unseen | own
                at, cps, w = self.place(pk, self.touched[cell], state_at)
                if not unseen or at is None or (at == small["worker"] and not cps):
                    break
                # it ran where the files it used are not: again, on their worker
                _dbg("cell", cell, "ran on", small["worker"], "again on", at, w)
                self.futures.append(fut)
                self._bg(self.dw.release, self.run_id, [pk.pid], workers=[small["worker"]])
                pinned, copies, why = at, cps, w
            if self.fetch and not small.get("dead"):
                self._fetch(fut)
        except Exception as e:  # noqa: BLE001 - cancelled, killed worker, lost: the kernel died
            if not isinstance(e, (_WorkerLost,)) and type(e).__name__ not in ("CancelledError", "KilledWorker"):
                _err("Dask task for cell %s failed: %s: %s" % (req.get("cell"), type(e).__name__, e))
            pk.future = None
            self.exited(pk, {"signal": signal.SIGKILL})
            return
        pk.future = None
        _dbg("result", pk.pid, req.get("cell"), small.get("worker"), small.get("dead"))
        if small.get("dead"):
            self.exited(pk, small["dead"])
            return
        with self.flock:
            self.futures.append(fut)
            for e in small["done"].get("exports") or []:
                if e.get("path"):
                    self.owner[e["path"]] = fut
            for p in small["done"].get("wfiles") or []:
                self.where[p] = (small["worker"], (small.get("fids") or {}).get(p))
            if small.get("moved_cwd"):
                for e in small["done"].get("exports") or []:
                    if e.get("name") == "__floe_state__" and e.get("path"):
                        self.statepin[e["path"]] = small["worker"]
        pk.worker, pk.ran = small["worker"], True
        done = small["done"]
        self._clock(done, small)
        if pinned:
            for ev in done.get("events") or []:
                ev.setdefault("args", {})["pinned"] = pinned
                ev["args"]["pinned_for"] = why
        for u in small.get("updates") or []:
            pk.send(u)
        pk.send(done)

    def _fetch(self, fut):
        files = self.client.submit(_fetch_files, fut, pure=False).result()
        for base, data in files.items():
            path = os.path.join(self.floe_dir, base)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)

    def _clock(self, done, small):
        """A worker on another machine: its monotonic times moved onto ours
        (as if its clock read `now` when the result arrived)."""
        if small.get("boot") == self.boot or "now" not in small:
            return
        shift = time.monotonic_ns() // 1000 - small["now"]
        for k in ("t_start", "t_compute", "t_end", "t_done"):
            if isinstance(done.get(k), int):
                done[k] += shift
        for ev in done.get("events") or []:
            if isinstance(ev.get("start"), int):
                ev["start"] += shift

    def _bg(self, fn, *args, workers=None):
        """Client.run(fn) on workers, not waited for (a worker gone: nothing to do there)."""
        def go():
            try:
                self.client.run(fn, *args, workers=workers)
            except Exception:  # noqa: BLE001
                pass
        threading.Thread(target=go, daemon=True).start()

    # --- lazy reads -----------------------------------------------------------------------------
    def _on_need(self, event):
        _, msg = event
        _dbg("need", msg)
        pk = self.kernels.get(msg.get("kid"))
        if pk is not None:
            pk.asking = msg.get("worker")
            pk.send({"op": "need", "name": msg.get("name")})

    def answer(self, pk, msg):
        """floe's answer to a lazy read, delivered to the kernel with the key
        of the result holding the artifact's file."""
        art = msg.get("artifact") or {}
        p = art.get("path")
        f = None
        if p:
            with self.flock:
                f = self.owner.get(p)
                if f is None and os.path.exists(p):
                    f = self._scatter(p)
            msg = self.rewrite_external(msg)
        if f is not None:
            msg = dict(msg, key=f.key)
        at = getattr(pk, "asking", None) or pk.worker
        self._bg(self.dw.deliver, self.run_id, pk.pid, msg, workers=[at] if at else None)

    # --- the run's life ---------------------------------------------------------------------------
    def watch(self):
        """Kernels on workers that left the cluster are dead; so are tasks
        pinned there. Every 2 s, a heartbeat tells the workers' plugins the
        run goes on (without it they end themselves: floe was killed)."""
        n = 0
        while not self.stopping:
            if n % 4 == 0:
                self._bg(self.dw.heartbeat, self.run_id)
            n += 1
            time.sleep(0.5)
            try:
                self.workers = set(self.client.scheduler_info()["workers"])
            except Exception:  # noqa: BLE001
                continue
            for pk in list(self.kernels.values()):
                if pk.worker and pk.worker not in self.workers and not pk.dead:
                    if pk.future is not None:
                        pk.future.cancel()   # its run() reports it
                    else:
                        self.exited(pk, {"signal": signal.SIGKILL})

    def serve(self):
        while True:
            fds = [self.fd] + [pk.sock.fileno() for pk in list(self.kernels.values()) if not pk.closed]
            try:
                r, _, _ = select.select(fds, [], [], 1.0)
            except (OSError, ValueError):
                continue   # a socket closed meanwhile
            for fd in r:
                if fd == self.fd:
                    self.on_zygote()
                    continue
                pk = next((k for k in list(self.kernels.values()) if not k.closed and k.sock.fileno() == fd), None)
                if pk is not None:
                    self.on_kernel(pk)

    def shutdown(self):
        """Cancels what still runs, removes the run from the workers (the
        plugin's teardown kills its zygote and kernels: tasks still running
        see their kernel gone and end), releases every future."""
        self.stopping = True
        steps = [
            ("cancel running tasks", lambda: self.client.cancel(
                [pk.future for pk in self.kernels.values() if pk.future is not None], force=True)),
            ("unregister the worker plugin",
             lambda: self.client.unregister_worker_plugin(self.dw.plugin_name(self.run_id))),
            ("release the run's futures", lambda: self.client.cancel(
                self.futures + list(self.scattered.values()), force=True)),
            ("close the client", lambda: self.client.close(timeout=5)),
        ]
        for what, step in steps:
            t0 = time.monotonic()
            try:
                step()
            except Exception as e:  # noqa: BLE001 - the cluster is gone: nothing left to clean
                _err("Dask cleanup, %s: %s: %s" % (what, type(e).__name__, e))
            _dbg("shutdown:", what, "%.3f s" % (time.monotonic() - t0))
        os._exit(0)


class _WorkerLost(Exception):
    pass


def main():
    from .main import language_info
    fd = int(os.environ.get("FLOE_FD", "3"))
    os.set_inheritable(fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is floe's: it signals the kernels
    try:
        import distributed  # noqa: F401
    except ImportError:
        proto.Channel(fd).send({"op": "error", "missing": ["distributed"], "python": sys.executable,
                                "detail": {"distributed": "ModuleNotFoundError"}})
        return 3
    b = Bridge(fd)
    try:
        slots = b.connect()
    except Exception as e:  # noqa: BLE001 - report why, floe then says the zygote exited
        _err("cannot use the Dask cluster %s: %s: %s" % (os.environ.get("FLOE_DASK"), type(e).__name__, e))
        return 3
    import platform
    b.send_z({"op": "hello", "pid": os.getpid(), "language_info": language_info(), "preload_failed": {},
              "python": sys.executable, "version": platform.python_version(), "slots": slots,
              "scheduler": os.environ.get("FLOE_DASK")})
    b.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
