/* arrow_fb.c — minimal flatbuffer builder and bounds-checked reader (see
 * arrow_fb.h). */
#include "store/arrow_fb.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* --- builder ------------------------------------------------------------ */

void fbb_init(fbb *b) {
    memset(b, 0, sizeof *b);
    b->minalign = 1;
}

void fbb_free(fbb *b) {
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static void fbb_grow(fbb *b, size_t need) {
    if (b->cap - b->size >= need) return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap - b->size < need) ncap *= 2;
    uint8_t *nb = xmalloc(ncap);
    if (b->size) memcpy(nb + ncap - b->size, b->buf + b->cap - b->size, b->size);
    free(b->buf);
    b->buf = nb;
    b->cap = ncap;
}

static void fbb_push(fbb *b, const void *p, size_t n) {
    fbb_grow(b, n);
    b->size += n;
    if (p) memcpy(b->buf + b->cap - b->size, p, n);
    else memset(b->buf + b->cap - b->size, 0, n);
}

/* Pads so that after writing `extra` more bytes the size is a multiple of
 * align (a power of two <= 8). */
static void fbb_prep(fbb *b, size_t align, size_t extra) {
    if (align > b->minalign) b->minalign = align;
    size_t pad = (~(b->size + extra) + 1) & (align - 1);
    fbb_grow(b, pad + extra);
    if (pad) fbb_push(b, NULL, pad);
}

static uint32_t fbb_ref(const fbb *b) { return (uint32_t)b->size; }

uint32_t fbb_string(fbb *b, const char *s, size_t n) {
    fbb_prep(b, 4, n + 1);
    fbb_push(b, NULL, 1);
    fbb_push(b, s, n);
    uint32_t len = (uint32_t)n;
    fbb_push(b, &len, 4);
    return fbb_ref(b);
}

uint32_t fbb_vec_structs(fbb *b, const void *data, size_t elsize, size_t n, size_t align) {
    fbb_prep(b, 4, elsize * n);
    fbb_prep(b, align < 4 ? 4 : align, elsize * n);
    if (n) fbb_push(b, data, elsize * n);
    uint32_t len = (uint32_t)n;
    fbb_push(b, &len, 4);
    return fbb_ref(b);
}

uint32_t fbb_vec_refs(fbb *b, const uint32_t *refs, size_t n) {
    fbb_prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;) {
        uint32_t off = (uint32_t)(b->size + 4 - refs[i]);
        fbb_push(b, &off, 4);
    }
    uint32_t len = (uint32_t)n;
    fbb_push(b, &len, 4);
    return fbb_ref(b);
}

void fbb_start(fbb *b) {
    memset(b->fref, 0, sizeof b->fref);
    b->tstart = b->size;
}

static void fbb_add(fbb *b, int id, const void *p, size_t n) {
    fbb_prep(b, n, 0);
    fbb_push(b, p, n);
    b->fref[id] = fbb_ref(b);
}

void fbb_add_u8(fbb *b, int id, uint8_t v) { fbb_add(b, id, &v, 1); }
void fbb_add_i16(fbb *b, int id, int16_t v) { fbb_add(b, id, &v, 2); }
void fbb_add_i32(fbb *b, int id, int32_t v) { fbb_add(b, id, &v, 4); }
void fbb_add_i64(fbb *b, int id, int64_t v) { fbb_add(b, id, &v, 8); }

void fbb_add_ref(fbb *b, int id, uint32_t ref) {
    fbb_prep(b, 4, 0);
    uint32_t off = (uint32_t)(b->size + 4 - ref);
    fbb_push(b, &off, 4);
    b->fref[id] = fbb_ref(b);
}

uint32_t fbb_end(fbb *b) {
    fbb_prep(b, 4, 0);
    int32_t zero = 0;
    fbb_push(b, &zero, 4);
    uint32_t tref = fbb_ref(b);
    int nf = 0;
    for (int i = 0; i < FBB_MAXFIELDS; i++)
        if (b->fref[i]) nf = i + 1;
    uint16_t vt[2 + FBB_MAXFIELDS];
    vt[0] = (uint16_t)(4 + 2 * nf);
    vt[1] = (uint16_t)(tref - b->tstart);
    for (int i = 0; i < nf; i++) vt[2 + i] = b->fref[i] ? (uint16_t)(tref - b->fref[i]) : 0;
    fbb_push(b, vt, (size_t)(2 + nf) * 2);
    uint32_t vref = fbb_ref(b);
    int32_t so = (int32_t)(vref - tref);
    memcpy(b->buf + b->cap - tref, &so, 4);
    return tref;
}

