/* jk_wire.c — Jupyter wire format: parse, verify, encode, sign (see jk_wire.h).
 *
 * Verification comes first: the signature is checked over the raw bytes of
 * the four JSON frames before any JSON is parsed, so a forged message costs
 * one HMAC and nothing of it is interpreted. */
#include "jupyter/jk_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <pwd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/util.h"

size_t jk_max_bytes(void) {
    static size_t max;
    if (!max) {
        const char *s = getenv("FLOE_JUPYTER_MAX_MSG");
        long long v = s && *s ? util_parse_size(s) : -1;
        max = v > 0 ? (size_t)v : (size_t)256 << 20;
    }
    return max;
}

int jk_key_set(jk_key *k, const char *key, size_t len) {
    if (len > sizeof k->key) return -1;
    memcpy(k->key, key, len);
    k->len = len;
    return 0;
}

void jk_sign(const jk_key *k, const jk_bytes parts[4], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    /* an empty key is a valid HMAC key; OpenSSL wants a non-NULL pointer */
    int ok = ctx && EVP_MAC_init(ctx, k->len ? k->key : (const unsigned char *)"", k->len, params);
    for (int i = 0; ok && i < 4; i++)
        if (parts[i].len) ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
    ok = ok && EVP_MAC_final(ctx, md, &mdlen, sizeof md) && mdlen == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) { /* never a valid signature: every verification fails */
        memset(hex, 'x', 64);
        hex[64] = '\0';
        return;
    }
    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

static void seterr(char *err, size_t errlen, const char *fmt, const char *arg) {
    if (errlen) snprintf(err, errlen, fmt, arg);
}

static jk_bytes bytes_copy(const jk_bytes *b) {
    jk_bytes c = {xmalloc(b->len ? b->len : 1), b->len};
    if (b->len) memcpy(c.data, b->data, b->len);
    return c;
}

static json_t *load_object(const jk_bytes *b, const char *what, char *err, size_t errlen) {
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        seterr(err, errlen, "%s is not a JSON object", what);
        return NULL;
    }
    return j;
}

static int verify(const jk_key *k, const jk_bytes *sig, const jk_bytes parts[4]) {
    if (!k->len) return 0;
    if (sig->len != 64) return -1;
    char hex[65];
    jk_sign(k, parts, hex);
    /* jupyter_client signs with lowercase hex; accept only that, in constant time */
    return CRYPTO_memcmp(hex, sig->data, 64) ? -1 : 0;
}

int jk_msg_parse(const jk_key *k, const jk_bytes *frames, size_t n, jk_msg *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (errlen) err[0] = '\0';
    if (n > JK_MAX_FRAMES) {
        seterr(err, errlen, "too many frames%s", "");
        return JK_ETOOBIG;
    }
    size_t total = 0, max = jk_max_bytes();
    for (size_t i = 0; i < n; i++) {
        if (frames[i].len > max - total) {
            seterr(err, errlen, "message larger than the limit%s (FLOE_JUPYTER_MAX_MSG)", "");
            return JK_ETOOBIG;
        }
        total += frames[i].len;
    }
    size_t d = 0;
    while (d < n && !(frames[d].len == sizeof JK_DELIM - 1 && !memcmp(frames[d].data, JK_DELIM, frames[d].len)))
        d++;
    if (d == n) {
        seterr(err, errlen, "no %s delimiter", JK_DELIM);
        return JK_EMALFORMED;
    }
    if (d > JK_MAX_IDENTS) {
        seterr(err, errlen, "too many routing identities%s", "");
        return JK_EMALFORMED;
    }
    if (n - d - 1 < 5) {
        seterr(err, errlen, "fewer than 5 frames after the delimiter%s", "");
        return JK_EMALFORMED;
    }
    const jk_bytes *parts = &frames[d + 2];
    if (verify(k, &frames[d + 1], parts) < 0) {
        seterr(err, errlen, "bad signature%s", "");
        return JK_EBADSIG;
    }
    static const char *const names[] = {"header", "parent_header", "metadata", "content"};
    json_t *j[4] = {0};
    for (int i = 0; i < 4; i++)
        if (!(j[i] = load_object(&parts[i], names[i], err, errlen))) goto malformed;
    const char *type = json_string_value(json_object_get(j[0], "msg_type"));
    const char *id = json_string_value(json_object_get(j[0], "msg_id"));
    if (!type || !id || !*type) {
        seterr(err, errlen, "header without msg_id and msg_type%s", "");
        goto malformed;
    }
    m->header = j[0], m->parent = j[1], m->metadata = j[2], m->content = j[3];
    if (k->len) memcpy(m->signature, frames[d + 1].data, 64); /* verified: 64 hex digits */
    m->signature[k->len ? 64 : 0] = '\0';
    m->msg_type = type, m->msg_id = id;
    m->nidents = d;
    m->idents = xcalloc(d ? d : 1, sizeof *m->idents);
    for (size_t i = 0; i < d; i++) m->idents[i] = bytes_copy(&frames[i]);
    m->nbuffers = n - d - 6;
    m->buffers = xcalloc(m->nbuffers ? m->nbuffers : 1, sizeof *m->buffers);
    for (size_t i = 0; i < m->nbuffers; i++) m->buffers[i] = bytes_copy(&frames[d + 6 + i]);
    return 0;
malformed:
    for (int i = 0; i < 4; i++) json_decref(j[i]);
    return JK_EMALFORMED;
}

