/*
 * Cache keys as bytes (internal to resolver/cache). A key is encoded as the
 * case-folded wire name followed by chain, route epoch, qtype, qclass and the DO/CD
 * flags, so that equality is one length test and one memcmp, and the hash
 * (util/siphash.h) covers every field. The name is self-delimiting (it ends in the root
 * label), so the concatenation is unambiguous.
 */
#ifndef ERDNS_CACHE_KEY_H
#define ERDNS_CACHE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "dns/dname.h"

#define KEY_TAIL_LEN 13 /* chain(4) epoch(4) qtype(2) qclass(2) flags(1) */
#define KEY_MAX (ER_DNAME_MAX + KEY_TAIL_LEN)

/* Writes the encoding of key to out; returns its length, or 0 when
 * key->qname_len is not 1..255. */
size_t key_encode(const cache_key_t *key, uint8_t out[KEY_MAX]);

/* The inverse of key_encode: fills out from buf (len bytes); out->qname
 * points into buf. Returns false when buf is no key encoding. */
bool key_decode(const uint8_t *buf, size_t len, cache_key_t *out);

#endif
