/*
 * A bounded single-producer, single-consumer queue of variable-length
 * records in one byte array, lock-free: the query log's hand-off from a
 * worker (the producer) to the writer thread (the consumer).
 *
 * Each side owns one index and publishes it with release order; the other
 * side reads it with acquire order only when its cached copy says the ring
 * is full (producer) or empty (consumer), so in the common case a push or a
 * pop touches no cache line the other core writes. A record is a 4-byte
 * length and its bytes, copied in and out with memcpy (split in two at the
 * end of the array), so records need no alignment and no padding.
 *
 * Rejected: a ring of fixed-size slots (every record would pay for the
 * longest query name and rule text), and a mutex-protected list (a lock per
 * query on the workers' path).
 */
#ifndef ERDNS_UTIL_SPSC_RING_H
#define ERDNS_UTIL_SPSC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spsc_ring spsc_ring_t;

#define ER_SPSC_RING_HEADER 4 /* the length in front of each record */

/* A ring of capacity bytes (a power of two, >= 64), headers included.
 * NULL on allocation failure or a bad capacity. */
spsc_ring_t *spsc_ring_new(size_t capacity);
/* NULL is ignored. Neither side may use the ring any more. */
void spsc_ring_free(spsc_ring_t *r);

/*
 * Producer: appends a copy of rec (len bytes, len >= 1: a pop returns 0
 * for an empty ring). Returns false, and keeps nothing, when it does not
 * fit. *is_filling (may be NULL) is set when the ring holds more than a
 * quarter of its capacity at the last look at the consumer's index: the
 * producer may then wake the consumer.
 */
bool spsc_ring_push(spsc_ring_t *r, const void *rec, uint32_t len, bool *is_filling);

/*
 * Consumer: moves the oldest record into out (cap bytes) and returns its
 * length; 0 when the ring is empty. A record longer than cap (the producer
 * pushed more than the consumer expects) is skipped, *skipped (may be NULL)
 * incremented, and the next one is taken.
 */
size_t spsc_ring_pop(spsc_ring_t *r, void *out, size_t cap, uint64_t *skipped);

/* Bytes in use as the consumer sees them (for tests). */
size_t spsc_ring_used(spsc_ring_t *r);

#endif
