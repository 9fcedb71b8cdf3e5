/*
 * Microsoft 365 endpoint lists (the JSON array the endpoints web service
 * returns for /endpoints/{instance}) turned into name rules (SPEC 2.2).
 *
 * Two steps, so one parsed file can feed several imports (two routes with
 * different filters, `erdns m365 diff` building an old and a new rule set):
 *   m365_list_load/parse  the file, validated, as endpoint sets with URLs;
 *   m365_import           one filter applied to a list: the selected sets'
 *                         URLs become rules of one action, and the URLs the
 *                         filter leaves out that an imported rule would catch
 *                         become exception rules of the default action.
 * Pure: reading the file is the only I/O.
 */
#ifndef ERDNS_ROUTING_M365_H
#define ERDNS_ROUTING_M365_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "routing/prefixset.h"
#include "routing/ruleset.h"

#define ER_M365_FILE_MAX    (16u << 20) /* the 2026 Worldwide list is 25 KB */
#define ER_M365_PROBE_LABEL "probe"

/* Service areas and categories as filter bits. *_OTHER stands for a value
 * Microsoft may add later: only an unfiltered import selects it. */
enum {
	M365_AREA_EXCHANGE = 1u << 0,
	M365_AREA_SHAREPOINT = 1u << 1,
	M365_AREA_SKYPE = 1u << 2,
	M365_AREA_COMMON = 1u << 3,
	M365_AREA_OTHER = 1u << 4,
};
enum {
	M365_CAT_OPTIMIZE = 1u << 0,
	M365_CAT_ALLOW = 1u << 1,
	M365_CAT_DEFAULT = 1u << 2,
	M365_CAT_OTHER = 1u << 3,
};

/* Which endpoint sets an import selects. Zero bits mean "every one". */
typedef struct m365_filter {
	bool is_expressroute;  /* true (the default): only sets flagged expressRoute */
	bool is_required_only; /* only sets with "required": true */
	unsigned areas;	       /* M365_AREA_*; Common is always added when non-zero */
	unsigned categories;   /* M365_CAT_* */
} m365_filter_t;

#define ER_M365_FILTER_DEFAULT ((m365_filter_t){.is_expressroute = true})

/* One string of an endpoint set (a URL, an IP prefix) and its place. */
typedef struct m365_url {
	char *text;	    /* as written in the file */
	uint32_t line, col; /* where it is in the file */
} m365_url_t;

/* One endpoint set, read-only after parsing. Strings owned by the list. */
typedef struct m365_set {
	int32_t id;
	char *area; /* serviceArea */
	char *category;
	unsigned area_bit, category_bit;
	bool is_expressroute, is_required;
	size_t n_urls;
	m365_url_t *urls;
	size_t n_ips;
	m365_url_t *ips;    /* IPv4 and IPv6 prefixes, checked by m365_prefixes */
	uint32_t line, col; /* the set object */
} m365_set_t;

typedef struct m365_list m365_list_t;

/*
 * Parses text (NUL-terminated) named name in messages. Returns 0 with *out
 * (caller frees with m365_list_free); -EINVAL with "NAME:LINE:COL: what is
 * wrong" in err (JSON syntax, a field of the wrong type, a missing id,
 * serviceArea, category, expressRoute or required, a duplicate id, no
 * endpoint set at all); -ENOMEM. Unknown fields are ignored.
 */
int m365_list_parse(const char *text, const char *name, m365_list_t **out, char *err,
		    size_t errlen);
/* Reads path (at most ER_M365_FILE_MAX bytes) and parses it; as above, plus
 * "PATH: cannot read: ..." errors (-errno). */
int m365_list_load(const char *path, m365_list_t **out, char *err, size_t errlen);
void m365_list_free(m365_list_t *list);

const char *m365_list_name(const m365_list_t *list);
size_t m365_list_count(const m365_list_t *list);
/* Set i (0..count-1) in file order; valid while list lives. */
const m365_set_t *m365_list_set(const m365_list_t *list, size_t i);

/* "Exchange" -> M365_AREA_EXCHANGE, "Optimize" -> M365_CAT_OPTIMIZE
 * (case-insensitive). Return 0, or -EINVAL for any other name. */
int m365_area_parse(const char *name, unsigned *bit);
int m365_category_parse(const char *name, unsigned *bit);
/* "Exchange, SharePoint, Skype, Common" and "Optimize, Allow, Default". */
const char *m365_area_names(void);
const char *m365_category_names(void);

