/*
 * The query log (SPEC 4 `log.queries`): one JSON object per answered query
 * and per line, to `log.query_file` or stderr, written off the workers'
 * path.
 *
 * Each worker owns a lane: a bounded lock-free ring (util/spsc_ring.h) it
 * alone pushes to. querylog_submit copies what the line needs into the
 * lane (ops/querylog_line.h) and returns; it never blocks, never takes a
 * lock and makes no system call except, at most once per writer round, a
 * wake-up when its ring passes a quarter full. A full ring drops the line
 * and counts it (querylog_dropped). One writer thread drains every lane,
 * formats the lines and writes them in batches; what the output does not
 * take in time (a full disk, a FIFO nobody reads, a stuck journal) is
 * dropped and counted too, in the lane's worker's querylog_dropped.
 *
 * The main thread (or the control socket) opens the output and hands the
 * descriptor over; the writer closes the one it replaces. So a reopen
 * after logrotate renamed the file reports its error to whoever asked, and
 * lines formatted before it go to the old file, after it to the new one.
 */
#ifndef ERDNS_OPS_QUERYLOG_H
#define ERDNS_OPS_QUERYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/metrics.h"
#include "server/client.h"
#include "upstream/health_table.h"

typedef struct querylog querylog_t;

/* 1 MiB per worker: ~15000 records of ~70 bytes, 150 ms of a worker at
 * 100k answers/s: more than the 100 ms the writer waits for a blocked
 * output before it drops (querylog.c), so a short stall drops nothing. */
#define ER_QLOG_RING_BYTES (1u << 20)

typedef struct querylog_params {
	unsigned n_lanes; /* one per worker */
	size_t ring_bytes; /* per lane, a power of two; 0: ER_QLOG_RING_BYTES */
	/* Turns upstream health ids into addresses, on the writer thread;
	 * borrowed, must outlive the log. NULL: every line says upstream "-". */
	const health_table_t *health;
} querylog_params_t;

/* A log with no output (off) and no writer thread yet. NULL on failure. */
querylog_t *querylog_new(const querylog_params_t *params);

/* Starts the writer thread. 0 or a negative errno. */
int querylog_start(querylog_t *ql);

/*
 * Applies `log.queries` and `log.query_file` (path; NULL: stderr). Nothing
 * happens, and it returns ER_QLOG_UNCHANGED, when they are what they were
 * and the output is not broken; otherwise the output is opened here (the
 * file with O_APPEND | O_CREAT, mode 0640 less the umask) and the writer
 * switches to it before its next batch; off closes the file. Returns 0, or a negative errno when the file
 * cannot be opened: the log is then on but broken, every line is dropped
 * and counted, until a reopen or a reload opens it (a call with the same
 * settings tries the file again). Thread-safe.
 */
int querylog_configure(querylog_t *ql, bool is_on, const char *path);
#define ER_QLOG_UNCHANGED 1 /* querylog_configure: nothing to do */

/* Opens the file again by its name (logrotate moved it): same contract as
 * querylog_configure. A log that is off, or on stderr, has nothing to
 * reopen: 0. Thread-safe. */
int querylog_reopen(querylog_t *ql);

/*
 * A worker's answered query, on lane `lane` (the worker's index; only that
 * worker may use the lane). now_ns: uv_hrtime() at the reply (on Linux,
 * CLOCK_MONOTONIC, which the writer converts to wall-clock time); ev is
 * read during the call only. Counts a line the lane has no room for in
 * m->querylog_dropped. ql NULL: nothing.
 */
void querylog_submit(querylog_t *ql, unsigned lane, const query_event_t *ev, uint64_t now_ns,
		     metrics_t *m);

/*
 * Adds to m->querylog_dropped the lines the writer dropped for `lane` (a
 * full disk, a stalled pipe) since the last call. Called by the lane's
 * worker on its own thread, from a timer (server/worker.c, every
 * ER_HEALTH_SYNC_MS): the counter then keeps up also when the worker
 * answers nothing more, or the log was turned off. ql NULL: nothing.
 */
void querylog_sync(querylog_t *ql, unsigned lane, metrics_t *m);

/*
 * Stops the writer: it writes what it can of the lines still queued within
 * about a second (ER_QLOG_STOP_MS), drops the rest, closes the output and
 * is joined; logs how many lines were written and dropped if the log was
 * ever on. Then frees everything. The workers must have stopped. NULL ok.
 */
void querylog_free(querylog_t *ql);

/* Lines written and dropped so far (for tests; exact once the writer has
 * stopped). */
void querylog_totals(querylog_t *ql, uint64_t *written, uint64_t *dropped);

#endif
