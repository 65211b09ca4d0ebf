/* engine_run.c — the local driver around the core's decisions: timeouts,
 * signals, progress, the trace of each cell, and writing results back into
 * the notebook at the end. */
#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/engine_internal.h"
#include "store/cache.h"

void engine_trace_cell(engine *e, dcell *d, json_t *done) {
    int row = d->kern ? d->kern->id : 0;
    d->trace_row = row;
    int k = (int)d->k;
    core_cell *c = core_cell_at(e->core, d->k);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(done, "events"), i, ev) {
        const char *name = json_string_value(json_object_get(ev, "name"));
        /* the kernel found what floe cannot make equal to Jupyter (issue
         * 16: uninitialised memory): in the trace, and once on stderr */
        if (name && !strcmp(name, "unguaranteed") && !e->said_unguaranteed) {
            e->said_unguaranteed = 1;
            fprintf(stderr, "floe: cell %d: %s (said once per run; the trace lists every such cell)\n", k,
                    json_string_value(json_object_get(json_object_get(ev, "args"), "why")));
        }
        char *args = json_dumps(json_object_get(ev, "args"), JSON_COMPACT);
        trace_complete(e->tr, name, k, row,
                       json_integer_value(json_object_get(ev, "start")), json_integer_value(json_object_get(ev, "dur")),
                       args);
        free(args);
    }
    if (!done) trace_complete(e->tr, "compute", k, row, c->t_dispatch, time_mono_us() - c->t_dispatch, "{\"dead\":true}");
    /* dependency arrows from the cells it read */
    for (size_t r = 0; r < c->nreads; r++) {
        long f = c->reads[r].from;
        if (f < 0) continue;
        trace_flow(e->tr, (int)f, e->cells[f].trace_row, core_cell_at(e->core, (size_t)f)->t_end, k, row,
                   c->t_dispatch, c->reads[r].name);
    }
}

/* ---- progress --------------------------------------------------------------- */

static size_t count_done(engine *e, size_t *total) {
    size_t d = 0, t = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = core_cell_at(e->core, k);
        if (c->skip) continue;
        t++;
        d += c->state == C_DONE;
    }
    *total = t;
    return d;
}

static void show_progress(engine *e, int final) {
    if (e->o->quiet) return;
    double el = (double)(time_mono_us() - e->t0) / 1e6;
    if (el < 1.0 && !e->progress_shown) return;
    size_t total, done = count_done(e, &total);
    if (isatty(2)) {
        fprintf(stderr, "\rfloe: %zu/%zu cells, %d running, %.1fs%s", done, total, core_running(e->core), el, final ? "\n" : "   ");
    } else if (final || done != (size_t)e->progress_shown - 1) {
        fprintf(stderr, "floe: %zu/%zu cells, %d running, %.1fs\n", done, total, core_running(e->core), el);
    }
    e->progress_shown = (int)done + 1;
}

static void on_progress(uv_timer_t *t) { show_progress(t->data, 0); }

void engine_progress(engine *e) {
    if (!e->progress_on && !e->o->quiet) {
        uv_timer_init(&e->loop, &e->progress);
        e->progress.data = e;
        uv_timer_start(&e->progress, on_progress, 1000, 500);
        e->progress_on = 1;
    }
}

/* ---- wide cells ------------------------------------------------------------------ */

/* utime + stime of a process, in clock ticks (proc(5): fields 14 and 15,
 * after the command name in parentheses, which may hold spaces). */
static int cpu_ticks(int pid, unsigned long long *out) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *p = strrchr(text, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    *out = ut + st;
    return 1;
}

/* The threads of process pid ready to run now (state R): a thread pool at
 * work has several, however many cores it gets. */
static int runnable_threads(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (!dir) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char stat[320], text[512];
        snprintf(stat, sizeof stat, "/proc/%d/task/%s/stat", pid, de->d_name);
        FILE *f = fopen(stat, "re");
        if (!f) continue;
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = 0;
        const char *p = strrchr(text, ')');
        if (p && p[1] == ' ' && p[2] == 'R') n++;
    }
    closedir(dir);
    return n;
}

/* Every WIDTH_MS: the cores each running cell's kernel used since the last
 * sample and its threads ready to run, told to the core (core_cell_cpu),
 * which holds back new starts while a cell runs a thread pool on several
 * cores, and pauses cells running beside it (core_balance). */
#define WIDTH_MS 250

