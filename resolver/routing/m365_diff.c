/*
 * `erdns m365 diff` as data: what changes in routing between two endpoint
 * lists under one filter.
 *
 * Comparing the URL lists as text would miss what matters: a wildcard that
 * appears, disappears or changes flag moves every name beneath it, and an
 * exception that disappears moves a name back under its wildcard. So both
 * lists are imported for real (m365_import, the code the server runs) and
 * one probe name per URL of either list is routed through both rule sets;
 * the routes, not the texts, are compared. The probe names stand in for the
 * names a wildcard covers; a name no URL of either list stands for cannot
 * change route except through a wildcard, whose own probe shows it.
 */
#include "routing/m365.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dname.h"

enum { ROUTE_INTERNET = 0, ROUTE_ER = 1 };

struct side {
	ruleset_t *rules;
	m365_import_t *imp;
};

/* One URL of one list, keyed by its probe name. */
struct probe {
	char name[ER_DNAME_TEXT_MAX];
	const char *url;
	bool is_new;
};

static int side_build(const m365_list_t *l, const m365_filter_t *f, struct side *s, char *err,
		      size_t errlen)
{
	s->rules = ruleset_new();
	if (s->rules == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m365_import_args_t args = {.list = l,
				   .filter = *f,
				   .rules = s->rules,
				   .action = ROUTE_ER,
				   .default_action = ROUTE_INTERNET};
	return m365_import(&args, &s->imp, err, errlen);
}

static void side_free(struct side *s)
{
	ruleset_free(s->rules);
	m365_import_free(s->imp);
}

static size_t add_probes(const m365_list_t *l, bool is_new, struct probe *v, size_t k)
{
	for (size_t i = 0; i < m365_list_count(l); i++) {
		const m365_set_t *s = m365_list_set(l, i);
		for (size_t u = 0; u < s->n_urls; u++, k++) {
			m365_url_probe(s->urls[u].text, v[k].name, sizeof(v[k].name));
			v[k].url = s->urls[u].text;
			v[k].is_new = is_new;
		}
	}
	return k;
}

static size_t url_count(const m365_list_t *l)
{
	size_t n = 0;
	for (size_t i = 0; i < m365_list_count(l); i++)
		n += m365_list_set(l, i)->n_urls;
	return n;
}

static int probe_cmp(const void *pa, const void *pb)
{
	const struct probe *a = pa, *b = pb;
	int c = strcasecmp(a->name, b->name);
	if (c != 0)
		return c;
	return (int)b->is_new - (int)a->is_new; /* NEW's spelling first */
}

/* The route of name in s: *is_er and the deciding rule as the list writes
 * it (NULL: none). */
static int route_of(const struct side *s, const char *name, bool *is_er, const char **rule)
{
	uint8_t wire[ER_DNAME_MAX];
	if (dname_from_text(name, wire) == 0)
		return -EINVAL;
	const rule_t *r = ruleset_lookup(s->rules, wire);
	*is_er = r != NULL && r->action == ROUTE_ER;
	*rule = r != NULL ? ruleset_rule_text(r) : NULL;
	return 0;
}

static char *dup_or_null(const char *s, bool *failed)
{
	char *d = s != NULL ? strdup(s) : NULL;
	if (s != NULL && d == NULL)
		*failed = true;
	return d;
}

static void change_clear(m365_change_t *c)
{
	free(c->name);
	free(c->url);
	free(c->old_rule);
	free(c->new_rule);
	*c = (m365_change_t){0};
}

/* Fills c for one probe name (group g[0..n) of the sorted probes); returns
 * 1 when it is a change, 0 when not, <0 on error. */
static int compare_one(const struct side *old, const struct side *new, const struct probe *g,
		       size_t n, m365_change_t *c)
{
	const char *old_rule, *new_rule;
	*c = (m365_change_t){0};
	for (size_t i = 0; i < n; i++) {
		c->is_in_new |= g[i].is_new;
		c->is_in_old |= !g[i].is_new;
	}
	if (route_of(old, g->name, &c->is_old_er, &old_rule) != 0 ||
	    route_of(new, g->name, &c->is_new_er, &new_rule) != 0)
		return -EINVAL;
	if (c->is_in_old && c->is_in_new && c->is_old_er == c->is_new_er)
		return 0;
	bool failed = false;
	c->name = dup_or_null(g->name, &failed);
	c->url = dup_or_null(g->url, &failed);
	c->old_rule = dup_or_null(old_rule, &failed);
	c->new_rule = dup_or_null(new_rule, &failed);
	if (failed) {
		change_clear(c);
		return -ENOMEM;
	}
	return 1;
}

static int compare_all(const struct side *old, const struct side *new, struct probe *v,
		       size_t total, m365_change_t *out, size_t *n, char *err, size_t errlen)
{
	for (size_t i = 0, end; i < total; i = end) {
		for (end = i; end < total && strcasecmp(v[end].name, v[i].name) == 0; end++)
			;
		int rc = compare_one(old, new, v + i, end - i, &out[*n]);
		if (rc == -EINVAL)
			snprintf(err, errlen, "url \"%.100s\" gives no valid name", v[i].url);
		else if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		if (rc < 0)
			return rc;
		*n += (size_t)rc;
	}
	return 0;
}

int m365_diff(const m365_list_t *old_list, const m365_list_t *new_list, const m365_filter_t *f,
	      m365_change_t **out, size_t *n, char *err, size_t errlen)
{
	struct side old = {0}, new = {0};
	size_t total = url_count(old_list) + url_count(new_list);
	struct probe *v = NULL;
	m365_change_t *changes = NULL;
	*out = NULL;
	*n = 0;
	int rc = side_build(old_list, f, &old, err, errlen);
	if (rc == 0)
		rc = side_build(new_list, f, &new, err, errlen);
	if (rc == 0) {
		v = calloc(total + 1, sizeof(*v));
		changes = calloc(total + 1, sizeof(*changes));
		rc = v != NULL && changes != NULL ? 0 : -ENOMEM;
		if (rc != 0)
			snprintf(err, errlen, "out of memory");
	}
	if (rc == 0) {
		add_probes(new_list, true, v, add_probes(old_list, false, v, 0));
		qsort(v, total, sizeof(*v), probe_cmp);
		rc = compare_all(&old, &new, v, total, changes, n, err, errlen);
	}
	free(v);
	side_free(&old);
	side_free(&new);
	if (rc != 0 || *n == 0) {
		m365_diff_free(changes, *n);
		*n = 0;
		return rc;
	}
	*out = changes;
	return 0;
}

void m365_diff_free(m365_change_t *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		change_clear(&v[i]);
	free(v);
}
