/* jk_iso.c — the isolated back end of `floe kernel` (the default): every
 * execute request is a cell appended to a growing notebook, in request
 * order, run by the scheduling core (core/core.h) in a kernel of its own
 * forked from the pool's zygote, as `floe run` runs a notebook.
 *
 * A cell imports what it reads from the latest earlier writer; queued
 * requests whose inputs are ready run at once (up to `jobs`). Results are
 * answered in request order: a cell's outputs (from its kernel's "done")
 * go out as iopub messages, then its reply, once every earlier request has
 * been answered -- so the wire reads as ipykernel running them one by one,
 * and a cell that must run again (a read of a value an earlier cell was
 * still writing) is only shown once final. A failed cell with
 * stop_on_error withdraws every later queued cell (core_withdraw) and
 * answers their requests "aborted". Execution counts are IPython's (blank
 * code and store_history=False take none).
 *
 * Completion, inspection, is_complete, history and comms run in a `scope`
 * kernel: forked with every name visible after the finished cells imported
 * (core_scope), and made again once another cell has finished. It serves
 * them as the monolithic back end's kernel does (python/floe_kernel/
 * jupyter.py).
 *
 * Interrupt: SIGINT to every kernel running a cell (KeyboardInterrupt in
 * it; the failing cell then aborts the queue). input(): a cell's kernel
 * asks with {"op":"input_request"}, the frontend's input_reply goes back.
 *
 * Ownership: the back end owns its core, pool, run directory, analysed
 * cells and requests' bookkeeping (a request token is the server's). */
#include "jupyter/jk_backend.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/analysis.h"
#include "core/core.h"
#include "kernel/kpool.h"
#include "sched/engine.h"
#include "util/util.h"

/* An execute request, answered in arrival order. */
typedef struct xreq {
    void *req;
    long cell;              /* its core cell, or -1 when nothing runs (blank code) */
    int silent, stop_on_error, allow_stdin, store_history;
    int count;              /* the execution count the cell runs with */
    int reply_count;        /* execution_count of the reply */
    json_t *user_expressions; /* asked (content), then the answer from "done" */
    json_t *payload;
    json_t *outputs;        /* when nothing runs: the outputs floe itself gives (%floe deps) */
    struct xreq *next;
} xreq;

/* A kernel holding the scope after the finished cells, for completion. */
typedef struct scope {
    kernel *k;
    unsigned long stamp;    /* b->stamp when it was made */
    size_t at;              /* the cells before it are its scope */
    void **reqs;            /* requests sent to it, answered in order */
    size_t nreqs, cap;
    struct scope *next;
} scope;

struct jk_backend {
    jk_backend_cbs cbs;
    void *data;
    run_opts ro;
    char *run_dir;
    kpool *pool;
    core *core;
    json_t *info;
    int stopping;
    an_cell *an;            /* every cell's analysis, in order */
    size_t nan, capan;
    kernel **kern;          /* per cell: the kernel running it */
    xreq **xr;              /* per cell: its request */
    size_t capcells;
    kernel **idle, **pre;   /* forked ahead: ready / not yet */
    size_t nidle, npre, capidle, cappre;
    kernel **holders;
    size_t nholders;
    xreq *head, *tail;
    int next_count;         /* IPython's shell.execution_count */
    kernel *input_k;        /* the kernel waiting for an input_reply */
    scope *scopes;
    unsigned long stamp;    /* bumped when a cell finishes or is withdrawn */
    int pumping;
};

static void pump(jk_backend *b);

/* ---- kernels ------------------------------------------------------------------- */

static void vec_del(kernel **v, size_t *n, kernel *k) {
    for (size_t i = 0; i < *n; i++)
        if (v[i] == k) {
            v[i] = v[--*n];
            return;
        }
}

static void vec_add(kernel ***v, size_t *n, size_t *cap, kernel *k) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = k;
}

static int in_vec(kernel **v, size_t n, kernel *k) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == k) return 1;
    return 0;
}

