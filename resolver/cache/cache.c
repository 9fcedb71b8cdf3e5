/*
 * The packet cache (SPEC 3): whole responses, one entry per key, bounded by
 * max_mb, shared by all worker threads.
 *
 * How it works. The key (key.c) is hashed with keyed SipHash-1-3; the high
 * half picks one of S lock stripes, the low half a group of that stripe's
 * open-addressed index (index.c: a lookup that misses reads one cache
 * line). An entry is one malloc: the struct, the TTL offsets,
 * the key bytes and the response as stored by policy.c (OPT cut, every TTL
 * already lowered to min(own, lifetime)). A hit is: encode and hash the key
 * (~30 ns), lock the stripe, memcpy the response, write the ID, subtract
 * the elapsed seconds from each TTL at its precomputed offset, set the
 * entry's visited bit, unlock. Nothing is parsed and nothing allocated.
 * The copy happens under the lock, so no pointer into the cache ever
 * escapes and eviction by another thread cannot race with a reader.
 *
 * Memory. Each stripe owns max_mb/S bytes (less the fixed structs) and
 * accounts every entry as the glibc chunk it occupies (8-byte header,
 * 16-byte granules) plus its index table; an insert evicts until it fits,
 * and the table only doubles when the bigger one fits beside the old one,
 * so the accounted total never exceeds max_mb, not even during a rehash.
 * A full table that cannot double makes an insert evict an entry instead,
 * and a smaller max_mb shrinks the table (index_shrink_to_budget). Entries
 * larger than a stripe's share are refused (-E2BIG); S is lowered for
 * small caches so a stripe always holds 4 maximal messages.
 *
 * Eviction is SIEVE (Zhang et al., NSDI 2024) per stripe: a FIFO queue and
 * a hand moving from old to new that spares (and un-marks) visited entries
 * and evicts the first unvisited one, or any entry dead past its stale
 * window on sight. A hit only sets a bit: no list relinking under the lock.
 * Lookups also drop dead entries they find.
 * Rejected: LRU (two neighbour writes per hit, and one scan of unique names
 * flushes it); CLOCK (no better than SIEVE, worse on one-hit wonders);
 * S3-FIFO (a ghost queue and two FIFOs for a small gain over SIEVE on the
 * published traces); a global min-heap by expiry (log n on every insert).
 *
 * Threads: shared with lock striping, S = 16 by default. Measured with
 * tests/bench/bench_cache (medians of 5 runs, CPU time per operation, two
 * full runs; a 2-vCPU VM also running another team's dnsperf benchmark,
 * load average 5-7, so wall-clock throughput was too noisy to quote;
 * docs/cache.md has the table). CPU ns per hit, 1000 hot names,
 * 1 / 2 / 4 threads:
 *   shared, 16 stripes  75-88 / 88-95 / 111-128
 *   shared, one lock    72-87 / 77-95 / 150-160
 *   private per thread  75-76 / 82-88 /  87-98
 * Hit ratio, Zipf(1) over 200k names in 16 MB, 1 / 2 / 4 threads:
 *   shared (either)     96.2-98.2 % at every thread count
 *   private (16 MB / N) 96.4-96.5 / 88.7-89.3 / 81.7-82.1 %
 * Per-worker shards cost nothing in locking but lose hit ratio as workers
 * grow (every worker must hold the popular names in 1/N of the memory:
 * SO_REUSEPORT spreads one client's questions over all of them), make
 * `erdns ctl flush` a message to every loop, and a prefetch or a stale
 * answer learnt by one worker invisible to the others. Striping gives the
 * hit ratio of one cache at the cost of an uncontended mutex (lock+unlock
 * 5.6 ns here, of the ~90). Rejected too: an rwlock (the hit path writes
 * the visited bit and the counters, and rwlocks cost more uncontended).
 */
#include "cache/cache.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/index.h"
#include "cache/key.h"
#include "cache/policy.h"
#include "dns/dname.h"
#include "util/random.h"
#include "util/siphash.h"

