/*
 * Local zones. ldns parses the master file (ldns_zone_new_frm_fp_l, which
 * knows $ORIGIN/$TTL and the line of a syntax error) and keeps owning every
 * ldns_rr; on top of that each zone gets a read-only index built once at
 * load: a canonically sorted array of nodes (RFC 4034 6.1 order), each node a
 * run of RRsets sorted by type, each RRset a run of ldns_rr pointers. Every
 * proper ancestor of an owner (down to the apex) gets a node of its own with
 * no RRsets, so an empty non-terminal is found by the same binary search and
 * answers NODATA rather than NXDOMAIN, and the closest encloser of RFC 4592
 * is simply the longest existing suffix of the query name.
 *
 * Rejected: ldns_dnssec_zone. It indexes by name too, but needs an explicit
 * pass for empty non-terminals, has no plain "find node" for closest-encloser
 * walks, and its rbtree nodes are built lazily in places we would rather not
 * audit for concurrent readers. A flat sorted array is immutable, cache
 * friendly, and answers with zero allocations until the reply is built.
 *
 * Answers are built with ldns_pkt (allocation is acceptable: local zones are
 * not the hot path) and serialised with ldns_pkt2wire; the question RR is
 * made from the client's own bytes so its case is echoed exactly.
 *
 * Delegations (NS records below the apex) are out of scope: they are
 * answered as plain authoritative data, never as referrals. A nested zone
 * loaded from its own file is what makes a child authoritative here.
 * Queries of a class other than IN/ANY, and AXFR/IXFR (no transfers are
 * offered), get REFUSED with AA=0.
 */
#include "dns/zone.h"

#include <ctype.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"

#define ER_ZONE_DEFAULT_TTL 3600 /* records before any $TTL, as BIND's default */
#define ER_ZONE_CNAME_HOPS 8 /* chain length bound, as Knot Resolver's answer */
#define SOA_FIELDS	    7 /* RFC 1035 3.3.13 */
/*
 * Handed to ldns as the origin so that a relative name with no $ORIGIN
 * becomes visibly wrong instead of being taken as absolute ("foo" -> "foo.").
 * .invalid is reserved (RFC 6761 6.4), so no real zone can live under it.
 */
#define ER_ZONE_NO_ORIGIN "erdns-no-origin.invalid."

struct zrrset {
	uint16_t type;
	size_t first, count; /* into zone->rrs */
};

struct znode {
	const uint8_t *owner; /* wire; points into an ldns_rr owned by zone->lz */
	size_t first, count; /* into zone->sets */
};

struct zone {
	ldns_zone *lz; /* owns every ldns_rr below */
	char *file;
	char *apex_text;
	const uint8_t *apex; /* wire, the SOA owner */
	const ldns_rr *soa;
	struct znode *nodes;
	size_t nnodes;
	struct zrrset *sets;
	size_t nsets;
	ldns_rr **rrs; /* duplicates (RFC 2181 5) already dropped */
	size_t nrrs;
};

struct zoneset {
	struct zone **zones;
	size_t count;
};

/* One owner name (or ancestor, rr == NULL) while the index is built. */
struct zentry {
	const uint8_t *name;
	ldns_rr *rr;
	uint16_t type;
};

/* ---- names ------------------------------------------------------------ */

static size_t labels_of(const uint8_t *name, const uint8_t *labels[ER_LABELS_MAX])
{
	size_t n = 0;
	for (const uint8_t *p = name; *p != 0 && n < ER_LABELS_MAX; p += 1 + *p)
		labels[n++] = p;
	return n;
}

static int label_cmp(const uint8_t *a, const uint8_t *b)
{
	size_t n = a[0] < b[0] ? a[0] : b[0];
	for (size_t i = 1; i <= n; i++) {
		int ca = tolower(a[i]), cb = tolower(b[i]);
		if (ca != cb)
			return ca - cb;
	}
	return (int)a[0] - (int)b[0];
}

/* RFC 4034 6.1 canonical order, case-insensitive: labels compared from the
 * root, a name sorts before its descendants. */
