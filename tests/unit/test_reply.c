/*
 * Tests for dns/reply.c. Client queries and upstream responses are encoded
 * by ldns, and every message reply.c builds is decoded again by ldns
 * (ldns_wire2pkt) so "valid DNS" is judged by an implementation that is not
 * ours. Exact bytes are checked where the RFCs fix them (OPT, EDE).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns/reply.h"
#include "ldns_wire.h"

#define BUF_MAX 70000

/* A parsed client query together with the bytes it points into. */
typedef struct client {
	uint8_t wire[512];
	size_t len;
	dns_query_t q;
} client_t;

static ldns_pkt *new_pkt(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id)
{
	ldns_rdf *dname = ldns_dname_new_frm_str(name);
	assert_non_null(dname);
	ldns_pkt *pkt = ldns_pkt_query_new(dname, type, cls, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, id);
	return pkt;
}

/* udp_size 0: no EDNS. */
static void make_client(client_t *c, const char *name, ldns_rr_type type, ldns_rr_class cls,
			uint16_t udp_size, bool is_do)
{
	ldns_pkt *pkt = new_pkt(name, type, cls, 0xC1C1);
	ldns_pkt_set_cd(pkt, true);
	if (udp_size) {
		ldns_pkt_set_edns_udp_size(pkt, udp_size);
		ldns_pkt_set_edns_do(pkt, is_do);
	}
	c->len = pkt_to_buf(pkt, c->wire, sizeof(c->wire));
	assert_int_equal(wire_parse_query(c->wire, c->len, &c->q), WIRE_OK);
}

/* Decodes with ldns; the caller frees. Fails the test if ldns rejects it. */
static ldns_pkt *must_parse(const uint8_t *buf, size_t len)
{
	ldns_pkt *pkt = NULL;
	assert_true(len > 0);
	assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
	return pkt;
}

static void test_size_limit(void **state)
{
	(void)state;
	dns_query_t q = { 0 };
	assert_int_equal(reply_size_limit(&q, true), 65535);
	assert_int_equal(reply_size_limit(&q, false), 512);
	q.has_edns = true;
	q.edns_udp_size = 100;
	assert_int_equal(reply_size_limit(&q, false), 512);
	q.edns_udp_size = 800;
	assert_int_equal(reply_size_limit(&q, false), 800);
	q.edns_udp_size = 1232;
	assert_int_equal(reply_size_limit(&q, false), 1232);
	q.edns_udp_size = 4096;
	assert_int_equal(reply_size_limit(&q, false), 1232);
	assert_int_equal(reply_size_limit(&q, true), 65535);
}

static void test_upstream_query(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "Mail.Example.COM.", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, 4096, true);
	uint8_t out[512];
	size_t len = reply_build_upstream_query(&c.q, 0xBEEF, NULL, 0, out, sizeof(out));
	assert_int_equal(len, 12 + 18 + 4 + 11);
	static const uint8_t header[12] = { 0xBE, 0xEF, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 1 };
	assert_memory_equal(out, header, 12);
	assert_memory_equal(out + 12, "\004Mail\007Example\003COM\0\0\017\0\001", 22);
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0 };
	assert_memory_equal(out + 34, opt, 11);

	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_id(pkt), 0xBEEF);
	assert_true(ldns_pkt_rd(pkt));
	assert_true(ldns_pkt_cd(pkt));
	assert_false(ldns_pkt_qr(pkt));
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), ER_EDNS_ADVERTISED);
	assert_true(ldns_pkt_edns_do(pkt));
	ldns_pkt_free(pkt);

	for (size_t cap = 0; cap < len; cap++)
		assert_int_equal(reply_build_upstream_query(&c.q, 1, NULL, 0, out, cap), 0);
}

static void test_upstream_query_no_client_edns(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "example.org.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	c.q.flags &= (uint16_t)~DNS_FLAG_CD;
	uint8_t out[512];
	size_t len = reply_build_upstream_query(&c.q, 7, NULL, 0, out, sizeof(out));
	assert_int_equal(wire_read_u16(out + 2), DNS_FLAG_RD);
	/* We still speak EDNS upstream: larger answers, no DO. */
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), ER_EDNS_ADVERTISED);
	assert_false(ldns_pkt_edns_do(pkt));
	assert_false(ldns_pkt_cd(pkt));
	ldns_pkt_free(pkt);
}

