/* test_arrow.c — Arrow IPC file writer/reader: round trips of every type,
 * nulls, dictionaries, empty tables, metadata, and rejection of corrupted
 * files (truncation, flipped bytes, huge offsets) without a crash. */
#include <stdlib.h>
#include <unistd.h>

#include "store/arrow.h"
#include "unit.h"
#include "util/util.h"

static arrow_table *roundtrip(const arrow_col *cols, size_t n, int64_t rows, const arrow_kv *kv, size_t nkv,
                              uint8_t **buf, size_t *len) {
    char err[256] = "";
    if (arrow_write_mem(cols, n, rows, kv, nkv, buf, len, err, sizeof err) < 0) {
        fprintf(stderr, "  write: %s\n", err);
        return NULL;
    }
    arrow_table *t = NULL;
    if (arrow_read(*buf, *len, &t, err, sizeof err) < 0) {
        fprintf(stderr, "  read: %s\n", err);
        return NULL;
    }
    return t;
}

TEST(arrow_int_float_roundtrip) {
    int64_t a[5] = {1, -2, 3, INT64_MAX, INT64_MIN};
    double f[5] = {0.5, -1.0, 1e300, 0.0, -0.0};
    arrow_col cols[2] = {
        {.name = "a", .type = ARROW_INT64, .length = 5, .data = a},
        {.name = "f", .type = ARROW_FLOAT64, .length = 5, .data = f},
    };
    arrow_kv kv = {"pandas", "{\"x\":1}", 7};
    uint8_t *buf;
    size_t len;
    arrow_table *t = roundtrip(cols, 2, 5, &kv, 1, &buf, &len);
    REQUIRE(t != NULL);
    CHECK(memcmp(buf, "ARROW1\0\0", 8) == 0);
    CHECK(memcmp(buf + len - 6, "ARROW1", 6) == 0);
    CHECK_INT(t->ncols, 2);
    CHECK_INT(t->nbatches, 1);
    CHECK_INT(t->nrows, 5);
    CHECK_STR(t->fields[0].name, "a");
    CHECK_STR(t->fields[1].name, "f");
    CHECK_INT(t->cols[0].type, ARROW_INT64);
    CHECK_INT(t->cols[1].type, ARROW_FLOAT64);
    CHECK(memcmp(t->cols[0].data, a, sizeof a) == 0);
    CHECK(memcmp(t->cols[1].data, f, sizeof f) == 0);
    CHECK(((const uint8_t *)t->cols[0].data - buf) % 64 == 0);
    CHECK(((const uint8_t *)t->cols[1].data - buf) % 64 == 0);
    CHECK(t->cols[0].validity == NULL);
    const arrow_kv *m = arrow_table_meta(t, "pandas");
    REQUIRE(m != NULL);
    CHECK_STR(m->value, "{\"x\":1}");
    CHECK(arrow_table_meta(t, "nope") == NULL);
    arrow_table_free(t);
    free(buf);
}

