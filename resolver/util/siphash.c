/*
 * SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012, with one compression and three finalisation rounds), moved here
 * from cache/key.c unchanged so the client rate limit shares it.
 */
#include "util/siphash.h"

#include <string.h>

#define SIP_C0	      0x736f6d6570736575ull /* "somepseudorandomlygeneratedbytes" */
#define SIP_C1	      0x646f72616e646f6dull
#define SIP_C2	      0x6c7967656e657261ull
#define SIP_C3	      0x7465646279746573ull
#define SIP_FINAL_XOR 0xffu

typedef struct sip {
	uint64_t v0, v1, v2, v3;
} sip_t;

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static void sip_round(sip_t *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static uint64_t read_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v)); /* one load; the compiler drops the copy */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static void sip_absorb(sip_t *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	s->v0 ^= m;
}

uint64_t siphash13(const uint8_t key[ER_SIPHASH_KEY_LEN], const uint8_t *buf, size_t len)
{
	uint64_t k0 = read_le64(key), k1 = read_le64(key + 8);
	sip_t s = {k0 ^ SIP_C0, k1 ^ SIP_C1, k0 ^ SIP_C2, k1 ^ SIP_C3};
	size_t whole = len & ~(size_t)7;
	for (size_t i = 0; i < whole; i += 8)
		sip_absorb(&s, read_le64(buf + i));
	uint64_t last = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)buf[whole + i] << (8 * i);
	sip_absorb(&s, last);
	s.v2 ^= SIP_FINAL_XOR;
	for (int i = 0; i < 3; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
