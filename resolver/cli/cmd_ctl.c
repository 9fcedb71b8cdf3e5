/*
 * `erdns ctl [-s SOCKET] [-c FILE] [--json] CMD [ARGS]`: sends one request
 * line to a running server's control socket (ops/control.h) and prints the
 * JSON reply, as received with --json, as tables otherwise (ctl_print.c).
 *
 * The socket is -s, else control.socket from the config file, else the
 * default. Only that one key is read, with plain cJSON and no validation:
 * ctl must work where the whole config would not load (an operator who
 * cannot read the zone files, or a config just broken and about to be
 * refused by `ctl reload`, which is exactly when ctl is needed).
 *
 * Exit: 0 ok, 1 the server said ok:false or could not be reached, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ctl.h"
#include "config/config.h"
#include "ops/control_cmd.h"

#define CTL_USAGE                                                                           \
	"erdns ctl [-s SOCKET] [-c FILE] [--json] CMD [ARGS]\n"                             \
	"  stats | reload | flush [[--subtree] NAME] | upstreams | explain NAME [IP]\n"     \
	"  | cache-dump | health | reopen\n"                                                \
	"SOCKET: -s, else control.socket of FILE (default " ER_CONFIG_DEFAULT_PATH "),\n"   \
	"else " ER_CTL_DEFAULT_SOCKET

#define ER_CTL_DEFAULT_SOCKET "/run/erdns/control.sock"
#define CTL_CONNECT_MS 5000
/* A reload waits for every worker (up to 5 s each when one is stuck), and
 * a cache dump may be 17 MB: generous, but never forever. */
#define CTL_REPLY_S 120

static const struct {
	const char *name;
	int min_args, max_args;
} ctl_commands[] = {
	{ "stats", 0, 0 },     { "reload", 0, 0 },     { "flush", 0, 2 },	{ "upstreams", 0, 0 },
	{ "explain", 1, 2 },   { "cache-dump", 0, 0 }, { "health", 0, 0 }, { "reopen", 0, 0 },
};

typedef struct ctl_opts {
	const char *socket, *config;
	bool is_json, is_config_explicit;
} ctl_opts_t;

/* Options before CMD only ("+"): `flush --subtree NAME` keeps its own. */
static int parse_options(int argc, char **argv, ctl_opts_t *o)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },	    { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	    { NULL, 0, NULL, 0 },
	};
	*o = (ctl_opts_t){ .config = ER_CONFIG_DEFAULT_PATH };
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:c:h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			o->socket = optarg;
			break;
		case 'c':
			o->config = optarg;
			o->is_config_explicit = true;
			break;
		case 'j':
			o->is_json = true;
			break;
		case 'h':
			printf("usage: %s\n", CTL_USAGE);
			return ER_EXIT_OK;
		case 'V':
			printf("erdns %s\n", ERDNS_VERSION);
			return ER_EXIT_OK;
		default:
			return cli_usage_error(CTL_USAGE, "ctl: unknown or incomplete option \"%s\"",
					       argv[optind - 1]);
		}
	}
	return -1;
}

/* control.socket of the config file into out; the default when the file
 * or the key is missing (said on stderr when -c named the file). */
static void socket_from_config(const ctl_opts_t *o, char *out, size_t len)
{
	snprintf(out, len, "%s", ER_CTL_DEFAULT_SOCKET);
	FILE *f = fopen(o->config, "r");
	if (f == NULL) {
		if (o->is_config_explicit)
			fprintf(stderr, "erdns: warning: %s: %s; using %s\n", o->config,
				strerror(errno), out);
		return;
	}
	char *text = calloc(1, 1 << 20);
	size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	cJSON *root = n ? cJSON_Parse(text) : NULL;
	free(text);
	const cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "control"), "socket");
	if (cJSON_IsString(s))
		snprintf(out, len, "%s", s->valuestring);
	else if (root == NULL)
		fprintf(stderr, "erdns: warning: %s is not valid JSON; using %s\n", o->config, out);
	cJSON_Delete(root);
}

/* The request line: CMD and ARGS joined by spaces. -1 for an argument a
 * line cannot carry. */
