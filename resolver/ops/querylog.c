/*
 * The query log's lanes, writer thread and output (querylog.h).
 *
 * Who formats: the workers only copy a record into their ring and the
 * writer formats. Measured with tests/bench/bench_querylog (docs/
 * operations.md has the machine): a worker pays ~55 ns per line for the
 * capture and the push; formatting the line costs ~115 ns more. Formatting
 * on the workers would triple their cost, and a line (~225 bytes) takes
 * three times a record's room (~70 bytes) in the ring. So format runs
 * here, on a thread that is idle most of the time. For the same reason a
 * record's time is monotonic: at the reply the worker reads uv_hrtime()
 * once more (query_record in server/query.c; on Linux a vDSO read, no system
 * call) for the line's ts and, less the uv_hrtime() stamped at receipt,
 * its latency; the writer turns it into wall-clock time
 * (read_wall_offset), so the workers never read the wall clock.
 *
 * The writer's round: take a new output if one was handed over, then for
 * each lane pop up to ER_QLOG_ROUND_LINES records, format them into one
 * buffer and write it, then sleep on an eventfd until a lane passes a
 * quarter full or ER_QLOG_IDLE_MS pass (forever while the log is off).
 *
 * Never stalling: the file and a FIFO are opened O_NONBLOCK; stderr, when
 * it is a pipe, is reopened through /proc/self/fd/2 so that O_NONBLOCK
 * applies to our description only, and when it is a socket (journald) it
 * is written with send(MSG_DONTWAIT). A write that would block waits in
 * poll() until the round's deadline (ER_QLOG_WRITE_MS after it started);
 * what is not written by then is dropped and counted. A line cut by a
 * partial write is finished first, in the next batch, so the file never
 * holds half a line while the output accepts anything at all. To pipes and
 * sockets, writes are whole lines of at most PIPE_BUF bytes, so they never
 * interleave with erdns's own log lines on stderr. A regular file on a
 * slow disk can still make write(2) sleep: that delays the writer, never a
 * worker (their rings fill and drop).
 */
#include "ops/querylog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ops/querylog_line.h"
#include "util/log.h"
#include "util/spsc_ring.h"
#include "util/str.h"

#define ER_QLOG_IDLE_MS 50 /* longest a line waits in a quiet lane */
#define ER_QLOG_WRITE_MS 100 /* how long a round waits for a blocked output */
#define ER_QLOG_STOP_MS 1000 /* how long the last round may take at stop */
#define ER_QLOG_ROUND_LINES 4096 /* per lane and round: lanes take turns */
#define ER_QLOG_BUF_BYTES (256u << 10) /* one write per lane and round at most */
#include "util/cacheline.h"

_Static_assert(ER_QLOG_BUF_BYTES >= 4 * ER_QLOG_LINE_MAX, "a batch holds several lines");
_Static_assert(PIPE_BUF <= ER_QLOG_LINE_MAX, "a pipe chunk fits the buffer");

typedef struct lane {
	spsc_ring_t *ring;
	/* The producer's (the worker's) line. */
	uint64_t ring_dropped; /* relaxed atomics: querylog_totals reads it */
	uint64_t writer_dropped_seen; /* already added to the worker's metrics (querylog_sync) */
	/* Written by the writer when it drops lines of this lane; read by the
	 * producer's querylog_sync every ER_HEALTH_SYNC_MS. Alone on its line,
	 * so the writer's stores never touch the producer's fields above. */
	alignas(ER_CACHE_LINE) _Atomic uint64_t writer_dropped;
	/* Set by the producer when it woke the writer, cleared by the writer
	 * when it drains the lane: one wake-up per round at most. */
	alignas(ER_CACHE_LINE) atomic_bool is_kicked;
} lane_t;

typedef enum { OUT_OFF, OUT_ON } out_state_t;

/* Where lines go. fd -1 while OUT_ON: broken (lines dropped, counted). */
typedef struct output {
	out_state_t state;
	int fd;
	bool is_owned; /* ours to close (not fd 2 itself) */
	bool is_socket; /* send(MSG_DONTWAIT) */
	size_t chunk_max; /* largest single write: PIPE_BUF unless a regular file */
	char name[256]; /* for messages */
} output_t;

struct querylog {
	unsigned n_lanes;
	lane_t *lanes;
	int wake_fd; /* eventfd: lanes filling, hand-overs, stop */
	pthread_t thread;
	bool is_started;

