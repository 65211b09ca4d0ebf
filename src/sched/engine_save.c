/* engine_save.c — the notebook so far, for progress on disk: each finished
 * cell's outputs go into the nb model as it finishes, the front end hears
 * of it at once (on_cell_done) and gets the nb to save at most once every
 * save_every_ms (on_save), from a one-shot timer armed by the first cell to
 * finish after the last save. So a killed floe leaves every cell that
 * finished more than save_every_ms before. Saving a huge notebook is not
 * free: the next save also waits at least 9x as long as the last one took,
 * so that saves never take more than a tenth of the run. */
#include "sched/engine_internal.h"

static void on_save_timer(uv_timer_t *t) {
    engine *e = t->data;
    e->save_armed = 0;
    int64_t t0 = time_mono_us();
    if (e->stopping != 2) e->o->on_save(e->o->progress_arg, e->nb);
    int64_t t1 = time_mono_us();
    e->save_last = t1 + 9 * (t1 - t0);
}

static void arm_save(engine *e) {
    if (e->save_armed || e->stopping == 2) return;
    if (!e->save_init) {
        uv_timer_init(&e->loop, &e->save_timer);
        e->save_timer.data = e;
        e->save_init = 1;
    }
    int64_t every = (e->o->save_every_ms > 0 ? e->o->save_every_ms : 2000) * 1000LL;
    int64_t wait = e->save_last + every - time_mono_us();
    uv_timer_start(&e->save_timer, on_save_timer, wait > 0 ? (uint64_t)(wait / 1000) : 0, 0);
    e->save_armed = 1;
}

void engine_save_note(engine *e, size_t k) {
    const run_opts *o = e->o;
    core_cell *c = core_cell_at(e->core, k);
    if ((!o->on_cell_done && !o->on_save) || c->skip) return;
    nb_set_outputs(e->nb, c->idx, json_incref(c->outputs), c->count, engine_exec_md(e, c));
    if (o->on_cell_done) o->on_cell_done(o->progress_arg, e->nb, c->idx);
    if (o->on_save) arm_save(e);
}
