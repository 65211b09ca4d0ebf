/* _floe_arrow.c — CPython binding of src/store/arrow.c: writes column
 * buffers (anything with the buffer protocol) to an Arrow IPC file, and
 * reads one back as memoryviews over a private (copy-on-write) mapping of
 * the file, so numpy.frombuffer wraps the columns without copying and a
 * reader that mutates them gets its own pages.
 *
 *   write(path, columns, metadata) -> file size
 *     columns: list of dicts {name, type, length, unit?, tz?, data?,
 *       null_mask? (1 byte per row, nonzero = null), values? (sequence of
 *       str / bytes for utf8 / binary; masked rows are skipped),
 *       dictionary? (a column dict: the values), ordered?}
 *     bool columns take `data` as one byte per row; utf8 switches to
 *     large_utf8 past 2 GiB of characters.
 *     metadata: dict str -> str (schema custom metadata)
 *   read(path_or_buffer) -> {"nrows", "metadata": {..}, "fields": [names],
 *       "batches": [[column dict, ...], ...]}
 *     column dict: name, type, unit, tz, length, null_count,
 *       validity/offsets/data (memoryview or None), values (numpy object
 *       array of str / bytes / None, for var-width types; a list without
 *       numpy), dictionary (column dict), ordered
 *   classify(values) -> (kind, mask, missing) of an object column
 *   unpack_bits(buffer, n, invert=False) -> bytearray of n 0/1 bytes */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/arrow.h"

static const char *const unit_names[4] = {"s", "ms", "us", "ns"};

/* --- Mapping: a private writable mapping of a file, buffer protocol -------- */

typedef struct {
    PyObject_HEAD
    void *addr;
    size_t len;
    Py_ssize_t exports;
} Mapping;

static int mapping_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    Mapping *m = (Mapping *)self;
    if (PyBuffer_FillInfo(view, self, m->addr, (Py_ssize_t)m->len, 0, flags) < 0) return -1;
    m->exports++;
    return 0;
}

static void mapping_releasebuffer(PyObject *self, Py_buffer *view) {
    (void)view;
    ((Mapping *)self)->exports--;
}

static void mapping_dealloc(PyObject *self) {
    Mapping *m = (Mapping *)self;
    if (m->addr && m->len) munmap(m->addr, m->len);
    Py_TYPE(self)->tp_free(self);
}

static PyBufferProcs mapping_as_buffer = {mapping_getbuffer, mapping_releasebuffer};

static PyTypeObject MappingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_floe_arrow.Mapping",
    .tp_basicsize = sizeof(Mapping),
    .tp_dealloc = mapping_dealloc,
    .tp_as_buffer = &mapping_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A private copy-on-write mapping of an Arrow file.",
};

/* --- write ----------------------------------------------------------------- */

typedef struct wctx {
    Py_buffer *views;
    size_t nviews, capviews;
    void **mem;
    size_t nmem, capmem;
    arrow_col *dicts;
} wctx;

static void *ctx_alloc(wctx *c, size_t n) {
    if (c->nmem == c->capmem) {
        c->capmem = c->capmem ? 2 * c->capmem : 16;
        void **nm = PyMem_Realloc(c->mem, c->capmem * sizeof(void *));
        if (!nm) { PyErr_NoMemory(); return NULL; }
        c->mem = nm;
    }
    void *p = PyMem_Malloc(n ? n : 1);
    if (!p) { PyErr_NoMemory(); return NULL; }
    c->mem[c->nmem++] = p;
    return p;
}

static Py_buffer *ctx_view(wctx *c, PyObject *obj, int flags) {
    if (c->nviews == c->capviews) {
        c->capviews = c->capviews ? 2 * c->capviews : 16;
        Py_buffer *nv = PyMem_Realloc(c->views, c->capviews * sizeof(Py_buffer));
        if (!nv) { PyErr_NoMemory(); return NULL; }
        c->views = nv;
    }
    if (PyObject_GetBuffer(obj, &c->views[c->nviews], flags) < 0) return NULL;
    return &c->views[c->nviews++];
}

