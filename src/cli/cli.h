/* cli.h — the subcommands of the floe command line. Each takes the argv
 * after the subcommand name (argv[0] is the subcommand) and returns the
 * process exit status: 0 ok, 1 a cell failed, 2 usage or input error.
 * Ownership: argv is borrowed; cli_find_python returns a new string. */
#ifndef FLOE_CLI_H
#define FLOE_CLI_H

int cmd_run(int argc, char **argv);
int cmd_deps(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_artifact(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_warm(int argc, char **argv);

/* The interpreter: --python (opt), then $FLOE_PYTHON, then python3 on PATH.
 * *how names the rule that chose it. Returns a new string, or NULL when the
 * chosen interpreter does not exist. */
char *cli_find_python(const char *opt, const char **how);

#define FLOE_VERSION "0.1.0"

#endif
