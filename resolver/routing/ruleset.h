/*
 * A set of name rules with SPEC 2.2 precedence, looked up in O(labels of the
 * name), independent of the number of rules.
 *
 * Rule forms (pattern text, case-insensitive, trailing dot optional):
 *   "example.com"         RULE_SUBTREE  the name and every name below it
 *   "*.example.com"       RULE_BELOW    names strictly below
 *   "=host.example.com"   RULE_EXACT    that name only
 *   "*cdn.onenote.net", "autodiscover.*.onmicrosoft.com", "*-files.x.com"
 *                         RULE_GLOB     '*' matches any run of characters,
 *                                       dots included (PAC shExpMatch)
 * A rule is anchored at its longest literal label suffix ("x" and "*.x" at x;
 * "autodiscover.*.onmicrosoft.com" at onmicrosoft.com). For a name, the
 * deepest anchor with an applicable rule wins; at one anchor EXACT beats GLOB
 * beats SUBTREE/BELOW; at equal rank a RULE_ORIGIN_DOMAINS rule beats a
 * RULE_ORIGIN_M365 one. Among several matching globs at one anchor the one
 * with the most literal characters wins, then the earliest added.
 */
#ifndef ERDNS_ROUTING_RULESET_H
#define ERDNS_ROUTING_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RULE_EXACT, RULE_GLOB, RULE_SUBTREE, RULE_BELOW } rule_kind_t;
typedef enum { RULE_ORIGIN_DOMAINS, RULE_ORIGIN_M365 } rule_origin_kind_t;

/* Where a rule came from, for `erdns explain`, CHAOS answers and conflict
 * messages. Strings are borrowed: they must outlive the ruleset (the config
 * snapshot owns them). */
typedef struct rule_origin {
	rule_origin_kind_t kind;
	const char *file; /* config file, or the m365 endpoints file */
	uint32_t line, col; /* 0 when unknown */
	int32_t m365_set_id; /* endpoint set id, -1 for domains rules */
	const char *detail; /* free text (m365: "Exchange/Optimize url=..."), may be NULL */
	/* The rule as its source writes it, when that is not the pattern: an m365
	 * rule's URL ("teams.microsoft.com" for the pattern "=teams.microsoft.com").
	 * NULL: the pattern is the source's own syntax (domains). */
	const char *text;
	/* The metrics route slot of the route this rule came from
	 * (config_t.route_slots): the `route` label of erdns_answers_total. */
	uint16_t route_slot;
	/* An m365 exception rule: a name the import's filter left out, routed
	 * to the default path, not to the route's chain (the query log's `er`
	 * is "n/a" for it). */
	bool is_exception;
} rule_origin_t;

typedef struct rule {
	const char *pattern; /* normalised, in the domains syntax: lower-case, no trailing dot */
	rule_kind_t kind;
	uint32_t action; /* opaque to the ruleset: the caller's route-chain index */
	rule_origin_t origin;
} rule_t;

typedef struct ruleset ruleset_t;

/* NULL on allocation failure. */
ruleset_t *ruleset_new(void);
void ruleset_free(ruleset_t *rs);

/*
 * Adds a rule; pattern and origin are copied except origin's strings.
 * Returns 0; -EINVAL for a malformed pattern (empty label, bare "*", name too
 * long, '*' in the anchor...) with a message in err; -EEXIST when a
 * RULE_ORIGIN_DOMAINS rule claims the same names as an existing domains rule
 * with a different action (same pattern, or "x" vs "*.x"): err then names
 * the other rule's place ("conflicts with \"x\" at FILE:LINE:COL (via ...)").
 * The same pattern with the same action again is accepted and ignored.
 * Between an m365 rule and a domains rule there is no conflict: the domains
 * rule wins by precedence. Two m365 rules with the same pattern: first wins.
 */
int ruleset_add(ruleset_t *rs, const char *pattern, uint32_t action, const rule_origin_t *origin,
		char *err, size_t errlen);

/* The rule deciding qname (uncompressed wire form, any case), or NULL.
 * Valid while rs lives. Thread-safe for concurrent readers. */
const rule_t *ruleset_lookup(const ruleset_t *rs, const uint8_t *qname);

/* The number of table probes ruleset_lookup makes for qname: a counted
 * workload for tests showing lookup cost grows with labels, not rules. */
size_t ruleset_lookup_cost(const ruleset_t *rs, const uint8_t *qname);

/* The rule as its source writes it, for people (SPEC 3 `rule=`): the m365
 * URL as Microsoft's list has it, a domains entry as the operator wrote it
 * (normalised), never NULL. The pattern stays the matching syntax, '='
 * included, for code (PAC). Valid while rule lives. */
const char *ruleset_rule_text(const rule_t *rule);

/* Number of distinct rules held. */
size_t ruleset_count(const ruleset_t *rs);
/* Counts by kind and by origin, for `erdns check`. */
size_t ruleset_count_kind(const ruleset_t *rs, rule_kind_t kind);
size_t ruleset_count_origin(const ruleset_t *rs, rule_origin_kind_t origin);
size_t ruleset_count_origin_kind(const ruleset_t *rs, rule_origin_kind_t origin,
				 rule_kind_t kind);

/*
 * Every rule, in the order a first-match evaluator (a PAC file) must test
 * them to reach the decision ruleset_lookup reaches, for every name: deepest
 * anchor first; at one anchor exact rules, then globs (most literal
 * characters first, domains before m365, then in insertion order), then
 * "*." and subtree rules, domains before m365. Rules at two anchors of the
 * same depth never match the same name, so their relative order does not
 * matter (anchors are kept together, in text order, for a stable output).
 * Returns 0 with *out (caller frees the array; the rules stay owned by rs
 * and valid while it lives) and *n; -ENOMEM. An empty set gives *out NULL.
 */
int ruleset_list(const ruleset_t *rs, const rule_t ***out, size_t *n);

/* shExpMatch-style glob: '*' matches any run (dots included), everything
 * else literally, ASCII case-insensitively. Exposed for tests and PAC. */
bool glob_match(const char *pattern, const char *text);

#endif
