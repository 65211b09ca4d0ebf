/* jk_server.h — `floe kernel`: a Jupyter kernel speaking the messaging
 * protocol 5.3 over ZeroMQ, with the code run by a back end (jk_backend.h).
 *
 * Sockets: shell, control and stdin are ROUTERs, iopub a PUB, and the
 * heartbeat a ROUTER echoed by zmq_proxy in its own thread (so it answers
 * while a cell runs). Shell requests are handled in arrival order, each
 * between status busy and idle on iopub: one at a time, or with a
 * concurrent back end (the isolated one) every execute request at once,
 * answered in order (jk_backend.h); control requests (interrupt,
 * shutdown, kernel_info) are answered at once, even while a cell runs. A
 * message with a bad signature is logged and dropped.
 *
 * Ownership: jk_serve borrows the options (and the connection) for the
 * whole call; it owns the sockets, the loop and the back end it starts, and
 * frees them all before returning. */
#ifndef FLOE_JK_SERVER_H
#define FLOE_JK_SERVER_H

#include "jupyter/jk_backend.h"
#include "jupyter/jk_conn.h"

typedef struct jk_server_opts {
    const jk_conn *conn;
    const jk_backend_ops *backend;
    jk_backend_opts bopts;
    const char *version;    /* implementation_version in kernel_info */
    int verbose;            /* log every message type to stderr */
} jk_server_opts;

/* Binds the sockets and serves until a shutdown_request, SIGTERM, or the
 * back end's death. Returns the process exit status: 0 after a shutdown,
 * 1 if the back end failed, 2 if the sockets could not be bound. */
int jk_serve(const jk_server_opts *o);

#endif