TEST(arrow_all_types_with_nulls) {
    int8_t i8[3] = {1, -1, 0};
    int16_t i16[3] = {300, -300, 7};
    int32_t i32[3] = {70000, -70000, 7};
    uint8_t u8[3] = {255, 0, 1};
    uint16_t u16[3] = {65535, 0, 1};
    uint32_t u32[3] = {4000000000u, 0, 1};
    uint64_t u64[3] = {UINT64_MAX, 0, 1};
    float f32[3] = {1.5f, -2.5f, 0};
    uint8_t boolbytes[3] = {1, 0, 1}, boolbits[1];
    arrow_pack_bits(boolbytes, 3, 0, boolbits);
    uint8_t nullmask[3] = {0, 1, 0}, valid[1];
    CHECK_INT(arrow_pack_bits(nullmask, 3, 1, valid), 2);
    int32_t offs[4] = {0, 5, 5, 9};
    const char *chars = "h\xc3\xa9llo\xe2\x82\xac!";
    int64_t loffs[4] = {0, 1, 1, 3};
    int32_t d32[3] = {0, 19000, -1};
    int64_t ts[3] = {0, 1700000000000000000LL, INT64_MIN};
    int64_t dur[3] = {1, 2, 3};
    arrow_col cols[] = {
        {.name = "i8", .type = ARROW_INT8, .length = 3, .data = i8},
        {.name = "i16", .type = ARROW_INT16, .length = 3, .data = i16, .null_count = 1, .validity = valid},
        {.name = "i32", .type = ARROW_INT32, .length = 3, .data = i32},
        {.name = "u8", .type = ARROW_UINT8, .length = 3, .data = u8},
        {.name = "u16", .type = ARROW_UINT16, .length = 3, .data = u16},
        {.name = "u32", .type = ARROW_UINT32, .length = 3, .data = u32},
        {.name = "u64", .type = ARROW_UINT64, .length = 3, .data = u64},
        {.name = "f32", .type = ARROW_FLOAT32, .length = 3, .data = f32},
        {.name = "b", .type = ARROW_BOOL, .length = 3, .data = boolbits, .null_count = 1, .validity = valid},
        {.name = "s", .type = ARROW_UTF8, .length = 3, .offsets = offs, .data = chars, .data_len = 9,
         .null_count = 1, .validity = valid},
        {.name = "ls", .type = ARROW_LARGE_UTF8, .length = 3, .offsets = loffs, .data = "abc", .data_len = 3},
        {.name = "d", .type = ARROW_DATE32, .length = 3, .data = d32},
        {.name = "ts", .type = ARROW_TIMESTAMP, .unit = ARROW_NANO, .tz = "Europe/Paris", .length = 3, .data = ts,
         .null_count = 1, .validity = valid},
        {.name = "td", .type = ARROW_DURATION, .unit = ARROW_MICRO, .length = 3, .data = dur},
        {.name = "nul", .type = ARROW_NA, .length = 3, .null_count = 3},
        {.name = "", .type = ARROW_INT8, .length = 3, .data = i8},
    };
    size_t n = sizeof cols / sizeof cols[0];
    uint8_t *buf;
    size_t len;
    arrow_table *t = roundtrip(cols, n, 3, NULL, 0, &buf, &len);
    REQUIRE(t != NULL);
    REQUIRE(t->ncols == n);
    for (size_t i = 0; i < n; i++) {
        const arrow_col *c = &t->cols[i];
        CHECK_STR(c->name, cols[i].name);
        CHECK_INT(c->type, cols[i].type);
        CHECK_INT(c->null_count, cols[i].null_count);
        CHECK_INT(c->length, 3);
        size_t w = arrow_type_width(c->type);
        if (w) CHECK(memcmp(c->data, cols[i].data, 3 * w) == 0);
        if (c->null_count && c->type != ARROW_NA) CHECK((c->validity[0] & 7) == 5);
    }
    CHECK((((const uint8_t *)t->cols[8].data)[0] & 7) == 5);
    CHECK(memcmp(t->cols[9].offsets, offs, sizeof offs) == 0);
    CHECK(memcmp(t->cols[9].data, chars, 9) == 0);
    CHECK(memcmp(t->cols[10].offsets, loffs, sizeof loffs) == 0);
    CHECK_STR(t->cols[12].tz, "Europe/Paris");
    CHECK_INT(t->cols[12].unit, ARROW_NANO);
    CHECK_INT(t->cols[13].unit, ARROW_MICRO);
    CHECK(t->cols[0].tz == NULL);
    arrow_table_free(t);
    free(buf);
}

