"""The Python side of `floe kernel` (the Jupyter kernel): its requests.

Monolithic back end (jk_mono.c): ONE floe kernel runs every cell in one
namespace, as `floe run --mode monolithic` does; floe's C process speaks the
Jupyter protocol and forwards the requests that need Python here as {"op":
"jupyter", "msg_type", "content", "metadata", "buffers"}. Isolated back end
(jk_iso.c): cells run as `floe run` runs them (kernel.py), and this module
serves completion, inspection, is_complete, history and comms in the scope
kernel (Kernel.scope: the names the finished cells left, imported).

Replies are built the way ipykernel 6 builds them (its own functions are
called where they can be: completion, inspection), so a frontend sees the
same messages:

* outputs go out as they happen, as {"op": "iopub"} messages: stream text
  batched like ipykernel's OutStream (flushed 0.2 s after its first write by
  a thread, or before a display, result or error), display_data with its
  transient display_id, update_display_data, clear_output, execute_result,
  error;
* input() / getpass() send {"op": "input_request"} and wait for
  {"op": "input_reply"} when the request allows stdin, else raise
  StdinNotImplementedError as ipykernel does;
* SIGINT raises KeyboardInterrupt in a running cell and is ignored between
  cells; it never interrupts a half-written frame to floe;
* comms: ipykernel's CommManager with a stand-in Kernel whose session sends
  comm messages to floe, so comm users (ipywidgets...) work as under
  ipykernel.
The request ends with one {"op": "jreply", "content": ...}."""
import base64
import builtins
import getpass
import os
import signal
import sys
import threading
import time
import types

from .shell import FLUSH_INTERVAL

_session = None


def handle(kernel, msg):
    global _session
    if _session is None:
        _session = Session(kernel)
    op = msg.get("op")
    if op == "jupyter":
        _session.request(msg)
    # jupyter_init only builds the session; an input_reply nobody waits for
    # (the input was interrupted) is dropped



def frontend_stdin(send, recv):
    """Makes input() and getpass() ask the frontend as ipykernel's do: an
    {"op": "input_request"} through `send`, then frames from `recv` until
    {"op": "input_reply"} ({"op": "exit"} ends the process). The caller
    saves and restores builtins.input and getpass.getpass around the cell."""
    def raw_input(prompt, password):
        sys.stdout.flush()
        sys.stderr.flush()
        send({"op": "input_request", "content": {"prompt": prompt, "password": password}})
        while True:
            m = recv()
            op = m.get("op")
            if op == "input_reply":
                value = (m.get("content") or {}).get("value", "")
                break
            if op == "exit":
                os._exit(0)
        if value == "\x04":  # ipykernel: ^D is end of input
            raise EOFError("EOF when reading a line")
        return value

    def ask(prompt=""):
        return raw_input(str(prompt), False)

    def ask_password(prompt="Password: ", stream=None):
        return raw_input(str(prompt), True)

    builtins.input = ask
    getpass.getpass = ask_password

