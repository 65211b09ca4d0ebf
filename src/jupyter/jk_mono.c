/* jk_mono.c — the monolithic back end of `floe kernel`: ONE floe kernel,
 * forked from the pool's zygote, runs every cell in one namespace, as
 * `floe run --mode monolithic` does (Jupyter's own model). `floe kernel
 * --mode monolithic`; the default is the isolated back end (jk_iso.c).
 *
 * Requests go to the kernel as {"op":"jupyter", msg_type, content,
 * metadata, buffers}; the kernel (python/floe_kernel/jupyter.py) answers
 * with any number of {"op":"iopub"} and {"op":"input_request"} messages,
 * then one {"op":"jreply"}. The server sends one request at a time. */
#include "jupyter/jk_backend.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kpool.h"
#include "util/util.h"

struct jk_backend {
    kpool *pool;
    kernel *k;
    jk_backend_cbs cbs;
    void *data;
    void *req;      /* the request in flight, or NULL */
    json_t *info;   /* the zygote's hello */
    int stopping;
};

static void on_ready(kpool *p, json_t *hello, void *data) {
    jk_backend *b = data;
    b->info = json_incref(hello);
    b->k = kpool_fork(p);
    if (!b->k) b->cbs.fatal(b->data, "cannot fork a kernel from the zygote");
}

static void on_fail(kpool *p, const char *message, void *data) {
    jk_backend *b = data;
    (void)p;
    if (!b->stopping) b->cbs.fatal(b->data, message);
}

static void on_forked(kernel *k, void *data) {
    jk_backend *b = data;
    if (k != b->k) return;
    json_t *m = json_pack("{s:s}", "op", "jupyter_init");
    kpool_send(k, m);
    json_decref(m);
    json_t *info = json_pack("{s:O?,s:O?}", "language_info", json_object_get(b->info, "language_info"), "python",
                             json_object_get(b->info, "python"));
    b->cbs.ready(b->data, info);
    json_decref(info);
}

static void on_msg(kernel *k, json_t *msg, void *data) {
    jk_backend *b = data;
    const char *op = json_string_value(json_object_get(msg, "op"));
    if (k != b->k || !op) return;
    if (!strcmp(op, "iopub")) {
        const char *type = json_string_value(json_object_get(msg, "msg_type"));
        if (type) b->cbs.iopub(b->data, b->req, type, json_object_get(msg, "content"), json_object_get(msg, "buffers"));
    } else if (!strcmp(op, "input_request")) {
        if (b->req) b->cbs.input_request(b->data, b->req, json_object_get(msg, "content"));
    } else if (!strcmp(op, "jreply")) {
        void *req = b->req;
        b->req = NULL;
        json_t *c = json_object_get(msg, "content");
        if (req) b->cbs.reply(b->data, req, json_is_object(c) ? c : NULL);
    }
}

static void on_dead(kernel *k, void *data) {
    jk_backend *b = data;
    if (k != b->k || b->stopping) return;
    char why[128];
    if (k->exit_signal) snprintf(why, sizeof why, "the kernel process died (signal %d)", k->exit_signal);
    else snprintf(why, sizeof why, "the kernel process exited (status %d)", k->exit_code);
    b->k = NULL;
    b->cbs.fatal(b->data, why);
}

static int mono_start(jk_backend **out, uv_loop_t *loop, const jk_backend_opts *o, const jk_backend_cbs *cbs,
                      void *data, char *err, size_t errlen) {
    jk_backend *b = xcalloc(1, sizeof *b);
    b->cbs = *cbs;
    b->data = data;
    kpool_opts ko = {.python = o->python, .pythonpath = o->pythonpath, .preload = o->preload, .cwd = o->cwd};
    kpool_cbs pc = {on_ready, on_fail, on_forked, on_msg, on_dead};
    int rc = kpool_start(&b->pool, loop, &ko, &pc, b, err, errlen);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int mono_request(jk_backend *b, void *req, const char *msg_type, json_t *content, json_t *metadata,
                        json_t *buffers) {
    if (!b->k || b->req) return -EBUSY;
    json_t *m = json_pack("{s:s,s:s,s:O,s:O,s:O}", "op", "jupyter", "msg_type", msg_type, "content", content,
                          "metadata", metadata ? metadata : json_null(), "buffers", buffers ? buffers : json_null());
    if (!m) return -EINVAL;
    int rc = kpool_send(b->k, m);
    json_decref(m);
    if (rc < 0) return rc;
    b->req = req;
    return 0;
}

static void mono_input_reply(jk_backend *b, json_t *content) {
    if (!b->k) return;
    json_t *m = json_pack("{s:s,s:O}", "op", "input_reply", "content", content);
    kpool_send(b->k, m);
    json_decref(m);
}

/* SIGINT to the kernel process: KeyboardInterrupt in the running cell
 * (the kernel ignores it between cells; see jupyter.py). */
static void mono_interrupt(jk_backend *b) {
    if (b->k) kpool_signal(b->k, SIGINT);
}

static void mono_stop(jk_backend *b) {
    b->stopping = 1;
    kpool_stop(b->pool);
}

static void mono_free(jk_backend *b) {
    if (!b) return;
    kpool_free(b->pool);
    json_decref(b->info);
    free(b);
}

const jk_backend_ops jk_mono_backend = {
    .name = "monolithic",
    .start = mono_start,
    .request = mono_request,
    .input_reply = mono_input_reply,
    .interrupt = mono_interrupt,
    .stop = mono_stop,
    .free = mono_free,
};
