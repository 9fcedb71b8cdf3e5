/*
 * ldns packets to wire bytes for the unit tests that build their messages
 * with ldns (a parser and writer that is not ours). Include after
 * <cmocka.h> and <ldns/ldns.h>.
 *
 * pkt_to_buf(pkt, buf, cap): writes pkt's wire form into buf (the test
 * fails when it is longer than cap), frees pkt, returns the length.
 */
#ifndef ERDNS_TESTS_LDNS_WIRE_H
#define ERDNS_TESTS_LDNS_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline size_t pkt_to_buf(ldns_pkt *pkt, uint8_t *buf, size_t cap)
{
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(pkt);
	return len;
}

#endif
