"""The warm zygote: a zygote that outlives one `floe run` (`--warm`).

Importing the preload set (IPython, numpy, pandas, scipy...) costs 0.6-1.3 s
on every run; after a one-cell edit that is most of a re-run. With --warm,
floe keeps the imported process alive between runs, behind a Unix socket
whose name is a hash of everything that shaped it (interpreter, preload
set, working directory, environment). floe creates and binds the listening
socket itself and passes it as FLOE_WARM_FD, so a client can connect before
the imports are done; the connection waits in the backlog.

A client's first frame is one of

  {"op":"session","run_dir":D,"mem_limit":N} with its stdout and stderr
        attached: the warm process forks a session zygote, which takes
        those descriptors, says hello and then serves the connection exactly
        as a private zygote does (main.Zygote). Kernels die with the session
        zygote, and the session zygote exits when the client's end closes,
        so no kernel outlives its floe -- only this process, which never
        runs user code.
  {"op":"status"}: replies with pid, preload, sessions and idle time.
  {"op":"stop"}: exits.

Before forking a session it checks that no imported module's file changed
since it was imported, and that its working directory (the notebook's) was
not removed or replaced since it started; if so, it replies {"op":"stale"}
and exits, and floe starts a fresh one. It exits after FLOE_WARM_IDLE seconds without a
session, or when FLOE_WARM_MAX (default 4) newer ones are in its directory
(each new one asks the least recently used beyond that number to stop)."""
import os
import select
import signal
import socket
import sys
import time

from . import proto

# A client sends its first frame right after connecting.
FIRST_FRAME_TIMEOUT = 5.0


def _module_files():
    """{file: mtime_ns} of every imported module that has a file."""
    seen = {}
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if isinstance(f, str) and f not in seen:
            try:
                seen[f] = os.stat(f).st_mtime_ns
            except OSError:
                pass
    return seen


def _dir_id(path):
    """(path, device, inode) of a directory, or None."""
    try:
        st = os.stat(path)
        return path, st.st_dev, st.st_ino
    except OSError:
        return None


def _cwd_gone(cwd):
    """The directory this process started in was removed (and perhaps made
    again under the same name): its kernels would run in a deleted
    directory. Returns its path then, else None."""
    if cwd is None:
        return None
    now = _dir_id(cwd[0])
    return None if now == cwd else cwd[0]


def _changed(files):
    for f, mt in files.items():
        try:
            if os.stat(f).st_mtime_ns != mt:
                return f
        except OSError:
            return f
    return None


