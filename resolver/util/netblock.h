/*
 * Address prefixes ("10.0.0.0/8", "::1/128", a bare IP = host prefix) and
 * access lists built from them. Used for `server.allow` and `views[].clients`.
 * An IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches IPv4 prefixes, so a
 * dual-stack socket cannot bypass an IPv4 ACL.
 */
#ifndef ERDNS_UTIL_NETBLOCK_H
#define ERDNS_UTIL_NETBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct netblock {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; host bits are cleared by the parser */
	uint8_t prefix_len;
} netblock_t;

/* Returns 0, or -EINVAL (bad address, prefix out of range, or host bits set
 * beyond the prefix, e.g. "10.0.0.1/8": a likely typo the operator should fix). */
int netblock_parse(const char *text, netblock_t *out);
bool netblock_contains(const netblock_t *nb, const struct sockaddr *sa);
/* Writes "10.0.0.0/8". */
void netblock_format(const netblock_t *nb, char *buf, size_t len);

typedef struct acl acl_t;

/* An empty list; NULL on allocation failure. */
acl_t *acl_new(void);
void acl_free(acl_t *acl);
/* Copies nb. Returns 0 or -ENOMEM. */
int acl_add(acl_t *acl, const netblock_t *nb);
/* True when sa falls in any prefix. An empty ACL allows nothing. */
bool acl_allows(const acl_t *acl, const struct sockaddr *sa);
size_t acl_count(const acl_t *acl);
const netblock_t *acl_get(const acl_t *acl, size_t index);

#endif