	pthread_mutex_t control_lock; /* serialises configure and reopen */
	bool is_on; /* under control_lock: the configured state */
	char *path; /* under control_lock: NULL for stderr */
	bool is_broken; /* under control_lock: the last open of path failed */

	pthread_mutex_t lock; /* the hand-over slot and the stop flag */
	output_t next;
	bool has_next, is_stopping, was_ever_on;

	/* The writer's own. */
	output_t out;
	bool is_failing; /* the last batch could not be written */
	bool has_carry; /* buf starts with the rest of a line cut by a partial write */
	uint64_t dropped_while_failing;
	_Atomic uint64_t written;
	char *buf; /* formatted lines not written yet */
	size_t buf_len, buf_lines;
	uint64_t *rec; /* ER_QLOG_RECORD_MAX bytes, 8-aligned */
	querylog_format_ctx_t format; /* the wall clock's offset, this round */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(querylog_t *ql)
{
	uint64_t one = 1;
	ssize_t ignored = write(ql->wake_fd, &one, sizeof(one)); /* full counter: awake anyway */
	(void)ignored;
}

/* --- the workers' side ------------------------------------------------------ */

static void relaxed_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

void querylog_submit(querylog_t *ql, unsigned lane, const query_event_t *ev, uint64_t now_ns,
		     metrics_t *m)
{
	if (ql == NULL || lane >= ql->n_lanes)
		return;
	lane_t *l = &ql->lanes[lane];
	uint64_t rec[ER_QLOG_RECORD_MAX / sizeof(uint64_t) + 1];
	size_t len = querylog_line_capture(ev, now_ns, (querylog_record_t *)rec);
	bool is_filling = false;
	if (!spsc_ring_push(l->ring, rec, (uint32_t)len, &is_filling)) {
		relaxed_add(&l->ring_dropped, 1);
		metrics_add(&m->querylog_dropped, 1);
	}
	if (is_filling && !atomic_load_explicit(&l->is_kicked, memory_order_relaxed) &&
	    !atomic_exchange_explicit(&l->is_kicked, true, memory_order_relaxed))
		wake(ql);
}

void querylog_sync(querylog_t *ql, unsigned lane, metrics_t *m)
{
	if (ql == NULL || lane >= ql->n_lanes)
		return;
	lane_t *l = &ql->lanes[lane];
	uint64_t wd = atomic_load_explicit(&l->writer_dropped, memory_order_relaxed);
	if (wd != l->writer_dropped_seen) {
		metrics_add(&m->querylog_dropped, wd - l->writer_dropped_seen);
		l->writer_dropped_seen = wd;
	}
}

/* --- output: opening (main thread) ----------------------------------------- */

static void set_kind(output_t *out)
{
	struct stat st = { 0 };
	bool is_regular = fstat(out->fd, &st) == 0 && S_ISREG(st.st_mode);
	out->is_socket = !is_regular && S_ISSOCK(st.st_mode);
	out->chunk_max = is_regular ? ER_QLOG_BUF_BYTES : PIPE_BUF;
}

/* stderr as a description of our own where that is possible (see top). */
static void open_stderr(output_t *out)
{
	struct stat st;
	snprintf(out->name, sizeof(out->name), "stderr");
	out->fd = STDERR_FILENO;
	out->is_owned = false;
	if (fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
		int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			out->fd = fd;
			out->is_owned = true;
		}
	}
	set_kind(out);
}

/* Fills out for the configured state; 0 or a negative errno (out is then
 * on and broken). */
static int open_output(bool is_on, const char *path, output_t *out)
{
	*out = (output_t){ .state = is_on ? OUT_ON : OUT_OFF, .fd = -1 };
	if (!is_on)
		return 0;
	if (path == NULL) {
		open_stderr(out);
		return 0;
	}
	snprintf(out->name, sizeof(out->name), "%s", path);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
		      0640);
	if (fd < 0)
		return -errno;
	out->fd = fd;
	out->is_owned = true;
	set_kind(out);
	return 0;
}

static void close_output(output_t *out)
{
	if (out->is_owned && out->fd >= 0)
		close(out->fd);
	out->fd = -1;
	out->is_owned = false;
}

/* Parks out for the writer (which takes it before its next batch). */
static void hand_over(querylog_t *ql, const output_t *out)
{
	pthread_mutex_lock(&ql->lock);
	if (ql->has_next)
		close_output(&ql->next); /* never taken: replaced */
	ql->next = *out;
	ql->has_next = true;
	ql->was_ever_on |= out->state == OUT_ON;
	pthread_mutex_unlock(&ql->lock);
	wake(ql);
}

