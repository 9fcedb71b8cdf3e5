/*
 * Cache policy: which upstream responses are kept, for how long, and what
 * exactly is stored (SPEC 3).
 *
 * policy_judge walks the response once with the allocation-free scanner of
 * dns/wire.c (names are skipped, never decoded; only the SOA's MINIMUM is
 * read out of any rdata) and decides the entry's lifetime L:
 *  - positive (NOERROR with records, no SOA in authority): the smallest TTL
 *    of all kept records, clamped to [min_ttl_s, max_ttl_s];
 *  - negative (NXDOMAIN, or NOERROR with no answer or with an SOA in the
 *    authority section, i.e. NODATA at the end of a CNAME chain), RFC 2308
 *    5: min(SOA TTL, SOA MINIMUM) and the TTLs of the other records (the
 *    CNAME chain), capped by max_negative_ttl_s and not raised by
 *    min_ttl_s (SPEC clamps positive TTLs only). Without an SOA: not
 *    cached, as RFC 2308 5 says ("SHOULD NOT be cached"); rejected: a short
 *    default, which would cache exactly the responses the RFC singles out;
 *  - SERVFAIL: ER_CACHE_SERVFAIL_TTL_S (RFC 9520 3.2);
 *  - anything from a fallback group: at most fallback_ttl_s;
 *  - never: TC=1, other rcodes (REFUSED, FORMERR, NOTIMP: the next server
 *    or group may do better), extended rcodes, or L = 0.
 * TTLs with the top bit set count as 0 (RFC 2181 8).
 *
 * What is stored is the response up to its OPT RR: the OPT (and anything
 * after it, in practice TSIG) is cut, exactly as reply_finalize cuts it, so
 * pointers in the kept records stay valid and no TTL field of a pseudo-RR
 * is ever patched (a response whose kept records point at names that run
 * on past the cut is not cached at all). policy_fill then lowers each
 * stored TTL to min(own, L) and records its offset. A hit serves
 * max(0, stored - elapsed): no record ever shows more than its owner
 * published or than the entry has left, the value only falls while the
 * entry lives, and min_ttl_s lengthens how long erdns answers from the
 * cache without promising clients more than the owner did (rejected:
 * serving the raised TTL, which would make clients hold data longer than
 * its owner allows).
 */
#include "cache/policy.h"

#include <assert.h>
#include <errno.h>

#include "dns/dname.h"

#define TTL_OFFSET_FROM_RDATA 6 /* ttl(4) + rdlength(2) precede the rdata */
#define SOA_FIXED_TAIL 20 /* serial, refresh, retry, expire, minimum */
#define SOA_RDATA_MIN (2 + SOA_FIXED_TAIL) /* two root names */
#define TTL_TOP_BIT 0x80000000u /* RFC 2181 8: such TTLs are treated as 0 */
#define SECTIONS 3 /* answer, authority, additional */

typedef struct walk {
	uint32_t min_ttl; /* over kept records; UINT32_MAX when none */
	uint32_t soa_ttl; /* min(SOA TTL, MINIMUM) over SOAs in authority */
	bool has_soa;
	bool has_ext_rcode;
	uint16_t n; /* kept records */
	uint16_t kept_ar;
	size_t keep_len;
} walk_t;

