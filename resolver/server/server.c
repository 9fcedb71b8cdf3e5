/*
 * The main thread: sockets, privileges, workers, signals.
 *
 * Sockets are opened here, not in the workers, so that a bind error is
 * reported before anything starts and so that privileged ports are bound
 * before `user` drops root. Each worker gets its own socket per address
 * (SO_REUSEPORT): the kernel spreads clients over workers with no shared
 * accept lock and no cross-thread hand-off.
 *
 * The server owns what the workers share: the cache, the upstream
 * health table (one state per upstream address, SPEC 2.1) and the client
 * rate limit's buckets (server/ratelimit.h: one budget per client, however
 * SO_REUSEPORT spreads its queries over the workers).
 *
 * Reload (SIGHUP) loads the whole new configuration on this thread; only if
 * it is valid is it handed to the workers, each of which swaps it in on its
 * own loop, and the reload is reported done once every worker has (SPEC 3:
 * from then on every answer follows the new routes). A reload that
 * renumbers the route chains starts a new route epoch, which is part of
 * every cache key: nothing fetched under the old routes is found under the
 * new ones, even an answer that arrives after the swap (so does a reload
 * that changes what the ExpressRoute audit judges by). Listener and thread
 * changes need a restart (the sockets were bound with the old privileges);
 * the reload says so in the log. SIGHUP and `erdns ctl reload` run the same
 * reload(), which returns what changed (config/diff.h) or the error.
 *
 * The control socket (ops/control.h) lives on this thread's loop too, bound
 * before a privilege drop like the listeners; the workers never see it.
 *
 * Under systemd (Type=notify, ops/notify.h) the main thread reports the
 * same milestones: READY=1 once every worker runs, RELOADING=1 and READY=1
 * around each reload, STOPPING=1 on SIGTERM/SIGINT, and WATCHDOG=1 from a
 * timer on this loop when the unit asks for a watchdog.
 *
 * The query log (ops/querylog.h) is the server's too: its writer thread runs
 * from start to stop, idle while log.queries is off. Its file is opened
 * after the privilege drop, by the user that will reopen it (SIGUSR1 and
 * `erdns ctl reopen`, for logrotate); a reload that turns it on or off or
 * names another file opens or closes it before the workers take the new
 * snapshot. It stops after the workers, whose lanes it drains.
 *
 * metrics.listen (SPEC 4) is served by ops/http.c on a thread of its own,
 * bound here with the DNS sockets and started once the workers run. What
 * it reads is lent through http_hooks_t: each request takes a reference to
 * the snapshot in force under ops_lock (a reload swaps s->config under the
 * same lock, so a scrape never holds a freed one), reads the workers'
 * tables, which live until after the HTTP thread has stopped, and
 * is_serving, which turns false as soon as a stop begins.
 */
#include "server/server.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config/diff.h"
#include "ops/control.h"
#include "ops/notify.h"
#include "ops/http.h"
#include "ops/querylog.h"
#include "server/forward.h"
#include "server/ratelimit.h"
#include "server/worker.h"
#include "upstream/health_table.h"
#include "util/log.h"
#include "util/random.h"
#include "util/sockaddr.h"

typedef struct server {
	uv_loop_t loop;
	uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
	uv_timer_t watchdog; /* WATCHDOG=1 to systemd, when it asks for it */
	bool is_watchdog_on;
	config_t *config;
	cache_t *cache; /* shared by the workers (lock-striped, cache.c) */
	health_table_t *health; /* shared by the workers, by upstream address */
	querylog_t *querylog; /* shared by the workers, a lane each */
	/* server.client_qps's buckets, shared by the workers; made at start
	 * even while the limit is off, so that a reload can turn it on */
	ratelimit_table_t *client_limit;
	worker_t **workers;
	unsigned n_workers;
	unsigned n_started; /* workers running: their counters may be read */
	size_t max_inflight; /* forwarded queries per worker, from the fd limit */
	control_t *control; /* NULL: not configured or could not be bound */
	uint64_t started_ms; /* uv_now at start, for the uptime */
	/* "serving ADDR... (udp+tcp), N worker thread(s)": the log's ready line
	 * and systemd's STATUS=, made once since the sockets never change. */
	char status[ER_LISTEN_MAX * ER_SOCKADDR_TEXT_MAX + 64];

	http_t *http; /* metrics.listen; NULL when off */
	const metrics_t **stats; /* each worker's table, for the HTTP thread */
	atomic_bool is_serving; /* the workers run and no stop has begun */
	double start_s; /* Unix time */
	/* The HTTP thread reads config and these under ops_lock; the main
	 * thread writes them under it (and reads config without it). */
	pthread_mutex_t ops_lock;
	uint64_t reloads_ok, reloads_failed;
	double last_load_s; /* Unix time of the last good load */
} server_t;

