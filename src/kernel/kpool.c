/* kpool.c — zygote process and forked kernels (see kpool.h). */
#include "kernel/kpool.h"

#include "store/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct kpool {
    uv_loop_t *loop;
    chan *zch;
    pid_t zpid;           /* a warm zygote's session is not our child */
    int warm, warm_tries;
    char *warm_path, **warm_env, *python, *cwd, *run_dir;
    long long mem_limit;
    kpool_cbs cbs;
    void *data;
    kernel *kernels;      /* all kernels, newest first */
    kernel **pending;     /* fork requests awaiting "forked", FIFO */
    size_t npending, cappending, headpending;
    int next_id;
    int ready, stopping;
    int remote;           /* the Dask bridge: kernels' pids are its numbers, not processes */
};

/* Warm zygotes kept per user (FLOE_WARM_MAX): a batch over many notebooks
 * (each directory and preload set has its own, ~200 MB) would otherwise
 * keep one per notebook for --warm-idle; the least recently used go. */
#define WARM_MAX 4

/* The variables floe sets for its kernel processes. */
static int is_ours(const char *var) {
    static const char *const ours[] = {"FLOE_FD=",  "FLOE_PRELOAD=", "FLOE_RUN_DIR=", "FLOE_MEM_LIMIT=", "FLOE_WARM_",
                                       "FLOE_DASK", "FLOE_OMP_PASSIVE="};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
        if (!strncmp(var, ours[i], strlen(ours[i]))) return 1;
    return 0;
}

/* Builds the child's environment: ours plus FLOE_* and PYTHONPATH. A warm
 * zygote's gets no run's settings (each session brings its own) and has
 * room for four more entries. */
static char **child_env(const kpool_opts *o, int warm) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = xcalloc(n + 18, sizeof *env);
    size_t k = 0;
    const char *pp = getenv("PYTHONPATH");
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "PYTHONPATH=", 11) || is_ours(environ[i])) continue;
        env[k++] = xstrdup(environ[i]);
    }
    env[k++] = pp && *pp ? xasprintf("PYTHONPATH=%s:%s", o->pythonpath, pp) : xasprintf("PYTHONPATH=%s", o->pythonpath);
    env[k++] = xasprintf("FLOE_PRELOAD=%s", o->preload ? o->preload : "IPython");
    if (o->omp_passive) env[k++] = xstrdup("FLOE_OMP_PASSIVE=1"); /* part of a warm zygote's key */
    if (!warm) {
        env[k++] = xstrdup("FLOE_FD=3");
        if (o->run_dir) env[k++] = xasprintf("FLOE_RUN_DIR=%s", o->run_dir);
        if (o->mem_limit > 0) env[k++] = xasprintf("FLOE_MEM_LIMIT=%lld", o->mem_limit);
    }
    if (o->dask) {
        env[k++] = xasprintf("FLOE_DASK=%s", o->dask);
        env[k++] = xasprintf("FLOE_DASK_PYTHON=%s", o->python);
        if (o->cwd) env[k++] = xasprintf("FLOE_DASK_CWD=%s", o->cwd);
        if (o->tls_ca) env[k++] = xasprintf("FLOE_DASK_TLS_CA=%s", o->tls_ca);
        if (o->tls_cert) env[k++] = xasprintf("FLOE_DASK_TLS_CERT=%s", o->tls_cert);
        if (o->tls_key) env[k++] = xasprintf("FLOE_DASK_TLS_KEY=%s", o->tls_key);
        if (o->dask_fetch) env[k++] = xstrdup("FLOE_DASK_FETCH=1");
    }
    env[k] = NULL;
    return env;
}

static void free_env(char **env) {
    for (size_t i = 0; env[i]; i++) free(env[i]);
    free(env);
}

