/*
 * The control socket's I/O (control.h): accept, read one line, run it
 * (control_run), write the reply, close. Each connection owns a pipe and a
 * timer; it is freed when both have closed, and the control_t when its
 * listener and every connection have (STYLE habit 7).
 *
 * The socket is bound with plain syscalls before the server drops root
 * (control_bind), like the DNS listeners, and adopted by the loop later.
 * Rejected: binding after the drop (the default directory /run/erdns is
 * root's under systemd's RuntimeDirectory=) and uv_pipe_chmod (it can only
 * add read/write for everyone, not give 0660).
 */
#include "ops/control.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

#define ER_CONTROL_BACKLOG 64

typedef struct conn {
	control_t *owner;
	struct conn *next, **pprev; /* owner->conns */
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t write;
	int n_open; /* handles whose close callback has not run */
	bool is_closing, is_answered;
	char *reply;
	size_t len; /* bytes of line read */
	char line[ER_CONTROL_LINE_MAX + 1]; /* room for the "\n" */
} conn_t;

struct control {
	uv_loop_t *loop;
	uv_pipe_t listener;
	control_env_t env;
	char *path;
	dev_t dev; /* the socket file as bound, to remove only our own */
	ino_t ino;
	conn_t *conns;
	size_t n_conns;
	bool is_closing, is_listener_closed;
};

/* --- binding ------------------------------------------------------------- */

static int make_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* Whether a server accepts connections on path (EAGAIN: one whose backlog
 * is full still counts). */
static bool someone_answers(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	bool answers = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return answers;
}

/* Removes a previous run's socket file; 0, or a negative errno with why. */
static int remove_stale(const struct sockaddr_un *sun, const char **why)
{
	struct stat st;
	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		*why = "the path exists and is not a socket";
		return -EEXIST;
	}
	if (someone_answers(sun)) {
		*why = "another process answers on it (is another erdns running?)";
		return -EADDRINUSE;
	}
	return unlink(sun->sun_path) < 0 ? -errno : 0;
}

static int bind_socket(const struct sockaddr_un *sun, uid_t uid, gid_t gid, const char **step)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*step = "socket";
		return -errno;
	}
	int rc = 0;
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0)
		*step = "cannot bind", rc = -errno;
	else if (chmod(sun->sun_path, ER_CONTROL_MODE) < 0)
		*step = "cannot set mode 0660", rc = -errno;
	else if (listen(fd, ER_CONTROL_BACKLOG) < 0)
		*step = "cannot listen", rc = -errno;
	/* Not fatal: root can still use it, only server.user's group cannot. */
	if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && chown(sun->sun_path, uid, gid) < 0)
		log_warn("control socket %s: cannot give it to server.user: %s; only root may "
			 "use erdns ctl", sun->sun_path, strerror(errno));
	if (rc < 0) {
		if (strcmp(*step, "cannot bind") != 0)
			unlink(sun->sun_path);
		close(fd);
		return rc;
	}
	return fd;
}

