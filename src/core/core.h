/* core.h — the scheduling core: where a cell's life is decided.
 *
 * The core holds the notebook's cells as a graph of predicted reads and
 * writes, resolves every cell's scope (name -> the artifact of the latest
 * earlier writer), decides which cell starts next and in what kernel,
 * re-runs stale cells, keeps holders of unmovable values, replays files two
 * cells raced on, tracks the process state (__floe_state__), and decides
 * what the persistent cache restores. It starts no process and owns no
 * event loop (no uv.h, no kpool.h): a driver feeds it events and carries
 * out the actions it queues.
 *
 *   events  (core_add_cell, core_pool_ready, core_cell_done, core_cell_died,
 *            core_cell_timed_out, core_need, core_holder_gone, core_wake,
 *            core_schedule)
 *   actions (core_next_action: start a cell, kill a cell's kernel, answer a
 *            lazy read, keep or release a kernel, drop a holder, ...)
 *
 * Every event function runs to completion: follow-up work (a re-run that
 * makes its readers stale, a dropped holder whose users run again) goes
 * through the core's own work list, never back into the driver. A driver
 * drains the actions after each event, in order.
 *
 * Ownership: core_new returns a core freed by core_free; core_add_cell
 * copies its spec (json it gets is increfed, not stolen); an action's msg is
 * a new reference the caller decrefs; every other pointer in an action or a
 * core_cell is borrowed from the core until the next event. */
#ifndef FLOE_CORE_H
#define FLOE_CORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/map.h"
#include "util/util.h"

typedef enum { MODE_PARALLEL, MODE_SERIAL, MODE_MONOLITHIC } run_mode;

/* Which ready cell a free kernel takes in parallel mode (core_policy.c):
 * the first in notebook order, or the one with the longest remaining
 * (duration-weighted) path to the end of the dependency graph. */
typedef enum { SCHED_ORDER, SCHED_CRITICAL } sched_policy;

struct nb;
struct an_cell;
typedef struct run_opts {
    run_mode mode;
    int jobs;              /* kernels running at once (parallel) */
    sched_policy schedule; /* parallel mode's choice among ready cells */
    int stagger_ms;        /* readers of one large artifact start this far apart, 0 = off */
    int allow_errors;
    double timeout_s;      /* per cell, 0 = none */
    long long mem_limit;   /* bytes a kernel may allocate, 0 = no limit */
    long long mem_budget;  /* bytes the idle lineage kernels may keep (their private
                            * memory, as kernels report it); 0 = no budget */
    int warm_idle_s;       /* > 0: a warm zygote serves the run and stays this long (--warm) */
    int quiet;
    int lazy_always;       /* every isolated cell resolves names lazily */
    int open_ended;        /* cells keep coming (the Jupyter kernel): every cell writes
                            * out all it binds, since any later cell may read it */
    int lineage_wait_ms;   /* parallel: a ready cell waits up to this long for a busy
                            * lineage kernel that holds what it reads, 0 = never */
    int lineage;           /* a finished kernel may go on with a later cell that reads
                            * what it holds (continuation, core_lineage.c); 0 = off */
    int lineage_fork;      /* with lineage: where the graph branches, a reader may be forked
                            * from the lineage kernel as a template (core_lineage_fork); 0 = off,
                            * 2 = wherever the graph branches, whatever the cost (tests) */
    int lineage_spare;     /* with lineage: one idle kernel is kept when no pending cell reads
                            * what it holds, for a ready cell that reads nothing any kernel
                            * holds to go on in (core_lineage_spare); 0 = off */
    int branch_ms;         /* parallel, lineage: what running a cell in a new kernel costs beyond
                            * going on in one (fork, copy-on-write faults, first-use costs);
                            * where the graph branches, a reader forks only when the cells
                            * are known to take longer, or its imports would (core_lineage_fork);
                            * 0 = no such bound */
    int spare_wait_ms;     /* with the spare, parallel: a ready cell with no idle kernel to go on
                            * in waits up to this long after a busy kernel's cell started for it
                            * to be free, rather than start fresh, 0 = never */
    int wide;              /* parallel: fewer cells at once while a running cell's kernel
                            * uses several cores (core_wide_extra); 0 = off */
    int wide_pause;        /* with wide: threads ready to run count too, and cells beside a
                            * wide one are paused (core_balance); 0 = off (the default) */
    const char *python;
    const char *pythonpath;
    const char *preload;
    const char *trace_path;
    const char *nb_name;   /* for messages and the trace */
    const char *cwd;       /* kernels' working directory: the notebook's */
    const char *cache_dir; /* persistent cache, or NULL for none */
    const char *keep_run;  /* copy the run's artifacts here at the end, or NULL */
    /* --dask: the cells run on this Dask cluster (tcp:// or tls://) through the
     * bridge (python/floe_kernel/dask_bridge.py), or NULL for local kernels;
     * the TLS files for tls:// (each NULL: Dask's own config). */
    const char *dask, *dask_tls_ca, *dask_tls_cert, *dask_tls_key;
    /* Progress (the local driver's engine_save.c), both optional, both called
     * with the nb holding every finished cell's outputs so far (borrowed):
     * on_cell_done as each cell finishes, with its cell index; on_save at
     * most once every save_every_ms (default 2000) after cells finished,
     * e.g. to write the notebook so far. A cell may still be re-run after
     * on_cell_done (a stale read); the final nb is the one to keep. */
    void (*on_cell_done)(void *arg, struct nb *n, size_t cell);
    void (*on_save)(void *arg, struct nb *n);
    void *progress_arg;
    int save_every_ms;
    /* The notebook's code cells, already analysed by the front end
     * (an_analyze_many, in order; borrowed), or NULL: the run analyses them. */
    const struct an_cell *analysed;
} run_opts;

