/*
 * The systemd notifications (ops/notify.c) as the service manager reads
 * them: a datagram socket of our own stands in for NOTIFY_SOCKET, and each
 * test reads back the exact message. Without NOTIFY_SOCKET nothing is sent
 * and every call returns 0; a socket nobody listens on is an error returned,
 * not a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ops/notify.h"

typedef struct fixture {
	char dir[64];
	char path[96];
	int fd;
} fixture_t;

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/erdns-notify-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/notify.sock", f->dir);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	unsetenv("NOTIFY_SOCKET");
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The next datagram, already queued (sd_notify's sendmsg has returned);
 * "" when there is none. */
static const char *next_message(fixture_t *f)
{
	static char buf[4096];
	ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_ready(void **state)
{
	fixture_t *f = *state;
	assert_int_equal(ops_notify_ready("serving 127.0.0.1:53 (udp+tcp)"), 0);
	assert_string_equal(next_message(f), "READY=1\nSTATUS=serving 127.0.0.1:53 (udp+tcp)");
	assert_int_equal(ops_notify_ready(NULL), 0);
	assert_string_equal(next_message(f), "READY=1\nSTATUS=ready");
	assert_string_equal(next_message(f), "");
}

static uint64_t monotonic_usec(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
}

static void test_reloading_carries_monotonic_usec(void **state)
{
	fixture_t *f = *state;
	uint64_t before = monotonic_usec();
	assert_int_equal(ops_notify_reloading(), 0);
	uint64_t after = monotonic_usec();
	unsigned long long usec = 0;
	char status[64] = "";
	int n = sscanf(next_message(f), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%63[^\n]", &usec,
		       status);
	assert_int_equal(n, 2);
	assert_true(usec >= before && usec <= after);
	assert_string_equal(status, "reloading the configuration");
}

static void test_stopping_and_status(void **state)
{
	fixture_t *f = *state;
	assert_int_equal(ops_notify_stopping(), 0);
	assert_string_equal(next_message(f), "STOPPING=1\nSTATUS=stopping");
	assert_int_equal(ops_notify_status("%u of %u workers", 1u, 2u), 0);
	assert_string_equal(next_message(f), "STATUS=1 of 2 workers");
}

static void test_long_status_is_cut(void **state)
{
	fixture_t *f = *state;
	static char text[3000];
	memset(text, 'x', sizeof(text) - 1);
	assert_int_equal(ops_notify_status("%s", text), 0);
	const char *got = next_message(f);
	assert_true(strncmp(got, "STATUS=xxx", 10) == 0);
	assert_true(strlen(got) < 4096); /* systemd's NOTIFY_BUFFER_MAX */
}

static void test_watchdog(void **state)
{
	fixture_t *f = *state;
	assert_int_equal(ops_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "200000", 1);
	assert_int_equal(ops_notify_watchdog_usec(), 200000);
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1); /* meant for another process */
	assert_int_equal(ops_notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	assert_int_equal(ops_notify_watchdog(), 0);
	assert_string_equal(next_message(f), "WATCHDOG=1");
	unsetenv("WATCHDOG_USEC");
}

static void test_no_socket_no_message(void **state)
{
	fixture_t *f = *state;
	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "200000", 1); /* without a socket, no watchdog */
	assert_int_equal(ops_notify_ready("x"), 0);
	assert_int_equal(ops_notify_reloading(), 0);
	assert_int_equal(ops_notify_stopping(), 0);
	assert_int_equal(ops_notify_status("x"), 0);
	assert_int_equal(ops_notify_watchdog(), 0);
	assert_int_equal(ops_notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
	assert_string_equal(next_message(f), "");
}

static void test_nobody_listening_is_an_error(void **state)
{
	fixture_t *f = *state;
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/none.sock", f->dir);
	setenv("NOTIFY_SOCKET", gone, 1);
	int rc = ops_notify_ready("x");
	assert_true(rc == -ENOENT || rc == -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reloading_carries_monotonic_usec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stopping_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_status_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_socket_no_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nobody_listening_is_an_error, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
