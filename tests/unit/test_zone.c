/*
 * Local zones: loading errors with their file and line, and every kind of
 * answer, checked by parsing zoneset_answer's output back with ldns.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/dname.h"
#include "dns/wire.h"
#include "dns/zone.h"

#define ZONES ERDNS_FIXTURES "/zones/"
#define BRANCH ZONES "branch.example.test.zone"
#define NESTED ZONES "nested.branch.example.test.zone"
#define QID 0xbeef

struct answer {
	uint8_t qname[ER_DNAME_MAX];
	uint8_t wire[4096];
	size_t len;
	ldns_pkt *pkt;
};

static dns_query_t make_query(const char *name, uint16_t qtype, uint16_t qclass,
			      uint8_t qname[ER_DNAME_MAX])
{
	size_t len = dname_from_text(name, qname);
	assert_true(len > 0);
	return (dns_query_t){ .id = QID, .flags = DNS_FLAG_RD, .qname = qname, .qname_len = len,
			      .qtype = qtype, .qclass = qclass };
}

/* Asks and parses the reply; a->pkt is freed by answer_done. */
static void ask_class(const zoneset_t *zs, const char *name, uint16_t qtype, uint16_t qclass,
		      struct answer *a)
{
	dns_query_t q = make_query(name, qtype, qclass, a->qname);
	a->len = zoneset_answer(zs, &q, a->wire, sizeof(a->wire));
	assert_true(a->len > 0);
	assert_int_equal(ldns_wire2pkt(&a->pkt, a->wire, a->len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(a->pkt), QID);
	assert_true(ldns_pkt_qr(a->pkt));
	assert_true(ldns_pkt_rd(a->pkt));
	assert_true(ldns_pkt_ra(a->pkt));
	assert_int_equal(ldns_pkt_qdcount(a->pkt), 1);
	assert_int_equal(ldns_pkt_arcount(a->pkt), 0); /* no OPT */
	/* The question is the client's bytes, case included. */
	assert_memory_equal(a->wire + ER_DNS_HEADER_LEN, a->qname, q.qname_len);
	assert_int_equal(wire_read_u16(a->wire + ER_DNS_HEADER_LEN + q.qname_len), qtype);
}

static void ask(const zoneset_t *zs, const char *name, uint16_t qtype, struct answer *a)
{
	ask_class(zs, name, qtype, DNS_CLASS_IN, a);
}

static void answer_done(struct answer *a)
{
	ldns_pkt_free(a->pkt);
	a->pkt = NULL;
}

static void assert_owner(const ldns_rr *rr, const char *name)
{
	ldns_rdf *want = ldns_dname_new_frm_str(name);
	assert_non_null(want);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(rr), want), 0);
	ldns_rdf_deep_free(want);
}

/* Record i of a section: owner, type and TTL. */
static const ldns_rr *assert_rr(const ldns_rr_list *list, size_t i, const char *owner,
				ldns_rr_type type, uint32_t ttl)
{
	assert_true(i < ldns_rr_list_rr_count(list));
	const ldns_rr *rr = ldns_rr_list_rr(list, i);
	assert_owner(rr, owner);
	assert_int_equal(ldns_rr_get_type(rr), type);
	assert_int_equal(ldns_rr_ttl(rr), ttl);
	return rr;
}

static void assert_rdata(const ldns_rr *rr, const char *text)
{
	char *got = ldns_rdf2str(ldns_rr_rdf(rr, 0));
	assert_string_equal(got, text);
	free(got);
}

/* NOERROR/NXDOMAIN with the SOA (of apex, capped TTL) alone in authority. */
static void assert_negative(const struct answer *a, ldns_pkt_rcode rcode, size_t ancount,
			    const char *apex, uint32_t soa_ttl)
{
	assert_int_equal(ldns_pkt_get_rcode(a->pkt), rcode);
	assert_true(ldns_pkt_aa(a->pkt));
	assert_int_equal(ldns_pkt_ancount(a->pkt), ancount);
	assert_int_equal(ldns_pkt_nscount(a->pkt), 1);
	assert_rr(ldns_pkt_authority(a->pkt), 0, apex, LDNS_RR_TYPE_SOA, soa_ttl);
}

