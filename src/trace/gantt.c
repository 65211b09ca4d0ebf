/* gantt.c — the Gantt chart of a run (the paper's figure) and its summary.
 *
 * The model is flat: bars (complete events) and arrows (flow start/finish
 * pairs), each with a lane. Lanes are the trace's tids in ascending order,
 * named by thread_name metadata, plus a first "start-up" lane for floe's
 * zygote start event (which is not any one kernel's). Lanes without bars
 * are not drawn. A run on Dask (bars with args.worker) groups the lanes by
 * worker, each named "WORKER kernel N". Times are microseconds relative to the earliest bar.
 *
 * Everything the JSON gives is checked: a malformed trace is a one-line
 * error, never a crash, a hang or a garbage chart. Output depends only on
 * the input (every sort has a total order). */
#include "trace/gantt.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* |ts| and dur beyond ~31 years of microseconds are not a trace of a run */
#define MAX_US 1e15
#define MAX_ID 1e15
#define MAX_TID 1e9
#define MAX_CELL 1000000000LL

enum kind_id { K_START, K_WAIT, K_FORK, K_IMPORT, K_COMPUTE, K_EXPORT, K_RESTORE, K_RERUN, K_OTHER, NKINDS };

typedef struct bar {
    char *name, *detail; /* detail: "pickle, 7.6 MiB" or NULL */
    int cell, lane, failed;
    enum kind_id kind;
    int zygote;          /* floe's start-up: drawn on its own lane */
    long tid;
    double ts, dur;
    char *worker;        /* args.worker (a Dask run), or NULL */
} bar;

typedef struct flowpt { /* one "s" or "f" event, paired by id */
    long id;
    int start, cell;
    long tid;
    double ts;
    char *names;
    size_t order;
} flowpt;

typedef struct arrow { int lane_from, lane_to, cell_from, cell_to; double t_from, t_to; char *names; } arrow;

typedef struct lane { long tid; int zygote; char *name; const char *worker; /* borrowed from a bar */ } lane;

typedef struct tname { long tid; char *name; size_t order; } tname;

struct gantt {
    bar *bars;
    size_t nbars;
    flowpt *flows;
    size_t nflows;
    arrow *arrows;
    size_t narrows;
    tname *tnames;
    size_t ntnames;
    lane *lanes;
    size_t nlanes;
    double t0, t1, wall; /* wall: otherData.wall_us, or t1 - t0 */
    char *notebook, *mode, *jobs;
};

/* ---- small helpers -------------------------------------------------------------- */

static const struct { const char *prefix, *label, *color; } KINDS[NKINDS] = {
    [K_START] = {"start", "start-up", "#9e9e9e"},     [K_WAIT] = {"wait", "wait", "#d0d0d0"},
    [K_FORK] = {"fork", "fork", "#b39ddb"},           [K_IMPORT] = {"import", "import", "#4e79d6"},
    [K_COMPUTE] = {"compute", "compute", "#3fa34d"},  [K_EXPORT] = {"export", "export", "#f28e2b"},
    [K_RESTORE] = {"restore", "from cache", "#26b5c4"}, [K_RERUN] = {"rerun", "re-run", "#d62728"},
    [K_OTHER] = {"", "other", "#bcbd22"},
};

static enum kind_id kind_of(const char *name) {
    for (int k = 0; k < K_OTHER; k++) {
        size_t n = strlen(KINDS[k].prefix);
        /* "import:a" and "import" are imports; "imported" is not */
        if (!strncmp(name, KINDS[k].prefix, n) && (name[n] == '\0' || name[n] == ':')) return (enum kind_id)k;
    }
    return K_OTHER;
}

static void set_err(char *err, size_t errlen, const char *msg, size_t index, int with_index) {
    if (!err || !errlen) return;
    if (with_index) snprintf(err, errlen, "event %zu: %s", index, msg);
    else snprintf(err, errlen, "%s", msg);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

/* A finite JSON number within [lo, hi]. */
static int number_in(json_t *v, double lo, double hi, double *out) {
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) return 0;
    *out = d;
    return 1;
}

/* tid: absent means 0; present must be a number of sane size. */
static int tid_of(json_t *ev, long *out) {
    json_t *v = json_object_get(ev, "tid");
    double d = 0;
    if (v && !number_in(v, -MAX_TID, MAX_TID, &d)) return 0;
    *out = (long)d;
    return 1;
}

static int cell_of(json_t *args) {
    json_t *c = json_object_get(args, "cell");
    if (!json_is_integer(c)) return -1;
    json_int_t v = json_integer_value(c);
    return v >= 0 && v < MAX_CELL ? (int)v : -1;
}

