/*
 * config_load end to end: good files give every field and default; each
 * class of bad file gives its exact one-line message with FILE:LINE:COL.
 * Bad configs are written inline into a temporary directory so the JSON and
 * the message it must produce sit side by side; the LINE:COL in each
 * expectation can be checked by counting in the string above it. Good
 * configs and the files they refer to live in tests/fixtures/config/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/describe.h"
#include "config/json_pos.h"
#include "config/schema.h"
#include "dns/dname.h"
#include "util/sockaddr.h"

#define FIX ERDNS_FIXTURES "/config"

static char tmpdir[64];
static char tmpfile_path[128];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/erdns-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/erdns.json", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(tmpfile_path);
	return rmdir(tmpdir);
}

static config_t *load_text(const char *json, char *err, size_t errlen)
{
	FILE *f = fopen(tmpfile_path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
	return config_load(tmpfile_path, err, errlen);
}

/* expected is the message after the file name: ":3:5: server.threads: ..." */
static void assert_load_error(const char *json, const char *expected)
{
	char err[ER_CONFIG_ERR_MAX] = "";
	config_t *c = load_text(json, err, sizeof(err));
	if (c != NULL)
		config_unref(c);
	assert_null(c);
	char want[ER_CONFIG_ERR_MAX + 128];
	snprintf(want, sizeof(want), "%s%s", tmpfile_path, expected);
	assert_string_equal(err, want);
}