static void assert_positive(const struct answer *a, size_t ancount)
{
	assert_int_equal(ldns_pkt_get_rcode(a->pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(a->pkt));
	assert_int_equal(ldns_pkt_ancount(a->pkt), ancount);
	assert_int_equal(ldns_pkt_nscount(a->pkt), 0);
}

static int setup_branch(void **state)
{
	zoneset_t *zs = zoneset_new();
	char err[512] = "";
	assert_non_null(zs);
	assert_int_equal(zoneset_load(zs, BRANCH, err, sizeof(err)), 0);
	*state = zs;
	return 0;
}

static int teardown_zs(void **state)
{
	zoneset_free(*state);
	return 0;
}

/* ---- loading ----------------------------------------------------------- */

static int load_one(const char *path, char *err, size_t errlen)
{
	zoneset_t *zs = zoneset_new();
	assert_non_null(zs);
	int rc = zoneset_load(zs, path, err, errlen);
	assert_int_equal(zoneset_count(zs), rc == 0 ? 1 : 0);
	zoneset_free(zs);
	return rc;
}

/* Loads text written to a temporary file; err gets the message with the
 * file's name replaced by "ZONE" so expectations need not know it. */
static int load_text(const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/erdns-test-zone-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	int rc = load_one(path, err, errlen);
	unlink(path);
	size_t n = strlen(path);
	if (strncmp(err, path, n) == 0) {
		memmove(err + 4, err + n, strlen(err + n) + 1);
		memcpy(err, "ZONE", 4);
	}
	return rc;
}

static void test_load_good(void **state)
{
	const zoneset_t *zs = *state;
	assert_int_equal(zoneset_count(zs), 1);
	assert_string_equal(zoneset_apex_text(zs, 0), "branch.example.test");
	assert_string_equal(zoneset_file(zs, 0), BRANCH);
	/* 20 records in the file, one an exact duplicate. */
	assert_int_equal(zoneset_record_count(zs, 0), 19);
}

/* Also the regression test for ldns 1.8.3 leaking a half-read zone on a
 * syntax error: LeakSanitizer fails this binary if the preflight goes. */
static void test_load_syntax_error_line(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "bad-syntax.zone", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ZONES "bad-syntax.zone:6: Syntax error, could not parse the "
				      "RR's rdata");
}

static void test_load_missing_file(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "does-not-exist.zone", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, ZONES "does-not-exist.zone: "));
}

static void test_load_no_soa(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "no-soa.zone", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ZONES "no-soa.zone: no SOA record (its owner is the zone apex)");
}

static void test_load_no_apex_ns(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "no-ns.zone", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ZONES "no-ns.zone: no NS record at the zone apex nons.test");
}

/* Found by tests/fuzz/fuzz_zone: an SOA written as generic rdata with no
 * fields loaded, and the first negative answer read its MINIMUM field
 * through a NULL rdf (an assertion inside ldns). */
static void test_load_soa_without_fields(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_text("$ORIGIN example.org.\n"
				   "@ IN SOA \\# 0\n"
				   "@ IN NS ns\n",
				   err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "ZONE: the SOA record has 0 fields, not the 7 of MNAME RNAME "
				 "SERIAL REFRESH RETRY EXPIRE MINIMUM");
}

/* Found by tests/fuzz/fuzz_zone: a CNAME written as generic rdata with no
 * usable field loaded, and the first query for its owner read the target
 * through a NULL rdf (an assertion inside ldns). Refused at load now. */
static void test_load_cname_without_target(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_text("$ORIGIN example.org.\n"
				   "@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
				   "@ IN NS ns\n"
				   "www IN CNAME \\# a.b\n",
				   err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "ZONE: the CNAME record of www.example.org has unusable rdata "
				 "(0 fields); write it in its type's own syntax");
	/* the same in proper RFC 3597 form: zero bytes of rdata */
	assert_int_equal(load_text("$ORIGIN example.org.\n"
				   "@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
				   "@ IN NS ns\n"
				   "www IN CNAME \\# 0\n",
				   err, sizeof(err)),
			 -EINVAL);
}

