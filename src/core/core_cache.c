/* core_cache.c — the core's use of the persistent cache: hashing what
 * cells export, storing finished cells, and restoring a cell without a
 * kernel when an entry's recorded reads and files match the current run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_internal.h"
#include "store/cache.h"
#include "store/hash.h"

/* Tags or a source comment that keep a cell out of the cache. */
int core_always_run(const core_cell *c) {
    return c->always_run || strstr(c->src, "# floe: always-run") != NULL;
}

/* Content hash of one artifact: its file, or its description; kept in the
 * artifact and in its wire form (which the cache stores). */
static void hash_export(core_artifact *a) {
    const char *have = json_string_value(json_object_get(a->wire, "hash"));
    if (have) {
        snprintf(a->hash, sizeof a->hash, "%s", have);
        return;
    }
    hash128 h;
    if (a->path) {
        if (hash_file(a->path, &h) < 0) return;
    } else {
        char *s = json_dumps(a->wire, JSON_COMPACT | JSON_SORT_KEYS);
        h = hash_bytes(s, strlen(s));
        free(s);
    }
    hash_hex(h, a->hash);
    json_object_set_new(a->wire, "hash", json_string(a->hash));
}

void core_hash_exports(core *e, core_cell *c) {
    if (!e->cache) return;
    for (size_t i = 0; i < c->exports.n; i++) hash_export(&c->exports.v[i]);
}

static const char *export_hash(core *e, long from, const char *name) {
    core_artifact *a = from >= 0 ? core_find_export(&e->cells[from], name) : NULL;
    return a && a->hash[0] ? a->hash : NULL;
}

static json_t *file_record(const char *path) {
    struct stat st;
    hash128 h;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || hash_file(path, &h) < 0) return NULL;
    char hex[33];
    hash_hex(h, hex);
    return json_pack("{s:s,s:I,s:I,s:s}", "path", path, "size", (json_int_t)st.st_size, "mtime",
                     (json_int_t)(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec), "hash", hex);
}

static void skey_of(core *e, core_cell *c, char out[33]) {
    cache_skey(c->src, e->cache_env ? e->cache_env : "", out);
}

void core_cache_store(core *e, size_t k, json_t *done) {
    core_cell *c = &e->cells[k];
    if (!e->cache || c->error || c->dead || core_always_run(c)) return;
    /* nor one that read IPython's history: the results of every earlier cell */
    if (c->history) return;
    /* a cell that wrote files is not restored: restoring replays outputs
     * and artifacts, not what it did to the file system */
    if (c->wfiles.n) return;
    /* nor one that read a file an earlier cell of this notebook wrote: its
     * input is made by the notebook, not found beside it */
    for (size_t j = 0; c->rfiles.n && j < (size_t)(c - e->cells); j++) {
        for (size_t i = 0; i < e->cells[j].wfiles.n; i++)
            if (strvec_contains(&c->rfiles, e->cells[j].wfiles.v[i])) return;
        for (size_t i = 0; i < e->cells[j].dfiles.n; i++) /* a listing of a directory it changed */
            if (strvec_contains(&c->rfiles, e->cells[j].dfiles.v[i])) return;
    }
    if (c->files_seen.n) return;
    /* nor one that ran in a holder: it changed values that live only there */
    if (c->in_holder) return;
    /* nor one that used a value only its lineage kernel had (dropped, unmovable) */
    if (c->kept_live) return;
    for (size_t a = 0; a < c->exports.n; a++) {
        const core_artifact *art = &c->exports.v[a];
        if (art->codec == CODEC_UNKNOWN || art->codec == CODEC_UNMOVABLE || !art->hash[0]) return;
    }
    size_t i;
    json_t *reads = json_object();
    for (size_t r = 0; r < c->nreads; r++) {
        const char *h = export_hash(e, c->reads[r].from, c->reads[r].name);
        json_object_set_new(reads, c->reads[r].name, h ? json_string(h) : json_null());
    }
    /* the process state it started with, read or not: `df` prints otherwise
     * under another pd.options.display, `x` under another %precision (the
     * state's hash leaves out unseeded generators: kernel.py _state_hash) */
    if (!json_object_get(reads, RNG_NAME)) {
        const char *h = export_hash(e, c->rng_from, RNG_NAME);
        json_object_set_new(reads, RNG_NAME, h ? json_string(h) : json_null());
    }
    json_t *files = json_array();
    json_t *f;
    json_array_foreach(json_object_get(done, "files"), i, f) {
        json_t *rec = file_record(json_string_value(f));
        if (rec) json_array_append_new(files, rec);
    }
    json_t *deletes = json_array();
    for (size_t d = 0; d < c->deletes.n; d++) json_array_append_new(deletes, json_string(c->deletes.v[d]));
    json_t *entry = json_pack("{s:o,s:o,s:O,s:O,s:o,s:o,s:i}", "reads", reads, "files", files, "outputs", c->outputs,
                              "display_ids", c->display_ids, "exports", core_exports_json(c), "deletes", deletes, "cell",
                              (int)(c - e->cells));
    if (e->language_info) json_object_set(entry, "language_info", e->language_info);
    /* how long it took, for --schedule critical in later runs */
    if (c->t_dispatch > 0 && c->t_done > c->t_dispatch)
        json_object_set_new(entry, "dur_us", json_integer((json_int_t)(c->t_done - c->t_dispatch)));
    if (c->updates && json_array_size(c->updates)) json_object_set(entry, "updates", c->updates);
    /* the stored copy gets cache paths; the run keeps its own */
    json_t *copy = json_deep_copy(entry);
    char skey[33];
    skey_of(e, c, skey);
    if (cache_store(e->cache, skey, copy) < 0 && !e->o->quiet)
        fprintf(stderr, "floe: warning: could not store cell %zu in the cache\n", (size_t)(c - e->cells));
    json_decref(copy);
    json_decref(entry);
}

