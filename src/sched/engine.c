/* engine.c — the local driver (see engine.h): kernels forked from a zygote
 * on a libuv loop carry out what the scheduling core decides.
 *
 * The core (core/core.c) decides every step of a cell's life: when it
 * starts, in which kernel (a fresh one or a holder), what it imports, when
 * it runs again. This file turns the pool's callbacks (hello, forked,
 * message, dead) into core events, and the core's actions into kernels
 * started, messages sent, kernels kept or killed (engine_pump). */
#include "sched/engine.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "kernel/kpool.h"
#include "store/cache.h"
#include "sched/engine_internal.h"
#include "trace/trace.h"
#include "util/util.h"

/* ---- kernels ------------------------------------------------------------------ */

static void drop_prefork(engine *e, kernel *kn) {
    for (size_t i = 0; i < e->npreforks; i++)
        if (e->preforks[i] == kn) {
            e->preforks[i] = e->preforks[--e->npreforks];
            e->forking--;
            return;
        }
}

/* A ready kernel; else one already being forked ahead of demand (the cell's
 * request waits for it: sooner than a fork started now); else a new fork. */
static kernel *take_kernel(engine *e) {
    if (e->nidle) return e->idle[--e->nidle];
    if (e->npreforks) {
        kernel *k = e->preforks[0];
        drop_prefork(e, k);
        return k;
    }
    return kpool_fork(e->pool);
}

/* Keeps `want` kernels forked ahead of demand (isolated modes). */
static void prefork(engine *e) {
    if (e->o->mode == MODE_MONOLITHIC || e->stopping || !e->pool || !e->t_ready) return;
    /* one ahead where a new kernel is priced (branch_ms): cells mostly go on
     * in kernels that ran earlier ones, and each kernel forked ahead costs a
     * fork in the zygote and a warm-up beside the first cells */
    int want = e->o->mode == MODE_SERIAL || (e->o->lineage && e->o->branch_ms > 0) ? 1 : e->o->jobs;
    int left = core_pending(e->core);
    if (want > left) want = left;
    while ((int)e->nidle + e->forking < want) {
        kernel *kn = kpool_fork(e->pool);
        if (!kn) return;
        e->forking++;
        kn->user = NULL;
        core_stats_mut(e->core)->kernels++;
        e->preforks = xrealloc(e->preforks, (e->npreforks + 1) * sizeof *e->preforks);
        e->preforks[e->npreforks++] = kn;
    }
}

static kernel *holder_kernel(engine *e, int h) {
    return h > 0 && (size_t)h < e->nholders ? e->holders[h] : NULL;
}

static void set_holder(engine *e, int h, kernel *kn) {
    if ((size_t)h >= e->nholders) {
        size_t n = (size_t)h + 8;
        e->holders = xrealloc(e->holders, n * sizeof *e->holders);
        memset(e->holders + e->nholders, 0, (n - e->nholders) * sizeof *e->holders);
        e->nholders = n;
    }
    e->holders[h] = kn;
}

/* The holder id of kernel kn, or 0. */
static int holder_of(engine *e, kernel *kn) {
    for (size_t h = 1; h < e->nholders; h++)
        if (e->holders[h] == kn) return (int)h;
    return 0;
}

/* ---- carrying out actions ------------------------------------------------------ */

/* A kernel forked from idle lineage kernel `holder` (fork from template,
 * core_lineage_fork); the template stays idle. */
static kernel *fork_template(engine *e, core_action *a) {
    kernel *t = holder_kernel(e, a->holder);
    kernel *kn = t ? kpool_fork_from(e->pool, t, json_object_get(a->msg, "fp")) : NULL;
    if (!kn) return NULL;
    kn->user = NULL;
    core_stats_mut(e->core)->kernels++;
    char args[160];
    snprintf(args, sizeof args, "{\"template\":%d,\"after\":%lld,\"keep\":%zu,\"imports\":%zu}", t->id,
             (long long)json_integer_value(json_object_get(a->msg, "lineage")),
             json_array_size(json_object_get(a->msg, "keep")), json_array_size(json_object_get(a->msg, "imports")));
    trace_complete(e->tr, "fork-template", (int)a->cell, kn->id, time_mono_us(), 0, args);
    return kn;
}

