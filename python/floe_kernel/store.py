"""Artifact codecs on the kernel side: write a value to the run's shared-
memory directory at the end of a cell, read it back in another kernel.

Codecs, cheapest first:
  module  an imported module, re-imported by name (no file)
  code    a def/class of the cell, re-executed from the cell's source in the
          reader's namespace, compiled under the cell's own "Cell In[N]"
          file name so tracebacks read as in Jupyter (no file)
  arrow   pandas DataFrame/Series as an Arrow IPC file (arrow_codec), mapped
          zero-copy by readers
  pickle  pickle protocol 5; out-of-band buffers (numpy arrays, pandas
          blocks) are laid out 64-byte aligned in the file and mapped
          copy-on-write by readers, so they are not copied either
A value none of these can carry raises Unmovable with the reason."""
import ast
import io
import marshal
import mmap
import os
import pickle
import struct
import sys
import types
import weakref
import zlib

from . import protocol

MAGIC = b"FLOEPK5\0"
ALIGN = 64


class Unmovable(Exception):
    """The value cannot be moved between isolated kernels."""


def _align(n):
    return (n + ALIGN - 1) & ~(ALIGN - 1)


# --- pickle protocol 5 with out-of-band buffers ------------------------------

# --- functions that pickle cannot name: lambdas, closures -----------------------

def _importable(fn):
    """True when pickle can refer to fn by module and qualified name."""
    if "<" in fn.__qualname__:
        return False
    obj = sys.modules.get(fn.__module__)
    for part in fn.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is fn


_EMPTY = ("floe", "empty cell")
_reader_ns = None   # the reading cell's namespace while an artifact loads


def _make_function(code, name, qualname, defaults, kwdefaults, closure, attrs):
    """Rebuilds a lambda or closure in the reader: its globals are the
    reader's namespace, as for a def moved by the code codec."""
    import builtins
    cells = None
    if closure is not None:
        cells = tuple(types.CellType() if v == _EMPTY else types.CellType(v) for v in closure)
    g = _reader_ns if _reader_ns is not None else {"__builtins__": builtins}
    fn = types.FunctionType(marshal.loads(code), g, name, defaults, cells)
    fn.__qualname__ = qualname
    fn.__kwdefaults__ = kwdefaults
    fn.__module__ = "__main__"
    if attrs:
        fn.__dict__.update(attrs)
    return fn


def _cell_value(c):
    try:
        return c.cell_contents
    except ValueError:
        return _EMPTY


class _Pickler(pickle.Pickler):
    top = None  # the value being exported: a function is pickled by value,
                # never by reference to itself in __main__ (the reader would
                # resolve that name by importing this very artifact)

    refs = None  # a set: the notebook's classes the value refers to by name (main_refs)

    def reducer_override(self, obj):
        if self.refs is not None and isinstance(obj, type) and obj.__module__ == "__main__":
            self.refs.add(obj.__qualname__.partition(".")[0])
            return NotImplemented
        if type(obj) is types.FunctionType and (not _importable(obj) or
                                                (obj is self.top and obj.__module__ == "__main__")):
            closure = tuple(_cell_value(c) for c in obj.__closure__) if obj.__closure__ else None
            return _make_function, (marshal.dumps(obj.__code__), obj.__name__, obj.__qualname__, obj.__defaults__,
                                    obj.__kwdefaults__, closure, dict(obj.__dict__) or None)
        return NotImplemented


def dumps(value, buffer_callback=None, pickler=None, refs=None):
    """pickle.dumps (protocol 5), also for lambdas and closures; pickler: a
    subclass of _Pickler (covars' group pickler); refs: a set that gets the
    names of the notebook's classes the pickle refers to."""
    f = io.BytesIO()
    p = (pickler or _Pickler)(f, protocol=5, buffer_callback=buffer_callback)
    p.top = value
    p.refs = refs
    p.dump(value)
    return f.getvalue()


def _function_state(fn):
    """What calling a function can change in it: default values (a mutable
    default argument), closure cells (nonlocal counters), attributes."""
    closure = tuple(_cell_value(c) for c in fn.__closure__) if fn.__closure__ else None
    data = dumps((fn.__defaults__, fn.__kwdefaults__, closure, dict(fn.__dict__)))
    return ("fn", len(data), zlib.crc32(data))


