/* test_analysis.c — the static analyser against the table of cases in
 * tests/analysis/cases.txt (format described at the top of that file), plus
 * the nesting-depth guard and the notebook graph on a few cells.
 * A failing case prints its name, its source and, per set, what was
 * missing (-name) and what was unexpected (+name). */
#include <stdlib.h>

#include "analysis/analysis_internal.h"
#include "unit.h"
#include "util/util.h"

#define CASES_PATH "tests/analysis/cases.txt"

enum { F_READS, F_WRITES, F_DELETES, F_MUTATES, F_CERTAIN, F_N };
static const char *const field_names[F_N] = {"reads", "writes", "deletes", "mutates", "certain"};

typedef struct an_case {
    char *name;
    int line;           /* line of the "===" header in cases.txt */
    buf src;
    strvec want[F_N];
    int open_world;
    int rng;            /* "--- rng: draws seeds" (AN_RNG_*) */
    int has_certain;    /* "--- certain:" given: compared (else not) */
} an_case;

/* Splits "a b  c" into v. */
static void split_names(const char *s, strvec *v) {
    while (*s) {
        while (*s == ' ' || *s == '\t') s++;
        size_t n = strcspn(s, " \t");
        if (n) strvec_push_owned(v, xstrndup(s, n));
        s += n;
    }
    strvec_sort_unique(v);
}

/* Applies one "--- field: names" line; returns 0 or -1 if malformed. */
static int parse_field(an_case *c, const char *line) {
    const char *p = line + 3;
    while (*p == ' ') p++;
    const char *colon = strchr(p, ':');
    if (!colon) return -1;
    size_t n = (size_t)(colon - p);
    if (n == 3 && !memcmp(p, "rng", 3)) {
        strvec v = {0};
        split_names(colon + 1, &v);
        for (size_t i = 0; i < v.n; i++) {
            if (!strcmp(v.v[i], "draws")) c->rng |= AN_RNG_DRAWS;
            else if (!strcmp(v.v[i], "seeds")) c->rng |= AN_RNG_SEEDS;
            else c->rng = -1;
        }
        strvec_free(&v);
        return c->rng < 0 ? -1 : 0;
    }
    if (n == 10 && !memcmp(p, "open_world", 10)) {
        const char *v = colon + 1;
        while (*v == ' ') v++;
        if (!strcmp(v, "yes")) c->open_world = 1;
        else if (!strcmp(v, "no")) c->open_world = 0;
        else return -1;
        return 0;
    }
    for (int f = 0; f < F_N; f++)
        if (strlen(field_names[f]) == n && !memcmp(p, field_names[f], n)) {
            split_names(colon + 1, &c->want[f]);
            if (f == F_CERTAIN) c->has_certain = 1;
            return 0;
        }
    return -1;
}

static void case_free(an_case *c) {
    free(c->name);
    buf_free(&c->src);
    for (int f = 0; f < F_N; f++) strvec_free(&c->want[f]);
}

/* Parses cases.txt; returns the number of cases or -1 (message printed). */
static long parse_cases(const char *text, an_case **out) {
    an_case *cs = NULL;
    size_t n = 0;
    int state = 0; /* 0: between cases, 1: in source, 2: in fields */
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = xstrndup(p, len);
        lineno++;
        if (!strncmp(line, "===", 3)) {
            cs = xrealloc(cs, (n + 1) * sizeof *cs);
            an_case *c = &cs[n++];
            memset(c, 0, sizeof *c);
            const char *name = line + 3;
            while (*name == ' ') name++;
            c->name = xstrdup(name);
            c->line = lineno;
            buf_init(&c->src);
            state = 1;
        } else if (!strncmp(line, "---", 3) && state) {
            if (parse_field(&cs[n - 1], line) < 0) {
                fprintf(stderr, "  %s:%d: bad field line: %s\n", CASES_PATH, lineno, line);
                free(line);
                *out = cs;
                return -(long)n - 1;
            }
            state = 2;
        } else if (state == 1) {
            buf_append(&cs[n - 1].src, line, len);
            buf_putc(&cs[n - 1].src, '\n');
        } else if (len && line[0] != '#') {
            fprintf(stderr, "  %s:%d: text outside a case: %s\n", CASES_PATH, lineno, line);
        }
        free(line);
        p = nl ? nl + 1 : p + len;
    }
    *out = cs;
    return (long)n;
}

static int differs(const strvec *want, const strvec *got) {
    for (size_t i = 0; i < want->n; i++)
        if (!strvec_contains(got, want->v[i])) return 1;
    for (size_t i = 0; i < got->n; i++)
        if (!strvec_contains(want, got->v[i])) return 1;
    return 0;
}

