/* cmd_kernels.c — `floe kernels [NB] [-k NAME]`: the Jupyter kernels floe
 * can see, where each comes from, and the interpreter `floe run` would
 * pick (for NB, when given) and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "nb/nb.h"

static const char kernels_usage[] =
    "usage: floe kernels [NB] [-k NAME] [--python PATH]\n"
    "\n"
    "List the Jupyter kernels (kernelspecs) on Jupyter's search path and the\n"
    "interpreter floe run would use, for NB's metadata.kernelspec when given,\n"
    "and why.\n";

const char *cli_nb_kernel_name(nb *n) {
    json_t *ks = json_object_get(json_object_get(nb_root(n), "metadata"), "kernelspec");
    json_t *name = json_object_get(ks, "name");
    return json_is_string(name) ? json_string_value(name) : NULL;
}

static void list_kernels(void) {
    strvec names = {0}, dirs = {0};
    kspec_names(&names);
    kspec_search_path(&dirs);
    printf("kernel search path (first match wins):\n");
    for (size_t i = 0; i < dirs.n; i++) printf("  %s\n", dirs.v[i]);
    printf("kernels:\n");
    for (size_t i = 0; i < names.n; i++) {
        kspec k;
        char err[1024];
        if (kspec_find(names.v[i], &k, err, sizeof err) == 0)
            printf("  %-16s %-28s %s  (%s)%s\n", k.name, k.python, k.display_name, k.dir ? k.dir : "native",
                   k.env.n ? "  +env" : "");
        else
            printf("  %-16s unusable: %s\n", names.v[i], err);
        kspec_free(&k);
    }
    strvec_free(&names);
    strvec_free(&dirs);
}

int cmd_kernels(int argc, char **argv) {
    const char *path = NULL, *kernel = NULL, *python = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(kernels_usage, stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-k") || !strcmp(argv[i], "--kernel")) && i + 1 < argc) {
            kernel = argv[++i];
        } else if (!strcmp(argv[i], "--python") && i + 1 < argc) {
            python = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "floe kernels: unexpected argument %s (see floe kernels --help)\n", argv[i]);
            return 2;
        }
    }
    char err[1024], how[1024];
    nb *n = NULL;
    if (path && nb_load(path, &n, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        return 2;
    }
    list_kernels();
    kspec k;
    char *py;
    int rc = cli_pick_python(python, kernel, n ? cli_nb_kernel_name(n) : NULL, &k, &py, how, sizeof how, err,
                             sizeof err);
    if (rc) fprintf(stderr, "floe: %s\n", err);
    else printf("floe run%s%s would use: %s (%s)\n", path ? " " : "", path ? path : "", py, how);
    for (size_t i = 0; !rc && i < k.env.n; i++) printf("  with %s\n", k.env.v[i]);
    free(py);
    kspec_free(&k);
    nb_free(n);
    return rc;
}