/* How long a reload waits for each worker to take the new snapshot; a
 * worker's loop takes it on its next turn, normally within milliseconds. */
#define ER_RELOAD_WAIT_MS 5000

/* UDP receive buffer for listeners: the kernel default (208 KiB here) drops
 * queries in bursts (a few per 10 s run of the Zipf benchmark at ~110k q/s);
 * 4 MiB absorbs ~20 ms of that rate. SO_RCVBUFFORCE passes rmem_max when we
 * are root at bind time; otherwise the kernel caps SO_RCVBUF at rmem_max. */
#define ER_UDP_RCVBUF (4 << 20)

static void grow_receive_buffer(int fd)
{
	int size = ER_UDP_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* Every upstream query in flight holds a UDP socket (upstream/udp_pool.c),
 * every TCP connection, client or upstream, one descriptor: the usual soft
 * limit of 1024 would turn a burst of misses into SERVFAILs long before a
 * worker reaches ER_MAX_INFLIGHT. The soft limit goes up to the hard one
 * (which needs no privilege), as Unbound does for its outgoing ports. */
#define ER_FD_LIMIT_CEILING ((rlim_t)1 << 20) /* fs.nr_open's default */

/* Descriptors a worker holds besides its upstream queries' UDP sockets and
 * its listeners: its loop's own (epoll, eventfd) and a share of client and
 * upstream TCP connections. Not their maxima (ER_TCP_MAX_CONNS client
 * connections, 64 pooled upstream ones): a worker rarely holds them all,
 * and reserving them would starve small limits; past the limit an accept
 * or a connect fails and is counted, the query path goes on. */
#define ER_FD_RESERVE_PER_WORKER 96
/* The process's own: stdio, the control socket and its clients, the HTTP
 * endpoint, the query log, files read on reload. */
#define ER_FD_RESERVE_PROCESS 128
/* Fewer upstream queries in flight than this per worker is a limit an
 * operator must raise, not a sizing. */
#define ER_INFLIGHT_FLOOR 256

static rlim_t raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > ER_FD_LIMIT_CEILING
			      ? ER_FD_LIMIT_CEILING
			      : rl.rlim_max;
	if (rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			rl.rlim_cur = old;
		} else {
			log_info("file descriptors: soft limit raised from %llu to %llu",
				 (unsigned long long)old, (unsigned long long)want);
		}
	}
	return rl.rlim_cur;
}

/*
 * The in-flight cap per worker, from the descriptors the process really
 * has (every upstream query in flight holds a UDP socket): a worker that
 * stops taking new forwards at its cap drops a query the client retries,
 * where one that runs out of descriptors answers SERVFAIL. Said once, at
 * info level; a warning only when the limit is too low to size sensibly.
 */
static size_t size_inflight(unsigned n_workers, size_t n_listen)
{
	rlim_t limit = raise_fd_limit();
	rlim_t reserve = ER_FD_RESERVE_PROCESS +
			 (rlim_t)n_workers * (ER_FD_RESERVE_PER_WORKER + 2 * n_listen);
	rlim_t per = limit > reserve ? (limit - reserve) / n_workers : 0;
	if (per > ER_MAX_INFLIGHT_DEFAULT)
		per = ER_MAX_INFLIGHT_DEFAULT;
	if (per < ER_INFLIGHT_FLOOR) {
		log_warn("file descriptors: a limit of %llu leaves %llu upstream queries in flight "
			 "per worker; raise LimitNOFILE or ulimit -Hn",
			 (unsigned long long)limit, (unsigned long long)per);
		if (per == 0)
			per = 1;
	}
	log_info("forwarded queries in flight: at most %llu per worker (%u workers, file "
		 "descriptor limit %llu)",
		 (unsigned long long)per, n_workers, (unsigned long long)limit);
	return (size_t)per;
}

