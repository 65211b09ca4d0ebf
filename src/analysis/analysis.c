/* analysis.c — the scope walker: what a cell reads, writes, deletes and
 * mutates at the top level, following Python's scoping rules.
 *
 * The cell (after IPython syntax is neutralised) is parsed with
 * tree-sitter-python and walked once. At the top level a name is *read* if
 * it is loaded before the cell has bound it on every path that reaches the
 * load: a binding inside a branch of if/for/while/try/match hides later
 * loads in that branch only (a "region"), since the branch may not run.
 * Function bodies are deferred: their free globals (names neither local nor
 * of an enclosing function) are recorded on the top-level def, and become
 * reads of the cell where the def is used. Class bodies and comprehensions
 * run immediately: their free names are reads. Mutation is predicted for
 * attribute and subscript stores, `del x[k]`, augmented assignment through
 * them, calls of known mutating methods and calls with inplace=True;
 * everything else is caught at run time by the kernel's fingerprints. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>

#include "analysis/analysis_internal.h"

const TSLanguage *tree_sitter_python(void);

#define AN_MAX_DEPTH 400

enum { SC_FUNC, SC_CLASS, SC_COMP, SC_LAMBDA };

typedef struct scope {
    int kind;
    strvec locals, globals, nonlocals;
    struct scope *parent;
} scope;

typedef struct walker {
    const char *src;
    an_cell *out;
    strvec uncond;      /* bound at top level on the path walked so far */
    strvec walrus;      /* bound by a walrus anywhere (it may sit in a short-circuit) */
    size_t *marks;      /* per open region, uncond.n when it was entered */
    size_t nmarks;
    int depth, too_deep;
    scope *sc;          /* innermost scope, NULL at top level */
    an_def *def;        /* the top-level def/class whose body is walked */
} walker;

static const char *const mutators[] = {
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "difference_update", "intersection_update", "symmetric_difference_update",
    "fill", "resize", "itemset", "put", "setflags", "__setitem__", "__delitem__", "appendleft", "extendleft",
    "rotate", "write", "writelines", "send", "throw", "close",
    /* estimators learn in place (scikit-learn's fit returns self) */
    "fit", "fit_transform", "fit_predict", "partial_fit", NULL};

/* Draws from a random generator bound to a name (`rng =
 * np.random.default_rng(42)`, RandomState, random.Random) advance its
 * state: a later draw gives other numbers. Only on a plain name that is not
 * a module (`np.random.normal` draws from the global state, which floe
 * carries as process state; `random.choice` likewise). */
static const char *const draws[] = {
    "integers", "random", "choice", "shuffle", "permutation", "permuted", "normal", "uniform",
    "standard_normal", "standard_exponential", "standard_gamma", "standard_t", "standard_cauchy",
    "multivariate_normal", "multinomial", "binomial", "negative_binomial", "poisson", "exponential",
    "lognormal", "laplace", "logistic", "gumbel", "geometric", "hypergeometric", "dirichlet", "triangular",
    "vonmises", "wald", "weibull", "zipf", "rayleigh", "pareto", "chisquare", "logseries",
    "rand", "randn", "randint", "random_sample", "random_integers",
    "randrange", "gauss", "getrandbits", "choices", "normalvariate", "expovariate",
    "betavariate", "gammavariate", "lognormvariate", "paretovariate", "weibullvariate", "vonmisesvariate",
    NULL}; /* not `sample` nor `bytes`: DataFrame.sample reads */
static const char *const not_generators[] = {"random", "np", "numpy", "torch", "tf", "jax", "scipy", "stats",
                                             NULL};

static void walk(walker *w, TSNode n);
static void bind_target(walker *w, TSNode n);

/* ---- small helpers --------------------------------------------------------------- */

static const char *type(TSNode n) { return ts_node_type(n); }
static int is(TSNode n, const char *t) { return !ts_node_is_null(n) && strcmp(ts_node_type(n), t) == 0; }

static char *text(walker *w, TSNode n) {
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return xstrndup(w->src + a, b - a);
}

/* Field names are looked up once: tree-sitter's by-name lookup compares
 * against every field name of the grammar on each call. */
static const char *const field_names[] = {"alias", "alternative", "arguments", "attribute", "body",
                                          "condition", "function", "key", "left", "module_name", "name",
                                          "object", "parameters", "return_type", "right", "subject",
                                          "subscript", "superclasses", "type", "value", NULL};
#define NFIELDS (sizeof field_names / sizeof *field_names - 1)
static TSFieldId field_ids[NFIELDS];
static pthread_once_t field_once = PTHREAD_ONCE_INIT;

static void field_init(void) {
    for (size_t i = 0; i < NFIELDS; i++)
        field_ids[i] = ts_language_field_id_for_name(tree_sitter_python(), field_names[i],
                                                     (uint32_t)strlen(field_names[i]));
}

static TSNode field(TSNode n, const char *f) {
    pthread_once(&field_once, field_init);
    for (size_t i = 0; i < NFIELDS; i++) /* the same literal: usually the same pointer */
        if (field_names[i] == f) return ts_node_child_by_field_id(n, field_ids[i]);
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(field_names[i], f)) return ts_node_child_by_field_id(n, field_ids[i]);
    return ts_node_child_by_field_name(n, f, (uint32_t)strlen(f));
}

static void walk_children(walker *w, TSNode n) {
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) walk(w, ts_node_named_child(n, i));
}

/* Every recursive walk goes through enter/leave: deeper nesting than
 * AN_MAX_DEPTH is not followed (the cell becomes open-world), so hostile
 * input such as 100000 nested brackets cannot exhaust the C stack. */
static int enter(walker *w) {
    if (w->depth >= AN_MAX_DEPTH) {
        w->too_deep = 1;
        return 0;
    }
    w->depth++;
    return 1;
}

static void leave(walker *w) { w->depth--; }

static void add_unique(strvec *v, const char *s) {
    if (!strvec_contains(v, s)) strvec_push(v, s);
}

/* A region is a branch that may not run: what it binds is forgotten when
 * it ends (uncond is truncated back to its length at entry). */
static void region_enter(walker *w) {
    w->marks = xrealloc(w->marks, (w->nmarks + 1) * sizeof *w->marks);
    w->marks[w->nmarks++] = w->uncond.n;
}

static void region_exit(walker *w) {
    size_t m = w->marks[--w->nmarks];
    while (w->uncond.n > m) free(w->uncond.v[--w->uncond.n]);
}

/* `del name` at top level: name is unbound from here on, also after the
 * enclosing regions end (their marks shift down past the removed slot). */
static void unbind(walker *w, const char *name) {
    for (size_t k = 0; k < w->uncond.n; k++) {
        if (strcmp(w->uncond.v[k], name)) continue;
        free(w->uncond.v[k]);
        memmove(&w->uncond.v[k], &w->uncond.v[k + 1], (w->uncond.n - k - 1) * sizeof *w->uncond.v);
        w->uncond.n--;
        for (size_t i = 0; i < w->nmarks; i++)
            if (w->marks[i] > k) w->marks[i]--;
        return;
    }
}

