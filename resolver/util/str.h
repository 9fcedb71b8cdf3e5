/*
 * Small string helpers shared by the config diff, the server's reload and
 * the query log. Header-only: each is a line or two.
 */
#ifndef ERDNS_UTIL_STR_H
#define ERDNS_UTIL_STR_H

#include <stdbool.h>
#include <string.h>

/* Optional strings (NULL: not set) equal: both unset, or both set to the
 * same text. */
static inline bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

#endif
