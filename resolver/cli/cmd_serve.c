/*
 * `erdns serve -c FILE`: foreground server, logs to stderr (systemd style).
 */
#include "cli/cli.h"
#include "config/config.h"
#include "server/server.h"
#include "util/log.h"

#define SERVE_USAGE "erdns serve [-c FILE]"

int cmd_serve(int argc, char **argv)
{
	const char *path;
	int rc = cli_parse_common(argc, argv, SERVE_USAGE, &path, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error(SERVE_USAGE, "serve: unexpected argument \"%s\"", argv[optind]);
	config_t *c = cli_load_config(path);
	if (c == NULL)
		return ER_EXIT_INVALID;
	log_set_level(c->log_level);
	return server_run(c);
}