/* In the child: wire fd 3, stdin from /dev/null, die with floe, exec. */
static void exec_child(int sock, int errfd, pid_t parent, const char *python, const char *cwd, char **env,
                       const char *module) {
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
    char *argv[] = {(char *)python, (char *)"-m", (char *)module, NULL};
    execve(python, argv, env);
fail:;
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* A fork request carries the kernel's end of its socket. */
static int send_fork(kpool *p, int fd) {
    json_t *req = json_pack("{s:s}", "op", "fork");
    int rc = chan_send_fd(p->zch, req, fd);
    json_decref(req);
    return rc;
}

static void close_remote(kernel *k) {
    if (k->remote_fd >= 0) close(k->remote_fd);
    k->remote_fd = -1;
}

/* ---- warm zygotes (see warm.py) ---- */

static void on_zygote_msg(chan *c, json_t *msg, void *data);

char *kpool_warm_dir(char *err, size_t errlen) {
    const char *d = getenv("FLOE_WARM_DIR"), *x = getenv("XDG_RUNTIME_DIR");
    char *dir;
    if (d && *d) dir = xstrdup(d);
    else if (x && *x == '/' && strlen(x) < 48) dir = xasprintf("%s/floe", x);
    else dir = xasprintf("/tmp/floe-%u", (unsigned)getuid());
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    } else if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
        /* someone else's socket there could stand in for our zygote */
        snprintf(err, errlen, "%s is not a directory private to this user (mode 0700); set FLOE_WARM_DIR", dir);
    } else {
        return dir;
    }
    free(dir);
    return NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The socket's name: a hash of what shaped the zygote -- the interpreter,
 * the working directory (sys.path[0] and local modules), this floe binary
 * and the zygote's whole environment (which holds the preload set). */
/* Adds the kernel package's own files (name, size, mtime) to h: a warm
 * zygote that imported an older floe_kernel is not reused after it changed
 * (a checkout, a rebuilt extension). In any order: the files' digests are
 * summed. */
static void hash_kernel_files(hasher *h, const char *pythonpath) {
    char *dir = xasprintf("%s/floe_kernel", pythonpath ? pythonpath : ".");
    DIR *d = opendir(dir);
    uint64_t sum[2] = {0, 0};
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (!(len > 3 && !strcmp(de->d_name + len - 3, ".py")) && !(len > 3 && !strcmp(de->d_name + len - 3, ".so")) &&
            strcmp(de->d_name, "protocol.def"))
            continue;
        char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            hasher one;
            hasher_init(&one);
            hasher_str(&one, de->d_name);
            long long v[3] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec};
            hasher_update(&one, v, sizeof v);
            hash128 x = hasher_final(&one);
            sum[0] += x.a, sum[1] += x.b;
        }
        free(p);
    }
    if (d) closedir(d);
    free(dir);
    hasher_update(h, sum, sizeof sum);
}

static char *warm_path(const kpool_opts *o, char **env, char *err, size_t errlen) {
    char *dir = kpool_warm_dir(err, errlen);
    if (!dir) return NULL;
    size_t n = 0;
    while (env[n]) n++;
    char **sorted = xmalloc((n + 1) * sizeof *sorted);
    memcpy(sorted, env, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    hasher h;
    hasher_init(&h);
    hasher_str(&h, o->python);
    hasher_str(&h, o->cwd ? o->cwd : "");
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0) {
        long long v[2] = {(long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec};
        hasher_update(&h, v, sizeof v);
    }
    hash_kernel_files(&h, o->pythonpath);
    for (size_t i = 0; i < n; i++)
        if (strncmp(sorted[i], "_=", 2)) hasher_str(&h, sorted[i]); /* $_ is the shell's last argument */
    free(sorted);
    char hex[33];
    hash_hex(hasher_final(&h), hex);
    char *path = xasprintf("%s/warm-%.16s.sock", dir, hex);
    free(dir);
    struct sockaddr_un a;
    if (strlen(path) + 16 >= sizeof a.sun_path) {
        snprintf(err, errlen, "the warm zygote's socket name %s is too long; set FLOE_WARM_DIR to a shorter directory",
                 path);
        free(path);
        return NULL;
    }
    return path;
}

static void set_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, strlen(path) + 1);
}