typedef struct run_stats {
    int cells_run, cells_restored, cells_failed, reruns, lazy_reads, kernels;
    double wall_s;
} run_stats;

typedef enum { C_PENDING, C_RUNNING, C_DONE } cell_state;

/* The pseudo-artifact of process state: the random generators' state and
 * the working directory (kernel.py: RNG). */
#define RNG_NAME "__floe_state__"
enum { RES_FOUND, RES_NONE, RES_WAIT };

/* What a front end knows of a cell before it runs: its source and the
 * static prediction. Borrowed by core_add_cell, which copies it. */
/* core_cell_spec.rng, as the analysis says it (AN_RNG_* in analysis.h) */
enum { CORE_RNG_DRAWS = 1, CORE_RNG_SEEDS = 2 };
typedef struct core_cell_spec {
    size_t idx;            /* the front end's own number for it (the nb cell index) */
    const char *src;
    json_t *code;          /* the source as sent to the kernel (string or array) */
    int skip, raises, always_run, count;
    const strvec *reads, *writes; /* predicted; NULL = none */
    const strvec *certain; /* of writes, those bound whenever the cell ends well (an_cell.certain) */
    int open_world;        /* the prediction may be incomplete: it waits for every earlier cell */
    int rng;               /* CORE_RNG_*: draws from or seeds the global random state */
    double expect;         /* seconds it is expected to take (tests; 0 = unknown: the cache's
                            * earlier runs tell, core_plan) */
    int needs_all;         /* ... and it may look names up past the lazy hook (globals(), %who,
                            * $x in a shell line, a callee using frames): it imports every
                            * visible name before it runs; else names resolve on demand */
} core_cell_spec;

/* The artifact codecs, from the protocol description both sides read. */
typedef enum {
#define FLOE_CODEC(id, name, doc) CODEC_##id,
#define FLOE_MSG(id, op, dir, fields)
#include "floe_kernel/protocol.def"
#undef FLOE_CODEC
#undef FLOE_MSG
    CODEC_UNKNOWN
} core_codec;

/* "pickle" -> CODEC_PICKLE...; CODEC_UNKNOWN for NULL or a name not in
 * protocol.def. core_codec_name returns a static string ("?" if unknown). */
core_codec core_codec_parse(const char *name);
const char *core_codec_name(core_codec c);

/* One version of one name, parsed once where the kernel's results arrive
 * (or a cache entry is restored). The holder of an unmovable value is its
 * writer cell's (core_cell.holder), kept in that one place. */
typedef struct core_artifact {
    char *name;
    core_codec codec;
    long version;          /* the run request's version that wrote it; 0 when restored */
    long cell;             /* the cell that wrote it */
    const char *path;      /* its file (borrowed from wire), or NULL */
    long long size;        /* bytes, 0 when unknown */
    char hash[33];         /* content hash (with the cache), or "" */
    int same;              /* a co-variable group member its cell did not change, written
                            * again only to stay linked with one it did (covars.py) */
    json_t *wire;          /* the description as the kernel sent it, sent back in imports (owned) */
} core_artifact;
/* A cell's artifacts; idx (name -> the first index) once there are many, as
 * a star import's hundreds of names are looked up for every later cell. */
