/* arrow.h — Arrow IPC *file* format (Feather v2) writer and reader, without
 * an Arrow library: our own small flatbuffer builder and a bounds-checked
 * flatbuffer reader over Schema.fbs / Message.fbs / File.fbs.
 *
 * Layout written: "ARROW1\0\0", Schema message, one DictionaryBatch per
 * dictionary-encoded column, one RecordBatch, end-of-stream marker, Footer,
 * int32 footer length, "ARROW1". Body buffers are 64-byte aligned relative to
 * the file start, so a page-aligned mapping gives 64-byte aligned columns.
 *
 * The reader takes a whole file in memory (usually a mapping), validates
 * every offset, length, count, string offset and dictionary index, and
 * returns column descriptors pointing into that memory (zero-copy). Any
 * malformed input is rejected with a one-line message; never a crash.
 * Only flat schemas of the types below are supported (no nested types, no
 * compression, no big-endian, no dictionary deltas).
 * Ownership: arrow_read returns a table freed by arrow_table_free, whose
 * columns borrow the caller's buffer (it must outlive the table); the
 * writer borrows its columns. */
#ifndef FLOE_ARROW_H
#define FLOE_ARROW_H

#include <stddef.h>
#include <stdint.h>

typedef enum arrow_type {
    ARROW_NA = 0,          /* Null type: no buffers, every slot null */
    ARROW_BOOL,            /* bit-packed, LSB first */
    ARROW_INT8, ARROW_INT16, ARROW_INT32, ARROW_INT64,
    ARROW_UINT8, ARROW_UINT16, ARROW_UINT32, ARROW_UINT64,
    ARROW_FLOAT16, ARROW_FLOAT32, ARROW_FLOAT64,
    ARROW_UTF8, ARROW_LARGE_UTF8,        /* int32 / int64 offsets */
    ARROW_BINARY, ARROW_LARGE_BINARY,
    ARROW_DATE32,          /* int32 days since the epoch */
    ARROW_DATE64,          /* int64 milliseconds since the epoch */
    ARROW_TIMESTAMP,       /* int64 in `unit` since the epoch, tz optional */
    ARROW_DURATION,        /* int64 in `unit` */
    ARROW_NTYPES
} arrow_type;

typedef enum arrow_unit { ARROW_SECOND = 0, ARROW_MILLI, ARROW_MICRO, ARROW_NANO } arrow_unit;

/* One column (or one dictionary): type, length and buffers. For the writer
 * the caller fills it; for the reader everything points into the file.
 *
 * Dictionary encoding: `dict` != NULL; then `type` is the index type (an
 * integer type) and `dict` describes the dictionary values.
 * validity: bitmap (1 = valid), NULL when null_count == 0.
 * offsets: (length + 1) int32 (int64 for LARGE_*) entries for var-width
 * types; may be NULL (reader) when length == 0.
 * data: values; for var-width types `data_len` bytes of characters.
 * data_stride (writer, fixed-width types): bytes from one value of `data` to
 * the next when they are not packed (a column of a 2-D numpy block); the
 * values are gathered as the file is written. 0 = packed. */
typedef struct arrow_col {
    const char *name;
    arrow_type type;
    arrow_unit unit;         /* TIMESTAMP / DURATION */
    const char *tz;          /* TIMESTAMP: timezone or NULL */
    int64_t length;
    int64_t null_count;
    const uint8_t *validity;
    const void *offsets;
    const void *data;
    uint64_t validity_len, offsets_len, data_len;   /* bytes */
    int64_t data_stride;
    const struct arrow_col *dict;
    int dict_ordered;
    int64_t dict_id;         /* reader: the file's dictionary id */
} arrow_col;

typedef struct arrow_kv { const char *key; const char *value; size_t value_len; } arrow_kv;

/* Bytes per value of a fixed-width type (0 for BOOL, var-width, NA). */
size_t arrow_type_width(arrow_type t);
const char *arrow_type_name(arrow_type t);

/* --- writer ------------------------------------------------------------ */

/* Writes one table with one record batch of `nrows` rows (every column's
 * length must equal nrows) and schema custom metadata `meta`, to `path`
 * atomically (temp file in the same directory, then rename; readers that
 * mapped the old file keep it). Returns the file size, or -1 with a message
 * in err. */
int64_t arrow_write_file(const char *path, const arrow_col *cols, size_t ncols, int64_t nrows,
                         const arrow_kv *meta, size_t nmeta, char *err, size_t errlen);

/* The same into a malloc'd buffer (*out, *outlen); 0 or -1. */
int arrow_write_mem(const arrow_col *cols, size_t ncols, int64_t nrows, const arrow_kv *meta,
                    size_t nmeta, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* --- reader ------------------------------------------------------------ */

typedef struct arrow_table {
    size_t ncols;
    arrow_col *fields;       /* schema: name, type, dict (values type); no data */
    size_t nbatches;
    int64_t *batch_rows;
    arrow_col *cols;         /* nbatches * ncols: cols[b * ncols + c] */
    size_t ndicts;
    arrow_col *dicts;        /* owned; fields[] / cols[] point here */
    size_t nmeta;
    arrow_kv *meta;          /* keys/values NUL-terminated copies */
    int64_t nrows;           /* sum of batch_rows */
} arrow_table;

/* Parses and validates an Arrow IPC file held in data[0..len). The table
 * points into `data`, which must outlive it. 0, or -1 with a message. */
int arrow_read(const uint8_t *data, size_t len, arrow_table **out, char *err, size_t errlen);
void arrow_table_free(arrow_table *t);
/* Value of a schema custom-metadata key, or NULL. */
const arrow_kv *arrow_table_meta(const arrow_table *t, const char *key);

/* --- helpers ------------------------------------------------------------ */

/* bytes (one per value, nonzero = set) -> LSB-first bitmap of (n+7)/8 bytes;
 * invert flips every bit (a null mask -> a validity bitmap). Returns the
 * number of set bits of the output within n. */
int64_t arrow_pack_bits(const uint8_t *bytes, int64_t n, int invert, uint8_t *bits);
/* bitmap -> one byte (0/1) per value; invert as above. */
void arrow_unpack_bits(const uint8_t *bits, int64_t n, int invert, uint8_t *bytes);

#endif