bool m365_filter_selects(const m365_filter_t *f, const m365_set_t *set);

/* The rule pattern of a URL: "=host" for a plain name, the URL itself for
 * "*.x" and other globs. out must hold ER_DNAME_TEXT_MAX bytes; returns
 * the rule kind the pattern will have. */
rule_kind_t m365_url_pattern(const char *url, char *out, size_t outlen);
/* A name the URL stands for, to test how it is routed: the host itself;
 * "*.x" -> "probe.x"; any other '*' replaced by "probe". */
void m365_url_probe(const char *url, char *out, size_t outlen);

/*
 * The ExpressRoute audit's prefixes (SPEC 2.2): the `ips` of the sets f
 * selects that are flagged expressRoute (whatever f->is_expressroute says:
 * only those are carried by Microsoft peering), tagged with their set ids.
 * Returns 0 with *out finished (caller frees with prefixset_free; it may be
 * empty: a list fetched without IPs); -EINVAL with "NAME:LINE:COL: endpoint
 * set id N: ips \"...\": not an address prefix ..." in err; -ENOMEM.
 */
int m365_prefixes(const m365_list_t *list, const m365_filter_t *f, prefixset_t **out, char *err,
		  size_t errlen);

/* What one import did, for `erdns check`. */
typedef struct m365_report {
	size_t sets_read, sets_selected;
	size_t rules_exact, rules_below, rules_glob; /* rules added, by shape */
	size_t exceptions;			     /* exception rules added */
	size_t both_ways; /* URLs selected in one set and left out in another */
} m365_report_t;

typedef struct m365_import_args {
	const m365_list_t *list;
	m365_filter_t filter;
	ruleset_t *rules;	 /* where the rules go */
	uint32_t action;	 /* of the selected URLs' rules */
	uint32_t default_action; /* of the exception rules */
	uint16_t route_slot; /* for the rules' origins (rule_origin_t.route_slot) */
} m365_import_args_t;

typedef struct m365_import m365_import_t;

/*
 * Adds the rules of one import to args->rules. Returns 0 with *out, which
 * owns the strings the new rules' origins borrow (file name, detail): free
 * it with m365_import_free only after the ruleset. -EINVAL with "NAME:LINE:COL:
 * [set index] (id N) urls[i]: bad name pattern ..." in err for a URL that
 * is no valid pattern; -ENOMEM. On failure rules added so far stay in the
 * ruleset (the caller discards it) and *out is NULL.
 */
int m365_import(const m365_import_args_t *args, m365_import_t **out, char *err, size_t errlen);
void m365_import_free(m365_import_t *imp);

const m365_report_t *m365_import_report(const m365_import_t *imp);
const char *m365_import_file(const m365_import_t *imp);
/* Exception i: "cdn.odc.officeapps.live.com (set 46) under *.officeapps.live.com
 * (set 46)"; URL i flagged both ways: "outlook.office.com (selected in set 1,
 * left out in set 8)". Valid while imp lives. */
const char *m365_import_exception(const m365_import_t *imp, size_t i);
const char *m365_import_both_ways(const m365_import_t *imp, size_t i);

/* The per-file lines of `erdns check`, indented by indent spaces. */
void m365_import_print(const m365_import_t *imp, FILE *out, int indent);

/*
 * `erdns m365 diff`: both lists imported with filter f (selected names on
 * "expressroute", everything else, exceptions included, on "internet"), then
 * the probe name of every URL of either list routed through both rule sets.
 * One entry per probe name whose URL is listed in one file only, or whose
 * route differs (a wildcard that grew or shrank shows up this way).
 */
typedef struct m365_change {
	char *name;		   /* the probe name */
	char *url;		   /* the URL it stands for (first seen: NEW, then OLD) */
	bool is_in_old, is_in_new; /* listed in the file */
	bool is_old_er, is_new_er; /* routed to the selected (ExpressRoute) path */
	char *old_rule, *new_rule; /* deciding rule's URL, NULL: the default path */
} m365_change_t;

/* Returns 0 with *out (free with m365_diff_free; NULL when *n is 0) and *n;
 * -EINVAL (a bad URL) or -ENOMEM with a message in err. */
int m365_diff(const m365_list_t *old_list, const m365_list_t *new_list, const m365_filter_t *f,
	      m365_change_t **out, size_t *n, char *err, size_t errlen);
void m365_diff_free(m365_change_t *v, size_t n);

#endif
