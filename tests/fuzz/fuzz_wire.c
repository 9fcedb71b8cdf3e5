/*
 * libFuzzer target for everything that reads DNS wire data from the network.
 *
 * Each input is used twice, as the two kinds of packet erdns receives:
 *  - a client query: wire_parse_query, then the replies built from it
 *    (reply_build_error for every status that is answered, and for WIRE_OK
 *    the upstream query with the client's ECS option when it is valid);
 *  - an upstream response to a fixed question (www.example.com A IN):
 *    wire_check_response, reply_finalize for a plain and an EDNS client
 *    (with and without truncation to 512 bytes), and cache_insert into a
 *    small cache followed by fresh and stale cache_lookup.
 * The response's own ID is passed as the expected one, since a real
 * upstream's ID is checked before anything else and the fuzzer should not
 * have to guess it.
 *
 * Besides the sanitizers, a few cross-checks turn silent wrong output into
 * crashes: every error reply, and every relayed copy of a response that
 * passed wire_check_response, must itself pass wire_check_response; an
 * upstream query built from a client query must parse again; a cache hit
 * must copy something. (A cached copy is not checked: see lookup().)
 * The cache lives for the whole process (cache_new is
 * not cheap) and is flushed after each input, so runs stay reproducible and
 * libFuzzer's per-input leak check sees no growth.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "dns/reply.h"
#include "dns/wire.h"

#define BUF_MAX 65535 /* the largest DNS message (TCP length field) */
/* Just past max_ttl_s, so every entry has expired and is still within
 * serve_stale_s (both 86400 s below). */
#define STALE_AFTER_MS (86400u * 1000u + 1u)
#define AGED_MS	       1500u	/* TTLs decremented by a whole second */
#define NOW_MS	       1000000u /* any monotonic start */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* www.example.com A IN, RD, id 0x1234: without EDNS, and with EDNS (DO set,
 * UDP size 4096) carrying an ECS option for 192.0.2.0/24. */
/* clang-format off */
static const uint8_t QUERY_PLAIN[] = {
	0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0, 1, 0, 1,
};
static const uint8_t QUERY_EDNS[] = {
	0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0, 1, 0, 1,
	0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 11, /* OPT, DO, rdlen 11 */
	0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2, /* ECS 192.0.2.0/24 */
};
/* clang-format on */

static struct {
	bool is_ready;
	dns_query_t plain, edns;
	cache_t *cache;
	uint8_t out[BUF_MAX];
	uint8_t copy[BUF_MAX];
} g;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_wire: %s\n", what);
	abort();
}

static void setup(void)
{
	if (wire_parse_query(QUERY_PLAIN, sizeof(QUERY_PLAIN), &g.plain) != WIRE_OK ||
	    wire_parse_query(QUERY_EDNS, sizeof(QUERY_EDNS), &g.edns) != WIRE_OK)
		die("fixed queries do not parse");
	config_cache_t rules = {.max_mb = 1,
				.min_ttl_s = 0,
				.max_ttl_s = 86400,
				.max_negative_ttl_s = 3600,
				.serve_stale_s = 86400,
				.fallback_ttl_s = 30,
				.prefetch = true};
	g.cache = cache_new(&rules, 1);
	if (g.cache == NULL)
		die("cache_new failed");
	g.is_ready = true;
}

/* What erdns sends must be readable by the check it applies to what it
 * receives (a response with the query's ID and question). */
static void expect_valid_reply(const dns_query_t *q, const uint8_t *pkt, size_t len,
			       const char *what)
{
	if (len == 0 || q->qname == NULL)
		return;
	if (DNS_OPCODE(q->flags) != 0) {
		/* no question for an unknown opcode (RFC 6895 2.2): the header alone */
		if (len < ER_DNS_HEADER_LEN || wire_read_u16(pkt) != q->id ||
		    wire_read_u16(pkt + 4) != 0 || !(wire_read_u16(pkt + 2) & DNS_FLAG_QR)) {
			fprintf(stderr, "fuzz_wire: %s built a bad NOTIMP header\n", what);
			abort();
		}
		return;
	}
	if (wire_check_response(pkt, len, q->id, q->qname, q->qtype, q->qclass) != 0) {
		fprintf(stderr, "fuzz_wire: %s built a malformed message (%zu bytes)\n", what, len);
		abort();
	}
}

static int error_rcode(wire_status_t st)
{
	switch (st) {
	case WIRE_FORMERR:
		return DNS_RCODE_FORMERR;
	case WIRE_NOTIMP:
		return DNS_RCODE_NOTIMP;
	case WIRE_BADVERS:
		return DNS_RCODE_BADVERS;
	default:
		return DNS_RCODE_SERVFAIL;
	}
}

