/*
 * Tests for resolver/cache (cache.c, policy.c, key.c). Responses come from
 * ldns (an independent encoder, which also compresses names) and copies are
 * read back with ldns, so the TTL patching is checked by a parser that is
 * not ours. Time is a plain number: every test picks its own `now`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "cache/cache.h"
#include "dns/dname.h"
#include "ldns_wire.h"

#define BUF_MAX 65535
#define T0 1000000u /* an arbitrary monotonic start, ms */
#define S(x) ((uint64_t)(x) * 1000u)
#define RR_MAX 8

typedef struct spec {
	const char *qname;
	ldns_rr_type qtype;
	int rcode;
	bool is_tc;
	const char *an[RR_MAX], *ns[RR_MAX], *ar[RR_MAX];
	uint16_t edns; /* 0: no OPT */
	uint8_t ext_rcode;
} spec_t;

typedef struct fixture {
	cache_t *cache;
	uint8_t buf[BUF_MAX];
	uint8_t out[BUF_MAX];
	uint8_t name[ER_DNAME_MAX];
} fixture_t;

static config_cache_t default_rules(void)
{
	return (config_cache_t){ .max_mb = 4, .min_ttl_s = 0, .max_ttl_s = 86400,
				 .max_negative_ttl_s = 3600, .serve_stale_s = 86400,
				 .fallback_ttl_s = 30, .prefetch = true };
}

static void push(ldns_pkt *pkt, ldns_pkt_section sec, const char *const *rrs)
{
	for (size_t i = 0; i < RR_MAX && rrs[i]; i++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(pkt, sec, rr));
	}
}

static size_t build(const spec_t *sp, uint8_t *buf)
{
	ldns_rdf *qname = ldns_dname_new_frm_str(sp->qname);
	assert_non_null(qname);
	ldns_pkt *pkt = ldns_pkt_query_new(qname, sp->qtype ? sp->qtype : LDNS_RR_TYPE_A,
					   LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, 0x4242);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_ra(pkt, true);
	ldns_pkt_set_tc(pkt, sp->is_tc);
	ldns_pkt_set_rcode(pkt, (uint8_t)sp->rcode);
	push(pkt, LDNS_SECTION_ANSWER, sp->an);
	push(pkt, LDNS_SECTION_AUTHORITY, sp->ns);
	push(pkt, LDNS_SECTION_ADDITIONAL, sp->ar);
	if (sp->edns) {
		ldns_pkt_set_edns_udp_size(pkt, sp->edns);
		ldns_pkt_set_edns_extended_rcode(pkt, sp->ext_rcode);
	}
	return pkt_to_buf(pkt, buf, BUF_MAX);
}

/* A key; name is the fixture's buffer, valid until the next make_key. */
static cache_key_t make_key(fixture_t *f, const char *text, uint16_t qtype, uint32_t chain,
			    bool is_do, bool is_cd)
{
	size_t n = dname_from_text(text, f->name);
	assert_true(n > 0);
	return (cache_key_t){ .qname = f->name, .qname_len = n, .chain = chain, .qtype = qtype,
			      .qclass = DNS_CLASS_IN, .is_do = is_do, .is_cd = is_cd };
}

static int insert(fixture_t *f, const spec_t *sp, const cache_key_t *key, bool is_fallback,
		  uint64_t now)
{
	size_t len = build(sp, f->buf);
	cache_insert_params_t p = { .key = key, .resp = f->buf, .resp_len = len,
				    .is_fallback = is_fallback };
	return cache_insert(f->cache, &p, now);
}

static cache_result_t lookup(fixture_t *f, const cache_key_t *key, uint64_t now, bool want_stale,
			     cache_copy_t *copy)
{
	*copy = (cache_copy_t){ .out = f->out, .cap = sizeof(f->out), .id = 0x7777,
				.want_stale = want_stale };
	return cache_lookup(f->cache, key, now, copy);
}

/* The TTLs of every record of the copy, in order, read by ldns. */
static size_t ttls_of(const fixture_t *f, size_t len, uint32_t *ttls, ldns_pkt **keep)
{
	ldns_pkt *pkt = NULL;
	assert_int_equal(ldns_wire2pkt(&pkt, f->out, len), LDNS_STATUS_OK);
	size_t n = 0;
	ldns_rr_list *secs[] = { ldns_pkt_answer(pkt), ldns_pkt_authority(pkt),
				 ldns_pkt_additional(pkt) };
	for (size_t s = 0; s < 3; s++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(secs[s]); i++)
			ttls[n++] = ldns_rr_ttl(ldns_rr_list_rr(secs[s], i));
	}
	if (keep)
		*keep = pkt;
	else
		ldns_pkt_free(pkt);
	return n;
}

/* Served TTL of the first record at now; -1 when not a HIT. */
static long first_ttl(fixture_t *f, const cache_key_t *key, uint64_t now)
{
	cache_copy_t copy;
	if (lookup(f, key, now, false, &copy) != CACHE_HIT)
		return -1;
	uint32_t ttls[3 * RR_MAX];
	assert_true(ttls_of(f, copy.len, ttls, NULL) > 0);
	return (long)ttls[0];
}

static int setup_rules(void **state, config_cache_t rules)
{
	fixture_t *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->cache = cache_new(&rules, 0);
	assert_non_null(f->cache);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_rules(state, default_rules());
}

static int setup_clamped(void **state)
{
	config_cache_t r = default_rules();
	r.min_ttl_s = 60;
	r.max_ttl_s = 3600;
	return setup_rules(state, r);
}

static int setup_short_stale(void **state)
{
	config_cache_t r = default_rules();
	r.serve_stale_s = 100;
	r.max_negative_ttl_s = 100;
	return setup_rules(state, r);
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	cache_free(f->cache);
	free(f);
	return 0;
}

