/*
 * CSPRNG for query IDs and ports. A thread-local 256-byte buffer refilled by
 * getrandom(2): IDs and ports need 2 bytes each, so one system call serves
 * about 64 attempts. Rejected: rand()/random() (predictable, RFC 5452 sec 9).
 */
#include "util/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define ER_RANDOM_POOL 256

static _Thread_local uint8_t pool[ER_RANDOM_POOL];
static _Thread_local size_t pool_left;

static void fill_from_kernel(uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t got = getrandom(buf + done, len - done, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			perror("erdns: getrandom");
			abort();
		}
		done += (size_t)got;
	}
}

void random_bytes(void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len > 0) {
		if (pool_left == 0) {
			fill_from_kernel(pool, sizeof(pool));
			pool_left = sizeof(pool);
		}
		size_t take = len < pool_left ? len : pool_left;
		memcpy(out, pool + sizeof(pool) - pool_left, take);
		/* Never hand out the same bytes twice. */
		memset(pool + sizeof(pool) - pool_left, 0, take);
		pool_left -= take;
		out += take;
		len -= take;
	}
}

uint16_t random_u16(void)
{
	uint16_t v;
	random_bytes(&v, sizeof(v));
	return v;
}

uint32_t random_u32(void)
{
	uint32_t v;
	random_bytes(&v, sizeof(v));
	return v;
}
