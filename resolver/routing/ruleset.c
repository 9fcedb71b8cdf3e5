/*
 * Name rules in a hash table keyed by anchor: the lower-case wire form of a
 * rule's longest literal label suffix. Each anchor node holds the rules
 * anchored there, one slot per (kind, origin) for exact, subtree and "*."
 * rules and a small array of globs.
 *
 * A lookup collects the label offsets of the name, hashes every suffix once
 * from the rightmost label leftwards (the hash of "a.b.c" extends the hash of
 * "b.c", so all suffix hashes together cost O(name length)), then probes the
 * anchors from the full name towards the TLD. The first anchor with an
 * applicable rule decides: that is the "deepest anchor wins" precedence of
 * SPEC 2.2, and the cost is at most one probe per label whatever the number
 * of rules. Globs are matched against the name's text, built only when an
 * anchor with globs is reached.
 *
 * Rejected: a label trie (Knot's qp-trie, Unbound's rbtree of zones) gives
 * the same bounds but needs more code for no gain here, since lookups never
 * need ordered walks; a linear list of rules (the PAC way) is O(rules) per
 * query, and a Microsoft list plus operator rules reaches thousands.
 *
 * The hash is FNV-1a over (length, lower-cased bytes) per label. Only the
 * config and the Microsoft file insert keys, so hash flooding by clients is
 * not a concern: a query can only probe.
 */
#include "routing/ruleset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"

#define ORIGIN_KINDS 2 /* RULE_ORIGIN_DOMAINS, RULE_ORIGIN_M365 */
#define KINDS 4
#define MIN_BUCKETS 16
#define FNV_OFFSET 0xcbf29ce484222325ULL /* FNV-1a 64, draft-eastlake-fnv */
#define FNV_PRIME 0x100000001b3ULL
#define PATTERN_MAX (ER_DNAME_MAX + 1) /* longest name text plus '=' */

_Static_assert(RULE_ORIGIN_DOMAINS == 0 && RULE_ORIGIN_M365 == 1,
	       "origin kinds index the per-anchor slots, domains first");
_Static_assert(RULE_BELOW == KINDS - 1, "by_kind is indexed by rule_kind_t");

struct entry {
	rule_t rule; /* first: lookups hand out &entry->rule */
	uint32_t seq; /* insertion order, the last glob tie-break */
	uint16_t literals; /* non-'*' characters, the first glob tie-break */
	char text[]; /* storage for rule.pattern */
};

struct anchor {
	struct anchor *next; /* bucket chain */
	uint64_t hash;
	struct entry *exact[ORIGIN_KINDS];
	struct entry *subtree[ORIGIN_KINDS];
	struct entry *below[ORIGIN_KINDS];
	struct entry **globs;
	size_t nglobs, capglobs;
	uint8_t len; /* wire length of name */
	uint8_t name[]; /* lower-case wire form */
};

struct ruleset {
	struct anchor **buckets;
	size_t nbuckets; /* a power of two */
	size_t nanchors;
	size_t nrules;
	size_t by_kind[KINDS];
	size_t by_origin[ORIGIN_KINDS][KINDS];
	uint32_t next_seq;
};

/* A pattern taken apart by parse_pattern. */
struct parsed {
	rule_kind_t kind;
	char text[PATTERN_MAX + 1]; /* normalised pattern, '=' kept */
	uint8_t wire[ER_DNAME_MAX]; /* anchor, lower-case wire form */
	size_t wire_len;
	uint16_t literals;
};

/* The query name's text, built on the first glob test only. */
struct name_text {
	const uint8_t *qname;
	bool ready;
	char buf[ER_DNAME_TEXT_MAX];
};

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Extends the hash of a suffix by the label at label (its length byte). */
static uint64_t hash_label(uint64_t h, const uint8_t *label)
{
	h = (h ^ label[0]) * FNV_PRIME;
	for (uint8_t i = 1; i <= label[0]; i++)
		h = (h ^ ascii_lower(label[i])) * FNV_PRIME;
	return h;
}

/* Fills off[] with label offsets; returns the label count, or -1 when the
 * name is malformed (a compression pointer, or longer than 255). */
static int name_labels(const uint8_t *name, uint16_t off[ER_LABELS_MAX], size_t *wire_len)
{
	size_t pos = 0;
	int n = 0;
	while (name[pos] != 0) {
		if (name[pos] > 63 || n == ER_LABELS_MAX)
			return -1;
		off[n++] = (uint16_t)pos;
		pos += 1u + name[pos];
		if (pos >= ER_DNAME_MAX)
			return -1;
	}
	*wire_len = pos + 1;
	return n;
}

