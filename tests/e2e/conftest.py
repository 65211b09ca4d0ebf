"""Shared by every e2e test: the zero-orphans check (issue 9). Each test
runs with a FLOE_TEST_TAG in its environment, inherited by floe, the zygote
and every kernel; after the test no tagged kernel may be alive and no run
directory of a finished floe may be left in /dev/shm."""
import json
import os
import sys
import time

import pytest

# floe keeps its zygote warm by default outside CI (issue 18). Tests run with
# a private zygote per run, whether or not CI is set, so that they behave the
# same locally and in CI and leave no process behind; the tests of warm
# zygotes and of the default itself set FLOE_WARM / CI themselves.
os.environ["FLOE_WARM"] = "0"


def kernel_pids(tag=None):
    """Kernel processes; with tag, only those started under this test (the
    tag is in their environment), so concurrent runs elsewhere don't count."""
    pids = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if b"floe_kernel.main" not in f.read():
                    continue
            if tag:
                with open("/proc/%s/environ" % p, "rb") as f:
                    if ("FLOE_TEST_TAG=%s" % tag).encode() not in f.read().split(b"\0"):
                        continue
            pids.add(int(p))
        except OSError:
            pass
    return pids


def _dead_run_dirs(names):
    """floe-<pid>-<n> run directories whose floe is gone (a live pid is
    another, concurrent run)."""
    dead = []
    for f in names:
        parts = f.split("-")
        if len(parts) == 3 and parts[0] == "floe" and parts[1].isdigit():
            try:
                os.kill(int(parts[1]), 0)
            except ProcessLookupError:
                dead.append(f)
            except PermissionError:
                pass
    return dead


@pytest.fixture(autouse=True)
def no_leftovers():
    tag = "%d-%d" % (os.getpid(), time.monotonic_ns())
    os.environ["FLOE_TEST_TAG"] = tag
    before_shm = set(os.listdir("/dev/shm"))
    yield
    deadline = time.time() + 5
    while time.time() < deadline and kernel_pids(tag):
        time.sleep(0.05)
    os.environ.pop("FLOE_TEST_TAG", None)
    assert not kernel_pids(tag), "kernel processes outlived the run"
    left = _dead_run_dirs(set(os.listdir("/dev/shm")) - before_shm)
    assert not left, "shared-memory files outlived the run: %s" % left


def write_nb(path, cells):
    """An nbformat 4 notebook of code cells with these sources, at path."""
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c%d" % i, "metadata": {},
                     "outputs": [], "source": s} for i, s in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture
def python_without_ipython(tmp_path):
    """An interpreter that cannot import IPython (no site-packages)."""
    fake = tmp_path / "py"
    fake.mkdir()
    exe = fake / "python3"
    exe.write_text("#!/bin/sh\nexec %s -S \"$@\"\n" % sys.executable)
    exe.chmod(0o755)
    return exe
