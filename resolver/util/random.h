/*
 * Unpredictable numbers for DNS transaction IDs (RFC 5452; source ports are
 * drawn by the kernel, see upstream/udp_pool.c), the cache's hash seed and
 * server selection.
 * Backed by the kernel CSPRNG (getrandom(2)); a per-thread buffer amortises
 * the system call so the per-query cost is a memcpy.
 */
#ifndef ERDNS_UTIL_RANDOM_H
#define ERDNS_UTIL_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with CSPRNG bytes. Never fails: aborts if the kernel cannot
 * deliver randomness, because predictable IDs would be a security hole. */
void random_bytes(void *buf, size_t len);
uint16_t random_u16(void);
uint32_t random_u32(void);

#endif
