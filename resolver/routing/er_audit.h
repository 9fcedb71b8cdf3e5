/*
 * The ExpressRoute audit of one answer (SPEC 2.2): does the address a
 * client gets for a Microsoft 365 name lie inside the prefixes Microsoft
 * advertises over ExpressRoute for that route's list? Pure: the forwarder
 * (server/audit.c) and `erdns m365 audit` both judge with
 * er_audit_judge, so the two cannot disagree.
 *
 * Also the words SPEC 3 shows (`er=` in the CHAOS routing answer and the
 * query log), so every place that prints one prints the same.
 */
#ifndef ERDNS_ROUTING_ER_AUDIT_H
#define ERDNS_ROUTING_ER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dname.h"
#include "routing/prefixset.h"

/* A route's `audit` (SPEC 2.2). */
typedef enum {
	ER_AUDIT_OBSERVE,  /* count, log, show; relay as usual (the default) */
	ER_AUDIT_FALLBACK, /* an outside answer: ask the chain's next group */
} er_audit_policy_t;

/* The verdict on one answer; stored with its cache entry (uint8_t). */
typedef enum {
	ER_VERDICT_UNJUDGED, /* not audited: no m365 route, a later group, not A/AAAA */
	ER_VERDICT_INSIDE,   /* every judged address lies inside the prefixes */
	ER_VERDICT_OUTSIDE,  /* some address does not */
	/* nothing to judge: no address at the end of the chain (NODATA,
	 * NXDOMAIN, a CNAME to nowhere), or only addresses of a family the
	 * list has no prefix for (the 2026 Worldwide list has no IPv6) */
	ER_VERDICT_NONE,
	ER_VERDICT_COUNT
} er_verdict_t;

/* CNAME links followed from the question name: more than any real chain
 * (Microsoft 365's are 2-4), as a resolver's restart limit (BIND: 11). */
#define ER_AUDIT_CNAME_MAX 16

typedef struct er_judgement {
	er_verdict_t verdict;
	/* the A/AAAA records owned by the end of the chain */
	unsigned n_inside, n_outside, n_unjudged; /* unjudged: no prefix of its family */
	int outside_family;			  /* of the first address outside; 0 when none */
	uint8_t outside_addr[16];
} er_judgement_t;

/*
 * Judges resp, an upstream answer (RFC 1035 message, possibly compressed)
 * to qname (uncompressed wire, any case): follows the CNAME records of the
 * answer section from qname, in whatever order they come, to the last name
 * of the chain, and judges every A and AAAA record of class IN that name
 * owns against ps. Returns 0 with *out, or -EBADMSG when the message cannot
 * be walked (*out then says NONE).
 */
int er_audit_judge(const prefixset_t *ps, const uint8_t *qname, const uint8_t *resp, size_t len,
		   er_judgement_t *out);

/* For `erdns m365 audit`, which shows every address: called per A/AAAA
 * record judged, with v INSIDE (hit: the longest matching prefix),
 * OUTSIDE (hit: the nearest prefix of its family) or NONE (no prefix of
 * its family; hit NULL). */
typedef struct er_audit_visitor {
	void (*on_address)(void *ctx, int family, const uint8_t *addr, er_verdict_t v,
			   const prefix_hit_t *hit);
	void *ctx;
	uint8_t end[ER_DNAME_MAX]; /* out: the last name of the CNAME chain (wire) */
} er_audit_visitor_t;

/* er_audit_judge, telling vis (may be NULL) about each address. */
int er_audit_judge_visit(const prefixset_t *ps, const uint8_t *qname, const uint8_t *resp,
			 size_t len, er_audit_visitor_t *vis, er_judgement_t *out);

/* "unjudged", "inside", "outside", "none": the metrics label. */
const char *er_verdict_name(er_verdict_t v);

/* SPEC 3's `er=` words, ordered by how much they say about traffic leaving
 * the ExpressRoute path, so that two answers (A and AAAA) combine by max. */
typedef enum {
	ER_WORD_NA,	 /* the name is on no m365 route */
	ER_WORD_UNKNOWN, /* nothing cached, or nothing to judge */
	ER_WORD_INSIDE,
	ER_WORD_OFF, /* the answer came from a later group of the chain */
	ER_WORD_OUTSIDE,
} er_word_t;

/* One answer on an m365 route's chain: "off" from a later group, else its
 * verdict; none and unjudged say "unknown". */
er_word_t er_word_of(bool is_fallback, er_verdict_t v);
/* Of two answers for one name, the word that says more (max). */
er_word_t er_word_worse(er_word_t a, er_word_t b);
/* "n/a", "unknown", "inside", "off", "outside". */
const char *er_word_name(er_word_t w);

#endif
