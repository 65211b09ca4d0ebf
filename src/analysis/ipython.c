/* ipython.c — IPython syntax in a cell, recognised before parsing.
 *
 * Lines that are not Python (`%magic`, `!cmd`, `x?`, `??x`) become `pass`
 * (keeping their indentation so blocks stay valid); `x = !cmd` and
 * `x = %magic` become `x = None` (a write of x). A first-line cell magic
 * decides what the body is: %%time/%%timeit/%%capture/%%prun: Python, kept;
 * %%bash, %%writefile, %%html... : not Python, dropped. Magics that touch
 * the namespace (%run, %store -r, %load, %reset, %pylab, unknown cell
 * magics) add an open-world reason. Line lengths are preserved where
 * possible so that tree-sitter's line numbers match the cell's. */
#include <string.h>

#include "analysis/analysis_internal.h"

static const char *const python_cell_magics[] = {"time", "timeit", "capture", "prun", "debug", "python",
                                                   "python3", "pypy", NULL};
static const char *const text_cell_magics[] = {"bash", "sh", "script", "writefile", "file", "html", "HTML",
                                                 "javascript", "js", "latex", "markdown", "svg", "perl",
                                                 "ruby", "sx", "system", "!", "ipython_display", NULL};
static const char *const ns_line_magics[] = {"run", "store", "load", "reset", "reset_selective", "pylab",
                                               "macro", "aimport", "autoreload", "load_ext", "xdel",
                                               "recall", "rerun", "cd", "pushd", "popd", "bookmark", "env", "set_env",
                                               "config", "who", "who_ls", "whos", "precision", NULL};

static int in_list(const char *const *list, const char *w, size_t n) {
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && !memcmp(list[i], w, n)) return 1;
    return 0;
}

static size_t word(const char *p) {
    size_t n = 0;
    while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9'))
        n++;
    return n;
}

static void open_world(an_cell *out, const char *what, const char *name, size_t n) {
    char *r = xasprintf("%s %.*s", what, (int)n, name);
    strvec_push_owned(&out->open_world, r);
}

/* Shell commands use files no audit hook sees: such a cell is a barrier,
 * after every earlier cell's file effects and before later file users. */
static const char *const shell_line_magics[] = {"system", "sx", "sc", NULL};
static const char *const shell_cell_magics[] = {"bash", "sh", "script", "sx", "system", "!", "perl", "ruby", NULL};

static void shell_command(an_cell *out) {
    for (size_t i = 0; i < out->open_world.n; i++)
        if (!strcmp(out->open_world.v[i], "runs shell commands")) return;
    strvec_push(&out->open_world, "runs shell commands");
}

/* Rewrites one line of IPython syntax into Python; appends to b. */
static void line_magic(buf *b, const char *line, size_t len, size_t code, an_cell *out) {
    size_t ind = 0;
    while (ind < len && (line[ind] == ' ' || line[ind] == '\t')) ind++;
    const char *p = line + ind;
    size_t rest = len - ind;
    /* x = !cmd / x = %magic */
    size_t w = word(p);
    if (w && w < rest) {
        size_t q = w;
        while (q < rest && p[q] == ' ') q++;
        if (q + 1 < rest && p[q] == '=' && p[q + 1] != '=') {
            size_t r = q + 1;
            while (r < rest && p[r] == ' ') r++;
            if (r < rest && (p[r] == '!' || p[r] == '%')) {
                if (p[r] == '%') {
                    size_t mw = word(p + r + 1);
                    if (in_list(ns_line_magics, p + r + 1, mw)) open_world(out, "magic %", p + r + 1, mw);
                    if (in_list(shell_line_magics, p + r + 1, mw)) shell_command(out);
                } else {
                    shell_command(out);
                }
                buf_append(b, line, ind + w);
                buf_puts(b, " = None");
                return;
            }
        }
    }
    if (rest && (p[0] == '%' || p[0] == '!')) {
        if (p[0] == '!') shell_command(out);
        if (p[0] == '%' && rest > 1 && p[1] != '%') {
            size_t mw = word(p + 1);
            if (in_list(ns_line_magics, p + 1, mw)) open_world(out, "magic %", p + 1, mw);
            if (in_list(shell_line_magics, p + 1, mw)) shell_command(out);
            /* %time / %timeit STATEMENT: the statement is Python */
            if ((mw == 4 && !memcmp(p + 1, "time", 4)) || (mw == 6 && !memcmp(p + 1, "timeit", 6))) {
                size_t s = 1 + mw;
                while (s < rest && p[s] == ' ') s++;
                if (mw == 6)
                    while (s < rest && p[s] == '-') { /* options like -n 10 -r 3 */
                        while (s < rest && p[s] != ' ') s++;
                        while (s < rest && p[s] == ' ') s++;
                        if (s < rest && p[s] >= '0' && p[s] <= '9') {
                            while (s < rest && p[s] != ' ') s++;
                            while (s < rest && p[s] == ' ') s++;
                        }
                    }
                if (s < rest) {
                    buf_append(b, line, ind);
                    buf_append(b, p + s, rest - s);
                    return;
                }
            }
        }
        buf_append(b, line, ind);
        buf_puts(b, "pass");
        return;
    }
    /* help syntax: x?, x??, ?x, ??x (a `?` in a comment is not help) */
    size_t cr = code > ind ? code - ind : 0;
    while (cr && (p[cr - 1] == ' ' || p[cr - 1] == '\t' || p[cr - 1] == '\r')) cr--;
    if (rest && (p[0] == '?' || (cr && p[cr - 1] == '?'))) {
        buf_append(b, line, ind);
        buf_puts(b, "pass");
        return;
    }
    buf_append(b, line, len);
}

