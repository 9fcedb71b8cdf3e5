/*
 * The control socket (SPEC 4, `control.socket`): a Unix stream socket on
 * the main thread's loop, never on a worker's, so nothing a client does
 * here can delay a DNS answer. One request per connection: one line in
 * (at most ER_CONTROL_LINE_MAX bytes), one JSON object and "\n" out, then
 * the server closes. The commands are ops/control_cmd.h.
 *
 * Limits, each a defence against a client that misbehaves (the socket is
 * 0660, so only root and the group can reach it, but a stuck script or a
 * typo must not wedge the server): a client that sends no complete line
 * within ER_CONTROL_IDLE_MS is dropped; a line too long or with
 * non-printable bytes gets an error and is closed at once; at most
 * ER_CONTROL_MAX_CONNS connections at a time (more are closed on accept);
 * a reply not taken within ER_CONTROL_WRITE_MS is dropped.
 */
#ifndef ERDNS_OPS_CONTROL_H
#define ERDNS_OPS_CONTROL_H

#include <sys/types.h>
#include <uv.h>

#include "ops/control_cmd.h"

#define ER_CONTROL_IDLE_MS 2000
#define ER_CONTROL_WRITE_MS 30000
#define ER_CONTROL_MAX_CONNS 16
#define ER_CONTROL_MODE 0660 /* SPEC 4 */

typedef struct control control_t;

/*
 * Binds and listens on the Unix socket path, mode 0660, owned by uid:gid
 * unless those are (uid_t)-1 / (gid_t)-1 (the unprivileged user, so its
 * group may use `erdns ctl`). A socket file already there is removed first
 * if nothing answers on it (a previous run's); anything else there is left
 * alone. Call before dropping privileges (the default directory is
 * root's). Returns the listening fd, or -1 after logging a warning that
 * names the path and the reason: the server then runs without it.
 */
int control_bind(const char *path, uid_t uid, gid_t gid);

/*
 * Serves the listening fd (adopted, also on failure) on loop, for env
 * (copied; what it points to must outlive the control socket). path is
 * copied, to remove the socket file at close. NULL on failure, warned.
 */
control_t *control_start(uv_loop_t *loop, int fd, const char *path, const control_env_t *env);

/*
 * Closes the listener and every connection, and removes the socket file if
 * it is still the one bound (and the process may). The memory goes in the
 * last close callback: run the loop afterwards. NULL is ignored; once only.
 */
void control_close(control_t *ctl);

#endif