static void test_error_plain(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "WWW.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	uint8_t out[512];
	size_t len = reply_build_error(&c.q, DNS_RCODE_SERVFAIL, EDE_NETWORK_ERROR, out,
				       sizeof(out));
	assert_int_equal(len, c.len);
	assert_int_equal(wire_read_u16(out), 0xC1C1);
	assert_int_equal(wire_read_u16(out + 2), DNS_FLAG_QR | DNS_FLAG_RD | DNS_FLAG_RA |
							 DNS_FLAG_CD | DNS_RCODE_SERVFAIL);
	assert_memory_equal(out + 12, c.wire + 12, c.len - 12);
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(ldns_pkt_arcount(pkt), 0);
	ldns_pkt_free(pkt);
	for (size_t cap = 0; cap < len; cap++)
		assert_int_equal(reply_build_error(&c.q, 2, -1, out, cap), 0);
}

static void test_error_edns_ede(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1400, true);
	uint8_t out[512];
	size_t len = reply_build_error(&c.q, DNS_RCODE_SERVFAIL, EDE_NO_REACHABLE_AUTHORITY, out,
				       sizeof(out));
	size_t qend = c.q.question_end;
	assert_int_equal(len, qend + 11 + 6);
	assert_int_equal(wire_read_u16(out + 10), 1);
	static const uint8_t opt[17] = { 0,    0, 41, 0x04, 0xD0, 0, 0, 0x80, 0,
					 0,    6, 0,  15,   0,    2, 0, 22 };
	assert_memory_equal(out + qend, opt, sizeof(opt));

	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	assert_true(ldns_pkt_edns_do(pkt));
	ldns_edns_option_list *opts = ldns_pkt_edns_get_option_list(pkt);
	assert_non_null(opts);
	assert_int_equal(ldns_edns_option_list_get_count(opts), 1);
	ldns_edns_option *ede = ldns_edns_option_list_get_option(opts, 0);
	assert_int_equal(ldns_edns_get_code(ede), 15);
	assert_int_equal(ldns_edns_get_size(ede), 2);
	assert_memory_equal(ldns_edns_get_data(ede), "\0\026", 2);
	ldns_pkt_free(pkt);
}

static void test_error_edns_no_ede(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1400, false);
	uint8_t out[512];
	size_t len = reply_build_error(&c.q, DNS_RCODE_REFUSED, ER_EDE_NONE, out, sizeof(out));
	assert_int_equal(len, c.q.question_end + 11);
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(out + c.q.question_end, opt, sizeof(opt));
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_REFUSED);
	ldns_pkt_free(pkt);
}

static void test_error_badvers(void **state)
{
	(void)state;
	client_t c;
	ldns_pkt *q = new_pkt("example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 99);
	ldns_pkt_set_edns_udp_size(q, 1232);
	ldns_pkt_set_edns_version(q, 1);
	c.len = pkt_to_buf(q, c.wire, sizeof(c.wire));
	assert_int_equal(wire_parse_query(c.wire, c.len, &c.q), WIRE_BADVERS);
	uint8_t out[512];
	size_t len = reply_build_error(&c.q, DNS_RCODE_BADVERS, ER_EDE_NONE, out, sizeof(out));
	assert_int_equal(DNS_RCODE(wire_read_u16(out + 2)), 0);
	size_t opt = c.q.question_end;
	assert_int_equal(out[opt + 5], 1); /* 16 >> 4 */
	assert_int_equal(out[opt + 6], 0); /* we speak version 0 */
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_edns_extended_rcode(pkt), 1);
	assert_int_equal(ldns_pkt_edns_version(pkt), 0);
	ldns_pkt_free(pkt);
}

