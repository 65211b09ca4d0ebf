/* core_lineage.c — continuation: a finished cell's kernel goes on with a
 * later cell that reads what it holds.
 *
 * In the isolated modes a cell starts in a fresh kernel and imports the
 * artifacts it reads. Where a later cell reads what a finished cell's
 * kernel already holds, and nothing else wants that kernel, the cell goes
 * on in it instead: no fork, no import, the producer's own objects
 * (identities, views, the module state the chain of cells in it left).
 * The core knows each kept kernel's namespace by versions (core_held: the
 * writer cell and its run request's version). A cell k going on in one
 * gets, in its run request (kernel.py, "reuse"):
 *   keep  the names k reads (predicted; every visible name when k is
 *         open-world or lazy) held in the version k resolves: left in the
 *         namespace, recorded as reads of k, fingerprinted by the kernel (a
 *         mutation is a write, as for an import);
 *   hold  the other names held in the version k would see: hidden from k,
 *         kept aside for a later cell of the chain;
 *   and every other name is deleted: versions another cell rewrote since
 *   (k imports the new ones as usual), names deleted since, and dropped or
 *   unmovable values k does not read.
 * So k sees exactly the versions a fresh kernel would have imported, as
 * the holder path does with a fresh namespace plus the held values.
 *
 * A lineage only goes forward: a cell goes on only in a lineage whose last
 * cell is before it. The process state the chain left (random state,
 * working directory, options: kernel.py's RNG) is then either the state of
 * the latest earlier cell that changed it, which the run request applies,
 * or unchanged since the zygote.
 *
 * When: a finished cell's kernel is kept while a pending later cell would
 * keep something of it, at most jobs idle kernels (the least useful is
 * evicted); a ready cell goes on in the idle lineage that saves it the
 * most (bytes of the artifacts it would otherwise import, plus one per
 * name). A cell of a chain that runs again takes its lineage along: an idle
 * one is dropped, a busy one is released when its cell finishes (its
 * kernel saw that cell's old attempt).
 *
 * The spare: a kernel no pending cell reads from may still be kept, one at
 * most, for a ready cell that gains nothing in any kernel (below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

/* The most private memory a spare kernel may have (below). */
#define SPARE_MEM (256LL << 20)

/* ---- namespaces by version ---------------------------------------------------- */

/* Appends name, known not to be in v yet. */
static void held_append(core_held **v, size_t *n, size_t *cap, const char *name, long cell, long version,
                        long long size, core_codec codec) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = (core_held){xstrdup(name), cell, version, size, codec};
}

/* Sets name's entry, appending one if v has none (a scan: for the few
 * names a cell imports; bulk copies use held_append). */
static void held_push(core_held **v, size_t *n, size_t *cap, const char *name, long cell, long version,
                      long long size, core_codec codec) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].name, name)) {
            (*v)[i].cell = cell, (*v)[i].version = version, (*v)[i].size = size, (*v)[i].codec = codec;
            return;
        }
    held_append(v, n, cap, name, cell, version, size, codec);
}

static void held_clear(core_held *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].name);
}

void core_held_add(core_cell *c, const char *name, const core_artifact *art) {
    held_push(&c->held, &c->nheld, &c->capheld, name, art->cell, art->version, art->size, art->codec);
}

void core_held_free(core_cell *c) {
    held_clear(c->held, c->nheld);
    free(c->held);
    c->held = NULL;
    c->nheld = c->capheld = 0;
}

static int is_live(core_codec codec) { return codec == CODEC_DROPPED || codec == CODEC_UNMOVABLE; }

/* Whether cell k reads `name` as far as its request goes: predicted, or
 * any name when it resolves lazily. */
static int wanted(core *e, const core_cell *c, const char *name) {
    return c->open_world || c->lazy || e->o->lazy_always || strvec_contains(&c->pred_reads, name);
}

/* Whether a cell going on in a lineage gets `name` in its namespace (and
 * fingerprinted, a mutation being its write): predicted, or any name when it
 * may look names up past the lazy hook or imports them all. An open-world
 * cell whose names all go through the hook (a star import, a process-state
 * change: Lecture-4's `matplotlib.use` after 900 pylab names) finds the
 * others set aside, and only what it touches is fingerprinted. */
