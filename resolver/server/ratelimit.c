/*
 * The client rate limit's table (ratelimit.h).
 *
 * A bucket is one 64-bit word: the GCRA form of a token bucket (ITU-T
 * I.371's generic cell rate algorithm, as in ATM policing and the
 * "throttled" and redis-cell limiters). It stores the theoretical arrival
 * time `tat`: the moment the bucket will be full again. A query at `now`
 * passes when max(tat, now) - now <= (burst - 1) * interval, and then
 * moves tat on by one interval (1/qps s). That is exactly a bucket of
 * `burst` tokens refilled at qps a second, but tokens and the time they
 * were counted are one number, so one compare-and-swap updates a bucket
 * with no lock, and a worker never sees tokens from one moment and a time
 * from another. Times are in ns (the clock comes in ms): an interval of
 * 1e9/qps ns is exact to one part in a thousand at the largest qps the
 * config allows (1 000 000).
 *
 * Buckets and clients. The table is fixed at start: ER_RATELIMIT_ENTRIES
 * buckets in sets of ER_RATELIMIT_WAYS, one 64-byte cache line per set. A
 * client's keyed hash (util/siphash.h, random key per process) picks its
 * set; each bucket stores the hash of the client that holds it (its tag).
 * A query looks for its tag among the set's four buckets (one line
 * read). A client not found takes over a bucket that is full, that is
 * whose holder has been idle long enough to have its whole burst back:
 * the holder loses nothing, since a full bucket is what it would get
 * anyway. When none of the four is full, four other clients are busy in
 * the set, and the newcomer shares one of their buckets (the same one each
 * time, chosen by its hash) until one of them goes idle: two clients then
 * get one budget between them, which can only make the limit stricter,
 * never let more through. So a client shares only when its set holds four
 * busy clients besides it: with a thousand clients busy at once (16 384
 * sets), a chance of about one in two million for each.
 *
 * Rejected: one bucket per slot with no tag (a direct-mapped table), where
 * a client shares whenever any other busy client hashes to its slot, one
 * chance in 66 with a thousand busy; two candidate slots per client, which reads two cache
 * lines per query for what four ways in one line do; a hash map that
 * grows, whose memory a client with many addresses (an IPv6 /48 has 65 536
 * /64s) could make grow; per-worker tables, which SO_REUSEPORT would let a
 * client multiply by the number of workers.
 *
 * Concurrency. Workers update buckets with compare-and-swap on the bucket
 * word; there is no lock. A client's queries on two workers hit the same
 * word, so it never gets more than its budget (test_ratelimit hammers one
 * bucket from two threads). Taking over a bucket is a CAS on its tag.
 * The tag and the time are two words, so races are possible only when a
 * bucket changes hands, and then cost at most a query counted against the
 * wrong client of the two; a newcomer reads a bucket's time before its
 * tag, so it cannot take a bucket its own first query made busy.
 */
#include "server/ratelimit.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/cacheline.h"

#define NS_PER_S  1000000000ull
#define NS_PER_MS 1000000ull

typedef struct bucket {
	_Atomic uint64_t tag;	 /* its client's hash with the low bit set; 0: never used */
	_Atomic uint64_t tat_ns; /* full again at this time (GCRA); 0: full */
} bucket_t;

typedef struct set {
	_Alignas(ER_CACHE_LINE) bucket_t ways[ER_RATELIMIT_WAYS];
} set_t;

_Static_assert(sizeof(set_t) == ER_CACHE_LINE, "a set is one cache line");
_Static_assert((ER_RATELIMIT_ENTRIES & (ER_RATELIMIT_ENTRIES - 1)) == 0 &&
		   ER_RATELIMIT_ENTRIES % ER_RATELIMIT_WAYS == 0,
	       "whole sets, a power of two of them");

struct ratelimit_table {
	set_t *sets; /* cache-line aligned */
	uint64_t set_mask;
	uint8_t key[ER_SIPHASH_KEY_LEN];
};

