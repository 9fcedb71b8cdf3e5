/*
 * shExpMatch-style globs as PAC files and the Microsoft 365 endpoint list use
 * them: '*' matches any run of characters, dots included; there is no '?' or
 * character class (Microsoft's data has none, and PAC's '?' would surprise
 * operators writing DNS names).
 *
 * The match is the iterative two-pointer algorithm: on a mismatch, retry
 * from the most recent '*' with one more character swallowed. Only the last
 * star needs remembering, because whatever an earlier star matched can be
 * absorbed by the later one, so the worst case is O(pattern * text) with no
 * recursion. The recursive form was rejected: "*a*a*a*...b" against a long
 * run of 'a' is exponential and deep on the stack, and patterns come from a
 * file we download.
 */
#include "routing/ruleset.h"

static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool glob_match(const char *pattern, const char *text)
{
	const char *star = NULL; /* the last '*' seen in pattern */
	const char *resume = NULL; /* where text resumes when retrying from star */
	const char *p = pattern, *t = text;

	while (*t) {
		if (*p == '*') {
			star = p++;
			resume = t;
		} else if (*p && ascii_lower(*p) == ascii_lower(*t)) {
			p++;
			t++;
		} else if (star) {
			p = star + 1;
			t = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
