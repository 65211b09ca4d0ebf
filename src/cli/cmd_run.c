/* cmd_run.c — `floe run` (being written). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe run: not available in this build yet\n");
    return 2;
}
