/*
 * `erdns m365 audit [-c FILE] [NAME...] [--json] [--timeout-ms MS]` (SPEC 1):
 * what an operator runs after changing the HQ resolvers or importing a new
 * list. Each name (default: every literal name the config's m365 routes
 * import) is asked for A and AAAA at every server of the first group of
 * its route's chain, the ExpressRoute path, with the question the daemon
 * would send (cli/ask.c); every address at the end of the answer's CNAME
 * chain is judged against that route's ExpressRoute prefixes by the
 * daemon's own matcher (routing/er_audit.h), and shown with the matching
 * prefix and endpoint set, or for an address outside, the nearest one.
 *
 * Every server, not the one the daemon would prefer: the audit is about
 * what the site's resolvers answer, and one of them out of line is what it
 * must find. A name is "outside" when any address is, "inside" when some
 * address is judged and none is outside, and "unjudged" when nothing could
 * be judged: no answer, no address, or only addresses of a family the list
 * has no prefix for.
 *
 * Exit: 0 every name inside; 3 some name outside (a finding outranks a
 * gap); 4 some name could not be judged; 1 bad input (config, a NAME that
 * is not on an m365 route); 2 usage. 3 and 4 as `m365 diff`'s 3: a script
 * tells "found something" from "broken" without parsing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cli/ask.h"
#include "cli/cli.h"
#include "config/config.h"
#include "dns/reply.h"
#include "util/sockaddr.h"

#define AUDIT_USAGE                                                                                \
	"erdns m365 audit [-c FILE] [NAME...] [--json] [--timeout-ms MS]\n"                        \
	"exit: 0 all inside, 3 some outside, 4 some not judged, 1 bad input, 2 usage"
#define AUDIT_TIMEOUT_MS 2000 /* per question; an HQ resolver answers in tens of ms */

enum { OPT_JSON = 256, OPT_TIMEOUT, OPT_VERSION };

/* A name to audit and the m365 route whose rule decided it. */
typedef struct target {
	char name[ER_DNAME_TEXT_MAX];
	const rule_t *rule;
	const config_m365_t *route;
} target_t;

typedef struct audit_opts {
	const char *config_path;
	bool is_json;
	uint32_t timeout_ms;
} audit_opts_t;

/* What the addresses of one name came to, and where the output goes. */
typedef struct name_run {
	const audit_opts_t *opts;
	const char *server, *type; /* of the current answer */
	const uint8_t *qname;
	er_audit_visitor_t vis;	     /* ctx: this run; vis.end: the current answer's chain end */
	char end[ER_DNAME_TEXT_MAX]; /* vis.end as text, "" when it is the name itself */
	cJSON *addresses;	     /* --json: the current answer's */
	unsigned inside, outside;
} name_run_t;

/* Called once the chain's end is known (before the first address). */
static const char *chain_end(name_run_t *nr)
{
	if (!dname_equal(nr->vis.end, nr->qname))
		dname_to_text(nr->vis.end, nr->end);
	return nr->end;
}

static const char *rcode_name(unsigned rcode, char *buf, size_t len)
{
	static const char *const names[] = {"NOERROR",	"FORMERR", "SERVFAIL",
					    "NXDOMAIN", "NOTIMP",  "REFUSED"};
	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

static void prefix_text(const prefix_hit_t *hit, char *buf, size_t len)
{
	char p[64];
	netblock_format(&hit->prefix, p, sizeof(p));
	snprintf(buf, len, "%s (set %d)", p, (int)hit->set_ids[0]);
}

static void on_address(void *ctx, int family, const uint8_t *addr, er_verdict_t v,
		       const prefix_hit_t *hit)
{
	name_run_t *nr = ctx;
	char text[INET6_ADDRSTRLEN], where[128] = "";
	inet_ntop(family, addr, text, sizeof(text));
	if (hit != NULL)
		prefix_text(hit, where, sizeof(where));
	nr->inside += v == ER_VERDICT_INSIDE;
	nr->outside += v == ER_VERDICT_OUTSIDE;
	const char *end = chain_end(nr);
	if (nr->addresses != NULL) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "address", text);
		cJSON_AddStringToObject(o, "verdict",
					v == ER_VERDICT_NONE ? "unjudged" : er_verdict_name(v));
		if (hit != NULL) {
			char p[64];
			netblock_format(&hit->prefix, p, sizeof(p));
			cJSON_AddStringToObject(o, v == ER_VERDICT_INSIDE ? "prefix" : "nearest",
						p);
			cJSON_AddNumberToObject(o, "set", hit->set_ids[0]);
		}
		cJSON_AddItemToArray(nr->addresses, o);
		return;
	}
	printf("  %-22s %-4s %-26s %s%s%s%s%s\n", nr->server, nr->type, text,
	       v == ER_VERDICT_INSIDE	 ? "inside   "
	       : v == ER_VERDICT_OUTSIDE ? "outside  nearest "
					 : "unjudged",
	       where, v == ER_VERDICT_NONE ? " (no prefix of its family in the list)" : "",
	       end[0] ? "  at " : "", end);
}

