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

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/client.h"
#include "upstream/health_table.h"

/* Strings copied from the config (view name, rule text, chain text) are cut
 * at this many bytes; names and chains are far shorter in any sane config. */
#define ER_QLOG_TEXT_MAX 255

/* `er` (SPEC 3's CHAOS answer): inside/outside come with the ExpressRoute
 * audit; until then an m365 route's answer is off or unknown. */
typedef enum { QLOG_ER_NA, QLOG_ER_OFF, QLOG_ER_UNKNOWN } qlog_er_t;

typedef union qlog_addr {
	struct sockaddr sa; /* sa_family AF_UNSPEC: none */
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
} qlog_addr_t;

/* What a line needs, then its strings: qname (wire form, as asked), view,
 * rule, via (not NUL-terminated; lengths below). */
typedef struct querylog_record {
	int64_t wall_ms; /* when the reply was sent, ms since the Unix epoch */
	uint32_t latency_us; /* from arrival to the reply */
	uint16_t qtype, rcode;
	qlog_addr_t client, upstream;
	uint8_t cache; /* cache_result_kind_t */
	uint8_t er; /* qlog_er_t */
	uint8_t qname_len, view_len, rule_len, via_len;
	uint8_t text[];
} querylog_record_t;

#define ER_QLOG_RECORD_MAX (sizeof(querylog_record_t) + 255 + 3 * ER_QLOG_TEXT_MAX)
/* The longest line: a qname of 255 bytes each written \\DDD, three config
 * strings of 255 bytes each escaped as \uXXXX, addresses, the fixed keys. */
#define ER_QLOG_LINE_MAX 8192

/*
 * Copies what the line for ev needs into rec (ER_QLOG_RECORD_MAX bytes) and
 * returns the record's size. wall_ms is the time of the reply (Unix ms),
 * now_ns the uv_hrtime() of the reply, compared with ev->meta->received_ns.
 * health turns the answering server's id into its address (NULL: "-").
 */
size_t querylog_line_capture(const query_event_t *ev, const health_table_t *health,
			     int64_t wall_ms, uint64_t now_ns, querylog_record_t *rec);

/*
 * Writes rec (len bytes, from querylog_line_capture) as one JSON object and
 * a newline into out, which has room for ER_QLOG_LINE_MAX bytes. Returns the
 * length written, or 0 when the record is malformed (len inconsistent).
 */
size_t querylog_line_format(const querylog_record_t *rec, size_t len, char *out);

#endif
