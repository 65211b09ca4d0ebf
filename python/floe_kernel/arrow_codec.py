"""pandas DataFrame / Series <-> Arrow IPC file (Feather v2), through the C
codec in _floe_arrow (no pyarrow).

dump(value, path) -> dict   writes the file; raises TypeError / ValueError for
                            anything it cannot round-trip exactly (the caller
                            then falls back to pickle)
load(path) -> value         maps the file copy-on-write; numeric, datetime and
                            categorical-code columns are numpy views of the
                            mapping (no copy), strings are decoded

The schema carries two metadata keys: "pandas" (pyarrow's pandas metadata,
so pyarrow and other readers see a normal table with its index) and "floe"
(what exact reconstruction needs: dtypes, missing-value sentinels, names).
Files without "floe" (written by other Arrow libraries) load with default
type mappings and a RangeIndex."""
import datetime
import json

import numpy as np
import pandas as pd

from . import _floe_arrow

FORMAT = 1
_NP_KINDS = {"i", "u", "f"}
_UNIT = {"s": "s", "ms": "ms", "us": "us", "ns": "ns"}


# --- names: JSON with a type tag, so 1 and "1" stay distinct ----------------

def _enc_name(x):
    if x is None:
        return None
    if isinstance(x, bool):
        return ["bool", x]
    if isinstance(x, str):
        return ["str", x]
    if isinstance(x, int) and not isinstance(x, np.integer):
        return ["int", x]
    if isinstance(x, float) and x == x and type(x) is float:
        return ["float", x]
    raise TypeError("unsupported name %r" % (x,))


def _dec_name(v):
    if v is None:
        return None
    return v[1]


# --- encoding one column -------------------------------------------------------

def _mask_bytes(mask):
    mask = np.asarray(mask)
    if not mask.any():
        return None
    return np.ascontiguousarray(mask).view(np.uint8)


def _missing_kind(values, mask):
    """Which sentinel marks missing values of an object column."""
    kinds = set()
    for v in values[mask]:
        if v is None:
            kinds.add("None")
        elif isinstance(v, float) and v != v:
            kinds.add("nan")
        else:
            raise TypeError("object column with missing value %r" % (v,))
        if len(kinds) > 1:
            raise TypeError("object column mixes None and NaN")
    return kinds.pop() if kinds else None


def _encode(name, arr):
    """arr: a Series' or an Index's values (numpy or extension array).
    Returns (column spec for _floe_arrow.write, floe column info,
    pandas-metadata (pandas_type, numpy_type, metadata))."""
    dt = arr.dtype
    n = len(arr)
    spec = {"name": name, "length": n}
    info = {"dtype": str(dt)}
    if isinstance(dt, np.dtype):
        # strided arrays (a column of a 2-D block) are not copied here: the
        # writer gathers them straight into the file
        if dt.kind in _NP_KINDS:
            spec.update(type=dt.name, data=np.asarray(arr))
            info["kind"] = "np"
            return spec, info, (dt.name, dt.name, None)
        if dt.kind == "b":
            spec.update(type="bool", data=np.ascontiguousarray(arr).view(np.uint8))
            info["kind"] = "np"
            return spec, info, ("bool", "bool", None)
        if dt.kind in "mM":
            unit = np.datetime_data(dt)[0]
            if unit not in _UNIT:
                raise TypeError("unsupported unit %s" % dt)
            a = np.asarray(arr)
            spec.update(type="timestamp" if dt.kind == "M" else "duration", unit=unit,
                        data=a.view(np.int64), null_mask=_mask_bytes(np.isnat(a)))
            info["kind"] = "np"
            pt = "datetime" if dt.kind == "M" else "timedelta"
            return spec, info, (pt, str(dt), None)
        if dt.kind == "O":
            return _encode_object(spec, info, np.asarray(arr))
        raise TypeError("unsupported dtype %s" % dt)
    if isinstance(dt, pd.CategoricalDtype):
        codes = np.ascontiguousarray(arr.codes)
        cats = dt.categories
        dspec, dinfo, _ = _encode(None, cats._values if hasattr(cats, "_values") else cats.values)
        if dspec.get("null_mask") is not None:
            raise TypeError("categories with missing values")
        spec.update(type=codes.dtype.name, data=codes, null_mask=_mask_bytes(codes < 0),
                    dictionary=dspec, ordered=bool(dt.ordered))
        info.update(kind="category", categories=dinfo, ordered=bool(dt.ordered))
        return spec, info, ("categorical", codes.dtype.name,
                            {"num_categories": len(cats), "ordered": bool(dt.ordered)})
    if isinstance(dt, pd.DatetimeTZDtype):
        if dt.unit not in _UNIT:
            raise TypeError("unsupported unit %s" % dt)
        tz = str(dt.tz)
        if pd.DatetimeTZDtype(dt.unit, tz) != dt:
            raise TypeError("time zone %r does not round-trip" % tz)
        a = np.ascontiguousarray(arr._ndarray if hasattr(arr, "_ndarray") else arr.asi8)
        spec.update(type="timestamp", unit=dt.unit, tz=tz, data=a.view(np.int64),
                    null_mask=_mask_bytes(np.isnat(a.view("M8[%s]" % dt.unit))))
        info.update(kind="dt64tz", unit=dt.unit, tz=tz)
        return spec, info, ("datetimetz", "datetime64[%s]" % dt.unit, {"timezone": tz})
    if isinstance(dt, pd.StringDtype):
        if dt.storage != "python":
            raise TypeError("unsupported string storage %s" % dt.storage)
        vals = np.asarray(arr._ndarray if hasattr(arr, "_ndarray") else arr, dtype=object)
        mask = np.asarray(arr.isna())
        spec.update(type="utf8", values=vals, null_mask=_mask_bytes(mask))
        info["kind"] = "string"
        return spec, info, ("unicode", "string", None)
    if isinstance(arr, (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)):
        data = np.ascontiguousarray(arr._data)
        mask = np.ascontiguousarray(arr._mask)
        if data.dtype.kind == "b":
            spec.update(type="bool", data=data.view(np.uint8))
        elif data.dtype.kind in _NP_KINDS:
            spec.update(type=data.dtype.name, data=data)
        else:
            raise TypeError("unsupported dtype %s" % dt)
        spec["null_mask"] = _mask_bytes(mask)
        info["kind"] = "masked"
        return spec, info, (str(dt).lower() if data.dtype.kind != "b" else "bool", str(dt), None)
    raise TypeError("unsupported dtype %s" % dt)