static void ctx_free(wctx *c) {
    for (size_t i = 0; i < c->nviews; i++) PyBuffer_Release(&c->views[i]);
    for (size_t i = 0; i < c->nmem; i++) PyMem_Free(c->mem[i]);
    PyMem_Free(c->views);
    PyMem_Free(c->mem);
    PyMem_Free(c->dicts);
}

static int parse_type(const char *s, arrow_type *t) {
    for (int i = 0; i < ARROW_NTYPES; i++)
        if (strcmp(s, arrow_type_name((arrow_type)i)) == 0) { *t = (arrow_type)i; return 0; }
    return -1;
}

static PyObject *dget(PyObject *d, const char *k) { return PyDict_GetItemString(d, k); } /* borrowed */

/* The items of a list, a tuple, or a 1-d C-contiguous numpy object array
 * (read in place through __array_interface__: numpy stores an object array
 * as PyObject pointers), else of PySequence_Fast(values). *keep is a new
 * reference that keeps *items alive; decref it when done. -1 with an
 * exception set on error. */
static int object_items(PyObject *values, PyObject ***items, Py_ssize_t *n, PyObject **keep) {
    if (!PyList_CheckExact(values) && !PyTuple_CheckExact(values)) {
        PyObject *ai = PyObject_GetAttrString(values, "__array_interface__");
        if (!ai) PyErr_Clear();
        if (ai && PyDict_Check(ai)) {
            PyObject *ts = dget(ai, "typestr"), *shape = dget(ai, "shape"), *strides = dget(ai, "strides");
            PyObject *data = dget(ai, "data");
            const char *t = ts && PyUnicode_Check(ts) ? PyUnicode_AsUTF8(ts) : NULL;
            if (t && strcmp(t, "|O") == 0 && shape && PyTuple_Check(shape) && PyTuple_GET_SIZE(shape) == 1 &&
                (!strides || strides == Py_None) && data && PyTuple_Check(data) && PyTuple_GET_SIZE(data) >= 1) {
                Py_ssize_t len = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, 0));
                void *addr = PyLong_AsVoidPtr(PyTuple_GET_ITEM(data, 0));
                if (len >= 0 && (addr || len == 0) && !PyErr_Occurred()) {
                    Py_DECREF(ai);
                    *items = (PyObject **)addr;
                    *n = len;
                    Py_INCREF(values);
                    *keep = values;
                    return 0;
                }
                PyErr_Clear();
            }
        }
        Py_XDECREF(ai);
    }
    PyObject *seq = PySequence_Fast(values, "values must be a sequence");
    if (!seq) return -1;
    *items = PySequence_Fast_ITEMS(seq);
    *n = PySequence_Fast_GET_SIZE(seq);
    *keep = seq;
    return 0;
}

/* Encodes a sequence of str (or bytes) into offsets + data. */
static int encode_strings(wctx *ctx, arrow_col *c, PyObject *values, const uint8_t *mask, int binary) {
    PyObject *seq, **items;
    Py_ssize_t n;
    if (object_items(values, &items, &n, &seq) < 0) return -1;
    if (n != c->length) {
        PyErr_Format(PyExc_ValueError, "column '%s': %zd values for %lld rows", c->name, n, (long long)c->length);
        goto fail;
    }
    uint64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (mask && mask[i]) continue;
        PyObject *o = items[i];
        Py_ssize_t len;
        if (binary) {
            if (!PyBytes_CheckExact(o)) goto badtype;
            len = PyBytes_GET_SIZE(o);
        } else {
            if (!PyUnicode_CheckExact(o)) goto badtype;
            if (!PyUnicode_AsUTF8AndSize(o, &len)) goto fail;
        }
        total += (uint64_t)len;
        continue;
    badtype:
        PyErr_Format(PyExc_TypeError, "column '%s': row %zd is a %s, not %s", c->name, i, Py_TYPE(o)->tp_name,
                     binary ? "bytes" : "str");
        goto fail;
    }
    int large = c->type == ARROW_LARGE_UTF8 || c->type == ARROW_LARGE_BINARY || total > INT32_MAX;
    if (large) c->type = binary ? ARROW_LARGE_BINARY : ARROW_LARGE_UTF8;
    size_t ow = large ? 8 : 4;
    uint8_t *offs = ctx_alloc(ctx, ((size_t)n + 1) * ow);
    char *data = ctx_alloc(ctx, (size_t)total);
    if (!offs || !data) goto fail;
    uint64_t at = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (large) { int64_t v = (int64_t)at; memcpy(offs + 8 * (size_t)i, &v, 8); }
        else { int32_t v = (int32_t)at; memcpy(offs + 4 * (size_t)i, &v, 4); }
        if (i == n || (mask && mask[i])) continue;
        const char *s;
        Py_ssize_t len;
        if (binary) {
            s = PyBytes_AS_STRING(items[i]);
            len = PyBytes_GET_SIZE(items[i]);
        } else {
            s = PyUnicode_AsUTF8AndSize(items[i], &len);
            if (!s) goto fail;
        }
        memcpy(data + at, s, (size_t)len);
        at += (uint64_t)len;
    }
    c->offsets = offs;
    c->data = data;
    c->data_len = total;
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

