/* analysis.c — placeholder until the tree-sitter analyser lands (issue 4):
 * predicts nothing and marks every cell open-world, which makes the engine
 * conservative (each cell waits for all earlier cells and resolves names
 * lazily), never wrong. */
#include "analysis/analysis.h"

#include <string.h>

int an_analyze(const char *src, size_t len, an_cell *out) {
    (void)src;
    (void)len;
    memset(out, 0, sizeof *out);
    strvec_push(&out->open_world, "static analysis not available in this build");
    return 0;
}

void an_cell_free(an_cell *c) {
    strvec_free(&c->reads);
    strvec_free(&c->writes);
    strvec_free(&c->deletes);
    strvec_free(&c->mutates);
    strvec_free(&c->open_world);
}

int an_build_graph(const an_cell *cells, size_t n, an_graph *g) {
    (void)cells;
    (void)n;
    memset(g, 0, sizeof *g);
    return -1;
}

void an_graph_free(an_graph *g) { (void)g; }
