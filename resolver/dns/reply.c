/*
 * Writing DNS messages into caller buffers (RFC 1035 4.1, RFC 6891, RFC 8914).
 *
 * Every builder first computes the exact length it will write, returns 0 if
 * that does not fit cap, and only then writes; so a short buffer never gets
 * a half-written message and the writers below need no checks of their own.
 *
 * reply_finalize relays an upstream answer byte for byte. Only three things
 * change: the ID, the question name's case (same length, so no compression
 * pointer moves) and the OPT record. The response's OPT is cut together with
 * any additional record after it: records before it keep their offsets, and
 * records after it (in practice only TSIG/SIG(0), meaningless to our client)
 * could hold pointers into each other that would break if shifted. Rejected:
 * re-encoding through ldns (allocates, and re-compresses differently) and
 * rewriting pointers (complex for no practical gain).
 */
#include "dns/reply.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dname.h"

#define RR_FIXED_LEN 10 /* type, class, ttl, rdlength (RFC 1035 4.1.3) */
#define OPT_RR_LEN (1 + RR_FIXED_LEN) /* root owner + fixed part */
#define EDE_OPTION_CODE 15 /* RFC 8914 2 */
#define EDE_OPTION_LEN 6 /* code, length, info-code; no EXTRA-TEXT */
#define TXT_CHUNK_MAX 255 /* RFC 1035 3.3: <character-string> */
#define TCP_MSG_MAX 65535 /* RFC 1035 4.2.2: 16-bit length prefix */
#define COMPRESSED_QNAME 0xC00Cu /* pointer to the question name at offset 12 */

_Static_assert(ER_UDP_PLAIN_MAX <= ER_EDNS_ADVERTISED, "EDNS size below the RFC 1035 minimum");

typedef struct header {
	uint16_t id, flags, qd, an, ns, ar;
} header_t;

