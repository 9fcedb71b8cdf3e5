/*
 * Tests for routing/prefixset.c: hand-made sets with nesting, duplicates
 * and both families, then every prefix of the real Microsoft 365 lists in
 * ../shared/data (the 2026 Worldwide list: 51 IPv4 entries; the circa-2022
 * list with IPv6 too), each probed at its first and last address, inside
 * and just outside, plus pseudo-random addresses, against a linear scan
 * written here bit by bit (the independent check). The real-data part is
 * skipped when ../shared/data is absent (failed when CI is set:
 * tests/unit/real_data.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "routing/prefixset.h"
#include "real_data.h"

#define REAL_2026 ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide.json"
#define REAL_2022                                                                                  \
	ERDNS_FIXTURES "/../../../shared/data/m365-endpoints-worldwide-circa2022-with-ipv6.json"
#define MAX_ENTRIES   1024
#define RANDOM_PROBES 20000

/* One "ips" entry of a list: what the naive scan works on. */
typedef struct entry {
	netblock_t nb;
	int32_t set_id;
} entry_t;

typedef struct naive {
	entry_t v[MAX_ENTRIES];
	size_t n;
} naive_t;

/* --- the independent check ----------------------------------------------- */

static int bit_of(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static bool naive_contains(const netblock_t *nb, int family, const uint8_t *addr)
{
	if (nb->family != family)
		return false;
	for (unsigned i = 0; i < nb->prefix_len; i++) {
		if (bit_of(nb->addr, i) != bit_of(addr, i))
			return false;
	}
	return true;
}

static bool same_prefix(const netblock_t *a, const netblock_t *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;
	return a->family == b->family && a->prefix_len == b->prefix_len &&
	       memcmp(a->addr, b->addr, n) == 0;
}

/* The longest listed prefix containing addr, or NULL. */
static const netblock_t *naive_match(const naive_t *nv, int family, const uint8_t *addr)
{
	const netblock_t *best = NULL;
	for (size_t i = 0; i < nv->n; i++) {
		const netblock_t *nb = &nv->v[i].nb;
		if (naive_contains(nb, family, addr) &&
		    (!best || nb->prefix_len > best->prefix_len))
			best = nb;
	}
	return best;
}

static bool naive_lists(const naive_t *nv, const netblock_t *nb, int32_t id)
{
	for (size_t i = 0; i < nv->n; i++) {
		if (nv->v[i].set_id == id && same_prefix(&nv->v[i].nb, nb))
			return true;
	}
	return false;
}

/* Every set id the hit reports lists that prefix, and every set listing
 * it is reported. */
static void check_set_ids(const naive_t *nv, const prefix_hit_t *hit)
{
	size_t want = 0;
	for (size_t i = 0; i < nv->n; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= nv->v[j].set_id == nv->v[i].set_id &&
			       same_prefix(&nv->v[j].nb, &nv->v[i].nb);
		want += !dup && same_prefix(&nv->v[i].nb, &hit->prefix);
	}
	assert_int_equal(hit->n_set_ids, want);
	for (size_t i = 0; i < hit->n_set_ids; i++) {
		assert_true(naive_lists(nv, &hit->prefix, hit->set_ids[i]));
		if (i > 0)
			assert_true(hit->set_ids[i - 1] < hit->set_ids[i]);
	}
}

static void check_probe(const prefixset_t *ps, const naive_t *nv, int family, const uint8_t *addr)
{
	prefix_hit_t hit;
	const netblock_t *want = naive_match(nv, family, addr);
	bool got = prefixset_match(ps, family, addr, &hit);
	if (!want) {
		char text[64];
		inet_ntop(family, addr, text, sizeof(text));
		if (got)
			fail_msg("%s: matched a prefix the scan does not find", text);
		return;
	}
	assert_true(got);
	assert_true(same_prefix(want, &hit.prefix));
	check_set_ids(nv, &hit);
}

/* --- probes around each prefix ------------------------------------------- */

static void set_host_bits(netblock_t *nb, uint8_t *out, int value)
{
	size_t n = nb->family == AF_INET ? 4 : 16;
	memcpy(out, nb->addr, n);
	for (unsigned i = nb->prefix_len; i < n * 8; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));
		out[i / 8] = value ? (uint8_t)(out[i / 8] | m) : (uint8_t)(out[i / 8] & ~m);
	}
}

