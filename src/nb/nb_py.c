/* nb_py.c — percent-format Python scripts (`# %%` cells) to and from the
 * nbformat 4.5 document model.
 *
 * A line starting with `# %%` (or `#%%`) opens a cell; `[markdown]`/`[md]`
 * or `[raw]` after it sets the kind, `key=<json>` pairs (jupytext's form,
 * e.g. tags=["parameters"]) become cell metadata and any other text the
 * cell's title. Markdown lines lose their leading "# ". Text before the first
 * marker that is not blank is a code cell; a file without markers is one
 * code cell. Trailing blank lines of a cell are not part of its source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb/nb_internal.h"
#include "util/util.h"

typedef struct pcell {
    nb_cell_type kind;
    json_t *md;
    buf body;
} pcell;

static int is_marker(const char *line, size_t len, size_t *after) {
    size_t i = 0;
    if (len >= 4 && !memcmp(line, "# %%", 4)) i = 4;
    else if (len >= 3 && !memcmp(line, "#%%", 3)) i = 3;
    else return 0;
    if (i < len && line[i] == '%') return 0; /* "# %%%" is not a marker */
    *after = i;
    return 1;
}

/* Parses the text after "# %%": kind, key=json pairs, title. */
static void parse_marker(const char *s, size_t len, pcell *c) {
    c->kind = NB_CODE;
    c->md = json_object();
    size_t i = 0;
    while (i < len && s[i] == ' ') i++;
    if (i < len && s[i] == '[') {
        const char *close = memchr(s + i, ']', len - i);
        if (close) {
            size_t k = (size_t)(close - (s + i)) - 1;
            const char *w = s + i + 1;
            if ((k == 8 && !memcmp(w, "markdown", 8)) || (k == 2 && !memcmp(w, "md", 2))) c->kind = NB_MARKDOWN;
            else if (k == 3 && !memcmp(w, "raw", 3)) c->kind = NB_RAW;
            i = (size_t)(close - s) + 1;
        }
    }
    buf title;
    buf_init(&title);
    while (i < len) {
        while (i < len && s[i] == ' ') i++;
        size_t start = i;
        while (i < len && s[i] != ' ' && s[i] != '=') i++;
        if (i < len && s[i] == '=' && i > start) {
            json_error_t je;
            json_t *v = json_loadb(s + i + 1, len - i - 1, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
            if (v) {
                char *key = xstrndup(s + start, i - start);
                json_object_set_new(c->md, key, v);
                free(key);
                i += 1 + (size_t)je.position;
                continue;
            }
        }
        while (i < len && s[i] != ' ') i++;
        if (title.len) buf_putc(&title, ' ');
        buf_append(&title, s + start, i - start);
    }
    if (title.len) json_object_set_new(c->md, "title", json_string(title.data));
    buf_free(&title);
}

/* A line inside a cell that would read as a cell marker is escaped when
 * written, with one more backslash before its "%%": a markdown line
 * "%% x" is written "# \\%% x", a code line "# %% x" as "# \\%% x"; a line
 * that already had backslashes there gets one more. Reading removes one. */
static size_t escaped_at(const char *p, size_t len) {
    size_t k = 0;
    while (k < len && p[k] == '\\') k++;
    return k && k + 2 <= len && p[k] == '%' && p[k + 1] == '%' ? k : 0;
}

/* The offset after "# " or "#" of a comment line, or 0 if none. */
static size_t comment_prefix(const char *line, size_t len) {
    if (len >= 2 && line[0] == '#' && line[1] == ' ') return 2;
    if (len >= 1 && line[0] == '#') return 1;
    return 0;
}

/* Strips the comment prefix of a markdown line (and one escape). */
static void md_line(buf *b, const char *line, size_t len) {
    size_t p = comment_prefix(line, len);
    if (p && escaped_at(line + p, len - p)) p++;
    buf_append(b, line + p, len - p);
}

/* A code or raw line, unescaped. */
static void code_line(buf *b, const char *line, size_t len) {
    size_t p = comment_prefix(line, len);
    if (p && escaped_at(line + p, len - p)) {
        buf_append(b, line, p);
        buf_append(b, line + p + 1, len - p - 1);
    } else {
        buf_append(b, line, len);
    }
}

static void trim_trailing_blank(buf *b) {
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r')) b->len--;
    if (b->data) b->data[b->len] = '\0';
}

static int is_blank(const buf *b) {
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != ' ' && b->data[i] != '\n' && b->data[i] != '\t' && b->data[i] != '\r') return 0;
    return 1;
}

static json_t *make_cell(pcell *c, size_t idx, const char *name, char *err, size_t errlen) {
    trim_trailing_blank(&c->body);
    json_t *src = json_stringn(c->body.data ? c->body.data : "", c->body.len);
    if (!src) {
        snprintf(err, errlen, "%s: cell %zu: source is not valid UTF-8", name, idx);
        return NULL;
    }
    json_decref(src);
    json_t *o = json_object();
    static const char *kinds[] = {"code", "markdown", "raw"};
    json_object_set_new(o, "cell_type", json_string(kinds[c->kind]));
    if (c->kind == NB_CODE) json_object_set_new(o, "execution_count", json_null());
    char *id = xasprintf("cell-%zu", idx);
    json_object_set_new(o, "id", json_string(id));
    free(id);
    json_object_set(o, "metadata", c->md);
    if (c->kind == NB_CODE) json_object_set_new(o, "outputs", json_array());
    json_object_set_new(o, "source", nb_split_linesn(c->body.data ? c->body.data : "", c->body.len));
    return o;
}

