/* engine_internal.h — the local driver's state, shared by engine.c (setup,
 * kernels, carrying out the core's actions) and engine_run.c (timeouts,
 * signals, progress, the trace, the end). What a cell does next is decided
 * in core/; this state is only what it takes to act: the loop, the pool,
 * which kernel runs which cell, timers.
 * Ownership: the engine owns its core, pool, kernels' bookkeeping and trace. */
#ifndef FLOE_ENGINE_INTERNAL_H
#define FLOE_ENGINE_INTERNAL_H

#include <jansson.h>
#include <uv.h>

#include "core/core.h"
#include "kernel/kpool.h"
#include "sched/engine.h"
#include "trace/trace.h"
#include "util/util.h"

/* A cell as the driver sees it: the kernel it runs in and its timer. */
typedef struct dcell {
    size_t k;
    kernel *kern;          /* while running */
    int trace_row;         /* the trace row (kernel) of its last run */
    uv_timer_t timer;
    int timer_init, timer_armed, interrupted;
    struct engine *eng;
    /* its kernel's CPU time (clock ticks) when last sampled (engine_run.c on_width) */
    unsigned long long cpu_ticks;
    int64_t cpu_t;         /* when, 0 = not yet for this attempt */
    int cpu_pid;
    int paused;            /* its kernel is stopped (CA_PAUSE): SIGCONT before it leaves the cell */
} dcell;

typedef struct engine {
    uv_loop_t loop;
    nb *nb;
    const run_opts *o;     /* &opts */
    run_opts opts;         /* the caller's options; jobs 0 (--dask): the cluster's threads, from hello */
    core *core;
    dcell *cells;
    size_t ncells;
    int lazy_pool;         /* the zygote starts only once a cell must run */
    kpool *pool;
    kernel *mono;
    kernel **idle;
    kernel **preforks;     /* forked ahead of demand, not ready yet, no cell */
    size_t npreforks;
    size_t nidle, capidle;
    int forking;
    kernel **holders;      /* holder id -> its kernel (core.h CA_KEEP) */
    size_t nholders;
    char *run_dir;
    trace *tr;
    int64_t t0, wall0, t_ready;
    int stopping, fatal, signal_count, signo;
    uv_signal_t sigint, sigterm;
    uv_timer_t progress;
    uv_timer_t width;      /* samples running kernels' CPU use (wide cells) */
    int width_on;
    int signals_on, progress_on, progress_shown;
    struct cache *cache;
    char *cache_env;
    uv_timer_t stagger;    /* wakes the core when a staggered start is due */
    int stagger_init;
    json_t *hello_li;      /* the zygote's language_info */
    uv_timer_t save_timer; /* engine_save.c: the next on_save */
    int save_init, save_armed;
    int said_unguaranteed; /* a cell's output Jupyter's is not guaranteed for: said once on stderr */
    int64_t save_last;
} engine;

/* Carries out the core's queued actions, keeps kernels forked ahead, and
 * ends the run when the core is finished. Call after every core event. */
void engine_pump(engine *e);

/* engine_run.c */
void engine_trace_cell(engine *e, dcell *d, json_t *done);
void engine_progress(engine *e);
void engine_width_start(engine *e);
void engine_arm_timeout(engine *e, dcell *d);
void engine_disarm_timeout(engine *e, dcell *d);
void engine_signals_start(engine *e);
void engine_check_finished(engine *e);
void engine_stop(engine *e);
int engine_finish(engine *e);
void engine_cleanup(engine *e);

/* metadata.execution of a finished cell, as nbclient writes it (new ref). */
json_t *engine_exec_md(engine *e, core_cell *c);

/* engine_save.c */
/* Cell k finished: its outputs go into the nb, on_cell_done is called and
 * an on_save is due within save_every_ms. No-op without callbacks. */
void engine_save_note(engine *e, size_t k);


/* Starts the zygote (deferred while the cache may restore everything).
 * 0, or -1 after reporting the error and stopping the run. */
int engine_start_pool(engine *e);

#endif