/* ---- scopes ----------------------------------------------------------------------- */

static scope *push_scope(walker *w, int kind) {
    scope *s = xcalloc(1, sizeof *s);
    s->kind = kind;
    s->parent = w->sc;
    w->sc = s;
    return s;
}

static void pop_scope(walker *w) {
    scope *s = w->sc;
    w->sc = s->parent;
    strvec_free(&s->locals);
    strvec_free(&s->globals);
    strvec_free(&s->nonlocals);
    free(s);
}

/* Is any scope on the chain a function body (run later, not now)? */
static int deferred(const walker *w) {
    for (scope *s = w->sc; s; s = s->parent)
        if (s->kind == SC_FUNC || s->kind == SC_LAMBDA) return 1;
    return 0;
}

/* A use at top level of a def of this cell: what its body reads happens now. */
/* A top-level def is used: the cell reads what it reads (transitively,
 * through the other defs of this cell it reads), and writes and mutates
 * what it does. Each def is visited once per use: a worklist with a
 * visited set, so mutually recursive defs cost linear time, not the
 * exponential walk of following every path. */
static void use_def(walker *w, const char *name) {
    an_cell *c = w->out;
    strvec seen = {0}, todo = {0};
    strvec_push(&seen, name);
    strvec_push(&todo, name);
    while (todo.n) {
        char *nm = todo.v[--todo.n];
        /* every def of that name: one may be under `if`, another under
         * `else`, and either may be the one that runs */
        for (size_t k = 0; k < c->ndefs; k++) {
            an_def *x = &c->defs[k];
            if (strcmp(x->name, nm)) continue;
            for (size_t i = 0; i < x->writes.n; i++) add_unique(&c->writes, x->writes.v[i]);
            for (size_t i = 0; i < x->mutates.n; i++) add_unique(&c->mutates, x->mutates.v[i]);
            for (size_t i = 0; i < x->reads.n; i++) {
                const char *r = x->reads.v[i];
                if (!strvec_contains(&w->uncond, r)) add_unique(&c->reads, r);
                if (strvec_contains(&seen, r)) continue;
                strvec_push(&seen, r);
                strvec_push(&todo, r);
            }
        }
        free(nm);
    }
    strvec_free(&todo);
    strvec_free(&seen);
}

/* A name is loaded. */
static void load(walker *w, const char *name) {
    for (scope *s = w->sc; s; s = s->parent) {
        if (strvec_contains(&s->globals, name)) break;
        /* class scopes are not visible from functions nested in them */
        if (s->kind == SC_CLASS && s != w->sc) continue;
        if (strvec_contains(&s->locals, name) || strvec_contains(&s->nonlocals, name)) return;
    }
    if (deferred(w)) {
        if (w->def) add_unique(&w->def->reads, name);
        return;
    }
    if (!strvec_contains(&w->uncond, name)) add_unique(&w->out->reads, name);
    use_def(w, name);
}

/* A name is bound in the current scope. */
static void bind(walker *w, const char *name) {
    scope *s = w->sc;
    while (s && s->kind == SC_COMP) s = s->parent; /* only walrus gets here */
    if (s && strvec_contains(&s->globals, name)) {
        if (w->def) add_unique(&w->def->writes, name);
        return;
    }
    if (s) {
        add_unique(&s->locals, name);
        return;
    }
    add_unique(&w->out->writes, name);
    add_unique(&w->uncond, name);
}

/* The root name of x.a.b / x[i][j] / x.f(), or NULL. */
static char *root_name(walker *w, TSNode n) {
    while (is(n, "attribute") || is(n, "subscript") || is(n, "call")) {
        if (is(n, "attribute")) n = field(n, "object");
        else if (is(n, "subscript")) n = field(n, "value");
        else if (is(field(n, "function"), "identifier")) return NULL; /* f().x = v: f is not changed */
        else n = field(n, "function");
    }
    return is(n, "identifier") ? text(w, n) : NULL;
}

/* x is changed in place (x.a = v, x[k] = v, x.append(v)...). */
/* Process-wide state that every later cell sees (kernel.py carries it
 * between isolated kernels as the __floe_state__ pseudo-artifact): a cell
 * that changes it is open-world, a barrier later cells start after. */
static const char *const state_objects[] = {"os.environ", "sys.path", "sys.modules", "pd.options",
                                            "pandas.options", "rcParams", "plt.rcParams", "mpl.rcParams",
                                            "matplotlib.rcParams", "getcontext()", "decimal.getcontext()", NULL};
static const char *const state_calls[] = {"set_option", "reset_option", "set_printoptions", "filterwarnings",
                                          "simplefilter", "resetwarnings", "setrecursionlimit", "putenv",
                                          "unsetenv", "seterr", "rcdefaults", "chdir", "init_printing",
                                          "init_session", "switch_backend", "setcontext", NULL};

static void state_object(walker *w, TSNode obj) {
    char *t = text(w, obj);
    for (size_t i = 0; state_objects[i]; i++) {
        size_t n = strlen(state_objects[i]);
        if (!strncmp(t, state_objects[i], n) && (t[n] == 0 || t[n] == '.' || t[n] == '[')) {
            strvec_push_owned(&w->out->open_world, xasprintf("changes process state (%s)", state_objects[i]));
            break;
        }
    }
    free(t);
}

static void mutate(walker *w, TSNode obj) {
    state_object(w, obj);
    char *name = root_name(w, obj);
    if (!name) return;
    int global = 1;
    for (scope *s = w->sc; s; s = s->parent)
        if (strvec_contains(&s->locals, name) && !strvec_contains(&s->globals, name)) global = 0;
    if (global) {
        if (deferred(w)) {
            if (w->def) add_unique(&w->def->mutates, name);
        } else if (!strvec_contains(&w->uncond, name)) {
            /* bound earlier in the cell (`kmeans = KMeans(); kmeans.fit(X)`):
             * its own new value changes, already a write, and no earlier
             * version is read */
            add_unique(&w->out->mutates, name);
        }
    }
    free(name);
}

/* ---- prepass: the locals of a function body --------------------------------------- */

static void collect_targets(walker *w, TSNode n, scope *s);

/* The identifier item m of import statement s binds (`import a.b`: a,
 * `import a as b`: b, `from x import y`: y); not an identifier for the
 * module name of a from-import or a wildcard. */
static TSNode import_binding(TSNode s, TSNode m) {
    if (is(s, "import_from_statement") && ts_node_eq(m, field(s, "module_name"))) {
        TSNode none;
        memset(&none, 0, sizeof none); /* the null node */
        return none;
    }
    TSNode id = is(m, "aliased_import") ? field(m, "alias") : m;
    return is(id, "dotted_name") ? ts_node_named_child(id, 0) : id;
}

