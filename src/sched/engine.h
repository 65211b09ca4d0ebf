/* engine.h — the local driver: runs a notebook's cells in forked kernels
 * on a libuv loop, carrying out what the scheduling core (core/core.h)
 * decides. The modes (run_opts.mode, defined with the core):
 *
 *   monolithic  one kernel runs every cell in order (Jupyter's model)
 *   serial      every cell in a fresh kernel, one at a time, state moved
 *               as versioned artifacts
 *   parallel    like serial, but a cell starts as soon as the cells it is
 *               predicted to read from are done; mispredictions are fixed
 *               at run time (lazy reads, re-runs of stale readers)
 *
 * The engine owns a libuv loop for the duration of engine_run. Outputs are
 * written into the nb model; the caller saves it.
 * Ownership: engine_run borrows n and o; engine_interpreter_id returns a new string. */
#ifndef FLOE_ENGINE_H
#define FLOE_ENGINE_H

#include "core/core.h"
#include "nb/nb.h"

/* Runs every code cell of n. Returns 0 when all ran without (unexpected)
 * error, 1 when a cell failed, 2 when the run could not start (message
 * printed), 130/143 when interrupted by SIGINT/SIGTERM. */
int engine_run(nb *n, const run_opts *o, run_stats *stats);

/* What a cached result depends on besides its inputs: the interpreter, by
 * its resolved path, size and mtime (which change when Python is upgraded),
 * known without starting it. Not the preload set: preloading only imports
 * modules earlier. Returns a new string. */
char *engine_interpreter_id(const char *python);

/* A new run directory for artifacts (/dev/shm/floe-PID-N, else in /tmp),
 * after removing those of floe processes that died; a new string, or NULL
 * (reported). engine_remove_dir removes one and its files. */
char *engine_make_run_dir(void);
void engine_remove_dir(const char *path);

#endif
