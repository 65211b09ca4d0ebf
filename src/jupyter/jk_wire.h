/* jk_wire.h — the Jupyter messaging protocol's wire format (5.3), without
 * sockets: parsing and verifying a received multipart message, and building
 * and signing one to send.
 *
 * A message on the wire is a list of frames:
 *
 *   ident ... ident  "<IDS|MSG>"  signature  header  parent_header  metadata  content  buffer ...
 *
 * The signature is the lowercase hex HMAC-SHA256, keyed by the connection
 * file's key, of the four JSON frames concatenated; with an empty key it is
 * empty and not checked. A message whose signature does not match is
 * rejected before any of its JSON is parsed, and so never acted on.
 *
 * Limits: JK_MAX_FRAMES frames, JK_MAX_IDENTS routing identities, and a
 * total size of jk_max_bytes (FLOE_JUPYTER_MAX_MSG, default 256 MiB).
 *
 * Ownership: jk_msg owns everything in it (freed by jk_msg_free); frames
 * passed to jk_msg_parse are borrowed. jk_msg_encode returns frames the
 * caller frees with jk_frames_free. */
#ifndef FLOE_JK_WIRE_H
#define FLOE_JK_WIRE_H

#include <jansson.h>
#include <stddef.h>

#define JK_PROTOCOL_VERSION "5.3"
#define JK_DELIM "<IDS|MSG>"
#define JK_MAX_FRAMES 1024
#define JK_MAX_IDENTS 64
#define JK_MAX_KEY 1024

/* Errors of jk_msg_parse (negative). */
enum { JK_EMALFORMED = -1, JK_EBADSIG = -2, JK_ETOOBIG = -3 };

typedef struct jk_bytes { unsigned char *data; size_t len; } jk_bytes;

typedef struct jk_key {
    unsigned char key[JK_MAX_KEY];
    size_t len;             /* 0: messages are not signed */
} jk_key;

typedef struct jk_msg {
    jk_bytes *idents;
    size_t nidents;
    json_t *header, *parent, *metadata, *content; /* objects, owned */
    jk_bytes *buffers;
    size_t nbuffers;
    const char *msg_type, *msg_id;                /* borrowed from header */
    char signature[65];                           /* as received ("" unsigned) */
} jk_msg;

/* The largest message accepted, in bytes (all frames). */
size_t jk_max_bytes(void);

/* Sets the key from the connection file's "key" (its bytes, as
 * jupyter_client uses them). Returns 0, or -1 if it is too long. */
int jk_key_set(jk_key *k, const char *key, size_t len);

/* HMAC-SHA256 of the four parts as 64 lowercase hex digits + NUL. */
void jk_sign(const jk_key *k, const jk_bytes parts[4], char hex[65]);

/* Parses frames[0..n) into m. Returns 0, JK_EMALFORMED (no delimiter, too
 * few frames, a JSON part that is not an object, a header without string
 * msg_id/msg_type), JK_EBADSIG (signature missing or wrong) or JK_ETOOBIG,
 * with a one-line reason in err. On error m is empty. */
int jk_msg_parse(const jk_key *k, const jk_bytes *frames, size_t n, jk_msg *m, char *err, size_t errlen);
void jk_msg_free(jk_msg *m);

/* A new header: fresh uuid4 msg_id, the session, username, ISO date,
 * msg_type and version 5.3. Returns a new reference. */
json_t *jk_header(const char *session, const char *msg_type);

/* Encodes a message to frames: idents, delimiter, signature, header,
 * parent, metadata, content (each NULL -> {}), buffers. Steals nothing.
 * Returns 0 with *out / *nout set, or -1 if a part cannot be encoded. */
int jk_msg_encode(const jk_key *k, const jk_bytes *idents, size_t nidents, json_t *header, json_t *parent,
                  json_t *metadata, json_t *content, const jk_bytes *buffers, size_t nbuffers, jk_bytes **out,
                  size_t *nout);
void jk_frames_free(jk_bytes *f, size_t n);

/* Base64 (RFC 4648, padded): buffers cross floe's JSON channel this way.
 * encode returns a new NUL-terminated string; decode returns 0 with a new
 * jk_bytes, or -1 on invalid input. */
char *jk_b64_encode(const unsigned char *p, size_t n);
int jk_b64_decode(const char *s, size_t n, jk_bytes *out);

/* A random uuid4 as 36 characters + NUL. */
void jk_uuid(char out[37]);

#endif
