/* papermill.c — papermill's parameters, injected cell and metadata, written
 * the way papermill 2.x writes them (papermill/cli.py, translators.py,
 * parameterize.py, engines.py, execute.py), so that tools reading them
 * (scrapbook, papermill's inspect, dashboards of papermill runs) keep
 * working. The values' text follows papermill's PythonTranslator without
 * Black (papermill formats the cell with Black only when Black is
 * installed). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/papermill.h"
#include "util/util.h"

/* ---- papermill's _resolve_type: Python's int() and float() ------------------------ */

/* s without surrounding whitespace and with the underscores Python allows
 * (one, between two digits) removed; NULL when an underscore is misplaced. */
static char *py_number_text(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *r = xmalloc(n + 1), *o = r;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (!i || i + 1 >= n || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1])) {
                free(r);
                return NULL;
            }
            continue;
        }
        *o++ = s[i];
    }
    *o = '\0';
    return r;
}

/* Python's str(int(s)), or NULL when int(s) raises. */
static char *py_int(const char *s) {
    char *t = py_number_text(s);
    if (!t) return NULL;
    const char *p = t;
    int neg = *p == '-';
    if (*p == '+' || *p == '-') p++;
    size_t nd = strspn(p, "0123456789");
    if (!nd || p[nd]) {
        free(t);
        return NULL;
    }
    while (*p == '0' && p[1]) p++;
    char *r = xasprintf("%s%s", neg && strcmp(p, "0") ? "-" : "", p);
    free(t);
    return r;
}

/* Python's float(s) into *d; 0 when float(s) raises. */
static int py_float(const char *s, double *d) {
    char *t = py_number_text(s);
    if (!t) return 0;
    const char *p = t + (*t == '+' || *t == '-');
    int ok = 0;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan")) {
        ok = 1;
    } else if (*p && !strpbrk(p, "xXpP(") && (isdigit((unsigned char)*p) || *p == '.')) {
        char *end;
        (void)strtod(p, &end);
        ok = !*end && (isdigit((unsigned char)p[0]) || isdigit((unsigned char)p[1]));
    }
    if (ok) {
        errno = 0;
        *d = strtod(t, NULL);
    }
    free(t);
    return ok;
}

/* Python's repr(float): the shortest digits that read back the same, in
 * fixed notation when the decimal exponent is in [-4, 16), else d.ddde±XX. */
