/*
 * Proxy auto-config (PAC) files that agree with DNS routing (SPEC 1
 * `erdns pac`): the names a ruleset routes to a "direct" action go DIRECT,
 * every other name to the proxy, tested in the order ruleset_list gives so
 * that the first matching test is the rule ruleset_lookup would pick.
 * Pure: writes to the stream it is given.
 */
#ifndef ERDNS_ROUTING_PAC_H
#define ERDNS_ROUTING_PAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "routing/ruleset.h"

typedef struct pac_args {
	const ruleset_t *rules;
	const bool *is_direct; /* indexed by rule action; n_actions entries */
	size_t n_actions;
	bool is_default_direct;		/* names no rule matches */
	const char *proxy;		/* the non-direct result, checked by pac_proxy_check */
	const char *const *local_zones; /* apexes answered locally: tested first, to proxy */
	size_t n_local_zones;
	const char *comment; /* one line for the header, may be NULL */
} pac_args_t;

/* 0 when proxy is a PAC result string ("PROXY host:port", "HTTPS h:p",
 * "SOCKS5 h:p", "DIRECT", several joined by "; "); -EINVAL otherwise. */
int pac_proxy_check(const char *proxy);

/* Writes the PAC file. Returns 0, -ENOMEM, or -EIO when out fails. */
int pac_write(const pac_args_t *args, FILE *out);

#endif
