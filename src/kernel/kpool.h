/* kpool.h — the kernel pool: one Python zygote that has imported the
 * preload set, and the cell kernels it forks on request.
 *
 * floe starts the zygote (`python -m floe_kernel.main`) over a socketpair;
 * to get a kernel, floe makes a new socketpair and passes one end to the
 * zygote (SCM_RIGHTS), which forks a child that serves that socket. Every
 * process dies with its parent (PR_SET_PDEATHSIG), so kernels never outlive
 * floe. With warm_idle_s, the zygote is a session forked by a warm process
 * that floe finds (or starts) behind a Unix socket: the imports are paid
 * once for many runs, and the session, and so its kernels, ends when floe's
 * end of the socket closes. The pool owns all kernels; a kernel is released back with
 * kpool_release (it is told to exit) and reported dead through on_dead. */
#ifndef FLOE_KPOOL_H
#define FLOE_KPOOL_H

#include <jansson.h>
#include <sys/types.h>
#include <uv.h>

#include "kernel/chan.h"

typedef struct kpool kpool;

typedef enum { K_STARTING, K_IDLE, K_BUSY, K_DEAD } kernel_state;

typedef struct kernel {
    int id;               /* stable number, used as the trace row */
    pid_t pid;            /* 0 until the zygote confirms the fork */
    chan *ch;
    int remote_fd;        /* the zygote's end of ch until it has forked (a warm retry resends it) */
    kpool *pool;
    kernel_state state;
    void *user;           /* the engine's cell, while busy */
    int eof, exited, dead_reported, released;
    int exit_code, exit_signal;
    int64_t t_requested, t_forked;  /* monotonic us */
    int64_t fork_us;                /* the fork() call itself, timed in the zygote */
    struct kernel *parent;/* the template it was forked from (kpool_fork_from), or NULL */
    int children;         /* its forked children not yet dead */
    int doomed;           /* released or killed while children ran: done when they end */
    struct kernel *next;  /* pool list */
} kernel;

typedef struct kpool_cbs {
    void (*on_ready)(kpool *p, json_t *hello, void *data);
    void (*on_fail)(kpool *p, const char *message, void *data);
    void (*on_forked)(kernel *k, void *data);
    void (*on_msg)(kernel *k, json_t *msg, void *data);
    void (*on_dead)(kernel *k, void *data);
} kpool_cbs;

typedef struct kpool_opts {
    const char *python;     /* interpreter path */
    const char *pythonpath; /* where floe_kernel lives */
    const char *preload;    /* comma-separated modules */
    const char *run_dir;    /* exported as FLOE_RUN_DIR */
    const char *cwd;        /* kernels' working directory (the notebook's), or NULL */
    long long mem_limit;    /* bytes each kernel may allocate beyond the zygote's, 0 = none */
    int warm_idle_s;        /* > 0: use (or start) a warm zygote that outlives the run and
                               exits after this many idle seconds (see warm.py); 0 = private */
    /* A Dask scheduler's address: the "zygote" is the Dask bridge
     * (floe_kernel.dask_bridge), which speaks the zygote's protocol and runs
     * each kernel's cells as tasks on the cluster. Its kernels' pids are the
     * bridge's own numbers: signals go to the bridge as messages, never kill().
     * tls_*: the client's TLS files (NULL: Dask's config). NULL = local. */
    const char *dask, *tls_ca, *tls_cert, *tls_key;
    int dask_fetch;         /* the artifacts' files are copied to run_dir too (the cache, --keep-run) */
    int omp_passive;        /* kernels run side by side: OpenMP runtimes the zygote loads wait
                               passively (main.py, _omp_passive) */
} kpool_opts;

/* The directory of warm zygotes' sockets: $FLOE_WARM_DIR, else
 * $XDG_RUNTIME_DIR/floe, else /tmp/floe-UID; created 0700 and checked to be
 * ours. Returns a new string, or NULL with a message in err. */
char *kpool_warm_dir(char *err, size_t errlen);

/* Starts the zygote. Returns 0 or -errno with a message in err. The pool
 * calls on_ready (or on_fail) once the zygote has said hello. */
int kpool_start(kpool **out, uv_loop_t *loop, const kpool_opts *o, const kpool_cbs *cbs, void *data,
                char *err, size_t errlen);
/* Requests a new kernel; returns it in K_STARTING (messages sent to it are
 * queued by the socket until it runs). NULL on failure. */
kernel *kpool_fork(kpool *p);
/* Requests a new kernel forked from idle kernel tmpl (a lineage kernel as a
 * template: its heap copy-on-write, its objects as its last cell left them).
 * tmpl replies "forked" and reports "exited" for it as the zygote does; it
 * dies with tmpl (PR_SET_PDEATHSIG), so tmpl is not killed while it has
 * live children: kpool_kill and kpool_release of such a template take
 * effect when the last child is dead. fp (borrowed, may be NULL): the names
 * the child will fingerprint (the run request's "fp"), which tmpl
 * fingerprints once for all its children before it forks. NULL on failure. */
kernel *kpool_fork_from(kpool *p, kernel *tmpl, json_t *fp);
/* SIGKILL and release, deferred while k has forked children alive; returns
 * the number of those children (0: killed now). */
int kpool_kill(kernel *k);
/* Sends a message to a kernel. 0 or a negative error. */
int kpool_send(kernel *k, json_t *msg);
/* Signals a kernel's process (no-op if not yet forked or dead). */
void kpool_signal(kernel *k, int sig);
/* Tells a kernel to exit and forgets it once it is dead. */
void kpool_release(kernel *k);
/* Number of kernels not yet dead. */
int kpool_live(const kpool *p);
/* Stops the zygote and kills every kernel; the pool is freed when the loop
 * has closed its handles. */
void kpool_stop(kpool *p);
pid_t kpool_zygote_pid(const kpool *p);
/* Frees the pool and its kernels; call after kpool_stop once the loop has
 * closed the channels. */
void kpool_free(kpool *p);

#endif
