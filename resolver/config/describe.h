/*
 * How a name is routed, in words: the routing check of SPEC 3 (CHAOS TXT)
 * and `erdns explain` share this so they can never disagree.
 */
#ifndef ERDNS_CONFIG_DESCRIBE_H
#define ERDNS_CONFIG_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "dns/dname.h"

typedef struct route_description {
	bool is_local; /* answered from a local zone */
	char zone[ER_DNAME_TEXT_MAX]; /* its apex, when is_local */
	route_decision_t decision; /* when !is_local */
	const config_chain_t *chain; /* when !is_local */
} route_description_t;

/* Fills out for qname (wire form) asked by client (may be NULL). */
void describe_route(const config_t *c, const uint8_t *qname, const struct sockaddr *client,
		    route_description_t *out);

/*
 * One line: "view=pilot rule=*.outlook.office.com source=erdns.json:12
 * via=hq,hq-eu,branch" or "zone=branch.example source=local". View is "-"
 * outside views; rule is the rule as its source writes it (ruleset_rule_text:
 * "teams.microsoft.com" from Microsoft's list, "=host.example" from the
 * operator), "default" when a default decided. Returns the
 * length written (truncated to len - 1).
 */
size_t describe_route_text(const config_t *c, const route_description_t *d, char *buf,
			   size_t len);

/* "FILE:LINE:COL", "m365:ID" or "config" (a default), for the rule; with
 * full_path an m365 rule also says where its URL is: "m365:ID (LIST:LINE:COL)". */
void describe_rule_source(const rule_t *rule, bool full_path, char *buf, size_t len);

#endif
