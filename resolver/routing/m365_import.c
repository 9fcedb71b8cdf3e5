/*
 * One filter applied to one endpoint list, as rules (SPEC 2.2).
 *
 * Selected sets' URLs are added in file order, so when a URL appears in
 * several selected sets the first one is its origin (ruleset_add keeps the
 * first m365 rule of a pattern). Then every URL is grouped with its copies
 * in other sets (a sort by name): a URL selected in one set and left out in
 * another is imported and reported ("flagged both ways"); a URL only in
 * left-out sets is tested, through its probe name, against a scratch
 * ruleset holding this import's selected rules alone, and when one of them
 * would catch it, the URL becomes an exception rule of the same shape that
 * routes to the default action. The scratch ruleset, not the target, is
 * asked so that the exceptions depend on the data only: an operator's
 * domains rule or an earlier import must not change what this list says.
 *
 * Exceptions are never hard-coded; cdn.odc.officeapps.live.com under
 * *.officeapps.live.com comes out of the 2026 Worldwide list by itself.
 * Rejected: testing a left-out URL against every selected URL pairwise (a
 * second glob engine, and it would disagree with the ruleset on precedence).
 */
#include "routing/m365.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dname.h"

#define ACTION_SELECTED 1u /* the only action in the scratch ruleset */

/* A growable array of owned strings. */
struct strvec {
	char **v;
	size_t n, cap;
};

struct m365_import {
	char *file; /* borrowed by every rule origin */
	m365_report_t report;
	struct strvec details; /* borrowed by rule origins */
	struct strvec urls;    /* the URLs as the list has them, borrowed by rule origins */
	struct strvec exceptions, both_ways;
};

/* One URL of one set, for grouping copies of a URL across sets. */
struct ref {
	const m365_set_t *set;
	const m365_url_t *url;
	size_t order; /* file order */
	bool is_selected;
};

/* One URL's rules: where the URL is, and the strings the import keeps for
 * their origins (the list itself is freed after the import). */
struct url_rule {
	const m365_set_t *set;
	const m365_url_t *url;
	const char *detail; /* "Exchange/Optimize url=..." */
	const char *text;   /* the URL as written, shown instead of the "=host" pattern */
	bool is_exception;  /* routes to the default: left out by the filter */
};

/* What one import run needs. */
struct run {
	const m365_import_args_t *args;
	m365_import_t *imp;
	ruleset_t *scratch;
	char *err;
	size_t errlen;
};

static const char *strvec_push(struct strvec *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *strvec_push(struct strvec *sv, const char *fmt, ...)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **grown = reallocarray(sv->v, cap, sizeof(*grown));
		if (grown == NULL)
			return NULL;
		sv->v = grown;
		sv->cap = cap;
	}
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	sv->v[sv->n++] = s;
	return s;
}

static void strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

void m365_import_free(m365_import_t *imp)
{
	if (imp == NULL)
		return;
	strvec_free(&imp->details);
	strvec_free(&imp->urls);
	strvec_free(&imp->exceptions);
	strvec_free(&imp->both_ways);
	free(imp->file);
	free(imp);
}

static int nomem(const struct run *r)
{
	snprintf(r->err, r->errlen, "%s: out of memory", r->imp->file);
	return -ENOMEM;
}

static int url_error(const struct run *r, const m365_set_t *s, const m365_url_t *u, const char *msg)
{
	snprintf(r->err, r->errlen, "%s:%u:%u: endpoint set id %d: url \"%.100s\": %s",
		 r->imp->file, u->line, u->col, (int)s->id, u->text, msg);
	return -EINVAL;
}

static void count_rule(m365_report_t *rep, rule_kind_t kind)
{
	if (kind == RULE_EXACT)
		rep->rules_exact++;
	else if (kind == RULE_BELOW)
		rep->rules_below++;
	else
		rep->rules_glob++;
}

