/* arrow.c — Arrow IPC file format writer and validating zero-copy reader
 * (see arrow.h). Flatbuffer table field ids below follow format/Schema.fbs,
 * Message.fbs and File.fbs (a union field takes two ids: _type, then value). */
#include "store/arrow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store/arrow_fb.h"
#include "util/util.h"

/* Schema.fbs `union Type` indices. */
enum { T_NONE = 0, T_NULL = 1, T_INT = 2, T_FLOAT = 3, T_BINARY = 4, T_UTF8 = 5, T_BOOL = 6,
       T_DATE = 8, T_TIMESTAMP = 10, T_DURATION = 18, T_LARGE_BINARY = 19, T_LARGE_UTF8 = 20 };
/* Message.fbs `union MessageHeader`. */
enum { H_SCHEMA = 1, H_DICTIONARY = 2, H_RECORD_BATCH = 3 };
enum { V4 = 3, V5 = 4 };
#define BODY_ALIGN 64
#define MAX_COLS_X_BATCHES (1u << 24)

static const uint8_t zeros[BODY_ALIGN];

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

size_t arrow_type_width(arrow_type t) {
    switch (t) {
    case ARROW_INT8: case ARROW_UINT8: return 1;
    case ARROW_INT16: case ARROW_UINT16: case ARROW_FLOAT16: return 2;
    case ARROW_INT32: case ARROW_UINT32: case ARROW_FLOAT32: case ARROW_DATE32: return 4;
    case ARROW_INT64: case ARROW_UINT64: case ARROW_FLOAT64: case ARROW_DATE64:
    case ARROW_TIMESTAMP: case ARROW_DURATION: return 8;
    default: return 0;
    }
}

const char *arrow_type_name(arrow_type t) {
    static const char *const names[ARROW_NTYPES] = {
        "null", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "utf8", "large_utf8", "binary", "large_binary",
        "date32", "date64", "timestamp", "duration"};
    return (unsigned)t < ARROW_NTYPES ? names[t] : "?";
}

static int is_var(arrow_type t) {
    return t == ARROW_UTF8 || t == ARROW_LARGE_UTF8 || t == ARROW_BINARY || t == ARROW_LARGE_BINARY;
}
static size_t offset_width(arrow_type t) {
    return (t == ARROW_LARGE_UTF8 || t == ARROW_LARGE_BINARY) ? 8 : 4;
}
static int is_int(arrow_type t) { return t >= ARROW_INT8 && t <= ARROW_UINT64; }

int64_t arrow_pack_bits(const uint8_t *bytes, int64_t n, int invert, uint8_t *bits) {
    int64_t set = 0;
    uint8_t x = invert ? 1 : 0;
    int64_t full = n / 8;
    for (int64_t i = 0; i < full; i++) {
        const uint8_t *b = bytes + 8 * i;
        uint8_t v = (uint8_t)(((b[0] != 0) ^ x) | (((b[1] != 0) ^ x) << 1) | (((b[2] != 0) ^ x) << 2) |
                              (((b[3] != 0) ^ x) << 3) | (((b[4] != 0) ^ x) << 4) |
                              (((b[5] != 0) ^ x) << 5) | (((b[6] != 0) ^ x) << 6) |
                              (((b[7] != 0) ^ x) << 7));
        bits[i] = v;
        set += __builtin_popcount(v);
    }
    if (n % 8) {
        uint8_t v = 0;
        for (int64_t j = 0; j < n % 8; j++)
            if ((bytes[8 * full + j] != 0) ^ x) v = (uint8_t)(v | (1u << j));
        bits[full] = v;
        set += __builtin_popcount(v);
    }
    return set;
}

void arrow_unpack_bits(const uint8_t *bits, int64_t n, int invert, uint8_t *bytes) {
    uint8_t x = invert ? 1 : 0;
    for (int64_t i = 0; i < n; i++) bytes[i] = (uint8_t)(((bits[i >> 3] >> (i & 7)) & 1) ^ x);
}

/* ============================== writer ================================== */

/* n bytes of the file: at p, or, when width != 0, n / width values of width
 * bytes gathered from p, p + stride, p + 2 * stride... */
typedef struct seg { const void *p; size_t n; size_t width; int64_t stride; } seg;
typedef struct block { int64_t offset; int32_t meta_len; int32_t pad; int64_t body_len; } block;
typedef struct fbuffer { int64_t offset, length; } fbuffer;
typedef struct fnode { int64_t length, null_count; } fnode;

typedef struct wplan {
    seg *segs;
    size_t nsegs, capsegs;
    uint64_t pos;
    void **owned;
    size_t nowned, capowned;
    /* the body being laid out */
    fbuffer *bufs;
    size_t nbufs, capbufs;
    fnode *nodes;
    size_t nnodes, capnodes;
    seg *body;
    size_t nbody, capbody;
    uint64_t body_len;
} wplan;

#define GROW(arr, n, cap)                                                   \
    do {                                                                    \
        if ((n) == (cap)) {                                                 \
            (cap) = (cap) ? 2 * (cap) : 16;                                 \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                 \
        }                                                                   \
    } while (0)

static void push_seg(wplan *w, seg s) {
    if (!s.n) return;
    GROW(w->segs, w->nsegs, w->capsegs);
    w->segs[w->nsegs++] = s;
    w->pos += s.n;
}

static void add_seg(wplan *w, const void *p, size_t n) { push_seg(w, (seg){.p = p, .n = n}); }

static void add_pad(wplan *w, size_t n) {
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        add_seg(w, zeros, k);
        n -= k;
    }
}

static void *own(wplan *w, void *p) {
    GROW(w->owned, w->nowned, w->capowned);
    w->owned[w->nowned++] = p;
    return p;
}

static void body_reset(wplan *w) {
    w->nbufs = w->nnodes = w->nbody = 0;
    w->body_len = 0;
}