static config_t *load_ok(const char *path)
{
	char err[ER_CONFIG_ERR_MAX] = "";
	config_t *c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void assert_addr(const struct sockaddr_storage *ss, const char *text)
{
	char buf[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)ss, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static void assert_netblock(const netblock_t *nb, const char *text)
{
	char buf[64];
	netblock_format(nb, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static const char *chain_of(const config_t *c, uint32_t action)
{
	assert_true(action < c->n_chains);
	return c->chains[action].text;
}

/* The chain text deciding name for client (NULL: no view). */
static const char *route(const config_t *c, const char *name, const char *client)
{
	uint8_t wire[ER_DNAME_MAX];
	struct sockaddr_storage ss;
	assert_true(dname_from_text(name, wire) > 0);
	if (client != NULL)
		assert_int_equal(sockaddr_parse(client, 53, &ss), 0);
	route_decision_t d;
	router_decide(c->router, wire, client != NULL ? (const struct sockaddr *)&ss : NULL, &d);
	return chain_of(c, d.action);
}

static const rule_t *rule_for(const config_t *c, const char *name)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	return ruleset_lookup(router_rules_const(c->router, -1), wire);
}

/* --- good configs --------------------------------------------------------- */

static void test_minimal_gets_every_default(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/minimal.json");

	assert_string_equal(c->path, FIX "/minimal.json");
	assert_int_equal(c->n_listen, 1);
	assert_addr(&c->listen[0], "127.0.0.1:53");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(c->threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
	assert_int_equal(acl_count(c->allow), 2);
	assert_netblock(acl_get(c->allow, 0), "127.0.0.0/8");
	assert_netblock(acl_get(c->allow, 1), "::1/128");
	assert_null(c->user);
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(c->identity, host);
	assert_int_equal(c->query_timeout_ms, 3000);

	assert_int_equal(c->n_groups, 1);
	const config_group_t *g = &c->groups[0];
	assert_string_equal(g->name, "branch");
	assert_int_equal(g->n_servers, 1);
	assert_addr(&g->servers[0], "192.0.2.1:53");
	assert_int_equal(g->select, SELECT_FASTEST);
	assert_int_equal(g->timeout_ms, 1500);
	assert_int_equal(g->max_fails, 3);
	assert_int_equal(g->probe_interval_ms, 1000);
	assert_int_equal(g->tcp, TCP_MODE_FALLBACK);
	assert_int_equal(g->ecs, ECS_STRIP);

	/* default: no "default" key, but a group called branch */
	assert_int_equal(c->n_chains, 1);
	assert_string_equal(chain_of(c, c->default_chain), "branch");
	assert_string_equal(route(c, "anything.example", NULL), "branch");
	assert_int_equal(router_view_count(c->router), 0);
	assert_int_equal(zoneset_count(c->zones), 0);

	assert_int_equal(c->cache.max_mb, 64);
	assert_int_equal(c->cache.min_ttl_s, 0);
	assert_int_equal(c->cache.max_ttl_s, 86400);
	assert_int_equal(c->cache.max_negative_ttl_s, 3600);
	assert_int_equal(c->cache.serve_stale_s, 86400);
	assert_int_equal(c->cache.fallback_ttl_s, 30);
	assert_true(c->cache.prefetch);
	assert_string_equal(c->control_socket, "/run/erdns/control.sock");
	assert_null(c->metrics_listen);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_false(c->log_queries);
	assert_null(c->query_file);
	config_unref(c);
}

static void test_full_example(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/full.json");

	assert_int_equal(c->n_listen, 2);
	assert_addr(&c->listen[0], "127.0.0.1:53");
	assert_addr(&c->listen[1], "[::1]:53");
	assert_int_equal(c->threads, 2);
	assert_int_equal(acl_count(c->allow), 3);
	assert_netblock(acl_get(c->allow, 2), "10.0.0.0/8");
	assert_string_equal(c->user, "erdns");
	assert_string_equal(c->identity, "branch-dns-1");
	assert_int_equal(c->query_timeout_ms, 2500);

	assert_int_equal(c->n_groups, 3);
	const config_group_t *hq = &c->groups[config_group_index(c, "hq")];
	assert_int_equal(hq->n_servers, 2);
	assert_addr(&hq->servers[0], "10.10.0.53:53");
	assert_addr(&hq->servers[1], "10.10.0.54:5353");
	assert_int_equal(hq->select, SELECT_FASTEST);
	assert_int_equal(hq->timeout_ms, 1200);
	assert_int_equal(hq->max_fails, 4);
	assert_int_equal(hq->probe_interval_ms, 2000);
	assert_int_equal(hq->tcp, TCP_MODE_ALWAYS);
	assert_int_equal(hq->ecs, ECS_PREFIX);
	assert_netblock(&hq->ecs_prefix, "203.0.113.0/24");

	const config_group_t *eu = &c->groups[config_group_index(c, "hq-eu")];
	assert_int_equal(eu->n_servers, 1);
	assert_addr(&eu->servers[0], "[2001:db8:40::53]:53");
	assert_int_equal(eu->select, SELECT_ORDERED);
	assert_int_equal(eu->ecs, ECS_PASS);

	/* "resolv.conf:../resolv.conf/branch.conf", relative to the config */
	const config_group_t *br = &c->groups[config_group_index(c, "branch")];
	assert_int_equal(br->n_servers, 2);
	assert_addr(&br->servers[0], "198.51.100.53:53");
	assert_addr(&br->servers[1], "198.51.100.54:53");
	assert_int_equal(br->select, SELECT_ROUND_ROBIN);
	assert_int_equal(config_group_index(c, "nope"), -1);

	assert_string_equal(route(c, "outlook.office.com", NULL), "hq,hq-eu,branch");
	assert_string_equal(route(c, "x.outlook.office.com", NULL), "hq,hq-eu,branch");
	assert_string_equal(route(c, "login.portal.microsoftonline.com", NULL), "branch");
	assert_string_equal(route(c, "wpad.contoso.com", NULL), "hq");
	assert_string_equal(route(c, "1.2.10.in-addr.arpa", NULL), "hq");
	assert_string_equal(route(c, "www.example.com", NULL), "branch");
	/* the pilot view: its routes, then global ones, then its default */
	assert_string_equal(route(c, "www.office.com", "10.20.1.1"), "hq");
	assert_string_equal(route(c, "www.office.com", "10.30.1.1"), "branch");
	assert_string_equal(route(c, "corp.contoso.com", "10.20.1.1"), "hq");
	assert_string_equal(route(c, "www.example.com", "10.20.1.1"), "hq,branch");
	assert_int_equal(router_view_count(c->router), 1);
	assert_string_equal(router_view_name(c->router, 0), "pilot");
	assert_int_equal(ruleset_count(router_rules_const(c->router, -1)), 7);
	assert_int_equal(ruleset_count(router_rules_const(c->router, 0)), 1);

	/* where a rule was written: line 18, column of the string's quote */
	const rule_t *r = rule_for(c, "portal.microsoftonline.com");
	assert_non_null(r);
	assert_int_equal(r->origin.kind, RULE_ORIGIN_DOMAINS);
	assert_ptr_equal(r->origin.file, c->path);
	assert_int_equal(r->origin.line, 18);
	assert_int_equal(r->origin.col, 19);

	/* the zone path is relative to the config's directory */
	assert_int_equal(zoneset_count(c->zones), 1);
	assert_string_equal(zoneset_apex_text(c->zones, 0), "branch.contoso.com");
	assert_int_equal(zoneset_record_count(c->zones, 0), 4);
	assert_string_equal(zoneset_file(c->zones, 0), FIX "/zones/ok.zone");

	assert_int_equal(c->cache.max_mb, 128);
	assert_int_equal(c->cache.min_ttl_s, 5);
	assert_int_equal(c->cache.max_ttl_s, 3600);
	assert_int_equal(c->cache.max_negative_ttl_s, 600);
	assert_int_equal(c->cache.serve_stale_s, 0);
	assert_int_equal(c->cache.fallback_ttl_s, 20);
	assert_false(c->cache.prefetch);
	assert_string_equal(c->control_socket, "/run/erdns/ctl.sock");
	assert_string_equal(c->metrics_listen, "127.0.0.1:9253");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_true(c->log_queries);
	assert_string_equal(c->query_file, "/var/log/erdns/queries.jsonl");
	config_unref(c);
}

/* Routes 0 and 3 both say via ["hq", "hq-eu", "branch"]: one chain. */
static void test_equal_chains_share_an_index(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/full.json");
	assert_int_equal(c->n_chains, 4); /* branch; hq,hq-eu,branch; hq; hq,branch */
	const rule_t *a = rule_for(c, "outlook.office.com");
	const rule_t *b = rule_for(c, "sharepoint.com");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->action, b->action);
	const config_chain_t *ch = &c->chains[a->action];
	assert_int_equal(ch->n_groups, 3);
	assert_int_equal(ch->groups[0], config_group_index(c, "hq"));
	assert_int_equal(ch->groups[1], config_group_index(c, "hq-eu"));
	assert_int_equal(ch->groups[2], config_group_index(c, "branch"));
	config_unref(c);
}

static const config_chain_t *chain_named(const config_t *c, const char *text)
{
	for (size_t i = 0; i < c->n_chains; i++)
		if (strcmp(c->chains[i].text, text) == 0)
			return &c->chains[i];
	fail_msg("no chain \"%s\"", text);
	return NULL;
}

/* may_pass_ecs: some group of the chain has ecs "pass", so an answer on this
 * chain may have been fetched with the client's own subnet (SPEC 3). A fixed
 * prefix is the same for every client and does not count. */
static void test_chain_may_pass_ecs(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/full.json"); /* hq: prefix, hq-eu: pass, branch: strip */
	assert_int_equal(c->n_chains, 4);
	assert_true(chain_named(c, "hq,hq-eu,branch")->may_pass_ecs);
	assert_false(chain_named(c, "hq")->may_pass_ecs);
	assert_false(chain_named(c, "branch")->may_pass_ecs);
	assert_false(chain_named(c, "hq,branch")->may_pass_ecs); /* the view's default */
	config_unref(c);

	char err[ER_CONFIG_ERR_MAX] = "";
	c = load_text("{ \"upstreams\": { \"a\": { \"servers\": \"10.0.0.1\" },\n"
		      "    \"b\": { \"servers\": \"10.0.0.2\", \"ecs\": \"pass\" } },\n"
		      "  \"routes\": [ { \"domains\": \"x.example\", \"via\": [\"a\", \"b\"] } ],\n"
		      "  \"default\": \"a\" }",
		      err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	/* the pass group is last: a failover may still ask it */
	assert_true(chain_named(c, "a,b")->may_pass_ecs);
	assert_false(chain_named(c, "a")->may_pass_ecs);
	config_unref(c);
}

static void test_refcount(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/minimal.json");
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(atomic_load(&c->refs), 2);
	config_unref(c);
	assert_int_equal(atomic_load(&c->refs), 1);
	config_unref(c); /* LeakSanitizer checks this one freed everything */
	config_unref(NULL);
}

/* What `erdns check` prints for c; the caller frees it. */
static char *summary_of(const config_t *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	assert_non_null(out);
	config_print_summary(c, out);
	fclose(out);
	return buf;
}

static void test_summary_is_honest(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/full.json");
	char *buf = summary_of(c);
	assert_non_null(strstr(buf, "listen:   127.0.0.1:53, [::1]:53\n"));
	assert_non_null(strstr(buf, "198.51.100.53:53, 198.51.100.54:53\n"));
	assert_non_null(strstr(buf, "  hq,hq-eu,branch\n"));
	assert_non_null(strstr(buf, "7 from domains (exact 1, subtree 5, below 1, glob 0)"));
	assert_non_null(strstr(buf, "view pilot"));
	assert_non_null(strstr(buf, "default:  branch\n"));
	assert_non_null(strstr(buf, "branch.contoso.com"));
	assert_non_null(strstr(buf, "4 records"));
	assert_non_null(strstr(buf, "cache:    128 MB, ttl 5..3600 s, negative <= 600 s, "
				    "stale 0 s, fallback <= 20 s, prefetch off\n"));
	assert_non_null(strstr(buf, "control:  /run/erdns/ctl.sock (erdns ctl)\n"));
	assert_non_null(strstr(buf, "query log: /var/log/erdns/queries.jsonl\n"));
	assert_null(strstr(buf, "not in effect")); /* every key is, now */
	free(buf);
	config_unref(c);
}

static void test_servers_default_port_and_relative_resolvconf(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX] = "";
	/* written into tmpdir: the resolv.conf path must be relative to it, so
	 * give an absolute one here and check "default": [list] */
	config_t *c =
	    load_text("{\"upstreams\": {\"a\": {\"servers\": [\"resolv.conf:" ERDNS_FIXTURES
		      "/resolv.conf/basic.conf\", \"192.0.2.99:5300\"]}},"
		      " \"default\": [\"a\"]}",
		      err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	/* basic.conf less 127.0.0.1 (our listener) and a duplicate */
	assert_int_equal(c->groups[0].n_servers, 5);
	assert_addr(&c->groups[0].servers[0], "192.0.2.53:53");
	assert_addr(&c->groups[0].servers[3], "[fe80::1]:53");
	assert_addr(&c->groups[0].servers[4], "192.0.2.99:5300");
	assert_string_equal(chain_of(c, c->default_chain), "a");
	config_unref(c);
}

/* --- syntax errors -------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
	(void)state;
	assert_load_error("{\n  \"default\": \"branch\",\n}\n", ":2:22: trailing comma before '}'");
	assert_load_error("{\n  \"default\": \"branch\n}\n", ":2:14: unterminated string");
	assert_load_error("{\n  \"default\": \"branch\"\n  \"zones\": []\n}\n",
			  ":3:3: unexpected character '\"' (expected ',' or '}')");
	assert_load_error("{\n  \"routes\": [\n",
			  ":3:1: unexpected end of input (expected a value)");
	assert_load_error("{ \"a\" 1 }",
			  ":1:7: unexpected character '1' (expected ':' after the key)");
	assert_load_error("{ \"a\": tru }", ":1:8: unexpected character 't' (expected a value)");
	assert_load_error("{ \"a\": [1, 2,] }", ":1:13: trailing comma before ']'");
	assert_load_error("{ \"a\": 1 } x",
			  ":1:12: unexpected character 'x' (expected the end of the document)");
	assert_load_error("{ \"a\": \"\\q\" }", ":1:9: invalid escape sequence in string");
	assert_load_error("{ \"a\": 1.2.3 }", ":1:8: invalid number");
	assert_load_error("", ":1:1: unexpected end of input (expected a value)");
	/* columns count characters, not bytes */
	assert_load_error("{ \"caf\xc3\xa9\": 1,, }",
			  ":1:13: unexpected character ',' (expected a key in double quotes)");
}

static void test_top_level_must_be_an_object(void **state)
{
	(void)state;
	assert_load_error("\n[1]", ":2:1: the top level must be an object");
}

static void test_unreadable_file(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX];
	assert_null(config_load(FIX "/does-not-exist.json", err, sizeof(err)));
	assert_string_equal(err,
			    FIX "/does-not-exist.json: cannot read: No such file or directory");
}

/* --- schema errors -------------------------------------------------------- */

static void test_unknown_key_did_you_mean(void **state)
{
	(void)state;
	assert_load_error(
	    "{\n"
	    "  \"upstreams\": {\n"
	    "    \"hq\": { \"servers\": [\"10.0.0.1\"], \"tiemout_ms\": 100 }\n"
	    "  }\n"
	    "}\n",
	    ":3:38: upstreams.hq: unknown key \"tiemout_ms\" (did you mean \"timeout_ms\"?)");
	assert_load_error("{ \"rotues\": [] }",
			  ":1:3: unknown key \"rotues\" (did you mean \"routes\"?)");
	assert_load_error(
	    "{ \"cache\": { \"size\": 1 } }",
	    ":1:14: cache: unknown key \"size\" (known: max_mb, min_ttl_s, max_ttl_s, "
	    "max_negative_ttl_s, serve_stale_s, fallback_ttl_s, prefetch)");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	assert_load_error("{\n"
			  "  \"server\": {\n"
			  "    \"threads\": 2,\n"
			  "    \"threads\": 4\n"
			  "  }\n"
			  "}\n",
			  ":4:5: server: duplicate key \"threads\" (first at line 3)");
	assert_load_error("{ \"upstreams\": {\n"
			  "  \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
			  "  \"hq\": { \"servers\": [\"10.0.0.2\"] } } }",
			  ":3:3: upstreams: duplicate key \"hq\" (first at line 2)");
}

static void test_wrong_type(void **state)
{
	(void)state;
	assert_load_error("{ \"server\": { \"threads\": \"4\" } }",
			  ":1:26: server.threads: expected an integer");
	assert_load_error("{ \"server\": { \"threads\": 1.5 } }",
			  ":1:26: server.threads: expected an integer");
	assert_load_error("{ \"server\": { \"listen\": 53 } }",
			  ":1:25: server.listen: expected a string or an array of strings");
	assert_load_error("{ \"server\": { \"listen\": [\"127.0.0.1\", 53] } }",
			  ":1:39: server.listen[1]: expected a string");
	assert_load_error("{ \"cache\": { \"prefetch\": \"yes\" } }",
			  ":1:26: cache.prefetch: expected true or false");
	assert_load_error("{ \"upstreams\": [] }", ":1:16: upstreams: expected an object");
	assert_load_error("{ \"routes\": {} }", ":1:13: routes: expected an array");
	assert_load_error("{ \"upstreams\": { \"hq\": [] } }",
			  ":1:24: upstreams.hq: expected an object");
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_load_error("{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"],\n"
			  "  \"timeout_ms\": 10 } } }",
			  ":2:17: upstreams.hq.timeout_ms: must be between 50 and 30000");
	assert_load_error("{ \"server\": { \"threads\": -1 } }",
			  ":1:26: server.threads: must be between 0 and 256");
	assert_load_error("{ \"cache\": { \"min_ttl_s\": 600, \"max_ttl_s\": 300 } }",
			  ":1:27: cache.min_ttl_s: must not be above max_ttl_s (300)");
}

static void test_bad_enums(void **state)
{
	(void)state;
	assert_load_error(
	    "{ \"upstreams\": { \"hq\": { \"servers\": \"10.0.0.1\", \"select\": \"random\" } } }",
	    ":1:59: upstreams.hq.select: must be one of fastest, ordered, round-robin");
	assert_load_error(
	    "{ \"upstreams\": { \"hq\": { \"servers\": \"10.0.0.1\", \"ecs\": \"10.0.0.1/8\" } } }",
	    ":1:56: upstreams.hq.ecs: expected \"strip\", \"pass\" or an address prefix "
	    "such as \"203.0.113.0/24\"");
	assert_load_error("{ \"log\": { \"level\": \"verbose\" } }",
			  ":1:21: log.level: must be one of error, warn, info, debug");
}

static void test_unknown_group_in_via(void **state)
{
	(void)state;
	assert_load_error(
	    "{\n"
	    "  \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
	    "                 \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
	    "  \"routes\": [\n"
	    "    { \"domains\": [\"a.example\"], \"via\": \"hq\" },\n"
	    "    { \"domains\": [\"b.example\"], \"via\": \"hq\" },\n"
	    "    { \"domains\": [\"c.example\"], \"via\": \"hqq\" }\n"
	    "  ]\n"
	    "}\n",
	    ":7:40: routes[2].via: unknown upstream group \"hqq\" (known: hq, branch)");
	assert_load_error(
	    "{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
	    "  \"views\": [ { \"name\": \"v\", \"clients\": \"10.0.0.0/8\",\n"
	    "    \"routes\": [ { \"domains\": \"x\", \"via\": [\"branch\", \"hq\"] } ] } ] }",
	    ":3:53: views[0].routes[0].via[1]: unknown upstream group \"hq\" (known: branch)");
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"default\": [\"branch\", \"branch\"] }",
			  ":2:25: default[1]: group \"branch\" appears twice in the chain");
}