static const spec_t www_a = {
	.qname = "www.Example.COM.",
	.an = { "www.Example.COM. 300 IN A 192.0.2.1" },
};

/* --- keys ---------------------------------------------------------------- */

static void test_key_case_folding(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.Example.COM.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_key_t k2 = make_key(f, "WWW.EXAMPLE.com.", DNS_TYPE_A, 0, false, false);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k2, T0, false, &copy), CACHE_HIT);
	assert_int_equal(wire_read_u16(f->out), 0x7777); /* the caller's ID */
	assert_int_equal(copy.len, build(&www_a, f->buf));
	assert_memory_equal(f->out + 2, f->buf + 2, copy.len - 2); /* else byte-identical */
}

static void test_key_chain_partition(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 1, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_copy_t copy;
	k.chain = 2;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	spec_t other = www_a;
	other.an[0] = "www.example.com. 300 IN A 198.51.100.7";
	assert_int_equal(insert(f, &other, &k, false, T0), 0);
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	assert_non_null(memmem(f->out, copy.len, "\xc6\x33\x64\x07", 4));
	k.chain = 1;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	assert_non_null(memmem(f->out, copy.len, "\xc0\x00\x02\x01", 4));
}

/* Regression (issue 9, defect 4): a reload that renumbers chains must not
 * let an answer fetched under the old routes be found under the new ones,
 * even when it is inserted after the swap under the same chain index. */
static void test_key_epoch_partition(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 1, false, false);
	k.epoch = 7;
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_copy_t copy;
	k.epoch = 8;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	assert_int_equal(lookup(f, &k, T0, true, &copy), CACHE_MISS);
	k.epoch = 7;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
}

static void test_key_do_cd_type_partition(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_copy_t copy;
	k.is_do = true;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	k.is_do = false;
	k.is_cd = true;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	k.is_cd = false;
	k.qtype = DNS_TYPE_AAAA;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	k.qtype = DNS_TYPE_A;
	k.qclass = DNS_CLASS_CH;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	k.qclass = DNS_CLASS_IN;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
}

static void test_key_from_query(void **state)
{
	(void)state;
	static const uint8_t name[] = "\003www\007example\003com";
	dns_query_t q = { .qname = name, .qname_len = sizeof(name), .qtype = DNS_TYPE_AAAA,
			  .qclass = DNS_CLASS_IN, .flags = DNS_FLAG_RD | DNS_FLAG_CD,
			  .edns_do = true };
	cache_key_t k = cache_key_from_query(&q, 5, 0);
	assert_ptr_equal(k.qname, name);
	assert_int_equal(k.qname_len, sizeof(name));
	assert_int_equal(k.chain, 5);
	assert_int_equal(k.qtype, DNS_TYPE_AAAA);
	assert_true(k.is_do);
	assert_true(k.is_cd);
}

static void test_insert_wrong_question(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "other.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), -EINVAL);
	k = make_key(f, "www.example.com.", DNS_TYPE_AAAA, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), -EINVAL);
}

static void test_insert_malformed(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	size_t len = build(&www_a, f->buf);
	for (size_t cut = 0; cut < len; cut++) {
		cache_insert_params_t p = { .key = &k, .resp = f->buf, .resp_len = cut };
		assert_int_equal(cache_insert(f->cache, &p, T0), -EBADMSG);
	}
	f->buf[2] &= 0x7f; /* QR=0: a query, not a response */
	cache_insert_params_t p = { .key = &k, .resp = f->buf, .resp_len = len };
	assert_int_equal(cache_insert(f->cache, &p, T0), -EBADMSG);
}

/* --- TTL arithmetic ------------------------------------------------------ */

static void test_ttl_decrement_never_grows(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 300);
	assert_int_equal(first_ttl(f, &k, T0 + 999), 300);
	assert_int_equal(first_ttl(f, &k, T0 + 1000), 299);
	assert_int_equal(first_ttl(f, &k, T0 + S(299) + 999), 1);
	assert_int_equal(first_ttl(f, &k, T0 + S(300)), -1); /* expired */
	long last = 300;
	for (uint64_t t = T0; t < T0 + S(300); t += 777) {
		long ttl = first_ttl(f, &k, t);
		assert_true(ttl <= last && ttl >= 1);
		last = ttl;
	}
	/* A loop whose clock lags the inserting loop's: no time, not negative. */
	assert_int_equal(first_ttl(f, &k, T0 - 5), 300);
}

static void test_ttl_min_of_records(void **state)
{
	fixture_t *f = *state;
	spec_t sp = { .qname = "mail.example.com.",
		      .an = { "mail.example.com. 3600 IN CNAME mx.example.net.",
			      "mx.example.net. 60 IN A 192.0.2.9" } };
	cache_key_t k = make_key(f, "mail.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(10), false, &copy), CACHE_HIT);
	uint32_t ttls[RR_MAX];
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 2);
	assert_int_equal(ttls[0], 50); /* the chain lives as one unit */
	assert_int_equal(ttls[1], 50);
	assert_int_equal(lookup(f, &k, T0 + S(60), false, &copy), CACHE_STALE);
}