#define ER_CACHE_STRIPES_DEFAULT 16 /* see the measurements above */
#define ER_CACHE_STRIPES_MAX 1024
/* A stripe holds at least four maximal messages (RFC 1035 4.2.2: 65535). */
#define STRIPE_MIN_BYTES ((uint64_t)4 * (UINT16_MAX + 1u))
#define INDEX_GROUPS_INITIAL 16 /* per stripe; doubles at 80 % of its slots */
#include "util/cacheline.h"
/* glibc malloc: an 8-byte header, 16-byte granules, 32-byte minimum chunk. */
#define MALLOC_HEADER 8
#define MALLOC_ALIGN 16
#define MALLOC_MIN_CHUNK 32
#define MS_PER_S 1000u

_Static_assert((ER_CACHE_STRIPES_DEFAULT & (ER_CACHE_STRIPES_DEFAULT - 1)) == 0,
	       "stripe count is a power of two");
_Static_assert(ER_CACHE_STALE_TTL_S == 30, "RFC 8767 4 recommends 30 s");
_Static_assert(ER_CACHE_SERVFAIL_TTL_S >= 1 && ER_CACHE_SERVFAIL_TTL_S <= 5,
	       "RFC 9520 failure caching, 1-5 s in erdns");

struct entry {
	struct entry *newer, *older; /* SIEVE queue: cache->head is the newest */
	uint64_t hash;
	uint64_t born_ms, expire_ms, stale_until_ms;
	uint32_t ttl_s;
	uint32_t bytes; /* accounted */
	uint16_t data_len;
	uint16_t n_ttls;
	uint16_t key_len;
	bool is_visited : 1;
	bool is_prefetched : 1;
	bool is_servfail : 1;
	bool is_fallback : 1; /* from a later group than the chain's first */
	uint8_t er_verdict; /* cache_insert_params_t.er_verdict (fits the padding) */
	uint16_t ttl_off[]; /* n_ttls offsets, then the key, then the data */
};

struct stripe {
	_Alignas(ER_CACHE_LINE) pthread_mutex_t lock;
	config_cache_t rules;
	cache_index_t index;
	/* entries: index.n_items (every linked entry is in the index) */
	struct entry *head, *tail, *hand;
	size_t bytes, budget;
	uint64_t hits, misses, stale_hits, evictions, inserts, prefetches;
};

struct cache {
	unsigned n_stripes;
	_Atomic uint64_t max_bytes; /* written by cache_configure */
	uint64_t fixed_bytes;
	uint8_t seed[ER_SIPHASH_KEY_LEN];
	struct stripe *stripes;
};

/* --- accounting ---------------------------------------------------------- */

static size_t malloc_chunk(size_t request)
{
	size_t chunk = (request + MALLOC_HEADER + MALLOC_ALIGN - 1) & ~(size_t)(MALLOC_ALIGN - 1);
	return chunk < MALLOC_MIN_CHUNK ? MALLOC_MIN_CHUNK : chunk;
}

static size_t entry_size(size_t n_ttls, size_t key_len, size_t data_len)
{
	return sizeof(struct entry) + n_ttls * sizeof(uint16_t) + key_len + data_len;
}

static uint8_t *entry_key(struct entry *e)
{
	return (uint8_t *)(e->ttl_off + e->n_ttls);
}

static uint8_t *entry_data(struct entry *e)
{
	return entry_key(e) + e->key_len;
}

static uint64_t stripe_budget(const cache_t *c, uint32_t max_mb)
{
	uint64_t max_bytes = (uint64_t)max_mb << 20;
	if (max_bytes <= c->fixed_bytes)
		return 0;
	return (max_bytes - c->fixed_bytes) / c->n_stripes;
}

/* --- the table and the queue ------------------------------------------- */

static struct stripe *stripe_of(cache_t *c, uint64_t hash)
{
	return &c->stripes[(hash >> 32) & (c->n_stripes - 1)];
}

/* What find looks for, as cache_index_find's ctx. */
struct wanted_key {
	uint64_t hash;
	const uint8_t *key;
	size_t key_len;
};

static bool entry_is_key(const void *item, const void *ctx)
{
	const struct entry *e = item;
	const struct wanted_key *w = ctx;
	return e->hash == w->hash && e->key_len == w->key_len &&
	       memcmp(entry_key((struct entry *)e), w->key, w->key_len) == 0;
}

