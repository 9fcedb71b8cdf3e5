/*
 * The per-client query rate limit (`server.client_qps`, `client_burst`):
 * one table of token buckets shared by every worker, so a client whose
 * queries SO_REUSEPORT spreads over several workers (by source port) still
 * gets one budget. Pure: the caller passes the clock, the table never
 * touches a loop or a socket.
 *
 * A client is its source address cut to a prefix: IPv4 /32, IPv6 /64 (the
 * smallest subnet an IPv6 host is given, SLAAC and privacy addresses
 * included: one host can take any address of its /64, so a /128 budget
 * would be one per address it cares to make up). An IPv4-mapped IPv6
 * address counts as the IPv4 address, so a dual-stack socket changes
 * nothing.
 *
 * The memory is fixed when the table is made and bounded whatever clients
 * do; ratelimit.c says how clients that land on one bucket are treated.
 *
 * Not util/ratelimit.h, which spaces out one log line.
 */
#ifndef ERDNS_SERVER_RATELIMIT_H
#define ERDNS_SERVER_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/siphash.h"

/* Buckets in the server's table: 16 bytes each, 1 MiB in all. Branch
 * offices have hundreds to a few thousand clients; 65 536 keeps a client
 * sharing a bucket rare even when thousands of them are busy at once. */
#define ER_RATELIMIT_ENTRIES 65536
#define ER_RATELIMIT_WAYS    4 /* buckets per set: one cache line */

typedef struct ratelimit_table ratelimit_table_t;

/*
 * A table of `entries` buckets, all full (entries: a power of two, at
 * least ER_RATELIMIT_WAYS), hashing clients with key (copied; draw it at
 * random per process so nobody can work out which clients share a
 * bucket). NULL for a bad size or when out of memory. Caller frees.
 */
ratelimit_table_t *ratelimit_table_new(size_t entries, const uint8_t key[ER_SIPHASH_KEY_LEN]);
/* NULL is ignored. No thread may be inside ratelimit_admit. */
void ratelimit_table_free(ratelimit_table_t *t);

/*
 * Whether a query from client (borrowed for the call) at now_ms may be
 * answered: it takes one token from the client's bucket, which refills at
 * qps tokens a second up to burst. A query turned away takes nothing, so
 * a client that floods still gets qps answers a second. qps 0 is no limit
 * (true, and the table is not touched); a burst of 0 counts as 1. A
 * family other than IPv4 and IPv6 is not limited.
 *
 * Thread-safe and lock-free; callers may pass clocks a little apart (the
 * workers' loop times): a clock behind the bucket's only refills nothing.
 * qps and burst may change between calls (a reload): the new rate applies
 * from the next call, to the tokens the bucket has then.
 */
bool ratelimit_admit(ratelimit_table_t *t, const struct sockaddr *client, uint32_t qps,
		     uint32_t burst, uint64_t now_ms);

#endif
