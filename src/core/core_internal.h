/* core_internal.h — the core's state, shared by core.c (graph, scopes,
 * re-runs, holders, files, dispatch), core_cache.c (the persistent cache)
 * and core_policy.c (critical path, stagger). Not for drivers.
 * Ownership: the core owns everything reachable from struct core. */
#ifndef FLOE_CORE_INTERNAL_H
#define FLOE_CORE_INTERNAL_H

#include "core/core.h"
#include "trace/trace.h"
#include "util/map.h"

/* A kernel kept after its cell finished, to go on with a later cell that
 * reads what it holds (core_lineage.c). Idle: the driver keeps its kernel
 * under `id` (the holders' numbering); busy: the kernel is its cell's. */
typedef struct core_lineage {
    int id;
    long last;             /* the cell that ran in it last */
    int busy, stale;       /* a cell runs in it | a cell of its chain runs again */
    long long mem;         /* its kernel's private memory after `last` */
    long running;          /* the cell running in it while busy */
    core_held *ns;         /* what its namespace holds after `last` */
    size_t nns;
    nameidx nsidx;         /* name -> its index in ns, when ns is large (a star import) */
    sizevec chain;         /* every cell that ran in it, ascending */
    int threads;           /* Python threads its last cell left alive: > 1, no fork from it */
    int native_threads;    /* OS threads then (a native thread pool): > 1, no fork from it */
} core_lineage;

struct core {
    const run_opts *o;
    core_cell *cells;
    size_t ncells, capcells;
    size_t settled;        /* cells [0, settled) are done or skipped */
    int running, parked;
    int ready;             /* the pool said hello: cells may start */
    int pool_started;      /* CA_START_POOL was queued (or no cache: at once) */
    int stopping, mono_dead;
    long version;
    uint64_t seq;          /* orders cell starts and finishes (files as channels) */
    int next_holder;
    strvec contended;      /* files two cells raced on: their users now run in notebook order */
    char *run_dir;
    json_t *language_info;
    strmap writers;        /* name -> cells that may write, wrote or deleted it */
    strmap pred_writers;   /* name -> cells predicted to write it (deps) */
    sizevec opens;         /* open-world cells, ascending */
    long rng_last;         /* the last cell planned that draws from or seeds the global random state, -1 */
    int rng_seeded;        /* ... and one of the cells planned so far seeds it (plan_deps) */
    long history_last;     /* the last cell reading the history (core_cell.history), -1: none;
                            * the cells before it export their results as _N */
    run_stats stats;
    struct cache *cache;
    char *cache_env;
    trace *tr;             /* borrowed, may be NULL */
    size_t *order;         /* cells in the order of preference (core_policy.c), or NULL */
    int stagger_armed;
    int64_t stagger_due;
    /* the work list of cells to re-run (invalidate) and the action queue */
    size_t *work;
    char (*work_why)[160];
    size_t nwork, capwork;
    core_action *acts;
    size_t nacts, capacts, headacts;
    core_lineage *lins;    /* kernels kept for continuation (core_lineage.c) */
    size_t nlins, caplins;
    long long imp_bytes, imp_us; /* imports seen in this run, for the cost of one (core_lineage_fork) */
};

core_action *core_push(core *c, core_action_kind kind, size_t cell);
/* Appends the artifact desc describes (borrowed; increfed as its wire form);
 * a description without a name is skipped. */
void core_art_push(artvec *v, json_t *desc, long cell, long version);
void core_art_free(artvec *v);
core_artifact *core_find_export(core_cell *c, const char *name);
/* The wire forms of c's exports, as a new array. */
json_t *core_exports_json(const core_cell *c);
void core_record_read(core_cell *c, const char *name, long from);
void core_reset_results(core_cell *c);
void core_after_done(core *c, size_t k);
/* Re-runs cell k (and whatever that makes stale); returns when settled. */
void core_invalidate(core *c, size_t k, const char *why);

/* core_cache.c */
/* How long cell k took when an earlier run stored it in the cache, in
 * seconds; -1 when unknown. */
double core_cache_duration(core *c, size_t k);
/* Reads that an earlier run's NameError fallback learned for cell c: added
 * to its predicted reads. core_cache_learn remembers one for cell k. Both
 * no-ops without a cache. */