static kernel *take_kernel(jk_backend *b) {
    if (b->nidle) return b->idle[--b->nidle];
    if (b->npre) {
        kernel *k = b->pre[0];
        vec_del(b->pre, &b->npre, k);
        return k;
    }
    return kpool_fork(b->pool);
}

/* Keeps kernels forked ahead for the cells waiting, at least one. */
static void prefork(jk_backend *b) {
    if (b->stopping || !b->info) return;
    int want = core_pending(b->core);
    if (want > b->ro.jobs) want = b->ro.jobs;
    if (want < 1) want = 1;
    while ((int)(b->nidle + b->npre) < want) {
        kernel *k = kpool_fork(b->pool);
        if (!k) return;
        k->user = NULL;
        vec_add(&b->pre, &b->npre, &b->cappre, k);
    }
}

static void set_cell_kernel(jk_backend *b, size_t k, kernel *kn) {
    b->kern[k] = kn;
    if (kn) kn->user = (void *)(uintptr_t)(k + 1);
}

/* The cell kernel kn runs, or -1. */
static long cell_of(kernel *kn) { return kn->user ? (long)(uintptr_t)kn->user - 1 : -1; }

static scope *scope_of(jk_backend *b, kernel *kn) {
    for (scope *s = b->scopes; s; s = s->next)
        if (s->k == kn) return s;
    return NULL;
}

static kernel *holder_kernel(jk_backend *b, int h) {
    return h > 0 && (size_t)h < b->nholders ? b->holders[h] : NULL;
}

static void set_holder(jk_backend *b, int h, kernel *kn) {
    if ((size_t)h >= b->nholders) {
        size_t n = (size_t)h + 8;
        b->holders = xrealloc(b->holders, n * sizeof *b->holders);
        memset(b->holders + b->nholders, 0, (n - b->nholders) * sizeof *b->holders);
        b->nholders = n;
    }
    b->holders[h] = kn;
}

/* ---- the core's actions ------------------------------------------------------------ */

static void act_start(jk_backend *b, core_action *a) {
    kernel *kn = a->from == CK_HOLDER ? holder_kernel(b, a->holder) : take_kernel(b);
    if (!kn) {
        core_start_failed(b->core, a->cell);
        return;
    }
    xreq *x = b->xr[a->cell];
    if (x) {
        json_object_set_new(a->msg, "silent", json_boolean(x->silent));
        json_object_set_new(a->msg, "store_history", json_boolean(x->store_history));
        json_object_set_new(a->msg, "allow_stdin", json_boolean(x->allow_stdin));
        if (json_object_size(x->user_expressions))
            json_object_set(a->msg, "user_expressions", x->user_expressions);
    }
    set_cell_kernel(b, a->cell, kn);
    kn->state = K_BUSY;
    kpool_send(kn, a->msg);
}

static kernel *unbind(jk_backend *b, size_t k) {
    kernel *kn = b->kern[k];
    b->kern[k] = NULL;
    if (kn) kn->user = NULL;
    if (kn && kn == b->input_k) b->input_k = NULL;
    return kn;
}

static void act(jk_backend *b, core_action *a) {
    kernel *kn;
    switch (a->kind) {
    case CA_START: act_start(b, a); break;
    case CA_KILL:
        if ((kn = unbind(b, a->cell))) {
            kpool_signal(kn, SIGKILL);
            kpool_release(kn);
        }
        break;
    case CA_ANSWER:
        if (b->kern[a->cell]) kpool_send(b->kern[a->cell], a->msg);
        break;
    case CA_KEEP:
        if ((kn = unbind(b, a->cell))) {
            kn->state = K_IDLE;
            if (a->holder) set_holder(b, a->holder, kn);
        }
        break;
    case CA_RELEASE:
        kn = unbind(b, a->cell);
        if (a->holder) set_holder(b, a->holder, NULL);
        if (kn) kpool_release(kn);
        break;
    case CA_DROP_HOLDER:
        if ((kn = holder_kernel(b, a->holder))) {
            set_holder(b, a->holder, NULL);
            kpool_signal(kn, SIGKILL);
            kpool_release(kn);
        }
        break;
    case CA_SETTLED: b->stamp++; break;
    case CA_START_POOL: case CA_RERUN: case CA_WAKE: break; /* no cache, no stagger */
    case CA_PAUSE: case CA_RESUME: break;           /* no wide-cell policy here */
    }
}