int control_bind(const char *path, uid_t uid, gid_t gid)
{
	struct sockaddr_un sun;
	const char *why = NULL, *step = "";
	int rc = make_addr(path, &sun);
	if (rc < 0) {
		log_warn("control socket %s: the path is too long (at most %zu bytes); "
			 "erdns ctl is unavailable", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	rc = remove_stale(&sun, &why);
	if (rc < 0) {
		log_warn("control socket %s: %s; erdns ctl is unavailable", path,
			 why ? why : strerror(-rc));
		return -1;
	}
	rc = bind_socket(&sun, uid, gid, &step);
	if (rc < 0) {
		log_warn("control socket %s: %s: %s; erdns ctl is unavailable (create the "
			 "directory or set control.socket)", path, step, strerror(-rc));
		return -1;
	}
	return rc;
}

/* --- connections --------------------------------------------------------- */

static void maybe_free(control_t *ctl)
{
	if (!ctl->is_closing || !ctl->is_listener_closed || ctl->n_conns > 0)
		return;
	free(ctl->path);
	free(ctl);
}

static void on_conn_closed(uv_handle_t *h)
{
	conn_t *k = h->data;
	if (--k->n_open > 0)
		return;
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	control_t *ctl = k->owner;
	ctl->n_conns--;
	free(k->reply);
	free(k);
	maybe_free(ctl);
}

static void conn_close(conn_t *k)
{
	if (k->is_closing)
		return;
	k->is_closing = true;
	uv_close((uv_handle_t *)&k->timer, on_conn_closed);
	uv_close((uv_handle_t *)&k->pipe, on_conn_closed);
}

static void on_write_timeout(uv_timer_t *timer)
{
	conn_close(timer->data);
}

static void on_written(uv_write_t *req, int status)
{
	(void)status; /* either way the exchange is over */
	conn_close(req->data);
}

/* Sends reply (takes it; NULL: out of memory) and closes after it. */
static void conn_answer(conn_t *k, char *reply, size_t len)
{
	k->is_answered = true;
	uv_read_stop((uv_stream_t *)&k->pipe);
	if (reply == NULL) {
		conn_close(k);
		return;
	}
	k->reply = reply;
	k->write.data = k;
	uv_buf_t buf = uv_buf_init(reply, (unsigned)len);
	if (uv_write(&k->write, (uv_stream_t *)&k->pipe, &buf, 1, on_written) < 0) {
		conn_close(k); /* a failed uv_write runs no callback */
		return;
	}
	uv_timer_start(&k->timer, on_write_timeout, ER_CONTROL_WRITE_MS, 0);
}

static void conn_fail(conn_t *k, const char *msg)
{
	size_t len = 0;
	char *reply = control_error_reply(msg, &len);
	conn_answer(k, reply, len);
}

static void conn_run(conn_t *k, size_t line_len)
{
	control_t *ctl = k->owner;
	uv_update_time(ctl->loop); /* the workers' clock, as fresh as theirs */
	size_t len = 0;
	char *reply = control_run(&ctl->env, k->line, line_len, uv_now(ctl->loop), &len);
	conn_answer(k, reply, len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	conn_t *k = h->data;
	*buf = uv_buf_init(k->line + k->len, (unsigned)(sizeof(k->line) - k->len));
}

/* New bytes at k->line + k->len: a complete line runs; a bad byte or a
 * full buffer without "\n" is answered with an error at once. */
static void conn_scan(conn_t *k, size_t n)
{
	for (size_t i = k->len; i < k->len + n; i++) {
		if (k->line[i] == '\n') {
			conn_run(k, i);
			return;
		}
		/* "\r" is left to control_parse: fine only before the "\n" */
		if (!control_byte_is_valid((uint8_t)k->line[i]) && k->line[i] != '\r') {
			conn_fail(k, "request contains a non-printable byte");
			return;
		}
	}
	k->len += n;
	if (k->len == sizeof(k->line))
		conn_fail(k, "request line longer than 4096 bytes");
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	conn_t *k = stream->data;
	if (k->is_answered || nread == 0)
		return;
	if (nread > 0) {
		conn_scan(k, (size_t)nread);
	} else if (nread == UV_EOF && k->len > 0) {
		conn_run(k, k->len); /* a last line without "\n" (e.g. nc -N) */
	} else {
		conn_close(k);
	}
}

static void on_idle_timeout(uv_timer_t *timer)
{
	conn_t *k = timer->data;
	conn_fail(k, "no request line within 2 s");
}

_Static_assert(ER_CONTROL_IDLE_MS == 2000, "the timeout message says 2 s");
_Static_assert(ER_CONTROL_LINE_MAX == 4096, "the long-line message says 4096");

/* --- accepting ----------------------------------------------------------- */

static void on_rejected_closed(uv_handle_t *h)
{
	free(h);
}

/* Over the limit: accepted (or the listener would stall), told why if the
 * socket takes it at once, and closed. */
static void reject(control_t *ctl)
{
	uv_pipe_t *p = malloc(sizeof(*p));
	if (p == NULL) {
		log_error("control socket: out of memory accepting a connection");
		return;
	}
	uv_pipe_init(ctl->loop, p, 0);
	if (uv_accept((uv_stream_t *)&ctl->listener, (uv_stream_t *)p) == 0) {
		static char busy[] = "{\"ok\":false,\"error\":\"too many control connections "
				     "at once; try again\"}\n";
		uv_buf_t buf = uv_buf_init(busy, sizeof(busy) - 1);
		(void)uv_try_write((uv_stream_t *)p, &buf, 1);
	}
	uv_close((uv_handle_t *)p, on_rejected_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	control_t *ctl = server->data;
	if (status < 0) {
		log_warn("control socket: accept: %s", uv_strerror(status));
		return;
	}
	conn_t *k = ctl->n_conns < ER_CONTROL_MAX_CONNS ? malloc(sizeof(*k)) : NULL;
	if (k == NULL) {
		reject(ctl);
		return;
	}
	memset(k, 0, offsetof(conn_t, line));
	k->owner = ctl;
	k->next = ctl->conns;
	k->pprev = &ctl->conns;
	if (ctl->conns)
		ctl->conns->pprev = &k->next;
	ctl->conns = k;
	ctl->n_conns++;
	uv_pipe_init(ctl->loop, &k->pipe, 0);
	uv_timer_init(ctl->loop, &k->timer);
	k->pipe.data = k->timer.data = k;
	k->n_open = 2;
	if (uv_accept(server, (uv_stream_t *)&k->pipe) < 0 ||
	    uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read) < 0) {
		conn_close(k);
		return;
	}
	uv_timer_start(&k->timer, on_idle_timeout, ER_CONTROL_IDLE_MS, 0);
}

/* --- lifecycle ----------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
	control_t *ctl = h->data;
	ctl->is_listener_closed = true;
	maybe_free(ctl);
}

control_t *control_start(uv_loop_t *loop, int fd, const char *path, const control_env_t *env)
{
	control_t *ctl = calloc(1, sizeof(*ctl));
	char *copy = strdup(path);
	if (ctl == NULL || copy == NULL) {
		log_warn("control socket %s: out of memory; erdns ctl is unavailable", path);
		close(fd);
		free(copy);
		free(ctl);
		return NULL;
	}
	ctl->loop = loop;
	ctl->env = *env;
	ctl->path = copy;
	struct stat st;
	if (stat(path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
	uv_pipe_init(loop, &ctl->listener, 0);
	ctl->listener.data = ctl;
	int rc = uv_pipe_open(&ctl->listener, fd);
	if (rc < 0)
		close(fd); /* not adopted */
	else
		rc = uv_listen((uv_stream_t *)&ctl->listener, ER_CONTROL_BACKLOG, on_connection);
	if (rc < 0) {
		log_warn("control socket %s: %s; erdns ctl is unavailable", path, uv_strerror(rc));
		control_close(ctl); /* the memory goes in the close callback */
		return NULL;
	}
	return ctl;
}

/* Only the file this process bound: another instance may have replaced it. */
static void remove_socket_file(const control_t *ctl)
{
	struct stat st;
	if (ctl->ino != 0 && stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino && unlink(ctl->path) < 0)
		log_debug("control socket %s: not removed: %s", ctl->path, strerror(errno));
}

void control_close(control_t *ctl)
{
	if (ctl == NULL || ctl->is_closing)
		return;
	ctl->is_closing = true;
	remove_socket_file(ctl);
	for (conn_t *k = ctl->conns; k; k = k->next)
		conn_close(k);
	uv_close((uv_handle_t *)&ctl->listener, on_listener_closed);
}
