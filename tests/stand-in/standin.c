/*
 * erdns-standin: a scripted upstream DNS server for the integration tests.
 *
 * One libuv loop serves UDP and TCP (RFC 7766 framing) on one loopback
 * address. Each query is parsed with ldns, logged (the tests count upstream
 * queries from that log) and then handled according to the current mode,
 * which is re-read from --mode-file before every query so a test can make a
 * server fail and "come back" without restarting it. Answers are synthesised
 * from the first label of the question name (nx, nodata, cname, big, huge),
 * so every test zone is described by its names and no zone file is needed.
 *
 * Everything that happens later (delayed answers, the correct answer that
 * follows a spoofed one, a TCP answer trickled a byte at a time) is a struct
 * pending: a uv timer plus a copy of the bytes and where they go. A pending reply for a TCP connection holds a weak
 * pointer that conn_close() clears, so a dead connection never gets written.
 * Memory is bounded: at most ER_STANDIN_CONNS_MAX connections with one
 * 64 KiB frame buffer each and ER_STANDIN_PENDING_MAX pending replies;
 * beyond that connections are closed and replies dropped.
 *
 * Rejected: a zone-file driven server (the tests want behaviour, not data),
 * and reading the mode file with uv_fs (a synchronous read of a few bytes on
 * loopback test traffic costs nothing and keeps one query one function).
 * Only loopback addresses are accepted so that a misconfigured test can never
 * answer (or spoof) anything on a real network. The spoofing modes spoof over
 * UDP only: that is where off-path forgery happens, and on a TCP stream an
 * ID+1 reply would collide with the next pipelined query's ID.
 *
 * The file is longer than the house's ~600 lines because a test tool must
 * build as one self-contained source (tests/CMakeLists.txt); its sections
 * (sending, building replies, handling a query, UDP/TCP, life cycle, command
 * line) each read top to bottom. See README.md for the name and mode tables.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <uv.h>

#include "dns/dname.h"
#include "util/log.h"

#define ER_STANDIN_CONNS_MAX 64
#define ER_STANDIN_FRAME_MAX (65535 + 2) /* RFC 7766 8: 2-byte length + message */
#define ER_STANDIN_PENDING_MAX 1024
#define ER_STANDIN_EDNS_SIZE 1232 /* DNS flag day 2020 */
#define ER_STANDIN_UDP_MIN 512 /* RFC 1035 4.2.1 */
#define ER_STANDIN_SPOOF_GAP_MS 30 /* spoof first, the real answer this much later */
#define ER_STANDIN_GARBAGE_LEN 20
#define ER_STANDIN_TRICKLE_MS 200 /* trickle: one byte of the TCP frame this often */
#define ER_STANDIN_BACKLOG 128

_Static_assert(ER_STANDIN_FRAME_MAX == UINT16_MAX + 2, "one whole frame must fit the buffer");
_Static_assert(ER_STANDIN_EDNS_SIZE > ER_STANDIN_UDP_MIN, "EDNS size must exceed the classic limit");

enum standin_mode {
	MODE_ANSWER,
	MODE_SILENT,
	MODE_DELAY,
	MODE_SERVFAIL,
	MODE_REFUSED,
	MODE_TRUNCATE,
	MODE_GARBAGE,
	MODE_WRONGID,
	MODE_WRONGQ,
	MODE_WRONGPORT,
	MODE_TCPCLOSE,
	MODE_TRICKLE,
	MODE_COUNT,
};

static const char *const mode_names[MODE_COUNT] = {
	[MODE_ANSWER] = "answer",     [MODE_SILENT] = "silent",	      [MODE_DELAY] = "delay",
	[MODE_SERVFAIL] = "servfail", [MODE_REFUSED] = "refused",     [MODE_TRUNCATE] = "truncate",
	[MODE_GARBAGE] = "garbage",   [MODE_WRONGID] = "wrongid",     [MODE_WRONGQ] = "wrongq",
	[MODE_WRONGPORT] = "wrongport", [MODE_TCPCLOSE] = "tcpclose",	[MODE_TRICKLE] = "trickle",
};

struct mode_choice {
	enum standin_mode mode;
	unsigned delay_ms;
};

struct options {
	struct sockaddr_storage listen;
	unsigned id;
	const char *name;
	struct mode_choice mode;
	const char *mode_file;
	const char *log_path;
	const char *peer_log_path;
	bool sets_ad; /* every answer claims AD=1 (a validating upstream) */
	bool echoes_cd; /* answers copy the query's CD (an upstream that echoes it) */
};

/* Header bits of every answer, from --set-ad and --echo-cd (reply_new has no
 * other way to reach the options; the stand-in serves one config). */
static bool g_sets_ad, g_echoes_cd;

struct standin;

struct conn {
	uv_tcp_t handle;
	struct standin *s;
	struct conn *prev, *next;
	bool is_closing;
	size_t rlen;
	uint8_t rbuf[ER_STANDIN_FRAME_MAX];
};

