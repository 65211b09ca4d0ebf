/* trace.h — an in-memory recorder of Chrome trace events for one run:
 * complete events (one row per kernel) for every phase of every cell, flow
 * arrows for dependencies, and run metadata; written as the Chrome Trace
 * Event Format (opens in Perfetto) and rendered by `floe trace`.
 *
 * Ownership: trace_new returns a recorder freed by trace_free; every string
 * argument is copied. */
#ifndef FLOE_TRACE_H
#define FLOE_TRACE_H

#include <stdint.h>

typedef struct trace trace;

trace *trace_new(void);
void trace_free(trace *t);
/* A complete event ("ph":"X"): name is "wait", "fork", "import:<name>",
 * "compute", "export:<name>", "restore", "rerun", "start"...; cell is the
 * code-cell index (args.cell; -1 for none); row the kernel (tid); times in
 * microseconds on the monotonic clock; args_json NULL or a JSON object
 * whose members are merged into args. NULL t is a no-op. */
void trace_complete(trace *t, const char *name, int cell, int row, int64_t start_us, int64_t dur_us,
                    const char *args_json);
/* A dependency arrow from the end of cell `from` to the start of cell `to`. */
void trace_flow(trace *t, int from_cell, int row_from, int64_t t_from_us, int to_cell, int row_to, int64_t t_to_us,
                const char *names);
/* Run metadata (notebook, mode, jobs...), kept in "otherData". */
void trace_meta(trace *t, const char *key, const char *value);
/* Names a row ("kernel 0"). */
void trace_row_name(trace *t, int row, const char *name);
/* Writes the trace atomically; times relative to the first event. 0 or -errno. */
int trace_write(const trace *t, const char *path);

#endif
