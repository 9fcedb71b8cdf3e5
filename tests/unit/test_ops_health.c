/*
 * The /health rule (ops/health.c) over real snapshots and a real health
 * table, with servers marked down through the table as the workers do.
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

#include "ops/health.h"

typedef struct fixture {
	char dir[64];
	config_t *config;
	health_table_t *table;
} fixture_t;

#define UPSTREAMS                                                                           \
	"\"upstreams\": {"                                                                  \
	"  \"hq\": { \"servers\": [\"127.0.0.1:5301\", \"127.0.0.1:5302\"], \"max_fails\": 1 }," \
	"  \"hq-eu\": { \"servers\": [\"127.0.0.1:5303\"], \"max_fails\": 1 },"             \
	"  \"branch\": { \"servers\": [\"127.0.0.1:5304\"], \"max_fails\": 1 } },"          \
	"\"routes\": [ { \"domains\": [\"a.example\"], \"via\": [\"hq\", \"branch\"] },"      \
	"              { \"domains\": [\"b.example\"], \"via\": [\"hq-eu\", \"branch\"] } ]"

static void load(fixture_t *f, const char *dflt)
{
	char path[128], err[ER_CONFIG_ERR_MAX];
	snprintf(path, sizeof(path), "%s/erdns.json", f->dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "{ \"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 1 },\n"
		     "  " UPSTREAMS ",\n  \"default\": %s }\n",
		dflt);
	fclose(out);
	f->config = config_load(path, err, sizeof(err));
	if (f->config == NULL)
		fail_msg("config: %s", err);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	unlink(path);
}

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/erdns-test-ops-health-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	f.table = health_table_new();
	assert_non_null(f.table);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	config_unref(f->config);
	health_table_free(f->table);
	rmdir(f->dir);
	return 0;
}

/* Marks server s of group name down (max_fails is 1). */
static void mark_down(fixture_t *f, const char *name, size_t s)
{
	const config_group_t *g = &f->config->groups[config_group_index(f->config, name)];
	assert_true(health_table_on_failure(f->table, NULL, g->health_ids[s], true, 0));
}

static void mark_up(fixture_t *f, const char *name, size_t s)
{
	const config_group_t *g = &f->config->groups[config_group_index(f->config, name)];
	assert_true(health_table_on_alive(f->table, g->health_ids[s]));
}

static ops_health_t check(fixture_t *f, char *reason, size_t len)
{
	return ops_health_check(f->config, f->table, true, reason, len);
}

static void test_all_up_is_ok(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	char reason[256] = "x";
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_OK);
	assert_string_equal(reason, "");
	assert_string_equal(ops_health_name(OPS_HEALTH_OK), "ok");
}

static void test_not_serving_is_down(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	char reason[256];
	assert_int_equal(ops_health_check(f->config, f->table, false, reason, sizeof(reason)),
			 OPS_HEALTH_DOWN);
	assert_string_equal(reason, "not serving");
	assert_string_equal(ops_health_name(OPS_HEALTH_DOWN), "down");
}

/* One server of two down: the group is still reachable. */
static void test_one_server_down_is_ok(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	mark_down(f, "hq", 0);
	char reason[256];
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_OK);
}

static void test_first_group_down_is_degraded(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	mark_down(f, "hq", 0);
	mark_down(f, "hq", 1);
	char reason[256];
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_DEGRADED);
	assert_string_equal(reason, "no reachable server in group hq, first of chain hq,branch");
	assert_string_equal(ops_health_name(OPS_HEALTH_DEGRADED), "degraded");
	mark_down(f, "hq-eu", 0);
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_DEGRADED);
	assert_string_equal(reason, "no reachable server in group hq, first of chain hq,branch "
				    "(and 1 more chain)");
	/* recovery is seen at once */
	mark_up(f, "hq", 1);
	mark_up(f, "hq-eu", 0);
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_OK);
}

/* The default chain "branch" alone: its one group down is down, whatever
 * the other chains can still do. */
static void test_default_chain_unreachable_is_down(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	mark_down(f, "branch", 0);
	char reason[256];
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_DOWN);
	assert_string_equal(reason, "no reachable server in any group of the default chain branch");
}

/* A default chain with a later group that answers: degraded, not down. */
static void test_default_chain_fallback_is_degraded(void **state)
{
	fixture_t *f = *state;
	load(f, "[\"hq-eu\", \"branch\"]");
	mark_down(f, "hq-eu", 0);
	char reason[256];
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_DEGRADED);
	assert_string_equal(reason,
			    "no reachable server in group hq-eu, first of chain hq-eu,branch");
	mark_down(f, "branch", 0);
	assert_int_equal(check(f, reason, sizeof(reason)), OPS_HEALTH_DOWN);
}

/* A short buffer truncates the reason, never overflows it. */
static void test_reason_truncated(void **state)
{
	fixture_t *f = *state;
	load(f, "\"branch\"");
	mark_down(f, "hq", 0);
	mark_down(f, "hq", 1);
	mark_down(f, "hq-eu", 0);
	char reason[16];
	memset(reason, 'x', sizeof(reason));
	assert_int_equal(check(f, reason, 12), OPS_HEALTH_DEGRADED);
	assert_string_equal(reason, "no reachabl");
	assert_int_equal(reason[12], 'x');
	assert_int_equal(check(f, NULL, 0), OPS_HEALTH_DEGRADED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_up_is_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_serving_is_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_server_down_is_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_group_down_is_degraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_chain_unreachable_is_down, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_default_chain_fallback_is_degraded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reason_truncated, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
