/*
 * Socket address text forms. The host part goes through inet_pton only:
 * getaddrinfo would accept host names (and block on DNS while the resolver
 * is starting, possibly on itself), and also legacy forms such as "10.1" or
 * "0x7f.1" that inet_aton allows but no operator means. The form is decided
 * by the shape of the text: a leading '[' is "[v6]" with an optional port,
 * one ':' is "v4:port", two or more is a bare IPv6 address, none a bare IPv4
 * address. Scope ids ("fe80::1%eth0") are rejected for now: nothing in the
 * config needs link-local upstreams.
 */
#include "util/sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Decimal 1..65535, digits only: strtoul would take "+53", " 53" and "0x35". */
static int parse_port(const char *s, uint16_t *out)
{
	uint32_t v = 0;
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Parses host[0..len) as family into out with port. */
static int fill_addr(const char *host, size_t len, int family, uint16_t port,
		     struct sockaddr_storage *out)
{
	char buf[INET6_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
	return 0;
}

static int parse_bracketed(const char *text, uint16_t port, struct sockaddr_storage *out)
{
	const char *close = strchr(text, ']');
	if (!close)
		return -EINVAL;
	if (close[1] == ':') {
		int ret = parse_port(close + 2, &port);
		if (ret < 0)
			return ret;
	} else if (close[1] != '\0') {
		return -EINVAL;
	}
	return fill_addr(text + 1, (size_t)(close - text - 1), AF_INET6, port, out);
}

int sockaddr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out)
{
	if (!text || !out || *text == '\0')
		return -EINVAL;
	if (text[0] == '[')
		return parse_bracketed(text, default_port, out);
	const char *colon = strchr(text, ':');
	if (!colon)
		return fill_addr(text, strlen(text), AF_INET, default_port, out);
	if (strchr(colon + 1, ':'))
		return fill_addr(text, strlen(text), AF_INET6, default_port, out);
	uint16_t port;
	int ret = parse_port(colon + 1, &port);
	if (ret < 0)
		return ret;
	return fill_addr(text, (size_t)(colon - text), AF_INET, port, out);
}

void sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	if (len == 0)
		return;
	const void *addr = NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	char tmp[INET6_ADDRSTRLEN];
	if (!addr || !inet_ntop(sa->sa_family, addr, tmp, sizeof(tmp)))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s", tmp);
}

void sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	if (len == 0)
		return;
	char ip[INET6_ADDRSTRLEN];
	sockaddr_format_ip(sa, ip, sizeof(ip));
	if (sa && sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, sockaddr_port(sa));
	else if (sa && sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", ip, sockaddr_port(sa));
	else
		snprintf(buf, len, "?");
}

socklen_t sockaddr_len(const struct sockaddr *sa)
{
	if (sa && sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa && sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa && sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa && sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (!a || !b || a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}