static int kept_for(core *e, const core_cell *c, const char *name) {
    return c->needs_all || c->lazy || e->o->lazy_always || strvec_contains(&c->pred_reads, name);
}

/* The held value is the version cell k resolves name to. */
static int valid_for(core *e, size_t k, const core_held *h) {
    core_artifact *art = NULL;
    long from;
    return core_resolve(e, k, h->name, &art, &from) == RES_FOUND && art->cell == h->cell && art->version == h->version;
}

/* ---- the lineages ------------------------------------------------------------------ */

static core_lineage *find(core *e, int id) {
    for (size_t i = 0; id && i < e->nlins; i++)
        if (e->lins[i].id == id) return &e->lins[i];
    return NULL;
}

/* Namespaces beyond which a lineage's is looked up through its index. */
#define NS_INDEXED 16

static void index_ns(core_lineage *l) {
    nameidx_free(&l->nsidx);
    if (l->nns < NS_INDEXED) return;
    for (size_t i = 0; i < l->nns; i++) nameidx_add(&l->nsidx, l->ns[i].name, i);
}

/* What l holds under `name`, or NULL. */
static const core_held *ns_find(const core_lineage *l, const char *name) {
    if (l->nns >= NS_INDEXED) {
        long at = nameidx_get(&l->nsidx, name);
        return at < 0 ? NULL : &l->ns[at];
    }
    for (size_t i = 0; i < l->nns; i++)
        if (!strcmp(l->ns[i].name, name)) return &l->ns[i];
    return NULL;
}

static void remove_lineage(core *e, core_lineage *l) {
    nameidx_free(&l->nsidx);
    held_clear(l->ns, l->nns);
    free(l->ns);
    sizevec_free(&l->chain);
    *l = e->lins[--e->nlins];
}

static void drop(core *e, core_lineage *l, const char *why) {
    if (getenv("FLOE_DEBUG_LINEAGE")) {
        fprintf(stderr, "floe: drop lineage %d (last %ld): %s; ns:", l->id, l->last, why);
        for (size_t i = 0; i < l->nns; i++) fprintf(stderr, " %s@%ld.%ld", l->ns[i].name, l->ns[i].cell, l->ns[i].version);
        for (size_t m = (size_t)l->last + 1; m < e->ncells; m++) {
            core_cell *d = &e->cells[m];
            fprintf(stderr, "\n  cell %zu state %d skip %d reads", m, d->state, d->skip);
            for (size_t i = 0; i < d->pred_reads.n; i++) {
                core_artifact *art = NULL;
                long from;
                int r = core_resolve(e, m, d->pred_reads.v[i], &art, &from);
                fprintf(stderr, " %s:%d@%ld.%ld", d->pred_reads.v[i], r, from, r == RES_FOUND ? art->version : -1L);
            }
        }
        fprintf(stderr, "\n");
    }
    core_action *a = core_push(e, CA_DROP_HOLDER, (size_t)l->last);
    a->from = CK_CONT;
    a->holder = l->id;
    snprintf(a->why, sizeof a->why, "%s", why);
    remove_lineage(e, l);
}

/* What cell k saves by going on in l: the bytes (plus one per name) of the
 * names it reads that l holds in the version it resolves; 0 when none, or
 * when l is busy, stale or not before k. */
static long long gain_in(core *e, size_t k, const core_lineage *l, int busy_too) {
    core_cell *c = &e->cells[k];
    if ((l->busy && !busy_too) || l->stale || l->last >= (long)k || (l->busy && l->running >= (long)k)) return 0;
    long long g = 0;
    if (!(c->open_world || c->lazy || e->o->lazy_always)) { /* only what k predicts it reads: few names */
        for (size_t i = 0; i < c->pred_reads.n; i++) {
            const core_held *h = ns_find(l, c->pred_reads.v[i]);
            if (h && valid_for(e, k, h)) g += 1 + (h->size > 0 ? h->size : 0);
        }
        return g;
    }
    for (size_t i = 0; i < l->nns; i++)
        if (valid_for(e, k, &l->ns[i])) g += 1 + (l->ns[i].size > 0 ? l->ns[i].size : 0);
    return g;
}