static void test_ttl_clamps(void **state)
{
	fixture_t *f = *state; /* min 60, max 3600 */
	spec_t low = { .qname = "low.example.com.", .an = { "low.example.com. 5 IN A 192.0.2.1" } };
	cache_key_t k = make_key(f, "low.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &low, &k, false, T0), 0);
	/* Kept 60 s, but never shown above the owner's 5, never below 0. */
	assert_int_equal(first_ttl(f, &k, T0), 5);
	assert_int_equal(first_ttl(f, &k, T0 + S(3)), 2);
	assert_int_equal(first_ttl(f, &k, T0 + S(30)), 0);
	assert_int_equal(first_ttl(f, &k, T0 + S(59)), 0);
	assert_int_equal(first_ttl(f, &k, T0 + S(60)), -1);

	spec_t high = { .qname = "high.example.com.",
			.an = { "high.example.com. 604800 IN A 192.0.2.2" } };
	k = make_key(f, "high.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &high, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 3600);
	assert_int_equal(first_ttl(f, &k, T0 + S(3599)), 1);
	assert_int_equal(first_ttl(f, &k, T0 + S(3600)), -1);
}

static void test_ttl_zero_not_cached(void **state)
{
	fixture_t *f = *state;
	spec_t sp = {.qname = "zero.example.com.", .an = {"zero.example.com. 0 IN A 192.0.2.1"}};
	cache_key_t k = make_key(f, "zero.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
}

static void test_ttl_top_bit_is_zero(void **state)
{
	fixture_t *f = *state; /* RFC 2181 8 */
	spec_t sp = { .qname = "big.example.com.",
		      .an = { "big.example.com. 2147483648 IN A 192.0.2.1" } };
	cache_key_t k = make_key(f, "big.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
}

static void test_fallback_cap(void **state)
{
	fixture_t *f = *state; /* fallback_ttl_s 30 */
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, true, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 30);
	assert_int_equal(first_ttl(f, &k, T0 + S(29)), 1);
	assert_int_equal(first_ttl(f, &k, T0 + S(30)), -1);
	/* The first group's answer replaces it with the full TTL. */
	assert_int_equal(insert(f, &www_a, &k, false, T0 + S(31)), 0);
	assert_int_equal(first_ttl(f, &k, T0 + S(31)), 300);
}

/* --- negative, SERVFAIL, TC ---------------------------------------------- */

static const spec_t nx = {
	.qname = "nope.example.com.",
	.rcode = LDNS_RCODE_NXDOMAIN,
	.ns = { "example.com. 3600 IN SOA ns.example.com. h.example.com. 1 7200 900 1209600 300" },
};

static void test_negative_soa_minimum(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "nope.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &nx, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(100), false, &copy), CACHE_HIT);
	assert_int_equal(DNS_RCODE(wire_read_u16(f->out + 2)), DNS_RCODE_NXDOMAIN);
	uint32_t ttls[RR_MAX];
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 1);
	assert_int_equal(ttls[0], 200); /* min(3600, MINIMUM 300) - 100 */
	assert_int_equal(lookup(f, &k, T0 + S(299), false, &copy), CACHE_HIT);
	assert_int_equal(lookup(f, &k, T0 + S(300), false, &copy), CACHE_STALE);
}

static void test_negative_soa_ttl_lower(void **state)
{
	fixture_t *f = *state;
	spec_t sp = nx;
	sp.ns[0] = "example.com. 120 IN SOA ns.example.com. h.example.com. 1 7200 900 1209600 300";
	cache_key_t k = make_key(f, "nope.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 120);
	assert_int_equal(first_ttl(f, &k, T0 + S(120)), -1);
}

static void test_negative_cap(void **state)
{
	fixture_t *f = *state; /* max_negative_ttl_s 100 */
	cache_key_t k = make_key(f, "nope.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &nx, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 100);
	assert_int_equal(first_ttl(f, &k, T0 + S(99)), 1);
	assert_int_equal(first_ttl(f, &k, T0 + S(100)), -1);
}

static void test_negative_nodata(void **state)
{
	fixture_t *f = *state;
	spec_t sp = nx;
	sp.rcode = LDNS_RCODE_NOERROR;
	sp.qname = "www.example.com.";
	sp.qtype = LDNS_RR_TYPE_AAAA;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_AAAA, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 300);
	assert_int_equal(first_ttl(f, &k, T0 + S(300)), -1);
}

static void test_negative_nodata_after_cname(void **state)
{
	fixture_t *f = *state; /* min_ttl_s 60 must not raise a negative TTL */
	spec_t sp = {.qname = "alias.example.com.",
		     .qtype = LDNS_RR_TYPE_AAAA,
		     .an = {"alias.example.com. 3600 IN CNAME v4only.example.net."},
		     .ns = {"example.net. 3600 IN SOA ns.example.net. h.example.net. 1 2 3 4 30"}};
	cache_key_t k = make_key(f, "alias.example.com.", DNS_TYPE_AAAA, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	assert_int_equal(first_ttl(f, &k, T0), 30);
	assert_int_equal(first_ttl(f, &k, T0 + S(30)), -1);
}

static void test_negative_without_soa(void **state)
{
	fixture_t *f = *state; /* RFC 2308 5: SHOULD NOT be cached */
	spec_t sp = { .qname = "nope.example.com.", .rcode = LDNS_RCODE_NXDOMAIN };
	cache_key_t k = make_key(f, "nope.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	sp.rcode = LDNS_RCODE_NOERROR;
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
}

static void test_servfail_window(void **state)
{
	fixture_t *f = *state;
	spec_t sp = { .qname = "broken.example.com.", .rcode = LDNS_RCODE_SERVFAIL };
	cache_key_t k = make_key(f, "broken.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(ER_CACHE_SERVFAIL_TTL_S) - 1, false, &copy),
			 CACHE_HIT);
	assert_int_equal(DNS_RCODE(wire_read_u16(f->out + 2)), DNS_RCODE_SERVFAIL);
	assert_false(copy.should_prefetch);
	/* Never served stale. */
	assert_int_equal(lookup(f, &k, T0 + S(ER_CACHE_SERVFAIL_TTL_S), true, &copy), CACHE_MISS);
	assert_int_equal(copy.len, 0);
}

static void test_servfail_keeps_stale_answer(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	spec_t sf = { .qname = "www.example.com.", .rcode = LDNS_RCODE_SERVFAIL };
	assert_int_equal(insert(f, &sf, &k, false, T0 + S(400)), -EEXIST);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(400), true, &copy), CACHE_STALE);
	assert_int_equal(DNS_RCODE(wire_read_u16(f->out + 2)), DNS_RCODE_NOERROR);
}

static void test_uncacheable_rcodes_and_tc(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	spec_t sp = www_a;
	sp.is_tc = true;
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	sp.is_tc = false;
	sp.rcode = LDNS_RCODE_REFUSED;
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	sp.rcode = LDNS_RCODE_FORMERR;
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	sp.rcode = LDNS_RCODE_NOERROR;
	sp.edns = 1232;
	sp.ext_rcode = 1; /* BADVERS/BADSIG family */
	assert_int_equal(insert(f, &sp, &k, false, T0), -ENOMSG);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.inserts, 0);
	assert_int_equal(st.entries, 0);
}

/* --- stale and prefetch -------------------------------------------------- */

static void test_stale_window_ttl_30(void **state)
{
	fixture_t *f = *state; /* serve_stale_s 100 */
	spec_t sp = { .qname = "www.example.com.",
		      .an = { "www.example.com. 60 IN A 192.0.2.1" },
		      .ar = { "www.example.com. 900 IN TXT \"glue-ish\"" } };
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(60), false, &copy), CACHE_STALE);
	assert_int_equal(copy.len, 0); /* not asked for stale: nothing copied */
	assert_int_equal(lookup(f, &k, T0 + S(159), true, &copy), CACHE_STALE);
	assert_int_equal(wire_read_u16(f->out), 0x7777);
	uint32_t ttls[RR_MAX];
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 2);
	assert_int_equal(ttls[0], ER_CACHE_STALE_TTL_S);
	assert_int_equal(ttls[1], ER_CACHE_STALE_TTL_S);
	assert_int_equal(lookup(f, &k, T0 + S(160), true, &copy), CACHE_MISS);
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.stale_hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 0); /* the dead entry went at the lookup */
}

