/*
 * Cache key encoding.
 *
 * Folding: every byte in A-Z is lowered, length octets included. A length
 * octet is at most 63 and 'A' is 65, so this equals RFC 4343 label folding
 * without walking labels.
 *
 * Hash: util/siphash.h, keyed with a random seed per cache. Query names
 * come from the network, so an unkeyed hash (FNV, xxHash with a fixed seed)
 * would let a client aim every name at one hash chain and turn each lookup
 * into a linear scan under a stripe lock. Encoding and hashing a 39-byte
 * key costs about 30 ns here (2-vCPU VM), a third of a hit.
 */
#include "cache/key.h"


size_t key_encode(const cache_key_t *key, uint8_t out[KEY_MAX])
{
	size_t n = key->qname_len;
	if (n == 0 || n > ER_DNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = key->qname[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
	}
	uint8_t *t = out + n;
	t[0] = (uint8_t)(key->chain >> 24);
	t[1] = (uint8_t)(key->chain >> 16);
	t[2] = (uint8_t)(key->chain >> 8);
	t[3] = (uint8_t)key->chain;
	t[4] = (uint8_t)(key->epoch >> 24);
	t[5] = (uint8_t)(key->epoch >> 16);
	t[6] = (uint8_t)(key->epoch >> 8);
	t[7] = (uint8_t)key->epoch;
	wire_write_u16(t + 8, key->qtype);
	wire_write_u16(t + 10, key->qclass);
	t[12] = (uint8_t)((key->is_do ? 1 : 0) | (key->is_cd ? 2 : 0));
	return n + KEY_TAIL_LEN;
}

static uint32_t read_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

bool key_decode(const uint8_t *buf, size_t len, cache_key_t *out)
{
	size_t n = dname_wire_len(buf, len);
	if (n == 0 || n + KEY_TAIL_LEN != len)
		return false;
	const uint8_t *t = buf + n;
	*out = (cache_key_t){
		.qname = buf,
		.qname_len = n,
		.chain = read_be32(t),
		.epoch = read_be32(t + 4),
		.qtype = wire_read_u16(t + 8),
		.qclass = wire_read_u16(t + 10),
		.is_do = (t[12] & 1) != 0,
		.is_cd = (t[12] & 2) != 0,
	};
	return true;
}