/* h[i] = hash of the suffix starting at label i, rightmost label first. */
static void suffix_hashes(const uint8_t *name, const uint16_t *off, int n, uint64_t *h)
{
	uint64_t acc = FNV_OFFSET;
	for (int i = n - 1; i >= 0; i--) {
		acc = hash_label(acc, name + off[i]);
		h[i] = acc;
	}
}

static uint64_t wire_hash(const uint8_t *wire)
{
	uint16_t off[ER_LABELS_MAX];
	uint64_t h[ER_LABELS_MAX];
	size_t len;
	int n = name_labels(wire, off, &len);
	if (n <= 0)
		return FNV_OFFSET;
	suffix_hashes(wire, off, n, h);
	return h[0];
}

/* a is lower-case already; b may be any case. Length bytes (<= 63) are
 * unaffected by ascii_lower, so the whole wire form compares in one loop. */
static bool wire_equal_lower(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != ascii_lower(b[i]))
			return false;
	}
	return true;
}

static const struct anchor *table_find(const ruleset_t *rs, uint64_t hash, const uint8_t *name,
				       size_t len)
{
	const struct anchor *a = rs->buckets[hash & (rs->nbuckets - 1)];
	for (; a; a = a->next) {
		if (a->hash == hash && a->len == len && wire_equal_lower(a->name, name, len))
			return a;
	}
	return NULL;
}

static int table_grow(ruleset_t *rs)
{
	size_t n = rs->nbuckets * 2;
	struct anchor **b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < rs->nbuckets; i++) {
		struct anchor *a = rs->buckets[i];
		while (a) {
			struct anchor *next = a->next;
			a->next = b[a->hash & (n - 1)];
			b[a->hash & (n - 1)] = a;
			a = next;
		}
	}
	free(rs->buckets);
	rs->buckets = b;
	rs->nbuckets = n;
	return 0;
}

/* The anchor node for wire, created if missing; NULL on allocation failure. */
static struct anchor *anchor_get(ruleset_t *rs, const uint8_t *wire, size_t len)
{
	uint64_t hash = wire_hash(wire);
	struct anchor *found = (struct anchor *)table_find(rs, hash, wire, len);
	if (found)
		return found;
	/* load factor <= 3/4 keeps the average chain under one node */
	if ((rs->nanchors + 1) * 4 > rs->nbuckets * 3 && table_grow(rs) < 0)
		return NULL;
	struct anchor *a = calloc(1, sizeof(*a) + len);
	if (!a)
		return NULL;
	a->hash = hash;
	a->len = (uint8_t)len;
	memcpy(a->name, wire, len);
	a->next = rs->buckets[hash & (rs->nbuckets - 1)];
	rs->buckets[hash & (rs->nbuckets - 1)] = a;
	rs->nanchors++;
	return a;
}

static void anchor_free(struct anchor *a)
{
	for (int o = 0; o < ORIGIN_KINDS; o++) {
		free(a->exact[o]);
		free(a->subtree[o]);
		free(a->below[o]);
	}
	for (size_t i = 0; i < a->nglobs; i++)
		free(a->globs[i]);
	free(a->globs);
	free(a);
}

ruleset_t *ruleset_new(void)
{
	ruleset_t *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->buckets = calloc(MIN_BUCKETS, sizeof(*rs->buckets));
	if (!rs->buckets) {
		free(rs);
		return NULL;
	}
	rs->nbuckets = MIN_BUCKETS;
	return rs;
}

void ruleset_free(ruleset_t *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nbuckets; i++) {
		struct anchor *a = rs->buckets[i];
		while (a) {
			struct anchor *next = a->next;
			anchor_free(a);
			a = next;
		}
	}
	free(rs->buckets);
	free(rs);
}

/* ---- pattern parsing ---- */

static int pattern_error(char *err, size_t errlen, const char *pattern, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "bad name pattern \"%.80s\": %s", pattern, why);
	return -EINVAL;
}

/* Lower-cases pattern into out->text and drops one trailing dot. */
static const char *normalise(const char *pattern, struct parsed *out)
{
	size_t len = strlen(pattern);
	if (len > PATTERN_MAX)
		return "name longer than 255 bytes";
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)pattern[i];
		if (c <= 0x20 || c >= 0x7f)
			return "whitespace, control or non-ASCII character (use punycode)";
		if (c == '\\')
			return "escapes are not supported";
		out->text[i] = (char)ascii_lower(c);
	}
	if (len > 0 && out->text[len - 1] == '.')
		len--;
	out->text[len] = '\0';
	return len == 0 ? "empty name" : NULL;
}

