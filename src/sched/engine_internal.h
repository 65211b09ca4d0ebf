/* engine_internal.h — the engine's state, shared by engine.c (scheduling,
 * scope) and engine_run.c (results, timeouts, signals, progress, finish). */
#ifndef FLOE_ENGINE_INTERNAL_H
#define FLOE_ENGINE_INTERNAL_H

#include <jansson.h>
#include <uv.h>

#include "kernel/kpool.h"
#include "sched/engine.h"
#include "trace/trace.h"
#include "util/util.h"

typedef enum { C_PENDING, C_RUNNING, C_DONE } cell_state;

/* The pseudo-artifact of process state: the random generators' state and
 * the working directory (kernel.py: RNG). */
#define RNG_NAME "__floe_state__"
enum { RES_FOUND, RES_NONE, RES_WAIT };

typedef struct cellread { char *name; long from; } cellread;

typedef struct cellrun {
    size_t idx;            /* index in the notebook's cells */
    const char *src;       /* borrowed from the nb */
    int count;             /* execution count, 0 if not executed */
    int skip, raises;      /* empty or skip-execution; raises-exception */
    cell_state state;
    int attempt;
    kernel *kern;
    kernel *holder;        /* kept alive after this cell: it holds values that cannot
                            * move (generators, open files...) for the cells that read them */
    int in_holder;         /* the current attempt runs in such a kernel */
    strvec pred_reads, pred_writes;
    strvec need_later;     /* names later cells are predicted to read */
    strvec known_writes;   /* names any attempt of this cell exported */
    int trace_row;         /* the trace row (kernel) of its last run */
    long rng_from;         /* the cell whose random state this attempt started with, or -1 */
    char *rng_path;        /* that state's file, or NULL: a re-run of rng_from writes another */
    size_t *deps;          /* predicted producers: earlier cells that may write a
                            * name this one reads, and earlier open-world cells */
    size_t ndeps;
    int export_all;        /* a later cell may read anything, or a dropped name was needed */
    int open_world, lazy, lazy_now;
    /* results of the current attempt */
    json_t *outputs, *display_ids, *exports;
    json_t *updates;       /* update_display messages it sent (replayed on restore) */
    strvec deletes;
    cellread *reads;
    size_t nreads, capreads;
    char *ename, *evalue;
    int error, timed_out, dead, restored;
    char *need;            /* a lazy read waiting for an answer */
    int parked;
    int64_t t_ready, t_dispatch, t_park, t_start, t_compute, t_end, t_done;
    uv_timer_t timer;
    int timer_init, timer_armed, interrupted;
    double weight, rank;   /* expected duration; longest path from it to the end (policy.c) */
    char *big;             /* the large artifact (path) it reads, for --stagger, or NULL */
    strvec rfiles, wfiles; /* files the current attempt read / wrote (kernel.py FileInputs) */
    strvec tfiles;         /* of wfiles, those written from scratch (truncated, created, removed) */
    strvec files_seen;     /* contended files (e->contended) any attempt touched */
    uint64_t start_seq, done_seq; /* when the attempt started / finished, in e->seq steps */
    struct engine *eng;
} cellrun;

typedef struct engine {
    uv_loop_t loop;
    nb *nb;
    const run_opts *o;
    cellrun *cells;
    size_t ncells;
    size_t settled;        /* cells [0, settled) are done or skipped */
    int lazy_pool;         /* the zygote starts only once a cell must run */
    kpool *pool;
    kernel *mono;
    kernel **idle;
    kernel **preforks;     /* forked ahead of demand, not ready yet, no cell */
    size_t npreforks;
    size_t nidle, capidle;
    int forking, running, parked;
    long version;
    uint64_t seq;          /* orders cell starts and finishes (files as channels) */
    strvec contended;      /* files two cells raced on: their users now run in notebook order */
    char *run_dir;
    trace *tr;
    json_t *language_info;
    json_t *writers;       /* name -> [cells that may write, wrote or deleted it] */
    size_t *opens, nopens; /* open-world cells, ascending */
    int64_t t0, wall0, t_ready;
    int stopping, fatal, signal_count, signo, mono_dead;
    uv_signal_t sigint, sigterm;
    uv_timer_t progress;
    int signals_on, progress_on, progress_shown;
    run_stats stats;
    struct cache *cache;
    char *cache_env;
    size_t *order;         /* the cells in the order of preference (policy.c), or NULL: notebook order */
    uv_timer_t stagger;    /* wakes the scheduler when a staggered start is due */
    int stagger_init, stagger_armed;
    int64_t stagger_due;
    uv_timer_t save_timer; /* engine_save.c: the next on_save */
    int save_init, save_armed;
    int64_t save_last;
} engine;

int engine_resolve(engine *e, size_t k, const char *name, json_t **art, long *from);
void engine_schedule(engine *e);
int engine_stop_index(engine *e);
void cell_reset_results(cellrun *c);
void engine_record_read(cellrun *c, const char *name, long from);

/* policy.c */
/* Computes every cell's rank and e->order for --schedule critical (parallel
 * mode); leaves e->order NULL for notebook order. Call after predict and
 * after the cache is open (durations of earlier runs come from it). */
void sched_plan(engine *e);
/* 1 when cell k, ready now, must wait before it starts (--stagger): the
 * scheduler is woken when it may start. Also notes which large artifact k
 * reads. */
int sched_stagger_wait(engine *e, size_t k);
void sched_free(engine *e);

/* engine_cache.c */
/* Reads that an earlier run's NameError fallback learned for cell c: added
 * to its predicted reads. engine_cache_learn remembers one (no-ops
 * without a cache). */
void engine_cache_learned(engine *e, cellrun *c);
void engine_cache_learn(engine *e, cellrun *c, const char *name);
/* How long cell k took when an earlier run stored it in the cache (any
 * entry for the same source), in seconds; -1 when unknown. */
double engine_cache_duration(engine *e, size_t k);
void engine_hash_exports(engine *e, cellrun *c);
void engine_cache_store(engine *e, cellrun *c, json_t *done);
int engine_cache_restore(engine *e, size_t k);

/* engine_run.c */
void engine_take_results(engine *e, cellrun *c, json_t *done);
/* Records an update of a display sent by cell c (applied by engine_finish,
 * in notebook order). msg is borrowed. */
void engine_update_display(engine *e, cellrun *c, json_t *msg);
void engine_kernel_died(engine *e, cellrun *c, kernel *kn);
void engine_trace_cell(engine *e, cellrun *c, json_t *done);
void engine_progress(engine *e, cellrun *c);
void engine_arm_timeout(engine *e, cellrun *c);
void engine_disarm_timeout(engine *e, cellrun *c);
void engine_signals_start(engine *e);
void engine_check_finished(engine *e);
void engine_stop(engine *e);
int engine_finish(engine *e);
void engine_cleanup(engine *e);

/* metadata.execution of a finished cell, as nbclient writes it (new ref). */
json_t *engine_exec_md(engine *e, cellrun *c);

/* engine_save.c */
/* Cell k finished: its outputs go into the nb, on_cell_done is called and
 * an on_save is due within save_every_ms. No-op without callbacks. */
void engine_save_note(engine *e, size_t k);

/* Removes a run directory and the files in it (it has no subdirectories). */
void engine_remove_dir(const char *path);

/* Starts the zygote (deferred while the cache may restore everything).
 * 0, or -1 after reporting the error and stopping the run. */
int engine_start_pool(engine *e);

#endif