/* addr +/- 1 as a big-endian number of n bytes (wrapping). */
static void step(uint8_t *addr, size_t n, int dir)
{
	for (size_t i = n; i-- > 0;) {
		uint8_t old = addr[i];
		addr[i] = (uint8_t)(old + dir);
		if ((dir > 0 && addr[i] != 0) || (dir < 0 && old != 0))
			return;
	}
}

static void check_around(const prefixset_t *ps, const naive_t *nv, netblock_t nb)
{
	size_t n = nb.family == AF_INET ? 4 : 16;
	uint8_t first[16], last[16], mid[16];
	set_host_bits(&nb, first, 0);
	set_host_bits(&nb, last, 1);
	memcpy(mid, first, n);
	if (nb.prefix_len < n * 8) /* the middle: the first host bit set */
		mid[nb.prefix_len / 8] |= (uint8_t)(0x80u >> (nb.prefix_len % 8));
	check_probe(ps, nv, nb.family, first);
	check_probe(ps, nv, nb.family, last);
	check_probe(ps, nv, nb.family, mid);
	step(first, n, -1);
	step(last, n, +1);
	check_probe(ps, nv, nb.family, first); /* just below */
	check_probe(ps, nv, nb.family, last);  /* just above */
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint8_t rnd_byte(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)rng_state;
}

/* Random addresses, half of them next to a listed prefix (so that they hit
 * and miss near the edges), half anywhere. */
static void check_random(const prefixset_t *ps, const naive_t *nv)
{
	for (int i = 0; i < RANDOM_PROBES && nv->n > 0; i++) {
		const netblock_t *base = &nv->v[rnd_byte() % nv->n].nb;
		size_t n = base->family == AF_INET ? 4 : 16;
		uint8_t addr[16];
		for (size_t b = 0; b < n; b++)
			addr[b] = i % 2 ? rnd_byte() : base->addr[b];
		if (i % 2 == 0) /* flip a few bits past the first 8 */
			addr[1 + rnd_byte() % (n - 1)] ^= rnd_byte();
		check_probe(ps, nv, base->family, addr);
	}
}

static prefixset_t *build(const naive_t *nv)
{
	prefixset_t *ps = prefixset_new();
	assert_non_null(ps);
	for (size_t i = 0; i < nv->n; i++)
		assert_int_equal(prefixset_add(ps, &nv->v[i].nb, nv->v[i].set_id), 0);
	assert_int_equal(prefixset_finish(ps), 0);
	return ps;
}

static void add_entry(naive_t *nv, const char *text, int32_t id)
{
	assert_true(nv->n < MAX_ENTRIES);
	if (netblock_parse(text, &nv->v[nv->n].nb) != 0)
		fail_msg("not a prefix: %s", text);
	nv->v[nv->n++].set_id = id;
}

static size_t distinct(const naive_t *nv, int family)
{
	size_t n = 0;
	for (size_t i = 0; i < nv->n; i++) {
		bool dup = nv->v[i].nb.family != family;
		for (size_t j = 0; j < i && !dup; j++)
			dup = same_prefix(&nv->v[j].nb, &nv->v[i].nb);
		n += !dup;
	}
	return n;
}

/* --- hand-made sets ------------------------------------------------------ */

