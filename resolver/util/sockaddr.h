/*
 * Socket address text forms used in the config and in log lines:
 * "IP", "IP:PORT", "[IPv6]:PORT" and bare "IPv6" (no port).
 */
#ifndef ERDNS_UTIL_SOCKADDR_H
#define ERDNS_UTIL_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[2001:db8::1]:5353" is 47 bytes at most with brackets and port. */
#define ER_SOCKADDR_TEXT_MAX 64

/* Parses text into out; a form without a port gets default_port.
 * Returns 0, or -EINVAL for anything that is not an address (host names are
 * rejected: a resolver must not need DNS to find its upstreams). */
int sockaddr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out);

/* Writes "1.2.3.4:53" or "[::1]:53" into buf (always NUL-terminated). */
void sockaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Writes the address alone ("1.2.3.4", "::1"). */
void sockaddr_format_ip(const struct sockaddr *sa, char *buf, size_t len);

socklen_t sockaddr_len(const struct sockaddr *sa);
uint16_t sockaddr_port(const struct sockaddr *sa);

/* Same family, address and port. */
bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
