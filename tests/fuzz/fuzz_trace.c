/* fuzz_trace.c — libFuzzer harness: any bytes through the trace reader and
 * both renderers. A trace either loads or is rejected with a one-line
 * message; what loads renders deterministically to an SVG without bytes
 * XML forbids; never a crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/gantt.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_svg(const buf *b) {
    if (!b->len || strncmp(b->data, "<svg ", 5) || !strstr(b->data, "</svg>\n")) abort();
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c < 0x20 && c != '\n') abort(); /* control characters are not XML */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gantt *g;
    char err[256];
    if (gantt_load((const char *)data, size, &g, err, sizeof err) < 0) {
        if (!err[0] || strchr(err, '\n')) abort(); /* messages are one line */
        return 0;
    }
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    gantt_svg(g, NULL, &a);
    gantt_svg(g, &(gantt_opts){300, "t<&>"}, &b);
    check_svg(&a);
    check_svg(&b);
    buf_free(&b);
    buf_init(&b);
    gantt_svg(g, NULL, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len)) abort(); /* deterministic */
    gantt_summary(g, &b);
    buf_free(&a);
    buf_free(&b);
    gantt_free(g);
    return 0;
}