static long long gain(core *e, size_t k, const core_lineage *l) { return gain_in(e, k, l, 0); }

/* A busy lineage that holds what k reads, whose running cell started less
 * than `wait` us ago: due then; else 0. */
static int64_t busy_due(core *e, size_t k, int64_t wait) {
    int64_t now = time_mono_us();
    for (size_t i = 0; wait > 0 && i < e->nlins; i++) {
        const core_lineage *l = &e->lins[i];
        if (!l->busy || l->stale || l->running >= (long)k || !gain_in(e, k, l, 1)) continue;
        int64_t due = e->cells[l->running].t_dispatch + wait;
        if (due > now) return due;
    }
    return 0;
}

/* An earlier cell running in a kernel that may be the spare when it is
 * done (not a holder's), started less than `wait` us ago: due then. */
static int64_t running_due(core *e, size_t k, int64_t wait) {
    int64_t now = time_mono_us();
    for (size_t m = 0; wait > 0 && m < k; m++) {
        const core_cell *d = &e->cells[m];
        if (d->state != C_RUNNING || d->run_in) continue;
        const core_lineage *l = find(e, d->cont);
        /* with branch_ms any idle kernel takes a cell (core_lineage_spare), a large one too */
        if (l && (l->stale || l->threads > 1 || (l->mem > SPARE_MEM && !e->o->branch_ms))) continue;
        int64_t due = d->t_dispatch + wait;
        if (due > now) return due;
    }
    return 0;
}

/* In parallel mode a ready cell with no idle kernel to go on in would
 * start fresh. It waits instead (a CA_WAKE at the end of the wait) for a
 * busy kernel that holds what it reads, up to lineage_wait_ms after that
 * kernel's cell started; and, with the spare, for any busy kernel, up to
 * spare_wait_ms: the cost of a fresh kernel (its fork and start, about 15
 * ms with pandas preloaded, and the first-use costs of its first cell, as
 * much again: bench/overhead, pdsh 02.02). Cells shorter than that then go
 * on one after the other in one kernel; a longer running cell lets the
 * ready one start fresh once the wait is over. Both waits are at least
 * branch_ms, what a new kernel costs where copy-on-write faults are dear. */
int core_lineage_wait(core *e, size_t k) {
    if (!e->o->lineage || e->o->mode != MODE_PARALLEL) return 0;
    int lw = e->o->lineage_wait_ms, sw = e->o->spare_wait_ms;
    if (e->o->branch_ms > lw) lw = e->o->branch_ms;
    if (e->o->branch_ms > sw) sw = e->o->branch_ms;
    int64_t due = busy_due(e, k, (int64_t)lw * 1000);
    if (!due && e->o->lineage_spare) due = running_due(e, k, (int64_t)sw * 1000);
    if (!due) return 0;
    core_wake_at(e, due);
    return 1;
}

/* The most a pending cell after l's last would save in it. first: stop at
 * the first that saves anything. */
static long long usefulness(core *e, const core_lineage *l, int first) {
    long long best = 0;
    for (size_t m = (size_t)l->last + 1; m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        if (d->skip || d->state != C_PENDING) continue;
        long long g = gain(e, m, l);
        if (g > best) best = g;
        if (best && first) break;
    }
    return best;
}

int core_lineage_pick(core *e, size_t k) {
    if (!e->o->lineage || e->o->mode == MODE_MONOLITHIC) return 0;
    int id = 0;
    long long best = 0;
    for (size_t i = 0; i < e->nlins; i++) {
        long long g = gain(e, k, &e->lins[i]);
        if (g > best) best = g, id = e->lins[i].id;
    }
    return id;
}

int core_lineage_holds(core *e, size_t k, const char *name) {
    if (!e->o->lineage) return 0;
    for (size_t i = 0; i < e->nlins; i++) {
        const core_lineage *l = &e->lins[i];
        if (l->busy || l->stale || l->last >= (long)k) continue;
        const core_held *h = ns_find(l, name);
        if (h && valid_for(e, k, h)) return 1;
    }
    return 0;
}

