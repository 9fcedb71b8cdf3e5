/*
 * What a reload changes (config/diff.c): groups added, removed and changed
 * by every key that changes how they are asked; rules per scope and
 * source; zones by apex; renumbered chains; keys that need a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diff.h"

static char dir[64];

static config_t *load(const char *body)
{
	char path[128], err[ER_CONFIG_ERR_MAX];
	snprintf(path, sizeof(path), "%s/erdns.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{ %s }\n", body);
	fclose(f);
	config_t *c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("config: %s", err);
	unlink(path);
	return c;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/erdns-test-diff-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

#define OLD                                                                                 \
	"\"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 1 },"                 \
	"\"upstreams\": { \"hq\": { \"servers\": [\"127.0.0.1:5301\"] },"                   \
	"  \"eu\": { \"servers\": [\"127.0.0.1:5302\"] },"                                  \
	"  \"branch\": { \"servers\": [\"127.0.0.1:5303\"] } },"                            \
	"\"routes\": [ { \"domains\": [\"a.example\", \"b.example\"], \"via\": \"hq\" } ],"  \
	"\"views\": [ { \"name\": \"pilot\", \"clients\": [\"10.0.0.0/8\"],"                \
	"  \"routes\": [ { \"domains\": [\"c.example\"], \"via\": \"eu\" } ] } ]"

static const char *strings(const cJSON *arr, char *buf, size_t len)
{
	buf[0] = '\0';
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		strncat(buf, buf[0] ? "," : "", len - strlen(buf) - 1);
		strncat(buf, cJSON_GetStringValue(it), len - strlen(buf) - 1);
	}
	return buf;
}

static const cJSON *path2(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(o, a), b);
}

static void test_same_config_changes_nothing(void **state)
{
	(void)state;
	config_t *a = load(OLD), *b = load(OLD);
	cJSON *d = config_diff(a, b);
	assert_non_null(d);
	char buf[256];
	assert_string_equal(strings(path2(d, "groups", "added"), buf, sizeof(buf)), "");
	assert_string_equal(strings(path2(d, "groups", "changed"), buf, sizeof(buf)), "");
	assert_false(cJSON_IsTrue(path2(d, "chains", "renumbered")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "restart_needed")), 0);
	config_diff_summary(d, buf, sizeof(buf));
	assert_string_equal(buf, "groups +0 -0 ~0, 3 rules (was 3), 0 zones, "
				 "route chains unchanged");
	assert_true(config_same_chains(a, b));
	assert_true(config_same_listeners(a, b));
	cJSON_Delete(d);
	config_unref(a);
	config_unref(b);
}

static void test_groups_rules_zones_restart(void **state)
{
	(void)state;
	config_t *a = load(OLD);
	config_t *b = load(
		"\"server\": { \"listen\": [\"127.0.0.1:5399\"], \"threads\": 2 },"
		"\"upstreams\": { \"hq\": { \"servers\": [\"127.0.0.1:5301\"], \"timeout_ms\": 900 },"
		"  \"new\": { \"servers\": [\"127.0.0.1:5304\"] },"
		"  \"branch\": { \"servers\": [\"127.0.0.1:5303\"] } },"
		"\"routes\": [ { \"domains\": [\"a.example\"], \"via\": [\"new\", \"hq\"] } ],"
		"\"zones\": [ { \"file\": \"" ERDNS_FIXTURES "/config/zones/ok.zone\" } ],"
		"\"control\": { \"socket\": \"/tmp/other.sock\" }");
	cJSON *d = config_diff(a, b);
	assert_non_null(d);
	char buf[256];
	assert_string_equal(strings(path2(d, "groups", "added"), buf, sizeof(buf)), "new");
	assert_string_equal(strings(path2(d, "groups", "removed"), buf, sizeof(buf)), "eu");
	assert_string_equal(strings(path2(d, "groups", "changed"), buf, sizeof(buf)), "hq");
	assert_string_equal(strings(path2(d, "zones", "added"), buf, sizeof(buf)),
			    "branch.contoso.com");
	assert_true(cJSON_IsTrue(path2(d, "chains", "renumbered")));
	assert_string_equal(strings(cJSON_GetObjectItem(d, "restart_needed"), buf, sizeof(buf)),
			    "server.listen,server.threads,control.socket");
	/* the global routes, then the view only the old config had, at 0 */
	const cJSON *rules = cJSON_GetObjectItem(d, "rules");
	assert_int_equal(cJSON_GetArraySize(rules), 2);
	const cJSON *g = cJSON_GetArrayItem(rules, 0), *v = cJSON_GetArrayItem(rules, 1);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "scope")), "global");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(g, "domains")), 1);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(g, "was_domains")), 2);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(v, "scope")), "view pilot");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "domains")), 0);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "was_domains")), 1);
	config_diff_summary(d, buf, sizeof(buf));
	assert_string_equal(buf, "groups +1 -1 ~1, 1 rules (was 3), 1 zones, routes renumbered; "
				 "restart needed for server.listen, server.threads, "
				 "control.socket");
	/* a short buffer is cut, not overrun */
	char small[20];
	memset(small, 'x', sizeof(small));
	config_diff_summary(d, small, 10);
	assert_string_equal(small, "groups +1");
	assert_int_equal(small[10], 'x');
	assert_false(config_same_listeners(a, b));
	cJSON_Delete(d);
	config_unref(a);
	config_unref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_config_changes_nothing),
		cmocka_unit_test(test_groups_rules_zones_restart),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