static void test_error_no_question(void **state)
{
	(void)state;
	uint8_t wire[12] = { 0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0 };
	dns_query_t q;
	assert_int_equal(wire_parse_query(wire, sizeof(wire), &q), WIRE_FORMERR);
	uint8_t out[64];
	size_t len = reply_build_error(&q, DNS_RCODE_FORMERR, ER_EDE_NONE, out, sizeof(out));
	assert_int_equal(len, 12);
	static const uint8_t expect[12] = { 0x12, 0x34, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(out, expect, 12);
	ldns_pkt_free(must_parse(out, len));
}

static void test_error_notimp_opcode(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "example.com.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0, false);
	c.wire[2] = (uint8_t)((c.wire[2] & 0x87) | (5 << 3)); /* UPDATE */
	assert_int_equal(wire_parse_query(c.wire, c.len, &c.q), WIRE_NOTIMP);
	uint8_t out[512];
	size_t len = reply_build_error(&c.q, DNS_RCODE_NOTIMP, ER_EDE_NONE, out, sizeof(out));
	assert_int_equal(DNS_OPCODE(wire_read_u16(out + 2)), 5);
	assert_int_equal(DNS_RCODE(wire_read_u16(out + 2)), DNS_RCODE_NOTIMP);
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_opcode(pkt), LDNS_PACKET_UPDATE);
	ldns_pkt_free(pkt);
	/* Issue 14: every flag set (opcode 15, as genreport's opcodeflg): only
	 * QR, the opcode and RD come back, and no question (RFC 6895 2.2) */
	c.wire[2] = 0x7F; /* all but QR */
	c.wire[3] = 0xF0;
	assert_int_equal(wire_parse_query(c.wire, c.len, &c.q), WIRE_NOTIMP);
	len = reply_build_error(&c.q, DNS_RCODE_NOTIMP, ER_EDE_NONE, out, sizeof(out));
	assert_int_equal(wire_read_u16(out + 2), 0xF904); /* QR, opcode 15, RD, NOTIMP */
	assert_int_equal(wire_read_u16(out + 4), 0); /* QDCOUNT */
	assert_int_equal(len, 12);
}

/* Issue 14 / RFC 8945: a query signed with a key erdns does not hold gets
 * NOTAUTH with an unsigned TSIG RR, error BADKEY, the request's key name,
 * algorithm, time, fudge and original ID; a malformed TSIG is FORMERR. */
static void test_tsig_badkey(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	static const uint8_t tsig[] = {
		3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 31, /* owner .. rdlen */
		11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0, /* algorithm */
		0, 0, 0x65, 0x00, 0x00, 0x01, 1, 44, /* time signed, fudge 300 */
		0, 2, 0xAB, 0xCD, /* a 2-byte MAC */
		0x12, 0x34, 0, 0, 0, 0, /* original ID, error, other len */
	};
	memcpy(c.wire + c.len, tsig, sizeof(tsig));
	c.wire[11] = 1; /* ARCOUNT */
	assert_int_equal(wire_parse_query(c.wire, c.len + sizeof(tsig), &c.q), WIRE_TSIG);
	uint8_t out[512];
	size_t len = reply_build_tsig_badkey(&c.q, out, sizeof(out));
	assert_true(len > 0);
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOTAUTH);
	assert_int_equal(ldns_pkt_id(pkt), 0xC1C1);
	ldns_rr *rr = ldns_pkt_tsig(pkt);
	assert_non_null(rr);
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	assert_string_equal(owner, "key.");
	free(owner);
	uint8_t *rd = ldns_rdf_data(ldns_rr_rdf(rr, 0));
	(void)rd;
	/* error BADKEY (17), no MAC, original ID kept: the last 8 rdata bytes */
	const uint8_t tail[] = { 0, 0, 0x12, 0x34, 0, 17, 0, 0 };
	assert_memory_equal(out + len - sizeof(tail), tail, sizeof(tail));
	ldns_pkt_free(pkt);

	/* not last, wrong class, rdata that does not add up: FORMERR */
	uint8_t bad[sizeof(tsig)];
	memcpy(bad, tsig, sizeof(tsig));
	bad[8] = 1; /* class IN */
	memcpy(c.wire + c.len, bad, sizeof(bad));
	assert_int_equal(wire_parse_query(c.wire, c.len + sizeof(bad), &c.q), WIRE_FORMERR);
	memcpy(bad, tsig, sizeof(tsig));
	bad[14] = 32; /* rdlength one too long */
	memcpy(c.wire + c.len, bad, sizeof(bad));
	c.wire[c.len + sizeof(bad)] = 0;
	assert_int_equal(wire_parse_query(c.wire, c.len + sizeof(bad) + 1, &c.q), WIRE_FORMERR);
}

