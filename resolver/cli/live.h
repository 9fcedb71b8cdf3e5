/*
 * Asking the running daemon for its live routing answer (CHAOS TXT).
 */
#ifndef ERDNS_CLI_LIVE_H
#define ERDNS_CLI_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "dns/dname.h"

/* Writes the daemon's CHAOS routing answer for qname (as seen from this
 * machine's address) into out. Returns 0, -ETIMEDOUT when nothing answers
 * within 1 s, or another negative errno. */
int live_route(const config_t *c, const uint8_t *qname, char *out, size_t outlen);

#endif
