/*
 * The health of upstream addresses: the pure state machine (health.c) with
 * a plain counter for a clock, and the shared table (health_table.c) as the
 * workers use it: several views on one table, on several threads, must
 * agree on up/down at once and on RTT after a sync.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "upstream/health.h"
#include "upstream/health_table.h"
#include "util/sockaddr.h"

static void fail_n(server_health_t *h, int times, uint32_t max_fails, uint64_t now)
{
	for (int i = 0; i < times; i++)
		health_on_failure(h, true, max_fails, 1000, now);
}

static void test_max_fails_counting(void **state)
{
	(void)state;
	server_health_t h;

	health_init(&h);
	assert_false(health_on_failure(&h, false, 3, 1000, 100));
	assert_false(health_on_failure(&h, true, 3, 1000, 100));
	assert_false(h.is_down);
	assert_true(health_is_usable(&h, 100));
	/* a success in between resets the count */
	assert_false(health_on_success(&h, 10000));
	assert_int_equal(h.consecutive_fails, 0);
	assert_false(health_on_failure(&h, false, 3, 1000, 100));
	assert_false(health_on_failure(&h, false, 3, 1000, 100));
	assert_true(health_on_failure(&h, false, 3, 1000, 100));
	assert_true(h.is_down);
	assert_int_equal(h.next_probe_ms, 1100);
	assert_false(health_is_usable(&h, 1099));
	assert_true(health_is_usable(&h, 1100));
	assert_true(health_on_success(&h, 10000));
	assert_false(h.is_down);

	/* max_fails 0 means the first failure marks down */
	health_init(&h);
	assert_true(health_on_failure(&h, false, 0, 1000, 0));
	health_init(&h);
	assert_true(health_on_failure(&h, false, 1, 1000, 0));
}

static void test_timeout_failure_backs_off_rtt(void **state)
{
	(void)state;
	server_health_t h;

	health_init(&h);
	health_on_success(&h, 20000);
	health_on_failure(&h, false, 3, 1000, 0);
	assert_int_equal(h.rtt.backoff, 0);
	health_on_failure(&h, true, 3, 1000, 0);
	assert_int_equal(h.rtt.backoff, 1);
	assert_int_equal(rtt_timeout_ms(&h.rtt, 1500), 120);
	health_on_success(&h, 20000);
	assert_int_equal(h.rtt.backoff, 0);
}

static void test_probe_backoff_to_30s(void **state)
{
	(void)state;
	server_health_t h;
	uint64_t now = 0;
	const uint32_t want[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };

	health_init(&h);
	fail_n(&h, 2, 2, now);
	assert_true(h.is_down);
	assert_int_equal(h.probe_wait_ms, want[0]);
	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
		now = h.next_probe_ms;
		assert_false(health_is_usable(&h, now - 1));
		assert_true(health_is_usable(&h, now));
		/* the trial fails: not "marked down" again, just a longer wait */
		health_on_trial_started(&h, now);
		assert_false(health_on_failure(&h, true, 2, 1000, now));
		assert_true(h.is_down);
		assert_int_equal(h.probe_wait_ms, want[i]);
		assert_int_equal(h.next_probe_ms, now + want[i]);
	}
	assert_true(health_on_success(&h, 5000));
	/* down again later: the backoff starts over */
	fail_n(&h, 2, 2, now);
	assert_int_equal(h.probe_wait_ms, 1000);
	assert_int_equal(h.next_probe_ms, now + 1000);
}

/* Failures of attempts sent before the server went down (one per worker
 * that had a query in flight) are no trials: the first probe stays at one
 * probe interval instead of being pushed out to seconds. */
static void test_late_failures_keep_probe_time(void **state)
{
	(void)state;
	server_health_t h;

	health_init(&h);
	fail_n(&h, 3, 3, 100);
	assert_int_equal(h.next_probe_ms, 1100);
	fail_n(&h, 4, 3, 150);
	assert_int_equal(h.next_probe_ms, 1100);
	assert_int_equal(h.probe_wait_ms, 1000);
	health_on_trial_started(&h, 1100);
	assert_false(health_on_failure(&h, true, 3, 1000, 1300));
	assert_int_equal(h.probe_wait_ms, 2000);
	assert_int_equal(h.next_probe_ms, 3300);
}

