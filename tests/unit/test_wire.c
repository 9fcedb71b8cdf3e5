/*
 * Tests for dns/wire.c. Well-formed packets come from ldns (an independent
 * encoder); malformed ones are written by hand byte by byte, because ldns
 * refuses to produce them. The prefix and mutation loops exist to run under
 * ASan/UBSan: the assertion that matters is that nothing reads out of bounds.
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

#include "dns/wire.h"
#include "ldns_wire.h"

#define BUF_MAX 4096

static ldns_pkt *new_query(const char *name, ldns_rr_type type, ldns_rr_class cls)
{
	ldns_rdf *dname = ldns_dname_new_frm_str(name);
	assert_non_null(dname);
	ldns_pkt *pkt = ldns_pkt_query_new(dname, type, cls, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, 0x1234);
	return pkt;
}

/* A query; udp_size 0 means no EDNS. */
static size_t make_query(uint8_t *buf, const char *name, uint16_t udp_size, bool is_do)
{
	ldns_pkt *pkt = new_query(name, LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN);
	if (udp_size) {
		ldns_pkt_set_edns_udp_size(pkt, udp_size);
		ldns_pkt_set_edns_do(pkt, is_do);
	}
	return pkt_to_buf(pkt, buf, BUF_MAX);
}

static void set_u16(uint8_t *buf, size_t off, uint16_t v)
{
	wire_write_u16(buf + off, v);
}

/* Appends a bare OPT RR (root owner, given class/ttl, rdlen 0). */
static size_t put_opt(uint8_t *buf, size_t len, uint16_t udp, uint8_t version)
{
	static const uint8_t tmpl[11] = { 0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0 };
	memcpy(buf + len, tmpl, sizeof(tmpl));
	set_u16(buf, len + 3, udp);
	buf[len + 6] = version;
	return len + sizeof(tmpl);
}

/* A hand-written query for "a.example." IN A, no EDNS. */
static size_t hand_query(uint8_t *buf)
{
	static const uint8_t pkt[] = {
		0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	};
	memcpy(buf, pkt, sizeof(pkt));
	return sizeof(pkt);
}

static void test_query_plain(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_query(buf, "www.Example.COM.", 0, false);
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_OK);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.flags & DNS_FLAG_RD);
	assert_ptr_equal(q.qname, buf + ER_DNS_HEADER_LEN);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.qname, "\003www\007Example\003COM", 17);
	assert_int_equal(q.qtype, DNS_TYPE_AAAA);
	assert_int_equal(q.qclass, DNS_CLASS_IN);
	assert_int_equal(q.question_end, len);
	assert_false(q.has_edns);
	assert_false(q.edns_do);
}

static void test_query_edns(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_query(buf, "example.org.", 4096, false);
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp_size, 4096);
	assert_int_equal(q.edns_version, 0);
	assert_false(q.edns_do);
	assert_int_equal(q.question_end, len - 11);
}

static void test_query_edns_do(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_query(buf, "example.org.", 1232, true);
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_OK);
	assert_true(q.has_edns);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_udp_size, 1232);
}

static void test_query_root(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_query(buf, ".", 0, false);
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_OK);
	assert_int_equal(q.qname_len, 1);
}

static void test_query_edns_options_ok(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = put_opt(buf, hand_query(buf), 1400, 0);
	static const uint8_t cookie[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	memcpy(buf + len, cookie, sizeof(cookie));
	set_u16(buf, len - 2, sizeof(cookie));
	len += sizeof(cookie);
	buf[11] = 1;
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_udp_size, 1400);
}

static void test_query_drop(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	dns_query_t q;
	for (size_t i = 0; i < ER_DNS_HEADER_LEN; i++)
		assert_int_equal(wire_parse_query(buf, i, &q), WIRE_DROP);
	buf[2] |= 0x80; /* QR */
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_DROP);
}

static void test_query_notimp(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	buf[2] = (uint8_t)((buf[2] & 0x87) | (4 << 3)); /* NOTIFY */
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_NOTIMP);
	assert_int_equal(q.id, 0xabcd);
	assert_int_equal(DNS_OPCODE(q.flags), 4);
	assert_non_null(q.qname);
	assert_int_equal(q.qtype, DNS_TYPE_A);

	/* NOTIMP even when the question does not parse; qname left NULL. */
	buf[12] = 0xC0;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_NOTIMP);
	assert_null(q.qname);
}

static void expect_formerr(const uint8_t *buf, size_t len)
{
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_FORMERR);
	assert_int_equal(q.id, wire_read_u16(buf));
	assert_false(q.has_edns);
}

