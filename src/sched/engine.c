/* engine.c — the run of one notebook (see engine.h).
 *
 * Every code cell is a `cellrun`. In the isolated modes a cell's scope is
 * resolved against the cells before it in notebook order: the most recent
 * finished cell that exported (or deleted) a name supplies it. A cell that
 * is not finished yet and is predicted to write the name makes the reader
 * wait; one predicted not to write it is passed over speculatively, and
 * the read is recorded. When a cell finishes, every later cell that already
 * read an older version of one of its exports is re-run (view-
 * serializability in notebook order). */
#include "sched/engine.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "analysis/analysis.h"
#include "kernel/kpool.h"
#include "store/cache.h"
#include "sched/engine_internal.h"
#include "trace/trace.h"
#include "util/util.h"

/* ---- scope resolution ------------------------------------------------------ */

static json_t *find_export(cellrun *c, const char *name) {
    size_t i;
    json_t *a;
    json_array_foreach(c->exports, i, a) {
        if (!strcmp(json_string_value(json_object_get(a, "name")), name)) return a;
    }
    return NULL;
}

static void invalidate(engine *e, size_t k, const char *why);
static long rng_writer(engine *e, size_t k, json_t **art);

static int may_write(const cellrun *c, const char *name) {
    return c->open_world || strvec_contains(&c->pred_writes, name) || strvec_contains(&c->known_writes, name);
}

static int is_dropped(json_t *art) {
    const char *codec = json_string_value(json_object_get(art, "codec"));
    return codec && !strcmp(codec, "dropped");
}

/* A cell needs a value its producer did not write out: run the producer
 * again, exporting everything. */
static void want_dropped(engine *e, long producer, const char *name) {
    cellrun *p = &e->cells[producer];
    p->export_all = 1;
    char why[256];
    snprintf(why, sizeof why, "'%s' is needed after all", name);
    invalidate(e, (size_t)producer, why);
}

/* Resolves `name` for cell k. Returns RES_FOUND (*art, *from set),
 * RES_NONE (no writer; *from = tombstone cell or -1) or RES_WAIT (*from =
 * the unfinished cell to wait for). */
/* The writer index: engine_resolve looks only at the cells that may write,
 * wrote or deleted a name (and at open-world cells), not at every earlier
 * cell, so resolving stays cheap in long notebooks. Entries are never
 * removed; a stale one costs one check. */
static void index_writer(engine *e, const char *name, size_t k) {
    if (!e->writers) e->writers = json_object();
    json_t *w = json_object_get(e->writers, name);
    if (!w) json_object_set_new(e->writers, name, w = json_array());
    size_t n = json_array_size(w);
    if (n && (size_t)json_integer_value(json_array_get(w, n - 1)) == k) return;
    json_array_append_new(w, json_integer((json_int_t)k));
}

static void index_results(engine *e, size_t k) {
    cellrun *c = &e->cells[k];
    size_t i;
    json_t *a;
    json_array_foreach(c->exports, i, a) {
        const char *nm = json_string_value(json_object_get(a, "name"));
        if (nm) index_writer(e, nm, k);
    }
    for (size_t d = 0; d < c->deletes.n; d++) index_writer(e, c->deletes.v[d], k);
}