static char *py_float_repr(double d) {
    if (isnan(d)) return xstrdup("nan");
    if (isinf(d)) return xstrdup(d > 0 ? "inf" : "-inf");
    char tmp[64];
    int prec = 0;
    for (; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", prec, d);
    char digits[32];
    size_t nd = 0;
    const char *p = tmp + (tmp[0] == '-');
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p)) digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int exp10 = atoi(p + 1), decpt = exp10 + 1;
    buf b;
    buf_init(&b);
    if (signbit(d)) buf_putc(&b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            buf_puts(&b, "0.");
            for (int i = decpt; i < 0; i++) buf_putc(&b, '0');
            buf_puts(&b, digits);
        } else if ((size_t)decpt >= nd) {
            buf_puts(&b, digits);
            for (size_t i = nd; i < (size_t)decpt; i++) buf_putc(&b, '0');
            buf_puts(&b, ".0");
        } else {
            buf_append(&b, digits, (size_t)decpt);
            buf_printf(&b, ".%s", digits + decpt);
        }
    } else {
        buf_putc(&b, digits[0]);
        if (nd > 1) buf_printf(&b, ".%s", digits + 1);
        buf_printf(&b, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    return buf_steal(&b);
}

static json_t *tagged(const char *tag, char *text) {
    json_t *v = json_pack("{s:s}", tag, text);
    free(text);
    return v;
}

json_t *pm_resolve_type(const char *v) {
    if (!strcmp(v, "True")) return json_true();
    if (!strcmp(v, "False")) return json_false();
    if (!strcmp(v, "None")) return json_null();
    char *i = py_int(v);
    if (i) {
        errno = 0;
        char *end;
        long long ll = strtoll(i, &end, 10);
        if (!errno && !*end) {
            free(i);
            return json_integer(ll);
        }
        return tagged("$int", i);
    }
    double d;
    if (py_float(v, &d)) return tagged("$float", py_float_repr(d));
    return pm_string(v);
}

/* ---- YAML through the kernel's Python (PyYAML, as papermill) ----------------------- */

static const char yaml_script[] =
    "import sys, json, base64, yaml\n"
    "class L(yaml.SafeLoader): pass\n"
    "L.yaml_implicit_resolvers = {k: [r for r in v if r[0] != 'tag:yaml.org,2002:timestamp']\n"
    "    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}\n"
    "def enc(v):\n"
    "    if v is None or isinstance(v, (bool, str)): return v\n"
    "    if isinstance(v, int): return v if -2**63 <= v < 2**63 else {'$int': str(v)}\n"
    "    if isinstance(v, float): return {'$float': repr(v)}\n"
    "    if isinstance(v, dict): return {str(k): enc(x) for k, x in v.items()}\n"
    "    if isinstance(v, list): return [enc(x) for x in v]\n"
    "    return {'$str': str(v)}\n"
    "out = {}\n"
    "a = sys.argv[1:]\n"
    "for kind, text in zip(a[::2], a[1::2]):\n"
    "    try:\n"
    "        src = base64.b64decode(text) if kind == 'b' else open(text).read() if kind == 'f' else text\n"
    "        d = yaml.load(src, Loader=L) or {}\n"
    "    except Exception as e:\n"
    "        sys.exit('%s: %s' % (text if kind == 'f' else 'parameters', str(e).replace(chr(10), ' ')))\n"
    "    if not isinstance(d, dict): sys.exit('%s: parameters must be a YAML mapping' % (text if kind == 'f' else repr(text)))\n"
    "    out.update(d)\n"
    "sys.stdout.write(json.dumps(enc(out)))\n";

/* Runs argv, returns its stdout (new string) and exit status in *status. */
static char *run_capture(char *const argv[], int *status) {
    int fd[2];
    if (pipe(fd) < 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    buf b;
    buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd[0], chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) buf_append(&b, chunk, (size_t)n);
    close(fd[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    return buf_steal(&b);
}

int pm_load_yaml(const char *python, const strvec *b64, const strvec *files, const strvec *yamls, json_t *params,
                 char *err, size_t errlen) {
    if (!b64->n && !files->n && !yamls->n) return 0;
    strvec argv = {0};
    strvec_push(&argv, python);
    strvec_push(&argv, "-c");
    strvec_push(&argv, yaml_script);
    const strvec *srcs[] = {b64, files, yamls};
    const char *kinds[] = {"b", "f", "y"};
    for (size_t s = 0; s < 3; s++)
        for (size_t i = 0; i < srcs[s]->n; i++) {
            strvec_push(&argv, kinds[s]);
            strvec_push(&argv, srcs[s]->v[i]);
        }
    strvec_push_owned(&argv, NULL);
    argv.n--;
    int status = 0;
    char *out = run_capture(argv.v, &status);
    strvec_free(&argv);
    json_t *j = out && WIFEXITED(status) && !WEXITSTATUS(status) ? json_loads(out, 0, NULL) : NULL;
    free(out);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "cannot read YAML parameters with %s (it needs PyYAML; the reason is above)", python);
        json_decref(j);
        return -1;
    }
    json_object_update(params, j);
    json_decref(j);
    return 0;
}

/* ---- the injected cell: papermill's PythonTranslator --------------------------------- */

/* str.encode('unicode_escape').decode() with '"' -> '\"', without the
 * quotes. Bytes that are not UTF-8 are what Python's surrogateescape makes
 * of a command-line argument: U+DC80..U+DCFF, written \udcXX. */
static void escape_str(buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len = 1;
        int bad = c >= 0x80;
        if (c >= 0xc2 && c < 0xf5) { /* a UTF-8 sequence, if complete and not overlong */
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            unsigned cp = c & (0x3f >> (need - 1));
            size_t i = 1;
            for (; i < need && (p[i] & 0xc0) == 0x80; i++) cp = (cp << 6) | (p[i] & 0x3f);
            unsigned min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
            if (i == need && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff)) {
                c = cp;
                len = need;
                bad = 0;
            }
        }
        if (bad) buf_printf(b, "\\udc%02x", c);
        else if (c == '\\') buf_puts(b, "\\\\");
        else if (c == '\n') buf_puts(b, "\\n");
        else if (c == '\t') buf_puts(b, "\\t");
        else if (c == '\r') buf_puts(b, "\\r");
        else if (c == '"') buf_puts(b, "\\\"");
        else if (c >= 0x20 && c < 0x7f) buf_putc(b, (char)c);
        else if (c < 0x100) buf_printf(b, "\\x%02x", c);
        else if (c < 0x10000) buf_printf(b, "\\u%04x", c);
        else buf_printf(b, "\\U%08x", c);
        p += len;
    }
}