static void test_formerr_counts(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	set_u16(buf, 4, 0);
	expect_formerr(buf, len);
	set_u16(buf, 4, 2);
	expect_formerr(buf, len);
	set_u16(buf, 4, 1);
	set_u16(buf, 6, 1);
	expect_formerr(buf, len);
	set_u16(buf, 6, 0);
	set_u16(buf, 8, 1);
	expect_formerr(buf, len);
	/* ARCOUNT promises a record that is not there. */
	set_u16(buf, 8, 0);
	set_u16(buf, 10, 1);
	expect_formerr(buf, len);
}

static void test_formerr_question_kept(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	set_u16(buf, 6, 1); /* ANCOUNT */
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_FORMERR);
	assert_non_null(q.qname);
	assert_int_equal(q.qtype, DNS_TYPE_A);
}

static void test_formerr_qname(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	dns_query_t q;
	/* Compressed: a pointer in the question. */
	size_t len = hand_query(buf);
	buf[14] = 0xC0;
	buf[15] = 12;
	expect_formerr(buf, len);
	/* Reserved label types 0x40 and 0x80. */
	len = hand_query(buf);
	buf[12] = 0x41;
	expect_formerr(buf, len);
	buf[12] = 0x81;
	expect_formerr(buf, len);
	/* Label length running past the end. */
	len = hand_query(buf);
	buf[14] = 60;
	expect_formerr(buf, len);
	/* No room for qtype/qclass. */
	len = hand_query(buf);
	expect_formerr(buf, len - 1);
	expect_formerr(buf, len - 4);
	/* A 256-byte name: 4 * (1 + 62) + 3 + 1 > 255. */
	memset(buf + 12, 'a', 300);
	for (int i = 0; i < 4; i++)
		buf[12 + i * 63] = 62;
	buf[12 + 252] = 2;
	buf[12 + 255] = 0;
	assert_int_equal(wire_parse_query(buf, 12 + 256 + 4, &q), WIRE_FORMERR);
	/* The same with the last label one shorter is exactly 255: fine. */
	buf[12 + 252] = 1;
	buf[12 + 254] = 0;
	set_u16(buf, 12 + 255, 1);
	set_u16(buf, 12 + 257, 1);
	assert_int_equal(wire_parse_query(buf, 12 + 255 + 4, &q), WIRE_OK);
	assert_int_equal(q.qname_len, 255);
}

static void test_formerr_trailing(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	buf[len++] = 0;
	expect_formerr(buf, len);
	len = put_opt(buf, hand_query(buf), 1232, 0);
	buf[11] = 1;
	buf[len++] = 0xff;
	expect_formerr(buf, len);
}

static void test_formerr_opt(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	/* Two OPT records. */
	size_t len = hand_query(buf);
	len = put_opt(buf, len, 1232, 0);
	len = put_opt(buf, len, 1232, 0);
	buf[11] = 2;
	expect_formerr(buf, len);
	/* OPT owned by a name other than the root. */
	len = hand_query(buf);
	buf[len++] = 1;
	buf[len++] = 'x';
	len = put_opt(buf, len, 1232, 0);
	buf[11] = 1;
	expect_formerr(buf, len);
	/* OPT owned by a pointer to the question name. */
	len = hand_query(buf);
	buf[len++] = 0xC0;
	buf[len++] = 12;
	len = put_opt(buf, len, 1232, 0);
	buf[11] = 1;
	expect_formerr(buf, len);
	/* An option whose length runs past the rdata. */
	len = put_opt(buf, hand_query(buf), 1232, 0);
	static const uint8_t bad_opt[] = { 0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8 };
	memcpy(buf + len, bad_opt, sizeof(bad_opt));
	set_u16(buf, len - 2, sizeof(bad_opt));
	len += sizeof(bad_opt);
	buf[11] = 1;
	expect_formerr(buf, len);
	/* Three stray bytes of option header. */
	len = put_opt(buf, hand_query(buf), 1232, 0);
	memcpy(buf + len, "\0\012\0", 3);
	set_u16(buf, len - 2, 3);
	buf[11] = 1;
	expect_formerr(buf, len + 3);
}

static void test_badvers(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = put_opt(buf, hand_query(buf), 4000, 1);
	buf[11] = 1;
	dns_query_t q;
	assert_int_equal(wire_parse_query(buf, len, &q), WIRE_BADVERS);
	assert_int_equal(q.id, 0xabcd);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_version, 1);
	assert_non_null(q.qname);
}