static uint64_t entry_hash_of(const void *item)
{
	return ((const struct entry *)item)->hash;
}

static struct entry *find(struct stripe *s, uint64_t hash, const uint8_t *key, size_t key_len)
{
	struct wanted_key w = { .hash = hash, .key = key, .key_len = key_len };
	return cache_index_find(&s->index, hash, entry_is_key, &w);
}

/* The index must have room (index_make_room). */
static void link_entry(struct stripe *s, struct entry *e)
{
	(void)cache_index_insert(&s->index, e->hash, e);
	e->newer = NULL;
	e->older = s->head;
	if (s->head)
		s->head->newer = e;
	s->head = e;
	if (!s->tail)
		s->tail = e;
	s->bytes += e->bytes;
}

static void remove_entry(struct stripe *s, struct entry *e)
{
	(void)cache_index_remove(&s->index, e->hash, e);
	if (s->hand == e)
		s->hand = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		s->head = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		s->tail = e->newer;
	s->bytes -= e->bytes;
	free(e);
}

static bool is_dead(const struct entry *e, uint64_t now)
{
	return now >= e->stale_until_ms;
}

/*
 * SIEVE (Zhang et al., NSDI 2024): the hand walks from the oldest entry
 * towards the newest, clearing visited bits, and evicts the first entry it
 * finds unvisited, or dead (expired past its stale window) whatever its bit.
 */
static void evict_one(struct stripe *s, uint64_t now)
{
	struct entry *e = s->hand ? s->hand : s->tail;
	while (e->is_visited && !is_dead(e, now)) {
		e->is_visited = false;
		e = e->newer ? e->newer : s->tail;
	}
	s->hand = e->newer;
	remove_entry(s, e);
	s->evictions++;
}

/* Evicts until need more bytes fit the budget; false if they never can. */
static bool make_room(struct stripe *s, size_t need, uint64_t now)
{
	while (s->bytes + need > s->budget && s->index.n_items > 0)
		evict_one(s, now);
	return s->bytes + need <= s->budget;
}

/* Room in the index for one more entry of need bytes: the table doubles
 * when the bigger one fits the budget beside the old one and the entry (so
 * the bound holds mid-rehash too); otherwise an entry is evicted. False
 * only when the stripe is empty and still full, which cannot happen. */
static bool index_make_room(struct stripe *s, size_t need, uint64_t now)
{
	while (cache_index_is_full(&s->index)) {
		size_t old = s->index.n_groups;
		size_t n = old * 2;
		if (s->bytes + need + cache_index_table_bytes(n) <= s->budget &&
		    cache_index_resize(&s->index, n, entry_hash_of) == 0) {
			s->bytes += cache_index_table_bytes(n) - cache_index_table_bytes(old);
			return true;
		}
		if (s->index.n_items == 0)
			return false;
		evict_one(s, now);
	}
	return true;
}

/* --- construction -------------------------------------------------------- */

unsigned cache_stripes_for(unsigned threads)
{
	unsigned n = ER_CACHE_STRIPES_DEFAULT;
	while (n < ER_CACHE_STRIPES_MAX && n < 4u * threads)
		n *= 2;
	return n;
}

static unsigned choose_stripes(unsigned wanted, uint64_t max_bytes)
{
	unsigned n = wanted ? wanted : ER_CACHE_STRIPES_DEFAULT;
	if (n > ER_CACHE_STRIPES_MAX || (n & (n - 1)) != 0)
		n = ER_CACHE_STRIPES_DEFAULT;
	while (n > 1 && max_bytes / n < STRIPE_MIN_BYTES)
		n /= 2;
	return n;
}

static int stripe_init(struct stripe *s, const config_cache_t *cfg, uint64_t budget)
{
	memset(s, 0, sizeof(*s));
	s->rules = *cfg;
	s->budget = budget;
	int rc = cache_index_init(&s->index, INDEX_GROUPS_INITIAL);
	if (rc < 0)
		return rc;
	s->bytes = cache_index_table_bytes(INDEX_GROUPS_INITIAL);
	rc = pthread_mutex_init(&s->lock, NULL);
	if (rc != 0) {
		cache_index_free(&s->index);
		return -rc;
	}
	return 0;
}