const uint8_t *fbb_finish(fbb *b, uint32_t root, size_t *len) {
    fbb_prep(b, 8, 4);
    uint32_t off = (uint32_t)(b->size + 4 - root);
    fbb_push(b, &off, 4);
    *len = b->size;
    return b->buf + b->cap - b->size;
}

/* --- reader --------------------------------------------------------------- */

static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static int fbt_at(fbt *t, const uint8_t *p, size_t len, size_t pos, const char **why) {
    if (len < 4 || pos > len - 4) { *why = "table offset out of bounds"; return -1; }
    int32_t so;
    memcpy(&so, p + pos, 4);
    int64_t vt = (int64_t)pos - (int64_t)so;
    if (vt < 0 || (uint64_t)vt > len - 4) { *why = "vtable offset out of bounds"; return -1; }
    size_t vtlen = rd_u16(p + vt), tlen = rd_u16(p + vt + 2);
    if (vtlen < 4 || (vtlen & 1) || vtlen > len - (size_t)vt) { *why = "bad vtable size"; return -1; }
    if (tlen < 4 || tlen > len - pos) { *why = "bad table size"; return -1; }
    t->p = p;
    t->len = len;
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vtlen = vtlen;
    t->tlen = tlen;
    return 0;
}

int fbt_root(fbt *t, const uint8_t *p, size_t len, const char **why) {
    if (len < 8) { *why = "flatbuffer too short"; return -1; }
    return fbt_at(t, p, len, rd_u32(p), why);
}

/* Offset of field id inside the table (0 = absent); -1 if it overflows. */
static int64_t fbt_field(const fbt *t, int id, size_t size, const char **why) {
    size_t vo = 4 + 2 * (size_t)id;
    if (vo + 2 > t->vtlen) return 0;
    size_t o = rd_u16(t->p + t->vt + vo);
    if (o == 0) return 0;
    if (o < 4 || o + size > t->tlen) { *why = "field outside its table"; return -1; }
    return (int64_t)o;
}

#define FBT_SCALAR(name, type)                                                        \
    int name(const fbt *t, int id, type def, type *out, const char **why) {           \
        int64_t o = fbt_field(t, id, sizeof(type), why);                              \
        if (o < 0) return -1;                                                         \
        if (o == 0) *out = def;                                                       \
        else memcpy(out, t->p + t->pos + (size_t)o, sizeof(type));                    \
        return 0;                                                                     \
    }
FBT_SCALAR(fbt_i64, int64_t)
FBT_SCALAR(fbt_i32, int32_t)
FBT_SCALAR(fbt_i16, int16_t)
FBT_SCALAR(fbt_u8, uint8_t)

/* Target position of the uoffset stored at fp. */
static int fbt_deref(const fbt *t, size_t fp, size_t *target, const char **why) {
    uint64_t tgt = (uint64_t)fp + rd_u32(t->p + fp);
    if (tgt > t->len - 4) { *why = "offset out of bounds"; return -1; }
    *target = (size_t)tgt;
    return 0;
}

int fbt_table(const fbt *t, int id, fbt *child, int *present, const char **why) {
    *present = 0;
    int64_t o = fbt_field(t, id, 4, why);
    if (o <= 0) return (int)o;
    size_t tgt;
    if (fbt_deref(t, t->pos + (size_t)o, &tgt, why) < 0) return -1;
    if (fbt_at(child, t->p, t->len, tgt, why) < 0) return -1;
    *present = 1;
    return 0;
}

int fbt_vector(const fbt *t, int id, size_t elsize, size_t *vpos, size_t *n, int *present,
               const char **why) {
    *present = 0;
    *n = 0;
    *vpos = 0;
    int64_t o = fbt_field(t, id, 4, why);
    if (o <= 0) return (int)o;
    size_t tgt;
    if (fbt_deref(t, t->pos + (size_t)o, &tgt, why) < 0) return -1;
    size_t cnt = rd_u32(t->p + tgt);
    if (elsize && cnt > (t->len - tgt - 4) / elsize) { *why = "vector longer than its buffer"; return -1; }
    *vpos = tgt + 4;
    *n = cnt;
    *present = 1;
    return 0;
}

int fbt_vec_table(const fbt *t, size_t vpos, size_t i, fbt *child, const char **why) {
    size_t tgt;
    if (fbt_deref(t, vpos + 4 * i, &tgt, why) < 0) return -1;
    return fbt_at(child, t->p, t->len, tgt, why);
}

int fbt_string(const fbt *t, int id, const char **s, size_t *n, int *present, const char **why) {
    size_t vpos;
    if (fbt_vector(t, id, 1, &vpos, n, present, why) < 0) return -1;
    *s = *present ? (const char *)t->p + vpos : NULL;
    return 0;
}
