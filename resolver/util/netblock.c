/*
 * Prefixes and access lists. Matching maps everything into the IPv6 space
 * first (an IPv4 address becomes ::ffff:a.b.c.d, an IPv4 /n becomes /96+n),
 * so one bit comparison serves every case and a client gets the same answer
 * whether it arrived on an IPv4 socket or as a mapped address on a
 * dual-stack one. Special-casing mapped clients only against IPv4 blocks was
 * rejected: it left "::ffff:10.0.0.0/104" and 10.0.0.0/8 disagreeing.
 *
 * The ACL is a flat array scanned linearly: ACLs hold a handful of prefixes,
 * where a radix tree would only add code.
 */
#include "util/netblock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acl {
	netblock_t *items;
	size_t count, cap;
};

static int parse_prefix_len(const char *s, unsigned max, uint8_t *out)
{
	unsigned v = 0;
	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (uint8_t)v;
	return 0;
}

/* True when any bit at or after bit `from` is set in addr[0..bytes). */
static bool has_bits_from(const uint8_t *addr, size_t bytes, unsigned from)
{
	for (size_t i = from / 8; i < bytes; i++) {
		uint8_t mask = 0xff;
		if (i == from / 8)
			mask = (uint8_t)(0xffu >> (from % 8));
		if (addr[i] & mask)
			return true;
	}
	return false;
}

int netblock_parse(const char *text, netblock_t *out)
{
	char buf[INET6_ADDRSTRLEN];
	if (!text || !out)
		return -EINVAL;
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	netblock_t nb = { .family = AF_INET6 };
	if (inet_pton(AF_INET, buf, nb.addr) == 1)
		nb.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, nb.addr) != 1)
		return -EINVAL;
	unsigned max = nb.family == AF_INET ? 32 : 128;
	nb.prefix_len = (uint8_t)max;
	if (slash && parse_prefix_len(slash + 1, max, &nb.prefix_len) < 0)
		return -EINVAL;
	if (has_bits_from(nb.addr, max / 8, nb.prefix_len))
		return -EINVAL;
	*out = nb;
	return 0;
}

/* ::ffff:a.b.c.d, RFC 4291 2.5.5.2 */
static void map_v4(const void *v4, uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

/* addr in the IPv6 space (see the top comment); false for other families. */
static bool mapped_addr(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		map_v4(&((const struct sockaddr_in *)sa)->sin_addr, out);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (bits % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> (bits % 8));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool netblock_contains(const netblock_t *nb, const struct sockaddr *sa)
{
	uint8_t client[16], block[16];
	if (!nb || !sa || !mapped_addr(sa, client))
		return false;
	if (nb->family == AF_INET6)
		return prefix_equal(nb->addr, client, nb->prefix_len);
	if (nb->family != AF_INET)
		return false;
	map_v4(nb->addr, block);
	return prefix_equal(block, client, 96u + nb->prefix_len);
}

void netblock_format(const netblock_t *nb, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (len == 0)
		return;
	if (!nb || !inet_ntop(nb->family, nb->addr, ip, sizeof(ip)))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s/%u", ip, nb->prefix_len);
}

acl_t *acl_new(void)
{
	return calloc(1, sizeof(acl_t));
}

void acl_free(acl_t *acl)
{
	if (!acl)
		return;
	free(acl->items);
	free(acl);
}

int acl_add(acl_t *acl, const netblock_t *nb)
{
	if (!acl || !nb)
		return -EINVAL;
	if (acl->count == acl->cap) {
		size_t cap = acl->cap ? acl->cap * 2 : 4;
		netblock_t *items = reallocarray(acl->items, cap, sizeof(*items));
		if (!items)
			return -ENOMEM;
		acl->items = items;
		acl->cap = cap;
	}
	acl->items[acl->count++] = *nb;
	return 0;
}

bool acl_allows(const acl_t *acl, const struct sockaddr *sa)
{
	if (!acl || !sa)
		return false;
	for (size_t i = 0; i < acl->count; i++) {
		if (netblock_contains(&acl->items[i], sa))
			return true;
	}
	return false;
}

size_t acl_count(const acl_t *acl)
{
	return acl ? acl->count : 0;
}

const netblock_t *acl_get(const acl_t *acl, size_t index)
{
	if (!acl || index >= acl->count)
		return NULL;
	return &acl->items[index];
}
