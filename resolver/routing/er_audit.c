/*
 * Judging an answer against a route's ExpressRoute prefixes.
 *
 * The walk: resolvers put a CNAME chain in order, but RFC 1035 does not ask
 * them to, so the answer section is passed over, following each link owned
 * by the current name as it comes, until a pass finds none (an ordered
 * chain: one pass and a check; at most ER_AUDIT_CNAME_MAX links, and never
 * more than there are records, so a loop ends). Then the records owned by
 * the last name are judged: only those, because an answer may carry
 * unrelated addresses (a server's glue, a DNAME's synthesis) that the
 * client never uses. Owner names are compared where they lie in the packet
 * (wire_name_equal: a byte or two per record that does not match); only
 * CNAME targets are copied out. Measured with tests/bench/bench_audit on
 * the shared 2-vCPU build machine (CPU time, medians): expanding every
 * owner for every comparison cost ~600 ns for Outlook's three-link chain;
 * this costs ~300 ns there and ~60 ns for a lone A record, against ~14 us
 * of CPU per forwarded miss (contrib/bench).
 *
 * An address of a family for which the route's list has no prefix at all
 * is not judged: the 2026 Worldwide list was published without IPv6
 * prefixes, and calling every AAAA answer "outside" would turn a gap in
 * the data into alarms (and, under `fallback`, into internet traffic).
 */
#include "routing/er_audit.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dname.h"
#include "dns/wire.h"

#define RR_FIXED_LEN 10 /* type, class, ttl, rdlength (RFC 1035 4.1.3) */

/* The answer section of one message. */
typedef struct walk {
	const uint8_t *pkt;
	size_t len;
	size_t start; /* of the answer section */
	uint16_t ancount;
} walk_t;

/* One answer record; its owner name stays where it is in the packet. */
typedef struct rr {
	size_t owner; /* offset */
	uint16_t type, rclass, rdlen;
	size_t rdata; /* offset */
} rr_t;

static int walk_init(walk_t *w, const uint8_t *pkt, size_t len)
{
	if (len < ER_DNS_HEADER_LEN || wire_read_u16(pkt + 4) != 1)
		return -EBADMSG;
	size_t pos = ER_DNS_HEADER_LEN;
	if (wire_skip_name(pkt, len, &pos) < 0 || len - pos < 4)
		return -EBADMSG;
	*w = (walk_t){.pkt = pkt, .len = len, .start = pos + 4, .ancount = wire_read_u16(pkt + 6)};
	return 0;
}

/* Past the owner name at *pos, in place: labels up to the root or a
 * pointer. The name itself is checked where it is read (wire_name_equal). */
static bool skip_owner(const walk_t *w, size_t *pos)
{
	size_t p = *pos;
	while (p < w->len) {
		uint8_t b = w->pkt[p];
		if (b == 0 || (b & 0xC0) == 0xC0) {
			*pos = p + (b == 0 ? 1 : 2);
			return *pos <= w->len;
		}
		if (b > 63)
			return false;
		p += 1u + b;
	}
	return false;
}

/* Reads the record at *pos and moves past it; false when malformed. */
static bool next_rr(const walk_t *w, size_t *pos, rr_t *rr)
{
	rr->owner = *pos;
	if (!skip_owner(w, pos) || w->len - *pos < RR_FIXED_LEN)
		return false;
	const uint8_t *p = w->pkt + *pos;
	rr->type = wire_read_u16(p);
	rr->rclass = wire_read_u16(p + 2);
	rr->rdlen = wire_read_u16(p + 8);
	rr->rdata = *pos + RR_FIXED_LEN;
	if (w->len - rr->rdata < rr->rdlen)
		return false;
	*pos = rr->rdata + rr->rdlen;
	return true;
}

/* One pass over the answer section that follows every CNAME owned by the
 * current name, in order of appearance (so an ordered chain takes one
 * pass), spending *budget links. Returns the links followed, or -EBADMSG. */
static int follow_pass(const walk_t *w, uint8_t name[ER_DNAME_MAX], unsigned *budget)
{
	size_t pos = w->start;
	int followed = 0;
	rr_t rr;
	for (uint16_t i = 0; i < w->ancount; i++) {
		if (!next_rr(w, &pos, &rr))
			return -EBADMSG;
		if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN || *budget == 0 ||
		    !wire_name_equal(w->pkt, w->len, rr.owner, name))
			continue;
		size_t target = rr.rdata;
		if (wire_read_name(w->pkt, w->len, &target, name) == 0)
			return -EBADMSG;
		(*budget)--;
		followed++;
	}
	return followed;
}