static uint32_t norm_ttl(uint32_t ttl)
{
	return (ttl & TTL_TOP_BIT) ? 0 : ttl;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static int check_question(const uint8_t *resp, size_t len, const cache_key_t *key, size_t *pos)
{
	if (wire_read_u16(resp + 4) != 1)
		return -EBADMSG;
	size_t nlen = dname_wire_len(resp + *pos, len - *pos);
	if (nlen == 0 || len - *pos - nlen < 4)
		return -EBADMSG;
	const uint8_t *name = resp + *pos;
	*pos += nlen;
	if (nlen != key->qname_len || !dname_equal(name, key->qname) ||
	    wire_read_u16(resp + *pos) != key->qtype ||
	    wire_read_u16(resp + *pos + 2) != key->qclass)
		return -EINVAL;
	*pos += 4;
	return 0;
}

/* One record at *pos of section s (0 answer, 1 authority, 2 additional).
 * Returns 0, 1 at the OPT (stop there) or -EBADMSG. */
static int walk_rr(const uint8_t *resp, size_t len, size_t *pos, int section, walk_t *w)
{
	size_t start = *pos;
	uint16_t type, rdlen;
	if (wire_skip_rr(resp, len, pos, &type, &rdlen) < 0)
		return -EBADMSG;
	size_t rdata = *pos - rdlen;
	if (section == 2 && type == DNS_TYPE_OPT) {
		/* Owner is the root; TTL's first byte is the extended rcode. */
		w->has_ext_rcode = resp[rdata - TTL_OFFSET_FROM_RDATA] != 0;
		w->keep_len = start;
		return 1; /* stop: the OPT and what follows are cut */
	}
	uint32_t ttl = norm_ttl(policy_read_u32(resp + rdata - TTL_OFFSET_FROM_RDATA));
	w->min_ttl = min_u32(w->min_ttl, ttl);
	if (section == 1 && type == DNS_TYPE_SOA) {
		if (rdlen < SOA_RDATA_MIN)
			return -EBADMSG;
		uint32_t minimum = norm_ttl(policy_read_u32(resp + *pos - 4));
		w->soa_ttl = min_u32(w->has_soa ? w->soa_ttl : UINT32_MAX, min_u32(ttl, minimum));
		w->has_soa = true;
	}
	w->n++;
	if (section == 2)
		w->kept_ar++;
	w->keep_len = *pos;
	return 0;
}

static int walk_sections(const uint8_t *resp, size_t len, size_t pos, walk_t *w)
{
	w->min_ttl = UINT32_MAX;
	w->keep_len = pos;
	for (int s = 0; s < SECTIONS; s++) {
		uint16_t count = wire_read_u16(resp + 6 + 2 * s);
		for (uint16_t i = 0; i < count; i++) {
			int rc = walk_rr(resp, len, &pos, s, w);
			if (rc < 0)
				return rc;
			if (rc > 0)
				return 0;
		}
	}
	return 0;
}

static uint32_t positive_ttl(const walk_t *w, const config_cache_t *rules)
{
	uint32_t ttl = w->min_ttl;
	if (ttl < rules->min_ttl_s)
		ttl = rules->min_ttl_s;
	return min_u32(ttl, rules->max_ttl_s);
}

/* The lifetime for the response's class; 0 = do not cache. */
static uint32_t lifetime(policy_kind_t kind, const walk_t *w, const config_cache_t *rules)
{
	switch (kind) {
	case POLICY_SERVFAIL:
		return ER_CACHE_SERVFAIL_TTL_S;
	case POLICY_NEGATIVE:
		if (!w->has_soa)
			return 0;
		return min_u32(min_u32(w->min_ttl, w->soa_ttl), rules->max_negative_ttl_s);
	case POLICY_POSITIVE:
		return positive_ttl(w, rules);
	}
	return 0;
}

static int classify(uint16_t flags, uint16_t ancount, const walk_t *w, policy_kind_t *kind)
{
	switch (DNS_RCODE(flags)) {
	case DNS_RCODE_SERVFAIL:
		*kind = POLICY_SERVFAIL;
		return 0;
	case DNS_RCODE_NXDOMAIN:
		*kind = POLICY_NEGATIVE;
		return 0;
	case DNS_RCODE_NOERROR:
		*kind = (ancount == 0 || w->has_soa) ? POLICY_NEGATIVE : POLICY_POSITIVE;
		return 0;
	default:
		return -ENOMSG;
	}
}

/*
 * The stored copy ends at keep_len, but a compression pointer in a kept
 * record may reach a name whose labels run on past it (into the OPT or
 * whatever follows): walkable in the whole response, dangling in the copy.
 * Such a response is not cached, and policy_fill can rely on the walk.
 */
static int check_kept_part(const uint8_t *resp, size_t pos, const walk_t *w)
{
	for (uint16_t i = 0; i < w->n; i++) {
		if (wire_skip_rr(resp, w->keep_len, &pos, NULL, NULL) < 0)
			return -EBADMSG;
	}
	return 0;
}

int policy_judge(const uint8_t *resp, size_t len, const cache_key_t *key,
		 const config_cache_t *rules, bool is_fallback, policy_verdict_t *v)
{
	if (len < ER_DNS_HEADER_LEN || len > UINT16_MAX)
		return -EBADMSG;
	uint16_t flags = wire_read_u16(resp + 2);
	if (!(flags & DNS_FLAG_QR) || DNS_OPCODE(flags) != 0)
		return -EBADMSG;
	if (flags & DNS_FLAG_TC)
		return -ENOMSG; /* SPEC 3: truncated answers are not cached */
	size_t pos = ER_DNS_HEADER_LEN;
	int rc = check_question(resp, len, key, &pos);
	if (rc < 0)
		return rc;
	walk_t w = { 0 };
	rc = walk_sections(resp, len, pos, &w);
	if (rc == 0 && w.keep_len < len)
		rc = check_kept_part(resp, pos, &w);
	if (rc < 0)
		return rc;
	if (w.has_ext_rcode || classify(flags, wire_read_u16(resp + 6), &w, &v->kind) < 0)
		return -ENOMSG;
	uint32_t ttl = lifetime(v->kind, &w, rules);
	if (is_fallback)
		ttl = min_u32(ttl, rules->fallback_ttl_s);
	if (ttl == 0)
		return -ENOMSG;
	v->ttl_s = ttl;
	v->question_end = pos;
	v->keep_len = w.keep_len;
	v->kept_ar = w.kept_ar;
	v->n_ttls = w.n;
	return 0;
}

/*
 * Two passes: every offset is found before any TTL is written. A compression
 * pointer may land inside an earlier record's TTL field (the scanner only
 * requires pointers to go backwards), so lowering a TTL first could change
 * a name the walk still has to skip: the re-walk then failed, the assert
 * fired in debug builds, and release builds wrote through an unset rdlen.
 */
void policy_fill(uint8_t *data, const policy_verdict_t *v, uint16_t *ttl_off)
{
	size_t pos = v->question_end;
	for (uint16_t i = 0; i < v->n_ttls; i++) {
		uint16_t rdlen = 0;
		int rc = wire_skip_rr(data, v->keep_len, &pos, NULL, &rdlen);
		assert(rc == 0); /* policy_judge walked the same, unchanged bytes */
		(void)rc;
		ttl_off[i] = (uint16_t)(pos - rdlen - TTL_OFFSET_FROM_RDATA);
	}
	for (uint16_t i = 0; i < v->n_ttls; i++) {
		uint32_t ttl = norm_ttl(policy_read_u32(data + ttl_off[i]));
		policy_write_u32(data + ttl_off[i], min_u32(ttl, v->ttl_s));
	}
	wire_write_u16(data + 10, v->kept_ar);
}