/* Adds the rule of ur to rs; *added tells whether it is a new rule. */
static int add_rule(const struct run *r, ruleset_t *rs, const struct url_rule *ur, uint32_t action,
		    bool *added)
{
	char pattern[ER_DNAME_TEXT_MAX], msg[300];
	m365_url_pattern(ur->url->text, pattern, sizeof(pattern));
	rule_origin_t origin = {
	    .kind = RULE_ORIGIN_M365,
	    .file = r->imp->file,
	    .line = ur->url->line,
	    .col = ur->url->col,
	    .m365_set_id = ur->set->id,
	    .detail = ur->detail,
	    .text = ur->text,
	    .route_slot = r->args->route_slot,
	    .is_exception = ur->is_exception,
	};
	size_t before = ruleset_count(rs);
	int rc = ruleset_add(rs, pattern, action, &origin, msg, sizeof(msg));
	if (rc == -ENOMEM)
		return nomem(r);
	if (rc != 0)
		return url_error(r, ur->set, ur->url, msg);
	*added = ruleset_count(rs) > before;
	return 0;
}

/* Keeps a copy of the URL for ur->text (ur->detail is the caller's). */
static int keep_url(const struct run *r, struct url_rule *ur)
{
	ur->text = strvec_push(&r->imp->urls, "%s", ur->url->text);
	return ur->text != NULL ? 0 : nomem(r);
}

static int import_selected_url(const struct run *r, const m365_set_t *s, const m365_url_t *u)
{
	const m365_import_args_t *a = r->args;
	bool added;
	struct url_rule ur = {
	    .set = s,
	    .url = u,
	    .detail = strvec_push(&r->imp->details, "%s/%s url=%s", s->area, s->category, u->text),
	};
	if (ur.detail == NULL)
		return nomem(r);
	int rc = keep_url(r, &ur);
	if (rc == 0)
		rc = add_rule(r, r->scratch, &ur, ACTION_SELECTED, &added);
	if (rc == 0)
		rc = add_rule(r, a->rules, &ur, a->action, &added);
	if (rc == 0 && added) {
		char pattern[ER_DNAME_TEXT_MAX];
		count_rule(&r->imp->report, m365_url_pattern(u->text, pattern, sizeof(pattern)));
	}
	return rc;
}

