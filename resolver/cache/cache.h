/*
 * The packet cache (SPEC 3): whole forwarded responses keyed by
 * (route chain, case-folded qname, qtype, qclass, DO, CD).
 *
 * Pure: no libuv, no clock, no socket. Every call takes `now` in
 * milliseconds from the caller's monotonic clock (uv_now). Thread-safe: one
 * cache_t is shared by all workers (lock striping; cache.c says why and
 * what was measured). Lookups copy under the lock, so nothing returned
 * points into the cache and an entry may be evicted the moment a call ends.
 *
 * The caller's part of the pipeline (server/query.c and server/forward.c):
 *   before forwarding  cache_lookup(want_stale=false): HIT -> reply_finalize
 *                      the copy and answer; if should_prefetch, also refresh
 *                      in the background; STALE or MISS -> forward.
 *   after an answer    cache_insert(the upstream response, is_fallback when
 *                      it came from a later group than the chain's first).
 *   chain failed       cache_lookup(want_stale=true): STALE -> answer with
 *                      the copy and EDE 3 (RFC 8767); otherwise SERVFAIL.
 */
#ifndef ERDNS_CACHE_CACHE_H
#define ERDNS_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "dns/dname.h"
#include "dns/wire.h"

/* RFC 8767 4: "a TTL of 30 seconds" on records served stale. */
#define ER_CACHE_STALE_TTL_S 30
/* RFC 9520 3.2 asks resolvers to remember failures for at least 1 s and
 * allows far longer; the brief for erdns says 1-5 s. 5 s absorbs the
 * Windows client's retries (1 s, then 2 s) without hiding a recovery for
 * long. */
#define ER_CACHE_SERVFAIL_TTL_S 5
/* An entry asked for in the last 1/10 of its lifetime is worth refreshing
 * (as Unbound's prefetch). */
#define ER_CACHE_PREFETCH_DIVISOR 10

typedef struct cache cache_t;

/* What a question is cached under. qname: uncompressed wire name in any
 * case, qname_len bytes including the root label (dns_query_t gives both);
 * borrowed for the duration of the call. */
typedef struct cache_key {
	const uint8_t *qname;
	size_t qname_len;
	uint32_t chain; /* index into config_t.chains */
	/* config_t.route_epoch of the snapshot the chain index belongs to: a
	 * reload that renumbers chains starts a new epoch, so nothing fetched
	 * under the old routes is found (or stored) under the new ones */
	uint32_t epoch;
	uint16_t qtype, qclass;
	bool is_do, is_cd;
} cache_key_t;

typedef enum {
	CACHE_MISS = 0, /* nothing usable (also: expired beyond serve_stale_s) */
	CACHE_HIT, /* fresh */
	CACHE_STALE, /* expired, within serve_stale_s */
} cache_result_t;

/* In/out parameters of cache_lookup. */
typedef struct cache_copy {
	uint8_t *out; /* in: caller's buffer */
	size_t cap; /* in: its size (65535 always fits) */
	uint16_t id; /* in: the message ID to write */
	bool want_stale; /* in: copy a STALE entry too (the chain failed) */
	size_t len; /* out: bytes written, 0 when nothing was copied */
	bool should_prefetch; /* out: HIT in the last 10%, first time for it */
	bool is_fallback; /* out (HIT, STALE): the entry came from a later group */
	uint8_t er_verdict; /* out (HIT, STALE): as stored by cache_insert */
} cache_copy_t;

/* What cache_insert needs besides the response. */
typedef struct cache_insert_params {
	const cache_key_t *key;
	const uint8_t *resp; /* the upstream response as received; borrowed */
	size_t resp_len;
	bool is_fallback; /* from a later group than the chain's first */
	/* The ExpressRoute audit's verdict on it (routing/er_audit.h
	 * er_verdict_t; 0: not judged), kept so that a hit reports the verdict
	 * of the miss that stored it. Opaque to the cache. */
	uint8_t er_verdict;
} cache_insert_params_t;

/* Counters for the metrics, summed over the stripes at the time of the call. */
typedef struct cache_stats {
	uint64_t entries;
	uint64_t bytes; /* accounted: entries, keys, data, hash tables */
	uint64_t max_bytes; /* the bound: max_mb in bytes */
	uint64_t hits; /* fresh answers copied */
	uint64_t misses; /* lookups that copied nothing */
	uint64_t stale_hits; /* stale answers copied (want_stale) */
	uint64_t evictions; /* entries removed to make room */
	uint64_t inserts; /* entries stored */
	uint64_t prefetches; /* should_prefetch reported */
} cache_stats_t;

/* A key for a parsed client query on the given chain of the snapshot with
 * route epoch `epoch` (borrows q->qname). */
cache_key_t cache_key_from_query(const dns_query_t *q, uint32_t chain, uint32_t epoch);