int querylog_configure(querylog_t *ql, bool is_on, const char *path)
{
	pthread_mutex_lock(&ql->control_lock);
	int rc = ER_QLOG_UNCHANGED;
	/* Unchanged settings still retry an open that failed (querylog.h). */
	if (!ql->is_broken && is_on == ql->is_on && (!is_on || str_same(path, ql->path)))
		goto out;
	rc = 0;
	char *copy = is_on && path ? strdup(path) : NULL;
	if (is_on && path && copy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	free(ql->path);
	ql->path = copy;
	ql->is_on = is_on;
	output_t next;
	rc = open_output(is_on, path, &next);
	ql->is_broken = rc < 0;
	hand_over(ql, &next);
out:
	pthread_mutex_unlock(&ql->control_lock);
	return rc;
}

int querylog_reopen(querylog_t *ql)
{
	pthread_mutex_lock(&ql->control_lock);
	int rc = 0;
	if (ql->is_on && ql->path != NULL) {
		output_t next;
		rc = open_output(true, ql->path, &next);
		ql->is_broken = rc < 0;
		hand_over(ql, &next);
	}
	pthread_mutex_unlock(&ql->control_lock);
	return rc;
}

/* --- output: writing (writer thread) ----------------------------------------- */

static void count_dropped(querylog_t *ql, lane_t *l, uint64_t n)
{
	if (n == 0)
		return;
	atomic_store_explicit(&l->writer_dropped,
			      atomic_load_explicit(&l->writer_dropped, memory_order_relaxed) + n,
			      memory_order_relaxed);
	ql->dropped_while_failing += n;
}

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		lines++;
	return lines;
}

/* The longest run of whole lines from p (n bytes) within max bytes; one
 * whole line if the first is longer. */
static size_t chunk_of(const char *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	const char *nl = memrchr(p, '\n', max);
	if (nl != NULL)
		return (size_t)(nl - p) + 1;
	nl = memchr(p, '\n', n);
	return nl ? (size_t)(nl - p) + 1 : n;
}

static ssize_t write_some(const output_t *out, const char *p, size_t n)
{
	if (out->is_socket)
		return send(out->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(out->fd, p, n);
}

/* Waits until out takes bytes or deadline (monotonic ms) passes. */
static bool wait_writable(const output_t *out, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return false;
		struct pollfd p = { .fd = out->fd, .events = POLLOUT };
		int rc = poll(&p, 1, (int)(deadline - now));
		if (rc > 0)
			return (p.revents & POLLOUT) != 0;
		if (rc == 0 || errno != EINTR)
			return false;
	}
}

/* Writes the buffer to the output by deadline; returns the bytes written
 * and sets *err to the errno that stopped it (ETIMEDOUT: the deadline). */
static size_t write_batch(querylog_t *ql, uint64_t deadline, int *err)
{
	size_t off = 0;
	*err = 0;
	while (off < ql->buf_len) {
		size_t chunk = chunk_of(ql->buf + off, ql->buf_len - off, ql->out.chunk_max);
		ssize_t n = write_some(&ql->out, ql->buf + off, chunk);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_writable(&ql->out, deadline))
				continue;
			*err = ETIMEDOUT;
		} else {
			*err = n == 0 ? EIO : errno;
		}
		break;
	}
	return off;
}

static void note_failure(querylog_t *ql, int err)
{
	if (ql->is_failing)
		return;
	ql->is_failing = true;
	ql->dropped_while_failing = 0;
	if (err == ETIMEDOUT)
		log_warn("query log: %s took nothing for %d ms; lines are dropped and counted "
			 "(querylog_dropped) until it takes them again",
			 ql->out.name, ER_QLOG_WRITE_MS);
	else
		log_warn("query log: cannot write to %s: %s; lines are dropped and counted "
			 "(querylog_dropped) until it takes them again",
			 ql->out.name, strerror(err));
}

static void note_success(querylog_t *ql)
{
	if (!ql->is_failing)
		return;
	ql->is_failing = false;
	log_info("query log: writing to %s again; %llu lines were dropped", ql->out.name,
		 (unsigned long long)ql->dropped_while_failing);
}

/* Bytes from off to keep when a batch stops there: the rest of a line the
 * output has begun (now or in an earlier batch), so that no line is ever
 * left half written while the output takes anything. */
static size_t unfinished(const querylog_t *ql, size_t off)
{
	bool is_cut = off > 0 ? ql->buf[off - 1] != '\n' : ql->has_carry;
	if (!is_cut)
		return 0;
	const char *nl = memchr(ql->buf + off, '\n', ql->buf_len - off);
	return nl ? (size_t)(nl - ql->buf) + 1 - off : 0;
}

