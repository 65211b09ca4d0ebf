/* core.c — the scheduling core (see core.h): the graph, scopes, re-runs,
 * holders, files raced on, the random state and dispatch.
 *
 * Every code cell is a `core_cell`. In the isolated modes a cell's scope is
 * resolved against the cells before it in notebook order: the most recent
 * finished cell that exported (or deleted) a name supplies it. A cell that
 * is not finished yet and is predicted to write the name makes the reader
 * wait; one predicted not to write it is passed over speculatively, and
 * the read is recorded. When a cell finishes, every later cell that already
 * read an older version of one of its exports is re-run (view-
 * serializability in notebook order). Re-runs go through a work list
 * (core_invalidate), so a re-run that makes other cells stale, or drops a
 * holder whose users run again, never recurses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

/* ---- actions ---------------------------------------------------------------- */

core_action *core_push(core *c, core_action_kind kind, size_t cell) {
    if (c->nacts == c->capacts) {
        if (c->headacts) { /* reuse the drained front */
            memmove(c->acts, c->acts + c->headacts, (c->nacts - c->headacts) * sizeof *c->acts);
            c->nacts -= c->headacts;
            c->headacts = 0;
        }
        if (c->nacts == c->capacts) {
            c->capacts = c->capacts ? c->capacts * 2 : 16;
            c->acts = xrealloc(c->acts, c->capacts * sizeof *c->acts);
        }
    }
    core_action *a = &c->acts[c->nacts++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->cell = cell;
    return a;
}

int core_next_action(core *c, core_action *out) {
    if (c->headacts == c->nacts) {
        c->headacts = c->nacts = 0;
        return 0;
    }
    *out = c->acts[c->headacts++];
    return 1;
}

/* ---- scope resolution ------------------------------------------------------ */

/* ---- artifacts -------------------------------------------------------------- */

static const char *const codec_names[] = {
#define FLOE_CODEC(id, name, doc) name,
#define FLOE_MSG(id, op, dir, fields)
#include "floe_kernel/protocol.def"
#undef FLOE_CODEC
#undef FLOE_MSG
};

core_codec core_codec_parse(const char *name) {
    for (size_t i = 0; name && i < sizeof codec_names / sizeof *codec_names; i++)
        if (!strcmp(codec_names[i], name)) return (core_codec)i;
    return CODEC_UNKNOWN;
}

const char *core_codec_name(core_codec c) { return c < CODEC_UNKNOWN ? codec_names[c] : "?"; }

/* Exports beyond which a cell's are looked up through a hash index. */
#define ART_INDEXED 16

void core_art_push(artvec *v, json_t *desc, long cell, long version) {
    const char *name = json_string_value(json_object_get(desc, "name"));
    if (!name) return;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    core_artifact *a = &v->v[v->n++];
    memset(a, 0, sizeof *a);
    a->name = xstrdup(name);
    a->codec = core_codec_parse(json_string_value(json_object_get(desc, "codec")));
    a->version = version;
    a->cell = cell;
    a->path = json_string_value(json_object_get(desc, "path"));
    a->size = (long long)json_integer_value(json_object_get(desc, "bytes"));
    const char *h = json_string_value(json_object_get(desc, "hash"));
    if (h) snprintf(a->hash, sizeof a->hash, "%s", h);
    a->same = json_is_true(json_object_get(desc, "same"));
    a->wire = json_incref(desc);
    if (v->n == ART_INDEXED)
        for (size_t i = 0; i < v->n; i++) nameidx_add(&v->idx, v->v[i].name, i);
    else if (v->n > ART_INDEXED)
        nameidx_add(&v->idx, a->name, v->n - 1);
}

void core_art_free(artvec *v) {
    for (size_t i = 0; i < v->n; i++) {
        free(v->v[i].name);
        json_decref(v->v[i].wire);
    }
    free(v->v);
    nameidx_free(&v->idx);
    memset(v, 0, sizeof *v);
}

core_artifact *core_find_export(core_cell *c, const char *name) {
    if (c->exports.n >= ART_INDEXED) {
        long at = nameidx_get(&c->exports.idx, name);
        return at < 0 ? NULL : &c->exports.v[at];
    }
    for (size_t i = 0; i < c->exports.n; i++)
        if (!strcmp(c->exports.v[i].name, name)) return &c->exports.v[i];
    return NULL;
}

json_t *core_exports_json(const core_cell *c) {
    json_t *a = json_array();
    for (size_t i = 0; i < c->exports.n; i++) json_array_append(a, c->exports.v[i].wire);
    return a;
}


static int is_dropped(const core_artifact *a) { return a && a->codec == CODEC_DROPPED; }
static int is_unmovable(const core_artifact *a) { return a && a->codec == CODEC_UNMOVABLE; }

static int may_write(const core_cell *c, const char *name) {
    return c->open_world || strvec_contains(&c->pred_writes, name) || strvec_contains(&c->known_writes, name);
}

/* The writer index: core_resolve looks only at the cells that may write,
 * wrote or deleted a name (and at open-world cells), not at every earlier
 * cell, so resolving stays cheap in long notebooks. Entries are never
 * removed; a stale one costs one check. */
static void index_in(strmap *map, const char *name, size_t k) {
    sizevec *w = strmap_put(map, name);
    if (w->n && w->v[w->n - 1] == k) return;
    sizevec_push(w, k);
}

static void index_results(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    for (size_t i = 0; i < c->exports.n; i++) index_in(&e->writers, c->exports.v[i].name, k);
    for (size_t d = 0; d < c->deletes.n; d++) index_in(&e->writers, c->deletes.v[d], k);
}

static int desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The cells before k that may matter for `name`, latest first. */
static size_t candidates(core *e, size_t k, const char *name, size_t **out) {
    const sizevec *w = strmap_get(&e->writers, name);
    size_t cap = (w ? w->n : 0) + e->opens.n, n = 0, i;
    size_t *v = xmalloc((cap ? cap : 1) * sizeof *v);
    for (i = 0; w && i < w->n; i++)
        if (w->v[i] < k) v[n++] = w->v[i];
    for (i = 0; i < e->opens.n; i++)
        if (e->opens.v[i] < k) v[n++] = e->opens.v[i];
    qsort(v, n, sizeof *v, desc);
    size_t u = 0;
    for (i = 0; i < n; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    *out = v;
    return u;
}

int core_resolve(core *e, size_t k, const char *name, core_artifact **art, long *from) {
    size_t *cand, n = candidates(e, k, name, &cand);
    int r = RES_NONE;
    *from = -1;
    for (size_t i = 0; i < n; i++) {
        size_t j = cand[i];
        core_cell *c = &e->cells[j];
        if (c->skip) continue;
        if (c->state != C_DONE) {
            if (may_write(c, name)) {
                *from = (long)j;
                r = RES_WAIT;
                break;
            }
            continue;
        }
        core_artifact *a = core_find_export(c, name);
        if (a) {
            *art = a;
            *from = (long)j;
            r = RES_FOUND;
            break;
        }
        if (strvec_contains(&c->deletes, name)) {
            *from = (long)j;
            break;
        }
    }
    free(cand);
    return r;
}

void core_record_read(core_cell *c, const char *name, long from) {
    for (size_t i = 0; i < c->nreads; i++)
        if (!strcmp(c->reads[i].name, name)) {
            c->reads[i].from = from;
            return;
        }
    if (c->nreads == c->capreads) {
        c->capreads = c->capreads ? c->capreads * 2 : 8;
        c->reads = xrealloc(c->reads, c->capreads * sizeof *c->reads);
    }
    c->reads[c->nreads].name = xstrdup(name);
    c->reads[c->nreads].from = from;
    c->nreads++;
}

/* ---- cell lifecycle ------------------------------------------------------------ */

void core_reset_results(core_cell *c) {
    json_decref(c->outputs);
    json_decref(c->display_ids);
    core_art_free(&c->exports);
    c->outputs = json_array();
    c->display_ids = json_object();
    json_decref(c->updates);
    c->updates = json_array();
    strvec_free(&c->deletes);
    strvec_free(&c->rfiles);
    strvec_free(&c->wfiles);
    strvec_free(&c->tfiles);
    strvec_free(&c->sfiles);
    strvec_free(&c->dfiles);
    for (size_t i = 0; i < c->nreads; i++) free(c->reads[i].name);
    c->nreads = 0;
    free(c->ename);
    free(c->evalue);
    c->ename = c->evalue = NULL;
    c->error = 0;
    c->restored = 0;
    c->timed_out = 0;
    c->dead = 0;
    free(c->need);
    free(c->need_link);
    c->need = c->need_link = NULL;
}

/* ---- re-runs: the work list ------------------------------------------------------ */

static void work_push(core *e, size_t k, const char *why) {
    if (e->nwork == e->capwork) {
        e->capwork = e->capwork ? e->capwork * 2 : 16;
        e->work = xrealloc(e->work, e->capwork * sizeof *e->work);
        e->work_why = xrealloc(e->work_why, e->capwork * sizeof *e->work_why);
    }
    e->work[e->nwork] = k;
    snprintf(e->work_why[e->nwork], sizeof e->work_why[0], "%s", why);
    e->nwork++;
}

/* Holder h's values are no longer right (a cell that used it is re-run, or
 * it died): every cell that used it runs again, from the cell that made
 * them; the driver kills its kernel. */
static void drop_holder(core *e, int h) {
    for (size_t m = 0; m < e->ncells; m++) {
        core_cell *c = &e->cells[m];
        int user = c->holder == h || (c->state == C_RUNNING && c->run_in == h);
        if (c->holder == h) c->holder = 0;
        if (user) work_push(e, m, "the kernel holding its unmovable values is gone");
    }
    core_action *a = core_push(e, CA_DROP_HOLDER, 0);
    a->holder = h;
}

/* One re-run: cell k goes back to pending. A running attempt's kernel is
 * killed; a finished one's readers are pushed on the work list. */
static void rerun_one(core *e, size_t k, const char *why, int publish) {
    core_cell *c = &e->cells[k];
    if (c->state == C_PENDING) return;
    if (c->holder) drop_holder(e, c->holder); /* k is among its users: reset now */
    core_lineage_rerun(e, k, c->state == C_RUNNING && publish);
    core_action *a = core_push(e, CA_RERUN, k);
    snprintf(a->why, sizeof a->why, "%s", why);
    e->stats.reruns++;
    if (!e->o->quiet && getenv("FLOE_DEBUG")) fprintf(stderr, "floe: re-running cell %zu: %s\n", k, why);
    if (c->state == C_RUNNING && publish) {
        core_push(e, CA_KILL, k);
        e->running--;
        if (c->parked) e->parked--;
    }
    int was_done = c->state == C_DONE && publish;
    c->state = C_PENDING;
    c->run_in = 0;
    if (e->settled > k) e->settled = k;
    c->parked = 0;
    c->attempt++;
    /* cells that read from this one are stale too */
    if (was_done)
        for (size_t m = k + 1; m < e->ncells; m++) {
            core_cell *d = &e->cells[m];
            for (size_t i = 0; i < d->nreads; i++)
                if (d->reads[i].from == (long)k) {
                    work_push(e, m, "its input was re-run");
                    break;
                }
        }
    core_reset_results(c);
}

static void drain_work(core *e) {
    for (size_t i = 0; i < e->nwork; i++) {
        char why[160];
        memcpy(why, e->work_why[i], sizeof why);
        rerun_one(e, e->work[i], why, 1);
    }
    e->nwork = 0;
}

void core_invalidate(core *e, size_t k, const char *why) {
    work_push(e, k, why);
    if (e->nwork == 1) drain_work(e); /* else an outer drain is under way */
}

/* A cell just finished, but its attempt does not count (a read the
 * prediction missed, a stale random state): it runs again. Its results were
 * never published, so no reader is stale and no kernel is to kill. */
static void retry(core *e, size_t k, const char *why) {
    rerun_one(e, k, why, 0);
    drain_work(e);
}

static long read_from(const core_cell *c, const char *name) {
    for (size_t i = 0; i < c->nreads; i++)
        if (!strcmp(c->reads[i].name, name)) return c->reads[i].from;
    return -1;
}

/* Co-variables written again unchanged. A cell that binds a new member of a
 * group (`centers = kmeans.cluster_centers_.reshape(10, 8, 8)`) writes the
 * whole group again, marking the members it did not change `same`
 * (covars.py): such a member's version j holds the value of the version
 * cell j itself read, and so on down the chain. Whether version `from` of
 * a's name is one of those: a reader of it read the value j holds. */
static int same_chain(core *e, size_t j, const core_artifact *a, long from) {
    for (int depth = 0; a && a->same && depth < 64; depth++) {
        long s = read_from(&e->cells[j], a->name);
        if (s < 0 || s >= (long)j) return 0;
        if (s == from) return 1;
        j = (size_t)s;
        a = e->cells[j].state == C_DONE ? core_find_export(&e->cells[j], a->name) : NULL;
    }
    return 0;
}

static int mutated(const core_artifact *a) {
    return a && json_is_true(json_object_get(a->wire, "mutated"));
}

/* Cell k read a member of a group that an earlier cell j then wrote again
 * unchanged, linked with a new member, and k changed the member in place
 * (not rebound it): in a top-to-bottom run its write would reach the new
 * member too. The name, or NULL when there is none such. */
static const char *same_written(core *e, size_t k, size_t *jw) {
    core_cell *c = &e->cells[k];
    for (size_t i = 0; i < c->exports.n; i++) {
        const char *name = c->exports.v[i].name;
        if (!mutated(&c->exports.v[i])) continue;
        long s = read_from(c, name);
        core_artifact *art = NULL;
        long j;
        if (s < 0 || core_resolve(e, k, name, &art, &j) != RES_FOUND || j == s) continue;
        if (same_chain(e, (size_t)j, art, s)) {
            *jw = (size_t)j;
            return name;
        }
    }
    return NULL;
}

/* A finished cell j exported or deleted `name`: later cells that read an
 * older version are stale (unless it is the same value, and they do not
 * write it: checked again when a running one finishes, same_written). */
static int rng_rest_same(const core_cell *c, const core_artifact *a);

static void validate_readers(core *e, size_t j, const char *name) {
    core_artifact *a = core_find_export(&e->cells[j], name);
    for (size_t k = j + 1; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        if (c->state != C_RUNNING && c->state != C_DONE) continue;
        for (size_t i = 0; i < c->nreads; i++) {
            if (strcmp(c->reads[i].name, name) != 0) continue;
            if (c->reads[i].from < (long)j && a && a->same && same_chain(e, j, a, c->reads[i].from) &&
                (c->state == C_RUNNING || !mutated(core_find_export(c, name))))
                break;
            if (c->reads[i].from < (long)j && !(!strcmp(name, RNG_NAME) && rng_rest_same(c, a))) {
                char why[160];
                snprintf(why, sizeof why, "cell %zu wrote '%s' after cell %zu read it", j, name, k);
                core_invalidate(e, k, why);
            }
            break;
        }
    }
}

/* A cell needs a value its producer did not write out: run the producer
 * again, exporting everything. */
static void want_dropped(core *e, long producer, const char *name) {
    e->cells[producer].export_all = 1;
    char why[160];
    snprintf(why, sizeof why, "'%s' is needed after all", name);
    core_invalidate(e, (size_t)producer, why);
}

/* ---- holders ------------------------------------------------------------------ */

/* A value that cannot move between processes (a generator, an open file, a
 * connection) stays in the kernel that made it: that kernel is kept as the
 * cell's holder, and the cells that read such values run in it, one after
 * the other in notebook order, each from a fresh namespace plus those
 * values (kernel.py, "reuse"). Not forked from it: a generator advanced by
 * one reader must be seen advanced by the next. */

static size_t settled(core *e);

/* Holder h is gone or no longer needed: no cell refers to it any more. */
static void forget_holder(core *e, int h) {
    for (size_t m = 0; m < e->ncells; m++)
        if (e->cells[m].holder == h) e->cells[m].holder = 0;
}

static int holder_busy(core *e, int h) {
    for (size_t m = 0; m < e->ncells; m++)
        if (e->cells[m].state == C_RUNNING && e->cells[m].run_in == h) return 1;
    return 0;
}

static core_artifact *as_left_by(core *e, size_t j, const char *name);
static core_artifact *refs_unmovable(core *e, const core_artifact *art, long from);
static int refs_holder(core *e, const core_artifact *art, long from);

/* The one holder of the unmovable values cell k is predicted to read; 0
 * when there are none, or their holder is gone, or they are in two kernels
 * (the cell then gets the Unmovable error). *wait: the holder is busy, or
 * an earlier cell has not finished. */
static int holder_for(core *e, size_t k, int *wait) {
    core_cell *c = &e->cells[k];
    int h = 0;
    *wait = 0;
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        const char *name = c->pred_reads.v[i];
        core_artifact *art = NULL;
        long from;
        if (core_resolve(e, k, name, &art, &from) != RES_FOUND) continue;
        if (!is_unmovable(art)) {
            /* a pickled instance of a class that lives only in a holder */
            int hk = refs_holder(e, art, from);
            if (!hk) continue;
            if (h && hk != h) return 0;
            h = hk;
            continue;
        }
        int hk = e->cells[from].holder;
        if (!hk || (h && hk != h)) return 0;
        h = hk;
        for (size_t j = (size_t)from + 1; j < k; j++) {
            core_cell *d = &e->cells[j];
            if (!d->skip && d->state != C_DONE && strvec_contains(&d->pred_reads, name)) *wait = 1;
        }
    }
    /* and after every earlier cell: re-running a cell that ran in a holder
     * means re-running all its users, so it must not start on a state (the
     * random state, a read the prediction missed) that could still change */
    if (h && (holder_busy(e, h) || settled(e) < k)) *wait = 1;
    return h;
}

/* Whether a cell between k and m binds name before m runs: a top-level
 * binding outside any branch (an_cell.certain). Then no value of name as k
 * left it reaches m, unless that cell stops before the binding and the run
 * goes on (--allow-errors, a raises-exception tag): unshadow. */
static int shadowed_between(core *e, size_t k, size_t m, const char *name) {
    for (size_t j = k + 1; j < m; j++) {
        const core_cell *d = &e->cells[j];
        if (!d->skip && strvec_contains(&d->certain_writes, name)) return 1;
    }
    return 0;
}

/* Cell k stopped (an error, the run going on) before binding a name it
 * binds whenever it ends well: an earlier cell's unmovable value of it,
 * whose kernel was let go as k was to hide it (shadowed_between), is what a
 * later cell reads now. The cell that made it runs again, in a kernel that
 * then holds it. */
static void unshadow(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    for (size_t i = 0; i < c->certain_writes.n && c->state == C_DONE; i++) {
        const char *name = c->certain_writes.v[i];
        if (core_find_export(c, name)) continue;
        for (size_t m = k + 1; m < e->ncells; m++) {
            core_cell *d = &e->cells[m];
            core_artifact *art = NULL;
            long from;
            if (d->skip || d->state == C_DONE || !strvec_contains(&d->pred_reads, name) ||
                core_resolve(e, m, name, &art, &from) != RES_FOUND || !is_unmovable(art) || e->cells[from].holder)
                continue;
            char why[160];
            snprintf(why, sizeof why, "cell %zu stopped before binding '%s', which cell %zu reads", k, name, m);
            core_invalidate(e, (size_t)from, why);
        }
    }
}

/* Whether a cell after k that has yet to finish is predicted to read an
 * unmovable value made by k or held by h (0: k ran in a kernel of its
 * own): only then is the kernel kept when k finishes (a `with open(...) as
 * f` leaves an unmovable `f` in many cells that nobody reads again, and a
 * kept kernel keeps its memory). Always when cells keep coming. */
static int holder_wanted(core *e, size_t k, int h) {
    if (e->o->open_ended) return 1; /* the cells that will read them are not known yet */
    for (size_t m = k + 1; m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        if (d->skip) continue;
        if (d->state == C_DONE) {
            /* it read an older version of a name k holds now: it runs
             * again (validate_readers, after this), in k's kernel */
            for (size_t i = 0; i < d->nreads; i++)
                if (d->reads[i].from < (long)k && is_unmovable(core_find_export(&e->cells[k], d->reads[i].name)))
                    return 1;
            continue;
        }
        for (size_t i = 0; i < d->pred_reads.n; i++) {
            const char *name = d->pred_reads.v[i];
            core_artifact *art = NULL;
            long from;
            int r = core_resolve(e, m, name, &art, &from);
            if (r == RES_FOUND && is_unmovable(art) && (from == (long)k || (h && e->cells[from].holder == h)))
                return 1;
            core_artifact *u = r == RES_FOUND && !is_unmovable(art) ? refs_unmovable(e, art, from) : NULL;
            if (u && (u->cell == (long)k || (h && e->cells[u->cell].holder == h))) return 1;
            if (r != RES_WAIT || shadowed_between(e, k, m, name)) continue;
            /* behind a cell that may write it: wanted if it is held here */
            if (is_unmovable(core_find_export(&e->cells[k], name))) return 1;
            for (size_t j = 0; h && j < k; j++)
                if (e->cells[j].holder == h && is_unmovable(core_find_export(&e->cells[j], name))) return 1;
        }
    }
    return 0;
}

/* The names whose values, as cell k sees them, live only in holder h: what
 * a cell running in h keeps when its namespace is reset. */
static void held_names(core *e, size_t k, int h, strvec *out) {
    for (size_t j = 0; j < k; j++) {
        if (e->cells[j].holder != h) continue;
        for (size_t i = 0; i < e->cells[j].exports.n; i++) {
            core_artifact *a = &e->cells[j].exports.v[i], *art = NULL;
            long from;
            if (is_unmovable(a) && core_resolve(e, k, a->name, &art, &from) == RES_FOUND && art == a &&
                !strvec_contains(out, a->name))
                strvec_push(out, a->name);
        }
    }
}

void core_holder_gone(core *e, int h) {
    if (h) forget_holder(e, h);
    core_lineage_gone(e, h);
}

/* ---- the random state -------------------------------------------------------- */

/* The latest finished cell before k that left a random state (see RNG in
 * kernel.py), or -1. Not a wait: a cell starts with the state known now,
 * and rng_stale() re-runs it if it drew and an earlier writer finished
 * meanwhile. */
static long rng_writer(core *e, size_t k, core_artifact **art) {
    for (size_t j = k; j-- > 0;) {
        core_cell *c = &e->cells[j];
        if (c->skip || c->state != C_DONE) continue;
        core_artifact *a = core_find_export(c, RNG_NAME);
        if (a) {
            *art = a;
            return (long)j;
        }
    }
    *art = NULL;
    return -1;
}

/* Whether cell c, which seeded every generator it used before drawing
 * (rng_fresh), owes nothing to how the state a (the random state's
 * artifact now before it, or NULL: none) differs from what it was given:
 * a's process state besides the generators (cwd, environment, options...)
 * is the one c had ("rest": its hash). Such a cell is neither stale nor
 * re-run when an earlier seed lands after it started. */
static int rng_rest_same(const core_cell *c, const core_artifact *a) {
    const char *rest = a ? json_string_value(json_object_get(a->wire, "rest")) : NULL;
    return c->rng_fresh && c->rng_rest0 && rest && !strcmp(rest, c->rng_rest0);
}

/* A cell that used the random state read it: recorded, so that an earlier
 * cell finishing later with a new state makes it run again; and if that
 * already happened while it ran, it runs again now. "Already happened"
 * includes the state's own writer having been re-run while this cell ran:
 * the same cell, another state (its file tells them apart). A cell that only
 * drew from unseeded generators ("rng_drew") read the state but wrote none:
 * later drawers are not re-run on it, a seed set earlier still re-runs it. */
static int rng_stale(core *e, size_t k, json_t *msg) {
    core_cell *c = &e->cells[k];
    const char *rest0 = json_string_value(json_object_get(msg, "rng_rest0"));
    c->rng_fresh = msg && json_is_true(json_object_get(msg, "rng_fresh")) && rest0;
    free(c->rng_rest0);
    c->rng_rest0 = c->rng_fresh ? xstrdup(rest0) : NULL;
    if (!msg || !(json_is_true(json_object_get(msg, "rng_touched")) || json_is_true(json_object_get(msg, "rng_drew"))))
        return 0;
    core_record_read(c, RNG_NAME, c->rng_from);
    core_artifact *art;
    int stale;
    if (rng_writer(e, k, &art) != c->rng_from) {
        stale = 1;
    } else { /* the same writer, re-run while this cell ran: another state */
        const char *now = art ? art->path : NULL;
        stale = !now || !c->rng_path ? now != c->rng_path : strcmp(now, c->rng_path) != 0;
    }
    return stale && !rng_rest_same(c, art);
}

/* ---- building requests ------------------------------------------------------- */

/* The artifact of `name` as cell j left it: its own export, else what it saw. */
static core_artifact *as_left_by(core *e, size_t j, const char *name) {
    core_artifact *a = core_find_export(&e->cells[j], name), *art = NULL;
    long from;
    if (a) return a;
    return core_resolve(e, j, name, &art, &from) == RES_FOUND ? art : NULL;
}

/* A pickled value refers to classes of the notebook by name (its
 * "main_refs": `acct`, an Account): cell k must get the class its
 * producer `from` had, not a later one bound to the name since (a class
 * redefined, as Jupyter keeps old instances' class). The wire to send:
 * art's own, or a copy naming those classes' artifacts under "refs" (a new
 * reference either way). */
static json_t *import_wire(core *e, size_t k, const core_artifact *art, long from) {
    json_t *names = json_object_get(art->wire, "main_refs"), *refs = NULL, *v;
    size_t i;
    json_array_foreach(names, i, v) {
        const char *n = json_string_value(v);
        core_artifact *theirs = n && from >= 0 ? as_left_by(e, (size_t)from, n) : NULL, *ours = NULL;
        long f2;
        if (!theirs || !theirs->wire) continue;
        if (core_resolve(e, k, n, &ours, &f2) == RES_FOUND && ours == theirs) continue;
        if (!refs) refs = json_object();
        json_object_set(refs, n, theirs->wire);
    }
    if (!refs) return json_incref(art->wire);
    json_t *w = json_copy(art->wire);
    json_object_set_new(w, "refs", refs);
    return w;
}

/* The unmovable class (changed after its definition, so held where that
 * happened) a pickled value refers to (import_wire), or NULL. */
static core_artifact *refs_unmovable(core *e, const core_artifact *art, long from) {
    json_t *names = json_object_get(art->wire, "main_refs"), *v;
    size_t i;
    json_array_foreach(names, i, v) {
        const char *n = json_string_value(v);
        core_artifact *theirs = n && from >= 0 ? as_left_by(e, (size_t)from, n) : NULL;
        if (theirs && is_unmovable(theirs) && theirs->cell >= 0) return theirs;
    }
    return NULL;
}

static int refs_holder(core *e, const core_artifact *art, long from) {
    core_artifact *u = refs_unmovable(e, art, from);
    return u ? e->cells[u->cell].holder : 0;
}

static void add_import(core *e, size_t k, json_t *imports, const char *name, const strvec *kept) {
    core_artifact *art = NULL;
    long from;
    if (strvec_contains(kept, name)) return; /* its lineage kernel holds it: recorded there */
    int r = core_resolve(e, k, name, &art, &from);
    if (r == RES_WAIT) return; /* resolved lazily if the cell reads it */
    core_record_read(&e->cells[k], name, from);
    if (r != RES_FOUND) return;
    if (is_unmovable(art) || is_dropped(art)) {
        e->cells[k].lazy_now = 1; /* fails only if the cell really reads it */
        return;
    }
    json_array_append_new(imports, import_wire(e, k, art, from));
    core_held_add(&e->cells[k], name, art);
}

/* Names visible to cell k: every name exported before it. */
static void all_visible(core *e, size_t k, strvec *out) {
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < e->cells[j].exports.n; i++) strvec_push(out, e->cells[j].exports.v[i].name);
    strvec_sort_unique(out);
}