TEST(arrow_dictionary) {
    int32_t offs[3] = {0, 3, 6};
    arrow_col dict = {.type = ARROW_UTF8, .length = 2, .offsets = offs, .data = "redblu", .data_len = 6};
    int8_t codes[4] = {0, 1, -1, 1};
    uint8_t mask[4] = {0, 0, 1, 0}, valid[1];
    arrow_pack_bits(mask, 4, 1, valid);
    double dv[2] = {1.5, 2.5};
    arrow_col dict2 = {.type = ARROW_FLOAT64, .length = 2, .data = dv};
    int16_t codes2[4] = {1, 1, 0, 0};
    arrow_col cols[2] = {
        {.name = "c", .type = ARROW_INT8, .length = 4, .data = codes, .null_count = 1, .validity = valid,
         .dict = &dict, .dict_ordered = 1},
        {.name = "c2", .type = ARROW_INT16, .length = 4, .data = codes2, .dict = &dict2},
    };
    uint8_t *buf;
    size_t len;
    arrow_table *t = roundtrip(cols, 2, 4, NULL, 0, &buf, &len);
    REQUIRE(t != NULL);
    CHECK_INT(t->ndicts, 2);
    const arrow_col *c = &t->cols[0];
    REQUIRE(c->dict != NULL);
    CHECK_INT(c->type, ARROW_INT8);
    CHECK(c->dict_ordered);
    CHECK_INT(c->dict->type, ARROW_UTF8);
    CHECK_INT(c->dict->length, 2);
    CHECK(memcmp(c->dict->data, "redblu", 6) == 0);
    CHECK(t->cols[1].dict != NULL && t->cols[1].dict->type == ARROW_FLOAT64);
    CHECK(!t->cols[1].dict_ordered);
    arrow_table_free(t);
    /* an index out of range is rejected */
    codes2[2] = 2;
    char err[256] = "";
    free(buf);
    REQUIRE(arrow_write_mem(cols, 2, 4, NULL, 0, &buf, &len, err, sizeof err) == 0);
    CHECK(arrow_read(buf, len, &t, err, sizeof err) < 0);
    CHECK(strstr(err, "out of range") != NULL);
    free(buf);
}

TEST(arrow_empty) {
    uint8_t *buf;
    size_t len;
    arrow_table *t = roundtrip(NULL, 0, 0, NULL, 0, &buf, &len);
    REQUIRE(t != NULL);
    CHECK_INT(t->ncols, 0);
    CHECK_INT(t->nrows, 0);
    arrow_table_free(t);
    free(buf);
    arrow_col cols[2] = {{.name = "x", .type = ARROW_FLOAT64}, {.name = "s", .type = ARROW_UTF8}};
    t = roundtrip(cols, 2, 0, NULL, 0, &buf, &len);
    REQUIRE(t != NULL);
    CHECK_INT(t->nrows, 0);
    CHECK_INT(t->cols[1].length, 0);
    arrow_table_free(t);
    free(buf);
}

TEST(arrow_writer_errors) {
    char err[256] = "";
    uint8_t *buf;
    size_t len;
    int64_t a[2] = {1, 2};
    arrow_col c = {.name = "a", .type = ARROW_INT64, .length = 2, .data = a};
    CHECK(arrow_write_mem(&c, 1, 3, NULL, 0, &buf, &len, err, sizeof err) < 0);
    CHECK(strstr(err, "expected 3") != NULL);
    c.null_count = 1;
    CHECK(arrow_write_mem(&c, 1, 2, NULL, 0, &buf, &len, err, sizeof err) < 0);
    CHECK(strstr(err, "validity") != NULL);
}

