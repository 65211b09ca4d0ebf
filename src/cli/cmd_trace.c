/* cmd_trace.c — `floe trace` (placeholder until its issue lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_trace(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe trace: not available in this build yet\n");
    return 2;
}