static void collect(walker *w, TSNode n, scope *s, int depth) {
    if (ts_node_is_null(n) || depth > AN_MAX_DEPTH) return;
    const char *t = type(n);
    if (!strcmp(t, "function_definition") || !strcmp(t, "class_definition")) {
        TSNode name = field(n, "name");
        if (!ts_node_is_null(name)) {
            char *s2 = text(w, name);
            add_unique(&s->locals, s2);
            free(s2);
        }
        /* decorators, defaults and bases are in this scope; bodies are not */
        return;
    }
    if (!strcmp(t, "lambda")) return;
    if (!strcmp(t, "global_statement") || !strcmp(t, "nonlocal_statement")) {
        strvec *dst = t[0] == 'g' ? &s->globals : &s->nonlocals;
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 0; i < c; i++) strvec_push_owned(dst, text(w, ts_node_named_child(n, i)));
        return;
    }
    if (!strcmp(t, "assignment") || !strcmp(t, "augmented_assignment") || !strcmp(t, "for_statement") ||
        !strcmp(t, "for_in_clause")) {
        if (!strcmp(t, "for_in_clause")) { /* comprehension target: not ours; walrus inside may be */
            collect(w, field(n, "right"), s, depth + 1);
            return;
        }
        collect_targets(w, field(n, "left"), s);
    } else if (!strcmp(t, "named_expression")) {
        collect_targets(w, field(n, "name"), s);
    } else if (!strcmp(t, "as_pattern_target") || !strcmp(t, "delete_statement")) {
        collect_targets(w, ts_node_named_child(n, 0), s);
    } else if (!strcmp(t, "import_statement") || !strcmp(t, "import_from_statement")) {
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 0; i < c; i++) {
            TSNode id = import_binding(n, ts_node_named_child(n, i));
            if (is(id, "identifier")) strvec_push_owned(&s->locals, text(w, id));
        }
        return;
    }
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) collect(w, ts_node_named_child(n, i), s, depth + 1);
}

static void collect_targets_node(walker *w, TSNode n, scope *s);

static void collect_targets(walker *w, TSNode n, scope *s) {
    if (ts_node_is_null(n) || !enter(w)) return;
    collect_targets_node(w, n, s);
    leave(w);
}

static void collect_targets_node(walker *w, TSNode n, scope *s) {
    if (is(n, "identifier")) {
        char *name = text(w, n);
        if (!strvec_contains(&s->globals, name)) add_unique(&s->locals, name);
        free(name);
        return;
    }
    if (is(n, "attribute") || is(n, "subscript")) return;
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) collect_targets(w, ts_node_named_child(n, i), s);
}

static void add_params(walker *w, TSNode params, scope *s) {
    uint32_t c = ts_node_named_child_count(params);
    for (uint32_t i = 0; i < c; i++) {
        TSNode p = ts_node_named_child(params, i);
        TSNode name = p;
        if (is(p, "default_parameter") || is(p, "typed_default_parameter")) name = field(p, "name");
        else if (is(p, "typed_parameter") || is(p, "list_splat_pattern") || is(p, "dictionary_splat_pattern"))
            name = ts_node_named_child(p, 0);
        /* `*args: T`, `**kw: T`: a typed parameter around a splat */
        if (is(name, "list_splat_pattern") || is(name, "dictionary_splat_pattern")) name = ts_node_named_child(name, 0);
        if (is(name, "identifier")) strvec_push_owned(&s->locals, text(w, name));
    }
}

/* Defaults, annotations of parameters are evaluated where the def is. */
static void walk_param_exprs(walker *w, TSNode params) {
    uint32_t c = ts_node_named_child_count(params);
    for (uint32_t i = 0; i < c; i++) {
        TSNode p = ts_node_named_child(params, i);
        TSNode v = field(p, "value");
        if (!ts_node_is_null(v)) walk(w, v);
        TSNode t = field(p, "type");
        if (!ts_node_is_null(t)) walk(w, t);
    }
}

/* ---- statements and expressions ------------------------------------------------------- */

static void walk_function(walker *w, TSNode n) {
    TSNode params = field(n, "parameters");
    TSNode name = field(n, "name");
    if (!ts_node_is_null(params)) walk_param_exprs(w, params);
    TSNode rt = field(n, "return_type");
    if (!ts_node_is_null(rt)) walk(w, rt);
    char *fname = ts_node_is_null(name) ? NULL : text(w, name);
    an_def *saved = w->def;
    int top = w->sc == NULL;
    if (top && fname) {
        w->out->defs = xrealloc(w->out->defs, (w->out->ndefs + 1) * sizeof *w->out->defs);
        an_def *d = &w->out->defs[w->out->ndefs++];
        memset(d, 0, sizeof *d);
        d->name = xstrdup(fname);
        w->def = d;
    }
    scope *s = push_scope(w, SC_FUNC);
    if (!ts_node_is_null(params)) add_params(w, params, s);
    collect(w, field(n, "body"), s, 0);
    walk(w, field(n, "body"));
    pop_scope(w);
    w->def = saved;
    if (fname) bind(w, fname);
    free(fname);
}

static void walk_class(walker *w, TSNode n) {
    TSNode sup = field(n, "superclasses");
    if (!ts_node_is_null(sup)) walk(w, sup);
    TSNode name = field(n, "name");
    char *cname = ts_node_is_null(name) ? NULL : text(w, name);
    an_def *saved = w->def;
    if (!w->sc && cname) {
        w->out->defs = xrealloc(w->out->defs, (w->out->ndefs + 1) * sizeof *w->out->defs);
        an_def *d = &w->out->defs[w->out->ndefs++];
        memset(d, 0, sizeof *d);
        d->name = xstrdup(cname);
        w->def = d;
    }
    push_scope(w, SC_CLASS);
    /* the class body runs now: its loads are reads of the enclosing scope */
    walk(w, field(n, "body"));
    pop_scope(w);
    w->def = saved;
    if (cname) bind(w, cname);
    free(cname);
}

/* Is a lambda here top-level code (only comprehensions and other top-level
 * lambdas around it)? In a def or class body it is deferred like a def. */
static int eager_lambda(const walker *w) {
    for (scope *s = w->sc; s; s = s->parent)
        if (s->kind != SC_COMP) return 0;
    return 1;
}

static void walk_lambda(walker *w, TSNode n) {
    TSNode params = field(n, "parameters");
    if (!ts_node_is_null(params)) walk_param_exprs(w, params);
    /* a lambda at top level is usually called right away (key=, map...):
     * its free names count as reads of the cell */
    scope *s = push_scope(w, eager_lambda(w) ? SC_COMP : SC_LAMBDA);
    if (!ts_node_is_null(params)) add_params(w, params, s);
    walk(w, field(n, "body"));
    pop_scope(w);
}

