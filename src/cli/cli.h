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
int cmd_kernel(int argc, char **argv);

/* The interpreter: --python (opt), then $FLOE_PYTHON, then python3 on PATH.
 * *how names the rule that chose it. Returns a new string, or NULL when the
 * chosen interpreter does not exist. */
char *cli_find_python(const char *opt, const char **how);
/* prog found through PATH (new string), or NULL. */
char *cli_search_path(const char *prog);

struct kspec;
/* The interpreter of a run (*python, new string), and in `how` why it was
 * chosen: --python, $FLOE_PYTHON, else the kernelspec of -k (opt_kernel),
 * else of the notebook (nb_kernel), else python3. *k gets the kernelspec
 * when one was resolved (kspec_free it either way). Returns 0, or 2 with a
 * one-line message in err (unknown kernel, not Python, no interpreter). */
int cli_pick_python(const char *opt_python, const char *opt_kernel, const char *nb_kernel, struct kspec *k,
                    char **python, char *how, size_t howlen, char *err, size_t errlen);
int cmd_kernels(int argc, char **argv);

struct nb;
/* The notebook's metadata.kernelspec.name (borrowed), or NULL. */
const char *cli_nb_kernel_name(struct nb *n);

/* Where floe_kernel lives: $FLOE_HOME/python, or ../python beside the
 * binary. Returns a new string or NULL. */
char *cli_find_pythonpath(void);

#define FLOE_VERSION "0.1.0"

#endif