/* One body buffer of n bytes; width != 0: strided values (see seg). */
static void body_gather(wplan *w, const void *p, uint64_t n, size_t width, int64_t stride) {
    uint64_t off = (w->body_len + BODY_ALIGN - 1) & ~(uint64_t)(BODY_ALIGN - 1);
    if (off > w->body_len) {
        GROW(w->body, w->nbody, w->capbody);
        w->body[w->nbody++] = (seg){.n = (size_t)(off - w->body_len)};
    }
    GROW(w->bufs, w->nbufs, w->capbufs);
    w->bufs[w->nbufs++] = (fbuffer){(int64_t)off, (int64_t)n};
    if (n) {
        GROW(w->body, w->nbody, w->capbody);
        w->body[w->nbody++] = (seg){.p = p, .n = (size_t)n, .width = width, .stride = stride};
    }
    w->body_len = off + n;
}

static void body_buf(wplan *w, const void *p, uint64_t n) { body_gather(w, p, n, 0, 0); }

static void body_finish(wplan *w) {
    uint64_t end = (w->body_len + BODY_ALIGN - 1) & ~(uint64_t)(BODY_ALIGN - 1);
    if (end > w->body_len) {
        GROW(w->body, w->nbody, w->capbody);
        w->body[w->nbody++] = (seg){.n = (size_t)(end - w->body_len)};
    }
    w->body_len = end;
}

/* Lays out one column's node and buffers; `t` is the physical type (the
 * index type for dictionary columns). */
static int body_col(wplan *w, const arrow_col *c, char *err, size_t errlen) {
    int64_t n = c->length;
    const char *name = c->name ? c->name : "";
    if (n < 0 || c->null_count < 0 || c->null_count > n) {
        seterr(err, errlen, "column '%s': bad length %lld / null count %lld", name, (long long)n,
               (long long)c->null_count);
        return -1;
    }
    arrow_type t = c->type;
    if (c->dict && !is_int(t)) {
        seterr(err, errlen, "column '%s': dictionary index type must be an integer", name);
        return -1;
    }
    GROW(w->nodes, w->nnodes, w->capnodes);
    w->nodes[w->nnodes++] = (fnode){n, t == ARROW_NA ? n : c->null_count};
    if (t == ARROW_NA) return 0;
    uint64_t bitlen = ((uint64_t)n + 7) / 8;
    if (c->null_count > 0 && !c->validity) {
        seterr(err, errlen, "column '%s': %lld nulls but no validity bitmap", name, (long long)c->null_count);
        return -1;
    }
    body_buf(w, c->null_count > 0 ? c->validity : NULL, c->null_count > 0 ? bitlen : 0);
    size_t wd = arrow_type_width(t);
    if (t == ARROW_BOOL) {
        if (n && !c->data) goto nodata;
        body_buf(w, c->data, bitlen);
    } else if (wd) {
        if (n && !c->data) goto nodata;
        body_gather(w, c->data, (uint64_t)n * wd, c->data_stride ? wd : 0, c->data_stride);
    } else if (is_var(t)) {
        size_t ow = offset_width(t);
        uint64_t olen = ((uint64_t)n + 1) * ow;
        if (!c->offsets) {
            if (n) goto nodata;
            body_buf(w, zeros, ow);
        } else {
            int64_t last = 0;
            if (ow == 4) {
                int32_t l;
                memcpy(&l, (const uint8_t *)c->offsets + 4 * (size_t)n, 4);
                last = l;
            } else {
                memcpy(&last, (const uint8_t *)c->offsets + 8 * (size_t)n, 8);
            }
            if (last < 0 || (uint64_t)last > c->data_len) {
                seterr(err, errlen, "column '%s': offsets end past the data", name);
                return -1;
            }
            body_buf(w, c->offsets, olen);
        }
        if (c->data_len && !c->data) goto nodata;
        body_buf(w, c->data, c->data_len);
    } else {
        seterr(err, errlen, "column '%s': unsupported type %d", name, (int)t);
        return -1;
    }
    return 0;
nodata:
    seterr(err, errlen, "column '%s': missing data buffer", name);
    return -1;
}

static uint32_t build_int_type(fbb *b, arrow_type t) {
    int bits = (int)arrow_type_width(t) * 8;
    int sign = t >= ARROW_INT8 && t <= ARROW_INT64;
    fbb_start(b);
    fbb_add_i32(b, 0, bits);
    fbb_add_u8(b, 1, (uint8_t)sign);
    return fbb_end(b);
}

/* Builds the Type table of t; returns its ref and the union tag. */
static uint32_t build_type(fbb *b, const arrow_col *c, arrow_type t, uint8_t *tag) {
    uint32_t tz = 0;
    if (t == ARROW_TIMESTAMP && c->tz) tz = fbb_string(b, c->tz, strlen(c->tz));
    if (is_int(t)) { *tag = T_INT; return build_int_type(b, t); }
    fbb_start(b);
    switch (t) {
    case ARROW_NA: *tag = T_NULL; break;
    case ARROW_BOOL: *tag = T_BOOL; break;
    case ARROW_FLOAT16: *tag = T_FLOAT; fbb_add_i16(b, 0, 0); break;
    case ARROW_FLOAT32: *tag = T_FLOAT; fbb_add_i16(b, 0, 1); break;
    case ARROW_FLOAT64: *tag = T_FLOAT; fbb_add_i16(b, 0, 2); break;
    case ARROW_UTF8: *tag = T_UTF8; break;
    case ARROW_LARGE_UTF8: *tag = T_LARGE_UTF8; break;
    case ARROW_BINARY: *tag = T_BINARY; break;
    case ARROW_LARGE_BINARY: *tag = T_LARGE_BINARY; break;
    case ARROW_DATE32: *tag = T_DATE; fbb_add_i16(b, 0, 0); break;
    case ARROW_DATE64: *tag = T_DATE; fbb_add_i16(b, 0, 1); break;
    case ARROW_TIMESTAMP:
        *tag = T_TIMESTAMP;
        fbb_add_i16(b, 0, (int16_t)c->unit);
        if (tz) fbb_add_ref(b, 1, tz);
        break;
    case ARROW_DURATION: *tag = T_DURATION; fbb_add_i16(b, 0, (int16_t)c->unit); break;
    default: *tag = T_NONE; break;
    }
    return fbb_end(b);
}

