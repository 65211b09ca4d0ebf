/* cmd_kernel.c — `floe kernel`: floe as a Jupyter kernel.
 *
 *   floe kernel -f CONNECTION_FILE     the kernel (started by Jupyter)
 *   floe kernel install [...]          writes the kernelspec that starts it
 *
 * Two back ends: isolated (the default, src/jupyter/jk_iso.c: every cell
 * in its own kernel through the scheduling core, independent queued cells
 * at once) and monolithic (src/jupyter/jk_mono.c: one kernel, one
 * namespace, Jupyter's own model). `install --mode` writes the choice into
 * the kernelspec's argv. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "jupyter/jk_server.h"
#include "util/util.h"

static const char kernel_usage[] =
    "usage: floe kernel -f CONNECTION_FILE [--mode isolated|monolithic] [-j N]\n"
    "                   [--python PATH] [--preload MODS]\n"
    "       floe kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]\n"
    "                           [--mode isolated|monolithic] [-k BASE_KERNEL]\n"
    "                           [--python PATH] [--display-name NAME]\n"
    "\n"
    "floe as a Jupyter kernel (messaging protocol 5.3 over ZeroMQ). Pick\n"
    "\"Python 3 (floe)\" in JupyterLab, Notebook or VS Code once installed.\n"
    "Modes: isolated (default) -- every cell runs in its own process with what\n"
    "it reads imported from earlier cells, independent queued cells at once,\n"
    "as `floe run`; monolithic -- one process runs every cell, as ipykernel.\n"
    "\n"
    "kernel:\n"
    "  -f FILE            the connection file Jupyter wrote\n"
    "      --mode MODE    isolated (default) or monolithic\n"
    "  -j, --jobs N       isolated: cells running at once (default: the cores)\n"
    "      --python PATH  interpreter of the kernels (default: $FLOE_PYTHON, then\n"
    "                     /usr/bin/python3, then python3 on PATH)\n"
    "      --preload MODS modules the zygote imports before cells run (default:\n"
    "                     IPython, and numpy and pandas when installed; monolithic:\n"
    "                     IPython; or $FLOE_PRELOAD)\n"
    "install:\n"
    "      --user         into the user's Jupyter data directory\n"
    "      --sys-prefix   into the base interpreter's sys.prefix/share/jupyter\n"
    "      --prefix DIR   into DIR/share/jupyter (e.g. a temporary JUPYTER_PATH)\n"
    "                     (default: system-wide, /usr/local/share/jupyter)\n"
    "      --name NAME    kernelspec name (default floe)\n"
    "      --mode MODE    the mode its kernels run in (default isolated)\n"
    "  -k BASE_KERNEL     whose interpreter the kernels run (default python3)\n"
    "      --display-name the name shown in the kernel menu (default \"Python 3 (floe)\")\n";

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "floe kernel: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\n%s", kernel_usage);
    return 2;
}

/* The interpreter the kernels of BASE_KERNEL run, chosen as `floe run -k`
 * chooses it (cli_pick_python: --python, $FLOE_PYTHON, else the kernelspec
 * BASE_KERNEL, default python3, on Jupyter's search path). Returns a new
 * absolute path, or NULL after printing why. */
static char *kernel_python(const char *base_kernel, const char *opt) {
    kspec ks;
    char *p = NULL, how[256], err[512];
    int rc = cli_pick_python(opt, base_kernel ? base_kernel : "python3", NULL, &ks, &p, how, sizeof how, err,
                             sizeof err);
    kspec_free(&ks);
    if (rc) {
        fprintf(stderr, "floe kernel: %s\n", err);
        free(p);
        return NULL;
    }
    if (p && p[0] != '/') {
        char *r = realpath(p, NULL);
        free(p);
        p = r;
    }
    return p;
}

/* ---- floe kernel -f ---------------------------------------------------------- */

/* "isolated" / "monolithic" -> the back end, or NULL. */
static const jk_backend_ops *backend_named(const char *mode) {
    if (!mode || !strcmp(mode, "isolated")) return &jk_iso_backend;
    if (!strcmp(mode, "monolithic")) return &jk_mono_backend;
    return NULL;
}

