#!/usr/bin/env python3
"""Writes the e2e notebook corpus (tests/notebooks/*.ipynb) from the cell
lists below, so the notebooks are reviewable as Python. Run it after editing:

    /usr/bin/python3 tests/notebooks/make_corpus.py

A cell is a string (code), ("md", text) for markdown, or (tags, source) for a
code cell with tags. Notebooks named err_* are expected to stop at an error
(floe exits 1, like nbclient without --allow-errors); adv_* probe the ways a
static prediction can be wrong."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

NOTEBOOKS = {
    "streams": [
        "print('hello')\nprint('world')",
        "import sys\nprint('out 1')\nprint('err 1', file=sys.stderr)\nprint('out 2')\nsys.stdout.write('no newline')",
        "for i in range(3):\n    print(i, end=' ')\nprint()",
        "sys.stderr.write('only stderr\\n')",
    ],
    "results": [
        "1 + 1",
        "'a string'",
        "{'b': [1, 2, 3], 'a': None}",
        "None",
        "x = 41\nx + 1;",
        "print('before')\nx",
        "[i * i for i in range(20)]",
    ],
    "dataframe_html": [
        "import pandas as pd\nimport numpy as np\n"
        "df = pd.DataFrame({'a': np.arange(5), 'b': list('vwxyz'), 'c': np.linspace(0, 1, 5)})\ndf",
        "df.describe()",
        "df['a']",
        "df.head(2).style if False else df.tail(2)",
        "pd.DataFrame(np.arange(400).reshape(100, 4))",
    ],
    "rich_display": [
        "from IPython.display import display, HTML, Markdown, JSON, Latex, Image\n"
        "display(HTML('<b>bold</b>'))\ndisplay(Markdown('# Title\\n*em*'))",
        "display(JSON({'k': [1, 2]}))",
        "display(Latex(r'$\\alpha^2$'))",
        "import base64\n"
        "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')\n"
        "Image(png)",
        "display(1, 'two', [3])",
        "class Shape:\n    def _repr_html_(self):\n        return '<i>shape</i>'\n    def __repr__(self):\n"
        "        return 'Shape()'\nShape()",
    ],
    "clear_output": [
        "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
        "import time\nfor i in range(3):\n    clear_output(wait=True)\n    print('step', i)",
        "print('a')\nclear_output(wait=True)",
    ],
    "update_display": [
        "from IPython.display import display, update_display\nh = display('first', display_id='d1')",
        "update_display('second', display_id='d1')",
        "h2 = display({'x': 1}, display_id=True, raw=False)\nh2.update('updated')",
        "display('third', display_id='d1', update=True)",
    ],
    "matplotlib_inline": [
        "import matplotlib\nimport matplotlib.pyplot as plt\nimport numpy as np",
        "x = np.linspace(0, 2 * np.pi, 50)\nplt.plot(x, np.sin(x))\nplt.title('sine')",
        "fig, ax = plt.subplots(figsize=(3, 2))\nax.bar(['a', 'b'], [3, 5])\nplt.show()",
        "print('after figures')",
    ],
    "err_name": [
        "a = 1\nprint(a)",
        "print(b_undefined)",
        "print('never')",
    ],
    "err_traceback": [
        "def inner(x):\n    return 1 / x\n\ndef outer(x):\n    return inner(x - 1)",
        "print(outer(3))",
        "outer(1)",
        "print('not reached')",
    ],
    "raises_tag": [
        "print('start')",
        (["raises-exception"], "raise ValueError('expected')"),
        "print('continues')",
    ],
    "err_syntax": [
        "ok = True",
        "def broken(:\n    pass",
        "print(ok)",
    ],
    "unicode": [
        "print('héllo wörld — ünïcode')",
        "print('日本語のテキスト, 中文, 한국어')",
        "print('emoji: 🐍🚀✨ and rtl: שלום مرحبا')",
        "s = 'ß→ẞ'\ns",
        "{'clé': 'välue', '键': '值'}",
    ],
    "parameters": [
        ("md", "# Parameters\nRun with `-p alpha 0.5`."),
        (["parameters"], "alpha = 0.1\nname = 'world'\nn = 3"),
        "print('alpha', alpha)\nprint('hello', name)",
        "[alpha * i for i in range(n)]",
    ],
    "magics": [
        "%env FLOE_CORPUS_VAR=set\nimport os\nprint(os.environ['FLOE_CORPUS_VAR'])",
        "%%capture cap\nprint('captured')",
        "print(cap.stdout.upper())",
        "!echo shell says hi",
        "files = !echo one; echo two\nprint(files)",
        "%time total = sum(range(100000))",
        "%%time\ns = 0\nfor i in range(1000):\n    s += i",
        "print(total, s)",
        "%lsmagic",
    ],
    "pandas_ops": [
        "import pandas as pd\nsales = pd.DataFrame({'region': ['n', 's', 'n', 'e', 's', 'n'],\n"
        "                      'units': [3, 5, 2, 7, 1, 4], 'price': [1.5, 2.0, 1.5, 3.0, 2.0, 1.5]})",
        "sales['revenue'] = sales.units * sales.price\nsales.groupby('region').revenue.sum()",
        "regions = pd.DataFrame({'region': ['n', 's', 'e'], 'name': ['North', 'South', 'East']})\n"
        "merged = sales.merge(regions, on='region')\nmerged.sort_values(['name', 'units'])",
        "merged.pivot_table(index='name', values='units', aggfunc='sum')",
        "sales.describe()",
        "print(sales.dtypes.to_dict())",
    ],
    "numpy_ops": [
        "import numpy as np\na = np.arange(12).reshape(3, 4)\na",
        "a.T @ a",
        "b = np.linalg.inv(np.array([[2.0, 1.0], [1.0, 3.0]]))\nprint(np.round(b, 6))",
        "np.set_printoptions(precision=3)\nnp.linspace(0, 1, 7)",
        "print(a.sum(axis=0), a.mean())",
    ],
    "long_output": [
        "for i in range(500):\n    print('line', i)",
        "import sys\nfor i in range(100):\n    print(i, file=sys.stderr if i % 2 else sys.stdout)",
        "print('x' * 5000)",
    ],
    "empty_and_markdown": [
        ("md", "# Heading\nSome *markdown* text."),
        "",
        "x = 5",
        "   \n",
        ("md", "## More"),
        "x * 2",
    ],
    "skip_execution": [
        "print('runs')",
        (["skip-execution"], "print('skipped')"),
        "print('also runs')",
    ],
    "functions_classes": [
        "def greet(name):\n    return 'hi ' + name",
        "class Counter:\n    def __init__(self):\n        self.n = 0\n    def inc(self):\n        self.n += 1\n"
        "        return self.n",
        "c = Counter()\nc.inc()\nc.inc()",
        "print(greet('ada'), c.n, isinstance(c, Counter), type(c).__name__)",
        "import pickle\nprint(pickle.loads(pickle.dumps(c)).n)",
    ],
    "closures_lambdas": [
        "def make_adder(k):\n    def add(x):\n        return x + k\n    return add\nadd3 = make_adder(3)",
        "square = lambda v: v * v\nprint(add3(4), square(5))",
        "fs = [lambda i=i: i * 10 for i in range(3)]\nprint([f() for f in fs])",
        "print(list(map(square, range(4))))",
    ],
    "read_only_cells": [
        "data = {'a': 1, 'b': 2}\nitems = sorted(data.items())",
        "print(items)",
        "print(len(data), sum(data.values()))",
        "print(max(items))",
    ],
    "adv_exec": [
        "exec('hidden = 41')",
        "print(hidden + 1)",
        "exec('hidden = 100')\nprint('rebound')",
        "print(hidden)",
    ],
    "adv_globals": [
        "globals()['gvar'] = 2",
        "print(gvar * 3)",
        "for i in range(3):\n    globals()['g%d' % i] = i * i",
        "print(g0, g1, g2)",
        "vars()['late'] = 'v'\nprint(late)",
    ],
    "adv_star_import": [
        "from math import *",
        "print(sqrt(16), floor(2.7), pi)",
        "from os.path import *\nprint(basename('/a/b.txt'))",
    ],
    # issue 16 P9: an open-world cell rebinds builtins; later cells see its names, not Python's
    "adv_star_builtin": [
        "import time\ntime.sleep(0.5)\nfrom math import *",
        "pow(2, 3)",
        "from numpy import *",
        "sum(range(5), -1)",
        "print(round(2.567, 1), max([3, 1]), abs(-2), type(min(range(3))).__name__)",
        "exec('len = lambda x: 42')",
        "len([1, 2])",
        "globals()['hex'] = lambda v: 'mine'\nprint(hex(255))",
        "print(hex(16), len('ab'))",
        "del len\nprint(len('abc'))",
    ],
    "adv_function_globals": [
        "def scaled(v):\n    return v * factor",
        "factor = 2\nprint(scaled(5))",
        "factor = 10",
        "print(scaled(5))",
        "def uses_helper():\n    return helper() + 1",
        "def helper():\n    return 41",
        "print(uses_helper())",
    ],
    "adv_mutation": [
        "lst = [1, 2]\nd = {'k': 1}\nclass Obj:\n    pass\nobj = Obj()\nobj.attr = 'a'",
        "lst.append(3)\nd['new'] = 2\nobj.attr = 'b'",
        "print(lst, d, obj.attr)",
        "import numpy as np\nimport pandas as pd\narr = np.zeros(4)\nframe = pd.DataFrame({'a': [1, 2, 3], 'b': [4, 5, 6]})",
        "arr[0] = 9\nframe.drop(columns=['b'], inplace=True)\nframe.loc[0, 'a'] = 100",
        "print(arr, frame.to_dict())",
        "def mutate(x):\n    x.append('via function')",
        "mutate(lst)\nprint(lst)",
    ],
    "adv_del_rebind": [
        "x = 1\ny = 2",
        "del x",
        "try:\n    print(x)\nexcept NameError as e:\n    print('gone:', e)",
        "x = 'back'\nprint(x, y)",
        "list = [1]\nprint(list)",
        "del list\nprint(list('ab'))",
    ],
    "adv_redefine": [
        "def f():\n    return 'one'",
        "print(f())",
        "def f():\n    return 'two'",
        "print(f())",
        "f = lambda: 'three'\nprint(f())",
    ],
    "adv_random_seed": [
        "import random\nimport numpy as np\nrandom.seed(3)\nnp.random.seed(4)",
        "print(random.randint(0, 1000), np.random.randint(0, 1000))",
        "print('unrelated work')",
        "vals = np.random.rand(3)\nprint(np.round(vals, 6))",
        "print(random.random())",
    ],
    "adv_huge_value": [
        "import numpy as np\nbig = np.arange(8_000_000, dtype=np.float64)",
        "print(big.nbytes, big[-1])",
        "big2 = big * 2\nprint(big2.sum())",
        "blob = bytes(range(256)) * 40000\nprint(len(blob))",
        "print(blob[:5], big2[:3])",
    ],
    "adv_conditional_write": [
        "import os\nflag = os.environ.get('FLOE_NO_SUCH_VAR') is None",
        "if flag:\n    maybe = 'set'\nelse:\n    pass",
        "print(maybe)",
        "try:\n    risky = 1 / 0\nexcept ZeroDivisionError:\n    risky = 'handled'\nprint(risky)",
    ],
    "adv_chdir": [
        "import os\nimport tempfile\nwork = tempfile.mkdtemp(prefix='floe-corpus-')\n"
        "with open(os.path.join(work, 'data.txt'), 'w') as f:\n    f.write('found it')",
        "os.chdir(work)",
        "print(open('data.txt').read())",
        "import shutil\nos.chdir('/')\nshutil.rmtree(work)\nprint(os.path.exists(work))",
    ],
    "adv_late_global_closure": [
        "scale = lambda v: v * factor\ndef make(k):\n    return lambda v: v + k + offset",
        "factor = 3\noffset = 100\nadd = make(1)",
        "print(scale(2), add(2))",
        "factor = 5\nprint(scale(2))",
    ],
    "adv_unmovable": [
        "gen = (i * i for i in range(5))\nprint(next(gen))",
        "print(next(gen), next(gen))",
    ],
    "adv_comprehension_scopes": [
        "k = 'outer'\nvals = [k for k in range(3)]\nprint(k, vals)",
        "total = 0\n[total := total + v for v in range(4)]\nprint(total)",
        "class C:\n    y = 5\n    z = [y2 for y2 in range(y)]\nprint(C.z)",
    ],
    # ---- added: more magics, warnings, streams, exits --------------------
    # files as a channel between cells that share no variable: reads after
    # writes, an append after a write, cleanup at the end (parallel mode
    # must order them as a top-to-bottom run would)
    "adv_file_races": [
        "import os\nimport tempfile\nimport time\nd = tempfile.mkdtemp(prefix='floe-corpus-')\n"
        "p = os.path.join(d, 'a.txt')\nq = os.path.join(d, 'b.txt')",
        "time.sleep(0.4)\nwith open(p, 'w') as f:\n    f.write('one')",
        "print(open(p).read())",
        "with open(p, 'a') as f:\n    f.write('+two')",
        "print(open(p).read())",
        "time.sleep(0.2)\nwith open(q, 'w') as f:\n    f.write('b1')",
        "with open(q, 'w') as f:\n    f.write('b2')",
        "print(open(q).read(), open(p).read())",
        "import shutil\nshutil.rmtree(d)\nprint(os.path.exists(d))",
    ],
    # issue 16 P4: files an earlier cell writes, used by later cells without open()
    "adv_file_probes": [
        "import os\nimport sys\nimport tempfile\nimport time\nd = tempfile.mkdtemp(prefix='floe-corpus-')\n"
        "p = os.path.join(d, 'out.txt')\nsys.path.insert(0, d)",
        "time.sleep(0.6)\nwith open(p, 'w') as f:\n    f.write('written')",
        "print(os.path.exists(p), os.path.isfile(p))",
        "print(os.path.getsize(p))",
        "import pathlib\nprint(pathlib.Path(p).exists(), os.access(p, os.R_OK))",
        "time.sleep(0.4)\nwith open(os.path.join(d, 'floe_probe_mod.py'), 'w') as f:\n    f.write('VALUE = 42\\n')",
        "import floe_probe_mod\nprint(floe_probe_mod.VALUE)",
        "import shutil\nshutil.rmtree(d)\nprint(os.path.exists(d))",
    ],
    # issue 16 P14: importing a notebook-directory module changes process
    # state (floe_adv_import_state.py sleeps, then sets rcParams, numpy's and
    # pandas' print options); later cells only use that state
    "adv_import_state": [
        "import matplotlib.pyplot as plt\nimport numpy as np\nimport pandas as pd",
        "import floe_adv_import_state",
        "print(plt.rcParams['figure.dpi'])",
        "print(np.array([1 / 3, 2 / 3]))",
        "pd.Series(range(10))",
        "fig = plt.figure()\nprint(fig.dpi)\nplt.close(fig)",
    ],
    # issue 16: a directory listing (os.listdir, os.scandir, glob, pathlib)
    # reads the directory: it comes after the cells that add files to it
    # (a listing cell is a barrier; names() lists through a function, seen
    # at run time only: the cell is re-run)
    "adv_dir_listing": [
        "import glob\nimport os\nimport pathlib\nimport tempfile\nimport time\n"
        "d = tempfile.mkdtemp(prefix='floe-corpus-')\ndef names(path):\n    return sorted(os.listdir(path))",
        "time.sleep(0.8)\nwith open(os.path.join(d, 'a.txt'), 'w') as fa:\n    fa.write('a')",
        "print(names(d))",
        "print(sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, '*.txt'))))",
        "print(sorted(p.name for p in pathlib.Path(d).iterdir()))",
        "time.sleep(0.5)\nos.mkdir(os.path.join(d, 'sub'))\nwith open(os.path.join(d, 'c.txt'), 'w') as fc:\n"
        "    fc.write('c')",
        "print(sorted(e.name for e in os.scandir(d)), sorted(pathlib.Path(d).glob('*.txt')) != [])",
        "import shutil\nshutil.rmtree(d)\nprint(os.path.exists(d))",
    ],
    # issue 16 class 4: IPython's %precision and decimal's context are process
    # state: later cells in other kernels (or one going on from a cell that ran
    # before the change) print with them, as in Jupyter's one process
    "adv_display_precision": [
        "import numpy as np\n%precision 2",
        "x = 3.14159265\nimport time\ntime.sleep(0.3)",
        "x",
        "import decimal\ndecimal.getcontext().prec = 5",
        "print(decimal.Decimal(1) / decimal.Decimal(7))",
        "%precision 4",
        "x",
        "np.array([1 / 3, 2 / 3])",
        "%precision",
        "x",
    ],
    # issue 16 P15: a warning raised in a function defined in another cell
    # names that cell's file, /tmp/ipykernel_<pid>/<hash of its raw source>.py
    "adv_warning_filename": [
        "import warnings\ndef careful(x):\n    warnings.warn('x is %d' % x)\n    return x + 1",
        "careful(1)",
        "class Thing:\n    def go(self):\n        raise ValueError('no')",
        (["raises-exception"], "Thing().go()"),
    ],
    # pandas must believe it runs under Jupyter: 20 columns at most, wide
    # frames wrapped (tests/realworld/FINDINGS.md R1)
    "pandas_wide": [
        "import pandas as pd\nprint(pd.get_option('display.max_columns'), pd.get_option('display.width'))\n"
        "print(hasattr(get_ipython(), 'kernel'), type(get_ipython()).__name__)",
        "df = pd.DataFrame({'column_%d' % i: [i * 1000.5, i] for i in range(12)})\ndf",
        "pd.DataFrame({'c%d' % i: [i] for i in range(25)})",
        "print(df)",
        "pd.reset_option('display.max_columns')\nprint(pd.get_option('display.max_columns'))",
    ],
    "magics_who": [
        "alpha = 1\nbeta = 'b'\ndef gamma():\n    pass",
        "%who",
        "del beta\n%who_ls",
        "%who int",
        "%whos",
    ],
    "warnings_stderr": [
        "import warnings\nwarnings.warn('careful now')",
        "def f():\n    warnings.warn('from f', DeprecationWarning)\nf()",
        "import numpy as np\nnp.array([1.0]) / 0",
    ],
    "streams_control_chars": [
        "for i in range(3):\n    print('\\rprogress %d' % i, end='')\nprint()",
        "print('abc\\bd')",
        "import sys\nsys.stdout.write('partial')\nsys.stdout.flush()\nprint(' rest')",
        "print('tab\\tsep', 'nul\\x00byte', 'bell\\x07')",
    ],
    "clear_output_cross": [
        "from IPython.display import clear_output, display, update_display\nprint('a')\nclear_output(wait=True)",
        "print('next cell')",
        "display('x', display_id='keep')\nclear_output()",
        "update_display('y', display_id='keep')\nprint('updated')",
        "display('z', display_id='other')\nprint('between')\nupdate_display('z2', display_id='other')",
    ],
    "sys_exit_tagged": [
        "print('start')",
        (["raises-exception"], "import sys\nsys.exit(3)"),
        "print('after exit')",
    ],
    "err_chained": [
        "class AppError(Exception):\n    pass",
        "try:\n    {}['missing']\nexcept KeyError as e:\n    raise AppError('wrapped') from e",
        "print('never')",
    ],
    "repr_error": [
        "class Bad:\n    def _repr_html_(self):\n        raise RuntimeError('repr boom')\n    def __repr__(self):\n"
        "        return 'Bad()'\nBad()",
        "print('next')",
    ],
    # ---- added adversarial ------------------------------------------------
    "adv_open_file": [
        "import os\nimport tempfile\nfh = tempfile.NamedTemporaryFile('w+', delete=False)\n"
        "fh.write('line1\\nline2\\n')\nfh.flush()\nfh.seek(0)\nprint(fh.readline(), end='')",
        "print(fh.readline(), end='')",
        "fh.close()\nos.remove(fh.name)\nprint(fh.closed)",
    ],
    "adv_unmovable_readers": [
        "import sqlite3\nconn = sqlite3.connect(':memory:')\nconn.execute('create table t (x int)')\n"
        "gen = (i for i in range(100))\nprint(next(gen))",
        "conn.execute('insert into t values (1)')\nprint(next(gen))",
        "a = 10\nprint(next(gen), a)",
        "print(conn.execute('select count(*) from t').fetchone()[0], next(gen))",
        "cur = conn.cursor()\ncur.execute('select x from t')\nrows = cur.fetchall()\nprint(rows, a)",
        "print(len(rows))",
        "print(cur.rowcount, next(gen))",
        "gen = (c for c in 'xyz')\nprint(next(gen))",
        "print(next(gen))",
    ],
    "adv_aliasing": [
        "a = [1]\nb = a\nnested = {'x': a}",
        "a.append(2)",
        "print(b, nested, b is a, nested['x'] is a)",
        "b += [3]",
        "print(a)",
        "import numpy as np\narr = np.arange(6)\nview = arr[2:4]",
        "view[:] = -1",
        "print(arr)",
    ],
    "adv_default_arg": [
        "def collect(x, acc=[]):\n    acc.append(x)\n    return acc",
        "collect(1)",
        "collect(2)",
        "print(collect.__defaults__)",
    ],
    "adv_lru_cache": [
        "from functools import lru_cache\n@lru_cache(maxsize=None)\ndef slow(x):\n    print('computing', x)\n"
        "    return x * 2",
        "print(slow(1))",
        "print(slow(1))",
        "print(slow.cache_info())",
    ],
    "adv_global_stmt": [
        "counter = 0\ndef bump(n=1):\n    global counter\n    counter += n",
        "bump()",
        "bump(5)",
        "print(counter)",
        "def reset():\n    global counter, fresh\n    counter = 0\n    fresh = 'new global'",
        "reset()\nprint(counter, fresh)",
        "print(fresh)",
    ],
    "adv_closure_nonlocal": [
        "def make_counter():\n    n = 0\n    def inc():\n        nonlocal n\n        n += 1\n        return n\n"
        "    return inc\ntick = make_counter()",
        "tick()",
        "tick()",
        "tock = tick\nprint(tock(), tick())",
        "print(tick.__closure__[0].cell_contents)",
    ],
    "adv_class_state": [
        "class Account:\n    rate = 0.1\n    count = 0\n    def __init__(self, bal):\n        self.bal = bal\n"
        "        Account.count += 1",
        "acct = Account(100)",
        "Account.rate = 0.2\nAccount.describe = lambda self: 'bal=%d rate=%.1f' % (self.bal, self.rate)",
        "print(acct.describe(), Account.count)",
        "class Account:\n    rate = 0.5",
        "print(isinstance(acct, Account), acct.rate, type(acct) is Account)",
    ],
    "adv_iterators": [
        "import itertools\nit = iter([10, 20, 30, 40])\ncount = itertools.count(5)",
        "print(next(it), next(count))",
        "print(next(it), next(count))",
        "print(list(it))",
    ],
    "adv_output_history": [
        "1 + 1",
        "_ * 10",
        "print(_, __, _1, Out[2])",
        "print(In[1], '|', _i2)",
        "len(Out)",
    ],
    "adv_hash_seed": [
        "words = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig']\nh = hash('apple')\norder1 = list(set(words))",
        "print(hash('apple') == h)",
        "print(list(set(words)) == order1)",
    ],
    "adv_library_state": [
        "import pandas as pd\nimport numpy as np\nimport warnings\ndf = pd.DataFrame({'v': range(10)})",
        "pd.set_option('display.max_rows', 4)",
        "df",
        "np.set_printoptions(precision=2)",
        "print(np.array([1 / 3, 2 / 3]))",
        "warnings.filterwarnings('ignore', category=UserWarning)",
        "warnings.warn('should be hidden')\nprint('after warn')",
        "import json\njson.flag = 'set on module'",
        "print(json.flag)",
    ],
    "adv_env_state": [
        "import os\nos.environ['FLOE_CORPUS_ENV'] = 'from cell 0'",
        "%env FLOE_CORPUS_MAGIC=magic",
        "print(os.environ.get('FLOE_CORPUS_ENV'), os.getenv('FLOE_CORPUS_MAGIC'))",
    ],
    "adv_sys_state": [
        "import sys\nimport types\nsys.modules['floe_corpus_mod'] = types.ModuleType('floe_corpus_mod')\n"
        "sys.modules['floe_corpus_mod'].v = 7",
        "import floe_corpus_mod\nprint(floe_corpus_mod.v)",
        "sys.path.insert(0, '/nonexistent-floe-dir')",
        "print(sys.path[0])",
        "sys.setrecursionlimit(1234)",
        "print(sys.getrecursionlimit())",
    ],
    "adv_main_module": [
        "import __main__\n__main__.w = 4\nsetattr(__import__('sys').modules['__main__'], 'z', 5)",
        "print(w, z)",
        "get_ipython().user_ns['via_ns'] = 6",
        "print(via_ns)",
        "get_ipython().push({'pushed': 7})",
        "print(pushed)",
    ],
    "adv_filesystem_order": [
        "import os\nimport tempfile\npath = os.path.join(tempfile.mkdtemp(prefix='floe-corpus-'), 'f.txt')",
        "import time\ntime.sleep(0.5)\nwith open(path, 'w') as f:\n    f.write('v1')",
        "print(open(path).read())",
        "time.sleep(0.3)\nwith open(path, 'w') as f:\n    f.write('v2')",
        "print(open(path).read())",
        "import shutil\nshutil.rmtree(os.path.dirname(path))",
    ],
    # co-variables (issue 16, class 1): two names for one object, or for
    # one buffer; a write through one must be seen through the other
    "adv_covar_slice": [
        "import numpy as np\narr = np.arange(10)\narr_slice = arr[5:8]",
        "arr_slice[1] = 12345",
        "arr",
        "arr_slice[:] = 64\nprint(arr)",
        "rev = arr[::-1]\nevens = arr[::2]",
        "rev[0] = -7\nevens[0] = -1",
        "print(arr, arr_slice, rev[:3])",
        "arr = np.zeros(3, dtype=int)",
        "arr_slice[0] = 1\nprint(arr, arr_slice)",
    ],
    "adv_covar_list_alias": [
        "a = [1, 2, 3]\nb = a",
        "a.append(4)",
        "b",
        "print(a is b, b.pop(), a)",
        "a = ['new']",
        "a.append('x')\nb.append('y')",
        "print(a, b)",
        "d = {'k': [1]}\ne = d\nf = d['k']",
        "f.append(2)\ne['z'] = 0",
        "print(d, e is d, d['k'] is f)",
    ],
    "adv_covar_reshape": [
        "import numpy as np\nA = np.arange(12)\nB = A.reshape(3, 4)",
        "B[1, :] = 0",
        "A",
        "C = B.T\nrow = B[2]",
        "C[0, 0] = 99\nrow *= 10",
        "print(A)\nprint(B)",
        "F = np.asfortranarray(np.arange(6).reshape(2, 3))\ncol = F[:, 1]",
        "col[:] = -5\nprint(F)",
    ],
    "adv_covar_memmap": [
        "import numpy as np\nimport os\nimport tempfile\n"
        "path = os.path.join(tempfile.mkdtemp(prefix='floe-corpus-'), 'data.bin')\n"
        "mm = np.memmap(path, dtype='int32', mode='w+', shape=(10,))\nmm[:] = np.arange(10)\nmm.flush()",
        "part = mm[2:5]",
        "part[:] = -1\npart.flush()",
        "print(mm)",
        "print(np.fromfile(path, dtype='int32'))",
        "mm[9] = 900\nmm.flush()",
        "print(np.memmap(path, dtype='int32', mode='r')[7:], part)",
        "import shutil\ndel mm, part\nshutil.rmtree(os.path.dirname(path))",
    ],
    "adv_covar_containers": [
        "shared = {'n': 1}\nleft = [shared]\nright = {'k': shared}",
        "left[0]['n'] = 2",
        "print(right, shared)",
        "class Point:\n    def __init__(self):\n        self.x = 0\n\np = Point()\npts = [p, p]",
        "pts[0].x = 5",
        "print(p.x, pts[1].x, pts[0] is p)",
        "box = [left[0]]",
        "box[0]['n'] = 3",
        "print(left, right, shared, box)",
    ],
    "adv_covar_series": [
        "import pandas as pd\nimport numpy as np\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4.0, 5.0, 6.0]})\ns = df['a']",
        "s[1] = 12345",
        "df",
        "vals = df['b'].values",
        "vals[0] = -1.5",
        "print(df)\nprint(s)",
        "big = pd.DataFrame(np.arange(20).reshape(10, 2), columns=['x', 'y'])\nx = big['x']\nm = big.values",
        "x[0] = -100\nm[9, 1] = 777",
        "print(big.tail(2), big.head(1), sep='\\n')",
    ],
    "adv_covar_frame_alias": [
        "import pandas as pd\nimport numpy as np\n"
        "df = pd.DataFrame({'a': np.arange(5), 'b': np.arange(5.0), 'c': list('vwxyz')})",
        "s = df['a']\nv = df['b'].values",
        "s[0] = 99\nv[4] = -1.0",
        "print(df)",
        "df2 = df\ndf2.loc[1, 'c'] = 'Q'",
        "print(df)\nprint(s.tolist())",
    ],
    "adv_covar_two_producers": [
        "a = [1]",
        "b = [2]",
        "both = [a, b]",
        "a.append(10)",
        "b.append(20)",
        "print(both)",
        "import numpy as np\nbase = np.zeros(6)",
        "window = base[1:4]",
        "window += 1",
        "print(base)",
        "both[0].append(11)\nprint(a, b)",
    ],
    # issue 17, kernel lineage: a kernel that goes on with the next cell has
    # run floe's own work after its last one (the export pickles, walks and
    # fingerprints the cell's values): what that wrote to stdout/stderr (a
    # __reduce__ that prints or warns, numpy's FutureWarning on reading the
    # flags of np.broadcast_arrays' views) is no cell's output in Jupyter
    "adv_lineage_stray_output": [
        "import warnings\nimport numpy as np\n\n"
        "class Noisy:\n    def __init__(self, n):\n        self.n = n\n\n"
        "    def __reduce__(self):\n        print('reduced', self.n)\n"
        "        warnings.warn('Noisy pickled')\n        return (Noisy, (self.n,))",
        "noisy = Noisy(1)\nprint('made', noisy.n)",
        "print('read', noisy.n)\nnoisy = Noisy(noisy.n + 1)",
        "noisy.n",
        "x = np.arange(3)\nb, c = np.broadcast_arrays(x, np.ones((2, 3)))",
        "print(b.sum(), c.shape)",
    ],
    "adv_matplotlib_state": [
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 2))",
        "ax.plot([1, 2, 3])",
        "fig",
        "%config InlineBackend.figure_format = 'retina'",
        "plt.figure(figsize=(1, 1))\nplt.plot([0, 1])\nplt.show()",
        "plt.rcParams['lines.linewidth'] = 5",
        "plt.figure(figsize=(1, 1))\nplt.plot([0, 1])\nplt.show()",
    ],
    # issue 16, class 2: names used only inside strings (query/eval, formulas),
    # and functions/classes whose code uses eval/globals()/frames
    "adv_string_names": [
        "import pandas as pd\nimport numpy as np\nimport statsmodels.formula.api as smf",
        "df = pd.DataFrame({'births': [4000, 4500, 5000, 9000, 4200], 'day': [1, 2, 3, 4, 5]})",
        "mu = df.births.mean()\nsig = df.births.std()",
        "df.query('births > @mu - 0.5 * @sig')",
        "df1 = pd.DataFrame({'a': [1, 2]})\ndf2 = pd.DataFrame({'a': [10, 20]})",
        "pd.eval('df1 + df2')",
        "k = 3",
        "df.eval('births * @k + day')",
        "data = pd.DataFrame({'y': [1., 2., 2.5, 4., 5.5, 6.], 'x0': [1., 2., 3., 4., 5., 6.],\n"
        "                     'x1': [0.5, -1., 2., -3., 4., -5.]})",
        "res = smf.ols('y ~ x0 + np.log(np.abs(x1) + 1)', data=data).fit()\nprint(res.params.round(4))",
        "class display(object):\n    \"\"\"Display HTML representation of multiple objects\"\"\"\n"
        "    template = \"\"\"<div style=\"float: left; padding: 10px;\">\n"
        "    <p style='font-family:\"Courier New\", Courier, monospace'>{0}</p>{1}\n    </div>\"\"\"\n"
        "    def __init__(self, *args):\n        self.args = args\n\n    def _repr_html_(self):\n"
        "        return '\\n'.join(self.template.format(a, eval(a)._repr_html_())\n"
        "                         for a in self.args)\n\n    def __repr__(self):\n"
        "        return '\\n\\n'.join(a + '\\n' + repr(eval(a))\n                             for a in self.args)",
        "display('df1', 'df2')",
        "import sys\ndef lookup(name):\n    return globals()[name] * 2\ndef caller_sees(name):\n"
        "    return sys._getframe(1).f_globals[name]\ndef twice(name):\n    return lookup(name)",
        "q = 21",
        "print(twice('q'), caller_sees('q'))",
    ],
    # issue 16, class 3: a NameError (or a subclass, or a library's wrapper of
    # one) for a name an earlier cell wrote, seen by no static analysis
    "adv_name_fallback": [
        "import pandas as pd\nimport numpy as np\nimport statsmodels.formula.api as smf\nimport time",
        "data = pd.DataFrame({'y': [1., 2., 2.5, 4., 5.5, 6.], 'x0': [1., 2., 3., 4., 5., 6.],\n"
        "                     'x2': [0.5, 1., 2., 3., 4., 5.]})\nfrm = pd.DataFrame({'v': [1, 2, 3]})",
        "time.sleep(0.3)\nscale = 10",
        "formula = 'y ~ ' + ' + '.join(['x0', 'np.sqrt(x2)'])\n"
        "print(smf.ols(formula, data=data).fit().params.round(4))",
        "expr = 'frm.v * ' + 'sc' + 'ale'\npd.eval(expr)",
        "import builtins\nclass Show:\n    def _repr_html_(self):\n"
        "        return '<b>%s</b>' % getattr(builtins, 'ev' + 'al')(self.n)\n    def __repr__(self):\n"
        "        return 'Show(%r)' % getattr(builtins, 'ev' + 'al')(self.n)",
        "s = Show()\ns.n = 'sc' + 'ale'\ns",
        "try:\n    print(eval('sc' + 'ale', {}))\nexcept NameError as e:\n    print('genuine:', e)",
    ],
    # issue 16, class 4: process and library state set by calls
    "adv_library_calls": [
        "import sympy\nsympy.init_printing()",
        "x = sympy.Symbol('x')",
        "sympy.Integral(sympy.sqrt(1 / x), x)",
        "sympy.Matrix([[1, x], [x, 1]])",
        "from sklearn.linear_model import LinearRegression\nLinearRegression()",
        "from sklearn.preprocessing import StandardScaler\nStandardScaler()",
        "from sklearn.pipeline import make_pipeline\nmake_pipeline(StandardScaler(), LinearRegression())",
        "import matplotlib\nmatplotlib.use('svg')",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);",
    ],
    # issue 16 P13: a memmap whose file a later cell removed; open-world cells that never read it must run
    "adv_memmap_removed": [
        "import os\nimport tempfile\nimport numpy as np\nimport pandas as pd\n"
        "d = tempfile.mkdtemp(prefix='floe-corpus-')\npath = os.path.join(d, 'mymmap')\n"
        "PREV = pd.options.display.max_rows",
        "mmap = np.memmap(path, dtype='float64', mode='w+', shape=(10, 10))",
        "section = mmap[:5]",
        "section[:] = 1.5\nmmap.flush()\ndel mmap",
        "os.remove(path)",
        "x = np.ones(3)",
        "%xdel x",
        "pd.options.display.max_rows = PREV\nprint(PREV)",
        "import shutil\nshutil.rmtree(d)",
    ],
    # issue 16 P11: init_printing bound by a star import, called in one cell and again in a later one
    "adv_sympy_star": [
        "from sympy import *\ninit_printing()",
        "x = Symbol('x')",
        "(pi + x)**2",
        "Integral(sqrt(1 / x), x)",
        "init_printing(use_latex=False)",
        "Matrix([[1, x], [x, 1]])",
    ],
    # issue 16, class 5: values that must round-trip exactly between kernels
    "adv_roundtrip": [
        "import pandas as pd\nimport numpy as np\n"
        "data = pd.DataFrame({'z': [1, 2], 'a': [3, 4], 'm': [5, 6]}, index=['b', 'a'])\ndata.columns.name = 'col'",
        "stacked = data.stack()",
        "stacked",
        "stacked.unstack()",
        "cat = pd.Series(pd.Categorical(['lo', 'hi', 'lo'], categories=['lo', 'hi'], ordered=True), name='c')\n"
        "ts = pd.Series([1.5, 2.5, 3.5], index=pd.date_range('2020-01-01', periods=3, freq='D'))\n"
        "ts.attrs['unit'] = 'kg'\nmi = pd.DataFrame({'v': [1, 2, 3]}, index=pd.MultiIndex.from_tuples(\n"
        "    [('y', 2), ('x', 1), ('y', 1)], names=['k', None]))",
        "print(cat.cat.categories.tolist(), cat.cat.ordered, cat.dtype)\n"
        "print(ts.index.freq, ts.attrs)\nprint(mi.index.levels, mi.index.names)\nmi.unstack()",
    ],
    # issue 16, class 6: files touched by shell commands; commands that print nothing
    "adv_shell_files": [
        "import os\nimport time\nos.makedirs('/tmp/floe_adv_shell', exist_ok=True)\ntime.sleep(0.3)\n"
        "with open('/tmp/floe_adv_shell/a.txt', 'w') as f:\n    f.write('one\\n')",
        "!cat /tmp/floe_adv_shell/a.txt",
        "!echo two >> /tmp/floe_adv_shell/a.txt",
        "print(open('/tmp/floe_adv_shell/a.txt').read())",
        "%%bash\nwc -l < /tmp/floe_adv_shell/a.txt",
        "import subprocess\nr = subprocess.run(['sh', '-c', 'echo three >> /tmp/floe_adv_shell/a.txt'])",
        "# os.system's own output goes to the kernel's terminal in Jupyter, not reliably to the notebook:\n"
        "# the file it writes is what is compared\n"
        "os.system('cat /tmp/floe_adv_shell/a.txt > /tmp/floe_adv_shell/b.txt')\n"
        "print(open('/tmp/floe_adv_shell/b.txt').read())",
        "!rm /tmp/floe_adv_shell/a.txt",
        "!rm -f /tmp/floe_adv_shell/none",
        "print(os.path.exists('/tmp/floe_adv_shell/a.txt'))",
    ],
    # issue 16, class 7: Jupyter's kernel surface
    "adv_kernel_surface": [
        "ip = get_ipython()\nprint(ip.history_manager.hist_file)",
        "k = ip.kernel\nprint(hasattr(k, 'comm_manager'), hasattr(k, 'iopub_socket'))",
        "k.session.send(k.iopub_socket, 'display_data', {'data': {'text/plain': 'sent'}, 'metadata': {},\n"
        "               'transient': {'display_id': 'sd'}}, parent=k.get_parent());",
        "k.session.send(k.iopub_socket, 'update_display_data', {'data': {'text/plain': 'updated'}, 'metadata': {},\n"
        "               'transient': {'display_id': 'sd'}}, parent=k.get_parent());",
        "k.session.send(k.iopub_socket, 'execute_result', {'data': {'text/plain': 'result'}, 'metadata': {},\n"
        "               'execution_count': 5}, parent=k.get_parent());",
    ],
}


def cell(c, i):
    tags, md = [], False
    if isinstance(c, tuple):
        if c[0] == "md":
            md, c = True, c[1]
        else:
            tags, c = c
    d = {"cell_type": "markdown" if md else "code", "id": "c%02d" % i, "metadata": {"tags": tags} if tags else {},
         "source": c}
    if not md:
        d["execution_count"] = None
        d["outputs"] = []
    return d


def main():
    for name, cells in NOTEBOOKS.items():
        nb = {"cells": [cell(c, i) for i, c in enumerate(cells)],
              "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
              "nbformat": 4, "nbformat_minor": 5}
        with open(os.path.join(HERE, name + ".ipynb"), "w") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print("wrote %d notebooks" % len(NOTEBOOKS))


if __name__ == "__main__":
    main()
