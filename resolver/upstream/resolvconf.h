/*
 * Reading `nameserver` lines from a resolv.conf-format file (resolv.conf(5)):
 * "nameserver IP" with optional comments (# or ;) and other directives,
 * which are ignored. IPv6 scope ids ("fe80::1%eth0") are accepted.
 */
#ifndef ERDNS_UPSTREAM_RESOLVCONF_H
#define ERDNS_UPSTREAM_RESOLVCONF_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Reads up to max nameservers (port 53) from path into out; *count receives
 * the number read. Addresses equal to one of skip[0..n_skip) (this server's
 * own listeners, compared by address and port) are left out so erdns never
 * forwards to itself. Returns 0; -errno when the file cannot be read;
 * -EINVAL with "PATH:LINE: ..." in err for a nameserver line that is not an
 * address; -ENOENT when no usable nameserver is left.
 */
int resolvconf_read(const char *path, const struct sockaddr_storage *skip, size_t n_skip,
		    struct sockaddr_storage *out, size_t max, size_t *count, char *err,
		    size_t errlen);

#endif