static void push_rr(ldns_pkt *pkt, ldns_pkt_section sec, const char *text)
{
	ldns_rr *rr = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(pkt, sec, rr));
}

/* Appends an OPT with an NSID option (as an upstream would) to a response. */
static size_t append_upstream_opt(uint8_t *buf, size_t len, uint8_t ext_rcode)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0,
				       8, 0, 3,  0,    4, 'n', 's', '0', '1' };
	memcpy(buf + len, opt, sizeof(opt));
	buf[len + 5] = ext_rcode;
	wire_write_u16(buf + 10, (uint16_t)(wire_read_u16(buf + 10) + 1));
	return len + sizeof(opt);
}

/* An upstream answer: n A records for the question, an NS, one glue A. */
static size_t make_upstream(uint8_t *buf, const char *qname, int n, ldns_pkt_rcode rcode)
{
	ldns_pkt *pkt = new_pkt(qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0x5555);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_ra(pkt, true);
	ldns_pkt_set_ad(pkt, true);
	ldns_pkt_set_aa(pkt, true);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	char text[256];
	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s 300 IN A 192.0.2.%d", qname, i % 250);
		push_rr(pkt, LDNS_SECTION_ANSWER, text);
	}
	push_rr(pkt, LDNS_SECTION_AUTHORITY, "example.com. 300 IN NS ns1.example.com.");
	push_rr(pkt, LDNS_SECTION_ADDITIONAL, "ns1.example.com. 300 IN A 192.0.2.53");
	return pkt_to_buf(pkt, buf, BUF_MAX);
}

/* SPEC 2.2: what a client sees of a fallback group's answer. Every record
 * of every section is capped, the OPT's TTL field (extended rcode and DO)
 * is left alone, and TTLs already lower stay. */
static void test_cap_ttls(void **state)
{
	(void)state;
	static uint8_t resp[BUF_MAX];
	size_t len = make_upstream(resp, "www.example.com.", 3, LDNS_RCODE_NOERROR);
	len = append_upstream_opt(resp, len, 0);
	assert_int_equal(reply_cap_ttls(resp, len, 30), 0);
	ldns_pkt *pkt = must_parse(resp, len);
	ldns_rr_list *all[] = { ldns_pkt_answer(pkt), ldns_pkt_authority(pkt),
				ldns_pkt_additional(pkt) };
	size_t n = 0;
	for (size_t s = 0; s < 3; s++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(all[s]); i++, n++)
			assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(all[s], i)), 30);
	}
	assert_int_equal(n, 5);
	assert_true(ldns_pkt_edns_do(pkt)); /* the OPT's flags survived */
	ldns_pkt_free(pkt);
	assert_int_equal(reply_cap_ttls(resp, len, 3600), 0); /* never raised */
	pkt = must_parse(resp, len);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(pkt), 0)), 30);
	ldns_pkt_free(pkt);
	uint8_t cut[40];
	memcpy(cut, resp, sizeof(cut));
	assert_int_equal(reply_cap_ttls(cut, sizeof(cut), 1), -EBADMSG);
	assert_memory_equal(cut, resp, sizeof(cut)); /* untouched on failure */
}