/* The whole EDNS option the group sends (`ecs: PREFIX`), or none. */
static size_t group_option(const config_group_t *g, uint8_t *out, size_t cap)
{
	if (g->ecs != ECS_PREFIX)
		return 0;
	return reply_build_ecs_option(g->ecs_prefix.family, g->ecs_prefix.addr,
				      g->ecs_prefix.prefix_len, out, cap);
}

/* One question (name, type) to one server of the group; judged. */
static void ask_one(name_run_t *nr, const target_t *t, const config_group_t *g, size_t s,
		    uint16_t qtype, cJSON *answers)
{
	static uint8_t resp[UINT16_MAX];
	uint8_t qname[ER_DNAME_MAX], option[64];
	char server[ER_SOCKADDR_TEXT_MAX], rbuf[16];
	size_t qlen = dname_from_text(t->name, qname);
	dns_query_t q = {.flags = DNS_FLAG_RD,
			 .qname = qname,
			 .qname_len = qlen,
			 .qtype = qtype,
			 .qclass = DNS_CLASS_IN};
	size_t olen = group_option(g, option, sizeof(option));
	cli_question_t qs = {.server = (const struct sockaddr *)&g->servers[s],
			     .q = &q,
			     .option = olen ? option : NULL,
			     .option_len = olen,
			     .tcp_only = g->tcp == TCP_MODE_ALWAYS,
			     .timeout_ms = nr->opts->timeout_ms};
	sockaddr_format(qs.server, server, sizeof(server));
	nr->server = server;
	nr->type = qtype == DNS_TYPE_A ? "A" : "AAAA";
	ssize_t n = cli_ask(&qs, resp, sizeof(resp));
	cJSON *a = answers ? cJSON_CreateObject() : NULL;
	if (a != NULL) {
		cJSON_AddStringToObject(a, "server", server);
		cJSON_AddStringToObject(a, "type", nr->type);
		cJSON_AddItemToArray(answers, a);
	}
	if (n < 0) {
		if (a != NULL)
			cJSON_AddStringToObject(a, "error", strerror((int)-n));
		else
			printf("  %-22s %-4s no answer: %s\n", server, nr->type, strerror((int)-n));
		return;
	}
	er_judgement_t j;
	nr->addresses = a ? cJSON_AddArrayToObject(a, "addresses") : NULL;
	nr->qname = qname;
	nr->end[0] = '\0';
	if (er_audit_judge_visit(t->route->prefixes, qname, resp, (size_t)n, &nr->vis, &j) == 0)
		chain_end(nr);
	const char *rcode = rcode_name(DNS_RCODE(wire_read_u16(resp + 2)), rbuf, sizeof(rbuf));
	if (a != NULL) {
		cJSON_AddStringToObject(a, "rcode", rcode);
		cJSON_AddStringToObject(a, "end", nr->end[0] ? nr->end : t->name);
	} else if (j.n_inside + j.n_outside + j.n_unjudged == 0) {
		printf("  %-22s %-4s no address (%s%s%s)\n", server, nr->type, rcode,
		       nr->end[0] ? ", chain ends at " : "", nr->end);
	}
}

/* Asks every server of the route's first group for A and AAAA; returns the
 * name's verdict (INSIDE, OUTSIDE, or NONE: nothing judged). */
