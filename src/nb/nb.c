/* nb.c — notebook model over a jansson document: load, validate, access,
 * update results, save atomically.
 *
 * The JSON document is the source of truth; `cells` is mirrored into an
 * array of cached joined sources and kinds for fast access. Every mutation
 * goes through functions here so the mirror stays in sync. */
#include "nb/nb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb/nb_internal.h"
#include "util/util.h"

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Messages are one line: control characters quoted from the input (a
     * JSON parser's "near '...'" text) are escaped, never printed raw. */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)tmp; *p && o + 1 < errlen; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            err[o++] = (char)*p;
        } else {
            char esc[5];
            int k = *p == '\n' ? snprintf(esc, sizeof esc, "\\n") : snprintf(esc, sizeof esc, "\\x%02x", *p);
            if (o + (size_t)k + 1 > errlen) break;
            memcpy(err + o, esc, (size_t)k);
            o += (size_t)k;
        }
    }
    err[o] = '\0';
}

/* Joins a source value (string or list of strings) into a new string;
 * returns NULL if the value has the wrong type. */
static char *join_source(json_t *src) {
    if (json_is_string(src)) return xstrndup(json_string_value(src), json_string_length(src));
    if (!json_is_array(src)) return NULL;
    buf b;
    buf_init(&b);
    size_t i;
    json_t *line;
    json_array_foreach(src, i, line) {
        if (!json_is_string(line)) { buf_free(&b); return NULL; }
        buf_append(&b, json_string_value(line), json_string_length(line));
    }
    return buf_steal(&b);
}

static nb_cell_type kind_of(const char *s) {
    if (!strcmp(s, "code")) return NB_CODE;
    if (!strcmp(s, "markdown")) return NB_MARKDOWN;
    return NB_RAW;
}

/* Rebuilds the mirror of cells (kinds, sources, code index). */
static void refresh(nb *n) {
    for (size_t i = 0; i < n->ncells; i++) free(n->src[i]);
    free(n->src);
    free(n->kind);
    free(n->code);
    json_t *cells = json_object_get(n->root, "cells");
    n->ncells = json_array_size(cells);
    n->src = xcalloc(n->ncells, sizeof *n->src);
    n->kind = xcalloc(n->ncells, sizeof *n->kind);
    n->code = xcalloc(n->ncells, sizeof *n->code);
    n->ncode = 0;
    for (size_t i = 0; i < n->ncells; i++) {
        json_t *c = json_array_get(cells, i);
        n->kind[i] = kind_of(json_string_value(json_object_get(c, "cell_type")));
        n->src[i] = join_source(json_object_get(c, "source"));
        if (n->kind[i] == NB_CODE) n->code[n->ncode++] = i;
    }
}

/* Checks one cell's structure; returns 0 or -1 with a message. */
static int check_cell(const char *name, json_t *c, size_t i, char *err, size_t errlen) {
    if (!json_is_object(c)) {
        errf(err, errlen, "%s: cell %zu: not a JSON object", name, i);
        return -1;
    }
    json_t *t = json_object_get(c, "cell_type");
    if (!json_is_string(t)) {
        errf(err, errlen, "%s: cell %zu: missing or non-string 'cell_type'", name, i);
        return -1;
    }
    const char *ts = json_string_value(t);
    if (strcmp(ts, "code") && strcmp(ts, "markdown") && strcmp(ts, "raw")) {
        errf(err, errlen, "%s: cell %zu: unknown cell_type '%s'", name, i, ts);
        return -1;
    }
    json_t *s = json_object_get(c, "source");
    if (!s) {
        errf(err, errlen, "%s: cell %zu: missing 'source'", name, i);
        return -1;
    }
    char *joined = join_source(s);
    if (!joined) {
        errf(err, errlen, "%s: cell %zu: 'source' must be a string or a list of strings", name, i);
        return -1;
    }
    free(joined);
    json_t *md = json_object_get(c, "metadata");
    if (md && !json_is_object(md)) {
        errf(err, errlen, "%s: cell %zu: 'metadata' must be an object", name, i);
        return -1;
    }
    if (!md) json_object_set_new(c, "metadata", json_object());
    if (strcmp(ts, "code") == 0) {
        json_t *o = json_object_get(c, "outputs");
        if (o && !json_is_array(o)) {
            errf(err, errlen, "%s: cell %zu: 'outputs' must be a list", name, i);
            return -1;
        }
        if (!o) json_object_set_new(c, "outputs", json_array());
        if (!json_object_get(c, "execution_count")) json_object_set_new(c, "execution_count", json_null());
    }
    return 0;
}