/* Found by tests/fuzz/fuzz_zone: ldns 1.8.3 drops a second SOA but keeps
 * comparing later records with it (use after free); three SOA lines with
 * implicit TTLs crashed the load. A second SOA is now refused at its line. */
static void test_load_second_soa_use_after_free(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_text("$ORIGIN example.org.\n"
				   "@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
				   "@ IN SOA ns2 hostmaster 2 3600 600 86400 60\n"
				   "@ IN SOA ns3 hostmaster 3 3600 600 86400 60\n"
				   "@ IN NS ns\n",
				   err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "ZONE:3: a second SOA record; a file holds one zone, put "
				 "another zone in a file of its own");
}

static void test_load_outside_apex(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "outside.zone", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ZONES "outside.zone: record www.elsewhere.test is outside the "
				      "zone apex inside.test");
}

static void test_load_relative_without_origin(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "relative.zone", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ZONES "relative.zone: relative name \"ns1\" but no $ORIGIN"));
}

static void test_load_cname_and_data(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "cname-and-data.zone", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, ZONES "cname-and-data.zone: www.mixed.test has a CNAME and "
				      "other data (RFC 1034 3.6.2)");
}

static void test_load_not_class_in(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(load_one(ZONES "chaos-class.zone", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "record version.chaos.test is not class IN"));
}

static void test_load_same_apex(void **state)
{
	zoneset_t *zs = *state;
	char err[512];
	assert_int_equal(zoneset_load(zs, ZONES "same-apex.zone", err, sizeof(err)), -EEXIST);
	assert_string_equal(err, ZONES "same-apex.zone: zone branch.example.test is already "
				      "loaded from " BRANCH);
	assert_int_equal(zoneset_count(zs), 1);
}

/* ---- answers -------------------------------------------------------------- */

