/*
 * Longest-prefix match over a sorted array per address family.
 *
 * How it works. Addresses are two 64-bit words, left-aligned (an IPv4
 * address fills the top 32 bits of the first), so a prefix test is two
 * masked compares. prefixset_finish sorts each family's prefixes by
 * (network, length), merges duplicates (one prefix listed by several
 * endpoint sets keeps every set id) and links each prefix to its nearest
 * enclosing one. Two CIDR prefixes are either nested or disjoint, so the
 * longest prefix containing an address is the last prefix whose network is
 * at or below the address if that one contains it, and otherwise the first
 * enclosing prefix of it that does: one binary search, then a walk up the
 * `parent` links (Microsoft's lists nest no prefix at all, so the walk ends
 * at once; nested input is handled and tested all the same).
 *
 * Why not a radix (Patricia) trie: it wins on 10^5+ prefixes and on
 * updates, neither of which we have; the ExpressRoute sets of a Microsoft
 * 365 list hold ~30 IPv4 and ~100 IPv6 prefixes, built once per config load.
 * The arrays are two allocations per family, cache-friendly, and a lookup
 * is ~6 compares. A hash table per prefix length was rejected too: up to 33
 * or 129 probes for an address outside the set, the audit's interesting
 * case. The unit tests check this against a linear scan.
 */
#include "routing/prefixset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { FAM_V4, FAM_V6, FAM_COUNT };

/* One distinct prefix. */
struct pfx {
	uint64_t hi, lo; /* network, left-aligned */
	uint8_t len;
	int32_t parent;		/* index of the nearest enclosing prefix, -1: none */
	uint32_t ids_at, n_ids; /* its set ids in table.ids */
};

/* One prefixset_add, kept until prefixset_finish. */
struct raw {
	uint64_t hi, lo;
	uint8_t len;
	int32_t id;
};

struct table {
	struct pfx *v;
	size_t n;
	int32_t *ids;
	struct raw *raw;
	size_t n_raw, cap_raw;
};

struct prefixset {
	struct table t[FAM_COUNT];
	bool is_finished;
};

/* --- addresses as two words ---------------------------------------------- */

static int fam_index(int family)
{
	return family == AF_INET ? FAM_V4 : family == AF_INET6 ? FAM_V6 : -1;
}

static uint64_t load_be64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < n ? p[i] : 0);
	return v;
}

static void load(int fam, const uint8_t *addr, uint64_t *hi, uint64_t *lo)
{
	*hi = load_be64(addr, fam == FAM_V4 ? 4 : 8);
	*lo = fam == FAM_V4 ? 0 : load_be64(addr + 8, 8);
}

static uint64_t mask64(unsigned bits)
{
	return bits == 0 ? 0 : bits >= 64 ? UINT64_MAX : UINT64_MAX << (64 - bits);
}

static bool contains(const struct pfx *p, uint64_t hi, uint64_t lo)
{
	unsigned len = p->len;
	return (hi & mask64(len)) == p->hi && (lo & mask64(len > 64 ? len - 64 : 0)) == p->lo;
}

static int cmp_words(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
	if (ahi != bhi)
		return ahi < bhi ? -1 : 1;
	return alo < blo ? -1 : alo > blo;
}

static void fill_hit(const struct table *t, int fam, size_t i, prefix_hit_t *out)
{
	const struct pfx *p = &t->v[i];
	memset(&out->prefix, 0, sizeof(out->prefix));
	out->prefix.family = fam == FAM_V4 ? AF_INET : AF_INET6;
	out->prefix.prefix_len = p->len;
	for (size_t b = 0; b < 8; b++) {
		out->prefix.addr[b] = (uint8_t)(p->hi >> (56 - 8 * b));
		if (fam == FAM_V6)
			out->prefix.addr[8 + b] = (uint8_t)(p->lo >> (56 - 8 * b));
	}
	if (fam == FAM_V4)
		memset(out->prefix.addr + 4, 0, 12);
	out->set_ids = t->ids + p->ids_at;
	out->n_set_ids = p->n_ids;
}

/* --- building ------------------------------------------------------------ */

prefixset_t *prefixset_new(void)
{
	return calloc(1, sizeof(prefixset_t));
}

void prefixset_free(prefixset_t *ps)
{
	if (ps == NULL)
		return;
	for (int f = 0; f < FAM_COUNT; f++) {
		free(ps->t[f].v);
		free(ps->t[f].ids);
		free(ps->t[f].raw);
	}
	free(ps);
}