/* translate_escaped_str: the escaped string in double quotes. */
static void translate_str(buf *b, const char *s) {
    buf_putc(b, '"');
    escape_str(b, s);
    buf_putc(b, '"');
}

json_t *pm_string(const char *s) {
    json_t *v = json_string(s);
    if (v) return v;
    buf b;
    buf_init(&b);
    escape_str(&b, s);
    v = json_pack("{s:s}", "$str", b.data);
    buf_free(&b);
    return v;
}

static void translate(buf *b, json_t *v) {
    json_t *f = json_object_get(v, "$float"), *i = json_object_get(v, "$int"), *s = json_object_get(v, "$str");
    if (json_is_null(v)) buf_puts(b, "None");
    else if (json_is_true(v)) buf_puts(b, "True");
    else if (json_is_false(v)) buf_puts(b, "False");
    else if (json_is_integer(v)) buf_printf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) {
        char *r = py_float_repr(json_real_value(v));
        buf_puts(b, r);
        free(r);
    } else if (json_is_string(v)) translate_str(b, json_string_value(v));
    else if (json_is_string(i)) buf_puts(b, json_string_value(i));
    else if (json_is_string(s)) buf_printf(b, "\"%s\"", json_string_value(s));
    else if (json_is_string(f)) {
        const char *r = json_string_value(f);
        if (!strcmp(r, "nan")) buf_puts(b, "float('nan')");
        else if (!strcmp(r, "inf")) buf_puts(b, "float('inf')");
        else if (!strcmp(r, "-inf")) buf_puts(b, "float('-inf')");
        else buf_puts(b, r);
    } else if (json_is_array(v)) {
        buf_putc(b, '[');
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x) {
            if (k) buf_puts(b, ", ");
            translate(b, x);
        }
        buf_putc(b, ']');
    } else if (json_is_object(v)) {
        buf_putc(b, '{');
        const char *key;
        json_t *x;
        int first = 1;
        json_object_foreach(v, key, x) {
            if (!first) buf_puts(b, ", ");
            first = 0;
            translate_str(b, key);
            buf_puts(b, ": ");
            translate(b, x);
        }
        buf_putc(b, '}');
    }
}

char *pm_codify(json_t *params) {
    buf b;
    buf_init(&b);
    buf_puts(&b, "# Parameters\n");
    const char *name;
    json_t *v;
    json_object_foreach(params, name, v) {
        buf_printf(&b, "%s = ", name);
        translate(&b, v);
        buf_putc(&b, '\n');
    }
    return buf_steal(&b);
}

json_t *pm_metadata_value(json_t *v) {
    json_t *f = json_object_get(v, "$float"), *i = json_object_get(v, "$int"), *s = json_object_get(v, "$str");
    if (json_is_string(f)) {
        double d = strtod(json_string_value(f), NULL);
        return isfinite(d) ? json_real(d) : json_null();
    }
    if (json_is_string(i)) return json_real(strtod(json_string_value(i), NULL));
    if (json_is_string(s)) return json_incref(s);
    if (json_is_array(v)) {
        json_t *r = json_array();
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x) json_array_append_new(r, pm_metadata_value(x));
        return r;
    }
    if (json_is_object(v)) {
        json_t *r = json_object();
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) json_object_set_new(r, key, pm_metadata_value(x));
        return r;
    }
    return json_incref(v);
}

/* pm_metadata_value of a value it consumes. */
static json_t *pm_metadata_value_new(json_t *v) {
    json_t *r = pm_metadata_value(v);
    json_decref(v);
    return r;
}

/* ---- the notebook ------------------------------------------------------------------ */

static json_t *cell_metadata(nb *n, size_t i) {
    json_t *c = nb_cell_json(n, i), *md = json_object_get(c, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(c, "metadata", md);
    }
    return md;
}

static void hide_source(nb *n, size_t i) {
    json_t *md = cell_metadata(n, i), *j = json_object_get(md, "jupyter");
    if (!json_is_object(j)) {
        j = json_object();
        json_object_set_new(md, "jupyter", j);
    }
    json_object_set_new(j, "source_hidden", json_true());
}