static int dname_canon_cmp(const uint8_t *a, const uint8_t *b)
{
	const uint8_t *la[ER_LABELS_MAX], *lb[ER_LABELS_MAX];
	size_t na = labels_of(a, la), nb = labels_of(b, lb);
	while (na > 0 && nb > 0) {
		int c = label_cmp(la[--na], lb[--nb]);
		if (c != 0)
			return c;
	}
	return (na > 0) - (nb > 0);
}

static const uint8_t *rdf_wire(const ldns_rdf *rdf)
{
	return ldns_rdf_data(rdf);
}

/* ---- the zone and its index -------------------------------------------- */

static void zone_free(struct zone *z)
{
	if (!z)
		return;
	free(z->rrs);
	free(z->sets);
	free(z->nodes);
	free(z->apex_text);
	free(z->file);
	if (z->lz)
		ldns_zone_deep_free(z->lz);
	free(z);
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct zentry *a = pa, *b = pb;
	int c = dname_canon_cmp(a->name, b->name);
	if (c != 0)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (!a->rr || !b->rr)
		return (a->rr != NULL) - (b->rr != NULL);
	return ldns_rr_compare(a->rr, b->rr); /* neighbours for dedup */
}

static size_t zone_rr_total(const struct zone *z)
{
	return 1 + ldns_rr_list_rr_count(ldns_zone_rrs(z->lz));
}

static ldns_rr *zone_rr_at(const struct zone *z, size_t i)
{
	return i == 0 ? ldns_zone_soa(z->lz) : ldns_rr_list_rr(ldns_zone_rrs(z->lz), i - 1);
}

/* Every record plus one ancestor entry per label between owner and apex. */
static struct zentry *zone_entries(const struct zone *z, size_t *count)
{
	size_t total = zone_rr_total(z), n = 0;
	size_t apex_labels = dname_label_count(z->apex);
	for (size_t i = 0; i < total; i++)
		n += 1 + dname_label_count(rdf_wire(ldns_rr_owner(zone_rr_at(z, i)))) - apex_labels;
	struct zentry *e = calloc(n, sizeof(*e));
	if (!e)
		return NULL;
	n = 0;
	for (size_t i = 0; i < total; i++) {
		ldns_rr *rr = zone_rr_at(z, i);
		const uint8_t *name = rdf_wire(ldns_rr_owner(rr));
		e[n++] = (struct zentry){ .name = name, .rr = rr, .type = ldns_rr_get_type(rr) };
		for (size_t up = dname_label_count(name) - apex_labels; up > 0; up--) {
			name += 1 + *name;
			e[n++] = (struct zentry){ .name = name };
		}
	}
	*count = n;
	return e;
}

/* Walks sorted entries into nodes/sets/rrs, dropping duplicate records. */
static void zone_fill(struct zone *z, const struct zentry *e, size_t n)
{
	struct znode *node = NULL;
	struct zrrset *set = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!node || dname_canon_cmp(node->owner, e[i].name) != 0) {
			node = &z->nodes[z->nnodes++];
			*node = (struct znode){ .owner = e[i].name, .first = z->nsets };
			set = NULL;
		}
		if (!e[i].rr)
			continue;
		if (set && set->type == e[i].type) {
			if (ldns_rr_compare(z->rrs[z->nrrs - 1], e[i].rr) == 0)
				continue;
		} else {
			set = &z->sets[z->nsets++];
			*set = (struct zrrset){ .type = e[i].type, .first = z->nrrs };
			node->count++;
		}
		z->rrs[z->nrrs++] = e[i].rr;
		set->count++;
	}
}

static int zone_index(struct zone *z)
{
	size_t n = 0;
	struct zentry *e = zone_entries(z, &n);
	int rc = -ENOMEM;
	if (!e)
		goto cleanup;
	qsort(e, n, sizeof(*e), entry_cmp);
	z->nodes = calloc(n, sizeof(*z->nodes));
	z->sets = calloc(n, sizeof(*z->sets));
	z->rrs = calloc(n, sizeof(*z->rrs));
	if (!z->nodes || !z->sets || !z->rrs)
		goto cleanup;
	zone_fill(z, e, n);
	rc = 0;
cleanup:
	free(e);
	return rc;
}