/* SPEC 2.2: a stale answer from a fallback group carries min(30,
 * fallback_ttl_s), so clients come back to the first group soon. */
static void test_stale_fallback_ttl(void **state)
{
	fixture_t *f = *state; /* fallback_ttl_s 30, serve_stale_s 100 */
	config_cache_t r = default_rules();
	r.serve_stale_s = 100;
	r.fallback_ttl_s = 2;
	cache_configure(f->cache, &r, T0);
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, true, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(10), true, &copy), CACHE_STALE);
	uint32_t ttls[RR_MAX];
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 1);
	assert_int_equal(ttls[0], 2);
	/* from the first group: 30 as RFC 8767 says */
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	assert_int_equal(lookup(f, &k, T0 + S(310), true, &copy), CACHE_STALE);
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 1);
	assert_int_equal(ttls[0], ER_CACHE_STALE_TTL_S);
}

/* RFC 8767 4: stale answers carry TTL 30 even when the records had less. */
static void test_stale_ttl_is_30_for_short_records(void **state)
{
	fixture_t *f = *state;
	spec_t sp = { .qname = "www.example.com.", .an = { "www.example.com. 10 IN A 192.0.2.1" } };
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(50), true, &copy), CACHE_STALE);
	uint32_t ttls[RR_MAX];
	assert_int_equal(ttls_of(f, copy.len, ttls, NULL), 1);
	assert_int_equal(ttls[0], ER_CACHE_STALE_TTL_S);
}

static void test_prefetch_once(void **state)
{
	fixture_t *f = *state;
	spec_t sp = {.qname = "www.example.com.", .an = {"www.example.com. 100 IN A 192.0.2.1"}};
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(90), false, &copy), CACHE_HIT);
	assert_false(copy.should_prefetch); /* exactly 10% left: not yet */
	assert_int_equal(lookup(f, &k, T0 + S(90) + 1, false, &copy), CACHE_HIT);
	assert_true(copy.should_prefetch);
	assert_int_equal(lookup(f, &k, T0 + S(95), false, &copy), CACHE_HIT);
	assert_false(copy.should_prefetch);
	/* The refreshed entry may ask again near its own end. */
	assert_int_equal(insert(f, &sp, &k, false, T0 + S(96)), 0);
	assert_int_equal(lookup(f, &k, T0 + S(187), false, &copy), CACHE_HIT);
	assert_true(copy.should_prefetch);
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.prefetches, 2);
}

/* The ExpressRoute audit's verdict rides with the entry (opaque to the
 * cache) and comes back with a hit, a stale copy and a peek, with the
 * fallback flag (the CHAOS routing check peeks: no trace left). */
static void test_verdict_kept(void **state)
{
	fixture_t *f = *state;
	spec_t sp = {.qname = "www.example.com.", .an = {"www.example.com. 100 IN A 192.0.2.1"}};
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	size_t len = build(&sp, f->buf);
	cache_insert_params_t p = { .key = &k, .resp = f->buf, .resp_len = len, .er_verdict = 2 };
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	assert_int_equal(copy.er_verdict, 2);
	assert_false(copy.is_fallback);
	assert_int_equal(lookup(f, &k, T0 + S(100), true, &copy), CACHE_STALE);
	assert_int_equal(copy.er_verdict, 2);
	cache_peek_info_t peek;
	assert_int_equal(cache_peek(f->cache, &k, T0 + S(95), &peek), CACHE_HIT);
	assert_int_equal(peek.er_verdict, 2);
	assert_false(peek.is_fallback);

	p.is_fallback = true;
	p.er_verdict = 0;
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
	assert_int_equal(cache_peek(f->cache, &k, T0, &peek), CACHE_HIT);
	assert_true(peek.is_fallback);
	assert_int_equal(peek.er_verdict, 0);
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	assert_true(copy.is_fallback);
}

