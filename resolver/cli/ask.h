/*
 * One synchronous question to one upstream server, for command-line tools
 * (`erdns m365 audit`), never for the daemon: UDP, then TCP when the answer
 * is truncated (or at once with tcp_only), within one deadline. Only an
 * answer from the address and port asked, with our random ID and our
 * question, is accepted (wire_check_response), as the daemon does.
 */
#ifndef ERDNS_CLI_ASK_H
#define ERDNS_CLI_ASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "dns/wire.h"

typedef struct cli_question {
	const struct sockaddr *server;
	const dns_query_t *q;  /* qname, qtype, qclass, flags (RD, CD), edns_do */
	const uint8_t *option; /* a whole EDNS option to send (ECS), or NULL */
	size_t option_len;
	bool tcp_only;
	uint32_t timeout_ms; /* for the whole exchange, UDP and TCP */
} cli_question_t;

/* Writes the answer into out (cap bytes: 65535 always fits) and returns its
 * length; -ETIMEDOUT when nothing usable arrived in time, another negative
 * errno for a network error (-ECONNREFUSED, ...). */
ssize_t cli_ask(const cli_question_t *qs, uint8_t *out, size_t cap);

#endif