size_t reply_size_limit(const dns_query_t *q, bool is_tcp)
{
	if (is_tcp)
		return TCP_MSG_MAX;
	if (!q->has_edns || q->edns_udp_size < ER_UDP_PLAIN_MAX)
		return ER_UDP_PLAIN_MAX;
	if (q->edns_udp_size > ER_EDNS_ADVERTISED)
		return ER_EDNS_ADVERTISED;
	return q->edns_udp_size;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
	wire_write_u16(p, v);
	return p + 2;
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

static uint8_t *put_header(uint8_t *p, const header_t *h)
{
	p = put_u16(p, h->id);
	p = put_u16(p, h->flags);
	p = put_u16(p, h->qd);
	p = put_u16(p, h->an);
	p = put_u16(p, h->ns);
	return put_u16(p, h->ar);
}

static uint8_t *put_question(uint8_t *p, const dns_query_t *q)
{
	p = put_bytes(p, q->qname, q->qname_len);
	p = put_u16(p, q->qtype);
	return put_u16(p, q->qclass);
}

static size_t opt_len(int ede)
{
	return OPT_RR_LEN + (ede >= 0 ? EDE_OPTION_LEN : 0);
}

/* Our OPT: always version 0 and ER_EDNS_ADVERTISED; ext_rcode is the high
 * 8 bits of a 12-bit rcode (RFC 6891 6.1.3). */
static uint8_t *put_opt(uint8_t *p, uint8_t ext_rcode, bool is_do, int ede)
{
	*p++ = 0; /* root owner */
	p = put_u16(p, DNS_TYPE_OPT);
	p = put_u16(p, ER_EDNS_ADVERTISED);
	*p++ = ext_rcode;
	*p++ = 0; /* version */
	p = put_u16(p, is_do ? DNS_EDNS_DO : 0);
	if (ede < 0)
		return put_u16(p, 0);
	p = put_u16(p, EDE_OPTION_LEN);
	p = put_u16(p, EDE_OPTION_CODE);
	p = put_u16(p, 2);
	return put_u16(p, (uint16_t)ede);
}

size_t reply_build_upstream_query(const dns_query_t *q, uint16_t id, const uint8_t *option,
				  size_t option_len, uint8_t *out, size_t cap)
{
	if (option == NULL)
		option_len = 0;
	size_t need = ER_DNS_HEADER_LEN + q->qname_len + 4 + opt_len(ER_EDE_NONE) + option_len;
	if (q->qname == NULL || need > cap || option_len > UINT16_MAX - 2)
		return 0;
	header_t h = {
		.id = id,
		.flags = DNS_FLAG_RD | (q->flags & DNS_FLAG_CD),
		.qd = 1,
		.ar = 1,
	};
	uint8_t *p = put_header(out, &h);
	p = put_question(p, q);
	p = put_opt(p, 0, q->edns_do, ER_EDE_NONE);
	if (option_len > 0) {
		wire_write_u16(p - 2, (uint16_t)option_len); /* RDLENGTH, 0 before */
		put_bytes(p, option, option_len);
	}
	return need;
}

#define ECS_FAMILY_IPV4 1 /* RFC 7871 6: IANA address family numbers */
#define ECS_FAMILY_IPV6 2

size_t reply_build_ecs_option(int family, const uint8_t *address, uint8_t prefix_len,
			      uint8_t *out, size_t cap)
{
	uint8_t max = family == AF_INET ? 32 : 128;
	if ((family != AF_INET && family != AF_INET6) || prefix_len > max)
		return 0;
	size_t addr_len = (prefix_len + 7u) / 8u;
	size_t need = 4 + 4 + addr_len;
	if (need > cap)
		return 0;
	uint8_t *p = put_u16(out, DNS_EDNS_OPTION_ECS);
	p = put_u16(p, (uint16_t)(4 + addr_len));
	p = put_u16(p, family == AF_INET ? ECS_FAMILY_IPV4 : ECS_FAMILY_IPV6);
	*p++ = prefix_len;
	*p++ = 0; /* scope prefix length: 0 in queries */
	memcpy(p, address, addr_len);
	if (prefix_len % 8)
		p[addr_len - 1] &= (uint8_t)(0xFFu << (8 - prefix_len % 8));
	return need;
}

bool reply_ecs_is_valid(const uint8_t *option, size_t option_len)
{
	if (option == NULL || option_len < 8)
		return false;
	uint16_t family = wire_read_u16(option + 4);
	uint8_t prefix = option[6], scope = option[7];
	uint8_t max = family == ECS_FAMILY_IPV4 ? 32 : family == ECS_FAMILY_IPV6 ? 128 : 0;
	if (max == 0 || prefix > max || scope != 0)
		return false;
	return option_len == 8 + (prefix + 7u) / 8u;
}

#define ER_OPCODE_MASK 0x7800u

/* QUERY: the client's opcode, RD and CD; QR and RA set; AA, TC, AD and
 * rcode cleared. Any other opcode: RA, AD and CD are only defined for
 * QUERY (RFC 1035 4.1.1, RFC 6895 2.2), so QR, the opcode and RD alone. */
static uint16_t reply_flags(const dns_query_t *q)
{
	if (DNS_OPCODE(q->flags) != 0)
		return (uint16_t)((q->flags & (ER_OPCODE_MASK | DNS_FLAG_RD)) | DNS_FLAG_QR);
	uint16_t keep = (uint16_t)(ER_OPCODE_MASK | DNS_FLAG_RD | DNS_FLAG_CD);
	return (uint16_t)((q->flags & keep) | DNS_FLAG_QR | DNS_FLAG_RA);
}

size_t reply_build_error(const dns_query_t *q, int rcode, int ede, uint8_t *out, size_t cap)
{
	/* An unknown opcode's question section has no known format: none back. */
	bool has_question = q->qname != NULL && DNS_OPCODE(q->flags) == 0;
	size_t need = ER_DNS_HEADER_LEN + (has_question ? q->qname_len + 4 : 0) +
		      (q->has_edns ? opt_len(ede) : 0);
	if (need > cap)
		return 0;
	header_t h = {
		.id = q->id,
		.flags = (uint16_t)(reply_flags(q) | (rcode & 0xF)),
		.qd = has_question,
		.ar = q->has_edns,
	};
	uint8_t *p = put_header(out, &h);
	if (has_question)
		p = put_question(p, q);
	if (q->has_edns)
		put_opt(p, (uint8_t)(rcode >> 4), q->edns_do, ede);
	return need;
}

/* What reply_finalize needs to know about an upstream response. */
typedef struct resp_scan {
	size_t question_end; /* end of the question */
	size_t keep_end; /* end of the records relayed (the OPT and after cut) */
	uint16_t kept_ar; /* additional records before the OPT */
	uint8_t ext_rcode; /* upstream OPT's extended rcode bits */
} resp_scan_t;

static int scan_rrs(const uint8_t *resp, size_t len, size_t *pos, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (wire_skip_rr(resp, len, pos, NULL, NULL) < 0)
			return -1;
	}
	return 0;
}

