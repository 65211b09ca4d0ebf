"""One cell kernel: runs cells sent by floe in the shared IPython shell.

In monolithic mode one kernel runs every cell with one namespace. In the
isolated modes a fresh kernel (forked from the zygote) runs one cell: it
imports the artifacts floe lists, runs the cell, and exports every top-level
name the cell bound, rebound, deleted or mutated in place. A read that the
static prediction missed is resolved lazily: the cell's builtins mapping
asks floe for the name on a miss (see LazyBuiltins)."""
import builtins
import functools
import getpass
import os
import re
import signal
import sys
import threading
import time
import types

from . import chaos, covars, proto, protocol, store

try:  # the C extension (python/ext): without it, no hook (a module imported and changed in one cell is missed)
    from ._floe_covars import import_hook as _import_hook
except ImportError:  # pragma: no cover - the extension is built by make
    _import_hook = None

_INTERNAL = re.compile(r"^(_|__|___|_i|_ii|_iii|_i\d+|_\d+|_oh|_ih|_dh|In|Out|get_ipython|exit|quit|__\w*__)$")


@functools.lru_cache(maxsize=1 << 16)
def _internal(name):
    """Whether name is IPython's or Python's, not the notebook's (_INTERNAL),
    memoised: asked for every name of the namespace a few times a cell."""
    return _INTERNAL.match(name) is not None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MEM = [0, 0, 0, 0]  # pid, private bytes and anonymous resident bytes at the last exact read, reads since


def _anon_bytes():
    """Resident memory not backed by a file (statm: resident - shared), or None."""
    try:
        with open("/proc/self/statm") as f:
            parts = f.read().split()
        return (int(parts[1]) - int(parts[2])) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _private_bytes():
    """The memory only this process has (private pages: what its exit would
    free, the zygote's shared pages not counted), for floe's memory budget
    of kept kernels; 0 when unknown. Read exactly (smaps_rollup) only when
    the anonymous resident memory moved by 16 MB since the last exact read,
    or every 32nd cell, or in a new process (a fork): smaps_rollup costs 1-3
    ms in a kernel with pandas loaded, most of a short cell's overhead
    (bench/overhead.py); in between, the last exact value plus that move
    (statm, microseconds). Pages shared with the zygote that a cell writes
    become private unseen until the next exact read."""
    anon = _anon_bytes()
    pid = os.getpid()
    if anon is not None and _MEM[0] == pid and _MEM[3] < 32 and abs(anon - _MEM[2]) < (16 << 20):
        _MEM[3] += 1
        return max(0, _MEM[1] + anon - _MEM[2])
    try:
        with open("/proc/self/smaps_rollup") as f:
            exact = sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Private_"))
    except (OSError, ValueError, IndexError):
        return 0
    _MEM[:] = [pid, exact, anon if anon is not None else 0, 0 if anon is not None else 32]
    return exact


_PROFILE = os.environ.get("FLOE_KERNEL_PROFILE")


def _threads():
    """Threads alive besides floe's own: (Python threads, OS threads). The
    first may print into a later cell's outputs; the second makes a fork
    unsafe: a fork copies the calling thread only, so a thread pool of
    native code is gone in the child, which may wait for it forever
    (libgomp, OpenMP's runtime, after scikit-learn's pairwise distances:
    the child's next parallel region hangs in GOMP_parallel)."""
    ts = threading.enumerate()
    py = sum(1 for t in ts if not t.name.startswith("floe-"))
    own = {t.native_id for t in ts if t.name.startswith("floe-")}
    try:
        tids = {int(t) for t in os.listdir("/proc/self/task")}
    except (OSError, ValueError):
        return py, py
    return py, len(tids - own)


def _now():
    return time.monotonic_ns() // 1000


# Process state is program state like any variable: a cell that seeds or
# draws from `random` or `numpy.random` changes what later cells draw, one
# that changes directory changes what they open, one that sets an
# environment variable, sys.path, the recursion limit, a warnings filter,
# numpy's print options, a pandas option or a matplotlib rcParam changes
# what later cells print. Isolated kernels carry all of it as one
# pseudo-artifact under this name (the analyser makes cells that change
# the non-random parts barriers, so later cells start after them).
RNG = "__floe_state__"
try:  # the directory kernels start in (the zygote's): a state's cwd, when it is this, means "where you started"
    _START_CWD = os.getcwd()
except OSError:
    _START_CWD = None

# The files a child process used, unknown: reported as one written file.
CHILD_FILES = "<child process>"


def _pd_config():
    pd = sys.modules.get("pandas")
    cfg = getattr(getattr(getattr(pd, "_config", None), "config", None), "_global_config", None)
    return cfg if isinstance(cfg, dict) else None


def _mpl_rc():
    mpl = sys.modules.get("matplotlib")
    rc = getattr(mpl, "rcParams", None)
    return rc if isinstance(rc, dict) else None


# Library state set by calls (issue 16, class 4), carried with the rest:
# sympy's init_printing() (it registers IPython display formatters: the
# call is recorded and replayed), scikit-learn's counter of HTML reprs
# (sk-container-id-N), and pyplot's backend (matplotlib.use('svg')).
_SYMPY_CALLS = []
_SK_REPR = "sklearn.utils._estimator_html_repr"


_SYMPY_ORIG = None


def _sympy_init_printing(*args, **kwargs):
    """sympy's init_printing, recorded for later kernels. At module level,
    so that it moves by reference: `from sympy import *` binds it into the
    notebook's namespace, and a reader must get this function, not a copy
    rebuilt with the notebook's globals (NameError on _SYMPY_CALLS)."""
    if _SYMPY_ORIG is None:
        import sympy.interactive.printing  # noqa: F401 - a kernel that never loaded sympy
        _patch_sympy()
    _SYMPY_CALLS[:] = [(args, {k: v for k, v in kwargs.items() if k != "ip"})]
    return _SYMPY_ORIG(*args, **kwargs)


_sympy_init_printing._floe = True


def _patch_sympy():
    """Wraps sympy's init_printing so that a call is recorded; once, in
    the zygote (sympy preloaded) or in the first cell that has it."""
    global _SYMPY_ORIG
    sp = sys.modules.get("sympy")
    printing = sys.modules.get("sympy.interactive.printing")
    if sp is None or printing is None or getattr(printing.init_printing, "_floe", False):
        return ()
    orig = _SYMPY_ORIG = printing.init_printing
    init_printing = _sympy_init_printing
    init_printing._floe_orig = orig
    init_printing.__doc__ = orig.__doc__
    init_printing.__wrapped__ = orig
    changed = []
    for mod in (printing, sys.modules.get("sympy.interactive"), sp):
        if mod is not None and getattr(mod, "init_printing", None) is orig:
            mod.init_printing = init_printing
            changed.append(mod)
    return changed


_EMPTY_CALL = re.compile(r"((?:[A-Za-z_]\w*\.)*)(empty|empty_like)\s*\(")


def _unguaranteed(code, ns):
    """Why this cell's output may differ from Jupyter's whatever floe does,
    or None. numpy.empty and empty_like return uninitialised memory: in
    Jupyter's one process often the buffer an earlier cell just freed
    (`np.ones(3)`, then `np.empty(3)` shows ones), in another process
    whatever its allocator hands out -- monolithic mode included, whose
    kernel allocates differently between cells (issue 16, P6)."""
    np = sys.modules.get("numpy")
    if np is None or "empty" not in code:
        return None
    for m in _EMPTY_CALL.finditer(code):
        prefix, fn = m.group(1).rstrip("."), m.group(2)
        obj = ns.get(prefix.split(".")[0]) if prefix else ns.get(fn)
        for part in prefix.split(".")[1:]:
            obj = getattr(obj, part, None)
        if prefix:
            obj = getattr(obj, fn, None)
        if obj is getattr(np, fn, None):
            return ("numpy.%s returns uninitialised memory: the values it shows depend on the allocator, and "
                    "floe cannot guarantee Jupyter's" % fn)
    return None