static void fmt_bytes(char *dst, size_t n, double b) {
    if (b >= 1048576.0) snprintf(dst, n, "%.1f MiB", b / 1048576.0);
    else if (b >= 1024.0) snprintf(dst, n, "%.1f KiB", b / 1024.0);
    else snprintf(dst, n, "%.0f B", b);
}

/* "pickle, 7.6 MiB" from an import/export's args. */
static char *detail_of(json_t *args) {
    const char *codec = json_string_value(json_object_get(args, "codec"));
    double bytes;
    int have_bytes = number_in(json_object_get(args, "bytes"), 0, 1e18, &bytes);
    if (!codec && !have_bytes) return NULL;
    char sz[32] = "";
    if (have_bytes) fmt_bytes(sz, sizeof sz, bytes);
    return xasprintf("%s%s%s", codec ? codec : "", codec && have_bytes ? ", " : "", sz);
}

/* ---- loading -------------------------------------------------------------------- */

static int add_bar(gantt *g, json_t *ev, size_t index, char *err, size_t errlen) {
    const char *name = json_string_value(json_object_get(ev, "name"));
    double ts, dur;
    long tid;
    const char *why = NULL;
    if (!name) why = "a complete event without a string \"name\"";
    else if (!number_in(json_object_get(ev, "ts"), -MAX_US, MAX_US, &ts)) why = "a complete event without a sane \"ts\"";
    else if (!number_in(json_object_get(ev, "dur"), 0, MAX_US, &dur)) why = "a complete event without a sane \"dur\" (>= 0)";
    else if (!tid_of(ev, &tid)) why = "a complete event with a bad \"tid\"";
    if (why) {
        set_err(err, errlen, why, index, 1);
        return -1;
    }
    json_t *args = json_object_get(ev, "args");
    if (g->nbars % 64 == 0) g->bars = xrealloc(g->bars, (g->nbars + 64) * sizeof *g->bars);
    bar *b = &g->bars[g->nbars++];
    memset(b, 0, sizeof *b);
    b->name = xstrdup(name);
    b->kind = kind_of(name);
    b->cell = cell_of(args);
    b->tid = tid;
    b->ts = ts;
    b->dur = dur;
    b->zygote = b->kind == K_START && b->cell < 0;
    b->failed = json_is_true(json_object_get(args, "dead")) || json_is_true(json_object_get(args, "error"));
    if (b->kind == K_IMPORT || b->kind == K_EXPORT) b->detail = detail_of(args);
    const char *w = json_string_value(json_object_get(args, "worker"));
    b->worker = w ? xstrdup(w) : NULL;
    return 0;
}

/* Flow endpoints are decoration: malformed ones are skipped, not fatal. */
static void add_flow(gantt *g, json_t *ev, int start) {
    double ts, id;
    long tid;
    if (!number_in(json_object_get(ev, "ts"), -MAX_US, MAX_US, &ts) ||
        !number_in(json_object_get(ev, "id"), -MAX_ID, MAX_ID, &id) || !tid_of(ev, &tid))
        return;
    json_t *args = json_object_get(ev, "args");
    if (g->nflows % 64 == 0) g->flows = xrealloc(g->flows, (g->nflows + 64) * sizeof *g->flows);
    flowpt *f = &g->flows[g->nflows];
    f->id = (long)id;
    f->start = start;
    f->cell = cell_of(args);
    f->tid = tid;
    f->ts = ts;
    const char *names = json_string_value(json_object_get(args, "names"));
    f->names = names ? xstrdup(names) : NULL;
    f->order = g->nflows++;
}

static void add_thread_name(gantt *g, json_t *ev) {
    const char *nm = json_string_value(json_object_get(json_object_get(ev, "args"), "name"));
    long tid;
    if (!nm || !tid_of(ev, &tid)) return;
    if (g->ntnames % 16 == 0) g->tnames = xrealloc(g->tnames, (g->ntnames + 16) * sizeof *g->tnames);
    g->tnames[g->ntnames] = (tname){tid, xstrdup(nm), g->ntnames};
    g->ntnames++;
}

static int add_event(gantt *g, json_t *ev, size_t index, char *err, size_t errlen) {
    const char *ph = json_string_value(json_object_get(ev, "ph"));
    if (!ph) return 0; /* not an event we know: skipped, as Chrome does */
    if (!strcmp(ph, "X")) return add_bar(g, ev, index, err, errlen);
    if (!strcmp(ph, "s") || !strcmp(ph, "f")) add_flow(g, ev, ph[0] == 's');
    const char *name = json_string_value(json_object_get(ev, "name"));
    if (!strcmp(ph, "M") && name && !strcmp(name, "thread_name")) add_thread_name(g, ev);
    return 0;
}