typedef struct artvec { core_artifact *v; size_t n, cap; nameidx idx; } artvec;

typedef struct cellread { char *name; long from; } cellread;

/* A name in a kernel's namespace, known by the artifact version it holds:
 * the writer cell and its run request's version (core_lineage.c). live:
 * no artifact carries the value (dropped or unmovable), only this kernel. */
typedef struct core_held { char *name; long cell, version; long long size; core_codec codec; } core_held;

typedef struct core_cell {
    size_t idx;            /* core_cell_spec.idx */
    char *src;
    json_t *code;
    int count;             /* execution count, 0 if not executed */
    int skip, raises, always_run;
    cell_state state;
    int attempt;
    int run_in;            /* the holder the current attempt runs in, 0 = a kernel of its own */
    int in_holder;         /* the last attempt ran in a holder */
    int holder;            /* kept after this cell: it holds values that cannot move
                            * (generators, open files...) for the cells that read them; 0 = none */
    int cont;              /* the lineage kernel the current attempt goes on in, 0 = none */
    int fork_of;           /* the lineage kernel its current attempt's kernel was forked from, 0 = none */
    long long mem;         /* the private memory of its kernel when it finished, 0 = unknown */
    int threads;           /* threads alive in its kernel when it finished (0 = unknown) */
    int native_threads;    /* OS threads alive in it then, floe's own aside (OpenMP's pool...) */
    int kept_live;         /* it used a value kept live in its lineage that no artifact
                            * carries (dropped or unmovable): not cached */
    struct core_held *held;/* what its kernel's namespace holds from earlier cells
                            * (kept, hidden, imported, answered), for the lineage */
    size_t nheld, capheld;
    strvec pred_reads, pred_writes;
    strvec certain_writes; /* names it binds whenever it ends without an error (an_cell.certain) */
    strvec need_later;     /* names later cells are predicted to read */
    strvec known_writes;   /* names any attempt of this cell exported */
    long rng_from;         /* the cell whose random state this attempt started with, or -1 */
    char *rng_path;        /* that state's file, or NULL: a re-run of rng_from writes another */
    int rng_fresh;         /* its last run seeded every generator it used first (kernel.py _rng_fresh) */
    char *rng_rest0;       /* and the hash of the process state besides the generators it was given */
    sizevec deps;          /* predicted producers: earlier cells that may write a
                            * name this one reads, and earlier open-world cells */
    int export_all;        /* a later cell may read anything, or a dropped name was needed */
    int open_world, needs_all, lazy, lazy_now;
    int rng_use;           /* core_cell_spec.rng */
    int result_lost;       /* its result (Out[N]) could not be exported as _N */
    double cpu;            /* cores its kernel uses while it runs (core_cell_cpu), 0 = unknown */
    int wide;              /* ... and that counts as more than one (core_policy.c) */
    int runnable;          /* its kernel's threads ready to run at the last sample */
    int paused;            /* stopped while wider cells run (CA_PAUSE) */
    int history;           /* it reads IPython's input/output history (_, __, _N, Out, In, _iN):
                            * it waits for every earlier cell and gets that history */
    long version;          /* the version its current attempt writes */
    /* results of the current attempt */
    json_t *outputs, *display_ids;
    artvec exports;
    json_t *updates;       /* update_display messages it sent (replayed on restore) */
    strvec deletes;
    cellread *reads;
    size_t nreads, capreads;
    char *ename, *evalue;
    int error, timed_out, dead, restored;
    char *need;            /* a lazy read waiting for an answer */
    char *need_link;       /* ... asked only to link a member of this group version (gid), or NULL */
    int parked;
    int64_t t_ready, t_dispatch, t_park, t_start, t_compute, t_end, t_done;
    double weight, rank;   /* expected duration; longest path from it to the end (core_policy.c) */
    double expect;         /* seconds it took in an earlier run (the cache), < 0 unknown */
    char *big;             /* the large artifact (path) it reads, for --stagger, or NULL */
    strvec rfiles, wfiles; /* files the current attempt read / wrote (kernel.py FileInputs) */
    strvec tfiles;         /* of wfiles, those written from scratch (truncated, created, removed) */
    strvec sfiles;         /* scratch files: created and removed again by the attempt (no
                            * channel: in neither list above), yet a race with another cell
                            * using the same name at the same time */
    strvec dfiles;         /* directories whose listing the attempt changed (a file created or
                            * removed in them); a cell listing one has it in rfiles */
    strvec files_seen;     /* contended files any attempt touched */
    uint64_t start_seq, done_seq; /* when the attempt started / finished, in seq steps */
} core_cell;

