/*
 * A bounds-checked scanner for DNS messages (RFC 1035 4.1, RFC 6891 6.1).
 *
 * Every read goes through an explicit "is there room" test against the
 * packet length, so the functions are safe on arbitrary attacker input; the
 * fuzz target in tests/fuzz drives wire_parse_query and wire_check_response.
 * Sections are walked record by record using only the length fields: rdata
 * is never interpreted, except the OPT record whose options are checked to
 * tile its rdata exactly (a malformed OPT is FORMERR per RFC 6891 6.1.2).
 *
 * Compressed names are skipped, not decoded: the position advances past the
 * first pointer. The pointer chain is still validated, because a record we
 * relay whole must not carry a loop that a client would trip over. Each
 * pointer must land strictly before the label run that contains it (which
 * alone rules out loops) and hops are capped anyway as a second guard.
 * Rejected: ldns_wire2pkt for the hot path, since it allocates every RR;
 * accepting forward pointers (legal in theory, never produced by real
 * compressors, and they make loop detection need a visited set).
 */
#include "dns/wire.h"

#include <errno.h>
#include <string.h>

#include "dns/dname.h"

#define RR_FIXED_LEN 10 /* type, class, ttl, rdlength (RFC 1035 4.1.3) */
#define QUESTION_FIXED_LEN 4 /* qtype, qclass */
#define POINTER_HOPS_MAX 64 /* > any sane chain; a name has at most 127 labels */

static bool has_room(size_t len, size_t pos, size_t need)
{
	return pos <= len && len - pos >= need;
}

/*
 * Follows a pointer chain from target, checking that it ends in the root
 * label within bounds. limit is the offset the current label run started at:
 * every jump must go strictly below it, so the walk cannot revisit a byte.
 */
static int check_pointer_chain(const uint8_t *pkt, size_t len, size_t target, size_t limit,
			       size_t name_len)
{
	for (int hops = 0; hops < POINTER_HOPS_MAX; hops++) {
		if (target < ER_DNS_HEADER_LEN || target >= limit)
			return -EBADMSG;
		size_t p = target;
		limit = target;
		for (;;) {
			if (p >= len)
				return -EBADMSG;
			uint8_t b = pkt[p];
			if (b == 0)
				return 0;
			if ((b & 0xC0) == 0xC0) {
				if (!has_room(len, p, 2))
					return -EBADMSG;
				target = ((size_t)(b & 0x3F) << 8) | pkt[p + 1];
				break;
			}
			if (b > 63)
				return -EBADMSG; /* 0x40/0x80: obsolete label types */
			name_len += 1u + b;
			if (name_len + 1 > ER_DNAME_MAX)
				return -EBADMSG;
			p += 1u + b;
		}
	}
	return -EBADMSG;
}

int wire_skip_name(const uint8_t *pkt, size_t len, size_t *pos)
{
	size_t start = *pos;
	size_t p = start;
	size_t name_len = 0;
	for (;;) {
		if (p >= len)
			return -EBADMSG;
		uint8_t b = pkt[p];
		if (b == 0) {
			*pos = p + 1;
			return 0;
		}
		if ((b & 0xC0) == 0xC0) {
			if (!has_room(len, p, 2))
				return -EBADMSG;
			size_t target = ((size_t)(b & 0x3F) << 8) | pkt[p + 1];
			int rc = check_pointer_chain(pkt, len, target, start, name_len);
			if (rc < 0)
				return rc;
			*pos = p + 2;
			return 0;
		}
		if (b > 63)
			return -EBADMSG;
		name_len += 1u + b;
		if (name_len + 1 > ER_DNAME_MAX)
			return -EBADMSG;
		p += 1u + b;
	}
}

size_t wire_read_name(const uint8_t *pkt, size_t len, size_t *pos, uint8_t out[ER_DNAME_MAX])
{
	size_t p = *pos, n = 0, after = 0;
	int hops = 0;
	for (;;) {
		if (p >= len)
			return 0;
		uint8_t b = pkt[p];
		if ((b & 0xC0) == 0xC0) {
			if (!has_room(len, p, 2) || ++hops > POINTER_HOPS_MAX)
				return 0;
			if (after == 0)
				after = p + 2;
			p = ((size_t)(b & 0x3F) << 8) | pkt[p + 1];
			continue;
		}
		if (b > 63 || n + 1u + b > ER_DNAME_MAX || !has_room(len, p, 1u + b))
			return 0;
		memcpy(out + n, pkt + p, 1u + b);
		n += 1u + b;
		p += 1u + b;
		if (b == 0) {
			*pos = after != 0 ? after : p;
			return n;
		}
	}
}

static uint8_t fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