static void test_domains_conflict_names_both_places(void **state)
{
	(void)state;
	char want[ER_CONFIG_ERR_MAX];
	snprintf(want, sizeof(want),
		 ":4:32: routes[1].domains[1]: \"contoso.com\" conflicts with \"contoso.com\" "
		 "at %s:3:29: both claim the same names with a different route",
		 tmpfile_path);
	assert_load_error(
	    "{\n"
	    "  \"upstreams\": { \"hq\": { \"servers\": \"10.0.0.1\" }, \"branch\": { \"servers\": "
	    "\"10.0.0.2\" } },\n"
	    "  \"routes\": [ { \"domains\": [\"contoso.com\"], \"via\": \"hq\" },\n"
	    "    { \"domains\": [\"a.example\", \"contoso.com\"], \"via\": \"branch\" } ]\n"
	    "}\n",
	    want);
}

static void test_bad_listen_address(void **state)
{
	(void)state;
	assert_load_error("{ \"server\": { \"listen\": [\"127.0.0.1:53\", \"localhost:53\"] } }",
			  ":1:42: server.listen[1]: \"localhost:53\" is not an address (expected "
			  "\"IP\", \"IP:PORT\" or \"[IPv6]:PORT\")");
	assert_load_error("{ \"server\": { \"listen\": [\"127.0.0.1\", \"127.0.0.1:53\"] } }",
			  ":1:39: server.listen[1]: \"127.0.0.1:53\" is listed twice");
	assert_load_error("{ \"upstreams\": { \"hq\": { \"servers\": [\"dns.example.net\"] } } }",
			  ":1:38: upstreams.hq.servers[0]: \"dns.example.net\" is not an address "
			  "(expected \"IP\", \"IP:PORT\", \"[IPv6]:PORT\", \"resolv.conf\" or "
			  "\"resolv.conf:PATH\")");
	assert_load_error("{ \"upstreams\": { \"hq\": { \"servers\": [\"127.0.0.1\"] } } }",
			  ":1:38: upstreams.hq.servers[0]: \"127.0.0.1\" is one of this server's "
			  "listen addresses; forwarding to it would loop");
	assert_load_error(
	    "{ \"metrics\": { \"listen\": \"127.0.0.1\" } }",
	    ":1:26: metrics.listen: \"127.0.0.1\" is not an address with a port (such as "
	    "\"127.0.0.1:9253\")");
}