/* -- lanes -- */

static int cmp_lane(const void *a, const void *b) {
    const lane *x = a, *y = b;
    if (x->zygote != y->zygote) return x->zygote ? -1 : 1;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* Grouped by worker (a lane without one first), then as cmp_lane. */
static int cmp_lane_worker(const void *a, const void *b) {
    const lane *x = a, *y = b;
    if (x->zygote != y->zygote) return x->zygote ? -1 : 1;
    if (!x->worker != !y->worker) return x->worker ? 1 : -1;
    int c = x->worker ? strcmp(x->worker, y->worker) : 0;
    return c ? c : cmp_lane(a, b);
}

static int find_lane(const gantt *g, int zygote, long tid) {
    for (size_t l = 0; l < g->nlanes; l++)
        if (g->lanes[l].tid == tid && g->lanes[l].zygote == zygote) return (int)l;
    return -1;
}

/* Each lane's worker: the first its bars name; then the lanes in worker groups. */
static void group_lanes(gantt *g) {
    int any = 0;
    for (size_t i = 0; i < g->nbars; i++) {
        if (!g->bars[i].worker) continue;
        int l = find_lane(g, g->bars[i].zygote, g->bars[i].tid);
        if (l >= 0 && !g->lanes[l].worker) g->lanes[l].worker = g->bars[i].worker;
        any = 1;
    }
    if (any) qsort(g->lanes, g->nlanes, sizeof *g->lanes, cmp_lane_worker);
}

static int cmp_tname(const void *a, const void *b) {
    const tname *x = a, *y = b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The last thread_name given for tid, or NULL. tnames are sorted. */
static const char *thread_name(const gantt *g, long tid) {
    const char *nm = NULL;
    for (size_t i = 0; i < g->ntnames; i++)
        if (g->tnames[i].tid == tid) nm = g->tnames[i].name;
        else if (g->tnames[i].tid > tid) break;
    return nm;
}

/* One lane per distinct (zygote, tid) among the bars, in order. */
static void build_lanes(gantt *g) {
    g->lanes = xmalloc(g->nbars * sizeof *g->lanes);
    for (size_t i = 0; i < g->nbars; i++) g->lanes[i] = (lane){g->bars[i].tid, g->bars[i].zygote, NULL, NULL};
    qsort(g->lanes, g->nbars, sizeof *g->lanes, cmp_lane);
    size_t n = 0;
    for (size_t i = 0; i < g->nbars; i++)
        if (!n || cmp_lane(&g->lanes[n - 1], &g->lanes[i])) g->lanes[n++] = g->lanes[i];
    g->nlanes = n;
    group_lanes(g);
    if (g->ntnames) qsort(g->tnames, g->ntnames, sizeof *g->tnames, cmp_tname);
    for (size_t l = 0; l < n; l++) {
        const char *nm = g->lanes[l].zygote ? "start-up" : thread_name(g, g->lanes[l].tid);
        char *base = nm ? xstrdup(nm) : xasprintf("kernel %ld", g->lanes[l].tid);
        if (g->lanes[l].worker) {
            g->lanes[l].name = xasprintf("%s %s", g->lanes[l].worker, base);
            free(base);
        } else {
            g->lanes[l].name = base;
        }
    }
    for (size_t i = 0; i < g->nbars; i++) g->bars[i].lane = find_lane(g, g->bars[i].zygote, g->bars[i].tid);
}

/* -- arrows -- */

static int cmp_flow(const void *a, const void *b) {
    const flowpt *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->start != y->start) return x->start ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Where each cell ran: (cell, lane) pairs of the bars, sorted, and per
 * cell the lane of its first compute bar (else its first bar). Lets arrows
 * attach in O(log n) each. */
typedef struct cellane { int cell, lane, rank; size_t idx; } cellane;
typedef struct cellindex { cellane *pairs, *best; size_t npairs, nbest; } cellindex;

static int cmp_cellane(const void *a, const void *b) {
    const cellane *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    if (x->lane != y->lane) return x->lane < y->lane ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_cell_lane(const void *a, const void *b) {
    const cellane *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return x->lane < y->lane ? -1 : x->lane > y->lane;
}

static int cmp_cell_only(const void *a, const void *b) {
    const cellane *x = a, *y = b;
    return x->cell < y->cell ? -1 : x->cell > y->cell;
}

static void cellindex_build(const gantt *g, cellindex *ix) {
    ix->pairs = xmalloc(g->nbars * sizeof *ix->pairs);
    ix->best = xmalloc(g->nbars * sizeof *ix->best);
    ix->npairs = ix->nbest = 0;
    for (size_t i = 0; i < g->nbars; i++) {
        const bar *b = &g->bars[i];
        if (b->cell >= 0 && !b->zygote)
            ix->pairs[ix->npairs++] = (cellane){b->cell, b->lane, b->kind == K_COMPUTE ? 0 : 1, i};
    }
    if (ix->npairs) qsort(ix->pairs, ix->npairs, sizeof *ix->pairs, cmp_cellane);
    for (size_t i = 0; i < ix->npairs; i++) {
        const cellane *p = &ix->pairs[i];
        cellane *last = ix->nbest ? &ix->best[ix->nbest - 1] : NULL;
        if (!last || last->cell != p->cell) ix->best[ix->nbest++] = *p;
        else if (p->rank < last->rank || (p->rank == last->rank && p->idx < last->idx)) *last = *p;
    }
}

static void cellindex_free(cellindex *ix) {
    free(ix->pairs);
    free(ix->best);
}

/* The lane an arrow end attaches to: the event's own row when that row ran
 * the cell, else the row of the cell's compute (or any) bar — so an
 * endpoint recorded on a wrong row still points at the cell — else the
 * event's row if it has bars; -1 when there is nothing to attach to. */
static int attach_lane(const gantt *g, const cellindex *ix, int cell, long tid) {
    int own = find_lane(g, 0, tid);
    if (cell < 0) return own;
    cellane key = {cell, own, 0, 0};
    if (ix->npairs && bsearch(&key, ix->pairs, ix->npairs, sizeof key, cmp_cell_lane)) return own;
    const cellane *best = ix->nbest ? bsearch(&key, ix->best, ix->nbest, sizeof key, cmp_cell_only) : NULL;
    return best ? best->lane : own;
}

static void add_arrow(gantt *g, const cellindex *ix, const flowpt *s, const flowpt *f, size_t *cap) {
    int from = attach_lane(g, ix, s->cell, s->tid), to = attach_lane(g, ix, f->cell, f->tid);
    if (from < 0 || to < 0) return;
    if (g->narrows == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        g->arrows = xrealloc(g->arrows, *cap * sizeof *g->arrows);
    }
    const char *names = s->names ? s->names : f->names;
    g->arrows[g->narrows++] = (arrow){from, to, s->cell, f->cell, s->ts, f->ts, names ? xstrdup(names) : NULL};
}

/* Pairs the first "s" and first "f" of each id. */
static void build_arrows(gantt *g) {
    if (!g->nflows) return;
    qsort(g->flows, g->nflows, sizeof *g->flows, cmp_flow);
    cellindex ix;
    cellindex_build(g, &ix);
    size_t cap = 0;
    for (size_t i = 0; i < g->nflows;) {
        size_t j = i;
        while (j < g->nflows && g->flows[j].id == g->flows[i].id) j++;
        const flowpt *s = g->flows[i].start ? &g->flows[i] : NULL, *f = NULL;
        for (size_t k = i; k < j && !f; k++)
            if (!g->flows[k].start) f = &g->flows[k];
        if (s && f) add_arrow(g, &ix, s, f, &cap);
        i = j;
    }
    cellindex_free(&ix);
}

static char *meta_str(json_t *meta, const char *key) {
    json_t *v = json_object_get(meta, key);
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_integer(v)) return xasprintf("%lld", (long long)json_integer_value(v));
    return NULL;
}

static void load_meta(gantt *g, json_t *root) {
    json_t *meta = json_is_object(root) ? json_object_get(root, "otherData") : NULL;
    g->notebook = meta_str(meta, "notebook");
    g->mode = meta_str(meta, "mode");
    g->jobs = meta_str(meta, "jobs");
    g->wall = g->t1 - g->t0;
    json_t *w = json_object_get(meta, "wall_us");
    double d;
    if (json_is_string(w)) {
        char *end;
        d = strtod(json_string_value(w), &end);
        if (end != json_string_value(w) && !*end && isfinite(d) && d >= 0 && d <= MAX_US) g->wall = d;
    } else if (number_in(w, 0, MAX_US, &d)) {
        g->wall = d;
    }
}

static void time_span(gantt *g) {
    g->t0 = g->bars[0].ts;
    g->t1 = g->bars[0].ts + g->bars[0].dur;
    for (size_t i = 1; i < g->nbars; i++) {
        if (g->bars[i].ts < g->t0) g->t0 = g->bars[i].ts;
        if (g->bars[i].ts + g->bars[i].dur > g->t1) g->t1 = g->bars[i].ts + g->bars[i].dur;
    }
}

static json_t *events_of(json_t *root, char *err, size_t errlen) {
    json_t *evs = json_is_array(root) ? root : json_object_get(root, "traceEvents");
    if (!json_is_array(evs)) set_err(err, errlen, "not a trace: no \"traceEvents\" array", 0, 0);
    return json_is_array(evs) ? evs : NULL;
}

static int load_events(gantt *g, json_t *evs, char *err, size_t errlen) {
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        if (json_is_object(ev) && add_event(g, ev, i, err, errlen) < 0) return -1;
    }
    if (!g->nbars) {
        set_err(err, errlen, "the trace has no complete (\"ph\": \"X\") events", 0, 0);
        return -1;
    }
    return 0;
}

int gantt_load(const char *text, size_t len, gantt **out, char *err, size_t errlen) {
    *out = NULL;
    json_error_t je;
    json_t *root = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!root) {
        char msg[256];
        snprintf(msg, sizeof msg, "not JSON: %s (line %d, column %d)", text ? je.text : "no input",
                 text ? je.line : 0, text ? je.column : 0);
        set_err(err, errlen, msg, 0, 0);
        return -1;
    }
    json_t *evs = events_of(root, err, errlen);
    gantt *g = xcalloc(1, sizeof *g);
    if (!evs || load_events(g, evs, err, errlen) < 0) {
        gantt_free(g);
        json_decref(root);
        return -1;
    }
    time_span(g);
    load_meta(g, root);
    json_decref(root);
    build_lanes(g);
    build_arrows(g);
    *out = g;
    return 0;
}

