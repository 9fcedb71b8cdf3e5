/*
 * A log line's rate limit shared by threads: at most one event per
 * interval passes, and the one that passes learns how many were held back
 * since the previous one, so the log can say so ("and 41 more"). Lock-free:
 * one compare-and-swap decides who passes; the losers only count. Each
 * caller passes its own clock in ms (loops' uv_now values, which all derive
 * from one monotonic clock); a clock slightly behind only delays a line.
 */
#ifndef ERDNS_UTIL_RATELIMIT_H
#define ERDNS_UTIL_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit {
	_Atomic uint64_t next_ms; /* the earliest time the next event may pass */
	_Atomic uint64_t held; /* events held back since the last one passed */
} ratelimit_t;

/* Whether an event at now_ms passes; when it does, *held gets (and resets)
 * the number held back before it. A zeroed ratelimit_t lets the first pass. */
static inline bool ratelimit_pass(ratelimit_t *rl, uint64_t now_ms, uint32_t interval_ms,
				  uint64_t *held)
{
	uint64_t next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);
	if (now_ms < next ||
	    !atomic_compare_exchange_strong_explicit(&rl->next_ms, &next, now_ms + interval_ms,
						     memory_order_relaxed, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&rl->held, 1, memory_order_relaxed);
		return false;
	}
	*held = atomic_exchange_explicit(&rl->held, 0, memory_order_relaxed);
	return true;
}

#endif