static void stripe_clear(struct stripe *s)
{
	while (s->tail)
		remove_entry(s, s->tail);
	s->hand = NULL;
}

cache_t *cache_new(const config_cache_t *cfg, unsigned n_stripes)
{
	cache_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->max_bytes = (uint64_t)cfg->max_mb << 20;
	c->n_stripes = choose_stripes(n_stripes, c->max_bytes);
	c->fixed_bytes =
	    malloc_chunk(sizeof(*c)) + malloc_chunk(c->n_stripes * sizeof(struct stripe));
	random_bytes(c->seed, sizeof(c->seed));
	c->stripes = aligned_alloc(ER_CACHE_LINE, c->n_stripes * sizeof(struct stripe));
	if (c->stripes == NULL)
		goto fail;
	uint64_t budget = stripe_budget(c, cfg->max_mb);
	for (unsigned i = 0; i < c->n_stripes; i++) {
		if (stripe_init(&c->stripes[i], cfg, budget) < 0) {
			c->n_stripes = i; /* cache_free deinits only what was built */
			goto fail;
		}
	}
	return c;
fail:
	cache_free(c);
	return NULL;
}

void cache_free(cache_t *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; c->stripes && i < c->n_stripes; i++) {
		struct stripe *s = &c->stripes[i];
		stripe_clear(s);
		cache_index_free(&s->index);
		pthread_mutex_destroy(&s->lock);
	}
	free(c->stripes);
	free(c);
}

/* The smallest table (at least the initial one) that holds n entries. */
static size_t index_groups_for(size_t n_entries)
{
	size_t n = INDEX_GROUPS_INITIAL;
	while (cache_index_capacity(n) < n_entries)
		n *= 2;
	return n;
}

/*
 * After the budget shrank: the table is sized for what the old budget held,
 * and alone may exceed the new one, which would leave the stripe empty and
 * refusing every insert. Evict until the entries and a table sized for them
 * fit, then shrink the table to that size. The rehash holds both tables for
 * a moment, the smaller one unaccounted.
 */
static void index_shrink_to_budget(struct stripe *s, uint64_t now)
{
	size_t have = cache_index_table_bytes(s->index.n_groups);
	size_t n = index_groups_for(s->index.n_items);
	while (s->index.n_items > 0 && s->bytes - have + cache_index_table_bytes(n) > s->budget) {
		evict_one(s, now);
		n = index_groups_for(s->index.n_items);
	}
	if (n < s->index.n_groups && cache_index_resize(&s->index, n, entry_hash_of) == 0)
		s->bytes = s->bytes - have + cache_index_table_bytes(n);
}

void cache_configure(cache_t *c, const config_cache_t *cfg, uint64_t now_ms)
{
	uint64_t budget = stripe_budget(c, cfg->max_mb);
	for (unsigned i = 0; i < c->n_stripes; i++) {
		struct stripe *s = &c->stripes[i];
		pthread_mutex_lock(&s->lock);
		s->rules = *cfg;
		bool is_smaller = budget < s->budget;
		s->budget = budget;
		if (is_smaller)
			index_shrink_to_budget(s, now_ms);
		make_room(s, 0, now_ms);
		pthread_mutex_unlock(&s->lock);
	}
	c->max_bytes = (uint64_t)cfg->max_mb << 20;
}

cache_key_t cache_key_from_query(const dns_query_t *q, uint32_t chain, uint32_t epoch)
{
	return (cache_key_t){
		.qname = q->qname,
		.qname_len = q->qname_len,
		.chain = chain,
		.epoch = epoch,
		.qtype = q->qtype,
		.qclass = q->qclass,
		.is_do = q->edns_do,
		.is_cd = (q->flags & DNS_FLAG_CD) != 0,
	};
}

/* --- lookup -------------------------------------------------------------- */

/* RFC 8767 4: a stale answer carries 30 s, whatever its records had: the
 * client re-asks soon, by which time the upstream may be back. From a
 * fallback group, fallback_ttl_s if lower (SPEC 2.2): the client must come
 * back to the ExpressRoute path as soon as a fresh answer would. */
