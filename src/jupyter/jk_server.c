/* jk_server.c — the Jupyter protocol server of `floe kernel` (see jk_server.h).
 *
 * ZeroMQ sockets are driven from the libuv loop that also drives the back
 * end's kernels: each ROUTER's ZMQ_FD is watched by a uv_poll, and since
 * that descriptor is edge-triggered (and a send may consume its edge), a
 * uv_check after every loop iteration drains whatever is readable too.
 *
 * Shell requests queue in arrival order; the one in progress is `cur`.
 * Requests that need Python go to the back end, which answers each with
 * one reply; the rest (kernel_info, shutdown) are answered here. After an
 * execute error with stop_on_error, every execute request already
 * received is answered "aborted", as ipykernel 6 does. A concurrent back
 * end (jk_backend.h) gets every request at once (they are `fly`ing until
 * answered) and aborts the execute requests it already has itself; an
 * execute request is announced (busy, execute_input) when it becomes the
 * oldest in flight, or with its first message, so that busy/idle pairs
 * and execution counts go out in request order. */
#include "jupyter/jk_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "util/util.h"

typedef struct req {
    jk_msg m;
    int sock;         /* JK_SHELL or JK_CONTROL */
    int aborted;      /* an earlier cell failed with stop_on_error */
    int announced;    /* status busy sent */
    int input_sent;   /* execute_input sent */
    int64_t started;  /* wall clock us, when handling began */
    struct req *next;
    struct req *fnext; /* the in-flight list (concurrent back end) */
} req;

typedef struct srv {
    const jk_server_opts *o;
    uv_loop_t loop;
    void *ctx;
    void *sock[JK_NSOCK];
    void *hb_ctl, *hb_thread_ctl;
    pthread_t hb_thread;
    int hb_started;
    uv_poll_t poll[3];
    int polls;
    uv_check_t check;
    uv_signal_t sigint, sigterm;
    uv_timer_t parent_poll;
    pid_t parent;
    char session[37];
    jk_backend *be;
    int be_ready;
    json_t *info;
    req *head, *tail;
    req *cur;
    req *fly;           /* handed to a concurrent back end, not answered yet */
    json_t *last_parent;
    int exec_count;
    int stopping, exit_code;
    unsigned long rejected;
    char (*seen)[65];   /* signatures of the last JK_SEEN messages (replays are refused) */
    size_t nseen;
} srv;

#define JK_SEEN 4096

static const char *const sock_names[JK_NSOCK] = {"shell", "iopub", "stdin", "control", "hb"};

#define LOG(...) (fprintf(stderr, "floe kernel: " __VA_ARGS__), fputc('\n', stderr))

/* ---- sending ------------------------------------------------------------------ */