static int parse_col(wctx *ctx, PyObject *d, arrow_col *c, arrow_col *dictslot) {
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "a column must be a dict");
        return -1;
    }
    memset(c, 0, sizeof *c);
    PyObject *o = dget(d, "name");
    c->name = "";
    if (o && o != Py_None && !(c->name = PyUnicode_AsUTF8(o))) return -1;
    o = dget(d, "type");
    const char *ts = o ? PyUnicode_AsUTF8(o) : NULL;
    if (!ts) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "column '%s': no type", c->name);
        return -1;
    }
    if (parse_type(ts, &c->type) < 0) {
        PyErr_Format(PyExc_ValueError, "column '%s': unknown type '%s'", c->name, ts);
        return -1;
    }
    o = dget(d, "length");
    if (!o) { PyErr_Format(PyExc_ValueError, "column '%s': no length", c->name); return -1; }
    c->length = PyLong_AsLongLong(o);
    if (c->length < 0) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "column '%s': negative length", c->name);
        return -1;
    }
    size_t n = (size_t)c->length;
    if ((o = dget(d, "unit")) && o != Py_None) {
        const char *u = PyUnicode_AsUTF8(o);
        if (!u) return -1;
        int k = 0;
        while (k < 4 && strcmp(u, unit_names[k]) != 0) k++;
        if (k == 4) { PyErr_Format(PyExc_ValueError, "column '%s': bad unit '%s'", c->name, u); return -1; }
        c->unit = (arrow_unit)k;
    }
    if ((o = dget(d, "tz")) && o != Py_None && !(c->tz = PyUnicode_AsUTF8(o))) return -1;
    const uint8_t *mask = NULL;
    if ((o = dget(d, "null_mask")) && o != Py_None) {
        Py_buffer *v = ctx_view(ctx, o, PyBUF_C_CONTIGUOUS);
        if (!v) return -1;
        if ((size_t)v->len < n) { PyErr_Format(PyExc_ValueError, "column '%s': null_mask too short", c->name); return -1; }
        mask = v->buf;
        uint8_t *bits = ctx_alloc(ctx, (n + 7) / 8);
        if (!bits) return -1;
        c->null_count = c->length - arrow_pack_bits(mask, c->length, 1, bits);
        c->validity = bits;
        if (c->null_count == 0) mask = NULL;
    }
    if (c->type == ARROW_NA) {
        c->null_count = c->length;
    } else if (c->type == ARROW_UTF8 || c->type == ARROW_LARGE_UTF8 || c->type == ARROW_BINARY ||
               c->type == ARROW_LARGE_BINARY) {
        o = dget(d, "values");
        if (!o) { PyErr_Format(PyExc_ValueError, "column '%s': no values", c->name); return -1; }
        if (encode_strings(ctx, c, o, mask, c->type == ARROW_BINARY || c->type == ARROW_LARGE_BINARY) < 0)
            return -1;
    } else {
        o = dget(d, "data");
        if (!o) { PyErr_Format(PyExc_ValueError, "column '%s': no data", c->name); return -1; }
        /* strided: a column of a 2-D numpy block, gathered by the writer */
        Py_buffer *v = ctx_view(ctx, o, PyBUF_STRIDES);
        if (!v) return -1;
        size_t w = c->type == ARROW_BOOL ? 1 : arrow_type_width(c->type);
        if (!PyBuffer_IsContiguous(v, 'C')) {
            if (v->ndim != 1 || (size_t)v->itemsize != w || c->type == ARROW_BOOL) {
                PyErr_Format(PyExc_ValueError, "column '%s': data is neither contiguous nor 1-D of %s", c->name,
                             ts);
                return -1;
            }
            if ((size_t)v->shape[0] < n) {
                PyErr_Format(PyExc_ValueError, "column '%s': data has %zd values for %zu rows", c->name,
                             v->shape[0], n);
                return -1;
            }
            if (v->strides[0] == 0 && n > 1) { /* broadcast: 0 would mean packed */
                void *packed = ctx_alloc(ctx, (size_t)v->len);
                if (!packed || PyBuffer_ToContiguous(packed, v, v->len, 'C') < 0) return -1;
                c->data = packed;
            } else {
                c->data = v->buf;
                c->data_stride = v->strides[0];
            }
        } else if ((size_t)v->len / w < n) {
            PyErr_Format(PyExc_ValueError, "column '%s': data has %zd bytes for %zu rows of %s", c->name, v->len,
                         n, ts);
            return -1;
        }
        if (c->type == ARROW_BOOL) {
            uint8_t *bits = ctx_alloc(ctx, (n + 7) / 8);
            if (!bits) return -1;
            arrow_pack_bits(v->buf, c->length, 0, bits);
            c->data = bits;
        } else if (!c->data) {
            c->data = v->buf;
        }
    }
    if ((o = dget(d, "dictionary")) && o != Py_None) {
        if (!dictslot) { PyErr_SetString(PyExc_ValueError, "nested dictionaries"); return -1; }
        if (parse_col(ctx, o, dictslot, NULL) < 0) return -1;
        c->dict = dictslot;
        PyObject *ord = dget(d, "ordered");
        c->dict_ordered = ord ? PyObject_IsTrue(ord) == 1 : 0;
    }
    return 0;
}