/* [body for x in it if c ...]: the first iterable is evaluated outside. */
static void walk_comprehension(walker *w, TSNode n) {
    uint32_t c = ts_node_named_child_count(n);
    int first = 1;
    for (uint32_t i = 0; i < c; i++) {
        TSNode k = ts_node_named_child(n, i);
        if (is(k, "for_in_clause") && first) {
            walk(w, field(k, "right"));
            break;
        }
    }
    scope *s = push_scope(w, SC_COMP);
    for (uint32_t i = 0; i < c; i++) {
        TSNode k = ts_node_named_child(n, i);
        if (is(k, "for_in_clause")) collect_targets(w, field(k, "left"), s);
    }
    for (uint32_t i = 0; i < c; i++) {
        TSNode k = ts_node_named_child(n, i);
        if (is(k, "for_in_clause")) {
            if (!first) walk(w, field(k, "right"));
            first = 0;
        } else {
            walk(w, k);
        }
    }
    pop_scope(w);
}

/* The modules an import statement names (an_cell.imports). */
static void note_imports(walker *w, TSNode n, int from) {
    TSNode mod = from ? field(n, "module_name") : n;
    char *base = from && is(mod, "dotted_name") ? text(w, mod) : NULL;
    if (from && !base) return; /* relative */
    if (base) strvec_push(&w->out->imports, base);
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
        TSNode m = ts_node_named_child(n, i);
        if (from && ts_node_eq(m, mod)) continue;
        TSNode name = is(m, "aliased_import") ? field(m, "name") : m;
        if (!is(name, "dotted_name")) continue;
        char *t = text(w, name);
        if (!base) {
            strvec_push_owned(&w->out->imports, t);
            continue;
        }
        if (!strchr(t, '.')) strvec_push_owned(&w->out->imports, xasprintf("%s.%s", base, t));
        free(t);
    }
    free(base);
}

static void walk_import(walker *w, TSNode n, int from) {
    note_imports(w, n, from);
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
        TSNode m = ts_node_named_child(n, i);
        if (from && ts_node_eq(m, field(n, "module_name"))) continue;
        if (is(m, "wildcard_import")) {
            TSNode mod = field(n, "module_name");
            char *mn = ts_node_is_null(mod) ? xstrdup("?") : text(w, mod);
            strvec_push_owned(&w->out->open_world, xasprintf("from %s import *", mn));
            free(mn);
            continue;
        }
        TSNode id = import_binding(n, m);
        if (!is(id, "identifier")) continue;
        char *name = text(w, id);
        bind(w, name);
        free(name);
    }
}

/* `from __future__ import x` binds x; __future__ is no module to preload. */
static void walk_future(walker *w, TSNode n) {
    size_t before = w->out->imports.n;
    walk_import(w, n, 0);
    while (w->out->imports.n > before) free(w->out->imports.v[--w->out->imports.n]);
}

static void walk_assignment(walker *w, TSNode n) {
    TSNode right = field(n, "right");
    if (!ts_node_is_null(right)) walk(w, right);
    TSNode t = field(n, "type");
    if (!ts_node_is_null(t) && !w->sc) walk(w, t);
    /* an annotation without a value binds nothing */
    if (!ts_node_is_null(right)) bind_target(w, field(n, "left"));
}

static void walk_augmented(walker *w, TSNode n) {
    TSNode left = field(n, "left");
    walk(w, field(n, "right"));
    if (is(left, "identifier")) {
        char *name = text(w, left);
        load(w, name);
        bind(w, name);
        free(name);
    } else {
        walk(w, left); /* x[k] += 1: x is read and mutated */
        mutate(w, left);
    }
}

static void walk_delete(walker *w, TSNode n) {
    TSNode t = ts_node_named_child(n, 0);
    uint32_t c = is(t, "expression_list") ? ts_node_named_child_count(t) : 1;
    for (uint32_t i = 0; i < c; i++) {
        TSNode x = is(t, "expression_list") ? ts_node_named_child(t, i) : t;
        if (is(x, "identifier")) {
            char *name = text(w, x);
            if (!w->sc) {
                if (!strvec_contains(&w->uncond, name)) add_unique(&w->out->reads, name);
                add_unique(&w->out->deletes, name);
                unbind(w, name);
            } else if (strvec_contains(&w->sc->globals, name) && w->def) {
                add_unique(&w->def->writes, name);
            }
            free(name);
        } else {
            walk(w, x);
            mutate(w, x);
        }
    }
}

/* ---- names inside strings (issue 16, class 2) ------------------------------------ */

/* Expression strings that libraries evaluate in the caller's namespace:
 * df.query('x > @mu'), pd.eval('df1 + df2'), df.eval('a * @k'), and
 * patsy/statsmodels formulas ('y ~ x0 + np.log(x1)'). Their identifiers
 * are reads (a name that is only a column resolves to no writer and costs
 * nothing). Attributes (after a dot), keywords and quoted parts are not. */
static const char *const expr_keywords[] = {"and", "or", "not", "in", "is", "if", "else", "True", "False",
                                            "None", "lambda", "for", NULL};