static int open_socket(const struct sockaddr *addr, int type, char *err, size_t errlen)
{
	char text[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format(addr, text, sizeof(text));
	const char *proto = type == SOCK_DGRAM ? "udp" : "tcp";
	int fd = socket(addr->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: socket: %s", proto, text, strerror(errno));
		return -1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, sockaddr_len(addr)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		snprintf(err, errlen, "cannot listen on %s %s: %s", proto, text, strerror(errno));
		close(fd);
		return -1;
	}
	if (type == SOCK_DGRAM)
		grow_receive_buffer(fd);
	return fd;
}

/* Opens n_workers x n_listen UDP and TCP sockets into fds (udp then tcp per
 * worker and address). Returns 0, or -1 with every opened fd closed. */
static int open_all_sockets(const config_t *c, unsigned n_workers, int *fds)
{
	size_t per_worker = 2 * c->n_listen, opened = 0;
	char err[256];
	for (unsigned w = 0; w < n_workers; w++) {
		for (size_t i = 0; i < c->n_listen; i++) {
			const struct sockaddr *a = (const struct sockaddr *)&c->listen[i];
			int u = open_socket(a, SOCK_DGRAM, err, sizeof(err));
			int t = u < 0 ? -1 : open_socket(a, SOCK_STREAM, err, sizeof(err));
			if (t < 0) {
				if (u >= 0)
					close(u);
				log_error("%s", err);
				for (size_t k = 0; k < opened; k++)
					close(fds[k]);
				return -1;
			}
			fds[w * per_worker + 2 * i] = u;
			fds[w * per_worker + 2 * i + 1] = t;
			opened += 2;
		}
	}
	return 0;
}

/* Already that user: started so by systemd (User=, with CAP_NET_BIND_SERVICE
 * for the port) or by hand. Nothing to drop, and no right to: the unit's
 * system call filter refuses setgroups/setgid/setuid, and so does the
 * kernel without CAP_SETGID/CAP_SETUID. */
static bool is_running_as(const struct passwd *pw)
{
	return getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == pw->pw_gid &&
	       getegid() == pw->pw_gid;
}

static int drop_privileges(const char *user)
{
	if (user == NULL)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		log_error("server.user: no such user \"%s\"", user);
		return -1;
	}
	if (is_running_as(pw)) {
		log_info("running as user %s (started as it)", user);
		return 0;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("server.user: cannot become \"%s\": %s", user, strerror(errno));
		return -1;
	}
	log_info("running as user %s", user);
	return 0;
}

static int reload_failed(char *msg, size_t len, const char *err)
{
	snprintf(msg, len, "reload failed, keeping the running configuration: %s", err);
	log_error("%s", msg);
	return -1;
}

/* log.queries and log.query_file of c; old is the snapshot before a
 * reload (NULL at start). querylog_configure decides whether anything
 * changed: a reload with the same settings still tries a file that failed
 * to open (docs/operations.md promises it). */
static void apply_querylog(server_t *s, const config_t *old, const config_t *c)
{
	const char *to = c->query_file ? c->query_file : "stderr";
	int rc = querylog_configure(s->querylog, c->log_queries, c->query_file);
	if (rc == ER_QLOG_UNCHANGED)
		return;
	if (rc < 0)
		log_error("query log: cannot open %s: %s; its lines are dropped (querylog_dropped) "
			  "until a reopen (SIGUSR1) or a reload opens it",
			  to, strerror(-rc));
	else if (c->log_queries)
		log_info("query log: writing to %s", to);
	else if (old)
		log_info("query log: off");
}

/* server.client_qps and client_burst take effect with the snapshot that
 * carries them: the workers read both on every query, and the buckets
 * keep what clients spent (a client over the old rate is not forgiven by
 * a reload). Said at start when on, and at a reload that changes them. */
static void log_client_limit(const config_t *old, const config_t *c)
{
	if (old && old->client_qps == c->client_qps && old->client_burst == c->client_burst)
		return;
	if (c->client_qps != 0)
		log_info("client rate limit: %u queries/s, burst %u, per IPv4 /32 and IPv6 /64",
			 c->client_qps, c->client_burst);
	else if (old)
		log_info("client rate limit: off");
}