static PyObject *py_write(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *pathobj, *cols, *meta;
    if (!PyArg_ParseTuple(args, "O&O!O", PyUnicode_FSConverter, &pathobj, &PyList_Type, &cols, &meta)) return NULL;
    wctx ctx = {0};
    PyObject *ret = NULL;
    arrow_kv *kv = NULL;
    size_t nkv = 0;
    Py_ssize_t ncols = PyList_GET_SIZE(cols);
    arrow_col *cs = PyMem_Calloc((size_t)ncols + 1, sizeof(arrow_col));
    ctx.dicts = PyMem_Calloc((size_t)ncols + 1, sizeof(arrow_col));
    if (!cs || !ctx.dicts) { PyErr_NoMemory(); goto done; }
    int64_t nrows = 0;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        if (parse_col(&ctx, PyList_GET_ITEM(cols, i), &cs[i], &ctx.dicts[i]) < 0) goto done;
        if (i == 0) nrows = cs[i].length;
    }
    if (meta != Py_None) {
        if (!PyDict_Check(meta)) { PyErr_SetString(PyExc_TypeError, "metadata must be a dict"); goto done; }
        kv = PyMem_Calloc((size_t)PyDict_Size(meta) + 1, sizeof(arrow_kv));
        if (!kv) { PyErr_NoMemory(); goto done; }
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(meta, &pos, &k, &v)) {
            Py_ssize_t vl;
            if (!(kv[nkv].key = PyUnicode_AsUTF8(k))) goto done;
            if (!(kv[nkv].value = PyUnicode_AsUTF8AndSize(v, &vl))) goto done;
            kv[nkv++].value_len = (size_t)vl;
        }
    }
    char err[512] = "";
    int64_t size;
    Py_BEGIN_ALLOW_THREADS
    size = arrow_write_file(PyBytes_AS_STRING(pathobj), cs, (size_t)ncols, nrows, kv, nkv, err, sizeof err);
    Py_END_ALLOW_THREADS
    if (size < 0) { PyErr_SetString(PyExc_ValueError, err); goto done; }
    ret = PyLong_FromLongLong(size);
