/* cmd_warm.c — `floe warm`: list or stop the warm zygotes that `floe run
 * --warm` leaves behind (see python/floe_kernel/warm.py). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernel/chan.h"
#include "kernel/kpool.h"
#include "util/util.h"

static const char warm_usage[] =
    "usage: floe warm [status|stop]\n"
    "\n"
    "A warm zygote is a Python process that has imported a run's preload set\n"
    "(IPython, numpy, pandas...) and outlives the run, so that the next\n"
    "`floe run --warm` in the same directory, with the same interpreter and\n"
    "environment, starts its kernels without importing anything. It runs no\n"
    "user code, and exits after --warm-idle seconds (default 600) unused.\n"
    "\n"
    "  status   list the warm zygotes of this user (default)\n"
    "  stop     stop them all\n"
    "\n"
    "Their sockets live in $FLOE_WARM_DIR, else $XDG_RUNTIME_DIR/floe, else\n"
    "/tmp/floe-UID; each has a .log beside it with what the imports printed.\n";

#define REPLY_TIMEOUT_S 3

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_frame(int fd, json_t *msg) {
    size_t n;
    char *f = chan_frame(msg, &n);
    int rc = f && write_all(fd, f, n) == 0 ? 0 : -1;
    free(f);
    return rc;
}

static int read_exact(int fd, void *p, size_t n) {
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static json_t *recv_frame(int fd) {
    unsigned char hdr[4];
    if (read_exact(fd, hdr, 4) < 0) return NULL;
    size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (n > (1u << 20)) return NULL;
    char *body = xmalloc(n + 1);
    json_t *msg = NULL;
    if (read_exact(fd, body, n) == 0) msg = json_loadb(body, n, 0, NULL);
    free(body);
    return msg;
}

/* Sends {"op": op} to the zygote behind path; its reply, or NULL with errno
 * (ECONNREFUSED: nothing listens there any more). */
static json_t *ask(const char *path, const char *op) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {REPLY_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    json_t *reply = NULL;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        json_t *m = json_pack("{s:s}", "op", op);
        if (send_frame(fd, m) == 0) reply = recv_frame(fd);
        json_decref(m);
        if (!reply && !errno) errno = ETIMEDOUT;
    }
    int e = errno;
    close(fd);
    errno = e;
    return reply;
}

static void remove_leftovers(const char *sock) {
    unlink(sock);
    char *log = xasprintf("%.*s.log", (int)(strlen(sock) - 5), sock);
    unlink(log);
    free(log);
}

int cmd_warm(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "status";
    if (!strcmp(what, "-h") || !strcmp(what, "--help")) {
        fputs(warm_usage, stdout);
        return 0;
    }
    int stop = !strcmp(what, "stop");
    if ((!stop && strcmp(what, "status")) || argc > 2) {
        fprintf(stderr, "floe warm: expected status or stop (see floe warm --help)\n");
        return 2;
    }
    char err[512];
    char *dir = kpool_warm_dir(err, sizeof err);
    if (!dir) {
        fprintf(stderr, "floe warm: %s\n", err);
        return 2;
    }
    DIR *d = opendir(dir);
    int n = 0, rc = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "warm-", 5) || len < 10 || strcmp(de->d_name + len - 5, ".sock")) continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        errno = 0;
        json_t *r = ask(path, stop ? "stop" : "status");
        if (!r && errno == ECONNREFUSED) {
            remove_leftovers(path); /* its process is gone */
        } else if (!r) {
            printf("%s: no answer (%s); it may still be importing\n", path, strerror(errno));
            rc = 1;
        } else if (stop) {
            printf("stopped warm zygote %lld (%s)\n", (long long)json_integer_value(json_object_get(r, "pid")),
                   path);
            n++;
        } else {
            printf("pid %lld  sessions %lld  idle %.0f s of %.0f  %s in %s\n  preload %s\n",
                   (long long)json_integer_value(json_object_get(r, "pid")),
                   (long long)json_integer_value(json_object_get(r, "sessions")),
                   json_number_value(json_object_get(r, "idle_s")),
                   json_number_value(json_object_get(r, "idle_limit_s")),
                   json_string_value(json_object_get(r, "python")), json_string_value(json_object_get(r, "cwd")),
                   json_string_value(json_object_get(r, "preload")));
            n++;
        }
        json_decref(r);
        free(path);
    }
    if (d) closedir(d);
    if (!n) printf("no warm zygotes in %s\n", dir);
    free(dir);
    return rc;
}
