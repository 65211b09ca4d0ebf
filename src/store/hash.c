/* hash.c — XXH64 (Yann Collet's published algorithm) run with two seeds at
 * once to give 128 bits; see hash.h. */
#include "store/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t round1(uint64_t acc, uint64_t in) {
    acc += in * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static uint64_t merge(uint64_t acc, uint64_t v) {
    acc ^= round1(0, v);
    return acc * P1 + P4;
}

void hasher_init(hasher *h) {
    memset(h, 0, sizeof *h);
    h->seed[0] = 0;
    h->seed[1] = 0x5F1E0F10E5EEDULL;
    for (int s = 0; s < 2; s++) {
        h->v[s][0] = h->seed[s] + P1 + P2;
        h->v[s][1] = h->seed[s] + P2;
        h->v[s][2] = h->seed[s];
        h->v[s][3] = h->seed[s] - P1;
    }
}

static void stripe(hasher *h, const unsigned char *p) {
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 4; i++) h->v[s][i] = round1(h->v[s][i], rd64(p + 8 * i));
}

void hasher_update(hasher *h, const void *data, size_t len) {
    const unsigned char *p = data;
    h->total += len;
    if (h->ntail) {
        size_t take = 32 - h->ntail < len ? 32 - h->ntail : len;
        memcpy(h->tail + h->ntail, p, take);
        h->ntail += take;
        p += take;
        len -= take;
        if (h->ntail < 32) return;
        stripe(h, h->tail);
        h->ntail = 0;
    }
    while (len >= 32) {
        stripe(h, p);
        p += 32;
        len -= 32;
    }
    memcpy(h->tail, p, len);
    h->ntail = len;
}

void hasher_str(hasher *h, const char *s) {
    uint64_t n = s ? strlen(s) : UINT64_MAX;
    hasher_update(h, &n, sizeof n);
    if (s) hasher_update(h, s, (size_t)n);
}

static uint64_t finish(const hasher *h, int s) {
    uint64_t acc;
    const uint64_t *v = h->v[s];
    if (h->total >= 32) {
        acc = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
        for (int i = 0; i < 4; i++) acc = merge(acc, v[i]);
    } else {
        acc = h->seed[s] + P5;
    }
    acc += h->total;
    const unsigned char *p = h->tail;
    size_t len = h->ntail;
    while (len >= 8) {
        acc ^= round1(0, rd64(p));
        acc = rotl(acc, 27) * P1 + P4;
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        acc ^= (uint64_t)rd32(p) * P1;
        acc = rotl(acc, 23) * P2 + P3;
        p += 4;
        len -= 4;
    }
    while (len--) {
        acc ^= (*p++) * P5;
        acc = rotl(acc, 11) * P1;
    }
    acc ^= acc >> 33;
    acc *= P2;
    acc ^= acc >> 29;
    acc *= P3;
    acc ^= acc >> 32;
    return acc;
}

hash128 hasher_final(const hasher *h) {
    hash128 r = {finish(h, 0), finish(h, 1)};
    return r;
}

hash128 hash_bytes(const void *data, size_t len) {
    hasher h;
    hasher_init(&h);
    hasher_update(&h, data, len);
    return hasher_final(&h);
}

int hash_file(const char *path, hash128 *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        *out = hash_bytes("", 0);
        return 0;
    }
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return -e;
    *out = hash_bytes(p, len);
    munmap(p, len);
    return 0;
}

void hash_hex(hash128 h, char *out) {
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.a, (unsigned long long)h.b);
}