static void test_finalize_case_and_id(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "WwW.ExAmple.COM.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 2, LDNS_RCODE_NOERROR);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, 512, out, sizeof(out));
	assert_int_equal(len, rlen);
	assert_int_equal(wire_read_u16(out), 0xC1C1);
	/* AA and RA kept; CD is the client's (set), AD the upstream's only for a
	 * client that asked (this one did not) */
	assert_int_equal(wire_read_u16(out + 2),
			 (wire_read_u16(resp + 2) & ~DNS_FLAG_AD) | DNS_FLAG_CD);
	assert_memory_equal(out + 4, resp + 4, 8);
	assert_memory_equal(out + 12, c.q.qname, c.q.qname_len);
	assert_memory_equal(out + c.q.question_end, resp + c.q.question_end,
			    rlen - c.q.question_end);
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_ancount(pkt), 2);
	assert_true(ldns_pkt_aa(pkt) && !ldns_pkt_ad(pkt) && ldns_pkt_ra(pkt) && ldns_pkt_cd(pkt));
	ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	assert_string_equal(owner, "WwW.ExAmple.COM.");
	free(owner);
	ldns_pkt_free(pkt);
}

/* Issue 14: RD and CD are the client's whatever the upstream (or a cache
 * entry another client's query filled) says (RFC 1035 4.1.1, RFC 4035
 * 3.2.2); AD only for a client that set AD or DO (RFC 6840 5.7). */
static void test_finalize_header_bits(void **state)
{
	(void)state;
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 1, LDNS_RCODE_NOERROR); /* RD=0 AD=1 */
	struct {
		uint16_t query_flags;
		bool is_do;
		uint16_t want; /* of RD, CD, AD */
	} cases[] = {
		{ 0, false, 0 },
		{ DNS_FLAG_RD, false, DNS_FLAG_RD },
		{ DNS_FLAG_CD, false, DNS_FLAG_CD },
		{ DNS_FLAG_AD, false, DNS_FLAG_AD },
		{ 0, true, DNS_FLAG_AD },
		{ DNS_FLAG_RD | DNS_FLAG_CD | DNS_FLAG_AD, true,
		  DNS_FLAG_RD | DNS_FLAG_CD | DNS_FLAG_AD },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_t c;
		make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232,
			    cases[i].is_do);
		c.q.flags = cases[i].query_flags;
		size_t len = reply_finalize_forwarded(&c.q, resp, rlen, ER_EDE_NONE, 1232, out,
						      sizeof(out));
		assert_true(len > 0);
		uint16_t bits = wire_read_u16(out + 2) & (DNS_FLAG_RD | DNS_FLAG_CD | DNS_FLAG_AD);
		assert_int_equal(bits, cases[i].want);
	}
	/* an upstream without AD never gets one invented */
	wire_write_u16(resp + 2, (uint16_t)(wire_read_u16(resp + 2) & ~DNS_FLAG_AD));
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, true);
	c.q.flags = DNS_FLAG_AD;
	assert_true(reply_finalize_forwarded(&c.q, resp, rlen, ER_EDE_NONE, 1232, out, sizeof(out)));
	assert_false(wire_read_u16(out + 2) & DNS_FLAG_AD);
}

static void test_finalize_rcode_kept(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 0, LDNS_RCODE_NXDOMAIN);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, 512, out, sizeof(out));
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(pkt);
}

static void test_finalize_opt_replaced(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 4096, true);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t base = make_upstream(resp, "www.example.com.", 2, LDNS_RCODE_NOERROR);
	size_t rlen = append_upstream_opt(resp, base, 0);
	size_t len = reply_finalize(&c.q, resp, rlen, EDE_STALE_ANSWER, 1232, out, sizeof(out));
	assert_int_equal(len, base + 11 + 6);
	assert_int_equal(wire_read_u16(out + 10), 2); /* glue + ours */
	assert_memory_equal(out + 12 + c.q.qname_len, resp + 12 + c.q.qname_len,
			    base - 12 - c.q.qname_len);
	static const uint8_t opt[17] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0,
					 0, 6, 0,  15,   0,    2, 0, 3 };
	assert_memory_equal(out + base, opt, sizeof(opt));
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), ER_EDNS_ADVERTISED);
	ldns_edns_option_list *opts = ldns_pkt_edns_get_option_list(pkt);
	assert_int_equal(ldns_edns_option_list_get_count(opts), 1);
	assert_int_equal(ldns_edns_get_code(ldns_edns_option_list_get_option(opts, 0)), 15);
	ldns_pkt_free(pkt);
}