def _write_pickle(value, path, pickler=None, refs=None):
    bufs = []
    try:
        data = dumps(value, buffer_callback=bufs.append, pickler=pickler, refs=refs)
    except Exception as e:  # noqa: BLE001 - any pickling failure
        raise Unmovable("%s: %s" % (type(e).__name__, e)) from None
    raws = [b.raw() for b in bufs]
    header = struct.pack("<8sQI", MAGIC, len(data), len(raws))
    table_len = 16 * len(raws)
    off = _align(len(header) + table_len + len(data))
    entries = []
    for r in raws:
        entries.append((off, r.nbytes))
        off = _align(off + r.nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(header)
            for o, n in entries:
                f.write(struct.pack("<QQ", o, n))
            f.write(data)
            for (o, n), r in zip(entries, raws):
                f.seek(o)
                f.write(r)
            f.truncate(off if raws else f.tell())
    finally:
        os.close(fd)
    return os.path.getsize(path)


def _transform_setstate(self, state):
    """TransformNode.__setstate__ keyed by the parents' own ids.

    matplotlib keys a transform's `_parents` by id(parent) and, on unpickling,
    keeps the keys the pickling process had. In the reader those are stale
    ids: a transform made later whose id equals one of them replaces that
    entry (set_children), so the restored parent is no longer invalidated
    when its child changes. savefig(bbox_inches='tight') moves the figure's
    box and draws again: a stale axes box clips the line short (seen: 1 run
    of 30 under load, an address coincidence between kernels forked from one
    zygote). Jupyter never unpickles the figure, so floe must not differ."""
    self.__dict__ = state
    parents = {}
    for parent in state.get("_parents", {}).values():
        if parent is not None:
            key = id(parent)
            parents[key] = weakref.ref(parent, lambda r, d=parents, k=key: d.get(k) is r and d.pop(k))
    self._parents = parents


def _fix_matplotlib():
    """Installs _transform_setstate once matplotlib.transforms is imported
    (it is, by find_class, before any transform's state is set)."""
    mt = sys.modules.get("matplotlib.transforms")
    node = getattr(mt, "TransformNode", None)
    if node is not None and node.__dict__.get("__setstate__") is not _transform_setstate:
        node.__setstate__ = _transform_setstate


class _Unpickler(pickle.Unpickler):
    resolve_main = None

    def find_class(self, module, name):
        if module == "__main__" and self.resolve_main is not None:
            return self.resolve_main(name)
        cls = super().find_class(module, name)
        if module.startswith("matplotlib"):
            _fix_matplotlib()
        return cls


def _map(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        return mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)


def _read_pickle(path, resolve_main, ns=None):
    m = _map(path)
    view = memoryview(m)
    magic, dlen, nbuf = struct.unpack_from("<8sQI", view, 0)
    if magic != MAGIC:
        raise ValueError("%s: not a floe pickle artifact" % path)
    pos = 20
    bufs = []
    for _ in range(nbuf):
        o, n = struct.unpack_from("<QQ", view, pos)
        pos += 16
        bufs.append(view[o:o + n])
    data = view[pos:pos + dlen]
    u = _Unpickler(io.BytesIO(data), buffers=bufs)
    u.resolve_main = resolve_main
    global _reader_ns
    _reader_ns = ns
    try:
        return u.load()
    finally:
        _reader_ns = None


# --- code: def/class re-executed from the cell's source ---------------------

def cell_defs(source):
    """Top-level def/class statements of a (transformed) cell: name -> lineno,
    and the set of those names the cell changes after defining them (see
    _changed_after), which their source alone would not give a reader."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: NUL bytes (Python 3.11)
        return {}, set()
    out, changed, selfmut = {}, set(), set()
    for node in tree.body:
        for n in _changed_after(node, out, selfmut):
            changed.add(n)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node.lineno
            changed.discard(node.name)  # defined again: as its source says
            if _mutates_itself(node):
                selfmut.add(node.name)
            else:
                selfmut.discard(node.name)
    return out, changed


def _root(t):
    while isinstance(t, (ast.Attribute, ast.Subscript)):
        t = t.value
    return t.id if isinstance(t, ast.Name) else None


def _changed_after(node, defs, selfmut):
    """The defs (names in defs) a top-level statement changes: an attribute
    or item set or deleted on one (`A.rate = 0.2`, `f.calls = 0`,
    `setattr(A, ...)`), or any use of a class or function whose own code
    changes it (`A.count += 1` in __init__, then `a = A()`)."""
    targets = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for t in targets:
        for sub in ast.walk(t):
            if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                r = _root(sub)
                if r in defs:
                    yield r
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return  # its body runs later: seen when it is used
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("setattr", "delattr") \
                and sub.args and isinstance(sub.args[0], ast.Name) and sub.args[0].id in defs:
            yield sub.args[0].id
        elif isinstance(sub, ast.Name) and sub.id in selfmut and isinstance(sub.ctx, ast.Load):
            yield sub.id


def _mutates_itself(node):
    """A class whose methods set attributes on it (`A.count += 1`,
    `cls.registry[...] = x`), a function that sets its own (`f.calls += 1`)."""
    names = {node.name, "cls"} if isinstance(node, ast.ClassDef) else {node.name}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)) \
                and _root(sub) in names:
            return True
    return False


def exec_code(info, ns, shell):
    """Re-executes one def/class of a cell in ns, under the cell's file name:
    ipykernel names it by a hash of the cell's raw source (its compiler's
    get_code_name: /tmp/ipykernel_<pid>/<murmur2 of the source>.py), which
    a warning or traceback raised in the function shows (issue 16, P15)."""
    src = info["source"]
    tree = ast.parse(src)
    node = next(n for n in tree.body if getattr(n, "lineno", None) == info["lineno"])
    filename = shell.compile.cache(src, info["count"], raw_code=info.get("raw", src)) \
        if shell is not None else "<floe>"
    code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec")
    exec(code, ns)
    return ns[info["name"]]


def defined_here(value, name, defs):
    if name not in defs:
        return False
    # a decorated def (functools.wraps, lru_cache...): the decorators are
    # re-executed with the def in the reader
    for _ in range(8):
        if isinstance(value, (types.FunctionType, type)) or not hasattr(value, "__wrapped__"):
            break
        value = value.__wrapped__
    if isinstance(value, (types.FunctionType, type)):
        return getattr(value, "__module__", None) == "__main__" and \
            getattr(value, "__name__", None) == name
    return False


# --- dispatch -----------------------------------------------------------------

_arrow = None


def _arrow_codec():
    global _arrow
    if _arrow is None:
        try:
            from . import arrow_codec
            _arrow = arrow_codec
        except Exception:  # noqa: BLE001 - codec not built: pickle instead
            _arrow = False
    return _arrow


def _is_frame(value):
    t = type(value)
    return t.__module__.startswith("pandas.") and t.__name__ in ("DataFrame", "Series")


def dump(name, value, path_base, cell_source, count, defs, raw_source=None):
    """Exports one value; returns the artifact description (JSON-able).
    cell_source: the cell as IPython transformed it; raw_source: as the
    notebook has it, when it differs (the file name of its code, below)."""
    if isinstance(value, types.ModuleType):
        return {"codec": protocol.CODEC_MODULE, "module": value.__name__, "bytes": 0}
    if defined_here(value, name, defs):
        art = {"codec": protocol.CODEC_CODE, "source": cell_source, "count": count,
               "lineno": defs[name], "name": name, "bytes": len(cell_source)}
        if raw_source is not None and raw_source != cell_source:
            art["raw"] = raw_source
        return art
    note = None
    if _is_frame(value):
        ac = _arrow_codec()
        if ac:
            path = path_base + ".arrow"
            try:
                meta = ac.dump(value, path)
                d = {"codec": protocol.CODEC_ARROW, "path": path, "bytes": os.path.getsize(path)}
                if isinstance(meta, dict):
                    d.update({k: v for k, v in meta.items() if k not in d})
                return d
            except Exception as e:  # noqa: BLE001 - unsupported dtype: pickle
                note = "arrow: %s" % e
    path = path_base + ".pkl"
    refs = set()
    n = _write_pickle(value, path, refs=refs)
    d = {"codec": protocol.CODEC_PICKLE, "path": path, "bytes": n}
    if refs:  # instances of the notebook's classes: which class, floe sees to (core.c import_wire)
        d["main_refs"] = sorted(refs)
    if note:
        d["fallback"] = note
    return d


def load(info, ns, shell, resolve_main):
    codec = info["codec"]
    if codec == protocol.CODEC_MODULE:
        import importlib
        return importlib.import_module(info["module"])
    if codec == protocol.CODEC_CODE:
        return exec_code(info, ns, shell)
    if codec == protocol.CODEC_ARROW:
        return _arrow_codec().load(info["path"])
    if codec == protocol.CODEC_PICKLE:
        return _read_pickle(info["path"], resolve_main, ns)
    if codec == protocol.CODEC_UNMOVABLE:
        raise Unmovable("'%s' (a %s) was made by cell %s and cannot be moved to another isolated "
                        "kernel (%s); run this notebook with --mode monolithic, or recreate the value "
                        "in the cell that uses it" % (info.get("name"), info.get("type"),
                                                        info.get("cell"), info.get("reason")))
    raise ValueError("unknown codec %r" % codec)


# --- mutation detection -------------------------------------------------------

# Class attributes Python itself sets as caches: pickling an instance sets
# __slotnames__ (copyreg), an ABC keeps _abc_impl.
_CLASS_CACHES = frozenset(("__dict__", "__weakref__", "__doc__", "__slotnames__", "_abc_impl"))


def ref_state(value):
    """The state of a value that moves by reference, which no artifact
    carries: a module (re-imported by name), a class (re-created from its
    cell's source, or looked up by name), an lru_cache'd function (its
    cache). None for other values. Compared (ref_changed) within one
    process, at a cell's import of the value and after the cell: a change is
    an attribute set on the module or class (`json.flag = 1`,
    `Account.rate = 0.2`, a counter kept on the class by __init__), or cache
    entries, that a reader rebuilding the value would not see."""
    if isinstance(value, types.ModuleType):
        return ("module", dict(value.__dict__))  # a C copy: numpy has 600 names
    if isinstance(value, type):
        # the notebook's own classes only: a library's move by reference to
        # their module, and libraries change their classes as they are used
        # (sympy's assumption caches: `Sum` changed by `Sum(...).evalf()`)
        if value.__module__ != "__main__":
            return None
        return ("class", tuple((k, id(v), fingerprint(v) if isinstance(v, (list, dict, set)) else None)
                               for k, v in tuple(vars(value).items()) if k not in _CLASS_CACHES))
    info = getattr(type(value), "cache_info", None)
    if info is not None and type(value).__name__ == "_lru_cache_wrapper":
        try:
            return ("cache", tuple(value.cache_info()))
        except Exception:  # noqa: BLE001 - not functools' after all
            return None
    return None


def _public(d):
    """A module's public attributes by identity, submodules left out:
    importing `scipy.stats` sets an attribute on scipy, a re-import redoes
    it; libraries keep private caches on their modules."""
    return {(k, id(v)) for k, v in d.items() if k[:1] != "_" and not isinstance(v, types.ModuleType)}


def ref_changed(value, st):
    """Whether value changed since ref_state(value) gave st."""
    if st[0] != "module":
        return ref_state(value) != st
    d, old = value.__dict__, st[1]
    try:
        if d == old:  # the common case, in C (values compare by identity first)
            return False
    except Exception:  # noqa: BLE001 - a value whose == raises: look closer
        pass
    return _public(d) != _public(old)


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset,
              types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


# pandas' arrays of datetimes, timedeltas and periods: a numpy array of
# integers plus dtype and freq. Their pickle also carries pandas' caches
# (`_cache`: `_reso`, `_unit`...), which a read-only operation fills in
# (plotting a time series): not a mutation.
_DATETIME_ARRAYS = ("DatetimeArray", "TimedeltaArray", "PeriodArray")


def _array_crc(a, h):
    """crc32 of a column's values (numpy or extension array)."""
    import numpy as np
    if type(a).__name__ in _DATETIME_ARRAYS and isinstance(getattr(a, "_ndarray", None), np.ndarray):
        h = zlib.crc32(("%s|%s|%s" % (type(a).__name__, a.dtype, getattr(a, "freq", None))).encode(), h)
        a = a._ndarray
    if isinstance(a, np.ndarray) and a.dtype != object:
        return zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1), zlib.crc32(a.dtype.str.encode(), h))
    bufs = []
    data = pickle.dumps(a, protocol=5, buffer_callback=bufs.append)
    h = zlib.crc32(data, h)
    for b in bufs:
        h = zlib.crc32(b.raw(), h)
    return h