done:
    ctx_free(&ctx);
    PyMem_Free(cs);
    PyMem_Free(kv);
    Py_DECREF(pathobj);
    return ret;
}

/* --- read ------------------------------------------------------------------ */

static PyObject *slice(PyObject *mv, const uint8_t *base, const void *p, uint64_t len) {
    if (!p) Py_RETURN_NONE;
    Py_ssize_t a = (Py_ssize_t)((const uint8_t *)p - base);
    return PySequence_GetSlice(mv, a, a + (Py_ssize_t)len);
}

static int set_new(PyObject *d, const char *k, PyObject *v) {
    if (!v) return -1;
    int rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

/* A numpy object array of n None (numpy.empty(n, dtype=object)), or NULL
 * with an exception set (numpy missing: the caller makes a list). */
static PyObject *object_array(Py_ssize_t n) {
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return NULL;
    PyObject *out = PyObject_CallMethod(np, "empty", "(ns)", n, "O");
    Py_DECREF(np);
    return out;
}

/* The values of a var-width column: a numpy object array (str, bytes or
 * None), decoded straight into the array's slots, so the reader builds no
 * list and copies no pointers (a 10M-row column: one pass); a list when
 * numpy is not importable. */
static PyObject *decode_values(const arrow_col *c) {
    int binary = c->type == ARROW_BINARY || c->type == ARROW_LARGE_BINARY;
    size_t ow = (c->type == ARROW_LARGE_UTF8 || c->type == ARROW_LARGE_BINARY) ? 8 : 4;
    PyObject *list = object_array((Py_ssize_t)c->length), *keep = NULL, **slots = NULL;
    Py_ssize_t nslots;
    if (list && (object_items(list, &slots, &nslots, &keep) < 0 || nslots != (Py_ssize_t)c->length ||
                 keep != list)) {
        Py_XDECREF(keep);
        keep = NULL;
        Py_CLEAR(list);
    }
    Py_XDECREF(keep); /* list itself keeps the slots alive */
    if (!list) {
        PyErr_Clear();
        slots = NULL;
        if (!(list = PyList_New((Py_ssize_t)c->length))) return NULL;
    }
    const uint8_t *offs = c->offsets;
    const char *data = c->data;
    for (int64_t i = 0; i < c->length; i++) {
        PyObject *o;
        if (c->validity && !((c->validity[i >> 3] >> (i & 7)) & 1)) {
            o = Py_None;
            Py_INCREF(o);
        } else {
            int64_t a, b;
            if (ow == 4) {
                int32_t x, y;
                memcpy(&x, offs + 4 * (size_t)i, 4);
                memcpy(&y, offs + 4 * (size_t)i + 4, 4);
                a = x;
                b = y;
            } else {
                memcpy(&a, offs + 8 * (size_t)i, 8);
                memcpy(&b, offs + 8 * (size_t)i + 8, 8);
            }
            o = binary ? PyBytes_FromStringAndSize(data + a, (Py_ssize_t)(b - a))
                       : PyUnicode_DecodeUTF8(data + a, (Py_ssize_t)(b - a), "strict");
            if (!o) {
                Py_DECREF(list);
                return NULL;
            }
        }
        if (slots) {
            PyObject *old = slots[i];
            slots[i] = o;
            Py_XDECREF(old);
        } else {
            PyList_SET_ITEM(list, (Py_ssize_t)i, o);
        }
    }
    return list;
}

/* classify(values) -> (kind, mask, missing), one pass over an object column:
 * kind "str" or "bytes" when every value is an exact str (bytes) or missing,
 * else None (the caller's general path decides); mask a bytearray of one
 * byte per row (1 = missing) or None; missing "None" or "nan" (the one
 * sentinel used), or None. A column mixing both sentinels, or all missing,
 * gets kind None. Same answer as pandas' infer_dtype(skipna=True) + isna for
 * such columns, in one pass and without a Python call per row. */
static PyObject *py_classify(PyObject *self, PyObject *values) {
    (void)self;
    PyObject *keep, **items;
    Py_ssize_t n;
    if (object_items(values, &items, &n, &keep) < 0) return NULL;
    int kind = 0, missing = 0; /* kind 1 str, 2 bytes; missing 1 None, 2 nan */
    PyObject *mask = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        int k = PyUnicode_CheckExact(o) ? 1 : PyBytes_CheckExact(o) ? 2 : 0, m = 0;
        if (!k) {
            if (o == Py_None) m = 1;
            else if (PyFloat_CheckExact(o) && PyFloat_AS_DOUBLE(o) != PyFloat_AS_DOUBLE(o)) m = 2;
            else goto general;
            if (missing && missing != m) goto general;
            missing = m;
            if (!mask) {
                if (!(mask = PyByteArray_FromStringAndSize(NULL, n))) goto fail;
                memset(PyByteArray_AS_STRING(mask), 0, (size_t)n);
            }
            PyByteArray_AS_STRING(mask)[i] = 1;
            continue;
        }
        if (kind && kind != k) goto general;
        kind = k;
    }
    if (!kind && n) goto general;
    Py_DECREF(keep);
    return Py_BuildValue("(sNs)", kind == 2 ? "bytes" : "str", mask ? mask : Py_NewRef(Py_None),
                         missing == 1 ? "None" : missing == 2 ? "nan" : NULL);
general:
    Py_XDECREF(mask);
    Py_DECREF(keep);
    return Py_BuildValue("(OOO)", Py_None, Py_None, Py_None);
fail:
    Py_DECREF(keep);
    return NULL;
}

