/* nb_internal.h — the notebook struct, shared by nb.c and nb_py.c only.
 * Ownership: struct nb owns root and every string; nb_py_parse and
 * nb_split_lines return new references. */
#ifndef FLOE_NB_INTERNAL_H
#define FLOE_NB_INTERNAL_H

#include "nb/nb.h"

struct nb {
    json_t *root;        /* the whole document (owned) */
    nb_format format;
    size_t ncells;
    char **src;          /* joined source per cell (owned) */
    nb_cell_type *kind;
    size_t *code;        /* code index -> cell index */
    size_t ncode;
};

/* Parses a percent-format script into an nbformat 4.5 document. */
int nb_py_parse(const char *name, const char *data, size_t len, json_t **root, char *err, size_t errlen);
/* Jupyter's list-of-lines form of a string (new reference). */
json_t *nb_split_lines(const char *s);
json_t *nb_split_linesn(const char *s, size_t n);

#endif
