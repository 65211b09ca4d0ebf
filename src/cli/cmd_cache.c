/* cmd_cache.c — `floe cache`: size of, garbage collection of, and clearing
 * the result cache of a notebook directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/cache.h"
#include "util/util.h"

static const char cache_usage[] =
    "usage: floe cache [info|gc|clear] [--cache-dir DIR] [--max-size SIZE]\n"
    "\n"
    "  info              entries, objects and bytes in the cache (default)\n"
    "  gc --max-size S   drop least recently used entries until the artifacts\n"
    "                    take at most S bytes (suffixes K, M, G), then remove\n"
    "                    files no entry uses\n"
    "  clear             remove every entry and artifact\n"
    "  --cache-dir DIR   the cache (default: ./.floe)\n";

int cmd_cache(int argc, char **argv) {
    const char *verb = "info", *dir = ".floe";
    long long max = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(cache_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--max-size") && i + 1 < argc) {
            max = util_parse_size(argv[++i]);
            if (max < 0) {
                fprintf(stderr, "floe cache: bad size '%s' (e.g. 500M, 10G)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "info") || !strcmp(argv[i], "gc") || !strcmp(argv[i], "clear")) {
            verb = argv[i];
        } else {
            fprintf(stderr, "floe cache: unexpected argument '%s' (see floe cache --help)\n", argv[i]);
            return 2;
        }
    }
    if (!strcmp(verb, "gc") && max < 0) {
        fprintf(stderr, "floe cache gc: needs --max-size SIZE\n");
        return 2;
    }
    char err[512];
    cache *c;
    if (cache_open_ro(dir, &c, err, sizeof err) < 0) {
        fprintf(stderr, "floe cache: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (!strcmp(verb, "gc")) {
        long long freed = cache_gc(c, max);
        if (freed < 0) rc = 2;
        else printf("freed %lld bytes\n", freed);
    } else if (!strcmp(verb, "clear")) {
        rc = cache_clear(c) < 0 ? 2 : 0;
    }
    cache_stats st;
    if (rc == 0 && cache_stat(c, &st) == 0)
        printf("%s: %lld entries, %lld artifact files, %lld bytes\n", dir, (long long)st.entries,
               (long long)st.objects, (long long)st.bytes);
    cache_close(c);
    return rc;
}
