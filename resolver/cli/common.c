/*
 * Option handling shared by the subcommands: every command takes
 * -c/--config, --help and --version, so they behave the same everywhere.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"
#include "config/config.h"

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("erdns: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", usage);
	return ER_EXIT_USAGE;
}

int cli_parse_common(int argc, char **argv, const char *usage, const char **config_path,
		     const char **client_ip, bool *is_live)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' }, { "client", required_argument, NULL, 'C' },
		{ "live", no_argument, NULL, 'L' },	    { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { NULL, 0, NULL, 0 },
	};
	*config_path = ER_CONFIG_DEFAULT_PATH;
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*config_path = optarg;
			break;
		case 'C':
			if (client_ip == NULL)
				return cli_usage_error(usage, "%s: unknown option --client", argv[0]);
			*client_ip = optarg;
			break;
		case 'L':
			if (is_live == NULL)
				return cli_usage_error(usage, "%s: unknown option --live", argv[0]);
			*is_live = true;
			break;
		case 'h':
			printf("usage: %s\n", usage);
			return ER_EXIT_OK;
		case 'V':
			printf("erdns %s\n", ERDNS_VERSION);
			return ER_EXIT_OK;
		default:
			return cli_usage_error(usage, "%s: unknown or incomplete option \"%s\"",
					       argv[0], argv[optind - 1]);
		}
	}
	return -1;
}

struct config *cli_load_config(const char *path)
{
	char err[ER_CONFIG_ERR_MAX];
	config_t *c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "erdns: %s\n", err);
	return c;
}