/*
 * A cache bounded by cfg->max_mb, with cfg's TTL rules (copied). n_stripes
 * is a power of two or 0 for the default; it is lowered while a stripe
 * would hold less than 4 maximal messages. Returns NULL on allocation
 * failure. Free with cache_free.
 */
cache_t *cache_new(const config_cache_t *cfg, unsigned n_stripes);
/* The stripe count for `threads` workers: the default (16) up to 4
 * workers, then 4 stripes per worker (a power of two, at most 1024), so the
 * chance that two workers want one stripe at once stays as it is at 4. */
unsigned cache_stripes_for(unsigned threads);
/* Frees every entry and the cache. NULL is ignored. */
void cache_free(cache_t *c);
/* Applies a reloaded config: TTL rules for later inserts, and the new bound
 * (evicting at once when it shrank). The stripe count stays. */
void cache_configure(cache_t *c, const config_cache_t *cfg, uint64_t now_ms);

/*
 * Finds key. HIT: the response is copied to copy->out with copy->id and
 * TTLs decremented by the whole seconds spent in the cache (never below 0).
 * STALE: copied only when copy->want_stale, with every TTL
 * ER_CACHE_STALE_TTL_S (RFC 8767 4), or fallback_ttl_s when that is lower
 * and the entry came from a fallback group (SPEC 2.2). A copy is a complete response (header,
 * question as first received, records; no OPT) ready for reply_finalize.
 * If copy->cap is too short nothing is copied and MISS is returned.
 * Parses nothing and allocates nothing.
 */
cache_result_t cache_lookup(cache_t *c, const cache_key_t *key, uint64_t now_ms,
			    cache_copy_t *copy);

/*
 * Stores a response, replacing the key's entry. Returns 0 when stored;
 * -ENOMSG when the rules say not to cache it (TC=1, rcode other than
 * NOERROR/NXDOMAIN/SERVFAIL, extended rcode, negative without SOA,
 * lifetime 0); -EEXIST for a SERVFAIL that would replace an entry still
 * servable stale; -EBADMSG malformed; -EINVAL the question is not key's;
 * -E2BIG larger than a stripe may hold; -ENOMEM.
 */
int cache_insert(cache_t *c, const cache_insert_params_t *p, uint64_t now_ms);

/* Removes every entry. Returns the number removed. */
size_t cache_flush_all(cache_t *c);
/* Removes every entry for name (all types, classes, chains, DO/CD).
 * name: uncompressed wire name, any case. Returns the number removed. */
size_t cache_flush_name(cache_t *c, const uint8_t *name);
/* Removes every entry for name and every name below it. */
size_t cache_flush_subtree(cache_t *c, const uint8_t *name);

void cache_get_stats(cache_t *c, cache_stats_t *out);

/* What cache_peek says about an entry besides HIT/STALE/MISS. */
typedef struct cache_peek_info {
	uint32_t ttl_left_s; /* whole seconds until expiry, 0 when STALE or MISS */
	bool is_fallback; /* HIT, STALE: from a later group than the chain's first */
	uint8_t er_verdict; /* HIT, STALE: as stored by cache_insert */
} cache_peek_info_t;

/*
 * What cache_lookup would find for key, without any of its side effects:
 * nothing copied, no hit or miss counted, no visited bit, no prefetch
 * claimed, nothing removed (`erdns ctl explain` and the CHAOS routing
 * check must not change what they look at: a claimed prefetch would be
 * lost to the next client). *out is filled (zeroed for a MISS).
 */
cache_result_t cache_peek(cache_t *c, const cache_key_t *key, uint64_t now_ms,
			  cache_peek_info_t *out);

/* One entry as cache_dump shows it: a copy, nothing points into the cache. */
typedef struct cache_dump_entry {
	uint8_t name[ER_DNAME_MAX]; /* wire form, lower case (as keyed) */
	uint16_t qtype, qclass;
	uint32_t chain; /* index into the chains of the snapshot of route epoch `epoch` */
	uint32_t epoch;
	bool is_do, is_cd;
	uint32_t ttl_left_s; /* whole seconds until expiry; 0 once expired */
	bool is_stale; /* expired, still servable stale (serve_stale_s) */
	bool is_servfail; /* a cached failure (RFC 9520) */
	bool is_fallback; /* from a later group than the chain's first */
} cache_dump_entry_t;

/* Called once per entry, on the caller's thread; false stops the walk. */
typedef bool (*cache_dump_cb)(const cache_dump_entry_t *e, void *ctx);

/*
 * Walks every entry still servable (fresh or stale; dead ones are skipped),
 * one stripe at a time: the stripe's keys and times are copied under its
 * lock and cb runs after the lock is released, so a slow consumer never
 * holds up the query path. An entry inserted or removed during the walk
 * may or may not be seen. *n_dumped: the calls to cb. Returns 0, or
 * -ENOMEM (a stripe could not be copied; cb may have run for others).
 */
int cache_dump(cache_t *c, uint64_t now_ms, cache_dump_cb cb, void *ctx, size_t *n_dumped);

#endif