static int is_ident_start(char ch) { return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static int is_ident_char(char ch) { return is_ident_start(ch) || (ch >= '0' && ch <= '9'); }

static void load(walker *w, const char *name);

static void expr_string_names(walker *w, const char *t, size_t n) {
    char quote = 0;
    for (size_t i = 0; i < n;) {
        char ch = t[i];
        if (quote) {
            quote = ch == quote ? 0 : quote;
            i += ch == '\\' ? 2 : 1;
        } else if (ch == '\'' || ch == '"' || ch == '`') {
            quote = ch;
            i++;
        } else if (is_ident_start(ch) && (i == 0 || !is_ident_char(t[i - 1]))) {
            size_t j = i;
            while (j < n && is_ident_char(t[j])) j++;
            size_t b = i;
            while (b > 0 && (t[b - 1] == ' ' || t[b - 1] == '@')) b--;
            int attr = b > 0 && t[b - 1] == '.';
            char *name = xstrndup(t + i, j - i);
            int kw = 0;
            for (size_t k = 0; expr_keywords[k]; k++) kw |= !strcmp(name, expr_keywords[k]);
            if (!attr && !kw) load(w, name);
            free(name);
            i = j;
        } else {
            i++;
        }
    }
}

/* The contents of a plain string literal (no f-string, no bytes), or NULL. */
static char *literal_contents(walker *w, TSNode n, size_t *len) {
    if (!is(n, "string")) return NULL;
    for (uint32_t i = 0; i < ts_node_named_child_count(n); i++)
        if (is(ts_node_named_child(n, i), "interpolation")) return NULL;
    char *t = text(w, n);
    size_t p = 0;
    while (t[p] && t[p] != '\'' && t[p] != '"') {
        if (t[p] == 'b' || t[p] == 'B' || t[p] == 'f' || t[p] == 'F') {
            free(t);
            return NULL;
        }
        p++;
    }
    size_t q = (t[p] && t[p + 1] == t[p] && t[p + 2] == t[p]) ? 3 : 1;
    size_t all = strlen(t);
    if (all < p + 2 * q) {
        free(t);
        return NULL;
    }
    *len = all - p - 2 * q;
    memmove(t, t + p + q, *len);
    t[*len] = 0;
    return t;
}

/* statsmodels' formula API and patsy: their string arguments with a '~'
 * (or any `formula=` argument) are formulas. */
static const char *const formula_calls[] = {"ols", "wls", "gls", "glsar", "glm", "logit", "probit", "poisson",
                                            "negativebinomial", "mnlogit", "quantreg", "mixedlm", "rlm", "phreg",
                                            "gee", "ordinal_gee", "nominal_gee", "from_formula", "dmatrices",
                                            "dmatrix", "ModelDesc", "incr_dbuilders", NULL};

/* A call whose string arguments are expressions: method query/eval (first
 * argument), or formulas. callee: the function's or method's name. */
static void expr_string_args(walker *w, TSNode args, const char *callee, int method) {
    int formula = 0;
    for (size_t k = 0; callee && formula_calls[k]; k++) formula |= !strcmp(callee, formula_calls[k]);
    int expr = method && callee && (!strcmp(callee, "query") || !strcmp(callee, "eval"));
    uint32_t c = ts_node_is_null(args) ? 0 : ts_node_named_child_count(args);
    for (uint32_t i = 0; i < c; i++) {
        TSNode a = ts_node_named_child(args, i);
        int kw_formula = 0;
        if (is(a, "keyword_argument")) {
            char *k = text(w, field(a, "name"));
            kw_formula = !strcmp(k, "formula");
            free(k);
            a = field(a, "value");
        }
        size_t len;
        char *t = literal_contents(w, a, &len);
        if (!t) continue;
        if ((expr && i == 0) || kw_formula || (formula && memchr(t, '~', len))) expr_string_names(w, t, len);
        free(t);
    }
}

/* Code that reads namespaces by name (eval, exec, globals(), frames): a
 * function or class using it makes its callers open-world (graph.c
 * follows AN_OPEN_READ through calls). */
static void dynamic_use(walker *w, const char *what) {
    if (deferred(w) && w->def) add_unique(&w->def->reads, AN_OPEN_READ);
    (void)what;
}

/* Listing a directory (os.listdir, os.scandir, os.walk, glob.glob,
 * pathlib's iterdir/glob/rglob) reads what every earlier cell created or
 * removed in it, and what any later cell will: it cannot be undone by
 * re-running (a later cell's new file stays), so such a cell is a barrier,
 * as removing files is (issue 16). kernel.py reports a listing as a read of
 * the directory, for listings inside libraries. */
static void lists_dir(walker *w, const char *fn) {
    static const char *const listing[] = {"listdir", "scandir", "walk", "glob", "iglob", "rglob", "iterdir", NULL};
    for (size_t i = 0; listing[i]; i++)
        if (!strcmp(fn, listing[i])) {
            char *r = xasprintf("lists a directory (%s())", fn);
            add_unique(&w->out->open_world, r);
            free(r);
            return;
        }
}

static void walk_call(walker *w, TSNode n) {
    TSNode fn = field(n, "function");
    TSNode args = field(n, "arguments");
    walk(w, fn);
    if (!ts_node_is_null(args)) walk(w, args);
    if (is(fn, "identifier")) {
        char *name = text(w, fn);
        expr_string_args(w, args, name, 0);
        if (!strcmp(name, "exec") || !strcmp(name, "eval") || !strcmp(name, "globals") || !strcmp(name, "vars"))
            dynamic_use(w, name);
        if (!strcmp(name, "init_printing") || !strcmp(name, "init_session")) /* sympy's display formatters */
            add_unique(&w->out->open_world, "changes process state (init_printing())");
        if (!strcmp(name, "exec") || !strcmp(name, "eval") || !strcmp(name, "compile") ||
            !strcmp(name, "globals") || !strcmp(name, "vars") || !strcmp(name, "get_ipython") ||
            !strcmp(name, "__import__") || (!strcmp(name, "locals") && !deferred(w)) ||
            (!strcmp(name, "dir") && !deferred(w) && (ts_node_is_null(args) || !ts_node_named_child_count(args))))
            strvec_push_owned(&w->out->open_world, xasprintf("calls %s()", name));
        if (strcmp(name, "walk") != 0) lists_dir(w, name); /* from glob import glob; glob('*.csv') */
        free(name);
        return;
    }
    if (!is(fn, "attribute")) {
        expr_string_args(w, args, NULL, 0);
        return;
    }
    char *meth = text(w, field(fn, "attribute"));
    expr_string_args(w, args, meth, 1);
    if (!strcmp(meth, "_getframe") || !strcmp(meth, "currentframe") || !strcmp(meth, "stack"))
        dynamic_use(w, meth);
    /* the working directory, options of numpy/pandas/warnings... */
    int state = 0;
    for (size_t i = 0; state_calls[i]; i++) state |= !strcmp(meth, state_calls[i]);
    if (!strcmp(meth, "use") || !strcmp(meth, "rc")) { /* plt.style.use(...), plt.rc(...) */
        char *o = text(w, field(fn, "object"));
        size_t on = strlen(o);
        int mpl = !strcmp(o, "plt") || !strcmp(o, "mpl") || !strcmp(o, "matplotlib");
        /* plt.style.use(...), matplotlib.use('svg') (the backend) */
        state = !strcmp(meth, "use") ? (on >= 5 && !strcmp(o + on - 5, "style")) || (mpl && strcmp(o, "plt") != 0)
                                     : mpl;
        free(o);
    }
    if (state) {
        char *r = !strcmp(meth, "chdir") ? xstrdup("changes the working directory")
                                         : xasprintf("changes process state (%s())", meth);
        add_unique(&w->out->open_world, r);
        free(r);
    }
    /* removing files: a cell that cleans up must not run before earlier
     * cells that still read them (a later cell's write to a file an earlier
     * one reads cannot be undone by re-running; a read of a file an earlier
     * cell writes is caught at run time instead) */
    int removes = !strcmp(meth, "rmtree") || !strcmp(meth, "unlink") || !strcmp(meth, "rmdir") ||
                  !strcmp(meth, "removedirs");
    if (!strcmp(meth, "remove")) {
        char *o = text(w, field(fn, "object"));
        removes = !strcmp(o, "os");
        free(o);
    }
    if (removes) {
        char *r = xasprintf("removes files (%s())", meth);
        add_unique(&w->out->open_world, r);
        free(r);
    }
    lists_dir(w, meth);
    /* shell commands: files no audit hook sees (ipython.c: !cmd, %%bash) */
    {
        char *o = text(w, field(fn, "object"));
        int shell = (!strcmp(o, "os") && (!strcmp(meth, "system") || !strcmp(meth, "popen") ||
                                          !strncmp(meth, "spawn", 5) || !strncmp(meth, "exec", 4))) ||
                    (!strcmp(o, "subprocess") && strcmp(meth, "list2cmdline") != 0);
        if (shell && !deferred(w)) add_unique(&w->out->open_world, "runs shell commands");
        free(o);
    }
    int mut = 0;
    for (size_t i = 0; mutators[i]; i++) mut |= !strcmp(meth, mutators[i]);
    TSNode recv = field(fn, "object");
    if (!deferred(w)) { /* the global random state: np.random.normal(...), random.seed(1) */
        char *o = text(w, recv);
        if (!strcmp(o, "np.random") || !strcmp(o, "numpy.random") || !strcmp(o, "random")) {
            if (!strcmp(meth, "seed") || !strcmp(meth, "set_state") || !strcmp(meth, "setstate"))
                w->out->rng |= AN_RNG_SEEDS;
            static const char *const more[] = {"sample", "ranf", "beta", "gamma", "f", "power", "bytes",
                                               "get_state", "getstate", NULL};
            for (size_t i = 0; draws[i]; i++)
                if (!strcmp(meth, draws[i])) w->out->rng |= AN_RNG_DRAWS;
            for (size_t i = 0; more[i]; i++)
                if (!strcmp(meth, more[i])) w->out->rng |= AN_RNG_DRAWS;
        }
        free(o);
    }
    if (!mut && is(recv, "identifier")) {
        char *o = text(w, recv);
        int gen = 1;
        for (size_t i = 0; not_generators[i] && gen; i++) gen = strcmp(o, not_generators[i]) != 0;
        for (size_t i = 0; draws[i] && gen && !mut; i++) mut = !strcmp(meth, draws[i]);
        free(o);
    }
    free(meth);
    uint32_t c = ts_node_is_null(args) ? 0 : ts_node_named_child_count(args);
    for (uint32_t i = 0; i < c && !mut; i++) {
        TSNode a = ts_node_named_child(args, i);
        if (!is(a, "keyword_argument")) continue;
        char *k = text(w, field(a, "name"));
        char *v = text(w, field(a, "value"));
        mut = !strcmp(k, "inplace") && !strcmp(v, "True");
        free(k);
        free(v);
    }
    if (mut) mutate(w, field(fn, "object"));
}

/* Captures of a match pattern bind; dotted names with a dot are loads. */
static void walk_pattern_node(walker *w, TSNode n);

static void walk_pattern(walker *w, TSNode n) {
    if (ts_node_is_null(n) || !enter(w)) return;
    walk_pattern_node(w, n);
    leave(w);
}

static void walk_pattern_node(walker *w, TSNode n) {
    if (is(n, "dotted_name")) {
        if (ts_node_named_child_count(n) == 1) {
            char *name = text(w, n);
            if (strcmp(name, "_") != 0) bind(w, name);
            free(name);
        } else {
            walk(w, ts_node_named_child(n, 0));
        }
        return;
    }
    if (is(n, "class_pattern")) { /* `case m.C(...)`: loads m only */
        TSNode cls = ts_node_named_child(n, 0);
        walk(w, is(cls, "dotted_name") ? ts_node_named_child(cls, 0) : cls);
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 1; i < c; i++) walk_pattern(w, ts_node_named_child(n, i));
        return;
    }
    if (is(n, "keyword_pattern")) {
        walk_pattern(w, ts_node_named_child(n, 1));
        return;
    }
    if (is(n, "splat_pattern") || is(n, "identifier")) {
        TSNode id = is(n, "identifier") ? n : ts_node_named_child(n, 0);
        if (is(id, "identifier")) {
            char *name = text(w, id);
            if (strcmp(name, "_") != 0) bind(w, name);
            free(name);
        }
        return;
    }
    if (is(n, "as_pattern")) { /* `P as y`: in patterns y is a bare identifier, not an alias field */
        walk_pattern(w, ts_node_named_child(n, 0));
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 1; i < c; i++) bind_target(w, ts_node_named_child(n, i));
        return;
    }
    if (is(n, "dict_pattern")) {
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 0; i < c; i++) {
            TSNode k = ts_node_named_child(n, i);
            if (ts_node_eq(k, field(n, "key"))) walk(w, k);
            else walk_pattern(w, k);
        }
        return;
    }
    if (is(n, "string") || is(n, "integer") || is(n, "float") || is(n, "true") || is(n, "false") || is(n, "none"))
        return;
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) walk_pattern(w, ts_node_named_child(n, i));
}