struct pending {
	uv_timer_t timer;
	struct standin *s;
	struct pending *prev, *next;
	struct conn *conn; /* weak: cleared by conn_close() */
	bool is_tcp;
	bool is_closing;
	bool is_trickle; /* data is a whole TCP frame, sent a byte per tick */
	struct sockaddr_storage peer;
	size_t sent; /* trickle: bytes of data already written */
	size_t len;
	uint8_t data[];
};

struct standin {
	uv_loop_t loop;
	struct options opt;
	FILE *log;
	FILE *peer_log;
	uv_udp_t udp;
	uv_udp_t udp_alt; /* the "wrong port" for wrongport spoofs */
	uv_tcp_t listener;
	uv_signal_t sigterm, sigint;
	bool has_handles;
	bool is_stopping;
	struct conn *conns;
	size_t conn_count;
	struct pending *pendings;
	size_t pending_count;
	uint8_t udp_buf[65536];
};

/* Where a reply goes: the TCP connection the query came on, or a UDP peer. */
struct dest {
	struct conn *conn; /* NULL for UDP */
	const struct sockaddr *peer;
};

struct udp_send {
	uv_udp_send_t req;
	uint8_t data[];
};

struct tcp_send {
	uv_write_t req;
	uint8_t data[];
};

/* ---- sending ---------------------------------------------------------- */

static void on_udp_sent(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req->data);
}