static const struct znode *zone_find_node(const struct zone *z, const uint8_t *name)
{
	size_t lo = 0, hi = z->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = dname_canon_cmp(name, z->nodes[mid].owner);
		if (c == 0)
			return &z->nodes[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct zrrset *node_rrset(const struct zone *z, const struct znode *node,
				       uint16_t type)
{
	if (node->count == 0)
		return NULL;
	if (type == DNS_TYPE_ANY) /* RFC 8482: one RRset, the lowest type */
		return &z->sets[node->first];
	for (size_t i = 0; i < node->count; i++) {
		if (z->sets[node->first + i].type == type)
			return &z->sets[node->first + i];
	}
	return NULL;
}

/* ---- loading ------------------------------------------------------------ */

static void name_text(const ldns_rdf *rdf, char out[ER_DNAME_TEXT_MAX])
{
	dname_to_text(rdf_wire(rdf), out);
}

/* A name that ended up below the sentinel origin was written relative. */
static bool is_relative(const ldns_rdf *rdf, const ldns_rdf *sentinel)
{
	return ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME &&
	       dname_is_subdomain(rdf_wire(rdf), rdf_wire(sentinel));
}

static int check_relative(const ldns_rr *rr, const ldns_rdf *sentinel, const char *path,
			  char *err, size_t errlen)
{
	const ldns_rdf *bad = is_relative(ldns_rr_owner(rr), sentinel) ? ldns_rr_owner(rr) : NULL;
	for (size_t i = 0; !bad && i < ldns_rr_rd_count(rr); i++) {
		if (is_relative(ldns_rr_rdf(rr, i), sentinel))
			bad = ldns_rr_rdf(rr, i);
	}
	if (!bad)
		return 0;
	char text[ER_DNAME_TEXT_MAX];
	name_text(bad, text);
	size_t keep = strlen(text) > strlen(ER_ZONE_NO_ORIGIN) ?
			      strlen(text) - strlen(ER_ZONE_NO_ORIGIN) : 0;
	if (keep == 0)
		strcpy(text, "@"); /* the origin itself */
	text[keep == 0 ? 1 : keep] = '\0'; /* drops ".<sentinel>" */
	snprintf(err, errlen, "%s: relative name \"%s\" but no $ORIGIN; add $ORIGIN or end it with '.'",
		 path, text);
	return -EINVAL;
}

/* Generic rdata (RFC 3597, "\# LEN HEX") can give a known type fewer
 * fields than it has, or a field of the wrong kind; answers read a CNAME's
 * target as a name (and the SOA's fields, checked in zone_check), so such a
 * record is refused at load rather than met at query time. Found by
 * tests/fuzz/fuzz_zone: "www CNAME \# a.b" reached ldns_rdf_data(NULL). */
static int check_rdata(const ldns_rr *rr, const char *owner, const char *path, char *err,
		       size_t errlen)
{
	ldns_rr_type type = ldns_rr_get_type(rr);
	const ldns_rr_descriptor *d = ldns_rr_descript(type);
	size_t n = ldns_rr_rd_count(rr);
	bool is_bad = d != NULL && n < ldns_rr_descriptor_minimum(d);
	for (size_t i = 0; !is_bad && i < n; i++)
		is_bad = ldns_rr_rdf(rr, i) == NULL;
	if (!is_bad && type == LDNS_RR_TYPE_CNAME)
		is_bad = n != 1 || ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) != LDNS_RDF_TYPE_DNAME;
	if (!is_bad)
		return 0;
	char *type_text = ldns_rr_type2str(type);
	snprintf(err, errlen, "%s: the %s record of %s has unusable rdata (%zu fields); write it "
			      "in its type's own syntax",
		 path, type_text ? type_text : "?", owner, n);
	free(type_text);
	return -EINVAL;
}

static int check_rr(const struct zone *z, const ldns_rr *rr, const ldns_rdf *sentinel,
		    const char *path, char *err, size_t errlen)
{
	int rc = check_relative(rr, sentinel, path, err, errlen);
	if (rc != 0)
		return rc;
	char owner[ER_DNAME_TEXT_MAX], apex[ER_DNAME_TEXT_MAX];
	name_text(ldns_rr_owner(rr), owner);
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		snprintf(err, errlen, "%s: record %s is not class IN; local zones hold IN data only",
			 path, owner);
		return -EINVAL;
	}
	if (!dname_is_subdomain(rdf_wire(ldns_rr_owner(rr)), z->apex)) {
		dname_to_text(z->apex, apex);
		snprintf(err, errlen, "%s: record %s is outside the zone apex %s", path, owner,
			 apex);
		return -EINVAL;
	}
	return check_rdata(rr, owner, path, err, errlen);
}

