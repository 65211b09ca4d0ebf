/* gantt.h — reads a run's Chrome trace (as written by trace.c, or any trace
 * with complete "X" events) and renders it: an SVG Gantt chart with one lane
 * per kernel, bars per phase coloured by kind, cell labels, dependency
 * arrows, a legend and a time axis; or a per-cell text summary.
 *
 * Ownership: gantt_load returns a model freed with gantt_free. The render
 * functions append to a caller-owned buf. */
#ifndef FLOE_GANTT_H
#define FLOE_GANTT_H

#include <stddef.h>
#include "util/util.h"

typedef struct gantt gantt;

/* Parses trace JSON text. Returns 0, or -1 with a one-line reason in err. */
int gantt_load(const char *json, size_t len, gantt **out, char *err, size_t errlen);
void gantt_free(gantt *g);

typedef struct gantt_opts {
    int width;          /* pixels, 0 = 1200 */
    const char *title;  /* NULL = from the trace's notebook, mode and jobs */
} gantt_opts;

/* Appends a self-contained SVG document to out. */
void gantt_svg(const gantt *g, const gantt_opts *o, buf *out);
/* Appends a text table: per cell, start, wait, import, compute, export (ms). */
void gantt_summary(const gantt *g, buf *out);

/* Bars drawn (one per complete event), lanes (kernel rows with bars, plus
 * the start-up lane) and dependency arrows drawn: for tests. */
size_t gantt_nbars(const gantt *g);
size_t gantt_nlanes(const gantt *g);
size_t gantt_narrows(const gantt *g);

#endif
