/* fuzz_analysis.c — libFuzzer harness for the static analyser: the input is
 * split into cells at lines starting with "# %%" (at most 64 cells), each
 * cell is analysed and the notebook graph built. Any input must analyse
 * without a crash, leak or sanitizer report, with sorted unique name sets,
 * a syntax error always open-world, and edges only from earlier cells. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"

#define MAX_CELLS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sorted(const strvec *v) {
    for (size_t i = 1; i < v->n; i++)
        if (strcmp(v->v[i - 1], v->v[i]) >= 0) abort();
}

static void check_cell(const an_cell *c) {
    check_sorted(&c->reads);
    check_sorted(&c->writes);
    check_sorted(&c->deletes);
    check_sorted(&c->mutates);
    if (c->syntax_error_line && !c->open_world.n) abort();
    for (size_t i = 0; i < c->ndefs; i++)
        if (!c->defs[i].name) abort();
}

/* Start offsets of the cells: 0 and every line starting with "# %%". */
static size_t split(const char *s, size_t n, size_t *starts) {
    size_t k = 0;
    starts[k++] = 0;
    for (size_t i = 0; i + 4 <= n && k < MAX_CELLS; i++)
        if ((i == 0 || s[i - 1] == '\n') && !memcmp(s + i, "# %%", 4) && i > 0) starts[k++] = i;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    size_t starts[MAX_CELLS + 1];
    size_t n = split(s, size, starts);
    starts[n] = size;
    an_cell cells[MAX_CELLS];
    for (size_t k = 0; k < n; k++) {
        /* an_analyze takes a length, but cells from notebooks are C strings:
         * give it an exact-size copy so ASan sees any overread */
        size_t len = starts[k + 1] - starts[k];
        char *cell = malloc(len + 1);
        if (!cell) return 0;
        memcpy(cell, s + starts[k], len);
        cell[len] = 0;
        if (an_analyze(cell, len, &cells[k]) != 0) abort();
        free(cell);
        check_cell(&cells[k]);
    }
    an_graph g;
    if (an_build_graph(cells, n, &g) != 0) abort();
    for (size_t i = 0; i < g.nedges; i++) {
        if (g.edges[i].from >= g.edges[i].to || g.edges[i].to >= n) abort();
        check_sorted(&g.edges[i].names);
    }
    an_graph_free(&g);
    for (size_t k = 0; k < n; k++) an_cell_free(&cells[k]);
    return 0;
}
