/* papermill.h — papermill's parameters and results, as papermill writes
 * them: the parameter values of -p (typed), -r (raw), -y (YAML), -f (YAML
 * file) and -b (base64 YAML), merged in papermill's order; the injected
 * cell in papermill's Python translator's text; metadata.papermill for the
 * notebook and each cell; the two error-marker cells of a failed run.
 *
 * Values are JSON (jansson) with two tagged forms for what JSON cannot
 * hold exactly: {"$float": "<Python repr>"} and {"$int": "<digits>"}.
 * Ownership: functions returning json_t* return a new reference. */
#ifndef FLOE_PAPERMILL_H
#define FLOE_PAPERMILL_H

#include <jansson.h>

#include "nb/nb.h"
#include "util/util.h"

/* papermill's _resolve_type of a -p VALUE: True/False/None, an int, a
 * float (as Python's int() and float() parse them), else the string. */
json_t *pm_resolve_type(const char *v);

/* A string value: the string, or for bytes that are not UTF-8 (a command
 * line can hold any), {"$str": its escaped text} as Python would see the
 * argument (surrogateescape). */
json_t *pm_string(const char *s);

/* Evaluates YAML sources with `python` (PyYAML, papermill's loader: safe,
 * dates stay strings) and merges them into params (an object) in
 * papermill's order: base64 (-b), files (-f), strings (-y). Returns 0, or
 * -1 with a one-line message in err. */
int pm_load_yaml(const char *python, const strvec *b64, const strvec *files, const strvec *yamls, json_t *params,
                 char *err, size_t errlen);

/* The injected cell's source: "# Parameters\n" and "name = value\n" per
 * parameter, as papermill's PythonTranslator writes it. Returns a new
 * string. */
char *pm_codify(json_t *params);

/* The parameters as papermill records them in metadata (plain JSON). */
json_t *pm_metadata_value(json_t *v);

/* Inserts (or replaces) the injected-parameters cell as papermill does;
 * report_mode hides its source. */
void pm_inject(nb *n, json_t *params, int report_mode);

/* Before the run: metadata.papermill (parameters, paths, start_time, ...)
 * and every cell's metadata.papermill set to pending; report_mode hides
 * every code cell's input. */
void pm_start(nb *n, json_t *params, const char *in, const char *out, int report_mode);

/* Removes the error-marker cells of an earlier papermill run. */
void pm_remove_error_markers(nb *n);

/* After cells ran (or for a snapshot, while they run: final = 0): each
 * cell's metadata.papermill from its metadata.execution, the notebook's
 * end_time/duration/exception; final also adds papermill's error markers
 * before the failed cell. Returns 1 when a cell failed, 0 when none did or the
 * run stopped at sys.exit() / sys.exit(0), which papermill does not count
 * as a failure (the cell is still marked failed in its metadata). */
int pm_finish(nb *n, int final);

#endif