static int desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The cells before k that may matter for `name`, latest first. */
static size_t candidates(engine *e, size_t k, const char *name, size_t **out) {
    json_t *w = e->writers ? json_object_get(e->writers, name) : NULL;
    size_t cap = json_array_size(w) + e->nopens, n = 0;
    size_t *v = xmalloc((cap ? cap : 1) * sizeof *v);
    size_t i;
    json_t *j;
    json_array_foreach(w, i, j) {
        size_t x = (size_t)json_integer_value(j);
        if (x < k) v[n++] = x;
    }
    for (i = 0; i < e->nopens; i++)
        if (e->opens[i] < k) v[n++] = e->opens[i];
    qsort(v, n, sizeof *v, desc);
    size_t u = 0;
    for (i = 0; i < n; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    *out = v;
    return u;
}

int engine_resolve(engine *e, size_t k, const char *name, json_t **art, long *from) {
    size_t *cand, n = candidates(e, k, name, &cand);
    int r = RES_NONE;
    *from = -1;
    for (size_t i = 0; i < n; i++) {
        size_t j = cand[i];
        cellrun *c = &e->cells[j];
        if (c->skip) continue;
        if (c->state != C_DONE) {
            if (may_write(c, name)) {
                *from = (long)j;
                r = RES_WAIT;
                break;
            }
            continue;
        }
        json_t *a = find_export(c, name);
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

void engine_record_read(cellrun *c, const char *name, long from) {
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

void cell_reset_results(cellrun *c) {
    json_decref(c->outputs);
    json_decref(c->display_ids);
    json_decref(c->exports);
    c->outputs = json_array();
    c->display_ids = json_object();
    c->exports = json_array();
    json_decref(c->updates);
    c->updates = json_array();
    strvec_free(&c->deletes);
    strvec_free(&c->rfiles);
    strvec_free(&c->wfiles);
    strvec_free(&c->tfiles);
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
    c->need = NULL;
}

static void invalidate(engine *e, size_t k, const char *why);
static void after_done(engine *e, size_t k);

/* A finished cell j exported or deleted `name`: later cells that read an
 * older version are stale. */
static void validate_readers(engine *e, size_t j, const char *name) {
    for (size_t k = j + 1; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        if (c->state != C_RUNNING && c->state != C_DONE) continue;
        for (size_t i = 0; i < c->nreads; i++) {
            if (strcmp(c->reads[i].name, name) != 0) continue;
            if (c->reads[i].from < (long)j) {
                char why[256];
                snprintf(why, sizeof why, "cell %zu wrote '%s' after cell %zu read it", j, name, k);
                invalidate(e, k, why);
            }
            break;
        }
    }
}

static void drop_holder(engine *e, kernel *h);

static void invalidate(engine *e, size_t k, const char *why) {
    cellrun *c = &e->cells[k];
    if (c->state == C_PENDING) return;
    if (c->holder) drop_holder(e, c->holder);
    if (c->state == C_PENDING) return; /* dropping its holder re-ran it */
    trace_complete(e->tr, "rerun", (int)k, c->kern ? c->kern->id : 0, time_mono_us(), 0, NULL);
    e->stats.reruns++;
    if (!e->o->quiet && getenv("FLOE_DEBUG")) fprintf(stderr, "floe: re-running cell %zu: %s\n", k, why);
    if (c->state == C_RUNNING && c->kern) {
        kernel *kn = c->kern;
        c->kern = NULL;
        kn->user = NULL;
        kpool_signal(kn, SIGKILL);
        kpool_release(kn);
        e->running--;
        if (c->parked) e->parked--;
    }
    int was_done = c->state == C_DONE;
    c->state = C_PENDING;
    if (e->settled > k) e->settled = k;
    c->parked = 0;
    c->attempt++;
    /* cells that read from this one are stale too */
    if (was_done) {
        for (size_t m = k + 1; m < e->ncells; m++) {
            cellrun *d = &e->cells[m];
            for (size_t i = 0; i < d->nreads; i++)
                if (d->reads[i].from == (long)k) {
                    invalidate(e, m, "its input was re-run");
                    break;
                }
        }
    }
    cell_reset_results(c);
}

/* ---- holders ------------------------------------------------------------------ */

/* A value that cannot move between processes (a generator, an open file, a
 * connection) stays in the kernel that made it: that kernel is kept as the
 * cell's holder, and the cells that read such values run in it, one after
 * the other in notebook order, each from a fresh namespace plus those
 * values (kernel.py, "reuse"). Not forked from it: a generator advanced by
 * one reader must be seen advanced by the next. */

/* The one kernel holding the unmovable values cell k is predicted to read;
 * NULL when there are
 * none, or their holder is gone, or they are in two kernels (the cell then
 * gets the Unmovable error). *wait: the holder is busy, or an earlier cell
 * has not finished. */
static size_t settled(engine *e);

static int is_unmovable(json_t *art) {
    const char *codec = art ? json_string_value(json_object_get(art, "codec")) : NULL;
    return codec && !strcmp(codec, "unmovable");
}

/* Holder kn is gone or no longer needed: no cell refers to it any more. */
static void forget_holder(engine *e, kernel *kn) {
    for (size_t m = 0; m < e->ncells; m++)
        if (e->cells[m].holder == kn) e->cells[m].holder = NULL;
}

static kernel *holder_for(engine *e, size_t k, int *wait) {
    cellrun *c = &e->cells[k];
    kernel *h = NULL;
    *wait = 0;
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        const char *name = c->pred_reads.v[i];
        json_t *art = NULL;
        long from;
        if (engine_resolve(e, k, name, &art, &from) != RES_FOUND || !is_unmovable(art)) continue;
        kernel *hk = e->cells[from].holder;
        if (!hk || (h && hk != h)) return NULL;
        h = hk;
        for (size_t j = (size_t)from + 1; j < k; j++) {
            cellrun *d = &e->cells[j];
            if (!d->skip && d->state != C_DONE && strvec_contains(&d->pred_reads, name)) *wait = 1;
        }
    }
    /* and after every earlier cell: re-running a cell that ran in a holder
     * means re-running all its users, so it must not start on a state (the
     * random state, a read the prediction missed) that could still change */
    if (h && (h->state != K_IDLE || settled(e) < k)) *wait = 1;
    return h;
}

/* Whether a cell after k that has yet to finish is predicted to read an
 * unmovable value made by k or held by kn: only then is kn kept when k
 * finishes (a `with open(...) as f` leaves an unmovable `f` in many cells
 * that nobody reads again, and a kept kernel keeps its memory). */
static int holder_wanted(engine *e, size_t k, kernel *kn) {
    for (size_t m = k + 1; m < e->ncells; m++) {
        cellrun *d = &e->cells[m];
        if (d->skip || d->state == C_DONE) continue;
        for (size_t i = 0; i < d->pred_reads.n; i++) {
            const char *name = d->pred_reads.v[i];
            json_t *art = NULL;
            long from;
            int r = engine_resolve(e, m, name, &art, &from);
            if (r == RES_FOUND && is_unmovable(art) && (from == (long)k || e->cells[from].holder == kn)) return 1;
            if (r != RES_WAIT) continue;
            /* behind a cell that may write it: wanted if it is held here */
            if (is_unmovable(find_export(&e->cells[k], name))) return 1;
            for (size_t j = 0; j < k; j++)
                if (e->cells[j].holder == kn && is_unmovable(find_export(&e->cells[j], name))) return 1;
        }
    }
    return 0;
}

/* The names whose values, as cell k sees them, live only in holder h: what
 * a cell running in h keeps when its namespace is reset. */
static void held_names(engine *e, size_t k, kernel *h, strvec *out) {
    for (size_t j = 0; j < k; j++) {
        if (e->cells[j].holder != h) continue;
        size_t i;
        json_t *a;
        json_array_foreach(e->cells[j].exports, i, a) {
            const char *name = json_string_value(json_object_get(a, "name"));
            json_t *art = NULL;
            long from;
            if (is_unmovable(a) && engine_resolve(e, k, name, &art, &from) == RES_FOUND && art == a &&
                !strvec_contains(out, name))
                strvec_push(out, name);
        }
    }
}

/* Holder h's values are no longer right (a cell that used it is re-run, or
 * it died): every cell that used it runs again, from the cell that made
 * them. */
static void drop_holder(engine *e, kernel *h) {
    size_t *users = xmalloc(e->ncells * sizeof *users), n = 0;
    for (size_t m = 0; m < e->ncells; m++)
        if (e->cells[m].holder == h || e->cells[m].kern == h) users[n++] = m;
    forget_holder(e, h);
    for (size_t i = 0; i < n; i++) invalidate(e, users[i], "the kernel holding its unmovable values is gone");
    free(users);
    kpool_signal(h, SIGKILL);
    kpool_release(h);
}

/* ---- building requests ------------------------------------------------------- */

static void add_import(engine *e, size_t k, json_t *imports, const char *name) {
    json_t *art = NULL;
    long from;
    int r = engine_resolve(e, k, name, &art, &from);
    if (r == RES_WAIT) return; /* resolved lazily if the cell reads it */
    engine_record_read(&e->cells[k], name, from);
    if (r != RES_FOUND) return;
    const char *codec = json_string_value(json_object_get(art, "codec"));
    if (codec && (!strcmp(codec, "unmovable") || !strcmp(codec, "dropped"))) {
        e->cells[k].lazy_now = 1; /* fails only if the cell really reads it */
        return;
    }
    json_array_append(imports, art);
}

/* Names visible to cell k: every name exported before it. */
static void all_visible(engine *e, size_t k, strvec *out) {
    for (size_t j = 0; j < k; j++) {
        size_t i;
        json_t *a;
        json_array_foreach(e->cells[j].exports, i, a) strvec_push(out, json_string_value(json_object_get(a, "name")));
    }
    strvec_sort_unique(out);
}

static json_t *run_request(engine *e, size_t k) {
    cellrun *c = &e->cells[k];
    json_t *m = json_pack("{s:s,s:i,s:i,s:o,s:b}", "op", "run", "cell", (int)k, "count", c->count, "code",
                          nb_cell_source_json(e->nb, c->idx), "ice", e->o->mode != MODE_MONOLITHIC);
    if (e->o->mode == MODE_MONOLITHIC) return m;
    json_t *imports = json_array();
    c->lazy_now = 0;
    if (c->open_world || c->lazy) {
        strvec all = {0};
        all_visible(e, k, &all);
        for (size_t i = 0; i < all.n; i++) add_import(e, k, imports, all.v[i]);
        strvec_free(&all);
    } else {
        for (size_t i = 0; i < c->pred_reads.n; i++) add_import(e, k, imports, c->pred_reads.v[i]);
    }
    json_object_set_new(m, "imports", imports);
    json_object_set_new(m, "lazy", json_boolean(c->open_world || c->lazy || c->lazy_now || e->o->lazy_always));
    json_object_set_new(m, "version", json_integer(++e->version));
    if (!c->export_all && !e->o->lazy_always && !e->o->keep_run) {
        json_t *only = json_array();
        for (size_t i = 0; i < c->need_later.n; i++) json_array_append_new(only, json_string(c->need_later.v[i]));
        json_object_set_new(m, "export_only", only);
    }
    json_object_set_new(m, "run_dir", json_string(e->run_dir));
    if (c->in_holder) {
        strvec keep = {0};
        held_names(e, k, c->kern, &keep);
        json_t *ka = json_array();
        for (size_t i = 0; i < keep.n; i++) json_array_append_new(ka, json_string(keep.v[i]));
        strvec_free(&keep);
        json_object_set_new(m, "reuse", json_true());
        json_object_set_new(m, "keep", ka);
    }
    json_t *rng = NULL;
    c->rng_from = rng_writer(e, k, &rng);
    free(c->rng_path);
    c->rng_path = rng ? xstrdup(json_string_value(json_object_get(rng, "path"))) : NULL;
    if (rng) json_object_set(m, "rng", rng);
    return m;
}

/* ---- the random state -------------------------------------------------------- */

/* The latest finished cell before k that left a random state (see RNG in
 * kernel.py), or -1. Not a wait: a cell starts with the state known now,
 * and rng_stale() re-runs it if it drew and an earlier writer finished
 * meanwhile. */
static long rng_writer(engine *e, size_t k, json_t **art) {
    for (size_t j = k; j-- > 0;) {
        cellrun *c = &e->cells[j];
        if (c->skip || c->state != C_DONE) continue;
        json_t *a = find_export(c, RNG_NAME);
        if (a) {
            *art = a;
            return (long)j;
        }
    }
    *art = NULL;
    return -1;
}

/* A cell that used the random state read it: recorded, so that an earlier
 * cell finishing later with a new state makes it run again; and if that
 * already happened while it ran, it runs again now. "Already happened"
 * includes the state's own writer having been re-run while this cell ran:
 * the same cell, another state (its file tells them apart). */
static int rng_stale(engine *e, size_t k, json_t *msg) {
    cellrun *c = &e->cells[k];
    if (!msg || !json_is_true(json_object_get(msg, "rng_touched"))) return 0;
    engine_record_read(c, RNG_NAME, c->rng_from);
    json_t *art;
    if (rng_writer(e, k, &art) != c->rng_from) return 1;
    const char *now = art ? json_string_value(json_object_get(art, "path")) : NULL;
    if (!now || !c->rng_path) return now != c->rng_path;
    return strcmp(now, c->rng_path) != 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Every predicted read that resolves to a value its producer did not write
 * out makes the producer run again; the cell waits for it. */
static int inputs_written(engine *e, size_t k) {
    cellrun *c = &e->cells[k];
    int ok = 1;
    for (size_t i = 0; i < c->pred_reads.n; i++) {
        json_t *art = NULL;
        long from;
        if (engine_resolve(e, k, c->pred_reads.v[i], &art, &from) == RES_FOUND && is_dropped(art)) {
            want_dropped(e, from, c->pred_reads.v[i]);
            ok = 0;
        }
    }
    return ok;
}

/* Advances the watermark of settled cells; invalidate() moves it back. */
static size_t settled(engine *e) {
    while (e->settled < e->ncells &&
           (e->cells[e->settled].skip || e->cells[e->settled].state == C_DONE))
        e->settled++;
    return e->settled;
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

/* f is contended: cells j and k raced on it. Both remember it, so that
 * their next attempts (and those of every cell that touched it) run in
 * notebook order (deps_done). */
static int touches(const cellrun *c, const char *f) {
    return strvec_contains(&c->rfiles, f) || strvec_contains(&c->wfiles, f);
}

static void contend(engine *e, size_t j, size_t k, const char *f) {
    if (!strvec_contains(&e->contended, f)) strvec_push(&e->contended, f);
    for (size_t i = 0; i < e->ncells; i++) {
        cellrun *c = &e->cells[i];
        if ((i == j || i == k || touches(c, f)) && !strvec_contains(&c->files_seen, f))
            strvec_push(&c->files_seen, f);
    }
}

static void invalidate(engine *e, size_t k, const char *why);

/* Cells j < k raced on file f. Re-running one of them cannot undo what the
 * other did to the file (an append twice is not one append): the file's
 * history is replayed instead -- from the last cell up to j that wrote f
 * from scratch, every finished or running cell that touched it runs again,
 * now in notebook order (deps_done). Without such a writer (the file was
 * there before the notebook), from j on. */
static void replay_file(engine *e, size_t j, size_t k, const char *f, const char *why) {
    char *file = xstrdup(f); /* f may live in a cell's vector that invalidate() frees */
    contend(e, j, k, file);
    size_t from = j;
    for (size_t t = j + 1; t-- > 0;) {
        cellrun *c = &e->cells[t];
        if (c->state == C_DONE && !c->restored && strvec_contains(&c->tfiles, file)) {
            from = t;
            break;
        }
    }
    /* a writer from scratch whose write is the newest (it finished last of
     * the cells using f) need not run again: the file is as it left it */
    size_t start = from;
    cellrun *t = &e->cells[from];
    if (strvec_contains(&t->tfiles, file) && t->state == C_DONE) {
        int newest = 1;
        for (size_t i = 0; i < e->ncells && newest; i++)
            if (i != from && e->cells[i].state == C_DONE && e->cells[i].done_seq > t->done_seq &&
                touches(&e->cells[i], file) && strvec_contains(&e->cells[i].wfiles, file))
                newest = 0;
        if (newest) start = from + 1;
    }
    for (size_t i = start; i < e->ncells; i++) {
        cellrun *c = &e->cells[i];
        if ((c->state == C_DONE && !c->restored) || c->state == C_RUNNING)
            if (i == j || i == k || touches(c, file)) invalidate(e, i, why);
    }
    free(file);
}

/* Cell k just finished. Did it race with another cell on a file?
 *  - an earlier cell j wrote a file k used, and j finished after k started:
 *    k may have seen the file as it was before j;
 *  - a later cell m wrote a file k used while k ran (m started before k
 *    finished): k may have seen m's version, or m's write may be older
 *    than k's.
 * Sets the two cells (*a < *b) and the file; returns 0 if no race. */
static int file_race(engine *e, size_t k, size_t *a, size_t *b, const char **file) {
    cellrun *c = &e->cells[k];
    for (size_t j = 0; (c->rfiles.n || c->wfiles.n) && j < k; j++) {
        cellrun *d = &e->cells[j];
        if (d->state != C_DONE || d->restored || !d->wfiles.n || d->done_seq < c->start_seq) continue;
        for (size_t i = 0; i < d->wfiles.n; i++)
            if (touches(c, d->wfiles.v[i])) {
                *a = j, *b = k, *file = d->wfiles.v[i];
                return 1;
            }
    }
    for (size_t m = k + 1; m < e->ncells; m++) {
        cellrun *d = &e->cells[m];
        if ((d->state != C_DONE && d->state != C_RUNNING) || d->restored || !d->wfiles.n) continue;
        if (d->start_seq > c->done_seq) continue;
        for (size_t i = 0; i < d->wfiles.n; i++)
            if (touches(c, d->wfiles.v[i])) {
                *a = k, *b = m, *file = d->wfiles.v[i];
                return 1;
            }
    }
    return 0;
}

/* A cell may start once its predicted producers are done (every earlier
 * cell, in serial mode or for an open-world cell). O(producers), so that a
 * scheduling pass over a long notebook stays linear. */
static int deps_done(engine *e, size_t k) {
    cellrun *c = &e->cells[k];
    if (e->o->mode == MODE_SERIAL || c->open_world) {
        if (settled(e) < k) return 0;
        return inputs_written(e, k);
    }
    for (size_t i = 0; i < c->ndeps; i++) {
        cellrun *d = &e->cells[c->deps[i]];
        if (!d->skip && d->state != C_DONE) return 0;
    }
    /* a file two cells raced on: its users run in notebook order */
    for (size_t j = settled(e); c->files_seen.n && j < k; j++) {
        cellrun *d = &e->cells[j];
        if (d->state != C_DONE && !d->skip && common_file(&d->files_seen, &c->files_seen)) return 0;
    }
    return inputs_written(e, k);
}

static void drop_prefork(engine *e, kernel *kn) {
    for (size_t i = 0; i < e->npreforks; i++)
        if (e->preforks[i] == kn) {
            e->preforks[i] = e->preforks[--e->npreforks];
            e->forking--;
            return;
        }
}

/* A ready kernel; else one already being forked ahead of demand (the cell's
 * request waits for it: sooner than a fork started now); else a new fork. */
static kernel *take_kernel(engine *e) {
    if (e->nidle) return e->idle[--e->nidle];
    if (e->npreforks) {
        kernel *k = e->preforks[0];
        drop_prefork(e, k);
        return k;
    }
    return kpool_fork(e->pool);
}

static void start_cell(engine *e, size_t k, kernel *kn) {
    cellrun *c = &e->cells[k];
    c->state = C_RUNNING;
    c->kern = kn;
    kn->user = c;
    kn->state = K_BUSY;
    c->t_dispatch = time_mono_us();
    c->start_seq = ++e->seq;
    json_t *req = run_request(e, k);
    kpool_send(kn, req);
    json_decref(req);
    e->running++;
    engine_arm_timeout(e, c);
    if (e->o->mode != MODE_MONOLITHIC) {
        int64_t t0 = c->t_ready > kn->t_forked ? c->t_ready : kn->t_forked;
        if (kn->t_forked && c->t_dispatch > t0)
            trace_complete(e->tr, "wait", (int)k, kn->id, t0, c->t_dispatch - t0, NULL);
    }
}

/* Keeps `want` kernels forked ahead of demand (isolated modes). */
static void prefork(engine *e) {
    if (e->o->mode == MODE_MONOLITHIC || e->stopping) return;
    int want = e->o->mode == MODE_SERIAL ? 1 : e->o->jobs;
    size_t left = 0;
    for (size_t k = 0; k < e->ncells; k++) left += e->cells[k].state == C_PENDING && !e->cells[k].skip;
    if ((size_t)want > left) want = (int)left;
    while ((int)e->nidle + e->forking < want) {
        kernel *kn = kpool_fork(e->pool);
        if (!kn) return;
        e->forking++;
        kn->user = NULL;
        e->stats.kernels++;
        e->preforks = xrealloc(e->preforks, (e->npreforks + 1) * sizeof *e->preforks);
        e->preforks[e->npreforks++] = kn;
    }
}

int engine_stop_index(engine *e) {
    if (e->o->allow_errors) return (int)e->ncells;
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        if (c->state == C_DONE && c->error && !c->raises) return (int)k;
    }
    return (int)e->ncells;
}

static void after_done(engine *e, size_t k);

/* Restores every cell the cache can; 1 when nothing is left to run. */
static int restore_pass(engine *e) {
    int need = 0;
    int stop = engine_stop_index(e);
    for (size_t k = 0; k < e->ncells && (int)k <= stop; k++) {
        cellrun *c = &e->cells[k];
        if (c->state != C_PENDING || c->skip) continue;
        if (!c->t_ready) c->t_ready = time_mono_us();
        if (deps_done(e, k) && engine_cache_restore(e, k)) {
            c->state = C_DONE;
            e->stats.cells_restored++;
            after_done(e, k);
            stop = engine_stop_index(e);
        } else {
            need = 1;
        }
    }
    if (need) return 0;
    engine_check_finished(e);
    return 1;
}

void engine_schedule(engine *e) {
    if (e->stopping) return;
    if (!e->t_ready) {
        if (!e->pool) {
            /* everything the cache can restore is restored before any
             * Python starts: an unchanged notebook runs no interpreter */
            if (restore_pass(e) || engine_start_pool(e) < 0) return;
        }
        /* the zygote has not said hello: forks queue up, nothing starts */
        prefork(e);
        return;
    }
    int stop = engine_stop_index(e);
    int limit = e->o->mode == MODE_PARALLEL ? e->o->jobs : 1;
    /* cells in the policy's order of preference (policy.c), else notebook order */
    for (size_t i = 0; i < e->ncells; i++) {
        size_t k = e->order ? e->order[i] : i;
        if ((int)k > stop) {
            if (e->order) continue;
            break;
        }
        cellrun *c = &e->cells[k];
        if (c->state != C_PENDING || c->skip) continue;
        if (e->running - e->parked >= limit) break;
        if (!deps_done(e, k)) {
            if (e->o->mode != MODE_PARALLEL) break;
            continue;
        }
        if (!c->t_ready) c->t_ready = time_mono_us();
        if (e->o->mode != MODE_MONOLITHIC && engine_cache_restore(e, k)) {
            c->state = C_DONE;
            e->stats.cells_restored++;
            after_done(e, k);
            continue;
        }
        if (e->o->mode == MODE_MONOLITHIC) {
            if (e->mono_dead) {
                engine_stop(e);
                return;
            }
            if (!e->mono || e->mono->state != K_IDLE) break;
            start_cell(e, k, e->mono);
            break;
        }
        if (sched_stagger_wait(e, k)) continue;
        int wait;
        kernel *h = holder_for(e, k, &wait);
        if (wait) {
            if (e->o->mode != MODE_PARALLEL) break;
            continue;
        }
        kernel *kn = h ? h : take_kernel(e);
        if (!kn) break;
        c->in_holder = h != NULL;
        start_cell(e, k, kn);
    }
    /* cells beyond a failure that are still running are dropped */
    for (size_t k = (size_t)stop + 1; k < e->ncells; k++)
        if (e->cells[k].state == C_RUNNING) invalidate(e, k, "an earlier cell failed");
    prefork(e);
    engine_check_finished(e);
}

/* ---- messages from kernels ---------------------------------------------------- */

static void answer_need(engine *e, cellrun *c) {
    json_t *art = NULL;
    long from;
    size_t k = (size_t)(c - e->cells);
    int r = engine_resolve(e, k, c->need, &art, &from);
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
    if (c->parked) {
        c->parked = 0;
        e->parked--;
        trace_complete(e->tr, "wait", (int)k, c->kern->id, c->t_park, time_mono_us() - c->t_park, NULL);
    }
    engine_record_read(c, c->need, from);
    e->stats.lazy_reads++;
    json_t *m = json_pack("{s:s,s:s}", "op", "value", "name", c->need);
    if (r == RES_FOUND) json_object_set(m, "artifact", art);
    kpool_send(c->kern, m);
    json_decref(m);
    free(c->need);
    c->need = NULL;
}

/* Re-examines parked lazy reads after a cell finished. */
static void wake_parked(engine *e) {
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        if (c->state == C_RUNNING && c->parked && c->need) answer_need(e, c);
    }
}

static void on_need(engine *e, cellrun *c, json_t *msg) {
    free(c->need);
    c->need = xstrdup(json_string_value(json_object_get(msg, "name")));
    answer_need(e, c);
    /* the answer may have sent a producer back to run (a dropped value is
     * needed after all) or invalidated the reader itself: schedule now */
    engine_schedule(e);
}

/* The NameError fallback (issue 16, class 3). The kernel reports the names
 * a NameError said were not defined -- its subclasses and libraries'
 * wrappers (pandas, patsy) too, raised anywhere, formatters included. One
 * that an earlier cell writes and the cell was not predicted to read is a
 * read the prediction missed: it is learned (a predicted read from now on,
 * so its producer is a dependency and it is imported for real into the
 * cell's globals, where code reading frames' f_globals finds it; and
 * remembered in the cache for the next run), and the cell runs again.
 * Each attempt learns a new name, so this ends, and every name it needed
 * is remembered. Returns 1 when the cell must run again. */
static void learn_read(engine *e, size_t k, const char *name) {
    cellrun *c = &e->cells[k];
    strvec_push(&c->pred_reads, name);
    strvec_sort_unique(&c->pred_reads);
    for (size_t j = 0; j < k; j++) {
        cellrun *d = &e->cells[j];
        if (!strvec_contains(&d->pred_writes, name) && !strvec_contains(&d->known_writes, name)) continue;
        c->deps = xrealloc(c->deps, (c->ndeps + 1) * sizeof *c->deps);
        c->deps[c->ndeps++] = j;
    }
    engine_cache_learn(e, c, name);
    if (!e->o->quiet || getenv("FLOE_DEBUG"))
        fprintf(stderr, "floe: cell %zu reads %s, which the prediction missed: it runs again with it\n", k, name);
}

static int missed_read(engine *e, size_t k, json_t *msg) {
    cellrun *c = &e->cells[k];
    if (e->o->mode == MODE_MONOLITHIC || !msg) return 0;
    size_t i;
    json_t *v;
    int learned = 0, known = 0;
    json_array_foreach(json_object_get(msg, "missing"), i, v) {
        const char *name = json_string_value(v);
        json_t *art;
        long from;
        if (!name || engine_resolve(e, k, name, &art, &from) == RES_NONE) continue;
        if (strvec_contains(&c->pred_reads, name)) {
            known = 1;
            continue;
        }
        learn_read(e, k, name);
        learned = 1;
    }
    /* a predicted read whose value was not there (its writer was not known
     * to write it when the cell started): once more, resolving every name */
    if (!learned && known && !c->lazy) c->lazy = learned = 1;
    return learned;
}

static void finish_cell(engine *e, cellrun *c, json_t *msg) {
    size_t k = (size_t)(c - e->cells);
    kernel *kn = c->kern;
    engine_disarm_timeout(e, c);
    engine_take_results(e, c, msg);
    engine_trace_cell(e, c, msg);
    e->running--;
    c->state = C_DONE;
    c->kern = NULL;
    if (e->o->mode == MODE_MONOLITHIC) {
        kn->user = NULL;
        kn->state = K_IDLE;
    } else if (msg && (c->in_holder || json_array_size(json_object_get(msg, "unmovable"))) &&
               holder_wanted(e, k, kn)) {
        kn->user = NULL; /* kept: see holder_for */
        kn->state = K_IDLE;
        c->holder = kn;
    } else {
        if (c->in_holder) forget_holder(e, kn); /* its last user: its values are read no more */
        kpool_release(kn);
    }
    take_files(&c->rfiles, json_object_get(msg, "files"));
    take_files(&c->wfiles, json_object_get(msg, "wfiles"));
    take_files(&c->tfiles, json_object_get(msg, "tfiles"));
    c->done_seq = ++e->seq;
    for (size_t i = 0; i < e->contended.n; i++)
        if (touches(c, e->contended.v[i]) && !strvec_contains(&c->files_seen, e->contended.v[i]))
            strvec_push(&c->files_seen, e->contended.v[i]);
    int missed = missed_read(e, k, msg);
    size_t ra, rb;
    const char *rf;
    if (!missed && e->o->mode == MODE_PARALLEL && file_race(e, k, &ra, &rb, &rf)) {
        char why[1024];
        snprintf(why, sizeof why, "cells %zu and %zu used %s at the same time", ra, rb, rf);
        replay_file(e, ra, rb, rf, why);
        if (c->state != C_DONE) { /* this cell runs again too */
            engine_schedule(e);
            return;
        }
    }
    if (missed || rng_stale(e, k, msg)) {
        c->state = C_RUNNING; /* so invalidate() resets it */
        e->running++;
        c->kern = NULL;
        invalidate(e, k, missed ? "a read the prediction missed" : "the random state changed");
        e->running--;
        engine_schedule(e);
        return;
    }
    engine_hash_exports(e, c);
    if (msg) engine_cache_store(e, c, msg);
    {
        size_t i;
        json_t *a;
        json_array_foreach(c->exports, i, a) {
            const char *nm = json_string_value(json_object_get(a, "name"));
            if (nm && !strvec_contains(&c->known_writes, nm)) strvec_push(&c->known_writes, nm);
        }
    }
    index_results(e, k);
    e->stats.cells_run++;
    if (getenv("FLOE_DEBUG"))
        fprintf(stderr, "floe: cell %zu: ready->dispatch %lld us, dispatch->start %lld, import %lld, compute %lld, export %lld, done->floe %lld\n",
                k, (long long)(c->t_dispatch - c->t_ready), (long long)(c->t_start - c->t_dispatch),
                (long long)(c->t_compute - c->t_start), (long long)(c->t_end - c->t_compute),
                (long long)(c->t_done - c->t_end), (long long)(time_mono_us() - c->t_done));
    engine_progress(e, c);
    after_done(e, k);
    engine_schedule(e);
}

/* A cell's results are final: later cells that read older versions of what
 * it wrote are stale, and parked reads may now be answered. */
static void after_done(engine *e, size_t k) {
    cellrun *c = &e->cells[k];
    index_results(e, k);
    size_t i;
    json_t *a;
    json_array_foreach(c->exports, i, a) validate_readers(e, k, json_string_value(json_object_get(a, "name")));
    for (size_t d = 0; d < c->deletes.n; d++) validate_readers(e, k, c->deletes.v[d]);
    /* later cells that finished before this one and used a file it wrote
     * (those still running are checked when they finish) */
    for (size_t m = k + 1; c->wfiles.n && m < e->ncells; m++) {
        cellrun *d = &e->cells[m];
        const char *f = NULL;
        if (d->state != C_DONE || d->restored || d->start_seq > c->done_seq) continue;
        for (size_t w = 0; w < c->wfiles.n && !f; w++)
            if (touches(d, c->wfiles.v[w])) f = c->wfiles.v[w];
        if (!f) continue;
        char why[1024];
        snprintf(why, sizeof why, "cell %zu wrote %s after cell %zu used it", k, f, m);
        replay_file(e, k, m, f, why);
        if (c->state != C_DONE) break; /* this cell itself runs again */
    }
    if (c->state == C_DONE) engine_save_note(e, k);
    wake_parked(e);
}

static void on_kernel_msg(kernel *kn, json_t *msg, void *data) {
    engine *e = data;
    cellrun *c = kn->user;
    const char *op = json_string_value(json_object_get(msg, "op"));
    if (!op || !c) return;
    if (!strcmp(op, "done")) finish_cell(e, c, msg);
    else if (!strcmp(op, "need")) on_need(e, c, msg);
    else if (!strcmp(op, "update_display")) engine_update_display(e, c, msg);
}

static void on_forked(kernel *kn, void *data) {
    engine *e = data;
    if (e->o->mode == MODE_MONOLITHIC) {
        engine_schedule(e);
        return;
    }
    char args[64];
    snprintf(args, sizeof args, "{\"fork_us\":%lld}", (long long)kn->fork_us);
    trace_complete(e->tr, "fork", -1, kn->id, kn->t_requested, kn->t_forked - kn->t_requested, args);
    if (kn->user == NULL && !kn->released) {
        drop_prefork(e, kn);
        if (e->nidle == e->capidle) {
            e->capidle = e->capidle ? e->capidle * 2 : 8;
            e->idle = xrealloc(e->idle, e->capidle * sizeof *e->idle);
        }
        e->idle[e->nidle++] = kn;
    }
    engine_schedule(e);
}

static void on_dead(kernel *kn, void *data) {
    engine *e = data;
    cellrun *c = kn->user;
    drop_prefork(e, kn);
    for (size_t i = 0; i < e->nidle; i++)
        if (e->idle[i] == kn) {
            e->idle[i] = e->idle[--e->nidle];
            break;
        }
    /* a holder that died took its values along: their readers get the
     * Unmovable error (a cell that died in it gets DeadKernelError) */
    forget_holder(e, kn);
    if (!c) {
        engine_check_finished(e);
        return;
    }
    engine_kernel_died(e, c, kn);
    if (e->o->mode == MODE_MONOLITHIC) {
        /* the one namespace is gone: nothing after this cell can run */
        e->mono_dead = 1;
    }
    finish_cell(e, c, NULL);
}

static void on_ready(kpool *p, json_t *hello, void *data) {
    engine *e = data;
    (void)p;
    json_decref(e->language_info);
    e->language_info = json_incref(json_object_get(hello, "language_info"));
    e->t_ready = time_mono_us();
    trace_complete(e->tr, "start", -1, 0, e->t0, e->t_ready - e->t0, NULL);
    if (e->o->mode == MODE_MONOLITHIC) {
        e->mono = kpool_fork(e->pool);
        e->stats.kernels = 1;
        return;
    }
    engine_schedule(e);
}

static void on_fail(kpool *p, const char *message, void *data) {
    engine *e = data;
    (void)p;
    if (e->stopping) return;
    fprintf(stderr, "floe: %s\n", message);
    if (strstr(message, "missing module"))
        fprintf(stderr, "floe: install it (Debian: apt-get install python3-ipython python3-numpy python3-pandas) "
                        "or choose another interpreter with --python PATH or FLOE_PYTHON\n");
    e->fatal = 2;
    engine_stop(e);
}

static const kpool_cbs pool_cbs = {on_ready, on_fail, on_forked, on_kernel_msg, on_dead};

/* ---- setup -------------------------------------------------------------------- */

static void add_pred(strvec *dst, const strvec *src) {
    for (size_t i = 0; i < src->n; i++) strvec_push(dst, src->v[i]);
}

/* Which names each cell writes out: those a later cell is predicted to
 * read (a name -> last reader map keeps this linear). Everything when a
 * later cell, or the cell itself, is open-world. */
static void plan_exports(engine *e) {
    json_t *last_reader = json_object();
    int any_open = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        for (size_t i = 0; i < c->pred_reads.n; i++)
            json_object_set_new(last_reader, c->pred_reads.v[i], json_integer((json_int_t)k));
    }
    for (size_t k = e->ncells; k-- > 0;) {
        cellrun *c = &e->cells[k];
        c->export_all = any_open || c->open_world;
        any_open |= c->open_world;
        strvec *sets[] = {&c->pred_writes, &c->pred_reads};
        for (size_t s = 0; s < 2; s++)
            for (size_t i = 0; i < sets[s]->n; i++) {
                json_t *r = json_object_get(last_reader, sets[s]->v[i]);
                if (r && json_integer_value(r) > (json_int_t)k) strvec_push(&c->need_later, sets[s]->v[i]);
            }
        strvec_sort_unique(&c->need_later);
    }
    json_decref(last_reader);
}

static void push_dep(cellrun *c, size_t j, size_t *cap) {
    if (c->ndeps == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        c->deps = xrealloc(c->deps, *cap * sizeof *c->deps);
    }
    c->deps[c->ndeps++] = j;
}

/* The predicted producers of every cell, through a name -> writers index:
 * linear in the size of the prediction, not quadratic in cells. */
static void plan_deps(engine *e) {
    json_t *writers = json_object();
    size_t *stamp = xcalloc(e->ncells, sizeof *stamp);
    size_t *opens = xcalloc(e->ncells, sizeof *opens), nopen = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        size_t cap = 0;
        for (size_t i = 0; i < c->pred_reads.n; i++) {
            json_t *w = json_object_get(writers, c->pred_reads.v[i]), *j;
            size_t x;
            json_array_foreach(w, x, j) {
                size_t from = (size_t)json_integer_value(j);
                if (stamp[from] == k + 1) continue;
                stamp[from] = k + 1;
                push_dep(c, from, &cap);
            }
        }
        for (size_t i = 0; i < nopen; i++)
            if (stamp[opens[i]] != k + 1) {
                stamp[opens[i]] = k + 1;
                push_dep(c, opens[i], &cap);
            }
        for (size_t i = 0; i < c->pred_writes.n; i++) {
            json_t *w = json_object_get(writers, c->pred_writes.v[i]);
            if (!w) json_object_set_new(writers, c->pred_writes.v[i], w = json_array());
            json_array_append_new(w, json_integer((json_int_t)k));
        }
        if (c->open_world) opens[nopen++] = k;
        for (size_t i = 0; i < c->pred_writes.n; i++) index_writer(e, c->pred_writes.v[i], k);
    }
    e->opens = opens;
    e->nopens = nopen;
    free(stamp);
    json_decref(writers);
}

/* Static prediction for every code cell. */
static void predict(engine *e) {
    an_cell *cells = xcalloc(e->ncells, sizeof *cells);
    const char **srcs = xcalloc(e->ncells ? e->ncells : 1, sizeof *srcs);
    for (size_t k = 0; k < e->ncells; k++) srcs[k] = e->cells[k].src;
    an_analyze_many(srcs, e->ncells, cells, (int)sysconf(_SC_NPROCESSORS_ONLN));
    free(srcs);
    an_graph g = {0};
    int graph_ok = an_build_graph(cells, e->ncells, &g) == 0;
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        add_pred(&c->pred_reads, graph_ok && g.eff_reads ? &g.eff_reads[k] : &cells[k].reads);
        add_pred(&c->pred_reads, &cells[k].deletes);
        add_pred(&c->pred_reads, &cells[k].mutates);
        engine_cache_learned(e, c);
        strvec_sort_unique(&c->pred_reads);
        add_pred(&c->pred_writes, &cells[k].writes);
        add_pred(&c->pred_writes, &cells[k].deletes);
        add_pred(&c->pred_writes, &cells[k].mutates);
        for (size_t d = 0; d < cells[k].ndefs; d++) add_pred(&c->pred_writes, &cells[k].defs[d].mutates);
        strvec_sort_unique(&c->pred_writes);
        c->open_world = cells[k].open_world.n > 0 || (graph_ok && g.open_calls[k]);
    }
    if (graph_ok) an_graph_free(&g);
    plan_exports(e);
    plan_deps(e);
    for (size_t k = 0; k < e->ncells; k++) an_cell_free(&cells[k]);
    free(cells);
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r') return 0;
    return 1;
}

