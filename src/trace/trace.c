/* trace.c — Chrome trace events recorded in memory and written as JSON
 * (see trace.h). Events are kept as small structs; JSON is produced only at
 * the end, so recording costs a few hundred nanoseconds. */
#include "trace/trace.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

typedef struct tevent {
    char *name, *args;
    char ph;          /* 'X', 's', 'f' */
    int cell, row;
    int64_t ts, dur;
    long id;          /* flow id */
} tevent;

struct trace {
    tevent *ev;
    size_t n, cap;
    json_t *meta;     /* otherData */
    json_t *rows;     /* row -> name */
    long next_flow;
};

trace *trace_new(void) {
    trace *t = xcalloc(1, sizeof *t);
    t->meta = json_object();
    t->rows = json_object();
    return t;
}

void trace_free(trace *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->ev[i].name);
        free(t->ev[i].args);
    }
    free(t->ev);
    json_decref(t->meta);
    json_decref(t->rows);
    free(t);
}

static tevent *push(trace *t) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->ev = xrealloc(t->ev, t->cap * sizeof *t->ev);
    }
    tevent *e = &t->ev[t->n++];
    memset(e, 0, sizeof *e);
    return e;
}

void trace_complete(trace *t, const char *name, int cell, int row, int64_t start_us, int64_t dur_us,
                    const char *args_json) {
    if (!t || !name) return;
    tevent *e = push(t);
    e->ph = 'X';
    e->name = xstrdup(name);
    e->args = args_json ? xstrdup(args_json) : NULL;
    e->cell = cell;
    e->row = row;
    e->ts = start_us;
    e->dur = dur_us < 0 ? 0 : dur_us;
}

void trace_flow(trace *t, int from_cell, int row_from, int64_t t_from_us, int to_cell, int row_to, int64_t t_to_us,
                const char *names) {
    if (!t) return;
    long id = ++t->next_flow;
    tevent *s = push(t);
    s->ph = 's';
    s->name = xstrdup("dep");
    s->cell = from_cell;
    s->row = row_from;
    s->ts = t_from_us;
    s->id = id;
    s->args = names ? xstrdup(names) : NULL;
    tevent *f = push(t);
    f->ph = 'f';
    f->name = xstrdup("dep");
    f->cell = to_cell;
    f->row = row_to;
    f->ts = t_to_us;
    f->id = id;
}

void trace_meta(trace *t, const char *key, const char *value) {
    if (t && key) json_object_set_new(t->meta, key, json_string(value ? value : ""));
}

void trace_row_name(trace *t, int row, const char *name) {
    if (!t || !name) return;
    char key[24];
    snprintf(key, sizeof key, "%d", row);
    json_object_set_new(t->rows, key, json_string(name));
}

static const char *category(const char *name) {
    if (!strncmp(name, "import:", 7)) return "import";
    if (!strncmp(name, "export:", 7)) return "export";
    return name;
}

static json_t *event_json(const tevent *e, int64_t t0) {
    json_t *o = json_pack("{s:s,s:i,s:i,s:f}", "name", e->name, "pid", 1, "tid", e->row, "ts",
                          (double)(e->ts - t0));
    json_t *args = json_object();
    if (e->ph == 'X') {
        json_object_set_new(o, "ph", json_string("X"));
        json_object_set_new(o, "cat", json_string(category(e->name)));
        json_object_set_new(o, "dur", json_real((double)e->dur));
        if (e->args) {
            json_t *extra = json_loads(e->args, 0, NULL);
            if (json_is_object(extra)) json_object_update(args, extra);
            json_decref(extra);
        }
    } else {
        json_object_set_new(o, "ph", json_string(e->ph == 's' ? "s" : "f"));
        json_object_set_new(o, "cat", json_string("dep"));
        json_object_set_new(o, "id", json_integer(e->id));
        if (e->ph == 'f') json_object_set_new(o, "bp", json_string("e"));
        if (e->args) json_object_set_new(args, "names", json_string(e->args));
    }
    if (e->cell >= 0) json_object_set_new(args, "cell", json_integer(e->cell));
    json_object_set_new(o, "args", args);
    return o;
}

int trace_write(const trace *t, const char *path) {
    int64_t t0 = INT64_MAX;
    for (size_t i = 0; i < t->n; i++)
        if (t->ev[i].ts < t0) t0 = t->ev[i].ts;
    if (t0 == INT64_MAX) t0 = 0;
    json_t *evs = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(t->rows, key, v) {
        json_array_append_new(evs, json_pack("{s:s,s:s,s:i,s:i,s:{s:O}}", "name", "thread_name", "ph", "M", "pid", 1,
                                             "tid", atoi(key), "args", "name", v));
    }
    for (size_t i = 0; i < t->n; i++) json_array_append_new(evs, event_json(&t->ev[i], t0));
    json_t *root = json_pack("{s:o,s:s,s:O}", "traceEvents", evs, "displayTimeUnit", "ms", "otherData", t->meta);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) return -12;
    int rc = write_file_atomic(path, s, strlen(s), WRITE_DURABLE);
    free(s);
    return rc;
}