void gantt_free(gantt *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nbars; i++) {
        free(g->bars[i].name);
        free(g->bars[i].detail);
        free(g->bars[i].worker);
    }
    for (size_t i = 0; i < g->nflows; i++) free(g->flows[i].names);
    for (size_t i = 0; i < g->narrows; i++) free(g->arrows[i].names);
    for (size_t i = 0; i < g->ntnames; i++) free(g->tnames[i].name);
    for (size_t i = 0; i < g->nlanes; i++) free(g->lanes[i].name);
    free(g->bars);
    free(g->flows);
    free(g->arrows);
    free(g->tnames);
    free(g->lanes);
    free(g->notebook);
    free(g->mode);
    free(g->jobs);
    free(g);
}

size_t gantt_nbars(const gantt *g) { return g->nbars; }
size_t gantt_nlanes(const gantt *g) { return g->nlanes; }
size_t gantt_narrows(const gantt *g) { return g->narrows; }

/* ---- XML text ------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (1 for a stray byte); *ok when XML 1.0
 * allows it (no control characters, surrogates, U+FFFE/U+FFFF). */
static size_t utf8_seq(const unsigned char *s, int *ok) {
    *ok = 0;
    if (s[0] < 0x80) {
        *ok = s[0] >= 0x20;
        return 1;
    }
    size_t n = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] <= 0xf4 ? 4 : 0;
    if (!n) return 1;
    unsigned cp = s[0] & (0x3fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return i; /* cut short: drop what was read */
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    static const unsigned minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    *ok = !(cp < minimum[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff);
    return n;
}

/* Appends s escaped for XML text and attributes, on one line (tabs and
 * line breaks become spaces); what would make the document ill-formed
 * (invalid UTF-8, control characters) becomes one '?' per sequence. At most max_chars characters, then an ellipsis (0 = no
 * limit). */
static void xml_text_n(buf *out, const char *str, size_t max_chars) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t chars = 0; *s; chars++) {
        if (max_chars && chars == max_chars) {
            buf_puts(out, "\xe2\x80\xa6");
            return;
        }
        int ok;
        size_t n = utf8_seq(s, &ok);
        if (*s == '\t' || *s == '\n' || *s == '\r') {
            buf_putc(out, ' ');
            s++;
            continue;
        }
        switch (ok ? *s : 0) {
        case 0: buf_putc(out, '?'); break;
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, "&gt;"); break;
        case '&': buf_puts(out, "&amp;"); break;
        case '"': buf_puts(out, "&quot;"); break;
        case '\'': buf_puts(out, "&#39;"); break;
        default: buf_append(out, s, n);
        }
        s += n;
    }
}