static void test_exact_a(void **state)
{
	struct answer a;
	ask(*state, "www.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 2);
	const ldns_rr_list *an = ldns_pkt_answer(a.pkt);
	assert_rdata(assert_rr(an, 0, "www.branch.example.test.", LDNS_RR_TYPE_A, 600),
		     "10.1.0.80");
	assert_rdata(assert_rr(an, 1, "www.branch.example.test.", LDNS_RR_TYPE_A, 600),
		     "10.1.0.81");
	answer_done(&a);
}

static void test_exact_aaaa_txt_soa(void **state)
{
	struct answer a;
	ask(*state, "www.branch.example.test", DNS_TYPE_AAAA, &a);
	assert_positive(&a, 1);
	assert_rdata(assert_rr(ldns_pkt_answer(a.pkt), 0, "www.branch.example.test.",
			       LDNS_RR_TYPE_AAAA, 3600),
		     "2001:db8::80");
	answer_done(&a);

	ask(*state, "txt.branch.example.test", DNS_TYPE_TXT, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "txt.branch.example.test.", LDNS_RR_TYPE_TXT, 3600);
	answer_done(&a);

	/* A positive SOA answer keeps its own TTL; only negative ones are capped. */
	ask(*state, "branch.example.test", DNS_TYPE_SOA, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "branch.example.test.", LDNS_RR_TYPE_SOA, 3600);
	answer_done(&a);
}

static void test_case_echo(void **state)
{
	struct answer a;
	ask(*state, "WwW.Branch.EXAMPLE.test", DNS_TYPE_A, &a); /* ask() compares the bytes */
	assert_positive(&a, 2);
	assert_memory_equal(a.wire + ER_DNS_HEADER_LEN, "\3WwW\6Branch\7EXAMPLE\4test", 25);
	answer_done(&a);
}

static void test_cname_chain_in_zone(void **state)
{
	struct answer a;
	ask(*state, "alias.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 4);
	const ldns_rr_list *an = ldns_pkt_answer(a.pkt);
	assert_rdata(assert_rr(an, 0, "alias.branch.example.test.", LDNS_RR_TYPE_CNAME, 120),
		     "alias2.branch.example.test.");
	assert_rdata(assert_rr(an, 1, "alias2.branch.example.test.", LDNS_RR_TYPE_CNAME, 240),
		     "www.branch.example.test.");
	assert_rr(an, 2, "www.branch.example.test.", LDNS_RR_TYPE_A, 600);
	assert_rr(an, 3, "www.branch.example.test.", LDNS_RR_TYPE_A, 600);
	answer_done(&a);
}

static void test_cname_chain_ends_in_nodata(void **state)
{
	struct answer a;
	ask(*state, "alias.branch.example.test", DNS_TYPE_TXT, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 2, "branch.example.test.", 300);
	answer_done(&a);
}

static void test_qtype_cname_not_followed(void **state)
{
	struct answer a;
	ask(*state, "alias.branch.example.test", DNS_TYPE_CNAME, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "alias.branch.example.test.", LDNS_RR_TYPE_CNAME,
		  120);
	answer_done(&a);
}

static void test_cname_out_of_zone(void **state)
{
	struct answer a;
	ask(*state, "ext.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 1);
	assert_rdata(assert_rr(ldns_pkt_answer(a.pkt), 0, "ext.branch.example.test.",
			       LDNS_RR_TYPE_CNAME, 3600),
		     "outlook.office365.com.");
	answer_done(&a);
}

/* RFC 6604: the rcode belongs to the last name of the chain. */
static void test_cname_dangling_nxdomain(void **state)
{
	struct answer a;
	ask(*state, "dangling.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NXDOMAIN, 1, "branch.example.test.", 300);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "dangling.branch.example.test.",
		  LDNS_RR_TYPE_CNAME, 3600);
	answer_done(&a);
}

static void test_cname_loop_bounded(void **state)
{
	struct answer a;
	ask(*state, "loop1.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 2);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "loop1.branch.example.test.", LDNS_RR_TYPE_CNAME,
		  3600);
	assert_rr(ldns_pkt_answer(a.pkt), 1, "loop2.branch.example.test.", LDNS_RR_TYPE_CNAME,
		  3600);
	answer_done(&a);
}

static void test_nodata(void **state)
{
	struct answer a;
	ask(*state, "www.branch.example.test", DNS_TYPE_TXT, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 0, "branch.example.test.", 300);
	answer_done(&a);
}

static void test_nxdomain(void **state)
{
	struct answer a;
	ask(*state, "nope.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NXDOMAIN, 0, "branch.example.test.", 300);
	answer_done(&a);
	/* Below an existing name with no wildcard there: still NXDOMAIN. */
	ask(*state, "x.www.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NXDOMAIN, 0, "branch.example.test.", 300);
	answer_done(&a);
}

/* b.c and c exist only as ancestors of a.b.c: NODATA, not NXDOMAIN. */
static void test_empty_non_terminal(void **state)
{
	struct answer a;
	ask(*state, "b.c.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 0, "branch.example.test.", 300);
	answer_done(&a);
	ask(*state, "C.branch.example.test", DNS_TYPE_ANY, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 0, "branch.example.test.", 300);
	answer_done(&a);
	ask(*state, "x.b.c.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NXDOMAIN, 0, "branch.example.test.", 300);
	answer_done(&a);
	ask(*state, "a.b.c.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 1);
	answer_done(&a);
}

static void test_wildcard(void **state)
{
	struct answer a;
	ask(*state, "Host1.dyn.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 1);
	assert_rdata(assert_rr(ldns_pkt_answer(a.pkt), 0, "host1.dyn.branch.example.test.",
			       LDNS_RR_TYPE_A, 60),
		     "10.1.9.9");
	answer_done(&a);

	/* Closest encloser dyn covers deeper names too (RFC 4592 2.2.1). */
	ask(*state, "x.y.dyn.branch.example.test", DNS_TYPE_TXT, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "x.y.dyn.branch.example.test.", LDNS_RR_TYPE_TXT,
		  60);
	answer_done(&a);

	/* The wildcard owns no AAAA: NODATA, not NXDOMAIN. */
	ask(*state, "host1.dyn.branch.example.test", DNS_TYPE_AAAA, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 0, "branch.example.test.", 300);
	answer_done(&a);

	/* dyn itself is an empty non-terminal, which the wildcard does not cover. */
	ask(*state, "dyn.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NOERROR, 0, "branch.example.test.", 300);
	answer_done(&a);

	/* Asking for the wildcard owner itself is an exact match. */
	ask(*state, "*.dyn.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "*.dyn.branch.example.test.", LDNS_RR_TYPE_A, 60);
	answer_done(&a);
}

static void test_wildcard_cname(void **state)
{
	struct answer a;
	ask(*state, "foo.cn.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 3);
	const ldns_rr_list *an = ldns_pkt_answer(a.pkt);
	assert_rdata(assert_rr(an, 0, "foo.cn.branch.example.test.", LDNS_RR_TYPE_CNAME, 3600),
		     "www.branch.example.test.");
	assert_rr(an, 1, "www.branch.example.test.", LDNS_RR_TYPE_A, 600);
	answer_done(&a);
}

/* RFC 8482: one RRset, never the whole node. */
static void test_any_minimal(void **state)
{
	struct answer a;
	ask(*state, "www.branch.example.test", DNS_TYPE_ANY, &a);
	assert_positive(&a, 2);
	for (size_t i = 0; i < 2; i++)
		assert_rr(ldns_pkt_answer(a.pkt), i, "www.branch.example.test.", LDNS_RR_TYPE_A,
			  600);
	answer_done(&a);

	ask(*state, "branch.example.test", DNS_TYPE_ANY, &a);
	assert_positive(&a, 2); /* the two NS, not the SOA too */
	assert_rr(ldns_pkt_answer(a.pkt), 0, "branch.example.test.", LDNS_RR_TYPE_NS, 3600);
	assert_rr(ldns_pkt_answer(a.pkt), 1, "branch.example.test.", LDNS_RR_TYPE_NS, 3600);
	answer_done(&a);

	/* At a CNAME, ANY is the CNAME, not followed. */
	ask(*state, "alias.branch.example.test", DNS_TYPE_ANY, &a);
	assert_positive(&a, 1);
	assert_rr(ldns_pkt_answer(a.pkt), 0, "alias.branch.example.test.", LDNS_RR_TYPE_CNAME,
		  120);
	answer_done(&a);
}

static void test_class_any_answers(void **state)
{
	struct answer a;
	ask_class(*state, "www.branch.example.test", DNS_TYPE_A, DNS_CLASS_ANY, &a);
	assert_positive(&a, 2);
	answer_done(&a);
}

static void test_refused(void **state)
{
	struct answer a;
	ask_class(*state, "www.branch.example.test", DNS_TYPE_TXT, DNS_CLASS_CH, &a);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_REFUSED);
	assert_false(ldns_pkt_aa(a.pkt));
	assert_int_equal(ldns_pkt_ancount(a.pkt) + ldns_pkt_nscount(a.pkt), 0);
	answer_done(&a);

	ask(*state, "branch.example.test", DNS_TYPE_AXFR, &a);
	assert_int_equal(ldns_pkt_get_rcode(a.pkt), LDNS_RCODE_REFUSED);
	assert_false(ldns_pkt_aa(a.pkt));
	answer_done(&a);
}

static void test_rd_copied(void **state)
{
	uint8_t qname[ER_DNAME_MAX], out[512];
	dns_query_t q = make_query("www.branch.example.test", DNS_TYPE_A, DNS_CLASS_IN, qname);
	q.flags = 0;
	size_t len = zoneset_answer(*state, &q, out, sizeof(out));
	assert_true(len > 0);
	uint16_t flags = wire_read_u16(out + 2);
	assert_int_equal(flags & DNS_FLAG_RD, 0);
	assert_int_equal(flags & (DNS_FLAG_QR | DNS_FLAG_AA | DNS_FLAG_RA),
			 DNS_FLAG_QR | DNS_FLAG_AA | DNS_FLAG_RA);
}

static void test_not_ours_or_short(void **state)
{
	uint8_t qname[ER_DNAME_MAX], out[512];
	dns_query_t q = make_query("www.example.test", DNS_TYPE_A, DNS_CLASS_IN, qname);
	assert_int_equal(zoneset_answer(*state, &q, out, sizeof(out)), 0);
	q = make_query("www.branch.example.test", DNS_TYPE_A, DNS_CLASS_IN, qname);
	size_t full = zoneset_answer(*state, &q, out, sizeof(out));
	assert_true(full > 0);
	assert_int_equal(zoneset_answer(*state, &q, out, full - 1), 0);
	assert_int_equal(zoneset_answer(*state, &q, out, full), full);
}

/* ---- several zones ------------------------------------------------------- */

static void test_nested_deepest_wins(void **state)
{
	zoneset_t *zs = *state;
	char err[512] = "";
	assert_int_equal(zoneset_load(zs, NESTED, err, sizeof(err)), 0);
	assert_int_equal(zoneset_count(zs), 2);
	assert_string_equal(zoneset_apex_text(zs, 1), "nested.branch.example.test");
	assert_int_equal(zoneset_record_count(zs, 1), 4);

	uint8_t name[ER_DNAME_MAX], apex[ER_DNAME_MAX];
	dname_from_text("WWW.nested.branch.example.test", name);
	dname_from_text("nested.branch.example.test", apex);
	assert_non_null(zoneset_find(zs, name));
	assert_true(dname_equal(zoneset_find(zs, name), apex));
	dname_from_text("www.branch.example.test", name);
	dname_from_text("branch.example.test", apex);
	assert_true(dname_equal(zoneset_find(zs, name), apex));
	dname_from_text("example.test", name);
	assert_null(zoneset_find(zs, name));

	struct answer a;
	ask(zs, "www.nested.branch.example.test", DNS_TYPE_A, &a);
	assert_positive(&a, 1);
	assert_rdata(assert_rr(ldns_pkt_answer(a.pkt), 0, "www.nested.branch.example.test.",
			       LDNS_RR_TYPE_A, 60),
		     "10.2.0.80");
	answer_done(&a);
	ask(zs, "nope.nested.branch.example.test", DNS_TYPE_A, &a);
	assert_negative(&a, LDNS_RCODE_NXDOMAIN, 0, "nested.branch.example.test.", 30);
	answer_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_good, setup_branch, teardown_zs),
		cmocka_unit_test(test_load_syntax_error_line),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_no_soa),
		cmocka_unit_test(test_load_no_apex_ns),
		cmocka_unit_test(test_load_soa_without_fields),
		cmocka_unit_test(test_load_cname_without_target),
		cmocka_unit_test(test_load_second_soa_use_after_free),
		cmocka_unit_test(test_load_outside_apex),
		cmocka_unit_test(test_load_relative_without_origin),
		cmocka_unit_test(test_load_cname_and_data),
		cmocka_unit_test(test_load_not_class_in),
		cmocka_unit_test_setup_teardown(test_load_same_apex, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_exact_a, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_exact_aaaa_txt_soa, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_case_echo, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_cname_chain_in_zone, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_cname_chain_ends_in_nodata, setup_branch,
						teardown_zs),
		cmocka_unit_test_setup_teardown(test_qtype_cname_not_followed, setup_branch,
						teardown_zs),
		cmocka_unit_test_setup_teardown(test_cname_out_of_zone, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_cname_dangling_nxdomain, setup_branch,
						teardown_zs),
		cmocka_unit_test_setup_teardown(test_cname_loop_bounded, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_nodata, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_nxdomain, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_empty_non_terminal, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_wildcard, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_wildcard_cname, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_any_minimal, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_class_any_answers, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_refused, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_rd_copied, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_not_ours_or_short, setup_branch, teardown_zs),
		cmocka_unit_test_setup_teardown(test_nested_deepest_wins, setup_branch,
						teardown_zs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