static int warm_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_un a;
    set_addr(&a, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* In the grandchild: a session of its own, stdio to the log, the listening
 * socket as fd 3, exec. Not tied to floe's life: it outlives the run. */
static void exec_warm(int lfd, int errfd, const kpool *p, const char *log) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (p->cwd && chdir(p->cwd) < 0) goto fail;
    int devnull = open("/dev/null", O_RDWR);
    int lg = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (devnull >= 0) dup2(devnull, 0);
    if (lg < 0) lg = devnull;
    if (lg >= 0) {
        dup2(lg, 1);
        dup2(lg, 2);
    }
    if (dup2(lfd, 3) < 0) goto fail;
    char *argv[] = {p->python, (char *)"-m", (char *)"floe_kernel.main", NULL};
    execve(p->python, argv, p->warm_env);
fail:;
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* Binds a new listening socket under a temporary name, renames it over the
 * warm path (a stale one included) and starts a warm zygote on it. */
static int warm_spawn(kpool *p, char *err, size_t errlen) {
    char *tmp = xasprintf("%s.%d", p->warm_path, (int)getpid());
    char *log = xasprintf("%.*s.log", (int)(strlen(p->warm_path) - 5), p->warm_path);
    struct sockaddr_un a;
    set_addr(&a, tmp);
    int e = 0, ep[2] = {-1, -1};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* above fd 3, so that the child's dup2 onto 3 always clears CLOEXEC */
    int lfd = s >= 0 ? fcntl(s, F_DUPFD_CLOEXEC, 10) : -1;
    if (s >= 0) close(s);
    unlink(tmp);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
        rename(tmp, p->warm_path) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
        e = errno;
        unlink(tmp);
        goto done;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        pid_t g = fork();
        if (g != 0) _exit(g < 0 ? 1 : 0);
        exec_warm(lfd, ep[1], p, log);
    }
    close(ep[1]);
    if (pid < 0) {
        e = errno;
    } else {
        waitpid(pid, NULL, 0);
        ssize_t r;
        do r = read(ep[0], &e, sizeof e);
        while (r < 0 && errno == EINTR);
        if (r <= 0) e = 0;
    }
    close(ep[0]);
done:
    if (lfd >= 0) close(lfd);
    if (e) snprintf(err, errlen, "cannot start a warm zygote (%s %s): %s", p->python, p->warm_path, strerror(e));
    free(tmp);
    free(log);
    return e ? -e : 0;
}

/* Connects to the warm zygote (starting one if there is none) and asks for
 * a session, handing it our stdout and stderr for the kernels' stray output. */
static int warm_open(kpool *p, char *err, size_t errlen) {
    int fd = warm_connect(p->warm_path);
    if (fd < 0) {
        int rc = warm_spawn(p, err, errlen);
        if (rc < 0) return rc;
        fd = warm_connect(p->warm_path);
        if (fd < 0) {
            snprintf(err, errlen, "cannot connect to the warm zygote %s: %s", p->warm_path, strerror(-fd));
            return fd;
        }
    }
    p->zch = chan_open(p->loop, fd, on_zygote_msg, p);
    if (!p->zch) {
        close(fd);
        snprintf(err, errlen, "cannot watch the warm zygote's socket");
        return -EINVAL;
    }
    int fds[2] = {1, 2}, devnull = -1;
    for (int i = 0; i < 2; i++)
        if (fcntl(fds[i], F_GETFD) < 0) {
            if (devnull < 0) devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
            fds[i] = devnull;
        }
    json_t *m = json_pack("{s:s,s:s,s:I}", "op", "session", "run_dir", p->run_dir ? p->run_dir : "", "mem_limit",
                          (json_int_t)p->mem_limit);
    int rc = chan_send_fds(p->zch, m, fds, fds[0] >= 0 && fds[1] >= 0 ? 2 : 0);
    json_decref(m);
    if (devnull >= 0) close(devnull);
    if (rc < 0) snprintf(err, errlen, "cannot talk to the warm zygote %s: %s", p->warm_path, strerror(-rc));
    return rc;
}

/* Before hello, a warm zygote that went away or is out of date is replaced
 * (twice at most). Returns 1 if it was. */
