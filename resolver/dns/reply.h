/*
 * Building what erdns sends: queries to upstreams and replies to clients.
 * All functions write into a caller-provided buffer and never allocate.
 */
#ifndef ERDNS_DNS_REPLY_H
#define ERDNS_DNS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

#define ER_EDE_NONE (-1)
/* RFC 8914 Extended DNS Error codes erdns emits. */
enum {
	EDE_STALE_ANSWER = 3,
	EDE_PROHIBITED = 18,
	EDE_NOT_READY = 14,
	EDE_NOT_AUTHORITATIVE = 20,
	EDE_NO_REACHABLE_AUTHORITY = 22,
	EDE_NETWORK_ERROR = 23,
};

/* The largest reply a client may receive: TCP 65535; UDP with EDNS
 * min(max(client's size, 512), 1232); UDP without EDNS 512. */
size_t reply_size_limit(const dns_query_t *q, bool is_tcp);

/*
 * The query erdns forwards upstream: the given id, RD=1, CD copied from the
 * client, the client's question (case preserved), and an OPT RR advertising
 * ER_EDNS_ADVERTISED with the client's DO bit. Client EDNS options (ECS,
 * cookies...) are not copied; option (a whole EDNS option: code, length,
 * data; option_len bytes) is added when non-NULL, which is how `ecs: pass`
 * and `ecs: PREFIX` reach the upstream. Returns the length written, 0 if cap
 * is short.
 */
size_t reply_build_upstream_query(const dns_query_t *q, uint16_t id, const uint8_t *option,
				  size_t option_len, uint8_t *out, size_t cap);

/*
 * An EDNS Client Subnet option (RFC 7871 6) announcing family (AF_INET or
 * AF_INET6) address/prefix_len with scope 0; address bits past the prefix
 * are zeroed. Returns the option length (4 + 4 + ceil(prefix/8)), 0 if cap
 * is short or the prefix is out of range.
 */
size_t reply_build_ecs_option(int family, const uint8_t *address, uint8_t prefix_len,
			      uint8_t *out, size_t cap);

/* True when option (as in dns_query_t.ecs) is a well-formed ECS option a
 * client may send: known family, prefix in range, address exactly
 * ceil(prefix/8) bytes, scope 0 (RFC 7871 6, 7.1.1). */
bool reply_ecs_is_valid(const uint8_t *option, size_t option_len);

/*
 * An answer-less reply with the given rcode: client's id, opcode and RD, QR=1,
 * RA=1, CD copied; the client's question when it was parsed (q->qname != NULL);
 * an OPT RR if the client sent one (with an EDE option when ede >= 0, and the
 * extended rcode bits for rcodes > 15). For an opcode other than QUERY: QR,
 * the opcode and RD only, and no question (RFC 6895 2.2: the other bits and
 * the question's format belong to QUERY). Returns the length, 0 if cap is
 * short.
 */
size_t reply_build_error(const dns_query_t *q, int rcode, int ede, uint8_t *out, size_t cap);

/*
 * The reply to a signed query (q->tsig set: WIRE_TSIG) when erdns holds no
 * key: NOTAUTH with an unsigned TSIG RR, error BADKEY (RFC 8945 5.2.1).
 * Returns the length, 0 if cap is short.
 */
size_t reply_build_tsig_badkey(const dns_query_t *q, uint8_t *out, size_t cap);

/*
 * Makes a complete response (from an upstream or a local zone) the client's:
 * copies resp to out, sets the client's ID, writes the client's question
 * bytes over the response's (same name modulo case: exact case echo), removes
 * the response's OPT RR, and appends erdns' own OPT if the client used EDNS
 * (advertising ER_EDNS_ADVERTISED, DO echoed, an EDE option when ede >= 0).
 * If the result exceeds limit it is cut to header + question + OPT with
 * TC=1 and zero answer/authority/additional records.
 * Returns the length written, 0 when resp is malformed or cap is short.
 */
size_t reply_finalize(const dns_query_t *q, const uint8_t *resp, size_t resp_len, int ede,
		      size_t limit, uint8_t *out, size_t cap);

/*
 * reply_finalize for an answer erdns obtained from an upstream or its cache:
 * additionally RA=1 and AA=0, because erdns answers as a recursive service,
 * not as the authority behind it (as Unbound does for forwarded answers).
 */
size_t reply_finalize_forwarded(const dns_query_t *q, const uint8_t *resp, size_t resp_len,
				int ede, size_t limit, uint8_t *out, size_t cap);

/* The largest message reply_cap_ttls accepts (a DNS message's limit). */
#define ER_REPLY_CAP_MAX 65535

/*
 * Lowers every record's TTL in msg (answer, authority and additional
 * sections; not the OPT pseudo-record) to at most max_ttl, in place: what a
 * client sees of an answer from a fallback group (SPEC 2.2). Returns 0, or
 * -EBADMSG when msg cannot be walked (then nothing was changed).
 */
int reply_cap_ttls(uint8_t *msg, size_t len, uint32_t max_ttl);

/*
 * A CHAOS-class TXT answer (AA=1, TTL 0) with one string split into
 * <=255-byte character-strings, for id.server, version.server, hostname.bind
 * and the routing check. Returns the length, 0 if cap is short.
 */
size_t reply_build_txt(const dns_query_t *q, const char *text, uint8_t *out, size_t cap);

#endif