static void init_cells(engine *e) {
    nb *n = e->nb;
    e->ncells = nb_ncode(n);
    e->cells = xcalloc(e->ncells ? e->ncells : 1, sizeof *e->cells);
    int count = 0;
    for (size_t k = 0; k < e->ncells; k++) {
        cellrun *c = &e->cells[k];
        c->idx = nb_code_cell(n, k);
        c->src = nb_cell_source(n, c->idx);
        if (!c->src) c->src = "";
        c->skip = is_blank(c->src) || nb_cell_has_tag(n, c->idx, "skip-execution");
        c->raises = nb_cell_has_tag(n, c->idx, "raises-exception");
        c->count = c->skip ? 0 : ++count;
        c->state = c->skip ? C_DONE : C_PENDING;
        c->outputs = json_array();
        c->display_ids = json_object();
        c->exports = json_array();
    }
}

/* Run directories of floe processes that died without cleaning up (SIGKILL,
 * power loss) are removed by the next run: floe-<pid>-<n> owned by us whose
 * pid no longer exists. A live pid, even a reused one, keeps its directory. */
static void sweep_stale(const char *base) {
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid;
        int n, used = 0;
        if (sscanf(de->d_name, "floe-%ld-%d%n", &pid, &n, &used) != 2 || de->d_name[used] || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *p = xasprintf("%s/%s", base, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) engine_remove_dir(p);
        free(p);
    }
    closedir(d);
}