bool wire_name_equal(const uint8_t *pkt, size_t len, size_t pos, const uint8_t *name)
{
	int hops = 0;
	for (;;) {
		if (pos >= len)
			return false;
		uint8_t b = pkt[pos];
		if ((b & 0xC0) == 0xC0) {
			if (!has_room(len, pos, 2) || ++hops > POINTER_HOPS_MAX)
				return false;
			pos = ((size_t)(b & 0x3F) << 8) | pkt[pos + 1];
			continue;
		}
		if (b != name[0] || b > 63 || !has_room(len, pos, 1u + b))
			return false; /* name's labels are <= 63: b > 63 cannot equal */
		if (b == 0)
			return true;
		for (size_t i = 1; i <= b; i++) {
			uint8_t x = pkt[pos + i], y = name[i];
			if (x != y && fold(x) != fold(y)) /* equal bytes need no folding */
				return false;
		}
		pos += 1u + b;
		name += 1u + b;
	}
}

int wire_skip_rr(const uint8_t *pkt, size_t len, size_t *pos, uint16_t *type, uint16_t *rdlen)
{
	size_t p = *pos;
	int rc = wire_skip_name(pkt, len, &p);
	if (rc < 0)
		return rc;
	if (!has_room(len, p, RR_FIXED_LEN))
		return -EBADMSG;
	uint16_t t = wire_read_u16(pkt + p);
	uint16_t rl = wire_read_u16(pkt + p + 8);
	p += RR_FIXED_LEN;
	if (!has_room(len, p, rl))
		return -EBADMSG;
	*pos = p + rl;
	if (type)
		*type = t;
	if (rdlen)
		*rdlen = rl;
	return 0;
}

/* The question name must be uncompressed: nothing precedes it to point at. */
static int parse_question(const uint8_t *pkt, size_t len, dns_query_t *q)
{
	size_t pos = ER_DNS_HEADER_LEN;
	size_t nlen = dname_wire_len(pkt + pos, len - pos);
	if (nlen == 0 || !has_room(len, pos + nlen, QUESTION_FIXED_LEN))
		return -EBADMSG;
	q->qname = pkt + pos;
	q->qname_len = nlen;
	pos += nlen;
	q->qtype = wire_read_u16(pkt + pos);
	q->qclass = wire_read_u16(pkt + pos + 2);
	q->question_end = pos + QUESTION_FIXED_LEN;
	return 0;
}

/* EDNS options must tile the rdata exactly (RFC 6891 6.1.2). Notes where
 * the client's ECS option is, for `ecs: pass`. */
static int check_opt_options(const uint8_t *rdata, size_t rdlen, dns_query_t *q)
{
	size_t p = 0;
	while (p < rdlen) {
		if (!has_room(rdlen, p, 4))
			return -EBADMSG;
		uint16_t code = wire_read_u16(rdata + p);
		size_t olen = wire_read_u16(rdata + p + 2);
		if (!has_room(rdlen, p + 4, olen))
			return -EBADMSG;
		if (code == DNS_EDNS_OPTION_ECS && q->ecs == NULL) {
			q->ecs = rdata + p;
			q->ecs_len = (uint16_t)(4 + olen);
		}
		p += 4 + olen;
	}
	return 0;
}

/* rr is the OPT's owner offset, end the offset just past its rdata. */
static int parse_opt(const uint8_t *pkt, size_t rr, size_t end, uint16_t rdlen, dns_query_t *q)
{
	if (q->has_edns || pkt[rr] != 0)
		return -EBADMSG; /* a second OPT, or owner not the root */
	const uint8_t *fixed = pkt + rr + 1;
	if (check_opt_options(pkt + end - rdlen, rdlen, q) < 0)
		return -EBADMSG;
	q->has_edns = true;
	q->edns_udp_size = wire_read_u16(fixed + 2);
	q->edns_version = fixed[5];
	q->edns_do = (wire_read_u16(fixed + 6) & DNS_EDNS_DO) != 0;
	return 0;
}

/*
 * RFC 8945 4.2: owner and algorithm are uncompressed names (they are part
 * of what is signed), class ANY, TTL 0; rdata: algorithm, time signed (48
 * bits), fudge, MAC size and MAC, original ID, error, other len and other
 * data, exactly filling rdlength. rr: the owner's offset, end: past rdata.
 */
static int parse_tsig(const uint8_t *pkt, size_t rr, size_t end, uint16_t rdlen, dns_query_t *q)
{
	size_t owner = dname_wire_len(pkt + rr, end - rr);
	if (owner == 0 || !has_room(end, rr + owner, RR_FIXED_LEN))
		return -EBADMSG;
	const uint8_t *fixed = pkt + rr + owner;
	if (wire_read_u16(fixed + 2) != DNS_CLASS_ANY || wire_read_u16(fixed + 4) != 0 ||
	    wire_read_u16(fixed + 6) != 0)
		return -EBADMSG;
	size_t p = end - rdlen;
	size_t alg = dname_wire_len(pkt + p, end - p);
	if (alg == 0 || !has_room(end, p + alg, 10))
		return -EBADMSG;
	p += alg + 8; /* time signed, fudge */
	size_t mac = wire_read_u16(pkt + p);
	if (!has_room(end, p + 2, mac + 6))
		return -EBADMSG;
	p += 2 + mac + 4; /* MAC, original ID, error */
	if (p + 2 + wire_read_u16(pkt + p) != end)
		return -EBADMSG;
	q->tsig = pkt + rr;
	q->tsig_len = (uint16_t)(end - rr);
	return 0;
}

