/* cmd_run.c — `floe run`: options, interpreter discovery, parameters,
 * then the engine, then the atomic write of the executed notebook. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "cli/cli.h"
#include "cli/kernelspec.h"
#include "cli/papermill.h"
#include "nb/nb.h"
#include "sched/engine.h"
#include "util/util.h"

static const char run_usage[] =
    "usage: floe run IN [OUT] [options]\n"
    "\n"
    "Execute every code cell of IN (.ipynb, or a percent-format .py script; - for\n"
    "stdin) and write the executed notebook to OUT (- for stdout; by default back\n"
    "to IN, or IN.ipynb for a .py). The interpreter is the one of the notebook's\n"
    "Jupyter kernel (metadata.kernelspec.name, else python3), as Jupyter picks it;\n"
    "see floe kernels. An OUT given as papermill takes it (floe run IN OUT) also\n"
    "gets papermill's metadata and error cells.\n"
    "\n"
    "  -o, --output PATH      write the executed notebook here (.ipynb, or .py)\n"
    "  -k, --kernel NAME      run with this Jupyter kernel, not the notebook's\n"
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
    "\n"
    "parameters, as papermill (a cell tagged injected-parameters goes after the cell\n"
    "tagged parameters; merged in this order, later wins: -b, -f, -y, -p, -r):\n"
    "  -p, --parameters NAME VALUE   VALUE read as True/False/None/int/float, else str\n"
    "  -r, --parameters_raw NAME VALUE  VALUE as a string\n"
    "  -y, --parameters_yaml YAML    a YAML mapping (read with the kernel's PyYAML)\n"
    "  -f, --parameters_file FILE    a YAML file\n"
    "  -b, --parameters_base64 B64   base64 of a YAML mapping\n"
    "      --inject-input-path, --inject-output-path, --inject-paths\n"
    "                         PAPERMILL_INPUT_PATH / PAPERMILL_OUTPUT_PATH parameters\n"
    "      --prepare-only     write OUT with the parameters, without running it\n"
    "      --report-mode      hide the input of code cells in OUT\n"
    "      --papermill, --no-papermill\n"
    "                         write (or not) papermill's metadata.papermill and error\n"
    "                         cells (default: when OUT is given as papermill does)\n"
    "      --log-output       print each cell's outputs on stderr as it finishes\n"
    "      --stdout-file F, --stderr-file F\n"
    "                         write the cells' stdout / stderr streams to F\n"
    "      --cwd DIR          the kernels' working directory (default: IN's directory)\n"
    "\n"
    "      --allow-errors     run every cell even after errors (exit 0)\n"
    "  -t, --timeout S        interrupt a cell after S seconds (then kill it);\n"
    "                         also --execution-timeout S\n"
    "      --mem-limit SIZE   memory each kernel may allocate (e.g. 4G); beyond it the\n"
    "                         cell gets a MemoryError instead of exhausting the machine\n"
    "      --mem-budget SIZE  memory the kernels kept idle for a later cell (lineage)\n"
    "                         may hold in all (default: a quarter of RAM); beyond it\n"
    "                         the least useful are evicted and their readers import\n"
    "      --save-every S     write OUT with the cells finished so far at most every S\n"
    "                         seconds while running (default 2; 0: only at the end)\n"
    "      --keep-run DIR     keep the run's artifacts (name@version.arrow/.pkl) in DIR;\n"
    "                         see floe artifact\n"
    "      --trace PATH       write a Chrome trace (JSON) of the run; see floe trace\n"
    "      --python PATH      the Python interpreter for kernels, whatever the kernel\n"
    "                         (also FLOE_PYTHON); it needs IPython\n"
    "      --preload MODS     modules the kernel zygote imports once, comma-separated\n"
    "                         (default: IPython,numpy,pandas and every package the\n"
    "                         notebook imports, when installed)\n"
    "      --lazy             resolve every name lazily (slower; for debugging predictions)\n"
    "      --dask ADDRESS     run the cells on a Dask cluster (tcp://host:port or\n"
    "                         tls://...; also FLOE_DASK): each cell is a task, its\n"
    "                         kernel forked on a worker, artifacts kept on the workers.\n"
    "                         The cluster runs whatever it is sent: cells' code and\n"
    "                         data travel to the workers. -j defaults to the\n"
    "                         cluster's worker threads\n"
    "      --dask-tls-ca/--dask-tls-cert/--dask-tls-key PATH\n"
    "                         TLS files for a tls:// scheduler (else Dask's config)\n"
    "      --lineage          (the default) a finished cell's kernel goes on with a\n"
    "                         later cell that reads what it holds (never with --dask,\n"
    "                         where a cell must be able to run again on another\n"
    "                         worker). In parallel mode a cell waits up to\n"
    "                         FLOE_LINEAGE_WAIT_MS (default 100) for a busy kernel\n"
    "                         that holds what it reads before starting fresh; where\n"
    "                         two readers are ready at once, they fork from it when\n"
    "                         that costs less than their imports (fork from\n"
    "                         template; FLOE_LINEAGE_FORK=0 never, =always always)\n"
    "      --no-lineage       every isolated cell in a fresh kernel (also\n"
    "                         FLOE_LINEAGE=0)\n"
    "      --no-warm          a private zygote for this run. By default (not when the\n"
    "                         CI variable is set, nor with FLOE_WARM=0) the zygote, the\n"
    "                         process that imported the preload set, stays warm after\n"
    "                         the run for the next one with the same interpreter,\n"
    "                         directory, environment and preload set: a re-run skips\n"
    "                         the imports. It runs no user code, restarts when an\n"
    "                         imported file changes and exits after --warm-idle seconds\n"
    "                         unused; see floe warm\n"
    "      --warm             keep the zygote warm even under CI (also FLOE_WARM=1)\n"
    "      --warm-idle S      how long a warm zygote waits unused (default 600)\n"
    "      --cache-dir DIR    the result cache for incremental re-runs (default: .floe/\n"
    "                         beside the notebook; isolated modes only)\n"
    "      --no-cache         neither use nor fill the cache (also FLOE_NO_CACHE=1)\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             this help\n"
    "\n"
    "Accepted for papermill's command lines and ignored: --engine NAME, --language\n"
    "python, --start-timeout S, --log-level L, --autosave-cell-every S,\n"
    "--[no-]progress-bar, --[no-]request-save-on-cell-execute (see --save-every).\n"
    "\n"
    "exit status: 0 all cells ran, 1 a cell failed (the notebook is still written),\n"
    "2 bad usage or input (unknown kernel too; IN is never modified), 130/143\n"
    "interrupted (finished cells are written).\n";

typedef struct run_args {
    const char *in, *out, *trace, *python, *preload, *cache_dir, *kernel, *cwd;
    const char *stdout_file, *stderr_file;
    int no_cache, out_positional, papermill, report_mode, log_output, prepare_only, inject_in, inject_out;
    int jobs_given;
    double save_every;
    run_opts o;
    json_t *pm, *pr;         /* -p (typed) and -r (raw) values, in order */
    strvec b64, files, yamls; /* -b, -f, -y */
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

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") && strcasecmp(v, "false") && strcasecmp(v, "no");
}

