/* analysis_internal.h — shared by the files of src/analysis.
 * Ownership: an_ipython_to_python returns a new string the caller frees. */
#ifndef FLOE_ANALYSIS_INTERNAL_H
#define FLOE_ANALYSIS_INTERNAL_H

#include "analysis/analysis.h"

/* Rewrites IPython syntax into Python of the same line structure; adds
 * writes (x = !cmd, %%capture x) and open-world reasons to out. Returns a
 * new string. */
char *an_ipython_to_python(const char *src, size_t len, an_cell *out);

/* Is name a Python builtin (print, len, ...)? */
int an_is_builtin(const char *name);

#endif