static json_t *str_array(const strvec *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++) json_array_append_new(a, json_string(v->v[i]));
    return a;
}

/* IPython's history as cell k sees it (every earlier cell is done):
 * {"in": [[count, code]...], "out": [[count, artifact]...]}, the results
 * being the _N their cells exported. */
static json_t *history_of(core *e, size_t k) {
    json_t *in = json_array(), *out = json_array();
    for (size_t j = 0; j < k; j++) {
        core_cell *d = &e->cells[j];
        if (d->skip || d->count <= 0) continue;
        json_array_append_new(in, json_pack("[iO]", d->count, d->code));
        char name[32];
        snprintf(name, sizeof name, "_%d", d->count);
        core_artifact *a = core_find_export(d, name);
        if (a && a->wire) json_array_append_new(out, json_pack("[iO]", d->count, a->wire));
        else if (d->result_lost) json_array_append_new(out, json_pack("[in]", d->count));
    }
    return json_pack("{s:o,s:o}", "in", in, "out", out);
}

/* The run request of cell k, going on in lineage `cont` (0: none). */
static json_t *run_request(core *e, size_t k, int cont, int fork) {
    core_cell *c = &e->cells[k];
    json_t *m = json_pack("{s:s,s:i,s:i,s:O,s:b}", "op", "run", "cell", (int)k, "count", c->count, "code", c->code,
                          "ice", e->o->mode != MODE_MONOLITHIC);
    if (e->o->mode == MODE_MONOLITHIC) return m;
    json_t *imports = json_array();
    c->lazy_now = 0;
    strvec kept = {0};
    c->fork_of = 0;
    if (fork) core_lineage_start_fork(e, k, cont, m, &kept);
    else core_lineage_start(e, k, cont, m, &kept);
    if (c->needs_all || c->lazy) {
        strvec all = {0};
        all_visible(e, k, &all);
        for (size_t i = 0; i < all.n; i++) add_import(e, k, imports, all.v[i], &kept);
        strvec_free(&all);
    } else {
        for (size_t i = 0; i < c->pred_reads.n; i++) add_import(e, k, imports, c->pred_reads.v[i], &kept);
    }
    strvec_free(&kept);
    json_object_set_new(m, "imports", imports);
    json_object_set_new(m, "lazy", json_boolean(c->open_world || c->lazy || c->lazy_now || e->o->lazy_always));
    c->version = ++e->version;
    json_object_set_new(m, "version", json_integer(c->version));
    if (!c->export_all && !e->o->lazy_always && !e->o->keep_run && !e->o->open_ended)
        json_object_set_new(m, "export_only", str_array(&c->need_later));
    json_object_set_new(m, "run_dir", json_string(e->run_dir));
    if (c->run_in) {
        strvec keep = {0};
        held_names(e, k, c->run_in, &keep);
        json_object_set_new(m, "reuse", json_true());
        json_object_set_new(m, "keep", str_array(&keep));
        strvec_free(&keep);
    }
    /* open-ended (the Jupyter kernel): any later cell may read the history */
    if ((long)k < e->history_last || e->o->open_ended) json_object_set_new(m, "results", json_true());
    if (c->history) json_object_set_new(m, "history", history_of(e, k));
    core_artifact *rng = NULL;
    c->rng_from = rng_writer(e, k, &rng);
    free(c->rng_path);
    c->rng_path = rng && rng->path ? xstrdup(rng->path) : NULL;
    if (rng) json_object_set(m, "rng", rng->wire);
    return m;
}