static void test_prefetch_off(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.prefetch = false;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(299), false, &copy), CACHE_HIT);
	assert_false(copy.should_prefetch);
	teardown((void **)&f);
}

/* --- wire details -------------------------------------------------------- */

static void test_compression_and_opt(void **state)
{
	fixture_t *f = *state;
	spec_t sp = { .qname = "www.example.com.",
		      .an = { "www.example.com. 300 IN CNAME web.example.com.",
			      "web.example.com. 200 IN A 192.0.2.80" },
		      .ns = { "example.com. 400 IN NS ns1.example.com." },
		      .ar = { "ns1.example.com. 500 IN A 192.0.2.53" },
		      .edns = 1232 };
	size_t len = build(&sp, f->buf);
	assert_non_null(memchr(f->buf + 12 + 17, 0xc0, len - 29)); /* ldns compressed */
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	cache_insert_params_t p = { .key = &k, .resp = f->buf, .resp_len = len };
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(50), false, &copy), CACHE_HIT);
	assert_int_equal(copy.len, len - 11); /* the bare OPT RR is cut */
	assert_int_equal(wire_read_u16(f->out + 10), 1); /* ARCOUNT: the glue only */
	uint32_t ttls[RR_MAX];
	ldns_pkt *pkt = NULL;
	assert_int_equal(ttls_of(f, copy.len, ttls, &pkt), 4);
	assert_int_equal(ldns_pkt_edns(pkt), false);
	ldns_rr *glue = ldns_rr_list_rr(ldns_pkt_additional(pkt), 0);
	assert_int_equal(ldns_rr_get_type(glue), LDNS_RR_TYPE_A);
	ldns_pkt_free(pkt);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(ttls[i], 150); /* min(own, 200) - 50 */
}

static void test_short_buffer_is_miss(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	cache_copy_t copy = { .out = f->out, .cap = 20, .id = 1 };
	assert_int_equal(cache_lookup(f->cache, &k, T0, &copy), CACHE_MISS);
	assert_int_equal(copy.len, 0);
}

/* --- memory bound and eviction ------------------------------------------- */

static void fill_name(char *text, size_t cap, unsigned i)
{
	snprintf(text, cap, "host-%u.filler.example.com.", i);
}

static void test_eviction_bound_and_hot_survives(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.max_mb = 1;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	cache_key_t hot = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	uint8_t hot_name[ER_DNAME_MAX];
	memcpy(hot_name, f->name, hot.qname_len);
	hot.qname = hot_name;
	assert_int_equal(insert(f, &www_a, &hot, false, T0), 0);

	char text[128], rr[512];
	cache_stats_t st;
	for (unsigned i = 0; i < 40000; i++) {
		fill_name(text, sizeof(text), i);
		snprintf(rr, sizeof(rr), "%s 3600 IN TXT \"%0*u\"", text, (int)(i % 7) * 40 + 1, i);
		spec_t sp = { .qname = text, .qtype = LDNS_RR_TYPE_TXT, .an = { rr } };
		cache_key_t k = make_key(f, text, DNS_TYPE_TXT, 0, false, false);
		assert_int_equal(insert(f, &sp, &k, false, T0 + i), 0);
		cache_get_stats(f->cache, &st);
		assert_true(st.bytes <= st.max_bytes);
		if (i % 4 == 0) {
			cache_copy_t copy;
			assert_int_equal(lookup(f, &hot, T0 + i, false, &copy), CACHE_HIT);
		}
	}
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.max_bytes, 1u << 20);
	assert_true(st.evictions > 30000);
	assert_true(st.bytes > st.max_bytes / 2); /* the budget is used, not wasted */
	assert_int_equal(st.inserts, 40001);
	assert_int_equal(st.entries + st.evictions, 40001);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &hot, T0 + S(100), false, &copy), CACHE_HIT);
	teardown((void **)&f);
}

static void test_eviction_prefers_dead(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.max_mb = 1;
	r.serve_stale_s = 0;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	char text[128], rr[512];
	/* Short-lived entries first, all hit once (visited). */
	for (unsigned i = 0; i < 3000; i++) {
		fill_name(text, sizeof(text), i);
		snprintf(rr, sizeof(rr), "%s 10 IN A 192.0.2.1", text);
		spec_t sp = { .qname = text, .an = { rr } };
		cache_key_t k = make_key(f, text, DNS_TYPE_A, 0, false, false);
		assert_int_equal(insert(f, &sp, &k, false, T0), 0);
		cache_copy_t copy;
		assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	}
	/* Long-lived, unvisited entries after they died: the dead go first. */
	for (unsigned i = 3000; i < 9000; i++) {
		fill_name(text, sizeof(text), i);
		snprintf(rr, sizeof(rr), "%s 3600 IN A 192.0.2.2", text);
		spec_t sp = { .qname = text, .an = { rr } };
		cache_key_t k = make_key(f, text, DNS_TYPE_A, 0, false, false);
		assert_int_equal(insert(f, &sp, &k, false, T0 + S(20)), 0);
	}
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	unsigned alive = 0;
	for (unsigned i = 3000; i < 9000; i++) {
		fill_name(text, sizeof(text), i);
		cache_key_t k = make_key(f, text, DNS_TYPE_A, 0, false, false);
		cache_copy_t copy;
		alive += lookup(f, &k, T0 + S(20), false, &copy) == CACHE_HIT;
	}
	assert_true(st.evictions > 3000); /* the bound forced live evictions too */
	/* Every dead entry went before any live one (without the rule, the
	 * visited dead entries would be spared and the live ones evicted). */
	assert_true(alive >= 9000 - 3000 - (st.evictions > 3000 ? st.evictions - 3000 : 0));
	teardown((void **)&f);
}

