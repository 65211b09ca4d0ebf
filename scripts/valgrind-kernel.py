"""valgrind-smoke.sh's `floe kernel` part: a kernelspec whose argv runs
floe under valgrind, a short session through jupyter_client (execute,
error, complete, input, interrupt by message, a bad signature), shutdown;
exits with the kernel process's status (valgrind's --error-exitcode)."""
import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

d, floe = sys.argv[1], sys.argv[2]
kdir = os.path.join(d, "kernels", "floe-vg")
os.makedirs(kdir, exist_ok=True)
with open(os.path.join(kdir, "kernel.json"), "w") as f:
    json.dump({"argv": ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=9",
                        "-q", floe, "kernel", "-f", "{connection_file}"],
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
mid = kc.execute("while True: pass")
time.sleep(1)
kc.control_channel.send(kc.session.msg("interrupt_request", {}))
assert reply(mid)["ename"] == "KeyboardInterrupt"
import zmq  # noqa: E402
s = zmq.Context.instance().socket(zmq.DEALER)
s.linger = 0
s.connect("tcp://%s:%d" % (km.ip, km.shell_port))
Session(key=b"wrong").send(s, "execute_request", {"code": "1", "silent": False})
s.send_multipart([b"garbage"])
s.close()
assert reply(kc.execute("x"))["status"] == "ok"
kc.shutdown()
proc = km.provisioner.process
rc = proc.wait(timeout=60)
kc.stop_channels()
km.cleanup_resources()
sys.exit(rc)
