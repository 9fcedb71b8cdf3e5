/*
 * Micro-benchmark of the ExpressRoute audit on the miss path: CPU ns per
 * judged answer (server/audit.c's audit_answer: the answer walk, the
 * longest-prefix match, the counter), against the real 2026 Worldwide
 * list's ExpressRoute prefixes (../shared/data; tests/fixtures/m365/small.json
 * when absent), for three answer shapes:
 *   a     one A record, owner compressed to the question (what the
 *         benchmark's knotd gives for *.office.com)
 *   chain outlook.office365.com's shape: three CNAMEs, then two A records
 *   aaaa  one AAAA record (no IPv6 prefix in the 2026 list: not judged)
 * CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), median of REPS runs,
 * so a busy machine slows the wall clock but not the figure much. It
 * measures, it does not assert. Usage: bench_audit [iterations-per-run].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "routing/m365.h"
#include "server/audit.h"
#include "bench_clock.h"

#define REPS	  5
#define REAL_2026 "/../../../shared/data/m365-endpoints-worldwide.json"

typedef struct shape {
	const char *label, *qname;
	ldns_rr_type qtype;
	const char *rrs[6];
} shape_t;

static const shape_t shapes[] = {
    {"a", "m1-erdns-3.office.com.", LDNS_RR_TYPE_A, {"m1-erdns-3.office.com. 3600 IN A 52.96.1.1"}},
    {"chain",
     "outlook.office365.com.",
     LDNS_RR_TYPE_A,
     {"outlook.office365.com. 300 IN CNAME outlook.ha.office365.com.",
      "outlook.ha.office365.com. 60 IN CNAME outlook.ms-acdc.office.com.",
      "outlook.ms-acdc.office.com. 30 IN CNAME AMS-efz.ms-acdc.office.com.",
      "AMS-efz.ms-acdc.office.com. 10 IN A 52.97.146.162",
      "AMS-efz.ms-acdc.office.com. 10 IN A 40.99.150.66"}},
    {"aaaa",
     "outlook.office.com.",
     LDNS_RR_TYPE_AAAA,
     {"outlook.office.com. 60 IN AAAA 2603:1026:c02::2"}},
};

static size_t build(const shape_t *s, uint8_t *out, size_t cap)
{
	ldns_pkt *pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(s->qname), s->qtype,
					   LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(pkt, true);
	for (size_t i = 0; i < 6 && s->rrs[i]; i++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, s->rrs[i], 0, NULL, NULL) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	}
	uint8_t *wire = NULL;
	size_t len = 0;
	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK || len > cap)
		abort();
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(pkt);
	return len;
}

static prefixset_t *load_prefixes(const char *self)
{
	char path[1024], err[512];
	m365_list_t *list = NULL;
	prefixset_t *ps = NULL;
	snprintf(path, sizeof(path), "%s" REAL_2026, ERDNS_FIXTURES);
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "%s/m365/small.json", ERDNS_FIXTURES);
	m365_filter_t f = ER_M365_FILTER_DEFAULT;
	if (m365_list_load(path, &list, err, sizeof(err)) != 0 ||
	    m365_prefixes(list, &f, &ps, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", self, err);
		exit(1);
	}
	printf("list: %s (%zu IPv4, %zu IPv6 ExpressRoute prefixes)\n", path,
	       prefixset_count(ps, AF_INET), prefixset_count(ps, AF_INET6));
	m365_list_free(list);
	return ps;
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000;
	static metrics_t stats;
	ratelimit_t limit = {0};
	config_m365_t route = {
	    .route = "routes[0]", .prefixes = load_prefixes(argv[0]), .outside_log = &limit};
	struct sockaddr_storage up = {.ss_family = AF_INET};
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint8_t resp[1024], qname[ER_DNAME_MAX];
		size_t len = build(&shapes[s], resp, sizeof(resp));
		size_t qlen = dname_from_text(shapes[s].qname, qname);
		dns_query_t q = {.qname = qname,
				 .qname_len = qlen,
				 .qtype = (uint16_t)shapes[s].qtype,
				 .qclass = DNS_CLASS_IN};
		audit_answer_t a = {.route = &route,
				    .q = &q,
				    .resp = resp,
				    .len = len,
				    .upstream = (const struct sockaddr *)&up,
				    .stats = &stats,
				    .now_ms = 0};
		uint64_t ns[REPS];
		er_verdict_t v = ER_VERDICT_UNJUDGED;
		for (int r = 0; r < REPS; r++) {
			uint64_t t0 = thread_cpu_ns();
			for (unsigned i = 0; i < iters; i++)
				v = audit_answer(&a);
			ns[r] = thread_cpu_ns() - t0;
		}
		qsort(ns, REPS, sizeof(ns[0]), cmp_u64);
		printf("%-6s %4zu bytes  verdict %-8s %6.1f ns per judged answer (median of %d x "
		       "%u)\n",
		       shapes[s].label, len, er_verdict_name(v), (double)ns[REPS / 2] / iters, REPS,
		       iters);
	}
	prefixset_free(route.prefixes);
	return 0;
}
