"""Jupyter fidelity inside a floe kernel.

CellShell wraps one IPython InteractiveShell configured the way ipykernel
configures its ZMQInteractiveShell, and turns what a cell prints, displays,
returns and raises into the nbformat outputs nbclient would store:

* streams: ipykernel's OutStream buffers writes and flushes a batch 0.2 s
  after its first write, or when a display, result or error is published
  (stdout first, then stderr); nbclient stores one output per message and
  does not merge them. We batch the same way, by time.
* execute_result / display_data / update_display_data / clear_output(wait)
  follow nbclient: a display id updates every output that carries it, in
  this cell and (through the engine) in earlier cells.
* errors: the structured traceback IPython produces, as ipykernel sends it.
* input() raises StdinNotImplementedError, as with nbclient (no stdin).
* matplotlib uses the inline backend (MPLBACKEND as ipykernel sets it), so
  figures arrive as image/png display_data at the end of the cell.
"""
import binascii
import builtins
import os
import re
import sys
import threading
import time

os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

from IPython.core.displayhook import DisplayHook  # noqa: E402
from IPython.core.displaypub import DisplayPublisher  # noqa: E402
from IPython.core.history import HistoryManager  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

FLUSH_INTERVAL = 0.2      # ipykernel's OutStream.flush_interval
OUTPUT_LIMIT = int(os.environ.get("FLOE_OUTPUT_LIMIT", str(10 * 1024 * 1024)))


def _encode(data):
    """ipykernel's encode_images + json_clean for a mime bundle (bytes
    become base64 with binascii's trailing newline, as json_clean writes)."""
    out = {}
    for k, v in (data or {}).items():
        if isinstance(v, (bytes, bytearray)):
            v = binascii.b2a_base64(bytes(v)).decode("ascii")
        out[k] = v
    return out


_START_DIR = os.path.join(os.path.abspath(os.getcwd()), "")


def _importing_library():
    """Whether the running code is the body of a module outside the
    notebook's directory, run by the import system: a process it starts is
    the library's own setup (importing pandas runs `ldconfig -p` through
    ctypes.util.find_library), not a cell's work on files. A module of the
    notebook's directory, or code the import system itself calls, does not
    count."""
    f = sys._getframe(2)
    body = None
    while f is not None:
        name = f.f_code.co_filename
        if name.startswith("<frozen importlib"):
            return body is not None and not os.path.abspath(body).startswith(_START_DIR)
        if f.f_code.co_name == "<module>" and body is None:
            body = name
        f = f.f_back
    return False


# Programs libraries run to ask about the machine, which write no file:
# name -> an argument that must be there (ctypes.util.find_library runs
# `ldconfig -p`, threadpoolctl through it at scikit-learn's first fit; plain
# `ldconfig` rebuilds its cache), or None.
_QUERIES = {"ldconfig": "-p", "lscpu": None, "nproc": None, "uname": None, "getconf": None}


def _query_program(event, args):
    """Whether a child process is such a query: its files need no ordering
    (pdsh 05.11: every k-means cell started `ldconfig -p`, so cells beside
    each other were re-run in notebook order as if they had raced on files)."""
    try:
        argv = args[1] if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn") else None
        if isinstance(argv, (str, bytes)):
            argv = argv.split()
        argv = [os.fsdecode(a) for a in argv] if argv else []
    except Exception:  # noqa: BLE001 - an odd argv: count it
        return False
    if not argv:
        return False
    need = _QUERIES.get(os.path.basename(argv[0]), False)
    return need is None or (need is not False and need in argv[1:])


class Cell:
    """The outputs of the cell being run, kept as nbclient keeps them."""

    def __init__(self, emit):
        self.emit = emit
        self.outputs = []
        self.display_ids = {}
        self.clear_pending = False
        self.stream_bytes = 0
        self.truncated = False

    def add(self, out, display_id=None):
        if self.clear_pending:
            self.outputs[:] = []
            self.display_ids = {k: [] for k in self.display_ids}
            self.clear_pending = False
        if display_id:
            self.display_ids.setdefault(display_id, []).append(len(self.outputs))
        self.outputs.append(out)

    def update(self, display_id, data, metadata):
        for i in self.display_ids.get(display_id, ()):
            self.outputs[i]["data"] = data
            self.outputs[i]["metadata"] = metadata
        # earlier cells (another kernel's outputs) are the engine's to update
        self.emit({"op": "update_display", "display_id": display_id, "data": data, "metadata": metadata})

    def clear(self, wait):
        if wait:
            self.clear_pending = True
        else:
            self.outputs[:] = []
            self.display_ids = {k: [] for k in self.display_ids}


