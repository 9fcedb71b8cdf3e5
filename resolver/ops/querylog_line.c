/*
 * Query log records and their JSON lines (querylog_line.h).
 *
 * Capture runs on a worker for every logged query, so it only copies: the
 * wire qname (no text conversion), three strings the snapshot owns, two
 * addresses. Everything that costs (name to text, escaping, the calendar,
 * number printing) happens in format, on the writer thread; format writes
 * by hand, without snprintf, because the bench counts the writer's CPU too.
 *
 * Strings: the qname is turned into its master-file text form first
 * (dname_to_text: \DDD for bytes outside printable ASCII, \. \\ \" for
 * specials), then escaped for JSON, so any byte a DNS name may hold comes
 * out as printable ASCII and reads back into the same name. Config strings
 * (view, rule, chain) are escaped for JSON; valid UTF-8 passes through and
 * any invalid byte becomes U+FFFD, so every line is valid UTF-8 JSON.
 */
#include "ops/querylog_line.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stddef.h>
#include <string.h>

#include "dns/dname.h"
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

/* An imported m365 rule routes to its route's chain; its exceptions go to
 * the default path and are not ExpressRoute names. */
static qlog_er_t er_of(const query_event_t *ev)
{
	const rule_t *rule = ev->meta->rule;
	if (rule == NULL || rule->origin.kind != RULE_ORIGIN_M365 || rule->origin.is_exception)
		return QLOG_ER_NA;
	return ev->is_fallback ? QLOG_ER_OFF : QLOG_ER_UNKNOWN;
}

static void copy_addr(qlog_addr_t *out, const struct sockaddr *sa)
{
	if (sa != NULL && sa->sa_family == AF_INET)
		out->in = *(const struct sockaddr_in *)sa;
	else if (sa != NULL && sa->sa_family == AF_INET6)
		out->in6 = *(const struct sockaddr_in6 *)sa;
	else
		out->sa.sa_family = AF_UNSPEC;
}

size_t querylog_line_capture(const query_event_t *ev, const health_table_t *health,
			     int64_t wall_ms, uint64_t now_ns, querylog_record_t *rec)
{
	const query_meta_t *meta = ev->meta;
	const config_t *c = ev->config;
	uint64_t us = meta->received_ns && now_ns > meta->received_ns
			      ? (now_ns - meta->received_ns) / 1000
			      : 0;
	rec->wall_ms = wall_ms;
	rec->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	rec->qtype = ev->q->qtype;
	rec->rcode = (uint16_t)ev->rcode;
	rec->cache = (uint8_t)ev->cache;
	rec->er = (uint8_t)er_of(ev);
	copy_addr(&rec->client, (const struct sockaddr *)&ev->client->addr);
	copy_addr(&rec->upstream, ev->upstream >= 0 && health
					  ? health_table_addr(health, (uint16_t)ev->upstream)
					  : NULL);
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
			o = put_raw(o, "\\u00");
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
			i++;
		} else {
			size_t k = utf8_len(s + i, n - i);
			if (k == 0) {
				o = put_raw(o, "\\ufffd");
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
	return n ? put_json_string(o, s, n) : put_raw(o, "\"-\"");
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

/* RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z". */
static char *put_ts(char *o, int64_t wall_ms)
{
	int64_t s = wall_ms >= 0 ? wall_ms / 1000 : (wall_ms - 999) / 1000;
	int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	unsigned sod = (unsigned)(s - days * 86400), ms = (unsigned)(wall_ms - s * 1000);
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	*o++ = '"';
	o = put_digits(o, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4);
	*o++ = '-';
	o = put_digits(o, m, 2);
	*o++ = '-';
	o = put_digits(o, d, 2);
	*o++ = 'T';
	o = put_digits(o, sod / 3600, 2);
	*o++ = ':';
	o = put_digits(o, sod / 60 % 60, 2);
	*o++ = ':';
	o = put_digits(o, sod % 60, 2);
	*o++ = '.';
	o = put_digits(o, ms, 3);
	return put_raw(o, "Z\"");
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
		o = put_raw(o, "TYPE"); /* RFC 3597 */
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
		o = put_raw(o, "BADVERS");
	} else {
		o = put_raw(o, "RCODE");
		o = put_u64(o, rcode);
	}
	*o++ = '"';
	return o;
}

/* glibc's inet_ntop prints IPv4 with sprintf: a third of a line's cost. */
static char *put_ipv4(char *o, const struct in_addr *a)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;
	for (int i = 0; i < 4; i++) {
		if (i)
			*o++ = '.';
		o = put_u64(o, b[i]);
	}
	return o;
}

