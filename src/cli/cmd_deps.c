/* cmd_deps.c — `floe deps` (placeholder until its issue lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_deps(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe deps: not available in this build yet\n");
    return 2;
}
