"""Kernel selection as Jupyter does it (issue 18): the notebook's
metadata.kernelspec.name (default python3) is found on Jupyter's kernel
search path and its argv[0] runs the cells, with its env; -k overrides the
notebook; --python / FLOE_PYTHON override both; an unknown or non-Python
kernel is refused with exit 2, one line, and the input untouched.

The oracle for "as Jupyter does it" is jupyter_client itself: for the same
environment, `floe kernels` must name the interpreter that
KernelSpecManager().get_kernel_spec(name).argv[0] names."""
import hashlib
import json
import os
import subprocess
import sys

import pytest
from conftest import write_nb

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
PY = os.environ.get("FLOE_PYTHON", "/usr/bin/python3")

SHOW = "import os, sys\nprint(sys.executable, os.environ.get('KS_FOO'), sep='|')"


def clean_env(tmp_path, **extra):
    """No FLOE_PYTHON (the kernelspec decides), an empty user data dir, and
    a PATH whose first python3 is not Jupyter's (a pyenv-like build that
    cannot run kernels)."""
    e = dict(os.environ)
    e.pop("FLOE_PYTHON", None)
    e.pop("JUPYTER_PATH", None)
    e["JUPYTER_DATA_DIR"] = str(tmp_path / "userdata")
    fake = tmp_path / "fakebin"
    fake.mkdir(exist_ok=True)
    (fake / "python3").write_text("#!/bin/sh\necho 'not the kernel python' >&2\nexit 3\n")
    (fake / "python3").chmod(0o755)
    e["PATH"] = "%s:%s" % (fake, e.get("PATH", "/usr/bin:/bin"))
    e.update(extra)
    return e