/* deep = 0: types only (schema fields), no buffers or values. */
static PyObject *col_dict(const arrow_col *c, PyObject *mv, const uint8_t *base, int deep) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    int is_var = c->type == ARROW_UTF8 || c->type == ARROW_LARGE_UTF8 || c->type == ARROW_BINARY ||
                 c->type == ARROW_LARGE_BINARY;
    if (set_new(d, "name", PyUnicode_DecodeUTF8(c->name, (Py_ssize_t)strlen(c->name), "replace")) < 0 ||
        set_new(d, "type", PyUnicode_FromString(arrow_type_name(c->type))) < 0 ||
        set_new(d, "length", PyLong_FromLongLong(c->length)) < 0 ||
        set_new(d, "null_count", PyLong_FromLongLong(c->null_count)) < 0 ||
        set_new(d, "validity", slice(mv, base, deep ? c->validity : NULL, ((uint64_t)c->length + 7) / 8)) < 0)
        goto fail;
    if (c->type == ARROW_TIMESTAMP || c->type == ARROW_DURATION) {
        if (set_new(d, "unit", PyUnicode_FromString(unit_names[c->unit & 3])) < 0) goto fail;
        if (c->tz && set_new(d, "tz", PyUnicode_DecodeUTF8(c->tz, (Py_ssize_t)strlen(c->tz), "replace")) < 0)
            goto fail;
    }
    if (!deep) {
        /* types only */
    } else if (is_var) {
        if (set_new(d, "values", decode_values(c)) < 0) goto fail;
    } else if (c->type == ARROW_BOOL) {
        if (set_new(d, "data", slice(mv, base, c->data, ((uint64_t)c->length + 7) / 8)) < 0) goto fail;
    } else if (c->type != ARROW_NA) {
        if (set_new(d, "data", slice(mv, base, c->data, (uint64_t)c->length * arrow_type_width(c->type))) < 0)
            goto fail;
    }
    if (c->dict) {
        if (set_new(d, "dictionary", col_dict(c->dict, mv, base, deep)) < 0) goto fail;
        if (set_new(d, "ordered", PyBool_FromLong(c->dict_ordered)) < 0) goto fail;
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *py_read(PyObject *self, PyObject *arg) {
    (void)self;
    PyObject *owner = NULL, *mv = NULL, *ret = NULL;
    const uint8_t *base;
    size_t len;
    if (PyUnicode_Check(arg) || PyObject_HasAttrString(arg, "__fspath__")) {
        PyObject *pathobj;
        if (!PyUnicode_FSConverter(arg, &pathobj)) return NULL;
        int fd = open(PyBytes_AS_STRING(pathobj), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
            Py_DECREF(pathobj);
            return NULL;
        }
        Py_DECREF(pathobj);
        struct stat st;
        if (fstat(fd, &st) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            close(fd);
            return NULL;
        }
        Mapping *m = PyObject_New(Mapping, &MappingType);
        if (!m) { close(fd); return NULL; }
        m->addr = NULL;
        m->len = 0;
        m->exports = 0;
        if (st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                PyErr_SetFromErrno(PyExc_OSError);
                close(fd);
                Py_DECREF(m);
                return NULL;
            }
            m->addr = p;
            m->len = (size_t)st.st_size;
        }
        close(fd);
        owner = (PyObject *)m;
    } else {
        owner = arg;
        Py_INCREF(owner);
    }
    mv = PyMemoryView_FromObject(owner);
    if (!mv) goto done;
    Py_buffer *view = PyMemoryView_GET_BUFFER(mv);
    base = view->buf;
    len = (size_t)view->len;
    arrow_table *t = NULL;
    char err[512] = "";
    if (arrow_read(base, len, &t, err, sizeof err) < 0) {
        PyErr_SetString(PyExc_ValueError, err);
        goto done;
    }
    ret = PyDict_New();
    if (!ret) goto freet;
    PyObject *metad = PyDict_New(), *fields = PyList_New((Py_ssize_t)t->ncols),
             *batches = PyList_New((Py_ssize_t)t->nbatches);
    if (set_new(ret, "metadata", metad) < 0 || set_new(ret, "fields", fields) < 0 ||
        set_new(ret, "batches", batches) < 0 || set_new(ret, "nrows", PyLong_FromLongLong(t->nrows)) < 0)
        goto fail;
    for (size_t i = 0; i < t->nmeta; i++) {
        PyObject *v = PyUnicode_DecodeUTF8(t->meta[i].value, (Py_ssize_t)t->meta[i].value_len, "replace");
        if (!v) goto fail;
        int rc = PyDict_SetItemString(metad, t->meta[i].key, v);
        Py_DECREF(v);
        if (rc < 0) goto fail;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        PyObject *f = col_dict(&t->fields[i], mv, base, 0); /* schema: no buffers */
        if (!f) goto fail;
        PyList_SET_ITEM(fields, (Py_ssize_t)i, f);
    }
    for (size_t b = 0; b < t->nbatches; b++) {
        PyObject *cols = PyList_New((Py_ssize_t)t->ncols);
        if (!cols) goto fail;
        PyList_SET_ITEM(batches, (Py_ssize_t)b, cols);
        for (size_t i = 0; i < t->ncols; i++) {
            PyObject *c = col_dict(&t->cols[b * t->ncols + i], mv, base, 1);
            if (!c) goto fail;
            PyList_SET_ITEM(cols, (Py_ssize_t)i, c);
        }
    }
    goto freet;
fail:
    Py_CLEAR(ret);
freet:
    arrow_table_free(t);
done:
    Py_XDECREF(mv);
    Py_XDECREF(owner);
    return ret;
}

