/* fuzz_arrow.c — libFuzzer harness for the Arrow IPC file reader: any input
 * is either rejected with a one-line message or yields columns whose every
 * declared byte is readable (ASan checks), whose string offsets and
 * dictionary indices are in range, and which the writer can write again
 * into a file that reads back with the same shape. Never a crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/arrow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint8_t x = 0;
    for (uint64_t i = 0; p && i < n; i++) x ^= b[i];
    sink = x;
}

static void check_col(const arrow_col *c) {
    touch(c->validity, c->validity ? (uint64_t)(c->length + 7) / 8 : 0);
    size_t w = arrow_type_width(c->type);
    if (c->type == ARROW_BOOL) touch(c->data, (uint64_t)(c->length + 7) / 8);
    else if (w) touch(c->data, (uint64_t)c->length * w);
    else if (c->type != ARROW_NA) {
        size_t ow = (c->type == ARROW_LARGE_UTF8 || c->type == ARROW_LARGE_BINARY) ? 8 : 4;
        if (c->offsets) {
            touch(c->offsets, (uint64_t)(c->length + 1) * ow);
            int64_t last = 0;
            if (ow == 4) { int32_t l; memcpy(&l, (const uint8_t *)c->offsets + 4 * (size_t)c->length, 4); last = l; }
            else memcpy(&last, (const uint8_t *)c->offsets + 8 * (size_t)c->length, 8);
            if (last < 0 || (uint64_t)last > c->data_len) abort();
            touch(c->data, (uint64_t)last);
        } else if (c->length) {
            abort();
        }
    }
    if (c->dict) check_col(c->dict);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    arrow_table *t = NULL;
    if (arrow_read(data, size, &t, err, sizeof err) < 0) {
        if (!err[0] || strchr(err, '\n')) abort(); /* one-line messages */
        return 0;
    }
    for (size_t b = 0; b < t->nbatches; b++)
        for (size_t i = 0; i < t->ncols; i++) check_col(&t->cols[b * t->ncols + i]);
    if (t->nbatches >= 1) {
        uint8_t *out = NULL;
        size_t outlen = 0;
        if (arrow_write_mem(t->cols, t->ncols, t->batch_rows[0], t->meta, t->nmeta, &out, &outlen, err,
                            sizeof err) == 0) {
            arrow_table *u = NULL;
            if (arrow_read(out, outlen, &u, err, sizeof err) < 0) abort(); /* our output reads back */
            if (u->ncols != t->ncols || u->nrows != t->batch_rows[0]) abort();
            arrow_table_free(u);
        }
        free(out);
    }
    arrow_table_free(t);
    return 0;
}