/* Validates the document structure floe relies on. */
static int check_root(const char *name, json_t *root, char *err, size_t errlen) {
    if (!json_is_object(root)) {
        errf(err, errlen, "%s: not a notebook: the top level is not a JSON object", name);
        return -1;
    }
    json_t *v = json_object_get(root, "nbformat");
    if (!json_is_integer(v)) {
        errf(err, errlen, "%s: not a notebook: missing integer 'nbformat'", name);
        return -1;
    }
    if (json_integer_value(v) != 4) {
        errf(err, errlen, "%s: nbformat %lld is not supported (floe reads nbformat 4; convert with `jupyter nbconvert --to notebook`)",
             name, (long long)json_integer_value(v));
        return -1;
    }
    json_t *cells = json_object_get(root, "cells");
    if (!json_is_array(cells)) {
        errf(err, errlen, "%s: not a notebook: missing list 'cells'", name);
        return -1;
    }
    json_t *md = json_object_get(root, "metadata");
    if (md && !json_is_object(md)) {
        errf(err, errlen, "%s: 'metadata' must be an object", name);
        return -1;
    }
    if (!md) json_object_set_new(root, "metadata", json_object());
    if (!json_object_get(root, "nbformat_minor")) json_object_set_new(root, "nbformat_minor", json_integer(5));
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c) {
        if (check_cell(name, c, i, err, errlen) < 0) return -1;
    }
    return 0;
}

