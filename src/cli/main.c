/* main.c — the floe command line: dispatch to subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: floe <command> [options]\n"
    "\n"
    "Run Python notebooks with every cell in its own isolated kernel, independent\n"
    "cells in parallel, and outputs identical to a top-to-bottom Jupyter run.\n"
    "\n"
    "commands:\n"
    "  run NB        execute a notebook (.ipynb or percent-format .py)\n"
    "  deps NB       show the predicted dataflow between cells\n"
    "  trace T.json  render a run's trace as an SVG Gantt chart\n"
    "  status NB     which cells are fresh, stale or never run (cache)\n"
    "  cache         manage the artifact cache (gc, clear)\n"
    "  artifact      export a stored artifact (e.g. as an Arrow file)\n"
    "  warm          list or stop the zygotes that run --warm keeps\n"
    "  kernel        be a Jupyter kernel, or install floe's kernelspec\n"
    "  kernels       the Jupyter kernels floe can run notebooks with, and which it picks\n"
    "\n"
    "  floe <command> --help   options of a command\n"
    "  floe --version\n";

struct command { const char *name; int (*fn)(int, char **); };

static const struct command commands[] = {
    {"run", cmd_run},       {"deps", cmd_deps},     {"trace", cmd_trace},
    {"status", cmd_status}, {"cache", cmd_cache},   {"artifact", cmd_artifact},
    {"warm", cmd_warm},     {"kernel", cmd_kernel}, {"kernels", cmd_kernels},
};

int main(int argc, char **argv) {
    /* a kernel that dies (or is killed by floe) while floe writes to it must
     * give EPIPE, handled where the write fails, not kill floe */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("floe %s\n", FLOE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "floe: unknown command '%s' (try floe --help)\n", argv[1]);
    return 2;
}