static void test_finalize_opt_removed_no_client_edns(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t base = make_upstream(resp, "www.example.com.", 2, LDNS_RCODE_NOERROR);
	size_t rlen = append_upstream_opt(resp, base, 0);
	size_t len = reply_finalize(&c.q, resp, rlen, EDE_STALE_ANSWER, 512, out, sizeof(out));
	assert_int_equal(len, base);
	assert_int_equal(wire_read_u16(out + 10), 1);
	ldns_pkt *pkt = must_parse(out, len);
	assert_false(ldns_pkt_edns(pkt));
	ldns_pkt_free(pkt);
}

/* Records after the upstream's OPT are cut with it (see reply.c). */
static void test_finalize_opt_mid_additional(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t base = make_upstream(resp, "www.example.com.", 1, LDNS_RCODE_NOERROR);
	size_t rlen = append_upstream_opt(resp, base, 0);
	static const uint8_t glue[] = { 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9 };
	memcpy(resp + rlen, glue, sizeof(glue));
	rlen += sizeof(glue);
	wire_write_u16(resp + 10, 3);
	assert_int_equal(wire_check_response(resp, rlen, 0x5555, c.q.qname, 1, 1), 0);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, 1232, out, sizeof(out));
	assert_int_equal(len, base + 11);
	assert_int_equal(wire_read_u16(out + 10), 2);
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_arcount(pkt), 1); /* ldns counts OPT apart */
	ldns_pkt_free(pkt);
}

/* An upstream extended rcode survives when the client can read it. */
static void test_finalize_ext_rcode(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t base = make_upstream(resp, "www.example.com.", 0, LDNS_RCODE_NOERROR);
	size_t rlen = append_upstream_opt(resp, base, 1);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, 1232, out, sizeof(out));
	assert_int_equal(out[base + 5], 1);
	assert_int_equal(DNS_RCODE(wire_read_u16(out + 2)), 0);
	ldns_pkt_free(must_parse(out, len));

	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, 512, out, sizeof(out));
	assert_int_equal(DNS_RCODE(wire_read_u16(out + 2)), DNS_RCODE_SERVFAIL);
}

static void expect_truncated(const client_t *c, const uint8_t *out, size_t len)
{
	size_t opt = c->q.has_edns ? 11 : 0;
	assert_int_equal(len, c->q.question_end + opt);
	uint16_t flags = wire_read_u16(out + 2);
	assert_true(flags & DNS_FLAG_TC);
	assert_true(flags & DNS_FLAG_QR);
	assert_int_equal(wire_read_u16(out + 4), 1);
	assert_int_equal(wire_read_u16(out + 6), 0);
	assert_int_equal(wire_read_u16(out + 8), 0);
	assert_int_equal(wire_read_u16(out + 10), c->q.has_edns);
	ldns_pkt *pkt = must_parse(out, len);
	assert_true(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_edns(pkt), c->q.has_edns);
	ldns_pkt_free(pkt);
}

static void test_finalize_truncate_plain(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 40, LDNS_RCODE_NOERROR);
	assert_true(rlen > 512);
	size_t limit = reply_size_limit(&c.q, false);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, limit, out, sizeof(out));
	expect_truncated(&c, out, len);
	/* Over TCP the whole answer goes out. */
	limit = reply_size_limit(&c.q, true);
	assert_int_equal(reply_finalize(&c.q, resp, rlen, -1, limit, out, sizeof(out)), rlen);
}

