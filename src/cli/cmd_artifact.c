/* cmd_artifact.c — `floe artifact`: the artifacts a run kept (--keep-run
 * DIR), listed, and exported as files other tools open (Arrow IPC for data
 * frames: pyarrow, arrow-js, DuckDB, polars...). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "store/arrow.h"
#include "util/util.h"

static const char *USAGE =
    "usage: floe artifact list --run DIR\n"
    "       floe artifact export NAME --run DIR -o OUT.arrow [--version N]\n"
    "\n"
    "DIR is the directory given to `floe run --keep-run DIR`. `list` shows every\n"
    "artifact version (name, version, codec, bytes). `export` writes the latest\n"
    "version of NAME (or version N) to OUT after checking it: data frames and\n"
    "series are Arrow IPC files (Feather v2) that any Arrow tool reads.\n";

typedef struct art { char *file, *name, *ext; long version; long long bytes; } art;

static int cmp_art(const void *a, const void *b) {
    const art *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

/* Artifact files are NAME@VERSION.EXT. */
static size_t scan(const char *dir, art **out) {
    DIR *d = opendir(dir);
    size_t n = 0;
    *out = NULL;
    if (!d) return (size_t)-1;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *at = strrchr(de->d_name, '@');
        if (!at || at == de->d_name) continue;
        char *end;
        long v = strtol(at + 1, &end, 10);
        if (end == at + 1 || *end != '.') continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            *out = xrealloc(*out, (n + 1) * sizeof **out);
            art *a = &(*out)[n++];
            a->file = path;
            a->name = xstrndup(de->d_name, (size_t)(at - de->d_name));
            a->ext = xstrdup(end + 1);
            a->version = v;
            a->bytes = (long long)st.st_size;
        } else {
            free(path);
        }
    }
    closedir(d);
    qsort(*out, n, sizeof **out, cmp_art);
    return n;
}

static void free_arts(art *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].file);
        free(a[i].name);
        free(a[i].ext);
    }
    free(a);
}

static const char *codec_of(const char *ext) {
    if (!strcmp(ext, "arrow")) return "arrow";
    if (!strcmp(ext, "pkl")) return "pickle";
    return ext;
}

static int export_one(const art *a, const char *out) {
    if (strcmp(a->ext, "arrow") != 0) {
        fprintf(stderr, "floe artifact: %s@%ld is stored with the %s codec, not as Arrow (only data frames and "
                        "series are); load it in Python with pickle\n", a->name, a->version, codec_of(a->ext));
        return 1;
    }
    size_t len;
    char *data = read_file(a->file, &len);
    if (!data) {
        fprintf(stderr, "floe artifact: cannot read %s: %s\n", a->file, strerror(errno));
        return 2;
    }
    arrow_table *t;
    char err[256];
    if (arrow_read((const uint8_t *)data, len, &t, err, sizeof err) < 0) {
        fprintf(stderr, "floe artifact: %s is not a valid Arrow file: %s\n", a->file, err);
        free(data);
        return 2;
    }
    printf("%s@%ld: %lld rows, %zu columns -> %s\n", a->name, a->version, (long long)t->nrows, t->ncols, out);
    arrow_table_free(t);
    int w = write_file_atomic(out, data, len, WRITE_DURABLE);
    free(data);
    if (w < 0) {
        fprintf(stderr, "floe artifact: cannot write %s: %s\n", out, strerror(-w));
        return 2;
    }
    return 0;
}

int cmd_artifact(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : NULL, *dir = NULL, *out = NULL, *name = NULL;
    long version = -1;
    if (!verb || !strcmp(verb, "-h") || !strcmp(verb, "--help")) {
        fputs(USAGE, verb ? stdout : stderr);
        return verb ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--run") && has) dir = argv[++i];
        else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && has) out = argv[++i];
        else if (!strcmp(argv[i], "--version") && has) version = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !name) name = argv[i];
        else {
            fprintf(stderr, "floe artifact: unexpected argument '%s'\n%s", argv[i], USAGE);
            return 2;
        }
    }
    int list = !strcmp(verb, "list");
    if ((!list && strcmp(verb, "export") != 0) || !dir || (!list && (!name || !out))) {
        fputs(USAGE, stderr);
        return 2;
    }
    art *arts;
    size_t n = scan(dir, &arts);
    if (n == (size_t)-1) {
        fprintf(stderr, "floe artifact: cannot open %s: %s (keep a run's artifacts with floe run --keep-run DIR)\n",
                dir, strerror(errno));
        return 2;
    }
    int rc = 0;
    if (list) {
        printf("%-24s %8s %-7s %12s\n", "name", "version", "codec", "bytes");
        for (size_t i = 0; i < n; i++)
            printf("%-24s %8ld %-7s %12lld\n", arts[i].name, arts[i].version, codec_of(arts[i].ext), arts[i].bytes);
    } else {
        const art *best = NULL;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(arts[i].name, name) && (version < 0 || arts[i].version == version)) best = &arts[i];
        if (!best) {
            fprintf(stderr, "floe artifact: no artifact '%s'%s in %s\n", name, version >= 0 ? " at that version" : "",
                    dir);
            rc = 1;
        } else {
            rc = export_one(best, out);
        }
    }
    free_arts(arts, n);
    return rc;
}