/* Co-variables (codec group: names sharing memory or identity) stay
 * together: a member is kept when another member of its version is, as an
 * import of one binds the others (covars.py), so that a write through one
 * is seen, and exported, through all. */
static int group_kept(core *e, const core_cell *c, const core_lineage *l, const core_held *h) {
    if (h->codec != CODEC_GROUP) return 0;
    for (size_t i = 0; i < l->nns; i++) {
        const core_held *o = &l->ns[i];
        if (o != h && o->codec == CODEC_GROUP && o->cell == h->cell && o->version == h->version &&
            wanted(e, c, o->name))
            return 1;
    }
    return 0;
}

int core_lineage_aside_reads(core *e, size_t k, json_t *done) {
    core_cell *c = &e->cells[k];
    size_t i;
    json_t *v;
    int stale = 0;
    json_array_foreach(json_object_get(done, "aside_reads"), i, v) {
        const char *name = json_string_value(v);
        for (size_t j = 0; name && j < c->nheld; j++) {
            if (strcmp(c->held[j].name, name) != 0) continue;
            core_record_read(c, name, c->held[j].cell);
            if (!valid_for(e, k, &c->held[j])) stale = 1;
            break;
        }
    }
    return stale;
}

static json_t *names_json(const strvec *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++) json_array_append_new(a, json_string(v->v[i]));
    return a;
}

void core_lineage_start(core *e, size_t k, int id, json_t *m, strvec *kept) {
    core_cell *c = &e->cells[k];
    core_held_free(c);
    c->cont = 0;
    c->kept_live = 0;
    core_lineage *l = find(e, id);
    if (!l) return;
    l->busy = 1;
    l->running = (long)k;
    c->cont = id;
    strvec hold = {0}, fp = {0};
    for (size_t i = 0; i < l->nns; i++) {
        core_held *h = &l->ns[i];
        if (!valid_for(e, k, h)) continue;
        /* co-variables stay together, and values that cannot be set aside stay */
        if (kept_for(e, c, h->name) || group_kept(e, c, l, h) ||
            (c->open_world && (is_live(h->codec) || h->codec == CODEC_GROUP))) {
            strvec_push(kept, h->name);
            core_record_read(c, h->name, h->cell);
            if (is_live(h->codec)) c->kept_live = 1;
            if (h->codec != CODEC_MODULE && h->codec != CODEC_UNMOVABLE) strvec_push(&fp, h->name);
        } else if (!is_live(h->codec)) {
            strvec_push(&hold, h->name);
        } else {
            continue;
        }
        held_append(&c->held, &c->nheld, &c->capheld, h->name, h->cell, h->version, h->size, h->codec);
    }
    strvec_sort_unique(kept);
    json_object_set_new(m, "reuse", json_true());
    json_object_set_new(m, "keep", names_json(kept));
    json_object_set_new(m, "hold", names_json(&hold));
    json_object_set_new(m, "fp", names_json(&fp));
    json_object_set_new(m, "lineage", json_integer((json_int_t)l->last));
    strvec_free(&hold);
    strvec_free(&fp);
}

/* The namespace cell k leaves: what it held, less what it wrote or
 * deleted, plus what it wrote (this version). */
static void leave_ns(core_cell *c, size_t k, core_held **ns, size_t *n) {
    size_t cap = 0;
    *ns = NULL;
    *n = 0;
    for (size_t i = 0; i < c->nheld; i++) {
        const core_held *h = &c->held[i];
        if (core_find_export(c, h->name) || strvec_contains(&c->deletes, h->name)) continue;
        held_append(ns, n, &cap, h->name, h->cell, h->version, h->size, h->codec);
    }
    for (size_t i = 0; i < c->exports.n; i++) {
        const core_artifact *a = &c->exports.v[i];
        if (strcmp(a->name, RNG_NAME) != 0 && core_find_export(c, a->name) == a)  /* the first of a name */
            held_append(ns, n, &cap, a->name, (long)k, c->version, a->size, a->codec);
    }
}