static void xml_text(buf *out, const char *s) { xml_text_n(out, s, 0); }

/* ---- rendering ------------------------------------------------------------------ */

static void fmt_dur(char *dst, size_t n, double us) {
    if (us >= 1e6) snprintf(dst, n, "%.2f s", us / 1e6);
    else if (us >= 1e3) snprintf(dst, n, "%.1f ms", us / 1e3);
    else snprintf(dst, n, "%.0f \xc2\xb5s", us);
}

/* A tick step of 1, 2 or 5 x 10^k microseconds giving 5 to 10 ticks. */
static double tick_step(double span) {
    double raw = span / 10.0, p = pow(10.0, floor(log10(raw)));
    static const double steps[] = {1, 2, 5, 10};
    for (size_t i = 0; i < 4; i++)
        if (steps[i] * p >= raw * (1 - 1e-9)) return steps[i] * p;
    return 10 * p;
}

enum { LEFT = 104, RIGHT = 28, TOP = 66, LANE_H = 26, LANE_GAP = 8, AXIS_H = 46, LANE_CHARS = 13 };

typedef struct layout { double x0, scale, span; int width, height, plot_bottom; } layout;

static double xpos(const layout *L, const gantt *g, double ts) { return L->x0 + (ts - g->t0) * L->scale; }
static double lane_y(int row) { return TOP + row * (LANE_H + LANE_GAP); }
static double lane_mid(int row) { return lane_y(row) + LANE_H / 2.0; }