static void test_oversized_entry(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.max_mb = 1;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	/* A 60 KB answer fits a stripe (at least 256 KiB each). */
	static char txt[RR_MAX][600];
	spec_t sp = { .qname = "big.example.com.", .qtype = LDNS_RR_TYPE_TXT };
	for (int i = 0; i < RR_MAX; i++) {
		char chunk[256];
		memset(chunk, 'a' + i, 250);
		chunk[250] = '\0';
		snprintf(txt[i], sizeof(txt[i]), "big.example.com. 60 IN TXT \"%s\" \"%s\"", chunk,
			 chunk);
		sp.an[i] = txt[i];
	}
	cache_key_t k = make_key(f, "big.example.com.", DNS_TYPE_TXT, 0, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	teardown((void **)&f);
}

static void test_configure_shrinks(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.max_mb = 8;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	char text[128], rr[512];
	for (unsigned i = 0; i < 30000; i++) {
		fill_name(text, sizeof(text), i);
		snprintf(rr, sizeof(rr), "%s 3600 IN TXT \"%0100u\"", text, i);
		spec_t sp = { .qname = text, .qtype = LDNS_RR_TYPE_TXT, .an = { rr } };
		cache_key_t k = make_key(f, text, DNS_TYPE_TXT, 0, false, false);
		assert_int_equal(insert(f, &sp, &k, false, T0), 0);
	}
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_true(st.bytes > (2u << 20));
	r.max_mb = 2;
	cache_configure(f->cache, &r, T0);
	cache_get_stats(f->cache, &st);
	assert_true(st.bytes <= (2u << 20));
	assert_int_equal(st.max_bytes, 2u << 20);
	teardown((void **)&f);
}

/* --- flush --------------------------------------------------------------- */

static void insert_name(fixture_t *f, const char *name, uint16_t qtype, uint32_t chain)
{
	char rr[256];
	snprintf(rr, sizeof(rr), "%s 300 IN %s %s", name, qtype == DNS_TYPE_A ? "A" : "AAAA",
		 qtype == DNS_TYPE_A ? "192.0.2.1" : "2001:db8::1");
	spec_t sp = { .qname = name, .qtype = qtype, .an = { rr } };
	cache_key_t k = make_key(f, name, qtype, chain, false, false);
	assert_int_equal(insert(f, &sp, &k, false, T0), 0);
}

static bool is_cached(fixture_t *f, const char *name, uint16_t qtype, uint32_t chain)
{
	cache_key_t k = make_key(f, name, qtype, chain, false, false);
	cache_copy_t copy;
	return lookup(f, &k, T0, false, &copy) == CACHE_HIT;
}

/* A reload that shrinks max_mb below what the index tables of a full cache
 * take: the cache must go on caching within the new bound. Before the index
 * shrank with the budget, every insert failed (-E2BIG) with the stripes
 * empty, until a restart. */
static void test_configure_shrink_below_index_keeps_caching(void **state)
{
	(void)state;
	config_cache_t r = default_rules();
	r.max_mb = 32;
	fixture_t *f = NULL;
	setup_rules((void **)&f, r);
	char text[128];
	/* ~7 500 entries a stripe: each table grows to 2 048 groups (128 KiB),
	 * twice a stripe's share of 1 MB, so the old code fails by far. */
	for (unsigned i = 0; i < 120000; i++) {
		fill_name(text, sizeof(text), i);
		insert_name(f, text, DNS_TYPE_A, 0);
	}
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 120000);
	assert_true(st.bytes > (16u << 20));
	r.max_mb = 1;
	cache_configure(f->cache, &r, T0);
	cache_get_stats(f->cache, &st);
	assert_true(st.bytes <= (1u << 20));
	for (unsigned i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "after-shrink-%u.example.", i);
		insert_name(f, text, DNS_TYPE_A, 0);
		assert_true(is_cached(f, text, DNS_TYPE_A, 0));
	}
	cache_get_stats(f->cache, &st);
	assert_true(st.bytes <= (1u << 20));
	assert_true(st.entries >= 200);
	teardown((void **)&f);
}

static void fill_for_flush(fixture_t *f)
{
	const char *names[] = { "example.com.", "a.example.com.", "b.a.example.com.",
				"example.org.", "xexample.com." };
	for (size_t i = 0; i < 5; i++) {
		insert_name(f, names[i], DNS_TYPE_A, 0);
		insert_name(f, names[i], DNS_TYPE_AAAA, 0);
		insert_name(f, names[i], DNS_TYPE_A, 3);
	}
}

static void test_flush_name(void **state)
{
	fixture_t *f = *state;
	fill_for_flush(f);
	uint8_t name[ER_DNAME_MAX];
	dname_from_text("A.Example.COM.", name);
	assert_int_equal(cache_flush_name(f->cache, name), 3);
	assert_false(is_cached(f, "a.example.com.", DNS_TYPE_A, 0));
	assert_false(is_cached(f, "a.example.com.", DNS_TYPE_AAAA, 0));
	assert_false(is_cached(f, "a.example.com.", DNS_TYPE_A, 3));
	assert_true(is_cached(f, "b.a.example.com.", DNS_TYPE_A, 0));
	assert_true(is_cached(f, "example.com.", DNS_TYPE_A, 0));
}

