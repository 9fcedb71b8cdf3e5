/*
 * Judging an answer against a route's ExpressRoute prefixes.
 *
 * The walk: resolvers put a CNAME chain in order, but RFC 1035 does not ask
 * them to, so each link is looked up by owner name over the whole answer
 * section (at most ER_AUDIT_CNAME_MAX links, and never more than there are
 * records, so a loop ends). Then the records owned by the last name are
 * judged: only those, because an answer may carry unrelated addresses
 * (a server's glue, a DNAME's synthesis) that the client never uses.
 * Names are expanded (wire_read_name) and compared case-insensitively; an
 * answer is a handful of records, so the rescans cost well under a
 * microsecond and spare us an index.
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

/* One answer record, its owner expanded. */
typedef struct rr {
	uint8_t owner[ER_DNAME_MAX];
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

/* Reads the record at *pos and moves past it; false when malformed. */
static bool next_rr(const walk_t *w, size_t *pos, rr_t *rr)
{
	if (wire_read_name(w->pkt, w->len, pos, rr->owner) == 0 || w->len - *pos < RR_FIXED_LEN)
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

/* Replaces name by the target of the CNAME it owns: 1 done, 0 none, or
 * -EBADMSG. */
static int follow_cname(const walk_t *w, uint8_t name[ER_DNAME_MAX])
{
	size_t pos = w->start;
	rr_t rr;
	for (uint16_t i = 0; i < w->ancount; i++) {
		if (!next_rr(w, &pos, &rr))
			return -EBADMSG;
		if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN ||
		    !dname_equal(rr.owner, name))
			continue;
		size_t target = rr.rdata;
		return wire_read_name(w->pkt, w->len, &target, name) ? 1 : -EBADMSG;
	}
	return 0;
}

static void judge_one(const prefixset_t *ps, int family, const uint8_t *addr,
		      er_audit_visitor_t *vis, er_judgement_t *out)
{
	prefix_hit_t hit;
	er_verdict_t v = ER_VERDICT_NONE;
	if (prefixset_count(ps, family) == 0) {
		out->n_unjudged++;
	} else if (prefixset_match(ps, family, addr, &hit)) {
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
		if ((is_a || is_aaaa) && rr.rclass == DNS_CLASS_IN && dname_equal(rr.owner, name))
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
	for (unsigned hops = 0; hops < ER_AUDIT_CNAME_MAX && hops < w.ancount; hops++) {
		rc = follow_cname(&w, name);
		if (rc <= 0)
			break;
	}
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