static int warm_retry(kpool *p) {
    if (!p->warm || p->ready || p->stopping || p->warm_tries >= 2) return 0;
    p->warm_tries++;
    chan_close(p->zch);
    p->zch = NULL;
    char err[512];
    int rc = warm_open(p, err, sizeof err);
    /* the fork requests made so far went to the old one */
    for (size_t i = p->headpending; rc >= 0 && i < p->npending; i++) {
        rc = send_fork(p, p->pending[i]->remote_fd);
        if (rc < 0) snprintf(err, sizeof err, "cannot talk to the warm zygote %s: %s", p->warm_path, strerror(-rc));
    }
    if (rc < 0) {
        p->stopping = 1;
        if (p->cbs.on_fail) p->cbs.on_fail(p, err, p->data);
    }
    return 1;
}

static int warm_start(kpool *p, const kpool_opts *o, char *err, size_t errlen) {
    p->warm = 1;
    p->python = xstrdup(o->python);
    p->cwd = o->cwd ? xstrdup(o->cwd) : NULL;
    p->run_dir = o->run_dir ? xstrdup(o->run_dir) : NULL;
    p->mem_limit = o->mem_limit;
    p->warm_env = child_env(o, 1);
    p->warm_path = warm_path(o, p->warm_env, err, errlen);
    if (!p->warm_path) return -EINVAL;
    size_t n = 0;
    while (p->warm_env[n]) n++;
    p->warm_env[n++] = xstrdup("FLOE_WARM_FD=3");
    p->warm_env[n++] = xasprintf("FLOE_WARM_PATH=%s", p->warm_path);
    p->warm_env[n++] = xasprintf("FLOE_WARM_IDLE=%d", o->warm_idle_s);
    const char *max = getenv("FLOE_WARM_MAX"); /* not part of the hash: FLOE_WARM_* are ours */
    p->warm_env[n++] = xasprintf("FLOE_WARM_MAX=%d", max && atoi(max) > 0 ? atoi(max) : WARM_MAX);
    p->warm_env[n] = NULL;
    return warm_open(p, err, errlen);
}

static kernel *pending_pop(kpool *p) {
    if (p->headpending == p->npending) return NULL;
    kernel *k = p->pending[p->headpending++];
    if (p->headpending == p->npending) p->headpending = p->npending = 0;
    return k;
}

static void maybe_dead(kernel *k);

/* A template's child is dead: a template released or killed meanwhile goes now. */
static void child_gone(kernel *t) {
    if (--t->children > 0 || !t->doomed) return;
    t->doomed = 0;
    kpool_kill(t);
}

static void maybe_dead(kernel *k) {
    if (k->dead_reported || !k->eof || !k->exited) return;
    k->dead_reported = 1;
    k->state = K_DEAD;
    /* its forked children die with it (PR_SET_PDEATHSIG), unreported */
    for (kernel *c = k->pool->kernels; k->children && c; c = c->next)
        if (c->parent == k && !c->exited) {
            close_remote(c); /* one never forked: its socket ends here */
            c->exited = 1;
            c->exit_signal = SIGKILL;
            maybe_dead(c);
        }
    if (k->parent) child_gone(k->parent);
    if (k->pool->cbs.on_dead) k->pool->cbs.on_dead(k, k->pool->data);
}

/* Among kernels forked from parent (NULL: the zygote), the one with pid. */
static kernel *find_child(kpool *p, kernel *parent, pid_t pid) {
    for (kernel *k = p->kernels; k; k = k->next)
        if (k->pid == pid && k->parent == parent) return k;
    return NULL;
}

/* "exited" from the zygote (parent NULL) or a template: that child's status. */
static void child_exited(kpool *p, kernel *parent, json_t *msg) {
    kernel *k = find_child(p, parent, (pid_t)json_integer_value(json_object_get(msg, "pid")));
    if (!k) return;
    json_t *st = json_object_get(msg, "status");
    k->exited = 1;
    k->exit_signal = (int)json_integer_value(json_object_get(st, "signal"));
    k->exit_code = (int)json_integer_value(json_object_get(st, "code"));
    maybe_dead(k);
}

