/* fuzz_params.c — libFuzzer harness: any bytes as a `-p NAME VALUE` value
 * (papermill's _resolve_type, then its Python translator). The injected
 * cell is one line per parameter whatever the value (newlines and control
 * characters escaped, quotes balanced); a value read as a finite float
 * reads back as the same double from the text written; never a crash,
 * leak or hang. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/papermill.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *v = xstrndup((const char *)data, size); /* a command-line argument ends at its first NUL */
    json_t *val = pm_resolve_type(v);
    json_t *params = json_object();
    json_object_set_new(params, "x", val);
    char *src = pm_codify(params);
    const char *line = src + strlen("# Parameters\n");
    if (strncmp(src, "# Parameters\nx = ", 17)) abort();
    const char *nl = strchr(line, '\n');
    if (!nl || nl[1]) abort(); /* exactly one line */
    for (const char *p = line; p < nl; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) abort(); /* ASCII only, as unicode_escape */
    json_t *f = json_object_get(val, "$float");
    if (json_is_string(f)) {
        double want = strtod(v, NULL), got = strtod(json_string_value(f), NULL);
        if (isfinite(want) && want != got && !strchr(v, '_')) abort();
    }
    free(src);
    json_decref(params);
    free(v);
    return 0;
}