static void act_start(engine *e, core_action *a) {
    dcell *d = &e->cells[a->cell];
    kernel *kn = a->from == CK_MONO     ? e->mono
                 : a->from == CK_FRESH  ? take_kernel(e)
                 : a->from == CK_FORK   ? fork_template(e, a)
                                        : holder_kernel(e, a->holder);
    if (a->from == CK_CONT && kn) { /* an idle lineage kernel goes on: the cell's now */
        set_holder(e, a->holder, NULL);
        char args[96];
        snprintf(args, sizeof args, "{\"after\":%lld,\"keep\":%zu}",
                 (long long)json_integer_value(json_object_get(a->msg, "lineage")),
                 json_array_size(json_object_get(a->msg, "keep")));
        trace_complete(e->tr, "continue", (int)a->cell, kn->id, time_mono_us(), 0, args);
    }
    if (!kn) {
        core_start_failed(e->core, a->cell);
        return;
    }
    d->kern = kn;
    d->cpu_t = 0;
    kn->user = d;
    kn->state = K_BUSY;
    kpool_send(kn, a->msg);
    engine_arm_timeout(e, d);
    if (e->o->mode != MODE_MONOLITHIC) {
        core_cell *c = core_cell_at(e->core, a->cell);
        int64_t t0 = c->t_ready > kn->t_forked ? c->t_ready : kn->t_forked;
        if (kn->t_forked && c->t_dispatch > t0)
            trace_complete(e->tr, "wait", (int)a->cell, kn->id, t0, c->t_dispatch - t0, NULL);
    }
}

/* The cell's kernel leaves it (finished, or killed). */
static kernel *unbind(engine *e, size_t k) {
    dcell *d = &e->cells[k];
    kernel *kn = d->kern;
    if (kn && d->paused) kpool_signal(kn, SIGCONT); /* killed, kept or released: never left stopped */
    d->paused = 0;
    engine_disarm_timeout(e, d);
    d->kern = NULL;
    if (kn) kn->user = NULL;
    return kn;
}

static void act_kill(engine *e, size_t k) {
    kernel *kn = unbind(e, k);
    if (!kn) return;
    kpool_signal(kn, SIGKILL);
    kpool_release(kn);
}

static void act_keep(engine *e, core_action *a) {
    kernel *kn = unbind(e, a->cell);
    if (!kn) return;
    kn->state = K_IDLE;
    if (a->holder) set_holder(e, a->holder, kn);
}

static void act_release(engine *e, core_action *a) {
    kernel *kn = unbind(e, a->cell);
    if (a->holder) set_holder(e, a->holder, NULL);
    if (kn) kpool_release(kn);
}

static void act_drop_holder(engine *e, int h) {
    kernel *kn = holder_kernel(e, h);
    if (!kn) return;
    set_holder(e, h, NULL);
    kpool_kill(kn); /* a template with forked children running: once they are dead */
}

static void act_answer(engine *e, core_action *a) {
    dcell *d = &e->cells[a->cell];
    if (!d->kern) return;
    if (a->t) trace_complete(e->tr, "wait", (int)a->cell, d->kern->id, a->t, time_mono_us() - a->t, NULL);
    kpool_send(d->kern, a->msg);
}

static void act_settled(engine *e, size_t k) {
    if (getenv("FLOE_DEBUG")) {
        core_cell *c = core_cell_at(e->core, k);
        fprintf(stderr, "floe: cell %zu: ready->dispatch %lld us, dispatch->start %lld, import %lld, compute %lld, export %lld, done->floe %lld\n",
                k, (long long)(c->t_dispatch - c->t_ready), (long long)(c->t_start - c->t_dispatch),
                (long long)(c->t_compute - c->t_start), (long long)(c->t_end - c->t_compute),
                (long long)(c->t_done - c->t_end), (long long)(time_mono_us() - c->t_done));
    }
    engine_progress(e);
    if (core_cell_at(e->core, k)->state == C_DONE) engine_save_note(e, k); /* not re-run meanwhile */
}

