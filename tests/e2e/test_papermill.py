"""papermill compatibility (issue 18): `floe run IN OUT -p/-r/-y/-f/-b ...`
does what `papermill IN OUT ...` does, as papermill's own tests pin it down
(nteract/papermill: papermill/tests/test_cli.py, test_translators.py,
test_parameterize.py, test_execute.py). Their facts, rewritten as floe e2e
tests: the injected cell's exact text, the values the kernel sees, the
metadata papermill writes, exit status and output notebook of failing runs
(error-marker cells, execution counts, sys.exit), report mode, prepare-only,
stdin/stdout. Plus progress on disk: a SIGKILLed floe leaves OUT holding
every cell that had finished a few seconds before."""
import base64
import json
import os
import signal
import subprocess
import time

import pytest
from conftest import write_nb

FLOE = os.environ.get("FLOE", os.path.join(os.path.dirname(__file__), "..", "..", "build", "floe"))
PY = os.environ.get("FLOE_PYTHON", "/usr/bin/python3")

# papermill's simple_execute.ipynb: a parameters cell, a cell using it, an empty markdown cell
SIMPLE = [("code", "msg = None", ["parameters"]), ("code", "#papermill_description=DESC\nprint(msg)", None),
          ("markdown", "", None)]


def make_nb(path, cells, kernel="python3"):
    nb = {"cells": [], "metadata": {"kernelspec": {"name": kernel, "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    for i, (kind, src, tags) in enumerate(cells):
        c = {"cell_type": kind, "id": "c%d" % i, "metadata": {}, "source": src}
        if tags is not None:
            c["metadata"]["tags"] = tags
        if kind == "code":
            c.update(execution_count=None, outputs=[])
        nb["cells"].append(c)
    path.write_text(json.dumps(nb))
    return path


def floe(*args, input=None, cwd=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([FLOE, "run", *args, "--no-cache"], capture_output=True, text=True, input=input, cwd=cwd,
                          env=e, timeout=300)


def load(p):
    return json.loads(p.read_text())


def src(cell):
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def texts(cell):
    return "".join("".join(o["text"]) for o in cell.get("outputs", []) if o["output_type"] == "stream")


def validate(nb):
    import nbformat
    nbformat.validate(nbformat.from_dict(nb))


# ---- the injected cell: papermill's PythonTranslator and _resolve_type ----------------------------

# (command-line parameters, the injected cell's lines after '# Parameters', the values the kernel sees)
INJECTED = [
    (["-p", "foo", "bar"], ['foo = "bar"'], {"foo": "bar"}),
    (["-p", "foo", "bar", "--parameters", "baz", "42"], ['foo = "bar"', "baz = 42"], {"foo": "bar", "baz": 42}),
    (["-r", "foo", "bar", "--parameters_raw", "baz", "42"], ['foo = "bar"', 'baz = "42"'], {"foo": "bar", "baz": "42"}),
    (["-p", "a", "True", "-p", "b", "False", "-p", "c", "None"], ["a = True", "b = False", "c = None"],
     {"a": True, "b": False, "c": None}),
    (["-p", "x", "12.51", "-p", "y", "10", "-p", "z", "-8.2"], ["x = 12.51", "y = 10", "z = -8.2"],
     {"x": 12.51, "y": 10, "z": -8.2}),
    (["-p", "x", "1e16", "-p", "y", "1e-5", "-p", "z", "0.0001", "-p", "w", "1_000"],
     ["x = 1e+16", "y = 1e-05", "z = 0.0001", "w = 1000"], {"x": 1e16, "y": 1e-5, "z": 0.0001, "w": 1000}),
    (["-p", "big", "123456789012345678901234567890"], ["big = 123456789012345678901234567890"],
     {"big": 123456789012345678901234567890}),
    (["-p", "x", "hello world", "-p", "e", "\U0001f60d"], ['x = "hello world"', 'e = "\\U0001f60d"'],
     {"x": "hello world", "e": "\U0001f60d"}),
    (["-p", "j", '{"foo": "bar"}'], ['j = "{\\"foo\\": \\"bar\\"}"'], {"j": '{"foo": "bar"}'}),
    (["-p", "msg", '"Hello"'], ['msg = "\\"Hello\\""'], {"msg": '"Hello"'}),
    (["-p", "foo", r"do\ not\ crash"], [r'foo = "do\\ not\\ crash"'], {"foo": r"do\ not\ crash"}),
    (["-p", "foo", r'bar=\"baz\"'], [r'foo = "bar=\\\"baz\\\""'], {"foo": r'bar=\"baz\"'}),
    (["-p", "foo", r'\\"bar\\"'], [r'foo = "\\\\\"bar\\\\\""'], {"foo": r'\\"bar\\"'}),
    (["-p", "n", "nan", "-p", "i", "-inf"], ["n = float('nan')", "i = float('-inf')"], None),
    (["-y", '{"foo": "bar"}', "--parameters_yaml", '{"foo2": ["baz"]}'], ['foo = "bar"', 'foo2 = ["baz"]'],
     {"foo": "bar", "foo2": ["baz"]}),
    (["-y", '{"foo": {"bar": "baz"}, "q": {"bar": "\\"baz\\""}}'],
     ['foo = {"bar": "baz"}', 'q = {"bar": "\\"baz\\""}'], {"foo": {"bar": "baz"}, "q": {"bar": '"baz"'}}),
    (["-y", '[1]'], None, None),  # not a mapping: refused
    (["-y", "a_date: 2019-01-01"], ['a_date = "2019-01-01"'], {"a_date": "2019-01-01"}),
    (["--parameters_yaml", '{"foo": "bar"}', "-y", '{"foo": ["baz"]}'], ['foo = ["baz"]'], {"foo": ["baz"]}),
    (["-y", "f: .nan\ng: -.inf\nh: 1.5\nl: [1, 2.0, null, true]"],
     ["f = float('nan')", "g = float('-inf')", "h = 1.5", "l = [1, 2.0, None, True]"], None),
    (["-b", base64.b64encode(b'{"foo": "replaced", "bar": 2}').decode(), "-b",
      base64.b64encode(b'{"foo": "bar", "baz": 3}').decode()], ['foo = "bar"', "bar = 2", "baz = 3"],
     {"foo": "bar", "bar": 2, "baz": 3}),
    # papermill merges -b, -f, -y, -p, -r in that order, whatever the order on the command line
    (["-r", "a", "1", "-p", "a", "2", "-y", "{a: 3, b: 4}", "-p", "b", "5"], ['a = "1"', "b = 5"],
     {"a": "1", "b": 5}),
]


@pytest.mark.parametrize("args,lines,values", INJECTED, ids=[" ".join(a[0][:3]) for a in INJECTED])
def test_injected_cell_and_kernel_values(tmp_path, args, lines, values):
    names = sorted(values) if values else []
    show = "print(repr({%s}))" % ", ".join("%r: %s" % (n, n) for n in names)
    p = make_nb(tmp_path / "in.ipynb", SIMPLE + [("code", show, None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), *args)
    if lines is None:
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) >= 1
        assert not out.exists()
        return
    assert r.returncode == 0, r.stderr
    nb = load(out)
    cell = nb["cells"][1]
    assert cell["metadata"]["tags"] == ["injected-parameters"]
    assert src(cell) == "# Parameters\n" + "".join(line + "\n" for line in lines)
    if values is not None:
        assert texts(nb["cells"][-1]) == repr({n: values[n] for n in names}) + "\n"
        if "big" not in values:  # floe records ints beyond 64 bits as floats in the metadata
            assert nb["metadata"]["papermill"]["parameters"] == values
    validate(nb)


def test_parameters_file_yaml_then_json(tmp_path):
    # papermill's test_parameters_file: example.yaml, then example.json, last wins
    y = tmp_path / "example.yaml"
    y.write_text('---\nfoo: 12345\nbar: "value"\nbaz:\n    k1: v1\n    k2: v2\na_date: 2019-01-01\n')
    j = tmp_path / "example.json"
    j.write_text('{"foo":54321}')
    p = make_nb(tmp_path / "in.ipynb", SIMPLE + [("code", "print(repr((foo, bar, baz, a_date)))", None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "-f", str(y), "--parameters_file", str(j))
    assert r.returncode == 0, r.stderr
    nb = load(out)
    assert src(nb["cells"][1]) == ('# Parameters\nfoo = 54321\nbar = "value"\nbaz = {"k1": "v1", "k2": "v2"}\n'
                                   'a_date = "2019-01-01"\n')
    assert texts(nb["cells"][-1]) == repr((54321, "value", {"k1": "v1", "k2": "v2"}, "2019-01-01")) + "\n"


def test_empty_parameters_inject_nothing(tmp_path):
    # papermill's test_parameters_empty: all sources empty, no injected cell
    e = tmp_path / "empty.yaml"
    e.write_text("#empty")
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "--parameters_file", str(e), "--parameters_yaml", "#empty",
             "--parameters_base64", "I2VtcHR5")
    assert r.returncode == 0, r.stderr
    nb = load(out)
    assert len(nb["cells"]) == 3 and nb["metadata"]["papermill"]["parameters"] == {}


def test_injection_place_and_tags(tmp_path):
    # test_parameterize: after the parameters cell, which keeps its other tags; at the top
    # without one; a second run replaces the injected cell rather than adding one
    cells = [("code", "msg = None", ["parameters", "some tag"]), ("code", "print(msg)", None)]
    p = make_nb(tmp_path / "in.ipynb", cells)
    out = tmp_path / "out.ipynb"
    assert floe(str(p), str(out), "-p", "msg", "Hello").returncode == 0
    nb = load(out)
    assert nb["cells"][0]["metadata"]["tags"] == ["parameters", "some tag"]
    assert nb["cells"][1]["metadata"]["tags"] == ["injected-parameters"]
    assert texts(nb["cells"][2]) == "Hello\n"
    out2 = tmp_path / "out2.ipynb"
    assert floe(str(out), str(out2), "-p", "msg", "Again").returncode == 0
    nb = load(out2)
    assert sum("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"]) == 1
    assert texts(nb["cells"][2]) == "Again\n"
    p = make_nb(tmp_path / "notag.ipynb", [("code", "print(msg)", None)])
    assert floe(str(p), str(out), "-p", "msg", "Hello").returncode == 0
    nb = load(out)
    assert src(nb["cells"][0]).split("\n") == ["# Parameters", 'msg = "Hello"', ""]
    assert nb["metadata"]["papermill"]["parameters"] == {"msg": "Hello"}


def test_inject_paths(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", SIMPLE + [("code", "print(PAPERMILL_INPUT_PATH, PAPERMILL_OUTPUT_PATH)", None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "--inject-paths")
    assert r.returncode == 0, r.stderr
    nb = load(out)
    assert src(nb["cells"][1]) == '# Parameters\nPAPERMILL_INPUT_PATH = "%s"\nPAPERMILL_OUTPUT_PATH = "%s"\n' % (p, out)


# ---- metadata -----------------------------------------------------------------------------------

def test_metadata_as_papermill_writes_it(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "-p", "msg", "Hello")
    assert r.returncode == 0, r.stderr
    nb = load(out)
    pm = nb["metadata"]["papermill"]
    assert set(pm) == {"default_parameters", "parameters", "environment_variables", "version", "input_path",
                       "output_path", "start_time", "end_time", "duration", "exception"}
    assert pm["parameters"] == {"msg": "Hello"} and pm["exception"] is None
    assert pm["input_path"] == str(p) and pm["output_path"] == str(out)
    assert pm["start_time"].endswith("+00:00") and pm["start_time"] < pm["end_time"] and pm["duration"] > 0
    for c in nb["cells"]:
        cm = c["metadata"]["papermill"]
        assert set(cm) == {"exception", "start_time", "end_time", "duration", "status"}
        assert cm["status"] == "completed" and cm["exception"] is False and cm["duration"] >= 0
        assert pm["start_time"] <= cm["start_time"] <= cm["end_time"] <= pm["end_time"]
        assert "tags" in c["metadata"]
        if c["cell_type"] == "code":  # nbclient's timestamps too
            ex = c["metadata"]["execution"]
            assert set(ex) == {"iopub.execute_input", "iopub.status.busy", "iopub.status.idle",
                               "shell.execute_reply"}
            assert cm["start_time"] == ex["iopub.status.busy"].replace("Z", "+00:00")


def test_report_mode_hides_inputs(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    out = tmp_path / "out.ipynb"
    assert floe(str(p), str(out), "-p", "a", "0", "--report-mode").returncode == 0
    for c in load(out)["cells"]:
        if c["cell_type"] == "code":
            assert c["metadata"]["jupyter"]["source_hidden"] is True


def test_nbconvert_form_writes_no_papermill_metadata(tmp_path):
    # in place or -o: nbconvert's form, the notebook gets nbclient's metadata only
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    assert floe(str(p), "-q").returncode == 0
    nb = load(p)
    assert "papermill" not in nb["metadata"] and "papermill" not in nb["cells"][0]["metadata"]
    assert floe(str(p), "-o", str(tmp_path / "o.ipynb"), "--papermill").returncode == 0
    assert "papermill" in load(tmp_path / "o.ipynb")["metadata"]


# ---- failing runs: papermill's test_execute ------------------------------------------------------

MARKER = "papermill-error-cell-tag"


def test_broken1_markers_replaced(tmp_path):
    # error markers left by an earlier run are removed, new ones added around the failing cell
    style = 'style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;"'
    cells = [("markdown", "<span %s>An Exception was encountered at '<a href=\"#papermill-error-cell\">In [1]</a>'."
              "</span>" % style, [MARKER]),
             ("markdown", "A markdown cell that makes the execution counts different to indices", None),
             ("markdown", '<span id="papermill-error-cell" %s>Execution using papermill encountered an exception '
              "here and stopped:</span>" % style, [MARKER]),
             ("code", 'print("We\'re good.")', []), ("markdown", "Another markdown cell", None),
             ("markdown", "A third one.", None), ("code", "assert False", None),
             ("code", "print \"Shouldn't get here.\"", None)]
    p = make_nb(tmp_path / "broken1.ipynb", cells)
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out))
    assert r.returncode == 1
    nb = load(out)
    c = nb["cells"]
    assert c[0]["cell_type"] == "markdown" and c[0]["metadata"]["tags"] == [MARKER]
    assert '<a href="#papermill-error-cell"' in src(c[0]) and "In [2]" in src(c[0])
    assert c[1]["cell_type"] == "markdown" and c[2]["execution_count"] == 1
    assert c[3]["cell_type"] == "markdown" and c[4]["cell_type"] == "markdown"
    assert c[5]["cell_type"] == "markdown" and c[5]["metadata"]["tags"] == [MARKER]
    assert src(c[5]).startswith('<span id="papermill-error-cell" ')
    assert c[6]["execution_count"] == 2 and c[6]["outputs"][0]["output_type"] == "error"
    assert c[7]["execution_count"] is None and c[7]["outputs"] == []
    assert sum(MARKER in x["metadata"].get("tags", []) for x in c) == 2
    assert nb["metadata"]["papermill"]["exception"] is True
    assert c[6]["metadata"]["papermill"]["status"] == "failed" and c[6]["metadata"]["papermill"]["exception"]
    assert c[7]["metadata"]["papermill"]["status"] == "pending"
    validate(nb)


def test_broken2_display_then_error(tmp_path):
    cells = [("code", 'print("We\'re good.")', []),
             ("code", "import warnings\nwarnings.filterwarnings('ignore')\nfrom IPython.display import display, HTML\n"
                      "display(HTML(\"<style>.container { width:100% !important; }</style>\"))\n\nassert False", None),
             ("code", "print \"Shouldn't get here.\"", None)]
    p = make_nb(tmp_path / "broken2.ipynb", cells)
    out = tmp_path / "out.ipynb"
    assert floe(str(p), str(out)).returncode == 1
    c = load(out)["cells"]
    assert c[0]["cell_type"] == "markdown" and "In [2]" in src(c[0])
    assert c[1]["execution_count"] == 1
    assert c[2]["cell_type"] == "markdown" and src(c[2]).startswith('<span id="papermill-error-cell" ')
    assert c[3]["execution_count"] == 2
    assert [o["output_type"] for o in c[3]["outputs"]] == ["display_data", "error"]
    assert c[4]["execution_count"] is None


@pytest.mark.parametrize("stmt,evalue,status", [("sys.exit()", "", 0), ("sys.exit(0)", "0", 0),
                                                ("raise SystemExit", "", 0), ("sys.exit(1)", "1", 1)])
def test_sys_exit(tmp_path, stmt, evalue, status):
    p = make_nb(tmp_path / "sx.ipynb", [("code", "import sys", None), ("code", stmt, None),
                                        ("code", 'print("Cell should not execute.")', None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out))
    assert r.returncode == status, r.stderr
    c = load(out)["cells"]
    if status:  # papermill: an error, with its markers
        assert c[0]["cell_type"] == "markdown" and "In [2]" in src(c[0])
        c = [x for x in c if x["cell_type"] == "code"]
    assert c[0]["execution_count"] == 1 and c[1]["execution_count"] == 2
    assert c[1]["outputs"][0]["output_type"] == "error"
    assert c[1]["outputs"][0]["ename"] == "SystemExit" and c[1]["outputs"][0]["evalue"] == evalue
    assert c[2]["execution_count"] is None


def test_prepare_only(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", [("code", "assert False", None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "-p", "foo", r"do\ not\ crash", "--prepare-only")
    assert r.returncode == 0, r.stderr
    c = load(out)["cells"]
    assert c[0]["cell_type"] == "code" and src(c[0]).split("\n") == ["# Parameters", r'foo = "do\\ not\\ crash"', ""]
    assert c[1]["outputs"] == [] and c[1]["execution_count"] is None


# ---- options --------------------------------------------------------------------------------------

def test_stdin_to_stdout(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    r = floe("-", "-", "-p", "msg", "piped", input=p.read_text(), cwd=str(tmp_path))
    assert r.returncode == 0 and r.stderr == ""
    nb = json.loads(r.stdout)
    validate(nb)
    assert texts(nb["cells"][2]) == "piped\n"


def test_cwd(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    (d / "data.txt").write_text("from cwd")
    p = make_nb(tmp_path / "in.ipynb", [("code", "print(open('data.txt').read())", None)])
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "--cwd", str(d))
    assert r.returncode == 0, r.stderr
    assert texts(load(out)["cells"][0]) == "from cwd\n"


def test_execution_timeout(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", [("code", "import time\ntime.sleep(30)", None), ("code", "print(1)", None)])
    out = tmp_path / "out.ipynb"
    t0 = time.time()
    r = floe(str(p), str(out), "--execution-timeout", "1")
    assert r.returncode == 1 and time.time() - t0 < 20
    c = [x for x in load(out)["cells"] if x["cell_type"] == "code"]
    assert c[0]["outputs"][-1]["output_type"] == "error" and c[1]["execution_count"] is None


def test_log_output_and_stream_files(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", [("code", "import sys\nprint('to out')\nprint('to err', file=sys.stderr)",
                                          None), ("code", "1 + 1", None)])
    out = tmp_path / "out.ipynb"
    so, se = tmp_path / "so.txt", tmp_path / "se.txt"
    r = floe(str(p), str(out), "--log-output", "--stdout-file", str(so), "--stderr-file", str(se), "--mode", "serial")
    assert r.returncode == 0, r.stderr
    assert "Executing Cell 1---" in r.stderr and "Ending Cell 1---" in r.stderr
    assert "to out" in r.stderr and "to err" in r.stderr and "\n2\n" in r.stderr
    assert so.read_text() == "to out\n" and se.read_text() == "to err\n"


def test_papermill_flags_accepted(tmp_path):
    p = make_nb(tmp_path / "in.ipynb", SIMPLE)
    out = tmp_path / "out.ipynb"
    r = floe(str(p), str(out), "--engine", "nbclient", "--start-timeout", "60", "--log-level", "INFO",
             "--progress-bar", "--no-progress-bar", "--autosave-cell-every", "30", "--request-save-on-cell-execute",
             "--language", "python", "-k", "python3")
    assert r.returncode == 0, r.stderr


# ---- progress on disk ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["serial", "parallel"])
def test_sigkill_leaves_finished_cells(tmp_path, mode):
    cells = [("code", "print('one')", None), ("code", "print('two')", None),
             ("code", "import time\ntime.sleep(120)", None), ("code", "print('never')", None)]
    p = make_nb(tmp_path / "in.ipynb", cells)
    out = tmp_path / "out.ipynb"
    proc = subprocess.Popen([FLOE, "run", str(p), str(out), "--no-cache", "-q", "--mode", mode, "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # the two quick cells finish within a second or two of the start; the save follows
        # within --save-every (2 s)
        deadline = time.time() + 60
        while time.time() < deadline and not out.exists():
            time.sleep(0.2)
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    c = load(out)["cells"]
    assert texts(c[0]) == "one\n" and texts(c[1]) == "two\n"
    assert c[0]["execution_count"] == 1 and c[1]["execution_count"] == 2
    assert c[0]["metadata"]["papermill"]["status"] == "completed"
    assert c[2]["outputs"] == [] and c[2]["metadata"]["papermill"]["status"] == "pending"
    # the last cell is independent of the sleeping one: in parallel mode it may have run
    assert texts(c[3]) == ("" if mode == "serial" else texts(c[3])) and texts(c[3]) in ("", "never\n")
    assert load(p)["cells"][0]["outputs"] == []  # the input is untouched
    # the next run removes the killed run's directory in /dev/shm
    q = make_nb(tmp_path / "next.ipynb", [("code", "print(1)", None)])
    assert floe(str(q), "-q").returncode == 0