static void test_bad_netblock(void **state)
{
	(void)state;
	assert_load_error(
	    "{ \"server\": { \"allow\": [\"10.0.0.0/8\", \"10.0.0.1/8\"] } }",
	    ":1:39: server.allow[1]: \"10.0.0.1/8\" is not an address prefix (such as "
	    "\"10.0.0.0/8\"; host bits must be zero)");
	assert_load_error("{ \"server\": { \"allow\": [] } }",
			  ":1:24: server.allow: must not be empty");
}

static void test_missing_default(void **state)
{
	(void)state;
	assert_load_error("{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] } } }",
			  ": default: not set and there is no upstream group called \"branch\"; "
			  "add \"default\": \"GROUP\"");
}

static void test_view_without_clients(void **state)
{
	(void)state;
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"views\": [ { \"name\": \"pilot\" } ] }",
			  ":2:14: views[0]: missing required key \"clients\"");
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"views\": [ { \"name\": \"a\", \"clients\": \"10.1.0.0/16\" },\n"
			  "             { \"name\": \"a\", \"clients\": \"10.2.0.0/16\" } ] }",
			  ":3:24: views[1].name: duplicate view name \"a\" (first in views[0])");
}

static void test_route_shape(void **state)
{
	(void)state;
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"routes\": [ { \"via\": \"branch\" } ] }",
			  ":2:15: routes[0]: needs \"domains\" or \"m365\"");
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"routes\": [ { \"domains\": \"x\" } ] }",
			  ":2:15: routes[0]: missing required key \"via\"");
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"routes\": [ { \"domains\": [], \"via\": \"branch\" } ] }",
			  ":2:28: routes[0].domains: must not be empty");
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [] } } }",
			  ":1:41: upstreams.branch.servers: must not be empty");
	assert_load_error(
	    "{ \"upstreams\": { \"bad name\": { \"servers\": [\"10.0.0.1\"] } } }",
	    ":1:18: upstreams: group name \"bad name\" must be 1 to 32 of A-Z a-z 0-9 _ -");
}