static void test_nested_and_duplicates(void **state)
{
	(void)state;
	static naive_t nv;
	nv.n = 0;
	add_entry(&nv, "10.0.0.0/8", 1);
	add_entry(&nv, "10.1.0.0/16", 2);
	add_entry(&nv, "10.1.2.0/24", 3);
	add_entry(&nv, "10.1.2.0/24", 4); /* one prefix, two sets */
	add_entry(&nv, "10.1.2.0/24", 3); /* listed twice by one set */
	add_entry(&nv, "10.2.0.0/16", 5);
	add_entry(&nv, "10.1.2.128/32", 6);
	add_entry(&nv, "0.0.0.0/0", 7);
	add_entry(&nv, "2001:db8::/32", 8);
	add_entry(&nv, "2001:db8:1::/48", 9);
	add_entry(&nv, "2001:db8:1::1/128", 10);
	prefixset_t *ps = build(&nv);
	assert_int_equal(prefixset_count(ps, AF_INET), distinct(&nv, AF_INET));
	assert_int_equal(prefixset_count(ps, AF_INET6), 3);

	prefix_hit_t hit;
	uint8_t a[16];
	inet_pton(AF_INET, "10.1.2.7", a);
	assert_true(prefixset_match(ps, AF_INET, a, &hit));
	assert_int_equal(hit.prefix.prefix_len, 24);
	assert_int_equal(hit.n_set_ids, 2);
	assert_int_equal(hit.set_ids[0], 3);
	assert_int_equal(hit.set_ids[1], 4);
	inet_pton(AF_INET, "10.1.3.1", a); /* past the /24 and the /32: back to the /16 */
	assert_true(prefixset_match(ps, AF_INET, a, &hit));
	assert_int_equal(hit.prefix.prefix_len, 16);
	inet_pton(AF_INET, "10.3.0.1", a); /* after 10.2/16, inside 10/8 */
	assert_true(prefixset_match(ps, AF_INET, a, &hit));
	assert_int_equal(hit.set_ids[0], 1);
	inet_pton(AF_INET, "192.0.2.1", a); /* only the default route */
	assert_true(prefixset_match(ps, AF_INET, a, &hit));
	assert_int_equal(hit.prefix.prefix_len, 0);
	inet_pton(AF_INET6, "2001:db8:1::1", a);
	assert_true(prefixset_match(ps, AF_INET6, a, &hit));
	assert_int_equal(hit.prefix.prefix_len, 128);
	inet_pton(AF_INET6, "2001:db9::1", a);
	assert_false(prefixset_match(ps, AF_INET6, a, &hit));

	for (size_t i = 0; i < nv.n; i++)
		check_around(ps, &nv, nv.v[i].nb);
	check_random(ps, &nv);
	prefixset_free(ps);
}

static void test_nearest(void **state)
{
	(void)state;
	static naive_t nv;
	nv.n = 0;
	add_entry(&nv, "13.107.6.152/31", 1);
	add_entry(&nv, "52.96.0.0/14", 2);
	add_entry(&nv, "40.92.0.0/15", 3);
	prefixset_t *ps = build(&nv);
	prefix_hit_t hit;
	uint8_t a[16];
	inet_pton(AF_INET, "52.100.1.1", a); /* just past 52.96/14 */
	assert_false(prefixset_match(ps, AF_INET, a, &hit));
	assert_true(prefixset_nearest(ps, AF_INET, a, &hit));
	assert_int_equal(hit.set_ids[0], 2);
	inet_pton(AF_INET, "13.107.6.200", a);
	assert_true(prefixset_nearest(ps, AF_INET, a, &hit));
	assert_int_equal(hit.set_ids[0], 1);
	inet_pton(AF_INET, "1.1.1.1", a); /* below everything */
	assert_true(prefixset_nearest(ps, AF_INET, a, &hit));
	assert_int_equal(hit.set_ids[0], 1);
	inet_pton(AF_INET, "41.0.0.1", a); /* between 40.92/15 and 52.96/14 */
	assert_true(prefixset_nearest(ps, AF_INET, a, &hit));
	assert_int_equal(hit.set_ids[0], 3);
	inet_pton(AF_INET6, "2001:db8::1", a); /* no IPv6 prefix at all */
	assert_false(prefixset_nearest(ps, AF_INET6, a, &hit));
	prefixset_free(ps);
}