/* SOA present, every record sane, at least one NS at the apex. */
static int zone_check(struct zone *z, const ldns_rdf *sentinel, char *err, size_t errlen)
{
	ldns_rr *soa = ldns_zone_soa(z->lz);
	if (!soa) {
		snprintf(err, errlen, "%s: no SOA record (its owner is the zone apex)", z->file);
		return -EINVAL;
	}
	if (ldns_rr_rd_count(soa) != SOA_FIELDS) {
		/* Generic rdata ("\# 0") gets here with no fields at all,
		 * and negative answers read the MINIMUM field. */
		snprintf(err, errlen,
			 "%s: the SOA record has %zu fields, not the %d of "
			 "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM",
			 z->file, ldns_rr_rd_count(soa), SOA_FIELDS);
		return -EINVAL;
	}
	z->soa = soa;
	z->apex = rdf_wire(ldns_rr_owner(soa));
	size_t ns = 0;
	for (size_t i = 0; i < zone_rr_total(z); i++) {
		const ldns_rr *rr = zone_rr_at(z, i);
		int rc = check_rr(z, rr, sentinel, z->file, err, errlen);
		if (rc != 0)
			return rc;
		ns += ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS &&
		      dname_equal(rdf_wire(ldns_rr_owner(rr)), z->apex);
	}
	char apex[ER_DNAME_TEXT_MAX];
	dname_to_text(z->apex, apex);
	if (ns == 0) {
		snprintf(err, errlen, "%s: no NS record at the zone apex %s", z->file, apex);
		return -EINVAL;
	}
	z->apex_text = strdup(apex);
	return z->apex_text ? 0 : -ENOMEM;
}

/* RFC 1034 3.6.2: a CNAME owner has no other data (DNSSEC types aside). */
static int zone_check_cnames(const struct zone *z, char *err, size_t errlen)
{
	for (size_t i = 0; i < z->nnodes; i++) {
		const struct znode *node = &z->nodes[i];
		const struct zrrset *cname = node_rrset(z, node, DNS_TYPE_CNAME);
		if (!cname)
			continue;
		size_t others = 0;
		for (size_t s = 0; s < node->count; s++) {
			uint16_t t = z->sets[node->first + s].type;
			others += t != DNS_TYPE_CNAME && t != LDNS_RR_TYPE_RRSIG &&
				  t != LDNS_RR_TYPE_NSEC;
		}
		if (others == 0 && cname->count == 1)
			continue;
		char owner[ER_DNAME_TEXT_MAX];
		dname_to_text(node->owner, owner);
		snprintf(err, errlen, "%s: %s has a CNAME and other data (RFC 1034 3.6.2)",
			 z->file, owner);
		return -EINVAL;
	}
	return 0;
}

/*
 * ldns 1.8.3's ldns_zone_new_frm_fp_l frees a half-read zone shallowly on a
 * syntax error, leaking every record read so far. So this first pass, which
 * frees each record as it goes, finds the first error and its line; the zone
 * is built by ldns_zone_new_frm_fp_l only once the file is known to parse.
 * Both use the same record reader, so errors and lines are identical.
 * The pass also stops at a second SOA: ldns_zone_new_frm_fp_l drops it but
 * keeps comparing later records against it, a use after free (found by
 * tests/fuzz/fuzz_zone: three SOA lines with implicit TTLs crash it).
 */