/* Checks every label of body (empty, too long) and the total length. */
static const char *check_labels(const char *body)
{
	if (strlen(body) + 2 > ER_DNAME_MAX) /* first length byte and the root */
		return "name longer than 255 bytes";
	for (const char *p = body;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0)
			return "empty label";
		if (len > 63)
			return "label longer than 63 bytes";
		if (!dot)
			return NULL;
		p = dot + 1;
	}
}

/* Classifies body; sets *anchor to the text of its literal suffix. */
static const char *classify(struct parsed *out, const char **anchor)
{
	const char *body = out->text[0] == '=' ? out->text + 1 : out->text;
	const char *star = strrchr(body, '*');
	*anchor = body;
	if (out->text[0] == '=') {
		out->kind = RULE_EXACT;
		return star ? "'*' in an exact (=) name" : NULL;
	}
	if (!star) {
		out->kind = RULE_SUBTREE;
		return NULL;
	}
	if (strncmp(body, "*.", 2) == 0 && star == body) {
		out->kind = RULE_BELOW;
		*anchor = body + 2;
		return NULL;
	}
	out->kind = RULE_GLOB;
	const char *dot = strchr(star, '.');
	if (!dot)
		return "a glob needs a literal suffix of whole labels (e.g. *cdn.example.com)";
	*anchor = dot + 1;
	return NULL;
}

/* Anchor text (validated: no '*', labels 1..63) to lower-case wire form. */
static size_t text_to_wire(const char *text, uint8_t *out)
{
	size_t pos = 0;
	while (*text) {
		size_t len = strcspn(text, ".");
		out[pos] = (uint8_t)len;
		memcpy(out + pos + 1, text, len);
		pos += 1 + len;
		text += len;
		if (*text == '.')
			text++;
	}
	out[pos] = 0;
	return pos + 1;
}

static int parse_pattern(const char *pattern, struct parsed *out, char *err, size_t errlen)
{
	const char *anchor = NULL;
	const char *why = normalise(pattern, out);
	if (!why)
		why = classify(out, &anchor);
	if (!why)
		why = check_labels(out->text[0] == '=' ? out->text + 1 : out->text);
	if (why)
		return pattern_error(err, errlen, pattern, why);
	out->wire_len = text_to_wire(anchor, out->wire);
	out->literals = 0;
	for (const char *p = out->text; *p; p++)
		out->literals += *p != '*';
	return 0;
}

/* ---- adding ---- */

static void format_place(const rule_origin_t *o, char *buf, size_t len)
{
	const char *file = o->file ? o->file : "(unknown file)";
	if (o->line && o->col)
		snprintf(buf, len, "%s:%u:%u", file, o->line, o->col);
	else if (o->line)
		snprintf(buf, len, "%s:%u", file, o->line);
	else
		snprintf(buf, len, "%s", file);
}

static int conflict(const rule_t *other, const struct parsed *p, char *err, size_t errlen)
{
	char place[512];
	if (!err || !errlen)
		return -EEXIST;
	format_place(&other->origin, place, sizeof(place));
	snprintf(err, errlen,
		 "\"%s\" conflicts with \"%s\" at %s: both claim the same names with a different route",
		 p->text, other->pattern, place);
	return -EEXIST;
}

static struct entry *entry_new(ruleset_t *rs, const struct parsed *p, uint32_t action,
			       const rule_origin_t *origin)
{
	size_t len = strlen(p->text);
	struct entry *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->text, p->text, len + 1);
	e->rule = (rule_t){
		.pattern = e->text,
		.kind = p->kind,
		.action = action,
		.origin = *origin,
	};
	e->seq = rs->next_seq++;
	e->literals = p->literals;
	rs->nrules++;
	rs->by_kind[p->kind]++;
	rs->by_origin[origin->kind][p->kind]++;
	return e;
}

static struct entry **slot_of(struct anchor *a, rule_kind_t kind, int o)
{
	if (kind == RULE_EXACT)
		return &a->exact[o];
	return kind == RULE_SUBTREE ? &a->subtree[o] : &a->below[o];
}

/* Exact, subtree and "*." rules: one slot each per origin. "x" and "*.x"
 * from domains both claim the names below x, hence the sibling check. */
