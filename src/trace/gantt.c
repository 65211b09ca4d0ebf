/* gantt.c — the Gantt chart of a run (the paper's figure) and its summary.
 *
 * The model is flat: bars (complete events) and arrows (flow start/finish
 * pairs), each with a lane. Lanes are the trace's tids in ascending order,
 * named by thread_name metadata when present. Times are microseconds
 * relative to the earliest event. Everything the JSON gives is checked:
 * a malformed trace is an error, never a crash or a garbage chart. */
#include "trace/gantt.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bar {
    char *name;
    int cell, lane, failed;
    double ts, dur;
} bar;

typedef struct arrow { long id; int lane_from, lane_to; double t_from, t_to; int have_from, have_to; } arrow;

struct gantt {
    bar *bars;
    size_t nbars;
    arrow *arrows;
    size_t narrows;
    long *tids;        /* lane -> tid */
    char **lane_names; /* lane -> name or NULL */
    size_t nlanes;
    double t0, t1;
    char *notebook, *mode, *jobs;
};

/* ---- loading ------------------------------------------------------------------ */

static void errf(char *err, size_t errlen, const char *msg) { snprintf(err, errlen, "%s", msg); }

static int lane_of(gantt *g, long tid) {
    for (size_t i = 0; i < g->nlanes; i++)
        if (g->tids[i] == tid) return (int)i;
    g->tids = xrealloc(g->tids, (g->nlanes + 1) * sizeof *g->tids);
    g->lane_names = xrealloc(g->lane_names, (g->nlanes + 1) * sizeof *g->lane_names);
    g->tids[g->nlanes] = tid;
    g->lane_names[g->nlanes] = NULL;
    return (int)g->nlanes++;
}

static int number(json_t *v, double *out) {
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    if (!isfinite(d)) return 0;
    *out = d;
    return 1;
}

static int add_bar(gantt *g, json_t *ev, char *err, size_t errlen) {
    const char *name = json_string_value(json_object_get(ev, "name"));
    double ts, dur = 0, tid = 0;
    if (!name || !number(json_object_get(ev, "ts"), &ts) || !number(json_object_get(ev, "dur"), &dur) || dur < 0) {
        errf(err, errlen, "a complete event without a name, ts or a non-negative dur");
        return -1;
    }
    number(json_object_get(ev, "tid"), &tid);
    json_t *args = json_object_get(ev, "args");
    json_t *cell = json_object_get(args, "cell");
    g->bars = xrealloc(g->bars, (g->nbars + 1) * sizeof *g->bars);
    bar *b = &g->bars[g->nbars++];
    b->name = xstrdup(name);
    b->cell = json_is_integer(cell) && json_integer_value(cell) >= 0 && json_integer_value(cell) < 1000000000
                  ? (int)json_integer_value(cell) : -1;
    b->lane = lane_of(g, (long)tid);
    b->ts = ts;
    b->dur = dur;
    b->failed = json_is_true(json_object_get(args, "dead")) || json_is_true(json_object_get(args, "error"));
    return 0;
}

static void add_flow(gantt *g, json_t *ev, int start) {
    double ts, tid = 0, id;
    if (!number(json_object_get(ev, "ts"), &ts) || !number(json_object_get(ev, "id"), &id)) return;
    number(json_object_get(ev, "tid"), &tid);
    arrow *a = NULL;
    for (size_t i = 0; i < g->narrows; i++)
        if (g->arrows[i].id == (long)id) a = &g->arrows[i];
    if (!a) {
        g->arrows = xrealloc(g->arrows, (g->narrows + 1) * sizeof *g->arrows);
        a = &g->arrows[g->narrows++];
        memset(a, 0, sizeof *a);
        a->id = (long)id;
    }
    if (start) {
        a->lane_from = lane_of(g, (long)tid);
        a->t_from = ts;
        a->have_from = 1;
    } else {
        a->lane_to = lane_of(g, (long)tid);
        a->t_to = ts;
        a->have_to = 1;
    }
}

