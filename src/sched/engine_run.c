/* engine_run.c — what happens around the scheduling: taking a cell's
 * results, display updates, dead kernels, timeouts, signals, progress,
 * the trace, and writing results back into the notebook at the end. */
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

static json_t *error_output(const char *ename, const char *evalue) {
    json_t *tb = json_array();
    char *line = xasprintf("\033[0;31m%s\033[0m: %s", ename, evalue);
    json_array_append_new(tb, json_string(line));
    free(line);
    return json_pack("{s:s,s:s,s:s,s:o}", "output_type", "error", "ename", ename, "evalue", evalue, "traceback", tb);
}

static void set_error(cellrun *c, const char *ename, const char *evalue) {
    c->error = 1;
    free(c->ename);
    free(c->evalue);
    c->ename = xstrdup(ename);
    c->evalue = xstrdup(evalue);
    json_array_append_new(c->outputs, error_output(ename, evalue));
}

static void take_times(cellrun *c, json_t *done) {
    c->t_start = json_integer_value(json_object_get(done, "t_start"));
    c->t_compute = json_integer_value(json_object_get(done, "t_compute"));
    c->t_end = json_integer_value(json_object_get(done, "t_end"));
    c->t_done = json_integer_value(json_object_get(done, "t_done"));
}

void engine_take_results(engine *e, cellrun *c, json_t *done) {
    (void)e;
    if (!done) return; /* dead kernel: engine_kernel_died set the error */
    take_times(c, done);
    const char *status = json_string_value(json_object_get(done, "status"));
    if (status && !strcmp(status, "import-error")) {
        char *msg = xasprintf("cannot import '%s' into this cell: %s",
                              json_string_value(json_object_get(done, "name")),
                              json_string_value(json_object_get(done, "evalue")));
        set_error(c, "FloeArtifactError", msg);
        free(msg);
        return;
    }
    json_t *outs = json_object_get(done, "outputs");
    if (json_is_array(outs)) {
        json_decref(c->outputs);
        c->outputs = json_incref(outs);
    }
    json_t *ids = json_object_get(done, "display_ids");
    if (json_is_object(ids)) {
        json_decref(c->display_ids);
        c->display_ids = json_incref(ids);
    }
    json_t *ex = json_object_get(done, "exports");
    if (json_is_array(ex)) {
        json_decref(c->exports);
        c->exports = json_incref(ex);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(done, "unmovable"), i, v) {
        json_t *a = json_deep_copy(v);
        json_object_set_new(a, "codec", json_string("unmovable"));
        json_object_set_new(a, "cell", json_integer((json_int_t)(c - e->cells)));
        json_array_append_new(c->exports, a);
    }
    json_array_foreach(json_object_get(done, "deletes"), i, v) strvec_push(&c->deletes, json_string_value(v));
    if (status && !strcmp(status, "error")) {
        c->error = 1;
        const char *en = json_string_value(json_object_get(done, "ename"));
        const char *ev = json_string_value(json_object_get(done, "evalue"));
        c->ename = en ? xstrdup(en) : NULL;
        c->evalue = ev ? xstrdup(ev) : NULL;
    }
    if (c->timed_out) {
        char *msg = xasprintf("A cell timed out while it was being executed, after %g seconds.", e->o->timeout_s);
        set_error(c, "CellTimeoutError", msg);
        free(msg);
    }
}

void engine_update_display(engine *e, cellrun *c, json_t *msg) {
    (void)e;
    if (!json_string_value(json_object_get(msg, "display_id"))) return;
    if (!c->updates) c->updates = json_array();
    json_array_append(c->updates, msg);
}

/* The last update of display `id` sent by cell j, or NULL. */
static json_t *last_update(const cellrun *j, const char *id) {
    for (size_t u = json_array_size(j->updates); u-- > 0;) {
        json_t *msg = json_array_get(j->updates, u);
        if (!strcmp(json_string_value(json_object_get(msg, "display_id")), id)) return msg;
    }
    return NULL;
}

/* Every output that carries a display id shows the last update of that id
 * sent, in notebook order, by a later cell that ran up to `stop` (a cell's
 * updates of its own outputs are applied by its kernel). Computed from the
 * final results, not as updates arrive: in parallel mode two cells updating
 * one display finish in any order. */
