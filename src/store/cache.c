/* cache.c — SQLite-indexed, content-addressed result cache (see cache.h). */
#include "store/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/hash.h"
#include "util/util.h"

struct cache {
    sqlite3 *db;
    char *dir;
    int lockfd;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS entries("
    "  id INTEGER PRIMARY KEY, skey TEXT NOT NULL, ekey TEXT NOT NULL, body TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, used INTEGER NOT NULL,"
    "  UNIQUE(skey, ekey));"
    "CREATE INDEX IF NOT EXISTS entries_used ON entries(skey, used);"
    "CREATE TABLE IF NOT EXISTS objects(name TEXT PRIMARY KEY, bytes INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS learned(skey TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY(skey, name));";

static int open_db(cache *c, char *err, size_t errlen) {
    char *path = xasprintf("%s/cache.sqlite", c->dir);
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(path);
    if (rc != SQLITE_OK) goto error;
    sqlite3_busy_timeout(c->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(c->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot initialise the cache database: %s", c->dir, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
error:
    snprintf(err, errlen, "%s: cannot open the cache database: %s", c->dir, c->db ? sqlite3_errmsg(c->db) : "?");
    return -1;
}

static cache *new_cache(const char *dir, char *err, size_t errlen) {
    int rc = make_dirs(dir);
    char *obj = xasprintf("%s/objects", dir);
    if (rc == 0) rc = make_dirs(obj);
    free(obj);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot create the cache directory: %s", dir, strerror(-rc));
        return NULL;
    }
    cache *c = xcalloc(1, sizeof *c);
    c->dir = xstrdup(dir);
    c->lockfd = -1;
    if (open_db(c, err, errlen) < 0) {
        cache_close(c);
        return NULL;
    }
    return c;
}

/* One lock file per notebook: two runs of the same notebook are serialized. */
static int take_lock(cache *c, const char *nb_name, int quiet, char *err, size_t errlen) {
    const char *base = strrchr(nb_name, '/');
    base = base ? base + 1 : nb_name;
    char *path = xasprintf("%s/%s.lock", c->dir, base);
    c->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lockfd < 0) {
        snprintf(err, errlen, "%s: cannot open lock: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(c->lockfd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "?";
        ssize_t n = pread(c->lockfd, pid, sizeof pid - 1, 0);
        if (n > 0) pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (!quiet)
            fprintf(stderr, "floe: another floe (pid %s) is running %s; waiting for it to finish...\n", pid, nb_name);
        while (flock(c->lockfd, LOCK_EX) < 0 && errno == EINTR) {}
    }
    char me[32];
    int len = snprintf(me, sizeof me, "%ld\n", (long)getpid());
    if (ftruncate(c->lockfd, 0) == 0 && pwrite(c->lockfd, me, (size_t)len, 0) < 0) {}
    free(path);
    return 0;
}

int cache_open(const char *dir, const char *nb_name, int quiet, cache **out, char *err, size_t errlen) {
    cache *c = new_cache(dir, err, errlen);
    if (!c) return -1;
    if (take_lock(c, nb_name, quiet, err, errlen) < 0) {
        cache_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

int cache_open_ro(const char *dir, cache **out, char *err, size_t errlen) {
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "%s: no cache here (%s)", dir, strerror(errno));
        return -1;
    }
    cache *c = new_cache(dir, err, errlen);
    if (!c) return -1;
    *out = c;
    return 0;
}

void cache_close(cache *c) {
    if (!c) return;
    if (c->db) sqlite3_close(c->db);
    if (c->lockfd >= 0) close(c->lockfd); /* releases the flock */
    free(c->dir);
    free(c);
}

const char *cache_dir(const cache *c) { return c->dir; }

void cache_skey(const char *source, const char *env, char out[33]) {
    hasher h;
    hasher_init(&h);
    hasher_str(&h, "floe-cell-v1");
    hasher_str(&h, env);
    hasher_str(&h, source);
    hash_hex(hasher_final(&h), out);
}

int cache_lookup(cache *c, const char *skey, cache_match_fn match, void *ud, json_t **entry) {
    *entry = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT id, body FROM entries WHERE skey = ? ORDER BY used DESC", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, skey, -1, SQLITE_STATIC);
    sqlite3_int64 hit = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *body = json_loads((const char *)sqlite3_column_text(st, 1), JSON_ALLOW_NUL, NULL);
        if (body && match(body, ud)) {
            hit = sqlite3_column_int64(st, 0);
            *entry = body;
            break;
        }
        json_decref(body);
    }
    sqlite3_finalize(st);
    if (hit) {
        sqlite3_stmt *u;
        if (sqlite3_prepare_v2(c->db, "UPDATE entries SET used = ? WHERE id = ?", -1, &u, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(u, 1, time_wall_us());
            sqlite3_bind_int64(u, 2, hit);
            sqlite3_step(u);
            sqlite3_finalize(u);
        }
    }
    return 0;
}

/* Copies src to dst through a temporary file and a rename. 0 or -errno. */
static int copy_file(const char *src, const char *dst) {
    size_t len;
    char *data = read_file(src, &len);
    if (!data) return -errno;
    int rc = write_file_atomic(dst, data, len, 0);
    free(data);
    return rc;
}

static int record_object(cache *c, const char *name, int64_t bytes) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO objects(name, bytes) VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, bytes);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* Moves one export's file into objects/ and points the export at it. */
static int store_object(cache *c, json_t *art, int64_t *total) {
    const char *path = json_string_value(json_object_get(art, "path"));
    const char *hash = json_string_value(json_object_get(art, "hash"));
    if (!path) return 0;
    if (!hash) return -EINVAL;
    const char *dot = strrchr(path, '.');
    char *name = xasprintf("%s%s", hash, dot && !strchr(dot, '/') ? dot : "");
    char *dst = xasprintf("%s/objects/%s", c->dir, name);
    struct stat st;
    int rc = 0;
    if (stat(dst, &st) < 0) rc = copy_file(path, dst);
    if (rc == 0 && stat(dst, &st) == 0) {
        *total += st.st_size;
        record_object(c, name, st.st_size);
        json_object_set_new(art, "path", json_string(dst));
    }
    free(name);
    free(dst);
    return rc;
}

static void entry_key(json_t *entry, char out[33]) {
    json_t *k = json_pack("{s:O,s:O}", "reads", json_object_get(entry, "reads"), "files",
                          json_object_get(entry, "files"));
    char *s = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    hash_hex(hash_bytes(s, strlen(s)), out);
    free(s);
    json_decref(k);
}

int cache_store(cache *c, const char *skey, json_t *entry) {
    int64_t total = 0;
    size_t i;
    json_t *art;
    json_array_foreach(json_object_get(entry, "exports"), i, art) {
        int rc = store_object(c, art, &total);
        if (rc < 0) return rc;
    }
    char ekey[33];
    entry_key(entry, ekey);
    char *body = json_dumps(entry, JSON_COMPACT);
    sqlite3_stmt *st;
    int rc = -EIO;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO entries(skey, ekey, body, bytes, created, used) VALUES(?,?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        int64_t now = time_wall_us();
        sqlite3_bind_text(st, 1, skey, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ekey, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, total);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        if (sqlite3_step(st) == SQLITE_DONE) rc = 0;
        sqlite3_finalize(st);
    }
    free(body);
    return rc;
}

static int64_t scalar(cache *c, const char *sql) {
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int cache_stat(cache *c, cache_stats *s) {
    s->entries = scalar(c, "SELECT count(*) FROM entries");
    s->objects = scalar(c, "SELECT count(*) FROM objects");
    s->bytes = scalar(c, "SELECT coalesce(sum(bytes), 0) FROM objects");
    return s->entries < 0 ? -1 : 0;
}

/* Objects referenced by some entry (their file names), sorted. */
static void referenced(cache *c, strvec *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT body FROM entries", -1, &st, NULL) != SQLITE_OK) return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *body = json_loads((const char *)sqlite3_column_text(st, 0), JSON_ALLOW_NUL, NULL);
        size_t i;
        json_t *art;
        json_array_foreach(json_object_get(body, "exports"), i, art) {
            const char *p = json_string_value(json_object_get(art, "path"));
            const char *slash = p ? strrchr(p, '/') : NULL;
            if (slash) strvec_push(out, slash + 1);
        }
        json_decref(body);
    }
    sqlite3_finalize(st);
    strvec_sort_unique(out);
}

/* Deletes objects no entry references (and stray temporary files). */
static int64_t sweep(cache *c) {
    strvec live = {0};
    referenced(c, &live);
    char *odir = xasprintf("%s/objects", c->dir);
    DIR *d = opendir(odir);
    int64_t freed = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strvec_contains(&live, de->d_name)) continue;
        char *p = xasprintf("%s/%s", odir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && unlink(p) == 0) freed += st.st_size;
        free(p);
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(c->db, "DELETE FROM objects WHERE name = ?", -1, &s, NULL) == SQLITE_OK) {
            sqlite3_bind_text(s, 1, de->d_name, -1, SQLITE_TRANSIENT);
            sqlite3_step(s);
            sqlite3_finalize(s);
        }
    }
    if (d) closedir(d);
    free(odir);
    strvec_free(&live);
    return freed;
}

int64_t cache_gc(cache *c, int64_t max_bytes) {
    int64_t freed = sweep(c);
    for (;;) {
        int64_t total = scalar(c, "SELECT coalesce(sum(bytes), 0) FROM objects");
        if (total < 0) return -1;
        if (total <= max_bytes) break;
        int64_t n = scalar(c, "SELECT count(*) FROM entries");
        if (n <= 0) break;
        if (sqlite3_exec(c->db, "DELETE FROM entries WHERE id = (SELECT id FROM entries ORDER BY used ASC LIMIT 1)",
                         NULL, NULL, NULL) != SQLITE_OK)
            return -1;
        freed += sweep(c);
    }
    return freed;
}

int cache_learned(cache *c, const char *skey, strvec *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT name FROM learned WHERE skey = ?", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, skey, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) strvec_push(out, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

int cache_learn(cache *c, const char *skey, const char *name) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO learned(skey, name) VALUES (?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, skey, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

int cache_clear(cache *c) {
    if (sqlite3_exec(c->db, "DELETE FROM entries; DELETE FROM objects; DELETE FROM learned;", NULL, NULL, NULL) !=
        SQLITE_OK)
        return -1;
    sweep(c);
    return 0;
}