static int build_line(int argc, char **argv, char *line, size_t len)
{
	size_t used = 0;
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++) {
			if (*p == ' ' || *p == '\t' || !control_byte_is_valid((uint8_t)*p))
				return -1;
		}
		int n = snprintf(line + used, len - used, "%s%s", i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
	}
	snprintf(line + used, len - used, "\n");
	return 0;
}

static int check_command(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		if (strcmp(argv[0], ctl_commands[i].name) != 0)
			continue;
		if (argc - 1 < ctl_commands[i].min_args || argc - 1 > ctl_commands[i].max_args)
			return cli_usage_error(CTL_USAGE, "ctl %s: wrong number of arguments",
					       argv[0]);
		return -1;
	}
	return cli_usage_error(CTL_USAGE, "ctl: unknown command \"%s\"", argv[0]);
}

/* A connected socket to path, or a negative errno. Blocking, with
 * SO_SNDTIMEO bounding the connect (a server whose backlog is full makes
 * connect wait) and the send, SO_RCVTIMEO the reply. */
static int connect_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval snd = { .tv_sec = CTL_CONNECT_MS / 1000 }, rcv = { .tv_sec = CTL_REPLY_S };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno == EAGAIN ? ETIMEDOUT : errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first "\n" (the whole reply); *out is malloc'd and
 * NUL-terminated. -EPROTO when the server closed before it. */
static int read_reply(int fd, char **out)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 == cap) {
			char *p = realloc(buf, cap * 2);
			if (p == NULL)
				break;
			buf = p;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n == 0 ? EPROTO : errno == EAGAIN ? ETIMEDOUT : errno;
			free(buf);
			return -err;
		}
		char *nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			nl[1] = '\0';
			*out = buf;
			return 0;
		}
	}
	free(buf);
	return -ENOMEM;
}

/* Prints the reply; the exit status. */
static int show(const ctl_opts_t *o, const char *cmd, const char *reply)
{
	cJSON *root = cJSON_Parse(reply);
	if (!cJSON_IsObject(root)) {
		fprintf(stderr, "erdns: ctl %s: the server's reply is not a JSON object\n", cmd);
		cJSON_Delete(root);
		return ER_EXIT_INVALID;
	}
	bool is_ok = cJSON_IsTrue(cJSON_GetObjectItem(root, "ok"));
	if (o->is_json)
		fputs(reply, stdout);
	else if (is_ok)
		ctl_print(cmd, root);
	if (!is_ok) {
		const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(root, "error"));
		fprintf(stderr, "erdns: ctl %s: %s\n", cmd, err ? err : "failed");
	}
	cJSON_Delete(root);
	return is_ok ? ER_EXIT_OK : ER_EXIT_INVALID;
}

static int exchange(const char *path, const char *line, char **reply)
{
	int fd = connect_socket(path);
	if (fd < 0) {
		fprintf(stderr, "erdns: cannot connect to %s: %s (is erdns running? see "
				"control.socket)\n", path, strerror(-fd));
		return -1;
	}
	int rc = send_all(fd, line, strlen(line));
	/* A server that refuses at once (too many connections) has written
	 * why and closed before our line went out: read what it said. */
	if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET) {
		int read_rc = read_reply(fd, reply);
		rc = read_rc == 0 || rc == 0 ? read_rc : rc;
	}
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "erdns: ctl: %s: %s\n", path,
			rc == -EPROTO ? "the server closed the connection without a reply"
				      : strerror(-rc));
		return -1;
	}
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	ctl_opts_t o;
	int rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error(CTL_USAGE, "ctl: missing command");
	rc = check_command(argc - optind, argv + optind);
	if (rc >= 0)
		return rc;
	char line[ER_CONTROL_LINE_MAX + 2];
	if (build_line(argc - optind, argv + optind, line, sizeof(line)) < 0)
		return cli_usage_error(CTL_USAGE, "ctl: arguments must be printable, without "
						  "blanks, and the request at most %d bytes",
				       ER_CONTROL_LINE_MAX);
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 256];
	if (o.socket)
		snprintf(path, sizeof(path), "%s", o.socket);
	else
		socket_from_config(&o, path, sizeof(path));
	char *reply = NULL;
	if (exchange(path, line, &reply) < 0)
		return ER_EXIT_INVALID;
	rc = show(&o, argv[optind], reply);
	free(reply);
	return rc;
}