static void apply_display_updates(engine *e, int stop) {
    size_t last = stop < 0 || (size_t)stop >= e->ncells ? e->ncells : (size_t)stop + 1;
    for (size_t d = 0; d < last; d++) {
        cellrun *c = &e->cells[d];
        const char *id;
        json_t *idx;
        json_object_foreach(c->display_ids, id, idx) {
            json_t *msg = NULL;
            for (size_t j = last; j-- > d + 1 && !msg;)
                if (e->cells[j].state == C_DONE) msg = last_update(&e->cells[j], id);
            if (!msg) continue;
            size_t i;
            json_t *v;
            json_array_foreach(idx, i, v) {
                json_t *out = json_array_get(c->outputs, (size_t)json_integer_value(v));
                if (!out) continue;
                json_object_set(out, "data", json_object_get(msg, "data"));
                json_t *md = json_object_get(msg, "metadata");
                json_object_set_new(out, "metadata", md ? json_incref(md) : json_object());
            }
        }
    }
}

void engine_kernel_died(engine *e, cellrun *c, kernel *kn) {
    (void)e;
    engine_disarm_timeout(e, c);
    c->dead = 1;
    c->t_end = c->t_done = time_mono_us();
    if (!c->t_start) c->t_start = c->t_compute = c->t_dispatch;
    if (c->timed_out) {
        char *msg = xasprintf("A cell timed out while it was being executed, after %g seconds.", e->o->timeout_s);
        set_error(c, "CellTimeoutError", msg);
        free(msg);
        return;
    }
    char *msg = kn->exit_signal ? xasprintf("Kernel died: killed by signal %d (%s)", kn->exit_signal, strsignal(kn->exit_signal))
                                : xasprintf("Kernel died: exit status %d", kn->exit_code);
    set_error(c, "DeadKernelError", msg);
    free(msg);
}

void engine_trace_cell(engine *e, cellrun *c, json_t *done) {
    int row = c->kern ? c->kern->id : 0;
    c->trace_row = row;
    int k = (int)(c - e->cells);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(done, "events"), i, ev) {
        char *args = json_dumps(json_object_get(ev, "args"), JSON_COMPACT);
        trace_complete(e->tr, json_string_value(json_object_get(ev, "name")), k, row,
                       json_integer_value(json_object_get(ev, "start")), json_integer_value(json_object_get(ev, "dur")),
                       args);
        free(args);
    }
    if (!done) trace_complete(e->tr, "compute", k, row, c->t_dispatch, time_mono_us() - c->t_dispatch, "{\"dead\":true}");
    /* dependency arrows from the cells it read */
    for (size_t r = 0; r < c->nreads; r++) {
        long f = c->reads[r].from;
        if (f < 0) continue;
        cellrun *src = &e->cells[f];
        trace_flow(e->tr, (int)f, src->trace_row, src->t_end, k, row, c->t_dispatch, c->reads[r].name);
    }
}

/* ---- progress --------------------------------------------------------------- */

static size_t count_done(engine *e, size_t *total) {
    size_t d = 0, t = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        if (e->cells[k].skip) continue;
        t++;
        d += e->cells[k].state == C_DONE;
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
        fprintf(stderr, "\rfloe: %zu/%zu cells, %d running, %.1fs%s", done, total, e->running, el, final ? "\n" : "   ");
    } else if (final || done != (size_t)e->progress_shown - 1) {
        fprintf(stderr, "floe: %zu/%zu cells, %d running, %.1fs\n", done, total, e->running, el);
    }
    e->progress_shown = (int)done + 1;
}

static void on_progress(uv_timer_t *t) { show_progress(t->data, 0); }

void engine_progress(engine *e, cellrun *c) {
    (void)c;
    if (!e->progress_on && !e->o->quiet) {
        uv_timer_init(&e->loop, &e->progress);
        e->progress.data = e;
        uv_timer_start(&e->progress, on_progress, 1000, 500);
        e->progress_on = 1;
    }
}