/* ---- files as a channel between cells ----------------------------------------------- */

static void take_files(strvec *out, json_t *arr) {
    size_t i;
    json_t *f;
    strvec_free(out);
    json_array_foreach(arr, i, f) if (json_is_string(f)) strvec_push(out, json_string_value(f));
}

static const char *common_file(const strvec *a, const strvec *b) {
    for (size_t i = 0; i < a->n; i++)
        if (strvec_contains(b, a->v[i])) return a->v[i];
    return NULL;
}

static int touches(const core_cell *c, const char *f) {
    return strvec_contains(&c->rfiles, f) || strvec_contains(&c->wfiles, f) || strvec_contains(&c->sfiles, f);
}

/* The file of d's that k touched, when d wrote it or used it as scratch. */
static const char *touched_write(const core_cell *k, const core_cell *d) {
    for (size_t i = 0; i < d->wfiles.n; i++)
        if (touches(k, d->wfiles.v[i])) return d->wfiles.v[i];
    for (size_t i = 0; i < d->sfiles.n; i++)
        if (touches(k, d->sfiles.v[i])) return d->sfiles.v[i];
    return NULL;
}

/* f is contended: cells j and k raced on it. Both remember it, so that
 * their next attempts (and those of every cell that touched it) run in
 * notebook order (deps_done). */
