/* cmd_artifact.c — `floe artifact` (placeholder until its issue lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_artifact(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "floe artifact: not available in this build yet\n");
    return 2;
}
