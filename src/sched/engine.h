/* engine.h — runs a notebook: the cells, their kernels, the scope of
 * artifacts, and the scheduling policy of each mode.
 *
 *   monolithic  one kernel runs every cell in order (Jupyter's model)
 *   serial      every cell in a fresh kernel, one at a time, state moved
 *               as versioned artifacts
 *   parallel    like serial, but a cell starts as soon as the cells it is
 *               predicted to read from are done; mispredictions are fixed
 *               at run time (lazy reads, re-runs of stale readers)
 *
 * The engine owns a libuv loop for the duration of engine_run. Outputs are
 * written into the nb model; the caller saves it. */
#ifndef FLOE_ENGINE_H
#define FLOE_ENGINE_H

#include "nb/nb.h"

typedef enum { MODE_PARALLEL, MODE_SERIAL, MODE_MONOLITHIC } run_mode;

/* Which ready cell a free kernel takes in parallel mode (see policy.c):
 * the first in notebook order, or the one with the longest remaining
 * (duration-weighted) path to the end of the dependency graph. */
typedef enum { SCHED_ORDER, SCHED_CRITICAL } sched_policy;

typedef struct run_opts {
    run_mode mode;
    int jobs;              /* kernels running at once (parallel) */
    sched_policy schedule; /* parallel mode's choice among ready cells */
    int stagger_ms;        /* readers of one large artifact start this far apart, 0 = off */
    int allow_errors;
    double timeout_s;      /* per cell, 0 = none */
    long long mem_limit;   /* bytes a kernel may allocate, 0 = no limit */
    int warm_idle_s;       /* > 0: a warm zygote serves the run and stays this long (--warm) */
    int quiet;
    int lazy_always;       /* every isolated cell resolves names lazily */
    const char *python;
    const char *pythonpath;
    const char *preload;
    const char *trace_path;
    const char *nb_name;   /* for messages and the trace */
    const char *cwd;       /* kernels' working directory: the notebook's */
    const char *cache_dir; /* persistent cache, or NULL for none */
    const char *keep_run;  /* copy the run's artifacts here at the end, or NULL */
    /* Progress (engine_save.c), both optional, both called on the loop with
     * the nb holding every finished cell's outputs so far (borrowed):
     * on_cell_done as each cell finishes, with its cell index; on_save at
     * most once every save_every_ms (default 2000) after cells finished,
     * e.g. to write the notebook so far. A cell may still be re-run after
     * on_cell_done (a stale read); the final nb is the one to keep. */
    void (*on_cell_done)(void *arg, nb *n, size_t cell);
    void (*on_save)(void *arg, nb *n);
    void *progress_arg;
    int save_every_ms;
} run_opts;

typedef struct run_stats {
    int cells_run, cells_restored, cells_failed, reruns, lazy_reads, kernels;
    double wall_s;
} run_stats;

/* Runs every code cell of n. Returns 0 when all ran without (unexpected)
 * error, 1 when a cell failed, 2 when the run could not start (message
 * printed), 130/143 when interrupted by SIGINT/SIGTERM. */
int engine_run(nb *n, const run_opts *o, run_stats *stats);

/* What a cached result depends on besides its inputs: the interpreter, by
 * its resolved path, size and mtime (which change when Python is upgraded),
 * known without starting it. Not the preload set: preloading only imports
 * modules earlier. Returns a new string. */
char *engine_interpreter_id(const char *python);

#endif
