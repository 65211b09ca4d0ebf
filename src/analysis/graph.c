/* graph.c — the notebook-level dataflow: every read of a cell linked to the
 * most recent preceding writer in notebook order (and the cells that
 * mutated the name since), following functions defined in earlier cells.
 * Builtins a cell uses are not reads unless some earlier cell rebinds them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis_internal.h"
#include "util/map.h"

static const char *const builtins[] = {
    "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes",
    "callable", "chr", "classmethod", "compile", "complex", "copyright", "credits", "delattr", "dict", "dir",
    "divmod", "enumerate", "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr",
    "globals", "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance", "issubclass", "iter",
    "len", "license", "list", "locals", "map", "max", "memoryview", "min", "next", "object", "oct", "open",
    "ord", "pow", "print", "property", "quit", "range", "repr", "reversed", "round", "set", "setattr",
    "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type", "vars", "zip", "__import__",
    "__name__", "__doc__", "__file__", "__spec__", "__loader__", "__package__", "__builtins__",
    "__debug__", "__build_class__", "True", "False", "None", "Ellipsis", "NotImplemented",
    "BaseException", "BaseExceptionGroup", "Exception", "ExceptionGroup", "ArithmeticError",
    "AssertionError", "AttributeError", "BlockingIOError", "BrokenPipeError", "BufferError",
    "BytesWarning", "ChildProcessError", "ConnectionAbortedError", "ConnectionError",
    "ConnectionRefusedError", "ConnectionResetError", "DeprecationWarning", "EOFError",
    "EncodingWarning", "EnvironmentError", "FileExistsError", "FileNotFoundError", "FloatingPointError",
    "FutureWarning", "GeneratorExit", "IOError", "ImportError", "ImportWarning", "IndentationError",
    "IndexError", "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt", "LookupError",
    "MemoryError", "ModuleNotFoundError", "NameError", "NotADirectoryError", "NotImplementedError",
    "OSError", "OverflowError", "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
    "RecursionError", "ReferenceError", "ResourceWarning", "RuntimeError", "RuntimeWarning",
    "StopAsyncIteration", "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError", "SystemExit",
    "TabError", "TimeoutError", "TypeError", "UnboundLocalError", "UnicodeDecodeError",
    "UnicodeEncodeError", "UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning",
    "ValueError", "Warning", "ZeroDivisionError", "display", "get_ipython", NULL};

/* ---- a name -> cells index (util/map.h) ---------------------------------------- */

/* For each name, the ascending list of cells that bind it. */
typedef strmap nindex;

/* Records that cell binds name (cells are added in ascending order). */
static void nindex_add(nindex *ix, const char *name, size_t cell) {
    sizevec *v = strmap_put(ix, name);
    if (v->n && v->v[v->n - 1] == cell) return;
    sizevec_push(v, cell);
}

/* The last cell before k that binds name, or -1. */
static long nindex_last_before(const nindex *ix, const char *name, size_t k) {
    const sizevec *sl = strmap_get(ix, name);
    if (!sl) return -1;
    size_t lo = 0, hi = sl->n; /* first index with v[i] >= k */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sl->v[mid] < k) lo = mid + 1;
        else hi = mid;
    }
    return lo ? (long)sl->v[lo - 1] : -1;
}

static nindex builtin_ix;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void) {
    for (size_t i = 0; builtins[i]; i++) nindex_add(&builtin_ix, builtins[i], 0);
}

int an_is_builtin(const char *name) {
    pthread_once(&builtin_once, builtin_init);
    return nindex_last_before(&builtin_ix, name, 1) == 0;
}

static int writes(const an_cell *c, const char *name) {
    return strvec_contains(&c->writes, name) || strvec_contains(&c->deletes, name);
}

/* The most recent cell before k that binds or deletes name, or -1
 * (ix: every cell's writes and deletes). */
static long last_writer(const nindex *ix, size_t k, const char *name) { return nindex_last_before(ix, name, k); }

