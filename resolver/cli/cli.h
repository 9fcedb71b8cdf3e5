/*
 * Subcommands of the one `erdns` binary (SPEC 1). Each returns the process
 * exit status: 0 ok, 1 bad input, 2 usage. argv[0] is the subcommand name.
 */
#ifndef ERDNS_CLI_CLI_H
#define ERDNS_CLI_CLI_H

#include <getopt.h> /* optind, left at the first positional argument */
#include <stdbool.h>
#include <stdio.h>

#define ER_EXIT_OK 0
#define ER_EXIT_INVALID 1
#define ER_EXIT_USAGE 2
#define ER_EXIT_CHANGED 3 /* `m365 diff`: the lists route differently; `m365 audit`: outside */
#define ER_EXIT_UNJUDGED 4 /* `erdns m365 audit`: some name could not be judged */

int cmd_serve(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_m365(int argc, char **argv);
/* `erdns m365 audit ...`: argv[0] is "audit" (cmd_m365 dispatches). */
int cmd_m365_audit(int argc, char **argv);
int cmd_pac(int argc, char **argv);
int cmd_ctl(int argc, char **argv);

/* Prints "erdns: MESSAGE" and the usage hint; returns ER_EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shared -c/--config, --help, --version handling (and --client IP and
 * --live where client_ip / is_live are non-NULL): returns -1 to go on,
 * or an exit status when the command is done (help/version/usage error).
 * *config_path defaults to ER_CONFIG_DEFAULT_PATH; optind is left at the
 * first positional argument. */
int cli_parse_common(int argc, char **argv, const char *usage, const char **config_path,
		     const char **client_ip, bool *is_live);
/* Loads the config or prints "erdns: MESSAGE"; NULL on failure. */
struct config *cli_load_config(const char *path);

#endif