static json_t *new_root(void) {
    json_t *root = json_object();
    json_t *md = json_object();
    json_t *ks = json_pack("{s:s,s:s,s:s}", "display_name", "Python 3", "language", "python", "name", "python3");
    json_object_set_new(md, "kernelspec", ks);
    json_object_set_new(md, "language_info", json_pack("{s:s}", "name", "python"));
    json_object_set_new(root, "cells", json_array());
    json_object_set_new(root, "metadata", md);
    json_object_set_new(root, "nbformat", json_integer(4));
    json_object_set_new(root, "nbformat_minor", json_integer(5));
    return root;
}

static int flush_cell(json_t *cells, pcell *c, const char *name, char *err, size_t errlen) {
    json_t *o = make_cell(c, json_array_size(cells), name, err, errlen);
    json_decref(c->md);
    buf_free(&c->body);
    if (!o) return -1;
    json_array_append_new(cells, o);
    return 0;
}

int nb_py_parse(const char *name, const char *data, size_t len, json_t **rootp, char *err, size_t errlen) {
    json_t *root = new_root();
    json_t *cells = json_object_get(root, "cells");
    pcell cur = {NB_CODE, json_object(), {NULL, 0, 0}};
    int seen_marker = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        size_t after;
        if (is_marker(line, ll, &after)) {
            if (seen_marker || !is_blank(&cur.body)) {
                if (flush_cell(cells, &cur, name, err, errlen) < 0) goto error;
            } else {
                json_decref(cur.md);
                buf_free(&cur.body);
            }
            seen_marker = 1;
            buf_init(&cur.body);
            parse_marker(line + after, ll - after, &cur);
        } else if (cur.kind == NB_MARKDOWN) {
            md_line(&cur.body, line, ll);
            buf_putc(&cur.body, '\n');
        } else {
            code_line(&cur.body, line, ll);
            buf_putc(&cur.body, '\n');
        }
        pos += ll + (nl ? 1 : 0);
    }
    if (seen_marker || !is_blank(&cur.body) || json_array_size(cells) == 0) {
        if (flush_cell(cells, &cur, name, err, errlen) < 0) goto error;
    } else {
        json_decref(cur.md);
        buf_free(&cur.body);
    }
    *rootp = root;
    return 0;
error:
    json_decref(root);
    return -1;
}

/* Words separated by single spaces, none of them key=value or a [kind]:
 * what parse_marker reads back as the same title. */
static int clean_title(const char *t, size_t len) {
    if (!len || strlen(t) != len || t[0] == ' ' || t[len - 1] == ' ' || t[0] == '[') return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == '=' || (c == ' ' && t[i + 1] == ' ')) return 0;
    }
    return 1;
}

/* A metadata key parse_marker reads back: letters, digits, '_', '-', '.'. */
static int clean_key(const char *k) {
    if (!*k) return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_' ||
              *k == '-' || *k == '.'))
            return 0;
    return 1;
}

static void dump_marker(buf *b, json_t *cell, nb_cell_type kind) {
    buf_puts(b, "# %%");
    if (kind == NB_MARKDOWN) buf_puts(b, " [markdown]");
    if (kind == NB_RAW) buf_puts(b, " [raw]");
    json_t *md = json_object_get(cell, "metadata");
    /* a title reads back as the words after the marker: one that would not
     * (blank, or holding a NUL or a line break) is not written */
    json_t *tj = json_object_get(md, "title");
    const char *title = json_string_value(tj);
    if (title && clean_title(title, json_string_length(tj))) buf_printf(b, " %s", title);
    const char *key;
    json_t *v;
    json_object_foreach(md, key, v) {
        if (!strcmp(key, "title") || !strcmp(key, "execution") || !clean_key(key)) continue;
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) buf_printf(b, " %s=%s", key, s);
        free(s);
    }
    buf_putc(b, '\n');
}

char *nb_dump_py(const nb *n) {
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < n->ncells; i++) {
        if (i) buf_putc(&b, '\n');
        dump_marker(&b, nb_cell_json(n, i), n->kind[i]);
        const char *s = n->src[i] ? n->src[i] : "";
        /* trailing blank lines are not part of a cell when read back */
        const char *end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == '\r')) end--;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
            size_t after, p;
            if (n->kind[i] == NB_MARKDOWN) {
                buf_puts(&b, ll ? "# " : "#");
                /* "%% x" would read as a marker, "\\%%" as an escaped one */
                if ((ll >= 2 && s[0] == '%' && s[1] == '%') || escaped_at(s, ll)) buf_putc(&b, '\\');
                buf_append(&b, s, ll);
            } else if ((p = comment_prefix(s, ll)) && (is_marker(s, ll, &after) || escaped_at(s + p, ll - p))) {
                buf_append(&b, s, p);
                buf_putc(&b, '\\');
                buf_append(&b, s + p, ll - p);
            } else {
                buf_append(&b, s, ll);
            }
            buf_putc(&b, '\n');
            s += ll + (nl ? 1 : 0);
        }
    }
    return buf_steal(&b);
}
