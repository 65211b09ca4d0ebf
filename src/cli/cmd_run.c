/* cmd_run.c — `floe run`: options, interpreter discovery, parameters,
 * then the engine, then the atomic write of the executed notebook. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "cli/cli.h"
#include "nb/nb.h"
#include "sched/engine.h"
#include "util/util.h"

static const char run_usage[] =
    "usage: floe run NB [options]\n"
    "\n"
    "Execute every code cell of NB (.ipynb, or a percent-format .py script) and\n"
    "write the executed notebook (by default back to NB; NB.ipynb for a .py).\n"
    "\n"
    "  -o, --output PATH      write the executed notebook here (.ipynb, or .py)\n"
    "  -m, --mode MODE        parallel (default): isolated kernels, independent cells at once\n"
    "                         serial: isolated kernels, one cell at a time\n"
    "                         monolithic: one kernel for all cells, as Jupyter\n"
    "  -j, --jobs N           kernels running at once in parallel mode (default: cores)\n"
    "      --schedule POLICY  which ready cell a free kernel takes in parallel mode:\n"
    "                         critical (default): the one with the longest remaining\n"
    "                         path of dependent cells, weighted by their durations in\n"
    "                         the cache's earlier runs (else 1 each); order: the first\n"
    "                         in notebook order\n"
    "      --stagger MS       start cells that read the same large artifact (>= 1 MiB)\n"
    "                         at least MS milliseconds apart (default: 0, off)\n"
    "  -p, --parameter NAME VALUE\n"
    "                         set a parameter, papermill-style: a cell tagged\n"
    "                         injected-parameters is added after the cell tagged\n"
    "                         parameters (VALUE: True/False/None/int/float, else str)\n"
    "      --allow-errors     run every cell even after errors (exit 0)\n"
    "  -t, --timeout S        interrupt a cell after S seconds (then kill it)\n"
    "      --mem-limit SIZE   memory each kernel may allocate (e.g. 4G); beyond it the\n"
    "                         cell gets a MemoryError instead of exhausting the machine\n"
    "      --keep-run DIR     keep the run's artifacts (name@version.arrow/.pkl) in DIR;\n"
    "                         see floe artifact\n"
    "      --trace PATH       write a Chrome trace (JSON) of the run; see floe trace\n"
    "      --python PATH      the Python interpreter for kernels (default: $FLOE_PYTHON,\n"
    "                         then python3 on PATH); it needs IPython\n"
    "      --preload MODS     modules the kernel zygote imports once, comma-separated\n"
    "                         (default: IPython,numpy,pandas and every package the\n"
    "                         notebook imports, when installed)\n"
    "      --lazy             resolve every name lazily (slower; for debugging predictions)\n"
    "      --warm             keep the zygote (the process that imported the preload set)\n"
    "                         alive after the run, and use one left by an earlier run with\n"
    "                         the same interpreter, directory, environment and preload\n"
    "                         set: a re-run skips the imports (also FLOE_WARM=1). It runs\n"
    "                         no user code, restarts when an imported file changes, and\n"
    "                         exits after --warm-idle seconds unused; see floe warm\n"
    "      --warm-idle S      how long a warm zygote waits unused (default 600)\n"
    "      --no-warm          a private zygote, even if FLOE_WARM is set\n"
    "      --cache-dir DIR    the result cache for incremental re-runs (default: .floe/\n"
    "                         beside the notebook; isolated modes only)\n"
    "      --no-cache         neither use nor fill the cache (also FLOE_NO_CACHE=1)\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             this help\n"
    "\n"
    "exit status: 0 all cells ran, 1 a cell failed (the notebook is still written),\n"
    "2 bad usage or input, 130/143 interrupted (finished cells are written).\n";

#define MAX_PARAMS 256

typedef struct run_args {
    const char *in, *out, *trace, *python, *preload, *cache_dir;
    int no_cache;
    run_opts o;
    const char *pnames[MAX_PARAMS], *pvalues[MAX_PARAMS];
    int nparams;
} run_args;

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "floe run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see floe run --help)\n");
    return 2;
}

static int parse_mode(const char *s, run_mode *m) {
    if (!strcmp(s, "parallel")) *m = MODE_PARALLEL;
    else if (!strcmp(s, "serial")) *m = MODE_SERIAL;
    else if (!strcmp(s, "monolithic")) *m = MODE_MONOLITHIC;
    else return -1;
    return 0;
}

static int parse_schedule(const char *s, sched_policy *p) {
    if (!strcmp(s, "critical")) *p = SCHED_CRITICAL;
    else if (!strcmp(s, "order")) *p = SCHED_ORDER;
    else return -1;
    return 0;
}

static int is_opt(const char *a, const char *s, const char *l) {
    return (s && !strcmp(a, s)) || (l && !strcmp(a, l));
}

/* Parses argv; returns -1 when fine, else an exit status. */
static int parse_args(int argc, char **argv, run_args *a) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    a->o.jobs = ncpu > 0 ? (int)ncpu : 2;
    a->o.mode = MODE_PARALLEL;
    a->o.schedule = SCHED_CRITICAL;
    a->o.stagger_ms = 0;
    const char *w = getenv("FLOE_WARM"), *wi = getenv("FLOE_WARM_IDLE");
    int warm = w && *w && strcmp(w, "0"), idle = wi ? atoi(wi) : 0;
    if (idle <= 0) idle = 600;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        if (is_opt(s, "-h", "--help")) {
            fputs(run_usage, stdout);
            return 0;
        } else if (is_opt(s, "-o", "--output")) {
            if (!has) return usage_error("%s needs a path", s);
            a->out = argv[++i];
        } else if (is_opt(s, "-m", "--mode")) {
            if (!has || parse_mode(argv[i + 1], &a->o.mode) < 0)
                return usage_error("--mode must be parallel, serial or monolithic%s", "");
            i++;
        } else if (is_opt(s, "-j", "--jobs")) {
            char *end;
            long j = has ? strtol(argv[i + 1], &end, 10) : 0;
            if (!has || *end || j < 1 || j > 1024) return usage_error("-j needs a number of kernels (1..1024)%s", "");
            a->o.jobs = (int)j;
            i++;
        } else if (is_opt(s, NULL, "--schedule")) {
            if (!has || parse_schedule(argv[i + 1], &a->o.schedule) < 0)
                return usage_error("--schedule must be critical or order%s", "");
            i++;
        } else if (is_opt(s, NULL, "--stagger")) {
            char *end;
            long ms = has ? strtol(argv[i + 1], &end, 10) : -1;
            if (!has || !*argv[i + 1] || *end || ms < 0 || ms > 60000)
                return usage_error("--stagger needs milliseconds (0..60000)%s", "");
            a->o.stagger_ms = (int)ms;
            i++;
        } else if (is_opt(s, "-p", "--parameter")) {
            if (i + 2 >= argc) return usage_error("%s needs NAME VALUE", s);
            if (a->nparams == MAX_PARAMS) return usage_error("too many parameters%s", "");
            a->pnames[a->nparams] = argv[i + 1];
            a->pvalues[a->nparams++] = argv[i + 2];
            i += 2;
        } else if (is_opt(s, NULL, "--allow-errors")) {
            a->o.allow_errors = 1;
        } else if (is_opt(s, "-t", "--timeout")) {
            char *end;
            double t = has ? strtod(argv[i + 1], &end) : -1;
            if (!has || *end || t < 0) return usage_error("--timeout needs seconds%s", "");
            a->o.timeout_s = t;
            i++;
        } else if (is_opt(s, NULL, "--mem-limit")) {
            long long m = has ? util_parse_size(argv[i + 1]) : -1;
            if (m <= 0) return usage_error("--mem-limit needs a size such as 512M or 4G%s", "");
            a->o.mem_limit = m;
            i++;
        } else if (is_opt(s, NULL, "--keep-run")) {
            if (!has) return usage_error("%s needs a directory", s);
            a->o.keep_run = argv[++i];
        } else if (is_opt(s, NULL, "--trace")) {
            if (!has) return usage_error("%s needs a path", s);
            a->trace = argv[++i];
        } else if (is_opt(s, NULL, "--python")) {
            if (!has) return usage_error("%s needs a path", s);
            a->python = argv[++i];
        } else if (is_opt(s, NULL, "--preload")) {
            if (!has) return usage_error("%s needs module names", s);
            a->preload = argv[++i];
        } else if (is_opt(s, NULL, "--cache-dir")) {
            if (!has) return usage_error("%s needs a directory", s);
            a->cache_dir = argv[++i];
        } else if (is_opt(s, NULL, "--no-cache")) {
            a->no_cache = 1;
        } else if (is_opt(s, NULL, "--warm")) {
            warm = 1;
        } else if (is_opt(s, NULL, "--no-warm")) {
            warm = 0;
        } else if (is_opt(s, NULL, "--warm-idle")) {
            char *end;
            long sec = has ? strtol(argv[i + 1], &end, 10) : -1;
            if (!has || !*argv[i + 1] || *end || sec < 1 || sec > 86400 * 7)
                return usage_error("--warm-idle needs seconds (1..604800)%s", "");
            idle = (int)sec;
            i++;
        } else if (is_opt(s, NULL, "--lazy")) {
            a->o.lazy_always = 1;
        } else if (is_opt(s, "-q", "--quiet")) {
            a->o.quiet = 1;
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->in) {
            a->in = s;
        } else {
            return usage_error("unexpected argument %s", s);
        }
    }
    if (!a->in) return usage_error("missing the notebook to run%s", "");
    a->o.warm_idle_s = warm ? idle : 0;
    return -1;
}