def add_kernel(root, name, argv0, language="python", env=None):
    d = root / "kernels" / name
    d.mkdir(parents=True)
    spec = {"argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name.title(), "language": language}
    if env:
        spec["env"] = env
    (d / "kernel.json").write_text(json.dumps(spec))
    return d


def notebook(tmp_path, kernel=None):
    p = tmp_path / "nb.ipynb"
    write_nb(p, [SHOW])
    if kernel:
        nb = json.loads(p.read_text())
        nb["metadata"]["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        p.write_text(json.dumps(nb))
    return p


def run(p, *args, env):
    out = p.with_name("out.ipynb")
    r = subprocess.run([FLOE, "run", str(p), "-o", str(out), "-q", "--no-cache", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    shown = None
    if r.returncode == 0:
        cell = json.loads(out.read_text())["cells"][0]
        shown = "".join(cell["outputs"][0]["text"]).strip().split("|")
    return r, shown


def jupyter_client_argv0(name, env):
    code = ("from jupyter_client.kernelspec import KernelSpecManager as K\n"
            "print(K().get_kernel_spec(%r).argv[0])" % name)
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    if r.returncode:
        pytest.skip("jupyter_client not importable: %s" % r.stderr[-200:])
    return r.stdout.strip()


def test_spec_on_jupyter_path_gives_interpreter_and_env(tmp_path):
    # argv[0] is a symlink to the real interpreter: sys.executable shows which path ran
    link = tmp_path / "envpy" / "python3"
    link.parent.mkdir()
    link.symlink_to(PY)
    jp = tmp_path / "jp"
    add_kernel(jp, "myenv", str(link), env={"KS_FOO": "from-spec-${HOME}"})
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    r, shown = run(notebook(tmp_path, "myenv"), env=env)
    assert r.returncode == 0, r.stderr
    assert shown == [str(link), "from-spec-" + env["HOME"]]
    assert jupyter_client_argv0("myenv", env) == str(link)


def test_default_python3_spec_beats_path(tmp_path):
    # no kernelspec in the notebook: python3, found as Jupyter finds it, not PATH's python3
    jp = tmp_path / "jp"
    add_kernel(jp, "python3", PY)
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    r, shown = run(notebook(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    assert shown == [PY, "None"]


@pytest.mark.skipif(not os.path.exists("/usr/share/jupyter/kernels/python3/kernel.json"),
                    reason="no system-wide python3 kernelspec")
def test_system_python3_spec_as_jupyter_client_picks_it(tmp_path):
    # the machine's own kernelspecs: what jupyter_client would start is what floe runs
    env = clean_env(tmp_path)
    want = jupyter_client_argv0("python3", env)
    r, shown = run(notebook(tmp_path, "python3"), env=env)
    assert r.returncode == 0, r.stderr
    assert shown[0] == want
    k = subprocess.run([FLOE, "kernels"], capture_output=True, text=True, env=env, timeout=60)
    assert k.returncode == 0 and "would use: %s" % want in k.stdout


def test_first_on_search_path_wins_and_names_ignore_case(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    add_kernel(a, "Dup", PY, env={"KS_FOO": "first"})
    add_kernel(b, "dup", PY, env={"KS_FOO": "second"})
    env = clean_env(tmp_path, JUPYTER_PATH="%s:%s" % (a, b))
    r, shown = run(notebook(tmp_path, "DUP"), env=env)
    assert r.returncode == 0, r.stderr
    assert shown == [PY, "first"]


def test_k_overrides_metadata(tmp_path):
    jp = tmp_path / "jp"
    add_kernel(jp, "python3", PY)
    add_kernel(jp, "other", PY, env={"KS_FOO": "other"})
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    p = notebook(tmp_path, "python3")
    r, shown = run(p, "-k", "other", env=env)
    assert r.returncode == 0, r.stderr
    assert shown == [PY, "other"]
    r, shown = run(p, "--kernel", "python3", env=env)
    assert shown == [PY, "None"]


def test_python_option_overrides_kernelspec(tmp_path):
    # --python / FLOE_PYTHON: the notebook's kernel is not even looked up
    env = clean_env(tmp_path)
    p = notebook(tmp_path, "no-such-kernel")
    r, shown = run(p, "--python", PY, env=env)
    assert r.returncode == 0, r.stderr
    assert shown[0] == PY
    r, shown = run(p, env=dict(env, FLOE_PYTHON=PY))
    assert r.returncode == 0, r.stderr


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("how", ["metadata", "-k"])
def test_unknown_kernel_refused(tmp_path, how):
    jp = tmp_path / "jp"
    add_kernel(jp, "python3", PY)
    add_kernel(jp, "myenv", PY)
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    p = notebook(tmp_path, "ghost" if how == "metadata" else "python3")
    before = digest(p)
    r, _ = run(p, *(["-k", "ghost"] if how == "-k" else []), env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "'ghost'" in lines[0] and "myenv" in lines[0] and "python3" in lines[0]
    assert digest(p) == before and not p.with_name("out.ipynb").exists()


def test_non_python_kernel_refused(tmp_path):
    jp = tmp_path / "jp"
    add_kernel(jp, "ir", "/usr/bin/R", language="R")
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    p = notebook(tmp_path, "ir")
    before = digest(p)
    r, _ = run(p, env=env)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "'ir'" in r.stderr and "R" in r.stderr
    assert digest(p) == before


def test_kernels_command_lists_and_explains(tmp_path):
    jp = tmp_path / "jp"
    add_kernel(jp, "myenv", PY, env={"KS_FOO": "x"})
    add_kernel(jp, "ir", "/usr/bin/R", language="R")
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    p = notebook(tmp_path, "myenv")
    r = subprocess.run([FLOE, "kernels", str(p)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert str(jp / "kernels") in r.stdout.splitlines()[1]  # JUPYTER_PATH first
    assert "myenv" in r.stdout and "ir " in r.stdout and "not Python" in r.stdout
    assert "would use: %s (the notebook's kernelspec myenv" % PY in r.stdout
    assert "KS_FOO=x" in r.stdout


def test_spec_pythonpath_reaches_cells(tmp_path):
    # a common use of a spec's env: PYTHONPATH to the project's modules (floe adds its own in front)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "projmod.py").write_text("VALUE = 'from the spec path'\n")
    jp = tmp_path / "jp"
    add_kernel(jp, "proj", PY, env={"PYTHONPATH": str(lib)})
    env = clean_env(tmp_path, JUPYTER_PATH=str(jp))
    p = tmp_path / "nb.ipynb"
    write_nb(p, ["import projmod\nprint(projmod.VALUE, end='|')"])
    out = tmp_path / "out.ipynb"
    r = subprocess.run([FLOE, "run", str(p), "-o", str(out), "-q", "--no-cache", "-k", "proj"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["cells"][0]["outputs"][0]["text"] == ["from the spec path|"]