/* The parts a restart would apply, and only the log says so. */
static void warn_restart_needed(const cJSON *diff)
{
	const cJSON *key;
	cJSON_ArrayForEach(key, cJSON_GetObjectItem(diff, "restart_needed"))
	{
		log_warn("reload: %s changed; restart erdns to apply it",
			 cJSON_GetStringValue(key));
	}
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The new snapshot becomes the one the HTTP thread reads. */
static void publish_config(server_t *s, config_t *next)
{
	pthread_mutex_lock(&s->ops_lock);
	config_t *old = s->config;
	s->config = next;
	s->reloads_ok++;
	s->last_load_s = unix_now();
	pthread_mutex_unlock(&s->ops_lock);
	config_unref(old);
}

/* Hands next to every worker and waits until each serves it (SPEC 3: once
 * the reload is reported done, every answer follows the new routes). */
static void swap_in(server_t *s, config_t *next)
{
	for (unsigned i = 0; i < s->n_workers; i++)
		worker_swap_config(s->workers[i], next);
	for (unsigned i = 0; i < s->n_workers; i++) {
		if (!worker_wait_config(s->workers[i], next, ER_RELOAD_WAIT_MS))
			log_warn("reload: worker %u has not taken the new configuration after "
				 "%d ms", i, ER_RELOAD_WAIT_MS);
	}
}

/*
 * Loads the configuration file again and, only if all of it is valid,
 * swaps it in. Returns 0 with msg saying what changed and *changes the
 * details (caller frees), or -1 with the error in msg (the running
 * configuration stays). Logs either way.
 */
static int apply_reload(server_t *s, char *msg, size_t len, cJSON **changes)
{
	char err[ER_CONFIG_ERR_MAX];
	*changes = NULL;
	config_t *next = config_load(s->config->path, err, sizeof(err));
	if (next == NULL)
		return reload_failed(msg, len, err);
	cJSON *diff = config_diff(s->config, next);
	if (diff == NULL || health_table_apply(s->health, next, err, sizeof(err)) < 0) {
		cJSON_Delete(diff);
		config_unref(next);
		return reload_failed(msg, len, diff ? err : "out of memory");
	}
	warn_restart_needed(diff);
	log_set_level(next->log_level);
	log_client_limit(s->config, next);
	apply_querylog(s, s->config, next);
	cache_configure(s->cache, &next->cache, uv_now(&s->loop));
	/* New ExpressRoute prefixes count as new routes: verdicts cached, and
	 * answers kept or passed over for them, belong to the old prefixes. */
	bool renumbered =
		!config_same_chains(s->config, next) || !config_same_audit(s->config, next);
	next->route_epoch = s->config->route_epoch + (renumbered ? 1 : 0);
	swap_in(s, next);
	/* Unreachable under the new epoch anyway: give the memory back. */
	size_t flushed = renumbered ? cache_flush_all(s->cache) : 0;
	if (renumbered)
		log_info("reload: routes or ExpressRoute prefixes changed, %zu cache entries "
			 "flushed",
			 flushed);
	cJSON_AddNumberToObject(diff, "cache_flushed", (double)flushed);
	publish_config(s, next);
	char summary[512];
	config_diff_summary(diff, summary, sizeof(summary));
	snprintf(msg, len, "configuration reloaded from %s: %s, %zu cache entries flushed",
		 next->path, summary, flushed);
	log_info("%s", msg);
	*changes = diff;
	return 0;
}

/* systemd learns of the reload (RELOADING=1) and of its end (READY=1), also
 * when it failed: erdns serves on with the previous configuration, which
 * the status line says. */
static int reload(server_t *s, char *msg, size_t len, cJSON **changes)
{
	ops_notify_reloading();
	int rc = apply_reload(s, msg, len, changes);
	if (rc == 0) {
		ops_notify_ready(s->status);
		return 0;
	}
	pthread_mutex_lock(&s->ops_lock);
	s->reloads_failed++;
	pthread_mutex_unlock(&s->ops_lock);
	char status[sizeof(s->status) + 64];
	snprintf(status, sizeof(status), "%s; the last reload failed (see the log)", s->status);
	ops_notify_ready(status);
	return rc;
}

/*
 * Reopens the log files (SIGUSR1, `erdns ctl reopen`; for logrotate): the
 * query log's file, by its name. erdns's own log is stderr, which systemd
 * or the shell own. Returns 0 with what was done in msg, or a negative
 * errno with the error (the query log then drops its lines, counted, until
 * a reopen or a reload opens the file).
 */
static int reopen_logs(server_t *s, char *msg, size_t len)
{
	const config_t *c = s->config;
	if (!c->log_queries || c->query_file == NULL) {
		snprintf(msg, len, "no log file to reopen");
		log_info("reopen: no log file to reopen");
		return 0;
	}
	int rc = querylog_reopen(s->querylog);
	if (rc < 0) {
		snprintf(msg, len, "cannot reopen %s: %s; query log lines are dropped until a "
			 "reopen or a reload opens it", c->query_file, strerror(-rc));
		log_error("reopen: %s", msg);
		return rc;
	}
	snprintf(msg, len, "reopened %s", c->query_file);
	log_info("reopen: %s", msg);
	return 0;
}

static void close_main_handles(server_t *s)
{
	uv_close((uv_handle_t *)&s->sig_int, NULL);
	uv_close((uv_handle_t *)&s->sig_term, NULL);
	uv_close((uv_handle_t *)&s->sig_hup, NULL);
	uv_close((uv_handle_t *)&s->sig_usr1, NULL);
	if (s->is_watchdog_on)
		uv_close((uv_handle_t *)&s->watchdog, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	server_t *s = handle->data;
	char msg[ER_CONFIG_ERR_MAX + 256];
	if (signum == SIGHUP) {
		cJSON *changes;
		(void)reload(s, msg, sizeof(msg), &changes); /* it logs either way */
		cJSON_Delete(changes);
		return;
	}
	if (signum == SIGUSR1) {
		(void)reopen_logs(s, msg, sizeof(msg)); /* it logs either way */
		return;
	}
	log_info("stopping on signal %d", signum);
	ops_notify_stopping();
	/* /health says "down" from now on, before any worker stops. */
	atomic_store(&s->is_serving, false);
	close_main_handles(s);
	control_close(s->control);
	s->control = NULL;
}

/* --- what the control socket may see and do (ops/control_cmd.h) -------- */

static const config_t *env_config(void *ctx)
{
	return ((server_t *)ctx)->config;
}

static const metrics_t *env_worker_metrics(void *ctx, unsigned i)
{
	server_t *s = ctx;
	return i < s->n_started ? worker_stats(s->workers[i]) : NULL;
}

static int env_reload(void *ctx, char *msg, size_t len, cJSON **changes)
{
	return reload(ctx, msg, len, changes);
}

static int env_reopen(void *ctx, char *msg, size_t len)
{
	return reopen_logs(ctx, msg, len);
}

static bool env_is_serving(void *ctx)
{
	return atomic_load(&((server_t *)ctx)->is_serving);
}

static void start_control(server_t *s, int fd)
{
	if (fd < 0)
		return;
	control_env_t env = {
		.ctx = s,
		.config = env_config,
		.worker_metrics = env_worker_metrics,
		.reload = env_reload,
		.reopen = env_reopen,
		.is_serving = env_is_serving,
		.cache = s->cache,
		.health = s->health,
		.started_ms = s->started_ms,
	};
	s->control = control_start(&s->loop, fd, s->config->control_socket, &env);
}

/* Binds the control socket before the privilege drop, given to server.user
 * when the drop is to come (its group may then use erdns ctl). A process
 * that already runs as its user (systemd's User=) owns what it binds, and
 * the unit's filter refuses chown. -1: none. */
static int bind_control(const config_t *c)
{
	if (c->control_socket == NULL)
		return -1;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct passwd *pw = c->user ? getpwnam(c->user) : NULL;
	if (pw && !is_running_as(pw)) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	return control_bind(c->control_socket, uid, gid);
}

/* Not serving after all: the socket file this run just made goes too. */
static void unbind_control(const config_t *c, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(c->control_socket);
}

static void watch_signal(server_t *s, uv_signal_t *h, int signum)
{
	uv_signal_init(&s->loop, h);
	h->data = s;
	uv_signal_start(h, on_signal, signum);
}

/* Builds every worker (each adopts its sockets, also on failure), then
 * starts them. Returns how many run; on a failure the built ones that do
 * not run are freed and the sockets of unbuilt ones closed. */
static unsigned start_workers(server_t *s, int *fds)
{
	size_t n_listen = s->config->n_listen, per_worker = 2 * n_listen;
	worker_shared_t shared = { .cache = s->cache,
				   .health = s->health,
				   .max_inflight = s->max_inflight,
				   .querylog = s->querylog,
				   .client_limit = s->client_limit };
	unsigned built = 0;
	for (; built < s->n_workers; built++) {
		int udp[ER_LISTEN_MAX], tcp[ER_LISTEN_MAX];
		for (size_t k = 0; k < n_listen; k++) {
			udp[k] = fds[built * per_worker + 2 * k];
			tcp[k] = fds[built * per_worker + 2 * k + 1];
		}
		s->workers[built] = worker_new(built, s->config, &shared, udp, tcp, n_listen);
		if (s->workers[built] == NULL) {
			log_error("cannot build worker %u: out of memory", built);
			for (size_t k = (built + 1) * per_worker; k < s->n_workers * per_worker; k++)
				close(fds[k]);
			break;
		}
	}
	unsigned started = 0;
	if (built == s->n_workers) {
		for (; started < s->n_workers; started++) {
			int rc = worker_start(s->workers[started]);
			if (rc < 0) {
				log_error("cannot start worker %u: %s", started, uv_strerror(rc));
				break;
			}
		}
	}
	for (unsigned i = started; i < built; i++) {
		worker_free(s->workers[i]);
		s->workers[i] = NULL;
	}
	return started;
}

static void format_status(server_t *s)
{
	const config_t *c = s->config;
	char addrs[ER_LISTEN_MAX * ER_SOCKADDR_TEXT_MAX] = "";
	for (size_t i = 0; i < c->n_listen; i++) {
		char one[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format((const struct sockaddr *)&c->listen[i], one, sizeof(one));
		if (i)
			strcat(addrs, " ");
		strcat(addrs, one);
	}
	snprintf(s->status, sizeof(s->status), "serving %s (udp+tcp), %u worker thread(s)", addrs,
		 s->n_workers);
}

static void on_watchdog(uv_timer_t *timer)
{
	(void)timer;
	ops_notify_watchdog();
}

/* WATCHDOG=1 at half the interval systemd set (sd_watchdog_enabled(3)
 * advises so). It proves the main loop turns: signals, and so reloads and
 * stop, are handled; a worker stuck in a callback is not seen by it. */
static void start_watchdog(server_t *s)
{
	uint64_t usec = ops_notify_watchdog_usec();
	if (usec == 0)
		return;
	uint64_t every_ms = usec / 2000 > 0 ? usec / 2000 : 1;
	uv_timer_init(&s->loop, &s->watchdog); /* cannot fail for timers */
	s->watchdog.data = s;
	uv_timer_start(&s->watchdog, on_watchdog, every_ms, every_ms);
	s->is_watchdog_on = true;
	log_info("systemd watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)every_ms);
}

/* The sockets were bound and listening before the workers started, so a
 * query sent from now on is queued by the kernel and answered. */
static void announce_ready(server_t *s)
{
	format_status(s);
	log_info("erdns %s ready: %s", ERDNS_VERSION, s->status);
	start_watchdog(s);
	ops_notify_ready(s->status);
}

static int start_http(server_t *s);

/* Runs the main loop with the workers started; returns the exit status. */
static int serve(server_t *s, int *fds, int control_fd)
{
	int status = 1;
	uv_loop_init(&s->loop);
	s->started_ms = uv_now(&s->loop);
	watch_signal(s, &s->sig_int, SIGINT);
	watch_signal(s, &s->sig_term, SIGTERM);
	watch_signal(s, &s->sig_hup, SIGHUP);
	watch_signal(s, &s->sig_usr1, SIGUSR1);
	signal(SIGPIPE, SIG_IGN);
	s->n_started = start_workers(s, fds);
	if (s->n_started == s->n_workers && start_http(s) == 0) {
		start_control(s, control_fd);
		announce_ready(s);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		status = 0;
	} else {
		unbind_control(s->config, control_fd);
		ops_notify_status("could not start its workers (see the log)");
		close_main_handles(s);
		uv_run(&s->loop, UV_RUN_DEFAULT);
	}
	/* No HTTP request may read a worker's table once it is freed. */
	atomic_store(&s->is_serving, false);
	http_free(s->http);
	s->http = NULL;
	for (unsigned i = 0; i < s->n_started; i++) {
		worker_stop_and_join(s->workers[i]);
		if (worker_exit_status(s->workers[i]) != 0)
			status = 1;
		worker_free(s->workers[i]);
	}
	querylog_free(s->querylog); /* after the workers: it drains their lanes */
	s->querylog = NULL;
	if (uv_loop_close(&s->loop) != 0) {
		log_error("main loop closed with handles still open");
		status = 1;
	}
	return status;
}

/* --- the HTTP thread's view (ops/http.h) ----------------------------------- */

static void on_http_acquire(void *ctx, metrics_source_t *src, bool *is_serving)
{
	server_t *s = ctx;
	pthread_mutex_lock(&s->ops_lock);
	*src = (metrics_source_t){
		.config = config_ref(s->config),
		.workers = s->stats,
		.n_workers = s->n_workers,
		.health = s->health,
		.cache = s->cache,
		.reloads_ok = s->reloads_ok,
		.reloads_failed = s->reloads_failed,
		.last_reload_ok_s = s->last_load_s,
		.start_time_s = s->start_s,
	};
	pthread_mutex_unlock(&s->ops_lock);
	src->now_s = unix_now();
	*is_serving = atomic_load(&s->is_serving);
}

static void on_http_release(void *ctx, metrics_source_t *src)
{
	(void)ctx;
	/* the reference on_http_acquire took (const only for the renderer) */
	config_unref((config_t *)src->config);
	src->config = NULL;
}

/* Binds metrics.listen when set. 0, or -1 after logging why. */
static int open_http(server_t *s)
{
	if (s->config->metrics_listen == NULL)
		return 0;
	http_hooks_t hooks = { .acquire = on_http_acquire, .release = on_http_release, .ctx = s };
	char err[ER_CONFIG_ERR_MAX];
	s->http = http_new(s->config->metrics_listen, &hooks, err, sizeof(err));
	if (s->http == NULL) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* The workers run: the HTTP thread may read their tables from now on. */
static int start_http(server_t *s)
{
	for (unsigned i = 0; i < s->n_workers; i++)
		s->stats[i] = worker_stats(s->workers[i]);
	atomic_store(&s->is_serving, true);
	return s->http ? http_start(s->http) : 0;
}

int server_run(config_t *config)
{
	server_t s = { .config = config,
		       .n_workers = config->threads,
		       .ops_lock = PTHREAD_MUTEX_INITIALIZER,
		       .start_s = unix_now() };
	s.last_load_s = s.start_s;
	int status = 1;
	char err[ER_CONFIG_ERR_MAX];
	int *fds = calloc(2 * config->n_listen * s.n_workers, sizeof(int));
	s.workers = calloc(s.n_workers, sizeof(*s.workers));
	s.stats = calloc(s.n_workers, sizeof(*s.stats));
	s.cache = cache_new(&config->cache, cache_stripes_for(s.n_workers));
	s.health = health_table_new();
	querylog_params_t qlp = { .n_lanes = s.n_workers, .health = s.health };
	s.querylog = querylog_new(&qlp);
	s.max_inflight = size_inflight(s.n_workers, config->n_listen);
	uint8_t limit_key[ER_SIPHASH_KEY_LEN];
	random_bytes(limit_key, sizeof(limit_key));
	s.client_limit = ratelimit_table_new(ER_RATELIMIT_ENTRIES, limit_key);
	if (fds == NULL || s.workers == NULL || s.stats == NULL || s.cache == NULL ||
	    s.health == NULL || s.querylog == NULL || s.client_limit == NULL ||
	    querylog_start(s.querylog) < 0)
		goto out;
	if (health_table_apply(s.health, config, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	config->route_epoch = 1;
	if (open_http(&s) < 0 || open_all_sockets(config, s.n_workers, fds) < 0)
		goto out;
	int control_fd = bind_control(config);
	if (drop_privileges(config->user) < 0) {
		for (size_t k = 0; k < 2 * config->n_listen * s.n_workers; k++)
			close(fds[k]);
		unbind_control(config, control_fd);
		goto out;
	}
	apply_querylog(&s, NULL, config);
	log_client_limit(NULL, config);
	status = serve(&s, fds, control_fd);
	if (status == 0)
		log_info("stopped cleanly");
out:
	http_free(s.http);
	free(fds);
	free(s.workers);
	free(s.stats);
	querylog_free(s.querylog);
	cache_free(s.cache);
	health_table_free(s.health);
	ratelimit_table_free(s.client_limit); /* after the workers, who read it */
	config_unref(s.config);
	pthread_mutex_destroy(&s.ops_lock);
	return status;
}