/* Sends one message on socket `which`. Returns 0 or -1 (logged). */
static int send_msg(srv *s, int which, const jk_bytes *idents, size_t nidents, const char *type, json_t *parent,
                    json_t *md, json_t *content, const jk_bytes *bufs, size_t nbufs) {
    json_t *header = jk_header(s->session, type);
    jk_bytes *f;
    size_t n;
    int rc = jk_msg_encode(&s->o->conn->key, idents, nidents, header, parent, md, content, bufs, nbufs, &f, &n);
    json_decref(header);
    if (rc < 0) {
        LOG("cannot encode a %s message", type);
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (zmq_send(s->sock[which], f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) rc = -1;
    if (rc < 0) LOG("cannot send %s on %s: %s", type, sock_names[which], zmq_strerror(errno));
    jk_frames_free(f, n);
    if (s->o->verbose) LOG("-> %s %s", sock_names[which], type);
    return rc;
}

static void publish(srv *s, json_t *parent, const char *type, json_t *content, const jk_bytes *bufs, size_t nbufs) {
    char topic[96];
    const char *name = json_string_value(json_object_get(content, "name"));
    if (!strcmp(type, "stream") && name) snprintf(topic, sizeof topic, "stream.%.16s", name);
    else snprintf(topic, sizeof topic, "kernel.%s.%.40s", s->session, type);
    jk_bytes t = {(unsigned char *)topic, strlen(topic)};
    send_msg(s, JK_IOPUB, &t, 1, type, parent, NULL, content, bufs, nbufs);
}

static void status(srv *s, json_t *parent, const char *state) {
    json_t *c = json_pack("{s:s}", "execution_state", state);
    publish(s, parent, "status", c, NULL, 0);
    json_decref(c);
}

static void reply(srv *s, req *r, const char *type, json_t *md, json_t *content) {
    send_msg(s, r->sock, r->m.idents, r->m.nidents, type, r->m.header, md, content, NULL, 0);
}

/* "execute_request" -> "execute_reply" */
static void reply_type(const char *req_type, char *out, size_t outlen) {
    const char *u = strrchr(req_type, '_');
    size_t n = u ? (size_t)(u - req_type) : strlen(req_type);
    snprintf(out, outlen, "%.*s_reply", (int)(n > 64 ? 64 : n), req_type);
}

/* The metadata ipykernel puts on an execute_reply. */
static json_t *exec_md(srv *s, req *r, const char *st) {
    char date[40];
    time_iso8601(r->started, date, sizeof date);
    return json_pack("{s:s,s:b,s:s,s:s}", "started", date, "dependencies_met", 1, "engine", s->session, "status", st);
}

static void req_free(req *r) {
    if (!r) return;
    jk_msg_free(&r->m);
    free(r);
}

/* ---- shell -------------------------------------------------------------------- */

static void drain_all(srv *s);

static void kernel_info_reply(srv *s, req *r) {
    json_t *li = json_object_get(s->info, "language_info");
    const char *py = json_string_value(json_object_get(li, "version"));
    char *banner = xasprintf("floe %s, %s back end -- Python %s\n", s->o->version, s->o->backend->name,
                             py ? py : "?");
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:[]}", "status", "ok", "protocol_version", JK_PROTOCOL_VERSION,
                          "implementation", "floe", "implementation_version", s->o->version, "language_info",
                          li ? json_incref(li) : json_object(), "banner", banner, "help_links");
    free(banner);
    reply(s, r, "kernel_info_reply", NULL, c);
    json_decref(c);
}

static void stop(srv *s, int code);

static void shutdown_reply(srv *s, req *r) {
    json_t *restart = json_object_get(r->m.content, "restart");
    json_t *c = json_pack("{s:s,s:b}", "status", "ok", "restart", json_is_true(restart));
    reply(s, r, "shutdown_reply", NULL, c);
    publish(s, r->m.header, "shutdown_reply", c, NULL, 0);
    json_decref(c);
    stop(s, 0);
}

static int needs_backend(const char *t) {
    static const char *const types[] = {"execute_request", "complete_request", "inspect_request",
                                        "history_request", "is_complete_request", "comm_info_request",
                                        "comm_open", "comm_msg", "comm_close"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(t, types[i])) return 1;
    return 0;
}

static json_t *buffers_b64(const jk_msg *m) {
    if (!m->nbuffers) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < m->nbuffers; i++) {
        char *b64 = jk_b64_encode(m->buffers[i].data, m->buffers[i].len);
        json_array_append_new(a, json_string(b64));
        free(b64);
    }
    return a;
}

static void finish(srv *s, req *r) {
    status(s, r->m.header, "idle");
    if (s->cur == r) s->cur = NULL;
    for (req **p = &s->fly; *p; p = &(*p)->fnext)
        if (*p == r) {
            *p = r->fnext;
            break;
        }
    req_free(r);
}

static int concurrent(srv *s) { return s->o->backend->concurrent; }

static int is_execute(const req *r) { return !strcmp(r->m.msg_type, "execute_request"); }

/* status busy (and for an execute request that runs, execute_input with
 * the next execution count), once per request. */
