/*
 * Route descriptions shared by CHAOS answers and `erdns explain`. The text
 * is a list of key=value words so scripts can split it and people can read
 * it; the CHAOS answer appends the worker's live upstream choice.
 */
#include "config/describe.h"

#include <stdio.h>
#include <string.h>

#include "dns/dname.h"

void describe_route(const config_t *c, const uint8_t *qname, const struct sockaddr *client,
		    route_description_t *out)
{
	memset(out, 0, sizeof(*out));
	const uint8_t *apex = c->zones ? zoneset_find(c->zones, qname) : NULL;
	if (apex) {
		out->is_local = true;
		dname_to_text(apex, out->zone);
		return;
	}
	router_decide(c->router, qname, client, &out->decision);
	out->chain = &c->chains[out->decision.action];
}

void describe_rule_source(const rule_t *rule, bool full_path, char *buf, size_t len)
{
	if (rule == NULL) {
		snprintf(buf, len, "config");
		return;
	}
	if (rule->origin.kind == RULE_ORIGIN_M365 && !full_path) {
		snprintf(buf, len, "m365:%d", (int)rule->origin.m365_set_id);
		return;
	}
	if (rule->origin.kind == RULE_ORIGIN_M365) { /* explain: where in the list too */
		snprintf(buf, len, "m365:%d (%s:%u:%u)", (int)rule->origin.m365_set_id,
			 rule->origin.file ? rule->origin.file : "?", rule->origin.line,
			 rule->origin.col);
		return;
	}
	const char *file = rule->origin.file ? rule->origin.file : "?";
	if (!full_path) {
		const char *slash = strrchr(file, '/');
		if (slash)
			file = slash + 1;
	}
	snprintf(buf, len, "%s:%u:%u", file, rule->origin.line, rule->origin.col);
}

size_t describe_route_text(const config_t *c, const route_description_t *d, char *buf,
			   size_t len)
{
	(void)c;
	int n;
	if (d->is_local) {
		n = snprintf(buf, len, "zone=%s source=local", d->zone);
	} else {
		char source[512];
		describe_rule_source(d->decision.rule, false, source, sizeof(source));
		n = snprintf(buf, len, "view=%s rule=%s source=%s via=%s",
			     d->decision.view ? d->decision.view : "-",
			     d->decision.rule ? ruleset_rule_text(d->decision.rule) : "default",
			     source, d->chain->text);
	}
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}