/* ---- answering execute requests, in order --------------------------------------------- */

static void xreq_free(xreq *x) {
    json_decref(x->outputs);
    json_decref(x->user_expressions);
    json_decref(x->payload);
    free(x);
}

/* display_ids {id: [output index...]} -> the id of output i, or NULL. */
static const char *display_id_of(json_t *ids, size_t i) {
    const char *id;
    json_t *v;
    json_object_foreach(ids, id, v) {
        size_t j;
        json_t *n;
        json_array_foreach(v, j, n) if ((size_t)json_integer_value(n) == i) return id;
    }
    return NULL;
}

static json_t *text_of(json_t *t) {
    if (!json_is_array(t)) return json_incref(t);
    buf s;
    buf_init(&s);
    size_t i;
    json_t *l;
    json_array_foreach(t, i, l) buf_puts(&s, json_string_value(l) ? json_string_value(l) : "");
    json_t *r = json_string(s.data ? s.data : "");
    buf_free(&s);
    return r;
}

/* One nbformat output of cell c as the iopub message ipykernel sent for it. */
static void send_output(jk_backend *b, void *req, core_cell *c, size_t i, json_t *o) {
    const char *t = json_string_value(json_object_get(o, "output_type"));
    json_t *m = NULL;
    if (!t) return;
    if (!strcmp(t, "stream")) {
        m = json_pack("{s:O,s:o}", "name", json_object_get(o, "name"), "text", text_of(json_object_get(o, "text")));
    } else if (!strcmp(t, "error")) {
        m = json_pack("{s:O,s:O,s:O}", "ename", json_object_get(o, "ename"), "evalue", json_object_get(o, "evalue"),
                      "traceback", json_object_get(o, "traceback"));
    } else if (!strcmp(t, "execute_result")) {
        m = json_pack("{s:O,s:O,s:O}", "data", json_object_get(o, "data"), "metadata", json_object_get(o, "metadata"),
                      "execution_count", json_object_get(o, "execution_count"));
    } else if (!strcmp(t, "display_data")) {
        const char *id = c ? display_id_of(c->display_ids, i) : NULL;
        m = json_pack("{s:O,s:O,s:o}", "data", json_object_get(o, "data"), "metadata", json_object_get(o, "metadata"),
                      "transient", id ? json_pack("{s:s}", "display_id", id) : json_object());
    }
    if (m) b->cbs.iopub(b->data, req, t, m, NULL);
    json_decref(m);
}

static json_t *last_traceback(core_cell *c) {
    for (size_t i = json_array_size(c->outputs); i-- > 0;) {
        json_t *o = json_array_get(c->outputs, i);
        const char *t = json_string_value(json_object_get(o, "output_type"));
        if (t && !strcmp(t, "error")) return json_object_get(o, "traceback");
    }
    return NULL;
}

/* The reply of a finished cell (new reference); *failed: it raised. */
static json_t *exec_reply(jk_backend *b, xreq *x, int *failed) {
    core_cell *c = x->cell >= 0 ? core_cell_at(b->core, (size_t)x->cell) : NULL;
    *failed = c && c->error;
    json_t *r;
    if (*failed) {
        json_t *tb = last_traceback(c);
        r = json_pack("{s:s,s:s,s:s,s:O}", "status", "error", "ename", c->ename ? c->ename : "Error", "evalue",
                      c->evalue ? c->evalue : "", "traceback", tb ? tb : json_array());
        json_object_set_new(r, "user_expressions", json_object());
    } else {
        r = json_pack("{s:s}", "status", "ok");
        json_object_set_new(r, "user_expressions",
                            json_is_object(x->user_expressions) ? json_incref(x->user_expressions) : json_object());
    }
    json_object_set_new(r, "execution_count", json_integer(x->reply_count));
    json_object_set_new(r, "payload", json_is_array(x->payload) ? json_incref(x->payload) : json_array());
    return r;
}

