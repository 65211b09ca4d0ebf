"""Co-variables: names whose values share memory or identity, kept linked
between isolated kernels.

In Jupyter `b = a`, `view = arr[2:4]`, `s = df['a']`, `B = A.reshape(..)`,
two containers holding one object, a figure and its axes are one object
graph under two names: a write through one is seen through the other.
Moved one name at a time, each would become an object of its own. So:

* Detection, at the end of a cell that changed something: every name of the
  cell's namespace gets a *footprint*, the ids of the mutable objects it
  reaches (a breadth-first walk, bounded by BUDGET objects per cell) plus,
  for numpy arrays and pandas blocks, the id of the array that owns the
  memory (the root of the `.base` chain). Names whose footprints meet are
  one group (union-find). Unlike Kishu and ElasticNotebook, which walk (or
  pickle) the whole graph of every touched variable and treat arrays as
  opaque leaves, this sees views, reshapes and a frame's column Series, and
  skips atoms (numbers, strings) and arrays' elements in C-speed passes.
* Export: a group with a changed member is written as one artifact (codec
  "group"): one pickle of {name: value} with one memo, so identities
  survive, and every numpy view as a descriptor (root, byte offset, shape,
  strides) of its root, pickled once, so views stay views; a file-backed
  np.memmap as its file (reopened r+, never truncated). Every member gets
  a new version, also one the cell never named: a write through one name
  is a write of all (the engine re-runs readers of older versions).
* Import: members of one group version load once per kernel (same
  objects). Importing one member asks floe for the others (a lazy read):
  those whose visible version is the same group version are bound too, so
  a change through this one is exported for all; a member rebound since is
  not linked any more.

A group's gid names its version: "<artifact file name>"."""
import gc
import os
import types

from . import protocol

BUDGET = 200000  # objects visited per cell by the footprint walks

try:
    import numpy as _np
except Exception:  # noqa: BLE001 - no numpy: arrays never occur
    _np = None

_ATOMS = frozenset([int, float, complex, str, bytes, bool, type(None), range, slice, type(Ellipsis),
                    type(NotImplemented)])
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.CodeType, types.FrameType, types.GeneratorType, types.BuiltinMethodType,
           types.WrapperDescriptorType, types.MethodDescriptorType, types.GetSetDescriptorType,
           types.MemberDescriptorType, property, classmethod, staticmethod)
_CONTAINERS = (list, dict, set, tuple, frozenset)


def _root(a):
    """The array that owns a's memory (numpy collapses view chains to it)."""
    while isinstance(a.base, _np.ndarray):
        a = a.base
    return a


def _is_pandas(o, names):
    t = type(o)
    return t.__module__.startswith("pandas.") and any(c.__name__ in names for c in t.__mro__)


def _frame_arrays(o):
    """The arrays holding a DataFrame's or Series' values."""
    mgr = getattr(o, "_mgr", None)
    arrays = getattr(mgr, "arrays", None)
    if arrays is None:
        return [getattr(b, "values", None) for b in getattr(mgr, "blocks", ())]
    return list(arrays)


def _py_walk(queue, seen, budget, skip=(), special=()):
    """What _floe_covars.walk does, in Python (the reference, and the
    fallback when the extension is not built)."""
    anchors, others, visited = set(), [], 0
    level = list(queue)
    while level and visited < budget:
        nxt = []
        for o in level:
            if visited >= budget:
                break
            t = type(o)
            if t in _ATOMS or isinstance(o, type) or isinstance(o, skip) or id(o) in seen:
                continue
            seen.add(id(o))
            visited += 1
            sp = t is not list and t is not dict and t is not tuple and isinstance(o, special)
            if sp:
                others.append(o)
                continue
            if t is not tuple and t is not frozenset:
                anchors.add(id(o))
            if t is list or t is tuple or t is set or t is frozenset:
                nxt.extend(o)
            elif t is dict:
                nxt.extend(o.keys())
                nxt.extend(o.values())
            elif t is not bytearray:
                nxt.extend(gc.get_referents(o))
        level = [o for o in nxt if type(o) not in _ATOMS and not isinstance(o, type)]
    return anchors, others, visited