def _index_crc(idx, h):
    """crc32 of an index by what it holds (its pickle carries caches)."""
    t = type(idx).__name__
    if t == "RangeIndex":
        return zlib.crc32(pickle.dumps((t, idx.name, idx.start, idx.stop, idx.step), protocol=5), h)
    if t == "MultiIndex":
        h = zlib.crc32(pickle.dumps((t, list(idx.names)), protocol=5), h)
        for level, codes in zip(idx.levels, idx.codes):
            h = _array_crc(codes, _index_crc(level, h))
        return h
    h = zlib.crc32(pickle.dumps((t, idx.name, str(idx.dtype)), protocol=5), h)
    return _array_crc(idx._values, h)


def _frame_fingerprint(value):
    """A DataFrame/Series by what it holds, column by column: pandas may
    reorganise its blocks (consolidation, caches) on a read-only operation,
    which must not look like a mutation."""
    h = _index_crc(value.index, zlib.crc32(type(value).__name__.encode()))
    if value.ndim == 1:
        h = zlib.crc32(pickle.dumps(value.name), h)
        return ("series", len(value), _array_crc(value._values, h))
    h = zlib.crc32(pickle.dumps((list(value.columns), [str(t) for t in value.dtypes]), protocol=5), h)
    mgr = value._mgr
    for i in range(value.shape[1]):
        h = _array_crc(mgr.iget_values(i), h)
    return ("frame", value.shape, h)