static void name_lane(gantt *g, json_t *ev) {
    double tid = 0;
    const char *nm = json_string_value(json_object_get(json_object_get(ev, "args"), "name"));
    if (!nm || !number(json_object_get(ev, "tid"), &tid)) return;
    int l = lane_of(g, (long)tid);
    free(g->lane_names[l]);
    g->lane_names[l] = xstrdup(nm);
}

static char *meta_str(json_t *meta, const char *key) {
    json_t *v = json_object_get(meta, key);
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_integer(v)) return xasprintf("%lld", (long long)json_integer_value(v));
    return NULL;
}

static int cmp_tid(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Lanes in tid order, whatever order the events came in. */
static void sort_lanes(gantt *g) {
    long *sorted = xmalloc((g->nlanes ? g->nlanes : 1) * sizeof *sorted);
    memcpy(sorted, g->tids, g->nlanes * sizeof *sorted);
    qsort(sorted, g->nlanes, sizeof *sorted, cmp_tid);
    int *map = xmalloc((g->nlanes ? g->nlanes : 1) * sizeof *map);
    char **names = xcalloc(g->nlanes ? g->nlanes : 1, sizeof *names);
    for (size_t i = 0; i < g->nlanes; i++)
        for (size_t j = 0; j < g->nlanes; j++)
            if (sorted[j] == g->tids[i]) {
                map[i] = (int)j;
                names[j] = g->lane_names[i];
            }
    for (size_t i = 0; i < g->nbars; i++) g->bars[i].lane = map[g->bars[i].lane];
    for (size_t i = 0; i < g->narrows; i++) {
        g->arrows[i].lane_from = map[g->arrows[i].lane_from];
        g->arrows[i].lane_to = map[g->arrows[i].lane_to];
    }
    free(g->tids);
    free(g->lane_names);
    g->tids = sorted;
    g->lane_names = names;
    free(map);
}

int gantt_load(const char *text, size_t len, gantt **out, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return -1;
    }
    json_t *evs = json_is_array(root) ? root : json_object_get(root, "traceEvents");
    if (!json_is_array(evs)) {
        errf(err, errlen, "not a trace: no traceEvents array");
        json_decref(root);
        return -1;
    }
    gantt *g = xcalloc(1, sizeof *g);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        if (!json_is_object(ev) || !ph) continue;
        if (!strcmp(ph, "X")) {
            if (add_bar(g, ev, err, errlen) < 0) {
                gantt_free(g);
                json_decref(root);
                return -1;
            }
        } else if (!strcmp(ph, "s") || !strcmp(ph, "f")) {
            add_flow(g, ev, ph[0] == 's');
        } else if (!strcmp(ph, "M") && !strcmp(json_string_value(json_object_get(ev, "name")) ? json_string_value(json_object_get(ev, "name")) : "", "thread_name")) {
            name_lane(g, ev);
        }
    }
    if (!g->nbars) {
        errf(err, errlen, "the trace has no complete (\"ph\": \"X\") events");
        gantt_free(g);
        json_decref(root);
        return -1;
    }
    g->t0 = g->bars[0].ts;
    g->t1 = g->bars[0].ts + g->bars[0].dur;
    for (i = 0; i < g->nbars; i++) {
        if (g->bars[i].ts < g->t0) g->t0 = g->bars[i].ts;
        if (g->bars[i].ts + g->bars[i].dur > g->t1) g->t1 = g->bars[i].ts + g->bars[i].dur;
    }
    json_t *meta = json_is_object(root) ? json_object_get(root, "otherData") : NULL;
    g->notebook = meta_str(meta, "notebook");
    g->mode = meta_str(meta, "mode");
    g->jobs = meta_str(meta, "jobs");
    sort_lanes(g);
    json_decref(root);
    *out = g;
    return 0;
}

void gantt_free(gantt *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nbars; i++) free(g->bars[i].name);
    for (size_t i = 0; i < g->nlanes; i++) free(g->lane_names[i]);
    free(g->bars);
    free(g->arrows);
    free(g->tids);
    free(g->lane_names);
    free(g->notebook);
    free(g->mode);
    free(g->jobs);
    free(g);
}