static void announce(srv *s, req *r, int runs) {
    if (!r->announced) status(s, r->m.header, "busy");
    r->announced = 1;
    if (runs && !r->input_sent && is_execute(r) && !json_is_true(json_object_get(r->m.content, "silent"))) {
        r->input_sent = 1;
        int n = s->o->backend->input_count && s->be ? s->o->backend->input_count(s->be, r) : -1;
        json_t *c = json_pack("{s:O,s:i}", "code", json_object_get(r->m.content, "code"), "execution_count",
                              n >= 0 ? n : ++s->exec_count);
        publish(s, r->m.header, "execute_input", c, NULL, 0);
        json_decref(c);
    }
}

/* The content of an execute_request is checked here, as ipykernel does
 * ("Got bad msg"): without a string code it is dropped. */
static int exec_ok(const jk_msg *m) {
    return json_is_string(json_object_get(m->content, "code"));
}

static void start_backend(srv *s, req *r) {
    const char *t = r->m.msg_type;
    if (!strcmp(t, "execute_request")) {
        if (!exec_ok(&r->m)) {
            LOG("dropped an execute_request without code");
            announce(s, r, 0);
            finish(s, r);
            return;
        }
        if (!concurrent(s)) announce(s, r, 1);
    }
    json_t *bufs = buffers_b64(&r->m);
    if (concurrent(s)) { /* in arrival order */
        req **p = &s->fly;
        while (*p) p = &(*p)->fnext;
        *p = r;
    } else {
        s->cur = r;
    }
    int rc = s->o->backend->request(s->be, r, t, r->m.content, r->m.metadata, bufs);
    json_decref(bufs);
    if (rc < 0) {
        announce(s, r, 0);
        LOG("the %s back end refused %s: %s", s->o->backend->name, t, strerror(-rc));
        if (strncmp(t, "comm_", 5) || !strcmp(t, "comm_info_request")) {
            char rt[80];
            reply_type(t, rt, sizeof rt);
            json_t *c = json_pack("{s:s,s:s,s:s,s:[]}", "status", "error", "ename", "FloeError", "evalue",
                                  "the kernel is not available", "traceback");
            reply(s, r, rt, NULL, c);
            json_decref(c);
        }
        finish(s, r);
    }
}

static void handle_shell(srv *s, req *r) {
    const char *t = r->m.msg_type;
    json_decref(s->last_parent);
    s->last_parent = json_incref(r->m.header);
    r->started = time_wall_us();
    /* an execute request a concurrent back end runs is announced with its first message */
    if (!(concurrent(s) && is_execute(r) && !r->aborted)) announce(s, r, 0);
    if (r->aborted && !strcmp(t, "execute_request")) {
        json_t *c = json_pack("{s:s}", "status", "aborted");
        json_t *md = exec_md(s, r, "aborted");
        reply(s, r, "execute_reply", md, c);
        json_decref(md);
        json_decref(c);
        finish(s, r);
    } else if (!strcmp(t, "kernel_info_request")) {
        kernel_info_reply(s, r);
        finish(s, r);
    } else if (!strcmp(t, "shutdown_request")) {
        shutdown_reply(s, r);
        finish(s, r);
    } else if (needs_backend(t)) {
        start_backend(s, r);
    } else {
        LOG("unknown message type %.64s on shell", t);
        finish(s, r);
    }
}

/* Runs queued shell requests until one waits on the back end (or, with a
 * concurrent one, until a request other than execute waits for the cells
 * in flight). */
static void shell_next(srv *s) {
    while (!s->cur && s->head && s->be_ready && !s->stopping) { /* cur: never set with a concurrent back end */
        req *r = s->head;
        /* every other request waits for the cells before it, as in ipykernel:
         * its busy/idle must not show the kernel idle while a cell runs */
        if (s->fly && !is_execute(r)) return;
        s->head = r->next;
        if (!s->head) s->tail = NULL;
        r->next = NULL;
        handle_shell(s, r);
    }
}

/* After a failed cell: every execute request received so far is aborted. */
static void abort_queue(srv *s) {
    drain_all(s);
    for (req *r = s->head; r; r = r->next)
        if (!strcmp(r->m.msg_type, "execute_request")) {
            r->aborted = 1;
            if (s->o->verbose) LOG("aborting %s", r->m.msg_id);
        }
}

