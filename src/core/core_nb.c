/* core_nb.c — the notebook front end of the core: every code cell of an nb
 * model as a core cell, with its static prediction, and the edges the core
 * waits on. `floe run`, `floe deps` and `floe status` all build their core
 * here, so the graph they show is the graph the scheduler waits on.
 *
 * The prediction of a cell: reads are the analyser's effective reads (through
 * the functions it calls) plus names it deletes or mutates; writes are the
 * names it binds, deletes or mutates, and what its functions mutate. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "core/core_internal.h"
#include "nb/nb.h"

static void add_all(strvec *dst, const strvec *src) {
    for (size_t i = 0; i < src->n; i++) strvec_push(dst, src->v[i]);
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r') return 0;
    return 1;
}

/* Open-world reasons whose cell finds every name it uses through the lazy
 * hook (a global lookup that misses asks floe): state changes, star
 * imports, exec/eval on the cell's own globals, file removal, listings. Any other
 * reason (globals(), vars(), dir(), get_ipython(), magics and shell lines
 * that expand $x from the namespace, a callee using frames, an analysis
 * that failed) imports every visible name first. */
static int lazy_safe(const strvec *reasons) {
    static const char *const safe[] = {"changes process state (", "changes the working directory", "from ",
                                       "removes files (",         "lists a directory (",          "calls exec()",
                                       "calls eval()",            "calls compile()",              "calls __import__()",
                                       NULL};
    for (size_t i = 0; i < reasons->n; i++) {
        size_t s = 0;
        while (safe[s] && strncmp(reasons->v[i], safe[s], strlen(safe[s])) != 0) s++;
        if (!safe[s]) return 0;
    }
    return 1;
}

/* The first module cell c imports that lives in dir (the kernels' working
 * directory, first on their sys.path, as in Jupyter): dir/m.py or a package
 * dir/m/__init__.py; NULL if none. Importing such a module runs the
 * notebook's own code, which may change process state as a side effect
 * (pdsh's helpers_05_08 sets matplotlib's figure dpi): the importing cell is
 * a barrier, as a cell calling pd.set_option is, so that cells which only
 * use that state start after it with its __floe_state__ (issue 16, P14).
 * A module already loaded by the zygote is the same in every kernel and
 * does not live here. Returns a new string. */
char *core_local_import(const an_cell *c, const char *dir) {
    if (!dir || !*dir) return NULL;
    for (size_t i = 0; i < c->imports.n; i++) {
        const char *m = c->imports.v[i];
        size_t len = strcspn(m, ".");
        if (!len) continue;
        struct stat st;
        char *f = xasprintf("%s/%.*s.py", dir, (int)len, m);
        int found = stat(f, &st) == 0 && S_ISREG(st.st_mode);
        free(f);
        if (!found) {
            f = xasprintf("%s/%.*s/__init__.py", dir, (int)len, m);
            found = stat(f, &st) == 0 && S_ISREG(st.st_mode);
            free(f);
        }
        if (found) return xasprintf("%.*s", (int)len, m);
    }
    return NULL;
}

/* The predicted reads and writes of every cell, from analysed cells and
 * their graph (built here when g is NULL); dir: see core_local_import;
 * open[k]: 0, 1 open-world, 2 open-world and needs every name
 * (core_cell_spec). */
_Static_assert((int)CORE_RNG_DRAWS == (int)AN_RNG_DRAWS && (int)CORE_RNG_SEEDS == (int)AN_RNG_SEEDS, "one meaning of a cell's rng");

