/*
 * A per-worker set of reusable UDP sockets for upstream queries [libuv],
 * each query on a fresh random source port (SPEC 3, RFC 5452).
 *
 * A socket is taken for one query and given back afterwards; in between it
 * belongs to that query alone. The port is the kernel's: the first sendto on
 * an unbound socket binds it to a random free port of
 * net.ipv4.ip_local_port_range (udp_lib_get_port picks with get_random_u32),
 * and giving the socket back disconnects it (connect AF_UNSPEC), which
 * releases the port, so the next query gets a new random one. Answers to a
 * port already given back find no socket and are refused by the kernel.
 *
 * One pool per worker, used only on that worker's loop (no locks).
 */
#ifndef ERDNS_UPSTREAM_UDP_POOL_H
#define ERDNS_UPSTREAM_UDP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include "ops/metrics.h"

#define ER_UDP_POOL_IDLE_MAX 1024 /* idle sockets kept per address family */
#define ER_UDP_POOL_RECV_BUF 4096 /* larger datagrams arrive marked truncated */

typedef struct udp_pool udp_pool_t;
typedef struct udp_pool_sock udp_pool_sock_t;

/*
 * A datagram for the socket's current user. len >= 0: pkt/len and from are
 * valid only during the call, and is_truncated says the datagram was longer
 * than ER_UDP_POOL_RECV_BUF (pkt holds its beginning). len < 0: a socket
 * error (a UV error code), pkt and from NULL. The user may give the socket
 * back from inside the callback.
 */
typedef void (*udp_pool_recv_cb)(void *owner, ssize_t len, const uint8_t *pkt,
				 const struct sockaddr *from, bool is_truncated);

/* A pool on loop; stats must outlive it (datagrams nobody waits for are
 * counted as mismatched_dropped). Returns NULL when out of memory. */
udp_pool_t *udp_pool_new(uv_loop_t *loop, metrics_t *stats);

/*
 * Closes every idle socket. Users give their sockets back first; a socket
 * given back afterwards is closed at once. The pool frees itself once libuv
 * has closed the last handle, so the loop must run afterwards. NULL is a
 * no-op.
 */
void udp_pool_close(udp_pool_t *pool);

/*
 * Takes a socket of to's address family (reusing an idle one or opening
 * one), sends msg to `to` from a fresh random port, and sets *out. From now
 * until udp_pool_release, every datagram arriving on that port goes to cb
 * (never from inside this call; cb must not be NULL). Returns 0 or a negative UV error, in
 * which case *out is NULL and cb never runs. msg is only read during the
 * call.
 */
int udp_pool_send(udp_pool_t *pool, const struct sockaddr *to, const uint8_t *msg, size_t len,
		  udp_pool_recv_cb cb, void *owner, udp_pool_sock_t **out);

/* Gives a socket back: its port is released at once and cb will not run
 * again. The pointer is invalid afterwards. */
void udp_pool_release(udp_pool_sock_t *sock);

/* Sockets open (idle and taken), for tests and stats. */
size_t udp_pool_open_count(const udp_pool_t *pool);

#endif
