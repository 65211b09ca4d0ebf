/* _floe_covars.c — the hot part of co-variable detection (covars.py): a
 * breadth-first walk over Python's built-in containers.
 *
 * A notebook's values are mostly lists, dicts, tuples and sets of numbers
 * and strings, and a few objects of other kinds (arrays, frames, class
 * instances). The walk runs over the first in C and hands the second back
 * to Python, which knows how to look inside them (covars.Walk):
 *
 *   walk(queue, seen, budget, skip=(), special=()) -> (anchors, others, visited)
 *     queue:   list of objects to start from (not modified)
 *     seen:    set of ids already walked; ids are added to it
 *     budget:  at most this many objects are walked (atoms do not count)
 *     skip:    tuple of types whose instances are neither anchors nor
 *              walked (modules, functions: shared by design); classes are
 *              always skipped
 *     special: tuple of types handed back to Python (arrays, frames)
 *     anchors: set of ids of the mutable objects reached (list, dict, set,
 *              bytearray, and any other object but tuples, frozensets,
 *              skipped and special ones): two values reaching one share it
 *     others:  list of the special objects reached (each once), not walked
 *              into
 *     visited: how many objects were walked
 *   Other objects are walked through what the garbage collector sees of
 *   them (tp_traverse: an instance's attributes, a C container's items).
 *   Atoms (int, float, complex, str, bytes, bool, None, range, slice,
 *   Ellipsis) are skipped without being counted; tuples and frozensets are
 *   walked through but are not anchors (they cannot be changed in place).
 *   Raises MemoryError / TypeError with the exception set, as CPython does. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int is_atom(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type || t == &PyBytes_Type ||
           t == &PyBool_Type || o == Py_None || t == &PyComplex_Type || t == &PyRange_Type ||
           t == &PySlice_Type || o == Py_Ellipsis || o == Py_NotImplemented;
}

typedef struct walk {
    PyObject *seen;    /* set of ids (borrowed) */
    PyObject *anchors; /* set of ids (owned) */
    PyObject *others;  /* list (owned) */
    PyObject *next;    /* list: the next level of the walk (owned) */
    Py_ssize_t budget, visited;
    PyObject *skip, *special; /* tuples of types (borrowed) */
    int failed;               /* an error inside tp_traverse */
} walk;

static int is_instance(PyObject *o, PyObject *types) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++) {
        PyObject *t = PyTuple_GET_ITEM(types, i);
        if (PyType_Check(t) && PyObject_TypeCheck(o, (PyTypeObject *)t)) return 1;
    }
    return 0;
}

/* Marks o as walked: 1 when it was before, 0 when new (*id set to a new
 * reference), -1 on error. One hash lookup: the set's size tells. */
static int mark(walk *w, PyObject *o, PyObject **id) {
    *id = PyLong_FromVoidPtr(o);
    if (!*id) return -1;
    Py_ssize_t n = PySet_GET_SIZE(w->seen);
    if (PySet_Add(w->seen, *id) < 0) goto error;
    if (PySet_GET_SIZE(w->seen) != n) return 0;
    Py_CLEAR(*id);
    return 1;
error:
    Py_CLEAR(*id);
    return -1;
}

static int push(walk *w, PyObject *o) { return is_atom(o) || PyType_Check(o) ? 0 : PyList_Append(w->next, o); }

static int push_visit(PyObject *o, void *arg) {
    walk *w = arg;
    if (push(w, o) < 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Queues the items of a list/tuple (fast sequence). */
static int push_seq(walk *w, PyObject *seq) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++)
        if (push(w, items[i]) < 0) return -1;
    return 0;
}

static int push_iter(walk *w, PyObject *o) {
    PyObject *it = PyObject_GetIter(o), *x;
    if (!it) return -1;
    while ((x = PyIter_Next(it))) {
        int r = push(w, x);
        Py_DECREF(x);
        if (r < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int push_dict(walk *w, PyObject *d) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v))
        if (push(w, k) < 0 || push(w, v) < 0) return -1;
    return 0;
}