static void walk_match(walker *w, TSNode n) {
    walk(w, field(n, "subject"));
    TSNode body = field(n, "body");
    uint32_t c = ts_node_named_child_count(body);
    for (uint32_t i = 0; i < c; i++) {
        TSNode cc = ts_node_named_child(body, i);
        if (!is(cc, "case_clause")) continue;
        region_enter(w); /* captures are seen by the guard and the block */
        uint32_t k = ts_node_named_child_count(cc);
        for (uint32_t j = 0; j < k; j++) {
            TSNode part = ts_node_named_child(cc, j);
            if (is(part, "case_pattern")) walk_pattern(w, part);
            else walk(w, part); /* guard and block */
        }
        region_exit(w);
    }
}

/* Targets of with-as and except-as live in as_pattern nodes. */
static void walk_as_pattern(walker *w, TSNode n) {
    walk(w, ts_node_named_child(n, 0));
    TSNode alias = field(n, "alias");
    if (!ts_node_is_null(alias)) bind_target(w, ts_node_named_child(alias, 0));
}

static void walk_keyword_argument(walker *w, TSNode n) { walk(w, field(n, "value")); }

/* if/while: the first condition always runs; each block, elif and else is
 * a region. try: the body and each handler, else and finally is a region
 * (an exception may cut the body short anywhere). with: walk_with. */
static void walk_conditional(walker *w, TSNode n) {
    TSNode cond = field(n, "condition");
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
        TSNode k = ts_node_named_child(n, i);
        if (ts_node_eq(k, cond)) {
            walk(w, k);
            continue;
        }
        region_enter(w);
        walk(w, k);
        region_exit(w);
    }
}

/* with: the items (and their `as` targets) as any statement; the body is
 * a region, as a try body is: `with suppress(E):` ends it early and the
 * cell goes on, so a name it binds may still be read from an earlier cell
 * after it (and is not certain, an_cell.certain). */
static void walk_with(walker *w, TSNode n) {
    TSNode body = field(n, "body");
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
        TSNode k = ts_node_named_child(n, i);
        if (!ts_node_eq(k, body)) {
            walk(w, k);
            continue;
        }
        region_enter(w);
        walk(w, k);
        region_exit(w);
    }
}

static void walk_for(walker *w, TSNode n) {
    walk(w, field(n, "right"));
    region_enter(w);
    bind_target(w, field(n, "left"));
    walk(w, field(n, "body"));
    region_exit(w);
    TSNode alt = field(n, "alternative");
    region_enter(w);
    if (!ts_node_is_null(alt)) walk(w, alt);
    region_exit(w);
}

static void walk_identifier(walker *w, TSNode n) {
    /* the most frequent node: short names are not copied to the heap */
    char small[64];
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    char *name = b - a < sizeof small ? small : xmalloc(b - a + 1);
    memcpy(name, w->src + a, b - a);
    name[b - a] = 0;
    if (!strcmp(name, "__builtins__") || !strcmp(name, "__builtin__"))
        add_unique(&w->out->open_world, "uses __builtins__");
    load(w, name);
    if (name != small) free(name);
}