static er_verdict_t audit_name(const audit_opts_t *o, const config_t *c, const target_t *t,
			       cJSON *names)
{
	const config_chain_t *chain = &c->chains[t->route->chain];
	const config_group_t *g = &c->groups[chain->groups[0]];
	name_run_t nr = {.opts = o};
	nr.vis = (er_audit_visitor_t){.on_address = on_address, .ctx = &nr};
	cJSON *answers = NULL;
	if (names != NULL) {
		cJSON *n = cJSON_CreateObject();
		cJSON_AddStringToObject(n, "name", t->name);
		cJSON_AddStringToObject(n, "route", t->route->route);
		cJSON_AddStringToObject(n, "rule", ruleset_rule_text(t->rule));
		cJSON_AddStringToObject(n, "group", g->name);
		answers = cJSON_AddArrayToObject(n, "answers");
		cJSON_AddItemToArray(names, n);
	} else {
		printf("%s  (%s, rule %s, first group %s)\n", t->name, t->route->route,
		       ruleset_rule_text(t->rule), g->name);
	}
	for (size_t s = 0; s < g->n_servers; s++) {
		ask_one(&nr, t, g, s, DNS_TYPE_A, answers);
		ask_one(&nr, t, g, s, DNS_TYPE_AAAA, answers);
	}
	er_verdict_t v = nr.outside  ? ER_VERDICT_OUTSIDE
			 : nr.inside ? ER_VERDICT_INSIDE
				     : ER_VERDICT_NONE;
	if (names != NULL)
		cJSON_AddStringToObject(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1),
					"verdict",
					v == ER_VERDICT_NONE ? "unjudged" : er_verdict_name(v));
	return v;
}

/* --- which names ---------------------------------------------------------- */

static int target_cmp(const void *pa, const void *pb)
{
	const target_t *a = pa, *b = pb;
	int r = strcmp(a->route->route, b->route->route);
	return r != 0 ? r : strcasecmp(a->name, b->name);
}

/* Every literal name an m365 route imports (its exact rules, exceptions
 * left out), in the global routes and in views, once per route. */
static int collect_default(const config_t *c, target_t **out, size_t *n)
{
	size_t cap = 0;
	for (int view = -1; view < (int)router_view_count(c->router); view++) {
		const rule_t **rules = NULL;
		size_t k = 0;
		if (ruleset_list(router_rules_const(c->router, view), &rules, &k) != 0)
			return -1;
		for (size_t i = 0; i < k; i++) {
			const config_m365_t *route = config_m365_of(c, rules[i]);
			if (route == NULL || rules[i]->kind != RULE_EXACT)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				target_t *grown = reallocarray(*out, cap, sizeof(*grown));
				if (grown == NULL) {
					free(rules);
					return -1;
				}
				*out = grown;
			}
			target_t *t = &(*out)[(*n)++];
			*t = (target_t){.rule = rules[i], .route = route};
			snprintf(t->name, sizeof(t->name), "%s", rules[i]->pattern + 1); /* "=x" */
		}
		free(rules);
	}
	if (*n > 0)
		qsort(*out, *n, sizeof(**out), target_cmp);
	return 0;
}

/* The names given: each must be decided by an m365 route (globally: the
 * tool runs without a client address, so views are not consulted). */