try:
    from ._floe_covars import walk as _walk
except ImportError:  # extension not built
    _walk = _py_walk


def _kinds():
    """(skip, special) for the walk: types shared by design or immutable,
    and the array and frame types looked into here."""
    import sys
    skip = list(_OPAQUE)
    special = []
    if _np is not None:
        skip += [_np.generic, _np.dtype]
        special.append(_np.ndarray)
    pd = sys.modules.get("pandas")
    if pd is not None:
        skip.append(pd.Index)
        special += [pd.DataFrame, pd.Series]
    return tuple(skip), tuple(special)


class Walk:
    """Footprints of several values within one budget: walked in C
    (_floe_covars.walk), but for arrays and frames, looked into here."""

    def __init__(self, budget=BUDGET):
        self.budget = budget
        self.visited = 0
        self.truncated = []
        self.memmaps = set()
        self.skip, self.special = _kinds()

    def footprint(self, value, name=None):
        anchors = set()
        seen = set()
        queue = [value]
        while queue:
            left = self.budget - self.visited
            if left <= 0:
                self.truncated.append(name)
                break
            found, others, n = _walk(queue, seen, left, self.skip, self.special)
            anchors |= found
            self.visited += n
            queue = []
            for o in others:
                self._other(o, anchors, queue)
        return anchors

    def _other(self, o, anchors, queue):
        if _np is not None and isinstance(o, _np.ndarray):
            self._array(o, anchors, queue)
            return
        anchors.add(id(o))  # a DataFrame or Series
        for a in _frame_arrays(o):
            if _np is not None and isinstance(a, _np.ndarray):
                self._array(a, anchors, queue)
            elif a is not None:
                queue.append(a)

    def _array(self, a, anchors, queue):
        r = _root(a)
        anchors.add(id(a))
        anchors.add(id(r))
        if _file_backed(r):
            self.memmaps.add(id(r))
        if a.dtype.hasobject and a.size:
            queue.append(a.ravel().tolist())


def _file_backed(r):
    return isinstance(r, _np.memmap) and getattr(r, "filename", None) and \
        getattr(r, "mode", None) in ("r+", "w+", "r") and r.base is not None


def groups(values, walk, changed=None):
    """values: name -> value. Returns (groups, memmap_names): the groups of two
    or more names whose footprints meet, and the names that reach a
    file-backed memmap (they need the group codec even alone). With
    `changed` (names), only groups with a changed member matter: those are
    walked first, and when none of them reaches a mutable object (the cell
    made numbers, strings, functions...) the others are not walked at all."""
    if changed is not None:
        order = sorted(values, key=lambda n: n not in changed)
        values = {n: values[n] for n in order}
    parent = {n: n for n in values}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    prints = {}
    everything = set()
    for name, value in values.items():
        if changed is not None and name not in changed and not everything:
            break  # the changed names reach nothing mutable: no group
        fp = walk.footprint(value, name)
        if not everything.isdisjoint(fp):  # set operations in C; names are few
            for other, ofp in prints.items():
                if not ofp.isdisjoint(fp):
                    parent[find(name)] = find(other)
        prints[name] = fp
        everything |= fp
    mm = {n for n, fp in prints.items() if walk.memmaps and not walk.memmaps.isdisjoint(fp)}
    out = {}
    for n in prints:
        out.setdefault(find(n), []).append(n)
    return [sorted(g) for g in out.values() if len(g) > 1], mm


# --- the group codec ------------------------------------------------------------

def _view(root, offset, shape, strides, dtype, cls, writeable):
    """A view of root, as the one pickled (the reader's arrays share memory)."""
    v = _np.ndarray(shape, dtype, buffer=root, offset=offset, strides=strides)
    if cls is not _np.ndarray:
        v = v.view(cls)
        if isinstance(root, _np.memmap) and cls is _np.memmap:
            v._mmap, v.filename, v.offset, v.mode = root._mmap, root.filename, root.offset, root.mode
    if not writeable:
        v.flags.writeable = False
    return v