/* Every prefix of a valid packet is DROP (no header) or FORMERR. */
static void check_prefixes(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* A heap copy of exactly i bytes so ASan catches any overread. */
		uint8_t *copy = malloc(i ? i : 1);
		memcpy(copy, buf, i);
		dns_query_t q;
		wire_status_t st = wire_parse_query(copy, i, &q);
		free(copy);
		if (i < ER_DNS_HEADER_LEN)
			assert_int_equal(st, WIRE_DROP);
		else
			assert_int_equal(st, WIRE_FORMERR);
	}
}

static void test_truncated_prefixes(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_query(buf, "a-fairly-long-label.example.com.", 1232, true);
	check_prefixes(buf, len);
	len = make_query(buf, "x.", 0, false);
	check_prefixes(buf, len);
}

static uint32_t rng_state = 0x2545F491u;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Random byte flips of a valid query: only the sanitizers judge this. */
static void test_mutations(void **state)
{
	(void)state;
	uint8_t base[BUF_MAX];
	size_t len = make_query(base, "mutate.example.net.", 1232, true);
	size_t seen[WIRE_BADVERS + 1] = { 0 };
	for (int iter = 0; iter < 200000; iter++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, base, len);
		for (uint32_t n = rng() % 4 + 1; n > 0; n--)
			copy[rng() % len] = (uint8_t)rng();
		size_t cut = rng() % 8 == 0 ? rng() % len : len;
		dns_query_t q;
		wire_status_t st = wire_parse_query(copy, cut, &q);
		assert_true(st <= WIRE_BADVERS);
		seen[st]++;
		if (st == WIRE_OK)
			assert_true(q.question_end <= cut);
		(void)wire_check_response(copy, cut, 0x1234, base + 12, 28, 1);
		free(copy);
	}
	/* The mutations must reach every outcome, or they test little. */
	for (int st = WIRE_OK; st <= WIRE_BADVERS; st++)
		assert_true(seen[st] > 0);
}

static void test_skip_name_plain(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf);
	size_t pos = 12;
	assert_int_equal(wire_skip_name(buf, len, &pos), 0);
	assert_int_equal(pos, 23);
	pos = 12;
	assert_int_equal(wire_skip_name(buf, 22, &pos), -EBADMSG);
	assert_int_equal(pos, 12);
	pos = len;
	assert_int_equal(wire_skip_name(buf, len, &pos), -EBADMSG);
}

static void test_skip_name_pointers(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = hand_query(buf); /* name at 12..22, question ends 27 */
	/* "www" + pointer to the question: skip stops after the pointer. */
	memcpy(buf + len, "\003www\300\014", 6);
	size_t pos = len;
	assert_int_equal(wire_skip_name(buf, len + 6, &pos), 0);
	assert_int_equal(pos, len + 6);
	/* A pointer to "example" inside the question. */
	memcpy(buf + len, "\300\016", 2);
	pos = len;
	assert_int_equal(wire_skip_name(buf, len + 2, &pos), 0);
	assert_int_equal(pos, len + 2);
	/* Pointer cut in half. */
	pos = len;
	assert_int_equal(wire_skip_name(buf, len + 1, &pos), -EBADMSG);
	/* Into the header. */
	memcpy(buf + len, "\300\004", 2);
	pos = len;
	assert_int_equal(wire_skip_name(buf, len + 2, &pos), -EBADMSG);
	/* Forward. */
	memcpy(buf + len, "\300\040\0", 3);
	pos = len;
	assert_int_equal(wire_skip_name(buf, len + 3, &pos), -EBADMSG);
	/* Past the end of the packet. */
	memcpy(buf + len, "\077\377", 2);
	pos = len;
	assert_int_equal(wire_skip_name(buf, len + 2, &pos), -EBADMSG);
}

static void test_skip_name_loops(void **state)
{
	(void)state;
	uint8_t buf[64] = { 0 };
	size_t pos;
	/* To itself. */
	buf[12] = 0xC0;
	buf[13] = 12;
	pos = 12;
	assert_int_equal(wire_skip_name(buf, 14, &pos), -EBADMSG);
	/* A label then a pointer back to the label: a one-label loop. */
	memcpy(buf + 12, "\001a\300\014", 4);
	pos = 12;
	assert_int_equal(wire_skip_name(buf, 16, &pos), -EBADMSG);
	/* Two pointers aiming at each other: 20 -> 30 -> 20. */
	buf[20] = 0xC0;
	buf[21] = 30;
	buf[30] = 0xC0;
	buf[31] = 20;
	pos = 30;
	assert_int_equal(wire_skip_name(buf, 32, &pos), -EBADMSG);
	pos = 20;
	assert_int_equal(wire_skip_name(buf, 32, &pos), -EBADMSG);
	/* A backwards chain of pointers that finally loops forward. */
	memset(buf, 0, sizeof(buf));
	for (size_t off = 14; off + 2 <= sizeof(buf); off += 2) {
		buf[off] = 0xC0;
		buf[off + 1] = (uint8_t)(off - 2);
	}
	buf[12] = 0xC0;
	buf[13] = 62;
	pos = 62;
	assert_int_equal(wire_skip_name(buf, sizeof(buf), &pos), -EBADMSG);
	/* The same chain ending in the root is fine. */
	buf[12] = 0;
	pos = 62;
	assert_int_equal(wire_skip_name(buf, sizeof(buf), &pos), 0);
	assert_int_equal(pos, 64);
}