static void contend(core *e, size_t j, size_t k, const char *f) {
    if (!strvec_contains(&e->contended, f)) strvec_push(&e->contended, f);
    for (size_t i = 0; i < e->ncells; i++) {
        core_cell *c = &e->cells[i];
        if ((i == j || i == k || touches(c, f)) && !strvec_contains(&c->files_seen, f))
            strvec_push(&c->files_seen, f);
    }
}

/* Cells j < k raced on file f. Re-running one of them cannot undo what the
 * other did to the file (an append twice is not one append): the file's
 * history is replayed instead -- from the last cell up to j that wrote f
 * from scratch, every finished or running cell that touched it runs again,
 * now in notebook order (deps_done). Without such a writer (the file was
 * there before the notebook), from j on. The re-runs are pushed on the work
 * list first and carried out together, so f stays valid throughout. */
static void replay_file(core *e, size_t j, size_t k, const char *f, const char *why) {
    contend(e, j, k, f);
    size_t from = j;
    for (size_t t = j + 1; t-- > 0;) {
        core_cell *c = &e->cells[t];
        if (c->state == C_DONE && !c->restored && strvec_contains(&c->tfiles, f)) {
            from = t;
            break;
        }
    }
    /* a writer from scratch whose write is the newest (it finished last of
     * the cells using f) need not run again: the file is as it left it */
    size_t start = from;
    core_cell *t = &e->cells[from];
    if (strvec_contains(&t->tfiles, f) && t->state == C_DONE) {
        int newest = 1;
        for (size_t i = 0; i < e->ncells && newest; i++)
            if (i != from && e->cells[i].state == C_DONE && e->cells[i].done_seq > t->done_seq &&
                touches(&e->cells[i], f) && strvec_contains(&e->cells[i].wfiles, f))
                newest = 0;
        if (newest) start = from + 1;
    }
    size_t outer = e->nwork;
    for (size_t i = start; i < e->ncells; i++) {
        core_cell *c = &e->cells[i];
        if ((c->state == C_DONE && !c->restored) || c->state == C_RUNNING)
            if (i == j || i == k || touches(c, f)) work_push(e, i, why);
    }
    if (!outer) drain_work(e);
}

/* Cell k just finished. Did it race with another cell on a file?
 *  - an earlier cell j wrote a file k used, and j finished after k started:
 *    k may have seen the file as it was before j;
 *  - a later cell m wrote a file k used while k ran (m started before k
 *    finished): k may have seen m's version, or m's write may be older
 *    than k's.
 * A scratch file (created and removed again by one attempt: sfiles) counts
 * as written here: two cells that write and remove ./scratch.tmp at once
 * race (one's remove fails), though neither leaves the file to anyone.
 * Sets the two cells (*a < *b) and the file; returns 0 if no race. */
static int file_race(core *e, size_t k, size_t *a, size_t *b, const char **file) {
    core_cell *c = &e->cells[k];
    const char *f;
    for (size_t j = 0; (c->rfiles.n || c->wfiles.n || c->sfiles.n) && j < k; j++) {
        core_cell *d = &e->cells[j];
        if (d->state != C_DONE || d->restored || d->done_seq < c->start_seq) continue;
        if ((f = touched_write(c, d))) {
            *a = j, *b = k, *file = f;
            return 1;
        }
    }
    for (size_t m = k + 1; m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        if ((d->state != C_DONE && d->state != C_RUNNING) || d->restored) continue;
        if (d->start_seq > c->done_seq) continue;
        if ((f = touched_write(c, d))) {
            *a = k, *b = m, *file = f;
            return 1;
        }
    }
    return 0;
}

/* Cell k just finished. Did it list a directory (os.listdir, glob...) whose
 * listing an earlier cell changed, finishing after k started? Then k may
 * have missed a file Jupyter's run would show (or shown one it would not):
 * the earlier cell, the writer, comes first. Unlike a file, the listing is
 * only read here: the lister runs again, no writer does (two cells adding
 * files to one directory do not race). Sets the writer and directory. */
