/*
 * Query log records and their JSON lines (querylog_line.h).
 *
 * Capture runs on a worker for every logged query, so it only copies: the
 * wire qname (no text conversion), three strings the snapshot owns, the
 * client's address, the upstream's id. Everything that costs (name to
 * text, escaping, the calendar, addresses, numbers) happens in format, on
 * the writer thread; format writes by hand, in one pass, without snprintf,
 * because the bench counts the writer's CPU too.
 *
 * Strings: the qname is written in its master-file text form (as
 * dname_to_text: \DDD for bytes outside printable ASCII, \. \\ \" \; \( \)
 * for specials) and escaped for JSON on the way, so any byte a DNS name may
 * hold comes out as printable ASCII and reads back into the same name.
 * Config strings (view, rule, chain) are escaped for JSON; valid UTF-8
 * passes through and any invalid byte becomes U+FFFD, so every line is
 * valid UTF-8 JSON.
 */
#include "ops/querylog_line.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dname.h"
#include "routing/er_audit.h"
#include "routing/ruleset.h"

_Static_assert(ER_QLOG_TEXT_MAX <= UINT8_MAX, "lengths are uint8_t");
_Static_assert(ER_DNAME_MAX <= UINT8_MAX + 1, "a wire qname has at most 255 bytes");
/* Worst cases: qname text 2x (only \ and " are escaped again), config
 * strings 6x (\uXXXX), addresses and words under 64 each, keys ~130. */
_Static_assert(2 * ER_DNAME_TEXT_MAX + 3 * (6 * ER_QLOG_TEXT_MAX + 2) + 10 * 64 + 130 <
		       ER_QLOG_LINE_MAX,
	       "a line always fits ER_QLOG_LINE_MAX");

/* --- capture (worker) ----------------------------------------------------- */

static size_t put_text(uint8_t *at, const char *s, uint8_t *len_out)
{
	size_t n = strnlen(s, ER_QLOG_TEXT_MAX);
	memcpy(at, s, n);
	*len_out = (uint8_t)n;
	return n;
}

/* SPEC 4's `rule`: the deciding rule as its source writes it; when no rule
 * decided, what did: a default, or erdns itself before any routing. */
static const char *rule_text(const query_meta_t *meta)
{
	if (meta->rule)
		return ruleset_rule_text(meta->rule);
	switch (meta->route_slot) {
	case ER_ROUTE_SLOT_LOCAL:
		return "local";
	case ER_ROUTE_SLOT_CHAOS:
		return "chaos";
	case ER_ROUTE_SLOT_NONE:
		return "-"; /* refused, malformed, not implemented */
	default:
		return "default";
	}
}

static void copy_client(querylog_record_t *rec, const struct sockaddr_storage *ss)
{
	rec->client_family = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET)
		memcpy(rec->client, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(rec->client, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	else
		rec->client_family = AF_UNSPEC;
}

size_t querylog_line_capture(const query_event_t *ev, uint64_t now_ns, querylog_record_t *rec)
{
	const query_meta_t *meta = ev->meta;
	const config_t *c = ev->config;
	uint64_t us = meta->received_ns && now_ns > meta->received_ns
			      ? (now_ns - meta->received_ns) / 1000
			      : 0;
	rec->reply_ns = now_ns;
	rec->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	rec->qtype = ev->q->qtype;
	rec->rcode = (uint16_t)ev->rcode;
	rec->upstream = (int16_t)(ev->upstream >= 0 ? ev->upstream : -1);
	rec->cache = (uint8_t)ev->cache;
	rec->er = ev->er;
	copy_client(rec, &ev->client->addr);
	size_t qlen = ev->q->qname_len > ER_DNAME_MAX ? 0 : ev->q->qname_len;
	memcpy(rec->text, ev->q->qname, qlen);
	rec->qname_len = (uint8_t)qlen;
	uint8_t *at = rec->text + qlen;
	const char *view = meta->view_index >= 0
				   ? router_view_name(c->router, (size_t)meta->view_index)
				   : "";
	at += put_text(at, view ? view : "", &rec->view_len);
	at += put_text(at, rule_text(meta), &rec->rule_len);
	at += put_text(at, ev->is_routed ? c->chains[ev->chain].text : "", &rec->via_len);
	return (size_t)(at - (uint8_t *)rec);
}

/* --- format (writer) ------------------------------------------------------ */

static char *put_raw(char *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o, s, n);
	return o + n;
}

/* A string literal: its length is known at compile time. */
#define PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_u64(char *o, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

