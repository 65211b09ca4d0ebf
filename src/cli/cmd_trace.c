/* cmd_trace.c — `floe trace`: renders a run's trace as an SVG Gantt chart,
 * or prints a per-cell summary of where the time went. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trace/gantt.h"
#include "util/util.h"

static const char *USAGE =
    "usage: floe trace RUN.json -o OUT.svg [--width PX] [--title TEXT]\n"
    "       floe trace RUN.json --summary\n"
    "\n"
    "Renders the trace written by `floe run --trace RUN.json` as a Gantt chart:\n"
    "one lane per kernel, a bar per phase (wait, fork, import, compute, export,\n"
    "from cache, re-run) with the cell number on compute bars, dependency arrows,\n"
    "a legend and a time axis. --summary prints, per cell, when it started and\n"
    "how long it waited, imported, computed and exported (ms).\n";

int cmd_trace(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int summary = 0;
    gantt_opts o = {0, NULL};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((!strcmp(s, "-o") || !strcmp(s, "--output")) && has) {
            out = argv[++i];
        } else if (!strcmp(s, "--width") && has) {
            char *end;
            long w = strtol(argv[++i], &end, 10);
            if (*end || w < 300 || w > 20000) {
                fprintf(stderr, "floe trace: --width needs pixels (300..20000)\n");
                return 2;
            }
            o.width = (int)w;
        } else if (!strcmp(s, "--title") && has) {
            o.title = argv[++i];
        } else if (!strcmp(s, "--summary")) {
            summary = 1;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "floe trace: unknown or incomplete option '%s' (see floe trace --help)\n", s);
            return 2;
        } else if (!in) {
            in = s;
        } else {
            fprintf(stderr, "floe trace: unexpected argument '%s'\n", s);
            return 2;
        }
    }
    if (!in || (!out && !summary)) {
        fprintf(stderr, "floe trace: %s (see floe trace --help)\n",
                !in ? "no RUN.json given" : "nothing to do: give -o OUT.svg or --summary");
        return 2;
    }
    size_t len;
    char *text = read_file(in, &len);
    if (!text) {
        fprintf(stderr, "floe trace: %s: cannot read: %s\n", in, strerror(errno));
        return 2;
    }
    gantt *g;
    char err[256];
    int rc = gantt_load(text, len, &g, err, sizeof err);
    free(text);
    if (rc < 0) {
        fprintf(stderr, "floe trace: %s: %s\n", in, err);
        return 2;
    }
    buf b;
    buf_init(&b);
    if (summary) {
        gantt_summary(g, &b);
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        buf_init(&b);
    }
    rc = 0;
    if (out) {
        gantt_svg(g, &o, &b);
        int w = write_file_atomic(out, b.data, b.len, WRITE_DURABLE);
        if (w < 0) {
            fprintf(stderr, "floe trace: cannot write %s: %s\n", out, strerror(-w));
            rc = 2;
        }
    }
    buf_free(&b);
    gantt_free(g);
    return rc;
}