static int add_single(ruleset_t *rs, struct anchor *a, const struct parsed *p, uint32_t action,
		      const rule_origin_t *origin, char *err, size_t errlen)
{
	int o = (int)origin->kind;
	struct entry **slot = slot_of(a, p->kind, o);
	if (*slot) {
		if (o == RULE_ORIGIN_M365 || (*slot)->rule.action == action)
			return 0;
		return conflict(&(*slot)->rule, p, err, errlen);
	}
	if (o == RULE_ORIGIN_DOMAINS && p->kind != RULE_EXACT) {
		const struct entry *sib = p->kind == RULE_SUBTREE ? a->below[o] : a->subtree[o];
		if (sib && sib->rule.action != action)
			return conflict(&sib->rule, p, err, errlen);
	}
	*slot = entry_new(rs, p, action, origin);
	return *slot ? 0 : -ENOMEM;
}

static int add_glob(ruleset_t *rs, struct anchor *a, const struct parsed *p, uint32_t action,
		    const rule_origin_t *origin, char *err, size_t errlen)
{
	for (size_t i = 0; i < a->nglobs; i++) {
		const rule_t *r = &a->globs[i]->rule;
		if (r->origin.kind != origin->kind || strcmp(r->pattern, p->text) != 0)
			continue;
		if (origin->kind == RULE_ORIGIN_M365 || r->action == action)
			return 0;
		return conflict(r, p, err, errlen);
	}
	if (a->nglobs == a->capglobs) {
		size_t cap = a->capglobs ? a->capglobs * 2 : 2;
		struct entry **g = reallocarray(a->globs, cap, sizeof(*g));
		if (!g)
			return -ENOMEM;
		a->globs = g;
		a->capglobs = cap;
	}
	struct entry *e = entry_new(rs, p, action, origin);
	if (!e)
		return -ENOMEM;
	a->globs[a->nglobs++] = e;
	return 0;
}

int ruleset_add(ruleset_t *rs, const char *pattern, uint32_t action, const rule_origin_t *origin,
		char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!rs || !pattern || !origin ||
	    (origin->kind != RULE_ORIGIN_DOMAINS && origin->kind != RULE_ORIGIN_M365))
		return -EINVAL;
	struct parsed p;
	int ret = parse_pattern(pattern, &p, err, errlen);
	if (ret < 0)
		return ret;
	struct anchor *a = anchor_get(rs, p.wire, p.wire_len);
	if (!a)
		return -ENOMEM;
	if (p.kind == RULE_GLOB)
		return add_glob(rs, a, &p, action, origin, err, errlen);
	return add_single(rs, a, &p, action, origin, err, errlen);
}

/* ---- lookup ---- */

/* Most literal characters, then domains over m365, then earliest added. */
static bool glob_beats(const struct entry *a, const struct entry *b)
{
	if (!b)
		return true;
	if (a->literals != b->literals)
		return a->literals > b->literals;
	if (a->rule.origin.kind != b->rule.origin.kind)
		return a->rule.origin.kind == RULE_ORIGIN_DOMAINS;
	return a->seq < b->seq;
}

static const struct entry *best_glob(const struct anchor *a, struct name_text *nt)
{
	const struct entry *best = NULL;
	for (size_t i = 0; i < a->nglobs; i++) {
		const struct entry *g = a->globs[i];
		if (!glob_beats(g, best))
			continue; /* skip the match: it could not win anyway */
		if (!nt->ready) {
			dname_to_text(nt->qname, nt->buf);
			nt->ready = true;
		}
		if (glob_match(g->rule.pattern, nt->buf))
			best = g;
	}
	return best;
}

/* The rule deciding at anchor a, or NULL to go on to a shallower anchor.
 * at_apex: the name is the anchor itself (exact applies, globs and "*." do
 * not). Domains slots are looked at before m365 ones at each rank. */
static const struct entry *decide_at(const struct anchor *a, bool at_apex, struct name_text *nt)
{
	if (at_apex) {
		if (a->exact[RULE_ORIGIN_DOMAINS] || a->exact[RULE_ORIGIN_M365])
			return a->exact[RULE_ORIGIN_DOMAINS] ? a->exact[RULE_ORIGIN_DOMAINS]
							     : a->exact[RULE_ORIGIN_M365];
		return a->subtree[RULE_ORIGIN_DOMAINS] ? a->subtree[RULE_ORIGIN_DOMAINS]
						       : a->subtree[RULE_ORIGIN_M365];
	}
	const struct entry *g = best_glob(a, nt);
	if (g)
		return g;
	for (int o = 0; o < ORIGIN_KINDS; o++) {
		if (a->below[o])
			return a->below[o];
		if (a->subtree[o])
			return a->subtree[o];
	}
	return NULL;
}