static int listing_race(core *e, size_t k, size_t *writer, const char **dir) {
    core_cell *c = &e->cells[k];
    for (size_t j = 0; c->rfiles.n && j < k; j++) {
        core_cell *d = &e->cells[j];
        if (d->state != C_DONE || d->restored || d->done_seq < c->start_seq) continue;
        const char *f = common_file(&d->dfiles, &c->rfiles);
        if (f) {
            *writer = j, *dir = f;
            return 1;
        }
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Every predicted read that resolves to a value its producer did not write
 * out makes the producer run again; the cell waits for it. */
static int inputs_written(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    int ok = 1;
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        core_artifact *art = NULL;
        long from;
        if (core_resolve(e, k, c->pred_reads.v[i], &art, &from) == RES_FOUND && is_dropped(art) &&
            !core_lineage_holds(e, k, c->pred_reads.v[i])) {
            want_dropped(e, from, c->pred_reads.v[i]);
            ok = 0;
        }
    }
    return ok;
}

/* Advances the watermark of settled cells; a re-run moves it back. */
static size_t settled(core *e) {
    while (e->settled < e->ncells && (e->cells[e->settled].skip || e->cells[e->settled].state == C_DONE))
        e->settled++;
    return e->settled;
}

/* A cell may start once its predicted producers are done (every earlier
 * cell, in serial mode or for an open-world cell). O(producers), so that a
 * scheduling pass over a long notebook stays linear. */
static int deps_done(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    if (e->o->mode == MODE_SERIAL || c->open_world || c->history) {
        if (settled(e) < k) return 0;
        return inputs_written(e, k);
    }
    for (size_t i = 0; i < c->deps.n; i++) {
        core_cell *d = &e->cells[c->deps.v[i]];
        if (!d->skip && d->state != C_DONE) return 0;
    }
    /* a file two cells raced on: its users run in notebook order */
    for (size_t j = settled(e); c->files_seen.n && j < k; j++) {
        core_cell *d = &e->cells[j];
        if (d->state != C_DONE && !d->skip && common_file(&d->files_seen, &c->files_seen)) return 0;
    }
    return inputs_written(e, k);
}

static void start_cell(core *e, size_t k, core_kernel_from from, int h) {
    core_cell *c = &e->cells[k];
    c->state = C_RUNNING;
    c->run_in = from == CK_HOLDER ? h : 0;
    c->cont = 0;
    c->cpu = 0;
    c->wide = 0;
    c->in_holder = c->run_in != 0;
    c->t_dispatch = time_mono_us();
    c->start_seq = ++e->seq;
    core_action *a = core_push(e, CA_START, k);
    a->from = from;
    a->holder = h;
    a->msg = run_request(e, k, from == CK_CONT || from == CK_FORK ? h : 0, from == CK_FORK);
    e->running++;
}

void core_start_failed(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    if (c->state != C_RUNNING) return;
    c->state = C_PENDING;
    c->run_in = 0;
    core_lineage_gone(e, c->cont);
    c->cont = 0;
    e->running--;
    core_reset_results(c);
}

int core_stop_index(const core *e) {
    if (e->o->allow_errors) return (int)e->ncells;
    for (size_t k = 0; k < e->ncells; k++) {
        const core_cell *c = &e->cells[k];
        if (c->state == C_DONE && c->error && !c->raises) return (int)k;
    }
    return (int)e->ncells;
}

/* Cell k comes from the cache: done without a kernel. */
static int try_restore(core *e, size_t k) {
    if (e->o->mode == MODE_MONOLITHIC || !core_cache_restore(e, k)) return 0;
    e->cells[k].state = C_DONE;
    e->stats.cells_restored++;
    core_after_done(e, k);
    return 1;
}

/* Why pending cell k cannot start yet: the first earlier cell it waits for. */
static void why_waiting(core *e, size_t k, core_plan_cell *v) {
    core_cell *c = &e->cells[k];
    long j = -1;
    for (size_t i = 0; i < c->deps.n && j < 0; i++)
        if (!e->cells[c->deps.v[i]].skip && e->cells[c->deps.v[i]].state != C_DONE) j = (long)c->deps.v[i];
    for (size_t i = 0; i < k && j < 0; i++)
        if (!e->cells[i].skip && e->cells[i].state != C_DONE) j = (long)i;
    const char *name = "*";
    for (size_t i = 0; j >= 0 && i < c->pred_reads.n; i++)
        if (strvec_contains(&e->cells[j].pred_writes, c->pred_reads.v[i])) {
            name = c->pred_reads.v[i];
            break;
        }
    v->state = PLAN_STALE;
    if (strcmp(name, "*") != 0)
        snprintf(v->reason, sizeof v->reason, "input '%s' may change (cell %ld runs again)", name, j);
    else
        snprintf(v->reason, sizeof v->reason, "any input may change (cell %ld runs again)", j);
}

/* The cache's verdict on pending cell k, before any kernel runs: 1 when it
 * is restored (and done); else 0, and v (when not NULL) says why it runs.
 * The one cache plan of `floe run` (restore_pass) and `floe status`. */
static int plan_cell(core *e, size_t k, core_plan_cell *v) {
    core_cell *c = &e->cells[k];
    if (!c->t_ready) c->t_ready = time_mono_us();
    if (!deps_done(e, k)) {
        if (v) why_waiting(e, k, v);
        return 0;
    }
    int tried = 0;
    char why[256] = "";
    if (e->o->mode != MODE_MONOLITHIC && core_cache_restore_why(e, k, &tried, why, sizeof why)) {
        c->state = C_DONE;
        e->stats.cells_restored++;
        core_after_done(e, k);
        if (v) v->state = PLAN_FRESH;
        return 1;
    }
    if (!v) return 0;
    if (core_always_run(c)) {
        v->state = PLAN_ALWAYS;
        snprintf(v->reason, sizeof v->reason, "tagged floe-always-run");
    } else if (!tried) {
        v->state = PLAN_NEVER;
        snprintf(v->reason, sizeof v->reason, "new or edited source, or never run");
    } else {
        v->state = PLAN_STALE;
        snprintf(v->reason, sizeof v->reason, "%s", why);
    }
    return 0;
}

void core_cache_plan(core *e, core_plan_cell *out) {
    for (size_t k = 0; k < e->ncells; k++) {
        out[k].reason[0] = 0;
        out[k].state = PLAN_SKIP;
        if (!e->cells[k].skip && e->cells[k].state == C_PENDING) plan_cell(e, k, &out[k]);
    }
}

/* Restores every cell the cache can; 1 when nothing is left to run. */
static int restore_pass(core *e) {
    int need = 0;
    int stop = core_stop_index(e);
    for (size_t k = 0; k < e->ncells && (int)k <= stop; k++) {
        core_cell *c = &e->cells[k];
        if (c->state != C_PENDING || c->skip) continue;
        if (plan_cell(e, k, NULL)) stop = core_stop_index(e);
        else need = 1;
    }
    return !need;
}

/* 1 when the pass must end here (monolithic: the one kernel is busy). */
static int dispatch(core *e, size_t k, int *stop_run) {
    if (e->o->mode == MODE_MONOLITHIC) {
        if (e->mono_dead) {
            *stop_run = 1;
            return 1;
        }
        if (e->running) return 1;
        start_cell(e, k, CK_MONO, 0);
        return 1;
    }
    int wait, h = holder_for(e, k, &wait);
    if (wait) return e->o->mode != MODE_PARALLEL ? 1 : 0;
    int l = h ? 0 : core_lineage_pick(e, k);
    if (!h && !l && core_lineage_wait(e, k)) return 0;
    int fork = l ? core_lineage_fork(e, k, l) : 0;
    if (!h && !l) l = core_lineage_spare(e, k); /* it gains nothing anywhere: no fork from it */
    if (fork < 0) l = fork = 0; /* neither goes on in it nor forks from it: a fresh kernel */
    start_cell(e, k, h ? CK_HOLDER : fork ? CK_FORK : l ? CK_CONT : CK_FRESH, h ? h : l);
    return 0;
}

static void schedule_pass(core *e);

void core_schedule(core *e) {
    if (e->stopping) return;
    if (!e->ready) {
        /* everything the cache can restore is restored before any Python
         * starts: an unchanged notebook runs no interpreter */
        if (!e->pool_started) {
            if (restore_pass(e)) return;
            e->pool_started = 1;
            core_push(e, CA_START_POOL, 0);
        }
        return; /* the zygote has not said hello: nothing starts */
    }
    /* a pass that sent a cell back (a dropped value is needed) may have
     * made an earlier cell startable: pass again */
    int reruns;
    do {
        reruns = e->stats.reruns;
        schedule_pass(e);
    } while (!e->stopping && e->stats.reruns != reruns);
    core_balance(e);
}

static void schedule_pass(core *e) {
    int stop = core_stop_index(e);
    int limit = e->o->mode == MODE_PARALLEL ? e->o->jobs : 1;
    int wide = core_wide_extra(e); /* the cores wide running cells take beyond one each */
    if (wide) limit = limit - wide < 1 ? 1 : limit - wide;
    /* cells in the policy's order of preference (core_policy.c), else notebook order */
    for (size_t i = 0; i < e->ncells; i++) {
        size_t k = e->order ? e->order[i] : i;
        if ((int)k > stop) {
            if (e->order) continue;
            break;
        }
        core_cell *c = &e->cells[k];
        if (c->state != C_PENDING || c->skip) continue;
        if (e->running - e->parked >= limit) break;
        if (!deps_done(e, k)) {
            if (e->o->mode != MODE_PARALLEL) break;
            continue;
        }
        if (!c->t_ready) c->t_ready = time_mono_us();
        if (try_restore(e, k)) continue;
        if (e->o->mode != MODE_MONOLITHIC && core_stagger_wait(e, k)) continue;
        int stop_run = 0;
        if (dispatch(e, k, &stop_run)) {
            if (stop_run) {
                e->stopping = 1;
                return;
            }
            break;
        }
    }
    /* cells beyond a failure that are still running are dropped */
    for (size_t k = (size_t)stop + 1; k < e->ncells; k++)
        if (e->cells[k].state == C_RUNNING) core_invalidate(e, k, "an earlier cell failed");
}

void core_wake(core *e) {
    e->stagger_armed = 0;
    core_schedule(e);
}

void core_stop(core *e) { e->stopping = 1; }

void core_withdraw(core *e, size_t k) {
    for (size_t m = k; m < e->ncells; m++) {
        core_cell *c = &e->cells[m];
        if (c->skip) continue;
        if (c->holder) drop_holder(e, c->holder);
        if (c->state == C_RUNNING) {
            core_push(e, CA_KILL, m);
            e->running--;
            if (c->parked) e->parked--;
            if (c->run_in) forget_holder(e, c->run_in);
        }
        c->parked = 0;
        c->run_in = 0;
        c->skip = 1;
        c->state = C_DONE;
        core_reset_results(c);
    }
    e->nwork = 0; /* a dropped holder's users are withdrawn too (they come after it) */
    core_schedule(e);
}

json_t *core_scope(core *e, size_t k) {
    json_t *imports = json_array();
    if (k > e->ncells) k = e->ncells;
    strvec all = {0};
    all_visible(e, k, &all);
    for (size_t i = 0; i < all.n; i++) {
        core_artifact *art = NULL;
        long from;
        if (!strcmp(all.v[i], RNG_NAME)) continue;
        if (core_resolve(e, k, all.v[i], &art, &from) == RES_FOUND && !is_unmovable(art) && !is_dropped(art))
            json_array_append(imports, art->wire);
    }
    strvec_free(&all);
    return imports;
}

void core_pool_ready(core *e, json_t *language_info) {
    json_decref(e->language_info);
    e->language_info = json_incref(language_info);
    e->ready = 1;
    e->pool_started = 1;
    core_schedule(e);
}

/* ---- lazy reads ---------------------------------------------------------------- */

static void answer_need(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    core_artifact *art = NULL;
    long from;
    int r = core_resolve(e, k, c->need, &art, &from);
    const char *gid = r == RES_FOUND ? json_string_value(json_object_get(art->wire, "gid")) : NULL;
    if (c->need_link && r == RES_FOUND && (art->codec != CODEC_GROUP || !gid || strcmp(gid, c->need_link) != 0)) {
        /* another version than the group's: not linked, and not read (a
         * dropped value is not wanted from its producer for that) */
        core_action *a = core_push(e, CA_ANSWER, k);
        a->msg = json_pack("{s:s,s:s}", "op", "value", "name", c->need);
        if (c->parked) {
            c->parked = 0;
            e->parked--;
            a->t = c->t_park;
        }
        free(c->need);
        free(c->need_link);
        c->need = c->need_link = NULL;
        return;
    }
    if (r == RES_FOUND && is_dropped(art)) {
        want_dropped(e, from, c->need);
        if (c->state != C_RUNNING) return; /* the reader itself was stale */
        r = RES_WAIT;
    }
    if (r == RES_WAIT) {
        if (!c->parked) {
            c->parked = 1;
            e->parked++;
            c->t_park = time_mono_us();
        }
        return;
    }
    core_action *a = core_push(e, CA_ANSWER, k);
    if (c->parked) {
        c->parked = 0;
        e->parked--;
        a->t = c->t_park;
    }
    core_record_read(c, c->need, from);
    if (r == RES_FOUND && !is_dropped(art) && !is_unmovable(art)) core_held_add(c, c->need, art);
    e->stats.lazy_reads++;
    a->msg = json_pack("{s:s,s:s}", "op", "value", "name", c->need);
    if (r == RES_FOUND) json_object_set_new(a->msg, "artifact", import_wire(e, k, art, from));
    free(c->need);
    free(c->need_link);
    c->need = c->need_link = NULL;
}

/* Re-examines parked lazy reads after a cell finished. */
static void wake_parked(core *e) {
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        if (c->state == C_RUNNING && c->parked && c->need) answer_need(e, k);
    }
}