static void on_tcp_sent(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

/* Copies data; the caller keeps ownership of it. */
static void udp_send(uv_udp_t *udp, const struct sockaddr *peer, const uint8_t *data, size_t len)
{
	if (uv_is_closing((uv_handle_t *)udp))
		return;
	struct udp_send *us = malloc(sizeof(*us) + len);
	if (!us)
		return;
	memcpy(us->data, data, len);
	us->req.data = us;
	uv_buf_t buf = uv_buf_init((char *)us->data, (unsigned)len);
	int err = uv_udp_send(&us->req, udp, &buf, 1, peer, on_udp_sent);
	if (err) {
		log_warn("udp send: %s", uv_strerror(err));
		free(us);
	}
}

/* Copies len bytes (a frame or part of one) as they are; the caller keeps
 * ownership of data. */
static void tcp_send_raw(struct conn *c, const uint8_t *head, size_t head_len, const uint8_t *data,
			 size_t len)
{
	if (c->is_closing)
		return;
	struct tcp_send *ts = malloc(sizeof(*ts) + head_len + len);
	if (!ts)
		return;
	if (head_len)
		memcpy(ts->data, head, head_len);
	memcpy(ts->data + head_len, data, len);
	ts->req.data = ts;
	uv_buf_t buf = uv_buf_init((char *)ts->data, (unsigned)(head_len + len));
	int err = uv_write(&ts->req, (uv_stream_t *)&c->handle, &buf, 1, on_tcp_sent);
	if (err) {
		log_warn("tcp write: %s", uv_strerror(err));
		free(ts);
	}
}

/* Frames and copies data; the caller keeps ownership of it. */
static void tcp_send(struct conn *c, const uint8_t *data, size_t len)
{
	if (len > UINT16_MAX)
		return;
	uint8_t head[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	tcp_send_raw(c, head, sizeof(head), data, len);
}

static void send_now(struct standin *s, const struct dest *d, bool is_alt, const uint8_t *data,
		     size_t len)
{
	if (s->is_stopping)
		return;
	if (d->conn)
		tcp_send(d->conn, data, len);
	else
		udp_send(is_alt ? &s->udp_alt : &s->udp, d->peer, data, len);
}

static void on_pending_closed(uv_handle_t *handle)
{
	struct pending *p = handle->data;
	p->s->pending_count--;
	free(p);
}

static void pending_close(struct pending *p)
{
	if (p->is_closing)
		return;
	p->is_closing = true;
	if (p->prev)
		p->prev->next = p->next;
	else
		p->s->pendings = p->next;
	if (p->next)
		p->next->prev = p->prev;
	uv_close((uv_handle_t *)&p->timer, on_pending_closed);
}

static void on_pending_timer(uv_timer_t *timer)
{
	struct pending *p = timer->data;
	struct dest d = { .conn = p->conn, .peer = (const struct sockaddr *)&p->peer };
	if (p->is_trickle && p->conn && !p->s->is_stopping) {
		tcp_send_raw(p->conn, NULL, 0, p->data + p->sent++, 1);
		if (p->sent < p->len)
			return; /* the repeating timer sends the next byte */
	} else if (!p->is_tcp || p->conn) {
		send_now(p->s, &d, false, p->data, p->len);
	}
	pending_close(p);
}

/* Sends a copy of data after delay_ms from the listening socket; drops it when
 * ER_STANDIN_PENDING_MAX replies are already waiting. With is_trickle (TCP
 * only) data is a whole frame and goes one byte every delay_ms. */
static void send_later(struct standin *s, const struct dest *d, unsigned delay_ms, const uint8_t *data,
		       size_t len, bool is_trickle)
{
	if (s->is_stopping)
		return;
	if (s->pending_count >= ER_STANDIN_PENDING_MAX) {
		log_warn("%d delayed replies pending: dropping one", ER_STANDIN_PENDING_MAX);
		return;
	}
	struct pending *p = calloc(1, sizeof(*p) + len);
	if (!p)
		return;
	if (uv_timer_init(&s->loop, &p->timer) != 0) {
		free(p);
		return;
	}
	p->timer.data = p;
	p->s = s;
	p->conn = d->conn;
	p->is_tcp = d->conn != NULL;
	p->is_trickle = is_trickle && p->is_tcp;
	if (d->peer)
		memcpy(&p->peer, d->peer, d->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
									   : sizeof(struct sockaddr_in));
	p->len = len;
	memcpy(p->data, data, len);
	p->next = s->pendings;
	if (s->pendings)
		s->pendings->prev = p;
	s->pendings = p;
	s->pending_count++;
	if (uv_timer_start(&p->timer, on_pending_timer, delay_ms, p->is_trickle ? delay_ms : 0) != 0)
		pending_close(p);
}

/* ---- building replies ------------------------------------------------- */

static const ldns_rr *query_question(const ldns_pkt *query)
{
	return ldns_rr_list_rr(ldns_pkt_question(query), 0);
}

/* Header, question and OPT shared by every reply to query. Caller frees. */
static ldns_pkt *reply_new(const ldns_pkt *query, ldns_pkt_rcode rcode)
{
	ldns_pkt *r = ldns_pkt_new();
	if (!r)
		return NULL;
	ldns_pkt_set_id(r, ldns_pkt_id(query));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(r, ldns_pkt_rd(query));
	ldns_pkt_set_ra(r, true);
	ldns_pkt_set_ad(r, g_sets_ad);
	ldns_pkt_set_cd(r, g_echoes_cd && ldns_pkt_cd(query));
	ldns_pkt_set_aa(r, false);
	ldns_pkt_set_rcode(r, rcode);
	ldns_rr *q = ldns_rr_clone(query_question(query));
	if (!q || !ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, q)) {
		ldns_rr_free(q);
		ldns_pkt_free(r);
		return NULL;
	}
	if (ldns_pkt_edns(query))
		ldns_pkt_set_edns_udp_size(r, ER_STANDIN_EDNS_SIZE);
	return r;
}

/* Appends owner TTL class type rdfs[0..n) to section. Takes ownership of the
 * rdfs (also on failure; a NULL entry is an earlier allocation failure). */
static int rr_add(ldns_pkt *pkt, ldns_pkt_section section, const ldns_rdf *owner, ldns_rr_type type,
		  uint32_t ttl, ldns_rdf **rdfs, size_t n)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *own = ldns_rdf_clone(owner);
	bool is_ok = rr && own;
	for (size_t i = 0; i < n; i++)
		is_ok = is_ok && rdfs[i];
	if (!is_ok) {
		for (size_t i = 0; i < n; i++)
			ldns_rdf_deep_free(rdfs[i]);
		ldns_rdf_deep_free(own);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	ldns_rr_set_owner(rr, own);
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	for (size_t i = 0; i < n; i++)
		ldns_rr_push_rdf(rr, rdfs[i]);
	if (!ldns_pkt_push_rr(pkt, section, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/* SOA of the parent of qname (the root for the root), minimum 60, TTL 60. */
static int soa_add(ldns_pkt *pkt, const ldns_rdf *qname)
{
	ldns_rdf *parent = ldns_dname_label_count(qname) > 0 ? ldns_dname_left_chop(qname)
							     : ldns_rdf_clone(qname);
	if (!parent)
		return -ENOMEM;
	ldns_rdf *rdfs[] = {
		ldns_dname_new_frm_str("ns.standin.invalid."),
		ldns_dname_new_frm_str("hostmaster.standin.invalid."),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, 1),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 60),
	};
	int err = rr_add(pkt, LDNS_SECTION_AUTHORITY, parent, LDNS_RR_TYPE_SOA, 60, rdfs, 7);
	ldns_rdf_deep_free(parent);
	return err;
}

static int a_add(ldns_pkt *pkt, const ldns_rdf *owner, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	uint8_t ip[4] = { a, b, c, d };
	ldns_rdf *rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, sizeof(ip), ip);
	return rr_add(pkt, LDNS_SECTION_ANSWER, owner, LDNS_RR_TYPE_A, 60, &rdf, 1);
}

/* A records net.0 .. net.(count-1) for qname: big (40 from 192.0.2.0/24, 684
 * bytes with EDNS: above 512, below 1232) and huge (100 from 198.18.0.0/24,
 * 1645 bytes: above 1232, so UDP gets TC). */
static int a_range_add(ldns_pkt *pkt, const ldns_rdf *qname, const uint8_t net[3], unsigned count)
{
	int err = 0;
	for (unsigned i = 0; i < count && i <= UINT8_MAX && !err; i++)
		err = a_add(pkt, qname, net[0], net[1], net[2], (uint8_t)i);
	return err;
}

static bool type_has_data(ldns_rr_type type)
{
	return type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA || type == LDNS_RR_TYPE_TXT;
}

/* The identity record: A 192.0.2.<id>, AAAA 2001:db8::<id>, TXT "standin=<name>". */
static int data_add(const struct standin *s, ldns_pkt *pkt, const ldns_rdf *owner, ldns_rr_type type)
{
	uint8_t id = (uint8_t)s->opt.id;
	if (type == LDNS_RR_TYPE_A)
		return a_add(pkt, owner, 192, 0, 2, id);
	ldns_rdf *rdf;
	if (type == LDNS_RR_TYPE_AAAA) {
		uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = id };
		rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, sizeof(ip6), ip6);
	} else {
		char text[256];
		snprintf(text, sizeof(text), "standin=%.240s", s->opt.name);
		rdf = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, text);
	}
	return rr_add(pkt, LDNS_SECTION_ANSWER, owner, type, 60, &rdf, 1);
}