static void test_alive_resets_without_rtt(void **state)
{
	(void)state;
	server_health_t h;

	health_init(&h);
	fail_n(&h, 2, 3, 0);
	assert_false(health_on_alive(&h));
	assert_int_equal(h.consecutive_fails, 0);
	assert_false(h.rtt.has_sample);
	fail_n(&h, 3, 3, 0);
	assert_true(h.is_down);
	assert_true(health_on_alive(&h));
	assert_false(h.is_down);
	assert_false(h.rtt.has_sample); /* an error rcode is no RTT sample */
}

/* --- the shared table ---------------------------------------------------- */

typedef struct fixture {
	char dir[64];
	config_t *config;
	health_table_t *table;
} fixture_t;

/* A config whose groups name the given JSON "upstreams" object. */
static config_t *load(fixture_t *f, const char *upstreams)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/erdns.json", f->dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out,
		"{ \"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 1 },\n"
		"  \"upstreams\": %s,\n  \"default\": \"branch\" }\n",
		upstreams);
	fclose(out);
	char err[ER_CONFIG_ERR_MAX];
	config_t *c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("config: %s", err);
	return c;
}

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/erdns-test-health-XXXXXX");
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
	char path[128];
	snprintf(path, sizeof(path), "%s/erdns.json", f->dir);
	unlink(path);
	rmdir(f->dir);
	return 0;
}

#define TWO_GROUPS                                                                         \
	"{ \"hq\": { \"servers\": [\"127.0.0.1:5301\", \"127.0.0.1:5302\"], \"max_fails\": 2 }," \
	"  \"branch\": { \"servers\": [\"127.0.0.1:5302\"], \"max_fails\": 2 } }"