static void on_stagger(uv_timer_t *t) {
    engine *e = t->data;
    core_wake(e->core);
    engine_pump(e);
}

static void act_wake(engine *e, int64_t due) {
    if (!e->stagger_init) {
        uv_timer_init(&e->loop, &e->stagger);
        e->stagger.data = e;
        e->stagger_init = 1;
    }
    int64_t now = time_mono_us();
    uint64_t ms = due > now ? (uint64_t)((due - now + 999) / 1000) : 0;
    uv_timer_start(&e->stagger, on_stagger, ms, 0);
}

static void act(engine *e, core_action *a) {
    switch (a->kind) {
    case CA_START_POOL: engine_start_pool(e); break;
    case CA_START: act_start(e, a); break;
    case CA_KILL: act_kill(e, a->cell); break;
    case CA_ANSWER: act_answer(e, a); break;
    case CA_KEEP: act_keep(e, a); break;
    case CA_RELEASE: act_release(e, a); break;
    case CA_DROP_HOLDER:
        if (a->from == CK_CONT && holder_kernel(e, a->holder)) {
            char args[240];
            int ch = holder_kernel(e, a->holder)->children;
            if (ch) /* forked children die with their template: it goes when they are done */
                snprintf(args, sizeof args, "{\"why\":\"%s\",\"deferred\":%d}", a->why, ch);
            else
                snprintf(args, sizeof args, "{\"why\":\"%s\"}", a->why);
            trace_complete(e->tr, "drop-lineage", -1, holder_kernel(e, a->holder)->id, time_mono_us(), 0, args);
        }
        act_drop_holder(e, a->holder);
        break;
    case CA_RERUN: {
        dcell *d = &e->cells[a->cell];
        /* why, in the trace: bench/covars.py --public counts the fallback's re-runs */
        json_t *why = json_pack("{s:s}", "why", a->why);
        char *args = json_dumps(why, JSON_COMPACT);
        trace_complete(e->tr, "rerun", (int)a->cell, d->kern ? d->kern->id : 0, time_mono_us(), 0, args);
        free(args);
        json_decref(why);
        break;
    }
    case CA_SETTLED: act_settled(e, a->cell); break;
    case CA_WAKE: act_wake(e, a->t); break;
    case CA_PAUSE:
    case CA_RESUME: {
        dcell *d = &e->cells[a->cell];
        int stop = a->kind == CA_PAUSE;
        if (d->kern && d->paused != stop) {
            kpool_signal(d->kern, stop ? SIGSTOP : SIGCONT);
            d->paused = stop;
            d->cpu_t = 0; /* its CPU use is sampled afresh */
        }
        break;
    }
    }
}

void engine_pump(engine *e) {
    core_action a;
    while (core_next_action(e->core, &a)) {
        act(e, &a);
        json_decref(a.msg);
    }
    prefork(e);
    engine_check_finished(e);
}

/* ---- events from the pool ---------------------------------------------------- */

static void on_kernel_msg(kernel *kn, json_t *msg, void *data) {
    engine *e = data;
    dcell *d = kn->user;
    const char *op = json_string_value(json_object_get(msg, "op"));
    if (!op || !d) return;
    if (!strcmp(op, "done")) {
        engine_disarm_timeout(e, d);
        engine_trace_cell(e, d, msg);
        core_cell_done(e->core, d->k, msg);
    } else if (!strcmp(op, "need")) {
        core_need(e->core, d->k, json_string_value(json_object_get(msg, "name")),
                  json_string_value(json_object_get(msg, "link")));
    } else if (!strcmp(op, "update_display")) {
        core_update_display(e->core, d->k, msg);
    }
    engine_pump(e);
}

