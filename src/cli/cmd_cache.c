/* cmd_cache.c — `floe cache` (placeholder until its issue lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_cache(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe cache: not available in this build yet\n");
    return 2;
}