/* qname 300 CNAME target.qname, then target's own data (or SOA). */
static int cname_add(const struct standin *s, ldns_pkt *pkt, const ldns_rdf *qname, ldns_rr_type type)
{
	ldns_rdf *label = ldns_dname_new_frm_str("target");
	ldns_rdf *target = label ? ldns_dname_cat_clone(label, qname) : NULL;
	ldns_rdf_deep_free(label);
	if (!target || ldns_rdf_size(target) > ER_DNAME_MAX) {
		ldns_rdf_deep_free(target);
		return soa_add(pkt, qname); /* no room for the chain: NODATA */
	}
	ldns_rdf *rdf = ldns_rdf_clone(target);
	int err = rr_add(pkt, LDNS_SECTION_ANSWER, qname, LDNS_RR_TYPE_CNAME, 300, &rdf, 1);
	if (!err && type_has_data(type))
		err = data_add(s, pkt, target, type);
	else if (!err && type != LDNS_RR_TYPE_CNAME)
		err = soa_add(pkt, target);
	ldns_rdf_deep_free(target);
	return err;
}

static bool has_prefix(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Fills answer mode's records and rcode into pkt from the question's first label. */
static int answer_fill(const struct standin *s, ldns_pkt *pkt, const ldns_pkt *query)
{
	const ldns_rr *q = query_question(query);
	const ldns_rdf *qname = ldns_rr_owner(q);
	ldns_rr_type type = ldns_rr_get_type(q);
	const uint8_t *wire = ldns_rdf_data(qname);
	char label[64] = "";
	for (size_t i = 0; i < wire[0] && i < sizeof(label) - 1; i++)
		label[i] = (char)tolower(wire[1 + i]);

	if (strcmp(label, "nx") == 0 || has_prefix(label, "nx-")) {
		ldns_pkt_set_rcode(pkt, LDNS_RCODE_NXDOMAIN);
		return soa_add(pkt, qname);
	}
	if (has_prefix(label, "nodata"))
		return soa_add(pkt, qname);
	if (has_prefix(label, "cname"))
		return cname_add(s, pkt, qname, type);
	if (type == LDNS_RR_TYPE_A && has_prefix(label, "big"))
		return a_range_add(pkt, qname, (const uint8_t[3]){ 192, 0, 2 }, 40);
	if (type == LDNS_RR_TYPE_A && has_prefix(label, "huge"))
		return a_range_add(pkt, qname, (const uint8_t[3]){ 198, 18, 0 }, 100);
	if (type_has_data(type))
		return data_add(s, pkt, qname, type);
	return soa_add(pkt, qname);
}

/* Encodes and frees pkt (also on failure). *out is malloc'd: caller frees. */
static int pkt_encode(ldns_pkt *pkt, uint8_t **out, size_t *len)
{
	if (!pkt)
		return -ENOMEM;
	ldns_status st = ldns_pkt2wire(out, pkt, len);
	ldns_pkt_free(pkt);
	return st == LDNS_STATUS_OK ? 0 : -ENOMEM;
}

static size_t query_udp_size(const ldns_pkt *query)
{
	size_t size = ldns_pkt_edns(query) ? ldns_pkt_edns_udp_size(query) : 0;
	return size < ER_STANDIN_UDP_MIN ? ER_STANDIN_UDP_MIN : size;
}

/* The real answer; over UDP it shrinks to header+question+OPT with TC=1
 * when it is too big for the client or is_tc asks for it. Caller frees *out. */
static int answer_build(const struct standin *s, const ldns_pkt *query, bool is_udp, bool is_tc,
			uint8_t **out, size_t *len)
{
	ldns_pkt *pkt = reply_new(query, LDNS_RCODE_NOERROR);
	int err = pkt ? answer_fill(s, pkt, query) : -ENOMEM;
	if (err) {
		ldns_pkt_free(pkt);
		return err;
	}
	err = pkt_encode(pkt, out, len);
	if (err || !is_udp || (!is_tc && *len <= query_udp_size(query)))
		return err;
	free(*out);
	*out = NULL;
	pkt = reply_new(query, LDNS_RCODE_NOERROR);
	if (pkt)
		ldns_pkt_set_tc(pkt, true);
	return pkt_encode(pkt, out, len);
}

/* A forged answer carrying A 192.0.2.66: with ID+1 (wrongid), for the name
 * spoofed.invalid (wrongq) or exactly right (wrongport: only its source
 * port is wrong). Caller frees *out. */
static int spoof_build(const ldns_pkt *query, enum standin_mode mode, uint8_t **out, size_t *len)
{
	ldns_pkt *pkt = reply_new(query, LDNS_RCODE_NOERROR);
	if (!pkt)
		return -ENOMEM;
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	if (mode == MODE_WRONGQ) {
		ldns_rdf *fake = ldns_dname_new_frm_str("spoofed.invalid.");
		if (!fake) {
			ldns_pkt_free(pkt);
			return -ENOMEM;
		}
		ldns_rdf_deep_free(ldns_rr_owner(q));
		ldns_rr_set_owner(q, fake);
		ldns_rr_set_type(q, LDNS_RR_TYPE_A);
	}
	if (mode == MODE_WRONGID)
		ldns_pkt_set_id(pkt, (uint16_t)(ldns_pkt_id(query) + 1));
	if (a_add(pkt, ldns_rr_owner(q), 192, 0, 2, 66) != 0) {
		ldns_pkt_free(pkt);
		return -ENOMEM;
	}
	return pkt_encode(pkt, out, len);
}

/* ---- handling a query ------------------------------------------------- */

/* "answer", "delay", "delay:250"; default_delay is used for a bare "delay". */
static int mode_parse(const char *text, unsigned default_delay, struct mode_choice *out)
{
	const char *colon = strchr(text, ':');
	size_t n = colon ? (size_t)(colon - text) : strlen(text);
	for (int m = 0; m < MODE_COUNT; m++) {
		if (strlen(mode_names[m]) != n || strncmp(text, mode_names[m], n) != 0)
			continue;
		out->mode = (enum standin_mode)m;
		out->delay_ms = default_delay;
		if (!colon)
			return 0;
		char *end;
		errno = 0;
		unsigned long ms = strtoul(colon + 1, &end, 10);
		if (m != MODE_DELAY || *end || end == colon + 1 || errno || ms > 600000)
			return -EINVAL;
		out->delay_ms = (unsigned)ms;
		return 0;
	}
	return -EINVAL;
}

/* --mode-file's first word if the file exists and parses, else --mode. */
static struct mode_choice mode_current(const struct standin *s)
{
	struct mode_choice m = s->opt.mode;
	if (!s->opt.mode_file)
		return m;
	FILE *f = fopen(s->opt.mode_file, "r");
	if (!f)
		return m;
	char word[64];
	int n = fscanf(f, "%63s", word);
	fclose(f);
	struct mode_choice parsed;
	if (n != 1)
		return m;
	if (mode_parse(word, m.delay_ms, &parsed) != 0) {
		log_warn("%s: unknown mode '%s', using %s", s->opt.mode_file, word, mode_names[m.mode]);
		return m;
	}
	return parsed;
}

/* " ecs=ADDR/PREFIX" when the query carries an EDNS Client Subnet option
 * (RFC 7871), so tests can see whether erdns leaked or announced a subnet. */
static void format_ecs(const ldns_pkt *query, char *out, size_t len)
{
	out[0] = '\0';
	const ldns_rdf *opts = ldns_pkt_edns_data(query);
	if (opts == NULL)
		return;
	const uint8_t *p = ldns_rdf_data(opts);
	size_t n = ldns_rdf_size(opts), pos = 0;
	while (pos + 4 <= n) {
		uint16_t code = (uint16_t)(p[pos] << 8 | p[pos + 1]);
		size_t olen = (size_t)(p[pos + 2] << 8 | p[pos + 3]);
		if (pos + 4 + olen > n)
			return;
		if (code == 8 && olen >= 4) {
			const uint8_t *o = p + pos + 4;
			uint8_t addr[16] = { 0 };
			size_t alen = olen - 4 > 16 ? 16 : olen - 4;
			memcpy(addr, o + 4, alen);
			char text[INET6_ADDRSTRLEN] = "?";
			int family = (o[0] << 8 | o[1]) == 1 ? AF_INET : AF_INET6;
			inet_ntop(family, addr, text, sizeof(text));
			snprintf(out, len, " ecs=%s/%u", text, o[2]);
			return;
		}
		pos += 4 + olen;
	}
}

/* "<udp|tcp> <qname lower-case, no trailing dot> <TYPE>[ ecs=A/N]", flushed
 * at once. */
static void query_log(const struct standin *s, const struct dest *d, const ldns_pkt *query)
{
	if (!s->log)
		return;
	const ldns_rr *q = query_question(query);
	const ldns_rdf *owner = ldns_rr_owner(q);
	uint8_t wire[ER_DNAME_MAX] = { 0 };
	memcpy(wire, ldns_rdf_data(owner),
	       ldns_rdf_size(owner) < sizeof(wire) ? ldns_rdf_size(owner) : sizeof(wire));
	dname_to_lower(wire);
	char text[ER_DNAME_TEXT_MAX];
	dname_to_text(wire, text);
	char *type = ldns_rr_type2str(ldns_rr_get_type(q));
	char ecs[80];
	format_ecs(query, ecs, sizeof(ecs));
	fprintf(s->log, "%s %s %s%s\n", d->conn ? "tcp" : "udp", text, type ? type : "?", ecs);
	fflush(s->log);
	free(type);
}

/* --peer-log: "<source port> <ID>" of every UDP query, so tests can check
 * that each upstream query leaves from its own port with its own ID. */
static void peer_log(const struct standin *s, const struct dest *d, const ldns_pkt *query)
{
	if (!s->peer_log || d->conn)
		return;
	unsigned port = d->peer->sa_family == AF_INET6
				? ntohs(((const struct sockaddr_in6 *)d->peer)->sin6_port)
				: ntohs(((const struct sockaddr_in *)d->peer)->sin_port);
	fprintf(s->peer_log, "%u %u\n", port, (unsigned)ldns_pkt_id(query));
	fflush(s->peer_log);
}

static bool query_is_valid(const ldns_pkt *query)
{
	return !ldns_pkt_qr(query) && ldns_pkt_get_opcode(query) == LDNS_PACKET_QUERY &&
	       ldns_pkt_qdcount(query) == 1 && ldns_rr_list_rr_count(ldns_pkt_question(query)) == 1;
}

/* Sends the rcode-only reply of servfail and refused. */
static void rcode_reply(struct standin *s, const struct dest *d, const ldns_pkt *query,
			ldns_pkt_rcode rcode)
{
	uint8_t *wire = NULL;
	size_t len;
	if (pkt_encode(reply_new(query, rcode), &wire, &len) == 0)
		send_now(s, d, false, wire, len);
	free(wire);
}

static void garbage_reply(struct standin *s, const struct dest *d)
{
	uint8_t junk[ER_STANDIN_GARBAGE_LEN];
	if (uv_random(NULL, NULL, junk, sizeof(junk), 0, NULL) != 0)
		memset(junk, 0xa5, sizeof(junk));
	send_now(s, d, false, junk, sizeof(junk));
}

/* The framed answer, a byte every ER_STANDIN_TRICKLE_MS: a server that is
 * never silent long but never done. */
static void trickle_reply(struct standin *s, const struct dest *d, const uint8_t *wire, size_t len)
{
	uint8_t *frame = malloc(2 + len);
	if (!frame || len > UINT16_MAX) {
		free(frame);
		return;
	}
	frame[0] = (uint8_t)(len >> 8);
	frame[1] = (uint8_t)len;
	memcpy(frame + 2, wire, len);
	send_later(s, d, ER_STANDIN_TRICKLE_MS, frame, 2 + len, true);
	free(frame);
}

/* Answer (maybe delayed, maybe shrunk to TC), preceded over UDP by a spoof
 * in the wrong* modes. */
static void answer_reply(struct standin *s, const struct dest *d, const ldns_pkt *query,
			 struct mode_choice m)
{
	bool is_udp = d->conn == NULL;
	bool is_tc = is_udp && (m.mode == MODE_TRUNCATE || m.mode == MODE_TCPCLOSE ||
				m.mode == MODE_TRICKLE);
	/* Spoofing is an off-path attack on UDP; on a TCP stream an ID+1 reply
	 * would also collide with the next pipelined query. TCP gets the answer. */
	bool is_spoof = is_udp && (m.mode == MODE_WRONGID || m.mode == MODE_WRONGQ ||
				   m.mode == MODE_WRONGPORT);
	uint8_t *wire = NULL;
	size_t len;
	if (is_spoof && spoof_build(query, m.mode, &wire, &len) == 0)
		send_now(s, d, m.mode == MODE_WRONGPORT, wire, len);
	free(wire);
	wire = NULL;
	if (answer_build(s, query, is_udp, is_tc, &wire, &len) != 0) {
		log_warn("cannot build an answer: out of memory");
		return;
	}
	if (is_spoof)
		send_later(s, d, ER_STANDIN_SPOOF_GAP_MS, wire, len, false);
	else if (m.mode == MODE_DELAY)
		send_later(s, d, m.delay_ms, wire, len, false);
	else if (m.mode == MODE_TRICKLE && !is_udp)
		trickle_reply(s, d, wire, len);
	else
		send_now(s, d, false, wire, len);
	free(wire);
}

static void conn_close(struct conn *c);

/* One query from the wire: parse, log, answer as the current mode says.
 * wire is only borrowed. Malformed queries are ignored. */
static void query_handle(struct standin *s, const struct dest *d, const uint8_t *wire, size_t len)
{
	ldns_pkt *query = NULL;
	if (ldns_wire2pkt(&query, wire, len) != LDNS_STATUS_OK)
		return;
	if (!query_is_valid(query))
		goto out;
	query_log(s, d, query);
	peer_log(s, d, query);
	struct mode_choice m = mode_current(s);
	switch (m.mode) {
	case MODE_SILENT:
		break;
	case MODE_SERVFAIL:
		rcode_reply(s, d, query, LDNS_RCODE_SERVFAIL);
		break;
	case MODE_REFUSED:
		rcode_reply(s, d, query, LDNS_RCODE_REFUSED);
		break;
	case MODE_GARBAGE:
		garbage_reply(s, d);
		break;
	case MODE_TCPCLOSE:
		if (d->conn)
			conn_close(d->conn);
		else
			answer_reply(s, d, query, m); /* TC=1 pushes the client to TCP */
		break;
	default:
		answer_reply(s, d, query, m);
		break;
	}
out:
	ldns_pkt_free(query);
}

/* ---- UDP and TCP ------------------------------------------------------ */

static void on_udp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct standin *s = handle->data;
	*buf = uv_buf_init((char *)s->udp_buf, sizeof(s->udp_buf));
}

