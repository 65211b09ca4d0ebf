/* arrow_fb.h — the minimal flatbuffers we need for Arrow metadata: a
 * back-to-front builder (like the reference one) and a reader that checks
 * every offset, length and vtable against the buffer it reads. Internal to
 * src/store/arrow*.c. Host must be little-endian (as Arrow files are).
 * Ownership: an fbb owns its buffer (fbb_free); fbb_finish's result is
 * borrowed from it; the reader borrows the buffer it checks. */
#ifndef FLOE_ARROW_FB_H
#define FLOE_ARROW_FB_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "arrow: little-endian hosts only"
#endif

/* --- builder ------------------------------------------------------------ */

#define FBB_MAXFIELDS 16

typedef struct fbb {
    uint8_t *buf;
    size_t cap, size;        /* data lives in buf[cap - size .. cap) */
    size_t minalign;
    size_t tstart;
    uint32_t fref[FBB_MAXFIELDS];
} fbb;

/* A "ref" is an object's distance from the end of the buffer. */
void fbb_init(fbb *b);
void fbb_free(fbb *b);
uint32_t fbb_string(fbb *b, const char *s, size_t n);
uint32_t fbb_vec_structs(fbb *b, const void *data, size_t elsize, size_t n, size_t align);
uint32_t fbb_vec_refs(fbb *b, const uint32_t *refs, size_t n);
void fbb_start(fbb *b);
void fbb_add_u8(fbb *b, int id, uint8_t v);
void fbb_add_i16(fbb *b, int id, int16_t v);
void fbb_add_i32(fbb *b, int id, int32_t v);
void fbb_add_i64(fbb *b, int id, int64_t v);
void fbb_add_ref(fbb *b, int id, uint32_t ref);
uint32_t fbb_end(fbb *b);
/* Finishes with root `root`; returns the bytes (inside b) and their length,
 * a multiple of 8. */
const uint8_t *fbb_finish(fbb *b, uint32_t root, size_t *len);

/* --- reader --------------------------------------------------------------- */

typedef struct fbt {
    const uint8_t *p;
    size_t len;              /* the whole flatbuffer */
    size_t pos, vt, vtlen, tlen;
} fbt;

/* All return 0 on success, -1 on malformed input (with a static message in
 * *why). Absent fields give the default / present = 0. */
int fbt_root(fbt *t, const uint8_t *p, size_t len, const char **why);
int fbt_i64(const fbt *t, int id, int64_t def, int64_t *out, const char **why);
int fbt_i32(const fbt *t, int id, int32_t def, int32_t *out, const char **why);
int fbt_i16(const fbt *t, int id, int16_t def, int16_t *out, const char **why);
int fbt_u8(const fbt *t, int id, uint8_t def, uint8_t *out, const char **why);
int fbt_table(const fbt *t, int id, fbt *child, int *present, const char **why);
/* A vector: position of element 0 and count; elsize bytes per element. */
int fbt_vector(const fbt *t, int id, size_t elsize, size_t *vpos, size_t *n, int *present,
               const char **why);
/* Element i of a vector of tables at vpos. */
int fbt_vec_table(const fbt *t, size_t vpos, size_t i, fbt *child, const char **why);
/* A string field: pointer into the buffer and length (no NUL guaranteed). */
int fbt_string(const fbt *t, int id, const char **s, size_t *n, int *present, const char **why);

#endif
