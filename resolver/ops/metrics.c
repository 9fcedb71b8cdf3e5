/*
 * Label buckets of the metrics families (metrics.h): each maps an open set
 * (query types, rcodes, route slots, chains) onto the bounded one the
 * arrays hold.
 */
#include "ops/metrics.h"

unsigned metrics_qtype_index(uint16_t qtype)
{
	switch (qtype) {
#define ER_QT_CASE(name, value)                                                             \
	case value:                                                                         \
		return ER_QTYPE_##name;
		ER_METRICS_QTYPES(ER_QT_CASE)
#undef ER_QT_CASE
	default:
		return ER_QTYPE_OTHER;
	}
}

unsigned metrics_rcode_index(unsigned rcode)
{
	switch (rcode) {
#define ER_RC_CASE(name, value)                                                             \
	case value:                                                                         \
		return ER_RCODE_##name;
		ER_METRICS_RCODES(ER_RC_CASE)
#undef ER_RC_CASE
	default:
		return ER_RCODE_OTHER;
	}
}

unsigned metrics_route_index(uint16_t slot)
{
	return slot < ER_METRICS_ROUTES ? slot : ER_METRICS_ROUTES - 1;
}

unsigned metrics_chain_index(uint32_t chain)
{
	return chain < ER_METRICS_CHAINS ? chain : ER_METRICS_CHAINS - 1;
}

void metrics_upstream_rtt(metrics_t *m, uint16_t id, uint32_t rtt_us)
{
	static const uint32_t bounds[ER_METRICS_RTT_BUCKETS] = ER_METRICS_RTT_BOUNDS_US;
	metrics_upstream_t *u = &m->upstream[id];
	for (unsigned i = 0; i < ER_METRICS_RTT_BUCKETS; i++) {
		if (rtt_us <= bounds[i]) {
			metrics_add(&u->rtt_buckets[i], 1);
			break;
		}
	}
	metrics_add(&u->rtt_count, 1);
	metrics_add(&u->rtt_sum_us, rtt_us);
}
