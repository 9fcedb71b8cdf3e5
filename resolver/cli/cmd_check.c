/*
 * `erdns check -c FILE`: full validation (zones and resolv.conf files
 * included, exactly what serve and reload do) and a one-screen summary.
 */
#include "cli/cli.h"
#include "config/config.h"

#define CHECK_USAGE "erdns check [-c FILE]"

int cmd_check(int argc, char **argv)
{
	const char *path;
	int rc = cli_parse_common(argc, argv, CHECK_USAGE, &path, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error(CHECK_USAGE, "check: unexpected argument \"%s\"", argv[optind]);
	config_t *c = cli_load_config(path);
	if (c == NULL)
		return ER_EXIT_INVALID;
	config_print_summary(c, stdout);
	printf("%s: configuration OK\n", c->path);
	config_unref(c);
	return ER_EXIT_OK;
}