static void predict(const an_cell *cells, size_t n, const an_graph *given, const char *dir, strvec *reads,
                    strvec *writes, strvec *certain, int *open, int *rng) {
    an_graph own = {0};
    const an_graph *g = given;
    if (!g) g = an_build_graph(cells, n, &own) == 0 ? &own : NULL;
    for (size_t k = 0; k < n; k++) {
        rng[k] = cells[k].rng;
        add_all(&reads[k], g && g->eff_reads ? &g->eff_reads[k] : &cells[k].reads);
        add_all(&reads[k], &cells[k].deletes);
        add_all(&reads[k], &cells[k].mutates);
        add_all(&writes[k], &cells[k].writes);
        add_all(&certain[k], &cells[k].certain);
        add_all(&writes[k], &cells[k].deletes);
        add_all(&writes[k], &cells[k].mutates);
        for (size_t d = 0; d < cells[k].ndefs; d++) add_all(&writes[k], &cells[k].defs[d].mutates);
        if (g && g->call_muts) { /* `ax.legend(loc=1)`: a mutation of ax (graph.c) */
            add_all(&reads[k], &g->call_muts[k]);
            add_all(&writes[k], &g->call_muts[k]);
        }
        /* open-world itself, or it calls code that uses eval/exec/globals()/frames */
        int calls = g && g->open_calls && g->open_calls[k];
        open[k] = calls || !lazy_safe(&cells[k].open_world) ? 2 : cells[k].open_world.n > 0;
        if (!open[k]) { /* a local module's import: a process-state barrier, names through the hook */
            char *local = core_local_import(&cells[k], dir);
            open[k] = local != NULL;
            free(local);
        }
    }
    if (g == &own) an_graph_free(&own);
}

void core_add_notebook(core *c, nb *n, const an_cell *analysed, const an_graph *g) {
    size_t ncells = nb_ncode(n), one = ncells ? ncells : 1;
    core_cell_spec *specs = xcalloc(one, sizeof *specs);
    strvec *reads = xcalloc(one, sizeof *reads), *writes = xcalloc(one, sizeof *writes);
    strvec *certain = xcalloc(one, sizeof *certain);
    int *open = xcalloc(one, sizeof *open), *rng = xcalloc(one, sizeof *rng);
    int count = 0;
    for (size_t k = 0; k < ncells; k++) {
        core_cell_spec *s = &specs[k];
        s->idx = nb_code_cell(n, k);
        s->src = nb_cell_source(n, s->idx);
        if (!s->src) s->src = "";
        s->code = nb_cell_source_json(n, s->idx);
        s->skip = is_blank(s->src) || nb_cell_has_tag(n, s->idx, "skip-execution");
        s->raises = nb_cell_has_tag(n, s->idx, "raises-exception");
        s->always_run = nb_cell_has_tag(n, s->idx, "floe-always-run");
        s->count = s->skip ? 0 : ++count;
        s->reads = &reads[k];
        s->writes = &writes[k];
        s->certain = &certain[k];
    }
    if (c->o->mode != MODE_MONOLITHIC) {
        an_cell *cells = NULL;
        if (!analysed) {
            cells = xcalloc(one, sizeof *cells);
            const char **srcs = xcalloc(one, sizeof *srcs);
            for (size_t k = 0; k < ncells; k++) srcs[k] = specs[k].src;
            an_analyze_many(srcs, ncells, cells, (int)sysconf(_SC_NPROCESSORS_ONLN));
            free(srcs);
        }
        predict(analysed ? analysed : cells, ncells, analysed ? g : NULL, c->o->cwd, reads, writes, certain, open, rng);
        for (size_t k = 0; k < ncells; k++) {
            specs[k].rng = rng[k];
            specs[k].open_world = open[k] > 0;
            specs[k].needs_all = open[k] > 1;
        }
        for (size_t k = 0; cells && k < ncells; k++) an_cell_free(&cells[k]);
        free(cells);
    }
    core_add_cells(c, specs, ncells); /* increfs what it keeps of each spec */
    for (size_t k = 0; k < ncells; k++) {
        json_decref(specs[k].code);
        strvec_free(&reads[k]);
        strvec_free(&writes[k]);
        strvec_free(&certain[k]);
    }
    free(reads);
    free(writes);
    free(certain);
    free(open);
    free(rng);
    free(specs);
}

