/*
 * erdns: one binary, subcommands (SPEC 1). Dispatch only.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define MAIN_USAGE                                                                          \
	"erdns COMMAND [OPTIONS]\n"                                                         \
	"  serve   [-c FILE]                     run the server in the foreground\n"       \
	"  check   [-c FILE]                     validate the configuration, print a summary\n" \
	"  explain [-c FILE] NAME [--client IP] [--live]  show how NAME is routed\n"        \
	"  m365 diff OLD.json NEW.json [filters] routing changes between two M365 lists\n" \
	"  m365 audit [-c FILE] [NAME...] [--json] are HQ's answers inside the ER prefixes?\n" \
	"  pac     [-c FILE] --proxy P [--direct G] a PAC file that agrees with DNS\n"      \
	"  ctl     [-s SOCKET] [--json] CMD [ARGS] talk to a running server (stats, reload,\n" \
	"          flush, upstreams, explain, cache-dump, health, reopen)\n"                 \
	"every command takes --help and --version; default FILE /etc/erdns/erdns.json"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "serve", cmd_serve },
	{ "check", cmd_check },
	{ "explain", cmd_explain },
	{ "m365", cmd_m365 },
	{ "pac", cmd_pac },
	{ "ctl", cmd_ctl },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(MAIN_USAGE, "missing command");
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		printf("usage: %s\n", MAIN_USAGE);
		return ER_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("erdns %s\n", ERDNS_VERSION);
		return ER_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	return cli_usage_error(MAIN_USAGE, "unknown command \"%s\"", cmd);
}