static void render_head(const layout *L, buf *out) {
    buf_printf(out,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
               L->width, L->height, L->width, L->height);
    buf_puts(out,
             "<style>.title{font-size:15px;font-weight:bold;fill:#222}.legend text{fill:#333}.lane{fill:#f5f5f5}"
             ".bars rect{stroke:#fff;stroke-width:.6}.lanename{text-anchor:end;fill:#333}.cell{text-anchor:middle;fill:#fff;font-size:11px;"
             "font-weight:bold;pointer-events:none}.tick{text-anchor:middle;fill:#444}.unit{text-anchor:end;"
             "fill:#444}.axis{stroke:#444}.grid{stroke:#000;stroke-opacity:.08}.bars .failed{stroke:#d62728;"
             "stroke-width:2}.deps line{stroke:#444;stroke-opacity:.5;stroke-width:1}</style>\n"
             "<defs><marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" "
             "markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L6,3L0,6z\" fill=\"#444\"/></marker></defs>\n"
             "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
}

static void title_text(const gantt *g, const gantt_opts *o, buf *t) {
    char wall[32];
    fmt_dur(wall, sizeof wall, g->wall);
    if (o && o->title) {
        buf_puts(t, o->title);
    } else {
        const char *nb = g->notebook && *g->notebook ? g->notebook : "floe run";
        const char *slash = strrchr(nb, '/');
        buf_puts(t, slash && slash[1] ? slash + 1 : nb);
        if (g->mode && *g->mode) buf_printf(t, " \xe2\x80\x94 %s", g->mode);
        if (g->jobs && *g->jobs && g->mode && !strcmp(g->mode, "parallel")) buf_printf(t, ", -j %s", g->jobs);
    }
    buf_printf(t, " \xe2\x80\x94 %s", wall);
}

static void render_title(const gantt *g, const gantt_opts *o, buf *out) {
    buf t;
    buf_init(&t);
    title_text(g, o, &t);
    buf_printf(out, "<text x=\"%d\" y=\"24\" class=\"title\">", LEFT);
    xml_text(out, t.data ? t.data : "");
    buf_puts(out, "</text>\n");
    buf_free(&t);
}

static void render_legend(const gantt *g, buf *out) {
    int used[NKINDS] = {0};
    for (size_t i = 0; i < g->nbars; i++) used[g->bars[i].kind] = 1;
    int x = LEFT;
    buf_puts(out, "<g class=\"legend\">\n");
    for (int k = 0; k < NKINDS; k++) {
        if (!used[k]) continue;
        buf_printf(out, "<rect x=\"%d\" y=\"37\" width=\"14\" height=\"14\" fill=\"%s\"/>", x, KINDS[k].color);
        buf_printf(out, "<text x=\"%d\" y=\"49\">%s</text>\n", x + 19, KINDS[k].label);
        x += 30 + 7 * (int)strlen(KINDS[k].label);
    }
    if (g->narrows) {
        buf_printf(out, "<line x1=\"%d\" y1=\"44\" x2=\"%d\" y2=\"44\" stroke=\"#444\" marker-end=\"url(#arrow)\"/>", x,
                   x + 16);
        buf_printf(out, "<text x=\"%d\" y=\"49\">dependency</text>\n", x + 21);
    }
    buf_puts(out, "</g>\n");
}

static void render_lanes(const gantt *g, const layout *L, buf *out) {
    for (size_t l = 0; l < g->nlanes; l++) {
        double y = lane_y((int)l);
        buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" class=\"lane\"/>\n", L->x0, y,
                   (double)L->width - LEFT - RIGHT, LANE_H);
        buf_printf(out, "<text x=\"%d\" y=\"%.1f\" class=\"lanename\"><title>", LEFT - 8, y + LANE_H / 2.0 + 4);
        xml_text(out, g->lanes[l].name);
        buf_puts(out, "</title>");
        xml_text_n(out, g->lanes[l].name, LANE_CHARS);
        buf_puts(out, "</text>\n");
    }
}