def _encode_object(spec, info, vals):
    # str or bytes with None/NaN: one pass in C (pandas' isna + infer_dtype
    # take ~0.6 us a row on a 10M-row column); anything else: pandas decides
    fast, fmask, missing = _floe_arrow.classify(vals)
    if fast is not None:
        mask = np.frombuffer(fmask, np.uint8) if fmask is not None else None
        spec.update(type="utf8" if fast == "str" else "binary", values=vals, null_mask=mask)
        info.update(kind=fast, missing=missing)
        return spec, info, ("unicode" if fast == "str" else "bytes", "object", None)
    kind = pd.api.types.infer_dtype(vals, skipna=True)
    mask = np.asarray(pd.isna(vals)) if len(vals) else np.zeros(0, bool)
    missing = _missing_kind(vals, mask) if mask.any() else None
    if kind in ("string", "empty"):
        spec.update(type="utf8", values=vals, null_mask=_mask_bytes(mask))
        info.update(kind="str", missing=missing)
        return spec, info, ("unicode", "object", None)
    if kind == "bytes":
        spec.update(type="binary", values=vals, null_mask=_mask_bytes(mask))
        info.update(kind="bytes", missing=missing)
        return spec, info, ("bytes", "object", None)
    if kind == "date":
        for v in vals[~mask]:
            if type(v) is not datetime.date:
                raise TypeError("object column mixes dates and %s" % type(v).__name__)
        days = np.array([None if m else v for v, m in zip(vals, mask)], dtype="M8[D]")
        spec.update(type="date32", data=days.view(np.int64).astype(np.int32), null_mask=_mask_bytes(mask))
        info.update(kind="date", missing=missing)
        return spec, info, ("date", "object", None)
    raise TypeError("unsupported object column (inferred %s)" % kind)


# --- dump ------------------------------------------------------------------------