/* "forked" for kernel k, from the zygote or its template. */
static void kernel_forked(kpool *p, kernel *k, json_t *msg) {
    k->pid = (pid_t)json_integer_value(json_object_get(msg, "pid"));
    close_remote(k);
    k->t_forked = time_mono_us();
    k->fork_us = json_integer_value(json_object_get(msg, "fork_us"));
    if (k->state == K_STARTING) k->state = K_IDLE;
    if (p->cbs.on_forked) p->cbs.on_forked(k, p->data);
    if (k->released) kpool_signal(k, SIGKILL);
}

static void on_zygote_msg(chan *c, json_t *msg, void *data) {
    kpool *p = data;
    (void)c;
    if (!msg) {
        if (warm_retry(p)) return;
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
        if (p->warm) p->zpid = (pid_t)json_integer_value(json_object_get(msg, "pid"));
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
        if (k) kernel_forked(p, k, msg);
    } else if (!strcmp(op, "exited")) {
        child_exited(p, NULL, msg);
    } else if (!strcmp(op, "stale")) {
        /* a module it imported changed on disk: it has gone, start afresh */
        if (!warm_retry(p) && p->cbs.on_fail) p->cbs.on_fail(p, "the warm zygote is out of date", p->data);
    }
}

/* Starts a private zygote, our child, over a socketpair. */
static int private_start(kpool *p, const kpool_opts *o, char *err, size_t errlen) {
    int sv[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) goto sys_error;
    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(sv[0]);
        close(sv[1]);
        goto sys_error;
    }
    char **env = child_env(o, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_child(sv[1], ep[1], parent, o->python, o->cwd, env, o->dask ? "floe_kernel.dask_bridge" : "floe_kernel.main");
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
    p->zch = chan_open(p->loop, sv[0], on_zygote_msg, p);
    if (!p->zch) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(sv[0]);
        snprintf(err, errlen, "cannot watch the kernel zygote's socket");
        return -EINVAL;
    }
    p->zpid = pid;
    return 0;
sys_error:;
    int e = errno;
    snprintf(err, errlen, "cannot start the kernel zygote: %s", strerror(e));
    return -e;
}

int kpool_start(kpool **out, uv_loop_t *loop, const kpool_opts *o, const kpool_cbs *cbs, void *data,
                char *err, size_t errlen) {
    kpool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->cbs = *cbs;
    p->data = data;
    p->remote = o->dask != NULL;
    int rc = o->warm_idle_s > 0 && !o->dask ? warm_start(p, o, err, errlen) : private_start(p, o, err, errlen);
    if (rc < 0) {
        kpool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* A template's own messages about its children: "forked" (the oldest
 * request of it) and "exited". 1 when msg was one. */
static int template_msg(kernel *t, json_t *msg) {
    const char *op = json_string_value(json_object_get(msg, "op"));
    kpool *p = t->pool;
    if (!op) return 0;
    if (!strcmp(op, "forked")) {
        kernel *k = NULL;
        for (kernel *c = p->kernels; c; c = c->next)
            if (c->parent == t && c->pid == 0) k = c; /* newest first: the last is the oldest */
        if (k) kernel_forked(p, k, msg);
        return 1;
    }
    if (!strcmp(op, "exited")) {
        child_exited(p, t, msg);
        return 1;
    }
    return 0;
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
    if (template_msg(k, msg)) return;
    if (k->pool->cbs.on_msg) k->pool->cbs.on_msg(k, msg, k->pool->data);
}

/* A kernel's channel over a new socketpair; *remote: the end the zygote or
 * template forks with. NULL if the pair or the channel cannot be made. */
static kernel *new_kernel(kpool *p, int *remote) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return NULL;
    kernel *k = xcalloc(1, sizeof *k);
    k->ch = chan_open(p->loop, sv[0], on_kernel_msg, k);
    if (!k->ch) {
        close(sv[0]);
        close(sv[1]);
        free(k);
        return NULL;
    }
    *remote = sv[1];
    return k;
}

/* A kernel whose fork request could not be sent. */
static void discard_kernel(kernel *k, int remote) {
    chan_close(k->ch); /* closes our end with its handle */
    close(remote);
    free(k);
}