/* The isolated kernels' zygote imports numpy and pandas too when they are
 * installed: a cell that moves a DataFrame then pays no import. */
#define ISO_PRELOAD "IPython,?numpy,?pandas"

static int run_kernel(const char *conn_path, const char *python_opt, const char *preload, const jk_backend_ops *be,
                      int jobs) {
    char err[512];
    jk_conn conn;
    if (jk_conn_load(conn_path, &conn, err, sizeof err) < 0) {
        fprintf(stderr, "floe kernel: %s\n", err);
        return 2;
    }
    char *python = kernel_python(NULL, python_opt);
    char *pypath = cli_find_pythonpath();
    int rc = 2;
    if (!python) {
        fprintf(stderr, "floe kernel: no Python interpreter; pass --python PATH or set FLOE_PYTHON\n");
        goto done;
    }
    if (!pypath) {
        fprintf(stderr, "floe kernel: cannot find floe's kernel sources (python/floe_kernel); set FLOE_HOME\n");
        goto done;
    }
    const char *env_preload = getenv("FLOE_PRELOAD");
    char cwd[PATH_MAX];
    jk_server_opts o = {
        .conn = &conn,
        .backend = be,
        .bopts = {.python = python,
                  .pythonpath = pypath,
                  .preload = preload                       ? preload
                             : env_preload && *env_preload ? env_preload
                             : be == &jk_iso_backend       ? ISO_PRELOAD
                                                           : "IPython",
                  .cwd = getcwd(cwd, sizeof cwd),
                  .jobs = jobs},
        .version = FLOE_VERSION,
        .verbose = getenv("FLOE_KERNEL_DEBUG") != NULL,
    };
    rc = jk_serve(&o);
done:
    free(python);
    free(pypath);
    return rc;
}

/* ---- floe kernel install ------------------------------------------------------ */

/* sys.prefix of the interpreter, by asking it. New string or NULL. */
static char *python_prefix(const char *python) {
    char *cmd = xasprintf("'%s' -c 'import sys; print(sys.prefix)' 2>/dev/null", python);
    FILE *f = strchr(python, '\'') ? NULL : popen(cmd, "r");
    free(cmd);
    if (!f) return NULL;
    char line[PATH_MAX];
    char *r = fgets(line, sizeof line, f) ? xstrdup(line) : NULL;
    pclose(f);
    if (r) r[strcspn(r, "\n")] = '\0';
    return r;
}

static char *kernels_dir(int where, const char *prefix, const char *python) {
    if (where == 'u') {
        const char *d = getenv("JUPYTER_DATA_DIR"), *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
        if (d && *d) return xasprintf("%s/kernels", d);
        if (x && *x) return xasprintf("%s/jupyter/kernels", x);
        return h ? xasprintf("%s/.local/share/jupyter/kernels", h) : NULL;
    }
    if (where == 'p') return xasprintf("%s/share/jupyter/kernels", prefix);
    if (where == 's') {
        char *pre = python_prefix(python);
        char *d = pre ? xasprintf("%s/share/jupyter/kernels", pre) : NULL;
        free(pre);
        return d;
    }
    return xstrdup("/usr/local/share/jupyter/kernels");
}

static int valid_name(const char *n) {
    if (!*n) return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
            return 0;
    return 1;
}

static json_t *kernelspec(const char *floe, const char *python, const char *base, const char *display,
                          const char *mode) {
    json_t *ks = json_pack("{s:[s,s,s,s],s:s,s:s,s:s,s:{s:s},s:{s:{s:s,s:s,s:s}}}", "argv", floe, "kernel", "-f",
                           "{connection_file}", "display_name", display, "language", "python", "interrupt_mode",
                           "signal", "env", "FLOE_PYTHON", python, "metadata", "floe", "base_kernel", base, "python",
                           python, "backend", mode ? mode : "isolated");
    if (ks && mode) { /* the default mode is not written: a newer floe's default applies */
        json_t *argv = json_object_get(ks, "argv");
        json_array_append_new(argv, json_string("--mode"));
        json_array_append_new(argv, json_string(mode));
    }
    return ks;
}