def _memmap(filename, dtype, mode, offset, shape, order):
    """A file-backed np.memmap reopened in the reader: the same file, never
    truncated (w+ becomes r+)."""
    return _np.memmap(filename, dtype=dtype, mode="r+" if mode in ("r+", "w+") else "r", offset=offset,
                      shape=shape, order=order)


def _address(a):
    return a.__array_interface__["data"][0]


def _reduce_array(obj):
    """Reduction of an array inside a group: a view of its root, a memmap by
    its file; NotImplemented for an ordinary root (pickled as data)."""
    r = _root(obj)
    if r is obj:
        if _file_backed(obj):
            order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
            return _memmap, (obj.filename, obj.dtype, obj.mode, obj.offset, obj.shape, order)
        return NotImplemented
    if obj.dtype.hasobject or r.dtype.hasobject or not (r.flags.c_contiguous or r.flags.f_contiguous):
        return NotImplemented  # cannot be rebuilt over r's buffer: a copy
    return _view, (r, _address(obj) - _address(r), obj.shape, obj.strides, obj.dtype, type(obj), _writeable(obj))


def _writeable(a):
    """a.flags.writeable without numpy's FutureWarning for the views of
    np.broadcast_arrays (floe's work must not warn in the cell's kernel)."""
    flags = a.flags
    w = getattr(flags, "_writeable_no_warn", None)
    return bool(flags.writeable if w is None else w)


def _group_pickler():
    from . import store

    class GroupPickler(store._Pickler):
        def reducer_override(self, obj):
            if _np is not None and isinstance(obj, _np.ndarray):
                rv = _reduce_array(obj)
                if rv is not NotImplemented:
                    return rv
            return super().reducer_override(obj)
    return GroupPickler


def _cachers(values):
    """pandas' own link of a column Series to its frame (`s = df['a']`: the
    frame caches s, s knows the frame; a write through s then warns as in
    Jupyter): (series name, frame name, column key) for named pairs."""
    out = []
    for sn, sv in values.items():
        c = getattr(sv, "_cacher", None) if _is_pandas(sv, ("Series",)) else None
        if not (isinstance(c, tuple) and len(c) == 2 and callable(c[1])):
            continue
        frame = c[1]()
        out.extend((sn, dn, c[0]) for dn, dv in values.items() if dv is frame and frame is not None)
    return out


def _recache(vals, cachers):
    for sn, dn, key in cachers:
        s, d = vals.get(sn), vals.get(dn)
        try:
            d._item_cache[key] = s
            s._set_as_cached(key, d)
        except Exception:  # noqa: BLE001 - pandas internals moved: values stay shared all the same
            pass


def dump(values, path):
    """Writes {name: value} as one pickle artifact; returns its size."""
    from . import store
    values = dict(values)
    return store._write_pickle((values, {"cachers": _cachers(values)}), path, pickler=_group_pickler())


class Links:
    """One kernel's view of groups: loaded group versions, and the members
    bound because another member was imported."""

    def __init__(self):
        self.loaded = {}     # gid -> {name: value}
        self.memmap_files = set()
        self.events = []

    def load(self, info, ns, resolve_main):
        from . import store
        gid = info["gid"]
        vals = self.loaded.get(gid)
        if vals is None:
            vals, extra = store._read_pickle(info["path"], resolve_main, ns)
            _recache(vals, extra.get("cachers", ()))
            self.loaded[gid] = vals
            for v in vals.values():
                if _np is not None and isinstance(v, _np.memmap) and getattr(v, "filename", None):
                    self.memmap_files.add(v.filename)
        return vals[info["member"]]


# Members written again unchanged marked `same` (readers of the earlier
# version not stale); FLOE_SAME=0 turns it off.
SAME = os.environ.get("FLOE_SAME", "1") != "0"