void core_append_analysed(core *c, core_cell_spec *spec, const an_cell *cells, size_t n) {
    if (!n) return;
    strvec *reads = xcalloc(n, sizeof *reads), *writes = xcalloc(n, sizeof *writes);
    strvec *certain = xcalloc(n, sizeof *certain);
    int *open = xcalloc(n, sizeof *open), *rng = xcalloc(n, sizeof *rng);
    predict(cells, n, NULL, c->o->cwd, reads, writes, certain, open, rng);
    spec->rng = rng[n - 1];
    spec->reads = &reads[n - 1];
    spec->writes = &writes[n - 1];
    spec->certain = &certain[n - 1];
    spec->open_world = open[n - 1] > 0;
    spec->needs_all = open[n - 1] > 1;
    core_add_cells(c, spec, 1);
    for (size_t k = 0; k < n; k++) {
        strvec_free(&reads[k]);
        strvec_free(&writes[k]);
        strvec_free(&certain[k]);
    }
    free(reads);
    free(writes);
    free(certain);
    free(open);
    free(rng);
    spec->reads = spec->writes = spec->certain = NULL;
}

/* ---- the edges waited on --------------------------------------------------------- */

static void push_edge(core_edge **v, size_t *n, size_t *cap, size_t from, size_t to) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    core_edge *e = &(*v)[(*n)++];
    e->from = from;
    e->to = to;
    memset(&e->names, 0, sizeof e->names);
}

/* The names cell k reads that cell j may write; "*" for an open-world j. */
static void edge_names(const core *c, size_t j, size_t k, strvec *out) {
    const core_cell *from = &c->cells[j], *to = &c->cells[k];
    for (size_t i = 0; i < to->pred_reads.n; i++)
        if (strvec_contains(&from->pred_writes, to->pred_reads.v[i])) strvec_push(out, to->pred_reads.v[i]);
    if (from->rng_use && to->rng_use && !from->open_world) strvec_push(out, RNG_NAME); /* core.c plan_deps */
    if (from->open_world || !out->n) strvec_push(out, "*");
}

size_t core_edges(core *c, core_edge **out) {
    core_edge *v = NULL;
    size_t n = 0, cap = 0;
    int serial = c->o->mode == MODE_SERIAL;
    for (size_t k = 0; k < c->ncells; k++) {
        const core_cell *cl = &c->cells[k];
        if (cl->skip) continue;
        if (serial || cl->open_world || cl->history) { /* waits for every earlier cell */
            for (size_t j = 0; j < k; j++)
                if (!c->cells[j].skip) {
                    push_edge(&v, &n, &cap, j, k);
                    edge_names(c, j, k, &v[n - 1].names);
                    strvec *names = &v[n - 1].names;
                    if (cl->history && !serial && !c->cells[j].open_world && names->n == 1 &&
                        !strcmp(names->v[0], "*")) { /* its result and source: IPython's history */
                        free(names->v[0]);
                        names->v[0] = xstrdup("history");
                    }
                }
            continue;
        }
        size_t first = n;
        for (size_t i = 0; i < cl->deps.n; i++)
            if (!c->cells[cl->deps.v[i]].skip) push_edge(&v, &n, &cap, cl->deps.v[i], k);
        for (size_t i = first + 1; i < n; i++) /* ascending sources */
            for (size_t m = i; m > first && v[m - 1].from > v[m].from; m--) {
                core_edge t = v[m];
                v[m] = v[m - 1];
                v[m - 1] = t;
            }
        for (size_t i = first; i < n; i++) edge_names(c, v[i].from, k, &v[i].names);
    }
    *out = v;
    return n;
}

void core_edges_free(core_edge *v, size_t n) {
    for (size_t i = 0; i < n; i++) strvec_free(&v[i].names);
    free(v);
}