_SK_COUNTERS = ("_CONTAINER_ID_COUNTER", "_ESTIMATOR_ID_COUNTER")


def _sk_counters():
    """scikit-learn's id counters of HTML reprs, as ints (an _IDCounter's
    `count`, or an itertools.count's next value), or None."""
    mod = sys.modules.get(_SK_REPR)
    if mod is None:
        return None
    out = []
    for name in _SK_COUNTERS:
        c = getattr(mod, name, None)
        n = getattr(c, "count", None)
        if not isinstance(n, int):
            m = re.match(r"count\((\d+)\)", repr(c))
            n = ("it", int(m.group(1))) if m else None
        out.append(n)
    return out


def _sk_apply(values):
    import importlib
    import itertools
    mod = importlib.import_module(_SK_REPR)
    for name, n in zip(_SK_COUNTERS, values):
        c = getattr(mod, name, None)
        if isinstance(n, int) and isinstance(getattr(c, "count", None), int):
            c.count = n
        elif isinstance(n, tuple):
            setattr(mod, name, itertools.count(n[1]))


def _ip_plain():
    """IPython's text/plain formatter (its float format: %precision), or None."""
    try:
        return Kernel.shell.shell.display_formatter.formatters["text/plain"]
    except Exception:  # noqa: BLE001 - no shell yet
        return None


def _library_state(st):
    if _SYMPY_CALLS:
        st["sympy_printing"] = list(_SYMPY_CALLS)
    fmt = _ip_plain()
    if fmt is not None:
        st["ip_float"] = [fmt.float_precision, fmt.float_format]
    dec = sys.modules.get("decimal")
    if dec is not None:
        c = dec.getcontext()
        st["decimal"] = [c.prec, c.rounding, c.Emin, c.Emax, c.capitals, c.clamp,
                         sorted(s.__name__ for s, on in c.traps.items() if on)]
    n = _sk_counters()
    if n is not None:
        st["sk_counters"] = n
    cfg = _inline_backend()
    if cfg is not None:
        st["inline"] = [sorted(cfg.figure_formats), dict(cfg.print_figure_kwargs), bool(cfg.close_figures),
                        dict(cfg.rc)]
    return st


def _inline_backend():
    """The inline backend's configuration (`%config InlineBackend.figure_format
    = 'retina'` and the like: which figure formats cells display, with which
    print_figure options), or None while no cell has made it."""
    mod = sys.modules.get("matplotlib_inline.config")
    cls = getattr(mod, "InlineBackend", None)
    try:
        return cls.instance() if cls is not None and cls.initialized() else None
    except Exception:  # noqa: BLE001 - its internals moved
        return None


def _library_apply(st):
    if st.get("sympy_printing") and not _SYMPY_CALLS:
        __import__("sympy")
        _patch_sympy()
        args, kwargs = st["sympy_printing"][0]
        if "ip" not in kwargs and len(args) < 14 and Kernel.shell is not None:  # not in a cell: no get_ipython builtin
            kwargs = dict(kwargs, ip=Kernel.shell.shell)
        __import__("sympy").init_printing(*args, **kwargs)
    if st.get("sk_counters") is not None:
        _sk_apply(st["sk_counters"])
    fmt = _ip_plain()
    if fmt is not None and st.get("ip_float"):
        # the trait's value without its observer (which would reset numpy's
        # print precision, carried on its own)
        fmt._trait_values["float_precision"], fmt.float_format = st["ip_float"]
    if st.get("inline"):
        _inline_apply(st["inline"])
    if st.get("decimal"):
        dec = __import__("decimal")
        c = dec.getcontext()
        c.prec, c.rounding, c.Emin, c.Emax, c.capitals, c.clamp, traps = st["decimal"]
        for s in c.traps:
            c.traps[s] = s.__name__ in traps


def _inline_apply(inline):
    """The inline backend configured as an earlier cell left it; assigning
    a trait that changed runs the backend's own observer, which selects the
    shell's figure formatters as `%config` does."""
    formats, kwargs, close, rc = inline
    from matplotlib_inline.config import InlineBackend
    cfg = InlineBackend.instance()
    if cfg.shell is None and Kernel.shell is not None:
        cfg.shell = Kernel.shell.shell
    if dict(cfg.rc) != rc:
        cfg.rc = rc
    if bool(cfg.close_figures) != close:
        cfg.close_figures = close
    if dict(cfg.print_figure_kwargs) != kwargs:
        cfg.print_figure_kwargs = kwargs
    if sorted(cfg.figure_formats) != formats:
        cfg.figure_formats = set(formats)


# Whether a seed is in effect for the global generators (random's and
# numpy.random's): set by their seed()/setstate()/set_state() (wrapped at
# each cell's start, so a call from any code counts) and carried with the
# process state. A draw from an unseeded generator is not reproducible, in
# Jupyter either: such a cell does not write the state (it is neither ordered
# nor re-run on by later drawers); it still reads it, so a seed set by an
# earlier cell that finishes later re-runs it.
_SEEDED = [False]
_SEEDERS = (("random", ("seed", "setstate")), ("numpy.random", ("seed", "set_state")))
# Their state readers: a cell that reads a generator's state before seeding
# it depends on the state it was given.
_STATE_READERS = (("random", ("getstate",)), ("numpy.random", ("get_state",)))
# While a cell runs: each global generator's state as the cell got it (the
# index of _rng_fingerprint's list), and, per generator, whether the cell's
# first seed (or state read) of it came while it still had that state
# (True: nothing drew from it before; a read of the state counts as False).
_GEN_NAMES = ("random", "numpy.random")
_GEN0 = {}
_FRESH = {}


def _gen_state(modname):
    """A global generator's state, comparable with == (numpy's key array as
    bytes), read past floe's wrapper."""
    mod = sys.modules.get(modname)
    f = getattr(mod, "getstate" if modname == "random" else "get_state", None)
    f = getattr(f, "_floe_orig", f)
    st = f()
    if modname == "random":
        return st
    kind, keys, pos, has_gauss, gauss = st
    return (kind, keys.tobytes(), pos, has_gauss, gauss)


def _wrap_seeders():
    """Returns the modules it changed."""
    changed = []
    for (modname, names), reader in [(s, False) for s in _SEEDERS] + [(s, True) for s in _STATE_READERS]:
        mod = sys.modules.get(modname)
        for name in names if mod is not None else ():
            f = getattr(mod, name, None)
            if f is None or getattr(f, "_floe_seeder", False):
                continue

            def seeder(*a, _f=f, _m=modname, _reader=reader, **k):
                if _GEN0 and _m not in _FRESH:
                    try:
                        _FRESH[_m] = not _reader and _GEN0.get(_m) is not None and _gen_state(_m) == _GEN0[_m]
                    except Exception:  # noqa: BLE001 - the cell's state counts as read
                        _FRESH[_m] = False
                if not _reader:
                    _SEEDED[0] = True
                return _f(*a, **k)
            seeder._floe_seeder = True
            seeder._floe_orig = f
            seeder.__name__, seeder.__doc__ = getattr(f, "__name__", name), getattr(f, "__doc__", None)
            setattr(mod, name, seeder)
            changed.append(mod)
    return changed


def _rng_fresh(rng0, rng1):
    """Whether a cell's results owe nothing to the random state it was
    given: every global generator it changed it seeded first (set_state
    included) before drawing from it or reading its state, and it changed
    no other process state. Such a cell still writes the state (later
    drawers read what it left), but does not read it: nothing re-runs it
    when an earlier cell's seed lands after it started (pdsh 04.11: seven
    cells calling a function that seeds numpy, each re-run once it had run
    beside the one before)."""
    if rng0[1] != rng1[1]:
        return False
    changed = [i for i in range(len(rng1[0])) if i >= len(rng0[0]) or rng0[0][i] != rng1[0][i]]
    return bool(changed) and all(i < len(_GEN_NAMES) and _FRESH.get(_GEN_NAMES[i]) for i in changed)