static uint32_t build_schema(fbb *b, const arrow_col *cols, size_t ncols, const arrow_kv *meta,
                             size_t nmeta) {
    uint32_t *frefs = xcalloc(ncols + 1, sizeof *frefs);
    int64_t dict_id = 0;
    for (size_t i = 0; i < ncols; i++) {
        const arrow_col *c = &cols[i];
        const char *name = c->name ? c->name : "";
        uint32_t nm = fbb_string(b, name, strlen(name));
        const arrow_col *vt = c->dict ? c->dict : c;
        uint8_t tag;
        uint32_t ty = build_type(b, vt, vt->type, &tag);
        uint32_t de = 0;
        if (c->dict) {
            uint32_t it = build_int_type(b, c->type);
            fbb_start(b);
            fbb_add_i64(b, 0, dict_id++);
            fbb_add_ref(b, 1, it);
            fbb_add_u8(b, 2, (uint8_t)(c->dict_ordered != 0));
            de = fbb_end(b);
        }
        uint32_t children = fbb_vec_refs(b, NULL, 0);
        fbb_start(b);
        fbb_add_ref(b, 0, nm);
        fbb_add_u8(b, 1, 1);
        fbb_add_u8(b, 2, tag);
        fbb_add_ref(b, 3, ty);
        if (de) fbb_add_ref(b, 4, de);
        fbb_add_ref(b, 5, children);
        frefs[i] = fbb_end(b);
    }
    uint32_t fields = fbb_vec_refs(b, frefs, ncols);
    uint32_t md = 0;
    if (nmeta) {
        uint32_t *kv = xcalloc(nmeta, sizeof *kv);
        for (size_t i = 0; i < nmeta; i++) {
            uint32_t k = fbb_string(b, meta[i].key, strlen(meta[i].key));
            uint32_t v = fbb_string(b, meta[i].value, meta[i].value_len);
            fbb_start(b);
            fbb_add_ref(b, 0, k);
            fbb_add_ref(b, 1, v);
            kv[i] = fbb_end(b);
        }
        md = fbb_vec_refs(b, kv, nmeta);
        free(kv);
    }
    free(frefs);
    fbb_start(b);
    fbb_add_i16(b, 0, 0);
    fbb_add_ref(b, 1, fields);
    if (md) fbb_add_ref(b, 2, md);
    return fbb_end(b);
}

static uint32_t build_record_batch(fbb *b, const wplan *w, int64_t length) {
    uint32_t bufs = fbb_vec_structs(b, w->bufs, sizeof(fbuffer), w->nbufs, 8);
    uint32_t nodes = fbb_vec_structs(b, w->nodes, sizeof(fnode), w->nnodes, 8);
    fbb_start(b);
    fbb_add_i64(b, 0, length);
    fbb_add_ref(b, 1, nodes);
    fbb_add_ref(b, 2, bufs);
    return fbb_end(b);
}

/* Emits an encapsulated message: continuation, length, flatbuffer, padding
 * (so the body starts BODY_ALIGN-aligned), body. */
static block emit_message(wplan *w, fbb *b, uint8_t htype, uint32_t header) {
    fbb_start(b);
    fbb_add_i16(b, 0, V5);
    fbb_add_u8(b, 1, htype);
    fbb_add_ref(b, 2, header);
    fbb_add_i64(b, 3, (int64_t)w->body_len);
    uint32_t root = fbb_end(b);
    size_t fblen;
    const uint8_t *fb = fbb_finish(b, root, &fblen);
    block blk = {(int64_t)w->pos, 0, 0, (int64_t)w->body_len};
    uint64_t meta_end = w->pos + 8 + fblen;
    uint64_t align = w->body_len ? BODY_ALIGN : 8;
    meta_end = (meta_end + align - 1) & ~(align - 1);
    uint64_t meta_len = meta_end - w->pos;
    int32_t *hdr = own(w, xmalloc(8));
    hdr[0] = -1;
    hdr[1] = (int32_t)(meta_len - 8);
    add_seg(w, hdr, 8);
    add_seg(w, own(w, b->buf), 0); /* keep the builder's memory */
    add_seg(w, fb, fblen);
    add_pad(w, (size_t)(meta_len - 8 - fblen));
    blk.meta_len = (int32_t)meta_len;
    for (size_t i = 0; i < w->nbody; i++) {
        if (w->body[i].p) push_seg(w, w->body[i]);
        else add_pad(w, w->body[i].n);
    }
    b->buf = NULL; /* owned by the plan now */
    fbb_free(b);
    return blk;
}

static void plan_free(wplan *w) {
    for (size_t i = 0; i < w->nowned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->segs);
    free(w->bufs);
    free(w->nodes);
    free(w->body);
    memset(w, 0, sizeof *w);
}

