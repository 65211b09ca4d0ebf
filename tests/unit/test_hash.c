/* test_hash.c — the 128-bit hash: XXH64 reference values, streaming equals
 * one-shot, sensitivity. */
#include <stdlib.h>

#include "store/hash.h"
#include "unit.h"

TEST(hash_xxh64_reference) {
    /* XXH64 of "" with seed 0 is 0xEF46DB3751D8E999 (published test vector) */
    hash128 h = hash_bytes("", 0);
    CHECK(h.a == 0xEF46DB3751D8E999ULL);
    /* XXH64("abc", seed 0) = 0x44BC2CF5AD770999 */
    h = hash_bytes("abc", 3);
    CHECK(h.a == 0x44BC2CF5AD770999ULL);
    CHECK(h.a != h.b);
}

TEST(hash_streaming_matches_oneshot) {
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 3);
    hash128 one = hash_bytes(data, sizeof data);
    for (size_t step = 1; step < 70; step += 3) {
        hasher h;
        hasher_init(&h);
        for (size_t off = 0; off < sizeof data; off += step)
            hasher_update(&h, data + off, off + step <= sizeof data ? step : sizeof data - off);
        hash128 two = hasher_final(&h);
        CHECK(one.a == two.a && one.b == two.b);
    }
    data[500] ^= 1;
    hash128 three = hash_bytes(data, sizeof data);
    CHECK(three.a != one.a && three.b != one.b);
}

TEST(hash_str_is_length_prefixed) {
    hasher h1, h2;
    hasher_init(&h1);
    hasher_init(&h2);
    hasher_str(&h1, "ab");
    hasher_str(&h1, "c");
    hasher_str(&h2, "a");
    hasher_str(&h2, "bc");
    hash128 a = hasher_final(&h1), b = hasher_final(&h2);
    CHECK(a.a != b.a);
    char hex[33];
    hash_hex(a, hex);
    CHECK_INT(strlen(hex), 32);
}