static ldns_status zone_preflight(FILE *fp, const ldns_rdf *origin, int *line, bool *is_second_soa)
{
	uint32_t ttl = ER_ZONE_DEFAULT_TTL;
	ldns_rdf *my_origin = ldns_rdf_clone(origin);
	ldns_rdf *prev = ldns_rdf_clone(origin);
	ldns_status st = my_origin && prev ? LDNS_STATUS_OK : LDNS_STATUS_MEM_ERR;
	bool has_soa = false;
	*is_second_soa = false;
	while (st == LDNS_STATUS_OK && !feof(fp)) {
		ldns_rr *rr = NULL;
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &my_origin, &prev, line);
		if (s == LDNS_STATUS_OK && ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			if (has_soa)
				*is_second_soa = true;
			has_soa = true;
		}
		if (rr)
			ldns_rr_free(rr);
		if (*is_second_soa)
			break;
		if (s == LDNS_STATUS_SYNTAX_INCLUDE)
			st = LDNS_STATUS_SYNTAX_INCLUDE_ERR_NOTIMPL;
		else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_TTL &&
			 s != LDNS_STATUS_SYNTAX_ORIGIN)
			st = s;
	}
	ldns_rdf_deep_free(my_origin);
	ldns_rdf_deep_free(prev);
	return st;
}

static int zone_parse(struct zone *z, const char *path, char *err, size_t errlen)
{
	ldns_rdf *sentinel = ldns_dname_new_frm_str(ER_ZONE_NO_ORIGIN);
	FILE *fp = NULL;
	int rc = -ENOMEM;
	if (!sentinel)
		goto cleanup;
	fp = fopen(path, "r");
	if (!fp) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	int line = 0;
	bool is_second_soa = false;
	ldns_status st = zone_preflight(fp, sentinel, &line, &is_second_soa);
	if (is_second_soa) {
		rc = -EINVAL;
		snprintf(err, errlen,
			 "%s:%d: a second SOA record; a file holds one zone, put "
			 "another zone in a file of its own",
			 path, line);
		goto cleanup;
	}
	if (st == LDNS_STATUS_OK) {
		rewind(fp);
		line = 0;
		st = ldns_zone_new_frm_fp_l(&z->lz, fp, sentinel, ER_ZONE_DEFAULT_TTL,
					    LDNS_RR_CLASS_IN, &line);
	}
	if (st != LDNS_STATUS_OK) {
		z->lz = NULL;
		rc = st == LDNS_STATUS_MEM_ERR ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(st));
		goto cleanup;
	}
	rc = zone_check(z, sentinel, err, errlen);
cleanup:
	if (fp)
		fclose(fp);
	ldns_rdf_deep_free(sentinel);
	return rc;
}

static const struct zone *zoneset_same_apex(const zoneset_t *zs, const uint8_t *apex)
{
	for (size_t i = 0; i < zs->count; i++) {
		if (dname_equal(zs->zones[i]->apex, apex))
			return zs->zones[i];
	}
	return NULL;
}

zoneset_t *zoneset_new(void)
{
	return calloc(1, sizeof(zoneset_t));
}

void zoneset_free(zoneset_t *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->count; i++)
		zone_free(zs->zones[i]);
	free(zs->zones);
	free(zs);
}

int zoneset_load(zoneset_t *zs, const char *path, char *err, size_t errlen)
{
	struct zone *z = calloc(1, sizeof(*z));
	int rc = -ENOMEM;
	if (!z || !(z->file = strdup(path)))
		goto cleanup;
	rc = zone_parse(z, path, err, errlen);
	if (rc != 0)
		goto cleanup;
	rc = zone_index(z);
	if (rc != 0)
		goto cleanup;
	rc = zone_check_cnames(z, err, errlen);
	if (rc != 0)
		goto cleanup;
	const struct zone *other = zoneset_same_apex(zs, z->apex);
	if (other) {
		rc = -EEXIST;
		snprintf(err, errlen, "%s: zone %s is already loaded from %s", path, z->apex_text,
			 other->file);
		goto cleanup;
	}
	struct zone **zones = realloc(zs->zones, (zs->count + 1) * sizeof(*zones));
	rc = -ENOMEM;
	if (!zones)
		goto cleanup;
	zs->zones = zones;
	zs->zones[zs->count++] = z;
	z = NULL;
	rc = 0;
cleanup:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	zone_free(z);
	return rc;
}