static void on_forked(kernel *kn, void *data) {
    engine *e = data;
    if (e->o->mode == MODE_MONOLITHIC) {
        if (kn == e->mono) core_pool_ready(e->core, e->hello_li);
        engine_pump(e);
        return;
    }
    char args[64];
    snprintf(args, sizeof args, "{\"fork_us\":%lld}", (long long)kn->fork_us);
    trace_complete(e->tr, "fork", -1, kn->id, kn->t_requested, kn->t_forked - kn->t_requested, args);
    if (kn->user == NULL && !kn->released) {
        drop_prefork(e, kn);
        if (e->nidle == e->capidle) {
            e->capidle = e->capidle ? e->capidle * 2 : 8;
            e->idle = xrealloc(e->idle, e->capidle * sizeof *e->idle);
        }
        e->idle[e->nidle++] = kn;
    }
    core_schedule(e->core);
    engine_pump(e);
}

static void on_dead(kernel *kn, void *data) {
    engine *e = data;
    dcell *d = kn->user;
    drop_prefork(e, kn);
    for (size_t i = 0; i < e->nidle; i++)
        if (e->idle[i] == kn) {
            e->idle[i] = e->idle[--e->nidle];
            break;
        }
    /* a holder that died took its values along: their readers get the
     * Unmovable error (a cell that died in it gets DeadKernelError) */
    int h = holder_of(e, kn);
    if (h) {
        set_holder(e, h, NULL);
        core_holder_gone(e->core, h);
    }
    if (!d) {
        engine_check_finished(e);
        return;
    }
    engine_disarm_timeout(e, d);
    engine_trace_cell(e, d, NULL);
    core_cell_died(e->core, d->k, kn->exit_signal, kn->exit_code);
    engine_pump(e);
}

static void on_ready(kpool *p, json_t *hello, void *data) {
    engine *e = data;
    (void)p;
    e->t_ready = time_mono_us();
    trace_complete(e->tr, "start", -1, 0, e->t0, e->t_ready - e->t0, NULL);
    json_decref(e->hello_li);
    e->hello_li = json_incref(json_object_get(hello, "language_info"));
    if (e->opts.jobs <= 0) { /* the Dask bridge says how many cells its cluster runs at once */
        json_int_t slots = json_integer_value(json_object_get(hello, "slots"));
        e->opts.jobs = slots > 0 ? (int)(slots < 1024 ? slots : 1024) : 2;
    }
    if (e->o->mode == MODE_MONOLITHIC) {
        /* cells start once the one kernel is forked (on_forked) */
        e->mono = kpool_fork(e->pool);
        core_stats_mut(e->core)->kernels = 1;
        return;
    }
    core_pool_ready(e->core, e->hello_li);
    if (!e->o->dask) engine_width_start(e); /* a kernel on a Dask worker: its pid is not ours */
    engine_pump(e);
}

static void on_fail(kpool *p, const char *message, void *data) {
    engine *e = data;
    (void)p;
    if (e->stopping) return;
    fprintf(stderr, "floe: %s\n", message);
    if (strstr(message, "missing module"))
        fprintf(stderr, "floe: install it (Debian: apt-get install python3-ipython python3-numpy python3-pandas) "
                        "or choose another interpreter with --python PATH or FLOE_PYTHON\n");
    e->fatal = 2;
    engine_stop(e);
}

static const kpool_cbs pool_cbs = {on_ready, on_fail, on_forked, on_kernel_msg, on_dead};

/* ---- setup -------------------------------------------------------------------- */

/* Every code cell of the notebook goes to the core (core_nb.c); the driver
 * keeps a dcell beside each. */
static void add_cells(engine *e) {
    core_add_notebook(e->core, e->nb, e->o->analysed, NULL);
    e->ncells = core_ncells(e->core);
    e->cells = xcalloc(e->ncells ? e->ncells : 1, sizeof *e->cells);
    for (size_t k = 0; k < e->ncells; k++) {
        e->cells[k].k = k;
        e->cells[k].eng = e;
    }
}

/* Run directories of floe processes that died without cleaning up (SIGKILL,
 * power loss) are removed by the next run: floe-<pid>-<n> owned by us whose
 * pid no longer exists. A live pid, even a reused one, keeps its directory. */