static int parse_additional(const uint8_t *pkt, size_t len, uint16_t arcount, dns_query_t *q)
{
	size_t pos = q->question_end;
	for (uint16_t i = 0; i < arcount; i++) {
		size_t rr = pos;
		uint16_t type, rdlen;
		if (wire_skip_rr(pkt, len, &pos, &type, &rdlen) < 0)
			return -EBADMSG;
		if (type == DNS_TYPE_OPT && parse_opt(pkt, rr, pos, rdlen, q) < 0)
			return -EBADMSG;
		if (type == DNS_TYPE_TSIG &&
		    (i + 1 != arcount || parse_tsig(pkt, rr, pos, rdlen, q) < 0))
			return -EBADMSG; /* RFC 8945 5.1: the last record, well-formed */
	}
	return pos == len ? 0 : -EBADMSG; /* trailing garbage */
}

static void clear_edns(dns_query_t *q)
{
	q->has_edns = false;
	q->edns_version = 0;
	q->edns_udp_size = 0;
	q->edns_do = false;
	q->ecs = NULL;
	q->ecs_len = 0;
	q->tsig = NULL;
	q->tsig_len = 0;
}

wire_status_t wire_parse_query(const uint8_t *pkt, size_t len, dns_query_t *q)
{
	memset(q, 0, sizeof(*q));
	if (len < ER_DNS_HEADER_LEN)
		return WIRE_DROP;
	q->id = wire_read_u16(pkt);
	q->flags = wire_read_u16(pkt + 2);
	if (q->flags & DNS_FLAG_QR)
		return WIRE_DROP;
	uint16_t qdcount = wire_read_u16(pkt + 4);
	bool has_question = qdcount == 1 && parse_question(pkt, len, q) == 0;
	if (DNS_OPCODE(q->flags) != 0)
		return WIRE_NOTIMP;
	if (!has_question || wire_read_u16(pkt + 6) != 0 || wire_read_u16(pkt + 8) != 0)
		return WIRE_FORMERR;
	if (parse_additional(pkt, len, wire_read_u16(pkt + 10), q) < 0) {
		/* The reply to a broken query goes out without OPT: it is the
		 * one form every client can read (RFC 6891 7). */
		clear_edns(q);
		return WIRE_FORMERR;
	}
	if (q->has_edns && q->edns_version != 0)
		return WIRE_BADVERS;
	return q->tsig ? WIRE_TSIG : WIRE_OK;
}

/* Response question: uncompressed, same name modulo case, same type/class. */
static int check_question(const uint8_t *pkt, size_t len, const uint8_t *qname, uint16_t qtype,
			  uint16_t qclass, size_t *pos)
{
	size_t nlen = dname_wire_len(pkt + *pos, len - *pos);
	if (nlen == 0 || !has_room(len, *pos + nlen, QUESTION_FIXED_LEN))
		return -EBADMSG;
	const uint8_t *name = pkt + *pos;
	*pos += nlen;
	if (!dname_equal(name, qname) || wire_read_u16(pkt + *pos) != qtype ||
	    wire_read_u16(pkt + *pos + 2) != qclass)
		return -ENOENT;
	*pos += QUESTION_FIXED_LEN;
	return 0;
}

int wire_check_response(const uint8_t *pkt, size_t len, uint16_t id, const uint8_t *qname,
			uint16_t qtype, uint16_t qclass)
{
	if (len < ER_DNS_HEADER_LEN || !(wire_read_u16(pkt + 2) & DNS_FLAG_QR))
		return -EBADMSG;
	if (wire_read_u16(pkt) != id || wire_read_u16(pkt + 4) != 1)
		return -ENOENT;
	size_t pos = ER_DNS_HEADER_LEN;
	int rc = check_question(pkt, len, qname, qtype, qclass, &pos);
	if (rc < 0)
		return rc;
	size_t rrs = (size_t)wire_read_u16(pkt + 6) + wire_read_u16(pkt + 8) +
		     wire_read_u16(pkt + 10);
	for (size_t i = 0; i < rrs; i++) {
		if (wire_skip_rr(pkt, len, &pos, NULL, NULL) < 0)
			return -EBADMSG;
	}
	return pos == len ? 0 : -EBADMSG;
}