static int is_open(const an_cell *cells, const an_graph *g, size_t k) {
    return cells[k].open_world.n || g->open_calls[k];
}

/* Takes AN_OPEN_READ out of a cell's effective reads; 1 if it was there. */
static int take_open_read(strvec *reads) {
    int found = 0;
    size_t out = 0;
    for (size_t i = 0; i < reads->n; i++) {
        if (!strcmp(reads->v[i], AN_OPEN_READ)) {
            free(reads->v[i]);
            found = 1;
        } else {
            reads->v[out++] = reads->v[i];
        }
    }
    reads->n = out;
    return found;
}

/* Adds what the function `name` (as visible at cell k) reads, writes and
 * mutates when it runs, transitively. */
static void follow(const an_cell *cells, const nindex *ix, size_t k, const char *name, strvec *reads, strvec *wr,
                   int hops) {
    if (hops > 32) return;
    long j = last_writer(ix, k, name);
    if (j < 0) return;
    /* every def of that name in the cell: one may be under `if`, another
     * under `else`, and either may be the one that ran */
    const an_cell *c = &cells[j];
    for (size_t di = 0; di < c->ndefs; di++) {
        const an_def *d = &c->defs[di];
        if (strcmp(d->name, name)) continue;
        for (size_t i = 0; i < d->writes.n; i++) strvec_push(wr, d->writes.v[i]);
        for (size_t i = 0; i < d->mutates.n; i++) strvec_push(wr, d->mutates.v[i]);
        for (size_t i = 0; i < d->reads.n; i++) {
            if (strvec_contains(reads, d->reads.v[i])) continue;
            strvec_push(reads, d->reads.v[i]);
            follow(cells, ix, k, d->reads.v[i], reads, wr, hops + 1);
        }
    }
}

/* after_open: an earlier cell is open-world, so it may have bound any name,
 * builtins too (`from numpy import *` rebinds sum, min, max, abs, round...):
 * then a builtin is a read like any free name, resolved at run time against
 * what the earlier cells really wrote (issue 16, P9). */
static void effective(const an_cell *cells, const nindex *ix, size_t k, int after_open, strvec *reads, strvec *wr,
                      strvec *call_muts) {
    const an_cell *c = &cells[k];
    for (size_t i = 0; i < c->reads.n; i++) strvec_push(reads, c->reads.v[i]);
    for (size_t i = 0; i < c->reads.n; i++) follow(cells, ix, k, c->reads.v[i], reads, wr, 0);
    /* builtins are reads only if an earlier cell rebinds them, or may */
    size_t out = 0;
    for (size_t i = 0; i < reads->n; i++) {
        if (!after_open && an_is_builtin(reads->v[i]) && last_writer(ix, k, reads->v[i]) < 0) free(reads->v[i]);
        else reads->v[out++] = reads->v[i];
    }
    reads->n = out;
    strvec_sort_unique(reads);
    strvec *own[] = {(strvec *)&c->writes, (strvec *)&c->deletes, (strvec *)&c->mutates};
    for (size_t s = 0; s < 3; s++)
        for (size_t i = 0; i < own[s]->n; i++) strvec_push(wr, own[s]->v[i]);
    /* `ax.legend(loc=1)`, its result unused: the call is for its effect,
     * most often on ax (matplotlib's axes and figures, a model's fit) --
     * a mutation, so that later readers of ax come after it; not when ax
     * is a module (`plt.plot(...)`, `np.random.seed(0)`), bound by an
     * import in this cell or by the last earlier cell that bound it */
    for (size_t i = 0; i < c->calls.n; i++) {
        const char *name = c->calls.v[i];
        long w = last_writer(ix, k, name);
        if (strvec_contains(&c->modules, name) || w < 0 || strvec_contains(&cells[w].modules, name)) continue;
        strvec_push(wr, name);
        strvec_push(call_muts, name);
    }
    strvec_sort_unique(wr);
}