/* routes[].m365: the schema rows, a missing list, and a list that loads. */
static void test_m365_route(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX] = "";
	config_t *c = load_text("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
				"  \"routes\": [ { \"domains\": \"a\", \"via\": \"branch\" },\n"
				"    { \"m365\": { \"file\": \"m.json\" }, \"via\": \"branch\" } ] }",
				err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, ":3:25: routes[1].m365.file: "));
	assert_non_null(strstr(err, "m.json: cannot read: No such file or directory"));
	assert_load_error(
	    "{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
	    "  \"routes\": [ { \"m365\": { \"file\": \"m.json\", \"service_areas\": [\"Exchnage\"] },"
	    " \"via\": \"branch\" } ] }",
	    ":2:63: routes[0].m365.service_areas[0]: unknown service area \"Exchnage\" (known: "
	    "Exchange, SharePoint, Skype, Common)");
	assert_load_error(
	    "{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
	    "  \"routes\": [ { \"m365\": { \"file\": \"m.json\", \"expressRoute\": false },"
	    " \"via\": \"branch\" } ] }",
	    ":2:45: routes[0].m365: unknown key \"expressRoute\" (did you mean \"expressroute\"?)");

	c = load_text("{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
		      "                 \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
		      "  \"routes\": [ { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\","
		      " \"categories\": [\"Optimize\"] }, \"via\": [\"hq\", \"branch\"] } ] }",
		      err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->n_m365, 1);
	assert_string_equal(c->m365[0].route, "routes[0]");
	assert_string_equal(c->chains[c->m365[0].chain].text, "hq,branch");
	assert_int_equal(ruleset_count_origin(router_rules_const(c->router, -1), RULE_ORIGIN_M365),
			 6); /* 3 rules of sets 1 and 31, 2 exceptions of set 35, 1 glob */
	config_unref(c);
}

/* The rule deciding name (no client). */
static const rule_t *rule_of(const config_t *c, const char *name)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	route_decision_t d;
	router_decide(c->router, wire, NULL, &d);
	return d.rule;
}

#define AUDIT_GROUPS                                                                       \
	"{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"                       \
	"                 \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"

/* SPEC 2.2 ExpressRoute audit: the `audit` key, where it may appear, the
 * prefixes each m365 route keeps, and which rules are audited. */
static void test_m365_audit(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX] = "";
	assert_load_error(AUDIT_GROUPS "  \"routes\": [ { \"domains\": \"a\", \"via\": \"hq\","
				       " \"audit\": \"observe\" } ] }",
			  ":3:46: routes[0].audit: applies to \"m365\" routes only (it checks answers "
			  "against the list's ExpressRoute prefixes)");
	assert_load_error(AUDIT_GROUPS "  \"routes\": [ { \"m365\": { \"file\": \"m.json\" },"
				       " \"via\": \"hq\", \"audit\": \"loud\" } ] }",
			  ":3:69: routes[0].audit: must be one of observe, fallback");
	assert_load_error(AUDIT_GROUPS "  \"routes\": [ { \"m365\": { \"file\": \"m.json\" },"
				       " \"via\": \"hq\", \"audit\": \"fallback\" } ] }",
			  ":3:69: routes[0].audit: \"fallback\" needs a later group in \"via\" to fall "
			  "back to; add one, or use \"observe\"");

	config_t *c = load_text(
	    AUDIT_GROUPS "  \"routes\": [ { \"domains\": \"corp.example\", \"via\": \"hq\" },\n"
			 "    { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\" },"
			 " \"via\": [\"hq\", \"branch\"], \"audit\": \"fallback\" } ] }",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->n_m365, 1);
	const config_m365_t *m = &c->m365[0];
	assert_int_equal(m->audit, ER_AUDIT_FALLBACK);
	assert_int_equal(prefixset_count(m->prefixes, AF_INET), 2); /* sets 1 and 100 */
	assert_string_equal(c->route_slots[m->route_slot].route, "1");
	/* an imported URL's rule is audited; an exception, a domains rule and
	 * the default are not */
	assert_ptr_equal(config_m365_of(c, rule_of(c, "outlook.example.com")), m);
	assert_ptr_equal(config_m365_of(c, rule_of(c, "x.teams.example.net")), m);
	assert_null(config_m365_of(c, rule_of(c, "cdn.odc.officeapps.example.org")));
	assert_null(config_m365_of(c, rule_of(c, "www.corp.example")));
	assert_null(config_m365_of(c, rule_of(c, "www.example.org")));

	config_t *same = load_text(
	    AUDIT_GROUPS "  \"routes\": [ { \"domains\": \"corp.example\", \"via\": \"hq\" },\n"
			 "    { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\" },"
			 " \"via\": [\"hq\", \"branch\"], \"audit\": \"fallback\" } ] }",
	    err, sizeof(err));
	config_t *observe = load_text(
	    AUDIT_GROUPS "  \"routes\": [ { \"domains\": \"corp.example\", \"via\": \"hq\" },\n"
			 "    { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\" },"
			 " \"via\": [\"hq\", \"branch\"] } ] }",
	    err, sizeof(err));
	config_t *other_list = load_text(
	    AUDIT_GROUPS "  \"routes\": [ { \"domains\": \"corp.example\", \"via\": \"hq\" },\n"
			 "    { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\","
			 " \"service_areas\": [\"Skype\"] }, \"via\": [\"hq\", \"branch\"],"
			 " \"audit\": \"fallback\" } ] }",
	    err, sizeof(err));
	assert_non_null(same);
	assert_non_null(observe);
	assert_non_null(other_list);
	assert_int_equal(observe->m365[0].audit, ER_AUDIT_OBSERVE); /* the default */
	assert_true(config_same_audit(c, same));
	assert_false(config_same_audit(c, observe));
	assert_false(config_same_audit(c, other_list)); /* set 1's prefix left out */
	config_unref(same);
	config_unref(observe);
	config_unref(other_list);
	config_unref(c);
}

