/*
 * Unpredictable numbers for DNS transaction IDs and source ports (RFC 5452).
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
/* Uniform in [0, bound), bound > 0, without modulo bias. */
uint32_t random_uniform(uint32_t bound);

#endif
