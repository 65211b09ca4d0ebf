/* kpool.c — zygote process and forked kernels (see kpool.h). */
#include "kernel/kpool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct kpool {
    uv_loop_t *loop;
    chan *zch;
    pid_t zpid;
    kpool_cbs cbs;
    void *data;
    kernel *kernels;      /* all kernels, newest first */
    kernel **pending;     /* fork requests awaiting "forked", FIFO */
    size_t npending, cappending, headpending;
    int next_id;
    int ready, stopping;
};

/* Builds the child's environment: ours plus FLOE_* and PYTHONPATH. */
static char **child_env(const kpool_opts *o) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = xcalloc(n + 9, sizeof *env);
    size_t k = 0;
    const char *pp = getenv("PYTHONPATH");
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "PYTHONPATH=", 11) || !strncmp(environ[i], "FLOE_FD=", 8)) continue;
        env[k++] = xstrdup(environ[i]);
    }
    env[k++] = pp && *pp ? xasprintf("PYTHONPATH=%s:%s", o->pythonpath, pp) : xasprintf("PYTHONPATH=%s", o->pythonpath);
    env[k++] = xstrdup("FLOE_FD=3");
    env[k++] = xasprintf("FLOE_PRELOAD=%s", o->preload ? o->preload : "IPython");
    if (o->run_dir) env[k++] = xasprintf("FLOE_RUN_DIR=%s", o->run_dir);
    if (o->mem_limit > 0) env[k++] = xasprintf("FLOE_MEM_LIMIT=%lld", o->mem_limit);
    env[k] = NULL;
    return env;
}

static void free_env(char **env) {
    for (size_t i = 0; env[i]; i++) free(env[i]);
    free(env);
}

/* In the child: wire fd 3, stdin from /dev/null, die with floe, exec. */
static void exec_child(int sock, int errfd, pid_t parent, const char *python, const char *cwd, char **env) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL); /* floe ignores it; the zygote starts as Python expects */
    if (getppid() != parent) _exit(127);
    /* Own process group: a terminal's Ctrl-C reaches floe only, and floe
     * decides which kernels to interrupt. PDEATHSIG still ties the zygote
     * (and through it every kernel) to floe's life. */
    setpgid(0, 0);
    if (cwd && chdir(cwd) < 0) goto fail;
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (dup2(sock, 3) < 0) goto fail;
    char *argv[] = {(char *)python, (char *)"-m", (char *)"floe_kernel.main", NULL};
    execve(python, argv, env);
fail:;
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

static kernel *pending_pop(kpool *p) {
    if (p->headpending == p->npending) return NULL;
    kernel *k = p->pending[p->headpending++];
    if (p->headpending == p->npending) p->headpending = p->npending = 0;
    return k;
}

static kernel *find_pid(kpool *p, pid_t pid) {
    for (kernel *k = p->kernels; k; k = k->next)
        if (k->pid == pid) return k;
    return NULL;
}

static void maybe_dead(kernel *k) {
    if (k->dead_reported || !k->eof || !k->exited) return;
    k->dead_reported = 1;
    k->state = K_DEAD;
    if (k->pool->cbs.on_dead) k->pool->cbs.on_dead(k, k->pool->data);
}

static void on_zygote_exited(kpool *p, json_t *msg) {
    kernel *k = find_pid(p, (pid_t)json_integer_value(json_object_get(msg, "pid")));
    if (!k) return;
    json_t *st = json_object_get(msg, "status");
    k->exited = 1;
    k->exit_signal = (int)json_integer_value(json_object_get(st, "signal"));
    k->exit_code = (int)json_integer_value(json_object_get(st, "code"));
    maybe_dead(k);
}

static void on_zygote_msg(chan *c, json_t *msg, void *data) {
    kpool *p = data;
    (void)c;
    if (!msg) {
        if (!p->stopping && p->cbs.on_fail) p->cbs.on_fail(p, "the kernel zygote exited unexpectedly", p->data);
        /* kernels die with the zygote: report them */
        for (kernel *k = p->kernels; k; k = k->next) {
            k->exited = 1;
            if (!k->exit_signal) k->exit_signal = SIGKILL;
            maybe_dead(k);
        }
        return;
    }
    const char *op = json_string_value(json_object_get(msg, "op"));
    if (!op) return;
    if (!strcmp(op, "hello")) {
        p->ready = 1;
        if (p->cbs.on_ready) p->cbs.on_ready(p, msg, p->data);
    } else if (!strcmp(op, "error")) {
        json_t *missing = json_object_get(msg, "missing");
        buf b;
        buf_init(&b);
        buf_printf(&b, "%s cannot run floe kernels: missing module", json_string_value(json_object_get(msg, "python")));
        size_t i;
        json_t *m;
        json_array_foreach(missing, i, m) buf_printf(&b, "%s '%s'", i ? "," : "", json_string_value(m));
        p->stopping = 1;
        if (p->cbs.on_fail) p->cbs.on_fail(p, b.data, p->data);
        buf_free(&b);
    } else if (!strcmp(op, "forked")) {
        kernel *k = pending_pop(p);
        if (!k) return;
        k->pid = (pid_t)json_integer_value(json_object_get(msg, "pid"));
        k->t_forked = time_mono_us();
        k->fork_us = json_integer_value(json_object_get(msg, "fork_us"));
        if (k->state == K_STARTING) k->state = K_IDLE;
        if (p->cbs.on_forked) p->cbs.on_forked(k, p->data);
        if (k->released) kpool_signal(k, SIGKILL);
    } else if (!strcmp(op, "exited")) {
        on_zygote_exited(p, msg);
    }
}