/* Prints the difference of want and got as "-missing +extra". */
static void print_diff(const char *label, const strvec *want, const strvec *got) {
    fprintf(stderr, "    %-10s", label);
    for (size_t i = 0; i < want->n; i++)
        if (!strvec_contains(got, want->v[i])) fprintf(stderr, " -%s", want->v[i]);
    for (size_t i = 0; i < got->n; i++)
        if (!strvec_contains(want, got->v[i])) fprintf(stderr, " +%s", got->v[i]);
    fputc('\n', stderr);
}

/* Runs one case; returns 1 if it failed (diagnostics printed). */
static int run_case(an_case *c) {
    an_cell cell;
    const char *src = c->src.data ? c->src.data : "";
    if (an_analyze(src, strlen(src), &cell) != 0) {
        fprintf(stderr, "  case '%s' (cases.txt:%d): an_analyze failed\n", c->name, c->line);
        return 1;
    }
    strvec reads = {0};
    for (size_t i = 0; i < cell.reads.n; i++)
        if (!an_is_builtin(cell.reads.v[i])) strvec_push(&reads, cell.reads.v[i]);
    const strvec *got[F_N] = {&reads, &cell.writes, &cell.deletes, &cell.mutates, &cell.certain};
    int ow = cell.open_world.n > 0, bad = ow != c->open_world || cell.rng != c->rng;
    int nf = c->has_certain ? F_N : F_CERTAIN;
    for (int f = 0; f < nf; f++) bad |= differs(&c->want[f], got[f]);
    if (bad) {
        fprintf(stderr, "  case '%s' (cases.txt:%d) failed:\n%s", c->name, c->line, src);
        for (int f = 0; f < nf; f++)
            if (differs(&c->want[f], got[f])) print_diff(field_names[f], &c->want[f], got[f]);
        if (cell.rng != c->rng) fprintf(stderr, "    rng: expected %d, got %d\n", c->rng, cell.rng);
        if (ow != c->open_world) {
            fprintf(stderr, "    open_world: expected %s, got %s", c->open_world ? "yes" : "no", ow ? "yes" : "no");
            for (size_t i = 0; i < cell.open_world.n; i++) fprintf(stderr, " [%s]", cell.open_world.v[i]);
            fputc('\n', stderr);
        }
    }
    strvec_free(&reads);
    an_cell_free(&cell);
    return bad;
}

TEST(analysis_cases) {
    size_t len;
    char *text = read_file(CASES_PATH, &len);
    REQUIRE(text != NULL);
    an_case *cs = NULL;
    long n = parse_cases(text, &cs);
    free(text);
    size_t count = n < 0 ? (size_t)(-n - 1) : (size_t)n;
    CHECK(n > 0);
    int failed = 0;
    for (size_t i = 0; n > 0 && i < count; i++) failed += run_case(&cs[i]);
    if (failed) fprintf(stderr, "  %d of %zu analysis cases failed\n", failed, count);
    CHECK_INT(failed, 0);
    for (size_t i = 0; i < count; i++) case_free(&cs[i]);
    free(cs);
}

/* Deeply nested input must not exhaust the C stack: it is analysed as
 * open-world instead. */
/* Analyses s (freed): no failure, and the cell is open-world. */
static void check_too_deep(char *s) {
    an_cell c;
    CHECK_INT(an_analyze(s, strlen(s), &c), 0);
    CHECK(c.open_world.n > 0);
    an_cell_free(&c);
    free(s);
}

static void deep(const char *open, const char *mid, const char *close, size_t depth) {
    buf b;
    buf_init(&b);
    buf_puts(&b, "x = ");
    for (size_t i = 0; i < depth; i++) buf_puts(&b, open);
    buf_puts(&b, mid);
    for (size_t i = 0; i < depth; i++) buf_puts(&b, close);
    buf_putc(&b, '\n');
    check_too_deep(buf_steal(&b));
}

TEST(analysis_deep_nesting) {
    deep("(", "y", ")", 100000);
    deep("[", "y", "]", 100000);
    deep("f(", "y", ")", 50000);
    deep("-", "y", "", 100000);
    deep("{1: ", "y", "}", 50000);
    deep("lambda: ", "y", "", 20000);
    deep("a if b else ", "y", "", 20000);
    /* nested targets and patterns */
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < 100000; i++) buf_puts(&b, "[");
    buf_puts(&b, "a");
    for (size_t i = 0; i < 100000; i++) buf_puts(&b, "]");
    buf_puts(&b, " = t\nmatch t:\n    case ");
    for (size_t i = 0; i < 100000; i++) buf_puts(&b, "[");
    buf_puts(&b, "p");
    for (size_t i = 0; i < 100000; i++) buf_puts(&b, "]");
    buf_puts(&b, ":\n        pass\n");
    check_too_deep(buf_steal(&b));
}