size_t gantt_nbars(const gantt *g) { return g->nbars; }

/* ---- rendering ---------------------------------------------------------------- */

typedef struct kind { const char *prefix, *label, *color; } kind;

/* Phases, in legend order; the first whose prefix matches a bar's name wins. */
static const kind KINDS[] = {
    {"start", "start-up", "#9e9e9e"},  {"wait", "wait", "#d9d9d9"},       {"fork", "fork", "#b39ddb"},
    {"import", "import", "#4e9bd6"},   {"compute", "compute", "#3fa34d"}, {"export", "export", "#f28e2b"},
    {"restore", "from cache", "#26b5c4"}, {"rerun", "re-run", "#d62728"}, {"", "other", "#bcbd22"},
};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

static size_t kind_of(const char *name) {
    for (size_t k = 0; k < NKINDS - 1; k++)
        if (!strncmp(name, KINDS[k].prefix, strlen(KINDS[k].prefix))) return k;
    return NKINDS - 1;
}

static void xml_text(buf *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, "&gt;"); break;
        case '&': buf_puts(out, "&amp;"); break;
        case '"': buf_puts(out, "&quot;"); break;
        case '\'': buf_puts(out, "&#39;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n') buf_putc(out, '?');
            else buf_putc(out, *s);
        }
    }
}

static void fmt_dur(char *dst, size_t n, double us) {
    if (us >= 1e6) snprintf(dst, n, "%.2f s", us / 1e6);
    else if (us >= 1e3) snprintf(dst, n, "%.1f ms", us / 1e3);
    else snprintf(dst, n, "%.0f us", us);
}

/* A tick step of 1, 2 or 5 x 10^k microseconds giving at most ~10 ticks. */
static double tick_step(double span) {
    double raw = span / 10.0, p = pow(10.0, floor(log10(raw > 0 ? raw : 1)));
    double steps[] = {1, 2, 5, 10};
    for (size_t i = 0; i < 4; i++)
        if (steps[i] * p >= raw) return steps[i] * p;
    return 10 * p;
}

enum { LEFT = 96, RIGHT = 24, TOP = 64, LANE_H = 26, LANE_GAP = 8, AXIS_H = 44, LEGEND_H = 30 };

typedef struct layout { double x0, scale, span; int width, height, plot_bottom; } layout;

static double xpos(const layout *L, const gantt *g, double ts) { return L->x0 + (ts - g->t0) * L->scale; }

static double lane_y(int lane) { return TOP + lane * (LANE_H + LANE_GAP); }

static void render_title(const gantt *g, const gantt_opts *o, const layout *L, buf *out) {
    buf t;
    buf_init(&t);
    char wall[32];
    fmt_dur(wall, sizeof wall, g->t1 - g->t0);
    if (o->title) {
        buf_puts(&t, o->title);
    } else {
        const char *nb = g->notebook && *g->notebook ? g->notebook : "floe run";
        const char *slash = strrchr(nb, '/');
        buf_printf(&t, "%s", slash && slash[1] ? slash + 1 : nb);
        if (g->mode) buf_printf(&t, " \xe2\x80\x94 %s", g->mode);
        if (g->jobs && g->mode && !strcmp(g->mode, "parallel")) buf_printf(&t, ", -j %s", g->jobs);
    }
    buf_printf(&t, " \xe2\x80\x94 %s", wall);
    buf_printf(out, "<text x=\"%d\" y=\"24\" class=\"title\">", LEFT);
    xml_text(out, t.data ? t.data : "");
    buf_puts(out, "</text>\n");
    buf_free(&t);
    (void)L;
}

static void render_legend(const gantt *g, buf *out) {
    int used[NKINDS] = {0};
    for (size_t i = 0; i < g->nbars; i++) used[kind_of(g->bars[i].name)] = 1;
    int x = LEFT;
    buf_puts(out, "<g class=\"legend\">\n");
    for (size_t k = 0; k < NKINDS; k++) {
        if (!used[k]) continue;
        buf_printf(out, "<rect x=\"%d\" y=\"36\" width=\"14\" height=\"14\" fill=\"%s\"/>", x, KINDS[k].color);
        buf_printf(out, "<text x=\"%d\" y=\"48\">%s</text>\n", x + 19, KINDS[k].label);
        x += 28 + 8 * (int)strlen(KINDS[k].label);
    }
    buf_puts(out, "</g>\n");
}