/* Writes the buffer; the lines it could not write are dropped and counted
 * against lane l, but for the rest of a line already begun, kept first. */
static void flush(querylog_t *ql, lane_t *l, uint64_t deadline)
{
	if (ql->buf_len == 0)
		return;
	int err;
	size_t off = write_batch(ql, deadline, &err);
	if (off == ql->buf_len) {
		atomic_fetch_add_explicit(&ql->written, ql->buf_lines, memory_order_relaxed);
		ql->buf_len = ql->buf_lines = 0;
		ql->has_carry = false;
		note_success(ql);
		return;
	}
	size_t keep = unfinished(ql, off);
	size_t done = count_lines(ql->buf, off);
	atomic_fetch_add_explicit(&ql->written, done, memory_order_relaxed);
	note_failure(ql, err);
	count_dropped(ql, l, ql->buf_lines - done - (keep ? 1 : 0));
	memmove(ql->buf, ql->buf + off, keep);
	ql->buf_len = keep;
	ql->buf_lines = keep ? 1 : 0;
	ql->has_carry = keep > 0;
}

/* --- the writer ----------------------------------------------------------- */

/* Formats up to ER_QLOG_ROUND_LINES of lane l's records and writes them.
 * Returns true when the lane may hold more. */
static bool drain_lane(querylog_t *ql, lane_t *l, uint64_t deadline)
{
	atomic_store_explicit(&l->is_kicked, false, memory_order_relaxed);
	size_t n = 0;
	for (; n < ER_QLOG_ROUND_LINES; n++) {
		size_t len = spsc_ring_pop(l->ring, ql->rec, ER_QLOG_RECORD_MAX, NULL);
		if (len == 0)
			break;
		if (ql->out.state == OUT_OFF)
			continue; /* queued before the log was turned off */
		if (ql->out.fd < 0) {
			count_dropped(ql, l, 1);
			continue;
		}
		size_t w = querylog_line_format((const querylog_record_t *)ql->rec, len,
						&ql->format, ql->buf + ql->buf_len);
		ql->buf_len += w;
		ql->buf_lines += w > 0;
		if (ER_QLOG_BUF_BYTES - ql->buf_len < ER_QLOG_LINE_MAX)
			flush(ql, l, deadline);
	}
	flush(ql, l, deadline);
	return n == ER_QLOG_ROUND_LINES;
}

/* Workers stamp records with uv_hrtime() (CLOCK_MONOTONIC); a line's ts is
 * that plus the wall clock's offset, read once per round: a step of the
 * wall clock shows from the next round on. */