/* ---- the spare ----------------------------------------------------------------------
 *
 * Most cells of a tutorial read nothing an earlier cell's kernel holds (the
 * next example defines its own list): without a lineage to go on in, each
 * starts in a fresh kernel, a fork from the zygote and its start, about
 * 23 ms a cell in parallel mode on whirlwind 06 against 10 going on. So one
 * idle kernel that no pending cell reads from is kept as the spare, and
 * such a cell goes on in it. Its namespace is hidden or deleted as for any
 * continuation (core_lineage_start keeps nothing, sets aside what k would
 * see), so k sees what a fresh kernel would, and the process state is the
 * latest earlier one as for any continuation. Only while cells are left to
 * run after it, the smallest one, not above SPARE_MEM of private memory
 * (what it holds would be kept for nobody), not with threads its cells left
 * running (what they print would reach k's outputs); first to go when the
 * idle kernels are over -j or the memory budget (its usefulness is 0).
 * Under SPARE_MEM (top of the file). */
/* One cell at a time (serial mode, -j 1): nothing runs beside a cell. */
static int one_at_a_time(const core *e) { return e->o->mode == MODE_SERIAL || e->o->jobs < 2; }

static int spare_ok(core *e, const core_lineage *l) {
    /* the memory bound is for a spare that waits idle beside running cells;
     * one at a time, the next cell runs in it at once */
    if (!e->o->lineage_spare || l->busy || l->stale || l->threads > 1 || (l->mem > SPARE_MEM && !one_at_a_time(e)))
        return 0;
    for (size_t m = (size_t)l->last + 1; m < e->ncells; m++)
        if (!e->cells[m].skip && e->cells[m].state == C_PENDING) return 1;
    return 0;
}

void core_lineage_settle(core *e, size_t k, int ok) {
    core_cell *c = &e->cells[k];
    core_lineage *l = find(e, c->cont);
    c->cont = 0;
    ok = ok && e->o->lineage && e->o->mode != MODE_MONOLITHIC && c->state == C_DONE && !(l && l->stale);
    if (ok && !l) { /* a fresh kernel starts a lineage */
        if (e->nlins == e->caplins) {
            e->caplins = e->caplins ? e->caplins * 2 : 4;
            e->lins = xrealloc(e->lins, e->caplins * sizeof *e->lins);
        }
        l = &e->lins[e->nlins++];
        memset(l, 0, sizeof *l);
        l->id = ++e->next_holder;
    }
    if (ok) {
        held_clear(l->ns, l->nns);
        free(l->ns);
        leave_ns(c, k, &l->ns, &l->nns);
        index_ns(l);
        l->last = (long)k;
        l->mem = c->mem;
        l->threads = c->threads;
        l->native_threads = c->native_threads;
        l->busy = 0;
        sizevec_push(&l->chain, k);
        ok = usefulness(e, l, 1) > 0 || spare_ok(e, l); /* core_lineage_gc keeps one spare */
    }
    if (!ok) {
        if (l) remove_lineage(e, l);
        core_push(e, CA_RELEASE, k);
        return;
    }
    core_action *a = core_push(e, CA_KEEP, k);
    a->from = CK_CONT;
    a->holder = l->id;
}

void core_lineage_rerun(core *e, size_t k, int killed) {
    core_cell *c = &e->cells[k];
    core_lineage *l = find(e, c->cont);
    if (l && killed) { /* its kernel is killed with the cell */
        remove_lineage(e, l);
        c->cont = 0;
    }
    for (size_t i = e->nlins; i-- > 0;) {
        l = &e->lins[i];
        int in = 0;
        for (size_t j = 0; j < l->chain.n && !in; j++) in = l->chain.v[j] == k;
        if (!in) continue;
        if (l->busy) {
            l->stale = 1;
        } else {
            char why[160];
            snprintf(why, sizeof why, "cell %zu of its chain runs again", k);
            drop(e, l, why);
        }
    }
}

void core_lineage_gone(core *e, int id) {
    core_lineage *l = find(e, id);
    if (l) remove_lineage(e, l);
}

/* At most this many idle lineage kernels: one per job. */
static size_t idle_max(core *e) { return e->o->mode == MODE_PARALLEL && e->o->jobs > 1 ? (size_t)e->o->jobs : 1; }

/* The idle lineage whose pending readers would save the least, per byte
 * of memory it keeps (by_mem) or in all. */
