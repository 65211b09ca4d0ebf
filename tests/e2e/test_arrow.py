"""Arrow IPC codec (src/store/arrow.c via python/floe_kernel/arrow_codec.py):
exact pandas round trips, zero-copy loads, mutation isolation, hostile
files, and interoperability with apache-arrow JS in both directions."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

from floe_kernel import arrow_codec as C  # noqa: E402
from floe_kernel import store  # noqa: E402

NODE = shutil.which("node")
JS_DIR = os.path.join(ROOT, "tests", "arrow")
ARROW_JS = os.path.join(ROOT, "third_party", "node_modules", "apache-arrow")
needs_js = pytest.mark.skipif(not NODE or not os.path.isdir(ARROW_JS), reason="node / apache-arrow missing")


def roundtrip(value, tmp_path, name="v.arrow"):
    path = str(tmp_path / name)
    assert C.dump(value, path) == {}
    return C.load(path)


def check_equal(a, b):
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_freq=True)
    else:
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_freq=True, check_column_type=True)
    assert type(a.index) is type(b.index)
    assert a.index.names == b.index.names


def columns(n, seed=0):
    """Every supported dtype, n rows, with nulls where the dtype has them."""
    rng = np.random.default_rng(seed)
    na = lambda k: (np.arange(n) % k) == 1  # noqa: E731
    cols = {}
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(t)
        cols[t] = rng.integers(info.min, info.max, n, dtype=t, endpoint=True)
    for t in ("float16", "float32", "float64"):
        a = rng.standard_normal(n).astype(t)
        a[na(3)] = np.nan
        if n > 4:
            a[4] = np.inf
        cols[t] = a
    cols["bool"] = rng.integers(0, 2, n).astype(bool)
    cols["str"] = np.array([None if m else "s%d-é€😀" % i for i, m in enumerate(na(4))], dtype=object)
    cols["str_nan"] = np.array([np.nan if m else "x" * (i % 7) for i, m in enumerate(na(5))], dtype=object)
    cols["str_full"] = np.array(["ü%d" % i for i in range(n)], dtype=object)
    cats = pd.Categorical.from_codes(np.where(na(3), -1, np.arange(n) % 3), ["lo", "mid", "hi"])
    cols["cat"] = cats
    cols["cat_ord_int"] = pd.Categorical(np.arange(n) % 5, categories=[4, 3, 2, 1, 0], ordered=True)
    for t in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"):
        cols[t] = pd.array([None if m else i % 100 for i, m in enumerate(na(3))], dtype=t)
    cols["Float32"] = pd.array([None if m else i / 4 for i, m in enumerate(na(3))], dtype="Float32")
    cols["Float64"] = pd.array([None if m else i / 4 for i, m in enumerate(na(3))], dtype="Float64")
    cols["boolean"] = pd.array([None if m else bool(i % 2) for i, m in enumerate(na(3))], dtype="boolean")
    cols["string"] = pd.array([None if m else "v%d" % i for i, m in enumerate(na(3))], dtype="string")
    dt = pd.Series(pd.date_range("2021-03-01", periods=n, freq="37min"))
    dt[na(4)] = pd.NaT
    cols["dt"] = dt
    cols["dt_utc"] = pd.Series(pd.date_range("2021-03-01", periods=n, freq="H", tz="UTC"))
    cols["dt_paris"] = pd.Series(pd.date_range("2021-03-27", periods=n, freq="H", tz="Europe/Paris"))
    td = pd.Series(pd.to_timedelta(np.arange(n), unit="s"))
    td[na(4)] = pd.NaT
    cols["td"] = td
    cols["date"] = np.array([None if m else datetime.date(2000, 1, 1) + datetime.timedelta(days=i)
                             for i, m in enumerate(na(4))], dtype=object)
    return cols


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_roundtrip_all_dtypes(tmp_path, n):
    df = pd.DataFrame(columns(n))
    check_equal(df, roundtrip(df, tmp_path))


@pytest.mark.parametrize("name", list(columns(3)))
def test_roundtrip_each_dtype_as_series(tmp_path, name):
    s = pd.Series(columns(9)[name], name=name)
    check_equal(s, roundtrip(s, tmp_path))


def test_empty_and_zero_columns(tmp_path):
    for df in (pd.DataFrame(), pd.DataFrame(index=range(5)), pd.DataFrame(index=pd.Index(["a", "b"], name="k")),
               pd.DataFrame({"a": pd.Series([], dtype="int64"), "s": pd.Series([], dtype=object)}),
               pd.DataFrame({"a": [1]})):
        check_equal(df, roundtrip(df, tmp_path))


def test_series_names_and_indexes(tmp_path):
    for name in (None, "x", 0, 7, 2.5, True, "ünï"):
        s = pd.Series([1.0, 2.0, 3.0], name=name)
        check_equal(s, roundtrip(s, tmp_path))
    base = pd.DataFrame({"a": np.arange(6), "b": list("abcdef")})
    for idx in (pd.RangeIndex(10, 22, 2, name="r"), pd.Index(list("uvwxyz"), name="k"),
                pd.Index(np.arange(6) * 3, name=5), pd.Index(np.linspace(0, 1, 6)),
                pd.date_range("2020", periods=6, freq="D", name="when"),
                pd.date_range("2020", periods=6, freq="H", tz="Asia/Tokyo"),
                pd.timedelta_range(0, periods=6, freq="s"),
                pd.CategoricalIndex(list("aabbcc"), name="c"),
                pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["l0", None])):
        df = base.set_axis(idx, axis=0)
        check_equal(df, roundtrip(df, tmp_path))
    df = base.copy()
    df.columns.name = "cols"
    check_equal(df, roundtrip(df, tmp_path))
    dup = pd.DataFrame([[1, "x", 2.0]], columns=["a", "a", "b"])
    check_equal(dup, roundtrip(dup, tmp_path))


@pytest.mark.parametrize("value", [
    pd.DataFrame({"c": [1 + 2j]}),
    pd.DataFrame({"p": pd.period_range("2020", periods=2)}),
    pd.DataFrame({"o": [1, "a"]}),
    pd.DataFrame({"o": [None, np.nan, "a"]}),
    pd.DataFrame({"o": pd.Series([datetime.datetime(2020, 1, 1)], dtype=object)}),
    pd.DataFrame({"o": pd.Series([datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1)], dtype=object)}),
    pd.DataFrame({1: [1, 2]}),
    pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
    pd.DataFrame({"i": pd.arrays.IntervalArray.from_breaks([0, 1, 2])}),
    pd.DataFrame({"s": ["\udc80"]}),
    pd.Series([1], name=("a", "b")),
    pd.Series([1], index=pd.PeriodIndex(["2020"], freq="D")),
])
def test_unsupported_raises(tmp_path, value):
    with pytest.raises((TypeError, ValueError, UnicodeError)):
        C.dump(value, str(tmp_path / "u.arrow"))


def test_store_uses_arrow_and_falls_back(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    info = store.dump("df", df, str(tmp_path / "df"), "", 1, {})
    assert info["codec"] == "arrow", info
    check_equal(df, store.load(info, {}, None, None))
    bad = pd.DataFrame({"c": [1 + 2j]})
    info = store.dump("bad", bad, str(tmp_path / "bad"), "", 1, {})
    assert info["codec"] == "pickle" and "arrow" in info["fallback"]


def test_zero_copy_and_constant_load_time(tmp_path):
    timings = {}
    for n in (1000, 2_000_000):
        df = pd.DataFrame({"a": np.arange(n), "b": np.arange(n, dtype=np.float64)})
        path = str(tmp_path / ("z%d.arrow" % n))
        C.dump(df, path)
        best = 1e9
        for _ in range(7):
            t0 = time.perf_counter()
            r = C.load(path)
            best = min(best, time.perf_counter() - t0)
            del r
        timings[n] = best
        r = C.load(path)
        a = r["a"].to_numpy()
        base = a
        while getattr(base, "base", None) is not None and not isinstance(base, memoryview):
            base = base.base
        assert isinstance(base, memoryview), type(base)
        assert a.ctypes.data % 64 == 0
        check_equal(df, r)
    assert timings[2_000_000] < 10 * timings[1000] + 0.002, timings


def test_mutation_isolation(tmp_path):
    df = pd.DataFrame({"a": np.arange(100), "f": np.ones(100), "c": pd.Categorical(["x", "y"] * 50),
                       "t": pd.date_range("2020", periods=100)})
    path = str(tmp_path / "m.arrow")
    C.dump(df, path)
    r1 = C.load(path)
    r2 = C.load(path)
    r1.loc[0, "a"] = -5
    r1["f"] *= 3
    r1["a"].values[1] = 77
    r1.iloc[2, 2] = "y"
    assert r1["a"].iloc[1] == 77 and r1["f"].iloc[0] == 3.0
    check_equal(df, r2)
    check_equal(df, C.load(path))


HOSTILE = textwrap.dedent("""
    import os, random, sys
    sys.path.insert(0, sys.argv[1])
    from floe_kernel import arrow_codec as C, _floe_arrow as A
    data = open(sys.argv[2], "rb").read()
    rng = random.Random(7)
    ok = rejected = 0
    def attempt(buf):
        global ok, rejected
        try:
            A.read(bytes(buf))
            ok += 1
        except (ValueError, TypeError, UnicodeError, OverflowError, MemoryError):
            rejected += 1
    for n in list(range(0, len(data), max(1, len(data) // 400))) + [len(data) - 1]:
        attempt(data[:n])
    for _ in range(3000):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        attempt(b)
    for i in range(0, len(data) - 8, 4):
        for v in (0x7fffffffffffff00, 0xffffffff, 0x80000000):
            b = bytearray(data)
            b[i:i + 8] = v.to_bytes(8, "little")
            attempt(b)
    # load() of corrupted files: exception or a frame, never a crash
    path = sys.argv[2] + ".bad"
    for _ in range(300):
        b = bytearray(data)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        open(path, "wb").write(b)
        try:
            C.load(path)
        except Exception:
            pass
    print(ok, rejected)
""")


def test_hostile_files_rejected(tmp_path):
    df = pd.DataFrame({"a": np.arange(5), "s": ["a", "bb", None, "d", "é"], "c": pd.Categorical(list("xyxyz")),
                       "I": pd.array([1, None, 3, 4, 5], dtype="Int64")})
    path = str(tmp_path / "h.arrow")
    C.dump(df, path)
    for bad in (b"", b"ARROW1", b"hello world, not arrow at all", open(path, "rb").read()[:-1]):
        p = str(tmp_path / "bad.arrow")
        open(p, "wb").write(bad)
        with pytest.raises(ValueError):
            C.load(p)
    script = tmp_path / "hostile.py"
    script.write_text(HOSTILE)
    r = subprocess.run([sys.executable, str(script), os.path.join(ROOT, "python"), path],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ok, rejected = map(int, r.stdout.split())
    assert rejected > 1000


def node(*args):
    r = subprocess.run([NODE, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@needs_js
def test_js_reads_our_files(tmp_path):
    n = 5
    cols = columns(n)
    df = pd.DataFrame(cols).set_axis(pd.Index(list("abcde"), name="key"), axis=0)
    path = str(tmp_path / "ours.arrow")
    C.dump(df, path)
    out = json.loads(node(os.path.join(JS_DIR, "read.mjs"), path))
    fields = {f["name"]: f["type"] for f in out["fields"]}
    expect_types = {
        "int8": "Int8", "int64": "Int64", "uint64": "Uint64", "float16": "Float16", "float32": "Float32",
        "float64": "Float64", "bool": "Bool", "str": "Utf8", "cat": "Dictionary<Int8, Utf8>",
        "cat_ord_int": "Dictionary<Int8, Int64>", "Int32": "Int32", "UInt16": "Uint16", "Float32": "Float32",
        "boolean": "Bool", "string": "Utf8", "dt": "Timestamp<NANOSECOND>", "dt_utc": "Timestamp<NANOSECOND, UTC>",
        "dt_paris": "Timestamp<NANOSECOND, Europe/Paris>", "td": "Duration<NANOSECOND>", "date": "Date32<DAY>",
        "__index_level_0__": "Utf8",
    }
    for k, v in expect_types.items():
        assert fields[k] == v, (k, fields[k])
    assert list(fields) == list(cols) + ["__index_level_0__"]
    assert out["numRows"] == n
    pmeta = json.loads(out["metadata"]["pandas"])
    assert pmeta["index_columns"] == ["__index_level_0__"]
    names = [f["name"] for f in out["fields"]]
    rows = out["rows"]

    def js_col(name):
        return [r[names.index(name)] for r in rows]

    for t in ("int8", "int16", "int32", "uint8", "uint16", "uint32"):
        assert js_col(t) == cols[t].tolist()
    for t in ("int64", "uint64"):
        assert js_col(t) == [str(x) for x in cols[t].tolist()]
    for t in ("float32", "float64"):
        assert None not in js_col(t)  # NaN is a value, not a null
        got = np.array([float(v) for v in js_col(t)], dtype=t)
        np.testing.assert_array_equal(got, cols[t])
    assert js_col("bool") == cols["bool"].tolist()
    assert js_col("str") == list(cols["str"])
    assert js_col("str_nan") == [None if isinstance(v, float) else v for v in cols["str_nan"]]
    assert js_col("cat") == [None if isinstance(v, float) else v for v in np.asarray(cols["cat"], dtype=object)]
    assert js_col("cat_ord_int") == ["%d" % v for v in np.asarray(cols["cat_ord_int"])]
    assert js_col("Int32") == [None if v is pd.NA else int(v) for v in cols["Int32"]]
    assert js_col("boolean") == [None if v is pd.NA else bool(v) for v in cols["boolean"]]
    assert js_col("string") == [None if v is pd.NA else v for v in cols["string"]]
    ms = lambda s: [None if pd.isna(v) else int(v.value // 10**6) for v in s]  # noqa: E731
    assert js_col("dt") == ms(cols["dt"])
    assert js_col("dt_paris") == ms(cols["dt_paris"])
    assert js_col("td") == [None if pd.isna(v) else str(v.value) for v in cols["td"]]
    epoch = datetime.date(1970, 1, 1)
    assert js_col("date") == [None if v is None else (v - epoch).days * 86400000 for v in cols["date"]]
    assert js_col("__index_level_0__") == list("abcde")


@needs_js
def test_we_read_js_files(tmp_path):
    path = str(tmp_path / "js.arrow")
    node(os.path.join(JS_DIR, "write.mjs"), path)
    df = C.load(path)
    expect = pd.DataFrame({
        "i8": np.array([-1, 2, 127], np.int8),
        "i32": pd.array([1, None, 3], dtype="Int32"),
        "i64": np.array([1, -2, 9007199254740993], np.int64),
        "u16": np.array([0, 65535, 7], np.uint16),
        "f32": np.array([0.5, -1.5, 2], np.float32),
        "f64": pd.arrays.FloatingArray(np.array([1.5, np.nan, 0.0]), np.array([False, False, True])),
        "s": np.array(["a", None, "üñí€😀"], dtype=object),
        "b": pd.array([True, False, None], dtype="boolean"),
        "b2": np.array([True, False, True]),
        "cat": pd.Categorical(["x", "y", "x"]),
        "ts": pd.to_datetime([0, 1500, None], unit="ms"),
        "tsu": pd.to_datetime([1000, 2000, 3000], unit="us"),
        "d": np.array([datetime.date(2020, 1, 2), None, datetime.date(1969, 12, 31)], dtype=object),
    })
    check_equal(expect, df)
    # and our rewrite of it reads back identically in JS
    again = str(tmp_path / "again.arrow")
    C.dump(df, again)
    a = json.loads(node(os.path.join(JS_DIR, "read.mjs"), path))
    b = json.loads(node(os.path.join(JS_DIR, "read.mjs"), again))
    assert [r[:len(a["fields"])] for r in b["rows"]] == a["rows"]
    # JS's NaN in a nullable float column stays NaN, its null stays null
    assert np.isnan(df["f64"].array._data[1]) and df["f64"].isna().tolist() == [False, False, True]
