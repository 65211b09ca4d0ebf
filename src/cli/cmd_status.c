/* cmd_status.c — `floe status NB`: which cells a re-run would restore from
 * the cache (fresh), which it would run again (stale, with the reason), and
 * which have never run. Walks the cells in notebook order the way the
 * engine's cache lookup does, without starting any kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/analysis.h"
#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "sched/engine.h"
#include "nb/nb.h"
#include "store/cache.h"
#include "store/hash.h"
#include "util/util.h"

static const char status_usage[] =
    "usage: floe status NB [--cache-dir DIR] [--python PATH] [--json]\n"
    "\n"
    "For every code cell: fresh (a re-run restores it from the cache), stale\n"
    "(it would run again, and why), or never run. The interpreter is chosen as\n"
    "by floe run (--python, FLOE_PYTHON, python3 on PATH): results are kept per\n"
    "interpreter.\n";

typedef struct sim {
    json_t *scope;    /* name -> hash of the artifact a later cell would see */
    json_t *tainted;  /* name -> index of the stale cell that may change it */
    int taint_all;    /* 1 + a stale open-world cell: anything may change */
    const char *why;  /* reason of the last failed match (static buffer) */
    char reason[512];
} sim;

static int file_same(json_t *rec) {
    const char *path = json_string_value(json_object_get(rec, "path"));
    struct stat st;
    if (!path || stat(path, &st) < 0) return 0;
    if (st.st_size == json_integer_value(json_object_get(rec, "size")) &&
        st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == json_integer_value(json_object_get(rec, "mtime")))
        return 1;
    hash128 h;
    char hex[33];
    if (hash_file(path, &h) < 0) return 0;
    hash_hex(h, hex);
    return !strcmp(hex, json_string_value(json_object_get(rec, "hash")));
}

static int sim_match(json_t *entry, void *ud) {
    sim *s = ud;
    const char *name;
    json_t *want;
    json_object_foreach(json_object_get(entry, "reads"), name, want) {
        json_t *t = json_object_get(s->tainted, name);
        if (t || s->taint_all) {
            snprintf(s->reason, sizeof s->reason, "input '%s' may change (cell %lld runs again)", name,
                     t ? (long long)json_integer_value(t) : (long long)s->taint_all - 1);
            return 0;
        }
        const char *have = json_string_value(json_object_get(s->scope, name));
        int same = json_is_null(want) ? have == NULL : have && !strcmp(have, json_string_value(want));
        if (!same) {
            snprintf(s->reason, sizeof s->reason, "input '%s' changed", name);
            return 0;
        }
    }
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(entry, "files"), i, rec) {
        if (!file_same(rec)) {
            snprintf(s->reason, sizeof s->reason, "file %s changed", json_string_value(json_object_get(rec, "path")));
            return 0;
        }
    }
    return 1;
}

static void apply_entry(sim *s, json_t *entry) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(entry, "exports"), i, v)
        json_object_set(s->scope, json_string_value(json_object_get(v, "name")), json_object_get(v, "hash"));
    json_array_foreach(json_object_get(entry, "deletes"), i, v) json_object_del(s->scope, json_string_value(v));
}

/* A cell that will run again may change what it (probably) writes. */
static void taint(sim *s, const char *src, size_t k) {
    an_cell a;
    memset(&a, 0, sizeof a);
    if ((an_analyze(src, strlen(src), &a) < 0 || a.open_world.n) && !s->taint_all) s->taint_all = (int)k + 1;
    strvec *sets[] = {&a.writes, &a.deletes, &a.mutates};
    for (size_t j = 0; j < 3; j++)
        for (size_t i = 0; i < sets[j]->n; i++) json_object_set_new(s->tainted, sets[j]->v[i], json_integer((json_int_t)k));
    an_cell_free(&a);
}

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
    sim s = {json_object(), json_object(), 0, NULL, ""};
    json_t *out = json_array();
    int fresh = 0, total = 0;
    for (size_t k = 0; k < nb_ncode(n); k++) {
        const char *src = nb_cell_source(n, nb_code_cell(n, k));
        const char *state;
        const char *p = src;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) continue;
        total++;
        char skey[33];
        cache_skey(src, env, skey);
        json_t *entry = NULL;
        s.reason[0] = '\0';
        if (c) cache_lookup(c, skey, sim_match, &s, &entry);
        if (entry) {
            state = "fresh";
            fresh++;
            apply_entry(&s, entry);
            json_decref(entry);
        } else {
            state = s.reason[0] ? "stale" : "never run";
            if (!s.reason[0]) snprintf(s.reason, sizeof s.reason, "new or edited source, or never run");
            taint(&s, src, k);
        }
        json_array_append_new(out, json_pack("{s:i,s:s,s:s}", "index", (int)k, "state", state, "reason",
                                             strcmp(state, "fresh") ? s.reason : ""));
        if (!as_json) {
            if (!strcmp(state, "fresh")) printf("cell %-4zu fresh\n", k);
            else printf("cell %-4zu %s: %s\n", k, state, s.reason);
        }
    }
    if (as_json) {
        char *j = json_dumps(json_pack("{s:o,s:i,s:i}", "cells", out, "fresh", fresh, "total", total), JSON_INDENT(1));
        puts(j);
        free(j);
    } else {
        printf("%d of %d cells fresh\n", fresh, total);
        json_decref(out);
    }
    json_decref(s.scope);
    json_decref(s.tainted);
    free(env);
    free(cdir);
    cache_close(c);
    nb_free(n);
    return 0;
}