static int install(int argc, char **argv) {
    int where = 0;
    const char *prefix = NULL, *name = "floe", *base = "python3", *python_opt = NULL;
    const char *display = "Python 3 (floe)", *mode = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(s, "--user")) where = 'u';
        else if (!strcmp(s, "--sys-prefix")) where = 's';
        else if (!strcmp(s, "--prefix") && has) where = 'p', prefix = argv[++i];
        else if (!strcmp(s, "--name") && has) name = argv[++i];
        else if ((!strcmp(s, "-k") || !strcmp(s, "--kernel")) && has) base = argv[++i];
        else if (!strcmp(s, "--python") && has) python_opt = argv[++i];
        else if (!strcmp(s, "--display-name") && has) display = argv[++i];
        else if (!strcmp(s, "--mode") && has) mode = argv[++i];
        else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(kernel_usage, stdout);
            return 0;
        } else return usage_error("unknown or incomplete option '%s'", s);
    }
    if (!valid_name(name)) return usage_error("invalid kernel name '%s' (letters, digits, . _ -)", name);
    if (!backend_named(mode)) return usage_error("unknown mode '%s' (isolated or monolithic)", mode);
    if (mode && !strcmp(mode, "isolated")) mode = NULL;
    char floe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", floe, sizeof floe - 1);
    if (n <= 0) {
        fprintf(stderr, "floe kernel install: cannot find floe's own path\n");
        return 2;
    }
    floe[n] = '\0';
    char *python = kernel_python(base, python_opt);
    char *dir = python ? kernels_dir(where, prefix, python) : NULL;
    char *kdir = dir ? xasprintf("%s/%s", dir, name) : NULL;
    char *path = kdir ? xasprintf("%s/kernel.json", kdir) : NULL;
    json_t *spec = python ? kernelspec(floe, python, base, display, mode) : NULL;
    char *text = spec ? json_dumps(spec, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    int rc = 2, e;
    if (!python) fprintf(stderr, "floe kernel install: no Python interpreter for %s; pass --python PATH\n", base);
    else if (!kdir) fprintf(stderr, "floe kernel install: cannot tell where to install\n");
    else if ((e = make_dirs(kdir)) < 0) fprintf(stderr, "floe kernel install: cannot create %s: %s\n", kdir, strerror(-e));
    else if (!text || (e = write_file_atomic(path, text, strlen(text), WRITE_DURABLE)) < 0)
        fprintf(stderr, "floe kernel install: cannot write %s: %s\n", path, strerror(text ? -e : ENOMEM));
    else {
        chmod(path, 0644);
        printf("Installed kernelspec %s in %s (kernels run %s)\n", name, kdir, python);
        rc = 0;
    }
    free(text);
    json_decref(spec);
    free(path);
    free(kdir);
    free(dir);
    free(python);
    return rc;
}

int cmd_kernel(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "install")) return install(argc - 1, argv + 1);
    const char *conn = NULL, *python = NULL, *preload = NULL, *mode = NULL;
    int jobs = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        if ((!strcmp(s, "-f") || !strcmp(s, "--connection-file")) && has) conn = argv[++i];
        else if (!strncmp(s, "--f=", 4)) conn = s + 4;
        else if (!strcmp(s, "--python") && has) python = argv[++i];
        else if (!strcmp(s, "--preload") && has) preload = argv[++i];
        else if (!strcmp(s, "--mode") && has) mode = argv[++i];
        else if ((!strcmp(s, "-j") || !strcmp(s, "--jobs")) && has) jobs = atoi(argv[++i]);
        else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(kernel_usage, stdout);
            return 0;
        } else return usage_error("unknown or incomplete option '%s'", s);
    }
    if (!conn) return usage_error("missing -f CONNECTION_FILE%s", "");
    const jk_backend_ops *be = backend_named(mode);
    if (!be) return usage_error("unknown mode '%s' (isolated or monolithic)", mode);
    return run_kernel(conn, python, preload, be, jobs);
}
