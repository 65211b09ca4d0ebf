"""Framed JSON messages between floe (C) and a kernel process.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON. Artifact payloads never travel here, only their file names."""
import json
import os
import signal
import socket
import struct

_HDR = struct.Struct(">I")
MAX_FRAME = 1 << 30


class Channel:
    """A blocking framed channel over a connected socket file descriptor."""

    def __init__(self, fd):
        self.fd = fd
        self.fds = None      # a list: descriptors attached to frames are kept here (recv)
        self.sending = 0     # a frame is half written (a signal handler must not send)
        self.after_send = None  # called once the frame is out, if set meanwhile

    def send(self, msg):
        data = json.dumps(msg, ensure_ascii=False, separators=(",", ":"),
                          default=_json_default).encode("utf-8", "surrogatepass")
        frame = _HDR.pack(len(data)) + data
        view = memoryview(frame)
        self.sending += 1
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        finally:
            self.sending -= 1
        if not self.sending and self.after_send is not None:
            cb, self.after_send = self.after_send, None
            cb()

    def _read_exact(self, n):
        chunks = []
        while n:
            b = os.read(self.fd, min(n, 1 << 20))
            if not b:
                raise EOFError("floe closed the channel")
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def _read_header(self):
        """The frame's first bytes, with the descriptors attached to them
        (SCM_RIGHTS) appended to self.fds: a lineage kernel's fork request."""
        s = socket.socket(fileno=self.fd)
        try:
            hdr, fds, _, _ = socket.recv_fds(s, 4, 4)
        finally:
            s.detach()
        self.fds.extend(fds)
        if not hdr:
            raise EOFError("floe closed the channel")
        return hdr + (self._read_exact(4 - len(hdr)) if len(hdr) < 4 else b"")

    def recv(self):
        (n,) = _HDR.unpack(self._read_header() if self.fds is not None else self._read_exact(4))
        if n > MAX_FRAME:
            raise ValueError("frame too large: %d" % n)
        return json.loads(self._read_exact(n).decode("utf-8", "surrogatepass"))


def _json_default(o):
    # numpy scalars and other odd values in outputs' metadata
    try:
        return o.item()
    except Exception:
        return repr(o)


def recv_frame(sock, maxfds):
    """Reads one frame from a blocking socket, with up to maxfds descriptors
    attached (SCM_RIGHTS): returns (msg, [fds]). EOFError at the end."""
    hdr, fds, _, _ = socket.recv_fds(sock, 4, maxfds)
    if not hdr:
        raise EOFError
    while len(hdr) < 4:
        more = sock.recv(4 - len(hdr))
        if not more:
            raise EOFError
        hdr += more
    (n,) = _HDR.unpack(hdr)
    if n > MAX_FRAME:
        raise ValueError("frame too large: %d" % n)
    body = b""
    while len(body) < n:
        more = sock.recv(n - len(body))
        if not more:
            raise EOFError
        body += more
    return json.loads(body.decode("utf-8", "surrogatepass")), fds


class ChildWatch:
    """A zygote's children, as a descriptor to select on: SIGCHLD wakes
    `fd` (signal.set_wakeup_fd); ended() then yields (pid, wait status) of
    every child that has ended, without blocking."""

    def __init__(self):
        self.fd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wfd)
        signal.signal(signal.SIGCHLD, lambda *a: None)

    def ended(self):
        try:
            os.read(self.fd, 4096)
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            yield pid, status

    def close(self):
        """In a forked child, which watches no one."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.fd)
        os.close(self._wfd)