def artifact(name, gid, names, path, nbytes):
    return {"name": name, "codec": protocol.CODEC_GROUP, "path": path, "gid": gid, "member": name, "members": names,
            "bytes": nbytes}


# --- the kernel's side ----------------------------------------------------------

def link_members(k, name, info):
    """Cell kernel k imported `name`, a member of a group version: binds the
    other members whose visible version is this same one (asking floe for
    those not already on the import list: a read of that name)."""
    ns = k.shell.user_ns
    gid = info["gid"]
    pending = getattr(k.links, "pending", {})
    for m in info.get("members", ()):
        if m == name or m in ns:
            continue
        art = pending.get(m)
        if art is None:
            art = k._ask(m, link=gid).get("artifact")  # none when m's version is another
            if art:
                k.reads.append(m)
        if not art or art.get("gid") != gid:
            continue  # rebound or deleted since: no longer linked
        from . import store
        try:
            value = k.links.load(art, ns, k._resolve_main)
        except Exception:  # noqa: BLE001 - the member itself failed to load: it is not bound
            continue
        ns[m] = value
        k.imported[m] = store.fingerprint(value)
        k.before[m] = id(value)


def export(k, ns, only, version, exports):
    """Writes the groups of cell kernel k's namespace that have a changed
    member (see the module's doc); appends their artifacts to exports and
    returns the names written. Written even when floe predicts no later
    reader for the cell's names (`only`): the other members' readers are
    not predicted to read from this cell at all."""
    import time
    from . import store
    from .kernel import FileInputs
    cands = k.user_names(ns)
    changed = {n for n, v in cands.items() if k._changed(n, v)}
    if not changed:
        return set()
    t0 = time.monotonic_ns() // 1000
    walk = Walk()
    try:
        gs, mm = groups(cands, walk, changed)
    except Exception as e:  # noqa: BLE001 - an object the walk cannot look into: each name on its own
        k.events.append({"name": "covars", "start": t0, "dur": time.monotonic_ns() // 1000 - t0,
                         "args": {"error": "%s: %s" % (type(e).__name__, e)}})
        return set()
    in_group = {n for g in gs for n in g}
    todo = [g for g in gs if not changed.isdisjoint(g)] + [[n] for n in sorted(mm) if n in changed and
                                                            n not in in_group]
    t1 = time.monotonic_ns() // 1000
    done = set()
    for g in todo:
        path = os.path.join(k.run_dir, "%s+%d@%d.pkl" % (g[0], len(g), version))
        try:
            n = dump({m: cands[m] for m in g}, path)
        except store.Unmovable:
            continue  # each member on its own (unmovable ones stay in a holder)
        gid = os.path.basename(path)
        for m in g:
            art = artifact(m, gid, g, path, n)
            if SAME and m not in changed and k.before.get(m) == id(cands[m]) and k.imported.get(m) is not None:
                # the value the cell had before it, its fingerprint compared
                # equal (a value that cannot be fingerprinted, a Figure, is
                # never known unchanged), written again only to stay linked
                # with a changed member: a reader of the earlier version read
                # this same value (core.c, same_chain)
                art["same"] = True
            elif k.before.get(m) == id(cands[m]):
                art["mutated"] = True  # changed in place, not rebound (core.c, same_written)
            exports.append(art)
            done.add(m)
        for m in g:
            # an imported memmap written through: a write of its file (one
            # the cell opened itself is seen by the audit hook)
            v = cands[m]
            if _np is not None and isinstance(v, _np.memmap) and getattr(v, "filename", None) and \
                    getattr(v, "mode", "r") != "r" and FileInputs.writing is not None and \
                    m in k.imported and k.before.get(m) == id(v) and m in changed:
                FileInputs.writing.add(os.path.abspath(v.filename))
    k.events.append({"name": "covars", "start": t0, "dur": t1 - t0,
                     "args": {"names": len(cands), "visited": walk.visited, "groups": [g for g in todo],
                              "truncated": walk.truncated, "write_us": time.monotonic_ns() // 1000 - t1}})
    return done