static core_lineage *least_useful(core *e, int by_mem) {
    core_lineage *worst = NULL;
    double least = 0;
    for (size_t i = 0; i < e->nlins; i++) {
        core_lineage *l = &e->lins[i];
        if (l->busy) continue;
        double u = (double)usefulness(e, l, 0);
        if (by_mem) u /= (double)(l->mem > 0 ? l->mem : 1);
        if (!worst || u < least) worst = l, least = u;
    }
    return worst;
}

void core_lineage_gc(core *e) {
    size_t idle = 0;
    long long mem = 0, spare_mem = 0;
    int spare = 0; /* the smallest idle kernel no pending cell reads from */
    for (size_t i = 0; i < e->nlins; i++) {
        const core_lineage *l = &e->lins[i];
        if (l->busy || !spare_ok(e, l) || usefulness(e, l, 1)) continue;
        if (!spare || l->mem < spare_mem) spare = l->id, spare_mem = l->mem;
    }
    for (size_t i = e->nlins; i-- > 0;) {
        core_lineage *l = &e->lins[i];
        if (l->busy) continue;
        if (l->id != spare && !usefulness(e, l, 1)) {
            drop(e, l, "no pending cell reads what it holds");
        } else {
            idle++;
            mem += l->mem;
        }
    }
    for (; idle > idle_max(e); idle--) {
        core_lineage *l = least_useful(e, 0);
        mem -= l->mem;
        drop(e, l, "evicted: more idle lineage kernels than jobs");
    }
    /* the memory budget: the least benefit per byte goes first */
    for (; idle && e->o->mem_budget > 0 && mem > e->o->mem_budget; idle--) {
        core_lineage *l = least_useful(e, 1);
        char why[160];
        snprintf(why, sizeof why, "evicted: idle lineage kernels keep %lld MB, over the memory budget of %lld MB",
                 mem >> 20, e->o->mem_budget >> 20);
        mem -= l->mem;
        drop(e, l, why);
    }
}

void core_lineage_free(core *e) {
    while (e->nlins) remove_lineage(e, &e->lins[e->nlins - 1]);
    free(e->lins);
    e->lins = NULL;
}

/* ---- fork from template ------------------------------------------------------------
 *
 * Where the graph branches (in parallel mode, two or more readers of what
 * an idle lineage kernel holds ready at once), only one of them can go on
 * in it. The others are
 * started in a kernel forked from it, the lineage kernel serving as a
 * template (kernel.py _fork): its heap copy-on-write, so no import of what
 * it holds and every identity, view and piece of process state as the
 * producer left them, with the same keep/hold/delete lists a continuation
 * gets; they import only what other cells wrote. The template stays idle
 * for more readers, the last of which goes on in it. Not from a kernel
 * whose cells left threads running (fork copies the calling thread only),
 * nor for a reader that keeps a value no artifact carries (a generator
 * would be consumed twice, once in each copy).
 *
 * Cost: an import of b bytes takes IMPORT_US + b / rate, the rate learned
 * from the imports this run has seen (prior 200 MB/s); a fork takes
 * FORK_US (bench/forkread.py: 6.5 ms for the fork call, 16 ms from request
 * to a ready child, where the 100,000 x 2 int frame's mapped import took 2
 * ms) plus the copy of the template's page tables (about 30 us per MB of
 * its private memory, measured: 26 ms for a 750 MB Python heap) plus
 * the copy-on-write faults of the pages the reader touches (the bytes it
 * keeps, at about 2 GB/s). */

#define IMPORT_US 1000LL
#define IMPORT_RATE_MIN (1LL << 20) /* imports from this size on teach the rate */
#define FORK_US 8000LL

void core_lineage_learn(core *e, size_t k, json_t *done) {
    (void)k;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(done, "events"), i, ev) {
        const char *name = json_string_value(json_object_get(ev, "name"));
        if (!name || strncmp(name, "import:", 7) != 0) continue;
        /* a small import's time is its first-use costs (40 ms for the first
         * Arrow read of a kernel), not a rate: 2 KB in 40 ms made every
         * import look dear and every reader fork (pydata-book ch05) */
        json_int_t bytes = json_integer_value(json_object_get(json_object_get(ev, "args"), "bytes"));
        if (bytes < IMPORT_RATE_MIN) continue;
        e->imp_bytes += bytes;
        e->imp_us += json_integer_value(json_object_get(ev, "dur"));
    }
}