/* stop_on_error: every request after x is aborted, its cell withdrawn. */
static void abort_after(jk_backend *b, xreq *x) {
    long first = -1;
    for (xreq *y = b->head; y; y = y->next)
        if (y->cell >= 0 && first < 0) first = y->cell;
    b->next_count = x->reply_count + 1;
    while (b->head) {
        xreq *y = b->head;
        b->head = y->next;
        if (y->cell >= 0) b->xr[y->cell] = NULL;
        json_t *c = json_pack("{s:s}", "status", "aborted");
        b->cbs.reply(b->data, y->req, c);
        json_decref(c);
        xreq_free(y);
    }
    b->tail = NULL;
    if (first >= 0) {
        core_withdraw(b->core, (size_t)first);
        b->stamp++;
    }
}

static int answerable(jk_backend *b, xreq *x) {
    if (x->cell < 0) return 1;
    core_cell *c = core_cell_at(b->core, (size_t)x->cell);
    return c->state == C_DONE;
}

/* The head request's outputs and reply; it stays the head meanwhile (the
 * server asks its execute_input count), then it goes. */
static void answer_head(jk_backend *b) {
    xreq *x = b->head;
    size_t i;
    json_t *o;
    if (x->cell >= 0) {
        core_cell *c = core_cell_at(b->core, (size_t)x->cell);
        json_array_foreach(c->outputs, i, o) send_output(b, x->req, c, i, o);
        json_array_foreach(c->updates, i, o) {
            json_t *m = json_pack("{s:O,s:O,s:{s:O}}", "data", json_object_get(o, "data"), "metadata",
                                  json_object_get(o, "metadata"), "transient", "display_id",
                                  json_object_get(o, "display_id"));
            b->cbs.iopub(b->data, x->req, "update_display_data", m, NULL);
            json_decref(m);
        }
    }
    json_array_foreach(x->outputs, i, o) send_output(b, x->req, NULL, i, o);
    int failed;
    json_t *r = exec_reply(b, x, &failed);
    b->cbs.reply(b->data, x->req, r);
    json_decref(r);
    b->head = x->next;
    if (!b->head) b->tail = NULL;
    if (x->cell >= 0) b->xr[x->cell] = NULL;
    if (failed && !x->silent && x->stop_on_error) abort_after(b, x);
    xreq_free(x);
}

static void pump(jk_backend *b) {
    if (b->pumping) return;
    b->pumping = 1;
    for (;;) {
        core_action a;
        int any = 0;
        while (core_next_action(b->core, &a)) {
            act(b, &a);
            json_decref(a.msg);
            any = 1;
        }
        while (b->head && answerable(b, b->head)) {
            answer_head(b);
            any = 1;
        }
        if (!any) break;
    }
    prefork(b);
    b->pumping = 0;
}

/* ---- execute requests ------------------------------------------------------------------ */

static int blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r') return 0;
    return 1;
}

static void grow_cells(jk_backend *b, size_t n) {
    if (n <= b->capcells) return;
    size_t cap = b->capcells ? b->capcells * 2 : 64;
    while (cap < n) cap *= 2;
    b->kern = xrealloc(b->kern, cap * sizeof *b->kern);
    b->xr = xrealloc(b->xr, cap * sizeof *b->xr);
    memset(b->kern + b->capcells, 0, (cap - b->capcells) * sizeof *b->kern);
    memset(b->xr + b->capcells, 0, (cap - b->capcells) * sizeof *b->xr);
    b->capcells = cap;
}

/* The cell becomes the next of the notebook, analysed in the context of
 * every cell before it. Returns its index. */