static void read_wall_offset(querylog_t *ql)
{
	struct timespec wall, mono;
	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	ql->format.wall_offset_ns = ((int64_t)wall.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
				    (wall.tv_nsec - mono.tv_nsec);
}

static bool drain_round(querylog_t *ql, uint64_t deadline)
{
	read_wall_offset(ql);
	bool has_more = false;
	for (unsigned i = 0; i < ql->n_lanes; i++)
		has_more |= drain_lane(ql, &ql->lanes[i], deadline);
	return has_more;
}

/* Takes a handed-over output; returns true when asked to stop. */
static bool take_control(querylog_t *ql)
{
	pthread_mutex_lock(&ql->lock);
	bool is_stopping = ql->is_stopping, has_next = ql->has_next;
	output_t next = ql->next;
	ql->has_next = false;
	pthread_mutex_unlock(&ql->lock);
	if (has_next) {
		count_dropped(ql, &ql->lanes[0], ql->buf_lines); /* the rest of a cut line */
		ql->buf_len = ql->buf_lines = 0;
		ql->has_carry = false;
		close_output(&ql->out);
		ql->out = next;
		ql->is_failing = false;
	}
	return is_stopping;
}

static void wait_for_work(querylog_t *ql)
{
	struct pollfd p = { .fd = ql->wake_fd, .events = POLLIN };
	if (poll(&p, 1, ql->out.state == OUT_OFF ? -1 : ER_QLOG_IDLE_MS) > 0) {
		uint64_t v;
		ssize_t ignored = read(ql->wake_fd, &v, sizeof(v));
		(void)ignored;
	}
}

/* At stop (the workers are gone): what can be written within
 * ER_QLOG_STOP_MS, then the rest counted as dropped. */
static void drain_at_stop(querylog_t *ql)
{
	uint64_t deadline = now_ms() + ER_QLOG_STOP_MS;
	while (drain_round(ql, deadline) && now_ms() < deadline)
		;
	for (unsigned i = 0; i < ql->n_lanes; i++) {
		lane_t *l = &ql->lanes[i];
		while (spsc_ring_pop(l->ring, ql->rec, ER_QLOG_RECORD_MAX, NULL) > 0)
			count_dropped(ql, l, ql->out.state == OUT_ON);
	}
	count_dropped(ql, &ql->lanes[0], ql->buf_lines);
	ql->buf_len = ql->buf_lines = 0;
}

static void *writer_main(void *arg)
{
	querylog_t *ql = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main loop's */
	pthread_setname_np(pthread_self(), "erdns-querylog");
	while (!take_control(ql)) {
		if (!drain_round(ql, now_ms() + ER_QLOG_WRITE_MS))
			wait_for_work(ql);
	}
	drain_at_stop(ql);
	close_output(&ql->out);
	return NULL;
}

int querylog_start(querylog_t *ql)
{
	int rc = pthread_create(&ql->thread, NULL, writer_main, ql);
	if (rc != 0)
		return -rc;
	ql->is_started = true;
	return 0;
}

/* --- construction ------------------------------------------------------------ */

querylog_t *querylog_new(const querylog_params_t *params)
{
	if (params->n_lanes == 0)
		return NULL;
	querylog_t *ql = calloc(1, sizeof(*ql));
	if (ql == NULL)
		return NULL;
	ql->wake_fd = -1;
	ql->out = (output_t){ .state = OUT_OFF, .fd = -1 };
	pthread_mutex_init(&ql->control_lock, NULL);
	pthread_mutex_init(&ql->lock, NULL);
	ql->n_lanes = params->n_lanes;
	ql->format.health = params->health;
	size_t ring = params->ring_bytes ? params->ring_bytes : ER_QLOG_RING_BYTES;
	ql->lanes = aligned_alloc(ER_CACHE_LINE, ql->n_lanes * sizeof(lane_t));
	ql->buf = malloc(ER_QLOG_BUF_BYTES);
	ql->rec = malloc(ER_QLOG_RECORD_MAX);
	ql->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ql->lanes == NULL || ql->buf == NULL || ql->rec == NULL || ql->wake_fd < 0) {
		ql->n_lanes = 0; /* no lane is initialised */
		querylog_free(ql);
		return NULL;
	}
	memset(ql->lanes, 0, ql->n_lanes * sizeof(lane_t));
	for (unsigned i = 0; i < ql->n_lanes; i++) {
		ql->lanes[i].ring = spsc_ring_new(ring);
		if (ql->lanes[i].ring == NULL) {
			querylog_free(ql);
			return NULL;
		}
	}
	return ql;
}

void querylog_totals(querylog_t *ql, uint64_t *written, uint64_t *dropped)
{
	uint64_t d = 0;
	for (unsigned i = 0; i < ql->n_lanes; i++) {
		d += __atomic_load_n(&ql->lanes[i].ring_dropped, __ATOMIC_RELAXED);
		d += atomic_load_explicit(&ql->lanes[i].writer_dropped, memory_order_relaxed);
	}
	*written = atomic_load_explicit(&ql->written, memory_order_relaxed);
	*dropped = d;
}

static void stop_writer(querylog_t *ql)
{
	if (!ql->is_started)
		return;
	pthread_mutex_lock(&ql->lock);
	ql->is_stopping = true;
	pthread_mutex_unlock(&ql->lock);
	wake(ql);
	pthread_join(ql->thread, NULL);
	ql->is_started = false;
	if (ql->was_ever_on) {
		uint64_t written, dropped;
		querylog_totals(ql, &written, &dropped);
		log_info("query log: %llu lines written, %llu dropped",
			 (unsigned long long)written, (unsigned long long)dropped);
	}
}

void querylog_free(querylog_t *ql)
{
	if (ql == NULL)
		return;
	stop_writer(ql);
	if (ql->has_next)
		close_output(&ql->next);
	close_output(&ql->out);
	for (unsigned i = 0; i < ql->n_lanes; i++)
		spsc_ring_free(ql->lanes[i].ring);
	free(ql->lanes);
	free(ql->buf);
	free(ql->rec);
	free(ql->path);
	if (ql->wake_fd >= 0)
		close(ql->wake_fd);
	pthread_mutex_destroy(&ql->lock);
	pthread_mutex_destroy(&ql->control_lock);
	free(ql);
}
