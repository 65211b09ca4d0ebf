/* util.h — small shared helpers: checked allocation, growable byte buffers,
 * string vectors, monotonic time, file reading.
 *
 * Allocation: xmalloc/xcalloc/xrealloc/xstrdup never return NULL; on
 * exhaustion they print one line and exit(3) (like Redis' zmalloc). Code
 * that can recover from a failed allocation uses malloc directly.
 *
 * Ownership: a function returning char* or a buffer returns memory the
 * caller frees; containers own what they hold unless a name says otherwise
 * (strvec_push copies, strvec_push_owned takes). Errors: helpers wrapping
 * system calls return 0 or -errno, as libuv does; none print. */
#ifndef FLOE_UTIL_H
#define FLOE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer; `data` is always NUL-terminated. Owns `data`. */
typedef struct buf { char *data; size_t len, cap; } buf;
void buf_init(buf *b);
void buf_free(buf *b);
void buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (with quotes). */
void buf_json_str(buf *b, const char *s, size_t n);
/* Detaches and returns the data (caller frees); b is reset. */
char *buf_steal(buf *b);

/* A vector of owned C strings. */
typedef struct strvec { char **v; size_t n, cap; } strvec;
void strvec_push(strvec *sv, const char *s);          /* copies s */
void strvec_push_owned(strvec *sv, char *s);          /* takes s */
int strvec_contains(const strvec *sv, const char *s);
void strvec_sort_unique(strvec *sv);
void strvec_free(strvec *sv);

/* Monotonic clock in microseconds; wall clock in microseconds since epoch. */
int64_t time_mono_us(void);
int64_t time_wall_us(void);
/* ISO 8601 UTC with microseconds and 'Z', as Jupyter writes it. out >= 32. */
void time_iso8601(int64_t wall_us, char *out, size_t outlen);

/* Reads a whole file; returns a malloc'd NUL-terminated buffer or NULL with
 * errno set. *len gets the size (excluding the NUL). */
char *read_file(const char *path, size_t *len);
/* mkdir -p with mode 0755: every missing directory of path. 0 or -errno. */
int make_dirs(const char *path);
/* The one atomic write: fill(fd, ud) writes a temporary file beside path
 * (returning 0 or -errno), which is then renamed over path (keeping an
 * existing target's mode); WRITE_DURABLE fsyncs it first. On failure the
 * temporary file is removed and path is untouched. Returns 0 or -errno. */
#define WRITE_DURABLE 1
int write_atomic(const char *path, int (*fill)(int fd, void *ud), void *ud, int flags);
/* write_atomic of data (flags: WRITE_DURABLE or 0). Returns 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, int flags);

/* The directory of path, absolute and resolved (malloc'd), or NULL with
 * errno set if path does not exist. */
char *path_abs_dir(const char *path);

/* Has the file name this suffix (case-sensitive)? */
int str_endswith(const char *s, const char *suffix);

/* Parses "10G", "500M", "1.5k", "1024" (optional B) into bytes; -1 on error. */
long long util_parse_size(const char *s);

#endif