static uint32_t stale_ttl(const struct stripe *s, const struct entry *e)
{
	if (e->is_fallback && s->rules.fallback_ttl_s < ER_CACHE_STALE_TTL_S)
		return s->rules.fallback_ttl_s;
	return ER_CACHE_STALE_TTL_S;
}

static uint32_t served_ttl(uint32_t stored, uint32_t elapsed_s)
{
	return stored > elapsed_s ? stored - elapsed_s : 0;
}

/* The hit path: one memcpy, the ID, and one store per TTL. Loops run on
 * different clocks (each uv_now is cached per loop), so a `now` slightly
 * before the entry's birth counts as no time elapsed. */
static void copy_entry(const struct stripe *s, struct entry *e, uint64_t now, bool is_stale,
		       cache_copy_t *copy)
{
	const uint8_t *data = entry_data(e);
	uint8_t *out = copy->out;
	memcpy(out, data, e->data_len);
	wire_write_u16(out, copy->id);
	uint32_t elapsed = now > e->born_ms ? (uint32_t)((now - e->born_ms) / MS_PER_S) : 0;
	for (uint16_t i = 0; i < e->n_ttls; i++) {
		uint16_t off = e->ttl_off[i];
		uint32_t ttl = policy_read_u32(data + off);
		policy_write_u32(out + off, is_stale ? stale_ttl(s, e) : served_ttl(ttl, elapsed));
	}
	copy->len = e->data_len;
	e->is_visited = true;
}

static bool wants_prefetch(struct stripe *s, struct entry *e, uint64_t now)
{
	if (!s->rules.prefetch || e->is_servfail || e->is_prefetched)
		return false;
	uint64_t left = e->expire_ms - now;
	if (left * ER_CACHE_PREFETCH_DIVISOR >= (uint64_t)e->ttl_s * MS_PER_S)
		return false;
	e->is_prefetched = true;
	s->prefetches++;
	return true;
}

static cache_result_t lookup_locked(struct stripe *s, struct entry *e, uint64_t now,
				    cache_copy_t *copy)
{
	if (e == NULL)
		return CACHE_MISS;
	if (is_dead(e, now)) {
		remove_entry(s, e);
		return CACHE_MISS;
	}
	copy->is_fallback = e->is_fallback;
	copy->er_verdict = e->er_verdict;
	if (e->data_len > copy->cap)
		return CACHE_MISS;
	if (now < e->expire_ms) {
		copy_entry(s, e, now, false, copy);
		copy->should_prefetch = wants_prefetch(s, e, now);
		s->hits++;
		return CACHE_HIT;
	}
	if (copy->want_stale) {
		copy_entry(s, e, now, true, copy);
		s->stale_hits++;
	}
	return CACHE_STALE;
}

