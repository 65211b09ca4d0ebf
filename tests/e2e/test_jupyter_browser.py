"""The floe kernel in a real browser: Debian's classic Notebook server
(python3-notebook) with the floe kernelspec, driven by headless chromium
through puppeteer-core (tests/browser/notebook.cjs): open a notebook, Run
All from the menu, read the rendered outputs, interrupt `while True: pass`
from the Kernel menu. The screenshot is kept in build/browser/.

Needs chromium (apt) and puppeteer-core (npm, in build/browser:
`cd build/browser && npm install puppeteer-core@21`); skipped otherwise."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import nbformat
import pytest

import oracle

FLOE = os.environ.get("FLOE", os.path.join(oracle.ROOT, "build", "floe"))
PY = os.environ.get("FLOE_PYTHON", "/usr/bin/python3")
BROWSER_DIR = os.path.join(oracle.ROOT, "build", "browser")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.skipif(not os.path.exists(CHROMIUM) or not shutil.which("node")
                    or not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")),
                    reason="chromium, node or puppeteer-core (build/browser) missing")
def test_notebook_in_browser(tmp_path):
    prefix = tmp_path / "prefix"
    r = subprocess.run([FLOE, "kernel", "install", "--prefix", str(prefix), "--python", PY],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "floe", "display_name": "Python 3 (floe)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in (
        "print('hello from floe')",
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4, 5, 6]})\ndf",
        "df['a'].sum() * 7",
        "1/0",
    )]
    nbformat.write(nb, str(nbdir / "demo.ipynb"))
    port, token = _free_port(), "floe-test-token"
    env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([PY, "-m", "notebook", "--no-browser", "--allow-root", "--port=%d" % port,
                               "--ip=127.0.0.1", "--NotebookApp.token=" + token,
                               "--notebook-dir=" + str(nbdir)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = "http://127.0.0.1:%d" % port
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(base + "/api?token=" + token, timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        os.makedirs(BROWSER_DIR, exist_ok=True)
        shot = os.path.join(BROWSER_DIR, "notebook.png")
        r = subprocess.run(["node", os.path.join(oracle.ROOT, "tests", "browser", "notebook.cjs"),
                            "%s/notebooks/demo.ipynb?token=%s" % (base, token), shot],
                           capture_output=True, text=True, timeout=240,
                           env=dict(os.environ, NODE_PATH=os.path.join(BROWSER_DIR, "node_modules"),
                                    CHROMIUM=CHROMIUM))
        assert r.returncode == 0, r.stderr[-3000:] + open(tmp_path / "server.log").read()[-3000:]
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["kernel"] == "floe"
        outs = res["outputs"]
        assert outs[0] == ["hello from floe"]
        assert "a" in outs[1][0] and "b" in outs[1][0] and "6" in outs[1][0]  # the rendered HTML table
        assert outs[2] == ["42"]
        assert "ZeroDivisionError" in outs[3][0]
        assert res["prompts"] == [1, 2, 3, 4]
        assert "KeyboardInterrupt" in res["interrupt"]
        assert os.path.getsize(shot) > 10000
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
