/*
 * Scanning DNS messages without building them (RFC 1035 4.1, RFC 6891).
 * The per-query path needs only the header, the question and the OPT record;
 * ldns would parse and allocate every RR, so this scanner walks the sections
 * by length and never allocates. Everything returned points into the packet.
 */
#ifndef ERDNS_DNS_WIRE_H
#define ERDNS_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dname.h"

#define ER_DNS_HEADER_LEN 12
#define ER_EDNS_ADVERTISED 1232 /* DNS flag day 2020 */
#define ER_UDP_PLAIN_MAX 512 /* RFC 1035 4.2.1, no EDNS */

enum {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_NOTAUTH = 9, /* RFC 8945 5.2: TSIG errors */
	DNS_RCODE_BADVERS = 16, /* extended rcode, needs OPT */
};
enum { DNS_CLASS_IN = 1, DNS_CLASS_CH = 3, DNS_CLASS_ANY = 255 };
enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_TSIG = 250,
	DNS_TYPE_IXFR = 251,
	DNS_TYPE_AXFR = 252,
	DNS_TYPE_ANY = 255,
};
/* Header flag bits (host order of the 16-bit flags word). */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_AA 0x0400u
#define DNS_FLAG_TC 0x0200u
#define DNS_FLAG_RD 0x0100u
#define DNS_FLAG_RA 0x0080u
#define DNS_FLAG_AD 0x0020u
#define DNS_FLAG_CD 0x0010u
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xFu)
#define DNS_RCODE(flags) ((flags) & 0xFu)
#define DNS_EDNS_DO 0x8000u

/* What the pipeline needs to know about a client query. */
typedef struct dns_query {
	uint16_t id;
	uint16_t flags;
	const uint8_t *qname; /* into the packet, uncompressed, client's case */
	size_t qname_len; /* wire length including the root byte */
	uint16_t qtype, qclass;
	size_t question_end; /* offset just past the question */
	bool has_edns;
	uint8_t edns_version;
	uint16_t edns_udp_size; /* as sent by the client */
	bool edns_do;
	const uint8_t *ecs; /* the client's EDNS Client Subnet option (code, length,
			     * data) inside the packet, NULL if none (RFC 7871) */
	uint16_t ecs_len; /* whole option, 4 + OPTION-LENGTH */
	const uint8_t *tsig; /* the TSIG RR (RFC 8945), owner first, NULL if none */
	uint16_t tsig_len; /* the whole RR */
} dns_query_t;

#define DNS_EDNS_OPTION_ECS 8 /* RFC 7871 6 */

/* Result of wire_parse_query. */
typedef enum {
	WIRE_OK = 0,
	WIRE_DROP, /* not even a header, or a response (QR=1): ignore silently */
	WIRE_FORMERR, /* header readable, rest malformed: answer FORMERR */
	WIRE_NOTIMP, /* opcode other than QUERY: answer NOTIMP */
	WIRE_BADVERS, /* EDNS version > 0: answer BADVERS (RFC 6891 6.1.3) */
	WIRE_TSIG, /* signed (a well-formed TSIG RR, last): q->tsig points at it */
} wire_status_t;

/*
 * Parses a client query: exactly one question, no answer/authority records,
 * at most one OPT in the additional section (RFC 6891 6.1.1), and a TSIG RR
 * only as the very last record, class ANY, TTL 0, with rdata that parses
 * (RFC 8945 5.1; anything else is FORMERR). On WIRE_OK and WIRE_TSIG q is
 * filled; on WIRE_FORMERR/NOTIMP/BADVERS q->id, q->flags and (when readable)
 * the question fields are filled so an error reply can be built.
 */
wire_status_t wire_parse_query(const uint8_t *pkt, size_t len, dns_query_t *q);

/*
 * Skips one (possibly compressed) name starting at *pos, advancing *pos past
 * it. Returns 0, or -EBADMSG when it runs off the end or is malformed.
 */
int wire_skip_name(const uint8_t *pkt, size_t len, size_t *pos);

/*
 * Copies the (possibly compressed) name at *pos into out as an uncompressed
 * wire name, advancing *pos past the name as it is in the packet. Returns
 * its wire length, or 0 when it is malformed: off the end, an obsolete
 * label type, longer than ER_DNAME_MAX (255) bytes, or too many pointer hops.
 */
size_t wire_read_name(const uint8_t *pkt, size_t len, size_t *pos, uint8_t out[ER_DNAME_MAX]);

/*
 * Whether the (possibly compressed) name at pos equals name (uncompressed
 * wire, trusted), ASCII case-insensitively, without copying it: most
 * unequal names differ in their first label, so a caller scanning records
 * for an owner pays a byte or two per record. False also when the name at
 * pos is malformed.
 */
bool wire_name_equal(const uint8_t *pkt, size_t len, size_t pos, const uint8_t *name);

/*
 * Skips one resource record at *pos (name, fixed part, rdata).
 * If type/rdlen are non-NULL they receive the RR's type and rdata length; the
 * rdata starts at *pos - rdlen after the call. Returns 0 or -EBADMSG.
 */
int wire_skip_rr(const uint8_t *pkt, size_t len, size_t *pos, uint16_t *type, uint16_t *rdlen);

/*
 * Checks that pkt is a well-formed response to the question we asked:
 * QR=1, the given ID, QDCOUNT=1, and a question equal to qname (case-
 * insensitively), qtype and qclass; and that every section is walkable.
 * Returns 0, or -EBADMSG (malformed) or -ENOENT (does not match).
 */
int wire_check_response(const uint8_t *pkt, size_t len, uint16_t id, const uint8_t *qname,
			uint16_t qtype, uint16_t qclass);

static inline uint16_t wire_read_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void wire_write_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif
