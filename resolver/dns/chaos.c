/*
 * The fixed CHAOS names (RFC 4892 for id.server; hostname.bind and
 * version.bind are the BIND conventions every DNS tool still asks for).
 * A table walked with dname_equal: four entries do not justify a trie, and
 * comparing in wire form avoids converting the question to text.
 */
#include "dns/chaos.h"

#include <stddef.h>

#include "dns/dname.h"

static const struct {
	const uint8_t *name;
	chaos_kind_t kind;
} chaos_names[] = {
	{ (const uint8_t *)"\002id\006server", CHAOS_ID_SERVER },
	{ (const uint8_t *)"\010hostname\004bind", CHAOS_HOSTNAME_BIND },
	{ (const uint8_t *)"\007version\006server", CHAOS_VERSION_SERVER },
	{ (const uint8_t *)"\007version\004bind", CHAOS_VERSION_SERVER },
};

chaos_kind_t chaos_classify(const uint8_t *qname)
{
	for (size_t i = 0; i < sizeof(chaos_names) / sizeof(chaos_names[0]); i++) {
		if (dname_equal(qname, chaos_names[i].name))
			return chaos_names[i].kind;
	}
	return CHAOS_ROUTING;
}
