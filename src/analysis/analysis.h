/* analysis.h — static provenance prediction for notebook cells.
 *
 * Each code cell is parsed with tree-sitter-python (after IPython syntax —
 * %magic, %%cell, !cmd, x? — is recognised and neutralised) and walked with
 * Python's scoping rules, giving what the cell reads and writes at the top
 * level. The notebook-level pass links every read to the most recent
 * preceding writer(s) in notebook order, following calls into functions
 * defined in earlier cells (a cell that reads `f` also reads what `f`'s body
 * reads from globals, transitively).
 *
 * Ownership: an_cell and an_graph own all their strings; free with
 * an_cell_free / an_graph_free. Name sets are sorted and unique. */
#ifndef FLOE_ANALYSIS_H
#define FLOE_ANALYSIS_H

#include <stddef.h>
#include "util/util.h"

/* A function or class defined at the top level of a cell, with the free
 * global names its body reads, rebinds (via `global`) and mutates. */
typedef struct an_def {
    char *name;
    strvec reads, writes, mutates;
} an_def;

typedef struct an_cell {
    strvec reads;        /* names read before (or without) being bound here */
    strvec writes;       /* names (re)bound at top level */
    strvec certain;      /* of writes, those every run reaching the cell's end binds: outside
                          * any branch, loop body, try, with body or walrus, and not deleted
                          * after */
    strvec deletes;      /* names deleted at top level (`del x`) */
    strvec mutates;      /* names possibly mutated in place */
    strvec imports;      /* modules it imports, at any depth: `import a.b` gives a.b;
                          * `from x.y import z` gives x.y and x.y.z (z may be a
                          * submodule); relative imports are left out */
    strvec calls;        /* names whose method a top-level statement calls, the result
                          * unused (`ax.legend(loc=1)` before the cell's last statement):
                          * a mutation unless the name is a module (an_build_graph) */
    strvec modules;      /* names bound by top-level import statements */
    strvec open_world;   /* reasons the prediction may be incomplete */
    an_def *defs;        /* top-level def/class in this cell */
    size_t ndefs;
    int syntax_error_line;  /* 1-based line of the first syntax error, or 0 */
    int rng;             /* AN_RNG_*: it draws from or seeds the global random state
                          * (`np.random.normal(...)`, `random.seed(1)`), at top level */
} an_cell;

/* Analyses one cell's source. Returns 0 (a syntax error is not a failure:
 * it sets syntax_error_line and an open_world reason) or -ENOMEM/-EINVAL. */
enum { AN_RNG_DRAWS = 1, AN_RNG_SEEDS = 2 };
int an_analyze(const char *src, size_t len, an_cell *out);
void an_cell_free(an_cell *c);

/* Analyses n cells into outs[0..n), on up to `threads` threads (the
 * caller's included; small notebooks use one). A cell whose analysis
 * failed gets the open-world reason "analysis failed"; returns -1 if any
 * did, else 0. */
#define AN_MAX_THREADS 8
int an_analyze_many(const char *const *srcs, size_t n, an_cell *outs, int threads);

/* A pseudo-read of a def whose code reads namespaces by name (eval, exec,
 * globals(), vars(), frames): a cell calling it is open-world too. Not a
 * Python identifier, so it names no variable. */
#define AN_OPEN_READ "<dynamic>"

/* Cell i reads `names` from cell `from` (from < to). */
typedef struct an_edge { size_t from, to; strvec names; } an_edge;

typedef struct an_graph {
    an_edge *edges;
    size_t nedges;
    /* per cell, the effective reads after following function calls, and
     * the effective writes (writes, deletes, mutations, and what the
     * functions it uses write or mutate) */
    strvec *eff_reads;
    strvec *eff_writes;
    /* per cell, 1 when it calls (transitively) a function or class whose
     * code uses eval/exec/globals()/frames: open-world like the cell itself */
    int *open_calls;
    /* per cell, the names it mutates by a method call whose result is
     * unused (an_cell.calls, modules left out) */
    strvec *call_muts;
    size_t ncells;
} an_graph;

/* Builds the graph over n analysed cells (code cells in notebook order). */
int an_build_graph(const an_cell *cells, size_t n, an_graph *g);
void an_graph_free(an_graph *g);

#endif