def _rng_state():
    import warnings
    st = {"random": __import__("random").getstate(), "seeded": _SEEDED[0], "cwd": os.getcwd(), "cwd0": _START_CWD,
          "env": dict(os.environ),
          "path": list(sys.path), "recursion": sys.getrecursionlimit(), "warnings": list(warnings.filters)}
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            st["numpy"] = np.random.get_state()
            st["np_print"] = np.get_printoptions()
        except Exception:  # noqa: BLE001 - numpy half-imported
            pass
    cfg = _pd_config()
    if cfg is not None:
        import copy
        st["pandas"] = copy.deepcopy(cfg)
    rc = _mpl_rc()
    if rc is not None:
        st["mpl_rc"] = dict.copy(rc)
    mods = _runtime_modules(True)
    if mods:
        st["modules"] = mods
    return _library_state(st)


# Modules made at run time (a types.ModuleType a cell put in sys.modules: no
# spec, nothing on disk an `import` in another kernel would find), carried
# with the process state as their attributes. Names noted in order.
_RUNTIME_MODS = {}
_MOD_META = ("__name__", "__doc__", "__package__", "__loader__", "__spec__")


def _note_runtime_modules(n0):
    """Modules added to sys.modules since it had n0 entries (a dict keeps
    insertion order) that no import made: not the helper modules extensions
    create while imported (pyexpat.errors, Cython's runtime)."""
    import itertools
    for name in list(itertools.islice(sys.modules, n0, None)):
        m = sys.modules.get(name)
        if not isinstance(m, types.ModuleType) or getattr(m, "__spec__", None) is not None:
            continue
        parent = sys.modules.get(name.rpartition(".")[0])
        if name in ("__main__", "__mp_main__") or "cython" in name or \
                (parent is not None and getattr(parent, "__spec__", None) is not None):
            continue
        _RUNTIME_MODS[name] = None


def _runtime_modules(for_state):
    """name -> attributes of the run-time modules (for the state: only what
    pickles; a module with an attribute that does not is left out)."""
    out = {}
    for name in _RUNTIME_MODS:
        m = sys.modules.get(name)
        if not isinstance(m, types.ModuleType):
            continue
        attrs = {k: v for k, v in vars(m).items() if k not in _MOD_META}
        if for_state:
            try:
                store.dumps(attrs)
            except Exception:  # noqa: BLE001 - cannot be carried: a reader will not find it
                continue
        out[name] = attrs
    return out


def _runtime_modules_apply(mods):
    for name, attrs in mods.items():
        m = sys.modules.get(name)
        if not isinstance(m, types.ModuleType) or getattr(m, "__spec__", None) is not None:
            m = sys.modules[name] = types.ModuleType(name)
        m.__dict__.update(attrs)
        _RUNTIME_MODS[name] = None


def _flat(d, prefix="", out=None):
    out = {} if out is None else out
    for k, v in d.items():
        if isinstance(v, dict):
            _flat(v, prefix + k + ".", out)
        else:
            out[prefix + k] = v
    return out


def _rng_fingerprint():
    """A snapshot of the process state, compared with == before and after a
    cell (copies of the containers, no repr: this runs twice per cell): the
    global generators' states, and the rest."""
    import warnings
    gen = [__import__("random").getstate()]
    # os.environ's encoded mapping: a copy without decoding every entry
    env = getattr(os.environ, "_data", None)
    rest = [os.getcwd(), dict(env) if isinstance(env, dict) else dict(os.environ), list(sys.path),
            sys.getrecursionlimit(), list(warnings.filters)]
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            gen.append(_gen_state("numpy.random"))
            rest.append(np.get_printoptions())
        except Exception:  # noqa: BLE001 - numpy half-imported
            pass
    cfg = _pd_config()
    if cfg is not None:
        rest.append(_flat(cfg))
    rc = _mpl_rc()
    if rc is not None:
        rest.append(dict(dict.items(rc)))  # the stored values: RcParams.__getitem__ per key is 8x slower
    rest.append(_library_state({}))
    if _RUNTIME_MODS:
        rest.append(_runtime_modules(False))
    return gen, rest


def _state_hash(st):
    """The process state's content hash, for the cache: what a cell printing
    under it depends on. Unseeded generators' states (new in every run) and
    floe's own environment variables are left out, so that a cell after a
    state change can be restored in a later run."""
    import hashlib
    import pickle
    key = {k: v for k, v in st.items() if st.get("seeded") or k not in ("random", "numpy")}
    if "env" in key:
        key["env"] = {k: v for k, v in key["env"].items() if not k.startswith("FLOE_")}
    return hashlib.blake2b(pickle.dumps(key, protocol=4), digest_size=16).hexdigest()


def _rest_hash(rest):
    """The hash of _rng_fingerprint's process state besides the generators
    (floe's own environment variables left out), or None: what a cell that
    seeded its generators itself still depends on (core.c rng_rest_same)."""
    import hashlib
    import pickle
    try:
        r = list(rest)
        r[1] = {k: v for k, v in r[1].items()
                if not (k.startswith(b"FLOE_") if isinstance(k, bytes) else str(k).startswith("FLOE_"))}
        return hashlib.blake2b(pickle.dumps(r, protocol=4), digest_size=16).hexdigest()
    except Exception:  # noqa: BLE001 - unpicklable state: the cell counts as reading it
        return None


def _state_changed(before, after):
    try:
        return bool(before != after)
    except Exception:  # noqa: BLE001 - a value whose == does not give a bool: assume changed
        return True


def _rng_apply(st):
    __import__("random").setstate(st["random"])
    cwd = st.get("cwd")
    if cwd and cwd == st.get("cwd0") and _START_CWD:
        # the directory its kernel started in: this kernel's own (the same one,
        # except on Dask workers that each have a directory of their own)
        cwd = _START_CWD
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    if "env" in st:
        for k in [k for k in os.environ if k not in st["env"]]:
            del os.environ[k]
        for k, v in st["env"].items():
            if os.environ.get(k) != v:
                os.environ[k] = v
    if "path" in st:
        sys.path[:] = st["path"]
    if "recursion" in st:
        sys.setrecursionlimit(st["recursion"])
    if "modules" in st:
        _runtime_modules_apply(st["modules"])
    if "warnings" in st:
        import warnings
        warnings.filters[:] = st["warnings"]
        warnings._filters_mutated()
    if "numpy" in st:
        import numpy as np
        np.random.set_state(st["numpy"])
        if "np_print" in st:
            np.set_printoptions(**st["np_print"])
    _SEEDED[0] = bool(st.get("seeded", True))
    if "pandas" in st:
        __import__("pandas")
        cfg = _pd_config()
        if cfg is not None:
            cfg.clear()
            cfg.update(st["pandas"])
    if "mpl_rc" in st:
        __import__("matplotlib")
        rc = _mpl_rc()
        if rc is not None:
            backend = dict.get(rc, "backend")
            dict.update(rc, st["mpl_rc"])
            # matplotlib.use('svg') in an earlier cell: pyplot switches too
            plt = sys.modules.get("matplotlib.pyplot")
            want = dict.get(rc, "backend")
            if plt is not None and want != backend:
                dict.__setitem__(rc, "backend", backend)
                plt.switch_backend(want)
    try:
        _library_apply(st)
    except Exception as e:  # noqa: BLE001 - the state that could be carried is
        if os.environ.get("FLOE_DEBUG"):
            sys.__stderr__.write("floe: library state not carried: %r\n" % e)


def _pandas_as_in_jupyter():
    """pandas decides at import whether it runs in a terminal (no shell with
    a `kernel` attribute yet): preloaded in the zygote before the shell
    exists, it took display.max_columns = 0 (fit the terminal). Jupyter's
    kernel gets 20; so does floe's, default value included."""
    pd = sys.modules.get("pandas")
    try:
        cfg = pd._config.config
        ro = cfg._registered_options.get("display.max_columns")
        if ro is not None and ro.defval == 0 and pd.get_option("display.max_columns") == 0:
            cfg._registered_options["display.max_columns"] = ro._replace(defval=20)
            pd.set_option("display.max_columns", 20)
    except Exception:  # noqa: BLE001 - no pandas, or its internals moved
        pass