static int plan_build(wplan *w, const arrow_col *cols, size_t ncols, int64_t nrows, const arrow_kv *meta,
                      size_t nmeta, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    if (nrows < 0) { seterr(err, errlen, "negative row count"); return -1; }
    for (size_t i = 0; i < ncols; i++) {
        if (cols[i].length != nrows) {
            seterr(err, errlen, "column '%s' has %lld rows, expected %lld", cols[i].name ? cols[i].name : "",
                   (long long)cols[i].length, (long long)nrows);
            return -1;
        }
        const arrow_col *vt = cols[i].dict ? cols[i].dict : &cols[i];
        if (vt->type <= ARROW_NA && cols[i].dict) {
            seterr(err, errlen, "column '%s': bad dictionary type", cols[i].name ? cols[i].name : "");
            return -1;
        }
        if ((unsigned)vt->type >= ARROW_NTYPES) {
            seterr(err, errlen, "column '%s': unsupported type %d", cols[i].name ? cols[i].name : "", (int)vt->type);
            return -1;
        }
        if ((vt->type == ARROW_TIMESTAMP || vt->type == ARROW_DURATION) && (unsigned)vt->unit > ARROW_NANO) {
            seterr(err, errlen, "column '%s': bad time unit", cols[i].name ? cols[i].name : "");
            return -1;
        }
    }
    static const char magic[8] = "ARROW1\0";
    add_seg(w, magic, 8);
    fbb b;
    /* schema */
    fbb_init(&b);
    uint32_t sch = build_schema(&b, cols, ncols, meta, nmeta);
    body_reset(w);
    emit_message(w, &b, H_SCHEMA, sch);
    /* dictionaries */
    size_t ndict = 0;
    for (size_t i = 0; i < ncols; i++) ndict += cols[i].dict != NULL;
    block *dblocks = own(w, xcalloc(ndict + 1, sizeof(block)));
    int64_t dict_id = 0;
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].dict) continue;
        body_reset(w);
        arrow_col d = *cols[i].dict;
        d.dict = NULL;
        if (!d.name) d.name = cols[i].name;
        if (body_col(w, &d, err, errlen) < 0) return -1;
        body_finish(w);
        fbb_init(&b);
        uint32_t rb = build_record_batch(&b, w, d.length);
        fbb_start(&b);
        fbb_add_i64(&b, 0, dict_id);
        fbb_add_ref(&b, 1, rb);
        uint32_t db = fbb_end(&b);
        dblocks[dict_id++] = emit_message(w, &b, H_DICTIONARY, db);
    }
    /* the record batch */
    body_reset(w);
    for (size_t i = 0; i < ncols; i++)
        if (body_col(w, &cols[i], err, errlen) < 0) return -1;
    body_finish(w);
    fbb_init(&b);
    uint32_t rb = build_record_batch(&b, w, nrows);
    block rblock = emit_message(w, &b, H_RECORD_BATCH, rb);
    /* end-of-stream marker */
    static const int32_t eos[2] = {-1, 0};
    add_seg(w, eos, 8);
    /* footer */
    fbb_init(&b);
    uint32_t fsch = build_schema(&b, cols, ncols, meta, nmeta);
    uint32_t dv = fbb_vec_structs(&b, dblocks, sizeof(block), ndict, 8);
    uint32_t rv = fbb_vec_structs(&b, &rblock, sizeof(block), 1, 8);
    fbb_start(&b);
    fbb_add_i16(&b, 0, V5);
    fbb_add_ref(&b, 1, fsch);
    fbb_add_ref(&b, 2, dv);
    fbb_add_ref(&b, 3, rv);
    uint32_t root = fbb_end(&b);
    size_t flen;
    const uint8_t *fb = fbb_finish(&b, root, &flen);
    own(w, b.buf);
    add_seg(w, fb, flen);
    int32_t *tail = own(w, xmalloc(12));
    tail[0] = (int32_t)flen;
    memcpy(tail + 1, "ARROW1\0\0", 8);
    add_seg(w, tail, 10);
    return 0;
}

/* count values of width bytes, stride bytes apart at src, packed into dst. */
static void gather(uint8_t *dst, const void *src, size_t count, size_t width, int64_t stride) {
    const uint8_t *s = src;
#define GATHER(W) for (size_t i = 0; i < count; i++) memcpy(dst + (W) * i, s + (int64_t)i * stride, (W))
    switch (width) {
    case 1: GATHER(1); break;
    case 2: GATHER(2); break;
    case 4: GATHER(4); break;
    case 8: GATHER(8); break;
    default: GATHER(width); break;
    }
#undef GATHER
}

int arrow_write_mem(const arrow_col *cols, size_t ncols, int64_t nrows, const arrow_kv *meta,
                    size_t nmeta, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
    wplan w;
    *out = NULL;
    *outlen = 0;
    if (plan_build(&w, cols, ncols, nrows, meta, nmeta, err, errlen) < 0) {
        plan_free(&w);
        return -1;
    }
    uint8_t *p = malloc(w.pos ? (size_t)w.pos : 1);
    if (!p) {
        seterr(err, errlen, "out of memory (%llu bytes)", (unsigned long long)w.pos);
        plan_free(&w);
        return -1;
    }
    size_t at = 0;
    for (size_t i = 0; i < w.nsegs; i++) {
        const seg *s = &w.segs[i];
        if (s->width) gather(p + at, s->p, s->n / s->width, s->width, s->stride);
        else memcpy(p + at, s->p, s->n);
        at += s->n;
    }
    *out = p;
    *outlen = at;
    plan_free(&w);
    return 0;
}