/* Where a started cell runs: a fresh kernel, holder `holder`, the one
 * kernel (monolithic), or lineage kernel `holder` (CK_CONT: the kernel a
 * finished cell left, going on with this one; core_lineage.c). Holders and
 * lineages share one numbering, so a driver maps both with one table. */
/* CK_FORK: a new kernel forked from idle lineage kernel `holder` (its
 * template), which stays idle (core_lineage_fork). */
typedef enum { CK_FRESH, CK_HOLDER, CK_MONO, CK_CONT, CK_FORK } core_kernel_from;

typedef enum {
    CA_START_POOL, /* start the interpreter pool: something must run */
    CA_START,      /* run cell `cell` in a kernel (from, holder); msg: the run request */
    CA_KILL,       /* the running cell `cell` is stale: kill its kernel, forget it */
    CA_ANSWER,     /* send msg (a lazy read's value) to `cell`'s kernel; t: parked since, or 0 */
    CA_KEEP,       /* `cell` finished; its kernel stays (as holder `holder`, or the mono kernel;
                    * from == CK_CONT: idle as lineage `holder`) */
    CA_RELEASE,    /* `cell` finished; its kernel exits (it was holder `holder`, if non-zero) */
    CA_DROP_HOLDER,/* holder `holder` is no longer right, or idle lineage `holder` (from ==
                    * CK_CONT) is of no more use or evicted (why): kill its kernel */
    CA_RERUN,      /* `cell` will run again (for the trace); why */
    CA_SETTLED,    /* `cell` finished for good (this attempt): progress */
    CA_WAKE,       /* call core_wake at monotonic time t (us) */
    CA_PAUSE,      /* stop `cell`'s kernel (SIGSTOP): it runs beside a wide cell (core_policy.c) */
    CA_RESUME,     /* let `cell`'s kernel go on (SIGCONT) */
} core_action_kind;

typedef struct core_action {
    core_action_kind kind;
    size_t cell;
    core_kernel_from from;
    int holder;
    json_t *msg;           /* new reference, or NULL */
    int64_t t;
    char why[160];
} core_action;

typedef struct core core;
struct cache;
struct trace;

/* A core for one run with options o (borrowed, must outlive it). run_dir is
 * copied into run requests; cache (borrowed, may be NULL) and cache_env
 * (copied) key the persistent cache; tr (borrowed, may be NULL) records
 * restores. Never NULL. */
core *core_new(const run_opts *o, const char *run_dir, struct cache *cache, const char *cache_env, struct trace *tr);
void core_free(core *c);

/* Appends cells (notebook order). Predicted producers, export sets and the
 * critical-path order are planned for the cells so far; may be called while
 * the run goes on (a kernel front end feeds cells one at a time). */
void core_add_cells(core *c, const core_cell_spec *specs, size_t n);
/* Plans --schedule critical once every cell is added (durations from the cache). */
void core_plan(core *c);

/* The notebook front end (core_nb.c): appends every code cell of n with its
 * static prediction (isolated modes); analysed: the cells already analysed
 * by an_analyze_many, and g their graph (both borrowed; g may be NULL), or
 * NULL to analyse them here. */
struct nb;
struct an_cell;
struct an_graph;
void core_add_notebook(core *c, struct nb *n, const struct an_cell *analysed, const struct an_graph *g);
/* The Jupyter front end: appends one cell, cells[n - 1] of the n analysed
 * so far (borrowed), with its prediction in their context (a call reads
 * what the function, defined in any earlier cell, reads). spec's reads,
 * writes and open_world are filled here. */
void core_append_analysed(core *c, core_cell_spec *spec, const struct an_cell *cells, size_t n);
/* Both make a cell that imports a module living in the kernels' working
 * directory (run_opts.cwd) a process-state barrier, like an open-world cell
 * (issue 16, P14): this returns the first such module's name (a new
 * string), or NULL. */
