/*
 * One query log line (SPEC 4), in two steps: a worker captures what the
 * line needs from a query event into a compact record (copies only, no
 * formatting), and the writer thread turns records into JSON lines. The
 * record owns copies of everything: the config snapshot, the rule and the
 * packet the event points into may be gone when the writer runs.
 *
 * Both steps are pure (no clock, no I/O, no threads): the caller passes
 * the time, which makes every line testable byte for byte.
 */
#ifndef ERDNS_OPS_QUERYLOG_LINE_H
#define ERDNS_OPS_QUERYLOG_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/client.h"
#include "upstream/health_table.h"

/* Strings copied from the config (view name, rule text, chain text) are cut
 * at this many bytes; names and chains are far shorter in any sane config. */
#define ER_QLOG_TEXT_MAX 255

/* What a line needs, then its strings: qname (wire form, as asked), view,
 * rule, via (not NUL-terminated; lengths below). Times are the workers'
 * uv_hrtime() (CLOCK_MONOTONIC): the writer turns them into wall-clock
 * time, which spares each query a clock_gettime(CLOCK_REALTIME). */
typedef struct querylog_record {
	uint64_t reply_ns; /* when the reply was sent */
	uint32_t latency_us; /* from arrival to the reply */
	uint16_t qtype, rcode;
	int16_t upstream; /* health id of the server that answered, -1: none */
	uint8_t client_family; /* AF_INET or AF_INET6 (AF_UNSPEC: unknown) */
	uint8_t client[16]; /* the client's address, network order */
	uint8_t cache; /* cache_result_kind_t */
	uint8_t er; /* er_word_t, as the event says (routing/er_audit.h) */
	uint8_t qname_len, view_len, rule_len, via_len;
	uint8_t text[];
} querylog_record_t;

_Static_assert(ER_HEALTH_MAX_ADDRS <= INT16_MAX, "health ids fit querylog_record_t.upstream");

#define ER_QLOG_RECORD_MAX (sizeof(querylog_record_t) + 255 + 3 * ER_QLOG_TEXT_MAX)
/* The longest line: a qname of 255 bytes each written \\DDD, three config
 * strings of 255 bytes each escaped as \uXXXX, addresses, the fixed keys. */
#define ER_QLOG_LINE_MAX 8192

/* What formatting needs besides a record; one per formatting thread. */
typedef struct querylog_format_ctx {
	int64_t wall_offset_ns; /* CLOCK_REALTIME minus CLOCK_MONOTONIC, now */
	/* Turns upstream ids into addresses (entries never change or go away
	 * while the table lives). NULL: upstream "-". */
	const health_table_t *health;
	/* Formatting's own: the last second written, as text. Zero it. */
	bool has_second;
	int64_t second;
	char second_text[19];
} querylog_format_ctx_t;

/*
 * Copies what the line for ev needs into rec (ER_QLOG_RECORD_MAX bytes) and
 * returns the record's size. now_ns is the uv_hrtime() of the reply,
 * compared with ev->meta->received_ns.
 */
size_t querylog_line_capture(const query_event_t *ev, uint64_t now_ns, querylog_record_t *rec);

/*
 * Writes rec (len bytes, from querylog_line_capture) as one JSON object and
 * a newline into out, which has room for ER_QLOG_LINE_MAX bytes. Returns the
 * length written, or 0 when the record is malformed (len inconsistent).
 */
size_t querylog_line_format(const querylog_record_t *rec, size_t len,
			    querylog_format_ctx_t *ctx, char *out);

#endif
