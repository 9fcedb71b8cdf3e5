/*
 * The HTTP endpoint (http.h) on libmicrohttpd, Debian's libmicrohttpd-dev.
 *
 * Threading: one internal thread running an epoll loop
 * (MHD_USE_EPOLL_INTERNAL_THREAD). Every connection, idle or slow, costs an
 * epoll registration and a small memory pool, never a thread, so a new
 * scrape is read and answered as soon as it arrives however many clients
 * sit idle. A scrape renders in well under a millisecond for a few hundred
 * routes, so one thread is enough; the DNS workers only ever see their
 * counters read with relaxed loads. Rejected: thread-per-connection (200
 * idle clients are 200 threads with 8 MiB stacks reserved, and a
 * connection limit low enough to bound that would let those idle clients
 * lock the scraper out), and select (FD_SETSIZE caps descriptors at 1024,
 * which the workers' upstream sockets exceed).
 *
 * Slow or idle clients are bounded by ER_HTTP_* below: each connection
 * lives at most ER_HTTP_IDLE_TIMEOUT_S without progress, one address holds
 * at most ER_HTTP_PER_IP_MAX connections (extra ones are closed at accept,
 * so one host cannot take the others' room), all together at most
 * ER_HTTP_CONNECTIONS_MAX, each with an ER_HTTP_CONN_MEMORY pool for its
 * request and response headers (the body of a scrape is a separate buffer).
 *
 * The listening socket is opened by http_new, not by libmicrohttpd, so that
 * a bind error reads like the DNS listeners' ones, and so that it is bound
 * before `user` drops privileges.
 */
#include "ops/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ops/health.h"
#include "util/log.h"
#include "util/sockaddr.h"

/* A connection that makes no progress for this long is closed. Prometheus'
 * default scrape_timeout is 10 s too. */
#define ER_HTTP_IDLE_TIMEOUT_S 10
/* A Prometheus server or two and a few load balancer probes need a handful
 * of connections per address; 32 leaves room for retries and NAT. */
#define ER_HTTP_PER_IP_MAX 32
/* The whole endpoint: 512 x ER_HTTP_CONN_MEMORY = 8 MiB at most in pools. */
#define ER_HTTP_CONNECTIONS_MAX 512
/* Per connection: request line and headers (a Prometheus scrape sends
 * about 300 bytes) plus the response headers; 16 KiB is half MHD's default. */
#define ER_HTTP_CONN_MEMORY (16 * 1024)
#define ER_HTTP_BACKLOG	    64
/* SPEC 4: one line; the reason names a chain and a group at most. */
#define ER_HTTP_HEALTH_REASON_MAX 512

_Static_assert(ER_HTTP_PER_IP_MAX < ER_HTTP_CONNECTIONS_MAX,
	       "one address must not be able to take every connection");

struct http {
	struct MHD_Daemon *daemon;
	int fd; /* the listening socket, ours until http_start hands it over */
	http_hooks_t hooks;
	char listen[ER_SOCKADDR_TEXT_MAX];
};

/* --- responses ----------------------------------------------------------- */

/* Queues body (malloc'd; taken over, also on failure) as the reply. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (r == NULL) {
		free(body);
		return MHD_NO; /* MHD closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
				  ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
				  ...)
{
	char *body = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return reply(conn, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* --- the two resources --------------------------------------------------- */

static enum MHD_Result serve_metrics(http_t *h, struct MHD_Connection *conn)
{
	metrics_source_t src;
	bool is_serving;
	h->hooks.acquire(h->hooks.ctx, &src, &is_serving);
	size_t len = 0;
	char *text = metrics_render(&src, &len);
	h->hooks.release(h->hooks.ctx, &src);
	if (text == NULL)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static enum MHD_Result serve_health(http_t *h, struct MHD_Connection *conn)
{
	metrics_source_t src;
	bool is_serving;
	h->hooks.acquire(h->hooks.ctx, &src, &is_serving);
	char reason[ER_HTTP_HEALTH_REASON_MAX];
	ops_health_t state =
	    ops_health_check(src.config, src.health, is_serving, reason, sizeof(reason));
	h->hooks.release(h->hooks.ctx, &src);
	reason[strcspn(reason, "\r\n")] = '\0'; /* one line, whatever a name holds */
	switch (state) {
	case OPS_HEALTH_OK:
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	case OPS_HEALTH_DEGRADED:
		return reply_text(conn, MHD_HTTP_OK, "degraded: %s\n", reason);
	default:
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "down: %s\n", reason);
	}
}

/*
 * MHD's access handler. A request with an error status is answered on the
 * first call, when its headers are in (MHD then closes the connection
 * rather than read a body nobody wants). GET and HEAD are answered on the
 * second call, when the request is complete, so that the connection stays
 * open for the next scrape (Prometheus keeps it alive).
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	static int seen; /* any non-NULL marker */
	http_t *h = cls;
	(void)version;
	(void)upload_data;
	bool is_metrics = strcmp(url, "/metrics") == 0, is_health = strcmp(url, "/health") == 0;
	if (!is_metrics && !is_health)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (*req_cls == NULL) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) { /* a GET with a body: ignored */
		*upload_data_size = 0;
		return MHD_YES;
	}
	return is_metrics ? serve_metrics(h, conn) : serve_health(h, conn);
}

/* MHD's own complaints (a client that broke off, a limit reached) are
 * routine under load or attack: debug level, one line each. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[256];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	log_debug("http: %s", line);
}

/* --- lifecycle ----------------------------------------------------------- */

static int open_listener(const struct sockaddr *addr, const char *text, char *err, size_t errlen)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "metrics.listen %s: socket: %s", text, strerror(errno));
		return -1;
	}
	/* No SO_REUSEPORT, unlike the DNS listeners: a second erdns on the
	 * same metrics port must fail, not take half of the scrapes. */
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, sockaddr_len(addr)) < 0 || listen(fd, ER_HTTP_BACKLOG) < 0) {
		snprintf(err, errlen, "cannot listen on metrics.listen %s: %s", text,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

http_t *http_new(const char *listen, const http_hooks_t *hooks, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	if (sockaddr_parse(listen, 0, &ss) != 0) {
		snprintf(err, errlen, "metrics.listen: \"%s\" is not an address with a port",
			 listen);
		return NULL;
	}
	http_t *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	h->hooks = *hooks;
	sockaddr_format((const struct sockaddr *)&ss, h->listen, sizeof(h->listen));
	h->fd = open_listener((const struct sockaddr *)&ss, h->listen, err, errlen);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	return h;
}

int http_start(http_t *h)
{
	int fd = h->fd;
	/* Handed over whatever happens: MHD closes it on stop, and whether it
	 * does on a failed start is not documented. At worst a failed start
	 * (erdns then exits) leaks it; it is never closed twice. */
	h->fd = -1;
	h->daemon = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ER_HTTP_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)ER_HTTP_CONNECTIONS_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ER_HTTP_PER_IP_MAX,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ER_HTTP_CONN_MEMORY, MHD_OPTION_END);
	if (h->daemon == NULL) {
		log_error("metrics: cannot start the HTTP endpoint on %s", h->listen);
		return -EIO;
	}
	log_info("metrics: http://%s/metrics and /health", h->listen);
	return 0;
}

void http_free(http_t *h)
{
	if (h == NULL)
		return;
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}