void pm_inject(nb *n, json_t *params, int report_mode) {
    char *src = pm_codify(params);
    size_t at = nb_ncells(n), where = 0;
    for (size_t i = 0; i < nb_ncells(n) && at == nb_ncells(n); i++)
        if (nb_cell_has_tag(n, i, "injected-parameters")) at = i;
    if (at < nb_ncells(n)) {
        nb_set_source(n, at, src);
    } else {
        for (size_t i = 0; i < nb_ncells(n); i++)
            if (nb_cell_has_tag(n, i, "parameters")) {
                where = i + 1;
                break;
            }
        const char *tags[] = {"injected-parameters", NULL};
        at = nb_insert_code(n, where, src, tags);
    }
    if (report_mode) hide_source(n, at);
    free(src);
}

static char *now_iso(void) {
    char t[48];
    time_iso8601(time_wall_us(), t, sizeof t);
    size_t l = strlen(t);
    if (l && t[l - 1] == 'Z') t[l - 1] = '\0';
    return xasprintf("%s+00:00", t);
}

/* "...Z" (nbclient) -> "...+00:00" (papermill, Python's isoformat). */
static json_t *iso_z(json_t *s) {
    if (!json_is_string(s)) return json_null();
    const char *v = json_string_value(s);
    size_t l = strlen(v);
    if (l && v[l - 1] == 'Z') return json_sprintf("%.*s+00:00", (int)(l - 1), v);
    return json_string(v);
}

static double iso_seconds(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    double frac = 0;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p && *p == '.') frac = strtod(p, NULL);
    return (double)timegm(&tm) + frac;
}

static json_t *pending(void) {
    return json_pack("{s:n,s:n,s:n,s:n,s:s}", "duration", "end_time", "exception", "start_time", "status", "pending");
}

void pm_start(nb *n, json_t *params, const char *in, const char *out, int report_mode) {
    json_t *md = json_object_get(nb_root(n), "metadata");
    json_t *pm = json_object_get(md, "papermill");
    if (!json_is_object(pm)) {
        pm = json_pack("{s:{},s:{},s:{},s:s}", "default_parameters", "parameters", "environment_variables", "version",
                       "floe " FLOE_VERSION);
        json_object_set_new(md, "papermill", pm);
    }
    if (json_object_size(params)) json_object_set_new(pm, "parameters", pm_metadata_value(params));
    char *t = now_iso();
    json_object_set_new(pm, "duration", json_null());
    json_object_set_new(pm, "end_time", json_null());
    json_object_set_new(pm, "exception", json_null());
    json_object_set_new(pm, "input_path", pm_metadata_value_new(pm_string(in)));
    json_object_set_new(pm, "output_path", pm_metadata_value_new(pm_string(out)));
    json_object_set_new(pm, "start_time", json_string(t));
    free(t);
    for (size_t i = 0; i < nb_ncells(n); i++) {
        json_t *cmd = cell_metadata(n, i);
        json_object_set_new(cmd, "papermill", pending());
        if (!json_is_array(json_object_get(cmd, "tags"))) json_object_set_new(cmd, "tags", json_array());
        if (report_mode && nb_cell_kind(n, i) == NB_CODE) hide_source(n, i);
    }
}

/* 1 when the cell has an error output, 2 when it is not papermill's clean
 * exit (SystemExit with no value or 0: the run stops but succeeds). */
static int cell_error(json_t *cell) {
    size_t k;
    json_t *o;
    int err = 0;
    json_array_foreach(json_object_get(cell, "outputs"), k, o) {
        if (strcmp(json_string_value(json_object_get(o, "output_type")) ?: "", "error")) continue;
        const char *en = json_string_value(json_object_get(o, "ename")) ?: "";
        const char *ev = json_string_value(json_object_get(o, "evalue")) ?: "";
        if (!strcmp(en, "SystemExit") && (!*ev || !strcmp(ev, "0"))) err = 1;
        else return 2;
    }
    return err;
}

void pm_remove_error_markers(nb *n) {
    for (size_t i = nb_ncells(n); i-- > 0;)
        if (nb_cell_has_tag(n, i, "papermill-error-cell-tag")) nb_remove_cell(n, i);
}