static void fuzz_query(const uint8_t *data, size_t size)
{
	dns_query_t q;
	wire_status_t st = wire_parse_query(data, size, &q);
	if (st == WIRE_DROP)
		return;
	int ede = st == WIRE_OK ? EDE_NETWORK_ERROR : ER_EDE_NONE;
	size_t len = reply_build_error(&q, error_rcode(st), ede, g.out, sizeof(g.out));
	expect_valid_reply(&q, g.out, len, "reply_build_error");
	if (st == WIRE_TSIG) {
		len = reply_build_tsig_badkey(&q, g.out, sizeof(g.out));
		expect_valid_reply(&q, g.out, len, "reply_build_tsig_badkey");
		return;
	}
	(void)reply_size_limit(&q, false);
	if (st != WIRE_OK)
		return;
	bool has_ecs = q.ecs != NULL && reply_ecs_is_valid(q.ecs, q.ecs_len);
	len = reply_build_upstream_query(&q, 0xBEEF, has_ecs ? q.ecs : NULL,
					 has_ecs ? q.ecs_len : 0, g.out, sizeof(g.out));
	dns_query_t again;
	if (len > 0 && wire_parse_query(g.out, len, &again) != WIRE_OK)
		die("reply_build_upstream_query built a query wire_parse_query rejects");
}

static void finalize(const dns_query_t *q, const uint8_t *data, size_t size, bool is_valid,
		     size_t limit)
{
	/* A valid response may still be refused (a name that runs into the
	 * cut OPT); what is relayed must be valid too. */
	size_t len =
	    reply_finalize_forwarded(q, data, size, EDE_STALE_ANSWER, limit, g.out, sizeof(g.out));
	if (is_valid)
		expect_valid_reply(q, g.out, len, "reply_finalize");
	if (len > limit)
		die("reply_finalize exceeded the size limit");
}

static void lookup(const cache_key_t *key, uint64_t now, bool want_stale)
{
	cache_copy_t copy = {
	    .out = g.copy, .cap = sizeof(g.copy), .id = g.plain.id, .want_stale = want_stale};
	cache_result_t r = cache_lookup(g.cache, key, now, &copy);
	if (r == CACHE_MISS)
		return;
	if (copy.len == 0 && (r == CACHE_HIT || want_stale))
		die("cache_lookup reported a hit and copied nothing");
	/* A copy is a complete response, ready for reply_finalize. It may be
	 * refused there: a name may be made of TTL bytes (pointers only have
	 * to go backwards), and TTLs change in the cache; the server then
	 * forwards the query instead. So this only runs it, checking nothing. */
	if (copy.len > 0)
		(void)reply_finalize(&g.edns, g.copy, copy.len, ER_EDE_NONE, BUF_MAX, g.out,
				     sizeof(g.out));
}

static void fuzz_response(const uint8_t *data, size_t size)
{
	uint16_t id = size >= 2 ? wire_read_u16(data) : 0;
	const dns_query_t *q = &g.plain;
	bool is_valid = wire_check_response(data, size, id, q->qname, q->qtype, q->qclass) == 0;
	finalize(&g.plain, data, size, is_valid, BUF_MAX);
	finalize(&g.edns, data, size, is_valid, BUF_MAX);
	finalize(&g.plain, data, size, is_valid, ER_UDP_PLAIN_MAX);
	finalize(&g.edns, data, size, is_valid, ER_UDP_PLAIN_MAX);

	/* The Z bit picks the fallback TTL cap, so both paths of the policy
	 * are reached. */
	bool is_fallback = size > 3 && (data[3] & 0x40);
	cache_key_t key = cache_key_from_query(&g.edns, 0, 0);
	cache_insert_params_t p = {
	    .key = &key, .resp = data, .resp_len = size, .is_fallback = is_fallback};
	if (cache_insert(g.cache, &p, NOW_MS) == 0) {
		lookup(&key, NOW_MS, false);
		lookup(&key, NOW_MS + AGED_MS, false);
		lookup(&key, NOW_MS + STALE_AFTER_MS, false);
		lookup(&key, NOW_MS + STALE_AFTER_MS, true);
	}
	cache_flush_all(g.cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g.is_ready)
		setup();
	if (size > BUF_MAX)
		return 0; /* no transport delivers more */
	fuzz_query(data, size);
	fuzz_response(data, size);
	return 0;
}
