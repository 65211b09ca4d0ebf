/* kernelspec.h — Jupyter kernelspecs, found the way jupyter_client finds
 * them, so that `floe run` picks the interpreter Jupyter would.
 *
 * Search path, first match wins (jupyter_core's jupyter_path("kernels")):
 *   $JUPYTER_PATH entries, the user data dir ($JUPYTER_DATA_DIR, else
 *   $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter), the active
 *   environment's prefix ($VIRTUAL_ENV, $CONDA_PREFIX: floe has no sys.prefix
 *   of its own), /usr/local/share/jupyter, /usr/share/jupyter; each + /kernels.
 * A kernel is a directory NAME (case-insensitive) holding kernel.json. When
 * no `python3` spec exists, ipykernel's native one stands in: python3 on PATH.
 *
 * Ownership: kspec_find fills a kspec the caller releases with kspec_free;
 * kspec_names returns a strvec the caller frees. */
#ifndef FLOE_KERNELSPEC_H
#define FLOE_KERNELSPEC_H

#include <stddef.h>

#include "util/util.h"

typedef struct kspec {
    char *name;         /* as asked, lowercased */
    char *dir;          /* the spec's directory, NULL for the native python3 */
    char *display_name;
    char *language;
    char *python;       /* argv[0], resolved through PATH when relative; NULL if absent */
    strvec env;         /* "NAME=VALUE", ${VAR} substituted from our environment */
} kspec;

/* The kernels directories searched, in order (existing or not). */
void kspec_search_path(strvec *dirs);

/* Finds kernel `name`. Returns 0; -1 when no such kernel (err: one line
 * naming it and the kernels that exist); -2 when the spec is unreadable,
 * not Python, or its argv[0] cannot be found (err says which). */
int kspec_find(const char *name, kspec *out, char *err, size_t errlen);
void kspec_free(kspec *k);

/* Every kernel name on the search path (first occurrence), sorted; plus
 * python3 (native) when no spec provides it. */
void kspec_names(strvec *names);

/* Sets the spec's env in our own environment, which the zygote and every
 * kernel inherit (and which keys warm zygotes). */
void kspec_apply_env(const kspec *k);

#endif