/* Warm by default, like Gradle's daemon, except under CI (the CI variable,
 * set by GitHub Actions, GitLab, Travis...); FLOE_WARM=0/1 decides first. */
static int warm_default(void) {
    const char *w = getenv("FLOE_WARM");
    if (w && *w) return env_on("FLOE_WARM");
    return !env_on("CI");
}

/* papermill's flags floe accepts and ignores: name, and 1 when it takes a value. */
static const struct { const char *name; int has_value; } ignored[] = {
    {"--engine", 1},           {"--start-timeout", 1},      {"--start_timeout", 1},
    {"--log-level", 1},        {"--autosave-cell-every", 1}, {"--progress-bar", 0},
    {"--no-progress-bar", 0},  {"--request-save-on-cell-execute", 0},
    {"--no-log-output", 0},    {"--no-report-mode", 0},     {"--prepare-execute", 0},
};

/* Parses argv; returns -1 when fine, else an exit status. */
static int parse_args(int argc, char **argv, run_args *a) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    a->o.jobs = ncpu > 0 ? (int)ncpu : 2;
    a->o.mode = MODE_PARALLEL;
    a->o.schedule = SCHED_CRITICAL;
    a->o.stagger_ms = 0;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    a->o.mem_budget = pages > 0 && psize > 0 ? (long long)pages * psize / 4 : 0; /* a quarter of RAM */
    const char *lin = getenv("FLOE_LINEAGE");
    /* on by default; FLOE_LINEAGE=0 (or --no-lineage) turns it off */
    a->o.lineage = !(lin && *lin) || env_on("FLOE_LINEAGE");
    const char *lw = getenv("FLOE_LINEAGE_WAIT_MS");
    a->o.lineage_wait_ms = lw && *lw ? atoi(lw) : 100;
    /* fork from template: on with lineage unless FLOE_LINEAGE_FORK=0;
     * "always": wherever the graph branches, whatever the cost (tests) */
    const char *lf = getenv("FLOE_LINEAGE_FORK");
    a->o.lineage_fork = lf && !strcmp(lf, "always") ? 2 : !(lf && *lf) || env_on("FLOE_LINEAGE_FORK");
    /* the spare kernel: on with lineage unless FLOE_LINEAGE_SPARE=0 */
    const char *ls = getenv("FLOE_LINEAGE_SPARE");
    a->o.lineage_spare = !(ls && *ls) || env_on("FLOE_LINEAGE_SPARE");
    /* where the graph branches, fork readers only when they are known to
     * take longer than a new kernel costs (core_lineage.c branch_pays) */
    const char *bm = getenv("FLOE_BRANCH_MS");
    a->o.branch_ms = bm && *bm ? atoi(bm) : 150;
    const char *sw = getenv("FLOE_SPARE_WAIT_MS");
    a->o.spare_wait_ms = sw && *sw ? atoi(sw) : 30;
    /* wide cells (a thread pool on several cores): on unless FLOE_WIDE=0 */
    const char *wd = getenv("FLOE_WIDE");
    a->o.wide = !(wd && *wd) || env_on("FLOE_WIDE");
    /* experimental, off: pause cells beside a wide one (core_balance) */
    a->o.wide_pause = a->o.wide && env_on("FLOE_WIDE_PAUSE");
    a->papermill = -1;
    a->save_every = 2;
    a->pm = json_object();
    a->pr = json_object();
    const char *wi = getenv("FLOE_WARM_IDLE");
    int warm = warm_default(), idle = wi ? atoi(wi) : 0;
    if (idle <= 0) idle = 600;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        size_t ig = 0;
        for (; ig < sizeof ignored / sizeof ignored[0] && strcmp(s, ignored[ig].name); ig++) {}
        if (ig < sizeof ignored / sizeof ignored[0]) {
            if (ignored[ig].has_value && !has) return usage_error("%s needs a value", s);
            i += ignored[ig].has_value;
        } else if (is_opt(s, "-h", "--help")) {
            fputs(run_usage, stdout);
            return 0;
        } else if (is_opt(s, "-o", "--output")) {
            if (!has) return usage_error("%s needs a path", s);
            a->out = argv[++i];
        } else if (is_opt(s, "-k", "--kernel")) {
            if (!has) return usage_error("%s needs a kernel name", s);
            a->kernel = argv[++i];
        } else if (is_opt(s, "-l", "--language")) {
            if (!has || strcasecmp(argv[i + 1], "python"))
                return usage_error("--language: floe runs Python notebooks only%s", "");
            i++;
        } else if (is_opt(s, "-m", "--mode")) {
            if (!has || parse_mode(argv[i + 1], &a->o.mode) < 0)
                return usage_error("--mode must be parallel, serial or monolithic%s", "");
            i++;
        } else if (is_opt(s, "-j", "--jobs")) {
            char *end;
            long j = has ? strtol(argv[i + 1], &end, 10) : 0;
            if (!has || *end || j < 1 || j > 1024) return usage_error("-j needs a number of kernels (1..1024)%s", "");
            a->o.jobs = (int)j;
            a->jobs_given = 1;
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
        } else if (is_opt(s, "-p", "--parameters") || is_opt(s, NULL, "--parameter") ||
                   is_opt(s, "-r", "--parameters_raw")) {
            if (i + 2 >= argc) return usage_error("%s needs NAME VALUE", s);
            int raw = is_opt(s, "-r", "--parameters_raw");
            if (json_object_set_new(raw ? a->pr : a->pm, argv[i + 1],
                                    raw ? pm_string(argv[i + 2]) : pm_resolve_type(argv[i + 2])) < 0)
                return usage_error("parameter name %s is not UTF-8", argv[i + 1]);
            i += 2;
        } else if (is_opt(s, "-y", "--parameters_yaml") || is_opt(s, "-f", "--parameters_file") ||
                   is_opt(s, "-b", "--parameters_base64")) {
            if (!has) return usage_error("%s needs a value", s);
            strvec_push(s[1] == 'y' || !strcmp(s, "--parameters_yaml") ? &a->yamls
                        : s[1] == 'f' || !strcmp(s, "--parameters_file") ? &a->files : &a->b64,
                        argv[++i]);
        } else if (is_opt(s, NULL, "--inject-input-path")) {
            a->inject_in = 1;
        } else if (is_opt(s, NULL, "--inject-output-path")) {
            a->inject_out = 1;
        } else if (is_opt(s, NULL, "--inject-paths")) {
            a->inject_in = a->inject_out = 1;
        } else if (is_opt(s, NULL, "--prepare-only")) {
            a->prepare_only = 1;
        } else if (is_opt(s, NULL, "--report-mode")) {
            a->report_mode = 1;
        } else if (is_opt(s, NULL, "--papermill")) {
            a->papermill = 1;
        } else if (is_opt(s, NULL, "--no-papermill")) {
            a->papermill = 0;
        } else if (is_opt(s, NULL, "--log-output")) {
            a->log_output = 1;
        } else if (is_opt(s, NULL, "--stdout-file") || is_opt(s, NULL, "--stderr-file")) {
            if (!has) return usage_error("%s needs a path", s);
            *(is_opt(s, NULL, "--stdout-file") ? &a->stdout_file : &a->stderr_file) = argv[++i];
        } else if (is_opt(s, NULL, "--cwd")) {
            if (!has) return usage_error("%s needs a directory", s);
            a->cwd = argv[++i];
        } else if (is_opt(s, NULL, "--no-request-save-on-cell-execute")) {
            a->save_every = 0;
        } else if (is_opt(s, NULL, "--save-every")) {
            char *end;
            double t = has ? strtod(argv[i + 1], &end) : -1;
            if (!has || *end || t < 0 || t > 86400) return usage_error("--save-every needs seconds%s", "");
            a->save_every = t;
            i++;
        } else if (is_opt(s, NULL, "--allow-errors")) {
            a->o.allow_errors = 1;
        } else if (is_opt(s, "-t", "--timeout") || is_opt(s, NULL, "--execution-timeout")) {
            char *end;
            double t = has ? strtod(argv[i + 1], &end) : -1;
            if (!has || *end || t < 0) return usage_error("%s needs seconds", s);
            a->o.timeout_s = t;
            i++;
        } else if (is_opt(s, NULL, "--mem-limit")) {
            long long m = has ? util_parse_size(argv[i + 1]) : -1;
            if (m <= 0) return usage_error("--mem-limit needs a size such as 512M or 4G%s", "");
            a->o.mem_limit = m;
            i++;
        } else if (is_opt(s, NULL, "--mem-budget")) {
            long long m = has ? util_parse_size(argv[i + 1]) : -1;
            if (m <= 0) return usage_error("--mem-budget needs a size such as 512M or 4G%s", "");
            a->o.mem_budget = m;
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
        } else if (is_opt(s, NULL, "--dask")) {
            if (!has || !*argv[i + 1]) return usage_error("%s needs a scheduler address (tcp://host:port)", s);
            a->o.dask = argv[++i];
        } else if (is_opt(s, NULL, "--dask-tls-ca") || is_opt(s, NULL, "--dask-tls-cert") ||
                   is_opt(s, NULL, "--dask-tls-key")) {
            if (!has) return usage_error("%s needs a path", s);
            const char **f = s[11] == 'c' && s[12] == 'a' ? &a->o.dask_tls_ca
                             : s[11] == 'c'                ? &a->o.dask_tls_cert
                                                           : &a->o.dask_tls_key;
            *f = argv[++i];
        } else if (is_opt(s, NULL, "--lazy")) {
            a->o.lazy_always = 1;
        } else if (is_opt(s, NULL, "--no-lineage")) {
            a->o.lineage = 0;
        } else if (is_opt(s, NULL, "--lineage")) {
            a->o.lineage = 1;
        } else if (is_opt(s, "-q", "--quiet")) {
            a->o.quiet = 1;
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->in) {
            a->in = s;
        } else if (!a->out_positional) {
            a->out_positional = 1;
            if (a->out && strcmp(a->out, s)) return usage_error("two outputs: -o and %s", s);
            a->out = s;
        } else {
            return usage_error("unexpected argument %s", s);
        }
    }
    if (!a->in) return usage_error("missing the notebook to run%s", "");
    const char *dask = getenv("FLOE_DASK");
    if (!a->o.dask && dask && *dask) a->o.dask = dask;
    if (a->o.dask && !a->jobs_given) a->o.jobs = 0; /* the cluster's threads (the bridge's hello) */
    /* On Dask every cell is a task in a fresh kernel: a cell continued in a
     * kept kernel would die with its worker instead of running elsewhere. */
    if (a->o.dask) a->o.lineage = 0;
    if (a->papermill < 0) a->papermill = a->out_positional;
    a->o.warm_idle_s = warm ? idle : 0;
    return -1;
}