static void judge_one(const prefixset_t *ps, int family, const uint8_t *addr,
		      er_audit_visitor_t *vis, er_judgement_t *out)
{
	prefix_hit_t hit;
	er_verdict_t v = ER_VERDICT_NONE;
	if (prefixset_count(ps, family) == 0) {
		out->n_unjudged++;
	} else if (prefixset_match(ps, family, addr, vis != NULL ? &hit : NULL)) {
		out->n_inside++;
		v = ER_VERDICT_INSIDE;
	} else {
		v = ER_VERDICT_OUTSIDE;
		if (out->n_outside++ == 0) {
			out->outside_family = family;
			memcpy(out->outside_addr, addr, family == AF_INET ? 4 : 16);
		}
		if (vis != NULL) /* only the CLI pays for the nearest prefix */
			prefixset_nearest(ps, family, addr, &hit);
	}
	if (vis != NULL)
		vis->on_address(vis->ctx, family, addr, v, v == ER_VERDICT_NONE ? NULL : &hit);
}

static int judge_addresses(const walk_t *w, const uint8_t *name, const prefixset_t *ps,
			   er_audit_visitor_t *vis, er_judgement_t *out)
{
	size_t pos = w->start;
	rr_t rr;
	for (uint16_t i = 0; i < w->ancount; i++) {
		if (!next_rr(w, &pos, &rr))
			return -EBADMSG;
		bool is_a = rr.type == DNS_TYPE_A && rr.rdlen == 4;
		bool is_aaaa = rr.type == DNS_TYPE_AAAA && rr.rdlen == 16;
		if ((is_a || is_aaaa) && rr.rclass == DNS_CLASS_IN &&
		    wire_name_equal(w->pkt, w->len, rr.owner, name))
			judge_one(ps, is_a ? AF_INET : AF_INET6, w->pkt + rr.rdata, vis, out);
	}
	return 0;
}

int er_audit_judge(const prefixset_t *ps, const uint8_t *qname, const uint8_t *resp, size_t len,
		   er_judgement_t *out)
{
	return er_audit_judge_visit(ps, qname, resp, len, NULL, out);
}

int er_audit_judge_visit(const prefixset_t *ps, const uint8_t *qname, const uint8_t *resp,
			 size_t len, er_audit_visitor_t *vis, er_judgement_t *out)
{
	*out = (er_judgement_t){.verdict = ER_VERDICT_NONE};
	walk_t w;
	uint8_t name[ER_DNAME_MAX];
	size_t qlen = dname_wire_len(qname, ER_DNAME_MAX);
	int rc = qlen ? walk_init(&w, resp, len) : -EBADMSG;
	if (rc != 0)
		return rc;
	memcpy(name, qname, qlen);
	unsigned budget = w.ancount < ER_AUDIT_CNAME_MAX ? w.ancount : ER_AUDIT_CNAME_MAX;
	while ((rc = follow_pass(&w, name, &budget)) > 0 && budget > 0)
		;
	if (rc >= 0 && vis != NULL)
		memcpy(vis->end, name, dname_wire_len(name, ER_DNAME_MAX));
	if (rc >= 0)
		rc = judge_addresses(&w, name, ps, vis, out);
	if (rc != 0) {
		*out = (er_judgement_t){.verdict = ER_VERDICT_NONE};
		return rc;
	}
	out->verdict = out->n_outside  ? ER_VERDICT_OUTSIDE
		       : out->n_inside ? ER_VERDICT_INSIDE
				       : ER_VERDICT_NONE;
	return 0;
}

const char *er_verdict_name(er_verdict_t v)
{
	static const char *const names[ER_VERDICT_COUNT] = {
	    [ER_VERDICT_UNJUDGED] = "unjudged",
	    [ER_VERDICT_INSIDE] = "inside",
	    [ER_VERDICT_OUTSIDE] = "outside",
	    [ER_VERDICT_NONE] = "none",
	};
	return v < ER_VERDICT_COUNT ? names[v] : "unjudged";
}

er_word_t er_word_of(bool is_fallback, er_verdict_t v)
{
	if (is_fallback)
		return ER_WORD_OFF;
	if (v == ER_VERDICT_INSIDE)
		return ER_WORD_INSIDE;
	return v == ER_VERDICT_OUTSIDE ? ER_WORD_OUTSIDE : ER_WORD_UNKNOWN;
}

er_word_t er_word_worse(er_word_t a, er_word_t b)
{
	return a > b ? a : b;
}

const char *er_word_name(er_word_t w)
{
	static const char *const names[] = {
	    [ER_WORD_NA] = "n/a",  [ER_WORD_UNKNOWN] = "unknown", [ER_WORD_INSIDE] = "inside",
	    [ER_WORD_OFF] = "off", [ER_WORD_OUTSIDE] = "outside",
	};
	return (size_t)w < sizeof(names) / sizeof(names[0]) ? names[w] : "unknown";
}