def _groupby_fingerprint(value):
    """A pandas GroupBy by what it groups and how: its pickle carries the
    caches an aggregation fills (`grouped.mean()` computes the groups once
    and keeps them), which must not look like a mutation (pydata-book ch10
    re-ran the readers of the frame a GroupBy was linked to)."""
    import numpy as np
    h = zlib.crc32(pickle.dumps((type(value).__name__, value.axis, value.as_index, value.sort, value.dropna,
                                 value.group_keys, value.observed, value.level, value._selection,
                                 sorted(map(str, value.exclusions))), protocol=5))
    obj = value.obj
    fp = _frame_fingerprint(obj)
    h = zlib.crc32(repr(fp).encode(), h)
    for g in value.grouper.groupings:
        h = zlib.crc32(pickle.dumps(g.name, protocol=5), h)
        h = _array_crc(np.asarray(g.grouping_vector), h)
    return ("groupby", h)


def _is_groupby(value):
    t = type(value)
    return t.__module__.startswith("pandas.core.groupby") and hasattr(value, "grouper") and hasattr(value, "obj")


def _by_name(value):
    """Whether a reader gets value by looking its name up in its own process
    (a library's function or numpy ufunc: pickled as a reference), so that
    its content is no part of the artifact and fingerprinting it (pickling
    its defaults, ~0.2 ms a ufunc) tells nothing: what a cell changes in a
    library object is the library's state. A function defined in the
    notebook, or one a library made at run time (a closure under
    `<locals>`, carried by value or held), is fingerprinted."""
    t = type(value)
    if t is types.FunctionType:
        mod, qual = value.__module__, value.__qualname__
        if mod in (None, "__main__") or "<locals>" in qual or "<lambda>" in qual:
            return False
        obj = sys.modules.get(mod)
        for part in qual.split("."):
            obj = getattr(obj, part, None)
        return obj is value
    return t.__name__ == "ufunc" and t.__module__ == "numpy"


def fingerprint(value):
    """A cheap content hash to see whether a value was mutated in place, or
    None when the value cannot be mutated (or cannot be fingerprinted)."""
    if _by_name(value):
        return None
    if type(value) is types.FunctionType:
        try:
            return _function_state(value)
        except Exception:  # noqa: BLE001 - unpicklable state: identity only
            return None
    if isinstance(value, _IMMUTABLE):
        return None
    if isinstance(value, tuple) and all(isinstance(v, _IMMUTABLE) for v in value):
        return None
    if _is_frame(value):
        try:
            return _frame_fingerprint(value)
        except Exception:  # noqa: BLE001 - pandas internals moved: pickle below
            pass
    elif _is_groupby(value):
        try:
            return _groupby_fingerprint(value)
        except Exception:  # noqa: BLE001 - pandas internals moved: pickle below
            pass
    bufs = []
    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=bufs.append)
    except Exception:  # noqa: BLE001 - unpicklable: identity only
        return None
    h = zlib.crc32(data)
    for b in bufs:
        h = zlib.crc32(b.raw(), h)
    return (len(data), len(bufs), h)