static void on_udp_read(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
			unsigned flags)
{
	struct standin *s = udp->data;
	if (nread < 0)
		log_warn("udp receive: %s", uv_strerror((int)nread));
	if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL))
		return;
	struct dest d = { .conn = NULL, .peer = addr };
	query_handle(s, &d, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_conn_closed(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	c->s->conn_count--;
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->is_closing)
		return;
	c->is_closing = true;
	struct standin *s = c->s;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (struct pending *p = s->pendings; p; p = p->next)
		if (p->conn == c)
			p->conn = NULL;
	uv_close((uv_handle_t *)&c->handle, on_conn_closed);
}

static void on_conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = handle->data;
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(sizeof(c->rbuf) - c->rlen));
}

/* Handles every whole frame in the buffer and keeps the partial rest. */
static void on_conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct conn *c = stream->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)nread;
	size_t off = 0;
	while (!c->is_closing && c->rlen - off >= 2) {
		size_t flen = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
		if (c->rlen - off - 2 < flen)
			break;
		struct dest d = { .conn = c, .peer = NULL };
		query_handle(c->s, &d, c->rbuf + off + 2, flen);
		off += 2 + flen;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

/* Accepts always (so the backlog drains) and closes beyond the cap. */
static void on_connection(uv_stream_t *server, int status)
{
	struct standin *s = server->data;
	if (status < 0) {
		log_warn("tcp accept: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	if (uv_tcp_init(&s->loop, &c->handle) != 0) {
		free(c);
		return;
	}
	c->handle.data = c;
	c->s = s;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->conn_count++;
	if (uv_accept(server, (uv_stream_t *)&c->handle) != 0 || s->conn_count > ER_STANDIN_CONNS_MAX ||
	    uv_read_start((uv_stream_t *)&c->handle, on_conn_alloc, on_conn_read) != 0)
		conn_close(c);
}

/* ---- life cycle ------------------------------------------------------- */

/* Closes every handle; uv_run() then returns once the close callbacks ran. */
static void standin_stop(struct standin *s)
{
	s->is_stopping = true;
	if (s->has_handles) {
		uv_handle_t *handles[] = { (uv_handle_t *)&s->udp, (uv_handle_t *)&s->udp_alt,
					   (uv_handle_t *)&s->listener, (uv_handle_t *)&s->sigterm,
					   (uv_handle_t *)&s->sigint };
		for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
			if (!uv_is_closing(handles[i]))
				uv_close(handles[i], NULL);
	}
	while (s->conns)
		conn_close(s->conns);
	while (s->pendings)
		pending_close(s->pendings);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct standin *s = sig->data;
	log_info("signal %d: shutting down", signum);
	standin_stop(s);
}

/* Initialises the handles (all or none) and binds them. The loop is
 * already initialised; on failure standin_stop() closes what was opened. */
static int standin_start(struct standin *s)
{
	int err = uv_udp_init(&s->loop, &s->udp);
	if (!err && (err = uv_udp_init(&s->loop, &s->udp_alt)) != 0)
		uv_close((uv_handle_t *)&s->udp, NULL);
	if (err)
		return err;
	/* Cannot fail once the loop exists: they allocate nothing. */
	uv_tcp_init(&s->loop, &s->listener);
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	s->has_handles = true;
	s->udp.data = s->udp_alt.data = s->listener.data = s->sigterm.data = s->sigint.data = s;

	const struct sockaddr *addr = (const struct sockaddr *)&s->opt.listen;
	struct sockaddr_storage alt = s->opt.listen;
	if (alt.ss_family == AF_INET)
		((struct sockaddr_in *)&alt)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&alt)->sin6_port = 0;
	if ((err = uv_udp_bind(&s->udp, addr, 0)) != 0 ||
	    (err = uv_udp_recv_start(&s->udp, on_udp_alloc, on_udp_read)) != 0 ||
	    (err = uv_udp_bind(&s->udp_alt, (const struct sockaddr *)&alt, 0)) != 0 ||
	    (err = uv_tcp_bind(&s->listener, addr, 0)) != 0 ||
	    (err = uv_listen((uv_stream_t *)&s->listener, ER_STANDIN_BACKLOG, on_connection)) != 0 ||
	    (err = uv_signal_start(&s->sigterm, on_signal, SIGTERM)) != 0 ||
	    (err = uv_signal_start(&s->sigint, on_signal, SIGINT)) != 0)
		return err;
	return 0;
}

/* ---- command line ----------------------------------------------------- */

/* "127.0.0.1:PORT" or "[::1]:PORT"; only 127.0.0.0/8 and ::1 are allowed. */
static int listen_parse(const char *text, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	bool is_v6 = text[0] == '[';
	const char *end = is_v6 ? strchr(text, ']') : strrchr(text, ':');
	const char *start = is_v6 ? text + 1 : text;
	if (!end || (is_v6 && end[1] != ':') || (size_t)(end - start) >= sizeof(host))
		return -EINVAL;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	port_text = is_v6 ? end + 2 : end + 1;
	char *port_end;
	unsigned long port = strtoul(port_text, &port_end, 10);
	if (*port_end || port_end == port_text || port == 0 || port > UINT16_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (is_v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		if (uv_ip6_addr(host, (int)port, sin6) != 0)
			return -EINVAL;
		return memcmp(&sin6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0 ? 0 : -EPERM;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	if (uv_ip4_addr(host, (int)port, sin) != 0)
		return -EINVAL;
	return (ntohl(sin->sin_addr.s_addr) >> 24) == 127 ? 0 : -EPERM;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: erdns-standin --listen 127.0.0.1:PORT|[::1]:PORT [--id N] [--name TEXT]\n"
		   "         [--mode MODE] [--delay-ms MS] [--mode-file FILE] [--log FILE]\n"
		   "         [--peer-log FILE] [--set-ad] [--echo-cd]\n"
		   "modes: answer silent delay[:MS] servfail refused truncate garbage\n"
		   "       wrongid wrongq wrongport tcpclose trickle\n");
}

static int number_parse(const char *text, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end || end == text || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Returns 0, or -EINVAL after printing why (the caller exits 2). */
static int options_parse(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },   { "mode", required_argument, NULL, 'm' },
		{ "delay-ms", required_argument, NULL, 'd' }, { "mode-file", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'L' },    { "help", no_argument, NULL, 'h' },
		{ "peer-log", required_argument, NULL, 'P' },
		{ "set-ad", no_argument, NULL, 'A' },      { "echo-cd", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	*opt = (struct options){ .id = 1, .name = "standin", .mode = { MODE_ANSWER, 0 } };
	const char *mode_text = "answer";
	bool has_listen = false;
	int c, err = 0;
	while (!err && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			err = listen_parse(optarg, &opt->listen);
			if (err == -EPERM)
				fprintf(stderr, "erdns-standin: %s: only 127.0.0.0/8 and ::1 are allowed\n", optarg);
			else if (err)
				fprintf(stderr, "erdns-standin: %s: expected 127.0.0.1:PORT or [::1]:PORT\n", optarg);
			has_listen = true;
			break;
		case 'i':
			if ((err = number_parse(optarg, 1, 254, &opt->id)) != 0)
				fprintf(stderr, "erdns-standin: --id %s: expected 1..254\n", optarg);
			break;
		case 'n':
			opt->name = optarg;
			break;
		case 'm':
			mode_text = optarg;
			break;
		case 'd':
			if ((err = number_parse(optarg, 0, 600000, &opt->mode.delay_ms)) != 0)
				fprintf(stderr, "erdns-standin: --delay-ms %s: expected 0..600000\n", optarg);
			break;
		case 'f':
			opt->mode_file = optarg;
			break;
		case 'L':
			opt->log_path = optarg;
			break;
		case 'P':
			opt->peer_log_path = optarg;
			break;
		case 'A':
			opt->sets_ad = g_sets_ad = true;
			break;
		case 'C':
			opt->echoes_cd = g_echoes_cd = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			err = -EINVAL;
		}
	}
	if (!err && mode_parse(mode_text, opt->mode.delay_ms, &opt->mode) != 0) {
		fprintf(stderr, "erdns-standin: --mode %s: unknown mode\n", mode_text);
		err = -EINVAL;
	}
	if (!err && (!has_listen || optind != argc)) {
		usage(stderr);
		err = -EINVAL;
	}
	return err ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	struct standin *s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	if (options_parse(argc, argv, &s->opt) != 0) {
		free(s);
		return 2;
	}
	if (s->opt.log_path && !(s->log = fopen(s->opt.log_path, "a"))) {
		fprintf(stderr, "erdns-standin: %s: %s\n", s->opt.log_path, strerror(errno));
		free(s);
		return 2;
	}
	if (s->opt.peer_log_path && !(s->peer_log = fopen(s->opt.peer_log_path, "a"))) {
		fprintf(stderr, "erdns-standin: %s: %s\n", s->opt.peer_log_path, strerror(errno));
		if (s->log)
			fclose(s->log);
		free(s);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill us */
	int err = uv_loop_init(&s->loop);
	int close_err = 0;
	if (!err) {
		err = standin_start(s);
		if (err) {
			log_error("listen: %s", uv_strerror(err));
			standin_stop(s);
		} else {
			printf("ready\n");
			fflush(stdout);
		}
		uv_run(&s->loop, UV_RUN_DEFAULT);
		close_err = uv_loop_close(&s->loop);
		if (close_err)
			log_error("uv_loop_close: %s", uv_strerror(close_err));
	}
	if (s->log)
		fclose(s->log);
	if (s->peer_log)
		fclose(s->peer_log);
	free(s);
	return err || close_err ? 1 : 0;
}