char *core_local_import(const struct an_cell *c, const char *dir);

/* The edges the core waits on: cell `to` starts after cell `from`, for the
 * names it reads that `from` may write ("*": any name, an open-world cell or
 * an earlier cell in serial order). The one dependency source of `floe run`,
 * `floe deps` and `floe status`. Returns the count; *out is freed with
 * core_edges_free. */
typedef struct core_edge { size_t from, to; strvec names; } core_edge;
size_t core_edges(core *c, core_edge **out);
void core_edges_free(core_edge *v, size_t n);

/* What a re-run would do with each cell, as the cache stands (the plan
 * `floe run` follows before it starts any kernel, and `floe status`
 * shows): fresh (restored), stale (runs again: reason), never run (no entry
 * for its source), always (tagged floe-always-run), skip. */
typedef enum { PLAN_FRESH, PLAN_STALE, PLAN_NEVER, PLAN_ALWAYS, PLAN_SKIP } core_plan_state;
typedef struct core_plan_cell { core_plan_state state; char reason[256]; } core_plan_cell;
/* Fills out[0..ncells); the cells the cache restores are restored. */
void core_cache_plan(core *c, core_plan_cell *out);

/* Events. Each may queue actions. */
void core_schedule(core *c);               /* start what can start */
void core_pool_ready(core *c, json_t *language_info);
void core_cell_done(core *c, size_t k, json_t *done);   /* done: the kernel's "done" message */
void core_cell_died(core *c, size_t k, int exit_signal, int exit_code);
void core_cell_timed_out(core *c, size_t k);
/* A lazy read; link (may be NULL): the kernel asks only to link a member of
 * that group version (covars.py link_members): any other version is
 * answered as none, and is no read. */
void core_need(core *c, size_t k, const char *name, const char *link);
void core_update_display(core *c, size_t k, json_t *msg); /* k: the sender; recorded (borrowed) */
void core_holder_gone(core *c, int holder);             /* its kernel died (a holder or an idle lineage) */
void core_start_failed(core *c, size_t k);              /* no kernel for a CA_START */
/* How many cores running cell k's kernel used over the last moments (the
 * driver samples it): a cell whose library runs a thread pool (OpenMP,
 * BLAS) is wide, and starting cells beside it oversubscribes the cores
 * (core_policy.c). */
void core_cell_cpu(core *c, size_t k, double cores, int runnable);
/* Once results are final: every output that carries a display id shows the
 * last update of that id sent, in notebook order, by a later cell that ran
 * up to `stop` (core_stop_index; a cell's updates of its own outputs are
 * applied by its kernel). Not as updates arrive: parallel cells updating one
 * display finish in any order. */
void core_apply_display_updates(core *c, int stop);
void core_wake(core *c);
void core_stop(core *c);                   /* no more starts (interrupted, failing) */
/* Cells k and after are withdrawn, as if never sent (the Jupyter kernel's
 * stop_on_error aborts the requests queued behind a failed one): a running
 * one's kernel is killed (CA_KILL), a finished one's results are dropped;
 * none runs again or supplies a value to a cell appended later. */
void core_withdraw(core *c, size_t k);

/* 1 and *out set while actions are queued; 0 when none. */
int core_next_action(core *c, core_action *out);

/* State for drivers and front ends (read-only). */
size_t core_ncells(const core *c);
core_cell *core_cell_at(core *c, size_t k);
int core_running(const core *c);
int core_pending(const core *c);            /* cells waiting to run */
int core_stop_index(const core *c);         /* first failing cell when errors stop the run */
int core_finished(const core *c);           /* nothing runs and nothing more will start */
const run_stats *core_stats(const core *c);
run_stats *core_stats_mut(core *c);
json_t *core_language_info(const core *c);  /* borrowed, or NULL */
/* Resolves name for cell k: RES_FOUND (*art, *from), RES_NONE (*from: the
 * deleting cell or -1) or RES_WAIT (*from: the unfinished cell). */
int core_resolve(core *c, size_t k, const char *name, core_artifact **art, long *from);
/* The scope a cell appended before cell k would see, as far as it is known
 * now: the wire form of every name's artifact (not the unmovable or
 * dropped ones, nor names whose writer has not finished), for a kernel that
 * answers completion and inspection. Returns a new array. */
json_t *core_scope(core *c, size_t k);

#endif