static void render_lanes(const gantt *g, const layout *L, buf *out) {
    for (size_t l = 0; l < g->nlanes; l++) {
        double y = lane_y((int)l);
        buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" class=\"lane\"/>\n", L->x0, y,
                   (double)L->width - LEFT - RIGHT, LANE_H);
        buf_printf(out, "<text x=\"%d\" y=\"%.1f\" class=\"lanename\">", LEFT - 8, y + LANE_H / 2.0 + 4);
        if (g->lane_names[l]) xml_text(out, g->lane_names[l]);
        else buf_printf(out, "kernel %ld", g->tids[l]);
        buf_puts(out, "</text>\n");
    }
}

static void render_bar(const gantt *g, const layout *L, const bar *b, buf *out) {
    const kind *k = &KINDS[kind_of(b->name)];
    double x = xpos(L, g, b->ts), w = b->dur * L->scale, y = lane_y(b->lane);
    char d[32];
    fmt_dur(d, sizeof d, b->dur);
    /* zero-length markers (a re-run decision) are drawn as a thin tick */
    if (w < 1) w = 1;
    int inner = strcmp(k->prefix, "compute") && strcmp(k->prefix, "restore") && strcmp(k->prefix, "start");
    double h = inner ? LANE_H - 8 : LANE_H, yy = inner ? y + 4 : y;
    buf_printf(out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s><title>", x, yy, w, h,
               k->color, b->failed ? " class=\"failed\"" : "");
    xml_text(out, b->name);
    if (b->cell >= 0) buf_printf(out, " \xc2\xb7 cell %d", b->cell);
    buf_printf(out, " \xc2\xb7 %s</title></rect>\n", d);
    if (b->cell >= 0 && (!strcmp(k->prefix, "compute") || !strcmp(k->prefix, "restore"))) {
        char label[16];
        snprintf(label, sizeof label, "%d", b->cell);
        if (w >= 7.0 * (double)strlen(label) + 4)
            buf_printf(out, "<text x=\"%.2f\" y=\"%.1f\" class=\"cell\">%s</text>\n", x + w / 2, y + LANE_H / 2.0 + 4,
                       label);
    }
}

static void render_arrows(const gantt *g, const layout *L, buf *out) {
    buf_puts(out, "<g class=\"deps\">\n");
    for (size_t i = 0; i < g->narrows; i++) {
        const arrow *a = &g->arrows[i];
        if (!a->have_from || !a->have_to) continue;
        double x1 = xpos(L, g, a->t_from), y1 = lane_y(a->lane_from) + LANE_H / 2.0;
        double x2 = xpos(L, g, a->t_to), y2 = lane_y(a->lane_to) + LANE_H / 2.0;
        buf_printf(out, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" marker-end=\"url(#arrow)\"/>\n", x1, y1,
                   x2, y2);
    }
    buf_puts(out, "</g>\n");
}

static void render_axis(const gantt *g, const layout *L, buf *out) {
    double y = L->plot_bottom + 6;
    double step = tick_step(L->span);
    buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", L->x0, y,
               (double)L->width - RIGHT, y);
    int unit_s = step >= 1e5;
    for (double t = 0; t <= L->span * 1.0001; t += step) {
        double x = xpos(L, g, g->t0 + t);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", x, y, x, y + 5);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", x, TOP - 4, x, y);
        if (unit_s) buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%g</text>\n", x, y + 18, t / 1e6);
        else buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%g</text>\n", x, y + 18, t / 1e3);
    }
    buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"unit\">time (%s)</text>\n", (double)L->width - RIGHT,
               y + 34, unit_s ? "s" : "ms");
}