/* The CHAOS/explain text of name (no client). */
static const char *route_text(const config_t *c, const char *name, char *buf, size_t len)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	route_description_t d;
	describe_route(c, wire, NULL, &d);
	describe_route_text(c, &d, buf, len);
	return buf;
}

/* SPEC 3: `rule=` shows a rule as its source writes it. Regression: an
 * imported host showed as "rule==outlook.example.com", the '=' of the
 * operator's exact syntax leaking into Microsoft's URL. */
static void test_route_text_shows_rules_as_written(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX] = "", buf[512];
	config_t *c = load_text(
	    "{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
	    "                 \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
	    "  \"routes\": [ { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\" },"
	    " \"via\": [\"hq\", \"branch\"] },\n"
	    "    { \"domains\": [\"=smtp.example.com\", \"*.corp.example\"],"
	    " \"via\": \"branch\" } ] }",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(route_text(c, "outlook.example.com", buf, sizeof(buf)),
			    "view=- rule=outlook.example.com source=m365:1 via=hq,branch");
	assert_string_equal(route_text(c, "teams.example.net", buf, sizeof(buf)),
			    "view=- rule=teams.example.net source=m365:12 via=hq,branch");
	assert_string_equal(route_text(c, "a.outlook.example.com", buf, sizeof(buf)),
			    "view=- rule=*.outlook.example.com source=m365:1 via=hq,branch");
	assert_string_equal(route_text(c, "x-files.sharepoint.example", buf, sizeof(buf)),
			    "view=- rule=*-files.sharepoint.example source=m365:31 via=hq,branch");
	/* an exception: Microsoft's URL, routed to the default */
	assert_string_equal(route_text(c, "cdn.odc.officeapps.example.org", buf, sizeof(buf)),
			    "view=- rule=cdn.odc.officeapps.example.org source=m365:91 via=branch");
	/* the operator's own rules keep the form the operator wrote, '=' included */
	assert_string_equal(route_text(c, "smtp.example.com", buf, sizeof(buf)),
			    "view=- rule==smtp.example.com source=erdns.json:4:19 via=branch");
	assert_string_equal(route_text(c, "a.corp.example", buf, sizeof(buf)),
			    "view=- rule=*.corp.example source=erdns.json:4:40 via=branch");
	assert_string_equal(route_text(c, "www.example.org", buf, sizeof(buf)),
			    "view=- rule=default source=config via=branch");
	config_unref(c);
}

static void test_zone_error_passes_through(void **state)
{
	(void)state;
	char err[ER_CONFIG_ERR_MAX] = "";
	config_t *c =
	    load_text("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
		      "  \"zones\": [ { \"file\": \"" FIX "/zones/bad.zone\" } ] }",
		      err, sizeof(err));
	assert_null(c);
	/* the zone file's own message, naming the zone file and line */
	const char *prefix = FIX "/zones/bad.zone:4: ";
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("got \"%s\"", err);
}

/* Not inside the zone file: the config's position comes first. */
static void test_missing_zone_file(void **state)
{
	(void)state;
	char want[ER_CONFIG_ERR_MAX];
	snprintf(want, sizeof(want),
		 ":2:24: zones[0].file: %s/nope.zone: No such file or directory", tmpdir);
	assert_load_error("{ \"upstreams\": { \"branch\": { \"servers\": [\"10.0.0.2\"] } },\n"
			  "  \"zones\": [ { \"file\": \"nope.zone\" } ] }",
			  want);
}

static void test_resolvconf_error_in_group(void **state)
{
	(void)state;
	char want[ER_CONFIG_ERR_MAX];
	snprintf(want, sizeof(want),
		 ":1:42: upstreams.branch.servers[0]: %s/resolv.conf/self.conf: no usable "
		 "nameserver (each one is this server itself)",
		 ERDNS_FIXTURES);
	assert_load_error(
	    "{ \"upstreams\": { \"branch\": { \"servers\": [\"resolv.conf:" ERDNS_FIXTURES
	    "/resolv.conf/self.conf\"] } } }",
	    want);
}

/* --- one health policy per address (SPEC 2.1) ----------------------------- */