static void add_edge(an_graph *g, size_t from, size_t to, const char *name) {
    for (size_t i = g->nedges; i-- > 0;) {
        if (g->edges[i].to != to) break;
        if (g->edges[i].from == from) {
            if (!strvec_contains(&g->edges[i].names, name)) strvec_push(&g->edges[i].names, name);
            return;
        }
    }
    g->edges = xrealloc(g->edges, (g->nedges + 1) * sizeof *g->edges);
    an_edge *e = &g->edges[g->nedges++];
    e->from = from;
    e->to = to;
    memset(&e->names, 0, sizeof e->names);
    strvec_push(&e->names, name);
}

static int cmp_edge(const void *a, const void *b) {
    const an_edge *x = a, *y = b;
    if (x->to != y->to) return x->to < y->to ? -1 : 1;
    return x->from < y->from ? -1 : x->from > y->from;
}

int an_build_graph(const an_cell *cells, size_t n, an_graph *g) {
    memset(g, 0, sizeof *g);
    g->ncells = n;
    g->eff_reads = xcalloc(n ? n : 1, sizeof *g->eff_reads);
    g->eff_writes = xcalloc(n ? n : 1, sizeof *g->eff_writes);
    g->open_calls = xcalloc(n ? n : 1, sizeof *g->open_calls);
    g->call_muts = xcalloc(n ? n : 1, sizeof *g->call_muts);
    /* wix: cells binding or deleting each name; eix: cells whose effective
     * writes (incl. mutations and calls) touch it, filled as we go */
    nindex wix = {0}, eix = {0};
    long last_ow = -1;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < cells[k].writes.n; i++) nindex_add(&wix, cells[k].writes.v[i], k);
        for (size_t i = 0; i < cells[k].deletes.n; i++) nindex_add(&wix, cells[k].deletes.v[i], k);
    }
    for (size_t k = 0; k < n; k++) {
        effective(cells, &wix, k, last_ow >= 0, &g->eff_reads[k], &g->eff_writes[k], &g->call_muts[k]);
        g->open_calls[k] = take_open_read(&g->eff_reads[k]);
        for (size_t i = 0; i < g->eff_reads[k].n; i++) {
            const char *name = g->eff_reads[k].v[i];
            long w = last_writer(&wix, k, name);
            if (w >= 0) add_edge(g, (size_t)w, k, name);
            /* cells after w that mutate it (or call what does) */
            const sizevec *sl = strmap_get(&eix, name);
            for (size_t m = 0; sl && m < sl->n; m++) {
                size_t j = sl->v[m];
                if ((long)j > w && !writes(&cells[j], name)) add_edge(g, j, k, name);
            }
        }
        for (size_t i = 0; i < g->eff_writes[k].n; i++) nindex_add(&eix, g->eff_writes[k].v[i], k);
        long ow = last_ow; /* the last open-world cell before k (kept as we go: linear) */
        if (ow >= 0) add_edge(g, (size_t)ow, k, "*");
        if (is_open(cells, g, k)) {
            for (size_t j = ow < 0 ? 0 : (size_t)ow + 1; j < k; j++) add_edge(g, j, k, "*");
            last_ow = (long)k;
        }
    }
    strmap_free(&wix);
    strmap_free(&eix);
    for (size_t i = 0; i < g->nedges; i++) strvec_sort_unique(&g->edges[i].names);
    if (g->nedges > 1) qsort(g->edges, g->nedges, sizeof *g->edges, cmp_edge);
    return 0;
}

void an_graph_free(an_graph *g) {
    for (size_t i = 0; i < g->nedges; i++) strvec_free(&g->edges[i].names);
    free(g->edges);
    for (size_t k = 0; k < g->ncells; k++) {
        if (g->eff_reads) strvec_free(&g->eff_reads[k]);
        if (g->eff_writes) strvec_free(&g->eff_writes[k]);
        if (g->call_muts) strvec_free(&g->call_muts[k]);
    }
    free(g->call_muts);
    free(g->eff_reads);
    free(g->eff_writes);
    free(g->open_calls);
    memset(g, 0, sizeof *g);
}