static void test_flush_subtree(void **state)
{
	fixture_t *f = *state;
	fill_for_flush(f);
	uint8_t name[ER_DNAME_MAX];
	dname_from_text("example.com.", name);
	assert_int_equal(cache_flush_subtree(f->cache, name), 9);
	assert_false(is_cached(f, "example.com.", DNS_TYPE_A, 3));
	assert_false(is_cached(f, "b.a.example.com.", DNS_TYPE_AAAA, 0));
	assert_true(is_cached(f, "xexample.com.", DNS_TYPE_A, 0)); /* whole labels only */
	assert_true(is_cached(f, "example.org.", DNS_TYPE_A, 3));
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 6);
}

static void test_flush_all(void **state)
{
	fixture_t *f = *state;
	fill_for_flush(f);
	cache_stats_t before, after;
	cache_get_stats(f->cache, &before);
	assert_int_equal(cache_flush_all(f->cache), 15);
	cache_get_stats(f->cache, &after);
	assert_int_equal(after.entries, 0);
	assert_true(after.bytes < before.bytes);
	assert_false(is_cached(f, "example.org.", DNS_TYPE_A, 0));
	/* Usable again afterwards. */
	insert_name(f, "example.org.", DNS_TYPE_A, 0);
	assert_true(is_cached(f, "example.org.", DNS_TYPE_A, 0));
}

static void test_stats_counters(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_MISS);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0); /* replaces */
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	assert_int_equal(lookup(f, &k, T0, false, &copy), CACHE_HIT);
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.evictions, 0);
	assert_true(st.bytes > copy.len);
}

/* --- peek and dump (erdns ctl) ------------------------------------------- */

/* Peek says what a lookup would find and changes nothing: no counters, and
 * a prefetch a lookup would claim is still there for the next client. */
static void test_peek_has_no_side_effects(void **state)
{
	fixture_t *f = *state;
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	cache_peek_info_t peek = { .ttl_left_s = 99 };
	assert_int_equal(cache_peek(f->cache, &k, T0, &peek), CACHE_MISS);
	assert_int_equal(peek.ttl_left_s, 0);
	assert_int_equal(insert(f, &www_a, &k, false, T0), 0);
	assert_int_equal(cache_peek(f->cache, &k, T0 + S(100) + 500, &peek), CACHE_HIT);
	assert_int_equal(peek.ttl_left_s, 199);
	assert_int_equal(cache_peek(f->cache, &k, T0 + S(295), &peek), CACHE_HIT); /* last 10% */
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.hits + st.misses + st.prefetches, 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(295), false, &copy), CACHE_HIT);
	assert_true(copy.should_prefetch); /* peek did not claim it */
	assert_int_equal(cache_peek(f->cache, &k, T0 + S(300), &peek), CACHE_STALE);
	assert_int_equal(peek.ttl_left_s, 0);
	/* dead past serve_stale_s: a miss, and peek does not remove it */
	assert_int_equal(cache_peek(f->cache, &k, T0 + S(300 + 86400), &peek), CACHE_MISS);
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 1);
}

typedef struct dump_seen {
	size_t n, stop_after;
	cache_dump_entry_t e[32];
} dump_seen_t;

static bool collect(const cache_dump_entry_t *e, void *ctx)
{
	dump_seen_t *seen = ctx;
	if (seen->n < 32)
		seen->e[seen->n] = *e;
	seen->n++;
	return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static const cache_dump_entry_t *seen_entry(const dump_seen_t *seen, const char *name,
					    uint16_t qtype, uint32_t chain)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(name, wire) > 0);
	for (size_t i = 0; i < seen->n && i < 32; i++) {
		const cache_dump_entry_t *e = &seen->e[i];
		if (dname_equal(e->name, wire) && e->qtype == qtype && e->chain == chain)
			return e;
	}
	return NULL;
}

/* Every live entry once, with its key decoded and its times: fresh, stale,
 * a cached failure, a fallback answer; dead entries are left out. */
static void test_dump_lists_entries(void **state)
{
	fixture_t *f = *state;
	fill_for_flush(f); /* 15 entries, TTL 300, chains 0 and 3 */
	cache_key_t k = make_key(f, "WWW.Example.com.", DNS_TYPE_A, 7, true, false);
	k.epoch = 5;
	assert_int_equal(insert(f, &www_a, &k, true, T0), 0); /* a fallback: TTL 30 */
	spec_t sf = { .qname = "broken.example.com.", .rcode = LDNS_RCODE_SERVFAIL };
	cache_key_t kf = make_key(f, "broken.example.com.", DNS_TYPE_A, 0, false, false);
	assert_int_equal(insert(f, &sf, &kf, false, T0), 0);
	dump_seen_t seen = { 0 };
	size_t n = 0;
	assert_int_equal(cache_dump(f->cache, T0 + S(2), collect, &seen, &n), 0);
	assert_int_equal(n, 17);
	assert_int_equal(seen.n, 17);
	const cache_dump_entry_t *e = seen_entry(&seen, "www.example.com.", DNS_TYPE_A, 7);
	assert_non_null(e);
	assert_int_equal(e->name[1], 'w'); /* lower case, as keyed */
	assert_int_equal(e->epoch, 5);
	assert_true(e->is_do);
	assert_false(e->is_cd);
	assert_true(e->is_fallback);
	assert_int_equal(e->ttl_left_s, 28);
	assert_int_equal(e->qclass, DNS_CLASS_IN);
	e = seen_entry(&seen, "b.a.example.com.", DNS_TYPE_AAAA, 0);
	assert_non_null(e);
	assert_int_equal(e->ttl_left_s, 298);
	assert_false(e->is_stale || e->is_fallback || e->is_servfail);
	assert_true(seen_entry(&seen, "broken.example.com.", DNS_TYPE_A, 0)->is_servfail);

	/* 60 s on: the fallback answer is stale, the failure dead (never stale) */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(cache_dump(f->cache, T0 + S(60), collect, &seen, &n), 0);
	assert_int_equal(n, 16);
	e = seen_entry(&seen, "www.example.com.", DNS_TYPE_A, 7);
	assert_true(e->is_stale);
	assert_int_equal(e->ttl_left_s, 0);
	assert_null(seen_entry(&seen, "broken.example.com.", DNS_TYPE_A, 0));
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, 17); /* a dump removes nothing */
	assert_int_equal(st.hits + st.misses, 0);
}