static PyObject *py_unpack_bits(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer v;
    Py_ssize_t n;
    int invert = 0;
    if (!PyArg_ParseTuple(args, "y*n|p", &v, &n, &invert)) return NULL;
    if (n < 0 || (size_t)v.len < ((size_t)n + 7) / 8) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "bitmap too short");
        return NULL;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n);
    if (out) arrow_unpack_bits(v.buf, n, invert, (uint8_t *)PyByteArray_AS_STRING(out));
    PyBuffer_Release(&v);
    return out;
}

static PyMethodDef methods[] = {
    {"write", py_write, METH_VARARGS, "write(path, columns, metadata) -> size"},
    {"read", py_read, METH_O, "read(path_or_buffer) -> dict"},
    {"classify", py_classify, METH_O, "classify(values) -> (kind, mask, missing)"},
    {"unpack_bits", py_unpack_bits, METH_VARARGS, "unpack_bits(buffer, n, invert=False) -> bytearray"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_floe_arrow", "Arrow IPC files for floe.", -1, methods};

PyMODINIT_FUNC PyInit__floe_arrow(void);
PyMODINIT_FUNC PyInit__floe_arrow(void) {
    if (PyType_Ready(&MappingType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&MappingType);
    if (PyModule_AddObject(m, "Mapping", (PyObject *)&MappingType) < 0) {
        Py_DECREF(&MappingType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