/* A look-up: the cell, how many entries were tried, and why the last one
 * did not match (for the plan `floe status` shows). */
typedef struct match_ctx { core *e; size_t k; int tried; char *why; size_t whylen; } match_ctx;

static int file_unchanged(json_t *rec) {
    const char *path = json_string_value(json_object_get(rec, "path"));
    struct stat st;
    if (!path || stat(path, &st) < 0) return 0;
    json_int_t mtime = (json_int_t)(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    if (st.st_size == json_integer_value(json_object_get(rec, "size")) &&
        mtime == json_integer_value(json_object_get(rec, "mtime")))
        return 1;
    hash128 h;
    char hex[33];
    if (hash_file(path, &h) < 0) return 0;
    hash_hex(h, hex);
    return !strcmp(hex, json_string_value(json_object_get(rec, "hash")));
}

static int miss(match_ctx *m, const char *fmt, const char *what) {
    if (m->why) snprintf(m->why, m->whylen, fmt, what);
    return 0;
}

static int entry_matches(json_t *entry, void *ud) {
    match_ctx *m = ud;
    const char *name;
    json_t *want;
    m->tried++;
    json_object_foreach(json_object_get(entry, "reads"), name, want) {
        core_artifact *art = NULL;
        long from;
        int r = core_resolve(m->e, m->k, name, &art, &from);
        if (r == RES_WAIT) return miss(m, "input '%s' may change (its writer runs again)", name);
        const char *have = r == RES_FOUND && art->hash[0] ? art->hash : NULL;
        if (json_is_null(want) ? have != NULL : (!have || strcmp(have, json_string_value(want)) != 0))
            return miss(m, "input '%s' changed", name);
    }
    size_t i;
    json_t *rec;
    int export_all = m->e->cells[m->k].export_all;
    json_array_foreach(json_object_get(entry, "exports"), i, rec) {
        /* a value that run did not write out is needed now: run again */
        core_codec codec = core_codec_parse(json_string_value(json_object_get(rec, "codec")));
        const char *nm = json_string_value(json_object_get(rec, "name"));
        if (export_all && codec == CODEC_DROPPED)
            return miss(m, "'%s' was not kept and is needed now", nm ? nm : "?");
        const char *p = json_string_value(json_object_get(rec, "path"));
        struct stat st;
        if (p && stat(p, &st) < 0) return miss(m, "its stored value %s is gone", p); /* removed by gc */
    }
    json_array_foreach(json_object_get(entry, "files"), i, rec) {
        if (!file_unchanged(rec))
            return miss(m, "file %s changed", json_string_value(json_object_get(rec, "path")));
    }
    return 1;
}

/* core_cache_restore, telling why not in why (when not NULL). */
static int restore(core *e, size_t k, match_ctx *m);

int core_cache_restore(core *e, size_t k) {
    match_ctx m = {e, k, 0, NULL, 0};
    return restore(e, k, &m);
}

int core_cache_restore_why(core *e, size_t k, int *tried, char *why, size_t whylen) {
    match_ctx m = {e, k, 0, why, whylen};
    int r = restore(e, k, &m);
    *tried = m.tried;
    return r;
}

static int restore(core *e, size_t k, match_ctx *m) {
    core_cell *c = &e->cells[k];
    /* a cell that raced on a file in this run runs (core.c replay_file) */
    if (!e->cache || core_always_run(c) || c->files_seen.n) return 0;
    /* a later cell reads the history: this cell's result must be an artifact (_N) */
    if (c->history || (long)k < e->history_last) return 0;
    char skey[33];
    skey_of(e, c, skey);
    json_t *entry = NULL;
    int64_t t0 = time_mono_us();
    if (cache_lookup(e->cache, skey, entry_matches, m, &entry) < 0 || !entry) return 0;
    core_reset_results(c);
    json_decref(c->outputs);
    json_decref(c->display_ids);
    c->outputs = json_incref(json_object_get(entry, "outputs"));
    c->display_ids = json_incref(json_object_get(entry, "display_ids"));
    {
        size_t x;
        json_t *a;
        json_array_foreach(json_object_get(entry, "exports"), x, a) core_art_push(&c->exports, a, (long)k, 0);
    }
    if (!e->language_info) e->language_info = json_incref(json_object_get(entry, "language_info"));
    /* displays it updated in earlier cells are updated again */
    {
        size_t u;
        json_t *msg;
        json_array_foreach(json_object_get(entry, "updates"), u, msg) core_update_display(e, k, msg);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(entry, "deletes"), i, v) strvec_push(&c->deletes, json_string_value(v));
    const char *name;
    json_object_foreach(json_object_get(entry, "reads"), name, v) {
        core_artifact *art;
        long from;
        core_resolve(e, k, name, &art, &from);
        core_record_read(c, name, from);
    }
    json_decref(entry);
    int64_t t1 = time_mono_us();
    c->t_start = c->t_compute = t0;
    c->t_end = c->t_done = t1;
    c->restored = 1;
    trace_complete(e->tr, "restore", (int)k, 0, t0, t1 - t0, NULL);
    return 1;
}

/* The match callback of core_cache_duration: takes the duration of the
 * most recently used entry that has one, and matches nothing, so that the
 * look-up neither restores nor marks an entry used. */
static int take_duration(json_t *entry, void *ud) {
    double *dur = ud;
    json_t *d = json_object_get(entry, "dur_us");
    if (*dur < 0 && json_is_integer(d)) *dur = (double)json_integer_value(d) / 1e6;
    return 0;
}

double core_cache_duration(core *e, size_t k) {
    core_cell *c = &e->cells[k];
    double dur = -1;
    if (!e->cache || c->skip) return -1;
    char skey[33];
    skey_of(e, c, skey);
    json_t *entry = NULL;
    if (cache_lookup(e->cache, skey, take_duration, &dur, &entry) < 0) return -1;
    json_decref(entry);
    return dur;
}

/* ---- reads learned by the NameError fallback ---------------------------------- */

void core_cache_learned(core *e, core_cell *c) {
    if (!e->cache) return;
    char skey[33];
    skey_of(e, c, skey);
    cache_learned(e->cache, skey, &c->pred_reads);
}

void core_cache_learn(core *e, size_t k, const char *name) {
    if (!e->cache) return;
    char skey[33];
    skey_of(e, &e->cells[k], skey);
    if (cache_learn(e->cache, skey, name) < 0 && !e->o->quiet)
        fprintf(stderr, "floe: cache: could not remember that cell %zu reads %s\n", k, name);
}
