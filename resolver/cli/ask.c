/*
 * The CLI's synchronous DNS client (ask.h). A connected UDP socket, so the
 * kernel drops datagrams from any other address; poll() with what is left
 * of the deadline; anything that is not the answer to our question is
 * ignored, not fatal, as an off-path spoof would be. TCP (RFC 7766 framing)
 * is one question per connection: SO_SNDTIMEO bounds the blocking connect(),
 * then poll() with what is left of the deadline before the send and before
 * each recv. Not SO_RCVTIMEO: it bounds each recv, not the exchange, so a
 * server trickling a byte at a time would hold the tool far past timeout_ms.
 * Written out rather than taken from ldns's resolver so the question is
 * byte for byte the daemon's (reply_build_upstream_query: the same EDNS
 * size and the same ECS option a group with `ecs` sends).
 */
#include "cli/ask.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dns/reply.h"
#include "util/random.h"
#include "util/sockaddr.h"

#define ASK_QUERY_MAX 600 /* a question, an OPT and an ECS option */

static uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int left_ms(uint64_t deadline)
{
	uint64_t now = clock_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

static bool is_ours(const cli_question_t *qs, uint16_t id, const uint8_t *msg, size_t len)
{
	return wire_check_response(msg, len, id, qs->q->qname, qs->q->qtype, qs->q->qclass) == 0;
}

static int connect_to(const cli_question_t *qs, int type)
{
	int fd = socket(qs->server->sa_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, qs->server, sockaddr_len(qs->server)) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static ssize_t ask_udp(const cli_question_t *qs, const uint8_t *query, size_t qlen, uint16_t id,
		       uint64_t deadline, uint8_t *out, size_t cap)
{
	int fd = connect_to(qs, SOCK_DGRAM);
	if (fd < 0)
		return fd;
	ssize_t rc = send(fd, query, qlen, 0) < 0 ? -errno : -ETIMEDOUT;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (rc == -ETIMEDOUT && poll(&p, 1, left_ms(deadline)) == 1) {
		ssize_t n = recv(fd, out, cap, 0);
		if (n < 0 && errno != EINTR)
			rc = -errno; /* ICMP unreachable: ECONNREFUSED */
		else if (n > 0 && is_ours(qs, id, out, (size_t)n))
			rc = n;
	}
	close(fd);
	return rc;
}

/* Waits until fd is ready for events or the deadline passes: 0, -ETIMEDOUT
 * or a negative errno. */
static int wait_for(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	for (;;) {
		int ms = left_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0; /* readable, or an error or hang-up the next call reports */
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* The whole frame in one send, or a negative errno: -ETIMEDOUT when the
 * deadline passes first, -EIO for a short send (it sets no errno). */
static int send_frame(int fd, const uint8_t *frame, size_t len, uint64_t deadline)
{
	int rc = wait_for(fd, POLLOUT, deadline);
	if (rc != 0)
		return rc;
	ssize_t n = send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Exactly len bytes by the deadline, or a negative errno (-ETIMEDOUT when
 * the peer is slow, however it spreads the bytes). */
static int recv_all(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
	for (size_t got = 0; got < len;) {
		int rc = wait_for(fd, POLLIN, deadline);
		if (rc != 0)
			return rc;
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		got += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

static ssize_t ask_tcp(const cli_question_t *qs, const uint8_t *query, size_t qlen, uint16_t id,
		       uint64_t deadline, uint8_t *out, size_t cap)
{
	int ms = left_ms(deadline);
	if (ms == 0)
		return -ETIMEDOUT;
	int fd = socket(qs->server->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() */
	uint8_t frame[2 + ASK_QUERY_MAX], len2[2] = {0};
	wire_write_u16(frame, (uint16_t)qlen);
	memcpy(frame + 2, query, qlen);
	ssize_t rc = 0;
	if (connect(fd, qs->server, sockaddr_len(qs->server)) < 0)
		rc = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (rc == 0)
		rc = send_frame(fd, frame, qlen + 2, deadline);
	if (rc == 0)
		rc = recv_all(fd, len2, 2, deadline);
	size_t n = wire_read_u16(len2);
	if (rc == 0 && n > cap)
		rc = -EBADMSG;
	if (rc == 0)
		rc = recv_all(fd, out, n, deadline);
	if (rc == 0)
		rc = is_ours(qs, id, out, n) ? (ssize_t)n : -EBADMSG;
	close(fd);
	return rc;
}

ssize_t cli_ask(const cli_question_t *qs, uint8_t *out, size_t cap)
{
	uint8_t query[ASK_QUERY_MAX];
	uint16_t id = random_u16();
	size_t qlen =
	    reply_build_upstream_query(qs->q, id, qs->option, qs->option_len, query, sizeof(query));
	if (qlen == 0)
		return -EINVAL;
	uint64_t deadline = clock_ms() + qs->timeout_ms;
	ssize_t n = -ETIMEDOUT;
	if (!qs->tcp_only)
		n = ask_udp(qs, query, qlen, id, deadline, out, cap);
	if (qs->tcp_only || (n >= ER_DNS_HEADER_LEN && (wire_read_u16(out + 2) & DNS_FLAG_TC)))
		n = ask_tcp(qs, query, qlen, id, deadline, out, cap);
	return n;
}