void core_cache_learned(core *e, core_cell *c);
void core_cache_learn(core *e, size_t k, const char *name);
void core_hash_exports(core *c, core_cell *cl);
void core_cache_store(core *c, size_t k, json_t *done);
/* 1 when cell k was restored from the cache (its results set), else 0. */
int core_cache_restore(core *c, size_t k);
/* The same; *tried: entries for its source, why: the last mismatch. */
int core_cache_restore_why(core *c, size_t k, int *tried, char *why, size_t whylen);
/* Tagged floe-always-run, or "# floe: always-run" in its source. */
int core_always_run(const core_cell *c);

/* core_lineage.c: continuation (see there) */
/* The idle lineage cell k should go on in (its id), or 0 for a fresh kernel. */
int core_lineage_pick(core *e, size_t k);
/* 1 when an idle lineage cell k may go on in holds name as k sees it
 * (a dropped value need not be recomputed). */
int core_lineage_holds(core *e, size_t k, const char *name);
/* Names cell k read that its lineage had set aside (the kernel's
 * "aside_reads": an unpredicted read found there): recorded as reads; 1
 * when one of them is no longer the version k sees (it runs again). */
int core_lineage_aside_reads(core *e, size_t k, json_t *done);
/* Cell k starts in lineage id (0: a fresh kernel): marks it busy, and says
 * in run request m which names the kernel keeps (and for which it takes a
 * fingerprint), hides or drops; the kept ones are reads of k and are
 * skipped by the imports (*kept, a sorted list the caller frees). */
void core_lineage_start(core *e, size_t k, int id, json_t *m, strvec *kept);
/* Cell k's kernel has imported name from art (an import or an answer). */
void core_held_add(core_cell *c, const char *name, const core_artifact *art);
void core_held_free(core_cell *c);
/* Cell k finished and its results are final (ok: its kernel may go on):
 * the kernel is kept as a lineage (CA_KEEP) or released (CA_RELEASE). */
void core_lineage_settle(core *e, size_t k, int ok);
/* Cell k runs again (killed: its running kernel is killed): lineages it
 * ran in are no longer right. */
void core_lineage_rerun(core *e, size_t k, int killed);
/* The kernel of lineage id died, or a start in it failed. */
void core_lineage_gone(core *e, int id);
/* Idle lineages no pending cell can use are dropped, the rest kept within
 * the cap (the least useful evicted). */
void core_lineage_gc(core *e);
/* 1 when ready cell k had better wait for a busy lineage that holds what
 * it reads (its running cell, before k, started less than
 * run_opts.lineage_wait_ms ago) than start fresh; a CA_WAKE is queued for
 * when that wait is over. */
int core_lineage_wait(core *e, size_t k);
/* The spare (run_opts.lineage_spare): for ready cell k, which gains
 * nothing in any kernel (core_lineage_pick gave 0) and waits for none, the
 * idle lineage kernel no pending cell reads from, if one is kept; 0 when
 * none. k goes on in it as in any lineage. */
int core_lineage_spare(core *e, size_t k);
void core_lineage_free(core *e);
/* Fork from template: 1 when ready cell k, which would go on in idle
 * lineage id, had better start in a kernel forked from it (the lineage
 * stays idle for its other pending readers): the imports it saves cost
 * more than the fork, or cells forked from it still run (a cell going on
 * in it could be killed, and its forked kernels with it); -1 when it may
 * do neither (cells forked from it run and it cannot fork): a fresh
 * kernel; 0: it goes on in it. */
int core_lineage_fork(core *e, size_t k, int id);
/* As core_lineage_start, for a kernel forked from lineage id: the same
 * keep/hold/delete lists; the lineage stays idle, and k's kernel starts a
 * lineage of its own when it finishes. */
void core_lineage_start_fork(core *e, size_t k, int id, json_t *m, strvec *kept);
/* The imports and threads a "done" message reports, for the choice. */
void core_lineage_learn(core *e, size_t k, json_t *done);

/* core_policy.c */
/* Queues a CA_WAKE at `due` (monotonic us), unless one is due earlier. */
void core_wake_at(core *e, int64_t due);
void core_sched_plan(core *c);
/* 1 when cell k, ready now, must wait before it starts (--stagger); a
 * CA_WAKE is queued for when it may start. */
int core_stagger_wait(core *c, size_t k);
/* core_policy.c: the cores wide running cells take beyond one each (parallel mode). */
int core_wide_extra(core *c);
/* Pauses and resumes running cells around wide ones (CA_PAUSE, CA_RESUME). */
void core_balance(core *c);
void core_policy_free(core *c);

#endif
