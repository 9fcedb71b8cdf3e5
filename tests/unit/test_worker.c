/*
 * Worker lifecycle (issue 9, defect 8): every path out of a worker, built
 * in full or in part, started or not, frees what it made and closes the
 * sockets it was given. Run under ASan (LeakSanitizer) in the sanitizer
 * build, which is what turns a leak into a failure; the descriptor checks
 * fail in either build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/worker.h"

typedef struct fixture {
	char dir[64];
	config_t *config;
	cache_t *cache;
	health_table_t *health;
	worker_shared_t shared;
} fixture_t;

/* A socket on 127.0.0.1:*port (0: any free port, written back), or -1
 * when that port is taken. */
static int bound_socket(int type, uint16_t *port)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(*port) };
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&in, sizeof(in)) != 0) {
		close(fd);
		return -1;
	}
	socklen_t len = sizeof(in);
	getsockname(fd, (struct sockaddr *)&in, &len);
	*port = ntohs(in.sin_port);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/* UDP and TCP on one free port, as a listen address has. The kernel picks
 * the UDP port; its TCP twin may belong to another test running at the
 * same time, so a taken one is tried again with a new port (bounded). */
static void bound_pair(int *udp, int *tcp, uint16_t *port)
{
	for (int i = 0; i < 50; i++) {
		*port = 0;
		*udp = bound_socket(SOCK_DGRAM, port);
		assert_true(*udp >= 0);
		*tcp = bound_socket(SOCK_STREAM, port);
		if (*tcp >= 0)
			return;
		close(*udp);
	}
	fail_msg("no free UDP+TCP port pair in 50 tries");
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/erdns-test-worker-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/erdns.json", f->dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs("{ \"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 1 },\n"
	      "  \"upstreams\": { \"branch\": { \"servers\": [\"127.0.0.1:5301\"] } } }\n",
	      out);
	fclose(out);
	char err[ER_CONFIG_ERR_MAX];
	f->config = config_load(path, err, sizeof(err));
	if (f->config == NULL)
		fail_msg("%s", err);
	f->cache = cache_new(&f->config->cache, 0);
	f->health = health_table_new();
	assert_int_equal(health_table_apply(f->health, f->config, err, sizeof(err)), 0);
	f->shared = (worker_shared_t){ .cache = f->cache, .health = f->health,
				       .max_inflight = 16 };
	unlink(path);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	cache_free(f->cache);
	health_table_free(f->health);
	config_unref(f->config);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Built, never started: the sockets it adopted are closed by worker_free. */
static void test_unstarted_worker_closes_its_sockets(void **state)
{
	fixture_t *f = *state;
	uint16_t port = 0;
	int udp, tcp;
	bound_pair(&udp, &tcp, &port);
	worker_t *w = worker_new(0, f->config, &f->shared, &udp, &tcp, 1);
	assert_non_null(w);
	worker_free(w);
	assert_false(is_open(udp));
	assert_false(is_open(tcp));
	worker_free(NULL);
}

/* Started and stopped: the loop closes with every handle closed, and the
 * worker answers on its sockets while it runs. */
static void test_start_answer_stop(void **state)
{
	fixture_t *f = *state;
	uint16_t port = 0;
	int udp, tcp;
	bound_pair(&udp, &tcp, &port);
	worker_t *w = worker_new(0, f->config, &f->shared, &udp, &tcp, 1);
	assert_non_null(w);
	assert_int_equal(worker_start(w), 0);

	/* id.server CH TXT: answered by the worker itself, no upstream */
	static const uint8_t query[] = { 0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					 2, 'i', 'd', 6, 's', 'e', 'r', 'v', 'e', 'r', 0,
					 0, 16, 0, 3 };
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(c, query, sizeof(query), 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)sizeof(query));
	uint8_t answer[512];
	ssize_t n = recv(c, answer, sizeof(answer), 0);
	close(c);
	assert_true(n > 12);
	assert_int_equal(answer[0], 0xab);
	assert_int_equal(answer[1], 0xcd);

	worker_stop_and_join(w);
	assert_int_equal(worker_exit_status(w), 0);
	worker_free(w);
	assert_false(is_open(udp));
	assert_false(is_open(tcp));
}

/* A listener that cannot adopt its socket: the worker stops by itself,
 * every socket it was given is closed (the failing one, its TCP sibling,
 * and the later addresses'), and stop, reload and free are still safe. */
static void test_failed_listener_closes_everything(void **state)
{
	fixture_t *f = *state;
	uint16_t p1 = 0, p2 = 0;
	int udp[2], tcp[2];
	bound_pair(&udp[0], &tcp[0], &p1);
	bound_pair(&udp[1], &tcp[1], &p2);
	/* a descriptor that is no socket: uv_udp_open refuses it */
	int pipe_fds[2];
	assert_int_equal(pipe(pipe_fds), 0);
	close(pipe_fds[1]);
	int given_udp0 = udp[0];
	udp[0] = pipe_fds[0];
	close(given_udp0);
	worker_t *w = worker_new(0, f->config, &f->shared, udp, tcp, 2);
	assert_non_null(w);
	assert_int_equal(worker_start(w), 0);
	/* the worker thread stops by itself; a reload and a stop after that
	 * must not touch its closed wakeup handle */
	for (int i = 0; i < 100 && (is_open(tcp[0]) || is_open(udp[1]) || is_open(tcp[1])); i++)
		usleep(10000);
	worker_swap_config(w, f->config);
	worker_stop_and_join(w);
	worker_free(w);
	assert_false(is_open(udp[0]));
	assert_false(is_open(tcp[0]));
	assert_false(is_open(udp[1]));
	assert_false(is_open(tcp[1]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unstarted_worker_closes_its_sockets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_start_answer_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_listener_closes_everything, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
