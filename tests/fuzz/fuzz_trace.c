/* fuzz_trace.c — libFuzzer harness: any bytes through the trace reader and
 * both renderers. */
#include <stddef.h>
#include <stdint.h>

#include "trace/gantt.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gantt *g;
    char err[256];
    if (gantt_load((const char *)data, size, &g, err, sizeof err) < 0) return 0;
    buf b;
    buf_init(&b);
    gantt_svg(g, NULL, &b);
    gantt_summary(g, &b);
    buf_free(&b);
    gantt_free(g);
    return 0;
}