static void bind_target(walker *w, TSNode n) {
    if (ts_node_is_null(n) || !enter(w)) return;
    if (is(n, "identifier")) {
        char *name = text(w, n);
        bind(w, name);
        free(name);
    } else if (is(n, "attribute")) {
        walk(w, field(n, "object"));
        mutate(w, n);
    } else if (is(n, "subscript")) {
        walk(w, field(n, "value"));
        walk(w, field(n, "subscript"));
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 2; i < c; i++) walk(w, ts_node_named_child(n, i));
        mutate(w, n);
    } else if (is(n, "assignment")) { /* a = b = 1 */
        bind_target(w, field(n, "left"));
        bind_target(w, field(n, "right"));
    } else {
        uint32_t c = ts_node_named_child_count(n);
        for (uint32_t i = 0; i < c; i++) bind_target(w, ts_node_named_child(n, i));
    }
    leave(w);
}

static void walk(walker *w, TSNode n) {
    if (ts_node_is_null(n) || !enter(w)) return;
    const char *t = type(n);
    switch (t[0]) {
    case 'i':
        if (!strcmp(t, "identifier")) walk_identifier(w, n);
        else if (!strcmp(t, "import_statement")) walk_import(w, n, 0);
        else if (!strcmp(t, "import_from_statement")) walk_import(w, n, 1);
        else if (!strcmp(t, "if_statement")) walk_conditional(w, n);
        else walk_children(w, n);
        break;
    case 'a':
        if (!strcmp(t, "assignment")) walk_assignment(w, n);
        else if (!strcmp(t, "augmented_assignment")) walk_augmented(w, n);
        else if (!strcmp(t, "attribute")) walk(w, field(n, "object"));
        else if (!strcmp(t, "as_pattern")) walk_as_pattern(w, n);
        else walk_children(w, n);
        break;
    case 'f':
        if (!strcmp(t, "function_definition")) walk_function(w, n);
        else if (!strcmp(t, "for_statement")) walk_for(w, n);
        else if (!strcmp(t, "future_import_statement")) walk_future(w, n); /* binds the feature name */
        else walk_children(w, n);
        break;
    case 'c':
        if (!strcmp(t, "class_definition")) walk_class(w, n);
        else if (!strcmp(t, "call")) walk_call(w, n);
        else if (!strcmp(t, "comment")) break;
        else walk_children(w, n);
        break;
    case 'l':
        if (!strcmp(t, "lambda")) walk_lambda(w, n);
        else if (!strcmp(t, "list_comprehension")) walk_comprehension(w, n);
        else walk_children(w, n);
        break;
    case 's':
        if (!strcmp(t, "set_comprehension")) walk_comprehension(w, n);
        else walk_children(w, n);
        break;
    case 'd':
        if (!strcmp(t, "dictionary_comprehension")) walk_comprehension(w, n);
        else if (!strcmp(t, "delete_statement")) walk_delete(w, n);
        else if (!strcmp(t, "decorated_definition")) walk_children(w, n);
        else walk_children(w, n);
        break;
    case 'g':
        if (!strcmp(t, "generator_expression")) walk_comprehension(w, n);
        else if (!strcmp(t, "global_statement")) break;
        else walk_children(w, n);
        break;
    case 'k':
        if (!strcmp(t, "keyword_argument")) walk_keyword_argument(w, n);
        else walk_children(w, n);
        break;
    case 'n':
        if (!strcmp(t, "named_expression")) {
            walk(w, field(n, "value"));
            TSNode target = field(n, "name");
            if (is(target, "identifier")) strvec_push_owned(&w->walrus, text(w, target));
            bind_target(w, target);
        } else if (!strcmp(t, "nonlocal_statement")) {
            break;
        } else {
            walk_children(w, n);
        }
        break;
    case 'm':
        if (!strcmp(t, "match_statement")) walk_match(w, n);
        else walk_children(w, n);
        break;
    case 'w':
        if (!strcmp(t, "while_statement")) walk_conditional(w, n);
        else if (!strcmp(t, "with_statement")) walk_with(w, n);
        else walk_children(w, n);
        break;
    case 't':
        if (!strcmp(t, "try_statement")) walk_conditional(w, n);
        else walk_children(w, n);
        break;
    default:
        if (!strcmp(t, "ERROR")) break;
        walk_children(w, n);
    }
    leave(w);
}

/* ---- entry points ------------------------------------------------------------------- */

static int first_error_line(TSNode n, int depth) {
    if (depth > AN_MAX_DEPTH) return 0;
    if (!strcmp(ts_node_type(n), "ERROR") || ts_node_is_missing(n)) return (int)ts_node_start_point(n).row + 1;
    if (!ts_node_has_error(n)) return 0;
    uint32_t c = ts_node_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
        int l = first_error_line(ts_node_child(n, i), depth + 1);
        if (l) return l;
    }
    return (int)ts_node_start_point(n).row + 1;
}

static void finish(an_cell *c) {
    strvec_sort_unique(&c->reads);
    strvec_sort_unique(&c->writes);
    strvec_sort_unique(&c->deletes);
    strvec_sort_unique(&c->mutates);
    strvec_sort_unique(&c->open_world);
    strvec_sort_unique(&c->imports);
    for (size_t i = 0; i < c->ndefs; i++) {
        strvec_sort_unique(&c->defs[i].reads);
        strvec_sort_unique(&c->defs[i].writes);
        strvec_sort_unique(&c->defs[i].mutates);
    }
}

/* Methods called for what they show or write out, not to change their
 * object: `df.plot(ax=ax);`, `df.to_csv('f.csv')`. (Not savefig: drawing
 * changes a figure's axes as later cells see them. ax.plot changes ax,
 * but a missed mutation is found when the cell runs, at the price of a
 * re-run, where a false one would order plotting cells for good.) */
static const char *const shows[] = {"plot", "hist", "boxplot", "head", "tail", "describe", "info", "show",
                                    "to_csv", "to_excel", "to_json", "to_parquet", "to_pickle",
                                    "to_html", "to_latex", "to_markdown", "to_string", "display", "print",
                                    "tofile", "save", "dump", "get", "copy", "keys", "values", "items", NULL};

/* Whether a `;` follows statement s (spaces aside): IPython does not
 * display the cell's last value then. */
static int quiet_after(walker *w, TSNode s) {
    const char *p = w->src + ts_node_end_byte(s);
    while (*p == ' ' || *p == '\t') p++;
    return *p == ';';
}

/* The top-level statements' method calls whose result is unused, and the
 * names import statements bind (an_cell.calls, .modules). A call that is
 * the cell's last statement is displayed (`df.head()`): not counted, unless
 * a `;` after it keeps it from display (`ax.set_title("t");`); nor a
 * call on a name the cell bound before (its own value: a write anyway), nor
 * one of `shows`. */