static void test_finalize_truncate_edns(void **state)
{
	(void)state;
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 40, LDNS_RCODE_NOERROR);
	assert_true(rlen > 600 && rlen + 11 <= 1232);
	client_t c;
	/* The client's own size: 600 is too small. */
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 600, true);
	size_t limit = reply_size_limit(&c.q, false);
	size_t len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, limit, out, sizeof(out));
	expect_truncated(&c, out, len);
	assert_int_equal(out[len - 4], 0x80); /* DO still echoed */
	/* 4096 is clamped to 1232, which fits. */
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 4096, true);
	limit = reply_size_limit(&c.q, false);
	len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, limit, out, sizeof(out));
	assert_int_equal(len, rlen + 11);
	ldns_pkt_free(must_parse(out, len));
	/* 256 is raised to 512, which does not. */
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 256, false);
	limit = reply_size_limit(&c.q, false);
	assert_int_equal(limit, 512);
	len = reply_finalize(&c.q, resp, rlen, EDE_STALE_ANSWER, limit, out, sizeof(out));
	assert_int_equal(len, c.q.question_end + 17);
	/* 80 A records: past 1232 even for the largest EDNS client. */
	rlen = make_upstream(resp, "www.example.com.", 80, LDNS_RCODE_NOERROR);
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 65000, false);
	limit = reply_size_limit(&c.q, false);
	len = reply_finalize(&c.q, resp, rlen, ER_EDE_NONE, limit, out, sizeof(out));
	expect_truncated(&c, out, len);
	assert_true(len <= ER_EDNS_ADVERTISED);
}

/*
 * Found by tests/fuzz/fuzz_wire: the second record's owner points at a
 * label (in the first record's rdata) whose 13 bytes run on into the OPT.
 * wire_check_response accepts the whole response, but the relayed copy ends
 * before the OPT, so the name dangled: a plain client got a malformed
 * message. Such a response is now refused (the caller answers SERVFAIL).
 */
static void test_finalize_name_runs_into_cut_opt(void **state)
{
	(void)state;
	/* clang-format off */
	static const uint8_t resp[] = {
		0x42, 0x42, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
		/* 33 */ 0xC0, 12, 0, 16, 0, 1, 0, 0, 1, 44, 0, 1, 13, /* rdata: a label of 13 */
		/* 46 */ 0xC0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 0, /* owner: 13 bytes to OPT+1 */
		/* 58 */ 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0,
	};
	/* clang-format on */
	client_t c;
	static uint8_t out[BUF_MAX];
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	assert_int_equal(wire_check_response(resp, sizeof(resp), 0x4242, c.q.qname, c.q.qtype,
					     c.q.qclass), 0);
	assert_int_equal(reply_finalize(&c.q, resp, sizeof(resp), -1, 512, out, sizeof(out)), 0);
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, false);
	assert_int_equal(reply_finalize(&c.q, resp, sizeof(resp), -1, 1232, out, sizeof(out)), 0);
}

static void test_finalize_rejects(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, false);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 3, LDNS_RCODE_NOERROR);
	/* Short buffers: nothing half-written is returned. */
	for (size_t cap = 0; cap < rlen + 11; cap++)
		assert_int_equal(reply_finalize(&c.q, resp, rlen, -1, 1232, out, cap), 0);
	/* Every prefix of the response. */
	for (size_t i = 0; i < rlen; i++) {
		uint8_t *copy = malloc(i ? i : 1);
		memcpy(copy, resp, i);
		assert_int_equal(reply_finalize(&c.q, copy, i, -1, 1232, out, sizeof(out)), 0);
		free(copy);
	}
	/* A different question. */
	size_t olen = make_upstream(resp, "www.example.net.", 1, LDNS_RCODE_NOERROR);
	assert_int_equal(reply_finalize(&c.q, resp, olen, -1, 1232, out, sizeof(out)), 0);
	olen = make_upstream(resp, "ww.example.com.", 1, LDNS_RCODE_NOERROR);
	assert_int_equal(reply_finalize(&c.q, resp, olen, -1, 1232, out, sizeof(out)), 0);
	/* Same name, another type. */
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 1232, false);
	rlen = make_upstream(resp, "www.example.com.", 1, LDNS_RCODE_NOERROR);
	assert_int_equal(reply_finalize(&c.q, resp, rlen, -1, 1232, out, sizeof(out)), 0);
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, false);
	/* No question at all. */
	rlen = make_upstream(resp, "www.example.com.", 1, LDNS_RCODE_NOERROR);
	wire_write_u16(resp + 4, 0);
	assert_int_equal(reply_finalize(&c.q, resp, rlen, -1, 1232, out, sizeof(out)), 0);
}

