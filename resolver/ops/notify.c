/*
 * The notification calls go through libsystemd's sd_notify, the reference
 * implementation of the protocol (abstract and path sockets, credentials,
 * the send buffer). Rejected: writing the datagram ourselves, which is a
 * dozen lines today but is the part of the protocol systemd keeps
 * extending. The NOTIFY_SOCKET test in front of each call is sd_notify's
 * own, made first so that nothing is formatted when no one listens.
 */
#include "ops/notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "util/log.h"

/* A STATUS= line: up to ER_LISTEN_MAX addresses and counts; longer text is
 * cut. systemd reads datagrams of up to 4096 bytes (NOTIFY_BUFFER_MAX). */
#define ER_NOTIFY_STATUS_MAX 2048

static bool is_enabled(void)
{
	const char *socket = getenv("NOTIFY_SOCKET");
	return socket != NULL && socket[0] != '\0';
}

/* Sends one message; sd_notify returns > 0 sent, 0 not configured, < 0 a
 * negative errno. */
static int send_message(const char *what, const char *message)
{
	int rc = sd_notify(0, message);
	if (rc < 0) {
		log_warn("systemd notification %s not sent: %s", what, strerror(-rc));
		return rc;
	}
	return 0;
}

int ops_notify_ready(const char *status)
{
	if (!is_enabled())
		return 0;
	char message[ER_NOTIFY_STATUS_MAX + 32];
	snprintf(message, sizeof(message), "READY=1\nSTATUS=%s", status ? status : "ready");
	return send_message("READY=1", message);
}

int ops_notify_reloading(void)
{
	if (!is_enabled())
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	unsigned long long usec =
		(unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000;
	char message[128];
	snprintf(message, sizeof(message),
		 "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration", usec);
	return send_message("RELOADING=1", message);
}

int ops_notify_stopping(void)
{
	if (!is_enabled())
		return 0;
	return send_message("STOPPING=1", "STOPPING=1\nSTATUS=stopping");
}

int ops_notify_status(const char *fmt, ...)
{
	if (!is_enabled())
		return 0;
	char message[ER_NOTIFY_STATUS_MAX + 8] = "STATUS=";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message + strlen("STATUS="), ER_NOTIFY_STATUS_MAX, fmt, ap);
	va_end(ap);
	return send_message("STATUS=", message);
}

uint64_t ops_notify_watchdog_usec(void)
{
	uint64_t usec = 0;
	if (!is_enabled() || sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

int ops_notify_watchdog(void)
{
	if (!is_enabled())
		return 0;
	return send_message("WATCHDOG=1", "WATCHDOG=1");
}