static void test_one_id_per_address(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	assert_int_equal(health_table_size(f->table), 2);
	int hq = config_group_index(f->config, "hq"), br = config_group_index(f->config, "branch");
	/* 127.0.0.1:5302 is in both groups: one address, one id, one health */
	assert_int_equal(f->config->groups[hq].health_ids[1], f->config->groups[br].health_ids[0]);
	assert_int_not_equal(f->config->groups[hq].health_ids[0],
			     f->config->groups[hq].health_ids[1]);
	char text[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format(health_table_addr(f->table, f->config->groups[br].health_ids[0]), text,
			sizeof(text));
	assert_string_equal(text, "127.0.0.1:5302");
}

/* Regression (issue 9, defect 1): each worker had its own table, so each
 * had to see max_fails failures before it skipped a dead server. */
static void test_down_is_shared_at_once(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *a = health_view_new(f->table), *b = health_view_new(f->table);
	const uint16_t *ids = f->config->groups[config_group_index(f->config, "hq")].health_ids;
	assert_false(health_table_on_failure(f->table, a, ids[0], true, 100));
	assert_true(health_table_on_failure(f->table, b, ids[0], true, 110)); /* 2nd, other view */
	assert_false(health_table_on_failure(f->table, a, ids[0], true, 120)); /* already down */
	server_health_t seen[2];
	health_view_fill(a, ids, 2, seen);
	assert_true(seen[0].is_down);
	assert_false(seen[1].is_down);
	health_view_fill(b, ids, 2, seen);
	assert_true(seen[0].is_down);
	/* one prober: the trial is taken once per probe interval, by whoever asks */
	health_policy_t policy;
	assert_false(health_table_take_probe(f->table, ids[0], 1109, &policy));
	assert_true(health_table_take_probe(f->table, ids[0], 1110, &policy));
	assert_int_equal(policy.max_fails, 2);
	assert_false(health_table_take_probe(f->table, ids[0], 1111, &policy));
	/* an answer through any view marks it up for all, and exactly once */
	assert_true(health_table_on_success(f->table, b, ids[0], 5000));
	assert_false(health_table_on_success(f->table, a, ids[0], 5000));
	health_view_fill(a, ids, 2, seen);
	assert_false(seen[0].is_down);
	health_view_free(a);
	health_view_free(b);
}

/* A success in between resets the count for every view: failures are
 * counted in a row per address, not per worker. */
static void test_success_resets_shared_count(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *a = health_view_new(f->table), *b = health_view_new(f->table);
	uint16_t id = f->config->groups[0].health_ids[0];
	assert_false(health_table_on_failure(f->table, a, id, false, 0));
	assert_false(health_table_on_success(f->table, b, id, 3000));
	assert_false(health_table_on_failure(f->table, a, id, false, 0));
	assert_false(health_table_is_down(f->table, id));
	/* an error rcode (alive) resets it too */
	assert_false(health_table_on_alive(f->table, id));
	assert_false(health_table_on_failure(f->table, a, id, false, 0));
	assert_false(health_table_is_down(f->table, id));
	health_view_free(a);
	health_view_free(b);
}

/* RTT: a view's samples reach the others at the next sync of both. */
static void test_rtt_merged_by_sync(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *a = health_view_new(f->table), *b = health_view_new(f->table);
	uint16_t id = f->config->groups[0].health_ids[1];
	health_table_on_success(f->table, a, id, 40000);
	assert_true(health_view_rtt(a, id)->has_sample);
	assert_false(health_view_rtt(b, id)->has_sample); /* not yet merged */
	health_view_sync(a); /* publishes */
	health_view_sync(b); /* adopts */
	assert_true(health_view_rtt(b, id)->has_sample);
	assert_int_equal(rtt_srtt_ms(health_view_rtt(b, id)), 40);
	/* b learns more; a adopts at its next sync */
	for (int i = 0; i < 20; i++)
		health_table_on_success(f->table, b, id, 10000);
	health_view_sync(b);
	health_view_sync(a);
	assert_int_equal(rtt_srtt_ms(health_view_rtt(a, id)), rtt_srtt_ms(health_view_rtt(b, id)));
	assert_true(rtt_srtt_ms(health_view_rtt(a, id)) < 15);
	health_view_free(a);
	health_view_free(b);
}

/* A reload keeps the state of every address that stays; an address it
 * drops keeps its state but is not probed; one it adds starts up. */
static void test_reload_keeps_state(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *v = health_view_new(f->table);
	uint16_t gone = f->config->groups[0].health_ids[0];
	uint16_t stays = f->config->groups[0].health_ids[1];
	for (int i = 0; i < 2; i++) {
		health_table_on_failure(f->table, v, gone, true, 0);
		health_table_on_failure(f->table, v, stays, true, 0);
	}
	config_t *next = load(f, "{ \"branch\": { \"servers\": [\"127.0.0.1:5302\", "
				 "\"127.0.0.1:5303\"], \"max_fails\": 2 } }");
	assert_int_equal(health_table_apply(f->table, next, err, sizeof(err)), 0);
	assert_int_equal(next->groups[0].health_ids[0], stays);
	assert_true(health_table_is_down(f->table, stays));
	assert_false(health_table_is_down(f->table, next->groups[0].health_ids[1]));
	health_policy_t policy;
	assert_false(health_table_take_probe(f->table, gone, 100000, &policy));
	assert_true(health_table_take_probe(f->table, stays, 100000, &policy));
	health_view_free(v);
	config_unref(next);
}

/* Two threads hammer one address through their own views: every failure
 * is counted (no lost update), exactly one of them sees the transition. */
typedef struct racer {
	health_table_t *table;
	uint16_t id;
	int marked;
} racer_t;

static void *race(void *arg)
{
	racer_t *r = arg;
	health_view_t *v = health_view_new(r->table);
	for (int i = 0; i < 10000; i++) {
		if (health_table_on_failure(r->table, v, r->id, false, 0))
			r->marked++;
		if (i % 100 == 0)
			health_view_sync(v);
	}
	health_view_free(v);
	return NULL;
}

static void test_transition_seen_once_across_threads(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, "{ \"branch\": { \"servers\": [\"127.0.0.1:5302\"], "
			    "\"max_fails\": 100 } }");
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	racer_t r[2] = { { f->table, f->config->groups[0].health_ids[0], 0 },
			 { f->table, f->config->groups[0].health_ids[0], 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r[0].marked + r[1].marked, 1);
	assert_true(health_table_is_down(f->table, r[0].id));
	health_view_t *v = health_view_new(f->table);
	server_health_t seen;
	health_view_fill(v, &r[0].id, 1, &seen);
	assert_int_equal(seen.consecutive_fails, 20000); /* no update lost */
	health_view_free(v);
}

/* --- health_table_info (erdns ctl upstreams) ----------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The info is the shared state: failures and down at once, RTT once a view
 * has published it, and a wall-clock time only when up/down changed. */
static void test_info_follows_transitions(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *v = health_view_new(f->table);
	uint16_t id = f->config->groups[0].health_ids[0];
	health_info_t info;
	health_table_info(f->table, id, &info);
	assert_false(info.is_down);
	assert_true(info.is_in_use);
	assert_int_equal(info.consecutive_fails, 0);
	assert_int_equal(info.last_change_ms, 0); /* never changed */
	assert_int_equal(rtt_srtt_ms(&info.rtt), -1);

	health_table_on_failure(f->table, v, id, false, 0);
	health_table_info(f->table, id, &info);
	assert_int_equal(info.consecutive_fails, 1);
	assert_false(info.is_down);
	assert_int_equal(info.last_change_ms, 0); /* a failure is no transition */

	int64_t before = wall_ms();
	assert_true(health_table_on_failure(f->table, v, id, false, 0));
	int64_t after = wall_ms();
	health_table_info(f->table, id, &info);
	assert_true(info.is_down);
	assert_int_equal(info.consecutive_fails, 2);
	assert_true(info.last_change_ms >= before && info.last_change_ms <= after);

	int64_t down_at = info.last_change_ms;
	health_table_on_failure(f->table, v, id, false, 0); /* still down: same time */
	health_table_info(f->table, id, &info);
	assert_int_equal(info.last_change_ms, down_at);

	usleep(2000);
	assert_true(health_table_on_success(f->table, v, id, 25000));
	health_table_info(f->table, id, &info);
	assert_false(info.is_down);
	assert_int_equal(info.consecutive_fails, 0);
	assert_true(info.last_change_ms > down_at);
	/* the RTT sample is the view's until it syncs */
	assert_int_equal(rtt_srtt_ms(&info.rtt), -1);
	health_view_sync(v);
	health_table_info(f->table, id, &info);
	assert_int_equal(rtt_srtt_ms(&info.rtt), 25);
	health_view_free(v);
}

/* The table's own fill agrees with a view's on up/down and takes the
 * merged RTT, so select_order ranks as the workers do after a sync. */
static void test_table_fill_uses_shared_state(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	health_view_t *v = health_view_new(f->table);
	const uint16_t *ids = f->config->groups[0].health_ids;
	health_table_on_success(f->table, v, ids[1], 30000);
	health_table_on_failure(f->table, v, ids[0], false, 500);
	health_table_on_failure(f->table, v, ids[0], false, 500);
	server_health_t got[2];
	health_table_fill(f->table, ids, 2, got);
	assert_true(got[0].is_down);
	assert_int_equal(got[0].next_probe_ms, 1500);
	assert_false(got[1].is_down);
	assert_false(got[1].rtt.has_sample); /* not merged yet */
	health_view_sync(v);
	health_table_fill(f->table, ids, 2, got);
	assert_int_equal(rtt_srtt_ms(&got[1].rtt), 30);
	uint8_t order[2];
	uint32_t cursor = 0;
	assert_int_equal(select_order(SELECT_FASTEST, got, 2, &cursor, UINT32_MAX, 600, order), 1);
	assert_int_equal(order[0], 1);
	health_view_free(v);
}

/* An address a reload dropped is still in the table, no longer in use. */
static void test_info_in_use_after_reload(void **state)
{
	fixture_t *f = *state;
	char err[256];
	f->config = load(f, TWO_GROUPS);
	assert_int_equal(health_table_apply(f->table, f->config, err, sizeof(err)), 0);
	uint16_t gone = f->config->groups[0].health_ids[0];
	config_t *next = load(f, "{ \"branch\": { \"servers\": [\"127.0.0.1:5302\"] } }");
	assert_int_equal(health_table_apply(f->table, next, err, sizeof(err)), 0);
	health_info_t info;
	health_table_info(f->table, gone, &info);
	assert_false(info.is_in_use);
	health_table_info(f->table, next->groups[0].health_ids[0], &info);
	assert_true(info.is_in_use);
	config_unref(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_fails_counting),
		cmocka_unit_test(test_timeout_failure_backs_off_rtt),
		cmocka_unit_test(test_probe_backoff_to_30s),
		cmocka_unit_test(test_late_failures_keep_probe_time),
		cmocka_unit_test(test_alive_resets_without_rtt),
		cmocka_unit_test_setup_teardown(test_one_id_per_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_is_shared_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_resets_shared_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtt_merged_by_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transition_seen_once_across_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_info_follows_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_in_use_after_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_fill_uses_shared_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