/* --- interpreter and kernel sources --------------------------------------------- */

/* Where floe_kernel lives: $FLOE_HOME/python, or ../python beside the binary. */
char *cli_find_pythonpath(void) {
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

/* The notebook's code cells analysed once, for the preload set here and
 * for the run's prediction (run_opts.analysed). Free with free_analysed. */
static an_cell *analyse(const nb *n) {
    size_t nc = nb_ncode(n);
    an_cell *cells = xcalloc(nc ? nc : 1, sizeof *cells);
    const char **srcs = xcalloc(nc ? nc : 1, sizeof *srcs);
    for (size_t k = 0; k < nc; k++) {
        srcs[k] = nb_cell_source(n, nb_code_cell(n, k));
        if (!srcs[k]) srcs[k] = "";
    }
    an_analyze_many(srcs, nc, cells, (int)sysconf(_SC_NPROCESSORS_ONLN));
    free(srcs);
    return cells;
}

static void free_analysed(an_cell *cells, size_t nc) {
    for (size_t k = 0; cells && k < nc; k++) an_cell_free(&cells[k]);
    free(cells);
}

/* The modules the notebook's code cells import, as the analyser finds them
 * (an_cell.imports: for `from x.y import z`, also x.y.z, tried as a
 * submodule: `from scipy import stats` -- scipy loads stats lazily, so
 * preloading scipy alone leaves every kernel to import scipy.stats itself).
 * The zygote imports them once, so that no cell's kernel pays for them;
 * names that are not modules are skipped there. */
static void notebook_imports(const an_cell *cells, size_t nc, strvec *mods) {
    for (size_t k = 0; k < nc; k++)
        for (size_t i = 0; i < cells[k].imports.n; i++) strvec_push(mods, cells[k].imports.v[i]);
}

/* The default preload set: IPython, numpy, pandas, and what the notebook
 * imports (modules that are not installed are skipped by the zygote). */
static char *default_preload(const an_cell *cells, size_t nc) {
    strvec mods = {0};
    strvec_push(&mods, "IPython");
    strvec_push(&mods, "numpy");
    strvec_push(&mods, "pandas");
    strvec auto_mods = {0};
    notebook_imports(cells, nc, &auto_mods);
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

/* --- the run's notebook: input, parameters, progress, output ---------------------------- */

typedef struct run_ctx {
    run_args *a;
    const char *out;
    FILE *log_out, *log_err;
    int64_t saved_us;
} run_ctx;

static int load_input(const char *in, nb **n, char *err, size_t errlen) {
    if (strcmp(in, "-")) return nb_load(in, n, err, errlen);
    buf b;
    buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) buf_append(&b, chunk, got);
    int rc = nb_load_mem("<stdin>.ipynb", b.data, b.len, n, err, errlen);
    buf_free(&b);
    return rc;
}

static int save_output(nb *n, const char *out, char *err, size_t errlen) {
    if (strcmp(out, "-")) return nb_save(n, out, err, errlen);
    char *s = nb_dump_ipynb(n);
    int ok = fputs(s, stdout) >= 0 && fflush(stdout) == 0;
    free(s);
    if (!ok) snprintf(err, errlen, "cannot write the notebook to stdout");
    return ok ? 0 : -1;
}

/* The parameters in papermill's order: paths, -b, -f, -y, -p, -r. */
static int collect_parameters(run_args *a, const char *python, const char *out, json_t *params, char *err,
                              size_t errlen) {
    if (a->inject_in) json_object_set_new(params, "PAPERMILL_INPUT_PATH", pm_string(a->in));
    if (a->inject_out) json_object_set_new(params, "PAPERMILL_OUTPUT_PATH", pm_string(out));
    if (pm_load_yaml(python, &a->b64, &a->files, &a->yamls, params, err, errlen) < 0) return -1;
    json_object_update(params, a->pm);
    json_object_update(params, a->pr);
    return 0;
}

/* papermill's log line: f'{what}{num:-<width}' (the number padded with '-'). */
static void log_banner(const char *what, size_t num, int width) {
    char n[32];
    int len = snprintf(n, sizeof n, "%zu", num);
    fprintf(stderr, "%s%s", what, n);
    for (int i = len; i < width; i++) fputc('-', stderr);
    fputc('\n', stderr);
}

/* A multiline string of nbformat: a string, or a list of lines. */
static void put_text(FILE *to, json_t *t) {
    if (!to) return;
    if (json_is_string(t)) fputs(json_string_value(t), to);
    size_t k;
    json_t *line;
    json_array_foreach(t, k, line) if (json_is_string(line)) fputs(json_string_value(line), to);
}

/* --log-output / --stdout-file / --stderr-file: a finished cell's outputs,
 * as papermill logs them (streams; text/plain of results; errors). */
static void on_cell_done(void *arg, nb *n, size_t cell) {
    run_ctx *x = arg;
    FILE *log = x->a->log_output ? stderr : NULL;
    if (log) log_banner("Executing Cell ", cell + 1, 40);
    size_t k;
    json_t *o;
    json_array_foreach(json_object_get(nb_cell_json(n, cell), "outputs"), k, o) {
        const char *type = json_string_value(json_object_get(o, "output_type")) ?: "";
        if (!strcmp(type, "stream")) {
            json_t *text = json_object_get(o, "text");
            int err_stream = !strcmp(json_string_value(json_object_get(o, "name")) ?: "", "stderr");
            put_text(log, text);
            FILE *to = err_stream ? x->log_err : x->log_out;
            put_text(to, text);
            if (to) fflush(to);
        } else if (log && !strcmp(type, "error")) {
            fprintf(log, "%s: %s\n", json_string_value(json_object_get(o, "ename")) ?: "",
                    json_string_value(json_object_get(o, "evalue")) ?: "");
        } else if (log) {
            json_t *plain = json_object_get(json_object_get(o, "data"), "text/plain");
            put_text(log, plain);
            if (plain) fputc('\n', log);
        }
    }
    if (log) log_banner("Ending Cell ", cell + 1, 43);
}

/* The notebook so far, while cells run (engine_save.c decides when). */
static void on_save(void *arg, nb *n) {
    run_ctx *x = arg;
    char err[1024];
    if (x->a->papermill) pm_finish(n, 0);
    if (nb_save(n, x->out, err, sizeof err) < 0 && !x->a->o.quiet) fprintf(stderr, "floe: %s\n", err);
}

static FILE *open_stream_file(const char *path) {
    if (!path) return NULL;
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "floe: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static void free_args(run_args *a) {
    json_decref(a->pm);
    json_decref(a->pr);
    strvec_free(&a->b64);
    strvec_free(&a->files);
    strvec_free(&a->yamls);
}

int cmd_run(int argc, char **argv) {
    run_args a;
    memset(&a, 0, sizeof a);
    int st = parse_args(argc, argv, &a);
    if (st >= 0) {
        free_args(&a);
        return st;
    }
    char err[1024], how[1024];
    nb *n;
    if (load_input(a.in, &n, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        free_args(&a);
        return 2;
    }
    int from_stdin = !strcmp(a.in, "-");
    if (a.out && !strcmp(a.out, "-")) a.o.quiet = 1; /* papermill: nothing but errors on stderr */
    kspec ks;
    char *python = NULL;
    char *pypath = NULL, *cwd = NULL, *cache_dir = NULL, *preload = NULL;
    an_cell *analysed = NULL;
    size_t nanalysed = 0;
    char *out = a.out ? xstrdup(a.out) : (from_stdin ? xstrdup("-") : default_output(a.in));
    json_t *params = json_object();
    run_ctx x = {.a = &a, .out = out};
    int rc = cli_pick_python(a.python, a.kernel, cli_nb_kernel_name(n), &ks, &python, how, sizeof how, err,
                             sizeof err);
    if (rc) {
        fprintf(stderr, "floe: %s\n", err);
        goto done;
    }
    rc = 2;
    python = absolute(python);
    kspec_apply_env(&ks);
    pypath = absolute(cli_find_pythonpath());
    cwd = a.cwd ? realpath(a.cwd, NULL) : (from_stdin ? realpath(".", NULL) : path_abs_dir(a.in));
    if (!cwd) {
        fprintf(stderr, "floe: no such directory: %s\n", a.cwd ? a.cwd : a.in);
        goto done;
    }
    if (!python) {
        fprintf(stderr, "floe: no Python interpreter (%s)\n", how);
        goto done;
    }
    if (!pypath) {
        fprintf(stderr, "floe: cannot find floe's kernel sources (python/floe_kernel); set FLOE_HOME\n");
        goto done;
    }
    if (collect_parameters(&a, python, out, params, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        goto done;
    }
    if (json_object_size(params)) pm_inject(n, params, a.report_mode);
    nb_clear_outputs(n);
    if (a.papermill) {
        pm_remove_error_markers(n);
        pm_start(n, params, a.in, out, a.report_mode);
    }
    if (a.prepare_only) {
        rc = save_output(n, out, err, sizeof err) < 0 ? 2 : 0;
        if (rc) fprintf(stderr, "floe: %s\n", err);
        goto done;
    }
    if (!a.preload || a.o.mode != MODE_MONOLITHIC) {
        analysed = analyse(n);
        nanalysed = nb_ncode(n);
    }
    preload = a.preload ? xstrdup(a.preload) : default_preload(analysed, nanalysed);
    a.o.analysed = a.o.mode != MODE_MONOLITHIC ? analysed : NULL;
    if (getenv("FLOE_DEBUG")) fprintf(stderr, "floe: python %s (%s)\n", python, how);
    a.o.python = python;
    a.o.pythonpath = pypath;
    a.o.preload = preload;
    a.o.trace_path = a.trace;
    a.o.nb_name = from_stdin ? "<stdin>" : a.in;
    a.o.cwd = cwd;
    const char *nc = getenv("FLOE_NO_CACHE");
    char *nbdir = from_stdin ? NULL : path_abs_dir(a.in);
    if (!a.no_cache && !from_stdin && !(nc && *nc && strcmp(nc, "0") != 0))
        cache_dir = a.cache_dir ? xstrdup(a.cache_dir) : (nbdir ? xasprintf("%s/.floe", nbdir) : NULL);
    free(nbdir);
    a.o.cache_dir = cache_dir;
    x.log_out = open_stream_file(a.stdout_file);
    x.log_err = open_stream_file(a.stderr_file);
    if (a.log_output || x.log_out || x.log_err) a.o.on_cell_done = on_cell_done;
    if (a.save_every > 0 && strcmp(out, "-")) {
        a.o.on_save = on_save;
        a.o.save_every_ms = (int)(a.save_every * 1000);
    }
    a.o.progress_arg = &x;
    run_stats stats;
    rc = engine_run(n, &a.o, &stats);
    if (rc == 2) goto done;
    if (a.papermill && pm_finish(n, 1) == 0 && rc == 1) rc = 0; /* sys.exit(0): papermill succeeds */
    if (save_output(n, out, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        rc = 2;
        goto done;
    }
    if (!a.o.quiet && stats.wall_s >= 1.0)
        fprintf(stderr, "floe: wrote %s (%d cells run, %d from cache, in %.2fs, %d kernels%s)\n", out, stats.cells_run,
                stats.cells_restored, stats.wall_s, stats.kernels, rc == 1 ? ", a cell failed" : "");
done:
    if (x.log_out) fclose(x.log_out);
    if (x.log_err) fclose(x.log_err);
    json_decref(params);
    kspec_free(&ks);
    free(python);
    free(pypath);
    free(out);
    free(preload);
    free_analysed(analysed, nanalysed);
    free(cwd);
    free(cache_dir);
    nb_free(n);
    free_args(&a);
    return rc;
}
