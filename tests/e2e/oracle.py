"""The oracle: what Jupyter (nbclient + ipykernel) writes for a notebook, and
the normalisation under which floe must match it exactly.

Executed notebooks are cached under build/oracle/<sha256 of the notebook
and the flags>.ipynb, so a rerun of the suite does not start Jupyter again.

Normalisation removes only what is legitimately different between two runs
of the same notebook: memory addresses (0x7f...), timings printed by %time,
the pid in ipykernel's per-cell file name (/tmp/ipykernel_<pid>/<hash>.py,
named by warnings), ANSI colour codes in tracebacks, and the split of a
cell's stream text into chunks (consecutive same-name streams are merged).
Everything else is compared exactly: execution counts, output types and
order, mime bundles, output metadata (retina image sizes), and image bytes
(matplotlib's Agg output is deterministic; shown as a digest so a
difference stays readable). `Cell In[3], line 2` frames are kept: both
number cells the same."""
import hashlib
import json
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.path.join(ROOT, "build", "oracle")

_ADDR = re.compile(r"0x[0-9a-fA-F]{6,}")
_TIMES = [
    (re.compile(r"CPU times: .*"), "CPU times: <t>"),
    (re.compile(r"Wall time: .*"), "Wall time: <t>"),
    # ipykernel compiles each cell to /tmp/ipykernel_<pid>/<hash of source>.py
    # (warnings name it); the hash is deterministic, the pid is not
    (re.compile(r"ipykernel_\d+/"), "ipykernel_<pid>/"),
]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_jupyter(path, allow_errors=False, timeout=120):
    """Executes the notebook with nbclient (ipykernel), cached."""
    with open(path, "rb") as f:
        data = f.read()
    key = hashlib.sha256(data + (b"\0allow" if allow_errors else b"\0stop")).hexdigest()[:24]
    cached = os.path.join(CACHE, key + ".ipynb")
    if os.path.exists(cached):
        with open(cached) as f:
            return json.load(f)
    import nbclient
    import nbformat
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                     resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError:
        pass  # the notebook keeps the error output, as floe's does
    os.makedirs(CACHE, exist_ok=True)
    tmp = cached + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        nbformat.write(nb, f)
    os.replace(tmp, cached)
    with open(cached) as f:
        return json.load(f)


def _text(v):
    return "".join(v) if isinstance(v, list) else v


def _clean(s):
    s = _ADDR.sub("0x?", s)
    for rx, rep in _TIMES:
        s = rx.sub(rep, s)
    return s


def _mime(kind, v):
    """Text kept (cleaned); images compared exactly but shown as a digest
    so a difference stays readable; JSON as canonical text."""
    if not isinstance(v, (str, list)):
        return json.dumps(v, sort_keys=True)
    v = _text(v)
    if kind.startswith("image/") and kind != "image/svg+xml":
        return "<%s %d bytes sha256 %s>" % (kind, len(v), hashlib.sha256(v.strip().encode()).hexdigest()[:16])
    return _clean(v)


def normalise(nb):
    """Per code cell: (execution_count, [normalised outputs])."""
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        outs = []
        for o in c.get("outputs", []):
            t = o["output_type"]
            if t == "stream":
                text = _clean(_text(o["text"]))
                if outs and outs[-1][0] == "stream" and outs[-1][1] == o["name"]:
                    outs[-1] = ("stream", o["name"], outs[-1][2] + text)
                else:
                    outs.append(("stream", o["name"], text))
            elif t in ("execute_result", "display_data"):
                data = {k: _mime(k, v) for k, v in o.get("data", {}).items()}
                outs.append((t, o.get("execution_count"), json.dumps(data, sort_keys=True),
                             json.dumps(o.get("metadata", {}), sort_keys=True)))
            elif t == "error":
                tb = [_clean(_ANSI.sub("", line)) for line in o.get("traceback", [])]
                outs.append(("error", o["ename"], _clean(o["evalue"]), "\n".join(tb)))
            else:
                outs.append((t, json.dumps(o, sort_keys=True)))
        # a stream that ends up empty after merging carries nothing
        cells.append((c.get("execution_count"), outs))
    return cells


def diff(want, got):
    """A readable first difference between two normalised notebooks."""
    if len(want) != len(got):
        return "cell count %d != %d" % (len(want), len(got))
    out = ["code cell %d:\n  jupyter: %r\n  floe:    %r" % (i, w, g)
           for i, (w, g) in enumerate(zip(want, got)) if w != g]
    if len(out) > 3:
        out = out[:3] + ["... and %d more cells differ" % (len(out) - 3)]
    return "\n".join(out) or None


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(json.dumps(normalise(run_jupyter(p)), indent=1)[:4000])