class CellBuiltins(dict):
    """A cell's builtins mapping (its `__import__` is floe's hook): also
    read as the module it stands for (`__builtins__.len`), as in Jupyter."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError("module 'builtins' has no attribute %r" % name) from None


class LazyBuiltins(CellBuiltins):
    """The builtins mapping of a cell's globals. Holds the real builtins; a
    name found neither in the globals nor here is asked of floe, imported
    into the globals, and returned (or raises KeyError -> NameError)."""

    def __init__(self, resolver, ns):
        super().__init__(builtins.__dict__)
        self._resolver = resolver
        self._ns = ns

    def __missing__(self, name):
        # eval/exec with globals of their own ({} gets these builtins too)
        # see no notebook names, as in Jupyter: only code whose globals
        # are the cell's namespace resolves lazily
        if sys._getframe(1).f_globals is not self._ns:
            raise KeyError(name)
        return self._resolver(name)


class FileInputs:
    """Records the files a cell opens (audit hooks): those it reads, so the
    cache can invalidate the cell when one changes, and those it writes,
    renames or removes, so that a later cell that read one of them while
    this cell ran (parallel mode) runs again -- files are a channel between
    cells like variables. Files of the Python installation and of floe's
    run directory are neither."""

    recording = None  # set of paths read, during a cell
    writing = None    # set of paths written
    truncating = None  # of those, the ones written from scratch (mode w/x, O_TRUNC, removed)
    creating = None   # path -> read before: the files and directories this cell created (see scratch)
    entries = None    # paths this cell created, removed or renamed: their directories' listings changed
    gone = ()         # after scratch(): the cell's scratch files (created, then gone again)
    skip = ()
    # event -> (index of a path argument, index of its dir_fd argument or None)
    _WRITE_EVENTS = {"os.rename": ((0, 2), (1, 3)), "os.remove": ((0, 1),), "os.rmdir": ((0, 1),),
                     "os.truncate": ((0, None),), "shutil.rmtree": ((0, 1),), "os.link": ((1, 3),),
                     "os.symlink": ((1, 2),), "os.mkdir": ((0, 2),)}
    _lstat = staticmethod(os.lstat)  # not the wrapped one: looking is no read of the cell's

    @classmethod
    def start(cls):
        """A cell begins: returns the sets of paths it reads, writes and truncates."""
        cls.creating, cls.entries = {}, set()
        cls.writing, cls.truncating = set(), set()
        cls.recording = set()
        return cls.recording, cls.writing, cls.truncating

    @classmethod
    def scratch(cls):
        """A cell ended: the files and directories it created that are gone
        again (a formatter's or library's scratch files: sympy's preview
        writes texput.tex in a temporary directory it removes) were no
        channel to any other cell: they leave the written sets, and the
        read set unless read before the cell created them; they stay in
        `gone`, as two cells using one such name at once still race (both
        write and remove ./scratch.tmp: one's remove fails). Returns the
        directories whose listings the cell changed otherwise (a cell that
        lists one, os.listdir, os.scandir, glob, pathlib, read it)."""
        gone = []
        for path, read_before in (cls.creating or {}).items():
            try:
                cls._lstat(path)
                continue
            except OSError:
                pass
            gone.append(path)
            cls.writing.discard(path)
            cls.truncating.discard(path)
            if not read_before:
                cls.recording.discard(path)
        dirs = {os.path.dirname(p) for p in (cls.entries or ()) if p not in gone}
        cls.creating = cls.entries = None
        cls.gone = gone
        return sorted(d for d in dirs if d and not os.path.join(d, "").startswith(cls.skip))

    @classmethod
    def _created(cls, path):
        """path is about to be created by this cell unless it exists."""
        if path in cls.creating:
            return
        try:
            cls._lstat(path)
        except OSError:
            cls.creating[path] = path in cls.recording
            cls.entries.add(path)

    @classmethod
    def install(cls):
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/lib/python3", "/usr/share", "/proc",
                    "/sys", "/dev", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        try:
            import site
            prefixes.update(site.getsitepackages())
        except Exception:  # noqa: BLE001
            pass
        cls.skip = tuple(os.path.join(p, "") for p in prefixes if p)
        sys.addaudithook(cls._hook)
        cls._wrap_probes()

    @classmethod
    def _wrap_probes(cls):
        """A cell can use a file without opening it: os.path.exists, isfile,
        getsize, getmtime, pathlib's exists() and IPython's Image('f.png')
        (which takes a name that is not a file for data) look at it through
        os.stat, os.lstat or os.access, which raise no audit event. Those
        are reads too, so that such a cell that ran before the earlier cell
        writing the file runs again after it (issue 16, P4). Wrapped at
        module level, where genericpath and pathlib look them up; the
        os.supports_* sets get the wrappers beside the originals."""
        import functools
        for name in ("stat", "lstat", "access"):
            orig = getattr(os, name, None)
            if orig is None or getattr(orig, "__wrapped__", None) is not None:
                continue

            def probe(path, *a, _orig=orig, **kw):
                if cls.recording is not None:
                    cls._read(path)
                return _orig(path, *a, **kw)
            functools.update_wrapper(probe, orig)
            for s in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks, os.supports_effective_ids):
                if orig in s:
                    s.add(probe)
            setattr(os, name, probe)

    @classmethod
    def _read(cls, p):
        try:
            path = cls._path(p)
        except OSError:  # the working directory is gone: the call says so itself
            return
        if path is not None and cls.recording is not None:
            cls.recording.add(path)

    @classmethod
    def _import(cls, name, path):
        """An import of a module not loaded yet (audit event "import"): the
        files it would be found in, outside the Python installation (the
        notebook's directory: `%%file mymodule.py`, then `import mymodule`),
        are reads, whether or not they exist yet."""
        if not isinstance(name, str):
            return
        head, _, last = name.rpartition(".")
        if head:
            parent = sys.modules.get(head)
            dirs = list(getattr(parent, "__path__", None) or ())
        else:
            dirs = list(path if path is not None else sys.path)
        for d in dirs:
            if not isinstance(d, str):
                continue
            try:
                d = os.path.abspath(d or os.getcwd())
            except OSError:
                continue
            if d.startswith(cls.skip):
                continue
            cls._read(os.path.join(d, last + ".py"))
            cls._read(os.path.join(d, last, "__init__.py"))

    @classmethod
    def _path(cls, p, dir_fd=None):
        """The absolute path p names, or None (a descriptor, a file of the
        installation). A relative p with a dir_fd (shutil.rmtree removes
        a tree through descriptors) is relative to that directory, not to
        the working directory."""
        if isinstance(p, int):
            return None  # a file descriptor
        try:
            p = os.fsdecode(os.fspath(p))
            if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(p):
                p = os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), p)
            p = os.path.abspath(p)
        except (TypeError, ValueError, OSError):
            return None
        return None if p.startswith(cls.skip) else p

    @classmethod
    def _hook(cls, event, args):
        rec = cls.recording
        if rec is None:
            return
        if event == "open":
            path = cls._path(args[0])
            if path is None:
                return
            mode, flags = args[1], args[2]
            write = bool(mode and any(ch in mode for ch in "wax+")) or \
                (isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)))
            if write:
                if cls.creating is not None and ((mode and mode[0] in "wxa") or
                                                 (isinstance(flags, int) and flags & os.O_CREAT)):
                    cls._created(path)
                cls.writing.add(path)
                if (mode and mode[0] in "wx") or (isinstance(flags, int) and flags & (os.O_TRUNC | os.O_EXCL)):
                    cls.truncating.add(path)
            if not write or "+" in (mode or ""):
                rec.add(path)
            return
        if event == "import":
            cls._import(args[0], args[2] if len(args) > 2 else None)
            return
        if event in ("os.listdir", "os.scandir"):  # a listing reads the directory
            path = cls._path("." if args[0] is None else args[0])
            if path is not None:
                rec.add(path)
            return
        which = cls._WRITE_EVENTS.get(event)
        if which:
            for i, fd in which:
                path = cls._path(args[i], args[fd] if fd is not None and fd < len(args) else None) \
                    if i < len(args) else None
                if path is None:
                    continue
                if event == "os.mkdir":
                    try:  # os.makedirs(d, exist_ok=True) of a directory that is there: a look, no write
                        cls._lstat(path)
                        rec.add(path)
                        continue
                    except OSError:
                        if cls.creating is not None:
                            cls._created(path)
                elif event != "os.truncate" and cls.entries is not None:
                    cls.entries.add(path)
                cls.writing.add(path)
                cls.truncating.add(path)


class Kernel:
    shell = None
    base = frozenset()

    @classmethod
    def prepare(cls):
        """Builds the shell once, in the zygote, before any fork."""
        from .shell import CellShell
        cls.shell = CellShell()
        # One throw-away cell so that lazy imports and caches inside IPython
        # are filled before forking: every kernel then starts warm.
        try:
            cls.shell.run_cell("pass", 0, lambda msg: None)
        except Exception:  # noqa: BLE001 - warm-up is best effort
            pass
        cls.shell.forget_history()
        _pandas_as_in_jupyter()
        # the process-state snapshot once (every cell takes two): IPython
        # makes its display formatters on first use, 15-45 ms that every
        # forked kernel paid again in its first cell's snapshot
        try:
            _rng_fingerprint()
        except Exception:  # noqa: BLE001 - warm-up is best effort
            pass
        # pyplot preloaded: resolve its backend now, as the first plot in a
        # Jupyter kernel does, so that every kernel shows figures as PNG --
        # also a Figure made in another cell and only displayed in this one
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt._get_backend_mod()
            except Exception:  # noqa: BLE001 - no backend: figures show as text, as in Jupyter
                pass
        _patch_sympy()
        cls.base = frozenset(cls.shell.user_ns)
        # the codecs' modules (and the Arrow extension) load once, here
        if "pandas" in sys.modules:
            store._arrow_codec()
        FileInputs.install()

    @classmethod
    def warm(cls):
        """Runs a throw-away cell in a freshly forked kernel, before its first
        request: the copy-on-write faults of the shell's code path happen
        here, while the kernel waits in the pool, not in the user's cell."""
        cls.shell.capture_fds()
        try:
            cls.shell.run_cell("pass", 0, lambda msg: None)
            # and the artifact path: one tiny value written and read back
            d = os.environ.get("FLOE_RUN_DIR")
            if d:
                path = os.path.join(d, "warm-%d" % os.getpid())
                info = store.dump("_", [0], path, "", 0, {})
                store.load(info, {}, None, None)
                store.fingerprint([0])
                os.unlink(info["path"])
        except Exception:  # noqa: BLE001 - warm-up is best effort
            pass
        cls.shell.forget_history()

    def __init__(self, chan):
        self.chan = chan
        self.attempt = (None, None)  # (cell, version) being run: chaos mode's key
        self.events = []
        self.reads = []
        self.run_dir = None
        self.links = covars.Links()
        self.aside = {}  # a lineage kernel's names hidden from the cell (_reset)
        self.aside_reads = []
        self.children = set()  # kernels forked from this one as a template (_fork)
        self.fp_cache = {}  # name -> (value, fingerprint) taken by a template before it forked
        # (name, version) -> a class (module, cached function) this kernel
        # holds because a cell changed it (_export): what a pickled instance
        # made then refers to, after the name was bound to another class
        self.held_refs = {}
        chan.fds = []  # a fork request brings the new kernel's socket

    def serve(self):
        while True:
            try:
                msg = self.chan.recv()
            except EOFError:
                return
            op = msg.get("op")
            if op == "run":
                done = self._profiled(msg) if _PROFILE else self.run(msg)
                chaos.delay("send", "done", *self.attempt)
                self.chan.send(done)
            elif op == "exit":
                return
            elif op == "fork":
                self._fork(msg)
            elif op == "scope":
                self.scope(msg)
            elif op in ("jupyter_init", "jupyter", "input_reply"):
                from . import jupyter  # `floe kernel`: the Jupyter protocol's requests
                jupyter.handle(self, msg)

    def _profiled(self, msg):
        """FLOE_KERNEL_PROFILE=DIR (development): each cell's run request,
        imports, compute and export included, under cProfile; a kernel's
        stats so far are in DIR/kernel-PID.prof after each cell
        (python3 -m pstats)."""
        import cProfile
        if getattr(self, "_prof_pid", None) != os.getpid():  # a forked kernel starts its own
            self._prof, self._prof_pid = cProfile.Profile(), os.getpid()
        self._prof.enable()
        try:
            return self.run(msg)
        finally:
            self._prof.disable()
            self._prof.dump_stats(os.path.join(_PROFILE, "kernel-%d.prof" % os.getpid()))

    # --- a template: readers forked from a lineage kernel ------------------------
    def _fork(self, msg):
        """{"op":"fork"} with a socket attached, to an idle lineage kernel
        (core_lineage.c, "fork from template"): forks a child that serves
        that socket as a new kernel, with this heap (copy-on-write) and
        every object as the last cell left it; this kernel goes on waiting.
        As the zygote does, it replies "forked" and reports "exited" with
        the status when a child ends (a SIGCHLD handler that reaps only its
        own children, so that a cell's subprocesses keep theirs)."""
        fds, self.chan.fds = self.chan.fds, []
        if not fds:
            return
        for extra in fds[1:]:
            os.close(extra)
        fd = fds[0]
        # the fingerprints the reader takes of what it keeps (_reset), once
        # here for every child: the values are the same objects in each
        ns = self.shell.user_ns
        for name in msg.get("fp", ()):
            if name in ns and not (name in self.fp_cache and self.fp_cache[name][0] is ns[name]):
                self.fp_cache[name] = (ns[name], store.fingerprint(ns[name]))
        from . import main  # here, not in the handler: an import there can be interrupted by another
        if not self.children:
            signal.signal(signal.SIGCHLD, self._on_child)
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.children = set()
            main._die_with_parent()
            os.close(self.chan.fd)
            self.chan = proto.Channel(fd)
            self.chan.fds = []
            # a new random state, as for a zygote's child; its seed() calls
            # go through the template's seed wrappers, which would mark a
            # seed in effect that no cell set (the child's unseeded draws
            # would then be exported and later drawers ordered on them)
            seeded = _SEEDED[0]
            main._reseed()
            _SEEDED[0] = seeded
            self._own_fds()
            return
        os.close(fd)
        self.children.add(pid)
        self.chan.send({"op": "forked", "pid": pid, "t": time.monotonic_ns() // 1000,
                        "fork_us": (time.perf_counter_ns() - t0) // 1000})
        self._on_child()  # one that ended before the handler could see it

    def _own_fds(self):
        """A forked child's fd 1 and 2 still lead to the template's pipes,
        whose reader threads did not survive the fork: pipes of its own."""
        from .shell import FdCapture
        sh = self.shell
        for cap in sh.fdcap or ():
            try:
                os.close(cap.r)
            except OSError:
                pass
        if sh.fdcap:
            sh.fdcap = (FdCapture(1, sh.stdout), FdCapture(2, sh.stderr))

    def _on_child(self, *_):
        if self.chan.sending:  # in the middle of a frame: once it is out
            self.chan.after_send = self._on_child
            return
        for pid in list(self.children):
            if pid not in self.children:  # reported by a handler that interrupted this one
                continue
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if got:
                self.children.discard(pid)
                st = {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"code": os.WEXITSTATUS(status)}
                self.chan.send({"op": "exited", "pid": pid, "status": st})

    # --- protocol helpers -------------------------------------------------------
    def _emit(self, msg):
        self.chan.send(msg)

    def _ask(self, name, link=None):
        """Asks floe for the artifact of `name` visible to this cell (link:
        only if it is a member of that group version)."""
        chaos.delay("send", "need", name, *self.attempt)
        self.chan.send({"op": "need", "name": name, "link": link} if link else {"op": "need", "name": name})
        while True:
            msg = self.chan.recv()
            if msg.get("op") == "value" and msg.get("name") == name:
                return msg
            if msg.get("op") == "exit":
                os._exit(0)

    def _import(self, name, info):
        ns = self.shell.user_ns
        chaos.delay("import", name, *self.attempt)
        t0 = _now()
        tried = set()
        while True:
            try:
                resolve = self._resolve_main if not info.get("refs") else \
                    (lambda n, refs=info["refs"]: self._resolve_ref(n, refs))
                if info.get("codec") == protocol.CODEC_GROUP:
                    value = self.links.load(info, ns, resolve)
                else:
                    value = store.load(info, ns, self.shell, resolve)
                break
            except NameError as e:
                # a def re-executed here needs what its decorators, default
                # values or base classes name (`@lru_cache`): those are
                # imported too, then the def runs again (nothing was bound)
                missing = getattr(e, "name", None)
                if info.get("codec") != protocol.CODEC_CODE or not missing or missing in tried:
                    raise
                tried.add(missing)
                try:
                    self._resolve(missing)
                except KeyError:
                    raise e from None
        ns[name] = value
        self._note_ref(name, value)
        self.events.append({"name": "import:" + name, "start": t0, "dur": _now() - t0,
                            "args": {"codec": info.get("codec"), "bytes": info.get("bytes", 0)}})
        if info.get("codec") == protocol.CODEC_GROUP:
            covars.link_members(self, name, info)
        return value

    def _resolve(self, name):
        """Lazy miss: a name the prediction did not import."""
        if _internal(name):
            raise KeyError(name)
        if name in self.aside:
            # set aside by this lineage kernel, in the version this cell
            # sees (core_lineage.c): the producer's own object; floe records
            # the read when the cell is done
            value = self.shell.user_ns[name] = self.aside.pop(name)
            self.aside_reads.append(name)
            self._note_ref(name, value)
            self.imported[name] = store.fingerprint(value)
            self.before[name] = id(value)
            return value
        reply = self._ask(name)
        self.reads.append(name)
        art = reply.get("artifact")
        if not art:
            raise KeyError(name)
        value = self._import(name, art)
        self.imported[name] = store.fingerprint(value) if art.get("codec") != protocol.CODEC_MODULE else None
        self.before[name] = id(value)
        return value

    def _resolve_ref(self, name, refs):
        """`__main__.NAME` for a pickle whose maker had another class under
        that name than this cell has (refs: that class's artifact): the
        maker's class, as Jupyter's old instances keep theirs -- re-made
        from its definition without binding the name, or the one this kernel
        holds; else the cell's own, said in the trace."""
        art = refs.get(name)
        if art is None:
            return self._resolve_main(name)
        key = (name, art.get("cell"), art.get("version"))
        cache = self.__dict__.setdefault("_ref_cache", {})
        if key in cache:
            return cache[key]
        value = None
        if art.get("codec") == protocol.CODEC_UNMOVABLE:
            value = self.held_refs.get((name, art.get("version")))
        elif art.get("codec") == protocol.CODEC_CODE:
            ns = self.shell.user_ns
            had, saved = name in ns, ns.get(name)
            try:
                value = store.exec_code(art, ns, self.shell)
            except Exception:  # noqa: BLE001 - said below
                value = None
            finally:
                if had:
                    ns[name] = saved
                else:
                    ns.pop(name, None)
        if value is None:
            self.events.append({"name": "unguaranteed", "start": _now(), "dur": 0, "args": {
                "why": "a value made by cell %s refers to the class %s that cell had, which this kernel cannot "
                       "get (it was changed after its definition, in another kernel): it gets today's %s"
                       % (art.get("cell"), name, name)}})
            return self._resolve_main(name)
        cache[key] = value
        return value

    def _resolve_main(self, name):
        ns = self.shell.user_ns
        if name in ns:
            return ns[name]
        try:
            return self._resolve(name)
        except KeyError:
            raise AttributeError("floe: no artifact for __main__.%s" % name) from None

    # --- running a cell ----------------------------------------------------------
    def run(self, msg):
        self.events = []
        self.reads = []
        self.attempt = (msg.get("cell"), msg.get("version"))
        ice = msg.get("ice", False)
        ns = self.shell.user_ns
        self.imported = {}
        self.refs = {}
        self.before = {}
        self.aside_reads = []
        self.links = covars.Links()
        t_start = _now()
        if ice:
            self.run_dir = msg["run_dir"]
            if msg.get("reuse"):
                self._reset(ns, msg)
            self.fp_cache = {}  # a cell runs: a template's fingerprints may no longer hold
            # before the imports: functions they create (defs, lambdas,
            # closures) take their builtins from the globals at creation,
            # and must resolve unpredicted names lazily too
            if msg.get("lazy", True):
                ns["__builtins__"] = LazyBuiltins(self._resolve, ns)
            else:
                ns["__builtins__"] = CellBuiltins(builtins.__dict__)
            if _import_hook is not None:
                ns["__builtins__"]["__import__"] = _import_hook(builtins.__import__, self._imported)
            # the process state first where it loads alone: a module moves
            # by name, and may be found only through a sys.path entry an
            # earlier cell added (else after the imports, as it may hold a
            # class of the notebook: a warnings filter's category)
            rng_applied = False
            if msg.get("rng"):
                try:
                    _rng_apply(store.load(msg["rng"], {}, None, None))
                    rng_applied = True
                except Exception:  # noqa: BLE001 - retried after the imports
                    pass
            err = self._import_all(msg.get("imports", []), tolerant=msg.get("lazy", True))
            if err is not None:
                return err
            if msg.get("history") is not None:
                self._history(msg["history"], msg.get("count"))
            self.before = {k: id(v) for k, v in ns.items() if k not in self.base and not _internal(k)}
        rng0 = None
        if ice:
            rng = msg.get("rng")
            if rng and not rng_applied:
                try:
                    _rng_apply(store.load(rng, {}, None, None))
                except Exception as e:  # noqa: BLE001 - a state we cannot restore: fresh state
                    if os.environ.get("FLOE_DEBUG"):
                        sys.__stderr__.write("floe: process state not carried: %r\n" % e)
            patched = list(_patch_sympy()) + _wrap_seeders()
            for key, (vid, _) in list(self.refs.items()) if patched else ():
                mod = next((m for m in patched if id(m) == vid), None)
                if mod is not None:  # floe's own wrappers are no change of the cell's
                    self.refs[key] = (vid, store.ref_state(mod))
            had_numpy = "numpy.random" in sys.modules
            rng0 = _rng_fingerprint()
        chaos.delay("compute", *self.attempt)
        t0 = _now()
        files, written, truncated = FileInputs.start()
        saved_input = builtins.input, getpass.getpass
        if msg.get("allow_stdin"):  # `floe kernel`: input() through the frontend
            from .jupyter import frontend_stdin
            frontend_stdin(self.chan.send, self.chan.recv)
        cell_builtins = ns.get("__builtins__")
        if isinstance(cell_builtins, dict):  # the cell's copy (CellBuiltins) sees this cell's input()
            cell_builtins["input"] = builtins.input
        self.shell.discard_pending()
        nmods = len(sys.modules)
        _FRESH.clear()
        _GEN0.clear()
        if rng0 is not None:
            _GEN0.update((_GEN_NAMES[i], g) for i, g in enumerate(rng0[0]) if i < len(_GEN_NAMES))
        try:
            res = self.shell.run_cell(msg["code"], msg["count"], self._emit, silent=bool(msg.get("silent")),
                                      store_history=bool(msg.get("store_history", True)))
        finally:
            _GEN0.clear()
            listed = FileInputs.scratch()
            FileInputs.recording = None
            builtins.input, getpass.getpass = saved_input
        t1 = _now()
        if ice and len(sys.modules) > nmods:
            _note_runtime_modules(nmods)
        self.events.append({"name": "compute", "start": t0, "dur": t1 - t0, "args": {}})
        why = _unguaranteed(msg["code"], self.shell.user_ns)
        if why:
            self.events.append({"name": "unguaranteed", "start": t1, "dur": 0, "args": {"why": why}})
        out = {"op": "done", "cell": msg.get("cell"), "status": res.get("status", "ok"),
               "outputs": res.get("outputs", []), "display_ids": res.get("display_ids", {}),
               "ename": res.get("ename"), "evalue": res.get("evalue"),
               "t_start": t_start, "t_compute": t0, "t_end": t1}
        if "user_expressions" in msg or "silent" in msg:  # `floe kernel`: what ipykernel's reply carries
            self._reply_extras(msg, res, out)
        if ice:
            ns["__builtins__"] = builtins
            if ns.get("__getattr__") == self._main_getattr:
                del ns["__getattr__"]
            chaos.delay("export", *self.attempt)
            self.result_lost = False
            out["exports"], out["deletes"], out["unmovable"] = self._export(msg)
            if self.result_lost:
                out["result_lost"] = True
            files.update(self.links.memmap_files)
            rng1 = _rng_fingerprint()
            rest_changed = _state_changed(rng0[1], rng1[1])
            drew = _state_changed(rng0[0], rng1[0])
            # numpy imported by this cell: its seed() was not wrapped
            seeded = _SEEDED[0] or (drew and not had_numpy and "numpy.random" in sys.modules)
            if drew and not rest_changed and not seeded:
                out["rng_drew"] = True
            elif rest_changed or drew:
                _SEEDED[0] = _SEEDED[0] or seeded
                out["rng_touched"] = True
                rest0 = _rest_hash(rng0[1]) if _rng_fresh(rng0, rng1) else None
                if rest0:
                    out["rng_fresh"], out["rng_rest0"] = True, rest0
                out["cwd"] = os.getcwd()
                path = os.path.join(self.run_dir, "%s@%d" % (RNG, msg["version"]))
                st = _rng_state()
                try:
                    art = store.dump(RNG, st, path, "", 0, {})
                except Exception:  # noqa: BLE001 - e.g. a warnings filter on a class of this cell
                    for k in ("warnings", "pandas", "mpl_rc", "np_print", "sympy_printing", "modules"):
                        st.pop(k, None)
                    art = store.dump(RNG, st, path, "", 0, {})
                art["name"] = RNG
                try:
                    art["hash"] = _state_hash(st)
                except Exception:  # noqa: BLE001 - unpicklable: the core hashes the file
                    pass
                rest = _rest_hash(rng1[1])
                if rest:
                    art["rest"] = rest
                out["exports"].append(art)
            out["reads"] = self.reads
            if self.aside_reads:
                out["aside_reads"] = self.aside_reads
            if res.get("missing"):
                out["missing"] = res["missing"]
            rd = self.run_dir.rstrip("/") + "/"
            out["files"] = sorted(f for f in files if not f.startswith(rd))
            if getattr(self.shell, "child_started", False):
                # a child process (`!cmd`, %%bash, subprocess) used files no
                # audit hook sees: like a file write, the cell is not cached
                written.add(CHILD_FILES)
            out["wfiles"] = sorted(f for f in written if not f.startswith(rd))
            out["tfiles"] = sorted(f for f in truncated if not f.startswith(rd))
            out["sfiles"] = sorted(f for f in FileInputs.gone if not f.startswith(rd))
            out["dfiles"] = [d for d in listed if not os.path.join(d, "").startswith(rd)]
            out["mem"] = _private_bytes()
            # threads do not survive a fork: floe forks no reader from a
            # kernel whose cells left some running (core_lineage.c)
            out["threads"], out["native_threads"] = _threads()
        out["events"] = self.events
        out["t_done"] = _now()
        return out

    # --- `floe kernel` (the isolated back end, jk_iso.c) --------------------------------
    def _reply_extras(self, msg, res, out):
        ip = self.shell.shell
        ue = msg.get("user_expressions") or {}
        try:
            out["user_expressions"] = ip.user_expressions(ue) if ue and res.get("status") == "ok" else {}
        except Exception:  # noqa: BLE001 - ipykernel answers what it can; a failure is not the cell's
            out["user_expressions"] = {}
        try:
            out["payload"] = ip.payload_manager.read_payload()
            ip.payload_manager.clear_payload()
        except Exception:  # noqa: BLE001 - no payload manager
            out["payload"] = []

    def scope(self, msg):
        """A kernel for completion and inspection: every name the finished
        cells left, imported (a name that fails to import is left out), and
        their inputs as IPython's history; then it serves the Jupyter
        requests as the monolithic kernel does (jupyter.py)."""
        self.run_dir = msg.get("run_dir")
        self.imported, self.before = {}, {}
        self.links = covars.Links()
        imports = msg.get("imports", [])
        self.links.pending = {imp["name"]: imp for imp in imports}
        for imp in imports:
            try:
                self._import(imp["name"], imp)
            except Exception:  # noqa: BLE001 - completion goes on without it
                pass
        hm = self.shell.shell.history_manager
        for count, src in msg.get("history", []):
            while len(hm.input_hist_raw) <= count:
                hm.input_hist_raw.append("")
                hm.input_hist_parsed.append("")
            hm.input_hist_raw[count] = hm.input_hist_parsed[count] = src
        if msg.get("history"):
            self.shell.shell.execution_count = msg["history"][-1][0] + 1
        from . import jupyter
        jupyter.handle(self, {"op": "jupyter_init"})

    def _main_getattr(self, name):
        """`__main__.NAME` for a name this lineage kernel set aside (pickle
        looks a class up there): bound, as an import of it would be."""
        if name in self.aside and not _internal(name):
            return self._resolve(name)
        raise AttributeError("module '__main__' has no attribute %r" % name)

    def _reset(self, ns, msg):
        """A kernel that ran an earlier cell goes on with this one: it holds
        values that cannot move (floe's holders), or it is a lineage kernel
        (core_lineage.c). The cell starts from a fresh namespace plus `keep`;
        `hold` is set aside for a later cell, everything else is deleted.
        Kept names in `fp` are fingerprinted as imports are: a mutation is
        a write."""
        keep, hold = set(msg.get("keep", ())), set(msg.get("hold", ()))
        if hold and "__getattr__" not in ns:  # the module's (PEP 562), removed after the cell
            ns["__getattr__"] = self._main_getattr
        aside, self.aside = self.aside, {}
        for name in [n for n in ns if n not in self.base and not _internal(n)]:
            if name in keep:
                continue
            value = ns.pop(name)
            if name in hold:
                self.aside[name] = value
        for name, value in aside.items():
            if name in keep and name not in ns:
                ns[name] = value
            elif name in hold and name not in self.aside:
                self.aside[name] = value
        del aside
        cache, self.fp_cache = self.fp_cache, {}  # a template's, valid until a cell runs
        for name in keep:
            if name in ns:
                self._note_ref(name, ns[name])
        for name in msg.get("fp", ()):
            if name in ns:
                hit = cache.get(name)
                self.imported[name] = hit[1] if hit and hit[0] is ns[name] else store.fingerprint(ns[name])

    def _import_all(self, imports, tolerant=False):
        """tolerant: an open-world cell gets every visible name, most of
        which it never reads: one that cannot be imported (a memmap whose
        file a later cell removed) is left out, and only a real read of it
        (the lazy builtins ask floe again) fails, in the cell's code."""
        ns = self.shell.user_ns
        self.links.pending = {imp["name"]: imp for imp in imports}
        for imp in imports:
            name = imp["name"]
            try:
                value = self._import(name, imp)
            except Exception as e:  # noqa: BLE001 - report which artifact failed
                if tolerant:
                    ns.pop(name, None)
                    self.events.append({"name": "import-skipped:" + name, "start": _now(), "dur": 0,
                                        "args": {"why": "%s: %s" % (type(e).__name__, e)}})
                    continue
                return {"op": "done", "status": "import-error", "name": name,
                        "evalue": "%s: %s" % (type(e).__name__, e), "outputs": [], "events": self.events}
            if imp.get("codec") != protocol.CODEC_MODULE:  # a def moved as code: its state (defaults, closure)
                self.imported[name] = store.fingerprint(value)
        del ns  # noqa: F821 - keep the function short-lived
        return None

    def _export(self, msg):
        ns = self.shell.user_ns
        parsed = []

        def cell_defs():
            """(source, defs, changed_after) of the cell, parsed once when a
            name it changed needs them (most cells define nothing)."""
            if not parsed:
                source = self.shell.transform_source(msg["code"]) if hasattr(self.shell, "transform_source") \
                    else msg["code"]
                parsed.append((source,) + tuple(store.cell_defs(source)))
            return parsed[0]
        raw = msg["code"] if isinstance(msg["code"], str) else "".join(msg["code"])
        version = msg["version"]
        only = msg.get("export_only")
        only = set(only) if only is not None else None
        exports, unmovable = [], []
        self._changed_memo = {}
        grouped = covars.export(self, ns, only, version, exports)
        for name, value in list(ns.items()):
            if name in self.base or _internal(name) or name in grouped:
                continue
            if not self._changed(name, value):
                continue
            if only is not None and name not in only:
                # no later cell is predicted to read it: not written out;
                # floe re-runs this cell if a read turns up after all
                exports.append({"name": name, "codec": protocol.CODEC_DROPPED, "type": _type_name(value)})
                continue
            t0 = _now()
            source, defs, changed_after = cell_defs()
            if name in changed_after and store.defined_here(value, name, defs):
                # its definition re-run in a reader would not have what the
                # cell did to it after: it stays here with its readers
                self.held_refs[(name, version)] = value
                unmovable.append({"name": name, "type": _type_name(value), "version": version,
                                  "reason": "it moves as its definition, and this cell changed it after defining it"})
                continue
            base = os.path.join(self.run_dir, "%s@%d" % (name, version))
            try:
                art = store.dump(name, value, base, source, msg["count"], defs, raw)
            except store.Unmovable as e:
                unmovable.append({"name": name, "type": _type_name(value), "reason": str(e)})
                continue
            art["name"] = name
            if self.before.get(name) == id(value):
                art["mutated"] = True  # changed in place, not rebound (core.c, same_written)
            exports.append(art)
            self.events.append({"name": "export:" + name, "start": t0, "dur": _now() - t0,
                                "args": {"codec": art["codec"], "bytes": art.get("bytes", 0)}})
        self._hold_changed_refs(ns, grouped, version, exports, unmovable)
        if msg.get("results"):
            self._export_result(msg.get("count"), version, exports)
        deletes = [k for k in self.before if k not in ns]
        return exports, deletes, unmovable

    def _hold_changed_refs(self, ns, grouped, version, exports, unmovable):
        """Values moving by reference that the cell changed in place
        (self.refs, ref_changed): a reader would rebuild them as they were
        made, so they stay here (unmovable) with their readers."""
        held = set()
        for key, (vid, st) in self.refs.items():
            if key.startswith("module:"):  # imported by the cell: the names it bound to it
                value = sys.modules.get(key[7:])
                names = [n for n, v in ns.items() if v is value and self.before.get(n) != vid
                         and n not in self.base and not _internal(n)]
            else:
                value = ns.get(key)
                names = [] if key in grouped else [key]
            names = [n for n in names if n not in held]
            if not names or value is None or id(value) != vid or not store.ref_changed(value, st):
                continue
            for name in names:
                held.add(name)
                exports[:] = [a for a in exports if a.get("name") != name]
                self.held_refs[(name, version)] = value
                unmovable.append({"name": name, "type": _type_name(value), "version": version,
                                  "reason": "it moves by reference (%s) and this cell changed it" % _ref_kind(value)})

    def _export_result(self, n, version, exports):
        """A later cell reads the history: this cell's result (Out[n]), as _n."""
        out_hist = self.shell.shell.history_manager.output_hist
        if n not in out_hist:
            return
        name = "_%d" % n
        try:
            art = store.dump(name, out_hist[n], os.path.join(self.run_dir, "%s@%d" % (name, version)), "", 0, {})
        except store.Unmovable:  # the reader says so (_history)
            self.result_lost = True
            return
        art["name"] = name
        exports.append(art)

    def _history(self, hist, count):
        """IPython's input/output history as a top-to-bottom run has it when
        this cell starts (it reads _, __, _N, Out, In or _iN): In from the
        earlier cells' sources, Out from their results (the _N artifacts
        they exported), through the shell's own bookkeeping."""
        ip = self.shell.shell
        hm = ip.history_manager
        self.shell.forget_history()
        outs = {n: art for n, art in hist.get("out", ())}
        for n, code in hist.get("in", ()):
            raw = "".join(code) if isinstance(code, list) else code
            _pad_inputs(hm, n)
            hm.store_inputs(n, self.shell.transform_source(raw), raw)
            if n in outs:
                try:
                    if outs[n] is None:
                        raise store.Unmovable("its value cannot be moved between processes")
                    value = self._import("_%d" % n, outs[n])
                except Exception as e:  # noqa: BLE001 - the cell still runs, without that entry
                    self.events.append({"name": "unguaranteed", "start": _now(), "dur": 0, "args": {
                        "why": "Out[%d] could not be carried to this cell's kernel (%s: %s)" % (
                            n, type(e).__name__, e)}})
                    continue
                ip.execution_count = n
                ip.displayhook.update_user_ns(value)
        if count:
            _pad_inputs(hm, count)

    def _imported(self, mod, args):
        """After `import M` in the cell's code (its builtins' __import__, not
        library code's): M's state as the cell got it, so that an attribute
        the cell then sets on it (`import json; json.flag = 1`) is seen as
        a change (ref_state)."""
        name = args[0] if args else None
        fromlist = args[3] if len(args) > 3 else None
        level = args[4] if len(args) > 4 else 0
        if fromlist or level or not isinstance(name, str):
            return
        for m in (mod, sys.modules.get(name)):
            if isinstance(m, types.ModuleType) and ("module:" + m.__name__) not in self.refs:
                self.refs["module:" + m.__name__] = (id(m), store.ref_state(m))

    def _note_ref(self, name, value):
        """The state of a value moving by reference, as this cell got it."""
        st = store.ref_state(value)
        if st is not None:
            self.refs[name] = (id(value), st)

    def _changed(self, name, value):
        """Whether the cell bound, rebound or mutated `name` (asked once per
        name and cell: a fingerprint can cost a pass over a large value)."""
        memo = self.__dict__.setdefault("_changed_memo", {})
        if (name, id(value)) in memo:
            return memo[(name, id(value))]
        changed = self.before.get(name) != id(value)
        if not changed and name in self.imported and self.imported[name] is not None:
            changed = store.fingerprint(value) != self.imported[name]
        memo[(name, id(value))] = changed
        return changed

    def user_names(self, ns):
        return {n: v for n, v in ns.items() if n not in self.base and not _internal(n)}


def _pad_inputs(hm, n):
    """In[] as IPython indexes it (by execution count): exactly n entries
    before the next stored input, blanks for counts no cell had."""
    del hm.input_hist_parsed[n:], hm.input_hist_raw[n:]
    while len(hm.input_hist_parsed) < n:
        hm.input_hist_parsed.append("")
        hm.input_hist_raw.append("")


def _ref_kind(v):
    if isinstance(v, types.ModuleType):
        return "a module, re-imported by name: an attribute was set on it"
    if isinstance(v, type):
        return "a class, re-made from its definition: an attribute was set on it"
    return "an lru_cache'd function, re-made from its definition: its cache"


def _type_name(v):
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else "%s.%s" % (t.__module__, t.__qualname__)