static void render_axis(const gantt *g, const layout *L, buf *out) {
    double y = L->plot_bottom + 6, step = tick_step(L->span), unit = step >= 1e5 ? 1e6 : 1e3;
    buf_printf(out, "<g class=\"axis-ticks\">\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n",
               L->x0, y, (double)L->width - RIGHT, y);
    long nticks = (long)floor(L->span / step * (1 + 1e-9));
    for (long i = 0; i <= nticks; i++) {
        double t = (double)i * step, x = xpos(L, g, g->t0 + t);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", x, y, x, y + 5);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", x, TOP - 4, x, y);
        buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%.6g</text>\n", x, y + 18, t / unit);
    }
    buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"unit\">time (%s)</text>\n</g>\n", (double)L->width - RIGHT,
               y + 36, unit == 1e6 ? "s" : "ms");
}

static void bar_tooltip(const gantt *g, const bar *b, buf *out) {
    char d[32], at[32];
    fmt_dur(d, sizeof d, b->dur);
    fmt_dur(at, sizeof at, b->ts - g->t0);
    buf_puts(out, "<title>");
    xml_text(out, b->name);
    if (b->cell >= 0) buf_printf(out, " \xc2\xb7 cell %d", b->cell);
    buf_printf(out, " \xc2\xb7 %s", d);
    if (b->detail) {
        buf_puts(out, " \xc2\xb7 ");
        xml_text(out, b->detail);
    }
    buf_printf(out, " (at %s)%s</title>", at, b->failed ? " \xc2\xb7 failed" : "");
}

static void render_bar(const gantt *g, const layout *L, const bar *b, buf *out) {
    double x = xpos(L, g, b->ts), w = b->dur * L->scale, y = lane_y(b->lane);
    if (w < 1) w = 1; /* zero-length markers (a re-run decision) stay visible */
    /* the cell's own work is full height; the phases around it are inset */
    int full = b->kind == K_COMPUTE || b->kind == K_RESTORE || b->kind == K_START || b->kind == K_RERUN;
    double h = full ? LANE_H : LANE_H - 8, yy = full ? y : y + 4;
    buf_printf(out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s>", x, yy, w, h,
               KINDS[b->kind].color, b->failed ? " class=\"failed\"" : "");
    bar_tooltip(g, b, out);
    buf_puts(out, "</rect>\n");
    if (b->cell >= 0 && (b->kind == K_COMPUTE || b->kind == K_RESTORE)) {
        char label[16];
        snprintf(label, sizeof label, "%d", b->cell);
        if (w >= 7.0 * (double)strlen(label) + 4)
            buf_printf(out, "<text x=\"%.2f\" y=\"%.1f\" class=\"cell\">%s</text>\n", x + w / 2, y + LANE_H / 2.0 + 4,
                       label);
    }
}

static void render_bars(const gantt *g, const layout *L, buf *out) {
    buf_puts(out, "<g class=\"bars\">\n");
    for (size_t i = 0; i < g->nbars; i++) render_bar(g, L, &g->bars[i], out);
    buf_puts(out, "</g>\n");
}