void gantt_svg(const gantt *g, const gantt_opts *o, buf *out) {
    layout L;
    L.width = o && o->width >= 300 ? o->width : 1200;
    L.span = g->t1 - g->t0 > 0 ? g->t1 - g->t0 : 1;
    L.x0 = LEFT;
    L.scale = (L.width - LEFT - RIGHT) / L.span;
    L.plot_bottom = (int)lane_y((int)g->nlanes) - LANE_GAP;
    L.height = L.plot_bottom + AXIS_H + 6;
    (void)LEGEND_H;
    buf_printf(out,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
               L.width, L.height, L.width, L.height);
    buf_puts(out,
             "<style>.title{font-size:15px;font-weight:bold}.lane{fill:#f7f7f7}.lanename{text-anchor:end;fill:#333}"
             ".cell{text-anchor:middle;fill:#fff;font-size:11px;font-weight:bold}.tick{text-anchor:middle;fill:#444}"
             ".unit{text-anchor:end;fill:#444}.axis{stroke:#444}.grid{stroke:#000;stroke-opacity:.07}"
             ".failed{stroke:#d62728;stroke-width:2}.deps line{stroke:#555;stroke-opacity:.45;stroke-width:1}"
             "</style>\n"
             "<defs><marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" markerHeight=\"6\" "
             "orient=\"auto\"><path d=\"M0,0L6,3L0,6z\" fill=\"#555\"/></marker></defs>\n"
             "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    render_title(g, o ? o : &(gantt_opts){0, NULL}, &L, out);
    render_legend(g, out);
    render_lanes(g, &L, out);
    render_axis(g, &L, out);
    buf_puts(out, "<g class=\"bars\">\n");
    for (size_t i = 0; i < g->nbars; i++) render_bar(g, &L, &g->bars[i], out);
    buf_puts(out, "</g>\n");
    render_arrows(g, &L, out);
    buf_puts(out, "</svg>\n");
}

/* ---- summary ------------------------------------------------------------------ */

typedef struct cellsum { double start, wait, import, compute, exp, restore; int seen; } cellsum;

void gantt_summary(const gantt *g, buf *out) {
    int maxcell = -1;
    for (size_t i = 0; i < g->nbars; i++)
        if (g->bars[i].cell > maxcell) maxcell = g->bars[i].cell;
    cellsum *s = xcalloc((size_t)maxcell + 2, sizeof *s);
    for (size_t i = 0; i < g->nbars; i++) {
        const bar *b = &g->bars[i];
        if (b->cell < 0) continue;
        cellsum *c = &s[b->cell];
        double rel = b->ts - g->t0;
        if (!c->seen || rel < c->start) c->start = rel;
        c->seen = 1;
        const char *p = KINDS[kind_of(b->name)].prefix;
        if (!strcmp(p, "wait")) c->wait += b->dur;
        else if (!strcmp(p, "import")) c->import += b->dur;
        else if (!strcmp(p, "compute")) c->compute += b->dur;
        else if (!strcmp(p, "export")) c->exp += b->dur;
        else if (!strcmp(p, "restore")) c->restore += b->dur;
    }
    cellsum tot = {0};
    buf_printf(out, "%-6s %10s %10s %10s %10s %10s %10s\n", "cell", "start ms", "wait ms", "import ms", "compute ms",
               "export ms", "cache ms");
    for (int k = 0; k <= maxcell; k++) {
        if (!s[k].seen) continue;
        buf_printf(out, "%-6d %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", k, s[k].start / 1e3, s[k].wait / 1e3,
                   s[k].import / 1e3, s[k].compute / 1e3, s[k].exp / 1e3, s[k].restore / 1e3);
        tot.wait += s[k].wait;
        tot.import += s[k].import;
        tot.compute += s[k].compute;
        tot.exp += s[k].exp;
        tot.restore += s[k].restore;
    }
    buf_printf(out, "%-6s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", "total", (g->t1 - g->t0) / 1e3, tot.wait / 1e3,
               tot.import / 1e3, tot.compute / 1e3, tot.exp / 1e3, tot.restore / 1e3);
    free(s);
}