class OutStream:
    """sys.stdout / sys.stderr of a kernel: batches like ipykernel."""

    encoding = "UTF-8"
    errors = "strict"

    def __init__(self, name, shell):
        self.name = name
        self.shell = shell
        self.buf = []
        self.started = None
        self.lock = threading.RLock()
        self._closed = False

    # the file-like surface code expects
    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    @property
    def closed(self):
        return self._closed

    def close(self):
        """A cell may close sys.stdout: what it wrote so far is kept, later
        writes in that cell fail as on a closed file, and the next cell
        gets an open stream again (Jupyter's kernel hangs instead)."""
        self.flush()
        self._closed = True

    def reopen(self):
        self._closed = False

    def fileno(self):
        return 1 if self.name == "stdout" else 2

    def write(self, s):
        if self._closed:
            raise ValueError("I/O operation on closed file.")
        if self.shell.fd_dirty:  # a child may have written: its text goes first
            for cap in self.shell.fdcap:
                cap.drain(flush_c=False)
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        with self.lock:
            now = time.monotonic()
            if self.buf and now - self.started >= FLUSH_INTERVAL:
                self.shell._flush_streams(until=self.started + FLUSH_INTERVAL)
            if not self.buf:
                self.started = now
            self.buf.append(s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        for cap in self.shell.fdcap:  # what subprocesses wrote comes first
            cap.drain()
        with self.lock:
            self.shell._flush_due()
            self._publish()

    def append(self, s):
        """Adds text without publishing (from the fd reader thread: only
        the cell's own thread sends messages)."""
        with self.lock:
            if not self.buf:
                self.started = time.monotonic()
            self.buf.append(s)

    def _publish(self):
        if not self.buf:
            return
        text = "".join(self.buf)
        self.buf = []
        self.started = None
        if not text:  # ipykernel sends no stream message for nothing (`!rm f`)
            return
        self.shell._stream_output(self.name, text)


BUFFER_LIMIT = 8 << 20


class FdCapture:
    """The kernel process's fd 1 and 2 lead to pipes read here, so what
    subprocesses, os.system, os.write(1, ...) and C code write reaches the
    cell's stream outputs, as ipykernel's fd capture does (and not floe's
    terminal). A reader thread moves bytes into the stream's buffer; at
    the end of a cell, drain() takes what is left (after flushing C stdio),
    so everything the cell wrote is in that cell's outputs."""

    def __init__(self, fdno, stream):
        import codecs
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.lock = threading.Lock()
        r, w = os.pipe()
        os.dup2(w, fdno)
        os.close(w)
        os.set_blocking(r, False)
        self.r = r
        try:
            import ctypes
            self.libc = ctypes.CDLL(None)
        except Exception:  # noqa: BLE001 - no libc stdio to flush
            self.libc = None
        threading.Thread(target=self._run, name="floe-fd%d" % fdno, daemon=True).start()

    def _read(self):
        """Moves what the pipe holds now into the stream; False at EOF."""
        with self.lock:
            while True:
                try:
                    b = os.read(self.r, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not b:
                    return False
                text = self.decoder.decode(b)
                if text:
                    self.stream.append(text)

    def _run(self):
        import select
        while True:
            # backpressure: while the cell's thread has not published what
            # is buffered, stop reading, so a child writing without end
            # blocks on its pipe instead of filling this process's memory
            if sum(len(x) for x in self.stream.buf) > BUFFER_LIMIT:
                time.sleep(0.05)
                continue
            try:
                select.select([self.r], [], [])
            except (OSError, ValueError):
                return
            if not self._read():
                return

    def drain(self, flush_c=True):
        if flush_c and self.libc is not None:
            self.libc.fflush(None)
        self._read()


class _DisplayHook(DisplayHook):
    """execute_result, as ipykernel's ZMQShellDisplayHook sends it."""

    def start_displayhook(self):
        self.msg = {"data": {}, "metadata": {}}

    def write_output_prompt(self):
        self.msg["execution_count"] = self.prompt_count

    def write_format_data(self, format_dict, md_dict=None):
        self.msg["data"] = _encode(format_dict)
        self.msg["metadata"] = md_dict or {}

    def finish_displayhook(self):
        sys.stdout.flush()
        sys.stderr.flush()
        if self.msg["data"]:
            self.shell.floe._result(self.msg)
        self.msg = None


class _DisplayPublisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        sys.stdout.flush()
        sys.stderr.flush()
        self.shell.floe._display(_encode(data), metadata or {}, transient or {}, update)

    def clear_output(self, wait=False):
        sys.stdout.flush()
        sys.stderr.flush()
        self.shell.floe._clear(wait)


class _Session:
    """The `session` of ipykernel's kernel object, as far as libraries use
    it: `send(kernel.iopub_socket, msg_type, content, parent=...)` publishes
    an output. nbclient keeps only messages whose parent is the cell's
    request, so a message sent without a parent is dropped here too."""

    username = "username"

    def __init__(self, cellshell):
        self._cellshell = cellshell
        self.session = "floe"
        self._n = 0

    def msg(self, msg_type, content=None, parent=None, header=None, metadata=None):
        self._n += 1
        hdr = dict(header or {"msg_id": "floe_%d" % self._n, "msg_type": msg_type, "username": self.username,
                              "session": self.session, "version": "5.3"})
        return {"header": hdr, "msg_id": hdr.get("msg_id"), "msg_type": msg_type,
                "parent_header": dict((parent or {}).get("header", parent or {})),
                "content": content if content is not None else {}, "metadata": metadata or {}}

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None, track=False,
             header=None, metadata=None):
        if isinstance(msg_or_type, dict):
            msg = msg_or_type
        else:
            msg = self.msg(msg_or_type, content, parent, header, metadata)
        if stream is self._cellshell.kernel.iopub_socket and msg.get("parent_header"):
            self._cellshell._iopub(msg.get("msg_type") or msg["header"].get("msg_type"), msg.get("content") or {})
        return msg


class _CommManager:
    """kernel.comm_manager: comms can be registered; no frontend ever opens
    one (a headless nbclient run has none either)."""

    def __init__(self):
        self.comms = {}
        self.targets = {}

    def register_target(self, target_name, f):
        self.targets[target_name] = f

    def unregister_target(self, target_name, f=None):
        return self.targets.pop(target_name, None)

    def register_comm(self, comm):
        self.comms[comm.comm_id] = comm
        return comm.comm_id

    def unregister_comm(self, comm):
        return self.comms.pop(comm.comm_id, None)

    def get_comm(self, comm_id):
        return self.comms.get(comm_id)


class _IOPubSocket:
    """A token: messages sent to it are outputs of the running cell."""


class _Kernel:
    """get_ipython().kernel as libraries see it under Jupyter: session,
    iopub_socket, comm_manager, get_parent()."""

    def __init__(self, cellshell):
        self.iopub_socket = _IOPubSocket()
        self.session = _Session(cellshell)
        self.comm_manager = _CommManager()
        self.shell = cellshell.shell

    def get_parent(self, channel="shell"):
        return {"header": {"msg_id": "floe-execute", "msg_type": "execute_request", "session": "floe",
                           "username": "username", "version": "5.3"},
                "parent_header": {}, "content": {}, "metadata": {}}

    @property
    def _parent_header(self):
        return self.get_parent()


class ZMQInteractiveShell(InteractiveShell):
    """floe's shell. Named as ipykernel's and with a `kernel` attribute
    (a stand-in for ipykernel's kernel object: _Kernel) because libraries tell a
    Jupyter frontend from a terminal that way: pandas shows at most 20
    columns and wraps wide frames only when `hasattr(ip, "kernel")` and
    "zmq" is in the shell's type name; tqdm and others compare the class
    name with "ZMQInteractiveShell"."""

    kernel = None
    displayhook_class = _DisplayHook
    display_pub_class = _DisplayPublisher

    def _showtraceback(self, etype, evalue, stb):
        sys.stdout.flush()
        sys.stderr.flush()
        self.floe._error(etype, evalue, stb)

    def enable_gui(self, gui=None):  # no event loops in a batch kernel
        pass


_UNDEFINED = re.compile(r"(?:name|local variable) '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


def missing_names(exc):
    """The names an exception says are not defined: NameError and its
    subclasses (pandas' UndefinedVariableError), and wrappers that carry
    one as their cause or in their message (patsy's PatsyError), anywhere
    in the chain. floe re-runs the cell with those names imported."""
    out, seen, todo = [], set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen or len(seen) > 50:
            continue
        seen.add(id(e))
        names = []
        if isinstance(e, NameError):
            names.append(getattr(e, "name", None))
        try:
            text = str(e) if isinstance(e, NameError) or "NameError" in str(e) else ""
        except Exception:  # noqa: BLE001 - a __str__ that fails
            text = ""
        names += _UNDEFINED.findall(text)
        out += [n for n in names if n and n not in out]
        todo += [getattr(e, "__cause__", None), getattr(e, "__context__", None)]
    return out


def _no_stdin(prompt=""):
    from IPython.core.error import StdinNotImplementedError
    raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")


class CellShell:
    def __init__(self):
        HistoryManager.enabled = False
        kw = {}
        try:  # ipykernel's compiler names cells as it does (SyntaxError messages)
            from ipykernel.compiler import XCachingCompiler
            kw["compiler_class"] = XCachingCompiler
        except Exception:  # noqa: BLE001 - plain IPython without ipykernel
            pass
        self.shell = ZMQInteractiveShell.instance(**kw)
        self.shell.floe = self
        # the magics an ipykernel kernel has on top of IPython's (%autosave,
        # %clear, %connect_info, %less, %more, %man, %qtconsole, %edit) and
        # the storemagic extension it loads (%store), so %lsmagic and the
        # namespace of magics are Jupyter's
        try:
            from ipykernel.zmqshell import KernelMagics
            self.shell.register_magics(KernelMagics)
        except Exception:  # noqa: BLE001 - plain IPython without ipykernel
            pass
        try:
            self.shell.extension_manager.load_extension("storemagic")
        except Exception:  # noqa: BLE001 - best effort, as in IPython
            pass
        self.shell.history_manager.enabled = False
        # nbclient starts kernels with --HistoryManager.hist_file=:memory:
        try:
            self.shell.history_manager.hist_file = ":memory:"
        except Exception:  # noqa: BLE001 - an IPython whose trait refuses it
            pass
        self.kernel = self.shell.kernel = _Kernel(self)
        self.compile = self.shell.compile
        self.cell = None
        self.stdout = OutStream("stdout", self)
        self.stderr = OutStream("stderr", self)
        self.fdcap = ()
        self.fd_dirty = False
        self.child_started = False
        self.error = None
        self.missing = []
        # a kernel process has no stdin: input() fails as under nbclient
        builtins.input = _no_stdin

    @property
    def user_ns(self):
        return self.shell.user_ns

    def capture_fds(self):
        """In a kernel (not the zygote: kernels must not share the pipes)."""
        if not self.fdcap:
            try:
                self.fdcap = (FdCapture(1, self.stdout), FdCapture(2, self.stderr))
            except OSError:
                self.fdcap = ()
                return
            sys.addaudithook(self._child_started)

    _CHILD_EVENTS = frozenset(("subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork",
                               "os.forkpty", "pty.spawn"))

    def _child_started(self, event, args):
        """Once a cell starts a process, what it writes to fd 1/2 is read
        before each print, so the two interleave as they happened; and the
        cell used files no audit hook sees (kernel.py: not cached, a file
        user) unless a library started it while being imported, or it is a
        query that writes nothing (_query_program)."""
        if event in self._CHILD_EVENTS:
            self.fd_dirty = True
            if not _importing_library() and not _query_program(event, args):
                self.child_started = True

    def forget_history(self):
        """Back to a fresh shell's input/output history after a warm-up
        cell, so the notebook's first cell is In[1] and _ is empty."""
        hm = self.shell.history_manager
        hm.input_hist_parsed[:] = [""]
        hm.input_hist_raw[:] = [""]
        hm.output_hist.clear()
        hm.output_hist_reprs.clear()
        hm._i00 = hm._i = hm._ii = hm._iii = ""
        dh = self.shell.displayhook
        for k in ("_", "__", "___"):
            setattr(dh, k, "")
        ns = self.shell.user_ns
        ns.update({"_": "", "__": "", "___": "", "_i": "", "_ii": "", "_iii": ""})
        for k in [k for k in ns if k[:1] == "_" and (k[1:].isdigit() or (k[1:2] == "i" and k[2:].isdigit()))]:
            del ns[k]

    def transform_source(self, code):
        return self.shell.transform_cell(code)

    # --- what the hooks report --------------------------------------------------
    def _flush_streams(self, until=None):
        """Publishes pending stream batches in the order ipykernel would:
        by their flush deadline (until given) or stdout before stderr."""
        pending = [s for s in (self.stdout, self.stderr) if s.buf]
        if until is not None:
            pending = [s for s in pending if s.started + FLUSH_INTERVAL <= until + 1e-9]
            pending.sort(key=lambda s: s.started)
        for s in pending:
            s._publish()

    def _flush_due(self):
        """Publishes the batches whose timer would already have fired."""
        now = time.monotonic()
        self._flush_streams(until=now - FLUSH_INTERVAL + FLUSH_INTERVAL)

    def _stream_output(self, name, text):
        cell = self.cell
        if cell is None:
            return
        if cell.truncated:
            return
        if cell.stream_bytes + len(text) > OUTPUT_LIMIT:
            keep = max(0, OUTPUT_LIMIT - cell.stream_bytes)
            text = text[:keep] + "\n[floe: output truncated at %d bytes; set FLOE_OUTPUT_LIMIT to keep more]\n" % \
                OUTPUT_LIMIT
            cell.truncated = True
        cell.stream_bytes += len(text)
        cell.add({"output_type": "stream", "name": name, "text": text})

    def _result(self, msg):
        if self.cell is None:
            return
        out = {"output_type": "execute_result", "data": msg["data"], "metadata": msg["metadata"],
               "execution_count": msg.get("execution_count")}
        self.cell.add(out)

    def _display(self, data, metadata, transient, update):
        cell = self.cell
        if cell is None:
            return
        display_id = transient.get("display_id")
        if display_id:
            cell.update(display_id, data, metadata)
        if update:
            return
        cell.add({"output_type": "display_data", "data": data, "metadata": metadata}, display_id)

    def _iopub(self, msg_type, content):
        """A message a library sent through kernel.session (see _Session)."""
        sys.stdout.flush()
        sys.stderr.flush()
        if msg_type in ("display_data", "update_display_data"):
            self._display(_encode(content.get("data")), content.get("metadata") or {},
                          content.get("transient") or {}, msg_type == "update_display_data")
        elif msg_type == "execute_result":
            self._result({"data": _encode(content.get("data")), "metadata": content.get("metadata") or {},
                          "execution_count": content.get("execution_count")})
        elif msg_type == "stream" and content.get("text"):
            self._stream_output(content.get("name", "stdout"), content["text"])
        elif msg_type == "clear_output":
            self._clear(bool(content.get("wait")))

    def _clear(self, wait):
        if self.cell is not None:
            self.cell.clear(wait)

    def _error(self, etype, evalue, stb):
        self.error = (etype.__name__, str(evalue))
        if isinstance(evalue, BaseException):  # a formatter's error counts too
            self.missing += [n for n in missing_names(evalue) if n not in self.missing]
        if self.cell is not None:
            self.cell.add({"output_type": "error", "ename": str(etype.__name__), "evalue": str(evalue),
                           "traceback": list(stb)})

    def discard_pending(self):
        """Drops what reached the streams outside a cell: floe's own work
        between cells (an export's warning, an import's) or a thread
        writing while no cell runs. nbclient keeps a cell's outputs until
        the kernel is idle and drops later ones; a kernel that goes on with
        another cell (a holder, a lineage kernel) must not show them there."""
        for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if f is not None and f not in (self.stdout, self.stderr):
                try:
                    f.flush()  # into the captured fds
                except (OSError, ValueError):
                    pass
        for cap in self.fdcap:
            cap.drain()
        for s in (self.stdout, self.stderr):
            with s.lock:
                s.buf = []
                s.started = None

    # --- running --------------------------------------------------------------------
    def run_cell(self, code, execution_count, emit, silent=False, store_history=True):
        """Runs one cell. execution_count None: IPython's own numbering (the
        Jupyter kernel, jupyter.py); silent and store_history as ipykernel."""
        cell = self.cell = Cell(emit)
        self.error = None
        self.missing = []
        self.stdout.reopen()
        self.stderr.reopen()
        self.fd_dirty = False
        self.child_started = False
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            if execution_count is not None:
                self.shell.execution_count = execution_count
            try:
                res = self.shell.run_cell(code, store_history=store_history, silent=silent)
            except Exception:  # noqa: BLE001 - IPython itself failed (e.g. NUL bytes in the source)
                self.shell.showtraceback()
                res = None
        finally:
            self.stdout.flush()
            self.stderr.flush()
            sys.stdout, sys.stderr = saved
            self.cell = None
        # The cell failed as Jupyter sees it: its code raised (or IPython
        # could not run it). A traceback shown by a failing _repr_*_
        # formatter is an error output, but the cell succeeds and the run
        # goes on, as ipykernel replies "ok".
        ok = res is not None and res.success
        ename, evalue = self.error if self.error and not ok else (None, None)
        return {"status": "ok" if ok else "error", "outputs": cell.outputs,
                "display_ids": {k: v for k, v in cell.display_ids.items() if v},
                "ename": ename, "evalue": evalue, "missing": self.missing, "result": res}