static void top_level(walker *w, TSNode root) {
    uint32_t n = ts_node_named_child_count(root);
    long last = -1;
    for (uint32_t i = 0; i < n; i++)
        if (!is(ts_node_named_child(root, i), "comment")) last = (long)i;
    scope bound; /* what the statements so far bound */
    memset(&bound, 0, sizeof bound);
    for (uint32_t i = 0; i < n; i++) {
        TSNode s = ts_node_named_child(root, i);
        if (is(s, "import_statement") || is(s, "import_from_statement")) {
            uint32_t c = ts_node_named_child_count(s);
            for (uint32_t j = 0; j < c; j++) {
                TSNode id = import_binding(s, ts_node_named_child(s, j));
                if (is(id, "identifier")) {
                    char *name = text(w, id);
                    add_unique(&w->out->modules, name);
                    free(name);
                }
            }
        } else if (((long)i != last || quiet_after(w, s)) && is(s, "expression_statement") &&
                   ts_node_named_child_count(s) == 1 &&
                   is(ts_node_named_child(s, 0), "call") &&
                   is(field(ts_node_named_child(s, 0), "function"), "attribute")) {
            TSNode fn = field(ts_node_named_child(s, 0), "function");
            char *meth = text(w, field(fn, "attribute"));
            int shown = 0;
            for (size_t j = 0; shows[j] && !shown; j++) shown = !strcmp(meth, shows[j]);
            free(meth);
            TSNode obj = field(fn, "object");
            while (is(obj, "attribute")) obj = field(obj, "object");
            if (!shown && is(obj, "identifier")) {
                char *name = text(w, obj);
                if (!strvec_contains(&bound.locals, name)) add_unique(&w->out->calls, name);
                free(name);
            }
        }
        collect(w, s, &bound, 0);
    }
    strvec_free(&bound.locals);
    strvec_free(&bound.globals);
    strvec_free(&bound.nonlocals);
}

/* Whether the names a cell binds at top level are bound in the user's
 * namespace when it ends: not under %timeit/%%timeit (a namespace of its
 * own), %%python (another process) or another cell magic but %%time and
 * %%capture. */
static int binds_in_user_ns(const char *src, size_t len) {
    if (memmem(src, len, "%timeit", 7)) return 0;
    size_t i = 0;
    while (i < len && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r')) i++;
    if (len - i < 2 || src[i] != '%' || src[i + 1] != '%') return 1;
    const char *m = src + i + 2;
    size_t n = len - i - 2;
    return (n >= 4 && !memcmp(m, "time", 4) && (n == 4 || m[4] == ' ' || m[4] == '\n' || m[4] == '\r')) ||
           (n >= 7 && !memcmp(m, "capture", 7));
}

/* Analyses one cell with parser p (reused between cells: creating a
 * parser per cell costs more than parsing a small cell). */
static int analyze_with(TSParser *p, const char *src, size_t len, an_cell *out) {
    memset(out, 0, sizeof *out);
    char *py = an_ipython_to_python(src, len, out);
    TSTree *tree = ts_parser_parse_string(p, NULL, py, (uint32_t)strlen(py));
    if (!tree) {
        free(py);
        return -12;
    }
    TSNode root = ts_tree_root_node(tree);
    walker w;
    memset(&w, 0, sizeof w);
    w.src = py;
    w.out = out;
    walk(&w, root);
    top_level(&w, root);
    if (ts_node_has_error(root)) {
        out->syntax_error_line = first_error_line(root, 0);
        strvec_push_owned(&out->open_world, xasprintf("syntax error at line %d", out->syntax_error_line));
    }
    if (w.too_deep) strvec_push(&out->open_world, "nesting deeper than the analyser follows");
    while (w.sc) pop_scope(&w);
    int certain = !out->syntax_error_line && !w.too_deep && binds_in_user_ns(src, len);
    for (size_t i = 0; certain && i < w.uncond.n; i++)
        if (!strvec_contains(&w.walrus, w.uncond.v[i])) strvec_push(&out->certain, w.uncond.v[i]);
    strvec_sort_unique(&out->certain);
    strvec_free(&w.uncond);
    strvec_free(&w.walrus);
    free(w.marks);
    finish(out);
    ts_tree_delete(tree);
    free(py);
    return 0;
}

static TSParser *new_parser(void) {
    TSParser *p = ts_parser_new();
    if (p && !ts_parser_set_language(p, tree_sitter_python())) {
        ts_parser_delete(p);
        p = NULL;
    }
    return p;
}

int an_analyze(const char *src, size_t len, an_cell *out) {
    TSParser *p = new_parser();
    if (!p) {
        memset(out, 0, sizeof *out);
        return -22;
    }
    int rc = analyze_with(p, src, len, out);
    ts_parser_delete(p);
    return rc;
}

/* ---- many cells, on several threads ----------------------------------------------- */

typedef struct batch {
    const char *const *srcs;
    an_cell *outs;
    size_t n;
    atomic_size_t next; /* the next cell to take */
    atomic_int failed;
} batch;

static void *analyze_worker(void *arg) {
    batch *bt = arg;
    TSParser *p = new_parser();
    for (;;) {
        size_t k = atomic_fetch_add(&bt->next, 1);
        if (k >= bt->n) break;
        int rc = p ? analyze_with(p, bt->srcs[k], strlen(bt->srcs[k]), &bt->outs[k]) : -22;
        if (rc < 0) {
            if (!p) memset(&bt->outs[k], 0, sizeof bt->outs[k]);
            strvec_push(&bt->outs[k].open_world, "analysis failed");
            atomic_store(&bt->failed, 1);
        }
    }
    if (p) ts_parser_delete(p);
    return NULL;
}

int an_analyze_many(const char *const *srcs, size_t n, an_cell *outs, int threads) {
    batch bt = {.srcs = srcs, .outs = outs, .n = n};
    atomic_init(&bt.next, 0);
    atomic_init(&bt.failed, 0);
    /* threads pay off only for many cells; each takes cells one at a time */
    if (threads > 1 && n / 32 < (size_t)threads) threads = (int)(n / 32);
    if (threads > AN_MAX_THREADS) threads = AN_MAX_THREADS;
    pthread_t tid[AN_MAX_THREADS];
    int started = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid[started], NULL, analyze_worker, &bt) != 0) break;
        started++;
    }
    analyze_worker(&bt); /* the calling thread works too */
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    return atomic_load(&bt.failed) ? -1 : 0;
}

void an_cell_free(an_cell *c) {
    strvec_free(&c->reads);
    strvec_free(&c->writes);
    strvec_free(&c->certain);
    strvec_free(&c->deletes);
    strvec_free(&c->mutates);
    strvec_free(&c->open_world);
    strvec_free(&c->imports);
    strvec_free(&c->calls);
    strvec_free(&c->modules);
    for (size_t i = 0; i < c->ndefs; i++) {
        free(c->defs[i].name);
        strvec_free(&c->defs[i].reads);
        strvec_free(&c->defs[i].writes);
        strvec_free(&c->defs[i].mutates);
    }
    free(c->defs);
    memset(c, 0, sizeof *c);
}