/* ---- lookup -------------------------------------------------------------- */

static const struct zone *zoneset_lookup(const zoneset_t *zs, const uint8_t *qname)
{
	const struct zone *best = NULL;
	size_t best_labels = 0;
	for (size_t i = 0; i < zs->count; i++) {
		const struct zone *z = zs->zones[i];
		size_t labels = dname_label_count(z->apex);
		if ((!best || labels > best_labels) && dname_is_subdomain(qname, z->apex)) {
			best = z;
			best_labels = labels;
		}
	}
	return best;
}

const uint8_t *zoneset_find(const zoneset_t *zs, const uint8_t *qname)
{
	const struct zone *z = zoneset_lookup(zs, qname);
	return z ? z->apex : NULL;
}

size_t zoneset_count(const zoneset_t *zs)
{
	return zs->count;
}

const char *zoneset_apex_text(const zoneset_t *zs, size_t i)
{
	return i < zs->count ? zs->zones[i]->apex_text : NULL;
}

size_t zoneset_record_count(const zoneset_t *zs, size_t i)
{
	return i < zs->count ? zs->zones[i]->nrrs : 0;
}

const char *zoneset_file(const zoneset_t *zs, size_t i)
{
	return i < zs->count ? zs->zones[i]->file : NULL;
}

/*
 * RFC 4592 4.1: name does not exist; its closest encloser is its longest
 * existing ancestor (empty non-terminals included, which is why they have
 * nodes), and the source of synthesis is "*.<closest encloser>".
 */
static const struct znode *zone_find_wildcard(const struct zone *z, const uint8_t *name)
{
	const uint8_t *ce = name;
	do {
		ce += 1 + *ce;
	} while (*ce != 0 && !zone_find_node(z, ce));
	size_t ce_len = dname_wire_len(ce, ER_DNAME_MAX);
	uint8_t wild[ER_DNAME_MAX];
	if (ce_len == 0 || ce_len + 2 > ER_DNAME_MAX)
		return NULL;
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, ce, ce_len);
	return zone_find_node(z, wild);
}

/* ---- building the reply ----------------------------------------------- */