/* ---- control ------------------------------------------------------------------ */

static void handle_control(srv *s, req *r) {
    const char *t = r->m.msg_type;
    r->started = time_wall_us();
    status(s, r->m.header, "busy");
    if (!strcmp(t, "interrupt_request")) {
        if (s->be) s->o->backend->interrupt(s->be);
        json_t *c = json_pack("{s:s}", "status", "ok");
        reply(s, r, "interrupt_reply", NULL, c);
        json_decref(c);
    } else if (!strcmp(t, "shutdown_request")) {
        shutdown_reply(s, r);
    } else if (!strcmp(t, "kernel_info_request")) {
        kernel_info_reply(s, r);
    } else if (!strcmp(t, "debug_request")) {
        json_t *c = json_pack("{s:s,s:s}", "status", "error", "message", "floe has no debugger");
        reply(s, r, "debug_reply", NULL, c);
        json_decref(c);
    } else {
        LOG("unknown message type %.64s on control", t);
    }
    status(s, r->m.header, "idle");
    req_free(r);
}

/* ---- receiving ---------------------------------------------------------------- */

/* Reads one multipart message without blocking. Returns 1 (frames in
 * *out), 0 if none is waiting, -1 on a socket error. Frames beyond the
 * limits are read and dropped; the parser then rejects the message. */
static int recv_frames(void *sock, jk_bytes **out, size_t *nout) {
    jk_bytes *f = NULL;
    size_t n = 0, cap = 0, total = 0, max = jk_max_bytes();
    int more = 1, toobig = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int got;
        do got = zmq_msg_recv(&m, sock, n || toobig ? 0 : ZMQ_DONTWAIT);
        while (got < 0 && errno == EINTR); /* a signal (SIGINT: interrupt) mid-message */
        if (got < 0) {
            int e = errno;
            zmq_msg_close(&m);
            jk_frames_free(f, n);
            return e == EAGAIN && !n ? 0 : -1;
        }
        more = zmq_msg_more(&m);
        size_t len = zmq_msg_size(&m);
        if (toobig || n > JK_MAX_FRAMES || len > max - total) {
            toobig = 1;
        } else {
            if (n == cap) f = xrealloc(f, (cap = cap ? cap * 2 : 16) * sizeof *f);
            f[n].data = xmalloc(len ? len : 1);
            memcpy(f[n].data, zmq_msg_data(&m), len);
            f[n++].len = len;
            total += len;
        }
        zmq_msg_close(&m);
    }
    if (toobig) { /* an empty frame list: rejected as too big below */
        jk_frames_free(f, n);
        *out = NULL;
        *nout = JK_MAX_FRAMES + 1;
        return 1;
    }
    *out = f;
    *nout = n;
    return 1;
}

static void on_message(srv *s, int which, req *r) {
    if (s->o->verbose) LOG("<- %s %s", sock_names[which], r->m.msg_type);
    if (which == JK_CONTROL) {
        handle_control(s, r);
    } else if (which == JK_STDIN) {
        if (!strcmp(r->m.msg_type, "input_reply") && s->be) s->o->backend->input_reply(s->be, r->m.content);
        req_free(r);
    } else {
        if (s->tail) s->tail->next = r;
        else s->head = r;
        s->tail = r;
    }
}

/* As jupyter_client's Session.digest_history: a signed message is
 * accepted once; the same signature again is a replay. Returns 1 if sig
 * was seen among the last JK_SEEN, else records it and returns 0. */
static int replayed(srv *s, const char *sig) {
    if (!sig[0]) return 0;
    size_t n = s->nseen < JK_SEEN ? s->nseen : JK_SEEN;
    for (size_t i = 0; i < n; i++)
        if (!memcmp(s->seen[i], sig, 64)) return 1;
    if (!s->seen) s->seen = xcalloc(JK_SEEN, sizeof *s->seen);
    memcpy(s->seen[s->nseen++ % JK_SEEN], sig, 65);
    return 0;
}

