/*
 * `erdns explain -c FILE NAME [--client IP]`: offline, the route NAME takes
 * for that client: view, deciding rule and its source, the chain, and each
 * group's servers. The first line is the same text the CHAOS routing check
 * returns (without the live upstream part), so the two never disagree.
 * For a name on an m365 route, the ExpressRoute audit it gets; with --live,
 * the running server's verdict on what it has cached (SPEC 3 `er=`).
 */
#include <stdio.h>
#include <string.h>

#include <errno.h>

#include "cli/cli.h"
#include "cli/live.h"
#include "config/config.h"
#include "config/describe.h"
#include "dns/dname.h"
#include "util/sockaddr.h"

#define EXPLAIN_USAGE "erdns explain [-c FILE] NAME [--client IP] [--live]"

static const char *const kind_names[] = {
	[RULE_EXACT] = "exact name",
	[RULE_GLOB] = "glob",
	[RULE_SUBTREE] = "name and subtree",
	[RULE_BELOW] = "names below",
};

static void print_chain(const config_t *c, const config_chain_t *chain)
{
	for (size_t i = 0; i < chain->n_groups; i++) {
		const config_group_t *g = &c->groups[chain->groups[i]];
		printf("  %zu. %-12s select=%s timeout_ms=%u servers=", i + 1, g->name,
		       select_policy_name(g->select), g->timeout_ms);
		for (size_t s = 0; s < g->n_servers; s++) {
			char addr[ER_SOCKADDR_TEXT_MAX];
			sockaddr_format((const struct sockaddr *)&g->servers[s], addr, sizeof(addr));
			printf("%s%s", s ? "," : "", addr);
		}
		printf("\n");
	}
}

static void print_explanation(const config_t *c, const char *name, const char *client_ip,
			      const route_description_t *d)
{
	char line[2048];
	describe_route_text(c, d, line, sizeof(line));
	printf("%s\n", line);
	printf("name:    %s\n", name);
	printf("client:  %s\n", client_ip ? client_ip : "(none: views not consulted)");
	if (d->is_local) {
		printf("answer:  local zone %s (authoritative)\n", d->zone);
		return;
	}
	printf("view:    %s\n", d->decision.view ? d->decision.view : "(none)");
	const rule_t *rule = d->decision.rule;
	char source[1024];
	describe_rule_source(rule, true, source, sizeof(source));
	if (rule) {
		printf("rule:    %s (%s)\n", ruleset_rule_text(rule), kind_names[rule->kind]);
		printf("source:  %s%s%s\n", source, rule->origin.detail ? " " : "",
		       rule->origin.detail ? rule->origin.detail : "");
	} else {
		printf("rule:    default (no rule matches)\n");
	}
	printf("via:     %s\n", d->chain->text);
	print_chain(c, d->chain);
	const config_m365_t *m = config_m365_of(c, rule);
	if (m != NULL)
		printf("audit:   %s: answers from %s judged against %zu IPv4 and %zu IPv6 "
		       "ExpressRoute prefixes of %s\n",
		       m->audit == ER_AUDIT_FALLBACK ? "fallback" : "observe",
		       c->groups[d->chain->groups[0]].name, prefixset_count(m->prefixes, AF_INET),
		       prefixset_count(m->prefixes, AF_INET6), m->route);
}

/* The `er=` word of a live routing answer, "" when it has none. */
static const char *live_er(const char *text, char *buf, size_t len)
{
	const char *er = strstr(text, " er=");
	snprintf(buf, len, "%s", er ? er + 4 : "");
	buf[strcspn(buf, " \"")] = '\0';
	return buf;
}

/* The running server's own answer: which server it would ask now, and its
 * RTT (SPEC 3 routing check). */
static int print_live(const config_t *c, const uint8_t *qname, const char *client_ip)
{
	char text[2048], addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&c->listen[0], addr, sizeof(addr));
	int rc = live_route(c, qname, text, sizeof(text));
	if (rc < 0) {
		fprintf(stderr, "erdns: explain --live: no routing answer from %s: %s\n", addr,
			rc == -ETIMEDOUT ? "nothing answered within 1 s (is erdns serving?)"
					 : strerror(-rc));
		return ER_EXIT_INVALID;
	}
	printf("live:    %s\n", text);
	char er[32];
	if (live_er(text, er, sizeof(er))[0] != '\0')
		printf("er:      %s (ExpressRoute audit of the answers the server has cached for "
		       "this name)\n",
		       er);
	if (client_ip)
		printf("         (the live answer is for this machine's address, not --client)\n");
	return ER_EXIT_OK;
}

int cmd_explain(int argc, char **argv)
{
	const char *path, *client_ip = NULL;
	bool is_live = false;
	int rc = cli_parse_common(argc, argv, EXPLAIN_USAGE, &path, &client_ip, &is_live);
	if (rc >= 0)
		return rc;
	if (optind + 1 != argc)
		return cli_usage_error(EXPLAIN_USAGE, "explain: expected one NAME");
	const char *name = argv[optind];
	uint8_t qname[ER_DNAME_MAX];
	if (dname_from_text(name, qname) == 0) {
		fprintf(stderr, "erdns: explain: \"%s\" is not a valid domain name\n", name);
		return ER_EXIT_INVALID;
	}
	struct sockaddr_storage client;
	if (client_ip && sockaddr_parse(client_ip, 0, &client) < 0) {
		fprintf(stderr, "erdns: explain: --client \"%s\" is not an IP address\n", client_ip);
		return ER_EXIT_INVALID;
	}
	config_t *c = cli_load_config(path);
	if (c == NULL)
		return ER_EXIT_INVALID;
	route_description_t d;
	describe_route(c, qname, client_ip ? (const struct sockaddr *)&client : NULL, &d);
	print_explanation(c, name, client_ip, &d);
	rc = is_live ? print_live(c, qname, client_ip) : ER_EXIT_OK;
	config_unref(c);
	return rc;
}