void jk_frames_free(jk_bytes *f, size_t n) {
    if (!f) return;
    for (size_t i = 0; i < n; i++) free(f[i].data);
    free(f);
}

void jk_msg_free(jk_msg *m) {
    jk_frames_free(m->idents, m->nidents);
    jk_frames_free(m->buffers, m->nbuffers);
    json_decref(m->header);
    json_decref(m->parent);
    json_decref(m->metadata);
    json_decref(m->content);
    memset(m, 0, sizeof *m);
}

void jk_uuid(char out[37]) {
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            for (; got < sizeof r; got++) r[got] = (unsigned char)(time_mono_us() >> (got % 8)) ^ (unsigned char)got;
            break;
        }
        got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static const char *username(void) {
    static char name[64];
    if (!name[0]) {
        const char *u = getenv("USER");
        struct passwd *pw = u && *u ? NULL : getpwuid(getuid());
        snprintf(name, sizeof name, "%s", u && *u ? u : pw ? pw->pw_name : "floe");
    }
    return name;
}

json_t *jk_header(const char *session, const char *msg_type) {
    char id[37], date[40];
    jk_uuid(id);
    time_iso8601(time_wall_us(), date, sizeof date);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "msg_id", id, "session", session, "username", username(), "date",
                     date, "msg_type", msg_type, "version", JK_PROTOCOL_VERSION);
}

static int dump(json_t *j, jk_bytes *out) {
    json_t *empty = j ? NULL : json_object();
    char *s = json_dumps(j ? j : empty, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(empty);
    if (!s) return -1;
    out->data = (unsigned char *)s;
    out->len = strlen(s);
    return 0;
}

int jk_msg_encode(const jk_key *k, const jk_bytes *idents, size_t nidents, json_t *header, json_t *parent,
                  json_t *metadata, json_t *content, const jk_bytes *buffers, size_t nbuffers, jk_bytes **out,
                  size_t *nout) {
    size_t n = nidents + 6 + nbuffers;
    jk_bytes *f = xcalloc(n, sizeof *f);
    for (size_t i = 0; i < nidents; i++) f[i] = bytes_copy(&idents[i]);
    f[nidents] = bytes_copy(&(jk_bytes){(unsigned char *)JK_DELIM, sizeof JK_DELIM - 1});
    json_t *parts[4] = {header, parent, metadata, content};
    for (int i = 0; i < 4; i++)
        if (dump(parts[i], &f[nidents + 2 + (size_t)i]) < 0) {
            jk_frames_free(f, n);
            return -1;
        }
    char hex[65] = "";
    if (k->len) jk_sign(k, &f[nidents + 2], hex);
    f[nidents + 1] = bytes_copy(&(jk_bytes){(unsigned char *)hex, strlen(hex)});
    for (size_t i = 0; i < nbuffers; i++) f[nidents + 6 + i] = bytes_copy(&buffers[i]);
    *out = f;
    *nout = n;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *jk_b64_encode(const unsigned char *p, size_t n) {
    char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char c) {
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

int jk_b64_decode(const char *s, size_t n, jk_bytes *out) {
    if (n % 4) return -1;
    unsigned char *d = xmalloc(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            int pad = s[i + (size_t)j] == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=');
            v[j] = pad ? 0 : b64_val(s[i + (size_t)j]);
            if (v[j] < 0) {
                free(d);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        d[k++] = (unsigned char)(w >> 16);
        if (s[i + 2] != '=') d[k++] = (unsigned char)(w >> 8 & 255);
        if (s[i + 3] != '=') d[k++] = (unsigned char)(w & 255);
    }
    out->data = d;
    out->len = k;
    return 0;
}