class Warm:
    def __init__(self, listen_fd, hello, failed_required, serve_session):
        self.lsock = socket.socket(fileno=listen_fd)
        self.lsock.setblocking(True)
        # not for the sessions' kernels (nor the notebooks) to see
        self.path = os.environ.pop("FLOE_WARM_PATH", "")
        self.idle = float(os.environ.pop("FLOE_WARM_IDLE", "600") or 600)
        self.max = int(os.environ.pop("FLOE_WARM_MAX", "4") or 4)
        os.environ.pop("FLOE_WARM_FD", None)
        self.hello = hello
        self.failed_required = failed_required
        self.serve_session = serve_session
        self.sessions = set()
        self.started = time.time()
        self.last = time.monotonic()
        self.files = _module_files()
        self.cwd = _dir_id(os.getcwd())
        try:
            self.ino = os.stat(self.path).st_ino if self.path else None
        except OSError:
            self.ino = None
        self.watch = proto.ChildWatch()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *a: self.exit())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def unlink(self):
        """Removes the socket's name if it is still ours: no new client finds
        this process."""
        try:
            if self.ino is not None and os.stat(self.path).st_ino == self.ino:
                os.unlink(self.path)
                os.unlink(self.path[:-len(".sock")] + ".log")
        except OSError:
            pass
        self.ino = None

    def exit(self):
        self.unlink()
        os._exit(0)

    def _reap(self):
        for pid, _ in self.watch.ended():
            self.sessions.discard(pid)
            self.last = time.monotonic()

    def _evict(self):
        """At most self.max warm zygotes in this directory: beyond them the
        least recently used (their socket's mtime, touched by each session)
        are asked to stop. A running session of one goes on (it is its own
        process); only the idle parent goes."""
        d = os.path.dirname(self.path)
        socks = []
        try:
            names = os.listdir(d)
        except OSError:
            return
        for n in names:
            p = os.path.join(d, n)
            if n.startswith("warm-") and n.endswith(".sock") and p != self.path:
                try:
                    socks.append((os.stat(p).st_mtime_ns, p))
                except OSError:
                    pass
        socks.sort(reverse=True)
        for _, p in socks[max(0, self.max - 1):]:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2.0)
            try:
                s.connect(p)
                proto.Channel(s.fileno()).send({"op": "stop"})
            except OSError:
                pass
            finally:
                s.close()

    def serve(self):
        if self.path:
            self._evict()
        while True:
            timeout = None if self.sessions else max(0.0, self.last + self.idle - time.monotonic())
            r, _, _ = select.select([self.lsock, self.watch.fd], [], [], timeout)
            if self.watch.fd in r:
                self._reap()
            if self.lsock in r:
                try:
                    conn, _ = self.lsock.accept()
                except OSError:
                    continue
                self._client(conn)
            elif not r and not self.sessions:
                self.exit()

    def _client(self, conn):
        conn.settimeout(FIRST_FRAME_TIMEOUT)
        try:
            msg, fds = proto.recv_frame(conn, 2)
        except (EOFError, OSError, ValueError):
            conn.close()
            return
        conn.settimeout(None)
        op = msg.get("op")
        chan = proto.Channel(conn.fileno())
        try:
            if op == "status":
                chan.send({"op": "status", "pid": os.getpid(), "python": sys.executable,
                           "preload": os.environ.get("FLOE_PRELOAD", ""), "cwd": os.getcwd(),
                           "sessions": len(self.sessions), "started": self.started,
                           "idle_s": 0 if self.sessions else time.monotonic() - self.last,
                           "idle_limit_s": self.idle})
            elif op == "stop":
                self.unlink()
                try:
                    chan.send({"op": "stopped", "pid": os.getpid()})
                finally:  # an evicting zygote does not wait for the reply
                    self.exit()
            elif op == "session":
                if self.failed_required:
                    self.unlink()
                    chan.send(self.failed_required)
                    self.exit()
                try:
                    os.utime(self.path)  # used now: the last to be evicted (_evict)
                except OSError:
                    pass
                changed = _changed(self.files) or _cwd_gone(self.cwd)
                if changed:
                    self.unlink()
                    chan.send({"op": "stale", "file": changed})
                    self.exit()
                self._session(conn, msg, fds)
        except OSError:
            pass
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()

    def _session(self, conn, msg, fds):
        pid = os.fork()
        if pid:
            self.sessions.add(pid)
            return
        try:
            self.watch.close()
            self.lsock.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.setpgid(0, 0)
            for target, fd in zip((1, 2), fds):
                os.dup2(fd, target)
                os.close(fd)
            os.environ["FLOE_RUN_DIR"] = msg.get("run_dir") or ""
            limit = int(msg.get("mem_limit") or 0)
            if limit > 0:
                os.environ["FLOE_MEM_LIMIT"] = str(limit)
            else:
                os.environ.pop("FLOE_MEM_LIMIT", None)
            chan = proto.Channel(os.dup(conn.fileno()))
            conn.close()
            chan.send(dict(self.hello, pid=os.getpid()))
            self.serve_session(chan)
        finally:
            os._exit(0)


def main(listen_fd, hello, failed_required, serve_session):
    """Serves sessions until idle; never returns. serve_session(chan) runs
    a session zygote on a connected channel."""
    Warm(listen_fd, hello, failed_required, serve_session).serve()