/* Reads every message waiting on one socket. */
static void drain(srv *s, int which) {
    void *sock = s->sock[which];
    while (!s->stopping) {
        int ev = 0;
        size_t sz = sizeof ev;
        if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) < 0 || !(ev & ZMQ_POLLIN)) return;
        jk_bytes *f;
        size_t n;
        int rc = recv_frames(sock, &f, &n);
        if (rc <= 0) return;
        req *r = xcalloc(1, sizeof *r);
        r->sock = which;
        char err[160];
        rc = n > JK_MAX_FRAMES ? JK_ETOOBIG : jk_msg_parse(&s->o->conn->key, f, n, &r->m, err, sizeof err);
        if (n > JK_MAX_FRAMES) snprintf(err, sizeof err, "message over the size limit (FLOE_JUPYTER_MAX_MSG)");
        jk_frames_free(f, n > JK_MAX_FRAMES ? 0 : n);
        if (rc < 0) {
            s->rejected++;
            LOG("rejected a message on %s: %s%s", sock_names[which], err, rc == JK_EBADSIG ? " (not executed)" : "");
            free(r);
            continue;
        }
        if (replayed(s, r->m.signature)) {
            s->rejected++;
            LOG("rejected a message on %s: signature already used (a replay; not executed)", sock_names[which]);
            req_free(r);
            continue;
        }
        on_message(s, which, r);
    }
}

static void drain_all(srv *s) {
    drain(s, JK_CONTROL);
    drain(s, JK_STDIN);
    drain(s, JK_SHELL);
}

/* The oldest execute request a concurrent back end has is the one it
 * runs (or waits on) now: announced at once, so that a frontend shows the
 * kernel busy even while a cell prints nothing (`while True: pass`). Called
 * between loop iterations, never while the back end answers: requests it
 * aborts are never announced as running. */
static void announce_head(srv *s) {
    for (req *r = s->fly; r && concurrent(s); r = r->fnext)
        if (is_execute(r)) {
            announce(s, r, 1);
            return;
        }
}

static void on_poll(uv_poll_t *h, int st, int events) {
    (void)st;
    (void)events;
    srv *s = h->data;
    drain_all(s);
    shell_next(s);
    announce_head(s);
}

static void on_check(uv_check_t *h) {
    srv *s = h->data;
    if (s->stopping) return;
    drain_all(s);
    shell_next(s);
    announce_head(s);
}

/* ---- back end callbacks ------------------------------------------------------- */

static void be_ready(void *data, json_t *info) {
    srv *s = data;
    json_decref(s->info);
    s->info = json_deep_copy(info);
    s->be_ready = 1;
    status(s, NULL, "idle");
    shell_next(s);
}

static void be_iopub(void *data, void *token, const char *type, json_t *content, json_t *buffers) {
    srv *s = data;
    req *r = token;
    size_t nb = json_array_size(buffers);
    jk_bytes *b = xcalloc(nb ? nb : 1, sizeof *b);
    size_t k = 0;
    for (size_t i = 0; i < nb; i++) {
        json_t *e = json_array_get(buffers, i);
        if (json_is_string(e) && jk_b64_decode(json_string_value(e), json_string_length(e), &b[k]) == 0) k++;
    }
    json_t *empty = content ? NULL : json_object();
    if (r) announce(s, r, 1);
    publish(s, r ? r->m.header : s->last_parent, type, content ? content : empty, b, k);
    json_decref(empty);
    jk_frames_free(b, k);
}