static void render_arrows(const gantt *g, const layout *L, buf *out) {
    if (!g->narrows) return;
    buf_puts(out, "<g class=\"deps\">\n");
    for (size_t i = 0; i < g->narrows; i++) {
        const arrow *a = &g->arrows[i];
        buf_printf(out, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" marker-end=\"url(#arrow)\"><title>",
                   xpos(L, g, a->t_from), lane_mid(a->lane_from), xpos(L, g, a->t_to), lane_mid(a->lane_to));
        if (a->names) {
            xml_text(out, a->names);
            buf_puts(out, ": ");
        }
        if (a->cell_from >= 0) buf_printf(out, "cell %d ", a->cell_from);
        buf_puts(out, "\xe2\x86\x92");
        if (a->cell_to >= 0) buf_printf(out, " cell %d", a->cell_to);
        buf_puts(out, "</title></line>\n");
    }
    buf_puts(out, "</g>\n");
}

void gantt_svg(const gantt *g, const gantt_opts *o, buf *out) {
    layout L;
    L.width = o && o->width >= 300 ? o->width : 1200;
    L.span = g->t1 - g->t0 >= 1 ? g->t1 - g->t0 : 1; /* at least a microsecond */
    L.x0 = LEFT;
    L.scale = (L.width - LEFT - RIGHT) / L.span;
    L.plot_bottom = (int)lane_y((int)g->nlanes) - LANE_GAP;
    L.height = L.plot_bottom + AXIS_H + 8;
    render_head(&L, out);
    render_title(g, o, out);
    render_legend(g, out);
    render_lanes(g, &L, out);
    render_axis(g, &L, out);
    render_bars(g, &L, out);
    render_arrows(g, &L, out);
    buf_puts(out, "</svg>\n");
}

/* ---- summary -------------------------------------------------------------------- */

typedef struct cellsum { int cell; long tid; double start, sum[NKINDS]; int have_tid; } cellsum;

static int cmp_bar_cell(const void *a, const void *b) {
    const bar *x = *(const bar *const *)a, *y = *(const bar *const *)b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* start < 0: none (the totals) */
static void sum_print(buf *out, const char *label, const char *kern, double start, const double *sum) {
    char st[32] = "-";
    if (start >= 0) snprintf(st, sizeof st, "%.1f", start / 1e3);
    buf_printf(out, "%-6s %-8s %10s %10.1f %10.1f %10.1f %10.1f %10.1f\n", label, kern, st, sum[K_WAIT] / 1e3, sum[K_IMPORT] / 1e3, sum[K_COMPUTE] / 1e3, sum[K_EXPORT] / 1e3,
               sum[K_RESTORE] / 1e3);
}

static void sum_cell(const gantt *g, const cellsum *c, buf *out) {
    char label[16], kern[24] = "-";
    snprintf(label, sizeof label, "%d", c->cell);
    if (c->have_tid) snprintf(kern, sizeof kern, "%ld", c->tid);
    sum_print(out, label, kern, c->start - g->t0, c->sum);
}

/* Bars of one cell are adjacent in sorted; returns the index past them. */
static size_t sum_group(const gantt *g, bar **sorted, size_t n, size_t i, double *tot, buf *out) {
    cellsum c = {sorted[i]->cell, 0, sorted[i]->ts, {0}, 0};
    size_t j = i;
    for (; j < n && sorted[j]->cell == c.cell; j++) {
        const bar *b = sorted[j];
        c.sum[b->kind] += b->dur;
        if (b->kind == K_COMPUTE || (b->kind == K_RESTORE && !c.have_tid)) {
            c.tid = b->tid;
            c.have_tid = 1;
        }
    }
    for (int k = 0; k < NKINDS; k++) tot[k] += c.sum[k];
    sum_cell(g, &c, out);
    return j;
}

void gantt_summary(const gantt *g, buf *out) {
    bar **sorted = xmalloc(g->nbars * sizeof *sorted);
    size_t n = 0;
    double tot[NKINDS] = {0}, fork = 0;
    for (size_t i = 0; i < g->nbars; i++) {
        if (g->bars[i].cell >= 0) sorted[n++] = &g->bars[i];
        else if (g->bars[i].kind == K_FORK) fork += g->bars[i].dur;
    }
    qsort(sorted, n, sizeof *sorted, cmp_bar_cell);
    buf_printf(out, "%-6s %-8s %10s %10s %10s %10s %10s %10s\n", "cell", "kernel", "start ms", "wait ms", "import ms",
               "compute ms", "export ms", "cache ms");
    for (size_t i = 0; i < n;) i = sum_group(g, sorted, n, i, tot, out);
    sum_print(out, "total", "", -1, tot);
    char wall[32];
    fmt_dur(wall, sizeof wall, g->wall);
    buf_printf(out, "wall %s; %zu lanes, %zu bars, %zu dependency arrows; fork %.1f ms\n", wall, g->nlanes, g->nbars,
               g->narrows, fork / 1e3);
    free(sorted);
}
