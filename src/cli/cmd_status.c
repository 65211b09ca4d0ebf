/* cmd_status.c — `floe status` (placeholder until its issue lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_status(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe status: not available in this build yet\n");
    return 2;
}