static size_t append_cell(jk_backend *b, const char *code, int count) {
    if (b->nan == b->capan) {
        b->capan = b->capan ? b->capan * 2 : 64;
        b->an = xrealloc(b->an, b->capan * sizeof *b->an);
    }
    an_cell *ac = &b->an[b->nan++];
    memset(ac, 0, sizeof *ac);
    if (an_analyze(code, strlen(code), ac) < 0) strvec_push(&ac->open_world, "analysis failed");
    size_t k = core_ncells(b->core);
    core_cell_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.idx = k;
    spec.src = code;
    spec.code = json_string(code);
    spec.count = count;
    core_append_analysed(b->core, &spec, b->an, b->nan);
    json_decref(spec.code);
    grow_cells(b, k + 1);
    return k;
}

/* `%floe deps`: the cells so far and what each waits on (core_edges, the
 * edges the scheduler uses), as a stdout stream output. */
static json_t *deps_output(jk_backend *b) {
    core_edge *v;
    size_t n = core_edges(b->core, &v), e = 0;
    buf t;
    buf_init(&t);
    for (size_t k = 0; k < core_ncells(b->core); k++) {
        core_cell *c = core_cell_at(b->core, k);
        if (c->skip) continue;
        size_t len = strcspn(c->src, "\n");
        buf_printf(&t, "In [%d]: %.*s%s\n", c->count, (int)(len > 60 ? 60 : len), c->src,
                   len > 60 || c->src[len] ? " ..." : "");
        for (; e < n && v[e].to < k; e++) {}
        for (; e < n && v[e].to == k; e++) {
            buf_printf(&t, "    after In [%d]:", core_cell_at(b->core, v[e].from)->count);
            for (size_t i = 0; i < v[e].names.n; i++)
                buf_printf(&t, " %s", strcmp(v[e].names.v[i], "*") ? v[e].names.v[i] : "(any name)");
            buf_puts(&t, "\n");
        }
    }
    if (!t.len) buf_puts(&t, "no cells yet\n");
    core_edges_free(v, n);
    json_t *o = json_pack("[{s:s,s:s,s:s}]", "output_type", "stream", "name", "stdout", "text", t.data);
    buf_free(&t);
    return o;
}

/* The line magic floe answers itself, or 0. */
static int floe_magic(const char *code) {
    while (*code == ' ' || *code == '\n' || *code == '\t') code++;
    if (strncmp(code, "%floe deps", 10)) return 0;
    for (code += 10; *code; code++)
        if (*code != ' ' && *code != '\n' && *code != '\t' && *code != '\r') return 0;
    return 1;
}

static int execute(jk_backend *b, void *req, json_t *content) {
    const char *code = json_string_value(json_object_get(content, "code"));
    if (!code) return -EINVAL;
    xreq *x = xcalloc(1, sizeof *x);
    x->req = req;
    x->silent = json_is_true(json_object_get(content, "silent"));
    json_t *sh = json_object_get(content, "store_history");
    x->store_history = !x->silent && (!sh || json_is_true(sh)); /* IPython: silent stores nothing */
    x->stop_on_error = !json_is_false(json_object_get(content, "stop_on_error"));
    x->allow_stdin = json_is_true(json_object_get(content, "allow_stdin"));
    json_t *ue = json_object_get(content, "user_expressions");
    x->user_expressions = json_is_object(ue) && json_object_size(ue) ? json_incref(ue) : NULL;
    x->count = b->next_count;
    x->cell = -1;
    if (floe_magic(code)) { /* answered here, numbered as a magic IPython runs */
        x->outputs = deps_output(b);
        if (x->store_history) b->next_count++;
    } else if (!blank(code)) { /* IPython: blank code runs nothing and takes no number */
        if (x->store_history) b->next_count++;
        x->cell = (long)append_cell(b, code, x->count);
        b->xr[x->cell] = x;
    }
    x->reply_count = b->next_count - 1;
    if (b->tail) b->tail->next = x;
    else b->head = x;
    b->tail = x;
    core_schedule(b->core);
    pump(b);
    return 0;
}

