/*
 * `erdns pac -c FILE --proxy "PROXY host:port" [--direct GROUP,...]`: a PAC
 * file whose DIRECT set is exactly the names DNS routes to a chain starting
 * with one of GROUPs (default: the first group of every m365 route's via);
 * everything else, local zones included, goes to the proxy (routing/pac.c).
 *
 * --proxy has no default, although SPEC 1 shows it optional: any made-up
 * default ("PROXY proxy:8080") would publish a PAC file that breaks every
 * browser on a network without that host, and "DIRECT" would make the file
 * pointless. Leaving it out is a usage error (exit 2) that says what to add.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "routing/m365.h"
#include "routing/pac.h"

#define PAC_USAGE                                                                                  \
	"erdns pac [-c FILE] --proxy \"PROXY host:port\" [--direct GROUP,...]\n"                   \
	"  DIRECT: names routed to a chain that starts with GROUP (default: the first\n"           \
	"  group of every m365 route's via); all other names: the --proxy value"

enum { OPT_PROXY = 256, OPT_DIRECT, OPT_VERSION };

struct pac_opts {
	const char *config, *proxy, *direct;
};

static int parse_args(int argc, char **argv, struct pac_opts *o)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"proxy", required_argument, NULL, OPT_PROXY},
	    {"direct", required_argument, NULL, OPT_DIRECT},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	*o = (struct pac_opts){.config = ER_CONFIG_DEFAULT_PATH};
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		if (opt == 'c')
			o->config = optarg;
		else if (opt == OPT_PROXY)
			o->proxy = optarg;
		else if (opt == OPT_DIRECT)
			o->direct = optarg;
		else if (opt == 'h')
			return printf("usage: %s\n", PAC_USAGE) < 0 ? ER_EXIT_INVALID : ER_EXIT_OK;
		else if (opt == OPT_VERSION)
			return printf("erdns %s\n", ERDNS_VERSION) < 0 ? ER_EXIT_INVALID
								       : ER_EXIT_OK;
		else
			return cli_usage_error(PAC_USAGE,
					       "pac: unknown or incomplete option \"%s\"",
					       argv[optind - 1]);
	}
	if (optind < argc)
		return cli_usage_error(PAC_USAGE, "pac: unexpected argument \"%s\"", argv[optind]);
	if (o->proxy == NULL)
		return cli_usage_error(PAC_USAGE, "pac: --proxy is required, e.g. --proxy "
						  "\"PROXY proxy.example:8080; DIRECT\"");
	if (pac_proxy_check(o->proxy) != 0)
		return cli_usage_error(PAC_USAGE,
				       "pac: --proxy \"%s\" is not a PAC result (\"PROXY "
				       "host:port\", \"SOCKS5 host:port\", \"DIRECT\", "
				       "joined by \"; \")",
				       o->proxy);
	return -1;
}

/* Marks the groups named in list ("hq,hq-eu"); 0, or -1 after a message. */
static int groups_from_list(const config_t *c, const char *list, bool *is_group)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy != NULL ? 0 : -1;
	for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; rc == 0 && tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int g = config_group_index(c, tok);
		if (g < 0) {
			fprintf(stderr, "erdns: pac: --direct: unknown upstream group \"%s\"\n",
				tok);
			rc = -1;
		} else {
			is_group[g] = true;
		}
	}
	free(copy);
	return rc;
}

static int groups_from_m365(const config_t *c, bool *is_group)
{
	if (c->n_m365 == 0) {
		fprintf(stderr,
			"erdns: pac: %s has no m365 route; name the DIRECT groups with "
			"--direct GROUP,...\n",
			c->path);
		return -1;
	}
	for (size_t i = 0; i < c->n_m365; i++)
		is_group[c->chains[c->m365[i].chain].groups[0]] = true;
	return 0;
}

static void describe_groups(const config_t *c, const bool *is_group, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t g = 0; g < c->n_groups && used < len; g++) {
		if (is_group[g])
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
						 c->groups[g].name);
	}
}

static int write_pac(const config_t *c, const struct pac_opts *o, const bool *is_group)
{
	bool *is_direct = calloc(c->n_chains + 1, sizeof(*is_direct));
	const char **zones = calloc(zoneset_count(c->zones) + 1, sizeof(*zones));
	char groups[512], comment[1024];
	int rc = -1;
	if (is_direct != NULL && zones != NULL) {
		for (size_t i = 0; i < c->n_chains; i++)
			is_direct[i] = is_group[c->chains[i].groups[0]];
		for (size_t i = 0; i < zoneset_count(c->zones); i++)
			zones[i] = zoneset_apex_text(c->zones, i);
		describe_groups(c, is_group, groups, sizeof(groups));
		snprintf(comment, sizeof(comment), "from %s: DIRECT = names routed to %s", c->path,
			 groups);
		pac_args_t args = {
		    .rules = router_rules_const(c->router, -1),
		    .is_direct = is_direct,
		    .n_actions = c->n_chains,
		    .is_default_direct = is_direct[c->default_chain],
		    .proxy = o->proxy,
		    .local_zones = zones,
		    .n_local_zones = zoneset_count(c->zones),
		    .comment = comment,
		};
		rc = pac_write(&args, stdout);
	}
	if (rc != 0 || fflush(stdout) != 0)
		fprintf(stderr, "erdns: pac: cannot write the PAC file\n");
	free(is_direct);
	free(zones);
	return rc == 0 ? ER_EXIT_OK : ER_EXIT_INVALID;
}

int cmd_pac(int argc, char **argv)
{
	struct pac_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	config_t *c = cli_load_config(o.config);
	if (c == NULL)
		return ER_EXIT_INVALID;
	bool *is_group = calloc(c->n_groups + 1, sizeof(*is_group));
	int status = ER_EXIT_INVALID;
	if (is_group == NULL)
		fprintf(stderr, "erdns: pac: out of memory\n");
	else if ((o.direct ? groups_from_list(c, o.direct, is_group)
			   : groups_from_m365(c, is_group)) == 0)
		status = write_pac(c, &o, is_group);
	free(is_group);
	config_unref(c);
	return status;
}