static int scan_additional(const uint8_t *resp, size_t len, size_t pos, resp_scan_t *s)
{
	uint16_t arcount = wire_read_u16(resp + 10);
	s->keep_end = pos;
	for (uint16_t i = 0; i < arcount; i++) {
		size_t rr = pos;
		uint16_t type, rdlen;
		if (wire_skip_rr(resp, len, &pos, &type, &rdlen) < 0)
			return -1;
		if (type == DNS_TYPE_OPT) {
			/* Owner is the root (1 byte), so the TTL's first byte is at +5. */
			s->ext_rcode = resp[rr] == 0 ? resp[rr + 5] : 0;
			return 0;
		}
		s->keep_end = pos;
		s->kept_ar++;
	}
	return 0;
}

static int scan_response(const dns_query_t *q, const uint8_t *resp, size_t len, resp_scan_t *s)
{
	memset(s, 0, sizeof(*s));
	if (len < ER_DNS_HEADER_LEN || wire_read_u16(resp + 4) != 1)
		return -1;
	size_t pos = ER_DNS_HEADER_LEN;
	size_t nlen = dname_wire_len(resp + pos, len - pos);
	if (nlen != q->qname_len || len - pos - nlen < 4 || !dname_equal(resp + pos, q->qname))
		return -1;
	pos += nlen;
	if (wire_read_u16(resp + pos) != q->qtype || wire_read_u16(resp + pos + 2) != q->qclass)
		return -1;
	pos += 4;
	s->question_end = pos;
	size_t an_ns = (size_t)wire_read_u16(resp + 6) + wire_read_u16(resp + 8);
	if (scan_rrs(resp, len, &pos, an_ns) < 0 || scan_additional(resp, len, pos, s) < 0)
		return -1;
	/* The relayed records end at keep_end, but a compression pointer in
	 * one of them may reach labels that run on into the OPT (replaced or
	 * dropped) or past it: such a name would dangle in the copy. */
	size_t kept = s->question_end;
	if (s->keep_end < len && scan_rrs(resp, s->keep_end, &kept, an_ns + s->kept_ar) < 0)
		return -1;
	return 0;
}

/*
 * The response's flags as the client must see them. RD and CD are the
 * client's: RFC 1035 4.1.1 copies RD into the response, RFC 4035 3.2.2 says
 * a server MUST copy CD, and an upstream (or a cache entry shared by
 * clients that differ in RD) may not have. AD is the upstream's, shown only
 * to a client that asked for it with AD=1 (RFC 6840 5.7) or DO=1 (RFC 4035
 * 3.2.3). Without EDNS the client cannot see rcode bits above 15; rather
 * than let e.g. BADCOOKIE (23) read as YXRRSET (23 & 0xF = 7), report
 * SERVFAIL.
 */
static uint16_t relay_flags(const dns_query_t *q, const uint8_t *resp, uint8_t ext_rcode)
{
	uint16_t from_client = DNS_FLAG_RD | DNS_FLAG_CD;
	uint16_t flags = wire_read_u16(resp + 2);
	bool wants_ad = (q->flags & DNS_FLAG_AD) || q->edns_do;
	flags = (uint16_t)((flags & ~(from_client | (wants_ad ? 0 : DNS_FLAG_AD))) |
			   (q->flags & from_client));
	if (ext_rcode != 0 && !q->has_edns)
		flags = (uint16_t)((flags & ~0xFu) | DNS_RCODE_SERVFAIL);
	return flags;
}

