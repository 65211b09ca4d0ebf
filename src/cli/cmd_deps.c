/* cmd_deps.c — `floe deps NB`: the predicted reads, writes, deletes,
 * mutations and open-world reasons of every code cell, and the edges
 * between cells, as text, JSON or Graphviz dot. The edges are the ones
 * `floe run` (parallel) waits on: they come from the scheduling core
 * (core_edges), not from a graph of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "cli/cli.h"
#include "core/core.h"
#include "nb/nb.h"
#include "util/util.h"

static const char deps_usage[] =
    "usage: floe deps NB [--format text|json|dot] [--stats]\n"
    "\n"
    "Static prediction of what each code cell (numbered from 0) reads, writes,\n"
    "deletes and mutates, why a cell is open-world (its prediction may be\n"
    "incomplete), and the edges `floe run` waits on: cell `to` starts after\n"
    "`from`, which may write the `names` it reads (*: any name).\n"
    "--stats prints to stderr how long the analysis took (parsing and scope\n"
    "walk of every cell, then the notebook graph; not reading or writing files).\n";

static json_t *names_json(const strvec *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++) json_array_append_new(a, json_string(v->v[i]));
    return a;
}

/* What cell k mutates: in place, and by a method call whose result it
 * does not use (graph.c). */
static strvec mutates(const an_cell *c, const an_graph *g, size_t k) {
    strvec v = {0};
    for (size_t i = 0; i < c->mutates.n; i++) strvec_push(&v, c->mutates.v[i]);
    for (size_t i = 0; i < g->call_muts[k].n; i++) strvec_push(&v, g->call_muts[k].v[i]);
    strvec_sort_unique(&v);
    return v;
}

static json_t *deps_json(const an_cell *cells, const an_graph *g, size_t n, const core_edge *ed, size_t ne) {
    json_t *jc = json_array();
    for (size_t k = 0; k < n; k++) {
        strvec mut = mutates(&cells[k], g, k);
        json_t *o = json_pack("{s:i,s:o,s:o,s:o,s:o,s:o}", "index", (int)k, "reads", names_json(&g->eff_reads[k]),
                              "writes", names_json(&cells[k].writes), "deletes", names_json(&cells[k].deletes),
                              "mutates", names_json(&mut), "open_world", names_json(&cells[k].open_world));
        strvec_free(&mut);
        if (cells[k].syntax_error_line) json_object_set_new(o, "syntax_error_line", json_integer(cells[k].syntax_error_line));
        json_array_append_new(jc, o);
    }
    json_t *je = json_array();
    for (size_t i = 0; i < ne; i++)
        json_array_append_new(je, json_pack("{s:i,s:i,s:o}", "from", (int)ed[i].from, "to", (int)ed[i].to,
                                            "names", names_json(&ed[i].names)));
    return json_pack("{s:o,s:o}", "cells", jc, "edges", je);
}

static void print_set(const char *label, const strvec *v) {
    if (!v->n) return;
    printf("  %-9s", label);
    for (size_t i = 0; i < v->n; i++) printf(" %s", v->v[i]);
    putchar('\n');
}

static void deps_text(const an_cell *cells, const an_graph *g, size_t n, const core_edge *ed, size_t ne) {
    for (size_t k = 0; k < n; k++) {
        printf("cell %zu\n", k);
        print_set("reads", &g->eff_reads[k]);
        print_set("writes", &cells[k].writes);
        print_set("deletes", &cells[k].deletes);
        strvec mut = mutates(&cells[k], g, k);
        print_set("mutates", &mut);
        strvec_free(&mut);
        for (size_t i = 0; i < cells[k].open_world.n; i++) printf("  open-world: %s\n", cells[k].open_world.v[i]);
    }
    for (size_t i = 0; i < ne; i++) {
        printf("%zu -> %zu:", ed[i].from, ed[i].to);
        for (size_t j = 0; j < ed[i].names.n; j++) printf(" %s", ed[i].names.v[j]);
        putchar('\n');
    }
}