static void on_width(uv_timer_t *t) {
    engine *e = t->data;
    static long hz;
    if (!hz) hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    int64_t now = time_mono_us();
    for (size_t k = 0; k < e->ncells && !e->stopping; k++) {
        dcell *d = &e->cells[k];
        unsigned long long ticks;
        if (!d->kern || d->kern->pid <= 0 || core_cell_at(e->core, k)->state != C_RUNNING ||
            !cpu_ticks((int)d->kern->pid, &ticks)) {
            d->cpu_t = 0;
            continue;
        }
        if (d->cpu_t && d->cpu_pid == (int)d->kern->pid && now > d->cpu_t && ticks >= d->cpu_ticks)
            core_cell_cpu(e->core, k, (double)(ticks - d->cpu_ticks) / (double)hz / ((double)(now - d->cpu_t) / 1e6),
                          runnable_threads((int)d->kern->pid));
        d->cpu_ticks = ticks;
        d->cpu_t = now;
        d->cpu_pid = (int)d->kern->pid;
    }
    engine_pump(e);
}

void engine_width_start(engine *e) {
    if (e->width_on || e->o->mode != MODE_PARALLEL || !e->o->wide || e->o->jobs < 2) return;
    uv_timer_init(&e->loop, &e->width);
    e->width.data = e;
    uv_timer_start(&e->width, on_width, WIDTH_MS, WIDTH_MS);
    e->width_on = 1;
}

/* ---- timeouts ------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t) {
    dcell *c = t->data;
    if (!c->kern) return;
    if (!c->interrupted) {
        core_cell_timed_out(c->eng->core, c->k);
        c->interrupted = 1;
        kpool_signal(c->kern, SIGINT);
        if (c->paused) kpool_signal(c->kern, SIGCONT); /* a stopped kernel would not see it */
        c->paused = 0;
        uv_timer_start(&c->timer, on_timeout, 3000, 0);
    } else {
        kpool_signal(c->kern, SIGKILL);
    }
}

void engine_arm_timeout(engine *e, dcell *c) {
    c->interrupted = 0;
    if (e->o->timeout_s <= 0) return;
    if (!c->timer_init) {
        uv_timer_init(&e->loop, &c->timer);
        c->timer_init = 1;
    }
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)(e->o->timeout_s * 1000), 0);
    c->timer_armed = 1;
}

void engine_disarm_timeout(engine *e, dcell *c) {
    (void)e;
    if (c->timer_armed) uv_timer_stop(&c->timer);
    c->timer_armed = 0;
}

/* ---- signals ---------------------------------------------------------------------- */

static void on_grace(uv_timer_t *t) {
    engine *e = t->data;
    engine_stop(e);
}

static uv_timer_t grace_timer;

static void on_signal(uv_signal_t *s, int signo) {
    engine *e = s->data;
    e->signal_count++;
    if (!e->signo) e->signo = signo;
    if (e->signal_count > 1 || core_running(e->core) == 0) {
        engine_stop(e);
        return;
    }
    if (!e->o->quiet) fprintf(stderr, "\nfloe: interrupted; stopping running cells (again to exit at once)\n");
    e->stopping = 1;
    core_stop(e->core);
    for (size_t k = 0; k < e->ncells; k++)
        if (e->cells[k].kern) {
            kpool_signal(e->cells[k].kern, SIGINT);
            if (e->cells[k].paused) kpool_signal(e->cells[k].kern, SIGCONT);
            e->cells[k].paused = 0;
        }
    uv_timer_init(&e->loop, &grace_timer);
    grace_timer.data = e;
    uv_timer_start(&grace_timer, on_grace, 2000, 0);
}

void engine_signals_start(engine *e) {
    uv_signal_init(&e->loop, &e->sigint);
    uv_signal_init(&e->loop, &e->sigterm);
    e->sigint.data = e->sigterm.data = e;
    uv_signal_start(&e->sigint, on_signal, SIGINT);
    uv_signal_start(&e->sigterm, on_signal, SIGTERM);
    e->signals_on = 1;
}

/* ---- the end ---------------------------------------------------------------------- */

void engine_check_finished(engine *e) {
    if (!e->core || core_running(e->core) > 0) return;
    if (!e->pool && !e->lazy_pool) return;
    if (e->o->mode == MODE_MONOLITHIC && !e->mono) return;
    if (!e->stopping && !core_finished(e->core)) return;
    engine_stop(e);
}

static void close_cb(uv_handle_t *h) { (void)h; }

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, close_cb);
}

void engine_stop(engine *e) {
    if (e->stopping == 2) return;
    e->stopping = 2;
    if (e->core) core_stop(e->core);
    show_progress(e, 1);
    kpool_stop(e->pool);
    uv_walk(&e->loop, close_walk, NULL);
}

json_t *engine_exec_md(engine *e, core_cell *c) {
    char a[40], b[40], d[40], f[40];
    time_iso8601(e->wall0 + (c->t_start - e->t0), a, sizeof a);
    time_iso8601(e->wall0 + (c->t_compute - e->t0), b, sizeof b);
    time_iso8601(e->wall0 + (c->t_end - e->t0), d, sizeof d);
    time_iso8601(e->wall0 + (c->t_done - e->t0), f, sizeof f);
    return json_pack("{s:s,s:s,s:s,s:s}", "iopub.execute_input", b, "iopub.status.busy", a,
                     "iopub.status.idle", f, "shell.execute_reply", d);
}

