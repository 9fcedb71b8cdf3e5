/*
 * CHAOS-class TXT questions erdns answers itself (SPEC 3).
 */
#ifndef ERDNS_DNS_CHAOS_H
#define ERDNS_DNS_CHAOS_H

#include <stdint.h>

typedef enum {
	CHAOS_ID_SERVER, /* id.server */
	CHAOS_HOSTNAME_BIND, /* hostname.bind */
	CHAOS_VERSION_SERVER, /* version.server and version.bind */
	CHAOS_ROUTING, /* any other name: the routing check */
} chaos_kind_t;

/* Classifies a CH TXT question name (wire form, any case). */
chaos_kind_t chaos_classify(const uint8_t *qname);

#endif