static void assert_load_ok(const char *json)
{
	char err[ER_CONFIG_ERR_MAX] = "";
	config_t *c = load_text(json, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	config_unref(c);
}

/* Health belongs to the address, so two groups listing one address must
 * agree on max_fails and probe_interval_ms; the error points at the later
 * group and names the earlier one. */
static void test_shared_address_differing_max_fails(void **state)
{
	(void)state;
	assert_load_error(
	    "{ \"upstreams\": {\n"
	    "    \"hq\":    { \"servers\": [\"10.0.0.1\", \"10.0.0.2\"] },\n"
	    "    \"hq-eu\": { \"servers\": [\"10.0.0.3\", \"10.0.0.1:53\"], \"max_fails\": 5 } },\n"
	    "  \"default\": \"hq\" }",
	    ":3:5: upstreams.hq-eu: server 10.0.0.1:53 is also in group \"hq\" with max_fails 3 "
	    "(here 5); one address has one health policy (set the same max_fails and "
	    "probe_interval_ms in both groups)");
}

static void test_shared_address_differing_probe_interval(void **state)
{
	(void)state;
	/* IPv6, written two ways: "IP" takes port 53 */
	assert_load_error(
	    "{ \"upstreams\": {\n"
	    "    \"a\": { \"servers\": \"2001:db8::53\", \"probe_interval_ms\": 2000 },\n"
	    "    \"b\": { \"servers\": \"10.0.0.9\" },\n"
	    "    \"c\": { \"servers\": [\"[2001:db8::53]:53\"], \"max_fails\": 4 } },\n"
	    "  \"default\": \"a\" }",
	    ":4:5: upstreams.c: server [2001:db8::53]:53 is also in group \"a\" with max_fails 3 "
	    "(here 4) and probe_interval_ms 2000 (here 1000); one address has one health "
	    "policy (set the same max_fails and probe_interval_ms in both groups)");
	assert_load_error(
	    "{ \"upstreams\": {\n"
	    "    \"a\": { \"servers\": \"10.0.0.1\", \"max_fails\": 4 },\n"
	    "    \"b\": { \"servers\": \"10.0.0.1\", \"max_fails\": 4,"
	    " \"probe_interval_ms\": 500 } },\n"
	    "  \"default\": \"a\" }",
	    ":3:5: upstreams.b: server 10.0.0.1:53 is also in group \"a\" with "
	    "probe_interval_ms 1000 (here 500); one address has one health policy (set the same "
	    "max_fails and probe_interval_ms in both groups)");
}

/* Servers read from a resolv.conf file are addresses like any other. */
static void test_shared_address_from_resolvconf(void **state)
{
	(void)state;
	assert_load_error(
	    "{ \"upstreams\": {\n"
	    "    \"branch\": { \"servers\":"
	    " \"resolv.conf:" ERDNS_FIXTURES "/resolv.conf/branch.conf\" },\n"
	    "    \"hq\": { \"servers\": [\"198.51.100.54\"], \"max_fails\": 1 } } }",
	    ":3:5: upstreams.hq: server 198.51.100.54:53 is also in group \"branch\" "
	    "with max_fails 3 (here 1); one address has one health policy (set the same "
	    "max_fails and probe_interval_ms in both groups)");
}

static void test_shared_address_same_policy_ok(void **state)
{
	(void)state;
	/* the same settings, written out in one group and defaulted in the other;
	 * a group sharing no address keeps its own */
	assert_load_ok("{ \"upstreams\": {\n"
		       "    \"hq\":     { \"servers\": [\"10.0.0.1\", \"[2001:db8::1]:53\"],"
		       " \"max_fails\": 3, \"probe_interval_ms\": 1000, \"timeout_ms\": 900 },\n"
		       "    \"hq-eu\":  { \"servers\": [\"10.0.0.1\", \"2001:db8::1\"],"
		       " \"select\": \"ordered\" },\n"
		       "    \"branch\": { \"servers\": [\"10.0.0.2\"], \"max_fails\": 2,"
		       " \"probe_interval_ms\": 500 } } }");
}

/* Another port, or another IPv6 address, is another server with its own health. */
static void test_distinct_addresses_may_differ(void **state)
{
	(void)state;
	assert_load_ok("{ \"upstreams\": {\n"
		       "    \"hq\":     { \"servers\": [\"10.0.0.1:53\", \"[2001:db8::1]:53\"] },\n"
		       "    \"branch\": { \"servers\": [\"10.0.0.1:5353\", \"[2001:db8::1]:5353\","
		       " \"[2001:db8::2]:53\"], \"max_fails\": 7, \"probe_interval_ms\": 250 } } }");
}

/* --- positions and helpers ------------------------------------------------ */

static void test_json_positions(void **state)
{
	(void)state;
	cJSON *root = NULL;
	json_pos_t *pos = NULL;
	char err[128];
	const char *text = "\xEF\xBB\xBF{\n"
			   "\t\"\xc3\xa9t\xc3\xa9\": [1, {\"k\\\"q\": null}],\n"
			   "  \"b\": \"x\"\n"
			   "}";
	assert_int_equal(json_pos_parse(text, &root, &pos, err, sizeof(err)), 0);
	uint32_t line, col;
	assert_int_equal(json_pos_of(pos, root, &line, &col), 0);
	assert_int_equal(line, 1);
	assert_int_equal(col, 2); /* the BOM counts as one character */
	assert_int_equal(json_pos_key_of(pos, root, &line, &col), -ENOENT);

	const cJSON *arr = root->child;
	assert_int_equal(json_pos_key_of(pos, arr, &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 2);
	assert_int_equal(json_pos_of(pos, arr, &line, &col), 0);
	assert_int_equal(col, 9);
	const cJSON *obj = arr->child->next;
	assert_int_equal(json_pos_of(pos, obj->child, &line, &col), 0);
	assert_int_equal(col, 22);
	assert_int_equal(json_pos_key_of(pos, obj->child, &line, &col), 0);
	assert_int_equal(col, 14);
	assert_int_equal(json_pos_of(pos, root->child->next, &line, &col), 0);
	assert_int_equal(line, 3);
	assert_int_equal(col, 8);

	cJSON *other = cJSON_CreateNull();
	assert_int_equal(json_pos_of(pos, other, &line, &col), -ENOENT);
	assert_int_equal(line, 0);
	cJSON_Delete(other);
	cJSON_Delete(root);
	json_pos_free(pos);
}

static void test_json_nesting_is_bounded(void **state)
{
	(void)state;
	char text[2 * 70 + 1];
	memset(text, '[', 70);
	memset(text + 70, ']', 70);
	text[140] = '\0';
	cJSON *root = NULL;
	json_pos_t *pos = NULL;
	char err[128];
	assert_int_equal(json_pos_parse(text, &root, &pos, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "1:65: nesting deeper than 64 levels");
	assert_null(root);
	assert_null(pos);
}

/* --- server.client_qps and client_burst ----------------------------------- */

#define BRANCH_ONLY "\"upstreams\": { \"branch\": { \"servers\": [\"192.0.2.1\"] } }"

/* The summary's line for c. */
static void assert_summary_has(const config_t *c, const char *line)
{
	char *buf = summary_of(c);
	if (strstr(buf, line) == NULL)
		fail_msg("[%s] not in the summary:\n%s", line, buf);
	free(buf);
}

static config_t *load_server(const char *server_members)
{
	char json[512], err[ER_CONFIG_ERR_MAX] = "";
	snprintf(json, sizeof(json), "{ \"server\": { %s },\n" BRANCH_ONLY " }", server_members);
	config_t *c = load_text(json, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void test_client_limit(void **state)
{
	(void)state;
	config_t *c = load_ok(FIX "/minimal.json"); /* absent: off */
	assert_int_equal(c->client_qps, 0);
	assert_summary_has(c, "client limit: off\n");
	config_unref(c);
	c = load_server("\"client_qps\": 0");
	assert_int_equal(c->client_qps, 0);
	config_unref(c);
	c = load_server("\"client_qps\": 20"); /* the burst defaults to the rate */
	assert_int_equal(c->client_qps, 20);
	assert_int_equal(c->client_burst, 20);
	assert_summary_has(c, "client limit: 20 queries/s, burst 20, per IPv4 /32 and IPv6 /64\n");
	config_unref(c);
	c = load_server("\"client_burst\": 100, \"client_qps\": 5"); /* order does not matter */
	assert_int_equal(c->client_qps, 5);
	assert_int_equal(c->client_burst, 100);
	config_unref(c);
	c = load_server("\"client_qps\": 1000000, \"client_burst\": 1000"); /* a ms's worth */
	assert_int_equal(c->client_burst, 1000);
	config_unref(c);
	c = load_server("\"client_qps\": 1001, \"client_burst\": 2");
	assert_int_equal(c->client_burst, 2);
	config_unref(c);
}

static void test_client_limit_errors(void **state)
{
	(void)state;
	assert_load_error("{ \"server\": { \"client_qps\": -1 } }",
			  ":1:29: server.client_qps: must be between 0 and 1000000");
	assert_load_error("{ \"server\": { \"client_qps\": 1000001 } }",
			  ":1:29: server.client_qps: must be between 0 and 1000000");
	assert_load_error("{ \"server\": { \"client_qps\": 2.5 } }",
			  ":1:29: server.client_qps: expected an integer");
	assert_load_error("{ \"server\": { \"client_qps\": \"20\" } }",
			  ":1:29: server.client_qps: expected an integer");
	assert_load_error("{ \"server\": { \"client_qps\": 20, \"client_burst\": 0 } }",
			  ":1:49: server.client_burst: must be between 1 and 1000000");
	assert_load_error("{ \"server\": {\n"
			  "    \"client_burst\": 50\n"
			  "} }",
			  ":2:5: server.client_burst: has no effect without client_qps; set "
			  "client_qps (queries a second per client) or remove client_burst");
	assert_load_error("{ \"server\": { \"client_qps\": 0, \"client_burst\": 50 } }",
			  ":1:32: server.client_burst: has no effect without client_qps; set "
			  "client_qps (queries a second per client) or remove client_burst");
	assert_load_error("{ \"server\": { \"client_qps\": 5000, \"client_burst\": 4 } }",
			  ":1:51: server.client_burst: must be at least client_qps / 1000 (5): "
			  "the clock ticks in milliseconds and at most client_burst queries pass "
			  "in one");
	assert_load_error("{ \"server\": { \"client_qsp\": 20 } }",
			  ":1:15: server: unknown key \"client_qsp\" (did you mean "
			  "\"client_qps\"?)");
}

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(schema_edit_distance("timeout_ms", "timeout_ms"), 0);
	assert_int_equal(schema_edit_distance("tiemout_ms", "timeout_ms"), 2);
	assert_int_equal(schema_edit_distance("listn", "listen"), 1);
	assert_int_equal(schema_edit_distance("", "abc"), 3);
	assert_int_equal(schema_edit_distance("kitten", "sitting"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_gets_every_default),
	    cmocka_unit_test(test_full_example),
	    cmocka_unit_test(test_equal_chains_share_an_index),
	    cmocka_unit_test(test_chain_may_pass_ecs),
	    cmocka_unit_test(test_refcount),
	    cmocka_unit_test(test_summary_is_honest),
	    cmocka_unit_test(test_servers_default_port_and_relative_resolvconf),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_top_level_must_be_an_object),
	    cmocka_unit_test(test_unreadable_file),
	    cmocka_unit_test(test_unknown_key_did_you_mean),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_bad_enums),
	    cmocka_unit_test(test_unknown_group_in_via),
	    cmocka_unit_test(test_domains_conflict_names_both_places),
	    cmocka_unit_test(test_bad_listen_address),
	    cmocka_unit_test(test_bad_netblock),
	    cmocka_unit_test(test_missing_default),
	    cmocka_unit_test(test_view_without_clients),
	    cmocka_unit_test(test_route_shape),
	    cmocka_unit_test(test_m365_route),
	    cmocka_unit_test(test_m365_audit),
	    cmocka_unit_test(test_route_text_shows_rules_as_written),
	    cmocka_unit_test(test_zone_error_passes_through),
	    cmocka_unit_test(test_missing_zone_file),
	    cmocka_unit_test(test_resolvconf_error_in_group),
	    cmocka_unit_test(test_shared_address_differing_max_fails),
	    cmocka_unit_test(test_shared_address_differing_probe_interval),
	    cmocka_unit_test(test_shared_address_from_resolvconf),
	    cmocka_unit_test(test_shared_address_same_policy_ok),
	    cmocka_unit_test(test_distinct_addresses_may_differ),
	    cmocka_unit_test(test_json_positions),
	    cmocka_unit_test(test_json_nesting_is_bounded),
	    cmocka_unit_test(test_client_limit),
	    cmocka_unit_test(test_client_limit_errors),
	    cmocka_unit_test(test_edit_distance),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