int kpool_start(kpool **out, uv_loop_t *loop, const kpool_opts *o, const kpool_cbs *cbs, void *data,
                char *err, size_t errlen) {
    int sv[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) goto sys_error;
    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(sv[0]);
        close(sv[1]);
        goto sys_error;
    }
    char **env = child_env(o);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) exec_child(sv[1], ep[1], parent, o->python, o->cwd, env);
    free_env(env);
    close(sv[1]);
    close(ep[1]);
    if (pid < 0) {
        close(sv[0]);
        close(ep[0]);
        goto sys_error;
    }
    int child_errno = 0;
    ssize_t r;
    do r = read(ep[0], &child_errno, sizeof child_errno);
    while (r < 0 && errno == EINTR);
    close(ep[0]);
    if (r > 0) {
        waitpid(pid, NULL, 0);
        close(sv[0]);
        snprintf(err, errlen, "cannot run the Python interpreter %s%s%s: %s", o->python, o->cwd ? " in " : "",
                 o->cwd ? o->cwd : "", strerror(child_errno));
        return -child_errno;
    }
    kpool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->zpid = pid;
    p->cbs = *cbs;
    p->data = data;
    p->zch = chan_open(loop, sv[0], on_zygote_msg, p);
    *out = p;
    return 0;
sys_error:;
    int e = errno;
    snprintf(err, errlen, "cannot start the kernel zygote: %s", strerror(e));
    return -e;
}

static void on_kernel_msg(chan *c, json_t *msg, void *data) {
    kernel *k = data;
    (void)c;
    if (!msg) {
        k->eof = 1;
        chan_close(k->ch);
        k->ch = NULL;
        maybe_dead(k);
        return;
    }
    if (k->pool->cbs.on_msg) k->pool->cbs.on_msg(k, msg, k->pool->data);
}

kernel *kpool_fork(kpool *p) {
    if (p->stopping) return NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return NULL;
    json_t *req = json_pack("{s:s}", "op", "fork");
    int rc = chan_send_fd(p->zch, req, sv[1]);
    json_decref(req);
    close(sv[1]);
    if (rc < 0) {
        close(sv[0]);
        return NULL;
    }
    kernel *k = xcalloc(1, sizeof *k);
    k->id = p->next_id++;
    k->pool = p;
    k->state = K_STARTING;
    k->t_requested = time_mono_us();
    k->ch = chan_open(p->loop, sv[0], on_kernel_msg, k);
    k->next = p->kernels;
    p->kernels = k;
    if (p->npending == p->cappending) {
        p->cappending = p->cappending ? p->cappending * 2 : 16;
        p->pending = xrealloc(p->pending, p->cappending * sizeof *p->pending);
    }
    p->pending[p->npending++] = k;
    return k;
}

int kpool_send(kernel *k, json_t *msg) {
    if (!k->ch) return UV_EPIPE;
    return chan_send(k->ch, msg);
}

void kpool_signal(kernel *k, int sig) {
    if (k->pid > 0 && !k->exited) kill(k->pid, sig);
}

void kpool_release(kernel *k) {
    if (k->released) return;
    k->released = 1;
    k->user = NULL;
    if (k->ch) {
        json_t *m = json_pack("{s:s}", "op", "exit");
        kpool_send(k, m);
        json_decref(m);
    }
}

int kpool_live(const kpool *p) {
    int n = 0;
    for (const kernel *k = p->kernels; k; k = k->next) n += k->state != K_DEAD;
    return n;
}

pid_t kpool_zygote_pid(const kpool *p) { return p->zpid; }

void kpool_stop(kpool *p) {
    if (!p) return;
    p->stopping = 1;
    for (kernel *k = p->kernels; k; k = k->next) {
        kpool_signal(k, SIGKILL);
        if (k->ch) {
            chan_close(k->ch);
            k->ch = NULL;
        }
    }
    if (p->zch) chan_close(p->zch);
    p->zch = NULL;
    if (p->zpid > 0) {
        kill(p->zpid, SIGKILL);
        waitpid(p->zpid, NULL, 0);
        p->zpid = 0;
    }
}

void kpool_free(kpool *p) {
    if (!p) return;
    kernel *k = p->kernels;
    while (k) {
        kernel *next = k->next;
        free(k);
        k = next;
    }
    free(p->pending);
    free(p);
}