static int load_ipynb(const char *name, const char *data, size_t len, nb *n, char *err, size_t errlen) {
    json_error_t je;
    n->root = json_loadb(data, len, JSON_ALLOW_NUL, &je);
    if (!n->root) {
        errf(err, errlen, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
        return -1;
    }
    return check_root(name, n->root, err, errlen);
}

int nb_load_mem(const char *name, const char *data, size_t len, nb **out, char *err, size_t errlen) {
    nb *n = xcalloc(1, sizeof *n);
    int py = str_endswith(name, ".py");
    if (!py && !str_endswith(name, ".ipynb")) {
        size_t i = 0;
        while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r')) i++;
        py = !(i < len && data[i] == '{');
    }
    n->format = py ? NB_FMT_PY : NB_FMT_IPYNB;
    int rc = py ? nb_py_parse(name, data, len, &n->root, err, errlen)
                : load_ipynb(name, data, len, n, err, errlen);
    if (rc < 0) {
        nb_free(n);
        return -1;
    }
    refresh(n);
    *out = n;
    return 0;
}

int nb_load(const char *path, nb **out, char *err, size_t errlen) {
    size_t len;
    char *data = read_file(path, &len);
    if (!data) {
        errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = nb_load_mem(path, data, len, out, err, errlen);
    free(data);
    return rc;
}

void nb_free(nb *n) {
    if (!n) return;
    for (size_t i = 0; i < n->ncells; i++) free(n->src[i]);
    free(n->src);
    free(n->kind);
    free(n->code);
    json_decref(n->root);
    free(n);
}

nb_format nb_get_format(const nb *n) { return n->format; }
size_t nb_ncells(const nb *n) { return n->ncells; }
nb_cell_type nb_cell_kind(const nb *n, size_t i) { return n->kind[i]; }
const char *nb_cell_source(const nb *n, size_t i) { return n->src[i]; }
size_t nb_ncode(const nb *n) { return n->ncode; }
size_t nb_code_cell(const nb *n, size_t k) { return n->code[k]; }
json_t *nb_root(const nb *n) { return n->root; }

json_t *nb_cell_json(const nb *n, size_t i) {
    return json_array_get(json_object_get(n->root, "cells"), i);
}

int nb_cell_has_tag(const nb *n, size_t i, const char *tag) {
    json_t *tags = json_object_get(json_object_get(nb_cell_json(n, i), "metadata"), "tags");
    size_t k;
    json_t *t;
    json_array_foreach(tags, k, t) {
        if (json_is_string(t) && !strcmp(json_string_value(t), tag)) return 1;
    }
    return 0;
}

/* Length of the line break at p (0 if none), with Python's str.splitlines
 * rules, which nbformat uses when it writes a notebook: \n, \r, \r\n, \v,
 * \f, \x1c-\x1e, U+0085, U+2028, U+2029. */
/* The length of the line break at p (end: one past the text), or 0. */
static size_t line_break(const unsigned char *p, const unsigned char *end) {
    size_t left = (size_t)(end - p);
    switch (p[0]) {
    case '\r': return left > 1 && p[1] == '\n' ? 2 : 1;
    case '\n': case '\v': case '\f': case 0x1c: case 0x1d: case 0x1e: return 1;
    case 0xc2: return left > 1 && p[1] == 0x85 ? 2 : 0;
    case 0xe2: return left > 2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9) ? 3 : 0;
    default: return 0;
    }
}

/* Splits text into Jupyter's list-of-lines form (each line keeps its end).
 * The text may hold NUL bytes (print('a\\0b') is legal output). */
json_t *nb_split_linesn(const char *s, size_t n) {
    json_t *a = json_array();
    const unsigned char *p = (const unsigned char *)s, *start = p, *end = p + n;
    while (p < end) {
        size_t br = line_break(p, end);
        if (!br) { p++; continue; }
        p += br;
        json_array_append_new(a, json_stringn((const char *)start, (size_t)(p - start)));
        start = p;
    }
    if (p > start) json_array_append_new(a, json_stringn((const char *)start, (size_t)(p - start)));
    return a;
}

json_t *nb_split_lines(const char *s) { return nb_split_linesn(s, strlen(s)); }

/* nbformat writes multi-line text of outputs as lists of lines: stream
 * text, and text/x, application/javascript and image/svg+xml in mime
 * bundles. Doing the same keeps floe's files identical to Jupyter's. */
static void split_output_text(json_t *outputs) {
    size_t i;
    json_t *o;
    json_array_foreach(outputs, i, o) {
        json_t *t = json_object_get(o, "text");
        if (json_is_string(t)) json_object_set_new(o, "text", nb_split_linesn(json_string_value(t), json_string_length(t)));
        json_t *data = json_object_get(o, "data");
        const char *mime;
        json_t *v;
        json_object_foreach(data, mime, v) {
            if (!json_is_string(v)) continue;
            if (!strncmp(mime, "text/", 5) || !strcmp(mime, "application/javascript") ||
                !strcmp(mime, "image/svg+xml"))
                json_object_set_new(data, mime, nb_split_linesn(json_string_value(v), json_string_length(v)));
        }
    }
}

json_t *nb_cell_source_json(const nb *n, size_t i) {
    json_t *src = json_object_get(nb_cell_json(n, i), "source");
    if (json_is_string(src)) return json_stringn(json_string_value(src), json_string_length(src));
    buf b;
    buf_init(&b);
    size_t k;
    json_t *line;
    json_array_foreach(src, k, line) buf_append(&b, json_string_value(line), json_string_length(line));
    json_t *out = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return out;
}

void nb_set_source(nb *n, size_t i, const char *src) {
    json_object_set_new(nb_cell_json(n, i), "source", nb_split_lines(src));
    free(n->src[i]);
    n->src[i] = xstrdup(src);
}

/* A fresh 8-hex-digit cell id not used by any other cell. */
static char *new_cell_id(const nb *n) {
    static unsigned counter;
    for (;;) {
        char *id = xasprintf("%08x", (unsigned)(time_wall_us() ^ (++counter * 2654435761u)));
        int used = 0;
        for (size_t i = 0; i < n->ncells && !used; i++) {
            const char *o = json_string_value(json_object_get(nb_cell_json(n, i), "id"));
            used = o && !strcmp(o, id);
        }
        if (!used) return id;
        free(id);
    }
}

size_t nb_insert_code(nb *n, size_t i, const char *src, const char *const *tags) {
    json_t *c = json_object();
    json_t *md = json_object();
    json_t *jt = json_array();
    for (size_t k = 0; tags && tags[k]; k++) json_array_append_new(jt, json_string(tags[k]));
    json_object_set_new(md, "tags", jt);
    json_object_set_new(c, "cell_type", json_string("code"));
    json_object_set_new(c, "execution_count", json_null());
    json_t *minor = json_object_get(n->root, "nbformat_minor");
    if (json_integer_value(minor) >= 5) {
        char *id = new_cell_id(n);
        json_object_set_new(c, "id", json_string(id));
        free(id);
    }
    json_object_set_new(c, "metadata", md);
    json_object_set_new(c, "outputs", json_array());
    json_object_set_new(c, "source", nb_split_lines(src));
    json_array_insert_new(json_object_get(n->root, "cells"), i, c);
    refresh(n);
    return i;
}

void nb_remove_cell(nb *n, size_t i) {
    json_array_remove(json_object_get(n->root, "cells"), i);
    refresh(n);
}

/* An execute_result carries its cell's execution count, as in Jupyter,
 * whatever run produced it: outputs restored from the cache were recorded
 * when the cell (or the same cell in another notebook) had another count. */
static void number_results(json_t *outputs, int exec_count) {
    size_t k;
    json_t *o;
    json_array_foreach(outputs, k, o) {
        const char *t = json_string_value(json_object_get(o, "output_type"));
        if (t && !strcmp(t, "execute_result"))
            json_object_set_new(o, "execution_count", exec_count > 0 ? json_integer(exec_count) : json_null());
    }
}

void nb_set_outputs(nb *n, size_t i, json_t *outputs, int exec_count, json_t *execution_md) {
    json_t *c = nb_cell_json(n, i);
    if (outputs) {
        split_output_text(outputs);
        number_results(outputs, exec_count);
    }
    json_object_set_new(c, "outputs", outputs ? outputs : json_array());
    json_object_set_new(c, "execution_count", exec_count > 0 ? json_integer(exec_count) : json_null());
    if (execution_md) json_object_set_new(json_object_get(c, "metadata"), "execution", execution_md);
}

void nb_clear_outputs(nb *n) {
    for (size_t k = 0; k < n->ncode; k++) {
        json_t *c = nb_cell_json(n, n->code[k]);
        json_object_set_new(c, "outputs", json_array());
        json_object_set_new(c, "execution_count", json_null());
        json_object_del(json_object_get(c, "metadata"), "execution");
    }
}

char *nb_dump_ipynb(const nb *n) {
    char *s = json_dumps(n->root, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    if (!s) return NULL;
    char *out = xasprintf("%s\n", s);
    free(s);
    return out;
}

int nb_save(const nb *n, const char *path, char *err, size_t errlen) {
    char *s = str_endswith(path, ".py") ? nb_dump_py(n) : nb_dump_ipynb(n);
    if (!s) {
        errf(err, errlen, "%s: cannot serialise notebook", path);
        return -1;
    }
    int rc = write_file_atomic(path, s, strlen(s), WRITE_DURABLE);
    free(s);
    if (rc < 0) {
        errf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}