size_t reply_finalize(const dns_query_t *q, const uint8_t *resp, size_t resp_len, int ede,
		      size_t limit, uint8_t *out, size_t cap)
{
	resp_scan_t s;
	if (q->qname == NULL || scan_response(q, resp, resp_len, &s) < 0)
		return 0;
	size_t opt = q->has_edns ? opt_len(ede) : 0;
	header_t h = {
		.id = q->id,
		.flags = relay_flags(q, resp, s.ext_rcode),
		.qd = 1,
		.an = wire_read_u16(resp + 6),
		.ns = wire_read_u16(resp + 8),
		.ar = (uint16_t)(s.kept_ar + q->has_edns),
	};
	size_t need = s.keep_end + opt;
	bool is_truncated = need > limit;
	if (is_truncated) {
		need = s.question_end + opt;
		h.flags |= DNS_FLAG_TC;
		h.an = h.ns = 0;
		h.ar = q->has_edns;
	}
	if (need > cap)
		return 0;
	uint8_t *p = put_header(out, &h);
	p = put_question(p, q);
	if (!is_truncated)
		p = put_bytes(p, resp + s.question_end, s.keep_end - s.question_end);
	if (q->has_edns)
		put_opt(p, s.ext_rcode, q->edns_do, ede);
	return need;
}

static size_t txt_rdata_len(size_t text_len)
{
	size_t chunks = text_len == 0 ? 1 : (text_len + TXT_CHUNK_MAX - 1) / TXT_CHUNK_MAX;
	return text_len + chunks;
}

static uint8_t *put_txt_rdata(uint8_t *p, const char *text, size_t text_len)
{
	do {
		size_t n = text_len < TXT_CHUNK_MAX ? text_len : TXT_CHUNK_MAX;
		*p++ = (uint8_t)n;
		p = put_bytes(p, text, n);
		text += n;
		text_len -= n;
	} while (text_len > 0);
	return p;
}

size_t reply_build_txt(const dns_query_t *q, const char *text, uint8_t *out, size_t cap)
{
	size_t text_len = strlen(text);
	size_t rdlen = txt_rdata_len(text_len);
	size_t need = ER_DNS_HEADER_LEN + q->qname_len + 4 + 2 + RR_FIXED_LEN + rdlen +
		      (q->has_edns ? opt_len(ER_EDE_NONE) : 0);
	if (q->qname == NULL || rdlen > UINT16_MAX || need > cap)
		return 0;
	header_t h = {
		.id = q->id,
		.flags = (uint16_t)(reply_flags(q) | DNS_FLAG_AA),
		.qd = 1,
		.an = 1,
		.ar = q->has_edns,
	};
	uint8_t *p = put_header(out, &h);
	p = put_question(p, q);
	p = put_u16(p, COMPRESSED_QNAME);
	p = put_u16(p, DNS_TYPE_TXT);
	p = put_u16(p, DNS_CLASS_CH);
	p = put_u16(p, 0); /* TTL: the answer may change with each reload */
	p = put_u16(p, 0);
	p = put_u16(p, (uint16_t)rdlen);
	p = put_txt_rdata(p, text, text_len);
	if (q->has_edns)
		put_opt(p, 0, q->edns_do, ER_EDE_NONE);
	return need;
}

size_t reply_finalize_forwarded(const dns_query_t *q, const uint8_t *resp, size_t resp_len,
				int ede, size_t limit, uint8_t *out, size_t cap)
{
	size_t len = reply_finalize(q, resp, resp_len, ede, limit, out, cap);
	if (len > 0) {
		uint16_t flags = wire_read_u16(out + 2);
		wire_write_u16(out + 2, (uint16_t)((flags | DNS_FLAG_RA) & ~DNS_FLAG_AA));
	}
	return len;
}

/* Records a message can hold: each takes at least 11 bytes (root name,
 * type, class, TTL, rdlength). */
#define ER_MAX_RRS (ER_REPLY_CAP_MAX / 11 + 1)