void core_need(core *e, size_t k, const char *name, const char *link) {
    core_cell *c = &e->cells[k];
    if (c->state != C_RUNNING || !name) return;
    free(c->need);
    free(c->need_link);
    c->need = xstrdup(name);
    c->need_link = link ? xstrdup(link) : NULL;
    answer_need(e, k);
    /* the answer may have sent a producer back to run (a dropped value is
     * needed after all) or invalidated the reader itself: schedule now */
    core_schedule(e);
}

/* ---- results -------------------------------------------------------------------- */

static json_t *error_output(const char *ename, const char *evalue) {
    json_t *tb = json_array();
    char *line = xasprintf("\033[0;31m%s\033[0m: %s", ename, evalue);
    json_array_append_new(tb, json_string(line));
    free(line);
    return json_pack("{s:s,s:s,s:s,s:o}", "output_type", "error", "ename", ename, "evalue", evalue, "traceback", tb);
}

static void set_error(core_cell *c, const char *ename, const char *evalue) {
    c->error = 1;
    free(c->ename);
    free(c->evalue);
    c->ename = xstrdup(ename);
    c->evalue = xstrdup(evalue);
    json_array_append_new(c->outputs, error_output(ename, evalue));
}

static void set_timeout_error(core *e, core_cell *c) {
    char *msg = xasprintf("A cell timed out while it was being executed, after %g seconds.", e->o->timeout_s);
    set_error(c, "CellTimeoutError", msg);
    free(msg);
}

static void take_times(core_cell *c, json_t *done) {
    c->mem = (long long)json_integer_value(json_object_get(done, "mem"));
    c->threads = (int)json_integer_value(json_object_get(done, "threads"));
    c->native_threads = (int)json_integer_value(json_object_get(done, "native_threads"));
    c->t_start = json_integer_value(json_object_get(done, "t_start"));
    c->t_compute = json_integer_value(json_object_get(done, "t_compute"));
    c->t_end = json_integer_value(json_object_get(done, "t_end"));
    c->t_done = json_integer_value(json_object_get(done, "t_done"));
}

static void replace(json_t **slot, json_t *v) {
    json_decref(*slot);
    *slot = json_incref(v);
}

static void take_results(core *e, size_t k, json_t *done) {
    core_cell *c = &e->cells[k];
    take_times(c, done);
    core_lineage_learn(e, k, done);
    const char *status = json_string_value(json_object_get(done, "status"));
    if (status && !strcmp(status, "import-error")) {
        char *msg = xasprintf("cannot import '%s' into this cell: %s", json_string_value(json_object_get(done, "name")),
                              json_string_value(json_object_get(done, "evalue")));
        set_error(c, "FloeArtifactError", msg);
        free(msg);
        return;
    }
    json_t *outs = json_object_get(done, "outputs");
    if (json_is_array(outs)) replace(&c->outputs, outs);
    json_t *ids = json_object_get(done, "display_ids");
    if (json_is_object(ids)) replace(&c->display_ids, ids);
    size_t i;
    json_t *v;
    if (json_is_array(json_object_get(done, "exports"))) {
        core_art_free(&c->exports);
        json_array_foreach(json_object_get(done, "exports"), i, v) core_art_push(&c->exports, v, (long)k, c->version);
    }
    json_array_foreach(json_object_get(done, "unmovable"), i, v) {
        json_t *a = json_deep_copy(v);
        json_object_set_new(a, "codec", json_string(core_codec_name(CODEC_UNMOVABLE)));
        json_object_set_new(a, "cell", json_integer((json_int_t)k));
        core_art_push(&c->exports, a, (long)k, c->version);
        json_decref(a);
    }
    json_array_foreach(json_object_get(done, "deletes"), i, v) strvec_push(&c->deletes, json_string_value(v));
    c->result_lost = json_is_true(json_object_get(done, "result_lost"));
    if (status && !strcmp(status, "error")) {
        c->error = 1;
        const char *en = json_string_value(json_object_get(done, "ename"));
        const char *ev = json_string_value(json_object_get(done, "evalue"));
        c->ename = en ? xstrdup(en) : NULL;
        c->evalue = ev ? xstrdup(ev) : NULL;
    }
    if (c->timed_out) set_timeout_error(e, c);
}

void core_update_display(core *e, size_t k, json_t *msg) {
    if (!json_string_value(json_object_get(msg, "display_id")) || k >= e->ncells) return;
    core_cell *c = &e->cells[k];
    if (!c->updates) c->updates = json_array();
    json_array_append(c->updates, msg);
}

/* The last update of display `id` sent by cell j, or NULL. */
static json_t *last_update(const core_cell *j, const char *id) {
    for (size_t u = json_array_size(j->updates); u-- > 0;) {
        json_t *msg = json_array_get(j->updates, u);
        if (!strcmp(json_string_value(json_object_get(msg, "display_id")), id)) return msg;
    }
    return NULL;
}

