/*
 * The real Microsoft 365 lists in ../shared/data (next to the source tree)
 * for the unit tests that check against them. Include after <cmocka.h>.
 *
 * require_real_data(PATH): returns when PATH is readable. Otherwise the
 * calling test is skipped (cmocka's skip(): reported as SKIPPED, not as a
 * pass); or, when the environment variable CI is set, it fails, since CI
 * always has the data and a missing file there is a broken checkout.
 */
#ifndef ERDNS_TESTS_REAL_DATA_H
#define ERDNS_TESTS_REAL_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void require_real_data(const char *path)
{
	if (access(path, R_OK) == 0)
		return;
	if (getenv("CI") != NULL)
		fail_msg("real Microsoft 365 list %s is absent, and CI is set (CI has ../shared/data)",
			 path);
	printf("SKIPPED: real Microsoft 365 list %s is absent (CI has ../shared/data); "
	       "its assertions did not run\n",
	       path);
	skip();
}

#endif
