/* hash.h — fast 128-bit content hashes for cache keys and artifact
 * identity: two XXH64 digests with different seeds over the same bytes,
 * computed in one pass. Not a cryptographic hash: the cache trusts the
 * files it wrote itself.
 * Ownership: plain values; nothing is allocated. */
#ifndef FLOE_HASH_H
#define FLOE_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct hash128 { uint64_t a, b; } hash128;

typedef struct hasher {
    uint64_t v[2][4];
    uint64_t total;
    unsigned char tail[32];
    size_t ntail;
    uint64_t seed[2];
} hasher;

void hasher_init(hasher *h);
void hasher_update(hasher *h, const void *data, size_t len);
/* Adds a length-prefixed string (so ("ab","c") != ("a","bc")). */
void hasher_str(hasher *h, const char *s);
hash128 hasher_final(const hasher *h);

hash128 hash_bytes(const void *data, size_t len);
/* Hashes a file's contents; 0 or -errno. */
int hash_file(const char *path, hash128 *out);
/* 32 lowercase hex digits + NUL into out (>= 33 bytes). */
void hash_hex(hash128 h, char *out);

#endif