static void test_skip_name_too_long(void **state)
{
	(void)state;
	/* 5 x 63-byte labels reached through pointers: > 255 bytes. */
	uint8_t buf[512] = { 0 };
	size_t off = 12;
	for (int i = 0; i < 5; i++) {
		buf[off] = 63;
		memset(buf + off + 1, 'a', 63);
		off += 64;
	}
	buf[off] = 0; /* 12 + 320 + 1: an uncompressed 321-byte name */
	size_t pos = 12;
	assert_int_equal(wire_skip_name(buf, off + 1, &pos), -EBADMSG);
	/* 3 labels then a pointer to a 2-label name: 192 + 130 > 255. */
	memset(buf, 0, sizeof(buf));
	memset(buf + 12, 'b', 130);
	buf[12] = 63;
	buf[76] = 63;
	buf[140] = 0;
	size_t n = 141;
	for (int i = 0; i < 3; i++) {
		buf[n] = 63;
		memset(buf + n + 1, 'c', 63);
		n += 64;
	}
	buf[n] = 0xC0;
	buf[n + 1] = 12;
	pos = 141;
	assert_int_equal(wire_skip_name(buf, n + 2, &pos), -EBADMSG);
	/* With only 1 label in front: 64 + 129 fits. */
	pos = n - 64;
	assert_int_equal(wire_skip_name(buf, n + 2, &pos), 0);
}

static void test_skip_rr(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = put_opt(buf, hand_query(buf), 1232, 0);
	size_t pos = 27;
	uint16_t type = 0, rdlen = 7;
	assert_int_equal(wire_skip_rr(buf, len, &pos, &type, &rdlen), 0);
	assert_int_equal(pos, len);
	assert_int_equal(type, DNS_TYPE_OPT);
	assert_int_equal(rdlen, 0);
	set_u16(buf, len - 2, 1); /* rdata runs past the end */
	pos = 27;
	assert_int_equal(wire_skip_rr(buf, len, &pos, NULL, NULL), -EBADMSG);
	assert_int_equal(pos, 27);
	for (size_t i = 27; i < len; i++) {
		pos = 27;
		assert_int_equal(wire_skip_rr(buf, i, &pos, NULL, NULL), -EBADMSG);
	}
}

/* An answer to "www.example.com." A with CNAME + A (compressed by ldns),
 * an NS in authority and a glue A in additional, plus EDNS. */
static size_t make_response(uint8_t *buf, const char *qname, uint16_t id)
{
	ldns_pkt *pkt = new_query(qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_ra(pkt, true);
	static const char *const an[] = {
		"www.example.com. 300 IN CNAME web.example.com.",
		"web.example.com. 300 IN A 192.0.2.1",
	};
	for (size_t i = 0; i < 2; i++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, an[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	}
	ldns_rr *ns = NULL, *glue = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&ns, "example.com. 300 IN NS ns.example.com.", 0,
					     NULL, NULL),
			 LDNS_STATUS_OK);
	assert_int_equal(ldns_rr_new_frm_str(&glue, "ns.example.com. 300 IN A 192.0.2.53", 0,
					     NULL, NULL),
			 LDNS_STATUS_OK);
	ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, ns);
	ldns_pkt_push_rr(pkt, LDNS_SECTION_ADDITIONAL, glue);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	return pkt_to_buf(pkt, buf, BUF_MAX);
}

static const uint8_t www_example[] = "\003www\007example\003com";

static void test_response_ok(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_response(buf, "www.example.com.", 0x4242);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), 0);
	/* ldns compressed the answer names: the walk had to skip pointers. */
	assert_non_null(memchr(buf + 33, 0xC0, len - 33));
}

static void test_response_case(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_response(buf, "WwW.ExAmPlE.cOm.", 0x4242);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), 0);
}