static void dot_escape(const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
}

static void deps_dot(const an_cell *cells, size_t n, const core_edge *ed, size_t ne) {
    puts("digraph floe {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];");
    for (size_t k = 0; k < n; k++)
        printf("  c%zu [label=\"cell %zu\"%s];\n", k, k, cells[k].open_world.n ? ", style=dashed" : "");
    for (size_t i = 0; i < ne; i++) {
        printf("  c%zu -> c%zu [label=\"", ed[i].from, ed[i].to);
        for (size_t j = 0; j < ed[i].names.n; j++) {
            if (j) putchar(' ');
            dot_escape(ed[i].names.v[j]);
        }
        puts("\"];");
    }
    puts("}");
}

int cmd_deps(int argc, char **argv) {
    const char *path = NULL, *format = "text";
    int stats = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(deps_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            format = argv[++i];
        } else if (!strncmp(argv[i], "--format=", 9)) {
            format = argv[i] + 9;
        } else if (!strcmp(argv[i], "--stats")) {
            stats = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "floe deps: unexpected argument '%s' (see floe deps --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path || (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "dot"))) {
        fputs(deps_usage, stderr);
        return 2;
    }
    char err[1024];
    nb *n;
    if (nb_load(path, &n, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        return 2;
    }
    size_t nc = nb_ncode(n);
    an_cell *cells = xcalloc(nc ? nc : 1, sizeof *cells);
    const char **srcs = xcalloc(nc ? nc : 1, sizeof *srcs);
    size_t bytes = 0;
    for (size_t k = 0; k < nc; k++) {
        srcs[k] = nb_cell_source(n, nb_code_cell(n, k));
        bytes += strlen(srcs[k]);
    }
    int64_t t0 = time_mono_us();
    an_analyze_many(srcs, nc, cells, (int)sysconf(_SC_NPROCESSORS_ONLN));
    int64_t t1 = time_mono_us();
    free(srcs);
    char *nbdir = path_abs_dir(path); /* the kernels' directory, as `floe run` without --cwd */
    for (size_t k = 0; k < nc; k++) {
        char *local = core_local_import(&cells[k], nbdir);
        if (local)
            strvec_push_owned(&cells[k].open_world,
                              xasprintf("changes process state (imports %s, a module of the notebook's directory)", local));
        free(local);
    }
    free(nbdir);
    an_graph g;
    an_build_graph(cells, nc, &g);
    int64_t t2 = time_mono_us();
    /* the edges the scheduler waits on, from a core over these cells */
    run_opts o;
    memset(&o, 0, sizeof o);
    o.mode = MODE_PARALLEL;
    o.jobs = 1;
    core *co = core_new(&o, NULL, NULL, NULL, NULL);
    core_add_notebook(co, n, cells, &g);
    core_edge *ed;
    size_t ne = core_edges(co, &ed);
    int64_t t3 = time_mono_us();
    if (stats)
        fprintf(stderr, "floe deps: %zu cells, %zu bytes: cells %.2f ms, graph %.2f ms, edges %.2f ms, total %.2f ms (%.0f ns/byte)\n",
                nc, bytes, (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3, (double)(t3 - t2) / 1e3,
                (double)(t3 - t0) / 1e3, bytes ? (double)(t3 - t0) * 1e3 / (double)bytes : 0.0);
    if (!strcmp(format, "json")) {
        json_t *j = deps_json(cells, &g, nc, ed, ne);
        char *s = json_dumps(j, JSON_INDENT(1));
        puts(s);
        free(s);
        json_decref(j);
    } else if (!strcmp(format, "dot")) {
        deps_dot(cells, nc, ed, ne);
    } else {
        deps_text(cells, &g, nc, ed, ne);
    }
    core_edges_free(ed, ne);
    core_free(co);
    an_graph_free(&g);
    for (size_t k = 0; k < nc; k++) an_cell_free(&cells[k]);
    free(cells);
    nb_free(n);
    return 0;
}
