/* cmd_status.c — `floe status NB`: which cells a re-run would restore from
 * the cache (fresh), which it would run again (stale, with the reason), and
 * which have never run. It asks the scheduling core for the plan `floe run`
 * follows before it starts any kernel (core_cache_plan): one decision, shown
 * here and carried out there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "core/core.h"
#include "sched/engine.h"
#include "nb/nb.h"
#include "store/cache.h"
#include "util/util.h"

static const char status_usage[] =
    "usage: floe status NB [--cache-dir DIR] [--python PATH] [--json]\n"
    "\n"
    "For every code cell: fresh (a re-run restores it from the cache), stale\n"
    "(it would run again, and why), never run, or always run (tagged\n"
    "floe-always-run). The interpreter is chosen as\n"
    "by floe run (--python, FLOE_PYTHON, python3 on PATH): results are kept per\n"
    "interpreter.\n";

/* The interpreter's identity, as floe run keys its cache entries. */
static char *python_env(const char *opt, nb *n) {
    kspec k;
    char *py, how[1024], err[1024];
    int rc = cli_pick_python(opt, NULL, cli_nb_kernel_name(n), &k, &py, how, sizeof how, err, sizeof err);
    kspec_free(&k);
    if (rc || !py) return xstrdup("");
    char *id = engine_interpreter_id(py);
    free(py);
    return id;
}

int cmd_status(int argc, char **argv) {
    const char *path = NULL, *dir = NULL, *python = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(status_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
        else if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "floe status: unexpected argument '%s' (see floe status --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fputs(status_usage, stderr);
        return 2;
    }
    char err[1024];
    nb *n;
    if (nb_load(path, &n, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        return 2;
    }
    char *cdir = NULL;
    if (dir) cdir = xstrdup(dir);
    else {
        char *r = realpath(path, NULL);
        char *slash = r ? strrchr(r, '/') : NULL;
        if (slash) *slash = '\0';
        cdir = xasprintf("%s/.floe", r ? r : ".");
        free(r);
    }
    cache *c = NULL;
    struct stat st;
    if (stat(cdir, &st) == 0 && cache_open_ro(cdir, &c, err, sizeof err) < 0) {
        fprintf(stderr, "floe status: %s\n", err);
        free(cdir);
        nb_free(n);
        return 2;
    }
    char *env = python_env(python, n);
    run_opts o;
    memset(&o, 0, sizeof o);
    o.mode = MODE_PARALLEL;
    o.jobs = 1;
    o.quiet = 1;
    char *nbdir = path_abs_dir(path);
    o.cwd = nbdir; /* as `floe run` without --cwd: a local import is a barrier */
    core *co = core_new(&o, NULL, c, env, NULL);
    core_add_notebook(co, n, NULL, NULL);
    size_t nc = core_ncells(co);
    core_plan_cell *plan = xcalloc(nc ? nc : 1, sizeof *plan);
    core_cache_plan(co, plan);
    static const char *const names[] = {"fresh", "stale", "never run", "always run", "skip"};
    json_t *out = json_array();
    int fresh = 0, total = 0;
    for (size_t k = 0; k < nc; k++) {
        if (plan[k].state == PLAN_SKIP) continue;
        const char *state = names[plan[k].state];
        total++;
        fresh += plan[k].state == PLAN_FRESH;
        json_array_append_new(out, json_pack("{s:i,s:s,s:s}", "index", (int)k, "state", state, "reason",
                                             plan[k].reason));
        if (as_json) continue;
        if (plan[k].state == PLAN_FRESH) printf("cell %-4zu fresh\n", k);
        else printf("cell %-4zu %s: %s\n", k, state, plan[k].reason);
    }
    free(plan);
    core_free(co);
    free(nbdir);
    if (as_json) {
        char *j = json_dumps(json_pack("{s:o,s:i,s:i}", "cells", out, "fresh", fresh, "total", total), JSON_INDENT(1));
        puts(j);
        free(j);
    } else {
        printf("%d of %d cells fresh\n", fresh, total);
        json_decref(out);
    }
    free(env);
    free(cdir);
    cache_close(c);
    nb_free(n);
    return 0;
}