/* with_port: "IP:PORT" ("[IPv6]:PORT"); else the IP alone. "-" for none. */
static char *put_addr(char *o, const qlog_addr_t *a, bool with_port)
{
	bool is_v6 = a->sa.sa_family == AF_INET6;
	if (!is_v6 && a->sa.sa_family != AF_INET)
		return put_raw(o, "\"-\"");
	*o++ = '"';
	if (is_v6) {
		char ip[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof(ip));
		o = put_raw(with_port ? put_raw(o, "[") : o, ip);
	} else {
		o = put_ipv4(o, &a->in.sin_addr);
	}
	if (with_port) {
		o = put_raw(o, is_v6 ? "]:" : ":");
		o = put_u64(o, ntohs(is_v6 ? a->in6.sin6_port : a->in.sin_port));
	}
	*o++ = '"';
	return o;
}

static char *put_qname(char *o, const uint8_t *wire, size_t len)
{
	char text[ER_DNAME_TEXT_MAX];
	if (len == 0 || dname_wire_len(wire, len) != len)
		return put_raw(o, "\"-\"");
	dname_to_text(wire, text);
	return put_json_string(o, (const uint8_t *)text, strlen(text));
}

size_t querylog_line_format(const querylog_record_t *rec, size_t len, char *out)
{
	static const char *const caches[] = { "hit", "miss", "stale", "local" };
	static const char *const ers[] = { "n/a", "off", "unknown" };
	size_t head = offsetof(querylog_record_t, text);
	if (len < head ||
	    len != head + rec->qname_len + rec->view_len + rec->rule_len + rec->via_len ||
	    rec->cache >= ER_CACHE_RESULT_COUNT || rec->er > QLOG_ER_UNKNOWN)
		return 0;
	const uint8_t *view = rec->text + rec->qname_len, *rule = view + rec->view_len,
		      *via = rule + rec->rule_len;
	char *o = put_raw(out, "{\"ts\":");
	o = put_ts(o, rec->wall_ms);
	o = put_addr(put_raw(o, ",\"client\":"), &rec->client, false);
	o = put_qname(put_raw(o, ",\"qname\":"), rec->text, rec->qname_len);
	o = put_qtype(put_raw(o, ",\"qtype\":"), rec->qtype);
	o = put_text_or_dash(put_raw(o, ",\"view\":"), view, rec->view_len);
	o = put_text_or_dash(put_raw(o, ",\"rule\":"), rule, rec->rule_len);
	o = put_text_or_dash(put_raw(o, ",\"via\":"), via, rec->via_len);
	o = put_addr(put_raw(o, ",\"upstream\":"), &rec->upstream, true);
	o = put_rcode(put_raw(o, ",\"rcode\":"), rec->rcode);
	o = put_u64(put_raw(o, ",\"latency_ms\":"), rec->latency_us / 1000);
	*o++ = '.';
	o = put_digits(o, rec->latency_us % 1000, 3);
	o = put_raw(put_raw(o, ",\"cache\":\""), caches[rec->cache]);
	o = put_raw(put_raw(o, "\",\"er\":\""), ers[rec->er]);
	o = put_raw(o, "\"}\n");
	return (size_t)(o - out);
}