/* --- interpreter and kernel sources --------------------------------------------- */

/* Where floe_kernel lives: $FLOE_HOME/python, or ../python beside the binary. */
static char *find_pythonpath(void) {
    const char *home = getenv("FLOE_HOME");
    if (home && *home) return xasprintf("%s/python", home);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    const char *cands[] = {"%s/../python", "%s/../share/floe/python", "%s/python"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char *d = xasprintf(cands[i], exe);
        char *m = xasprintf("%s/floe_kernel/main.py", d);
        int ok = access(m, R_OK) == 0;
        free(m);
        if (ok) return d;
        free(d);
    }
    return NULL;
}

/* --- parameters --------------------------------------------------------------- */

static int is_int(const char *s) {
    char *end;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *s && !*end && !errno;
}

static int is_float(const char *s, double *d) {
    char *end;
    *d = strtod(s, &end);
    return *s && !*end;
}

/* Python's repr of a float: the shortest text that reads back the same. */
static void float_repr(buf *b, double d) {
    if (isnan(d)) { buf_puts(b, "float('nan')"); return; }
    if (isinf(d)) { buf_puts(b, d > 0 ? "float('inf')" : "float('-inf')"); return; }
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    buf_puts(b, tmp);
    if (!strpbrk(tmp, ".e")) buf_puts(b, ".0");
}

