/*
 * What the cache keeps of a response and for how long (SPEC 3, RFC 2308,
 * RFC 8767, RFC 9520). Internal to resolver/cache: cache.c calls
 * policy_judge on the upstream response, then policy_fill on its own copy.
 */
#ifndef ERDNS_CACHE_POLICY_H
#define ERDNS_CACHE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "config/config.h"

typedef enum {
	POLICY_POSITIVE, /* NOERROR with an answer and no SOA in authority */
	POLICY_NEGATIVE, /* NXDOMAIN, or NOERROR with an SOA (NODATA) */
	POLICY_SERVFAIL,
} policy_kind_t;

typedef struct policy_verdict {
	policy_kind_t kind;
	uint32_t ttl_s; /* the entry's lifetime, > 0 */
	size_t question_end;
	size_t keep_len; /* bytes kept: everything before the OPT RR */
	uint16_t kept_ar; /* additional records before the OPT */
	uint16_t n_ttls; /* records kept, each with a TTL to patch */
} policy_verdict_t;

/*
 * Decides whether resp (the answer to key) may be cached and for how long.
 * Returns 0 with v filled, or the cache_insert errors -ENOMSG, -EBADMSG,
 * -EINVAL. Reads only resp.
 */
int policy_judge(const uint8_t *resp, size_t len, const cache_key_t *key,
		 const config_cache_t *rules, bool is_fallback, policy_verdict_t *v);

/*
 * Prepares data (v->keep_len bytes copied from the judged response): sets
 * ARCOUNT to v->kept_ar, writes the offset of every record's TTL field into
 * ttl_off[0..v->n_ttls), and lowers each TTL to min(own, v->ttl_s), so a
 * hit only has to subtract the time spent in the cache.
 */
void policy_fill(uint8_t *data, const policy_verdict_t *v, uint16_t *ttl_off);

static inline uint32_t policy_read_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void policy_write_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
