/* chan.h — a framed JSON channel over a connected stream socket, driven by
 * libuv: 4-byte big-endian length + UTF-8 JSON per frame.
 *
 * Ownership: chan_open takes ownership of fd. Messages passed to the read
 * callback are borrowed (decref'd after the callback returns). chan_send
 * does not steal msg. */
#ifndef FLOE_CHAN_H
#define FLOE_CHAN_H

#include <jansson.h>
#include <uv.h>

#include "util/util.h"

typedef struct chan chan;
/* msg is NULL on EOF or a protocol error (then the channel is closed). */
typedef void (*chan_msg_cb)(chan *c, json_t *msg, void *data);

struct chan {
    uv_pipe_t pipe;
    buf in;
    chan_msg_cb on_msg;
    void *data;
    int fd;
    int closed;
    int closing;
};

/* Wraps fd; returns a new channel (free by chan_close) or NULL. */
chan *chan_open(uv_loop_t *loop, int fd, chan_msg_cb cb, void *data);
/* Queues msg; returns 0 or a negative libuv error. */
int chan_send(chan *c, json_t *msg);
/* Sends msg synchronously with fd attached (SCM_RIGHTS). 0 or -errno. */
int chan_send_fd(chan *c, json_t *msg, int fd);
/* Same with up to CHAN_MAX_FDS descriptors attached. */
#define CHAN_MAX_FDS 4
int chan_send_fds(chan *c, json_t *msg, const int *fds, size_t nfds);
/* msg as one frame (4-byte big-endian length, compact JSON), malloc'd;
 * NULL if it cannot be encoded. For blocking clients (floe warm). */
char *chan_frame(json_t *msg, size_t *len);
/* Stops reading, closes the fd; the struct is freed once libuv is done. */
void chan_close(chan *c);

#endif
