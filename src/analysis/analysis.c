/* analysis.c — the scope walker: what a cell reads, writes, deletes and
 * mutates at the top level, following Python's scoping rules.
 *
 * The cell (after IPython syntax is neutralised) is parsed with
 * tree-sitter-python and walked once. At the top level a name is *read* if
 * it is loaded before the cell has bound it unconditionally (bindings inside
 * if/for/while/try/match may not happen, so they do not hide a later load).
 * Function bodies are deferred: their free globals (names neither local nor
 * of an enclosing function) are recorded on the top-level def, and become
 * reads of the cell where the def is used. Class bodies and comprehensions
 * run immediately: their free names are reads. Mutation is predicted for
 * attribute and subscript stores, `del x[k]`, augmented assignment through
 * them, calls of known mutating methods and calls with inplace=True;
 * everything else is caught at run time by the kernel's fingerprints. */
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
    strvec uncond;      /* bound unconditionally so far at top level */
    int cond;           /* inside conditional top-level code */
    int depth, too_deep;
    scope *sc;          /* innermost scope, NULL at top level */
    an_def *def;        /* the top-level def/class whose body is walked */
} walker;

static const char *const mutators[] = {
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "difference_update", "intersection_update", "symmetric_difference_update",
    "fill", "resize", "itemset", "put", "setflags", "__setitem__", "__delitem__", "appendleft", "extendleft",
    "rotate", "write", "writelines", "send", "throw", "close", NULL};

static void walk(walker *w, TSNode n);
static void bind_target(walker *w, TSNode n);

/* ---- small helpers --------------------------------------------------------------- */

static const char *type(TSNode n) { return ts_node_type(n); }
static int is(TSNode n, const char *t) { return !ts_node_is_null(n) && strcmp(ts_node_type(n), t) == 0; }

static char *text(walker *w, TSNode n) {
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return xstrndup(w->src + a, b - a);
}

static TSNode field(TSNode n, const char *f) { return ts_node_child_by_field_name(n, f, (uint32_t)strlen(f)); }

static void walk_children(walker *w, TSNode n) {
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) walk(w, ts_node_named_child(n, i));
}

static void add_unique(strvec *v, const char *s) {
    if (!strvec_contains(v, s)) strvec_push(v, s);
}

static an_def *find_def(an_cell *c, const char *name) {
    for (size_t i = c->ndefs; i-- > 0;)
        if (!strcmp(c->defs[i].name, name)) return &c->defs[i];
    return NULL;
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
static void use_def(walker *w, an_def *d, int hops) {
    if (!d || hops > 16) return;
    for (size_t i = 0; i < d->reads.n; i++) {
        const char *r = d->reads.v[i];
        if (!strvec_contains(&w->uncond, r)) add_unique(&w->out->reads, r);
        an_def *inner = strcmp(r, d->name) ? find_def(w->out, r) : NULL;
        if (inner) use_def(w, inner, hops + 1);
    }
    for (size_t i = 0; i < d->writes.n; i++) add_unique(&w->out->writes, d->writes.v[i]);
    for (size_t i = 0; i < d->mutates.n; i++) add_unique(&w->out->mutates, d->mutates.v[i]);
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
    use_def(w, find_def(w->out, name), 0);
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
    if (!w->cond) add_unique(&w->uncond, name);
}

/* The root name of x.a.b / x[i][j] / x.f(), or NULL. */
static char *root_name(walker *w, TSNode n) {
    while (is(n, "attribute") || is(n, "subscript") || is(n, "call")) {
        if (is(n, "attribute")) n = field(n, "object");
        else if (is(n, "subscript")) n = field(n, "value");
        else n = field(n, "function");
    }
    return is(n, "identifier") ? text(w, n) : NULL;
}

/* x is changed in place (x.a = v, x[k] = v, x.append(v)...). */
static void mutate(walker *w, TSNode obj) {
    char *name = root_name(w, obj);
    if (!name) return;
    int global = 1;
    for (scope *s = w->sc; s; s = s->parent)
        if (strvec_contains(&s->locals, name) && !strvec_contains(&s->globals, name)) global = 0;
    if (global) {
        if (deferred(w)) {
            if (w->def) add_unique(&w->def->mutates, name);
        } else {
            add_unique(&w->out->mutates, name);
        }
    }
    free(name);
}

/* ---- prepass: the locals of a function body --------------------------------------- */

static void collect_targets(walker *w, TSNode n, scope *s);

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
            TSNode m = ts_node_named_child(n, i);
            if (!strcmp(t, "import_from_statement") && ts_node_eq(m, field(n, "module_name"))) continue;
            TSNode id = is(m, "aliased_import") ? field(m, "alias") : m;
            if (is(id, "dotted_name")) id = ts_node_named_child(id, 0);
            if (is(id, "identifier")) strvec_push_owned(&s->locals, text(w, id));
        }
        return;
    }
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) collect(w, ts_node_named_child(n, i), s, depth + 1);
}