int prefixset_add(prefixset_t *ps, const netblock_t *nb, int32_t set_id)
{
	int f = fam_index(nb->family);
	if (ps->is_finished || f < 0)
		return -EINVAL;
	struct table *t = &ps->t[f];
	if (t->n_raw == t->cap_raw) {
		size_t cap = t->cap_raw ? t->cap_raw * 2 : 32;
		struct raw *grown = reallocarray(t->raw, cap, sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		t->raw = grown;
		t->cap_raw = cap;
	}
	struct raw *r = &t->raw[t->n_raw++];
	load(f, nb->addr, &r->hi, &r->lo);
	r->len = nb->prefix_len;
	r->id = set_id;
	return 0;
}

static int raw_cmp(const void *pa, const void *pb)
{
	const struct raw *a = pa, *b = pb;
	int c = cmp_words(a->hi, a->lo, b->hi, b->lo);
	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Sorted (network, length) order puts every prefix after the prefixes
 * enclosing it, so a stack of the open ones gives each its parent. */
static int link_parents(struct table *t)
{
	int32_t *stack = malloc((t->n + 1) * sizeof(*stack));
	size_t depth = 0;
	if (stack == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		struct pfx *p = &t->v[i];
		while (depth > 0 && !contains(&t->v[stack[depth - 1]], p->hi, p->lo))
			depth--;
		p->parent = depth > 0 ? stack[depth - 1] : -1;
		stack[depth++] = (int32_t)i;
	}
	free(stack);
	return 0;
}

static int finish_table(struct table *t)
{
	if (t->n_raw > 1) /* qsort must not see the NULL of an empty table */
		qsort(t->raw, t->n_raw, sizeof(*t->raw), raw_cmp);
	t->v = calloc(t->n_raw + 1, sizeof(*t->v));
	t->ids = calloc(t->n_raw + 1, sizeof(*t->ids));
	if (t->v == NULL || t->ids == NULL)
		return -ENOMEM;
	size_t n_ids = 0;
	for (size_t i = 0; i < t->n_raw; i++) {
		const struct raw *r = &t->raw[i];
		struct pfx *last = t->n ? &t->v[t->n - 1] : NULL;
		if (last == NULL || last->hi != r->hi || last->lo != r->lo || last->len != r->len) {
			last = &t->v[t->n++];
			*last = (struct pfx){
			    .hi = r->hi, .lo = r->lo, .len = r->len, .ids_at = (uint32_t)n_ids};
		}
		if (last->n_ids == 0 || t->ids[n_ids - 1] != r->id) { /* sorted: dups adjacent */
			t->ids[n_ids++] = r->id;
			last->n_ids++;
		}
	}
	free(t->raw);
	t->raw = NULL;
	t->n_raw = t->cap_raw = 0;
	return link_parents(t);
}

int prefixset_finish(prefixset_t *ps)
{
	if (ps->is_finished)
		return 0;
	ps->is_finished = true;
	for (int f = 0; f < FAM_COUNT; f++) {
		int rc = finish_table(&ps->t[f]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* --- lookups ------------------------------------------------------------- */

size_t prefixset_count(const prefixset_t *ps, int family)
{
	int f = fam_index(family);
	return f < 0 ? 0 : ps->t[f].n;
}

bool prefixset_get(const prefixset_t *ps, int family, size_t i, prefix_hit_t *out)
{
	int f = fam_index(family);
	if (f < 0 || i >= ps->t[f].n)
		return false;
	fill_hit(&ps->t[f], f, i, out);
	return true;
}

/* The number of prefixes whose network is at or below (hi, lo). */
static size_t upper_bound(const struct table *t, uint64_t hi, uint64_t lo)
{
	size_t a = 0, b = t->n;
	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (cmp_words(t->v[mid].hi, t->v[mid].lo, hi, lo) <= 0)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

bool prefixset_match(const prefixset_t *ps, int family, const uint8_t *addr, prefix_hit_t *out)
{
	int f = fam_index(family);
	if (f < 0 || !ps->is_finished)
		return false;
	const struct table *t = &ps->t[f];
	uint64_t hi, lo;
	load(f, addr, &hi, &lo);
	int32_t i = (int32_t)upper_bound(t, hi, lo) - 1;
	while (i >= 0 && !contains(&t->v[i], hi, lo))
		i = t->v[i].parent;
	if (i < 0)
		return false;
	if (out != NULL)
		fill_hit(t, f, (size_t)i, out);
	return true;
}

static unsigned common_bits(const struct pfx *p, uint64_t hi, uint64_t lo)
{
	if (p->hi != hi)
		return (unsigned)__builtin_clzll(p->hi ^ hi);
	return p->lo != lo ? 64 + (unsigned)__builtin_clzll(p->lo ^ lo) : 128;
}

/* Sorted binary strings: the one sharing the longest prefix with a probe
 * is next to where the probe would be inserted. */
bool prefixset_nearest(const prefixset_t *ps, int family, const uint8_t *addr, prefix_hit_t *out)
{
	int f = fam_index(family);
	if (f < 0 || !ps->is_finished || ps->t[f].n == 0)
		return false;
	const struct table *t = &ps->t[f];
	uint64_t hi, lo;
	load(f, addr, &hi, &lo);
	size_t ub = upper_bound(t, hi, lo), best = ub > 0 ? ub - 1 : ub;
	if (ub > 0 && ub < t->n &&
	    common_bits(&t->v[ub], hi, lo) > common_bits(&t->v[ub - 1], hi, lo))
		best = ub;
	fill_hit(t, f, best, out);
	return true;
}

static bool table_equal(const struct table *a, const struct table *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct pfx *p = &a->v[i], *q = &b->v[i];
		if (p->hi != q->hi || p->lo != q->lo || p->len != q->len || p->n_ids != q->n_ids ||
		    memcmp(a->ids + p->ids_at, b->ids + q->ids_at, p->n_ids * sizeof(*a->ids)) != 0)
			return false;
	}
	return true;
}

bool prefixset_equal(const prefixset_t *a, const prefixset_t *b)
{
	return table_equal(&a->t[FAM_V4], &b->t[FAM_V4]) &&
	       table_equal(&a->t[FAM_V6], &b->t[FAM_V6]);
}