ratelimit_table_t *ratelimit_table_new(size_t entries, const uint8_t key[ER_SIPHASH_KEY_LEN])
{
	if (entries < ER_RATELIMIT_WAYS || (entries & (entries - 1)) != 0)
		return NULL;
	size_t n_sets = entries / ER_RATELIMIT_WAYS;
	ratelimit_table_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->sets = aligned_alloc(ER_CACHE_LINE, n_sets * sizeof(set_t));
	if (t->sets == NULL) {
		free(t);
		return NULL;
	}
	memset(t->sets, 0, n_sets * sizeof(set_t)); /* a zeroed bucket is a full one nobody holds */
	t->set_mask = n_sets - 1;
	memcpy(t->key, key, sizeof(t->key));
	return t;
}

void ratelimit_table_free(ratelimit_table_t *t)
{
	if (t == NULL)
		return;
	free(t->sets);
	free(t);
}

/* The client's prefix as 16 bytes in the IPv6 space: IPv4 (plain or
 * mapped) as ::ffff:a.b.c.d, whole; IPv6 with its last 64 bits cleared.
 * False for other families. */
static bool client_prefix(const struct sockaddr *sa, uint8_t out[16])
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (sa->sa_family == AF_INET) {
		memcpy(out, v4mapped, sizeof(v4mapped));
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	if (memcmp(out, v4mapped, sizeof(v4mapped)) != 0)
		memset(out + 8, 0, 8); /* /64 */
	return true;
}

/* The client's bucket in set s: its own, else a full one it takes over,
 * else the one it shares (see the top of the file). */
static bucket_t *find_bucket(set_t *s, uint64_t hash, uint64_t now_ns)
{
	uint64_t tag = hash | 1;
	for (unsigned i = 0; i < ER_RATELIMIT_WAYS; i++) {
		if (atomic_load_explicit(&s->ways[i].tag, memory_order_relaxed) == tag)
			return &s->ways[i];
	}
	for (unsigned i = 0; i < ER_RATELIMIT_WAYS; i++) {
		bucket_t *b = &s->ways[i];
		/* The time first: if another thread of this client has made the
		 * bucket busy, the acquire shows its tag too (tag CAS, then time CAS). */
		uint64_t tat = atomic_load_explicit(&b->tat_ns, memory_order_acquire);
		uint64_t held = atomic_load_explicit(&b->tag, memory_order_relaxed);
		if (held == tag)
			return b;
		if (tat > now_ns)
			continue; /* its holder has tokens out: not ours to take */
		if (atomic_compare_exchange_strong_explicit(
			&b->tag, &held, tag, memory_order_acq_rel, memory_order_relaxed) ||
		    held == tag)
			return b;
		/* another newcomer took it first: try the next */
	}
	return &s->ways[hash % ER_RATELIMIT_WAYS];
}

/* GCRA (top of the file): one token from b, if it has one. */
static bool take_token(bucket_t *b, uint64_t now_ns, uint64_t interval_ns, uint64_t tolerance_ns)
{
	uint64_t tat = atomic_load_explicit(&b->tat_ns, memory_order_acquire);
	for (;;) {
		uint64_t start = tat > now_ns ? tat : now_ns;
		if (start - now_ns > tolerance_ns)
			return false;
		if (atomic_compare_exchange_weak_explicit(&b->tat_ns, &tat, start + interval_ns,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	}
}

bool ratelimit_admit(ratelimit_table_t *t, const struct sockaddr *client, uint32_t qps,
		     uint32_t burst, uint64_t now_ms)
{
	uint8_t prefix[16];
	if (qps == 0 || !client_prefix(client, prefix))
		return true;
	uint64_t hash = siphash13(t->key, prefix, sizeof(prefix));
	/* the high half picks the set, the whole hash is the tag */
	set_t *s = &t->sets[(hash >> 32) & t->set_mask];
	uint64_t interval_ns = NS_PER_S / qps;
	if (interval_ns == 0) /* above 1e9 qps: as good as no limit */
		interval_ns = 1;
	uint64_t tolerance_ns = (uint64_t)(burst > 1 ? burst - 1 : 0) * interval_ns;
	uint64_t now_ns = now_ms * NS_PER_MS;
	return take_token(find_bucket(s, hash, now_ns), now_ns, interval_ns, tolerance_ns);
}