/* Walks one object: 0, or -1 with an exception set. */
static int visit(walk *w, PyObject *o) {
    if (is_atom(o) || PyType_Check(o) || is_instance(o, w->skip)) return 0;
    PyObject *id;
    int r = mark(w, o, &id);
    if (r != 0) return r < 0 ? -1 : 0;
    PyTypeObject *t = Py_TYPE(o);
    w->visited++;
    int special = t != &PyList_Type && t != &PyDict_Type && t != &PyTuple_Type && is_instance(o, w->special);
    int anchor = !special && t != &PyTuple_Type && t != &PyFrozenSet_Type;
    r = anchor ? PySet_Add(w->anchors, id) : 0;
    Py_DECREF(id);
    if (r < 0) return -1;
    if (special) return PyList_Append(w->others, o);
    if (t == &PyList_Type || t == &PyTuple_Type) return push_seq(w, o);
    if (t == &PyDict_Type) return push_dict(w, o);
    if (t == &PySet_Type || t == &PyFrozenSet_Type) return push_iter(w, o);
    if (t->tp_traverse && PyType_IS_GC(t)) {
        t->tp_traverse(o, push_visit, w);
        if (w->failed) return -1;
    }
    return 0;
}

static PyObject *py_walk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *queue, *seen, *skip = NULL, *special = NULL;
    Py_ssize_t budget;
    if (!PyArg_ParseTuple(args, "O!O!n|O!O!", &PyList_Type, &queue, &PySet_Type, &seen, &budget, &PyTuple_Type,
                          &skip, &PyTuple_Type, &special))
        return NULL;
    PyObject *none = PyTuple_New(0);
    if (!none) return NULL;
    walk w = {seen, PySet_New(NULL), PyList_New(0), NULL, budget, 0, skip ? skip : none, special ? special : none, 0};
    PyObject *level = queue, *out = NULL;
    Py_INCREF(level);
    if (!w.anchors || !w.others) goto done;
    while (PyList_GET_SIZE(level) && w.visited < w.budget) {
        if (!(w.next = PyList_New(0))) goto done;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(level) && w.visited < w.budget; i++)
            if (visit(&w, PyList_GET_ITEM(level, i)) < 0) goto done;
        Py_DECREF(level);
        level = w.next;
        w.next = NULL;
    }
    out = Py_BuildValue("(OOn)", w.anchors, w.others, w.visited);
done:
    Py_XDECREF(level);
    Py_XDECREF(w.next);
    Py_XDECREF(w.anchors);
    Py_XDECREF(w.others);
    Py_DECREF(none);
    return out;
}

/* The `__import__` of a cell's builtins (kernel.py, _cell_import): calls
 * the real one, then after(module, args) on success only. In C so that an
 * import that fails shows the traceback Jupyter shows, with no frame of
 * floe's in it; after's own errors are dropped. self: (real, after). */
static PyObject *hooked_import(PyObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *res = PyObject_Call(PyTuple_GET_ITEM(self, 0), args, kwargs);
    if (!res) return NULL;
    PyObject *r = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(self, 1), res, args, NULL);
    if (r) Py_DECREF(r);
    else PyErr_Clear();
    return res;
}

static PyMethodDef hooked_def = {"__import__", (PyCFunction)(void (*)(void))hooked_import, METH_VARARGS | METH_KEYWORDS,
                                 "builtins.__import__, then a callback on success"};

static PyObject *py_import_hook(PyObject *mod, PyObject *args) {
    PyObject *real, *after;
    (void)mod;
    if (!PyArg_ParseTuple(args, "OO", &real, &after)) return NULL;
    PyObject *self = PyTuple_Pack(2, real, after);
    if (!self) return NULL;
    PyObject *f = PyCFunction_New(&hooked_def, self);
    Py_DECREF(self);
    return f;
}

static PyMethodDef methods[] = {
    {"walk", py_walk, METH_VARARGS, "walk(queue, seen, budget, skip=(), special=()) -> (anchors, others, visited)"},
    {"import_hook", py_import_hook, METH_VARARGS, "import_hook(real, after) -> an __import__ calling after(module, args)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_floe_covars",
                                    "Footprint walks for co-variable detection.", -1, methods};

PyMODINIT_FUNC PyInit__floe_covars(void);
PyMODINIT_FUNC PyInit__floe_covars(void) { return PyModule_Create(&moddef); }
