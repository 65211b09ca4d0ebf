/* nb.h — the notebook model: nbformat 4 .ipynb (jansson) and percent-format
 * .py scripts, read into one representation and written back atomically.
 *
 * The model keeps the whole JSON document it was read from, so everything
 * floe does not own (metadata, attachments, ids, unknown keys) survives a
 * round trip; floe only replaces a code cell's `outputs`, `execution_count`
 * and `metadata.execution`. A .py script is converted to the same JSON form
 * (nbformat 4.5, cells with ids) on load.
 *
 * Ownership: nb_load returns a new nb owned by the caller (nb_free). Strings
 * returned by accessors are owned by the nb and live as long as it does. */
#ifndef FLOE_NB_H
#define FLOE_NB_H

#include <stddef.h>
#include <jansson.h>

typedef enum { NB_CODE, NB_MARKDOWN, NB_RAW } nb_cell_type;
typedef enum { NB_FMT_IPYNB, NB_FMT_PY } nb_format;

typedef struct nb nb;

/* Loads .ipynb or percent-format .py (chosen by extension; anything else is
 * sniffed: a leading '{' means JSON). Returns 0, or -1 with a one-line
 * message "FILE:LINE:COL: what" (or "FILE: what") in err. */
int nb_load(const char *path, nb **out, char *err, size_t errlen);
/* Same from memory; `name` is used in messages and to pick the format. */
int nb_load_mem(const char *name, const char *data, size_t len, nb **out, char *err, size_t errlen);
void nb_free(nb *n);

nb_format nb_get_format(const nb *n);
size_t nb_ncells(const nb *n);
nb_cell_type nb_cell_kind(const nb *n, size_t i);
/* The cell's source joined into one string. */
const char *nb_cell_source(const nb *n, size_t i);
/* Cell JSON object (borrowed), for metadata/tags/outputs. */
json_t *nb_cell_json(const nb *n, size_t i);
int nb_cell_has_tag(const nb *n, size_t i, const char *tag);

/* Code cells are numbered from 0 in notebook order ("code index"). */
size_t nb_ncode(const nb *n);
size_t nb_code_cell(const nb *n, size_t k);      /* code index -> cell index */

/* Replaces a cell's source (e.g. for injected parameters). */
/* The source of cell i as a JSON string, whole: unlike nb_cell_source, NUL
 * bytes in it are kept (the kernel must see what Python would). */
json_t *nb_cell_source_json(const nb *n, size_t i);
void nb_set_source(nb *n, size_t i, const char *src);
/* Inserts a new code cell at position i with the given source and tags
 * (NULL-terminated array). Returns the new cell's index. */
size_t nb_insert_code(nb *n, size_t i, const char *src, const char *const *tags);

/* Removes cell i. */
void nb_remove_cell(nb *n, size_t i);

/* Sets a code cell's results: outputs (steals the reference), execution
 * count (<= 0 means null; every execute_result in outputs is numbered with
 * it, as Jupyter numbers them) and, if non-NULL, metadata.execution (steals). */
void nb_set_outputs(nb *n, size_t i, json_t *outputs, int exec_count, json_t *execution_md);
/* Clears outputs and execution_count of every code cell. */
void nb_clear_outputs(nb *n);

/* Serialises as .ipynb JSON (1-space indent, as Jupyter writes) or as a
 * percent-format script. Returns a malloc'd string. */
char *nb_dump_ipynb(const nb *n);
char *nb_dump_py(const nb *n);
/* Writes atomically to path; the format follows the path's extension. */
int nb_save(const nb *n, const char *path, char *err, size_t errlen);

/* The document root (borrowed): metadata, nbformat... */
json_t *nb_root(const nb *n);

#endif