/* ---- the scope kernel: completion, inspection, comms ------------------------------------- */

/* The cells before the first unfinished one: the scope a new cell would see
 * if every finished cell were all there is. */
static size_t settled_prefix(jk_backend *b) {
    size_t n = core_ncells(b->core), k = 0;
    while (k < n && core_cell_at(b->core, k)->state == C_DONE) k++;
    return k;
}

static json_t *history(jk_backend *b, size_t upto) {
    json_t *h = json_array();
    for (size_t k = 0; k < upto; k++) {
        core_cell *c = core_cell_at(b->core, k);
        if (!c->skip && c->count > 0) json_array_append_new(h, json_pack("[i,s]", c->count, c->src));
    }
    return h;
}

static void scope_free(jk_backend *b, scope *s) {
    for (scope **p = &b->scopes; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    free(s->reqs);
    free(s);
}

/* A scope kernel no longer current, with nothing asked of it: it exits. */
static void retire(jk_backend *b, scope *s) {
    if (s->k) kpool_release(s->k);
    scope_free(b, s);
}

/* The current scope kernel, made again when a cell finished since. */
static scope *current_scope(jk_backend *b) {
    scope *s = b->scopes;
    if (s && s->stamp == b->stamp) return s;
    kernel *k = kpool_fork(b->pool);
    if (!k) return NULL;
    s = xcalloc(1, sizeof *s);
    s->k = k;
    s->stamp = b->stamp;
    s->at = settled_prefix(b);
    s->next = b->scopes;
    b->scopes = s;
    json_t *m = json_pack("{s:s,s:o,s:s,s:o}", "op", "scope", "imports", core_scope(b->core, s->at), "run_dir",
                          b->run_dir, "history", history(b, s->at));
    kpool_send(k, m);
    json_decref(m);
    /* an older one goes once it has answered what it was asked */
    for (scope *o = s->next, *next; o; o = next) {
        next = o->next;
        if (!o->nreqs) retire(b, o);
    }
    return s;
}

static int scope_request(jk_backend *b, void *req, const char *msg_type, json_t *content, json_t *metadata,
                         json_t *buffers) {
    scope *s = current_scope(b);
    if (!s) return -EAGAIN;
    json_t *m = json_pack("{s:s,s:s,s:O,s:O,s:O}", "op", "jupyter", "msg_type", msg_type, "content", content,
                          "metadata", metadata ? metadata : json_null(), "buffers", buffers ? buffers : json_null());
    if (!m) return -EINVAL;
    int rc = kpool_send(s->k, m);
    json_decref(m);
    if (rc < 0) return rc;
    if (s->nreqs == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->reqs = xrealloc(s->reqs, s->cap * sizeof *s->reqs);
    }
    s->reqs[s->nreqs++] = req;
    return 0;
}

static void scope_msg(jk_backend *b, scope *s, json_t *msg, const char *op) {
    void *req = s->nreqs ? s->reqs[0] : NULL;
    if (!strcmp(op, "iopub")) {
        const char *type = json_string_value(json_object_get(msg, "msg_type"));
        if (type) b->cbs.iopub(b->data, req, type, json_object_get(msg, "content"), json_object_get(msg, "buffers"));
    } else if (!strcmp(op, "jreply") && req) {
        memmove(s->reqs, s->reqs + 1, --s->nreqs * sizeof *s->reqs);
        json_t *c = json_object_get(msg, "content");
        b->cbs.reply(b->data, req, json_is_object(c) ? c : NULL);
        if (!s->nreqs && s != b->scopes) retire(b, s);
    } else if (!strcmp(op, "need")) { /* a def's decorator or default: resolved at the scope's point */
        const char *name = json_string_value(json_object_get(msg, "name"));
        core_artifact *art = NULL;
        long from;
        json_t *m = json_pack("{s:s,s:s}", "op", "value", "name", name ? name : "");
        if (name && core_resolve(b->core, s->at, name, &art, &from) == RES_FOUND) json_object_set(m, "artifact", art->wire);
        kpool_send(s->k, m);
        json_decref(m);
    }
}

/* ---- the pool's callbacks ------------------------------------------------------------------- */

static void on_ready(kpool *p, json_t *hello, void *data) {
    jk_backend *b = data;
    (void)p;
    b->info = json_incref(hello);
    json_t *li = json_object_get(hello, "language_info");
    core_pool_ready(b->core, li);
    json_t *info = json_pack("{s:O?,s:O?}", "language_info", li, "python", json_object_get(hello, "python"));
    b->cbs.ready(b->data, info);
    json_decref(info);
    pump(b);
}

static void on_fail(kpool *p, const char *message, void *data) {
    jk_backend *b = data;
    (void)p;
    if (!b->stopping) b->cbs.fatal(b->data, message);
}

static void on_forked(kernel *kn, void *data) {
    jk_backend *b = data;
    if (kn->user == NULL && !kn->released && in_vec(b->pre, b->npre, kn)) {
        vec_del(b->pre, &b->npre, kn);
        vec_add(&b->idle, &b->nidle, &b->capidle, kn);
    }
    core_schedule(b->core);
    pump(b);
}

static void on_msg(kernel *kn, json_t *msg, void *data) {
    jk_backend *b = data;
    const char *op = json_string_value(json_object_get(msg, "op"));
    if (!op) return;
    scope *s = scope_of(b, kn);
    if (s) {
        scope_msg(b, s, msg, op);
        return;
    }
    long k = cell_of(kn);
    if (k < 0) return;
    if (!strcmp(op, "done")) {
        xreq *x = b->xr[k];
        if (x) {
            json_decref(x->user_expressions);
            x->user_expressions = json_incref(json_object_get(msg, "user_expressions"));
            json_decref(x->payload);
            x->payload = json_incref(json_object_get(msg, "payload"));
        }
        if (kn == b->input_k) b->input_k = NULL;
        core_cell_done(b->core, (size_t)k, msg);
    } else if (!strcmp(op, "need")) {
        core_need(b->core, (size_t)k, json_string_value(json_object_get(msg, "name")),
                  json_string_value(json_object_get(msg, "link")));
    } else if (!strcmp(op, "update_display")) {
        core_update_display(b->core, (size_t)k, msg);
    } else if (!strcmp(op, "input_request")) {
        xreq *x = b->xr[k];
        b->input_k = kn;
        if (x) b->cbs.input_request(b->data, x->req, json_object_get(msg, "content"));
    }
    pump(b);
}

static void on_dead(kernel *kn, void *data) {
    jk_backend *b = data;
    vec_del(b->pre, &b->npre, kn);
    vec_del(b->idle, &b->nidle, kn);
    if (kn == b->input_k) b->input_k = NULL;
    for (size_t h = 1; h < b->nholders; h++)
        if (b->holders[h] == kn) {
            b->holders[h] = NULL;
            core_holder_gone(b->core, (int)h);
        }
    scope *s = scope_of(b, kn);
    if (s) {
        s->k = NULL;
        json_t *c = json_pack("{s:s,s:s,s:s,s:[]}", "status", "error", "ename", "DeadKernelError", "evalue",
                              "the completion kernel died", "traceback");
        for (size_t i = 0; i < s->nreqs; i++) b->cbs.reply(b->data, s->reqs[i], c);
        json_decref(c);
        scope_free(b, s);
        return;
    }
    long k = cell_of(kn);
    if (k >= 0 && b->kern[k] == kn) {
        unbind(b, (size_t)k);
        if (!b->stopping) core_cell_died(b->core, (size_t)k, kn->exit_signal, kn->exit_code);
    }
    if (!b->stopping) pump(b);
}

static const kpool_cbs pool_cbs = {on_ready, on_fail, on_forked, on_msg, on_dead};

/* ---- the back end's operations ---------------------------------------------------------------- */

static int iso_start(jk_backend **out, uv_loop_t *loop, const jk_backend_opts *o, const jk_backend_cbs *cbs,
                     void *data, char *err, size_t errlen) {
    jk_backend *b = xcalloc(1, sizeof *b);
    b->cbs = *cbs;
    b->data = data;
    b->next_count = 1;
    b->ro.mode = MODE_PARALLEL;
    b->ro.jobs = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (b->ro.jobs < 1) b->ro.jobs = 1;
    b->ro.allow_errors = 1; /* an error stops nothing by itself: stop_on_error withdraws */
    b->ro.open_ended = 1;
    b->ro.quiet = 1;
    b->ro.python = o->python;
    b->ro.pythonpath = o->pythonpath;
    b->ro.preload = o->preload;
    b->ro.cwd = o->cwd;
    b->ro.nb_name = "jupyter";
    b->run_dir = engine_make_run_dir();
    if (!b->run_dir) {
        snprintf(err, errlen, "cannot create a run directory for the kernels' artifacts");
        free(b);
        return -EIO;
    }
    b->core = core_new(&b->ro, b->run_dir, NULL, NULL, NULL);
    kpool_opts ko = {.python = o->python, .pythonpath = o->pythonpath, .preload = o->preload,
                     .run_dir = b->run_dir, .cwd = o->cwd};
    int rc = kpool_start(&b->pool, loop, &ko, &pool_cbs, b, err, errlen);
    if (rc < 0) {
        core_free(b->core);
        engine_remove_dir(b->run_dir);
        free(b->run_dir);
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int iso_request(jk_backend *b, void *req, const char *msg_type, json_t *content, json_t *metadata,
                       json_t *buffers) {
    if (!b->info || b->stopping) return -EBUSY;
    if (!strcmp(msg_type, "execute_request")) return execute(b, req, content);
    return scope_request(b, req, msg_type, content, metadata, buffers);
}

static void iso_input_reply(jk_backend *b, json_t *content) {
    if (!b->input_k) return;
    json_t *m = json_pack("{s:s,s:O}", "op", "input_reply", "content", content);
    kpool_send(b->input_k, m);
    json_decref(m);
    b->input_k = NULL;
}

/* ipykernel's execute_input count: the shell's before the cell runs. */
static int iso_input_count(jk_backend *b, void *req) {
    for (xreq *x = b->head; x; x = x->next)
        if (x->req == req) return x->count;
    return -1;
}

/* KeyboardInterrupt in every running cell; the first in request order
 * fails and, with stop_on_error, aborts the rest. */
static void iso_interrupt(jk_backend *b) {
    for (size_t k = 0; k < core_ncells(b->core); k++)
        if (b->kern[k]) kpool_signal(b->kern[k], SIGINT);
}

static void iso_stop(jk_backend *b) {
    b->stopping = 1;
    core_stop(b->core);
    kpool_stop(b->pool);
}

static void iso_free(jk_backend *b) {
    if (!b) return;
    kpool_free(b->pool);
    while (b->head) {
        xreq *x = b->head;
        b->head = x->next;
        xreq_free(x);
    }
    while (b->scopes) scope_free(b, b->scopes);
    core_free(b->core);
    for (size_t i = 0; i < b->nan; i++) an_cell_free(&b->an[i]);
    free(b->an);
    free(b->kern);
    free(b->xr);
    free(b->idle);
    free(b->pre);
    free(b->holders);
    if (b->run_dir) engine_remove_dir(b->run_dir);
    free(b->run_dir);
    json_decref(b->info);
    free(b);
}

const jk_backend_ops jk_iso_backend = {
    .name = "isolated",
    .concurrent = 1,
    .start = iso_start,
    .request = iso_request,
    .input_reply = iso_input_reply,
    .input_count = iso_input_count,
    .interrupt = iso_interrupt,
    .stop = iso_stop,
    .free = iso_free,
};
