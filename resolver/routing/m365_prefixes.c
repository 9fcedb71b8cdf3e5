/*
 * The address prefixes of a Microsoft 365 list's ExpressRoute sets, for the
 * ExpressRoute audit (SPEC 2.2; routing/prefixset.h does the matching).
 *
 * Same filter as the import of the URLs, plus the set's own expressRoute
 * flag: with `"expressroute": false` a route imports every set's names, but
 * only the flagged sets' prefixes are advertised over Microsoft peering, so
 * only they can prove an answer takes the circuit. A prefix that does not
 * parse is an error with its place, as a bad URL is: a list we cannot read
 * completely must fail `erdns check`, not audit against half its prefixes.
 */
#include "routing/m365.h"

#include <errno.h>
#include <stdio.h>

static int add_set(prefixset_t *ps, const m365_list_t *list, const m365_set_t *s, char *err,
		   size_t errlen)
{
	for (size_t i = 0; i < s->n_ips; i++) {
		const m365_url_t *ip = &s->ips[i];
		netblock_t nb;
		if (netblock_parse(ip->text, &nb) != 0) {
			snprintf(err, errlen,
				 "%s:%u:%u: endpoint set id %d: ips \"%.100s\": not an address "
				 "prefix (such as \"13.107.6.152/31\" or \"2603:1006::/40\")",
				 m365_list_name(list), ip->line, ip->col, (int)s->id, ip->text);
			return -EINVAL;
		}
		if (prefixset_add(ps, &nb, s->id) != 0) {
			snprintf(err, errlen, "%s: out of memory", m365_list_name(list));
			return -ENOMEM;
		}
	}
	return 0;
}

int m365_prefixes(const m365_list_t *list, const m365_filter_t *f, prefixset_t **out, char *err,
		  size_t errlen)
{
	prefixset_t *ps = prefixset_new();
	int rc = ps != NULL ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < m365_list_count(list); i++) {
		const m365_set_t *s = m365_list_set(list, i);
		if (s->is_expressroute && m365_filter_selects(f, s))
			rc = add_set(ps, list, s, err, errlen);
	}
	if (rc == 0)
		rc = prefixset_finish(ps);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", m365_list_name(list));
	if (rc != 0) {
		prefixset_free(ps);
		ps = NULL;
	}
	*out = ps;
	return rc;
}