static void sweep_stale(const char *base) {
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid;
        int n, used = 0;
        if (sscanf(de->d_name, "floe-%ld-%d%n", &pid, &n, &used) != 2 || de->d_name[used] || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *p = xasprintf("%s/%s", base, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) engine_remove_dir(p);
        free(p);
    }
    closedir(d);
}

char *engine_make_run_dir(void) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    sweep_stale(base);
    for (int i = 0; i < 100; i++) {
        char *d = xasprintf("%s/floe-%ld-%d", base, (long)getpid(), i);
        if (mkdir(d, 0700) == 0) return d;
        free(d);
        if (errno != EEXIST) break;
    }
    fprintf(stderr, "floe: cannot create a run directory in %s: %s\n", base, strerror(errno));
    return NULL;
}

char *engine_interpreter_id(const char *python) {
    char *real = realpath(python, NULL);
    struct stat st;
    memset(&st, 0, sizeof st);
    stat(real ? real : python, &st);
    char *id = xasprintf("%s %lld %lld", real ? real : python, (long long)st.st_size, (long long)st.st_mtim.tv_sec);
    free(real);
    return id;
}

/* Whether the zygote's OpenMP runtimes are to wait passively: kernels run
 * side by side on this machine (parallel mode, -j 2 or more; not on Dask).
 * An OpenMP team's idle threads spin for a while by default (libgomp:
 * 300,000 turns), which is right for one process owning the cores and
 * wrong for two: pdsh 05.11's KMeans cells took 2-20x as long beside
 * another kernel. Waiting changes no result. FLOE_OMP_PASSIVE=0 turns it
 * off; a user's own OMP_WAIT_POLICY is kept as it is. */
static int omp_passive(const run_opts *o) {
    const char *v = getenv("FLOE_OMP_PASSIVE");
    if (v && !strcmp(v, "0")) return 0;
    return o->mode == MODE_PARALLEL && o->jobs > 1 && !o->dask && !getenv("OMP_WAIT_POLICY");
}

int engine_start_pool(engine *e) {
    kpool_opts ko = {e->o->python, e->o->pythonpath, e->o->preload, e->run_dir, e->o->cwd, e->o->mem_limit,
                     e->o->warm_idle_s, e->o->dask, e->o->dask_tls_ca, e->o->dask_tls_cert, e->o->dask_tls_key,
                     e->cache != NULL || e->o->keep_run != NULL, omp_passive(e->o)};
    char err[512];
    e->lazy_pool = 0;
    if (kpool_start(&e->pool, &e->loop, &ko, &pool_cbs, e, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        e->fatal = 2;
        engine_stop(e);
        return -1;
    }
    return 0;
}

int engine_run(nb *n, const run_opts *o, run_stats *stats) {
    engine e;
    memset(&e, 0, sizeof e);
    e.nb = n;
    e.opts = *o;
    e.o = &e.opts;
    e.t0 = time_mono_us();
    e.wall0 = time_wall_us();
    e.tr = trace_new();
    uv_loop_init(&e.loop);
    e.loop.data = &e;
    int rc = 2;
    if (!(e.run_dir = engine_make_run_dir())) goto done;
    if (o->cache_dir && o->mode != MODE_MONOLITHIC) {
        char cerr[512];
        if (cache_open(o->cache_dir, o->nb_name ? o->nb_name : "notebook", o->quiet, &e.cache, cerr, sizeof cerr) < 0) {
            fprintf(stderr, "floe: %s (running without the cache)\n", cerr);
            e.cache = NULL;
        }
    }
    e.cache_env = engine_interpreter_id(o->python);
    e.core = core_new(e.o, e.run_dir, e.cache, e.cache_env, e.tr);
    add_cells(&e);
    core_plan(e.core);
    e.lazy_pool = e.cache != NULL;
    if (!e.lazy_pool && engine_start_pool(&e) < 0) goto done;
    engine_signals_start(&e);
    core_schedule(e.core);
    engine_pump(&e);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    rc = engine_finish(&e);
done:
    if (stats) {
        memset(stats, 0, sizeof *stats);
        if (e.core) *stats = *core_stats(e.core);
    }
    engine_cleanup(&e);
    return rc;
}
