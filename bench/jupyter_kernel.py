"""floe kernel vs ipykernel, driven by jupyter_client: time to a ready
kernel (start_new_kernel: process start to kernel_info_reply), and the
round trip of an execute_request (send -> idle on iopub and execute_reply)
for a trivial cell and for one that prints, median of N.

usage: JUPYTER_PATH=<dir with the floe kernelspec> python3 bench/jupyter_kernel.py [N [KERNEL...]]
(`floe kernel install --prefix DIR` then JUPYTER_PATH=DIR/share/jupyter;
kernels default to python3 and floe, each measured twice, interleaved; e.g.
add floe-mono, installed with --name floe-mono --mode monolithic)."""
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel


def round_trip(kc, code):
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" and \
                m["content"]["execution_state"] == "idle":
            break
    while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass
    return time.perf_counter() - t0


def measure(name, n):
    t0 = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
    start = time.perf_counter() - t0
    for _ in range(5):
        round_trip(kc, "1")
    trivial = [round_trip(kc, "1") for _ in range(n)]
    prints = [round_trip(kc, "print('x' * 80)") for _ in range(n)]
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    return start, statistics.median(trivial) * 1e3, statistics.median(prints) * 1e3


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print("| kernel | start to ready (s) | execute `1` (ms, median of %d) | execute print (ms) |" % n)
    print("| --- | --- | --- | --- |")
    names = sys.argv[2:] or ["python3", "floe"]
    for name in names * 2:
        s, a, b = measure(name, n)
        print("| %s | %.2f | %.2f | %.2f |" % (name, s, a, b))


if __name__ == "__main__":
    main()