static void test_response_mismatch(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_response(buf, "www.example.com.", 0x4242);
	assert_int_equal(wire_check_response(buf, len, 0x4243, www_example, 1, 1), -ENOENT);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 28, 1), -ENOENT);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 3), -ENOENT);
	const uint8_t other[] = "\003www\007example\003net";
	assert_int_equal(wire_check_response(buf, len, 0x4242, other, 1, 1), -ENOENT);
	const uint8_t longer[] = "\001x\003www\007example\003com";
	assert_int_equal(wire_check_response(buf, len, 0x4242, longer, 1, 1), -ENOENT);
	set_u16(buf, 4, 0);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), -ENOENT);
}

static void test_response_malformed(void **state)
{
	(void)state;
	uint8_t buf[BUF_MAX];
	size_t len = make_response(buf, "www.example.com.", 0x4242);
	/* QR=0: a query is not an answer. */
	buf[2] &= 0x7f;
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), -EBADMSG);
	buf[2] |= 0x80;
	/* Every prefix fails, and none reads past its end. */
	for (size_t i = 0; i < len; i++) {
		uint8_t *copy = malloc(i ? i : 1);
		memcpy(copy, buf, i);
		assert_int_not_equal(wire_check_response(copy, i, 0x4242, www_example, 1, 1), 0);
		free(copy);
	}
	/* Counts promising more than is there, and trailing bytes. */
	set_u16(buf, 6, 3);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), -EBADMSG);
	set_u16(buf, 6, 2);
	buf[len] = 0;
	assert_int_equal(wire_check_response(buf, len + 1, 0x4242, www_example, 1, 1),
			 -EBADMSG);
	assert_int_equal(wire_check_response(buf, len, 0x4242, www_example, 1, 1), 0);
}

/* Names in a packet, compressed or not: read out (wire_read_name) and
 * compared in place (wire_name_equal), pointer loops refused. */
static void test_names_in_place(void **state)
{
	(void)state;
	static const uint8_t pkt[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		/* 12 */ 3, 'W', 'w', 'W', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		/* 25 */ 4, 'm', 'a', 'i', 'l', 0xC0, 16, /* mail.example via a pointer */
		/* 32 */ 0xC0, 32, /* a pointer to itself */
	};
	static const uint8_t www[] = { 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
	static const uint8_t mail[] = { 4,   'm', 'a', 'i', 'l', 7, 'e',
					'x', 'a', 'm', 'p', 'l', 'e', 0 };
	assert_true(wire_name_equal(pkt, sizeof(pkt), 12, www)); /* any case */
	assert_false(wire_name_equal(pkt, sizeof(pkt), 12, mail));
	assert_true(wire_name_equal(pkt, sizeof(pkt), 25, mail));
	assert_false(wire_name_equal(pkt, sizeof(pkt), 16, www)); /* example. alone */
	assert_false(wire_name_equal(pkt, sizeof(pkt), 32, www)); /* the loop ends */
	assert_false(wire_name_equal(pkt, 20, 12, www)); /* cut short */
	uint8_t out[255];
	size_t pos = 25;
	assert_int_equal(wire_read_name(pkt, sizeof(pkt), &pos, out), sizeof(mail));
	assert_memory_equal(out, mail, sizeof(mail));
	assert_int_equal(pos, 32); /* past the name as it is in the packet */
	pos = 32;
	assert_int_equal(wire_read_name(pkt, sizeof(pkt), &pos, out), 0);
	pos = 12;
	assert_int_equal(wire_read_name(pkt, 20, &pos, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_plain),
		cmocka_unit_test(test_query_edns),
		cmocka_unit_test(test_query_edns_do),
		cmocka_unit_test(test_query_root),
		cmocka_unit_test(test_query_edns_options_ok),
		cmocka_unit_test(test_query_drop),
		cmocka_unit_test(test_query_notimp),
		cmocka_unit_test(test_formerr_counts),
		cmocka_unit_test(test_formerr_question_kept),
		cmocka_unit_test(test_formerr_qname),
		cmocka_unit_test(test_formerr_trailing),
		cmocka_unit_test(test_formerr_opt),
		cmocka_unit_test(test_badvers),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_skip_name_plain),
		cmocka_unit_test(test_skip_name_pointers),
		cmocka_unit_test(test_skip_name_loops),
		cmocka_unit_test(test_skip_name_too_long),
		cmocka_unit_test(test_skip_rr),
		cmocka_unit_test(test_response_ok),
		cmocka_unit_test(test_response_case),
		cmocka_unit_test(test_response_mismatch),
		cmocka_unit_test(test_response_malformed),
		cmocka_unit_test(test_names_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
