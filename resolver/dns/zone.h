/*
 * Local zones (SPEC 2.3): RFC 1035 master files loaded with ldns, answered
 * authoritatively: exact matches, in-zone CNAME chains, wildcards (RFC 4592),
 * NODATA and NXDOMAIN with the SOA in authority (TTL = min(SOA TTL, SOA
 * minimum), RFC 2308 3), ANY answered minimally (RFC 8482: one RRset).
 * Immutable after loading; safe for concurrent readers.
 */
#ifndef ERDNS_DNS_ZONE_H
#define ERDNS_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

typedef struct zoneset zoneset_t;

/* NULL on allocation failure. */
zoneset_t *zoneset_new(void);
void zoneset_free(zoneset_t *zs);

/*
 * Loads one master file. The apex is the owner of its SOA record (which is
 * required, as is at least one NS). $ORIGIN and $TTL are honoured; relative
 * names without $ORIGIN are an error. Returns 0; on failure -EINVAL/-ENOENT
 * with "FILE:LINE: what is wrong" in err (LINE omitted when not known), and
 * -EEXIST when another loaded zone has the same apex.
 */
int zoneset_load(zoneset_t *zs, const char *path, char *err, size_t errlen);

/* The apex (wire form) of the deepest zone containing qname, or NULL. */
const uint8_t *zoneset_find(const zoneset_t *zs, const uint8_t *qname);

/*
 * Answers q from the deepest zone containing q->qname. Writes a complete
 * response (the client's ID and question, QR=1, AA=1, RD copied, no OPT)
 * into out and returns its length; returns 0 when no zone contains the
 * name or cap is short (a caller then answers SERVFAIL).
 */
size_t zoneset_answer(const zoneset_t *zs, const dns_query_t *q, uint8_t *out, size_t cap);

size_t zoneset_count(const zoneset_t *zs);
/* Text apex and record count of zone i, for `erdns check`. */
const char *zoneset_apex_text(const zoneset_t *zs, size_t i);
size_t zoneset_record_count(const zoneset_t *zs, size_t i);
const char *zoneset_file(const zoneset_t *zs, size_t i);

#endif