static const rule_t *lookup(const ruleset_t *rs, const uint8_t *qname, size_t *cost)
{
	uint16_t off[ER_LABELS_MAX];
	uint64_t h[ER_LABELS_MAX];
	size_t wire_len;
	*cost = 0;
	if (!rs || !qname)
		return NULL;
	int n = name_labels(qname, off, &wire_len);
	if (n <= 0)
		return NULL;
	suffix_hashes(qname, off, n, h);
	struct name_text nt = { .qname = qname };
	for (int i = 0; i < n; i++) {
		(*cost)++;
		const struct anchor *a = table_find(rs, h[i], qname + off[i], wire_len - off[i]);
		const struct entry *e = a ? decide_at(a, i == 0, &nt) : NULL;
		if (e)
			return &e->rule;
	}
	return NULL;
}

const rule_t *ruleset_lookup(const ruleset_t *rs, const uint8_t *qname)
{
	size_t cost;
	return lookup(rs, qname, &cost);
}

size_t ruleset_lookup_cost(const ruleset_t *rs, const uint8_t *qname)
{
	size_t cost;
	lookup(rs, qname, &cost);
	return cost;
}

const char *ruleset_rule_text(const rule_t *rule)
{
	return rule->origin.text != NULL ? rule->origin.text : rule->pattern;
}

size_t ruleset_count(const ruleset_t *rs)
{
	return rs ? rs->nrules : 0;
}

size_t ruleset_count_kind(const ruleset_t *rs, rule_kind_t kind)
{
	if (!rs || (unsigned)kind >= KINDS)
		return 0;
	return rs->by_kind[kind];
}

size_t ruleset_count_origin_kind(const ruleset_t *rs, rule_origin_kind_t origin,
				 rule_kind_t kind)
{
	if (!rs || (unsigned)origin >= ORIGIN_KINDS || (unsigned)kind >= KINDS)
		return 0;
	return rs->by_origin[origin][kind];
}

size_t ruleset_count_origin(const ruleset_t *rs, rule_origin_kind_t origin)
{
	size_t n = 0;
	for (int k = 0; k < KINDS; k++)
		n += ruleset_count_origin_kind(rs, origin, (rule_kind_t)k);
	return n;
}

/* ---- listing in precedence order (PAC) ---- */

struct listed {
	const struct entry *e;
	const struct anchor *a;
	int depth; /* labels of the anchor */
	int rank; /* 0 exact, 1 glob, 2 "*." and subtree */
};

static int listed_cmp(const void *pa, const void *pb)
{
	const struct listed *x = pa, *y = pb;
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	if (x->a != y->a) {
		size_t n = x->a->len < y->a->len ? x->a->len : y->a->len;
		int c = memcmp(x->a->name, y->a->name, n);
		return c != 0 ? c : (x->a->len < y->a->len ? -1 : 1);
	}
	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->rank == 1 && x->e != y->e)
		return glob_beats(x->e, y->e) ? -1 : 1;
	if (x->e->rule.origin.kind != y->e->rule.origin.kind)
		return x->e->rule.origin.kind == RULE_ORIGIN_DOMAINS ? -1 : 1;
	/* lookups test "*." before subtree within one origin */
	return (x->e->rule.kind == RULE_SUBTREE) - (y->e->rule.kind == RULE_SUBTREE);
}

static size_t list_anchor(const struct anchor *a, struct listed *v)
{
	size_t n = 0;
	int depth = (int)dname_label_count(a->name);
	for (int o = 0; o < ORIGIN_KINDS; o++) {
		const struct entry *slots[] = { a->exact[o], a->below[o], a->subtree[o] };
		for (size_t k = 0; k < 3; k++) {
			if (slots[k])
				v[n++] = (struct listed){ slots[k], a, depth, k == 0 ? 0 : 2 };
		}
	}
	for (size_t i = 0; i < a->nglobs; i++)
		v[n++] = (struct listed){ a->globs[i], a, depth, 1 };
	return n;
}

int ruleset_list(const ruleset_t *rs, const rule_t ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!rs || rs->nrules == 0)
		return 0;
	struct listed *v = calloc(rs->nrules, sizeof(*v));
	const rule_t **rules = calloc(rs->nrules, sizeof(*rules));
	if (!v || !rules) {
		free(v);
		free(rules);
		return -ENOMEM;
	}
	size_t count = 0;
	for (size_t i = 0; i < rs->nbuckets; i++) {
		for (const struct anchor *a = rs->buckets[i]; a; a = a->next)
			count += list_anchor(a, v + count);
	}
	qsort(v, count, sizeof(*v), listed_cmp);
	for (size_t i = 0; i < count; i++)
		rules[i] = &v[i].e->rule;
	free(v);
	*out = rules;
	*n = count;
	return 0;
}