def _check_levels(idx):
    """A MultiIndex is stored as its level values and rebuilt with
    from_arrays, which gives each level its sorted unique values. Levels in
    another order (data.stack() keeps the columns' order), with unused
    values, or of another dtype than from_arrays would infer would come back
    different: TypeError, and the pickle codec moves it exactly."""
    for i in range(idx.nlevels):
        lev = idx.levels[i]
        if not lev.is_monotonic_increasing or not lev.is_unique:
            raise TypeError("MultiIndex level %d is not sorted" % i)
        codes = np.asarray(idx.codes[i])
        used = np.unique(codes[codes >= 0]).size
        if used != len(lev):
            raise TypeError("MultiIndex level %d has unused values" % i)
    rebuilt = pd.MultiIndex.from_arrays([idx.get_level_values(i) for i in range(idx.nlevels)], names=idx.names)
    for a, b in zip(idx.levels, rebuilt.levels):
        if a.dtype != b.dtype or type(a) is not type(b) or not a.equals(b):
            raise TypeError("MultiIndex levels would not round-trip")


def dump(value, path):
    if isinstance(value, pd.Series):
        frame_kind = "series"
        names = [value.name]
        arrays = [value._values]
        columns = None
    elif isinstance(value, pd.DataFrame):
        frame_kind = "frame"
        columns = value.columns
        if isinstance(columns, pd.MultiIndex):
            raise TypeError("MultiIndex columns")
        names = list(columns)
        for c in names:
            if not isinstance(c, str):
                raise TypeError("non-str column name %r" % (c,))
        if not isinstance(columns, pd.RangeIndex) and columns.dtype != object:
            raise TypeError("columns index of dtype %s" % columns.dtype)
        # the blocks' own arrays, as iloc[:, i]._values but without building
        # a Series per column: in a freshly forked kernel each Python object
        # touched for the first time costs a copy-on-write fault
        arrays = [value._get_column_array(i) for i in range(len(names))]
    else:
        raise TypeError("not a DataFrame or Series")
    if getattr(value, "attrs", None):
        raise TypeError("attrs are not carried")
    if getattr(value, "flags", None) is not None and not value.flags.allows_duplicate_labels:
        raise TypeError("flags are not carried")
    specs, infos, pcols = [], [], []
    for i, (name, arr) in enumerate(zip(names, arrays)):
        field = name if frame_kind == "frame" else (str(name) if name is not None else "0")
        spec, info, (pt, nt, md) = _encode(field, arr)
        specs.append(spec)
        infos.append(info)
        pcols.append({"name": field if frame_kind == "frame" or name is not None else None,
                      "field_name": field, "pandas_type": pt, "numpy_type": nt, "metadata": md})
    # the index
    idx = value.index
    index_info, index_cols = [], []
    if isinstance(idx, pd.RangeIndex):
        index_info = {"kind": "range", "name": _enc_name(idx.name), "start": int(idx.start),
                      "stop": int(idx.stop), "step": int(idx.step)}
        index_cols.append({"kind": "range", "name": idx.name if isinstance(idx.name, str) else None,
                           "start": int(idx.start), "stop": int(idx.stop), "step": int(idx.step)})
    else:
        if isinstance(idx, pd.MultiIndex):
            _check_levels(idx)
        levels = ([idx.get_level_values(i) for i in range(idx.nlevels)]
                  if isinstance(idx, pd.MultiIndex) else [idx])
        lv_info = []
        for i, lv in enumerate(levels):
            field = "__index_level_%d__" % i
            spec, info, (pt, nt, md) = _encode(field, lv._values)
            info["name"] = _enc_name(idx.names[i])
            info["freq"] = getattr(lv, "freqstr", None) if not isinstance(idx, pd.MultiIndex) else None
            if type(lv) not in (pd.Index, pd.DatetimeIndex, pd.TimedeltaIndex, pd.CategoricalIndex) and \
                    type(lv).__name__ not in ("Int64Index", "UInt64Index", "Float64Index", "NumericIndex"):
                raise TypeError("unsupported index type %s" % type(lv).__name__)
            specs.append(spec)
            lv_info.append(info)
            index_cols.append(field)
            pcols.append({"name": idx.names[i] if isinstance(idx.names[i], str) else None,
                          "field_name": field, "pandas_type": pt, "numpy_type": nt, "metadata": md})
        index_info = {"kind": "multi" if isinstance(idx, pd.MultiIndex) else "index", "levels": lv_info}
    floe = {"format": FORMAT, "kind": frame_kind, "columns": infos, "index": index_info}
    if frame_kind == "series":
        floe["name"] = _enc_name(value.name)
    else:
        floe["columns_name"] = _enc_name(columns.name)
        floe["columns_range"] = isinstance(columns, pd.RangeIndex)
    pandas_md = {
        "index_columns": index_cols,
        "column_indexes": [{"name": columns.name if columns is not None and isinstance(columns.name, str) else None,
                            "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": pcols,
        "creator": {"library": "floe", "version": str(FORMAT)},
        "pandas_version": pd.__version__,
        "attributes": {},
    }
    meta = {"pandas": json.dumps(pandas_md), "floe": json.dumps(floe)}
    _floe_arrow.write(str(path), specs, meta)
    return {}


# --- load --------------------------------------------------------------------------

_NP_TYPES = {t: np.dtype(t) for t in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                       "uint32", "uint64", "float16", "float32", "float64")}
_MASKED = {"int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64", "uint8": "UInt8",
           "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64", "float32": "Float32",
           "float64": "Float64"}


def _valid(c):
    """Boolean numpy array (True = valid), or None when there are no nulls."""
    if not c["null_count"] or c["validity"] is None:
        return None
    return np.frombuffer(_floe_arrow.unpack_bits(c["validity"], c["length"]), dtype=np.bool_)


def _fixed(c):
    return np.frombuffer(c["data"], dtype=_NP_TYPES[c["type"]], count=c["length"]) \
        if c["length"] else np.empty(0, _NP_TYPES[c["type"]])


def _objects(values, valid, missing):
    if isinstance(values, np.ndarray):  # what _floe_arrow.read decodes into
        out = values
    else:
        out = np.empty(len(values), dtype=object)
        out[:] = values
    if valid is not None and missing == "nan":
        out[~valid] = np.nan
    return out


def _decode(c, info):
    """One Arrow column (dict from _floe_arrow.read) -> numpy / extension array."""
    kind = info.get("kind") if info else None
    t = c["type"]
    n = c["length"]
    valid = _valid(c)
    if c.get("dictionary") is not None:
        codes = _fixed(c)
        if valid is not None:
            codes = codes.copy()
            codes[~valid] = -1
        cats = _decode(c["dictionary"], info.get("categories") if info else None)
        ordered = bool(c.get("ordered"))
        cat_index = pd.Index(cats, tupleize_cols=False) if not isinstance(cats, pd.Index) else cats
        dtype = pd.CategoricalDtype(cat_index, ordered=ordered)
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if t in _NP_TYPES:
        a = _fixed(c)
        if valid is None:
            if kind == "masked":
                return pd.array(a, dtype=info["dtype"]) if n == 0 else \
                    _masked(a, np.zeros(n, np.bool_), info["dtype"])
            return a
        if kind == "np" and a.dtype.kind == "f":
            a = a.copy()
            a[~valid] = np.nan
            return a
        return _masked(a, ~valid, info["dtype"] if kind == "masked" else _MASKED.get(t, "Float64"))
    if t == "bool":
        a = np.frombuffer(_floe_arrow.unpack_bits(c["data"], n), dtype=np.bool_) if n else np.empty(0, np.bool_)
        if valid is None and kind != "masked":
            return a
        return pd.arrays.BooleanArray(a, ~valid if valid is not None else np.zeros(n, np.bool_))
    if t in ("timestamp", "duration"):
        unit = c.get("unit", "ns")
        code = "M8" if t == "timestamp" else "m8"
        a = np.frombuffer(c["data"], dtype=np.int64, count=n) if n else np.empty(0, np.int64)
        if valid is not None and not (a[~valid] == np.iinfo(np.int64).min).all():
            a = a.copy()
            a[~valid] = np.iinfo(np.int64).min
        a = a.view("%s[%s]" % (code, unit))
        if unit != "ns":
            a = a.astype("%s[ns]" % code)
        tz = c.get("tz")
        if t == "timestamp" and tz:
            return pd.arrays.DatetimeArray(a, dtype=pd.DatetimeTZDtype("ns", tz), copy=False)
        return a
    if t in ("date32", "date64"):
        a = np.frombuffer(c["data"], dtype=np.int32 if t == "date32" else np.int64, count=n) if n \
            else np.empty(0, np.int32)
        days = a.astype("M8[D]") if t == "date32" else a.view("M8[ms]").astype("M8[D]")
        out = days.astype(object)
        if valid is not None:
            out[~valid] = np.nan if info and info.get("missing") == "nan" else None
        return out
    if t in ("utf8", "large_utf8", "binary", "large_binary"):
        if kind == "string":
            out = _objects(c["values"], None, None)
            if valid is not None:
                out[~valid] = pd.NA
            return pd.arrays.StringArray(out)
        return _objects(c["values"], valid, info.get("missing") if info else None)
    if t == "null":
        return np.full(n, None, dtype=object)
    raise TypeError("unsupported Arrow type %s" % t)


def _masked(data, mask, dtype):
    dt = pd.api.types.pandas_dtype(dtype)
    cls = dt.construct_array_type()
    if data.dtype != dt.numpy_dtype:
        data = data.astype(dt.numpy_dtype)
    return cls(data, mask)


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return type(parts[0])._concat_same_type(parts)


def _make_index(values, info):
    name = _dec_name(info.get("name")) if info else None
    if isinstance(values, np.ndarray) and values.dtype == object:
        idx = pd.Index(values, dtype=object, name=name, tupleize_cols=False)
    else:
        idx = pd.Index(values, name=name, copy=False)
    freq = info.get("freq") if info else None
    if freq:
        idx = type(idx)(idx, freq=freq, name=name)
    return idx


def _frame(arrays, names, index, columns_name, columns_range):
    ncols = len(arrays)
    if columns_range and ncols == 0:
        cols = pd.RangeIndex(0, name=columns_name)
    else:
        cols = pd.Index(names, dtype=object, name=columns_name)
    try:
        return _frame_blocks(arrays, cols, index)
    except Exception:  # noqa: BLE001 - pandas internals moved: plain constructor (copies)
        df = pd.DataFrame({i: a for i, a in enumerate(arrays)}, index=index)
        df.columns = cols
        return df


def _frame_blocks(arrays, cols, index):
    """One block per column, so no consolidation copy of the mapped data."""
    from pandas.core.internals import BlockManager
    from pandas.core.internals.api import make_block
    blocks = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            if a.dtype.kind in "mM" and a.dtype != np.dtype("%s8[ns]" % a.dtype.kind):
                a = a.astype("%s8[ns]" % a.dtype.kind)
            blocks.append(make_block(a.reshape(1, -1), placement=[i], ndim=2))
        else:
            blocks.append(make_block(a, placement=[i], ndim=2))
    mgr = BlockManager(blocks, [cols, index])
    if hasattr(pd.DataFrame, "_from_mgr"):
        return pd.DataFrame._from_mgr(mgr, mgr.axes)
    return pd.DataFrame(mgr, copy=False)


def load(path):
    r = _floe_arrow.read(str(path))
    md = r["metadata"]
    floe = json.loads(md["floe"]) if "floe" in md else None
    if floe is not None and floe.get("format") != FORMAT:
        raise ValueError("%s: floe arrow format %r not supported" % (path, floe.get("format")))
    fields = r["fields"]
    batches = r["batches"]
    nrows = r["nrows"]

    def column(i, info):
        parts = [_decode(b[i], info) for b in batches]
        if not parts:
            c = dict(fields[i], length=0, null_count=0, validity=None, data=None, values=[])
            if c.get("dictionary") is not None:
                c["dictionary"] = dict(c["dictionary"], null_count=0, validity=None, values=[])
            return _decode_empty(c, info)
        return _concat(parts)

    if floe is None:
        arrays = [column(i, None) for i in range(len(fields))]
        names = [f["name"] for f in fields]
        return _frame(arrays, names, pd.RangeIndex(nrows), None, False)
    ncols = len(floe["columns"])
    arrays = [column(i, floe["columns"][i]) for i in range(ncols)]
    ix = floe["index"]
    if ix["kind"] == "range":
        index = pd.RangeIndex(ix["start"], ix["stop"], ix["step"], name=_dec_name(ix["name"]))
    else:
        lv = [column(ncols + k, info) for k, info in enumerate(ix["levels"])]
        if ix["kind"] == "multi":
            index = pd.MultiIndex.from_arrays(
                [_make_index(v, info) for v, info in zip(lv, ix["levels"])],
                names=[_dec_name(info.get("name")) for info in ix["levels"]])
        else:
            index = _make_index(lv[0], ix["levels"][0])
    if floe["kind"] == "series":
        return pd.Series(arrays[0], index=index, name=_dec_name(floe.get("name")), copy=False)
    names = [f["name"] for f in fields[:ncols]]
    return _frame(arrays, names, index, _dec_name(floe.get("columns_name")), floe.get("columns_range", False))


def _decode_empty(c, info):
    """A column of a file without record batches."""
    t = c["type"]
    if c.get("dictionary") is not None or t in _NP_TYPES or t in ("timestamp", "duration", "date32", "date64"):
        c["data"] = b""
    if t == "bool":
        c["data"] = b""
    return _decode(c, info)
