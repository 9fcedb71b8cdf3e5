/*
 * resolv.conf(5) reading for `"servers": ["resolv.conf"]`: only
 * "nameserver ADDRESS" lines matter; other directives (search, domain,
 * options, sortlist) are ignored, as are comments starting with '#' or ';'
 * anywhere on a line (an address never contains either). Like the glibc
 * stub resolver, words after the address are ignored; unlike it, a
 * nameserver line that is not an address is an error rather than silently
 * skipped, since a typo would otherwise leave a group with fewer servers.
 *
 * Addresses equal to one of our listeners are left out: on a box where
 * erdns is the system resolver, resolv.conf lists erdns itself, and
 * forwarding to ourselves would loop. Duplicates are dropped too.
 */
#include "upstream/resolvconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sockaddr.h"

#define RESOLVCONF_PORT 53

/* "fe80::1%eth0" or "fe80::1%2": the scope as an interface index. */
static int parse_scope(const char *scope, uint32_t *out)
{
	unsigned idx = if_nametoindex(scope);
	if (idx == 0) {
		char *end = NULL;
		unsigned long n = strtoul(scope, &end, 10);
		if (scope[0] < '0' || scope[0] > '9' || *end != '\0' || n == 0 || n > UINT32_MAX)
			return -EINVAL;
		idx = (unsigned)n;
	}
	*out = idx;
	return 0;
}

static int parse_address(char *text, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(RESOLVCONF_PORT);
		return 0;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	char *percent = strchr(text, '%');
	if (percent != NULL) {
		*percent = '\0';
		if (parse_scope(percent + 1, &sin6->sin6_scope_id) != 0)
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
		return -EINVAL;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(RESOLVCONF_PORT);
	return 0;
}

static bool is_listed(const struct sockaddr_storage *v, size_t n, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < n; i++)
		if (sockaddr_equal((const struct sockaddr *)&v[i], (const struct sockaddr *)ss))
			return true;
	return false;
}

/* One line: returns 1 with *ss for a nameserver, 0 to skip, -EINVAL. */
static int parse_line(char *line, struct sockaddr_storage *ss, const char **bad)
{
	line[strcspn(line, "#;\r\n")] = '\0';
	char *save = NULL;
	char *word = strtok_r(line, " \t", &save);
	if (word == NULL || strcmp(word, "nameserver") != 0)
		return 0;
	char *addr = strtok_r(NULL, " \t", &save);
	*bad = NULL;
	if (addr == NULL)
		return -EINVAL;
	if (parse_address(addr, ss) != 0) {
		*bad = addr;
		return -EINVAL;
	}
	return 1;
}

int resolvconf_read(const char *path, const struct sockaddr_storage *skip, size_t n_skip,
		    struct sockaddr_storage *out, size_t max, size_t *count, char *err,
		    size_t errlen)
{
	int rc = 0;
	char *line = NULL;
	size_t cap = 0, n = 0, seen = 0;
	unsigned lineno = 0;
	*count = 0;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto cleanup;
	}
	while (getline(&line, &cap, f) >= 0) {
		struct sockaddr_storage ss;
		const char *bad = NULL;
		lineno++;
		int got = parse_line(line, &ss, &bad);
		if (got < 0) {
			rc = -EINVAL;
			if (bad != NULL)
				snprintf(err, errlen, "%s:%u: \"%s\" is not an IP address", path,
					 lineno, bad);
			else
				snprintf(err, errlen, "%s:%u: nameserver without an address", path,
					 lineno);
			goto cleanup;
		}
		if (got == 0)
			continue;
		seen++;
		if (is_listed(skip, n_skip, &ss) || is_listed(out, n, &ss) || n == max)
			continue;
		out[n++] = ss;
	}
	if (ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(EIO));
	} else if (n == 0) {
		rc = -ENOENT;
		snprintf(err, errlen,
			 seen == 0 ? "%s: no nameserver line"
				   : "%s: no usable nameserver (each one is this server itself)",
			 path);
	}
cleanup:
	if (f != NULL)
		fclose(f);
	free(line);
	*count = rc == 0 ? n : 0;
	return rc;
}