/* Handles a leading %%cell magic; returns how many bytes of src it used
 * (the magic line) and sets *python to whether the body is Python. */
static size_t cell_magic(const char *src, size_t len, an_cell *out, int *python, buf *b) {
    *python = 1;
    size_t i = 0;
    while (i < len && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r')) i++;
    if (i + 2 > len || src[i] != '%' || src[i + 1] != '%') return 0;
    const char *name = src + i + 2;
    size_t n = word(name);
    if (n == 0 && i + 2 < len && name[0] == '!') n = 1;
    const char *nl = memchr(src + i, '\n', len - i);
    size_t end = nl ? (size_t)(nl - src) : len;
    if (in_list(python_cell_magics, name, n)) {
        /* %%capture NAME binds NAME */
        if (n == 7 && !memcmp(name, "capture", 7)) {
            const char *a = name + n;
            while (a < src + end && *a == ' ') a++;
            while (a < src + end && *a == '-') {
                while (a < src + end && *a != ' ') a++;
                while (a < src + end && *a == ' ') a++;
            }
            size_t vw = word(a);
            if (vw && a + vw <= src + end) strvec_push_owned(&out->writes, xstrndup(a, vw));
        }
    } else if (in_list(text_cell_magics, name, n)) {
        *python = 0;
        if (in_list(shell_cell_magics, name, n)) shell_command(out);
    } else {
        *python = 0;
        open_world(out, "cell magic %%", name, n);
    }
    /* keep line numbering: the magic line becomes empty */
    for (size_t k = 0; k < end; k++)
        if (src[k] == '\n') buf_putc(b, '\n');
    return end;
}

/* Python's lexical state between physical lines: open brackets, an open
 * string (quote char, triple or not) and a trailing backslash. IPython
 * only recognises its syntax at the start of a logical line, so a `%` or
 * `!` that continues an expression inside brackets, or a line inside a
 * string, is Python and left alone. */
typedef struct lexstate {
    int depth;      /* open ( [ { */
    char quote;     /* open string's quote, or 0 */
    int triple;     /* the open string is triple-quoted */
    int backslash;  /* the line ended with a continuation backslash */
} lexstate;

static int logical_start(const lexstate *st) { return !st->depth && !st->quote && !st->backslash; }

/* Advances st over one physical line; returns the length of the line
 * before a comment (the code part). */
static size_t lex_line(lexstate *st, const char *line, size_t ll) {
    size_t code = ll;
    st->backslash = 0;
    for (size_t k = 0; k < ll; k++) {
        char c = line[k];
        if (st->quote) {
            if (c == '\\') {
                k++; /* an escaped char never closes the string */
            } else if (c == st->quote) {
                if (!st->triple) st->quote = 0;
                else if (k + 2 < ll && line[k + 1] == c && line[k + 2] == c) {
                    st->quote = 0;
                    k += 2;
                }
            }
            continue;
        }
        if (c == '#') {
            code = k;
            break;
        }
        if (c == '"' || c == '\'') {
            st->quote = c;
            st->triple = k + 2 < ll && line[k + 1] == c && line[k + 2] == c;
            if (st->triple) k += 2;
        } else if (c == '(' || c == '[' || c == '{') {
            st->depth++;
        } else if ((c == ')' || c == ']' || c == '}') && st->depth > 0) {
            st->depth--;
        } else if (c == '\\' && k + 1 == ll) {
            st->backslash = 1;
        }
    }
    /* a single-quoted string cannot span lines (unless continued) */
    if (st->quote && !st->triple && !(ll && line[ll - 1] == '\\')) st->quote = 0;
    if (st->quote && !st->triple) st->backslash = 1;
    return code;
}

char *an_ipython_to_python(const char *src, size_t len, an_cell *out) {
    buf b;
    buf_init(&b);
    int python;
    size_t pos = cell_magic(src, len, out, &python, &b);
    if (!python) {
        /* the body is not Python: keep only the newlines */
        for (size_t k = pos; k < len; k++)
            if (src[k] == '\n') buf_putc(&b, '\n');
        return buf_steal(&b);
    }
    lexstate st = {0};
    while (pos < len) {
        const char *line = src + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        int start = logical_start(&st);
        size_t code = lex_line(&st, line, ll);
        if (start) line_magic(&b, line, ll, code, out);
        else buf_append(&b, line, ll);
        if (nl) buf_putc(&b, '\n');
        pos += ll + (nl ? 1 : 0);
    }
    return buf_steal(&b);
}