/* Papermill's translation of a command-line value into Python source. */
static void param_value(buf *b, const char *v) {
    double d;
    if (!strcmp(v, "True") || !strcmp(v, "False") || !strcmp(v, "None") || is_int(v)) {
        buf_puts(b, v);
    } else if (is_float(v, &d)) {
        float_repr(b, d);
    } else {
        buf_putc(b, '"');
        for (const char *p = v; *p; p++) {
            if (*p == '"') buf_putc(b, '\\');
            buf_putc(b, *p);
        }
        buf_putc(b, '"');
    }
}

static void inject_parameters(nb *n, const run_args *a) {
    if (!a->nparams) return;
    buf src;
    buf_init(&src);
    buf_puts(&src, "# Parameters\n");
    for (int i = 0; i < a->nparams; i++) {
        buf_printf(&src, "%s = ", a->pnames[i]);
        param_value(&src, a->pvalues[i]);
        buf_putc(&src, '\n');
    }
    for (size_t i = 0; i < nb_ncells(n); i++)
        if (nb_cell_kind(n, i) == NB_CODE && nb_cell_has_tag(n, i, "injected-parameters")) {
            nb_set_source(n, i, src.data);
            buf_free(&src);
            return;
        }
    size_t at = 0;
    for (size_t i = 0; i < nb_ncells(n); i++)
        if (nb_cell_kind(n, i) == NB_CODE && nb_cell_has_tag(n, i, "parameters")) {
            at = i + 1;
            break;
        }
    const char *tags[] = {"injected-parameters", NULL};
    nb_insert_code(n, at, src.data, tags);
    buf_free(&src);
}

/* The directory of a path, absolute (kernels run there, as in Jupyter). */
static char *abs_dir(const char *path) {
    char *r = realpath(path, NULL);
    if (!r) return NULL;
    char *slash = strrchr(r, '/');
    if (slash == r) slash[1] = '\0';
    else if (slash) *slash = '\0';
    return r;
}

static char *absolute(char *p) {
    if (!p || p[0] == '/') return p;
    char *r = realpath(p, NULL);
    free(p);
    return r;
}

static char *default_output(const char *in) {
    if (str_endswith(in, ".py")) return xasprintf("%.*s.ipynb", (int)(strlen(in) - 3), in);
    return xstrdup(in);
}