/* Bytes per microsecond an import moves: learned once 10 ms of imports
 * were seen, else the prior. */
static double import_rate(core *e) {
    if (e->imp_us >= 10000 && e->imp_bytes > 0) return (double)e->imp_bytes / (double)e->imp_us;
    return 200.0;
}

/* A cell's expected duration in us (an earlier run's, core_cell.expect), else `unknown`. */
static int64_t expect_us(const core_cell *c, int64_t unknown) {
    return c->expect > 0 ? (int64_t)(c->expect * 1e6) : unknown;
}

/* Whether a pending cell other than k, whose predicted producers are
 * done (it could start beside k), would go on in l too: 0 when none, else
 * the longest such cell's expected duration in us (1 when none is known).
 * One that must wait for another cell can go on later in k's kernel, which
 * keeps what k read. */
static int64_t other_reader(core *e, size_t k, const core_lineage *l) {
    int64_t most = 0;
    for (size_t m = (size_t)l->last + 1; m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        if (m == k || d->skip || d->state != C_PENDING || !gain(e, m, l)) continue;
        int ready = 1;
        for (size_t i = 0; i < d->deps.n && ready; i++)
            ready = e->cells[d->deps.v[i]].skip || e->cells[d->deps.v[i]].state == C_DONE;
        if (!ready) continue;
        int64_t us = expect_us(d, 1);
        if (us > most) most = us;
    }
    return most;
}

static void no_fork(core *e, size_t k, const core_lineage *l, const char *why) {
    if (!e->tr) return;
    json_t *a = json_pack("{s:i,s:s}", "template", (int)l->last, "why", why);
    char *s = json_dumps(a, JSON_COMPACT);
    trace_complete(e->tr, "no-fork", (int)k, 0, time_mono_us(), 0, s);
    free(s);
    json_decref(a);
}

static int fork_pays(core *e, size_t k, core_lineage *l, int must);

/* Whether a cell forked from l runs: l's kernel must then not be killed
 * (its forked kernels die with it), so no cell goes on in it. */
static int forks_running(core *e, const core_lineage *l) {
    for (size_t m = 0; m < e->ncells; m++)
        if (e->cells[m].state == C_RUNNING && e->cells[m].fork_of == l->id) return 1;
    return 0;
}

int core_lineage_spare(core *e, size_t k) {
    if (!e->o->lineage || e->o->mode == MODE_MONOLITHIC) return 0;
    /* One cell at a time (serial, -j 1): nothing runs beside k, so a lineage
     * kernel that later cells read from takes k too (what k does not read is
     * set aside for them, as for any continuation) instead of a fresh kernel:
     * no fork, no first-use costs (IPython's first traceback: 150-400 ms), and
     * the lineage is not evicted for the fresh kernel (pydata-book ch03 in
     * serial: five error cells each paid a fresh kernel's first traceback). */
    /* In parallel mode with branch_ms, the same: a new kernel costs more than
     * a short cell (branch_pays), so any idle kernel takes k, the one whose
     * pending readers would save the least in it; they wait for it, or
     * import elsewhere once it has run longer than branch_ms. */
    int one = one_at_a_time(e), any = one || e->o->branch_ms > 0;
    core_lineage *best = NULL;
    long long least = 0;
    for (size_t i = 0; i < e->nlins; i++) {
        core_lineage *l = &e->lins[i];
        if (l->last >= (long)k || forks_running(e, l)) continue;
        if (spare_ok(e, l) && !usefulness(e, l, 1)) return l->id;
        if (!any || !e->o->lineage_spare || l->busy || l->stale || l->threads > 1) continue;
        if (one) return l->id;
        long long u = usefulness(e, l, 0);
        if (!best || u < least) best = l, least = u;
    }
    return best ? best->id : 0;
}

static double import_us(core *e, size_t k, const core_lineage *l, long long *bytes, int *live);

