/* python.c — which Python interpreter runs the kernels, shared by the
 * subcommands that need to agree on it (run, status). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "util/util.h"

char *cli_search_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        char *cand = xasprintf("%.*s/%s", (int)n, path, prog);
        if (access(cand, X_OK) == 0) return cand;
        free(cand);
        path += n + (colon ? 1 : 0);
    }
    return NULL;
}

/* The interpreter: --python, then $FLOE_PYTHON, then python3 on PATH. */
char *cli_find_python(const char *opt, const char **how) {
    const char *env = getenv("FLOE_PYTHON");
    const char *p = opt && *opt ? opt : (env && *env ? env : NULL);
    *how = opt && *opt ? "--python" : (p ? "FLOE_PYTHON" : "PATH");
    if (!p) return cli_search_path("python3");
    if (strchr(p, '/')) return access(p, X_OK) == 0 ? xstrdup(p) : NULL;
    return cli_search_path(p);
}


/* The interpreter for a run, and why: --python, then $FLOE_PYTHON, then the
 * kernel (-k, else the notebook's metadata.kernelspec.name, else python3)
 * through Jupyter's kernelspecs. A kernel named with -k is resolved (and
 * its env applied) even under --python/FLOE_PYTHON. */
int cli_pick_python(const char *opt_python, const char *opt_kernel, const char *nb_kernel, kspec *k, char **python,
                    char *how, size_t howlen, char *err, size_t errlen) {
    const char *env = getenv("FLOE_PYTHON");
    int explicit_py = (opt_python && *opt_python) || (env && *env);
    const char *name = opt_kernel ? opt_kernel : (nb_kernel && *nb_kernel ? nb_kernel : "python3");
    memset(k, 0, sizeof *k);
    *python = NULL;
    if (opt_kernel || !explicit_py) {
        int rc = kspec_find(name, k, err, errlen);
        if (rc < 0) return 2;
        const char *why = opt_kernel ? "-k" : (nb_kernel && *nb_kernel ? "the notebook's kernelspec" : "the default kernel");
        snprintf(how, howlen, "%s %s: %s", why, k->name, k->dir ? k->dir : "no kernelspec, python3 on PATH");
        if (!explicit_py) {
            *python = xstrdup(k->python);
            return 0;
        }
    }
    const char *h;
    *python = cli_find_python(opt_python, &h);
    if (!*python) {
        snprintf(err, errlen, "no Python interpreter (from %s: %s)", h, opt_python && *opt_python ? opt_python : env);
        return 2;
    }
    snprintf(how, howlen, "%s", h);
    return 0;
}