/* The modules the notebook's code cells import, as the analyser finds them
 * (an_cell.imports: for `from x.y import z`, also x.y.z, tried as a
 * submodule: `from scipy import stats` -- scipy loads stats lazily, so
 * preloading scipy alone leaves every kernel to import scipy.stats itself).
 * The zygote imports them once, so that no cell's kernel pays for them;
 * names that are not modules are skipped there. */
static void notebook_imports(const nb *n, strvec *mods) {
    size_t nc = nb_ncode(n);
    an_cell *cells = xcalloc(nc ? nc : 1, sizeof *cells);
    const char **srcs = xcalloc(nc ? nc : 1, sizeof *srcs);
    for (size_t k = 0; k < nc; k++) {
        srcs[k] = nb_cell_source(n, nb_code_cell(n, k));
        if (!srcs[k]) srcs[k] = "";
    }
    an_analyze_many(srcs, nc, cells, (int)sysconf(_SC_NPROCESSORS_ONLN));
    for (size_t k = 0; k < nc; k++) {
        for (size_t i = 0; i < cells[k].imports.n; i++) strvec_push(mods, cells[k].imports.v[i]);
        an_cell_free(&cells[k]);
    }
    free(srcs);
    free(cells);
}

/* The default preload set: IPython, numpy, pandas, and what the notebook
 * imports (modules that are not installed are skipped by the zygote). */
static char *default_preload(const nb *n) {
    strvec mods = {0};
    strvec_push(&mods, "IPython");
    strvec_push(&mods, "numpy");
    strvec_push(&mods, "pandas");
    strvec auto_mods = {0};
    notebook_imports(n, &auto_mods);
    for (size_t i = 0; i < auto_mods.n; i++)
        if (!strvec_contains(&mods, auto_mods.v[i])) strvec_push_owned(&mods, xasprintf("?%s", auto_mods.v[i]));
    strvec_free(&auto_mods);
    strvec_sort_unique(&mods);
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < mods.n; i++) buf_printf(&b, "%s%s", i ? "," : "", mods.v[i]);
    strvec_free(&mods);
    return buf_steal(&b);
}

int cmd_run(int argc, char **argv) {
    run_args a;
    memset(&a, 0, sizeof a);
    int st = parse_args(argc, argv, &a);
    if (st >= 0) return st;
    char err[1024];
    nb *n;
    if (nb_load(a.in, &n, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        return 2;
    }
    const char *how;
    char *python = absolute(cli_find_python(a.python, &how));
    char *pypath = absolute(find_pythonpath());
    char *cwd = abs_dir(a.in);
    char *cache_dir = NULL;
    char *out = a.out ? xstrdup(a.out) : default_output(a.in);
    char *preload = a.preload ? xstrdup(a.preload) : default_preload(n);
    int rc = 2;
    if (!python) {
        fprintf(stderr, "floe: no Python interpreter (from %s%s%s); pass --python PATH or set FLOE_PYTHON\n", how,
                a.python ? ": " : "", a.python ? a.python : "");
        goto done;
    }
    if (!pypath) {
        fprintf(stderr, "floe: cannot find floe's kernel sources (python/floe_kernel); set FLOE_HOME\n");
        goto done;
    }
    inject_parameters(n, &a);
    nb_clear_outputs(n);
    a.o.python = python;
    a.o.pythonpath = pypath;
    a.o.preload = preload;
    a.o.trace_path = a.trace;
    a.o.nb_name = a.in;
    a.o.cwd = cwd;
    const char *nc = getenv("FLOE_NO_CACHE");
    if (!a.no_cache && !(nc && *nc && strcmp(nc, "0") != 0))
        cache_dir = a.cache_dir ? xstrdup(a.cache_dir) : (cwd ? xasprintf("%s/.floe", cwd) : NULL);
    a.o.cache_dir = cache_dir;
    run_stats stats;
    rc = engine_run(n, &a.o, &stats);
    if (rc == 2) goto done;
    if (nb_save(n, out, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        rc = 2;
        goto done;
    }
    if (!a.o.quiet && stats.wall_s >= 1.0)
        fprintf(stderr, "floe: wrote %s (%d cells run, %d from cache, in %.2fs, %d kernels%s)\n", out, stats.cells_run,
                stats.cells_restored, stats.wall_s, stats.kernels, rc == 1 ? ", a cell failed" : "");
done:
    free(python);
    free(pypath);
    free(out);
    free(preload);
    free(cwd);
    free(cache_dir);
    nb_free(n);
    return rc;
}