cache_result_t cache_lookup(cache_t *c, const cache_key_t *key, uint64_t now_ms,
			    cache_copy_t *copy)
{
	copy->len = 0;
	copy->should_prefetch = false;
	copy->is_fallback = false;
	copy->er_verdict = 0;
	uint8_t kb[KEY_MAX];
	size_t kl = key_encode(key, kb);
	if (kl == 0)
		return CACHE_MISS;
	uint64_t hash = siphash13(c->seed, kb, kl);
	struct stripe *s = stripe_of(c, hash);
	pthread_mutex_lock(&s->lock);
	cache_result_t r = lookup_locked(s, find(s, hash, kb, kl), now_ms, copy);
	if (copy->len == 0)
		s->misses++;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* --- insert -------------------------------------------------------------- */

static struct entry *build_entry(const cache_insert_params_t *p, const policy_verdict_t *v,
				 const uint8_t *kb, size_t kl, uint64_t now)
{
	size_t size = entry_size(v->n_ttls, kl, v->keep_len);
	struct entry *e = malloc(size);
	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->n_ttls = v->n_ttls;
	e->key_len = (uint16_t)kl;
	e->data_len = (uint16_t)v->keep_len;
	e->bytes = (uint32_t)malloc_chunk(size);
	e->ttl_s = v->ttl_s;
	e->born_ms = now;
	e->expire_ms = now + (uint64_t)v->ttl_s * MS_PER_S;
	e->is_servfail = v->kind == POLICY_SERVFAIL;
	e->is_fallback = p->is_fallback;
	e->er_verdict = p->er_verdict;
	memcpy(entry_key(e), kb, kl);
	memcpy(entry_data(e), p->resp, v->keep_len);
	policy_fill(entry_data(e), v, e->ttl_off);
	return e;
}

/* Under the lock: replaces the key's entry unless a SERVFAIL would push out
 * an answer that serve-stale still needs (RFC 8767: failures fall back to
 * stale data, they do not erase it). */
static int store_locked(struct stripe *s, struct entry *e, uint64_t now)
{
	struct entry *old = find(s, e->hash, entry_key(e), e->key_len);
	if (old && e->is_servfail && !old->is_servfail && !is_dead(old, now))
		return -EEXIST;
	if (old)
		remove_entry(s, old);
	if (!make_room(s, e->bytes, now) || !index_make_room(s, e->bytes, now))
		return -E2BIG;
	link_entry(s, e);
	s->inserts++;
	return 0;
}

int cache_insert(cache_t *c, const cache_insert_params_t *p, uint64_t now_ms)
{
	uint8_t kb[KEY_MAX];
	size_t kl = key_encode(p->key, kb);
	if (kl == 0)
		return -EINVAL;
	uint64_t hash = siphash13(c->seed, kb, kl);
	struct stripe *s = stripe_of(c, hash);
	pthread_mutex_lock(&s->lock);
	config_cache_t rules = s->rules;
	size_t budget = s->budget;
	pthread_mutex_unlock(&s->lock);

	policy_verdict_t v;
	int rc = policy_judge(p->resp, p->resp_len, p->key, &rules, p->is_fallback, &v);
	if (rc < 0)
		return rc;
	if (malloc_chunk(entry_size(v.n_ttls, kl, v.keep_len)) > budget)
		return -E2BIG;
	struct entry *e = build_entry(p, &v, kb, kl, now_ms);
	if (e == NULL)
		return -ENOMEM;
	e->hash = hash;
	/* A failure is never served stale. */
	uint64_t stale_s = e->is_servfail ? 0 : rules.serve_stale_s;
	e->stale_until_ms = e->expire_ms + stale_s * MS_PER_S;
	pthread_mutex_lock(&s->lock);
	rc = store_locked(s, e, now_ms);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		free(e);
	return rc;
}

/* --- flush and stats ----------------------------------------------------- */

typedef bool (*match_fn)(const uint8_t *entry_name, const uint8_t *name);

static bool match_any(const uint8_t *entry_name, const uint8_t *name)
{
	(void)entry_name;
	(void)name;
	return true;
}

static bool match_name(const uint8_t *entry_name, const uint8_t *name)
{
	return dname_equal(entry_name, name);
}

static bool match_subtree(const uint8_t *entry_name, const uint8_t *name)
{
	return dname_is_subdomain(entry_name, name);
}

static size_t flush_matching(cache_t *c, match_fn match, const uint8_t *name)
{
	size_t removed = 0;
	for (unsigned i = 0; i < c->n_stripes; i++) {
		struct stripe *s = &c->stripes[i];
		pthread_mutex_lock(&s->lock);
		struct entry *e = s->tail;
		while (e) {
			struct entry *newer = e->newer;
			if (match(entry_key(e), name)) {
				remove_entry(s, e);
				removed++;
			}
			e = newer;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return removed;
}

size_t cache_flush_all(cache_t *c)
{
	return flush_matching(c, match_any, NULL);
}

size_t cache_flush_name(cache_t *c, const uint8_t *name)
{
	return flush_matching(c, match_name, name);
}

size_t cache_flush_subtree(cache_t *c, const uint8_t *name)
{
	return flush_matching(c, match_subtree, name);
}

void cache_get_stats(cache_t *c, cache_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	out->max_bytes = c->max_bytes;
	out->bytes = c->fixed_bytes;
	for (unsigned i = 0; i < c->n_stripes; i++) {
		struct stripe *s = &c->stripes[i];
		pthread_mutex_lock(&s->lock);
		out->entries += s->index.n_items;
		out->bytes += s->bytes;
		out->hits += s->hits;
		out->misses += s->misses;
		out->stale_hits += s->stale_hits;
		out->evictions += s->evictions;
		out->inserts += s->inserts;
		out->prefetches += s->prefetches;
		pthread_mutex_unlock(&s->lock);
	}
}

/* --- peek and dump (the control socket; never on the query path) ------- */

static uint32_t secs_until(uint64_t expire_ms, uint64_t now)
{
	return now < expire_ms ? (uint32_t)((expire_ms - now) / MS_PER_S) : 0;
}

cache_result_t cache_peek(cache_t *c, const cache_key_t *key, uint64_t now_ms,
			  cache_peek_info_t *out)
{
	*out = (cache_peek_info_t){ 0 };
	uint8_t kb[KEY_MAX];
	size_t kl = key_encode(key, kb);
	if (kl == 0)
		return CACHE_MISS;
	uint64_t hash = siphash13(c->seed, kb, kl);
	struct stripe *s = stripe_of(c, hash);
	pthread_mutex_lock(&s->lock);
	struct entry *e = find(s, hash, kb, kl);
	cache_result_t r = CACHE_MISS;
	if (e && !is_dead(e, now_ms)) {
		r = now_ms < e->expire_ms ? CACHE_HIT : CACHE_STALE;
		*out = (cache_peek_info_t){ .ttl_left_s = secs_until(e->expire_ms, now_ms),
					    .is_fallback = e->is_fallback,
					    .er_verdict = e->er_verdict };
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* What is copied of an entry under the stripe lock: the key and the times,
 * not the response; decoding and the callback wait for the unlock. */
struct dump_item {
	uint64_t expire_ms;
	uint16_t key_len;
	bool is_servfail, is_fallback;
	uint8_t key[KEY_MAX];
};

/* Copies at most cap live entries of s into items; returns how many. */
static size_t snapshot_stripe(struct stripe *s, uint64_t now, struct dump_item *items,
			      size_t cap)
{
	size_t n = 0;
	for (struct entry *e = s->tail; e && n < cap; e = e->newer) {
		if (is_dead(e, now))
			continue;
		struct dump_item *it = &items[n++];
		it->expire_ms = e->expire_ms;
		it->key_len = e->key_len;
		it->is_servfail = e->is_servfail;
		it->is_fallback = e->is_fallback;
		memcpy(it->key, entry_key(e), e->key_len);
	}
	return n;
}

/* Decodes items and hands them to cb; false when cb asked to stop. */
static bool emit_items(const struct dump_item *items, size_t n, uint64_t now,
		       cache_dump_cb cb, void *ctx, size_t *n_dumped)
{
	for (size_t i = 0; i < n; i++) {
		cache_key_t k;
		if (!key_decode(items[i].key, items[i].key_len, &k))
			continue; /* cannot happen: the cache wrote it */
		cache_dump_entry_t d = {
			.qtype = k.qtype, .qclass = k.qclass, .chain = k.chain, .epoch = k.epoch,
			.is_do = k.is_do, .is_cd = k.is_cd,
			.ttl_left_s = secs_until(items[i].expire_ms, now),
			.is_stale = now >= items[i].expire_ms,
			.is_servfail = items[i].is_servfail,
			.is_fallback = items[i].is_fallback,
		};
		memcpy(d.name, k.qname, k.qname_len);
		(*n_dumped)++;
		if (!cb(&d, ctx))
			return false;
	}
	return true;
}

int cache_dump(cache_t *c, uint64_t now_ms, cache_dump_cb cb, void *ctx, size_t *n_dumped)
{
	*n_dumped = 0;
	bool go_on = true;
	for (unsigned i = 0; i < c->n_stripes && go_on; i++) {
		struct stripe *s = &c->stripes[i];
		pthread_mutex_lock(&s->lock);
		size_t cap = s->index.n_items;
		pthread_mutex_unlock(&s->lock);
		/* Allocated unlocked; entries added meanwhile wait for another dump. */
		struct dump_item *items = malloc((cap ? cap : 1) * sizeof(*items));
		if (items == NULL)
			return -ENOMEM;
		pthread_mutex_lock(&s->lock);
		size_t n = snapshot_stripe(s, now_ms, items, cap);
		pthread_mutex_unlock(&s->lock);
		go_on = emit_items(items, n, now_ms, cb, ctx, n_dumped);
		free(items);
	}
	return 0;
}