/* v zero-padded to width digits (v < 10^width). */
static char *put_digits(char *o, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		o[i] = (char)('0' + v % 10);
	return o + width;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
	if (k == 0 || k > n || c > 0xF4)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	}
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
	    (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
		return 0;
	return k;
}

static char *put_json_string(char *o, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		if (c >= 0x20 && c < 0x7f) {
			if (c == '"' || c == '\\')
				*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x80) { /* control bytes and DEL */
			o = PUT_LIT(o, "\\u00");
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
			i++;
		} else {
			size_t k = utf8_len(s + i, n - i);
			if (k == 0) {
				o = PUT_LIT(o, "\\ufffd");
				i++;
			} else {
				memcpy(o, s + i, k);
				o += k;
				i += k;
			}
		}
	}
	*o++ = '"';
	return o;
}

/* The string, or "-" when it is empty (SPEC 4: no view, not forwarded). */
static char *put_text_or_dash(char *o, const uint8_t *s, size_t n)
{
	return n ? put_json_string(o, s, n) : PUT_LIT(o, "\"-\"");
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days); gmtime_r would take glibc's time zone lock per line. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* "2024-05-01T12:00:00" of second s since the epoch (19 characters). */
static void format_second(int64_t s, char *out)
{
	int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	unsigned sod = (unsigned)(s - days * 86400);
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	char *o = put_digits(out, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4);
	*o++ = '-';
	o = put_digits(o, m, 2);
	*o++ = '-';
	o = put_digits(o, d, 2);
	*o++ = 'T';
	o = put_digits(o, sod / 3600, 2);
	*o++ = ':';
	o = put_digits(o, sod / 60 % 60, 2);
	*o++ = ':';
	put_digits(o, sod % 60, 2);
}

/* RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z". Lines come
 * thousands to a second: the second's text is kept in ctx. */
static char *put_ts(char *o, int64_t wall_ms, querylog_format_ctx_t *ctx)
{
	int64_t s = wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000;
	if (!ctx->has_second || ctx->second != s) {
		format_second(s, ctx->second_text);
		ctx->second = s;
		ctx->has_second = true;
	}
	*o++ = '"';
	memcpy(o, ctx->second_text, 19);
	o = put_digits(PUT_LIT(o + 19, "."), (unsigned)(wall_ms - s * 1000), 3);
	return PUT_LIT(o, "Z\"");
}

/* ldns names most types but not the meta types of RFC 1035 and 1995. */
static char *put_qtype(char *o, uint16_t t)
{
	static const char *const meta[] = { "IXFR", "AXFR", "MAILB", "MAILA", "ANY" };
	const char *name = NULL;
	if (t >= 251 && t <= 255) {
		name = meta[t - 251];
	} else {
		const ldns_rr_descriptor *d = ldns_rr_descript(t);
		if (d != NULL && d->_type == t && d->_name != NULL && t != 0)
			name = d->_name;
	}
	*o++ = '"';
	if (name) {
		o = put_raw(o, name);
	} else {
		o = PUT_LIT(o, "TYPE"); /* RFC 3597 */
		o = put_u64(o, t);
	}
	*o++ = '"';
	return o;
}

static char *put_rcode(char *o, unsigned rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",	"REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI" };
	*o++ = '"';
	if (rcode < sizeof(names) / sizeof(names[0])) {
		o = put_raw(o, names[rcode]);
	} else if (rcode == 16) {
		o = PUT_LIT(o, "BADVERS");
	} else {
		o = PUT_LIT(o, "RCODE");
		o = put_u64(o, rcode);
	}
	*o++ = '"';
	return o;
}

static char *put_u8(char *o, unsigned v)
{
	if (v >= 100)
		*o++ = (char)('0' + v / 100);
	if (v >= 10)
		*o++ = (char)('0' + v / 10 % 10);
	*o++ = (char)('0' + v % 10);
	return o;
}

/* glibc's inet_ntop prints IPv4 with sprintf: a third of a line's cost. */
static char *put_ipv4(char *o, const uint8_t *b)
{
	o = put_u8(o, b[0]);
	for (int i = 1; i < 4; i++)
		o = put_u8(PUT_LIT(o, "."), b[i]);
	return o;
}

/* The address alone (4 or 16 bytes, network order); port > 0: "IP:PORT",
 * "[IPv6]:PORT". */
