/*
 * libFuzzer target for the Microsoft 365 endpoints-list importer: the input
 * is written to a file and read with m365_list_load (the JSON parse with
 * positions and the validation of every set). A list that loads is then
 * imported twice into fresh rule sets, with the default filter (ExpressRoute
 * sets only, which computes exception rules) and with no filter at all, and
 * diffed against itself, which must report no change. Its ExpressRoute
 * prefixes are built (the audit's prefix set) and every prefix must match
 * its own network address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "routing/m365.h"
#include "routing/ruleset.h"
#include "fuzz_util.h"

#define PATH_MAX_LEN	512
#define ERR_MAX		512
#define ACTION_SELECTED 1
#define ACTION_DEFAULT	0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	char input[PATH_MAX_LEN];
	FILE *devnull;
} g;

static void import(const m365_list_t *list, m365_filter_t filter)
{
	ruleset_t *rs = ruleset_new();
	if (rs == NULL)
		abort();
	m365_import_args_t args = {.list = list,
				   .filter = filter,
				   .rules = rs,
				   .action = ACTION_SELECTED,
				   .default_action = ACTION_DEFAULT};
	m365_import_t *imp = NULL;
	char err[ERR_MAX];
	if (m365_import(&args, &imp, err, sizeof(err)) == 0)
		m365_import_print(imp, g.devnull, 2);
	ruleset_free(rs); /* before the import: its rules borrow the strings */
	m365_import_free(imp);
}

static void prefixes(const m365_list_t *list)
{
	m365_filter_t f = ER_M365_FILTER_DEFAULT;
	prefixset_t *ps = NULL;
	char err[ERR_MAX];
	if (m365_prefixes(list, &f, &ps, err, sizeof(err)) != 0)
		return;
	static const int families[] = {AF_INET, AF_INET6};
	for (size_t k = 0; k < 2; k++) {
		prefix_hit_t hit, match;
		for (size_t i = 0; prefixset_get(ps, families[k], i, &hit); i++) {
			if (!prefixset_match(ps, families[k], hit.prefix.addr, &match) ||
			    match.prefix.prefix_len < hit.prefix.prefix_len) {
				fprintf(stderr, "fuzz_m365: a prefix does not match its own network\n");
				abort();
			}
		}
	}
	prefixset_free(ps);
}

static void diff_self(const m365_list_t *list)
{
	m365_filter_t f = ER_M365_FILTER_DEFAULT;
	m365_change_t *changes = NULL;
	size_t n = 0;
	char err[ERR_MAX];
	if (m365_diff(list, list, &f, &changes, &n, err, sizeof(err)) == 0 && n != 0) {
		fprintf(stderr, "fuzz_m365: a list differs from itself (%zu changes)\n", n);
		abort();
	}
	m365_diff_free(changes, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g.devnull == NULL) {
		fuzz_path(g.input, sizeof(g.input), "endpoints.json");
		g.devnull = fopen("/dev/null", "w");
		if (g.devnull == NULL)
			abort();
	}
	fuzz_write_file(g.input, data, size);
	m365_list_t *list = NULL;
	char err[ERR_MAX];
	if (m365_list_load(g.input, &list, err, sizeof(err)) != 0)
		return 0;
	import(list, ER_M365_FILTER_DEFAULT);
	import(list, (m365_filter_t){.is_expressroute = false});
	diff_self(list);
	prefixes(list);
	m365_list_free(list);
	return 0;
}