void core_apply_display_updates(core *e, int stop) {
    size_t last = stop < 0 || (size_t)stop >= e->ncells ? e->ncells : (size_t)stop + 1;
    for (size_t d = 0; d < last; d++) {
        core_cell *c = &e->cells[d];
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

/* Cell c waits for cell j (once). */
static void add_dep(core_cell *c, size_t j) {
    for (size_t i = 0; i < c->deps.n; i++)
        if (c->deps.v[i] == j) return;
    sizevec_push(&c->deps, j);
}

/* The NameError fallback (issue 16, class 3). The kernel reports the names
 * a NameError said were not defined -- its subclasses and libraries'
 * wrappers (pandas, patsy) too, raised anywhere, formatters included. One
 * that an earlier cell writes and the cell was not predicted to read is a
 * read the prediction missed: it is learned (a predicted read from now on,
 * so its producer is a dependency and it is imported for real into the
 * cell's globals, where code reading frames' f_globals finds it; and
 * remembered in the cache for the next run), and the cell runs again.
 * Each attempt learns a new name, so this ends. */
static void learn_read(core *e, size_t k, const char *name) {
    core_cell *c = &e->cells[k];
    strvec_push(&c->pred_reads, name);
    strvec_sort_unique(&c->pred_reads);
    for (size_t j = 0; j < k; j++) {
        core_cell *d = &e->cells[j];
        if (strvec_contains(&d->pred_writes, name) || strvec_contains(&d->known_writes, name)) add_dep(c, j);
    }
    core_cache_learn(e, k, name);
    if (!e->o->quiet || getenv("FLOE_DEBUG"))
        fprintf(stderr, "floe: cell %zu reads %s, which the prediction missed: it runs again with it\n", k, name);
}

/* 1 when cell k must run again: it learned a read, or a predicted read's
 * value was not there (its writer was not known to write it when the cell
 * started): then once more, resolving every name. */
static int missed_read(core *e, size_t k, json_t *msg) {
    core_cell *c = &e->cells[k];
    if (e->o->mode == MODE_MONOLITHIC || !msg) return 0;
    size_t i;
    json_t *v;
    int learned = 0, known = 0;
    json_array_foreach(json_object_get(msg, "missing"), i, v) {
        const char *name = json_string_value(v);
        core_artifact *art;
        long from;
        if (!name || core_resolve(e, k, name, &art, &from) == RES_NONE) continue;
        if (strvec_contains(&c->pred_reads, name)) {
            known = 1;
            continue;
        }
        learn_read(e, k, name);
        learned = 1;
    }
    if (!learned && known && !c->lazy) c->lazy = learned = 1;
    return learned;
}

/* What becomes of the kernel cell k ran in: kept (monolithic, or it holds
 * unmovable values a later cell wants) or released. 0 when that is left to
 * the lineage (core_lineage_settle, once k's results are final): a kernel
 * of its own, or of a lineage. */
static int settle_kernel(core *e, size_t k, json_t *msg) {
    core_cell *c = &e->cells[k];
    int h = c->run_in;
    c->run_in = 0;
    if (e->o->mode == MODE_MONOLITHIC) {
        core_push(e, CA_KEEP, k);
    } else if (msg && (h || json_array_size(json_object_get(msg, "unmovable"))) && holder_wanted(e, k, h)) {
        core_lineage_gone(e, c->cont); /* a lineage kernel turned holder */
        c->cont = 0;
        c->holder = h ? h : ++e->next_holder;
        core_push(e, CA_KEEP, k)->holder = c->holder;
    } else if (h) {
        forget_holder(e, h); /* its last user: its values are read no more */
        core_push(e, CA_RELEASE, k)->holder = h;
    } else {
        return 0;
    }
    return 1;
}

/* A kernel may go on with another cell after k: it ran the cell to its
 * end (not dead, not timed out, its imports worked). */
static int can_go_on(const core_cell *c, json_t *msg) {
    const char *st = json_string_value(json_object_get(msg, "status"));
    return msg && !c->dead && !c->timed_out && st && (!strcmp(st, "ok") || !strcmp(st, "error"));
}

static void finish_cell(core *e, size_t k, json_t *msg) {
    core_cell *c = &e->cells[k];
    e->running--;
    c->state = C_DONE;
    /* what it wrote, predicted or not, is indexed before its kernel is
     * settled: an unpredicted unmovable write keeps the kernel as holder */
    index_results(e, k);
    int settled_kernel = settle_kernel(e, k, msg);
    take_files(&c->rfiles, json_object_get(msg, "files"));
    take_files(&c->wfiles, json_object_get(msg, "wfiles"));
    take_files(&c->tfiles, json_object_get(msg, "tfiles"));
    take_files(&c->sfiles, json_object_get(msg, "sfiles"));
    take_files(&c->dfiles, json_object_get(msg, "dfiles"));
    c->done_seq = ++e->seq;
    for (size_t i = 0; i < e->contended.n; i++)
        if (touches(c, e->contended.v[i]) && !strvec_contains(&c->files_seen, e->contended.v[i]))
            strvec_push(&c->files_seen, e->contended.v[i]);
    int missed = missed_read(e, k, msg);
    size_t ra, rb;
    const char *rf;
    /* a run being stopped (Ctrl-C) replays nothing: the cells would not run
     * again, and the notebook would lose what they did (their KeyboardInterrupt) */
    if (!missed && e->o->mode == MODE_PARALLEL && !e->stopping && file_race(e, k, &ra, &rb, &rf)) {
        char why[160];
        snprintf(why, sizeof why, "cells %zu and %zu used %s at the same time", ra, rb, rf);
        replay_file(e, ra, rb, rf, why);
        if (c->state != C_DONE) { /* this cell runs again too */
            if (!settled_kernel) core_lineage_settle(e, k, 0);
            return;
        }
    }
    if (!missed && msg && core_lineage_aside_reads(e, k, msg)) missed = 1;
    size_t lw;
    const char *ld;
    if (!missed && e->o->mode == MODE_PARALLEL && listing_race(e, k, &lw, &ld)) {
        char why[160];
        snprintf(why, sizeof why, "cell %zu changed %s while cell %zu listed it", lw, ld, k);
        if (!settled_kernel) core_lineage_settle(e, k, 0);
        retry(e, k, why);
        return;
    }
    if (missed || rng_stale(e, k, msg)) {
        if (!settled_kernel) core_lineage_settle(e, k, 0);
        retry(e, k, missed ? "a read the prediction missed" : "the random state changed");
        return;
    }
    size_t sj;
    const char *sn = msg ? same_written(e, k, &sj) : NULL;
    if (sn) {
        char why[160];
        snprintf(why, sizeof why, "cell %zu linked '%s' with another name after cell %zu read it", sj, sn, k);
        if (!settled_kernel) core_lineage_settle(e, k, 0);
        retry(e, k, why);
        return;
    }
    core_hash_exports(e, c);
    if (msg) core_cache_store(e, k, msg);
    for (size_t i = 0; i < c->exports.n; i++)
        if (!strvec_contains(&c->known_writes, c->exports.v[i].name)) strvec_push(&c->known_writes, c->exports.v[i].name);
    e->stats.cells_run++;
    core_push(e, CA_SETTLED, k);
    core_after_done(e, k);
    if (!settled_kernel) core_lineage_settle(e, k, can_go_on(c, msg));
    unshadow(e, k);
}

void core_cell_done(core *e, size_t k, json_t *done) {
    if (k >= e->ncells || e->cells[k].state != C_RUNNING) return;
    take_results(e, k, done);
    finish_cell(e, k, done);
    core_schedule(e);
    core_lineage_gc(e);
}

void core_cell_died(core *e, size_t k, int exit_signal, int exit_code) {
    if (k >= e->ncells || e->cells[k].state != C_RUNNING) return;
    core_cell *c = &e->cells[k];
    c->dead = 1;
    c->t_end = c->t_done = time_mono_us();
    if (!c->t_start) c->t_start = c->t_compute = c->t_dispatch;
    if (c->timed_out) {
        set_timeout_error(e, c);
    } else {
        char *msg = exit_signal ? xasprintf("Kernel died: killed by signal %d (%s)", exit_signal, strsignal(exit_signal))
                                : xasprintf("Kernel died: exit status %d", exit_code);
        set_error(c, "DeadKernelError", msg);
        free(msg);
    }
    /* the one namespace is gone: nothing after this cell can run */
    if (e->o->mode == MODE_MONOLITHIC) e->mono_dead = 1;
    finish_cell(e, k, NULL);
    core_schedule(e);
    core_lineage_gc(e);
}

void core_cell_timed_out(core *e, size_t k) {
    if (k < e->ncells) e->cells[k].timed_out = 1;
}

/* A cell's results are final: later cells that read older versions of what
 * it wrote are stale, and parked reads may now be answered. */
/* Pending cell k will write `name` after all: later cells predicted to read
 * it wait for k, and resolve to it. */
static void learn_write(core *e, size_t k, const char *name) {
    core_cell *c = &e->cells[k];
    strvec_push(&c->known_writes, name);
    index_in(&e->writers, name, k);
    if (getenv("FLOE_DEBUG"))
        fprintf(stderr, "floe: cell %zu writes %s, a co-variable of a name it mutates: its readers wait for it\n", k,
                name);
    for (size_t r = k + 1; r < e->ncells; r++) {
        core_cell *d = &e->cells[r];
        if (d->state == C_PENDING && strvec_contains(&d->pred_reads, name)) add_dep(d, k);
    }
}

/* Cell j wrote co-variables (names sharing memory: `x2_sub = x2[:2, :2]`):
 * a pending cell predicted to mutate one member (`x2_sub[0, 0] = 99`)
 * writes them all, so readers of the others wait for it rather than run
 * again when it ends. */
static void group_writes(core *e, size_t j) {
    core_cell *c = &e->cells[j];
    for (size_t i = 0; i < c->exports.n; i++) {
        const core_artifact *a = &c->exports.v[i];
        json_t *members = json_object_get(a->wire, "members");
        const char *first = json_string_value(json_array_get(members, 0));
        if (a->codec != CODEC_GROUP || json_array_size(members) < 2 || !first || strcmp(first, a->name) != 0)
            continue; /* each group once, at its first member */
        for (size_t k = j + 1; k < e->ncells; k++) {
            core_cell *d = &e->cells[k];
            if (d->state != C_PENDING || d->open_world) continue;
            size_t m;
            json_t *v;
            int writes = 0;
            json_array_foreach(members, m, v) writes |= strvec_contains(&d->pred_writes, json_string_value(v));
            if (!writes) continue;
            json_array_foreach(members, m, v) {
                const char *name = json_string_value(v);
                if (name && !may_write(d, name)) learn_write(e, k, name);
            }
        }
    }
}

void core_after_done(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    index_results(e, k);
    group_writes(e, k);
    for (size_t i = 0; i < c->exports.n; i++) validate_readers(e, k, c->exports.v[i].name);
    for (size_t d = 0; d < c->deletes.n; d++) validate_readers(e, k, c->deletes.v[d]);
    /* later cells that finished before this one and used a file it wrote
     * (those still running are checked when they finish) */
    for (size_t m = k + 1; c->wfiles.n && !e->stopping && m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        const char *f = NULL;
        if (d->state != C_DONE || d->restored || d->start_seq > c->done_seq) continue;
        for (size_t w = 0; w < c->wfiles.n && !f; w++)
            if (touches(d, c->wfiles.v[w])) f = c->wfiles.v[w];
        if (!f) continue;
        char why[160];
        snprintf(why, sizeof why, "cell %zu wrote %s after cell %zu used it", k, f, m);
        char *file = xstrdup(f); /* the replay may reset this cell's file list */
        replay_file(e, k, m, file, why);
        free(file);
        if (c->state != C_DONE) break; /* this cell itself runs again */
    }
    /* later cells that finished before this one and listed a directory whose
     * listing it changed: they list it again (listing_race) */
    for (size_t m = k + 1; c->state == C_DONE && c->dfiles.n && m < e->ncells; m++) {
        core_cell *d = &e->cells[m];
        if (d->state != C_DONE || d->restored || d->start_seq > c->done_seq) continue;
        const char *f = common_file(&c->dfiles, &d->rfiles);
        if (!f) continue;
        char why[160];
        snprintf(why, sizeof why, "cell %zu changed %s after cell %zu listed it", k, f, m);
        core_invalidate(e, m, why);
    }
    wake_parked(e);
}

/* ---- cells and the plan ------------------------------------------------------------ */

/* A name of IPython's input/output history, kept by the shell: its
 * values are the results and sources of earlier cells, not artifacts. */
static int history_name(const char *n) {
    static const char *const names[] = {"_", "__", "___", "_i", "_ii", "_iii", "_oh", "_ih", "In", "Out"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(n, names[i])) return 1;
    const char *d = n[0] == '_' ? n + 1 + (n[1] == 'i') : NULL;
    if (!d || !*d) return 0;
    for (; *d; d++)
        if (*d < '0' || *d > '9') return 0;
    return 1;
}

static void init_cell(core *e, core_cell *c, const core_cell_spec *s) {
    memset(c, 0, sizeof *c);
    c->idx = s->idx;
    c->src = xstrdup(s->src ? s->src : "");
    c->code = s->code ? json_incref(s->code) : json_string(c->src);
    c->skip = s->skip;
    c->raises = s->raises;
    c->always_run = s->always_run;
    c->count = s->count;
    c->state = c->skip ? C_DONE : C_PENDING;
    c->outputs = json_array();
    c->display_ids = json_object();
    c->rng_from = -1;
    if (e->o->mode == MODE_MONOLITHIC) return;
    if (s->reads)
        for (size_t i = 0; i < s->reads->n; i++) strvec_push(&c->pred_reads, s->reads->v[i]);
    core_cache_learned(e, c); /* reads an earlier run's fallback learned */
    strvec_sort_unique(&c->pred_reads);
    if (s->writes) {
        for (size_t i = 0; i < s->writes->n; i++) strvec_push(&c->pred_writes, s->writes->v[i]);
        strvec_sort_unique(&c->pred_writes);
    }
    if (s->certain) {
        for (size_t i = 0; i < s->certain->n; i++) strvec_push(&c->certain_writes, s->certain->v[i]);
        strvec_sort_unique(&c->certain_writes);
    }
    c->open_world = s->open_world;
    c->rng_use = s->rng;
    c->expect = s->expect > 0 ? s->expect : -1;
    c->needs_all = s->open_world && s->needs_all;
    for (size_t i = 0; i < c->pred_reads.n && !c->history; i++) c->history = history_name(c->pred_reads.v[i]);
}

/* The predicted producers of cell k, through the name -> predicted writers
 * index: linear in the size of the prediction, not quadratic in cells. */
static void plan_deps(core *e, size_t k, size_t *stamp) {
    core_cell *c = &e->cells[k];
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        const sizevec *w = strmap_get(&e->pred_writers, c->pred_reads.v[i]);
        for (size_t x = 0; w && x < w->n; x++) {
            if (stamp[w->v[x]] == k + 1) continue;
            stamp[w->v[x]] = k + 1;
            sizevec_push(&c->deps, w->v[x]);
        }
    }
    for (size_t i = 0; i < e->opens.n; i++)
        if (stamp[e->opens.v[i]] != k + 1) {
            stamp[e->opens.v[i]] = k + 1;
            sizevec_push(&c->deps, e->opens.v[i]);
        }
    /* The global random state, once seeded (here or earlier): the cells
     * that draw from it or seed it take it in notebook order, each after
     * the one before, as in a top-to-bottom run, rather than start with the
     * state known at the time and run again when an earlier one changes it
     * (rng_stale: pydata-book ch09-ch11, seeded once at the top, re-ran 5-10
     * cells each). Unseeded draws are not ordered: Jupyter's numbers are
     * not reproducible either. */
    if (c->rng_use) {
        e->rng_seeded |= (c->rng_use & CORE_RNG_SEEDS) != 0;
        if (e->rng_seeded && e->rng_last >= 0 && stamp[e->rng_last] != k + 1) {
            stamp[e->rng_last] = k + 1;
            sizevec_push(&c->deps, (size_t)e->rng_last);
        }
        e->rng_last = (long)k;
    }
    for (size_t i = 0; i < c->pred_writes.n; i++) {
        index_in(&e->pred_writers, c->pred_writes.v[i], k);
        index_in(&e->writers, c->pred_writes.v[i], k);
    }
    if (c->open_world) sizevec_push(&e->opens, k);
}

/* Which names each cell writes out: those a later cell is predicted to
 * read (a name -> last reader map keeps this linear). Everything when a
 * later cell, or the cell itself, is open-world. Planned again, whole, when
 * cells are appended. */
static void plan_exports(core *e) {
    strmap last_reader = {0}; /* name -> [the last cell predicted to read it] */
    int any_open = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        for (size_t i = 0; i < c->pred_reads.n; i++) {
            sizevec *r = strmap_put(&last_reader, c->pred_reads.v[i]);
            r->n = 0;
            sizevec_push(r, k);
        }
    }
    for (size_t k = e->ncells; k-- > 0;) {
        core_cell *c = &e->cells[k];
        c->export_all |= any_open || c->open_world;
        any_open |= c->open_world;
        strvec_free(&c->need_later);
        strvec *sets[] = {&c->pred_writes, &c->pred_reads};
        for (size_t s = 0; s < 2; s++)
            for (size_t i = 0; i < sets[s]->n; i++) {
                const sizevec *r = strmap_get(&last_reader, sets[s]->v[i]);
                if (r && r->v[0] > k) strvec_push(&c->need_later, sets[s]->v[i]);
            }
        strvec_sort_unique(&c->need_later);
    }
    strmap_free(&last_reader);
}

