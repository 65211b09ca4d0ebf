/* fuzz_py.c — libFuzzer harness for the percent-format (.py) reader: any
 * input loads or is rejected with a one-line message; a loaded script
 * dumps to a script that loads again with the same cells. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nb/nb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    nb *n = NULL;
    if (nb_load_mem("f.py", (const char *)data, size, &n, err, sizeof err) < 0) {
        if (strchr(err, '\n')) abort();
        return 0;
    }
    char *s = nb_dump_py(n);
    nb *m = NULL;
    if (nb_load_mem("g.py", s, strlen(s), &m, err, sizeof err) < 0) abort();
    if (nb_ncode(m) > nb_ncells(n) + 1) abort();
    /* what we write reads back to the same cells: dumping again is stable */
    if (nb_ncells(m) != nb_ncells(n)) abort();
    char *s2 = nb_dump_py(m);
    if (strcmp(s, s2) != 0) abort();
    free(s2);
    nb_free(m);
    free(s);
    nb_free(n);
    return 0;
}