static void be_reply(void *data, void *token, json_t *content) {
    srv *s = data;
    req *r = token;
    const char *t = r->m.msg_type;
    int is_exec = !strcmp(t, "execute_request");
    const char *st = json_string_value(json_object_get(content, "status"));
    announce(s, r, !st || strcmp(st, "aborted"));
    int abort = is_exec && st && !strcmp(st, "error") && !json_is_true(json_object_get(r->m.content, "silent")) &&
                !json_is_false(json_object_get(r->m.content, "stop_on_error"));
    /* the requests received so far are aborted before the reply goes out
     * (and so before idle): a client that sends its next request once it
     * has the reply, or idle, is never aborted */
    if (abort) abort_queue(s);
    if (strncmp(t, "comm_", 5) || !strcmp(t, "comm_info_request")) {
        char rt[80];
        reply_type(t, rt, sizeof rt);
        json_t *c = content ? json_incref(content) : json_pack("{s:s}", "status", "error");
        json_t *md = is_exec ? exec_md(s, r, st ? st : "error") : NULL;
        reply(s, r, rt, md, c);
        json_decref(md);
        json_decref(c);
    }
    finish(s, r);
    if (!concurrent(s)) shell_next(s); /* else from on_check: the back end may be mid-way through its own replies */
}

static void be_input_request(void *data, void *token, json_t *content) {
    srv *s = data;
    req *r = token;
    announce(s, r, 1);
    send_msg(s, JK_STDIN, r->m.idents, r->m.nidents, "input_request", r->m.header, NULL, content, NULL, 0);
}

static void be_fatal(void *data, const char *message) {
    srv *s = data;
    LOG("%s", message);
    if (!s->cur && s->fly) s->cur = s->fly;
    while (s->cur) { /* requests in flight get an error reply, as a dead ipykernel's never comes */
        req *r = s->cur;
        announce(s, r, 0);
        char rt[80];
        reply_type(r->m.msg_type, rt, sizeof rt);
        json_t *c = json_pack("{s:s,s:s,s:s,s:[s]}", "status", "error", "ename", "DeadKernelError", "evalue", message,
                              "traceback", message);
        reply(s, r, rt, NULL, c);
        json_decref(c);
        finish(s, r);
        s->cur = s->fly;
    }
    stop(s, 1);
}

/* ---- heartbeat ------------------------------------------------------------------ */

/* The heartbeat thread echoes every ping on its ROUTER until our end of
 * the control PAIR sends TERMINATE; it owns the hb socket and its end of
 * the PAIR (sockets are created here, then only used by the thread). */
static void *hb_main(void *arg) {
    srv *s = arg;
    zmq_proxy_steerable(s->sock[JK_HB], s->sock[JK_HB], NULL, s->hb_thread_ctl);
    zmq_close(s->sock[JK_HB]);
    zmq_close(s->hb_thread_ctl);
    return NULL;
}

static int start_hb(srv *s) {
    s->hb_ctl = zmq_socket(s->ctx, ZMQ_PAIR);
    s->hb_thread_ctl = zmq_socket(s->ctx, ZMQ_PAIR);
    if (!s->hb_ctl || !s->hb_thread_ctl || zmq_bind(s->hb_ctl, "inproc://floe-hb-ctl") < 0 ||
        zmq_connect(s->hb_thread_ctl, "inproc://floe-hb-ctl") < 0)
        return -1;
    if (pthread_create(&s->hb_thread, NULL, hb_main, s) != 0) return -1;
    s->hb_started = 1;
    return 0;
}

static void stop_hb(srv *s) {
    if (s->hb_started) {
        zmq_send(s->hb_ctl, "TERMINATE", 9, 0);
        pthread_join(s->hb_thread, NULL);
    } else {
        if (s->sock[JK_HB]) zmq_close(s->sock[JK_HB]);
        if (s->hb_thread_ctl) zmq_close(s->hb_thread_ctl);
    }
    s->sock[JK_HB] = NULL;
    if (s->hb_ctl) zmq_close(s->hb_ctl);
}

/* ---- start and stop ------------------------------------------------------------- */

static void close_cb(uv_handle_t *h) { (void)h; }

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, close_cb);
}

static void stop(srv *s, int code) {
    if (s->stopping) return;
    s->stopping = 1;
    s->exit_code = code;
    if (s->be) s->o->backend->stop(s->be);
    uv_walk(&s->loop, close_walk, NULL);
}

static void on_signal(uv_signal_t *h, int sig) {
    srv *s = h->data;
    if (sig == SIGINT) {
        if (s->be) s->o->backend->interrupt(s->be);
    } else {
        stop(s, 0);
    }
}

