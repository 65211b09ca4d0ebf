/* util.c — checked allocation, buffers, string vectors, clocks, files. */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n) {
    fprintf(stderr, "floe: out of memory (allocating %zu bytes)\n", n);
    exit(3);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...) {
    buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return buf_steal(&b);
}

void buf_init(buf *b) { b->data = NULL; b->len = b->cap = 0; }

void buf_free(buf *b) { free(b->data); buf_init(b); }

void buf_reserve(buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_putc(buf *b, char c) { buf_append(b, &c, 1); }

void buf_vprintf(buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_json_str(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, 6);
            } else {
                buf_putc(b, (char)c);
            }
        }
    }
    buf_putc(b, '"');
}

char *buf_steal(buf *b) {
    char *p = b->data ? b->data : xstrdup("");
    buf_init(b);
    return p;
}

void strvec_push(strvec *sv, const char *s) { strvec_push_owned(sv, xstrdup(s)); }

void strvec_push_owned(strvec *sv, char *s) {
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = s;
}

int strvec_contains(const strvec *sv, const char *s) {
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort_unique(strvec *sv) {
    if (sv->n < 2) return;
    qsort(sv->v, sv->n, sizeof *sv->v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < sv->n; i++) {
        if (strcmp(sv->v[i], sv->v[k - 1]) == 0) free(sv->v[i]);
        else sv->v[k++] = sv->v[i];
    }
    sv->n = k;
}

void strvec_free(strvec *sv) {
    for (size_t i = 0; i < sv->n; i++) free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

int64_t time_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_iso8601(int64_t wall_us, char *out, size_t outlen) {
    time_t s = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%06dZ", base, (int)(wall_us % 1000000));
}

int make_dirs(const char *path) {
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s && !rc; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST) rc = -errno;
            *s = '/';
        }
    if (!rc && mkdir(p, 0755) < 0 && errno != EEXIST) rc = -errno;
    free(p);
    return rc;
}

char *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) goto error;
    if (S_ISDIR(st.st_mode)) { errno = EISDIR; goto error; }
    buf b;
    buf_init(&b);
    buf_reserve(&b, st.st_size > 0 ? (size_t)st.st_size : 4096);
    for (;;) {
        buf_reserve(&b, 65536);
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            buf_free(&b);
            goto error;
        }
        if (r == 0) break;
        b.len += (size_t)r;
    }
    b.data[b.len] = '\0';
    close(fd);
    if (len) *len = b.len;
    return b.data;
error:;
    int e = errno;
    close(fd);
    errno = e;
    return NULL;
}

/* Writes all of data to fd; 0 or -errno. */
static int write_all(int fd, void *ud) {
    const struct { const char *p; size_t len; } *d = ud;
    const char *p = d->p;
    size_t left = d->len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        left -= (size_t)w;
    }
    return 0;
}

int write_atomic(const char *path, int (*fill)(int fd, void *ud), void *ud, int flags) {
    static unsigned long counter;
    char *tmp = xasprintf("%s.floe-tmp-%ld-%lu", path, (long)getpid(),
                          __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return -e;
    }
    int rc = fill(fd, ud);
    if (rc == 0 && (flags & WRITE_DURABLE) && fsync(fd) < 0) rc = -errno;
    if (close(fd) < 0 && rc == 0) rc = -errno;
    /* keep the mode of an existing target */
    struct stat st;
    if (rc == 0 && stat(path, &st) == 0) chmod(tmp, st.st_mode & 07777);
    if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
    if (rc < 0) unlink(tmp);
    free(tmp);
    return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len, int flags) {
    struct { const char *p; size_t len; } d = {data, len};
    return write_atomic(path, write_all, &d, flags);
}

char *path_abs_dir(const char *path) {
    char *r = realpath(path, NULL);
    if (!r) return NULL;
    char *slash = strrchr(r, '/');
    if (slash == r) slash[1] = '\0';
    else if (slash) *slash = '\0';
    return r;
}

int str_endswith(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Parses "10G", "500M", "1024" into bytes; -1 on error. */
long long util_parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case '\0': break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b') end++;
    return *end ? -1 : (long long)(v * mult);
}