TEST(arrow_file_write) {
    char dir[] = "/tmp/floe_arrow_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char *path = xasprintf("%s/t.arrow", dir);
    int64_t a[3] = {1, 2, 3};
    arrow_col c = {.name = "a", .type = ARROW_INT64, .length = 3, .data = a};
    char err[256] = "";
    int64_t n = arrow_write_file(path, &c, 1, 3, NULL, 0, err, sizeof err);
    REQUIRE(n > 0);
    size_t len;
    char *data = read_file(path, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, n);
    arrow_table *t;
    REQUIRE(arrow_read((const uint8_t *)data, len, &t, err, sizeof err) == 0);
    CHECK(memcmp(t->cols[0].data, a, sizeof a) == 0);
    arrow_table_free(t);
    free(data);
    CHECK(arrow_write_file("/nonexistent/dir/x.arrow", &c, 1, 3, NULL, 0, err, sizeof err) < 0);
    CHECK(strstr(err, "/nonexistent/dir") != NULL);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* Strided columns (a row-major 2-D block, a reversed view) are gathered as
 * they are written, in memory and into a file. */
TEST(arrow_strided) {
    int64_t block[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    arrow_col cols[3] = {
        {.name = "a", .type = ARROW_INT64, .length = 4, .data = block, .data_stride = 16},
        {.name = "b", .type = ARROW_INT64, .length = 4, .data = block + 1, .data_stride = 16},
        {.name = "r", .type = ARROW_INT64, .length = 4, .data = block + 7, .data_stride = -16},
    };
    static const int64_t want[3][4] = {{1, 2, 3, 4}, {10, 20, 30, 40}, {40, 30, 20, 10}};
    uint8_t *buf;
    size_t len;
    arrow_table *t = roundtrip(cols, 3, 4, NULL, 0, &buf, &len);
    REQUIRE(t != NULL);
    for (int i = 0; i < 3; i++) CHECK(memcmp(t->cols[i].data, want[i], sizeof want[i]) == 0);
    arrow_table_free(t);
    char dir[] = "/tmp/floe_arrow_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char *path = xasprintf("%s/t.arrow", dir);
    char err[256] = "";
    int64_t n = arrow_write_file(path, cols, 3, 4, NULL, 0, err, sizeof err);
    REQUIRE(n == (int64_t)len);
    size_t flen;
    char *data = read_file(path, &flen);
    REQUIRE(data != NULL);
    CHECK(flen == len && memcmp(data, buf, len) == 0);
    free(data);
    unlink(path);
    free(buf);
    rmdir(dir);
    free(path);
}

/* Every truncation, every single-byte corruption, and every 8-byte
 * overwrite with a huge value must be rejected or parsed, never crash, and
 * messages are one line. */
TEST(arrow_hostile) {
    int64_t a[3] = {1, 2, 3};
    int32_t offs[4] = {0, 1, 2, 3};
    arrow_col dict = {.type = ARROW_UTF8, .length = 3, .offsets = offs, .data = "xyz", .data_len = 3};
    int8_t codes[3] = {0, 1, 2};
    arrow_col cols[3] = {
        {.name = "a", .type = ARROW_INT64, .length = 3, .data = a},
        {.name = "s", .type = ARROW_UTF8, .length = 3, .offsets = offs, .data = "abc", .data_len = 3},
        {.name = "c", .type = ARROW_INT8, .length = 3, .data = codes, .dict = &dict},
    };
    char err[256];
    uint8_t *buf;
    size_t len;
    REQUIRE(arrow_write_mem(cols, 3, 3, NULL, 0, &buf, &len, err, sizeof err) == 0);
    arrow_table *t;
    int rejected = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *cp = xmalloc(n + 1);
        memcpy(cp, buf, n);
        if (arrow_read(cp, n, &t, err, sizeof err) == 0) arrow_table_free(t);
        else rejected++;
        free(cp);
    }
    CHECK_INT(rejected, len);
    static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x40};
    uint8_t *cp = xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(cp, buf, len);
            cp[i] = vals[v];
            err[0] = 0;
            if (arrow_read(cp, len, &t, err, sizeof err) == 0) arrow_table_free(t);
            else CHECK(err[0] && strchr(err, '\n') == NULL);
        }
        if (i + 8 <= len) {
            memcpy(cp, buf, len);
            int64_t huge = INT64_MAX - 3;
            memcpy(cp + i, &huge, 8);
            if (arrow_read(cp, len, &t, err, sizeof err) == 0) arrow_table_free(t);
        }
    }
    free(cp);
    CHECK(arrow_read(NULL, 0, &t, err, sizeof err) < 0);
    CHECK(strstr(err, "too short") != NULL);
    CHECK(arrow_read((const uint8_t *)"PARQUET1xxxxxxxxxxxxxxxxxx", 26, &t, err, sizeof err) < 0);
    CHECK(strstr(err, "not an Arrow") != NULL);
    free(buf);
}

TEST(arrow_bits) {
    uint8_t bytes[19], bits[3], back[19];
    for (int i = 0; i < 19; i++) bytes[i] = (uint8_t)(i % 3 == 0 ? 7 : 0);
    CHECK_INT(arrow_pack_bits(bytes, 19, 0, bits), 7);
    CHECK_INT(bits[0], 0x49);
    arrow_unpack_bits(bits, 19, 0, back);
    for (int i = 0; i < 19; i++) CHECK_INT(back[i], bytes[i] ? 1 : 0);
    CHECK_INT(arrow_pack_bits(bytes, 19, 1, bits), 12);
    arrow_unpack_bits(bits, 19, 1, back);
    for (int i = 0; i < 19; i++) CHECK_INT(back[i], bytes[i] ? 1 : 0);
}