static int make_run_dir(engine *e) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    sweep_stale(base);
    for (int i = 0; i < 100; i++) {
        free(e->run_dir);
        e->run_dir = xasprintf("%s/floe-%ld-%d", base, (long)getpid(), i);
        if (mkdir(e->run_dir, 0700) == 0) return 0;
        if (errno != EEXIST) break;
    }
    fprintf(stderr, "floe: cannot create a run directory in %s: %s\n", base, strerror(errno));
    return -1;
}

char *engine_interpreter_id(const char *python) {
    char *real = realpath(python, NULL);
    struct stat st;
    memset(&st, 0, sizeof st);
    stat(real ? real : python, &st);
    char *id = xasprintf("%s %lld %lld", real ? real : python, (long long)st.st_size, (long long)st.st_mtim.tv_sec);
    free(real);
    return id;
}

int engine_start_pool(engine *e) {
    kpool_opts ko = {e->o->python, e->o->pythonpath, e->o->preload, e->run_dir, e->o->cwd, e->o->mem_limit,
                     e->o->warm_idle_s};
    char err[512];
    e->lazy_pool = 0;
    if (kpool_start(&e->pool, &e->loop, &ko, &pool_cbs, e, err, sizeof err) < 0) {
        fprintf(stderr, "floe: %s\n", err);
        e->fatal = 2;
        engine_stop(e);
        return -1;
    }
    return 0;
}

