/*
 * `erdns explain --live`: the offline explanation cannot know which server
 * the running daemon would pick now, or its RTT; the daemon's CHAOS routing
 * answer can. This asks it over UDP at the configuration's first listen
 * address (loopback when that address is a wildcard), once, with a 1 s wait.
 * ldns parses the answer: a CLI path, allocation is fine here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "cli/live.h"
#include "dns/reply.h"
#include "util/random.h"
#include "util/sockaddr.h"

#define LIVE_WAIT_MS 1000

/* The daemon's own address: a wildcard listen address is asked on loopback. */
static void target_of(const config_t *c, struct sockaddr_storage *to)
{
	memcpy(to, &c->listen[0], sizeof(*to));
	if (to->ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)to;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)to;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	}
}

static ssize_t exchange(const struct sockaddr_storage *to, const uint8_t *q, size_t qlen,
			uint16_t id, uint8_t *buf, size_t cap)
{
	int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = sockaddr_len((const struct sockaddr *)to);
	ssize_t got = -ETIMEDOUT;
	if (sendto(fd, q, qlen, 0, (const struct sockaddr *)to, len) < 0) {
		got = -errno;
		goto out;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, LIVE_WAIT_MS) == 1) {
		ssize_t n = recv(fd, buf, cap, 0);
		if (n >= ER_DNS_HEADER_LEN && wire_read_u16(buf) == id) {
			got = n;
			break;
		}
	}
out:
	close(fd);
	return got;
}

static int first_txt(const uint8_t *wire, size_t len, char *out, size_t outlen)
{
	ldns_pkt *pkt = NULL;
	if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK)
		return -EBADMSG;
	int rc = -ENOENT;
	ldns_rr_list *an = ldns_pkt_answer(pkt);
	if (an && ldns_rr_list_rr_count(an) > 0) {
		ldns_rr *rr = ldns_rr_list_rr(an, 0);
		char *txt = ldns_rr_rd_count(rr) ? ldns_rdf2str(ldns_rr_rdf(rr, 0)) : NULL;
		if (txt) {
			snprintf(out, outlen, "%s", txt);
			free(txt);
			rc = 0;
		}
	}
	ldns_pkt_free(pkt);
	return rc;
}

int live_route(const config_t *c, const uint8_t *qname, char *out, size_t outlen)
{
	dns_query_t q = {
		.flags = DNS_FLAG_RD,
		.qname = qname,
		.qname_len = dname_wire_len(qname, ER_DNAME_MAX),
		.qtype = DNS_TYPE_TXT,
		.qclass = DNS_CLASS_CH,
	};
	uint8_t query[600], answer[4096];
	uint16_t id = random_u16();
	size_t qlen = reply_build_upstream_query(&q, id, NULL, 0, query, sizeof(query));
	if (qlen == 0)
		return -EINVAL;
	struct sockaddr_storage to;
	target_of(c, &to);
	ssize_t n = exchange(&to, query, qlen, id, answer, sizeof(answer));
	if (n < 0)
		return (int)n;
	return first_txt(answer, (size_t)n, out, outlen);
}