static void test_empty_equal_and_sealed(void **state)
{
	(void)state;
	prefixset_t *a = prefixset_new(), *b = prefixset_new();
	assert_int_equal(prefixset_finish(a), 0);
	assert_int_equal(prefixset_finish(b), 0);
	assert_true(prefixset_equal(a, b));
	uint8_t addr[16] = {10, 0, 0, 1};
	prefix_hit_t hit;
	assert_false(prefixset_match(a, AF_INET, addr, &hit));
	assert_false(prefixset_match(a, AF_UNIX, addr, &hit));
	netblock_t nb;
	assert_int_equal(netblock_parse("10.0.0.0/8", &nb), 0);
	assert_int_equal(prefixset_add(a, &nb, 1), -EINVAL); /* read-only after finish */
	prefixset_free(a);
	prefixset_free(b);

	a = prefixset_new();
	b = prefixset_new();
	assert_int_equal(prefixset_add(a, &nb, 1), 0);
	assert_int_equal(prefixset_add(b, &nb, 2), 0);
	prefixset_finish(a);
	prefixset_finish(b);
	assert_false(prefixset_equal(a, b)); /* same prefix, another set */
	assert_true(prefixset_get(a, AF_INET, 0, &hit));
	assert_false(prefixset_get(a, AF_INET, 1, &hit));
	prefixset_free(a);
	prefixset_free(b);
	prefixset_free(NULL);
}

/* --- the real lists ------------------------------------------------------ */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Every "ips" entry of every endpoint set, read with cJSON directly (not
 * with the importer under test). Skips the test when the file is absent
 * (fails it when CI is set). */
static void load_real(const char *path, naive_t *nv, size_t *entries_v4)
{
	require_real_data(path);
	const char *text = slurp(path);
	assert_non_null(text);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	nv->n = 0;
	*entries_v4 = 0;
	for (const cJSON *set = root->child; set; set = set->next) {
		int32_t id = (int32_t)cJSON_GetObjectItem(set, "id")->valuedouble;
		const cJSON *ips = cJSON_GetObjectItem(set, "ips");
		for (const cJSON *ip = ips ? ips->child : NULL; ip; ip = ip->next) {
			add_entry(nv, ip->valuestring, id);
			*entries_v4 += nv->v[nv->n - 1].nb.family == AF_INET;
		}
	}
	cJSON_Delete(root);
}

static void check_real(const naive_t *nv)
{
	prefixset_t *ps = build(nv);
	assert_int_equal(prefixset_count(ps, AF_INET), distinct(nv, AF_INET));
	assert_int_equal(prefixset_count(ps, AF_INET6), distinct(nv, AF_INET6));
	for (size_t i = 0; i < nv->n; i++)
		check_around(ps, nv, nv->v[i].nb);
	check_random(ps, nv);
	prefixset_free(ps);
}

static void test_real_2026(void **state)
{
	(void)state;
	static naive_t nv;
	size_t v4;
	load_real(REAL_2026, &nv, &v4);
	assert_int_equal(v4, 51); /* the data README: 51 prefixes, IPv4 only */
	assert_int_equal(nv.n, 51);
	assert_int_equal(distinct(&nv, AF_INET), 34);
	check_real(&nv);
}

static void test_real_2022_with_ipv6(void **state)
{
	(void)state;
	static naive_t nv;
	size_t v4;
	load_real(REAL_2022, &nv, &v4);
	assert_int_equal(nv.n, 294); /* the data README: 294 prefixes, 204 IPv6 */
	assert_int_equal(nv.n - v4, 204);
	assert_true(distinct(&nv, AF_INET6) > 0);
	check_real(&nv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nested_and_duplicates),  cmocka_unit_test(test_nearest),
	    cmocka_unit_test(test_empty_equal_and_sealed), cmocka_unit_test(test_real_2026),
	    cmocka_unit_test(test_real_2022_with_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