/* ---- timeouts ------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t) {
    cellrun *c = t->data;
    if (!c->kern || c->state != C_RUNNING) return;
    if (!c->interrupted) {
        c->timed_out = 1;
        c->interrupted = 1;
        kpool_signal(c->kern, SIGINT);
        uv_timer_start(&c->timer, on_timeout, 3000, 0);
    } else {
        kpool_signal(c->kern, SIGKILL);
    }
}

void engine_arm_timeout(engine *e, cellrun *c) {
    c->timed_out = c->interrupted = 0;
    if (e->o->timeout_s <= 0) return;
    if (!c->timer_init) {
        uv_timer_init(&e->loop, &c->timer);
        c->timer_init = 1;
    }
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)(e->o->timeout_s * 1000), 0);
    c->timer_armed = 1;
}

void engine_disarm_timeout(engine *e, cellrun *c) {
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
    if (e->signal_count > 1 || e->running == 0) {
        engine_stop(e);
        return;
    }
    if (!e->o->quiet) fprintf(stderr, "\nfloe: interrupted; stopping running cells (again to exit at once)\n");
    e->stopping = 1;
    for (size_t k = 0; k < e->ncells; k++)
        if (e->cells[k].state == C_RUNNING && e->cells[k].kern) kpool_signal(e->cells[k].kern, SIGINT);
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
    if (e->running > 0) return;
    if (!e->pool && !e->lazy_pool) return;
    if (e->o->mode == MODE_MONOLITHIC && !e->mono) return;
    if (!e->stopping && !e->mono_dead) {
        int stop = engine_stop_index(e);
        for (size_t k = 0; k < e->ncells && (int)k <= stop; k++)
            if (e->cells[k].state != C_DONE) return;
    }
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
    show_progress(e, 1);
    kpool_stop(e->pool);
    uv_walk(&e->loop, close_walk, NULL);
}

json_t *engine_exec_md(engine *e, cellrun *c) {
    char a[40], b[40], d[40], f[40];
    time_iso8601(e->wall0 + (c->t_start - e->t0), a, sizeof a);
    time_iso8601(e->wall0 + (c->t_compute - e->t0), b, sizeof b);
    time_iso8601(e->wall0 + (c->t_end - e->t0), d, sizeof d);
    time_iso8601(e->wall0 + (c->t_done - e->t0), f, sizeof f);
    return json_pack("{s:s,s:s,s:s,s:s}", "iopub.execute_input", b, "iopub.status.busy", a,
                     "iopub.status.idle", f, "shell.execute_reply", d);
}

int engine_finish(engine *e) {
    if (e->fatal) return e->fatal;
    int stop = engine_stop_index(e);
    int failed = 0;
    apply_display_updates(e, stop);
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
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
    if (e->language_info)
        json_object_set(json_object_get(nb_root(e->nb), "metadata"), "language_info", e->language_info);
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
        for (int r = 0; r < e->stats.kernels + 1; r++) {
            char name[32];
            snprintf(name, sizeof name, "kernel %d", r);
            trace_row_name(e->tr, r, name);
        }
        int rc = trace_write(e->tr, e->o->trace_path);
        if (rc < 0) fprintf(stderr, "floe: cannot write trace %s: %s\n", e->o->trace_path, strerror(-rc));
    }
    e->stats.wall_s = (double)(time_mono_us() - e->t0) / 1e6;
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
        if (data && write_file_atomic(dst, data, len) == 0) n++;
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
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        cell_reset_results(c);
        json_decref(c->outputs);
        json_decref(c->display_ids);
        json_decref(c->exports);
        json_decref(c->updates);
        free(c->reads);
        strvec_free(&c->pred_reads);
        strvec_free(&c->pred_writes);
        free(c->deps);
        strvec_free(&c->need_later);
        strvec_free(&c->known_writes);
        strvec_free(&c->files_seen);
        free(c->rng_path);
    }
    strvec_free(&e->contended);
    sched_free(e);
    free(e->cells);
    free(e->idle);
    free(e->preforks);
    cache_close(e->cache);
    free(e->cache_env);
    json_decref(e->language_info);
    json_decref(e->writers);
    free(e->opens);
    trace_free(e->tr);
}