/* As ipykernel's ParentPollerUnix: a kernel started by a Jupyter client
 * (JPY_PARENT_PID set) ends when that client is gone, so a crashed
 * frontend leaves no kernel behind. */
static void on_parent_poll(uv_timer_t *h) {
    srv *s = h->data;
    if (getppid() != s->parent) {
        LOG("the process that started the kernel has gone; exiting");
        stop(s, 1);
    }
}

static void start_parent_poll(srv *s) {
    const char *jpy = getenv("JPY_PARENT_PID");
    if (!jpy || !*jpy || atoi(jpy) == 1) return;
    s->parent = getppid();
    uv_timer_init(&s->loop, &s->parent_poll);
    s->parent_poll.data = s;
    uv_timer_start(&s->parent_poll, on_parent_poll, 1000, 1000);
    uv_unref((uv_handle_t *)&s->parent_poll);
}

static int bind_all(srv *s) {
    static const int types[JK_NSOCK] = {ZMQ_ROUTER, ZMQ_PUB, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_ROUTER};
    int64_t maxmsg = (int64_t)jk_max_bytes();
    int linger = 1000;
    for (int i = 0; i < JK_NSOCK; i++) {
        char ep[320];
        jk_conn_endpoint(s->o->conn, i, ep, sizeof ep);
        s->sock[i] = zmq_socket(s->ctx, types[i]);
        if (!s->sock[i]) return -1;
        zmq_setsockopt(s->sock[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s->sock[i], ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        if (zmq_bind(s->sock[i], ep) < 0) {
            LOG("cannot bind %s to %s: %s", sock_names[i], ep, zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int start_polls(srv *s) {
    static const int which[3] = {JK_SHELL, JK_CONTROL, JK_STDIN};
    for (int i = 0; i < 3; i++) {
        int fd;
        size_t sz = sizeof fd;
        if (zmq_getsockopt(s->sock[which[i]], ZMQ_FD, &fd, &sz) < 0) return -1;
        uv_poll_init(&s->loop, &s->poll[i], fd);
        s->poll[i].data = s;
        uv_poll_start(&s->poll[i], UV_READABLE, on_poll);
    }
    uv_check_init(&s->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    start_parent_poll(s);
    return 0;
}

int jk_serve(const jk_server_opts *o) {
    srv s;
    memset(&s, 0, sizeof s);
    s.o = o;
    jk_uuid(s.session);
    uv_loop_init(&s.loop);
    s.ctx = zmq_ctx_new();
    int rc = 2;
    char err[512];
    if (!s.ctx || bind_all(&s) < 0 || start_polls(&s) < 0) goto done;
    if (start_hb(&s) < 0) {
        LOG("cannot start the heartbeat");
        goto done;
    }
    jk_backend_cbs cbs = {be_ready, be_iopub, be_reply, be_input_request, be_fatal};
    if (o->backend->start(&s.be, &s.loop, &o->bopts, &cbs, &s, err, sizeof err) < 0) {
        LOG("%s", err);
        goto done;
    }
    status(&s, NULL, "starting");
    uv_run(&s.loop, UV_RUN_DEFAULT);
    rc = s.exit_code;
done:
    if (!s.stopping) uv_walk(&s.loop, close_walk, NULL);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    if (s.be) o->backend->free(s.be);
    while (s.head) {
        req *r = s.head;
        s.head = r->next;
        req_free(r);
    }
    while (s.fly) {
        req *r = s.fly;
        s.fly = r->fnext;
        if (r == s.cur) s.cur = NULL;
        req_free(r);
    }
    req_free(s.cur);
    json_decref(s.info);
    json_decref(s.last_parent);
    free(s.seen);
    stop_hb(&s);
    for (int i = 0; i < JK_NSOCK; i++)
        if (i != JK_HB && s.sock[i]) zmq_close(s.sock[i]);
    if (s.ctx) zmq_ctx_term(s.ctx);
    return rc;
}
