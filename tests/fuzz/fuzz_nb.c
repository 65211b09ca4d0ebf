/* fuzz_nb.c — libFuzzer harness for the .ipynb reader: any input either
 * loads (and then survives a dump and reload) or is rejected with a one-line
 * message; never a crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nb/nb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    nb *n = NULL;
    if (nb_load_mem("f.ipynb", (const char *)data, size, &n, err, sizeof err) < 0) {
        if (strchr(err, '\n')) abort(); /* messages are one line */
        return 0;
    }
    for (size_t i = 0; i < nb_ncells(n); i++) (void)nb_cell_source(n, i);
    char *s = nb_dump_ipynb(n);
    if (s) {
        nb *m = NULL;
        if (nb_load_mem("g.ipynb", s, strlen(s), &m, err, sizeof err) < 0) abort(); /* our output reloads */
        if (nb_ncells(m) != nb_ncells(n)) abort();
        nb_free(m);
        free(s);
    }
    nb_free(n);
    return 0;
}