static int collect_named(const config_t *c, char **names, size_t k, target_t **out, size_t *n)
{
	*out = calloc(k + 1, sizeof(**out));
	if (*out == NULL) {
		fprintf(stderr, "erdns: m365 audit: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < k; i++) {
		uint8_t wire[ER_DNAME_MAX];
		route_decision_t d;
		if (dname_from_text(names[i], wire) == 0) {
			fprintf(stderr, "erdns: m365 audit: \"%s\" is not a valid domain name\n",
				names[i]);
			return -1;
		}
		router_decide(c->router, wire, NULL, &d);
		target_t *t = &(*out)[(*n)++];
		*t = (target_t){.rule = d.rule, .route = config_m365_of(c, d.rule)};
		snprintf(t->name, sizeof(t->name), "%s", names[i]);
		if (t->route == NULL) {
			fprintf(stderr,
				"erdns: m365 audit: %s is not on an m365 route (rule %s, via %s); "
				"only names a Microsoft 365 list routes can be audited\n",
				names[i], d.rule ? ruleset_rule_text(d.rule) : "default",
				c->chains[d.action].text);
			return -1;
		}
	}
	return 0;
}

/* --- the command ----------------------------------------------------------- */

static int parse_args(int argc, char **argv, audit_opts_t *o)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	*o = (audit_opts_t){.config_path = ER_CONFIG_DEFAULT_PATH, .timeout_ms = AUDIT_TIMEOUT_MS};
	optind = 1;
	opterr = 0;
	int opt;
	char *end;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config_path = optarg;
			break;
		case OPT_JSON:
			o->is_json = true;
			break;
		case OPT_TIMEOUT: {
			/* range-checked before the cast: 4294967396 is not 100 */
			errno = 0;
			unsigned long ms = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || errno != 0 || ms < 10 || ms > 60000)
				return cli_usage_error(
				    AUDIT_USAGE, "m365 audit: --timeout-ms \"%s\": takes 10..60000",
				    optarg);
			o->timeout_ms = (uint32_t)ms;
			break;
		}
		case 'h':
			printf("usage: %s\n", AUDIT_USAGE);
			return ER_EXIT_OK;
		case OPT_VERSION:
			printf("erdns %s\n", ERDNS_VERSION);
			return ER_EXIT_OK;
		default:
			return cli_usage_error(AUDIT_USAGE,
					       "m365 audit: unknown or incomplete option \"%s\"",
					       argv[optind - 1]);
		}
	}
	return -1;
}

static int exit_of(size_t outside, size_t unjudged)
{
	return outside ? ER_EXIT_CHANGED : unjudged ? ER_EXIT_UNJUDGED : ER_EXIT_OK;
}

static int run(const audit_opts_t *o, const config_t *c, const target_t *t, size_t n)
{
	size_t count[ER_VERDICT_COUNT] = {0};
	cJSON *root = o->is_json ? cJSON_CreateObject() : NULL;
	cJSON *names = root ? cJSON_AddArrayToObject(root, "names") : NULL;
	for (size_t i = 0; i < n; i++)
		count[audit_name(o, c, &t[i], names)]++;
	int status = exit_of(count[ER_VERDICT_OUTSIDE], count[ER_VERDICT_NONE]);
	if (root == NULL) {
		printf("%zu names: %zu inside, %zu outside, %zu not judged\n", n,
		       count[ER_VERDICT_INSIDE], count[ER_VERDICT_OUTSIDE], count[ER_VERDICT_NONE]);
		return status;
	}
	cJSON_AddNumberToObject(root, "inside", (double)count[ER_VERDICT_INSIDE]);
	cJSON_AddNumberToObject(root, "outside", (double)count[ER_VERDICT_OUTSIDE]);
	cJSON_AddNumberToObject(root, "unjudged", (double)count[ER_VERDICT_NONE]);
	cJSON_AddNumberToObject(root, "exit", status);
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (text == NULL) {
		fprintf(stderr, "erdns: m365 audit: out of memory\n");
		return ER_EXIT_INVALID;
	}
	printf("%s\n", text);
	free(text);
	return status;
}

int cmd_m365_audit(int argc, char **argv)
{
	audit_opts_t o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	config_t *c = cli_load_config(o.config_path);
	if (c == NULL)
		return ER_EXIT_INVALID;
	target_t *t = NULL;
	size_t n = 0;
	rc = optind < argc ? collect_named(c, argv + optind, (size_t)(argc - optind), &t, &n)
			   : collect_default(c, &t, &n);
	int status = ER_EXIT_INVALID;
	if (rc != 0 && optind >= argc)
		fprintf(stderr, "erdns: m365 audit: out of memory\n");
	if (rc == 0 && n == 0)
		fprintf(stderr,
			"erdns: m365 audit: %s imports no literal name from an m365 "
			"list; give NAMEs\n",
			o.config_path);
	else if (rc == 0)
		status = run(&o, c, t, n);
	free(t);
	config_unref(c);
	return status;
}