class Session:
    def __init__(self, kernel):
        self.kernel = kernel
        self.chan = kernel.chan
        self.cs = kernel.shell          # floe's CellShell
        self.ip = self.cs.shell         # the IPython shell
        self.send_lock = threading.RLock()
        self.pending_int = False
        self.executing = False
        self.allow_stdin = False
        self._patch_shell()
        self._comm_setup()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=self._flusher, name="floe-flush", daemon=True).start()

    # --- sending to floe --------------------------------------------------------
    def send(self, msg):
        """Sends one frame to floe, from any thread; an interrupt that comes
        while the main thread writes is held until the frame is whole."""
        main = threading.current_thread() is threading.main_thread()
        with self.send_lock:
            if main and self.executing:
                signal.signal(signal.SIGINT, self._defer_sigint)
            try:
                self.chan.send(msg)
            finally:
                if main and self.executing:
                    signal.signal(signal.SIGINT, signal.default_int_handler)
        if main and self.pending_int:
            self.pending_int = False
            raise KeyboardInterrupt

    def iopub(self, msg_type, content, buffers=None):
        m = {"op": "iopub", "msg_type": msg_type, "content": content}
        if buffers:
            m["buffers"] = [base64.b64encode(bytes(b)).decode("ascii") for b in buffers]
        self.send(m)

    def _defer_sigint(self, signum, frame):
        self.pending_int = True  # raised once the frame is complete

    def _set_executing(self, on):
        """SIGINT raises KeyboardInterrupt (from C, so the traceback ends in
        the cell, as in ipykernel) while a cell runs; between cells it does
        nothing."""
        self.executing = on
        signal.signal(signal.SIGINT, signal.default_int_handler if on else signal.SIG_IGN)

    # --- outputs, live --------------------------------------------------------------
    def _patch_shell(self):
        """The CellShell's output hooks, sent as iopub messages at once
        instead of collected for a notebook."""
        cs = self.cs
        lock = threading.RLock()  # one lock for both streams and the flusher
        cs.stdout.lock = cs.stderr.lock = lock
        self.stream_lock = lock
        cs._stream_output = lambda name, text: self.iopub("stream", {"name": name, "text": text})
        cs._result = lambda msg: self.iopub("execute_result", {
            "data": msg["data"], "metadata": msg["metadata"], "execution_count": msg.get("execution_count")})
        cs._display = self._display
        cs._clear = lambda wait: self.iopub("clear_output", {"wait": bool(wait)})
        cs._error = self._error
        self.ip.enable_html_pager = False

    def _display(self, data, metadata, transient, update):
        content = {"data": data, "metadata": metadata, "transient": transient or {}}
        self.iopub("update_display_data" if update else "display_data", content)

    def _error(self, etype, evalue, stb):
        self.cs.error = (etype.__name__, str(evalue))
        self.last_traceback = list(stb)  # ipykernel's shell._last_traceback, for the reply
        self.iopub("error", {"ename": str(etype.__name__), "evalue": str(evalue), "traceback": list(stb)})

    def _flusher(self):
        """ipykernel's IOPub thread: a batch of stream text goes out 0.2 s
        after its first write even while the cell keeps running."""
        while True:
            time.sleep(FLUSH_INTERVAL / 4)
            try:
                with self.stream_lock:
                    self.cs._flush_due()
            except Exception:  # noqa: BLE001 - floe has gone; the process ends with it
                return

    # --- requests ---------------------------------------------------------------------
    def request(self, msg):
        t = msg.get("msg_type")
        content = msg.get("content") or {}
        handler = getattr(self, "do_" + t, None)
        try:
            reply = handler(content, msg) if handler else {"status": "error", "ename": "ValueError",
                                                           "evalue": "unknown request %s" % t, "traceback": []}
        except KeyboardInterrupt:
            reply = {"status": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []}
        except Exception as e:  # noqa: BLE001 - a handler failed: an error reply, the kernel goes on
            reply = {"status": "error", "ename": type(e).__name__, "evalue": str(e), "traceback": []}
        self._reply(reply)

    def _reply(self, content):
        while True:
            try:
                self.send({"op": "jreply", "content": content})
                return
            except KeyboardInterrupt:  # an interrupt that arrived while the reply was written
                continue

    def do_execute_request(self, c, msg):
        code = c.get("code", "")
        silent = bool(c.get("silent", False))
        store_history = bool(c.get("store_history", not silent))
        self.allow_stdin = bool(c.get("allow_stdin", False))
        ip = self.ip
        saved = builtins.input, getpass.getpass
        if self.allow_stdin:
            frontend_stdin(self.send, self.chan.recv)
        self.last_traceback = None
        self._set_executing(True)
        try:
            res = self.cs.run_cell(code, None, lambda m: None, silent=silent, store_history=store_history)
        except KeyboardInterrupt:
            res = {"status": "error", "result": None}
            self.cs.error = ("KeyboardInterrupt", "")
        finally:
            self._set_executing(False)
            self.pending_int = False
            builtins.input, getpass.getpass = saved
        r = res.get("result")
        reply = {}
        if r is not None and r.success:
            reply["status"] = "ok"
        else:
            err = (r.error_before_exec or r.error_in_exec) if r is not None else None
            ename, evalue = (type(err).__name__, str(err)) if err is not None else (self.cs.error or ("Error", ""))
            reply.update({"status": "error", "traceback": self.last_traceback or [], "ename": str(ename),
                          "evalue": str(evalue)})
        reply["execution_count"] = ip.execution_count - 1
        if reply["status"] == "ok":
            try:
                reply["user_expressions"] = ip.user_expressions(c.get("user_expressions") or {})
            except KeyboardInterrupt:
                reply["user_expressions"] = {}
        else:
            reply["user_expressions"] = {}
        reply["payload"] = ip.payload_manager.read_payload()
        ip.payload_manager.clear_payload()
        return _clean(reply)

    def _ipk(self):
        """What ipykernel's IPythonKernel methods need of `self`."""
        from ipykernel.ipkernel import IPythonKernel
        ns = types.SimpleNamespace(shell=self.ip, use_experimental_completions=True)
        ns._experimental_do_complete = types.MethodType(IPythonKernel._experimental_do_complete, ns)
        return IPythonKernel, ns

    def do_complete_request(self, c, msg):
        code = c.get("code", "")
        pos = c.get("cursor_pos")
        try:
            cls, ns = self._ipk()
            return _clean(cls.do_complete(ns, code, pos))
        except ImportError:  # no ipykernel: IPython's completer alone
            pos = len(code) if pos is None else pos
            txt, matches = self.ip.complete("", code[:pos].split("\n")[-1], None)
            return {"status": "ok", "matches": matches, "cursor_start": pos - len(txt), "cursor_end": pos,
                    "metadata": {}}

    def do_inspect_request(self, c, msg):
        code = c.get("code", "")
        pos = c.get("cursor_pos", len(code))
        detail = c.get("detail_level", 0)
        omit = c.get("omit_sections", ())
        try:
            cls, ns = self._ipk()
            return _clean(cls.do_inspect(ns, code, pos, detail, omit))
        except ImportError:
            from IPython.utils.tokenutil import token_at_cursor
            try:
                bundle = self.ip.object_inspect_mime(token_at_cursor(code, pos), detail_level=detail)
                bundle.pop("text/html", None)
                return {"status": "ok", "found": True, "data": bundle, "metadata": {}}
            except KeyError:
                return {"status": "ok", "found": False, "data": {}, "metadata": {}}

    def do_is_complete_request(self, c, msg):
        st, indent = self.ip.input_transformer_manager.check_complete(c.get("code", ""))
        r = {"status": st}
        if st == "incomplete":
            r["indent"] = " " * (indent or 0)
        return r

    def do_history_request(self, c, msg):
        """This session's inputs (floe keeps no history database)."""
        import fnmatch
        hm = self.ip.history_manager
        output = bool(c.get("output", False))
        raw = bool(c.get("raw", True))
        kind = c.get("hist_access_type", "tail")
        rows = list(hm.get_range(0, 1, None, raw=raw, output=output))
        if kind == "range":
            start, stop = c.get("start", 0) or 0, c.get("stop")
            rows = [r for r in rows if r[1] >= start and (stop is None or r[1] < stop)]
        elif kind == "search":
            pat = c.get("pattern") or "*"
            rows = [r for r in rows if fnmatch.fnmatch(r[2][0] if output else r[2], pat)]
            if c.get("unique"):
                seen, uniq = set(), []
                for r in reversed(rows):
                    key = r[2][0] if output else r[2]
                    if key not in seen:
                        seen.add(key)
                        uniq.append(r)
                rows = uniq[::-1]
            n = c.get("n")
            rows = rows[-n:] if n else rows
        elif kind == "tail":
            n = c.get("n") or 10
            rows = rows[-n:]
        else:
            rows = []
        return {"status": "ok", "history": [list(r) for r in rows]}

    # --- comms ---------------------------------------------------------------------------
    def _comm_setup(self):
        self.comm_manager = None
        try:
            from ipykernel.comm import CommManager
            from ipykernel.kernelbase import Kernel
            from jupyter_client.session import Session as JSession
        except ImportError:  # no ipykernel: comm messages are acknowledged and dropped
            return
        session = self

        class _Sess(JSession):
            def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None, track=False,
                     header=None, metadata=None):
                session.iopub(msg_or_type, _clean(content or {}), buffers)

        class FloeKernel(Kernel):
            implementation = "floe"

        k = FloeKernel.instance(session=_Sess(), iopub_socket=None)
        k.shell = self.ip
        k.comm_manager = CommManager(kernel=k)
        self.ip.kernel = k
        self.comm_manager = k.comm_manager

    def _comm_msg(self, c, msg):
        bufs = [memoryview(base64.b64decode(b)) for b in (msg.get("buffers") or [])]
        return {"content": c, "metadata": msg.get("metadata") or {}, "buffers": bufs,
                "header": {"msg_type": msg.get("msg_type")}, "parent_header": {}}

    def do_comm_open(self, c, msg):
        if self.comm_manager:
            self.comm_manager.comm_open(None, None, self._comm_msg(c, msg))
        return None

    def do_comm_msg(self, c, msg):
        if self.comm_manager:
            self.comm_manager.comm_msg(None, None, self._comm_msg(c, msg))
        return None

    def do_comm_close(self, c, msg):
        if self.comm_manager:
            self.comm_manager.comm_close(None, None, self._comm_msg(c, msg))
        return None

    def do_comm_info_request(self, c, msg):
        target = c.get("target_name")
        comms = {}
        if self.comm_manager:
            comms = {k: {"target_name": v.target_name} for k, v in self.comm_manager.comms.items()
                     if target is None or v.target_name == target}
        return {"status": "ok", "comms": comms}


def _clean(obj):
    """ipykernel's json_clean where available (bytes, datetimes...)."""
    try:
        from ipykernel.jsonutil import json_clean
        return json_clean(obj)
    except Exception:  # noqa: BLE001 - plain IPython: the channel's own fallback applies
        return obj