static void set_cell(json_t *pmc, json_t *start, json_t *end, int failed) {
    json_object_set_new(pmc, "start_time", iso_z(start));
    json_object_set_new(pmc, "end_time", iso_z(end));
    json_object_set_new(pmc, "duration", json_is_string(start) && json_is_string(end)
                                             ? json_real(iso_seconds(json_string_value(end)) -
                                                         iso_seconds(json_string_value(start)))
                                             : json_null());
    json_object_set_new(pmc, "exception", json_boolean(failed));
    json_object_set_new(pmc, "status", json_string(failed ? "failed" : "completed"));
}

/* papermill's two error-marker cells: a banner first, an anchor before the
 * failed cell (at index `at`, with execution count `count`). */
static void add_error_markers(nb *n, size_t at, json_t *count) {
    json_t *cells = json_object_get(nb_root(n), "cells");
    const char *style =
        "style=\"color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;\"";
    char *c = json_is_integer(count) ? xasprintf("%lld", (long long)json_integer_value(count)) : xstrdup("None");
    char *banner = xasprintf("<span %s>An Exception was encountered at '<a href=\"#papermill-error-cell\">In [%s]</a>'"
                             ".</span>",
                             style, c);
    char *anchor = xasprintf("<span id=\"papermill-error-cell\" %s>Execution using papermill encountered an exception "
                             "here and stopped:</span>",
                             style);
    json_t *a = json_pack("{s:s,s:s,s:{s:[s]},s:s}", "cell_type", "markdown", "id", "papermill-error-anchor",
                          "metadata", "tags", "papermill-error-cell-tag", "source", anchor);
    json_t *b = json_pack("{s:s,s:s,s:{s:[s]},s:s}", "cell_type", "markdown", "id", "papermill-error-banner",
                          "metadata", "tags", "papermill-error-cell-tag", "source", banner);
    json_array_insert_new(cells, at, a);
    json_array_insert_new(cells, 0, b);
    free(c);
    free(banner);
    free(anchor);
}

int pm_finish(nb *n, int final) {
    json_t *pm = json_object_get(json_object_get(nb_root(n), "metadata"), "papermill");
    json_t *last_end = json_object_get(pm, "start_time");
    int failed = 0, raised = 0;
    size_t fail_at = 0;
    json_t *fail_count = NULL;
    for (size_t i = 0; i < nb_ncells(n); i++) {
        json_t *cell = nb_cell_json(n, i), *pmc = json_object_get(cell_metadata(n, i), "papermill");
        if (!json_is_object(pmc)) continue;
        json_t *ex = json_object_get(cell_metadata(n, i), "execution");
        json_t *start = json_object_get(ex, "iopub.status.busy"), *end = json_object_get(ex, "iopub.status.idle");
        if (failed) continue; /* papermill leaves the cells after a failure pending */
        int err = nb_cell_kind(n, i) == NB_CODE && !nb_cell_has_tag(n, i, "raises-exception") ? cell_error(cell) : 0;
        if (json_is_string(start) && json_is_string(end)) {
            set_cell(pmc, start, end, err > 0);
            last_end = end;
        } else if (final || nb_cell_kind(n, i) != NB_CODE) {
            /* markdown, raw and skipped cells: papermill passes them at once */
            json_t *t = json_is_string(last_end) ? json_string(json_string_value(last_end)) : NULL;
            if (t && strstr(json_string_value(t), "+00:00")) {
                json_object_set_new(pmc, "start_time", json_incref(t));
                json_object_set_new(pmc, "end_time", json_incref(t));
                json_object_set_new(pmc, "duration", json_real(0));
                json_object_set_new(pmc, "exception", json_false());
                json_object_set_new(pmc, "status", json_string("completed"));
            } else if (t) {
                set_cell(pmc, t, t, 0);
            }
            json_decref(t);
        }
        if (err) {
            failed = 1;
            raised = err == 2;
            fail_at = i;
            fail_count = json_object_get(cell, "execution_count");
        }
    }
    if (!final) return raised;
    char *t = now_iso();
    json_t *st = json_object_get(pm, "start_time");
    json_object_set_new(pm, "end_time", json_string(t));
    if (json_is_string(st)) json_object_set_new(pm, "duration", json_real(iso_seconds(t) - iso_seconds(json_string_value(st))));
    json_object_set_new(pm, "exception", failed ? json_true() : json_null());
    free(t);
    if (raised) add_error_markers(n, fail_at, fail_count);
    return raised;
}
