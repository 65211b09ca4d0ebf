/* jk_backend.h — what runs the code behind the Jupyter protocol.
 *
 * The protocol server (jk_server.c) owns sockets, signatures, queues and
 * the busy/idle protocol; a back end owns kernels. The server hands a back
 * end the requests that need Python (execute, complete, inspect, history,
 * is_complete, comm_info, comm_open/msg/close) one at a time, in shell
 * order; the back end answers each with exactly one `reply` callback, and
 * may publish iopub messages (outputs, comm messages) and stdin input
 * requests for it before that.
 *
 * Two back ends: jk_iso.c (the default) runs every cell in its own kernel
 * through the scheduling core, independent queued cells at once; jk_mono.c
 * runs every cell in ONE floe kernel and namespace, as `floe run --mode
 * monolithic` does. A back end that is `concurrent` (jk_iso) gets each
 * request as it arrives, while others are in flight, and answers execute
 * requests in the order they came (their iopub messages too); the server
 * then announces an execute request (status busy, execute_input) when its
 * first message goes out, so the wire reads as ipykernel's one-by-one.
 *
 * Ownership: `req` is the server's opaque request token, valid until the
 * reply callback for it returns. JSON passed to callbacks is borrowed. */
#ifndef FLOE_JK_BACKEND_H
#define FLOE_JK_BACKEND_H

#include <jansson.h>
#include <uv.h>

typedef struct jk_backend_cbs {
    /* The back end is ready: info has "language_info" and "python". */
    void (*ready)(void *data, json_t *info);
    /* An iopub message for request req (NULL: not tied to a request; the
     * server uses the latest shell request as parent). buffers: JSON array
     * of base64 strings, or NULL. */
    void (*iopub)(void *data, void *req, const char *msg_type, json_t *content, json_t *buffers);
    /* The request is answered (content NULL for messages with no reply,
     * such as comm_msg). For execute_request, content is the reply. */
    void (*reply)(void *data, void *req, json_t *content);
    /* input() in request req: send input_request with this content. */
    void (*input_request)(void *data, void *req, json_t *content);
    /* The back end cannot go on (the kernel died, Python is missing). */
    void (*fatal)(void *data, const char *message);
} jk_backend_cbs;

typedef struct jk_backend_opts {
    const char *python;     /* interpreter of the kernels */
    const char *pythonpath; /* where floe_kernel lives */
    const char *preload;    /* modules the zygote imports */
    const char *cwd;        /* the kernels' directory, or NULL */
    int jobs;               /* cells running at once (isolated), 0 = the cores */
} jk_backend_opts;

typedef struct jk_backend jk_backend;

typedef struct jk_backend_ops {
    const char *name;
    int concurrent;         /* takes requests while others are in flight (see above) */
    /* Starts; calls ready (or fatal) later. 0 or -errno with err. */
    int (*start)(jk_backend **out, uv_loop_t *loop, const jk_backend_opts *o, const jk_backend_cbs *cbs,
                 void *data, char *err, size_t errlen);
    /* A request (msg_type, content, metadata borrowed). 0 or -errno: on
     * error no callback comes and the server answers with an error. */
    int (*request)(jk_backend *b, void *req, const char *msg_type, json_t *content, json_t *metadata,
                   json_t *buffers);
    /* The frontend's input_reply content for the pending input_request. */
    void (*input_reply)(jk_backend *b, json_t *content);
    /* The execution_count of execute request req's execute_input (IPython's
     * count before the cell runs), or -1: the server counts. Optional. */
    int (*input_count)(jk_backend *b, void *req);
    /* Interrupts what runs now (KeyboardInterrupt in the cell). */
    void (*interrupt)(jk_backend *b);
    /* Stops every kernel; the loop then ends once handles are closed. */
    void (*stop)(jk_backend *b);
    /* Frees after the loop has ended. */
    void (*free)(jk_backend *b);
} jk_backend_ops;

/* The monolithic back end (jk_mono.c) and the isolated one (jk_iso.c). */
extern const jk_backend_ops jk_mono_backend;
extern const jk_backend_ops jk_iso_backend;

#endif
