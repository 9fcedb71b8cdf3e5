/*
 * systemd's notification protocol (sd_notify(3)), for `Type=notify`: the
 * service manager learns when erdns is ready (its sockets are bound and its
 * workers run), when a reload starts and ends, and when it stops, and shows
 * the STATUS= line in `systemctl status`.
 *
 * Every function is a no-op returning 0 when NOTIFY_SOCKET is unset (erdns
 * run by hand, by a test, or by another supervisor). They are called from
 * the main thread only. A message that cannot be sent is logged as a
 * warning and returned as a negative errno; the server goes on either way,
 * since a missed notification is the service manager's problem to time out.
 */
#ifndef ERDNS_OPS_NOTIFY_H
#define ERDNS_OPS_NOTIFY_H

#include <stdint.h>

/* READY=1 with STATUS=status (NULL: no status). Sent at start, once every
 * worker runs, and again at the end of each reload, good or failed. */
int ops_notify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC (which systemd 253's Type=notify-reload
 * requires and older versions ignore) and a status line. */
int ops_notify_reloading(void);

/* STOPPING=1 with a status line. */
int ops_notify_stopping(void);

/* STATUS= only, printf-style; the text must hold no newline. */
int ops_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asked for (WatchdogSec=, exported as
 * WATCHDOG_USEC for this process), in microseconds; 0 when there is none. */
uint64_t ops_notify_watchdog_usec(void);

/* WATCHDOG=1: the main loop is alive. */
int ops_notify_watchdog(void);

#endif
