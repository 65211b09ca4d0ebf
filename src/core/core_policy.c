/* core_policy.c — which ready cell starts next in parallel mode, and when.
 *
 * --schedule order: among ready cells, the first in notebook order (the
 * core's loop as it is, e->order stays NULL).
 *
 * --schedule critical: among ready cells, the one with the longest
 * remaining path to the end of the predicted dependency graph, ties in
 * notebook order. A cell's rank is its expected duration plus the largest
 * rank among the cells that wait for it: those that list it as a predicted
 * producer (core_cell.deps) and, since an open-world cell waits for every
 * earlier cell, every later open-world cell. Expected duration: the time
 * the cell took (dispatch to done) in an earlier run, from the result cache
 * (any entry for the same source; cache entries record it); else a static
 * estimate of one unit, where a unit is the median of the known durations.
 * When no duration is known at all, notebook order (see core_sched_plan).
 * The ranks are computed once, before the run; cells re-run after a
 * misprediction keep theirs.
 *
 * --stagger MS: a ready cell whose predicted inputs include a large
 * artifact (>= STAGGER_MIN_BYTES) does not start within MS of a running
 * cell that started reading the same artifact; it waits for the rest of
 * the MS (a timer wakes the scheduler), and meanwhile a free kernel may
 * take another ready cell. A burst of readers released by one writer thus
 * starts MS apart instead of all mapping the artifact at the same moment;
 * readers that start later anyway (a kernel freed up) are not delayed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

/* Artifacts smaller than this are cheap to read at once: never staggered. */
#define STAGGER_MIN_BYTES (1LL << 20)

/* ---- critical path ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sets every cell's weight: its duration from the cache, else the unit.
 * Returns how many durations were known. */
static size_t set_weights(core *e) {
    double *known = xcalloc(e->ncells ? e->ncells : 1, sizeof *known);
    size_t nknown = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        c->weight = c->skip ? 0 : c->expect;
        if (c->weight >= 0 && !c->skip) known[nknown++] = c->weight;
    }
    double unit = 1;
    if (nknown) {
        qsort(known, nknown, sizeof *known, cmp_double);
        unit = known[nknown / 2];
    }
    for (size_t k = 0; k < e->ncells; k++)
        if (e->cells[k].weight < 0) e->cells[k].weight = unit;
    free(known);
    return nknown;
}

/* rank = weight + the largest rank of a cell waiting for it. Producers
 * come before their consumers, so one pass from the end is enough: when
 * cell k is reached, every cell that waits for it has its final rank. */
static void set_ranks(core *e) {
    double *wait = xcalloc(e->ncells ? e->ncells : 1, sizeof *wait);
    double open_max = 0; /* largest rank of an open-world cell after k */
    for (size_t k = e->ncells; k-- > 0;) {
        core_cell *c = &e->cells[k];
        double below = wait[k] > open_max ? wait[k] : open_max;
        c->rank = c->weight + below;
        for (size_t i = 0; i < c->deps.n; i++)
            if (wait[c->deps.v[i]] < c->rank) wait[c->deps.v[i]] = c->rank;
        if (c->open_world && c->rank > open_max) open_max = c->rank;
    }
    free(wait);
}

static const core *sort_core;

static int by_rank(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    double rx = sort_core->cells[x].rank, ry = sort_core->cells[y].rank;
    if (rx != ry) return rx > ry ? -1 : 1;
    return x < y ? -1 : x > y;
}

void core_sched_plan(core *e) {
    if (e->o->mode != MODE_PARALLEL || e->o->schedule != SCHED_CRITICAL || !e->ncells) return;
    if (!set_weights(e)) {
        /* No duration known (a first run, --no-cache): notebook order. One
         * unit per cell ranked later cells first, and a kernel that ran a
         * later cell cannot take an earlier one (its process state is ahead
         * of it), so short cells each paid a new kernel: pydata-book ch05,
         * 142 short cells, 2.3-3.8 s against 1.1-1.2 s in notebook order. */
        if (getenv("FLOE_DEBUG")) fprintf(stderr, "floe: critical path: no durations known, notebook order\n");
        return;
    }
    set_ranks(e);
    e->order = xmalloc(e->ncells * sizeof *e->order);
    for (size_t k = 0; k < e->ncells; k++) e->order[k] = k;
    sort_core = e;
    qsort(e->order, e->ncells, sizeof *e->order, by_rank);
    sort_core = NULL;
    if (getenv("FLOE_DEBUG"))
        for (size_t i = 0; i < e->ncells; i++) {
            const core_cell *c = &e->cells[e->order[i]];
            fprintf(stderr, "floe: critical path: cell %zu rank %.3f (weight %.3f)\n", e->order[i], c->rank,
                    c->weight);
        }
}

/* ---- wide cells ---------------------------------------------------------------- */

/* A running cell counts as wide from this many cores on, and stops
 * counting below WIDE_OFF (hysteresis: a thread pool's use goes up and
 * down with the cell's phases). */
#define WIDE_ON 1.4
#define WIDE_OFF 1.15

/* The cores wide running cells use beyond the one each is counted for:
 * in parallel mode the limit of cells at once goes down by as much, so
 * that a cell running an OpenMP or BLAS pool on every core does not share
 * them with cells started beside it (an OpenMP pool oversubscribed waits
 * at its barriers: scikit-learn's TSNE took 2.2x as long). Cells already
 * running go on. FLOE_WIDE=0: off. */