static char *put_ip(char *o, int family, const uint8_t *addr, uint16_t port)
{
	*o++ = '"';
	if (family == AF_INET6) {
		char ip[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
		o = put_raw(port ? PUT_LIT(o, "[") : o, ip);
		if (port)
			o = PUT_LIT(o, "]");
	} else {
		o = put_ipv4(o, addr);
	}
	if (port)
		o = put_u64(PUT_LIT(o, ":"), port);
	*o++ = '"';
	return o;
}

static char *put_client(char *o, const querylog_record_t *rec)
{
	if (rec->client_family != AF_INET && rec->client_family != AF_INET6)
		return PUT_LIT(o, "\"-\"");
	return put_ip(o, rec->client_family, rec->client, 0);
}

static char *put_upstream(char *o, const querylog_record_t *rec, const health_table_t *health)
{
	if (rec->upstream < 0 || health == NULL ||
	    (size_t)rec->upstream >= health_table_size(health))
		return PUT_LIT(o, "\"-\"");
	const struct sockaddr *sa = health_table_addr(health, (uint16_t)rec->upstream);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return put_ip(o, AF_INET, (const uint8_t *)&in->sin_addr, ntohs(in->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return put_ip(o, AF_INET6, (const uint8_t *)&in6->sin6_addr, ntohs(in6->sin6_port));
	}
	return PUT_LIT(o, "\"-\"");
}

/* The master-file text form of a wire name (dname_to_text), escaped for
 * JSON as it is written: its backslashes doubled, its quotes escaped. */
static char *put_qname(char *o, const uint8_t *wire, size_t len)
{
	if (len == 0 || dname_wire_len(wire, len) != len)
		return PUT_LIT(o, "\"-\"");
	*o++ = '"';
	if (wire[0] == 0)
		*o++ = '.';
	for (const uint8_t *p = wire; *p != 0; p += 1 + *p) {
		if (p != wire)
			*o++ = '.';
		for (unsigned i = 1; i <= *p; i++) {
			uint8_t c = p[i];
			if (c == '.' || c == ';' || c == '(' || c == ')') {
				o = PUT_LIT(o, "\\\\");
				*o++ = (char)c;
			} else if (c == '\\' || c == '"') {
				o = PUT_LIT(o, "\\\\\\");
				*o++ = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				o = put_digits(PUT_LIT(o, "\\\\"), c, 3);
			} else {
				*o++ = (char)c;
			}
		}
	}
	*o++ = '"';
	return o;
}

size_t querylog_line_format(const querylog_record_t *rec, size_t len,
			    querylog_format_ctx_t *ctx, char *out)
{
	static const char *const caches[] = { "hit\"", "miss\"", "stale\"", "local\"" };
	size_t head = offsetof(querylog_record_t, text);
	if (len < head ||
	    len != head + rec->qname_len + rec->view_len + rec->rule_len + rec->via_len ||
	    rec->cache >= ER_CACHE_RESULT_COUNT || rec->er > ER_WORD_OUTSIDE)
		return 0;
	const uint8_t *view = rec->text + rec->qname_len, *rule = view + rec->view_len,
		      *via = rule + rec->rule_len;
	int64_t wall_ns = (int64_t)rec->reply_ns + ctx->wall_offset_ns;
	int64_t wall_ms = wall_ns / 1000000 - (wall_ns % 1000000 < 0);
	char *o = put_ts(PUT_LIT(out, "{\"ts\":"), wall_ms, ctx);
	o = put_client(PUT_LIT(o, ",\"client\":"), rec);
	o = put_qname(PUT_LIT(o, ",\"qname\":"), rec->text, rec->qname_len);
	o = put_qtype(PUT_LIT(o, ",\"qtype\":"), rec->qtype);
	o = put_text_or_dash(PUT_LIT(o, ",\"view\":"), view, rec->view_len);
	o = put_text_or_dash(PUT_LIT(o, ",\"rule\":"), rule, rec->rule_len);
	o = put_text_or_dash(PUT_LIT(o, ",\"via\":"), via, rec->via_len);
	o = put_upstream(PUT_LIT(o, ",\"upstream\":"), rec, ctx->health);
	o = put_rcode(PUT_LIT(o, ",\"rcode\":"), rec->rcode);
	o = put_u64(PUT_LIT(o, ",\"latency_ms\":"), rec->latency_us / 1000);
	o = put_digits(PUT_LIT(o, "."), rec->latency_us % 1000, 3);
	o = put_raw(PUT_LIT(o, ",\"cache\":\""), caches[rec->cache]);
	o = put_raw(PUT_LIT(o, ",\"er\":\""), er_word_name((er_word_t)rec->er));
	o = PUT_LIT(o, "\"}\n");
	return (size_t)(o - out);
}