/* The callback bounds the walk (the control socket stops at 100000). */
static void test_dump_stops_when_asked(void **state)
{
	fixture_t *f = *state;
	fill_for_flush(f);
	dump_seen_t seen = { .stop_after = 4 };
	size_t n = 0;
	assert_int_equal(cache_dump(f->cache, T0, collect, &seen, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(seen.n, 4);
	/* an empty cache: no call */
	cache_flush_all(f->cache);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(cache_dump(f->cache, T0, collect, &seen, &n), 0);
	assert_int_equal(n, 0);
}

static uint32_t u32_at(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#define WWW_EXAMPLE_COM_A                                                                          \
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1

/*
 * Found by tests/fuzz/fuzz_wire: policy_fill lowered each TTL while walking,
 * so a name made of an earlier TTL's bytes changed under the walk. Here the
 * second owner points at the last byte of the first TTL (256: 0x00, the
 * root); lowered to 80 that byte is 0x50, no valid label. The walk failed:
 * an assertion in debug builds, a write through an unset rdlen in release.
 */
static void test_fill_pointer_into_patched_ttl(void **state)
{
	fixture_t *f = *state;
	/* clang-format off */
	static const uint8_t resp[] = {
		0x42, 0x42, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, WWW_EXAMPLE_COM_A,
		/* 33 */ 0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 1, /* TTL 256 */
		/* 49 */ 0xC0, 42, 0, 1, 0, 1, 0, 0, 0, 80, 0, 4, 192, 0, 2, 2, /* TTL 80 */
	};
	/* clang-format on */
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	cache_insert_params_t p = { .key = &k, .resp = resp, .resp_len = sizeof(resp) };
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0 + S(30), false, &copy), CACHE_HIT);
	assert_int_equal(copy.len, sizeof(resp));
	assert_int_equal(u32_at(f->out + 39), 50); /* min(256, 80) - 30 */
	assert_int_equal(u32_at(f->out + 55), 50);
}

/*
 * Found with the same target: the cache stores a response up to its OPT,
 * but a kept record's owner may point at labels that run on into the OPT.
 * The name is fine in the response and dangles in the copy (the re-walk in
 * policy_fill failed the same way), so such a response is not cached.
 */
static void test_kept_name_runs_into_cut_opt(void **state)
{
	fixture_t *f = *state;
	/* clang-format off */
	static const uint8_t resp[] = {
		0x42, 0x42, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1, WWW_EXAMPLE_COM_A,
		/* 33 */ 0xC0, 12, 0, 16, 0, 1, 0, 0, 1, 44, 0, 1, 13, /* rdata: a label of 13 */
		/* 46 */ 0xC0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 0, /* owner: 13 bytes to OPT+1 */
		/* 58 */ 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0,
	};
	/* clang-format on */
	cache_key_t k = make_key(f, "www.example.com.", DNS_TYPE_A, 0, false, false);
	cache_insert_params_t p = { .key = &k, .resp = resp, .resp_len = sizeof(resp) };
	assert_int_equal(cache_insert(f->cache, &p, T0), -EBADMSG);
	cache_copy_t copy;
	assert_int_equal(lookup(f, &k, T0, true, &copy), CACHE_MISS);
}

/* Up to 4 workers keep the default; beyond, 4 stripes per worker, a power
 * of two, capped. */
static void test_stripes_for_threads(void **state)
{
	(void)state;
	assert_int_equal(cache_stripes_for(0), 16);
	assert_int_equal(cache_stripes_for(1), 16);
	assert_int_equal(cache_stripes_for(4), 16);
	assert_int_equal(cache_stripes_for(5), 32);
	assert_int_equal(cache_stripes_for(16), 64);
	assert_int_equal(cache_stripes_for(64), 256);
	assert_int_equal(cache_stripes_for(100), 512);
	assert_int_equal(cache_stripes_for(4096), 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_case_folding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_chain_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_epoch_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_fallback_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_do_cd_type_partition, setup, teardown),
		cmocka_unit_test(test_key_from_query),
		cmocka_unit_test(test_stripes_for_threads),
		cmocka_unit_test_setup_teardown(test_insert_wrong_question, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_decrement_never_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_min_of_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_clamps, setup_clamped, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_zero_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_top_bit_is_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallback_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_soa_minimum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_soa_ttl_lower, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_cap, setup_short_stale, teardown),
		cmocka_unit_test_setup_teardown(test_negative_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_nodata_after_cname, setup_clamped,
						teardown),
		cmocka_unit_test_setup_teardown(test_negative_without_soa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_keeps_stale_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncacheable_rcodes_and_tc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_window_ttl_30, setup_short_stale,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale_ttl_is_30_for_short_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_once, setup, teardown),
		cmocka_unit_test(test_prefetch_off),
		cmocka_unit_test_setup_teardown(test_verdict_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compression_and_opt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_buffer_is_miss, setup, teardown),
		cmocka_unit_test(test_eviction_bound_and_hot_survives),
		cmocka_unit_test(test_eviction_prefers_dead),
		cmocka_unit_test(test_oversized_entry),
		cmocka_unit_test(test_configure_shrinks),
		cmocka_unit_test(test_configure_shrink_below_index_keeps_caching),
		cmocka_unit_test_setup_teardown(test_flush_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peek_has_no_side_effects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_lists_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_stops_when_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fill_pointer_into_patched_ttl, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kept_name_runs_into_cut_opt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