static int import_selected(const struct run *r)
{
	const m365_list_t *l = r->args->list;
	for (size_t i = 0; i < m365_list_count(l); i++) {
		const m365_set_t *s = m365_list_set(l, i);
		if (!m365_filter_selects(&r->args->filter, s))
			continue;
		r->imp->report.sets_selected++;
		for (size_t u = 0; u < s->n_urls; u++) {
			int rc = import_selected_url(r, s, &s->urls[u]);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int ref_cmp(const void *pa, const void *pb)
{
	const struct ref *a = pa, *b = pb;
	int c = strcasecmp(a->url->text, b->url->text);
	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Every URL of every set, sorted by name then file order; caller frees. */
static struct ref *collect_refs(const m365_import_args_t *a, size_t *n)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < m365_list_count(a->list); i++)
		total += m365_list_set(a->list, i)->n_urls;
	struct ref *refs = calloc(total + 1, sizeof(*refs));
	if (refs == NULL)
		return NULL;
	for (size_t i = 0; i < m365_list_count(a->list); i++) {
		const m365_set_t *s = m365_list_set(a->list, i);
		bool sel = m365_filter_selects(&a->filter, s);
		for (size_t u = 0; u < s->n_urls; u++, k++)
			refs[k] = (struct ref){s, &s->urls[u], k, sel};
	}
	qsort(refs, total, sizeof(*refs), ref_cmp);
	*n = total;
	return refs;
}

static int report_both_ways(const struct run *r, const struct ref *g, size_t n)
{
	const struct ref *sel = NULL, *left = NULL;
	for (size_t i = 0; i < n; i++) {
		if (g[i].is_selected && sel == NULL)
			sel = &g[i];
		if (!g[i].is_selected && left == NULL)
			left = &g[i];
	}
	if (sel == NULL || left == NULL)
		return 0; /* not flagged both ways after all */
	r->imp->report.both_ways++;
	if (!strvec_push(&r->imp->both_ways, "%s (selected in set %d, left out in set %d)",
			 sel->url->text, (int)sel->set->id, (int)left->set->id))
		return nomem(r);
	return 0;
}

/* A URL only in left-out sets: an exception when an imported rule catches it. */
static int maybe_exception(const struct run *r, const struct ref *ref)
{
	char probe[ER_DNAME_TEXT_MAX];
	uint8_t wire[ER_DNAME_MAX];
	m365_url_probe(ref->url->text, probe, sizeof(probe));
	if (dname_from_text(probe, wire) == 0)
		return url_error(r, ref->set, ref->url, "not a valid name pattern");
	const rule_t *by = ruleset_lookup(r->scratch, wire);
	if (by == NULL)
		return 0;
	const m365_set_t *s = ref->set;
	struct url_rule ur = {
	    .set = s,
	    .url = ref->url,
	    .is_exception = true,
	    .detail = strvec_push(
		&r->imp->details,
		"exception: %s/%s url=%s left out by the filter, under %s (m365:%d)", s->area,
		s->category, ref->url->text, ruleset_rule_text(by), (int)by->origin.m365_set_id),
	};
	if (ur.detail == NULL)
		return nomem(r);
	bool added;
	int rc = keep_url(r, &ur);
	if (rc == 0)
		rc = add_rule(r, r->args->rules, &ur, r->args->default_action, &added);
	if (rc != 0 || !added)
		return rc;
	r->imp->report.exceptions++;
	if (!strvec_push(&r->imp->exceptions, "%s (set %d) under %s (set %d)", ref->url->text,
			 (int)s->id, ruleset_rule_text(by), (int)by->origin.m365_set_id))
		return nomem(r);
	return 0;
}

static int walk_groups(const struct run *r, const struct ref *refs, size_t n)
{
	int rc = 0;
	for (size_t i = 0, end; rc == 0 && i < n; i = end) {
		bool any_sel = false, any_left = false;
		for (end = i; end < n && strcasecmp(refs[end].url->text, refs[i].url->text) == 0;
		     end++) {
			any_sel |= refs[end].is_selected;
			any_left |= !refs[end].is_selected;
		}
		if (any_sel && any_left)
			rc = report_both_ways(r, refs + i, end - i);
		else if (!any_sel)
			rc = maybe_exception(r, &refs[i]);
	}
	return rc;
}

int m365_import(const m365_import_args_t *args, m365_import_t **out, char *err, size_t errlen)
{
	*out = NULL;
	struct run r = {.args = args, .err = err, .errlen = errlen};
	struct ref *refs = NULL;
	size_t n = 0;
	r.imp = calloc(1, sizeof(*r.imp));
	if (r.imp == NULL || (r.imp->file = strdup(m365_list_name(args->list))) == NULL) {
		free(r.imp);
		snprintf(err, errlen, "%s: out of memory", m365_list_name(args->list));
		return -ENOMEM;
	}
	r.imp->report.sets_read = m365_list_count(args->list);
	r.scratch = ruleset_new();
	int rc = r.scratch != NULL ? import_selected(&r) : nomem(&r);
	if (rc == 0) {
		refs = collect_refs(args, &n);
		rc = refs != NULL ? walk_groups(&r, refs, n) : nomem(&r);
	}
	free(refs);
	ruleset_free(r.scratch);
	if (rc != 0) {
		m365_import_free(r.imp);
		return rc;
	}
	*out = r.imp;
	return 0;
}

const m365_report_t *m365_import_report(const m365_import_t *imp)
{
	return &imp->report;
}

const char *m365_import_file(const m365_import_t *imp)
{
	return imp->file;
}

const char *m365_import_exception(const m365_import_t *imp, size_t i)
{
	return i < imp->exceptions.n ? imp->exceptions.v[i] : NULL;
}

const char *m365_import_both_ways(const m365_import_t *imp, size_t i)
{
	return i < imp->both_ways.n ? imp->both_ways.v[i] : NULL;
}

void m365_import_print(const m365_import_t *imp, FILE *out, int indent)
{
	const m365_report_t *rep = &imp->report;
	fprintf(out, "%*sendpoint sets: %zu read, %zu selected\n", indent, "", rep->sets_read,
		rep->sets_selected);
	fprintf(out, "%*srules: %zu (exact %zu, *. %zu, glob %zu)\n", indent, "",
		rep->rules_exact + rep->rules_below + rep->rules_glob, rep->rules_exact,
		rep->rules_below, rep->rules_glob);
	fprintf(out, "%*sexceptions: %zu\n", indent, "", rep->exceptions);
	for (size_t i = 0; i < imp->exceptions.n; i++)
		fprintf(out, "%*s  %s\n", indent, "", imp->exceptions.v[i]);
	fprintf(out, "%*sflagged both ways: %zu\n", indent, "", rep->both_ways);
	for (size_t i = 0; i < imp->both_ways.n; i++)
		fprintf(out, "%*s  %s\n", indent, "", imp->both_ways.v[i]);
}
