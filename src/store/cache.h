/* cache.h — the persistent result cache behind incremental re-runs.
 *
 * A directory (default `.floe/` beside the notebook) with an SQLite
 * database in WAL mode and content-addressed artifact files under objects/.
 * An entry is the result of one cell: its outputs, the artifacts it
 * exported and the names it deleted, valid for a source key (cell source,
 * interpreter) together with what the cell actually read: the content hash
 * of every artifact it imported (or that the name was absent) and the size,
 * mtime and hash of every file it opened. Lookup asks the caller to check
 * those reads against the current run, most recently used entry first.
 *
 * Crash safety: objects are written to a temporary name and renamed, and an
 * entry is inserted only after all its objects exist, in one transaction;
 * a killed floe leaves at most unreferenced objects, which gc removes.
 *
 * Ownership: cache_open returns a cache the caller closes. Entries passed to
 * match callbacks are borrowed; cache_lookup's result is a new reference. */
#ifndef FLOE_CACHE_H
#define FLOE_CACHE_H

#include <jansson.h>
#include <stdint.h>

#include "util/util.h"

typedef struct cache cache;

/* Opens or creates dir and takes the lock for `nb_name` (waits, saying so on
 * stderr unless quiet, while another floe holds it). 0 or -1 with err. */
int cache_open(const char *dir, const char *nb_name, int quiet, cache **out, char *err, size_t errlen);
/* Opens without taking a lock (for status / gc). */
int cache_open_ro(const char *dir, cache **out, char *err, size_t errlen);
void cache_close(cache *c);
const char *cache_dir(const cache *c);

/* Returns 1 when entry (an object with "reads", "files", ...) is valid. */
typedef int (*cache_match_fn)(json_t *entry, void *ud);
/* Finds the first valid entry for skey; *entry gets a new reference or
 * NULL. Marks it used. 0 or -1 on a database error. */
int cache_lookup(cache *c, const char *skey, cache_match_fn match, void *ud, json_t **entry);
/* Copies the entry's artifact files (exports[i].path, with .hash set) into
 * objects/, rewrites their paths, and inserts it under skey. 0 or -errno. */
int cache_store(cache *c, const char *skey, json_t *entry);

/* Reads the prediction missed and the run learned (a NameError the
 * fallback answered), per source key: the next run predicts them.
 * cache_learned appends to out; both 0 or -1 on a database error. */
int cache_learned(cache *c, const char *skey, strvec *out);
int cache_learn(cache *c, const char *skey, const char *name);

typedef struct cache_stats { int64_t entries, objects, bytes; } cache_stats;
int cache_stat(cache *c, cache_stats *st);
/* Drops least recently used entries until objects total <= max_bytes, then
 * removes objects no entry references. Returns bytes freed or -1. */
int64_t cache_gc(cache *c, int64_t max_bytes);
/* Removes every entry and object. 0 or -1. */
int cache_clear(cache *c);

/* The source key of a cell: hash of its source and the interpreter. */
void cache_skey(const char *source, const char *env, char out[33]);

#endif
