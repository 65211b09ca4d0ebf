/* fuzz_jupyter.c — libFuzzer harness for the Jupyter wire format
 * (src/jupyter/jk_wire.c) and connection files (jk_conn.c).
 *
 * Input: one mode byte, then frames, each a 2-byte little-endian length and
 * that many bytes (a short last frame takes what is left).
 *   mode & 1   key "floe-fuzz-key" (else empty: unsigned messages)
 *   mode & 2   the harness signs the message correctly, so the JSON
 *              parsing behind the signature check is reached
 *   mode & 4   the whole input (after the mode byte) is also a connection file
 * Checks: parsing never crashes or leaks; a message whose signature frame
 * was not made by the harness under a key is rejected as JK_EBADSIG unless
 * it happens to be right; a parsed message re-encodes and parses again to
 * the same type, identities and buffers; base64 round-trips. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jupyter/jk_conn.h"
#include "jupyter/jk_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t split(const uint8_t *p, size_t n, jk_bytes *f, size_t max) {
    size_t k = 0;
    while (n && k < max) {
        size_t len = n >= 2 ? (size_t)(p[0] | p[1] << 8) : 0;
        p += n >= 2 ? 2 : n;
        n -= n >= 2 ? 2 : n;
        if (len > n) len = n;
        f[k].data = (unsigned char *)p;
        f[k++].len = len;
        p += len;
        n -= len;
    }
    return k;
}

static void roundtrip(const jk_key *key, const jk_msg *m) {
    jk_bytes *f;
    size_t n;
    if (jk_msg_encode(key, m->idents, m->nidents, m->header, m->parent, m->metadata, m->content, m->buffers,
                      m->nbuffers, &f, &n) < 0)
        abort();
    jk_msg m2;
    char err[160];
    if (jk_msg_parse(key, f, n, &m2, err, sizeof err) != 0) abort();
    if (strcmp(m2.msg_type, m->msg_type) || m2.nidents != m->nidents || m2.nbuffers != m->nbuffers) abort();
    for (size_t i = 0; i < m->nbuffers; i++)
        if (m2.buffers[i].len != m->buffers[i].len ||
            (m->buffers[i].len && memcmp(m2.buffers[i].data, m->buffers[i].data, m->buffers[i].len)))
            abort();
    jk_msg_free(&m2);
    jk_frames_free(f, n);
}

static void b64_roundtrip(const uint8_t *p, size_t n) {
    char *s = jk_b64_encode(p, n);
    jk_bytes b;
    if (jk_b64_decode(s, strlen(s), &b) < 0 || b.len != n || (n && memcmp(b.data, p, n))) abort();
    free(b.data);
    free(s);
    /* arbitrary text: decodes or is refused, never crashes */
    if (jk_b64_decode((const char *)p, n, &b) == 0) free(b.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    int mode = data[0];
    data++, size--;
    jk_key key = {.len = 0};
    if (mode & 1) jk_key_set(&key, "floe-fuzz-key", 13);
    jk_bytes frames[64];
    size_t n = split(data, size, frames, 64);
    char hex[65];
    size_t d = n;
    for (size_t i = 0; i < n; i++)
        if (frames[i].len == 9 && !memcmp(frames[i].data, "<IDS|MSG>", 9)) {
            d = i;
            break;
        }
    int signed_here = 0;
    if ((mode & 2) && d + 6 <= n) {
        jk_sign(&key, &frames[d + 2], hex);
        frames[d + 1].data = (unsigned char *)hex;
        frames[d + 1].len = 64;
        signed_here = key.len > 0;
    }
    jk_msg m;
    char err[160];
    int rc = jk_msg_parse(&key, frames, n, &m, err, sizeof err);
    if (rc < 0 && (!err[0] || strchr(err, '\n'))) abort(); /* one-line reasons */
    if (rc == JK_EBADSIG && signed_here) abort();          /* a correct signature is never refused */
    if (rc == 0) {
        if (!m.msg_type || !m.msg_id || !json_is_object(m.content)) abort();
        roundtrip(&key, &m);
        jk_msg_free(&m);
    }
    b64_roundtrip(data, size < 4096 ? size : 4096);
    if (mode & 4) {
        jk_conn c;
        if (jk_conn_parse((const char *)data, size, &c, err, sizeof err) == 0) {
            char ep[320];
            for (int i = 0; i < JK_NSOCK; i++) jk_conn_endpoint(&c, i, ep, sizeof ep);
        }
    }
    return 0;
}