/*
 * Two passes, as in cache/policy.c: every TTL offset is found before any is
 * written, because a compression pointer may land inside an earlier
 * record's TTL field and lowering it first would change a name the walk
 * still has to skip.
 */
int reply_cap_ttls(uint8_t *msg, size_t len, uint32_t max_ttl)
{
	static _Thread_local uint16_t ttl_off[ER_MAX_RRS];
	if (len < ER_DNS_HEADER_LEN || len > ER_REPLY_CAP_MAX)
		return -EBADMSG;
	size_t pos = ER_DNS_HEADER_LEN;
	if (wire_read_u16(msg + 4) != 1 || wire_skip_name(msg, len, &pos) < 0 || len - pos < 4)
		return -EBADMSG;
	pos += 4;
	size_t count = (size_t)wire_read_u16(msg + 6) + wire_read_u16(msg + 8) +
		       wire_read_u16(msg + 10);
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		uint16_t type = 0, rdlen = 0;
		if (wire_skip_rr(msg, len, &pos, &type, &rdlen) < 0 || n >= ER_MAX_RRS)
			return -EBADMSG;
		if (type != DNS_TYPE_OPT) /* its TTL field is the extended rcode and flags */
			ttl_off[n++] = (uint16_t)(pos - rdlen - 6);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = msg + ttl_off[i];
		uint32_t ttl = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		if (ttl > max_ttl) { /* RFC 2181 8: top bit set counts as 0, also lowered */
			ttl = ttl & 0x80000000u ? 0 : max_ttl;
			p[0] = (uint8_t)(ttl >> 24);
			p[1] = (uint8_t)(ttl >> 16);
			p[2] = (uint8_t)(ttl >> 8);
			p[3] = (uint8_t)ttl;
		}
	}
	return 0;
}

/* RFC 8945 5.2.1 and 4.5.2: the key is unknown, so the error reply is
 * NOTAUTH carrying a TSIG RR with error BADKEY and no MAC, the key name,
 * algorithm, time signed and fudge copied from the request, and the
 * request's original ID. */
#define TSIG_ERROR_BADKEY 17
#define TSIG_RR_FIXED 10 /* type, class, ttl, rdlength */

size_t reply_build_tsig_badkey(const dns_query_t *q, uint8_t *out, size_t cap)
{
	const uint8_t *rr = q->tsig;
	size_t owner = dname_wire_len(rr, q->tsig_len);
	const uint8_t *rdata = rr + owner + TSIG_RR_FIXED;
	size_t alg = dname_wire_len(rdata, q->tsig_len - owner - TSIG_RR_FIXED);
	size_t mac = wire_read_u16(rdata + alg + 8);
	const uint8_t *orig_id = rdata + alg + 10 + mac;
	size_t rdlen = alg + 8 + 2 + 2 + 2 + 2; /* time+fudge, mac size, id, error, other len */
	size_t tsig = owner + TSIG_RR_FIXED + rdlen;
	size_t need = ER_DNS_HEADER_LEN + q->qname_len + 4 + (q->has_edns ? opt_len(ER_EDE_NONE) : 0) +
		      tsig;
	if (need > cap)
		return 0;
	header_t h = { .id = q->id,
		       .flags = (uint16_t)(reply_flags(q) | DNS_RCODE_NOTAUTH),
		       .qd = 1,
		       .ar = (uint16_t)(1 + q->has_edns) };
	uint8_t *p = put_question(put_header(out, &h), q);
	if (q->has_edns)
		p = put_opt(p, 0, q->edns_do, ER_EDE_NONE);
	p = put_bytes(p, rr, owner);
	p = put_u16(p, DNS_TYPE_TSIG);
	p = put_u16(p, DNS_CLASS_ANY);
	p = put_u16(put_u16(p, 0), 0); /* TTL 0 */
	p = put_u16(p, (uint16_t)rdlen);
	p = put_bytes(p, rdata, alg + 8); /* algorithm, time signed, fudge */
	p = put_u16(p, 0); /* MAC size: unsigned */
	p = put_bytes(p, orig_id, 2);
	p = put_u16(p, TSIG_ERROR_BADKEY);
	put_u16(p, 0); /* other len */
	return need;
}
