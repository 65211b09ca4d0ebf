"""valgrind-smoke.sh's `floe kernel` part: a kernelspec whose argv runs
floe under valgrind, a short session through jupyter_client (execute,
error, complete, input, interrupt by message, a bad signature, comms),
shutdown; exits with the kernel process's status (valgrind's
--error-exitcode). usage: valgrind-kernel.py JUPYTER_DIR FLOE [MODE]
(MODE: isolated, the default, or monolithic; in the isolated mode the
session also queues cells that run at once and aborts them)."""
import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

d, floe = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "isolated"
kdir = os.path.join(d, "kernels", "floe-vg")
os.makedirs(kdir, exist_ok=True)
with open(os.path.join(kdir, "kernel.json"), "w") as f:
    json.dump({"argv": ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=9",
                        "-q", floe, "kernel", "-f", "{connection_file}", "--mode", mode],
               "display_name": "floe under valgrind", "language": "python"}, f)
os.environ["JUPYTER_PATH"] = d
km, kc = start_new_kernel(kernel_name="floe-vg", startup_timeout=120)


def reply(msg_id, get=kc.get_shell_msg):
    while True:
        m = get(timeout=60)
        if m["parent_header"].get("msg_id") == msg_id:
            return m["content"]


print("started", flush=True)
assert reply(kc.execute("x = 41\nprint(x + 1)"))["status"] == "ok"
assert reply(kc.execute("1/0"))["status"] == "error"
assert "x" in reply(kc.complete("x", 1))["matches"]
mid = kc.execute("v = input('? ')", allow_stdin=True)
kc.get_stdin_msg(timeout=60)
kc.input("y")
assert reply(mid)["status"] == "ok"
go = os.path.join(d, "loop-started")
mid = kc.execute("open(%r, 'w').close()\nwhile True: pass" % go)
deadline = time.time() + 120
while not os.path.exists(go) and time.time() < deadline:  # interrupt once the loop runs, not before
    time.sleep(0.05)  # (floe under valgrind is slow; an isolated cell's outputs come only at its end)
time.sleep(0.2)
kc.control_channel.send(kc.session.msg("interrupt_request", {}))
r = reply(mid)
assert r.get("ename") == "KeyboardInterrupt", r
# an error aborts the execute requests received before its idle (stop_on_error,
# as ipykernel); wait for idle so that the next one is not among them
while True:
    io = kc.get_iopub_msg(timeout=60)
    if io["parent_header"].get("msg_id") == mid and io["msg_type"] == "status" \
            and io["content"]["execution_state"] == "idle":
        break
import zmq  # noqa: E402
s = zmq.Context.instance().socket(zmq.DEALER)
s.linger = 0
s.connect("tcp://%s:%d" % (km.ip, km.shell_port))
Session(key=b"wrong").send(s, "execute_request", {"code": "1", "silent": False})
s.send_multipart([b"garbage"])
s.close()
r = reply(kc.execute("x"))
assert r["status"] == "ok", r
if mode == "isolated":
    # queued at once; a failure aborts (withdraws) the ones behind it; a comm_open nobody serves
    ids = [kc.execute("import time; time.sleep(0.5); q%d = %d" % (i, i)) for i in range(3)]
    assert [reply(i)["status"] for i in ids] == ["ok"] * 3
    ids = [kc.execute("import time; time.sleep(0.5); 1/0"), kc.execute("never = 1")]
    assert [reply(i)["status"] for i in ids] == ["error", "aborted"]
    assert reply(kc.execute("%floe deps"))["status"] == "ok"
    assert reply(kc.inspect("q1", 2))["status"] == "ok"
    m = kc.session.msg("comm_open", {"comm_id": "w", "target_name": "jupyter.widget", "data": {}})
    kc.shell_channel.send(m)
    while True:
        io = kc.get_iopub_msg(timeout=60)
        if io["msg_type"] == "comm_close" and io["parent_header"].get("msg_id") == m["header"]["msg_id"]:
            break
else:  # comms with binary buffers, both ways (a target a cell registers serves later requests)
    assert reply(kc.execute(
        "def t(comm, msg):\n"
        "    comm.on_msg(lambda m: comm.send({'n': len(m['buffers'])}, buffers=[bytes(b)[::-1] for b in m['buffers']]))\n"
        "get_ipython().kernel.comm_manager.register_target('vg', t)"))["status"] == "ok"
    kc.shell_channel.send(kc.session.msg("comm_open", {"comm_id": "c", "target_name": "vg", "data": {}}))
    m = kc.session.msg("comm_msg", {"comm_id": "c", "data": {}})
    kc.session.send(kc.shell_channel.socket, m, buffers=[b"abc", b""])
    while True:
        io = kc.get_iopub_msg(timeout=60)
        if io["msg_type"] == "comm_msg" and io["parent_header"].get("msg_id") == m["header"]["msg_id"]:
            assert [bytes(b) for b in io["buffers"]] == [b"cba", b""], io["buffers"]
            break
kc.shutdown()
proc = km.provisioner.process
rc = proc.wait(timeout=60)
kc.stop_channels()
km.cleanup_resources()
sys.stdout.flush()
os._exit(rc)  # skip jupyter_client's noisy finalizers at exit