static void collect_targets(walker *w, TSNode n, scope *s) {
    if (ts_node_is_null(n)) return;
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

static void walk_lambda(walker *w, TSNode n) {
    TSNode params = field(n, "parameters");
    if (!ts_node_is_null(params)) walk_param_exprs(w, params);
    /* a lambda at top level is usually called right away (key=, map...):
     * its free names count as reads of the cell */
    scope *s = push_scope(w, w->sc ? SC_LAMBDA : SC_COMP);
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

static void walk_import(walker *w, TSNode n, int from) {
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
        TSNode id = is(m, "aliased_import") ? field(m, "alias") : m;
        if (is(id, "dotted_name")) id = ts_node_named_child(id, 0);
        if (!is(id, "identifier")) continue;
        char *name = text(w, id);
        bind(w, name);
        free(name);
    }
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
                for (size_t k = 0; k < w->uncond.n; k++)
                    if (!strcmp(w->uncond.v[k], name)) {
                        free(w->uncond.v[k]);
                        w->uncond.v[k] = w->uncond.v[--w->uncond.n];
                        break;
                    }
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

static void walk_call(walker *w, TSNode n) {
    TSNode fn = field(n, "function");
    TSNode args = field(n, "arguments");
    walk(w, fn);
    if (!ts_node_is_null(args)) walk(w, args);
    if (is(fn, "identifier")) {
        char *name = text(w, fn);
        if (!strcmp(name, "exec") || !strcmp(name, "eval") || !strcmp(name, "compile") ||
            !strcmp(name, "globals") || !strcmp(name, "vars") || !strcmp(name, "get_ipython") ||
            !strcmp(name, "__import__") || (!strcmp(name, "locals") && !deferred(w)))
            strvec_push_owned(&w->out->open_world, xasprintf("calls %s()", name));
        free(name);
        return;
    }
    if (!is(fn, "attribute")) return;
    char *meth = text(w, field(fn, "attribute"));
    /* the working directory is state every later cell sees */
    if (!strcmp(meth, "chdir")) add_unique(&w->out->open_world, "changes the working directory");
    int mut = 0;
    for (size_t i = 0; mutators[i]; i++) mut |= !strcmp(meth, mutators[i]);
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
static void walk_pattern(walker *w, TSNode n) {
    if (ts_node_is_null(n)) return;
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
    if (is(n, "class_pattern")) {
        walk(w, ts_node_named_child(n, 0));
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
    if (is(n, "as_pattern")) {
        walk_pattern(w, ts_node_named_child(n, 0));
        bind_target(w, field(n, "alias"));
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
    w->cond++;
    uint32_t c = ts_node_named_child_count(body);
    for (uint32_t i = 0; i < c; i++) {
        TSNode cc = ts_node_named_child(body, i);
        if (!is(cc, "case_clause")) continue;
        uint32_t k = ts_node_named_child_count(cc);
        for (uint32_t j = 0; j < k; j++) {
            TSNode part = ts_node_named_child(cc, j);
            if (is(part, "case_pattern")) walk_pattern(w, part);
            else walk(w, part); /* guard and block */
        }
    }
    w->cond--;
}

/* Targets of with-as and except-as live in as_pattern nodes. */
static void walk_as_pattern(walker *w, TSNode n) {
    walk(w, ts_node_named_child(n, 0));
    TSNode alias = field(n, "alias");
    if (!ts_node_is_null(alias)) bind_target(w, ts_node_named_child(alias, 0));
}

static void walk_keyword_argument(walker *w, TSNode n) { walk(w, field(n, "value")); }

static void walk_conditional(walker *w, TSNode n) {
    w->cond++;
    walk_children(w, n);
    w->cond--;
}

static void walk_for(walker *w, TSNode n) {
    walk(w, field(n, "right"));
    w->cond++;
    bind_target(w, field(n, "left"));
    walk(w, field(n, "body"));
    TSNode alt = field(n, "alternative");
    if (!ts_node_is_null(alt)) walk(w, alt);
    w->cond--;
}

static void walk_identifier(walker *w, TSNode n) {
    char *name = text(w, n);
    if (!strcmp(name, "__builtins__") || !strcmp(name, "__builtin__"))
        add_unique(&w->out->open_world, "uses __builtins__");
    load(w, name);
    free(name);
}

static void bind_target(walker *w, TSNode n) {
    if (ts_node_is_null(n)) return;
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
}

static void walk(walker *w, TSNode n) {
    if (ts_node_is_null(n)) return;
    if (++w->depth > AN_MAX_DEPTH) {
        w->too_deep = 1;
        w->depth--;
        return;
    }
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
        else if (!strcmp(t, "future_import_statement")) break;
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
            bind_target(w, field(n, "name"));
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
    w->depth--;
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
    for (size_t i = 0; i < c->ndefs; i++) {
        strvec_sort_unique(&c->defs[i].reads);
        strvec_sort_unique(&c->defs[i].writes);
        strvec_sort_unique(&c->defs[i].mutates);
    }
}

int an_analyze(const char *src, size_t len, an_cell *out) {
    memset(out, 0, sizeof *out);
    char *py = an_ipython_to_python(src, len, out);
    TSParser *p = ts_parser_new();
    if (!p || !ts_parser_set_language(p, tree_sitter_python())) {
        free(py);
        if (p) ts_parser_delete(p);
        return -22;
    }
    TSTree *tree = ts_parser_parse_string(p, NULL, py, (uint32_t)strlen(py));
    if (!tree) {
        free(py);
        ts_parser_delete(p);
        return -12;
    }
    TSNode root = ts_tree_root_node(tree);
    walker w;
    memset(&w, 0, sizeof w);
    w.src = py;
    w.out = out;
    walk(&w, root);
    if (ts_node_has_error(root)) {
        out->syntax_error_line = first_error_line(root, 0);
        strvec_push_owned(&out->open_world, xasprintf("syntax error at line %d", out->syntax_error_line));
    }
    if (w.too_deep) strvec_push(&out->open_world, "nesting deeper than the analyser follows");
    while (w.sc) pop_scope(&w);
    strvec_free(&w.uncond);
    finish(out);
    ts_tree_delete(tree);
    ts_parser_delete(p);
    free(py);
    return 0;
}

void an_cell_free(an_cell *c) {
    strvec_free(&c->reads);
    strvec_free(&c->writes);
    strvec_free(&c->deletes);
    strvec_free(&c->mutates);
    strvec_free(&c->open_world);
    for (size_t i = 0; i < c->ndefs; i++) {
        free(c->defs[i].name);
        strvec_free(&c->defs[i].reads);
        strvec_free(&c->defs[i].writes);
        strvec_free(&c->defs[i].mutates);
    }
    free(c->defs);
    memset(c, 0, sizeof *c);
}
