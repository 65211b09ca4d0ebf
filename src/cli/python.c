/* python.c — which Python interpreter runs the kernels, shared by the
 * subcommands that need to agree on it (run, status). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

static char *search_path(const char *prog) {
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
    if (!p) return search_path("python3");
    if (strchr(p, '/')) return access(p, X_OK) == 0 ? xstrdup(p) : NULL;
    return search_path(p);
}