/* The edges the run waited on (core_edges: what `floe deps` prints), as
 * "waits" in the trace's metadata: [[from, to], ...]. */
static void trace_waits(engine *e) {
    core_edge *v;
    size_t n = core_edges(e->core, &v);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_pack("[I,I]", (json_int_t)v[i].from, (json_int_t)v[i].to));
    core_edges_free(v, n);
    char *s = json_dumps(a, JSON_COMPACT);
    trace_meta(e->tr, "waits", s);
    free(s);
    json_decref(a);
}

int engine_finish(engine *e) {
    if (e->fatal) return e->fatal;
    int stop = core_stop_index(e->core);
    int failed = 0;
    core_apply_display_updates(e->core, stop);
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = core_cell_at(e->core, k);
        int ran = c->state == C_DONE && !c->skip && (int)k <= stop &&
                  (c->t_start || c->dead || c->error || c->restored);
        if (ran) {
            nb_set_outputs(e->nb, c->idx, json_incref(c->outputs), c->count, engine_exec_md(e, c));
            if (c->error && !c->raises) failed = 1;
        } else {
            nb_set_outputs(e->nb, c->idx, json_array(), 0, NULL);
            json_object_del(json_object_get(nb_cell_json(e->nb, c->idx), "metadata"), "execution");
        }
    }
    json_t *li = core_language_info(e->core);
    if (li) json_object_set(json_object_get(nb_root(e->nb), "metadata"), "language_info", li);
    if (e->o->trace_path) {
        trace_meta(e->tr, "notebook", e->o->nb_name ? e->o->nb_name : "");
        const char *modes[] = {"parallel", "serial", "monolithic"};
        trace_meta(e->tr, "mode", modes[e->o->mode]);
        char jobs[16];
        snprintf(jobs, sizeof jobs, "%d", e->o->jobs);
        trace_meta(e->tr, "jobs", jobs);
        /* floe's own CPU time: the scheduler's cost, apart from the kernels' */
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            char cpu[32];
            snprintf(cpu, sizeof cpu, "%lld",
                     (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
                         ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
            trace_meta(e->tr, "floe_cpu_us", cpu);
        }
        char wall[32];
        snprintf(wall, sizeof wall, "%lld", (long long)(time_mono_us() - e->t0));
        trace_meta(e->tr, "wall_us", wall);
        trace_waits(e);
        for (int r = 0; r < core_stats(e->core)->kernels + 1; r++) {
            char name[32];
            snprintf(name, sizeof name, "kernel %d", r);
            trace_row_name(e->tr, r, name);
        }
        int rc = trace_write(e->tr, e->o->trace_path);
        if (rc < 0) fprintf(stderr, "floe: cannot write trace %s: %s\n", e->o->trace_path, strerror(-rc));
    }
    core_stats_mut(e->core)->wall_s = (double)(time_mono_us() - e->t0) / 1e6;
    if (e->signo) return 128 + e->signo;
    if (e->o->allow_errors) return 0;
    return failed ? 1 : 0;
}

void engine_remove_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = xasprintf("%s/%s", path, de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

/* --keep-run: the run's artifact files (name@version.codec) are copied out
 * of shared memory before it is removed, for `floe artifact`. */
static void keep_artifacts(const char *from, const char *to, int quiet) {
    if (mkdir(to, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "floe: cannot create %s: %s\n", to, strerror(errno));
        return;
    }
    DIR *d = opendir(from);
    if (!d) return;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strchr(de->d_name, '@')) continue;
        char *src = xasprintf("%s/%s", from, de->d_name), *dst = xasprintf("%s/%s", to, de->d_name);
        size_t len;
        char *data = read_file(src, &len);
        if (data && write_file_atomic(dst, data, len, WRITE_DURABLE) == 0) n++;
        else fprintf(stderr, "floe: cannot keep %s in %s\n", de->d_name, to);
        free(data);
        free(src);
        free(dst);
    }
    closedir(d);
    if (!quiet) fprintf(stderr, "floe: kept %d artifact files in %s\n", n, to);
}

void engine_cleanup(engine *e) {
    if (e->pool) kpool_stop(e->pool);
    uv_walk(&e->loop, close_walk, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop);
    kpool_free(e->pool);
    e->pool = NULL;
    if (e->run_dir && e->o->keep_run) keep_artifacts(e->run_dir, e->o->keep_run, e->o->quiet);
    if (e->run_dir) engine_remove_dir(e->run_dir);
    free(e->run_dir);
    core_free(e->core);
    e->core = NULL;
    free(e->cells);
    free(e->idle);
    free(e->preforks);
    free(e->holders);
    cache_close(e->cache);
    free(e->cache_env);
    json_decref(e->hello_li);
    trace_free(e->tr);
}