int core_wide_extra(core *e) {
    if (e->o->mode != MODE_PARALLEL || !e->o->wide) return 0;
    double extra = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        const core_cell *c = &e->cells[k];
        if (c->state == C_RUNNING && c->wide) extra += c->cpu < 2 ? 1 : c->cpu - 1;
    }
    return (int)(extra + 0.5);
}

void core_cell_cpu(core *e, size_t k, double cores, int runnable) {
    if (k >= e->ncells || e->cells[k].state != C_RUNNING || e->cells[k].paused) return;
    core_cell *c = &e->cells[k];
    int was = c->wide, before = core_wide_extra(e);
    /* several threads ready to run, twice in a row: a pool that shares the
     * cores with another cell's uses no more than its share of them, but
     * it is as wide */
    int pool = e->o->wide_pause && runnable >= 2 && c->runnable >= 2;
    c->runnable = runnable;
    c->cpu = cores;
    c->wide = pool || (was ? cores >= WIDE_OFF : cores >= WIDE_ON);
    if (c->wide != was) {
        char args[64];
        snprintf(args, sizeof args, "{\"cores\":%.2f,\"threads\":%d}", cores, runnable);
        trace_complete(e->tr, c->wide ? "wide" : "narrow", (int)k, 0, time_mono_us(), 0, args);
    }
    if (core_wide_extra(e) < before) core_schedule(e); /* room again */
    else core_balance(e);
}

/* Cells already running when one of them turns out wide share the cores
 * with it, and an OpenMP pool that shares them waits at every barrier for
 * its threads that lost the core (libgomp spins meanwhile): two such cells
 * side by side took 3x as long each (pdsh 05.11's K-Means beside TSNE).
 * So while a wide cell runs, the running cells take the cores in notebook
 * order -- a wide one its cores, any other one -- and those that do not fit
 * are stopped (SIGSTOP) until the cores are free again; the first always
 * runs. A cell waiting for a lazy read uses none. Paused cells keep their
 * width as it was. Off unless FLOE_WIDE_PAUSE=1: on a 2-core VM it paused
 * and resumed cells every few hundred ms on pdsh 05.12 (kernels at 0.6
 * cores with two threads ready looked wide) and made it slower, one run. */
void core_balance(core *e) {
    if (e->o->mode != MODE_PARALLEL || !e->o->wide || !e->o->wide_pause || e->stopping) return;
    int any_wide = 0;
    for (size_t k = 0; k < e->ncells && !any_wide; k++)
        any_wide = e->cells[k].state == C_RUNNING && e->cells[k].wide;
    double used = 0, budget = e->o->jobs;
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        if (c->state != C_RUNNING) {
            c->paused = 0; /* its kernel goes on when the driver lets it go (engine.c unbind) */
            continue;
        }
        double w = c->parked ? 0 : !c->wide ? 1 : c->cpu > 2 ? c->cpu : 2;
        if (w > budget) w = budget;
        int run = !any_wide || used == 0 || used + w <= budget + 0.01 || c->timed_out;
        if (run) used += w;
        if (run == !c->paused) continue;
        c->paused = !run;
        core_push(e, run ? CA_RESUME : CA_PAUSE, k);
        char args[64];
        snprintf(args, sizeof args, "{\"cores_in_use\":%.2f}", used);
        trace_complete(e->tr, run ? "resume" : "pause", (int)k, 0, time_mono_us(), 0, args);
    }
}

/* ---- stagger ------------------------------------------------------------------ */

/* The path of the largest artifact of at least STAGGER_MIN_BYTES that cell
 * k is predicted to read, as things stand now; NULL when there is none. */
static const char *big_input(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    const char *best = NULL;
    long long most = STAGGER_MIN_BYTES - 1;
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        core_artifact *art = NULL;
        long from;
        if (core_resolve(e, k, c->pred_reads.v[i], &art, &from) != RES_FOUND) continue;
        if (art->path && art->size > most) {
            most = art->size;
            best = art->path;
        }
    }
    return best;
}

/* Wakes the scheduler at `due` (monotonic us), or earlier if already set. */
void core_wake_at(core *e, int64_t due) {
    if (e->stagger_armed && e->stagger_due <= due) return;
    core_push(e, CA_WAKE, 0)->t = due;
    e->stagger_armed = 1;
    e->stagger_due = due;
}

int core_stagger_wait(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    free(c->big);
    c->big = NULL;
    if (e->o->mode != MODE_PARALLEL || e->o->stagger_ms <= 0) return 0;
    const char *big = big_input(e, k);
    if (!big) return 0;
    c->big = xstrdup(big);
    int64_t gap = (int64_t)e->o->stagger_ms * 1000, now = time_mono_us(), due = 0;
    for (size_t j = 0; j < e->ncells; j++) {
        core_cell *r = &e->cells[j];
        if (j == k || r->state != C_RUNNING || !r->big || strcmp(r->big, big) != 0) continue;
        if (r->t_dispatch + gap > now && r->t_dispatch + gap > due) due = r->t_dispatch + gap;
    }
    if (!due) return 0;
    core_wake_at(e, due);
    return 1;
}

void core_policy_free(core *e) {
    for (size_t k = 0; k < e->ncells; k++) {
        free(e->cells[k].big);
        e->cells[k].big = NULL;
    }
    free(e->order);
    e->order = NULL;
}