/* Where l's readers k and others are ready at once, whether running them
 * side by side pays: a reader in a new kernel pays the fork and then a
 * copy-on-write fault for every page it touches, of the template's heap as
 * of its own (60 us a fault on a VM: 60-150 ms of a short cell's compute;
 * pydata-book ch05: 71 forks, compute 7.1 s against 0.62 s one after the
 * other), and the first-use costs of a new kernel. That is run_opts.branch_ms.
 * It pays when both k and the longest other ready reader are known (the
 * cache's earlier runs) to take longer, or when k's imports would (a reader
 * that waits for k then starts fresh and imports). Otherwise k goes on in l
 * and the others wait for it (core_lineage_wait), as one kernel would. */
static int branch_pays(core *e, size_t k, const core_lineage *l, int64_t other_us) {
    int64_t penalty = (int64_t)e->o->branch_ms * 1000;
    if (!penalty) return 1;
    if (expect_us(&e->cells[k], 0) > penalty && other_us > penalty) return 1;
    long long bytes = 0;
    int live = 0;
    if (import_us(e, k, l, &bytes, &live) > (double)penalty) return 1;
    if (e->tr) {
        char why[160];
        snprintf(why, sizeof why, "its readers are not known to take longer than a new kernel costs (%d ms)",
                 e->o->branch_ms);
        no_fork(e, k, l, why);
    }
    return 0;
}

int core_lineage_fork(core *e, size_t k, int id) {
    core_lineage *l = find(e, id);
    if (!l || !e->o->lineage_fork) return 0;
    int busy = forks_running(e, l);
    if (!busy) {
        /* one cell at a time, the readers go on one after the other */
        if (e->o->mode != MODE_PARALLEL || e->o->jobs < 2) return 0;
        int64_t other = other_reader(e, k, l);
        if (!other || (e->o->lineage_fork < 2 && !branch_pays(e, k, l, other))) return 0;
    }
    int f = fork_pays(e, k, l, busy);
    return busy && !f ? -1 : f;
}

/* What k would pay to import what it reads of l: per name and per byte. */
static double import_us(core *e, size_t k, const core_lineage *l, long long *bytes, int *live) {
    core_cell *c = &e->cells[k];
    long long names = 0;
    *bytes = 0;
    *live = 0;
    for (size_t i = 0; i < l->nns; i++) {
        const core_held *h = &l->ns[i];
        if (!(wanted(e, c, h->name) || group_kept(e, c, l, h)) || !valid_for(e, k, h)) continue;
        if (is_live(h->codec)) *live = 1;
        *bytes += h->size > 0 ? h->size : 0;
        names++;
    }
    return (double)(names * IMPORT_US) + (double)*bytes / import_rate(e);
}

/* 1 when k forks from l: it can, and the imports saved cost more than the
 * fork (or anyway: must, or FLOE_LINEAGE_FORK=always). */
static int fork_pays(core *e, size_t k, core_lineage *l, int must) {
    long long bytes = 0;
    int live = 0;
    double imp_us = import_us(e, k, l, &bytes, &live);
    if (live) {
        no_fork(e, k, l, "it keeps a value no artifact carries");
        return 0;
    }
    if (l->threads > 1) {
        no_fork(e, k, l, "threads its cells started are running in the template");
        return 0;
    }
    if (l->native_threads > 1) { /* libgomp's pool: the child's next parallel region would hang */
        no_fork(e, k, l, "native threads (a thread pool: OpenMP, BLAS) are running in the template");
        return 0;
    }
    double fork_us = (double)FORK_US + (double)l->mem * 30.0 / 1048576.0 + (double)bytes / 2048.0;
    return must || e->o->lineage_fork > 1 || imp_us > fork_us;
}

void core_lineage_start_fork(core *e, size_t k, int id, json_t *m, strvec *kept) {
    core_lineage *l = find(e, id);
    int busy = l ? l->busy : 0;
    long running = l ? l->running : 0;
    core_lineage_start(e, k, id, m, kept);
    if (l) l->busy = busy, l->running = running; /* the template stays idle */
    e->cells[k].cont = 0; /* its kernel is its own: a lineage of its own when it finishes */
    e->cells[k].fork_of = id;
    json_object_set_new(m, "fork", json_true());
}
