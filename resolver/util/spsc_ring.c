/*
 * The SPSC byte ring (spsc_ring.h). Indexes count bytes from the start and
 * never wrap (64 bits: centuries at any rate); a position in the array is
 * the index masked by capacity - 1. `tail - head` is the bytes in use.
 *
 * Each side's line holds its own index (written by it alone) and its
 * cached copy of the other side's; the array pointer and mask sit on a
 * third line nobody writes after construction.
 */
#include "util/spsc_ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/cacheline.h"

struct spsc_ring {
	alignas(ER_CACHE_LINE) _Atomic uint64_t tail; /* written by the producer */
	uint64_t head_seen; /* producer's copy of head */
	alignas(ER_CACHE_LINE) _Atomic uint64_t head; /* written by the consumer */
	uint64_t tail_seen; /* consumer's copy of tail */
	alignas(ER_CACHE_LINE) uint64_t mask;
	uint8_t *buf;
};

spsc_ring_t *spsc_ring_new(size_t capacity)
{
	if (capacity < 64 || (capacity & (capacity - 1)) != 0 || capacity > UINT32_MAX)
		return NULL;
	spsc_ring_t *r = aligned_alloc(ER_CACHE_LINE, sizeof(*r));
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->buf = malloc(capacity);
	if (r->buf == NULL) {
		free(r);
		return NULL;
	}
	r->mask = capacity - 1;
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	return r;
}

void spsc_ring_free(spsc_ring_t *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

static void copy_in(spsc_ring_t *r, uint64_t at, const void *src, size_t len)
{
	size_t pos = (size_t)(at & r->mask), first = r->mask + 1 - pos;
	if (first >= len) {
		memcpy(r->buf + pos, src, len);
		return;
	}
	memcpy(r->buf + pos, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, len - first);
}

static void copy_out(const spsc_ring_t *r, uint64_t at, void *dst, size_t len)
{
	size_t pos = (size_t)(at & r->mask), first = r->mask + 1 - pos;
	if (first >= len) {
		memcpy(dst, r->buf + pos, len);
		return;
	}
	memcpy(dst, r->buf + pos, first);
	memcpy((uint8_t *)dst + first, r->buf, len - first);
}

bool spsc_ring_push(spsc_ring_t *r, const void *rec, uint32_t len, bool *is_filling)
{
	uint64_t cap = r->mask + 1, need = ER_SPSC_RING_HEADER + (uint64_t)len;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Only a ring that looks full, or more than a quarter full, is worth a
	 * look at the consumer's line: it changes when the consumer pops. */
	if (tail + need - r->head_seen > cap / 4)
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t used = tail - r->head_seen;
	if (is_filling)
		*is_filling = used + need > cap / 4;
	if (len == 0 || need > cap - used)
		return false;
	copy_in(r, tail, &len, ER_SPSC_RING_HEADER);
	copy_in(r, tail + ER_SPSC_RING_HEADER, rec, len);
	atomic_store_explicit(&r->tail, tail + need, memory_order_release);
	return true;
}

size_t spsc_ring_pop(spsc_ring_t *r, void *out, size_t cap, uint64_t *skipped)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (;;) {
		if (head == r->tail_seen) {
			r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (head == r->tail_seen)
				return 0;
		}
		uint32_t len;
		copy_out(r, head, &len, ER_SPSC_RING_HEADER);
		uint64_t next = head + ER_SPSC_RING_HEADER + len;
		if (len <= cap)
			copy_out(r, head + ER_SPSC_RING_HEADER, out, len);
		else if (skipped)
			(*skipped)++;
		/* release: the producer may reuse the bytes only after we copied them */
		atomic_store_explicit(&r->head, next, memory_order_release);
		if (len <= cap)
			return len;
		head = next;
	}
}

size_t spsc_ring_used(spsc_ring_t *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	return (size_t)(tail - atomic_load_explicit(&r->head, memory_order_acquire));
}