/* A kernel whose fork was requested joins the pool, K_STARTING. */
static void add_kernel(kpool *p, kernel *k, int remote) {
    k->remote_fd = remote;
    k->id = p->next_id++;
    k->pool = p;
    k->state = K_STARTING;
    k->t_requested = time_mono_us();
    k->next = p->kernels;
    p->kernels = k;
}

kernel *kpool_fork_from(kpool *p, kernel *t, json_t *fp) {
    if (p->stopping || p->remote || !t || !t->ch || t->pid <= 0 || t->exited || t->released || t->doomed) return NULL;
    int remote;
    kernel *k = new_kernel(p, &remote);
    if (!k) return NULL;
    json_t *req = json_pack("{s:s}", "op", "fork");
    if (fp) json_object_set(req, "fp", fp);
    int rc = chan_send_fd(t->ch, req, remote);
    json_decref(req);
    if (rc < 0) {
        discard_kernel(k, remote);
        return NULL;
    }
    add_kernel(p, k, remote);
    k->parent = t;
    t->children++;
    return k;
}

int kpool_kill(kernel *k) {
    if (k->children > 0) {
        k->doomed = 1;
        k->user = NULL;
        return k->children;
    }
    kpool_signal(k, SIGKILL);
    kpool_release(k);
    return 0;
}

kernel *kpool_fork(kpool *p) {
    if (p->stopping) return NULL;
    int remote;
    kernel *k = new_kernel(p, &remote);
    if (!k) return NULL;
    if (send_fork(p, remote) < 0) {
        discard_kernel(k, remote);
        return NULL;
    }
    add_kernel(p, k, remote);
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
    if (k->pid <= 0 || k->exited) return;
    if (!k->pool->remote) {
        kill(k->pid, sig);
        return;
    }
    if (!k->pool->zch) return;
    json_t *m = json_pack("{s:s,s:i,s:i}", "op", "signal", "pid", (int)k->pid, "sig", sig);
    chan_send(k->pool->zch, m);
    json_decref(m);
}

void kpool_release(kernel *k) {
    if (k->children > 0) { /* it would take them along: once they are dead */
        k->doomed = 1;
        k->user = NULL;
        return;
    }
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

/* The Dask bridge is told to end the run (cancel its tasks, release its
 * futures, stop the kernels and zygotes on the workers) and given a few
 * seconds for it before it is killed like a local zygote. */
static void remote_stop(kpool *p) {
    if (!p->remote || !p->zch || p->zpid <= 0) return;
    json_t *m = json_pack("{s:s}", "op", "exit");
    size_t len;
    char *frame = chan_frame(m, &len);
    json_decref(m);
    if (frame) {
        ssize_t w = write(p->zch->fd, frame, len);
        (void)w;
        free(frame);
    }
    for (int i = 0; i < 200; i++) { /* 10 s */
        if (waitpid(p->zpid, NULL, WNOHANG) == p->zpid) {
            p->zpid = 0;
            return;
        }
        usleep(50000);
    }
}

void kpool_stop(kpool *p) {
    if (!p) return;
    p->stopping = 1;
    remote_stop(p);
    for (kernel *k = p->kernels; k; k = k->next) {
        kpool_signal(k, SIGKILL);
        close_remote(k);
        if (k->ch) {
            chan_close(k->ch);
            k->ch = NULL;
        }
    }
    if (p->zch) chan_close(p->zch);
    p->zch = NULL;
    if (p->zpid > 0) {
        kill(p->zpid, SIGKILL);
        if (!p->warm) waitpid(p->zpid, NULL, 0);
        p->zpid = 0;
    }
}

void kpool_free(kpool *p) {
    if (!p) return;
    kernel *k = p->kernels;
    while (k) {
        kernel *next = k->next;
        close_remote(k);
        free(k);
        k = next;
    }
    free(p->pending);
    if (p->warm_env) free_env(p->warm_env);
    free(p->warm_path);
    free(p->python);
    free(p->cwd);
    free(p->run_dir);
    free(p);
}