void core_add_cells(core *e, const core_cell_spec *specs, size_t n) {
    if (!n) return;
    if (e->ncells + n > e->capcells) {
        while (e->ncells + n > e->capcells) e->capcells = e->capcells ? e->capcells * 2 : 16;
        e->cells = xrealloc(e->cells, e->capcells * sizeof *e->cells);
    }
    size_t first = e->ncells;
    for (size_t i = 0; i < n; i++) init_cell(e, &e->cells[first + i], &specs[i]);
    e->ncells += n;
    if (e->o->mode == MODE_MONOLITHIC) return;
    size_t *stamp = xcalloc(e->ncells, sizeof *stamp);
    for (size_t k = first; k < e->ncells; k++) {
        plan_deps(e, k, stamp);
        if (e->cells[k].history) e->history_last = (long)k;
    }
    free(stamp);
    plan_exports(e);
    if (e->order) { /* appended cells come last in the order of preference */
        e->order = xrealloc(e->order, e->ncells * sizeof *e->order);
        for (size_t k = first; k < e->ncells; k++) e->order[k] = k;
    }
}

void core_plan(core *e) {
    if (e->cache && e->o->mode == MODE_PARALLEL)
        for (size_t k = 0; k < e->ncells; k++)
            if (e->cells[k].expect < 0) e->cells[k].expect = core_cache_duration(e, k);
    core_sched_plan(e);
}

/* ---- the core as a whole ------------------------------------------------------------ */

core *core_new(const run_opts *o, const char *run_dir, struct cache *cache, const char *cache_env, trace *tr) {
    core *e = xcalloc(1, sizeof *e);
    e->tr = tr;
    e->o = o;
    e->run_dir = xstrdup(run_dir ? run_dir : "");
    e->cache = cache;
    e->cache_env = xstrdup(cache_env ? cache_env : "");
    e->pool_started = cache == NULL;
    e->history_last = -1;
    e->rng_last = -1;
    return e;
}

void core_free(core *e) {
    if (!e) return;
    for (size_t k = 0; k < e->ncells; k++) {
        core_cell *c = &e->cells[k];
        core_reset_results(c);
        json_decref(c->outputs);
        json_decref(c->display_ids);
        core_art_free(&c->exports);
        json_decref(c->updates);
        json_decref(c->code);
        free(c->src);
        free(c->reads);
        strvec_free(&c->pred_reads);
        strvec_free(&c->pred_writes);
        strvec_free(&c->certain_writes);
        sizevec_free(&c->deps);
        strvec_free(&c->need_later);
        strvec_free(&c->known_writes);
        strvec_free(&c->files_seen);
        free(c->rng_path);
        free(c->rng_rest0);
        core_held_free(c);
    }
    core_lineage_free(e);
    core_action a;
    while (core_next_action(e, &a)) json_decref(a.msg);
    strvec_free(&e->contended);
    core_policy_free(e);
    free(e->cells);
    free(e->run_dir);
    free(e->cache_env);
    json_decref(e->language_info);
    strmap_free(&e->writers);
    strmap_free(&e->pred_writers);
    sizevec_free(&e->opens);
    free(e->work);
    free(e->work_why);
    free(e->acts);
    free(e);
}

size_t core_ncells(const core *e) { return e->ncells; }
core_cell *core_cell_at(core *e, size_t k) { return &e->cells[k]; }
int core_running(const core *e) { return e->running; }
const run_stats *core_stats(const core *e) { return &e->stats; }
run_stats *core_stats_mut(core *e) { return &e->stats; }
json_t *core_language_info(const core *e) { return e->language_info; }

int core_pending(const core *e) {
    int n = 0;
    for (size_t k = 0; k < e->ncells; k++) n += e->cells[k].state == C_PENDING && !e->cells[k].skip;
    return n;
}

int core_finished(const core *e) {
    if (e->running > 0) return 0;
    if (e->stopping || e->mono_dead) return 1;
    int stop = core_stop_index(e);
    for (size_t k = 0; k < e->ncells && (int)k <= stop; k++)
        if (e->cells[k].state != C_DONE) return 0;
    return 1;
}
