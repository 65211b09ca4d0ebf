/* chan.c — framed JSON over a socket with libuv (see chan.h). */
#include "kernel/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define CHAN_MAX_FRAME (1u << 30)

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    chan *c = h->data;
    (void)suggested;
    buf_reserve(&c->in, 65536);
    b->base = c->in.data + c->in.len;
    b->len = c->in.cap - c->in.len - 1;
}

static void deliver(chan *c, json_t *msg) {
    if (c->on_msg) c->on_msg(c, msg, c->data);
}

/* Parses every complete frame in the input buffer. */
static void drain(chan *c) {
    size_t off = 0;
    while (!c->closed && c->in.len - off >= 4) {
        const unsigned char *p = (const unsigned char *)c->in.data + off;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n > CHAN_MAX_FRAME) {
            c->closed = 1;
            deliver(c, NULL);
            return;
        }
        if (c->in.len - off - 4 < n) break;
        json_error_t je;
        json_t *msg = json_loadb((const char *)p + 4, n, JSON_ALLOW_NUL, &je); /* print("a\\0b") is legal output */
        off += 4 + n;
        if (!msg) {
            c->closed = 1;
            deliver(c, NULL);
            return;
        }
        deliver(c, msg);
        json_decref(msg);
    }
    if (off) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    chan *c = s->data;
    (void)b;
    if (n > 0) {
        c->in.len += (size_t)n;
        drain(c);
        return;
    }
    if (n < 0 && !c->closed) {
        c->closed = 1;
        uv_read_stop(s);
        deliver(c, NULL);
    }
}

static void on_close(uv_handle_t *h);

chan *chan_open(uv_loop_t *loop, int fd, chan_msg_cb cb, void *data) {
    chan *c = xcalloc(1, sizeof *c);
    c->on_msg = cb;
    c->data = data;
    c->fd = fd;
    buf_init(&c->in);
    if (uv_pipe_init(loop, &c->pipe, 0) < 0) {
        free(c);
        return NULL;
    }
    c->pipe.data = c;
    if (uv_pipe_open(&c->pipe, fd) < 0) { /* an initialised handle is closed, then freed */
        c->closing = c->closed = 1;
        uv_close((uv_handle_t *)&c->pipe, on_close);
        return NULL;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    return c;
}

typedef struct wreq { uv_write_t req; char *data; } wreq;

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    (void)status;
    free(w->data);
    free(w);
}

char *chan_frame(json_t *msg, size_t *len) {
    char *s = json_dumps(msg, JSON_COMPACT);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *f = xmalloc(n + 4);
    f[0] = (char)(n >> 24);
    f[1] = (char)(n >> 16);
    f[2] = (char)(n >> 8);
    f[3] = (char)n;
    memcpy(f + 4, s, n);
    free(s);
    *len = n + 4;
    return f;
}

int chan_send(chan *c, json_t *msg) {
    if (c->closed) return UV_EPIPE;
    size_t len;
    char *f = chan_frame(msg, &len);
    if (!f) return UV_EINVAL;
    wreq *w = xmalloc(sizeof *w);
    w->data = f;
    uv_buf_t b = uv_buf_init(f, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
    if (rc < 0) {
        free(f);
        free(w);
    }
    return rc;
}

int chan_send_fds(chan *c, json_t *msg, const int *fds, size_t nfds) {
    size_t len;
    char *f = chan_frame(msg, &len);
    if (!f) return -EINVAL;
    char ctl[CMSG_SPACE(sizeof(int) * CHAN_MAX_FDS)];
    memset(ctl, 0, sizeof ctl);
    if (nfds > CHAN_MAX_FDS) nfds = CHAN_MAX_FDS;
    struct iovec iov = {f, len};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    ssize_t w;
    do w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    while (w < 0 && (errno == EINTR || errno == EAGAIN));
    int rc = 0;
    if (w < 0) rc = -errno;
    else if ((size_t)w < len) {
        /* the rest of the frame, without the fds */
        size_t off = (size_t)w;
        while (off < len) {
            ssize_t k = send(c->fd, f + off, len - off, MSG_NOSIGNAL);
            if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (k < 0) { rc = -errno; break; }
            off += (size_t)k;
        }
    }
    free(f);
    return rc;
}

int chan_send_fd(chan *c, json_t *msg, int fd) { return chan_send_fds(c, msg, &fd, 1); }

static void on_close(uv_handle_t *h) {
    chan *c = h->data;
    buf_free(&c->in);
    free(c);
}

void chan_close(chan *c) {
    if (!c || c->closing) return;
    c->closing = 1;
    c->closed = 1;
    c->on_msg = NULL;
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_close((uv_handle_t *)&c->pipe, on_close);
}