/* Random corruption of an upstream answer: judged by the sanitizers. */
static void test_finalize_mutations(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1232, true);
	static uint8_t resp[BUF_MAX], out[BUF_MAX];
	size_t rlen = make_upstream(resp, "www.example.com.", 3, LDNS_RCODE_NOERROR);
	rlen = append_upstream_opt(resp, rlen, 0);
	uint32_t x = 12345;
	for (int iter = 0; iter < 100000; iter++) {
		uint8_t *copy = malloc(rlen);
		memcpy(copy, resp, rlen);
		for (int n = 0; n < 3; n++) {
			x = x * 1103515245u + 12345u;
			copy[(x >> 8) % rlen] = (uint8_t)(x >> 24);
		}
		size_t len = reply_finalize(&c.q, copy, rlen, 3, 512, out, 1232);
		assert_true(len <= 512);
		free(copy);
	}
}

static void check_txt(const client_t *c, const char *text, size_t nstrings)
{
	static uint8_t out[BUF_MAX];
	size_t len = reply_build_txt(&c->q, text, out, sizeof(out));
	ldns_pkt *pkt = must_parse(out, len);
	assert_int_equal(ldns_pkt_id(pkt), 0xC1C1);
	assert_true(ldns_pkt_qr(pkt) && ldns_pkt_aa(pkt) && ldns_pkt_ra(pkt));
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	assert_int_equal(ldns_pkt_edns(pkt), c->q.has_edns);
	assert_memory_equal(out + 12, c->q.qname, c->q.qname_len);
	ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(pkt), 0);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_TXT);
	assert_int_equal(ldns_rr_get_class(rr), LDNS_RR_CLASS_CH);
	assert_int_equal(ldns_rr_ttl(rr), 0);
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(question)), 0);
	assert_int_equal(ldns_rr_rd_count(rr), nstrings);
	size_t total = 0;
	for (size_t i = 0; i < nstrings; i++) {
		ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		size_t n = ldns_rdf_data(rdf)[0];
		assert_true(n <= 255);
		assert_memory_equal(ldns_rdf_data(rdf) + 1, text + total, n);
		total += n;
	}
	assert_int_equal(total, strlen(text));
	ldns_pkt_free(pkt);
	for (size_t cap = 0; cap < len; cap++)
		assert_int_equal(reply_build_txt(&c->q, text, out, cap), 0);
}

static void test_txt(void **state)
{
	(void)state;
	client_t c;
	make_client(&c, "Version.BIND.", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, 0, false);
	check_txt(&c, "erdns 0.1.0", 1);
	check_txt(&c, "", 1);
	make_client(&c, "outlook.office.com.", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, 1232, true);
	char big[601];
	memset(big, 'r', 600);
	big[600] = '\0';
	check_txt(&c, big, 3);
	big[510] = '\0';
	check_txt(&c, big, 2);
	big[255] = '\0';
	check_txt(&c, big, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_upstream_query),
		cmocka_unit_test(test_upstream_query_no_client_edns),
		cmocka_unit_test(test_error_plain),
		cmocka_unit_test(test_error_edns_ede),
		cmocka_unit_test(test_error_edns_no_ede),
		cmocka_unit_test(test_error_badvers),
		cmocka_unit_test(test_error_no_question),
		cmocka_unit_test(test_error_notimp_opcode),
		cmocka_unit_test(test_tsig_badkey),
		cmocka_unit_test(test_cap_ttls),
		cmocka_unit_test(test_finalize_case_and_id),
		cmocka_unit_test(test_finalize_header_bits),
		cmocka_unit_test(test_finalize_rcode_kept),
		cmocka_unit_test(test_finalize_opt_replaced),
		cmocka_unit_test(test_finalize_opt_removed_no_client_edns),
		cmocka_unit_test(test_finalize_opt_mid_additional),
		cmocka_unit_test(test_finalize_ext_rcode),
		cmocka_unit_test(test_finalize_truncate_plain),
		cmocka_unit_test(test_finalize_truncate_edns),
		cmocka_unit_test(test_finalize_rejects),
		cmocka_unit_test(test_finalize_name_runs_into_cut_opt),
		cmocka_unit_test(test_finalize_mutations),
		cmocka_unit_test(test_txt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
