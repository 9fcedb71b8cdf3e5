/*
 * The cache-line size erdns pads shared data to, so that what one thread
 * writes never shares a line with what another reads (x86-64 and most
 * arm64: 64 bytes).
 */
#ifndef ERDNS_UTIL_CACHELINE_H
#define ERDNS_UTIL_CACHELINE_H

#define ER_CACHE_LINE 64

#endif