static void cell(an_cell *c, const char *src) { CHECK_INT(an_analyze(src, strlen(src), c), 0); }

TEST(analysis_graph_edges) {
    an_cell cs[4];
    cell(&cs[0], "import numpy as np\ndata = [1, 2]\n");
    cell(&cs[1], "def total():\n    return sum(data)\n");
    cell(&cs[2], "data.append(3)\n");
    cell(&cs[3], "print(total(), np)\n");
    an_graph g;
    REQUIRE(an_build_graph(cs, 4, &g) == 0);
    /* cell 3 reads total (1), np (0) and, through total, data (0, mutated by 2) */
    CHECK(strvec_contains(&g.eff_reads[3], "data"));
    CHECK(strvec_contains(&g.eff_reads[3], "np"));
    CHECK(!strvec_contains(&g.eff_reads[3], "print"));
    int from0 = 0, from1 = 0, from2 = 0;
    for (size_t i = 0; i < g.nedges; i++) {
        if (g.edges[i].to != 3) continue;
        from0 |= g.edges[i].from == 0 && strvec_contains(&g.edges[i].names, "np");
        from1 |= g.edges[i].from == 1 && strvec_contains(&g.edges[i].names, "total");
        from2 |= g.edges[i].from == 2 && strvec_contains(&g.edges[i].names, "data");
    }
    CHECK(from0 && from1 && from2);
    an_graph_free(&g);
    for (int i = 0; i < 4; i++) an_cell_free(&cs[i]);
}

/* A method call whose result is unused (`ax.legend(loc=1)` before the
 * cell's last statement) is a mutation of its object, not of a module, and
 * not when it is the last statement (displayed: `df.head()`). */
TEST(analysis_graph_call_mutations) {
    an_cell cs[8];
    cell(&cs[0], "import matplotlib.pyplot as plt\nimport numpy as np\nfig, ax = plt.subplots()\n");
    cell(&cs[1], "ax.legend(loc=1)\nfig\n");
    cell(&cs[2], "plt.plot([1])\nnp.random.seed(0)\nfig\n");
    cell(&cs[3], "ax.set_title('t')  # shown\n# comments after the last statement\n");
    cell(&cs[4], "ax.xaxis.set_visible(False)  # an attribute chain\nfig\n");
    cell(&cs[5], "import os\nos.getcwd()\nfig, ax = plt.subplots()\nax.text(1, 2, 's')\nfig.savefig('f.png')\nax\n");
    cell(&cs[6], "ax.set_title('t');\n");     /* the last statement, but `;` keeps it from display */
    cell(&cs[7], "fig.savefig('f.png')\nfig\n"); /* drawing changes the figure's axes */
    CHECK(strvec_contains(&cs[0].modules, "plt") && strvec_contains(&cs[0].modules, "np"));
    CHECK(strvec_contains(&cs[1].calls, "ax"));
    an_graph g;
    REQUIRE(an_build_graph(cs, 8, &g) == 0);
    CHECK(strvec_contains(&g.call_muts[1], "ax"));
    CHECK(strvec_contains(&g.eff_writes[1], "ax"));
    CHECK_INT((long long)g.call_muts[2].n, 0);      /* plt and np are modules */
    CHECK_INT((long long)g.call_muts[3].n, 0);      /* the last statement (comments aside): displayed */
    CHECK(strvec_contains(&g.call_muts[4], "ax"));
    CHECK_INT((long long)g.call_muts[5].n, 0); /* os imported here, ax bound here */
    CHECK(strvec_contains(&g.call_muts[6], "ax"));
    CHECK(strvec_contains(&g.call_muts[7], "fig"));
    int from1 = 0;
    for (size_t i = 0; i < g.nedges; i++) from1 |= g.edges[i].from == 1 && g.edges[i].to == 4;
    CHECK(from1);
    an_graph_free(&g);
    for (int i = 0; i < 8; i++) an_cell_free(&cs[i]);
}

/* The modules a cell imports (an_cell.imports), which `floe run` preloads. */
TEST(analysis_imports) {
    an_cell c;
    cell(&c, "from __future__ import annotations\nimport a.b as c, d\nfrom x.y import z, w as v\n"
             "from . import q\nfrom .m import r\ndef f():\n    import inner\n");
    const char *want[] = {"a.b", "d", "inner", "x.y", "x.y.w", "x.y.z"};
    CHECK_INT(c.imports.n, 6);
    for (size_t i = 0; i < 6 && i < c.imports.n; i++) CHECK_STR(c.imports.v[i], want[i]);
    an_cell_free(&c);
}