/* Writes iov[0..k) whole (writev may write less); 0 or -errno. */
static int writev_all(int fd, struct iovec *iov, int k) {
    while (k > 0) {
        ssize_t n = writev(fd, iov, k);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        size_t left = (size_t)n;
        for (; k > 0 && left >= iov->iov_len; iov++, k--) left -= iov->iov_len;
        if (k > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Writes the plan: packed segments straight from their memory, strided
 * ones gathered through a small buffer, so a column of a 2-D block is not
 * first copied whole into fresh memory (in a freshly forked kernel every
 * new page costs a fault). 0 or -errno. */
static int write_plan(int fd, const wplan *w) {
    enum { NIOV = 512, BOUNCE = 64 * 1024 };
    struct iovec iov[NIOV];
    uint8_t *bounce = NULL;
    int k = 0, rc = 0;
    for (size_t i = 0; i < w->nsegs && rc == 0; i++) {
        const seg *s = &w->segs[i];
        if (!s->width) {
            iov[k++] = (struct iovec){(void *)s->p, s->n};
            if (k == NIOV) {
                rc = writev_all(fd, iov, k);
                k = 0;
            }
            continue;
        }
        if (!bounce) bounce = xmalloc(BOUNCE);
        size_t count = s->n / s->width, per = BOUNCE / s->width;
        for (size_t at = 0; at < count && rc == 0; at += per) {
            size_t m = count - at < per ? count - at : per;
            gather(bounce, (const uint8_t *)s->p + (int64_t)at * s->stride, m, s->width, s->stride);
            iov[k++] = (struct iovec){bounce, m * s->width};
            rc = writev_all(fd, iov, k); /* before the bounce buffer is refilled */
            k = 0;
        }
    }
    if (rc == 0 && k) rc = writev_all(fd, iov, k);
    free(bounce);
    return rc;
}

static int fill_plan(int fd, void *ud) { return write_plan(fd, ud); }

int64_t arrow_write_file(const char *path, const arrow_col *cols, size_t ncols, int64_t nrows,
                         const arrow_kv *meta, size_t nmeta, char *err, size_t errlen) {
    wplan w;
    if (plan_build(&w, cols, ncols, nrows, meta, nmeta, err, errlen) < 0) {
        plan_free(&w);
        return -1;
    }
    int rc = write_atomic(path, fill_plan, &w, 0);
    if (rc < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(-rc));
        plan_free(&w);
        return -1;
    }
    int64_t size = (int64_t)w.pos;
    plan_free(&w);
    return size;
}

/* ============================== reader ================================== */

typedef struct table_impl {
    arrow_table t;
    strvec strs;             /* owned names, time zones, metadata */
} table_impl;

typedef struct rd {
    const uint8_t *file;
    size_t flen;
    char *err;
    size_t errlen;
    table_impl *ti;
} rd;

static int fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(rd *r, const char *fmt, ...) {
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
        for (char *p = r->err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return -1;
}

#define FB(call, what)                                                          \
    do {                                                                        \
        const char *why_ = "";                                                  \
        const char **why = &why_;                                               \
        if ((call) < 0) return fail(r, "arrow: bad %s: %s", (what), why_);      \
    } while (0)

static const char *own_str(rd *r, const char *s, size_t n) {
    strvec_push_owned(&r->ti->strs, xstrndup(s, n));
    return r->ti->strs.v[r->ti->strs.n - 1];
}

/* Reads an Int type table into an arrow_type. */
static int parse_int(rd *r, const fbt *t, arrow_type *out) {
    int32_t bits;
    uint8_t sign;
    FB(fbt_i32(t, 0, 0, &bits, why), "Int type");
    FB(fbt_u8(t, 1, 0, &sign, why), "Int type");
    switch (bits) {
    case 8: *out = sign ? ARROW_INT8 : ARROW_UINT8; return 0;
    case 16: *out = sign ? ARROW_INT16 : ARROW_UINT16; return 0;
    case 32: *out = sign ? ARROW_INT32 : ARROW_UINT32; return 0;
    case 64: *out = sign ? ARROW_INT64 : ARROW_UINT64; return 0;
    default: return fail(r, "arrow: unsupported integer width %d", (int)bits);
    }
}

static int parse_field(rd *r, const fbt *f, arrow_col *c, arrow_col *dict) {
    const char *s;
    size_t n;
    int present;
    FB(fbt_string(f, 0, &s, &n, &present, why), "field name");
    c->name = own_str(r, present ? s : "", present ? n : 0);
    uint8_t tag;
    FB(fbt_u8(f, 2, 0, &tag, why), "field type");
    fbt ty;
    FB(fbt_table(f, 3, &ty, &present, why), "field type");
    if (!present) return fail(r, "arrow: field '%s' has no type", c->name);
    size_t vpos, nch;
    FB(fbt_vector(f, 5, 4, &vpos, &nch, &present, why), "field children");
    if (nch) return fail(r, "arrow: field '%s': nested types are not supported", c->name);
    int16_t unit;
    switch (tag) {
    case T_NULL: c->type = ARROW_NA; break;
    case T_INT: if (parse_int(r, &ty, &c->type) < 0) return -1; break;
    case T_FLOAT:
        FB(fbt_i16(&ty, 0, 0, &unit, why), "FloatingPoint");
        if (unit < 0 || unit > 2) return fail(r, "arrow: field '%s': bad float precision", c->name);
        c->type = unit == 0 ? ARROW_FLOAT16 : unit == 1 ? ARROW_FLOAT32 : ARROW_FLOAT64;
        break;
    case T_BINARY: c->type = ARROW_BINARY; break;
    case T_UTF8: c->type = ARROW_UTF8; break;
    case T_LARGE_BINARY: c->type = ARROW_LARGE_BINARY; break;
    case T_LARGE_UTF8: c->type = ARROW_LARGE_UTF8; break;
    case T_BOOL: c->type = ARROW_BOOL; break;
    case T_DATE:
        FB(fbt_i16(&ty, 0, 1, &unit, why), "Date");
        if (unit != 0 && unit != 1) return fail(r, "arrow: field '%s': bad date unit", c->name);
        c->type = unit == 0 ? ARROW_DATE32 : ARROW_DATE64;
        break;
    case T_TIMESTAMP:
    case T_DURATION:
        FB(fbt_i16(&ty, 0, tag == T_TIMESTAMP ? 0 : 1, &unit, why), "time unit");
        if (unit < 0 || unit > 3) return fail(r, "arrow: field '%s': bad time unit", c->name);
        c->type = tag == T_TIMESTAMP ? ARROW_TIMESTAMP : ARROW_DURATION;
        c->unit = (arrow_unit)unit;
        if (tag == T_TIMESTAMP) {
            FB(fbt_string(&ty, 1, &s, &n, &present, why), "timezone");
            if (present) c->tz = own_str(r, s, n);
        }
        break;
    default: return fail(r, "arrow: field '%s': unsupported Arrow type (union tag %d)", c->name, (int)tag);
    }
    fbt de;
    FB(fbt_table(f, 4, &de, &present, why), "dictionary encoding");
    if (present) {
        *dict = *c;
        dict->name = c->name;
        FB(fbt_i64(&de, 0, 0, &dict->dict_id, why), "dictionary id");
        fbt it;
        FB(fbt_table(&de, 1, &it, &present, why), "dictionary index type");
        if (present) {
            if (parse_int(r, &it, &c->type) < 0) return -1;
        } else {
            c->type = ARROW_INT32;
        }
        uint8_t ord;
        FB(fbt_u8(&de, 2, 0, &ord, why), "dictionary");
        c->dict_ordered = ord != 0;
        c->dict_id = dict->dict_id;
        c->unit = 0;
        c->tz = NULL;
        c->dict = dict;
        return 1;
    }
    return 0;
}

static int parse_kvs(rd *r, const fbt *t, int id) {
    size_t vpos, n;
    int present;
    FB(fbt_vector(t, id, 4, &vpos, &n, &present, why), "custom metadata");
    if (!n) return 0;
    r->ti->t.meta = xcalloc(n, sizeof(arrow_kv));
    for (size_t i = 0; i < n; i++) {
        fbt kv;
        FB(fbt_vec_table(t, vpos, i, &kv, why), "custom metadata");
        const char *k, *v;
        size_t kn, vn;
        int kp, vp;
        FB(fbt_string(&kv, 0, &k, &kn, &kp, why), "metadata key");
        FB(fbt_string(&kv, 1, &v, &vn, &vp, why), "metadata value");
        arrow_kv *o = &r->ti->t.meta[r->ti->t.nmeta++];
        o->key = own_str(r, kp ? k : "", kp ? kn : 0);
        o->value = own_str(r, vp ? v : "", vp ? vn : 0);
        o->value_len = vp ? vn : 0;
    }
    return 0;
}

/* Validates a column's buffers against its type and length. */
static int check_col(rd *r, arrow_col *c, const char *what) {
    int64_t n = c->length;
    if (n < 0 || c->null_count < 0 || c->null_count > n)
        return fail(r, "arrow: %s '%s': bad length %lld / null count %lld", what, c->name, (long long)n,
                    (long long)c->null_count);
    if (c->type == ARROW_NA) {
        c->null_count = n;
        c->validity = NULL;
        return 0;
    }
    uint64_t bitlen = ((uint64_t)n + 7) / 8;
    if (c->null_count == 0) {
        c->validity = NULL;
        c->validity_len = 0;
    } else if (c->validity_len < bitlen) {
        return fail(r, "arrow: %s '%s': validity bitmap too short", what, c->name);
    }
    size_t wd = arrow_type_width(c->type);
    if (c->type == ARROW_BOOL) {
        if (c->data_len < bitlen) return fail(r, "arrow: %s '%s': data buffer too short", what, c->name);
    } else if (wd) {
        if ((uint64_t)n > c->data_len / wd) return fail(r, "arrow: %s '%s': data buffer too short", what, c->name);
    } else if (is_var(c->type)) {
        size_t ow = offset_width(c->type);
        if (n == 0 && c->offsets_len < ow) {
            c->offsets = NULL;
            return 0;
        }
        if ((uint64_t)n >= c->offsets_len / ow)
            return fail(r, "arrow: %s '%s': offsets buffer too short", what, c->name);
        const uint8_t *o = c->offsets;
        int64_t prev = -1;
        for (int64_t i = 0; i <= n; i++) {
            int64_t v;
            if (ow == 4) {
                int32_t v32;
                memcpy(&v32, o + 4 * (size_t)i, 4);
                v = v32;
            } else {
                memcpy(&v, o + 8 * (size_t)i, 8);
            }
            if (v < 0 || v < prev) return fail(r, "arrow: %s '%s': offsets not increasing at %lld", what, c->name, (long long)i);
            prev = v;
        }
        if ((uint64_t)prev > c->data_len) return fail(r, "arrow: %s '%s': offsets past the data", what, c->name);
    } else {
        return fail(r, "arrow: %s '%s': unsupported type", what, c->name);
    }
    return 0;
}

static int check_indices(rd *r, const arrow_col *c) {
    int64_t lim = c->dict->length;
    const uint8_t *d = c->data;
    size_t wd = arrow_type_width(c->type);
    for (int64_t i = 0; i < c->length; i++) {
        if (c->validity && !((c->validity[i >> 3] >> (i & 7)) & 1)) continue;
        int64_t v;
        const uint8_t *p = d + (size_t)i * wd;
        switch (c->type) {
        case ARROW_INT8: v = (int8_t)p[0]; break;
        case ARROW_UINT8: v = p[0]; break;
        case ARROW_INT16: { int16_t x; memcpy(&x, p, 2); v = x; break; }
        case ARROW_UINT16: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case ARROW_INT32: { int32_t x; memcpy(&x, p, 4); v = x; break; }
        case ARROW_UINT32: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        case ARROW_INT64: memcpy(&v, p, 8); break;
        default: { uint64_t x; memcpy(&x, p, 8); v = x > (uint64_t)INT64_MAX ? -1 : (int64_t)x; break; }
        }
        if (v < 0 || v >= lim)
            return fail(r, "arrow: column '%s': dictionary index %lld out of range at row %lld", c->name,
                        (long long)v, (long long)i);
    }
    return 0;
}

/* Reads the message of a footer Block: its header table and body. */
static int read_message(rd *r, const uint8_t *blk, uint8_t want, fbt *header, const uint8_t **body,
                        uint64_t *body_len) {
    int64_t off, blen;
    int32_t mlen;
    memcpy(&off, blk, 8);
    memcpy(&mlen, blk + 8, 4);
    memcpy(&blen, blk + 16, 8);
    if (off < 8 || (uint64_t)off > r->flen || mlen < 8 || (uint64_t)mlen > r->flen - (uint64_t)off ||
        blen < 0 || (uint64_t)blen > r->flen - (uint64_t)off - (uint64_t)mlen)
        return fail(r, "arrow: block (offset %lld, metadata %d, body %lld) outside the file", (long long)off,
                    (int)mlen, (long long)blen);
    const uint8_t *m = r->file + off;
    uint32_t first;
    int32_t fblen;
    size_t pre;
    memcpy(&first, m, 4);
    if (first == 0xFFFFFFFFu) {
        memcpy(&fblen, m + 4, 4);
        pre = 8;
    } else {
        fblen = (int32_t)first;
        pre = 4;
    }
    if (fblen <= 0 || (uint64_t)fblen > (uint64_t)mlen - pre)
        return fail(r, "arrow: message metadata length %d does not fit its block", (int)fblen);
    fbt msg;
    FB(fbt_root(&msg, m + pre, (size_t)fblen, why), "message");
    int16_t ver;
    uint8_t ht;
    int64_t mblen;
    FB(fbt_i16(&msg, 0, 0, &ver, why), "message");
    FB(fbt_u8(&msg, 1, 0, &ht, why), "message");
    FB(fbt_i64(&msg, 3, 0, &mblen, why), "message");
    if (ver < V4 || ver > V5) return fail(r, "arrow: unsupported metadata version %d", (int)ver);
    if (ht != want) return fail(r, "arrow: message type %d where %d was expected", (int)ht, (int)want);
    if (mblen != blen) return fail(r, "arrow: message body length %lld != block's %lld", (long long)mblen, (long long)blen);
    int present;
    FB(fbt_table(&msg, 2, header, &present, why), "message header");
    if (!present) return fail(r, "arrow: message without header");
    *body = m + mlen;
    *body_len = (uint64_t)blen;
    return 0;
}

/* Fills cols[0..ncols) (types from schema[]) from a RecordBatch table. */
static int read_batch(rd *r, const fbt *rb, const uint8_t *body, uint64_t body_len, const arrow_col *schema,
                      arrow_col *cols, size_t ncols, int64_t *rows) {
    int64_t length;
    FB(fbt_i64(rb, 0, 0, &length, why), "record batch");
    if (length < 0) return fail(r, "arrow: negative record batch length");
    fbt comp;
    int present;
    FB(fbt_table(rb, 3, &comp, &present, why), "record batch");
    if (present) return fail(r, "arrow: compressed record batches are not supported");
    size_t npos, nn, bpos, nb;
    FB(fbt_vector(rb, 1, 16, &npos, &nn, &present, why), "record batch nodes");
    FB(fbt_vector(rb, 2, 16, &bpos, &nb, &present, why), "record batch buffers");
    const uint8_t *nodes = rb->p + npos, *bufs = rb->p + bpos;
    size_t ni = 0, bi = 0;
    for (size_t i = 0; i < ncols; i++) {
        arrow_col *c = &cols[i];
        *c = schema[i];
        if (ni >= nn) return fail(r, "arrow: record batch has %zu nodes for %zu columns", nn, ncols);
        memcpy(&c->length, nodes + 16 * ni, 8);
        memcpy(&c->null_count, nodes + 16 * ni + 8, 8);
        ni++;
        if (c->length != length)
            return fail(r, "arrow: column '%s' has %lld rows in a batch of %lld", c->name, (long long)c->length,
                        (long long)length);
        size_t want = c->type == ARROW_NA ? 0 : is_var(c->type) ? 3 : 2;
        if (nb - bi < want) return fail(r, "arrow: record batch has too few buffers (%zu)", nb);
        const uint8_t *ptr[3] = {NULL, NULL, NULL};
        uint64_t len[3] = {0, 0, 0};
        for (size_t k = 0; k < want; k++) {
            int64_t bo, bl;
            memcpy(&bo, bufs + 16 * bi, 8);
            memcpy(&bl, bufs + 16 * bi + 8, 8);
            bi++;
            if (bo < 0 || bl < 0 || (uint64_t)bo > body_len || (uint64_t)bl > body_len - (uint64_t)bo)
                return fail(r, "arrow: column '%s': buffer (offset %lld, length %lld) outside the body of %llu bytes",
                            c->name, (long long)bo, (long long)bl, (unsigned long long)body_len);
            ptr[k] = body + bo;
            len[k] = (uint64_t)bl;
        }
        c->validity = ptr[0];
        c->validity_len = len[0];
        if (want == 3) {
            c->offsets = ptr[1];
            c->offsets_len = len[1];
            c->data = ptr[2];
            c->data_len = len[2];
        } else {
            c->data = ptr[1];
            c->data_len = len[1];
        }
        if (check_col(r, c, "column") < 0) return -1;
    }
    *rows = length;
    return 0;
}

static const char *find_magic_err(const uint8_t *p, size_t len) {
    if (len < 8 + 10) return "arrow: file too short";
    if (memcmp(p, "ARROW1", 6) != 0) return "arrow: not an Arrow IPC file (bad leading magic)";
    if (memcmp(p + len - 6, "ARROW1", 6) != 0) return "arrow: truncated Arrow file (bad trailing magic)";
    return NULL;
}

static int read_all(rd *r) {
    arrow_table *t = &r->ti->t;
    const char *m = find_magic_err(r->file, r->flen);
    if (m) return fail(r, "%s", m);
    int32_t flen;
    memcpy(&flen, r->file + r->flen - 10, 4);
    if (flen <= 0 || (uint64_t)flen > r->flen - 18)
        return fail(r, "arrow: footer length %d outside the file", (int)flen);
    fbt foot, sch;
    FB(fbt_root(&foot, r->file + r->flen - 10 - flen, (size_t)flen, why), "footer");
    int16_t ver;
    FB(fbt_i16(&foot, 0, 0, &ver, why), "footer");
    if (ver < V4 || ver > V5) return fail(r, "arrow: unsupported metadata version %d", (int)ver);
    int present;
    FB(fbt_table(&foot, 1, &sch, &present, why), "footer schema");
    if (!present) return fail(r, "arrow: footer without schema");
    int16_t endian;
    FB(fbt_i16(&sch, 0, 0, &endian, why), "schema");
    if (endian != 0) return fail(r, "arrow: big-endian files are not supported");
    size_t fpos, nf;
    FB(fbt_vector(&sch, 1, 4, &fpos, &nf, &present, why), "schema fields");
    if (parse_kvs(r, &sch, 2) < 0) return -1;
    t->ncols = nf;
    t->fields = xcalloc(nf + 1, sizeof(arrow_col));
    t->dicts = xcalloc(nf + 1, sizeof(arrow_col));
    for (size_t i = 0; i < nf; i++) {
        fbt f;
        FB(fbt_vec_table(&sch, fpos, i, &f, why), "schema field");
        int d = parse_field(r, &f, &t->fields[i], &t->dicts[t->ndicts]);
        if (d < 0) return -1;
        if (d) {
            for (size_t k = 0; k < t->ndicts; k++)
                if (t->dicts[k].dict_id == t->dicts[t->ndicts].dict_id)
                    return fail(r, "arrow: dictionary id %lld shared by two fields", (long long)t->dicts[k].dict_id);
            t->fields[i].dict = &t->dicts[t->ndicts++];
        }
    }
    /* dictionaries */
    size_t dpos, nd, bpos, nb;
    FB(fbt_vector(&foot, 2, 24, &dpos, &nd, &present, why), "footer dictionaries");
    FB(fbt_vector(&foot, 3, 24, &bpos, &nb, &present, why), "footer record batches");
    if (nf && nb > MAX_COLS_X_BATCHES / nf) return fail(r, "arrow: too many columns x batches");
    unsigned char *seen = xcalloc(t->ndicts + 1, 1);
    for (size_t i = 0; i < nd; i++) {
        fbt db, rb;
        const uint8_t *body;
        uint64_t blen;
        if (read_message(r, foot.p + dpos + 24 * i, H_DICTIONARY, &db, &body, &blen) < 0) goto fail_seen;
        int64_t id;
        uint8_t delta;
        const char *why_ = "";
        if (fbt_i64(&db, 0, 0, &id, &why_) < 0 || fbt_u8(&db, 2, 0, &delta, &why_) < 0 ||
            fbt_table(&db, 1, &rb, &present, &why_) < 0) {
            fail(r, "arrow: bad dictionary batch: %s", why_);
            goto fail_seen;
        }
        if (!present) { fail(r, "arrow: dictionary batch without data"); goto fail_seen; }
        if (delta) { fail(r, "arrow: dictionary deltas are not supported"); goto fail_seen; }
        size_t k = 0;
        while (k < t->ndicts && t->dicts[k].dict_id != id) k++;
        if (k == t->ndicts) { fail(r, "arrow: dictionary id %lld not in the schema", (long long)id); goto fail_seen; }
        if (seen[k]) { fail(r, "arrow: dictionary id %lld given twice", (long long)id); goto fail_seen; }
        seen[k] = 1;
        arrow_col schema_d = t->dicts[k];
        int64_t rows;
        if (read_batch(r, &rb, body, blen, &schema_d, &t->dicts[k], 1, &rows) < 0) goto fail_seen;
    }
    free(seen);
    /* record batches */
    t->nbatches = nb;
    t->batch_rows = xcalloc(nb + 1, sizeof(int64_t));
    t->cols = xcalloc(nb * nf + 1, sizeof(arrow_col));
    for (size_t b = 0; b < nb; b++) {
        fbt rb;
        const uint8_t *body;
        uint64_t blen;
        if (read_message(r, foot.p + bpos + 24 * b, H_RECORD_BATCH, &rb, &body, &blen) < 0) return -1;
        if (read_batch(r, &rb, body, blen, t->fields, t->cols + b * nf, nf, &t->batch_rows[b]) < 0) return -1;
        if (t->batch_rows[b] > INT64_MAX - t->nrows) return fail(r, "arrow: too many rows");
        t->nrows += t->batch_rows[b];
        for (size_t i = 0; i < nf; i++) {
            arrow_col *c = &t->cols[b * nf + i];
            if (c->dict && check_indices(r, c) < 0) return -1;
        }
    }
    return 0;
fail_seen:
    free(seen);
    return -1;
}

int arrow_read(const uint8_t *data, size_t len, arrow_table **out, char *err, size_t errlen) {
    *out = NULL;
    table_impl *ti = xcalloc(1, sizeof *ti);
    rd r = {data, len, err, errlen, ti};
    if (!data) len = 0;
    r.flen = len;
    if (read_all(&r) < 0) {
        arrow_table_free(&ti->t);
        return -1;
    }
    *out = &ti->t;
    return 0;
}

void arrow_table_free(arrow_table *t) {
    if (!t) return;
    table_impl *ti = (table_impl *)t;
    free(t->fields);
    free(t->batch_rows);
    free(t->cols);
    free(t->dicts);
    free(t->meta);
    strvec_free(&ti->strs);
    free(ti);
}

const arrow_kv *arrow_table_meta(const arrow_table *t, const char *key) {
    for (size_t i = 0; i < t->nmeta; i++)
        if (strcmp(t->meta[i].key, key) == 0) return &t->meta[i];
    return NULL;
}