static int pkt_push(ldns_pkt *pkt, ldns_pkt_section section, ldns_rr *rr)
{
	if (!rr)
		return -ENOMEM;
	if (!ldns_pkt_push_rr(pkt, section, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/* Copies an RRset into the answer; owner != NULL renames it (wildcards). */
static int pkt_add_rrset(ldns_pkt *pkt, const struct zone *z, const struct zrrset *set,
			 const uint8_t *owner)
{
	for (size_t i = 0; i < set->count; i++) {
		ldns_rr *rr = ldns_rr_clone(z->rrs[set->first + i]);
		if (rr && owner) {
			ldns_rdf *name = ldns_dname_new_frm_data(
				(uint16_t)dname_wire_len(owner, ER_DNAME_MAX), owner);
			if (!name) {
				ldns_rr_free(rr);
				return -ENOMEM;
			}
			ldns_rdf_deep_free(ldns_rr_owner(rr));
			ldns_rr_set_owner(rr, name);
		}
		int rc = pkt_push(pkt, LDNS_SECTION_ANSWER, rr);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* NODATA or NXDOMAIN: the SOA in authority, TTL capped by its minimum
 * field (RFC 2308 3). */
static int pkt_add_negative(ldns_pkt *pkt, const struct zone *z, ldns_pkt_rcode rcode)
{
	ldns_rr *soa = ldns_rr_clone(z->soa);
	if (soa) {
		uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
		if (minimum < ldns_rr_ttl(soa))
			ldns_rr_set_ttl(soa, minimum);
	}
	ldns_pkt_set_rcode(pkt, rcode);
	return pkt_push(pkt, LDNS_SECTION_AUTHORITY, soa);
}

/* True when name already owns a record in the answer: a CNAME loop. */
static bool answer_has_owner(const ldns_pkt *pkt, const uint8_t *name)
{
	const ldns_rr_list *answer = ldns_pkt_answer(pkt);
	for (size_t i = 0; i < ldns_rr_list_rr_count(answer); i++) {
		if (dname_equal(rdf_wire(ldns_rr_owner(ldns_rr_list_rr(answer, i))), name))
			return true;
	}
	return false;
}

/*
 * RFC 1034 4.3.2 step 3 within one zone: exact match, else wildcard, else
 * NXDOMAIN; a CNAME restarts with its target while that stays in the zone.
 * The rcode reflects the last name of the chain (RFC 6604 2.1).
 */
static int zone_resolve(const struct zone *z, const dns_query_t *q, ldns_pkt *pkt)
{
	uint8_t name[ER_DNAME_MAX];
	memcpy(name, q->qname, q->qname_len);
	for (size_t hop = 0;; hop++) {
		const uint8_t *owner = NULL;
		const struct znode *node = zone_find_node(z, name);
		if (!node) {
			node = zone_find_wildcard(z, name);
			owner = name;
		}
		if (!node)
			return pkt_add_negative(pkt, z, LDNS_RCODE_NXDOMAIN);
		const struct zrrset *set = node_rrset(z, node, q->qtype);
		if (set)
			return pkt_add_rrset(pkt, z, set, owner);
		const struct zrrset *cname = node_rrset(z, node, DNS_TYPE_CNAME);
		if (!cname)
			return pkt_add_negative(pkt, z, LDNS_RCODE_NOERROR);
		int rc = pkt_add_rrset(pkt, z, cname, owner);
		if (rc != 0)
			return rc;
		const ldns_rdf *target = ldns_rr_rdf(z->rrs[cname->first], 0);
		if (hop + 1 >= ER_ZONE_CNAME_HOPS || !dname_is_subdomain(rdf_wire(target), z->apex) ||
		    answer_has_owner(pkt, rdf_wire(target)))
			return 0; /* the client resolves the rest */
		memcpy(name, rdf_wire(target), ldns_rdf_size(target));
	}
}

/* Header and the client's question, byte for byte. */
static ldns_pkt *pkt_start(const dns_query_t *q)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rr *question = ldns_rr_new();
	ldns_rdf *qname = ldns_dname_new_frm_data((uint16_t)q->qname_len, q->qname);
	if (!pkt || !question || !qname)
		goto fail;
	ldns_pkt_set_id(pkt, q->id);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_QUERY);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_aa(pkt, true);
	ldns_pkt_set_rd(pkt, (q->flags & DNS_FLAG_RD) != 0);
	ldns_pkt_set_ra(pkt, true);
	ldns_rr_set_owner(question, qname);
	qname = NULL;
	ldns_rr_set_type(question, q->qtype);
	ldns_rr_set_class(question, q->qclass);
	ldns_rr_set_question(question, true);
	if (pkt_push(pkt, LDNS_SECTION_QUESTION, question) != 0) {
		question = NULL; /* freed by pkt_push */
		goto fail;
	}
	return pkt;
fail:
	ldns_rdf_deep_free(qname);
	ldns_rr_free(question);
	ldns_pkt_free(pkt);
	return NULL;
}

static size_t pkt_to_out(const ldns_pkt *pkt, uint8_t *out, size_t cap)
{
	uint8_t *wire = NULL;
	size_t len = 0;
	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK || len > cap)
		len = 0;
	else
		memcpy(out, wire, len);
	free(wire);
	return len;
}

size_t zoneset_answer(const zoneset_t *zs, const dns_query_t *q, uint8_t *out, size_t cap)
{
	const struct zone *z = zoneset_lookup(zs, q->qname);
	if (!z || q->qname_len > ER_DNAME_MAX)
		return 0;
	ldns_pkt *pkt = pkt_start(q);
	if (!pkt)
		return 0;
	size_t len = 0;
	if ((q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) ||
	    q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR) {
		/* Not IN data, or a transfer we do not offer. */
		ldns_pkt_set_aa(pkt, false);
		ldns_pkt_set_rcode(pkt, LDNS_RCODE_REFUSED);
	} else if (zone_resolve(z, q, pkt) != 0) {
		goto cleanup;
	}
	len = pkt_to_out(pkt, out, cap);
cleanup:
	ldns_pkt_free(pkt);
	return len;
}
