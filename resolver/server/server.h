/*
 * `erdns serve`: binds every listen address (UDP and TCP) once per worker
 * with SO_REUSEPORT, drops privileges, runs the workers, and handles SIGINT/
 * SIGTERM (clean stop), SIGHUP (reload), SIGUSR1 (reopen the log files) and
 * the control socket (`erdns ctl`) on the main thread's loop.
 */
#ifndef ERDNS_SERVER_SERVER_H
#define ERDNS_SERVER_SERVER_H

#include "config/config.h"

/* Runs until a stop signal. Takes ownership of the reference to config.
 * Returns the process exit status: 0 after a clean stop, 1 when the
 * listeners cannot be set up or a loop did not close cleanly. */
int server_run(config_t *config);

#endif