int engine_run(nb *n, const run_opts *o, run_stats *stats) {
    engine e;
    memset(&e, 0, sizeof e);
    e.nb = n;
    e.o = o;
    e.t0 = time_mono_us();
    e.wall0 = time_wall_us();
    e.tr = trace_new();
    init_cells(&e);
    uv_loop_init(&e.loop);
    e.loop.data = &e;
    int rc = 2;
    if (make_run_dir(&e) < 0) goto done;
    if (o->cache_dir && o->mode != MODE_MONOLITHIC) {
        char cerr[512];
        if (cache_open(o->cache_dir, o->nb_name ? o->nb_name : "notebook", o->quiet, &e.cache, cerr, sizeof cerr) < 0) {
            fprintf(stderr, "floe: %s (running without the cache)\n", cerr);
            e.cache = NULL;
        }
    }
    e.cache_env = engine_interpreter_id(o->python);
    if (o->mode != MODE_MONOLITHIC) predict(&e); /* after the cache: it knows reads earlier runs learned */
    sched_plan(&e);
    e.lazy_pool = e.cache != NULL;
    if (!e.lazy_pool && engine_start_pool(&e) < 0) goto done;
    engine_signals_start(&e);
    engine_schedule(&e);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    rc = engine_finish(&e);
done:
    engine_cleanup(&e);
    if (stats) *stats = e.stats;
    return rc;
}
